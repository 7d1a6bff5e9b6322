/*
 * tsa/der: the small DER reader and writer the TSA uses for requests and tokens.  The reader
 * accepts definite, minimal lengths and single-octet tags only and never reads past the end
 * it was given; the writer appends to bounded buffers.
 */
#include <string.h>

#include "tsa_local.h"

void
tsa_der_init(struct tsa_der *d, const unsigned char *p, size_t len)
{
	d->p = p;
	d->end = p + len;
}

int
tsa_der_done(const struct tsa_der *d)
{
	return d->p == d->end;
}

int
tsa_der_next(struct tsa_der *d, struct tsa_tlv *t)
{
	const unsigned char *p = d->p;
	size_t avail = (size_t)(d->end - d->p), len, nlen, i;

	if (avail == 0)
		return 1;
	if (avail < 2 || (p[0] & 0x1f) == 0x1f) /* no room for a length, or a multi-octet tag */
		return -1;
	t->tag = p[0];
	t->start = p;
	if (p[1] < 0x80) {
		len = p[1];
		nlen = 0;
	} else {
		nlen = p[1] & 0x7f;
		/* 0x80 is BER's indefinite form; more than 4 length octets is never ours */
		if (nlen == 0 || nlen > 4 || avail < 2 + nlen || p[2] == 0)
			return -1;
		for (len = 0, i = 0; i < nlen; i++)
			len = (len << 8) | p[2 + i];
		if (len < 0x80) /* the short form was required */
			return -1;
	}
	if (len > avail - 2 - nlen)
		return -1;
	t->val = p + 2 + nlen;
	t->len = len;
	t->total = 2 + nlen + len;
	d->p = p + t->total;
	return 0;
}

size_t
tsa_der_hdr(unsigned char out[6], unsigned char tag, size_t len)
{
	size_t n = 0, i;

	out[n++] = tag;
	if (len < 0x80) {
		out[n++] = (unsigned char)len;
	} else if (len < 0x100) {
		out[n++] = 0x81;
		out[n++] = (unsigned char)len;
	} else if (len < 0x10000) {
		out[n++] = 0x82;
		out[n++] = (unsigned char)(len >> 8);
		out[n++] = (unsigned char)len;
	} else if (len < 0x1000000) {
		out[n++] = 0x83;
		for (i = 3; i > 0; i--)
			out[n++] = (unsigned char)(len >> (8 * (i - 1)));
	} else {
		out[n++] = 0x84;
		for (i = 4; i > 0; i--)
			out[n++] = (unsigned char)(len >> (8 * (i - 1)));
	}
	return n;
}

size_t
tsa_der_tlvlen(size_t len)
{
	unsigned char h[6];

	return tsa_der_hdr(h, 0, len) + len;
}

int
tsa_der_put_hdr(struct buf *b, unsigned char tag, size_t len)
{
	unsigned char h[6];

	return buf_append(b, h, tsa_der_hdr(h, tag, len));
}

int
tsa_der_put(struct buf *b, unsigned char tag, const void *p, size_t len)
{
	if (tsa_der_put_hdr(b, tag, len) == -1)
		return -1;
	return len == 0 ? 0 : buf_append(b, p, len);
}

int
tsa_der_put_uint(struct buf *b, uint64_t v)
{
	unsigned char c[9];
	size_t n = 0;
	int shift;

	for (shift = 56; shift > 0 && ((v >> shift) & 0xff) == 0; shift -= 8)
		;
	if ((v >> shift) & 0x80) /* keep it positive */
		c[n++] = 0;
	for (; shift >= 0; shift -= 8)
		c[n++] = (unsigned char)(v >> shift);
	return tsa_der_put(b, DER_INTEGER, c, n);
}

/*
 * X.690 11.6: the components of a SET OF in DER are ordered by their encodings compared as
 * octet strings, the shorter padded at its end with zero octets.
 */
int
tsa_der_cmp(const unsigned char *a, size_t al, const unsigned char *b, size_t bl)
{
	size_t n = al < bl ? al : bl, i, rl;
	const unsigned char *r;
	int c;

	if (n > 0 && (c = memcmp(a, b, n)) != 0)
		return c;
	r = al > bl ? a + n : b + n;
	rl = (al > bl ? al : bl) - n;
	for (i = 0; i < rl; i++)
		if (r[i] != 0)
			return al > bl ? 1 : -1;
	return 0;
}
