/*
 * libFuzzer target for the signer's trust boundary: signer_check(), which re-parses every
 * payload a (possibly compromised) web process sends and applies the signer's own policy
 * (src/signer/signer.c, policy.c).  The first input byte picks the operation (certificate,
 * CRL, OCSP, time-stamp), the rest is the payload.  Hostile bytes must yield a clean refusal,
 * never a crash, a leak or undefined behaviour; nothing is signed here.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "signer/signer_local.h"
#include "x509/x509.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct signer_keys fz;

/* A certificate for key, signed by signer (self-signed when signer is key). */
static X509 *
fz_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn, int ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	if (x == NULL || n == NULL ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
					0))
		fatalx("fuzz: out of memory");
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 2);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
				       ca ? "critical,CA:TRUE" : "critical,CA:FALSE")) != NULL) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash")) != NULL) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (!X509_sign(x, signer, EVP_sha256()))
		fatalx("fuzz: cannot sign");
	X509_NAME_free(n);
	return x;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct conf none;
	struct err e;
	X509_ALGOR *alg = X509_ALGOR_new();
	int n;

	(void)argc;
	(void)argv;
	memset(&none, 0, sizeof(none));
	memset(&fz, 0, sizeof(fz));
	err_clear(&e);
	fz.log_fd = -1;
	if (signer_policy_load(&none, &fz.policy, &e) == -1)
		fatalx("fuzz: %s", e.msg);
	if ((fz.ca.pkey = EVP_EC_gen("P-256")) == NULL ||
	    (fz.ocsp.pkey = EVP_EC_gen("P-256")) == NULL ||
	    (fz.tsa.pkey = EVP_EC_gen("P-256")) == NULL)
		fatalx("fuzz: cannot make keys");
	fz.ca.cert = fz_cert(fz.ca.pkey, fz.ca.pkey, NULL, "shomei fuzz CA", 1);
	fz.ocsp.cert = fz_cert(fz.ocsp.pkey, fz.ca.pkey, fz.ca.cert, "shomei fuzz OCSP", 0);
	fz.tsa.cert = fz_cert(fz.tsa.pkey, fz.ca.pkey, fz.ca.cert, "shomei fuzz TSA", 0);
	/* the TSA key's digest: SIGN_TSA recomputes the messageDigest with it */
	if (x509_sigalg_for_key(fz.tsa.pkey, &fz.tsa.sig_nid, &fz.tsa.md_nid, &e) == -1 ||
	    x509_sigalg_for_key(fz.ocsp.pkey, &fz.ocsp.sig_nid, &fz.ocsp.md_nid, &e) == -1 ||
	    x509_sigalg_for_key(fz.ca.pkey, &fz.ca.sig_nid, &fz.ca.md_nid, &e) == -1 ||
	    alg == NULL || x509_algor_set(alg, fz.ca.sig_nid, &e) == -1 ||
	    (n = i2d_X509_ALGOR(alg, &fz.ca_algid)) <= 0)
		fatalx("fuzz: cannot set the CA algorithm");
	fz.ca_algid_len = (size_t)n;
	X509_ALGOR_free(alg);
	if ((n = i2d_X509_NAME(X509_get_subject_name(fz.ca.cert), &fz.ca_name)) <= 0)
		fatalx("fuzz: cannot encode the CA name");
	fz.ca_name_len = (size_t)n;
	if ((fz.parse_ctx = OSSL_LIB_CTX_new()) == NULL ||
	    (fz.parse_null = OSSL_PROVIDER_load(fz.parse_ctx, "null")) == NULL)
		fatalx("fuzz: cannot set up the parsing context");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t ops[] = {SIGNER_OP_SIGN_CERT, SIGNER_OP_SIGN_CRL, SIGNER_OP_SIGN_OCSP,
				       SIGNER_OP_SIGN_TSA};
	const struct signer_key *key;
	struct err e;

	if (size < 1)
		return 0;
	err_clear(&e);
	/* CRL numbers only ever rise in a signer: start each input afresh */
	fz.policy.crl_last[0] = fz.policy.crl_last[1] = 0;
	(void)signer_check(&fz, ops[data[0] % 4], data + 1, size - 1, &key, &e);
	ERR_clear_error();
	return 0;
}
