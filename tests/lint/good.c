/*
 * Fixture for scripts/lint-selftest.sh: clang-formatted, no banned call, short functions.
 * Every gate must pass it; the names below are the near misses the banned-function check
 * must not catch.  Never compiled.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <openssl/x509.h>
#include <sodium.h>

int good_calls(char *d, size_t n, const char *s, time_t t, X509 *x);

/* Near misses: the _r variants, f- and sn- prefixes, OpenSSL and libsodium names. */
int
good_calls(char *d, size_t n, const char *s, time_t t, X509 *x)
{
	struct tm tm;
	char *save = NULL;
	unsigned char r[16];
	int operand = 0;

	if (gmtime_r(&t, &tm) == NULL || localtime_r(&t, &tm) == NULL)
		return -1;
	if (strftime(d, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	(void)strtok_r(d, ",", &save);
	(void)fgets(d, (int)n, stdin);
	(void)snprintf(d, n, "%s", s);
	(void)strncpy(d, s, n);
	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	randombytes_buf(r, sizeof(r));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	srand48(operand);
	return operand;
}
