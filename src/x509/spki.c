/*
 * spki: key checks read straight from SubjectPublicKeyInfo bytes.  OpenSSL 3.0 decodes a key
 * through its provider decoders (~110 us); lint runs on every issuance and only needs the
 * algorithm, the curve or modulus size and the RSA exponent, which DER gives directly.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "util/der.h"
#include "x509.h"

/* Reads one TLV of the expected universal tag (util/der); advances *p.  -1 when malformed. */
static int
spki_tlv(const unsigned char **p, long *left, unsigned char want_tag, const unsigned char **val,
	 long *len)
{
	struct der_reader d;
	struct der_tlv t;

	if (*left <= 0)
		return -1;
	der_reader_init(&d, *p, (size_t)*left);
	if (der_expect(&d, want_tag, &t) == -1)
		return -1;
	*val = t.val;
	*len = (long)t.len;
	*left -= (long)t.total;
	*p = t.start + t.total;
	return 0;
}

/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1) */
static int
spki_rsa(const unsigned char *pk, int pklen, struct x509_keyinfo *ki, struct err *e)
{
	const unsigned char *p = pk, *seq, *n, *ex;
	long left = pklen, seqlen, nlen, exlen, inner;
	int bits, i;

	if (spki_tlv(&p, &left, DER_TAG_SEQUENCE, &seq, &seqlen) == -1 || left != 0)
		return err_set(e, ERR_REFUSED, "key: malformed RSA public key");
	p = seq;
	inner = seqlen;
	if (spki_tlv(&p, &inner, DER_TAG_INTEGER, &n, &nlen) == -1 ||
	    spki_tlv(&p, &inner, DER_TAG_INTEGER, &ex, &exlen) == -1 || inner != 0 || nlen < 1 ||
	    exlen < 1 || (n[0] & 0x80) || (ex[0] & 0x80))
		return err_set(e, ERR_REFUSED, "key: malformed RSA public key");
	while (nlen > 1 && n[0] == 0)
		n++, nlen--;
	bits = (int)(nlen - 1) * 8;
	for (i = 7; i >= 0; i--)
		if (n[0] & (1u << i)) {
			bits += i + 1;
			break;
		}
	while (exlen > 1 && ex[0] == 0)
		ex++, exlen--;
	if (bits < 2048)
		return err_set(e, ERR_REFUSED, "key: RSA key of %d bits is too weak (minimum 2048)",
			       bits);
	if (bits > 8192)
		return err_set(e, ERR_REFUSED,
			       "key: RSA key of %d bits is too large (maximum 8192)", bits);
	/* an even, tiny or huge exponent is not acceptable (same rule as x509_key_check) */
	if (!(ex[exlen - 1] & 1) || (exlen == 1 && ex[0] <= 1) || exlen > 32)
		return err_set(e, ERR_REFUSED, "key: RSA public exponent is not acceptable");
	ki->type = EVP_PKEY_RSA;
	ki->bits = bits;
	/* 65537 = 0x010001: anything shorter, or as long but smaller, is below it */
	ki->small_exponent = exlen < 3 || (exlen == 3 && memcmp(ex, "\x01\x00\x01", 3) < 0);
	return 0;
}

int
x509_spki_check(const X509_PUBKEY *spki, struct x509_keyinfo *ki, struct err *e)
{
	ASN1_OBJECT *aobj = NULL;
	const ASN1_OBJECT *ao;
	const unsigned char *pk;
	const void *pval;
	X509_ALGOR *palg;
	int pklen, ptype, nid, curve, coord;
	char name[80];

	memset(ki, 0, sizeof(*ki));
	if (spki == NULL ||
	    !X509_PUBKEY_get0_param(&aobj, &pk, &pklen, &palg, (X509_PUBKEY *)spki) || pk == NULL ||
	    pklen <= 0)
		return err_set(e, ERR_REFUSED, "key: missing or undecodable public key");
	X509_ALGOR_get0(&ao, &ptype, &pval, palg);
	nid = OBJ_obj2nid(aobj);
	switch (nid) {
	case NID_rsaEncryption:
		if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
			return err_set(e, ERR_REFUSED,
				       "key: RFC 3279 2.3.1: RSA parameters must "
				       "be NULL");
		return spki_rsa(pk, pklen, ki, e);
	case NID_X9_62_id_ecPublicKey:
		if (ptype != V_ASN1_OBJECT)
			return err_set(e, ERR_REFUSED, "key: EC key without a named curve");
		curve = OBJ_obj2nid(pval);
		switch (curve) {
		case NID_X9_62_prime256v1:
			coord = 32;
			ki->bits = 256;
			break;
		case NID_secp384r1:
			coord = 48;
			ki->bits = 384;
			break;
		case NID_secp521r1:
			coord = 66;
			ki->bits = 521;
			break;
		default:
			if (curve != NID_undef)
				OPENSSL_strlcpy(name, OBJ_nid2sn(curve), sizeof(name));
			else if (OBJ_obj2txt(name, sizeof(name), pval, 1) <= 0)
				OPENSSL_strlcpy(name, "unknown", sizeof(name));
			return err_set(e, ERR_REFUSED,
				       "key: curve %s is not approved (P-256, P-384, P-521)", name);
		}
		/* SEC 1 2.3.3: uncompressed 04||X||Y, or compressed 02/03||X */
		if (!((pk[0] == 0x04 && pklen == 1 + 2 * coord) ||
		      ((pk[0] == 0x02 || pk[0] == 0x03) && pklen == 1 + coord)))
			return err_set(e, ERR_REFUSED, "key: malformed EC point");
		ki->type = EVP_PKEY_EC;
		return 0;
	case NID_ED25519:
		if (ptype != V_ASN1_UNDEF || pklen != 32)
			return err_set(e, ERR_REFUSED, "key: malformed Ed25519 key");
		ki->type = EVP_PKEY_ED25519;
		ki->bits = 256;
		return 0;
	default:
		if (OBJ_obj2txt(name, sizeof(name), aobj, 0) <= 0)
			OPENSSL_strlcpy(name, "unknown", sizeof(name));
		return err_set(e, ERR_REFUSED,
			       "key: algorithm %s is not accepted (RSA, EC P-256/P-384/P-521, "
			       "Ed25519)",
			       name);
	}
}
