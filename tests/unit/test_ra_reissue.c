/*
 * ra re-issue unit tests (src/ra/reissue.c, DESIGN.md 2.3) through a CA on SQLite and on
 * PostgreSQL: the login's outcomes (every wrong part the same), the holder's list with the
 * reason for each certificate, the field codes, and the commit — everything in one
 * transaction, a repeat writing nothing, and every statement of it failed in turn (with
 * store_fault_set) leaving nothing half-written, the retry then succeeding.
 */
#include "testutil.h"
#include "tu_x509.h"
#include "tu_ca.h"

#include <sodium.h>

#include "ra/ra.h"

#define OK(x) assert_int_equal((x), 0)

#define PASSWORD "correct horse battery"
#define HOLDER "taro@example.co.jp"

static struct tu_ca fx;

/* The reissued hook: what it was told, and the mail queued in the operation's transaction. */
struct hook {
	int calls;
	int fail;
	char to[256];
	char old_serial[STORE_SERIAL_MAX];
	char code[RA_CODE_LEN];
};

static int
hook_reissued(void *arg, struct store *st, const char *to, const char *old_serial, const char *code,
	      struct err *e)
{
	struct hook *h = arg;

	h->calls++;
	snprintf(h->to, sizeof(h->to), "%s", to);
	snprintf(h->old_serial, sizeof(h->old_serial), "%s", old_serial);
	snprintf(h->code, sizeof(h->code), "%s", code);
	if (h->fail)
		return err_set(e, ERR_INTERNAL, "unit: the hook refused");
	return store_mail_enqueue(st, "ca@example.co.jp", to,
				  "Subject: re-issue\r\n\r\nYour new code is in here.\r\n",
				  util_now(), NULL, e);
}

/* A holder's issued application; what a test needs to know of it. */
struct held {
	int64_t id;
	char ticket[64];
	char serial[STORE_SERIAL_MAX];
	char code[RA_CODE_LEN];
};

static int
setup_sqlite(void **state)
{
	(void)state;
	assert_true(sodium_init() >= 0);
	tu_ca_open(&fx, 0, "test_ra_reissue");
	return 0;
}

static int
setup_pg(void **state)
{
	(void)state;
	assert_true(sodium_init() >= 0);
	tu_ca_open(&fx, 1, "test_ra_reissue");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_ca_close(&fx);
	return 0;
}

/* Organizations EX1 (example.co.jp) and EX2 (other.example.jp). */
static void
orgs(void)
{
	const char *const d1[] = {"example.co.jp"};
	const char *const d2[] = {"other.example.jp"};
	struct ra_org_change ch;
	struct err e;

	err_clear(&e);
	ra_org_change_init(&ch);
	ch.domains.v = d1;
	ch.domains.n = 1;
	ch.domains.set = 1;
	OK(ra_org_add(fx.st, "EX1", "Example One", &ch, "unit", &e));
	ch.domains.v = d2;
	OK(ra_org_add(fx.st, "EX2", "Example Two", &ch, "unit", &e));
}

/*
 * An application of org made by applicant email for holder subject_email (client profile,
 * OU Sales), mail-verified, submitted with PASSWORD and issued for days (0: the profile's
 * default) with a new certificate code: registered -> mail-verified -> submitted -> issued.
 */
static void
held_make(const char *org, const char *email, const char *subject_email, long days, struct held *h)
{
	struct store_org o;
	struct store_app a;
	struct ra_app_change ch;
	struct ra_issue_req q;
	struct ca_issued out;
	struct err e;
	char **numbers = NULL, pwhash[crypto_pwhash_STRBYTES], san[300];
	unsigned char code_hash[STORE_HASH_LEN], *der;
	time_t now = util_now();
	int len;

	err_clear(&e);
	memset(h, 0, sizeof(*h));
	memset(&o, 0, sizeof(o));
	OK(store_org_get(fx.st, org, &o, &e));
	OK(ra_ticket_create(fx.st, org, "client", 1, "unit", &numbers, &e));
	snprintf(h->ticket, sizeof(h->ticket), "%s", numbers[0]);
	free(numbers[0]);
	free(numbers);
	memset(&a, 0, sizeof(a));
	a.org_id = o.id;
	a.ticket = h->ticket;
	a.applicant_type = "self";
	a.email = (char *)email;
	a.created = now;
	a.expires = now + 3 * 86400;
	OK(store_app_add(fx.st, &a, &h->id, &e));
	OK(ra_app_move(fx.st, h->id, RA_APP_REGISTERED, RA_APP_EV_VERIFY, NULL, &e));
	OK(crypto_pwhash_str(pwhash, PASSWORD, strlen(PASSWORD), crypto_pwhash_OPSLIMIT_MIN,
			     crypto_pwhash_MEMLIMIT_MIN));
	a.profile = "client";
	a.subject_email = (char *)subject_email;
	a.name_romaji = "Taro Yamada";
	a.name_kanji = "山田太郎";
	a.ou = "Sales";
	a.key_mode = "p256";
	a.password_hash = pwhash;
	memset(&ch, 0, sizeof(ch));
	ch.values = &a;
	ch.when = now;
	OK(ra_app_move(fx.st, h->id, RA_APP_MAIL_VERIFIED, RA_APP_EV_SUBMIT, &ch, &e));
	snprintf(san, sizeof(san), "email:%s", subject_email);
	der = tu_csr_ex("/OU=Sales/CN=Taro Yamada", san, &len);
	memset(&q, 0, sizeof(q));
	q.profile = "client";
	q.org_code = org;
	q.csr = der;
	q.csrlen = (size_t)len;
	q.days = days;
	q.actor = "unit";
	memset(&out, 0, sizeof(out));
	if (ra_issue(fx.ca, fx.st, &q, &out, &e) == -1)
		fail_msg("issue: %s", e.msg);
	OPENSSL_free(der);
	snprintf(h->serial, sizeof(h->serial), "%s", out.serial);
	ra_code_new(h->code, code_hash);
	memset(&ch, 0, sizeof(ch));
	ch.serial = out.serial;
	ch.code_hash = code_hash;
	ch.when = now;
	OK(ra_app_move(fx.st, h->id, RA_APP_SUBMITTED, RA_APP_EV_ISSUE, &ch, &e));
	ca_issued_clear(&out);
	store_org_clear(&o);
}

/* ---- login ---- */

static enum ra_reissue_login_result
login(const char *email, const char *password, const char *code, int64_t *id)
{
	enum ra_reissue_login_result res;
	struct ra_app a;
	struct err e;

	err_clear(&e);
	OK(ra_reissue_login(fx.st, email, password, code, &a, &res, &e));
	*id = a.id;
	if (res == RA_REISSUE_LOGIN_OK) {
		assert_string_equal(a.org_name, "Example One");
		assert_string_equal(a.profile, "client");
		assert_int_equal(a.state, RA_APP_ISSUED);
	} else {
		assert_int_equal(a.id, 0); /* nothing of the application leaks */
	}
	ra_app_clear(&a);
	return res;
}

static void
test_login(void **state)
{
	struct held h;
	char typed[64];
	int64_t id;
	size_t i, k = 0;

	(void)state;
	orgs();
	held_make("EX1", HOLDER, "t.yamada@example.co.jp", 0, &h);
	/* the right combination: by the applicant's or the holder's address */
	assert_int_equal(login(HOLDER, PASSWORD, h.code, &id), RA_REISSUE_LOGIN_OK);
	assert_int_equal(id, h.id);
	assert_int_equal(login("t.yamada@example.co.jp", PASSWORD, h.code, &id),
			 RA_REISSUE_LOGIN_OK);
	/* the code as a person types it; the address in another case */
	for (i = 0; h.code[i] != '\0'; i++)
		if (h.code[i] != '-')
			typed[k++] = (char)(h.code[i] | 0x20);
	typed[k] = '\0';
	assert_int_equal(login("TARO@EXAMPLE.CO.JP", PASSWORD, typed, &id), RA_REISSUE_LOGIN_OK);
	assert_int_equal(id, h.id);
	/* each wrong part: the same refusal */
	assert_int_equal(login(HOLDER, "wrong password", h.code, &id), RA_REISSUE_LOGIN_REFUSED);
	assert_int_equal(login("someone@example.co.jp", PASSWORD, h.code, &id),
			 RA_REISSUE_LOGIN_REFUSED);
	assert_int_equal(login(HOLDER, PASSWORD, "AAAAA-AAAAA-AAAAA-AAAAA", &id),
			 RA_REISSUE_LOGIN_REFUSED);
	assert_int_equal(login(HOLDER, PASSWORD, "not a code", &id), RA_REISSUE_LOGIN_REFUSED);
	assert_int_equal(login(HOLDER, PASSWORD, "", &id), RA_REISSUE_LOGIN_REFUSED);
	assert_int_equal(login(HOLDER, PASSWORD, NULL, &id), RA_REISSUE_LOGIN_REFUSED);
	assert_int_equal(login(NULL, NULL, h.code, &id), RA_REISSUE_LOGIN_REFUSED);
	assert_int_equal(login(HOLDER, "", h.code, &id), RA_REISSUE_LOGIN_REFUSED);
	assert_string_equal(ra_reissue_login_result_name(RA_REISSUE_LOGIN_OK), "ok");
	assert_string_equal(ra_reissue_login_result_name(RA_REISSUE_LOGIN_REFUSED), "refused");
	assert_string_equal(ra_reissue_login_result_name(RA_REISSUE_LOGIN_RESULT__MAX), "error");
}

/* ---- the holder's list ---- */

/* The reason listed for serial in v (fails when it is not listed). */
static enum ra_reissue_why
why_of(const struct ra_reissue_item *v, size_t n, const char *serial)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].serial, serial) == 0)
			return v[i].why;
	fail_msg("%s is not listed", serial);
	return RA_REISSUE_WHY__MAX;
}

static int
listed(const struct ra_reissue_item *v, size_t n, const char *serial)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].serial, serial) == 0)
			return 1;
	return 0;
}

static void
test_list(void **state)
{
	struct held a, b, ending, shortlived, revoked, stranger, elsewhere;
	struct ra_reissue_item *v = NULL, it;
	struct ra_app la, t;
	enum ra_reissue_login_result res;
	struct err e;
	size_t n = 0;
	time_t now = util_now();

	(void)state;
	err_clear(&e);
	orgs();
	held_make("EX1", HOLDER, HOLDER, 0, &a);
	held_make("EX1", HOLDER, HOLDER, 0, &b);
	held_make("EX1", HOLDER, HOLDER, 20, &ending);
	held_make("EX1", "agent@example.co.jp", HOLDER, 1, &shortlived); /* the holder's too */
	held_make("EX1", HOLDER, HOLDER, 0, &revoked);
	held_make("EX1", "hanako@example.co.jp", "hanako@example.co.jp", 0, &stranger);
	held_make("EX2", HOLDER, "taro@other.example.jp", 0, &elsewhere);
	OK(ca_revoke(fx.ca, fx.st, revoked.serial, 1, 0, "unit", &e));

	OK(ra_reissue_login(fx.st, HOLDER, PASSWORD, a.code, &la, &res, &e));
	assert_int_equal(res, RA_REISSUE_LOGIN_OK);
	OK(ra_reissue_list(fx.st, &la, HOLDER, now, &v, &n, &e));
	assert_int_equal(n, 5);
	assert_int_equal(why_of(v, n, a.serial), RA_REISSUE_WHY_NONE);
	assert_int_equal(why_of(v, n, b.serial), RA_REISSUE_WHY_OTHER_CODE);
	assert_int_equal(why_of(v, n, ending.serial), RA_REISSUE_WHY_ENDING);
	assert_int_equal(why_of(v, n, shortlived.serial), RA_REISSUE_WHY_ENDING);
	assert_int_equal(why_of(v, n, revoked.serial), RA_REISSUE_WHY_REVOKED);
	assert_false(listed(v, n, stranger.serial));
	assert_false(listed(v, n, elsewhere.serial));
	/* newest first, with what the page shows */
	assert_string_equal(v[0].serial, revoked.serial);
	assert_int_equal(v[4].app_id, a.id);
	assert_string_equal(v[4].name_romaji, "Taro Yamada");
	assert_string_equal(v[4].name_kanji, "山田太郎");
	assert_string_equal(v[4].hostnames, "");
	assert_string_equal(v[4].profile, "client");
	assert_non_null(strstr(v[4].subject, "CN=Taro Yamada"));
	assert_true(v[4].not_before <= now && v[4].not_after > now + 300 * 86400);
	ra_reissue_items_free(v, n);
	/* three days later the one-day certificate has expired */
	OK(ra_reissue_list(fx.st, &la, "Taro@Example.co.jp", now + 3 * 86400, &v, &n, &e));
	assert_int_equal(why_of(v, n, shortlived.serial), RA_REISSUE_WHY_EXPIRED);
	assert_int_equal(why_of(v, n, a.serial), RA_REISSUE_WHY_NONE);
	ra_reissue_items_free(v, n);
	/* only the addresses of the login's application */
	v = NULL;
	n = 0;
	assert_int_equal(ra_reissue_list(fx.st, &la, "hanako@example.co.jp", now, &v, &n, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_null(v);
	ra_app_clear(&la);

	/* one certificate as the steps after the list see it */
	err_clear(&e);
	OK(ra_reissue_target(fx.st, a.id, now, &t, &it, &e));
	assert_int_equal(it.why, RA_REISSUE_WHY_NONE);
	assert_string_equal(it.serial, a.serial);
	assert_string_equal(t.cert_serial, a.serial);
	assert_string_equal(t.org_name, "Example One");
	ra_app_clear(&t);
	ra_reissue_item_clear(&it);
	OK(ra_reissue_target(fx.st, ending.id, now, &t, &it, &e));
	assert_int_equal(it.why, RA_REISSUE_WHY_ENDING);
	ra_app_clear(&t);
	ra_reissue_item_clear(&it);
	OK(ra_reissue_target(fx.st, revoked.id, now, &t, &it, &e));
	assert_int_equal(it.why, RA_REISSUE_WHY_REVOKED);
	ra_app_clear(&t);
	ra_reissue_item_clear(&it);
	assert_int_equal(ra_reissue_target(fx.st, 999999, now, &t, &it, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_string_equal(ra_reissue_why_name(RA_REISSUE_WHY_OTHER_CODE), "other_code");
	assert_string_equal(ra_reissue_why_name(RA_REISSUE_WHY__MAX), "error");
}

/* ---- the mutable fields ---- */

static struct ra_reissue_fields
check(const struct ra_app *a, const char *subject_email, const char *ou)
{
	struct ra_reissue_vals v = {subject_email, ou};
	struct ra_reissue_fields f;
	struct err e;

	err_clear(&e);
	OK(ra_reissue_check(fx.st, a, &v, &f, &e));
	assert_int_equal(f.any,
			 f.subject_email != RA_REISSUE_FIELD_OK || f.ou != RA_REISSUE_FIELD_OK);
	return f;
}

static void
test_check(void **state)
{
	struct store_org o;
	struct ra_app a;
	struct err e;
	char ou64[3 * 64 + 1], ou65[3 * 65 + 1];

	(void)state;
	err_clear(&e);
	orgs();
	memset(&o, 0, sizeof(o));
	OK(store_org_get(fx.st, "EX1", &o, &e));
	memset(&a, 0, sizeof(a));
	a.org_id = o.id;
	snprintf(a.profile, sizeof(a.profile), "client");
	store_org_clear(&o);
	/* the holder's e-mail: required for a client certificate, within the domains */
	assert_int_equal(check(&a, "t@example.co.jp", "Sales").any, 0);
	assert_int_equal(check(&a, "t@lab.EXAMPLE.co.jp", "Sales").any, 0);
	assert_int_equal(check(&a, "", "Sales").subject_email, RA_REISSUE_FIELD_MISSING);
	assert_int_equal(check(&a, "not an address", "Sales").subject_email,
			 RA_REISSUE_FIELD_INVALID);
	assert_int_equal(check(&a, "t@other.example.jp", "Sales").subject_email,
			 RA_REISSUE_FIELD_OUTSIDE_ORG);
	assert_int_equal(check(&a, "t@example.co.jp.evil", "Sales").subject_email,
			 RA_REISSUE_FIELD_OUTSIDE_ORG);
	/* the OU: required (client), 1-64 characters, no control characters, not only blanks */
	assert_int_equal(check(&a, "t@example.co.jp", "").ou, RA_REISSUE_FIELD_MISSING);
	assert_int_equal(check(&a, "t@example.co.jp", "営業部").ou, RA_REISSUE_FIELD_OK);
	for (int i = 0; i < 64; i++)
		memcpy(ou64 + 3 * i, "営", 3);
	ou64[3 * 64] = '\0';
	snprintf(ou65, sizeof(ou65), "%sX", ou64);
	assert_int_equal(check(&a, "t@example.co.jp", ou64).ou, RA_REISSUE_FIELD_OK);
	assert_int_equal(check(&a, "t@example.co.jp", ou65).ou, RA_REISSUE_FIELD_INVALID);
	assert_int_equal(check(&a, "t@example.co.jp", "   ").ou, RA_REISSUE_FIELD_INVALID);
	assert_int_equal(check(&a, "t@example.co.jp", "\xe3\x80\x80").ou,
			 RA_REISSUE_FIELD_INVALID); /* an ideographic space alone */
	assert_int_equal(check(&a, "t@example.co.jp", "Sales\x01").ou, RA_REISSUE_FIELD_INVALID);
	assert_int_equal(check(&a, "t@example.co.jp", "Sales\xc2\x85").ou,
			 RA_REISSUE_FIELD_INVALID); /* C1 NEL */
	assert_int_equal(check(&a, "t@example.co.jp", "a\xe2\x80\xa8z").ou,
			 RA_REISSUE_FIELD_INVALID); /* line separator */
	assert_int_equal(check(&a, "t@example.co.jp", "Sales\xff").ou, RA_REISSUE_FIELD_INVALID);
	assert_int_equal(check(&a, "t@example.co.jp", "\xc0\xaf").ou,
			 RA_REISSUE_FIELD_INVALID); /* overlong */
	/* both wrong: a code for each */
	{
		struct ra_reissue_fields f = check(&a, "x@other.example.jp", "");

		assert_int_equal(f.subject_email, RA_REISSUE_FIELD_OUTSIDE_ORG);
		assert_int_equal(f.ou, RA_REISSUE_FIELD_MISSING);
		assert_int_equal(f.any, 1);
	}
	/* server: both optional */
	snprintf(a.profile, sizeof(a.profile), "server");
	assert_int_equal(check(&a, "", "").any, 0);
	assert_int_equal(check(&a, "bad", "").subject_email, RA_REISSUE_FIELD_INVALID);
	assert_string_equal(ra_reissue_field_name(RA_REISSUE_FIELD_OUTSIDE_ORG), "outside_org");
	assert_string_equal(ra_reissue_field_name(RA_REISSUE_FIELD__MAX), "error");
}

/* ---- the commit ---- */

/* What the store holds that a re-issue of h would change. */
struct snap {
	int64_t live; /* live applications on h's ticket (a new one is approved and live) */
	int64_t mail;
	int64_t audit_seq;
	unsigned char audit_hash[STORE_HASH_LEN];
	enum store_cert_status status;
};

static void
snap_take(const struct held *h, struct snap *s)
{
	struct store_cert c;
	struct err e;

	err_clear(&e);
	memset(s, 0, sizeof(*s));
	memset(&c, 0, sizeof(c));
	OK(store_app_ticket_live(fx.st, h->ticket, util_now(), &s->live, &e));
	OK(store_mail_count(fx.st, -1, &s->mail, &e));
	OK(store_audit_head(fx.st, &s->audit_seq, s->audit_hash, &e));
	OK(store_cert_get(fx.st, h->serial, &c, &e));
	s->status = c.status;
	store_cert_clear(&c);
}

/* Nothing of a re-issue of h was written since before (the hook's code included). */
static void
snap_same(const struct held *h, const struct snap *before, const struct hook *k,
	  const unsigned char nonce[RA_TOKEN_LEN])
{
	struct snap now;
	struct store_app a;
	unsigned char ch[STORE_HASH_LEN];
	struct err e;
	int done = 1;

	snap_take(h, &now);
	assert_int_equal(now.live, before->live);
	assert_int_equal(now.mail, before->mail);
	assert_int_equal(now.audit_seq, before->audit_seq);
	assert_memory_equal(now.audit_hash, before->audit_hash, STORE_HASH_LEN);
	assert_int_equal(now.status, STORE_CERT_VALID);
	err_clear(&e);
	OK(ra_reissue_done(fx.st, nonce, &done, &e));
	assert_int_equal(done, 0);
	if (k->code[0] != '\0') {
		memset(&a, 0, sizeof(a));
		OK(ra_code_hash(k->code, ch));
		assert_int_equal(store_app_get_by_code(fx.st, ch, &a, &e), -1);
		assert_int_equal(e.code, ERR_NOTFOUND);
	}
}

/* A request for h with nonce and the new holder e-mail and OU. */
static void
req_make(struct ra_reissue_req *q, const struct held *h, const unsigned char *nonce,
	 const char *subject_email, const char *ou)
{
	memset(q, 0, sizeof(*q));
	q->app_id = h->id;
	q->nonce = nonce;
	q->nonce_expires = util_now() + 3600;
	q->vals.subject_email = subject_email;
	q->vals.ou = ou;
	q->actor = "portal:app:unit";
}

struct last_audit {
	char action[2][32];
	char object[2][STORE_SERIAL_MAX];
	char detail[2][256];
};

static int
last_audit_cb(void *arg, const struct store_audit *a)
{
	struct last_audit *l = arg;

	memcpy(l->action[0], l->action[1], sizeof(l->action[0]));
	memcpy(l->object[0], l->object[1], sizeof(l->object[0]));
	memcpy(l->detail[0], l->detail[1], sizeof(l->detail[0]));
	snprintf(l->action[1], sizeof(l->action[1]), "%s", a->action);
	snprintf(l->object[1], sizeof(l->object[1]), "%s", a->object);
	snprintf(l->detail[1], sizeof(l->detail[1]), "%s", a->detail);
	return 0;
}

static void
test_commit(void **state)
{
	struct held h, b, ending;
	struct hook k;
	struct ra_notify n;
	struct ra_reissue_req q;
	struct ra_reissue_answer ans;
	struct snap s0, s1;
	struct store_cert c;
	struct store_app na;
	struct last_audit la;
	struct err e;
	unsigned char n1[RA_TOKEN_LEN], n2[RA_TOKEN_LEN], ch[STORE_HASH_LEN];
	char detail[256];
	int done = 0;

	(void)state;
	err_clear(&e);
	orgs();
	held_make("EX1", HOLDER, HOLDER, 0, &h);
	held_make("EX1", HOLDER, HOLDER, 0, &b);
	held_make("EX1", HOLDER, HOLDER, 20, &ending);
	memset(&k, 0, sizeof(k));
	memset(&n, 0, sizeof(n));
	n.arg = &k;
	n.reissued = hook_reissued;
	randombytes_buf(n1, sizeof(n1));
	randombytes_buf(n2, sizeof(n2));

	/* refusals write nothing: the fields (checked again at the commit) ... */
	snap_take(&b, &s0);
	req_make(&q, &b, n1, "t@other.example.jp", "Sales");
	OK(ra_reissue_commit(fx.ca, fx.st, &q, &n, &ans, &e));
	assert_int_equal(ans.result, RA_REISSUE_FIELDS);
	assert_int_equal(ans.fields.subject_email, RA_REISSUE_FIELD_OUTSIDE_ORG);
	assert_int_equal(ans.fields.ou, RA_REISSUE_FIELD_OK);
	assert_null(ans.to);
	ra_reissue_answer_clear(&ans);
	snap_same(&b, &s0, &k, n1);
	/* ... a certificate with 30 days or less left ... */
	snap_take(&ending, &s0);
	req_make(&q, &ending, n1, "", "Sales");
	OK(ra_reissue_commit(fx.ca, fx.st, &q, &n, &ans, &e));
	assert_int_equal(ans.result, RA_REISSUE_NOT_REISSUABLE);
	assert_int_equal(ans.why, RA_REISSUE_WHY_ENDING);
	ra_reissue_answer_clear(&ans);
	snap_same(&ending, &s0, &k, n1);
	/* ... the test fault between the revocation and the new application ... */
	snap_take(&h, &s0);
	req_make(&q, &h, n1, "t.yamada@example.co.jp", "Marketing");
	q.fault_after_revoke = 1;
	assert_int_equal(ra_reissue_commit(fx.ca, fx.st, &q, &n, &ans, &e), -1);
	assert_int_equal(e.code, ERR_INTERNAL);
	assert_non_null(strstr(e.msg, "injected fault between the revocation"));
	snap_same(&h, &s0, &k, n1);
	/* ... and a hook that fails (the mail could not be queued) */
	err_clear(&e);
	q.fault_after_revoke = 0;
	k.fail = 1;
	assert_int_equal(ra_reissue_commit(fx.ca, fx.st, &q, &n, &ans, &e), -1);
	assert_non_null(strstr(e.msg, "unit: the hook refused"));
	assert_int_equal(k.calls, 1);
	snap_same(&h, &s0, &k, n1);
	k.fail = 0;
	memset(k.code, 0, sizeof(k.code));

	/* accepted: everything in one transaction */
	err_clear(&e);
	OK(ra_reissue_commit(fx.ca, fx.st, &q, &n, &ans, &e));
	assert_int_equal(ans.result, RA_REISSUE_ACCEPTED);
	assert_string_equal(ra_reissue_result_name(ans.result), "accepted");
	assert_string_equal(ans.old_serial, h.serial);
	assert_string_equal(ans.to, "t.yamada@example.co.jp");
	assert_true(ans.new_id > h.id);
	assert_int_equal(k.calls, 2);
	assert_string_equal(k.to, "t.yamada@example.co.jp");
	assert_string_equal(k.old_serial, h.serial);
	assert_string_not_equal(k.code, h.code);
	snap_take(&h, &s1);
	assert_int_equal(s1.status, STORE_CERT_REVOKED);
	assert_int_equal(s1.live, s0.live + 1);
	assert_int_equal(s1.mail, s0.mail + 1);
	assert_int_equal(s1.audit_seq, s0.audit_seq + 2);
	memset(&c, 0, sizeof(c));
	OK(store_cert_get(fx.st, h.serial, &c, &e));
	assert_int_equal(c.reason, 4); /* superseded */
	store_cert_clear(&c);
	memset(&na, 0, sizeof(na));
	OK(ra_code_hash(k.code, ch));
	OK(store_app_get_by_code(fx.st, ch, &na, &e));
	assert_int_equal(na.id, ans.new_id);
	assert_string_equal(na.state, "approved");
	assert_int_equal(na.predecessor_id, h.id);
	assert_string_equal(na.ou, "Marketing");
	assert_string_equal(na.subject_email, "t.yamada@example.co.jp");
	assert_string_equal(na.email, HOLDER);
	assert_string_equal(na.ticket, h.ticket);
	assert_null(na.cert_serial);
	assert_true(na.expires >= na.created + RA_REISSUE_FETCH_TTL);
	store_app_clear(&na);
	memset(&la, 0, sizeof(la));
	OK(store_audit_foreach(fx.st, last_audit_cb, &la, &e));
	assert_string_equal(la.action[0], "cert.revoke");
	assert_string_equal(la.object[0], h.serial);
	assert_string_equal(la.action[1], "portal.reissue");
	assert_string_equal(la.object[1], h.serial);
	snprintf(detail, sizeof(detail), "application=%lld predecessor=%lld old=%s",
		 (long long)ans.new_id, (long long)h.id, h.serial);
	assert_string_equal(la.detail[1], detail);
	OK(ra_reissue_done(fx.st, n1, &done, &e));
	assert_int_equal(done, 1);
	ra_reissue_answer_clear(&ans);

	/* a repeat of the form writes nothing and tells nobody */
	OK(ra_reissue_commit(fx.ca, fx.st, &q, &n, &ans, &e));
	assert_int_equal(ans.result, RA_REISSUE_REPEAT);
	assert_int_equal(ans.new_id, 0);
	assert_int_equal(k.calls, 2);
	snap_take(&h, &s0);
	assert_int_equal(s0.live, s1.live);
	assert_int_equal(s0.mail, s1.mail);
	assert_int_equal(s0.audit_seq, s1.audit_seq);
	ra_reissue_answer_clear(&ans);
	/* another form for the same, now revoked, certificate */
	req_make(&q, &h, n2, "", "Sales");
	OK(ra_reissue_commit(fx.ca, fx.st, &q, &n, &ans, &e));
	assert_int_equal(ans.result, RA_REISSUE_NOT_REISSUABLE);
	assert_int_equal(ans.why, RA_REISSUE_WHY_REVOKED);
	assert_int_equal(k.calls, 2);
	ra_reissue_answer_clear(&ans);
	/* the request must carry a nonce and an actor */
	q.nonce = NULL;
	assert_int_equal(ra_reissue_commit(fx.ca, fx.st, &q, &n, &ans, &e), -1);
	assert_int_equal(e.code, ERR_INTERNAL);
	assert_string_equal(ra_reissue_result_name(RA_REISSUE_REVOKED_MEANWHILE),
			    "revoked_meanwhile");
	assert_string_equal(ra_reissue_result_name(RA_REISSUE_RESULT__MAX), "error");
}

/*
 * Every statement of the commit failed in turn, and the commit itself: each time -1 and
 * nothing half-written (old certificate valid, no new application, no mail, audit head
 * unmoved, nonce unused); then the same request succeeds.
 */
static void
test_commit_faults(void **state)
{
	struct held h;
	struct hook k;
	struct ra_notify n;
	struct ra_reissue_req q;
	struct ra_reissue_answer ans;
	struct snap s0, s1;
	struct err e;
	unsigned char nonce[RA_TOKEN_LEN];
	long count, i;

	(void)state;
	err_clear(&e);
	orgs();
	held_make("EX1", HOLDER, HOLDER, 0, &h);
	memset(&k, 0, sizeof(k));
	memset(&n, 0, sizeof(n));
	n.arg = &k;
	n.reissued = hook_reissued;
	randombytes_buf(nonce, sizeof(nonce));
	req_make(&q, &h, nonce, "t.yamada@example.co.jp", "Marketing");
	snap_take(&h, &s0);

	/* the commit fails: every statement ran, none is kept */
	OK(store_fault_set(fx.st, 0, 1));
	assert_int_equal(ra_reissue_commit(fx.ca, fx.st, &q, &n, &ans, &e), -1);
	assert_non_null(strstr(e.msg, "injected fault (commit)"));
	count = store_fault_count(fx.st);
	OK(store_fault_set(fx.st, 0, 0));
	assert_int_equal(k.calls, 1);
	assert_true(count >= 10);
	snap_same(&h, &s0, &k, nonce);

	for (i = 1; i <= count; i++) {
		memset(k.code, 0, sizeof(k.code));
		err_clear(&e);
		OK(store_fault_set(fx.st, i, 0));
		if (ra_reissue_commit(fx.ca, fx.st, &q, &n, &ans, &e) != -1)
			fail_msg("statement %ld of %ld failed, yet the re-issue answered %s", i,
				 count, ra_reissue_result_name(ans.result));
		assert_int_equal(store_fault_count(fx.st), i); /* it stopped at the failure */
		OK(store_fault_set(fx.st, 0, 0));
		if (strstr(e.msg, "injected fault") == NULL)
			fail_msg("statement %ld: %s", i, e.msg);
		assert_null(ans.to);
		snap_same(&h, &s0, &k, nonce);
	}

	/* and then it works, with the same statements */
	err_clear(&e);
	OK(store_fault_set(fx.st, 0, 0));
	OK(ra_reissue_commit(fx.ca, fx.st, &q, &n, &ans, &e));
	assert_int_equal(ans.result, RA_REISSUE_ACCEPTED);
	assert_int_equal(store_fault_count(fx.st), count);
	snap_take(&h, &s1);
	assert_int_equal(s1.status, STORE_CERT_REVOKED);
	assert_int_equal(s1.live, s0.live + 1);
	assert_int_equal(s1.mail, s0.mail + 1);
	assert_int_equal(s1.audit_seq, s0.audit_seq + 2);
	ra_reissue_answer_clear(&ans);
}

int
main(void)
{
	const struct CMUnitTest sqlite[] = {
	    cmocka_unit_test_setup_teardown(test_login, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_list, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_check, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_commit, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_faults, setup_sqlite, teardown),
	};
	const struct CMUnitTest pg[] = {
	    cmocka_unit_test_setup_teardown(test_login, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_list, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_check, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_commit, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_faults, setup_pg, teardown),
	};
	int failed = cmocka_run_group_tests_name("ra re-issue on SQLite", sqlite, NULL, NULL);

	return failed + cmocka_run_group_tests_name("ra re-issue on PostgreSQL", pg, NULL, NULL);
}
