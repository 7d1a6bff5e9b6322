/*
 * ACME's pure parts (src/util/jws.c) and its RA (src/ra/acme.c) on SQLite and PostgreSQL: JWS
 * verification with each accepted alg and every refusal (kinds the face maps to problem
 * types), the RFC 7638 section 3.1 thumbprint, HS256 for External Account Binding, nonces used
 * once across two store connections (forged, expired and purged ones too), bindings made with
 * a sealed key, accounts made with them once, and the account life cycle.
 */
#include "testutil.h"
#include "tu_ca.h"

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "acme/acme.h"
#include "acme/acme_int.h"
#include "ra/ra.h"
#include "store/store_int.h"
#include "tu_x509.h"
#include "x509/x509.h"
#include "util/b64.h"
#include "util/jws.h"

#define OK(x) assert_int_equal((x), 0)

static struct tu_ca fx;
static int want_pg;
static struct ra_acme_keys keys;

/* ---- helpers ---- */

static EVP_PKEY *
keygen(const char *what)
{
	EVP_PKEY *k = NULL;

	if (strcmp(what, "P-256") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(what, "P-384") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	else if (strcmp(what, "P-521") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	else if (strcmp(what, "RSA") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (strcmp(what, "RSA1024") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	else if (strcmp(what, "Ed25519") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	return k;
}

/* A flattened JWS over payload signed by key (or the MAC), header alg + members. */
static char *
sign(EVP_PKEY *key, const char *alg, const char *payload, const unsigned char *mac, int with_jwk,
     const char *kid)
{
	json_t *h = json_object();
	char *out;
	struct err e;

	err_clear(&e);
	json_object_set_new(h, "alg", json_string(alg));
	json_object_set_new(h, "nonce", json_string("n0nce"));
	json_object_set_new(h, "url", json_string("https://ca.example/acme/new-account"));
	if (with_jwk)
		json_object_set_new(h, "jwk", jwk_of_key(key));
	if (kid != NULL)
		json_object_set_new(h, "kid", json_string(kid));
	out = jws_sign(h, payload, strlen(payload), mac != NULL ? NULL : key, mac, 32, &e);
	if (out == NULL)
		fail_msg("sign: %s", e.msg);
	json_decref(h);
	return out;
}

/* Parses text and expects failure of kind k. */
static void
parse_fails(const char *text, int hmac_ok, enum jws_fail k)
{
	struct jws j;
	struct err e;

	err_clear(&e);
	if (jws_parse(text, strlen(text), hmac_ok, &j, &e) != -1 || e.kind != (int)k)
		fail_msg("expected kind %d for %s, got kind %d \"%s\"", k, text, e.kind, e.msg);
	assert_null(j.hdr);
}

/* base64url of s into a static buffer. */
static const char *
b64(const char *s)
{
	static char out[4][1024];
	static int i;

	i = (i + 1) % 4;
	assert_int_equal(b64url_encode(out[i], sizeof(out[i]), s, strlen(s)), 0);
	return out[i];
}

/* A flattened JWS text of a given header and payload text, with signature "AAAA". */
static char *
raw(const char *hdr, const char *payload)
{
	return xasprintf("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"AAAA\"}",
			 b64(hdr), b64(payload));
}

/* ---- pure ---- */

/* RFC 7638 section 3.1: the example RSA key's thumbprint (alg and kid are not hashed). */
static void
test_thumbprint_rfc7638(void **state)
{
	static const char n[] =
	    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
	    "_"
	    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
	    "65YGjQR0_"
	    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrd"
	    "kt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
	    "kEgU8awapJzKnqDKgw";
	unsigned char t[JWS_THUMB_LEN];
	char text[JWS_THUMB_TEXT], *canon = NULL, want[1024];
	json_t *jwk;
	EVP_PKEY *k = NULL;
	struct err e;

	(void)state;
	err_clear(&e);
	jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n", n, "e", "AQAB", "alg",
			"RS256", "kid", "2011-04-29");
	OK(jwk_thumbprint(jwk, t, &canon, &e));
	jwk_thumb_text(t, text);
	assert_string_equal(text, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	snprintf(want, sizeof(want), "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"%s\"}", n);
	assert_string_equal(canon, want);
	OK(jwk_key(jwk, &k, &e));
	assert_int_equal(jwk_key_alg(k), JWS_ALG_RS256);
	EVP_PKEY_free(k);
	free(canon);
	json_decref(jwk);
}

/* Each accepted alg: sign, parse, key from the jwk, verify; a changed byte does not verify. */
static void
test_algs(void **state)
{
	static const struct {
		const char *key, *alg, *other;
	} t[] = {
	    {"P-256", "ES256", "ES384"},
	    {"P-384", "ES384", "ES256"},
	    {"RSA", "RS256", "ES256"},
	    {"Ed25519", "EdDSA", "RS256"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		EVP_PKEY *k = keygen(t[i].key), *pub = NULL;
		unsigned char t1[JWS_THUMB_LEN], t2[JWS_THUMB_LEN];
		char *s = sign(k, t[i].alg, "{\"contact\":[]}", NULL, 1, NULL), *p;
		json_t *jwk = jwk_of_key(k);
		struct jws j;
		struct err e;

		err_clear(&e);
		OK(jws_parse(s, strlen(s), 0, &j, &e));
		assert_string_equal(jws_alg_name(j.alg), t[i].alg);
		assert_string_equal(j.nonce, "n0nce");
		assert_null(j.kid);
		assert_int_equal(j.payloadlen, 14);
		OK(jwk_key(j.jwk, &pub, &e));
		OK(jwk_alg_check(pub, j.alg, &e));
		if (jws_verify(&j, pub, &e) == -1)
			fail_msg("%s: %s", t[i].alg, e.msg);
		/* the thumbprint of the header's jwk is the key's */
		OK(jwk_thumbprint(j.jwk, t1, NULL, &e));
		OK(jwk_thumbprint(jwk, t2, NULL, &e));
		assert_memory_equal(t1, t2, sizeof(t1));
		/* another alg for this key */
		j.alg = strcmp(t[i].other, "ES256") == 0   ? JWS_ALG_ES256
			: strcmp(t[i].other, "ES384") == 0 ? JWS_ALG_ES384
							   : JWS_ALG_RS256;
		assert_int_equal(jws_verify(&j, pub, &e), -1);
		assert_int_equal(e.kind, JWS_FAIL_ALG);
		jws_clear(&j);
		/* one signature byte changed */
		p = strstr(s, "\"signature\":\"") + 14;
		*p = *p == 'A' ? 'B' : 'A';
		err_clear(&e);
		OK(jws_parse(s, strlen(s), 0, &j, &e));
		assert_int_equal(jws_verify(&j, pub, &e), -1);
		assert_int_equal(e.kind, JWS_FAIL_SIGNATURE);
		jws_clear(&j);
		json_decref(jwk);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(k);
		free(s);
	}
}

/* POST-as-GET: an empty payload parses (payloadlen 0) and verifies. */
static void
test_post_as_get(void **state)
{
	EVP_PKEY *k = keygen("P-256"), *pub = NULL;
	char *s = sign(k, "ES256", "", NULL, 0, "https://ca.example/acme/acct/1");
	struct jws j;
	struct err e;

	(void)state;
	err_clear(&e);
	OK(jws_parse(s, strlen(s), 0, &j, &e));
	assert_int_equal(j.payloadlen, 0);
	assert_string_equal(j.kid, "https://ca.example/acme/acct/1");
	assert_null(j.jwk);
	json_t *jwk = jwk_of_key(k);
	OK(jwk_key(jwk, &pub, &e));
	OK(jws_verify(&j, pub, &e));
	json_decref(jwk);
	jws_clear(&j);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(k);
	free(s);
}

/* Every refusal of jws_parse, with its kind. */
static void
test_parse_refusals(void **state)
{
	static const char *const malformed[] = {
	    "",
	    "[]",
	    "{",
	    "{\"protected\":\"e30\",\"payload\":\"\"}",
	    "{\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"AAAA\",\"header\":{}}",
	    "{\"signatures\":[],\"payload\":\"\"}",
	    "{\"protected\":\"e30\",\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"AAAA\"}",
	    "{\"protected\":\"e30=\",\"payload\":\"\",\"signature\":\"AAAA\"}",
	    "{\"protected\":\"e30\",\"payload\":\"a+b/\",\"signature\":\"AAAA\"}",
	    "{\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"\"}",
	    "{\"protected\":\"\",\"payload\":\"\",\"signature\":\"AAAA\"}",
	    "{\"protected\":1,\"payload\":\"\",\"signature\":\"AAAA\"}",
	};
	char *t, big[JWS_BODY_MAX + 64];

	(void)state;
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		parse_fails(malformed[i], 0, JWS_FAIL_MALFORMED);
	/* the protected header: not an object, no alg, a duplicate, crit, b64, wrong types */
	static const char *const hdrs[] = {
	    "[]",
	    "{}",
	    "{\"alg\":\"ES256\",\"alg\":\"ES256\"}",
	    "{\"alg\":\"ES256\",\"crit\":[\"b64\"],\"b64\":false}",
	    "{\"alg\":\"ES256\",\"b64\":false}",
	    "{\"alg\":1}",
	    "{\"alg\":\"ES256\",\"nonce\":1}",
	    "{\"alg\":\"ES256\",\"url\":[]}",
	    "{\"alg\":\"ES256\",\"jwk\":\"x\"}",
	    "{\"alg\":\"ES256\",\"kid\":{}}",
	    "{\"alg\":\"ES256\",\"jwk\":{\"a\":{\"b\":1}}}",
	    "{\"alg\":\"ES256\",\"nonce\":\"a\\u0000b\"}",
	};
	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		t = raw(hdrs[i], "{}");
		parse_fails(t, 0, JWS_FAIL_MALFORMED);
		free(t);
	}
	/* algs: none, HS256 where no MAC is due, unknown, wrong case */
	static const char *const algs[] = {"none", "HS256", "ES512", "es256", "PS256", ""};
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		char h[64];

		snprintf(h, sizeof(h), "{\"alg\":\"%s\"}", algs[i]);
		t = raw(h, "{}");
		parse_fails(t, 0, JWS_FAIL_ALG);
		free(t);
	}
	/* too large */
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	parse_fails(big, 0, JWS_FAIL_MALFORMED);
}

/* Keys that jwk_key refuses (badPublicKey), and one whose curve no alg here takes. */
static void
test_jwk_refusals(void **state)
{
	EVP_PKEY *k256 = keygen("P-256"), *rsa1024 = keygen("RSA1024"), *p521 = keygen("P-521");
	EVP_PKEY *out = NULL;
	json_t *j;
	struct err e;
	char x[64];

	(void)state;
	err_clear(&e);
	/* a private member */
	j = jwk_of_key(k256);
	json_object_set_new(j, "d", json_string("AAAA"));
	assert_int_equal(jwk_key(j, &out, &e), -1);
	assert_int_equal(e.kind, JWS_FAIL_KEY);
	json_decref(j);
	/* a point off its curve: y changed */
	err_clear(&e);
	j = jwk_of_key(k256);
	snprintf(x, sizeof(x), "%s", json_string_value(json_object_get(j, "y")));
	x[5] = x[5] == 'A' ? 'B' : 'A';
	json_object_set_new(j, "y", json_string(x));
	assert_int_equal(jwk_key(j, &out, &e), -1);
	assert_int_equal(e.kind, JWS_FAIL_KEY);
	/* a short x */
	err_clear(&e);
	json_object_set_new(j, "x", json_string("AAAA"));
	assert_int_equal(jwk_key(j, &out, &e), -1);
	assert_int_equal(e.kind, JWS_FAIL_KEY);
	json_decref(j);
	/* RSA below 2048 bits; an even e; a leading zero octet in n */
	err_clear(&e);
	assert_null(jwk_of_key(p521)); /* no alg here for P-521 */
	j = jwk_of_key(rsa1024);
	assert_int_equal(jwk_key(j, &out, &e), -1);
	assert_int_equal(e.kind, JWS_FAIL_KEY);
	assert_non_null(strstr(e.msg, "2048"));
	json_decref(j);
	/*
	 * RSA moduli refused by cheap checks before OpenSSL sees them (its own check runs
	 * Miller-Rabin: 0.5 s for an 8192-bit prime): over 4096 bits, e other than 65537, a small
	 * factor.  A real 2048-bit key with its n times 3 (odd, 2050 bits) has the factor 3.
	 */
	{
		EVP_PKEY *k = keygen("RSA");
		BIGNUM *n = NULL;
		unsigned char nb[4096 / 8 + 1];
		char n64[1024];
		int nl;
		json_t *jk;

		assert_int_equal(EVP_PKEY_get_bn_param(k, "n", &n), 1);
		assert_int_equal(BN_mul_word(n, 3), 1);
		nl = BN_bn2bin(n, nb);
		b64url_encode(n64, sizeof(n64), nb, (size_t)nl);
		jk = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", n64, "e", "AQAB");
		err_clear(&e);
		assert_int_equal(jwk_key(jk, &out, &e), -1);
		assert_non_null(strstr(e.msg, "small factors"));
		json_decref(jk);
		/* the key itself with e = 3 */
		BN_div_word(n, 3);
		nl = BN_bn2bin(n, nb);
		b64url_encode(n64, sizeof(n64), nb, (size_t)nl);
		jk = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", n64, "e", "Aw");
		err_clear(&e);
		assert_int_equal(jwk_key(jk, &out, &e), -1);
		assert_non_null(strstr(e.msg, "65537"));
		json_object_set_new(jk, "e", json_string("AQAB"));
		err_clear(&e);
		assert_int_equal(jwk_key(jk, &out, &e), 0); /* and with 65537 it is the key */
		EVP_PKEY_free(out);
		out = NULL;
		json_decref(jk);
		BN_free(n);
		EVP_PKEY_free(k);
	}
	static const char *const bad[] = {
	    "{\"kty\":\"RSA\",\"n\":\"AAEB\",\"e\":\"AQAB\"}",
	    "{\"kty\":\"RSA\",\"n\":\"AQEB\",\"e\":\"AQAC\"}",
	    "{\"kty\":\"oct\",\"k\":\"AAAA\"}",
	    "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}",
	    "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\"}",
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}",
	    "{\"kty\":1}",
	    "{}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		j = json_loads(bad[i], 0, NULL);
		assert_non_null(j);
		if (jwk_key(j, &out, &e) != -1 || e.kind != JWS_FAIL_KEY)
			fail_msg("%s: kind %d \"%s\"", bad[i], e.kind, e.msg);
		json_decref(j);
	}
	EVP_PKEY_free(k256);
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(p521);
}

/* HS256 (External Account Binding): verifies with its key only, and only where asked for. */
static void
test_hmac(void **state)
{
	unsigned char mac[32], other[32];
	EVP_PKEY *k = keygen("P-256");
	char *s;
	struct jws j;
	struct err e;

	(void)state;
	err_clear(&e);
	memset(mac, 7, sizeof(mac));
	memset(other, 8, sizeof(other));
	s = sign(k, "HS256", "{}", mac, 0, "kid-1");
	OK(jws_parse(s, strlen(s), 1, &j, &e));
	OK(jws_verify_hmac(&j, mac, sizeof(mac), &e));
	assert_int_equal(jws_verify_hmac(&j, other, sizeof(other), &e), -1);
	assert_int_equal(e.kind, JWS_FAIL_SIGNATURE);
	/* an asymmetric key cannot verify an HS256 JWS */
	err_clear(&e);
	assert_int_equal(jws_verify(&j, k, &e), -1);
	assert_int_equal(e.kind, JWS_FAIL_ALG);
	jws_clear(&j);
	parse_fails(s, 0, JWS_FAIL_ALG);
	free(s);
	EVP_PKEY_free(k);
}

/* ---- stored ---- */

static int
setup(void **state)
{
	struct err e;
	char *path;

	(void)state;
	err_clear(&e);
	tu_ca_open(&fx, want_pg, "test_acme");
	const char *const d1[] = {"example.co.jp"};
	int64_t id;
	if (store_org_add(fx.st, "EX1", "Example One", d1, 1, &id, &e) == -1)
		fail_msg("org: %s", e.msg);
	path = conf_path(&fx.ca->conf, "keys/acme.key");
	if (ra_acme_keys_load(&fx.ca->conf, &keys, &e) == -1)
		fail_msg("keys: %s", e.msg);
	assert_true(util_file_exists(path));
	free(path);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	ra_acme_keys_wipe(&keys);
	tu_ca_close(&fx);
	return 0;
}

/* A nonce is used once, also through another connection; forged and expired ones never. */
static void
test_nonce(void **state)
{
	char n[RA_ACME_NONCE_TEXT], forged[RA_ACME_NONCE_TEXT];
	struct store *st2 = NULL;
	struct ra_acme_keys k2;
	time_t now = util_now();
	int64_t purged = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	OK(ca_store_open(fx.ca, &st2, &e));
	ra_acme_nonce_new(&keys, now, n);
	assert_int_equal(strlen(n), RA_ACME_NONCE_TEXT - 1);
	assert_int_equal(ra_acme_nonce_use(fx.st, &keys, n, now, &e), RA_ACME_NONCE_OK);
	assert_int_equal(ra_acme_nonce_use(st2, &keys, n, now, &e), RA_ACME_NONCE_USED);
	assert_int_equal(ra_acme_nonce_use(fx.st, &keys, n, now, &e), RA_ACME_NONCE_USED);
	/* made on one connection, used on the other first */
	ra_acme_nonce_new(&keys, now, n);
	assert_int_equal(ra_acme_nonce_use(st2, &keys, n, now, &e), RA_ACME_NONCE_OK);
	assert_int_equal(ra_acme_nonce_use(fx.st, &keys, n, now, &e), RA_ACME_NONCE_USED);
	/* one character changed; not base64url; too short; another key's */
	ra_acme_nonce_new(&keys, now, n);
	memcpy(forged, n, sizeof(n));
	forged[10] = forged[10] == 'A' ? 'B' : 'A';
	assert_int_equal(ra_acme_nonce_use(fx.st, &keys, forged, now, &e), RA_ACME_NONCE_BAD);
	assert_int_equal(ra_acme_nonce_use(fx.st, &keys, "a+b/", now, &e), RA_ACME_NONCE_BAD);
	assert_int_equal(ra_acme_nonce_use(fx.st, &keys, "", now, &e), RA_ACME_NONCE_BAD);
	assert_int_equal(ra_acme_nonce_use(fx.st, &keys, NULL, now, &e), RA_ACME_NONCE_BAD);
	memcpy(&k2, &keys, sizeof(k2));
	k2.nonce[0] ^= 1;
	assert_int_equal(ra_acme_nonce_use(fx.st, &k2, n, now, &e), RA_ACME_NONCE_BAD);
	/* the original still works once */
	assert_int_equal(ra_acme_nonce_use(fx.st, &keys, n, now, &e), RA_ACME_NONCE_OK);
	/* expired: made an hour and a second ago */
	ra_acme_nonce_new(&keys, now - RA_ACME_NONCE_TTL - 1, n);
	err_clear(&e);
	assert_int_equal(ra_acme_nonce_use(fx.st, &keys, n, now, &e), RA_ACME_NONCE_BAD);
	assert_non_null(strstr(e.msg, "expired"));
	/* the used ones are purged once their nonces expired */
	OK(store_acme_nonce_purge(fx.st, now + RA_ACME_NONCE_TTL + 1, &purged, &e));
	assert_int_equal(purged, 3);
	store_close(st2);
}

/* base64url text of an EAB key into its bytes. */
static void
hmac_bytes(const char *text, unsigned char out[RA_ACME_EAB_KEY_LEN])
{
	size_t n = 0;

	OK(b64url_decode(out, RA_ACME_EAB_KEY_LEN, &n, text, strlen(text)));
	assert_int_equal(n, RA_ACME_EAB_KEY_LEN);
}

/* The binding object of key for kid under mac (RFC 8555 7.3.4). */
static json_t *
eab_object(EVP_PKEY *key, const char *kid, const unsigned char *mac, const char *url)
{
	json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", kid, "url", url);
	json_t *jwk = jwk_of_key(key), *o;
	char *payload = json_dumps(jwk, JSON_COMPACT), *s;
	struct err e;

	err_clear(&e);
	s = jws_sign(h, payload, strlen(payload), NULL, mac, RA_ACME_EAB_KEY_LEN, &e);
	assert_non_null(s);
	o = json_loads(s, 0, NULL);
	free(s);
	free(payload);
	json_decref(jwk);
	json_decref(h);
	return o;
}

/* Bindings: sealed, names within the organization, one account each; the account life cycle. */
/*
 * The officer's side (console and bulk TSV): an organization's bindings listed without their
 * sealed keys; names changed within the domains only; status changes confined to the
 * organization, refused when revoked or unchanged; check_only writes nothing.
 */
static void
test_eab_officer(void **state)
{
	char kid[RA_ACME_KID_TEXT], hmac[RA_ACME_EAB_KEY_TEXT], okid[RA_ACME_KID_TEXT];
	const char *const d2[] = {"other.example.jp"};
	struct store_acme_eab *v = NULL, row;
	size_t n = 0, i;
	int64_t org2 = 0;
	int found = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	OK(store_org_add(fx.st, "EX2", "Example Two", d2, 1, &org2, &e));
	OK(ra_acme_eab_create(fx.st, &keys, "EX2", NULL, "unit", okid, hmac, &e));
	OK(ra_acme_eab_create(fx.st, &keys, "EX1", "www.example.co.jp", "unit", kid, hmac, &e));
	OK(ra_acme_eab_list(fx.st, org2, &v, &n, &e));
	assert_int_equal(n, 1);
	assert_string_equal(v[0].kid, okid);
	assert_int_equal(v[0].sealedlen, 0);
	ra_acme_eab_list_free(v, n);
	/* names: within the domains only; check_only writes nothing */
	assert_int_equal(
	    ra_acme_eab_officer_set(fx.st, "EX1", kid, NULL, "www.other.jp", NULL, "unit", 0, &e),
	    -1);
	assert_int_equal(e.code, ERR_REFUSED);
	err_clear(&e);
	OK(ra_acme_eab_officer_set(fx.st, "EX1", kid, NULL, "a.example.co.jp", NULL, "unit", 1,
				   &e));
	OK(store_acme_eab_get(fx.st, kid, &row, &e));
	assert_string_equal(row.names, "www.example.co.jp");
	store_acme_eab_clear(&row);
	OK(ra_acme_eab_officer_set(fx.st, "EX1", kid, NULL, "A.example.co.jp,b.example.co.jp", NULL,
				   "unit", 0, &e));
	OK(store_acme_eab_get(fx.st, kid, &row, &e));
	assert_string_equal(row.names, "a.example.co.jp,b.example.co.jp");
	store_acme_eab_clear(&row);
	/* another organization's binding does not exist for EX1's officer */
	assert_int_equal(
	    ra_acme_eab_officer_set(fx.st, "EX1", okid, "suspended", NULL, NULL, "unit", 0, &e),
	    -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	err_clear(&e);
	OK(store_acme_eab_get(fx.st, okid, &row, &e));
	assert_string_equal(row.status, "active");
	store_acme_eab_clear(&row);
	/* suspend, the same again (conflict), revoke, then nothing moves it */
	OK(ra_acme_eab_officer_set(fx.st, "EX1", kid, "suspended", NULL, "reason=5", "unit", 0,
				   &e));
	assert_int_equal(
	    ra_acme_eab_officer_set(fx.st, "EX1", kid, "suspended", NULL, NULL, "unit", 0, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	err_clear(&e);
	OK(ra_acme_eab_officer_set(fx.st, "EX1", kid, "revoked", NULL, NULL, "unit", 0, &e));
	assert_int_equal(
	    ra_acme_eab_officer_set(fx.st, "EX1", kid, "active", NULL, NULL, "unit", 0, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	err_clear(&e);
	assert_int_equal(ra_acme_eab_officer_set(fx.st, "EX1", kid, NULL, "c.example.co.jp", NULL,
						 "unit", 0, &e),
			 -1);
	err_clear(&e);
	/* the list of EX1 holds it, revoked, newest first */
	OK(store_acme_eab_get(fx.st, kid, &row, &e));
	OK(ra_acme_eab_list(fx.st, row.org_id, &v, &n, &e));
	assert_true(n >= 1);
	assert_string_equal(v[0].kid, kid);
	for (i = 0; i < n; i++)
		found |= strcmp(v[i].kid, kid) == 0 && strcmp(v[i].status, "revoked") == 0;
	assert_true(found);
	ra_acme_eab_list_free(v, n);
	store_acme_eab_clear(&row);
}

static void
test_eab_accounts(void **state)
{
	static const char url[] = "https://ca.example/acme/new-account";
	char kid[RA_ACME_KID_TEXT], hmac[RA_ACME_EAB_KEY_TEXT];
	unsigned char mac[RA_ACME_EAB_KEY_LEN], wrong[RA_ACME_EAB_KEY_LEN];
	EVP_PKEY *k1 = keygen("P-256"), *k2 = keygen("Ed25519"), *k3 = keygen("RSA");
	struct ra_acme_account a, b;
	struct ra_acme_new q;
	struct store_acme_eab row;
	json_t *jwk1 = jwk_of_key(k1), *jwk2 = jwk_of_key(k2), *jwk3 = jwk_of_key(k3), *eab;
	int64_t other = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	/* names outside the organization's domains are refused */
	assert_int_equal(
	    ra_acme_eab_create(fx.st, &keys, "EX1", "www.other.jp", "unit", kid, hmac, &e), -1);
	err_clear(&e);
	assert_int_equal(ra_acme_eab_create(fx.st, &keys, "NOPE", NULL, "unit", kid, hmac, &e), -1);
	err_clear(&e);
	OK(ra_acme_eab_create(fx.st, &keys, "EX1", "WWW.example.co.jp, mail.example.co.jp", "unit",
			      kid, hmac, &e));
	hmac_bytes(hmac, mac);
	OK(store_acme_eab_get(fx.st, kid, &row, &e));
	assert_string_equal(row.names, "www.example.co.jp,mail.example.co.jp");
	assert_string_equal(row.status, "active");
	/* sealed: the key is not in the row */
	for (size_t i = 0; i + sizeof(mac) <= row.sealedlen; i++)
		assert_true(memcmp(row.sealed + i, mac, sizeof(mac)) != 0);
	store_acme_eab_clear(&row);
	/* a key id never begins with "-" (commands take it as an argument): 1 in 64 would */
	{
		char kid_many[RA_ACME_KID_TEXT], hmac_many[RA_ACME_EAB_KEY_TEXT];

		for (int i = 0; i < 300; i++) {
			OK(ra_acme_eab_create(fx.st, &keys, "EX1", NULL, "unit", kid_many,
					      hmac_many, &e));
			assert_true(kid_many[0] != '-');
		}
	}

	memset(&q, 0, sizeof(q));
	q.jwk = jwk1;
	q.url = url;
	q.eab_required = 1;
	q.actor = "unit";
	q.tos_agreed = 1;
	/* required and absent; a wrong MAC; over another key; another url */
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &a, &e), RA_ACME_EAB_REQUIRED);
	memset(wrong, 1, sizeof(wrong));
	q.eab = eab = eab_object(k1, kid, wrong, url);
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &a, &e), RA_ACME_EAB_BAD);
	json_decref(eab);
	q.eab = eab = eab_object(k2, kid, mac, url);
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &a, &e), RA_ACME_EAB_MALFORMED);
	json_decref(eab);
	q.eab = eab = eab_object(k1, kid, mac, "https://ca.example/acme/new-order");
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &a, &e), RA_ACME_EAB_MALFORMED);
	json_decref(eab);
	/* suspended, then resumed: the account is made, bound to EX1 */
	OK(ra_acme_eab_set_status(fx.st, kid, "suspended", "unit", &e));
	q.eab = eab = eab_object(k1, kid, mac, url);
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &a, &e), RA_ACME_EAB_UNUSABLE);
	OK(ra_acme_eab_set_status(fx.st, kid, "active", "unit", &e));
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &a, &e), RA_ACME_CREATED);
	assert_true(a.id > 0 && a.org_id > 0 && a.eab_id > 0);
	assert_string_equal(a.status, "valid");
	/* the same key again: the account; the binding again with another key: unusable */
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &b, &e), RA_ACME_EXISTS);
	assert_int_equal(b.id, a.id);
	ra_acme_account_clear(&b);
	json_decref(eab);
	q.jwk = jwk2;
	q.eab = eab = eab_object(k2, kid, mac, url);
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &b, &e), RA_ACME_EAB_UNUSABLE);
	json_decref(eab);
	/* onlyReturnExisting without an account; no binding where none is required */
	q.eab = NULL;
	q.only_existing = 1;
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &b, &e), RA_ACME_NO_ACCOUNT);
	q.only_existing = 0;
	q.eab_required = 0;
	q.contact = json_pack("[s]", "tel:123");
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &b, &e),
			 RA_ACME_CONTACT_UNSUPPORTED);
	json_decref(q.contact);
	q.contact = json_pack("[s]", "mailto:a@b.example,c@d.example");
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &b, &e), RA_ACME_CONTACT_INVALID);
	json_decref(q.contact);
	q.contact = NULL;
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &b, &e), RA_ACME_CREATED);
	assert_int_equal(b.org_id, 0);

	/* key change: to a key that has an account (409 with it), then to a fresh one */
	err_clear(&e);
	assert_int_equal(ra_acme_account_key(fx.st, a.id, a.thumb, jwk2, "unit", &other, &e),
			 RA_ACME_KEY_TAKEN);
	assert_int_equal(other, b.id);
	assert_int_equal(ra_acme_account_key(fx.st, a.id, a.thumb, jwk3, "unit", &other, &e),
			 RA_ACME_OK);
	/* the old thumbprint no longer changes it */
	assert_int_equal(ra_acme_account_key(fx.st, a.id, a.thumb, jwk1, "unit", &other, &e),
			 RA_ACME_NOT_VALID);
	/* update and deactivation; then nothing more */
	json_t *c = json_pack("[s]", "mailto:ops@example.co.jp");
	ra_acme_account_clear(&b);
	assert_int_equal(ra_acme_account_update(fx.st, a.id, c, 0, "unit", &b, &e), RA_ACME_OK);
	assert_string_equal(b.contact, "[\"mailto:ops@example.co.jp\"]");
	ra_acme_account_clear(&b);
	assert_int_equal(ra_acme_account_update(fx.st, a.id, NULL, 1, "unit", &b, &e), RA_ACME_OK);
	assert_string_equal(b.status, "deactivated");
	ra_acme_account_clear(&b);
	assert_int_equal(ra_acme_account_update(fx.st, a.id, c, 0, "unit", &b, &e),
			 RA_ACME_NOT_VALID);
	assert_int_equal(ra_acme_account_update(fx.st, 999999, c, 0, "unit", &b, &e),
			 RA_ACME_NO_ACCOUNT);
	q.jwk = jwk3;
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, &b, &e), RA_ACME_NOT_VALID);
	ra_acme_account_clear(&b);
	json_decref(c);
	/* every change in the chain, and the chain whole */
	struct ca_audit_report rep;
	struct store_audit_filter f;
	struct store_audit *v = NULL;
	size_t nv = 0, seen = 0;

	memset(&rep, 0, sizeof(rep));
	OK(ca_audit_verify(fx.st, &rep, &e));
	memset(&f, 0, sizeof(f));
	f.action = "acme.";
	f.limit = 100;
	OK(store_audit_list(fx.st, &f, &v, &nv, &e));
	for (size_t i = 0; i < nv; i++)
		seen |= strcmp(v[i].action, "acme.eab.create") == 0	      ? 1
			: strcmp(v[i].action, "acme.eab.suspended") == 0      ? 2
			: strcmp(v[i].action, "acme.account.create") == 0     ? 4
			: strcmp(v[i].action, "acme.account.key") == 0	      ? 8
			: strcmp(v[i].action, "acme.account.update") == 0     ? 16
			: strcmp(v[i].action, "acme.account.deactivate") == 0 ? 32
									      : 0;
	assert_int_equal(seen, 63);
	STORE_LIST_FREE(v, nv, store_audit_clear);

	ra_acme_account_clear(&a);
	json_decref(jwk1);
	json_decref(jwk2);
	json_decref(jwk3);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
}

/* One side of the race below: its own connection, its own key, the shared binding. */
struct race {
	pthread_barrier_t *go;
	const char *kid;
	const unsigned char *mac;
	enum ra_acme_outcome r;
	char msg[1024];
};

static void *
race_main(void *arg)
{
	static const char url[] = "https://ca.example/acme/new-account";
	struct race *rc = arg;
	struct store *st = NULL;
	EVP_PKEY *k = keygen("P-256");
	json_t *jwk = jwk_of_key(k), *eab = eab_object(k, rc->kid, rc->mac, url);
	struct ra_acme_account a;
	struct ra_acme_new q;
	struct err e;

	err_clear(&e);
	if (ca_store_open(fx.ca, &st, &e) == -1) {
		rc->r = RA_ACME__MAX;
		snprintf(rc->msg, sizeof(rc->msg), "%s", e.msg);
		pthread_barrier_wait(rc->go);
		goto out;
	}
	memset(&q, 0, sizeof(q));
	q.jwk = jwk;
	q.url = url;
	q.eab = eab;
	q.eab_required = 1;
	q.actor = "unit";
	pthread_barrier_wait(rc->go);
	rc->r = ra_acme_account_new(st, &keys, &q, &a, &e);
	snprintf(rc->msg, sizeof(rc->msg), "%s", e.msg);
	ra_acme_account_clear(&a);
out:
	store_close(st);
	json_decref(eab);
	json_decref(jwk);
	EVP_PKEY_free(k);
	return NULL;
}

/*
 * Two accounts made at once with one binding, each on its own connection: exactly one is
 * made, the other is refused as unusable (the binding's conditional update), every round.
 */
static void
test_eab_race(void **state)
{
	char kid[RA_ACME_KID_TEXT], hmac[RA_ACME_EAB_KEY_TEXT];
	unsigned char mac[RA_ACME_EAB_KEY_LEN];
	pthread_barrier_t go;
	struct err e;

	(void)state;
	for (int round = 0; round < 5; round++) {
		struct race r[2];
		pthread_t t[2];
		int created = 0, unusable = 0;

		err_clear(&e);
		OK(ra_acme_eab_create(fx.st, &keys, "EX1", NULL, "unit", kid, hmac, &e));
		hmac_bytes(hmac, mac);
		assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
		for (int i = 0; i < 2; i++) {
			memset(&r[i], 0, sizeof(r[i]));
			r[i].go = &go;
			r[i].kid = kid;
			r[i].mac = mac;
			assert_int_equal(pthread_create(&t[i], NULL, race_main, &r[i]), 0);
		}
		for (int i = 0; i < 2; i++) {
			pthread_join(t[i], NULL);
			created += r[i].r == RA_ACME_CREATED;
			unusable += r[i].r == RA_ACME_EAB_UNUSABLE;
		}
		pthread_barrier_destroy(&go);
		if (created != 1 || unusable != 1)
			fail_msg(
			    "round %d: %s (%s) / %s (%s)", round,
			    r[0].r < RA_ACME__MAX ? ra_acme_outcome_names[r[0].r] : "?", r[0].msg,
			    r[1].r < RA_ACME__MAX ? ra_acme_outcome_names[r[1].r] : "?", r[1].msg);
	}
}

/* The audit head's seq (what every operation's transaction moves). */
static int64_t
audit_seq(void)
{
	unsigned char h[STORE_HASH_LEN];
	int64_t seq = -1;
	struct err e;

	err_clear(&e);
	OK(store_audit_head(fx.st, &seq, h, &e));
	return seq;
}

/*
 * Failure paths: every statement of making a binding and of making an account with it failed
 * in turn, and the commit: each time a clean failure with nothing written (no binding, no
 * account, the binding still unbound, the audit chain unchanged), until the operation runs.
 */
static void
test_faults(void **state)
{
	static const char url[] = "https://ca.example/acme/new-account";
	char kid[RA_ACME_KID_TEXT], hmac[RA_ACME_EAB_KEY_TEXT];
	unsigned char mac[RA_ACME_EAB_KEY_LEN], thumb[JWS_THUMB_LEN];
	EVP_PKEY *k = keygen("P-256");
	json_t *jwk = jwk_of_key(k), *eab;
	struct ra_acme_account a;
	struct store_acme_account sa;
	struct store_acme_eab row;
	struct ra_acme_new q;
	enum ra_acme_outcome r;
	int64_t seq = audit_seq();
	long n;
	int rc;
	struct err e;

	(void)state;
	for (n = 1;; n++) {
		err_clear(&e);
		OK(store_fault_set(fx.st, n, 0));
		rc = ra_acme_eab_create(fx.st, &keys, "EX1", NULL, "unit", kid, hmac, &e);
		OK(store_fault_set(fx.st, 0, 0));
		if (rc == 0)
			break;
		assert_string_equal(kid, "");
		assert_int_equal(audit_seq(), seq);
		assert_true(n < 20);
	}
	assert_true(n > 1);
	/* a failing commit: nothing either */
	err_clear(&e);
	OK(store_fault_set(fx.st, 0, 1));
	{
		char kid2[RA_ACME_KID_TEXT], hmac2[RA_ACME_EAB_KEY_TEXT];

		assert_int_equal(
		    ra_acme_eab_create(fx.st, &keys, "EX1", NULL, "unit", kid2, hmac2, &e), -1);
	}
	OK(store_fault_set(fx.st, 0, 0));
	seq = audit_seq();

	hmac_bytes(hmac, mac);
	OK(jwk_thumbprint(jwk, thumb, NULL, &e));
	memset(&q, 0, sizeof(q));
	q.jwk = jwk;
	q.url = url;
	q.eab_required = 1;
	q.actor = "unit";
	q.eab = eab = eab_object(k, kid, mac, url);
	for (n = 1;; n++) {
		err_clear(&e);
		OK(store_fault_set(fx.st, n, 0));
		r = ra_acme_account_new(fx.st, &keys, &q, &a, &e);
		OK(store_fault_set(fx.st, 0, 0));
		if (r == RA_ACME_CREATED)
			break;
		if (r != RA_ACME_ERROR)
			fail_msg("statement %ld failed: outcome %s (%s)", n,
				 ra_acme_outcome_names[r], e.msg);
		err_clear(&e);
		assert_int_equal(store_acme_account_by_thumb(fx.st, thumb, &sa, &e), -1);
		assert_int_equal(e.code, ERR_NOTFOUND);
		err_clear(&e);
		OK(store_acme_eab_get(fx.st, kid, &row, &e));
		assert_int_equal(row.account_id, 0);
		store_acme_eab_clear(&row);
		assert_int_equal(audit_seq(), seq);
		assert_true(n < 20);
	}
	assert_true(n > 3);
	err_clear(&e);
	OK(store_acme_eab_get(fx.st, kid, &row, &e));
	assert_int_equal(row.account_id, a.id);
	store_acme_eab_clear(&row);
	assert_int_equal(audit_seq(), seq + 1);
	ra_acme_account_clear(&a);
	json_decref(eab);
	json_decref(jwk);
	EVP_PKEY_free(k);
}

/* ra_acme_csr_match on a CSR made with subject subj and SANs san (types NULL: all dns). */
static int
csr_match_t(const char *subj, const char *san, const char *const *names, const char *const *types,
	    size_t n)
{
	struct csr *c = NULL;
	unsigned char *der;
	int len, rc;
	struct err e;

	err_clear(&e);
	der = tu_csr_ex(subj, san, &len);
	if (csr_parse(der, (size_t)len, &c, &e) == -1)
		fail_msg("csr_parse: %s", e.msg);
	rc = ra_acme_csr_match(c, names, types, n, &e);
	if (rc == -1)
		assert_true(strstr(e.msg, "RFC 8555 7.4") != NULL ||
			    strstr(e.msg, "RFC 8738") != NULL);
	csr_free(c);
	OPENSSL_free(der);
	return rc;
}

static int
csr_match(const char *subj, const char *san, const char *const *names, size_t n)
{
	return csr_match_t(subj, san, names, NULL, n);
}

/* The CSR names exactly the order's identifiers: order, case and a CN among them are free. */
static void
test_csr_match(void **state)
{
	const char *const two[] = {"www.example.co.jp", "mail.example.co.jp"};
	const char *const one[] = {"www.example.co.jp"};

	(void)state;
	OK(csr_match("", "DNS:www.example.co.jp", one, 1));
	OK(csr_match("/CN=WWW.example.co.jp", "DNS:www.example.co.jp", one, 1));
	OK(csr_match("", "DNS:mail.example.co.jp,DNS:WWW.example.co.jp", two, 2));
	OK(csr_match("/CN=mail.example.co.jp",
		     "DNS:mail.example.co.jp,DNS:www.example.co.jp,"
		     "DNS:www.example.co.jp",
		     two, 2));
	/* a name missing, one more, another kind, a CN that is none of them, no SAN at all */
	assert_int_equal(csr_match("", "DNS:www.example.co.jp", two, 2), -1);
	assert_int_equal(csr_match("", "DNS:www.example.co.jp,DNS:x.example.co.jp", one, 1), -1);
	assert_int_equal(csr_match("", "DNS:www.example.co.jp,IP:192.0.2.1", one, 1), -1);
	assert_int_equal(csr_match("/CN=other.example.co.jp", "DNS:www.example.co.jp", one, 1), -1);
	assert_int_equal(csr_match("/CN=www.example.co.jp", NULL, one, 1), -1);
	assert_int_equal(csr_match("", "DNS:www.example.co.jp", one, 0), -1);
}

/* RFC 8738: an ip identifier is an iPAddress of the same address, never a dNSName. */
static void
test_csr_match_ip(void **state)
{
	const char *const names[] = {"www.example.co.jp", "192.0.2.7", "2001:db8::7"};
	const char *const types[] = {"dns", "ip", "ip"};
	const char *const v4[] = {"192.0.2.7"};
	const char *const t4[] = {"ip"};
	unsigned char b[16];
	char t[64];
	size_t len = 0;

	(void)state;
	OK(csr_match_t("", "DNS:www.example.co.jp,IP:192.0.2.7,IP:2001:DB8:0:0:0:0:0:7", names,
		       types, 3));
	OK(csr_match_t("/CN=192.0.2.7", "IP:192.0.2.7", v4, t4, 1));
	/* (the address as a dNSName: csr_parse refuses it already) another address, a missing
	 * one */
	assert_int_equal(csr_match_t("", "IP:192.0.2.8", v4, t4, 1), -1);
	assert_int_equal(csr_match_t("", "DNS:www.example.co.jp,IP:192.0.2.7", names, types, 3),
			 -1);
	/* an ip identifier that is no address of the CSR's: a dns order does not take IP SANs */
	assert_int_equal(csr_match("", "IP:192.0.2.7", v4, 1), -1);
	/* the canonical text only (RFC 5952 for IPv6) */
	OK(ra_acme_ip_canon("192.0.2.7", b, &len));
	assert_int_equal(len, 4);
	OK(ra_acme_ip_canon("2001:db8::7", b, &len));
	assert_int_equal(len, 16);
	OK(ra_acme_ip_text(b, len, t, sizeof(t)));
	assert_string_equal(t, "2001:db8::7");
	OK(ra_acme_ip_canon("::ffff:192.0.2.7", b, &len));
	static const char *const bad[] = {"2001:DB8::7",
					  "2001:db8:0:0:0:0:0:7",
					  "2001:0db8::7",
					  "192.0.2.07",
					  "192.0.2",
					  "0xc0.0.2.7",
					  "fe80::1%eth0",
					  "[2001:db8::7]",
					  "2001:db8::0:7",
					  " 192.0.2.7",
					  "",
					  "2001:db8:0:0:1:0:0:7x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ra_acme_ip_canon(bad[i], b, &len), -1);
	/* RFC 8738 6: tls-alpn-01's SNI is the reverse name */
	OK(ra_acme_ip_reverse("192.0.2.7", t, sizeof(t)));
	assert_string_equal(t, "7.2.0.192.in-addr.arpa");
	{
		char r6[80];

		OK(ra_acme_ip_reverse("2001:db8::7", r6, sizeof(r6)));
		assert_string_equal(r6, "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0."
					"1.0.0.2.ip6.arpa");
		assert_int_equal(ra_acme_ip_reverse("2001:db8::7", r6, 60), -1);
		assert_int_equal(ra_acme_ip_reverse("2001:DB8::7", r6, sizeof(r6)), -1);
	}
	/* RFC 5952 4.2.2: one zero field is not compressed */
	OK(ra_acme_ip_canon("2001:db8:0:1:1:1:1:1", b, &len));
	assert_int_equal(ra_acme_ip_canon("2001:db8::1:1:1:1:1", b, &len), -1);
}

/* acme_addr_public on a textual address. */
static int
addr_public(const char *text)
{
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;

	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	if (inet_pton(AF_INET, text, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		return acme_addr_public((const struct sockaddr *)&a4);
	}
	assert_int_equal(inet_pton(AF_INET6, text, &a6.sin6_addr), 1);
	a6.sin6_family = AF_INET6;
	return acme_addr_public((const struct sockaddr *)&a6);
}

/* http-01 connects to public addresses only (unless acme.allow_private_addresses). */
static void
test_addr_rule(void **state)
{
	static const char *const no[] = {
	    "127.0.0.1",
	    "10.1.2.3",
	    "172.16.0.1",
	    "172.31.255.255",
	    "192.168.1.1",
	    "169.254.1.1",
	    "100.64.0.1",
	    "0.0.0.0",
	    "224.0.0.1",
	    "255.255.255.255",
	    "192.0.2.1",
	    "198.18.0.1",
	    "::1",
	    "::",
	    "fe80::1",
	    "fc00::1",
	    "fd12::1",
	    "ff02::1",
	    "::ffff:127.0.0.1",
	    "::ffff:10.0.0.1",
	    "2001:db8::1",
	    "64:ff9b::1",
	};
	static const char *const yes[] = {"8.8.8.8",	 "133.11.0.1",	    "172.32.0.1",
					  "192.169.0.1", "2001:4860::8888", "::ffff:8.8.8.8",
					  "100.128.0.1"};

	(void)state;
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (addr_public(no[i]))
			fail_msg("%s is taken for public", no[i]);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!addr_public(yes[i]))
			fail_msg("%s is taken for private", yes[i]);
	assert_int_equal(acme_addr_public(NULL), 0);
}

/*
 * revokeCert's reasons: a subscriber's only (BR 7.2.2); bytes that are no certificate are
 * refused before the store is asked (none is given here).
 */
static void
test_revoke_reasons(void **state)
{
	static const unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x01, 0x00};
	struct err e;

	(void)state;
	for (long r = -2; r <= 12; r++)
		assert_int_equal(ra_acme_reason_ok(r),
				 r == 0 || r == 1 || r == 3 || r == 4 || r == 5);
	err_clear(&e);
	assert_int_equal(ra_acme_revoke(NULL, NULL, junk, sizeof(junk), 1, NULL, 0, "unit", &e),
			 RA_ACME_UNAUTHORIZED);
	assert_non_null(strstr(e.msg, "RFC 8555 7.6"));
	err_clear(&e);
	assert_int_equal(ra_acme_revoke(NULL, NULL, junk, 0, 0, NULL, 0, "unit", &e),
			 RA_ACME_UNAUTHORIZED);
}

/* An account of organization EX1 bound to names (NULL: the organization's domains). */
static void
order_account(const char *names, struct ra_acme_account *a)
{
	static const char url[] = "https://ca.example/acme/new-account";
	char kid[RA_ACME_KID_TEXT], hmac[RA_ACME_EAB_KEY_TEXT];
	unsigned char mac[RA_ACME_EAB_KEY_LEN];
	EVP_PKEY *k = keygen("P-256");
	json_t *jwk = jwk_of_key(k), *eab;
	struct ra_acme_new q;
	struct err e;

	err_clear(&e);
	OK(ra_acme_eab_create(fx.st, &keys, "EX1", names, "unit", kid, hmac, &e));
	hmac_bytes(hmac, mac);
	memset(&q, 0, sizeof(q));
	q.jwk = jwk;
	q.url = url;
	q.eab_required = 1;
	q.actor = "unit";
	q.eab = eab = eab_object(k, kid, mac, url);
	assert_int_equal(ra_acme_account_new(fx.st, &keys, &q, a, &e), RA_ACME_CREATED);
	json_decref(eab);
	json_decref(jwk);
	EVP_PKEY_free(k);
}

/* The id of the challenge of type type of authorization authz. */
static int64_t
chall_of(int64_t authz, const char *type)
{
	struct store_acme_chall *ch = NULL;
	size_t n = 0;
	int64_t id = 0;
	struct err e;

	err_clear(&e);
	OK(store_acme_chall_list(fx.st, authz, &ch, &n, &e));
	for (size_t i = 0; i < n; i++)
		if (strcmp(ch[i].type, type) == 0)
			id = ch[i].id;
	STORE_LIST_FREE(ch, n, store_acme_chall_clear);
	assert_true(id > 0);
	return id;
}

/* newOrder's identifiers: within the binding, no wildcard, dns only; each refusal its own. */
static void
test_order_life(void **state)
{
	struct ra_acme_account a, b;
	struct ra_acme_ident ids[3];
	struct ra_acme_order o;
	struct ra_acme_authz az;
	int64_t seq;
	int start = 0;
	long n;
	struct err e;

	(void)state;
	err_clear(&e);
	order_account("www.example.co.jp", &a);
	order_account(NULL, &b);
	memset(ids, 0, sizeof(ids));
	snprintf(ids[0].type, sizeof(ids[0].type), "dns");
	snprintf(ids[0].value, sizeof(ids[0].value), "WWW.example.co.jp");
	snprintf(ids[1].type, sizeof(ids[1].type), "dns");
	snprintf(ids[1].value, sizeof(ids[1].value), "mail.example.co.jp");
	snprintf(ids[2].type, sizeof(ids[2].type), "ip");
	snprintf(ids[2].value, sizeof(ids[2].value), "192.0.2.1");
	assert_int_equal(ra_acme_order_new(fx.st, &a, ids, 3, "unit", &o, &e), RA_ACME_REJECTED);
	assert_null(ids[0].refusal);
	assert_non_null(strstr(ids[1].refusal, "binding"));
	assert_non_null(strstr(ids[2].refusal, "not named by the account's binding"));
	for (int i = 0; i < 3; i++) {
		free(ids[i].refusal);
		ids[i].refusal = NULL;
	}
	/* a wildcard: never where the binding names names but not it (www.example.co.jp does not
	 * stand for *.example.co.jp); nor *.com or a "*" elsewhere; the organization's domains when
	 * the binding names none (then it is made, below) */
	snprintf(ids[2].type, sizeof(ids[2].type), "dns");
	snprintf(ids[2].value, sizeof(ids[2].value), "*.example.co.jp");
	snprintf(ids[1].value, sizeof(ids[1].value), "*.com");
	err_clear(&e);
	assert_int_equal(ra_acme_order_new(fx.st, &a, ids, 3, "unit", &o, &e), RA_ACME_REJECTED);
	assert_null(ids[0].refusal);
	assert_non_null(strstr(ids[1].refusal, "host name"));
	assert_non_null(strstr(ids[2].refusal, "binding"));
	for (int i = 0; i < 3; i++) {
		free(ids[i].refusal);
		ids[i].refusal = NULL;
	}
	snprintf(ids[1].value, sizeof(ids[1].value), "*.example.org");
	snprintf(ids[2].value, sizeof(ids[2].value), "a.*.example.co.jp");
	err_clear(&e);
	assert_int_equal(ra_acme_order_new(fx.st, &b, ids, 3, "unit", &o, &e), RA_ACME_REJECTED);
	assert_null(ids[0].refusal);
	assert_non_null(strstr(ids[1].refusal, "not within the domains"));
	assert_non_null(strstr(ids[2].refusal, "host name"));
	for (int i = 0; i < 3; i++) {
		free(ids[i].refusal);
		ids[i].refusal = NULL;
	}
	snprintf(ids[1].value, sizeof(ids[1].value), "mail.example.co.jp");
	snprintf(ids[2].value, sizeof(ids[2].value), "*.Example.co.jp");
	err_clear(&e);
	assert_int_equal(ra_acme_order_new(fx.st, &b, ids, 3, "unit", &o, &e), RA_ACME_CREATED);
	assert_int_equal(o.naz, 3);
	assert_true(o.az[2].wildcard);
	assert_string_equal(o.az[2].value, "example.co.jp");
	assert_non_null(strstr(o.o.identifiers, "\"*.example.co.jp\""));
	assert_int_equal(
	    ra_acme_chall_start(fx.st, chall_of(o.az[2].id, "dns-01"), b.id, &start, &az, &e),
	    RA_ACME_OK);
	assert_int_equal(az.nch, 1); /* a wildcard's dns-01 alone */
	assert_true(az.s.wildcard);
	ra_acme_authz_clear(&az);
	ra_acme_order_clear(&o);

	/* store failures at each statement leave nothing behind; then it is made */
	seq = audit_seq();
	for (n = 1;; n++) {
		enum ra_acme_outcome r;

		err_clear(&e);
		OK(store_fault_set(fx.st, n, 0));
		r = ra_acme_order_new(fx.st, &b, ids, 2, "unit", &o, &e);
		OK(store_fault_set(fx.st, 0, 0));
		if (r == RA_ACME_CREATED)
			break;
		assert_int_equal(r, RA_ACME_ERROR);
		/* a failure after the commit (reading the order back) leaves the order made */
		if (audit_seq() != seq)
			assert_int_equal(audit_seq(), ++seq);
		assert_true(n < 30);
	}
	assert_true(n > 3);
	assert_int_equal(audit_seq(), seq + 1);
	assert_string_equal(o.o.status, "pending");
	assert_true(o.o.id > 0);
	assert_int_equal(o.naz, 2);
	assert_string_equal(o.az[0].value, "www.example.co.jp");
	assert_int_equal(strlen(o.az[0].token), RA_ACME_TOKEN_TEXT - 1);

	/* another account sees nothing; the challenge starts once */
	err_clear(&e);
	assert_int_equal(ra_acme_authz_get(fx.st, o.az[0].id, a.id, &az, &e), RA_ACME_NOT_FOUND);
	assert_int_equal(
	    ra_acme_chall_start(fx.st, chall_of(o.az[0].id, "http-01"), b.id, &start, &az, &e),
	    RA_ACME_OK);
	assert_int_equal(start, 1);
	assert_string_equal(az.s.chall_status, "processing");
	ra_acme_authz_clear(&az);
	assert_int_equal(
	    ra_acme_chall_start(fx.st, chall_of(o.az[0].id, "http-01"), b.id, &start, &az, &e),
	    RA_ACME_OK);
	assert_int_equal(start, 0);
	ra_acme_authz_clear(&az);
	/* three challenges each; one attempt per authorization: dns-01 does not start meanwhile */
	assert_int_equal(
	    ra_acme_chall_start(fx.st, chall_of(o.az[0].id, "dns-01"), b.id, &start, &az, &e),
	    RA_ACME_OK);
	assert_int_equal(start, 0);
	assert_int_equal(az.nch, 3);
	assert_string_equal(az.ch[az.at].type, "dns-01");
	assert_string_equal(az.ch[az.at].status, "pending");
	assert_string_equal(az.ch[0].type, "http-01");
	assert_string_equal(az.ch[0].status, "processing");
	assert_string_equal(az.ch[0].token, o.az[0].token);
	assert_string_not_equal(az.ch[1].token, az.ch[2].token);
	ra_acme_authz_clear(&az);
	/* one valid: still pending; the other valid: ready */
	assert_int_equal(
	    ra_acme_chall_done(fx.st, chall_of(o.az[0].id, "http-01"), NULL, "unit", &e),
	    RA_ACME_OK);
	{
		struct ra_acme_order o2;

		assert_int_equal(ra_acme_order_get(fx.st, o.o.id, b.id, &o2, &e), RA_ACME_OK);
		assert_string_equal(o2.o.status, "pending");
		ra_acme_order_clear(&o2);
		assert_int_equal(ra_acme_chall_start(fx.st, chall_of(o.az[1].id, "http-01"), b.id,
						     &start, &az, &e),
				 RA_ACME_OK);
		ra_acme_authz_clear(&az);
		/* a second outcome for the same challenge is refused (it is no longer processing)
		 */
		assert_int_equal(
		    ra_acme_chall_done(fx.st, chall_of(o.az[1].id, "http-01"), NULL, "unit", &e),
		    RA_ACME_OK);
		assert_int_equal(
		    ra_acme_chall_done(fx.st, chall_of(o.az[1].id, "http-01"), NULL, "unit", &e),
		    RA_ACME_ERROR);
		err_clear(&e);
		assert_int_equal(ra_acme_order_get(fx.st, o.o.id, b.id, &o2, &e), RA_ACME_OK);
		assert_string_equal(o2.o.status, "ready");
		ra_acme_order_clear(&o2);
	}
	/* a failed validation is counted for its name */
	{
		struct ra_acme_order o3;
		int64_t fails = 0, id3;

		snprintf(ids[0].value, sizeof(ids[0].value), "fail.example.co.jp");
		assert_int_equal(ra_acme_order_new(fx.st, &b, ids, 1, "unit", &o3, &e),
				 RA_ACME_CREATED);
		assert_int_equal(ra_acme_chall_start(fx.st, chall_of(o3.az[0].id, "http-01"), b.id,
						     &start, &az, &e),
				 RA_ACME_OK);
		ra_acme_authz_clear(&az);
		assert_int_equal(ra_acme_chall_done(fx.st, chall_of(o3.az[0].id, "http-01"),
						    "{\"type\":\"x\",\"detail\":\"no\"}", "unit",
						    &e),
				 RA_ACME_OK);
		id3 = o3.o.id;
		ra_acme_order_clear(&o3);
		OK(store_acme_failed_count(fx.st, "fail.example.co.jp", util_now() - 3600, &fails,
					   &e));
		assert_int_equal(fails, 1);
		assert_int_equal(ra_acme_order_get(fx.st, id3, b.id, &o3, &e), RA_ACME_OK);
		assert_string_equal(o3.o.status, "invalid");
		assert_string_equal(o3.az[0].status, "invalid");
		assert_non_null(strstr(o3.az[0].error, "\"no\""));
		ra_acme_order_clear(&o3);
	}
	/* a suspended binding orders nothing */
	ra_acme_order_clear(&o);
	{
		struct store_acme_eab row;

		OK(store_acme_eab_get_id(fx.st, b.eab_id, &row, &e));
		OK(ra_acme_eab_set_status(fx.st, row.kid, "suspended", "unit", &e));
		store_acme_eab_clear(&row);
	}
	assert_int_equal(ra_acme_order_new(fx.st, &b, ids, 1, "unit", &o, &e),
			 RA_ACME_EAB_UNUSABLE);
	ra_acme_account_clear(&a);
	ra_acme_account_clear(&b);
}

/* Sets the status of an object (sql: $1 status, $2 updated, $3 id) as a crash leaves it. */
static void
set_row(const char *sql, const char *status, time_t updated, int64_t id)
{
	struct drv_stmt *st;
	struct err e;

	err_clear(&e);
	assert_non_null(st = store_stmt_get(fx.st, sql, 0, "unit: set row", &e));
	stmt_text(fx.st, st, 1, status);
	stmt_int(fx.st, st, 2, (int64_t)updated);
	stmt_int(fx.st, st, 3, id);
	assert_int_not_equal(store_stmt_step(fx.st, st, "unit: set row", NULL, &e), -1);
	stmt_reset(fx.st, st);
}

/*
 * What a crash leaves processing moves on when read, once RA_ACME_STALE seconds old: a
 * challenge invalid (its authorization and order with it, no failed validation counted), an
 * order ready again; a fresh one stays as it is.
 */
static void
test_sweep(void **state)
{
	static const char chall_sql[] =
	    "UPDATE acme_authzs SET chall_status = $1, updated = $2 WHERE id = $3";
	static const char order_sql[] =
	    "UPDATE acme_orders SET status = $1, updated = $2 WHERE id = $3";
	time_t old = util_now() - RA_ACME_STALE - 5;
	struct ra_acme_account b;
	struct ra_acme_ident ids[2];
	struct ra_acme_order o, o2;
	struct ra_acme_authz az;
	int64_t seq, fails = -1;
	int start = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	order_account(NULL, &b);
	memset(ids, 0, sizeof(ids));
	for (int i = 0; i < 2; i++) {
		snprintf(ids[i].type, sizeof(ids[i].type), "dns");
		snprintf(ids[i].value, sizeof(ids[i].value), "sweep%d.example.co.jp", i);
	}
	assert_int_equal(ra_acme_order_new(fx.st, &b, ids, 2, "unit", &o, &e), RA_ACME_CREATED);
	assert_int_equal(
	    ra_acme_chall_start(fx.st, chall_of(o.az[0].id, "http-01"), b.id, &start, &az, &e),
	    RA_ACME_OK);
	assert_int_equal(start, 1);
	assert_true(az.s.updated >= util_now() - 5);
	assert_int_equal(az.s.validated, 0);
	ra_acme_authz_clear(&az);
	/* fresh: still processing, nothing written */
	seq = audit_seq();
	assert_int_equal(ra_acme_authz_get(fx.st, o.az[0].id, b.id, &az, &e), RA_ACME_OK);
	assert_string_equal(az.s.chall_status, "processing");
	ra_acme_authz_clear(&az);
	assert_int_equal(audit_seq(), seq);
	/* cut by a crash: invalid when the authorization is read */
	set_row(chall_sql, "processing", old, o.az[0].id);
	assert_int_equal(ra_acme_authz_get(fx.st, o.az[0].id, b.id, &az, &e), RA_ACME_OK);
	assert_string_equal(az.s.chall_status, "invalid");
	assert_string_equal(az.s.status, "invalid");
	assert_non_null(strstr(az.s.error, "the validation did not finish (restart)"));
	assert_non_null(strstr(az.s.error, "serverInternal"));
	ra_acme_authz_clear(&az);
	assert_int_equal(audit_seq(), seq + 1);
	assert_int_equal(ra_acme_order_get(fx.st, o.o.id, b.id, &o2, &e), RA_ACME_OK);
	assert_string_equal(o2.o.status, "invalid");
	ra_acme_order_clear(&o2);
	OK(store_acme_failed_count(fx.st, "sweep0.example.co.jp", util_now() - 3600, &fails, &e));
	assert_int_equal(fails, 0);
	ra_acme_order_clear(&o);

	/* an order: the other challenge's, read through the order this time */
	assert_int_equal(ra_acme_order_new(fx.st, &b, ids + 1, 1, "unit", &o, &e), RA_ACME_CREATED);
	assert_int_equal(
	    ra_acme_chall_start(fx.st, chall_of(o.az[0].id, "http-01"), b.id, &start, &az, &e),
	    RA_ACME_OK);
	ra_acme_authz_clear(&az);
	set_row(chall_sql, "processing", old, o.az[0].id);
	assert_int_equal(ra_acme_order_get(fx.st, o.o.id, b.id, &o2, &e), RA_ACME_OK);
	assert_string_equal(o2.az[0].chall_status, "invalid");
	assert_string_equal(o2.o.status, "invalid");
	ra_acme_order_clear(&o2);
	/* an order processing: left when fresh, ready again when old */
	set_row(order_sql, "processing", util_now(), o.o.id);
	seq = audit_seq();
	assert_int_equal(ra_acme_order_get(fx.st, o.o.id, b.id, &o2, &e), RA_ACME_OK);
	assert_string_equal(o2.o.status, "processing");
	ra_acme_order_clear(&o2);
	set_row(order_sql, "processing", old, o.o.id);
	assert_int_equal(ra_acme_order_get(fx.st, o.o.id, b.id, &o2, &e), RA_ACME_OK);
	assert_string_equal(o2.o.status, "ready");
	assert_true(o2.o.updated >= util_now() - 5);
	ra_acme_order_clear(&o2);
	assert_int_equal(audit_seq(), seq + 1);
	ra_acme_order_clear(&o);
	ra_acme_account_clear(&b);
}

struct chall_race {
	pthread_barrier_t *go;
	int64_t id, acct;
	int start;
	enum ra_acme_outcome r;
};

static void *
chall_race_main(void *arg)
{
	struct chall_race *rc = arg;
	struct store *st = NULL;
	struct ra_acme_authz az;
	struct err e;

	err_clear(&e);
	memset(&az, 0, sizeof(az));
	rc->r = RA_ACME__MAX;
	if (ca_store_open(fx.ca, &st, &e) == -1) {
		pthread_barrier_wait(rc->go);
		return NULL;
	}
	pthread_barrier_wait(rc->go);
	rc->r = ra_acme_chall_start(st, rc->id, rc->acct, &rc->start, &az, &e);
	ra_acme_authz_clear(&az);
	store_close(st);
	return NULL;
}

/*
 * Two challenges of one authorization answered at once, each on its own connection: exactly
 * one starts (the authorization's attempt moves by a conditional update), every round.
 */
static void
test_chall_race(void **state)
{
	struct ra_acme_account b;
	struct ra_acme_ident id;
	struct ra_acme_order o;
	struct ra_acme_authz az;
	pthread_barrier_t go;
	struct err e;

	(void)state;
	err_clear(&e);
	order_account(NULL, &b);
	for (int round = 0; round < 5; round++) {
		static const char *const types[2] = {"http-01", "dns-01"};
		struct chall_race r[2];
		pthread_t t[2];
		size_t processing = 0;

		memset(&id, 0, sizeof(id));
		snprintf(id.type, sizeof(id.type), "dns");
		snprintf(id.value, sizeof(id.value), "race%d.example.co.jp", round);
		assert_int_equal(ra_acme_order_new(fx.st, &b, &id, 1, "unit", &o, &e),
				 RA_ACME_CREATED);
		assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
		for (int i = 0; i < 2; i++) {
			memset(&r[i], 0, sizeof(r[i]));
			r[i].go = &go;
			r[i].acct = b.id;
			r[i].id = chall_of(o.az[0].id, types[round % 2 == 0 ? i : 1 - i]);
			assert_int_equal(pthread_create(&t[i], NULL, chall_race_main, &r[i]), 0);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&go);
		assert_int_equal(r[0].r, RA_ACME_OK);
		assert_int_equal(r[1].r, RA_ACME_OK);
		if (r[0].start + r[1].start != 1)
			fail_msg("round %d: %d challenges started", round, r[0].start + r[1].start);
		assert_int_equal(ra_acme_authz_get(fx.st, o.az[0].id, b.id, &az, &e), RA_ACME_OK);
		for (size_t i = 0; i < az.nch; i++)
			processing += strcmp(az.ch[i].status, "processing") == 0;
		assert_int_equal(processing, 1);
		assert_string_equal(az.s.chall_status, "processing");
		ra_acme_authz_clear(&az);
		ra_acme_order_clear(&o);
	}
	ra_acme_account_clear(&b);
}

/*
 * Authorizations of their own: a pending one is reused by the next order, newAuthz makes one of
 * no order, deactivation (with a store failure at each statement leaving nothing behind) makes
 * the orders waiting for it invalid and is refused afterwards; a deactivated one is not reused.
 */
static void
test_authz_reuse(void **state)
{
	struct ra_acme_account b;
	struct ra_acme_ident id;
	struct ra_acme_order o1, o2, o3;
	struct ra_acme_authz az;
	enum ra_acme_outcome r;
	int64_t seq, found = 0, oid1, oid2, aid;
	int n;
	struct err e;

	(void)state;
	err_clear(&e);
	order_account(NULL, &b);
	memset(&id, 0, sizeof(id));
	snprintf(id.type, sizeof(id.type), "dns");
	snprintf(id.value, sizeof(id.value), "reuse.example.co.jp");
	assert_int_equal(ra_acme_order_new(fx.st, &b, &id, 1, "unit", &o1, &e), RA_ACME_CREATED);
	assert_int_equal(ra_acme_order_new(fx.st, &b, &id, 1, "unit", &o2, &e), RA_ACME_CREATED);
	assert_int_equal(o2.naz, 1);
	assert_int_equal(o2.az[0].id, o1.az[0].id); /* the pending one, reused */
	OK(store_acme_authz_find(fx.st, b.id, "dns", "reuse.example.co.jp", 0, 0, util_now(),
				 &found, &e));
	assert_int_equal(found, o1.az[0].id);
	OK(store_acme_authz_find(fx.st, b.id, "dns", "reuse.example.co.jp", 0, 1, util_now(),
				 &found, &e));
	assert_int_equal(found, 0); /* not valid */
	OK(store_acme_authz_find(fx.st, b.id, "dns", "reuse.example.co.jp", 1, 0, util_now(),
				 &found, &e));
	assert_int_equal(found, 0); /* not a wildcard's */

	/* newAuthz: an authorization of no order; a wildcard is refused */
	snprintf(id.value, sizeof(id.value), "*.example.co.jp");
	assert_int_equal(ra_acme_authz_new(fx.st, &b, &id, "unit", &az, &e), RA_ACME_REJECTED);
	assert_non_null(strstr(id.refusal, "wildcard"));
	free(id.refusal);
	id.refusal = NULL;
	snprintf(id.value, sizeof(id.value), "pre.example.co.jp");
	assert_int_equal(ra_acme_authz_new(fx.st, &b, &id, "unit", &az, &e), RA_ACME_CREATED);
	assert_int_equal(az.s.order_id, 0);
	assert_string_equal(az.s.status, "pending");
	ra_acme_authz_clear(&az);

	/* deactivation: a store failure at each statement changes nothing */
	seq = audit_seq();
	for (n = 1;; n++) {
		err_clear(&e);
		OK(store_fault_set(fx.st, n, 0));
		r = ra_acme_authz_deactivate(fx.st, o1.az[0].id, b.id, "unit", &az, &e);
		OK(store_fault_set(fx.st, 0, 0));
		ra_acme_authz_clear(&az);
		if (r == RA_ACME_OK)
			break;
		assert_int_equal(r, RA_ACME_ERROR);
		if (audit_seq() != seq) /* a failure reading it back after the commit */
			break;
		assert_true(n < 30);
	}
	assert_int_equal(audit_seq(), seq + 1);
	assert_int_equal(ra_acme_authz_get(fx.st, o1.az[0].id, b.id, &az, &e), RA_ACME_OK);
	assert_string_equal(az.s.status, "deactivated");
	ra_acme_authz_clear(&az);
	assert_int_equal(ra_acme_authz_deactivate(fx.st, o1.az[0].id, b.id, "unit", &az, &e),
			 RA_ACME_BAD_STATE);
	ra_acme_authz_clear(&az);
	oid1 = o1.o.id;
	oid2 = o2.o.id;
	aid = o1.az[0].id;
	ra_acme_order_clear(&o1);
	ra_acme_order_clear(&o2);
	assert_int_equal(ra_acme_order_get(fx.st, oid1, b.id, &o1, &e), RA_ACME_OK);
	assert_string_equal(o1.o.status, "invalid");
	assert_int_equal(ra_acme_order_get(fx.st, oid2, b.id, &o2, &e), RA_ACME_OK);
	assert_string_equal(o2.o.status, "invalid");
	/* not reused: a new authorization */
	snprintf(id.value, sizeof(id.value), "reuse.example.co.jp");
	assert_int_equal(ra_acme_order_new(fx.st, &b, &id, 1, "unit", &o3, &e), RA_ACME_CREATED);
	assert_true(o3.az[0].id != aid);
	assert_string_equal(o3.o.status, "pending");
	ra_acme_order_clear(&o1);
	ra_acme_order_clear(&o2);
	ra_acme_order_clear(&o3);
	ra_acme_account_clear(&b);
}

/*
 * Review findings (0029): finalize's check inside the certificate's transaction sees an
 * authorization deactivated or expired after the order was read (the race of a deactivation
 * and finalize); CAA is due again only past 8 hours; an authorization serves at most
 * STORE_ACME_AUTHZ_ORDERS_MAX orders, so the walks of its orders are bounded.
 */
static void
test_review_bounds(void **state)
{
	struct ra_acme_account b;
	struct ra_acme_ident id;
	struct ra_acme_order o;
	struct ra_acme_authz az;
	struct store_acme_caa_due *due = NULL;
	int64_t aid, bad = -1, *ids = NULL;
	size_t n = 0, ndue = 0;
	char status[16];
	time_t now = util_now();
	int start = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	order_account(NULL, &b);
	memset(&id, 0, sizeof(id));
	snprintf(id.type, sizeof(id.type), "dns");
	snprintf(id.value, sizeof(id.value), "bound.example.co.jp");
	assert_int_equal(ra_acme_order_new(fx.st, &b, &id, 1, "unit", &o, &e), RA_ACME_CREATED);
	aid = o.az[0].id;
	assert_int_equal(
	    ra_acme_chall_start(fx.st, chall_of(aid, "http-01"), b.id, &start, &az, &e),
	    RA_ACME_OK);
	ra_acme_authz_clear(&az);
	assert_int_equal(ra_acme_chall_done(fx.st, chall_of(aid, "http-01"), NULL, "unit", &e),
			 RA_ACME_OK);
	OK(store_acme_order_authzs_hold(fx.st, o.o.id, now, &bad, status, sizeof(status), &e));
	assert_int_equal(bad, 0);
	/* CAA: checked at the validation, not due within 8 hours; due when older */
	OK(ra_acme_caa_due(fx.st, o.o.id, b.id, now, &due, &ndue, &e));
	assert_int_equal(ndue, 0);
	free(due);
	OK(ra_acme_caa_due(fx.st, o.o.id, b.id, now + RA_ACME_CAA_MAX_AGE + 10, &due, &ndue, &e));
	assert_int_equal(ndue, 1);
	assert_int_equal(due[0].authz_id, aid);
	assert_string_equal(due[0].value, "bound.example.co.jp");
	assert_string_equal(due[0].method, "http-01");
	free(due[0].value);
	free(due);
	/* another account's order: nothing */
	OK(ra_acme_caa_due(fx.st, o.o.id, b.id + 1000, now + RA_ACME_CAA_MAX_AGE + 10, &due, &ndue,
			   &e));
	assert_int_equal(ndue, 0);
	free(due);
	/* recorded: not due until 8 hours after the recheck */
	{
		struct store_acme_caa_due one = {.authz_id = aid};

		OK(ra_acme_caa_checked(fx.st, &one, 1, now + RA_ACME_CAA_MAX_AGE, &e));
	}
	OK(ra_acme_caa_due(fx.st, o.o.id, b.id, now + RA_ACME_CAA_MAX_AGE + 10, &due, &ndue, &e));
	assert_int_equal(ndue, 0);
	free(due);
	/* expired, then deactivated behind the order's back (as a deactivation that commits
	 * between finalize's read of the order and its certificate's transaction) */
	OK(store_acme_order_authzs_hold(fx.st, o.o.id, now + 400L * 86400, &bad, status,
					sizeof(status), &e));
	assert_int_equal(bad, aid);
	assert_string_equal(status, "expired");
	OK(store_acme_authz_set_status(fx.st, aid, "valid", "deactivated", now, &e));
	OK(store_acme_order_authzs_hold(fx.st, o.o.id, now, &bad, status, sizeof(status), &e));
	assert_int_equal(bad, aid);
	assert_string_equal(status, "deactivated");
	ra_acme_order_clear(&o);

	/* a pending authorization serves at most STORE_ACME_AUTHZ_ORDERS_MAX orders */
	snprintf(id.value, sizeof(id.value), "many.example.co.jp");
	assert_int_equal(ra_acme_order_new(fx.st, &b, &id, 1, "unit", &o, &e), RA_ACME_CREATED);
	aid = o.az[0].id;
	ra_acme_order_clear(&o);
	for (int i = 1; i < STORE_ACME_AUTHZ_ORDERS_MAX; i++) {
		assert_int_equal(ra_acme_order_new(fx.st, &b, &id, 1, "unit", &o, &e),
				 RA_ACME_CREATED);
		assert_int_equal(o.az[0].id, aid);
		ra_acme_order_clear(&o);
	}
	OK(store_acme_authz_orders(fx.st, aid, &ids, &n, &e));
	assert_int_equal(n, STORE_ACME_AUTHZ_ORDERS_MAX);
	free(ids);
	assert_int_equal(ra_acme_order_new(fx.st, &b, &id, 1, "unit", &o, &e), RA_ACME_CREATED);
	assert_true(o.az[0].id != aid); /* a new one */
	ra_acme_order_clear(&o);
	/* the walk reads only the orders that can follow it: none once they are invalid */
	assert_int_equal(ra_acme_authz_deactivate(fx.st, aid, b.id, "unit", &az, &e), RA_ACME_OK);
	ra_acme_authz_clear(&az);
	OK(store_acme_authz_orders(fx.st, aid, &ids, &n, &e));
	assert_int_equal(n, 0);
	free(ids);
	ra_acme_account_clear(&b);
}

/*
 * The key cache answers only the same account with the same stored JWK bytes (a key changed
 * by another front end is decoded again), a drop forgets, a colliding id replaces, and each
 * answer is a reference of its own.
 */
static void
test_keycache(void **state)
{
	EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *got;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_null(acme_keycache_get(5, "{\"k\":1}"));
	acme_keycache_put(5, "{\"k\":1}", a);
	got = acme_keycache_get(5, "{\"k\":1}");
	assert_ptr_equal(got, a);
	EVP_PKEY_free(got);
	/* other bytes (a keyChange elsewhere), a prefix, another account: not answered */
	assert_null(acme_keycache_get(5, "{\"k\":2}"));
	assert_null(acme_keycache_get(5, "{\"k\":1"));
	assert_null(acme_keycache_get(6, "{\"k\":1}"));
	assert_null(acme_keycache_get(0, "{\"k\":1}"));
	/* the same slot's other id replaces it */
	acme_keycache_put(5 + ACME_KEYCACHE_SLOTS, "{\"k\":3}", b);
	assert_null(acme_keycache_get(5, "{\"k\":1}"));
	got = acme_keycache_get(5 + ACME_KEYCACHE_SLOTS, "{\"k\":3}");
	assert_ptr_equal(got, b);
	EVP_PKEY_free(got);
	/* a drop of another id leaves it; its own drop forgets it */
	acme_keycache_drop(5);
	assert_non_null(got = acme_keycache_get(5 + ACME_KEYCACHE_SLOTS, "{\"k\":3}"));
	EVP_PKEY_free(got);
	acme_keycache_drop(5 + ACME_KEYCACHE_SLOTS);
	assert_null(acme_keycache_get(5 + ACME_KEYCACHE_SLOTS, "{\"k\":3}"));
	/* the cache's references outlive the caller's */
	acme_keycache_put(9, "{\"k\":9}", a);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	got = acme_keycache_get(9, "{\"k\":9}");
	assert_non_null(got);
	assert_int_equal(EVP_PKEY_get_id(got), EVP_PKEY_EC);
	EVP_PKEY_free(got);
	acme_keycache_flush();
	assert_null(acme_keycache_get(9, "{\"k\":9}"));
}

/*
 * The validation slots: 4 per account, 32 in all; a slot given back serves again; each account
 * its own count; giving back a slot not held is fatal (not tested: it ends the process).
 */
static void
test_slots(void **state)
{
	struct acme_slots s;
	int64_t acct;

	(void)state;
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < ACME_VALIDATIONS_PER_ACCOUNT; i++)
		assert_int_equal(acme_slots_take(&s, 7), ACME_SLOT_OK);
	assert_int_equal(acme_slots_take(&s, 7), ACME_SLOT_ACCOUNT);
	assert_int_equal(acme_slots_take(&s, 8), ACME_SLOT_OK); /* another account is not held up */
	acme_slots_put(&s, 7);
	assert_int_equal(acme_slots_take(&s, 7), ACME_SLOT_OK);
	assert_int_equal(acme_slots_take(&s, 7), ACME_SLOT_ACCOUNT);
	assert_int_equal(s.running, ACME_VALIDATIONS_PER_ACCOUNT + 1);
	/* fill the rest with other accounts: then the global cap answers, for anyone */
	for (acct = 100; s.running < ACME_VALIDATIONS_MAX; acct++)
		for (int i = 0;
		     i < ACME_VALIDATIONS_PER_ACCOUNT && s.running < ACME_VALIDATIONS_MAX; i++)
			assert_int_equal(acme_slots_take(&s, acct), ACME_SLOT_OK);
	assert_int_equal(acme_slots_take(&s, 8), ACME_SLOT_FULL);
	assert_int_equal(acme_slots_take(&s, 9999), ACME_SLOT_FULL);
	/* one given back: a new account takes it (its entry is reused), then it is full again */
	acme_slots_put(&s, 8);
	assert_int_equal(acme_slots_take(&s, 9999), ACME_SLOT_OK);
	assert_int_equal(acme_slots_take(&s, 7), ACME_SLOT_FULL);
	/* everything given back: nothing held */
	for (int i = 0; i < ACME_VALIDATIONS_PER_ACCOUNT; i++)
		acme_slots_put(&s, 7);
	acme_slots_put(&s, 9999);
	for (acct = 100; s.running > 0; acct++)
		for (int i = 0; i < ACME_VALIDATIONS_PER_ACCOUNT && s.running > 0; i++)
			acme_slots_put(&s, acct);
	for (int i = 0; i < ACME_VALIDATIONS_MAX; i++)
		assert_true(s.per[i].acct == 0 && s.per[i].n == 0);
	/* 32 accounts at once, one slot each: each its own entry */
	for (acct = 1; acct <= ACME_VALIDATIONS_MAX; acct++)
		assert_int_equal(acme_slots_take(&s, acct), ACME_SLOT_OK);
	assert_int_equal(acme_slots_take(&s, 1), ACME_SLOT_FULL);
}

/* RFC 9773 4.1 certIDs: the RFC's example, and every refusal of the strict parser. */
static void
test_certid(void **state)
{
	static const char *const bad[] = {
	    "",								/* empty */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ",				/* no "." */
	    ".AIdlQyE",							/* no keyIdentifier */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.",				/* no serial */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE=",			/* padding */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ=.AIdlQyE",			/* padding */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdl+yE",			/* base64, not base64url */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdl.QyE",			/* two dots */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AAE",				/* 00 01: not minimal */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.gA",				/* 80: negative */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AA",				/* zero */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyF",			/* non-zero unused bits */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.A",				/* 1 mod 4 */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AQEBAQEBAQEBAQEBAQEBAQEBAQEB", /* 21 octets */
	    "aYhba4dGQEHhs3uEe6CuLN4ByNQ .AIdlQyE",			/* a blank */
	};
	struct ra_acme_certid id;
	char big[RA_ACME_CERTID_MAX + 2];
	struct err e;

	(void)state;
	/* RFC 9773 4.1's example: keyIdentifier 69:88:5B:6B:..., serial 00:87:65:43:21 */
	err_clear(&e);
	OK(ra_acme_certid_parse("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", 35, &id, &e));
	assert_int_equal(id.akilen, 20);
	assert_int_equal(id.aki[0], 0x69);
	assert_int_equal(id.aki[19], 0xd4);
	assert_string_equal(id.serial, "87654321");
	assert_string_equal(id.text, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	OK(ra_acme_certid_parse("AQ.fw", 5, &id, &e));
	assert_string_equal(id.serial, "7F");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		if (ra_acme_certid_parse(bad[i], strlen(bad[i]), &id, &e) != -1)
			fail_msg("certID \"%s\" was taken", bad[i]);
		assert_int_equal(e.code, ERR_REFUSED);
		assert_non_null(strstr(e.msg, "certID: "));
	}
	/* a NUL inside, and too long */
	err_clear(&e);
	assert_int_equal(ra_acme_certid_parse("AQ.f\0w", 6, &id, &e), -1);
	memset(big, 'A', sizeof(big));
	big[10] = '.';
	err_clear(&e);
	assert_int_equal(ra_acme_certid_parse(big, sizeof(big), &id, &e), -1);
	/* a certificate's own certID parses back to its serial */
	{
		X509 *x = X509_new();
		ASN1_OCTET_STRING *ki = ASN1_OCTET_STRING_new();
		AUTHORITY_KEYID *ak = AUTHORITY_KEYID_new();
		unsigned char kid[20];
		char text[RA_ACME_CERTID_MAX + 1], hex[64];

		memset(kid, 0xab, sizeof(kid));
		ASN1_OCTET_STRING_set(ki, kid, sizeof(kid));
		ak->keyid = ki;
		X509_add1_ext_i2d(x, NID_authority_key_identifier, ak, 0, 0);
		ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), 0xfedcba9876543210ull);
		OK(ra_acme_certid_of(x, text, sizeof(text)));
		err_clear(&e);
		OK(ra_acme_certid_parse(text, strlen(text), &id, &e));
		OK(x509_serial_hex(X509_get0_serialNumber(x), hex, sizeof(hex)));
		assert_string_equal(id.serial, hex);
		assert_string_equal(id.serial, "FEDCBA9876543210");
		assert_int_equal(id.akilen, 20);
		assert_memory_equal(id.aki, kid, 20);
		AUTHORITY_KEYID_free(ak);
		X509_free(x);
	}
}

/* The suggested window: from a third of the validity left to a sixth; revoked: in the past. */
static void
test_renewal_window(void **state)
{
	time_t nb = 1700000000, s = 0, e = 0;

	(void)state;
	/* 90 days (inclusive count): days 60 to 75 */
	ra_acme_renewal_window(nb, nb + 90 * 86400 - 1, 0, nb, &s, &e);
	assert_int_equal(s, nb + 60 * 86400 - 1);
	assert_int_equal(e, nb + 75 * 86400 - 1);
	/* 7 days */
	ra_acme_renewal_window(nb, nb + 7 * 86400 - 1, 0, nb, &s, &e);
	assert_true(s > nb + 4 * 86400 && s < nb + 5 * 86400);
	assert_true(e > s && e < nb + 6 * 86400);
	/* within the validity, start before end, for any length */
	for (long v = 1; v < 400L * 86400; v = v * 3 + 7) {
		ra_acme_renewal_window(nb, nb + v - 1, 0, nb, &s, &e);
		assert_true(s < e);
		assert_true(s >= nb - 5 && e <= nb + v);
	}
	/* revoked: the window ended before now, whatever the validity */
	ra_acme_renewal_window(nb, nb + 90 * 86400 - 1, 1, nb + 86400, &s, &e);
	assert_true(s < e);
	assert_true(e < nb + 86400);
}

/*
 * The orders list (keyset pages, invalid and expired orders left out, another account's never)
 * and the store's rule that one certificate is replaced by one order being finalized or
 * finalized: the second of two racing moves to processing fails (acme_orders_replaced).
 */
static void
test_orders_list_replaced(void **state)
{
	struct ra_acme_account a, b;
	struct ra_acme_ident id;
	struct ra_acme_order o;
	struct ra_acme_order_opts opt;
	struct store_acme_order so;
	int64_t made[5], *ids = NULL, next = 0, other = 0;
	size_t n = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	order_account(NULL, &a);
	order_account(NULL, &b);
	memset(&opt, 0, sizeof(opt));
	for (int i = 0; i < 5; i++) {
		memset(&id, 0, sizeof(id));
		snprintf(id.type, sizeof(id.type), "dns");
		snprintf(id.value, sizeof(id.value), "www.example.co.jp");
		opt.profile = i % 2 ? "shortlived" : NULL;
		assert_int_equal(
		    ra_acme_order_new_ex(fx.st, i == 4 ? &b : &a, &id, 1, &opt, "unit", &o, &e),
		    RA_ACME_CREATED);
		assert_string_equal(o.o.profile, i % 2 ? "shortlived" : "server");
		made[i] = o.o.id;
		ra_acme_order_clear(&o);
	}
	/* a profile ACME does not issue */
	opt.profile = "client";
	assert_int_equal(ra_acme_order_new_ex(fx.st, &a, &id, 1, &opt, "unit", &o, &e),
			 RA_ACME_BAD_PROFILE);
	err_clear(&e);
	/* pages of 2 of account a's 4: 2, 2 (and one more row: a next page), then none */
	assert_int_equal(ra_acme_orders_list(fx.st, a.id, 0, 2, &ids, &n, &next, &e), RA_ACME_OK);
	assert_int_equal(n, 2);
	assert_true(ids[0] == made[0] && ids[1] == made[1] && next == made[1]);
	free(ids);
	assert_int_equal(ra_acme_orders_list(fx.st, a.id, next, 2, &ids, &n, &next, &e),
			 RA_ACME_OK);
	assert_int_equal(n, 2);
	assert_true(ids[0] == made[2] && ids[1] == made[3] && next == 0);
	free(ids);
	/* invalid and expired pending ones are left out */
	OK(store_acme_order_move(fx.st, made[1], "pending", "invalid", NULL, util_now(), 0, &e));
	set_row("UPDATE acme_orders SET status = $1, expires = $2 WHERE id = $3", "pending",
		util_now() - 1, made[2]);
	assert_int_equal(ra_acme_orders_list(fx.st, a.id, 0, 10, &ids, &n, &next, &e), RA_ACME_OK);
	assert_int_equal(n, 2);
	assert_true(ids[0] == made[0] && ids[1] == made[3] && next == 0);
	free(ids);

	/* two orders replacing one serial: inserted both; only one at a time past ready */
	memset(&so, 0, sizeof(so));
	for (int i = 0; i < 2; i++) {
		so.id = 0;
		so.account_id = a.id;
		so.identifiers = "[]";
		so.expires = util_now() + 3600;
		so.created = util_now();
		so.profile = "server";
		so.replaces = "0A0B";
		so.replaces_certid = "AQ.Cgs";
		OK(store_acme_order_add(fx.st, &so, &e));
		made[i] = so.id;
		OK(store_acme_order_move(fx.st, so.id, "pending", "ready", NULL, util_now(), 0,
					 &e));
	}
	OK(store_acme_order_replacing(fx.st, "0A0B", 0, &other, &e));
	assert_int_equal(other, 0);
	OK(store_acme_order_move(fx.st, made[0], "ready", "processing", NULL, util_now(), 0, &e));
	assert_int_equal(
	    store_acme_order_move(fx.st, made[1], "ready", "processing", NULL, util_now(), 0, &e),
	    -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	err_clear(&e);
	OK(store_acme_order_replacing(fx.st, "0A0B", made[1], &other, &e));
	assert_int_equal(other, made[0]);
	OK(store_acme_order_replacing(fx.st, "0A0B", made[0], &other, &e));
	assert_int_equal(other, 0);
	/* back to ready (the issuance failed): the other may go */
	OK(store_acme_order_move(fx.st, made[0], "processing", "ready", NULL, util_now(), 0, &e));
	OK(store_acme_order_move(fx.st, made[1], "ready", "processing", NULL, util_now(), 0, &e));
	OK(store_acme_order_get(fx.st, made[1], &so, &e));
	assert_string_equal(so.replaces, "0A0B");
	assert_string_equal(so.replaces_certid, "AQ.Cgs");
	store_acme_order_clear(&so);
	ra_acme_account_clear(&a);
	ra_acme_account_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_thumbprint_rfc7638),
	    cmocka_unit_test(test_algs),
	    cmocka_unit_test(test_post_as_get),
	    cmocka_unit_test(test_parse_refusals),
	    cmocka_unit_test(test_jwk_refusals),
	    cmocka_unit_test(test_hmac),
	    cmocka_unit_test(test_csr_match),
	    cmocka_unit_test(test_csr_match_ip),
	    cmocka_unit_test(test_addr_rule),
	    cmocka_unit_test(test_revoke_reasons),
	    cmocka_unit_test(test_slots),
	    cmocka_unit_test(test_keycache),
	    cmocka_unit_test(test_certid),
	    cmocka_unit_test(test_renewal_window),
	};
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test(test_nonce),
	    cmocka_unit_test(test_eab_accounts),
	    cmocka_unit_test(test_eab_officer),
	    cmocka_unit_test(test_faults),
	    cmocka_unit_test(test_eab_race),
	    cmocka_unit_test(test_order_life),
	    cmocka_unit_test(test_sweep),
	    cmocka_unit_test(test_chall_race),
	    cmocka_unit_test(test_orders_list_replaced),
	    cmocka_unit_test(test_authz_reuse),
	    cmocka_unit_test(test_review_bounds),
	};
	int failed = cmocka_run_group_tests_name("jws", pure, NULL, NULL);

	failed += cmocka_run_group_tests_name("acme on SQLite", stored, setup, teardown);
	if (tu_pg() == NULL) {
		print_message("SHOMEI_TEST_PG is not set: PostgreSQL skipped "
			      "(run through scripts/with-pg.sh)\n");
		return failed;
	}
	want_pg = 1;
	return failed + cmocka_run_group_tests_name("acme on PostgreSQL", stored, setup, teardown);
}
