/*
 * libFuzzer target for the name rules of ACME's rate limits and identifiers (src/ra/
 * acmelimit.c, acmeorder.c): the input is a client's DNS identifier (up to 253 bytes, any
 * bytes).  ra_acme_dns_looks_ip must answer without reading past the name; the registered
 * domain (the Public Suffix List through libpsl) must be the name itself or a suffix of it
 * that starts at a label, and never fail for a name that fits, except an address (none).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "ra/ra.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int loaded;
	char name[RA_ACME_NAME_MAX], dom[RA_ACME_NAME_MAX];
	unsigned char a[16];
	size_t n, d;
	struct err e;

	if (!loaded) {
		err_clear(&e);
		if (ra_acme_psl_load(&e) == -1)
			abort();
		loaded = 1;
	}
	if (size >= sizeof(name))
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	n = strlen(name);
	(void)ra_acme_dns_looks_ip(name);
	if (n == 0)
		return 0;
	/* an address has none (not counted); any other name that fits has one, or is its own */
	if (inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1) {
		if (ra_acme_reg_domain(name, dom, sizeof(dom)) != -1)
			abort();
		return 0;
	}
	if (ra_acme_reg_domain(name, dom, sizeof(dom)) == -1)
		abort();
	d = strlen(dom);
	/* libpsl lower-cases nothing and returns a pointer into the name: a suffix of it */
	if (d > n || strcmp(name + n - d, dom) != 0 || (d < n && name[n - d - 1] != '.'))
		abort();
	return 0;
}
