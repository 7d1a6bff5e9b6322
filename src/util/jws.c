/* jws: flattened JSON Web Signatures, JWKs and thumbprints (see jws.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

#include "util/b64.h"
#include "util/jws.h"
#include "util/md.h"
#include "util/sjson.h"

static const char *const jws_alg_names[JWS_ALG__MAX] = {"",	 "ES256", "ES384",
							"RS256", "EdDSA", "HS256"};

const char *const jws_account_algs[] = {"ES256", "ES384", "RS256", "EdDSA", NULL};

const char *
jws_alg_name(enum jws_alg a)
{
	return a > JWS_ALG_NONE && a < JWS_ALG__MAX ? jws_alg_names[a] : "";
}

/*
 * Classifies e as k, also when sjson classified it first in its own terms (its kinds are not
 * ours).  Returns -1.
 */
static int
jws_kind(struct err *e, enum jws_fail k)
{
	e->kind = (int)k;
	return -1;
}

/* Fails with kind k (ERR_REFUSED). */
static int
jws_fail(struct err *e, enum jws_fail k, const char *fmt, const char *arg)
{
	char esc[96];
	const char *at = strstr(fmt, "%s");

	/* fmt holds at most one %s, which the escaped arg replaces */
	if (arg != NULL && at != NULL)
		err_set(e, ERR_REFUSED, "%.*s%s%s", (int)(at - fmt), fmt,
			log_escape(esc, sizeof(esc), arg, strlen(arg)), at + 2);
	else
		err_set(e, ERR_REFUSED, "%s", fmt);
	return jws_kind(e, k);
}

/* Decodes base64url s[0..n) into a fresh buffer (*out, *outlen); -1 when it is not one. */
static int
jws_b64(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
	size_t cap = n / 4 * 3 + 3;

	*out = xmalloc(cap);
	if (b64url_decode(*out, cap, outlen, s, n) == -1) {
		free(*out);
		*out = NULL;
		*outlen = 0;
		return -1;
	}
	return 0;
}

/* The protected header's members, checked (see jws_parse). */
static int
jws_header(struct jws *j, int hmac_ok, struct err *e)
{
	const char *alg = NULL;
	int a;

	if (json_object_get(j->hdr, "crit") != NULL || json_object_get(j->hdr, "b64") != NULL)
		return jws_fail(e, JWS_FAIL_MALFORMED,
				"jws: RFC 7515 4.1.11: no critical extension is understood here",
				NULL);
	if (sjson_string(j->hdr, "alg", 1, &alg, NULL, "jws: protected header", e) == -1 ||
	    sjson_string(j->hdr, "nonce", 0, &j->nonce, NULL, "jws: protected header", e) == -1 ||
	    sjson_string(j->hdr, "url", 0, &j->url, NULL, "jws: protected header", e) == -1 ||
	    sjson_string(j->hdr, "kid", 0, &j->kid, NULL, "jws: protected header", e) == -1 ||
	    sjson_object(j->hdr, "jwk", 0, &j->jwk, "jws: protected header", e) == -1)
		return jws_kind(e, JWS_FAIL_MALFORMED);
	if (j->jwk != NULL && !json_is_object(j->jwk))
		return jws_fail(e, JWS_FAIL_MALFORMED, "jws: protected header: jwk is no object",
				NULL);
	for (a = JWS_ALG_NONE + 1; a < JWS_ALG__MAX; a++)
		if (strcmp(alg, jws_alg_names[a]) == 0)
			break;
	if (a == JWS_ALG__MAX || (a == JWS_ALG_HS256 && !hmac_ok))
		return jws_fail(e, JWS_FAIL_ALG, "jws: alg \"%s\" is not accepted here", alg);
	j->alg = (enum jws_alg)a;
	return 0;
}

int
jws_parse(const void *body, size_t len, int hmac_ok, struct jws *j, struct err *e)
{
	static const char *const top[] = {"protected", "payload", "signature", NULL};
	const char *prot, *pay, *sig;
	size_t plen, paylen, siglen, hlen = 0;
	unsigned char *htext = NULL;
	json_t *o = NULL;
	int rc = -1;

	memset(j, 0, sizeof(*j));
	if ((o = sjson_load_object(body, len, JWS_BODY_MAX, 1, "jws", e)) == NULL ||
	    sjson_known(o, top, "jws: RFC 8555 6.2: flattened serialization", e) == -1 ||
	    sjson_string(o, "protected", 1, &prot, &plen, "jws", e) == -1 ||
	    sjson_string(o, "payload", 1, &pay, &paylen, "jws", e) == -1 ||
	    sjson_string(o, "signature", 1, &sig, &siglen, "jws", e) == -1) {
		jws_kind(e, JWS_FAIL_MALFORMED);
		goto out;
	}
	if (plen == 0 || jws_b64(prot, plen, &htext, &hlen) == -1) {
		jws_fail(e, JWS_FAIL_MALFORMED, "jws: protected is not base64url", NULL);
		goto out;
	}
	if (jws_b64(pay, paylen, &j->payload, &j->payloadlen) == -1) {
		jws_fail(e, JWS_FAIL_MALFORMED, "jws: payload is not base64url", NULL);
		goto out;
	}
	if (siglen == 0 || jws_b64(sig, siglen, &j->sig, &j->siglen) == -1) {
		jws_fail(e, JWS_FAIL_MALFORMED, "jws: signature is not base64url", NULL);
		goto out;
	}
	if ((j->hdr = sjson_load_object(htext, hlen, JWS_HEADER_MAX, 2, "jws: protected header",
					e)) == NULL) {
		jws_kind(e, JWS_FAIL_MALFORMED);
		goto out;
	}
	if (jws_header(j, hmac_ok, e) == -1)
		goto out;
	j->inputlen = plen + 1 + paylen;
	j->input = xmalloc(j->inputlen + 1);
	memcpy(j->input, prot, plen);
	j->input[plen] = '.';
	memcpy(j->input + plen + 1, pay, paylen);
	j->input[j->inputlen] = '\0';
	rc = 0;
out:
	free(htext);
	json_decref(o);
	if (rc == -1)
		jws_clear(j);
	return rc;
}

void
jws_clear(struct jws *j)
{
	if (j == NULL)
		return;
	json_decref(j->hdr);
	free(j->payload);
	free(j->input);
	free(j->sig);
	memset(j, 0, sizeof(*j));
}

/* ---- keys ---- */

/* The string member name of a JWK as base64url of 1..max bytes (exactly max when exact). */
static int
jwk_bytes(json_t *jwk, const char *name, size_t max, int exact, unsigned char *out, size_t *n,
	  struct err *e)
{
	const char *s;
	size_t len;

	if (sjson_string(jwk, name, 1, &s, &len, "jwk", e) == -1)
		return jws_kind(e, JWS_FAIL_KEY);
	if (len > B64URL_LEN(max) || b64url_decode(out, max, n, s, len) == -1 || *n == 0 ||
	    (exact && *n != max))
		return jws_fail(e, JWS_FAIL_KEY,
				"jwk: RFC 7518 6: \"%s\" has a wrong encoding or length", name);
	return 0;
}

/* A JWK carrying a private member is refused: nobody should send their private key. */
static int
jwk_no_private(json_t *jwk, struct err *e)
{
	static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL};

	for (size_t i = 0; priv[i] != NULL; i++)
		if (json_object_get(jwk, priv[i]) != NULL)
			return jws_fail(e, JWS_FAIL_KEY,
					"jwk: private member \"%s\" in a public key", priv[i]);
	return 0;
}

/*
 * An EVP_PKEY made from params for type name (EVP_PKEY_fromdata), or NULL; check: run
 * OpenSSL's public key check (the EC point on its curve).  Never for RSA: OpenSSL 3.0's check
 * runs Miller-Rabin on the modulus, about 0.5 s for an 8192-bit prime that anyone can send
 * (jwk_rsa's own checks are cheap).
 */
static EVP_PKEY *
jwk_fromdata(const char *type, OSSL_PARAM_BLD *bld, int check)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
	EVP_PKEY *k = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	/* the point on its curve: the quick check (OpenSSL's full one also multiplies the point
	 * by the order, ~8% of the web process's CPU per ACME request in bench/acme, and proves
	 * nothing more on the cofactor-1 curves P-256 and P-384, the only ones jwk_ec takes) */
	if (check && ((chk = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL)) == NULL ||
		      EVP_PKEY_public_check_quick(chk) != 1)) {
		EVP_PKEY_free(k);
		k = NULL;
	}
out:
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return k;
}

static int
jwk_ec(json_t *jwk, EVP_PKEY **out, struct err *e)
{
	unsigned char pub[1 + 2 * 48];
	const char *crv;
	size_t n, xl, yl;
	OSSL_PARAM_BLD *bld = NULL;
	int rc = -1;

	if (sjson_string(jwk, "crv", 1, &crv, NULL, "jwk", e) == -1) {
		jws_kind(e, JWS_FAIL_KEY);
		goto out;
	}
	if (strcmp(crv, "P-256") == 0) {
		n = 32;
	} else if (strcmp(crv, "P-384") == 0) {
		n = 48;
	} else {
		jws_fail(e, JWS_FAIL_KEY, "jwk: curve \"%s\" is not accepted (P-256, P-384)", crv);
		goto out;
	}
	pub[0] = 0x04;
	if (jwk_bytes(jwk, "x", n, 1, pub + 1, &xl, e) == -1 ||
	    jwk_bytes(jwk, "y", n, 1, pub + 1 + n, &yl, e) == -1)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * n))
		fatalx("jwk: out of memory");
	if ((*out = jwk_fromdata("EC", bld, 1)) == NULL) {
		ERR_clear_error();
		jws_fail(e, JWS_FAIL_KEY, "jwk: the point is not on curve %s", crv);
		goto out;
	}
	rc = 0;
out:
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

/* 1 when n has a prime factor below 1000 (a modulus no RSA key generator makes). */
static int
jwk_rsa_small_factor(const BIGNUM *n)
{
	BN_ULONG p, d;

	for (p = 3; p < 1000; p += 2) {
		for (d = 3; d * d <= p && p % d != 0; d += 2)
			;
		if (d * d <= p)
			continue; /* not a prime */
		if (BN_mod_word(n, p) == 0)
			return 1;
	}
	return 0;
}

static int
jwk_rsa(json_t *jwk, EVP_PKEY **out, struct err *e)
{
	unsigned char nb[JWS_RSA_MAX_BITS / 8], eb[8];
	size_t nl, el;
	BIGNUM *n = NULL, *ex = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	int rc = -1, bits;

	if (jwk_bytes(jwk, "n", sizeof(nb), 0, nb, &nl, e) == -1 ||
	    jwk_bytes(jwk, "e", sizeof(eb), 0, eb, &el, e) == -1)
		goto out;
	if (nb[0] == 0 || eb[0] == 0) {
		jws_fail(e, JWS_FAIL_KEY, "jwk: RFC 7518 2: n and e take the fewest octets", NULL);
		goto out;
	}
	if ((n = BN_bin2bn(nb, (int)nl, NULL)) == NULL ||
	    (ex = BN_bin2bn(eb, (int)el, NULL)) == NULL)
		fatalx("jwk: out of memory");
	bits = BN_num_bits(n);
	if (bits < JWS_RSA_MIN_BITS || bits > JWS_RSA_MAX_BITS || !BN_is_word(ex, 65537) ||
	    !BN_is_odd(n) || jwk_rsa_small_factor(n)) {
		err_set(e, ERR_REFUSED,
			"jwk: RSA keys have %d to %d bits, e = 65537 and an odd modulus without "
			"small factors (%d bits)",
			JWS_RSA_MIN_BITS, JWS_RSA_MAX_BITS, bits);
		jws_kind(e, JWS_FAIL_KEY);
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, ex))
		fatalx("jwk: out of memory");
	if ((*out = jwk_fromdata("RSA", bld, 0)) == NULL) {
		ERR_clear_error();
		jws_fail(e, JWS_FAIL_KEY, "jwk: not a usable RSA public key", NULL);
		goto out;
	}
	rc = 0;
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(ex);
	return rc;
}

/*
 * 1 when the encoded Ed25519 point x is of small order (1, 2, 4 or 8), in any of its
 * encodings: the sign bit ignored, the y of 0 and 1 also as p and p + 1 (not canonical).  A
 * table compare, as libsodium's verifier does, not a scalar multiplication: it runs for every
 * request of an EdDSA account (its stored key is loaded each time).
 */
static int
jwk_ed25519_small(const unsigned char x[32])
{
	static const unsigned char small[][32] = {
	    {0x00}, /* y = 0: order 4 */
	    {0x01}, /* y = 1: the identity */
	    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
	     0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
	     0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05}, /* order 8 */
	    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
	     0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
	     0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a}, /* order 8 */
	    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* y = p - 1: order 2 */
	    {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* y = p: 0 */
	    {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* y = p + 1: 1 */
	};

	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++)
		if (memcmp(x, small[i], 31) == 0 && (x[31] & 0x7f) == small[i][31])
			return 1;
	return 0;
}

static int
jwk_okp(json_t *jwk, EVP_PKEY **out, struct err *e)
{
	unsigned char x[32];
	const char *crv;
	size_t xl;

	if (sjson_string(jwk, "crv", 1, &crv, NULL, "jwk", e) == -1)
		return jws_kind(e, JWS_FAIL_KEY);
	if (strcmp(crv, "Ed25519") != 0)
		return jws_fail(e, JWS_FAIL_KEY, "jwk: OKP curve \"%s\" is not accepted (Ed25519)",
				crv);
	if (jwk_bytes(jwk, "x", sizeof(x), 1, x, &xl, e) == -1)
		return -1;
	/* a point of small order lets one signature verify for many messages and keys (RFC
	 * 8032 5.1.7 leaves the check to the verifier): refused as an account key */
	if (jwk_ed25519_small(x))
		return jws_fail(e, JWS_FAIL_KEY,
				"jwk: RFC 8032: the Ed25519 public key is a point of small order",
				NULL);
	if ((*out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, sizeof(x))) == NULL) {
		ERR_clear_error();
		return jws_fail(e, JWS_FAIL_KEY, "jwk: not an Ed25519 public key", NULL);
	}
	return 0;
}

int
jwk_key(json_t *jwk, EVP_PKEY **out, struct err *e)
{
	const char *kty;

	*out = NULL;
	if (jwk == NULL || !json_is_object(jwk))
		return jws_fail(e, JWS_FAIL_KEY, "jwk: not a JSON object", NULL);
	if (sjson_string(jwk, "kty", 1, &kty, NULL, "jwk", e) == -1)
		return jws_kind(e, JWS_FAIL_KEY);
	if (jwk_no_private(jwk, e) == -1)
		return -1;
	if (strcmp(kty, "EC") == 0)
		return jwk_ec(jwk, out, e);
	if (strcmp(kty, "RSA") == 0)
		return jwk_rsa(jwk, out, e);
	if (strcmp(kty, "OKP") == 0)
		return jwk_okp(jwk, out, e);
	return jws_fail(e, JWS_FAIL_KEY, "jwk: key type \"%s\" is not accepted (EC, RSA, OKP)",
			kty);
}

/* The curve of an EC key: 256 (P-256), 384 (P-384) or 0 for any other. */
static int
jwk_ec_curve(EVP_PKEY *key)
{
	char g[64];

	if (!EVP_PKEY_is_a(key, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof(g), NULL))
		return 0;
	if (strcmp(g, "prime256v1") == 0 || strcmp(g, "P-256") == 0)
		return 256;
	if (strcmp(g, "secp384r1") == 0 || strcmp(g, "P-384") == 0)
		return 384;
	return 0;
}

enum jws_alg
jwk_key_alg(EVP_PKEY *key)
{
	int c;

	if (key == NULL)
		return JWS_ALG_NONE;
	if ((c = jwk_ec_curve(key)) != 0)
		return c == 256 ? JWS_ALG_ES256 : JWS_ALG_ES384;
	if (EVP_PKEY_is_a(key, "RSA"))
		return JWS_ALG_RS256;
	if (EVP_PKEY_is_a(key, "ED25519"))
		return JWS_ALG_EDDSA;
	return JWS_ALG_NONE;
}

int
jwk_alg_check(EVP_PKEY *key, enum jws_alg alg, struct err *e)
{
	enum jws_alg want = jwk_key_alg(key);

	if (want == JWS_ALG_NONE || want != alg) {
		err_set(e, ERR_REFUSED, "jws: RFC 7518 3.1: alg \"%s\" does not suit the key (%s)",
			jws_alg_name(alg), want != JWS_ALG_NONE ? jws_alg_name(want) : "none");
		return jws_kind(e, JWS_FAIL_ALG);
	}
	return 0;
}

int
jwk_thumbprint(json_t *jwk, unsigned char thumb[JWS_THUMB_LEN], char **canon, struct err *e)
{
	static const char *const ec[] = {"crv", "kty", "x", "y", NULL};
	static const char *const rsa[] = {"e", "kty", "n", NULL};
	static const char *const okp[] = {"crv", "kty", "x", NULL};
	const char *const *m;
	const char *kty, *v;
	struct buf b;
	int rc = -1;

	buf_init(&b, 4096);
	if (sjson_string(jwk, "kty", 1, &kty, NULL, "jwk", e) == -1) {
		jws_kind(e, JWS_FAIL_KEY);
		goto out;
	}
	m = strcmp(kty, "EC") == 0    ? ec
	    : strcmp(kty, "RSA") == 0 ? rsa
	    : strcmp(kty, "OKP") == 0 ? okp
				      : NULL;
	if (m == NULL) {
		jws_fail(e, JWS_FAIL_KEY, "jwk: key type \"%s\" has no thumbprint here", kty);
		goto out;
	}
	buf_putc(&b, '{');
	for (size_t i = 0; m[i] != NULL; i++) {
		if (sjson_string(jwk, m[i], 1, &v, NULL, "jwk", e) == -1) {
			jws_kind(e, JWS_FAIL_KEY);
			goto out;
		}
		/* the values of the accepted keys need no escaping: base64url and curve names */
		if (strpbrk(v, "\"\\") != NULL || strlen(v) > 2048) {
			jws_fail(e, JWS_FAIL_KEY, "jwk: member \"%s\" is no key value", m[i]);
			goto out;
		}
		if (buf_printf(&b, "%s\"%s\":\"%s\"", i > 0 ? "," : "", m[i], v) == -1) {
			jws_fail(e, JWS_FAIL_KEY, "jwk: too large", NULL);
			goto out;
		}
	}
	if (buf_putc(&b, '}') == -1 || buf_cstr(&b) == NULL) {
		jws_fail(e, JWS_FAIL_KEY, "jwk: too large", NULL);
		goto out;
	}
	if (EVP_Digest(b.data, b.len, thumb, NULL, EVP_sha256(), NULL) != 1)
		fatalx("jwk: SHA-256 failed");
	if (canon != NULL)
		*canon = xstrdup((char *)b.data);
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

void
jwk_thumb_text(const unsigned char thumb[JWS_THUMB_LEN], char out[JWS_THUMB_TEXT])
{
	if (b64url_encode(out, JWS_THUMB_TEXT, thumb, JWS_THUMB_LEN) == -1)
		fatalx("jwk: thumbprint text does not fit");
}

/* ---- signatures ---- */

/* r || s of n bytes each as a DER ECDSA-Sig-Value (caller frees *der); -1 on a wrong size. */
static int
jws_ecdsa_der(const unsigned char *sig, size_t siglen, size_t n, unsigned char **der, int *dlen)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	int rc = -1;

	*der = NULL;
	if (siglen != 2 * n)
		goto out;
	if ((es = ECDSA_SIG_new()) == NULL || (r = BN_bin2bn(sig, (int)n, NULL)) == NULL ||
	    (s = BN_bin2bn(sig + n, (int)n, NULL)) == NULL || !ECDSA_SIG_set0(es, r, s))
		fatalx("jws: out of memory");
	r = s = NULL;
	if ((*dlen = i2d_ECDSA_SIG(es, der)) <= 0)
		fatalx("jws: out of memory");
	rc = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return rc;
}

int
jws_verify(const struct jws *j, EVP_PKEY *key, struct err *e)
{
	EVP_MD_CTX *md = NULL;
	const EVP_MD *h = NULL;
	unsigned char *der = NULL;
	const unsigned char *sig = j->sig;
	size_t siglen = j->siglen;
	int dlen = 0, rc = -1;

	if (jwk_alg_check(key, j->alg, e) == -1)
		goto out;
	if (j->alg == JWS_ALG_ES256 || j->alg == JWS_ALG_ES384) {
		size_t n = j->alg == JWS_ALG_ES256 ? 32 : 48;

		h = md_get(j->alg == JWS_ALG_ES256 ? NID_sha256 : NID_sha384);
		if (jws_ecdsa_der(j->sig, j->siglen, n, &der, &dlen) == -1) {
			jws_fail(
			    e, JWS_FAIL_SIGNATURE,
			    "jws: RFC 7518 3.4: an ECDSA signature is R || S of the curve's size",
			    NULL);
			goto out;
		}
		sig = der;
		siglen = (size_t)dlen;
	} else if (j->alg == JWS_ALG_RS256) {
		h = md_get(NID_sha256);
	}
	if ((md = EVP_MD_CTX_new()) == NULL)
		fatalx("jws: out of memory");
	if (EVP_DigestVerifyInit(md, NULL, h, NULL, key) != 1 ||
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)j->input, j->inputlen) != 1) {
		ERR_clear_error();
		jws_fail(e, JWS_FAIL_SIGNATURE, "jws: the signature does not verify", NULL);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	return rc;
}

int
jws_verify_hmac(const struct jws *j, const unsigned char *key, size_t keylen, struct err *e)
{
	unsigned char mac[32];
	unsigned int maclen = 0;

	if (j->alg != JWS_ALG_HS256)
		return jws_fail(e, JWS_FAIL_ALG, "jws: RFC 8555 7.3.4: the binding's alg is HS256",
				NULL);
	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)j->input, j->inputlen, mac,
		 &maclen) == NULL)
		fatalx("jws: HMAC failed");
	if (j->siglen != maclen || CRYPTO_memcmp(mac, j->sig, maclen) != 0)
		return jws_fail(e, JWS_FAIL_SIGNATURE, "jws: the MAC does not verify", NULL);
	return 0;
}

/* ---- signing (tests, seeds, clients) ---- */

/* The raw signature of input with key under alg (ECDSA as R || S) into *sig. */
static int
jws_sign_raw(EVP_PKEY *key, enum jws_alg alg, const char *input, size_t n, unsigned char **sig,
	     size_t *siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const EVP_MD *h = alg == JWS_ALG_ES384	 ? EVP_sha384()
			  : alg == JWS_ALG_EDDSA ? NULL
						 : EVP_sha256();
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t dlen = 0, cn;
	ECDSA_SIG *es = NULL;
	int rc = -1;

	if (md == NULL || EVP_DigestSignInit(md, NULL, h, NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &dlen, (const unsigned char *)input, n) != 1)
		goto out;
	der = xmalloc(dlen);
	if (EVP_DigestSign(md, der, &dlen, (const unsigned char *)input, n) != 1)
		goto out;
	if (alg == JWS_ALG_ES256 || alg == JWS_ALG_ES384) {
		cn = alg == JWS_ALG_ES256 ? 32 : 48;
		p = der;
		if ((es = d2i_ECDSA_SIG(NULL, &p, (long)dlen)) == NULL)
			goto out;
		*sig = xmalloc(2 * cn);
		BN_bn2binpad(ECDSA_SIG_get0_r(es), *sig, (int)cn);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), *sig + cn, (int)cn);
		*siglen = 2 * cn;
	} else {
		*sig = der;
		*siglen = dlen;
		der = NULL;
	}
	rc = 0;
out:
	ECDSA_SIG_free(es);
	free(der);
	EVP_MD_CTX_free(md);
	return rc;
}

/* base64url of n bytes, appended to b. */
static void
jws_put_b64(struct buf *b, const void *p, size_t n)
{
	char *t = xmalloc(B64URL_LEN(n) + 1);

	if (b64url_encode(t, B64URL_LEN(n) + 1, p, n) == -1 || buf_printf(b, "%s", t) == -1)
		fatalx("jws: out of memory");
	free(t);
}

char *
jws_sign(json_t *hdr, const void *payload, size_t n, EVP_PKEY *key, const unsigned char *mac,
	 size_t maclen, struct err *e)
{
	struct buf in, out;
	char *h = NULL, *res = NULL;
	unsigned char *sig = NULL, hm[32];
	unsigned int hmlen = 0;
	size_t siglen = 0;
	enum jws_alg alg = key != NULL ? jwk_key_alg(key) : JWS_ALG_HS256;

	buf_init(&in, 2 * JWS_BODY_MAX);
	buf_init(&out, 4 * JWS_BODY_MAX);
	if (alg == JWS_ALG_NONE || (h = json_dumps(hdr, JSON_COMPACT)) == NULL) {
		err_set(e, ERR_INTERNAL, "jws: cannot sign with this key");
		goto out;
	}
	jws_put_b64(&in, h, strlen(h));
	buf_putc(&in, '.');
	jws_put_b64(&in, payload, n);
	if (key != NULL) {
		if (jws_sign_raw(key, alg, (char *)in.data, in.len, &sig, &siglen) == -1) {
			err_ssl(e, ERR_INTERNAL, "jws: signing failed");
			goto out;
		}
	} else {
		HMAC(EVP_sha256(), mac, (int)maclen, in.data, in.len, hm, &hmlen);
		sig = xmalloc(hmlen);
		memcpy(sig, hm, hmlen);
		siglen = hmlen;
	}
	buf_printf(&out, "{\"protected\":\"");
	jws_put_b64(&out, h, strlen(h));
	buf_printf(&out, "\",\"payload\":\"");
	jws_put_b64(&out, payload, n);
	buf_printf(&out, "\",\"signature\":\"");
	jws_put_b64(&out, sig, siglen);
	buf_printf(&out, "\"}");
	res = xstrdup(buf_cstr(&out));
out:
	free(h);
	free(sig);
	buf_free(&in);
	buf_free(&out);
	return res;
}

/* The member name of key as base64url (a BIGNUM parameter, padded to pad bytes when > 0). */
static int
jwk_put_bn(json_t *j, const char *name, EVP_PKEY *key, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char b[JWS_RSA_MAX_BITS / 8];
	char t[B64URL_LEN(sizeof(b)) + 1];
	int n, rc = -1;

	if (!EVP_PKEY_get_bn_param(key, param, &bn))
		goto out;
	n = pad > 0 ? pad : BN_num_bytes(bn);
	if (n <= 0 || (size_t)n > sizeof(b) || BN_bn2binpad(bn, b, n) != n ||
	    b64url_encode(t, sizeof(t), b, (size_t)n) == -1)
		goto out;
	rc = json_object_set_new(j, name, json_string(t));
out:
	BN_free(bn);
	return rc;
}

json_t *
jwk_of_key(EVP_PKEY *key)
{
	json_t *j = json_object();
	enum jws_alg a = jwk_key_alg(key);
	int bad = 0;

	if (a == JWS_ALG_ES256 || a == JWS_ALG_ES384) {
		int n = a == JWS_ALG_ES256 ? 32 : 48;

		bad |= json_object_set_new(j, "kty", json_string("EC"));
		bad |= json_object_set_new(j, "crv", json_string(n == 32 ? "P-256" : "P-384"));
		bad |= jwk_put_bn(j, "x", key, OSSL_PKEY_PARAM_EC_PUB_X, n);
		bad |= jwk_put_bn(j, "y", key, OSSL_PKEY_PARAM_EC_PUB_Y, n);
	} else if (a == JWS_ALG_RS256) {
		bad |= json_object_set_new(j, "kty", json_string("RSA"));
		bad |= jwk_put_bn(j, "n", key, OSSL_PKEY_PARAM_RSA_N, 0);
		bad |= jwk_put_bn(j, "e", key, OSSL_PKEY_PARAM_RSA_E, 0);
	} else if (a == JWS_ALG_EDDSA) {
		unsigned char x[32];
		char t[B64URL_LEN(32) + 1];
		size_t xl = sizeof(x);

		bad |= !EVP_PKEY_get_raw_public_key(key, x, &xl) ||
		       b64url_encode(t, sizeof(t), x, xl) == -1;
		bad |= json_object_set_new(j, "kty", json_string("OKP"));
		bad |= json_object_set_new(j, "crv", json_string("Ed25519"));
		if (!bad)
			bad |= json_object_set_new(j, "x", json_string(t));
	} else {
		bad = 1;
	}
	if (bad) {
		json_decref(j);
		j = NULL;
	}
	return j;
}
