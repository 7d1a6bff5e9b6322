/*
 * store_acme: ACME's used nonces, accounts and External Account Bindings (0019; src/ra/acme.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char SQL_ACME_NONCE_USE[] =
    "INSERT INTO acme_nonces (id, expires) VALUES ($1, $2) ON CONFLICT DO NOTHING";
static const char SQL_ACME_NONCE_PURGE[] = "DELETE FROM acme_nonces WHERE expires < $1";

#define ACCOUNT_COLS                                                                               \
	"SELECT id, thumb, jwk, status, contact, tos_agreed, org_id, eab_id, created, updated "    \
	"FROM acme_accounts"
static const char SQL_ACME_ACCOUNT_INSERT[] =
    "INSERT INTO acme_accounts (thumb, jwk, status, contact, tos_agreed, org_id, eab_id, "
    "created, updated) VALUES ($1, $2, 'valid', $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING "
    "RETURNING id";
static const char SQL_ACME_ACCOUNT_GET[] = ACCOUNT_COLS " WHERE id = $1";
static const char SQL_ACME_ACCOUNT_BY_THUMB[] = ACCOUNT_COLS " WHERE thumb = $1";
static const char SQL_ACME_ACCOUNT_CONTACT[] =
    "UPDATE acme_accounts SET contact = $2, updated = $3 WHERE id = $1 AND status = 'valid'";
static const char SQL_ACME_ACCOUNT_STATUS[] =
    "UPDATE acme_accounts SET status = $2, updated = $3 WHERE id = $1 AND status = 'valid'";
/* the new key's uniqueness: a conflict on thumb must not abort a PostgreSQL transaction */
static const char SQL_ACME_THUMB_TAKEN[] = "SELECT 1 FROM acme_accounts WHERE thumb = $1";
static const char SQL_ACME_ACCOUNT_KEY[] =
    "UPDATE acme_accounts SET thumb = $3, jwk = $4, updated = $5 WHERE id = $1 AND thumb = $2 "
    "AND status = 'valid'";

#define EAB_COLS                                                                                   \
	"SELECT b.id, b.kid, b.org_id, o.code, b.names, b.sealed, b.status, b.account_id, "        \
	"b.created, b.bound FROM acme_eab b JOIN organizations o ON o.id = b.org_id"
static const char SQL_ACME_EAB_INSERT[] =
    "INSERT INTO acme_eab (kid, org_id, names, sealed, status, created) VALUES ($1, $2, $3, $4, "
    "'active', $5) ON CONFLICT DO NOTHING RETURNING id";
static const char SQL_ACME_EAB_GET[] = EAB_COLS " WHERE b.kid = $1";
static const char SQL_ACME_EAB_GET_ID[] = EAB_COLS " WHERE b.id = $1";
static const char SQL_ACME_EAB_LIST[] = EAB_COLS " WHERE b.org_id = $1 ORDER BY b.id DESC LIMIT $2";
/* a revoked binding keeps its names */
static const char SQL_ACME_EAB_NAMES[] =
    "UPDATE acme_eab SET names = $2 WHERE kid = $1 AND status <> 'revoked'";
static const char SQL_ACME_EAB_BIND[] =
    "UPDATE acme_eab SET account_id = $2, bound = $3 WHERE id = $1 AND account_id IS NULL AND "
    "status = 'active'";
/* a revoked binding stays revoked */
static const char SQL_ACME_EAB_STATUS[] =
    "UPDATE acme_eab SET status = $2 WHERE kid = $1 AND status <> 'revoked'";

/* ---- nonces ---- */

int
store_acme_nonce_use(struct store *s, const unsigned char id[STORE_ACME_NONCE_ID], time_t expires,
		     struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;
	/*
	 * In an optimistic run (the group commit's, PostgreSQL) the insert does not wait for its
	 * answer: one row expected, so a nonce used before fails the run at its flush, and the
	 * batch runs again unit by unit, where this insert waits and tells ERR_CONFLICT.
	 */
	int flags = s->optimistic ? DRV_DEFER | DRV_ROWS(1) : 0;

	if ((st = store_stmt_get(s, SQL_ACME_NONCE_USE, flags, "use ACME nonce", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, id, STORE_ACME_NONCE_ID);
	stmt_int(s, st, 2, (int64_t)expires);
	if (store_stmt_step(s, st, "use ACME nonce", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) { /* (-1: deferred, told at the flush) */
		err_set(e, ERR_CONFLICT, "store: ACME nonce used before");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_nonce_purge(struct store *s, time_t now, int64_t *n, struct err *e)
{
	return store_purge(s, SQL_ACME_NONCE_PURGE, "purge ACME nonces", now, n, e);
}

/* ---- accounts ---- */

int
store_acme_account_add(struct store *s, struct store_acme_account *a, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	if ((st = store_stmt_get(s, SQL_ACME_ACCOUNT_INSERT, 0, "add ACME account", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, a->thumb, STORE_HASH_LEN);
	stmt_text(s, st, 2, a->jwk);
	stmt_text(s, st, 3, a->contact != NULL ? a->contact : "[]");
	stmt_int(s, st, 4, a->tos_agreed ? 1 : 0);
	stmt_int_or_null(s, st, 5, a->org_id, 0);
	stmt_int_or_null(s, st, 6, a->eab_id, 0);
	stmt_int(s, st, 7, (int64_t)a->created);
	if ((r = store_stmt_step(s, st, "add ACME account", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_CONFLICT, "store: this key has an ACME account already");
		goto out;
	}
	a->id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Fills a from a row of ACCOUNT_COLS. */
static int
account_row(struct store *s, struct drv_stmt *st, struct store_acme_account *a, struct err *e)
{
	const unsigned char *p;
	size_t len = 0;

	a->id = col_int(s, st, 0);
	p = s->drv->column_blob(st, 1, &len);
	if (p == NULL || len != STORE_HASH_LEN)
		return err_set(e, ERR_INTERNAL, "store: ACME account %" PRId64 ": bad thumbprint",
			       a->id);
	memcpy(a->thumb, p, STORE_HASH_LEN);
	a->jwk = col_str(s, st, 2);
	a->status = col_str(s, st, 3);
	a->contact = col_str(s, st, 4);
	a->tos_agreed = col_int(s, st, 5) != 0;
	a->org_id = col_int_or(s, st, 6, 0);
	a->eab_id = col_int_or(s, st, 7, 0);
	a->created = (time_t)col_int(s, st, 8);
	a->updated = (time_t)col_int(s, st, 9);
	return 0;
}

/* One account by id (sql with $1 an integer) or thumbprint ($1 a blob). */
static int
account_get(struct store *s, const char *sql, int64_t id, const unsigned char *thumb,
	    struct store_acme_account *a, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(a, 0, sizeof(*a));
	if ((st = store_stmt_get(s, sql, 0, "get ACME account", e)) == NULL)
		goto out;
	if (thumb != NULL)
		stmt_blob(s, st, 1, thumb, STORE_HASH_LEN);
	else
		stmt_int(s, st, 1, id);
	if ((r = store_stmt_step(s, st, "get ACME account", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such ACME account");
		goto out;
	}
	if (account_row(s, st, a, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_acme_account_clear(a);
	return rc;
}

int
store_acme_account_get(struct store *s, int64_t id, struct store_acme_account *a, struct err *e)
{
	return account_get(s, SQL_ACME_ACCOUNT_GET, id, NULL, a, e);
}

int
store_acme_account_by_thumb(struct store *s, const unsigned char thumb[STORE_HASH_LEN],
			    struct store_acme_account *a, struct err *e)
{
	return account_get(s, SQL_ACME_ACCOUNT_BY_THUMB, 0, thumb, a, e);
}

/* Runs an UPDATE of a valid account ($1 id, $2 text, $3 now); ERR_CONFLICT when none changed. */
static int
account_update(struct store *s, const char *sql, int64_t id, const char *v, time_t now,
	       struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, sql, 0, "update ACME account", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, v);
	stmt_int(s, st, 3, (int64_t)now);
	if (store_stmt_step(s, st, "update ACME account", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: ACME account %" PRId64 " is not valid", id);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_account_set_contact(struct store *s, int64_t id, const char *contact, time_t now,
			       struct err *e)
{
	return account_update(s, SQL_ACME_ACCOUNT_CONTACT, id, contact, now, e);
}

int
store_acme_account_set_status(struct store *s, int64_t id, const char *status, time_t now,
			      struct err *e)
{
	return account_update(s, SQL_ACME_ACCOUNT_STATUS, id, status, now, e);
}

int
store_acme_account_set_key(struct store *s, int64_t id, const unsigned char old[STORE_HASH_LEN],
			   const unsigned char thumb[STORE_HASH_LEN], const char *jwk, time_t now,
			   struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	if ((st = store_stmt_get(s, SQL_ACME_THUMB_TAKEN, 0, "ACME key", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, thumb, STORE_HASH_LEN);
	if ((r = store_stmt_step(s, st, "ACME key", NULL, e)) == -1)
		goto out;
	stmt_reset(s, st);
	st = NULL;
	if (r == 1) {
		err_set(e, ERR_CONFLICT, "store: the new key has an ACME account already");
		goto out;
	}
	if ((st = store_stmt_get(s, SQL_ACME_ACCOUNT_KEY, 0, "change ACME key", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_blob(s, st, 2, old, STORE_HASH_LEN);
	stmt_blob(s, st, 3, thumb, STORE_HASH_LEN);
	stmt_text(s, st, 4, jwk);
	stmt_int(s, st, 5, (int64_t)now);
	if (store_stmt_step(s, st, "change ACME key", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: ACME account %" PRId64 " changed meanwhile", id);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_acme_account_clear(struct store_acme_account *a)
{
	if (a == NULL)
		return;
	free(a->jwk);
	free(a->status);
	free(a->contact);
	memset(a, 0, sizeof(*a));
}

/* ---- External Account Bindings ---- */

int
store_acme_eab_add(struct store *s, struct store_acme_eab *b, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	if ((st = store_stmt_get(s, SQL_ACME_EAB_INSERT, 0, "add ACME binding", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, b->kid);
	stmt_int(s, st, 2, b->org_id);
	stmt_text(s, st, 3, b->names != NULL ? b->names : "");
	stmt_blob(s, st, 4, b->sealed, b->sealedlen);
	stmt_int(s, st, 5, (int64_t)b->created);
	if ((r = store_stmt_step(s, st, "add ACME binding", b->kid, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_CONFLICT, "store: ACME binding %s exists", b->kid);
		goto out;
	}
	b->id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* The row under st (EAB_COLS) into b. */
static void
eab_row(struct store *s, struct drv_stmt *st, struct store_acme_eab *b)
{
	const unsigned char *p;
	const char *k;
	size_t len = 0;

	b->id = col_int(s, st, 0);
	k = s->drv->column_text(st, 1);
	snprintf(b->kid, sizeof(b->kid), "%s", k != NULL ? k : "");
	b->org_id = col_int(s, st, 2);
	b->org_code = col_str(s, st, 3);
	b->names = col_str(s, st, 4);
	p = s->drv->column_blob(st, 5, &len);
	b->sealed = xmalloc(len > 0 ? len : 1);
	if (p != NULL)
		memcpy(b->sealed, p, len);
	b->sealedlen = p != NULL ? len : 0;
	b->status = col_str(s, st, 6);
	b->account_id = col_int_or(s, st, 7, 0);
	b->created = (time_t)col_int(s, st, 8);
	b->bound = (time_t)col_int_or(s, st, 9, 0);
}

/* One binding by key id (kid) or else by id. */
static int
eab_get(struct store *s, const char *kid, int64_t id, struct store_acme_eab *b, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(b, 0, sizeof(*b));
	if ((st = store_stmt_get(s, kid != NULL ? SQL_ACME_EAB_GET : SQL_ACME_EAB_GET_ID, 0,
				 "get ACME binding", e)) == NULL)
		goto out;
	if (kid != NULL)
		stmt_text(s, st, 1, kid);
	else
		stmt_int(s, st, 1, id);
	if ((r = store_stmt_step(s, st, "get ACME binding", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such ACME binding");
		goto out;
	}
	eab_row(s, st, b);
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_acme_eab_clear(b);
	return rc;
}

int
store_acme_eab_get(struct store *s, const char *kid, struct store_acme_eab *b, struct err *e)
{
	return eab_get(s, kid, 0, b, e);
}

int
store_acme_eab_get_id(struct store *s, int64_t id, struct store_acme_eab *b, struct err *e)
{
	return eab_get(s, NULL, id, b, e);
}

int
store_acme_eab_bind(struct store *s, int64_t id, int64_t account_id, time_t now, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_ACME_EAB_BIND, 0, "bind ACME binding", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_int(s, st, 2, account_id);
	stmt_int(s, st, 3, (int64_t)now);
	if (store_stmt_step(s, st, "bind ACME binding", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: ACME binding %" PRId64 " is used or not active",
			id);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_eab_set_status(struct store *s, const char *kid, const char *status, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_ACME_EAB_STATUS, 0, "set ACME binding", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, kid);
	stmt_text(s, st, 2, status);
	if (store_stmt_step(s, st, "set ACME binding", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such ACME binding, or it is revoked for good");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_eab_list(struct store *s, int64_t org_id, size_t max, struct store_acme_eab **out,
		    size_t *nout, struct err *e)
{
	struct drv_stmt *st;
	struct store_acme_eab *v = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = store_stmt_get(s, SQL_ACME_EAB_LIST, 0, "list ACME bindings", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, org_id);
	stmt_int(s, st, 2, (int64_t)max);
	while ((r = store_stmt_step(s, st, "list ACME bindings", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		memset(&v[n], 0, sizeof(v[n]));
		eab_row(s, st, &v[n]);
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
	STORE_LIST_FREE(v, n, store_acme_eab_clear);
	return rc;
}

int
store_acme_eab_set_names(struct store *s, const char *kid, const char *names, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_ACME_EAB_NAMES, 0, "set ACME binding names", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, kid);
	stmt_text(s, st, 2, names);
	if (store_stmt_step(s, st, "set ACME binding names", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such ACME binding, or it is revoked for good");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_acme_eab_clear(struct store_acme_eab *b)
{
	if (b == NULL)
		return;
	free(b->org_code);
	free(b->names);
	free(b->status);
	if (b->sealed != NULL)
		memset(b->sealed, 0, b->sealedlen);
	free(b->sealed);
	memset(b, 0, sizeof(*b));
}
