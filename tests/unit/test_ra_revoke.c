/*
 * ra web revocation unit tests (src/ra/revoke.c, DESIGN.md 2.2) through a CA on SQLite and on
 * PostgreSQL: the field codes, what the three values name, the request (one transaction: the
 * nonce, the request and its mail; a repeat writes nothing), the link looked at (nothing
 * written, as often as asked) and used (the request done and the certificate revoked in one
 * transaction, once), and every statement of the request and of the use failed in turn (with
 * store_fault_set) leaving nothing half-written, the retry then succeeding.
 */
#include "testutil.h"
#include "tu_x509.h"
#include "tu_ca.h"
#include "tu_ra.h"

#include <sodium.h>

#include "ra/ra.h"

#define OK(x) assert_int_equal((x), 0)

#define HOLDER "taro@example.co.jp"
#define SUBJECT_EMAIL "t.yamada@example.co.jp"

static struct tu_ca fx;

/* The hooks: what they were told; each queues a mail in the operation's transaction. */
struct hook {
	int link_calls, revoked_calls;
	int fail_link, fail_revoked;
	char to[256];
	char token[RA_TOKEN_TEXT];
	char revoked_to[256];
	char revoked_serial[STORE_SERIAL_MAX];
	int revoked_reason;
};

static int
hook_link(void *arg, struct store *st, const char *to, const char *token, struct err *e)
{
	struct hook *h = arg;

	h->link_calls++;
	snprintf(h->to, sizeof(h->to), "%s", to);
	snprintf(h->token, sizeof(h->token), "%s", token);
	if (h->fail_link)
		return err_set(e, ERR_INTERNAL, "unit: the link hook refused");
	return store_mail_enqueue(st, "ca@example.co.jp", to,
				  "Subject: revoke\r\n\r\nThe link is in here.\r\n", util_now(),
				  NULL, e);
}

static int
hook_revoked(void *arg, struct store *st, const struct ra_revoked *rv, struct err *e)
{
	struct hook *h = arg;

	h->revoked_calls++;
	snprintf(h->revoked_to, sizeof(h->revoked_to), "%s", rv->to);
	snprintf(h->revoked_serial, sizeof(h->revoked_serial), "%s", rv->serial);
	h->revoked_reason = rv->reason;
	if (h->fail_revoked)
		return err_set(e, ERR_INTERNAL, "unit: the revoked hook refused");
	return store_mail_enqueue(st, "ca@example.co.jp", rv->to,
				  "Subject: revoked\r\n\r\nYour certificate was revoked.\r\n",
				  util_now(), NULL, e);
}

static void
hooks(struct ra_notify *n, struct hook *k)
{
	memset(k, 0, sizeof(*k));
	memset(n, 0, sizeof(*n));
	n->arg = k;
	n->revoke_link = hook_link;
	n->revoked = hook_revoked;
}

/* A holder's issued application. */
struct held {
	int64_t id;
	char ticket[64];
	char serial[STORE_SERIAL_MAX];
};

static int
setup_sqlite(void **state)
{
	(void)state;
	assert_true(sodium_init() >= 0);
	tu_ca_open(&fx, 0, "test_ra_revoke");
	return 0;
}

static int
setup_pg(void **state)
{
	(void)state;
	assert_true(sodium_init() >= 0);
	tu_ca_open(&fx, 1, "test_ra_revoke");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	util_clock_set_offset(0);
	tu_ca_close(&fx);
	return 0;
}

/*
 * An application of org made by applicant email for holder subject_email (client profile),
 * mail-verified, submitted and issued for days (0: the profile's default).
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
	char **numbers = NULL, san[300];
	unsigned char code_hash[STORE_HASH_LEN], *der;
	char code[RA_CODE_LEN];
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
	a.profile = "client";
	a.subject_email = (char *)subject_email;
	a.name_romaji = "Taro Yamada";
	a.name_kanji = "山田太郎";
	a.ou = "Sales";
	a.key_mode = "p256";
	a.password_hash = "$argon2id$unused";
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
	ra_code_new(code, code_hash);
	memset(&ch, 0, sizeof(ch));
	ch.serial = out.serial;
	ch.code_hash = code_hash;
	ch.when = now;
	OK(ra_app_move(fx.st, h->id, RA_APP_SUBMITTED, RA_APP_EV_ISSUE, &ch, &e));
	ca_issued_clear(&out);
	store_org_clear(&o);
}

/* What a request or a use may have written. */
struct snap {
	int64_t mail;
	int64_t audit_seq;
	unsigned char audit_hash[STORE_HASH_LEN];
	int64_t reqs, reqs_done; /* revocation requests of the certificate */
	enum store_cert_status status;
	time_t revoked_at;
	int nonce_used; /* the confirm form's nonce is recorded */
};

static void
snap_take(const struct held *h, const unsigned char nonce_hash[STORE_HASH_LEN], struct snap *s)
{
	struct store_cert c;
	struct store_token t;
	struct err e, se;

	err_clear(&e);
	err_clear(&se);
	memset(s, 0, sizeof(*s));
	memset(&c, 0, sizeof(c));
	OK(store_mail_count(fx.st, -1, &s->mail, &e));
	OK(store_audit_head(fx.st, &s->audit_seq, s->audit_hash, &e));
	OK(store_revreq_count(fx.st, h->serial, &s->reqs, &s->reqs_done, &e));
	OK(store_cert_get(fx.st, h->serial, &c, &e));
	s->status = c.status;
	s->revoked_at = c.revoked_at;
	store_cert_clear(&c);
	if (nonce_hash != NULL) {
		if (store_token_get(fx.st, nonce_hash, STORE_TOKEN_REVOKE_FORM, &t, &se) == 0)
			s->nonce_used = 1;
		else
			assert_int_equal(se.code, ERR_NOTFOUND);
	}
}

static void
snap_same(const struct snap *a, const struct snap *b)
{
	assert_int_equal(a->mail, b->mail);
	assert_int_equal(a->audit_seq, b->audit_seq);
	assert_memory_equal(a->audit_hash, b->audit_hash, STORE_HASH_LEN);
	assert_int_equal(a->reqs, b->reqs);
	assert_int_equal(a->reqs_done, b->reqs_done);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->revoked_at, b->revoked_at);
	assert_int_equal(a->nonce_used, b->nonce_used);
}

/* The last audit entry. */
struct last_audit {
	char actor[256], action[64], object[STORE_SERIAL_MAX];
};

static int
last_audit_cb(void *arg, const struct store_audit *a)
{
	struct last_audit *l = arg;

	snprintf(l->actor, sizeof(l->actor), "%s", a->actor);
	snprintf(l->action, sizeof(l->action), "%s", a->action);
	snprintf(l->object, sizeof(l->object), "%s", a->object);
	return 0;
}

static void
vals_make(struct ra_revoke_vals *v, const char *org, const char *ticket, const char *email,
	  const char *reason)
{
	v->org = org;
	v->ticket = ticket;
	v->email = email;
	v->reason = reason;
}

/* ---- the fields ---- */

static void
test_check(void **state)
{
	struct ra_revoke_vals v;
	struct ra_revoke_fields f;

	(void)state;
	vals_make(&v, "EX1", "T-1", HOLDER, "keyCompromise");
	assert_int_equal(ra_revoke_check(&v, &f), 0);
	assert_int_equal(f.any, 0);
	assert_int_equal(f.org, RA_REVOKE_FIELD_OK);
	assert_int_equal(f.reason, RA_REVOKE_FIELD_OK);
	for (const char *const *r = (const char *const[]){"cessationOfOperation", "superseded",
							  "affiliationChanged", NULL};
	     *r != NULL; r++) {
		v.reason = *r;
		assert_int_equal(ra_revoke_check(&v, &f), 0);
	}
	/* each field on its own */
	vals_make(&v, "", "T-1", HOLDER, "keyCompromise");
	assert_int_equal(ra_revoke_check(&v, &f), 1);
	assert_int_equal(f.org, RA_REVOKE_FIELD_MISSING);
	assert_int_equal(f.ticket, RA_REVOKE_FIELD_OK);
	vals_make(&v, "EX1", NULL, HOLDER, "keyCompromise");
	assert_int_equal(ra_revoke_check(&v, &f), 1);
	assert_int_equal(f.ticket, RA_REVOKE_FIELD_MISSING);
	assert_int_equal(f.org, RA_REVOKE_FIELD_OK);
	vals_make(&v, "EX1", "T-1", "not-an-address", "keyCompromise");
	assert_int_equal(ra_revoke_check(&v, &f), 1);
	assert_int_equal(f.email, RA_REVOKE_FIELD_INVALID);
	v.email = "";
	assert_int_equal(ra_revoke_check(&v, &f), 1);
	assert_int_equal(f.email, RA_REVOKE_FIELD_MISSING);
	/* certificateHold and removeFromCRL are no holder's reasons; nor is a case variant */
	vals_make(&v, "EX1", "T-1", HOLDER, "certificateHold");
	assert_int_equal(ra_revoke_check(&v, &f), 1);
	assert_int_equal(f.reason, RA_REVOKE_FIELD_INVALID);
	v.reason = "keycompromise";
	assert_int_equal(ra_revoke_check(&v, &f), 1);
	assert_int_equal(f.reason, RA_REVOKE_FIELD_INVALID);
	v.reason = NULL;
	assert_int_equal(ra_revoke_check(&v, &f), 1);
	assert_int_equal(f.reason, RA_REVOKE_FIELD_MISSING);
	assert_int_equal(f.email, RA_REVOKE_FIELD_OK);
	/* all at once */
	vals_make(&v, NULL, NULL, NULL, NULL);
	assert_int_equal(ra_revoke_check(&v, &f), 1);
	assert_int_equal(f.org, RA_REVOKE_FIELD_MISSING);
	assert_int_equal(f.ticket, RA_REVOKE_FIELD_MISSING);
	assert_int_equal(f.email, RA_REVOKE_FIELD_MISSING);
	assert_int_equal(f.reason, RA_REVOKE_FIELD_MISSING);
	/* the names tables */
	assert_string_equal(ra_revoke_field_name(RA_REVOKE_FIELD_OK), "ok");
	assert_string_equal(ra_revoke_field_name(RA_REVOKE_FIELD_MISSING), "missing");
	assert_string_equal(ra_revoke_field_name(RA_REVOKE_FIELD_INVALID), "invalid");
	assert_string_equal(ra_revoke_field_name(RA_REVOKE_FIELD__MAX), "error");
	assert_string_equal(ra_revreq_result_name(RA_REVREQ_OK), "ok");
	assert_string_equal(ra_revreq_result_name(RA_REVREQ_REPEAT), "repeat");
	assert_string_equal(ra_revreq_result_name(RA_REVREQ_FIELDS), "fields");
	assert_string_equal(ra_revreq_result_name(RA_REVREQ_NO_MATCH), "no_match");
	assert_string_equal(ra_revreq_result_name(RA_REVREQ_REVOKED), "revoked");
	assert_string_equal(ra_revreq_result_name(RA_REVREQ_EXPIRED), "expired");
	assert_string_equal(ra_revreq_result_name(RA_REVREQ_RESULT__MAX), "error");
	assert_string_equal(ra_revlink_result_name(RA_REVLINK_OK), "ok");
	assert_string_equal(ra_revlink_result_name(RA_REVLINK_UNKNOWN), "unknown");
	assert_string_equal(ra_revlink_result_name(RA_REVLINK_USED), "used");
	assert_string_equal(ra_revlink_result_name(RA_REVLINK_EXPIRED), "expired");
	assert_string_equal(ra_revlink_result_name(RA_REVLINK_REVOKED), "revoked");
	assert_string_equal(ra_revlink_result_name(RA_REVLINK_RESULT__MAX), "error");
}

/* ---- what the values name ---- */

static enum ra_revreq_result
find(const char *org, const char *ticket, const char *email, char serial[STORE_SERIAL_MAX])
{
	struct ra_revoke_vals v;
	enum ra_revreq_result res;
	struct err e;

	err_clear(&e);
	vals_make(&v, org, ticket, email, "keyCompromise");
	OK(ra_revoke_find(fx.st, &v, &res, serial, &e));
	return res;
}

static void
test_find(void **state)
{
	struct held h, o, x;
	struct err e;
	char serial[STORE_SERIAL_MAX];

	(void)state;
	err_clear(&e);
	tu_ra_orgs(fx.st);
	held_make("EX1", HOLDER, SUBJECT_EMAIL, 0, &h);
	held_make("EX2", "jiro@other.example.jp", "jiro@other.example.jp", 0, &o);
	/* by the applicant's or the holder's address, in any case */
	assert_int_equal(find("EX1", h.ticket, HOLDER, serial), RA_REVREQ_OK);
	assert_string_equal(serial, h.serial);
	assert_int_equal(find("EX1", h.ticket, "T.YAMADA@EXAMPLE.CO.JP", serial), RA_REVREQ_OK);
	assert_string_equal(serial, h.serial);
	assert_int_equal(find("EX1", h.ticket, HOLDER, NULL), RA_REVREQ_OK);
	/* any wrong value: the same answer, no serial */
	assert_int_equal(find("EX1", h.ticket, "someone@example.co.jp", serial),
			 RA_REVREQ_NO_MATCH);
	assert_string_equal(serial, "");
	assert_int_equal(find("EX1", "NO-SUCH-TICKET", HOLDER, serial), RA_REVREQ_NO_MATCH);
	assert_int_equal(find("EX1", o.ticket, HOLDER, serial), RA_REVREQ_NO_MATCH);
	assert_int_equal(find("EX2", h.ticket, HOLDER, serial), RA_REVREQ_NO_MATCH);
	assert_int_equal(find("NOPE", h.ticket, HOLDER, serial), RA_REVREQ_NO_MATCH);
	assert_int_equal(find("EX1", "", HOLDER, serial), RA_REVREQ_FIELDS);
	/* an expired certificate */
	held_make("EX1", HOLDER, HOLDER, 1, &x);
	assert_int_equal(find("EX1", x.ticket, HOLDER, serial), RA_REVREQ_OK);
	util_clock_set_offset(2 * 86400);
	assert_int_equal(find("EX1", x.ticket, HOLDER, serial), RA_REVREQ_EXPIRED);
	assert_string_equal(serial, x.serial);
	util_clock_set_offset(0);
	/* a revoked one */
	OK(store_begin(fx.st, &e));
	OK(ra_revoke_tx(fx.ca, fx.st, h.serial, CA_REASON_SUPERSEDED, "unit", NULL, &e));
	OK(store_commit(fx.st, &e));
	assert_int_equal(find("EX1", h.ticket, HOLDER, serial), RA_REVREQ_REVOKED);
	assert_string_equal(serial, h.serial);
}

/* ---- request, peek, complete ---- */

static enum ra_revreq_result
request(const struct held *h, const char *org, const char *email, const char *reason,
	const unsigned char nh[STORE_HASH_LEN], const struct ra_notify *n)
{
	struct ra_revreq q;
	struct ra_revoke_fields f;
	enum ra_revreq_result res;
	struct err e;

	err_clear(&e);
	memset(&q, 0, sizeof(q));
	vals_make(&q.vals, org, h->ticket, email, reason);
	q.nonce_hash = nh;
	if (ra_revoke_request(fx.st, &q, n, &res, &f, &e) == -1)
		fail_msg("request: %s", e.msg);
	assert_int_equal(f.any, res == RA_REVREQ_FIELDS);
	return res;
}

static enum ra_revlink_result
peek(const char *token, struct ra_revlink *l)
{
	enum ra_revlink_result res;
	struct err e;

	err_clear(&e);
	OK(ra_revoke_peek(fx.st, token, &res, l, &e));
	return res;
}

static enum ra_revlink_result
complete(const char *token, const struct ra_notify *n, struct ra_revlink *l)
{
	enum ra_revlink_result res;
	struct err e;

	err_clear(&e);
	if (ra_revoke_complete(fx.ca, fx.st, token, n, &res, l, &e) == -1)
		fail_msg("complete: %s", e.msg);
	return res;
}

static void
nonce_new(unsigned char nh[STORE_HASH_LEN])
{
	unsigned char raw[RA_TOKEN_LEN];

	randombytes_buf(raw, sizeof(raw));
	ra_token_hash(raw, nh);
}

static void
test_request_and_link(void **state)
{
	struct held h, x;
	struct hook k;
	struct ra_notify n;
	struct ra_revlink l;
	struct snap s0, s1, s2;
	struct store_cert c;
	struct last_audit la;
	struct err e;
	unsigned char n1[STORE_HASH_LEN], n2[STORE_HASH_LEN], n3[STORE_HASH_LEN];
	char token[RA_TOKEN_TEXT], token2[RA_TOKEN_TEXT], bad[RA_TOKEN_TEXT];
	time_t now = util_now();

	(void)state;
	err_clear(&e);
	tu_ra_orgs(fx.st);
	held_make("EX1", HOLDER, SUBJECT_EMAIL, 0, &h);
	hooks(&n, &k);
	nonce_new(n1);
	nonce_new(n2);
	nonce_new(n3);
	snap_take(&h, n1, &s0);

	/* refusals write nothing and mail nobody */
	assert_int_equal(request(&h, "EX1", HOLDER, "certificateHold", n1, &n), RA_REVREQ_FIELDS);
	assert_int_equal(request(&h, "EX1", "someone@example.co.jp", "keyCompromise", n1, &n),
			 RA_REVREQ_NO_MATCH);
	assert_int_equal(request(&h, "EX2", HOLDER, "keyCompromise", n1, &n), RA_REVREQ_NO_MATCH);
	assert_int_equal(k.link_calls, 0);
	snap_take(&h, n1, &s1);
	snap_same(&s0, &s1);

	/* accepted: the nonce, the request and its mail, to the address as the application
	 * recorded it (a local part's case may matter: the link proves that mailbox, not what
	 * was typed); no audit */
	assert_int_equal(request(&h, "EX1", "Taro@Example.co.jp", "keyCompromise", n1, &n),
			 RA_REVREQ_OK);
	assert_int_equal(k.link_calls, 1);
	assert_string_equal(k.to, HOLDER);
	assert_string_equal(HOLDER, "taro@example.co.jp");
	assert_int_equal(strlen(k.token), RA_TOKEN_TEXT - 1);
	snprintf(token, sizeof(token), "%s", k.token);
	snap_take(&h, n1, &s1);
	assert_int_equal(s1.mail, s0.mail + 1);
	assert_int_equal(s1.reqs, 1);
	assert_int_equal(s1.reqs_done, 0);
	assert_int_equal(s1.nonce_used, 1);
	assert_int_equal(s1.audit_seq, s0.audit_seq);
	assert_int_equal(s1.status, STORE_CERT_VALID);

	/* a repeat of the confirm form writes nothing */
	assert_int_equal(request(&h, "EX1", HOLDER, "keyCompromise", n1, &n), RA_REVREQ_REPEAT);
	assert_int_equal(k.link_calls, 1);
	snap_take(&h, n1, &s2);
	snap_same(&s1, &s2);

	/* a second request (another form): a second link */
	assert_int_equal(request(&h, "EX1", HOLDER, "superseded", n2, &n), RA_REVREQ_OK);
	assert_int_equal(k.link_calls, 2);
	snprintf(token2, sizeof(token2), "%s", k.token);
	assert_string_not_equal(token, token2);
	snap_take(&h, n1, &s1);
	assert_int_equal(s1.reqs, 2);

	/* the link looked at, as often as asked: nothing used, nothing written */
	for (int i = 0; i < 3; i++) {
		memset(&l, 0xff, sizeof(l));
		assert_int_equal(peek(token, &l), RA_REVLINK_OK);
		assert_string_equal(l.serial, h.serial);
		assert_int_equal(l.reason, CA_REASON_KEY_COMPROMISE);
		assert_true(l.expires >= now + RA_APP_TTL && l.expires <= util_now() + RA_APP_TTL);
		assert_int_equal(l.revoked_at, 0);
	}
	assert_int_equal(peek(token, NULL), RA_REVLINK_OK);
	snap_take(&h, n1, &s2);
	snap_same(&s1, &s2);
	/* what is no link */
	memset(bad, 'A', RA_TOKEN_TEXT - 1);
	bad[RA_TOKEN_TEXT - 1] = '\0';
	assert_int_equal(peek(bad, &l), RA_REVLINK_UNKNOWN);
	assert_string_equal(l.serial, "");
	assert_int_equal(peek(NULL, &l), RA_REVLINK_UNKNOWN);
	assert_int_equal(peek("../../etc", &l), RA_REVLINK_UNKNOWN);
	assert_int_equal(complete(bad, &n, &l), RA_REVLINK_UNKNOWN);
	assert_int_equal(complete(NULL, &n, &l), RA_REVLINK_UNKNOWN);
	assert_int_equal(k.revoked_calls, 0);
	snap_take(&h, n1, &s2);
	snap_same(&s1, &s2);

	/* used: the request done and the certificate revoked (reason, audit, mail), together */
	memset(&l, 0, sizeof(l));
	assert_int_equal(complete(token, &n, &l), RA_REVLINK_OK);
	assert_string_equal(l.serial, h.serial);
	assert_int_equal(l.reason, CA_REASON_KEY_COMPROMISE);
	assert_true(l.revoked_at >= now);
	assert_int_equal(k.revoked_calls, 1);
	assert_string_equal(k.revoked_serial, h.serial);
	assert_string_equal(k.revoked_to, SUBJECT_EMAIL);
	assert_int_equal(k.revoked_reason, CA_REASON_KEY_COMPROMISE);
	snap_take(&h, n1, &s2);
	assert_int_equal(s2.status, STORE_CERT_REVOKED);
	assert_int_equal(s2.revoked_at, l.revoked_at);
	assert_int_equal(s2.reqs_done, 1);
	assert_int_equal(s2.mail, s1.mail + 1);
	assert_int_equal(s2.audit_seq, s1.audit_seq + 1);
	memset(&c, 0, sizeof(c));
	OK(store_cert_get(fx.st, h.serial, &c, &e));
	assert_int_equal(c.reason, CA_REASON_KEY_COMPROMISE);
	store_cert_clear(&c);
	memset(&la, 0, sizeof(la));
	OK(store_audit_foreach(fx.st, last_audit_cb, &la, &e));
	assert_string_equal(la.action, "cert.revoke");
	assert_string_equal(la.object, h.serial);
	assert_string_equal(la.actor, "holder:web-revocation " HOLDER);

	/* once: used again, looked at, nothing more */
	assert_int_equal(complete(token, &n, &l), RA_REVLINK_USED);
	assert_int_equal(peek(token, &l), RA_REVLINK_USED);
	assert_int_equal(k.revoked_calls, 1);
	snap_take(&h, n1, &s1);
	snap_same(&s2, &s1);
	/* the other link: the certificate was revoked meanwhile; that link is done all the same */
	assert_int_equal(peek(token2, &l), RA_REVLINK_OK);
	assert_int_equal(complete(token2, &n, &l), RA_REVLINK_REVOKED);
	assert_string_equal(l.serial, h.serial);
	assert_int_equal(k.revoked_calls, 1);
	snap_take(&h, n1, &s1);
	assert_int_equal(s1.reqs_done, 2);
	assert_int_equal(s1.mail, s2.mail);
	assert_int_equal(s1.audit_seq, s2.audit_seq);
	assert_int_equal(s1.revoked_at, s2.revoked_at);
	assert_int_equal(complete(token2, &n, &l), RA_REVLINK_USED);
	/* a new request for the revoked certificate */
	assert_int_equal(request(&h, "EX1", HOLDER, "keyCompromise", n3, &n), RA_REVREQ_REVOKED);
	assert_int_equal(k.link_calls, 2);
	snap_take(&h, n3, &s2);
	assert_int_equal(s2.nonce_used, 0);
	assert_int_equal(s2.reqs, 2);

	/* a link three days and a minute old revokes nothing */
	held_make("EX1", HOLDER, HOLDER, 0, &x);
	assert_int_equal(request(&x, "EX1", HOLDER, "cessationOfOperation", n3, &n), RA_REVREQ_OK);
	snprintf(token, sizeof(token), "%s", k.token);
	snap_take(&x, n3, &s1);
	util_clock_set_offset(RA_APP_TTL + 60);
	assert_int_equal(peek(token, &l), RA_REVLINK_EXPIRED);
	assert_int_equal(complete(token, &n, &l), RA_REVLINK_EXPIRED);
	util_clock_set_offset(0);
	snap_take(&x, n3, &s2);
	snap_same(&s1, &s2);
	assert_int_equal(s2.status, STORE_CERT_VALID);
	/* an expired certificate is not requested */
	util_clock_set_offset(400 * 86400);
	nonce_new(n3);
	assert_int_equal(request(&x, "EX1", HOLDER, "cessationOfOperation", n3, &n),
			 RA_REVREQ_EXPIRED);
	util_clock_set_offset(0);
	/* the request must carry the form's nonce */
	{
		struct ra_revreq q;
		enum ra_revreq_result res;

		memset(&q, 0, sizeof(q));
		vals_make(&q.vals, "EX1", x.ticket, HOLDER, "keyCompromise");
		assert_int_equal(ra_revoke_request(fx.st, &q, &n, &res, NULL, &e), -1);
		assert_int_equal(e.code, ERR_INTERNAL);
	}
}

/*
 * Every statement of the request failed in turn, and its commit, and its hook: each time -1
 * and nothing half-written (no request without its mail, no nonce); then it succeeds.
 */
static void
test_request_faults(void **state)
{
	struct held h;
	struct hook k;
	struct ra_notify n;
	struct ra_revreq q;
	struct ra_revlink l;
	struct snap s0, s1;
	enum ra_revreq_result res;
	struct err e;
	unsigned char nh[STORE_HASH_LEN];
	long count, i;

	(void)state;
	err_clear(&e);
	tu_ra_orgs(fx.st);
	held_make("EX1", HOLDER, SUBJECT_EMAIL, 0, &h);
	hooks(&n, &k);
	nonce_new(nh);
	memset(&q, 0, sizeof(q));
	vals_make(&q.vals, "EX1", h.ticket, HOLDER, "keyCompromise");
	q.nonce_hash = nh;
	snap_take(&h, nh, &s0);

	/* the commit fails: every statement ran, none is kept */
	OK(store_fault_set(fx.st, 0, 1));
	assert_int_equal(ra_revoke_request(fx.st, &q, &n, &res, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "injected fault (commit)"));
	count = store_fault_count(fx.st);
	OK(store_fault_set(fx.st, 0, 0));
	assert_int_equal(k.link_calls, 1);
	assert_true(count >= 5);
	snap_take(&h, nh, &s1);
	snap_same(&s0, &s1);
	assert_int_equal(peek(k.token, &l), RA_REVLINK_UNKNOWN);

	for (i = 1; i <= count; i++) {
		memset(k.token, 0, sizeof(k.token));
		err_clear(&e);
		OK(store_fault_set(fx.st, i, 0));
		if (ra_revoke_request(fx.st, &q, &n, &res, NULL, &e) != -1)
			fail_msg("statement %ld of %ld failed, yet the request answered %s", i,
				 count, ra_revreq_result_name(res));
		assert_int_equal(store_fault_count(fx.st), i); /* it stopped at the failure */
		OK(store_fault_set(fx.st, 0, 0));
		if (strstr(e.msg, "injected fault") == NULL)
			fail_msg("statement %ld: %s", i, e.msg);
		assert_int_not_equal(res, RA_REVREQ_OK);
		snap_take(&h, nh, &s1);
		snap_same(&s0, &s1);
		if (k.token[0] != '\0') /* the hook was told: its link must not exist */
			assert_int_equal(peek(k.token, &l), RA_REVLINK_UNKNOWN);
	}
	/* the hook fails (its mail could not be queued) */
	err_clear(&e);
	k.fail_link = 1;
	assert_int_equal(ra_revoke_request(fx.st, &q, &n, &res, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "unit: the link hook refused"));
	k.fail_link = 0;
	snap_take(&h, nh, &s1);
	snap_same(&s0, &s1);
	assert_int_equal(peek(k.token, &l), RA_REVLINK_UNKNOWN);

	/* and then it works, with the same statements */
	err_clear(&e);
	OK(store_fault_set(fx.st, 0, 0));
	OK(ra_revoke_request(fx.st, &q, &n, &res, NULL, &e));
	assert_int_equal(res, RA_REVREQ_OK);
	assert_int_equal(store_fault_count(fx.st), count);
	snap_take(&h, nh, &s1);
	assert_int_equal(s1.reqs, 1);
	assert_int_equal(s1.reqs_done, 0);
	assert_int_equal(s1.mail, s0.mail + 1);
	assert_int_equal(s1.nonce_used, 1);
	assert_int_equal(s1.status, STORE_CERT_VALID);
	assert_int_equal(peek(k.token, &l), RA_REVLINK_OK);
}

/*
 * Every statement of the link's use failed in turn, and its commit, and the revocation mail:
 * each time -1, the certificate valid, the request pending, no audit entry, no mail; then the
 * link works, once.
 */
static void
test_complete_faults(void **state)
{
	struct held h;
	struct hook k;
	struct ra_notify n;
	struct ra_revlink l;
	struct snap s0, s1;
	enum ra_revlink_result res;
	struct err e;
	unsigned char nh[STORE_HASH_LEN];
	char token[RA_TOKEN_TEXT];
	long count, i;

	(void)state;
	err_clear(&e);
	tu_ra_orgs(fx.st);
	held_make("EX1", HOLDER, SUBJECT_EMAIL, 0, &h);
	hooks(&n, &k);
	nonce_new(nh);
	assert_int_equal(request(&h, "EX1", HOLDER, "affiliationChanged", nh, &n), RA_REVREQ_OK);
	snprintf(token, sizeof(token), "%s", k.token);
	snap_take(&h, nh, &s0);
	assert_int_equal(s0.reqs, 1);

	/* the commit fails: every statement ran, none is kept */
	OK(store_fault_set(fx.st, 0, 1));
	assert_int_equal(ra_revoke_complete(fx.ca, fx.st, token, &n, &res, &l, &e), -1);
	assert_non_null(strstr(e.msg, "injected fault (commit)"));
	count = store_fault_count(fx.st);
	OK(store_fault_set(fx.st, 0, 0));
	assert_int_equal(k.revoked_calls, 1);
	assert_true(count >= 5);
	snap_take(&h, nh, &s1);
	snap_same(&s0, &s1);
	assert_int_equal(peek(token, &l), RA_REVLINK_OK);

	for (i = 1; i <= count; i++) {
		err_clear(&e);
		OK(store_fault_set(fx.st, i, 0));
		if (ra_revoke_complete(fx.ca, fx.st, token, &n, &res, &l, &e) != -1)
			fail_msg("statement %ld of %ld failed, yet the link answered %s", i, count,
				 ra_revlink_result_name(res));
		assert_int_equal(store_fault_count(fx.st), i); /* it stopped at the failure */
		OK(store_fault_set(fx.st, 0, 0));
		if (strstr(e.msg, "injected fault") == NULL)
			fail_msg("statement %ld: %s", i, e.msg);
		assert_int_not_equal(res, RA_REVLINK_OK);
		snap_take(&h, nh, &s1);
		snap_same(&s0, &s1);
		assert_int_equal(peek(token, &l), RA_REVLINK_OK);
	}
	/* the revocation mail cannot be queued */
	err_clear(&e);
	k.fail_revoked = 1;
	assert_int_equal(ra_revoke_complete(fx.ca, fx.st, token, &n, &res, &l, &e), -1);
	assert_non_null(strstr(e.msg, "unit: the revoked hook refused"));
	k.fail_revoked = 0;
	snap_take(&h, nh, &s1);
	snap_same(&s0, &s1);

	/* and then it works, once */
	err_clear(&e);
	OK(ra_revoke_complete(fx.ca, fx.st, token, &n, &res, &l, &e));
	assert_int_equal(res, RA_REVLINK_OK);
	assert_true(store_fault_count(fx.st) >= count); /* and the reads after the commit */
	snap_take(&h, nh, &s1);
	assert_int_equal(s1.status, STORE_CERT_REVOKED);
	assert_int_equal(s1.reqs_done, 1);
	assert_int_equal(s1.mail, s0.mail + 1);
	assert_int_equal(s1.audit_seq, s0.audit_seq + 1);
	assert_int_equal(complete(token, &n, &l), RA_REVLINK_USED);
}

int
main(void)
{
	const struct CMUnitTest sqlite[] = {
	    cmocka_unit_test_setup_teardown(test_check, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_find, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_request_and_link, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_request_faults, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_complete_faults, setup_sqlite, teardown),
	};
	const struct CMUnitTest pg[] = {
	    cmocka_unit_test_setup_teardown(test_find, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_request_and_link, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_request_faults, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_complete_faults, setup_pg, teardown),
	};
	int failed = cmocka_run_group_tests_name("ra web revocation on SQLite", sqlite, NULL, NULL);

	return failed +
	       cmocka_run_group_tests_name("ra web revocation on PostgreSQL", pg, NULL, NULL);
}
