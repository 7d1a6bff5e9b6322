/*
 * signer: the key process.  signer_proc() runs in the child that signer_spawn() forks; it
 * hardens itself, loads the keys, reports readiness, then answers one framed request at a
 * time.  Every payload is parsed again here and refused unless it is what the key it asks
 * for may sign; only then are the received bytes signed, unchanged.
 *
 * Two error tiers (as in rpki-client): broken framing is fatal (exit 3, the supervisor
 * starts a new signer); a payload that breaks a rule gets a REFUSED answer and the signer
 * keeps serving.
 */
#include <sys/prctl.h>
#include <sys/types.h>

#include <dirent.h>
#include <poll.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../x509/x509.h"
#include "signer_local.h"

/* Closes every descriptor except keep and 0/1/2 (walks /proc/self/fd; a loop without /proc). */
static void
signer_fds_close(int keep)
{
	DIR *d;
	struct dirent *de;
	int *fds = NULL, fd;
	size_t n = 0, i;
	long v;

	if ((d = opendir("/proc/self/fd")) == NULL) {
		for (fd = 3; fd < 4096; fd++)
			if (fd != keep)
				(void)close(fd);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (util_parse_long(de->d_name, 0, INT_MAX, &v) == -1)
			continue;
		if (v <= 2 || v == keep || v == dirfd(d))
			continue;
		fds = xrealloc(fds, (n + 1) * sizeof(*fds));
		fds[n++] = (int)v;
	}
	closedir(d);
	for (i = 0; i < n; i++)
		(void)close(fds[i]);
out:
	free(fds);
}

/* Process hardening done first thing in the child, before any key exists. */
static void
signer_harden(int fd)
{
	struct sigaction sa;
	sigset_t none;

	(void)prctl(PR_SET_NAME, "shomei-signer", 0, 0, 0);
	/* no core dumps, no ptrace by same-uid processes, no /proc/pid/mem */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	signer_fds_close(fd);
}

/*
 * Finds the AlgorithmIdentifier inside a TBSCertificate (after the optional [0] version and
 * the serialNumber) and wraps the TBS as Certificate ::= SEQUENCE { tbs, that algorithm,
 * BIT STRING '' } so that d2i_X509 can parse it whole.  *out is malloc'ed.
 */
static int
signer_cert_wrap(const unsigned char *p, size_t len, unsigned char **out, size_t *outlen,
		 struct err *e)
{
	struct der_reader in;
	struct der_tlv tbs, t, alg;
	static const unsigned char empty_bits[] = {0x03, 0x01, 0x00};
	unsigned char hdr[DER_HDR_MAX], *w;
	size_t hl, content;
	int rc = -1;

	if (der_parse_one(p, len, &tbs) == -1 || tbs.tag != DER_TAG_SEQUENCE) {
		err_set(e, ERR_REFUSED, "signer: SIGN_CERT: payload is not one DER SEQUENCE");
		goto out;
	}
	der_reader_enter(&in, &tbs);
	if (der_optional(&in, DER_TAG_CTX(0), &t) == -1 ||
	    der_expect(&in, DER_TAG_INTEGER, &t) == -1 ||
	    der_expect(&in, DER_TAG_SEQUENCE, &alg) == -1) {
		err_set(e, ERR_REFUSED,
			"signer: SIGN_CERT: RFC 5280 4.1.2: no serialNumber and signature "
			"AlgorithmIdentifier at the start of the TBSCertificate");
		goto out;
	}
	content = len + alg.total + sizeof(empty_bits);
	hl = der_hdr(hdr, DER_TAG_SEQUENCE, content);
	*outlen = hl + content;
	*out = w = xmalloc(*outlen);
	memcpy(w, hdr, hl);
	memcpy(w + hl, p, len);
	memcpy(w + hl + len, alg.start, alg.total);
	memcpy(w + hl + len + alg.total, empty_bits, sizeof(empty_bits));
	rc = 0;
out:
	return rc;
}

/* a <= b for two ASN1_TIMEs; unparseable times count as not ordered */
static int
signer_time_le(const ASN1_TIME *a, const ASN1_TIME *b)
{
	int c = ASN1_TIME_compare(a, b);

	return c == -1 || c == 0;
}

/*
 * SIGN_CERT: the TBS must parse whole, be DER, announce the CA key's algorithm, name the CA as
 * issuer, not be a CA certificate, point its AKI at the CA's SKI, and fit inside the CA's
 * validity.
 */
static int
signer_check_cert(struct signer_keys *ks, const unsigned char *p, size_t len, struct err *e)
{
	X509 *x = NULL, *ca = ks->ca.cert;
	BASIC_CONSTRAINTS *bc = NULL;
	const X509_ALGOR *alg;
	const ASN1_OBJECT *obj;
	const ASN1_OCTET_STRING *aki, *ski;
	const void *pval;
	const unsigned char *q;
	unsigned char *der = NULL, *re = NULL;
	size_t derlen = 0;
	int rc = -1, ptype, crit = -1, relen;
	uint32_t flags;

	if (signer_cert_wrap(p, len, &der, &derlen, e) == -1)
		goto out;
	q = der;
	/* d2i_X509() in a provider-less context (see signer_local.h: parse_ctx) */
	x = (X509 *)ASN1_item_d2i_ex(NULL, &q, (long)derlen, ASN1_ITEM_rptr(X509), ks->parse_ctx,
				     NULL);
	if (x == NULL || q != der + derlen) {
		err_ssl(e, ERR_REFUSED, "signer: SIGN_CERT: TBSCertificate does not parse");
		goto out;
	}
	/* what we check must be what we sign: the bytes must be the DER of what parsed */
	if ((relen = i2d_re_X509_tbs(x, &re)) <= 0 || (size_t)relen != len ||
	    memcmp(re, p, len) != 0) {
		ERR_clear_error();
		err_set(e, ERR_REFUSED,
			"signer: SIGN_CERT: X.690: TBSCertificate is not DER (it does not "
			"re-encode to the same bytes)");
		goto out;
	}
	alg = X509_get0_tbs_sigalg(x);
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	if (OBJ_obj2nid(obj) != ks->ca.sig_nid ||
	    !(ptype == V_ASN1_UNDEF ||
	      (ptype == V_ASN1_NULL &&
	       EVP_PKEY_get_base_id(X509_get0_pubkey(ca)) == EVP_PKEY_RSA))) {
		err_set(e, ERR_REFUSED,
			"signer: SIGN_CERT: signature algorithm does not match the CA key "
			"(expected %s)",
			OBJ_nid2sn(ks->ca.sig_nid));
		goto out;
	}
	if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)) != 0) {
		err_set(e, ERR_REFUSED,
			"signer: SIGN_CERT: issuer does not match the CA certificate");
		goto out;
	}
	flags = X509_get_extension_flags(x);
	if (flags & EXFLAG_INVALID) {
		err_set(e, ERR_REFUSED,
			"signer: SIGN_CERT: RFC 5280 4.2: an extension does not parse or repeats");
		goto out;
	}
	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	if (bc == NULL && crit != -1) {
		err_set(e, ERR_REFUSED,
			"signer: SIGN_CERT: basicConstraints is malformed or repeated");
		goto out;
	}
	if (bc != NULL && bc->ca) {
		err_set(e, ERR_REFUSED,
			"signer: SIGN_CERT: basicConstraints cA is TRUE (the online CA never signs "
			"CA certificates)");
		goto out;
	}
	if ((flags & EXFLAG_KUSAGE) && (X509_get_key_usage(x) & KU_KEY_CERT_SIGN)) {
		err_set(e, ERR_REFUSED,
			"signer: SIGN_CERT: keyUsage keyCertSign (the online CA never signs CA "
			"certificates)");
		goto out;
	}
	/*
	 * Anything OpenSSL would accept as a CA (Netscape cert type CA bits without
	 * basicConstraints, a v1 self-issued name, ...) is refused too, and only v3 is signed.
	 */
	if (X509_get_version(x) != X509_VERSION_3 || X509_check_ca(x) != 0) {
		err_set(e, ERR_REFUSED,
			"signer: SIGN_CERT: not a v3 end-entity certificate (the online CA never "
			"signs CA certificates)");
		goto out;
	}
	if ((aki = X509_get0_authority_key_id(x)) != NULL) {
		ski = X509_get0_subject_key_id(ca);
		if (ski == NULL || ASN1_OCTET_STRING_cmp(aki, ski) != 0) {
			err_set(e, ERR_REFUSED,
				"signer: SIGN_CERT: authorityKeyIdentifier does not match the CA's "
				"subjectKeyIdentifier");
			goto out;
		}
	}
	if (!signer_time_le(X509_get0_notBefore(x), X509_get0_notAfter(x))) {
		err_set(e, ERR_REFUSED, "signer: SIGN_CERT: notBefore is after notAfter");
		goto out;
	}
	if (!signer_time_le(X509_get0_notBefore(ca), X509_get0_notBefore(x)) ||
	    !signer_time_le(X509_get0_notAfter(x), X509_get0_notAfter(ca))) {
		err_set(e, ERR_REFUSED,
			"signer: SIGN_CERT: validity is not inside the CA certificate's validity");
		goto out;
	}
	if (signer_policy_cert(&ks->policy, x, util_now(), e) == -1)
		goto out;
	if (x509_serial_hex(X509_get0_serialNumber(x), ks->policy.last_id,
			    sizeof(ks->policy.last_id)) == -1)
		snprintf(ks->policy.last_id, sizeof(ks->policy.last_id), "?");
	rc = 0;
out:
	BASIC_CONSTRAINTS_free(bc);
	OPENSSL_free(re);
	X509_free(x);
	free(der);
	return rc;
}

/*
 * SIGN_CRL: CRLs reach tens of MB, so no full parse.  The DER walk checks that one SEQUENCE
 * covers the payload, that it is a v2 TBSCertList with the CA key's AlgorithmIdentifier and
 * the CA's subject as issuer (byte for byte), and that the remaining top-level fields have the
 * right tags (times, a SEQUENCE of entries, [0] extensions) and end with the payload.  Cost is
 * independent of the number of entries.
 */
/*
 * crlExtensions ([0] EXPLICIT Extensions): only what shomei's CRLs carry — AKI, CRL number,
 * Delta CRL Indicator, Freshest CRL.  In particular no Issuing Distribution Point, so no
 * indirect CRL: certificateIssuer entries could then revoke another issuer's certificates.
 */
static int
signer_crl_exts_check(const struct der_tlv *ctx0, struct err *e)
{
	static const unsigned char allowed[][3] = {
	    {0x55, 0x1d, 0x23}, /* authorityKeyIdentifier */
	    {0x55, 0x1d, 0x14}, /* cRLNumber */
	    {0x55, 0x1d, 0x1b}, /* deltaCRLIndicator */
	    {0x55, 0x1d, 0x2e}, /* freshestCRL */
	};
	struct der_reader d, exts, ext;
	struct der_tlv seq, x, oid;
	size_t i;
	unsigned seen = 0;
	int r, ok;

	der_reader_init(&d, ctx0->val, ctx0->len);
	if (der_next(&d, &seq) != 0 || seq.tag != DER_TAG_SEQUENCE || !der_reader_done(&d))
		goto bad;
	der_reader_init(&exts, seq.val, seq.len);
	while ((r = der_next(&exts, &x)) == 0) {
		if (x.tag != DER_TAG_SEQUENCE)
			goto bad;
		der_reader_init(&ext, x.val, x.len);
		if (der_next(&ext, &oid) != 0 || oid.tag != DER_TAG_OID)
			goto bad;
		ok = 0;
		for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]) && !ok; i++)
			if (oid.len == 3 && memcmp(oid.val, allowed[i], 3) == 0) {
				ok = 1;
				/* RFC 5280 4.2: each extension once (two CRL numbers would read
				 * as either) */
				if (seen & (1u << i))
					return err_set(
					    e, ERR_REFUSED,
					    "signer: SIGN_CRL: RFC 5280 5.2: an extension "
					    "repeats");
				seen |= 1u << i;
			}
		if (!ok)
			return err_set(e, ERR_REFUSED,
				       "signer: SIGN_CRL: extension not allowed in shomei's CRLs "
				       "(only AKI, CRL number, delta indicator, freshest CRL)");
	}
	if (r != 1)
		goto bad;
	return 0;
bad:
	return err_set(e, ERR_REFUSED,
		       "signer: SIGN_CRL: RFC 5280 5.1.2.7: malformed crlExtensions");
}

/*
 * The issuing CA whose CRL the TBSCertList's algorithm and issuer name (t: the algorithm; the
 * issuer follows in in) announce: the current one's key, or a previous one's; *last and *name
 * are its CRL floor and name.
 */
static int
signer_crl_ca(struct signer_keys *ks, const struct der_tlv *alg, struct der_reader *in,
	      const struct signer_key **key, int64_t **last, const char **name, struct err *e)
{
	struct der_tlv t;
	size_t i;

	if (der_next(in, &t) != 0)
		return err_set(e, ERR_REFUSED, "signer: SIGN_CRL: no issuer");
	if (alg->total == ks->ca_algid_len && memcmp(alg->start, ks->ca_algid, alg->total) == 0 &&
	    t.total == ks->ca_name_len && memcmp(t.start, ks->ca_name, t.total) == 0) {
		*key = &ks->ca;
		*last = ks->policy.crl_last;
		*name = ks->name;
		return 0;
	}
	for (i = 0; i < ks->nprev; i++) {
		const struct signer_prev *pv = &ks->prev[i];

		if (alg->total == pv->algid_len && memcmp(alg->start, pv->algid, alg->total) == 0 &&
		    t.total == pv->subject_len && memcmp(t.start, pv->subject, t.total) == 0) {
			*key = &pv->ca;
			*last = ks->prev[i].crl_last;
			*name = pv->name;
			return 0;
		}
	}
	if (alg->total != ks->ca_algid_len || memcmp(alg->start, ks->ca_algid, alg->total) != 0)
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_CRL: signature algorithm does not match the CA key "
			       "(expected %s)",
			       OBJ_nid2sn(ks->ca.sig_nid));
	return err_set(e, ERR_REFUSED,
		       "signer: SIGN_CRL: issuer does not match the CA certificate");
}

static int
signer_check_crl(struct signer_keys *ks, const unsigned char *p, size_t len,
		 const struct signer_key **key, struct err *e)
{
	struct der_reader d, in;
	struct der_tlv tbs, t;
	int64_t *last = NULL;
	const char *name = NULL;
	int rc = -1, r;

	der_reader_init(&d, p, len);
	if (der_next(&d, &tbs) != 0 || tbs.tag != DER_TAG_SEQUENCE || !der_reader_done(&d)) {
		err_set(e, ERR_REFUSED, "signer: SIGN_CRL: payload is not one DER SEQUENCE");
		goto out;
	}
	der_reader_init(&in, tbs.val, tbs.len);
	if (der_next(&in, &t) != 0 || t.tag != DER_TAG_INTEGER || t.len != 1 || t.val[0] != 1) {
		err_set(e, ERR_REFUSED, "signer: SIGN_CRL: RFC 5280 5.1.2.1: version must be v2");
		goto out;
	}
	if (der_next(&in, &t) != 0) {
		err_set(e, ERR_REFUSED, "signer: SIGN_CRL: no signature algorithm");
		goto out;
	}
	if (signer_crl_ca(ks, &t, &in, key, &last, &name, e) == -1)
		goto out;
	if (der_next(&in, &t) != 0 || (t.tag != DER_TAG_UTCTIME && t.tag != DER_TAG_GENTIME)) {
		err_set(e, ERR_REFUSED, "signer: SIGN_CRL: RFC 5280 5.1.2.4: bad thisUpdate");
		goto out;
	}
	r = der_next(&in, &t);
	if (r == 0 && (t.tag == DER_TAG_UTCTIME || t.tag == DER_TAG_GENTIME))
		r = der_next(&in, &t);
	/* revokedCertificates: skipped by its length, never walked (O(1) for any size) */
	if (r == 0 && t.tag == DER_TAG_SEQUENCE)
		r = der_next(&in, &t);
	if (r == 0 && t.tag == DER_TAG_CTX(0)) {
		if (signer_crl_exts_check(&t, e) == -1)
			goto out;
		r = der_next(&in, &t);
	}
	if (r != 1) {
		err_set(e, ERR_REFUSED,
			"signer: SIGN_CRL: RFC 5280 5.1: unexpected or malformed field in the "
			"TBSCertList");
		goto out;
	}
	if (signer_policy_crl(&ks->policy, last, name, p, len, util_now(), e) == -1)
		goto out;
	rc = 0;
out:
	return rc;
}

/*
 * SIGN_OCSP: the ResponseData must parse whole, and its responderID must name the OCSP
 * certificate (byName: its subject; byKey: SHA-1 of its subjectPublicKey).
 * The times are the policy's (policy.c: signer_policy_ocsp).
 */
static int
signer_check_ocsp(struct signer_keys *ks, const unsigned char *p, size_t len,
		  const struct signer_key **key, struct err *e)
{
	size_t i;

	OCSP_RESPDATA *rd = NULL;
	OCSP_RESPID *rid = NULL;
	struct der_reader d, in;
	struct der_tlv seq, t;
	const unsigned char *q = p;
	int rc = -1;

	if (ks->ocsp.pkey == NULL) {
		err_set(e, ERR_REFUSED, "signer: no OCSP key configured");
		goto out;
	}
	if ((rd = d2i_OCSP_RESPDATA(NULL, &q, (long)len)) == NULL || q != p + len) {
		err_ssl(e, ERR_REFUSED, "signer: SIGN_OCSP: ResponseData does not parse");
		goto out;
	}
	der_reader_init(&d, p, len);
	if (der_next(&d, &seq) != 0 || seq.tag != DER_TAG_SEQUENCE || !der_reader_done(&d)) {
		err_set(e, ERR_REFUSED, "signer: SIGN_OCSP: payload is not one DER SEQUENCE");
		goto out;
	}
	der_reader_init(&in, seq.val, seq.len);
	if (der_next(&in, &t) != 0 || (t.tag == DER_TAG_CTX(0) && der_next(&in, &t) != 0) ||
	    (t.tag != DER_TAG_CTX(1) && t.tag != DER_TAG_CTX(2))) {
		err_set(e, ERR_REFUSED, "signer: SIGN_OCSP: RFC 6960 4.2.1: no responderID");
		goto out;
	}
	q = t.start;
	if ((rid = d2i_OCSP_RESPID(NULL, &q, (long)t.total)) == NULL || q != t.start + t.total) {
		err_ssl(e, ERR_REFUSED, "signer: SIGN_OCSP: responderID does not parse");
		goto out;
	}
	/* the current CA's responder, or a previous CA's (each answers for its own certificates) */
	*key = &ks->ocsp;
	for (i = 0; i < ks->nprev && OCSP_RESPID_match(rid, ks->ocsp.cert) != 1; i++)
		if (ks->prev[i].ocsp.pkey != NULL &&
		    OCSP_RESPID_match(rid, ks->prev[i].ocsp.cert) == 1) {
			*key = &ks->prev[i].ocsp;
			break;
		}
	if (OCSP_RESPID_match(rid, (*key)->cert) != 1) {
		ERR_clear_error();
		err_set(e, ERR_REFUSED,
			"signer: SIGN_OCSP: RFC 6960 4.2.2.3: responderID does not match the OCSP "
			"certificate");
		goto out;
	}
	if (signer_policy_ocsp(&ks->policy, p, len, util_now(), e) == -1)
		goto out;
	rc = 0;
out:
	OCSP_RESPID_free(rid);
	OCSP_RESPDATA_free(rd);
	return rc;
}

/*
 * SIGN_TSA: the payload is the DER SET OF Attribute that a CMS SignerInfo signs, followed by
 * the TSTInfo it covers; only the SET is signed.  Each attribute must parse whole and appear
 * once; contentType must be id-ct-TSTInfo (RFC 3161 2.4.2) and a messageDigest must be
 * present (RFC 5652 5.3) and be the TSTInfo's digest, whose genTime and policy the signer's
 * policy checks (policy.c).
 */
static int
signer_check_tsa(struct signer_keys *ks, const unsigned char *p, size_t len, struct err *e)
{
	unsigned char mdv[64];
	size_t mdlen = 0;
	X509_ATTRIBUTE *a = NULL;
	const ASN1_TYPE *v;
	struct der_reader d, in;
	struct der_tlv set, t, tst;
	const unsigned char *q;
	int rc = -1, r, nid, seen[32], nseen = 0, i, seen_ct = 0, seen_md = 0;

	if (ks->tsa.pkey == NULL) {
		err_set(e, ERR_REFUSED, "signer: no TSA key configured");
		goto out;
	}
	der_reader_init(&d, p, len);
	if (der_next(&d, &set) != 0 || set.tag != DER_TAG_SET || der_next(&d, &tst) != 0 ||
	    tst.tag != DER_TAG_SEQUENCE || !der_reader_done(&d)) {
		err_set(e, ERR_REFUSED,
			"signer: SIGN_TSA: payload is not a DER SET of attributes and the TSTInfo");
		goto out;
	}
	der_reader_init(&in, set.val, set.len);
	while ((r = der_next(&in, &t)) == 0) {
		q = t.start;
		if ((a = d2i_X509_ATTRIBUTE(NULL, &q, (long)t.total)) == NULL ||
		    q != t.start + t.total) {
			err_ssl(e, ERR_REFUSED, "signer: SIGN_TSA: an attribute does not parse");
			goto out;
		}
		nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(a));
		for (i = 0; i < nseen; i++)
			if (nid != NID_undef && seen[i] == nid)
				break;
		if (i < nseen || nseen == (int)(sizeof(seen) / sizeof(seen[0]))) {
			err_set(e, ERR_REFUSED,
				"signer: SIGN_TSA: RFC 5652 5.3: attribute %s repeats (or too many "
				"attributes)",
				OBJ_nid2sn(nid));
			goto out;
		}
		seen[nseen++] = nid;
		v = X509_ATTRIBUTE_get0_type(a, 0);
		if (nid == NID_pkcs9_contentType) {
			seen_ct = 1;
			if (X509_ATTRIBUTE_count(a) != 1 || v == NULL || v->type != V_ASN1_OBJECT ||
			    OBJ_obj2nid(v->value.object) != NID_id_smime_ct_TSTInfo) {
				err_set(e, ERR_REFUSED,
					"signer: SIGN_TSA: RFC 3161 2.4.2: contentType must be "
					"id-ct-TSTInfo");
				goto out;
			}
		} else if (nid == NID_pkcs9_messageDigest) {
			seen_md = 1;
			if (X509_ATTRIBUTE_count(a) != 1 || v == NULL ||
			    v->type != V_ASN1_OCTET_STRING || v->value.octet_string->length < 20 ||
			    v->value.octet_string->length > 64) {
				err_set(
				    e, ERR_REFUSED,
				    "signer: SIGN_TSA: RFC 5652 11.2: messageDigest must be one "
				    "digest value");
				goto out;
			}
			mdlen = (size_t)v->value.octet_string->length;
			memcpy(mdv, v->value.octet_string->data, mdlen);
		}
		X509_ATTRIBUTE_free(a);
		a = NULL;
	}
	if (r != 1) {
		err_set(e, ERR_REFUSED, "signer: SIGN_TSA: malformed attribute in the SET");
		goto out;
	}
	if (!seen_ct || !seen_md) {
		err_set(e, ERR_REFUSED,
			"signer: SIGN_TSA: RFC 5652 5.3: contentType and messageDigest attributes "
			"are required");
		goto out;
	}
	if (signer_policy_tsa(&ks->policy, tst.start, tst.total, ks->tsa.md_nid, mdv, mdlen,
			      util_now(), e) == -1)
		goto out;
	ks->sign_len = set.total; /* the SignedAttributes alone */
	rc = 0;
out:
	X509_ATTRIBUTE_free(a);
	return rc;
}

int
signer_check(struct signer_keys *ks, uint32_t op, const unsigned char *p, size_t len,
	     const struct signer_key **key, struct err *e)
{
	int rc = -1;

	*key = NULL;
	ks->sign_len = 0;
	snprintf(ks->policy.last_id, sizeof(ks->policy.last_id), "-");
	switch (op) {
	case SIGNER_OP_SIGN_CERT:
		rc = signer_check_cert(ks, p, len, e);
		*key = &ks->ca;
		break;
	case SIGNER_OP_SIGN_CRL:
		rc = signer_check_crl(ks, p, len, key, e);
		break;
	case SIGNER_OP_SIGN_OCSP:
		rc = signer_check_ocsp(ks, p, len, key, e);
		break;
	case SIGNER_OP_SIGN_TSA:
		rc = signer_check_tsa(ks, p, len, e);
		*key = &ks->tsa;
		break;
	default:
		err_set(e, ERR_INTERNAL, "signer: op %u has no signing rule", (unsigned)op);
		break;
	}
	if (rc == -1)
		*key = NULL;
	ERR_clear_error(); /* opportunistic decoding leaves notes behind */
	return rc;
}

static const char *
signer_log_kind(uint32_t op)
{
	switch (op) {
	case SIGNER_OP_SIGN_CERT:
		return "cert";
	case SIGNER_OP_SIGN_CRL:
		return "crl";
	case SIGNER_OP_SIGN_OCSP:
		return "ocsp";
	default:
		return "tsa";
	}
}

/*
 * Requests are answered in batches: the signer signs every request already waiting on its
 * socket (at most SIGNER_BATCH), appends their log lines, makes the certificate and CRL lines
 * durable with one fdatasync for the batch, and only then writes the answers (in order).  A
 * signature still never leaves before its log line is on disk; a caller that sends one
 * request at a time gets it answered at once as before, while a pipelined client (a bulk
 * commit, concurrent issuances) no longer waits for one fdatasync per certificate.
 */
#define SIGNER_BATCH 64

struct signer_answer {
	uint32_t status;
	unsigned char *sig; /* OK: the signature (owned) */
	size_t siglen;
	int durable;  /* its log line must be on disk before it leaves */
	struct err e; /* REFUSED: why */
};

/* Signs one request into a; its log line is written, not yet made durable. */
static void
signer_serve(struct signer_keys *ks, uint32_t op, const struct buf *req, struct signer_answer *a)
{
	const struct signer_key *key;

	memset(a, 0, sizeof(*a));
	err_clear(&a->e);
	a->status = SIGNER_STATUS_OK;
	if (op == SIGNER_OP_PING)
		return;
	a->durable = op == SIGNER_OP_SIGN_CERT || op == SIGNER_OP_SIGN_CRL;
	if (signer_check(ks, op, req->data, req->len, &key, &a->e) == -1 ||
	    signer_key_sign(key, req->data, ks->sign_len ? ks->sign_len : req->len, &a->sig,
			    &a->siglen, &a->e) == -1 ||
	    signer_log_append(ks->log_fd, signer_log_kind(op), ks->policy.last_id, req->data,
			      req->len, 0, &a->e) == -1) {
		/* a signature the log could not record never leaves */
		log_warn("%s", a->e.msg);
		free(a->sig);
		a->sig = NULL;
		a->status = SIGNER_STATUS_REFUSED;
		a->durable = 0;
	}
}

/* 1 when another request is waiting on fd (its first bytes at least). */
static int
signer_more(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/*
 * Makes the batch's log lines durable (a failure refuses every signature that needed it) and
 * writes the answers.  Returns -1 only when an answer cannot be written (fatal).
 */
static int
signer_answer_all(struct signer_keys *ks, int fd, uint32_t *ops, struct signer_answer *a, size_t n)
{
	size_t i;
	int durable = 0, rc = 0, w;

	for (i = 0; i < n; i++)
		durable |= a[i].durable;
	if (durable && ks->log_fd != -1 && fdatasync(ks->log_fd) == -1) {
		for (i = 0; i < n; i++)
			if (a[i].durable) {
				free(a[i].sig);
				a[i].sig = NULL;
				a[i].status = SIGNER_STATUS_REFUSED;
				err_set(&a[i].e, ERR_INTERNAL, "signer log: write: %s",
					strerror(errno));
				log_warn("%s", a[i].e.msg);
			}
	}
	for (i = 0; i < n; i++) {
		if (rc == -1)
			;
		else if (ops[i] == SIGNER_OP_PING)
			w = signer_frame_write(fd, SIGNER_STATUS_OK, "pong", 4);
		else if (a[i].status == SIGNER_STATUS_REFUSED)
			w = signer_frame_write(fd, SIGNER_STATUS_REFUSED, a[i].e.msg,
					       strlen(a[i].e.msg));
		else
			w = signer_frame_write(fd, SIGNER_STATUS_OK, a[i].sig, a[i].siglen);
		if (rc == 0 && w == -1) {
			log_warn("signer: %s: cannot answer: %s", signer_op_name(ops[i]),
				 strerror(errno));
			rc = -1;
		}
		free(a[i].sig);
		a[i].sig = NULL;
	}
	return rc;
}

int
signer_proc(int fd, const struct conf *conf)
{
	struct signer_keys ks;
	struct signer_answer ans[SIGNER_BATCH];
	uint32_t ops[SIGNER_BATCH];
	struct buf req;
	struct err e;
	uint32_t op;
	size_t n;
	int rc = 3, r = 0;

	memset(&ks, 0, sizeof(ks));
	buf_init(&req, 0);
	err_clear(&e);
	signer_harden(fd);
	if (signer_keys_load(conf, &ks, &e) == -1) {
		log_warn("%s", e.msg);
		(void)signer_frame_write(fd, SIGNER_STATUS_REFUSED, e.msg, strlen(e.msg));
		rc = 1;
		goto out;
	}
	if (signer_frame_write(fd, SIGNER_STATUS_OK, "ready", 5) == -1) {
		log_warn("signer: cannot report readiness: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		n = 0;
		do {
			err_clear(&e);
			buf_free(&req);
			r = signer_frame_read(fd, &op, &req, &e);
			if (r == 1 || r == -1)
				break;
			ops[n] = op;
			signer_serve(&ks, op, &req, &ans[n++]);
		} while (n < SIGNER_BATCH && signer_more(fd));
		if (signer_answer_all(&ks, fd, ops, ans, n) == -1)
			goto out;
		if (r == 1) {
			rc = 0;
			goto out;
		}
		if (r == -1) {
			log_warn("%s: bad internal framing, exiting", e.msg);
			goto out;
		}
	}
out:
	buf_free(&req);
	signer_keys_free(&ks);
	return rc;
}
