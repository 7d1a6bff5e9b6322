/*
 * store_officer: RA officers, their enrolments (the mailed URL and access PIN, hashes only;
 * the PKCS#12 until its first download) and their certificates (0014; src/ra/officer.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "store_int.h"

#define OFFICER_COLS                                                                               \
	"SELECT f.id, f.org_id, o.code, o.name, f.role, f.name, f.email, f.perms, f.status, "      \
	"f.created, f.updated FROM officers f LEFT JOIN organizations o ON o.id = f.org_id"
static const char SQL_OFFICER_INSERT[] =
    "INSERT INTO officers (org_id, role, name, email, perms, status, created, updated) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id";
static const char SQL_OFFICER_GET[] = OFFICER_COLS " WHERE f.id = $1";
static const char SQL_OFFICER_ALL[] = OFFICER_COLS " ORDER BY f.id";
static const char SQL_OFFICER_BY_ORG[] = OFFICER_COLS " WHERE f.org_id = $1 ORDER BY f.id";
static const char SQL_OFFICER_STATUS[] =
    "UPDATE officers SET status = $2, updated = $3 WHERE id = $1";
static const char SQL_OFFICER_PERMS[] =
    "UPDATE officers SET perms = $2, updated = $3 WHERE id = $1";
static const char SQL_OFFICER_RENEW_DUE[] =
    "SELECT f.id FROM officers f WHERE f.status = 'active' "
    "AND EXISTS (SELECT 1 FROM officer_certs c WHERE c.officer_id = f.id AND "
    "c.status = 'active' AND c.not_after < $1 AND c.not_after >= $2) "
    "AND NOT EXISTS (SELECT 1 FROM officer_certs c WHERE c.officer_id = f.id AND "
    "c.status = 'active' AND c.not_after >= $1) "
    "AND NOT EXISTS (SELECT 1 FROM officer_enrolments e WHERE e.officer_id = f.id AND "
    "e.state = 'open' AND e.expires > $2) ORDER BY f.id";

#define ENROL_COLS                                                                                 \
	"SELECT id, officer_id, pin_hash, tries, expires, state, kind, cert_serial, created, "     \
	"issued FROM officer_enrolments"
static const char SQL_ENROL_INSERT[] =
    "INSERT INTO officer_enrolments (officer_id, token_hash, pin_hash, tries, expires, state, "
    "kind, created) VALUES ($1, $2, $3, 0, $4, 'open', $5, $6) RETURNING id";
static const char SQL_ENROL_GET[] = ENROL_COLS " WHERE token_hash = $1";
static const char SQL_ENROL_FAIL[] =
    "UPDATE officer_enrolments SET tries = tries + 1, state = CASE WHEN tries + 1 >= $2 THEN "
    "'locked' ELSE state END WHERE id = $1 AND state = 'open' RETURNING tries, state";
static const char SQL_ENROL_STATE[] =
    "UPDATE officer_enrolments SET state = $3 WHERE id = $1 AND state = $2";
static const char SQL_ENROL_ISSUE[] =
    "UPDATE officer_enrolments SET state = 'issued', cert_serial = $2, p12 = $3, dl_hash = $4, "
    "dl_expires = $5, issued = $6 WHERE id = $1 AND state = 'open'";
static const char SQL_ENROL_P12_GET[] =
    "SELECT p12 FROM officer_enrolments WHERE dl_hash = $1 AND p12 IS NOT NULL AND "
    "dl_expires >= $2";
static const char SQL_ENROL_P12_CLEAR[] =
    "UPDATE officer_enrolments SET p12 = NULL WHERE dl_hash = $1 AND p12 IS NOT NULL";
static const char SQL_ENROL_P12_PURGE[] =
    "UPDATE officer_enrolments SET p12 = NULL WHERE p12 IS NOT NULL AND dl_expires < $1";
static const char SQL_ENROL_CLOSE[] =
    "UPDATE officer_enrolments SET state = 'expired' WHERE officer_id = $1 AND state = 'open'";
static const char SQL_ENROL_COUNT[] =
    "SELECT count(*) FROM officer_enrolments WHERE officer_id = $1 AND kind = $2 AND "
    "state = 'open' AND expires > $3";

#define OCERT_COLS                                                                                 \
	"SELECT id, serial, officer_id, fingerprint, status, not_after, first_login, created "     \
	"FROM officer_certs"
static const char SQL_OCERT_INSERT[] =
    "INSERT INTO officer_certs (serial, officer_id, fingerprint, status, not_after, created) "
    "VALUES ($1, $2, $3, 'active', $4, $5) ON CONFLICT DO NOTHING";
static const char SQL_OCERT_BY_FPR[] = OCERT_COLS " WHERE fingerprint = $1";
static const char SQL_OCERT_BY_OFFICER[] = OCERT_COLS " WHERE officer_id = $1 ORDER BY id";
static const char SQL_OCERT_STATUS[] =
    "UPDATE officer_certs SET status = $3 WHERE serial = $1 AND status = $2";
static const char SQL_OCERT_LOGIN[] =
    "UPDATE officer_certs SET first_login = $2 WHERE serial = $1 AND first_login IS NULL";
static const char SQL_OCERT_SUPERSEDE_DUE[] =
    OCERT_COLS " c WHERE c.status = 'active' AND EXISTS (SELECT 1 FROM officer_certs n WHERE "
	       "n.officer_id = c.officer_id AND n.status = 'active' AND n.id > c.id AND "
	       "n.created <= $1) ORDER BY c.id";

static const char *const officer_roles[] = {"officer", "operator", "auditor"};

/* 1 when s is one of the n names. */
static int
officer_in(const char *s, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; s != NULL && i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return 1;
	return 0;
}

int
store_officer_add(struct store *s, const struct store_officer *o, int64_t *id, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*id = 0;
	if (!officer_in(o->role, officer_roles, 3) ||
	    (strcmp(o->status, "active") != 0 && strcmp(o->status, "disabled") != 0)) {
		err_set(e, ERR_INTERNAL, "store: officer role or status out of range");
		goto out;
	}
	if ((st = store_stmt_get(s, SQL_OFFICER_INSERT, 0, "add officer", e)) == NULL)
		goto out;
	stmt_int_or_null(s, st, 1, o->org_id, 0);
	stmt_text(s, st, 2, o->role);
	stmt_text(s, st, 3, o->name);
	stmt_text(s, st, 4, o->email);
	stmt_int(s, st, 5, o->perms);
	stmt_text(s, st, 6, o->status);
	stmt_int(s, st, 7, (int64_t)(o->created != 0 ? o->created : util_now()));
	if ((r = store_stmt_step(s, st, "add officer", o->email, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_INTERNAL, "store: add officer: no id returned");
		goto out;
	}
	*id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Fills o from a row of OFFICER_COLS. */
static void
officer_row(struct store *s, struct drv_stmt *st, struct store_officer *o)
{
	o->id = col_int(s, st, 0);
	o->org_id = col_int_or(s, st, 1, 0);
	o->org_code = col_dup(s, st, 2);
	o->org_name = col_dup(s, st, 3);
	o->role = col_str(s, st, 4);
	o->name = col_str(s, st, 5);
	o->email = col_str(s, st, 6);
	o->perms = col_int(s, st, 7);
	o->status = col_str(s, st, 8);
	o->created = (time_t)col_int(s, st, 9);
	o->updated = (time_t)col_int(s, st, 10);
}

int
store_officer_get(struct store *s, int64_t id, struct store_officer *o, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(o, 0, sizeof(*o));
	if ((st = store_stmt_get(s, SQL_OFFICER_GET, 0, "get officer", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	if ((r = store_stmt_step(s, st, "get officer", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: officer %" PRId64 " not found", id);
		goto out;
	}
	officer_row(s, st, o);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_officer_list(struct store *s, int64_t org_id, struct store_officer **out, size_t *nout,
		   struct err *e)
{
	struct drv_stmt *st;
	struct store_officer *v = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = store_stmt_get(s, org_id != 0 ? SQL_OFFICER_BY_ORG : SQL_OFFICER_ALL, 0,
				 "list officers", e)) == NULL)
		goto out;
	if (org_id != 0)
		stmt_int(s, st, 1, org_id);
	while ((r = store_stmt_step(s, st, "list officers", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		officer_row(s, st, &v[n++]);
	}
	if (r == -1)
		goto out;
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	stmt_reset(s, st);
	STORE_LIST_FREE(v, n, store_officer_clear);
	return rc;
}

/* Runs an UPDATE of one officer (sql: $1 id, $2 value, $3 when); ERR_NOTFOUND without it. */
static int
officer_update(struct store *s, const char *sql, int64_t id, const char *text, int64_t num,
	       time_t when, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, sql, 0, "update officer", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	if (text != NULL)
		stmt_text(s, st, 2, text);
	else
		stmt_int(s, st, 2, num);
	stmt_int(s, st, 3, (int64_t)when);
	if (store_stmt_step(s, st, "update officer", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_NOTFOUND, "store: officer %" PRId64 " not found", id);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_officer_set_status(struct store *s, int64_t id, const char *status, time_t when,
			 struct err *e)
{
	if (strcmp(status, "active") != 0 && strcmp(status, "disabled") != 0)
		return err_set(e, ERR_INTERNAL, "store: officer status out of range");
	return officer_update(s, SQL_OFFICER_STATUS, id, status, 0, when, e);
}

int
store_officer_set_perms(struct store *s, int64_t id, int64_t perms, time_t when, struct err *e)
{
	return officer_update(s, SQL_OFFICER_PERMS, id, NULL, perms, when, e);
}

void
store_officer_clear(struct store_officer *o)
{
	if (o == NULL)
		return;
	free(o->org_code);
	free(o->org_name);
	free(o->role);
	free(o->name);
	free(o->email);
	free(o->status);
	memset(o, 0, sizeof(*o));
}

/* Ids from a one-column query bound with $1 = a, $2 = b. */
static int
officer_ids(struct store *s, const char *sql, int64_t a, int64_t b, int64_t **out, size_t *nout,
	    struct err *e)
{
	struct drv_stmt *st;
	int64_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = store_stmt_get(s, sql, 0, "list officers", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, a);
	stmt_int(s, st, 2, b);
	while ((r = store_stmt_step(s, st, "list officers", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		v[n++] = col_int(s, st, 0);
	}
	if (r == -1)
		goto out;
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	stmt_reset(s, st);
	free(v);
	return rc;
}

int
store_officer_renew_due(struct store *s, time_t before, time_t now, int64_t **ids, size_t *n,
			struct err *e)
{
	return officer_ids(s, SQL_OFFICER_RENEW_DUE, (int64_t)before, (int64_t)now, ids, n, e);
}

/* ---- enrolments ---- */

int
store_enrol_add(struct store *s, const struct store_enrol *en,
		const unsigned char token_hash[STORE_HASH_LEN], int64_t *id, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*id = 0;
	if (en->kind == NULL ||
	    (strcmp(en->kind, "enrol") != 0 && strcmp(en->kind, "renew") != 0)) {
		err_set(e, ERR_INTERNAL, "store: enrolment kind out of range");
		goto out;
	}
	if ((st = store_stmt_get(s, SQL_ENROL_INSERT, 0, "add enrolment", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, en->officer_id);
	stmt_blob(s, st, 2, token_hash, STORE_HASH_LEN);
	stmt_blob(s, st, 3, en->pin_hash, STORE_HASH_LEN);
	stmt_int(s, st, 4, (int64_t)en->expires);
	stmt_text(s, st, 5, en->kind);
	stmt_int(s, st, 6, (int64_t)(en->created != 0 ? en->created : util_now()));
	if ((r = store_stmt_step(s, st, "add enrolment", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_INTERNAL, "store: add enrolment: no id returned");
		goto out;
	}
	*id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_enrol_get(struct store *s, const unsigned char token_hash[STORE_HASH_LEN],
		struct store_enrol *en, struct err *e)
{
	struct drv_stmt *st = NULL;
	const unsigned char *p;
	size_t len = 0;
	int rc = -1, r;

	memset(en, 0, sizeof(*en));
	if ((st = store_stmt_get(s, SQL_ENROL_GET, 0, "get enrolment", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, token_hash, STORE_HASH_LEN);
	if ((r = store_stmt_step(s, st, "get enrolment", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such enrolment");
		goto out;
	}
	en->id = col_int(s, st, 0);
	en->officer_id = col_int(s, st, 1);
	p = s->drv->column_blob(st, 2, &len);
	if (p == NULL || len != STORE_HASH_LEN) {
		err_set(e, ERR_INTERNAL,
			"store: enrolment %" PRId64 ": stored PIN hash has %zu bytes", en->id, len);
		goto out;
	}
	memcpy(en->pin_hash, p, STORE_HASH_LEN);
	en->tries = col_int(s, st, 3);
	en->expires = (time_t)col_int(s, st, 4);
	en->state = col_str(s, st, 5);
	en->kind = col_str(s, st, 6);
	en->cert_serial = col_dup(s, st, 7);
	en->created = (time_t)col_int(s, st, 8);
	en->issued = (time_t)col_int_or(s, st, 9, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_enrol_clear(en);
	return rc;
}

int
store_enrol_fail(struct store *s, int64_t id, int64_t max, int64_t *tries, int *locked,
		 struct err *e)
{
	struct drv_stmt *st = NULL;
	const char *state;
	int rc = -1, r;

	*tries = 0;
	*locked = 0;
	if ((st = store_stmt_get(s, SQL_ENROL_FAIL, 0, "count a wrong PIN", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_int(s, st, 2, max);
	if ((r = store_stmt_step(s, st, "count a wrong PIN", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_CONFLICT, "store: enrolment %" PRId64 " is not open", id);
		goto out;
	}
	*tries = col_int(s, st, 0);
	state = s->drv->column_text(st, 1);
	*locked = state != NULL && strcmp(state, "locked") == 0;
	/* drain: PostgreSQL and SQLite both finish the statement on the next step */
	while ((r = store_stmt_step(s, st, "count a wrong PIN", NULL, e)) == 1)
		;
	if (r == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_enrol_set_state(struct store *s, int64_t id, const char *from, const char *to, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_ENROL_STATE, 0, "move enrolment", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, from);
	stmt_text(s, st, 3, to);
	if (store_stmt_step(s, st, "move enrolment", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: enrolment %" PRId64 " is not %s", id, from);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_enrol_issue(struct store *s, int64_t id, const char *serial, const void *p12, size_t len,
		  const unsigned char dl_hash[STORE_HASH_LEN], time_t dl_expires, time_t when,
		  struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_ENROL_ISSUE, 0, "issue enrolment", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, serial);
	stmt_blob(s, st, 3, p12, len);
	stmt_blob(s, st, 4, dl_hash, STORE_HASH_LEN);
	stmt_int(s, st, 5, (int64_t)dl_expires);
	stmt_int(s, st, 6, (int64_t)when);
	if (store_stmt_step(s, st, "issue enrolment", serial, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: enrolment %" PRId64 " is not open", id);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* The PKCS#12 under dl_hash, read (inside the caller's transaction); ERR_NOTFOUND. */
static int
enrol_p12_read(struct store *s, const unsigned char dl_hash[STORE_HASH_LEN], time_t now,
	       unsigned char **data, size_t *len, struct err *e)
{
	struct drv_stmt *st = NULL;
	const unsigned char *p;
	size_t n = 0;
	int rc = -1, r;

	if ((st = store_stmt_get(s, SQL_ENROL_P12_GET, 0, "take officer PKCS#12", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, dl_hash, STORE_HASH_LEN);
	stmt_int(s, st, 2, (int64_t)now);
	if ((r = store_stmt_step(s, st, "take officer PKCS#12", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such download");
		goto out;
	}
	p = s->drv->column_blob(st, 0, &n);
	if (p == NULL || n == 0) {
		err_set(e, ERR_INTERNAL, "store: officer PKCS#12 is empty");
		goto out;
	}
	*data = xmalloc(n);
	memcpy(*data, p, n);
	*len = n;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_enrol_p12_take(struct store *s, const unsigned char dl_hash[STORE_HASH_LEN], time_t now,
		     unsigned char **data, size_t *len, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, own = 0;

	*data = NULL;
	*len = 0;
	if (store_tx_enter(s, &own, e) == -1)
		return -1;
	if (enrol_p12_read(s, dl_hash, now, data, len, e) == -1)
		goto out;
	/* conditional: of two takes at once, one clears it, the other finds it gone */
	if ((st = store_stmt_get(s, SQL_ENROL_P12_CLEAR, 0, "take officer PKCS#12", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, dl_hash, STORE_HASH_LEN);
	if (store_stmt_step(s, st, "take officer PKCS#12", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such download");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	rc = store_tx_leave(s, own, rc, e);
	if (rc == -1 && *data != NULL) {
		OPENSSL_cleanse(*data, *len);
		free(*data);
		*data = NULL;
		*len = 0;
	}
	return rc;
}

int
store_enrol_p12_purge(struct store *s, time_t now, int64_t *n, struct err *e)
{
	return store_purge(s, SQL_ENROL_P12_PURGE, "purge officer PKCS#12", now, n, e);
}

int
store_enrol_close_open(struct store *s, int64_t officer_id, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_ENROL_CLOSE, 0, "close enrolments", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, officer_id);
	if (store_stmt_step(s, st, "close enrolments", NULL, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_enrol_open_count(struct store *s, int64_t officer_id, const char *kind, time_t now,
		       int64_t *count, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*count = 0;
	if ((st = store_stmt_get(s, SQL_ENROL_COUNT, 0, "count enrolments", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, officer_id);
	stmt_text(s, st, 2, kind);
	stmt_int(s, st, 3, (int64_t)now);
	if ((r = store_stmt_step(s, st, "count enrolments", NULL, e)) == -1)
		goto out;
	if (r == 1)
		*count = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_enrol_clear(struct store_enrol *en)
{
	if (en == NULL)
		return;
	free(en->state);
	free(en->kind);
	free(en->cert_serial);
	memset(en, 0, sizeof(*en));
}

/* ---- officers' certificates ---- */

int
store_officer_cert_add(struct store *s, const struct store_officer_cert *c, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_OCERT_INSERT, 0, "add officer certificate", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, c->serial);
	stmt_int(s, st, 2, c->officer_id);
	stmt_blob(s, st, 3, c->fpr, STORE_HASH_LEN);
	stmt_int(s, st, 4, (int64_t)c->not_after);
	stmt_int(s, st, 5, (int64_t)(c->created != 0 ? c->created : util_now()));
	if (store_stmt_step(s, st, "add officer certificate", c->serial, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: officer certificate %s exists", c->serial);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Fills c from a row of OCERT_COLS; -1 when the fingerprint has the wrong length. */
static int
ocert_row(struct store *s, struct drv_stmt *st, struct store_officer_cert *c, struct err *e)
{
	const unsigned char *p;
	const char *serial;
	size_t len = 0;

	c->id = col_int(s, st, 0);
	serial = s->drv->column_text(st, 1);
	snprintf(c->serial, sizeof(c->serial), "%s", serial != NULL ? serial : "");
	c->officer_id = col_int(s, st, 2);
	p = s->drv->column_blob(st, 3, &len);
	if (p == NULL || len != STORE_HASH_LEN)
		return err_set(e, ERR_INTERNAL,
			       "store: officer certificate %s: fingerprint has %zu "
			       "bytes",
			       c->serial, len);
	memcpy(c->fpr, p, STORE_HASH_LEN);
	c->status = col_str(s, st, 4);
	c->not_after = (time_t)col_int(s, st, 5);
	c->first_login = (time_t)col_int_or(s, st, 6, 0);
	c->created = (time_t)col_int(s, st, 7);
	return 0;
}

int
store_officer_cert_by_fpr(struct store *s, const unsigned char fpr[STORE_HASH_LEN],
			  struct store_officer_cert *c, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(c, 0, sizeof(*c));
	if ((st = store_stmt_get(s, SQL_OCERT_BY_FPR, 0, "find officer certificate", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, fpr, STORE_HASH_LEN);
	if ((r = store_stmt_step(s, st, "find officer certificate", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no officer certificate with this fingerprint");
		goto out;
	}
	if (ocert_row(s, st, c, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_officer_cert_clear(c);
	return rc;
}

/* The rows of sql bound with $1 = arg, in id order. */
static int
ocert_list(struct store *s, const char *sql, int64_t arg, struct store_officer_cert **out,
	   size_t *nout, struct err *e)
{
	struct drv_stmt *st;
	struct store_officer_cert *v = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = store_stmt_get(s, sql, 0, "list officer certificates", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, arg);
	while ((r = store_stmt_step(s, st, "list officer certificates", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		if (ocert_row(s, st, &v[n++], e) == -1)
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
	STORE_LIST_FREE(v, n, store_officer_cert_clear);
	return rc;
}

int
store_officer_cert_list(struct store *s, int64_t officer_id, struct store_officer_cert **out,
			size_t *n, struct err *e)
{
	return ocert_list(s, SQL_OCERT_BY_OFFICER, officer_id, out, n, e);
}

int
store_officer_cert_supersede_due(struct store *s, time_t cutoff, struct store_officer_cert **out,
				 size_t *n, struct err *e)
{
	return ocert_list(s, SQL_OCERT_SUPERSEDE_DUE, (int64_t)cutoff, out, n, e);
}

int
store_officer_cert_set_status(struct store *s, const char *serial, const char *from, const char *to,
			      struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_OCERT_STATUS, 0, "move officer certificate", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, serial);
	stmt_text(s, st, 2, from);
	stmt_text(s, st, 3, to);
	if (store_stmt_step(s, st, "move officer certificate", serial, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: officer certificate %s is not %s", serial, from);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_officer_cert_login(struct store *s, const char *serial, time_t when, int *first,
			 struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	*first = 0;
	if ((st = store_stmt_get(s, SQL_OCERT_LOGIN, 0, "record officer login", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, serial);
	stmt_int(s, st, 2, (int64_t)when);
	if (store_stmt_step(s, st, "record officer login", serial, e) == -1)
		goto out;
	*first = s->drv->changes(st) != 0;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_officer_cert_clear(struct store_officer_cert *c)
{
	if (c == NULL)
		return;
	free(c->status);
	memset(c, 0, sizeof(*c));
}
