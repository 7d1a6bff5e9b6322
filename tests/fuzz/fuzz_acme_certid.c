/*
 * libFuzzer target for RFC 9773 certIDs (ra_acme_certid_parse in src/ra/acmeari.c), which
 * arrive in the path of GET renewalInfo/<certID> and in newOrder's replaces: hostile bytes
 * must give a clean refusal, never a crash, a leak or undefined behaviour; a certID taken has
 * a serial of upper-case hex without a leading zero octet, and its text is the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ra/ra.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ra_acme_certid id;
	struct err e;
	size_t n;

	err_clear(&e);
	if (ra_acme_certid_parse((const char *)data, size, &id, &e) == -1) {
		if (e.code != ERR_REFUSED)
			abort();
		return 0;
	}
	n = strlen(id.serial);
	if (n == 0 || n % 2 != 0 || strspn(id.serial, "0123456789ABCDEF") != n ||
	    (id.serial[0] == '0' && id.serial[1] == '0') || id.akilen == 0 ||
	    id.akilen > RA_ACME_AKI_MAX || strlen(id.text) != size ||
	    memcmp(id.text, data, size) != 0)
		abort();
	return 0;
}
