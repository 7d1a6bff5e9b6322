/*
 * der: the small DER reader and writer of the OCSP module.  The reader only splits
 * identifier | length | contents and refuses what DER forbids (indefinite or non-minimal
 * lengths); it never allocates and never reads past its end.
 */
#include <string.h>

#include "ocsp_local.h"

void
ocsp_der_init(struct ocsp_der *d, const unsigned char *p, size_t len)
{
	d->p = p;
	d->end = p + len;
}

int
ocsp_der_done(const struct ocsp_der *d)
{
	return d->p == d->end;
}

int
ocsp_der_next(struct ocsp_der *d, struct ocsp_tlv *t)
{
	const unsigned char *p = d->p;
	size_t avail = (size_t)(d->end - d->p), len = 0, nlen = 0, i;
	int rc = -1;

	if (avail == 0) {
		rc = 1;
		goto out;
	}
	if (avail < 2)
		goto out;
	/* high-tag-number form: nothing in an OCSPRequest uses it */
	if ((p[0] & 0x1f) == 0x1f)
		goto out;
	if (p[1] < 0x80) {
		len = p[1];
	} else {
		nlen = p[1] & 0x7f;
		/* 0x80 is BER's indefinite form; more than 4 octets is far beyond any request */
		if (nlen == 0 || nlen > 4 || avail - 2 < nlen)
			goto out;
		/* DER: no leading zero octet; the long form only for lengths >= 128 */
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
ocsp_der_hdr_len(size_t len)
{
	size_t n = 2;

	if (len < 0x80)
		return n;
	for (; len > 0; len >>= 8)
		n++;
	return n;
}

int
ocsp_der_put_hdr(struct buf *out, unsigned char tag, size_t len)
{
	unsigned char h[6];
	size_t n = 0, octets = 0, v, i;

	h[n++] = tag;
	if (len < 0x80) {
		h[n++] = (unsigned char)len;
	} else {
		for (v = len; v > 0; v >>= 8)
			octets++;
		if (octets > 4)
			return -1;
		h[n++] = (unsigned char)(0x80 | octets);
		for (i = octets; i > 0; i--)
			h[n++] = (unsigned char)(len >> (8 * (i - 1)));
	}
	return buf_append(out, h, n);
}

int
ocsp_der_put(struct buf *out, unsigned char tag, const void *p, size_t len)
{
	if (ocsp_der_put_hdr(out, tag, len) == -1)
		return -1;
	return len == 0 ? 0 : buf_append(out, p, len);
}

int
ocsp_gentime(time_t t, char out[16])
{
	struct tm tm;
	int v[6], i, rc = -1;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		goto out;
	v[0] = tm.tm_year + 1900;
	v[1] = tm.tm_mon + 1;
	v[2] = tm.tm_mday;
	v[3] = tm.tm_hour;
	v[4] = tm.tm_min;
	v[5] = tm.tm_sec;
	out[0] = (char)('0' + v[0] / 1000);
	out[1] = (char)('0' + v[0] / 100 % 10);
	out[2] = (char)('0' + v[0] / 10 % 10);
	out[3] = (char)('0' + v[0] % 10);
	for (i = 1; i < 6; i++) {
		out[2 + 2 * i] = (char)('0' + v[i] / 10 % 10);
		out[3 + 2 * i] = (char)('0' + v[i] % 10);
	}
	out[14] = 'Z';
	out[15] = '\0';
	rc = 0;
out:
	return rc;
}
