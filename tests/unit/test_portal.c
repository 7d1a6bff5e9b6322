/* Unit tests of the portal's parsing helpers: the urlencoded form decoder. */
#include "testutil.h"

#include "portal/portal.h"

static int
parse(const char *body, struct portal_form *f)
{
	struct err e;
	int rc;

	err_clear(&e);
	rc = portal_form_parse(body, strlen(body), f, &e);
	if (rc == -1)
		assert_true(err_is_set(&e));
	return rc;
}

static void
test_form_ok(void **state)
{
	struct portal_form f;

	assert_int_equal(parse("applicant_type=self&email=taro%40example.jp&name=%E5%B1%B1%E7%94%B0"
			       "+%E5%A4%AA%E9%83%8E&&empty=&bare&multi=a%0D%0Ab",
			       &f),
			 0);
	assert_int_equal(f.n, 6);
	assert_string_equal(portal_form_get(&f, "applicant_type"), "self");
	assert_string_equal(portal_form_get(&f, "email"), "taro@example.jp");
	assert_string_equal(portal_form_get(&f, "name"), "山田 太郎");
	assert_string_equal(portal_form_get(&f, "empty"), "");
	assert_string_equal(portal_form_get(&f, "bare"), "");
	assert_string_equal(portal_form_get(&f, "multi"), "a\r\nb");
	assert_null(portal_form_get(&f, "missing"));
	portal_form_free(&f);

	assert_int_equal(parse("", &f), 0);
	assert_int_equal(f.n, 0);
	portal_form_free(&f);
	assert_int_equal(parse("a%2Bb=%2b%3D%26", &f), 0);
	assert_string_equal(portal_form_get(&f, "a+b"), "+=&");
	portal_form_free(&f);
	assert_int_equal(parse("k=a=b", &f), 0); /* only the first '=' splits */
	assert_string_equal(portal_form_get(&f, "k"), "a=b");
	portal_form_free(&f);
}

static void
test_form_refused(void **state)
{
	static const char *const bad[] = {
	    "a=%",         "a=%4",        "a=%zz",    "a=%G0",       "%=1",      "a=1&a=2",
	    "=1",          "a=%00",       "a=%01",    "a%0A=1",      "a=%7F",    "a=%FF",
	    "a=%C0%AF",    "a=%ED%A0%80", "a=%E6%97", "a=%F4%90%80%80",
	};
	struct portal_form f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &f) != -1)
			fail_msg("accepted: %s", bad[i]);
		portal_form_free(&f);
	}
}

static void
test_form_limits(void **state)
{
	struct portal_form f;
	struct buf b;
	struct err e;
	char *s;

	/* a value of exactly the limit (escaped: 3 bytes each in the body) is accepted */
	buf_init(&b, 1 << 20);
	assert_true(buf_printf(&b, "v=") != -1);
	for (int i = 0; i < PORTAL_FORM_VALUE_MAX; i++)
		assert_true(buf_printf(&b, "x") != -1);
	assert_int_equal(portal_form_parse(b.data, b.len, &f, &e), 0);
	assert_int_equal(strlen(portal_form_get(&f, "v")), PORTAL_FORM_VALUE_MAX);
	portal_form_free(&f);
	assert_true(buf_printf(&b, "x") != -1);
	assert_int_equal(portal_form_parse(b.data, b.len, &f, &e), -1);
	portal_form_free(&f);

	/* a long name */
	buf_reset(&b);
	for (int i = 0; i <= PORTAL_FORM_NAME_MAX; i++)
		assert_true(buf_printf(&b, "n") != -1);
	assert_true(buf_printf(&b, "=1") != -1);
	assert_int_equal(portal_form_parse(b.data, b.len, &f, &e), -1);
	portal_form_free(&f);

	/* too many fields */
	buf_reset(&b);
	for (int i = 0; i <= PORTAL_FORM_FIELDS_MAX; i++)
		assert_true(buf_printf(&b, "f%d=1&", i) != -1);
	assert_int_equal(portal_form_parse(b.data, b.len, &f, &e), -1);
	portal_form_free(&f);
	assert_int_equal(portal_form_parse(b.data, b.len - 6 - 2, &f, &e), 0); /* drop f32=1& */
	assert_int_equal(f.n, PORTAL_FORM_FIELDS_MAX);
	portal_form_free(&f);

	/* the body limit itself */
	s = xmalloc(PORTAL_FORM_BODY_MAX + 1);
	memset(s, '&', PORTAL_FORM_BODY_MAX + 1);
	assert_int_equal(portal_form_parse(s, PORTAL_FORM_BODY_MAX, &f, &e), 0);
	portal_form_free(&f);
	assert_int_equal(portal_form_parse(s, PORTAL_FORM_BODY_MAX + 1, &f, &e), -1);
	portal_form_free(&f);
	free(s);

	/* embedded NUL in the raw body */
	assert_int_equal(portal_form_parse("a=b\0c", 5, &f, &e), -1);
	portal_form_free(&f);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form_ok),
	    cmocka_unit_test(test_form_refused),
	    cmocka_unit_test(test_form_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
