/*
 * libFuzzer target for the signed self-service request parser (ra_online_parse: PEM or DER
 * CMS SignedData with its JSON content) and the signature checks a parsed request reaches
 * without a store (ra_online_verify: issuer name, certificate signature, CMS signature), with
 * the CA of the seed corpus (tests/fuzz/corpus/online/, made with openssl cms -sign) as ours.
 * Hostile bytes must give a clean "malformed" with a message, never a crash, a leak or undefined
 * behaviour; whatever parses must carry a certificate, a serial, a bounded nonce and the type
 * of the endpoint it was parsed for.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "ra/ra.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seed corpus's CA (O=shomei fuzz, CN=fuzz CA). */
static const char fz_ca_pem[] = "-----BEGIN CERTIFICATE-----\n"
				"MIIBpzCCAU2gAwIBAgIUFabVzK+8IKUeO3QFbRgSo8axsKEwCgYIKoZIzj0EAwIw\n"
				"KDEUMBIGA1UECgwLc2hvbWVpIGZ1enoxEDAOBgNVBAMMB2Z1enogQ0EwIBcNMjYx\n"
				"MTIxMTkxMjUxWhgPMjEyNjEwMjgxOTEyNTFaMCgxFDASBgNVBAoMC3Nob21laSBm\n"
				"dXp6MRAwDgYDVQQDDAdmdXp6IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
				"RpLsMpQurb2h0qWCIXzXncYuLkPlU7mUBNkJHzr6fwCCpqouYzCRbNfLsXbcOnA5\n"
				"Yl+UaYm8Q2zXXc2eX8Uap6NTMFEwHQYDVR0OBBYEFD85337OrROQXZnHB91UOlzf\n"
				"norvMB8GA1UdIwQYMBaAFD85337OrROQXZnHB91UOlzfnorvMA8GA1UdEwEB/wQF\n"
				"MAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgKIzOIVU8z25PIAlgBRYWZcOV4+3ZP7BW\n"
				"5S4JQaI5EAkCIQDqp1lyQghnIa/lZZaze77uBW6WKaEdmj7cMoJgGxNRjA==\n"
				"-----END CERTIFICATE-----\n";

static X509 *fz_ca;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	BIO *b = BIO_new_mem_buf(fz_ca_pem, (int)sizeof(fz_ca_pem) - 1);

	if (b == NULL || (fz_ca = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		abort();
	BIO_free(b);
	return 0;
}

static void
fz_one(const uint8_t *data, size_t size, enum ra_online_type want)
{
	struct ra_online_req r;
	struct err e;
	X509 *cas[1] = {fz_ca};
	size_t n;

	err_clear(&e);
	if (ra_online_parse(data, size, want, &r, &e) == 0) {
		n = strlen(r.nonce);
		if (r.cms == NULL || r.cert == NULL || r.serial[0] == '\0' || r.type != want ||
		    n < RA_ONLINE_NONCE_MIN || n > RA_ONLINE_NONCE_MAX ||
		    (want == RA_ONLINE_STATUS) != (r.reason == -1))
			abort();
		switch (ra_online_verify(&r, cas, 1, &e)) {
		case RA_ONLINE_ACCEPTED:
		case RA_ONLINE_ISSUER_UNKNOWN:
		case RA_ONLINE_CERT_SIGNATURE_INVALID:
		case RA_ONLINE_REQUEST_SIGNATURE_INVALID:
			break;
		default:
			abort();
		}
	} else if (e.code != ERR_REFUSED || e.msg[0] == '\0' || r.cms != NULL || r.cert != NULL) {
		abort(); /* every refusal must say why, and own nothing */
	}
	ra_online_req_free(&r);
	if (ERR_peek_error() != 0)
		abort(); /* the error queue is left clean for the thread's next request */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_one(data, size, RA_ONLINE_REVOKE);
	fz_one(data, size, RA_ONLINE_STATUS);
	return 0;
}
