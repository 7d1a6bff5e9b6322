/*
 * req: OCSPRequest parsing by a DER walk (RFC 6960 4.1.1) and the base64 of GET requests.
 * Nothing is decoded through OpenSSL and nothing is allocated: the result points into the
 * caller's buffer.  Every refusal names the rule.
 */
#include <string.h>

#include "ocsp_local.h"

/* OID contents of the CertID hash algorithms, indexed by enum ocsp_hash. */
static const struct {
	unsigned char oid[9];
	size_t oidlen;
	size_t mdlen;
} ocsp_hash_oids[OCSP_HASH__MAX] = {
    [OCSP_HASH_SHA1] = {{0x2b, 0x0e, 0x03, 0x02, 0x1a}, 5, 20},
    [OCSP_HASH_SHA256] = {{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}, 9, 32},
    [OCSP_HASH_SHA384] = {{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02}, 9, 48},
    [OCSP_HASH_SHA512] = {{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03}, 9, 64},
};

/* id-pkix-ocsp-nonce 1.3.6.1.5.5.7.48.1.2 */
static const unsigned char ocsp_nonce_oid[] = {0x2b, 0x06, 0x01, 0x05, 0x05,
					       0x07, 0x30, 0x01, 0x02};

/* AlgorithmIdentifier of a CertID: a known hash with absent or NULL parameters, or unknown. */
static int
ocsp_req_hashalg(const struct der_tlv *alg, enum ocsp_hash *hash, struct err *e)
{
	struct der_reader d;
	struct der_tlv oid, params;
	int rc = -1, r, i;

	*hash = OCSP_HASH_UNKNOWN;
	der_reader_init(&d, alg->val, alg->len);
	if (der_next(&d, &oid) != 0 || oid.tag != DER_TAG_OID || oid.len == 0) {
		err_set(e, ERR_REFUSED,
			"ocsp: RFC 5280 4.1.1.2: CertID hashAlgorithm lacks an OID");
		goto out;
	}
	r = der_next(&d, &params);
	if (r == -1 || (r == 0 && !der_reader_done(&d))) {
		err_set(e, ERR_REFUSED,
			"ocsp: RFC 5280 4.1.1.2: malformed CertID hashAlgorithm parameters");
		goto out;
	}
	for (i = 0; i < OCSP_HASH__MAX; i++) {
		if (oid.len != ocsp_hash_oids[i].oidlen ||
		    memcmp(oid.val, ocsp_hash_oids[i].oid, oid.len) != 0)
			continue;
		/* RFC 5754 2: parameters absent or NULL; anything else is not this algorithm */
		if (r == 1 || (params.tag == DER_TAG_NULL && params.len == 0))
			*hash = (enum ocsp_hash)i;
		break;
	}
	rc = 0;
out:
	return rc;
}

/* CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber } */
static int
ocsp_req_certid(const struct der_tlv *cid, struct ocsp_certid *id, struct err *e)
{
	struct der_reader d;
	struct der_tlv alg, nh, kh, sn;
	int rc = -1;

	memset(id, 0, sizeof(*id));
	id->der = cid->start;
	id->derlen = cid->total;
	der_reader_init(&d, cid->val, cid->len);
	if (der_expect(&d, DER_TAG_SEQUENCE, &alg) == -1 ||
	    der_expect(&d, DER_TAG_OCTETSTRING, &nh) == -1 ||
	    der_expect(&d, DER_TAG_OCTETSTRING, &kh) == -1 ||
	    der_expect(&d, DER_TAG_INTEGER, &sn) == -1 || !der_reader_done(&d)) {
		err_set(e, ERR_REFUSED,
			"ocsp: RFC 6960 4.1.1: CertID must be hashAlgorithm, issuerNameHash, "
			"issuerKeyHash, serialNumber");
		goto out;
	}
	if (ocsp_req_hashalg(&alg, &id->hash, e) == -1)
		goto out;
	/* X.690 8.3.2: an INTEGER has at least one octet and no redundant leading octet */
	if (der_int_check(&sn, DER_TAG_INTEGER) == -1) {
		err_set(e, ERR_REFUSED,
			"ocsp: X.690 8.3.2: CertID serialNumber is not minimal DER");
		goto out;
	}
	if (id->hash != OCSP_HASH_UNKNOWN && (nh.len != ocsp_hash_oids[id->hash].mdlen ||
					      kh.len != ocsp_hash_oids[id->hash].mdlen)) {
		err_set(e, ERR_REFUSED,
			"ocsp: RFC 6960 4.1.1: CertID hash lengths do not match hashAlgorithm");
		goto out;
	}
	id->name_hash = nh.val;
	id->name_hash_len = nh.len;
	id->key_hash = kh.val;
	id->key_hash_len = kh.len;
	id->serial = sn.val;
	id->serial_len = sn.len;
	rc = 0;
out:
	return rc;
}

/*
 * Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, inside an explicit tag.  With nonce
 * NULL (singleRequestExtensions) the nonce is not expected and counts as any other.
 */
static int
ocsp_req_extensions(const struct der_tlv *tagged, const unsigned char **nonce, size_t *noncelen,
		    struct err *e)
{
	struct der_reader d, exts, ext;
	struct der_tlv seq, x, oid, t, val;
	int rc = -1, r, critical;

	der_reader_init(&d, tagged->val, tagged->len);
	if (der_next(&d, &seq) != 0 || seq.tag != DER_TAG_SEQUENCE || seq.len == 0 ||
	    !der_reader_done(&d)) {
		err_set(e, ERR_REFUSED,
			"ocsp: RFC 5280 4.1: Extensions must be a non-empty SEQUENCE");
		goto out;
	}
	der_reader_init(&exts, seq.val, seq.len);
	while ((r = der_next(&exts, &x)) == 0) {
		critical = 0;
		der_reader_init(&ext, x.val, x.len);
		if (x.tag != DER_TAG_SEQUENCE || der_next(&ext, &oid) != 0 ||
		    oid.tag != DER_TAG_OID || oid.len == 0 || der_next(&ext, &t) != 0)
			goto bad;
		if (t.tag == DER_TAG_BOOLEAN) {
			if (t.len != 1)
				goto bad;
			critical = t.val[0] != 0;
			if (der_next(&ext, &t) != 0)
				goto bad;
		}
		val = t;
		if (val.tag != DER_TAG_OCTETSTRING || !der_reader_done(&ext))
			goto bad;
		if (oid.len == sizeof(ocsp_nonce_oid) &&
		    memcmp(oid.val, ocsp_nonce_oid, sizeof(ocsp_nonce_oid)) == 0 && nonce != NULL) {
			if (*nonce != NULL) {
				err_set(e, ERR_REFUSED,
					"ocsp: RFC 5280 4.2: nonce extension repeats");
				goto out;
			}
			if (val.len == 0 || val.len > OCSP_NONCE_MAX) {
				err_set(e, ERR_REFUSED,
					"ocsp: RFC 8954 2.1: nonce of %zu octets (1..%d accepted)",
					val.len, OCSP_NONCE_MAX);
				goto out;
			}
			*nonce = x.start;
			*noncelen = x.total;
		} else if (critical) {
			err_set(e, ERR_REFUSED,
				"ocsp: RFC 6960 4.4: unsupported critical request extension");
			goto out;
		}
	}
	if (r == -1)
		goto bad;
	rc = 0;
	goto out;
bad:
	err_set(e, ERR_REFUSED,
		"ocsp: RFC 5280 4.1: Extension must be extnID, [critical], extnValue OCTET STRING");
out:
	return rc;
}

/* Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT OPTIONAL } */
static int
ocsp_req_one(const struct der_tlv *rq, struct ocsp_certid *id, struct err *e)
{
	struct der_reader d;
	struct der_tlv cid, t;
	int rc = -1, r;

	der_reader_init(&d, rq->val, rq->len);
	if (rq->tag != DER_TAG_SEQUENCE || der_next(&d, &cid) != 0 || cid.tag != DER_TAG_SEQUENCE) {
		err_set(e, ERR_REFUSED, "ocsp: RFC 6960 4.1.1: Request must start with a CertID");
		goto out;
	}
	if (ocsp_req_certid(&cid, id, e) == -1)
		goto out;
	r = der_next(&d, &t);
	if (r == 0 && t.tag == DER_TAG_CTX(0)) {
		if (ocsp_req_extensions(&t, NULL, NULL, e) == -1)
			goto out;
		r = der_next(&d, &t);
	}
	if (r != 1) {
		err_set(e, ERR_REFUSED, "ocsp: RFC 6960 4.1.1: unexpected field in Request");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int
ocsp_req_parse(const unsigned char *p, size_t len, struct ocsp_req *req, struct err *e)
{
	struct der_reader d, in, tbs, list;
	struct der_tlv top, t, rq;
	int rc = -1, r;

	req->n = 0;
	req->nonce = NULL;
	req->noncelen = 0;
	req->signed_req = 0;
	der_reader_init(&d, p, len);
	if (len == 0 || der_next(&d, &top) != 0 || top.tag != DER_TAG_SEQUENCE ||
	    !der_reader_done(&d)) {
		err_set(e, ERR_REFUSED, "ocsp: RFC 6960 4.1.1: request is not one DER SEQUENCE");
		goto out;
	}
	/* OCSPRequest ::= SEQUENCE { tbsRequest, optionalSignature [0] EXPLICIT OPTIONAL } */
	der_reader_init(&in, top.val, top.len);
	if (der_next(&in, &t) != 0 || t.tag != DER_TAG_SEQUENCE) {
		err_set(e, ERR_REFUSED, "ocsp: RFC 6960 4.1.1: no TBSRequest");
		goto out;
	}
	der_reader_init(&tbs, t.val, t.len);
	r = der_next(&in, &t);
	if (r == 0 && t.tag == DER_TAG_CTX(0)) {
		req->signed_req = 1;
		r = der_next(&in, &t);
	}
	if (r != 1) {
		err_set(e, ERR_REFUSED, "ocsp: RFC 6960 4.1.1: unexpected field after TBSRequest");
		goto out;
	}
	/* TBSRequest ::= SEQUENCE { version [0], requestorName [1], requestList,
	 * requestExtensions [2] } */
	if (der_next(&tbs, &t) != 0)
		goto badtbs;
	if (t.tag == DER_TAG_CTX(0)) {
		/* DER omits DEFAULT values, but v1 written out is common; nothing else is known */
		if (t.len != 3 || t.val[0] != DER_TAG_INTEGER || t.val[1] != 1 || t.val[2] != 0) {
			err_set(e, ERR_REFUSED, "ocsp: RFC 6960 4.1.1: version must be v1");
			goto out;
		}
		if (der_next(&tbs, &t) != 0)
			goto badtbs;
	}
	if (t.tag == DER_TAG_CTX(1) && der_next(&tbs, &t) != 0)
		goto badtbs;
	if (t.tag != DER_TAG_SEQUENCE)
		goto badtbs;
	der_reader_init(&list, t.val, t.len);
	r = der_next(&tbs, &t);
	if (r == 0 && t.tag == DER_TAG_CTX(2)) {
		if (ocsp_req_extensions(&t, &req->nonce, &req->noncelen, e) == -1)
			goto out;
		r = der_next(&tbs, &t);
	}
	if (r != 1)
		goto badtbs;
	while ((r = der_next(&list, &rq)) == 0) {
		if (req->n == OCSP_MAX_CERTIDS) {
			err_set(e, ERR_REFUSED, "ocsp: more than %d certificates in one request",
				OCSP_MAX_CERTIDS);
			goto out;
		}
		if (ocsp_req_one(&rq, &req->ids[req->n], e) == -1)
			goto out;
		req->n++;
	}
	if (r == -1)
		goto badtbs;
	if (req->n == 0) {
		err_set(e, ERR_REFUSED, "ocsp: RFC 6960 4.1.1: requestList is empty");
		goto out;
	}
	rc = 0;
	goto out;
badtbs:
	err_set(e, ERR_REFUSED,
		"ocsp: RFC 6960 4.1.1: TBSRequest must be [version], [requestorName], requestList, "
		"[requestExtensions]");
out:
	if (rc == -1) {
		req->n = 0;
		req->nonce = NULL;
		req->noncelen = 0;
	}
	return rc;
}

/* Value of a base64 digit in either alphabet, or -1. */
static int
ocsp_b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int
ocsp_b64_decode(const char *s, size_t n, unsigned char *out, size_t outmax, size_t *outlen)
{
	size_t i, o = 0, digits, pad = 0;
	unsigned long acc = 0;
	int v, rc = -1;

	*outlen = 0;
	/* padding: at most two '=' at the very end */
	while (n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (pad > 0 && (n + pad) % 4 != 0)
		goto out;
	if (n % 4 == 1)
		goto out;
	for (i = 0, digits = 0; i < n; i++) {
		if ((v = ocsp_b64_val((unsigned char)s[i])) == -1)
			goto out;
		acc = acc << 6 | (unsigned long)v;
		if (++digits == 4) {
			if (outmax - o < 3)
				goto out;
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
			digits = 0;
		}
	}
	if (digits == 2) {
		/* 12 bits, 8 used: the 4 left over must be zero (canonical) */
		if ((acc & 0x0f) != 0 || outmax - o < 1)
			goto out;
		out[o++] = (unsigned char)(acc >> 4);
	} else if (digits == 3) {
		if ((acc & 0x03) != 0 || outmax - o < 2)
			goto out;
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
	}
	if (pad > 0 && digits == 0)
		goto out;
	*outlen = o;
	rc = 0;
out:
	return rc;
}

const char *
ocsp_cert_status_name(enum ocsp_cert_status s)
{
	switch (s) {
	case OCSP_CERT_GOOD:
		return "good";
	case OCSP_CERT_REVOKED:
		return "revoked";
	default:
		return "unknown";
	}
}

const char *
ocsp_resp_status_name(enum ocsp_resp_status s)
{
	switch (s) {
	case OCSP_RESP_SUCCESSFUL:
		return "successful";
	case OCSP_RESP_MALFORMED:
		return "malformedRequest";
	case OCSP_RESP_INTERNAL:
		return "internalError";
	case OCSP_RESP_TRYLATER:
		return "tryLater";
	case OCSP_RESP_SIGREQUIRED:
		return "sigRequired";
	case OCSP_RESP_UNAUTHORIZED:
		return "unauthorized";
	default:
		return "unknownStatus";
	}
}
