/*
 * Unit tests for src/util/der: the reader's every refusal (truncated, indefinite length,
 * non-minimal length, length beyond the end, high tag numbers, wrong tags, values that do not
 * fit), the typed getters, the writer's encodings checked byte by byte (lengths at each size
 * boundary, INTEGERs, times on both sides of 2050, back-patched nesting), and round trips of
 * the writer through the reader and through OpenSSL's own decoder.
 */
#include "testutil.h"

#include <limits.h>

#include <openssl/asn1.h>

#include "util/der.h"

#define BYTES(...) ((const unsigned char[]){__VA_ARGS__})
#define NB(...) sizeof((const unsigned char[]){__VA_ARGS__})
/* One TLV parsed from a literal; fails the test when it does not parse. */
#define TLV(t, ...) assert_int_equal(der_parse_one(BYTES(__VA_ARGS__), NB(__VA_ARGS__), (t)), 0)

static int
parses(const unsigned char *p, size_t n)
{
	struct der_tlv t;

	return der_parse_one(p, n, &t);
}

static void
test_reader_ok(void **state)
{
	static const unsigned char in[] = {0x30, 0x06, 0x02, 0x01, 0x05,
					   0x04, 0x01, 0xaa, 0x05, 0x00};
	struct der_reader d, s;
	struct der_tlv t;

	der_reader_init(&d, in, sizeof(in));
	assert_int_equal(der_peek(&d, &t), 0);
	assert_ptr_equal(d.p, in); /* peek does not move */
	assert_int_equal(der_enter(&d, DER_TAG_SEQUENCE, &s), 0);
	assert_int_equal(der_reader_left(&s), 6);
	assert_int_equal(der_expect(&s, DER_TAG_INTEGER, &t), 0);
	assert_int_equal(t.len, 1);
	assert_int_equal(t.val[0], 5);
	assert_int_equal(t.total, 3);
	assert_ptr_equal(t.start, in + 2);
	/* optional: absent when the tag differs (not consumed), present when it matches */
	assert_int_equal(der_optional(&s, DER_TAG_BOOLEAN, &t), 0);
	assert_int_equal(der_optional(&s, DER_TAG_OCTETSTRING, &t), 1);
	assert_int_equal(t.val[0], 0xaa);
	assert_true(der_reader_done(&s));
	assert_int_equal(der_optional(&s, DER_TAG_OCTETSTRING, &t), 0); /* end: absent */
	assert_int_equal(der_next(&s, &t), 1);
	assert_int_equal(der_skip(&s), -1);
	assert_int_equal(der_expect(&d, DER_TAG_SEQUENCE, &t), -1); /* wrong tag: stays */
	assert_int_equal(der_expect(&d, DER_TAG_NULL, &t), 0);
	assert_true(der_reader_done(&d));
	/* an empty input is the end, not an error; a NULL pointer with no bytes is fine */
	der_reader_init(&d, NULL, 0);
	assert_int_equal(der_next(&d, &t), 1);
	assert_int_equal(der_parse_one(NULL, 0, &t), -1);
}

static void
test_reader_lengths(void **state)
{
	unsigned char big[4 + 300];

	/* short form up to 127, long form from 128, minimal */
	assert_int_equal(parses(BYTES(0x04, 0x00), 2), 0);
	memset(big, 0, sizeof(big));
	big[0] = 0x04;
	big[1] = 0x7f;
	assert_int_equal(parses(big, 2 + 127), 0);
	big[1] = 0x81;
	big[2] = 0x80;
	assert_int_equal(parses(big, 3 + 128), 0);
	big[1] = 0x82;
	big[2] = 0x01;
	big[3] = 0x2c;
	assert_int_equal(parses(big, 4 + 300), 0);
	/* truncated: no length octet, missing long-form octets, contents short by one */
	assert_int_equal(parses(BYTES(0x04), 1), -1);
	assert_int_equal(parses(BYTES(0x04, 0x82, 0x01), 3), -1);
	assert_int_equal(parses(big, 4 + 299), -1);
	assert_int_equal(parses(BYTES(0x30, 0x03, 0x02, 0x01), 4), -1);
	/* indefinite length (BER 0x80) */
	assert_int_equal(parses(BYTES(0x30, 0x80, 0x05, 0x00, 0x00, 0x00), 6), -1);
	/* non-minimal long forms: for a length < 128, and with a leading zero octet */
	assert_int_equal(parses(BYTES(0x04, 0x81, 0x01, 0xaa), 4), -1);
	assert_int_equal(parses(BYTES(0x04, 0x81, 0x00), 3), -1);
	big[1] = 0x82;
	big[2] = 0x00;
	big[3] = 0x80;
	assert_int_equal(parses(big, 4 + 128), -1);
	/* more than four length octets, and four claiming far beyond the end */
	assert_int_equal(parses(BYTES(0x04, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00), 7), -1);
	assert_int_equal(parses(BYTES(0x04, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00), 7), -1);
	assert_int_equal(parses(BYTES(0x04, 0x84, 0x01, 0x00, 0x00, 0x00), 6), -1);
	/* high tag number form */
	assert_int_equal(parses(BYTES(0x1f, 0x81, 0x00, 0x00), 4), -1);
	assert_int_equal(parses(BYTES(0xbf, 0x20, 0x00), 3), -1);
	/* trailing bytes after the one TLV */
	assert_int_equal(parses(BYTES(0x05, 0x00, 0x00), 3), -1);
}

/* An inner TLV whose length runs past its parent's end (but not the input's) is refused. */
static void
test_reader_nested_overflow(void **state)
{
	static const unsigned char in[] = {0x30, 0x03, 0x04, 0x05, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
	static const unsigned char deep[] = {0x30, 0x04, 0x30, 0x02, 0x30, 0x05};
	struct der_reader d, s, s2;
	struct der_tlv t;

	der_reader_init(&d, in, sizeof(in));
	assert_int_equal(der_enter(&d, DER_TAG_SEQUENCE, &s), 0);
	assert_int_equal(der_next(&s, &t), -1);
	assert_int_equal(der_peek(&s, &t), -1);
	assert_int_equal(der_optional(&s, DER_TAG_OCTETSTRING, &t), -1);
	der_reader_init(&d, deep, sizeof(deep));
	assert_int_equal(der_enter(&d, DER_TAG_SEQUENCE, &s), 0);
	assert_int_equal(der_enter(&s, DER_TAG_SEQUENCE, &s2), 0);
	assert_int_equal(der_enter(&s2, DER_TAG_SEQUENCE, &s), -1);
}

static void
test_get_integers(void **state)
{
	struct der_tlv t;
	const unsigned char *p;
	int64_t i;
	uint64_t u;
	size_t n;
	int v;

	TLV(&t, 0x02, 0x01, 0x00);
	assert_int_equal(der_get_int64(&t, &i), 0);
	assert_int_equal(i, 0);
	TLV(&t, 0x02, 0x01, 0xff);
	assert_int_equal(der_get_int64(&t, &i), 0);
	assert_int_equal(i, -1);
	assert_int_equal(der_get_uint64(&t, &u), -1); /* negative */
	TLV(&t, 0x02, 0x02, 0x00, 0x80);
	assert_int_equal(der_get_int64(&t, &i), 0);
	assert_int_equal(i, 128);
	TLV(&t, 0x02, 0x08, 0x80, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(der_get_int64(&t, &i), 0);
	assert_true(i == INT64_MIN);
	TLV(&t, 0x02, 0x08, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
	assert_int_equal(der_get_int64(&t, &i), 0);
	assert_true(i == INT64_MAX);
	/* over-long for the target: nine octets for int64_t; uint64_t takes 00 + eight */
	TLV(&t, 0x02, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
	assert_int_equal(der_get_int64(&t, &i), -1);
	assert_int_equal(der_get_uint64(&t, &u), 0);
	assert_true(u == UINT64_MAX);
	TLV(&t, 0x02, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(der_get_uint64(&t, &u), -1);
	/* non-minimal: redundant 00 or ff; empty */
	TLV(&t, 0x02, 0x02, 0x00, 0x7f);
	assert_int_equal(der_get_int64(&t, &i), -1);
	assert_int_equal(der_int_check(&t, DER_TAG_INTEGER), -1);
	TLV(&t, 0x02, 0x02, 0xff, 0x80);
	assert_int_equal(der_get_int64(&t, &i), -1);
	TLV(&t, 0x02, 0x00);
	assert_int_equal(der_get_int64(&t, &i), -1);
	assert_int_equal(der_get_uint_bytes(&t, 20, &p, &n), -1);
	/* wrong tag */
	TLV(&t, 0x04, 0x01, 0x01);
	assert_int_equal(der_get_int64(&t, &i), -1);
	assert_int_equal(der_int_check(&t, DER_TAG_INTEGER), -1);
	/* serials: magnitude without the sign octet, bounded */
	TLV(&t, 0x02, 0x03, 0x00, 0x81, 0x02);
	assert_int_equal(der_get_uint_bytes(&t, 2, &p, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(p[0], 0x81);
	assert_int_equal(der_get_uint_bytes(&t, 1, &p, &n), -1);
	TLV(&t, 0x02, 0x01, 0x00);
	assert_int_equal(der_get_uint_bytes(&t, 1, &p, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(p[0], 0);
	TLV(&t, 0x02, 0x01, 0x80);
	assert_int_equal(der_get_uint_bytes(&t, 20, &p, &n), -1);
	/* ENUMERATED */
	TLV(&t, 0x0a, 0x01, 0x06);
	assert_int_equal(der_get_enum(&t, &v), 0);
	assert_int_equal(v, 6);
	TLV(&t, 0x0a, 0x01, 0xff);
	assert_int_equal(der_get_enum(&t, &v), -1);
	TLV(&t, 0x0a, 0x05, 0x00, 0x80, 0x00, 0x00, 0x00);
	assert_int_equal(der_get_enum(&t, &v), -1);
	TLV(&t, 0x02, 0x01, 0x06);
	assert_int_equal(der_get_enum(&t, &v), -1);
}

static void
test_get_others(void **state)
{
	struct der_tlv t;
	const unsigned char *p;
	size_t n;
	int v, unused;

	TLV(&t, 0x01, 0x01, 0xff);
	assert_int_equal(der_get_bool(&t, &v), 0);
	assert_int_equal(v, 1);
	TLV(&t, 0x01, 0x01, 0x00);
	assert_int_equal(der_get_bool(&t, &v), 0);
	assert_int_equal(v, 0);
	TLV(&t, 0x01, 0x01, 0x01); /* BER true, not DER */
	assert_int_equal(der_get_bool(&t, &v), -1);
	TLV(&t, 0x01, 0x02, 0xff, 0xff);
	assert_int_equal(der_get_bool(&t, &v), -1);
	TLV(&t, 0x05, 0x00);
	assert_int_equal(der_get_null(&t), 0);
	TLV(&t, 0x05, 0x01, 0x00);
	assert_int_equal(der_get_null(&t), -1);
	/* OIDs: 1.2.840.113549 fine; empty, unended, and a leading 0x80 arc octet refused */
	TLV(&t, 0x06, 0x06, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d);
	assert_int_equal(der_get_oid(&t, &p, &n), 0);
	assert_int_equal(n, 6);
	assert_true(der_oid_is(&t, BYTES(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d), 6));
	assert_false(der_oid_is(&t, BYTES(0x2a, 0x86, 0x48), 3));
	TLV(&t, 0x06, 0x00);
	assert_int_equal(der_get_oid(&t, NULL, NULL), -1);
	TLV(&t, 0x06, 0x02, 0x2a, 0x86);
	assert_int_equal(der_get_oid(&t, NULL, NULL), -1);
	TLV(&t, 0x06, 0x03, 0x2a, 0x80, 0x01);
	assert_int_equal(der_get_oid(&t, NULL, NULL), -1);
	TLV(&t, 0x06, 0x02, 0x80, 0x01);
	assert_int_equal(der_get_oid(&t, NULL, NULL), -1);
	TLV(&t, 0x04, 0x02, 0x2a, 0x03);
	assert_int_equal(der_get_oid(&t, NULL, NULL), -1);
	/* OCTET STRING */
	TLV(&t, 0x04, 0x02, 0xde, 0xad);
	assert_int_equal(der_get_octets(&t, &p, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(p[1], 0xad);
	TLV(&t, 0x03, 0x01, 0x00);
	assert_int_equal(der_get_octets(&t, &p, &n), -1);
	/* BIT STRING: unused bits 0..7 and zero; empty needs 0 unused */
	assert_int_equal(der_get_bits(&t, &p, &n, &unused), 0);
	assert_int_equal(n, 0);
	TLV(&t, 0x03, 0x02, 0x04, 0xf0);
	assert_int_equal(der_get_bits(&t, &p, &n, &unused), 0);
	assert_int_equal(unused, 4);
	assert_int_equal(n, 1);
	TLV(&t, 0x03, 0x02, 0x04, 0xf8);
	assert_int_equal(der_get_bits(&t, &p, &n, &unused), -1);
	TLV(&t, 0x03, 0x02, 0x08, 0x00);
	assert_int_equal(der_get_bits(&t, &p, &n, &unused), -1);
	TLV(&t, 0x03, 0x01, 0x01);
	assert_int_equal(der_get_bits(&t, &p, &n, &unused), -1);
	TLV(&t, 0x03, 0x00);
	assert_int_equal(der_get_bits(&t, &p, &n, &unused), -1);
}

/* A time TLV of tag over the string s, decoded; -1 when refused. */
static int
time_of(unsigned char tag, const char *s, time_t *out)
{
	unsigned char b[40];
	struct der_tlv t;
	size_t n = strlen(s);

	assert_true(n + 2 <= sizeof(b));
	b[0] = tag;
	b[1] = (unsigned char)n;
	memcpy(b + 2, s, n);
	assert_int_equal(der_parse_one(b, n + 2, &t), 0);
	return der_get_time(&t, out);
}

static void
test_get_time(void **state)
{
	time_t t;

	assert_int_equal(time_of(DER_TAG_UTCTIME, "700101000000Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(time_of(DER_TAG_UTCTIME, "491231235959Z", &t), 0);
	assert_int_equal(t, (time_t)2524607999LL);
	assert_int_equal(time_of(DER_TAG_UTCTIME, "500101000000Z", &t), 0);
	assert_int_equal(t, (time_t)-631152000LL);
	assert_int_equal(time_of(DER_TAG_GENTIME, "20500101000000Z", &t), 0);
	assert_int_equal(t, (time_t)2524608000LL);
	assert_int_equal(time_of(DER_TAG_GENTIME, "20240229120000Z", &t), 0);
	assert_int_equal(t, (time_t)1709208000LL);
	assert_int_equal(time_of(DER_TAG_GENTIME, "20000229000000Z", &t), 0);
	/* bad: no Z, offsets, fractions, wrong lengths, digits out of range, non-leap Feb 29 */
	assert_int_equal(time_of(DER_TAG_UTCTIME, "7001010000000", &t), -1);
	assert_int_equal(time_of(DER_TAG_UTCTIME, "7001010000+0100", &t), -1);
	assert_int_equal(time_of(DER_TAG_UTCTIME, "7001010000Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_GENTIME, "20240101000000.5Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_GENTIME, "240101000000Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_UTCTIME, "20240101000000Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_GENTIME, "20241301000000Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_GENTIME, "20240001000000Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_GENTIME, "20240431000000Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_GENTIME, "20230229000000Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_GENTIME, "21000229000000Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_GENTIME, "20240101240000Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_GENTIME, "20240101006000Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_GENTIME, "20240101000060Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_GENTIME, "2024010100000AZ", &t), -1);
	assert_int_equal(time_of(DER_TAG_GENTIME, "2024 101000000Z", &t), -1);
	assert_int_equal(time_of(DER_TAG_OCTETSTRING, "20240101000000Z", &t), -1);
}

static void
expect_bytes(const struct buf *b, const unsigned char *want, size_t n)
{
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, want, n);
}

static void
test_writer_basic(void **state)
{
	unsigned char h[DER_HDR_MAX];
	struct buf b;

	assert_int_equal(der_hdr(h, 0x30, 0), 2);
	assert_int_equal(der_hdr(h, 0x30, 127), 2);
	assert_int_equal(der_hdr(h, 0x30, 128), 3);
	assert_int_equal(h[1], 0x81);
	assert_int_equal(der_hdr(h, 0x30, 255), 3);
	assert_int_equal(der_hdr(h, 0x30, 256), 4);
	assert_int_equal(der_hdr(h, 0x30, 65535), 4);
	assert_int_equal(der_hdr(h, 0x30, 65536), 5);
	assert_int_equal(der_hdr(h, 0x30, 49000000), 6);
	assert_memory_equal(h, BYTES(0x30, 0x84, 0x02, 0xeb, 0xae, 0x40), 6);
	assert_int_equal(der_tlv_size(128), 131);

	buf_init(&b, 1024);
	assert_int_equal(der_put(&b, DER_TAG_OCTETSTRING, "ab", 2), 0);
	assert_int_equal(der_put(&b, DER_TAG_NULL, NULL, 0), 0);
	assert_int_equal(der_put_bool(&b, 1), 0);
	assert_int_equal(der_put_enum(&b, 6), 0);
	expect_bytes(
	    &b, BYTES(0x04, 0x02, 'a', 'b', 0x05, 0x00, 0x01, 0x01, 0xff, 0x0a, 0x01, 0x06), 12);
	buf_reset(&b);
	/* INTEGERs: zero, sign octets, minimal negatives, magnitudes with leading zeros */
	assert_int_equal(der_put_int64(&b, 0), 0);
	assert_int_equal(der_put_int64(&b, 127), 0);
	assert_int_equal(der_put_int64(&b, 128), 0);
	assert_int_equal(der_put_int64(&b, -1), 0);
	assert_int_equal(der_put_int64(&b, -129), 0);
	expect_bytes(&b,
		     BYTES(0x02, 0x01, 0x00, 0x02, 0x01, 0x7f, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01,
			   0xff, 0x02, 0x02, 0xff, 0x7f),
		     17);
	buf_reset(&b);
	assert_int_equal(der_put_uint64(&b, UINT64_MAX), 0);
	assert_int_equal(der_put_uint_bytes(&b, DER_TAG_INTEGER, BYTES(0x00, 0x00, 0x01), 3), 0);
	assert_int_equal(der_put_uint_bytes(&b, DER_TAG_IMPL(0), NULL, 0), 0);
	expect_bytes(&b,
		     BYTES(0x02, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
			   0x01, 0x01, 0x80, 0x01, 0x00),
		     17);
	/* a bounded buffer refuses what does not fit */
	buf_free(&b);
	buf_init(&b, 4);
	assert_int_equal(der_put(&b, DER_TAG_OCTETSTRING, "abcd", 4), -1);
	buf_free(&b);
}

static void
test_writer_time(void **state)
{
	struct buf b;
	struct der_tlv t;
	time_t back;
	char g[16];

	buf_init(&b, 1024);
	/* RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 */
	assert_int_equal(der_put_time(&b, (time_t)2524607999LL, DER_TIME_RFC5280), 0);
	expect_bytes(&b,
		     (const unsigned char *)"\x17\x0d"
					    "491231235959Z",
		     15);
	buf_reset(&b);
	assert_int_equal(der_put_time(&b, (time_t)2524608000LL, DER_TIME_RFC5280), 0);
	expect_bytes(&b,
		     (const unsigned char *)"\x18\x0f"
					    "20500101000000Z",
		     17);
	buf_reset(&b);
	assert_int_equal(der_put_time(&b, 0, DER_TIME_GENERALIZED), 0);
	expect_bytes(&b,
		     (const unsigned char *)"\x18\x0f"
					    "19700101000000Z",
		     17);
	buf_reset(&b);
	/* before 1950 UTCTime cannot say it; after 9999 neither can */
	assert_int_equal(der_put_time(&b, (time_t)-631152001LL, DER_TIME_RFC5280), -1);
	assert_int_equal(der_put_time(&b, (time_t)-631152001LL, DER_TIME_GENERALIZED), 0);
	buf_reset(&b);
	if (sizeof(time_t) >= 8) {
		assert_int_equal(der_put_time(&b, (time_t)253402300800LL, DER_TIME_RFC5280), -1);
		assert_int_equal(der_gentime((time_t)253402300800LL, g), -1);
		assert_int_equal(der_gentime((time_t)253402300799LL, g), 0);
		assert_string_equal(g, "99991231235959Z");
	}
	/* round trips through the reader, every few days over two centuries */
	for (back = (time_t)-631152000LL; back < (time_t)4102444800LL; back += 86400 * 7 + 3601) {
		time_t got = 0;

		buf_reset(&b);
		assert_int_equal(der_put_time(&b, back, DER_TIME_RFC5280), 0);
		assert_int_equal(der_parse_one(b.data, b.len, &t), 0);
		assert_int_equal(t.tag, back < (time_t)2524608000LL ? 0x17 : 0x18);
		assert_int_equal(der_get_time(&t, &got), 0);
		assert_int_equal(got, back);
	}
	buf_free(&b);
}

/* Nested back-patched lengths: short and long forms, moved contents intact. */
static void
test_writer_nested(void **state)
{
	unsigned char big[300], fixed[8];
	struct der_reader d, s;
	struct der_tlv t;
	struct buf b, f;
	long m1, m2, m3;
	size_t sz;

	memset(big, 0x5a, sizeof(big));
	buf_init(&b, 4096);
	m1 = der_begin(&b, DER_TAG_SEQUENCE);
	assert_true(m1 >= 0);
	m2 = der_begin(&b, DER_TAG_CTX(0));
	assert_int_equal(der_put(&b, DER_TAG_OCTETSTRING, big, sizeof(big)), 0);
	assert_int_equal(der_end(&b, m2), 0);
	m3 = der_begin(&b, DER_TAG_SET);
	assert_int_equal(der_end(&b, m3), 0);
	assert_int_equal(der_put_int64(&b, 7), 0);
	assert_int_equal(der_end(&b, m1), 0);
	sz = der_tlv_size(der_tlv_size(der_tlv_size(300)) + 2 + 3);
	assert_int_equal(b.len, sz);
	der_reader_init(&d, b.data, b.len);
	assert_int_equal(der_enter(&d, DER_TAG_SEQUENCE, &s), 0);
	assert_true(der_reader_done(&d));
	assert_int_equal(der_enter(&s, DER_TAG_CTX(0), &d), 0);
	assert_int_equal(der_expect(&d, DER_TAG_OCTETSTRING, &t), 0);
	assert_int_equal(t.len, 300);
	assert_memory_equal(t.val, big, 300);
	assert_int_equal(der_expect(&s, DER_TAG_SET, &t), 0);
	assert_int_equal(t.len, 0);
	assert_int_equal(der_expect(&s, DER_TAG_INTEGER, &t), 0);
	assert_true(der_reader_done(&s));
	/* the same through OpenSSL's decoder */
	{
		const unsigned char *q = b.data;
		long len;
		int tag, cls;

		assert_int_equal(ASN1_get_object(&q, &len, &tag, &cls, (long)b.len) & 0x80, 0);
		assert_int_equal(tag, V_ASN1_SEQUENCE);
		assert_int_equal((size_t)len + (size_t)(q - b.data), b.len);
	}
	buf_free(&b);
	/* a caller-memory buffer: the short form is patched in place */
	buf_init_fixed(&f, fixed, sizeof(fixed));
	m1 = der_begin(&f, DER_TAG_SEQUENCE);
	assert_int_equal(der_put(&f, DER_TAG_NULL, NULL, 0), 0);
	assert_int_equal(der_end(&f, m1), 0);
	expect_bytes(&f, BYTES(0x30, 0x02, 0x05, 0x00), 4);
	/* a bounded buffer with no room for the long form's extra octets refuses at der_end */
	buf_init(&b, 2 + 131);
	m1 = der_begin(&b, DER_TAG_SEQUENCE);
	assert_int_equal(der_put(&b, DER_TAG_OCTETSTRING, big, 128), 0);
	assert_int_equal(der_end(&b, m1), -1);
	buf_free(&b);
	/* lengths beyond four octets are refused, never truncated */
	buf_init(&b, 64);
	if (sizeof(size_t) > 4)
		assert_int_equal(der_put_hdr(&b, DER_TAG_OCTETSTRING, (size_t)1 << 32), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
test_cmp(void **state)
{
	assert_true(der_cmp(BYTES(0x01), 1, BYTES(0x02), 1) < 0);
	assert_true(der_cmp(BYTES(0x01, 0x00), 2, BYTES(0x01), 1) == 0);
	assert_true(der_cmp(BYTES(0x01, 0x01), 2, BYTES(0x01), 1) > 0);
	assert_true(der_cmp(BYTES(0x01), 1, BYTES(0x01, 0x01), 2) < 0);
	assert_true(der_cmp(NULL, 0, NULL, 0) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reader_ok),
	    cmocka_unit_test(test_reader_lengths),
	    cmocka_unit_test(test_reader_nested_overflow),
	    cmocka_unit_test(test_get_integers),
	    cmocka_unit_test(test_get_others),
	    cmocka_unit_test(test_get_time),
	    cmocka_unit_test(test_writer_basic),
	    cmocka_unit_test(test_writer_time),
	    cmocka_unit_test(test_writer_nested),
	    cmocka_unit_test(test_cmp),
	};

	log_init("test_der", 0);
	return cmocka_run_group_tests_name("der", tests, NULL, NULL);
}
