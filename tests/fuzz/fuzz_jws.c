/*
 * libFuzzer target for ACME's JWS and JWK handling (src/util/jws.c): the flattened JSON
 * serialization, the protected header, the JWK of every accepted key type, RFC 7638
 * thumbprints, signature verification with the header's own key, HS256 with a fixed MAC key,
 * and a payload that is itself a JWS (keyChange's inner one, External Account Binding's).  The
 * first byte chooses whether HS256 is accepted; the rest is the request body.  Hostile bytes
 * must give a clean refusal with a kind and a message, never a crash, a leak or undefined
 * behaviour; whatever parses has an accepted alg and a signing input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "util/jws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The checks of one parsed JWS; depth 0 also tries its payload as a JWS. */
static void
fz_jws(const struct jws *j, int depth)
{
	static const unsigned char mac[32] = "shomei fuzz eab hmac key 32 byte";
	unsigned char t[JWS_THUMB_LEN];
	char text[JWS_THUMB_TEXT], *canon = NULL;
	EVP_PKEY *k = NULL;
	struct err e;

	if (j->alg <= JWS_ALG_NONE || j->alg >= JWS_ALG__MAX || j->input == NULL ||
	    j->hdr == NULL || (j->payloadlen > 0 && j->payload == NULL))
		abort();
	err_clear(&e);
	if (j->alg == JWS_ALG_HS256) {
		(void)jws_verify_hmac(j, mac, sizeof(mac), &e);
	} else if (j->jwk != NULL) {
		if (jwk_key(j->jwk, &k, &e) == 0) {
			if (jwk_thumbprint(j->jwk, t, &canon, &e) != 0)
				abort(); /* a key jwk_key takes has a thumbprint */
			jwk_thumb_text(t, text);
			if (jwk_alg_check(k, j->alg, &e) == 0)
				(void)jws_verify(j, k, &e);
		} else if (e.kind <= JWS_FAIL_NONE || e.kind >= JWS_FAIL__MAX || e.msg[0] == '\0') {
			abort();
		}
	}
	if (depth == 0 && j->payloadlen > 0) {
		struct jws in;

		err_clear(&e);
		if (jws_parse(j->payload, j->payloadlen, 1, &in, &e) == 0) {
			fz_jws(&in, 1);
			jws_clear(&in);
		}
	}
	free(canon);
	EVP_PKEY_free(k);
	ERR_clear_error();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jws j;
	struct err e;

	if (size < 1)
		return 0;
	err_clear(&e);
	if (jws_parse(data + 1, size - 1, data[0] & 1, &j, &e) == 0) {
		fz_jws(&j, 0);
		jws_clear(&j);
	} else if (e.kind <= JWS_FAIL_NONE || e.kind >= JWS_FAIL__MAX || e.msg[0] == '\0' ||
		   j.hdr != NULL || j.input != NULL) {
		abort(); /* every refusal is classified, named, and leaves nothing behind */
	}
	ERR_clear_error();
	return 0;
}
