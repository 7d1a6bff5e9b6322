/*
 * store_int: shared between the files of the store module only (store.h stays its one public
 * header).  store.c holds the connection, its transactions and migrations, and the statement
 * helpers below; each store_<entity>.c holds one entity's SQL (at its top) and functions.
 *
 * A statement is used as: st = store_stmt_get(), stmt_text()/stmt_int()/... to bind,
 * store_stmt_step() until it returns 0 or -1 (col_*() read a row), stmt_reset(st) always.
 */
#ifndef SHOMEI_STORE_INT_H
#define SHOMEI_STORE_INT_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "driver.h"
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
	/* fault injection (store_fault_set(); tests only) */
	long fault_count; /* statements counted since store_fault_set() */
	long fault_stmt;  /* the number of the statement that fails; 0 none (fires once) */
	int fault_commit; /* the next store_commit() fails (fires once); STORE_FAULT_SYNC: the
			   * next commit is made, and its durability step then fails (deferring:
			   * STORE_FAULT_SYNC + 1 once made, until the next store_sync()) */
	int deferred;	  /* store_defer_sync(): commits are made durable by store_sync() */
	int optimistic;	  /* store_optimistic(): rows whose count matters are sent unanswered */
	/*
	 * An optimistic run's certificates and audit entries on PostgreSQL, not sent yet: they
	 * go as multi-row INSERTs (store_bulk_send) before any other statement, at
	 * store_flush() and at the commit; a rollback drops them.
	 */
	struct store_cert *bulk_cert;
	size_t nbulk_cert, cbulk_cert;
	struct store_audit *bulk_audit;
	size_t nbulk_audit, cbulk_audit;
	int bulk_sending;
};

/*
 * store_open, with the migrations up to version upto only (a reference schema to compare a
 * copy with: store_schema_check).
 */
int store_open_upto(struct store **, const char *spec, int upto, struct err *);

/* ---- statements (store.c) ---- */

/* The cached prepared statement for sql, or NULL with e set. */
struct drv_stmt *store_stmt_get(struct store *, const char *sql, int flags, const char *what,
				struct err *);
/* 1 row, 0 done, -1 error: "store: <what> <obj>: <database message>" (obj may be NULL). */
int store_stmt_step(struct store *, struct drv_stmt *, const char *what, const char *obj,
		    struct err *);
/*
 * Counts one statement about to run; -1 with ERR_INTERNAL "store: injected fault (statement
 * N)" when it is the one store_fault_set() asked to fail, which must then not run.
 * store_stmt_get() calls it for every statement; a write that bypasses statements (the blob
 * fill of a large CRL) calls it itself.
 */
int store_fault_hit(struct store *, struct err *);
/* Runs a one-row query with one text or int parameter: 1 found, 0 not, -1 error. */
int store_exists(struct store *, const char *sql, const char *text, int64_t id, const char *what,
		 struct err *);
/* Runs a "DELETE ... WHERE expires < $1" at now; *n (may be NULL) the rows deleted. */
int store_purge(struct store *, const char *sql, const char *what, time_t now, int64_t *n,
		struct err *);
/* Makes room for one more element in a growing array (zero-filled). */
void store_array_grow(void **v, size_t *cap, size_t n, size_t size);
/* Checks and upper-cases a hex serial (1..40 digits) into out. */
int store_serial_norm(const char *in, char out[STORE_SERIAL_MAX], struct err *);

/* Untrusted text made printable for a message. */
static inline const char *
store_esc(char *dst, size_t n, const char *s)
{
	if (s == NULL)
		s = "(null)";
	return log_escape(dst, n, s, strlen(s));
}

static inline void
stmt_reset(struct store *s, struct drv_stmt *st)
{
	if (st != NULL)
		s->drv->reset(st);
}

static inline void
stmt_text(struct store *s, struct drv_stmt *st, int n, const char *v)
{
	s->drv->bind_text(st, n, v);
}

static inline void
stmt_int(struct store *s, struct drv_stmt *st, int n, int64_t v)
{
	s->drv->bind_int64(st, n, v);
}

/* Binds v, or NULL when v equals none. */
static inline void
stmt_int_or_null(struct store *s, struct drv_stmt *st, int n, int64_t v, int64_t none)
{
	if (v == none)
		s->drv->bind_null(st, n);
	else
		s->drv->bind_int64(st, n, v);
}

static inline void
stmt_blob(struct store *s, struct drv_stmt *st, int n, const void *p, size_t len)
{
	s->drv->bind_blob(st, n, p, len);
}

static inline int64_t
col_int(struct store *s, struct drv_stmt *st, int col)
{
	return s->drv->column_int64(st, col);
}

/* The column as int, or none for SQL NULL. */
static inline int64_t
col_int_or(struct store *s, struct drv_stmt *st, int col, int64_t none)
{
	return s->drv->column_null(st, col) ? none : s->drv->column_int64(st, col);
}

/* A malloc'ed copy of a text column; NULL for SQL NULL. */
static inline char *
col_dup(struct store *s, struct drv_stmt *st, int col)
{
	const char *v = s->drv->column_text(st, col);

	return v != NULL ? xstrdup(v) : NULL;
}

/* Like col_dup() but "" for SQL NULL, for columns that are NOT NULL. */
static inline char *
col_str(struct store *s, struct drv_stmt *st, int col)
{
	const char *v = s->drv->column_text(st, col);

	return xstrdup(v != NULL ? v : "");
}

/* ---- transactions (store.c) ---- */

/* Opens a transaction unless the caller has one; *own says whether store_tx_leave() ends it. */
int store_tx_enter(struct store *, int *own, struct err *);
/* Commits (rc 0) or rolls back the transaction store_tx_enter() opened; returns the outcome. */
int store_tx_leave(struct store *, int own, int rc, struct err *);
/* Wakes the mail sender (the hook of store_set_mail_hook()) and clears mail_queued. */
void store_mail_kick(struct store *);

/* ---- between entities ---- */

/* 1 when the organization exists, 0 when not, -1 on error (store_org.c). */
int store_org_exists(struct store *, int64_t id, struct err *);
/* Writes the transaction's audit head back; store_commit() calls it (store_audit.c). */
int store_audit_head_write(struct store *, struct err *);

/* Rows of one multi-row INSERT of an optimistic run (15 parameters a certificate). */
#define STORE_BULK_ROWS 8
/* Send (unanswered) or drop an optimistic run's kept rows (store_cert.c, store_audit.c). */
int store_cert_bulk_send(struct store *, struct err *);
void store_cert_bulk_drop(struct store *);
int store_audit_bulk_send(struct store *, struct err *);
void store_audit_bulk_drop(struct store *);

#endif
