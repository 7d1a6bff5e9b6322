/*
 * lint: checks an unsigned certificate against its profile and RFC 5280 before anything is
 * signed.  It trusts nothing the builder did: every field is read back from the X509 object
 * (extensions are decoded afresh, never taken from OpenSSL's per-certificate cache), so a
 * builder bug or a tampered template shows up here as a refusal.  The first violation wins
 * and each rule has its own message.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "x509.h"

#define SERIAL_MIN_OCTETS 8
#define SERIAL_MAX_OCTETS 20

struct lint {
	const X509 *x;
	const struct profile *p;
	const struct x509_issuer *is;
	struct x509_keyinfo ki; /* subject public key, read from its SPKI bytes */
	struct err *e;
};

/* Names of the keyUsage bits, in RFC 5280 4.2.1.3 order. */
static const struct {
	unsigned flag;
	const char *name;
} ku_names[9] = {
    {KU_DIGITAL_SIGNATURE, "digitalSignature"},
    {KU_NON_REPUDIATION, "nonRepudiation"},
    {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
    {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
    {KU_KEY_AGREEMENT, "keyAgreement"},
    {KU_KEY_CERT_SIGN, "keyCertSign"},
    {KU_CRL_SIGN, "cRLSign"},
    {KU_ENCIPHER_ONLY, "encipherOnly"},
    {KU_DECIPHER_ONLY, "decipherOnly"},
};

/* The extensions shomei issues; anything else in a TBS is refused. */
static const int known_exts[] = {
    NID_basic_constraints,
    NID_key_usage,
    NID_ext_key_usage,
    NID_subject_key_identifier,
    NID_authority_key_identifier,
    NID_subject_alt_name,
    NID_crl_distribution_points,
    NID_info_access,
    NID_id_pkix_OCSP_noCheck,
    NID_certificate_policies,
};

static const char *
obj_text(const ASN1_OBJECT *obj, char *tmp, size_t n)
{
	int nid = OBJ_obj2nid(obj);

	if (nid != NID_undef)
		return OBJ_nid2sn(nid);
	if (OBJ_obj2txt(tmp, (int)n, obj, 1) <= 0)
		snprintf(tmp, n, "(bad OID)");
	return tmp;
}

static X509_EXTENSION *
ext_get(const X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return i < 0 ? NULL : X509_get_ext(x, i);
}

static int
lint_version(struct lint *l)
{
	if (X509_get_version(l->x) != X509_VERSION_3)
		return err_set(l->e, ERR_REFUSED, "lint: RFC 5280 4.1.2.1: version must be v3");
	return 0;
}

static int
lint_serial(struct lint *l)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(l->x);
	const unsigned char *p;
	size_t len, octets;

	if (s == NULL)
		return err_set(l->e, ERR_REFUSED, "lint: RFC 5280 4.1.2.2: serial number missing");
	p = ASN1_STRING_get0_data(s);
	len = (size_t)ASN1_STRING_length(s);
	while (len > 0 && p[0] == 0) {
		p++;
		len--;
	}
	if (ASN1_STRING_type(s) == V_ASN1_NEG_INTEGER || len == 0)
		return err_set(l->e, ERR_REFUSED,
			       "lint: RFC 5280 4.1.2.2: serial number must be positive");
	octets = len + ((p[0] & 0x80) != 0);
	if (octets < SERIAL_MIN_OCTETS || octets > SERIAL_MAX_OCTETS)
		return err_set(l->e, ERR_REFUSED,
			       "lint: RFC 5280 4.1.2.2: serial number of %zu octets (must be %d "
			       "to %d)",
			       octets, SERIAL_MIN_OCTETS, SERIAL_MAX_OCTETS);
	return 0;
}

static int
lint_sigalg(struct lint *l)
{
	/* self-issued without a given issuer key: the subject key signs (decoded only here) */
	EVP_PKEY *signkey = l->is->pubkey != NULL ? l->is->pubkey : X509_get0_pubkey((X509 *)l->x);
	const X509_ALGOR *got = X509_get0_tbs_sigalg(l->x);
	const ASN1_OBJECT *obj = NULL;
	X509_ALGOR *want = NULL;
	int sig_nid, md_nid, rc = -1;
	char tmp[80];

	if (signkey == NULL) {
		err_set(l->e, ERR_INTERNAL, "lint: no issuer key");
		goto out;
	}
	if (x509_sigalg_for_key(signkey, &sig_nid, &md_nid, l->e) == -1)
		goto out;
	if ((want = X509_ALGOR_new()) == NULL || x509_algor_set(want, sig_nid, l->e) == -1) {
		err_ssl(l->e, ERR_INTERNAL, "lint: out of memory");
		goto out;
	}
	if (got == NULL || X509_ALGOR_cmp(want, got) != 0) {
		if (got != NULL)
			X509_ALGOR_get0(&obj, NULL, NULL, got);
		err_set(l->e, ERR_REFUSED,
			"lint: RFC 5280 4.1.2.3: signature algorithm %s does not match the issuer "
			"key (expected %s)",
			obj != NULL ? obj_text(obj, tmp, sizeof(tmp)) : "(none)",
			OBJ_nid2sn(sig_nid));
		goto out;
	}
	rc = 0;
out:
	X509_ALGOR_free(want);
	return rc;
}

static int
name_der_eq(const X509_NAME *a, const X509_NAME *b)
{
	const unsigned char *da = NULL, *db = NULL;
	size_t la = 0, lb = 0;

	if (a == NULL || b == NULL || !X509_NAME_get0_der(a, &da, &la) ||
	    !X509_NAME_get0_der(b, &db, &lb))
		return 0;
	return la == lb && memcmp(da, db, la) == 0;
}

static int
lint_issuer(struct lint *l)
{
	const X509_NAME *want =
	    l->is->cert != NULL ? X509_get_subject_name(l->is->cert) : X509_get_subject_name(l->x);

	if (!name_der_eq(X509_get_issuer_name(l->x), want))
		return err_set(l->e, ERR_REFUSED, "lint: RFC 5280 4.1.2.4: issuer name is not %s",
			       l->is->cert != NULL ? "the issuer's subject"
						   : "the subject of this self-issued certificate");
	return 0;
}

/* UTCTime for 1950..2049, GeneralizedTime otherwise, always with seconds and "Z". */
static int
time_form_ok(const ASN1_TIME *t)
{
	struct tm tm;
	int year, utc;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	year = tm.tm_year + 1900;
	utc = year >= 1950 && year <= 2049;
	if (utc)
		return ASN1_STRING_type(t) == V_ASN1_UTCTIME && ASN1_STRING_length(t) == 13 &&
		       ASN1_STRING_get0_data(t)[12] == 'Z';
	return ASN1_STRING_type(t) == V_ASN1_GENERALIZEDTIME && ASN1_STRING_length(t) == 15 &&
	       ASN1_STRING_get0_data(t)[14] == 'Z';
}

static int
lint_validity(struct lint *l)
{
	const ASN1_TIME *nb = X509_get0_notBefore(l->x), *na = X509_get0_notAfter(l->x);
	time_t tnb, tna, inb, ina;
	long long days;

	if (x509_time_to_epoch(nb, &tnb) == -1 || x509_time_to_epoch(na, &tna) == -1)
		return err_set(l->e, ERR_REFUSED, "lint: RFC 5280 4.1.2.5: malformed validity");
	if (!time_form_ok(nb) || !time_form_ok(na))
		return err_set(l->e, ERR_REFUSED,
			       "lint: RFC 5280 4.1.2.5: validity must be UTCTime through 2049 and "
			       "GeneralizedTime from 2050, in seconds, with Z");
	if (tnb >= tna)
		return err_set(l->e, ERR_REFUSED,
			       "lint: RFC 5280 4.1.2.5: notBefore is not before notAfter");
	/* RFC 5280 4.1.2.5: notAfter is inclusive, so N days end at notBefore + N*86400 - 1 */
	if (X509_VALIDITY_SECONDS(tnb, tna) > (long long)l->p->max_days * 86400) {
		long long secs = X509_VALIDITY_SECONDS(tnb, tna);

		days = secs / 86400;
		if (secs % 86400 == 0)
			return err_set(l->e, ERR_REFUSED,
				       "lint: profile %s: validity of %lld days exceeds the "
				       "maximum %ld",
				       l->p->name, days, l->p->max_days);
		return err_set(l->e, ERR_REFUSED,
			       "lint: profile %s: validity of %lld days + %lld s (notAfter is "
			       "inclusive, RFC 5280 4.1.2.5) exceeds the maximum %ld days",
			       l->p->name, days, secs % 86400, l->p->max_days);
	}
	if (l->is->cert == NULL)
		return 0;
	if (x509_time_to_epoch(X509_get0_notBefore(l->is->cert), &inb) == -1 ||
	    x509_time_to_epoch(X509_get0_notAfter(l->is->cert), &ina) == -1)
		return err_set(l->e, ERR_INTERNAL, "lint: the issuer's validity does not parse");
	if (tnb < inb)
		return err_set(l->e, ERR_REFUSED,
			       "lint: RFC 5280 4.1.2.5: validity starts before the issuer's "
			       "notBefore");
	if (tna > ina)
		return err_set(l->e, ERR_REFUSED,
			       "lint: RFC 5280 4.1.2.5: validity ends after the issuer's notAfter");
	return 0;
}

/* Frees what X509V3_EXT_d2i() returned, whatever its type. */
static void
ext_dec_free(X509_EXTENSION *ext, void *dec)
{
	const X509V3_EXT_METHOD *m = X509V3_EXT_get(ext);

	if (m == NULL || dec == NULL)
		return;
	if (m->it != NULL)
		ASN1_item_free(dec, ASN1_ITEM_ptr(m->it));
	else if (m->ext_free != NULL)
		m->ext_free(dec);
}

/* Duplicates, unknown extensions, and extensions that do not decode. */
static int
lint_ext_set(struct lint *l)
{
	const ASN1_OBJECT *oi;
	X509_EXTENSION *ext;
	void *dec;
	char tmp[80];
	int i, j, n = X509_get_ext_count(l->x), nid;
	size_t k;

	for (i = 0; i < n; i++) {
		ext = X509_get_ext(l->x, i);
		oi = X509_EXTENSION_get_object(ext);
		for (j = 0; j < i; j++)
			if (OBJ_cmp(oi, X509_EXTENSION_get_object(X509_get_ext(l->x, j))) == 0)
				return err_set(l->e, ERR_REFUSED,
					       "lint: RFC 5280 4.2: duplicate extension %s",
					       obj_text(oi, tmp, sizeof(tmp)));
	}
	for (i = 0; i < n; i++) {
		ext = X509_get_ext(l->x, i);
		oi = X509_EXTENSION_get_object(ext);
		nid = OBJ_obj2nid(oi);
		for (k = 0; k < sizeof(known_exts) / sizeof(known_exts[0]); k++)
			if (known_exts[k] == nid)
				break;
		if (k == sizeof(known_exts) / sizeof(known_exts[0]))
			return err_set(l->e, ERR_REFUSED,
				       "lint: profile %s: unexpected extension %s", l->p->name,
				       obj_text(oi, tmp, sizeof(tmp)));
		if ((dec = X509V3_EXT_d2i(ext)) == NULL) {
			ERR_clear_error();
			return err_set(l->e, ERR_REFUSED,
				       "lint: RFC 5280 4.2: malformed extension %s",
				       obj_text(oi, tmp, sizeof(tmp)));
		}
		ext_dec_free(ext, dec);
	}
	return 0;
}

static int
lint_subject(struct lint *l)
{
	const X509_NAME *n = X509_get_subject_name(l->x);
	int i, exact, similar;

	for (i = 0; n != NULL && i < X509_NAME_entry_count(n); i++)
		if (x509_name_entry_check(X509_NAME_get_entry(n, i), "lint: subject", l->e) == -1)
			return -1;
	x509_name_officer_count(n, &exact, &similar);
	if (l->p->officer_marker && (exact != 1 || similar != 1))
		return err_set(l->e, ERR_REFUSED,
			       "lint: profile %s: subject must carry the RA officer marker "
			       "(%s=%s) exactly once",
			       l->p->name, OBJ_nid2sn(X509_OFFICER_MARKER_NID),
			       X509_OFFICER_MARKER_VALUE);
	if (!l->p->officer_marker && similar > 0)
		return err_set(
		    l->e, ERR_REFUSED,
		    "lint: profile %s: subject carries the RA officer marker, which only "
		    "the officer profile may",
		    l->p->name);
	return 0;
}

static unsigned
san_kind(int type, const char **name)
{
	switch (type) {
	case GEN_DNS:
		*name = "dNSName";
		return X509_SAN_DNS;
	case GEN_IPADD:
		*name = "iPAddress";
		return X509_SAN_IP;
	case GEN_EMAIL:
		*name = "rfc822Name";
		return X509_SAN_EMAIL;
	case GEN_URI:
		*name = "uniformResourceIdentifier";
		return X509_SAN_URI;
	case GEN_DIRNAME:
		*name = "directoryName";
		return 0;
	case GEN_OTHERNAME:
		*name = "otherName";
		return 0;
	case GEN_RID:
		*name = "registeredID";
		return 0;
	default:
		*name = "x400Address/ediPartyName";
		return 0;
	}
}

/* "dNSName or iPAddress" for a set of X509_SAN_* kinds. */
static void
san_kinds_text(unsigned kinds, char *dst, size_t n)
{
	static const struct {
		unsigned bit;
		const char *name;
	} k[] = {{X509_SAN_DNS, "dNSName"},
		 {X509_SAN_IP, "iPAddress"},
		 {X509_SAN_EMAIL, "rfc822Name"},
		 {X509_SAN_URI, "uniformResourceIdentifier"}};
	size_t i, o = 0;

	dst[0] = '\0';
	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if ((kinds & k[i].bit) != 0 && o < n)
			o += (size_t)snprintf(dst + o, n - o, "%s%s", o > 0 ? " or " : "",
					      k[i].name);
}

static int
lint_san(struct lint *l)
{
	X509_EXTENSION *ext = ext_get(l->x, NID_subject_alt_name);
	GENERAL_NAMES *sans = NULL;
	const char *kname;
	char kinds[128];
	unsigned have = 0, bit;
	int i, crit = ext != NULL && X509_EXTENSION_get_critical(ext);
	int empty = X509_NAME_entry_count(X509_get_subject_name(l->x)) == 0, rc = -1;

	if (empty && !crit) {
		err_set(l->e, ERR_REFUSED,
			"lint: RFC 5280 4.1.2.6: empty subject requires a critical subjectAltName");
		goto out;
	}
	if (!empty && crit) {
		err_set(l->e, ERR_REFUSED,
			"lint: RFC 5280 4.2.1.6: subjectAltName must not be "
			"critical when the subject is not empty");
		goto out;
	}
	if (ext != NULL) {
		if ((sans = X509V3_EXT_d2i(ext)) == NULL) {
			err_ssl(l->e, ERR_REFUSED,
				"lint: RFC 5280 4.2.1.6: malformed subjectAltName");
			goto out;
		}
		if (sk_GENERAL_NAME_num(sans) <= 0) {
			err_set(l->e, ERR_REFUSED,
				"lint: RFC 5280 4.2.1.6: subjectAltName must not be empty");
			goto out;
		}
		if (x509_sans_check(sans, "lint", l->e) == -1)
			goto out;
		for (i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
			bit = san_kind(sk_GENERAL_NAME_value(sans, i)->type, &kname);
			if ((bit & l->p->san_allowed) == 0) {
				err_set(l->e, ERR_REFUSED,
					"lint: profile %s: SAN of kind %s is not allowed",
					l->p->name, kname);
				goto out;
			}
			have |= bit;
		}
	}
	if (l->p->san_required != 0 && (have & l->p->san_required) == 0) {
		san_kinds_text(l->p->san_required, kinds, sizeof(kinds));
		err_set(l->e, ERR_REFUSED, "lint: RFC 5280 4.2.1.6: %s profile requires a %s SAN",
			l->p->name, kinds);
		goto out;
	}
	rc = 0;
out:
	GENERAL_NAMES_free(sans);
	return rc;
}

/* Presence and criticality of one extension as the profile wants it; *ext set when present. */
static int
ext_expect(struct lint *l, int nid, int present, int critical, const char *rule,
	   X509_EXTENSION **ext)
{
	*ext = ext_get(l->x, nid);
	if (!present && *ext != NULL)
		return err_set(l->e, ERR_REFUSED, "lint: profile %s: %s not allowed", l->p->name,
			       OBJ_nid2sn(nid));
	if (present && *ext == NULL)
		return err_set(l->e, ERR_REFUSED, "lint: %s: %s missing", rule, OBJ_nid2sn(nid));
	if (present && (X509_EXTENSION_get_critical(*ext) != 0) != (critical != 0))
		return err_set(l->e, ERR_REFUSED, "lint: %s: %s must %sbe critical", rule,
			       OBJ_nid2sn(nid), critical ? "" : "not ");
	return 0;
}

static int
lint_bc(struct lint *l)
{
	X509_EXTENSION *ext;
	BASIC_CONSTRAINTS *bc = NULL;
	int rc = -1;

	if (ext_expect(l, NID_basic_constraints, 1, l->p->bc_critical, "RFC 5280 4.2.1.9", &ext) ==
	    -1)
		goto out;
	if ((bc = X509V3_EXT_d2i(ext)) == NULL) {
		err_ssl(l->e, ERR_REFUSED, "lint: RFC 5280 4.2.1.9: malformed basicConstraints");
		goto out;
	}
	if ((bc->ca != 0) != (l->p->ca != 0)) {
		err_set(l->e, ERR_REFUSED, "lint: profile %s: basicConstraints cA must be %s",
			l->p->name, l->p->ca ? "TRUE" : "FALSE");
		goto out;
	}
	if (l->p->path_len < 0 && bc->pathlen != NULL) {
		err_set(l->e, ERR_REFUSED,
			"lint: profile %s: basicConstraints must not carry pathLenConstraint",
			l->p->name);
		goto out;
	}
	if (l->p->path_len >= 0 &&
	    (bc->pathlen == NULL || ASN1_INTEGER_get(bc->pathlen) != l->p->path_len)) {
		err_set(l->e, ERR_REFUSED,
			"lint: profile %s: basicConstraints pathLenConstraint must be %ld",
			l->p->name, l->p->path_len);
		goto out;
	}
	rc = 0;
out:
	BASIC_CONSTRAINTS_free(bc);
	return rc;
}

static void
ku_text(unsigned ku, char *dst, size_t n)
{
	size_t i, o = 0;

	dst[0] = '\0';
	for (i = 0; i < 9; i++)
		if ((ku & ku_names[i].flag) != 0 && o < n)
			o += (size_t)snprintf(dst + o, n - o, "%s%s", o > 0 ? ", " : "",
					      ku_names[i].name);
}

static int
lint_ku(struct lint *l)
{
	X509_EXTENSION *ext;
	ASN1_BIT_STRING *ku = NULL;
	unsigned want = l->p->key_usage, got = 0;
	char text[256];
	int i, extra = 0, rc = -1;

	if (l->ki.type == EVP_PKEY_RSA)
		want |= l->p->ku_rsa_extra;
	else if (l->ki.type == EVP_PKEY_EC)
		want |= l->p->ku_ec_extra;
	if (ext_expect(l, NID_key_usage, 1, l->p->ku_critical, "RFC 5280 4.2.1.3", &ext) == -1)
		goto out;
	if ((ku = X509V3_EXT_d2i(ext)) == NULL) {
		err_ssl(l->e, ERR_REFUSED, "lint: RFC 5280 4.2.1.3: malformed keyUsage");
		goto out;
	}
	for (i = 0; i < 9; i++)
		if (ASN1_BIT_STRING_get_bit(ku, i))
			got |= ku_names[i].flag;
	for (i = 9; i < ASN1_STRING_length(ku) * 8; i++)
		if (ASN1_BIT_STRING_get_bit(ku, i))
			extra = 1;
	if (got != want || extra) {
		ku_text(want, text, sizeof(text));
		err_set(l->e, ERR_REFUSED, "lint: profile %s: keyUsage must be exactly %s",
			l->p->name, text);
		goto out;
	}
	rc = 0;
out:
	ASN1_BIT_STRING_free(ku);
	return rc;
}

static int
lint_eku(struct lint *l)
{
	X509_EXTENSION *ext;
	EXTENDED_KEY_USAGE *eku = NULL;
	char text[256];
	size_t o = 0;
	int i, j, nwant = 0, nid, found, rc = -1;

	while (nwant < X509_MAX_EKU && l->p->eku[nwant] != NID_undef)
		nwant++;
	if (ext_expect(l, NID_ext_key_usage, nwant > 0, l->p->eku_critical,
		       l->p->eku_critical ? "RFC 3161 2.3" : "RFC 5280 4.2.1.12", &ext) == -1)
		goto out;
	if (nwant == 0) {
		rc = 0;
		goto out;
	}
	if ((eku = X509V3_EXT_d2i(ext)) == NULL) {
		err_ssl(l->e, ERR_REFUSED, "lint: RFC 5280 4.2.1.12: malformed extendedKeyUsage");
		goto out;
	}
	found = sk_ASN1_OBJECT_num(eku) == nwant;
	for (i = 0; found && i < sk_ASN1_OBJECT_num(eku); i++) {
		nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
		for (j = 0; j < nwant && l->p->eku[j] != nid; j++)
			;
		if (j == nwant)
			found = 0;
		for (j = 0; j < i; j++)
			if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, j)) == nid)
				found = 0;
	}
	if (!found) {
		text[0] = '\0';
		for (j = 0; j < nwant && o < sizeof(text); j++)
			o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s", j > 0 ? ", " : "",
					      OBJ_nid2sn(l->p->eku[j]));
		err_set(l->e, ERR_REFUSED, "lint: profile %s: extendedKeyUsage must be exactly %s",
			l->p->name, text);
		goto out;
	}
	rc = 0;
out:
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return rc;
}

static int
lint_key_ids(struct lint *l)
{
	X509_EXTENSION *ext;
	ASN1_OCTET_STRING *ski = NULL;
	AUTHORITY_KEYID *akid = NULL;
	const ASN1_OCTET_STRING *issuer_ski;
	unsigned char md[20];
	int rc = -1;

	if (ext_expect(l, NID_subject_key_identifier, 1, 0, "RFC 5280 4.2.1.2", &ext) == -1)
		goto out;
	if ((ski = X509V3_EXT_d2i(ext)) == NULL) {
		err_ssl(l->e, ERR_REFUSED,
			"lint: RFC 5280 4.2.1.2: malformed subjectKeyIdentifier");
		goto out;
	}
	if (x509_ski_compute(l->x, md, l->e) == -1)
		goto out;
	if (ASN1_STRING_length(ski) != 20 || memcmp(ASN1_STRING_get0_data(ski), md, 20) != 0) {
		err_set(l->e, ERR_REFUSED,
			"lint: RFC 5280 4.2.1.2: subjectKeyIdentifier is not "
			"the SHA-1 of the public key (method 1)");
		goto out;
	}
	if (ext_expect(l, NID_authority_key_identifier, 1, 0, "RFC 5280 4.2.1.1", &ext) == -1)
		goto out;
	if ((akid = X509V3_EXT_d2i(ext)) == NULL) {
		err_ssl(l->e, ERR_REFUSED,
			"lint: RFC 5280 4.2.1.1: malformed authorityKeyIdentifier");
		goto out;
	}
	if (akid->keyid == NULL || akid->issuer != NULL || akid->serial != NULL) {
		err_set(l->e, ERR_REFUSED,
			"lint: RFC 5280 4.2.1.1: authorityKeyIdentifier must carry only a "
			"keyIdentifier");
		goto out;
	}
	issuer_ski = l->is->cert != NULL ? X509_get0_subject_key_id(l->is->cert) : ski;
	if (issuer_ski == NULL || ASN1_OCTET_STRING_cmp(issuer_ski, akid->keyid) != 0) {
		err_set(l->e, ERR_REFUSED,
			"lint: RFC 5280 4.2.1.1: authorityKeyIdentifier does "
			"not match the issuer's subjectKeyIdentifier");
		goto out;
	}
	rc = 0;
out:
	ASN1_OCTET_STRING_free(ski);
	AUTHORITY_KEYID_free(akid);
	return rc;
}

static int
gn_is_uri(const GENERAL_NAME *gn, const char *url)
{
	const ASN1_STRING *s;

	if (gn == NULL || gn->type != GEN_URI)
		return 0;
	s = gn->d.uniformResourceIdentifier;
	return (size_t)ASN1_STRING_length(s) == strlen(url) &&
	       memcmp(ASN1_STRING_get0_data(s), url, strlen(url)) == 0;
}

/*
 * A certificate without revocation pointers must be short-lived (CA/Browser Forum BR 1.6.1
 * "Short-lived Subscriber Certificate", 7.1.2.11.2): notAfter at most X509_SHORT_LIVED_DAYS
 * after notBefore (RFC 5280's inclusive count, as the profiles' maxima).
 */
static int
lint_short_lived(struct lint *l)
{
	time_t nb, na;

	if (x509_time_to_epoch(X509_get0_notBefore(l->x), &nb) == -1 ||
	    x509_time_to_epoch(X509_get0_notAfter(l->x), &na) == -1)
		return err_set(l->e, ERR_REFUSED, "lint: RFC 5280 4.1.2.5: unreadable validity");
	if (X509_VALIDITY_SECONDS(nb, na) > (long long)X509_SHORT_LIVED_DAYS * 86400)
		return err_set(l->e, ERR_REFUSED,
			       "lint: profile %s: CA/Browser Forum BR 7.1.2.11.2: a certificate "
			       "without revocation pointers is valid %d days at most",
			       l->p->name, X509_SHORT_LIVED_DAYS);
	return 0;
}

static int
lint_cdp_aia(struct lint *l)
{
	X509_EXTENSION *ext;
	CRL_DIST_POINTS *cdp = NULL;
	AUTHORITY_INFO_ACCESS *aia = NULL;
	const DIST_POINT *dp;
	const ACCESS_DESCRIPTION *a0, *a1;
	char *crl = NULL, *ocsp = NULL, *ca = NULL;
	int ok, rc = -1;

	/* a short-lived certificate has no CRL distribution point, and lint takes its absence
	 * only when the validity is short-lived indeed (the profile's maximum is checked too) */
	if (ext_expect(l, NID_crl_distribution_points,
		       l->p->cdp_aia != 0 && l->p->cdp_aia != X509_CDP_AIA_SHORT_LIVED, 0,
		       "RFC 5280 4.2.1.13", &ext) == -1)
		goto out;
	if (l->p->cdp_aia == X509_CDP_AIA_SHORT_LIVED && lint_short_lived(l) == -1)
		goto out;
	if (!l->p->cdp_aia) {
		if (ext_expect(l, NID_info_access, 0, 0, "RFC 5280 4.2.2.1", &ext) == -1)
			goto out;
		rc = 0;
		goto out;
	}
	crl = x509_issuer_url(l->is, X509_URL_CRL);
	ocsp = x509_issuer_url(l->is, X509_URL_OCSP);
	ca = x509_issuer_url(l->is, X509_URL_CA);
	if (crl == NULL || ocsp == NULL || ca == NULL) {
		err_set(l->e, ERR_INTERNAL, "lint: profile %s needs the issuer's name and base URL",
			l->p->name);
		goto out;
	}
	if (l->p->cdp_aia == X509_CDP_AIA_SHORT_LIVED)
		goto aia;
	if ((cdp = X509V3_EXT_d2i(ext)) == NULL) {
		err_ssl(l->e, ERR_REFUSED,
			"lint: RFC 5280 4.2.1.13: malformed cRLDistributionPoints");
		goto out;
	}
	dp = sk_DIST_POINT_num(cdp) == 1 ? sk_DIST_POINT_value(cdp, 0) : NULL;
	ok = dp != NULL && dp->reasons == NULL && dp->CRLissuer == NULL && dp->distpoint != NULL &&
	     dp->distpoint->type == 0 && sk_GENERAL_NAME_num(dp->distpoint->name.fullname) == 1 &&
	     gn_is_uri(sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0), crl);
	if (!ok) {
		err_set(l->e, ERR_REFUSED, "lint: profile %s: cRLDistributionPoints must be %s",
			l->p->name, crl);
		goto out;
	}
aia:
	if (ext_expect(l, NID_info_access, 1, 0, "RFC 5280 4.2.2.1", &ext) == -1)
		goto out;
	if ((aia = X509V3_EXT_d2i(ext)) == NULL) {
		err_ssl(l->e, ERR_REFUSED, "lint: RFC 5280 4.2.2.1: malformed authorityInfoAccess");
		goto out;
	}
	if (l->p->cdp_aia == X509_CDP_AIA_NO_OCSP || l->p->cdp_aia == X509_CDP_AIA_SHORT_LIVED) {
		a1 = sk_ACCESS_DESCRIPTION_num(aia) == 1 ? sk_ACCESS_DESCRIPTION_value(aia, 0)
							 : NULL;
		ok = a1 != NULL && OBJ_obj2nid(a1->method) == NID_ad_ca_issuers &&
		     gn_is_uri(a1->location, ca);
		if (!ok) {
			err_set(l->e, ERR_REFUSED,
				"lint: profile %s: authorityInfoAccess must be caIssuers %s only",
				l->p->name, ca);
			goto out;
		}
		rc = 0;
		goto out;
	}
	a0 = sk_ACCESS_DESCRIPTION_num(aia) == 2 ? sk_ACCESS_DESCRIPTION_value(aia, 0) : NULL;
	a1 = sk_ACCESS_DESCRIPTION_num(aia) == 2 ? sk_ACCESS_DESCRIPTION_value(aia, 1) : NULL;
	ok = a0 != NULL && a1 != NULL && OBJ_obj2nid(a0->method) == NID_ad_OCSP &&
	     gn_is_uri(a0->location, ocsp) && OBJ_obj2nid(a1->method) == NID_ad_ca_issuers &&
	     gn_is_uri(a1->location, ca);
	if (!ok) {
		err_set(l->e, ERR_REFUSED,
			"lint: profile %s: authorityInfoAccess must be OCSP %s and caIssuers %s",
			l->p->name, ocsp, ca);
		goto out;
	}
	rc = 0;
out:
	free(crl);
	free(ocsp);
	free(ca);
	sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);
	sk_ACCESS_DESCRIPTION_pop_free(aia, ACCESS_DESCRIPTION_free);
	return rc;
}

/*
 * certificatePolicies (RFC 5280 4.2.1.4): exactly the profile's OIDs in its order, each with
 * the configured CPS URI as its only qualifier (or none); absent when none is configured.
 */
static int
lint_policies(struct lint *l)
{
	X509_EXTENSION *ext;
	CERTIFICATEPOLICIES *pols = NULL;
	const POLICYINFO *pi;
	const POLICYQUALINFO *q;
	char oid[X509_POLICY_OID_MAX + 1];
	int n, i, ok, want = 0, rc = -1;

	while (want < X509_MAX_POLICIES && l->p->policies[want][0] != '\0')
		want++;
	if (ext_expect(l, NID_certificate_policies, want > 0, 0, "RFC 5280 4.2.1.4", &ext) == -1)
		goto out;
	if (want == 0) {
		rc = 0;
		goto out;
	}
	if ((pols = X509V3_EXT_d2i(ext)) == NULL) {
		err_ssl(l->e, ERR_REFUSED, "lint: RFC 5280 4.2.1.4: malformed certificatePolicies");
		goto out;
	}
	ok = (n = sk_POLICYINFO_num(pols)) == want;
	for (i = 0; ok && i < n; i++) {
		pi = sk_POLICYINFO_value(pols, i);
		ok = OBJ_obj2txt(oid, sizeof(oid), pi->policyid, 1) > 0 &&
		     strcmp(oid, l->p->policies[i]) == 0;
		if (!ok)
			break;
		if (l->p->cps_uri[0] == '\0') {
			ok = pi->qualifiers == NULL;
			continue;
		}
		q = sk_POLICYQUALINFO_num(pi->qualifiers) == 1
			? sk_POLICYQUALINFO_value(pi->qualifiers, 0)
			: NULL;
		ok = q != NULL && OBJ_obj2nid(q->pqualid) == NID_id_qt_cps &&
		     (size_t)ASN1_STRING_length(q->d.cpsuri) == strlen(l->p->cps_uri) &&
		     memcmp(ASN1_STRING_get0_data(q->d.cpsuri), l->p->cps_uri,
			    strlen(l->p->cps_uri)) == 0;
	}
	if (!ok) {
		err_set(l->e, ERR_REFUSED,
			"lint: profile %s: certificatePolicies must be %s%s%s%s (as configured)",
			l->p->name, l->p->policies[0], want > 1 ? ", ..." : "",
			l->p->cps_uri[0] != '\0' ? " with CPS " : "", l->p->cps_uri);
		goto out;
	}
	rc = 0;
out:
	CERTIFICATEPOLICIES_free(pols);
	return rc;
}

/* Keys a profile's relying parties cannot use: Ed25519 and small RSA exponents in TLS. */
static int
lint_key_profile(struct lint *l)
{
	if (l->p->refuse_ed25519 && l->ki.type == EVP_PKEY_ED25519)
		return err_set(l->e, ERR_REFUSED,
			       "key: profile %s: Ed25519 keys are not accepted (TLS clients do not "
			       "support them); use an EC P-256 or RSA key, or set "
			       "profile.%s.allow_ed25519 = yes",
			       l->p->name, l->p->name);
	if (l->p->refuse_small_rsa_e && l->ki.type == EVP_PKEY_RSA && l->ki.small_exponent)
		return err_set(l->e, ERR_REFUSED,
			       "key: profile %s: RSA public exponent below 65537 is not accepted "
			       "(CA/Browser Forum BR 6.1.6); make the key with e = 65537, or set "
			       "profile.%s.allow_small_rsa_exponent = yes",
			       l->p->name, l->p->name);
	return 0;
}

static int
lint_nocheck(struct lint *l)
{
	X509_EXTENSION *ext;

	return ext_expect(l, NID_id_pkix_OCSP_noCheck, l->p->ocsp_nocheck, 0, "RFC 6960 4.2.2.2.1",
			  &ext);
}

int
x509_lint(const X509 *x, const struct profile *p, const struct x509_issuer *is, struct err *e)
{
	struct lint l;
	int rc = -1;

	memset(&l, 0, sizeof(l));
	if (x == NULL || p == NULL || is == NULL) {
		err_set(e, ERR_INTERNAL, "lint: missing certificate, profile or issuer");
		goto out;
	}
	l.x = x;
	l.p = p;
	l.is = is;
	l.e = e;
	if (x509_spki_check(X509_get_X509_PUBKEY(x), &l.ki, e) == -1 ||
	    lint_key_profile(&l) == -1) {
		err_kind(e, X509_REFUSAL_KEY);
		goto out;
	}
	if (lint_version(&l) == -1 || lint_serial(&l) == -1 || lint_sigalg(&l) == -1 ||
	    lint_issuer(&l) == -1)
		goto out;
	if (lint_validity(&l) == -1) {
		err_kind(e, X509_REFUSAL_VALIDITY);
		goto out;
	}
	if (lint_ext_set(&l) == -1 || lint_subject(&l) == -1 || lint_san(&l) == -1 ||
	    lint_bc(&l) == -1 || lint_ku(&l) == -1 || lint_eku(&l) == -1 ||
	    lint_key_ids(&l) == -1 || lint_cdp_aia(&l) == -1 || lint_policies(&l) == -1 ||
	    lint_nocheck(&l) == -1)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		err_kind(e, X509_REFUSAL_LINT);
	ERR_clear_error();
	return rc;
}
