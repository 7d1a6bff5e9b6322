/*
 * store_pg: the PostgreSQL statement driver (libpq).  Each distinct SQL text is prepared once
 * per connection (PQprepare, named s1, s2, ...); parameters travel as text, blobs in binary;
 * results come back as text and bytea is decoded with PQunescapeBytea.  DRV_STREAM statements
 * use single-row mode so that a walk over a million rows holds one row at a time.
 *
 * Pipelining (pg_pipeline, the group commit's connection): inside a transaction, BEGIN and
 * DRV_DEFER statements (savepoints, releases, audit entries, an optimistic run's multi-row
 * INSERTs with their expected row counts, DRV_ROWS: nobody reads their results) are queued in
 * libpq's pipeline mode and travel with the next statement that waits, which reads all their
 * answers in the same round trip (one Sync) and leaves pipeline mode again.  An issuance unit
 * then costs one round trip instead of four.  A failed deferred statement aborts the rest of
 * the pipeline on the server; the statement that waited reports its error as its own, so the
 * unit that sent it is undone under its savepoint, as when the statement itself failed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "driver.h"

enum pg_state {
	PG_IDLE,      /* not executed since the last reset */
	PG_RESULT,    /* whole result in res, row is the current row */
	PG_STREAMING, /* single-row mode: res holds the current row */
	PG_DONE,      /* all rows read */
};

struct drv_stmt {
	struct drv_conn *conn;
	char *sql;
	uint32_t hash;
	struct drv_stmt *next;
	char name[16];
	unsigned gen; /* connection generation it was prepared in */
	int flags;
	int nparams;
	const char *values[DRV_PARAMS_MAX];
	int lengths[DRV_PARAMS_MAX];
	int formats[DRV_PARAMS_MAX];
	char ints[DRV_PARAMS_MAX][24];
	int bad_bind;
	enum pg_state state;
	PGresult *res;
	int row, nrows;
	int64_t changes;
	unsigned char *blob; /* last PQunescapeBytea result */
};

/*
 * Deferred statements awaiting their answers at most: then one waits (the server's answers
 * could otherwise fill its socket while this side still writes statements).
 */
#define PG_PEND_MAX 1024

struct drv_conn {
	PGconn *pg;
	unsigned gen;  /* bumped by every reconnect: prepared statements are gone */
	unsigned next; /* statement name counter */
	int in_tx;
	int pipelining; /* pg_pipeline(): DRV_DEFER statements are sent without waiting */
	int in_pipe;	/* in libpq's pipeline mode: npend statements sent, not answered */
	int broken;	/* a deferred SAVEPOINT or RELEASE failed: only a rollback helps */
	size_t npend;
	unsigned char pend_ctl[PG_PEND_MAX];  /* per deferred statement: 1 when DRV_TXCTL */
	unsigned char pend_rows[PG_PEND_MAX]; /* its DRV_ROWS, or 0 */
	struct drv_stmt *cache[DRV_CACHE_BUCKETS];
};

/* Copies the first line of msg (libpq messages end in newlines and may carry DETAIL lines). */
static int
pg_seterr(struct err *e, enum err_code code, const char *prefix, const char *msg)
{
	size_t n;

	if (msg == NULL || *msg == '\0')
		msg = "unknown error";
	n = strcspn(msg, "\n");
	return err_set(e, code, "%s%.*s", prefix, (int)n, msg);
}

/* Sets e from a failed result (NULL: from the connection). */
static int
pg_fail(struct drv_conn *c, const PGresult *res, struct err *e)
{
	const char *state = NULL, *msg = NULL;
	enum err_code code = ERR_INTERNAL;

	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	}
	if (state != NULL && strcmp(state, "23505") == 0) /* unique_violation */
		code = ERR_CONFLICT;
	if (msg == NULL)
		msg = PQerrorMessage(c->pg);
	return pg_seterr(e, code, "", msg);
}

/* Server notices (e.g. "relation already exists, skipping") only in verbose logs. */
static void
pg_notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("store: postgresql: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* Reconnects a broken connection outside a transaction; statements are prepared again. */
static void
pg_check(struct drv_conn *c)
{
	if (PQstatus(c->pg) != CONNECTION_BAD || c->in_tx)
		return;
	PQreset(c->pg); /* leaves pipeline mode too */
	c->in_pipe = c->broken = 0;
	c->npend = 0;
	if (PQstatus(c->pg) == CONNECTION_OK)
		c->gen++;
}

static int64_t
pg_cmd_tuples(PGresult *res)
{
	const char *s = PQcmdTuples(res);

	return (s != NULL && *s != '\0') ? strtoll(s, NULL, 10) : 0;
}

/* Enters libpq's pipeline mode for a deferred statement (pg_pipe_wait leaves it). */
static int
pg_pipe_enter(struct drv_conn *c, struct err *e)
{
	if (c->in_pipe)
		return 0;
	if (!PQenterPipelineMode(c->pg))
		return pg_fail(c, NULL, e);
	c->in_pipe = 1;
	c->npend = 0;
	return 0;
}

/*
 * Ends the pipeline: sends a Sync and reads every answer up to it, then leaves pipeline mode.
 * st (may be NULL) was sent last and waits for its result, which it keeps in st->res.  The
 * first failure is returned: a deferred statement's (after which the server skipped the rest,
 * st included) or st's own.  A failed DRV_TXCTL statement or a lost connection breaks the
 * transaction (c->broken) until the rollback.
 */
static int
pg_pipe_wait(struct drv_conn *c, struct drv_stmt *st, struct err *e)
{
	PGresult *res;
	ExecStatusType s;
	struct err fe;
	size_t i = 0;
	int nulls = 0, failed = 0;

	err_clear(&fe);
	if (!PQpipelineSync(c->pg)) {
		pg_fail(c, NULL, &fe);
		failed = c->broken = 1;
		goto out;
	}
	for (;;) {
		/* each statement's answers end with a NULL; the Sync's with none */
		if ((res = PQgetResult(c->pg)) == NULL) {
			if (++nulls > 1) {
				if (!failed)
					pg_seterr(&fe, ERR_INTERNAL,
						  "connection lost: ", PQerrorMessage(c->pg));
				failed = c->broken = 1;
				goto out;
			}
			i++;
			continue;
		}
		nulls = 0;
		s = PQresultStatus(res);
		if (s == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_PIPELINE_ABORTED) {
			if (!failed && i < c->npend) /* never a conflict the caller could expect */
				pg_seterr(&fe, ERR_INTERNAL, "a statement sent before this one: ",
					  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
			else if (!failed)
				pg_fail(c, res, &fe);
			failed = 1;
			if (i < c->npend && c->pend_ctl[i])
				c->broken = 1;
		} else if (i < c->npend && c->pend_rows[i] != 0 &&
			   pg_cmd_tuples(res) != c->pend_rows[i] && !failed) {
			err_set(&fe, ERR_CONFLICT,
				"a statement sent before this one changed %" PRId64 " rows, not %d",
				pg_cmd_tuples(res), c->pend_rows[i]);
			failed = 1;
		} else if (st != NULL && i == c->npend && s != PGRES_PIPELINE_ABORTED) {
			st->res = res;
			res = NULL;
		}
		PQclear(res);
	}
	if (!PQexitPipelineMode(c->pg)) {
		if (!failed)
			pg_fail(c, NULL, &fe);
		failed = c->broken = 1;
		goto out;
	}
	c->in_pipe = 0;
	c->npend = 0;
out:
	if (failed)
		*e = fe;
	return failed ? -1 : 0;
}

/* Before a statement that runs outside the pipeline: the deferred ones answered first. */
static int
pg_pipe_ready(struct drv_conn *c, struct err *e)
{
	if (c->broken)
		return err_set(
		    e, ERR_INTERNAL,
		    "transaction broken by an earlier failure (savepoint, release or connection)");
	return c->in_pipe ? pg_pipe_wait(c, NULL, e) : 0;
}

static int
pg_exec(struct drv_conn *c, const char *sql, struct err *e)
{
	PGresult *res;
	int rc = -1;

	pg_check(c);
	if (pg_pipe_ready(c, e) == -1)
		return -1;
	res = PQexec(c->pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_fail(c, res, e);
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

static void
pg_stmt_free(struct drv_stmt *st)
{
	if (st == NULL)
		return;
	PQclear(st->res);
	PQfreemem(st->blob);
	free(st->sql);
	free(st);
}

static void
pg_close(struct drv_conn *c)
{
	struct drv_stmt *st, *next;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < DRV_CACHE_BUCKETS; i++) {
		for (st = c->cache[i]; st != NULL; st = next) {
			next = st->next;
			pg_stmt_free(st);
		}
	}
	PQfinish(c->pg); /* the server rolls back an open transaction */
	free(c);
}

static int
pg_open(struct drv_conn **out, const char *conninfo, struct err *e)
{
	struct drv_conn *c;
	int rc = -1;

	*out = NULL;
	c = xcalloc(1, sizeof(*c));
	c->pg = PQconnectdb(conninfo);
	if (c->pg == NULL) {
		err_set(e, ERR_INTERNAL, "store: postgresql: connection failed: out of memory");
		goto out;
	}
	if (PQstatus(c->pg) != CONNECTION_OK) {
		pg_seterr(e, ERR_INTERNAL,
			  "store: postgresql: connection failed: ", PQerrorMessage(c->pg));
		goto out;
	}
	PQsetNoticeProcessor(c->pg, pg_notice, NULL);
	*out = c;
	c = NULL;
	rc = 0;
out:
	pg_close(c);
	return rc;
}

/* A session whose transactions are read-only (a restored dump being checked). */
static int
pg_open_ro(struct drv_conn **out, const char *conninfo, struct err *e)
{
	struct drv_conn *c = NULL;
	struct err de;
	int rc = -1;

	err_clear(&de);
	*out = NULL;
	if (pg_open(&c, conninfo, e) == -1)
		goto out;
	if (pg_exec(c, "SET default_transaction_read_only = on", &de) == -1) {
		err_set(e, ERR_INTERNAL, "store: postgresql: %s", de.msg);
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	pg_close(c);
	return rc;
}

/* The highest $N in the SQL text (store.c never writes '$' inside literals). */
static int
pg_count_params(const char *sql)
{
	const char *p;
	long n;
	int max = 0;

	for (p = sql; (p = strchr(p, '$')) != NULL;) {
		p++;
		n = 0;
		while (*p >= '0' && *p <= '9' && n <= DRV_PARAMS_MAX)
			n = n * 10 + (*p++ - '0');
		if (n > max)
			max = (int)n;
	}
	return max;
}

/* PQprepare for the current connection generation. */
static int
pg_stmt_prepare(struct drv_conn *c, struct drv_stmt *st, struct err *e)
{
	PGresult *res;
	int rc = -1;

	if (pg_pipe_ready(c, e) == -1)
		return -1;
	res = PQprepare(c->pg, st->name, st->sql, st->nparams, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_fail(c, res, e);
		goto out;
	}
	st->gen = c->gen;
	rc = 0;
out:
	PQclear(res);
	return rc;
}

static int
pg_prepare(struct drv_conn *c, const char *sql, int flags, struct drv_stmt **out, struct err *e)
{
	struct drv_stmt *st = NULL;
	uint32_t h = drv_sql_hash(sql);
	int rc = -1;

	pg_check(c);
	for (st = c->cache[h % DRV_CACHE_BUCKETS]; st != NULL; st = st->next) {
		if (st->hash == h && st->flags == flags && strcmp(st->sql, sql) == 0)
			break;
	}
	if (st != NULL) {
		if (st->gen != c->gen && pg_stmt_prepare(c, st, e) == -1)
			goto out;
		*out = st;
		st = NULL;
		rc = 0;
		goto out;
	}
	st = xcalloc(1, sizeof(*st));
	st->conn = c;
	st->hash = h;
	st->flags = flags;
	st->sql = xstrdup(sql);
	if ((st->nparams = pg_count_params(sql)) > DRV_PARAMS_MAX) {
		err_set(e, ERR_INTERNAL, "statement has more than %d parameters", DRV_PARAMS_MAX);
		goto out;
	}
	snprintf(st->name, sizeof(st->name), "s%u", ++c->next);
	if (pg_stmt_prepare(c, st, e) == -1)
		goto out;
	st->next = c->cache[h % DRV_CACHE_BUCKETS];
	c->cache[h % DRV_CACHE_BUCKETS] = st;
	*out = st;
	st = NULL;
	rc = 0;
out:
	pg_stmt_free(st);
	return rc;
}

/* The array slot of $n, or -1 (recorded as a bind error). */
static int
pg_param(struct drv_stmt *st, int n)
{
	int i = -1;

	if (n >= 1 && n <= st->nparams)
		i = n - 1;
	else
		st->bad_bind = 1;
	return i;
}

static void
pg_bind_null(struct drv_stmt *st, int n)
{
	int i;

	if ((i = pg_param(st, n)) < 0)
		return;
	st->values[i] = NULL;
	st->lengths[i] = 0;
	st->formats[i] = 0;
}

static void
pg_bind_text(struct drv_stmt *st, int n, const char *v)
{
	int i;

	if ((i = pg_param(st, n)) < 0)
		return;
	st->values[i] = v;
	st->lengths[i] = 0;
	st->formats[i] = 0;
}

static void
pg_bind_int64(struct drv_stmt *st, int n, int64_t v)
{
	int i;

	if ((i = pg_param(st, n)) < 0)
		return;
	snprintf(st->ints[i], sizeof(st->ints[i]), "%" PRId64, v);
	st->values[i] = st->ints[i];
	st->lengths[i] = 0;
	st->formats[i] = 0;
}

static void
pg_bind_blob(struct drv_stmt *st, int n, const void *p, size_t len)
{
	int i;

	if (len > INT32_MAX)
		st->bad_bind = 1;
	else if ((i = pg_param(st, n)) >= 0) {
		st->values[i] = p != NULL ? p : "";
		st->lengths[i] = (int)len;
		st->formats[i] = 1;
	}
}

/* Reads and discards what is left of a streamed result. */
static void
pg_drain(struct drv_conn *c)
{
	PGresult *r;

	while ((r = PQgetResult(c->pg)) != NULL)
		PQclear(r);
}

/* Executes a statement whose whole result is fetched at once. */
static int
pg_run(struct drv_stmt *st, struct err *e)
{
	struct drv_conn *c = st->conn;
	ExecStatusType s;
	int rc = -1;

	if (c->broken) {
		err_set(
		    e, ERR_INTERNAL,
		    "transaction broken by an earlier failure (savepoint, release or connection)");
		st->state = PG_DONE;
		goto out;
	}
	if (c->in_pipe) { /* sent behind the deferred statements: one round trip for all */
		st->res = NULL;
		if (!PQsendQueryPrepared(c->pg, st->name, st->nparams, st->values, st->lengths,
					 st->formats, 0)) {
			pg_fail(c, NULL, e);
			c->broken = 1;
			st->state = PG_DONE;
			goto out;
		}
		if (pg_pipe_wait(c, st, e) == -1) {
			PQclear(st->res);
			st->res = NULL;
			st->state = PG_DONE;
			goto out;
		}
	} else {
		st->res = PQexecPrepared(c->pg, st->name, st->nparams, st->values, st->lengths,
					 st->formats, 0);
	}
	s = PQresultStatus(st->res);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		pg_fail(c, st->res, e);
		PQclear(st->res);
		st->res = NULL;
		st->state = PG_DONE;
		goto out;
	}
	st->state = PG_RESULT;
	st->nrows = s == PGRES_TUPLES_OK ? PQntuples(st->res) : 0;
	st->row = -1;
	st->changes = pg_cmd_tuples(st->res);
	rc = 0;
out:
	return rc;
}

/* Sends a DRV_DEFER statement into the pipeline without waiting for its answer. */
static int
pg_defer(struct drv_stmt *st, struct err *e)
{
	struct drv_conn *c = st->conn;
	int rc = -1;

	st->state = PG_DONE;
	st->changes = -1; /* not known yet */
	if (pg_pipe_enter(c, e) == -1)
		goto out;
	if (!PQsendQueryPrepared(c->pg, st->name, st->nparams, st->values, st->lengths, st->formats,
				 0)) {
		pg_fail(c, NULL, e);
		c->broken = 1;
		goto out;
	}
	c->pend_ctl[c->npend] = (st->flags & DRV_TXCTL) != 0;
	c->pend_rows[c->npend++] = (unsigned char)DRV_ROWS_OF(st->flags);
	rc = 0;
	if (c->npend == PG_PEND_MAX)
		rc = pg_pipe_wait(c, NULL, e);
out:
	return rc;
}

/* Next row of a streamed result: 1 row, 0 end, -1 error. */
static int
pg_stream_next(struct drv_stmt *st, struct err *e)
{
	struct drv_conn *c = st->conn;
	int rc = -1;

	PQclear(st->res);
	if ((st->res = PQgetResult(c->pg)) == NULL) {
		st->state = PG_DONE;
		rc = 0;
		goto out;
	}
	switch (PQresultStatus(st->res)) {
	case PGRES_SINGLE_TUPLE:
		st->row = 0;
		rc = 1;
		break;
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		st->changes = pg_cmd_tuples(st->res);
		pg_drain(c);
		st->state = PG_DONE;
		rc = 0;
		break;
	default:
		pg_fail(c, st->res, e);
		pg_drain(c);
		st->state = PG_DONE;
		break;
	}
out:
	return rc;
}

static int
pg_step(struct drv_stmt *st, struct err *e)
{
	struct drv_conn *c = st->conn;
	int rc = -1;

	if (st->state == PG_IDLE && st->bad_bind) {
		err_set(e, ERR_INTERNAL, "binding parameters: no such parameter");
		goto out;
	}
	if (st->state == PG_IDLE && (st->flags & DRV_DEFER) && c->pipelining && c->in_tx &&
	    !c->broken) {
		rc = pg_defer(st, e);
		goto out;
	}
	if (st->state == PG_IDLE && (st->flags & DRV_STREAM) && pg_pipe_ready(c, e) == -1)
		goto out;
	if (st->state == PG_IDLE && !(st->flags & DRV_STREAM) && pg_run(st, e) == -1)
		goto out;
	if (st->state == PG_IDLE) {
		if (!PQsendQueryPrepared(c->pg, st->name, st->nparams, st->values, st->lengths,
					 st->formats, 0)) {
			st->state = PG_DONE;
			pg_fail(c, NULL, e);
			goto out;
		}
		PQsetSingleRowMode(c->pg);
		st->state = PG_STREAMING;
	}
	switch (st->state) {
	case PG_RESULT:
		rc = st->row + 1 < st->nrows;
		st->row += rc;
		break;
	case PG_STREAMING:
		rc = pg_stream_next(st, e);
		break;
	default:
		rc = 0;
		break;
	}
out:
	return rc;
}

static const char *
pg_column_text(struct drv_stmt *st, int col)
{
	const char *v = NULL;

	if (st->res != NULL && !PQgetisnull(st->res, st->row, col))
		v = PQgetvalue(st->res, st->row, col);
	return v;
}

static int64_t
pg_column_int64(struct drv_stmt *st, int col)
{
	const char *s = pg_column_text(st, col);

	return s != NULL ? strtoll(s, NULL, 10) : 0;
}

static const unsigned char *
pg_column_blob(struct drv_stmt *st, int col, size_t *len)
{
	const char *s = pg_column_text(st, col);
	const unsigned char *p = (const unsigned char *)"";

	*len = 0;
	PQfreemem(st->blob);
	st->blob = NULL;
	if (s != NULL) {
		if ((st->blob = PQunescapeBytea((const unsigned char *)s, len)) == NULL)
			fatalx("store: postgresql: out of memory decoding bytea");
		p = st->blob;
	}
	return p;
}

static int
pg_column_null(struct drv_stmt *st, int col)
{
	return st->res == NULL || PQgetisnull(st->res, st->row, col);
}

static int64_t
pg_changes(struct drv_stmt *st)
{
	return st->changes;
}

static void
pg_reset(struct drv_stmt *st)
{
	if (st == NULL)
		return;
	if (st->state == PG_STREAMING)
		pg_drain(st->conn);
	PQclear(st->res);
	st->res = NULL;
	PQfreemem(st->blob);
	st->blob = NULL;
	st->state = PG_IDLE;
	st->row = st->nrows = 0;
	st->changes = 0;
	st->bad_bind = 0;
	memset(st->values, 0, (size_t)st->nparams * sizeof(st->values[0]));
	memset(st->lengths, 0, (size_t)st->nparams * sizeof(st->lengths[0]));
	memset(st->formats, 0, (size_t)st->nparams * sizeof(st->formats[0]));
}

/* On a pipelining connection BEGIN travels with the transaction's first statement that waits. */
static int
pg_begin(struct drv_conn *c, struct err *e)
{
	struct err ignored;
	int rc = -1;

	if (!c->pipelining) {
		if (pg_exec(c, "BEGIN", e) == -1)
			goto out;
	} else {
		pg_check(c);
		if (pg_pipe_ready(c, e) == -1 || pg_pipe_enter(c, e) == -1)
			goto out;
		if (!PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0)) {
			pg_fail(c, NULL, e);
			(void)pg_pipe_wait(c, NULL, &ignored);
			goto out;
		}
		c->pend_ctl[c->npend] = 1;
		c->pend_rows[c->npend++] = 0;
	}
	c->in_tx = 1;
	rc = 0;
out:
	return rc;
}

static void
pg_rollback(struct drv_conn *c)
{
	PGresult *res;
	struct err ignored;

	if (c->in_pipe) /* what the pipeline still holds is undone too */
		(void)pg_pipe_wait(c, NULL, &ignored);
	res = PQexec(c->pg, "ROLLBACK");
	PQclear(res);
	c->in_tx = 0;
	c->broken = 0;
}

/* COMMIT of a failed transaction "succeeds" as ROLLBACK: that is an error here. */
static int
pg_commit(struct drv_conn *c, struct err *e)
{
	PGresult *res = NULL;
	int rc = -1;

	if (pg_pipe_ready(c, e) == -1)
		goto out;
	res = PQexec(c->pg, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_fail(c, res, e);
		goto out;
	}
	if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		err_set(e, ERR_INTERNAL, "transaction was aborted by an earlier error");
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	if (rc == -1 && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		pg_rollback(c);
	c->in_tx = 0;
	return rc;
}

static int
pg_pipeline(struct drv_conn *c, struct err *e)
{
	(void)e;
	c->pipelining = 1;
	return 0;
}

static int
pg_flush(struct drv_conn *c, struct err *e)
{
	return pg_pipe_ready(c, e);
}

const struct store_driver store_driver_pg = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .bind_text = pg_bind_text,
    .bind_int64 = pg_bind_int64,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .column_text = pg_column_text,
    .column_int64 = pg_column_int64,
    .column_blob = pg_column_blob,
    .column_null = pg_column_null,
    .changes = pg_changes,
    .reset = pg_reset,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .open_ro = pg_open_ro,
    .pipeline = pg_pipeline,
    .flush = pg_flush,
};
