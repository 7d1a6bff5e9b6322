/*
 * store: the connection (opening, migrations, transactions, savepoints, group-commit sync, the
 * WAL checkpointer glue) and the statement helpers every entity file uses (store_int.h).  The
 * SQL of each entity sits at the top of its own file, store_<entity>.c; all of it is written
 * once for SQLite and PostgreSQL on top of the statement driver (driver.h).
 *
 * Expected conditions (duplicates, missing rows, illegal state changes) never raise an SQL
 * error: PostgreSQL would abort the caller's whole transaction.  Duplicates are inserted with
 * ON CONFLICT DO NOTHING and detected by the row count; state changes are conditional UPDATEs
 * followed by a lookup only when nothing changed.
 *
 * The *_foreach walks stream their rows: their callbacks must not call back into the same
 * struct store.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "migrations.h"
#include "store_int.h"

/* pg_advisory_xact_lock key that serialises migrations: "shomei" as a big-endian integer */
#define STORE_MIGRATION_LOCK "126892383233385"
#define STORE_SQL_MAX (16 * 1024 * 1024)

#define Z8 "00000000"
#define Z64 Z8 Z8 Z8 Z8 Z8 Z8 Z8 Z8

/* ---- SQL ---- */

static const char SQL_MIGRATIONS_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version {{INT}} PRIMARY KEY, "
    "name TEXT NOT NULL, applied_at {{INT}} NOT NULL)";
static const char SQL_MIGRATION_LOCK[] = "SELECT pg_advisory_xact_lock(" STORE_MIGRATION_LOCK ")";
static const char SQL_SCHEMA_VERSION[] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
static const char SQL_MIGRATION_APPLIED[] = "SELECT 1 FROM schema_migrations WHERE version = $1";
static const char SQL_MIGRATION_INSERT[] =
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)";
static const char SQL_PING[] = "SELECT 1";
/* transaction control: never counted by store_fault_set(), sent unanswered where pipelining */
static const char SQL_SAVEPOINT[] = "SAVEPOINT shomei_sp";
static const char SQL_RELEASE[] = "RELEASE SAVEPOINT shomei_sp";

/* ---- fault injection (tests) ---- */

int
store_fault_set(struct store *s, long fail_stmt, int fail_commit)
{
	int rc = -1;

	if (fail_stmt < 0)
		goto out;
	s->fault_count = 0;
	s->fault_stmt = fail_stmt;
	s->fault_commit = fail_commit == STORE_FAULT_SYNC ? STORE_FAULT_SYNC : fail_commit != 0;
	rc = 0;
out:
	return rc;
}

long
store_fault_count(const struct store *s)
{
	return s->fault_count;
}

/* Counts a statement; the one store_fault_set() named fails (once) before it runs. */
int
store_fault_hit(struct store *s, struct err *e)
{
	int rc = 0;

	s->fault_count++;
	if (s->fault_stmt != 0 && s->fault_count == s->fault_stmt) {
		s->fault_stmt = 0;
		rc = err_set(e, ERR_INTERNAL, "store: injected fault (statement %ld)",
			     s->fault_count);
	}
	return rc;
}

/* ---- helpers ---- */

/*
 * The cached prepared statement for sql, or NULL with e set.  Every statement of the entity
 * files starts here: this is where store_fault_set() counts and fails them, above both
 * drivers.
 */
/* Sends an optimistic run's kept rows (before any other statement: they come first). */
static int
store_bulk_send(struct store *s, struct err *e)
{
	int rc = 0;

	if (s->bulk_sending || (s->nbulk_audit == 0 && s->nbulk_cert == 0))
		return 0;
	s->bulk_sending = 1;
	if (store_audit_bulk_send(s, e) == -1 || store_cert_bulk_send(s, e) == -1)
		rc = -1;
	store_audit_bulk_drop(s);
	store_cert_bulk_drop(s);
	s->bulk_sending = 0;
	return rc;
}

struct drv_stmt *
store_stmt_get(struct store *s, const char *sql, int flags, const char *what, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct err de;

	err_clear(&de);
	if (store_bulk_send(s, e) == -1 || store_fault_hit(s, e) == -1)
		goto out;
	if (s->drv->prepare(s->conn, sql, flags, &st, &de) == -1) {
		err_set(e, ERR_INTERNAL, "store: %s: %s", what, de.msg);
		st = NULL;
	}
out:
	return st;
}

/* 1 row, 0 done, -1 error: "store: <what> <obj>: <database message>". */
int
store_stmt_step(struct store *s, struct drv_stmt *st, const char *what, const char *obj,
		struct err *e)
{
	struct err de;
	char esc[128];
	int r;

	err_clear(&de);
	if ((r = s->drv->step(st, &de)) == -1)
		err_set(e, de.code == ERR_OK ? ERR_INTERNAL : de.code, "store: %s%s%s: %s", what,
			obj != NULL ? " " : "", obj != NULL ? store_esc(esc, sizeof(esc), obj) : "",
			de.msg);
	return r;
}

/* Makes room for one more element in a growing array. */
void
store_array_grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return;
	*cap = *cap ? *cap * 2 : 16;
	*v = xrealloc(*v, *cap * size);
	memset((char *)*v + n * size, 0, (*cap - n) * size);
}

/* Checks and upper-cases a hex serial (1..40 digits) into out. */
int
store_serial_norm(const char *in, char out[STORE_SERIAL_MAX], struct err *e)
{
	char esc[128];
	size_t i, n;
	int rc = -1;

	n = in != NULL ? strlen(in) : 0;
	if (n == 0 || n >= STORE_SERIAL_MAX) {
		err_set(e, ERR_REFUSED,
			"store: certificate serial \"%s\" is not 1 to %d hex digits",
			store_esc(esc, sizeof(esc), in), STORE_SERIAL_MAX - 1);
		goto out;
	}
	for (i = 0; i < n; i++) {
		char c = in[i];

		if (c >= 'a' && c <= 'f')
			c = (char)(c - 'a' + 'A');
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) {
			err_set(e, ERR_REFUSED,
				"store: certificate serial \"%s\" is not hexadecimal",
				store_esc(esc, sizeof(esc), in));
			goto out;
		}
		out[i] = c;
	}
	out[n] = '\0';
	rc = 0;
out:
	return rc;
}

/* Runs a one-row query with one text or int parameter: 1 found, 0 not, -1 error. */
int
store_exists(struct store *s, const char *sql, const char *text, int64_t id, const char *what,
	     struct err *e)
{
	struct drv_stmt *st;
	int r = -1;

	if ((st = store_stmt_get(s, sql, 0, what, e)) == NULL)
		goto out;
	if (text != NULL)
		stmt_text(s, st, 1, text);
	else
		stmt_int(s, st, 1, id);
	r = store_stmt_step(s, st, what, text, e);
out:
	stmt_reset(s, st);
	return r;
}

/* Runs a "DELETE ... WHERE expires < $1" at now; *n (may be NULL) the rows deleted. */
int
store_purge(struct store *s, const char *sql, const char *what, time_t now, int64_t *n,
	    struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if (n != NULL)
		*n = 0;
	if ((st = store_stmt_get(s, sql, 0, what, e)) == NULL)
		goto out;
	stmt_int(s, st, 1, (int64_t)now);
	if (store_stmt_step(s, st, what, NULL, e) == -1)
		goto out;
	if (n != NULL)
		*n = s->drv->changes(st);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* ---- transactions ---- */

/* Called after a commit that queued mail (the web process's sender wakes up); may be NULL. */
static void (*store_mail_hook)(void);

void
store_set_mail_hook(void (*fn)(void))
{
	store_mail_hook = fn;
}

void
store_mail_kick(struct store *s)
{
	void (*fn)(void) = store_mail_hook;

	s->mail_queued = 0;
	if (fn != NULL)
		fn();
}

int
store_in_tx(const struct store *s)
{
	return s->in_tx;
}

int
store_begin(struct store *s, struct err *e)
{
	struct err de;
	int rc = -1;

	err_clear(&de);
	if (s->in_tx) {
		err_set(e, ERR_INTERNAL, "store: begin: a transaction is already open");
		goto out;
	}
	if (s->drv->begin(s->conn, &de) == -1) {
		err_set(e, ERR_INTERNAL, "store: begin: %s", de.msg);
		goto out;
	}
	s->in_tx = 1;
	rc = 0;
out:
	return rc;
}

int
store_commit(struct store *s, struct err *e)
{
	struct err de;
	int rc = -1;

	err_clear(&de);
	if (!s->in_tx) {
		err_set(e, ERR_INTERNAL, "store: commit: no transaction is open");
		goto out;
	}
	if (store_bulk_send(s, e) == -1) {
		store_rollback(s);
		goto out;
	}
	if (s->head_dirty && store_audit_head_write(s, e) == -1) {
		store_rollback(s);
		goto out;
	}
	if (s->in_sp) {
		store_rollback(s);
		err_set(e, ERR_INTERNAL, "store: commit: a savepoint is still open");
		goto out;
	}
	if (s->fault_commit == 1) { /* store_fault_set(): as if COMMIT itself failed */
		s->fault_commit = 0;
		store_rollback(s);
		err_set(e, ERR_INTERNAL, "store: injected fault (commit)");
		goto out;
	}
	s->in_tx = 0;
	s->head_known = s->head_dirty = 0;
	if (s->drv->commit(s->conn, &de) == -1) {
		s->mail_queued = 0;
		err_set(e, ERR_INTERNAL, "store: commit: %s", de.msg);
		goto out;
	}
	if (s->mail_queued)
		store_mail_kick(s);
	if (s->fault_commit == STORE_FAULT_SYNC && s->deferred) {
		/* the first sync from now on covers this commit: that one fails */
		s->fault_commit = STORE_FAULT_SYNC + 1;
	} else if (s->fault_commit == STORE_FAULT_SYNC) {
		/* committed and visible, but the caller is not told so (the answer to COMMIT
		 * lost): a deferring connection fails its store_sync() instead */
		s->fault_commit = 0;
		err_set(e, ERR_UNKNOWN,
			"store: commit: outcome unknown (injected fault after the "
			"commit)");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int
store_defer_sync(struct store *s, struct err *e)
{
	struct err de;

	if (s->drv->defer_sync == NULL)
		return 0;
	err_clear(&de);
	if (s->drv->defer_sync(s->conn, &de) == -1)
		return err_set(e, ERR_INTERNAL, "store: %s", de.msg);
	s->deferred = 1;
	return 1;
}

int
store_sync(struct store *s, struct err *e)
{
	struct err de;

	if (s->drv->sync == NULL)
		return 0;
	if (s->fault_commit == STORE_FAULT_SYNC + 1) {
		s->fault_commit = 0;
		return err_set(e, ERR_UNKNOWN,
			       "store: sync: outcome unknown (injected fault after the commit)");
	}
	err_clear(&de);
	/* what was committed is visible already: whether it survives a crash is not known */
	if (s->drv->sync(s->conn, &de) == -1)
		return err_set(e, ERR_UNKNOWN, "store: sync: outcome unknown: %s", de.msg);
	return 0;
}

/*
 * Runs a SAVEPOINT or RELEASE as a cached statement: on a pipelining connection (store_pipeline)
 * it travels with the next statement that waits, without a round trip of its own.
 */
static int
store_txctl(struct store *s, const char *sql, struct err *de)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if (s->drv->prepare(s->conn, sql, DRV_DEFER | DRV_TXCTL, &st, de) == -1)
		goto out;
	if (s->drv->step(st, de) == -1)
		goto out;
	rc = 0;
out:
	if (st != NULL)
		s->drv->reset(st);
	return rc;
}

int
store_pipeline(struct store *s, struct err *e)
{
	struct err de;

	if (s->drv->pipeline == NULL)
		return 0;
	err_clear(&de);
	if (s->drv->pipeline(s->conn, &de) == -1)
		return err_set(e, ERR_INTERNAL, "store: %s", de.msg);
	return 1;
}

int
store_flush_last(struct store *s, struct err *e)
{
	if (s->in_tx && s->head_dirty && !s->in_sp)
		return store_audit_head_write(s, e); /* waits, for everything sent before it */
	return store_flush(s, e);
}

void
store_optimistic(struct store *s, int on)
{
	s->optimistic = on;
}

int
store_flush(struct store *s, struct err *e)
{
	struct err de;

	if (store_bulk_send(s, e) == -1)
		return -1;
	if (s->drv->flush == NULL)
		return 0;
	err_clear(&de);
	if (s->drv->flush(s->conn, &de) == -1)
		return err_set(e, de.code == ERR_OK ? ERR_INTERNAL : de.code, "store: %s", de.msg);
	return 0;
}

int
store_savepoint(struct store *s, struct err *e)
{
	struct err de;

	err_clear(&de);
	if (!s->in_tx || s->in_sp)
		return err_set(e, ERR_INTERNAL, "store: savepoint: %s",
			       s->in_sp ? "one is already open" : "no transaction is open");
	if (store_txctl(s, SQL_SAVEPOINT, &de) == -1)
		return err_set(e, ERR_INTERNAL, "store: savepoint: %s", de.msg);
	s->in_sp = 1;
	s->sp_head_known = s->head_known;
	s->sp_head_dirty = s->head_dirty;
	s->sp_head_seq = s->head_seq;
	memcpy(s->sp_head_hash, s->head_hash, STORE_HASH_LEN);
	return 0;
}

int
store_savepoint_release(struct store *s, struct err *e)
{
	struct err de;

	err_clear(&de);
	if (!s->in_sp)
		return err_set(e, ERR_INTERNAL, "store: release: no savepoint is open");
	s->in_sp = 0;
	if (store_txctl(s, SQL_RELEASE, &de) == -1)
		return err_set(e, ERR_INTERNAL, "store: release: %s", de.msg);
	return 0;
}

int
store_savepoint_rollback(struct store *s, struct err *e)
{
	struct err de;

	err_clear(&de);
	if (!s->in_sp)
		return err_set(e, ERR_INTERNAL, "store: rollback to savepoint: none is open");
	s->in_sp = 0;
	s->head_known = s->sp_head_known;
	s->head_dirty = s->sp_head_dirty;
	s->head_seq = s->sp_head_seq;
	memcpy(s->head_hash, s->sp_head_hash, STORE_HASH_LEN);
	/* the unit's deferred statements: a failure among them is why it is undone */
	(void)store_flush(s, &de);
	err_clear(&de);
	if (s->drv->exec(s->conn, "ROLLBACK TO SAVEPOINT shomei_sp; RELEASE SAVEPOINT shomei_sp",
			 &de) == -1)
		return err_set(e, ERR_INTERNAL, "store: rollback to savepoint: %s", de.msg);
	return 0;
}

void
store_rollback(struct store *s)
{
	if (s == NULL || !s->in_tx)
		return;
	store_audit_bulk_drop(s);
	store_cert_bulk_drop(s);
	s->drv->rollback(s->conn);
	s->in_tx = 0;
	s->in_sp = 0;
	s->head_known = s->head_dirty = 0;
	s->mail_queued = 0;
}

/* Opens a transaction unless the caller has one; *own says whether store_tx_leave() ends it. */
int
store_tx_enter(struct store *s, int *own, struct err *e)
{
	int rc = 0;

	*own = 0;
	if (!s->in_tx) {
		rc = store_begin(s, e);
		*own = rc == 0;
	}
	return rc;
}

/* Commits (rc 0) or rolls back the transaction store_tx_enter() opened; returns the outcome. */
int
store_tx_leave(struct store *s, int own, int rc, struct err *e)
{
	if (own && rc == 0)
		rc = store_commit(s, e);
	else if (own)
		store_rollback(s);
	return rc;
}

/* ---- opening, migrations ---- */

/* Migration SQL with the tokens of migrations.h replaced for the backend; caller frees. */
static char *
migration_sql(enum store_backend b, const char *name, const char *sql, struct err *e)
{
	static const char *const tok[][3] = {
	    {"{{ID}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY"},
	    {"{{BLOB}}", "BLOB", "BYTEA"},
	    {"{{INT}}", "INTEGER", "BIGINT"},
	    {"{{HASH0}}", "X'" Z64 "'", "decode('" Z64 "', 'hex')"},
	};
	struct buf out;
	const char *p;
	char *res = NULL;
	size_t i, len;

	buf_init(&out, STORE_SQL_MAX);
	for (p = sql; *p != '\0';) {
		if (strncmp(p, "{{PG:", 5) == 0) {
			/* text for PostgreSQL only (e.g. a sequence fix after a table rebuild) */
			const char *end = strstr(p + 5, "}}");

			if (end == NULL) {
				err_set(e, ERR_INTERNAL,
					"store: migration %s: unterminated {{PG:", name);
				goto out;
			}
			if (b == STORE_PG &&
			    buf_printf(&out, "%.*s", (int)(end - (p + 5)), p + 5) == -1)
				goto toolong;
			p = end + 2;
			continue;
		}
		if (strncmp(p, "{{SQLITE:", 9) == 0) {
			/* text for SQLite only (e.g. a table rebuild where PostgreSQL alters) */
			const char *end = strstr(p + 9, "}}");

			if (end == NULL) {
				err_set(e, ERR_INTERNAL,
					"store: migration %s: unterminated {{SQLITE:", name);
				goto out;
			}
			if (b == STORE_SQLITE &&
			    buf_printf(&out, "%.*s", (int)(end - (p + 9)), p + 9) == -1)
				goto toolong;
			p = end + 2;
			continue;
		}
		if (p[0] == '{' && p[1] == '{') {
			for (i = 0; i < sizeof(tok) / sizeof(tok[0]); i++) {
				len = strlen(tok[i][0]);
				if (strncmp(p, tok[i][0], len) == 0)
					break;
			}
			if (i == sizeof(tok) / sizeof(tok[0])) {
				err_set(e, ERR_INTERNAL, "store: migration %s: unknown token %.12s",
					name, p);
				goto out;
			}
			if (buf_printf(&out, "%s", tok[i][b == STORE_PG ? 2 : 1]) == -1)
				goto toolong;
			p += len;
			continue;
		}
		if (buf_putc(&out, *p++) == -1)
			goto toolong;
	}
	if (buf_cstr(&out) == NULL)
		goto toolong;
	res = (char *)out.data;
	out.data = NULL;
	goto out;
toolong:
	err_set(e, ERR_INTERNAL, "store: migration %s: too long", name);
out:
	buf_free(&out);
	return res;
}

/* PostgreSQL: the transaction-scoped lock every migrating process takes first. */
static int
migration_lock(struct store *s, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if (s->backend != STORE_PG) {
		rc = 0; /* BEGIN IMMEDIATE already holds the only write lock */
		goto out;
	}
	if ((st = store_stmt_get(s, SQL_MIGRATION_LOCK, 0, "migration lock", e)) == NULL)
		goto out;
	if (store_stmt_step(s, st, "migration lock", NULL, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

static int
migration_exec(struct store *s, const char *name, const char *sql, struct err *e)
{
	struct err de;
	char *text;
	int rc = -1;

	err_clear(&de);
	if ((text = migration_sql(s->backend, name, sql, e)) == NULL)
		goto out;
	if (s->drv->exec(s->conn, text, &de) == -1) {
		err_set(e, ERR_INTERNAL, "store: migration %s: %s", name, de.msg);
		goto out;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

/* Applies one migration in its own transaction unless another process just did. */
static int
migration_apply(struct store *s, const struct store_migration *m, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	if (store_begin(s, e) == -1 || migration_lock(s, e) == -1)
		goto out;
	if ((r = store_exists(s, SQL_MIGRATION_APPLIED, NULL, m->version, "schema_migrations",
			      e)) == -1)
		goto out;
	if (r == 0) {
		if (migration_exec(s, m->name, m->sql, e) == -1)
			goto out;
		if ((st = store_stmt_get(s, SQL_MIGRATION_INSERT, 0, "schema_migrations", e)) ==
		    NULL)
			goto out;
		stmt_int(s, st, 1, m->version);
		stmt_text(s, st, 2, m->name);
		stmt_int(s, st, 3, (int64_t)util_now());
		if (store_stmt_step(s, st, "record migration", m->name, e) == -1)
			goto out;
		stmt_reset(s, st);
		st = NULL;
		log_debug("store: applied migration %s", m->name);
	}
	if (store_commit(s, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	store_rollback(s);
	return rc;
}

/*
 * Creates schema_migrations if needed and applies the migrations not yet applied, those up
 * to version upto (INT_MAX: all).
 */
static int
store_migrate(struct store *s, int upto, struct err *e)
{
	int rc = -1, current = 0, latest = 0;
	size_t i;

	for (i = 0; i < store_nmigrations; i++)
		if (store_migrations[i].version > latest)
			latest = store_migrations[i].version;
	if (store_begin(s, e) == -1 || migration_lock(s, e) == -1 ||
	    migration_exec(s, "schema_migrations", SQL_MIGRATIONS_TABLE, e) == -1 ||
	    store_schema_version(s, &current, e) == -1 || store_commit(s, e) == -1)
		goto out;
	if (current > latest) {
		err_set(e, ERR_INTERNAL,
			"store: database schema version %d is newer than this program's (%d)",
			current, latest);
		goto out;
	}
	for (i = 0; i < store_nmigrations; i++) {
		if (store_migrations[i].version <= current || store_migrations[i].version > upto)
			continue;
		if (migration_apply(s, &store_migrations[i], e) == -1)
			goto out;
	}
	rc = 0;
out:
	store_rollback(s);
	return rc;
}

int
store_checkpointer_start(const char *spec, size_t resident, struct err *e)
{
	if (spec == NULL || strncmp(spec, "sqlite:", 7) != 0)
		return 0;
	return sqlite_checkpointer_start(spec + 7, resident, e);
}

void
store_checkpointer_stop(void)
{
	sqlite_checkpointer_stop();
}

/* A new struct store for spec with its driver chosen; *target: what the driver opens. */
static struct store *
store_new(const char *spec, const char **target, struct err *e)
{
	struct store *s = NULL;
	char esc[128];

	*target = spec;
	if (spec == NULL || *spec == '\0') {
		err_set(e, ERR_REFUSED, "store: no database given");
		goto out;
	}
	s = xcalloc(1, sizeof(*s));
	if (strncmp(spec, "sqlite:", 7) == 0) {
		s->backend = STORE_SQLITE;
		s->drv = &store_driver_sqlite;
		*target = spec + 7;
		if (**target == '\0') {
			err_set(e, ERR_REFUSED, "store: sqlite: no file name given");
			goto fail;
		}
	} else if (strncmp(spec, "postgresql://", 13) == 0 ||
		   strncmp(spec, "postgres://", 11) == 0 || strchr(spec, '=') != NULL) {
		s->backend = STORE_PG;
		s->drv = &store_driver_pg;
	} else {
		err_set(e, ERR_REFUSED,
			"store: %s: not sqlite:PATH nor a PostgreSQL connection string",
			store_esc(esc, sizeof(esc), spec));
		goto fail;
	}
	goto out;
fail:
	free(s);
	s = NULL;
out:
	return s;
}

int
store_open(struct store **out, const char *spec, struct err *e)
{
	return store_open_upto(out, spec, INT_MAX, e);
}

int
store_open_upto(struct store **out, const char *spec, int upto, struct err *e)
{
	struct store *s = NULL;
	const char *target;
	int rc = -1;

	*out = NULL;
	if ((s = store_new(spec, &target, e)) == NULL)
		goto out;
	if (s->drv->open(&s->conn, target, e) == -1)
		goto out;
	if (store_migrate(s, upto, e) == -1)
		goto out;
	*out = s;
	s = NULL;
	rc = 0;
out:
	store_close(s);
	return rc;
}

int
store_open_readonly(struct store **out, const char *spec, struct err *e)
{
	struct store *s = NULL;
	const char *target;
	int rc = -1, version = 0, latest = 0;
	size_t i;

	*out = NULL;
	if ((s = store_new(spec, &target, e)) == NULL)
		goto out;
	if (s->drv->open_ro(&s->conn, target, e) == -1)
		goto out;
	for (i = 0; i < store_nmigrations; i++)
		if (store_migrations[i].version > latest)
			latest = store_migrations[i].version;
	if (store_schema_version(s, &version, e) == -1) {
		err_clear(e);
		err_set(e, ERR_REFUSED, "store: %s: not a shomei store (no schema version)",
			s->backend == STORE_SQLITE ? target : "postgresql");
		goto out;
	}
	if (version < 1 || version > latest) {
		err_set(e, ERR_REFUSED,
			"store: schema version %d is not one this program reads (1 to %d)", version,
			latest);
		goto out;
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	store_close(s);
	return rc;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	store_rollback(s);
	store_audit_bulk_drop(s);
	store_cert_bulk_drop(s);
	if (s->drv != NULL)
		s->drv->close(s->conn);
	free(s);
}

enum store_backend
store_backend(const struct store *s)
{
	return s->backend;
}

int
store_ping(struct store *s, struct err *e)
{
	struct drv_stmt *st;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_PING, 0, "ping", e)) == NULL)
		goto out;
	if (store_stmt_step(s, st, "ping", NULL, e) != 1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		err_set(e, ERR_INTERNAL, "store: ping: no answer");
	return rc;
}

int
store_schema_version(struct store *s, int *version, struct err *e)
{
	struct drv_stmt *st;
	int rc = -1;

	*version = 0;
	if ((st = store_stmt_get(s, SQL_SCHEMA_VERSION, 0, "schema version", e)) == NULL)
		goto out;
	if (store_stmt_step(s, st, "schema version", NULL, e) != 1)
		goto out;
	*version = (int)col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		err_set(e, ERR_INTERNAL, "store: schema version: no answer");
	return rc;
}
