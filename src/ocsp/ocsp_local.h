/*
 * ocsp internals shared by der.c, req.c, resp.c and ocsp.c.  Nothing outside src/ocsp/
 * includes this file.
 */
#ifndef SHOMEI_OCSP_LOCAL_H
#define SHOMEI_OCSP_LOCAL_H

#include <stddef.h>

#include "ocsp.h"

/* Identifier octets used here. */
#define OCSP_DER_BOOLEAN 0x01
#define OCSP_DER_INTEGER 0x02
#define OCSP_DER_BITSTRING 0x03
#define OCSP_DER_OCTETSTRING 0x04
#define OCSP_DER_NULL 0x05
#define OCSP_DER_OID 0x06
#define OCSP_DER_ENUMERATED 0x0a
#define OCSP_DER_GENTIME 0x18
#define OCSP_DER_SEQUENCE 0x30
#define OCSP_DER_CTX0 0xa0 /* [0] constructed */
#define OCSP_DER_CTX1 0xa1
#define OCSP_DER_CTX2 0xa2
#define OCSP_DER_IMPL0 0x80 /* [0] IMPLICIT NULL (good) */
#define OCSP_DER_IMPL2 0x82 /* [2] IMPLICIT NULL (unknown) */

/*
 * A bounds-checked DER reader: definite lengths only (at most 4 length octets), minimal
 * length encoding, single-octet identifiers; it never reads past the end it was given.
 */
struct ocsp_der {
	const unsigned char *p;
	const unsigned char *end;
};

struct ocsp_tlv {
	unsigned char tag;
	const unsigned char *start; /* identifier octet */
	const unsigned char *val;   /* contents */
	size_t len;		    /* contents length */
	size_t total;		    /* whole TLV */
};

void ocsp_der_init(struct ocsp_der *, const unsigned char *, size_t);
/* 0 and *t filled; 1 at the end of the input; -1 when the next TLV is malformed. */
int ocsp_der_next(struct ocsp_der *, struct ocsp_tlv *);
int ocsp_der_done(const struct ocsp_der *);

/* Appends identifier | length (content follows from the caller).  -1 when out is full. */
int ocsp_der_put_hdr(struct buf *out, unsigned char tag, size_t len);
/* Appends identifier | length | content. */
int ocsp_der_put(struct buf *out, unsigned char tag, const void *, size_t);
/* Length of identifier + length octets for a content of len octets. */
size_t ocsp_der_hdr_len(size_t len);
/* "YYYYMMDDHHMMSSZ" (15 octets, no NUL); -1 for years outside 0..9999. */
int ocsp_gentime(time_t, char out[16]);

#endif
