/*
 * store_idem: the REST API's Idempotency-Key rows (0013; src/ra/idem.c decides).  Each call
 * is one statement in its own durable commit: the claim must be on disk before the request
 * it guards starts, the answer before it is sent.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char SQL_IDEM_CLAIM[] =
    "INSERT INTO api_idempotency (key_hash, request_hash, status, started, expires) "
    "VALUES ($1, $2, 0, $3, $4) ON CONFLICT DO NOTHING";
/* a claim whose request died (the process, not the client) may be taken over */
static const char SQL_IDEM_TAKEOVER[] =
    "UPDATE api_idempotency SET started = $3 WHERE key_hash = $1 AND request_hash = $2 AND "
    "status = 0 AND started < $4";
static const char SQL_IDEM_GET[] =
    "SELECT request_hash, status, location, body, started FROM api_idempotency WHERE "
    "key_hash = $1 AND expires >= $2";
/* a running claim, or one bound to its answer's status and location without the body yet */
/* ... and still this request's: started is its owner token (a retry that took the claim over
 * changed it, and then the first request's answer is not kept) */
static const char SQL_IDEM_FINISH[] =
    "UPDATE api_idempotency SET status = $2, location = $3, body = $4 WHERE key_hash = $1 AND "
    "started = $5 AND (status = 0 OR (status = $2 AND body IS NULL AND location = $3))";
static const char SQL_IDEM_DROP[] =
    "DELETE FROM api_idempotency WHERE key_hash = $1 AND status = 0 AND started = $2";
static const char SQL_IDEM_PURGE[] = "DELETE FROM api_idempotency WHERE expires < $1";

void
store_idem_clear(struct store_idem *r)
{
	if (r == NULL)
		return;
	free(r->location);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* The row of key_hash (not expired at now): 1 found (r filled), 0 none, -1 error. */
static int
idem_get(struct store *s, const unsigned char key_hash[STORE_HASH_LEN], time_t now,
	 struct store_idem *r, struct err *e)
{
	struct drv_stmt *st = NULL;
	const unsigned char *p;
	size_t len = 0;
	int rc = -1, step;

	store_idem_clear(r);
	if ((st = store_stmt_get(s, SQL_IDEM_GET, 0, "idempotency key", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, key_hash, STORE_HASH_LEN);
	stmt_int(s, st, 2, (int64_t)now);
	if ((step = store_stmt_step(s, st, "idempotency key", NULL, e)) == -1)
		goto out;
	if (step == 0) {
		rc = 0;
		goto out;
	}
	p = s->drv->column_blob(st, 0, &len);
	if (p == NULL || len != STORE_HASH_LEN) {
		err_set(e, ERR_INTERNAL, "store: idempotency key: bad request hash");
		goto out;
	}
	memcpy(r->request_hash, p, STORE_HASH_LEN);
	r->status = (int)col_int(s, st, 1);
	r->location = col_dup(s, st, 2);
	if (!s->drv->column_null(st, 3) && (p = s->drv->column_blob(st, 3, &len)) != NULL) {
		r->body = xmalloc(len + 1);
		memcpy(r->body, p, len);
		r->body[len] = '\0';
		r->bodylen = len;
	}
	r->started = (time_t)col_int(s, st, 4);
	rc = 1;
out:
	stmt_reset(s, st);
	return rc;
}

/* Runs one write statement; *changed the rows it changed. */
static int
idem_write(struct store *s, const char *sql, const unsigned char key_hash[STORE_HASH_LEN],
	   const unsigned char *req_hash, int64_t a, int64_t b, int *changed, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, sql, 0, "idempotency key", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, key_hash, STORE_HASH_LEN);
	stmt_blob(s, st, 2, req_hash, STORE_HASH_LEN);
	stmt_int(s, st, 3, a);
	stmt_int(s, st, 4, b);
	if (store_stmt_step(s, st, "idempotency key", NULL, e) == -1)
		goto out;
	*changed = s->drv->changes(st) > 0;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_idem_claim(struct store *s, const unsigned char key_hash[STORE_HASH_LEN],
		 const unsigned char req_hash[STORE_HASH_LEN], time_t now, time_t stale_before,
		 time_t expires, int *claimed, struct store_idem *r, struct err *e)
{
	int changed = 0, found;

	*claimed = 0;
	store_idem_clear(r);
	if (idem_write(s, SQL_IDEM_CLAIM, key_hash, req_hash, (int64_t)now, (int64_t)expires,
		       &changed, e) == -1)
		return -1;
	if (changed) {
		*claimed = 1;
		r->started = now;
		return 0;
	}
	if (idem_write(s, SQL_IDEM_TAKEOVER, key_hash, req_hash, (int64_t)now,
		       (int64_t)stale_before, &changed, e) == -1)
		return -1;
	if (changed) {
		*claimed = 1;
		r->started = now;
		return 0;
	}
	if ((found = idem_get(s, key_hash, now, r, e)) == -1)
		return -1;
	if (found == 0) {
		/* an expired row the purge has not taken yet: replace it */
		if (store_idem_purge(s, now, NULL, e) == -1 ||
		    idem_write(s, SQL_IDEM_CLAIM, key_hash, req_hash, (int64_t)now,
			       (int64_t)expires, &changed, e) == -1)
			return -1;
		*claimed = changed;
		if (!changed)
			return err_set(e, ERR_CONFLICT, "store: idempotency key taken meanwhile");
		r->started = now;
	}
	return 0;
}

int
store_idem_finish(struct store *s, const unsigned char key_hash[STORE_HASH_LEN], time_t started,
		  int status, const char *location, const void *body, size_t len, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_IDEM_FINISH, 0, "idempotency answer", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, key_hash, STORE_HASH_LEN);
	stmt_int(s, st, 2, status);
	if (location != NULL)
		stmt_text(s, st, 3, location);
	else
		s->drv->bind_null(st, 3);
	if (body != NULL)
		stmt_blob(s, st, 4, body, len);
	else
		s->drv->bind_null(st, 4);
	stmt_int(s, st, 5, (int64_t)started);
	if (store_stmt_step(s, st, "idempotency answer", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) != 1) {
		err_set(
		    e, ERR_CONFLICT,
		    "store: the idempotency key's claim was taken over by a retry (this request "
		    "ran too long); its result is not kept");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_idem_drop(struct store *s, const unsigned char key_hash[STORE_HASH_LEN], time_t started,
		struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_IDEM_DROP, 0, "idempotency key", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, key_hash, STORE_HASH_LEN);
	stmt_int(s, st, 2, (int64_t)started);
	if (store_stmt_step(s, st, "idempotency key", NULL, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_idem_purge(struct store *s, time_t now, int64_t *n, struct err *e)
{
	return store_purge(s, SQL_IDEM_PURGE, "purge idempotency keys", now, n, e);
}
