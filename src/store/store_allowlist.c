/*
 * store_allowlist: the OU allow-list per organization and domain (0017; src/ra/allowlist.c).
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char SQL_ALLOW_ADD[] =
    "INSERT INTO ou_allowlist (org_id, domain, ou, created) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT DO NOTHING";
static const char SQL_ALLOW_DEL[] =
    "DELETE FROM ou_allowlist WHERE org_id = $1 AND domain = $2 AND ou = $3";
static const char SQL_ALLOW_LIST[] =
    "SELECT org_id, domain, ou, created FROM ou_allowlist WHERE org_id = $1 "
    "ORDER BY domain, ou";
static const char SQL_ALLOW_ALL[] = "SELECT org_id, domain, ou, created FROM ou_allowlist "
				    "ORDER BY org_id, domain, ou";

int
store_allow_add(struct store *s, const struct store_allow *a, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_ALLOW_ADD, 0, "add OU allow-list entry", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, a->org_id);
	stmt_text(s, st, 2, a->domain);
	stmt_text(s, st, 3, a->ou);
	stmt_int(s, st, 4, (int64_t)a->created);
	if (store_stmt_step(s, st, "add OU allow-list entry", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: the OU allow-list entry exists");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_allow_remove(struct store *s, int64_t org_id, const char *domain, const char *ou,
		   struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_ALLOW_DEL, 0, "remove OU allow-list entry", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, org_id);
	stmt_text(s, st, 2, domain);
	stmt_text(s, st, 3, ou);
	if (store_stmt_step(s, st, "remove OU allow-list entry", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such OU allow-list entry");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_allow_list(struct store *s, int64_t org_id, struct store_allow **out, size_t *nout,
		 struct err *e)
{
	struct drv_stmt *st;
	struct store_allow *v = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = store_stmt_get(s, org_id != 0 ? SQL_ALLOW_LIST : SQL_ALLOW_ALL, 0,
				 "list OU allow-list", e)) == NULL)
		goto out;
	if (org_id != 0)
		stmt_int(s, st, 1, org_id);
	while ((r = store_stmt_step(s, st, "list OU allow-list", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		v[n].org_id = col_int(s, st, 0);
		v[n].domain = col_str(s, st, 1);
		v[n].ou = col_str(s, st, 2);
		v[n].created = (time_t)col_int(s, st, 3);
		n++;
	}
	if (r == -1)
		goto out;
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	stmt_reset(s, st);
	STORE_LIST_FREE(v, n, store_allow_clear);
	return rc;
}

void
store_allow_clear(struct store_allow *a)
{
	if (a == NULL)
		return;
	free(a->domain);
	free(a->ou);
	memset(a, 0, sizeof(*a));
}
