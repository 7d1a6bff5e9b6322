/*
 * crl: full and delta CRLs (RFC 5280 section 5).  The TBSCertList is written as DER directly,
 * entry by entry, so a CRL of a million entries is produced without a parsed OpenSSL object
 * per entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "util/der.h"

#define CRL_MAX (SIGNER_MAX_CRL)
#define CRL_DELTA_MARGIN 300 /* seconds, longer than any revocation transaction */

struct crl_build {
	struct buf entries; /* DER of the revokedCertificates' SEQUENCE elements */
	size_t count;
	int failed;
	char why[128];
};

/*
 * One revokedCertificates entry (RFC 5280 5.1.2.6 and 5.3).  Runs a million times for a large
 * CRL: small fixed buffers on the stack, no allocation.
 */
static int
crl_entry(void *arg, const struct store_revoked *r)
{
	struct crl_build *cb = arg;
	unsigned char ebuf[160], xbuf[96], tbuf[32];
	struct buf e, ext, t;
	unsigned char serial[20];
	long n;

	buf_init_fixed(&e, ebuf, sizeof(ebuf));
	buf_init_fixed(&ext, xbuf, sizeof(xbuf));
	buf_init_fixed(&t, tbuf, sizeof(tbuf));
	if ((n = hex_decode(serial, sizeof(serial), r->serial)) <= 0) {
		snprintf(cb->why, sizeof(cb->why), "crl: bad serial %s in store", r->serial);
		goto fail;
	}
	if (der_put_uint_bytes(&e, DER_TAG_INTEGER, serial, (size_t)n) == -1 ||
	    der_put_time(&e, r->revoked_at, DER_TIME_RFC5280) == -1)
		goto fail;
	/* reasonCode: omitted for unspecified (RFC 5280 5.3.1 SHOULD) */
	if (r->reason > 0) {
		static const unsigned char oid[] = {0x06, 0x03, 0x55, 0x1d, 0x15};
		unsigned char v[] = {0x04, 0x03, 0x0a, 0x01, (unsigned char)r->reason};

		if (der_put_hdr(&ext, DER_TAG_SEQUENCE, sizeof(oid) + sizeof(v)) == -1 ||
		    buf_append(&ext, oid, sizeof(oid)) == -1 ||
		    buf_append(&ext, v, sizeof(v)) == -1)
			goto fail;
	}
	if (r->invalidity_date > 0) {
		static const unsigned char oid[] = {0x06, 0x03, 0x55, 0x1d, 0x18};

		if (der_put_time(&t, r->invalidity_date, DER_TIME_GENERALIZED) == -1 ||
		    der_put_hdr(&ext, DER_TAG_SEQUENCE, sizeof(oid) + der_tlv_size(t.len)) == -1 ||
		    buf_append(&ext, oid, sizeof(oid)) == -1 ||
		    der_put_hdr(&ext, DER_TAG_OCTETSTRING, t.len) == -1 ||
		    buf_append(&ext, t.data, t.len) == -1)
			goto fail;
	}
	if (ext.len > 0 && (der_put_hdr(&e, DER_TAG_SEQUENCE, ext.len) == -1 ||
			    buf_append(&e, ext.data, ext.len) == -1))
		goto fail;
	if (der_put_hdr(&cb->entries, DER_TAG_SEQUENCE, e.len) == -1 ||
	    buf_append(&cb->entries, e.data, e.len) == -1) {
		snprintf(cb->why, sizeof(cb->why), "crl: larger than %u bytes", CRL_MAX);
		goto fail;
	}
	cb->count++;
	return 0;
fail:
	cb->failed = 1;
	return 1;
}

/*
 * crlExtensions: AKI, CRL number, then freshestCRL (full CRLs) or the critical Delta CRL
 * Indicator naming the base (delta CRLs).
 */
static int
crl_extensions(const struct ca *ca, const struct ca_issuing *ci, int64_t number, int delta,
	       int64_t base, struct buf *out)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ci->cert);
	struct buf exts, v;
	int rc = -1;

	buf_init(&exts, 4096);
	buf_init(&v, 1024);
	if (ski != NULL) {
		static const unsigned char oid[] = {0x06, 0x03, 0x55, 0x1d, 0x23};
		size_t kl = (size_t)ASN1_STRING_length(ski);

		/* AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier } */
		if (der_put_hdr(&v, DER_TAG_SEQUENCE, der_tlv_size(kl)) == -1 ||
		    der_put_hdr(&v, DER_TAG_IMPL(0), kl) == -1 ||
		    buf_append(&v, ASN1_STRING_get0_data(ski), kl) == -1)
			goto out;
		if (der_put_hdr(&exts, DER_TAG_SEQUENCE, sizeof(oid) + der_tlv_size(v.len)) == -1 ||
		    buf_append(&exts, oid, sizeof(oid)) == -1 ||
		    der_put_hdr(&exts, DER_TAG_OCTETSTRING, v.len) == -1 ||
		    buf_append(&exts, v.data, v.len) == -1)
			goto out;
	}
	{
		static const unsigned char oid[] = {0x06, 0x03, 0x55, 0x1d, 0x14};

		buf_reset(&v);
		if (der_put_int64(&v, number) == -1 ||
		    der_put_hdr(&exts, DER_TAG_SEQUENCE, sizeof(oid) + der_tlv_size(v.len)) == -1 ||
		    buf_append(&exts, oid, sizeof(oid)) == -1 ||
		    der_put_hdr(&exts, DER_TAG_OCTETSTRING, v.len) == -1 ||
		    buf_append(&exts, v.data, v.len) == -1)
			goto out;
	}
	if (!delta) {
		/* freshestCRL (RFC 5280 5.2.6): where the delta CRLs of this full CRL are */
		static const unsigned char oid[] = {0x06, 0x03, 0x55, 0x1d, 0x2e};
		char *url = xasprintf("%s/crl/%s-delta.crl", ca->base_url, ci->name);
		size_t ul = strlen(url), gn = der_tlv_size(ul), fn = der_tlv_size(gn),
		       dp = der_tlv_size(fn);
		int bad;

		buf_reset(&v);
		/* CRLDistributionPoints { DistributionPoint { [0] { [0] fullName { [6] URI } } } }
		 */
		bad = der_put_hdr(&v, DER_TAG_SEQUENCE, der_tlv_size(dp)) == -1 ||
		      der_put_hdr(&v, DER_TAG_SEQUENCE, dp) == -1 ||
		      der_put_hdr(&v, DER_TAG_CTX(0), fn) == -1 ||
		      der_put_hdr(&v, DER_TAG_CTX(0), gn) == -1 ||
		      der_put_hdr(&v, DER_TAG_IMPL(6), ul) == -1 || buf_append(&v, url, ul) == -1;
		free(url);
		if (bad ||
		    der_put_hdr(&exts, DER_TAG_SEQUENCE, sizeof(oid) + der_tlv_size(v.len)) == -1 ||
		    buf_append(&exts, oid, sizeof(oid)) == -1 ||
		    der_put_hdr(&exts, DER_TAG_OCTETSTRING, v.len) == -1 ||
		    buf_append(&exts, v.data, v.len) == -1)
			goto out;
	}
	if (delta) {
		static const unsigned char oid[] = {0x06, 0x03, 0x55, 0x1d, 0x1b};
		static const unsigned char crit[] = {0x01, 0x01, 0xff};

		buf_reset(&v);
		if (der_put_int64(&v, base) == -1 ||
		    der_put_hdr(&exts, DER_TAG_SEQUENCE,
				sizeof(oid) + sizeof(crit) + der_tlv_size(v.len)) == -1 ||
		    buf_append(&exts, oid, sizeof(oid)) == -1 ||
		    buf_append(&exts, crit, sizeof(crit)) == -1 ||
		    der_put_hdr(&exts, DER_TAG_OCTETSTRING, v.len) == -1 ||
		    buf_append(&exts, v.data, v.len) == -1)
			goto out;
	}
	/* [0] EXPLICIT Extensions */
	if (der_put_hdr(out, DER_TAG_CTX(0), der_tlv_size(exts.len)) == -1 ||
	    der_put_hdr(out, DER_TAG_SEQUENCE, exts.len) == -1 ||
	    buf_append(out, exts.data, exts.len) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&exts);
	buf_free(&v);
	return rc;
}

/*
 * One buffer holds the whole CRL: room is reserved in front, the entries are written after
 * it as the store streams them, then the TBSCertList and CertificateList headers are placed
 * right-aligned into the reserved room and the extensions, algorithm and signature appended.
 * A CRL of a million entries (~49 MB) thus exists once in memory, never copied.
 */
int
ca_crl_generate(struct ca *ca, struct store *st, int delta, const char *actor,
		struct store_crl *out, struct err *e)
{
	return ca_crl_generate_for(ca, &ca->cas[0], st, delta, actor, out, e);
}

int
ca_crl_generate_for(struct ca *ca, const struct ca_issuing *ci, struct store *st, int delta,
		    const char *actor, struct store_crl *out, struct err *e)
{
	struct crl_build cb;
	struct store_crl base, crl;
	struct buf head, tail;
	unsigned char *alg = NULL, *issuer = NULL, *sig = NULL, hdr[DER_HDR_MAX];
	int alglen, issuerlen, sig_nid, md_nid, rc = -1, r;
	size_t siglen = 0, front, inner, hl, tbs_start, tbslen, cert_start;
	int64_t number = 0, base_number = 0;
	time_t now = util_now(), since = 0;
	X509_ALGOR *algor = NULL;
	char obj[128], *detail = NULL;
	static const unsigned char v2[] = {0x02, 0x01, 0x01};

	memset(&cb, 0, sizeof(cb));
	memset(&base, 0, sizeof(base));
	memset(&crl, 0, sizeof(crl));
	memset(out, 0, sizeof(*out));
	buf_init(&head, 64 * 1024);
	buf_init(&tail, 64 * 1024);
	if (ca->signer == NULL) {
		err_set(e, ERR_INTERNAL, "crl: no signer attached");
		goto out;
	}
	if (delta) {
		struct err e2;

		err_clear(&e2);
		if (store_crl_latest_info(st, ci->name, 0, &base, &e2) == -1) {
			if (e2.code == ERR_NOTFOUND)
				err_set(
				    e, ERR_REFUSED,
				    "crl: a delta CRL needs a full CRL first (run `shomei crl`)");
			else
				err_set(e, e2.code, "%s", e2.msg);
			goto out;
		}
		base_number = base.number;
		/*
		 * Revocations since the base was made, reaching back CRL_DELTA_MARGIN: a
		 * revocation stamped before the base's thisUpdate may commit after the base's
		 * walk (it waited for a lock), and then only a delta can carry it.  Listing a
		 * revocation twice is harmless; missing one is not.
		 */
		since = base.this_update - CRL_DELTA_MARGIN;
	}
	if (x509_sigalg_for_key(ci->issuer.pubkey, &sig_nid, &md_nid, e) == -1)
		goto out;
	if ((algor = X509_ALGOR_new()) == NULL || x509_algor_set(algor, sig_nid, e) == -1 ||
	    (alglen = i2d_X509_ALGOR(algor, &alg)) <= 0 ||
	    (issuerlen = i2d_X509_NAME(X509_get_subject_name(ci->cert), &issuer)) <= 0) {
		err_ssl(e, ERR_INTERNAL, "crl: cannot encode issuer or algorithm");
		goto out;
	}

	/* room for: two outer headers, version, algorithm, issuer, two times, entries header */
	front = 64 + (size_t)alglen + (size_t)issuerlen;
	buf_init(&cb.entries, CRL_MAX);
	if (buf_append(&cb.entries, NULL, 0) == -1)
		goto enc;
	while (cb.entries.len < front)
		if (buf_putc(&cb.entries, 0) == -1)
			goto enc;
	/*
	 * The number first, then thisUpdate, then the walk: of two CRLs made at once (two front
	 * ends' schedules, `shomei crl`, crl.on_revoke), the higher number then starts its walk
	 * later and is not older (unless its maker stalls between these steps: no lock) — taken
	 * after the walk, a long walk could get the higher number and lack a revocation the lower
	 * one lists.  A failure below leaves a gap in the numbers (allowed: they only increase).
	 */
	if (store_crl_next_number(st, ci->name, &number, e) == -1)
		goto out;
	now = util_now();
	r = store_revoked_foreach(st, ci->name, since, crl_entry, &cb, e);
	if (cb.failed) {
		err_set(e, ERR_INTERNAL, "%s", cb.why[0] ? cb.why : "crl: cannot encode entry");
		goto out;
	}
	if (r != 0)
		goto out;

	/* version, signature, issuer, thisUpdate, nextUpdate, revokedCertificates header */
	if (buf_append(&head, v2, sizeof(v2)) == -1 ||
	    buf_append(&head, alg, (size_t)alglen) == -1 ||
	    buf_append(&head, issuer, (size_t)issuerlen) == -1 ||
	    der_put_time(&head, now, DER_TIME_RFC5280) == -1 ||
	    der_put_time(&head, now + 3600 * (delta ? ca->crl_delta_hours : ca->crl_hours),
			 DER_TIME_RFC5280) == -1)
		goto enc;
	if (cb.count > 0 && der_put_hdr(&head, DER_TAG_SEQUENCE, cb.entries.len - front) == -1)
		goto enc;
	if (crl_extensions(ca, ci, number, delta, base_number, &tail) == -1)
		goto enc;
	/* TBSCertList ::= SEQUENCE { head, entries, crlExtensions } */
	inner = head.len + (cb.entries.len - front) + tail.len;
	hl = der_hdr(hdr, DER_TAG_SEQUENCE, inner);
	if (head.len + hl + 8 > front)
		goto enc;
	tbs_start = front - head.len - hl;
	memcpy(cb.entries.data + tbs_start, hdr, hl);
	memcpy(cb.entries.data + tbs_start + hl, head.data, head.len);
	if (buf_append(&cb.entries, tail.data, tail.len) == -1)
		goto enc;
	tbslen = cb.entries.len - tbs_start;
	if (signer_sign(ca->signer, SIGNER_OP_SIGN_CRL, cb.entries.data + tbs_start, tbslen, &sig,
			&siglen, e) == -1)
		goto out;

	/* CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, BIT STRING } */
	inner = tbslen + (size_t)alglen + der_tlv_size(siglen + 1);
	hl = der_hdr(hdr, DER_TAG_SEQUENCE, inner);
	cert_start = tbs_start - hl;
	memcpy(cb.entries.data + cert_start, hdr, hl);
	if (buf_append(&cb.entries, alg, (size_t)alglen) == -1 ||
	    der_put_hdr(&cb.entries, DER_TAG_BITSTRING, siglen + 1) == -1 ||
	    buf_putc(&cb.entries, 0) == -1 || buf_append(&cb.entries, sig, siglen) == -1)
		goto enc;
	/* hand the buffer over as the CRL: shift it to the start (no second copy) */
	crl.derlen = cb.entries.len - cert_start;
	memmove(cb.entries.data, cb.entries.data + cert_start, crl.derlen);
	crl.der = cb.entries.data;
	cb.entries.data = NULL;
	cb.entries.len = cb.entries.cap = 0;

	crl.ca = xstrdup(ci->name);
	crl.number = number;
	crl.delta = delta;
	crl.base_number = base_number;
	crl.this_update = now;
	crl.next_update = now + 3600 * (delta ? ca->crl_delta_hours : ca->crl_hours);
	snprintf(obj, sizeof(obj), "%s#%lld", ci->name, (long long)number);
	detail = xasprintf("%s entries=%zu", delta ? "delta" : "full", cb.count);
	if (store_begin(st, e) == -1)
		goto out;
	if (store_crl_put(st, &crl, e) == -1 ||
	    store_audit_append(st, actor, delta ? "crl.delta" : "crl.generate", obj, detail, NULL,
			       e) == -1 ||
	    store_commit(st, e) == -1) {
		store_rollback(st);
		goto out;
	}
	*out = crl;
	memset(&crl, 0, sizeof(crl));
	rc = 0;
	goto out;
enc:
	err_set(e, ERR_INTERNAL, "crl: encoding failed (too large?)");
out:
	X509_ALGOR_free(algor);
	OPENSSL_free(alg);
	OPENSSL_free(issuer);
	free(sig);
	free(detail);
	buf_free(&cb.entries);
	buf_free(&head);
	buf_free(&tail);
	store_crl_clear(&base);
	store_crl_clear(&crl);
	return rc;
}
