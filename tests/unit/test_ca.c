/*
 * ca unit tests: the group commit (ca_write through the batch thread) and ca_issue()'s
 * hooks, on a CA made by ca_init() in a temporary directory with its signer.  The suite runs
 * twice: on SQLite, and on the PostgreSQL cluster of scripts/with-pg.sh (schema public
 * dropped first).
 */
#include "testutil.h"
#include "tu_x509.h"

#include <pthread.h>

#include <libpq-fe.h>

#include "ca/ca.h"
#include "ra/ra.h"

#define WRITERS 8
#define ROUNDS 40

static struct {
	char *dir;
	struct ca *ca;
	struct store *st;
} fx;

static void
pg_reset(void)
{
	PGconn *c = PQconnectdb(tu_pg());
	PGresult *r;

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("postgresql: %s", PQerrorMessage(c));
	r = PQexec(c, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; "
		      "CREATE SCHEMA public");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("postgresql: %s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

static int
setup(int pg)
{
	struct ca_init_opts io;
	struct err e;

	log_init("test_ca", 0);
	memset(&fx, 0, sizeof(fx));
	fx.dir = tu_tmpdir();
	memset(&io, 0, sizeof(io));
	io.datadir = fx.dir;
	io.root_key_out = tu_root_key_out(fx.dir);
	io.key_rounds = TU_KEY_ITER; /* ca_init() sets the rounds it is given, the default when 0 */
	io.ca_name = "unit";
	if (pg) {
		if (tu_pg() == NULL)
			fail_msg("SHOMEI_TEST_PG is not set (run through scripts/with-pg.sh)");
		pg_reset();
		io.store = tu_pg();
	}
	err_clear(&e);
	if (ca_init(&io, &e) == -1)
		fail_msg("init: %s", e.msg);
	if (ca_open(fx.dir, CA_OPEN_SIGNER, NULL, &fx.ca, &e) == -1 ||
	    ca_store_open(fx.ca, &fx.st, &e) == -1 || ca_batch_start(fx.ca, 64, &e) == -1)
		fail_msg("open: %s", e.msg);
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
	ca_batch_stop(fx.ca);
	store_close(fx.st);
	ca_close(fx.ca);
	tu_rmdir(fx.dir);
	return 0;
}

/* Entries in the audit chain now (ca_init writes some). */
static int64_t
audit_entries(void)
{
	unsigned char h[STORE_HASH_LEN];
	struct err e;
	int64_t seq = -1;

	err_clear(&e);
	if (store_audit_head(fx.st, &seq, h, &e) == -1)
		fail_msg("audit head: %s", e.msg);
	return seq;
}

/* ---- the group commit ---- */

struct unit {
	char code[32];
	int fail; /* write, then fail: everything of this unit must be undone */
};

static int
unit_write(struct store *st, void *arg, struct err *e)
{
	struct unit *u = arg;
	int64_t id;

	if (store_org_add(st, u->code, "unit", NULL, 0, &id, e) == -1 ||
	    store_audit_append(st, "test", "org.add", u->code, "", NULL, e) == -1)
		return -1;
	if (u->fail)
		return err_set(e, ERR_REFUSED, "unit %s refused", u->code);
	return 0;
}

/* a unit that fails in the store (a duplicate: PostgreSQL aborts until the savepoint) */
static int
unit_dup(struct store *st, void *arg, struct err *e)
{
	int64_t id;

	(void)arg;
	if (store_audit_append(st, "test", "org.add", "dup", "", NULL, e) == -1)
		return -1;
	return store_org_add(st, "W0-0", "again", NULL, 0, &id, e);
}

struct writer {
	int idx;
	int oks, refused, dups;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	struct err e;

	for (int i = 0; i < ROUNDS; i++) {
		struct unit u;
		int rc;

		memset(&u, 0, sizeof(u));
		snprintf(u.code, sizeof(u.code), "W%d-%d", w->idx, i);
		u.fail = (i % 5) == 3;
		err_clear(&e);
		if (w->idx == 0 && i > 0 && i % 7 == 0) {
			err_clear(&e);
			if (ca_write(fx.ca, NULL, unit_dup, NULL, &e) == -1 &&
			    e.code == ERR_CONFLICT)
				w->dups++;
		}
		err_clear(&e);
		rc = ca_write(fx.ca, NULL, unit_write, &u, &e);
		if (rc == 0)
			w->oks++;
		else if (e.code == ERR_REFUSED && strstr(e.msg, u.code) != NULL)
			w->refused++;
		else
			fprintf(stderr, "writer %d round %d: %s (%d)\n", w->idx, i, e.msg, e.code);
	}
	return NULL;
}

/*
 * Writers in parallel through the batch: each unit's records are there exactly when it
 * succeeded, a failing unit (refused, or a duplicate in the store) takes nothing of the
 * others' with it, and the audit chain holds one entry per kept unit, unbroken.
 */
static void
test_group_commit(void **state)
{
	pthread_t th[WRITERS];
	struct writer w[WRITERS];
	struct ca_audit_report rep;
	struct store_org o;
	struct err e;
	int oks = 0, refused = 0;
	int64_t base = audit_entries();

	(void)state;
	for (int i = 0; i < WRITERS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].idx = i;
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(th[i], NULL);
		oks += w[i].oks;
		refused += w[i].refused;
	}
	assert_int_equal(oks + refused, WRITERS * ROUNDS);
	assert_int_equal(refused, WRITERS * (ROUNDS / 5));
	assert_int_equal(w[0].dups, (ROUNDS - 1) / 7);
	for (int i = 0; i < WRITERS; i++)
		for (int j = 0; j < ROUNDS; j++) {
			char code[32];
			int rc;

			snprintf(code, sizeof(code), "W%d-%d", i, j);
			err_clear(&e);
			rc = store_org_get(fx.st, code, &o, &e);
			store_org_clear(&o);
			if ((j % 5) == 3)
				assert_int_equal(e.code, ERR_NOTFOUND);
			else
				assert_int_equal(rc, 0);
		}
	memset(&rep, 0, sizeof(rep));
	err_clear(&e);
	assert_int_equal(ca_audit_verify(fx.st, &rep, &e), 0);
	assert_int_equal(rep.entries, base + oks);
}

/* ---- a batch committed, then its durability failed: the outcome is unknown ---- */

struct slow_unit {
	struct unit u;
	int ms; /* sleeps this long inside the batch (holding it) before writing */
	int rc;
	struct err e;
};

static int
unit_slow(struct store *st, void *arg, struct err *e)
{
	struct slow_unit *s = arg;

	usleep((useconds_t)s->ms * 1000);
	return unit_write(st, &s->u, e);
}

static void *
slow_main(void *arg)
{
	struct slow_unit *s = arg;

	err_clear(&s->e);
	s->rc = ca_write(fx.ca, NULL, unit_slow, s, &s->e);
	return NULL;
}

static int
org_exists(const char *code)
{
	struct store_org o;
	struct err e;
	int rc;

	err_clear(&e);
	rc = store_org_get(fx.st, code, &o, &e);
	store_org_clear(&o);
	if (rc == -1 && e.code != ERR_NOTFOUND)
		fail_msg("org %s: %s", code, e.msg);
	return rc == 0;
}

/* ---- writes that may run again (ca_write_again): the optimistic run ---- */

struct cert_unit {
	char serial[STORE_SERIAL_MAX];
	int64_t org_id; /* 0: none */
	int fail;	/* write, then refuse */
	int rc;
	struct err e;
};

/* A certificate row and its audit entry, as an issuance writes them (ca_issue_write). */
static int
unit_cert(struct store *st, void *arg, struct err *e)
{
	struct cert_unit *u = arg;
	struct store_cert c;
	unsigned char der[3] = {0x30, 0x01, 0x00};

	memset(&c, 0, sizeof(c));
	snprintf(c.serial, sizeof(c.serial), "%s", u->serial);
	c.ca = (char *)"unit";
	c.subject = (char *)"CN=again";
	c.profile = (char *)"server";
	c.not_before = util_now();
	c.not_after = c.not_before + 86400;
	c.status = STORE_CERT_VALID;
	c.reason = -1;
	c.org_id = u->org_id;
	c.der = der;
	c.derlen = sizeof(der);
	if (store_audit_append(st, "test", "cert.issue", u->serial, "", NULL, e) == -1 ||
	    store_cert_insert(st, &c, e) == -1)
		return -1;
	if (u->fail)
		return err_set(e, ERR_REFUSED, "unit %s refused", u->serial);
	return 0;
}

static void *
cert_main(void *arg)
{
	struct cert_unit *u = arg;

	err_clear(&u->e);
	u->rc = ca_write_again(fx.ca, NULL, unit_cert, u, &u->e);
	return NULL;
}

/*
 * One batch of n units through ca_write_again (a slow unit holds the batch thread meanwhile,
 * so that they queue up behind it); the slow unit's own write is kept.
 */
static void
cert_batch(struct cert_unit *u, int n, const char *hold_code)
{
	struct slow_unit hold;
	pthread_t th[32], th_hold;
	int i;

	memset(&hold, 0, sizeof(hold));
	snprintf(hold.u.code, sizeof(hold.u.code), "%s", hold_code);
	hold.ms = 300;
	assert_int_equal(pthread_create(&th_hold, NULL, slow_main, &hold), 0);
	usleep(100 * 1000);
	for (i = 0; i < n; i++)
		assert_int_equal(pthread_create(&th[i], NULL, cert_main, &u[i]), 0);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_join(th_hold, NULL);
	assert_int_equal(hold.rc, 0);
}

/*
 * Writes that may run again share a batch without savepoints or waits on PostgreSQL (the
 * optimistic run, where a certificate's INSERT is not answered before the batch's end): a
 * serial that is taken — in the store already, or by another unit of the same batch — and a
 * refused unit still fail alone (the batch runs again, one savepoint per unit), with
 * ERR_CONFLICT for the serial; every other unit is stored with its audit entry, and the
 * chain verifies.
 */
static void
test_group_commit_again(void **state)
{
	enum { N = 24 };
	struct cert_unit u[N], pre;
	struct ca_audit_report rep;
	struct store_cert c;
	struct err e;
	int64_t base = audit_entries(), n0, n, org = 0;
	int i, oks = 0;

	(void)state;
	err_clear(&e);
	assert_int_equal(store_cert_count(fx.st, -1, &n0, &e), 0);
	memset(&pre, 0, sizeof(pre));
	snprintf(pre.serial, sizeof(pre.serial), "0A0000");
	cert_main(&pre);
	assert_int_equal(pre.rc, 0);

	/* a batch whose only failures are taken serials (nothing else makes it run again) */
	for (i = 0; i < N; i++) {
		memset(&u[i], 0, sizeof(u[i]));
		snprintf(u[i].serial, sizeof(u[i].serial), "0A%04X", i + 1);
		if (i == 5)
			snprintf(u[i].serial, sizeof(u[i].serial), "0A0000"); /* in the store */
		if (i == 9 || i == 10)
			snprintf(u[i].serial, sizeof(u[i].serial), "0AFFFF"); /* one wins */
	}
	cert_batch(u, N, "AGAIN-1");
	for (i = 0; i < N; i++) {
		if (i == 5) {
			assert_int_equal(u[i].rc, -1);
			assert_int_equal(u[i].e.code, ERR_CONFLICT);
		} else if (i != 9 && i != 10) {
			if (u[i].rc != 0)
				fail_msg("unit %d: %s", i, u[i].e.msg);
			assert_int_equal(store_cert_get(fx.st, u[i].serial, &c, &e), 0);
			store_cert_clear(&c);
		}
		oks += u[i].rc == 0;
	}
	/* of the two with one serial, exactly one is stored; the other was told so */
	assert_int_equal(u[9].rc + u[10].rc, -1);
	assert_int_equal((u[9].rc == -1 ? u[9].e.code : u[10].e.code), ERR_CONFLICT);
	assert_int_equal(oks, N - 2);

	/* a batch with a refused unit */
	for (i = 0; i < N; i++) {
		memset(&u[i], 0, sizeof(u[i]));
		snprintf(u[i].serial, sizeof(u[i].serial), "0B%04X", i + 1);
		u[i].fail = i == 13;
	}
	cert_batch(u, N, "AGAIN-2");
	for (i = 0; i < N; i++) {
		if (i == 13) {
			assert_int_equal(u[i].rc, -1);
			assert_int_equal(u[i].e.code, ERR_REFUSED);
			assert_int_equal(store_cert_get(fx.st, u[i].serial, &c, &e), -1);
			continue;
		}
		if (u[i].rc != 0)
			fail_msg("unit %d: %s", i, u[i].e.msg);
		oks++;
	}

	/* certificates of an organization, and one of an organization that does not exist */
	assert_int_equal(store_org_add(fx.st, "AGAIN-ORG", "again", NULL, 0, &org, &e), 0);
	for (i = 0; i < 8; i++) {
		memset(&u[i], 0, sizeof(u[i]));
		snprintf(u[i].serial, sizeof(u[i].serial), "0C%04X", i + 1);
		u[i].org_id = i == 6 ? org + 1000 : org;
	}
	cert_batch(u, 8, "AGAIN-3");
	for (i = 0; i < 8; i++) {
		if (i == 6) {
			assert_int_equal(u[i].rc, -1);
			assert_int_equal(u[i].e.code, ERR_NOTFOUND);
			continue;
		}
		if (u[i].rc != 0)
			fail_msg("unit %d: %s", i, u[i].e.msg);
		oks++;
	}
	assert_int_equal(store_cert_count(fx.st, -1, &n, &e), 0);
	assert_int_equal(n, n0 + 1 + oks);
	memset(&rep, 0, sizeof(rep));
	err_clear(&e);
	assert_int_equal(ca_audit_verify(fx.st, &rep, &e), 0);
	assert_int_equal(rep.entries, base + 1 + 3 + oks); /* pre, the slow units, the kept */
}

/*
 * The rule: when the group commit's batch was committed (visible to every connection) and its
 * durability step then failed (the leader's fsync on SQLite, the COMMIT's answer lost on
 * PostgreSQL; store_fault_set with STORE_FAULT_SYNC), every writer whose unit was in it is
 * told ERR_UNKNOWN — never "failed", for what others may already read — while a writer whose
 * own unit was refused in that batch keeps its refusal.  The next batch is not affected.
 */
static void
test_batch_sync_unknown(void **state)
{
	struct slow_unit a, b, c;
	pthread_t ta, tb, tc;
	struct ca_audit_report rep;
	struct unit u;
	struct err e;
	int64_t base = audit_entries();

	(void)state;
	/* alone in its batch */
	memset(&u, 0, sizeof(u));
	snprintf(u.code, sizeof(u.code), "SYNC-1");
	ca_batch_fault(fx.ca, 0, STORE_FAULT_SYNC);
	err_clear(&e);
	assert_int_equal(ca_write(fx.ca, NULL, unit_write, &u, &e), -1);
	assert_int_equal(e.code, ERR_UNKNOWN);
	assert_non_null(strstr(e.msg, "outcome unknown"));
	assert_true(org_exists("SYNC-1")); /* committed: it is there for everyone */
	/* the fault fired once: the next write is an ordinary one */
	snprintf(u.code, sizeof(u.code), "SYNC-2");
	err_clear(&e);
	if (ca_write(fx.ca, NULL, unit_write, &u, &e) != 0)
		fail_msg("the write after: %s", e.msg);

	/*
	 * b and c share the faulty batch (queued while a's batch runs for 400 ms): b's unit
	 * wrote (unknown), c's was refused (refused, and nothing of it stored).  b takes 200 ms,
	 * so a's own sync (a is its batch's leader) is long done when b's batch commits.
	 */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	snprintf(a.u.code, sizeof(a.u.code), "SYNC-A");
	snprintf(b.u.code, sizeof(b.u.code), "SYNC-B");
	snprintf(c.u.code, sizeof(c.u.code), "SYNC-C");
	c.u.fail = 1;
	a.ms = 400;
	b.ms = 200;
	assert_int_equal(pthread_create(&ta, NULL, slow_main, &a), 0);
	usleep(100 * 1000); /* a's batch is running */
	ca_batch_fault(fx.ca, 0, STORE_FAULT_SYNC);
	assert_int_equal(pthread_create(&tb, NULL, slow_main, &b), 0);
	assert_int_equal(pthread_create(&tc, NULL, slow_main, &c), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_join(tc, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, -1);
	assert_int_equal(b.e.code, ERR_UNKNOWN);
	assert_int_equal(c.rc, -1);
	assert_int_equal(c.e.code, ERR_REFUSED);
	assert_non_null(strstr(c.e.msg, "SYNC-C"));
	assert_true(org_exists("SYNC-A"));
	assert_true(org_exists("SYNC-B"));
	assert_false(org_exists("SYNC-C"));
	memset(&rep, 0, sizeof(rep));
	err_clear(&e);
	assert_int_equal(ca_audit_verify(fx.st, &rep, &e), 0);
	assert_int_equal(rep.entries, base + 4); /* SYNC-1, -2, -A, -B */
}

/* write_fn of an issuance under an Idempotency-Key: the claim bound in its transaction */
static int
hook_idem_bind(struct store *st, const struct ca_issued *c, void *arg, struct err *e)
{
	char loc[128];

	snprintf(loc, sizeof(loc), "/api/v1/certificates/%s", c->serial);
	return ra_idem_bind(st, arg, 201, loc, e);
}

/*
 * An issuance whose outcome is unknown (ERR_UNKNOWN, naming the serial) is not issued twice
 * for one Idempotency-Key: the claim, bound to the certificate in the certificate's own
 * transaction, makes the retry a replay of that certificate (no body kept yet: the face
 * renders it again), not a second issuance.
 */
static void
test_issue_unknown_idem(void **state)
{
	struct ca_issue_req req;
	struct ca_issued out;
	struct ra_idem idem;
	struct store_cert c;
	struct err e;
	unsigned char *der;
	const char *body = "{\"profile\":\"server\"}";
	char want[128];
	int64_t n0, n;
	int len;

	(void)state;
	err_clear(&e);
	assert_int_equal(store_cert_count(fx.st, -1, &n0, &e), 0);
	memset(&idem, 0, sizeof(idem));
	assert_int_equal(ra_idem_begin(fx.st, "key1", "retry-me", "POST", "/api/v1/certificates",
				       body, strlen(body), util_now(), &idem, &e),
			 RA_IDEM_RUN);
	der = tu_csr("unknown.example", &len);
	memset(&req, 0, sizeof(req));
	req.profile = "server";
	req.csr = der;
	req.csrlen = (size_t)len;
	req.actor = "test";
	req.write_fn = hook_idem_bind;
	req.arg = &idem;
	memset(&out, 0, sizeof(out));
	ca_batch_fault(fx.ca, 0, STORE_FAULT_SYNC);
	assert_int_equal(ca_issue(fx.ca, fx.st, &req, &out, &e), -1);
	OPENSSL_free(der);
	assert_int_equal(e.code, ERR_UNKNOWN);
	assert_null(out.der);
	/* the message names the certificate, which is there (visible, perhaps not durable) */
	assert_int_equal(store_cert_count(fx.st, -1, &n, &e), 0);
	assert_int_equal(n, n0 + 1);
	assert_non_null(strstr(e.msg, "issue: certificate "));
	{
		char serial[STORE_SERIAL_MAX];
		const char *p = e.msg + strlen("issue: certificate ");
		size_t k = strcspn(p, ":");

		assert_true(k > 0 && k < sizeof(serial));
		memcpy(serial, p, k);
		serial[k] = '\0';
		assert_int_equal(store_cert_get(fx.st, serial, &c, &e), 0);
		store_cert_clear(&c);
		snprintf(want, sizeof(want), "/api/v1/certificates/%s", serial);
	}
	/* the face keeps the claim (neither finished nor dropped); the retry replays */
	idem.active = 0;
	ra_idem_clear(&idem);
	err_clear(&e);
	assert_int_equal(ra_idem_begin(fx.st, "key1", "retry-me", "POST", "/api/v1/certificates",
				       body, strlen(body), util_now(), &idem, &e),
			 RA_IDEM_REPLAY);
	assert_int_equal(idem.stored.status, 201);
	assert_string_equal(idem.stored.location, want);
	assert_null(idem.stored.body);
	ra_idem_clear(&idem);
	assert_int_equal(store_cert_count(fx.st, -1, &n, &e), 0);
	assert_int_equal(n, n0 + 1); /* one certificate, not two */
}

/*
 * A request that runs so long that its retry takes the claim over (RA_IDEM_STALE, 120 s)
 * cannot bind its certificate any more: the claim's start is its owner token.  The first
 * issuance fails and writes nothing, the retry's stands: one certificate for one key.
 */
static void
test_issue_idem_takeover(void **state)
{
	struct ca_issue_req req;
	struct ca_issued out;
	struct ra_idem first, retry;
	struct err e;
	unsigned char *der;
	const char *body = "{\"profile\":\"server\"}";
	int64_t n0, n;
	time_t t0 = util_now();
	int len;

	(void)state;
	err_clear(&e);
	assert_int_equal(store_cert_count(fx.st, -1, &n0, &e), 0);
	memset(&first, 0, sizeof(first));
	memset(&retry, 0, sizeof(retry));
	assert_int_equal(ra_idem_begin(fx.st, "key1", "slow-one", "POST", "/api/v1/certificates",
				       body, strlen(body), t0 - 200, &first, &e),
			 RA_IDEM_RUN);
	assert_int_equal(ra_idem_begin(fx.st, "key1", "slow-one", "POST", "/api/v1/certificates",
				       body, strlen(body), t0, &retry, &e),
			 RA_IDEM_RUN);
	der = tu_csr("takeover.example", &len);
	memset(&req, 0, sizeof(req));
	req.profile = "server";
	req.csr = der;
	req.csrlen = (size_t)len;
	req.actor = "test";
	req.write_fn = hook_idem_bind;
	req.arg = &first;
	memset(&out, 0, sizeof(out));
	assert_int_equal(ca_issue(fx.ca, fx.st, &req, &out, &e), -1);
	assert_non_null(strstr(e.msg, "taken over by a retry"));
	ca_issued_clear(&out);
	assert_int_equal(store_cert_count(fx.st, -1, &n, &e), 0);
	assert_int_equal(n, n0);
	err_clear(&e);
	req.arg = &retry;
	memset(&out, 0, sizeof(out));
	assert_int_equal(ca_issue(fx.ca, fx.st, &req, &out, &e), 0);
	ca_issued_clear(&out);
	OPENSSL_free(der);
	assert_int_equal(store_cert_count(fx.st, -1, &n, &e), 0);
	assert_int_equal(n, n0 + 1);
	first.active = retry.active = 0;
	ra_idem_clear(&first);
	ra_idem_clear(&retry);
}

/* ---- ca_issue with the caller's records ---- */

struct hooks {
	int signed_calls, write_calls;
	int fail_write;
	char serial_seen[STORE_SERIAL_MAX];
	char code[32];
};

static int
hook_signed(const struct ca_issued *c, void *arg, struct err *e)
{
	struct hooks *h = arg;

	(void)e;
	h->signed_calls++;
	assert_non_null(c->der);
	assert_true(c->derlen > 0);
	snprintf(h->serial_seen, sizeof(h->serial_seen), "%s", c->serial);
	return 0;
}

static int
hook_write(struct store *st, const struct ca_issued *c, void *arg, struct err *e)
{
	struct hooks *h = arg;
	int64_t id;

	h->write_calls++;
	assert_string_equal(c->serial, h->serial_seen);
	if (store_org_add(st, h->code, c->serial, NULL, 0, &id, e) == -1)
		return -1;
	if (h->fail_write)
		return err_set(e, ERR_CONFLICT, "the caller lost");
	return 0;
}

static int
issue_with(struct hooks *h, struct ca_issued *out, struct err *e)
{
	struct ca_issue_req req;
	unsigned char *der;
	int len, rc;

	der = tu_csr("hook.example", &len);
	memset(&req, 0, sizeof(req));
	req.profile = "server";
	req.csr = der;
	req.csrlen = (size_t)len;
	req.actor = "test";
	req.signed_fn = hook_signed;
	req.write_fn = hook_write;
	req.arg = h;
	rc = ca_issue(fx.ca, fx.st, &req, out, e);
	OPENSSL_free(der);
	return rc;
}

/*
 * The caller's records commit with the certificate, or neither does: a write_fn that fails
 * leaves no certificate (nothing to revoke), no audit entry and none of its records, and
 * ca_issue() returns its error.
 */
static void
test_issue_hooks(void **state)
{
	struct hooks h;
	struct ca_issued out;
	struct store_cert c;
	struct store_org o;
	struct ca_audit_report rep;
	struct err e;
	int64_t n, n0, base = audit_entries();

	(void)state;
	err_clear(&e);
	assert_int_equal(store_cert_count(fx.st, -1, &n0, &e), 0);
	memset(&h, 0, sizeof(h));
	memset(&out, 0, sizeof(out));
	snprintf(h.code, sizeof(h.code), "KEPT");
	err_clear(&e);
	if (issue_with(&h, &out, &e) == -1)
		fail_msg("issue: %s", e.msg);
	assert_int_equal(h.signed_calls, 1);
	assert_int_equal(h.write_calls, 1);
	assert_string_equal(out.serial, h.serial_seen);
	assert_int_equal(store_cert_get(fx.st, out.serial, &c, &e), 0);
	assert_int_equal((long)c.derlen, (long)out.derlen);
	store_cert_clear(&c);
	assert_int_equal(store_org_get(fx.st, "KEPT", &o, &e), 0);
	assert_string_equal(o.name, out.serial);
	store_org_clear(&o);
	ca_issued_clear(&out);

	memset(&h, 0, sizeof(h));
	snprintf(h.code, sizeof(h.code), "LOST");
	h.fail_write = 1;
	err_clear(&e);
	assert_int_equal(issue_with(&h, &out, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_string_equal(e.msg, "the caller lost");
	assert_int_equal(h.write_calls, 1); /* not taken for a serial collision */
	assert_null(out.der);
	err_clear(&e);
	assert_int_equal(store_cert_get(fx.st, h.serial_seen, &c, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	store_cert_clear(&c);
	err_clear(&e);
	assert_int_equal(store_org_get(fx.st, "LOST", &o, &e), -1);
	store_org_clear(&o);
	assert_int_equal(store_cert_count(fx.st, -1, &n, &e), 0);
	assert_int_equal(n, n0 + 1);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(ca_audit_verify(fx.st, &rep, &e), 0);
	assert_int_equal(rep.entries, base + 1); /* the kept certificate's only */
}

/* Issues for key with subject CN=cn and a DNS SAN cn (spki: as the caller encoded it). */
static int
issue_key(EVP_PKEY *key, const X509_PUBKEY *spki, const char *cn, struct ca_issued *out,
	  struct err *e)
{
	struct ca_issue_req req;
	X509_NAME *name = X509_NAME_new();
	GENERAL_NAMES *sans = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	int rc;

	assert_non_null(name);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
						    (const unsigned char *)cn, -1, -1, 0),
			 1);
	assert_int_equal(ASN1_STRING_set(s, cn, -1), 1);
	GENERAL_NAME_set0_value(g, GEN_DNS, s);
	sk_GENERAL_NAME_push(sans, g);
	memset(&req, 0, sizeof(req));
	req.profile = "server";
	req.key = key;
	req.spki = spki;
	req.subject = name;
	req.sans = sans;
	req.actor = "test";
	rc = ca_issue(fx.ca, fx.st, &req, out, e);
	X509_NAME_free(name);
	GENERAL_NAMES_free(sans);
	return rc;
}

/*
 * A key the caller made (the portal's): issued without a CSR, with exactly that key and
 * the subject given; still linted (a bad name is refused, a weak key too), and a key
 * without its SPKI is the caller's mistake.
 */
static void
test_issue_key(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *got;
	EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	X509_PUBKEY *spki = NULL, *wspki = NULL;
	struct ca_issued out;
	struct store_cert c;
	struct err e;
	const unsigned char *p;
	X509 *x;
	char cn[256];
	int64_t n0, n;

	(void)state;
	assert_non_null(key);
	assert_non_null(weak);
	assert_int_equal(X509_PUBKEY_set(&spki, key), 1);
	assert_int_equal(X509_PUBKEY_set(&wspki, weak), 1);
	err_clear(&e);
	assert_int_equal(store_cert_count(fx.st, -1, &n0, &e), 0);
	memset(&out, 0, sizeof(out));
	if (issue_key(key, spki, "key.example", &out, &e) == -1)
		fail_msg("issue: %s", e.msg);
	p = out.der;
	x = d2i_X509(NULL, &p, (long)out.derlen);
	assert_non_null(x);
	got = X509_get0_pubkey(x);
	assert_non_null(got);
	assert_int_equal(EVP_PKEY_eq(got, key), 1);
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "key.example");
	assert_int_equal(X509_verify(x, X509_get0_pubkey(fx.ca->cert)), 1);
	X509_free(x);
	assert_int_equal(store_cert_get(fx.st, out.serial, &c, &e), 0);
	store_cert_clear(&c);
	ca_issued_clear(&out);

	err_clear(&e);
	assert_int_equal(issue_key(key, spki, "bad..example", &out, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	err_clear(&e);
	assert_int_equal(issue_key(weak, wspki, "weak.example", &out, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	err_clear(&e);
	assert_int_equal(issue_key(key, NULL, "nospki.example", &out, &e), -1);
	assert_int_equal(e.code, ERR_INTERNAL);
	assert_null(out.der);
	assert_int_equal(store_cert_count(fx.st, -1, &n, &e), 0);
	assert_int_equal(n, n0 + 1); /* only the first */
	X509_PUBKEY_free(spki);
	X509_PUBKEY_free(wspki);
	EVP_PKEY_free(key);
	EVP_PKEY_free(weak);
}

/* ---- the root CRL (ca/rootcrl.c) ---- */

static X509_CRL *
root_crl_latest(int64_t *number)
{
	struct store_crl c;
	struct err e;
	const unsigned char *p;
	X509_CRL *x;

	memset(&c, 0, sizeof(c));
	err_clear(&e);
	if (store_crl_latest(fx.st, "unit-root", 0, &c, &e) == -1)
		fail_msg("root CRL: %s", e.msg);
	p = c.der;
	x = d2i_X509_CRL(NULL, &p, (long)c.derlen);
	assert_non_null(x);
	assert_int_equal(X509_CRL_verify(x, X509_get0_pubkey(fx.ca->root)), 1);
	*number = c.number;
	store_crl_clear(&c);
	return x;
}

static int
root_crl_entries(X509_CRL *x)
{
	int n = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(x));

	return n < 0 ? 0 : n;
}

static void
test_root_crl(void **state)
{
	struct ca_root_crl_req rq;
	struct store_crl out;
	struct err e;
	EVP_PKEY *rootk = NULL, *other = NULL;
	X509_CRL *x;
	int64_t n, reserved;
	int already = -1;

	(void)state;
	err_clear(&e);
	/* init made number 1, empty, valid a year */
	x = root_crl_latest(&n);
	assert_int_equal(n, 1);
	assert_int_equal(root_crl_entries(x), 0);
	X509_CRL_free(x);
	if (signer_key_load(&fx.ca->conf, tu_root_key_out(fx.dir), &rootk, &e) == -1 ||
	    signer_key_load(&fx.ca->conf, "keys/ocsp.key.pem", &other, &e) == -1)
		fail_msg("keys: %s", e.msg);
	memset(&rq, 0, sizeof(rq));
	memset(&out, 0, sizeof(out));
	rq.root_name = "unit-root";
	rq.root = fx.ca->root;
	rq.key = rootk;
	rq.days = 365;
	rq.actor = "test";

	/* refusals sign nothing */
	rq.key = other;
	tu_expect_prefix(ca_root_crl_make(fx.st, &rq, &out, NULL, &e), &e,
			 "root CRL: the key is not the root CA's key");
	rq.key = rootk;
	rq.revoke = fx.ca->ocsp_cert;
	err_clear(&e);
	tu_expect_prefix(ca_root_crl_make(fx.st, &rq, &out, NULL, &e), &e,
			 "root CRL: the certificate to revoke is not an issuing CA certificate");
	rq.revoke = NULL;
	rq.days = 367;
	err_clear(&e);
	tu_expect_prefix(ca_root_crl_make(fx.st, &rq, &out, NULL, &e), &e,
			 "root CRL: validity of 367 days out of 1..366");
	rq.days = 365;
	x = root_crl_latest(&n);
	assert_int_equal(n, 1);
	X509_CRL_free(x);

	/* revoke the issuing CA; a later CRL carries the entry; a second revocation keeps it */
	rq.revoke = fx.ca->cert;
	rq.reason = CA_REASON_CA_COMPROMISE;
	err_clear(&e);
	if (ca_root_crl_make(fx.st, &rq, &out, &already, &e) == -1)
		fail_msg("revoke: %s", e.msg);
	assert_int_equal(already, 0);
	assert_int_equal(out.number, 2);
	store_crl_clear(&out);
	rq.revoke = NULL;
	if (ca_root_crl_make(fx.st, &rq, &out, &already, &e) == -1)
		fail_msg("renew: %s", e.msg);
	store_crl_clear(&out);
	rq.revoke = fx.ca->cert;
	rq.reason = CA_REASON_SUPERSEDED;
	if (ca_root_crl_make(fx.st, &rq, &out, &already, &e) == -1)
		fail_msg("again: %s", e.msg);
	assert_int_equal(already, 1);
	store_crl_clear(&out);
	x = root_crl_latest(&n);
	assert_int_equal(n, 4);
	assert_int_equal(root_crl_entries(x), 1);
	{
		X509_REVOKED *r = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(x), 0);
		ASN1_ENUMERATED *re = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);

		assert_int_equal(ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(r),
						  X509_get0_serialNumber(fx.ca->cert)),
				 0);
		assert_int_equal(ASN1_ENUMERATED_get(re), CA_REASON_CA_COMPROMISE);
		ASN1_ENUMERATED_free(re);
	}
	X509_CRL_free(x);

	/*
	 * A number taken by another ceremony (or a root CRL removed from the store): the
	 * newest stored one is not the last made, so carrying it could drop a revocation.
	 */
	if (store_begin(fx.st, &e) == -1 ||
	    store_crl_next_number(fx.st, "unit-root", &reserved, &e) == -1 ||
	    store_commit(fx.st, &e) == -1)
		fail_msg("reserve: %s", e.msg);
	assert_int_equal(reserved, 5);
	rq.revoke = NULL;
	err_clear(&e);
	tu_expect_prefix(ca_root_crl_make(fx.st, &rq, &out, NULL, &e), &e,
			 "root CRL: the newest stored root CRL is number 4, but number 5 was the "
			 "last made");
	x = root_crl_latest(&n);
	assert_int_equal(n, 4);
	X509_CRL_free(x);

	/* the warning serve logs */
	err_clear(&e);
	assert_int_equal(ca_root_crl_check(fx.st, "unit-root", 30, util_now(), &e), 0);
	tu_expect_prefix(ca_root_crl_check(fx.st, "unit-root", 400, util_now(), &e), &e,
			 "the root CRL (number 4) expires in 36");
	err_clear(&e);
	tu_expect_prefix(
	    ca_root_crl_check(fx.st, "unit-root", 30, util_now() + 365 * 86400 - 7200, &e), &e,
	    "the root CRL (number 4) expires in 2 hours");
	err_clear(&e);
	tu_expect_prefix(ca_root_crl_check(fx.st, "unit-root", 30, util_now() + 367 * 86400, &e),
			 &e, "the root CRL (number 4) expired 2 days ago");
	err_clear(&e);
	tu_expect_prefix(ca_root_crl_check(fx.st, "nosuch-root", 30, util_now(), &e), &e,
			 "no root CRL");
	EVP_PKEY_free(rootk);
	EVP_PKEY_free(other);
}

int
main(void)
{
	const struct CMUnitTest sqlite[] = {
	    cmocka_unit_test_setup_teardown(test_group_commit, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit_again, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_sync_unknown, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_issue_unknown_idem, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_issue_idem_takeover, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_issue_hooks, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_issue_key, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_root_crl, setup_sqlite, teardown),
	};
	const struct CMUnitTest pg[] = {
	    cmocka_unit_test_setup_teardown(test_group_commit, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit_again, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_sync_unknown, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_issue_unknown_idem, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_issue_idem_takeover, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_issue_hooks, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_issue_key, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_root_crl, setup_pg, teardown),
	};
	int failed = cmocka_run_group_tests_name("ca on SQLite", sqlite, NULL, NULL);

	return failed + cmocka_run_group_tests_name("ca on PostgreSQL", pg, NULL, NULL);
}
