/* b64: base64 and base64url, strict (see b64.h). */
#include <string.h>

#include "util/b64.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The value of c in the alphabet (url: base64url), or -1. */
static int
b64_value(unsigned char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/*
 * Encodes one group of k (1..3) bytes at dst: 4 characters with pad ('=' filling), else only
 * the k + 1 that carry bits.  Returns the number written.
 */
static size_t
b64_group(char *dst, const unsigned char *p, size_t k, const char *alpha, int pad)
{
	unsigned long v = (unsigned long)p[0] << 16;
	char g[4];
	size_t w = k + 1;

	if (k > 1)
		v |= (unsigned long)p[1] << 8;
	if (k > 2)
		v |= p[2];
	g[0] = alpha[(v >> 18) & 63];
	g[1] = alpha[(v >> 12) & 63];
	g[2] = alpha[(v >> 6) & 63];
	g[3] = alpha[v & 63];
	if (pad) {
		for (size_t i = w; i < 4; i++)
			g[i] = '=';
		w = 4;
	}
	memcpy(dst, g, w);
	return w;
}

int
b64url_encode(char *out, size_t outlen, const void *in, size_t n)
{
	const unsigned char *p = in;
	size_t o = 0;

	if (outlen == 0)
		return -1;
	if (n > (((size_t)-1) - 4) / 4 * 3 || outlen < B64URL_LEN(n) + 1) {
		out[0] = '\0';
		return -1;
	}
	for (size_t i = 0; i < n; i += 3)
		o += b64_group(out + o, p + i, n - i < 3 ? n - i : 3, b64_url, 0);
	out[o] = '\0';
	return 0;
}

int
b64url_decode(unsigned char *out, size_t max, size_t *outlen, const char *s, size_t slen)
{
	unsigned long acc = 0;
	size_t o = 0;
	int bits = 0, v;

	*outlen = 0;
	if (slen % 4 == 1)
		return -1;
	for (size_t i = 0; i < slen; i++) {
		if ((v = b64_value((unsigned char)s[i], 1)) < 0)
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == max)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1UL << bits) - 1;
		}
	}
	if (acc != 0) /* the unused low bits of the last character */
		return -1;
	*outlen = o;
	return 0;
}

int
b64url_decode_exact(unsigned char *out, size_t want, const char *s)
{
	size_t n;

	if (s == NULL || strlen(s) != B64URL_LEN(want) ||
	    b64url_decode(out, want, &n, s, strlen(s)) == -1 || n != want)
		return -1;
	return 0;
}

int
b64_encode(struct buf *out, const void *in, size_t n)
{
	const unsigned char *p = in;
	char chunk[1024]; /* whole groups, appended a chunk at a time (a CAPTCHA is ~16 KiB) */
	size_t k = 0;

	for (size_t i = 0; i < n; i += 3) {
		b64_group(chunk + k, p + i, n - i < 3 ? n - i : 3, b64_std, 1);
		if ((k += 4) == sizeof(chunk)) {
			if (buf_append(out, chunk, k) == -1)
				return -1;
			k = 0;
		}
	}
	return k > 0 ? buf_append(out, chunk, k) : 0;
}

int
b64_decode(struct buf *out, const char *s, size_t slen, int ws)
{
	unsigned long acc = 0;
	size_t nchars = 0, pad = 0;
	int bits = 0, v;

	for (size_t i = 0; i < slen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (ws && (c == ' ' || c == '\t' || c == '\r' || c == '\n'))
			continue;
		nchars++;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = b64_value(c, 0)) < 0)
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (buf_putc(out, (int)(acc >> bits)) == -1)
				return -1;
			acc &= (1UL << bits) - 1;
		}
	}
	/* whole groups of 4, at most "==" (so "x===" never), no bits left over */
	if (nchars == 0 || nchars % 4 != 0 || pad > 2 || acc != 0)
		return -1;
	return 0;
}
