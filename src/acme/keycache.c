/*
 * keycache: the decoded public keys of accounts, by account id, so that a kid request does
 * not parse and decode the stored JWK (and check its point or modulus) every time.
 *
 * An entry holds the account id, the stored JWK's exact bytes (the canonical JSON of
 * acme_accounts.jwk) and the EVP_PKEY decoded from them.  It answers only a lookup whose
 * stored bytes, read again from the store by that request, are the same: a keyChange by this
 * or another front end changes the bytes, so the old key is never used for the account.  The
 * request still reads the account (its status), checks the alg against the key and verifies
 * the signature; only the decoding is saved.  keyChange and deactivation drop the entry too.
 *
 * ACME_KEYCACHE_SLOTS entries, direct-mapped by the id (a collision replaces), one lock.  An
 * EVP_PKEY is shared between threads read-only (verification only), each user holding a
 * reference.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "acme_int.h"

struct keycache_entry {
	int64_t id; /* 0: empty */
	char *jwk;
	size_t len;
	EVP_PKEY *key;
};

static pthread_mutex_t keycache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct keycache_entry keycache[ACME_KEYCACHE_SLOTS];

static struct keycache_entry *
keycache_slot(int64_t id)
{
	return &keycache[(uint64_t)id % ACME_KEYCACHE_SLOTS];
}

static void
keycache_entry_clear(struct keycache_entry *k)
{
	free(k->jwk);
	EVP_PKEY_free(k->key);
	memset(k, 0, sizeof(*k));
}

EVP_PKEY *
acme_keycache_get(int64_t id, const char *jwk)
{
	struct keycache_entry *k;
	EVP_PKEY *key = NULL;
	size_t len = strlen(jwk);

	if (id <= 0)
		return NULL;
	pthread_mutex_lock(&keycache_mu);
	k = keycache_slot(id);
	if (k->id == id && k->len == len && memcmp(k->jwk, jwk, len) == 0 &&
	    EVP_PKEY_up_ref(k->key) == 1)
		key = k->key;
	pthread_mutex_unlock(&keycache_mu);
	return key;
}

void
acme_keycache_put(int64_t id, const char *jwk, EVP_PKEY *key)
{
	struct keycache_entry *k;

	if (id <= 0 || key == NULL || EVP_PKEY_up_ref(key) != 1)
		return;
	pthread_mutex_lock(&keycache_mu);
	k = keycache_slot(id);
	keycache_entry_clear(k);
	k->id = id;
	k->len = strlen(jwk);
	k->jwk = xstrdup(jwk);
	k->key = key;
	pthread_mutex_unlock(&keycache_mu);
}

void
acme_keycache_drop(int64_t id)
{
	struct keycache_entry *k;

	pthread_mutex_lock(&keycache_mu);
	k = keycache_slot(id);
	if (k->id == id)
		keycache_entry_clear(k);
	pthread_mutex_unlock(&keycache_mu);
}

void
acme_keycache_flush(void)
{
	pthread_mutex_lock(&keycache_mu);
	for (size_t i = 0; i < ACME_KEYCACHE_SLOTS; i++)
		keycache_entry_clear(&keycache[i]);
	pthread_mutex_unlock(&keycache_mu);
}
