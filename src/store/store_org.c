/*
 * store_org: organizations, their domains and the rest of their name policy (0011).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char SQL_ORG_INSERT[] =
    "INSERT INTO organizations (code, name, created) VALUES ($1, $2, $3) "
    "ON CONFLICT DO NOTHING RETURNING id";
static const char SQL_ORG_DOMAIN_INSERT[] =
    "INSERT INTO org_domains (org_id, domain) VALUES ($1, $2) ON CONFLICT DO NOTHING";
#define ORG_COLS "SELECT id, code, name, created, unrestricted FROM organizations"
static const char SQL_ORG_BY_CODE[] = ORG_COLS " WHERE code = $1";
static const char SQL_ORG_BY_ID[] = ORG_COLS " WHERE id = $1";
static const char SQL_ORG_ALL[] = ORG_COLS " ORDER BY code";
static const char SQL_ORG_DOMAINS[] =
    "SELECT domain FROM org_domains WHERE org_id = $1 ORDER BY domain";
static const char SQL_ORG_EXISTS[] = "SELECT 1 FROM organizations WHERE id = $1";
static const char SQL_ORG_CODE[] = "SELECT code FROM organizations WHERE id = $1";
static const char SQL_ORG_NAMES[] =
    "SELECT kind, value FROM org_names WHERE org_id = $1 ORDER BY kind, value";
static const char SQL_ORG_UPDATE[] =
    "UPDATE organizations SET name = $2, unrestricted = $3 WHERE id = $1";
static const char SQL_ORG_DOMAINS_DELETE[] = "DELETE FROM org_domains WHERE org_id = $1";
static const char SQL_ORG_NAMES_DELETE[] = "DELETE FROM org_names WHERE org_id = $1";
static const char SQL_ORG_NAME_INSERT[] =
    "INSERT INTO org_names (org_id, kind, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

int
store_org_add(struct store *s, const char *code, const char *name, const char *const *domains,
	      size_t ndomains, int64_t *id, struct err *e)
{
	struct drv_stmt *st = NULL;
	char esc[128];
	int64_t oid = 0;
	size_t i;
	int rc = -1, own = 0, r;

	if (code == NULL || name == NULL) {
		err_set(e, ERR_INTERNAL, "store: organization without code or name");
		goto out;
	}
	if (store_tx_enter(s, &own, e) == -1)
		goto out;
	if ((st = store_stmt_get(s, SQL_ORG_INSERT, 0, "add organization", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, code);
	stmt_text(s, st, 2, name);
	stmt_int(s, st, 3, (int64_t)util_now());
	if ((r = store_stmt_step(s, st, "add organization", code, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_CONFLICT, "store: organization %s already exists",
			store_esc(esc, sizeof(esc), code));
		goto out;
	}
	oid = col_int(s, st, 0);
	stmt_reset(s, st);
	st = NULL;
	for (i = 0; i < ndomains; i++) {
		if ((st = store_stmt_get(s, SQL_ORG_DOMAIN_INSERT, 0, "add organization domain",
					 e)) == NULL)
			goto out;
		stmt_int(s, st, 1, oid);
		stmt_text(s, st, 2, domains[i]);
		if (store_stmt_step(s, st, "add organization domain", domains[i], e) == -1)
			goto out;
		stmt_reset(s, st);
		st = NULL;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	rc = store_tx_leave(s, own, rc, e);
	if (rc == 0 && id != NULL)
		*id = oid;
	return rc;
}

int
store_org_exists(struct store *s, int64_t id, struct err *e)
{
	return store_exists(s, SQL_ORG_EXISTS, NULL, id, "find organization", e);
}

/* Appends a copy of v to the list *l of *n entries (capacity *cap). */
static void
org_list_add(char ***l, size_t *n, size_t *cap, char *v)
{
	store_array_grow((void **)l, cap, *n, sizeof(**l));
	(*l)[(*n)++] = v;
}

/* Loads the domains and the other names of o (each list sorted). */
static int
org_domains_load(struct store *s, struct store_org *o, struct err *e)
{
	struct drv_stmt *st;
	size_t cap = 0, cm = 0, ci = 0, cu = 0;
	char *kind;
	int rc = -1, r;

	if ((st = store_stmt_get(s, SQL_ORG_DOMAINS, 0, "organization domains", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, o->id);
	while ((r = store_stmt_step(s, st, "organization domains of", o->code, e)) == 1)
		org_list_add(&o->domains, &o->ndomains, &cap, col_str(s, st, 0));
	if (r == -1)
		goto out;
	stmt_reset(s, st);
	if ((st = store_stmt_get(s, SQL_ORG_NAMES, 0, "organization names", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, o->id);
	while ((r = store_stmt_step(s, st, "organization names of", o->code, e)) == 1) {
		kind = col_str(s, st, 0);
		if (strcmp(kind, "mail") == 0)
			org_list_add(&o->mail_domains, &o->nmail_domains, &cm, col_str(s, st, 1));
		else if (strcmp(kind, "ip") == 0)
			org_list_add(&o->ips, &o->nips, &ci, col_str(s, st, 1));
		else
			org_list_add(&o->uris, &o->nuris, &cu, col_str(s, st, 1));
		free(kind);
	}
	if (r == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Inserts each of the n values v of kind ("domain", or an org_names kind) for org_id. */
static int
org_names_insert(struct store *s, int64_t org_id, const char *kind, char *const *v, size_t n,
		 struct err *e)
{
	struct drv_stmt *st = NULL;
	int dns = strcmp(kind, "domain") == 0;
	size_t i;
	int rc = -1;

	for (i = 0; i < n; i++) {
		if ((st = store_stmt_get(s, dns ? SQL_ORG_DOMAIN_INSERT : SQL_ORG_NAME_INSERT, 0,
					 "add organization name", e)) == NULL)
			goto out;
		stmt_int(s, st, 1, org_id);
		stmt_text(s, st, 2, dns ? v[i] : kind);
		if (!dns)
			stmt_text(s, st, 3, v[i]);
		if (store_stmt_step(s, st, "add organization name", v[i], e) == -1)
			goto out;
		stmt_reset(s, st);
		st = NULL;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_org_update(struct store *s, const struct store_org *o, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, own = 0, r;

	if (store_tx_enter(s, &own, e) == -1)
		goto out;
	if ((st = store_stmt_get(s, SQL_ORG_UPDATE, 0, "update organization", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, o->id);
	stmt_text(s, st, 2, o->name);
	stmt_int(s, st, 3, o->unrestricted ? 1 : 0);
	if ((r = store_stmt_step(s, st, "update organization", o->code, e)) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_NOTFOUND, "store: organization #%" PRId64 " not found", o->id);
		goto out;
	}
	stmt_reset(s, st);
	st = NULL;
	if ((st = store_stmt_get(s, SQL_ORG_DOMAINS_DELETE, 0, "update organization", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, o->id);
	if (store_stmt_step(s, st, "update organization", o->code, e) == -1)
		goto out;
	stmt_reset(s, st);
	if ((st = store_stmt_get(s, SQL_ORG_NAMES_DELETE, 0, "update organization", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, o->id);
	if (store_stmt_step(s, st, "update organization", o->code, e) == -1)
		goto out;
	stmt_reset(s, st);
	st = NULL;
	if (org_names_insert(s, o->id, "domain", o->domains, o->ndomains, e) == -1 ||
	    org_names_insert(s, o->id, "mail", o->mail_domains, o->nmail_domains, e) == -1 ||
	    org_names_insert(s, o->id, "ip", o->ips, o->nips, e) == -1 ||
	    org_names_insert(s, o->id, "uri", o->uris, o->nuris, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return store_tx_leave(s, own, rc, e);
}

static void
org_row(struct store *s, struct drv_stmt *st, struct store_org *o)
{
	o->id = col_int(s, st, 0);
	o->code = col_str(s, st, 1);
	o->name = col_str(s, st, 2);
	o->created = (time_t)col_int(s, st, 3);
	o->unrestricted = col_int(s, st, 4) != 0;
}

/* One organization by code (code != NULL) or id. */
static int
org_fetch(struct store *s, const char *code, int64_t id, struct store_org *o, struct err *e)
{
	struct drv_stmt *st;
	char esc[128];
	int rc = -1, r;

	memset(o, 0, sizeof(*o));
	if ((st = store_stmt_get(s, code != NULL ? SQL_ORG_BY_CODE : SQL_ORG_BY_ID, 0,
				 "get organization", e)) == NULL)
		goto out;
	if (code != NULL)
		stmt_text(s, st, 1, code);
	else
		stmt_int(s, st, 1, id);
	if ((r = store_stmt_step(s, st, "get organization", code, e)) == -1)
		goto out;
	if (r == 0) {
		if (code != NULL)
			err_set(e, ERR_NOTFOUND, "store: organization %s not found",
				store_esc(esc, sizeof(esc), code));
		else
			err_set(e, ERR_NOTFOUND, "store: organization #%" PRId64 " not found", id);
		goto out;
	}
	org_row(s, st, o);
	stmt_reset(s, st);
	st = NULL;
	if (org_domains_load(s, o, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_org_clear(o);
	return rc;
}

int
store_org_get(struct store *s, const char *code, struct store_org *o, struct err *e)
{
	int rc;

	if (code == NULL) {
		memset(o, 0, sizeof(*o));
		rc = err_set(e, ERR_NOTFOUND, "store: organization (none) not found");
	} else {
		rc = org_fetch(s, code, 0, o, e);
	}
	return rc;
}

int
store_org_get_id(struct store *s, int64_t id, struct store_org *o, struct err *e)
{
	return org_fetch(s, NULL, id, o, e);
}

int
store_org_list(struct store *s, struct store_org **out, size_t *nout, struct err *e)
{
	struct drv_stmt *st;
	struct store_org *v = NULL;
	size_t n = 0, cap = 0, i;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = store_stmt_get(s, SQL_ORG_ALL, 0, "list organizations", e)) == NULL)
		goto out;
	while ((r = store_stmt_step(s, st, "list organizations", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		org_row(s, st, &v[n++]);
	}
	if (r == -1)
		goto out;
	stmt_reset(s, st);
	st = NULL;
	for (i = 0; i < n; i++)
		if (org_domains_load(s, &v[i], e) == -1)
			goto out;
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	stmt_reset(s, st);
	STORE_LIST_FREE(v, n, store_org_clear);
	return rc;
}

void
store_org_clear(struct store_org *o)
{
	size_t i;

	if (o == NULL)
		return;
	free(o->code);
	free(o->name);
	for (i = 0; i < o->ndomains; i++)
		free(o->domains[i]);
	free(o->domains);
	for (i = 0; i < o->nmail_domains; i++)
		free(o->mail_domains[i]);
	free(o->mail_domains);
	for (i = 0; i < o->nips; i++)
		free(o->ips[i]);
	free(o->ips);
	for (i = 0; i < o->nuris; i++)
		free(o->uris[i]);
	free(o->uris);
	memset(o, 0, sizeof(*o));
}

int
store_org_code_get(struct store *s, int64_t id, char **code, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*code = NULL;
	if ((st = store_stmt_get(s, SQL_ORG_CODE, 0, "get organization code", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	if ((r = store_stmt_step(s, st, "get organization code", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: organization #%" PRId64 " not found", id);
		goto out;
	}
	*code = col_str(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}
