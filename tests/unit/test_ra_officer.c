/*
 * RA officers (src/ra/officer.c, src/store/store_officer.c, src/console/mail.c) on SQLite and
 * on PostgreSQL: add (the access PIN shown once, only its keyed hash stored, the enrolment
 * mail queued once with the URL and without the PIN), wrong PINs and the lock, expiry, the
 * one certificate per enrolment (a retry gets ISSUED and no second certificate, also when
 * two requests race), the PKCS#12 and its single download, every result of the console
 * login check, renewal and the supersede rule, the fault loops of add, take and the
 * superseding login (each statement failed in turn: nothing written), and the audit chain
 * after all of it.
 */
#include "testutil.h"
#include "tu_x509.h"
#include "tu_ca.h"
#include "tu_ra.h"

#include <pthread.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "console/console.h"
#include "mail/mail.h"
#include "util/b64.h"

#define OK(x) assert_int_equal((x), 0)
#define DAY 86400

static struct tu_ra fx;
static int want_pg;
static struct console_mail cm;

/* What the officers' hooks were asked to send (the last token of each) and how often. */
static struct {
	int enrol, renew;
	char enrol_token[RA_TOKEN_TEXT], renew_token[RA_TOKEN_TEXT];
} hk;

static int
hook_enrol(void *arg, struct store *st, const struct ra_officer *o, const char *token,
	   struct err *e)
{
	hk.enrol++;
	snprintf(hk.enrol_token, sizeof(hk.enrol_token), "%s", token);
	return console_mail_enrol(arg, st, o, token, e);
}

static int
hook_renew(void *arg, struct store *st, const struct ra_officer *o, const char *token,
	   struct err *e)
{
	hk.renew++;
	snprintf(hk.renew_token, sizeof(hk.renew_token), "%s", token);
	return console_mail_renew(arg, st, o, token, e);
}

static struct ra_officer_notify on = {&cm, hook_enrol, hook_renew};

static int
setup(void **state)
{
	struct err e;

	(void)state;
	err_clear(&e);
	tu_ra_open(&fx, want_pg, 0, "test_ra_officer");
	if (console_mail_init(&cm, fx.ca.ca, &e) == -1)
		fail_msg("console_mail_init: %s", e.msg);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	util_clock_set_offset(0);
	console_mail_clear(&cm);
	tu_ra_close(&fx);
	return 0;
}

static int64_t
count_certs(void)
{
	int64_t n = 0;
	struct err e;

	err_clear(&e);
	OK(store_cert_count(fx.ca.st, -1, &n, &e));
	return n;
}

static int64_t
count_mail(void)
{
	int64_t n = 0;
	struct err e;

	err_clear(&e);
	OK(store_mail_count(fx.ca.st, -1, &n, &e));
	return n;
}

/* The text of the newest queued mail (opened as the sender would); caller frees. */
static char *
last_mail(void)
{
	struct store_mail m;
	struct buf b, d;
	struct err e;
	int64_t n = count_mail();
	char *s;

	err_clear(&e);
	memset(&m, 0, sizeof(m));
	/* ids are 1.. in order on both backends: the newest has the highest */
	OK(store_mail_get(fx.ca.st, n, &m, &e));
	OK(mail_body_open(&cm.mail, &m, &b, &e));
	assert_non_null(buf_cstr(&b));
	/* the headers as they are, the body decoded (base64: mail.transfer_encoding's default) */
	s = strstr((const char *)b.data, "\r\n\r\n");
	assert_non_null(s);
	buf_init(&d, MAIL_MSG_MAX);
	assert_int_equal(buf_append(&d, b.data, (size_t)(s - (char *)b.data) + 4), 0);
	assert_int_equal(b64_decode(&d, s + 4, strlen(s + 4), 1), 0);
	assert_non_null(buf_cstr(&d));
	s = strdup((const char *)d.data);
	buf_free(&b);
	buf_free(&d);
	store_mail_clear(&m);
	return s;
}

/* Adds an officer of org EX1 (or an operator when org is NULL); pin gets the access PIN. */
static void
add_officer(const char *org, const char *name, const char *email, struct ra_officer *o,
	    char pin[RA_OFFICER_PIN_LEN + 1])
{
	struct ra_officer_new q;
	struct err e;

	err_clear(&e);
	memset(&q, 0, sizeof(q));
	q.org_code = org;
	q.name = name;
	q.email = email;
	q.role = org != NULL ? RA_ROLE_OFFICER : RA_ROLE_OPERATOR;
	q.perms = RA_PERM_SERVER | RA_PERM_CLIENT;
	if (ra_officer_add(fx.ca.ca, fx.ca.st, &q, &on, "unit", o, pin, &e) == -1)
		fail_msg("ra_officer_add: %s", e.msg);
}

/*
 * What a caller proves for token: the PIN for an enrolment, the URL's own officer (as the
 * console's mTLS check would) for a renewal.
 */
static struct ra_enrol_auth
auth_for(struct store *st, const char *token, const char *pin)
{
	struct ra_enrol_auth a = {RA_ENROL_KIND_ENROL, pin, 0};
	struct ra_enrol_view v;
	enum ra_enrol_result r;
	struct err e;

	err_clear(&e);
	if (ra_officer_enrol_peek(st, token, &v, &r, &e) == 0 && r != RA_ENROL_UNKNOWN &&
	    v.kind == RA_ENROL_KIND_RENEW) {
		a.kind = RA_ENROL_KIND_RENEW;
		a.officer_id = v.officer.id;
	}
	return a;
}

/* Takes the enrolment token with pin: result and (OK) the certificate. */
static enum ra_enrol_result
take(const char *token, const char *pin, struct ra_enrol_cert *c)
{
	enum ra_enrol_result res = RA_ENROL_RESULT__MAX;
	struct ra_enrol_auth a = auth_for(fx.ca.st, token, pin);
	struct err e;

	err_clear(&e);
	if (ra_officer_enrol_take(fx.ca.ca, fx.ca.st, token, &a, &res, c, &e) == -1)
		fail_msg("ra_officer_enrol_take: %s", e.msg);
	return res;
}

/* The certificate (DER, caller frees) in a PKCS#12 opened with its PIN. */
static unsigned char *
p12_cert(const unsigned char *p12, size_t len, const char *pin, int *derlen)
{
	const unsigned char *p = p12;
	PKCS12 *pk = d2i_PKCS12(NULL, &p, (long)len);
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *chain = NULL;
	unsigned char *der = NULL;
	int exact = 0, similar = 0;

	assert_non_null(pk);
	assert_int_equal(PKCS12_parse(pk, "wrong-pin", &key, &x, &chain), 0);
	ERR_clear_error();
	assert_int_equal(PKCS12_parse(pk, pin, &key, &x, &chain), 1);
	assert_non_null(key);
	assert_non_null(x);
	assert_int_equal(X509_check_private_key(x, key), 1);
	x509_name_officer_count(X509_get_subject_name(x), &exact, &similar);
	assert_int_equal(exact, 1);
	*derlen = i2d_X509(x, &der);
	assert_true(*derlen > 0);
	EVP_PKEY_free(key);
	X509_free(x);
	sk_X509_pop_free(chain, X509_free);
	PKCS12_free(pk);
	return der;
}

/* The session id of the last login() (each login starts a session of its own). */
static char last_sid[RA_TOKEN_TEXT];

static enum ra_login_result
login(const unsigned char *der, size_t len, time_t now, struct ra_officer *o)
{
	enum ra_login_result why = RA_LOGIN__MAX;
	struct ra_login_session ls;
	unsigned char fpr[32], raw[RA_TOKEN_LEN];
	struct err e;

	err_clear(&e);
	ra_token_new(raw, last_sid);
	ls.sid = last_sid;
	ls.client = "192.0.2.1";
	if (ra_officer_login(fx.ca.ca, fx.ca.st, der, len, now, &ls, o, fpr, &why, &e) == -1)
		fail_msg("ra_officer_login: %s", e.msg);
	return why;
}

/* An enrolled officer: its certificate's DER (caller frees) and serial. */
static unsigned char *
enrolled(const char *org, const char *name, const char *email, struct ra_officer *o,
	 char serial[STORE_SERIAL_MAX], int *derlen)
{
	struct ra_enrol_cert c;
	char pin[RA_OFFICER_PIN_LEN + 1];
	unsigned char *der;

	add_officer(org, name, email, o, pin);
	assert_int_equal(take(hk.enrol_token, pin, &c), RA_ENROL_OK);
	der = p12_cert(c.p12, c.p12len, c.pin, derlen);
	snprintf(serial, STORE_SERIAL_MAX, "%s", c.serial);
	ra_enrol_cert_clear(&c);
	return der;
}

static void
test_perms(void **state)
{
	char t[RA_PERMS_TEXT];
	unsigned p;
	enum ra_role r;

	(void)state;
	OK(ra_perms_parse("server,client,codesign,acme,stats", &p));
	assert_int_equal(p, RA_PERM_ALL);
	OK(ra_perms_parse(" stats , server ", &p));
	assert_int_equal(p, RA_PERM_STATS | RA_PERM_SERVER);
	ra_perms_format(p, t);
	assert_string_equal(t, "server,stats");
	OK(ra_perms_parse("", &p));
	assert_int_equal(p, 0);
	ra_perms_format(0, t);
	assert_string_equal(t, "none");
	assert_int_equal(ra_perms_parse("server,server", &p), -1);
	assert_int_equal(ra_perms_parse("server,root", &p), -1);
	assert_int_equal(ra_perms_parse("server,", &p), -1);
	OK(ra_role_parse("auditor", &r));
	assert_int_equal(r, RA_ROLE_AUDITOR);
	assert_int_equal(ra_role_parse("admin", &r), -1);
	assert_string_equal(ra_login_result_name(RA_LOGIN_PERSONAL), "personal");
	assert_string_equal(ra_enrol_result_name(RA_ENROL_WRONG_PIN), "wrong_pin");
	assert_string_equal(ra_login_result_name(RA_LOGIN__MAX), "error");
}

static void
test_add(void **state)
{
	struct ra_officer_new q;
	struct ra_officer o, g;
	struct store_enrol en;
	struct ra_enrol_view v;
	enum ra_enrol_result res;
	unsigned char raw[RA_TOKEN_LEN], th[STORE_HASH_LEN], want[STORE_HASH_LEN];
	char pin[RA_OFFICER_PIN_LEN + 1], url[256], *m;
	int64_t mails = count_mail();
	int before = hk.enrol;
	struct err e;

	(void)state;
	err_clear(&e);
	add_officer("EX1", "Taro Yamada", "taro@example.co.jp", &o, pin);
	assert_int_equal(strlen(pin), RA_OFFICER_PIN_LEN);
	assert_int_equal(strspn(pin, RA_CODE_ALPHABET), RA_OFFICER_PIN_LEN);
	assert_int_equal(hk.enrol, before + 1);
	assert_int_equal(count_mail(), mails + 1);
	assert_string_equal(o.org_code, "EX1");
	assert_string_equal(o.org_name, "Example One");
	assert_true(o.active);
	/* the mail: subject, the URL on the portal's base, never the PIN */
	m = last_mail();
	snprintf(url, sizeof(url), "/officer/enrol/%s", hk.enrol_token);
	assert_non_null(strstr(m, url));
	assert_null(strstr(m, pin));
	assert_non_null(strstr(m, "Subject: =?UTF-8?"));
	free(m);
	/* the store has the keyed hash of the PIN, nothing else of it */
	OK(ra_token_decode(hk.enrol_token, raw));
	ra_token_hash(raw, th);
	OK(store_enrol_get(fx.ca.st, th, &en, &e));
	crypto_generichash(want, sizeof(want), (const unsigned char *)pin, strlen(pin), raw,
			   RA_TOKEN_LEN);
	assert_memory_equal(en.pin_hash, want, STORE_HASH_LEN);
	assert_string_equal(en.state, "open");
	assert_string_equal(en.kind, "enrol");
	assert_true(en.expires >= util_now() + RA_OFFICER_ENROL_DAYS * DAY - 60);
	store_enrol_clear(&en);
	OK(ra_officer_enrol_peek(fx.ca.st, hk.enrol_token, &v, &res, &e));
	assert_int_equal(res, RA_ENROL_OK);
	assert_int_equal(v.kind, RA_ENROL_KIND_ENROL);
	assert_int_equal(v.tries_left, RA_OFFICER_TRIES);
	assert_int_equal(v.officer.id, o.id);
	OK(ra_officer_enrol_peek(fx.ca.st, "not-a-token", &v, &res, &e));
	assert_int_equal(res, RA_ENROL_UNKNOWN);
	OK(ra_officer_get(fx.ca.st, o.id, &g, &e));
	assert_string_equal(g.email, "taro@example.co.jp");
	assert_int_equal(g.perms, RA_PERM_SERVER | RA_PERM_CLIENT);
	OK(ra_officer_set_perms(fx.ca.st, o.id, RA_PERM_STATS, "unit", &e));
	OK(ra_officer_get(fx.ca.st, o.id, &g, &e));
	assert_int_equal(g.perms, RA_PERM_STATS);
	/* refusals write nothing */
	mails = count_mail();
	memset(&q, 0, sizeof(q));
	q.org_code = "NOPE";
	q.name = "Taro Yamada";
	q.email = "taro@example.co.jp";
	err_clear(&e);
	assert_int_equal(ra_officer_add(fx.ca.ca, fx.ca.st, &q, &on, "unit", &o, pin, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	q.org_code = "EX1";
	q.email = "not an address";
	err_clear(&e);
	assert_int_equal(ra_officer_add(fx.ca.ca, fx.ca.st, &q, &on, "unit", &o, pin, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	q.email = "taro@example.co.jp";
	q.name = "";
	err_clear(&e);
	assert_int_equal(ra_officer_add(fx.ca.ca, fx.ca.st, &q, &on, "unit", &o, pin, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	q.name = "Taro Yamada";
	q.role = RA_ROLE_AUDITOR; /* with an organization */
	err_clear(&e);
	assert_int_equal(ra_officer_add(fx.ca.ca, fx.ca.st, &q, &on, "unit", &o, pin, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_int_equal(count_mail(), mails);
}

static void
test_wrong_pin(void **state)
{
	struct ra_enrol_cert c;
	struct ra_officer o;
	struct ra_enrol_view v;
	enum ra_enrol_result res;
	char pin[RA_OFFICER_PIN_LEN + 1];
	int64_t certs;
	struct err e;
	int i;

	(void)state;
	err_clear(&e);
	add_officer("EX1", "Hanako Suzuki", "hanako@example.co.jp", &o, pin);
	certs = count_certs();
	for (i = 1; i < RA_OFFICER_TRIES; i++) {
		assert_int_equal(take(hk.enrol_token, "AAAAAAAAAA", &c), RA_ENROL_WRONG_PIN);
		assert_int_equal(c.tries_left, RA_OFFICER_TRIES - i);
	}
	assert_int_equal(take(hk.enrol_token, "", &c), RA_ENROL_LOCKED);
	assert_int_equal(take(hk.enrol_token, pin, &c), RA_ENROL_LOCKED);
	assert_null(c.p12);
	OK(ra_officer_enrol_peek(fx.ca.st, hk.enrol_token, &v, &res, &e));
	assert_int_equal(res, RA_ENROL_LOCKED);
	assert_int_equal(count_certs(), certs);
}

static void
test_expiry(void **state)
{
	struct ra_enrol_cert c;
	struct ra_officer o;
	enum ra_enrol_result res;
	char pin[RA_OFFICER_PIN_LEN + 1];
	int64_t certs;
	struct err e;

	(void)state;
	err_clear(&e);
	add_officer("EX1", "Jiro Tanaka", "jiro@example.co.jp", &o, pin);
	certs = count_certs();
	util_clock_set_offset((RA_OFFICER_ENROL_DAYS + 1) * DAY);
	OK(ra_officer_enrol_peek(fx.ca.st, hk.enrol_token, NULL, &res, &e));
	assert_int_equal(res, RA_ENROL_EXPIRED);
	assert_int_equal(take(hk.enrol_token, pin, &c), RA_ENROL_EXPIRED);
	util_clock_set_offset(0);
	/* marked expired: it stays so */
	assert_int_equal(take(hk.enrol_token, pin, &c), RA_ENROL_EXPIRED);
	assert_int_equal(count_certs(), certs);
}

/* Two requests with the right PIN at once, each on its own connection. */
struct twin {
	const char *token, *pin;
	enum ra_enrol_result res;
	struct ra_enrol_cert c;
	int rc;
};

static void *
twin_run(void *arg)
{
	struct twin *t = arg;
	struct store *st = NULL;
	struct err e;

	err_clear(&e);
	t->rc = ca_store_open(fx.ca.ca, &st, &e);
	if (t->rc == 0) {
		struct ra_enrol_auth a = auth_for(st, t->token, t->pin);

		t->rc = ra_officer_enrol_take(fx.ca.ca, st, t->token, &a, &t->res, &t->c, &e);
	}
	if (t->rc == -1)
		fprintf(stderr, "twin: %s\n", e.msg);
	store_close(st);
	return NULL;
}

static void
test_take_once(void **state)
{
	struct ra_enrol_cert c, c2;
	struct ra_officer o, lo;
	struct ra_enrol_view v;
	enum ra_enrol_result res;
	struct twin tw[2];
	pthread_t th[2];
	char pin[RA_OFFICER_PIN_LEN + 1], token[RA_TOKEN_TEXT];
	unsigned char *der, *data = NULL;
	size_t len = 0;
	int64_t certs;
	int derlen, i, ok = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	add_officer("EX1", "Saburo Ito", "saburo@example.co.jp", &o, pin);
	certs = count_certs();
	assert_int_equal(take(hk.enrol_token, pin, &c), RA_ENROL_OK);
	assert_int_equal(count_certs(), certs + 1);
	assert_non_null(c.p12);
	assert_int_equal(strlen(c.pin), RA_PIN_LEN);
	/* a retry, a Back: no second certificate */
	assert_int_equal(take(hk.enrol_token, pin, &c2), RA_ENROL_ISSUED);
	assert_null(c2.p12);
	assert_int_equal(count_certs(), certs + 1);
	OK(ra_officer_enrol_peek(fx.ca.st, hk.enrol_token, &v, &res, &e));
	assert_int_equal(res, RA_ENROL_ISSUED);
	/* the PKCS#12 opens with its PIN, and its certificate logs in */
	der = p12_cert(c.p12, c.p12len, c.pin, &derlen);
	assert_int_equal(login(der, (size_t)derlen, util_now(), &lo), RA_LOGIN_OK);
	assert_int_equal(lo.id, o.id);
	assert_int_equal(login(der, (size_t)derlen, util_now(), &lo), RA_LOGIN_OK);
	{
		size_t swept = 0;
		int ended = 0;

		/* the session of that login ends once (console.logout), the one before by the
		 * idle sweep (console.timeout) */
		OK(ra_osess_end(fx.ca.st, last_sid, util_now(), &ended, &e));
		assert_int_equal(ended, 1);
		OK(ra_osess_end(fx.ca.st, last_sid, util_now(), &ended, &e));
		assert_int_equal(ended, 0);
		OK(ra_osess_sweep(fx.ca.st, 60, util_now() + 61, &swept, &e));
		assert_int_equal(swept, 1);
	}
	/* its single download */
	if (ra_officer_download_take(fx.ca.st, c.dl, &data, &len, &e) == -1)
		fail_msg("download: %s", e.msg);
	assert_int_equal(len, c.p12len);
	assert_memory_equal(data, c.p12, len);
	free(data);
	err_clear(&e);
	assert_int_equal(ra_officer_download_take(fx.ca.st, c.dl, &data, &len, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	OPENSSL_free(der);
	ra_enrol_cert_clear(&c);
	/* an operator: O is the CA's */
	add_officer(NULL, "Shiro Kato", "shiro@example.co.jp", &o, pin);
	assert_int_equal(take(hk.enrol_token, pin, &c), RA_ENROL_OK);
	der = p12_cert(c.p12, c.p12len, c.pin, &derlen);
	assert_int_equal(login(der, (size_t)derlen, util_now(), &lo), RA_LOGIN_OK);
	assert_int_equal(lo.role, RA_ROLE_OPERATOR);
	OPENSSL_free(der);
	ra_enrol_cert_clear(&c);
	/* two at once: exactly one certificate */
	add_officer("EX1", "Goro Sato", "goro@example.co.jp", &o, pin);
	snprintf(token, sizeof(token), "%s", hk.enrol_token);
	certs = count_certs();
	memset(tw, 0, sizeof(tw));
	for (i = 0; i < 2; i++) {
		tw[i].token = token;
		tw[i].pin = pin;
		assert_int_equal(pthread_create(&th[i], NULL, twin_run, &tw[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(tw[i].rc, 0);
		assert_true(tw[i].res == RA_ENROL_OK || tw[i].res == RA_ENROL_ISSUED);
		ok += tw[i].res == RA_ENROL_OK;
		ra_enrol_cert_clear(&tw[i].c);
	}
	assert_int_equal(ok, 1);
	assert_int_equal(count_certs(), certs + 1);
}

/* A certificate of a CA of our issuing CA's name but another key (marker included). */
static unsigned char *
foreign_cert(int *len)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char *der = NULL;

	assert_non_null(k);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"Taro Yamada", -1,
				   -1, 0);
	X509_NAME_add_entry_by_NID(n, X509_OFFICER_MARKER_NID, MBSTRING_UTF8,
				   (const unsigned char *)X509_OFFICER_MARKER_VALUE, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, X509_get_subject_name(fx.ca.ca->cert));
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	*len = i2d_X509(x, &der);
	X509_NAME_free(n);
	X509_free(x);
	EVP_PKEY_free(k);
	return der;
}

/* A certificate of ours issued through the RA directly (officer 1: the marker, no binding). */
static unsigned char *
ra_cert(const char *profile, int officer, int *len)
{
	struct ra_issue_req q;
	struct ca_issued c;
	struct ra_key k;
	unsigned char *der;
	struct err e;

	err_clear(&e);
	OK(ra_key_make("p256", &k, &e));
	memset(&q, 0, sizeof(q));
	q.profile = profile;
	q.officer = officer;
	q.org_code = "EX1";
	q.key = k.key;
	q.spki = k.spki;
	q.cn = "Taro Yamada";
	q.email = officer ? NULL : "taro@example.co.jp";
	q.names_given = 1;
	q.actor = "unit";
	if (ra_issue(fx.ca.ca, fx.ca.st, &q, &c, &e) == -1)
		fail_msg("ra_issue: %s", e.msg);
	der = malloc(c.derlen);
	memcpy(der, c.der, c.derlen);
	*len = (int)c.derlen;
	ca_issued_clear(&c);
	ra_key_clear(&k);
	return der;
}

static void
test_login(void **state)
{
	struct ra_officer o, lo;
	char serial[STORE_SERIAL_MAX], pin[RA_OFFICER_PIN_LEN + 1];
	unsigned char *der, *f, *pers, *unb;
	int dl, fl, pl, ul;
	struct store_cert rec;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(login(NULL, 0, util_now(), &lo), RA_LOGIN_NO_CERT);
	assert_int_equal(login((const unsigned char *)"junk", 4, util_now(), &lo),
			 RA_LOGIN_FOREIGN);
	f = foreign_cert(&fl);
	assert_int_equal(login(f, (size_t)fl, util_now(), &lo), RA_LOGIN_FOREIGN);
	pers = ra_cert("client", 0, &pl);
	assert_int_equal(login(pers, (size_t)pl, util_now(), &lo), RA_LOGIN_PERSONAL);
	unb = ra_cert("officer", 1, &ul);
	assert_int_equal(login(unb, (size_t)ul, util_now(), &lo), RA_LOGIN_UNKNOWN);
	der = enrolled("EX1", "Rokuro Abe", "rokuro@example.co.jp", &o, serial, &dl);
	assert_int_equal(login(der, (size_t)dl, util_now(), &lo), RA_LOGIN_OK);
	memset(&rec, 0, sizeof(rec));
	OK(store_cert_get(fx.ca.st, serial, &rec, &e));
	assert_int_equal(login(der, (size_t)dl, rec.not_after + DAY, &lo), RA_LOGIN_EXPIRED);
	assert_int_equal(login(der, (size_t)dl, rec.not_before - DAY, &lo), RA_LOGIN_EXPIRED);
	store_cert_clear(&rec);
	OK(ra_officer_set_status(fx.ca.st, o.id, 0, "unit", &e));
	assert_int_equal(login(der, (size_t)dl, util_now(), &lo), RA_LOGIN_DISABLED);
	assert_int_equal(lo.id, o.id);
	err_clear(&e);
	assert_int_equal(ra_officer_reenrol(fx.ca.ca, fx.ca.st, o.id, CA_REASON_KEY_COMPROMISE, &on,
					    "unit", pin, &e),
			 -1);
	assert_int_equal(e.code, ERR_REFUSED);
	OK(ra_officer_set_status(fx.ca.st, o.id, 1, "unit", &e));
	assert_int_equal(login(der, (size_t)dl, util_now(), &lo), RA_LOGIN_OK);
	/* lost: re-enrolled, the old certificate revoked */
	OK(ra_officer_reenrol(fx.ca.ca, fx.ca.st, o.id, CA_REASON_KEY_COMPROMISE, &on, "unit", pin,
			      &e));
	assert_int_equal(strlen(pin), RA_OFFICER_PIN_LEN);
	assert_int_equal(login(der, (size_t)dl, util_now(), &lo), RA_LOGIN_REVOKED);
	OK(store_cert_get(fx.ca.st, serial, &rec, &e));
	assert_int_equal(rec.status, STORE_CERT_REVOKED);
	assert_int_equal(rec.reason, CA_REASON_KEY_COMPROMISE);
	store_cert_clear(&rec);
	OPENSSL_free(f);
	OPENSSL_free(der);
	free(pers);
	free(unb);
}

/*
 * Renewal at t, 10 days before the certificate ends: the signer signs at the real time, so
 * the schedule and the logins are given t instead of moving the clock.
 */
static void
test_renew(void **state)
{
	struct ra_officer o, o2, lo;
	struct ra_enrol_view v;
	struct ra_enrol_cert c;
	enum ra_enrol_result res;
	struct store_cert rec;
	char serial[STORE_SERIAL_MAX], serial2[STORE_SERIAL_MAX], url[256], *m;
	unsigned char *der, *der2, *nder;
	int dl, dl2, nl;
	int64_t mails;
	size_t n;
	time_t t;
	struct err e;

	(void)state;
	err_clear(&e);
	der = enrolled("EX1", "Shichiro Mori", "shichiro@example.co.jp", &o, serial, &dl);
	memset(&rec, 0, sizeof(rec));
	OK(store_cert_get(fx.ca.st, serial, &rec, &e));
	t = rec.not_after - 10 * DAY;
	store_cert_clear(&rec);
	/* not due yet */
	OK(ra_officer_renew_due(fx.ca.ca, fx.ca.st, util_now(), &on, &n, &e));
	assert_int_equal(n, 0);
	/* due: a renewal and its mail for each officer with a certificate, once */
	mails = count_mail();
	OK(ra_officer_renew_due(fx.ca.ca, fx.ca.st, t, &on, &n, &e));
	assert_true(n >= 1);
	assert_int_equal(count_mail(), mails + (int64_t)n);
	m = last_mail(); /* officers are renewed in id order: this one is the newest */
	snprintf(url, sizeof(url), "https://127.0.0.1:8444/officer/renew/%s", hk.renew_token);
	assert_non_null(strstr(m, url));
	assert_non_null(strstr(m, "Shichiro Mori"));
	free(m);
	mails = count_mail();
	OK(ra_officer_renew_due(fx.ca.ca, fx.ca.st, t, &on, &n, &e));
	assert_int_equal(n, 0);
	assert_int_equal(count_mail(), mails);
	OK(ra_officer_enrol_peek(fx.ca.st, hk.renew_token, &v, &res, &e));
	assert_int_equal(res, RA_ENROL_OK);
	assert_int_equal(v.kind, RA_ENROL_KIND_RENEW);
	assert_int_equal(v.officer.id, o.id);
	/* a renewal URL never issues as an enrolment (a PIN page), nor for another officer */
	{
		struct ra_enrol_auth as_enrol = {RA_ENROL_KIND_ENROL, "AAAAAAAAAA", 0};
		struct ra_enrol_auth other = {RA_ENROL_KIND_RENEW, NULL, o.id + 1000};
		int64_t certs = count_certs();

		OK(ra_officer_enrol_take(fx.ca.ca, fx.ca.st, hk.renew_token, &as_enrol, &res, &c,
					 &e));
		assert_int_equal(res, RA_ENROL_UNKNOWN);
		OK(ra_officer_enrol_take(fx.ca.ca, fx.ca.st, hk.renew_token, &other, &res, &c, &e));
		assert_int_equal(res, RA_ENROL_UNKNOWN);
		assert_int_equal(count_certs(), certs);
	}
	/* the console checked the current certificate: no PIN */
	assert_int_equal(login(der, (size_t)dl, t, &lo), RA_LOGIN_OK);
	assert_int_equal(take(hk.renew_token, NULL, &c), RA_ENROL_OK);
	nder = p12_cert(c.p12, c.p12len, c.pin, &nl);
	ra_enrol_cert_clear(&c);
	assert_int_equal(take(hk.renew_token, NULL, &c), RA_ENROL_ISSUED);
	/* the old one works until the new one is used */
	assert_int_equal(login(der, (size_t)dl, t, &lo), RA_LOGIN_OK);
	assert_int_equal(login(nder, (size_t)nl, t, &lo), RA_LOGIN_OK);
	assert_int_equal(lo.id, o.id);
	assert_int_equal(login(der, (size_t)dl, t, &lo), RA_LOGIN_REVOKED);
	OK(store_cert_get(fx.ca.st, serial, &rec, &e));
	assert_int_equal(rec.status, STORE_CERT_REVOKED);
	assert_int_equal(rec.reason, CA_REASON_SUPERSEDED);
	store_cert_clear(&rec);
	/* nothing is due now (at t the new certificate, signed at the real time, would be) */
	OK(ra_officer_renew_due(fx.ca.ca, fx.ca.st, util_now(), &on, &n, &e));
	assert_int_equal(n, 0);

	/* another officer who never logs in with the renewed certificate: 14 days later */
	der2 = enrolled("EX1", "Hachiro Ono", "hachiro@example.co.jp", &o2, serial2, &dl2);
	OK(store_cert_get(fx.ca.st, serial2, &rec, &e));
	t = rec.not_after - 10 * DAY;
	store_cert_clear(&rec);
	OK(ra_officer_renew_due(fx.ca.ca, fx.ca.st, t, &on, &n, &e));
	assert_true(n >= 1); /* (the one renewed above too: see the note at t) */
	OK(ra_officer_enrol_peek(fx.ca.st, hk.renew_token, &v, &res, &e));
	assert_int_equal(v.officer.id, o2.id);
	assert_int_equal(take(hk.renew_token, NULL, &c), RA_ENROL_OK);
	ra_enrol_cert_clear(&c);
	OK(ra_officer_supersede_due(fx.ca.ca, fx.ca.st, util_now() + 13 * DAY, &n, &e));
	assert_int_equal(n, 0);
	OK(ra_officer_supersede_due(fx.ca.ca, fx.ca.st, util_now() + 14 * DAY, &n, &e));
	assert_int_equal(n, 1);
	assert_int_equal(login(der2, (size_t)dl2, util_now(), &lo), RA_LOGIN_REVOKED);
	OK(ra_officer_supersede_due(fx.ca.ca, fx.ca.st, util_now() + 14 * DAY, &n, &e));
	assert_int_equal(n, 0);
	OPENSSL_free(der);
	OPENSSL_free(der2);
	OPENSSL_free(nder);
}

/* ---- the fault loops: each statement failed in turn, then the commit ---- */

struct fl {
	struct tu_ra_snap snap;
	long long officers, enrolments, issued, ocerts;
	const char *token, *pin;
	const unsigned char *der;
	size_t derlen;
	int64_t officer_id;
};

static void
fl_take_snap(struct fl *f)
{
	tu_ra_snap_take(fx.ca.st, &f->snap);
	f->officers = tu_ra_sql_count(&fx, "SELECT count(*) FROM officers");
	f->enrolments = tu_ra_sql_count(&fx, "SELECT count(*) FROM officer_enrolments");
	f->issued = tu_ra_sql_count(&fx, "SELECT count(*) FROM officer_enrolments WHERE state = "
					 "'issued'");
	f->ocerts = tu_ra_sql_count(&fx, "SELECT count(*) FROM officer_certs WHERE first_login IS "
					 "NOT NULL OR status <> 'active'");
}

static void
fl_same(void *arg)
{
	struct fl *f = arg, now;

	tu_ra_snap_same(fx.ca.st, &f->snap);
	fl_take_snap(&now);
	assert_int_equal(now.officers, f->officers);
	assert_int_equal(now.enrolments, f->enrolments);
	assert_int_equal(now.issued, f->issued);
	assert_int_equal(now.ocerts, f->ocerts);
}

static int
fl_add(void *arg, struct err *e)
{
	struct ra_officer_new q;
	struct ra_officer o;
	char pin[RA_OFFICER_PIN_LEN + 1];

	(void)arg;
	memset(&q, 0, sizeof(q));
	q.org_code = "EX2";
	q.name = "Kuro Endo";
	q.email = "kuro@other.example.jp";
	return ra_officer_add(fx.ca.ca, fx.ca.st, &q, &on, "unit", &o, pin, e);
}

static int
fl_take(void *arg, struct err *e)
{
	struct fl *f = arg;
	struct ra_enrol_cert c;
	enum ra_enrol_result res;
	int rc;

	{
		/* an enrolment URL (no store read here: the loop counts statements) */
		struct ra_enrol_auth a = {RA_ENROL_KIND_ENROL, f->pin, 0};

		rc = ra_officer_enrol_take(fx.ca.ca, fx.ca.st, f->token, &a, &res, &c, e);
	}
	if (rc == 0 && res != RA_ENROL_OK)
		fail_msg("take: %s", ra_enrol_result_name(res));
	ra_enrol_cert_clear(&c);
	return rc;
}

static int
fl_login(void *arg, struct err *e)
{
	struct fl *f = arg;
	struct ra_officer o;
	enum ra_login_result why;
	unsigned char fpr[32];
	int rc;

	{
		struct ra_login_session ls;
		unsigned char raw[RA_TOKEN_LEN];
		char sid[RA_TOKEN_TEXT];

		ra_token_new(raw, sid);
		ls.sid = sid;
		ls.client = "192.0.2.1";
		rc = ra_officer_login(fx.ca.ca, fx.ca.st, f->der, f->derlen, util_now(), &ls, &o,
				      fpr, &why, e);
	}
	if (rc == 0 && why != RA_LOGIN_OK)
		fail_msg("login: %s", ra_login_result_name(why));
	return rc;
}

static void
test_faults(void **state)
{
	struct fl f;
	struct ra_officer o;
	struct ra_enrol_cert c;
	char pin[RA_OFFICER_PIN_LEN + 1], token[RA_TOKEN_TEXT], serial[STORE_SERIAL_MAX];
	unsigned char *der, *nder;
	struct store_cert rec;
	struct err e;
	int dl, nl;
	int64_t mails;
	size_t n;

	(void)state;
	memset(&f, 0, sizeof(f));
	/* add: the officer, its enrolment, the audit entry and the mail, or nothing */
	fl_take_snap(&f);
	mails = f.snap.mail;
	assert_true(tu_ra_fault_loop(fx.ca.st, "add", 1, fl_add, fl_same, &f) > 0);
	assert_int_equal(count_mail(), mails + 1);
	/* take: the certificate and everything it writes, or nothing */
	add_officer("EX1", "Juro Ueda", "juro@example.co.jp", &o, pin);
	snprintf(token, sizeof(token), "%s", hk.enrol_token);
	fl_take_snap(&f);
	f.token = token;
	f.pin = pin;
	assert_true(tu_ra_fault_loop(fx.ca.st, "take", 1, fl_take, fl_same, &f) > 0);
	assert_int_equal(take(token, pin, &c), RA_ENROL_ISSUED);
	/* the first login with a renewed certificate: the supersede, or nothing */
	der = enrolled("EX1", "Juichi Kudo", "juichi@example.co.jp", &o, serial, &dl);
	memset(&rec, 0, sizeof(rec));
	err_clear(&e);
	OK(store_cert_get(fx.ca.st, serial, &rec, &e));
	OK(ra_officer_renew_due(fx.ca.ca, fx.ca.st, rec.not_after - 10 * DAY, &on, &n, &e));
	store_cert_clear(&rec);
	assert_true(n >= 1); /* officers are renewed in id order: the last is this one */
	assert_int_equal(take(hk.renew_token, NULL, &c), RA_ENROL_OK);
	nder = p12_cert(c.p12, c.p12len, c.pin, &nl);
	ra_enrol_cert_clear(&c);
	fl_take_snap(&f);
	f.der = nder;
	f.derlen = (size_t)nl;
	assert_true(tu_ra_fault_loop(fx.ca.st, "login", 1, fl_login, fl_same, &f) > 0);
	assert_int_equal(login(der, (size_t)dl, util_now(), &o), RA_LOGIN_REVOKED);
	OPENSSL_free(der);
	OPENSSL_free(nder);
}

/* Last: the audit chain verifies after all of the above. */
static void
test_audit(void **state)
{
	struct ca_audit_report r;
	struct ra_officer *v = NULL;
	size_t n = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	memset(&r, 0, sizeof(r));
	assert_int_equal(ca_audit_verify(fx.ca.st, &r, &e), 0);
	assert_true(r.entries > 20);
	OK(ra_officer_list(fx.ca.st, "EX1", &v, &n, &e));
	assert_true(n >= 5);
	free(v);
	OK(ra_officer_list(fx.ca.st, NULL, &v, &n, &e));
	assert_true(n >= 6);
	free(v);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_perms),
	};
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test(test_add),	   cmocka_unit_test(test_wrong_pin),
	    cmocka_unit_test(test_expiry), cmocka_unit_test(test_take_once),
	    cmocka_unit_test(test_login),  cmocka_unit_test(test_renew),
	    cmocka_unit_test(test_faults), cmocka_unit_test(test_audit),
	};
	int failed = cmocka_run_group_tests_name("ra officers", pure, NULL, NULL);

	failed += cmocka_run_group_tests_name("ra officers on SQLite", stored, setup, teardown);
	if (tu_pg() == NULL) {
		print_message("SHOMEI_TEST_PG is not set: PostgreSQL skipped "
			      "(run through scripts/with-pg.sh)\n");
		return failed;
	}
	want_pg = 1;
	memset(&hk, 0, sizeof(hk));
	return failed +
	       cmocka_run_group_tests_name("ra officers on PostgreSQL", stored, setup, teardown);
}
