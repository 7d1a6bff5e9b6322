/*
 * der: the one bounded DER reader and writer of shomei (x509, ca, ocsp, tsa, signer).
 *
 * The reader is a cursor over caller-owned bytes with an end.  It splits identifier | length |
 * contents, accepts single-octet identifiers and definite, minimal lengths of at most four
 * octets only (X.690 10.1), never reads a byte past its end and never allocates; a TLV points
 * into the input.  The typed getters check one TLV's contents as DER requires (minimal
 * INTEGER, BOOLEAN 00/FF, well-formed OID arcs, BIT STRING unused bits, UTCTime and
 * GeneralizedTime as RFC 5280 4.1.2.5 profiles them) and fail with -1, never crash.
 *
 * The writer appends to a struct buf (bounded by its max): a TLV at once when the length is
 * known, or der_begin()/der_end() around contents written later (the length is back-patched).
 */
#ifndef SHOMEI_DER_H
#define SHOMEI_DER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

/* Identifier octets (universal class; context tags below). */
#define DER_TAG_BOOLEAN 0x01
#define DER_TAG_INTEGER 0x02
#define DER_TAG_BITSTRING 0x03
#define DER_TAG_OCTETSTRING 0x04
#define DER_TAG_NULL 0x05
#define DER_TAG_OID 0x06
#define DER_TAG_ENUMERATED 0x0a
#define DER_TAG_UTF8STRING 0x0c
#define DER_TAG_UTCTIME 0x17
#define DER_TAG_GENTIME 0x18
#define DER_TAG_SEQUENCE 0x30
#define DER_TAG_SET 0x31
#define DER_TAG_CTX(n) (0xa0 | (n))  /* [n] constructed (EXPLICIT, or IMPLICIT of a SEQUENCE) */
#define DER_TAG_IMPL(n) (0x80 | (n)) /* [n] IMPLICIT, primitive */

/* Longest identifier + length octets the writer produces (tag, 0x84, four octets). */
#define DER_HDR_MAX 6

struct der_reader {
	const unsigned char *p;	  /* next unread byte */
	const unsigned char *end; /* one past the last byte */
};

struct der_tlv {
	unsigned char tag;	    /* the identifier octet */
	const unsigned char *start; /* the identifier octet, in the input */
	const unsigned char *val;   /* the contents */
	size_t len;		    /* contents length */
	size_t total;		    /* identifier + length octets + contents */
};

/* Reader over p[0..len-1] (p may be NULL when len is 0). */
void der_reader_init(struct der_reader *, const void *p, size_t len);
/* Reader over a TLV's contents. */
void der_reader_enter(struct der_reader *, const struct der_tlv *);
/* 1 when every byte was read. */
int der_reader_done(const struct der_reader *);
/* Bytes not read yet. */
size_t der_reader_left(const struct der_reader *);

/* The next TLV: 0 and *t filled; 1 at the end of the input; -1 when it is malformed. */
int der_next(struct der_reader *, struct der_tlv *);
/* Like der_next() but leaves the cursor where it is. */
int der_peek(const struct der_reader *, struct der_tlv *);
/* The next TLV, which must be there and carry tag: 0, else -1 (the cursor stays). */
int der_expect(struct der_reader *, unsigned char tag, struct der_tlv *);
/*
 * An OPTIONAL or DEFAULT field: 1 and *t filled when the next TLV carries tag (consumed); 0
 * when the input ends or the next TLV has another tag (not consumed); -1 when malformed.
 */
int der_optional(struct der_reader *, unsigned char tag, struct der_tlv *);
/* Enters the next TLV, which must carry tag (a SEQUENCE, SET or [n]): 0, else -1. */
int der_enter(struct der_reader *, unsigned char tag, struct der_reader *inner);
/* Skips the next TLV whatever its tag: 0, else -1 (end of input or malformed). */
int der_skip(struct der_reader *);
/* Exactly one TLV spans p[0..len-1]: 0 and *t filled, else -1 (trailing bytes included). */
int der_parse_one(const void *p, size_t len, struct der_tlv *);

/*
 * Typed getters: each checks one TLV's tag (where given) and contents and returns 0, or -1
 * when the TLV is not a DER value of that type or does not fit the target.
 */
/* INTEGER (tag given, e.g. DER_TAG_INTEGER or an IMPLICIT one): minimal two's complement. */
int der_int_check(const struct der_tlv *, unsigned char tag);
/* INTEGER that fits int64_t. */
int der_get_int64(const struct der_tlv *, int64_t *);
/* Non-negative INTEGER that fits uint64_t. */
int der_get_uint64(const struct der_tlv *, uint64_t *);
/*
 * Non-negative INTEGER as a big-endian magnitude without the sign octet (a serial number): *p
 * points into the input, 1 <= *n <= max.  Zero is one octet 00.
 */
int der_get_uint_bytes(const struct der_tlv *, size_t max, const unsigned char **p, size_t *n);
/* ENUMERATED that fits 0..INT_MAX. */
int der_get_enum(const struct der_tlv *, int *);
/* BOOLEAN: one octet, 00 or FF (X.690 11.1). */
int der_get_bool(const struct der_tlv *, int *);
/* NULL: no contents. */
int der_get_null(const struct der_tlv *);
/* OBJECT IDENTIFIER: non-empty, each arc minimal and ended (X.690 8.19.2); p, n may be NULL. */
int der_get_oid(const struct der_tlv *, const unsigned char **p, size_t *n);
/* 1 when t is the OID whose contents are oid[0..n-1]. */
int der_oid_is(const struct der_tlv *, const unsigned char *oid, size_t n);
/* OCTET STRING contents. */
int der_get_octets(const struct der_tlv *, const unsigned char **p, size_t *n);
/* BIT STRING: *unused 0..7 (0 when empty), unused bits zero (X.690 11.2.1). */
int der_get_bits(const struct der_tlv *, const unsigned char **p, size_t *n, int *unused);
/*
 * UTCTime "YYMMDDHHMMSSZ" (YY < 50 is 20YY, RFC 5280 4.1.2.5.1) or GeneralizedTime
 * "YYYYMMDDHHMMSSZ" (no fractions, 4.1.2.5.2), each field in range, to seconds since 1970.
 */
int der_get_time(const struct der_tlv *, time_t *);

/* Writer. */
/* Identifier + DER length octets for a contents length (at most DER_HDR_MAX); the count. */
size_t der_hdr(unsigned char out[DER_HDR_MAX], unsigned char tag, size_t len);
/* Length of a whole TLV whose contents are len bytes. */
size_t der_tlv_size(size_t len);
/* Appenders: -1 when the buffer's maximum would be exceeded (or len over 4 octets). */
int der_put_hdr(struct buf *, unsigned char tag, size_t len);
int der_put(struct buf *, unsigned char tag, const void *, size_t);
/* INTEGER from a non-negative big-endian magnitude (leading zeros dropped; n 0 is zero). */
int der_put_uint_bytes(struct buf *, unsigned char tag, const unsigned char *, size_t);
int der_put_uint64(struct buf *, uint64_t);
int der_put_int64(struct buf *, int64_t);
int der_put_bool(struct buf *, int);
int der_put_enum(struct buf *, int);

/* Time forms: RFC 5280 4.1.2.5 (UTCTime through 2049, GeneralizedTime from 2050) or always
 * GeneralizedTime (OCSP, TSA, invalidityDate). */
enum der_time_form {
	DER_TIME_RFC5280,
	DER_TIME_GENERALIZED,
};
/* -1 for times the form cannot carry (RFC 5280: before 1950; both: after 9999). */
int der_put_time(struct buf *, time_t, enum der_time_form);
/* "YYYYMMDDHHMMSSZ" (15 octets + NUL); -1 for years outside 0..9999. */
int der_gentime(time_t, char out[16]);

/*
 * Nested contents whose length is not known ahead: der_begin() writes tag and a one-octet
 * length placeholder and returns a mark (or -1 when full); der_end() patches the length,
 * moving the contents when the long form is needed.  Marks nest like parentheses.
 */
long der_begin(struct buf *, unsigned char tag);
int der_end(struct buf *, long mark);

/* X.690 11.6 order of two encodings (for DER SET OF): <0, 0, >0. */
int der_cmp(const unsigned char *, size_t, const unsigned char *, size_t);

#endif
