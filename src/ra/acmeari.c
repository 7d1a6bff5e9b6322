/*
 * acmeari: the RA's side of ACME renewal information (RFC 9773), the orders list (RFC 8555
 * 7.1.2.1) and the profiles ACME offers (draft-ietf-acme-profiles): the certID parser (pure,
 * fuzzed), the suggested window (pure), the lookup of a certificate of this instance's issuing
 * CAs, and the orders of an account page by page.  `replaces` and the profile of an order are
 * acmeorder.c's (they are rules of newOrder and finalize).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra.h"
#include "util/b64.h"

int
ra_acme_profile_ok(const char *name)
{
	return name != NULL && (strcmp(name, "server") == 0 || strcmp(name, "shortlived") == 0);
}

/* 1 when s[0..n) is unpadded base64url text (the decoder checks the rest). */
static int
ari_b64url_chars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return 0;
	return n > 0;
}

int
ra_acme_certid_parse(const char *s, size_t len, struct ra_acme_certid *id, struct err *e)
{
	unsigned char ser[RA_ACME_SERIAL_MAX + 1];
	const char *dot;
	size_t al, sl, n = 0;

	memset(id, 0, sizeof(*id));
	if (s == NULL || len == 0 || len > RA_ACME_CERTID_MAX)
		return err_set(e, ERR_REFUSED, "certID: RFC 9773 4.1: 1 to %d bytes",
			       RA_ACME_CERTID_MAX);
	if ((dot = memchr(s, '.', len)) == NULL)
		return err_set(e, ERR_REFUSED,
			       "certID: RFC 9773 4.1: keyIdentifier \".\" serial, no \".\"");
	al = (size_t)(dot - s);
	sl = len - al - 1;
	if (!ari_b64url_chars(s, al) || !ari_b64url_chars(dot + 1, sl))
		return err_set(e, ERR_REFUSED,
			       "certID: RFC 9773 4.1: both parts are unpadded base64url, not "
			       "empty");
	if (b64url_decode(id->aki, sizeof(id->aki), &id->akilen, s, al) == -1 || id->akilen == 0)
		return err_set(e, ERR_REFUSED,
			       "certID: RFC 9773 4.1: the keyIdentifier is 1 to %d bytes of "
			       "base64url",
			       RA_ACME_AKI_MAX);
	if (b64url_decode(ser, RA_ACME_SERIAL_MAX, &n, dot + 1, sl) == -1 || n == 0)
		return err_set(e, ERR_REFUSED,
			       "certID: RFC 5280 4.1.2.2: the serial is 1 to %d octets of "
			       "base64url",
			       RA_ACME_SERIAL_MAX);
	/* X.690 8.3.2: minimal; RFC 5280 4.1.2.2: positive */
	if (n > 1 && ((ser[0] == 0x00 && !(ser[1] & 0x80)) || (ser[0] == 0xff && (ser[1] & 0x80))))
		return err_set(e, ERR_REFUSED,
			       "certID: X.690 8.3.2: the serial's DER INTEGER is not minimal");
	if ((ser[0] & 0x80) || (n == 1 && ser[0] == 0))
		return err_set(e, ERR_REFUSED,
			       "certID: RFC 5280 4.1.2.2: the serial is not a positive integer");
	memcpy(id->text, s, len);
	id->text[len] = '\0';
	if (ser[0] == 0x00) /* the sign octet of a positive serial with the top bit set */
		hex_encode(id->serial, ser + 1, n - 1);
	else
		hex_encode(id->serial, ser, n);
	return 0;
}

int
ra_acme_certid_of(const X509 *x, char *out, size_t outlen)
{
	AUTHORITY_KEYID *ak = X509_get_ext_d2i(x, NID_authority_key_identifier, NULL, NULL);
	const ASN1_OCTET_STRING *aki = ak != NULL ? ak->keyid : NULL;
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	unsigned char *der = NULL;
	char a[B64URL_LEN(RA_ACME_AKI_MAX) + 1], b[B64URL_LEN(RA_ACME_SERIAL_MAX + 2) + 1];
	int n, rc = -1;

	if (aki == NULL || ASN1_STRING_length(aki) <= 0 ||
	    ASN1_STRING_length(aki) > RA_ACME_AKI_MAX || (n = i2d_ASN1_INTEGER(sn, &der)) < 3 ||
	    n > RA_ACME_SERIAL_MAX + 2)
		goto out;
	/* the DER INTEGER's content: after the tag and the (short) length */
	if (b64url_encode(a, sizeof(a), ASN1_STRING_get0_data(aki),
			  (size_t)ASN1_STRING_length(aki)) == -1 ||
	    b64url_encode(b, sizeof(b), der + 2, (size_t)n - 2) == -1)
		goto out;
	if ((size_t)snprintf(out, outlen, "%s.%s", a, b) >= outlen)
		goto out;
	rc = 0;
out:
	AUTHORITY_KEYID_free(ak);
	OPENSSL_free(der);
	return rc;
}

void
ra_acme_renewal_window(time_t nb, time_t na, int revoked, time_t now, time_t *start, time_t *end)
{
	long long v = (long long)na - (long long)nb + 1;

	if (revoked) {
		*start = now - 86400;
		*end = now - 3600;
		return;
	}
	if (v < 6)
		v = 6;
	*start = (time_t)((long long)na - v / 3);
	*end = (time_t)((long long)na - v / 6);
}

/* The issuing CA (current or previous) whose subjectKeyIdentifier is id's keyIdentifier. */
static const struct ca_issuing *
ari_issuing(const struct ca *ca, const struct ra_acme_certid *id)
{
	const ASN1_OCTET_STRING *ski;

	for (size_t i = 0; i < ca->ncas; i++) {
		ski = X509_get0_subject_key_id(ca->cas[i].cert);
		if (ski != NULL && (size_t)ASN1_STRING_length(ski) == id->akilen &&
		    memcmp(ASN1_STRING_get0_data(ski), id->aki, id->akilen) == 0)
			return &ca->cas[i];
	}
	return NULL;
}

enum ra_acme_outcome
ra_acme_renewal_info(const struct ca *ca, struct store *st, const struct ra_acme_certid *id,
		     time_t now, time_t *start, time_t *end, struct err *e_out)
{
	const struct ca_issuing *ci = ari_issuing(ca, id);
	struct store_cert c;
	enum ra_acme_outcome r = RA_ACME_NOT_FOUND;
	struct err le;

	err_clear(&le);
	memset(&c, 0, sizeof(c));
	if (ci == NULL) {
		err_set(&le, ERR_NOTFOUND,
			"acme: RFC 9773 4.1: the keyIdentifier is none of this CA's");
		goto out;
	}
	if (store_cert_get(st, id->serial, &c, &le) == -1) {
		if (le.code == ERR_NOTFOUND) {
			err_clear(&le);
			err_set(&le, ERR_NOTFOUND, "acme: RFC 9773 4.1: no certificate %s of %s",
				id->serial, ci->name);
		} else {
			r = RA_ACME_ERROR;
		}
		goto out;
	}
	if (c.ca == NULL || strcmp(c.ca, ci->name) != 0) {
		err_set(&le, ERR_NOTFOUND, "acme: RFC 9773 4.1: no certificate %s of %s",
			id->serial, ci->name);
		goto out;
	}
	ra_acme_renewal_window(c.not_before, c.not_after, c.status == STORE_CERT_REVOKED, now,
			       start, end);
	r = RA_ACME_OK;
out:
	store_cert_clear(&c);
	if (le.code != ERR_OK)
		err_set(e_out, le.code, "%s", le.msg);
	return r;
}

enum ra_acme_outcome
ra_acme_orders_list(struct store *st, int64_t acct_id, int64_t after, size_t page, int64_t **ids,
		    size_t *n, int64_t *next, struct err *e_out)
{
	struct err le;
	int64_t *v = NULL;
	size_t k = 0;

	err_clear(&le);
	*ids = NULL;
	*n = 0;
	*next = 0;
	if (page == 0)
		page = 1;
	/* one more than a page: whether a next page exists */
	if (store_acme_order_list(st, acct_id, after, util_now(), page + 1, &v, &k, &le) == -1) {
		err_set(e_out, le.code, "%s", le.msg);
		return RA_ACME_ERROR;
	}
	if (k > page) {
		k = page;
		*next = v[k - 1];
	}
	*ids = v;
	*n = k;
	return RA_ACME_OK;
}
