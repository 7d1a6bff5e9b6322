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
	out[0] = OCSP_DER_SEQUENCE;
	out[1] = 3;
	out[2] = OCSP_DER_ENUMERATED;
	out[3] = 1;
	out[4] = (unsigned char)s;
}

static int
ocsp_put_time(struct buf *out, time_t t)
{
	char g[16];

	if (ocsp_gentime(t, g) == -1)
		return -1;
	return ocsp_der_put(out, OCSP_DER_GENTIME, g, 15);
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
		if (ocsp_der_put(&body, OCSP_DER_IMPL0, NULL, 0) == -1)
			goto out;
		break;
	case OCSP_CERT_REVOKED:
		/* RevokedInfo ::= SEQUENCE { revocationTime, revocationReason [0] EXPLICIT } */
		if (ocsp_put_time(&st, s->revoked_at) == -1)
			goto out;
		if (s->reason > 0 && s->reason <= 10) {
			unsigned char r[] = {OCSP_DER_CTX0, 3, OCSP_DER_ENUMERATED, 1,
					     (unsigned char)s->reason};

			if (buf_append(&st, r, sizeof(r)) == -1)
				goto out;
		}
		if (ocsp_der_put(&body, OCSP_DER_CTX1, st.data, st.len) == -1)
			goto out;
		break;
	default:
		if (ocsp_der_put(&body, OCSP_DER_IMPL2, NULL, 0) == -1)
			goto out;
		break;
	}
	if (ocsp_put_time(&body, s->this_update) == -1)
		goto out;
	if (s->next_update != 0) {
		if (ocsp_gentime(s->next_update, g) == -1 ||
		    ocsp_der_put_hdr(&body, OCSP_DER_CTX0, 17) == -1 ||
		    ocsp_der_put(&body, OCSP_DER_GENTIME, g, 15) == -1)
			goto out;
	}
	if (ocsp_der_put(out, OCSP_DER_SEQUENCE, body.data, body.len) == -1)
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
	if (ocsp_der_put_hdr(&rd, OCSP_DER_CTX2, 22) == -1 ||
	    ocsp_der_put(&rd, OCSP_DER_OCTETSTRING, keyhash, 20) == -1 ||
	    ocsp_put_time(&rd, produced) == -1)
		goto bad;
	for (i = 0; i < n; i++)
		if (ocsp_single_build(&list, &singles[i]) == -1)
			goto bad;
	if (ocsp_der_put(&rd, OCSP_DER_SEQUENCE, list.data, list.len) == -1)
		goto bad;
	if (nonce != NULL) {
		/* responseExtensions [1] EXPLICIT Extensions: the request's nonce, unchanged */
		if (ocsp_der_put_hdr(&rd, OCSP_DER_CTX1, ocsp_der_hdr_len(noncelen) + noncelen) ==
			-1 ||
		    ocsp_der_put(&rd, OCSP_DER_SEQUENCE, nonce, noncelen) == -1)
			goto bad;
	}
	if (ocsp_der_put(out, OCSP_DER_SEQUENCE, rd.data, rd.len) == -1)
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
	    ocsp_der_put_hdr(&b, OCSP_DER_BITSTRING, siglen + 1) == -1 || buf_putc(&b, 0) == -1 ||
	    buf_append(&b, sig, siglen) == -1)
		goto bad;
	if (cert != NULL) {
		certs_len = ocsp_der_hdr_len(certlen) + certlen;
		if (ocsp_der_put_hdr(&b, OCSP_DER_CTX0, certs_len) == -1 ||
		    ocsp_der_put(&b, OCSP_DER_SEQUENCE, cert, certlen) == -1)
			goto bad;
	}
	if (ocsp_der_put(&basic, OCSP_DER_SEQUENCE, b.data, b.len) == -1)
		goto bad;
	/* OCSPResponse ::= SEQUENCE { responseStatus, responseBytes [0] EXPLICIT ResponseBytes }
	 * ResponseBytes ::= SEQUENCE { responseType OID, response OCTET STRING } */
	buf_reset(&b);
	if (buf_append(&b, ocsp_basic_oid, sizeof(ocsp_basic_oid)) == -1 ||
	    ocsp_der_put(&b, OCSP_DER_OCTETSTRING, basic.data, basic.len) == -1)
		goto bad;
	buf_reset(&basic);
	{
		unsigned char ok[] = {OCSP_DER_ENUMERATED, 1, OCSP_RESP_SUCCESSFUL};
		size_t rb = ocsp_der_hdr_len(b.len) + b.len;
		size_t tagged = ocsp_der_hdr_len(rb) + rb;

		if (ocsp_der_put_hdr(out, OCSP_DER_SEQUENCE, sizeof(ok) + tagged) == -1 ||
		    buf_append(out, ok, sizeof(ok)) == -1 ||
		    ocsp_der_put_hdr(out, OCSP_DER_CTX0, rb) == -1 ||
		    ocsp_der_put(out, OCSP_DER_SEQUENCE, b.data, b.len) == -1)
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
