/*
 * ACME rate limits and abuse resistance (issue 14 part 5): the pure parts — the validator's
 * address rule for tunnels and NAT64, the per-organization validation cap, the request
 * limiter's token buckets, DNS identifiers that look like IPv4 addresses, registered domains
 * by the Public Suffix List, Ed25519 account keys of small order — and the RA's counts on
 * SQLite and PostgreSQL: each limit under, at and past its count, the window sliding, the
 * Retry-After within the window, the events past their window purged.
 */
#include "testutil.h"
#include "tu_ca.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <sodium.h>

#include "acme/acme.h"
#include "ra/ra.h"
#include "util/b64.h"
#include "util/jws.h"

#define OK(x) assert_int_equal((x), 0)

static struct tu_ca fx;
static int want_pg;

/* acme_addr_public on a textual address. */
static int
addr_public(const char *text)
{
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;

	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	if (inet_pton(AF_INET, text, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		return acme_addr_public((const struct sockaddr *)&a4);
	}
	assert_int_equal(inet_pton(AF_INET6, text, &a6.sin6_addr), 1);
	a6.sin6_family = AF_INET6;
	return acme_addr_public((const struct sockaddr *)&a6);
}

/* 6to4 and Teredo are refused; NAT64's well-known prefix is judged by its IPv4 address. */
static void
test_addr_tunnels(void **state)
{
	static const char *const no[] = {
	    "2002:c000:204::1",			    /* 6to4 of 192.0.2.4 */
	    "2002:808:808::1",			    /* 6to4 of a public address: still refused */
	    "2002::",				    /* the prefix itself */
	    "2001:0:4136:e378:8000:63bf:3fff:fdd2", /* Teredo */
	    "2001::1",
	    "64:ff9b::7f00:1",	  /* NAT64 of 127.0.0.1 */
	    "64:ff9b::a00:1",	  /* of 10.0.0.1 */
	    "64:ff9b::c0a8:101",  /* of 192.168.1.1 */
	    "64:ff9b::a9fe:a9fe", /* of 169.254.169.254 */
	    "64:ff9b::",	  /* of 0.0.0.0 */
	    "64:ff9b:1::808:808", /* the local-use NAT64 prefix (RFC 8215) */
	};
	static const char *const yes[] = {
	    "64:ff9b::808:808", /* NAT64 of 8.8.8.8 */
	    "64:ff9b::850b:1",	/* of 133.11.0.1 */
	    "2001:4860::8888",	/* 2001:4860::/32 is not Teredo's 2001::/32 */
	    "2001:200:dff:fff1:216:3eff:feb1:44d7",
	    "2400:cb00::1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (addr_public(no[i]))
			fail_msg("%s is taken for public", no[i]);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!addr_public(yes[i]))
			fail_msg("%s is taken for private", yes[i]);
}

/* At most max validations of one organization; others, none and no cap are not held up. */
static void
test_org_slots(void **state)
{
	struct acme_org_slots s;

	(void)state;
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 3; i++)
		assert_int_equal(acme_org_slots_take(&s, 5, 3), ACME_SLOT_OK);
	assert_int_equal(acme_org_slots_take(&s, 5, 3), ACME_SLOT_ORG);
	assert_int_equal(acme_org_slots_take(&s, 6, 3), ACME_SLOT_OK);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(acme_org_slots_take(&s, 0, 3), ACME_SLOT_OK); /* no organization */
		assert_int_equal(acme_org_slots_take(&s, 5, 0), ACME_SLOT_OK); /* no cap */
	}
	acme_org_slots_put(&s, 5, 3);
	assert_int_equal(acme_org_slots_take(&s, 5, 3), ACME_SLOT_OK);
	assert_int_equal(acme_org_slots_take(&s, 5, 3), ACME_SLOT_ORG);
	for (int i = 0; i < 3; i++)
		acme_org_slots_put(&s, 5, 3);
	acme_org_slots_put(&s, 6, 3);
	for (int i = 0; i < ACME_VALIDATIONS_MAX; i++)
		assert_true(s.per[i].org == 0 && s.per[i].n == 0);
	/* as many organizations as validations, each its own entry */
	for (int64_t org = 1; org <= ACME_VALIDATIONS_MAX; org++)
		assert_int_equal(acme_org_slots_take(&s, org, 1), ACME_SLOT_OK);
	assert_int_equal(acme_org_slots_take(&s, 1, 1), ACME_SLOT_ORG);
}

/* The request limiter: a burst, then one a 1/rate seconds; Retry-After rounds up, >= 1. */
static void
test_buckets(void **state)
{
	static struct acme_buckets t;
	unsigned char a[16], b[16];

	(void)state;
	memset(&t, 0, sizeof(t));
	randombytes_buf(t.key, sizeof(t.key));
	inet_pton(AF_INET, "192.0.2.1", a);
	inet_pton(AF_INET, "192.0.2.2", b);
	for (int i = 0; i < 3; i++)
		assert_int_equal(acme_buckets_take(&t, a, 4, 10.0, 1, 3), 0);
	assert_int_equal(acme_buckets_take(&t, a, 4, 10.0, 1, 3), 1);
	assert_int_equal(acme_buckets_take(&t, b, 4, 10.0, 1, 3), 0); /* another address */
	assert_int_equal(acme_buckets_take(&t, a, 4, 10.5, 1, 3), 1);
	assert_int_equal(acme_buckets_take(&t, a, 4, 11.1, 1, 3), 0); /* a token again */
	assert_int_equal(acme_buckets_take(&t, a, 4, 11.2, 1, 3), 1);
	/* a slow rate: the wait is the time to one token, rounded up */
	assert_int_equal(acme_buckets_take(&t, b, 4, 10.0, 0.1, 1), 0);
	assert_int_equal(acme_buckets_take(&t, b, 4, 10.0, 0.1, 1), 10);
	/* IPv6 counts by its /64 */
	inet_pton(AF_INET6, "2001:db8:1:2::1", a);
	inet_pton(AF_INET6, "2001:db8:1:2:ffff::2", b);
	assert_int_equal(acme_buckets_take(&t, a, 16, 20.0, 1, 1), 0);
	assert_int_equal(acme_buckets_take(&t, b, 16, 20.0, 1, 1), 1);
	inet_pton(AF_INET6, "2001:db8:1:3::1", b);
	assert_int_equal(acme_buckets_take(&t, b, 16, 20.0, 1, 1), 0);
	/* a flood of addresses: the table forgets, never grows, and still answers */
	for (uint32_t i = 0; i < 50000; i++) {
		unsigned char c[4] = {10, (unsigned char)(i >> 16), (unsigned char)(i >> 8),
				      (unsigned char)i};

		assert_int_equal(acme_buckets_take(&t, c, 4, 30.0 + i * 1e-4, 1, 2), 0);
	}
}

/*
 * The second bucket of an IPv6 /48: one site spreading its requests over many /64s (each a
 * full bucket of its own) is stopped by its /48's; another /48 and IPv4 are not.
 */
static void
test_buckets_48(void **state)
{
	static struct acme_buckets t[2];
	struct ra_acme_limits lim;
	unsigned char a[16];
	int site = 0;

	(void)state;
	memset(t, 0, sizeof(t));
	randombytes_buf(t[0].key, sizeof(t[0].key));
	randombytes_buf(t[1].key, sizeof(t[1].key));
	memset(&lim, 0, sizeof(lim));
	lim.req_rate = 1;
	lim.req_burst = 2;
	lim.req_rate48 = 1;
	lim.req_burst48 = 10;
	/* 10 requests from 10 /64s of 2001:db8:7::/48 pass, the 11th (another /64) waits */
	for (int i = 0; i < 10; i++) {
		inet_pton(AF_INET6, "2001:db8:7::1", a);
		a[6] = (unsigned char)(i >> 8);
		a[7] = (unsigned char)i;
		assert_int_equal(acme_request_take(t, a, 16, 10.0, &lim, &site), 0);
		assert_int_equal(site, 0);
	}
	a[7] = 200;
	assert_int_equal(acme_request_take(t, a, 16, 10.0, &lim, &site), 1);
	assert_int_equal(site, 1);
	/* its own /64's bucket refuses first (the /48's is not asked) */
	inet_pton(AF_INET6, "2001:db8:8::1", a);
	assert_int_equal(acme_request_take(t, a, 16, 10.0, &lim, &site), 0);
	assert_int_equal(acme_request_take(t, a, 16, 10.0, &lim, &site), 0);
	assert_int_equal(acme_request_take(t, a, 16, 10.0, &lim, &site), 1);
	assert_int_equal(site, 0);
	/* another /48 has its own; a second later the site has a token again */
	inet_pton(AF_INET6, "2001:db8:9::1", a);
	assert_int_equal(acme_request_take(t, a, 16, 10.0, &lim, &site), 0);
	inet_pton(AF_INET6, "2001:db8:7:ff::1", a);
	assert_int_equal(acme_request_take(t, a, 16, 11.1, &lim, &site), 0);
	/* the /48 bucket off: only the /64's */
	lim.req_rate48 = 0;
	for (int i = 0; i < 20; i++) {
		inet_pton(AF_INET6, "2001:db8:7::1", a);
		a[6] = 1;
		a[7] = (unsigned char)i;
		assert_int_equal(acme_request_take(t, a, 16, 12.0, &lim, &site), 0);
	}
	/* IPv4 has no /48 */
	lim.req_rate48 = 1;
	lim.req_burst48 = 1;
	inet_pton(AF_INET, "192.0.2.9", a);
	assert_int_equal(acme_request_take(t, a, 4, 13.0, &lim, &site), 0);
	assert_int_equal(acme_request_take(t, a, 4, 13.0, &lim, &site), 0);
}

/* DNS identifiers in the forms resolvers take for IPv4 addresses. */
static void
test_dns_looks_ip(void **state)
{
	static const char *const yes[] = {"127.0.0.1",	     "0x7f.1", "2130706433", "017700000001",
					  "www.example.123", "a.0x1F", "1.2.3.4.",   "0x",
					  "10.0.0.0x0a"};
	static const char *const no[] = {
	    "www.example.ac.jp", "1.example.jp", "0xdead.example.jp", "x0.example", "a.b1",
	    "123.example-1.jp",	 "www.0xg"};

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!ra_acme_dns_looks_ip(yes[i]))
			fail_msg("%s is taken for a DNS name", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (ra_acme_dns_looks_ip(no[i]))
			fail_msg("%s is taken for an IP address", no[i]);
}

/* The registered domain by the Public Suffix List (Debian's publicsuffix). */
static void
test_reg_domain(void **state)
{
	static const char *const cases[][2] = {
	    {"www.cs.example.ac.jp", "example.ac.jp"},
	    {"example.ac.jp", "example.ac.jp"},
	    {"ac.jp", "ac.jp"}, /* a public suffix counts under itself */
	    {"www.example.com", "example.com"},
	    {"a.b.example.co.uk", "example.co.uk"},
	    {"www.city.chiyoda.tokyo.jp", "city.chiyoda.tokyo.jp"},
	};
	char out[RA_ACME_NAME_MAX];
	struct err e;

	(void)state;
	err_clear(&e);
	OK(ra_acme_psl_load(&e));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		OK(ra_acme_reg_domain(cases[i][0], out, sizeof(out)));
		if (strcmp(out, cases[i][1]) != 0)
			fail_msg("%s: %s, not %s", cases[i][0], out, cases[i][1]);
	}
	assert_int_equal(ra_acme_reg_domain("", out, sizeof(out)), -1);
	/* addresses have no registered domain (not their last two octets) */
	assert_int_equal(ra_acme_reg_domain("192.0.2.1", out, sizeof(out)), -1);
	assert_int_equal(ra_acme_reg_domain("2001:db8::1", out, sizeof(out)), -1);
	assert_int_equal(ra_acme_reg_domain("::ffff:10.0.2.1", out, sizeof(out)), -1);
	assert_int_equal(ra_acme_reg_domain("www.example.ac.jp", out, 5), -1);
}

/*
 * Ed25519 account keys that are points of small order (the well-known list: the identity,
 * the points of order 2, 4 and 8, their non-canonical encodings) are refused as badPublicKey
 * (JWS_FAIL_KEY); a real key is taken.  The canonical ones are shown to be of small order:
 * eight times the point is the identity.
 */
static void
test_ed25519_small_order(void **state)
{
	static const unsigned char pts[][32] = {
	    {0x00}, /* (0, 1)... y = 0: order 4 */
	    {0x01}, /* y = 1: the identity, order 1 */
	    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
	     0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
	     0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05}, /* order 8 */
	    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
	     0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
	     0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a}, /* order 8 */
	    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* y = p - 1: order 2 */
	    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
	     0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
	     0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x85}, /* its negative */
	    {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* y = p: 0 */
	    {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* y = p + 1: 1 */
	    {0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	     0,	   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80}, /* the identity, sign bit set */
	    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
	     0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
	     0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0xfa}, /* order 8, negative */
	};
	static const unsigned char identity[32] = {0x01};
	unsigned char p2[32], p4[32], p8[32], pk[32], sk[64];
	char x[64];
	EVP_PKEY *out = NULL;
	json_t *j;
	struct err e;

	(void)state;
	OK(sodium_init() < 0);
	for (size_t i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
		if (i < 6) { /* the canonical ones: 8P = O */
			OK(crypto_core_ed25519_add(p2, pts[i], pts[i]));
			OK(crypto_core_ed25519_add(p4, p2, p2));
			OK(crypto_core_ed25519_add(p8, p4, p4));
			if (memcmp(p8, identity, 32) != 0)
				fail_msg("point %zu is not of small order", i);
		}
		OK(b64url_encode(x, sizeof(x), pts[i], 32));
		j = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x);
		err_clear(&e);
		if (jwk_key(j, &out, &e) != -1 || e.kind != JWS_FAIL_KEY)
			fail_msg("point %zu: taken as an account key (%s)", i, e.msg);
		json_decref(j);
	}
	crypto_sign_keypair(pk, sk);
	OK(b64url_encode(x, sizeof(x), pk, 32));
	j = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x);
	err_clear(&e);
	OK(jwk_key(j, &out, &e));
	EVP_PKEY_free(out);
	json_decref(j);
	sodium_memzero(sk, sizeof(sk));
}

/* ---- the RA's counts on both backends ---- */

static int
setup(void **state)
{
	struct err e;

	(void)state;
	err_clear(&e);
	tu_ca_open(&fx, want_pg, "test_acme_limits");
	if (ra_acme_psl_load(&e) == -1)
		fail_msg("psl: %s", e.msg);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_ca_close(&fx);
	return 0;
}

/* An account row (no binding) for the counts; its id. */
static int64_t
account_add(const char *addr)
{
	struct store_acme_account a;
	struct err e;

	err_clear(&e);
	memset(&a, 0, sizeof(a));
	randombytes_buf(a.thumb, sizeof(a.thumb));
	a.jwk = "{}";
	a.created = util_now();
	OK(store_acme_account_add(fx.st, &a, &e));
	if (addr != NULL)
		OK(store_acme_account_set_addr(fx.st, a.id, addr, &e));
	return a.id;
}

/* Each limit: under it OK; at it RATE_LIMITED naming it, Retry-After within the window. */
static void
test_limits(void **state)
{
	struct ra_acme_limits lim;
	struct ra_acme_limited hit;
	struct ra_acme_account acct;
	struct ra_acme_ident ids[2];
	struct store_acme_order o;
	const char *names[] = {"www.example.ac.jp", "mail.Example.ac.jp", "www.other.ac.jp"};
	time_t now = util_now();
	struct err e;

	(void)state;
	err_clear(&e);
	memset(&lim, 0, sizeof(lim));
	memset(&acct, 0, sizeof(acct));
	memset(ids, 0, sizeof(ids));
	for (int i = 0; i < RA_ACME_LIMIT__MAX; i++)
		lim.window[i] = 3600;
	lim.max[RA_ACME_LIMIT_ORDERS] = 2;
	lim.max[RA_ACME_LIMIT_CERTS] = 2;
	lim.max[RA_ACME_LIMIT_FAILED] = 2;
	lim.max[RA_ACME_LIMIT_ACCOUNTS] = 2;
	snprintf(ids[0].type, sizeof(ids[0].type), "dns");
	snprintf(ids[0].value, sizeof(ids[0].value), "WWW.example.ac.jp");
	snprintf(ids[1].type, sizeof(ids[1].type), "dns");
	snprintf(ids[1].value, sizeof(ids[1].value), "www.third.ac.jp");

	/* accounts per address: two from 192.0.2.7, the third refused; another address not */
	assert_int_equal(ra_acme_limit_account(fx.st, &lim, "192.0.2.7", &hit, &e), RA_ACME_OK);
	account_add("192.0.2.7");
	acct.id = account_add("192.0.2.7");
	assert_int_equal(ra_acme_limit_account(fx.st, &lim, "192.0.2.7", &hit, &e),
			 RA_ACME_RATE_LIMITED);
	assert_int_equal(hit.which, RA_ACME_LIMIT_ACCOUNTS);
	assert_true(hit.retry_after >= 3590 && hit.retry_after <= 3600);
	assert_non_null(strstr(hit.detail, "acme.accounts_per_address"));
	err_clear(&e);
	assert_int_equal(ra_acme_limit_account(fx.st, &lim, "192.0.2.8", &hit, &e), RA_ACME_OK);

	/* orders per account */
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 2, 0, &hit, &e), RA_ACME_OK);
	for (int i = 0; i < 2; i++) {
		memset(&o, 0, sizeof(o));
		o.account_id = acct.id;
		o.identifiers = "[]";
		o.expires = now + 3600;
		o.created = now - 600 * (i + 1); /* 10 and 20 minutes ago */
		OK(store_acme_order_add(fx.st, &o, &e));
	}
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 2, 0, &hit, &e),
			 RA_ACME_RATE_LIMITED);
	assert_int_equal(hit.which, RA_ACME_LIMIT_ORDERS);
	/* the oldest (20 minutes ago) leaves the window in 40 minutes */
	assert_true(hit.retry_after >= 2390 && hit.retry_after <= 2400);
	lim.max[RA_ACME_LIMIT_ORDERS] = 0; /* off */
	err_clear(&e);
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 2, 0, &hit, &e), RA_ACME_OK);

	/* certificates per registered domain of an organization: each certificate once per
	 * domain; another organization's certificates under the domain do not count (0029) */
	acct.org_id = 7;
	OK(ra_acme_limit_record_cert(fx.st, 8, acct.id, names, 3, "01AA", &e));
	OK(ra_acme_limit_record_cert(fx.st, 8, acct.id, names, 3, "01A9", &e));
	OK(ra_acme_limit_record_cert(fx.st, 7, acct.id, names, 3, "01AB", &e));
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 2, 0, &hit, &e), RA_ACME_OK);
	OK(ra_acme_limit_record_cert(fx.st, 7, acct.id, names, 1, "01AC", &e));
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 2, 0, &hit, &e),
			 RA_ACME_RATE_LIMITED);
	assert_int_equal(hit.which, RA_ACME_LIMIT_CERTS);
	assert_non_null(strstr(hit.detail, "example.ac.jp"));
	assert_true(hit.retry_after >= 1 && hit.retry_after <= 3600);
	acct.org_id = 9; /* an organization with none */
	err_clear(&e);
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 2, 0, &hit, &e), RA_ACME_OK);
	acct.org_id = 7;
	/* other.ac.jp has one; third.ac.jp none */
	snprintf(ids[0].value, sizeof(ids[0].value), "a.b.other.ac.jp");
	err_clear(&e);
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 2, 0, &hit, &e), RA_ACME_OK);

	/* failed validations per name of an account: one outside the window does not count;
	 * another account's failures of the name do not count (0029) */
	OK(store_acme_failed_add(fx.st, "www.third.ac.jp", acct.id, now - 4000, &e));
	OK(store_acme_failed_add(fx.st, "www.third.ac.jp", acct.id, now - 100, &e));
	for (int i = 0; i < 3; i++)
		OK(store_acme_failed_add(fx.st, "www.third.ac.jp", acct.id + 1000, now - 10, &e));
	assert_int_equal(ra_acme_limit_name(fx.st, &lim, acct.id, "www.third.ac.jp", &hit, &e),
			 RA_ACME_OK);
	OK(store_acme_failed_add(fx.st, "www.third.ac.jp", acct.id, now - 50, &e));
	assert_int_equal(ra_acme_limit_name(fx.st, &lim, acct.id, "www.third.ac.jp", &hit, &e),
			 RA_ACME_RATE_LIMITED);
	assert_int_equal(hit.which, RA_ACME_LIMIT_FAILED);
	assert_true(hit.retry_after >= 3490 && hit.retry_after <= 3500);
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 2, 0, &hit, &e),
			 RA_ACME_RATE_LIMITED);
	assert_int_equal(hit.which, RA_ACME_LIMIT_FAILED);
	err_clear(&e);
	assert_int_equal(ra_acme_limit_name(fx.st, &lim, acct.id, "www.fourth.ac.jp", &hit, &e),
			 RA_ACME_OK);
	/* the other account (whose failures are many) is stopped, not this one's next order */
	assert_int_equal(
	    ra_acme_limit_name(fx.st, &lim, acct.id + 1000, "www.third.ac.jp", &hit, &e),
	    RA_ACME_RATE_LIMITED);
}

/*
 * Addresses count per address (IPv6: per /64), never exempt; a renewal (replaces, or the
 * account's same set of names within the window) is exempt from the certificates per domain,
 * another account's same set is not.
 */
static void
test_limits_renewal_ip(void **state)
{
	struct ra_acme_limits lim;
	struct ra_acme_limited hit;
	struct ra_acme_account acct, other;
	struct ra_acme_ident ids[2];
	const char *names[] = {"a.ren.ac.jp", "b.ren.ac.jp"};
	const char *v6[] = {"2001:db8:1:2::5"};
	struct store_acme_order o;
	char key[RA_ACME_NAME_MAX];
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(ra_acme_ip_limit_key("192.0.2.1", key, sizeof(key)), 0);
	assert_string_equal(key, "ip:192.0.2.1");
	assert_int_equal(ra_acme_ip_limit_key("2001:db8:1:2:3::4", key, sizeof(key)), 0);
	assert_string_equal(key, "ip:2001:db8:1:2::/64");
	assert_int_equal(ra_acme_ip_limit_key("www.example.org", key, sizeof(key)), -1);
	assert_int_equal(ra_acme_ip_limit_key("192.0.2.1", key, 8), -1);

	memset(&lim, 0, sizeof(lim));
	memset(&acct, 0, sizeof(acct));
	memset(&other, 0, sizeof(other));
	memset(ids, 0, sizeof(ids));
	for (int i = 0; i < RA_ACME_LIMIT__MAX; i++)
		lim.window[i] = 3600;
	lim.max[RA_ACME_LIMIT_CERTS] = 1;
	lim.max[RA_ACME_LIMIT_IP_CERTS] = 1;
	acct.id = account_add(NULL);
	other.id = account_add(NULL);
	OK(ra_acme_limit_record_cert(fx.st, acct.org_id, acct.id, names, 2, "0C01", &e));
	/* the same names (any order and case): a renewal, exempt */
	snprintf(ids[0].type, sizeof(ids[0].type), "dns");
	snprintf(ids[0].value, sizeof(ids[0].value), "B.ren.ac.jp");
	snprintf(ids[1].type, sizeof(ids[1].type), "dns");
	snprintf(ids[1].value, sizeof(ids[1].value), "a.ren.ac.jp");
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 2, 0, &hit, &e), RA_ACME_OK);
	/* another account's same names, or fewer names: counted */
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &other, ids, 2, 0, &hit, &e),
			 RA_ACME_RATE_LIMITED);
	assert_int_equal(hit.which, RA_ACME_LIMIT_CERTS);
	err_clear(&e);
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 1, 0, &hit, &e),
			 RA_ACME_RATE_LIMITED);
	err_clear(&e);
	/* replaces: exempt whatever the names */
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 1, 1, &hit, &e), RA_ACME_OK);

	/* addresses: an IPv6 /64 counts as one, even for a renewal */
	OK(ra_acme_limit_record_cert(fx.st, acct.org_id, acct.id, v6, 1, "0C02", &e));
	snprintf(ids[0].type, sizeof(ids[0].type), "ip");
	snprintf(ids[0].value, sizeof(ids[0].value), "2001:db8:1:2::9");
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 1, 1, &hit, &e),
			 RA_ACME_RATE_LIMITED);
	assert_int_equal(hit.which, RA_ACME_LIMIT_IP_CERTS);
	assert_non_null(strstr(hit.detail, "acme.certs_per_ip"));
	assert_non_null(strstr(hit.detail, "2001:db8:1:2::/64"));
	err_clear(&e);
	snprintf(ids[0].value, sizeof(ids[0].value), "2001:db8:1:3::9");
	assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 1, 0, &hit, &e), RA_ACME_OK);

	/* new orders per account: a renewal passes the limit, not twice it */
	lim.max[RA_ACME_LIMIT_ORDERS] = 1;
	for (int i = 0; i < 2; i++) {
		memset(&o, 0, sizeof(o));
		o.account_id = acct.id;
		o.identifiers = "[]";
		o.expires = util_now() + 3600;
		o.created = util_now() - 60;
		OK(store_acme_order_add(fx.st, &o, &e));
		assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 1, 0, &hit, &e),
				 RA_ACME_RATE_LIMITED);
		assert_int_equal(hit.which, RA_ACME_LIMIT_ORDERS);
		err_clear(&e);
		assert_int_equal(ra_acme_limit_order(fx.st, &lim, &acct, ids, 1, 1, &hit, &e),
				 i == 0 ? RA_ACME_OK : RA_ACME_RATE_LIMITED);
		err_clear(&e);
	}
}

/* Events past their window are purged (once a minute per process); the others stay counted. */
static void
test_purge(void **state)
{
	struct ra_acme_limits lim;
	struct ra_acme_limited hit;
	const char *names[] = {"www.purge.ac.jp"};
	time_t now = util_now(), oldest;
	int64_t n = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	memset(&lim, 0, sizeof(lim));
	for (int i = 0; i < RA_ACME_LIMIT__MAX; i++) {
		lim.window[i] = 3600;
		lim.max[i] = 10;
	}
	OK(store_acme_failed_add(fx.st, "www.purge.ac.jp", 1, now - 7200, &e));
	OK(store_acme_failed_add(fx.st, "www.purge.ac.jp", 1, now - 60, &e));
	OK(store_acme_cert_domain_add(fx.st, 3, "purge.ac.jp", "0A", now - 7200, &e));
	OK(ra_acme_limit_record_cert(fx.st, 3, 1, names, 1, "0B", &e));
	/* a minute after any earlier purge of this process (the SQLite run's, for PostgreSQL) */
	ra_acme_limit_purge(fx.st, &lim, now + (want_pg ? 1000 : 120));
	OK(store_acme_limit_count(fx.st, STORE_ACME_LIMIT_FAILED, "www.purge.ac.jp", 1, 0, 100, &n,
				  &oldest, &e));
	assert_int_equal(n, 1);
	assert_int_equal(oldest, now - 60);
	OK(store_acme_limit_count(fx.st, STORE_ACME_LIMIT_CERTS, "purge.ac.jp", 3, 0, 100, &n,
				  &oldest, &e));
	assert_int_equal(n, 1);
	/* not again within the minute */
	OK(store_acme_failed_add(fx.st, "www.purge.ac.jp", 1, now - 7200, &e));
	ra_acme_limit_purge(fx.st, &lim, now + (want_pg ? 1030 : 150));
	OK(store_acme_limit_count(fx.st, STORE_ACME_LIMIT_FAILED, "www.purge.ac.jp", 1, 0, 100, &n,
				  &oldest, &e));
	assert_int_equal(n, 2);
	/* the count in the window is what it was */
	assert_int_equal(ra_acme_limit_name(fx.st, &lim, 1, "www.purge.ac.jp", &hit, &e),
			 RA_ACME_OK);
}

/* The configuration: defaults, 0 turns a count off, a bad value is refused by its key. */
static void
test_limits_conf(void **state)
{
	struct ra_acme_limits lim;
	struct conf c;
	struct err e;

	(void)state;
	err_clear(&e);
	memset(&c, 0, sizeof(c));
	OK(ra_acme_limits_conf(&c, &lim, &e));
	assert_int_equal(lim.max[RA_ACME_LIMIT_FAILED], 5);
	assert_int_equal(lim.window[RA_ACME_LIMIT_FAILED], 3600);
	assert_true(lim.max[RA_ACME_LIMIT_ORDERS] > 0 && lim.max[RA_ACME_LIMIT_CERTS] > 0 &&
		    lim.max[RA_ACME_LIMIT_ACCOUNTS] > 0 && lim.req_rate > 0 &&
		    lim.validations_per_org > 0);
	conf_set(&c, "acme.certs_per_domain", "0");
	conf_set(&c, "acme.orders_per_account_window", "60");
	OK(ra_acme_limits_conf(&c, &lim, &e));
	assert_int_equal(lim.max[RA_ACME_LIMIT_CERTS], 0);
	assert_int_equal(lim.window[RA_ACME_LIMIT_ORDERS], 60);
	conf_free(&c);
	memset(&c, 0, sizeof(c));
	conf_set(&c, "acme.failed_validations_window", "0");
	assert_int_equal(ra_acme_limits_conf(&c, &lim, &e), -1);
	assert_non_null(strstr(e.msg, "acme.failed_validations_window"));
	conf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_addr_tunnels),
	    cmocka_unit_test(test_org_slots),
	    cmocka_unit_test(test_buckets),
	    cmocka_unit_test(test_buckets_48),
	    cmocka_unit_test(test_dns_looks_ip),
	    cmocka_unit_test(test_reg_domain),
	    cmocka_unit_test(test_ed25519_small_order),
	    cmocka_unit_test(test_limits_conf),
	};
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_limits_renewal_ip),
	    cmocka_unit_test(test_purge),
	};
	int failed = cmocka_run_group_tests_name("acme limits", pure, NULL, NULL);

	failed += cmocka_run_group_tests_name("acme limits on SQLite", stored, setup, teardown);
	if (tu_pg() == NULL) {
		print_message("SHOMEI_TEST_PG is not set: PostgreSQL skipped "
			      "(run through scripts/with-pg.sh)\n");
		return failed;
	}
	want_pg = 1;
	return failed +
	       cmocka_run_group_tests_name("acme limits on PostgreSQL", stored, setup, teardown);
}
