/*
 * libFuzzer target for util_xff_client, the X-Forwarded-For reader (the header arrives from
 * anyone; it is believed only from a trusted proxy).
 *
 * Besides not crashing it must keep its promises: an answer is 4 or 16 octets and never a
 * trusted address; a trusted proxy appended on the right changes nothing (unless that takes
 * the walk past UTIL_XFF_MAX entries); an untrusted address appended on the right is the answer.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *trusted[] = {"10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.77"};
	static const unsigned char cip[4] = {198, 51, 100, 7};
	unsigned char a[16], b[16];
	size_t alen, blen, n;
	char *s;
	int rc, rc2;

	if (size > 8192)
		return 0;
	rc = util_xff_client((const char *)data, size, trusted, 3, a, &alen);
	if (rc == 0 && ((alen != 4 && alen != 16) || util_ip_in(trusted, 3, a, alen)))
		abort();
	if (rc == -1 && alen != 0)
		abort();
	if ((s = malloc(size + 32)) == NULL)
		abort();
	memcpy(s, data, size);
	/* a trusted proxy on the right */
	memcpy(s + size, ", 10.1.2.3", 10);
	n = size + 10;
	rc2 = util_xff_client(s, n, trusted, 3, b, &blen);
	if (rc2 == 0 && (rc != 0 || blen != alen || memcmp(a, b, alen) != 0))
		abort();
	if (rc == 0 && rc2 != 0 && memchr(data, ',', size) == NULL)
		abort(); /* one entry and a proxy: well within the bound */
	/* an untrusted client on the right is the answer */
	memcpy(s + size, ",198.51.100.7", 13);
	n = size + 13;
	if (util_xff_client(s, n, trusted, 3, b, &blen) != 0 || blen != 4 || memcmp(b, cip, 4) != 0)
		abort();
	free(s);
	return 0;
}
