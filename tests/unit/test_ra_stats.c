/*
 * The console's statistics and audit view below the pages (src/store/store_stats.c,
 * store_audit_list, src/ra/stats.c) on SQLite and on PostgreSQL: certificates of two
 * organizations counted per domain, "(other)", the organization's total and month, by
 * profile (issued, renewed, revoked in the month of revocation, valid now, ending within
 * 30/60/90 days); profiles and certificates outside the statistics left out; one
 * organization only; the refusals; the audit page's filters, paging and verification.
 */
#include "testutil.h"
#include "tu_ca.h"

#include "ra/ra.h"

#define OK(x) assert_int_equal((x), 0)
#define DAY 86400

static struct store *st;
static char *dir;
static int64_t ex1, ex2, off1, off2;

/* 2026-01-15, 2026-02-10, 2025-12-20 at noon UTC; now is 2026-03-01. */
#define JAN ((time_t)1768478400)
#define FEB ((time_t)1770724800)
#define DEC ((time_t)1766232000)
#define NOW ((time_t)1772323200)

static void
cert(const char *serial, int64_t org, const char *profile, const char *subject, const char *sans,
     time_t created, time_t not_after, const char *pred)
{
	static unsigned char der[1] = {0x30};
	struct store_cert c;
	struct err e;

	memset(&c, 0, sizeof(c));
	snprintf(c.serial, sizeof(c.serial), "%s", serial);
	c.ca = "unit";
	c.subject = (char *)subject;
	c.sans = (char *)sans;
	c.profile = (char *)profile;
	c.org_id = org;
	c.not_before = created;
	c.not_after = not_after;
	c.reason = -1;
	c.predecessor = (char *)pred;
	c.der = der;
	c.derlen = 1;
	c.created = created;
	err_clear(&e);
	if (store_cert_insert(st, &c, &e) == -1)
		fail_msg("insert %s: %s", serial, e.msg);
}

static int
setup(int pg)
{
	const char *d1[] = {"example.com", "example.jp"}, *d2[] = {"other.jp"};
	struct store_officer o;
	char *spec;
	struct err e;

	log_init("test_ra_stats", 0);
	err_clear(&e);
	dir = tu_tmpdir();
	if (pg) {
		if (tu_pg() == NULL)
			fail_msg("SHOMEI_TEST_PG is not set (run through scripts/with-pg.sh)");
		tu_pg_reset();
		spec = xstrdup(tu_pg());
	} else {
		spec = xasprintf("sqlite:%s/stats.db", dir);
	}
	if (store_open(&st, spec, &e) == -1)
		fail_msg("open: %s", e.msg);
	free(spec);
	OK(store_org_add(st, "EX1", "Example One", d1, 2, &ex1, &e));
	OK(store_org_add(st, "EX2", "Example Two", d2, 1, &ex2, &e));
	memset(&o, 0, sizeof(o));
	o.role = "officer";
	o.name = "Taro Yamada";
	o.email = "taro@example.jp";
	o.status = "active";
	o.perms = RA_PERM_STATS;
	o.created = o.updated = NOW;
	o.org_id = ex1;
	OK(store_officer_add(st, &o, &off1, &e));
	o.org_id = ex2;
	o.email = "jiro@other.jp";
	OK(store_officer_add(st, &o, &off2, &e));
	/* EX1, January: two alike (one group of 2), in both domains; a client by its mail */
	cert("A1", ex1, "server", "CN=www.example.jp,O=Example One",
	     "DNS:www.example.jp, DNS:shop.example.com", JAN, NOW + 20 * DAY, NULL);
	cert("A2", ex1, "server", "CN=www.example.jp,O=Example One",
	     "DNS:www.example.jp, DNS:shop.example.com", JAN + 60, NOW + 20 * DAY, NULL);
	cert("A3", ex1, "client", "CN=Taro\\, Yamada,O=Example One", "email:taro@mail.example.jp",
	     JAN, NOW + 50 * DAY, NULL);
	/* EX1, February: A1 renewed under a name of no domain; A3 revoked */
	cert("A4", ex1, "server", "CN=host.elsewhere.org", NULL, FEB, NOW + 400 * DAY, "A1");
	OK(store_cert_revoke(st, "A3", FEB + 3600, 1, 0, &e));
	/* EX2, February: a code signing certificate with a wildcard-like CN */
	cert("B1", ex2, "codesign", "CN=*.dev.other.jp", NULL, FEB, NOW + 80 * DAY, NULL);
	/* left out: another profile, no organization, before the period, expired */
	cert("C1", ex1, "officer", "CN=Officer", NULL, JAN, NOW + 300 * DAY, NULL);
	cert("C2", 0, "server", "CN=www.example.jp", NULL, JAN, NOW + 300 * DAY, NULL);
	cert("C3", ex1, "server", "CN=old.example.jp", NULL, DEC, NOW + 300 * DAY, NULL);
	cert("C4", ex2, "server", "CN=gone.other.jp", NULL, JAN, NOW - DAY, NULL);
	return 0;
}

static int
setup_sqlite(void **state)
{
	(void)state;
	return setup(0);
}

static int
setup_pg(void **state)
{
	(void)state;
	return setup(1);
}

static int
teardown(void **state)
{
	(void)state;
	store_close(st);
	st = NULL;
	tu_rmdir(dir);
	return 0;
}

static int
month(const char *s)
{
	int m = -1;

	OK(ra_stats_month_parse(s, &m));
	return m;
}

/* The row of org, kind (domain for RA_STATS_DOMAIN) and month, or NULL. */
static const struct ra_stats_row *
row(const struct ra_stats *s, const char *org, enum ra_stats_kind kind, const char *domain,
    const char *mon)
{
	size_t i;

	for (i = 0; i < s->nrows; i++)
		if (strcmp(s->rows[i].org_code, org) == 0 && s->rows[i].kind == kind &&
		    (kind != RA_STATS_DOMAIN || strcmp(s->rows[i].domain, domain) == 0) &&
		    s->rows[i].month == month(mon))
			return &s->rows[i];
	return NULL;
}

static void
counts(const struct ra_stats_row *r, int p, int64_t issued, int64_t renewed, int64_t revoked,
       int64_t valid, int64_t e30, int64_t e60, int64_t e90)
{
	assert_non_null(r);
	assert_int_equal(r->c[p].issued, issued);
	assert_int_equal(r->c[p].renewed, renewed);
	assert_int_equal(r->c[p].revoked, revoked);
	assert_int_equal(r->c[p].valid, valid);
	assert_int_equal(r->c[p].exp30, e30);
	assert_int_equal(r->c[p].exp60, e60);
	assert_int_equal(r->c[p].exp90, e90);
}

static void
test_pure(void **state)
{
	char t[RA_STATS_MONTH_TEXT];
	int m;

	(void)state;
	OK(ra_stats_month_parse("2026-02", &m));
	assert_int_equal(m, 2026 * 12 + 1);
	ra_stats_month_text(m, t);
	assert_string_equal(t, "2026-02");
	assert_int_equal(ra_stats_month_start(m), (time_t)1769904000);
	assert_int_equal(ra_stats_month_of((time_t)1769904000), m);
	assert_int_equal(ra_stats_month_of((time_t)1769903999), m - 1);
	assert_int_equal(ra_stats_month_parse("2026-13", &m), -1);
	assert_int_equal(ra_stats_month_parse("2026-2", &m), -1);
	assert_int_equal(ra_stats_month_parse("1969-12", &m), -1);
	assert_int_equal(ra_stats_month_parse("20x6-01", &m), -1);
	assert_int_equal(ra_stats_name_under("example.jp", 10, "example.jp"), 1);
	assert_int_equal(ra_stats_name_under("www.EXAMPLE.jp", 14, "example.jp"), 1);
	assert_int_equal(ra_stats_name_under("*.example.jp", 12, "example.jp"), 1);
	assert_int_equal(ra_stats_name_under("badexample.jp", 13, "example.jp"), 0);
	assert_int_equal(ra_stats_name_under("example.jp.evil", 15, "example.jp"), 0);
	assert_int_equal(ra_stats_name_under("jp", 2, "example.jp"), 0);
}

static void
test_stats_all(void **state)
{
	struct ra_stats s;
	struct err e;
	int jan = month("2026-01");

	(void)state;
	err_clear(&e);
	OK(ra_stats_collect(st, NULL, jan, month("2026-03"), NOW, &s, &e));
	assert_int_equal(s.from, jan);
	/* January: the two alike count twice, in both domains; the client by its mail domain */
	counts(row(&s, "EX1", RA_STATS_DOMAIN, "example.jp", "2026-01"), RA_STATS_SERVER, 2, 0, 0,
	       2, 2, 2, 2);
	counts(row(&s, "EX1", RA_STATS_DOMAIN, "example.com", "2026-01"), RA_STATS_SERVER, 2, 0, 0,
	       2, 2, 2, 2);
	counts(row(&s, "EX1", RA_STATS_DOMAIN, "example.jp", "2026-01"), RA_STATS_CLIENT, 1, 0, 0,
	       0, 0, 0, 0);
	counts(row(&s, "EX1", RA_STATS_DOMAIN, "example.com", "2026-01"), RA_STATS_CLIENT, 0, 0, 0,
	       0, 0, 0, 0);
	counts(row(&s, "EX1", RA_STATS_ALL, NULL, "2026-01"), RA_STATS_SERVER, 2, 0, 0, 2, 2, 2, 2);
	counts(row(&s, "EX1", RA_STATS_ALL, NULL, "2026-01"), RA_STATS_CLIENT, 1, 0, 0, 0, 0, 0, 0);
	assert_null(row(&s, "EX1", RA_STATS_OTHER, NULL, "2026-01"));
	/* February: the renewal under no domain, the revocation in its own month */
	counts(row(&s, "EX1", RA_STATS_OTHER, NULL, "2026-02"), RA_STATS_SERVER, 1, 1, 0, 1, 0, 0,
	       0);
	counts(row(&s, "EX1", RA_STATS_DOMAIN, "example.jp", "2026-02"), RA_STATS_CLIENT, 0, 0, 1,
	       0, 0, 0, 0);
	assert_null(row(&s, "EX1", RA_STATS_DOMAIN, "example.com", "2026-02"));
	counts(row(&s, "EX1", RA_STATS_ALL, NULL, "2026-02"), RA_STATS_SERVER, 1, 1, 0, 1, 0, 0, 0);
	counts(row(&s, "EX1", RA_STATS_ALL, NULL, "2026-02"), RA_STATS_CLIENT, 0, 0, 1, 0, 0, 0, 0);
	counts(row(&s, "EX2", RA_STATS_DOMAIN, "other.jp", "2026-02"), RA_STATS_CODESIGN, 1, 0, 0,
	       1, 0, 0, 1);
	/* the expired one is issued, not valid */
	counts(row(&s, "EX2", RA_STATS_DOMAIN, "other.jp", "2026-01"), RA_STATS_SERVER, 1, 0, 0, 0,
	       0, 0, 0);
	assert_null(row(&s, "EX1", RA_STATS_DOMAIN, "example.jp", "2026-03"));
	/* per month, every certificate once; the officer's, the one of no organization and
	 * December's are not counted */
	assert_int_equal(s.totals[0 * RA_STATS_PROFILE__MAX + RA_STATS_SERVER].issued, 3);
	assert_int_equal(s.totals[0 * RA_STATS_PROFILE__MAX + RA_STATS_CLIENT].issued, 1);
	assert_int_equal(s.totals[1 * RA_STATS_PROFILE__MAX + RA_STATS_SERVER].issued, 1);
	assert_int_equal(s.totals[1 * RA_STATS_PROFILE__MAX + RA_STATS_CODESIGN].issued, 1);
	assert_int_equal(s.totals[1 * RA_STATS_PROFILE__MAX + RA_STATS_CLIENT].revoked, 1);
	assert_int_equal(s.totals[2 * RA_STATS_PROFILE__MAX + RA_STATS_SERVER].issued, 0);
	/* rows come by organization, then domain order with (other) and the total last */
	assert_string_equal(s.rows[0].org_code, "EX1");
	assert_string_equal(s.rows[0].domain, "example.com");
	assert_string_equal(s.rows[s.nrows - 1].org_code, "EX2");
	assert_int_equal(s.rows[s.nrows - 1].kind, RA_STATS_ALL);
	ra_stats_clear(&s);
	/* December alone */
	OK(ra_stats_collect(st, NULL, month("2025-12"), month("2025-12"), NOW, &s, &e));
	counts(row(&s, "EX1", RA_STATS_DOMAIN, "example.jp", "2025-12"), RA_STATS_SERVER, 1, 0, 0,
	       1, 0, 0, 0);
	ra_stats_clear(&s);
}

static void
test_stats_one(void **state)
{
	struct ra_stats s;
	struct err e;
	size_t i;

	(void)state;
	err_clear(&e);
	OK(ra_stats_collect(st, "EX1", month("2026-01"), month("2026-02"), NOW, &s, &e));
	assert_true(s.nrows > 0);
	for (i = 0; i < s.nrows; i++)
		assert_string_equal(s.rows[i].org_code, "EX1");
	assert_int_equal(s.totals[1 * RA_STATS_PROFILE__MAX + RA_STATS_CODESIGN].issued, 0);
	ra_stats_clear(&s);
	/* refusals */
	assert_int_equal(
	    ra_stats_collect(st, "NOPE", month("2026-01"), month("2026-02"), NOW, &s, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	err_clear(&e);
	assert_int_equal(
	    ra_stats_collect(st, NULL, month("2023-01"), month("2026-01"), NOW, &s, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	err_clear(&e);
	assert_int_equal(
	    ra_stats_collect(st, NULL, month("2026-02"), month("2026-01"), NOW, &s, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
}

/* Each statement failed in turn: a clean failure, nothing half-filled, then success. */
static void
test_stats_faults(void **state)
{
	struct ra_stats s;
	struct store_audit *v = NULL;
	struct ra_audit_query q;
	int64_t next;
	size_t n = 0;
	long k, count;
	struct err e;

	(void)state;
	err_clear(&e);
	store_fault_set(st, 0, 0);
	OK(ra_stats_collect(st, NULL, month("2026-01"), month("2026-02"), NOW, &s, &e));
	ra_stats_clear(&s);
	count = store_fault_count(st);
	assert_true(count >= 3);
	for (k = 1; k <= count; k++) {
		store_fault_set(st, k, 0);
		err_clear(&e);
		assert_int_equal(
		    ra_stats_collect(st, NULL, month("2026-01"), month("2026-02"), NOW, &s, &e),
		    -1);
		assert_int_equal(e.code, ERR_INTERNAL);
		assert_null(s.rows);
		assert_null(s.totals);
	}
	store_fault_set(st, 0, 0);
	memset(&q, 0, sizeof(q));
	q.org_code = "EX1";
	OK(ra_audit_page(st, &q, &v, &n, &next, &e));
	STORE_LIST_FREE(v, n, store_audit_clear);
	count = store_fault_count(st);
	for (k = 1; k <= count; k++) {
		store_fault_set(st, k, 0);
		err_clear(&e);
		assert_int_equal(ra_audit_page(st, &q, &v, &n, &next, &e), -1);
		assert_null(v);
		assert_int_equal(n, 0);
	}
	store_fault_set(st, 0, 0);
}

static size_t
audit_count(const struct ra_audit_query *q)
{
	struct store_audit *v = NULL;
	int64_t next;
	size_t n = 0;
	struct err e;

	err_clear(&e);
	OK(ra_audit_page(st, q, &v, &n, &next, &e));
	STORE_LIST_FREE(v, n, store_audit_clear);
	return n;
}

static void
test_audit(void **state)
{
	struct ra_audit_query q;
	struct ca_audit_report rep;
	struct store_audit *v = NULL;
	char actor[32], obj[32];
	int64_t next, seen = 0;
	size_t n = 0, total = 0;
	struct err e;
	int i;

	(void)state;
	err_clear(&e);
	snprintf(actor, sizeof(actor), "officer:%lld", (long long)off1);
	snprintf(obj, sizeof(obj), "officer:%lld", (long long)off2);
	OK(store_audit_append(st, "cli:root", "org.add", "EX1", "", NULL, &e));
	OK(store_audit_append(st, actor, "console.login", "console", "", NULL, &e));
	OK(store_audit_append(st, "cli:root", "officer.add", obj, "", NULL, &e));
	OK(store_audit_append(st, "cli:root", "cert.issue", "A1", "CN=www.example.jp", NULL, &e));
	OK(store_audit_append(st, "cli:root", "cert.issue", "B1", "CN=*.dev.other.jp", NULL, &e));
	OK(store_audit_append(st, "api:EX1:k1", "cert.revoke", "A3", "", NULL, &e));
	OK(store_audit_append(st, "api:EX10:k2", "apikey.create", "k2", "", NULL, &e));
	for (i = 0; i < 250; i++)
		OK(store_audit_append(st, "cli:bulk", "test.bulk", "x", "", NULL, &e));
	memset(&q, 0, sizeof(q));
	q.org_code = "EX1";
	assert_int_equal(audit_count(&q), 4); /* org.add, the officer's login, A1, the API key */
	q.org_code = "EX2";
	assert_int_equal(audit_count(&q), 2); /* its officer added, B1 */
	q.action = "cert.";
	assert_int_equal(audit_count(&q), 1);
	q.org_code = NULL;
	assert_int_equal(audit_count(&q), 3);
	q.action = "cert.issue.";
	assert_int_equal(audit_count(&q), 0);
	q.action = NULL;
	q.actor = "api:";
	assert_int_equal(audit_count(&q), 2);
	q.actor = "officer:";
	assert_int_equal(audit_count(&q), 1);
	q.actor = "%"; /* a character, not a pattern */
	assert_int_equal(audit_count(&q), 0);
	q.actor = NULL;
	q.from = util_now() + DAY;
	assert_int_equal(audit_count(&q), 0);
	q.from = util_now() - DAY;
	q.to = util_now() + DAY;
	assert_int_equal(audit_count(&q), RA_AUDIT_PAGE);
	q.from = q.to = 0;
	/* pages of 100, newest first, the last one short */
	do {
		OK(ra_audit_page(st, &q, &v, &n, &next, &e));
		assert_true(n <= RA_AUDIT_PAGE);
		if (n > 0 && seen != 0)
			assert_true(v[0].seq < seen);
		for (size_t k = 1; k < n; k++)
			assert_true(v[k].seq < v[k - 1].seq);
		if (n > 0)
			seen = v[n - 1].seq;
		total += n;
		STORE_LIST_FREE(v, n, store_audit_clear);
		q.before = next;
	} while (next != 0);
	assert_int_equal(total, 257);
	assert_int_equal(seen, 1);
	q.before = 0;
	q.org_code = "NOPE";
	assert_int_equal(ra_audit_page(st, &q, &v, &n, &next, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	err_clear(&e);
	assert_int_equal(ra_audit_verify(st, &rep, &e), 0);
	assert_int_equal(rep.entries, 257);
	assert_int_equal(rep.bad_seq, 0);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_pure),
	};
	const struct CMUnitTest sqlite[] = {
	    cmocka_unit_test_setup_teardown(test_stats_all, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_stats_one, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_audit, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_stats_faults, setup_sqlite, teardown),
	};
	const struct CMUnitTest pg[] = {
	    cmocka_unit_test_setup_teardown(test_stats_all, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_stats_one, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_audit, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_stats_faults, setup_pg, teardown),
	};
	int failed = cmocka_run_group_tests_name("ra stats", pure, NULL, NULL);

	failed += cmocka_run_group_tests_name("ra stats on SQLite", sqlite, NULL, NULL);
	return failed + cmocka_run_group_tests_name("ra stats on PostgreSQL", pg, NULL, NULL);
}
