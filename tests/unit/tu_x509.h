/* X.509 helpers shared by the unit tests that issue through a CA (include after cmocka). */
#ifndef SHOMEI_TU_X509_H
#define SHOMEI_TU_X509_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/*
 * A DER CSR for a new P-256 key with the subject subj ("/O=Example/CN=name", UTF-8; "" for
 * none) and the subjectAltName san in OpenSSL's configuration form ("DNS:a,IP:192.0.2.1";
 * NULL for none); *len its length.  Caller OPENSSL_free()s it.
 */
static inline unsigned char *
tu_csr_ex(const char *subj, const char *san, int *len)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *rq = X509_REQ_new();
	X509_NAME *n = X509_REQ_get_subject_name(rq);
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	unsigned char *der = NULL;
	char buf[512], *p, *q, *eq;

	snprintf(buf, sizeof(buf), "%s", subj);
	for (p = buf; p != NULL && *p == '/';) {
		q = strchr(p + 1, '/');
		if (q != NULL)
			*q = '\0';
		eq = strchr(p + 1, '=');
		assert_non_null(eq);
		*eq = '\0';
		assert_true(X509_NAME_add_entry_by_txt(n, p + 1, MBSTRING_UTF8,
						       (const unsigned char *)eq + 1, -1, -1, 0));
		if (q != NULL)
			*q = '/';
		p = q;
	}
	X509_REQ_set_pubkey(rq, k);
	if (san != NULL) {
		sk_X509_EXTENSION_push(exts,
				       X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san));
		X509_REQ_add_extensions(rq, exts);
	}
	assert_true(X509_REQ_sign(rq, k, EVP_sha256()) > 0);
	*len = i2d_X509_REQ(rq, &der);
	assert_true(*len > 0);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(rq);
	EVP_PKEY_free(k);
	return der;
}

/*
 * A DER CSR for a new P-256 key with subject CN=cn and the SAN dNSName cn; *len its length.
 * Caller OPENSSL_free()s it.
 */
static inline unsigned char *
tu_csr(const char *cn, int *len)
{
	char subj[300], san[300];

	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	snprintf(san, sizeof(san), "DNS:%s", cn);
	return tu_csr_ex(subj, san, len);
}

#endif
