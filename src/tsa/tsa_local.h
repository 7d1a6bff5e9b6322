/*
 * tsa internals shared by tsa_der.c and tsa.c (and the unit tests).  Nothing outside src/tsa/ and
 * tests/unit/test_tsa.c includes this file.
 */
#ifndef SHOMEI_TSA_LOCAL_H
#define SHOMEI_TSA_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* Identifier octets used here. */
#define DER_BOOLEAN 0x01
#define DER_INTEGER 0x02
#define DER_BITSTRING 0x03
#define DER_OCTETSTRING 0x04
#define DER_NULL 0x05
#define DER_OID 0x06
#define DER_UTF8STRING 0x0c
#define DER_GENTIME 0x18
#define DER_SEQUENCE 0x30
#define DER_SET 0x31
#define DER_CTX0 0x80	   /* [0] IMPLICIT, primitive */
#define DER_CTX0_CONS 0xa0 /* [0], constructed */
#define DER_CTX4_CONS 0xa4 /* [4], constructed (GeneralName directoryName) */

/* A bounds-checked reader: definite minimal lengths, single-octet tags only. */
struct tsa_der {
	const unsigned char *p;	  /* next unread byte */
	const unsigned char *end; /* one past the last byte */
};

struct tsa_tlv {
	unsigned char tag;	    /* the identifier octet */
	const unsigned char *start; /* the identifier octet, in the input */
	const unsigned char *val;   /* the contents */
	size_t len;		    /* contents length */
	size_t total;		    /* identifier + length octets + contents */
};

void tsa_der_init(struct tsa_der *, const unsigned char *, size_t);
/* 0 and *t filled; 1 at the end of the input; -1 when the next TLV is malformed. */
int tsa_der_next(struct tsa_der *, struct tsa_tlv *);
int tsa_der_done(const struct tsa_der *);

/* Identifier + DER length octets for a contents length (at most 6 bytes); the count. */
size_t tsa_der_hdr(unsigned char out[6], unsigned char tag, size_t len);
/* Length of a whole TLV whose contents are len bytes. */
size_t tsa_der_tlvlen(size_t len);
/* Appenders: -1 when the buffer's maximum would be exceeded. */
int tsa_der_put_hdr(struct buf *, unsigned char tag, size_t len);
int tsa_der_put(struct buf *, unsigned char tag, const void *, size_t);
int tsa_der_put_uint(struct buf *, uint64_t); /* a positive INTEGER TLV */
/* X.690 11.6 order of two encodings (for DER SET OF): <0, 0, >0. */
int tsa_der_cmp(const unsigned char *, size_t, const unsigned char *, size_t);

#endif
