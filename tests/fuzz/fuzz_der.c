/*
 * libFuzzer target for src/util/der.  The input is walked as nested TLVs (constructed
 * identifiers are entered, up to a depth bound) with every typed getter tried on every TLV,
 * and written again with the writer (der_begin/der_end for constructed ones, back-patched).
 * When the whole input is DER, the copy must equal it byte for byte; each value a getter
 * accepts must be written back to the very same bytes (INTEGER, ENUMERATED, BOOLEAN, times).
 * Hostile bytes must never crash, leak or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/der.h"

#define FZ_DEPTH 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The writer must give back exactly the TLV t from the value a getter read. */
static void
fz_same(const struct buf *b, const struct der_tlv *t)
{
	if (b->len != t->total || memcmp(b->data, t->start, t->total) != 0)
		abort();
}

/* Every getter on one TLV; those that accept must round-trip through the writer. */
static void
fz_getters(const struct der_tlv *t)
{
	const unsigned char *p;
	struct buf b;
	int64_t i;
	uint64_t u;
	time_t tm;
	size_t n;
	int v, unused;

	buf_init(&b, 1024);
	if (der_get_int64(t, &i) == 0) {
		if (der_put_int64(&b, i) == -1)
			abort();
		fz_same(&b, t);
	}
	buf_reset(&b);
	if (der_get_uint64(t, &u) == 0) {
		if (der_put_uint64(&b, u) == -1)
			abort();
		fz_same(&b, t);
	}
	buf_reset(&b);
	if (der_get_uint_bytes(t, 20, &p, &n) == 0) {
		if (n < 1 || n > 20 || der_put_uint_bytes(&b, DER_TAG_INTEGER, p, n) == -1)
			abort();
		fz_same(&b, t);
	}
	buf_reset(&b);
	if (der_get_enum(t, &v) == 0) {
		if (der_put_enum(&b, v) == -1)
			abort();
		fz_same(&b, t);
	}
	buf_reset(&b);
	if (der_get_bool(t, &v) == 0) {
		if (der_put_bool(&b, v) == -1)
			abort();
		fz_same(&b, t);
	}
	buf_reset(&b);
	if (der_get_time(t, &tm) == 0) {
		/* UTCTime, and GeneralizedTime from 2050, are RFC 5280's own forms */
		enum der_time_form f = t->tag == DER_TAG_UTCTIME || tm >= (time_t)2524608000LL
					   ? DER_TIME_RFC5280
					   : DER_TIME_GENERALIZED;

		if (der_put_time(&b, tm, f) == -1)
			abort();
		fz_same(&b, t);
	}
	(void)der_get_null(t);
	(void)der_get_oid(t, &p, &n);
	(void)der_get_octets(t, &p, &n);
	if (der_get_bits(t, &p, &n, &unused) == 0 && (unused < 0 || unused > 7 || n + 1 != t->len))
		abort();
	buf_free(&b);
}

/* Walks d, copying into out; 0 when every byte was DER (to the depth bound), else -1. */
static int
fz_walk(struct der_reader *d, struct buf *out, int depth)
{
	struct der_reader in;
	struct der_tlv t;
	long mark;
	int r, rc = 0;

	while ((r = der_next(d, &t)) == 0) {
		fz_getters(&t);
		if ((t.tag & 0x20) && depth < FZ_DEPTH) {
			if ((mark = der_begin(out, t.tag)) == -1)
				abort();
			der_reader_enter(&in, &t);
			if (fz_walk(&in, out, depth + 1) == -1)
				rc = -1;
			if (der_end(out, mark) == -1)
				abort();
		} else if (der_put(out, t.tag, t.val, t.len) == -1) {
			abort();
		}
	}
	return r == -1 ? -1 : rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct der_reader d;
	struct der_tlv t, u;
	struct buf out;

	der_reader_init(&d, data, size);
	buf_init(&out, 2 * size + 64);
	if (fz_walk(&d, &out, 0) == 0 &&
	    (out.len != size || (size > 0 && memcmp(out.data, data, size) != 0)))
		abort();
	/* peek and next agree; parse_one accepts exactly one whole TLV */
	der_reader_init(&d, data, size);
	if (der_peek(&d, &t) == 0 && (der_next(&d, &u) != 0 || u.start != t.start ||
				      u.total != t.total || der_reader_left(&d) != size - t.total))
		abort();
	if (der_parse_one(data, size, &t) == 0 && t.total != size)
		abort();
	buf_free(&out);
	return 0;
}
