/*
 * store_captcha: the CAPTCHAs of the portal (hashes only; 0005).
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char SQL_CAPTCHA_INSERT[] =
    "INSERT INTO captchas (id_hash, answer_hash, purpose, expires) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT DO NOTHING";
static const char SQL_CAPTCHA_TAKE[] =
    "DELETE FROM captchas WHERE id_hash = $1 RETURNING answer_hash, purpose, expires";
static const char SQL_CAPTCHA_PURGE[] = "DELETE FROM captchas WHERE expires < $1";

/*
 * A CAPTCHA row is ephemeral: losing its insert or its deletion to a power cut only means a
 * new image (or, at worst, one more try of an old one), so these single statements outside a
 * transaction commit without waiting for the disk (SQLite synchronous=NORMAL in WAL mode,
 * PostgreSQL synchronous_commit=off); every other write keeps the durable default.  The
 * change is seen at once by every other connection either way.
 */
static void
captcha_lazy(struct store *s, int on)
{
	struct err de;

	if (s->in_tx)
		return;
	err_clear(&de);
	if (s->backend == STORE_PG)
		(void)s->drv->exec(
		    s->conn, on ? "SET synchronous_commit = off" : "SET synchronous_commit = on",
		    &de);
	else
		(void)s->drv->exec(
		    s->conn, on ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL", &de);
	if (err_is_set(&de))
		log_warn("store: CAPTCHA commit mode: %s", de.msg);
}

int
store_captcha_put(struct store *s, const unsigned char id_hash[STORE_HASH_LEN],
		  const unsigned char answer_hash[STORE_HASH_LEN], const char *purpose,
		  time_t expires, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	captcha_lazy(s, 1);
	if ((st = store_stmt_get(s, SQL_CAPTCHA_INSERT, 0, "put CAPTCHA", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, id_hash, STORE_HASH_LEN);
	stmt_blob(s, st, 2, answer_hash, STORE_HASH_LEN);
	stmt_text(s, st, 3, purpose);
	stmt_int(s, st, 4, (int64_t)expires);
	if (store_stmt_step(s, st, "put CAPTCHA", purpose, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: CAPTCHA id exists");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	captcha_lazy(s, 0);
	return rc;
}

int
store_captcha_take(struct store *s, const unsigned char id_hash[STORE_HASH_LEN],
		   struct store_captcha *c, struct err *e)
{
	struct drv_stmt *st = NULL;
	const unsigned char *p;
	size_t len = 0;
	int rc = -1, r;

	memset(c, 0, sizeof(*c));
	captcha_lazy(s, 1);
	if ((st = store_stmt_get(s, SQL_CAPTCHA_TAKE, 0, "take CAPTCHA", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, id_hash, STORE_HASH_LEN);
	if ((r = store_stmt_step(s, st, "take CAPTCHA", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: CAPTCHA not found");
		goto out;
	}
	p = s->drv->column_blob(st, 0, &len);
	if (p == NULL || len != STORE_HASH_LEN) {
		err_set(e, ERR_INTERNAL, "store: CAPTCHA: answer hash of %zu bytes", len);
		goto out;
	}
	memcpy(c->answer_hash, p, STORE_HASH_LEN);
	c->purpose = col_str(s, st, 1);
	c->expires = (time_t)col_int(s, st, 2);
	rc = 0;
out:
	stmt_reset(s, st);
	captcha_lazy(s, 0);
	if (rc == -1)
		store_captcha_clear(c);
	return rc;
}

int
store_captcha_purge(struct store *s, time_t now, int64_t *n, struct err *e)
{
	return store_purge(s, SQL_CAPTCHA_PURGE, "purge CAPTCHAs", now, n, e);
}

void
store_captcha_clear(struct store_captcha *c)
{
	if (c == NULL)
		return;
	free(c->purpose);
	memset(c, 0, sizeof(*c));
}
