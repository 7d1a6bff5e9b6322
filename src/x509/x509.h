/*
 * x509: certificate profiles, CSR parsing, TBSCertificate building and lint-before-sign.
 * Pure functions over OpenSSL objects: no store, no signer, no I/O.
 *
 * Errors name the object and the rule, e.g.
 *   "csr: RFC 2986: signature does not verify"
 *   "lint: RFC 5280 4.2.1.6: server profile requires a dNSName or iPAddress SAN"
 * and are ERR_REFUSED unless the failure is ours (ERR_INTERNAL).
 */
#ifndef SHOMEI_X509_H
#define SHOMEI_X509_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../util/util.h"

struct conf;

/* SAN kinds, as bits */
#define X509_SAN_DNS 0x01u
#define X509_SAN_IP 0x02u
#define X509_SAN_EMAIL 0x04u
#define X509_SAN_URI 0x08u

#define X509_MAX_EKU 8
/* profile.cdp_aia: CDP and AIA with OCSP and caIssuers; or without OCSP (the issuing CA's:
 * its status comes from the root CRL, since no online responder holds the root's key) */
#define X509_CDP_AIA_FULL 1
#define X509_CDP_AIA_NO_OCSP 2
/* ... or AIA caIssuers alone, no CDP and no OCSP: a short-lived certificate's (CA/Browser Forum
 * BR 4.9.7 / 7.1.2.11.2: a certificate of at most 7 days needs no revocation pointers) */
#define X509_CDP_AIA_SHORT_LIVED 3
#define X509_SHORT_LIVED_DAYS 7 /* the BR's short-lived certificate: at most 7 days */
#define X509_MAX_POLICIES 4
#define X509_POLICY_OID_MAX 128 /* a dotted OID's text, NUL included */
#define X509_CPS_URI_MAX 256

/*
 * A certificate profile: data, not code.  The built-in table lives in profile.c; shomei.conf
 * may override numbers per profile ("profile.server.max_days = 90").
 */
struct profile {
	const char *name;
	unsigned key_usage;    /* KU_DIGITAL_SIGNATURE | ... (openssl/x509v3.h) */
	unsigned ku_rsa_extra; /* added to key_usage when the subject key is RSA */
	int ku_critical;
	int eku[X509_MAX_EKU]; /* NIDs, NID_undef terminated */
	int eku_critical;
	int ca; /* basicConstraints cA */
	int bc_critical;
	long path_len; /* basicConstraints pathLenConstraint; -1 = absent */
	long max_days; /* validity upper bound */
	long default_days;
	unsigned san_allowed;	/* X509_SAN_* kinds allowed */
	unsigned san_required;	/* at least one SAN of these kinds is required (0 = none) */
	int ocsp_nocheck;	/* id-pkix-ocsp-nocheck */
	int officer_marker;	/* subject gets the officer marker attribute */
	int cdp_aia;		/* CRL distribution point + AIA (OCSP, caIssuers) */
	int dns_wildcard;	/* a dNSName may be a wildcard ("*.example.jp") */
	unsigned ku_ec_extra;	/* added to key_usage when the subject key is EC (keyAgreement) */
	int refuse_ed25519;	/* Ed25519 subject keys refused (browsers' TLS lacks them) */
	int refuse_small_rsa_e; /* RSA public exponents below 65537 refused */
	/* certificatePolicies: dotted OIDs ("" ends the list; none = no extension) */
	char policies[X509_MAX_POLICIES][X509_POLICY_OID_MAX];
	char cps_uri[X509_CPS_URI_MAX]; /* CPS pointer qualifier of each policy, or "" */
};

/*
 * What kind of refusal an ERR_REFUSED of this module is (struct err's kind, set with
 * err_kind()): the faces map kinds, never message texts.  ca.h continues the list.
 */
enum x509_refusal {
	X509_REFUSAL_NONE = 0,
	X509_REFUSAL_CSR,      /* not a well-formed, self-signed certificate request */
	X509_REFUSAL_KEY,      /* the subject public key: type, size, parameters */
	X509_REFUSAL_SUBJECT,  /* a subject attribute that cannot be encoded ("subject: ...") */
	X509_REFUSAL_LINT,     /* another rule of the profile or RFC 5280 */
	X509_REFUSAL_VALIDITY, /* the validity period */
	X509_REFUSAL__MAX,
};

/* The marker placed in officer certificates' subjects (and refused in every other CSR). */
#define X509_OFFICER_MARKER_NID NID_title
#define X509_OFFICER_MARKER_VALUE "shomei RA officer"

const struct profile *profile_find(const char *name);
/* All profiles, in a fixed order; *n set. */
const struct profile *profile_all(size_t *n);
/*
 * Applies the "profile.<name>.<setting>" overrides (max_days, default_days, policies,
 * cps_uri, key_agreement, allow_ed25519, allow_small_rsa_exponent) and the defaults
 * "policies" and "cps_uri" that every profile but root-ca takes unless it sets its own.
 * Refuses unknown names and bad values; all or nothing.
 */
int profile_configure(const struct conf *, struct err *);
/* A dotted OID in canonical text: digits, two arcs at least, no empty arc, no leading zero. */
int x509_oid_text_ok(const char *);
/* The configuration keys profile_configure reads (NULL-terminated; see conf_check_keys). */
extern const char *const profile_conf_keys[];

/*
 * A parsed certificate signing request.  csr_parse() accepts PEM ("CERTIFICATE REQUEST" or
 * "NEW CERTIFICATE REQUEST") or DER, at most X509_CSR_MAX bytes, checks the structure and the
 * self-signature, the key (RSA >= 2048 bits, EC on P-256/P-384/P-521 only, Ed25519), and the
 * requested extensions (no duplicates; SANs well-formed).  Owned by the caller: csr_free().
 */
#define X509_CSR_MAX (64 * 1024)

struct csr {
	EVP_PKEY *pkey;	     /* decoded once, for the signature check (owned) */
	X509_NAME *subject;  /* owned */
	X509_PUBKEY *spki;   /* the SubjectPublicKeyInfo as sent, not re-encoded (owned) */
	GENERAL_NAMES *sans; /* requested SANs (owned), or NULL */
};

int csr_parse(const unsigned char *, size_t, struct csr **, struct err *);
/* CSR_PARSE_NO_VERIFY skips the self-signature (the fuzzer uses it to reach build/lint). */
#define CSR_PARSE_NO_VERIFY 0x01u
int csr_parse_ex(const unsigned char *, size_t, unsigned flags, struct csr **, struct err *);
void csr_free(struct csr *);

/* Checks a public key's strength; "key: ..." messages. */
int x509_key_check(EVP_PKEY *, struct err *);

/* The issuing CA as seen by the builder. */
struct x509_issuer {
	X509 *cert;	      /* the CA certificate */
	EVP_PKEY *pubkey;     /* borrowed from cert; decides the signature algorithm */
	const char *name;     /* short name: /crl/<name>.crl, /ca/<name>.crt */
	const char *base_url; /* e.g. "http://localhost:8080" (no trailing slash) */
};

/* What the caller wants in the certificate. */
struct x509_template {
	const struct profile *profile;
	const X509_NAME *subject; /* re-encoded: DirectoryString -> UTF8String; may be empty */
	EVP_PKEY *pubkey;
	/*
	 * The subject public key info to copy as it is (e.g. the CSR's), or NULL to encode
	 * pubkey.  Copying avoids OpenSSL 3.0's key encoder, which costs ~250 us per key.
	 */
	const X509_PUBKEY *spki;
	const GENERAL_NAMES *sans; /* may be NULL */
	time_t not_before;
	time_t not_after;
	unsigned char serial[20];
	size_t serial_len;
};

/* Draws a serial: 16 CSPRNG bytes, first byte in 0x01..0x7f (positive, no padding). */
void x509_serial_new(unsigned char serial[20], size_t *len);

/*
 * Builds the unsigned certificate (v3; AKI/SKI; KU/EKU/BC per profile; CDP and AIA from the
 * issuer's base URL; subject strings as UTF8String except countryName/emailAddress; the
 * officer marker when the profile asks for it) with the signature algorithm that the issuer's
 * key will use.  Caller owns *out.
 */
int x509_tbs_build(const struct x509_issuer *, const struct x509_template *, X509 **out,
		   struct err *);

/*
 * Lint before sign: checks the unsigned certificate against its profile and RFC 5280 and
 * returns the first violation.  Rules (each with its own message): version, serial (positive,
 * 8..20 octets), signature algorithm matches issuer key, issuer name = CA subject, validity
 * order and bounds (profile max, inside the issuer's validity), subject/SAN presence (empty
 * subject needs a critical SAN), SAN syntax (DNS label rules, wildcards only as the whole
 * left-most label and not on public suffix-like "*.com", IP length 4/16, rfc822 syntax),
 * SAN kinds allowed/required by the profile, key strength, duplicate extensions, required
 * extensions present with the right criticality, officer marker only in officer profile.
 */
int x509_lint(const X509 *tbs, const struct profile *, const struct x509_issuer *, struct err *);

/* DER of the TBSCertificate (re-encoded).  *der is OPENSSL_malloc'ed: OPENSSL_free(). */
int x509_tbs_der(X509 *, unsigned char **der, size_t *len, struct err *);

/*
 * Assembles Certificate ::= SEQUENCE { tbs, signatureAlgorithm (copied from the TBS),
 * BIT STRING signature } and parses it back.  Caller owns *out.
 */
int x509_assemble(const unsigned char *tbs, size_t tbslen, const unsigned char *sig, size_t siglen,
		  X509 **out, struct err *);

/*
 * The same, without parsing the result back (parsing decodes the key again): *der is
 * malloc'ed, caller frees.
 */
int x509_assemble_der(const unsigned char *tbs, size_t tbslen, const unsigned char *sig,
		      size_t siglen, unsigned char **der, size_t *derlen, struct err *);

/*
 * What a SubjectPublicKeyInfo holds, read from its bytes without OpenSSL's key decoders, and
 * checked with the rules of x509_key_check() (same messages).  type is EVP_PKEY_RSA,
 * EVP_PKEY_EC or EVP_PKEY_ED25519; bits is the modulus or field size.
 */
struct x509_keyinfo {
	int type;
	int bits;
	int small_exponent; /* RSA: the public exponent is below 65537 */
};
int x509_spki_check(const X509_PUBKEY *, struct x509_keyinfo *, struct err *);

/* Text forms stored in the database; caller frees. */
char *x509_name_text(const X509_NAME *);     /* RFC 4514, UTF-8 */
char *x509_sans_text(const GENERAL_NAMES *); /* "DNS:a, IP:1.2.3.4, email:x@y" or NULL */
/* Upper-case hex of an ASN1_INTEGER's magnitude; dst holds STORE_SERIAL_MAX (41). */
int x509_serial_hex(const ASN1_INTEGER *, char *dst, size_t dstlen);

/* Validates one DNS name as a SAN (wildcard allowed iff allow_wildcard); "lint: ..." errors. */
int x509_dns_name_check(const char *, size_t, int allow_wildcard, struct err *);

/*
 * The one signature algorithm shomei uses with a key: EC P-256 -> ecdsa-with-SHA256,
 * P-384 -> ecdsa-with-SHA384, P-521 -> ecdsa-with-SHA512, RSA -> sha256WithRSAEncryption
 * (PKCS#1 v1.5).  Used by the builder (what the TBS announces) and the signer (what it checks
 * and uses), so both always agree.  md_nid is the digest NID.
 */
int x509_sigalg_for_key(EVP_PKEY *, int *sig_nid, int *md_nid, struct err *);
/* Sets an AlgorithmIdentifier to sig_nid (NULL parameters for RSA, absent for ECDSA). */
int x509_algor_set(X509_ALGOR *, int sig_nid, struct err *);

/* ASN1_TIME <-> time_t */
int x509_time_to_epoch(const ASN1_TIME *, time_t *);
/*
 * The notAfter of a validity of `days` days from not_before.  RFC 5280 4.1.2.5 counts
 * notAfter inclusively, so the last second is not_before + days * 86400 - 1: a 398-day
 * certificate is valid for exactly 398 days, not one second more.
 */
time_t x509_not_after(time_t not_before, long days);
/* The length of a validity in seconds as RFC 5280 counts it (both ends inclusive). */
#define X509_VALIDITY_SECONDS(nb, na) ((long long)(na) - (long long)(nb) + 1)

/*
 * Shared by the x509 sources (and their tests); other modules need not call these.
 * `who` prefixes the messages: "csr", "lint", "subject", "lint: subject".
 */

/* Syntax of every SAN: DNS (wildcards allowed), IP (4/16 octets), rfc822Name, URI. */
int x509_sans_check(const GENERAL_NAMES *, const char *who, struct err *);
/* x509_dns_name_check() with the message prefix chosen by the caller. */
int x509_dns_check(const char *, size_t, int allow_wildcard, const char *who, struct err *);
/*
 * Re-encodes a subject for a certificate: DirectoryString attributes as UTF8String,
 * countryName as a 2-letter PrintableString, emailAddress/domainComponent as IA5String;
 * refuses unknown attributes, bad UTF-8, control characters and over-long values
 * ("subject: ..." messages).  Multi-valued RDNs are kept.  Caller owns *out.
 */
int x509_name_reencode(const X509_NAME *, X509_NAME **out, struct err *);
/* Checks one attribute of a built subject has the encoding x509_name_reencode() gives. */
int x509_name_entry_check(const X509_NAME_ENTRY *, const char *who, struct err *);
/*
 * Counts officer-marker attributes: *exact = value is exactly X509_OFFICER_MARKER_VALUE as
 * UTF-8; *similar = the same ignoring ASCII case and surrounding blanks (exact ones included).
 */
void x509_name_officer_count(const X509_NAME *, int *exact, int *similar);
/* SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1); out holds 20 bytes. */
int x509_ski_compute(const X509 *, unsigned char out[20], struct err *);

/* The URLs an issuer publishes; caller frees.  NULL when the issuer has no name/base_url. */
enum x509_url {
	X509_URL_CRL,  /* <base_url>/crl/<name>.crl */
	X509_URL_OCSP, /* <base_url>/ocsp */
	X509_URL_CA,   /* <base_url>/ca/<name>.crt */
};
char *x509_issuer_url(const struct x509_issuer *, enum x509_url);

#endif
