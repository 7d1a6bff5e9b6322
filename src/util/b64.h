/*
 * b64: base64 (RFC 4648 section 4, with padding) and base64url (section 5, without padding),
 * both strict on the way in: only the alphabet, no padding in base64url, padding only at the
 * end of base64, and the unused bits of the last character must be zero (section 3.5), so
 * that every byte string has exactly one accepted text.  base64url is what tokens, nonces,
 * cookies and (next) ACME's JWS use; base64 is for PEM bodies and MIME.
 */
#ifndef SHOMEI_UTIL_B64_H
#define SHOMEI_UTIL_B64_H

#include <stddef.h>

#include "util/util.h"

/* Characters of n bytes as unpadded base64url (no NUL counted). */
#define B64URL_LEN(n) ((n) / 3 * 4 + ((n) % 3 == 0 ? 0 : (n) % 3 + 1))

/*
 * n bytes at p as unpadded base64url into out, NUL-terminated; outlen must be at least
 * B64URL_LEN(n) + 1, else -1 and out is "" (when outlen > 0).
 */
int b64url_encode(char *out, size_t outlen, const void *p, size_t n);
/*
 * Decodes s[0..slen) (unpadded base64url) into out, at most max bytes; *outlen gets the count.
 * -1 for a character outside [A-Za-z0-9_-] (including '='), a length of 1 mod 4, non-zero
 * unused bits, or more than max bytes.
 */
int b64url_decode(unsigned char *out, size_t max, size_t *outlen, const char *s, size_t slen);
/* Decodes NUL-terminated s, which must hold exactly want bytes; -1 otherwise (or s NULL). */
int b64url_decode_exact(unsigned char *out, size_t want, const char *s);

/* n bytes as padded base64, appended to out (no line breaks); -1 when out is full. */
int b64_encode(struct buf *out, const void *p, size_t n);
/*
 * Decodes padded base64 s[0..slen), appending to out.  With ws, spaces, tabs, CR and LF are
 * skipped anywhere (PEM bodies); without, they are refused.  -1 for anything outside the
 * alphabet, padding that is not at the end or not making a multiple of 4, non-zero unused
 * bits, empty input, or out full.
 */
int b64_decode(struct buf *out, const char *s, size_t slen, int ws);

#endif
