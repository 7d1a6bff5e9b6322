/*
 * ra issuance unit tests (src/ra/issue.c) on SQLite and on PostgreSQL, without HTTP: a self
 * Submit, an agent's Submit, the holder's approval and rejection, expiry, the agent's
 * delivery and the PKCS#12 download — the happy paths with everything each writes, the
 * outcome of each refusal, and for every one of them the fault loop: each statement failed
 * in turn (store_fault_set), and the commit, each time a clean failure with nothing written
 * (no certificate, audit entry, mail, token used, state moved, download taken), then the
 * retry succeeds exactly once.
 */
#include "testutil.h"
#include "tu_x509.h"
#include "tu_ca.h"
#include "tu_ra.h"

#include <openssl/pkcs12.h>

#define OK(x) assert_int_equal((x), 0)

#define SELF "taro@example.co.jp"
#define AGENT "agent@example.co.jp"
#define HOLDER "hanako@example.co.jp"

static struct tu_ra fx;
static int want_pg;

/* One CA per backend (opening one is the slow part); each test says whether it batches. */
static int
setup(void **state)
{
	(void)state;
	tu_ra_open(&fx, want_pg, 1, "test_ra_issue");
	return 0;
}

/* With the group commit, as the portal runs. */
static int
batch_on(void **state)
{
	(void)state;
	tu_ra_batch(&fx, 1);
	return 0;
}

/* Without it: every write on fx.ca.st, where the faults are injected. */
static int
batch_off(void **state)
{
	(void)state;
	tu_ra_batch(&fx, 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_ra_close(&fx);
	return 0;
}

/* One application on its way: registered, its link used, loaded by its continuation. */
struct flow {
	char ticket[64];
	char cont[RA_TOKEN_TEXT];
	struct ra_app a;
	unsigned char nh[STORE_HASH_LEN]; /* the confirm page's nonce hash */
	struct ra_issue_values v;
	struct ra_cert_page page;
	char appr[RA_TOKEN_TEXT]; /* the approval link (agent) */
	char dlv[RA_TOKEN_TEXT];  /* the agent's delivery link */
	enum ra_submit_result want;
	enum ra_submit_result res;
	int found;
};

static void
flow_start(struct flow *w, int agent, const char *key_mode)
{
	struct ra_regist_req q;
	struct ra_regist_fields f;
	enum ra_regist_result rr;
	enum ra_link_result lr;
	enum ra_submit_result res;
	unsigned char rn[STORE_HASH_LEN];
	struct err e;

	err_clear(&e);
	memset(w, 0, sizeof(*w));
	tu_ra_ticket(fx.ca.st, "EX1", "client", w->ticket);
	randombytes_buf(rn, sizeof(rn));
	memset(&q, 0, sizeof(q));
	q.org = "EX1";
	q.ticket = w->ticket;
	q.email = agent ? AGENT : SELF;
	q.agent = agent;
	q.nonce_hash = rn;
	OK(ra_regist(fx.ca.ca, fx.ca.st, &q, &fx.n, &rr, &f, &e));
	assert_int_equal(rr, RA_REGIST_DONE);
	OK(ra_link_use(fx.ca.ca, fx.ca.st, fx.rec.reg_token, TU_SESSION, w->cont, &lr, &e));
	assert_int_equal(lr, RA_LINK_OK);
	OK(ra_cont_load(fx.ca.st, w->cont, TU_SESSION, &w->a, &res, &e));
	assert_int_equal(res, RA_SUBMIT_ISSUED);
	assert_int_equal(w->a.state, RA_APP_MAIL_VERIFIED);
	assert_int_equal(w->a.agent, agent);
	randombytes_buf(w->nh, sizeof(w->nh));
	w->v.name_kanji = "山田太郎";
	w->v.name_romaji = "Taro Yamada";
	w->v.ou = "Sales";
	w->v.subject_email = agent ? HOLDER : SELF;
	w->v.hostnames = "";
	w->v.key_mode = key_mode;
	w->v.csr = "";
	w->v.password_hash = "$argon2id$v=19$unit";
}

static void
flow_end(struct flow *w)
{
	ra_app_clear(&w->a);
	ra_cert_page_clear(&w->page);
}

static int
flow_submit(struct flow *w, struct err *e)
{
	struct ra_submit_req q;

	memset(&q, 0, sizeof(q));
	q.app = &w->a;
	q.v = &w->v;
	q.nonce_hash = w->nh;
	q.cont = w->cont;
	q.session = TU_SESSION;
	ra_cert_page_clear(&w->page);
	return ra_submit(fx.ca.ca, fx.ca.st, &q, &fx.n, &w->res, &w->page, e);
}

/* An agent's application sent to the holder: w->appr is its approval link. */
static void
flow_sent(struct flow *w, const char *key_mode)
{
	struct err e;

	err_clear(&e);
	flow_start(w, 1, key_mode);
	OK(flow_submit(w, &e));
	assert_int_equal(w->res, RA_SUBMIT_SENT);
	snprintf(w->appr, sizeof(w->appr), "%s", fx.rec.appr_token);
}

/* An agent's application approved: w->page the holder's page, w->dlv the agent's link. */
static void
flow_approved(struct flow *w)
{
	struct err e;

	err_clear(&e);
	flow_sent(w, "p256");
	OK(ra_approve(fx.ca.ca, fx.ca.st, w->appr, &fx.n, &w->res, &w->page, &e));
	assert_int_equal(w->res, RA_SUBMIT_ISSUED);
	snprintf(w->dlv, sizeof(w->dlv), "%s", fx.rec.dlv_token);
}

/* 1 when data is a PKCS#12 whose MAC verifies under pin. */
static int
p12_ok(const unsigned char *data, size_t len, const char *pin)
{
	const unsigned char *p = data;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	int ok = p12 != NULL && PKCS12_verify_mac(p12, pin, -1) == 1;

	PKCS12_free(p12);
	return ok;
}

/* The application of w as the store has it now. */
static void
app_now(const struct flow *w, struct store_app *out)
{
	struct err e;

	err_clear(&e);
	memset(out, 0, sizeof(*out));
	OK(store_app_get(fx.ca.st, w->a.id, out, &e));
}

/* ---- outcomes and names ---- */

static void
test_names(void **state)
{
	static const char *const names[] = {
	    "issued",  "sent-for-approval", "repeat",	  "ticket-used",
	    "refused", "unknown",	    "decided",	  "used",
	    "expired", "not-reissue",	    "csr-needed", "rejected",
	};

	(void)state;
	assert_int_equal(sizeof(names) / sizeof(names[0]), RA_SUBMIT_RESULT__MAX);
	for (int i = 0; i < RA_SUBMIT_RESULT__MAX; i++)
		assert_string_equal(ra_submit_result_name((enum ra_submit_result)i), names[i]);
	assert_string_equal(ra_submit_result_name(RA_SUBMIT_RESULT__MAX), "unknown");
	assert_string_equal(ra_submit_result_name((enum ra_submit_result) - 1), "unknown");
}

/* ---- a self Submit ---- */

static void
test_submit_self(void **state)
{
	struct flow w;
	struct tu_ra_snap s0, s1;
	struct store_app r;
	struct ra_app a;
	enum ra_submit_result res;
	unsigned char *data = NULL, ch[STORE_HASH_LEN];
	char dl[RA_TOKEN_TEXT], pin[RA_PIN_LEN + 1];
	size_t len = 0;
	struct err e;
	int seen = 1, mails;

	(void)state;
	err_clear(&e);
	flow_start(&w, 0, "p256");
	tu_ra_snap_take(fx.ca.st, &s0);
	OK(ra_submit_seen(fx.ca.st, w.nh, &seen, &e));
	assert_int_equal(seen, 0);
	mails = fx.rec.issued;
	OK(flow_submit(&w, &e));
	assert_int_equal(w.res, RA_SUBMIT_ISSUED);
	/* the page: certificate, chain, code, PIN and the download, once */
	assert_string_equal(w.page.profile, "client");
	assert_int_equal(w.page.agent, 0);
	assert_int_equal(w.page.p12, 1);
	assert_int_equal(strlen(w.page.pin), RA_PIN_LEN);
	assert_int_equal(strlen(w.page.code), RA_CODE_LEN - 1);
	assert_int_equal(strlen(w.page.dl), RA_TOKEN_TEXT - 1);
	assert_non_null(strstr(w.page.cert_pem, "BEGIN CERTIFICATE"));
	assert_non_null(strstr(w.page.chain_pem, "BEGIN CERTIFICATE"));
	assert_true(w.page.not_after > util_now());
	/* the holder told the code, in the same transaction */
	assert_int_equal(fx.rec.issued, mails + 1);
	assert_string_equal(fx.rec.iss_to, SELF);
	assert_string_equal(fx.rec.iss_serial, w.page.serial);
	assert_string_equal(fx.rec.iss_code, w.page.code);
	/* what was written: certificate, two audit entries, one mail, the application issued */
	tu_ra_snap_take(fx.ca.st, &s1);
	assert_int_equal(s1.certs, s0.certs + 1);
	assert_int_equal(s1.audit_seq, s0.audit_seq + 2);
	assert_int_equal(s1.mail, s0.mail + 1);
	app_now(&w, &r);
	assert_string_equal(r.state, "issued");
	assert_string_equal(r.cert_serial, w.page.serial);
	assert_string_equal(r.name_romaji, "Taro Yamada");
	assert_string_equal(r.key_mode, "p256");
	assert_true(r.submitted > 0 && r.issued >= r.submitted);
	store_app_clear(&r);
	OK(ra_code_hash(w.page.code, ch));
	app_now(&w, &r);
	store_app_clear(&r);
	memset(&r, 0, sizeof(r));
	OK(store_app_get_by_code(fx.ca.st, ch, &r, &e));
	assert_int_equal(r.id, w.a.id);
	store_app_clear(&r);
	assert_true(tu_ra_ticket_used(fx.ca.st, w.ticket));
	assert_int_equal(tu_ra_token_text(fx.ca.st, w.cont, TU_SESSION, STORE_TOKEN_ISSUE_FORM), 1);
	OK(ra_submit_seen(fx.ca.st, w.nh, &seen, &e));
	assert_int_equal(seen, 1);

	/* the same Submit again (a double click): a repeat, nothing new */
	snprintf(dl, sizeof(dl), "%s", w.page.dl);
	snprintf(pin, sizeof(pin), "%s", w.page.pin);
	OK(flow_submit(&w, &e));
	assert_int_equal(w.res, RA_SUBMIT_REPEAT);
	assert_int_equal(fx.rec.issued, mails + 1);
	tu_ra_snap_same(fx.ca.st, &s1);
	/* another confirm page of the same application: a repeat too */
	randombytes_buf(w.nh, sizeof(w.nh));
	OK(flow_submit(&w, &e));
	assert_int_equal(w.res, RA_SUBMIT_REPEAT);
	tu_ra_snap_same(fx.ca.st, &s1);
	/* the continuation is used up */
	OK(ra_cont_load(fx.ca.st, w.cont, TU_SESSION, &a, &res, &e));
	assert_int_equal(res, RA_SUBMIT_USED);
	ra_app_clear(&a);
	/* the PKCS#12, once, under the PIN of the page */
	assert_string_equal(w.page.dl, ""); /* the repeat's page shows nothing */
	OK(ra_download_take(fx.ca.ca, fx.ca.st, dl, &data, &len, &e));
	assert_true(p12_ok(data, len, pin));
	sodium_memzero(data, len);
	free(data);
	assert_int_equal(ra_download_take(fx.ca.ca, fx.ca.st, dl, &data, &len, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_null(data);
	assert_int_equal(ra_download_peek(fx.ca.st, dl, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	flow_end(&w);
}

/* A self Submit's refusals: each outcome, nothing written. */
static void
test_submit_refusals(void **state)
{
	struct flow w;
	struct tu_ra_snap s0;
	struct ra_app a;
	enum ra_submit_result res;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	char text[RA_TOKEN_TEXT];
	struct err e;
	int mails;

	(void)state;
	err_clear(&e);
	/* a continuation that is no token, or not this session's */
	flow_start(&w, 0, "p256");
	tu_ra_snap_take(fx.ca.st, &s0);
	OK(ra_cont_load(fx.ca.st, "not a token", TU_SESSION, &a, &res, &e));
	assert_int_equal(res, RA_SUBMIT_UNKNOWN);
	OK(ra_cont_load(fx.ca.st, w.cont, "another session", &a, &res, &e));
	assert_int_equal(res, RA_SUBMIT_UNKNOWN);
	snprintf(w.cont, sizeof(w.cont), "not a token");
	OK(flow_submit(&w, &e));
	assert_int_equal(w.res, RA_SUBMIT_UNKNOWN);
	tu_ra_snap_same(fx.ca.st, &s0);
	flow_end(&w);

	/* the ticket went to another certificate meanwhile */
	flow_start(&w, 0, "p256");
	OK(store_ticket_use(fx.ca.st, w.ticket, "0BADC0DE", &e));
	tu_ra_snap_take(fx.ca.st, &s0);
	mails = fx.rec.issued;
	OK(flow_submit(&w, &e));
	assert_int_equal(w.res, RA_SUBMIT_TICKET_USED);
	assert_int_equal(fx.rec.issued, mails);
	tu_ra_snap_same(fx.ca.st, &s0);
	assert_int_equal(tu_ra_state(fx.ca.st, w.a.id), RA_APP_MAIL_VERIFIED);
	assert_int_equal(tu_ra_token_text(fx.ca.st, w.cont, TU_SESSION, STORE_TOKEN_ISSUE_FORM), 0);
	assert_int_equal(tu_ra_token(fx.ca.st, w.nh, STORE_TOKEN_ISSUE_SUBMIT), -1);
	flow_end(&w);

	/* a CSR the CA refuses: the form again with the CA's words */
	flow_start(&w, 0, "csr");
	w.v.csr = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
	tu_ra_snap_take(fx.ca.st, &s0);
	OK(flow_submit(&w, &e));
	assert_int_equal(w.res, RA_SUBMIT_REFUSED);
	assert_true(w.page.detail[0] != '\0');
	tu_ra_snap_same(fx.ca.st, &s0);
	assert_int_equal(tu_ra_state(fx.ca.st, w.a.id), RA_APP_MAIL_VERIFIED);
	assert_false(tu_ra_ticket_used(fx.ca.st, w.ticket));
	assert_int_equal(tu_ra_token(fx.ca.st, w.nh, STORE_TOKEN_ISSUE_SUBMIT), -1);
	/* ... and with a good CSR the same application is issued */
	{
		int len;
		unsigned char *der = tu_csr_ex("/CN=Taro Yamada", "email:" SELF, &len);
		char *pem = ra_pem("CERTIFICATE REQUEST", der, (size_t)len);

		OPENSSL_free(der);
		w.v.csr = pem;
		OK(flow_submit(&w, &e));
		assert_int_equal(w.res, RA_SUBMIT_ISSUED);
		assert_int_equal(w.page.p12, 0);
		assert_string_equal(w.page.pin, "");
		assert_string_equal(w.page.dl, "");
		free(pem);
	}
	flow_end(&w);

	/* a continuation whose time ran out: expired, and the application marked so */
	flow_start(&w, 0, "p256");
	ra_token_new(raw, text);
	ra_token_hash_keyed(raw, TU_SESSION, h);
	OK(store_token_add(fx.ca.st, h, STORE_TOKEN_ISSUE_FORM, w.a.id, util_now() - 1, 0, &e));
	OK(ra_cont_load(fx.ca.st, text, TU_SESSION, &a, &res, &e));
	assert_int_equal(res, RA_SUBMIT_EXPIRED);
	assert_int_equal(tu_ra_state(fx.ca.st, w.a.id), RA_APP_EXPIRED);
	/* its Submit (the page was open before): the claim fails, nothing is issued */
	snprintf(w.cont, sizeof(w.cont), "%s", text);
	tu_ra_snap_take(fx.ca.st, &s0);
	OK(flow_submit(&w, &e));
	assert_int_not_equal(w.res, RA_SUBMIT_ISSUED);
	tu_ra_snap_same(fx.ca.st, &s0);
	flow_end(&w);
}

/* ---- an agent's application: Submit, approval, delivery ---- */

static void
test_agent(void **state)
{
	struct flow w;
	struct tu_ra_snap s0, s1;
	struct ra_app a;
	struct ra_cert_page dp;
	enum ra_submit_result res;
	unsigned char *data = NULL;
	size_t len = 0;
	struct err e;
	int found = 0, issued, delivery;

	(void)state;
	err_clear(&e);
	flow_start(&w, 1, "p256");
	tu_ra_snap_take(fx.ca.st, &s0);
	OK(flow_submit(&w, &e));
	assert_int_equal(w.res, RA_SUBMIT_SENT);
	snprintf(w.appr, sizeof(w.appr), "%s", fx.rec.appr_token);
	assert_string_equal(fx.rec.appr_to, HOLDER);
	tu_ra_snap_take(fx.ca.st, &s1);
	assert_int_equal(s1.mail, s0.mail + 1);
	assert_int_equal(s1.certs, s0.certs);
	assert_int_equal(tu_ra_state(fx.ca.st, w.a.id), RA_APP_AWAITING_APPROVAL);
	assert_false(tu_ra_ticket_used(fx.ca.st, w.ticket));
	assert_int_equal(tu_ra_token_text(fx.ca.st, w.cont, TU_SESSION, STORE_TOKEN_ISSUE_FORM), 1);
	assert_int_equal(tu_ra_token_text(fx.ca.st, w.appr, NULL, STORE_TOKEN_APPROVE), 0);
	/* a repeated Submit: nothing new */
	OK(flow_submit(&w, &e));
	assert_int_equal(w.res, RA_SUBMIT_REPEAT);
	tu_ra_snap_same(fx.ca.st, &s1);

	/* the holder opens the link */
	OK(ra_approval_load(fx.ca.st, w.appr, &a, &res, &e));
	assert_int_equal(res, RA_SUBMIT_ISSUED);
	assert_int_equal(a.id, w.a.id);
	assert_string_equal(a.subject_email, HOLDER);
	assert_string_equal(a.name_romaji, "Taro Yamada");
	ra_app_clear(&a);
	OK(ra_approval_load(fx.ca.st, "not a token", &a, &res, &e));
	assert_int_equal(res, RA_SUBMIT_UNKNOWN);

	/* approves: issued, the holder told the code, the agent the delivery link */
	issued = fx.rec.issued;
	delivery = fx.rec.delivery;
	OK(ra_approve(fx.ca.ca, fx.ca.st, w.appr, &fx.n, &w.res, &w.page, &e));
	assert_int_equal(w.res, RA_SUBMIT_ISSUED);
	assert_int_equal(fx.rec.issued, issued + 1);
	assert_int_equal(fx.rec.delivery, delivery + 1);
	assert_string_equal(fx.rec.iss_to, HOLDER);
	assert_string_equal(fx.rec.iss_serial, w.page.serial);
	assert_string_equal(fx.rec.iss_code, w.page.code);
	assert_string_equal(fx.rec.dlv_to, AGENT);
	snprintf(w.dlv, sizeof(w.dlv), "%s", fx.rec.dlv_token);
	tu_ra_snap_take(fx.ca.st, &s0);
	assert_int_equal(s0.certs, s1.certs + 1);
	assert_int_equal(s0.mail, s1.mail + 2);
	assert_int_equal(s0.audit_seq, s1.audit_seq + 2);
	assert_int_equal(tu_ra_state(fx.ca.st, w.a.id), RA_APP_ISSUED);
	assert_true(tu_ra_ticket_used(fx.ca.st, w.ticket));
	assert_int_equal(tu_ra_token_text(fx.ca.st, w.appr, NULL, STORE_TOKEN_APPROVE), 1);
	assert_true(tu_ra_delivery_there(fx.ca.st, w.dlv));
	assert_true(tu_ra_download_there(fx.ca.st, w.page.dl));
	/* each secret only sees a row of its own kind */
	assert_false(tu_ra_download_there(fx.ca.st, w.dlv));
	assert_false(tu_ra_delivery_there(fx.ca.st, w.page.dl));
	/* the agent's Submit again, now that its certificate took the ticket: still a repeat */
	{
		struct ra_cert_page keep = w.page;

		memset(&w.page, 0, sizeof(w.page));
		OK(flow_submit(&w, &e));
		assert_int_equal(w.res, RA_SUBMIT_REPEAT);
		ra_cert_page_clear(&w.page);
		w.page = keep;
	}
	/* the link again: used; a rejection now too */
	OK(ra_approve(fx.ca.ca, fx.ca.st, w.appr, &fx.n, &res, &dp, &e));
	assert_int_equal(res, RA_SUBMIT_USED);
	OK(ra_reject(fx.ca.ca, fx.ca.st, w.appr, &fx.n, &res, &e));
	assert_int_equal(res, RA_SUBMIT_USED);
	tu_ra_snap_same(fx.ca.st, &s0);

	/* the agent's page, once: the PIN and the download of the holder's page, no code */
	OK(ra_deliver_take(fx.ca.ca, fx.ca.st, w.dlv, &dp, &found, &e));
	assert_int_equal(found, 1);
	assert_string_equal(dp.serial, w.page.serial);
	assert_string_equal(dp.pin, w.page.pin);
	assert_string_equal(dp.dl, w.page.dl);
	assert_string_equal(dp.code, "");
	assert_int_equal(dp.agent, 1);
	assert_int_equal(dp.p12, 1);
	assert_string_equal(dp.profile, "client");
	assert_string_equal(dp.cert_pem, w.page.cert_pem);
	ra_cert_page_clear(&dp);
	assert_false(tu_ra_delivery_there(fx.ca.st, w.dlv));
	OK(ra_deliver_take(fx.ca.ca, fx.ca.st, w.dlv, &dp, &found, &e));
	assert_int_equal(found, 0);
	OK(ra_deliver_take(fx.ca.ca, fx.ca.st, "not a token", &dp, &found, &e));
	assert_int_equal(found, 0);
	OK(ra_download_take(fx.ca.ca, fx.ca.st, w.page.dl, &data, &len, &e));
	assert_true(p12_ok(data, len, w.page.pin));
	sodium_memzero(data, len);
	free(data);
	flow_end(&w);
}

/* The holder rejects; a decided application; an expired approval link. */
static void
test_reject_expire(void **state)
{
	struct flow w;
	struct tu_ra_snap s0, s1;
	struct ra_app a;
	struct ra_cert_page dp;
	enum ra_submit_result res;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	char text[RA_TOKEN_TEXT];
	struct err e;
	int rejected;

	(void)state;
	err_clear(&e);
	flow_sent(&w, "p256");
	tu_ra_snap_take(fx.ca.st, &s0);
	rejected = fx.rec.rejected;
	OK(ra_reject(fx.ca.ca, fx.ca.st, w.appr, &fx.n, &res, &e));
	assert_int_equal(res, RA_SUBMIT_REJECTED);
	assert_int_equal(fx.rec.rejected, rejected + 1);
	assert_int_equal(fx.rec.rej_app, w.a.id);
	tu_ra_snap_take(fx.ca.st, &s1);
	assert_int_equal(s1.mail, s0.mail + 2);
	assert_int_equal(s1.audit_seq, s0.audit_seq + 1);
	assert_int_equal(s1.certs, s0.certs);
	assert_int_equal(tu_ra_state(fx.ca.st, w.a.id), RA_APP_REJECTED);
	assert_int_equal(tu_ra_token_text(fx.ca.st, w.appr, NULL, STORE_TOKEN_APPROVE), 1);
	assert_false(tu_ra_ticket_used(fx.ca.st, w.ticket));
	OK(ra_reject(fx.ca.ca, fx.ca.st, w.appr, &fx.n, &res, &e));
	assert_int_equal(res, RA_SUBMIT_USED);
	OK(ra_approve(fx.ca.ca, fx.ca.st, w.appr, &fx.n, &res, &dp, &e));
	assert_int_equal(res, RA_SUBMIT_USED);
	ra_cert_page_clear(&dp);
	tu_ra_snap_same(fx.ca.st, &s1);
	flow_end(&w);

	/* decided (here: expired) while the link was still unused */
	flow_sent(&w, "p256");
	OK(ra_app_move(fx.ca.st, w.a.id, RA_APP_AWAITING_APPROVAL, RA_APP_EV_EXPIRE, NULL, &e));
	OK(ra_approval_load(fx.ca.st, w.appr, &a, &res, &e));
	assert_int_equal(res, RA_SUBMIT_DECIDED);
	assert_int_equal(a.id, 0);
	tu_ra_snap_take(fx.ca.st, &s0);
	OK(ra_approve(fx.ca.ca, fx.ca.st, w.appr, &fx.n, &res, &dp, &e));
	assert_int_equal(res, RA_SUBMIT_DECIDED);
	OK(ra_reject(fx.ca.ca, fx.ca.st, w.appr, &fx.n, &res, &e));
	assert_int_equal(res, RA_SUBMIT_DECIDED);
	tu_ra_snap_same(fx.ca.st, &s0);
	assert_int_equal(tu_ra_token_text(fx.ca.st, w.appr, NULL, STORE_TOKEN_APPROVE), 0);
	flow_end(&w);

	/* an approval link whose time ran out: expired, the application marked so */
	flow_sent(&w, "p256");
	ra_token_new(raw, text);
	ra_token_hash(raw, h);
	OK(store_token_add(fx.ca.st, h, STORE_TOKEN_APPROVE, w.a.id, util_now() - 1, 0, &e));
	tu_ra_snap_take(fx.ca.st, &s0);
	OK(ra_approve(fx.ca.ca, fx.ca.st, text, &fx.n, &res, &dp, &e));
	assert_int_equal(res, RA_SUBMIT_EXPIRED);
	assert_int_equal(tu_ra_state(fx.ca.st, w.a.id), RA_APP_EXPIRED);
	OK(ra_reject(fx.ca.ca, fx.ca.st, text, &fx.n, &res, &e));
	assert_int_equal(res, RA_SUBMIT_EXPIRED);
	tu_ra_snap_same(fx.ca.st, &s0);
	/* the mailed link of the application, now expired too: decided */
	OK(ra_approve(fx.ca.ca, fx.ca.st, w.appr, &fx.n, &res, &dp, &e));
	assert_int_equal(res, RA_SUBMIT_DECIDED);
	tu_ra_snap_same(fx.ca.st, &s0);
	flow_end(&w);
}

/* The ticket used by another certificate before the holder approves: cancelled. */
static void
test_approve_ticket_used(void **state)
{
	struct flow w;
	struct tu_ra_snap s0;
	struct ra_cert_page dp;
	enum ra_submit_result res;
	struct err e;

	(void)state;
	err_clear(&e);
	flow_sent(&w, "p256");
	OK(store_ticket_use(fx.ca.st, w.ticket, "0BADC0DE", &e));
	tu_ra_snap_take(fx.ca.st, &s0);
	OK(ra_approve(fx.ca.ca, fx.ca.st, w.appr, &fx.n, &res, &dp, &e));
	assert_int_equal(res, RA_SUBMIT_TICKET_USED);
	tu_ra_snap_same(fx.ca.st, &s0);
	/* this application can never be issued: cancelled (and so no longer live) */
	assert_int_equal(tu_ra_state(fx.ca.st, w.a.id), RA_APP_CANCELLED);
	OK(ra_approve(fx.ca.ca, fx.ca.st, w.appr, &fx.n, &res, &dp, &e));
	assert_int_equal(res, RA_SUBMIT_DECIDED);
	flow_end(&w);
}

/* A CSR of an agent's application refused at the approval: stays awaiting, link unused. */
static void
test_approve_refused(void **state)
{
	struct flow w;
	struct tu_ra_snap s0;
	struct ra_cert_page dp;
	enum ra_submit_result res;
	struct err e;

	(void)state;
	err_clear(&e);
	flow_start(&w, 1, "csr");
	w.v.csr = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
	OK(flow_submit(&w, &e));
	assert_int_equal(w.res, RA_SUBMIT_SENT);
	snprintf(w.appr, sizeof(w.appr), "%s", fx.rec.appr_token);
	tu_ra_snap_take(fx.ca.st, &s0);
	OK(ra_approve(fx.ca.ca, fx.ca.st, w.appr, &fx.n, &res, &dp, &e));
	assert_int_equal(res, RA_SUBMIT_REFUSED);
	assert_true(dp.detail[0] != '\0');
	ra_cert_page_clear(&dp);
	tu_ra_snap_same(fx.ca.st, &s0);
	assert_int_equal(tu_ra_state(fx.ca.st, w.a.id), RA_APP_AWAITING_APPROVAL);
	assert_int_equal(tu_ra_token_text(fx.ca.st, w.appr, NULL, STORE_TOKEN_APPROVE), 0);
	flow_end(&w);
}

/* ---- the fault loops ---- */

/* The store as it was before an operation of w (what it must still be after a failure). */
struct faulted {
	struct flow w;
	struct tu_ra_snap s0;
	enum ra_app_state state;
	int ticket_used;
	unsigned char *data;
	size_t len;
	const char *what;
	long long downloads; /* rows of portal_downloads, expired ones included */
};

#define DOWNLOADS "SELECT count(*) FROM portal_downloads"

static struct faulted fl;

/* The operation once more, without faults. */
static int
again(int (*op)(void *, struct err *))
{
	struct err e;

	err_clear(&e);
	return op(NULL, &e);
}

static void
faulted_begin(const char *what, enum ra_app_state state)
{
	fl.what = what;
	fl.state = state;
	fl.ticket_used = tu_ra_ticket_used(fx.ca.st, fl.w.ticket);
	fl.downloads = tu_ra_sql_count(&fx, DOWNLOADS);
	memset(fx.rec.appr_token, 0, sizeof(fx.rec.appr_token));
	memset(fx.rec.dlv_token, 0, sizeof(fx.rec.dlv_token));
	tu_ra_snap_take(fx.ca.st, &fl.s0);
}

/* What every operation must leave as it was. */
static void
same_common(void)
{
	tu_ra_snap_same(fx.ca.st, &fl.s0);
	assert_int_equal(tu_ra_state(fx.ca.st, fl.w.a.id), fl.state);
	assert_int_equal(tu_ra_ticket_used(fx.ca.st, fl.w.ticket), fl.ticket_used);
	assert_int_equal(tu_ra_sql_count(&fx, DOWNLOADS), fl.downloads);
	if (fl.w.page.dl[0] != '\0' && fl.state != RA_APP_ISSUED)
		assert_false(tu_ra_download_there(fx.ca.st, fl.w.page.dl));
}

static int
op_submit(void *arg, struct err *e)
{
	(void)arg;
	if (flow_submit(&fl.w, e) == -1)
		return -1;
	if (fl.w.res != fl.w.want)
		fail_msg("%s: %s", fl.what, ra_submit_result_name(fl.w.res));
	return 0;
}

static void
same_submit(void *arg)
{
	(void)arg;
	same_common();
	assert_int_equal(tu_ra_token_text(fx.ca.st, fl.w.cont, TU_SESSION, STORE_TOKEN_ISSUE_FORM),
			 0);
	assert_int_equal(tu_ra_token(fx.ca.st, fl.w.nh, STORE_TOKEN_ISSUE_SUBMIT), -1);
	if (fx.rec.appr_token[0] != '\0')
		assert_int_equal(
		    tu_ra_token_text(fx.ca.st, fx.rec.appr_token, NULL, STORE_TOKEN_APPROVE), -1);
}

/*
 * The first issuance of the process on SQLite (the fault groups run first): the downloads'
 * purge is due, so the loop fails its statement too, and a purge that failed is due again;
 * an expired download waits to be purged.
 */
static void
test_faults_submit_self(void **state)
{
	struct tu_ra_snap s1;
	unsigned char h[STORE_HASH_LEN];
	struct err e;
	long n;

	(void)state;
	err_clear(&e);
	flow_start(&fl.w, 0, "p256");
	randombytes_buf(h, sizeof(h));
	OK(store_download_put(fx.ca.st, STORE_DOWNLOAD_PKCS12, h, fl.w.a.id, "x", 1,
			      util_now() - 10, &e));
	fl.w.want = RA_SUBMIT_ISSUED;
	faulted_begin("self Submit", RA_APP_MAIL_VERIFIED);
	n = tu_ra_fault_loop(fx.ca.st, fl.what, 1, op_submit, same_submit, NULL);
	/* the page's download added; the expired one purged (when it was due: SQLite) */
	if (!want_pg)
		assert_int_equal(tu_ra_sql_count(&fx, DOWNLOADS), fl.downloads);
	else
		assert_true(tu_ra_sql_count(&fx, DOWNLOADS) >= fl.downloads);
	assert_true(n > 10);
	tu_ra_snap_take(fx.ca.st, &s1);
	assert_int_equal(s1.certs, fl.s0.certs + 1);
	assert_int_equal(s1.mail, fl.s0.mail + 1);
	assert_int_equal(s1.audit_seq, fl.s0.audit_seq + 2);
	assert_int_equal(tu_ra_state(fx.ca.st, fl.w.a.id), RA_APP_ISSUED);
	assert_true(tu_ra_download_there(fx.ca.st, fl.w.page.dl));
	/* exactly once */
	fl.w.want = RA_SUBMIT_REPEAT;
	assert_int_equal(again(op_submit), 0);
	tu_ra_snap_same(fx.ca.st, &s1);
	flow_end(&fl.w);
}

static void
test_faults_submit_agent(void **state)
{
	struct tu_ra_snap s1;

	(void)state;
	flow_start(&fl.w, 1, "p256");
	memset(fx.rec.appr_token, 0, sizeof(fx.rec.appr_token));
	fl.w.want = RA_SUBMIT_SENT;
	faulted_begin("agent Submit", RA_APP_MAIL_VERIFIED);
	assert_true(tu_ra_fault_loop(fx.ca.st, fl.what, 1, op_submit, same_submit, NULL) > 3);
	tu_ra_snap_take(fx.ca.st, &s1);
	assert_int_equal(s1.mail, fl.s0.mail + 1);
	assert_int_equal(s1.certs, fl.s0.certs);
	assert_int_equal(tu_ra_state(fx.ca.st, fl.w.a.id), RA_APP_AWAITING_APPROVAL);
	assert_int_equal(tu_ra_token_text(fx.ca.st, fx.rec.appr_token, NULL, STORE_TOKEN_APPROVE),
			 0);
	fl.w.want = RA_SUBMIT_REPEAT;
	assert_int_equal(again(op_submit), 0);
	tu_ra_snap_same(fx.ca.st, &s1);
	flow_end(&fl.w);
}

static int
op_approve(void *arg, struct err *e)
{
	(void)arg;
	memset(fx.rec.dlv_token, 0, sizeof(fx.rec.dlv_token));
	ra_cert_page_clear(&fl.w.page);
	if (ra_approve(fx.ca.ca, fx.ca.st, fl.w.appr, &fx.n, &fl.w.res, &fl.w.page, e) == -1)
		return -1;
	if (fl.w.res != fl.w.want)
		fail_msg("%s: %s", fl.what, ra_submit_result_name(fl.w.res));
	return 0;
}

static void
same_approval(void *arg)
{
	(void)arg;
	same_common();
	assert_int_equal(tu_ra_token_text(fx.ca.st, fl.w.appr, NULL, STORE_TOKEN_APPROVE), 0);
	if (fx.rec.dlv_token[0] != '\0')
		assert_false(tu_ra_delivery_there(fx.ca.st, fx.rec.dlv_token));
}

static void
test_faults_approve(void **state)
{
	struct tu_ra_snap s1;

	(void)state;
	flow_sent(&fl.w, "p256");
	fl.w.want = RA_SUBMIT_ISSUED;
	faulted_begin("approval", RA_APP_AWAITING_APPROVAL);
	assert_true(tu_ra_fault_loop(fx.ca.st, fl.what, 1, op_approve, same_approval, NULL) > 10);
	tu_ra_snap_take(fx.ca.st, &s1);
	assert_int_equal(s1.certs, fl.s0.certs + 1);
	assert_int_equal(s1.mail, fl.s0.mail + 2);
	assert_int_equal(s1.audit_seq, fl.s0.audit_seq + 2);
	assert_int_equal(tu_ra_state(fx.ca.st, fl.w.a.id), RA_APP_ISSUED);
	assert_true(tu_ra_delivery_there(fx.ca.st, fx.rec.dlv_token));
	assert_true(tu_ra_download_there(fx.ca.st, fl.w.page.dl));
	snprintf(fl.w.dlv, sizeof(fl.w.dlv), "%s", fx.rec.dlv_token);
	fl.w.want = RA_SUBMIT_USED;
	assert_int_equal(again(op_approve), 0);
	tu_ra_snap_same(fx.ca.st, &s1);
	flow_end(&fl.w);
}

static int
op_reject(void *arg, struct err *e)
{
	(void)arg;
	if (ra_reject(fx.ca.ca, fx.ca.st, fl.w.appr, &fx.n, &fl.w.res, e) == -1)
		return -1;
	if (fl.w.res != fl.w.want)
		fail_msg("%s: %s", fl.what, ra_submit_result_name(fl.w.res));
	return 0;
}

static void
test_faults_reject(void **state)
{
	struct tu_ra_snap s1;

	(void)state;
	flow_sent(&fl.w, "p256");
	fl.w.want = RA_SUBMIT_REJECTED;
	memset(fx.rec.dlv_token, 0, sizeof(fx.rec.dlv_token));
	faulted_begin("rejection", RA_APP_AWAITING_APPROVAL);
	assert_true(tu_ra_fault_loop(fx.ca.st, fl.what, 1, op_reject, same_approval, NULL) > 3);
	tu_ra_snap_take(fx.ca.st, &s1);
	assert_int_equal(s1.mail, fl.s0.mail + 2);
	assert_int_equal(s1.audit_seq, fl.s0.audit_seq + 1);
	assert_int_equal(tu_ra_state(fx.ca.st, fl.w.a.id), RA_APP_REJECTED);
	fl.w.want = RA_SUBMIT_USED;
	assert_int_equal(again(op_reject), 0);
	tu_ra_snap_same(fx.ca.st, &s1);
	flow_end(&fl.w);
}

/* Expiry: an approval link whose time ran out marks its application expired. */
static void
test_faults_expire(void **state)
{
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	struct err e;

	(void)state;
	err_clear(&e);
	flow_sent(&fl.w, "p256");
	ra_token_new(raw, fl.w.appr);
	ra_token_hash(raw, h);
	OK(store_token_add(fx.ca.st, h, STORE_TOKEN_APPROVE, fl.w.a.id, util_now() - 1, 0, &e));
	fl.w.want = RA_SUBMIT_EXPIRED;
	memset(fx.rec.dlv_token, 0, sizeof(fx.rec.dlv_token));
	faulted_begin("expiry", RA_APP_AWAITING_APPROVAL);
	assert_true(tu_ra_fault_loop(fx.ca.st, fl.what, 0, op_approve, same_approval, NULL) >= 2);
	assert_int_equal(tu_ra_state(fx.ca.st, fl.w.a.id), RA_APP_EXPIRED);
	tu_ra_snap_same(fx.ca.st, &fl.s0);
	fl.w.want = RA_SUBMIT_EXPIRED;
	assert_int_equal(again(op_approve), 0);
	flow_end(&fl.w);
}

static int
op_cont(void *arg, struct err *e)
{
	struct ra_app a;

	(void)arg;
	if (ra_cont_load(fx.ca.st, fl.w.cont, TU_SESSION, &a, &fl.w.res, e) == -1)
		return -1;
	ra_app_clear(&a);
	if (fl.w.res != fl.w.want)
		fail_msg("%s: %s", fl.what, ra_submit_result_name(fl.w.res));
	return 0;
}

static void
same_cont(void *arg)
{
	(void)arg;
	same_common();
	assert_int_equal(tu_ra_token_text(fx.ca.st, fl.w.cont, TU_SESSION, STORE_TOKEN_ISSUE_FORM),
			 0);
}

/* Expiry: a continuation whose time ran out marks its application expired. */
static void
test_faults_expire_cont(void **state)
{
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	struct err e;

	(void)state;
	err_clear(&e);
	flow_start(&fl.w, 0, "p256");
	ra_token_new(raw, fl.w.cont);
	ra_token_hash_keyed(raw, TU_SESSION, h);
	OK(store_token_add(fx.ca.st, h, STORE_TOKEN_ISSUE_FORM, fl.w.a.id, util_now() - 1, 0, &e));
	fl.w.want = RA_SUBMIT_EXPIRED;
	faulted_begin("continuation expiry", RA_APP_MAIL_VERIFIED);
	assert_true(tu_ra_fault_loop(fx.ca.st, fl.what, 0, op_cont, same_cont, NULL) >= 2);
	assert_int_equal(tu_ra_state(fx.ca.st, fl.w.a.id), RA_APP_EXPIRED);
	tu_ra_snap_same(fx.ca.st, &fl.s0);
	assert_int_equal(again(op_cont), 0);
	assert_int_equal(tu_ra_state(fx.ca.st, fl.w.a.id), RA_APP_EXPIRED);
	flow_end(&fl.w);
}

static int
op_deliver(void *arg, struct err *e)
{
	struct ra_cert_page dp;
	int found = 0;

	(void)arg;
	if (ra_deliver_take(fx.ca.ca, fx.ca.st, fl.w.dlv, &dp, &found, e) == -1)
		return -1;
	assert_int_equal(found, fl.w.want == RA_SUBMIT_ISSUED);
	if (found) {
		assert_string_equal(dp.serial, fl.w.page.serial);
		assert_string_equal(dp.pin, fl.w.page.pin);
		assert_string_equal(dp.dl, fl.w.page.dl);
	}
	ra_cert_page_clear(&dp);
	return 0;
}

static void
same_deliver(void *arg)
{
	(void)arg;
	same_common();
	assert_true(tu_ra_delivery_there(fx.ca.st, fl.w.dlv));
	assert_true(tu_ra_download_there(fx.ca.st, fl.w.page.dl));
}

static void
test_faults_deliver(void **state)
{
	(void)state;
	flow_approved(&fl.w);
	fl.w.want = RA_SUBMIT_ISSUED;
	faulted_begin("delivery", RA_APP_ISSUED);
	assert_true(tu_ra_fault_loop(fx.ca.st, fl.what, 1, op_deliver, same_deliver, NULL) >= 2);
	assert_false(tu_ra_delivery_there(fx.ca.st, fl.w.dlv));
	assert_true(tu_ra_download_there(fx.ca.st, fl.w.page.dl));
	tu_ra_snap_same(fx.ca.st, &fl.s0);
	fl.w.want = RA_SUBMIT_USED;
	assert_int_equal(again(op_deliver), 0);
	flow_end(&fl.w);
}

static int
op_download(void *arg, struct err *e)
{
	(void)arg;
	return ra_download_take(fx.ca.ca, fx.ca.st, fl.w.page.dl, &fl.data, &fl.len, e);
}

static void
same_download(void *arg)
{
	(void)arg;
	same_common();
	assert_null(fl.data);
	assert_true(tu_ra_download_there(fx.ca.st, fl.w.page.dl));
}

static void
test_faults_download(void **state)
{
	struct err e;

	(void)state;
	err_clear(&e);
	flow_start(&fl.w, 0, "p256");
	OK(flow_submit(&fl.w, &e));
	assert_int_equal(fl.w.res, RA_SUBMIT_ISSUED);
	fl.data = NULL;
	faulted_begin("download", RA_APP_ISSUED);
	assert_true(tu_ra_fault_loop(fx.ca.st, fl.what, 1, op_download, same_download, NULL) >= 1);
	assert_true(p12_ok(fl.data, fl.len, fl.w.page.pin));
	free(fl.data);
	fl.data = NULL;
	assert_false(tu_ra_download_there(fx.ca.st, fl.w.page.dl));
	tu_ra_snap_same(fx.ca.st, &fl.s0);
	assert_int_equal(op_download(NULL, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	flow_end(&fl.w);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_names),
	};
	/*
	 * The fault loops first, without the group commit (the faults reach every statement; on
	 * SQLite the first issuance of the process finds the purge due), then the rest with it,
	 * as the portal runs them.
	 */
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test_setup(test_faults_submit_self, batch_off),
	    cmocka_unit_test_setup(test_faults_submit_agent, batch_off),
	    cmocka_unit_test_setup(test_faults_approve, batch_off),
	    cmocka_unit_test_setup(test_faults_reject, batch_off),
	    cmocka_unit_test_setup(test_faults_expire, batch_off),
	    cmocka_unit_test_setup(test_faults_expire_cont, batch_off),
	    cmocka_unit_test_setup(test_faults_deliver, batch_off),
	    cmocka_unit_test_setup(test_faults_download, batch_off),
	    cmocka_unit_test_setup(test_submit_self, batch_on),
	    cmocka_unit_test_setup(test_submit_refusals, batch_on),
	    cmocka_unit_test_setup(test_agent, batch_on),
	    cmocka_unit_test_setup(test_reject_expire, batch_on),
	    cmocka_unit_test_setup(test_approve_ticket_used, batch_on),
	    cmocka_unit_test_setup(test_approve_refused, batch_on),
	};
	int failed = cmocka_run_group_tests_name("ra issuance", pure, NULL, NULL);

	failed += cmocka_run_group_tests_name("ra issuance on SQLite", stored, setup, teardown);
	if (tu_pg() == NULL) {
		print_message("SHOMEI_TEST_PG is not set: PostgreSQL skipped "
			      "(run through scripts/with-pg.sh)\n");
		return failed;
	}
	want_pg = 1;
	return failed +
	       cmocka_run_group_tests_name("ra issuance on PostgreSQL", stored, setup, teardown);
}
