/*
 * osess: sessions of the RA officers' console.  A session starts when an officer, whose TLS
 * client certificate the console has checked (ra_officer_login), presses the login button; it
 * is bound to that certificate (its SHA-256) and ends on logout, after console.idle_timeout
 * seconds without a request, or when a request of it comes with another certificate.  Every
 * start and end is in the audit chain with the officer, the client address and the time.  The
 * store keeps the session id only hashed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ra.h"

const char *const ra_osess_result_names[RA_OSESS__MAX] = {
    [RA_OSESS_OK] = "ok",
    [RA_OSESS_NONE] = "none",
    [RA_OSESS_ENDED] = "ended",
    [RA_OSESS_TIMEOUT] = "timeout",
    [RA_OSESS_OTHER_CERT] = "other-certificate",
};

/* The store's key of a session id (the web session's 43 base64url characters). */
static int
ra_osess_key(const char *sid, unsigned char out[STORE_HASH_LEN])
{
	unsigned char raw[RA_TOKEN_LEN];

	if (sid == NULL || ra_token_decode(sid, raw) == -1)
		return -1;
	ra_token_hash(raw, out);
	sodium_memzero(raw, sizeof(raw));
	return 0;
}

/* Ends session k with reason, audited as action (in the caller's transaction or its own). */
static int
ra_osess_close(struct store *st, const unsigned char k[STORE_HASH_LEN], int64_t officer_id,
	       const char *client, time_t now, const char *reason, const char *action,
	       struct err *e)
{
	char actor[48], detail[160];
	int r;

	if ((r = store_osess_end(st, k, now, reason, e)) != 1)
		return r; /* 0: another request ended it first (and audited that) */
	snprintf(actor, sizeof(actor), "officer:%lld", (long long)officer_id);
	snprintf(detail, sizeof(detail), "client=%s reason=%s", client, reason);
	if (store_audit_append(st, actor, action, "console", detail, NULL, e) == -1)
		return -1;
	return 1;
}

/*
 * How stale last_seen may get before a request writes it anew: a tenth of the idle timeout, at
 * most 30 s.  A session may so end up to that much before idle_s of true idleness; in return
 * most requests write nothing (they only read, and never wait for another writer's lock).
 */
static long
ra_osess_touch_every(long idle_s)
{
	long t = idle_s / 10;

	return t > 30 ? 30 : t < 1 ? 1 : t;
}

int
ra_osess_check(struct store *st, const char *sid, const unsigned char fpr[STORE_HASH_LEN],
	       long idle_s, time_t now, int64_t *officer_id, enum ra_osess_result *res,
	       struct err *e)
{
	struct store_osess o;
	unsigned char k[STORE_HASH_LEN];
	struct err e2;
	int r;

	*res = RA_OSESS_NONE;
	*officer_id = 0;
	if (ra_osess_key(sid, k) == -1)
		return 0;
	err_clear(&e2);
	if (store_osess_get(st, k, &o, &e2) == -1) {
		if (e2.code == ERR_NOTFOUND)
			return 0;
		*e = e2;
		return -1;
	}
	*officer_id = o.officer_id;
	if (o.ended != 0) {
		/* ended by the schedule or another request: say why, as if it ended now */
		*res = strcmp(o.end_reason, "timeout") == 0	  ? RA_OSESS_TIMEOUT
		       : strcmp(o.end_reason, "certificate") == 0 ? RA_OSESS_OTHER_CERT
								  : RA_OSESS_ENDED;
		return 0;
	}
	if (sodium_memcmp(o.fpr, fpr, STORE_HASH_LEN) == 0 && now - o.last_seen <= idle_s &&
	    now - o.last_seen < ra_osess_touch_every(idle_s)) {
		/* seen lately: nothing to write (no write lock for a page that only reads) */
		*res = RA_OSESS_OK;
		return 0;
	}
	if (store_begin(st, e) == -1)
		return -1;
	if (sodium_memcmp(o.fpr, fpr, STORE_HASH_LEN) != 0) {
		/* the session's cookie came with another certificate: it is over */
		r = ra_osess_close(st, k, o.officer_id, o.client, now, "certificate",
				   "console.logout", e);
		*res = RA_OSESS_OTHER_CERT;
	} else if (now - o.last_seen > idle_s) {
		r = ra_osess_close(st, k, o.officer_id, o.client, now, "timeout", "console.timeout",
				   e);
		*res = RA_OSESS_TIMEOUT;
	} else {
		r = now != o.last_seen ? store_osess_touch(st, k, now, e) : 1;
		*res = r == 1 ? RA_OSESS_OK : RA_OSESS_ENDED;
	}
	if (r == -1 || store_commit(st, e) == -1) {
		store_rollback(st);
		return -1;
	}
	return 0;
}

int
ra_osess_end(struct store *st, const char *sid, time_t now, int *ended, struct err *e)
{
	struct store_osess o;
	unsigned char k[STORE_HASH_LEN];
	struct err e2;
	int r;

	*ended = 0;
	if (ra_osess_key(sid, k) == -1)
		return 0;
	err_clear(&e2);
	if (store_osess_get(st, k, &o, &e2) == -1) {
		if (e2.code == ERR_NOTFOUND)
			return 0;
		*e = e2;
		return -1;
	}
	if (o.ended != 0)
		return 0;
	if (store_begin(st, e) == -1)
		return -1;
	if ((r = ra_osess_close(st, k, o.officer_id, o.client, now, "logout", "console.logout",
				e)) == -1 ||
	    store_commit(st, e) == -1) {
		store_rollback(st);
		return -1;
	}
	*ended = r;
	return 0;
}

int
ra_osess_sweep(struct store *st, long idle_s, time_t now, size_t *count, struct err *e)
{
	struct store_osess *v = NULL;
	size_t n = 0, i;
	int r, rc = -1;

	*count = 0;
	if (store_osess_stale(st, now - idle_s, 256, &v, &n, e) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (store_begin(st, e) == -1)
			goto out;
		if ((r = ra_osess_close(st, v[i].id_hash, v[i].officer_id, v[i].client, now,
					"timeout", "console.timeout", e)) == -1 ||
		    store_commit(st, e) == -1) {
			store_rollback(st);
			goto out;
		}
		*count += (size_t)r;
	}
	rc = 0;
out:
	free(v);
	return rc;
}
