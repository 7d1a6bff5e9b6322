/*
 * store_nonce: nonces of the signed self-service requests (0009; src/ra), kept against replay.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char SQL_ONLINE_NONCE_INSERT[] =
    "INSERT INTO online_nonces (hash, expires) VALUES ($1, $2) ON CONFLICT DO NOTHING";
static const char SQL_ONLINE_NONCE_PURGE[] = "DELETE FROM online_nonces WHERE expires < $1";

int
store_online_nonce_add(struct store *s, const unsigned char hash[STORE_HASH_LEN], time_t expires,
		       struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_ONLINE_NONCE_INSERT, 0, "add nonce", e)) == NULL)
		goto out;
	stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	stmt_int(s, st, 2, (int64_t)expires);
	if (store_stmt_step(s, st, "add nonce", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: nonce seen before");
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_online_nonce_purge(struct store *s, time_t now, int64_t *n, struct err *e)
{
	return store_purge(s, SQL_ONLINE_NONCE_PURGE, "purge nonces", now, n, e);
}
