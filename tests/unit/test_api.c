/*
 * Unit tests of the REST API's pure parts: JSON request bodies, query parameters, Accept,
 * RFC 3339, the Bearer credential and the problem types.  API keys and certificates as the
 * API sees them are the RA's: tests/unit/test_ra_api.c tests them on both backends.
 */
#include "testutil.h"

#include "api/api.h"
#include "ca/ca.h"
#include "util/timefmt.h"

/* RFC 3339 parse of a C string (src/util/timefmt.h). */
static int
rfc3339_parse(const char *s, time_t *t)
{
	return timefmt_rfc3339_parse(s, strlen(s), t);
}

#define S(x) (const unsigned char *)(x), strlen(x)

static const char csr_pem[] = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE "
			      "REQUEST-----\n";

/* A JSON issue body with the given extra members (may be ""). */
static char *
issue_body(const char *profile, const char *extra)
{
	return xasprintf("{\"profile\": \"%s\", \"csr\": \"-----BEGIN CERTIFICATE REQUEST-----\\n"
			 "AAAA\\n-----END CERTIFICATE REQUEST-----\\n\"%s}",
			 profile, extra);
}

/* Parses body as an issue request and checks the problem kind (API_PROB_NONE: success). */
static void
issue_expect(const char *body, enum api_prob want)
{
	struct api_issue_req q;
	struct api_error ae;
	int rc;

	api_error_clear(&ae);
	rc = api_issue_req_parse(S(body), &q, &ae);
	if (want == API_PROB_NONE) {
		if (rc != 0)
			fail_msg("%s: refused: %s", body, ae.detail);
	} else {
		if (rc != -1 || ae.prob != want)
			fail_msg("%s: want problem %d, got rc %d problem %d (%s)", body, want, rc,
				 ae.prob, ae.detail);
		assert_true(ae.detail[0] != '\0');
		assert_null(q.profile);
		assert_null(q.csr);
	}
	api_issue_req_clear(&q);
}

static void
t_issue_ok(void **state)
{
	struct api_issue_req q;
	struct api_error ae;
	char *b = issue_body("server", ", \"days\": 90");

	(void)state;
	api_error_clear(&ae);
	assert_int_equal(api_issue_req_parse(S(b), &q, &ae), 0);
	assert_string_equal(q.profile, "server");
	assert_int_equal(q.csrlen, strlen(csr_pem));
	assert_memory_equal(q.csr, csr_pem, q.csrlen);
	assert_int_equal(q.days, 90);
	api_issue_req_clear(&q);
	assert_null(q.profile);
	free(b);

	b = issue_body("client", "");
	issue_expect(b, API_PROB_NONE);
	free(b);
	b = issue_body("codesign", "");
	issue_expect(b, API_PROB_NONE);
	free(b);
	/* member order does not matter; whitespace is fine */
	issue_expect("\n{ \"csr\" : \"x\" ,\n \"profile\":\"server\" }\n", API_PROB_NONE);
}

static void
t_issue_refusals(void **state)
{
	char *b;
	char *big;
	size_t i;

	(void)state;
	/* malformed */
	issue_expect("", API_PROB_MALFORMED_JSON);
	issue_expect("{", API_PROB_MALFORMED_JSON);
	issue_expect("{\"profile\": \"server\",}", API_PROB_MALFORMED_JSON);
	issue_expect("{\"profile\": \"server\"} trailing", API_PROB_MALFORMED_JSON);
	issue_expect("\"server\"", API_PROB_MALFORMED_JSON);
	issue_expect("{\"profile\": \"\xff\xfe\", \"csr\": \"x\"}", API_PROB_MALFORMED_JSON);
	issue_expect("{\"profile\": \"ser\\u0000ver\", \"csr\": \"x\"}", API_PROB_MALFORMED_JSON);
	issue_expect("[]", API_PROB_INVALID_REQUEST);
	/* depth: 8 levels pass the pre-scan (then fail as unknown member), 9 do not */
	issue_expect("{\"profile\": \"server\", \"csr\": \"x\", \"a\": [[[[[[[1]]]]]]]}",
		     API_PROB_UNKNOWN_FIELD);
	issue_expect("{\"a\": [[[[[[[[1]]]]]]]]}", API_PROB_MALFORMED_JSON);
	/* brackets inside strings do not count */
	issue_expect("{\"profile\": \"server\", \"csr\": \"[[[[[[[[[[[[{{{{{{{\\\"[[[[[[\"}",
		     API_PROB_NONE);
	/* duplicates */
	issue_expect("{\"profile\": \"server\", \"profile\": \"server\", \"csr\": \"x\"}",
		     API_PROB_DUPLICATE_KEY);
	issue_expect("{\"profile\": \"server\", \"csr\": \"x\", \"csr\": \"y\"}",
		     API_PROB_DUPLICATE_KEY);
	/* unknown members */
	b = issue_body("server", ", \"Days\": 3");
	issue_expect(b, API_PROB_UNKNOWN_FIELD);
	free(b);
	/* types and values */
	issue_expect("{\"profile\": 1, \"csr\": \"x\"}", API_PROB_INVALID_REQUEST);
	issue_expect("{\"profile\": null, \"csr\": \"x\"}", API_PROB_INVALID_REQUEST);
	issue_expect("{\"profile\": [\"server\"], \"csr\": \"x\"}", API_PROB_INVALID_REQUEST);
	issue_expect("{\"profile\": \"server\", \"csr\": {}}", API_PROB_INVALID_REQUEST);
	issue_expect("{\"profile\": \"server\"}", API_PROB_INVALID_REQUEST);
	issue_expect("{\"csr\": \"x\"}", API_PROB_INVALID_REQUEST);
	issue_expect("{\"profile\": \"\", \"csr\": \"x\"}", API_PROB_INVALID_REQUEST);
	issue_expect("{\"profile\": \"server\", \"csr\": \"\"}", API_PROB_INVALID_REQUEST);
	b = issue_body("server", ", \"days\": \"30\"");
	issue_expect(b, API_PROB_INVALID_REQUEST);
	free(b);
	b = issue_body("server", ", \"days\": 30.0");
	issue_expect(b, API_PROB_INVALID_REQUEST);
	free(b);
	b = issue_body("server", ", \"days\": 0");
	issue_expect(b, API_PROB_INVALID_REQUEST);
	free(b);
	b = issue_body("server", ", \"days\": -1");
	issue_expect(b, API_PROB_INVALID_REQUEST);
	free(b);
	b = issue_body("server", ", \"days\": 36501");
	issue_expect(b, API_PROB_INVALID_REQUEST);
	free(b);
	b = issue_body("server", ", \"days\": 99999999999999999999999");
	issue_expect(b, API_PROB_MALFORMED_JSON); /* jansson: integer overflow */
	free(b);
	b = issue_body("server", ", \"days\": true");
	issue_expect(b, API_PROB_INVALID_REQUEST);
	free(b);
	/* profiles an organization may not request */
	b = issue_body("ocsp", "");
	issue_expect(b, API_PROB_PROFILE);
	free(b);
	b = issue_body("officer", "");
	issue_expect(b, API_PROB_PROFILE);
	free(b);
	b = issue_body("root-ca", "");
	issue_expect(b, API_PROB_PROFILE);
	free(b);
	b = issue_body("Server", "");
	issue_expect(b, API_PROB_PROFILE);
	free(b);
	/* sizes: a CSR over X509_CSR_MAX, a body over API_JSON_MAX */
	big = xmalloc(API_JSON_MAX + 64);
	i = (size_t)snprintf(big, 64, "{\"profile\": \"server\", \"csr\": \"");
	memset(big + i, 'A', X509_CSR_MAX + 1);
	snprintf(big + i + X509_CSR_MAX + 1, 8, "\"}");
	issue_expect(big, API_PROB_BAD_CSR);
	memset(big + i, 'A', API_JSON_MAX);
	snprintf(big + i + API_JSON_MAX, 8, "\"}");
	issue_expect(big, API_PROB_TOO_LARGE);
	free(big);
}

static void
revoke_expect(const char *body, enum api_prob want, int reason, time_t inval)
{
	struct api_revoke_req q;
	struct api_error ae;
	int rc;

	api_error_clear(&ae);
	rc = api_revoke_req_parse(S(body), &q, &ae);
	if (want == API_PROB_NONE) {
		if (rc != 0)
			fail_msg("%s: refused: %s", body, ae.detail);
		assert_int_equal(q.reason, reason);
		assert_int_equal((long long)q.invalidity, (long long)inval);
	} else if (rc != -1 || ae.prob != want) {
		fail_msg("%s: want problem %d, got rc %d problem %d", body, want, rc, ae.prob);
	}
}

static void
t_revoke(void **state)
{
	(void)state;
	revoke_expect("{}", API_PROB_NONE, 0, 0);
	revoke_expect("{\"reason\": \"keyCompromise\"}", API_PROB_NONE, 1, 0);
	revoke_expect("{\"reason\": \"superseded\"}", API_PROB_NONE, 4, 0);
	revoke_expect("{\"reason\": \"aACompromise\"}", API_PROB_NONE, 10, 0);
	revoke_expect("{\"reason\": \"privilegeWithdrawn\"}", API_PROB_NONE, 9, 0);
	revoke_expect(
	    "{\"reason\": \"unspecified\", \"invalidity_date\": \"2024-01-01T00:00:00Z\"}",
	    API_PROB_NONE, 0, 1704067200);
	revoke_expect("{\"reason\": \"certificateHold\"}", API_PROB_INVALID_REQUEST, 0, 0);
	revoke_expect("{\"reason\": \"removeFromCRL\"}", API_PROB_INVALID_REQUEST, 0, 0);
	revoke_expect("{\"reason\": \"bogus\"}", API_PROB_INVALID_REQUEST, 0, 0);
	revoke_expect("{\"reason\": \"\"}", API_PROB_INVALID_REQUEST, 0, 0);
	revoke_expect("{\"reason\": 1}", API_PROB_INVALID_REQUEST, 0, 0);
	revoke_expect("{\"reason\": \"keyCompromise\", \"reason\": \"superseded\"}",
		      API_PROB_DUPLICATE_KEY, 0, 0);
	revoke_expect("{\"why\": \"keyCompromise\"}", API_PROB_UNKNOWN_FIELD, 0, 0);
	revoke_expect("{\"invalidity_date\": \"yesterday\"}", API_PROB_INVALID_REQUEST, 0, 0);
	revoke_expect("{\"invalidity_date\": \"1960-01-01T00:00:00Z\"}", API_PROB_INVALID_REQUEST,
		      0, 0);
	revoke_expect("{\"invalidity_date\": 1704067200}", API_PROB_INVALID_REQUEST, 0, 0);
	revoke_expect("", API_PROB_MALFORMED_JSON, 0, 0);
}

static void
t_time(void **state)
{
	char out[32];
	time_t t;

	(void)state;
	assert_int_equal(rfc3339_parse("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal((long long)t, 0);
	assert_int_equal(rfc3339_parse("2024-02-29T12:34:56Z", &t), 0);
	assert_int_equal((long long)t, 1709210096);
	assert_int_equal(rfc3339_parse("2024-02-29t12:34:56.123456z", &t), 0);
	assert_int_equal((long long)t, 1709210096);
	assert_int_equal(rfc3339_parse("2024-02-29T21:34:56+09:00", &t), 0);
	assert_int_equal((long long)t, 1709210096);
	assert_int_equal(rfc3339_parse("2024-02-29T07:04:56-05:30", &t), 0);
	assert_int_equal((long long)t, 1709210096);
	assert_int_equal(rfc3339_parse("2016-12-31T23:59:60Z", &t), 0);
	assert_int_equal((long long)t, 1483228799);
	assert_int_equal(rfc3339_parse("9999-12-31T23:59:59Z", &t), 0);
	timefmt_rfc3339((time_t)1709210096, out, sizeof(out));
	assert_string_equal(out, "2024-02-29T12:34:56Z");
	/* refused */
	assert_int_equal(rfc3339_parse("2023-02-29T00:00:00Z", &t), -1);
	assert_int_equal(rfc3339_parse("2024-13-01T00:00:00Z", &t), -1);
	assert_int_equal(rfc3339_parse("2024-00-01T00:00:00Z", &t), -1);
	assert_int_equal(rfc3339_parse("2024-04-31T00:00:00Z", &t), -1);
	assert_int_equal(rfc3339_parse("2024-01-01T24:00:00Z", &t), -1);
	assert_int_equal(rfc3339_parse("2024-01-01T00:60:00Z", &t), -1);
	assert_int_equal(rfc3339_parse("2024-01-01T00:00:00", &t), -1);
	assert_int_equal(rfc3339_parse("2024-01-01T00:00:00+0900", &t), -1);
	assert_int_equal(rfc3339_parse("2024-01-01T00:00:00+24:00", &t), -1);
	assert_int_equal(rfc3339_parse("2024-01-01T00:00:00.Z", &t), -1);
	assert_int_equal(rfc3339_parse("2024-01-01T00:00:00Zjunk", &t), -1);
	assert_int_equal(rfc3339_parse("2024-1-01T00:00:00Z", &t), -1);
	assert_int_equal(rfc3339_parse("+024-01-01T00:00:00Z", &t), -1);
	assert_int_equal(rfc3339_parse("", &t), -1);
	assert_int_equal(rfc3339_parse("2024-01-01", &t), -1);
}

static void
list_expect_fail(const char *k, const char *v)
{
	struct api_list_params p;
	struct api_error ae;

	api_list_params_init(&p);
	api_error_clear(&ae);
	if (api_list_param_set(&p, k, v, &ae) != -1 || ae.prob != API_PROB_INVALID_QUERY)
		fail_msg("%s=%s accepted", k, v != NULL ? v : "(null)");
}

static void
t_list_params(void **state)
{
	struct api_list_params p;
	struct api_error ae;
	char longs[API_SUBJECT_MAX + 2];

	(void)state;
	api_list_params_init(&p);
	api_error_clear(&ae);
	assert_int_equal(p.status, API_STATUS_ANY);
	assert_int_equal(p.limit, API_LIST_DEFAULT);
	assert_int_equal(api_list_param_set(&p, "status", "valid", &ae), 0);
	assert_int_equal(p.status, API_STATUS_VALID);
	assert_int_equal(api_list_param_set(&p, "expiring_before", "2030-01-01T00:00:00Z", &ae), 0);
	assert_int_equal((long long)p.expiring_before, 1893456000LL);
	assert_int_equal(api_list_param_set(&p, "subject", "CN=www", &ae), 0);
	assert_true(p.have_subject);
	assert_string_equal(p.subject, "CN=www");
	assert_int_equal(api_list_param_set(&p, "limit", "1000", &ae), 0);
	assert_int_equal(p.limit, 1000);
	assert_int_equal(api_list_param_set(&p, "offset", "0", &ae), 0);
	assert_int_equal(p.offset, 0);
	/* each at most once */
	assert_int_equal(api_list_param_set(&p, "limit", "5", &ae), -1);
	assert_int_equal(ae.prob, API_PROB_INVALID_QUERY);

	api_list_params_init(&p);
	api_error_clear(&ae);
	assert_int_equal(api_list_param_set(&p, "status", "revoked", &ae), 0);
	assert_int_equal(p.status, API_STATUS_REVOKED);
	api_list_params_init(&p);
	assert_int_equal(api_list_param_set(&p, "status", "expired", &ae), 0);
	assert_int_equal(p.status, API_STATUS_EXPIRED);

	list_expect_fail("status", "Valid");
	list_expect_fail("status", "");
	list_expect_fail("status", NULL);
	list_expect_fail("limit", "0");
	list_expect_fail("limit", "1001");
	list_expect_fail("limit", "10x");
	list_expect_fail("limit", "");
	list_expect_fail("offset", "-1");
	list_expect_fail("offset", "99999999999999999999");
	list_expect_fail("expiring_before", "2030-01-01");
	list_expect_fail("expiring_before", "1969-12-31T23:59:59Z");
	list_expect_fail("subject", "");
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	list_expect_fail("subject", longs);
	list_expect_fail("org", "OTHER");
	list_expect_fail("format", "der");
}

static void
format_expect(const char *fmt, const char *accept, enum api_format want)
{
	struct api_error ae;
	enum api_format got;

	api_error_clear(&ae);
	got = api_format_pick(fmt, accept, &ae);
	if (got != want)
		fail_msg("format=%s Accept=%s: want %d, got %d", fmt ? fmt : "-",
			 accept ? accept : "-", want, got);
	if (want == API_FMT_NONE)
		assert_true(ae.prob == API_PROB_NOT_ACCEPTABLE ||
			    ae.prob == API_PROB_INVALID_QUERY);
}

static void
t_format(void **state)
{
	(void)state;
	format_expect(NULL, NULL, API_FMT_JSON);
	format_expect(NULL, "", API_FMT_JSON);
	format_expect(NULL, "*/*", API_FMT_JSON);
	format_expect(NULL, "application/json", API_FMT_JSON);
	format_expect(NULL, "application/pkix-cert", API_FMT_DER);
	format_expect(NULL, "Application/PKIX-Cert", API_FMT_DER);
	format_expect(NULL, "application/x-pem-file", API_FMT_PEM);
	format_expect(NULL, "application/pem-certificate-chain", API_FMT_PEM);
	format_expect(NULL, "text/html, application/pkix-cert;q=0.5", API_FMT_DER);
	format_expect(NULL, "application/json;q=0.1, application/x-pem-file", API_FMT_PEM);
	format_expect(NULL, "application/x-pem-file;q=0.2, application/pkix-cert;q=0.9",
		      API_FMT_DER);
	format_expect(NULL, "application/pkix-cert;q=0, */*;q=0.1", API_FMT_JSON);
	format_expect(NULL, " application/pkix-cert ; q=1.0 ", API_FMT_DER);
	format_expect(NULL, "text/html", API_FMT_NONE);
	format_expect(NULL, "application/pkix-cert;q=0", API_FMT_NONE);
	format_expect(NULL, ",,,;;;q=", API_FMT_NONE);
	/* a malformed q-value: the range is ignored (it used to count as q=1 here) */
	format_expect(NULL, "application/pkix-cert;q=abc, application/json;q=0.5", API_FMT_JSON);
	format_expect(NULL, "application/pkix-cert;q=2", API_FMT_NONE);
	format_expect(NULL, "*/*;q=0.5, application/pkix-cert;q=0.9", API_FMT_DER);
	format_expect("der", "application/json", API_FMT_DER);
	format_expect("pem", NULL, API_FMT_PEM);
	format_expect("json", "application/pkix-cert", API_FMT_JSON);
	format_expect("DER", NULL, API_FMT_NONE);
	format_expect("", NULL, API_FMT_NONE);
}

static void
t_bearer(void **state)
{
	const char *tok;
	size_t n;

	(void)state;
	/* Authorization: Bearer */
	tok = api_bearer_token("Bearer abc", &n);
	assert_non_null(tok);
	assert_int_equal(n, 3);
	assert_memory_equal(tok, "abc", 3);
	tok = api_bearer_token("bEaReR \t abc  ", &n);
	assert_non_null(tok);
	assert_int_equal(n, 3);
	assert_null(api_bearer_token("Bearer", &n));
	assert_null(api_bearer_token("Bearer   ", &n));
	assert_null(api_bearer_token("Bearerabc", &n));
	assert_null(api_bearer_token("Basic abc", &n));
	assert_null(api_bearer_token(NULL, &n));
}

static void
t_problems(void **state)
{
	const struct api_prob_info *a, *b;
	int i, j;

	(void)state;
	for (i = 1; i < API_PROB__MAX; i++) {
		a = api_prob_info((enum api_prob)i);
		assert_non_null(a->slug);
		assert_non_null(a->title);
		assert_true(a->status >= 400 && a->status <= 599);
		for (j = 1; j < i; j++) {
			b = api_prob_info((enum api_prob)j);
			if (strcmp(a->slug, b->slug) == 0)
				fail_msg("problem type %s used twice", a->slug);
		}
	}
	assert_int_equal(api_prob_info(API_PROB_BAD_CSR)->status, 422);
	assert_int_equal(api_prob_info(API_PROB_UNAUTHORIZED)->status, 401);
	assert_int_equal(api_prob_info((enum api_prob)999)->status, 500);
	assert_true(api_profile_allowed("server"));
	assert_false(api_profile_allowed("ocsp"));
	assert_false(api_profile_allowed("issuing-ca"));
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(t_issue_ok),    cmocka_unit_test(t_issue_refusals),
	    cmocka_unit_test(t_revoke),	     cmocka_unit_test(t_time),
	    cmocka_unit_test(t_list_params), cmocka_unit_test(t_format),
	    cmocka_unit_test(t_bearer),	     cmocka_unit_test(t_problems),
	};
	int fails = 0;

	log_init("test_api", 0);
	fails += cmocka_run_group_tests_name("api requests", pure, NULL, NULL);
	return fails != 0;
}
