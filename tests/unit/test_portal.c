/*
 * Unit tests of the portal's helpers: the character rules of the issuance form, its
 * templates, keys and PKCS#12, the password hasher.  (The form decoders are src/web's:
 * test_web.c.)
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
	/* a name does not read as a host name (it is a client certificate's CN) */
	assert_false(ra_name_romaji_ok("www.other.example"));
	assert_false(ra_name_romaji_ok("J.R.Tolkien"));
	assert_true(ra_name_romaji_ok("J. R. Tolkien"));
	assert_true(ra_name_romaji_ok("J.R. Tolkien"));
	assert_true(ra_name_romaji_ok("Tolkien J."));
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
	d = page_data(0);
	fields(d);
	tmpl_data_str(d, "reason", "R<");
	tmpl_data_str(d, "until", "U");
	render_strict(ts, "revoke_verify", d,
		      "<input type=\"hidden\" name=\"onetimetoken\" value=\"&lt;v&amp;&gt;\">");
	tmpl_set_free(ts);
	i18n_unload();
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
	    cmocka_unit_test(test_name_kanji),	    cmocka_unit_test(test_name_romaji),
	    cmocka_unit_test(test_ou_password),	    cmocka_unit_test(test_hostnames),
	    cmocka_unit_test(test_issue_templates), cmocka_unit_test(test_key_p12),
	    cmocka_unit_test(test_pwhash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
