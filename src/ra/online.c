/*
 * online: signed self-service requests (revoke, status) — the strict parser of the CMS
 * SignedData and its JSON, the signature checks that tell the outcomes apart, and the
 * decision with its single store transaction.  See ra.h for the outcomes and their order.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "ca/ca.h"
#include "ra.h"
#include "util/sjson.h"
#include "util/timefmt.h"

static const char *const ra_online_results[RA_ONLINE_RESULT__MAX] = {
    "malformed",
    "issuer_unknown",
    "cert_signature_invalid",
    "request_signature_invalid",
    "unknown_certificate",
    "stale",
    "expired",
    "already_revoked",
    "revocation_pending",
    "accepted",
    "valid",
    "revoked",
};

const char *
ra_online_result_name(enum ra_online_result r)
{
	if ((int)r < 0 || r >= RA_ONLINE_RESULT__MAX)
		return "error";
	return ra_online_results[r];
}

const char *
ra_online_type_name(enum ra_online_type t)
{
	return t == RA_ONLINE_REVOKE ? "revoke" : "status";
}

/* Reasons a holder may give (the others belong to the CA). */
static int
ra_reason_allowed(const char *s)
{
	static const char *const ok[] = {"unspecified", "keyCompromise", "affiliationChanged",
					 "superseded", "cessationOfOperation"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(s, ok[i]) == 0)
			return ca_reason_parse(s);
	return -1;
}

/* ---- parsing ---- */

void
ra_online_req_free(struct ra_online_req *r)
{
	if (r == NULL)
		return;
	CMS_ContentInfo_free(r->cms);
	X509_free(r->cert);
	memset(r, 0, sizeof(*r));
	r->reason = -1;
}

/* Only blanks (space, tab, CR, LF) in p[0..n). */
static int
ra_blank(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return 0;
	return 1;
}

/* DER of the ContentInfo: the body itself, or the one PEM block it holds (caller frees *der). */
static int
ra_cms_der(const unsigned char *body, size_t len, unsigned char **der, long *derlen, struct err *e)
{
	static const char begin[] = "-----BEGIN ";
	BIO *b = NULL;
	char *name = NULL, *hdr = NULL;
	unsigned char *data = NULL, rest[64];
	long dlen = 0;
	int n, rc = -1;
	size_t i = 0;

	*der = NULL;
	*derlen = 0;
	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
		i++;
	if (len - i < sizeof(begin) - 1 || memcmp(body + i, begin, sizeof(begin) - 1) != 0) {
		*der = xmalloc(len ? len : 1);
		memcpy(*der, body, len);
		*derlen = (long)len;
		rc = 0;
		goto out;
	}
	if ((b = BIO_new_mem_buf(body + i, (int)(len - i))) == NULL)
		fatalx("online: out of memory");
	if (PEM_read_bio(b, &name, &hdr, &data, &dlen) != 1) {
		err_set(e, ERR_REFUSED, "online: RFC 7468: not a well-formed PEM block");
		goto out;
	}
	if (strcmp(name, "CMS") != 0 && strcmp(name, "PKCS7") != 0) {
		err_set(e, ERR_REFUSED, "online: PEM label must be CMS or PKCS7");
		goto out;
	}
	if (hdr[0] != '\0') {
		err_set(e, ERR_REFUSED, "online: RFC 7468: PEM headers are not allowed");
		goto out;
	}
	while ((n = BIO_read(b, rest, sizeof(rest))) > 0)
		if (!ra_blank(rest, (size_t)n)) {
			err_set(e, ERR_REFUSED, "online: data after the PEM block");
			goto out;
		}
	*der = xmalloc(dlen > 0 ? (size_t)dlen : 1);
	memcpy(*der, data, (size_t)dlen);
	*derlen = dlen;
	rc = 0;
out:
	ERR_clear_error();
	OPENSSL_free(name);
	OPENSSL_free(hdr);
	OPENSSL_free(data);
	BIO_free(b);
	return rc;
}

/* A nonce: RA_ONLINE_NONCE_MIN..MAX characters of [A-Za-z0-9+/=_.-]. */
static int
ra_nonce_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < RA_ONLINE_NONCE_MIN || n > RA_ONLINE_NONCE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("+/=_.-", s[i]) == NULL)
			return 0;
	return 1;
}

/* The serial as the request gives it, compared with the certificate's (case and leading zeros
 * do not matter). */
static int
ra_serial_matches(const char *req, const char *cert)
{
	size_t n = strlen(req);

	if (n == 0 || n > 2 * 20 + 2)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)req[i]))
			return 0;
	while (req[0] == '0' && req[1] != '\0')
		req++;
	while (cert[0] == '0' && cert[1] != '\0')
		cert++;
	return strcasecmp(req, cert) == 0;
}

/* The JSON content into r (type checked against want). */
static int
ra_json_parse(const unsigned char *p, size_t len, enum ra_online_type want, struct ra_online_req *r,
	      struct err *e)
{
	static const char *const known[] = {"type", "serial", "time", "nonce", "reason", NULL};
	static const char who[] = "online: content";
	const char *type, *serial, *tm, *nonce, *reason;
	json_t *j = NULL;
	int rc = -1;

	/* every member is a string: the object is the only level */
	if ((j = sjson_load_object(p, len, RA_ONLINE_JSON_MAX, 1, who, e)) == NULL ||
	    sjson_known(j, known, who, e) == -1 ||
	    sjson_string(j, "type", 1, &type, NULL, who, e) == -1 ||
	    sjson_string(j, "serial", 1, &serial, NULL, who, e) == -1 ||
	    sjson_string(j, "time", 1, &tm, NULL, who, e) == -1 ||
	    sjson_string(j, "nonce", 1, &nonce, NULL, who, e) == -1 ||
	    sjson_string(j, "reason", 0, &reason, NULL, who, e) == -1)
		goto out;
	if (strcmp(type, "revoke") == 0) {
		r->type = RA_ONLINE_REVOKE;
	} else if (strcmp(type, "status") == 0) {
		r->type = RA_ONLINE_STATUS;
	} else {
		err_set(e, ERR_REFUSED, "online: content: type must be revoke or status");
		goto out;
	}
	if (r->type != want) {
		err_set(e, ERR_REFUSED, "online: a %s request sent to the %s endpoint", type,
			ra_online_type_name(want));
		goto out;
	}
	if (timefmt_rfc3339_parse(tm, strlen(tm), &r->time) == -1) {
		err_set(e, ERR_REFUSED, "online: content: time must be an RFC 3339 date-time");
		goto out;
	}
	if (!ra_nonce_ok(nonce)) {
		err_set(
		    e, ERR_REFUSED,
		    "online: content: nonce must be %d to %d characters of A-Z a-z 0-9 + / = _ . -",
		    RA_ONLINE_NONCE_MIN, RA_ONLINE_NONCE_MAX);
		goto out;
	}
	memcpy(r->nonce, nonce, strlen(nonce) + 1);
	if (r->type == RA_ONLINE_STATUS) {
		if (reason != NULL) {
			err_set(e, ERR_REFUSED, "online: content: a status request has no reason");
			goto out;
		}
		r->reason = -1;
	} else if (reason == NULL) {
		r->reason = CA_REASON_CESSATION_OF_OPERATION;
	} else if ((r->reason = ra_reason_allowed(reason)) < 0) {
		err_set(e, ERR_REFUSED,
			"online: content: reason must be one of unspecified, keyCompromise, "
			"affiliationChanged, superseded, cessationOfOperation");
		goto out;
	}
	if (!ra_serial_matches(serial, r->serial)) {
		err_set(e, ERR_REFUSED,
			"online: content: serial is not the serial of the signer's certificate");
		goto out;
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

int
ra_online_parse(const unsigned char *body, size_t len, enum ra_online_type want,
		struct ra_online_req *r, struct err *e)
{
	STACK_OF(CMS_SignerInfo) * sis;
	STACK_OF(X509) *certs = NULL;
	STACK_OF(X509_CRL) *crls = NULL;
	CMS_SignerInfo *si;
	X509_ALGOR *dig = NULL;
	const ASN1_OBJECT *obj;
	ASN1_OCTET_STRING **content;
	const unsigned char *p;
	unsigned char *der = NULL;
	long derlen = 0;
	int rc = -1, nid, found = 0;

	memset(r, 0, sizeof(*r));
	r->reason = -1;
	if (len == 0) {
		err_set(e, ERR_REFUSED, "online: empty request");
		goto out;
	}
	if (len > RA_ONLINE_BODY_MAX) {
		err_set(e, ERR_REFUSED, "online: request of %zu bytes (at most %d)", len,
			RA_ONLINE_BODY_MAX);
		goto out;
	}
	if (ra_cms_der(body, len, &der, &derlen, e) == -1)
		goto out;
	p = der;
	if ((r->cms = d2i_CMS_ContentInfo(NULL, &p, derlen)) == NULL) {
		err_set(e, ERR_REFUSED, "online: RFC 5652: not a CMS ContentInfo");
		goto out;
	}
	if (p != der + derlen) {
		err_set(e, ERR_REFUSED, "online: RFC 5652: data after the ContentInfo");
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(r->cms)) != NID_pkcs7_signed) {
		err_set(e, ERR_REFUSED, "online: RFC 5652: content type must be signed-data");
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_eContentType(r->cms)) != NID_pkcs7_data) {
		err_set(e, ERR_REFUSED, "online: RFC 5652 5.2: eContentType must be id-data");
		goto out;
	}
	if ((content = CMS_get0_content(r->cms)) == NULL || *content == NULL) {
		err_set(e, ERR_REFUSED,
			"online: RFC 5652 5.2: the content must be encapsulated (not detached)");
		goto out;
	}
	sis = CMS_get0_SignerInfos(r->cms);
	if (sis == NULL || sk_CMS_SignerInfo_num(sis) != 1) {
		err_set(e, ERR_REFUSED, "online: exactly one SignerInfo is required");
		goto out;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
	X509_ALGOR_get0(&obj, NULL, NULL, dig);
	nid = OBJ_obj2nid(obj);
	if (nid != NID_sha256 && nid != NID_sha384 && nid != NID_sha512) {
		err_set(e, ERR_REFUSED,
			"online: digest algorithm must be SHA-256, SHA-384 or SHA-512");
		goto out;
	}
	if ((crls = CMS_get1_crls(r->cms)) != NULL && sk_X509_CRL_num(crls) > 0) {
		err_set(e, ERR_REFUSED, "online: the request must not carry CRLs");
		goto out;
	}
	certs = CMS_get1_certs(r->cms);
	if (certs == NULL || sk_X509_num(certs) == 0) {
		err_set(e, ERR_REFUSED, "online: the signer's certificate must be included");
		goto out;
	}
	if (sk_X509_num(certs) > RA_ONLINE_CERTS_MAX) {
		err_set(e, ERR_REFUSED, "online: more than %d certificates", RA_ONLINE_CERTS_MAX);
		goto out;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if (CMS_SignerInfo_cert_cmp(si, x) != 0)
			continue;
		if (found++ > 0)
			break;
		X509_up_ref(x);
		r->cert = x;
	}
	if (found != 1) {
		err_set(e, ERR_REFUSED,
			found == 0 ? "online: no included certificate is the signer's"
				   : "online: more than one included certificate is the signer's");
		goto out;
	}
	if (x509_serial_hex(X509_get0_serialNumber(r->cert), r->serial, sizeof(r->serial)) == -1) {
		err_set(e, ERR_REFUSED, "online: the certificate's serial number is not usable");
		goto out;
	}
	if (ra_json_parse(ASN1_STRING_get0_data(*content), (size_t)ASN1_STRING_length(*content),
			  want, r, e) == -1)
		goto out;
	rc = 0;
out:
	ERR_clear_error();
	sk_X509_pop_free(certs, X509_free);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	free(der);
	if (rc == -1) {
		CMS_ContentInfo_free(r->cms);
		X509_free(r->cert);
		r->cms = NULL;
		r->cert = NULL;
	}
	return rc;
}

/* ---- verification ---- */

enum ra_online_result
ra_online_verify(const struct ra_online_req *r, X509 *const *cas, size_t ncas, struct err *detail)
{
	const X509_NAME *issuer = X509_get_issuer_name(r->cert);
	STACK_OF(X509) *signers = NULL;
	EVP_PKEY *capub;
	X509 *ca = NULL;
	enum ra_online_result res;
	struct err scratch;

	if (detail == NULL)
		detail = &scratch;
	for (size_t i = 0; i < ncas && ca == NULL; i++)
		if (cas[i] != NULL && X509_NAME_cmp(issuer, X509_get_subject_name(cas[i])) == 0)
			ca = cas[i];
	if (ca == NULL) {
		err_set(detail, ERR_REFUSED,
			"online: the certificate's issuer is not one of our CAs");
		res = RA_ONLINE_ISSUER_UNKNOWN;
		goto out;
	}
	if ((capub = X509_get0_pubkey(ca)) == NULL || X509_verify(r->cert, capub) != 1) {
		err_set(detail, ERR_REFUSED,
			"online: RFC 5280 6.1.3: the certificate's signature does not verify with "
			"our CA's key");
		res = RA_ONLINE_CERT_SIGNATURE_INVALID;
		goto out;
	}
	if ((signers = sk_X509_new_null()) == NULL || !sk_X509_push(signers, r->cert))
		fatalx("online: out of memory");
	/* only this certificate may be the signer; its chain was checked above, by hand */
	if (CMS_verify(r->cms, signers, NULL, NULL, NULL,
		       CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
		err_set(detail, ERR_REFUSED,
			"online: RFC 5652 5.6: the request's signature does not verify with the "
			"certificate's key");
		res = RA_ONLINE_REQUEST_SIGNATURE_INVALID;
		goto out;
	}
	res = RA_ONLINE_ACCEPTED;
out:
	ERR_clear_error();
	sk_X509_free(signers);
	return res;
}

/* ---- the decision ---- */

/* BLAKE2b-256 over a domain label, the serial and the nonce. */
static void
ra_nonce_hash(const struct ra_online_req *r, unsigned char out[STORE_HASH_LEN])
{
	crypto_generichash_state h;
	static const char label[] = "shomei online nonce";

	crypto_generichash_init(&h, NULL, 0, STORE_HASH_LEN);
	crypto_generichash_update(&h, (const unsigned char *)label, sizeof(label));
	crypto_generichash_update(&h, (const unsigned char *)r->serial, strlen(r->serial) + 1);
	crypto_generichash_update(&h, (const unsigned char *)r->nonce, strlen(r->nonce));
	crypto_generichash_final(&h, out, STORE_HASH_LEN);
}

/* Sets the answer's result and, for refusals, its detail. */
static void
ra_answer(struct ra_online_answer *a, enum ra_online_result res, const char *detail)
{
	a->result = res;
	snprintf(a->detail, sizeof(a->detail), "%s", detail != NULL ? detail : "");
}

/* The configuration keys ra reads (ra_online_handle). */
/* The configuration keys the RA reads (online.c, orgcert.c, client.c). */
const char *const ra_conf_keys[] = {
    "online.window_seconds",	   "console.download_days", "console.replace_days",
    "console.replace_remind_days", "console.client_days",   NULL,
};

int
ra_online_handle(struct ca *ca, struct store *st, enum ra_online_type type,
		 const unsigned char *body, size_t len, const struct ra_notify *notify,
		 struct ra_online_answer *a, struct err *e)
{
	struct ra_online_req r;
	struct store_cert rec;
	struct store_crl crl;
	struct err pe;
	X509 *cas[2 + CA_PREV_MAX];
	size_t i;
	unsigned char nh[STORE_HASH_LEN];
	char *actor = NULL;
	long window;
	time_t now;
	int rc = -1, intx = 0, revoked = 0;
	enum ra_online_result res;

	memset(a, 0, sizeof(*a));
	memset(&rec, 0, sizeof(rec));
	memset(&crl, 0, sizeof(crl));
	a->reason = -1;
	err_clear(&pe);
	a->checked = util_now();
	if (ra_online_parse(body, len, type, &r, &pe) == -1) {
		ra_answer(a, RA_ONLINE_MALFORMED, pe.msg);
		rc = 0;
		goto out;
	}
	memcpy(a->serial, r.serial, sizeof(a->serial));
	/* every issuing CA's certificates (earlier ones' live on after a switch), and the root */
	for (i = 0; i < ca->ncas; i++)
		cas[i] = ca->cas[i].cert;
	cas[i] = ca->root;
	if ((res = ra_online_verify(&r, cas, ca->ncas + 1, &pe)) != RA_ONLINE_ACCEPTED) {
		ra_answer(a, res, pe.msg);
		rc = 0;
		goto out;
	}
	if (conf_get_long(&ca->conf, "online.window_seconds", RA_ONLINE_WINDOW_DEFAULT, 1,
			  24 * 3600, &window, e) == -1)
		goto out;
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	now = util_now();
	a->checked = now;
	/* expired nonces go in the same write (committed with the answer, else next time) */
	if (store_online_nonce_purge(st, now, NULL, e) == -1)
		goto out;
	if (store_cert_get(st, r.serial, &rec, &pe) == -1) {
		if (pe.code != ERR_NOTFOUND) {
			err_set(e, pe.code, "%s", pe.msg);
			goto out;
		}
		ra_answer(a, RA_ONLINE_UNKNOWN_CERTIFICATE,
			  "online: the certificate is not one of this service's certificates");
		rc = 0;
		goto out;
	}
	{
		unsigned char *der = NULL;
		int n = i2d_X509(r.cert, &der);

		/* the same serial but other bytes: not the certificate we issued */
		if (n <= 0 || ca_issuing_find(ca, rec.ca) == NULL || (size_t)n != rec.derlen ||
		    memcmp(der, rec.der, rec.derlen) != 0) {
			OPENSSL_free(der);
			ra_answer(a, RA_ONLINE_UNKNOWN_CERTIFICATE,
				  "online: the certificate is not one of this service's "
				  "certificates");
			rc = 0;
			goto out;
		}
		OPENSSL_free(der);
	}
	a->not_after = rec.not_after;
	if (r.time < now - window || r.time > now + window) {
		ra_answer(a, RA_ONLINE_STALE,
			  "online: the request's time is outside the accepted window");
		rc = 0;
		goto out;
	}
	ra_nonce_hash(&r, nh);
	if (store_online_nonce_add(st, nh, now + 2 * window, &pe) == -1) {
		if (pe.code != ERR_CONFLICT) {
			err_set(e, pe.code, "%s", pe.msg);
			goto out;
		}
		ra_answer(a, RA_ONLINE_STALE, "online: the request's nonce was used before");
		rc = 0;
		goto out;
	}
	/* from here on the nonce is consumed: every answer commits it */
	if (rec.status == STORE_CERT_REVOKED) {
		a->revoked_at = rec.revoked_at;
		a->reason = rec.reason;
	}
	if (rec.not_after < now) {
		ra_answer(a, RA_ONLINE_EXPIRED, "online: the certificate has expired");
	} else if (type == RA_ONLINE_STATUS) {
		ra_answer(a, rec.status == STORE_CERT_REVOKED ? RA_ONLINE_REVOKED : RA_ONLINE_VALID,
			  NULL);
	} else if (rec.status == STORE_CERT_REVOKED) {
		/* published once a full CRL was made after the revocation (same second: pending) */
		if (store_crl_latest_info(st, rec.ca, 0, &crl, &pe) == -1 &&
		    pe.code != ERR_NOTFOUND) {
			err_set(e, pe.code, "%s", pe.msg);
			goto out;
		}
		if (crl.number > 0 && crl.this_update > rec.revoked_at)
			ra_answer(a, RA_ONLINE_ALREADY_REVOKED,
				  "online: the certificate is revoked and listed in the CRL");
		else
			ra_answer(a, RA_ONLINE_REVOCATION_PENDING,
				  "online: the revocation was accepted and awaits the next CRL");
	} else {
		actor = xasprintf("holder:%s", rec.serial);
		if (ra_revoke_tx(ca, st, rec.serial, r.reason, actor, notify, e) == -1)
			goto out;
		a->revoked_at = now;
		a->reason = r.reason;
		ra_answer(a, RA_ONLINE_ACCEPTED, NULL);
		revoked = 1;
	}
	if (store_commit(st, e) == -1)
		goto out;
	intx = 0;
	if (revoked) {
		struct store_cert after;

		/* the time the row carries (stamped under the write lock) */
		memset(&after, 0, sizeof(after));
		if (store_cert_get(st, rec.serial, &after, &pe) == 0)
			a->revoked_at = after.revoked_at;
		store_cert_clear(&after);
		err_clear(&pe);
		if (ca_after_revoke(ca, st, actor, &pe) == -1)
			log_warn("online: CRL after revocation of %s: %s", rec.serial, pe.msg);
	}
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	free(actor);
	store_crl_clear(&crl);
	store_cert_clear(&rec);
	ra_online_req_free(&r);
	return rc;
}

/* ---- the client side ---- */

int
ra_online_request_build(enum ra_online_type type, X509 *cert, EVP_PKEY *key, const char *reason,
			time_t when, const char *nonce, struct buf *out, struct err *e)
{
	json_t *j = NULL;
	char *text = NULL, serial[STORE_SERIAL_MAX], tbuf[32], nbuf[33];
	unsigned char rnd[16];
	BIO *in = NULL;
	CMS_ContentInfo *cms = NULL;
	unsigned char *der = NULL;
	int n, rc = -1;

	if (x509_serial_hex(X509_get0_serialNumber(cert), serial, sizeof(serial)) == -1) {
		err_set(e, ERR_REFUSED, "online: the certificate's serial number is not usable");
		goto out;
	}
	if (nonce == NULL) {
		util_random(rnd, sizeof(rnd));
		hex_encode(nbuf, rnd, sizeof(rnd));
		nonce = nbuf;
	}
	timefmt_rfc3339(when != 0 ? when : time(NULL), tbuf, sizeof(tbuf));
	j = json_pack("{s:s, s:s, s:s, s:s}", "type", ra_online_type_name(type), "serial", serial,
		      "time", tbuf, "nonce", nonce);
	if (j == NULL)
		fatalx("online: out of memory");
	if (reason != NULL && json_object_set_new(j, "reason", json_string(reason)) == -1) {
		err_set(e, ERR_REFUSED, "online: reason must be UTF-8");
		goto out;
	}
	if ((text = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("online: out of memory");
	if ((in = BIO_new_mem_buf(text, (int)strlen(text))) == NULL)
		fatalx("online: out of memory");
	ERR_clear_error();
	if ((cms = CMS_sign(cert, key, NULL, in, CMS_BINARY)) == NULL) {
		err_ssl(e, ERR_REFUSED, "online: cannot sign the request");
		goto out;
	}
	if ((n = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
		err_ssl(e, ERR_INTERNAL, "online: cannot encode the request");
		goto out;
	}
	buf_reset(out);
	if (buf_append(out, der, (size_t)n) == -1) {
		err_set(e, ERR_INTERNAL, "online: request too large");
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(rnd, sizeof(rnd));
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	free(text);
	json_decref(j);
	return rc;
}
