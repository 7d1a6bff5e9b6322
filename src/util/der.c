/*
 * der: the bounded DER reader and writer (see der.h).  The reader never reads past the end
 * it was given and never allocates; the writer appends to bounded buffers.
 */
#include <limits.h>
#include <string.h>

#include "der.h"
#include "timefmt.h"

void
der_reader_init(struct der_reader *d, const void *p, size_t len)
{
	d->p = p;
	d->end = len == 0 ? d->p : d->p + len;
}

void
der_reader_enter(struct der_reader *d, const struct der_tlv *t)
{
	der_reader_init(d, t->val, t->len);
}

int
der_reader_done(const struct der_reader *d)
{
	return d->p == d->end;
}

size_t
der_reader_left(const struct der_reader *d)
{
	return (size_t)(d->end - d->p);
}

int
der_peek(const struct der_reader *d, struct der_tlv *t)
{
	const unsigned char *p = d->p;
	size_t avail = (size_t)(d->end - d->p), len = 0, nlen = 0, i;

	if (avail == 0)
		return 1;
	/* room for a length; the high-tag-number form (X.690 8.1.2.4) is never ours */
	if (avail < 2 || (p[0] & 0x1f) == 0x1f)
		return -1;
	if (p[1] < 0x80) {
		len = p[1];
	} else {
		nlen = p[1] & 0x7f;
		/* 0x80 is BER's indefinite form; more than 4 octets is beyond any input we take */
		if (nlen == 0 || nlen > 4 || avail - 2 < nlen)
			return -1;
		/* X.690 10.1: no leading zero octet, and the long form only for lengths >= 128 */
		if (p[2] == 0)
			return -1;
		for (i = 0; i < nlen; i++)
			len = len << 8 | p[2 + i];
		if (len < 0x80)
			return -1;
	}
	if (len > avail - 2 - nlen)
		return -1;
	t->tag = p[0];
	t->start = p;
	t->val = p + 2 + nlen;
	t->len = len;
	t->total = 2 + nlen + len;
	return 0;
}

int
der_next(struct der_reader *d, struct der_tlv *t)
{
	int r;

	if ((r = der_peek(d, t)) == 0)
		d->p = t->start + t->total;
	return r;
}

int
der_expect(struct der_reader *d, unsigned char tag, struct der_tlv *t)
{
	if (der_peek(d, t) != 0 || t->tag != tag)
		return -1;
	d->p = t->start + t->total;
	return 0;
}

int
der_optional(struct der_reader *d, unsigned char tag, struct der_tlv *t)
{
	int r;

	if ((r = der_peek(d, t)) == -1)
		return -1;
	if (r == 1 || t->tag != tag)
		return 0;
	d->p = t->start + t->total;
	return 1;
}

int
der_enter(struct der_reader *d, unsigned char tag, struct der_reader *inner)
{
	struct der_tlv t;

	if (der_expect(d, tag, &t) == -1)
		return -1;
	der_reader_enter(inner, &t);
	return 0;
}

int
der_skip(struct der_reader *d)
{
	struct der_tlv t;

	return der_next(d, &t) == 0 ? 0 : -1;
}

int
der_parse_one(const void *p, size_t len, struct der_tlv *t)
{
	struct der_reader d;

	der_reader_init(&d, p, len);
	if (der_next(&d, t) != 0 || !der_reader_done(&d))
		return -1;
	return 0;
}

/* X.690 8.3.2: at least one octet, no redundant leading 00 or FF. */
static int
der_int_minimal(const unsigned char *v, size_t n)
{
	if (n == 0)
		return 0;
	if (n > 1 && ((v[0] == 0x00 && !(v[1] & 0x80)) || (v[0] == 0xff && (v[1] & 0x80))))
		return 0;
	return 1;
}

int
der_int_check(const struct der_tlv *t, unsigned char tag)
{
	return t->tag == tag && der_int_minimal(t->val, t->len) ? 0 : -1;
}

int
der_get_int64(const struct der_tlv *t, int64_t *out)
{
	uint64_t v;
	size_t i;

	if (der_int_check(t, DER_TAG_INTEGER) == -1 || t->len > 8)
		return -1;
	v = (t->val[0] & 0x80) ? UINT64_MAX : 0;
	for (i = 0; i < t->len; i++)
		v = v << 8 | t->val[i];
	/* two's complement to int64_t without implementation-defined conversion */
	if (v > (uint64_t)INT64_MAX)
		*out = -(int64_t)(~v) - 1;
	else
		*out = (int64_t)v;
	return 0;
}

int
der_get_uint64(const struct der_tlv *t, uint64_t *out)
{
	const unsigned char *p;
	uint64_t v = 0;
	size_t n, i;

	if (der_get_uint_bytes(t, 8, &p, &n) == -1)
		return -1;
	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	*out = v;
	return 0;
}

int
der_get_uint_bytes(const struct der_tlv *t, size_t max, const unsigned char **p, size_t *n)
{
	const unsigned char *v = t->val;
	size_t len = t->len;

	if (der_int_check(t, DER_TAG_INTEGER) == -1 || (v[0] & 0x80))
		return -1;
	if (len > 1 && v[0] == 0) {
		v++;
		len--;
	}
	if (len > max)
		return -1;
	*p = v;
	*n = len;
	return 0;
}

int
der_get_enum(const struct der_tlv *t, int *out)
{
	struct der_tlv i = *t;
	int64_t v;

	if (t->tag != DER_TAG_ENUMERATED)
		return -1;
	i.tag = DER_TAG_INTEGER;
	if (der_get_int64(&i, &v) == -1 || v < 0 || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

int
der_get_bool(const struct der_tlv *t, int *out)
{
	if (t->tag != DER_TAG_BOOLEAN || t->len != 1 || (t->val[0] != 0 && t->val[0] != 0xff))
		return -1;
	*out = t->val[0] != 0;
	return 0;
}

int
der_get_null(const struct der_tlv *t)
{
	return t->tag == DER_TAG_NULL && t->len == 0 ? 0 : -1;
}

int
der_get_oid(const struct der_tlv *t, const unsigned char **p, size_t *n)
{
	size_t i;
	int first = 1;

	if (t->tag != DER_TAG_OID || t->len == 0 || (t->val[t->len - 1] & 0x80))
		return -1;
	for (i = 0; i < t->len; i++) {
		/* the first octet of an arc is never 0x80 (a redundant leading zero) */
		if (first && t->val[i] == 0x80)
			return -1;
		first = !(t->val[i] & 0x80);
	}
	if (p != NULL)
		*p = t->val;
	if (n != NULL)
		*n = t->len;
	return 0;
}

int
der_oid_is(const struct der_tlv *t, const unsigned char *oid, size_t n)
{
	return t->tag == DER_TAG_OID && t->len == n && memcmp(t->val, oid, n) == 0;
}

int
der_get_octets(const struct der_tlv *t, const unsigned char **p, size_t *n)
{
	if (t->tag != DER_TAG_OCTETSTRING)
		return -1;
	*p = t->val;
	*n = t->len;
	return 0;
}

int
der_get_bits(const struct der_tlv *t, const unsigned char **p, size_t *n, int *unused)
{
	unsigned u;

	if (t->tag != DER_TAG_BITSTRING || t->len == 0)
		return -1;
	u = t->val[0];
	if (u > 7 || (t->len == 1 && u != 0))
		return -1;
	if (u > 0 && (t->val[t->len - 1] & ((1u << u) - 1)) != 0)
		return -1;
	*p = t->val + 1;
	*n = t->len - 1;
	*unused = (int)u;
	return 0;
}

/* Two decimal digits at p, or -1. */
static int
der_2digits_get(const unsigned char *p)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return -1;
	return (p[0] - '0') * 10 + (p[1] - '0');
}

int
der_get_time(const struct der_tlv *t, time_t *out)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const unsigned char *s = t->val;
	int v[7], i, y, n;
	int64_t secs;

	if (t->tag == DER_TAG_UTCTIME && t->len == 13)
		n = 6;
	else if (t->tag == DER_TAG_GENTIME && t->len == 15)
		n = 7;
	else
		return -1;
	if (s[t->len - 1] != 'Z')
		return -1;
	for (i = 0; i < n; i++)
		if ((v[i] = der_2digits_get(s + 2 * i)) == -1)
			return -1;
	if (n == 6) {
		y = v[0] < 50 ? 2000 + v[0] : 1900 + v[0];
		i = 1;
	} else {
		y = v[0] * 100 + v[1];
		i = 2;
	}
	/* month, day, hour, minute, second: v[i..i+4] */
	if (v[i] < 1 || v[i] > 12 || v[i + 1] < 1 || v[i + 1] > mdays[v[i] - 1] || v[i + 2] > 23 ||
	    v[i + 3] > 59 || v[i + 4] > 59)
		return -1;
	if (v[i] == 2 && v[i + 1] == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	secs = timefmt_days((long)y, v[i], v[i + 1]) * 86400 + v[i + 2] * 3600 + v[i + 3] * 60 +
	       v[i + 4];
	if (sizeof(time_t) < 8 && (secs > INT32_MAX || secs < INT32_MIN))
		return -1;
	*out = (time_t)secs;
	return 0;
}

size_t
der_hdr(unsigned char out[DER_HDR_MAX], unsigned char tag, size_t len)
{
	size_t n = 0, octets = 0, v, i;

	out[n++] = tag;
	if (len < 0x80) {
		out[n++] = (unsigned char)len;
		return n;
	}
	for (v = len; v > 0 && octets < 4; v >>= 8)
		octets++;
	out[n++] = (unsigned char)(0x80 | octets);
	for (i = octets; i > 0; i--)
		out[n++] = (unsigned char)(len >> (8 * (i - 1)));
	return n;
}

size_t
der_tlv_size(size_t len)
{
	unsigned char h[DER_HDR_MAX];

	return der_hdr(h, 0, len) + len;
}

int
der_put_hdr(struct buf *b, unsigned char tag, size_t len)
{
	unsigned char h[DER_HDR_MAX];

	if (len > 0xffffffffu)
		return -1;
	return buf_append(b, h, der_hdr(h, tag, len));
}

int
der_put(struct buf *b, unsigned char tag, const void *p, size_t len)
{
	if (der_put_hdr(b, tag, len) == -1)
		return -1;
	return len == 0 ? 0 : buf_append(b, p, len);
}

int
der_put_uint_bytes(struct buf *b, unsigned char tag, const unsigned char *p, size_t n)
{
	static const unsigned char zero = 0;

	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	if (n == 0)
		return der_put(b, tag, &zero, 1);
	if (p[0] & 0x80)
		return der_put_hdr(b, tag, n + 1) == -1 || buf_putc(b, 0) == -1 ||
			       buf_append(b, p, n) == -1
			   ? -1
			   : 0;
	return der_put(b, tag, p, n);
}

int
der_put_uint64(struct buf *b, uint64_t v)
{
	unsigned char c[8];
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		c[i] = (unsigned char)(v & 0xff);
	return der_put_uint_bytes(b, DER_TAG_INTEGER, c, sizeof(c));
}

int
der_put_int64(struct buf *b, int64_t v)
{
	unsigned char c[8];
	uint64_t u = (uint64_t)v;
	size_t i = 0;
	int k;

	for (k = 7; k >= 0; k--, u >>= 8)
		c[k] = (unsigned char)(u & 0xff);
	/* X.690 8.3.2: drop redundant leading 00 / FF octets */
	while (i < 7 &&
	       ((c[i] == 0x00 && !(c[i + 1] & 0x80)) || (c[i] == 0xff && (c[i + 1] & 0x80))))
		i++;
	return der_put(b, DER_TAG_INTEGER, c + i, sizeof(c) - i);
}

int
der_put_bool(struct buf *b, int v)
{
	unsigned char c = v ? 0xff : 0x00;

	return der_put(b, DER_TAG_BOOLEAN, &c, 1);
}

int
der_put_enum(struct buf *b, int v)
{
	size_t mark = b->len;

	if (der_put_int64(b, v) == -1)
		return -1;
	b->data[mark] = DER_TAG_ENUMERATED;
	return 0;
}

/* Two decimal digits of v at p. */
static void
der_2digits(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

/* YYYYMMDDHHMMSSZ or YYMMDDHHMMSSZ (utc) of t into s (NUL-terminated); its length or -1. */
static int
der_time_str(time_t t, int utc, char s[16])
{
	struct tm tm;
	int y, n;

	if (gmtime_r(&t, &tm) == NULL)
		return -1;
	y = tm.tm_year + 1900;
	if (y < 0 || y > 9999 || (utc && (y < 1950 || y > 2049)))
		return -1;
	if (utc) {
		der_2digits(s, y % 100);
		n = 2;
	} else {
		der_2digits(s, y / 100);
		der_2digits(s + 2, y % 100);
		n = 4;
	}
	der_2digits(s + n, tm.tm_mon + 1);
	der_2digits(s + n + 2, tm.tm_mday);
	der_2digits(s + n + 4, tm.tm_hour);
	der_2digits(s + n + 6, tm.tm_min);
	der_2digits(s + n + 8, tm.tm_sec);
	s[n + 10] = 'Z';
	s[n + 11] = '\0';
	return n + 11;
}

int
der_gentime(time_t t, char out[16])
{
	return der_time_str(t, 0, out) == 15 ? 0 : -1;
}

/* 2050-01-01T00:00:00Z: RFC 5280 4.1.2.5 switches to GeneralizedTime there. */
#define DER_TIME_2050 ((time_t)2524608000LL)
/* 1950-01-01T00:00:00Z: the first instant UTCTime carries. */
#define DER_TIME_1950 ((time_t)-631152000LL)

int
der_put_time(struct buf *b, time_t t, enum der_time_form form)
{
	char s[16];
	int utc = 0, n;

	if (form == DER_TIME_RFC5280) {
		if (t < DER_TIME_1950)
			return -1;
		utc = t < DER_TIME_2050;
	}
	if ((n = der_time_str(t, utc, s)) == -1)
		return -1;
	return der_put(b, utc ? DER_TAG_UTCTIME : DER_TAG_GENTIME, s, (size_t)n);
}

long
der_begin(struct buf *b, unsigned char tag)
{
	unsigned char h[2] = {tag, 0};
	size_t mark = b->len;

	if (mark > LONG_MAX || buf_append(b, h, 2) == -1)
		return -1;
	return (long)mark;
}

int
der_end(struct buf *b, long mark)
{
	unsigned char h[DER_HDR_MAX];
	size_t start, len, hl;

	if (mark < 0 || (size_t)mark + 2 > b->len)
		fatalx("der: der_end without der_begin");
	start = (size_t)mark;
	len = b->len - start - 2;
	if (len > 0xffffffffu)
		return -1;
	hl = der_hdr(h, b->data[start], len);
	if (hl > 2) {
		/* long form: make room for the extra length octets, then move the contents up */
		if (buf_append(b, h, hl - 2) == -1)
			return -1;
		memmove(b->data + start + hl, b->data + start + 2, len);
	}
	memcpy(b->data + start, h, hl);
	return 0;
}

/*
 * X.690 11.6: the components of a SET OF in DER are ordered by their encodings compared as
 * octet strings, the shorter padded at its end with zero octets.
 */
int
der_cmp(const unsigned char *a, size_t al, const unsigned char *b, size_t bl)
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
