/*
 * driver: the small statement interface store.c speaks to both backends (store_sqlite.c,
 * store_pg.c).  Internal to the store module.
 *
 * SQL text uses $1..$n placeholders on both backends.  prepare() caches one prepared
 * statement per distinct SQL text and connection, so callers simply prepare again each time;
 * the returned statement is owned by the connection.  A statement is used as:
 *
 *	prepare, bind_*, step (1 = a row, 0 = done, -1 = error), column_*, ..., reset
 *
 * Bound text and blobs are not copied: they must stay valid until step() returned 0 or -1 or
 * the statement was reset.  Column values are valid until the next step or reset; a blob from
 * column_blob() also only until the next column_blob() on that statement.  Bind errors are
 * reported by the following step().  reset() must be called after every use (it ends SQLite
 * read snapshots and drains streamed PostgreSQL results); it accepts NULL.
 *
 * DRV_STREAM asks for rows one at a time from the server (PostgreSQL single-row mode), for
 * walks over very many rows; while such a statement is open no other statement may run on the
 * connection.
 *
 * Errors are set with the backend's own message (e.g. "UNIQUE constraint failed: ..."), and
 * the class ERR_CONFLICT for unique violations, else ERR_INTERNAL; store.c adds the context.
 */
#ifndef SHOMEI_STORE_DRIVER_H
#define SHOMEI_STORE_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

#define DRV_PARAMS_MAX 128 /* highest $N a statement may use */

enum drv_flag {
	DRV_STREAM = 1,
	DRV_DEFER = 2, /* nobody reads its result: a pipelining connection need not wait for it */
	DRV_TXCTL = 4, /* SAVEPOINT or RELEASE (with DRV_DEFER): failing breaks the transaction */
};
/*
 * With DRV_DEFER: when deferred, changing other than n rows (1..255) is a failure (the
 * certificate INSERTs of an optimistic run, whose row count tells a taken serial).
 */
#define DRV_ROWS(n) ((n) << 8)
#define DRV_ROWS_OF(flags) (((flags) >> 8) & 0xff)

struct drv_conn; /* defined by each driver */
struct drv_stmt;

struct store_driver {
	const char *name;
	/* target: a file path (SQLite) or a libpq conninfo; messages are complete. */
	int (*open)(struct drv_conn **, const char *target, struct err *);
	void (*close)(struct drv_conn *); /* accepts NULL; rolls back an open transaction */
	/* Runs one or more statements without parameters or results (DDL, migrations). */
	int (*exec)(struct drv_conn *, const char *sql, struct err *);
	int (*prepare)(struct drv_conn *, const char *sql, int flags, struct drv_stmt **,
		       struct err *);
	void (*bind_text)(struct drv_stmt *, int n, const char *); /* NULL binds NULL */
	void (*bind_int64)(struct drv_stmt *, int n, int64_t);
	void (*bind_blob)(struct drv_stmt *, int n, const void *, size_t);
	void (*bind_null)(struct drv_stmt *, int n);
	int (*step)(struct drv_stmt *, struct err *);
	const char *(*column_text)(struct drv_stmt *, int col); /* NULL for SQL NULL */
	int64_t (*column_int64)(struct drv_stmt *, int col);	/* 0 for SQL NULL */
	const unsigned char *(*column_blob)(struct drv_stmt *, int col, size_t *len);
	int (*column_null)(struct drv_stmt *, int col);
	int64_t (*changes)(struct drv_stmt *); /* rows written by the finished statement */
	void (*reset)(struct drv_stmt *);
	/* Write transaction: SQLite BEGIN IMMEDIATE, PostgreSQL BEGIN. */
	int (*begin)(struct drv_conn *, struct err *);
	/* A failed commit leaves no transaction open. */
	int (*commit)(struct drv_conn *, struct err *);
	void (*rollback)(struct drv_conn *);
	/*
	 * Optional (NULL when the backend has none): writes len bytes into a blob column of the
	 * row just inserted on this connection with a zero-filled blob of that size as its LAST
	 * column.  A large value (a CRL of tens of MB) then goes to disk in pieces instead of
	 * being assembled once more as a record in memory.
	 */
	int (*blob_fill_last)(struct drv_conn *, const char *table, const char *column,
			      const void *, size_t, struct err *);
	/*
	 * Optional (NULL when every commit is durable by itself: PostgreSQL): defer_sync()
	 * makes this connection's commits return before they are on disk; sync() then makes
	 * every commit made so far durable.  sync() may run in any thread, also while another
	 * uses the connection, and several at once.
	 */
	int (*defer_sync)(struct drv_conn *, struct err *);
	int (*sync)(struct drv_conn *, struct err *);
	/*
	 * Opens target read-only (a backup's copy: untrusted bytes, never written, no
	 * migrations).  SQLite: the caller's private copy, whose header must say
	 * rollback-journal mode, opened immutable (nothing read or made beside it);
	 * PostgreSQL: a session whose transactions are read-only.
	 */
	int (*open_ro)(struct drv_conn **, const char *target, struct err *);
	/*
	 * Optional (NULL: the backend has its own tools, pg_dump): copies the whole database, as
	 * one consistent snapshot, into the empty file dest, in rollback-journal mode so that the
	 * copy is one self-contained file.  Writers on other connections go on meanwhile.
	 */
	int (*backup_to)(struct drv_conn *, const char *dest, struct err *);
	/*
	 * Optional (NULL where every statement runs when it is stepped: SQLite, in-process):
	 * pipeline() lets this connection send DRV_DEFER statements inside a transaction without
	 * waiting for their answers (PostgreSQL pipeline mode): their step() returns 0 at once and
	 * changes() is -1 (unknown).  They travel with the next statement that waits (a statement
	 * without DRV_DEFER, exec(), flush(), commit()), which reports the first deferred failure
	 * as its own error.  flush() waits for the deferred statements; -1 with the first one's
	 * error. A failed deferred DRV_TXCTL statement leaves the transaction broken: every
	 * statement then fails until rollback().
	 */
	int (*pipeline)(struct drv_conn *, struct err *);
	int (*flush)(struct drv_conn *, struct err *);
};

extern const struct store_driver store_driver_sqlite;
extern const struct store_driver store_driver_pg;

/* SQLite's WAL checkpointer thread for the file at path (see store_checkpointer_start). */
int sqlite_checkpointer_start(const char *path, size_t resident, struct err *);
void sqlite_checkpointer_stop(void);

/* Shared by the drivers: FNV-1a of the SQL text (statement cache key). */
static inline uint32_t
drv_sql_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

#define DRV_CACHE_BUCKETS 64

#endif
