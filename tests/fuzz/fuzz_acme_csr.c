/*
 * libFuzzer target for ACME's CSR-to-order match (ra_acme_csr_match in src/ra/acmeorder.c):
 * the input is the order's names, one a line (a line that is an address in its canonical text
 * is an ip identifier, RFC 8738), a NUL, then the CSR's DER (parsed without its self-signature
 * check, so that mutated CSRs reach the match).  Hostile bytes must give a
 * clean refusal, never a crash, a leak or undefined behaviour; a CSR that matches names at
 * least as many DNS names as the order has identifiers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "ra/ra.h"
#include "x509/x509.h"

#define FZ_NAMES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[FZ_NAMES * RA_ACME_NAME_MAX], *names[FZ_NAMES], *p;
	const char *types[FZ_NAMES];
	unsigned char ip[16];
	size_t iplen;
	const uint8_t *nul = memchr(data, '\0', size);
	size_t tl, n = 0;
	struct csr *csr = NULL;
	struct err e;

	if (nul == NULL || (tl = (size_t)(nul - data)) >= sizeof(text))
		return 0;
	memcpy(text, data, tl);
	text[tl] = '\0';
	for (p = text; p != NULL && *p != '\0' && n < FZ_NAMES;) {
		char *nl = strchr(p, '\n');

		if (nl != NULL)
			*nl = '\0';
		types[n] = ra_acme_ip_canon(p, ip, &iplen) == 0 ? "ip" : "dns";
		names[n++] = p;
		p = nl != NULL ? nl + 1 : NULL;
	}
	err_clear(&e);
	if (csr_parse_ex(nul + 1, size - tl - 1, CSR_PARSE_NO_VERIFY, &csr, &e) == 0) {
		err_clear(&e);
		if (ra_acme_csr_match(csr, (const char *const *)names, types, n, &e) == 0 &&
		    (csr->sans == NULL || (size_t)sk_GENERAL_NAME_num(csr->sans) < n))
			abort(); /* every identifier is one of the CSR's names */
		if (err_is_set(&e) && e.msg[0] == '\0')
			abort(); /* a refusal says why */
	}
	csr_free(csr);
	ERR_clear_error();
	return 0;
}
