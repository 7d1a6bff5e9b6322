/*
 * ra registration unit tests (src/ra/regist.c) on SQLite and on PostgreSQL: step 1's field
 * codes (organization and ticket, each code), Register (the application, the form's nonce,
 * the mailed link and its mail in one write; a repeat writes nothing), the mailed link looked
 * at and used (ok, unknown, used, expired), and the fault loops of Register, of the link's use
 * and of its expiry: each statement failed in turn and the commit, each time a clean failure
 * with nothing written, then the retry succeeds exactly once.
 */
#include "testutil.h"
#include "tu_ca.h"
#include "tu_ra.h"

#define OK(x) assert_int_equal((x), 0)

#define SELF "taro@example.co.jp"

static struct tu_ra fx;
static int want_pg;

/* One CA per backend (opening one is the slow part); each test says whether it batches. */
static int
setup(void **state)
{
	(void)state;
	tu_ra_open(&fx, want_pg, 1, "test_ra_regist");
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

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(ra_regist_result_name(RA_REGIST_DONE), "done");
	assert_string_equal(ra_regist_result_name(RA_REGIST_REPEAT), "repeat");
	assert_string_equal(ra_regist_result_name(RA_REGIST_REFUSED), "refused");
	assert_string_equal(ra_regist_result_name(RA_REGIST_RESULT__MAX), "unknown");
	assert_string_equal(ra_link_result_name(RA_LINK_OK), "ok");
	assert_string_equal(ra_link_result_name(RA_LINK_UNKNOWN), "unknown");
	assert_string_equal(ra_link_result_name(RA_LINK_USED), "used");
	assert_string_equal(ra_link_result_name(RA_LINK_EXPIRED), "expired");
	assert_string_equal(ra_link_result_name(RA_LINK_RESULT__MAX), "unknown");
}

/* A registration request of ticket by SELF (agent 0) with a new nonce (hash in nh). */
struct reg {
	struct ra_regist_req q;
	unsigned char nh[STORE_HASH_LEN];
	char ticket[64];
	enum ra_regist_result res;
	struct ra_regist_fields f;
};

static void
reg_make(struct reg *r, const char *org, const char *ticket, int agent)
{
	memset(r, 0, sizeof(*r));
	randombytes_buf(r->nh, sizeof(r->nh));
	snprintf(r->ticket, sizeof(r->ticket), "%s", ticket);
	r->q.org = org;
	r->q.ticket = r->ticket;
	r->q.email = agent ? "agent@example.co.jp" : SELF;
	r->q.agent = agent;
	r->q.nonce_hash = r->nh;
}

static int
reg_run(struct reg *r, struct err *e)
{
	return ra_regist(fx.ca.ca, fx.ca.st, &r->q, &fx.n, &r->res, &r->f, e);
}

static int64_t
live(const char *ticket)
{
	struct err e;
	int64_t n = -1;

	err_clear(&e);
	OK(store_app_ticket_live(fx.ca.st, ticket, util_now(), &n, &e));
	return n;
}

static struct ra_regist_fields
check(const char *org, const char *ticket)
{
	struct ra_regist_fields f;
	struct err e;

	err_clear(&e);
	OK(ra_regist_check(fx.ca.st, org, ticket, &f, &e));
	return f;
}

/* Step 1's codes, each field alone, read-only. */
static void
test_check(void **state)
{
	struct tu_ra_snap s0;
	struct reg r;
	struct err e;
	char t1[64], t2[64], used[64], busy[64];

	(void)state;
	err_clear(&e);
	tu_ra_ticket(fx.ca.st, "EX1", "client", t1);
	tu_ra_ticket(fx.ca.st, "EX2", "client", t2);
	tu_ra_ticket(fx.ca.st, "EX1", "client", used);
	tu_ra_ticket(fx.ca.st, "EX1", "server", busy);
	OK(store_ticket_use(fx.ca.st, used, "0BADC0DE", &e));
	reg_make(&r, "EX1", busy, 0);
	OK(reg_run(&r, &e));
	assert_int_equal(r.res, RA_REGIST_DONE);
	tu_ra_snap_take(fx.ca.st, &s0);

	assert_int_equal(check("EX1", t1).org, RA_ORG_OK);
	assert_int_equal(check("EX1", t1).ticket, RA_TICKET_OK);
	assert_int_equal(check("", t1).org, RA_ORG_EMPTY);
	assert_int_equal(check(NULL, t1).org, RA_ORG_EMPTY);
	assert_int_equal(check("NOPE", t1).org, RA_ORG_UNKNOWN);
	assert_int_equal(check("NOPE", t1).ticket, RA_TICKET_OK); /* each field alone */
	assert_int_equal(check("EX1", "").ticket, RA_TICKET_EMPTY);
	assert_int_equal(check("EX1", NULL).ticket, RA_TICKET_EMPTY);
	assert_int_equal(check("EX1", "T-NOSUCH").ticket, RA_TICKET_UNKNOWN);
	assert_int_equal(check("EX1", t2).ticket, RA_TICKET_OTHER_ORG);
	assert_int_equal(check("EX2", t2).ticket, RA_TICKET_OK);
	assert_int_equal(check("EX1", used).ticket, RA_TICKET_USED);
	assert_int_equal(check("EX1", busy).ticket, RA_TICKET_IN_PROGRESS);
	assert_int_equal(check("", "").org, RA_ORG_EMPTY);
	assert_int_equal(check("", "").ticket, RA_TICKET_EMPTY);
	tu_ra_snap_same(fx.ca.st, &s0);
}

static void
test_regist(void **state)
{
	struct tu_ra_snap s0, s1;
	struct reg r, r2;
	struct err e;
	char t1[64];
	int registered;
	enum ra_link_result lr;
	int agent = -1;

	(void)state;
	err_clear(&e);
	tu_ra_ticket(fx.ca.st, "EX1", "client", t1);
	tu_ra_snap_take(fx.ca.st, &s0);
	registered = fx.rec.registered;
	reg_make(&r, "EX1", t1, 0);
	OK(reg_run(&r, &e));
	assert_int_equal(r.res, RA_REGIST_DONE);
	assert_int_equal(r.f.org, RA_ORG_OK);
	assert_int_equal(r.f.ticket, RA_TICKET_OK);
	/* the mailed link, in the same write: the applicant told, the mail queued */
	assert_int_equal(fx.rec.registered, registered + 1);
	assert_string_equal(fx.rec.reg_to, SELF);
	assert_int_equal(strlen(fx.rec.reg_token), RA_TOKEN_TEXT - 1);
	tu_ra_snap_take(fx.ca.st, &s1);
	assert_int_equal(s1.mail, s0.mail + 1);
	assert_int_equal(s1.certs, s0.certs);
	assert_int_equal(live(t1), 1);
	assert_int_equal(tu_ra_token(fx.ca.st, r.nh, STORE_TOKEN_REGIST_FORM), 1);
	assert_int_equal(
	    tu_ra_token_text(fx.ca.st, fx.rec.reg_token, NULL, STORE_TOKEN_REGIST_VERIFY), 0);
	OK(ra_link_peek(fx.ca.st, fx.rec.reg_token, &lr, &agent, &e));
	assert_int_equal(lr, RA_LINK_OK);
	assert_int_equal(agent, 0);
	assert_false(tu_ra_ticket_used(fx.ca.st, t1));

	/* the same confirm page again: a repeat, nothing written, nobody told */
	OK(reg_run(&r, &e));
	assert_int_equal(r.res, RA_REGIST_REPEAT);
	assert_int_equal(fx.rec.registered, registered + 1);
	tu_ra_snap_same(fx.ca.st, &s1);
	assert_int_equal(live(t1), 1);
	/* another confirm page for the same ticket: in progress */
	reg_make(&r2, "EX1", t1, 0);
	OK(reg_run(&r2, &e));
	assert_int_equal(r2.res, RA_REGIST_REFUSED);
	assert_int_equal(r2.f.ticket, RA_TICKET_IN_PROGRESS);
	assert_int_equal(tu_ra_token(fx.ca.st, r2.nh, STORE_TOKEN_REGIST_FORM), -1);
	/* refusals: the fields say which, nothing is written */
	reg_make(&r2, "NOPE", t1, 0);
	OK(reg_run(&r2, &e));
	assert_int_equal(r2.res, RA_REGIST_REFUSED);
	assert_int_equal(r2.f.org, RA_ORG_UNKNOWN);
	reg_make(&r2, "EX2", t1, 0);
	OK(reg_run(&r2, &e));
	assert_int_equal(r2.res, RA_REGIST_REFUSED);
	assert_int_equal(r2.f.ticket, RA_TICKET_OTHER_ORG);
	reg_make(&r2, "EX1", "T-NOSUCH", 0);
	OK(reg_run(&r2, &e));
	assert_int_equal(r2.res, RA_REGIST_REFUSED);
	assert_int_equal(r2.f.ticket, RA_TICKET_UNKNOWN);
	reg_make(&r2, "", "", 0);
	OK(reg_run(&r2, &e));
	assert_int_equal(r2.res, RA_REGIST_REFUSED);
	assert_int_equal(r2.f.org, RA_ORG_EMPTY);
	assert_int_equal(r2.f.ticket, RA_TICKET_EMPTY);
	assert_int_equal(fx.rec.registered, registered + 1);
	tu_ra_snap_same(fx.ca.st, &s1);

	/* an agent's registration: the link says so */
	tu_ra_ticket(fx.ca.st, "EX1", "client", t1);
	reg_make(&r, "EX1", t1, 1);
	OK(reg_run(&r, &e));
	assert_int_equal(r.res, RA_REGIST_DONE);
	assert_string_equal(fx.rec.reg_to, "agent@example.co.jp");
	OK(ra_link_peek(fx.ca.st, fx.rec.reg_token, &lr, &agent, &e));
	assert_int_equal(lr, RA_LINK_OK);
	assert_int_equal(agent, 1);
}

/* A registration of a new ticket; its link's text in link, its application's id returned. */
static int64_t
registered(char link[RA_TOKEN_TEXT], char ticket[64])
{
	struct reg r;
	struct err e;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	struct store_token t;

	err_clear(&e);
	tu_ra_ticket(fx.ca.st, "EX1", "client", ticket);
	reg_make(&r, "EX1", ticket, 0);
	OK(reg_run(&r, &e));
	assert_int_equal(r.res, RA_REGIST_DONE);
	snprintf(link, RA_TOKEN_TEXT, "%s", fx.rec.reg_token);
	OK(ra_token_decode(link, raw));
	ra_token_hash(raw, h);
	OK(store_token_get(fx.ca.st, h, STORE_TOKEN_REGIST_VERIFY, &t, &e));
	return t.app_id;
}

/* An expired mailed link of a new registration (its application's id returned). */
static int64_t
expired_link(char link[RA_TOKEN_TEXT], char ticket[64])
{
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	char unused[RA_TOKEN_TEXT];
	struct err e;
	int64_t id = registered(unused, ticket);

	err_clear(&e);
	ra_token_new(raw, link);
	ra_token_hash(raw, h);
	OK(store_token_add(fx.ca.st, h, STORE_TOKEN_REGIST_VERIFY, id, util_now() - 1, 0, &e));
	return id;
}

static void
test_link(void **state)
{
	struct tu_ra_snap s0;
	struct ra_app a;
	enum ra_submit_result sr;
	enum ra_link_result lr;
	struct err e;
	char link[RA_TOKEN_TEXT], cont[RA_TOKEN_TEXT], other[RA_TOKEN_TEXT], ticket[64];
	unsigned char raw[RA_TOKEN_LEN];
	int64_t id;
	int agent;

	(void)state;
	err_clear(&e);
	id = registered(link, ticket);
	/* looked at (GET, HEAD): nothing is used */
	OK(ra_link_peek(fx.ca.st, link, &lr, &agent, &e));
	assert_int_equal(lr, RA_LINK_OK);
	OK(ra_link_peek(fx.ca.st, link, &lr, &agent, &e));
	assert_int_equal(lr, RA_LINK_OK);
	assert_int_equal(tu_ra_state(fx.ca.st, id), RA_APP_REGISTERED);
	OK(ra_link_peek(fx.ca.st, "not a token", &lr, &agent, &e));
	assert_int_equal(lr, RA_LINK_UNKNOWN);
	ra_token_new(raw, other);
	OK(ra_link_peek(fx.ca.st, other, &lr, &agent, &e));
	assert_int_equal(lr, RA_LINK_UNKNOWN);
	/* used: mail-verified and a continuation of this session */
	tu_ra_snap_take(fx.ca.st, &s0);
	OK(ra_link_use(fx.ca.ca, fx.ca.st, link, TU_SESSION, cont, &lr, &e));
	assert_int_equal(lr, RA_LINK_OK);
	assert_int_equal(strlen(cont), RA_TOKEN_TEXT - 1);
	assert_int_equal(tu_ra_state(fx.ca.st, id), RA_APP_MAIL_VERIFIED);
	assert_int_equal(tu_ra_token_text(fx.ca.st, link, NULL, STORE_TOKEN_REGIST_VERIFY), 1);
	assert_int_equal(tu_ra_token_text(fx.ca.st, cont, TU_SESSION, STORE_TOKEN_ISSUE_FORM), 0);
	tu_ra_snap_same(fx.ca.st, &s0);
	OK(ra_cont_load(fx.ca.st, cont, TU_SESSION, &a, &sr, &e));
	assert_int_equal(sr, RA_SUBMIT_ISSUED);
	assert_int_equal(a.id, id);
	ra_app_clear(&a);
	OK(ra_cont_load(fx.ca.st, cont, "another session", &a, &sr, &e));
	assert_int_equal(sr, RA_SUBMIT_UNKNOWN);
	/* once */
	OK(ra_link_use(fx.ca.ca, fx.ca.st, link, TU_SESSION, cont, &lr, &e));
	assert_int_equal(lr, RA_LINK_USED);
	assert_string_equal(cont, "");
	OK(ra_link_peek(fx.ca.st, link, &lr, &agent, &e));
	assert_int_equal(lr, RA_LINK_USED);
	OK(ra_link_use(fx.ca.ca, fx.ca.st, "not a token", TU_SESSION, cont, &lr, &e));
	assert_int_equal(lr, RA_LINK_UNKNOWN);
	OK(ra_link_use(fx.ca.ca, fx.ca.st, other, TU_SESSION, cont, &lr, &e));
	assert_int_equal(lr, RA_LINK_UNKNOWN);
	assert_string_equal(cont, "");
	tu_ra_snap_same(fx.ca.st, &s0);

	/* expired: looked at, nothing changes; used, the application is marked expired */
	id = expired_link(link, ticket);
	OK(ra_link_peek(fx.ca.st, link, &lr, &agent, &e));
	assert_int_equal(lr, RA_LINK_EXPIRED);
	assert_int_equal(tu_ra_state(fx.ca.st, id), RA_APP_REGISTERED);
	OK(ra_link_use(fx.ca.ca, fx.ca.st, link, TU_SESSION, cont, &lr, &e));
	assert_int_equal(lr, RA_LINK_EXPIRED);
	assert_string_equal(cont, "");
	assert_int_equal(tu_ra_state(fx.ca.st, id), RA_APP_EXPIRED);
	assert_int_equal(tu_ra_token_text(fx.ca.st, link, NULL, STORE_TOKEN_REGIST_VERIFY), 0);
	/* its ticket may be registered again */
	assert_int_equal(check("EX1", ticket).ticket, RA_TICKET_OK);
}

/*
 * The link's answer lost: the session it rotated to gets the same continuation again (reads
 * only) while the application waits for its form; any other session, or once the
 * continuation is used, "used".
 */
static void
test_link_resume(void **state)
{
	struct tu_ra_snap s0;
	enum ra_link_result lr;
	struct err e;
	char link[RA_TOKEN_TEXT], cont[RA_TOKEN_TEXT], again[RA_TOKEN_TEXT], ticket[64];
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	int64_t id;

	(void)state;
	err_clear(&e);
	id = registered(link, ticket);
	/* never used: nothing to give again */
	OK(ra_link_resume(fx.ca.st, link, TU_SESSION, again, &lr, &e));
	assert_int_equal(lr, RA_LINK_UNKNOWN);
	assert_string_equal(again, "");
	OK(ra_link_resume(fx.ca.st, "not a token", TU_SESSION, again, &lr, &e));
	assert_int_equal(lr, RA_LINK_UNKNOWN);
	OK(ra_link_use(fx.ca.ca, fx.ca.st, link, TU_SESSION, cont, &lr, &e));
	assert_int_equal(lr, RA_LINK_OK);
	tu_ra_snap_take(fx.ca.st, &s0);
	OK(ra_link_resume(fx.ca.st, link, TU_SESSION, again, &lr, &e));
	assert_int_equal(lr, RA_LINK_OK);
	assert_string_equal(again, cont);
	OK(ra_link_resume(fx.ca.st, link, "another session", again, &lr, &e));
	assert_int_equal(lr, RA_LINK_USED);
	assert_string_equal(again, "");
	tu_ra_snap_same(fx.ca.st, &s0); /* nothing written */
	assert_int_equal(tu_ra_state(fx.ca.st, id), RA_APP_MAIL_VERIFIED);
	/* the continuation used (the form submitted): used for this session too */
	assert_int_equal(ra_token_decode(cont, raw), 0);
	ra_token_hash_keyed(raw, TU_SESSION, h);
	OK(store_token_use(fx.ca.st, h, STORE_TOKEN_ISSUE_FORM, util_now(), &e));
	OK(ra_link_resume(fx.ca.st, link, TU_SESSION, again, &lr, &e));
	assert_int_equal(lr, RA_LINK_USED);
	assert_string_equal(again, "");
	/* an expired link stays expired */
	id = expired_link(link, ticket);
	OK(ra_link_resume(fx.ca.st, link, TU_SESSION, again, &lr, &e));
	assert_int_equal(lr, RA_LINK_EXPIRED);
	assert_int_equal(tu_ra_state(fx.ca.st, id), RA_APP_REGISTERED);
}

/* ---- the fault loops ---- */

static struct {
	struct reg r;
	struct tu_ra_snap s0;
	char link[RA_TOKEN_TEXT], cont[RA_TOKEN_TEXT], ticket[64];
	int64_t id;
	enum ra_link_result want, lr;
	enum ra_app_state state;
} fl;

static int
op_regist(void *arg, struct err *e)
{
	(void)arg;
	memset(fx.rec.reg_token, 0, sizeof(fx.rec.reg_token));
	if (reg_run(&fl.r, e) == -1)
		return -1;
	if (fl.r.res != RA_REGIST_DONE)
		fail_msg("Register: %s", ra_regist_result_name(fl.r.res));
	return 0;
}

static void
same_regist(void *arg)
{
	(void)arg;
	tu_ra_snap_same(fx.ca.st, &fl.s0);
	assert_int_equal(live(fl.ticket), 0);
	assert_int_equal(tu_ra_token(fx.ca.st, fl.r.nh, STORE_TOKEN_REGIST_FORM), -1);
	if (fx.rec.reg_token[0] != '\0')
		assert_int_equal(
		    tu_ra_token_text(fx.ca.st, fx.rec.reg_token, NULL, STORE_TOKEN_REGIST_VERIFY),
		    -1);
}

static void
test_faults_regist(void **state)
{
	struct tu_ra_snap s1;
	struct err e;

	(void)state;
	err_clear(&e);
	tu_ra_ticket(fx.ca.st, "EX1", "client", fl.ticket);
	reg_make(&fl.r, "EX1", fl.ticket, 0);
	tu_ra_snap_take(fx.ca.st, &fl.s0);
	assert_true(tu_ra_fault_loop(fx.ca.st, "Register", 1, op_regist, same_regist, NULL) > 5);
	tu_ra_snap_take(fx.ca.st, &s1);
	assert_int_equal(s1.mail, fl.s0.mail + 1);
	assert_int_equal(live(fl.ticket), 1);
	assert_int_equal(tu_ra_token(fx.ca.st, fl.r.nh, STORE_TOKEN_REGIST_FORM), 1);
	assert_int_equal(
	    tu_ra_token_text(fx.ca.st, fx.rec.reg_token, NULL, STORE_TOKEN_REGIST_VERIFY), 0);
	/* exactly once */
	OK(reg_run(&fl.r, &e));
	assert_int_equal(fl.r.res, RA_REGIST_REPEAT);
	tu_ra_snap_same(fx.ca.st, &s1);
	assert_int_equal(live(fl.ticket), 1);
}

static int
op_link(void *arg, struct err *e)
{
	(void)arg;
	if (ra_link_use(fx.ca.ca, fx.ca.st, fl.link, TU_SESSION, fl.cont, &fl.lr, e) == -1)
		return -1;
	if (fl.lr != fl.want)
		fail_msg("link: %s", ra_link_result_name(fl.lr));
	return 0;
}

static void
same_link(void *arg)
{
	(void)arg;
	tu_ra_snap_same(fx.ca.st, &fl.s0);
	assert_int_equal(tu_ra_state(fx.ca.st, fl.id), fl.state);
	assert_int_equal(tu_ra_token_text(fx.ca.st, fl.link, NULL, STORE_TOKEN_REGIST_VERIFY), 0);
	if (fl.cont[0] != '\0')
		assert_int_equal(
		    tu_ra_token_text(fx.ca.st, fl.cont, TU_SESSION, STORE_TOKEN_ISSUE_FORM), -1);
}

static void
test_faults_link(void **state)
{
	struct err e;

	(void)state;
	err_clear(&e);
	fl.id = registered(fl.link, fl.ticket);
	fl.state = RA_APP_REGISTERED;
	fl.want = RA_LINK_OK;
	tu_ra_snap_take(fx.ca.st, &fl.s0);
	assert_true(tu_ra_fault_loop(fx.ca.st, "link", 1, op_link, same_link, NULL) > 3);
	assert_int_equal(tu_ra_state(fx.ca.st, fl.id), RA_APP_MAIL_VERIFIED);
	assert_int_equal(tu_ra_token_text(fx.ca.st, fl.link, NULL, STORE_TOKEN_REGIST_VERIFY), 1);
	assert_int_equal(tu_ra_token_text(fx.ca.st, fl.cont, TU_SESSION, STORE_TOKEN_ISSUE_FORM),
			 0);
	tu_ra_snap_same(fx.ca.st, &fl.s0);
	/* exactly once */
	fl.want = RA_LINK_USED;
	OK(op_link(NULL, &e));
	assert_int_equal(tu_ra_state(fx.ca.st, fl.id), RA_APP_MAIL_VERIFIED);
}

static void
test_faults_link_expired(void **state)
{
	struct err e;

	(void)state;
	err_clear(&e);
	fl.id = expired_link(fl.link, fl.ticket);
	fl.state = RA_APP_REGISTERED;
	fl.want = RA_LINK_EXPIRED;
	memset(fl.cont, 0, sizeof(fl.cont));
	tu_ra_snap_take(fx.ca.st, &fl.s0);
	assert_true(tu_ra_fault_loop(fx.ca.st, "link expiry", 1, op_link, same_link, NULL) >= 2);
	assert_int_equal(tu_ra_state(fx.ca.st, fl.id), RA_APP_EXPIRED);
	tu_ra_snap_same(fx.ca.st, &fl.s0);
	OK(op_link(NULL, &e));
	assert_int_equal(tu_ra_state(fx.ca.st, fl.id), RA_APP_EXPIRED);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_names),
	};
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test_setup(test_check, batch_on),
	    cmocka_unit_test_setup(test_regist, batch_on),
	    cmocka_unit_test_setup(test_link, batch_on),
	    cmocka_unit_test_setup(test_link_resume, batch_on),
	    cmocka_unit_test_setup(test_faults_regist, batch_off),
	    cmocka_unit_test_setup(test_faults_link, batch_off),
	    cmocka_unit_test_setup(test_faults_link_expired, batch_off),
	};
	int failed = cmocka_run_group_tests_name("ra registration", pure, NULL, NULL);

	failed += cmocka_run_group_tests_name("ra registration on SQLite", stored, setup, teardown);
	if (tu_pg() == NULL) {
		print_message("SHOMEI_TEST_PG is not set: PostgreSQL skipped "
			      "(run through scripts/with-pg.sh)\n");
		return failed;
	}
	want_pg = 1;
	return failed + cmocka_run_group_tests_name("ra registration on PostgreSQL", stored, setup,
						    teardown);
}
