/*
 * Unit tests of the portal's parsing helpers: the urlencoded form decoder (and its variant
 * with one large field) and the character rules of the issuance form (check.c).
 */
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


static void
test_form_big_field(void **state)
{
	struct portal_form f;
	struct err e;
	struct buf b;
	char *v;

	(void)state;
	err_clear(&e);
	buf_init(&b, 64 * 1024);
	v = xmalloc(4001);
	memset(v, 'A', 4000);
	v[4000] = '\0';
	assert_int_equal(buf_printf(&b, "t=x&csr=%s", v), 0);
	/* over the ordinary value limit ... */
	assert_int_equal(portal_form_parse(b.data, b.len, &f, &e), -1);
	portal_form_free(&f);
	/* ... but within the limit of the named large field */
	err_clear(&e);
	assert_int_equal(portal_form_parse_ex(b.data, b.len, 64 * 1024, "csr", 8192, &f, &e), 0);
	assert_int_equal(strlen(portal_form_get(&f, "csr")), 4000);
	portal_form_free(&f);
	/* only that field: another one of the same size is still refused */
	buf_reset(&b);
	assert_int_equal(buf_printf(&b, "csr=x&other=%s", v), 0);
	assert_int_equal(portal_form_parse_ex(b.data, b.len, 64 * 1024, "csr", 8192, &f, &e), -1);
	portal_form_free(&f);
	/* and its own limit */
	assert_int_equal(portal_form_parse_ex(b.data, b.len, 64 * 1024, "other", 3999, &f, &e), -1);
	portal_form_free(&f);
	/* the body limit given */
	assert_int_equal(portal_form_parse_ex(b.data, b.len, 100, "other", 8192, &f, &e), -1);
	portal_form_free(&f);
	free(v);
	buf_free(&b);
}

static void
test_name_kanji(void **state)
{
	char s[64 * 3 + 4];

	(void)state;
	assert_true(portal_name_kanji_ok("山田　太郎"));
	assert_true(portal_name_kanji_ok("やまだ　たろう"));
	assert_true(portal_name_kanji_ok("ヤマダ　タロー"));
	assert_true(portal_name_kanji_ok("佐々木〆子"));
	assert_true(portal_name_kanji_ok("ＹＡＭＡＤＡ"));
	assert_true(portal_name_kanji_ok("𠮷田")); /* extension B */
	assert_false(portal_name_kanji_ok(""));
	assert_false(portal_name_kanji_ok("　"));         /* only the ideographic space */
	assert_false(portal_name_kanji_ok("Yamada"));     /* ASCII */
	assert_false(portal_name_kanji_ok("山田 太郎"));  /* ASCII space */
	assert_false(portal_name_kanji_ok("ｶﾀｶﾅ"));       /* half-width katakana */
	assert_false(portal_name_kanji_ok("山田\t太郎"));
	assert_false(portal_name_kanji_ok("山田１"));      /* full-width digit */
	assert_false(portal_name_kanji_ok("\xe5\xb1"));    /* truncated UTF-8 */
	assert_false(portal_name_kanji_ok("\xff"));
	/* 64 characters, not 65 */
	for (int i = 0; i < 64; i++)
		memcpy(s + 3 * i, "漢", 3);
	s[3 * 64] = '\0';
	assert_true(portal_name_kanji_ok(s));
	memcpy(s + 3 * 64, "漢", 4);
	assert_false(portal_name_kanji_ok(s));
}

static void
test_name_romaji(void **state)
{
	char s[80];

	(void)state;
	assert_true(portal_name_romaji_ok("Taro Yamada"));
	assert_true(portal_name_romaji_ok("Jean-Luc O'Neil Jr."));
	assert_false(portal_name_romaji_ok(""));
	assert_false(portal_name_romaji_ok(" - . '"));    /* no letter */
	assert_false(portal_name_romaji_ok("Taro_Yamada"));
	assert_false(portal_name_romaji_ok("Taro2"));
	assert_false(portal_name_romaji_ok("山田"));
	assert_false(portal_name_romaji_ok("Tar\xc3\xb3")); /* Latin-1 letter, not ASCII */
	memset(s, 'a', 64);
	s[64] = '\0';
	assert_true(portal_name_romaji_ok(s));
	s[64] = 'a';
	s[65] = '\0';
	assert_false(portal_name_romaji_ok(s));
}

static void
test_ou_password(void **state)
{
	(void)state;
	assert_true(portal_ou_ok("Sales"));
	assert_true(portal_ou_ok("営業部　第一課"));
	assert_false(portal_ou_ok(""));
	assert_false(portal_ou_ok("   "));
	assert_false(portal_ou_ok("a\nb"));
	assert_false(portal_ou_ok("a\xc2\x85" "b")); /* C1 control NEL */
	assert_false(portal_ou_ok("a\xe2\x80\xa8" "b")); /* line separator */
	assert_true(portal_password_ok("12345678"));
	assert_true(portal_password_ok("パスワードです。長い")); /* characters, not bytes */
	assert_false(portal_password_ok("1234567"));
	assert_false(portal_password_ok("パスワード"));             /* 5 characters, 15 bytes */
	assert_false(portal_password_ok("\xff\xff\xff\xff\xff\xff\xff\xff"));
}

static void
test_hostnames(void **state)
{
	struct err e;
	char *out = NULL;
	static const char *const bad[] = {
	    "", "   ", "bad..name", "-a.example.jp", "a.example.jp a.example.jp",
	    "a.example.jp A.EXAMPLE.JP", "*.com", "under_score.example.jp", "a b c d e f g h i j k",
	    "xn--.example",
	};

	(void)state;
	err_clear(&e);
	assert_int_equal(portal_hostnames_parse("WWW.Example.jp, api.example.jp\n*.dev.example.jp",
						&out, &e),
			 0);
	assert_string_equal(out, "www.example.jp api.example.jp *.dev.example.jp");
	free(out);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		out = NULL;
		if (portal_hostnames_parse(bad[i], &out, &e) != -1)
			fail_msg("accepted \"%s\" as \"%s\"", bad[i], out);
		assert_non_null(strstr(e.msg, "hostnames"));
		assert_null(out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form_ok),
	    cmocka_unit_test(test_form_refused),
	    cmocka_unit_test(test_form_limits),
	    cmocka_unit_test(test_form_big_field),
	    cmocka_unit_test(test_name_kanji),
	    cmocka_unit_test(test_name_romaji),
	    cmocka_unit_test(test_ou_password),
	    cmocka_unit_test(test_hostnames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
