/*
 * tsa: the RFC 3161 time-stamping authority.  Requests are parsed with a strict DER walk;
 * tokens are written as DER from parts that tsa_new() computes once (see tsa.h), the signed
 * attributes go to the signer (SIGN_TSA) and the SignerInfo, SignedData and ContentInfo are
 * assembled around the signature.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "tsa.h"
#include "x509/x509.h"
#include "tsa_local.h"

#define TSA_BUF_MAX (256 * 1024) /* a token: TSTInfo + attributes + certificate + signature */
#define TSA_CTYPE_QUERY "application/timestamp-query"
#define TSA_CTYPE_REPLY "application/timestamp-reply"

/* OIDs as whole TLVs. */
static const unsigned char tsa_oid_signed_data[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
						    0xf7, 0x0d, 0x01, 0x07, 0x02};
static const unsigned char tsa_oid_tstinfo[] = {0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7,
						0x0d, 0x01, 0x09, 0x10, 0x01, 0x04};
static const unsigned char tsa_oid_content_type[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
						     0xf7, 0x0d, 0x01, 0x09, 0x03};
static const unsigned char tsa_oid_message_digest[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
						       0xf7, 0x0d, 0x01, 0x09, 0x04};
static const unsigned char tsa_oid_signing_cert_v2[] = {0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7,
							0x0d, 0x01, 0x09, 0x10, 0x02, 0x2f};

/* The imprint algorithms we accept: OID contents (2.16.840.1.101.3.4.2.x) and NID. */
static const struct {
	unsigned char oid[9];
	int nid;
	size_t len;
} tsa_hashes[] = {
    {{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}, NID_sha256, 32},
    {{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02}, NID_sha384, 48},
    {{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03}, NID_sha512, 64},
};

const char *
tsa_fail_name(int bit)
{
	switch (bit) {
	case TSA_FAIL_BAD_ALG:
		return "badAlg";
	case TSA_FAIL_BAD_REQUEST:
		return "badRequest";
	case TSA_FAIL_BAD_DATA_FORMAT:
		return "badDataFormat";
	case TSA_FAIL_TIME_NOT_AVAILABLE:
		return "timeNotAvailable";
	case TSA_FAIL_UNACCEPTED_POLICY:
		return "unacceptedPolicy";
	case TSA_FAIL_UNACCEPTED_EXTENSION:
		return "unacceptedExtension";
	case TSA_FAIL_ADD_INFO_NOT_AVAILABLE:
		return "addInfoNotAvailable";
	case TSA_FAIL_SYSTEM_FAILURE:
		return "systemFailure";
	default:
		return "unknown";
	}
}

/* Sets *fail and the error; returns -1 (for `return tsa_refuse(...)` style in the parser). */
static int
tsa_refuse(int *fail, int bit, struct err *e, const char *msg)
{
	*fail = bit;
	return err_set(e, ERR_REFUSED, "tsa: %s", msg);
}

/* MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING } */
static int
tsa_imprint_parse(const struct der_tlv *mi, struct tsa_req *r, int *fail, struct err *e)
{
	struct der_reader d, a;
	struct der_tlv alg, oid, par, hash;
	size_t i;

	der_reader_init(&d, mi->val, mi->len);
	if (der_next(&d, &alg) != 0 || alg.tag != DER_TAG_SEQUENCE || der_next(&d, &hash) != 0 ||
	    hash.tag != DER_TAG_OCTETSTRING || !der_reader_done(&d))
		return tsa_refuse(fail, TSA_FAIL_BAD_REQUEST, e,
				  "RFC 3161 2.4.1: malformed messageImprint");
	der_reader_init(&a, alg.val, alg.len);
	if (der_next(&a, &oid) != 0 || der_get_oid(&oid, NULL, NULL) == -1)
		return tsa_refuse(fail, TSA_FAIL_BAD_REQUEST, e,
				  "RFC 5280 4.1.1.2: malformed hash AlgorithmIdentifier");
	switch (der_next(&a, &par)) {
	case 1:
		break;
	case 0:
		if (par.tag == DER_TAG_NULL && par.len == 0 && der_reader_done(&a))
			break;
		/* FALLTHROUGH */
	default:
		return tsa_refuse(fail, TSA_FAIL_BAD_ALG, e,
				  "RFC 5754 2: hash algorithm parameters must be absent or NULL");
	}
	for (i = 0; i < sizeof(tsa_hashes) / sizeof(tsa_hashes[0]); i++)
		if (oid.len == sizeof(tsa_hashes[i].oid) &&
		    memcmp(oid.val, tsa_hashes[i].oid, oid.len) == 0)
			break;
	if (i == sizeof(tsa_hashes) / sizeof(tsa_hashes[0]))
		return tsa_refuse(fail, TSA_FAIL_BAD_ALG, e,
				  "RFC 3161 2.4.2: hash algorithm not accepted (SHA-256, SHA-384 "
				  "or SHA-512)");
	if (hash.len != tsa_hashes[i].len)
		return tsa_refuse(fail, TSA_FAIL_BAD_DATA_FORMAT, e,
				  "RFC 3161 2.4.1: hashedMessage length does not match the hash "
				  "algorithm");
	r->md_nid = tsa_hashes[i].nid;
	r->imprint = mi->start;
	r->imprint_len = mi->total;
	r->hash = hash.val;
	r->hash_len = hash.len;
	return 0;
}

/*
 * TimeStampReq ::= SEQUENCE { version INTEGER { v1(1) }, messageImprint MessageImprint,
 *   reqPolicy TSAPolicyId OPTIONAL, nonce INTEGER OPTIONAL, certReq BOOLEAN DEFAULT FALSE,
 *   extensions [0] IMPLICIT Extensions OPTIONAL }
 */
int
tsa_req_parse(const unsigned char *p, size_t len, struct tsa_req *r, int *fail, struct err *e)
{
	struct der_reader d, s;
	struct der_tlv seq, t;
	int rc = -1, n;

	memset(r, 0, sizeof(*r));
	*fail = TSA_FAIL_BAD_REQUEST;
	der_reader_init(&d, p, len);
	if (der_next(&d, &seq) != 0 || seq.tag != DER_TAG_SEQUENCE || !der_reader_done(&d)) {
		tsa_refuse(fail, TSA_FAIL_BAD_REQUEST, e,
			   "RFC 3161 2.4.1: request is not one DER TimeStampReq");
		goto out;
	}
	der_reader_init(&s, seq.val, seq.len);
	if (der_next(&s, &t) != 0 || der_int_check(&t, DER_TAG_INTEGER) == -1) {
		tsa_refuse(fail, TSA_FAIL_BAD_REQUEST, e, "RFC 3161 2.4.1: no version");
		goto out;
	}
	if (t.len != 1 || t.val[0] != 1) {
		tsa_refuse(fail, TSA_FAIL_BAD_REQUEST, e, "RFC 3161 2.4.1: version must be v1 (1)");
		goto out;
	}
	if (der_next(&s, &t) != 0 || t.tag != DER_TAG_SEQUENCE) {
		tsa_refuse(fail, TSA_FAIL_BAD_REQUEST, e, "RFC 3161 2.4.1: no messageImprint");
		goto out;
	}
	if (tsa_imprint_parse(&t, r, fail, e) == -1)
		goto out;
	/* the optional fields, each at most once and in this order */
	if ((n = der_next(&s, &t)) == 0 && t.tag == DER_TAG_OID) {
		if (der_get_oid(&t, NULL, NULL) == -1) {
			tsa_refuse(fail, TSA_FAIL_BAD_REQUEST, e,
				   "RFC 3161 2.4.1: malformed reqPolicy");
			goto out;
		}
		r->policy = t.start;
		r->policy_len = t.total;
		n = der_next(&s, &t);
	}
	if (n == 0 && t.tag == DER_TAG_INTEGER) {
		if (der_int_check(&t, DER_TAG_INTEGER) == -1 || t.len > TSA_NONCE_MAX) {
			tsa_refuse(fail, TSA_FAIL_BAD_REQUEST, e,
				   "RFC 3161 2.4.1: nonce is not a DER INTEGER of at most 64 "
				   "octets");
			goto out;
		}
		r->nonce = t.start;
		r->nonce_len = t.total;
		n = der_next(&s, &t);
	}
	if (n == 0 && t.tag == DER_TAG_BOOLEAN) {
		if (t.len != 1) {
			tsa_refuse(fail, TSA_FAIL_BAD_REQUEST, e,
				   "RFC 3161 2.4.1: malformed certReq");
			goto out;
		}
		r->cert_req = t.val[0] != 0; /* BER: any non-zero octet is TRUE */
		n = der_next(&s, &t);
	}
	if (n == 0 && t.tag == DER_TAG_CTX(0)) {
		tsa_refuse(fail, TSA_FAIL_UNACCEPTED_EXTENSION, e,
			   "RFC 3161 2.4.1: request extensions are not supported");
		goto out;
	}
	if (n != 1) {
		tsa_refuse(fail, TSA_FAIL_BAD_REQUEST, e,
			   "RFC 3161 2.4.1: unexpected or malformed field in TimeStampReq");
		goto out;
	}
	*fail = -1;
	rc = 0;
out:
	if (rc == -1)
		memset(r, 0, sizeof(*r));
	return rc;
}

int
tsa_req_check(const struct tsa *t, const struct tsa_req *r, int *fail, struct err *e)
{
	if (r->policy != NULL &&
	    (r->policy_len != t->policy_len || memcmp(r->policy, t->policy, t->policy_len) != 0))
		return tsa_refuse(fail, TSA_FAIL_UNACCEPTED_POLICY, e,
				  "RFC 3161 2.4.1: reqPolicy is not this TSA's policy");
	return 0;
}

/* ---- the context ---- */

/* Copies a buf's bytes into a new allocation. */
static unsigned char *
tsa_dup(const struct buf *b, size_t *len)
{
	unsigned char *p = xmalloc(b->len > 0 ? b->len : 1);

	memcpy(p, b->data, b->len);
	*len = b->len;
	return p;
}

/* Appends the DER of a name (its cached encoding, as it appears in the certificate). */
static int
tsa_i2d_name(const X509_NAME *n, struct buf *out)
{
	unsigned char *p = NULL;
	int len, rc = -1;

	if ((len = i2d_X509_NAME(n, &p)) <= 0)
		goto out;
	rc = buf_append(out, p, (size_t)len);
out:
	OPENSSL_free(p);
	return rc;
}

/* Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER (1..999) OPTIONAL } */
static int
tsa_accuracy_build(long ms, struct buf *out)
{
	unsigned char m[2];
	long millis = ms % 1000, mark;
	int rc = -1;

	if ((mark = der_begin(out, DER_TAG_SEQUENCE)) == -1)
		goto out;
	if (ms / 1000 > 0 && der_put_uint64(out, (uint64_t)(ms / 1000)) == -1)
		goto out;
	if (millis > 0) {
		/* 1..999: one octet up to 0x7f, else two (0x00 0x80 .. 0x03 0xe7) */
		m[0] = (unsigned char)(millis >> 8);
		m[1] = (unsigned char)millis;
		if (der_put_uint_bytes(out, DER_TAG_IMPL(0), m, sizeof(m)) == -1)
			goto out;
	}
	if (der_end(out, mark) == -1)
		goto out;
	rc = 0;
out:
	return rc;
}

/* AlgorithmIdentifier of a digest, parameters absent (RFC 5754 2). */
static int
tsa_digalg_build(int nid, struct buf *out)
{
	ASN1_OBJECT *o;
	unsigned char *p = NULL;
	int len, rc = -1;

	if ((o = OBJ_nid2obj(nid)) == NULL || (len = i2d_ASN1_OBJECT(o, &p)) <= 0)
		goto out;
	rc = der_put(out, DER_TAG_SEQUENCE, p, (size_t)len);
out:
	OPENSSL_free(p);
	return rc;
}

/* The signature AlgorithmIdentifier the TSA key signs with (x509_algor_set). */
static int
tsa_sigalg_build(int sig_nid, struct buf *out, struct err *e)
{
	X509_ALGOR *a = NULL;
	unsigned char *p = NULL;
	int len, rc = -1;

	if ((a = X509_ALGOR_new()) == NULL)
		fatalx("tsa: out of memory");
	if (x509_algor_set(a, sig_nid, e) == -1)
		goto out;
	if ((len = i2d_X509_ALGOR(a, &p)) <= 0 || buf_append(out, p, (size_t)len) == -1) {
		err_ssl(e, ERR_INTERNAL, "tsa: cannot encode the signature algorithm");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(p);
	X509_ALGOR_free(a);
	return rc;
}

/*
 * The signingCertificateV2 attribute (RFC 5816, RFC 5035 5.4):
 *   Attribute { id-aa-signingCertificateV2, SET { SigningCertificateV2 { SEQUENCE OF {
 *     ESSCertIDv2 { hashAlgorithm DEFAULT sha256 (so absent), certHash OCTET STRING,
 *       issuerSerial { GeneralNames { [4] issuer Name }, serialNumber } } } } } }
 */
static int
tsa_ess_build(X509 *cert, const unsigned char *der, size_t derlen, struct buf *out, struct err *e)
{
	struct buf name, gn, is, id;
	unsigned char hash[32], *ser = NULL;
	unsigned int hlen = 0;
	int serlen, rc = -1;

	buf_init(&name, TSA_BUF_MAX);
	buf_init(&gn, TSA_BUF_MAX);
	buf_init(&is, TSA_BUF_MAX);
	buf_init(&id, TSA_BUF_MAX);
	if (!EVP_Digest(der, derlen, hash, &hlen, EVP_sha256(), NULL) || hlen != 32) {
		err_ssl(e, ERR_INTERNAL, "tsa: cannot hash the TSA certificate");
		goto out;
	}
	if (tsa_i2d_name(X509_get_issuer_name(cert), &name) == -1 ||
	    (serlen = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &ser)) <= 0) {
		err_ssl(e, ERR_INTERNAL, "tsa: cannot encode the TSA certificate's issuer");
		goto out;
	}
	if (der_put(&gn, DER_TAG_CTX(4), name.data, name.len) == -1 ||
	    der_put(&is, DER_TAG_SEQUENCE, gn.data, gn.len) == -1 ||
	    buf_append(&is, ser, (size_t)serlen) == -1)
		goto full;
	/* is = GeneralNames TLV + serial; wrap as IssuerSerial */
	buf_reset(&gn);
	if (der_put(&gn, DER_TAG_OCTETSTRING, hash, 32) == -1 ||
	    der_put(&gn, DER_TAG_SEQUENCE, is.data, is.len) == -1 ||
	    der_put(&id, DER_TAG_SEQUENCE, gn.data, gn.len) == -1) /* ESSCertIDv2 */
		goto full;
	buf_reset(&gn);
	if (der_put(&gn, DER_TAG_SEQUENCE, id.data, id.len) == -1) /* SEQUENCE OF ESSCertIDv2 */
		goto full;
	buf_reset(&id);
	if (der_put(&id, DER_TAG_SEQUENCE, gn.data, gn.len) == -1) /* SigningCertificateV2 */
		goto full;
	buf_reset(&gn);
	if (buf_append(&gn, tsa_oid_signing_cert_v2, sizeof(tsa_oid_signing_cert_v2)) == -1 ||
	    der_put(&gn, DER_TAG_SET, id.data, id.len) == -1 ||
	    der_put(out, DER_TAG_SEQUENCE, gn.data, gn.len) == -1)
		goto full;
	rc = 0;
	goto out;
full:
	err_set(e, ERR_INTERNAL, "tsa: TSA certificate too large");
out:
	OPENSSL_free(ser);
	buf_free(&name);
	buf_free(&gn);
	buf_free(&is);
	buf_free(&id);
	return rc;
}

/* Fixed parts derived from the TSA certificate: DER, sid, tsa name, ESS attribute. */
static int
tsa_cert_parts(struct tsa *t, X509 *cert, struct err *e)
{
	struct buf b, in;
	unsigned char *der = NULL, *ser = NULL;
	int len, serlen, rc = -1;

	buf_init(&b, TSA_BUF_MAX);
	buf_init(&in, TSA_BUF_MAX);
	if ((len = i2d_X509(cert, &der)) <= 0 ||
	    (serlen = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &ser)) <= 0) {
		err_ssl(e, ERR_INTERNAL, "tsa: cannot encode the TSA certificate");
		goto out;
	}
	t->cert = xmalloc((size_t)len);
	memcpy(t->cert, der, (size_t)len);
	t->cert_len = (size_t)len;
	/* IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER } */
	if (tsa_i2d_name(X509_get_issuer_name(cert), &in) == -1 ||
	    buf_append(&in, ser, (size_t)serlen) == -1 ||
	    der_put(&b, DER_TAG_SEQUENCE, in.data, in.len) == -1)
		goto enc;
	t->sid = tsa_dup(&b, &t->sid_len);
	/* tsa [0] GeneralName: directoryName [4] of the TSA certificate's subject */
	buf_reset(&b);
	buf_reset(&in);
	if (tsa_i2d_name(X509_get_subject_name(cert), &in) == -1 ||
	    der_put_hdr(&b, DER_TAG_CTX(0), der_tlv_size(in.len)) == -1 ||
	    der_put(&b, DER_TAG_CTX(4), in.data, in.len) == -1)
		goto enc;
	t->name = tsa_dup(&b, &t->name_len);
	buf_reset(&b);
	if (tsa_ess_build(cert, t->cert, t->cert_len, &b, e) == -1)
		goto out;
	t->attr_ess = tsa_dup(&b, &t->attr_ess_len);
	if (x509_time_to_epoch(X509_get0_notBefore(cert), &t->not_before) == -1 ||
	    x509_time_to_epoch(X509_get0_notAfter(cert), &t->not_after) == -1) {
		err_ssl(e, ERR_INTERNAL, "tsa: TSA certificate validity does not parse");
		goto out;
	}
	rc = 0;
	goto out;
enc:
	err_ssl(e, ERR_INTERNAL, "tsa: cannot encode the TSA certificate's names");
out:
	OPENSSL_free(der);
	OPENSSL_free(ser);
	buf_free(&b);
	buf_free(&in);
	return rc;
}

/* The configuration keys the TSA reads (tsa_new, tsa_http_post). */
const char *const tsa_conf_keys[] = {"tsa.policy", "tsa.accuracy_ms", "tsa.serial_block", NULL};

int
tsa_new(struct ca *ca, struct tsa **out, struct err *e)
{
	struct tsa *t = NULL;
	struct buf b;
	ASN1_OBJECT *pol = NULL;
	EVP_PKEY *pk;
	unsigned char *p = NULL;
	const char *v;
	int len, rc = -1;

	*out = NULL;
	buf_init(&b, TSA_BUF_MAX);
	if (ca->tsa_cert == NULL) {
		err_set(e, ERR_REFUSED, "tsa: no TSA certificate configured (tsa.cert)");
		goto out;
	}
	t = xcalloc(1, sizeof(*t));
	t->ca = ca;
	if (pthread_mutex_init(&t->mu, NULL) != 0)
		fatalx("tsa: pthread_mutex_init failed");
	t->next = 1;
	t->end = 0;
	if (conf_get_long(&ca->conf, "tsa.accuracy_ms", 1000, 0, 86400000L, &t->accuracy_ms, e) ==
		-1 ||
	    conf_get_long(&ca->conf, "tsa.serial_block", 1000, 1, 1000000, &t->block, e) == -1)
		goto out;
	v = conf_get(&ca->conf, "tsa.policy", TSA_POLICY_DEFAULT);
	if ((pol = OBJ_txt2obj(v, 1)) == NULL || (len = i2d_ASN1_OBJECT(pol, &p)) <= 0) {
		ERR_clear_error();
		err_set(e, ERR_REFUSED, "tsa: tsa.policy \"%s\" is not a dotted OID", v);
		goto out;
	}
	t->policy = xmalloc((size_t)len);
	memcpy(t->policy, p, (size_t)len);
	t->policy_len = (size_t)len;
	if (t->accuracy_ms > 0) {
		if (tsa_accuracy_build(t->accuracy_ms, &b) == -1)
			fatalx("tsa: accuracy does not fit");
		t->accuracy = tsa_dup(&b, &t->accuracy_len);
	}
	/* the one key decode of the TSA: which algorithm the signer will use */
	if ((pk = X509_get0_pubkey(ca->tsa_cert)) == NULL) {
		err_ssl(e, ERR_INTERNAL, "tsa: TSA certificate key does not decode");
		goto out;
	}
	if (x509_sigalg_for_key(pk, &t->sig_nid, &t->md_nid, e) == -1)
		goto out;
	if ((t->md = EVP_MD_fetch(NULL, OBJ_nid2sn(t->md_nid), NULL)) == NULL) {
		err_ssl(e, ERR_INTERNAL, "tsa: no digest %s", OBJ_nid2sn(t->md_nid));
		goto out;
	}
	buf_reset(&b);
	if (tsa_digalg_build(t->md_nid, &b) == -1) {
		err_ssl(e, ERR_INTERNAL, "tsa: cannot encode the digest algorithm");
		goto out;
	}
	t->digalg = tsa_dup(&b, &t->digalg_len);
	buf_reset(&b);
	if (tsa_sigalg_build(t->sig_nid, &b, e) == -1)
		goto out;
	t->sigalg = tsa_dup(&b, &t->sigalg_len);
	/* contentType attribute: SEQUENCE { OID contentType, SET { id-ct-TSTInfo } } */
	buf_reset(&b);
	if (der_put_hdr(&b, DER_TAG_SEQUENCE,
			sizeof(tsa_oid_content_type) + der_tlv_size(sizeof(tsa_oid_tstinfo))) ==
		-1 ||
	    buf_append(&b, tsa_oid_content_type, sizeof(tsa_oid_content_type)) == -1 ||
	    der_put(&b, DER_TAG_SET, tsa_oid_tstinfo, sizeof(tsa_oid_tstinfo)) == -1)
		fatalx("tsa: contentType does not fit");
	t->attr_ct = tsa_dup(&b, &t->attr_ct_len);
	if (tsa_cert_parts(t, ca->tsa_cert, e) == -1)
		goto out;
	*out = t;
	t = NULL;
	rc = 0;
out:
	OPENSSL_free(p);
	ASN1_OBJECT_free(pol);
	buf_free(&b);
	tsa_free(t);
	return rc;
}

void
tsa_free(struct tsa *t)
{
	if (t == NULL)
		return;
	EVP_MD_free(t->md);
	free(t->policy);
	free(t->accuracy);
	free(t->cert);
	free(t->sid);
	free(t->name);
	free(t->digalg);
	free(t->sigalg);
	free(t->attr_ct);
	free(t->attr_ess);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

int
tsa_serial_next(struct tsa *t, struct store *st, uint64_t *serial, struct err *e)
{
	int64_t v = 0;
	int rc = -1;

	pthread_mutex_lock(&t->mu);
	if (t->next > t->end) {
		if (st == NULL && (st = ca_thread_store(t->ca, e)) == NULL)
			goto out;
		if (store_counter_add(st, TSA_COUNTER_SERIAL, t->block, &v, e) == -1)
			goto out;
		if (v < t->block) {
			err_set(e, ERR_INTERNAL, "tsa: counter %s went backwards (%lld)",
				TSA_COUNTER_SERIAL, (long long)v);
			goto out;
		}
		t->next = (uint64_t)v - (uint64_t)t->block + 1;
		t->end = (uint64_t)v;
	}
	*serial = t->next++;
	rc = 0;
out:
	pthread_mutex_unlock(&t->mu);
	return rc;
}

/* ---- tokens ---- */

/* Writes v (0 <= v < 10^n) as n decimal digits. */
static void
tsa_digits(char *out, int v, int n)
{
	while (n-- > 0) {
		out[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* GeneralizedTime "YYYYMMDDHHMMSS[.f]Z" (RFC 3161 2.4.2: no trailing zeros in the fraction). */
static size_t
tsa_gentime(const struct tsa *t, const struct timespec *now, char out[32])
{
	size_t n = 14;
	int ms;

	/* "YYYYMMDDHHMMSSZ": the fraction, if any, goes in before the Z */
	if (der_gentime(now->tv_sec, out) == -1)
		return 0;
	if (t->accuracy_ms > 0 && t->accuracy_ms < 1000 &&
	    (ms = (int)(now->tv_nsec / 1000000)) > 0) {
		out[n++] = '.';
		tsa_digits(out + n, ms, 3);
		n += 3;
		while (out[n - 1] == '0')
			n--;
	}
	out[n++] = 'Z';
	out[n] = '\0';
	return n;
}

int
tsa_tstinfo_build(const struct tsa *t, const struct tsa_req *r, uint64_t serial,
		  const struct timespec *now, struct buf *out, struct err *e)
{
	static const unsigned char v1[] = {DER_TAG_INTEGER, 0x01, 0x01};
	struct buf ser;
	char gt[32];
	size_t gtlen, len;
	int rc = -1;

	buf_init(&ser, 16);
	if ((gtlen = tsa_gentime(t, now, gt)) == 0) {
		err_set(e, ERR_INTERNAL, "tsa: the clock is out of GeneralizedTime's range");
		goto out;
	}
	if (der_put_uint64(&ser, serial) == -1)
		fatalx("tsa: serial does not fit");
	len = sizeof(v1) + t->policy_len + r->imprint_len + ser.len + der_tlv_size(gtlen) +
	      t->accuracy_len + r->nonce_len + t->name_len;
	if (der_put_hdr(out, DER_TAG_SEQUENCE, len) == -1 ||
	    buf_append(out, v1, sizeof(v1)) == -1 ||
	    buf_append(out, t->policy, t->policy_len) == -1 ||
	    buf_append(out, r->imprint, r->imprint_len) == -1 ||
	    buf_append(out, ser.data, ser.len) == -1 ||
	    der_put(out, DER_TAG_GENTIME, gt, gtlen) == -1 ||
	    (t->accuracy_len > 0 && buf_append(out, t->accuracy, t->accuracy_len) == -1) ||
	    /* ordering DEFAULT FALSE: absent */
	    (r->nonce_len > 0 && buf_append(out, r->nonce, r->nonce_len) == -1) ||
	    buf_append(out, t->name, t->name_len) == -1) {
		err_set(e, ERR_INTERNAL, "tsa: TSTInfo too large");
		goto out;
	}
	rc = 0;
out:
	buf_free(&ser);
	return rc;
}

/* One attribute of the signed attributes, for sorting. */
struct tsa_attr {
	const unsigned char *p;
	size_t len;
};

int
tsa_resp_build(const struct tsa *t, struct signer_client *sc, const struct tsa_req *r,
	       uint64_t serial, const struct timespec *now, struct buf *out, struct err *e)
{
	static const unsigned char granted[] = {DER_TAG_SEQUENCE, 0x03, DER_TAG_INTEGER, 0x01,
						0x00};
	static const unsigned char v1[] = {DER_TAG_INTEGER, 0x01, 0x01};
	static const unsigned char v3[] = {DER_TAG_INTEGER, 0x01, 0x03};
	struct buf tst, attrs, mb;
	struct tsa_attr a[3], tmp;
	long m1, m2;
	unsigned char md[EVP_MAX_MD_SIZE], mdattr[96], *sig = NULL;
	unsigned int mdlen = 0;
	size_t mdattr_len, attrs_len, si_len, sd_len, encap_len, ci_len, siglen = 0, i, j;
	size_t signed_len;
	int rc = -1;

	buf_init(&tst, TSA_BUF_MAX);
	buf_init(&attrs, TSA_BUF_MAX);
	if (tsa_tstinfo_build(t, r, serial, now, &tst, e) == -1)
		goto out;
	if (!EVP_Digest(tst.data, tst.len, md, &mdlen, t->md, NULL)) {
		err_ssl(e, ERR_INTERNAL, "tsa: cannot hash the TSTInfo");
		goto out;
	}
	/* messageDigest: SEQUENCE { OID, SET { OCTET STRING } }, at most 2+11+2+2+64 bytes */
	buf_init_fixed(&mb, mdattr, sizeof(mdattr));
	if ((m1 = der_begin(&mb, DER_TAG_SEQUENCE)) == -1 ||
	    buf_append(&mb, tsa_oid_message_digest, sizeof(tsa_oid_message_digest)) == -1 ||
	    (m2 = der_begin(&mb, DER_TAG_SET)) == -1 ||
	    der_put(&mb, DER_TAG_OCTETSTRING, md, mdlen) == -1 || der_end(&mb, m2) == -1 ||
	    der_end(&mb, m1) == -1)
		fatalx("tsa: messageDigest attribute does not fit");
	mdattr_len = mb.len;
	/* SignedAttributes: a DER SET OF, so sorted by encoding */
	a[0].p = t->attr_ct;
	a[0].len = t->attr_ct_len;
	a[1].p = mdattr;
	a[1].len = mdattr_len;
	a[2].p = t->attr_ess;
	a[2].len = t->attr_ess_len;
	for (i = 1; i < 3; i++)
		for (j = i; j > 0 && der_cmp(a[j - 1].p, a[j - 1].len, a[j].p, a[j].len) > 0; j--) {
			tmp = a[j];
			a[j] = a[j - 1];
			a[j - 1] = tmp;
		}
	attrs_len = a[0].len + a[1].len + a[2].len;
	if (der_put_hdr(&attrs, DER_TAG_SET, attrs_len) == -1 ||
	    buf_append(&attrs, a[0].p, a[0].len) == -1 ||
	    buf_append(&attrs, a[1].p, a[1].len) == -1 ||
	    buf_append(&attrs, a[2].p, a[2].len) == -1)
		goto full;
	/* the signer signs the attributes after checking them against the TSTInfo: the
	 * messageDigest, genTime against its own clock, the policy */
	signed_len = attrs.len;
	if (buf_append(&attrs, tst.data, tst.len) == -1)
		goto full;
	if (signer_sign(sc, SIGNER_OP_SIGN_TSA, attrs.data, attrs.len, &sig, &siglen, e) == -1)
		goto out;
	attrs.len = signed_len;

	/* SignerInfo ::= SEQUENCE { version 1, sid, digestAlgorithm, [0] signedAttrs,
	 *   signatureAlgorithm, signature OCTET STRING } */
	si_len = sizeof(v1) + t->sid_len + t->digalg_len + der_tlv_size(attrs_len) + t->sigalg_len +
		 der_tlv_size(siglen);
	/* EncapsulatedContentInfo ::= SEQUENCE { id-ct-TSTInfo, [0] EXPLICIT OCTET STRING } */
	encap_len = sizeof(tsa_oid_tstinfo) + der_tlv_size(der_tlv_size(tst.len));
	/* SignedData ::= SEQUENCE { version 3, digestAlgorithms SET, encapContentInfo,
	 *   [0] IMPLICIT certificates OPTIONAL, signerInfos SET } */
	sd_len = sizeof(v3) + der_tlv_size(t->digalg_len) + der_tlv_size(encap_len) +
		 (r->cert_req ? der_tlv_size(t->cert_len) : 0) + der_tlv_size(der_tlv_size(si_len));
	/* ContentInfo ::= SEQUENCE { id-signedData, [0] EXPLICIT SignedData } */
	ci_len = sizeof(tsa_oid_signed_data) + der_tlv_size(der_tlv_size(sd_len));
	/* TimeStampResp ::= SEQUENCE { PKIStatusInfo, timeStampToken } */
	if (der_put_hdr(out, DER_TAG_SEQUENCE, sizeof(granted) + der_tlv_size(ci_len)) == -1 ||
	    buf_append(out, granted, sizeof(granted)) == -1 ||
	    der_put_hdr(out, DER_TAG_SEQUENCE, ci_len) == -1 ||
	    buf_append(out, tsa_oid_signed_data, sizeof(tsa_oid_signed_data)) == -1 ||
	    der_put_hdr(out, DER_TAG_CTX(0), der_tlv_size(sd_len)) == -1 ||
	    der_put_hdr(out, DER_TAG_SEQUENCE, sd_len) == -1 ||
	    buf_append(out, v3, sizeof(v3)) == -1 ||
	    der_put(out, DER_TAG_SET, t->digalg, t->digalg_len) == -1 ||
	    der_put_hdr(out, DER_TAG_SEQUENCE, encap_len) == -1 ||
	    buf_append(out, tsa_oid_tstinfo, sizeof(tsa_oid_tstinfo)) == -1 ||
	    der_put_hdr(out, DER_TAG_CTX(0), der_tlv_size(tst.len)) == -1 ||
	    der_put(out, DER_TAG_OCTETSTRING, tst.data, tst.len) == -1 ||
	    (r->cert_req && der_put(out, DER_TAG_CTX(0), t->cert, t->cert_len) == -1) ||
	    der_put_hdr(out, DER_TAG_SET, der_tlv_size(si_len)) == -1 ||
	    der_put_hdr(out, DER_TAG_SEQUENCE, si_len) == -1 ||
	    buf_append(out, v1, sizeof(v1)) == -1 || buf_append(out, t->sid, t->sid_len) == -1 ||
	    buf_append(out, t->digalg, t->digalg_len) == -1 ||
	    der_put(out, DER_TAG_CTX(0), attrs.data + (attrs.len - attrs_len), attrs_len) == -1 ||
	    buf_append(out, t->sigalg, t->sigalg_len) == -1 ||
	    der_put(out, DER_TAG_OCTETSTRING, sig, siglen) == -1)
		goto full;
	rc = 0;
	goto out;
full:
	err_set(e, ERR_INTERNAL, "tsa: time-stamp token too large");
out:
	free(sig);
	buf_free(&tst);
	buf_free(&attrs);
	return rc;
}

/*
 * TimeStampResp ::= SEQUENCE { status PKIStatusInfo { status rejection (2),
 *   statusString SEQUENCE OF UTF8String, failInfo BIT STRING } }
 */
int
tsa_resp_reject(int fail, const char *text, struct buf *out)
{
	static const unsigned char rejection[] = {DER_TAG_INTEGER, 0x01, 0x02};
	unsigned char bits[6];
	size_t tlen = text != NULL ? strlen(text) : 0, nbits = 0, str_len, si_len;

	if (tlen > 1024)
		tlen = 1024;
	if (fail >= 0 && fail < 32) {
		/* named bits: DER drops trailing zero bits, so the last octet holds ours */
		nbits = (size_t)fail / 8 + 1;
		memset(bits, 0, sizeof(bits));
		bits[0] = (unsigned char)(7 - fail % 8); /* unused bits */
		bits[nbits] = (unsigned char)(0x80 >> (fail % 8));
	}
	str_len = tlen > 0 ? der_tlv_size(der_tlv_size(tlen)) : 0;
	si_len = sizeof(rejection) + str_len + (nbits > 0 ? der_tlv_size(nbits + 1) : 0);
	if (der_put_hdr(out, DER_TAG_SEQUENCE, der_tlv_size(si_len)) == -1 ||
	    der_put_hdr(out, DER_TAG_SEQUENCE, si_len) == -1 ||
	    buf_append(out, rejection, sizeof(rejection)) == -1 ||
	    (tlen > 0 && (der_put_hdr(out, DER_TAG_SEQUENCE, der_tlv_size(tlen)) == -1 ||
			  der_put(out, DER_TAG_UTF8STRING, text, tlen) == -1)) ||
	    (nbits > 0 && der_put(out, DER_TAG_BITSTRING, bits, nbits + 1) == -1))
		return -1;
	return 0;
}

/* ---- HTTP ---- */

static _Atomic(struct tsa *) tsa_global;
static pthread_mutex_t tsa_global_mu = PTHREAD_MUTEX_INITIALIZER;

/* The process's TSA for ca, built on first use; NULL with e set when it cannot be built. */
static struct tsa *
tsa_global_get(struct ca *ca, struct err *e)
{
	struct tsa *t;

	if ((t = atomic_load_explicit(&tsa_global, memory_order_acquire)) != NULL)
		return t;
	pthread_mutex_lock(&tsa_global_mu);
	if ((t = atomic_load_explicit(&tsa_global, memory_order_relaxed)) == NULL &&
	    tsa_new(ca, &t, e) == 0) {
		metrics_help("shomei_tsa_responses_total", "counter",
			     "time-stamp responses by status and failInfo");
		if (strcmp(conf_get(&ca->conf, "tsa.policy", TSA_POLICY_DEFAULT),
			   TSA_POLICY_DEFAULT) == 0)
			log_warn("tsa: tsa.policy is the example OID %s; set your own",
				 TSA_POLICY_DEFAULT);
		atomic_store_explicit(&tsa_global, t, memory_order_release);
	}
	pthread_mutex_unlock(&tsa_global_mu);
	return t;
}

/* Content-Type is application/timestamp-query (parameters ignored). */
static int
tsa_ctype_ok(const char *ct)
{
	size_t n = strlen(TSA_CTYPE_QUERY);

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, TSA_CTYPE_QUERY, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

int
tsa_http_post(struct http_req *r)
{
	struct ca *ca = r->app;
	struct tsa *t = NULL;
	struct tsa_req req;
	struct timespec now;
	struct buf out;
	struct err e;
	uint64_t serial = 0;
	char labels[96];
	int fail = -1, rc = -1;

	err_clear(&e);
	buf_init(&out, TSA_BUF_MAX);
	if (!tsa_ctype_ok(http_header(r, "Content-Type"))) {
		tsa_refuse(&fail, TSA_FAIL_BAD_REQUEST, &e,
			   "RFC 3161 3.4: Content-Type must be " TSA_CTYPE_QUERY);
		goto reject;
	}
	if (tsa_req_parse(r->body, r->bodylen, &req, &fail, &e) == -1)
		goto reject;
	if ((t = tsa_global_get(ca, &e)) == NULL) {
		log_warn("%s", e.msg);
		fail = TSA_FAIL_SYSTEM_FAILURE;
		goto reject;
	}
	if (tsa_req_check(t, &req, &fail, &e) == -1)
		goto reject;
	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec < t->not_before || now.tv_sec > t->not_after) {
		err_set(&e, ERR_INTERNAL,
			"tsa: RFC 3161 2.3: the TSA certificate is not valid now");
		log_warn("%s", e.msg);
		fail = TSA_FAIL_SYSTEM_FAILURE;
		goto reject;
	}
	if (tsa_serial_next(t, NULL, &serial, &e) == -1 ||
	    tsa_resp_build(t, ca->signer, &req, serial, &now, &out, &e) == -1) {
		log_warn("%s", e.msg);
		fail = TSA_FAIL_SYSTEM_FAILURE;
		goto reject;
	}
	metrics_count("shomei_tsa_responses_total", "status=\"granted\"", 1);
	rc = http_reply(r, 200, TSA_CTYPE_REPLY, out.data, out.len);
	goto out;
reject:
	buf_reset(&out);
	if (tsa_resp_reject(fail, fail == TSA_FAIL_SYSTEM_FAILURE ? "tsa: system failure" : e.msg,
			    &out) == -1)
		goto out;
	snprintf(labels, sizeof(labels), "status=\"rejection\",failinfo=\"%s\"",
		 tsa_fail_name(fail));
	metrics_count("shomei_tsa_responses_total", labels, 1);
	rc = http_reply(r, 200, TSA_CTYPE_REPLY, out.data, out.len);
out:
	buf_free(&out);
	return rc;
}

/* RFC 3161 3.4: POST /tsa, on both listeners. */
const struct http_route tsa_http_routes[] = {
    {"POST", "/tsa", tsa_http_post, TSA_HTTP_BODY_MAX, HTTP_KIND_BINARY, "tsa", 5, 0},
    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
};
