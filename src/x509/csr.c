/*
 * csr: PKCS#10 certificate requests (RFC 2986) from untrusted bytes, PEM or DER, and the key
 * strength rules shared with the linter.  Everything here is fuzzed (tests/fuzz/fuzz_csr.c).
 */
/* d2i_EC_PUBKEY/d2i_RSA_PUBKEY: the legacy decoders are 8x faster than OpenSSL 3.0's
 * provider path for the one key every request carries. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/b64.h"
#include "util/der.h"
#include "util/md.h"
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
	EVP_PKEY_free(c->pkey);
	X509_NAME_free(c->subject);
	X509_PUBKEY_free(c->spki);
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
	if (b64_decode(der, (const char *)body, (size_t)(end - body), 1) == -1) {
		err_set(e, ERR_REFUSED, "csr: PEM: bad base64 encoding");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/*
 * One DER TLV at *p with at most *left bytes (util/der: definite minimal lengths only), tag
 * and class as expected, constructed for SEQUENCE and [0] (the attributes), primitive
 * otherwise.  tlv/tlvlen cover the whole element, val/vlen its contents.  Advances *p and
 * *left.
 */
static int
csr_tlv(const unsigned char **p, long *left, int tag, int cls, const unsigned char **tlv,
	long *tlvlen, const unsigned char **val, long *vlen)
{
	struct der_reader d;
	struct der_tlv t;
	int cons = tag == V_ASN1_SEQUENCE || cls == V_ASN1_CONTEXT_SPECIFIC;

	if (*left <= 0 || tag < 0 || tag >= 0x1f)
		return -1;
	der_reader_init(&d, *p, (size_t)*left);
	if (der_expect(&d, (unsigned char)(cls | (cons ? V_ASN1_CONSTRUCTED : 0) | tag), &t) == -1)
		return -1;
	if (tlv != NULL) {
		*tlv = t.start;
		*tlvlen = (long)t.total;
	}
	if (val != NULL) {
		*val = t.val;
		*vlen = (long)t.len;
	}
	*left -= (long)t.total;
	*p = t.start + t.total;
	return 0;
}

/* SHA-256, SHA-384 or SHA-512 named by an AlgorithmIdentifier (NULL: absent). */
static int
csr_md_strong(const X509_ALGOR *a)
{
	const ASN1_OBJECT *o = NULL;
	int nid;

	if (a == NULL)
		return 0;
	X509_ALGOR_get0(&o, NULL, NULL, a);
	nid = OBJ_obj2nid(o);
	return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512;
}

/*
 * RSASSA-PSS parameters (RFC 4055 3.1): the hash and MGF1's hash must be SHA-2 of 256 bits or
 * more.  Absent ones default to SHA-1, which is refused like sha1WithRSAEncryption.
 */
static int
csr_pss_check(const X509_ALGOR *alg, struct err *e)
{
	const ASN1_OBJECT *obj;
	const void *pval;
	const ASN1_STRING *seq;
	const unsigned char *p;
	RSA_PSS_PARAMS *pss = NULL;
	X509_ALGOR *mgfmd = NULL;
	int ptype, ok = 0;

	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	if (ptype == V_ASN1_SEQUENCE && (seq = pval) != NULL) {
		p = ASN1_STRING_get0_data(seq);
		pss = d2i_RSA_PSS_PARAMS(NULL, &p, ASN1_STRING_length(seq));
	}
	if (pss != NULL && csr_md_strong(pss->hashAlgorithm) && pss->maskGenAlgorithm != NULL &&
	    OBJ_obj2nid(pss->maskGenAlgorithm->algorithm) == NID_mgf1 &&
	    pss->maskGenAlgorithm->parameter != NULL &&
	    pss->maskGenAlgorithm->parameter->type == V_ASN1_SEQUENCE) {
		p = ASN1_STRING_get0_data(pss->maskGenAlgorithm->parameter->value.sequence);
		mgfmd = d2i_X509_ALGOR(
		    NULL, &p, ASN1_STRING_length(pss->maskGenAlgorithm->parameter->value.sequence));
		ok = csr_md_strong(mgfmd);
	}
	RSA_PSS_PARAMS_free(pss);
	X509_ALGOR_free(mgfmd);
	ERR_clear_error();
	if (!ok)
		return err_set(
		    e, ERR_REFUSED,
		    "csr: RSASSA-PSS with SHA-1 (or unreadable parameters) is not "
		    "accepted: sign with SHA-256 or stronger for both the hash and MGF1");
	return 0;
}

/* The signature algorithm must use SHA-2 (or be Ed25519 / RSASSA-PSS); returns its NID. */
static int
csr_sigalg_check(const X509_ALGOR *alg, int *sig_nid, int *md_nid, int *pk_nid, struct err *e)
{
	const ASN1_OBJECT *obj = NULL;
	int nid;
	char tmp[80];

	*md_nid = *pk_nid = NID_undef;
	if (alg != NULL)
		X509_ALGOR_get0(&obj, NULL, NULL, alg);
	nid = obj != NULL ? OBJ_obj2nid(obj) : NID_undef;
	*sig_nid = nid;
	if (nid != NID_undef && OBJ_find_sigid_algs(nid, md_nid, pk_nid)) {
		if (*md_nid == NID_sha256 || *md_nid == NID_sha384 || *md_nid == NID_sha512 ||
		    (*md_nid == NID_undef && (nid == NID_ED25519 || nid == NID_rsassaPss)))
			return 0;
	}
	if (obj == NULL || OBJ_obj2txt(tmp, sizeof(tmp), obj, 0) <= 0)
		snprintf(tmp, sizeof(tmp), "(unknown)");
	return err_set(e, ERR_REFUSED, "csr: signature algorithm %s is not accepted (use SHA-2)",
		       tmp);
}

/*
 * Requested extensions from the attributes: at most one extensionRequest, no duplicate
 * extensions, SANs parsed and checked.
 */
static int
csr_extensions(struct csr *c, const unsigned char *attrs, long attrslen, struct err *e)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_ATTRIBUTE *attr = NULL;
	X509_EXTENSION *ext;
	ASN1_TYPE *val;
	const ASN1_OBJECT *oi, *oj;
	const unsigned char *p = attrs, *tlv, *q;
	char tmp[80];
	long left = attrslen, tlvlen;
	int i, j, nid, nattr = 0, rc = -1;

	while (left > 0) {
		if (csr_tlv(&p, &left, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &tlv, &tlvlen, NULL,
			    NULL) == -1) {
			err_set(e, ERR_REFUSED, "csr: RFC 2986 4.1: malformed attribute");
			goto out;
		}
		q = tlv;
		X509_ATTRIBUTE_free(attr);
		if ((attr = d2i_X509_ATTRIBUTE(NULL, &q, tlvlen)) == NULL || q != tlv + tlvlen) {
			err_set(e, ERR_REFUSED, "csr: RFC 2986 4.1: malformed attribute");
			goto out;
		}
		nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(attr));
		if (nid != NID_ext_req && nid != NID_ms_ext_req)
			continue;
		if (++nattr > 1) {
			err_set(e, ERR_REFUSED,
				"csr: RFC 2985 5.4.2: more than one extensionRequest");
			goto out;
		}
		if (X509_ATTRIBUTE_count(attr) != 1 ||
		    (val = X509_ATTRIBUTE_get0_type(attr, 0)) == NULL ||
		    val->type != V_ASN1_SEQUENCE) {
			err_set(e, ERR_REFUSED,
				"csr: RFC 2985 5.4.2: malformed extensionRequest attribute");
			goto out;
		}
		q = val->value.sequence->data;
		if ((exts = d2i_X509_EXTENSIONS(NULL, &q, val->value.sequence->length)) == NULL ||
		    q != val->value.sequence->data + val->value.sequence->length) {
			err_ssl(e, ERR_REFUSED,
				"csr: RFC 2985 5.4.2: malformed extensionRequest attribute");
			goto out;
		}
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
	X509_ATTRIBUTE_free(attr);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/*
 * The subject public key: kept as raw SPKI (copied into certificates as is) and decoded once
 * for the signature check, through the fast legacy decoders for EC and RSA.
 */
static int
csr_key(struct csr *c, const unsigned char *spki, long spkilen, struct err *e)
{
	X509_ALGOR *alg = NULL;
	ASN1_BIT_STRING *bits = NULL;
	const ASN1_OBJECT *ao;
	const void *pval;
	const unsigned char *p = spki, *q, *tlv, *val;
	long left = spkilen, tlvlen, vlen, inner;
	struct x509_keyinfo ki;
	unsigned char *copy = NULL;
	void *pv = NULL;
	EC_KEY *ec = NULL;
	RSA *rsa = NULL;
	int ptype, rc = -1;

	if (csr_tlv(&p, &left, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, NULL, NULL, &val, &vlen) == -1 ||
	    left != 0)
		goto bad;
	p = val;
	inner = vlen;
	if (csr_tlv(&p, &inner, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &tlv, &tlvlen, NULL, NULL) == -1)
		goto bad;
	q = tlv;
	if ((alg = d2i_X509_ALGOR(NULL, &q, tlvlen)) == NULL || q != tlv + tlvlen)
		goto bad;
	if (csr_tlv(&p, &inner, V_ASN1_BIT_STRING, V_ASN1_UNIVERSAL, &tlv, &tlvlen, NULL, NULL) ==
		-1 ||
	    inner != 0)
		goto bad;
	q = tlv;
	if ((bits = d2i_ASN1_BIT_STRING(NULL, &q, tlvlen)) == NULL || q != tlv + tlvlen ||
	    (bits->flags & 0x07) != 0 || bits->length <= 0)
		goto bad;
	X509_ALGOR_get0(&ao, &ptype, &pval, alg);
	if (ptype == V_ASN1_OBJECT) {
		if ((pv = OBJ_dup(pval)) == NULL)
			goto bad;
	} else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
		err_set(e, ERR_REFUSED, "key: public key parameters must be a named curve or NULL");
		goto out;
	}
	copy = OPENSSL_memdup(bits->data, (size_t)bits->length);
	if ((c->spki = X509_PUBKEY_new()) == NULL || copy == NULL ||
	    !X509_PUBKEY_set0_param(c->spki, OBJ_dup(ao), ptype, pv, copy, bits->length)) {
		OPENSSL_free(copy);
		ASN1_OBJECT_free(pv);
		err_ssl(e, ERR_INTERNAL, "csr: out of memory");
		goto out;
	}
	pv = NULL;
	if (x509_spki_check(c->spki, &ki, e) == -1)
		goto out;
	p = spki;
	if (ki.type == EVP_PKEY_EC) {
		if ((ec = d2i_EC_PUBKEY(NULL, &p, spkilen)) == NULL || p != spki + spkilen ||
		    (c->pkey = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_EC_KEY(c->pkey, ec))
			goto bad;
		ec = NULL;
	} else if (ki.type == EVP_PKEY_RSA) {
		if ((rsa = d2i_RSA_PUBKEY(NULL, &p, spkilen)) == NULL || p != spki + spkilen ||
		    (c->pkey = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_RSA(c->pkey, rsa))
			goto bad;
		rsa = NULL;
	} else if ((c->pkey = d2i_PUBKEY(NULL, &p, spkilen)) == NULL || p != spki + spkilen) {
		goto bad;
	}
	rc = 0;
	goto out;
bad:
	err_set(e, ERR_REFUSED, "key: missing or undecodable public key");
out:
	EC_KEY_free(ec);
	RSA_free(rsa);
	X509_ALGOR_free(alg);
	ASN1_BIT_STRING_free(bits);
	ERR_clear_error();
	return rc;
}

/* Verifies the request's signature over the DER of certificationRequestInfo. */
static int
csr_verify(struct csr *c, const unsigned char *der, long derlen, const unsigned char *cri,
	   long crilen, const X509_ALGOR *alg, const ASN1_BIT_STRING *sig, struct err *e)
{
	EVP_MD_CTX *ctx = NULL;
	X509_REQ *req = NULL;
	const unsigned char *p;
	int sig_nid, md_nid, pk_nid, ok = 0;

	if (csr_sigalg_check(alg, &sig_nid, &md_nid, &pk_nid, e) == -1)
		return -1;
	if (sig_nid == NID_rsassaPss) {
		if (csr_pss_check(alg, e) == -1)
			return -1;
		/* PSS carries its parameters: leave those to OpenSSL's full path (rare) */
		p = der;
		if ((req = d2i_X509_REQ(NULL, &p, derlen)) != NULL)
			ok = X509_REQ_verify(req, c->pkey) == 1;
		X509_REQ_free(req);
	} else if (pk_nid != NID_undef && EVP_PKEY_get_base_id(c->pkey) != pk_nid) {
		ok = 0; /* e.g. an ECDSA signature claimed for an RSA key, or "Ed25519" for EC */
	} else if ((ctx = EVP_MD_CTX_new()) != NULL &&
		   EVP_DigestVerifyInit(ctx, NULL, md_nid == NID_undef ? NULL : md_get(md_nid),
					NULL, c->pkey) == 1) {
		ok =
		    EVP_DigestVerify(ctx, sig->data, (size_t)sig->length, cri, (size_t)crilen) == 1;
	}
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	if (!ok)
		return err_set(e, ERR_REFUSED, "csr: RFC 2986: signature does not verify");
	return 0;
}

int
csr_parse_ex(const unsigned char *in, size_t len, unsigned flags, struct csr **out, struct err *e)
{
	struct csr *c = NULL;
	struct buf pem;
	X509_ALGOR *alg = NULL;
	ASN1_BIT_STRING *sig = NULL;
	ASN1_INTEGER *ver = NULL;
	const unsigned char *der, *p, *q, *body, *cri, *criv, *tlv, *spki, *attrs = NULL;
	long derlen, left, bodylen, crilen, crivlen, inner, tlvlen, spkilen, attrslen = 0;
	long version;
	int rc = -1;

	*out = NULL;
	buf_init(&pem, X509_CSR_MAX);
	if (len > X509_CSR_MAX) {
		err_set(e, ERR_REFUSED, "csr: larger than %d bytes", X509_CSR_MAX);
		goto out;
	}
	if (len > 0 && in[0] == DER_TAG_SEQUENCE) {
		der = in;
		derlen = (long)len;
	} else if (len > 0 && mem_find(in, len, "-----BEGIN ") != NULL) {
		if (csr_pem_decode(in, len, &pem, e) == -1)
			goto out;
		der = pem.data;
		derlen = (long)pem.len;
	} else {
		err_set(e, ERR_REFUSED, "csr: not a PEM or DER certificate request");
		goto out;
	}
	c = xcalloc(1, sizeof(*c));

	/* CertificationRequest ::= SEQUENCE { info, signatureAlgorithm, signature } */
	p = der;
	left = derlen;
	if (csr_tlv(&p, &left, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, NULL, NULL, &body, &bodylen) ==
	    -1)
		goto notcsr;
	p = body;
	inner = bodylen;
	if (csr_tlv(&p, &inner, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &cri, &crilen, &criv,
		    &crivlen) == -1)
		goto notcsr;
	if (csr_tlv(&p, &inner, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &tlv, &tlvlen, NULL, NULL) == -1)
		goto notcsr;
	q = tlv;
	if ((alg = d2i_X509_ALGOR(NULL, &q, tlvlen)) == NULL || q != tlv + tlvlen)
		goto notcsr;
	if (csr_tlv(&p, &inner, V_ASN1_BIT_STRING, V_ASN1_UNIVERSAL, &tlv, &tlvlen, NULL, NULL) ==
		-1 ||
	    inner != 0)
		goto notcsr;
	q = tlv;
	if ((sig = d2i_ASN1_BIT_STRING(NULL, &q, tlvlen)) == NULL || q != tlv + tlvlen ||
	    (sig->flags & 0x07) != 0)
		goto notcsr;

	/* CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo,
	 *   attributes [0] IMPLICIT SET OF Attribute } */
	p = criv;
	inner = crivlen;
	if (csr_tlv(&p, &inner, V_ASN1_INTEGER, V_ASN1_UNIVERSAL, &tlv, &tlvlen, NULL, NULL) == -1)
		goto notcsr;
	q = tlv;
	if ((ver = d2i_ASN1_INTEGER(NULL, &q, tlvlen)) == NULL || q != tlv + tlvlen)
		goto notcsr;
	if ((version = ASN1_INTEGER_get(ver)) != 0) {
		err_set(e, ERR_REFUSED, "csr: RFC 2986 4.1: version must be v1 (0), not %ld",
			version);
		goto out;
	}
	if (csr_tlv(&p, &inner, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &tlv, &tlvlen, NULL, NULL) == -1)
		goto notcsr;
	q = tlv;
	if ((c->subject = d2i_X509_NAME(NULL, &q, tlvlen)) == NULL || q != tlv + tlvlen)
		goto notcsr;
	if (csr_tlv(&p, &inner, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &spki, &spkilen, NULL, NULL) ==
	    -1)
		goto notcsr;
	if (inner > 0) {
		if (csr_tlv(&p, &inner, 0, V_ASN1_CONTEXT_SPECIFIC, NULL, NULL, &attrs,
			    &attrslen) == -1 ||
		    inner != 0)
			goto notcsr;
	}
	/* only a request that parsed has "trailing" bytes; anything else is not a request */
	if (left != 0) {
		err_set(e, ERR_REFUSED, "csr: DER: %ld trailing bytes after the request", left);
		goto out;
	}
	if (csr_key(c, spki, spkilen, e) == -1) {
		err_kind(e, X509_REFUSAL_KEY);
		goto out;
	}
	if (!(flags & CSR_PARSE_NO_VERIFY) &&
	    csr_verify(c, der, derlen, cri, crilen, alg, sig, e) == -1)
		goto out;
	if (csr_extensions(c, attrs, attrslen, e) == -1)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
	goto out;
notcsr:
	err_set(e, ERR_REFUSED, "csr: not a PEM or DER certificate request");
out:
	if (rc != 0)
		err_kind(e, X509_REFUSAL_CSR);
	ERR_clear_error();
	X509_ALGOR_free(alg);
	ASN1_BIT_STRING_free(sig);
	ASN1_INTEGER_free(ver);
	csr_free(c);
	buf_free(&pem);
	return rc;
}

int
csr_parse(const unsigned char *in, size_t len, struct csr **out, struct err *e)
{
	return csr_parse_ex(in, len, 0, out, e);
}
