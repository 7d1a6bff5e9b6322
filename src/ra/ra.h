/*
 * ra: the registration authority's rules for requests that come from certificate holders.
 * This slice: signed self-service requests (DESIGN.md 2.4) — a holder proves possession of a
 * certificate's key by signing a small JSON request as CMS SignedData (RFC 5652), so that
 * `openssl cms -sign -nodetach -binary`, also with a PKCS#11 token, can make one:
 *
 *   {"type":"revoke"|"status","serial":"<hex>","time":"<RFC 3339>","nonce":"<random>",
 *    "reason":"<optional, revoke only>"}
 *
 * Every request ends in exactly one outcome, decided in this order (the first that applies):
 *
 *   malformed                 not a well-formed request (bounds, encoding, CMS structure,
 *                             JSON, type of the endpoint, serial of the included certificate)
 *   issuer_unknown            the certificate's issuer name is none of our CAs (issuing, root)
 *   cert_signature_invalid    the certificate's signature does not verify with that CA's key
 *   request_signature_invalid the CMS signature (or its signed attributes) does not verify
 *                             with the included certificate's key
 *   unknown_certificate       signed by our CA but not a certificate of our store (e.g. the
 *                             issuing CA's own certificate, or a copy that differs from ours)
 *   stale                     time outside ±online.window_seconds, or the nonce was seen
 *   expired                   the certificate's notAfter has passed
 *   already_revoked           (revoke) revoked, and the revocation is in a published full CRL
 *   revocation_pending        (revoke) revoked at or after the newest full CRL's thisUpdate
 *   accepted                  (revoke) revoked now: OCSP at once, the next CRL, the audit chain
 *   valid / revoked           (status) with the check time / the revocation time and reason
 *
 * A nonce is kept (as a BLAKE2b-256 hash over serial and nonce, table online_nonces,
 * migration 0009) for twice the window; it is written in the same transaction as the
 * revocation, so a replay can never revoke twice nor see an answer a second time.
 */
#ifndef SHOMEI_RA_H
#define SHOMEI_RA_H

#include <stddef.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "store/store.h"
#include "util/util.h"

#define RA_ONLINE_BODY_MAX (64 * 1024) /* bytes of a request (DER or PEM) */
#define RA_ONLINE_JSON_MAX 4096	       /* bytes of the encapsulated JSON */
#define RA_ONLINE_CERTS_MAX 8	       /* certificates a SignedData may carry */
#define RA_ONLINE_NONCE_MIN 16	       /* characters of a nonce (128 bits as hex: 32) */
#define RA_ONLINE_NONCE_MAX 128
#define RA_ONLINE_WINDOW_DEFAULT 300 /* online.window_seconds */

/* The configuration keys ra reads (NULL-terminated; see conf_check_keys). */
extern const char *const ra_conf_keys[];

enum ra_online_type {
	RA_ONLINE_REVOKE = 0,
	RA_ONLINE_STATUS,
};

enum ra_online_result {
	RA_ONLINE_MALFORMED = 0,
	RA_ONLINE_ISSUER_UNKNOWN,
	RA_ONLINE_CERT_SIGNATURE_INVALID,
	RA_ONLINE_REQUEST_SIGNATURE_INVALID,
	RA_ONLINE_UNKNOWN_CERTIFICATE,
	RA_ONLINE_STALE,
	RA_ONLINE_EXPIRED,
	RA_ONLINE_ALREADY_REVOKED,
	RA_ONLINE_REVOCATION_PENDING,
	RA_ONLINE_ACCEPTED,
	RA_ONLINE_VALID,
	RA_ONLINE_REVOKED,
	RA_ONLINE_RESULT__MAX,
};

/* "malformed", "issuer_unknown", ... (the JSON `result`); "error" out of range. */
const char *ra_online_result_name(enum ra_online_result);
/* "revoke" | "status". */
const char *ra_online_type_name(enum ra_online_type);

/* A request that passed the structural checks (no key was used yet). */
struct ra_online_req {
	CMS_ContentInfo *cms;
	X509 *cert; /* the signer's certificate (a reference into cms's certificates: up_ref'd) */
	enum ra_online_type type;
	char serial[STORE_SERIAL_MAX]; /* the certificate's serial, upper-case hex */
	time_t time;
	char nonce[RA_ONLINE_NONCE_MAX + 1];
	int reason; /* revoke: CRLReason code (default cessationOfOperation); status: -1 */
};

/*
 * Parses a request for the endpoint of type want (DER, or PEM "CMS"/"PKCS7"): exactly one
 * SignerInfo, a digest of the SHA-2 family, encapsulated id-data content (not detached), at
 * most RA_ONLINE_CERTS_MAX certificates of which exactly one is the signer's, no CRLs; the
 * content a JSON object with known keys of the right types (duplicates refused), type equal
 * to want, serial equal to the signer certificate's.  -1 with ERR_REFUSED and a message naming
 * the rule when it is malformed.  The caller frees req with ra_online_req_free() (also after a
 * failure).
 */
int ra_online_parse(const unsigned char *, size_t, enum ra_online_type want, struct ra_online_req *,
		    struct err *);
void ra_online_req_free(struct ra_online_req *);

/*
 * The checks that need our CA certificates only (no store): issuer name, certificate
 * signature, CMS signature.  cas are candidate issuers.  Returns the first failing outcome, or
 * RA_ONLINE_ACCEPTED when all pass; detail (may be NULL) names the rule.
 */
enum ra_online_result ra_online_verify(const struct ra_online_req *, X509 *const *cas, size_t ncas,
				       struct err *detail);

/* The answer to one request. */
struct ra_online_answer {
	enum ra_online_result result;
	char serial[STORE_SERIAL_MAX]; /* "" when the request was malformed */
	time_t checked;		       /* when the answer was decided */
	time_t not_after;	       /* the certificate's (0 when unknown) */
	time_t revoked_at;	       /* revoked, already_revoked, revocation_pending, accepted */
	int reason;		       /* CRLReason code of the revocation, else -1 */
	char detail[512];	       /* why a refusal was made (safe to show; may be "") */
};

/*
 * The whole request: parse, verify, look the certificate up, check time and nonce, and for an
 * accepted revocation revoke it (ca_revoke_tx, audit actor "holder:<serial>") and record the
 * nonce in one transaction, then notify (may be NULL) and the CRL-on-revoke rule.  Returns
 * 0 with *ans filled for every outcome; -1 only for internal errors (store, signer).
 */
/*
 * Told inside the revocation's transaction after an accepted self-service revocation (the
 * portal queues the mail to the holder there: the mail goes out if and only if the revocation
 * commits).  A -1 return rolls everything back.
 */
struct ra_online_notify {
	int (*revoked)(void *arg, struct store *, const char *serial, int reason, struct err *);
	void *arg;
};

int ra_online_handle(struct ca *, struct store *, enum ra_online_type, const unsigned char *,
		     size_t, const struct ra_online_notify *, struct ra_online_answer *,
		     struct err *);

/*
 * Builds a signed request (the client side; tests): the JSON with the given fields (nonce and
 * time made here when NULL / 0) signed with key as CMS SignedData (SHA-256, signed
 * attributes, the certificate included), DER in out.  reason NULL: none.
 */
int ra_online_request_build(enum ra_online_type, X509 *cert, EVP_PKEY *key, const char *reason,
			    time_t when, const char *nonce, struct buf *out, struct err *);

/* "2026-11-21T19:05:14Z" (UTC); out holds at least 21 bytes. */
void ra_time_rfc3339(time_t, char *out, size_t outlen);
/* RFC 3339 date-time (T or t, Z or z or ±hh:mm, optional fraction) -> time_t; -1 if bad. */
int ra_time_parse(const char *, time_t *);

/* ---- an organization's name policy, and issuance for an organization (policy.c) ---- */

/*
 * One issuance for an organization, as every face asks for it.  The RA takes the names from
 * the face (dns, email) or else from the CSR, checks them against the organization's policy,
 * builds the subject (O = the organization's registered name, OU, CN) and has the CA issue.
 */
struct ra_issue_req {
	const char *profile;
	const char *org_code;
	/* the key: a CSR (PEM or DER; proves possession), or a key the RA made itself */
	const unsigned char *csr;
	size_t csrlen;
	EVP_PKEY *key;
	const X509_PUBKEY *spki;
	/* what the face decided (NULL / 0: taken from the CSR) */
	const char *cn; /* the holder's name; server: one of the names (else the first) */
	const char *const *ou;
	size_t nou;
	const char *const *dns; /* host names (server) */
	size_t ndns;
	const char *email; /* the holder's address (client, codesign) */
	long days;	   /* 0: the profile's default */
	const char *actor;
	const char *predecessor;
	int check_only; /* build and lint only: nothing is signed nor stored */
	int officer;	/* an RA officer's certificate (profile "officer" and only it) */
	/* as in struct ca_issue_req: the caller's records in the certificate's transaction */
	int (*signed_fn)(const struct ca_issued *, void *arg, struct err *);
	int (*write_fn)(struct store *, const struct ca_issued *, void *arg, struct err *);
	void *arg;
};

/*
 * The whole issuance for an organization: the profile, the organization (CA_REFUSAL_ORG when
 * unknown), the CSR (parsed once), the names against the organization's policy and the
 * subject the RA builds (CA_REFUSAL_NAME_POLICY), then ca_issue().  Refusals are ERR_REFUSED
 * with a kind of enum ca_refusal and a message naming the rule and the value.
 */
int ra_issue(struct ca *, struct store *, const struct ra_issue_req *, struct ca_issued *,
	     struct err *);
/*
 * The names of a certificate checked against org's policy for profile prof (the rules are at
 * the top of policy.c): 0, or -1 with ERR_REFUSED of kind CA_REFUSAL_NAME_POLICY.
 */
int ra_policy_names(const struct store_org *org, const struct profile *prof,
		    const GENERAL_NAMES *sans, struct err *);
/* The subject the RA gives: O = org's name, the OUs, CN cn (may be NULL).  Caller frees. */
int ra_policy_subject(const struct store_org *org, const char *const *ou, size_t nou,
		      const char *cn, X509_NAME **out, struct err *);
/* ---- organizations and tickets (org.c) ---- */

/* A list to set (set = 1: replace the organization's list with these n values). */
struct ra_org_list {
	const char *const *v;
	size_t n;
	int set;
};

/* What to change in an organization; ra_org_change_init() makes a change of nothing. */
struct ra_org_change {
	const char *name; /* NULL: keep */
	struct ra_org_list domains, mail_domains, ips, uris;
	int unrestricted; /* -1 keep, 0 restricted to its names, 1 any name */
};
void ra_org_change_init(struct ra_org_change *);
/*
 * Adds an organization (code 1-32 of [A-Za-z0-9_-], name 1-256 bytes) with the names of c
 * (may be NULL), audited as org.add; ERR_CONFLICT when the code exists.  Values are checked:
 * domains and mail domains DNS names without wildcard, IP addresses or prefixes, absolute
 * URIs.
 */
int ra_org_add(struct store *, const char *code, const char *name, const struct ra_org_change *c,
	       const char *actor, struct err *);
/* Changes an organization as c says, in one transaction with its org.set audit entry. */
int ra_org_set(struct store *, const char *code, const struct ra_org_change *c, const char *actor,
	       struct err *);
/* Creates count tickets; numbers are returned in *numbers (caller frees each and the array). */
int ra_ticket_create(struct store *, const char *org_code, const char *profile, size_t count,
		     const char *actor, char ***numbers, struct err *);

/* 1 when addr's domain lies in the organization's mail domains (or it is unrestricted). */
int ra_email_in_org(const struct store_org *org, const char *addr);

#endif
