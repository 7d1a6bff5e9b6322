/*
 * policy: what the signer signs, decided by the signer itself, so that a compromised web
 * process cannot make the CA key sign what the CA would not.  signer.c's checks make sure a
 * payload is what its op claims (a v3 end-entity TBSCertificate, a v2 TBSCertList, ...);
 * these rules bound what it says.
 *
 * SIGN_CERT: the extendedKeyUsage names one of the end-entity profiles (server, client, code
 * signing, officer, short-lived server), never OCSPSigning, timeStamping or anyExtendedKeyUsage
 * (those are made at init, or by `shomei issue --profile ocsp|tsa` through a signer of its own:
 * signer.service_certs); keyUsage is exactly that profile's for the key type, in DER; the
 * validity is at most the profile's maximum as shomei.conf sets it (notAfter inclusive), and
 * at most 7 days (X509_SHORT_LIVED_DAYS) when the certificate names no CRL distribution point
 * or no OCSP URL.
 *
 * SIGN_OCSP: producedAt within signer.max_skew (5 min) of the signer's clock; each thisUpdate
 * no later than that and no earlier than the largest backdating; nextUpdate present and at
 * most ocsp.validity_minutes after thisUpdate.
 *
 * SIGN_CRL: thisUpdate within signer.max_skew of the clock; nextUpdate present and at most
 * crl.hours (crl.delta_hours) later; a CRL number higher than the last one this signer signed
 * for the same kind (full or delta).
 *
 * SIGN_TSA: the messageDigest is the digest of the TSTInfo sent along; its policy is
 * tsa.policy; genTime within signer.max_skew of the clock.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../x509/x509.h"
#include "signer_local.h"

/* The end-entity profiles the online CA key signs, and the services' (with service_certs). */
static const char *const policy_ee[] = {"server", "client", "codesign", "officer", "shortlived"};
static const char *const policy_service[] = {"ocsp", "tsa"};

int
signer_policy_load(const struct conf *c, struct signer_policy *p, struct err *e)
{
	long off, v;

	const char *const *names[2] = {policy_ee, policy_service};
	size_t counts[2] = {sizeof(policy_ee) / sizeof(policy_ee[0]),
			    sizeof(policy_service) / sizeof(policy_service[0])};
	const struct profile *pr;
	size_t i, k;

	memset(p, 0, sizeof(*p));
	/* the maxima as shomei.conf lowers them (the built-in ones bound the rest) */
	if (profile_configure(c, e) == -1)
		return -1;
	/* set in its own copy of the configuration by `shomei issue` (never read from a file:
	 * conf_check_keys refuses the key there) */
	p->service_certs = strcmp(conf_get(c, "signer.service_certs", "no"), "yes") == 0;
	if (conf_get_long(c, "signer.max_skew", SIGNER_SKEW_DEFAULT, 1, 86400, &p->skew, e) == -1)
		return -1;
	/* the validities shomei.conf gives CRLs and OCSP answers: a web process that asks for
	 * longer ones (a year-long CRL that leaves revocations out) is refused */
	if (conf_get_long(c, "crl.hours", 24, 1, 24 * SIGNER_CRL_MAX_DAYS, &v, e) == -1)
		return -1;
	p->crl_max_s[0] = v * 3600;
	if (conf_get_long(c, "crl.delta_hours", 1, 1, 24 * 31, &v, e) == -1)
		return -1;
	p->crl_max_s[1] = v * 3600;
	if (conf_get_long(c, "ocsp.validity_minutes", SIGNER_OCSP_VALIDITY_DEFAULT_MIN, 1,
			  SIGNER_OCSP_VALIDITY_MAX / 60, &v, e) == -1)
		return -1;
	p->ocsp_max_s = v * 60;
	/* the TSA policy the time-stamps must name */
	{
		const char *pv = conf_get(c, "tsa.policy", "1.2.3.4.1");
		ASN1_OBJECT *o = OBJ_txt2obj(pv, 1);
		unsigned char *q = p->tsa_policy;
		int n = o != NULL ? i2d_ASN1_OBJECT(o, NULL) : -1;

		if (n <= 0 || (size_t)n > sizeof(p->tsa_policy)) {
			ASN1_OBJECT_free(o);
			return err_set(e, ERR_REFUSED, "signer: tsa.policy \"%s\" is not an OID",
				       pv);
		}
		p->tsa_policy_len = (size_t)i2d_ASN1_OBJECT(o, &q);
		ASN1_OBJECT_free(o);
	}
	/* the web process of a test instance runs on a shifted clock (test.clock_offset): the
	 * signer follows it, or it would refuse every OCSP answer and CRL made there */
	if (strcmp(conf_get(c, "test.instance", "no"), "yes") == 0) {
		if (conf_get_long(c, "test.clock_offset", 0, -100000000L, 100000000L, &off, e) ==
		    -1)
			return -1;
		util_clock_set_offset(off);
	}
	for (k = 0; k < 2; k++)
		for (i = 0; i < counts[k]; i++) {
			if ((pr = profile_find(names[k][i])) == NULL)
				return err_set(e, ERR_INTERNAL, "signer: profile %s missing",
					       names[k][i]);
			p->profiles[p->nprofiles].p = pr;
			p->profiles[p->nprofiles].service = k == 1;
			p->nprofiles++;
		}
	return 0;
}

/* The NIDs of the certificate's EKU, sorted; -1 when it is malformed. */
static int
policy_eku(const X509 *x, int nids[X509_MAX_EKU], int *n)
{
	EXTENDED_KEY_USAGE *eku;
	int crit = -1, i, j, t;

	*n = 0;
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
	if (eku == NULL)
		return crit == -1 ? 0 : -1;
	if (sk_ASN1_OBJECT_num(eku) > X509_MAX_EKU) {
		sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
		return -1;
	}
	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
		nids[(*n)++] = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	for (i = 1; i < *n; i++)
		for (j = i; j > 0 && nids[j - 1] > nids[j]; j--) {
			t = nids[j];
			nids[j] = nids[j - 1];
			nids[j - 1] = t;
		}
	return 0;
}

/* 1 when the profile's EKU list is the same set as nids (sorted, n of them). */
static int
policy_eku_is(const struct profile *p, const int *nids, int n)
{
	int want[X509_MAX_EKU], m = 0, i, j, t;

	while (m < X509_MAX_EKU && p->eku[m] != NID_undef) {
		want[m] = p->eku[m];
		m++;
	}
	for (i = 1; i < m; i++)
		for (j = i; j > 0 && want[j - 1] > want[j]; j--) {
			t = want[j];
			want[j] = want[j - 1];
			want[j - 1] = t;
		}
	return m == n && memcmp(want, nids, (size_t)n * sizeof(int)) == 0;
}

/* The subject key's type from its SPKI algorithm (no key decoding). */
static int
policy_key_type(const X509 *x)
{
	const ASN1_OBJECT *o = NULL;

	if (!X509_PUBKEY_get0_param((ASN1_OBJECT **)&o, NULL, NULL, NULL, X509_get_X509_PUBKEY(x)))
		return NID_undef;
	return OBJ_obj2nid(o);
}

/*
 * The keyUsage BIT STRING in DER (X.690 11.2.2: a named bit list has no trailing zero bits,
 * and unused bits are zero): a bit hidden in the padding reads differently to other parsers.
 */
static int
policy_ku_der(const X509 *x)
{
	int i = X509_get_ext_by_NID(x, NID_key_usage, -1);
	const ASN1_OCTET_STRING *v;
	const unsigned char *p;
	int n, unused;

	if (i < 0)
		return 0;
	v = X509_EXTENSION_get_data(X509_get_ext(x, i));
	p = ASN1_STRING_get0_data(v);
	n = ASN1_STRING_length(v);
	/* 03 len unused bits...: one to two content octets for the nine bits of keyUsage */
	if (n < 3 || p[0] != 0x03 || p[1] != n - 2 || n > 5)
		return -1;
	unused = p[2];
	if (unused > 7 || (n == 3 && unused != 0))
		return -1;
	if (n == 3)
		return 0;
	if (p[n - 1] == 0 || (p[n - 1] & ((1 << unused) - 1)) != 0 ||
	    (unused < 7 && (p[n - 1] & (1 << unused)) == 0))
		return -1;
	return 0;
}

/* 1 when x names a CRL distribution point and an OCSP responder (AIA id-ad-ocsp). */
static int
policy_revocable(const X509 *x)
{
	CRL_DIST_POINTS *cdp;
	AUTHORITY_INFO_ACCESS *aia;
	int ocsp = 0, crl;

	cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	crl = cdp != NULL && sk_DIST_POINT_num(cdp) > 0;
	CRL_DIST_POINTS_free(cdp);
	if ((aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL)) != NULL) {
		for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(aia); i++)
			if (OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia, i)->method) == NID_ad_OCSP)
				ocsp = 1;
		AUTHORITY_INFO_ACCESS_free(aia);
	}
	return crl && ocsp;
}

int
signer_policy_cert(const struct signer_policy *pol, const X509 *x, time_t now, struct err *e)
{
	const struct signer_profile *sp = NULL;
	const struct profile *p;
	int nids[X509_MAX_EKU], n, i, kt;
	unsigned want, got;
	time_t nb, na;

	if (policy_eku(x, nids, &n) == -1)
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_CERT: policy: extendedKeyUsage is malformed");
	for (i = 0; i < n; i++)
		if (nids[i] == NID_anyExtendedKeyUsage ||
		    ((nids[i] == NID_OCSP_sign || nids[i] == NID_time_stamp) &&
		     !pol->service_certs))
			return err_set(e, ERR_REFUSED,
				       "signer: SIGN_CERT: policy: extendedKeyUsage %s is never "
				       "signed online (OCSP and TSA certificates are made at init "
				       "or by `shomei issue` with its own signer)",
				       OBJ_nid2sn(nids[i]));
	kt = policy_key_type(x);
	got = (X509_get_extension_flags((X509 *)x) & EXFLAG_KUSAGE) ? X509_get_key_usage((X509 *)x)
								    : 0;
	/* the first profile with this EKU whose keyUsage it has (server and shortlived share the
	 * EKU; their keyUsage may differ by profile.<name>.key_agreement), else the first with
	 * this EKU, to name in the refusal */
	for (i = 0; (size_t)i < pol->nprofiles; i++) {
		const struct profile *q = pol->profiles[i].p;

		if ((pol->profiles[i].service && !pol->service_certs) || !policy_eku_is(q, nids, n))
			continue;
		want = q->key_usage | (kt == NID_rsaEncryption ? q->ku_rsa_extra : 0) |
		       (kt == NID_X9_62_id_ecPublicKey ? q->ku_ec_extra : 0);
		if (sp == NULL || got == want)
			sp = &pol->profiles[i];
		if (got == want)
			break;
	}
	if (sp == NULL)
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_CERT: policy: extendedKeyUsage matches no profile "
			       "the CA issues");
	p = sp->p;
	want = p->key_usage | (kt == NID_rsaEncryption ? p->ku_rsa_extra : 0) |
	       (kt == NID_X9_62_id_ecPublicKey ? p->ku_ec_extra : 0);
	if (got != want || policy_ku_der(x) == -1)
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_CERT: policy: keyUsage is not the %s profile's",
			       p->name);
	if (x509_time_to_epoch(X509_get0_notBefore(x), &nb) == -1 ||
	    x509_time_to_epoch(X509_get0_notAfter(x), &na) == -1)
		return err_set(e, ERR_REFUSED, "signer: SIGN_CERT: policy: unreadable validity");
	if (X509_VALIDITY_SECONDS(nb, na) > (long long)p->max_days * 86400)
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_CERT: policy: validity longer than the %s profile's "
			       "%ld days",
			       p->name, p->max_days);
	/* without a CRL distribution point or an OCSP URL nobody could learn of a revocation:
	 * only a short-lived certificate may go without them (CA/Browser Forum BR), whatever
	 * profile the web process says it built */
	if (!sp->service && !policy_revocable(x) &&
	    X509_VALIDITY_SECONDS(nb, na) > (long long)X509_SHORT_LIVED_DAYS * 86400)
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_CERT: policy: no CRL distribution point or OCSP URL "
			       "on a certificate of more than %d days",
			       X509_SHORT_LIVED_DAYS);
	/* it starts now: the CA backdates a minute (clients' clocks), the skew both ways; no
	 * certificate dated into the past or saved up for later */
	if (nb > now + pol->skew || nb < now - pol->skew - 60)
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_CERT: policy: notBefore is not the signer's time "
			       "(within %ld s)",
			       pol->skew);
	return 0;
}

/* A time TLV within pol->skew of now. */
static int
policy_near(const struct der_tlv *t, time_t now, long skew, time_t *out)
{
	return der_get_time(t, out) == 0 && *out <= now + skew && *out >= now - skew;
}

/*
 * ResponseData ::= SEQUENCE { [0] version OPTIONAL, responderID, producedAt,
 *   responses SEQUENCE OF SingleResponse, [1] responseExtensions OPTIONAL }
 * SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate, [0] nextUpdate OPTIONAL, ... }
 * (RFC 6960 4.2.1; signer.c has checked that the whole parses.)
 */
int
signer_policy_ocsp(const struct signer_policy *pol, const unsigned char *p, size_t len, time_t now,
		   struct err *e)
{
	struct der_reader rd, rs, sr, nx;
	struct der_tlv t, seq;
	time_t produced, tu, nu;
	int r;

	if (der_parse_one(p, len, &seq) == -1)
		goto bad;
	der_reader_enter(&rd, &seq);
	if (der_optional(&rd, DER_TAG_CTX(0), &t) == -1 || der_skip(&rd) == -1 ||
	    der_expect(&rd, DER_TAG_GENTIME, &t) == -1)
		goto bad;
	if (!policy_near(&t, now, pol->skew, &produced))
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_OCSP: policy: producedAt is not the signer's time "
			       "(within %ld s)",
			       pol->skew);
	if (der_enter(&rd, DER_TAG_SEQUENCE, &rs) == -1)
		goto bad;
	while ((r = der_next(&rs, &t)) == 0) {
		if (t.tag != DER_TAG_SEQUENCE)
			goto bad;
		der_reader_enter(&sr, &t);
		if (der_skip(&sr) == -1 || der_skip(&sr) == -1 ||
		    der_expect(&sr, DER_TAG_GENTIME, &t) == -1 || der_get_time(&t, &tu) == -1)
			goto bad;
		if (tu > now + pol->skew || tu < now - SIGNER_OCSP_BACKDATE_MAX - pol->skew)
			return err_set(e, ERR_REFUSED,
				       "signer: SIGN_OCSP: policy: thisUpdate too far from the "
				       "signer's time");
		if (der_optional(&sr, DER_TAG_CTX(0), &t) != 1)
			return err_set(e, ERR_REFUSED,
				       "signer: SIGN_OCSP: policy: a response without nextUpdate");
		der_reader_enter(&nx, &t);
		if (der_expect(&nx, DER_TAG_GENTIME, &t) == -1 || der_get_time(&t, &nu) == -1)
			goto bad;
		if (nu <= tu || nu - tu > pol->ocsp_max_s)
			return err_set(
			    e, ERR_REFUSED,
			    "signer: SIGN_OCSP: policy: nextUpdate more than %ld minutes "
			    "after thisUpdate (ocsp.validity_minutes)",
			    pol->ocsp_max_s / 60);
	}
	if (r != 1)
		goto bad;
	return 0;
bad:
	return err_set(e, ERR_REFUSED, "signer: SIGN_OCSP: policy: unreadable ResponseData times");
}

/*
 * TBSCertList ::= SEQUENCE { version, signature, issuer, thisUpdate, nextUpdate OPTIONAL,
 *   revokedCertificates OPTIONAL, [0] crlExtensions OPTIONAL } (RFC 5280 5.1; signer.c has
 * walked its structure).  The entries are skipped by length, never walked.
 */
int
signer_policy_crl(struct signer_policy *pol, int64_t last[2], const char *name,
		  const unsigned char *p, size_t len, time_t now, struct err *e)
{
	static const unsigned char crl_number[] = {0x55, 0x1d, 0x14};
	static const unsigned char delta_ind[] = {0x55, 0x1d, 0x1b};
	struct der_reader in, exts, ext, num;
	struct der_tlv t, seq, x, oid, v;
	time_t tu, nu;
	int64_t number = -1;
	int delta = 0, r;

	if (der_parse_one(p, len, &seq) == -1)
		goto bad;
	der_reader_enter(&in, &seq);
	if (der_skip(&in) == -1 || der_skip(&in) == -1 || der_skip(&in) == -1 ||
	    der_next(&in, &t) != 0)
		goto bad;
	if (!policy_near(&t, now, pol->skew, &tu))
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_CRL: policy: thisUpdate is not the signer's time "
			       "(within %ld s)",
			       pol->skew);
	if (der_next(&in, &t) != 0 || (t.tag != DER_TAG_UTCTIME && t.tag != DER_TAG_GENTIME) ||
	    der_get_time(&t, &nu) == -1)
		return err_set(e, ERR_REFUSED, "signer: SIGN_CRL: policy: no nextUpdate");
	if (nu <= tu)
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_CRL: policy: nextUpdate is not after thisUpdate");
	while ((r = der_next(&in, &t)) == 0 && t.tag != DER_TAG_CTX(0))
		;
	if (r == 0) {
		der_reader_enter(&ext, &t);
		if (der_enter(&ext, DER_TAG_SEQUENCE, &exts) == -1)
			goto bad;
		while ((r = der_next(&exts, &x)) == 0) {
			der_reader_enter(&ext, &x);
			if (der_expect(&ext, DER_TAG_OID, &oid) == -1)
				goto bad;
			if (der_optional(&ext, DER_TAG_BOOLEAN, &v) == -1 ||
			    der_expect(&ext, DER_TAG_OCTETSTRING, &v) == -1)
				goto bad;
			if (der_oid_is(&oid, crl_number, sizeof(crl_number))) {
				der_reader_init(&num, v.val, v.len);
				if (der_expect(&num, DER_TAG_INTEGER, &t) == -1 ||
				    der_get_int64(&t, &number) == -1 || number < 0)
					goto bad;
			} else if (der_oid_is(&oid, delta_ind, sizeof(delta_ind)))
				delta = 1;
		}
	}
	if (number < 0)
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_CRL: policy: RFC 5280 5.2.3: no CRL number");
	if (nu - tu > pol->crl_max_s[delta])
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_CRL: policy: nextUpdate more than %ld hours after "
			       "thisUpdate (%s)",
			       pol->crl_max_s[delta] / 3600,
			       delta ? "crl.delta_hours" : "crl.hours");
	if (number <= last[delta])
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_CRL: policy: CRL number %lld is not above %lld, the "
			       "last %s CRL this signer signed for %s",
			       (long long)number, (long long)last[delta], delta ? "delta" : "full",
			       name);
	last[delta] = number;
	snprintf(pol->last_id, sizeof(pol->last_id), "%s:%lld@%s", delta ? "delta" : "full",
		 (long long)number, name);
	return 0;
bad:
	return err_set(e, ERR_REFUSED, "signer: SIGN_CRL: policy: unreadable TBSCertList fields");
}

/*
 * TSTInfo ::= SEQUENCE { version INTEGER { v1(1) }, policy, messageImprint, serialNumber,
 *   genTime GeneralizedTime, ... } (RFC 3161 2.4.2).  md must be its digest; genTime may
 * carry a fraction of a second.
 */
int
signer_policy_tsa(const struct signer_policy *pol, const unsigned char *tst, size_t len, int md_nid,
		  const unsigned char *md, size_t mdlen, time_t now, struct err *e)
{
	unsigned char mine[EVP_MAX_MD_SIZE], g[15];
	unsigned int n = 0;
	struct der_reader in;
	struct der_tlv seq, t, whole;
	const EVP_MD *h = EVP_get_digestbynid(md_nid);
	time_t gen;
	int64_t version;
	size_t i;

	if (h == NULL || !EVP_Digest(tst, len, mine, &n, h, NULL) || n != mdlen ||
	    memcmp(mine, md, n) != 0)
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_TSA: policy: messageDigest is not the digest of the "
			       "TSTInfo sent with it");
	if (der_parse_one(tst, len, &seq) == -1)
		goto bad;
	der_reader_enter(&in, &seq);
	if (der_expect(&in, DER_TAG_INTEGER, &t) == -1 || der_get_int64(&t, &version) == -1 ||
	    version != 1)
		goto bad;
	if (der_expect(&in, DER_TAG_OID, &t) == -1 || t.total != pol->tsa_policy_len ||
	    memcmp(t.start, pol->tsa_policy, t.total) != 0)
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_TSA: policy: the TSTInfo's policy is not tsa.policy");
	if (der_expect(&in, DER_TAG_SEQUENCE, &t) == -1 ||
	    der_expect(&in, DER_TAG_INTEGER, &t) == -1 ||
	    der_expect(&in, DER_TAG_GENTIME, &t) == -1 || t.len < 15 || t.val[t.len - 1] != 'Z')
		goto bad;
	/* YYYYMMDDHHMMSS[.f+]Z: the seconds, the fraction checked and dropped */
	for (i = 14; i + 1 < t.len; i++)
		if (!(i == 14 ? t.val[i] == '.' : (t.val[i] >= '0' && t.val[i] <= '9')))
			goto bad;
	/* RFC 3161 2.4.2: no dot without digits, no trailing zeros */
	if (t.len > 15 && (t.len == 16 || t.val[t.len - 2] == '0'))
		goto bad;
	memcpy(g, t.val, 14);
	g[14] = 'Z';
	whole = t;
	whole.val = g;
	whole.len = 15;
	if (der_get_time(&whole, &gen) == -1)
		goto bad;
	if (gen > now + pol->skew || gen < now - pol->skew)
		return err_set(e, ERR_REFUSED,
			       "signer: SIGN_TSA: policy: genTime is not the signer's time (within "
			       "%ld s)",
			       pol->skew);
	return 0;
bad:
	return err_set(e, ERR_REFUSED, "signer: SIGN_TSA: policy: unreadable TSTInfo");
}
