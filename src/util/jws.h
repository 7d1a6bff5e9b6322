/*
 * jws: JSON Web Signatures as ACME uses them (RFC 7515 flattened JSON serialization only,
 * RFC 8555 section 6.2), JSON Web Keys (RFC 7517/7518) and their thumbprints (RFC 7638).
 * Pure: no store, no clock, no network; the ACME face (src/acme) and the RA's External Account
 * Binding check (src/ra/acme.c) use it, and tests/fuzz/fuzz_jws.c drives it.
 *
 * Accepted: ES256 (P-256), ES384 (P-384), RS256 (RSA of 2048 to 4096 bits, e = 65537), EdDSA
 * (Ed25519) for account keys; HS256 only where the caller asks for it (External Account Binding).
 * Failures are ERR_REFUSED with a message naming the rule and, through err_kind(), one of
 * enum jws_fail, which the face maps to its problem types.
 */
#ifndef SHOMEI_UTIL_JWS_H
#define SHOMEI_UTIL_JWS_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "util/util.h"

enum jws_fail {
	JWS_FAIL_NONE = 0,
	JWS_FAIL_MALFORMED, /* not a flattened JWS, bad base64url, bad header members */
	JWS_FAIL_ALG,	    /* alg unknown, not accepted here, or not matching the key */
	JWS_FAIL_KEY,	    /* the JWK is not a usable public key (badPublicKey) */
	JWS_FAIL_SIGNATURE, /* the signature does not verify */
	JWS_FAIL__MAX
};

enum jws_alg {
	JWS_ALG_NONE = 0,
	JWS_ALG_ES256,
	JWS_ALG_ES384,
	JWS_ALG_RS256,
	JWS_ALG_EDDSA,
	JWS_ALG_HS256,
	JWS_ALG__MAX
};

/* The names of enum jws_alg ("ES256", ...; "" for NONE). */
const char *jws_alg_name(enum jws_alg);
/* The account key algorithms, NULL-terminated: "ES256", "ES384", "RS256", "EdDSA". */
extern const char *const jws_account_algs[];

#define JWS_BODY_MAX (64 * 1024)   /* a whole flattened JWS */
#define JWS_HEADER_MAX (16 * 1024) /* the decoded protected header */
#define JWS_THUMB_LEN 32	   /* SHA-256 */
#define JWS_THUMB_TEXT 44	   /* base64url of the thumbprint + NUL */
#define JWS_RSA_MIN_BITS 2048
#define JWS_RSA_MAX_BITS 4096

/*
 * A parsed flattened JWS.  Strings point into hdr (alive until jws_clear); payload is the
 * decoded payload (payloadlen 0 for POST-as-GET's empty one), input the signing input.
 */
struct jws {
	json_t *hdr; /* the protected header (owned) */
	enum jws_alg alg;
	const char *nonce, *url, *kid; /* NULL when absent */
	json_t *jwk;		       /* borrowed from hdr; NULL when absent */
	unsigned char *payload;
	size_t payloadlen;
	char *input; /* BASE64URL(protected) "." BASE64URL(payload) */
	size_t inputlen;
	unsigned char *sig;
	size_t siglen;
};

/*
 * Parses body[0..len) as a flattened JWS: exactly the members protected, payload, signature
 * (no unprotected header, no general serialization), base64url without padding, a protected
 * header that is a JSON object with a string alg, no crit nor b64, nonce/url/kid strings and
 * jwk an object when present.  Checks the alg is one of the accepted ones (hmac_ok: HS256
 * too), but neither which of jwk/kid is due nor the signature.  j is zeroed first.
 */
int jws_parse(const void *body, size_t len, int hmac_ok, struct jws *j, struct err *e);
void jws_clear(struct jws *);

/*
 * The public key of a JWK (RFC 7518 section 6: EC P-256/P-384, RSA 2048..4096 bits with
 * minimal n and e, OKP Ed25519); a JWK carrying private members ("d", ...) is refused.
 * *out is the caller's (EVP_PKEY_free).
 */
int jwk_key(json_t *jwk, EVP_PKEY **out, struct err *);
/* 0 when alg is the algorithm of key's type (ES256 for P-256, ...), else JWS_FAIL_ALG. */
int jwk_alg_check(EVP_PKEY *key, enum jws_alg alg, struct err *);
/*
 * RFC 7638: the canonical JSON of the JWK's required members (lexicographic order, no
 * whitespace) into *canon (caller frees; may be NULL when not wanted) and its SHA-256 into
 * thumb.  The JWK must be one jwk_key() accepts.
 */
int jwk_thumbprint(json_t *jwk, unsigned char thumb[JWS_THUMB_LEN], char **canon, struct err *);
/* base64url of a thumbprint into out (JWS_THUMB_TEXT bytes). */
void jwk_thumb_text(const unsigned char thumb[JWS_THUMB_LEN], char out[JWS_THUMB_TEXT]);

/* Verifies j's signature with key (j->alg must match it: jwk_alg_check). */
int jws_verify(const struct jws *j, EVP_PKEY *key, struct err *);
/* Verifies an HS256 signature with the MAC key (constant time). */
int jws_verify_hmac(const struct jws *j, const unsigned char *key, size_t keylen, struct err *);

/*
 * Signing, for tests, fuzz seeds and shomei's own clients: a flattened JWS of hdr (a JSON
 * object, serialised compactly) and payload[0..n) with key (alg from its type) or, with key
 * NULL, HS256 under mac[0..maclen).  A caller-freed string, or NULL with e set.
 */
char *jws_sign(json_t *hdr, const void *payload, size_t n, EVP_PKEY *key, const unsigned char *mac,
	       size_t maclen, struct err *);
/* The public JWK of key (the members RFC 7638 requires); NULL when the type is not accepted. */
json_t *jwk_of_key(EVP_PKEY *key);
/* The algorithm an account key of this type signs with; JWS_ALG_NONE when not accepted. */
enum jws_alg jwk_key_alg(EVP_PKEY *key);

#endif
