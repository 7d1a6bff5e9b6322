/*
 * Unit tests of the portal's parsing helpers: the urlencoded form decoder (and its variant
 * with one large field) and the character rules of the issuance form (check.c).
 */
#include "testutil.h"

#include <pthread.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "portal/portal.h"
#include "portal/portal_int.h"
#include "ra/ra.h"
#include "web/web.h"

static int
parse(const char *body, struct web_form *f)
{
	struct err e;
	int rc;

	err_clear(&e);
	rc = web_form_parse(body, strlen(body), f, &e);
	if (rc == -1)
		assert_true(err_is_set(&e));
	return rc;
}

static void
test_form_ok(void **state)
{
	struct web_form f;

	assert_int_equal(parse("applicant_type=self&email=taro%40example.jp&name=%E5%B1%B1%E7%94%B0"
			       "+%E5%A4%AA%E9%83%8E&&empty=&bare&multi=a%0D%0Ab",
			       &f),
			 0);
	assert_int_equal(f.n, 6);
	assert_string_equal(web_form_get(&f, "applicant_type"), "self");
	assert_string_equal(web_form_get(&f, "email"), "taro@example.jp");
	assert_string_equal(web_form_get(&f, "name"), "山田 太郎");
	assert_string_equal(web_form_get(&f, "empty"), "");
	assert_string_equal(web_form_get(&f, "bare"), "");
	assert_string_equal(web_form_get(&f, "multi"), "a\r\nb");
	assert_null(web_form_get(&f, "missing"));
	web_form_free(&f);

	assert_int_equal(parse("", &f), 0);
	assert_int_equal(f.n, 0);
	web_form_free(&f);
	assert_int_equal(parse("a%2Bb=%2b%3D%26", &f), 0);
	assert_string_equal(web_form_get(&f, "a+b"), "+=&");
	web_form_free(&f);
	assert_int_equal(parse("k=a=b", &f), 0); /* only the first '=' splits */
	assert_string_equal(web_form_get(&f, "k"), "a=b");
	web_form_free(&f);
}

static void
test_form_refused(void **state)
{
	static const char *const bad[] = {
	    "a=%",	"a=%4",	       "a=%zz",	   "a=%G0",	     "%=1",   "a=1&a=2",
	    "=1",	"a=%00",       "a=%01",	   "a%0A=1",	     "a=%7F", "a=%FF",
	    "a=%C0%AF", "a=%ED%A0%80", "a=%E6%97", "a=%F4%90%80%80",
	};
	struct web_form f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &f) != -1)
			fail_msg("accepted: %s", bad[i]);
		web_form_free(&f);
	}
}

static void
test_form_limits(void **state)
{
	struct web_form f;
	struct buf b;
	struct err e;
	char *s;

	/* a value of exactly the limit (escaped: 3 bytes each in the body) is accepted */
	buf_init(&b, 1 << 20);
	assert_true(buf_printf(&b, "v=") != -1);
	for (int i = 0; i < WEB_FORM_VALUE_MAX; i++)
		assert_true(buf_printf(&b, "x") != -1);
	assert_int_equal(web_form_parse(b.data, b.len, &f, &e), 0);
	assert_int_equal(strlen(web_form_get(&f, "v")), WEB_FORM_VALUE_MAX);
	web_form_free(&f);
	assert_true(buf_printf(&b, "x") != -1);
	assert_int_equal(web_form_parse(b.data, b.len, &f, &e), -1);
	web_form_free(&f);

	/* a long name */
	buf_reset(&b);
	for (int i = 0; i <= WEB_FORM_NAME_MAX; i++)
		assert_true(buf_printf(&b, "n") != -1);
	assert_true(buf_printf(&b, "=1") != -1);
	assert_int_equal(web_form_parse(b.data, b.len, &f, &e), -1);
	web_form_free(&f);

	/* too many fields */
	buf_reset(&b);
	for (int i = 0; i <= WEB_FORM_FIELDS_MAX; i++)
		assert_true(buf_printf(&b, "f%d=1&", i) != -1);
	assert_int_equal(web_form_parse(b.data, b.len, &f, &e), -1);
	web_form_free(&f);
	assert_int_equal(web_form_parse(b.data, b.len - 6 - 2, &f, &e), 0); /* drop f32=1& */
	assert_int_equal(f.n, WEB_FORM_FIELDS_MAX);
	web_form_free(&f);

	/* the body limit itself */
	s = xmalloc(WEB_FORM_BODY_MAX + 1);
	memset(s, '&', WEB_FORM_BODY_MAX + 1);
	assert_int_equal(web_form_parse(s, WEB_FORM_BODY_MAX, &f, &e), 0);
	web_form_free(&f);
	assert_int_equal(web_form_parse(s, WEB_FORM_BODY_MAX + 1, &f, &e), -1);
	web_form_free(&f);
	free(s);

	/* embedded NUL in the raw body */
	assert_int_equal(web_form_parse("a=b\0c", 5, &f, &e), -1);
	web_form_free(&f);
	buf_free(&b);
}

static void
test_form_big_field(void **state)
{
	struct web_form f;
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
	assert_int_equal(web_form_parse(b.data, b.len, &f, &e), -1);
	web_form_free(&f);
	/* ... but within the limit of the named large field */
	err_clear(&e);
	assert_int_equal(web_form_parse_ex(b.data, b.len, 64 * 1024, "csr", 8192, &f, &e), 0);
	assert_int_equal(strlen(web_form_get(&f, "csr")), 4000);
	web_form_free(&f);
	/* only that field: another one of the same size is still refused */
	buf_reset(&b);
	assert_int_equal(buf_printf(&b, "csr=x&other=%s", v), 0);
	assert_int_equal(web_form_parse_ex(b.data, b.len, 64 * 1024, "csr", 8192, &f, &e), -1);
	web_form_free(&f);
	/* and its own limit */
	assert_int_equal(web_form_parse_ex(b.data, b.len, 64 * 1024, "other", 3999, &f, &e), -1);
	web_form_free(&f);
	/* the body limit given */
	assert_int_equal(web_form_parse_ex(b.data, b.len, 100, "other", 8192, &f, &e), -1);
	web_form_free(&f);
	free(v);
	buf_free(&b);
}

static void
test_name_kanji(void **state)
{
	char s[64 * 3 + 4];

	(void)state;
	assert_true(ra_name_kanji_ok("山田　太郎"));
	assert_true(ra_name_kanji_ok("やまだ　たろう"));
	assert_true(ra_name_kanji_ok("ヤマダ　タロー"));
	assert_true(ra_name_kanji_ok("佐々木〆子"));
	assert_true(ra_name_kanji_ok("ＹＡＭＡＤＡ"));
	assert_true(ra_name_kanji_ok("𠮷田")); /* extension B */
	assert_false(ra_name_kanji_ok(""));
	assert_false(ra_name_kanji_ok("　"));	     /* only the ideographic space */
	assert_false(ra_name_kanji_ok("Yamada"));    /* ASCII */
	assert_false(ra_name_kanji_ok("山田 太郎")); /* ASCII space */
	assert_false(ra_name_kanji_ok("ｶﾀｶﾅ"));	     /* half-width katakana */
	assert_false(ra_name_kanji_ok("山田\t太郎"));
	assert_false(ra_name_kanji_ok("山田１"));   /* full-width digit */
	assert_false(ra_name_kanji_ok("\xe5\xb1")); /* truncated UTF-8 */
	assert_false(ra_name_kanji_ok("\xff"));
	/* 64 characters, not 65 */
	for (int i = 0; i < 64; i++)
		memcpy(s + 3 * i, "漢", 3);
	s[3 * 64] = '\0';
	assert_true(ra_name_kanji_ok(s));
	memcpy(s + 3 * 64, "漢", 4);
	assert_false(ra_name_kanji_ok(s));
}

static void
test_name_romaji(void **state)
{
	char s[80];

	(void)state;
	assert_true(ra_name_romaji_ok("Taro Yamada"));
	assert_true(ra_name_romaji_ok("Jean-Luc O'Neil Jr."));
	assert_false(ra_name_romaji_ok(""));
	assert_false(ra_name_romaji_ok(" - . '")); /* no letter */
	assert_false(ra_name_romaji_ok("Taro_Yamada"));
	assert_false(ra_name_romaji_ok("Taro2"));
	assert_false(ra_name_romaji_ok("山田"));
	assert_false(ra_name_romaji_ok("Tar\xc3\xb3")); /* Latin-1 letter, not ASCII */
	memset(s, 'a', 64);
	s[64] = '\0';
	assert_true(ra_name_romaji_ok(s));
	s[64] = 'a';
	s[65] = '\0';
	assert_false(ra_name_romaji_ok(s));
}

static void
test_ou_password(void **state)
{
	(void)state;
	assert_true(ra_ou_ok("Sales"));
	assert_true(ra_ou_ok("営業部　第一課"));
	assert_false(ra_ou_ok(""));
	assert_false(ra_ou_ok("   "));
	assert_false(ra_ou_ok("a\nb"));
	assert_false(ra_ou_ok("a\xc2\x85"
			      "b")); /* C1 control NEL */
	assert_false(ra_ou_ok("a\xe2\x80\xa8"
			      "b")); /* line separator */
	assert_true(ra_password_ok("12345678"));
	assert_true(ra_password_ok("パスワードです。長い")); /* characters, not bytes */
	assert_false(ra_password_ok("1234567"));
	assert_false(ra_password_ok("パスワード")); /* 5 characters, 15 bytes */
	assert_false(ra_password_ok("\xff\xff\xff\xff\xff\xff\xff\xff"));
}

static void
test_hostnames(void **state)
{
	struct err e;
	char *out = NULL;
	static const char *const bad[] = {
	    "",
	    "   ",
	    "bad..name",
	    "-a.example.jp",
	    "a.example.jp a.example.jp",
	    "a.example.jp A.EXAMPLE.JP",
	    "*.com",
	    "under_score.example.jp",
	    "a b c d e f g h i j k",
	    "xn--.example",
	};

	(void)state;
	err_clear(&e);
	assert_int_equal(
	    ra_hostnames_parse("WWW.Example.jp, api.example.jp\n*.dev.example.jp", &out, &e), 0);
	assert_string_equal(out, "www.example.jp api.example.jp *.dev.example.jp");
	free(out);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		out = NULL;
		if (ra_hostnames_parse(bad[i], &out, &e) != -1)
			fail_msg("accepted \"%s\" as \"%s\"", bad[i], out);
		assert_non_null(strstr(e.msg, "hostnames"));
		assert_null(out);
	}
}

/* Renders page strictly in both languages (every variable set, every msgid translated). */
static void
render_strict(const struct tmpl_set *ts, const char *page, struct tmpl_data *d, const char *must)
{
	static const char *const langs[] = {"ja", "en"};
	struct buf b;
	struct err e;

	for (size_t i = 0; i < 2; i++) {
		buf_init(&b, 1 << 20);
		err_clear(&e);
		tmpl_data_str(d, "lang", langs[i]);
		tmpl_data_bool(d, "lang_ja", i == 0);
		if (tmpl_render(ts, "layout", page, d, langs[i], &b, &e) == -1)
			fail_msg("%s (%s): %s", page, langs[i], e.msg);
		if (must != NULL && strstr(buf_cstr(&b), must) == NULL)
			fail_msg("%s: no \"%s\" in:\n%s", page, must, buf_cstr(&b));
		buf_free(&b);
	}
	tmpl_data_free(d);
}

static struct tmpl_data *
page_data(int agent)
{
	struct tmpl_data *d = web_data_new("ja", "Confirm");

	web_flow_add_list(d, "steps", "ja", 4, agent);
	tmpl_data_str(d, "csrf", "C");
	tmpl_data_str(d, "t", "T");
	return d;
}

static void
fields(struct tmpl_data *d)
{
	static const char *const names[] = {
	    "org_name",	     "ticket",	  "profile",  "name_kanji",  "name_romaji",    "ou",
	    "subject_email", "hostnames", "csr",      "key_mode",    "key_mode_label", "pw_ref",
	    "form_nonce",    "form_time", "form_mac", "agent_email", "serial",	       "not_after",
	    "onetimetoken"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		tmpl_data_str(d, names[i], "<v&>");
	tmpl_data_bool(d, "need_names", 1);
	tmpl_data_bool(d, "p_server", 1);
	tmpl_data_bool(d, "p_client", 0);
	tmpl_data_bool(d, "p_codesign", 0);
	tmpl_data_bool(d, "km_csr", 1);
}

/* The issuance pages with the real catalogs, strictly (a typo or a missing msgid fails). */
static void
test_issue_templates(void **state)
{
	static const char *const errs[] = {"err_name_kanji",   "err_name_romaji",
					   "err_ou",	       "err_subject_email",
					   "err_hostnames",    "err_key_mode",
					   "err_csr",	       "err_csr_detail",
					   "err_app_password", "err_app_password_confirm"};
	struct tmpl_set *ts = NULL;
	struct tmpl_data *d;
	struct err e;

	(void)state;
	err_clear(&e);
	if (i18n_load("po", &e) == -1 || tmpl_set_load(&ts, "templates", &e) == -1)
		fail_msg("%s", e.msg);
	tmpl_set_strict(ts, 1);

	d = page_data(0);
	fields(d);
	tmpl_data_bool(d, "agent", 0);
	tmpl_data_bool(d, "km_p256", 1);
	tmpl_data_bool(d, "km_rsa2048", 0);
	tmpl_data_str(d, "pw_mac", "M");
	tmpl_data_bool(d, "has_errors", 1);
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		tmpl_data_str(d, errs[i], "E<");
	render_strict(ts, "issue_form", d,
		      "<span class=\"error\" id=\"err-csr\">E&lt; E&lt;</span>");

	d = page_data(0);
	fields(d);
	render_strict(ts, "issue_confirm", d, "name=\"form_mac\" value=\"&lt;v&amp;&gt;\"");

	d = page_data(1);
	fields(d);
	tmpl_data_str(d, "cert_code", "");
	tmpl_data_bool(d, "p12", 1);
	tmpl_data_str(d, "pin", "PIN");
	tmpl_data_str(d, "download_url", "/issue/download/x");
	tmpl_data_str(d, "cert_pem", "P");
	tmpl_data_str(d, "chain_pem", "Q");
	render_strict(ts, "issue_cert", d, "<strong id=\"pin\"><code>PIN</code></strong>");

	d = page_data(1);
	fields(d);
	render_strict(ts, "issue_sent", d, NULL);
	d = page_data(1);
	fields(d);
	render_strict(ts, "approve", d, "value=\"approve\"");
	d = page_data(1);
	fields(d);
	render_strict(ts, "approve_done", d, NULL);
	d = page_data(1);
	render_strict(ts, "deliver", d, "action=\"/issue/deliver\"");
	d = page_data(0);
	fields(d);
	render_strict(ts, "regist_verified", d, "action=\"/regist/verify\"");
	tmpl_set_free(ts);
	i18n_unload();
}

#define CT "multipart/form-data; boundary=----b0undary"

static int
mp(const char *body, const char *ctype, struct web_form *f)
{
	struct err e;
	int rc;

	err_clear(&e);
	rc = web_form_parse_multipart(body, strlen(body), ctype, 64 * 1024, "csr", 8192, f, &e);
	if (rc == -1)
		assert_true(err_is_set(&e));
	web_form_free(rc == -1 ? f : NULL);
	return rc;
}

static void
test_multipart(void **state)
{
	struct web_form f;
	static const char *const bad[] = {
	    "",									     /* empty */
	    "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx", /* unclosed */
	    "preamble\r\n------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n"
	    "------b0undary--\r\n", /* preamble */
	    "------b0undary\r\nContent-Type: text/plain\r\n\r\nx\r\n------b0undary--\r\n", /* no
											      name
											    */
	    "------b0undary\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n"
	    "------b0undary--\r\n",
	    "------b0undary\r\nContent-Disposition: form-data; "
	    "name=a\r\n\r\nx\r\n------b0undary--\r\n",
	    "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n"
	    "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ny\r\n"
	    "------b0undary--\r\n", /* repeated */
	    "------b0undary\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nx\r\n"
	    "------b0undary--\r\n", /* empty name */
	    "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff\r\n"
	    "------b0undary--\r\n", /* not UTF-8 */
	    "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\x01y\r\n"
	    "------b0undary--\r\n", /* control */
	    "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n"
	    "Content-Disposition: form-data; name=\"b\"\r\n\r\nx\r\n------b0undary--\r\n",
	    "------b0undaryX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n"
	    "------b0undary--\r\n", /* no CRLF after the boundary */
	};
	struct buf b;
	char *big;

	(void)state;
	assert_int_equal(
	    mp("------b0undary\r\n"
	       "Content-Disposition: form-data; name=\"t\"\r\n\r\n"
	       "abc\r\n"
	       "------b0undary\r\n"
	       "Content-Disposition: form-data; name=\"csr_file\"; filename=\"r.csr\"\r\n"
	       "Content-Type: application/octet-stream\r\n\r\n"
	       "-----BEGIN CERTIFICATE REQUEST-----\r\nAAAA\r\n\r\n"
	       "------b0undary\r\n"
	       "Content-Disposition: form-data; name=\"empty\"\r\n\r\n"
	       "\r\n"
	       "------b0undary--\r\nepilogue",
	       CT, &f),
	    0);
	assert_int_equal(f.n, 3);
	assert_string_equal(web_form_get(&f, "t"), "abc");
	assert_string_equal(web_form_get(&f, "csr_file"),
			    "-----BEGIN CERTIFICATE REQUEST-----\r\nAAAA\r\n");
	assert_string_equal(web_form_get(&f, "empty"), "");
	web_form_free(&f);
	/* a quoted boundary */
	assert_int_equal(
	    mp("--x y\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x y--",
	       "multipart/form-data; boundary=\"x y\"", &f),
	    0);
	assert_string_equal(web_form_get(&f, "a"), "1");
	web_form_free(&f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mp(bad[i], CT, &f) != -1)
			fail_msg("accepted bad[%zu]", i);
	/* bad Content-Types */
	assert_int_equal(mp("--a\r\n", "application/x-www-form-urlencoded", &f), -1);
	assert_int_equal(mp("--a\r\n", "multipart/form-data", &f), -1);
	assert_int_equal(mp("--a\r\n", "multipart/form-data; boundary=", &f), -1);
	assert_int_equal(mp("--a\r\n", "multipart/form-data; boundary=a<b", &f), -1);
	assert_int_equal(mp("--a\r\n", NULL, &f), -1);
	/* limits: a file may be big, an ordinary value may not */
	buf_init(&b, 64 * 1024);
	big = xmalloc(4001);
	memset(big, 'A', 4000);
	big[4000] = '\0';
	assert_int_equal(buf_printf(&b,
				    "------b0undary\r\nContent-Disposition: form-data; "
				    "name=\"f\"; filename=\"x\"\r\n\r\n%s\r\n------b0undary--",
				    big),
			 0);
	assert_int_equal(mp(buf_cstr(&b), CT, &f), 0);
	assert_int_equal(strlen(web_form_get(&f, "f")), 4000);
	web_form_free(&f);
	buf_reset(&b);
	assert_int_equal(buf_printf(&b,
				    "------b0undary\r\nContent-Disposition: form-data; "
				    "name=\"f\"\r\n\r\n%s\r\n------b0undary--",
				    big),
			 0);
	assert_int_equal(mp(buf_cstr(&b), CT, &f), -1);
	free(big);
	buf_free(&b);
}

/* A certificate for key, signed by itself (issuer stands in for a CA in the chain). */
static X509 *
tu_cert(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

/*
 * The applicant key with its PIN, CSR, pre-shrouded key and MAC key, and the PKCS#12 made of
 * them: it opens with the PIN (MAC and key), not with another; the key is the certificate's,
 * named and key-id'd like PKCS12_create()'s; the CA certificates come along.  The pool hands
 * out each key once.
 */
/* Waits (bounded: 5 s) until the key pool holds n keys. */
static void
keypool_wait_ready(size_t n)
{
	size_t ready = 0;
	unsigned long taken, inline_made;

	for (int i = 0; i < 500; i++) {
		ra_keypool_stats(&ready, &taken, &inline_made);
		if (ready == n)
			break;
		usleep(10000);
	}
	assert_int_equal((int)ready, (int)n);
}

/*
 * Takes n keys, then checks that none is made within 30 ms (checked when the check itself
 * took less than 150 ms: a key takes a few ms, so without the wait some would be back).
 */
static void
keypool_take_no_refill(int n)
{
	struct ra_key k;
	struct timespec t0, t1;
	struct err e;
	size_t before, ready = 0;
	unsigned long taken, inline_made;

	err_clear(&e);
	ra_keypool_stats(&before, &taken, &inline_made);
	for (int i = 0; i < n; i++) {
		assert_int_equal(ra_key_take("p256", &k, &e), 0);
		ra_key_clear(&k);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	usleep(30000);
	ra_keypool_stats(&ready, &taken, &inline_made);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 150)
		assert_int_equal((int)ready, (int)before - n);
}

static void
test_key_p12(void **state)
{
	struct ra_key k, k2;
	struct err e;
	EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *pkey = NULL;
	X509 *leaf, *ca = tu_cert(ca_key, "Test CA"), *got = NULL;
	STACK_OF(X509) *chain = sk_X509_new_null(), *cas = NULL;
	unsigned char *der = NULL, *p12der = NULL;
	const unsigned char *p;
	size_t p12len = 0, ready = 0;
	unsigned long taken = 0, inline_made = 0;
	PKCS12 *p12;
	int n;

	(void)state;
	err_clear(&e);
	assert_int_equal(ra_key_make("p256", &k, &e), 0);
	assert_int_equal((int)strlen(k.pin), RA_PIN_LEN);
	assert_non_null(k.keybag);
	/* the SPKI the certificate gets is the key's */
	assert_non_null(k.spki);
	pkey = X509_PUBKEY_get(k.spki);
	assert_non_null(pkey);
	assert_int_equal(EVP_PKEY_eq(pkey, k.key), 1);
	EVP_PKEY_free(pkey);
	pkey = NULL;
	sk_X509_push(chain, ca);
	leaf = tu_cert(k.key, "leaf");
	n = i2d_X509(leaf, &der);
	assert_true(n > 0);
	assert_int_equal(ra_p12(&k, der, (size_t)n, chain, "leaf.example", &p12der, &p12len, &e),
			 0);
	p = p12der;
	p12 = d2i_PKCS12(NULL, &p, (long)p12len);
	assert_non_null(p12);
	assert_int_equal(PKCS12_verify_mac(p12, k.pin, -1), 1);
	assert_int_equal(PKCS12_verify_mac(p12, "ABCDEFGHJKLM", -1), 0);
	assert_int_equal(PKCS12_parse(p12, k.pin, &pkey, &got, &cas), 1);
	assert_int_equal(EVP_PKEY_eq(pkey, k.key), 1);
	assert_int_equal(X509_cmp(got, leaf), 0);
	assert_int_equal(sk_X509_num(cas), 1);
	assert_int_equal(X509_cmp(sk_X509_value(cas, 0), ca), 0);
	assert_string_equal(X509_alias_get0(got, NULL) != NULL ? "named" : "unnamed", "named");
	EVP_PKEY_free(pkey);
	X509_free(got);
	sk_X509_pop_free(cas, X509_free);
	pkey = NULL;
	got = NULL;
	cas = NULL;
	assert_int_equal(PKCS12_parse(p12, "ABCDEFGHJKLM", &pkey, &got, &cas), 0);
	PKCS12_free(p12);
	free(p12der);
	OPENSSL_free(der);
	X509_free(leaf);

	/* the pool: filled by its thread, each key handed out once */
	assert_int_equal(ra_keypool_start(4, &e), 0);
	keypool_wait_ready(4); /* the thread fills it */
	assert_int_equal(ra_key_take("p256", &k2, &e), 0);
	ra_keypool_stats(&ready, &taken, &inline_made);
	assert_int_equal((int)taken, 1);
	assert_int_equal((int)inline_made, 0);
	assert_true(EVP_PKEY_eq(k2.key, k.key) != 1);
	assert_true(strcmp(k2.pin, k.pin) != 0);
	ra_key_clear(&k2);
	/*
	 * Refills wait for a quiet moment (200 ms without a take) while at least an eighth is
	 * left: none 30 ms after a take, all of them once it is quiet.
	 */
	keypool_wait_ready(4);
	keypool_take_no_refill(1); /* 3 left */
	keypool_wait_ready(4);
	assert_int_equal(ra_key_take("rsa2048", &k2, &e), 0);
	assert_int_equal(k2.rsa, 1);
	assert_int_equal(EVP_PKEY_get_base_id(k2.key), EVP_PKEY_RSA);
	ra_key_clear(&k2);
	ra_keypool_stop();
	/*
	 * During a burst it refills only when fewer than an eighth are left: 3 of 16 wait for
	 * the quiet moment, 1 of 16 does not.
	 */
	assert_int_equal(ra_keypool_start(16, &e), 0);
	keypool_wait_ready(16);
	keypool_take_no_refill(13); /* 3 left */
	{
		struct timespec t0, t1;
		long ms;

		for (int i = 0; i < 2; i++) {
			assert_int_equal(ra_key_take("p256", &k2, &e), 0);
			ra_key_clear(&k2);
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			usleep(2000);
			ra_keypool_stats(&ready, &taken, &inline_made);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		} while (ready < 2 && ms < 150);
		/* refilled before the quiet moment (200 ms) could have come */
		assert_true(ready >= 2);
	}
	ra_keypool_stop();
	ra_key_clear(&k);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(ca_key);
}

/*
 * The password hasher (pwhash.c): a queued password is hashed ahead by its thread once the
 * forms are quiet, or by Submit when it is still queued; references are handles (or the hash
 * itself when it could not be queued); forgotten, expired and evicted handles are unknown.
 */
static struct pwhash_stats
pw_stats(void)
{
	struct pwhash_stats st;

	pwhash_stats(&st);
	return st;
}

/* Waits (bounded: 5 s) until the hasher threads have hashed n in all. */
static void
pw_wait_ahead(unsigned long n)
{
	for (int i = 0; i < 500 && pw_stats().hashed_ahead < n; i++)
		usleep(10000);
	assert_int_equal((int)pw_stats().hashed_ahead, (int)n);
}

static void
pw_check(const char *ref, const char *password)
{
	char h[PWHASH_REF_MAX];
	long waited;
	struct err e;

	err_clear(&e);
	assert_int_equal(pwhash_get(ref, h, &waited, &e), 0);
	assert_int_equal(strncmp(h, "$argon2id$", 10), 0);
	assert_int_equal(crypto_pwhash_str_verify(h, password, strlen(password)), 0);
	assert_int_not_equal(crypto_pwhash_str_verify(h, "not the password", 16), 0);
}

struct pw_twin {
	const char *ref;
	char hash[PWHASH_REF_MAX];
	int rc;
};

static void *
pw_twin_main(void *arg)
{
	struct pw_twin *t = arg;
	long waited;
	struct err e;

	err_clear(&e);
	t->rc = pwhash_get(t->ref, t->hash, &waited, &e);
	return NULL;
}

static void
test_pwhash(void **state)
{
	char r1[PWHASH_REF_MAX], r2[PWHASH_REF_MAX], r3[PWHASH_REF_MAX], h[PWHASH_REF_MAX],
	    h2[PWHASH_REF_MAX], full[4][PWHASH_REF_MAX];
	struct pwhash_stats st;
	struct err e;
	long waited;

	(void)state;
	err_clear(&e);
	/* not started: hashed in the caller, the reference is the hash itself */
	assert_int_equal(pwhash_submit("password one", r1, &e), 0);
	assert_false(pwhash_is_handle(r1));
	assert_int_equal(strncmp(r1, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
	pw_check(r1, "password one");
	assert_int_equal(pwhash_get("not a reference", h, &waited, &e), 1);

	assert_int_equal(
	    pwhash_start(4, 1, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN, 60000, &e),
	    0);
	assert_int_equal(pwhash_start(4, 1, 1, 8192, 60000, &e), -1); /* once */
	err_clear(&e);
	/* Submit right after the form: still queued (quiet for 200 ms first), hashed by it */
	assert_int_equal(pwhash_submit("password one", r1, &e), 0);
	assert_true(pwhash_is_handle(r1));
	assert_int_equal((int)strlen(r1), 23);
	assert_null(strstr(r1, "password"));
	pw_check(r1, "password one");
	st = pw_stats();
	assert_int_equal((int)st.queued, 1);
	assert_int_equal((int)(st.hashed_in_submit + st.hashed_ahead), 1);
	/* the same hash again (a second Submit of the same page), then forgotten */
	assert_int_equal(pwhash_get(r1, h, &waited, &e), 0);
	assert_int_equal(pwhash_get(r1, h2, &waited, &e), 0);
	assert_string_equal(h, h2);
	pwhash_forget(r1);
	assert_int_equal(pwhash_get(r1, h, &waited, &e), 1);
	/* a handle never issued, and one of the wrong shape */
	r1[5] = r1[5] == 'A' ? 'B' : 'A';
	assert_int_equal(pwhash_get(r1, h, &waited, &e), 1);
	assert_int_equal(pwhash_get("hAAAA", h, &waited, &e), 1);

	/* hashed ahead by the thread once quiet, not while the forms keep coming */
	{
		unsigned long before = pw_stats().hashed_ahead;
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(pwhash_submit("password two", r2, &e), 0);
		usleep(50000);
		st = pw_stats();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 150)
			assert_int_equal((int)st.hashed_ahead, (int)before);
		pw_wait_ahead(before + 1);
		assert_int_equal((int)pw_stats().pending, 0);
		pw_check(r2, "password two");
		assert_int_equal((int)pw_stats().hashed_in_submit, (int)st.hashed_in_submit);
	}

	/* full: the oldest hashed one makes place (evicted: unknown after) */
	for (int i = 0; i < 3; i++)
		assert_int_equal(pwhash_submit("password filler", full[i], &e), 0);
	for (int i = 0; i < 500 && pw_stats().pending > 0; i++)
		usleep(10000);
	assert_int_equal((int)pw_stats().pending, 0);
	assert_int_equal(pwhash_submit("password three", r3, &e), 0);
	assert_true(pwhash_is_handle(r3));
	assert_int_equal((int)pw_stats().evicted, 1);
	assert_int_equal(pwhash_get(r2, h, &waited, &e), 1); /* the oldest */
	pw_check(full[0], "password filler");
	pw_check(r3, "password three");
	/* full of passwords still to hash: the next is hashed by its caller */
	pwhash_stop();
	assert_int_equal(
	    pwhash_start(2, 1, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN, 60000, &e),
	    0);
	assert_int_equal(pwhash_submit("password four", full[0], &e), 0);
	assert_int_equal(pwhash_submit("password five", full[1], &e), 0);
	assert_int_equal(pwhash_submit("password six", full[2], &e), 0);
	assert_true(pwhash_is_handle(full[0]) && pwhash_is_handle(full[1]));
	assert_false(pwhash_is_handle(full[2]));
	assert_int_equal((int)pw_stats().inline_full, 1);
	pw_check(full[2], "password six");
	pw_check(full[0], "password four");
	pw_check(full[1], "password five");
	pwhash_stop();

	/* two Submits of one handle at once (a double click): one hashes, both get it */
	assert_int_equal(
	    pwhash_start(4, 1, crypto_pwhash_OPSLIMIT_MIN, (size_t)16 << 20, 60000, &e), 0);
	for (int round = 0; round < 3; round++) {
		struct pw_twin t[2];
		pthread_t th[2];

		assert_int_equal(pwhash_submit("password seven", r1, &e), 0);
		for (int i = 0; i < 2; i++) {
			t[i].ref = r1;
			assert_int_equal(pthread_create(&th[i], NULL, pw_twin_main, &t[i]), 0);
		}
		for (int i = 0; i < 2; i++) {
			pthread_join(th[i], NULL);
			assert_int_equal(t[i].rc, 0);
		}
		assert_string_equal(t[0].hash, t[1].hash);
		pw_check(r1, "password seven");
		pwhash_forget(r1);
	}
	assert_int_equal((int)pw_stats().failed, 0);
	pwhash_stop();

	/* expired after ttl: unknown; an unhashed one is wiped unhashed */
	assert_int_equal(
	    pwhash_start(4, 1, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN, 100, &e), 0);
	assert_int_equal(pwhash_submit("password eight", r1, &e), 0);
	usleep(150000);
	assert_int_equal(pwhash_submit("password nine", r2, &e), 0); /* reaps */
	assert_int_equal(pwhash_get(r1, h, &waited, &e), 1);
	pw_check(r2, "password nine");
	pwhash_stop();
	/* stopped: hashed by the caller again */
	assert_int_equal(pwhash_submit("password ten", r1, &e), 0);
	assert_false(pwhash_is_handle(r1));
	pw_check(r1, "password ten");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form_ok),	    cmocka_unit_test(test_form_refused),
	    cmocka_unit_test(test_form_limits),	    cmocka_unit_test(test_form_big_field),
	    cmocka_unit_test(test_name_kanji),	    cmocka_unit_test(test_name_romaji),
	    cmocka_unit_test(test_ou_password),	    cmocka_unit_test(test_hostnames),
	    cmocka_unit_test(test_issue_templates), cmocka_unit_test(test_multipart),
	    cmocka_unit_test(test_key_p12),	    cmocka_unit_test(test_pwhash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
