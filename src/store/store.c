/*
 * store: all of shomei's SQL, written once for SQLite and PostgreSQL, and the typed functions
 * of store.h on top of the statement driver (driver.h).
 *
 * Expected conditions (duplicates, missing rows, illegal state changes) never raise an SQL
 * error: PostgreSQL would abort the caller's whole transaction.  Duplicates are inserted with
 * ON CONFLICT DO NOTHING and detected by the row count; state changes are conditional UPDATEs
 * followed by a lookup only when nothing changed.
 *
 * The *_foreach walks stream their rows: their callbacks must not call back into the same
 * struct store.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "driver.h"
#include "migrations.h"
#include "store.h"

struct store {
	enum store_backend backend;
	const struct store_driver *drv;
	struct drv_conn *conn;
	int in_tx;
	/*
	 * The audit head within a transaction: read (and on PostgreSQL locked) by the first
	 * append, kept here, written back once by store_commit().  Repeated UPDATEs of the one
	 * head row would make every batch quadratic on PostgreSQL (a version chain per update).
	 */
	int head_known, head_dirty;
	int mail_queued; /* a mail was queued in the open transaction: wake the sender on commit */
	int64_t head_seq;
	unsigned char head_hash[STORE_HASH_LEN];
	/* the audit head when the open savepoint was taken (one level, see store_savepoint) */
	int in_sp, sp_head_known, sp_head_dirty;
	int64_t sp_head_seq;
	unsigned char sp_head_hash[STORE_HASH_LEN];
};

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

static const char SQL_ORG_INSERT[] =
    "INSERT INTO organizations (code, name, created) VALUES ($1, $2, $3) "
    "ON CONFLICT DO NOTHING RETURNING id";
static const char SQL_ORG_DOMAIN_INSERT[] =
    "INSERT INTO org_domains (org_id, domain) VALUES ($1, $2) ON CONFLICT DO NOTHING";
#define ORG_COLS "SELECT id, code, name, created, unrestricted FROM organizations"
static const char SQL_ORG_BY_CODE[] = ORG_COLS " WHERE code = $1";
static const char SQL_ORG_BY_ID[] = ORG_COLS " WHERE id = $1";
static const char SQL_ORG_ALL[] = ORG_COLS " ORDER BY code";
static const char SQL_ORG_DOMAINS[] =
    "SELECT domain FROM org_domains WHERE org_id = $1 ORDER BY domain";
static const char SQL_ORG_EXISTS[] = "SELECT 1 FROM organizations WHERE id = $1";
static const char SQL_ORG_NAMES[] =
    "SELECT kind, value FROM org_names WHERE org_id = $1 ORDER BY kind, value";
static const char SQL_ORG_UPDATE[] =
    "UPDATE organizations SET name = $2, unrestricted = $3 WHERE id = $1";
static const char SQL_ORG_DOMAINS_DELETE[] = "DELETE FROM org_domains WHERE org_id = $1";
static const char SQL_ORG_NAMES_DELETE[] = "DELETE FROM org_names WHERE org_id = $1";
static const char SQL_ORG_NAME_INSERT[] =
    "INSERT INTO org_names (org_id, kind, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

static const char SQL_TICKET_INSERT[] =
    "INSERT INTO tickets (number, org_id, profile, status, created) "
    "VALUES ($1, $2, $3, 'unused', $4) ON CONFLICT DO NOTHING";
#define TICKET_COLS                                                                                \
	"SELECT t.id, t.number, t.org_id, o.code, t.profile, t.status, t.cert_serial, "            \
	"t.created FROM tickets t JOIN organizations o ON o.id = t.org_id"
static const char SQL_TICKET_GET[] = TICKET_COLS " WHERE t.number = $1";
static const char SQL_TICKET_ALL[] = TICKET_COLS " ORDER BY t.id";
static const char SQL_TICKET_BY_ORG[] = TICKET_COLS " WHERE t.org_id = $1 ORDER BY t.id";
static const char SQL_TICKET_USE[] = "UPDATE tickets SET status = 'used', cert_serial = $2 "
				     "WHERE number = $1 AND status = 'unused'";
static const char SQL_TICKET_EXISTS[] = "SELECT 1 FROM tickets WHERE number = $1";

#define CERT_COLS                                                                                  \
	"serial, ca, subject, sans, profile, org_id, not_before, not_after, status, revoked_at, "  \
	"reason, invalidity_date, predecessor, created"
enum { CERT_COL_DER = 14 };
static const char SQL_CERT_INSERT[] =
    "INSERT INTO certificates (" CERT_COLS ", der) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING";
static const char SQL_CERT_GET[] = "SELECT " CERT_COLS ", der FROM certificates WHERE serial = $1";
static const char SQL_CERT_REVOKE[] =
    "UPDATE certificates SET status = 1, revoked_at = $2, reason = $3, invalidity_date = $4 "
    "WHERE serial = $1 AND status = 0";
static const char SQL_CERT_EXISTS[] = "SELECT 1 FROM certificates WHERE serial = $1";
static const char SQL_CERT_COUNT_ALL[] = "SELECT COUNT(*) FROM certificates";
static const char SQL_CERT_COUNT[] = "SELECT COUNT(*) FROM certificates WHERE status = $1";
static const char SQL_REVOKED[] =
    "SELECT serial, revoked_at, reason, invalidity_date FROM certificates "
    "WHERE ca = $1 AND status = 1 AND revoked_at >= $2 ORDER BY serial";
/* full CRLs: served in order by the covering partial index certificates_crl (0003) */
static const char SQL_REVOKED_ALL[] =
    "SELECT serial, revoked_at, reason, invalidity_date FROM certificates "
    "WHERE ca = $1 AND status = 1 ORDER BY serial";

static const char SQL_COUNTER_ADD[] =
    "INSERT INTO counters (name, value) VALUES ($1, $2) ON CONFLICT (name) "
    "DO UPDATE SET value = counters.value + excluded.value RETURNING value";

static const char SQL_CRL_INSERT[] =
    "INSERT INTO crls (ca, number, delta, base_number, this_update, next_update, created, der) "
    "VALUES ($1, $2, $3, $4, $5, $6, $8, $7) ON CONFLICT DO NOTHING";
/* the same with der zero-filled to $7 bytes (the last column, 0004), then filled in pieces */
static const char SQL_CRL_INSERT_ZERO[] =
    "INSERT INTO crls (ca, number, delta, base_number, this_update, next_update, created, der) "
    "VALUES ($1, $2, $3, $4, $5, $6, $8, zeroblob($7)) ON CONFLICT DO NOTHING";
static const char SQL_CRL_LATEST[] =
    "SELECT ca, number, delta, base_number, this_update, next_update, der FROM crls "
    "WHERE ca = $1 AND delta = $2 ORDER BY number DESC LIMIT 1";
static const char SQL_CRL_LATEST_INFO[] =
    "SELECT ca, number, delta, base_number, this_update, next_update FROM crls "
    "WHERE ca = $1 AND delta = $2 ORDER BY number DESC LIMIT 1";

#define APIKEY_COLS                                                                                \
	"SELECT k.key_id, k.org_id, o.code, k.name, k.hash, k.disabled, k.created, k.last_used "   \
	"FROM api_keys k JOIN organizations o ON o.id = k.org_id"
static const char SQL_APIKEY_INSERT[] =
    "INSERT INTO api_keys (key_id, org_id, name, hash, disabled, created) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
static const char SQL_APIKEY_GET[] = APIKEY_COLS " WHERE k.key_id = $1";
static const char SQL_APIKEY_ALL[] = APIKEY_COLS " ORDER BY k.id";
static const char SQL_APIKEY_BY_ORG[] = APIKEY_COLS " WHERE k.org_id = $1 ORDER BY k.id";
static const char SQL_APIKEY_DISABLE[] = "UPDATE api_keys SET disabled = $2 WHERE key_id = $1";
static const char SQL_APIKEY_TOUCH[] = "UPDATE api_keys SET last_used = $2 WHERE key_id = $1 "
				       "AND (last_used IS NULL OR last_used < $2)";

static const char SQL_AUDIT_HEAD[] = "SELECT seq, hash FROM audit_head WHERE id = 1";
static const char SQL_AUDIT_HEAD_LOCK[] =
    "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE";
static const char SQL_AUDIT_INSERT[] =
    "INSERT INTO audit (seq, ts, actor, action, object, detail, prev_hash, hash) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
static const char SQL_AUDIT_HEAD_SET[] = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1";
static const char SQL_AUDIT_ALL[] =
    "SELECT seq, ts, actor, action, object, detail, prev_hash, hash FROM audit ORDER BY seq";

/* ---- helpers ---- */

/* Untrusted text made printable for a message. */
static const char *
store_esc(char *dst, size_t n, const char *s)
{
	if (s == NULL)
		s = "(null)";
	return log_escape(dst, n, s, strlen(s));
}

/* The cached prepared statement for sql, or NULL with e set. */
static struct drv_stmt *
stmt_get(struct store *s, const char *sql, int flags, const char *what, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct err de;

	err_clear(&de);
	if (s->drv->prepare(s->conn, sql, flags, &st, &de) == -1) {
		err_set(e, ERR_INTERNAL, "store: %s: %s", what, de.msg);
		st = NULL;
	}
	return st;
}

/* 1 row, 0 done, -1 error: "store: <what> <obj>: <database message>". */
static int
stmt_step(struct store *s, struct drv_stmt *st, const char *what, const char *obj, struct err *e)
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

static void
stmt_reset(struct store *s, struct drv_stmt *st)
{
	if (st != NULL)
		s->drv->reset(st);
}

static void
stmt_text(struct store *s, struct drv_stmt *st, int n, const char *v)
{
	s->drv->bind_text(st, n, v);
}

static void
stmt_int(struct store *s, struct drv_stmt *st, int n, int64_t v)
{
	s->drv->bind_int64(st, n, v);
}

/* Binds v, or NULL when v equals none. */
static void
stmt_int_or_null(struct store *s, struct drv_stmt *st, int n, int64_t v, int64_t none)
{
	if (v == none)
		s->drv->bind_null(st, n);
	else
		s->drv->bind_int64(st, n, v);
}

static void
stmt_blob(struct store *s, struct drv_stmt *st, int n, const void *p, size_t len)
{
	s->drv->bind_blob(st, n, p, len);
}

static int64_t
col_int(struct store *s, struct drv_stmt *st, int col)
{
	return s->drv->column_int64(st, col);
}

/* The column as int, or none for SQL NULL. */
static int64_t
col_int_or(struct store *s, struct drv_stmt *st, int col, int64_t none)
{
	return s->drv->column_null(st, col) ? none : s->drv->column_int64(st, col);
}

/* A malloc'ed copy of a text column; NULL for SQL NULL. */
static char *
col_dup(struct store *s, struct drv_stmt *st, int col)
{
	const char *v = s->drv->column_text(st, col);

	return v != NULL ? xstrdup(v) : NULL;
}

/* Like col_dup() but "" for SQL NULL, for columns that are NOT NULL. */
static char *
col_str(struct store *s, struct drv_stmt *st, int col)
{
	const char *v = s->drv->column_text(st, col);

	return xstrdup(v != NULL ? v : "");
}

/* Makes room for one more element in a growing array. */
static void
array_grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return;
	*cap = *cap ? *cap * 2 : 16;
	*v = xrealloc(*v, *cap * size);
	memset((char *)*v + n * size, 0, (*cap - n) * size);
}

/* Checks and upper-cases a hex serial (1..40 digits) into out. */
static int
serial_norm(const char *in, char out[STORE_SERIAL_MAX], struct err *e)
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
static int
store_exists(struct store *s, const char *sql, const char *text, int64_t id, const char *what,
	     struct err *e)
{
	struct drv_stmt *st;
	int r = -1;

	if ((st = stmt_get(s, sql, 0, what, e)) == NULL)
		goto out;
	if (text != NULL)
		stmt_text(s, st, 1, text);
	else
		stmt_int(s, st, 1, id);
	r = stmt_step(s, st, what, text, e);
out:
	stmt_reset(s, st);
	return r;
}

/* Runs a "DELETE ... WHERE expires < $1" at now; *n (may be NULL) the rows deleted. */
static int
store_purge(struct store *s, const char *sql, const char *what, time_t now, int64_t *n,
	    struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if (n != NULL)
		*n = 0;
	if ((st = stmt_get(s, sql, 0, what, e)) == NULL)
		goto out;
	stmt_int(s, st, 1, (int64_t)now);
	if (stmt_step(s, st, what, NULL, e) == -1)
		goto out;
	if (n != NULL)
		*n = s->drv->changes(st);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* ---- transactions ---- */

static int audit_head_write(struct store *, struct err *);

/* Called after a commit that queued mail (the web process's sender wakes up); may be NULL. */
static void (*store_mail_hook)(void);

void
store_set_mail_hook(void (*fn)(void))
{
	store_mail_hook = fn;
}

static void
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
	if (s->head_dirty && audit_head_write(s, e) == -1) {
		store_rollback(s);
		goto out;
	}
	if (s->in_sp) {
		store_rollback(s);
		err_set(e, ERR_INTERNAL, "store: commit: a savepoint is still open");
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
	return 1;
}

int
store_sync(struct store *s, struct err *e)
{
	struct err de;

	if (s->drv->sync == NULL)
		return 0;
	err_clear(&de);
	if (s->drv->sync(s->conn, &de) == -1)
		return err_set(e, ERR_INTERNAL, "store: %s", de.msg);
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
	if (s->drv->exec(s->conn, "SAVEPOINT shomei_sp", &de) == -1)
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
	if (s->drv->exec(s->conn, "RELEASE SAVEPOINT shomei_sp", &de) == -1)
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
	s->drv->rollback(s->conn);
	s->in_tx = 0;
	s->in_sp = 0;
	s->head_known = s->head_dirty = 0;
	s->mail_queued = 0;
}

/* Opens a transaction unless the caller has one; *own says whether tx_leave() ends it. */
static int
tx_enter(struct store *s, int *own, struct err *e)
{
	int rc = 0;

	*own = 0;
	if (!s->in_tx) {
		rc = store_begin(s, e);
		*own = rc == 0;
	}
	return rc;
}

/* Commits (rc 0) or rolls back the transaction tx_enter() opened; returns the outcome. */
static int
tx_leave(struct store *s, int own, int rc, struct err *e)
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
	if ((st = stmt_get(s, SQL_MIGRATION_LOCK, 0, "migration lock", e)) == NULL)
		goto out;
	if (stmt_step(s, st, "migration lock", NULL, e) == -1)
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
		if ((st = stmt_get(s, SQL_MIGRATION_INSERT, 0, "schema_migrations", e)) == NULL)
			goto out;
		stmt_int(s, st, 1, m->version);
		stmt_text(s, st, 2, m->name);
		stmt_int(s, st, 3, (int64_t)util_now());
		if (stmt_step(s, st, "record migration", m->name, e) == -1)
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

/* Creates schema_migrations if needed and applies the migrations not yet applied. */
static int
store_migrate(struct store *s, struct err *e)
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
		if (store_migrations[i].version <= current)
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

int
store_open(struct store **out, const char *spec, struct err *e)
{
	struct store *s = NULL;
	const char *target = spec;
	char esc[128];
	int rc = -1;

	*out = NULL;
	if (spec == NULL || *spec == '\0') {
		err_set(e, ERR_REFUSED, "store: no database given");
		goto out;
	}
	s = xcalloc(1, sizeof(*s));
	if (strncmp(spec, "sqlite:", 7) == 0) {
		s->backend = STORE_SQLITE;
		s->drv = &store_driver_sqlite;
		target = spec + 7;
		if (*target == '\0') {
			err_set(e, ERR_REFUSED, "store: sqlite: no file name given");
			goto out;
		}
	} else if (strncmp(spec, "postgresql://", 13) == 0 ||
		   strncmp(spec, "postgres://", 11) == 0 || strchr(spec, '=') != NULL) {
		s->backend = STORE_PG;
		s->drv = &store_driver_pg;
	} else {
		err_set(e, ERR_REFUSED,
			"store: %s: not sqlite:PATH nor a PostgreSQL connection string",
			store_esc(esc, sizeof(esc), spec));
		goto out;
	}
	if (s->drv->open(&s->conn, target, e) == -1)
		goto out;
	if (store_migrate(s, e) == -1)
		goto out;
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

	if ((st = stmt_get(s, SQL_PING, 0, "ping", e)) == NULL)
		goto out;
	if (stmt_step(s, st, "ping", NULL, e) != 1)
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
	if ((st = stmt_get(s, SQL_SCHEMA_VERSION, 0, "schema version", e)) == NULL)
		goto out;
	if (stmt_step(s, st, "schema version", NULL, e) != 1)
		goto out;
	*version = (int)col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		err_set(e, ERR_INTERNAL, "store: schema version: no answer");
	return rc;
}

/* ---- organizations ---- */

int
store_org_add(struct store *s, const char *code, const char *name, const char *const *domains,
	      size_t ndomains, int64_t *id, struct err *e)
{
	struct drv_stmt *st = NULL;
	char esc[128];
	int64_t oid = 0;
	size_t i;
	int rc = -1, own = 0, r;

	if (code == NULL || name == NULL) {
		err_set(e, ERR_INTERNAL, "store: organization without code or name");
		goto out;
	}
	if (tx_enter(s, &own, e) == -1)
		goto out;
	if ((st = stmt_get(s, SQL_ORG_INSERT, 0, "add organization", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, code);
	stmt_text(s, st, 2, name);
	stmt_int(s, st, 3, (int64_t)util_now());
	if ((r = stmt_step(s, st, "add organization", code, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_CONFLICT, "store: organization %s already exists",
			store_esc(esc, sizeof(esc), code));
		goto out;
	}
	oid = col_int(s, st, 0);
	stmt_reset(s, st);
	st = NULL;
	for (i = 0; i < ndomains; i++) {
		if ((st = stmt_get(s, SQL_ORG_DOMAIN_INSERT, 0, "add organization domain", e)) ==
		    NULL)
			goto out;
		stmt_int(s, st, 1, oid);
		stmt_text(s, st, 2, domains[i]);
		if (stmt_step(s, st, "add organization domain", domains[i], e) == -1)
			goto out;
		stmt_reset(s, st);
		st = NULL;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	rc = tx_leave(s, own, rc, e);
	if (rc == 0 && id != NULL)
		*id = oid;
	return rc;
}

/* Appends a copy of v to the list *l of *n entries (capacity *cap). */
static void
org_list_add(char ***l, size_t *n, size_t *cap, char *v)
{
	array_grow((void **)l, cap, *n, sizeof(**l));
	(*l)[(*n)++] = v;
}

/* Loads the domains and the other names of o (each list sorted). */
static int
org_domains_load(struct store *s, struct store_org *o, struct err *e)
{
	struct drv_stmt *st;
	size_t cap = 0, cm = 0, ci = 0, cu = 0;
	char *kind;
	int rc = -1, r;

	if ((st = stmt_get(s, SQL_ORG_DOMAINS, 0, "organization domains", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, o->id);
	while ((r = stmt_step(s, st, "organization domains of", o->code, e)) == 1)
		org_list_add(&o->domains, &o->ndomains, &cap, col_str(s, st, 0));
	if (r == -1)
		goto out;
	stmt_reset(s, st);
	if ((st = stmt_get(s, SQL_ORG_NAMES, 0, "organization names", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, o->id);
	while ((r = stmt_step(s, st, "organization names of", o->code, e)) == 1) {
		kind = col_str(s, st, 0);
		if (strcmp(kind, "mail") == 0)
			org_list_add(&o->mail_domains, &o->nmail_domains, &cm, col_str(s, st, 1));
		else if (strcmp(kind, "ip") == 0)
			org_list_add(&o->ips, &o->nips, &ci, col_str(s, st, 1));
		else
			org_list_add(&o->uris, &o->nuris, &cu, col_str(s, st, 1));
		free(kind);
	}
	if (r == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Inserts each of the n values v of kind ("domain", or an org_names kind) for org_id. */
static int
org_names_insert(struct store *s, int64_t org_id, const char *kind, char *const *v, size_t n,
		 struct err *e)
{
	struct drv_stmt *st = NULL;
	int dns = strcmp(kind, "domain") == 0;
	size_t i;
	int rc = -1;

	for (i = 0; i < n; i++) {
		if ((st = stmt_get(s, dns ? SQL_ORG_DOMAIN_INSERT : SQL_ORG_NAME_INSERT, 0,
				   "add organization name", e)) == NULL)
			goto out;
		stmt_int(s, st, 1, org_id);
		stmt_text(s, st, 2, dns ? v[i] : kind);
		if (!dns)
			stmt_text(s, st, 3, v[i]);
		if (stmt_step(s, st, "add organization name", v[i], e) == -1)
			goto out;
		stmt_reset(s, st);
		st = NULL;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_org_update(struct store *s, const struct store_org *o, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, own = 0, r;

	if (tx_enter(s, &own, e) == -1)
		goto out;
	if ((st = stmt_get(s, SQL_ORG_UPDATE, 0, "update organization", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, o->id);
	stmt_text(s, st, 2, o->name);
	stmt_int(s, st, 3, o->unrestricted ? 1 : 0);
	if ((r = stmt_step(s, st, "update organization", o->code, e)) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_NOTFOUND, "store: organization #%" PRId64 " not found", o->id);
		goto out;
	}
	stmt_reset(s, st);
	st = NULL;
	if ((st = stmt_get(s, SQL_ORG_DOMAINS_DELETE, 0, "update organization", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, o->id);
	if (stmt_step(s, st, "update organization", o->code, e) == -1)
		goto out;
	stmt_reset(s, st);
	if ((st = stmt_get(s, SQL_ORG_NAMES_DELETE, 0, "update organization", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, o->id);
	if (stmt_step(s, st, "update organization", o->code, e) == -1)
		goto out;
	stmt_reset(s, st);
	st = NULL;
	if (org_names_insert(s, o->id, "domain", o->domains, o->ndomains, e) == -1 ||
	    org_names_insert(s, o->id, "mail", o->mail_domains, o->nmail_domains, e) == -1 ||
	    org_names_insert(s, o->id, "ip", o->ips, o->nips, e) == -1 ||
	    org_names_insert(s, o->id, "uri", o->uris, o->nuris, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return tx_leave(s, own, rc, e);
}

static void
org_row(struct store *s, struct drv_stmt *st, struct store_org *o)
{
	o->id = col_int(s, st, 0);
	o->code = col_str(s, st, 1);
	o->name = col_str(s, st, 2);
	o->created = (time_t)col_int(s, st, 3);
	o->unrestricted = col_int(s, st, 4) != 0;
}

/* One organization by code (code != NULL) or id. */
static int
org_fetch(struct store *s, const char *code, int64_t id, struct store_org *o, struct err *e)
{
	struct drv_stmt *st;
	char esc[128];
	int rc = -1, r;

	memset(o, 0, sizeof(*o));
	if ((st = stmt_get(s, code != NULL ? SQL_ORG_BY_CODE : SQL_ORG_BY_ID, 0, "get organization",
			   e)) == NULL)
		goto out;
	if (code != NULL)
		stmt_text(s, st, 1, code);
	else
		stmt_int(s, st, 1, id);
	if ((r = stmt_step(s, st, "get organization", code, e)) == -1)
		goto out;
	if (r == 0) {
		if (code != NULL)
			err_set(e, ERR_NOTFOUND, "store: organization %s not found",
				store_esc(esc, sizeof(esc), code));
		else
			err_set(e, ERR_NOTFOUND, "store: organization #%" PRId64 " not found", id);
		goto out;
	}
	org_row(s, st, o);
	stmt_reset(s, st);
	st = NULL;
	if (org_domains_load(s, o, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_org_clear(o);
	return rc;
}

int
store_org_get(struct store *s, const char *code, struct store_org *o, struct err *e)
{
	int rc;

	if (code == NULL) {
		memset(o, 0, sizeof(*o));
		rc = err_set(e, ERR_NOTFOUND, "store: organization (none) not found");
	} else {
		rc = org_fetch(s, code, 0, o, e);
	}
	return rc;
}

int
store_org_get_id(struct store *s, int64_t id, struct store_org *o, struct err *e)
{
	return org_fetch(s, NULL, id, o, e);
}

int
store_org_list(struct store *s, struct store_org **out, size_t *nout, struct err *e)
{
	struct drv_stmt *st;
	struct store_org *v = NULL;
	size_t n = 0, cap = 0, i;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = stmt_get(s, SQL_ORG_ALL, 0, "list organizations", e)) == NULL)
		goto out;
	while ((r = stmt_step(s, st, "list organizations", NULL, e)) == 1) {
		array_grow((void **)&v, &cap, n, sizeof(*v));
		org_row(s, st, &v[n++]);
	}
	if (r == -1)
		goto out;
	stmt_reset(s, st);
	st = NULL;
	for (i = 0; i < n; i++)
		if (org_domains_load(s, &v[i], e) == -1)
			goto out;
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	stmt_reset(s, st);
	store_org_list_free(v, n);
	return rc;
}

void
store_org_clear(struct store_org *o)
{
	size_t i;

	if (o == NULL)
		return;
	free(o->code);
	free(o->name);
	for (i = 0; i < o->ndomains; i++)
		free(o->domains[i]);
	free(o->domains);
	for (i = 0; i < o->nmail_domains; i++)
		free(o->mail_domains[i]);
	free(o->mail_domains);
	for (i = 0; i < o->nips; i++)
		free(o->ips[i]);
	free(o->ips);
	for (i = 0; i < o->nuris; i++)
		free(o->uris[i]);
	free(o->uris);
	memset(o, 0, sizeof(*o));
}

void
store_org_list_free(struct store_org *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		store_org_clear(&v[i]);
	free(v);
}

/* ---- tickets ---- */

int
store_ticket_add(struct store *s, int64_t org_id, const char *number, const char *profile,
		 struct err *e)
{
	struct drv_stmt *st = NULL;
	char esc[128];
	int rc = -1, r;

	if (number == NULL || profile == NULL) {
		err_set(e, ERR_INTERNAL, "store: ticket without number or profile");
		goto out;
	}
	if ((r = store_exists(s, SQL_ORG_EXISTS, NULL, org_id, "find organization", e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: organization #%" PRId64 " not found", org_id);
		goto out;
	}
	if ((st = stmt_get(s, SQL_TICKET_INSERT, 0, "add ticket", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, number);
	stmt_int(s, st, 2, org_id);
	stmt_text(s, st, 3, profile);
	stmt_int(s, st, 4, (int64_t)util_now());
	if (stmt_step(s, st, "add ticket", number, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: ticket %s already exists",
			store_esc(esc, sizeof(esc), number));
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

static void
ticket_row(struct store *s, struct drv_stmt *st, struct store_ticket *t)
{
	t->id = col_int(s, st, 0);
	t->number = col_str(s, st, 1);
	t->org_id = col_int(s, st, 2);
	t->org_code = col_str(s, st, 3);
	t->profile = col_str(s, st, 4);
	t->status = col_str(s, st, 5);
	t->cert_serial = col_dup(s, st, 6);
	t->created = (time_t)col_int(s, st, 7);
}

int
store_ticket_get(struct store *s, const char *number, struct store_ticket *t, struct err *e)
{
	struct drv_stmt *st = NULL;
	char esc[128];
	int rc = -1, r;

	memset(t, 0, sizeof(*t));
	if (number == NULL) {
		err_set(e, ERR_NOTFOUND, "store: ticket (none) not found");
		goto out;
	}
	if ((st = stmt_get(s, SQL_TICKET_GET, 0, "get ticket", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, number);
	if ((r = stmt_step(s, st, "get ticket", number, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: ticket %s not found",
			store_esc(esc, sizeof(esc), number));
		goto out;
	}
	ticket_row(s, st, t);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_ticket_list(struct store *s, int64_t org_id, struct store_ticket **out, size_t *nout,
		  struct err *e)
{
	struct drv_stmt *st;
	struct store_ticket *v = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = stmt_get(s, org_id != 0 ? SQL_TICKET_BY_ORG : SQL_TICKET_ALL, 0, "list tickets",
			   e)) == NULL)
		goto out;
	if (org_id != 0)
		stmt_int(s, st, 1, org_id);
	while ((r = stmt_step(s, st, "list tickets", NULL, e)) == 1) {
		array_grow((void **)&v, &cap, n, sizeof(*v));
		ticket_row(s, st, &v[n++]);
	}
	if (r == -1)
		goto out;
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	stmt_reset(s, st);
	store_ticket_list_free(v, n);
	return rc;
}

int
store_ticket_use(struct store *s, const char *number, const char *serial, struct err *e)
{
	struct drv_stmt *st = NULL;
	char ser[STORE_SERIAL_MAX], esc[128];
	int rc = -1, r;

	if (number == NULL) {
		err_set(e, ERR_NOTFOUND, "store: ticket (none) not found");
		goto out;
	}
	if (serial != NULL && serial_norm(serial, ser, e) == -1)
		goto out;
	if ((st = stmt_get(s, SQL_TICKET_USE, 0, "use ticket", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, number);
	stmt_text(s, st, 2, serial != NULL ? ser : NULL);
	if (stmt_step(s, st, "use ticket", number, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		stmt_reset(s, st);
		st = NULL;
		if ((r = store_exists(s, SQL_TICKET_EXISTS, number, 0, "find ticket", e)) == -1)
			goto out;
		err_set(e, r ? ERR_CONFLICT : ERR_NOTFOUND,
			r ? "store: ticket %s already used" : "store: ticket %s not found",
			store_esc(esc, sizeof(esc), number));
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_ticket_clear(struct store_ticket *t)
{
	if (t == NULL)
		return;
	free(t->number);
	free(t->org_code);
	free(t->profile);
	free(t->status);
	free(t->cert_serial);
	memset(t, 0, sizeof(*t));
}

void
store_ticket_list_free(struct store_ticket *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		store_ticket_clear(&v[i]);
	free(v);
}

/* ---- certificates ---- */

/*
 * Inserts one certificate (the hot path of issuance: no allocation, one cached statement, one
 * more when the certificate belongs to an organization).
 */
int
store_cert_insert(struct store *s, const struct store_cert *c, struct err *e)
{
	struct drv_stmt *st = NULL;
	char ser[STORE_SERIAL_MAX];
	int rc = -1, r;

	if (serial_norm(c->serial, ser, e) == -1)
		goto out;
	if (c->ca == NULL || c->subject == NULL || c->profile == NULL) {
		err_set(e, ERR_INTERNAL, "store: certificate %s: missing CA, subject or profile",
			ser);
		goto out;
	}
	if (c->org_id != 0) {
		if ((r = store_exists(s, SQL_ORG_EXISTS, NULL, c->org_id, "find organization",
				      e)) == -1)
			goto out;
		if (r == 0) {
			err_set(e, ERR_NOTFOUND,
				"store: certificate %s: organization #%" PRId64 " not found", ser,
				c->org_id);
			goto out;
		}
	}
	if ((st = stmt_get(s, SQL_CERT_INSERT, 0, "insert certificate", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, ser);
	stmt_text(s, st, 2, c->ca);
	stmt_text(s, st, 3, c->subject);
	stmt_text(s, st, 4, c->sans);
	stmt_text(s, st, 5, c->profile);
	stmt_int_or_null(s, st, 6, c->org_id, 0);
	stmt_int(s, st, 7, (int64_t)c->not_before);
	stmt_int(s, st, 8, (int64_t)c->not_after);
	if (c->status == STORE_CERT_REVOKED) {
		stmt_int(s, st, 9, STORE_CERT_REVOKED);
		stmt_int(s, st, 10, (int64_t)c->revoked_at);
		stmt_int_or_null(s, st, 11, c->reason, -1);
		stmt_int_or_null(s, st, 12, (int64_t)c->invalidity_date, 0);
	} else {
		stmt_int(s, st, 9, STORE_CERT_VALID);
		s->drv->bind_null(st, 10);
		s->drv->bind_null(st, 11);
		s->drv->bind_null(st, 12);
	}
	stmt_text(s, st, 13, c->predecessor);
	stmt_int(s, st, 14, (int64_t)(c->created != 0 ? c->created : util_now()));
	stmt_blob(s, st, 15, c->der, c->derlen);
	if (stmt_step(s, st, "insert certificate", ser, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: certificate %s already exists", ser);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Fills c from a row of CERT_COLS (and der when with_der). */
static void
cert_row(struct store *s, struct drv_stmt *st, struct store_cert *c, int with_der)
{
	const unsigned char *p;
	const char *ser;
	size_t len;

	ser = s->drv->column_text(st, 0);
	snprintf(c->serial, sizeof(c->serial), "%s", ser != NULL ? ser : "");
	c->ca = col_str(s, st, 1);
	c->subject = col_str(s, st, 2);
	c->sans = col_dup(s, st, 3);
	c->profile = col_str(s, st, 4);
	c->org_id = col_int_or(s, st, 5, 0);
	c->not_before = (time_t)col_int(s, st, 6);
	c->not_after = (time_t)col_int(s, st, 7);
	c->status = col_int(s, st, 8) == STORE_CERT_REVOKED ? STORE_CERT_REVOKED : STORE_CERT_VALID;
	c->revoked_at = (time_t)col_int_or(s, st, 9, 0);
	c->reason = (int)col_int_or(s, st, 10, -1);
	c->invalidity_date = (time_t)col_int_or(s, st, 11, 0);
	c->predecessor = col_dup(s, st, 12);
	c->created = (time_t)col_int(s, st, 13);
	if (with_der) {
		p = s->drv->column_blob(st, CERT_COL_DER, &len);
		c->der = xmalloc(len);
		memcpy(c->der, p, len);
		c->derlen = len;
	}
}

int
store_cert_get(struct store *s, const char *serial, struct store_cert *c, struct err *e)
{
	struct drv_stmt *st = NULL;
	char ser[STORE_SERIAL_MAX];
	int rc = -1, r;

	memset(c, 0, sizeof(*c));
	c->reason = -1;
	if (serial_norm(serial, ser, e) == -1)
		goto out;
	if ((st = stmt_get(s, SQL_CERT_GET, 0, "get certificate", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, ser);
	if ((r = stmt_step(s, st, "get certificate", ser, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: certificate %s not found", ser);
		goto out;
	}
	cert_row(s, st, c, 1);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/*
 * The SQL of a certificate list for the filter; the same walk over the filter binds the
 * parameters in cert_list_bind().  At most 2^6 texts, each prepared once.
 */
static int
cert_list_sql(struct store *s, const struct store_cert_filter *f, struct buf *q)
{
	int n = 0, bad = 0;

	bad |= buf_printf(q, "SELECT " CERT_COLS " FROM certificates WHERE 1 = 1");
	if (f->status >= 0)
		bad |= buf_printf(q, " AND status = $%d", ++n);
	if (f->org_id != 0)
		bad |= buf_printf(q, " AND org_id = $%d", ++n);
	if (f->ca != NULL)
		bad |= buf_printf(q, " AND ca = $%d", ++n);
	if (f->expiring_before != 0)
		bad |= buf_printf(q, " AND not_after < $%d", ++n);
	if (f->subject_substr != NULL)
		bad |= buf_printf(q, " AND %s(subject, $%d) > 0",
				  s->backend == STORE_PG ? "strpos" : "instr", ++n);
	if (f->not_after_min != 0)
		bad |= buf_printf(q, " AND not_after >= $%d", ++n);
	bad |= buf_printf(q, " ORDER BY created, serial LIMIT $%d OFFSET $%d", n + 1, n + 2);
	return bad != 0 || buf_cstr(q) == NULL ? -1 : 0;
}

static void
cert_list_bind(struct store *s, struct drv_stmt *st, const struct store_cert_filter *f)
{
	int n = 0;

	if (f->status >= 0)
		stmt_int(s, st, ++n, f->status);
	if (f->org_id != 0)
		stmt_int(s, st, ++n, f->org_id);
	if (f->ca != NULL)
		stmt_text(s, st, ++n, f->ca);
	if (f->expiring_before != 0)
		stmt_int(s, st, ++n, (int64_t)f->expiring_before);
	if (f->subject_substr != NULL)
		stmt_text(s, st, ++n, f->subject_substr);
	if (f->not_after_min != 0)
		stmt_int(s, st, ++n, (int64_t)f->not_after_min);
	stmt_int(s, st, ++n,
		 f->limit == 0 || f->limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)f->limit);
	stmt_int(s, st, ++n, f->offset > (size_t)INT64_MAX ? INT64_MAX : (int64_t)f->offset);
}

int
store_cert_list(struct store *s, const struct store_cert_filter *filter, struct store_cert **out,
		size_t *nout, struct err *e)
{
	static const struct store_cert_filter any = {.status = -1};
	const struct store_cert_filter *f = filter != NULL ? filter : &any;
	struct drv_stmt *st = NULL;
	struct store_cert *v = NULL;
	struct buf q;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	buf_init(&q, 4096);
	if (cert_list_sql(s, f, &q) == -1) {
		err_set(e, ERR_INTERNAL, "store: list certificates: query too long");
		goto out;
	}
	if ((st = stmt_get(s, (const char *)q.data, 0, "list certificates", e)) == NULL)
		goto out;
	cert_list_bind(s, st, f);
	while ((r = stmt_step(s, st, "list certificates", NULL, e)) == 1) {
		array_grow((void **)&v, &cap, n, sizeof(*v));
		cert_row(s, st, &v[n++], 0);
	}
	if (r == -1)
		goto out;
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	stmt_reset(s, st);
	buf_free(&q);
	store_cert_list_free(v, n);
	return rc;
}

/* One conditional UPDATE; only when it changed nothing, a lookup tells why. */
int
store_cert_revoke(struct store *s, const char *serial, time_t when, int reason,
		  time_t invalidity_date, struct err *e)
{
	struct drv_stmt *st = NULL;
	char ser[STORE_SERIAL_MAX];
	int rc = -1, r;

	if (serial_norm(serial, ser, e) == -1)
		goto out;
	if ((st = stmt_get(s, SQL_CERT_REVOKE, 0, "revoke certificate", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, ser);
	stmt_int(s, st, 2, (int64_t)when);
	stmt_int_or_null(s, st, 3, reason, -1);
	stmt_int_or_null(s, st, 4, (int64_t)invalidity_date, 0);
	if (stmt_step(s, st, "revoke certificate", ser, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		stmt_reset(s, st);
		st = NULL;
		if ((r = store_exists(s, SQL_CERT_EXISTS, ser, 0, "find certificate", e)) == -1)
			goto out;
		if (r)
			err_set(e, ERR_CONFLICT, "store: certificate %s already revoked", ser);
		else
			err_set(e, ERR_NOTFOUND, "store: certificate %s not found", ser);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_cert_count(struct store *s, int status, int64_t *n, struct err *e)
{
	struct drv_stmt *st;
	int rc = -1;

	*n = 0;
	if ((st = stmt_get(s, status < 0 ? SQL_CERT_COUNT_ALL : SQL_CERT_COUNT, 0,
			   "count certificates", e)) == NULL)
		goto out;
	if (status >= 0)
		stmt_int(s, st, 1, status);
	if (stmt_step(s, st, "count certificates", NULL, e) != 1)
		goto out;
	*n = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		err_set(e, ERR_INTERNAL, "store: count certificates: no answer");
	return rc;
}

void
store_cert_clear(struct store_cert *c)
{
	if (c == NULL)
		return;
	free(c->ca);
	free(c->subject);
	free(c->sans);
	free(c->profile);
	free(c->predecessor);
	free(c->der);
	memset(c, 0, sizeof(*c));
	c->reason = -1;
}

void
store_cert_list_free(struct store_cert *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		store_cert_clear(&v[i]);
	free(v);
}

/* Streams the revoked certificates of a CA in serial order; rows are not copied. */
int
store_revoked_foreach(struct store *s, const char *ca, time_t since,
		      int (*cb)(void *, const struct store_revoked *), void *arg, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct store_revoked r;
	int rc = -1, step;

	if (ca == NULL) {
		err_set(e, ERR_INTERNAL, "store: revoked certificates: no CA given");
		goto out;
	}
	if ((st = stmt_get(s, since > 0 ? SQL_REVOKED : SQL_REVOKED_ALL, DRV_STREAM,
			   "revoked certificates", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, ca);
	if (since > 0)
		stmt_int(s, st, 2, (int64_t)since);
	while ((step = stmt_step(s, st, "revoked certificates of", ca, e)) == 1) {
		r.serial = s->drv->column_text(st, 0);
		if (r.serial == NULL)
			r.serial = "";
		r.revoked_at = (time_t)col_int(s, st, 1);
		r.reason = (int)col_int_or(s, st, 2, -1);
		r.invalidity_date = (time_t)col_int_or(s, st, 3, 0);
		if ((rc = cb(arg, &r)) != 0)
			goto out;
	}
	if (step == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* ---- CRLs ---- */

int
store_crl_next_number(struct store *s, const char *ca, int64_t *number, struct err *e)
{
	char *name = NULL;
	int rc = -1;

	*number = 0;
	if (ca == NULL) {
		err_set(e, ERR_INTERNAL, "store: CRL number: no CA given");
		goto out;
	}
	name = xasprintf("crl.%s", ca);
	if (store_counter_add(s, name, 1, number, e) == -1)
		goto out;
	rc = 0;
out:
	free(name);
	return rc;
}

int
store_crl_put(struct store *s, const struct store_crl *c, struct err *e)
{
	struct drv_stmt *st = NULL;
	char esc[128];
	int rc = -1, fill;

	if (c->ca == NULL) {
		err_set(e, ERR_INTERNAL, "store: CRL without CA");
		goto out;
	}
	fill = s->drv->blob_fill_last != NULL && c->derlen > (1u << 20);
	if ((st = stmt_get(s, fill ? SQL_CRL_INSERT_ZERO : SQL_CRL_INSERT, 0, "store CRL", e)) ==
	    NULL)
		goto out;
	stmt_text(s, st, 1, c->ca);
	stmt_int(s, st, 2, c->number);
	stmt_int(s, st, 3, c->delta ? 1 : 0);
	stmt_int_or_null(s, st, 4, c->delta ? c->base_number : 0, 0);
	stmt_int(s, st, 5, (int64_t)c->this_update);
	stmt_int(s, st, 6, (int64_t)c->next_update);
	if (fill)
		stmt_int(s, st, 7, (int64_t)c->derlen);
	else
		stmt_blob(s, st, 7, c->der, c->derlen);
	stmt_int(s, st, 8, (int64_t)util_now());
	if (stmt_step(s, st, "store CRL of", c->ca, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: CRL number %" PRId64 " of CA %s already exists",
			c->number, store_esc(esc, sizeof(esc), c->ca));
		goto out;
	}
	if (fill) {
		struct err de;

		err_clear(&de);
		if (s->drv->blob_fill_last(s->conn, "crls", "der", c->der, c->derlen, &de) == -1) {
			err_set(e, ERR_INTERNAL, "store: store CRL of %s: %s",
				store_esc(esc, sizeof(esc), c->ca), de.msg);
			goto out;
		}
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* The newest CRL; with_der = 0 leaves der NULL (a full CRL can be tens of megabytes). */
static int
store_crl_latest_x(struct store *s, const char *ca, int delta, int with_der, struct store_crl *c,
		   struct err *e)
{
	struct drv_stmt *st = NULL;
	const unsigned char *p;
	char esc[128];
	size_t len;
	int rc = -1, r;

	memset(c, 0, sizeof(*c));
	if (ca == NULL) {
		err_set(e, ERR_INTERNAL, "store: latest CRL: no CA given");
		goto out;
	}
	if ((st = stmt_get(s, with_der ? SQL_CRL_LATEST : SQL_CRL_LATEST_INFO, 0, "latest CRL",
			   e)) == NULL)
		goto out;
	stmt_text(s, st, 1, ca);
	stmt_int(s, st, 2, delta ? 1 : 0);
	if ((r = stmt_step(s, st, "latest CRL of", ca, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no %s CRL of CA %s", delta ? "delta" : "full",
			store_esc(esc, sizeof(esc), ca));
		goto out;
	}
	c->ca = col_str(s, st, 0);
	c->number = col_int(s, st, 1);
	c->delta = col_int(s, st, 2) != 0;
	c->base_number = col_int_or(s, st, 3, 0);
	c->this_update = (time_t)col_int(s, st, 4);
	c->next_update = (time_t)col_int(s, st, 5);
	if (with_der) {
		p = s->drv->column_blob(st, 6, &len);
		c->der = xmalloc(len);
		memcpy(c->der, p, len);
		c->derlen = len;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_crl_clear(c);
	return rc;
}

int
store_crl_latest(struct store *s, const char *ca, int delta, struct store_crl *c, struct err *e)
{
	return store_crl_latest_x(s, ca, delta, 1, c, e);
}

int
store_crl_latest_info(struct store *s, const char *ca, int delta, struct store_crl *c,
		      struct err *e)
{
	return store_crl_latest_x(s, ca, delta, 0, c, e);
}

void
store_crl_clear(struct store_crl *c)
{
	if (c == NULL)
		return;
	free(c->ca);
	free(c->der);
	memset(c, 0, sizeof(*c));
}

/* ---- audit chain ---- */

static void
put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

/* SHA-256 over prev || seq (8 BE) || ts (8 BE) || (len (4 BE) || bytes) of the four texts. */
void
store_audit_hash(const struct store_audit *a, unsigned char out[STORE_HASH_LEN])
{
	const char *field[4];
	unsigned char num[8];
	EVP_MD_CTX *ctx;
	size_t i, len;
	int ok;

	field[0] = a->actor;
	field[1] = a->action;
	field[2] = a->object;
	field[3] = a->detail;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("store: audit hash: out of memory");
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, a->prev, STORE_HASH_LEN);
	put_be64(num, (uint64_t)a->seq);
	ok = ok && EVP_DigestUpdate(ctx, num, 8);
	put_be64(num, (uint64_t)(int64_t)a->ts);
	ok = ok && EVP_DigestUpdate(ctx, num, 8);
	for (i = 0; i < 4; i++) {
		len = field[i] != NULL ? strlen(field[i]) : 0;
		if (len > UINT32_MAX)
			fatalx("store: audit hash: field of %zu bytes", len);
		put_be64(num, (uint64_t)len);
		ok = ok && EVP_DigestUpdate(ctx, num + 4, 4);
		if (len > 0)
			ok = ok && EVP_DigestUpdate(ctx, field[i], len);
	}
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		fatalx("store: audit hash: SHA-256 failed");
}

/* Reads (seq, hash) of the head row; lock holds it for the transaction (PostgreSQL). */
static int
audit_head_read(struct store *s, int lock, int64_t *seq, unsigned char hash[STORE_HASH_LEN],
		struct err *e)
{
	struct drv_stmt *st;
	const unsigned char *p;
	size_t len;
	int rc = -1, r;

	*seq = 0;
	if ((st = stmt_get(s, lock && s->backend == STORE_PG ? SQL_AUDIT_HEAD_LOCK : SQL_AUDIT_HEAD,
			   0, "audit head", e)) == NULL)
		goto out;
	if ((r = stmt_step(s, st, "audit head", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_INTERNAL, "store: audit head row is missing");
		goto out;
	}
	*seq = col_int(s, st, 0);
	p = s->drv->column_blob(st, 1, &len);
	if (len != STORE_HASH_LEN) {
		err_set(e, ERR_INTERNAL, "store: audit head hash is %zu bytes, not %d", len,
			STORE_HASH_LEN);
		goto out;
	}
	memcpy(hash, p, STORE_HASH_LEN);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Writes the transaction's audit head back (store_commit() calls it). */
static int
audit_head_write(struct store *s, struct err *e)
{
	struct drv_stmt *st;
	int rc = -1;

	if ((st = stmt_get(s, SQL_AUDIT_HEAD_SET, 0, "move audit head", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, s->head_seq);
	stmt_blob(s, st, 2, s->head_hash, STORE_HASH_LEN);
	if (stmt_step(s, st, "move audit head", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) != 1) {
		err_set(e, ERR_INTERNAL, "store: audit head row is missing");
		goto out;
	}
	s->head_dirty = 0;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Appends one entry; the head is read once per transaction and written at commit. */
int
store_audit_append(struct store *s, const char *actor, const char *action, const char *object,
		   const char *detail, int64_t *seq_out, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct store_audit a;
	int rc = -1, own = 0;

	memset(&a, 0, sizeof(a));
	if (actor == NULL || action == NULL || object == NULL) {
		err_set(e, ERR_INTERNAL, "store: audit entry without actor, action or object");
		goto out;
	}
	if (tx_enter(s, &own, e) == -1)
		goto out;
	if (!s->head_known) {
		if (audit_head_read(s, 1, &s->head_seq, s->head_hash, e) == -1)
			goto out;
		s->head_known = 1;
	}
	a.seq = s->head_seq + 1;
	memcpy(a.prev, s->head_hash, STORE_HASH_LEN);
	a.ts = util_now();
	a.actor = (char *)actor;
	a.action = (char *)action;
	a.object = (char *)object;
	a.detail = (char *)(detail != NULL ? detail : "");
	store_audit_hash(&a, a.hash);
	if ((st = stmt_get(s, SQL_AUDIT_INSERT, 0, "append audit entry", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, a.seq);
	stmt_int(s, st, 2, (int64_t)a.ts);
	stmt_text(s, st, 3, a.actor);
	stmt_text(s, st, 4, a.action);
	stmt_text(s, st, 5, a.object);
	stmt_text(s, st, 6, a.detail);
	stmt_blob(s, st, 7, a.prev, STORE_HASH_LEN);
	stmt_blob(s, st, 8, a.hash, STORE_HASH_LEN);
	if (stmt_step(s, st, "append audit entry", action, e) == -1)
		goto out;
	s->head_seq = a.seq;
	memcpy(s->head_hash, a.hash, STORE_HASH_LEN);
	s->head_dirty = 1;
	rc = 0;
out:
	stmt_reset(s, st);
	rc = tx_leave(s, own, rc, e);
	if (rc == 0 && seq_out != NULL)
		*seq_out = a.seq;
	return rc;
}

/* Copies a 32-byte hash column; -1 when it has another length. */
static int
audit_hash_col(struct store *s, struct drv_stmt *st, int col, unsigned char out[STORE_HASH_LEN])
{
	const unsigned char *p;
	size_t len;
	int rc = -1;

	p = s->drv->column_blob(st, col, &len);
	if (len == STORE_HASH_LEN) {
		memcpy(out, p, STORE_HASH_LEN);
		rc = 0;
	}
	return rc;
}

int
store_audit_foreach(struct store *s, int (*cb)(void *, const struct store_audit *), void *arg,
		    struct err *e)
{
	struct drv_stmt *st;
	struct store_audit a;
	int rc = -1, step;

	memset(&a, 0, sizeof(a));
	if ((st = stmt_get(s, SQL_AUDIT_ALL, DRV_STREAM, "audit log", e)) == NULL)
		goto out;
	while ((step = stmt_step(s, st, "audit log", NULL, e)) == 1) {
		a.seq = col_int(s, st, 0);
		a.ts = (time_t)col_int(s, st, 1);
		a.actor = col_str(s, st, 2);
		a.action = col_str(s, st, 3);
		a.object = col_str(s, st, 4);
		a.detail = col_str(s, st, 5);
		if (audit_hash_col(s, st, 6, a.prev) == -1 ||
		    audit_hash_col(s, st, 7, a.hash) == -1) {
			rc = err_set(e, ERR_INTERNAL,
				     "store: audit entry %" PRId64 ": hash is not %d bytes", a.seq,
				     STORE_HASH_LEN);
			goto out;
		}
		rc = cb(arg, &a);
		store_audit_clear(&a);
		if (rc != 0)
			goto out;
	}
	if (step == -1) {
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	store_audit_clear(&a);
	stmt_reset(s, st);
	return rc;
}

/* Inside a transaction that appended, the head is the one not yet written back. */
int
store_audit_head(struct store *s, int64_t *seq, unsigned char hash[STORE_HASH_LEN], struct err *e)
{
	int rc = 0;

	if (s->in_tx && s->head_known) {
		*seq = s->head_seq;
		memcpy(hash, s->head_hash, STORE_HASH_LEN);
	} else {
		rc = audit_head_read(s, 0, seq, hash, e);
	}
	return rc;
}

void
store_audit_clear(struct store_audit *a)
{
	if (a == NULL)
		return;
	free(a->actor);
	free(a->action);
	free(a->object);
	free(a->detail);
	memset(a, 0, sizeof(*a));
}

/* ---- API keys ---- */

/* Checks an API key id: 1..32 characters of [A-Za-z0-9]. */
static int
apikey_id_check(const char *id, struct err *e)
{
	char esc[128];
	size_t i, n;

	n = id != NULL ? strlen(id) : 0;
	for (i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			break;
	}
	if (n == 0 || n >= STORE_APIKEY_ID_MAX || i != n)
		return err_set(e, ERR_NOTFOUND, "store: API key %s not found",
			       store_esc(esc, sizeof(esc), id));
	return 0;
}

int
store_apikey_add(struct store *s, const struct store_apikey *k, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct err ie;
	int rc = -1, r;

	err_clear(&ie);
	if (apikey_id_check(k->id, &ie) == -1) {
		err_set(e, ERR_INTERNAL, "store: API key id is not 1 to %d letters and digits",
			STORE_APIKEY_ID_MAX - 1);
		goto out;
	}
	if ((r = store_exists(s, SQL_ORG_EXISTS, NULL, k->org_id, "find organization", e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: organization #%" PRId64 " not found", k->org_id);
		goto out;
	}
	if ((st = stmt_get(s, SQL_APIKEY_INSERT, 0, "add API key", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, k->id);
	stmt_int(s, st, 2, k->org_id);
	stmt_text(s, st, 3, k->name != NULL ? k->name : "");
	stmt_blob(s, st, 4, k->hash, STORE_HASH_LEN);
	stmt_int(s, st, 5, k->disabled ? 1 : 0);
	stmt_int(s, st, 6, (int64_t)(k->created != 0 ? k->created : util_now()));
	if (stmt_step(s, st, "add API key", k->id, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: API key %s already exists", k->id);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Fills k from a row of APIKEY_COLS; -1 when the stored hash has the wrong length. */
static int
apikey_row(struct store *s, struct drv_stmt *st, struct store_apikey *k, struct err *e)
{
	const unsigned char *p;
	const char *id;
	size_t len = 0;

	id = s->drv->column_text(st, 0);
	snprintf(k->id, sizeof(k->id), "%s", id != NULL ? id : "");
	k->org_id = col_int(s, st, 1);
	k->org_code = col_str(s, st, 2);
	k->name = col_str(s, st, 3);
	p = s->drv->column_blob(st, 4, &len);
	if (p == NULL || len != STORE_HASH_LEN)
		return err_set(e, ERR_INTERNAL, "store: API key %s: stored hash has %zu bytes",
			       k->id, len);
	memcpy(k->hash, p, STORE_HASH_LEN);
	k->disabled = col_int(s, st, 5) != 0;
	k->created = (time_t)col_int(s, st, 6);
	k->last_used = (time_t)col_int_or(s, st, 7, 0);
	return 0;
}

int
store_apikey_get(struct store *s, const char *id, struct store_apikey *k, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(k, 0, sizeof(*k));
	if (apikey_id_check(id, e) == -1)
		goto out;
	if ((st = stmt_get(s, SQL_APIKEY_GET, 0, "get API key", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, id);
	if ((r = stmt_step(s, st, "get API key", id, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: API key %s not found", id);
		goto out;
	}
	if (apikey_row(s, st, k, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_apikey_clear(k);
	return rc;
}

int
store_apikey_list(struct store *s, int64_t org_id, struct store_apikey **out, size_t *nout,
		  struct err *e)
{
	struct drv_stmt *st;
	struct store_apikey *v = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = stmt_get(s, org_id != 0 ? SQL_APIKEY_BY_ORG : SQL_APIKEY_ALL, 0, "list API keys",
			   e)) == NULL)
		goto out;
	if (org_id != 0)
		stmt_int(s, st, 1, org_id);
	while ((r = stmt_step(s, st, "list API keys", NULL, e)) == 1) {
		array_grow((void **)&v, &cap, n, sizeof(*v));
		if (apikey_row(s, st, &v[n++], e) == -1)
			goto out;
	}
	if (r == -1)
		goto out;
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	stmt_reset(s, st);
	store_apikey_list_free(v, n);
	return rc;
}

int
store_apikey_set_disabled(struct store *s, const char *id, int disabled, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if (apikey_id_check(id, e) == -1)
		goto out;
	if ((st = stmt_get(s, SQL_APIKEY_DISABLE, 0, "disable API key", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, id);
	stmt_int(s, st, 2, disabled ? 1 : 0);
	if (stmt_step(s, st, "disable API key", id, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_NOTFOUND, "store: API key %s not found", id);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_apikey_touch(struct store *s, const char *id, time_t when, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if (apikey_id_check(id, e) == -1)
		goto out;
	if ((st = stmt_get(s, SQL_APIKEY_TOUCH, 0, "touch API key", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, id);
	stmt_int(s, st, 2, (int64_t)when);
	if (stmt_step(s, st, "touch API key", id, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_apikey_clear(struct store_apikey *k)
{
	if (k == NULL)
		return;
	free(k->org_code);
	free(k->name);
	memset(k, 0, sizeof(*k));
}

void
store_apikey_list_free(struct store_apikey *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		store_apikey_clear(&v[i]);
	free(v);
}

/* ---- outgoing mail queue (0006) ---- */

static const char SQL_MAIL_INSERT[] =
    "INSERT INTO mail_queue (sender, recipient, message, status, attempts, next_attempt, "
    "created) VALUES ($1, $2, $3, 'queued', 0, $4, $4) RETURNING id";
static const char SQL_MAIL_DUE[] =
    "SELECT id FROM mail_queue WHERE status = 'queued' AND next_attempt <= $1 "
    "AND (locked_until IS NULL OR locked_until < $1) ORDER BY next_attempt, id LIMIT $2";
/* the claim: wins only when nobody else locked the row in the meantime */
static const char SQL_MAIL_LOCK[] =
    "UPDATE mail_queue SET locked_until = $2, attempts = attempts + 1 "
    "WHERE id = $1 AND status = 'queued' AND (locked_until IS NULL OR locked_until < $3)";
#define MAIL_COLS                                                                                  \
	"SELECT id, sender, recipient, message, status, attempts, next_attempt, created, "         \
	"last_error FROM mail_queue"
static const char SQL_MAIL_GET[] = MAIL_COLS " WHERE id = $1";
static const char SQL_MAIL_SENT[] =
    "UPDATE mail_queue SET status = 'sent', message = '', locked_until = NULL, done_at = $2 "
    "WHERE id = $1 AND status = 'queued'";
static const char SQL_MAIL_RETRY[] =
    "UPDATE mail_queue SET next_attempt = $2, last_error = $3, locked_until = NULL "
    "WHERE id = $1 AND status = 'queued'";
static const char SQL_MAIL_FAIL[] =
    "UPDATE mail_queue SET status = 'failed', message = '', locked_until = NULL, "
    "done_at = $2, last_error = $3 WHERE id = $1 AND status = 'queued'";
static const char SQL_MAIL_COUNT_ALL[] = "SELECT COUNT(*) FROM mail_queue";
static const char SQL_MAIL_COUNT[] = "SELECT COUNT(*) FROM mail_queue WHERE status = $1";

static const char *const mail_status_names[] = {"queued", "sent", "failed"};

int
store_mail_enqueue(struct store *s, const char *sender, const char *recipient, const char *message,
		   time_t now, int64_t *id, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if (id != NULL)
		*id = 0;
	if (sender == NULL || recipient == NULL || message == NULL) {
		err_set(e, ERR_INTERNAL, "store: mail without sender, recipient or message");
		goto out;
	}
	if ((st = stmt_get(s, SQL_MAIL_INSERT, 0, "enqueue mail", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, sender);
	stmt_text(s, st, 2, recipient);
	stmt_text(s, st, 3, message);
	stmt_int(s, st, 4, (int64_t)now);
	if (stmt_step(s, st, "enqueue mail to", recipient, e) != 1) {
		err_set(e, ERR_INTERNAL, "store: enqueue mail: no id returned");
		goto out;
	}
	if (id != NULL)
		*id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == 0) {
		s->mail_queued = 1;
		if (!s->in_tx) /* committed by itself */
			store_mail_kick(s);
	}
	return rc;
}

/* Reads the current row into m (cleared first). */
static int
mail_row(struct store *s, struct drv_stmt *st, struct store_mail *m)
{
	const char *status = s->drv->column_text(st, 4);
	size_t i;

	memset(m, 0, sizeof(*m));
	m->id = col_int(s, st, 0);
	m->sender = col_str(s, st, 1);
	m->recipient = col_str(s, st, 2);
	m->message = col_str(s, st, 3);
	m->status = STORE_MAIL_QUEUED;
	for (i = 0; i < sizeof(mail_status_names) / sizeof(mail_status_names[0]); i++)
		if (status != NULL && strcmp(status, mail_status_names[i]) == 0)
			m->status = (enum store_mail_status)i;
	m->attempts = col_int(s, st, 5);
	m->next_attempt = (time_t)col_int(s, st, 6);
	m->created = (time_t)col_int(s, st, 7);
	m->last_error = col_dup(s, st, 8);
	return 0;
}

int
store_mail_get(struct store *s, int64_t id, struct store_mail *m, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(m, 0, sizeof(*m));
	if ((st = stmt_get(s, SQL_MAIL_GET, 0, "get mail", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	if ((r = stmt_step(s, st, "get mail", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: mail %" PRId64 " not found", id);
		goto out;
	}
	mail_row(s, st, m);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_mail_claim(struct store *s, time_t now, time_t lock_until, size_t max,
		 struct store_mail **out, size_t *nout, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct store_mail *v = NULL;
	int64_t *ids = NULL;
	size_t nids = 0, capids = 0, n = 0, cap = 0, i;
	int rc = -1, r, own = 0;

	*out = NULL;
	*nout = 0;
	if (max == 0)
		max = 1;
	/* the candidates first (the statement must be finished before the UPDATEs) */
	if ((st = stmt_get(s, SQL_MAIL_DUE, 0, "claim mail", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, (int64_t)now);
	stmt_int(s, st, 2, (int64_t)(max > INT32_MAX ? INT32_MAX : max));
	while ((r = stmt_step(s, st, "claim mail", NULL, e)) == 1) {
		array_grow((void **)&ids, &capids, nids, sizeof(*ids));
		ids[nids++] = col_int(s, st, 0);
	}
	if (r == -1)
		goto out;
	stmt_reset(s, st);
	st = NULL;
	/* all the claims in one transaction: one durable commit per run, not one per mail */
	if (nids > 0 && tx_enter(s, &own, e) == -1)
		goto out;
	for (i = 0; i < nids; i++) {
		if ((st = stmt_get(s, SQL_MAIL_LOCK, 0, "claim mail", e)) == NULL)
			goto out;
		stmt_int(s, st, 1, ids[i]);
		stmt_int(s, st, 2, (int64_t)lock_until);
		stmt_int(s, st, 3, (int64_t)now);
		if (stmt_step(s, st, "claim mail", NULL, e) == -1)
			goto out;
		r = s->drv->changes(st) == 1;
		stmt_reset(s, st);
		st = NULL;
		if (!r)
			continue; /* another sender won it */
		array_grow((void **)&v, &cap, n, sizeof(*v));
		if (store_mail_get(s, ids[i], &v[n], e) == -1)
			goto out;
		n++;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	if (nids > 0)
		rc = tx_leave(s, own, rc, e);
	if (rc == 0) {
		*out = v;
		*nout = n;
		v = NULL;
	}
	store_mail_list_free(v, n);
	free(ids);
	return rc;
}

/* Runs one of the conditional state changes; ERR_NOTFOUND when the message is not queued. */
static int
mail_update(struct store *s, const char *sql, int64_t id, int64_t t, const char *error,
	    int with_error, const char *what, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = stmt_get(s, sql, 0, what, e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_int(s, st, 2, t);
	if (with_error)
		stmt_text(s, st, 3, error);
	if (stmt_step(s, st, what, NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_NOTFOUND, "store: %s: mail %" PRId64 " is not queued", what, id);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_mail_sent(struct store *s, int64_t id, time_t when, struct err *e)
{
	return mail_update(s, SQL_MAIL_SENT, id, (int64_t)when, NULL, 0, "mark mail sent", e);
}

int
store_mail_retry(struct store *s, int64_t id, time_t next, const char *error, struct err *e)
{
	return mail_update(s, SQL_MAIL_RETRY, id, (int64_t)next, error, 1, "reschedule mail", e);
}

int
store_mail_fail(struct store *s, int64_t id, time_t when, const char *error, struct err *e)
{
	return mail_update(s, SQL_MAIL_FAIL, id, (int64_t)when, error != NULL ? error : "", 1,
			   "mark mail failed", e);
}

int
store_mail_count(struct store *s, int status, int64_t *n, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	*n = 0;
	if (status >= (int)(sizeof(mail_status_names) / sizeof(mail_status_names[0]))) {
		err_set(e, ERR_INTERNAL, "store: count mail: bad status %d", status);
		goto out;
	}
	if ((st = stmt_get(s, status < 0 ? SQL_MAIL_COUNT_ALL : SQL_MAIL_COUNT, 0, "count mail",
			   e)) == NULL)
		goto out;
	if (status >= 0)
		stmt_text(s, st, 1, mail_status_names[status]);
	if (stmt_step(s, st, "count mail", NULL, e) != 1)
		goto out;
	*n = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_mail_clear(struct store_mail *m)
{
	if (m == NULL)
		return;
	free(m->sender);
	free(m->recipient);
	if (m->message != NULL) {
		/* the text may carry a one-time link */
		OPENSSL_cleanse(m->message, strlen(m->message));
		free(m->message);
	}
	free(m->last_error);
	memset(m, 0, sizeof(*m));
}

void
store_mail_list_free(struct store_mail *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		store_mail_clear(&v[i]);
	free(v);
}

/* ---- CAPTCHAs ---- */

static const char SQL_CAPTCHA_INSERT[] =
    "INSERT INTO captchas (id_hash, answer_hash, purpose, expires) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT DO NOTHING";
static const char SQL_CAPTCHA_TAKE[] =
    "DELETE FROM captchas WHERE id_hash = $1 RETURNING answer_hash, purpose, expires";
static const char SQL_CAPTCHA_PURGE[] = "DELETE FROM captchas WHERE expires < $1";

/*
 * A CAPTCHA row is ephemeral: losing its insert or its deletion to a power cut only means a
 * new image (or, at worst, one more try of an old one), so these single statements outside a
 * transaction commit without waiting for the disk (SQLite synchronous=NORMAL in WAL mode,
 * PostgreSQL synchronous_commit=off); every other write keeps the durable default.  The
 * change is seen at once by every other connection either way.
 */
static void
captcha_lazy(struct store *s, int on)
{
	struct err de;

	if (s->in_tx)
		return;
	err_clear(&de);
	if (s->backend == STORE_PG)
		(void)s->drv->exec(
		    s->conn, on ? "SET synchronous_commit = off" : "SET synchronous_commit = on",
		    &de);
	else
		(void)s->drv->exec(
		    s->conn, on ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL", &de);
	if (err_is_set(&de))
		log_warn("store: CAPTCHA commit mode: %s", de.msg);
}

int
store_captcha_put(struct store *s, const unsigned char id_hash[STORE_HASH_LEN],
		  const unsigned char answer_hash[STORE_HASH_LEN], const char *purpose,
		  time_t expires, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	captcha_lazy(s, 1);
	if ((st = stmt_get(s, SQL_CAPTCHA_INSERT, 0, "put CAPTCHA", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, id_hash, STORE_HASH_LEN);
	stmt_blob(s, st, 2, answer_hash, STORE_HASH_LEN);
	stmt_text(s, st, 3, purpose);
	stmt_int(s, st, 4, (int64_t)expires);
	if (stmt_step(s, st, "put CAPTCHA", purpose, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: CAPTCHA id exists");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	captcha_lazy(s, 0);
	return rc;
}

int
store_captcha_take(struct store *s, const unsigned char id_hash[STORE_HASH_LEN],
		   struct store_captcha *c, struct err *e)
{
	struct drv_stmt *st = NULL;
	const unsigned char *p;
	size_t len = 0;
	int rc = -1, r;

	memset(c, 0, sizeof(*c));
	captcha_lazy(s, 1);
	if ((st = stmt_get(s, SQL_CAPTCHA_TAKE, 0, "take CAPTCHA", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, id_hash, STORE_HASH_LEN);
	if ((r = stmt_step(s, st, "take CAPTCHA", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: CAPTCHA not found");
		goto out;
	}
	p = s->drv->column_blob(st, 0, &len);
	if (p == NULL || len != STORE_HASH_LEN) {
		err_set(e, ERR_INTERNAL, "store: CAPTCHA: answer hash of %zu bytes", len);
		goto out;
	}
	memcpy(c->answer_hash, p, STORE_HASH_LEN);
	c->purpose = col_str(s, st, 1);
	c->expires = (time_t)col_int(s, st, 2);
	rc = 0;
out:
	stmt_reset(s, st);
	captcha_lazy(s, 0);
	if (rc == -1)
		store_captcha_clear(c);
	return rc;
}

int
store_captcha_purge(struct store *s, time_t now, int64_t *n, struct err *e)
{
	return store_purge(s, SQL_CAPTCHA_PURGE, "purge CAPTCHAs", now, n, e);
}

void
store_captcha_clear(struct store_captcha *c)
{
	if (c == NULL)
		return;
	free(c->purpose);
	memset(c, 0, sizeof(*c));
}

/* ---- nonces of signed self-service requests ---- */

static const char SQL_ONLINE_NONCE_INSERT[] =
    "INSERT INTO online_nonces (hash, expires) VALUES ($1, $2) ON CONFLICT DO NOTHING";
static const char SQL_ONLINE_NONCE_PURGE[] = "DELETE FROM online_nonces WHERE expires < $1";

int
store_online_nonce_add(struct store *s, const unsigned char hash[STORE_HASH_LEN], time_t expires,
		       struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = stmt_get(s, SQL_ONLINE_NONCE_INSERT, 0, "add nonce", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	stmt_int(s, st, 2, (int64_t)expires);
	if (stmt_step(s, st, "add nonce", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: nonce seen before");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_online_nonce_purge(struct store *s, time_t now, int64_t *n, struct err *e)
{
	return store_purge(s, SQL_ONLINE_NONCE_PURGE, "purge nonces", now, n, e);
}

/* ---- counters ---- */

static const char SQL_COUNTER_GET[] = "SELECT value FROM counters WHERE name = $1";

int
store_counter_get(struct store *s, const char *name, int64_t *value, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*value = 0;
	if ((st = stmt_get(s, SQL_COUNTER_GET, 0, "counter", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, name);
	if ((r = stmt_step(s, st, "counter", name, e)) == -1)
		goto out;
	if (r == 1)
		*value = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_counter_add(struct store *s, const char *name, int64_t delta, int64_t *value, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	*value = 0;
	if (name == NULL) {
		err_set(e, ERR_INTERNAL, "store: counter without name");
		goto out;
	}
	if ((st = stmt_get(s, SQL_COUNTER_ADD, 0, "counter", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, name);
	stmt_int(s, st, 2, delta);
	if (stmt_step(s, st, "counter", name, e) != 1) {
		err_set(e, ERR_INTERNAL, "store: counter %s: no value returned", name);
		goto out;
	}
	*value = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* ---- applications of the portal and their one-time tokens (0007) ---- */

static const char SQL_APP_INSERT[] =
    "INSERT INTO applications (org_id, ticket, applicant_type, email, state, created, expires) "
    "VALUES ($1, $2, $3, $4, 'registered', $5, $6) RETURNING id";
#define APP_COLS                                                                                   \
	"SELECT a.id, a.org_id, o.code, a.ticket, a.applicant_type, a.email, a.state, a.created, " \
	"a.expires, a.profile, a.subject_email, a.name_kanji, a.name_romaji, a.ou, a.hostnames, "  \
	"a.key_mode, a.password_hash, a.cert_serial, a.predecessor_id, a.submitted, a.issued, "    \
	"a.csr "                                                                                   \
	"FROM applications a JOIN organizations o ON o.id = a.org_id"
static const char SQL_APP_GET[] = APP_COLS " WHERE a.id = $1";
static const char SQL_APP_BY_CODE[] = APP_COLS " WHERE a.cert_code_hash = $1";
static const char SQL_APP_SUBMIT[] =
    "UPDATE applications SET state = $3, profile = $4, subject_email = $5, name_kanji = $6, "
    "name_romaji = $7, ou = $8, hostnames = $9, key_mode = $10, password_hash = $11, "
    "predecessor_id = $12, submitted = $13, csr = $14 WHERE id = $1 AND state = $2";
static const char SQL_APP_ISSUE[] =
    "UPDATE applications SET state = 'issued', cert_serial = $3, cert_code_hash = $4, "
    "issued = $5 WHERE id = $1 AND state = $2";
static const char SQL_DOWNLOAD_PUT[] =
    "INSERT INTO portal_downloads (hash, application_id, data, expires) VALUES ($1, $2, $3, $4)";
static const char SQL_DOWNLOAD_TAKE[] =
    "DELETE FROM portal_downloads WHERE hash = $1 RETURNING data, expires, application_id";
static const char SQL_DOWNLOAD_PURGE[] = "DELETE FROM portal_downloads WHERE expires < $1";
static const char SQL_APP_STATE[] =
    "UPDATE applications SET state = $3 WHERE id = $1 AND state = $2";
static const char SQL_TOKEN_INSERT[] =
    "INSERT INTO tokens (hash, purpose, application_id, expires, used) VALUES ($1, $2, $3, $4, "
    "$5)";
static const char SQL_TOKEN_GET[] =
    "SELECT application_id, expires, used FROM tokens WHERE hash = $1 AND purpose = $2";
static const char SQL_TOKEN_USE[] =
    "UPDATE tokens SET used = $3 WHERE hash = $1 AND purpose = $2 AND used IS NULL";

int
store_app_add(struct store *s, const struct store_app *a, int64_t *id, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	*id = 0;
	if ((st = stmt_get(s, SQL_APP_INSERT, 0, "add application", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, a->org_id);
	stmt_text(s, st, 2, a->ticket);
	stmt_text(s, st, 3, a->applicant_type);
	stmt_text(s, st, 4, a->email);
	stmt_int(s, st, 5, (int64_t)a->created);
	stmt_int(s, st, 6, (int64_t)a->expires);
	if (stmt_step(s, st, "add application for ticket", a->ticket, e) != 1) {
		if (!err_is_set(e))
			err_set(e, ERR_INTERNAL, "store: add application: no id returned");
		goto out;
	}
	*id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Fills a from a row of APP_COLS. */
static void
app_row(struct store *s, struct drv_stmt *st, struct store_app *a)
{
	a->id = col_int(s, st, 0);
	a->org_id = col_int(s, st, 1);
	a->org_code = col_str(s, st, 2);
	a->ticket = col_str(s, st, 3);
	a->applicant_type = col_str(s, st, 4);
	a->email = col_str(s, st, 5);
	a->state = col_str(s, st, 6);
	a->created = (time_t)col_int(s, st, 7);
	a->expires = (time_t)col_int(s, st, 8);
	a->profile = col_dup(s, st, 9);
	a->subject_email = col_dup(s, st, 10);
	a->name_kanji = col_dup(s, st, 11);
	a->name_romaji = col_dup(s, st, 12);
	a->ou = col_dup(s, st, 13);
	a->hostnames = col_dup(s, st, 14);
	a->key_mode = col_dup(s, st, 15);
	a->password_hash = col_dup(s, st, 16);
	a->cert_serial = col_dup(s, st, 17);
	a->predecessor_id = col_int_or(s, st, 18, 0);
	a->submitted = (time_t)col_int_or(s, st, 19, 0);
	a->issued = (time_t)col_int_or(s, st, 20, 0);
	a->csr = col_dup(s, st, 21);
}

int
store_app_get(struct store *s, int64_t id, struct store_app *a, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(a, 0, sizeof(*a));
	if ((st = stmt_get(s, SQL_APP_GET, 0, "get application", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	if ((r = stmt_step(s, st, "get application", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: application %lld not found", (long long)id);
		goto out;
	}
	app_row(s, st, a);
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_app_clear(a);
	return rc;
}

int
store_app_get_by_code(struct store *s, const unsigned char code_hash[STORE_HASH_LEN],
		      struct store_app *a, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(a, 0, sizeof(*a));
	if ((st = stmt_get(s, SQL_APP_BY_CODE, 0, "application by code", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, code_hash, STORE_HASH_LEN);
	if ((r = stmt_step(s, st, "application by code", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no application with this certificate code");
		goto out;
	}
	app_row(s, st, a);
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_app_clear(a);
	return rc;
}

int
store_app_submit(struct store *s, int64_t id, const char *from, const char *to,
		 const struct store_app *a, time_t when, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = stmt_get(s, SQL_APP_SUBMIT, 0, "submit application", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, from);
	stmt_text(s, st, 3, to);
	stmt_text(s, st, 4, a->profile);
	stmt_text(s, st, 5, a->subject_email);
	stmt_text(s, st, 6, a->name_kanji);
	stmt_text(s, st, 7, a->name_romaji);
	stmt_text(s, st, 8, a->ou);
	stmt_text(s, st, 9, a->hostnames);
	stmt_text(s, st, 10, a->key_mode);
	stmt_text(s, st, 11, a->password_hash);
	stmt_int_or_null(s, st, 12, a->predecessor_id, 0);
	stmt_int(s, st, 13, (int64_t)when);
	stmt_text(s, st, 14, a->csr);
	if (stmt_step(s, st, "submit application", to, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: application %lld is not %s", (long long)id, from);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_app_issue(struct store *s, int64_t id, const char *from, const char *serial,
		const unsigned char code_hash[STORE_HASH_LEN], time_t when, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = stmt_get(s, SQL_APP_ISSUE, 0, "issue application", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, from);
	stmt_text(s, st, 3, serial);
	stmt_blob(s, st, 4, code_hash, STORE_HASH_LEN);
	stmt_int(s, st, 5, (int64_t)when);
	if (stmt_step(s, st, "issue application", serial, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: application %lld is not %s", (long long)id, from);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_download_put(struct store *s, const unsigned char hash[STORE_HASH_LEN], int64_t app_id,
		   const void *data, size_t len, time_t expires, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = stmt_get(s, SQL_DOWNLOAD_PUT, 0, "add download", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	stmt_int(s, st, 2, app_id);
	stmt_blob(s, st, 3, data, len);
	stmt_int(s, st, 4, (int64_t)expires);
	if (stmt_step(s, st, "add download", NULL, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_download_take(struct store *s, const unsigned char hash[STORE_HASH_LEN], time_t now,
		    unsigned char **data, size_t *len, int64_t *app_id, struct err *e)
{
	struct drv_stmt *st = NULL;
	const unsigned char *p;
	size_t n = 0;
	int rc = -1, r;

	*data = NULL;
	*len = 0;
	if ((st = stmt_get(s, SQL_DOWNLOAD_TAKE, 0, "take download", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	if ((r = stmt_step(s, st, "take download", NULL, e)) == -1)
		goto out;
	if (r == 0 || (time_t)col_int(s, st, 1) < now) {
		err_set(e, ERR_NOTFOUND, "store: no such download");
		goto out;
	}
	p = s->drv->column_blob(st, 0, &n);
	*data = xmalloc(n > 0 ? n : 1);
	if (n > 0)
		memcpy(*data, p, n);
	*len = n;
	if (app_id != NULL)
		*app_id = col_int(s, st, 2);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_download_purge(struct store *s, time_t now, int64_t *n, struct err *e)
{
	return store_purge(s, SQL_DOWNLOAD_PURGE, "purge downloads", now, n, e);
}

int
store_app_set_state(struct store *s, int64_t id, const char *from, const char *to, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = stmt_get(s, SQL_APP_STATE, 0, "application state", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, from);
	stmt_text(s, st, 3, to);
	if (stmt_step(s, st, "application state", to, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: application %lld is not %s", (long long)id, from);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_app_clear(struct store_app *a)
{
	if (a == NULL)
		return;
	free(a->org_code);
	free(a->ticket);
	free(a->applicant_type);
	free(a->email);
	free(a->state);
	free(a->profile);
	free(a->subject_email);
	free(a->name_kanji);
	free(a->name_romaji);
	free(a->ou);
	free(a->hostnames);
	free(a->key_mode);
	free(a->password_hash);
	free(a->csr);
	free(a->cert_serial);
	memset(a, 0, sizeof(*a));
}

/* A ticket's live applications: not expired, cancelled or rejected (portal step 1). */
static const char SQL_APP_TICKET_LIVE[] =
    "SELECT COUNT(*) FROM applications WHERE ticket = $1 AND expires > $2 "
    "AND state NOT IN ('cancelled', 'expired', 'rejected')";
/* PostgreSQL: holds the ticket's row for the transaction, so that two registrations with one
 * ticket take turns (SQLite's BEGIN IMMEDIATE already serialises writers). */
static const char SQL_TICKET_LOCK[] = "SELECT 1 FROM tickets WHERE number = $1 FOR UPDATE";

int
store_app_ticket_live(struct store *s, const char *ticket, time_t now, int64_t *n, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*n = 0;
	/* only inside a transaction: a lock taken alone would be a write (and a WAL flush) */
	if (s->backend == STORE_PG && s->in_tx) {
		if ((st = stmt_get(s, SQL_TICKET_LOCK, 0, "lock ticket", e)) == NULL)
			goto out;
		stmt_text(s, st, 1, ticket);
		while ((r = stmt_step(s, st, "lock ticket", ticket, e)) == 1)
			;
		if (r == -1)
			goto out;
		stmt_reset(s, st);
	}
	if ((st = stmt_get(s, SQL_APP_TICKET_LIVE, 0, "live applications", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, ticket);
	stmt_int(s, st, 2, (int64_t)now);
	if ((r = stmt_step(s, st, "live applications", ticket, e)) != 1) {
		if (r == 0)
			err_set(e, ERR_INTERNAL, "store: live applications: no row");
		goto out;
	}
	*n = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_token_add(struct store *s, const unsigned char hash[STORE_HASH_LEN], const char *purpose,
		int64_t app_id, time_t expires, time_t used, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = stmt_get(s, SQL_TOKEN_INSERT, 0, "add token", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	stmt_text(s, st, 2, purpose);
	stmt_int_or_null(s, st, 3, app_id, 0);
	stmt_int(s, st, 4, (int64_t)expires);
	stmt_int_or_null(s, st, 5, (int64_t)used, 0);
	if (stmt_step(s, st, "add token", purpose, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_token_get(struct store *s, const unsigned char hash[STORE_HASH_LEN], const char *purpose,
		struct store_token *t, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(t, 0, sizeof(*t));
	if ((st = stmt_get(s, SQL_TOKEN_GET, 0, "get token", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	stmt_text(s, st, 2, purpose);
	if ((r = stmt_step(s, st, "get token", purpose, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: token not found");
		goto out;
	}
	t->app_id = col_int_or(s, st, 0, 0);
	t->expires = (time_t)col_int(s, st, 1);
	t->used = (time_t)col_int_or(s, st, 2, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_token_use(struct store *s, const unsigned char hash[STORE_HASH_LEN], const char *purpose,
		time_t when, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = stmt_get(s, SQL_TOKEN_USE, 0, "use token", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	stmt_text(s, st, 2, purpose);
	stmt_int(s, st, 3, (int64_t)when);
	if (stmt_step(s, st, "use token", purpose, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: token used already or unknown");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* ---- revocation requests of the portal (0010) ---- */

static const char SQL_REVOKE_LOOKUP[] =
    "SELECT a.cert_serial FROM applications a JOIN organizations o ON o.id = a.org_id "
    "JOIN certificates c ON c.serial = a.cert_serial "
    "WHERE o.code = $1 AND a.ticket = $2 AND (lower(a.email) = lower($3) OR "
    "lower(a.subject_email) = lower($3)) ORDER BY a.id DESC LIMIT 1";
static const char SQL_CERT_HOLDER_EMAIL[] =
    "SELECT COALESCE(subject_email, email) FROM applications WHERE cert_serial = $1 "
    "ORDER BY id DESC LIMIT 1";
static const char SQL_REVREQ_INSERT[] =
    "INSERT INTO revocation_requests (serial, reason, email, token_hash, created, expires) "
    "VALUES ($1, $2, $3, $4, $5, $6)";
static const char SQL_REVREQ_GET[] =
    "SELECT id, serial, reason, email, created, expires, done FROM revocation_requests "
    "WHERE token_hash = $1";
static const char SQL_REVREQ_DONE[] =
    "UPDATE revocation_requests SET done = $2 WHERE id = $1 AND done IS NULL";

int
store_revoke_lookup(struct store *s, const char *org_code, const char *ticket, const char *email,
		    char serial[STORE_SERIAL_MAX], struct err *e)
{
	struct drv_stmt *st = NULL;
	char *v = NULL;
	int rc = -1, r;

	serial[0] = '\0';
	if ((st = stmt_get(s, SQL_REVOKE_LOOKUP, 0, "revocation lookup", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, org_code);
	stmt_text(s, st, 2, ticket);
	stmt_text(s, st, 3, email);
	if ((r = stmt_step(s, st, "revocation lookup", NULL, e)) == -1)
		goto out;
	if (r == 0 || (v = col_str(s, st, 0)) == NULL || strlen(v) >= STORE_SERIAL_MAX) {
		err_set(e, ERR_NOTFOUND, "store: no certificate for this ticket and e-mail");
		goto out;
	}
	memcpy(serial, v, strlen(v) + 1);
	rc = 0;
out:
	free(v);
	stmt_reset(s, st);
	return rc;
}

int
store_cert_holder_email(struct store *s, const char *serial, char **email, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*email = NULL;
	if ((st = stmt_get(s, SQL_CERT_HOLDER_EMAIL, 0, "holder e-mail", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, serial);
	if ((r = stmt_step(s, st, "holder e-mail", serial, e)) == -1)
		goto out;
	if (r == 0 || (*email = col_str(s, st, 0)) == NULL) {
		err_set(e, ERR_NOTFOUND, "store: no application behind certificate %s", serial);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_revreq_add(struct store *s, const struct store_revreq *q,
		 const unsigned char token_hash[STORE_HASH_LEN], struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = stmt_get(s, SQL_REVREQ_INSERT, 0, "add revocation request", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, q->serial);
	stmt_int(s, st, 2, q->reason);
	stmt_text(s, st, 3, q->email);
	stmt_blob(s, st, 4, token_hash, STORE_HASH_LEN);
	stmt_int(s, st, 5, (int64_t)q->created);
	stmt_int(s, st, 6, (int64_t)q->expires);
	if (stmt_step(s, st, "add revocation request", q->serial, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_revreq_get(struct store *s, const unsigned char token_hash[STORE_HASH_LEN],
		 struct store_revreq *q, struct err *e)
{
	struct drv_stmt *st = NULL;
	char *v = NULL;
	int rc = -1, r;

	memset(q, 0, sizeof(*q));
	if ((st = stmt_get(s, SQL_REVREQ_GET, 0, "get revocation request", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, token_hash, STORE_HASH_LEN);
	if ((r = stmt_step(s, st, "get revocation request", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: revocation request not found");
		goto out;
	}
	q->id = col_int(s, st, 0);
	if ((v = col_str(s, st, 1)) == NULL || strlen(v) >= STORE_SERIAL_MAX) {
		err_set(e, ERR_INTERNAL, "store: revocation request %lld: bad serial",
			(long long)q->id);
		goto out;
	}
	memcpy(q->serial, v, strlen(v) + 1);
	q->reason = (int)col_int(s, st, 2);
	q->email = col_str(s, st, 3);
	q->created = (time_t)col_int(s, st, 4);
	q->expires = (time_t)col_int(s, st, 5);
	q->done = (time_t)col_int_or(s, st, 6, 0);
	rc = 0;
out:
	free(v);
	stmt_reset(s, st);
	if (rc == -1)
		store_revreq_clear(q);
	return rc;
}

int
store_revreq_done(struct store *s, int64_t id, time_t when, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = stmt_get(s, SQL_REVREQ_DONE, 0, "revocation request done", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_int(s, st, 2, (int64_t)when);
	if (stmt_step(s, st, "revocation request done", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: revocation request %lld was done already",
			(long long)id);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_revreq_clear(struct store_revreq *q)
{
	if (q == NULL)
		return;
	free(q->email);
	memset(q, 0, sizeof(*q));
}

/* ---- re-issue ---- */

static const char SQL_APP_REISSUE[] =
    "INSERT INTO applications (org_id, ticket, applicant_type, email, state, created, expires, "
    "profile, subject_email, name_kanji, name_romaji, ou, hostnames, key_mode, password_hash, "
    "cert_code_hash, predecessor_id, submitted) VALUES ($1, $2, $3, $4, 'approved', $5, $6, $7, "
    "$8, $9, $10, $11, $12, $13, $14, $15, $16, $5) RETURNING id";
static const char SQL_APP_LIST_HOLDER[] =
    APP_COLS " WHERE a.org_id = $1 AND a.cert_serial IS NOT NULL AND (lower(a.email) = "
	     "lower($2) OR lower(a.subject_email) = lower($2)) ORDER BY a.id DESC LIMIT $3";
static const char SQL_TICKET_REASSIGN[] =
    "UPDATE tickets SET cert_serial = $2 WHERE number = $1 AND status = 'used'";

int
store_app_add_reissue(struct store *s, const struct store_app *a,
		      const unsigned char code_hash[STORE_HASH_LEN], int64_t *id, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	*id = 0;
	if ((st = stmt_get(s, SQL_APP_REISSUE, 0, "add re-issue", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, a->org_id);
	stmt_text(s, st, 2, a->ticket);
	stmt_text(s, st, 3, a->applicant_type);
	stmt_text(s, st, 4, a->email);
	stmt_int(s, st, 5, (int64_t)a->created);
	stmt_int(s, st, 6, (int64_t)a->expires);
	stmt_text(s, st, 7, a->profile);
	stmt_text(s, st, 8, a->subject_email);
	stmt_text(s, st, 9, a->name_kanji);
	stmt_text(s, st, 10, a->name_romaji);
	stmt_text(s, st, 11, a->ou);
	stmt_text(s, st, 12, a->hostnames);
	stmt_text(s, st, 13, a->key_mode);
	stmt_text(s, st, 14, a->password_hash);
	stmt_blob(s, st, 15, code_hash, STORE_HASH_LEN);
	stmt_int(s, st, 16, a->predecessor_id);
	if (stmt_step(s, st, "add re-issue for ticket", a->ticket, e) != 1) {
		if (!err_is_set(e))
			err_set(e, ERR_INTERNAL, "store: add re-issue: no id returned");
		goto out;
	}
	*id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_app_list_holder(struct store *s, int64_t org_id, const char *email, size_t max,
		      struct store_app **out, size_t *n, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct store_app *v = NULL;
	size_t cap = 0, k = 0;
	int rc = -1, r;

	*out = NULL;
	*n = 0;
	if ((st = stmt_get(s, SQL_APP_LIST_HOLDER, 0, "holder's applications", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, org_id);
	stmt_text(s, st, 2, email);
	stmt_int(s, st, 3, (int64_t)max);
	while ((r = stmt_step(s, st, "holder's applications", NULL, e)) == 1) {
		array_grow((void **)&v, &cap, k, sizeof(*v));
		memset(&v[k], 0, sizeof(v[k]));
		app_row(s, st, &v[k]);
		k++;
	}
	if (r == -1)
		goto out;
	*out = v;
	*n = k;
	v = NULL;
	k = 0;
	rc = 0;
out:
	stmt_reset(s, st);
	store_app_list_free(v, k);
	return rc;
}

void
store_app_list_free(struct store_app *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_app_clear(&v[i]);
	free(v);
}

int
store_ticket_reassign(struct store *s, const char *number, const char *serial, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = stmt_get(s, SQL_TICKET_REASSIGN, 0, "reassign ticket", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, number);
	stmt_text(s, st, 2, serial);
	if (stmt_step(s, st, "reassign ticket", number, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: ticket %s is not used", number);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}
