/*
 * store_client: client certificates with a key the RA made (0018; src/ra/client.c): the
 * holder's pickup (URL and access PIN as hashes, the PKCS#12 encrypted under the PIN until its
 * one download, the PIN link's sealed PIN until shown) and the user administrator's ZIP.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "store_int.h"

#define PICKUP_COLS                                                                                \
	"SELECT id, serial, org_id, pin_hash, tries, state, expires, CASE WHEN pin_link_hash IS "  \
	"NULL THEN 0 ELSE 1 END, CASE WHEN pin_box IS NULL THEN 0 ELSE 1 END, created, taken, "    \
	"CASE WHEN p12 IS NULL THEN 0 ELSE 1 END FROM client_pickups"
static const char SQL_PICKUP_INSERT[] =
    "INSERT INTO client_pickups (serial, org_id, token_hash, pin_hash, tries, state, p12, "
    "expires, pin_link_hash, pin_box, created) VALUES ($1, $2, $3, $4, 0, 'open', $5, $6, $7, $8, "
    "$9)";
static const char SQL_PICKUP_GET[] = PICKUP_COLS " WHERE token_hash = $1";
static const char SQL_PICKUP_BY_PIN[] = PICKUP_COLS " WHERE pin_link_hash = $1";
/* the wrong PIN that locks the pickup also drops its PKCS#12 and sealed PIN: nobody can
 * fetch them any more */
static const char SQL_PICKUP_FAIL[] =
    "UPDATE client_pickups SET tries = tries + 1, state = CASE WHEN tries + 1 >= $2 THEN "
    "'locked' ELSE state END, p12 = CASE WHEN tries + 1 >= $2 THEN NULL ELSE p12 END, pin_box = "
    "CASE WHEN tries + 1 >= $2 THEN NULL ELSE pin_box END WHERE id = $1 AND state = 'open' "
    "RETURNING tries, state";
static const char SQL_PICKUP_STATE[] =
    "UPDATE client_pickups SET state = $3 WHERE id = $1 AND state = $2";
static const char SQL_PICKUP_P12[] =
    "SELECT p12 FROM client_pickups WHERE id = $1 AND state = 'open' AND p12 IS NOT NULL";
static const char SQL_PICKUP_TAKE[] =
    "UPDATE client_pickups SET state = 'taken', p12 = NULL, taken = $2 WHERE id = $1 AND "
    "state = 'open' AND p12 IS NOT NULL";
static const char SQL_PICKUP_PIN_GET[] =
    "SELECT pin_box FROM client_pickups WHERE pin_link_hash = $1 AND pin_box IS NOT NULL";
static const char SQL_PICKUP_PIN_CLEAR[] =
    "UPDATE client_pickups SET pin_box = NULL WHERE pin_link_hash = $1 AND pin_box IS NOT NULL";
static const char SQL_PICKUP_REVOKED[] =
    "UPDATE client_pickups SET p12 = NULL, pin_box = NULL, state = CASE WHEN state = 'open' "
    "THEN 'expired' ELSE state END WHERE serial = $1";
static const char SQL_PICKUP_PURGE[] =
    "UPDATE client_pickups SET p12 = NULL, pin_box = NULL, state = CASE WHEN state = 'open' "
    "THEN 'expired' ELSE state END WHERE (p12 IS NOT NULL OR pin_box IS NOT NULL) AND "
    "expires < $1";

#define BATCH_COLS                                                                                 \
	"SELECT id, org_id, officer_id, count, admin_email, expires, used, created, CASE WHEN "    \
	"zip IS NULL THEN 0 ELSE 1 END FROM client_batches"
static const char SQL_BATCH_INSERT[] =
    "INSERT INTO client_batches (org_id, officer_id, dl_hash, zip, count, admin_email, expires, "
    "created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
static const char SQL_BATCH_GET[] = BATCH_COLS " WHERE dl_hash = $1";
static const char SQL_BATCH_ZIP[] =
    "SELECT zip FROM client_batches WHERE dl_hash = $1 AND zip IS NOT NULL AND used IS NULL "
    "AND expires >= $2";
static const char SQL_BATCH_TAKE[] =
    "UPDATE client_batches SET zip = NULL, used = $2 WHERE dl_hash = $1 AND zip IS NOT NULL "
    "AND used IS NULL";
static const char SQL_BATCH_PURGE[] =
    "UPDATE client_batches SET zip = NULL WHERE zip IS NOT NULL AND expires < $1";

void
store_pickup_clear(struct store_pickup *p)
{
	if (p == NULL)
		return;
	free(p->state);
	memset(p, 0, sizeof(*p));
}

int
store_pickup_add(struct store *s, const struct store_pickup *p,
		 const unsigned char token_hash[STORE_HASH_LEN], const void *p12, size_t p12len,
		 const unsigned char *pin_link_hash, const void *pin_box, size_t boxlen,
		 struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_PICKUP_INSERT, 0, "add client pickup", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, p->serial);
	stmt_int(s, st, 2, p->org_id);
	stmt_blob(s, st, 3, token_hash, STORE_HASH_LEN);
	stmt_blob(s, st, 4, p->pin_hash, STORE_HASH_LEN);
	stmt_blob(s, st, 5, p12, p12len);
	stmt_int(s, st, 6, (int64_t)p->expires);
	if (pin_link_hash != NULL)
		stmt_blob(s, st, 7, pin_link_hash, STORE_HASH_LEN);
	else
		s->drv->bind_null(st, 7);
	if (pin_box != NULL)
		stmt_blob(s, st, 8, pin_box, boxlen);
	else
		s->drv->bind_null(st, 8);
	stmt_int(s, st, 9, (int64_t)(p->created != 0 ? p->created : util_now()));
	if (store_stmt_step(s, st, "add client pickup", p->serial, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* One pickup by the hash bound to sql; ERR_NOTFOUND. */
static int
pickup_get(struct store *s, const char *sql, const unsigned char h[STORE_HASH_LEN],
	   struct store_pickup *p, struct err *e)
{
	struct drv_stmt *st = NULL;
	const unsigned char *b;
	size_t len = 0;
	int rc = -1, r;

	memset(p, 0, sizeof(*p));
	if ((st = store_stmt_get(s, sql, 0, "get client pickup", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, h, STORE_HASH_LEN);
	if ((r = store_stmt_step(s, st, "get client pickup", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such client pickup");
		goto out;
	}
	p->id = col_int(s, st, 0);
	snprintf(p->serial, sizeof(p->serial), "%s", s->drv->column_text(st, 1));
	p->org_id = col_int(s, st, 2);
	b = s->drv->column_blob(st, 3, &len);
	if (b == NULL || len != STORE_HASH_LEN) {
		err_set(e, ERR_INTERNAL, "store: client pickup %" PRId64 ": bad PIN hash", p->id);
		goto out;
	}
	memcpy(p->pin_hash, b, STORE_HASH_LEN);
	p->tries = col_int(s, st, 4);
	p->state = col_str(s, st, 5);
	p->expires = (time_t)col_int(s, st, 6);
	p->pin_link = col_int(s, st, 7) != 0;
	p->pin_waiting = col_int(s, st, 8) != 0;
	p->created = (time_t)col_int(s, st, 9);
	p->taken = (time_t)col_int_or(s, st, 10, 0);
	p->p12_waiting = col_int(s, st, 11) != 0;
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_pickup_clear(p);
	return rc;
}

int
store_pickup_get(struct store *s, const unsigned char token_hash[STORE_HASH_LEN],
		 struct store_pickup *p, struct err *e)
{
	return pickup_get(s, SQL_PICKUP_GET, token_hash, p, e);
}

int
store_pickup_by_pin(struct store *s, const unsigned char pin_link_hash[STORE_HASH_LEN],
		    struct store_pickup *p, struct err *e)
{
	return pickup_get(s, SQL_PICKUP_BY_PIN, pin_link_hash, p, e);
}

int
store_pickup_fail(struct store *s, int64_t id, int64_t max, int64_t *tries, int *locked,
		  struct err *e)
{
	struct drv_stmt *st = NULL;
	const char *state;
	int rc = -1, r;

	*tries = 0;
	*locked = 0;
	if ((st = store_stmt_get(s, SQL_PICKUP_FAIL, 0, "count a wrong PIN", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_int(s, st, 2, max);
	if ((r = store_stmt_step(s, st, "count a wrong PIN", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_CONFLICT, "store: client pickup %" PRId64 " is not open", id);
		goto out;
	}
	*tries = col_int(s, st, 0);
	state = s->drv->column_text(st, 1);
	*locked = state != NULL && strcmp(state, "locked") == 0;
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
store_pickup_set_state(struct store *s, int64_t id, const char *from, const char *to, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_PICKUP_STATE, 0, "move client pickup", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, from);
	stmt_text(s, st, 3, to);
	if (store_stmt_step(s, st, "move client pickup", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: client pickup %" PRId64 " is not %s", id, from);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/*
 * Reads the blob of sql (bound to the hash or id and now) and then runs the conditional
 * clear; ERR_NOTFOUND when there is none (or a twin cleared it first).  Joins a transaction.
 */
static int
blob_take(struct store *s, const char *get, const char *clear, const unsigned char *h, int64_t id,
	  time_t now, const char *what, unsigned char **data, size_t *len, struct err *e)
{
	struct drv_stmt *st = NULL;
	const unsigned char *p;
	size_t n = 0;
	int rc = -1, own = 0, r;

	*data = NULL;
	*len = 0;
	if (store_tx_enter(s, &own, e) == -1)
		return -1;
	if ((st = store_stmt_get(s, get, 0, what, e)) == NULL)
		goto out;
	if (h != NULL)
		stmt_blob(s, st, 1, h, STORE_HASH_LEN);
	else
		stmt_int(s, st, 1, id);
	if (get == SQL_BATCH_ZIP)
		stmt_int(s, st, 2, (int64_t)now);
	if ((r = store_stmt_step(s, st, what, NULL, e)) == -1)
		goto out;
	if (r == 0 || (p = s->drv->column_blob(st, 0, &n)) == NULL || n == 0) {
		err_set(e, ERR_NOTFOUND, "store: %s: none", what);
		goto out;
	}
	*data = xmalloc(n);
	memcpy(*data, p, n);
	*len = n;
	stmt_reset(s, st);
	if ((st = store_stmt_get(s, clear, 0, what, e)) == NULL)
		goto out;
	if (h != NULL)
		stmt_blob(s, st, 1, h, STORE_HASH_LEN);
	else
		stmt_int(s, st, 1, id);
	if (clear != SQL_PICKUP_PIN_CLEAR)
		stmt_int(s, st, 2, (int64_t)now);
	if (store_stmt_step(s, st, what, NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_NOTFOUND, "store: %s: taken already", what);
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
store_pickup_take(struct store *s, int64_t id, time_t now, unsigned char **p12, size_t *len,
		  struct err *e)
{
	return blob_take(s, SQL_PICKUP_P12, SQL_PICKUP_TAKE, NULL, id, now, "take client PKCS#12",
			 p12, len, e);
}

int
store_pickup_pin_take(struct store *s, const unsigned char pin_link_hash[STORE_HASH_LEN],
		      unsigned char **box, size_t *len, struct err *e)
{
	return blob_take(s, SQL_PICKUP_PIN_GET, SQL_PICKUP_PIN_CLEAR, pin_link_hash, 0, 0,
			 "take client PIN", box, len, e);
}

int
store_client_purge(struct store *s, time_t now, struct err *e)
{
	int64_t n;

	if (store_purge(s, SQL_PICKUP_PURGE, "purge client pickups", now, &n, e) == -1 ||
	    store_purge(s, SQL_BATCH_PURGE, "purge client ZIPs", now, &n, e) == -1)
		return -1;
	return 0;
}

int
store_pickup_revoked(struct store *s, const char *serial, struct err *e)
{
	struct drv_stmt *st;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_PICKUP_REVOKED, 0, "close client pickup", e)) == NULL)
		return -1;
	stmt_text(s, st, 1, serial);
	if (store_stmt_step(s, st, "close client pickup", serial, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_batch_clear(struct store_batch *b)
{
	if (b == NULL)
		return;
	free(b->admin_email);
	memset(b, 0, sizeof(*b));
}

int
store_batch_add(struct store *s, const struct store_batch *b,
		const unsigned char dl_hash[STORE_HASH_LEN], const void *zip, size_t ziplen,
		int64_t *id, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*id = 0;
	if ((st = store_stmt_get(s, SQL_BATCH_INSERT, 0, "add client ZIP", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, b->org_id);
	stmt_int(s, st, 2, b->officer_id);
	stmt_blob(s, st, 3, dl_hash, STORE_HASH_LEN);
	stmt_blob(s, st, 4, zip, ziplen);
	stmt_int(s, st, 5, b->count);
	stmt_text(s, st, 6, b->admin_email);
	stmt_int(s, st, 7, (int64_t)b->expires);
	stmt_int(s, st, 8, (int64_t)(b->created != 0 ? b->created : util_now()));
	if ((r = store_stmt_step(s, st, "add client ZIP", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_INTERNAL, "store: add client ZIP: no id returned");
		goto out;
	}
	*id = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_batch_get(struct store *s, const unsigned char dl_hash[STORE_HASH_LEN], struct store_batch *b,
		struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	memset(b, 0, sizeof(*b));
	if ((st = store_stmt_get(s, SQL_BATCH_GET, 0, "get client ZIP", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, dl_hash, STORE_HASH_LEN);
	if ((r = store_stmt_step(s, st, "get client ZIP", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no such client ZIP");
		goto out;
	}
	b->id = col_int(s, st, 0);
	b->org_id = col_int(s, st, 1);
	b->officer_id = col_int(s, st, 2);
	b->count = col_int(s, st, 3);
	b->admin_email = col_str(s, st, 4);
	b->expires = (time_t)col_int(s, st, 5);
	b->used = (time_t)col_int_or(s, st, 6, 0);
	b->created = (time_t)col_int(s, st, 7);
	b->waiting = col_int(s, st, 8) != 0;
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_batch_clear(b);
	return rc;
}

int
store_batch_take(struct store *s, const unsigned char dl_hash[STORE_HASH_LEN], time_t now,
		 unsigned char **zip, size_t *len, struct err *e)
{
	return blob_take(s, SQL_BATCH_ZIP, SQL_BATCH_TAKE, dl_hash, 0, now, "take client ZIP", zip,
			 len, e);
}
