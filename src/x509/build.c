/*
 * build: the unsigned certificate (TBSCertificate inside an X509 object) from a profile, a
 * template and the issuer; the DER of the TBS; and the final assembly with a signature.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/der.h"
#include "x509.h"

char *
x509_issuer_url(const struct x509_issuer *is, enum x509_url which)
{
	char *url = NULL;

	if (is == NULL || is->base_url == NULL || is->name == NULL)
		goto out;
	switch (which) {
	case X509_URL_CRL:
		url = xasprintf("%s/crl/%s.crl", is->base_url, is->name);
		break;
	case X509_URL_OCSP:
		url = xasprintf("%s/ocsp", is->base_url);
		break;
	case X509_URL_CA:
		url = xasprintf("%s/ca/%s.crt", is->base_url, is->name);
		break;
	}
out:
	return url;
}

int
x509_ski_compute(const X509 *x, unsigned char out[20], struct err *e)
{
	const ASN1_BIT_STRING *bits;
	unsigned int mdlen = 0;

	if ((bits = X509_get0_pubkey_bitstr(x)) == NULL)
		return err_set(e, ERR_INTERNAL, "x509: certificate without a public key");
	if (!EVP_Digest(ASN1_STRING_get0_data(bits), (size_t)ASN1_STRING_length(bits), out, &mdlen,
			EVP_sha1(), NULL) ||
	    mdlen != 20)
		return err_ssl(e, ERR_INTERNAL, "x509: SHA-1 of the public key failed");
	return 0;
}

/* A GENERAL_NAME of kind URI; NULL when out of memory. */
static GENERAL_NAME *
gn_uri(const char *url)
{
	GENERAL_NAME *gn = NULL;
	ASN1_IA5STRING *s = NULL;

	if ((gn = GENERAL_NAME_new()) == NULL || (s = ASN1_IA5STRING_new()) == NULL ||
	    !ASN1_STRING_set(s, url, (int)strlen(url))) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_URI, s);
	return gn;
}

static int
add_bc(X509 *x, const struct profile *p, struct err *e)
{
	BASIC_CONSTRAINTS *bc = NULL;
	int rc = -1;

	if ((bc = BASIC_CONSTRAINTS_new()) == NULL)
		goto fail;
	bc->ca = p->ca ? 0xff : 0;
	if (p->path_len >= 0) {
		if ((bc->pathlen = ASN1_INTEGER_new()) == NULL ||
		    !ASN1_INTEGER_set(bc->pathlen, p->path_len))
			goto fail;
	}
	if (X509_add1_ext_i2d(x, NID_basic_constraints, bc, p->bc_critical, X509V3_ADD_DEFAULT) !=
	    1)
		goto fail;
	rc = 0;
	goto out;
fail:
	err_ssl(e, ERR_INTERNAL, "x509: cannot add basicConstraints");
out:
	BASIC_CONSTRAINTS_free(bc);
	return rc;
}

/* KU_* flags (openssl/x509v3.h) to the bit numbers of RFC 5280 4.2.1.3. */
static const unsigned ku_bits[9] = {
    KU_DIGITAL_SIGNATURE, /* bit 0 */
    KU_NON_REPUDIATION,	  KU_KEY_ENCIPHERMENT, KU_DATA_ENCIPHERMENT, KU_KEY_AGREEMENT,
    KU_KEY_CERT_SIGN,	  KU_CRL_SIGN,	       KU_ENCIPHER_ONLY,     KU_DECIPHER_ONLY, /* bit 8 */
};

static int
add_ku(X509 *x, const struct profile *p, EVP_PKEY *pkey, struct err *e)
{
	ASN1_BIT_STRING *ku = NULL;
	unsigned want = p->key_usage;
	int i, rc = -1;

	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
		want |= p->ku_rsa_extra;
	else if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC)
		want |= p->ku_ec_extra;
	if ((ku = ASN1_BIT_STRING_new()) == NULL)
		goto fail;
	for (i = 0; i < 9; i++)
		if ((want & ku_bits[i]) != 0 && !ASN1_BIT_STRING_set_bit(ku, i, 1))
			goto fail;
	if (X509_add1_ext_i2d(x, NID_key_usage, ku, p->ku_critical, X509V3_ADD_DEFAULT) != 1)
		goto fail;
	rc = 0;
	goto out;
fail:
	err_ssl(e, ERR_INTERNAL, "x509: cannot add keyUsage");
out:
	ASN1_BIT_STRING_free(ku);
	return rc;
}

static int
add_eku(X509 *x, const struct profile *p, struct err *e)
{
	EXTENDED_KEY_USAGE *eku = NULL;
	int i, rc = -1;

	if (p->eku[0] == NID_undef)
		return 0;
	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
		goto fail;
	for (i = 0; i < X509_MAX_EKU && p->eku[i] != NID_undef; i++)
		if (!sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(p->eku[i])))
			goto fail;
	if (X509_add1_ext_i2d(x, NID_ext_key_usage, eku, p->eku_critical, X509V3_ADD_DEFAULT) != 1)
		goto fail;
	rc = 0;
	goto out;
fail:
	err_ssl(e, ERR_INTERNAL, "x509: cannot add extendedKeyUsage");
out:
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return rc;
}

/* SKI, and AKI = the issuer's SKI (our own for a self-issued root). */
static int
add_key_ids(X509 *x, const struct x509_issuer *is, struct err *e)
{
	unsigned char md[20];
	ASN1_OCTET_STRING *ski = NULL;
	AUTHORITY_KEYID *akid = NULL;
	const ASN1_OCTET_STRING *issuer_ski;
	int rc = -1;

	if (x509_ski_compute(x, md, e) == -1)
		goto out;
	if ((ski = ASN1_OCTET_STRING_new()) == NULL || !ASN1_OCTET_STRING_set(ski, md, 20) ||
	    X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT) != 1) {
		err_ssl(e, ERR_INTERNAL, "x509: cannot add subjectKeyIdentifier");
		goto out;
	}
	issuer_ski = is->cert != NULL ? X509_get0_subject_key_id(is->cert) : ski;
	if (issuer_ski == NULL) {
		err_set(e, ERR_INTERNAL,
			"x509: the issuer certificate has no subjectKeyIdentifier");
		goto out;
	}
	if ((akid = AUTHORITY_KEYID_new()) == NULL ||
	    (akid->keyid = ASN1_OCTET_STRING_dup(issuer_ski)) == NULL ||
	    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) != 1) {
		err_ssl(e, ERR_INTERNAL, "x509: cannot add authorityKeyIdentifier");
		goto out;
	}
	rc = 0;
out:
	ASN1_OCTET_STRING_free(ski);
	AUTHORITY_KEYID_free(akid);
	return rc;
}

static int
add_cdp(X509 *x, const char *url, struct err *e)
{
	CRL_DIST_POINTS *cdp = NULL;
	DIST_POINT *dp = NULL;
	GENERAL_NAME *gn = NULL;
	int rc = -1;

	if ((cdp = sk_DIST_POINT_new_null()) == NULL || (dp = DIST_POINT_new()) == NULL ||
	    (dp->distpoint = DIST_POINT_NAME_new()) == NULL)
		goto fail;
	dp->distpoint->type = 0;
	if ((dp->distpoint->name.fullname = sk_GENERAL_NAME_new_null()) == NULL ||
	    (gn = gn_uri(url)) == NULL || !sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn))
		goto fail;
	gn = NULL;
	if (!sk_DIST_POINT_push(cdp, dp))
		goto fail;
	dp = NULL;
	if (X509_add1_ext_i2d(x, NID_crl_distribution_points, cdp, 0, X509V3_ADD_DEFAULT) != 1)
		goto fail;
	rc = 0;
	goto out;
fail:
	err_ssl(e, ERR_INTERNAL, "x509: cannot add cRLDistributionPoints");
out:
	GENERAL_NAME_free(gn);
	DIST_POINT_free(dp);
	sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);
	return rc;
}

static int
aia_push(AUTHORITY_INFO_ACCESS *aia, int method, const char *url)
{
	ACCESS_DESCRIPTION *ad = NULL;
	GENERAL_NAME *gn = NULL;
	int ok = 0;

	if ((ad = ACCESS_DESCRIPTION_new()) == NULL || (gn = gn_uri(url)) == NULL)
		goto out;
	ASN1_OBJECT_free(ad->method);
	ad->method = OBJ_nid2obj(method);
	GENERAL_NAME_free(ad->location);
	ad->location = gn;
	gn = NULL;
	if (!sk_ACCESS_DESCRIPTION_push(aia, ad))
		goto out;
	ad = NULL;
	ok = 1;
out:
	GENERAL_NAME_free(gn);
	ACCESS_DESCRIPTION_free(ad);
	return ok;
}

static int
add_aia(X509 *x, const char *ocsp, const char *ca, struct err *e)
{
	AUTHORITY_INFO_ACCESS *aia = NULL;
	int rc = -1;

	/* ocsp is NULL for a CA certificate no responder can speak for (the root's key is offline)
	 */
	if ((aia = sk_ACCESS_DESCRIPTION_new_null()) == NULL ||
	    (ocsp != NULL && !aia_push(aia, NID_ad_OCSP, ocsp)) ||
	    !aia_push(aia, NID_ad_ca_issuers, ca) ||
	    X509_add1_ext_i2d(x, NID_info_access, aia, 0, X509V3_ADD_DEFAULT) != 1) {
		err_ssl(e, ERR_INTERNAL, "x509: cannot add authorityInfoAccess");
		goto out;
	}
	rc = 0;
out:
	sk_ACCESS_DESCRIPTION_pop_free(aia, ACCESS_DESCRIPTION_free);
	return rc;
}

/* certificatePolicies (RFC 5280 4.2.1.4): the profile's OIDs, each with the CPS URI if set. */
static int
add_policies(X509 *x, const struct profile *p, struct err *e)
{
	CERTIFICATEPOLICIES *pols = NULL;
	POLICYINFO *pi = NULL;
	POLICYQUALINFO *q = NULL;
	int i, rc = -1;

	if (p->policies[0][0] == '\0')
		return 0;
	if ((pols = sk_POLICYINFO_new_null()) == NULL)
		goto fail;
	for (i = 0; i < X509_MAX_POLICIES && p->policies[i][0] != '\0'; i++) {
		if ((pi = POLICYINFO_new()) == NULL)
			goto fail;
		ASN1_OBJECT_free(pi->policyid);
		if ((pi->policyid = OBJ_txt2obj(p->policies[i], 1)) == NULL)
			goto fail;
		if (p->cps_uri[0] != '\0') {
			/* pqualid first: POLICYQUALINFO_free picks the member to free by it */
			if ((pi->qualifiers = sk_POLICYQUALINFO_new_null()) == NULL ||
			    (q = POLICYQUALINFO_new()) == NULL)
				goto fail;
			q->pqualid = OBJ_nid2obj(NID_id_qt_cps);
			if ((q->d.cpsuri = ASN1_IA5STRING_new()) == NULL ||
			    !ASN1_STRING_set(q->d.cpsuri, p->cps_uri, (int)strlen(p->cps_uri)))
				goto fail;
			if (!sk_POLICYQUALINFO_push(pi->qualifiers, q))
				goto fail;
			q = NULL;
		}
		if (!sk_POLICYINFO_push(pols, pi))
			goto fail;
		pi = NULL;
	}
	if (X509_add1_ext_i2d(x, NID_certificate_policies, pols, 0, X509V3_ADD_DEFAULT) != 1)
		goto fail;
	rc = 0;
	goto out;
fail:
	err_ssl(e, ERR_INTERNAL, "x509: cannot add certificatePolicies");
out:
	POLICYQUALINFO_free(q);
	POLICYINFO_free(pi);
	sk_POLICYINFO_pop_free(pols, POLICYINFO_free);
	return rc;
}

static int
add_nocheck(X509 *x, struct err *e)
{
	ASN1_NULL *n = NULL;
	int rc = -1;

	if ((n = ASN1_NULL_new()) == NULL ||
	    X509_add1_ext_i2d(x, NID_id_pkix_OCSP_noCheck, n, 0, X509V3_ADD_DEFAULT) != 1) {
		err_ssl(e, ERR_INTERNAL, "x509: cannot add id-pkix-ocsp-nocheck");
		goto out;
	}
	rc = 0;
out:
	ASN1_NULL_free(n);
	return rc;
}

static int
set_time(X509 *x, time_t t, int after, struct err *e)
{
	ASN1_TIME *at = NULL;
	int rc = -1;

	/* ASN1_TIME_set: UTCTime for 1950..2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5) */
	if ((at = ASN1_TIME_set(NULL, t)) == NULL) {
		err_ssl(e, ERR_REFUSED, "x509: validity time %lld cannot be encoded", (long long)t);
		err_kind(e, X509_REFUSAL_VALIDITY);
		goto out;
	}
	if (!(after ? X509_set1_notAfter(x, at) : X509_set1_notBefore(x, at))) {
		err_ssl(e, ERR_INTERNAL, "x509: cannot set validity");
		goto out;
	}
	rc = 0;
out:
	ASN1_TIME_free(at);
	return rc;
}

static int
set_serial(X509 *x, const struct x509_template *t, struct err *e)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	int rc = -1;

	if (t->serial_len == 0 || t->serial_len > sizeof(t->serial)) {
		err_set(e, ERR_INTERNAL, "x509: template serial of %zu octets", t->serial_len);
		goto out;
	}
	if ((bn = BN_bin2bn(t->serial, (int)t->serial_len, NULL)) == NULL ||
	    (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL || !X509_set_serialNumber(x, ai)) {
		err_ssl(e, ERR_INTERNAL, "x509: cannot set the serial number");
		goto out;
	}
	rc = 0;
out:
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	return rc;
}

/* The subject: re-encoded, plus the officer marker when the profile wants it (once). */
static int
set_subject(X509 *x, const struct x509_template *t, X509_NAME **subject, struct err *e)
{
	static const char marker[] = X509_OFFICER_MARKER_VALUE;
	X509_NAME *n = NULL;
	int exact, similar, rc = -1;

	if (x509_name_reencode(t->subject, &n, e) == -1) {
		err_kind(e, X509_REFUSAL_SUBJECT);
		goto out;
	}
	x509_name_officer_count(n, &exact, &similar);
	/* a marker smuggled into another profile's subject is kept: lint refuses it */
	if (t->profile->officer_marker && exact == 0 &&
	    !X509_NAME_add_entry_by_NID(n, X509_OFFICER_MARKER_NID, V_ASN1_UTF8STRING,
					(const unsigned char *)marker, (int)sizeof(marker) - 1, -1,
					0)) {
		err_ssl(e, ERR_INTERNAL, "x509: cannot add the officer marker");
		goto out;
	}
	if (!X509_set_subject_name(x, n)) {
		err_ssl(e, ERR_INTERNAL, "x509: cannot set the subject");
		goto out;
	}
	*subject = n;
	n = NULL;
	rc = 0;
out:
	X509_NAME_free(n);
	return rc;
}

/*
 * The subject public key: the template's SPKI copied byte for byte when given (the CSR's,
 * already checked), else encoded from the EVP_PKEY.
 */
static int
set_spki(X509 *x, const struct x509_template *t, struct err *e)
{
	ASN1_OBJECT *aobj = NULL;
	const ASN1_OBJECT *ao;
	const unsigned char *pk;
	const void *pval;
	X509_ALGOR *palg;
	unsigned char *copy = NULL;
	void *pv = NULL;
	int pklen, ptype;

	if (t->spki == NULL) {
		if (!X509_set_pubkey(x, t->pubkey)) {
			err_ssl(e, ERR_REFUSED, "x509: cannot encode the public key");
			return err_kind(e, X509_REFUSAL_KEY);
		}
		return 0;
	}
	if (!X509_PUBKEY_get0_param(&aobj, &pk, &pklen, &palg, (X509_PUBKEY *)t->spki) ||
	    pklen <= 0) {
		err_set(e, ERR_REFUSED, "x509: unreadable subject public key info");
		return err_kind(e, X509_REFUSAL_KEY);
	}
	X509_ALGOR_get0(&ao, &ptype, &pval, palg);
	if (ptype == V_ASN1_OBJECT)
		pv = OBJ_dup(pval);
	else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
		err_set(e, ERR_REFUSED,
			"x509: public key algorithm parameters must be a named curve or NULL");
		return err_kind(e, X509_REFUSAL_KEY);
	}
	copy = OPENSSL_memdup(pk, (size_t)pklen);
	if (copy == NULL || (ptype == V_ASN1_OBJECT && pv == NULL) ||
	    !X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_dup(ao), ptype, pv, copy, pklen)) {
		OPENSSL_free(copy);
		ASN1_OBJECT_free(pv);
		return err_ssl(e, ERR_INTERNAL, "x509: cannot set the public key");
	}
	return 0;
}

int
x509_tbs_build(const struct x509_issuer *is, const struct x509_template *t, X509 **out,
	       struct err *e)
{
	const struct profile *p;
	X509 *x = NULL;
	X509_NAME *subject = NULL;
	EVP_PKEY *signkey;
	char *crl = NULL, *ocsp = NULL, *ca = NULL;
	int sig_nid, md_nid, rc = -1;

	*out = NULL;
	if (is == NULL || t == NULL || (p = t->profile) == NULL || t->pubkey == NULL) {
		err_set(e, ERR_INTERNAL, "x509: incomplete template");
		goto out;
	}
	signkey = is->pubkey != NULL ? is->pubkey : t->pubkey;
	if (is->cert == NULL && is->pubkey != NULL && EVP_PKEY_eq(is->pubkey, t->pubkey) != 1) {
		err_set(e, ERR_INTERNAL, "x509: self-issued certificate with a different key");
		goto out;
	}
	if ((x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3)) {
		err_ssl(e, ERR_INTERNAL, "x509: out of memory");
		goto out;
	}
	if (set_serial(x, t, e) == -1 || set_subject(x, t, &subject, e) == -1)
		goto out;
	if (!X509_set_issuer_name(x,
				  is->cert != NULL ? X509_get_subject_name(is->cert) : subject)) {
		err_ssl(e, ERR_INTERNAL, "x509: cannot set the issuer");
		goto out;
	}
	if (set_time(x, t->not_before, 0, e) == -1 || set_time(x, t->not_after, 1, e) == -1)
		goto out;
	if (set_spki(x, t, e) == -1)
		goto out;
	if (add_bc(x, p, e) == -1 || add_ku(x, p, t->pubkey, e) == -1 || add_eku(x, p, e) == -1 ||
	    add_key_ids(x, is, e) == -1)
		goto out;
	if (t->sans != NULL && sk_GENERAL_NAME_num(t->sans) > 0 &&
	    X509_add1_ext_i2d(x, NID_subject_alt_name, (GENERAL_NAMES *)t->sans,
			      X509_NAME_entry_count(subject) == 0, X509V3_ADD_DEFAULT) != 1) {
		err_ssl(e, ERR_INTERNAL, "x509: cannot add subjectAltName");
		goto out;
	}
	if (p->cdp_aia) {
		crl = x509_issuer_url(is, X509_URL_CRL);
		ocsp = x509_issuer_url(is, X509_URL_OCSP);
		ca = x509_issuer_url(is, X509_URL_CA);
		if (crl == NULL || ocsp == NULL || ca == NULL) {
			err_set(e, ERR_INTERNAL,
				"x509: profile %s needs the issuer's name and "
				"base URL",
				p->name);
			goto out;
		}
		/* a short-lived certificate: caIssuers alone, no revocation pointers */
		if ((p->cdp_aia != X509_CDP_AIA_SHORT_LIVED && add_cdp(x, crl, e) == -1) ||
		    add_aia(x, p->cdp_aia == X509_CDP_AIA_FULL ? ocsp : NULL, ca, e) == -1)
			goto out;
	}
	if (add_policies(x, p, e) == -1)
		goto out;
	if (p->ocsp_nocheck && add_nocheck(x, e) == -1)
		goto out;
	if (x509_sigalg_for_key(signkey, &sig_nid, &md_nid, e) == -1 ||
	    x509_algor_set((X509_ALGOR *)X509_get0_tbs_sigalg(x), sig_nid, e) == -1)
		goto out;
	*out = x;
	x = NULL;
	rc = 0;
out:
	free(crl);
	free(ocsp);
	free(ca);
	X509_NAME_free(subject);
	X509_free(x);
	return rc;
}

int
x509_tbs_der(X509 *x, unsigned char **der, size_t *len, struct err *e)
{
	int n;

	*der = NULL;
	*len = 0;
	if ((n = i2d_re_X509_tbs(x, der)) <= 0) {
		*der = NULL;
		return err_ssl(e, ERR_INTERNAL, "x509: cannot encode the TBSCertificate");
	}
	*len = (size_t)n;
	return 0;
}

/*
 * Finds the AlgorithmIdentifier inside a TBSCertificate: SEQUENCE { [0] version OPTIONAL,
 * INTEGER serial, AlgorithmIdentifier, ... }.  Points alg (of alglen bytes) into tbs.
 */
static int
tbs_sigalg(const unsigned char *tbs, size_t len, const unsigned char **alg, size_t *alglen)
{
	struct der_reader d;
	struct der_tlv t;

	if (der_parse_one(tbs, len, &t) == -1 || t.tag != DER_TAG_SEQUENCE)
		return -1;
	der_reader_enter(&d, &t);
	if (der_optional(&d, DER_TAG_CTX(0), &t) == -1 ||
	    der_expect(&d, DER_TAG_INTEGER, &t) == -1 || der_expect(&d, DER_TAG_SEQUENCE, &t) == -1)
		return -1;
	*alg = t.start;
	*alglen = t.total;
	return 0;
}

int
x509_assemble_der(const unsigned char *tbs, size_t tbslen, const unsigned char *sig, size_t siglen,
		  unsigned char **out, size_t *outlen, struct err *e)
{
	const unsigned char *alg;
	unsigned char *der = NULL, *w;
	size_t alglen, bitlen, content, total;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if (tbs == NULL || sig == NULL || tbslen > 0x1000000 || siglen > 0x100000 ||
	    tbs_sigalg(tbs, tbslen, &alg, &alglen) == -1) {
		err_set(e, ERR_INTERNAL, "x509: assemble: not a TBSCertificate");
		goto out;
	}
	bitlen = der_tlv_size(siglen + 1);
	content = tbslen + alglen + bitlen;
	total = der_tlv_size(content);
	der = xmalloc(total);
	w = der;
	w += der_hdr(w, DER_TAG_SEQUENCE, content);
	memcpy(w, tbs, tbslen);
	w += tbslen;
	memcpy(w, alg, alglen);
	w += alglen;
	w += der_hdr(w, DER_TAG_BITSTRING, siglen + 1);
	*w++ = 0; /* no unused bits */
	memcpy(w, sig, siglen);
	w += siglen;
	if ((size_t)(w - der) != total) {
		err_set(e, ERR_INTERNAL, "x509: assemble: length mismatch");
		goto out;
	}
	*out = der;
	*outlen = total;
	der = NULL;
	rc = 0;
out:
	free(der);
	return rc;
}

int
x509_assemble(const unsigned char *tbs, size_t tbslen, const unsigned char *sig, size_t siglen,
	      X509 **out, struct err *e)
{
	const unsigned char *p;
	unsigned char *der = NULL;
	size_t total = 0;
	X509 *x = NULL;
	int rc = -1;

	*out = NULL;
	if (x509_assemble_der(tbs, tbslen, sig, siglen, &der, &total, e) == -1)
		goto out;
	p = der;
	if ((x = d2i_X509(NULL, &p, (long)total)) == NULL || p != der + total) {
		err_ssl(e, ERR_INTERNAL, "x509: assemble: the certificate does not parse");
		goto out;
	}
	*out = x;
	x = NULL;
	rc = 0;
out:
	X509_free(x);
	free(der);
	return rc;
}
