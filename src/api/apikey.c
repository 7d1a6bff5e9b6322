/*
 * apikey: per-organization API keys.  A key is "shk_<id>_<secret>": the id (8 random bytes in
 * hex) finds the row, the secret (32 random bytes in hex) is checked against the stored keyed
 * BLAKE2b-256 hash in constant time.  The secret is printed once at creation and never
 * stored or logged; buffers that held it are wiped.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "api/api.h"

/* BLAKE2b key: separates these hashes from any other use of the same bytes. */
static const unsigned char apikey_ctx[crypto_generichash_KEYBYTES_MIN] = "shomei-apikey-v1";

#define APIKEY_TOUCH_SECONDS 60 /* last_used is written at most once a minute per key */

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
api_key_format(const char *id, const unsigned char secret[API_KEY_SECRET_BYTES], char *out)
{
	memcpy(out, API_KEY_PREFIX, 4);
	memcpy(out + 4, id, API_KEY_ID_LEN);
	out[4 + API_KEY_ID_LEN] = '_';
	apikey_hex(out + 5 + API_KEY_ID_LEN, secret, API_KEY_SECRET_BYTES);
}

int
api_key_parse(const char *text, size_t len, char id[API_KEY_ID_LEN + 1],
	      unsigned char secret[API_KEY_SECRET_BYTES])
{
	unsigned char idb[API_KEY_ID_BYTES];
	int rc = -1;

	id[0] = '\0';
	if (len != API_KEY_TEXT_LEN || memcmp(text, API_KEY_PREFIX, 4) != 0 ||
	    text[4 + API_KEY_ID_LEN] != '_')
		goto out;
	if (apikey_unhex(idb, text + 4, API_KEY_ID_BYTES) == -1 ||
	    apikey_unhex(secret, text + 5 + API_KEY_ID_LEN, API_KEY_SECRET_BYTES) == -1) {
		sodium_memzero(secret, API_KEY_SECRET_BYTES);
		goto out;
	}
	memcpy(id, text + 4, API_KEY_ID_LEN);
	id[API_KEY_ID_LEN] = '\0';
	rc = 0;
out:
	return rc;
}

void
api_key_hash(const unsigned char secret[API_KEY_SECRET_BYTES], unsigned char out[STORE_HASH_LEN])
{
	if (crypto_generichash(out, STORE_HASH_LEN, secret, API_KEY_SECRET_BYTES, apikey_ctx,
			       sizeof(apikey_ctx)) != 0)
		fatalx("apikey: BLAKE2b failed");
}

const char *
api_bearer_token(const char *h, size_t *len)
{
	const char *t = NULL;
	size_t n;

	*len = 0;
	if (h == NULL || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
		goto out;
	for (h += 6; *h == ' ' || *h == '\t'; h++)
		;
	n = strlen(h);
	while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	if (n == 0)
		goto out;
	t = h;
	*len = n;
out:
	return t;
}

int
api_key_create(struct store *st, const char *org_code, const char *name, const char *actor,
	       char *key, struct store_apikey *rec, struct err *e)
{
	unsigned char idb[API_KEY_ID_BYTES], secret[API_KEY_SECRET_BYTES];
	struct store_org org;
	char *detail = NULL;
	int rc = -1, intx = 0;

	memset(&org, 0, sizeof(org));
	memset(rec, 0, sizeof(*rec));
	key[0] = '\0';
	if (name != NULL && strlen(name) > 200) {
		err_set(e, ERR_REFUSED, "apikey: name longer than 200 bytes");
		goto out;
	}
	if (store_org_get(st, org_code, &org, e) == -1)
		goto out;
	util_random(idb, sizeof(idb));
	util_random(secret, sizeof(secret));
	apikey_hex(rec->id, idb, sizeof(idb));
	rec->org_id = org.id;
	rec->name = xstrdup(name != NULL ? name : "");
	rec->org_code = xstrdup(org.code);
	rec->created = util_now();
	api_key_hash(secret, rec->hash);
	detail = xasprintf("org=%s name=%s", org.code, rec->name);
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (store_apikey_add(st, rec, e) == -1 ||
	    store_audit_append(st, actor, "apikey.create", rec->id, detail, NULL, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	api_key_format(rec->id, secret, key);
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	sodium_memzero(secret, sizeof(secret));
	if (rc == -1)
		store_apikey_clear(rec);
	store_org_clear(&org);
	free(detail);
	return rc;
}

int
api_key_set_disabled(struct store *st, const char *id, int disabled, const char *actor,
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

enum api_auth
api_key_check(struct store *st, const char *authorization, struct store_apikey *key, struct err *e)
{
	unsigned char secret[API_KEY_SECRET_BYTES], h[STORE_HASH_LEN];
	char id[API_KEY_ID_LEN + 1];
	const char *tok;
	struct err e2;
	enum api_auth a = API_AUTH_BAD;
	time_t now;
	size_t n;

	memset(key, 0, sizeof(*key));
	if (authorization == NULL) {
		a = API_AUTH_MISSING;
		goto out;
	}
	if ((tok = api_bearer_token(authorization, &n)) == NULL ||
	    api_key_parse(tok, n, id, secret) == -1)
		goto out;
	api_key_hash(secret, h);
	err_clear(&e2);
	if (store_apikey_get(st, id, key, &e2) == -1) {
		if (e2.code != ERR_NOTFOUND) {
			err_set(e, e2.code, "%s", e2.msg);
			a = API_AUTH_ERROR;
		}
		goto out;
	}
	if (sodium_memcmp(h, key->hash, sizeof(h)) != 0)
		goto out;
	if (key->disabled) {
		a = API_AUTH_DISABLED;
		goto out;
	}
	now = util_now();
	/* a write per request would cost an fsync each: record use at most once a minute */
	if (key->last_used + APIKEY_TOUCH_SECONDS <= now) {
		err_clear(&e2);
		if (store_apikey_touch(st, id, now, &e2) == -1)
			log_warn("api: key %s: cannot record use: %s", id, e2.msg);
	}
	a = API_AUTH_OK;
out:
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(h, sizeof(h));
	if (a != API_AUTH_OK)
		store_apikey_clear(key);
	return a;
}
