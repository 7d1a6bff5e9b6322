/*
 * Unit tests for src/tsa: TimeStampReq parsing and every failInfo, the TSTInfo fields, tokens
 * verified by OpenSSL's own RFC 3161 verifier (P-256, P-384 and RSA TSA keys, a real signer
 * process), canonical DER, rejections, and serial numbers unique across threads and contexts.
 */
#include "testutil.h"

#include <pthread.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "tsa/tsa.h"
#include "tsa/tsa_local.h"

struct fx {
	char *dir;
	struct ca *ca;
	struct tsa *tsa;
};

static struct fx *
fx_new(const char *key_type)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ca_init_opts io;
	struct err e;

	assert_non_null(f);
	err_clear(&e);
	f->dir = tu_tmpdir();
	memset(&io, 0, sizeof(io));
	io.datadir = f->dir;
	io.root_key_out = tu_root_key_out(f->dir);
	io.key_rounds = TU_KEY_ITER; /* ca_init() sets the rounds it is given, the default when 0 */
	io.key_type = key_type;
	io.ca_name = "tsatest";
	if (ca_init(&io, &e) == -1 || ca_open(f->dir, CA_OPEN_SIGNER, NULL, &f->ca, &e) == -1 ||
	    tsa_new(f->ca, &f->tsa, &e) == -1)
		fail_msg("%s", e.msg);
	return f;
}

static int
setup_p256(void **state)
{
	*state = fx_new("p256");
	return 0;
}

static int
setup_p384(void **state)
{
	*state = fx_new("p384");
	return 0;
}

static int
setup_rsa(void **state)
{
	*state = fx_new("rsa2048");
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	tsa_free(f->tsa);
	ca_close(f->ca);
	tu_rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- requests made by OpenSSL ---- */

struct reqopt {
	const EVP_MD *md;
	int nonce; /* add a 64-bit nonce */
	int cert_req;
	const char *policy; /* reqPolicy, or NULL */
};

/* A DER TimeStampReq over data; *nonce_out (when asked) gets the nonce. */
static unsigned char *
req_make(const struct reqopt *o, const char *data, size_t *len, ASN1_INTEGER **nonce_out)
{
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *nonce = NULL;
	ASN1_OBJECT *pol = NULL;
	BIGNUM *bn;
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL, rnd[8];
	unsigned int mdlen = 0;
	int n;

	assert_non_null(req);
	assert_true(TS_REQ_set_version(req, 1));
	assert_true(EVP_Digest(data, strlen(data), md, &mdlen, o->md, NULL));
	X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(o->md)), V_ASN1_NULL, NULL);
	assert_true(TS_MSG_IMPRINT_set_algo(mi, alg));
	assert_true(TS_MSG_IMPRINT_set_msg(mi, md, (int)mdlen));
	assert_true(TS_REQ_set_msg_imprint(req, mi));
	if (o->policy != NULL) {
		assert_non_null(pol = OBJ_txt2obj(o->policy, 1));
		assert_true(TS_REQ_set_policy_id(req, pol));
	}
	if (o->nonce) {
		RAND_bytes(rnd, sizeof(rnd));
		rnd[0] |= 0x40; /* 8 octets, positive */
		rnd[0] &= 0x7f;
		assert_non_null(nonce = ASN1_INTEGER_new());
		assert_non_null(bn = BN_bin2bn(rnd, 8, NULL));
		assert_non_null(BN_to_ASN1_INTEGER(bn, nonce));
		BN_free(bn);
		assert_true(TS_REQ_set_nonce(req, nonce));
	}
	assert_true(TS_REQ_set_cert_req(req, o->cert_req));
	assert_true((n = i2d_TS_REQ(req, &der)) > 0);
	*len = (size_t)n;
	if (nonce_out != NULL)
		*nonce_out = nonce;
	else
		ASN1_INTEGER_free(nonce);
	ASN1_OBJECT_free(pol);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	return der;
}

/* ---- hand-made requests, for the refusals ---- */

/* Appends a TLV with contents c. */
static void
tlv(struct buf *b, unsigned char tag, const void *c, size_t n)
{
	assert_int_equal(der_put(b, tag, c, n), 0);
}

struct rawopt {
	const unsigned char *version; /* INTEGER contents, len 1 */
	const unsigned char *oid;     /* hash OID contents */
	size_t oidlen;
	const unsigned char *params; /* whole TLV appended after the OID, or NULL */
	size_t paramslen;
	size_t hashlen;
	const unsigned char *tail; /* raw bytes after the messageImprint */
	size_t taillen;
};

static const unsigned char oid_sha256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
static const unsigned char oid_sha1[] = {0x2b, 0x0e, 0x03, 0x02, 0x1a};
static const unsigned char oid_md5[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05};
static const unsigned char der_null[] = {0x05, 0x00};

static void
raw_make(const struct rawopt *o, struct buf *out)
{
	struct buf alg, mi, body;
	unsigned char h[64], v1 = 1;

	buf_init(&alg, 4096);
	buf_init(&mi, 4096);
	buf_init(&body, 4096);
	memset(h, 0xab, sizeof(h));
	tlv(&alg, DER_TAG_OID, o->oid ? o->oid : oid_sha256,
	    o->oid ? o->oidlen : sizeof(oid_sha256));
	if (o->params != NULL)
		assert_int_equal(buf_append(&alg, o->params, o->paramslen), 0);
	tlv(&mi, DER_TAG_SEQUENCE, alg.data, alg.len);
	tlv(&mi, DER_TAG_OCTETSTRING, h, o->hashlen ? o->hashlen : 32);
	tlv(&body, DER_TAG_INTEGER, o->version ? o->version : &v1, 1);
	tlv(&body, DER_TAG_SEQUENCE, mi.data, mi.len);
	if (o->tail != NULL)
		assert_int_equal(buf_append(&body, o->tail, o->taillen), 0);
	buf_init(out, 8192);
	tlv(out, DER_TAG_SEQUENCE, body.data, body.len);
	buf_free(&alg);
	buf_free(&mi);
	buf_free(&body);
}

/* Parses raw; returns the failInfo bit (-1 when accepted). */
static int
raw_fail(const unsigned char *p, size_t n)
{
	struct tsa_req r;
	struct err e;
	int fail = 99, rc;

	err_clear(&e);
	rc = tsa_req_parse(p, n, &r, &fail, &e);
	if (rc == 0) {
		assert_int_equal(fail, -1);
		return -1;
	}
	assert_int_equal(rc, -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_true(strncmp(e.msg, "tsa: ", 5) == 0);
	return fail;
}

static int
raw_opt_fail(const struct rawopt *o)
{
	struct buf b;
	int f;

	raw_make(o, &b);
	f = raw_fail(b.data, b.len);
	buf_free(&b);
	return f;
}

static void
test_parse_ok(void **state)
{
	const EVP_MD *mds[3] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
	const int nids[3] = {NID_sha256, NID_sha384, NID_sha512};
	struct reqopt o;
	struct tsa_req r;
	struct err e;
	unsigned char *der;
	size_t len;
	int i, fail;

	(void)state;
	for (i = 0; i < 3; i++) {
		memset(&o, 0, sizeof(o));
		o.md = mds[i];
		o.nonce = i != 1;
		o.cert_req = i == 0;
		o.policy = i == 2 ? "1.2.3.4.1" : NULL;
		der = req_make(&o, "hello", &len, NULL);
		err_clear(&e);
		assert_int_equal(tsa_req_parse(der, len, &r, &fail, &e), 0);
		assert_int_equal(r.md_nid, nids[i]);
		assert_int_equal(r.hash_len, (size_t)EVP_MD_get_size(mds[i]));
		assert_int_equal(r.cert_req, o.cert_req);
		assert_int_equal(r.nonce != NULL, o.nonce);
		if (o.nonce) {
			assert_int_equal(r.nonce[0], DER_TAG_INTEGER);
			assert_int_equal(r.nonce_len, 10);
		}
		assert_int_equal(r.policy != NULL, o.policy != NULL);
		assert_true(r.imprint > der && r.imprint + r.imprint_len <= der + len);
		assert_int_equal(r.imprint[0], DER_TAG_SEQUENCE);
		OPENSSL_free(der);
	}
}

static void
test_parse_fail(void **state)
{
	static const unsigned char v2 = 2, v0 = 0;
	static const unsigned char params_oid[] = {0x06, 0x03, 0x2a, 0x03, 0x04};
	static const unsigned char ext[] = {0xa0, 0x00};
	static const unsigned char order[] = {0x01, 0x01, 0xff, 0x02, 0x01, 0x05};
	static const unsigned char nonce_nonmin[] = {0x02, 0x02, 0x00, 0x05};
	static const unsigned char bool_bad[] = {0x01, 0x02, 0xff, 0xff};
	static const unsigned char junk_field[] = {0x04, 0x01, 0x00};
	static const unsigned char pol_bad[] = {0x06, 0x02, 0x2a, 0x83};
	unsigned char nonce_big[2 + 65];
	struct rawopt o;
	struct buf b;
	unsigned char *p;
	size_t i;

	(void)state;
	/* a good baseline */
	memset(&o, 0, sizeof(o));
	assert_int_equal(raw_opt_fail(&o), -1);
	/* badAlg: SHA-1, MD5, odd parameters */
	o.oid = oid_sha1;
	o.oidlen = sizeof(oid_sha1);
	o.hashlen = 20;
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_ALG);
	o.oid = oid_md5;
	o.oidlen = sizeof(oid_md5);
	o.hashlen = 16;
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_ALG);
	memset(&o, 0, sizeof(o));
	o.params = params_oid;
	o.paramslen = sizeof(params_oid);
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_ALG);
	o.params = der_null; /* NULL is fine */
	o.paramslen = sizeof(der_null);
	assert_int_equal(raw_opt_fail(&o), -1);
	/* badDataFormat: SHA-256 with 20 or 33 octets */
	memset(&o, 0, sizeof(o));
	o.hashlen = 20;
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_DATA_FORMAT);
	o.hashlen = 33;
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_DATA_FORMAT);
	/* badRequest: versions 0 and 2 */
	memset(&o, 0, sizeof(o));
	o.version = &v2;
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_REQUEST);
	o.version = &v0;
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_REQUEST);
	/* unacceptedExtension */
	memset(&o, 0, sizeof(o));
	o.tail = ext;
	o.taillen = sizeof(ext);
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_UNACCEPTED_EXTENSION);
	/* badRequest: fields out of order, non-minimal nonce, bad BOOLEAN, unknown field,
	 * malformed policy OID, a nonce larger than 64 octets */
	o.tail = order;
	o.taillen = sizeof(order);
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_REQUEST);
	o.tail = nonce_nonmin;
	o.taillen = sizeof(nonce_nonmin);
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_REQUEST);
	o.tail = bool_bad;
	o.taillen = sizeof(bool_bad);
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_REQUEST);
	o.tail = junk_field;
	o.taillen = sizeof(junk_field);
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_REQUEST);
	o.tail = pol_bad;
	o.taillen = sizeof(pol_bad);
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_REQUEST);
	nonce_big[0] = DER_TAG_INTEGER;
	nonce_big[1] = 65;
	memset(nonce_big + 2, 0x11, 65);
	o.tail = nonce_big;
	o.taillen = sizeof(nonce_big);
	assert_int_equal(raw_opt_fail(&o), TSA_FAIL_BAD_REQUEST);
	nonce_big[1] = 64; /* 64 octets are fine */
	o.taillen = 66;
	assert_int_equal(raw_opt_fail(&o), -1);

	/* malformed framing: every truncation, trailing bytes, BER indefinite length, empty */
	memset(&o, 0, sizeof(o));
	raw_make(&o, &b);
	for (i = 0; i < b.len; i++)
		assert_int_equal(raw_fail(b.data, i), TSA_FAIL_BAD_REQUEST);
	assert_int_equal(buf_putc(&b, 0), 0);
	assert_int_equal(raw_fail(b.data, b.len), TSA_FAIL_BAD_REQUEST);
	p = b.data;
	p[1] = 0x80; /* indefinite */
	assert_int_equal(raw_fail(b.data, b.len), TSA_FAIL_BAD_REQUEST);
	buf_free(&b);
	/* a long-form length that should have been short */
	{
		static const unsigned char nonmin_len[] = {0x30, 0x81, 0x03, 0x02, 0x01, 0x01};

		assert_int_equal(raw_fail(nonmin_len, sizeof(nonmin_len)), TSA_FAIL_BAD_REQUEST);
	}
	assert_int_equal(raw_fail((const unsigned char *)"", 0), TSA_FAIL_BAD_REQUEST);
}

static void
test_policy(void **state)
{
	struct fx *f = *state;
	struct reqopt o;
	struct tsa_req r;
	struct err e;
	unsigned char *der;
	size_t len;
	int fail;

	memset(&o, 0, sizeof(o));
	o.md = EVP_sha256();
	o.policy = conf_get(&f->ca->conf, "tsa.policy", TSA_POLICY_DEFAULT); /* init's */
	der = req_make(&o, "x", &len, NULL);
	err_clear(&e);
	assert_int_equal(tsa_req_parse(der, len, &r, &fail, &e), 0);
	assert_int_equal(tsa_req_check(f->tsa, &r, &fail, &e), 0);
	OPENSSL_free(der);
	o.policy = "1.2.3.4.2";
	der = req_make(&o, "x", &len, NULL);
	assert_int_equal(tsa_req_parse(der, len, &r, &fail, &e), 0);
	assert_int_equal(tsa_req_check(f->tsa, &r, &fail, &e), -1);
	assert_int_equal(fail, TSA_FAIL_UNACCEPTED_POLICY);
	assert_non_null(strstr(e.msg, "reqPolicy"));
	OPENSSL_free(der);
}

/* ---- tokens ---- */

/* Verifies a response against the request with OpenSSL's RFC 3161 verifier. */
static void
resp_verify(struct fx *f, const unsigned char *reqder, size_t reqlen, const unsigned char *der,
	    size_t len, int with_tsa_cert)
{
	const unsigned char *p = reqder;
	TS_REQ *req = d2i_TS_REQ(NULL, &p, (long)reqlen);
	TS_RESP *resp;
	TS_VERIFY_CTX *ctx;
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();

	assert_non_null(req);
	p = der;
	assert_non_null(resp = d2i_TS_RESP(NULL, &p, (long)len));
	assert_ptr_equal(p, der + len);
	assert_non_null(ctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL));
	TS_VERIFY_CTX_add_flags(ctx, TS_VFY_SIGNATURE | TS_VFY_SIGNER);
	X509_STORE_add_cert(store, f->ca->root);
	TS_VERIFY_CTX_set_store(ctx, store);
	X509_up_ref(f->ca->cert);
	sk_X509_push(untrusted, f->ca->cert);
	if (with_tsa_cert) {
		X509_up_ref(f->ca->tsa_cert);
		sk_X509_push(untrusted, f->ca->tsa_cert);
	}
	TS_VERIFY_CTX_set_certs(ctx, untrusted);
	if (TS_RESP_verify_response(ctx, resp) != 1) {
		ERR_print_errors_fp(stderr);
		fail_msg("token does not verify");
	}
	TS_VERIFY_CTX_free(ctx);
	TS_RESP_free(resp);
	TS_REQ_free(req);
}

/* d2i then i2d gives the same bytes: our DER is canonical (sorted SET, minimal lengths). */
static void
assert_canonical(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)len);
	unsigned char *again = NULL;
	int n;

	assert_non_null(resp);
	n = i2d_TS_RESP(resp, &again);
	assert_int_equal((size_t)n, len);
	assert_memory_equal(again, der, len);
	OPENSSL_free(again);
	TS_RESP_free(resp);
}

/* Stamps one request; returns the DER response in out. */
static void
stamp(struct fx *f, const unsigned char *reqder, size_t reqlen, uint64_t serial,
      const struct timespec *now, struct buf *out)
{
	struct tsa_req r;
	struct err e;
	int fail;

	err_clear(&e);
	buf_init(out, 256 * 1024);
	if (tsa_req_parse(reqder, reqlen, &r, &fail, &e) == -1 ||
	    tsa_resp_build(f->tsa, f->ca->signer, &r, serial, now, out, &e) == -1)
		fail_msg("%s", e.msg);
}

static void
test_token(void **state)
{
	struct fx *f = *state;
	const EVP_MD *mds[3] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
	struct reqopt o;
	struct timespec now;
	struct buf out;
	const unsigned char *p;
	unsigned char *der;
	size_t len;
	ASN1_INTEGER *nonce = NULL;
	TS_RESP *resp;
	TS_TST_INFO *tst;
	const TS_ACCURACY *acc;
	const GENERAL_NAME *gn;
	char pol[128];
	int i, cert_req;

	for (i = 0; i < 3; i++) {
		for (cert_req = 0; cert_req < 2; cert_req++) {
			memset(&o, 0, sizeof(o));
			o.md = mds[i];
			o.nonce = 1;
			o.cert_req = cert_req;
			der = req_make(&o, "document", &len, &nonce);
			clock_gettime(CLOCK_REALTIME, &now);
			stamp(f, der, len, 0x1234567890ULL + (uint64_t)i, &now, &out);
			assert_canonical(out.data, out.len);
			resp_verify(f, der, len, out.data, out.len, !cert_req);

			p = out.data;
			assert_non_null(resp = d2i_TS_RESP(NULL, &p, (long)out.len));
			assert_int_equal(ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(
					     TS_RESP_get_status_info(resp))),
					 0);
			tst = TS_RESP_get_tst_info(resp);
			assert_non_null(tst);
			assert_int_equal(TS_TST_INFO_get_version(tst), 1);
			OBJ_obj2txt(pol, sizeof(pol), TS_TST_INFO_get_policy_id(tst), 1);
			assert_string_equal(pol, conf_get(&f->ca->conf, "tsa.policy", ""));
			assert_int_equal(ASN1_INTEGER_get(TS_TST_INFO_get_serial(tst)),
					 0x1234567890LL + i);
			assert_int_equal(ASN1_INTEGER_cmp(TS_TST_INFO_get_nonce(tst), nonce), 0);
			assert_false(TS_TST_INFO_get_ordering(tst));
			acc = TS_TST_INFO_get_accuracy(tst);
			assert_non_null(acc);
			assert_int_equal(ASN1_INTEGER_get(TS_ACCURACY_get_seconds(acc)), 1);
			assert_null(TS_ACCURACY_get_millis(acc));
			assert_null(TS_ACCURACY_get_micros(acc));
			/* genTime without a fraction: YYYYMMDDHHMMSSZ */
			assert_int_equal(TS_TST_INFO_get_time(tst)->length, 15);
			gn = TS_TST_INFO_get_tsa(tst);
			assert_non_null(gn);
			assert_int_equal(gn->type, GEN_DIRNAME);
			assert_int_equal(
			    X509_NAME_cmp(gn->d.dirn, X509_get_subject_name(f->ca->tsa_cert)), 0);
			/* the TSA certificate exactly when certReq */
			assert_int_equal(sk_X509_num(TS_RESP_get_token(resp)->d.sign->cert) == 1,
					 cert_req);
			TS_RESP_free(resp);
			ASN1_INTEGER_free(nonce);
			nonce = NULL;
			OPENSSL_free(der);
			buf_free(&out);
		}
	}
}

static void
test_token_no_nonce(void **state)
{
	struct fx *f = *state;
	struct reqopt o;
	struct timespec now;
	struct buf out;
	const unsigned char *p;
	unsigned char *der;
	size_t len;
	TS_RESP *resp;

	memset(&o, 0, sizeof(o));
	o.md = EVP_sha256();
	o.cert_req = 1;
	o.policy = conf_get(&f->ca->conf, "tsa.policy", TSA_POLICY_DEFAULT); /* init's */
	der = req_make(&o, "nothing", &len, NULL);
	clock_gettime(CLOCK_REALTIME, &now);
	stamp(f, der, len, 1, &now, &out);
	assert_canonical(out.data, out.len);
	resp_verify(f, der, len, out.data, out.len, 0);
	p = out.data;
	assert_non_null(resp = d2i_TS_RESP(NULL, &p, (long)out.len));
	assert_null(TS_TST_INFO_get_nonce(TS_RESP_get_tst_info(resp)));
	assert_int_equal(ASN1_INTEGER_get(TS_TST_INFO_get_serial(TS_RESP_get_tst_info(resp))), 1);
	TS_RESP_free(resp);
	OPENSSL_free(der);
	buf_free(&out);
}

/* A tampered imprint must not verify (the verifier is really checking). */
static void
test_token_wrong_data(void **state)
{
	struct fx *f = *state;
	struct reqopt o;
	struct timespec now;
	struct buf out;
	const unsigned char *p;
	unsigned char *der, *der2;
	size_t len, len2;
	TS_REQ *req;
	TS_RESP *resp;
	TS_VERIFY_CTX *ctx;
	X509_STORE *store = X509_STORE_new();

	memset(&o, 0, sizeof(o));
	o.md = EVP_sha256();
	o.cert_req = 1;
	der = req_make(&o, "one", &len, NULL);
	der2 = req_make(&o, "two", &len2, NULL);
	clock_gettime(CLOCK_REALTIME, &now);
	stamp(f, der, len, 7, &now, &out);
	p = der2;
	req = d2i_TS_REQ(NULL, &p, (long)len2);
	p = out.data;
	resp = d2i_TS_RESP(NULL, &p, (long)out.len);
	ctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL);
	X509_STORE_add_cert(store, f->ca->root);
	TS_VERIFY_CTX_set_store(ctx, store);
	assert_int_not_equal(TS_RESP_verify_response(ctx, resp), 1);
	ERR_clear_error();
	TS_VERIFY_CTX_free(ctx);
	TS_RESP_free(resp);
	TS_REQ_free(req);
	OPENSSL_free(der);
	OPENSSL_free(der2);
	buf_free(&out);
}

/* tsa.accuracy_ms below a second: millis in Accuracy, a fraction in genTime. */
static void
test_accuracy_ms(void **state)
{
	struct fx *f = *state;
	struct tsa *t = NULL;
	struct tsa_req r;
	struct reqopt o;
	struct timespec now = {1735689600, 120000000}; /* 2025-01-01T00:00:00.12Z */
	struct buf out;
	struct err e;
	const unsigned char *p;
	unsigned char *der;
	size_t len;
	int fail;
	TS_TST_INFO *tst;
	const TS_ACCURACY *acc;

	err_clear(&e);
	conf_set(&f->ca->conf, "tsa.accuracy_ms", "250");
	assert_int_equal(tsa_new(f->ca, &t, &e), 0);
	memset(&o, 0, sizeof(o));
	o.md = EVP_sha256();
	der = req_make(&o, "a", &len, NULL);
	assert_int_equal(tsa_req_parse(der, len, &r, &fail, &e), 0);
	buf_init(&out, 4096);
	assert_int_equal(tsa_tstinfo_build(t, &r, 5, &now, &out, &e), 0);
	p = out.data;
	assert_non_null(tst = d2i_TS_TST_INFO(NULL, &p, (long)out.len));
	assert_ptr_equal(p, out.data + out.len);
	assert_memory_equal(TS_TST_INFO_get_time(tst)->data, "20250101000000.12Z", 18);
	assert_int_equal(TS_TST_INFO_get_time(tst)->length, 18);
	acc = TS_TST_INFO_get_accuracy(tst);
	assert_null(TS_ACCURACY_get_seconds(acc));
	assert_int_equal(ASN1_INTEGER_get(TS_ACCURACY_get_millis(acc)), 250);
	TS_TST_INFO_free(tst);
	/* a whole second: no fraction at all */
	now.tv_nsec = 0;
	buf_reset(&out);
	assert_int_equal(tsa_tstinfo_build(t, &r, 5, &now, &out, &e), 0);
	p = out.data;
	assert_non_null(tst = d2i_TS_TST_INFO(NULL, &p, (long)out.len));
	assert_int_equal(TS_TST_INFO_get_time(tst)->length, 15);
	TS_TST_INFO_free(tst);
	tsa_free(t);
	t = NULL;

	/* 1500 ms: seconds 1, millis 500 (two-octet INTEGER); 0: no accuracy */
	conf_set(&f->ca->conf, "tsa.accuracy_ms", "1500");
	assert_int_equal(tsa_new(f->ca, &t, &e), 0);
	buf_reset(&out);
	assert_int_equal(tsa_tstinfo_build(t, &r, 5, &now, &out, &e), 0);
	p = out.data;
	assert_non_null(tst = d2i_TS_TST_INFO(NULL, &p, (long)out.len));
	acc = TS_TST_INFO_get_accuracy(tst);
	assert_int_equal(ASN1_INTEGER_get(TS_ACCURACY_get_seconds(acc)), 1);
	assert_int_equal(ASN1_INTEGER_get(TS_ACCURACY_get_millis(acc)), 500);
	TS_TST_INFO_free(tst);
	tsa_free(t);
	t = NULL;
	conf_set(&f->ca->conf, "tsa.accuracy_ms", "0");
	assert_int_equal(tsa_new(f->ca, &t, &e), 0);
	buf_reset(&out);
	assert_int_equal(tsa_tstinfo_build(t, &r, 5, &now, &out, &e), 0);
	p = out.data;
	assert_non_null(tst = d2i_TS_TST_INFO(NULL, &p, (long)out.len));
	assert_null(TS_TST_INFO_get_accuracy(tst));
	TS_TST_INFO_free(tst);
	tsa_free(t);
	conf_set(&f->ca->conf, "tsa.accuracy_ms", "1000");
	buf_free(&out);
	OPENSSL_free(der);
}

static void
test_config_errors(void **state)
{
	struct fx *f = *state;
	struct tsa *t = NULL;
	struct err e;
	X509 *save;

	char *pol = xstrdup(conf_get(&f->ca->conf, "tsa.policy", TSA_POLICY_DEFAULT));

	err_clear(&e);
	conf_set(&f->ca->conf, "tsa.policy", "not.an.oid");
	assert_int_equal(tsa_new(f->ca, &t, &e), -1);
	assert_non_null(strstr(e.msg, "tsa.policy"));
	conf_set(&f->ca->conf, "tsa.policy", pol);
	free(pol);
	err_clear(&e);
	conf_set(&f->ca->conf, "tsa.accuracy_ms", "-5");
	assert_int_equal(tsa_new(f->ca, &t, &e), -1);
	conf_set(&f->ca->conf, "tsa.accuracy_ms", "1000");
	err_clear(&e);
	save = f->ca->tsa_cert;
	f->ca->tsa_cert = NULL;
	assert_int_equal(tsa_new(f->ca, &t, &e), -1);
	assert_non_null(strstr(e.msg, "no TSA certificate"));
	f->ca->tsa_cert = save;
	assert_null(t);
}

static void
test_reject(void **state)
{
	static const int bits[] = {TSA_FAIL_BAD_ALG,
				   TSA_FAIL_BAD_REQUEST,
				   TSA_FAIL_BAD_DATA_FORMAT,
				   TSA_FAIL_TIME_NOT_AVAILABLE,
				   TSA_FAIL_UNACCEPTED_POLICY,
				   TSA_FAIL_UNACCEPTED_EXTENSION,
				   TSA_FAIL_ADD_INFO_NOT_AVAILABLE,
				   TSA_FAIL_SYSTEM_FAILURE};
	struct buf b;
	const unsigned char *p;
	unsigned char *again = NULL;
	TS_RESP *resp;
	const TS_STATUS_INFO *si;
	const ASN1_BIT_STRING *fi;
	size_t i;
	int j, n;

	(void)state;
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		buf_init(&b, 4096);
		assert_int_equal(tsa_resp_reject(bits[i], "tsa: some reason", &b), 0);
		p = b.data;
		assert_non_null(resp = d2i_TS_RESP(NULL, &p, (long)b.len));
		assert_ptr_equal(p, b.data + b.len);
		si = TS_RESP_get_status_info(resp);
		assert_int_equal(ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si)), 2);
		assert_non_null(fi = TS_STATUS_INFO_get0_failure_info(si));
		for (j = 0; j < 32; j++)
			assert_int_equal(ASN1_BIT_STRING_get_bit(fi, j), j == bits[i]);
		assert_int_equal(sk_ASN1_UTF8STRING_num(TS_STATUS_INFO_get0_text(si)), 1);
		assert_null(TS_RESP_get_token(resp));
		n = i2d_TS_RESP(resp, &again);
		assert_int_equal((size_t)n, b.len);
		assert_memory_equal(again, b.data, b.len);
		OPENSSL_free(again);
		again = NULL;
		TS_RESP_free(resp);
		buf_free(&b);
	}
	assert_string_equal(tsa_fail_name(TSA_FAIL_BAD_ALG), "badAlg");
	assert_string_equal(tsa_fail_name(TSA_FAIL_UNACCEPTED_POLICY), "unacceptedPolicy");
}

/* ---- serials ---- */

#define SER_THREADS 4
#define SER_EACH 500

struct serjob {
	struct tsa *t;
	uint64_t out[SER_EACH];
	int failed;
};

static void *
ser_worker(void *arg)
{
	struct serjob *j = arg;
	struct err e;
	int i;

	err_clear(&e);
	for (i = 0; i < SER_EACH; i++)
		if (tsa_serial_next(j->t, NULL, &j->out[i], &e) == -1)
			j->failed++;
	return NULL;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Two contexts on one store (two web processes, or before and after a restart), small
 * blocks, several threads each: every serial differs and none is 0.
 */
static void
test_serial_unique(void **state)
{
	struct fx *f = *state;
	struct tsa *t2 = NULL;
	struct serjob *jobs = calloc(2 * SER_THREADS, sizeof(*jobs));
	pthread_t th[2 * SER_THREADS];
	uint64_t *all = calloc(2 * SER_THREADS * SER_EACH + 1, sizeof(*all)), before = 0;
	struct store *st = NULL;
	struct err e;
	size_t i, n = 0;

	err_clear(&e);
	assert_non_null(jobs);
	conf_set(&f->ca->conf, "tsa.serial_block", "37");
	assert_int_equal(tsa_new(f->ca, &t2, &e), 0);
	conf_set(&f->ca->conf, "tsa.serial_block", "1000");
	assert_int_equal(ca_store_open(f->ca, &st, &e), 0);
	assert_int_equal(tsa_serial_next(t2, st, &before, &e), 0);
	for (i = 0; i < 2 * SER_THREADS; i++) {
		jobs[i].t = i % 2 ? t2 : f->tsa;
		assert_int_equal(pthread_create(&th[i], NULL, ser_worker, &jobs[i]), 0);
	}
	for (i = 0; i < 2 * SER_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(jobs[i].failed, 0);
		memcpy(all + n, jobs[i].out, sizeof(jobs[i].out));
		n += SER_EACH;
	}
	all[n++] = before;
	qsort(all, n, sizeof(*all), u64_cmp);
	assert_true(all[0] > 0);
	for (i = 1; i < n; i++)
		assert_true(all[i] != all[i - 1]);
	/* a "restarted" context starts after everything handed out so far */
	tsa_free(t2);
	t2 = NULL;
	assert_int_equal(tsa_new(f->ca, &t2, &e), 0);
	assert_int_equal(tsa_serial_next(t2, st, &before, &e), 0);
	assert_true(before > all[n - 1]);
	tsa_free(t2);
	store_close(st);
	free(all);
	free(jobs);
}

int
main(void)
{
	const struct CMUnitTest p256[] = {
	    cmocka_unit_test(test_parse_ok),
	    cmocka_unit_test(test_parse_fail),
	    cmocka_unit_test(test_reject),
	    cmocka_unit_test(test_policy),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_token_no_nonce),
	    cmocka_unit_test(test_token_wrong_data),
	    cmocka_unit_test(test_accuracy_ms),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_serial_unique),
	};
	const struct CMUnitTest other[] = {
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_token_no_nonce),
	};
	int rc = 0;

	log_init("test_tsa", 0);
	rc |= cmocka_run_group_tests_name("tsa p256", p256, setup_p256, teardown);
	rc |= cmocka_run_group_tests_name("tsa p384", other, setup_p384, teardown);
	rc |= cmocka_run_group_tests_name("tsa rsa2048", other, setup_rsa, teardown);
	return rc;
}
