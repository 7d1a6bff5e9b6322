/*
 * libFuzzer target for the OCSP request parser and the pure response builder: the input is
 * tried as DER (ocsp_req_parse) and as the base64 of a GET URL (ocsp_b64_decode, then the
 * parser).  A request that parses is answered as the responder would, without store or
 * signer: every CertID gets a status, the ResponseData is built (echoing the CertIDs and the
 * nonce) and wrapped with a fixed fake signature, and OpenSSL must parse the result whole.
 * Hostile bytes must yield a clean refusal, never a crash, a leak or undefined behaviour.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "ocsp/ocsp.h"

#define FZ_EPOCH 1735689600 /* 2025-01-01T00:00:00Z: runs are reproducible */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ecdsa-with-SHA256 */
static const unsigned char fz_algid[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const unsigned char fz_sig[] = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};

/* Builds the answer a responder would give and checks OpenSSL reads it back. */
static void
fz_answer(const struct ocsp_req *req)
{
	struct ocsp_single s[OCSP_MAX_CERTIDS];
	unsigned char keyhash[20];
	struct buf rd, resp;
	const unsigned char *p;
	OCSP_RESPONSE *r;
	struct err e;
	size_t i;

	memset(keyhash, 0x5a, sizeof(keyhash));
	memset(s, 0, sizeof(s));
	for (i = 0; i < req->n; i++) {
		s[i].certid = req->ids[i].der;
		s[i].certidlen = req->ids[i].derlen;
		s[i].status = (enum ocsp_cert_status)(req->ids[i].serial[0] % 3);
		s[i].revoked_at = FZ_EPOCH - 60;
		s[i].reason = req->ids[i].serial[req->ids[i].serial_len - 1] % 12 - 1;
		s[i].this_update = FZ_EPOCH;
		s[i].next_update = (i & 1) ? 0 : FZ_EPOCH + 3600;
	}
	buf_init(&rd, 4u * 1024 * 1024);
	buf_init(&resp, 8u * 1024 * 1024);
	err_clear(&e);
	if (ocsp_respdata_build(&rd, keyhash, FZ_EPOCH, s, req->n, req->nonce, req->noncelen, &e) ==
		-1 ||
	    ocsp_resp_assemble(&resp, rd.data, rd.len, fz_algid, sizeof(fz_algid), fz_sig,
			       sizeof(fz_sig), NULL, 0, &e) == -1)
		abort(); /* a request that parsed must be answerable */
	p = resp.data;
	r = d2i_OCSP_RESPONSE(NULL, &p, (long)resp.len);
	/* CertIDs are echoed byte for byte; OpenSSL may refuse what we accept (e.g. an
	 * unknown hash algorithm's parameters), but never beyond the end */
	if (r != NULL && p != resp.data + resp.len)
		abort();
	OCSP_RESPONSE_free(r);
	ERR_clear_error();
	buf_free(&rd);
	buf_free(&resp);
}

static void
fz_parse(const unsigned char *p, size_t n)
{
	struct ocsp_req *req = malloc(sizeof(*req));
	struct err e;
	size_t i;

	if (req == NULL)
		abort();
	err_clear(&e);
	if (ocsp_req_parse(p, n, req, &e) == 0) {
		if (req->n == 0 || req->n > OCSP_MAX_CERTIDS)
			abort();
		for (i = 0; i < req->n; i++) {
			const struct ocsp_certid *id = &req->ids[i];

			/* every slice lies inside the input */
			if (id->der < p || id->der + id->derlen > p + n || id->serial_len == 0 ||
			    id->serial < id->der ||
			    id->serial + id->serial_len > id->der + id->derlen)
				abort();
		}
		if (req->nonce != NULL && (req->nonce < p || req->nonce + req->noncelen > p + n))
			abort();
		fz_answer(req);
	} else if (e.code != ERR_REFUSED || e.msg[0] == '\0') {
		abort();
	}
	free(req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *der;
	size_t len = 0;

	fz_parse(data, size);
	/* the same bytes as the base64 of a GET request */
	if ((der = malloc(size / 4 * 3 + 3)) == NULL)
		abort();
	if (ocsp_b64_decode((const char *)data, size, der, size / 4 * 3 + 3, &len) == 0)
		fz_parse(der, len);
	free(der);
	return 0;
}
