/*
 * store_revreq: the revocation requests of the portal (0010) and the lookups that find the
 * certificate a holder names.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char SQL_REVOKE_LOOKUP[] =
    "SELECT a.cert_serial, CASE WHEN lower(a.email) = lower($3) THEN a.email "
    "ELSE a.subject_email END FROM applications a JOIN organizations o ON o.id = a.org_id "
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
static const char SQL_REVREQ_COUNT[] =
    "SELECT COUNT(*), COUNT(done) FROM revocation_requests WHERE serial = $1";
static const char SQL_REVREQ_DONE[] =
    "UPDATE revocation_requests SET done = $2 WHERE id = $1 AND done IS NULL";

int
store_revoke_lookup(struct store *s, const char *org_code, const char *ticket, const char *email,
		    char serial[STORE_SERIAL_MAX], char **addr, struct err *e)
{
	struct drv_stmt *st = NULL;
	char *v = NULL;
	int rc = -1, r;

	serial[0] = '\0';
	if (addr != NULL)
		*addr = NULL;
	if ((st = store_stmt_get(s, SQL_REVOKE_LOOKUP, 0, "revocation lookup", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, org_code);
	stmt_text(s, st, 2, ticket);
	stmt_text(s, st, 3, email);
	if ((r = store_stmt_step(s, st, "revocation lookup", NULL, e)) == -1)
		goto out;
	if (r == 0 || (v = col_str(s, st, 0)) == NULL || strlen(v) >= STORE_SERIAL_MAX) {
		err_set(e, ERR_NOTFOUND, "store: no certificate for this ticket and e-mail");
		goto out;
	}
	memcpy(serial, v, strlen(v) + 1);
	if (addr != NULL && (*addr = col_str(s, st, 1)) == NULL) {
		err_set(e, ERR_INTERNAL, "store: revocation lookup: no address");
		serial[0] = '\0';
		goto out;
	}
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
	if ((st = store_stmt_get(s, SQL_CERT_HOLDER_EMAIL, 0, "holder e-mail", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, serial);
	if ((r = store_stmt_step(s, st, "holder e-mail", serial, e)) == -1)
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

	if ((st = store_stmt_get(s, SQL_REVREQ_INSERT, 0, "add revocation request", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, q->serial);
	stmt_int(s, st, 2, q->reason);
	stmt_text(s, st, 3, q->email);
	stmt_blob(s, st, 4, token_hash, STORE_HASH_LEN);
	stmt_int(s, st, 5, (int64_t)q->created);
	stmt_int(s, st, 6, (int64_t)q->expires);
	if (store_stmt_step(s, st, "add revocation request", q->serial, e) == -1)
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
	if ((st = store_stmt_get(s, SQL_REVREQ_GET, 0, "get revocation request", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, token_hash, STORE_HASH_LEN);
	if ((r = store_stmt_step(s, st, "get revocation request", NULL, e)) == -1)
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

	if ((st = store_stmt_get(s, SQL_REVREQ_DONE, 0, "revocation request done", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_int(s, st, 2, (int64_t)when);
	if (store_stmt_step(s, st, "revocation request done", NULL, e) == -1)
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

int
store_revreq_count(struct store *s, const char *serial, int64_t *all, int64_t *done, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*all = *done = 0;
	if ((st = store_stmt_get(s, SQL_REVREQ_COUNT, 0, "count revocation requests", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, serial);
	if ((r = store_stmt_step(s, st, "count revocation requests", serial, e)) == -1)
		goto out;
	if (r != 0) {
		*all = col_int(s, st, 0);
		*done = col_int(s, st, 1);
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
