/*
 * store_app: the applications of the portal (0007, 0008), their one-time tokens and the
 * downloads of their certificates.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ---- applications (0007, 0008) ---- */
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
static const char SQL_APP_STATE[] =
    "UPDATE applications SET state = $3 WHERE id = $1 AND state = $2";
/* A ticket's live applications: not expired, cancelled or rejected (portal step 1). */
static const char SQL_APP_TICKET_LIVE[] =
    "SELECT COUNT(*) FROM applications WHERE ticket = $1 AND expires > $2 "
    "AND state NOT IN ('cancelled', 'expired', 'rejected')";
/* PostgreSQL: holds the ticket's row for the transaction, so that two registrations with one
 * ticket take turns (SQLite's BEGIN IMMEDIATE already serialises writers). */
static const char SQL_TICKET_LOCK[] = "SELECT 1 FROM tickets WHERE number = $1 FOR UPDATE";
/* re-issue (src/portal/reissue.c) */
static const char SQL_APP_REISSUE[] =
    "INSERT INTO applications (org_id, ticket, applicant_type, email, state, created, expires, "
    "profile, subject_email, name_kanji, name_romaji, ou, hostnames, key_mode, password_hash, "
    "cert_code_hash, predecessor_id, submitted) VALUES ($1, $2, $3, $4, 'approved', $5, $6, $7, "
    "$8, $9, $10, $11, $12, $13, $14, $15, $16, $5) RETURNING id";
static const char SQL_APP_LIST_HOLDER[] =
    APP_COLS " WHERE a.org_id = $1 AND a.cert_serial IS NOT NULL AND (lower(a.email) = "
	     "lower($2) OR lower(a.subject_email) = lower($2)) ORDER BY a.id DESC LIMIT $3";

/* ---- downloads (0008) ---- */
static const char SQL_DOWNLOAD_PUT[] =
    "INSERT INTO portal_downloads (hash, application_id, data, expires, kind) VALUES ($1, $2, $3, "
    "$4, $5)";
static const char SQL_DOWNLOAD_TAKE[] =
    "DELETE FROM portal_downloads WHERE hash = $1 AND (kind = $2 OR kind IS NULL) RETURNING data, "
    "expires, application_id";
static const char SQL_DOWNLOAD_PURGE[] = "DELETE FROM portal_downloads WHERE expires < $1";
static const char SQL_DOWNLOAD_PEEK[] =
    "SELECT expires FROM portal_downloads WHERE hash = $1 AND (kind = $2 OR kind IS NULL)";

/* ---- one-time tokens (0007) ---- */
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
	if ((st = store_stmt_get(s, SQL_APP_INSERT, 0, "add application", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, a->org_id);
	stmt_text(s, st, 2, a->ticket);
	stmt_text(s, st, 3, a->applicant_type);
	stmt_text(s, st, 4, a->email);
	stmt_int(s, st, 5, (int64_t)a->created);
	stmt_int(s, st, 6, (int64_t)a->expires);
	if (store_stmt_step(s, st, "add application for ticket", a->ticket, e) != 1) {
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
	if ((st = store_stmt_get(s, SQL_APP_GET, 0, "get application", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	if ((r = store_stmt_step(s, st, "get application", NULL, e)) == -1)
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
	if ((st = store_stmt_get(s, SQL_APP_BY_CODE, 0, "application by code", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, code_hash, STORE_HASH_LEN);
	if ((r = store_stmt_step(s, st, "application by code", NULL, e)) == -1)
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

	if ((st = store_stmt_get(s, SQL_APP_SUBMIT, 0, "submit application", e)) == NULL)
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
	if (store_stmt_step(s, st, "submit application", to, e) == -1)
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

	if ((st = store_stmt_get(s, SQL_APP_ISSUE, 0, "issue application", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, from);
	stmt_text(s, st, 3, serial);
	stmt_blob(s, st, 4, code_hash, STORE_HASH_LEN);
	stmt_int(s, st, 5, (int64_t)when);
	if (store_stmt_step(s, st, "issue application", serial, e) == -1)
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
store_download_put(struct store *s, enum store_download_kind kind,
		   const unsigned char hash[STORE_HASH_LEN], int64_t app_id, const void *data,
		   size_t len, time_t expires, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_DOWNLOAD_PUT, 0, "add download", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	stmt_int(s, st, 2, app_id);
	stmt_blob(s, st, 3, data, len);
	stmt_int(s, st, 4, (int64_t)expires);
	stmt_int(s, st, 5, (int64_t)kind);
	if (store_stmt_step(s, st, "add download", NULL, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_download_take(struct store *s, enum store_download_kind kind,
		    const unsigned char hash[STORE_HASH_LEN], time_t now, unsigned char **data,
		    size_t *len, int64_t *app_id, struct err *e)
{
	struct drv_stmt *st = NULL;
	const unsigned char *p;
	size_t n = 0;
	int rc = -1, r;

	*data = NULL;
	*len = 0;
	if ((st = store_stmt_get(s, SQL_DOWNLOAD_TAKE, 0, "take download", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	stmt_int(s, st, 2, (int64_t)kind);
	if ((r = store_stmt_step(s, st, "take download", NULL, e)) == -1)
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
store_download_peek(struct store *s, enum store_download_kind kind,
		    const unsigned char hash[STORE_HASH_LEN], time_t now, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	if ((st = store_stmt_get(s, SQL_DOWNLOAD_PEEK, 0, "look at download", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	stmt_int(s, st, 2, (int64_t)kind);
	if ((r = store_stmt_step(s, st, "look at download", NULL, e)) == -1)
		goto out;
	if (r == 0 || (time_t)col_int(s, st, 0) < now) {
		err_set(e, ERR_NOTFOUND, "store: no such download");
		goto out;
	}
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

	if ((st = store_stmt_get(s, SQL_APP_STATE, 0, "application state", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, from);
	stmt_text(s, st, 3, to);
	if (store_stmt_step(s, st, "application state", to, e) == -1)
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

int
store_app_ticket_live(struct store *s, const char *ticket, time_t now, int64_t *n, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*n = 0;
	/* only inside a transaction: a lock taken alone would be a write (and a WAL flush) */
	if (s->backend == STORE_PG && s->in_tx) {
		if ((st = store_stmt_get(s, SQL_TICKET_LOCK, 0, "lock ticket", e)) == NULL)
			goto out;
		stmt_text(s, st, 1, ticket);
		while ((r = store_stmt_step(s, st, "lock ticket", ticket, e)) == 1)
			;
		if (r == -1)
			goto out;
		stmt_reset(s, st);
	}
	if ((st = store_stmt_get(s, SQL_APP_TICKET_LIVE, 0, "live applications", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, ticket);
	stmt_int(s, st, 2, (int64_t)now);
	if ((r = store_stmt_step(s, st, "live applications", ticket, e)) != 1) {
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

/* The names the tokens table holds, by enum store_token_purpose. */
static const char *const token_purposes[STORE_TOKEN__MAX] = {
    "regist-form", "regist-verify", "issue-form",  "issue-submit",
    "approve",	   "reissue-form",  "revoke-form", "officer-form",
};

const char *
store_token_purpose_name(enum store_token_purpose p)
{
	const char *name = NULL;

	if ((int)p >= 0 && p < STORE_TOKEN__MAX)
		name = token_purposes[p];
	return name;
}

/* The stored name of p, or NULL with e set (a caller's bug: ERR_INTERNAL). */
static const char *
token_purpose(enum store_token_purpose p, const char *what, struct err *e)
{
	const char *name = store_token_purpose_name(p);

	if (name == NULL)
		err_set(e, ERR_INTERNAL, "store: %s: token purpose %d unknown", what, (int)p);
	return name;
}

int
store_token_add(struct store *s, const unsigned char hash[STORE_HASH_LEN],
		enum store_token_purpose p, int64_t app_id, time_t expires, time_t used,
		struct err *e)
{
	struct drv_stmt *st = NULL;
	const char *purpose;
	int rc = -1;

	if ((purpose = token_purpose(p, "add token", e)) == NULL)
		goto out;
	if ((st = store_stmt_get(s, SQL_TOKEN_INSERT, 0, "add token", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	stmt_text(s, st, 2, purpose);
	stmt_int_or_null(s, st, 3, app_id, 0);
	stmt_int(s, st, 4, (int64_t)expires);
	stmt_int_or_null(s, st, 5, (int64_t)used, 0);
	if (store_stmt_step(s, st, "add token", purpose, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_token_get(struct store *s, const unsigned char hash[STORE_HASH_LEN],
		enum store_token_purpose p, struct store_token *t, struct err *e)
{
	struct drv_stmt *st = NULL;
	const char *purpose;
	int rc = -1, r;

	memset(t, 0, sizeof(*t));
	if ((purpose = token_purpose(p, "get token", e)) == NULL)
		goto out;
	if ((st = store_stmt_get(s, SQL_TOKEN_GET, 0, "get token", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	stmt_text(s, st, 2, purpose);
	if ((r = store_stmt_step(s, st, "get token", purpose, e)) == -1)
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
store_token_use(struct store *s, const unsigned char hash[STORE_HASH_LEN],
		enum store_token_purpose p, time_t when, struct err *e)
{
	struct drv_stmt *st = NULL;
	const char *purpose;
	int rc = -1;

	if ((purpose = token_purpose(p, "use token", e)) == NULL)
		goto out;
	if ((st = store_stmt_get(s, SQL_TOKEN_USE, 0, "use token", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	stmt_text(s, st, 2, purpose);
	stmt_int(s, st, 3, (int64_t)when);
	if (store_stmt_step(s, st, "use token", purpose, e) == -1)
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

int
store_app_add_reissue(struct store *s, const struct store_app *a,
		      const unsigned char code_hash[STORE_HASH_LEN], int64_t *id, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	*id = 0;
	if ((st = store_stmt_get(s, SQL_APP_REISSUE, 0, "add re-issue", e)) == NULL)
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
	if (store_stmt_step(s, st, "add re-issue for ticket", a->ticket, e) != 1) {
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
	if ((st = store_stmt_get(s, SQL_APP_LIST_HOLDER, 0, "holder's applications", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, org_id);
	stmt_text(s, st, 2, email);
	stmt_int(s, st, 3, (int64_t)max);
	while ((r = store_stmt_step(s, st, "holder's applications", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, k, sizeof(*v));
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
	STORE_LIST_FREE(v, k, store_app_clear);
	return rc;
}
