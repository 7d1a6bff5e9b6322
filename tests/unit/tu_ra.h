/*
 * The RA's unit tests (test_ra_*.c): a CA with its store and the RA started, on SQLite or on
 * PostgreSQL, with organizations EX1 (example.co.jp) and EX2 (other.example.jp), a notify
 * hook that records what it was asked to send and queues a mail for each (in the operation's
 * transaction, as the portal's do), a snapshot of what an operation may write, and the fault
 * loop: every statement of an operation failed in turn (store_fault_set), each time a clean
 * failure with nothing written, until the operation runs without reaching the fault.
 * Include after testutil.h and tu_ca.h.
 */
#ifndef SHOMEI_TU_RA_H
#define SHOMEI_TU_RA_H

#include <sodium.h>
#include <sqlite3.h>

#include "ra/ra.h"

#define TU_OK(x) assert_int_equal((x), 0)
#define TU_SESSION "unit-session-1"

/* What the hooks were asked to send (the last of each kind) and how often. */
struct tu_ra_rec {
	int registered, approval, issued, delivery, rejected;
	int fail; /* 1: every hook fails after recording (the mail is not queued) */
	char reg_to[256], reg_token[RA_TOKEN_TEXT];
	char appr_to[256], appr_token[RA_TOKEN_TEXT];
	char iss_to[256], iss_serial[STORE_SERIAL_MAX], iss_code[RA_CODE_LEN];
	char dlv_to[256], dlv_token[RA_TOKEN_TEXT];
	int64_t rej_app;
};

struct tu_ra {
	struct tu_ca ca;
	struct tu_ra_rec rec;
	struct ra_notify n;
	int pg;
};

static inline int
tu_ra_mail(struct tu_ra_rec *r, struct store *st, const char *to, const char *what, struct err *e)
{
	char msg[256];

	if (r->fail)
		return err_set(e, ERR_INTERNAL, "unit: the hook refused");
	snprintf(msg, sizeof(msg), "Subject: %s\r\n\r\nunit\r\n", what);
	return store_mail_enqueue(st, "ca@example.co.jp", to, msg, util_now(), NULL, e);
}

static inline int
tu_ra_hook_registered(void *arg, struct store *st, const char *to, const char *token, struct err *e)
{
	struct tu_ra_rec *r = arg;

	r->registered++;
	snprintf(r->reg_to, sizeof(r->reg_to), "%s", to);
	snprintf(r->reg_token, sizeof(r->reg_token), "%s", token);
	return tu_ra_mail(r, st, to, "registered", e);
}

static inline int
tu_ra_hook_approval(void *arg, struct store *st, const struct ra_app *a, const char *to,
		    const char *token, struct err *e)
{
	struct tu_ra_rec *r = arg;

	(void)a;
	r->approval++;
	snprintf(r->appr_to, sizeof(r->appr_to), "%s", to);
	snprintf(r->appr_token, sizeof(r->appr_token), "%s", token);
	return tu_ra_mail(r, st, to, "approval", e);
}

static inline int
tu_ra_hook_issued(void *arg, struct store *st, const char *to, const char *serial, const char *code,
		  struct err *e)
{
	struct tu_ra_rec *r = arg;

	r->issued++;
	snprintf(r->iss_to, sizeof(r->iss_to), "%s", to);
	snprintf(r->iss_serial, sizeof(r->iss_serial), "%s", serial);
	snprintf(r->iss_code, sizeof(r->iss_code), "%s", code);
	return tu_ra_mail(r, st, to, "issued", e);
}

static inline int
tu_ra_hook_delivery(void *arg, struct store *st, const char *to, const char *token, struct err *e)
{
	struct tu_ra_rec *r = arg;

	r->delivery++;
	snprintf(r->dlv_to, sizeof(r->dlv_to), "%s", to);
	snprintf(r->dlv_token, sizeof(r->dlv_token), "%s", token);
	return tu_ra_mail(r, st, to, "delivery", e);
}

static inline int
tu_ra_hook_rejected(void *arg, struct store *st, const struct ra_app *a, struct err *e)
{
	struct tu_ra_rec *r = arg;

	r->rejected++;
	r->rej_app = a->id;
	if (tu_ra_mail(r, st, a->email, "rejected", e) == -1)
		return -1;
	return tu_ra_mail(r, st, a->subject_email, "rejected", e);
}

/* Organizations EX1 (example.co.jp) and EX2 (other.example.jp). */
static inline void
tu_ra_orgs(struct store *st)
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
	TU_OK(ra_org_add(st, "EX1", "Example One", &ch, "unit", &e));
	ch.domains.v = d2;
	TU_OK(ra_org_add(st, "EX2", "Example Two", &ch, "unit", &e));
}

/* The group commit started (on 1) or stopped (on 0: every write on f->ca.st). */
static inline void
tu_ra_batch(struct tu_ra *f, int on)
{
	struct err e;

	err_clear(&e);
	if (!on)
		ca_batch_stop(f->ca.ca);
	else if (ca_batch_start(f->ca.ca, 64, &e) == -1)
		fail_msg("batch: %s", e.msg);
}

/*
 * The fixture on SQLite (pg 0) or PostgreSQL (pg 1); batch 0 stops the group commit, so that
 * every write runs on f->ca.st, where store_fault_set() reaches it.
 */
static inline void
tu_ra_open(struct tu_ra *f, int pg, int batch, const char *progname)
{
	struct err e;

	assert_true(sodium_init() >= 0);
	memset(f, 0, sizeof(*f));
	tu_ca_open(&f->ca, pg, progname);
	tu_ra_batch(f, batch);
	err_clear(&e);
	if (ra_start(f->ca.ca, 0, &e) == -1)
		fail_msg("ra_start: %s", e.msg);
	f->pg = pg;
	f->n.arg = &f->rec;
	f->n.registered = tu_ra_hook_registered;
	f->n.approval = tu_ra_hook_approval;
	f->n.issued = tu_ra_hook_issued;
	f->n.delivery = tu_ra_hook_delivery;
	f->n.rejected = tu_ra_hook_rejected;
	tu_ra_orgs(f->ca.st);
}

static inline void
tu_ra_close(struct tu_ra *f)
{
	ra_stop();
	tu_ca_close(&f->ca);
	memset(f, 0, sizeof(*f));
}

/* A new ticket of org for profile (caller's buffer of 64 bytes). */
static inline void
tu_ra_ticket(struct store *st, const char *org, const char *profile, char out[64])
{
	char **numbers = NULL;
	struct err e;

	err_clear(&e);
	TU_OK(ra_ticket_create(st, org, profile, 1, "unit", &numbers, &e));
	snprintf(out, 64, "%s", numbers[0]);
	free(numbers[0]);
	free(numbers);
}

/* What the RA's operations write, counted through the store's read functions. */
struct tu_ra_snap {
	int64_t mail, certs, audit_seq;
	unsigned char audit_hash[STORE_HASH_LEN];
};

static inline void
tu_ra_snap_take(struct store *st, struct tu_ra_snap *s)
{
	struct err e;

	err_clear(&e);
	memset(s, 0, sizeof(*s));
	TU_OK(store_mail_count(st, -1, &s->mail, &e));
	TU_OK(store_cert_count(st, -1, &s->certs, &e));
	TU_OK(store_audit_head(st, &s->audit_seq, s->audit_hash, &e));
}

static inline void
tu_ra_snap_same(struct store *st, const struct tu_ra_snap *before)
{
	struct tu_ra_snap now;

	tu_ra_snap_take(st, &now);
	assert_int_equal(now.mail, before->mail);
	assert_int_equal(now.certs, before->certs);
	assert_int_equal(now.audit_seq, before->audit_seq);
	assert_memory_equal(now.audit_hash, before->audit_hash, STORE_HASH_LEN);
}

/* The state of application id. */
static inline enum ra_app_state
tu_ra_state(struct store *st, int64_t id)
{
	struct store_app a;
	enum ra_app_state s = RA_APP_STATE__MAX;
	struct err e;

	err_clear(&e);
	memset(&a, 0, sizeof(a));
	TU_OK(store_app_get(st, id, &a, &e));
	TU_OK(ra_app_state_parse(a.state, &s));
	store_app_clear(&a);
	return s;
}

/* The status of ticket number ("unused", "used"): 1 when used. */
static inline int
tu_ra_ticket_used(struct store *st, const char *number)
{
	struct store_ticket t;
	struct err e;
	int used;

	err_clear(&e);
	memset(&t, 0, sizeof(t));
	TU_OK(store_ticket_get(st, number, &t, &e));
	used = strcmp(t.status, "unused") != 0;
	store_ticket_clear(&t);
	return used;
}

/*
 * A token's state: -1 when there is none with this hash and purpose, else 1 when used, 0 when
 * not.
 */
static inline int
tu_ra_token(struct store *st, const unsigned char h[STORE_HASH_LEN], enum store_token_purpose p)
{
	struct store_token t;
	struct err e;

	err_clear(&e);
	if (store_token_get(st, h, p, &t, &e) == -1) {
		assert_int_equal(e.code, ERR_NOTFOUND);
		return -1;
	}
	return t.used != 0;
}

/* The same for the text of a secret (hashed as a link's; keyed with session when not NULL). */
static inline int
tu_ra_token_text(struct store *st, const char *text, const char *session,
		 enum store_token_purpose p)
{
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];

	TU_OK(ra_token_decode(text, raw));
	if (session != NULL)
		ra_token_hash_keyed(raw, session, h);
	else
		ra_token_hash(raw, h);
	return tu_ra_token(st, h, p);
}

/* 1 when the download (or sealed delivery) of secret text is there to take. */
static inline int
tu_ra_download_there(struct store *st, const char *text)
{
	struct err e;

	err_clear(&e);
	if (ra_download_peek(st, text, &e) == 0)
		return 1;
	assert_int_equal(e.code, ERR_NOTFOUND);
	return 0;
}

/* 1 when the agent's delivery link text is there (its sealed page not taken), else 0. */
static inline int
tu_ra_delivery_there(struct store *st, const char *text)
{
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	struct err e;

	err_clear(&e);
	if (ra_token_decode(text, raw) == -1)
		return 0;
	ra_token_hash(raw, h);
	if (store_download_peek(st, STORE_DOWNLOAD_DELIVERY, h, util_now(), &e) == 0)
		return 1;
	assert_int_equal(e.code, ERR_NOTFOUND);
	return 0;
}

/*
 * A count straight from the database by SQL (sql: one row, one integer), for what no store
 * function reads (expired downloads, say).
 */
static inline long long
tu_ra_sql_count(const struct tu_ra *f, const char *sql)
{
	long long n = -1;

	if (f->pg) {
		PGconn *c = PQconnectdb(tu_pg());
		PGresult *r = PQexec(c, sql);

		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
			fail_msg("postgresql: %s: %s", sql, PQerrorMessage(c));
		n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		PQfinish(c);
	} else {
		char *path = xasprintf("%s/db/shomei.db", f->ca.dir);
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;

		if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_ROW)
			fail_msg("sqlite: %s: %s", sql, sqlite3_errmsg(db));
		n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		sqlite3_close(db);
		free(path);
	}
	return n;
}

/*
 * The fault loop.  op runs the operation once (0: it did what it should, -1: it failed, e
 * set); same asserts that the store holds exactly what it held before.  For N = 1, 2, ...
 * the N-th statement on st fails: while the operation reaches it, it must fail with the
 * injected fault and leave everything as it was; the first N it does not reach ends the loop
 * with the operation done (and the fault unused).  Before the loop, when the operation
 * commits a transaction (commit 1), the commit is failed likewise.  Returns the number of
 * statements of the successful run.
 */
static inline long
tu_ra_fault_loop(struct store *st, const char *what, int commit, int (*op)(void *, struct err *),
		 void (*same)(void *), void *arg)
{
	struct err e;
	long n, count;
	int rc;

	err_clear(&e);
	if (!commit)
		goto stmts;
	TU_OK(store_fault_set(st, 0, 1));
	if (op(arg, &e) != -1)
		fail_msg("%s: the commit failed, yet the operation succeeded", what);
	if (strstr(e.msg, "injected fault") == NULL)
		fail_msg("%s: commit fault: %s", what, e.msg);
	TU_OK(store_fault_set(st, 0, 0));
	same(arg);
stmts:
	for (n = 1; n < 1000; n++) {
		err_clear(&e);
		TU_OK(store_fault_set(st, n, 0));
		rc = op(arg, &e);
		count = store_fault_count(st);
		TU_OK(store_fault_set(st, 0, 0));
		if (rc == 0) {
			if (count >= n)
				fail_msg("%s: statement %ld of %ld failed, yet the operation "
					 "succeeded",
					 what, n, count);
			return count;
		}
		if (strstr(e.msg, "injected fault") == NULL)
			fail_msg("%s: statement %ld: %s", what, n, e.msg);
		if (count != n)
			fail_msg("%s: statement %ld failed, yet it went on to statement %ld", what,
				 n, count);
		same(arg);
	}
	fail_msg("%s: no end to the statements", what);
	return -1;
}

#endif
