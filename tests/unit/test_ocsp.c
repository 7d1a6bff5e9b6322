/*
 * ocsp unit tests: the request parser on requests made by OpenSSL and on hand-made hostile
 * DER (every truncation, BER lengths, bad versions, extensions, serials), base64, the DER
 * response builder checked by OpenSSL's parser and verifier, and the responder over a real
 * CA with a forked signer: good / revoked / unknown / unauthorized, SHA-1 and SHA-256
 * CertIDs, several CertIDs, nonce echo, the cache (hits, revocation invalidation, no caching
 * of unknown) and the error responses.
 */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ocsp/ocsp.h"
#include "testutil.h"
#include "tu_x509.h"

/* ---- a tiny DER writer of the tests' own (independent of the module's) ---- */

static void
tu_tlv(struct buf *out, unsigned char tag, const void *p, size_t n)
{
	unsigned char h[4];
	size_t hl = 0;

	h[hl++] = tag;
	if (n < 0x80) {
		h[hl++] = (unsigned char)n;
	} else if (n < 0x100) {
		h[hl++] = 0x81;
		h[hl++] = (unsigned char)n;
	} else {
		h[hl++] = 0x82;
		h[hl++] = (unsigned char)(n >> 8);
		h[hl++] = (unsigned char)n;
	}
	assert_int_equal(buf_append(out, h, hl), 0);
	if (n > 0)
		assert_int_equal(buf_append(out, p, n), 0);
}

/* Wraps b's contents in tag (in place). */
static void
tu_wrap(struct buf *b, unsigned char tag)
{
	struct buf t;

	buf_init(&t, 1 << 20);
	tu_tlv(&t, tag, b->data, b->len);
	buf_reset(b);
	assert_int_equal(buf_append(b, t.data, t.len), 0);
	buf_free(&t);
}

static const unsigned char sha1_alg[] = {0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
					 0x03, 0x02, 0x1a, 0x05, 0x00};

/* CertID with SHA-1, hashes filled with fill, the given serial contents. */
static void
tu_certid(struct buf *out, unsigned char fill, const unsigned char *serial, size_t slen)
{
	struct buf c;
	unsigned char h[20];

	buf_init(&c, 4096);
	memset(h, fill, sizeof(h));
	assert_int_equal(buf_append(&c, sha1_alg, sizeof(sha1_alg)), 0);
	tu_tlv(&c, 0x04, h, 20);
	tu_tlv(&c, 0x04, h, 20);
	tu_tlv(&c, 0x02, serial, slen);
	tu_tlv(out, 0x30, c.data, c.len);
	buf_free(&c);
}

/* OCSPRequest { TBSRequest { [pre] requestList of n CertIDs [post] } }. */
static void
tu_request(struct buf *out, const void *pre, size_t prelen, size_t n, const void *post,
	   size_t postlen)
{
	struct buf tbs, list, rq;
	unsigned char serial[] = {0x01, 0x02, 0x03};
	size_t i;

	buf_init(&tbs, 1 << 20);
	buf_init(&list, 1 << 20);
	buf_init(&rq, 4096);
	for (i = 0; i < n; i++) {
		buf_reset(&rq);
		tu_certid(&rq, 0x11, serial, sizeof(serial));
		tu_wrap(&rq, 0x30);
		assert_int_equal(buf_append(&list, rq.data, rq.len), 0);
	}
	if (prelen > 0)
		assert_int_equal(buf_append(&tbs, pre, prelen), 0);
	tu_tlv(&tbs, 0x30, list.data, list.len);
	if (postlen > 0)
		assert_int_equal(buf_append(&tbs, post, postlen), 0);
	tu_wrap(&tbs, 0x30);
	buf_reset(out);
	tu_tlv(out, 0x30, tbs.data, tbs.len);
	buf_free(&tbs);
	buf_free(&list);
	buf_free(&rq);
}

static int
tu_parse(const struct buf *b, struct ocsp_req *req)
{
	struct err e;

	err_clear(&e);
	return ocsp_req_parse(b->data, b->len, req, &e);
}

#define assert_refused(b, needle)                                                                  \
	do {                                                                                       \
		struct ocsp_req r_;                                                                \
		struct err e_;                                                                     \
		err_clear(&e_);                                                                    \
		assert_int_equal(ocsp_req_parse((b)->data, (b)->len, &r_, &e_), -1);               \
		assert_int_equal(e_.code, ERR_REFUSED);                                            \
		if (strstr(e_.msg, (needle)) == NULL)                                              \
			fail_msg("message \"%s\" lacks \"%s\"", e_.msg, (needle));                 \
	} while (0)

/* ---- parser ---- */

static void
test_parse_minimal(void **state)
{
	struct buf b;
	struct ocsp_req req;

	(void)state;
	buf_init(&b, 1 << 20);
	tu_request(&b, NULL, 0, 1, NULL, 0);
	assert_int_equal(tu_parse(&b, &req), 0);
	assert_int_equal(req.n, 1);
	assert_int_equal(req.ids[0].hash, OCSP_HASH_SHA1);
	assert_int_equal(req.ids[0].serial_len, 3);
	assert_int_equal(req.ids[0].serial[2], 0x03);
	assert_int_equal(req.ids[0].name_hash_len, 20);
	assert_null(req.nonce);
	assert_int_equal(req.signed_req, 0);
	/* the CertID is echoed: it must point at the whole TLV in the input */
	assert_int_equal(req.ids[0].der[0], 0x30);
	assert_true(req.ids[0].der > b.data &&
		    req.ids[0].der + req.ids[0].derlen <= b.data + b.len);

	/* v1 written out, a requestorName, a signature: all accepted */
	{
		unsigned char v1[] = {0xa0, 0x03, 0x02, 0x01, 0x00};
		unsigned char name[] = {0xa1, 0x06, 0x82, 0x04, 'a', '.', 'e', 'x'};
		unsigned char pre[sizeof(v1) + sizeof(name)];

		memcpy(pre, v1, sizeof(v1));
		memcpy(pre + sizeof(v1), name, sizeof(name));
		tu_request(&b, pre, sizeof(pre), 2, NULL, 0);
		assert_int_equal(tu_parse(&b, &req), 0);
		assert_int_equal(req.n, 2);
		/* optionalSignature [0] after the TBSRequest */
		{
			struct buf t;
			size_t hl = b.data[1] < 0x80 ? 2 : 2 + (b.data[1] & 0x7f);

			buf_init(&t, 1 << 20);
			assert_int_equal(buf_append(&t, b.data + hl, b.len - hl), 0);
			assert_int_equal(buf_append(&t, "\xa0\x02\x30\x00", 4), 0);
			tu_wrap(&t, 0x30);
			assert_int_equal(tu_parse(&t, &req), 0);
			assert_int_equal(req.signed_req, 1);
			assert_int_equal(req.n, 2);
			buf_free(&t);
		}
	}
	buf_free(&b);
}

static void
test_parse_openssl(void **state)
{
	OCSP_REQUEST *rq = OCSP_REQUEST_new();
	OCSP_CERTID *id1, *id2;
	ASN1_INTEGER *sn = ASN1_INTEGER_new();
	X509_NAME *name = X509_NAME_new();
	ASN1_BIT_STRING *key = ASN1_BIT_STRING_new();
	unsigned char *der = NULL, k[65];
	struct ocsp_req req;
	struct err e;
	int len;

	(void)state;
	memset(k, 0x04, sizeof(k));
	assert_int_equal(ASN1_BIT_STRING_set(key, k, sizeof(k)), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)"x", -1, -1, 0),
			 1);
	assert_int_equal(ASN1_INTEGER_set_uint64(sn, 0xfedcba9876543210ULL), 1);
	id1 = OCSP_cert_id_new(EVP_sha1(), name, key, sn);
	id2 = OCSP_cert_id_new(EVP_sha256(), name, key, sn);
	assert_non_null(id1);
	assert_non_null(id2);
	assert_non_null(OCSP_request_add0_id(rq, id1));
	assert_non_null(OCSP_request_add0_id(rq, id2));
	assert_int_equal(OCSP_request_add1_nonce(rq, NULL, -1), 1);
	len = i2d_OCSP_REQUEST(rq, &der);
	assert_true(len > 0);
	err_clear(&e);
	assert_int_equal(ocsp_req_parse(der, (size_t)len, &req, &e), 0);
	assert_int_equal(req.n, 2);
	assert_int_equal(req.ids[0].hash, OCSP_HASH_SHA1);
	assert_int_equal(req.ids[1].hash, OCSP_HASH_SHA256);
	assert_int_equal(req.ids[1].name_hash_len, 32);
	/* 0xfe... needs a leading zero octet to stay positive */
	assert_int_equal(req.ids[0].serial_len, 9);
	assert_int_equal(req.ids[0].serial[0], 0x00);
	assert_non_null(req.nonce);
	assert_int_equal(req.nonce[0], 0x30);
	OPENSSL_free(der);
	OCSP_REQUEST_free(rq);
	ASN1_INTEGER_free(sn);
	X509_NAME_free(name);
	ASN1_BIT_STRING_free(key);
}

static void
test_parse_truncated_and_garbage(void **state)
{
	struct buf b, t;
	struct ocsp_req req;
	struct err e;
	size_t i;
	unsigned char junk[512];

	(void)state;
	buf_init(&b, 1 << 20);
	buf_init(&t, 1 << 20);
	tu_request(&b, NULL, 0, 3, NULL, 0);
	/* every proper prefix is refused */
	for (i = 0; i < b.len; i++) {
		err_clear(&e);
		assert_int_equal(ocsp_req_parse(b.data, i, &req, &e), -1);
		assert_int_equal(e.code, ERR_REFUSED);
	}
	/* a trailing byte */
	assert_int_equal(buf_append(&t, b.data, b.len), 0);
	assert_int_equal(buf_putc(&t, 0), 0);
	assert_refused(&t, "not one DER SEQUENCE");
	/* every single-byte corruption either parses or is refused, never crashes */
	for (i = 0; i < b.len; i++) {
		buf_reset(&t);
		assert_int_equal(buf_append(&t, b.data, b.len), 0);
		t.data[i] ^= 0xff;
		err_clear(&e);
		(void)ocsp_req_parse(t.data, t.len, &req, &e);
	}
	/* garbage */
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	err_clear(&e);
	assert_int_equal(ocsp_req_parse(junk, sizeof(junk), &req, &e), -1);
	assert_int_equal(ocsp_req_parse((const unsigned char *)"", 0, &req, &e), -1);
	buf_free(&b);
	buf_free(&t);
}

static void
test_parse_ber_lengths(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	/* indefinite length */
	tu_request(&b, NULL, 0, 1, NULL, 0);
	b.data[1] = 0x80;
	assert_refused(&b, "not one DER SEQUENCE");
	/* non-minimal long form for a short length */
	buf_reset(&b);
	assert_int_equal(buf_append(&b, "\x30\x81\x05\x30\x03\x30\x01\x00", 8), 0);
	assert_refused(&b, "not one DER SEQUENCE");
	/* a leading zero length octet */
	buf_reset(&b);
	assert_int_equal(buf_append(&b, "\x30\x82\x00\x80", 4), 0);
	assert_refused(&b, "not one DER SEQUENCE");
	/* a length beyond the input */
	buf_reset(&b);
	assert_int_equal(buf_append(&b, "\x30\x84\x7f\xff\xff\xff\x00", 7), 0);
	assert_refused(&b, "not one DER SEQUENCE");
	/* high tag number form */
	buf_reset(&b);
	assert_int_equal(buf_append(&b, "\x1f\x81\x01\x00", 4), 0);
	assert_refused(&b, "not one DER SEQUENCE");
	buf_free(&b);
}

static void
test_parse_structure(void **state)
{
	struct buf b;
	unsigned char v2[] = {0xa0, 0x03, 0x02, 0x01, 0x01};
	unsigned char bad_after[] = {0x04, 0x00};

	(void)state;
	buf_init(&b, 1 << 20);
	tu_request(&b, v2, sizeof(v2), 1, NULL, 0);
	assert_refused(&b, "version must be v1");
	tu_request(&b, NULL, 0, 0, NULL, 0);
	assert_refused(&b, "requestList is empty");
	tu_request(&b, NULL, 0, OCSP_MAX_CERTIDS, NULL, 0);
	{
		struct ocsp_req req;

		assert_int_equal(tu_parse(&b, &req), 0);
		assert_int_equal(req.n, OCSP_MAX_CERTIDS);
	}
	tu_request(&b, NULL, 0, OCSP_MAX_CERTIDS + 1, NULL, 0);
	assert_refused(&b, "more than");
	tu_request(&b, NULL, 0, 1, bad_after, sizeof(bad_after));
	assert_refused(&b, "TBSRequest must be");
	buf_free(&b);
}

/* A request with one CertID (serial given) and requestExtensions holding exts. */
static void
tu_request_ext(struct buf *out, const unsigned char *serial, size_t slen, const struct buf *exts)
{
	struct buf tbs, rq;

	buf_init(&tbs, 1 << 20);
	buf_init(&rq, 4096);
	tu_certid(&rq, 0x22, serial, slen);
	tu_wrap(&rq, 0x30); /* Request */
	tu_wrap(&rq, 0x30); /* requestList */
	assert_int_equal(buf_append(&tbs, rq.data, rq.len), 0);
	if (exts != NULL) {
		struct buf x;

		buf_init(&x, 1 << 20);
		assert_int_equal(buf_append(&x, exts->data, exts->len), 0);
		tu_wrap(&x, 0x30);
		tu_wrap(&x, 0xa2);
		assert_int_equal(buf_append(&tbs, x.data, x.len), 0);
		buf_free(&x);
	}
	tu_wrap(&tbs, 0x30);
	buf_reset(out);
	tu_tlv(out, 0x30, tbs.data, tbs.len);
	buf_free(&tbs);
	buf_free(&rq);
}

/* Extension { oid, [critical], OCTET STRING value } appended to out. */
static void
tu_ext(struct buf *out, const unsigned char *oid, size_t oidlen, int critical,
       const unsigned char *v, size_t vlen)
{
	struct buf x;

	buf_init(&x, 1 << 20);
	tu_tlv(&x, 0x06, oid, oidlen);
	if (critical)
		tu_tlv(&x, 0x01, "\xff", 1);
	tu_tlv(&x, 0x04, v, vlen);
	tu_tlv(out, 0x30, x.data, x.len);
	buf_free(&x);
}

static const unsigned char nonce_oid[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02};
static const unsigned char other_oid[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x07};

static void
test_parse_extensions(void **state)
{
	struct buf b, x;
	struct ocsp_req req;
	unsigned char sn[] = {0x42}, v[200];

	(void)state;
	memset(v, 0x5a, sizeof(v));
	buf_init(&b, 1 << 20);
	buf_init(&x, 1 << 20);
	/* nonce, and an unknown non-critical extension that is ignored */
	tu_ext(&x, other_oid, sizeof(other_oid), 0, v, 3);
	tu_ext(&x, nonce_oid, sizeof(nonce_oid), 0, v, 18);
	tu_request_ext(&b, sn, 1, &x);
	assert_int_equal(tu_parse(&b, &req), 0);
	assert_non_null(req.nonce);
	assert_int_equal(req.noncelen, 2 + 11 + 20);
	/* the same unknown extension, critical: refused */
	buf_reset(&x);
	tu_ext(&x, other_oid, sizeof(other_oid), 1, v, 3);
	tu_request_ext(&b, sn, 1, &x);
	assert_refused(&b, "RFC 6960 4.4");
	/* nonce twice */
	buf_reset(&x);
	tu_ext(&x, nonce_oid, sizeof(nonce_oid), 0, v, 18);
	tu_ext(&x, nonce_oid, sizeof(nonce_oid), 0, v, 18);
	tu_request_ext(&b, sn, 1, &x);
	assert_refused(&b, "nonce extension repeats");
	/* nonce too long, and empty */
	buf_reset(&x);
	tu_ext(&x, nonce_oid, sizeof(nonce_oid), 0, v, OCSP_NONCE_MAX + 1);
	tu_request_ext(&b, sn, 1, &x);
	assert_refused(&b, "RFC 8954");
	buf_reset(&x);
	tu_ext(&x, nonce_oid, sizeof(nonce_oid), 0, v, 0);
	tu_request_ext(&b, sn, 1, &x);
	assert_refused(&b, "RFC 8954");
	/* empty Extensions */
	buf_reset(&x);
	tu_request_ext(&b, sn, 1, &x);
	assert_refused(&b, "non-empty SEQUENCE");
	/* extnValue not an OCTET STRING */
	buf_reset(&x);
	{
		struct buf y;

		buf_init(&y, 4096);
		tu_tlv(&y, 0x06, nonce_oid, sizeof(nonce_oid));
		tu_tlv(&y, 0x02, "\x01", 1);
		tu_tlv(&x, 0x30, y.data, y.len);
		buf_free(&y);
	}
	tu_request_ext(&b, sn, 1, &x);
	assert_refused(&b, "extnValue OCTET STRING");
	buf_free(&b);
	buf_free(&x);
}

static void
test_parse_certid(void **state)
{
	struct buf b, c;
	struct ocsp_req req;
	unsigned char h[32];

	(void)state;
	buf_init(&b, 1 << 20);
	buf_init(&c, 1 << 20);
	/* non-minimal serials */
	tu_request_ext(&b, (const unsigned char *)"\x00\x01", 2, NULL);
	assert_refused(&b, "X.690 8.3.2");
	tu_request_ext(&b, (const unsigned char *)"\xff\x80", 2, NULL);
	assert_refused(&b, "X.690 8.3.2");
	tu_request_ext(&b, (const unsigned char *)"", 0, NULL);
	assert_refused(&b, "X.690 8.3.2");
	/* a positive serial needing a zero octet, and a negative one: parsed */
	tu_request_ext(&b, (const unsigned char *)"\x00\x80", 2, NULL);
	assert_int_equal(tu_parse(&b, &req), 0);
	tu_request_ext(&b, (const unsigned char *)"\x80", 1, NULL);
	assert_int_equal(tu_parse(&b, &req), 0);

	/* SHA-256 OID with 20-octet hashes: refused; unknown OID: parsed, hash unknown */
	memset(h, 1, sizeof(h));
	{
		static const unsigned char sha256_alg[] = {0x30, 0x0d, 0x06, 0x09, 0x60,
							   0x86, 0x48, 0x01, 0x65, 0x03,
							   0x04, 0x02, 0x01, 0x05, 0x00};
		static const unsigned char md5_alg[] = {0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48,
							0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00};
		static const unsigned char sha1_noparams[] = {0x30, 0x07, 0x06, 0x05, 0x2b,
							      0x0e, 0x03, 0x02, 0x1a};
		static const unsigned char sha1_badparams[] = {0x30, 0x0a, 0x06, 0x05, 0x2b, 0x0e,
							       0x03, 0x02, 0x1a, 0x02, 0x01, 0x00};
		const unsigned char *algs[] = {sha256_alg, md5_alg, sha1_noparams, sha1_badparams};
		size_t alglen[] = {sizeof(sha256_alg), sizeof(md5_alg), sizeof(sha1_noparams),
				   sizeof(sha1_badparams)};
		size_t hl[] = {20, 16, 20, 20};
		int expect[] = {-2, OCSP_HASH_UNKNOWN, OCSP_HASH_SHA1, OCSP_HASH_UNKNOWN};
		size_t i;

		for (i = 0; i < 4; i++) {
			buf_reset(&c);
			assert_int_equal(buf_append(&c, algs[i], alglen[i]), 0);
			tu_tlv(&c, 0x04, h, hl[i]);
			tu_tlv(&c, 0x04, h, hl[i]);
			tu_tlv(&c, 0x02, "\x05", 1);
			tu_wrap(&c, 0x30); /* CertID */
			tu_wrap(&c, 0x30); /* Request */
			tu_wrap(&c, 0x30); /* requestList */
			tu_wrap(&c, 0x30); /* TBSRequest */
			tu_wrap(&c, 0x30); /* OCSPRequest */
			if (expect[i] == -2) {
				assert_refused(&c, "hash lengths");
			} else {
				assert_int_equal(tu_parse(&c, &req), 0);
				assert_int_equal(req.ids[0].hash, expect[i]);
			}
		}
	}
	/* a CertID with a missing field */
	buf_reset(&c);
	assert_int_equal(buf_append(&c, sha1_alg, sizeof(sha1_alg)), 0);
	tu_tlv(&c, 0x04, h, 20);
	tu_tlv(&c, 0x02, "\x05", 1);
	tu_wrap(&c, 0x30);
	tu_wrap(&c, 0x30);
	tu_wrap(&c, 0x30);
	tu_wrap(&c, 0x30);
	tu_wrap(&c, 0x30);
	assert_refused(&c, "CertID must be");
	buf_free(&b);
	buf_free(&c);
}

static void
test_b64(void **state)
{
	unsigned char out[64];
	size_t n;

	(void)state;
	assert_int_equal(ocsp_b64_decode("TWFu", 4, out, sizeof(out), &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "Man", 3);
	assert_int_equal(ocsp_b64_decode("TWE=", 4, out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ocsp_b64_decode("TWE", 3, out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ocsp_b64_decode("TQ==", 4, out, sizeof(out), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ocsp_b64_decode("TQ", 2, out, sizeof(out), &n), 0);
	/* both alphabets: 0xfb 0xff = "+/8" / "-_8" */
	assert_int_equal(ocsp_b64_decode("-_8=", 4, out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 0xfb);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(ocsp_b64_decode("+/8", 3, out, sizeof(out), &n), 0);
	assert_int_equal(out[1], 0xff);
	/* bad: characters, padding in the middle or too much, impossible length, non-zero
	 * trailing bits, too long for the output */
	assert_int_equal(ocsp_b64_decode("TW!u", 4, out, sizeof(out), &n), -1);
	assert_int_equal(ocsp_b64_decode("TW=u", 4, out, sizeof(out), &n), -1);
	assert_int_equal(ocsp_b64_decode("TQ===", 5, out, sizeof(out), &n), -1);
	assert_int_equal(ocsp_b64_decode("TWE==", 5, out, sizeof(out), &n), -1);
	assert_int_equal(ocsp_b64_decode("T", 1, out, sizeof(out), &n), -1);
	assert_int_equal(ocsp_b64_decode("TR==", 4, out, sizeof(out), &n), -1);
	assert_int_equal(ocsp_b64_decode("TWFuTWFu", 8, out, 5, &n), -1);
	assert_int_equal(ocsp_b64_decode("TW u", 4, out, sizeof(out), &n), -1);
	assert_int_equal(ocsp_b64_decode("", 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
}

/* ---- building, checked by OpenSSL ---- */

static void
test_error_response(void **state)
{
	enum ocsp_resp_status st[] = {OCSP_RESP_MALFORMED, OCSP_RESP_INTERNAL, OCSP_RESP_TRYLATER,
				      OCSP_RESP_UNAUTHORIZED};
	unsigned char der[OCSP_ERROR_RESP_LEN];
	const unsigned char *p;
	OCSP_RESPONSE *r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		ocsp_resp_error(der, st[i]);
		p = der;
		r = d2i_OCSP_RESPONSE(NULL, &p, sizeof(der));
		assert_non_null(r);
		assert_int_equal(OCSP_response_status(r), (int)st[i]);
		OCSP_RESPONSE_free(r);
	}
	assert_string_equal(ocsp_resp_status_name(OCSP_RESP_UNAUTHORIZED), "unauthorized");
	assert_string_equal(ocsp_cert_status_name(OCSP_CERT_REVOKED), "revoked");
}

/* A self-signed P-256 certificate with the given CN (its key returned). */
static X509 *
tu_selfsigned(const char *cn, EVP_PKEY **key)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	assert_non_null(k);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	X509_NAME_free(n);
	*key = k;
	return x;
}

static void
test_build_verify(void **state)
{
	EVP_PKEY *k;
	X509 *x = tu_selfsigned("builder", &k);
	OCSP_CERTID *id[3];
	ASN1_INTEGER *sn;
	struct ocsp_single s[3];
	unsigned char *cid[3], keyhash[20], *sig = NULL, *cert = NULL, *algid = NULL;
	unsigned char nonce_ext[] = {0x30, 0x0f, 0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05,
				     0x07, 0x30, 0x01, 0x02, 0x04, 0x02, 0xbe, 0xef};
	int cidlen[3], certlen, algidlen, status, reason, i;
	unsigned kl;
	size_t siglen = 0;
	struct buf rd, resp;
	struct err e;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	const unsigned char *p;
	OCSP_RESPONSE * or ;
	OCSP_BASICRESP *bs;
	STACK_OF(X509) *certs = sk_X509_new_null();
	X509_STORE *store = X509_STORE_new();
	ASN1_GENERALIZEDTIME *rev, *thisu, *nextu;
	time_t now = time(NULL);

	(void)state;
	err_clear(&e);
	buf_init(&rd, 1 << 20);
	buf_init(&resp, 1 << 20);
	for (i = 0; i < 3; i++) {
		sn = ASN1_INTEGER_new();
		ASN1_INTEGER_set(sn, 100 + i);
		id[i] = OCSP_cert_id_new(i == 1 ? EVP_sha256() : EVP_sha1(),
					 X509_get_subject_name(x), X509_get0_pubkey_bitstr(x), sn);
		ASN1_INTEGER_free(sn);
		cid[i] = NULL;
		cidlen[i] = i2d_OCSP_CERTID(id[i], &cid[i]);
		assert_true(cidlen[i] > 0);
		memset(&s[i], 0, sizeof(s[i]));
		s[i].certid = cid[i];
		s[i].certidlen = (size_t)cidlen[i];
		s[i].this_update = now;
		s[i].next_update = now + 3600;
	}
	s[0].status = OCSP_CERT_GOOD;
	s[1].status = OCSP_CERT_REVOKED;
	s[1].revoked_at = now - 60;
	s[1].reason = 1;
	s[2].status = OCSP_CERT_UNKNOWN;
	assert_int_equal(X509_pubkey_digest(x, EVP_sha1(), keyhash, &kl), 1);
	assert_int_equal(
	    ocsp_respdata_build(&rd, keyhash, now, s, 3, nonce_ext, sizeof(nonce_ext), &e), 0);
	assert_int_equal(EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(mctx, NULL, &siglen, rd.data, rd.len), 1);
	sig = malloc(siglen);
	assert_int_equal(EVP_DigestSign(mctx, sig, &siglen, rd.data, rd.len), 1);
	X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL);
	algidlen = i2d_X509_ALGOR(alg, &algid);
	certlen = i2d_X509(x, &cert);
	assert_int_equal(ocsp_resp_assemble(&resp, rd.data, rd.len, algid, (size_t)algidlen, sig,
					    siglen, cert, (size_t)certlen, &e),
			 0);
	p = resp.data;
	or = d2i_OCSP_RESPONSE(NULL, &p, (long)resp.len);
	assert_non_null(or);
	assert_ptr_equal(p, resp.data + resp.len);
	assert_int_equal(OCSP_response_status(or), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	bs = OCSP_response_get1_basic(or);
	assert_non_null(bs);
	/* the signature verifies with the certificate carried in the response */
	X509_STORE_add_cert(store, x);
	assert_int_equal(OCSP_basic_verify(bs, certs, store, OCSP_TRUSTOTHER), 1);
	assert_int_equal(OCSP_resp_find_status(bs, id[0], &status, &reason, &rev, &thisu, &nextu),
			 1);
	assert_int_equal(status, V_OCSP_CERTSTATUS_GOOD);
	assert_non_null(nextu);
	assert_int_equal(OCSP_resp_find_status(bs, id[1], &status, &reason, &rev, &thisu, &nextu),
			 1);
	assert_int_equal(status, V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(reason, 1);
	assert_non_null(rev);
	assert_int_equal(OCSP_resp_find_status(bs, id[2], &status, &reason, &rev, &thisu, &nextu),
			 1);
	assert_int_equal(status, V_OCSP_CERTSTATUS_UNKNOWN);
	assert_int_equal(OCSP_BASICRESP_get_ext_count(bs), 1);
	/* unspecified (0) is not written (RFC 5280 5.3.1) */
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(or);
	buf_reset(&rd);
	buf_reset(&resp);
	s[1].reason = 0;
	s[0].next_update = 0;
	assert_int_equal(ocsp_respdata_build(&rd, keyhash, now, s, 2, NULL, 0, &e), 0);
	assert_int_equal(ocsp_resp_assemble(&resp, rd.data, rd.len, algid, (size_t)algidlen, sig,
					    siglen, NULL, 0, &e),
			 0);
	p = resp.data;
	or = d2i_OCSP_RESPONSE(NULL, &p, (long)resp.len);
	assert_non_null(or);
	bs = OCSP_response_get1_basic(or);
	assert_non_null(bs);
	assert_int_equal(OCSP_resp_find_status(bs, id[1], &status, &reason, &rev, &thisu, &nextu),
			 1);
	assert_int_equal(reason, -1);
	assert_int_equal(OCSP_resp_find_status(bs, id[0], &status, &reason, &rev, &thisu, &nextu),
			 1);
	assert_null(nextu);
	assert_int_equal(OCSP_BASICRESP_get_ext_count(bs), 0);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(or);

	for (i = 0; i < 3; i++) {
		OPENSSL_free(cid[i]);
		OCSP_CERTID_free(id[i]);
	}
	free(sig);
	OPENSSL_free(cert);
	OPENSSL_free(algid);
	X509_ALGOR_free(alg);
	EVP_MD_CTX_free(mctx);
	sk_X509_free(certs);
	X509_STORE_free(store);
	buf_free(&rd);
	buf_free(&resp);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* ---- the responder over a real CA ---- */

struct fx {
	char *dir;
	struct ca *ca;
	struct store *st;
	X509 *leaf[3];
	X509 *foreign; /* another CA's certificate (self-signed) */
	EVP_PKEY *foreign_key;
};

static struct fx fx;

static X509 *
tu_issue(const char *cn)
{
	struct ca_issue_req req;
	struct ca_issued out;
	unsigned char *der;
	const unsigned char *p;
	struct err e;
	X509 *x;
	int len;

	der = tu_csr(cn, &len);
	memset(&req, 0, sizeof(req));
	req.profile = "server";
	req.csr = der;
	req.csrlen = (size_t)len;
	req.actor = "test";
	err_clear(&e);
	if (ca_issue(fx.ca, fx.st, &req, &out, &e) == -1)
		fail_msg("issue: %s", e.msg);
	p = out.der;
	x = d2i_X509(NULL, &p, (long)out.derlen);
	assert_non_null(x);
	ca_issued_clear(&out);
	OPENSSL_free(der);
	return x;
}

static int
setup_ca(void **state)
{
	struct ca_init_opts io;
	struct err e;
	char *conf;
	FILE *f;
	int i;

	(void)state;
	log_init("test_ocsp", 0);
	memset(&fx, 0, sizeof(fx));
	fx.dir = tu_tmpdir();
	memset(&io, 0, sizeof(io));
	io.datadir = fx.dir;
	io.root_key_out = tu_root_key_out(fx.dir);
	io.key_rounds = TU_KEY_ITER; /* ca_init() sets the rounds it is given, the default when 0 */
	io.ca_name = "unit";
	err_clear(&e);
	if (ca_init(&io, &e) == -1)
		fail_msg("init: %s", e.msg);
	/* revocations must show at once in these tests: read the counter on every request */
	conf = xasprintf("%s/shomei.conf", fx.dir);
	f = fopen(conf, "a");
	assert_non_null(f);
	/* the tests move this process's clock up to 25 minutes ahead of the signer's, whose
	 * policy accepts that much difference only when told so */
	fprintf(f, "\nocsp.revocation_poll_ms = 0\nocsp.validity_minutes = 30\n"
		   "signer.max_skew = 3600\n");
	fclose(f);
	free(conf);
	if (ca_open(fx.dir, CA_OPEN_SIGNER, NULL, &fx.ca, &e) == -1 ||
	    ca_store_open(fx.ca, &fx.st, &e) == -1)
		fail_msg("open: %s", e.msg);
	for (i = 0; i < 3; i++) {
		char cn[32];

		snprintf(cn, sizeof(cn), "leaf%d.example", i);
		fx.leaf[i] = tu_issue(cn);
	}
	fx.foreign = tu_selfsigned("shomei Issuing CA", &fx.foreign_key);
	return 0;
}

static int
teardown_ca(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		X509_free(fx.leaf[i]);
	X509_free(fx.foreign);
	EVP_PKEY_free(fx.foreign_key);
	store_close(fx.st);
	ca_close(fx.ca);
	tu_rmdir(fx.dir);
	return 0;
}

/* DER request for the given certificates (issuer: ours unless foreign), optional nonce. */
static unsigned char *
tu_req(X509 *const *leaves, size_t n, const EVP_MD *md, X509 *issuer, int nonce, size_t *len,
       OCSP_REQUEST **keep)
{
	OCSP_REQUEST *rq = OCSP_REQUEST_new();
	unsigned char *der = NULL;
	size_t i;
	int l;

	for (i = 0; i < n; i++) {
		OCSP_CERTID *id = OCSP_cert_id_new(md, X509_get_subject_name(issuer),
						   X509_get0_pubkey_bitstr(issuer),
						   X509_get_serialNumber(leaves[i]));

		assert_non_null(id);
		assert_non_null(OCSP_request_add0_id(rq, id));
	}
	if (nonce)
		assert_int_equal(OCSP_request_add1_nonce(rq, NULL, 16), 1);
	l = i2d_OCSP_REQUEST(rq, &der);
	assert_true(l > 0);
	*len = (size_t)l;
	if (keep != NULL)
		*keep = rq;
	else
		OCSP_REQUEST_free(rq);
	return der;
}

/*
 * Parses and verifies a successful answer against the CA's root (the OCSP certificate must
 * come in the response); returns the basic response.
 */
static OCSP_BASICRESP *
tu_check_flags(const struct ocsp_answer *a, unsigned long flags)
{
	const unsigned char *p = a->der;
	OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)a->len);
	OCSP_BASICRESP *bs;
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();

	assert_non_null(r);
	assert_ptr_equal(p, a->der + a->len);
	assert_int_equal(OCSP_response_status(r), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	bs = OCSP_response_get1_basic(r);
	assert_non_null(bs);
	assert_int_equal(sk_X509_num(OCSP_resp_get0_certs(bs)), 1);
	X509_STORE_add_cert(store, fx.ca->root);
	sk_X509_push(untrusted, fx.ca->cert);
	if (OCSP_basic_verify(bs, untrusted, store, flags) != 1) {
		ERR_print_errors_fp(stderr);
		fail_msg("response does not verify");
	}
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	OCSP_RESPONSE_free(r);
	return bs;
}

static OCSP_BASICRESP *
tu_check(const struct ocsp_answer *a)
{
	return tu_check_flags(a, 0);
}

static int
tu_status(OCSP_BASICRESP *bs, X509 *leaf, const EVP_MD *md, int *reason)
{
	OCSP_CERTID *id =
	    OCSP_cert_id_new(md, X509_get_subject_name(fx.ca->cert),
			     X509_get0_pubkey_bitstr(fx.ca->cert), X509_get_serialNumber(leaf));
	ASN1_GENERALIZEDTIME *rev, *thisu, *nextu;
	int status = -1, r = -1;

	assert_int_equal(OCSP_resp_find_status(bs, id, &status, &r, &rev, &thisu, &nextu), 1);
	assert_non_null(thisu);
	assert_non_null(nextu);
	assert_int_equal(OCSP_check_validity(thisu, nextu, 300, -1), 1);
	if (reason != NULL)
		*reason = r;
	OCSP_CERTID_free(id);
	return status;
}

static void
test_respond_good_and_cache(void **state)
{
	struct ocsp_responder *rs;
	struct ocsp_answer a, b;
	struct ocsp_stats s0, s1;
	OCSP_BASICRESP *bs;
	unsigned char *der;
	size_t len;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(ocsp_responder_new(fx.ca, &rs, &e), 0);
	ocsp_responder_stats(rs, &s0);
	der = tu_req(&fx.leaf[0], 1, EVP_sha1(), fx.ca->cert, 0, &len, NULL);
	ocsp_respond(rs, fx.st, der, len, &a);
	assert_int_equal(a.status, OCSP_RESP_SUCCESSFUL);
	assert_int_equal(a.cacheable, 1);
	assert_int_equal(a.cache_hit, 0);
	/* thisUpdate 5 minutes before the signature (clients' clock skew), nextUpdate 30 after it
	 */
	assert_int_equal(a.next_update - a.produced, 30 * 60 - 300);
	assert_non_null(a.etag);
	bs = tu_check(&a);
	assert_int_equal(tu_status(bs, fx.leaf[0], EVP_sha1(), NULL), V_OCSP_CERTSTATUS_GOOD);
	{
		ASN1_GENERALIZEDTIME *rev, *thisu, *nextu;
		int reason, days, secs;
		time_t tu;

		OCSP_single_get0_status(OCSP_resp_get0(bs, 0), &reason, &rev, &thisu, &nextu);
		assert_int_equal(ASN1_TIME_diff(&days, &secs, thisu, nextu), 1);
		assert_int_equal(days * 86400 + secs, 30 * 60);
		assert_int_equal(x509_time_to_epoch(thisu, &tu), 0);
		assert_int_equal(a.produced - tu, 300);
	}
	OCSP_BASICRESP_free(bs);
	/* the same request again: the same bytes, from the cache, no new signature */
	ocsp_respond(rs, fx.st, der, len, &b);
	assert_int_equal(b.cache_hit, 1);
	assert_int_equal(b.len, a.len);
	assert_memory_equal(b.der, a.der, a.len);
	assert_string_equal(b.etag, a.etag);
	ocsp_responder_stats(rs, &s1);
	assert_int_equal(s1.signed_responses - s0.signed_responses, 1);
	assert_int_equal(s1.hits - s0.hits, 1);
	ocsp_answer_clear(&a);
	ocsp_answer_clear(&b);
	OPENSSL_free(der);

	/* SHA-256 CertID: its own cache entry */
	der = tu_req(&fx.leaf[0], 1, EVP_sha256(), fx.ca->cert, 0, &len, NULL);
	ocsp_respond(rs, fx.st, der, len, &a);
	assert_int_equal(a.status, OCSP_RESP_SUCCESSFUL);
	assert_int_equal(a.cache_hit, 0);
	bs = tu_check(&a);
	assert_int_equal(tu_status(bs, fx.leaf[0], EVP_sha256(), NULL), V_OCSP_CERTSTATUS_GOOD);
	OCSP_BASICRESP_free(bs);
	ocsp_answer_clear(&a);
	OPENSSL_free(der);
	ocsp_responder_free(rs);
}

static void
test_respond_multi_nonce(void **state)
{
	struct ocsp_responder *rs;
	struct ocsp_answer a;
	OCSP_BASICRESP *bs;
	OCSP_REQUEST *rq;
	X509 *both[3] = {fx.leaf[1], fx.leaf[2], fx.foreign};
	unsigned char *der;
	size_t len;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(ocsp_responder_new(fx.ca, &rs, &e), 0);
	der = tu_req(both, 2, EVP_sha256(), fx.ca->cert, 1, &len, &rq);
	ocsp_respond(rs, fx.st, der, len, &a);
	assert_int_equal(a.status, OCSP_RESP_SUCCESSFUL);
	assert_int_equal(a.cacheable, 0);
	bs = tu_check(&a);
	assert_int_equal(OCSP_check_nonce(rq, bs), 1);
	assert_int_equal(OCSP_resp_count(bs), 2);
	assert_int_equal(tu_status(bs, fx.leaf[1], EVP_sha256(), NULL), V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(tu_status(bs, fx.leaf[2], EVP_sha256(), NULL), V_OCSP_CERTSTATUS_GOOD);
	OCSP_BASICRESP_free(bs);
	ocsp_answer_clear(&a);
	OCSP_REQUEST_free(rq);
	OPENSSL_free(der);
	/* a nonce request twice: signed each time (different nonces, different answers) */
	der = tu_req(both, 1, EVP_sha1(), fx.ca->cert, 1, &len, &rq);
	ocsp_respond(rs, fx.st, der, len, &a);
	assert_int_equal(a.cache_hit, 0);
	bs = tu_check(&a);
	assert_int_equal(OCSP_check_nonce(rq, bs), 1);
	OCSP_BASICRESP_free(bs);
	ocsp_answer_clear(&a);
	ocsp_respond(rs, fx.st, der, len, &a);
	assert_int_equal(a.cache_hit, 0);
	ocsp_answer_clear(&a);
	OCSP_REQUEST_free(rq);
	OPENSSL_free(der);
	ocsp_responder_free(rs);
}

static void
test_respond_unknown_unauthorized(void **state)
{
	struct ocsp_responder *rs;
	struct ocsp_answer a;
	struct ocsp_stats s0, s1;
	OCSP_BASICRESP *bs;
	X509 *mixed[2] = {fx.leaf[0], fx.foreign};
	unsigned char *der;
	size_t len;
	struct err e;
	OCSP_CERTID *id;
	ASN1_GENERALIZEDTIME *rev, *thisu, *nextu;
	int status, reason;

	(void)state;
	err_clear(&e);
	assert_int_equal(ocsp_responder_new(fx.ca, &rs, &e), 0);
	/*
	 * our issuer, a serial we never issued: unknown, signed once and kept for a minute (a
	 * flood of made-up serials costs one signature each, not one per request), until this
	 * process issues a certificate
	 */
	ocsp_responder_stats(rs, &s0);
	der = tu_req(&fx.foreign, 1, EVP_sha1(), fx.ca->cert, 0, &len, NULL);
	ocsp_respond(rs, fx.st, der, len, &a);
	assert_int_equal(a.status, OCSP_RESP_SUCCESSFUL);
	bs = tu_check(&a);
	assert_int_equal(tu_status(bs, fx.foreign, EVP_sha1(), NULL), V_OCSP_CERTSTATUS_UNKNOWN);
	OCSP_BASICRESP_free(bs);
	ocsp_answer_clear(&a);
	ocsp_respond(rs, fx.st, der, len, &a);
	assert_int_equal(a.cache_hit, 1);
	ocsp_answer_clear(&a);
	ocsp_responder_stats(rs, &s1);
	assert_int_equal(s1.signed_responses - s0.signed_responses, 1);
	__atomic_add_fetch(&fx.ca->issued_gen, 1, __ATOMIC_RELEASE); /* as ca_issue() does */
	ocsp_respond(rs, fx.st, der, len, &a);
	assert_int_equal(a.cache_hit, 0);
	ocsp_answer_clear(&a);
	ocsp_respond(rs, fx.st, der, len, &a);
	assert_int_equal(a.cache_hit, 1);
	ocsp_answer_clear(&a);
	util_clock_set_offset(61);
	ocsp_respond(rs, fx.st, der, len, &a);
	assert_int_equal(a.cache_hit, 0);
	ocsp_answer_clear(&a);
	util_clock_set_offset(0);
	ocsp_responder_stats(rs, &s1);
	assert_int_equal(s1.signed_responses - s0.signed_responses, 3);
	OPENSSL_free(der);

	/* another CA's CertID only: unauthorized (RFC 6960 2.3) */
	der = tu_req(&fx.leaf[0], 1, EVP_sha1(), fx.foreign, 0, &len, NULL);
	ocsp_respond(rs, fx.st, der, len, &a);
	assert_int_equal(a.status, OCSP_RESP_UNAUTHORIZED);
	assert_int_equal(a.len, OCSP_ERROR_RESP_LEN);
	ocsp_answer_clear(&a);
	OPENSSL_free(der);

	/* one of ours and one of another CA: answered, the other one unknown */
	{
		OCSP_REQUEST *rq = OCSP_REQUEST_new();
		unsigned char *d = NULL;
		int l;

		id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(fx.ca->cert),
				      X509_get0_pubkey_bitstr(fx.ca->cert),
				      X509_get_serialNumber(mixed[0]));
		OCSP_request_add0_id(rq, id);
		id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(fx.foreign),
				      X509_get0_pubkey_bitstr(fx.foreign),
				      X509_get_serialNumber(mixed[0]));
		OCSP_request_add0_id(rq, id);
		l = i2d_OCSP_REQUEST(rq, &d);
		ocsp_respond(rs, fx.st, d, (size_t)l, &a);
		assert_int_equal(a.status, OCSP_RESP_SUCCESSFUL);
		/* OpenSSL's delegation check wants one issuer for all CertIDs: signature and
		 * chain only */
		bs = tu_check_flags(&a, OCSP_NOCHECKS);
		assert_int_equal(tu_status(bs, fx.leaf[0], EVP_sha1(), NULL),
				 V_OCSP_CERTSTATUS_GOOD);
		assert_int_equal(
		    OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisu, &nextu), 1);
		assert_int_equal(status, V_OCSP_CERTSTATUS_UNKNOWN);
		OCSP_BASICRESP_free(bs);
		ocsp_answer_clear(&a);
		OPENSSL_free(d);
		OCSP_REQUEST_free(rq);
	}

	/* a serial with its high bit set (DER: 00 80 ...) is found under its magnitude */
	{
		struct store_cert rec;
		ASN1_INTEGER *sn = ASN1_INTEGER_new();
		OCSP_REQUEST *rq = OCSP_REQUEST_new();
		unsigned char *d = NULL;
		int l;

		memset(&rec, 0, sizeof(rec));
		memcpy(rec.serial, "80112233445566778899AABBCCDDEEFF", 33);
		rec.ca = fx.ca->name;
		rec.subject = "CN=high-bit";
		rec.profile = "server";
		rec.not_before = time(NULL) - 60;
		rec.not_after = time(NULL) + 86400;
		rec.reason = -1;
		rec.der = (unsigned char *)"\x30\x00";
		rec.derlen = 2;
		rec.created = time(NULL);
		if (store_cert_insert(fx.st, &rec, &e) == -1)
			fail_msg("insert: %s", e.msg);
		{
			BIGNUM *bn = NULL;

			assert_true(BN_hex2bn(&bn, rec.serial) > 0);
			assert_non_null(BN_to_ASN1_INTEGER(bn, sn));
			BN_free(bn);
		}
		id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(fx.ca->cert),
				      X509_get0_pubkey_bitstr(fx.ca->cert), sn);
		OCSP_request_add0_id(rq, id);
		l = i2d_OCSP_REQUEST(rq, &d);
		ocsp_respond(rs, fx.st, d, (size_t)l, &a);
		assert_int_equal(a.status, OCSP_RESP_SUCCESSFUL);
		bs = tu_check(&a);
		assert_int_equal(
		    OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisu, &nextu), 1);
		assert_int_equal(status, V_OCSP_CERTSTATUS_GOOD);
		OCSP_BASICRESP_free(bs);
		ocsp_answer_clear(&a);
		OPENSSL_free(d);
		OCSP_REQUEST_free(rq);
		ASN1_INTEGER_free(sn);
	}

	/* malformed */
	ocsp_respond(rs, fx.st, (const unsigned char *)"\x30\x03\x02\x01", 4, &a);
	assert_int_equal(a.status, OCSP_RESP_MALFORMED);
	assert_memory_equal(a.der, "\x30\x03\x0a\x01\x01", 5);
	ocsp_answer_clear(&a);
	/* no store connection: internalError, not a crash */
	der = tu_req(&fx.leaf[2], 1, EVP_sha384(), fx.ca->cert, 0, &len, NULL);
	ocsp_respond(rs, NULL, der, len, &a);
	assert_int_equal(a.status, OCSP_RESP_INTERNAL);
	ocsp_answer_clear(&a);
	OPENSSL_free(der);
	ocsp_responder_free(rs);
}

static void
test_respond_revocation_invalidates(void **state)
{
	struct ocsp_responder *rs;
	struct ocsp_answer a;
	struct ocsp_stats s0, s1;
	OCSP_BASICRESP *bs;
	unsigned char *der0, *der1;
	size_t len0, len1;
	char serial[STORE_SERIAL_MAX];
	struct err e;
	int reason;

	(void)state;
	err_clear(&e);
	assert_int_equal(ocsp_responder_new(fx.ca, &rs, &e), 0);
	der0 = tu_req(&fx.leaf[0], 1, EVP_sha1(), fx.ca->cert, 0, &len0, NULL);
	der1 = tu_req(&fx.leaf[1], 1, EVP_sha1(), fx.ca->cert, 0, &len1, NULL);
	ocsp_respond(rs, fx.st, der0, len0, &a);
	ocsp_answer_clear(&a);
	ocsp_respond(rs, fx.st, der1, len1, &a);
	bs = tu_check(&a);
	assert_int_equal(tu_status(bs, fx.leaf[1], EVP_sha1(), NULL), V_OCSP_CERTSTATUS_GOOD);
	OCSP_BASICRESP_free(bs);
	ocsp_answer_clear(&a);

	assert_int_equal(x509_serial_hex(X509_get_serialNumber(fx.leaf[1]), serial, sizeof(serial)),
			 0);
	if (ca_revoke(fx.ca, fx.st, serial, 1, 0, "test", &e) == -1)
		fail_msg("revoke: %s", e.msg);
	ocsp_responder_stats(rs, &s0);
	/* the revoked one is re-signed at once */
	ocsp_respond(rs, fx.st, der1, len1, &a);
	assert_int_equal(a.cache_hit, 0);
	bs = tu_check(&a);
	assert_int_equal(tu_status(bs, fx.leaf[1], EVP_sha1(), &reason), V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(reason, 1);
	OCSP_BASICRESP_free(bs);
	ocsp_answer_clear(&a);
	/* the other one is checked again but its signed response kept */
	ocsp_respond(rs, fx.st, der0, len0, &a);
	assert_int_equal(a.cache_hit, 1);
	bs = tu_check(&a);
	assert_int_equal(tu_status(bs, fx.leaf[0], EVP_sha1(), NULL), V_OCSP_CERTSTATUS_GOOD);
	OCSP_BASICRESP_free(bs);
	ocsp_answer_clear(&a);
	ocsp_responder_stats(rs, &s1);
	assert_int_equal(s1.signed_responses - s0.signed_responses, 1);
	assert_int_equal(s1.revalidated - s0.revalidated, 1);
	/* and the revoked answer is itself cached now */
	ocsp_respond(rs, fx.st, der1, len1, &a);
	assert_int_equal(a.cache_hit, 1);
	ocsp_answer_clear(&a);
	OPENSSL_free(der0);
	OPENSSL_free(der1);
	ocsp_responder_free(rs);
}

static void
test_respond_refresh_and_signer_down(void **state)
{
	struct ocsp_responder *rs;
	struct ocsp_answer a, b;
	struct signer_client *signer = fx.ca->signer;
	unsigned char *der;
	size_t len;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(ocsp_responder_new(fx.ca, &rs, &e), 0);
	der = tu_req(&fx.leaf[2], 1, EVP_sha256(), fx.ca->cert, 0, &len, NULL);
	ocsp_respond(rs, fx.st, der, len, &a);
	assert_int_equal(a.status, OCSP_RESP_SUCCESSFUL);
	/* thisUpdate is backdated 5 minutes, so the 30-minute answer runs out 25 minutes after
	 * it was signed and is due for renewal after 17.5.  20 minutes later, with the signer
	 * gone, the cached one (still valid) is served */
	fx.ca->signer = NULL;
	util_clock_set_offset(20 * 60);
	ocsp_respond(rs, fx.st, der, len, &b);
	assert_int_equal(b.status, OCSP_RESP_SUCCESSFUL);
	assert_int_equal(b.cache_hit, 1);
	assert_memory_equal(b.der, a.der, a.len);
	ocsp_answer_clear(&b);
	/* past its nextUpdate it is not: tryLater */
	util_clock_set_offset(25 * 60);
	ocsp_respond(rs, fx.st, der, len, &b);
	assert_int_equal(b.status, OCSP_RESP_TRYLATER);
	ocsp_answer_clear(&b);
	/* signer back: renewed, a new signature */
	fx.ca->signer = signer;
	ocsp_respond(rs, fx.st, der, len, &b);
	assert_int_equal(b.status, OCSP_RESP_SUCCESSFUL);
	assert_int_equal(b.cache_hit, 0);
	assert_true(b.produced >= a.produced + 25 * 60);
	OCSP_BASICRESP_free(tu_check(&b));
	ocsp_answer_clear(&b);
	util_clock_set_offset(0);
	ocsp_answer_clear(&a);
	OPENSSL_free(der);
	ocsp_responder_free(rs);
}

static void
test_respond_cache_bounded(void **state)
{
	struct ocsp_responder *rs;
	struct ocsp_answer a;
	struct ocsp_stats s0, s1;
	unsigned char *der;
	size_t len;
	struct err e;
	int i;

	(void)state;
	/* cache off: every answer is signed */
	conf_set(&fx.ca->conf, "ocsp.cache_entries", "0");
	err_clear(&e);
	assert_int_equal(ocsp_responder_new(fx.ca, &rs, &e), 0);
	der = tu_req(&fx.leaf[2], 1, EVP_sha1(), fx.ca->cert, 0, &len, NULL);
	ocsp_responder_stats(rs, &s0);
	for (i = 0; i < 3; i++) {
		ocsp_respond(rs, fx.st, der, len, &a);
		assert_int_equal(a.status, OCSP_RESP_SUCCESSFUL);
		assert_int_equal(a.cache_hit, 0);
		ocsp_answer_clear(&a);
	}
	ocsp_responder_stats(rs, &s1);
	assert_int_equal(s1.signed_responses - s0.signed_responses, 3);
	ocsp_responder_free(rs);
	OPENSSL_free(der);
	/* a bad configuration value is refused */
	conf_set(&fx.ca->conf, "ocsp.cache_entries", "-5");
	assert_int_equal(ocsp_responder_new(fx.ca, &rs, &e), -1);
	conf_set(&fx.ca->conf, "ocsp.cache_entries", "100000");
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_parse_minimal),
	    cmocka_unit_test(test_parse_openssl),
	    cmocka_unit_test(test_parse_truncated_and_garbage),
	    cmocka_unit_test(test_parse_ber_lengths),
	    cmocka_unit_test(test_parse_structure),
	    cmocka_unit_test(test_parse_extensions),
	    cmocka_unit_test(test_parse_certid),
	    cmocka_unit_test(test_b64),
	    cmocka_unit_test(test_error_response),
	    cmocka_unit_test(test_build_verify),
	};
	const struct CMUnitTest responder[] = {
	    cmocka_unit_test(test_respond_good_and_cache),
	    cmocka_unit_test(test_respond_multi_nonce),
	    cmocka_unit_test(test_respond_unknown_unauthorized),
	    cmocka_unit_test(test_respond_revocation_invalidates),
	    cmocka_unit_test(test_respond_refresh_and_signer_down),
	    cmocka_unit_test(test_respond_cache_bounded),
	};
	int rc;

	rc = cmocka_run_group_tests_name("ocsp parsing and building", pure, NULL, NULL);
	rc |= cmocka_run_group_tests_name("ocsp responder", responder, setup_ca, teardown_ca);
	return rc;
}
