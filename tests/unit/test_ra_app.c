/*
 * ra application life cycle unit tests (src/ra/app.c) on SQLite and on PostgreSQL: the
 * transition table exhaustively (every state × every event), and ra_app_move(), the single
 * function that changes state, making every move of the table and refusing every other one
 * (ERR_INTERNAL, nothing changed) as well as a move from a state the application is not in
 * (ERR_CONFLICT, nothing changed).  Names tables both ways.
 */
#include "testutil.h"
#include "tu_ca.h"
#include "tu_ra.h"

#define OK(x) assert_int_equal((x), 0)

static struct tu_ra fx;
static int want_pg;

/* The life cycle as DESIGN.md 2.1 and 2.3 draw it, written out again here. */
static int
expected(enum ra_app_state from, enum ra_app_event ev)
{
	switch (ev) {
	case RA_APP_EV_VERIFY:
		return from == RA_APP_REGISTERED ? RA_APP_MAIL_VERIFIED : -1;
	case RA_APP_EV_SUBMIT:
		return from == RA_APP_MAIL_VERIFIED ? RA_APP_SUBMITTED : -1;
	case RA_APP_EV_SUBMIT_AGENT:
		return from == RA_APP_MAIL_VERIFIED ? RA_APP_AWAITING_APPROVAL : -1;
	case RA_APP_EV_APPROVE:
		return from == RA_APP_AWAITING_APPROVAL ? RA_APP_APPROVED : -1;
	case RA_APP_EV_REJECT:
		return from == RA_APP_AWAITING_APPROVAL ? RA_APP_REJECTED : -1;
	case RA_APP_EV_ISSUE:
		return from == RA_APP_SUBMITTED || from == RA_APP_APPROVED ? RA_APP_ISSUED : -1;
	case RA_APP_EV_EXPIRE:
		return from == RA_APP_REGISTERED || from == RA_APP_MAIL_VERIFIED ||
			       from == RA_APP_AWAITING_APPROVAL
			   ? RA_APP_EXPIRED
			   : -1;
	case RA_APP_EV_CANCEL:
		return from == RA_APP_SUBMITTED || from == RA_APP_APPROVED ||
			       from == RA_APP_AWAITING_APPROVAL
			   ? RA_APP_CANCELLED
			   : -1;
	default:
		return -1;
	}
}

static void
test_names(void **state)
{
	static const char *const states[] = {
	    "registered", "mail-verified", "submitted", "awaiting-approval", "approved",
	    "issued",	  "expired",	   "cancelled", "rejected",
	};
	static const char *const events[] = {
	    "verify", "submit", "submit-agent", "approve", "reject", "issue", "expire", "cancel",
	};
	enum ra_app_state s;
	int i;

	(void)state;
	assert_int_equal(sizeof(states) / sizeof(states[0]), RA_APP_STATE__MAX);
	assert_int_equal(sizeof(events) / sizeof(events[0]), RA_APP_EVENT__MAX);
	for (i = 0; i < RA_APP_STATE__MAX; i++) {
		assert_string_equal(ra_app_state_name((enum ra_app_state)i), states[i]);
		OK(ra_app_state_parse(states[i], &s));
		assert_int_equal(s, i);
	}
	for (i = 0; i < RA_APP_EVENT__MAX; i++)
		assert_string_equal(ra_app_event_name((enum ra_app_event)i), events[i]);
	assert_string_equal(ra_app_state_name(RA_APP_STATE__MAX), "unknown");
	assert_string_equal(ra_app_state_name((enum ra_app_state) - 1), "unknown");
	assert_string_equal(ra_app_event_name(RA_APP_EVENT__MAX), "unknown");
	assert_string_equal(ra_app_event_name((enum ra_app_event) - 1), "unknown");
	assert_int_equal(ra_app_state_parse("Issued", &s), -1);
	assert_int_equal(ra_app_state_parse("", &s), -1);
	assert_int_equal(ra_app_state_parse(NULL, &s), -1);
}

/* ra_app_next() is the table above, cell by cell, and nothing leads out of the range. */
static void
test_table(void **state)
{
	int from, ev, allowed = 0;

	(void)state;
	for (from = 0; from < RA_APP_STATE__MAX; from++)
		for (ev = 0; ev < RA_APP_EVENT__MAX; ev++) {
			int want = expected((enum ra_app_state)from, (enum ra_app_event)ev);
			int got = ra_app_next((enum ra_app_state)from, (enum ra_app_event)ev);

			if (got != want)
				fail_msg("%s --%s--> %d, expected %d",
					 ra_app_state_name((enum ra_app_state)from),
					 ra_app_event_name((enum ra_app_event)ev), got, want);
			allowed += want >= 0;
		}
	assert_int_equal(allowed, 13);
	/* the end states lead nowhere */
	for (ev = 0; ev < RA_APP_EVENT__MAX; ev++) {
		assert_int_equal(ra_app_next(RA_APP_ISSUED, (enum ra_app_event)ev), -1);
		assert_int_equal(ra_app_next(RA_APP_EXPIRED, (enum ra_app_event)ev), -1);
		assert_int_equal(ra_app_next(RA_APP_CANCELLED, (enum ra_app_event)ev), -1);
		assert_int_equal(ra_app_next(RA_APP_REJECTED, (enum ra_app_event)ev), -1);
	}
	assert_int_equal(ra_app_next(RA_APP_STATE__MAX, RA_APP_EV_VERIFY), -1);
	assert_int_equal(ra_app_next(RA_APP_REGISTERED, RA_APP_EVENT__MAX), -1);
	assert_int_equal(ra_app_next((enum ra_app_state) - 1, RA_APP_EV_EXPIRE), -1);
}

/* One CA for the group: every test makes applications of its own. */
static int
setup(void **state)
{
	(void)state;
	tu_ra_open(&fx, want_pg, 0, "test_ra_app");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_ra_close(&fx);
	return 0;
}

/* A new application (its own ticket) put into state s directly through the store. */
static int64_t
app_in(enum ra_app_state s)
{
	struct store_org o;
	struct store_app a;
	struct err e;
	char ticket[64];
	int64_t id;
	time_t now = util_now();

	err_clear(&e);
	memset(&o, 0, sizeof(o));
	OK(store_org_get(fx.ca.st, "EX1", &o, &e));
	tu_ra_ticket(fx.ca.st, "EX1", "client", ticket);
	memset(&a, 0, sizeof(a));
	a.org_id = o.id;
	a.ticket = ticket;
	a.applicant_type = "self";
	a.email = "taro@example.co.jp";
	a.created = now;
	a.expires = now + RA_APP_TTL;
	OK(store_app_add(fx.ca.st, &a, &id, &e));
	store_org_clear(&o);
	if (s != RA_APP_REGISTERED)
		OK(store_app_set_state(fx.ca.st, id, "registered", ra_app_state_name(s), &e));
	assert_int_equal(tu_ra_state(fx.ca.st, id), s);
	return id;
}

/* What an event records (values, serial, code) for a move of application id. */
struct change {
	struct ra_app_change c;
	struct store_app v;
	unsigned char code_hash[STORE_HASH_LEN];
	char code[RA_CODE_LEN];
	char serial[STORE_SERIAL_MAX];
};

static void
change_make(struct change *c, int64_t id)
{
	memset(c, 0, sizeof(*c));
	c->v.profile = "client";
	c->v.subject_email = "taro@example.co.jp";
	c->v.name_romaji = "Taro Yamada";
	c->v.name_kanji = "山田太郎";
	c->v.ou = "Sales";
	c->v.key_mode = "p256";
	c->v.password_hash = "$argon2id$unit";
	ra_code_new(c->code, c->code_hash);
	snprintf(c->serial, sizeof(c->serial), "0A%038llX", (unsigned long long)id);
	c->c.values = &c->v;
	c->c.serial = c->serial;
	c->c.code_hash = c->code_hash;
	c->c.when = util_now();
}

/*
 * Every state × every event through ra_app_move() on an application in that state: the
 * table's moves are made (with what they record), every other is ERR_INTERNAL and the
 * application stays where it was.
 */
static void
test_move_every(void **state)
{
	struct change c;
	struct store_app a;
	struct err e;
	int from, ev, moves = 0, refusals = 0;

	(void)state;
	for (from = 0; from < RA_APP_STATE__MAX; from++)
		for (ev = 0; ev < RA_APP_EVENT__MAX; ev++) {
			int64_t id = app_in((enum ra_app_state)from);
			int want = expected((enum ra_app_state)from, (enum ra_app_event)ev);

			change_make(&c, id);
			err_clear(&e);
			if (want < 0) {
				if (ra_app_move(fx.ca.st, id, (enum ra_app_state)from,
						(enum ra_app_event)ev, &c.c, &e) != -1)
					fail_msg("%s --%s--> was made",
						 ra_app_state_name((enum ra_app_state)from),
						 ra_app_event_name((enum ra_app_event)ev));
				assert_int_equal(e.code, ERR_INTERNAL);
				assert_non_null(strstr(e.msg, "no transition"));
				assert_int_equal(tu_ra_state(fx.ca.st, id), from);
				refusals++;
				continue;
			}
			if (ra_app_move(fx.ca.st, id, (enum ra_app_state)from,
					(enum ra_app_event)ev, &c.c, &e) != 0)
				fail_msg("%s --%s-->: %s",
					 ra_app_state_name((enum ra_app_state)from),
					 ra_app_event_name((enum ra_app_event)ev), e.msg);
			assert_int_equal(tu_ra_state(fx.ca.st, id), want);
			memset(&a, 0, sizeof(a));
			OK(store_app_get(fx.ca.st, id, &a, &e));
			if (ev == RA_APP_EV_SUBMIT || ev == RA_APP_EV_SUBMIT_AGENT) {
				assert_string_equal(a.name_romaji, "Taro Yamada");
				assert_string_equal(a.ou, "Sales");
				assert_int_equal(a.submitted, c.c.when);
			} else if (ev == RA_APP_EV_ISSUE) {
				struct store_app b;

				assert_string_equal(a.cert_serial, c.serial);
				assert_int_equal(a.issued, c.c.when);
				memset(&b, 0, sizeof(b));
				OK(store_app_get_by_code(fx.ca.st, c.code_hash, &b, &e));
				assert_int_equal(b.id, id);
				store_app_clear(&b);
			} else {
				assert_null(a.cert_serial);
			}
			store_app_clear(&a);
			/* the same move again: the application has left from */
			change_make(&c, id);
			assert_int_equal(ra_app_move(fx.ca.st, id, (enum ra_app_state)from,
						     (enum ra_app_event)ev, &c.c, &e),
					 -1);
			assert_int_equal(e.code, ERR_CONFLICT);
			assert_int_equal(tu_ra_state(fx.ca.st, id), want);
			moves++;
		}
	assert_int_equal(moves, 13);
	assert_int_equal(refusals, RA_APP_STATE__MAX * RA_APP_EVENT__MAX - 13);
}

/*
 * A move of the table asked from a state the application is not in: ERR_CONFLICT (it moved
 * meanwhile), whatever state it is really in, and nothing changes.
 */
static void
test_move_conflict(void **state)
{
	struct change c;
	struct err e;
	int real, from, ev;

	(void)state;
	for (real = 0; real < RA_APP_STATE__MAX; real++) {
		int64_t id = app_in((enum ra_app_state)real);

		for (from = 0; from < RA_APP_STATE__MAX; from++)
			for (ev = 0; ev < RA_APP_EVENT__MAX; ev++) {
				if (from == real ||
				    expected((enum ra_app_state)from, (enum ra_app_event)ev) < 0)
					continue;
				change_make(&c, id);
				err_clear(&e);
				assert_int_equal(ra_app_move(fx.ca.st, id, (enum ra_app_state)from,
							     (enum ra_app_event)ev, &c.c, &e),
						 -1);
				assert_int_equal(e.code, ERR_CONFLICT);
				assert_int_equal(tu_ra_state(fx.ca.st, id), real);
			}
	}
	/* an application that does not exist moves nowhere either */
	change_make(&c, 999999);
	err_clear(&e);
	assert_int_equal(
	    ra_app_move(fx.ca.st, 999999, RA_APP_REGISTERED, RA_APP_EV_VERIFY, NULL, &e), -1);
	assert_int_not_equal(e.code, ERR_OK);
}

/* The events that record something refuse to move without it (nothing changes). */
static void
test_move_needs(void **state)
{
	struct change c;
	struct err e;
	int64_t id = app_in(RA_APP_MAIL_VERIFIED), id2 = app_in(RA_APP_SUBMITTED);

	(void)state;
	err_clear(&e);
	assert_int_equal(
	    ra_app_move(fx.ca.st, id, RA_APP_MAIL_VERIFIED, RA_APP_EV_SUBMIT, NULL, &e), -1);
	assert_int_equal(e.code, ERR_INTERNAL);
	change_make(&c, id);
	c.c.values = NULL;
	assert_int_equal(
	    ra_app_move(fx.ca.st, id, RA_APP_MAIL_VERIFIED, RA_APP_EV_SUBMIT_AGENT, &c.c, &e), -1);
	assert_int_equal(e.code, ERR_INTERNAL);
	assert_int_equal(tu_ra_state(fx.ca.st, id), RA_APP_MAIL_VERIFIED);
	assert_int_equal(ra_app_move(fx.ca.st, id2, RA_APP_SUBMITTED, RA_APP_EV_ISSUE, NULL, &e),
			 -1);
	change_make(&c, id2);
	c.c.serial = NULL;
	assert_int_equal(ra_app_move(fx.ca.st, id2, RA_APP_SUBMITTED, RA_APP_EV_ISSUE, &c.c, &e),
			 -1);
	change_make(&c, id2);
	c.c.code_hash = NULL;
	assert_int_equal(ra_app_move(fx.ca.st, id2, RA_APP_SUBMITTED, RA_APP_EV_ISSUE, &c.c, &e),
			 -1);
	assert_int_equal(e.code, ERR_INTERNAL);
	assert_int_equal(tu_ra_state(fx.ca.st, id2), RA_APP_SUBMITTED);
}

/* ra_app_load: the face's view of the record, strings never NULL. */
static void
test_load(void **state)
{
	struct ra_app a;
	struct err e;
	int64_t id = app_in(RA_APP_REGISTERED);

	(void)state;
	err_clear(&e);
	OK(ra_app_load(fx.ca.st, id, &a, &e));
	assert_int_equal(a.id, id);
	assert_int_equal(a.state, RA_APP_REGISTERED);
	assert_string_equal(a.profile, "client"); /* the ticket's, before submission */
	assert_string_equal(a.org_code, "EX1");
	assert_string_equal(a.org_name, "Example One");
	assert_string_equal(a.email, "taro@example.co.jp");
	assert_string_equal(a.name_romaji, "");
	assert_string_equal(a.cert_serial, "");
	assert_int_equal(a.agent, 0);
	ra_app_clear(&a);
	ra_app_clear(NULL);
	assert_int_equal(ra_app_load(fx.ca.st, 999999, &a, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	/* expire: a state that moved meanwhile is fine, a move of the table is made */
	OK(ra_app_expire(fx.ca.st, id, RA_APP_MAIL_VERIFIED, &e));
	assert_int_equal(tu_ra_state(fx.ca.st, id), RA_APP_REGISTERED);
	OK(ra_app_expire(fx.ca.st, id, RA_APP_REGISTERED, &e));
	assert_int_equal(tu_ra_state(fx.ca.st, id), RA_APP_EXPIRED);
	OK(ra_app_expire(fx.ca.st, id, RA_APP_REGISTERED, &e));
	assert_int_equal(tu_ra_state(fx.ca.st, id), RA_APP_EXPIRED);
	/* a failing store is told, and nothing moves */
	id = app_in(RA_APP_REGISTERED);
	OK(store_fault_set(fx.ca.st, 1, 0));
	assert_int_equal(ra_app_expire(fx.ca.st, id, RA_APP_REGISTERED, &e), -1);
	assert_non_null(strstr(e.msg, "injected fault"));
	OK(store_fault_set(fx.ca.st, 0, 0));
	assert_int_equal(tu_ra_state(fx.ca.st, id), RA_APP_REGISTERED);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_table),
	};
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test(test_move_every),
	    cmocka_unit_test(test_move_conflict),
	    cmocka_unit_test(test_move_needs),
	    cmocka_unit_test(test_load),
	};
	int failed = cmocka_run_group_tests_name("ra life cycle", pure, NULL, NULL);

	want_pg = 0;
	failed += cmocka_run_group_tests_name("ra_app_move on SQLite", stored, setup, teardown);
	if (tu_pg() == NULL) {
		print_message("SHOMEI_TEST_PG is not set: PostgreSQL skipped "
			      "(run through scripts/with-pg.sh)\n");
		return failed;
	}
	want_pg = 1;
	return failed +
	       cmocka_run_group_tests_name("ra_app_move on PostgreSQL", stored, setup, teardown);
}
