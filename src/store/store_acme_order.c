/*
 * store_acme_order: ACME orders, authorizations and their challenges (0020, 0022; the link of
 * orders and authorizations 0023; src/ra/acmeorder.c).  The moves are conditional updates (the
 * expected former status in the WHERE clause): a move that finds another status is ERR_CONFLICT, so
 * two validations or two finalizations of one object cannot both win.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define ORDER_COLS                                                                                 \
	"SELECT id, account_id, status, identifiers, expires, serial, created, updated, profile, " \
	"replaces, replaces_certid, error FROM acme_orders"
static const char SQL_ORDER_INSERT[] =
    "INSERT INTO acme_orders (account_id, status, identifiers, expires, created, updated, "
    "profile, replaces, replaces_certid) VALUES ($1, 'pending', $2, $3, $4, $4, $5, $6, $7) "
    "RETURNING id";
static const char SQL_ORDER_GET[] = ORDER_COLS " WHERE id = $1";
static const char SQL_ORDER_MOVE[] =
    "UPDATE acme_orders SET status = $3, serial = COALESCE($4, serial), updated = $5 WHERE "
    "id = $1 AND status = $2";
static const char SQL_ORDER_MOVE_STALE[] =
    "UPDATE acme_orders SET status = $3, serial = COALESCE($4, serial), updated = $5 WHERE "
    "id = $1 AND status = $2 AND updated < $6";
/* the orders list (0024): an account's live orders and its certificates' orders, by id */
static const char SQL_ORDER_LIST[] =
    "SELECT id FROM acme_orders WHERE account_id = $1 AND id > $2 AND status <> 'invalid' AND "
    "(status = 'valid' OR expires > $3) ORDER BY id LIMIT $4";
static const char SQL_ORDER_OF_SERIAL[] = ORDER_COLS " WHERE serial = $1 ORDER BY id LIMIT 1";
static const char SQL_ORDER_REPLACING[] =
    "SELECT id FROM acme_orders WHERE replaces = $1 AND status IN ('processing', 'valid') AND "
    "id <> $2 ORDER BY id LIMIT 1";
/* 0028: the orders left processing since before $1, and one of them made invalid */
static const char SQL_ORDER_STALE_PROCESSING[] =
    "SELECT id FROM acme_orders WHERE status = 'processing' AND updated < $1 ORDER BY updated "
    "LIMIT $2";
static const char SQL_ORDER_FAIL[] =
    "UPDATE acme_orders SET status = 'invalid', error = $2, updated = $3 WHERE id = $1 AND "
    "status = 'processing' AND updated < $4";
static const char SQL_ORDER_BY_SERIAL[] =
    "SELECT account_id FROM acme_orders WHERE serial = $1 ORDER BY id LIMIT 1";

#define AUTHZ_COLS                                                                                 \
	"SELECT id, order_id, account_id, type, value, status, expires, token, chall_status, "     \
	"validated, error, updated, wildcard FROM acme_authzs"
static const char SQL_AUTHZ_INSERT[] =
    "INSERT INTO acme_authzs (order_id, account_id, type, value, status, expires, token, "
    "chall_status, wildcard) VALUES ($1, $2, $3, $4, 'pending', $5, $6, 'pending', $7) "
    "RETURNING id";
static const char SQL_AUTHZ_GET[] = AUTHZ_COLS " WHERE id = $1";
static const char SQL_AUTHZ_LIST[] =
    AUTHZ_COLS " WHERE id IN (SELECT authz_id FROM acme_order_authzs WHERE order_id = $1) "
	       "ORDER BY id";
/* (the authorization follows its challenge only while pending: a deactivated or expired one
 * keeps its status; a valid one lives until expires, its reuse period) */
static const char SQL_AUTHZ_MOVE[] =
    "UPDATE acme_authzs SET status = CASE WHEN status = 'pending' THEN $3 ELSE status END, "
    "chall_status = $4, error = $5, validated = $6, updated = $7, expires = CASE WHEN status "
    "= 'pending' AND $3 = 'valid' THEN $8 ELSE expires END WHERE id = $1 AND chall_status = $2";
static const char SQL_AUTHZ_MOVE_STALE[] =
    "UPDATE acme_authzs SET status = CASE WHEN status = 'pending' THEN $3 ELSE status END, "
    "chall_status = $4, error = $5, validated = $6, updated = $7, expires = CASE WHEN status "
    "= 'pending' AND $3 = 'valid' THEN $8 ELSE expires END WHERE id = $1 AND chall_status = $2 "
    "AND updated < $9";
static const char SQL_AUTHZ_SET_STATUS[] =
    "UPDATE acme_authzs SET status = $3, updated = $4 WHERE id = $1 AND status = $2";
static const char SQL_AUTHZ_LINK[] =
    "INSERT INTO acme_order_authzs (order_id, authz_id) VALUES ($1, $2)";
/* (the orders that can still follow it: an authorization serves at most
 * STORE_ACME_AUTHZ_ORDERS_MAX, as newOrder reuses no fuller one, so this reads at most that) */
static const char SQL_AUTHZ_ORDERS[] =
    "SELECT l.order_id FROM acme_order_authzs l JOIN acme_orders o ON o.id = l.order_id WHERE "
    "l.authz_id = $1 AND o.status IN ('pending', 'ready') ORDER BY l.order_id LIMIT $2";
/* an account's usable authorization of an identifier: valid first, then the newest */
static const char SQL_AUTHZ_FIND[] =
    "SELECT id FROM acme_authzs WHERE account_id = $1 AND type = $2 AND value = $3 AND "
    "wildcard = $6 AND expires > $4 AND (status = 'valid' OR ($5 = 0 AND status = 'pending')) "
    "AND ($5 = 1 OR (SELECT COUNT(*) FROM acme_order_authzs l WHERE l.authz_id = "
    "acme_authzs.id) < $7) ORDER BY CASE "
    "status WHEN 'valid' THEN 0 ELSE 1 END, id DESC LIMIT 1";
/* finalize (0029): the order's authorizations, read in the certificate's transaction */
static const char SQL_AUTHZ_HOLD[] =
    "SELECT id, status, expires FROM acme_authzs WHERE id IN (SELECT authz_id FROM "
    "acme_order_authzs WHERE order_id = $1) ORDER BY id";
/* the valid DNS authorizations of an order whose CAA was last checked before $2 (0029), with
 * the method of their valid challenge */
static const char SQL_AUTHZ_CAA_DUE[] =
    "SELECT a.id, a.value, a.wildcard, COALESCE((SELECT c.type FROM acme_challs c WHERE "
    "c.authz_id = a.id AND c.status = 'valid' ORDER BY c.id LIMIT 1), 'http-01') FROM "
    "acme_authzs a WHERE a.id IN (SELECT authz_id FROM acme_order_authzs WHERE order_id = $1) "
    "AND a.type = 'dns' AND a.status = 'valid' AND COALESCE(a.caa_checked, a.validated, 0) < $2 "
    "ORDER BY a.id";
static const char SQL_AUTHZ_CAA_SET[] =
    "UPDATE acme_authzs SET caa_checked = $2 WHERE id = $1 AND status = 'valid'";

#define CHALL_COLS                                                                                 \
	"SELECT id, authz_id, type, token, status, validated, error, updated FROM acme_challs"
static const char SQL_CHALL_INSERT[] =
    "INSERT INTO acme_challs (authz_id, type, token, status) VALUES ($1, $2, $3, 'pending') "
    "RETURNING id";
static const char SQL_CHALL_GET[] = CHALL_COLS " WHERE id = $1";
static const char SQL_CHALL_LIST[] = CHALL_COLS " WHERE authz_id = $1 ORDER BY id";
static const char SQL_CHALL_MOVE[] =
    "UPDATE acme_challs SET status = $3, error = $4, validated = $5, updated = $6 WHERE id = $1 "
    "AND status = $2";

static const char SQL_FAILED_ADD[] =
    "INSERT INTO acme_failed_validations (name, account_id, at) VALUES ($1, $2, $3)";
static const char SQL_FAILED_COUNT[] =
    "SELECT COUNT(*) FROM acme_failed_validations WHERE name = $1 AND at >= $2";

/* ---- orders ---- */

int
store_acme_order_add(struct store *s, struct store_acme_order *o, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	if ((st = store_stmt_get(s, SQL_ORDER_INSERT, 0, "add ACME order", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, o->account_id);
	stmt_text(s, st, 2, o->identifiers);
	stmt_int(s, st, 3, (int64_t)o->expires);
	stmt_int(s, st, 4, (int64_t)o->created);
	stmt_text(s, st, 5, o->profile != NULL ? o->profile : "server");
	if (o->replaces != NULL && o->replaces_certid != NULL) {
		stmt_text(s, st, 6, o->replaces);
		stmt_text(s, st, 7, o->replaces_certid);
	} else {
		s->drv->bind_null(st, 6);
		s->drv->bind_null(st, 7);
	}
	if ((r = store_stmt_step(s, st, "add ACME order", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_INTERNAL, "store: an ACME order insert returned no id");
		goto out;
	}
	o->id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Fills o from a row of ORDER_COLS. */
static void
order_row(struct store *s, struct drv_stmt *st, struct store_acme_order *o)
{
	o->id = col_int(s, st, 0);
	o->account_id = col_int(s, st, 1);
	o->status = col_str(s, st, 2);
	o->identifiers = col_str(s, st, 3);
	o->expires = (time_t)col_int(s, st, 4);
	o->serial = col_dup(s, st, 5);
	o->created = (time_t)col_int(s, st, 6);
	o->updated = (time_t)col_int(s, st, 7);
	o->profile = col_str(s, st, 8);
	o->replaces = col_dup(s, st, 9);
	o->replaces_certid = col_dup(s, st, 10);
	o->error = col_dup(s, st, 11);
}

int
store_acme_order_get(struct store *s, int64_t id, struct store_acme_order *o, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(o, 0, sizeof(*o));
	if ((st = store_stmt_get(s, SQL_ORDER_GET, 0, "get ACME order", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	if ((r = store_stmt_step(s, st, "get ACME order", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such ACME order");
		goto out;
	}
	order_row(s, st, o);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_order_move(struct store *s, int64_t id, const char *from, const char *to,
		      const char *serial, time_t now, time_t before, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, before != 0 ? SQL_ORDER_MOVE_STALE : SQL_ORDER_MOVE, 0,
				 "move ACME order", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, from);
	stmt_text(s, st, 3, to);
	if (serial != NULL)
		stmt_text(s, st, 4, serial);
	else
		s->drv->bind_null(st, 4);
	stmt_int(s, st, 5, (int64_t)now);
	if (before != 0)
		stmt_int(s, st, 6, (int64_t)before);
	if (store_stmt_step(s, st, "move ACME order", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: ACME order %" PRId64 " is not %s%s", id, from,
			before != 0 ? " since long enough" : "");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_order_stale_processing(struct store *s, time_t before, int64_t *ids, size_t max,
				  size_t *n, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*n = 0;
	if ((st = store_stmt_get(s, SQL_ORDER_STALE_PROCESSING, 0, "stale ACME orders", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, (int64_t)before);
	stmt_int(s, st, 2, (int64_t)max);
	while ((r = store_stmt_step(s, st, "stale ACME orders", NULL, e)) == 1 && *n < max)
		ids[(*n)++] = col_int(s, st, 0);
	if (r == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_order_fail(struct store *s, int64_t id, const char *error, time_t now, time_t before,
		      struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_ORDER_FAIL, 0, "give an ACME order up", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, error);
	stmt_int(s, st, 3, (int64_t)now);
	stmt_int(s, st, 4, (int64_t)before);
	if (store_stmt_step(s, st, "give an ACME order up", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: ACME order %" PRId64 " is no longer processing",
			id);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_order_by_serial(struct store *s, const char *serial, int64_t *account_id, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*account_id = 0;
	if ((st = store_stmt_get(s, SQL_ORDER_BY_SERIAL, 0, "ACME order by serial", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, serial);
	if ((r = store_stmt_step(s, st, "ACME order by serial", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no ACME order has certificate %s", serial);
		goto out;
	}
	*account_id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_order_list(struct store *s, int64_t account_id, int64_t after, time_t now, size_t limit,
		      int64_t **ids, size_t *n, struct err *e)
{
	struct drv_stmt *st = NULL;
	int64_t *v = xcalloc(limit > 0 ? limit : 1, sizeof(*v));
	size_t k = 0;
	int rc = -1, r = 0;

	*ids = NULL;
	*n = 0;
	if ((st = store_stmt_get(s, SQL_ORDER_LIST, 0, "list ACME orders", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, account_id);
	stmt_int(s, st, 2, after);
	stmt_int(s, st, 3, (int64_t)now);
	stmt_int(s, st, 4, (int64_t)limit);
	while (k < limit && (r = store_stmt_step(s, st, "list ACME orders", NULL, e)) == 1)
		v[k++] = col_int(s, st, 0);
	if (r == -1)
		goto out;
	*ids = v;
	*n = k;
	v = NULL;
	rc = 0;
out:
	stmt_reset(s, st);
	free(v);
	return rc;
}

int
store_acme_order_of_serial(struct store *s, const char *serial, struct store_acme_order *o,
			   struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(o, 0, sizeof(*o));
	if ((st = store_stmt_get(s, SQL_ORDER_OF_SERIAL, 0, "ACME order of a certificate", e)) ==
	    NULL)
		goto out;
	stmt_text(s, st, 1, serial);
	if ((r = store_stmt_step(s, st, "ACME order of a certificate", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no ACME order has certificate %s", serial);
		goto out;
	}
	order_row(s, st, o);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_order_replacing(struct store *s, const char *serial, int64_t except, int64_t *id,
			   struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*id = 0;
	if ((st = store_stmt_get(s, SQL_ORDER_REPLACING, 0, "ACME order replacing", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, serial);
	stmt_int(s, st, 2, except);
	if ((r = store_stmt_step(s, st, "ACME order replacing", NULL, e)) == -1)
		goto out;
	if (r == 1)
		*id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_acme_order_clear(struct store_acme_order *o)
{
	if (o == NULL)
		return;
	free(o->profile);
	free(o->replaces);
	free(o->replaces_certid);
	free(o->error);
	free(o->status);
	free(o->identifiers);
	free(o->serial);
	memset(o, 0, sizeof(*o));
}

/* ---- authorizations ---- */

int
store_acme_authz_add(struct store *s, struct store_acme_authz *a, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	if ((st = store_stmt_get(s, SQL_AUTHZ_INSERT, 0, "add ACME authorization", e)) == NULL)
		goto out;
	stmt_int_or_null(s, st, 1, a->order_id, 0); /* 0: a pre-authorization */
	stmt_int(s, st, 2, a->account_id);
	stmt_text(s, st, 3, a->type);
	stmt_text(s, st, 4, a->value);
	stmt_int(s, st, 5, (int64_t)a->expires);
	stmt_text(s, st, 6, a->token);
	stmt_int(s, st, 7, a->wildcard ? 1 : 0);
	if ((r = store_stmt_step(s, st, "add ACME authorization", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_INTERNAL, "store: an ACME authorization insert returned no id");
		goto out;
	}
	a->id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Fills a from a row of AUTHZ_COLS. */
static void
authz_row(struct store *s, struct drv_stmt *st, struct store_acme_authz *a)
{
	const char *t = s->drv->column_text(st, 3);

	a->id = col_int(s, st, 0);
	a->order_id = col_int_or(s, st, 1, 0);
	a->account_id = col_int(s, st, 2);
	snprintf(a->type, sizeof(a->type), "%s", t != NULL ? t : "");
	a->value = col_str(s, st, 4);
	a->status = col_str(s, st, 5);
	a->expires = (time_t)col_int(s, st, 6);
	a->token = col_str(s, st, 7);
	a->chall_status = col_str(s, st, 8);
	a->validated = (time_t)col_int_or(s, st, 9, 0);
	a->error = col_dup(s, st, 10);
	a->updated = (time_t)col_int(s, st, 11);
	a->wildcard = col_int(s, st, 12) != 0;
}

int
store_acme_authz_get(struct store *s, int64_t id, struct store_acme_authz *a, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(a, 0, sizeof(*a));
	if ((st = store_stmt_get(s, SQL_AUTHZ_GET, 0, "get ACME authorization", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	if ((r = store_stmt_step(s, st, "get ACME authorization", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such ACME authorization");
		goto out;
	}
	authz_row(s, st, a);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_authz_list(struct store *s, int64_t order_id, struct store_acme_authz **out,
		      size_t *nout, struct err *e)
{
	struct drv_stmt *st;
	struct store_acme_authz *v = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = store_stmt_get(s, SQL_AUTHZ_LIST, 0, "list ACME authorizations", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, order_id);
	while ((r = store_stmt_step(s, st, "list ACME authorizations", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		memset(&v[n], 0, sizeof(v[n]));
		authz_row(s, st, &v[n]);
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
	STORE_LIST_FREE(v, n, store_acme_authz_clear);
	return rc;
}

int
store_acme_authz_move(struct store *s, int64_t id, const char *chall_from, const char *status,
		      const char *chall_status, const char *error, time_t now, time_t before,
		      time_t valid_until, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, before != 0 ? SQL_AUTHZ_MOVE_STALE : SQL_AUTHZ_MOVE, 0,
				 "move ACME authorization", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, chall_from);
	stmt_text(s, st, 3, status);
	stmt_text(s, st, 4, chall_status);
	if (error != NULL)
		stmt_text(s, st, 5, error);
	else
		s->drv->bind_null(st, 5);
	/* a challenge being validated has no validation time yet */
	stmt_int_or_null(s, st, 6, strcmp(chall_status, "processing") == 0 ? 0 : (int64_t)now, 0);
	stmt_int(s, st, 7, (int64_t)now);
	stmt_int(s, st, 8, (int64_t)valid_until);
	if (before != 0)
		stmt_int(s, st, 9, (int64_t)before);
	if (store_stmt_step(s, st, "move ACME authorization", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT,
			"store: the challenge of ACME authorization %" PRId64 " is not %s", id,
			chall_from);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_authz_set_status(struct store *s, int64_t id, const char *from, const char *to,
			    time_t now, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_AUTHZ_SET_STATUS, 0, "set ACME authorization status", e)) ==
	    NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, from);
	stmt_text(s, st, 3, to);
	stmt_int(s, st, 4, (int64_t)now);
	if (store_stmt_step(s, st, "set ACME authorization status", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: ACME authorization %" PRId64 " is not %s", id,
			from);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_authz_link(struct store *s, int64_t order_id, int64_t authz_id, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_AUTHZ_LINK, 0, "link ACME authorization", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, order_id);
	stmt_int(s, st, 2, authz_id);
	if (store_stmt_step(s, st, "link ACME authorization", NULL, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_authz_orders(struct store *s, int64_t authz_id, int64_t **out, size_t *nout,
			struct err *e)
{
	struct drv_stmt *st;
	int64_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = store_stmt_get(s, SQL_AUTHZ_ORDERS, 0, "orders of an ACME authorization", e)) ==
	    NULL)
		goto out;
	stmt_int(s, st, 1, authz_id);
	stmt_int(s, st, 2, STORE_ACME_AUTHZ_ORDERS_MAX);
	while ((r = store_stmt_step(s, st, "orders of an ACME authorization", NULL, e)) == 1) {
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
store_acme_authz_find(struct store *s, int64_t account_id, const char *type, const char *value,
		      int wildcard, int valid_only, time_t now, int64_t *id, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*id = 0;
	if ((st = store_stmt_get(s, SQL_AUTHZ_FIND, 0, "find ACME authorization", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, account_id);
	stmt_text(s, st, 2, type);
	stmt_text(s, st, 3, value);
	stmt_int(s, st, 4, (int64_t)now);
	stmt_int(s, st, 5, valid_only ? 1 : 0);
	stmt_int(s, st, 6, wildcard ? 1 : 0);
	stmt_int(s, st, 7, STORE_ACME_AUTHZ_ORDERS_MAX);
	if ((r = store_stmt_step(s, st, "find ACME authorization", NULL, e)) == -1)
		goto out;
	if (r == 1)
		*id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_order_authzs_hold(struct store *s, int64_t order_id, time_t now, int64_t *bad,
			     char *status, size_t n, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*bad = 0;
	if (n > 0)
		status[0] = '\0';
	if ((st = store_stmt_get(s, SQL_AUTHZ_HOLD, 0, "hold an ACME order's authorizations", e)) ==
	    NULL)
		goto out;
	stmt_int(s, st, 1, order_id);
	while ((r = store_stmt_step(s, st, "hold an ACME order's authorizations", NULL, e)) == 1) {
		char *v = col_str(s, st, 1);

		if (*bad == 0 && (strcmp(v, "valid") != 0 || col_int(s, st, 2) < (int64_t)now)) {
			*bad = col_int(s, st, 0);
			snprintf(status, n, "%s", strcmp(v, "valid") != 0 ? v : "expired");
		}
		free(v);
	}
	if (r == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_order_caa_due(struct store *s, int64_t order_id, time_t before,
			 struct store_acme_caa_due **out, size_t *nout, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct store_acme_caa_due *v = NULL;
	size_t n = 0, cap = 0;
	char *m;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = store_stmt_get(s, SQL_AUTHZ_CAA_DUE, 0, "ACME authorizations due for CAA", e)) ==
	    NULL)
		goto out;
	stmt_int(s, st, 1, order_id);
	stmt_int(s, st, 2, (int64_t)before);
	while ((r = store_stmt_step(s, st, "ACME authorizations due for CAA", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		memset(&v[n], 0, sizeof(v[n]));
		v[n].authz_id = col_int(s, st, 0);
		v[n].value = col_dup(s, st, 1);
		v[n].wildcard = col_int(s, st, 2) != 0;
		m = col_str(s, st, 3);
		snprintf(v[n].method, sizeof(v[n].method), "%s", m);
		free(m);
		n++;
	}
	if (r == -1)
		goto out;
	*out = v;
	*nout = n;
	v = NULL;
	n = 0;
	rc = 0;
out:
	stmt_reset(s, st);
	for (size_t i = 0; i < n; i++)
		free(v[i].value);
	free(v);
	return rc;
}

int
store_acme_authz_caa_set(struct store *s, int64_t id, time_t at, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_AUTHZ_CAA_SET, 0, "record an ACME CAA check", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_int(s, st, 2, (int64_t)at);
	if (store_stmt_step(s, st, "record an ACME CAA check", NULL, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_acme_authz_clear(struct store_acme_authz *a)
{
	if (a == NULL)
		return;
	free(a->value);
	free(a->status);
	free(a->token);
	free(a->chall_status);
	free(a->error);
	memset(a, 0, sizeof(*a));
}

/* ---- challenges ---- */

int
store_acme_chall_add(struct store *s, struct store_acme_chall *c, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	if ((st = store_stmt_get(s, SQL_CHALL_INSERT, 0, "add ACME challenge", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, c->authz_id);
	stmt_text(s, st, 2, c->type);
	stmt_text(s, st, 3, c->token);
	if ((r = store_stmt_step(s, st, "add ACME challenge", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_INTERNAL, "store: an ACME challenge insert returned no id");
		goto out;
	}
	c->id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Fills c from a row of CHALL_COLS. */
static void
chall_row(struct store *s, struct drv_stmt *st, struct store_acme_chall *c)
{
	const char *t = s->drv->column_text(st, 2);

	c->id = col_int(s, st, 0);
	c->authz_id = col_int(s, st, 1);
	snprintf(c->type, sizeof(c->type), "%s", t != NULL ? t : "");
	c->token = col_str(s, st, 3);
	c->status = col_str(s, st, 4);
	c->validated = (time_t)col_int_or(s, st, 5, 0);
	c->error = col_dup(s, st, 6);
	c->updated = (time_t)col_int(s, st, 7);
}

int
store_acme_chall_get(struct store *s, int64_t id, struct store_acme_chall *c, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(c, 0, sizeof(*c));
	if ((st = store_stmt_get(s, SQL_CHALL_GET, 0, "get ACME challenge", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	if ((r = store_stmt_step(s, st, "get ACME challenge", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such ACME challenge");
		goto out;
	}
	chall_row(s, st, c);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_chall_list(struct store *s, int64_t authz_id, struct store_acme_chall **out,
		      size_t *nout, struct err *e)
{
	struct drv_stmt *st;
	struct store_acme_chall *v = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = store_stmt_get(s, SQL_CHALL_LIST, 0, "list ACME challenges", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, authz_id);
	while ((r = store_stmt_step(s, st, "list ACME challenges", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		memset(&v[n], 0, sizeof(v[n]));
		chall_row(s, st, &v[n]);
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
	STORE_LIST_FREE(v, n, store_acme_chall_clear);
	return rc;
}

int
store_acme_chall_move(struct store *s, int64_t id, const char *from, const char *to,
		      const char *error, time_t now, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_CHALL_MOVE, 0, "move ACME challenge", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, from);
	stmt_text(s, st, 3, to);
	if (error != NULL)
		stmt_text(s, st, 4, error);
	else
		s->drv->bind_null(st, 4);
	stmt_int_or_null(s, st, 5, strcmp(to, "processing") == 0 ? 0 : (int64_t)now, 0);
	stmt_int(s, st, 6, (int64_t)now);
	if (store_stmt_step(s, st, "move ACME challenge", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: ACME challenge %" PRId64 " is not %s", id, from);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_acme_chall_clear(struct store_acme_chall *c)
{
	if (c == NULL)
		return;
	free(c->token);
	free(c->status);
	free(c->error);
	memset(c, 0, sizeof(*c));
}

/* ---- failed validations ---- */

int
store_acme_failed_add(struct store *s, const char *name, int64_t account_id, time_t at,
		      struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_FAILED_ADD, 0, "record a failed ACME validation", e)) ==
	    NULL)
		goto out;
	stmt_text(s, st, 1, name);
	stmt_int(s, st, 2, account_id);
	stmt_int(s, st, 3, (int64_t)at);
	if (store_stmt_step(s, st, "record a failed ACME validation", NULL, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_failed_count(struct store *s, const char *name, time_t since, int64_t *n, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	*n = 0;
	if ((st = store_stmt_get(s, SQL_FAILED_COUNT, 0, "count failed ACME validations", e)) ==
	    NULL)
		goto out;
	stmt_text(s, st, 1, name);
	stmt_int(s, st, 2, (int64_t)since);
	if (store_stmt_step(s, st, "count failed ACME validations", NULL, e) != 1)
		goto out;
	*n = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}
