/*
 * store_mail: the outgoing mail queue (0006) that src/mail sends from.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "store_int.h"

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
/* the sealed text of a row queued a statement earlier (its id is in the seal) */
static const char SQL_MAIL_SET_MESSAGE[] =
    "UPDATE mail_queue SET message = $2 WHERE id = $1 AND status = 'queued'";
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
	if ((st = store_stmt_get(s, SQL_MAIL_INSERT, 0, "enqueue mail", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, sender);
	stmt_text(s, st, 2, recipient);
	stmt_text(s, st, 3, message);
	stmt_int(s, st, 4, (int64_t)now);
	if (store_stmt_step(s, st, "enqueue mail to", recipient, e) != 1) {
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

int
store_mail_set_message(struct store *s, int64_t id, const char *message, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_MAIL_SET_MESSAGE, 0, "set mail text", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, message);
	if (store_stmt_step(s, st, "set mail text", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_NOTFOUND, "store: set mail text: mail %" PRId64 " is not queued",
			id);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
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
	if ((st = store_stmt_get(s, SQL_MAIL_GET, 0, "get mail", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	if ((r = store_stmt_step(s, st, "get mail", NULL, e)) == -1)
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
	if ((st = store_stmt_get(s, SQL_MAIL_DUE, 0, "claim mail", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, (int64_t)now);
	stmt_int(s, st, 2, (int64_t)(max > INT32_MAX ? INT32_MAX : max));
	while ((r = store_stmt_step(s, st, "claim mail", NULL, e)) == 1) {
		store_array_grow((void **)&ids, &capids, nids, sizeof(*ids));
		ids[nids++] = col_int(s, st, 0);
	}
	if (r == -1)
		goto out;
	stmt_reset(s, st);
	st = NULL;
	/* all the claims in one transaction: one durable commit per run, not one per mail */
	if (nids > 0 && store_tx_enter(s, &own, e) == -1)
		goto out;
	for (i = 0; i < nids; i++) {
		if ((st = store_stmt_get(s, SQL_MAIL_LOCK, 0, "claim mail", e)) == NULL)
			goto out;
		stmt_int(s, st, 1, ids[i]);
		stmt_int(s, st, 2, (int64_t)lock_until);
		stmt_int(s, st, 3, (int64_t)now);
		if (store_stmt_step(s, st, "claim mail", NULL, e) == -1)
			goto out;
		r = s->drv->changes(st) == 1;
		stmt_reset(s, st);
		st = NULL;
		if (!r)
			continue; /* another sender won it */
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		if (store_mail_get(s, ids[i], &v[n], e) == -1)
			goto out;
		n++;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	if (nids > 0)
		rc = store_tx_leave(s, own, rc, e);
	if (rc == 0) {
		*out = v;
		*nout = n;
		v = NULL;
	}
	STORE_LIST_FREE(v, n, store_mail_clear);
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

	if ((st = store_stmt_get(s, sql, 0, what, e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_int(s, st, 2, t);
	if (with_error)
		stmt_text(s, st, 3, error);
	if (store_stmt_step(s, st, what, NULL, e) == -1)
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
	if ((st = store_stmt_get(s, status < 0 ? SQL_MAIL_COUNT_ALL : SQL_MAIL_COUNT, 0,
				 "count mail", e)) == NULL)
		goto out;
	if (status >= 0)
		stmt_text(s, st, 1, mail_status_names[status]);
	if (store_stmt_step(s, st, "count mail", NULL, e) != 1)
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
