/*
 * csr: PKCS#10 certificate requests (RFC 2986) from untrusted bytes, PEM or DER, and the key
 * strength rules shared with the linter.  Everything here is fuzzed (tests/fuzz/fuzz_csr.c).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "x509.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192

static int
rsa_check(EVP_PKEY *pkey, struct err *e)
{
	BIGNUM *exp = NULL;
	int bits, rc = -1;

	bits = EVP_PKEY_get_bits(pkey);
	if (bits < RSA_MIN_BITS) {
		err_set(e, ERR_REFUSED, "key: RSA key of %d bits is too weak (minimum %d)", bits,
			RSA_MIN_BITS);
		goto out;
	}
	if (bits > RSA_MAX_BITS) {
		err_set(e, ERR_REFUSED, "key: RSA key of %d bits is too large (maximum %d)", bits,
			RSA_MAX_BITS);
		goto out;
	}
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &exp)) {
		err_ssl(e, ERR_REFUSED, "key: RSA key without a public exponent");
		goto out;
	}
	/* an even or tiny exponent makes "proof of possession" meaningless */
	if (!BN_is_odd(exp) || BN_cmp(exp, BN_value_one()) <= 0 || BN_num_bits(exp) > 256) {
		err_set(e, ERR_REFUSED, "key: RSA public exponent is not acceptable");
		goto out;
	}
	rc = 0;
out:
	BN_free(exp);
	return rc;
}

int
x509_key_check(EVP_PKEY *pkey, struct err *e)
{
	char curve[64];
	const char *name;
	size_t len = 0;
	int rc = -1;

	if (pkey == NULL) {
		err_set(e, ERR_REFUSED, "key: missing or undecodable public key");
		goto out;
	}
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		rc = rsa_check(pkey, e);
		break;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve,
						    sizeof(curve), &len)) {
			err_ssl(e, ERR_REFUSED, "key: EC key without a named curve");
			break;
		}
		if (strcmp(curve, "prime256v1") != 0 && strcmp(curve, "secp384r1") != 0 &&
		    strcmp(curve, "secp521r1") != 0 && strcmp(curve, "P-256") != 0 &&
		    strcmp(curve, "P-384") != 0 && strcmp(curve, "P-521") != 0) {
			err_set(e, ERR_REFUSED,
			        "key: curve %s is not approved (P-256, P-384, P-521)", curve);
			break;
		}
		rc = 0;
		break;
	case EVP_PKEY_ED25519:
		rc = 0;
		break;
	default:
		name = EVP_PKEY_get0_type_name(pkey);
		if (name == NULL)
			name = OBJ_nid2sn(EVP_PKEY_get_base_id(pkey));
		err_set(e, ERR_REFUSED,
			"key: algorithm %s is not accepted (RSA, EC P-256/P-384/P-521, Ed25519)",
			name != NULL ? name : "unknown");
		break;
	}
out:
	ERR_clear_error();
	return rc;
}

void
csr_free(struct csr *c)
{
	if (c == NULL)
		return;
	X509_REQ_free(c->req);
	GENERAL_NAMES_free(c->sans);
	free(c);
}

static const unsigned char *
mem_find(const unsigned char *h, size_t hlen, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; n <= hlen && i <= hlen - n; i++)
		if (h[i] == (unsigned char)needle[0] && memcmp(h + i, needle, n) == 0)
			return h + i;
	return NULL;
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 (RFC 4648 4): line breaks and blanks skipped, '=' only as final padding. */
static int
b64_decode(const unsigned char *s, size_t len, struct buf *out)
{
	unsigned acc = 0;
	size_t i, nchars = 0, pad = 0;
	int v, bits = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
			continue;
		if (s[i] == '=') {
			pad++;
			nchars++;
			continue;
		}
		if (pad > 0 || (v = b64_value(s[i])) < 0)
			return -1;
		nchars++;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (buf_putc(out, (int)((acc >> bits) & 0xff)) == -1)
				return -1;
		}
	}
	if (nchars == 0 || nchars % 4 != 0 || pad > 2)
		return -1;
	return 0;
}

/*
 * Finds the first PEM block and decodes it when it is a certificate request.  The three
 * failure messages are distinct: not a request, no END line, broken base64.
 */
static int
csr_pem_decode(const unsigned char *in, size_t len, struct buf *der, struct err *e)
{
	static const char *const labels[] = {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"};
	const unsigned char *begin, *label, *dash, *body, *end = NULL, *stop = in + len;
	char endline[64], q[64];
	size_t i, llen = 0;
	int rc = -1;

	begin = mem_find(in, len, "-----BEGIN ");
	label = begin + 11;
	dash = mem_find(label, (size_t)(stop - label), "-----");
	if (dash == NULL) {
		err_set(e, ERR_REFUSED, "csr: not a PEM or DER certificate request");
		goto out;
	}
	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		llen = strlen(labels[i]);
		if ((size_t)(dash - label) == llen && memcmp(label, labels[i], llen) == 0)
			break;
	}
	if (i == sizeof(labels) / sizeof(labels[0])) {
		log_escape(q, sizeof(q), (const char *)label, (size_t)(dash - label));
		err_set(e, ERR_REFUSED,
			"csr: not a PEM or DER certificate request (PEM label \"%s\")", q);
		goto out;
	}
	body = dash + 5;
	snprintf(endline, sizeof(endline), "-----END %s-----", labels[i]);
	end = mem_find(body, (size_t)(stop - body), endline);
	if (end == NULL) {
		err_set(e, ERR_REFUSED, "csr: PEM: no \"%s\" line", endline);
		goto out;
	}
	if (b64_decode(body, (size_t)(end - body), der) == -1) {
		err_set(e, ERR_REFUSED, "csr: PEM: bad base64 encoding");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* The signature algorithm of the request must use SHA-2 (or be Ed25519 / RSASSA-PSS). */
static int
csr_sigalg_check(const X509_REQ *req, struct err *e)
{
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj = NULL;
	int nid, md = NID_undef, pk = NID_undef;
	char tmp[80];

	X509_REQ_get0_signature(req, NULL, &alg);
	if (alg != NULL)
		X509_ALGOR_get0(&obj, NULL, NULL, alg);
	nid = obj != NULL ? OBJ_obj2nid(obj) : NID_undef;
	if (nid != NID_undef && OBJ_find_sigid_algs(nid, &md, &pk)) {
		if (md == NID_sha256 || md == NID_sha384 || md == NID_sha512 ||
		    (md == NID_undef && (nid == NID_ED25519 || nid == NID_rsassaPss)))
			return 0;
	}
	if (obj == NULL || OBJ_obj2txt(tmp, sizeof(tmp), obj, 0) <= 0)
		snprintf(tmp, sizeof(tmp), "(unknown)");
	return err_set(e, ERR_REFUSED, "csr: signature algorithm %s is not accepted (use SHA-2)",
		       tmp);
}

/* Requested extensions: at most one extensionRequest attribute, no duplicates, SANs parsed. */
static int
csr_extensions(struct csr *c, struct err *e)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *val;
	const ASN1_OBJECT *oi, *oj;
	char tmp[80];
	int i, j, idx, nattr = 0, rc = -1;
	static const int ext_nids[] = {NID_ext_req, NID_ms_ext_req};

	for (i = 0; i < 2; i++) {
		idx = -1;
		while ((idx = X509_REQ_get_attr_by_NID(c->req, ext_nids[i], idx)) >= 0) {
			nattr++;
			attr = X509_REQ_get_attr(c->req, idx);
			if (X509_ATTRIBUTE_count(attr) != 1 ||
			    (val = X509_ATTRIBUTE_get0_type(attr, 0)) == NULL ||
			    val->type != V_ASN1_SEQUENCE) {
				err_set(
				    e, ERR_REFUSED,
				    "csr: RFC 2985 5.4.2: malformed extensionRequest attribute");
				goto out;
			}
		}
	}
	if (nattr == 0) {
		rc = 0;
		goto out;
	}
	if (nattr > 1) {
		err_set(e, ERR_REFUSED, "csr: RFC 2985 5.4.2: more than one extensionRequest");
		goto out;
	}
	if ((exts = X509_REQ_get_extensions(c->req)) == NULL) {
		err_ssl(e, ERR_REFUSED,
		        "csr: RFC 2985 5.4.2: malformed extensionRequest attribute");
		goto out;
	}
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		ext = sk_X509_EXTENSION_value(exts, i);
		oi = X509_EXTENSION_get_object(ext);
		for (j = 0; j < i; j++) {
			oj = X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, j));
			if (OBJ_cmp(oi, oj) == 0) {
				if (OBJ_obj2nid(oi) != NID_undef)
					snprintf(tmp, sizeof(tmp), "%s",
					         OBJ_nid2sn(OBJ_obj2nid(oi)));
				else if (OBJ_obj2txt(tmp, sizeof(tmp), oi, 1) <= 0)
					snprintf(tmp, sizeof(tmp), "(bad OID)");
				err_set(e, ERR_REFUSED, "csr: RFC 5280 4.2: duplicate extension %s",
					tmp);
				goto out;
			}
		}
		if (OBJ_obj2nid(oi) != NID_subject_alt_name)
			continue;
		if ((c->sans = X509V3_EXT_d2i(ext)) == NULL) {
			err_ssl(e, ERR_REFUSED, "csr: RFC 5280 4.2.1.6: malformed subjectAltName");
			goto out;
		}
		if (x509_sans_check(c->sans, "csr", e) == -1)
			goto out;
	}
	rc = 0;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

int
csr_parse(const unsigned char *in, size_t len, struct csr **out, struct err *e)
{
	struct csr *c = NULL;
	struct buf pem;
	const unsigned char *der, *p;
	size_t derlen;
	int r, rc = -1;

	*out = NULL;
	buf_init(&pem, X509_CSR_MAX);
	if (len > X509_CSR_MAX) {
		err_set(e, ERR_REFUSED, "csr: larger than %d bytes", X509_CSR_MAX);
		goto out;
	}
	if (len > 0 && in[0] == 0x30) {
		der = in;
		derlen = len;
	} else if (len > 0 && mem_find(in, len, "-----BEGIN ") != NULL) {
		if (csr_pem_decode(in, len, &pem, e) == -1)
			goto out;
		der = pem.data;
		derlen = pem.len;
	} else {
		err_set(e, ERR_REFUSED, "csr: not a PEM or DER certificate request");
		goto out;
	}
	c = xcalloc(1, sizeof(*c));
	p = der;
	if (derlen == 0 || (c->req = d2i_X509_REQ(NULL, &p, (long)derlen)) == NULL) {
		ERR_clear_error();
		err_set(e, ERR_REFUSED, "csr: not a PEM or DER certificate request");
		goto out;
	}
	if (p != der + derlen) {
		err_set(e, ERR_REFUSED, "csr: DER: %zu trailing bytes after the request",
			(size_t)(der + derlen - p));
		goto out;
	}
	if (X509_REQ_get_version(c->req) != X509_REQ_VERSION_1) {
		err_set(e, ERR_REFUSED, "csr: RFC 2986 4.1: version must be v1 (0), not %ld",
			X509_REQ_get_version(c->req));
		goto out;
	}
	c->subject = X509_REQ_get_subject_name(c->req);
	if ((c->pkey = X509_REQ_get0_pubkey(c->req)) == NULL) {
		err_ssl(e, ERR_REFUSED, "key: missing or undecodable public key");
		goto out;
	}
	if (x509_key_check(c->pkey, e) == -1 || csr_sigalg_check(c->req, e) == -1)
		goto out;
	if ((r = X509_REQ_verify(c->req, c->pkey)) != 1) {
		ERR_clear_error();
		err_set(e, ERR_REFUSED, "csr: RFC 2986: signature does not verify");
		goto out;
	}
	if (csr_extensions(c, e) == -1)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	ERR_clear_error();
	csr_free(c);
	buf_free(&pem);
	return rc;
}
