/*
 * resp: OCSPResponse DER written directly (RFC 6960 4.2.1) — no OpenSSL object per response.
 * Inner structures are written first into scratch buffers and wrapped; responses are small.
 */
#include <string.h>

#include "ocsp_local.h"

#define OCSP_RESP_BUF_MAX (4u * 1024 * 1024)

/* id-pkix-ocsp-basic 1.3.6.1.5.5.7.48.1.1 as a whole OID TLV */
static const unsigned char ocsp_basic_oid[] = {0x06, 0x09, 0x2b, 0x06, 0x01, 0x05,
					       0x05, 0x07, 0x30, 0x01, 0x01};

void
ocsp_resp_error(unsigned char out[OCSP_ERROR_RESP_LEN], enum ocsp_resp_status s)
{
	out[0] = DER_TAG_SEQUENCE;
	out[1] = 3;
	out[2] = DER_TAG_ENUMERATED;
	out[3] = 1;
	out[4] = (unsigned char)s;
}

static int
ocsp_put_time(struct buf *out, time_t t)
{
	return der_put_time(out, t, DER_TIME_GENERALIZED);
}

/*
 * SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate, nextUpdate [0] EXPLICIT
 * OPTIONAL }; CertStatus good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo,
 * unknown [2] IMPLICIT NULL.
 */
static int
ocsp_single_build(struct buf *out, const struct ocsp_single *s)
{
	struct buf body, st;
	char g[16];
	int rc = -1;

	buf_init(&body, OCSP_RESP_BUF_MAX);
	buf_init(&st, 256);
	if (buf_append(&body, s->certid, s->certidlen) == -1)
		goto out;
	switch (s->status) {
	case OCSP_CERT_GOOD:
		if (der_put(&body, DER_TAG_IMPL(0), NULL, 0) == -1)
			goto out;
		break;
	case OCSP_CERT_REVOKED:
		/* RevokedInfo ::= SEQUENCE { revocationTime, revocationReason [0] EXPLICIT } */
		if (ocsp_put_time(&st, s->revoked_at) == -1)
			goto out;
		if (s->reason > 0 && s->reason <= 10) {
			unsigned char r[] = {DER_TAG_CTX(0), 3, DER_TAG_ENUMERATED, 1,
					     (unsigned char)s->reason};

			if (buf_append(&st, r, sizeof(r)) == -1)
				goto out;
		}
		if (der_put(&body, DER_TAG_CTX(1), st.data, st.len) == -1)
			goto out;
		break;
	default:
		if (der_put(&body, DER_TAG_IMPL(2), NULL, 0) == -1)
			goto out;
		break;
	}
	if (ocsp_put_time(&body, s->this_update) == -1)
		goto out;
	if (s->next_update != 0) {
		if (der_gentime(s->next_update, g) == -1 ||
		    der_put_hdr(&body, DER_TAG_CTX(0), 17) == -1 ||
		    der_put(&body, DER_TAG_GENTIME, g, 15) == -1)
			goto out;
	}
	if (der_put(out, DER_TAG_SEQUENCE, body.data, body.len) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&body);
	buf_free(&st);
	return rc;
}

int
ocsp_respdata_build(struct buf *out, const unsigned char keyhash[20], time_t produced,
		    const struct ocsp_single *singles, size_t n, const unsigned char *nonce,
		    size_t noncelen, struct err *e)
{
	struct buf rd, list;
	size_t i;
	int rc = -1;

	buf_init(&rd, OCSP_RESP_BUF_MAX);
	buf_init(&list, OCSP_RESP_BUF_MAX);
	/* responderID byKey [2] EXPLICIT KeyHash (OCTET STRING of SHA-1) */
	if (der_put_hdr(&rd, DER_TAG_CTX(2), 22) == -1 ||
	    der_put(&rd, DER_TAG_OCTETSTRING, keyhash, 20) == -1 ||
	    ocsp_put_time(&rd, produced) == -1)
		goto bad;
	for (i = 0; i < n; i++)
		if (ocsp_single_build(&list, &singles[i]) == -1)
			goto bad;
	if (der_put(&rd, DER_TAG_SEQUENCE, list.data, list.len) == -1)
		goto bad;
	if (nonce != NULL) {
		/* responseExtensions [1] EXPLICIT Extensions: the request's nonce, unchanged */
		if (der_put_hdr(&rd, DER_TAG_CTX(1), der_tlv_size(noncelen)) == -1 ||
		    der_put(&rd, DER_TAG_SEQUENCE, nonce, noncelen) == -1)
			goto bad;
	}
	if (der_put(out, DER_TAG_SEQUENCE, rd.data, rd.len) == -1)
		goto bad;
	rc = 0;
	goto out;
bad:
	err_set(e, ERR_INTERNAL,
		"ocsp: cannot encode ResponseData (time out of range or too large)");
out:
	buf_free(&rd);
	buf_free(&list);
	return rc;
}

int
ocsp_resp_assemble(struct buf *out, const unsigned char *rd, size_t rdlen,
		   const unsigned char *algid, size_t algidlen, const unsigned char *sig,
		   size_t siglen, const unsigned char *cert, size_t certlen, struct err *e)
{
	struct buf basic, b;
	size_t certs_len;
	int rc = -1;

	buf_init(&basic, OCSP_RESP_BUF_MAX);
	buf_init(&b, OCSP_RESP_BUF_MAX);
	/* BasicOCSPResponse ::= SEQUENCE { tbsResponseData, signatureAlgorithm, signature,
	 * certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL } */
	if (buf_append(&b, rd, rdlen) == -1 || buf_append(&b, algid, algidlen) == -1 ||
	    der_put_hdr(&b, DER_TAG_BITSTRING, siglen + 1) == -1 || buf_putc(&b, 0) == -1 ||
	    buf_append(&b, sig, siglen) == -1)
		goto bad;
	if (cert != NULL) {
		certs_len = der_tlv_size(certlen);
		if (der_put_hdr(&b, DER_TAG_CTX(0), certs_len) == -1 ||
		    der_put(&b, DER_TAG_SEQUENCE, cert, certlen) == -1)
			goto bad;
	}
	if (der_put(&basic, DER_TAG_SEQUENCE, b.data, b.len) == -1)
		goto bad;
	/* OCSPResponse ::= SEQUENCE { responseStatus, responseBytes [0] EXPLICIT ResponseBytes }
	 * ResponseBytes ::= SEQUENCE { responseType OID, response OCTET STRING } */
	buf_reset(&b);
	if (buf_append(&b, ocsp_basic_oid, sizeof(ocsp_basic_oid)) == -1 ||
	    der_put(&b, DER_TAG_OCTETSTRING, basic.data, basic.len) == -1)
		goto bad;
	buf_reset(&basic);
	{
		unsigned char ok[] = {DER_TAG_ENUMERATED, 1, OCSP_RESP_SUCCESSFUL};
		size_t rb = der_tlv_size(b.len);
		size_t tagged = der_tlv_size(rb);

		if (der_put_hdr(out, DER_TAG_SEQUENCE, sizeof(ok) + tagged) == -1 ||
		    buf_append(out, ok, sizeof(ok)) == -1 ||
		    der_put_hdr(out, DER_TAG_CTX(0), rb) == -1 ||
		    der_put(out, DER_TAG_SEQUENCE, b.data, b.len) == -1)
			goto bad;
	}
	rc = 0;
	goto out;
bad:
	err_set(e, ERR_INTERNAL, "ocsp: cannot encode the OCSPResponse (too large)");
out:
	buf_free(&basic);
	buf_free(&b);
	return rc;
}
