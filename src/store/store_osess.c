/*
 * store_osess: sessions of the RA officers' console (0015; src/ra/osess.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char SQL_OSESS_INSERT[] =
    "INSERT INTO officer_sessions (id_hash, officer_id, fpr, client, created, last_seen) "
    "VALUES ($1, $2, $3, $4, $5, $5)";
static const char SQL_OSESS_GET[] =
    "SELECT officer_id, fpr, client, created, last_seen, ended, end_reason FROM "
    "officer_sessions "
    "WHERE id_hash = $1";
static const char SQL_OSESS_TOUCH[] =
    "UPDATE officer_sessions SET last_seen = $2 WHERE id_hash = $1 AND ended IS NULL";
static const char SQL_OSESS_END[] = "UPDATE officer_sessions SET ended = $2, end_reason = $3 "
				    "WHERE id_hash = $1 AND ended IS NULL";
static const char SQL_OSESS_STALE[] =
    "SELECT id_hash, officer_id, client, last_seen FROM officer_sessions "
    "WHERE ended IS NULL AND last_seen < $1 ORDER BY last_seen LIMIT $2";

int
store_osess_add(struct store *s, const struct store_osess *o, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_OSESS_INSERT, 0, "add officer session", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, o->id_hash, STORE_HASH_LEN);
	stmt_int(s, st, 2, o->officer_id);
	stmt_blob(s, st, 3, o->fpr, STORE_HASH_LEN);
	stmt_text(s, st, 4, o->client);
	stmt_int(s, st, 5, (int64_t)o->created);
	if (store_stmt_step(s, st, "add officer session", NULL, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_osess_get(struct store *s, const unsigned char id_hash[STORE_HASH_LEN], struct store_osess *o,
		struct err *e)
{
	struct drv_stmt *st = NULL;
	const unsigned char *p;
	const char *t;
	size_t len = 0;
	int r, rc = -1;

	memset(o, 0, sizeof(*o));
	if ((st = store_stmt_get(s, SQL_OSESS_GET, 0, "officer session", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, id_hash, STORE_HASH_LEN);
	if ((r = store_stmt_step(s, st, "officer session", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such officer session");
		goto out;
	}
	memcpy(o->id_hash, id_hash, STORE_HASH_LEN);
	o->officer_id = col_int(s, st, 0);
	p = s->drv->column_blob(st, 1, &len);
	if (p == NULL || len != STORE_HASH_LEN) {
		err_set(e, ERR_INTERNAL, "store: officer session with a bad fingerprint");
		goto out;
	}
	memcpy(o->fpr, p, STORE_HASH_LEN);
	t = s->drv->column_text(st, 2);
	snprintf(o->client, sizeof(o->client), "%s", t != NULL ? t : "");
	o->created = (time_t)col_int(s, st, 3);
	o->last_seen = (time_t)col_int(s, st, 4);
	o->ended = (time_t)col_int_or(s, st, 5, 0);
	t = s->drv->column_text(st, 6);
	snprintf(o->end_reason, sizeof(o->end_reason), "%s", t != NULL ? t : "");
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* One UPDATE keyed by the id hash; 1 when it changed the row, 0 when not (ended already). */
static int
store_osess_update(struct store *s, const char *sql, const unsigned char id_hash[STORE_HASH_LEN],
		   time_t now, const char *reason, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, sql, 0, "update officer session", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, id_hash, STORE_HASH_LEN);
	stmt_int(s, st, 2, (int64_t)now);
	if (reason != NULL)
		stmt_text(s, st, 3, reason);
	if (store_stmt_step(s, st, "update officer session", NULL, e) == -1)
		goto out;
	rc = s->drv->changes(st) > 0 ? 1 : 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_osess_touch(struct store *s, const unsigned char id_hash[STORE_HASH_LEN], time_t now,
		  struct err *e)
{
	return store_osess_update(s, SQL_OSESS_TOUCH, id_hash, now, NULL, e);
}

int
store_osess_end(struct store *s, const unsigned char id_hash[STORE_HASH_LEN], time_t now,
		const char *reason, struct err *e)
{
	return store_osess_update(s, SQL_OSESS_END, id_hash, now, reason, e);
}

int
store_osess_stale(struct store *s, time_t before, size_t max, struct store_osess **out, size_t *n,
		  struct err *e)
{
	struct drv_stmt *st = NULL;
	struct store_osess *v = NULL;
	const unsigned char *p;
	const char *t;
	size_t cap = 0, len;
	int r, rc = -1;

	*out = NULL;
	*n = 0;
	if ((st = store_stmt_get(s, SQL_OSESS_STALE, 0, "stale officer sessions", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, (int64_t)before);
	stmt_int(s, st, 2, (int64_t)max);
	while ((r = store_stmt_step(s, st, "stale officer sessions", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, *n, sizeof(*v));
		len = 0;
		p = s->drv->column_blob(st, 0, &len);
		if (p == NULL || len != STORE_HASH_LEN) {
			err_set(e, ERR_INTERNAL, "store: officer session with a bad id");
			goto out;
		}
		memcpy(v[*n].id_hash, p, STORE_HASH_LEN);
		v[*n].officer_id = col_int(s, st, 1);
		t = s->drv->column_text(st, 2);
		snprintf(v[*n].client, sizeof(v[*n].client), "%s", t != NULL ? t : "");
		v[*n].last_seen = (time_t)col_int(s, st, 3);
		(*n)++;
	}
	if (r == -1)
		goto out;
	*out = v;
	v = NULL;
	rc = 0;
out:
	if (rc == -1)
		*n = 0;
	free(v);
	stmt_reset(s, st);
	return rc;
}
