/*
 * store_apikey: the REST API keys of the organizations (hashes of their secrets only).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

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
	if ((r = store_org_exists(s, k->org_id, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: organization #%" PRId64 " not found", k->org_id);
		goto out;
	}
	if ((st = store_stmt_get(s, SQL_APIKEY_INSERT, 0, "add API key", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, k->id);
	stmt_int(s, st, 2, k->org_id);
	stmt_text(s, st, 3, k->name != NULL ? k->name : "");
	stmt_blob(s, st, 4, k->hash, STORE_HASH_LEN);
	stmt_int(s, st, 5, k->disabled ? 1 : 0);
	stmt_int(s, st, 6, (int64_t)(k->created != 0 ? k->created : util_now()));
	if (store_stmt_step(s, st, "add API key", k->id, e) == -1)
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
	if ((st = store_stmt_get(s, SQL_APIKEY_GET, 0, "get API key", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, id);
	if ((r = store_stmt_step(s, st, "get API key", id, e)) == -1)
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
	if ((st = store_stmt_get(s, org_id != 0 ? SQL_APIKEY_BY_ORG : SQL_APIKEY_ALL, 0,
				 "list API keys", e)) == NULL)
		goto out;
	if (org_id != 0)
		stmt_int(s, st, 1, org_id);
	while ((r = store_stmt_step(s, st, "list API keys", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
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
	STORE_LIST_FREE(v, n, store_apikey_clear);
	return rc;
}

int
store_apikey_set_disabled(struct store *s, const char *id, int disabled, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if (apikey_id_check(id, e) == -1)
		goto out;
	if ((st = store_stmt_get(s, SQL_APIKEY_DISABLE, 0, "disable API key", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, id);
	stmt_int(s, st, 2, disabled ? 1 : 0);
	if (store_stmt_step(s, st, "disable API key", id, e) == -1)
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
	if ((st = store_stmt_get(s, SQL_APIKEY_TOUCH, 0, "touch API key", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, id);
	stmt_int(s, st, 2, (int64_t)when);
	if (store_stmt_step(s, st, "touch API key", id, e) == -1)
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
