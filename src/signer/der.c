/*
 * der: a bounds-checked DER walker for the checks that must stay cheap on 50 MB inputs.  It
 * only splits tag | length | contents; it never reads a byte past the end it was given, never
 * accepts an indefinite or non-minimal length, and never allocates.
 */
#include <string.h>

#include "signer_local.h"

void
signer_der_init(struct signer_der *d, const unsigned char *p, size_t len)
{
	d->p = p;
	d->end = p + len;
}

int
signer_der_done(const struct signer_der *d)
{
	return d->p == d->end;
}

int
signer_der_next(struct signer_der *d, struct signer_tlv *t)
{
	const unsigned char *p = d->p;
	size_t avail = (size_t)(d->end - d->p), len = 0, nlen, i;
	int rc = -1;

	if (avail == 0) {
		rc = 1;
		goto out;
	}
	if (avail < 2)
		goto out;
	/* high-tag-number form (low five bits all set) is never used in what we check */
	if ((p[0] & 0x1f) == 0x1f)
		goto out;
	if (p[1] < 0x80) {
		len = p[1];
		nlen = 0;
	} else {
		nlen = p[1] & 0x7f;
		/* 0x80 is indefinite (BER); more than 4 octets is beyond any payload we accept */
		if (nlen == 0 || nlen > 4 || avail - 2 < nlen)
			goto out;
		/* DER: no leading zero octet, and the long form only for lengths >= 128 */
		if (p[2] == 0)
			goto out;
		for (i = 0; i < nlen; i++)
			len = len << 8 | p[2 + i];
		if (len < 0x80)
			goto out;
	}
	if (len > avail - 2 - nlen)
		goto out;
	t->tag = p[0];
	t->start = p;
	t->val = p + 2 + nlen;
	t->len = len;
	t->total = 2 + nlen + len;
	d->p = t->val + len;
	rc = 0;
out:
	return rc;
}

size_t
signer_der_header(unsigned char out[6], unsigned char tag, size_t len)
{
	size_t n = 0, i, octets = 0, v;

	out[n++] = tag;
	if (len < 0x80) {
		out[n++] = (unsigned char)len;
	} else {
		for (v = len; v > 0; v >>= 8)
			octets++;
		if (octets > 4)
			fatalx("signer: DER length %zu out of range", len);
		out[n++] = (unsigned char)(0x80 | octets);
		for (i = octets; i > 0; i--)
			out[n++] = (unsigned char)(len >> (8 * (i - 1)));
	}
	return n;
}
