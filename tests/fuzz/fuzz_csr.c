/*
 * libFuzzer target for the CSR parser and everything a parsed CSR reaches before signing:
 * csr_parse(), then (when it parses) x509_tbs_build() for the server and client profiles
 * against a fixed self-issued issuer, x509_lint(), the TBS encoding and the text forms.
 * Hostile bytes must yield a clean refusal, never a crash, a leak or undefined behaviour.
 *
 * Mutated inputs rarely keep a valid self-signature, yet anyone can sign any request with
 * their own key; so DER input that decodes as a request is also sent through the builder and
 * the linter without the signature check, to reach them with hostile subjects and SANs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "x509/x509.h"

#define FZ_EPOCH 1735689600 /* 2025-01-01T00:00:00Z: runs are reproducible */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *fz_key;
static X509 *fz_cert;
static struct x509_issuer fz_issuer;

/* A P-256 root made with shomei's own builder, signed here, kept for the whole run. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct x509_issuer self = {NULL, NULL, "fuzz", "http://fuzz.invalid"};
	struct x509_template t;
	struct err e;
	X509_NAME *n = NULL;
	X509 *tbs = NULL;
	EVP_MD_CTX *mctx = NULL;
	unsigned char *der = NULL, sig[256];
	size_t len, siglen = sizeof(sig);

	err_clear(&e);
	if ((fz_key = EVP_EC_gen("P-256")) == NULL || (n = X509_NAME_new()) == NULL ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
					(const unsigned char *)"shomei fuzz root", -1, -1, 0))
		fatalx("fuzz: cannot make the issuer key");
	self.pubkey = fz_key;
	memset(&t, 0, sizeof(t));
	t.profile = profile_find("root-ca");
	t.subject = n;
	t.pubkey = fz_key;
	t.not_before = FZ_EPOCH;
	t.not_after = x509_not_after(FZ_EPOCH, 7305); /* notAfter inclusive */
	memset(t.serial, 0x42, 16);
	t.serial_len = 16;
	if (x509_tbs_build(&self, &t, &tbs, &e) == -1 ||
	    x509_lint(tbs, t.profile, &self, &e) == -1 || x509_tbs_der(tbs, &der, &len, &e) == -1)
		fatalx("fuzz: issuer: %s", e.msg);
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, fz_key) != 1 ||
	    EVP_DigestSign(mctx, sig, &siglen, der, len) != 1)
		fatalx("fuzz: cannot sign the issuer");
	if (x509_assemble(der, len, sig, siglen, &fz_cert, &e) == -1)
		fatalx("fuzz: issuer: %s", e.msg);
	fz_issuer.cert = fz_cert;
	fz_issuer.pubkey = X509_get0_pubkey(fz_cert);
	fz_issuer.name = "fuzz";
	fz_issuer.base_url = "http://fuzz.invalid";
	EVP_MD_CTX_free(mctx);
	OPENSSL_free(der);
	X509_free(tbs);
	X509_NAME_free(n);
	return 0;
}

static void
fz_build(const struct csr *c, const char *profile)
{
	struct x509_template t;
	struct err e;
	X509 *x = NULL;
	unsigned char *der = NULL;
	size_t len;

	memset(&t, 0, sizeof(t));
	err_clear(&e);
	t.profile = profile_find(profile);
	t.subject = c->subject;
	t.pubkey = c->pkey;
	t.spki = c->spki;
	t.sans = c->sans;
	t.not_before = FZ_EPOCH + 86400;
	t.not_after = x509_not_after(t.not_before, t.profile->default_days);
	memset(t.serial, 0x5a, 16);
	t.serial_len = 16;
	if (x509_tbs_build(&fz_issuer, &t, &x, &e) == 0) {
		err_clear(&e);
		(void)x509_lint(x, t.profile, &fz_issuer, &e);
		err_clear(&e);
		if (x509_tbs_der(x, &der, &len, &e) == 0)
			OPENSSL_free(der);
	}
	X509_free(x);
}

/* The request as decoded, unverified: an attacker signs with their own key anyway, and
 * mutated inputs almost never keep a valid signature, so build and lint get fuzzed too. */
static void
fz_unverified(const uint8_t *data, size_t size)
{
	struct csr *raw = NULL;
	struct err e;

	err_clear(&e);
	if (csr_parse_ex(data, size, CSR_PARSE_NO_VERIFY, &raw, &e) == -1)
		return;
	fz_build(raw, "server");
	fz_build(raw, "client");
	fz_build(raw, "codesign");
	fz_build(raw, "officer");
	csr_free(raw);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csr *c = NULL;
	struct err e;
	char *s;

	fz_unverified(data, size);

	err_clear(&e);
	if (csr_parse(data, size, &c, &e) == 0) {
		s = x509_name_text(c->subject);
		free(s);
		s = x509_sans_text(c->sans);
		free(s);
		fz_build(c, "server");
		fz_build(c, "client");
	} else if (e.code == ERR_OK || e.msg[0] == '\0') {
		abort(); /* every refusal must say why */
	}
	csr_free(c);
	ERR_clear_error();
	return 0;
}
