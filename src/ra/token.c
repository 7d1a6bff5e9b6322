/*
 * token: the RA's one-time secrets.  A mailed link, a continuation, a download or a form
 * nonce is 32 random bytes, written as base64url (43 characters); the store keeps only its
 * BLAKE2b-256 (keyed, for a secret bound to a browser session, with the session id).  A
 * certificate code is 20 symbols of an alphabet without look-alikes (100 bits), shown in
 * groups of five; the store keeps BLAKE2b-256 of the 20 symbols.
 */
#include <ctype.h>
#include <string.h>

#include <sodium.h>

#include "ra.h"
#include "util/b64.h"

void
ra_token_hash(const unsigned char raw[RA_TOKEN_LEN], unsigned char out[STORE_HASH_LEN])
{
	crypto_generichash(out, STORE_HASH_LEN, raw, RA_TOKEN_LEN, NULL, 0);
}

void
ra_token_hash_keyed(const unsigned char raw[RA_TOKEN_LEN], const char *key,
		    unsigned char out[STORE_HASH_LEN])
{
	crypto_generichash(out, STORE_HASH_LEN, raw, RA_TOKEN_LEN, (const unsigned char *)key,
			   strlen(key));
}

void
ra_token_new(unsigned char raw[RA_TOKEN_LEN], char text[RA_TOKEN_TEXT])
{
	util_random(raw, RA_TOKEN_LEN);
	if (b64url_encode(text, RA_TOKEN_TEXT, raw, RA_TOKEN_LEN) == -1)
		fatalx("token: RA_TOKEN_TEXT too small");
}

void
ra_token_derive(const unsigned char key[RA_TOKEN_LEN], const char *label, const char *ctx,
		unsigned char raw[RA_TOKEN_LEN], char text[RA_TOKEN_TEXT])
{
	crypto_generichash_state h;

	crypto_generichash_init(&h, key, RA_TOKEN_LEN, RA_TOKEN_LEN);
	crypto_generichash_update(&h, (const unsigned char *)label, strlen(label) + 1);
	crypto_generichash_update(&h, (const unsigned char *)ctx, strlen(ctx) + 1);
	crypto_generichash_final(&h, raw, RA_TOKEN_LEN);
	sodium_memzero(&h, sizeof(h));
	if (b64url_encode(text, RA_TOKEN_TEXT, raw, RA_TOKEN_LEN) == -1)
		fatalx("token: RA_TOKEN_TEXT too small");
}

int
ra_token_decode(const char *text, unsigned char raw[RA_TOKEN_LEN])
{
	return b64url_decode_exact(raw, RA_TOKEN_LEN, text);
}

void
ra_code_new(char out[RA_CODE_LEN], unsigned char hash[STORE_HASH_LEN])
{
	static const char alphabet[] = RA_CODE_ALPHABET;
	char raw[RA_CODE_CHARS + 1];
	size_t i, k = 0;

	for (i = 0; i < RA_CODE_CHARS; i++)
		raw[i] = alphabet[randombytes_uniform((uint32_t)(sizeof(alphabet) - 1))];
	raw[RA_CODE_CHARS] = '\0';
	for (i = 0; i < RA_CODE_CHARS; i++) {
		if (i > 0 && i % 5 == 0)
			out[k++] = '-';
		out[k++] = raw[i];
	}
	out[k] = '\0';
	/* the hash is over the symbols alone: what a person types is normalised the same way */
	crypto_generichash(hash, STORE_HASH_LEN, (const unsigned char *)raw, RA_CODE_CHARS, NULL,
			   0);
	sodium_memzero(raw, sizeof(raw));
}

int
ra_code_hash(const char *typed, unsigned char hash[STORE_HASH_LEN])
{
	char raw[RA_CODE_CHARS + 1];
	const char *p;
	size_t k = 0;
	int ch, rc = -1;

	for (p = typed != NULL ? typed : ""; *p != '\0'; p++) {
		ch = toupper((unsigned char)*p);
		if (ch == '-' || ch == ' ')
			continue;
		if (k == RA_CODE_CHARS || strchr(RA_CODE_ALPHABET, ch) == NULL)
			goto out;
		raw[k++] = (char)ch;
	}
	if (k != RA_CODE_CHARS)
		goto out;
	crypto_generichash(hash, STORE_HASH_LEN, (const unsigned char *)raw, k, NULL, 0);
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

void
ra_pin_new(char *pin, size_t len)
{
	static const char alphabet[] = RA_CODE_ALPHABET;

	for (size_t i = 0; i < len; i++)
		pin[i] = alphabet[randombytes_uniform((uint32_t)(sizeof(alphabet) - 1))];
	pin[len] = '\0';
}

void
ra_pin_hash(const unsigned char raw[RA_TOKEN_LEN], const char *typed,
	    unsigned char out[STORE_HASH_LEN])
{
	char norm[64];

	ra_pin_norm(typed, norm, sizeof(norm));
	crypto_generichash(out, STORE_HASH_LEN, (const unsigned char *)norm, strlen(norm), raw,
			   RA_TOKEN_LEN);
	sodium_memzero(norm, sizeof(norm));
}

void
ra_pin_norm(const char *typed, char *out, size_t n)
{
	size_t k = 0;

	for (const char *p = typed != NULL ? typed : ""; *p != '\0' && k + 1 < n; p++) {
		if (*p == ' ' || *p == '-')
			continue;
		out[k++] = (char)toupper((unsigned char)*p);
	}
	if (n > 0)
		out[k] = '\0';
}
