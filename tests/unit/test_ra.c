/*
 * ra unit tests: signed self-service requests — RFC 3339 times, the strict parser, the three
 * signature outcomes told apart (certificates and requests made here with OpenSSL), and the
 * seed corpus of the fuzz target.
 */
#include "testutil.h"

#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ra/ra.h"
#include "util/timefmt.h"

/* RFC 3339 parse of a C string (src/util/timefmt.h). */
static int
rfc3339_parse(const char *s, time_t *t)
{
	return timefmt_rfc3339_parse(s, strlen(s), t);
}

#define OK(x) assert_int_equal((x), 0)

static EVP_PKEY *
t_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_non_null(k);
	return k;
}

/* A certificate for key named cn, issued by issuer_cn with issuer_key. */
static X509 *
t_cert(const char *cn, EVP_PKEY *key, const char *issuer_cn, EVP_PKEY *issuer_key, long serial)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new(), *in = X509_NAME_new();

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_NAME_add_entry_by_txt(in, "CN", MBSTRING_UTF8, (const unsigned char *)issuer_cn, -1,
				   -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, in);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	X509_NAME_free(in);
	return x;
}

static void
test_time(void **state)
{
	time_t t;
	char s[32];

	OK(rfc3339_parse("2026-11-21T19:05:14Z", &t));
	assert_int_equal((long long)t, 1795287914LL);
	timefmt_rfc3339(t, s, sizeof(s));
	assert_string_equal(s, "2026-11-21T19:05:14Z");
	OK(rfc3339_parse("2026-11-22t04:05:14.123456+09:00", &t));
	assert_int_equal((long long)t, 1795287914LL);
	assert_int_equal(rfc3339_parse("2026-11-21T18:05:14-01:00z", &t), -1);
	OK(rfc3339_parse("2024-02-29T00:00:00z", &t));
	assert_int_equal(rfc3339_parse("2026-02-29T00:00:00Z", &t), -1);
	assert_int_equal(rfc3339_parse("2026-11-21 19:05:14Z", &t), -1);
	assert_int_equal(rfc3339_parse("2026-11-21T19:05:14", &t), -1);
	assert_int_equal(rfc3339_parse("2026-11-21T19:05:14.Z", &t), -1);
	assert_int_equal(rfc3339_parse("2026-11-21T24:00:00Z", &t), -1);
	assert_int_equal(rfc3339_parse("1969-12-31T23:59:59Z", &t), -1);
	assert_int_equal(rfc3339_parse("2026-11-21T19:05:14+0900", &t), -1);
	assert_int_equal(rfc3339_parse("", &t), -1);
}

struct pki {
	EVP_PKEY *cak, *fakek, *k, *k2;
	X509 *ca, *fakeca, *leaf, *rogue, *foreign;
};

static void
pki_make(struct pki *p)
{
	memset(p, 0, sizeof(*p));
	p->cak = t_key();
	p->fakek = t_key();
	p->k = t_key();
	p->k2 = t_key();
	p->ca = t_cert("Test CA", p->cak, "Test CA", p->cak, 1);
	p->fakeca = t_cert("Test CA", p->fakek, "Test CA", p->fakek, 1);
	p->leaf = t_cert("holder", p->k, "Test CA", p->cak, 0x1234);
	p->rogue = t_cert("holder", p->k, "Test CA", p->fakek, 0x1234);
	p->foreign = t_cert("holder", p->k, "Other CA", p->fakek, 0x1234);
}

static void
pki_free(struct pki *p)
{
	EVP_PKEY_free(p->cak);
	EVP_PKEY_free(p->fakek);
	EVP_PKEY_free(p->k);
	EVP_PKEY_free(p->k2);
	X509_free(p->ca);
	X509_free(p->fakeca);
	X509_free(p->leaf);
	X509_free(p->rogue);
	X509_free(p->foreign);
}

/* Builds, parses and verifies; returns the outcome (RA_ONLINE_MALFORMED when it does not parse). */
static enum ra_online_result
roundtrip(X509 *cert, EVP_PKEY *key, enum ra_online_type type, enum ra_online_type want, X509 *ca,
	  const char *reason, struct ra_online_req *keep)
{
	struct ra_online_req r;
	struct buf b;
	struct err e;
	X509 *cas[1] = {ca};
	enum ra_online_result res = RA_ONLINE_MALFORMED;

	err_clear(&e);
	buf_init(&b, RA_ONLINE_BODY_MAX);
	OK(ra_online_request_build(type, cert, key, reason, 0, NULL, &b, &e));
	if (ra_online_parse(b.data, b.len, want, &r, &e) == 0)
		res = ra_online_verify(&r, cas, 1, &e);
	else
		assert_int_equal(e.code, ERR_REFUSED);
	if (keep != NULL && res != RA_ONLINE_MALFORMED)
		*keep = r;
	else
		ra_online_req_free(&r);
	buf_free(&b);
	assert_int_equal(ERR_peek_error(), 0);
	return res;
}

static void
test_outcomes(void **state)
{
	struct pki p;
	struct ra_online_req r;

	pki_make(&p);
	assert_int_equal(
	    roundtrip(p.leaf, p.k, RA_ONLINE_REVOKE, RA_ONLINE_REVOKE, p.ca, "keyCompromise", &r),
	    RA_ONLINE_ACCEPTED);
	assert_string_equal(r.serial, "1234");
	assert_int_equal(r.type, RA_ONLINE_REVOKE);
	assert_int_equal(r.reason, 1);
	assert_int_equal(strlen(r.nonce), 32);
	assert_true(llabs((long long)(r.time - time(NULL))) < 5);
	ra_online_req_free(&r);
	assert_int_equal(roundtrip(p.leaf, p.k, RA_ONLINE_REVOKE, RA_ONLINE_REVOKE, p.ca, NULL, &r),
			 RA_ONLINE_ACCEPTED);
	assert_int_equal(r.reason, 5); /* cessationOfOperation */
	ra_online_req_free(&r);
	assert_int_equal(roundtrip(p.leaf, p.k, RA_ONLINE_STATUS, RA_ONLINE_STATUS, p.ca, NULL, &r),
			 RA_ONLINE_ACCEPTED);
	assert_int_equal(r.reason, -1);
	ra_online_req_free(&r);
	/* the endpoint decides the type; reasons are the holder's five */
	assert_int_equal(
	    roundtrip(p.leaf, p.k, RA_ONLINE_STATUS, RA_ONLINE_REVOKE, p.ca, NULL, NULL),
	    RA_ONLINE_MALFORMED);
	assert_int_equal(
	    roundtrip(p.leaf, p.k, RA_ONLINE_REVOKE, RA_ONLINE_REVOKE, p.ca, "cACompromise", NULL),
	    RA_ONLINE_MALFORMED);
	assert_int_equal(
	    roundtrip(p.leaf, p.k, RA_ONLINE_STATUS, RA_ONLINE_STATUS, p.ca, "superseded", NULL),
	    RA_ONLINE_MALFORMED);
	/* our name, another key; another name; our CA but the CMS made with another key */
	assert_int_equal(
	    roundtrip(p.rogue, p.k, RA_ONLINE_STATUS, RA_ONLINE_STATUS, p.ca, NULL, NULL),
	    RA_ONLINE_CERT_SIGNATURE_INVALID);
	assert_int_equal(
	    roundtrip(p.leaf, p.k, RA_ONLINE_STATUS, RA_ONLINE_STATUS, p.fakeca, NULL, NULL),
	    RA_ONLINE_CERT_SIGNATURE_INVALID);
	assert_int_equal(
	    roundtrip(p.foreign, p.k, RA_ONLINE_STATUS, RA_ONLINE_STATUS, p.ca, NULL, NULL),
	    RA_ONLINE_ISSUER_UNKNOWN);
	pki_free(&p);
}

/*
 * A request signed with another key than the included certificate's: made by a certificate
 * with the same issuer and serial (so the SignerInfo names the included one) and key k2.
 */
static void
test_request_signature(void **state)
{
	struct pki p;
	struct ra_online_req r;
	struct err e;
	X509 *cas[1], *leaf2;
	CMS_ContentInfo *cms;
	unsigned char *der = NULL;
	char json[256], t[32];
	BIO *in;
	int n;

	pki_make(&p);
	cas[0] = p.ca;
	err_clear(&e);
	leaf2 = t_cert("holder", p.k2, "Test CA", p.cak, 0x1234);
	timefmt_rfc3339(time(NULL), t, sizeof(t));
	snprintf(json, sizeof(json),
		 "{\"type\":\"status\",\"serial\":\"1234\",\"time\":\"%s\","
		 "\"nonce\":\"0123456789abcdef0123\"}",
		 t);
	assert_non_null(in = BIO_new_mem_buf(json, (int)strlen(json)));
	assert_non_null(cms = CMS_sign(leaf2, p.k2, NULL, in, CMS_BINARY | CMS_NOCERTS));
	assert_int_equal(CMS_add1_cert(cms, p.leaf), 1);
	n = i2d_CMS_ContentInfo(cms, &der);
	assert_true(n > 0);
	OK(ra_online_parse(der, (size_t)n, RA_ONLINE_STATUS, &r, &e));
	assert_int_equal(ra_online_verify(&r, cas, 1, &e), RA_ONLINE_REQUEST_SIGNATURE_INVALID);
	assert_int_equal(ERR_peek_error(), 0);
	ra_online_req_free(&r);
	/* the same with leaf2 included is fine: the swap is what broke it */
	OPENSSL_free(der);
	der = NULL;
	assert_int_equal(CMS_add1_cert(cms, leaf2), 1);
	n = i2d_CMS_ContentInfo(cms, &der);
	/* two certificates match the SignerInfo (same issuer and serial): refused as malformed */
	assert_int_equal(ra_online_parse(der, (size_t)n, RA_ONLINE_STATUS, &r, &e), -1);
	ra_online_req_free(&r);
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	X509_free(leaf2);
	pki_free(&p);
}

/* The fuzz corpus: bad-* seeds are malformed, the others parse. */
static void
test_corpus(void **state)
{
	static const struct {
		const char *name;
		int ok;
		enum ra_online_type type;
	} seeds[] = {
	    {"revoke.der", 1, RA_ONLINE_REVOKE},	{"revoke-chain.der", 1, RA_ONLINE_REVOKE},
	    {"revoke-indef.der", 1, RA_ONLINE_REVOKE},	{"status.pem", 1, RA_ONLINE_STATUS},
	    {"status-noattr.der", 1, RA_ONLINE_STATUS}, {"bad-dup.der", 0, RA_ONLINE_REVOKE},
	    {"bad-json.der", 0, RA_ONLINE_REVOKE},	{"bad-detached.der", 0, RA_ONLINE_REVOKE},
	    {"bad-truncated.der", 0, RA_ONLINE_REVOKE}, {"status-pkcs7.pem", 1, RA_ONLINE_STATUS},
	    {"bad-label.pem", 0, RA_ONLINE_STATUS},	{"status.pem", 0, RA_ONLINE_REVOKE},
	};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct ra_online_req r;
		struct buf b;
		struct err e;
		char *path = xasprintf("tests/fuzz/corpus/online/%s", seeds[i].name);
		int rc;

		err_clear(&e);
		buf_init(&b, RA_ONLINE_BODY_MAX);
		OK(util_read_file(path, RA_ONLINE_BODY_MAX, &b, &e));
		rc = ra_online_parse(b.data, b.len, seeds[i].type, &r, &e);
		if (seeds[i].ok) {
			if (rc != 0)
				fail_msg("%s: %s", seeds[i].name, e.msg);
			assert_string_equal(r.serial, "0123456789ABCDEF");
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(e.code, ERR_REFUSED);
		}
		ra_online_req_free(&r);
		buf_free(&b);
		free(path);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_time),
	    cmocka_unit_test(test_outcomes),
	    cmocka_unit_test(test_request_signature),
	    cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests_name("ra", tests, NULL, NULL);
}
