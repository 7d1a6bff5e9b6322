/*
 * store unit tests.  The same suite runs twice: on a fresh SQLite file per test, and on the
 * throwaway PostgreSQL cluster of scripts/with-pg.sh (schema public dropped before each test).
 * Without SHOMEI_TEST_PG the PostgreSQL group fails; it never skips.
 */
#include "testutil.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <pthread.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store/migrations.h"
#include "store/store.h"
#include "store/store_int.h"

struct fx {
	char *dir;  /* SQLite: the temporary directory */
	char *spec; /* what store_open() is given */
	struct store *s;
};

static int cur_pg; /* the group running: 0 SQLite, 1 PostgreSQL */

static const unsigned char zero_hash[STORE_HASH_LEN];

static void
pg_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Runs SQL on the test cluster directly (libpq), outside the store. */
static void
pg_raw(const char *sql)
{
	PGconn *c;
	PGresult *r;

	c = PQconnectdb(tu_pg());
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("postgresql: %s", PQerrorMessage(c));
	PQsetNoticeProcessor(c, pg_quiet, NULL);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("postgresql: %s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* The integer a one-value query returns, read past the store (sqlite3 or libpq). */
static long long
raw_value(struct fx *f, const char *sql)
{
	long long v = -1;

	if (cur_pg) {
		PGconn *c = PQconnectdb(tu_pg());
		PGresult *r;

		assert_int_equal(PQstatus(c), CONNECTION_OK);
		r = PQexec(c, sql);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		assert_int_equal(PQntuples(r), 1);
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;

		assert_int_equal(sqlite3_open_v2(f->spec + 7, &db, SQLITE_OPEN_READONLY, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	return v;
}

static int
grp_sqlite(void **state)
{
	(void)state;
	cur_pg = 0;
	return 0;
}

static int
grp_pg(void **state)
{
	(void)state;
	cur_pg = 1;
	if (tu_pg() == NULL) {
		print_error("SHOMEI_TEST_PG is not set: run through scripts/with-pg.sh\n");
		return -1;
	}
	return 0;
}

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	if (cur_pg) {
		if (tu_pg() == NULL)
			fail_msg("SHOMEI_TEST_PG is not set: run through scripts/with-pg.sh");
		pg_raw("SET client_min_messages TO warning; DROP SCHEMA public CASCADE; "
		       "CREATE SCHEMA public");
		f->spec = xstrdup(tu_pg());
	} else {
		f->dir = tu_tmpdir();
		f->spec = xasprintf("sqlite:%s/shomei.db", f->dir);
	}
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	free(f->spec);
	tu_rmdir(f->dir);
	free(f);
	return 0;
}

static struct store *
fx_open(struct fx *f)
{
	struct store *s = NULL;
	struct err e;

	err_clear(&e);
	if (store_open(&s, f->spec, &e) != 0)
		fail_msg("store_open: %s", e.msg);
	return s;
}

/* Opens the fixture's main connection. */
static struct store *
fx_store(void **state)
{
	struct fx *f = *state;

	f->s = fx_open(f);
	return f->s;
}

#define OK(call)                                                                                   \
	do {                                                                                       \
		err_clear(&e);                                                                     \
		if ((call) != 0)                                                                   \
			fail_msg("%s: %s", #call, e.msg);                                          \
	} while (0)

#define FAILS(call, code_)                                                                         \
	do {                                                                                       \
		err_clear(&e);                                                                     \
		assert_int_equal((call), -1);                                                      \
		assert_int_equal(e.code, (code_));                                                 \
	} while (0)

static const unsigned char der_sample[] = {0x30, 0x82, 0x00, 0x00, 0x5c, 0x27, 0x22,
					   0xff, 0x00, 0x01, 0x25, 0x5f, 0x0a, 0x00};

static void
cert_fill(struct store_cert *c, const char *serial, const char *ca, const char *subject,
	  int64_t org_id, time_t not_after, time_t created)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->serial, sizeof(c->serial), "%s", serial);
	c->ca = (char *)ca;
	c->subject = (char *)subject;
	c->profile = (char *)"server";
	c->org_id = org_id;
	c->not_before = 100;
	c->not_after = not_after;
	c->status = STORE_CERT_VALID;
	c->reason = -1;
	c->der = (unsigned char *)der_sample;
	c->derlen = sizeof(der_sample);
	c->created = created;
}

static void
insert_cert(struct store *s, const char *serial, const char *ca, const char *subject,
	    int64_t org_id, time_t not_after, time_t created)
{
	struct store_cert c;
	struct err e;

	cert_fill(&c, serial, ca, subject, org_id, not_after, created);
	OK(store_cert_insert(s, &c, &e));
}

/* ---- migrations, opening ---- */

static void
test_migrations(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_store(state), *s2;
	unsigned char h[STORE_HASH_LEN];
	int64_t seq;
	struct err e;
	int v, latest = 0;
	size_t i;

	for (i = 0; i < store_nmigrations; i++)
		if (store_migrations[i].version > latest)
			latest = store_migrations[i].version;
	assert_true(latest >= 1);
	assert_int_equal(store_backend(s), cur_pg ? STORE_PG : STORE_SQLITE);
	OK(store_ping(s, &e));
	OK(store_schema_version(s, &v, &e));
	assert_int_equal(v, latest);
	OK(store_audit_head(s, &seq, h, &e));
	assert_int_equal(seq, 0);
	assert_memory_equal(h, zero_hash, STORE_HASH_LEN);

	/* opening again (while the first is open, then after) changes nothing */
	s2 = fx_open(f);
	OK(store_schema_version(s2, &v, &e));
	assert_int_equal(v, latest);
	store_close(s2);
	store_close(f->s);
	f->s = NULL;
	s = fx_store(state);
	OK(store_schema_version(s, &v, &e));
	assert_int_equal(v, latest);
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM schema_migrations"),
			 (long long)store_nmigrations);
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM audit_head"), 1);
	if (!cur_pg)
		assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM pragma_journal_mode "
					      "WHERE journal_mode = 'wal'"),
				 1);
}

/* Several processes opening a fresh database at once: one applies, the others wait. */
static void
test_migrations_concurrent(void **state)
{
	struct fx *f = *state;
	pid_t pids[4];
	int i, status;

	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct store *s = NULL;
			struct err e;
			int rc;

			err_clear(&e);
			rc = store_open(&s, f->spec, &e);
			if (rc != 0)
				fprintf(stderr, "child: %s\n", e.msg);
			store_close(s);
			_exit(rc == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM schema_migrations"),
			 (long long)store_nmigrations);
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM audit_head"), 1);
}

static void
test_open_failures(void **state)
{
	struct fx *f = *state;
	struct store *s = (struct store *)&s;
	char *spec, *path, *want;
	struct err e;
	FILE *fp;

	/* a directory that does not exist */
	spec = xasprintf("sqlite:%s/missing/dir/shomei.db", f->dir != NULL ? f->dir : "/tmp/nx");
	FAILS(store_open(&s, spec, &e), ERR_INTERNAL);
	assert_null(s);
	want = xasprintf("store: %s: unable to open database file", spec);
	assert_string_equal(e.msg, want);
	free(want);
	free(spec);

	/* a file that is not a database */
	if (f->dir != NULL) {
		path = xasprintf("%s/garbage.db", f->dir);
		fp = fopen(path, "w");
		assert_non_null(fp);
		for (int i = 0; i < 512; i++)
			fputs("this is not a database\n", fp);
		fclose(fp);
		spec = xasprintf("sqlite:%s", path);
		FAILS(store_open(&s, spec, &e), ERR_INTERNAL);
		assert_non_null(strstr(e.msg, "file is not a database"));
		free(spec);
		free(path);
	}

	FAILS(store_open(&s, "sqlite:", &e), ERR_REFUSED);
	FAILS(store_open(&s, "mysql:foo", &e), ERR_REFUSED);
	assert_non_null(strstr(e.msg, "not sqlite:PATH nor a PostgreSQL connection string"));
	FAILS(store_open(&s, "", &e), ERR_REFUSED);

	/* PostgreSQL: nothing listens there */
	FAILS(store_open(&s, "host=/nonexistent/shomei dbname=x user=nobody connect_timeout=2", &e),
	      ERR_INTERNAL);
	assert_null(s);
	assert_true(strncmp(e.msg, "store: postgresql: connection failed: ", 38) == 0);
	assert_true(strlen(e.msg) > 38);
	assert_null(strchr(e.msg, '\n'));
	FAILS(store_open(&s, "postgresql://nobody@/x?host=/nonexistent/shomei", &e), ERR_INTERNAL);
	assert_true(strncmp(e.msg, "store: postgresql: connection failed: ", 38) == 0);
	FAILS(store_open(&s, "host=/tmp bogus_option=1", &e), ERR_INTERNAL);
	assert_non_null(strstr(e.msg, "bogus_option"));
}

static void
test_free_null(void **state)
{
	struct store_org o;
	struct store_ticket t;
	struct store_cert c;
	struct store_crl crl;
	struct store_audit a;
	struct store_org *ov = NULL;
	struct store_ticket *tv = NULL;
	struct store_cert *cv = NULL;
	struct store_apikey *kv = NULL;
	struct store_mail *mv = NULL;
	struct store_app *av = NULL;

	(void)state;
	memset(&o, 0, sizeof(o));
	memset(&t, 0, sizeof(t));
	memset(&c, 0, sizeof(c));
	memset(&crl, 0, sizeof(crl));
	memset(&a, 0, sizeof(a));
	store_close(NULL);
	store_rollback(NULL);
	store_org_clear(NULL);
	store_org_clear(&o);
	STORE_LIST_FREE(ov, 1, store_org_clear);
	store_ticket_clear(NULL);
	store_ticket_clear(&t);
	STORE_LIST_FREE(tv, 3, store_ticket_clear);
	store_cert_clear(NULL);
	store_cert_clear(&c);
	STORE_LIST_FREE(cv, 2, store_cert_clear);
	STORE_LIST_FREE(kv, 1, store_apikey_clear);
	STORE_LIST_FREE(mv, 1, store_mail_clear);
	STORE_LIST_FREE(av, 1, store_app_clear);
	store_crl_clear(NULL);
	store_crl_clear(&crl);
	store_audit_clear(NULL);
	store_audit_clear(&a);
}

/* ---- organizations ---- */

static void
test_org(void **state)
{
	struct store *s = fx_store(state);
	const char *doms[] = {"b.example", "acme.example"};
	struct store_org o, *v = NULL;
	int64_t id = 0, id2 = 0;
	struct err e;
	size_t n = 0;

	OK(store_org_add(s, "ACME", "Acme Corp", doms, 2, &id, &e));
	assert_true(id > 0);
	FAILS(store_org_add(s, "ACME", "Other", NULL, 0, NULL, &e), ERR_CONFLICT);
	assert_string_equal(e.msg, "store: organization ACME already exists");
	OK(store_org_add(s, "BETA", "Beta Ltd", NULL, 0, &id2, &e));
	assert_true(id2 > id);

	OK(store_org_get(s, "ACME", &o, &e));
	assert_int_equal(o.id, id);
	assert_string_equal(o.code, "ACME");
	assert_string_equal(o.name, "Acme Corp");
	assert_int_equal(o.ndomains, 2);
	assert_string_equal(o.domains[0], "acme.example");
	assert_string_equal(o.domains[1], "b.example");
	assert_true(o.created > 0);
	store_org_clear(&o);

	OK(store_org_get_id(s, id2, &o, &e));
	assert_string_equal(o.code, "BETA");
	assert_int_equal(o.ndomains, 0);
	store_org_clear(&o);

	FAILS(store_org_get(s, "NOPE", &o, &e), ERR_NOTFOUND);
	assert_string_equal(e.msg, "store: organization NOPE not found");
	store_org_clear(&o);
	FAILS(store_org_get_id(s, 99999, &o, &e), ERR_NOTFOUND);
	store_org_clear(&o);

	/* a duplicate inside a transaction leaves the transaction usable */
	OK(store_begin(s, &e));
	FAILS(store_org_add(s, "BETA", "again", NULL, 0, NULL, &e), ERR_CONFLICT);
	OK(store_org_add(s, "GAMMA", "Gamma", doms, 1, NULL, &e));
	OK(store_commit(s, &e));

	OK(store_org_list(s, &v, &n, &e));
	assert_int_equal(n, 3);
	assert_string_equal(v[0].code, "ACME");
	assert_int_equal(v[0].ndomains, 2);
	assert_string_equal(v[1].code, "BETA");
	assert_string_equal(v[2].code, "GAMMA");
	assert_int_equal(v[2].ndomains, 1);
	assert_string_equal(v[2].domains[0], "b.example");
	STORE_LIST_FREE(v, n, store_org_clear);
}

/* ---- tickets ---- */

static void
test_ticket(void **state)
{
	struct store *s = fx_store(state);
	struct store_ticket t, *v = NULL;
	int64_t org = 0, org2 = 0;
	struct err e;
	size_t n = 0;

	OK(store_org_add(s, "ACME", "Acme", NULL, 0, &org, &e));
	OK(store_org_add(s, "BETA", "Beta", NULL, 0, &org2, &e));
	OK(store_ticket_add(s, org, "T-0001", "server", &e));
	OK(store_ticket_add(s, org, "T-0002", "client", &e));
	OK(store_ticket_add(s, org2, "T-0003", "server", &e));
	FAILS(store_ticket_add(s, org, "T-0001", "server", &e), ERR_CONFLICT);
	assert_string_equal(e.msg, "store: ticket T-0001 already exists");
	FAILS(store_ticket_add(s, 424242, "T-0009", "server", &e), ERR_NOTFOUND);

	OK(store_ticket_get(s, "T-0001", &t, &e));
	assert_string_equal(t.number, "T-0001");
	assert_int_equal(t.org_id, org);
	assert_string_equal(t.org_code, "ACME");
	assert_string_equal(t.profile, "server");
	assert_string_equal(t.status, "unused");
	assert_null(t.cert_serial);
	assert_true(t.created > 0);
	store_ticket_clear(&t);
	FAILS(store_ticket_get(s, "T-9999", &t, &e), ERR_NOTFOUND);
	assert_string_equal(e.msg, "store: ticket T-9999 not found");
	store_ticket_clear(&t);

	OK(store_ticket_list(s, org, &v, &n, &e));
	assert_int_equal(n, 2);
	assert_string_equal(v[0].number, "T-0001");
	assert_string_equal(v[1].number, "T-0002");
	assert_string_equal(v[1].profile, "client");
	STORE_LIST_FREE(v, n, store_ticket_clear);
	OK(store_ticket_list(s, 0, &v, &n, &e));
	assert_int_equal(n, 3);
	assert_string_equal(v[2].org_code, "BETA");
	STORE_LIST_FREE(v, n, store_ticket_clear);

	OK(store_ticket_use(s, "T-0001", "0a1b", &e));
	OK(store_ticket_get(s, "T-0001", &t, &e));
	assert_string_equal(t.status, "used");
	assert_string_equal(t.cert_serial, "0A1B");
	store_ticket_clear(&t);
	FAILS(store_ticket_use(s, "T-0001", "0C", &e), ERR_CONFLICT);
	assert_string_equal(e.msg, "store: ticket T-0001 already used");
	FAILS(store_ticket_use(s, "T-0404", "0C", &e), ERR_NOTFOUND);

	/* inside a transaction: the refusal does not spoil it */
	OK(store_begin(s, &e));
	FAILS(store_ticket_use(s, "T-0001", "0D", &e), ERR_CONFLICT);
	FAILS(store_ticket_add(s, org, "T-0002", "server", &e), ERR_CONFLICT);
	OK(store_ticket_use(s, "T-0002", "0E", &e));
	OK(store_commit(s, &e));
	OK(store_ticket_get(s, "T-0002", &t, &e));
	assert_string_equal(t.status, "used");
	assert_string_equal(t.cert_serial, "0E");
	store_ticket_clear(&t);
}

/* ---- applications: a ticket's live registrations (portal step 1) ---- */

static void
test_app_ticket_live(void **state)
{
	struct store *s = fx_store(state);
	struct store_app a;
	int64_t org = 0, id1 = 0, id2 = 0, n = -1;
	time_t now = 1800000000;
	struct err e;

	OK(store_org_add(s, "ACME", "Acme", NULL, 0, &org, &e));
	OK(store_ticket_add(s, org, "T-1", "client", &e));
	OK(store_ticket_add(s, org, "T-2", "client", &e));
	OK(store_app_ticket_live(s, "T-1", now, &n, &e));
	assert_int_equal(n, 0);
	memset(&a, 0, sizeof(a));
	a.org_id = org;
	a.ticket = "T-1";
	a.applicant_type = "self";
	a.email = "a@example.jp";
	a.created = now - 10;
	a.expires = now + 100;
	OK(store_app_add(s, &a, &id1, &e));
	OK(store_app_ticket_live(s, "T-1", now, &n, &e));
	assert_int_equal(n, 1);
	OK(store_app_ticket_live(s, "T-2", now, &n, &e));
	assert_int_equal(n, 0);
	/* still live once mail-verified; no longer once expired (expires is exclusive) */
	OK(store_app_set_state(s, id1, "registered", "mail-verified", &e));
	OK(store_app_ticket_live(s, "T-1", now + 99, &n, &e));
	assert_int_equal(n, 1);
	OK(store_app_ticket_live(s, "T-1", now + 100, &n, &e));
	assert_int_equal(n, 0);
	/* an expired one and a live one: counts the live one */
	a.created = now + 200;
	a.expires = now + 300;
	OK(store_app_add(s, &a, &id2, &e));
	OK(store_app_ticket_live(s, "T-1", now + 250, &n, &e));
	assert_int_equal(n, 1);
	/* inside a transaction (PostgreSQL: the ticket row is locked too), then a write */
	OK(store_begin(s, &e));
	OK(store_app_ticket_live(s, "T-2", now, &n, &e));
	assert_int_equal(n, 0);
	a.ticket = "T-2";
	OK(store_app_add(s, &a, &id2, &e));
	OK(store_app_ticket_live(s, "T-2", now + 250, &n, &e));
	assert_int_equal(n, 1);
	OK(store_commit(s, &e));
	OK(store_app_ticket_live(s, "T-2", now + 250, &n, &e));
	assert_int_equal(n, 1);
	/* an unknown ticket has none (and locks nothing) */
	OK(store_app_ticket_live(s, "T-404", now, &n, &e));
	assert_int_equal(n, 0);
}

/* ---- certificates ---- */

static void
test_cert_insert_get(void **state)
{
	struct store *s = fx_store(state);
	struct store_cert c, g;
	unsigned char der[700];
	int64_t org = 0, n;
	struct err e;
	size_t i;

	for (i = 0; i < sizeof(der); i++)
		der[i] = (unsigned char)(i * 7);
	OK(store_org_add(s, "ACME", "Acme", NULL, 0, &org, &e));
	cert_fill(&c, "0A1B2C3D4E5F", "issuing-1", "CN=www.example,O=Acme", org, 2000000000,
		  1700000000);
	c.sans = (char *)"DNS:www.example, IP:192.0.2.1";
	c.predecessor = (char *)"0A1B";
	c.der = der;
	c.derlen = sizeof(der);
	OK(store_cert_insert(s, &c, &e));

	OK(store_cert_get(s, "0a1b2c3d4e5f", &g, &e));
	assert_string_equal(g.serial, "0A1B2C3D4E5F");
	assert_string_equal(g.ca, "issuing-1");
	assert_string_equal(g.subject, "CN=www.example,O=Acme");
	assert_string_equal(g.sans, "DNS:www.example, IP:192.0.2.1");
	assert_string_equal(g.profile, "server");
	assert_int_equal(g.org_id, org);
	assert_int_equal(g.not_before, 100);
	assert_int_equal(g.not_after, 2000000000);
	assert_int_equal(g.status, STORE_CERT_VALID);
	assert_int_equal(g.revoked_at, 0);
	assert_int_equal(g.reason, -1);
	assert_int_equal(g.invalidity_date, 0);
	assert_string_equal(g.predecessor, "0A1B");
	assert_int_equal(g.created, 1700000000);
	assert_int_equal(g.derlen, sizeof(der));
	assert_memory_equal(g.der, der, sizeof(der));
	store_cert_clear(&g);

	/* no SANs, no organization, no predecessor; lower-case serial stored upper-case */
	cert_fill(&c, "ff01", "issuing-1", "CN=x", 0, 2000000000, 0);
	OK(store_cert_insert(s, &c, &e));
	OK(store_cert_get(s, "FF01", &g, &e));
	assert_string_equal(g.serial, "FF01");
	assert_null(g.sans);
	assert_null(g.predecessor);
	assert_int_equal(g.org_id, 0);
	assert_true(g.created > 0);
	assert_int_equal(g.derlen, sizeof(der_sample));
	assert_memory_equal(g.der, der_sample, sizeof(der_sample));
	store_cert_clear(&g);

	FAILS(store_cert_get(s, "0A1B", &g, &e), ERR_NOTFOUND);
	assert_string_equal(e.msg, "store: certificate 0A1B not found");
	store_cert_clear(&g);
	FAILS(store_cert_get(s, "XYZ", &g, &e), ERR_REFUSED);
	FAILS(store_cert_get(s, "", &g, &e), ERR_REFUSED);
	FAILS(store_cert_get(s, "00112233445566778899AABBCCDDEEFF0011223344", &g, &e), ERR_REFUSED);
	store_cert_clear(&g);

	FAILS(store_cert_insert(s, &c, &e), ERR_CONFLICT);
	assert_string_equal(e.msg, "store: certificate FF01 already exists");
	cert_fill(&c, "77", "issuing-1", "CN=x", 31337, 2000000000, 0);
	FAILS(store_cert_insert(s, &c, &e), ERR_NOTFOUND);
	cert_fill(&c, "7G", "issuing-1", "CN=x", 0, 2000000000, 0);
	FAILS(store_cert_insert(s, &c, &e), ERR_REFUSED);
	OK(store_cert_count(s, -1, &n, &e));
	assert_int_equal(n, 2);
}

/* A duplicate serial inside a group-commit transaction: refused, the batch goes on. */
static void
test_cert_duplicate_in_tx(void **state)
{
	struct store *s = fx_store(state);
	struct store_cert c, g;
	int64_t n, seq;
	struct err e;

	OK(store_begin(s, &e));
	insert_cert(s, "0AAA", "ca", "CN=a", 0, 5000, 1);
	OK(store_audit_append(s, "cli:root", "cert.issue", "0AAA", "", NULL, &e));
	cert_fill(&c, "0AAA", "ca", "CN=dup", 0, 5000, 2);
	FAILS(store_cert_insert(s, &c, &e), ERR_CONFLICT);
	cert_fill(&c, "0aaa", "ca", "CN=dup", 0, 5000, 2);
	FAILS(store_cert_insert(s, &c, &e), ERR_CONFLICT);
	insert_cert(s, "0BBB", "ca", "CN=b", 0, 5000, 3);
	OK(store_audit_append(s, "cli:root", "cert.issue", "0BBB", "", &seq, &e));
	assert_int_equal(seq, 2);
	OK(store_commit(s, &e));

	OK(store_cert_get(s, "0AAA", &g, &e));
	assert_string_equal(g.subject, "CN=a");
	store_cert_clear(&g);
	OK(store_cert_get(s, "0BBB", &g, &e));
	store_cert_clear(&g);
	OK(store_cert_count(s, -1, &n, &e));
	assert_int_equal(n, 2);
}

static void
expect_list(struct store *s, const struct store_cert_filter *f, const char *want)
{
	struct store_cert *v = NULL;
	char got[256];
	size_t n = 0, i, off = 0;
	struct err e;

	OK(store_cert_list(s, f, &v, &n, &e));
	got[0] = '\0';
	for (i = 0; i < n; i++) {
		assert_null(v[i].der);
		assert_int_equal(v[i].derlen, 0);
		off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s", i ? " " : "",
					v[i].serial);
	}
	STORE_LIST_FREE(v, n, store_cert_clear);
	assert_string_equal(got, want);
	/* the COUNT of the same filter: the whole list's length, whatever the page */
	if (f != NULL) {
		struct store_cert_filter g = *f;
		int64_t c = -1;

		g.limit = g.offset = 0;
		OK(store_cert_count_filter(s, f, &c, &e));
		OK(store_cert_list(s, &g, &v, &n, &e));
		STORE_LIST_FREE(v, n, store_cert_clear);
		assert_int_equal(c, (int64_t)n);
	}
}

static void
test_cert_list(void **state)
{
	struct store *s = fx_store(state);
	struct store_cert_filter f;
	int64_t o1 = 0, o2 = 0;
	struct store_cert *v = NULL;
	size_t n = 0;
	struct err e;

	OK(store_org_add(s, "O1", "One", NULL, 0, &o1, &e));
	OK(store_org_add(s, "O2", "Two", NULL, 0, &o2, &e));
	insert_cert(s, "01", "ca1", "CN=alpha 100% sure", o1, 1000, 10);
	insert_cert(s, "02", "ca1", "CN=beta_gamma", o2, 2000, 20);
	insert_cert(s, "05", "ca1", "CN=betaXgamma", 0, 5000, 50);
	insert_cert(s, "04", "ca2", "CN=delta 100x sure", o1, 4000, 40);
	insert_cert(s, "03", "ca2", "CN=alpha", 0, 3000, 30);
	insert_cert(s, "06", "ca1", "CN=same time", 0, 6000, 30);
	OK(store_cert_revoke(s, "03", 500, 1, 0, &e));

	memset(&f, 0, sizeof(f));
	f.status = -1;
	expect_list(s, &f, "01 02 03 06 04 05");
	expect_list(s, NULL, "01 02 03 06 04 05");
	f.status = STORE_CERT_VALID;
	expect_list(s, &f, "01 02 06 04 05");
	f.status = STORE_CERT_REVOKED;
	expect_list(s, &f, "03");
	f.status = -1;
	f.org_id = o1;
	expect_list(s, &f, "01 04");
	f.org_id = 0;
	f.cas[0] = "ca2";
	expect_list(s, &f, "03 04");
	f.cas[1] = "ca1"; /* either CA (after a CA switch) */
	expect_list(s, &f, "01 02 03 06 04 05");
	f.cas[0] = "nosuch";
	f.cas[1] = "ca2";
	expect_list(s, &f, "03 04");
	f.cas[0] = f.cas[1] = NULL;
	f.expiring_before = 3000;
	expect_list(s, &f, "01 02");
	f.expiring_before = 0;

	/* a plain substring: % and _ are not wildcards */
	f.subject_substr = "100%";
	expect_list(s, &f, "01");
	f.subject_substr = "beta_gamma";
	expect_list(s, &f, "02");
	f.subject_substr = "alpha";
	expect_list(s, &f, "01 03");
	f.subject_substr = "ALPHA";
	expect_list(s, &f, "");
	f.subject_substr = "'; DROP TABLE certificates; --";
	expect_list(s, &f, "");

	/* everything at once */
	f.subject_substr = "beta";
	f.cas[0] = "ca1";
	f.status = STORE_CERT_VALID;
	f.expiring_before = 4000;
	expect_list(s, &f, "02");
	f.expiring_before = 0;
	f.org_id = o2;
	expect_list(s, &f, "02");

	/* paging */
	memset(&f, 0, sizeof(f));
	f.status = -1;
	f.limit = 2;
	expect_list(s, &f, "01 02");
	f.offset = 2;
	expect_list(s, &f, "03 06");
	f.offset = 4;
	expect_list(s, &f, "04 05");
	f.offset = 6;
	expect_list(s, &f, "");
	f.limit = 0;
	f.offset = 3;
	expect_list(s, &f, "06 04 05");

	/* list rows carry everything but the DER */
	memset(&f, 0, sizeof(f));
	f.status = STORE_CERT_REVOKED;
	OK(store_cert_list(s, &f, &v, &n, &e));
	assert_int_equal(n, 1);
	assert_string_equal(v[0].subject, "CN=alpha");
	assert_string_equal(v[0].ca, "ca2");
	assert_int_equal(v[0].revoked_at, 500);
	assert_int_equal(v[0].reason, 1);
	assert_int_equal(v[0].not_after, 3000);
	assert_int_equal(v[0].created, 30);
	STORE_LIST_FREE(v, n, store_cert_clear);
}

static void
test_cert_revoke(void **state)
{
	struct store *s = fx_store(state);
	struct store_cert g;
	struct err e;
	int64_t n;

	insert_cert(s, "0A", "ca", "CN=a", 0, 9000, 1);
	insert_cert(s, "0B", "ca", "CN=b", 0, 9000, 2);
	OK(store_cert_revoke(s, "0a", 1000, 1, 900, &e));
	OK(store_cert_get(s, "0A", &g, &e));
	assert_int_equal(g.status, STORE_CERT_REVOKED);
	assert_int_equal(g.revoked_at, 1000);
	assert_int_equal(g.reason, 1);
	assert_int_equal(g.invalidity_date, 900);
	store_cert_clear(&g);

	FAILS(store_cert_revoke(s, "0A", 2000, 4, 0, &e), ERR_CONFLICT);
	assert_string_equal(e.msg, "store: certificate 0A already revoked");
	FAILS(store_cert_revoke(s, "ffff", 2000, 4, 0, &e), ERR_NOTFOUND);
	assert_string_equal(e.msg, "store: certificate FFFF not found");
	FAILS(store_cert_revoke(s, "not hex", 2000, 4, 0, &e), ERR_REFUSED);

	/* the first revocation stands */
	OK(store_cert_get(s, "0A", &g, &e));
	assert_int_equal(g.revoked_at, 1000);
	assert_int_equal(g.reason, 1);
	store_cert_clear(&g);

	OK(store_cert_revoke(s, "0B", 1500, -1, 0, &e));
	OK(store_cert_get(s, "0B", &g, &e));
	assert_int_equal(g.reason, -1);
	assert_int_equal(g.invalidity_date, 0);
	store_cert_clear(&g);

	OK(store_cert_count(s, -1, &n, &e));
	assert_int_equal(n, 2);
	OK(store_cert_count(s, STORE_CERT_REVOKED, &n, &e));
	assert_int_equal(n, 2);
	OK(store_cert_count(s, STORE_CERT_VALID, &n, &e));
	assert_int_equal(n, 0);

	insert_cert(s, "0C", "ca", "CN=c", 0, 9000, 3);
	OK(store_begin(s, &e));
	FAILS(store_cert_revoke(s, "0A", 3000, 0, 0, &e), ERR_CONFLICT);
	FAILS(store_cert_revoke(s, "0D", 3000, 0, 0, &e), ERR_NOTFOUND);
	OK(store_cert_revoke(s, "0C", 3000, 0, 0, &e));
	OK(store_commit(s, &e));
	OK(store_cert_count(s, STORE_CERT_VALID, &n, &e));
	assert_int_equal(n, 0);
	OK(store_cert_get(s, "0C", &g, &e));
	assert_int_equal(g.reason, 0);
	store_cert_clear(&g);
}

struct walk {
	char seen[64][STORE_SERIAL_MAX];
	time_t at[64];
	int reason[64];
	size_t n;
	int stop_at; /* return 7 on this call (1-based), 0 never */
};

static int
walk_cb(void *arg, const struct store_revoked *r)
{
	struct walk *w = arg;

	if (w->n < 64) {
		snprintf(w->seen[w->n], STORE_SERIAL_MAX, "%s", r->serial);
		w->at[w->n] = r->revoked_at;
		w->reason[w->n] = r->reason;
	}
	w->n++;
	return (w->stop_at != 0 && (int)w->n == w->stop_at) ? 7 : 0;
}

struct order {
	char last[STORE_SERIAL_MAX];
	size_t n;
	int sorted;
};

static int
order_cb(void *arg, const struct store_revoked *r)
{
	struct order *o = arg;

	if (o->n > 0 && strcmp(o->last, r->serial) >= 0)
		o->sorted = 0;
	snprintf(o->last, sizeof(o->last), "%s", r->serial);
	o->n++;
	return 0;
}

static void
test_revoked_foreach(void **state)
{
	struct store *s = fx_store(state);
	struct walk w;
	struct order o;
	char ser[32];
	struct err e;
	int64_t n;
	int i;

	insert_cert(s, "0C", "ca1", "CN=c", 0, 9000, 1);
	insert_cert(s, "0A", "ca1", "CN=a", 0, 9000, 2);
	insert_cert(s, "0D", "ca1", "CN=d", 0, 9000, 3);
	insert_cert(s, "0B", "ca1", "CN=b", 0, 9000, 4);
	insert_cert(s, "0E", "ca2", "CN=e", 0, 9000, 5);
	OK(store_cert_revoke(s, "0C", 300, -1, 0, &e));
	OK(store_cert_revoke(s, "0A", 100, 1, 50, &e));
	OK(store_cert_revoke(s, "0B", 200, 4, 0, &e));
	OK(store_cert_revoke(s, "0E", 100, 0, 0, &e));

	memset(&w, 0, sizeof(w));
	OK(store_revoked_foreach(s, "ca1", 0, walk_cb, &w, &e));
	assert_int_equal(w.n, 3);
	assert_string_equal(w.seen[0], "0A");
	assert_string_equal(w.seen[1], "0B");
	assert_string_equal(w.seen[2], "0C");
	assert_int_equal(w.at[0], 100);
	assert_int_equal(w.reason[0], 1);
	assert_int_equal(w.reason[1], 4);
	assert_int_equal(w.reason[2], -1);

	memset(&w, 0, sizeof(w));
	OK(store_revoked_foreach(s, "ca1", 200, walk_cb, &w, &e));
	assert_int_equal(w.n, 2);
	assert_string_equal(w.seen[0], "0B");
	assert_string_equal(w.seen[1], "0C");

	memset(&w, 0, sizeof(w));
	OK(store_revoked_foreach(s, "ca1", 301, walk_cb, &w, &e));
	assert_int_equal(w.n, 0);
	OK(store_revoked_foreach(s, "ca2", 0, walk_cb, &w, &e));
	assert_int_equal(w.n, 1);
	assert_string_equal(w.seen[0], "0E");
	memset(&w, 0, sizeof(w));
	OK(store_revoked_foreach(s, "nope", 0, walk_cb, &w, &e));
	assert_int_equal(w.n, 0);

	/* many rows, streamed, in serial order; a callback that stops early */
	OK(store_begin(s, &e));
	for (i = 0; i < 3000; i++) {
		snprintf(ser, sizeof(ser), "%04X%02X", (unsigned)(i * 7919) % 65536, i % 256);
		insert_cert(s, ser, "big", "CN=many", 0, 9000, 10 + i);
		OK(store_cert_revoke(s, ser, 1000 + i, 1, 0, &e));
	}
	OK(store_commit(s, &e));
	memset(&o, 0, sizeof(o));
	o.sorted = 1;
	OK(store_revoked_foreach(s, "big", 0, order_cb, &o, &e));
	assert_int_equal(o.n, 3000);
	assert_true(o.sorted);
	memset(&o, 0, sizeof(o));
	OK(store_revoked_foreach(s, "big", 3000, order_cb, &o, &e));
	assert_int_equal(o.n, 1000);

	memset(&w, 0, sizeof(w));
	w.stop_at = 2;
	err_clear(&e);
	assert_int_equal(store_revoked_foreach(s, "big", 0, walk_cb, &w, &e), 7);
	assert_int_equal(w.n, 2);
	/* the connection is usable right after an interrupted walk */
	OK(store_cert_count(s, STORE_CERT_REVOKED, &n, &e));
	assert_int_equal(n, 3004);
	OK(store_begin(s, &e));
	w.n = 0;
	err_clear(&e);
	assert_int_equal(store_revoked_foreach(s, "big", 0, walk_cb, &w, &e), 7);
	insert_cert(s, "0F", "ca1", "CN=f", 0, 9000, 5);
	OK(store_commit(s, &e));
}

/* ---- CRLs ---- */

/*
 * A CRL over 1 MiB goes through the zero-filled-blob path on SQLite (written in pieces):
 * every byte must come back, inside a transaction that is rolled back too.
 */
static void
test_crl_large(void **state)
{
	struct store *s = fx_store(state);
	struct store_crl c, g, info;
	struct err e;
	size_t i, len = 3 * 1024 * 1024 + 17;
	unsigned char *der = malloc(len);

	assert_non_null(der);
	for (i = 0; i < len; i++)
		der[i] = (unsigned char)(i * 131 + (i >> 16));
	memset(&c, 0, sizeof(c));
	c.ca = (char *)"big";
	c.number = 7;
	c.this_update = 5000;
	c.next_update = 6000;
	c.der = der;
	c.derlen = len;
	OK(store_begin(s, &e));
	OK(store_crl_put(s, &c, &e));
	store_rollback(s);
	FAILS(store_crl_latest(s, "big", 0, &g, &e), ERR_NOTFOUND);
	store_crl_clear(&g);
	OK(store_begin(s, &e));
	OK(store_crl_put(s, &c, &e));
	OK(store_commit(s, &e));
	OK(store_crl_latest(s, "big", 0, &g, &e));
	assert_int_equal(g.number, 7);
	assert_int_equal(g.derlen, len);
	assert_memory_equal(g.der, der, len);
	store_crl_clear(&g);
	OK(store_crl_latest_info(s, "big", 0, &info, &e));
	assert_int_equal(info.number, 7);
	assert_null(info.der);
	assert_int_equal(info.this_update, 5000);
	store_crl_clear(&info);
	FAILS(store_crl_put(s, &c, &e), ERR_CONFLICT);
	free(der);
}

static void
test_crl(void **state)
{
	struct store *s = fx_store(state);
	struct store_crl c, g;
	unsigned char der1[] = {0x30, 0x00, 0x01}, der2[] = {0x30, 0x00, 0x02, 0x00},
		      der3[] = {0x30, 0x03};
	struct err e;
	int64_t n;

	OK(store_crl_next_number(s, "ca1", &n, &e));
	assert_int_equal(n, 1);
	OK(store_crl_next_number(s, "ca1", &n, &e));
	assert_int_equal(n, 2);
	OK(store_crl_next_number(s, "ca2", &n, &e));
	assert_int_equal(n, 1);
	OK(store_crl_next_number(s, "ca1", &n, &e));
	assert_int_equal(n, 3);

	FAILS(store_crl_latest(s, "ca1", 0, &g, &e), ERR_NOTFOUND);
	assert_string_equal(e.msg, "store: no full CRL of CA ca1");
	store_crl_clear(&g);

	memset(&c, 0, sizeof(c));
	c.ca = (char *)"ca1";
	c.number = 1;
	c.this_update = 1000;
	c.next_update = 2000;
	c.der = der1;
	c.derlen = sizeof(der1);
	OK(store_crl_put(s, &c, &e));
	c.number = 2;
	c.this_update = 3000;
	c.next_update = 4000;
	c.der = der2;
	c.derlen = sizeof(der2);
	OK(store_crl_put(s, &c, &e));
	c.number = 3;
	c.delta = 1;
	c.base_number = 2;
	c.this_update = 3500;
	c.next_update = 3600;
	c.der = der3;
	c.derlen = sizeof(der3);
	OK(store_crl_put(s, &c, &e));
	FAILS(store_crl_put(s, &c, &e), ERR_CONFLICT);

	OK(store_crl_latest(s, "ca1", 0, &g, &e));
	assert_string_equal(g.ca, "ca1");
	assert_int_equal(g.number, 2);
	assert_int_equal(g.delta, 0);
	assert_int_equal(g.base_number, 0);
	assert_int_equal(g.this_update, 3000);
	assert_int_equal(g.next_update, 4000);
	assert_int_equal(g.derlen, sizeof(der2));
	assert_memory_equal(g.der, der2, sizeof(der2));
	store_crl_clear(&g);
	OK(store_crl_latest(s, "ca1", 1, &g, &e));
	assert_int_equal(g.number, 3);
	assert_int_equal(g.delta, 1);
	assert_int_equal(g.base_number, 2);
	assert_memory_equal(g.der, der3, sizeof(der3));
	store_crl_clear(&g);
	FAILS(store_crl_latest(s, "ca2", 1, &g, &e), ERR_NOTFOUND);
	assert_string_equal(e.msg, "store: no delta CRL of CA ca2");
	store_crl_clear(&g);
}

/* ---- audit ---- */

struct chain {
	int64_t n;
	unsigned char last[STORE_HASH_LEN];
	int ok;
	char actions[256];
	int stop_at;
};

static int
chain_cb(void *arg, const struct store_audit *a)
{
	struct chain *c = arg;
	unsigned char h[STORE_HASH_LEN];
	size_t len = strlen(c->actions);

	c->n++;
	if (a->seq != c->n || memcmp(a->prev, c->last, STORE_HASH_LEN) != 0)
		c->ok = 0;
	store_audit_hash(a, h);
	if (memcmp(h, a->hash, STORE_HASH_LEN) != 0)
		c->ok = 0;
	if (a->ts <= 0 || a->actor == NULL || a->detail == NULL)
		c->ok = 0;
	memcpy(c->last, a->hash, STORE_HASH_LEN);
	snprintf(c->actions + len, sizeof(c->actions) - len, "%s%s", len ? " " : "", a->action);
	return (c->stop_at != 0 && c->n == c->stop_at) ? 9 : 0;
}

static void
test_audit(void **state)
{
	struct store *s = fx_store(state);
	struct store_audit a;
	unsigned char h[STORE_HASH_LEN], h2[STORE_HASH_LEN];
	struct chain c;
	struct err e;
	int64_t seq;

	OK(store_audit_append(s, "cli:root", "org.add", "ACME", "name=Acme", &seq, &e));
	assert_int_equal(seq, 1);
	OK(store_audit_append(s, "cli:root", "cert.issue", "0A", NULL, &seq, &e));
	assert_int_equal(seq, 2);
	OK(store_audit_append(s, "api:ACME", "cert.revoke", "0A", "reason=1", NULL, &e));
	OK(store_begin(s, &e));
	OK(store_audit_append(s, "cli:root", "crl.generate", "ca1", "", &seq, &e));
	assert_int_equal(seq, 4);
	OK(store_audit_append(s, "cli:root", "crl.delta", "ca1", "number=5", &seq, &e));
	assert_int_equal(seq, 5);
	OK(store_commit(s, &e));
	FAILS(store_audit_append(s, NULL, "x", "y", "", NULL, &e), ERR_INTERNAL);

	memset(&c, 0, sizeof(c));
	c.ok = 1;
	OK(store_audit_foreach(s, chain_cb, &c, &e));
	assert_int_equal(c.n, 5);
	assert_true(c.ok);
	assert_string_equal(c.actions, "org.add cert.issue cert.revoke crl.generate crl.delta");

	OK(store_audit_head(s, &seq, h, &e));
	assert_int_equal(seq, 5);
	assert_memory_equal(h, c.last, STORE_HASH_LEN);

	/* the hash covers every field and separates them */
	memset(&a, 0, sizeof(a));
	a.seq = 1;
	a.ts = 2;
	a.actor = (char *)"ab";
	a.action = (char *)"c";
	a.object = (char *)"";
	a.detail = (char *)"";
	store_audit_hash(&a, h);
	a.actor = (char *)"a";
	a.action = (char *)"bc";
	store_audit_hash(&a, h2);
	assert_memory_not_equal(h, h2, STORE_HASH_LEN);
	a.actor = (char *)"ab";
	a.action = (char *)"c";
	a.ts = 3;
	store_audit_hash(&a, h2);
	assert_memory_not_equal(h, h2, STORE_HASH_LEN);

	/* a callback that stops */
	memset(&c, 0, sizeof(c));
	c.ok = 1;
	c.stop_at = 2;
	err_clear(&e);
	assert_int_equal(store_audit_foreach(s, chain_cb, &c, &e), 9);
	assert_int_equal(c.n, 2);
	OK(store_audit_head(s, &seq, h, &e));
	assert_int_equal(seq, 5);
}

/* Known answer for the hash layout: prev || seq || ts || len-prefixed fields. */
static void
test_audit_hash_layout(void **state)
{
	static const unsigned char want[] = {
	    /* python3: sha256(b"\xab" * 32 + pack(">qq", seq, ts) + (pack(">I", len) + f)...) */
	    0x86, 0xb0, 0xa6, 0xf6, 0x14, 0x2c, 0x51, 0x6e, 0x6e, 0x64, 0x90,
	    0x0b, 0xe8, 0x3f, 0x91, 0x8d, 0x04, 0x11, 0xfd, 0xb7, 0x41, 0xd3,
	    0xa3, 0xdf, 0xea, 0x33, 0x4f, 0x8b, 0xdb, 0x69, 0x85, 0x4b};
	struct store_audit a;
	unsigned char h[STORE_HASH_LEN];

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(a.prev, 0xab, sizeof(a.prev));
	a.seq = 0x0102030405060708LL;
	a.ts = 1700000000;
	a.actor = (char *)"cli:root";
	a.action = (char *)"cert.issue";
	a.object = (char *)"0A1B";
	a.detail = (char *)"";
	store_audit_hash(&a, h);
	assert_memory_equal(h, want, sizeof(want));
}

/* Two processes appending at once: the head lock keeps one unbroken chain. */
static void
test_audit_concurrent(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_store(state);
	pid_t pids[2];
	struct chain c;
	struct err e;
	int i, status;

	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct store *cs = NULL;
			struct err ce;
			int j, rc = 0;

			err_clear(&ce);
			if (store_open(&cs, f->spec, &ce) != 0)
				rc = 1;
			for (j = 0; j < 40 && rc == 0; j++) {
				rc = store_audit_append(cs, i ? "child:1" : "child:0",
							"test.append", "x", "", NULL, &ce) != 0;
			}
			if (rc != 0)
				fprintf(stderr, "child %d: %s\n", i, ce.msg);
			store_close(cs);
			_exit(rc);
		}
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	memset(&c, 0, sizeof(c));
	c.ok = 1;
	OK(store_audit_foreach(s, chain_cb, &c, &e));
	assert_int_equal(c.n, 80);
	assert_true(c.ok);
}

/* ---- nonces of signed self-service requests (0009) ---- */

static void
test_online_nonce(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_store(state);
	unsigned char h1[STORE_HASH_LEN], h2[STORE_HASH_LEN];
	struct err e;
	int64_t n;

	memset(h1, 1, sizeof(h1));
	memset(h2, 2, sizeof(h2));
	OK(store_online_nonce_add(s, h1, 1000, &e));
	/* a replay is a conflict, not an SQL error: the transaction goes on (PostgreSQL too) */
	OK(store_begin(s, &e));
	OK(store_online_nonce_add(s, h2, 2000, &e));
	err_clear(&e);
	assert_int_equal(store_online_nonce_add(s, h1, 3000, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	OK(store_commit(s, &e));
	/* a rolled-back nonce was never seen */
	memset(h2, 3, sizeof(h2));
	OK(store_begin(s, &e));
	OK(store_online_nonce_add(s, h2, 2000, &e));
	store_rollback(s);
	OK(store_online_nonce_add(s, h2, 2000, &e));
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM online_nonces"), 3);
	OK(store_online_nonce_purge(s, 1500, &n, &e));
	assert_int_equal(n, 1);
	OK(store_online_nonce_add(s, h1, 5000, &e)); /* purged: may be recorded again */
	OK(store_online_nonce_purge(s, 10000, NULL, &e));
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM online_nonces"), 0);
}

/* ---- counters, transactions, connections ---- */

static void
test_counter(void **state)
{
	struct store *s = fx_store(state);
	struct err e;
	int64_t v;

	OK(store_counter_add(s, "tickets", 1, &v, &e));
	assert_int_equal(v, 1);
	OK(store_counter_add(s, "tickets", 5, &v, &e));
	assert_int_equal(v, 6);
	OK(store_counter_add(s, "tickets", -2, &v, &e));
	assert_int_equal(v, 4);
	OK(store_counter_add(s, "tsa", 0, &v, &e));
	assert_int_equal(v, 0);
	OK(store_begin(s, &e));
	OK(store_counter_add(s, "tsa", 10, &v, &e));
	OK(store_counter_add(s, "tsa", 10, &v, &e));
	assert_int_equal(v, 20);
	OK(store_commit(s, &e));
	OK(store_counter_add(s, "tickets", 0, &v, &e));
	assert_int_equal(v, 4);
}

static void
test_rollback(void **state)
{
	struct store *s = fx_store(state);
	unsigned char h[STORE_HASH_LEN];
	struct store_org o;
	struct store_ticket t;
	int64_t org = 0, v, seq;
	struct err e;

	OK(store_begin(s, &e));
	FAILS(store_begin(s, &e), ERR_INTERNAL);
	OK(store_org_add(s, "ACME", "Acme", NULL, 0, &org, &e));
	OK(store_ticket_add(s, org, "T-1", "server", &e));
	insert_cert(s, "0A", "ca", "CN=a", org, 9000, 1);
	OK(store_cert_revoke(s, "0A", 10, 1, 0, &e));
	OK(store_audit_append(s, "cli:root", "org.add", "ACME", "", NULL, &e));
	OK(store_counter_add(s, "c", 7, &v, &e));
	OK(store_crl_next_number(s, "ca", &v, &e));
	store_rollback(s);
	store_rollback(s); /* no transaction: nothing to do */

	FAILS(store_org_get(s, "ACME", &o, &e), ERR_NOTFOUND);
	store_org_clear(&o);
	FAILS(store_ticket_get(s, "T-1", &t, &e), ERR_NOTFOUND);
	store_ticket_clear(&t);
	OK(store_cert_count(s, -1, &v, &e));
	assert_int_equal(v, 0);
	OK(store_audit_head(s, &seq, h, &e));
	assert_int_equal(seq, 0);
	assert_memory_equal(h, zero_hash, STORE_HASH_LEN);
	OK(store_counter_add(s, "c", 0, &v, &e));
	assert_int_equal(v, 0);
	OK(store_crl_next_number(s, "ca", &v, &e));
	assert_int_equal(v, 1);
	FAILS(store_commit(s, &e), ERR_INTERNAL);

	/* after a rollback the connection starts new transactions normally */
	OK(store_begin(s, &e));
	OK(store_org_add(s, "ACME", "Acme", NULL, 0, &org, &e));
	OK(store_commit(s, &e));
	OK(store_org_get(s, "ACME", &o, &e));
	store_org_clear(&o);
}

/* Checks that entries 1..n chain: each prev is the previous hash and each hash recomputes. */
struct sp_chain_walk {
	unsigned char prev[STORE_HASH_LEN];
	int64_t n;
	char actions[8][32];
};

static int
sp_chain_cb(void *arg, const struct store_audit *a)
{
	struct sp_chain_walk *w = arg;
	unsigned char h[STORE_HASH_LEN];

	assert_int_equal(a->seq, w->n + 1);
	assert_memory_equal(a->prev, w->prev, STORE_HASH_LEN);
	store_audit_hash(a, h);
	assert_memory_equal(a->hash, h, STORE_HASH_LEN);
	memcpy(w->prev, a->hash, STORE_HASH_LEN);
	if (w->n < 8)
		snprintf(w->actions[w->n], sizeof(w->actions[0]), "%s", a->object);
	w->n++;
	return 0;
}

/* Savepoints (the group commit's units): undo one unit, keep the rest, audit chain intact. */
static void
test_savepoint(void **state)
{
	struct store *s = fx_store(state);
	struct sp_chain_walk w;
	struct store_cert c;
	struct store_org o;
	unsigned char h[STORE_HASH_LEN];
	int64_t org = 0, seq;
	struct err e;

	FAILS(store_savepoint(s, &e), ERR_INTERNAL); /* no transaction */
	OK(store_begin(s, &e));
	FAILS(store_savepoint_release(s, &e), ERR_INTERNAL);
	FAILS(store_savepoint_rollback(s, &e), ERR_INTERNAL);
	OK(store_org_add(s, "A", "A", NULL, 0, &org, &e));
	OK(store_audit_append(s, "t", "org.add", "A", "", NULL, &e));

	/* a unit that fails half-way (a duplicate: PostgreSQL aborts the transaction) */
	OK(store_savepoint(s, &e));
	FAILS(store_savepoint(s, &e), ERR_INTERNAL); /* one level */
	OK(store_org_add(s, "B", "B", NULL, 0, &org, &e));
	OK(store_audit_append(s, "t", "org.add", "B", "", NULL, &e));
	insert_cert(s, "0B", "ca", "CN=b", org, 9000, 1);
	cert_fill(&c, "0B", "ca", "CN=b", org, 9000, 1);
	FAILS(store_cert_insert(s, &c, &e), ERR_CONFLICT);
	OK(store_savepoint_rollback(s, &e));

	/* the transaction goes on: the next entry chains to A's, not to the undone B's */
	OK(store_savepoint(s, &e));
	OK(store_org_add(s, "C", "C", NULL, 0, &org, &e));
	OK(store_audit_append(s, "t", "org.add", "C", "", NULL, &e));
	OK(store_savepoint_release(s, &e));
	OK(store_savepoint(s, &e));
	FAILS(store_commit(s, &e), ERR_INTERNAL); /* a savepoint still open: all undone */
	FAILS(store_org_get(s, "A", &o, &e), ERR_NOTFOUND);
	store_org_clear(&o);

	OK(store_begin(s, &e));
	OK(store_org_add(s, "A", "A", NULL, 0, &org, &e));
	OK(store_audit_append(s, "t", "org.add", "A", "", NULL, &e));
	OK(store_savepoint(s, &e));
	OK(store_org_add(s, "B", "B", NULL, 0, &org, &e));
	OK(store_audit_append(s, "t", "org.add", "B", "", NULL, &e));
	OK(store_savepoint_rollback(s, &e));
	OK(store_savepoint(s, &e));
	OK(store_org_add(s, "C", "C", NULL, 0, &org, &e));
	OK(store_audit_append(s, "t", "org.add", "C", "", NULL, &e));
	OK(store_savepoint_release(s, &e));
	OK(store_commit(s, &e));

	OK(store_org_get(s, "A", &o, &e));
	store_org_clear(&o);
	FAILS(store_org_get(s, "B", &o, &e), ERR_NOTFOUND);
	store_org_clear(&o);
	OK(store_org_get(s, "C", &o, &e));
	store_org_clear(&o);
	OK(store_audit_head(s, &seq, h, &e));
	assert_int_equal(seq, 2);
	memset(&w, 0, sizeof(w));
	OK(store_audit_foreach(s, sp_chain_cb, &w, &e));
	assert_int_equal(w.n, 2);
	assert_string_equal(w.actions[0], "A");
	assert_string_equal(w.actions[1], "C");
	assert_memory_equal(h, w.prev, STORE_HASH_LEN);
}

/*
 * A pipelining connection (store_pipeline, the group commit's on PostgreSQL): savepoints,
 * releases and audit entries travel unanswered, yet a unit is undone alone and the chain is
 * the one a connection that waits for everything writes.  In an optimistic run a taken serial
 * is not seen by store_cert_insert on PostgreSQL but by store_flush, which fails; after the
 * rollback nothing of that transaction is there.
 */
static void
test_pipeline(void **state)
{
	struct store *s = fx_store(state);
	struct sp_chain_walk w;
	struct store_cert c;
	struct store_org o;
	unsigned char h[STORE_HASH_LEN];
	int64_t org = 0, seq;
	struct err e;

	err_clear(&e);
	assert_int_equal(store_pipeline(s, &e), cur_pg);
	OK(store_flush(s, &e)); /* nothing sent: nothing to wait for */
	insert_cert(s, "0A", "ca", "CN=a", 0, 9000, 1);

	OK(store_begin(s, &e));
	OK(store_audit_append(s, "t", "cert.issue", "A", "", NULL, &e));
	OK(store_savepoint(s, &e));
	OK(store_audit_append(s, "t", "cert.issue", "B", "", NULL, &e));
	cert_fill(&c, "0A", "ca", "CN=b", 0, 9000, 1);
	FAILS(store_cert_insert(s, &c, &e), ERR_CONFLICT); /* waits: its row count is read */
	OK(store_savepoint_rollback(s, &e));
	OK(store_savepoint(s, &e));
	OK(store_org_add(s, "C", "C", NULL, 0, &org, &e));
	OK(store_audit_append(s, "t", "cert.issue", "C", "", NULL, &e));
	OK(store_flush(s, &e));
	OK(store_savepoint_release(s, &e));
	OK(store_commit(s, &e));
	OK(store_audit_head(s, &seq, h, &e));
	assert_int_equal(seq, 2);
	memset(&w, 0, sizeof(w));
	OK(store_audit_foreach(s, sp_chain_cb, &w, &e));
	assert_int_equal(w.n, 2);
	assert_string_equal(w.actions[0], "A");
	assert_string_equal(w.actions[1], "C");
	assert_memory_equal(h, w.prev, STORE_HASH_LEN);

	/* optimistic: the taken serial surfaces at the flush (PostgreSQL) or at once (SQLite) */
	OK(store_begin(s, &e));
	store_optimistic(s, 1);
	OK(store_org_add(s, "D", "D", NULL, 0, &org, &e));
	OK(store_audit_append(s, "t", "cert.issue", "D", "", NULL, &e));
	cert_fill(&c, "0A", "ca", "CN=d", 0, 9000, 1);
	if (cur_pg) {
		OK(store_cert_insert(s, &c, &e));
		FAILS(store_flush(s, &e), ERR_CONFLICT);
		assert_non_null(strstr(e.msg, "changed 0 rows, not 1"));
	} else {
		FAILS(store_cert_insert(s, &c, &e), ERR_CONFLICT);
	}
	store_optimistic(s, 0);
	store_rollback(s);
	FAILS(store_org_get(s, "D", &o, &e), ERR_NOTFOUND);
	store_org_clear(&o);
	OK(store_audit_head(s, &seq, h, &e));
	assert_int_equal(seq, 2);

	/* and the same connection goes on: an optimistic run that succeeds */
	OK(store_begin(s, &e));
	store_optimistic(s, 1);
	OK(store_audit_append(s, "t", "cert.issue", "E", "", NULL, &e));
	insert_cert(s, "0E", "ca", "CN=e", 0, 9000, 1);
	OK(store_flush(s, &e));
	store_optimistic(s, 0);
	OK(store_commit(s, &e));
	OK(store_cert_get(s, "0E", &c, &e));
	store_cert_clear(&c);
	OK(store_audit_head(s, &seq, h, &e));
	assert_int_equal(seq, 3);
}

/* ---- fault injection (store_fault_set) ---- */

/* The Nth statement fails without running, once; transaction control is not counted. */
static void
test_fault_stmt(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_store(state);
	int64_t v;
	struct err e;

	assert_int_equal(store_fault_set(s, -1, 0), -1);
	OK(store_fault_set(s, 2, 0));
	assert_int_equal(store_fault_count(s), 0);
	OK(store_counter_add(s, "c", 1, &v, &e));
	assert_int_equal(v, 1);
	FAILS(store_counter_add(s, "c", 10, &v, &e), ERR_INTERNAL);
	assert_string_equal(e.msg, "store: injected fault (statement 2)");
	assert_int_equal(store_fault_count(s), 2);
	OK(store_counter_add(s, "c", 100, &v, &e)); /* once only */
	assert_int_equal(v, 101);		    /* statement 2 never ran */
	assert_int_equal(store_fault_count(s), 3);
	assert_int_equal(raw_value(f, "SELECT value FROM counters WHERE name = 'c'"), 101);

	/* BEGIN, SAVEPOINT, RELEASE, ROLLBACK and COMMIT are not statements here */
	OK(store_fault_set(s, 1, 0));
	OK(store_begin(s, &e));
	OK(store_savepoint(s, &e));
	OK(store_savepoint_rollback(s, &e));
	OK(store_savepoint(s, &e));
	OK(store_savepoint_release(s, &e));
	OK(store_commit(s, &e));
	OK(store_begin(s, &e));
	store_rollback(s);
	assert_int_equal(store_fault_count(s), 0);

	/*
	 * The transaction stays usable after an injected failure, on PostgreSQL too (a real error
	 * would abort it): what the caller then commits is written.
	 */
	OK(store_begin(s, &e));
	FAILS(store_counter_add(s, "c", 1000, &v, &e), ERR_INTERNAL);
	OK(store_counter_add(s, "c", 5, &v, &e));
	OK(store_commit(s, &e));
	assert_int_equal(raw_value(f, "SELECT value FROM counters WHERE name = 'c'"), 106);

	/* a read fails the same way; 0, 0 clears and restarts the count */
	OK(store_fault_set(s, 1, 1));
	FAILS(store_counter_get(s, "c", &v, &e), ERR_INTERNAL);
	assert_string_equal(e.msg, "store: injected fault (statement 1)");
	OK(store_fault_set(s, 0, 0));
	OK(store_counter_get(s, "c", &v, &e));
	assert_int_equal(v, 106);
	OK(store_begin(s, &e));
	OK(store_counter_add(s, "c", 1, &v, &e));
	OK(store_commit(s, &e)); /* the commit fault was cleared */
	assert_int_equal(store_fault_count(s), 2);
}

static int fault_mail_kicks;

static void
fault_mail_hook(void)
{
	fault_mail_kicks++;
}

/* One multi-write operation: an organization with two domains, its audit entry and a mail. */
static int
fault_op(struct store *s, struct err *e)
{
	static const char *const dom[] = {"a.example", "b.example"};
	int64_t id;
	int rc = -1;

	if (store_begin(s, e) == -1)
		goto out;
	if (store_org_add(s, "ACME", "Acme", dom, 2, &id, e) == -1 ||
	    store_audit_append(s, "t", "org.add", "ACME", "", NULL, e) == -1 ||
	    store_mail_enqueue(s, "ca@x.example", "o@a.example", "Subject: x\r\n\r\nx\r\n", 10,
			       NULL, e) == -1 ||
	    store_commit(s, e) == -1)
		goto out;
	rc = 0;
out:
	store_rollback(s); /* nothing to do after a commit */
	return rc;
}

/* What fault_op() writes, counted past the store: 0 when none of it is there. */
static long long
fault_op_rows(struct fx *f)
{
	return raw_value(f, "SELECT COUNT(*) FROM organizations") +
	       raw_value(f, "SELECT COUNT(*) FROM org_domains") +
	       raw_value(f, "SELECT COUNT(*) FROM audit") +
	       raw_value(f, "SELECT seq FROM audit_head WHERE id = 1") +
	       raw_value(f, "SELECT COUNT(*) FROM mail_queue");
}

/*
 * Each statement of a multi-write transaction fails in turn, then its commit: nothing is left
 * half-written, no mail sender is woken, and once the fault is cleared the same operation
 * succeeds on the same connection.
 */
static void
test_fault_each_write(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_store(state);
	struct store_org o;
	struct chain c;
	char want[64];
	long n, i;
	struct err e;

	store_set_mail_hook(fault_mail_hook);
	fault_mail_kicks = 0;

	/* first the commit: this also counts the operation's statements */
	OK(store_fault_set(s, 0, 1));
	FAILS(fault_op(s, &e), ERR_INTERNAL);
	assert_string_equal(e.msg, "store: injected fault (commit)");
	n = store_fault_count(s);
	/* org, 2 domains, audit head read, audit entry, mail, audit head written back at commit */
	assert_int_equal(n, 7);
	assert_int_equal(fault_op_rows(f), 0);
	assert_false(store_in_tx(s));

	for (i = 1; i <= n; i++) {
		OK(store_fault_set(s, i, 0));
		FAILS(fault_op(s, &e), ERR_INTERNAL);
		snprintf(want, sizeof(want), "store: injected fault (statement %ld)", i);
		assert_string_equal(e.msg, want);
		assert_int_equal(store_fault_count(s), i); /* the operation stopped there */
		assert_false(store_in_tx(s));
		assert_int_equal(fault_op_rows(f), 0);
		FAILS(store_org_get(s, "ACME", &o, &e), ERR_NOTFOUND);
		store_org_clear(&o);
	}
	assert_int_equal(fault_mail_kicks, 0);

	OK(store_fault_set(s, 0, 0));
	OK(fault_op(s, &e));
	assert_int_equal(store_fault_count(s), n);
	assert_int_equal(fault_mail_kicks, 1);
	OK(store_org_get(s, "ACME", &o, &e));
	assert_int_equal(o.ndomains, 2);
	store_org_clear(&o);
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM mail_queue"), 1);
	/* the chain continues from the untouched head: entry 1, prev all zero */
	memset(&c, 0, sizeof(c));
	c.ok = 1;
	OK(store_audit_foreach(s, chain_cb, &c, &e));
	assert_int_equal(c.n, 1);
	assert_true(c.ok);
	store_set_mail_hook(NULL);
}

/*
 * A write through store_tx_enter() (its own transaction) and a large CRL, whose DER SQLite
 * writes in pieces after the row: each failure leaves nothing.
 */
static void
test_fault_own_tx(void **state)
{
	static const char *const dom[] = {"a.example", "b.example"};
	struct fx *f = *state;
	struct store *s = fx_store(state);
	struct store_crl c, got;
	unsigned char *der;
	size_t len = (size_t)3 << 19; /* 1.5 MiB: above the piecewise threshold */
	int64_t id, v;
	long n, i;
	struct err e;

	OK(store_fault_set(s, 2, 0)); /* the first domain */
	FAILS(store_org_add(s, "A", "A", dom, 2, &id, &e), ERR_INTERNAL);
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM organizations"), 0);
	OK(store_fault_set(s, 0, 1));
	OK(store_counter_add(s, "c", 1, &v, &e)); /* alone: commits without store_commit() */
	FAILS(store_org_add(s, "A", "A", dom, 2, &id, &e), ERR_INTERNAL);
	assert_string_equal(e.msg, "store: injected fault (commit)");
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM organizations"), 0);
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM org_domains"), 0);
	OK(store_org_add(s, "A", "A", dom, 2, &id, &e));
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM org_domains"), 2);

	der = malloc(len);
	assert_non_null(der);
	memset(der, 0x5a, len);
	memset(&c, 0, sizeof(c));
	c.ca = (char *)"ca";
	c.number = 1;
	c.this_update = 100;
	c.next_update = 200;
	c.der = der;
	c.derlen = len;
	OK(store_fault_set(s, 0, 1));
	OK(store_begin(s, &e));
	OK(store_crl_put(s, &c, &e));
	FAILS(store_commit(s, &e), ERR_INTERNAL);
	n = store_fault_count(s);
	assert_int_equal(n, cur_pg ? 1 : 2); /* SQLite: the row, then the blob fill */
	for (i = 1; i <= n; i++) {
		OK(store_fault_set(s, i, 0));
		OK(store_begin(s, &e));
		FAILS(store_crl_put(s, &c, &e), ERR_INTERNAL);
		store_rollback(s);
		assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM crls"), 0);
	}
	OK(store_fault_set(s, 0, 0));
	OK(store_begin(s, &e));
	OK(store_crl_put(s, &c, &e));
	OK(store_commit(s, &e));
	OK(store_crl_latest(s, "ca", 0, &got, &e));
	assert_int_equal(got.derlen, len);
	assert_memory_equal(got.der, der, len);
	store_crl_clear(&got);
	free(der);
}

/* A CRL row of len bytes, for the tests that need many WAL pages written through the store. */
static void
put_big_crl(struct store *s, int64_t number, size_t len)
{
	struct store_crl c;
	struct err e;
	unsigned char *der = malloc(len);
	size_t i;

	assert_non_null(der);
	for (i = 0; i < len; i++)
		der[i] = (unsigned char)(i * 131 + (size_t)number);
	memset(&c, 0, sizeof(c));
	c.ca = (char *)"wal";
	c.number = number;
	c.this_update = 5000 + number;
	c.next_update = 6000 + number;
	c.der = der;
	c.derlen = len;
	OK(store_begin(s, &e));
	OK(store_crl_put(s, &c, &e));
	OK(store_commit(s, &e));
	free(der);
}

struct sync_arg {
	struct store *s;
	int rounds, failed;
};

static void *
sync_main(void *arg)
{
	struct sync_arg *a = arg;
	struct err e;
	int i;

	for (i = 0; i < a->rounds; i++) {
		err_clear(&e);
		if (store_sync(a->s, &e) != 0)
			a->failed++;
	}
	return NULL;
}

/*
 * Deferred sync (the group commit's pipelined fsync): commits of the deferring connection
 * are at once visible to others; store_sync() succeeds from other threads while that
 * connection goes on writing, several at once, and before anything was written.
 * PostgreSQL has nothing to defer (0).
 */
static void
test_deferred_sync(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_store(state);
	struct sync_arg a[2];
	pthread_t th[2];
	struct err e;
	int i, rc;

	err_clear(&e);
	rc = store_defer_sync(s, &e);
	assert_int_equal(rc, cur_pg ? 0 : 1);
	OK(store_sync(s, &e)); /* nothing written yet */
	for (i = 0; i < 2; i++) {
		a[i].s = s;
		a[i].rounds = 50;
		a[i].failed = 0;
		assert_int_equal(pthread_create(&th[i], NULL, sync_main, &a[i]), 0);
	}
	for (i = 1; i <= 40; i++)
		put_big_crl(s, i, 5000);
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].failed, 0);
	}
	OK(store_sync(s, &e));
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM crls WHERE ca = 'wal'"), 40);
	if (!cur_pg) {
		/* another connection writes and reads as before */
		struct store *s2 = fx_open(f);

		put_big_crl(s2, 41, 100);
		assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM crls WHERE ca = 'wal'"), 41);
		store_close(s2);
	}
}

/* The size of a file of the fixture's directory, -1 when there is none. */
static long long
file_size(struct fx *f, const char *name)
{
	char *p = xasprintf("%s/%s", f->dir, name);
	struct stat sb;
	long long n = stat(p, &sb) == 0 ? (long long)sb.st_size : -1;

	free(p);
	return n;
}

/* The WAL file's size, -1 when there is none. */
static long long
wal_size(struct fx *f)
{
	return file_size(f, "shomei.db-wal");
}

/*
 * The checkpointer: at start the WAL gets its working size (written); commits that fill it
 * wake the checkpointer, whose copies let the writers start the WAL again from its beginning,
 * so it stays at that size.  Without it, 24 MB of commits leave a WAL of 24 MB (the
 * connections' own checkpoint waits for 8192 pages, 32 MB).  Nothing for PostgreSQL.
 */
static void
test_checkpointer(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_store(state);
	struct err e;
	long long size0, size1;
	int i;

	OK(store_checkpointer_start(f->spec, 0, &e));
	if (cur_pg) {
		store_checkpointer_stop();
		return;
	}
	FAILS(store_checkpointer_start(f->spec, 0, &e), ERR_INTERNAL); /* one per process */
	size0 = wal_size(f);
	assert_true(size0 >= 2LL * 1000 * (4096 + 24));
	for (i = 1; i <= 60; i++) {
		put_big_crl(s, i, 400 * 1024);
		usleep(20000); /* the checkpointer copies meanwhile */
	}
	size1 = wal_size(f);
	assert_true(size1 < size0 + 4 * 1024 * 1024);
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM crls WHERE ca = 'wal'"), 60);
	assert_int_equal(raw_value(f, "SELECT SUM(LENGTH(der)) FROM crls WHERE ca = 'wal'"),
			 60LL * 400 * 1024);
	store_checkpointer_stop();
	store_checkpointer_stop(); /* twice: nothing */
	/* stopped: commits are checkpointed by their own connections again, at 8192 pages */
	for (i = 61; i <= 120; i++)
		put_big_crl(s, i, 400 * 1024);
	assert_true(wal_size(f) > 20LL * 1024 * 1024);
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM crls WHERE ca = 'wal'"), 120);
}

/* This process's locked memory (VmLck), in bytes. */
static long long
locked_bytes(void)
{
	char line[256];
	long long kb = -1;
	FILE *fp = fopen("/proc/self/status", "r");

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, "VmLck:", 6) == 0) {
			kb = strtoll(line + 6, NULL, 10);
			break;
		}
	fclose(fp);
	assert_true(kb >= 0);
	return kb * 1024;
}

/* The WAL's working size: what the checkpointer writes out at start (2000 frames). */
#define WAL_WORKING (32 + 2000LL * (4096 + 24))

/*
 * What the checkpointer is to keep locked: the WAL up to walcap (a WAL that grew past its
 * working size is followed when the checkpointer next runs, so the tests take its working
 * size) and the database up to dbcap.
 */
static long long
resident_want(struct fx *f, long long walcap, long long dbcap)
{
	long long w = wal_size(f), d = file_size(f, "shomei.db");

	return (w < walcap ? w : walcap) + (d < dbcap ? d : dbcap);
}

/* Waits up to 5 s for the locked memory to reach base + want, less a page; returns it. */
static long long
locked_covers(struct fx *f, long long base, long long walcap, long long dbcap)
{
	long long n;
	int i;

	for (i = 0; i < 500; i++) {
		if ((n = locked_bytes()) >= base + resident_want(f, walcap, dbcap) - 4096)
			break;
		usleep(10000);
	}
	return n;
}

/*
 * Residency: the checkpointer keeps the WAL and the database in memory (mlock), within its
 * budget, and follows the database as it grows; with a budget of 0, nothing; stopped,
 * nothing.  Needs a memlock limit of the budget (root has none).
 */
static void
test_checkpointer_resident(void **state)
{
	struct fx *f = *state;
	struct store *s = fx_store(state);
	struct rlimit rl;
	struct err e;
	long long base, n;
	int i;

	if (cur_pg) {
		OK(store_checkpointer_start(f->spec, 64 << 20, &e)); /* nothing to keep */
		store_checkpointer_stop();
		return;
	}
#if defined(__SANITIZE_ADDRESS__)
	fprintf(stderr, "# skipped: AddressSanitizer makes mlock a no-op\n");
	return;
#endif
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (64u << 20) && geteuid() != 0) {
		fprintf(stderr, "# skipped: RLIMIT_MEMLOCK below 64 MiB\n");
		return;
	}
	base = locked_bytes();
	/* budget 0: the WAL gets its working size, and nothing is locked */
	OK(store_checkpointer_start(f->spec, 0, &e));
	assert_true(wal_size(f) >= WAL_WORKING);
	put_big_crl(s, 1, 64 * 1024);
	usleep(100000);
	assert_int_equal(locked_bytes(), base);
	store_checkpointer_stop();

	/* 64 MiB: all of the WAL (its working size) and of the database, as it grows */
	OK(store_checkpointer_start(f->spec, 64 << 20, &e));
	n = locked_covers(f, base, WAL_WORKING, 64 << 20);
	assert_true(n >= base + resident_want(f, WAL_WORKING, 64 << 20) - 4096);
	for (i = 2; i <= 60; i++) {
		put_big_crl(s, i, 400 * 1024); /* 24 MB: the checkpoints grow the database */
		usleep(20000);
	}
	n = locked_covers(f, base, WAL_WORKING, 64 << 20);
	assert_true(file_size(f, "shomei.db") >= 16LL * 1000 * 1000);
	assert_true(n >= base + resident_want(f, WAL_WORKING, 64 << 20) - 4096);
	assert_true(n <= base + wal_size(f) + file_size(f, "shomei.db") + 8192);
	store_checkpointer_stop();
	assert_int_equal(locked_bytes(), base); /* given back */

	/* a budget smaller than the files: half of it for each, no more */
	OK(store_checkpointer_start(f->spec, 4 << 20, &e));
	n = locked_covers(f, base, 2 << 20, 2 << 20);
	assert_int_equal(n, base + (4 << 20));
	store_checkpointer_stop();
	assert_int_equal(locked_bytes(), base);
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM crls WHERE ca = 'wal'"), 60);
}

static void
test_two_connections(void **state)
{
	struct fx *f = *state;
	struct store *a = fx_store(state), *b = fx_open(f);
	struct store_cert g;
	struct store_org o;
	struct chain c;
	struct err e;
	int64_t v;

	OK(store_org_add(a, "A", "A", NULL, 0, NULL, &e));
	OK(store_org_add(b, "B", "B", NULL, 0, NULL, &e));
	FAILS(store_org_add(b, "A", "again", NULL, 0, NULL, &e), ERR_CONFLICT);
	OK(store_org_get(a, "B", &o, &e));
	store_org_clear(&o);
	insert_cert(a, "01", "ca", "CN=a", 0, 9000, 1);
	OK(store_cert_revoke(b, "01", 5, 1, 0, &e));
	OK(store_cert_get(a, "01", &g, &e));
	assert_int_equal(g.status, STORE_CERT_REVOKED);
	store_cert_clear(&g);

	OK(store_begin(a, &e));
	insert_cert(a, "02", "ca", "CN=b", 0, 9000, 2);
	OK(store_audit_append(a, "a", "cert.issue", "02", "", NULL, &e));
	OK(store_commit(a, &e));
	OK(store_begin(b, &e));
	insert_cert(b, "03", "ca", "CN=c", 0, 9000, 3);
	OK(store_audit_append(b, "b", "cert.issue", "03", "", NULL, &e));
	OK(store_commit(b, &e));
	OK(store_audit_append(a, "a", "x", "y", "", NULL, &e));
	OK(store_counter_add(a, "n", 1, &v, &e));
	OK(store_counter_add(b, "n", 1, &v, &e));
	assert_int_equal(v, 2);

	OK(store_cert_count(b, -1, &v, &e));
	assert_int_equal(v, 3);
	memset(&c, 0, sizeof(c));
	c.ok = 1;
	OK(store_audit_foreach(b, chain_cb, &c, &e));
	assert_int_equal(c.n, 3);
	assert_true(c.ok);
	store_close(b);
}

/* PostgreSQL: a connection the server dropped is re-established, statements prepared again. */
static void
test_pg_reconnect(void **state)
{
	struct store *s = fx_store(state);
	struct store_cert g;
	struct err e;
	int64_t n;

	if (!cur_pg)
		return; /* SQLite has no server connection to lose */
	insert_cert(s, "01", "ca", "CN=a", 0, 9000, 1);
	pg_raw("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> "
	       "pg_backend_pid() AND datname = current_database() AND "
	       "backend_type = 'client backend'");
	err_clear(&e);
	(void)store_ping(s, &e); /* may fail: this is where the loss is noticed */
	OK(store_ping(s, &e));
	insert_cert(s, "02", "ca", "CN=b", 0, 9000, 2);
	OK(store_cert_get(s, "01", &g, &e));
	store_cert_clear(&g);
	OK(store_cert_count(s, -1, &n, &e));
	assert_int_equal(n, 2);
	OK(store_begin(s, &e));
	OK(store_audit_append(s, "a", "b", "c", "", NULL, &e));
	OK(store_commit(s, &e));
}

/* Revocation requests of the portal: the lookup by organization, ticket and e-mail, the
 * holder's address, and a request's single completion. */
static void
test_revreq(void **state)
{
	struct store *s = fx_store(state);
	struct store_revreq q, g;
	struct store_app a;
	unsigned char h[STORE_HASH_LEN], h2[STORE_HASH_LEN];
	char serial[STORE_SERIAL_MAX], *mail = NULL;
	int64_t org = 0, org2 = 0, app = 0;
	struct err e;

	memset(h, 0xab, sizeof(h));
	memset(h2, 0xcd, sizeof(h2));
	OK(store_org_add(s, "ACME", "Acme", NULL, 0, &org, &e));
	OK(store_org_add(s, "OTHER", "Other", NULL, 0, &org2, &e));
	OK(store_ticket_add(s, org, "T-1", "client", &e));
	OK(store_ticket_add(s, org, "T-2", "client", &e));
	insert_cert(s, "0ABC01", "issuing-1", "CN=Taro", org, 2000000000, 1700000000);
	/* nothing yet: no application */
	FAILS(store_revoke_lookup(s, "ACME", "T-1", "taro@example.jp", serial, NULL, &e),
	      ERR_NOTFOUND);
	memset(&a, 0, sizeof(a));
	a.org_id = org;
	a.ticket = (char *)"T-1";
	a.applicant_type = (char *)"agent";
	a.email = (char *)"Agent@Example.jp";
	a.created = 1700000000;
	a.expires = 1700000000 + 3 * 86400;
	OK(store_app_add(s, &a, &app, &e));
	/* an application without a certificate names nothing */
	FAILS(store_revoke_lookup(s, "ACME", "T-1", "agent@example.jp", serial, NULL, &e),
	      ERR_NOTFOUND);
	FAILS(store_cert_holder_email(s, "0ABC01", &mail, &e), ERR_NOTFOUND);
	assert_null(mail);
	a.profile = (char *)"client";
	a.subject_email = (char *)"Taro@Example.jp";
	a.name_romaji = (char *)"Taro";
	a.key_mode = (char *)"p256";
	OK(store_app_submit(s, app, "registered", "submitted", &a, 1700000001, &e));
	OK(store_app_issue(s, app, "submitted", "0ABC01", h2, 1700000002, &e));
	/* the applicant's (agent's) or the holder's address */
	OK(store_revoke_lookup(s, "ACME", "T-1", "taro@EXAMPLE.jp", serial, &mail, &e));
	assert_string_equal(serial, "0ABC01");
	assert_string_equal(mail, "Taro@Example.jp"); /* the link goes where it was recorded */
	free(mail);
	OK(store_revoke_lookup(s, "ACME", "T-1", "agent@example.JP", serial, &mail, &e));
	assert_string_equal(serial, "0ABC01");
	assert_string_equal(mail, "Agent@Example.jp");
	free(mail);
	mail = NULL;
	OK(store_cert_holder_email(s, "0ABC01", &mail, &e));
	assert_string_equal(mail, "Taro@Example.jp");
	free(mail);
	/* each of the three wrong gives the same answer */
	FAILS(store_revoke_lookup(s, "OTHER", "T-1", "taro@example.jp", serial, NULL, &e),
	      ERR_NOTFOUND);
	FAILS(store_revoke_lookup(s, "ACME", "T-2", "taro@example.jp", serial, NULL, &e),
	      ERR_NOTFOUND);
	FAILS(store_revoke_lookup(s, "ACME", "T-1", "jiro@example.jp", serial, NULL, &e),
	      ERR_NOTFOUND);
	FAILS(store_revoke_lookup(s, "NOPE", "T-9", "", serial, NULL, &e), ERR_NOTFOUND);
	(void)org2;

	memset(&q, 0, sizeof(q));
	snprintf(q.serial, sizeof(q.serial), "0ABC01");
	q.reason = 1;
	q.email = (char *)"taro@example.jp";
	q.created = 1700000000;
	q.expires = 1700000000 + 3 * 86400;
	OK(store_revreq_add(s, &q, h, &e));
	FAILS(store_revreq_add(s, &q, h, &e), ERR_CONFLICT); /* the link hash is unique */
	FAILS(store_revreq_get(s, h2, &g, &e), ERR_NOTFOUND);
	OK(store_revreq_get(s, h, &g, &e));
	assert_string_equal(g.serial, "0ABC01");
	assert_int_equal(g.reason, 1);
	assert_string_equal(g.email, "taro@example.jp");
	assert_int_equal(g.expires, 1700000000 + 3 * 86400);
	assert_int_equal(g.done, 0);
	OK(store_revreq_done(s, g.id, 1700000100, &e));
	FAILS(store_revreq_done(s, g.id, 1700000200, &e), ERR_CONFLICT);
	store_revreq_clear(&g);
	OK(store_revreq_get(s, h, &g, &e));
	assert_int_equal(g.done, 1700000100);
	store_revreq_clear(&g);
	store_revreq_clear(NULL);
	/* a request must name a known certificate (a foreign key: the caller's bug) */
	snprintf(q.serial, sizeof(q.serial), "0DEAD");
	err_clear(&e);
	assert_int_equal(store_revreq_add(s, &q, h2, &e), -1);
	FAILS(store_revreq_get(s, h2, &g, &e), ERR_NOTFOUND);
}

/* 0008: the issuance half of an application, the certificate-code lookup, downloads. */
static void
test_app_issuance(void **state)
{
	struct store *s = fx_store(state);
	struct store_app a, g;
	struct err e;
	unsigned char code[STORE_HASH_LEN], code2[STORE_HASH_LEN], dl[STORE_HASH_LEN], *data;
	size_t len;
	int64_t org = 0, id = 0, id2 = 0, app_of = 0, n = 0;

	memset(code, 0xc0, sizeof(code));
	memset(code2, 0xc2, sizeof(code2));
	memset(dl, 0xd1, sizeof(dl));
	OK(store_org_add(s, "ACME", "Acme", NULL, 0, &org, &e));
	OK(store_ticket_add(s, org, "T-0001", "client", &e));
	memset(&a, 0, sizeof(a));
	a.org_id = org;
	a.ticket = "T-0001";
	a.applicant_type = "agent";
	a.email = "agent@example.jp";
	a.created = 1000;
	a.expires = 2000;
	OK(store_app_add(s, &a, &id, &e));
	OK(store_app_add(s, &a, &id2, &e));
	OK(store_app_get(s, id, &g, &e));
	assert_string_equal(g.state, "registered");
	assert_null(g.profile);
	assert_null(g.cert_serial);
	assert_int_equal(g.submitted, 0);
	store_app_clear(&g);

	memset(&a, 0, sizeof(a));
	a.profile = "client";
	a.subject_email = "taro@example.jp";
	a.name_kanji = "山田　太郎";
	a.name_romaji = "Taro Yamada";
	a.ou = "Sales";
	a.key_mode = "csr";
	a.csr = "-----BEGIN CERTIFICATE REQUEST-----";
	a.password_hash = "$argon2id$x";
	a.predecessor_id = id2;
	/* only from the state given */
	FAILS(store_app_submit(s, id, "mail-verified", "awaiting-approval", &a, 1500, &e),
	      ERR_CONFLICT);
	OK(store_app_set_state(s, id, "registered", "mail-verified", &e));
	OK(store_app_submit(s, id, "mail-verified", "awaiting-approval", &a, 1500, &e));
	FAILS(store_app_submit(s, id, "mail-verified", "awaiting-approval", &a, 1500, &e),
	      ERR_CONFLICT);
	/* the CHECK admits the new states only */
	FAILS(store_app_set_state(s, id, "awaiting-approval", "bogus", &e), ERR_INTERNAL);
	OK(store_app_set_state(s, id, "awaiting-approval", "approved", &e));
	FAILS(store_app_issue(s, id, "submitted", "0A0B", code, 1600, &e), ERR_CONFLICT);
	OK(store_app_issue(s, id, "approved", "0A0B", code, 1600, &e));
	OK(store_app_get(s, id, &g, &e));
	assert_string_equal(g.state, "issued");
	assert_string_equal(g.profile, "client");
	assert_string_equal(g.subject_email, "taro@example.jp");
	assert_string_equal(g.name_kanji, "山田　太郎");
	assert_string_equal(g.name_romaji, "Taro Yamada");
	assert_string_equal(g.ou, "Sales");
	assert_null(g.hostnames);
	assert_string_equal(g.key_mode, "csr");
	assert_string_equal(g.csr, "-----BEGIN CERTIFICATE REQUEST-----");
	assert_string_equal(g.password_hash, "$argon2id$x");
	assert_string_equal(g.cert_serial, "0A0B");
	assert_int_equal(g.predecessor_id, id2);
	assert_int_equal(g.submitted, 1500);
	assert_int_equal(g.issued, 1600);
	store_app_clear(&g);
	/* the certificate code finds it; another code does not; a code is unique */
	OK(store_app_get_by_code(s, code, &g, &e));
	assert_int_equal(g.id, id);
	store_app_clear(&g);
	FAILS(store_app_get_by_code(s, code2, &g, &e), ERR_NOTFOUND);
	OK(store_app_set_state(s, id2, "registered", "mail-verified", &e));
	OK(store_app_submit(s, id2, "mail-verified", "submitted", &a, 1500, &e));
	FAILS(store_app_issue(s, id2, "submitted", "0C0D", code, 1600, &e), ERR_CONFLICT);

	/* downloads: taken once, not after expiry, purged; a secret of one kind never takes a row
	 * of the other (a PKCS#12 download link used as a delivery link) */
	OK(store_download_put(s, STORE_DOWNLOAD_PKCS12, dl, id, "P12DATA", 7, 5000, &e));
	FAILS(store_download_put(s, STORE_DOWNLOAD_PKCS12, dl, id, "again", 5, 5000, &e),
	      ERR_CONFLICT);
	FAILS(store_download_peek(s, STORE_DOWNLOAD_DELIVERY, dl, 4000, &e), ERR_NOTFOUND);
	FAILS(store_download_take(s, STORE_DOWNLOAD_DELIVERY, dl, 4000, &data, &len, NULL, &e),
	      ERR_NOTFOUND);
	OK(store_download_peek(s, STORE_DOWNLOAD_PKCS12, dl, 4000, &e));
	OK(store_download_take(s, STORE_DOWNLOAD_PKCS12, dl, 4000, &data, &len, &app_of, &e));
	assert_int_equal(len, 7);
	assert_memory_equal(data, "P12DATA", 7);
	assert_int_equal(app_of, id);
	free(data);
	FAILS(store_download_take(s, STORE_DOWNLOAD_PKCS12, dl, 4000, &data, &len, NULL, &e),
	      ERR_NOTFOUND);
	OK(store_download_put(s, STORE_DOWNLOAD_DELIVERY, dl, id, "SEALED", 6, 5000, &e));
	FAILS(store_download_take(s, STORE_DOWNLOAD_PKCS12, dl, 4000, &data, &len, NULL, &e),
	      ERR_NOTFOUND);
	OK(store_download_take(s, STORE_DOWNLOAD_DELIVERY, dl, 4000, &data, &len, NULL, &e));
	assert_int_equal(len, 6);
	assert_memory_equal(data, "SEALED", 6);
	free(data);
	OK(store_download_put(s, STORE_DOWNLOAD_PKCS12, dl, id, "P12DATA", 7, 5000, &e));
	FAILS(store_download_take(s, STORE_DOWNLOAD_PKCS12, dl, 5001, &data, &len, NULL, &e),
	      ERR_NOTFOUND);
	assert_null(data);
	OK(store_download_put(s, STORE_DOWNLOAD_PKCS12, dl, id, "P12DATA", 7, 5000, &e));
	OK(store_download_purge(s, 6000, &n, &e));
	assert_int_equal(n, 1);
	FAILS(store_download_take(s, STORE_DOWNLOAD_PKCS12, dl, 10, &data, &len, NULL, &e),
	      ERR_NOTFOUND);
}

/* Token purposes: the enum stores exactly the names of before, and a token has one purpose. */
static void
test_token(void **state)
{
	static const char *const names[STORE_TOKEN__MAX] = {
	    [STORE_TOKEN_REGIST_FORM] = "regist-form",
	    [STORE_TOKEN_REGIST_VERIFY] = "regist-verify",
	    [STORE_TOKEN_ISSUE_FORM] = "issue-form",
	    [STORE_TOKEN_ISSUE_SUBMIT] = "issue-submit",
	    [STORE_TOKEN_APPROVE] = "approve",
	    [STORE_TOKEN_REISSUE_FORM] = "reissue-form",
	    [STORE_TOKEN_REVOKE_FORM] = "revoke-form",
	    [STORE_TOKEN_OFFICER_FORM] = "officer-form",
	};
	struct fx *f = *state;
	struct store *s = fx_store(state);
	struct store_token t;
	unsigned char h[STORE_HASH_LEN];
	char sql[128];
	int i;
	struct err e;

	for (i = 0; i < STORE_TOKEN__MAX; i++) {
		assert_string_equal(store_token_purpose_name((enum store_token_purpose)i),
				    names[i]);
		memset(h, i + 1, sizeof(h));
		OK(store_token_add(s, h, (enum store_token_purpose)i, 0, 1000, 0, &e));
		snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM tokens WHERE purpose = '%s'",
			 names[i]);
		assert_int_equal(raw_value(f, sql), 1);
	}
	assert_null(store_token_purpose_name(STORE_TOKEN__MAX));
	assert_null(store_token_purpose_name((enum store_token_purpose) - 1));

	memset(h, 1, sizeof(h)); /* made as regist-form */
	OK(store_token_get(s, h, STORE_TOKEN_REGIST_FORM, &t, &e));
	assert_int_equal(t.app_id, 0);
	assert_int_equal(t.expires, 1000);
	assert_int_equal(t.used, 0);
	FAILS(store_token_get(s, h, STORE_TOKEN_REGIST_VERIFY, &t, &e), ERR_NOTFOUND);
	FAILS(store_token_use(s, h, STORE_TOKEN_ISSUE_FORM, 5, &e), ERR_CONFLICT);
	OK(store_token_use(s, h, STORE_TOKEN_REGIST_FORM, 5, &e));
	FAILS(store_token_use(s, h, STORE_TOKEN_REGIST_FORM, 6, &e), ERR_CONFLICT);
	OK(store_token_get(s, h, STORE_TOKEN_REGIST_FORM, &t, &e));
	assert_int_equal(t.used, 5);

	FAILS(store_token_add(s, h, STORE_TOKEN__MAX, 0, 1000, 0, &e), ERR_INTERNAL);
	FAILS(store_token_get(s, h, (enum store_token_purpose) - 1, &t, &e), ERR_INTERNAL);
	FAILS(store_token_use(s, h, STORE_TOKEN__MAX, 5, &e), ERR_INTERNAL);
	assert_int_equal(raw_value(f, "SELECT COUNT(*) FROM tokens"), STORE_TOKEN__MAX);
}

/* One row inserted with RETURNING id by sql, its text parameters after the blob $1 (or none). */
static int64_t
raw_insert(struct store *s, const char *sql, const char *const *texts, size_t n, int blob)
{
	struct drv_stmt *st;
	int64_t id;
	struct err e;

	err_clear(&e);
	if ((st = store_stmt_get(s, sql, 0, "test insert", &e)) == NULL)
		fail_msg("%s", e.msg);
	if (blob)
		stmt_blob(s, st, 1, "\x01", 1);
	for (size_t i = 0; i < n; i++)
		stmt_text(s, st, (int)i + 1 + (blob ? 1 : 0), texts[i]);
	if (store_stmt_step(s, st, "test insert", NULL, &e) != 1)
		fail_msg("%s", e.msg);
	id = col_int(s, st, 0);
	stmt_reset(s, st);
	return id;
}

/*
 * Migration 0022 carries each authorization's challenge over as its http-01 challenge (token,
 * status, validation time, problem, last move), and the authorization is no wildcard.
 */
static void
test_acme_challs_carried(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct store_acme_chall *ch = NULL;
	struct store_acme_authz a;
	char acct[24], order[24];
	int64_t az;
	size_t n = 0;
	struct err e;

	err_clear(&e);
	if (store_open_upto(&s, f->spec, 21, &e) != 0)
		fail_msg("store_open_upto: %s", e.msg);
	snprintf(acct, sizeof(acct), "%lld",
		 (long long)raw_insert(s,
				       "INSERT INTO acme_accounts (thumb, jwk, created, updated) "
				       "VALUES ($1, '{}', 1, 1) RETURNING id",
				       NULL, 0, 1));
	{
		const char *t[] = {acct};

		snprintf(
		    order, sizeof(order), "%lld",
		    (long long)raw_insert(s,
					  "INSERT INTO acme_orders (account_id, identifiers, "
					  "expires, created, updated) VALUES (CAST($1 AS BIGINT), "
					  "'[]', 9, 1, 1) RETURNING id",
					  t, 1, 0));
	}
	{
		const char *t[] = {order, acct};

		az = raw_insert(
		    s,
		    "INSERT INTO acme_authzs (order_id, account_id, type, value, expires, "
		    "token, chall_status, status, validated, error, updated) VALUES "
		    "(CAST($1 AS BIGINT), CAST($2 AS BIGINT), 'dns', 'x.example', 9, "
		    "'tok-0021', 'invalid', 'invalid', 5, '{\"type\":\"x\"}', 7) "
		    "RETURNING id",
		    t, 2, 0);
	}
	store_close(s);
	s = fx_store(state);
	OK(store_acme_chall_list(s, az, &ch, &n, &e));
	assert_int_equal(n, 1);
	assert_string_equal(ch[0].type, "http-01");
	assert_string_equal(ch[0].token, "tok-0021");
	assert_string_equal(ch[0].status, "invalid");
	assert_int_equal(ch[0].validated, 5);
	assert_string_equal(ch[0].error, "{\"type\":\"x\"}");
	assert_int_equal(ch[0].updated, 7);
	STORE_LIST_FREE(ch, n, store_acme_chall_clear);
	OK(store_acme_authz_get(s, az, &a, &e));
	assert_false(a.wildcard);
	store_acme_authz_clear(&a);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

/* Bytes of a deleted row do not stay in the SQLite file (PRAGMA secure_delete). */
static int
file_has(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "rb");
	static char buf[1 << 20];
	size_t n, nl = strlen(needle), i;
	int found = 0;

	if (fp == NULL)
		return 0;
	while (!found && (n = fread(buf, 1, sizeof(buf), fp)) > 0)
		for (i = 0; i + nl <= n && !found; i++)
			found = memcmp(buf + i, needle, nl) == 0;
	fclose(fp);
	return found;
}

static void
test_secure_delete(void **state)
{
	struct fx *f = *state;
	static const char marker[] = "secret-purpose-4f1c9a";
	unsigned char id[STORE_HASH_LEN], ans[STORE_HASH_LEN];
	struct store_captcha c;
	struct store *s;
	struct err e;
	char *db, *wal;

	if (cur_pg)
		return; /* a PostgreSQL server's files are its own */
	memset(id, 0x11, sizeof(id));
	memset(ans, 0x22, sizeof(ans));
	s = fx_open(f);
	OK(store_captcha_put(s, id, ans, marker, 100, &e));
	store_close(s); /* the last connection: the WAL goes into the database file */
	db = xasprintf("%s/shomei.db", f->dir);
	wal = xasprintf("%s/shomei.db-wal", f->dir);
	assert_true(file_has(db, marker));
	s = fx_open(f);
	memset(&c, 0, sizeof(c));
	OK(store_captcha_take(s, id, &c, &e));
	assert_string_equal(c.purpose, marker);
	store_captcha_clear(&c);
	store_close(s);
	assert_false(file_has(db, marker));
	assert_false(file_has(wal, marker));
	free(db);
	free(wal);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_migrations),
	    T(test_migrations_concurrent),
	    T(test_open_failures),
	    T(test_free_null),
	    T(test_org),
	    T(test_ticket),
	    T(test_app_ticket_live),
	    T(test_cert_insert_get),
	    T(test_cert_duplicate_in_tx),
	    T(test_cert_list),
	    T(test_cert_revoke),
	    T(test_revoked_foreach),
	    T(test_crl),
	    T(test_crl_large),
	    T(test_audit),
	    T(test_audit_hash_layout),
	    T(test_audit_concurrent),
	    T(test_counter),
	    T(test_online_nonce),
	    T(test_rollback),
	    T(test_savepoint),
	    T(test_pipeline),
	    T(test_fault_stmt),
	    T(test_fault_each_write),
	    T(test_fault_own_tx),
	    T(test_deferred_sync),
	    T(test_checkpointer),
	    T(test_checkpointer_resident),
	    T(test_two_connections),
	    T(test_pg_reconnect),
	    T(test_revreq),
	    T(test_app_issuance),
	    T(test_token),
	    T(test_secure_delete),
	    T(test_acme_challs_carried),
	};
	int fails = 0;

	fails += cmocka_run_group_tests_name("store on sqlite", tests, grp_sqlite, NULL);
	fails += cmocka_run_group_tests_name("store on postgresql", tests, grp_pg, NULL);
	return fails != 0;
}
