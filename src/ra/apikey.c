/*
 * apikey: per-organization API keys.  A key is "shk_<id>_<secret>": the id (8 random bytes in
 * hex) finds the row, the secret (32 random bytes in hex) is checked against the stored keyed
 * BLAKE2b-256 hash in constant time.  The secret is printed once at creation and never
 * stored or logged; buffers that held it are wiped.  Creating, disabling and enabling a key
 * are audited in the change's transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ra.h"

/* BLAKE2b key: separates these hashes from any other use of the same bytes. */
static const unsigned char apikey_ctx[crypto_generichash_KEYBYTES_MIN] = "shomei-apikey-v1";

#define APIKEY_TOUCH_SECONDS 60 /* last_used is written at most once a minute per key */
#define APIKEY_NAME_MAX 200	/* bytes of a key's label */

static void
apikey_hex(char *dst, const unsigned char *src, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		dst[2 * i] = digits[src[i] >> 4];
		dst[2 * i + 1] = digits[src[i] & 0x0f];
	}
	dst[2 * n] = '\0';
}

/* Strict lower-case hex of exactly 2n characters into n bytes; -1 otherwise. */
static int
apikey_unhex(unsigned char *dst, const char *src, size_t n)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < 2 * n; i++) {
		char c = src[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
	}
	for (i = 0; i < n; i++) {
		hi = src[2 * i] <= '9' ? src[2 * i] - '0' : src[2 * i] - 'a' + 10;
		lo = src[2 * i + 1] <= '9' ? src[2 * i + 1] - '0' : src[2 * i + 1] - 'a' + 10;
		dst[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

void
ra_apikey_format(const char *id, const unsigned char secret[RA_APIKEY_SECRET_BYTES], char *out)
{
	memcpy(out, RA_APIKEY_PREFIX, 4);
	memcpy(out + 4, id, RA_APIKEY_ID_LEN);
	out[4 + RA_APIKEY_ID_LEN] = '_';
	apikey_hex(out + 5 + RA_APIKEY_ID_LEN, secret, RA_APIKEY_SECRET_BYTES);
}

int
ra_apikey_parse(const char *text, size_t len, char id[RA_APIKEY_ID_LEN + 1],
		unsigned char secret[RA_APIKEY_SECRET_BYTES])
{
	unsigned char idb[RA_APIKEY_ID_BYTES];
	int rc = -1;

	id[0] = '\0';
	if (len != RA_APIKEY_TEXT_LEN || memcmp(text, RA_APIKEY_PREFIX, 4) != 0 ||
	    text[4 + RA_APIKEY_ID_LEN] != '_')
		goto out;
	if (apikey_unhex(idb, text + 4, RA_APIKEY_ID_BYTES) == -1 ||
	    apikey_unhex(secret, text + 5 + RA_APIKEY_ID_LEN, RA_APIKEY_SECRET_BYTES) == -1) {
		sodium_memzero(secret, RA_APIKEY_SECRET_BYTES);
		goto out;
	}
	memcpy(id, text + 4, RA_APIKEY_ID_LEN);
	id[RA_APIKEY_ID_LEN] = '\0';
	rc = 0;
out:
	return rc;
}

void
ra_apikey_hash(const unsigned char secret[RA_APIKEY_SECRET_BYTES],
	       unsigned char out[STORE_HASH_LEN])
{
	if (crypto_generichash(out, STORE_HASH_LEN, secret, RA_APIKEY_SECRET_BYTES, apikey_ctx,
			       sizeof(apikey_ctx)) != 0)
		fatalx("apikey: BLAKE2b failed");
}

/* The face's view of a stored key: the strings move from k to out (k is left empty). */
static void
apikey_take(struct ra_apikey *out, struct store_apikey *k)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", k->id);
	out->org_id = k->org_id;
	out->org_code = k->org_code;
	out->name = k->name;
	out->disabled = k->disabled;
	out->created = k->created;
	out->last_used = k->last_used;
	k->org_code = NULL;
	k->name = NULL;
	store_apikey_clear(k);
}

void
ra_apikey_clear(struct ra_apikey *k)
{
	if (k == NULL)
		return;
	free(k->org_code);
	free(k->name);
	memset(k, 0, sizeof(*k));
}

void
ra_apikey_list_free(struct ra_apikey *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		ra_apikey_clear(&v[i]);
	free(v);
}

int
ra_apikey_create(struct store *st, const char *org_code, const char *name, const char *actor,
		 char *key, struct ra_apikey *out, struct err *e)
{
	unsigned char idb[RA_APIKEY_ID_BYTES], secret[RA_APIKEY_SECRET_BYTES];
	struct store_apikey rec;
	struct store_org org;
	char *detail = NULL;
	int rc = -1, intx = 0;

	memset(&org, 0, sizeof(org));
	memset(&rec, 0, sizeof(rec));
	memset(out, 0, sizeof(*out));
	key[0] = '\0';
	if (name != NULL && strlen(name) > APIKEY_NAME_MAX) {
		err_set(e, ERR_REFUSED, "apikey: name longer than %d bytes", APIKEY_NAME_MAX);
		goto out;
	}
	if (store_org_get(st, org_code, &org, e) == -1)
		goto out;
	util_random(idb, sizeof(idb));
	util_random(secret, sizeof(secret));
	apikey_hex(rec.id, idb, sizeof(idb));
	rec.org_id = org.id;
	rec.name = xstrdup(name != NULL ? name : "");
	rec.org_code = xstrdup(org.code);
	rec.created = util_now();
	ra_apikey_hash(secret, rec.hash);
	detail = xasprintf("org=%s name=%s", org.code, rec.name);
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (store_apikey_add(st, &rec, e) == -1 ||
	    store_audit_append(st, actor, "apikey.create", rec.id, detail, NULL, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	ra_apikey_format(rec.id, secret, key);
	apikey_take(out, &rec);
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	sodium_memzero(secret, sizeof(secret));
	store_apikey_clear(&rec);
	store_org_clear(&org);
	free(detail);
	return rc;
}

int
ra_apikey_set_disabled(struct store *st, const char *id, int disabled, const char *actor,
		       struct err *e)
{
	int rc = -1, intx = 0;

	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (store_apikey_set_disabled(st, id, disabled, e) == -1 ||
	    store_audit_append(st, actor, disabled ? "apikey.disable" : "apikey.enable", id, "",
			       NULL, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	return rc;
}

int
ra_apikey_get(struct store *st, const char *id, struct ra_apikey *out, struct err *e)
{
	struct store_apikey k;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (store_apikey_get(st, id, &k, e) == -1)
		goto out;
	apikey_take(out, &k);
	rc = 0;
out:
	return rc;
}

int
ra_apikey_list(struct store *st, const char *org_code, struct ra_apikey **out, size_t *nout,
	       struct err *e)
{
	struct store_apikey *v = NULL;
	struct store_org org;
	size_t n = 0, i;
	int rc = -1;

	memset(&org, 0, sizeof(org));
	*out = NULL;
	*nout = 0;
	if (org_code != NULL && store_org_get(st, org_code, &org, e) == -1)
		goto out;
	if (store_apikey_list(st, org.id, &v, &n, e) == -1)
		goto out;
	*out = n > 0 ? xcalloc(n, sizeof(**out)) : NULL;
	for (i = 0; i < n; i++)
		apikey_take(&(*out)[i], &v[i]);
	*nout = n;
	rc = 0;
out:
	STORE_LIST_FREE(v, n, store_apikey_clear);
	store_org_clear(&org);
	return rc;
}

enum ra_apikey_auth
ra_apikey_check(struct store *st, const char *text, size_t len, struct ra_apikey *key,
		struct err *e)
{
	unsigned char secret[RA_APIKEY_SECRET_BYTES], h[STORE_HASH_LEN];
	char id[RA_APIKEY_ID_LEN + 1];
	struct store_apikey k;
	struct err e2;
	enum ra_apikey_auth a = RA_APIKEY_BAD;
	time_t now;

	memset(&k, 0, sizeof(k));
	memset(key, 0, sizeof(*key));
	if (text == NULL) {
		a = RA_APIKEY_MISSING;
		goto out;
	}
	if (ra_apikey_parse(text, len, id, secret) == -1)
		goto out;
	ra_apikey_hash(secret, h);
	err_clear(&e2);
	if (store_apikey_get(st, id, &k, &e2) == -1) {
		if (e2.code != ERR_NOTFOUND) {
			err_set(e, e2.code, "%s", e2.msg);
			a = RA_APIKEY_ERROR;
		}
		goto out;
	}
	if (sodium_memcmp(h, k.hash, sizeof(h)) != 0)
		goto out;
	if (k.disabled) {
		a = RA_APIKEY_DISABLED;
		goto out;
	}
	now = util_now();
	/* a write per request would cost an fsync each: record use at most once a minute */
	if (k.last_used + APIKEY_TOUCH_SECONDS <= now) {
		err_clear(&e2);
		if (store_apikey_touch(st, id, now, &e2) == -1)
			log_warn("api: key %s: cannot record use: %s", id, e2.msg);
	}
	apikey_take(key, &k);
	a = RA_APIKEY_OK;
out:
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(h, sizeof(h));
	store_apikey_clear(&k);
	return a;
}
