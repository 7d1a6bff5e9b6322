/*
 * idem: the REST API's Idempotency-Key (draft-ietf-httpapi-idempotency-key-header).  A POST
 * that carries one is run once per API key and key: a retry after a lost answer gets the
 * first answer again (a certificate issued once, not twice), the same key with another request
 * is refused, and a retry while the first still runs is told to wait.  Only successful
 * answers are kept (24 hours): after a refusal or a failure the client may try again with the
 * same key.  A claim whose process died is taken over after RA_IDEM_STALE seconds.
 *
 * An issuance binds its claim to the certificate's location in the certificate's own
 * transaction (ra_idem_bind): a certificate committed is never issued twice for one key, also
 * when its process died before keeping the answer, or its commit's outcome is unknown
 * (ERR_UNKNOWN: the claim is kept, neither finished nor dropped, and the retry replays).
 */
#include <string.h>

#include <openssl/evp.h>

#include "ra.h"

#define RA_IDEM_TTL (24 * 3600)
#define RA_IDEM_STALE 120 /* seconds: far longer than any issuance (signer.timeout_ms) */
#define RA_IDEM_KEY_MAX 255

/* The key's characters: a Structured Field String ("...") or a bare token, printable ASCII. */
static int
idem_key_text(const char *v, const char **p, size_t *n)
{
	size_t len = strlen(v), i;

	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v++;
		len -= 2;
	}
	if (len == 0 || len > RA_IDEM_KEY_MAX)
		return -1;
	for (i = 0; i < len; i++)
		if (v[i] < 0x21 || v[i] > 0x7e || v[i] == '"' || v[i] == '\\')
			return -1;
	*p = v;
	*n = len;
	return 0;
}

/* SHA-256 over the parts, each followed by a NUL (so that no two splits collide). */
static void
idem_hash(unsigned char out[STORE_HASH_LEN], const void *const *parts, const size_t *lens, size_t n)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int len = 0;
	size_t i;

	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		fatalx("ra: idempotency: SHA-256 unavailable");
	for (i = 0; i < n; i++)
		if (EVP_DigestUpdate(c, parts[i], lens[i]) != 1 || EVP_DigestUpdate(c, "", 1) != 1)
			fatalx("ra: idempotency: SHA-256 failed");
	if (EVP_DigestFinal_ex(c, out, &len) != 1 || len != STORE_HASH_LEN)
		fatalx("ra: idempotency: SHA-256 failed");
	EVP_MD_CTX_free(c);
}

enum ra_idem_outcome
ra_idem_begin(struct store *st, const char *apikey_id, const char *key, const char *method,
	      const char *path, const void *body, size_t len, time_t now, struct ra_idem *r,
	      struct err *e)
{
	unsigned char req_hash[STORE_HASH_LEN];
	const char *k;
	size_t kn;
	int claimed = 0;

	memset(r, 0, sizeof(*r));
	if (idem_key_text(key, &k, &kn) == -1)
		return RA_IDEM_BAD_KEY;
	{
		const void *parts[] = {"shomei-idempotency-key", apikey_id, k};
		const size_t lens[] = {22, strlen(apikey_id), kn};

		idem_hash(r->key_hash, parts, lens, 3);
	}
	{
		const void *parts[] = {method, path, body != NULL ? body : ""};
		const size_t lens[] = {strlen(method), strlen(path), body != NULL ? len : 0};

		idem_hash(req_hash, parts, lens, 3);
	}
	if (store_idem_claim(st, r->key_hash, req_hash, now, now - RA_IDEM_STALE, now + RA_IDEM_TTL,
			     &claimed, &r->stored, e) == -1) {
		if (e->code == ERR_CONFLICT)
			return RA_IDEM_BUSY;
		return RA_IDEM_ERROR;
	}
	if (claimed) {
		r->active = 1;
		return RA_IDEM_RUN;
	}
	if (memcmp(r->stored.request_hash, req_hash, STORE_HASH_LEN) != 0)
		return RA_IDEM_MISMATCH;
	return r->stored.status == 0 ? RA_IDEM_BUSY : RA_IDEM_REPLAY;
}

int
ra_idem_finish(struct store *st, struct ra_idem *r, int status, const char *location,
	       const void *body, size_t len, struct err *e)
{
	if (!r->active)
		return 0;
	r->active = 0;
	return store_idem_finish(st, r->key_hash, r->stored.started, status, location, body, len,
				 e);
}

int
ra_idem_bind(struct store *st, const struct ra_idem *r, int status, const char *location,
	     struct err *e)
{
	if (!r->active)
		return 0;
	return store_idem_finish(st, r->key_hash, r->stored.started, status, location, NULL, 0, e);
}

int
ra_idem_abort(struct store *st, struct ra_idem *r, struct err *e)
{
	if (!r->active)
		return 0;
	r->active = 0;
	return store_idem_drop(st, r->key_hash, r->stored.started, e);
}

void
ra_idem_clear(struct ra_idem *r)
{
	store_idem_clear(&r->stored);
	memset(r, 0, sizeof(*r));
}
