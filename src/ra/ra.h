/*
 * ra: the registration authority's rules, shared by every face (portal, api, cli; console and
 * acme next).  A face draws pages or speaks a protocol; what a holder, an applicant or an
 * organization may do, and every write it leads to, is decided here:
 *
 *   notify hooks      struct ra_notify: how the RA tells people; the face fills the templates
 *   revoke.c          revocations made for holders (web, signed requests, re-issue), and the
 *                     web revocation: request, mailed link, peek, complete
 *   online.c          signed self-service requests (CMS SignedData over a small JSON object)
 *   policy.c          an organization's name policy; ra_issue(), issuance for an organization
 *   token.c           one-time secrets, their hashes, certificate codes
 *   app.c             the application life cycle: states, transition table, ra_app_move()
 *   regist.c          registration and the mailed link
 *   fields.c          the holder's fields, each rule returning a code the face words
 *   keys.c            keys made ahead for holders, their PKCS#12
 *   org.c             organizations and tickets (audited changes)
 *   issue.c           issuance of applications: submit, approve, reject, deliver, download
 *   apikey.c, cert.c  API keys; certificates as an organization sees them
 *   reissue.c         re-issue by the holder (DESIGN.md 2.3)
 *   officer.c         RA officers, their enrolment, certificates and console login
 *   allowlist.c       the OU allow-list per organization and domain (the name policy's OU rule)
 *   opform.c          console forms that show a secret once: their nonce recorded once
 *   stats.c           the console's statistics of issued certificates and its audit view
 *   acme.c            ACME: nonces, accounts (life cycle, key change), External Account
 *                     Bindings of an organization (sealed HMAC keys)
 *   acmelimit.c       ACME's rate limits (counts per sliding window, the Public Suffix List)
 *
 * Each operation returns an outcome enum (with __MAX and a names table) and writes in one
 * transaction; the faces never call the store nor open a transaction themselves.
 */
#ifndef SHOMEI_RA_H
#define SHOMEI_RA_H

#include <stddef.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "store/store.h"
#include "util/jws.h"
#include "util/util.h"

/* ---- how the RA tells people (every operation that mails takes one) ---- */

struct ra_app;

/* A revocation the holder is told about. */
struct ra_revoked {
	const char *to; /* the holder's address (the application's) */
	const char *serial;
	const char *subject; /* RFC 4514 text */
	int reason;	     /* CRLReason code */
	time_t revoked_at;
};

/*
 * The faces' mails.  Each hook queues its mail through st inside the operation's transaction,
 * so the mail goes out if and only if the operation commits; -1 rolls the operation back.
 * The face owns the words, the language and the links (it gets the one-time secret's text and
 * makes the URL).  A NULL hook sends nothing.
 */
struct ra_notify {
	void *arg;
	/* registration: the mailed link that confirms the address (to the applicant) */
	int (*registered)(void *arg, struct store *, const char *to, const char *token,
			  struct err *);
	/* an agent's application: the approval link to the holder (a: the application) */
	int (*approval)(void *arg, struct store *, const struct ra_app *a, const char *to,
			const char *token, struct err *);
	/* issued: the certificate code to the holder */
	int (*issued)(void *arg, struct store *, const char *to, const char *serial,
		      const char *code, struct err *);
	/* issued on an agent's application: the one-time link of the certificate page (agent) */
	int (*delivery)(void *arg, struct store *, const char *to, const char *token, struct err *);
	/* the holder rejected an agent's application: told to the agent and to the holder */
	int (*rejected)(void *arg, struct store *, const struct ra_app *a, struct err *);
	/* a web revocation request: the one-time link whose page revokes (to the holder) */
	int (*revoke_link)(void *arg, struct store *, const char *to, const char *token,
			   struct err *);
	/* a certificate with a known holder was revoked (web, signed request, re-issue) */
	int (*revoked)(void *arg, struct store *, const struct ra_revoked *, struct err *);
	/* a re-issue was accepted: the new certificate code (to the holder) */
	int (*reissued)(void *arg, struct store *, const char *to, const char *old_serial,
			const char *code, struct err *);
};

/*
 * Revokes serial (ca_revoke_tx: the row, the revocation counter OCSP polls, the audit entry
 * by actor) inside the caller's open transaction and tells its holder through n->revoked when
 * the certificate has an application with an address.  ERR_CONFLICT when it was revoked
 * already.  The caller commits, then calls ca_after_revoke().
 */
int ra_revoke_tx(struct ca *, struct store *, const char *serial, int reason, const char *actor,
		 const struct ra_notify *n, struct err *);

/* ---- web revocation by the holder (revoke.c, DESIGN.md 2.2) ---- */

/*
 * The holder names a certificate by organization code, ticket number and e-mail address and
 * gives a reason; the RA mails a one-time link to that address (proof of the mailbox).  The
 * link's page only shows what will be revoked (GET and HEAD: ra_revoke_peek(), nothing used,
 * since mail scanners open links); its button (a POST) revokes: ra_revoke_complete().
 *
 *   ra_revoke_check     the fields' rules, a code per field (no store)
 *   ra_revoke_find      what the three values name (read only): ok, no_match, revoked, expired
 *   ra_revoke_request   one transaction: the confirm form's nonce (a repeat writes nothing),
 *                       the request with the hash of its link (RA_APP_TTL), n->revoke_link
 *   ra_revoke_peek      the link looked at: ok, unknown, used, expired; nothing written
 *   ra_revoke_complete  one transaction: the request marked done and the certificate revoked
 *                       (ra_revoke_tx: the row, OCSP's counter, the audit entry by
 *                       "holder:web-revocation <e-mail>", n->revoked); then the CRL rule
 *
 * When the three values fit no certificate the answer is one code (no_match) that never says
 * which value was wrong.
 */
#define RA_REVOKE_REASON_DEFAULT "cessationOfOperation"

/* What a holder typed (borrowed strings; NULL is taken as ""). */
struct ra_revoke_vals {
	const char *org, *ticket, *email, *reason; /* reason: an RFC 5280 5.3.1 name */
};

/* What the rule of one field says about its value. */
enum ra_revoke_field {
	RA_REVOKE_FIELD_OK = 0,
	RA_REVOKE_FIELD_MISSING, /* empty */
	RA_REVOKE_FIELD_INVALID, /* e-mail: no address; reason: not one a holder may give */
	RA_REVOKE_FIELD__MAX,
};
/* "ok", "missing", "invalid"; "error" out of range. */
const char *ra_revoke_field_name(enum ra_revoke_field);

struct ra_revoke_fields {
	enum ra_revoke_field org, ticket, email, reason;
	int any; /* one of them is not OK */
};

/*
 * The rules of the form (pure): organization and ticket not empty, the e-mail an address,
 * the reason one of cessationOfOperation (the default), keyCompromise, superseded,
 * affiliationChanged.  Returns f->any.
 */
int ra_revoke_check(const struct ra_revoke_vals *, struct ra_revoke_fields *f);

enum ra_revreq_result {
	RA_REVREQ_OK = 0,   /* find: a certificate that can be revoked; request: recorded, mailed */
	RA_REVREQ_REPEAT,   /* request: this confirm form was sent before; nothing written */
	RA_REVREQ_FIELDS,   /* a field breaks its rule (fields say which) */
	RA_REVREQ_NO_MATCH, /* the three values fit no certificate (never which one is wrong) */
	RA_REVREQ_REVOKED,  /* the certificate is revoked already */
	RA_REVREQ_EXPIRED,  /* the certificate has expired: nothing to revoke */
	RA_REVREQ_RESULT__MAX,
};
/* "ok", "repeat", "fields", "no_match", "revoked", "expired"; "error" out of range. */
const char *ra_revreq_result_name(enum ra_revreq_result);

/*
 * What v names (the fields checked first): 0 with *res OK, FIELDS, NO_MATCH, REVOKED or
 * EXPIRED (serial, may be NULL, set for OK, REVOKED, EXPIRED); -1 on a store error.  Reads
 * only.
 */
int ra_revoke_find(struct store *, const struct ra_revoke_vals *v, enum ra_revreq_result *res,
		   char serial[STORE_SERIAL_MAX], struct err *);

struct ra_revreq {
	struct ra_revoke_vals vals;
	const unsigned char *nonce_hash; /* STORE_HASH_LEN: the confirm form's nonce */
};

/*
 * The request, in one transaction: the nonce (REPEAT when it was recorded, also by a twin),
 * the fields and the certificate again (FIELDS, NO_MATCH, REVOKED, EXPIRED: nothing written),
 * the nonce recorded (RA_FORM_TTL), the request with the hash of a new one-time link
 * (RA_APP_TTL) and n->revoke_link with the link's secret to the address as typed.  0 with
 * *res set (f, may be NULL, filled); -1 for internal errors (store, hook), nothing written.
 */
int ra_revoke_request(struct store *, const struct ra_revreq *q, const struct ra_notify *n,
		      enum ra_revreq_result *res, struct ra_revoke_fields *f, struct err *);

enum ra_revlink_result {
	RA_REVLINK_OK = 0,  /* peek: the link is valid; complete: revoked now */
	RA_REVLINK_UNKNOWN, /* no such link (or not a link's text) */
	RA_REVLINK_USED,    /* the link was used (the certificate revoked with it) */
	RA_REVLINK_EXPIRED, /* older than RA_APP_TTL: nothing revoked */
	RA_REVLINK_REVOKED, /* complete: revoked meanwhile by other means; the link is used up */
	RA_REVLINK_RESULT__MAX,
};
/* "ok", "unknown", "used", "expired", "revoked"; "error" out of range. */
const char *ra_revlink_result_name(enum ra_revlink_result);

/* What a link's page shows. */
struct ra_revlink {
	char serial[STORE_SERIAL_MAX];
	int reason;	   /* CRLReason code asked for */
	time_t expires;	   /* the link's end */
	time_t revoked_at; /* complete, OK: when */
	time_t crl_next;   /* complete, OK or REVOKED: nextUpdate of the newest full CRL, or 0 */
};

/*
 * The mailed link (its text, as in the URL) looked at: 0 with *res and, for OK, *out filled
 * (may be NULL).  Nothing is written: GET and HEAD of the link.
 */
int ra_revoke_peek(struct store *, const char *token, enum ra_revlink_result *res,
		   struct ra_revlink *out, struct err *);

/*
 * The link's button: in one transaction the request marked done and the certificate revoked
 * with the reason asked for (ra_revoke_tx with n); a certificate revoked meanwhile gives
 * REVOKED and the request is done all the same.  After the commit the CRL-on-revoke rule
 * (ca_after_revoke; a failure is logged).  0 with *res set and *out (may be NULL) filled for
 * OK and REVOKED; -1 for internal errors, nothing written.
 */
int ra_revoke_complete(struct ca *, struct store *, const char *token, const struct ra_notify *n,
		       enum ra_revlink_result *res, struct ra_revlink *out, struct err *);

/*
 * Signed self-service requests (online.c, DESIGN.md 2.4): a holder proves possession of a
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
	char detail[1024];	       /* why a refusal was made (safe to show; may be "") */
};

/*
 * The whole request: parse, verify, look the certificate up, check time and nonce, and for an
 * accepted revocation revoke it (ca_revoke_tx, audit actor "holder:<serial>") and record the
 * nonce in one transaction, then notify (may be NULL) and the CRL-on-revoke rule.  Returns
 * 0 with *ans filled for every outcome; -1 only for internal errors (store, signer).
 */
int ra_online_handle(struct ca *, struct store *, enum ra_online_type, const unsigned char *,
		     size_t, const struct ra_notify *, struct ra_online_answer *, struct err *);

/*
 * Builds a signed request (the client side; tests): the JSON with the given fields (nonce and
 * time made here when NULL / 0) signed with key as CMS SignedData (SHA-256, signed
 * attributes, the certificate included), DER in out.  reason NULL: none.
 */
int ra_online_request_build(enum ra_online_type, X509 *cert, EVP_PKEY *key, const char *reason,
			    time_t when, const char *nonce, struct buf *out, struct err *);

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
	int csr_verified; /* the caller checked these bytes' self-signature (csr_parse) already */
	/* csr as the caller parsed (and verified) it already, borrowed; NULL: ra_issue parses */
	const struct csr *csr_parsed;
	EVP_PKEY *key;
	const X509_PUBKEY *spki;
	/* what the face decided (NULL / 0: taken from the CSR) */
	const char *cn; /* the holder's name; server: one of the names (else the first) */
	const char *const *ou;
	size_t nou;
	const char *const *dns; /* host names (server) */
	size_t ndns;
	const char *const *ips; /* IP addresses as text (server; ACME's ip identifiers) */
	size_t nips;
	const char *email; /* the holder's address (client, codesign) */
	int names_given;   /* the face decided the names: never the CSR's (none when unset) */
	int short_lived;   /* the face offers profile shortlived (ACME only; refused otherwise) */
	long days;	   /* 0: the profile's default */
	const char *actor;
	const char *predecessor;
	int check_only; /* build and lint only: nothing is signed nor stored */
	/* two steps, as in struct ca_issue_req: sign only, then store the signed certificate */
	int sign_only;
	const struct ca_issued *presigned;
	int officer; /* an RA officer's certificate (profile "officer" and only it) */
	/* as in struct ca_issue_req: the caller's records in the certificate's transaction */
	int (*signed_fn)(const struct ca_issued *, void *arg, struct err *);
	int (*write_fn)(struct store *, const struct ca_issued *, void *arg, struct err *);
	void *arg;
	int write_again; /* as in struct ca_issue_req: write_fn may run again */
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
/* ---- one-time secrets and certificate codes (token.c) ---- */

#define RA_TOKEN_LEN 32	 /* random bytes of a one-time secret */
#define RA_TOKEN_TEXT 44 /* as base64url without padding, with the NUL */

/* A new secret (raw) and its text for a link or a form. */
void ra_token_new(unsigned char raw[RA_TOKEN_LEN], char text[RA_TOKEN_TEXT]);
/*
 * A secret derived from another (key, itself a secret) for label and ctx (BLAKE2b keyed with
 * key): whoever holds key and ctx can make it again, nobody else.
 */
void ra_token_derive(const unsigned char key[RA_TOKEN_LEN], const char *label, const char *ctx,
		     unsigned char raw[RA_TOKEN_LEN], char text[RA_TOKEN_TEXT]);
/* The raw secret of text (exactly 43 base64url characters); -1 when it is anything else. */
int ra_token_decode(const char *text, unsigned char raw[RA_TOKEN_LEN]);
/* BLAKE2b-256 of a secret: all the store ever sees of it. */
void ra_token_hash(const unsigned char raw[RA_TOKEN_LEN], unsigned char out[STORE_HASH_LEN]);
/* The same keyed with key (a session id): the secret works only with that key. */
void ra_token_hash_keyed(const unsigned char raw[RA_TOKEN_LEN], const char *key,
			 unsigned char out[STORE_HASH_LEN]);

/* ---- sessions of the RA officers' console (osess.c) ---- */

#define RA_OSESS_IDLE_DEFAULT 900 /* seconds without a request (console.idle_timeout) */

enum ra_osess_result {
	RA_OSESS_OK = 0,
	RA_OSESS_NONE,	     /* no session with this id (never logged in, or a forged cookie) */
	RA_OSESS_ENDED,	     /* logged out before */
	RA_OSESS_TIMEOUT,    /* idle too long: ended now or before (audited console.timeout) */
	RA_OSESS_OTHER_CERT, /* came with another client certificate: ended (audited) */
	RA_OSESS__MAX
};
extern const char *const ra_osess_result_names[RA_OSESS__MAX];

/*
 * A request of session sid on a connection whose certificate is fpr: RA_OSESS_OK (its
 * last-seen time moved to now when it was more than min(idle_s / 10, 30 s) old, *officer_id
 * set) or why not; ends the session on a timeout (idle_s) or another certificate.
 */
int ra_osess_check(struct store *, const char *sid, const unsigned char fpr[STORE_HASH_LEN],
		   long idle_s, time_t now, int64_t *officer_id, enum ra_osess_result *,
		   struct err *);
/* Logout: ends the session (audited console.logout); *ended 0 when it was not open. */
int ra_osess_end(struct store *, const char *sid, time_t now, int *ended, struct err *);
/* Ends the sessions idle for more than idle_s (each audited console.timeout); *count ended. */
int ra_osess_sweep(struct store *, long idle_s, time_t now, size_t *count, struct err *);

/*
 * Certificate codes: 20 symbols of an alphabet without look-alikes (100 bits), shown in
 * groups of five ("XXXXX-XXXXX-XXXXX-XXXXX"); the store keeps BLAKE2b-256 of the 20 symbols.
 */
#define RA_CODE_ALPHABET "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
#define RA_CODE_CHARS 20
#define RA_CODE_LEN (RA_CODE_CHARS + RA_CODE_CHARS / 5) /* with the NUL */
void ra_code_new(char out[RA_CODE_LEN], unsigned char hash[STORE_HASH_LEN]);
/* The hash of a code as typed (case, hyphens and blanks ignored); -1 when it is no code. */
int ra_code_hash(const char *typed, unsigned char hash[STORE_HASH_LEN]);
/* An access PIN: len symbols of RA_CODE_ALPHABET (pin holds len + 1 bytes). */
void ra_pin_new(char *pin, size_t len);
/*
 * The stored hash of an access PIN as typed (case, blanks and hyphens ignored), keyed with the
 * URL's raw secret, so that the hash alone cannot be brute-forced.  Officer enrolments and
 * client certificate pickups.
 */
void ra_pin_hash(const unsigned char raw[RA_TOKEN_LEN], const char *typed,
		 unsigned char out[STORE_HASH_LEN]);
/* A PIN as typed, normalised as ra_pin_hash does (upper case, no blanks nor hyphens). */
void ra_pin_norm(const char *typed, char *out, size_t n);

/* ---- the life cycle of an application (app.c) ---- */

/* The states (their names are what the store keeps: "mail-verified", ...). */
enum ra_app_state {
	RA_APP_REGISTERED = 0,
	RA_APP_MAIL_VERIFIED,
	RA_APP_SUBMITTED,
	RA_APP_AWAITING_APPROVAL,
	RA_APP_APPROVED,
	RA_APP_ISSUED,
	RA_APP_EXPIRED,
	RA_APP_CANCELLED,
	RA_APP_REJECTED,
	RA_APP_STATE__MAX,
};

/* What moves an application; app.c has the table of which event leads where. */
enum ra_app_event {
	RA_APP_EV_VERIFY = 0,	/* the mailed link was used */
	RA_APP_EV_SUBMIT,	/* a self application's Submit (its values recorded) */
	RA_APP_EV_SUBMIT_AGENT, /* an agent's Submit: to the holder for approval (values) */
	RA_APP_EV_APPROVE,	/* the holder approved */
	RA_APP_EV_REJECT,	/* the holder rejected */
	RA_APP_EV_ISSUE,	/* its certificate was issued (serial, code hash) */
	RA_APP_EV_EXPIRE,	/* a mailed link or approval ran out of time */
	RA_APP_EV_CANCEL,	/* its ticket was used for another certificate meanwhile */
	RA_APP_EVENT__MAX,
};

const char *ra_app_state_name(enum ra_app_state); /* "unknown" out of range */
int ra_app_state_parse(const char *, enum ra_app_state *);
const char *ra_app_event_name(enum ra_app_event);
/* The state ev leads to from from (enum ra_app_state), or -1 when the table has no such move. */
int ra_app_next(enum ra_app_state from, enum ra_app_event ev);

/* What an event records with the move. */
struct ra_app_change {
	const struct store_app *values; /* SUBMIT, SUBMIT_AGENT: profile ... csr */
	const char *serial;		/* ISSUE */
	const unsigned char *code_hash; /* ISSUE: the certificate code's hash */
	time_t when;			/* SUBMIT*, ISSUE */
};

/*
 * The only way an application changes state: from -> the table's state for ev, in one
 * conditional statement (joins an open transaction).  ERR_CONFLICT when the application is
 * not in from (it moved meanwhile); ERR_INTERNAL for a move the table does not have.
 */
int ra_app_move(struct store *, int64_t id, enum ra_app_state from, enum ra_app_event ev,
		const struct ra_app_change *, struct err *);

/* An application as the faces see it: the strings are never NULL ("" when unset). */
struct ra_app {
	int64_t id, org_id, predecessor_id;
	enum ra_app_state state;
	int agent; /* made by an agent (代理人) for the holder */
	char profile[32];
	const char *org_code, *org_name, *ticket, *email; /* email: the applicant's */
	/* recorded at submission */
	const char *subject_email, *name_kanji, *name_romaji, *ou, *hostnames, *key_mode,
	    *password_hash, *csr, *cert_serial;
	time_t created, expires, submitted, issued;
	/* the RA's: own the strings above */
	struct store_app rec;
	char *org_name_owned;
};

/* Loads application id with its profile and organization name; ra_app_clear() frees. */
int ra_app_load(struct store *, int64_t id, struct ra_app *, struct err *);
void ra_app_clear(struct ra_app *); /* accepts NULL */

/*
 * Marks application id expired (from -> expired) when its time ran out (joins an open
 * transaction); a state that moved meanwhile is fine (0).  -1 when the store failed: the
 * caller fails too, and the next look at the link marks it again.
 */
int ra_app_expire(struct store *, int64_t id, enum ra_app_state from, struct err *);

/* ---- registration and the mailed link (regist.c) ---- */

#define RA_APP_TTL (3 * 24 * 3600) /* a mailed link, approval or delivery stays valid */
#define RA_FORM_TTL 3600	   /* a form nonce is kept (a confirm page stays valid) */
#define RA_DOWNLOAD_TTL 3600	   /* a PKCS#12 waits this long for its download */

/* An organization as the faces list it. */
struct ra_org {
	char *code;
	char *name;
};
int ra_org_get(struct store *, const char *code, struct ra_org *, struct err *);
/* Every organization, by code; free with ra_org_clear() on each and free(). */
int ra_org_list(struct store *, struct ra_org **, size_t *, struct err *);
void ra_org_clear(struct ra_org *); /* accepts NULL */

/* Step 1's organization and ticket, a code each (the face words them). */
enum ra_org_field {
	RA_ORG_OK = 0,
	RA_ORG_EMPTY,
	RA_ORG_UNKNOWN,
};
enum ra_ticket_field {
	RA_TICKET_OK = 0,
	RA_TICKET_EMPTY,
	RA_TICKET_UNKNOWN,
	RA_TICKET_OTHER_ORG,   /* a ticket of another organization */
	RA_TICKET_USED,	       /* a certificate was issued on it */
	RA_TICKET_IN_PROGRESS, /* a registration on it is live (not expired, cancelled...) */
};
struct ra_regist_fields {
	enum ra_org_field org;
	enum ra_ticket_field ticket;
};
/* The organization and ticket of step 1, read-only. */
int ra_regist_check(struct store *, const char *org, const char *ticket, struct ra_regist_fields *,
		    struct err *);

struct ra_regist_req {
	const char *org, *ticket, *email;
	int agent;			 /* an agent applies for the holder */
	const unsigned char *nonce_hash; /* the confirm page's nonce (a repeat writes nothing) */
};
enum ra_regist_result {
	RA_REGIST_DONE = 0, /* registered; the mailed link is on its way */
	RA_REGIST_REPEAT,   /* this confirm page was registered before: nothing written */
	RA_REGIST_REFUSED,  /* the organization or the ticket (fields say which) */
	RA_REGIST_RESULT__MAX,
};
const char *ra_regist_result_name(enum ra_regist_result);
/*
 * Register: in one durable write (the group commit) the application, the nonce, the mailed
 * link's token and its mail (n->registered with the link's secret).  0 with *res set; -1 for
 * internal errors only.
 */
int ra_regist(struct ca *, struct store *, const struct ra_regist_req *, const struct ra_notify *n,
	      enum ra_regist_result *res, struct ra_regist_fields *f, struct err *);

enum ra_link_result {
	RA_LINK_OK = 0,
	RA_LINK_UNKNOWN,
	RA_LINK_USED,
	RA_LINK_EXPIRED,
	RA_LINK_RESULT__MAX,
};
const char *ra_link_result_name(enum ra_link_result);
/* The mailed link looked at, nothing used (GET, HEAD); *agent for an agent's application. */
int ra_link_peek(struct store *, const char *token, enum ra_link_result *, int *agent,
		 struct err *);
/*
 * The mailed link used (its page's button): registered -> mail-verified and a continuation
 * whose text goes to cont, valid only with session (its hash is keyed with it), in one write.
 * An expired link marks the application expired.
 */
int ra_link_use(struct ca *, struct store *, const char *token, const char *session,
		char cont[RA_TOKEN_TEXT], enum ra_link_result *, struct err *);
/*
 * The link's use again from the session it rotated to (its answer was lost: a crash, a
 * dropped connection): RA_LINK_OK with the same continuation while the application is still
 * mail-verified and that continuation unused and unexpired, else RA_LINK_USED;
 * RA_LINK_UNKNOWN for a link never used (or unknown), RA_LINK_EXPIRED for an expired one;
 * cont is empty unless RA_LINK_OK.  Reads only.  The continuation is derived from the link and the
 * session (ra_token_derive), so only the holder of the link in that session gets it.
 */
int ra_link_resume(struct store *, const char *token, const char *session, char cont[RA_TOKEN_TEXT],
		   enum ra_link_result *, struct err *);

/* ---- the holder's fields (fields.c); s is NUL-terminated UTF-8 ---- */
#define RA_NAME_MAX 64 /* characters of a name or OU (X.520 ub-name 64) */
#define RA_PASSWORD_MIN 8
#define RA_PASSWORD_MAX 128
#define RA_HOSTS_MAX 10 /* host names of a server certificate */

/* 1 when s is 1-64 characters of the kanji-name ranges (CJK ideographs, hiragana, katakana incl.
 * ー, 々〆〇, full-width Latin letters, the ideographic space), else 0. */
int ra_name_kanji_ok(const char *s);
/*
 * 1 when s is 1-64 of ASCII letters, space, hyphen, apostrophe, period, with a letter, and
 * does not read as a host name (a period between two characters and no blank: it would be a
 * client certificate's CN).
 */
int ra_name_romaji_ok(const char *s);
/* 1 when s is 1-64 characters, none a control character, not only blanks. */
int ra_ou_ok(const char *s);
/* 1 when s has 8-128 characters. */
int ra_password_ok(const char *s);
/*
 * Splits host names separated by blanks, commas or line ends into out (lower-cased, each
 * checked as a DNS name, wildcard allowed; no duplicates), as one string joined by single
 * spaces (*out, caller frees).  ERR_REFUSED with a "hostnames: ..." message when there is
 * none, more than RA_HOSTS_MAX, or one is not a valid name.
 */
int ra_hostnames_parse(const char *s, char **out, struct err *);

/* ---- keys made for holders, and their PKCS#12 (keys.c) ---- */

/*
 * Keys the RA generates for holders (keys.c): with a PIN, the encoded public key
 * and the key shrouded under the PIN for the PKCS#12.  P-256 keys come from a pool filled on
 * idle time (portal.key_pool, started by the face that serves them); RSA ones are made in the
 * request.
 */
#define RA_PIN_LEN 12
#define RA_MAC_SALT 16
struct ra_key {
	EVP_PKEY *key;
	int rsa;
	char pin[RA_PIN_LEN + 1];
	X509_PUBKEY *spki;	/* its SubjectPublicKeyInfo, encoded once (ca_issue_req.spki) */
	PKCS12_SAFEBAG *keybag; /* PKCS#8 shrouded: AES-256-CBC, PBKDF2 (2048) under pin */
	unsigned char mac_salt[RA_MAC_SALT];
	unsigned char mac_key[32]; /* the PKCS#12 MAC key: KDF(pin, mac_salt, 2048), SHA-256 */
};
/* A key of mode "p256" or "rsa2048", made now. */
int ra_key_make(const char *mode, struct ra_key *, struct err *);
#define RA_PIN_MAX 64 /* characters of a PKCS#12 PIN given by the caller */
/*
 * The same under the PIN pin (4 to RA_PIN_MAX characters; NULL: drawn), always made now;
 * k->pin holds pin only when it has at most RA_PIN_LEN characters ("" otherwise).
 */
int ra_key_make_pin(const char *mode, const char *pin, struct ra_key *, struct err *);
/* The same, out of the pool when there is one (each pooled key is handed out once). */
int ra_key_take(const char *mode, struct ra_key *, struct err *);
void ra_key_clear(struct ra_key *);
int ra_keypool_start(size_t cap, struct err *);
void ra_keypool_stop(void);
/* Keys ready in the pool, handed out from it, made in requests because it was empty. */
void ra_keypool_stats(size_t *ready, unsigned long *taken, unsigned long *made_inline);
/*
 * The PKCS#12 of k with the certificate der and chain: the shrouded key, the certificates in
 * plain bags (they are public), both named friendly, and a SHA-256 MAC under k's PIN.
 */
int ra_p12(const struct ra_key *k, const unsigned char *der, size_t len, STACK_OF(X509) * chain,
	   const char *friendly, unsigned char **out, size_t *outlen, struct err *);

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
/* Organization code with its name policy (domains...); store_org_clear() it. */
int ra_org_detail(struct store *, const char *code, struct store_org *, struct err *);
/* Creates count tickets; numbers are returned in *numbers (caller frees each and the array). */
int ra_ticket_create(struct store *, const char *org_code, const char *profile, size_t count,
		     const char *actor, char ***numbers, struct err *);

/* 1 when addr's domain lies in the organization's mail domains (or it is unrestricted). */
int ra_email_in_org(const struct store_org *org, const char *addr);

/* ---- issuance of applications (issue.c) ---- */

/*
 * What the RA keeps at hand for issuance: the holders' key pool (key_pool keys made ahead; 0:
 * none), the issuance form's probe key, the CA chain as PEM.  Once, in the process that
 * serves the faces (after any fork); ra_stop() at the end.
 */
int ra_start(struct ca *, size_t key_pool, struct err *);
void ra_stop(void);
/* PEM ("-----BEGIN label-----", base64 in lines of 64) of der; NULL on failure.  Caller frees. */
char *ra_pem(const char *label, const unsigned char *der, size_t len);

/* The holder's values of an issuance request (borrowed strings, never NULL). */
struct ra_issue_values {
	const char *name_kanji, *name_romaji, *ou, *subject_email;
	const char *hostnames;	   /* server: DNS names separated by blanks, commas or lines */
	const char *key_mode;	   /* "p256" | "rsa2048" | "csr" */
	const char *csr;	   /* PEM (key_mode csr) */
	const char *password_hash; /* the application password's argon2id (Submit) */
};

/* A field's verdict; the face words it. */
enum ra_field {
	RA_FIELD_OK = 0,
	RA_FIELD_MISSING,
	RA_FIELD_INVALID,
	RA_FIELD_NOT_CONFIRMED, /* a self application's address is not the one confirmed */
	RA_FIELD_NOT_ORG,	/* outside what the organization may certify */
	RA_FIELD_REFUSED,	/* the CSR refused by the CA (detail says why) */
};
struct ra_issue_fields {
	enum ra_field name_kanji, name_romaji, ou, subject_email, hostnames, key_mode, csr,
	    password, password2;
	char csr_detail[256]; /* the CA's refusal of the CSR (English, technical) */
	int any;
};
/*
 * Checks every field of v for application a's profile (pw, pw2: the password and its repeat,
 * NULL when it was given before), then the contents as the CA would issue them (the name
 * policy, profile and lint: with a probe key, then the CSR).  *hosts (caller frees): the
 * normalised host names of a server request.  -1 only for internal errors.
 */
int ra_issue_check(struct ca *, struct store *, const struct ra_app *a,
		   const struct ra_issue_values *v, const char *pw, const char *pw2,
		   struct ra_issue_fields *f, char **hosts, struct err *);

/* How an issuance step ended. */
enum ra_submit_result {
	RA_SUBMIT_ISSUED = 0,  /* issued (the page holds the PIN and code, once) */
	RA_SUBMIT_SENT,	       /* an agent's application went to the holder for approval */
	RA_SUBMIT_REPEAT,      /* submitted before (a double click, another page): nothing new */
	RA_SUBMIT_TICKET_USED, /* the ticket went to another certificate meanwhile */
	RA_SUBMIT_REFUSED,     /* the CA refused the CSR (page.detail says why) */
	RA_SUBMIT_UNKNOWN,     /* no such link */
	RA_SUBMIT_DECIDED,     /* approved or rejected already */
	RA_SUBMIT_USED,	       /* the link or continuation was used (issued already) */
	RA_SUBMIT_EXPIRED,     /* its time ran out (the application is marked expired) */
	RA_SUBMIT_NOT_REISSUE, /* this code belongs to no re-issue */
	RA_SUBMIT_NEED_CSR,    /* a re-issue by CSR needs the new CSR */
	RA_SUBMIT_REJECTED,    /* the holder rejected it */
	RA_SUBMIT_RESULT__MAX,
};
const char *ra_submit_result_name(enum ra_submit_result);

/* The certificate page: shown once; ra_cert_page_clear() wipes it. */
struct ra_cert_page {
	char serial[STORE_SERIAL_MAX];
	char profile[32];
	int agent; /* issued on an agent's application */
	int p12;   /* a key made here: PIN and download */
	char pin[RA_PIN_LEN + 1];
	char code[RA_CODE_LEN]; /* the certificate code ("" on an agent's delivery) */
	char dl[RA_TOKEN_TEXT]; /* the PKCS#12's download secret */
	char *cert_pem, *chain_pem;
	time_t not_after;
	char detail[256]; /* RA_SUBMIT_REFUSED: the CA's refusal */
};
void ra_cert_page_clear(struct ra_cert_page *);

/*
 * The application of continuation cont in this session: ISSUED (found: a->state tells where
 * it is), UNKNOWN, USED (issued already) or EXPIRED (marked so).
 */
int ra_cont_load(struct store *, const char *cont, const char *session, struct ra_app *a,
		 enum ra_submit_result *, struct err *);

struct ra_submit_req {
	const struct ra_app *app; /* from ra_cont_load(), state mail-verified */
	const struct ra_issue_values *v;
	const unsigned char *nonce_hash; /* the confirm page's nonce */
	const char *cont, *session;	 /* the continuation (used up by the Submit) */
};
/*
 * Submit.  Self: issues, with the claim (nonce, mail-verified -> submitted) in the
 * certificate's own transaction; the holder is mailed the code (n->issued).  Agent: in one
 * write the nonce, mail-verified -> awaiting-approval with the values, the continuation used,
 * the approval link and its mail (n->approval).  -1 only for internal errors.
 */
int ra_submit(struct ca *, struct store *, const struct ra_submit_req *, const struct ra_notify *n,
	      enum ra_submit_result *, struct ra_cert_page *, struct err *);
/* 1 in *seen when this confirm page's nonce was submitted already (a repeated Submit). */
int ra_submit_seen(struct store *, const unsigned char nonce_hash[STORE_HASH_LEN], int *seen,
		   struct err *);

/* The application of an approval link (GET shows it): ISSUED (found, awaiting), or why not. */
int ra_approval_load(struct store *, const char *token, struct ra_app *a, enum ra_submit_result *,
		     struct err *);
/*
 * The holder approves: in the certificate's own transaction the link used, awaiting-approval
 * -> approved -> issued, the agent's sealed certificate page and the mails (n->issued to the
 * holder, n->delivery to the agent).  A ticket used meanwhile cancels the application.
 */
int ra_approve(struct ca *, struct store *, const char *token, const struct ra_notify *n,
	       enum ra_submit_result *, struct ra_cert_page *, struct err *);
/* The holder rejects: the link used, -> rejected, audited, both told (n->rejected); one write. */
int ra_reject(struct ca *, struct store *, const char *token, const struct ra_notify *n,
	      enum ra_submit_result *, struct err *);
/* The agent's certificate page, once: *found 0 when the link is unknown, used or expired. */
int ra_deliver_take(struct ca *, struct store *, const char *token, struct ra_cert_page *,
		    int *found, struct err *);
/* The parked PKCS#12 of secret, once (*data caller frees); ERR_NOTFOUND when gone. */
int ra_download_take(struct ca *, struct store *, const char *secret, unsigned char **data,
		     size_t *len, struct err *);
/* The same without taking it (HEAD): 0 when it is there, ERR_NOTFOUND when gone. */
int ra_download_peek(struct store *, const char *secret, struct err *);
/*
 * The new certificate of an approved re-issue, by its certificate code (and a new CSR when it
 * was made by CSR): ISSUED, NOT_REISSUE, USED, EXPIRED, NEED_CSR or REFUSED.
 */
int ra_reissue_fetch(struct ca *, struct store *, const char *code, const char *csr,
		     const struct ra_notify *n, enum ra_submit_result *, struct ra_cert_page *,
		     struct err *);

/* ---- API keys of an organization (apikey.c) ---- */

/*
 * A key is "shk_<id>_<secret>": the id (8 random bytes in lower-case hex) finds the row, the
 * secret (32 random bytes in lower-case hex) is checked against the stored keyed BLAKE2b-256
 * hash in constant time.  The secret is shown once at creation and never stored or logged.
 */
#define RA_APIKEY_PREFIX "shk_"
#define RA_APIKEY_ID_BYTES 8
#define RA_APIKEY_SECRET_BYTES 32
#define RA_APIKEY_ID_LEN (2 * RA_APIKEY_ID_BYTES)
#define RA_APIKEY_TEXT_LEN (4 + RA_APIKEY_ID_LEN + 1 + 2 * RA_APIKEY_SECRET_BYTES)

/* "shk_<16 lower-case hex>_<64 lower-case hex>"; out holds RA_APIKEY_TEXT_LEN + 1. */
void ra_apikey_format(const char *id, const unsigned char secret[RA_APIKEY_SECRET_BYTES],
		      char *out);
/* Strict parse of the key text (len bytes); -1 when malformed.  Wipe secret after use. */
int ra_apikey_parse(const char *text, size_t len, char id[RA_APIKEY_ID_LEN + 1],
		    unsigned char secret[RA_APIKEY_SECRET_BYTES]);
/* Keyed BLAKE2b-256 of the secret: what the store keeps. */
void ra_apikey_hash(const unsigned char secret[RA_APIKEY_SECRET_BYTES],
		    unsigned char out[STORE_HASH_LEN]);

/* A key as faces see it (never its secret nor its hash).  ra_apikey_clear() frees. */
struct ra_apikey {
	char id[STORE_APIKEY_ID_MAX]; /* the public <id> of shk_<id>_<secret> */
	int64_t org_id;
	char *org_code;
	char *name; /* the label given at creation (may be "") */
	int disabled;
	time_t created;
	time_t last_used; /* 0 = never; recorded at most once a minute */
};
void ra_apikey_clear(struct ra_apikey *);
void ra_apikey_list_free(struct ra_apikey *, size_t);

/*
 * Creates a key for an organization (name: a label of at most 200 bytes, may be NULL) in one
 * transaction with its apikey.create audit entry, and writes the key text into key
 * (RA_APIKEY_TEXT_LEN + 1 bytes; the caller wipes it).  ERR_NOTFOUND for an unknown
 * organization.
 */
int ra_apikey_create(struct store *, const char *org_code, const char *name, const char *actor,
		     char *key, struct ra_apikey *out, struct err *);
/* Disables (1) or enables (0) a key, audited as apikey.disable / apikey.enable. */
int ra_apikey_set_disabled(struct store *, const char *id, int disabled, const char *actor,
			   struct err *);
/* One key by id; ERR_NOTFOUND when there is none. */
int ra_apikey_get(struct store *, const char *id, struct ra_apikey *, struct err *);
/* The keys of one organization (org_code) or all (NULL), in creation order. */
int ra_apikey_list(struct store *, const char *org_code, struct ra_apikey **, size_t *,
		   struct err *);

enum ra_apikey_auth {
	RA_APIKEY_OK = 0,
	RA_APIKEY_MISSING, /* no key was presented */
	RA_APIKEY_BAD,	   /* malformed, unknown id, wrong secret */
	RA_APIKEY_DISABLED,
	RA_APIKEY_ERROR, /* the store failed (e set) */
};

/*
 * Checks a presented key (text of len bytes; NULL: none was presented): the id's row, the
 * secret's hash compared in constant time, then the disabled flag.  On RA_APIKEY_OK *key is
 * filled and the key's last use recorded (at most once a minute; a failure to record it is
 * only logged).
 */
enum ra_apikey_auth ra_apikey_check(struct store *, const char *text, size_t len,
				    struct ra_apikey *key, struct err *);

/* ---- the OU allow-list (allowlist.c) ---- */

#define RA_OU_MAX 64		  /* characters of an OU */
#define RA_ALLOW_DOMAIN_BYTES 254 /* a DNS domain and the NUL */

/* 1 when ou is 1-RA_OU_MAX characters of UTF-8, no control character, no blank at either end. */
int ra_allow_ou_ok(const char *ou);
/*
 * Adds / removes the OU ou to / from the allow-list of domain (a DNS name within the
 * organization's domains, kept in lower case) of organization code, in one transaction with
 * the allowlist.add / allowlist.remove audit entry.  ERR_NOTFOUND for an unknown organization
 * (or, removing, entry); ERR_CONFLICT when the entry exists; ERR_REFUSED with a message for a
 * bad domain or OU.
 */
int ra_allow_add(struct store *, const char *code, const char *domain, const char *ou,
		 const char *actor, struct err *);
int ra_allow_remove(struct store *, const char *code, const char *domain, const char *ou,
		    const char *actor, struct err *);
/* The entries of organization code (NULL: all), by domain and OU; free with STORE_LIST_FREE. */
int ra_allow_list(struct store *, const char *code, struct store_allow **, size_t *, struct err *);
/*
 * The name policy's OU rule (ra_issue calls it): for each DNS name and e-mail domain of sans
 * that lies in a domain with an allow-list (the most specific such domain), every OU must be
 * on that domain's list.  0, or -1 with ERR_REFUSED of kind CA_REFUSAL_NAME_POLICY.
 */
int ra_allow_check(struct store *, const struct store_org *org, const GENERAL_NAMES *sans,
		   const char *const *ou, size_t nou, struct err *);

/* ---- console forms that show a secret once (opform.c) ---- */

/*
 * Records a console form's nonce once (a token of purpose officer-form, kept RA_FORM_TTL):
 * *seen is 1 when it was recorded before (the same form sent again: do nothing).
 */
int ra_form_claim(struct store *, const unsigned char nonce[RA_TOKEN_LEN], int *seen, struct err *);

/* ---- RA officers (officer.c) ---- */

/*
 * RA officers (DESIGN.md 2.5, issue 13): who may use the console, with which permissions, and
 * their certificates.  An operator adds an officer (`shomei officer add`); the officer is
 * mailed a certificate URL and gets an access PIN from the operator out of band (shown once,
 * stored only as a hash keyed with the URL's secret).  The URL's page (GET: peek; POST with
 * the PIN: take) issues ONE officer certificate with a key made here and shows its PKCS#12
 * and PIN once.  Five wrong PINs lock the enrolment; it expires after console.enrol_days.
 * 30 days before an officer's certificate ends a renewal URL is mailed (kind renew: the
 * console asks for the current certificate by mTLS instead of a PIN); the older certificate
 * is revoked (superseded) at the first login with the new one, or 14 days after the renewal
 * was issued.  The console checks every TLS connection with ra_officer_login().
 */
enum ra_role {
	RA_ROLE_OFFICER = 0, /* an organization's registration officer */
	RA_ROLE_OPERATOR,    /* a CA operator (no organization) */
	RA_ROLE_AUDITOR,     /* reads the audit trail and statistics (no organization) */
	RA_ROLE__MAX,
};
/* "officer", "operator", "auditor" (the store's names); "unknown" out of range. */
const char *ra_role_name(enum ra_role);
/* The role of a name; -1 for any other text. */
int ra_role_parse(const char *, enum ra_role *);

#define RA_PERM_SERVER 1u
#define RA_PERM_CLIENT 2u
#define RA_PERM_CODESIGN 4u
#define RA_PERM_ACME 8u
#define RA_PERM_STATS 16u
#define RA_PERM_ALL 31u
#define RA_PERMS_TEXT 64 /* "server,client,codesign,acme,stats" and the NUL */
/*
 * "server,client,codesign,acme,stats" (any subset, any order, blanks around names ignored;
 * "" and "none" are no permission) into *out; -1 for an unknown or repeated name.
 */
int ra_perms_parse(const char *csv, unsigned *out);
/* The names of perms joined by commas in the order above ("none" for 0) into out. */
void ra_perms_format(unsigned perms, char out[RA_PERMS_TEXT]);

#define RA_OFFICER_PIN_LEN 10	     /* symbols of RA_CODE_ALPHABET: 50 bits */
#define RA_OFFICER_TRIES 5	     /* wrong PINs lock an enrolment */
#define RA_OFFICER_ENROL_DAYS 14     /* console.enrol_days: a certificate URL stays valid */
#define RA_OFFICER_RENEW_DAYS 30     /* a renewal is offered this long before notAfter */
#define RA_OFFICER_SUPERSEDE_DAYS 14 /* the old certificate lives on after a renewal */
#define RA_OFFICER_NAME_BYTES 257    /* RA_NAME_MAX characters of UTF-8 and the NUL */
#define RA_OFFICER_EMAIL_BYTES 255   /* MAIL_ADDR_MAX and the NUL */

/* An officer as every face sees it. */
struct ra_officer {
	int64_t id;
	int64_t org_id;	    /* 0: none (operator, auditor) */
	char org_code[64];  /* "" without an organization */
	char org_name[257]; /* the organization's registered name, "" without */
	char name[RA_OFFICER_NAME_BYTES];
	char email[RA_OFFICER_EMAIL_BYTES];
	enum ra_role role;
	unsigned perms; /* RA_PERM_* */
	int active;	/* 0: disabled (cannot log in nor enrol) */
	time_t created;
};

/* What ra_officer_add() is given (borrowed strings). */
struct ra_officer_new {
	const char *org_code; /* role officer: its organization (required); else NULL */
	const char *name;     /* a person's name (ra_name_romaji_ok or ra_name_kanji_ok): the CN */
	const char *email;    /* mail_addr_valid */
	enum ra_role role;
	unsigned perms;
};

/*
 * How the RA tells officers (src/console/mail.c fills it).  Each hook queues its mail
 * through st inside the operation's transaction (the mail exists iff it commits); -1 rolls
 * the operation back.  token is the URL's secret; the access PIN is never given to a hook.
 */
struct ra_officer_notify {
	void *arg;
	/* a new enrolment: the certificate URL (/officer/enrol/<token>) */
	int (*enrol)(void *arg, struct store *, const struct ra_officer *, const char *token,
		     struct err *);
	/* a renewal: the renewal URL (/officer/renew/<token>, on the console listener) */
	int (*renew)(void *arg, struct store *, const struct ra_officer *, const char *token,
		     struct err *);
};

/* console.enrol_days of ca's configuration (RA_OFFICER_ENROL_DAYS when unset). */
long ra_officer_enrol_days(struct ca *);

/*
 * Adds an officer and opens its enrolment, in one transaction with the officer.add audit
 * entry and n->enrol (may be NULL).  Checked: the name (1-64 characters, a person's name),
 * the address (mail_addr_valid), the role, the perms (RA_PERM_ALL), the organization
 * (required for an officer, ERR_NOTFOUND when unknown; refused for the other roles).  pin
 * gets the access PIN (shown once to the operator; the caller wipes it).  ERR_REFUSED with a
 * message naming the field for bad input.
 */
int ra_officer_add(struct ca *, struct store *, const struct ra_officer_new *,
		   const struct ra_officer_notify *n, const char *actor, struct ra_officer *out,
		   char pin[RA_OFFICER_PIN_LEN + 1], struct err *);
/* Officer id; ERR_NOTFOUND when there is none. */
int ra_officer_get(struct store *, int64_t id, struct ra_officer *, struct err *);
/* The officers of an organization (org_code) or all (NULL), by id; *out: free(). */
int ra_officer_list(struct store *, const char *org_code, struct ra_officer **out, size_t *n,
		    struct err *);
/* Enables (active 1) or disables (0) an officer, audited as officer.enable / officer.disable. */
int ra_officer_set_status(struct store *, int64_t id, int active, const char *actor, struct err *);
/* Replaces an officer's permissions, audited as officer.perms. */
int ra_officer_set_perms(struct store *, int64_t id, unsigned perms, const char *actor,
			 struct err *);
/*
 * A new enrolment after a lost certificate, in one transaction: the officer's open
 * enrolments closed, its active certificates revoked with reason (ca_revoke_tx), a new
 * enrolment and its PIN (pin), the officer.reenrol audit entry and n->enrol; then the
 * CRL-on-revoke rule.  ERR_REFUSED for a disabled officer.
 */
int ra_officer_reenrol(struct ca *, struct store *, int64_t id, int reason,
		       const struct ra_officer_notify *n, const char *actor,
		       char pin[RA_OFFICER_PIN_LEN + 1], struct err *);

enum ra_enrol_result {
	RA_ENROL_OK = 0,    /* peek: the page may ask for the PIN; take: issued now */
	RA_ENROL_UNKNOWN,   /* no such URL (or not a URL's secret) */
	RA_ENROL_EXPIRED,   /* its time ran out */
	RA_ENROL_LOCKED,    /* RA_OFFICER_TRIES wrong PINs */
	RA_ENROL_ISSUED,    /* the certificate was issued with it already (shown once) */
	RA_ENROL_WRONG_PIN, /* take: the PIN is wrong (tries_left says how many remain) */
	RA_ENROL_DISABLED,  /* the officer is disabled */
	RA_ENROL_RESULT__MAX,
};
/* "ok", "unknown", "expired", "locked", "issued", "wrong_pin", "disabled"; "error" out of range. */
const char *ra_enrol_result_name(enum ra_enrol_result);

enum ra_enrol_kind {
	RA_ENROL_KIND_ENROL = 0, /* the first certificate (or after a loss): URL + access PIN */
	RA_ENROL_KIND_RENEW,	 /* a renewal: the console requires mTLS with the current one */
};

/* What an enrolment URL's page shows. */
struct ra_enrol_view {
	struct ra_officer officer;
	enum ra_enrol_kind kind;
	time_t expires;
	int tries_left;
};

/*
 * The URL's secret (its text) looked at, nothing written (GET, HEAD): 0 with *res OK, UNKNOWN,
 * EXPIRED, LOCKED, ISSUED or DISABLED, and v (may be NULL) filled unless UNKNOWN.
 */
int ra_officer_enrol_peek(struct store *, const char *token, struct ra_enrol_view *v,
			  enum ra_enrol_result *res, struct err *);

/* The certificate of an enrolment, shown once; ra_enrol_cert_clear() wipes it. */
struct ra_enrol_cert {
	char serial[STORE_SERIAL_MAX];
	char pin[RA_PIN_LEN + 1]; /* the PKCS#12's PIN */
	unsigned char *p12;	  /* the PKCS#12 (DER) */
	size_t p12len;
	char dl[RA_TOKEN_TEXT]; /* its single-use download secret (ra_officer_download_take) */
	time_t not_after;
	int tries_left; /* WRONG_PIN: how many remain */
	int64_t officer_id;
};
void ra_enrol_cert_clear(struct ra_enrol_cert *); /* accepts NULL */

/*
 * The URL's page posted; the URL must be of auth->kind (and a renewal auth->officer_id's).
 * Kind enrol: the access PIN is checked (a wrong one counts, the
 * RA_OFFICER_TRIES-th locks, both audited, in one transaction).  Kind renew: pin is not used
 * (the console checked the officer's current certificate by mTLS before calling).  Then ONE
 * officer certificate (profile officer, a P-256 key made here, CN the officer's name, O the
 * organization's name or, for operators and auditors, the CA's) with, in the certificate's
 * own transaction, the enrolment moved open -> issued by a conditional update (a twin, a
 * retry or a Back never issues twice: it loses and gets ISSUED, nothing stored), the
 * officer's certificate recorded (fingerprint), the PKCS#12 kept for one download
 * (RA_DOWNLOAD_TTL) and the officer.enrol audit entry.  0 with *res set (*out filled for OK;
 * tries_left for WRONG_PIN); -1 for internal errors only.
 */
/* What the caller of ra_officer_enrol_take() proved. */
struct ra_enrol_auth {
	enum ra_enrol_kind kind; /* the URL must be of this kind (else UNKNOWN) */
	const char *pin;	 /* enrol: the access PIN typed */
	int64_t officer_id; /* renew: the officer whose current certificate the console checked */
};
int ra_officer_enrol_take(struct ca *, struct store *, const char *token,
			  const struct ra_enrol_auth *, enum ra_enrol_result *res,
			  struct ra_enrol_cert *out, struct err *);
/* The PKCS#12 of an enrolment by its download secret, once (*data caller frees). */
int ra_officer_download_take(struct store *, const char *secret, unsigned char **data, size_t *len,
			     struct err *);

enum ra_login_result {
	RA_LOGIN_OK = 0,
	RA_LOGIN_NO_CERT,  /* no client certificate */
	RA_LOGIN_FOREIGN,  /* does not chain to our officer-issuing CA (or is not DER) */
	RA_LOGIN_PERSONAL, /* ours, but without the officer marker */
	RA_LOGIN_REVOKED,
	RA_LOGIN_EXPIRED, /* or not yet valid */
	RA_LOGIN_UNKNOWN, /* marker, ours, bound to no officer */
	RA_LOGIN_DISABLED,
	RA_LOGIN__MAX,
};
/* "ok", "no_cert", "foreign", "personal", "revoked", "expired", "unknown", "disabled". */
const char *ra_login_result_name(enum ra_login_result);

/*
 * A console connection's client certificate (der, len; NULL: none) checked at now, nothing
 * written (every request): the issuing CA's signature and name, the officer marker (exactly
 * one), the revocation status, the validity, the binding to an officer by the SHA-256 of der
 * (fpr, filled when the certificate parsed), the officer's status.  0 with *why set (*out
 * filled for OK and DISABLED); -1 for internal errors only.
 */
int ra_officer_check(struct ca *, struct store *, const unsigned char *der, size_t len, time_t now,
		     struct ra_officer *out, unsigned char fpr[32], enum ra_login_result *why,
		     struct err *);
/* The session a login starts (the console's login button). */
struct ra_login_session {
	const char *sid;    /* the web session id the login rotated to */
	const char *client; /* the client's address */
};
/*
 * The login button: the same check and, for OK, in one transaction: the first login of the
 * certificate recorded, the officer's older active certificates revoked as superseded (first
 * login of a new certificate), the session ls started (osess.c checks its requests) and the
 * console.login audit entry with the certificate's serial and the client's address; then the
 * CRL-on-revoke rule.
 */
int ra_officer_login(struct ca *, struct store *, const unsigned char *der, size_t len, time_t now,
		     const struct ra_login_session *ls, struct ra_officer *out,
		     unsigned char fpr[32], enum ra_login_result *why, struct err *);

/*
 * Opens a renewal (kind renew, console.enrol_days) for every active officer whose active
 * certificates all end within RA_OFFICER_RENEW_DAYS of now and who has no open enrolment,
 * each in one transaction with officer.renew and n->renew.  *count: how many were opened.
 */
int ra_officer_renew_due(struct ca *, struct store *, time_t now, const struct ra_officer_notify *n,
			 size_t *count, struct err *);
/*
 * Revokes (superseded) the active certificates that a newer active certificate of the same
 * officer, issued RA_OFFICER_SUPERSEDE_DAYS or more before now, replaces; each in one
 * transaction; then the CRL-on-revoke rule.  *count: how many.
 */
int ra_officer_supersede_due(struct ca *, struct store *, time_t now, size_t *count, struct err *);

/* ---- certificates as an organization sees them (cert.c) ---- */

/* A certificate's state for every face: revoked, else expired past notAfter, else valid. */
enum ra_cert_status {
	RA_CERT_VALID = 0,
	RA_CERT_REVOKED,
	RA_CERT_EXPIRED,
	RA_CERT_STATUS__MAX,
};

/* "valid", "revoked", "expired"; "unknown" out of range.  The one place that names them. */
const char *ra_cert_status_name(enum ra_cert_status);
/* The status of a name ("valid", ...); -1 for any other text. */
int ra_cert_status_parse(const char *, enum ra_cert_status *);
/* The status of a certificate revoked or not, with this notAfter, at now. */
enum ra_cert_status ra_cert_status_of(int revoked, time_t not_after, time_t now);

/*
 * The names of this instance's issuing CAs (the current one, then previous ones) into a
 * store filter's cas[]: lists and exports show certificates of those only, not of another CA
 * that shares the store or one whose prevN.* lines are gone.
 */
void ra_cas_filter(const struct ca *, const char *cas[STORE_CAS_MAX]);

/* A certificate of this CA within an organization.  ra_cert_clear() frees. */
struct ra_cert {
	char serial[STORE_SERIAL_MAX]; /* upper-case hex */
	char *subject;		       /* RFC 4514 text, UTF-8 */
	char *sans;		       /* "DNS:a.example, IP:192.0.2.1" or NULL */
	char *profile;
	int64_t org_id;
	char *org_code;
	time_t not_before;
	time_t not_after;
	enum ra_cert_status status; /* when it was read */
	time_t revoked_at;	    /* 0 unless revoked */
	int reason;		    /* CRLReason code (ca_reason_name); -1 = none */
	time_t invalidity_date;	    /* 0 = not given */
	unsigned char *der;	    /* only when asked for (RA_CERT_WITH_DER), else NULL */
	size_t derlen;
};
void ra_cert_clear(struct ra_cert *);
void ra_cert_list_free(struct ra_cert *, size_t);

#define RA_CERT_WITH_DER 0x01 /* ra_cert_get: load the certificate's DER too */

/*
 * The certificate with this serial (hex, any case) if it is one of this CA's and belongs to
 * organization org_id; a certificate of another organization, of none, or of another CA name
 * of a shared store does not exist for the caller: ERR_NOTFOUND, as for an unknown serial.
 */
int ra_cert_get(struct ca *, struct store *, int64_t org_id, const char *serial, unsigned flags,
		struct ra_cert *, struct err *);

/* Which of an organization's certificates a list shows. */
struct ra_cert_filter {
	int status;		 /* -1 any, else enum ra_cert_status */
	time_t expiring_before;	 /* 0 any: notAfter before this */
	const char *subject;	 /* NULL any: a plain substring of the subject */
	const char *profile;	 /* NULL any: this profile only */
	const char *profile_alt; /* NULL none: this profile too (server's shortlived) */
	const char *name;	 /* NULL any: a plain substring of the subject or the SANs */
	size_t limit;		 /* 0: no limit */
	size_t offset;
};
void ra_cert_filter_init(struct ra_cert_filter *);

/*
 * The organization's certificates of this CA that pass f, oldest first (then by serial),
 * without DER; the caller frees *out with ra_cert_list_free().
 */
int ra_cert_list(struct ca *, struct store *, int64_t org_id, const struct ra_cert_filter *f,
		 struct ra_cert **out, size_t *nout, struct err *);
/* How many ra_cert_list() would give without f's limit and offset (one COUNT query). */
int ra_cert_count(struct ca *, struct store *, int64_t org_id, const struct ra_cert_filter *f,
		  int64_t *n, struct err *);

/*
 * Revokes a certificate of the organization (ca_revoke: the certificate row, the revocation
 * counter and the cert.revoke audit entry by actor, one transaction), then applies the
 * CRL-on-revoke rule (ca_after_revoke; a CRL that cannot be made now is logged and left to the
 * schedule).  *out (may be NULL) is the certificate as revoked, without DER.  ERR_NOTFOUND as
 * for ra_cert_get, ERR_CONFLICT when it is revoked already, ERR_REFUSED for a reason the CA
 * does not take.
 */
int ra_cert_revoke(struct ca *, struct store *, int64_t org_id, const char *serial, int reason,
		   time_t invalidity, const char *actor, struct ra_cert *out, struct err *);
/* ---- re-issue by the holder (reissue.c, DESIGN.md 2.3) ---- */

/*
 * The holder proves who they are with the e-mail address, the application password and the
 * certificate code of one application; the face then shows the holder's certificates in that
 * organization (each with why it cannot be re-issued), takes the mutable fields (holder
 * e-mail, OU; organization and names are fixed) and commits: in ONE transaction the form's
 * nonce, the old certificate revoked (superseded), the new application (approved, linked to
 * its predecessor, a new certificate code), the audit entry and the mail with the new code.
 */
#define RA_REISSUE_MIN_LEFT (30 * 86400)  /* no re-issue with 30 days or less left */
#define RA_REISSUE_FETCH_TTL (30 * 86400) /* the new application waits this long */
#define RA_REISSUE_LIST_MAX 50		  /* certificates listed for a holder */

enum ra_reissue_login_result {
	RA_REISSUE_LOGIN_OK = 0,
	RA_REISSUE_LOGIN_REFUSED, /* any wrong part: one answer, never which part */
	RA_REISSUE_LOGIN_RESULT__MAX,
};
/* "ok", "refused"; "error" out of range. */
const char *ra_reissue_login_result_name(enum ra_reissue_login_result);

/*
 * The application whose certificate code is code (as typed: case, hyphens, blanks ignored),
 * when email is its applicant's or holder's address (ASCII case ignored) and password its
 * application password (argon2id).  0 with *res OK and *out loaded (ra_app_clear() frees), or
 * 0 with *res REFUSED whatever part is wrong; -1 on a store error.
 */
int ra_reissue_login(struct store *, const char *email, const char *password, const char *code,
		     struct ra_app *out, enum ra_reissue_login_result *res, struct err *);

/* Why a certificate cannot be re-issued (the face words it). */
enum ra_reissue_why {
	RA_REISSUE_WHY_NONE = 0,   /* it can be */
	RA_REISSUE_WHY_REVOKED,	   /* revoked (or its application is no longer "issued") */
	RA_REISSUE_WHY_EXPIRED,	   /* notAfter passed */
	RA_REISSUE_WHY_ENDING,	   /* RA_REISSUE_MIN_LEFT or less left: a renewal instead */
	RA_REISSUE_WHY_OTHER_CODE, /* another certificate code is needed (another application) */
	RA_REISSUE_WHY__MAX,
};
/* "none", "revoked", "expired", "ending", "other_code"; "error" out of range. */
const char *ra_reissue_why_name(enum ra_reissue_why);

/* A certificate of the holder (the strings are never NULL). */
struct ra_reissue_item {
	int64_t app_id;
	char serial[STORE_SERIAL_MAX];
	char profile[32];
	char *subject; /* RFC 4514 text */
	char *name_romaji, *name_kanji, *hostnames;
	time_t not_before, not_after;
	enum ra_reissue_why why;
};
void ra_reissue_item_clear(struct ra_reissue_item *); /* accepts NULL */
void ra_reissue_items_free(struct ra_reissue_item *, size_t n);

/*
 * The holder's certificates in login's organization (at most RA_REISSUE_LIST_MAX, newest
 * first): those of the applications made with email as the applicant's or the holder's
 * address, each with why it cannot be re-issued at now with login's code.  email must be one
 * of login's two addresses (ERR_REFUSED otherwise).  *out: ra_reissue_items_free().
 */
int ra_reissue_list(struct store *, const struct ra_app *login, const char *email, time_t now,
		    struct ra_reissue_item **out, size_t *n, struct err *);

/*
 * Application app_id (the face proved the holder logged in with its code) and its
 * certificate, it->why telling whether it can be re-issued at now.  ERR_NOTFOUND when there is
 * no such application or it has no certificate; *a: ra_app_clear(), *it:
 * ra_reissue_item_clear() (both cleared on failure).
 */
int ra_reissue_target(struct store *, int64_t app_id, time_t now, struct ra_app *a,
		      struct ra_reissue_item *it, struct err *);

/* The mutable values of the new certificate ("" when not given). */
struct ra_reissue_vals {
	const char *subject_email, *ou;
};

/* What the rule of one field says about its value. */
enum ra_reissue_field {
	RA_REISSUE_FIELD_OK = 0,
	RA_REISSUE_FIELD_MISSING,     /* required by the profile and empty */
	RA_REISSUE_FIELD_INVALID,     /* not a valid value (address syntax, characters, length) */
	RA_REISSUE_FIELD_OUTSIDE_ORG, /* holder e-mail: not in the organization's mail domains */
	RA_REISSUE_FIELD__MAX,
};
/* "ok", "missing", "invalid", "outside_org"; "error" out of range. */
const char *ra_reissue_field_name(enum ra_reissue_field);

struct ra_reissue_fields {
	enum ra_reissue_field subject_email, ou;
	int any; /* one of them is not OK */
};

/*
 * The rules of the mutable fields for application a: the holder's e-mail (required for the
 * client profile, else optional) a valid address within the organization's mail domains
 * (ra_email_in_org); the OU (required except for the server profile) 1-64 characters of
 * UTF-8 without control characters, not only blanks.  0 with f filled; -1 on a store error.
 */
int ra_reissue_check(struct store *, const struct ra_app *a, const struct ra_reissue_vals *,
		     struct ra_reissue_fields *f, struct err *);

/* *done 1 when the re-issue of the form with this nonce was accepted already (a repeat). */
int ra_reissue_done(struct store *, const unsigned char nonce[RA_TOKEN_LEN], int *done,
		    struct err *);

enum ra_reissue_result {
	RA_REISSUE_ACCEPTED = 0,   /* old revoked, new application made, holder mailed */
	RA_REISSUE_REPEAT,	   /* the form's nonce was used (a repeat or a twin): no change */
	RA_REISSUE_NOT_REISSUABLE, /* the certificate cannot be re-issued (answer.why) */
	RA_REISSUE_REVOKED_MEANWHILE, /* revoked by someone else while this one ran */
	RA_REISSUE_FIELDS,	      /* a field breaks its rule (answer.fields) */
	RA_REISSUE_RESULT__MAX,
};
/* "accepted", "repeat", "not_reissuable", "revoked_meanwhile", "fields"; "error" out of range. */
const char *ra_reissue_result_name(enum ra_reissue_result);

struct ra_reissue_req {
	int64_t app_id;		     /* the application the holder logged in with */
	const unsigned char *nonce;  /* RA_TOKEN_LEN bytes: the form's (the store gets its hash) */
	time_t nonce_expires;	     /* kept until then (the form's lifetime) */
	struct ra_reissue_vals vals; /* the new holder e-mail and OU */
	const char *actor;	     /* of the audit entries ("portal:app:<id>") */
	int fault_after_revoke;	     /* tests (test.fault): fail after the revocation */
};

struct ra_reissue_answer {
	enum ra_reissue_result result;
	enum ra_reissue_why why;	 /* NOT_REISSUABLE */
	struct ra_reissue_fields fields; /* FIELDS */
	int64_t new_id;			 /* ACCEPTED: the new application */
	char old_serial[STORE_SERIAL_MAX];
	char *to; /* ACCEPTED: the address the new code was mailed to (owned) */
};
void ra_reissue_answer_clear(struct ra_reissue_answer *); /* accepts NULL */

/*
 * The re-issue, in one transaction: the nonce (a repeat changes nothing), the application
 * and its certificate checked again, the fields checked, the nonce recorded (purpose
 * reissue-form), the old certificate revoked as superseded (ra_revoke_tx; the holder is told
 * by the re-issue mail, not by a second one), the new application (approved, predecessor,
 * the hash of a new certificate code), the audit entry portal.reissue and n->reissued with the
 * new code.  After the commit the CRL-on-revoke rule (ca_after_revoke).  0 with *ans filled
 * for every outcome; -1 for internal errors (store, hook, injected fault), nothing written.
 */
int ra_reissue_commit(struct ca *, struct store *, const struct ra_reissue_req *,
		      const struct ra_notify *n, struct ra_reissue_answer *ans, struct err *);

/* ---- the REST API's Idempotency-Key (idem.c) ---- */
enum ra_idem_outcome {
	RA_IDEM_RUN,	  /* a new key: run the request, then ra_idem_finish() or _abort() */
	RA_IDEM_REPLAY,	  /* answered before: send r->stored (status, location, body) again;
			   * body NULL when bound only (ra_idem_bind): render location again */
	RA_IDEM_MISMATCH, /* the key was used with another request */
	RA_IDEM_BUSY,	  /* the first request with this key is still running */
	RA_IDEM_BAD_KEY,  /* not 1 to 255 printable characters */
	RA_IDEM_ERROR,	  /* store error (e set) */
};
struct ra_idem {
	unsigned char key_hash[STORE_HASH_LEN];
	int active; /* claimed, not yet finished or aborted */
	struct store_idem stored;
};
/* key as sent; the claim is bound to the API key's id, the method, the path and the body. */
enum ra_idem_outcome ra_idem_begin(struct store *, const char *apikey_id, const char *key,
				   const char *method, const char *path, const void *body,
				   size_t len, time_t now, struct ra_idem *, struct err *);
/* Keeps a successful answer (before it is sent); no-op unless the claim is active. */
int ra_idem_finish(struct store *, struct ra_idem *, int status, const char *location,
		   const void *body, size_t len, struct err *);
/*
 * Binds the claim to its answer (status, location; no body yet) inside the caller's open
 * transaction: the one that creates what location names (the certificate's, through its
 * write_fn).  Whatever becomes of that transaction becomes of the binding: committed, a retry
 * replays status and location (body NULL: the face renders the resource again) even if the
 * process died or was told ERR_UNKNOWN before ra_idem_finish(); undone, the claim still runs.
 * The claim stays active, for ra_idem_finish() to add the body.
 */
int ra_idem_bind(struct store *, const struct ra_idem *, int status, const char *location,
		 struct err *);
/* Gives the claim up after a refusal or a failure. */
int ra_idem_abort(struct store *, struct ra_idem *, struct err *);
void ra_idem_clear(struct ra_idem *);

/* ---- certificates an organization's officers issue in the console (orgcert.c) ---- */

enum ra_ocert_kind { RA_OCERT_SERVER = 0, RA_OCERT_CLIENT, RA_OCERT_CODESIGN, RA_OCERT__MAX };
extern const char *const ra_ocert_kind_names[RA_OCERT__MAX]; /* "server", ... (= profiles) */
int ra_ocert_kind_parse(const char *, enum ra_ocert_kind *);
/*
 * The kind a stored certificate's profile belongs to: ra_ocert_kind_parse, and ACME's
 * "shortlived" a server certificate; -1 for none.
 */
int ra_ocert_kind_of_profile(const char *profile, enum ra_ocert_kind *);
/* The profile listed with kind k's besides its own (server: "shortlived"), or NULL. */
const char *ra_ocert_kind_alt(enum ra_ocert_kind);
/* The permission an officer needs for a kind (RA_PERM_SERVER, ...). */
unsigned ra_ocert_perm(enum ra_ocert_kind);

/* How the RA tells the user administrator (the console's mail.c fills it). */
struct ra_ocert_notify {
	void *arg;
	/* issued: the one-time download URL's secret (/cert/<token>) to a->admin_email */
	int (*ready)(void *arg, struct store *, const struct store_certadmin *a, const char *token,
		     struct err *);
	/* a renewed certificate still waits for its replacement: revoked on a->replace_due */
	int (*remind)(void *arg, struct store *, const struct store_certadmin *a, struct err *);
	/* a certificate expires in days (30 or 7): to the user administrator (and the holder) */
	int (*expiring)(void *arg, struct store *, const struct store_certadmin *a,
			time_t not_after, int days, struct err *);
};

/* One certificate an officer asks for (borrowed strings; NULL or "" for an empty field). */
struct ra_ocert_req {
	enum ra_ocert_kind kind;
	const struct ra_officer *officer; /* who applies: the certificate is its organization's */
	const unsigned char *csr;	  /* PEM or DER */
	size_t csrlen;
	int csr_verified;	/* its self-signature was checked (ra_bulk_check): not again */
	const char *const *dns; /* server: the names (NULL: the CSR's) */
	size_t ndns;
	const char *admin_name, *admin_unit, *admin_email; /* 利用管理者: e-mail required */
	const char *server_software;			   /* server: required */
	const char *holder_name, *holder_unit, *holder_email;
	const char *replaces; /* a renewal: the serial of the certificate it replaces */
	const struct ra_ocert_notify *n;
	int check_only; /* every check of the issuance (ra_issue's check_only): nothing signed,
			 * stored nor mailed */
	/* two steps (the bulk commit): sign only, then store this signed certificate */
	int sign_only;
	const struct ca_issued *presigned;
	/*
	 * A key the RA made (client.c) instead of the CSR: the subject is cn (and the OUs), the
	 * user administrator gets no download URL (the holder gets the PKCS#12), and the caller's
	 * hooks run as ra_issue's (signed_fn before anything is stored, write_fn in the
	 * certificate's transaction after the record).
	 */
	const struct ra_key *key;
	const char *cn;
	const char *const *ou;
	size_t nou;
	int (*signed_fn)(const struct ca_issued *, void *arg, struct err *);
	int (*write_fn)(struct store *, const struct ca_issued *, void *arg, struct err *);
	void *arg;
};

/*
 * Issues through ra_issue (the organization's name policy, typed refusals) and, in the
 * certificate's transaction, records the user administrator, opens the one-time download URL
 * (console.download_days) and tells n->ready.  A renewal (replaces) needs the organization's
 * valid certificate of the same kind and a new key (ERR_REFUSED otherwise; ERR_CONFLICT when it
 * was renewed already); the new certificate keeps its CN and the old one waits for its
 * replacement until the user administrator confirms it or console.replace_days pass.
 */
int ra_ocert_issue(struct ca *, struct store *, const struct ra_ocert_req *, struct ca_issued *,
		   struct err *);

/* The user administrator's download URL (GET shows the page, the button downloads once). */
enum ra_ocert_dl {
	RA_OCERT_DL_OK = 0,
	RA_OCERT_DL_UNKNOWN,	 /* no such URL */
	RA_OCERT_DL_EXPIRED,	 /* console.download_days passed */
	RA_OCERT_DL_USED,	 /* downloaded already (confirm: replaced already) */
	RA_OCERT_DL_NOT_RENEWAL, /* confirm: the certificate replaces none */
	RA_OCERT_DL__MAX
};
struct ra_ocert_view {
	struct store_certadmin a; /* the record */
	struct ra_cert cert;	  /* the certificate, with DER */
};
void ra_ocert_view_clear(struct ra_ocert_view *); /* accepts NULL */
/* The URL's record and certificate, nothing written; v filled unless UNKNOWN. */
int ra_ocert_dl_peek(struct ca *, struct store *, const char *token, struct ra_ocert_view *v,
		     enum ra_ocert_dl *, struct err *);
/* The button: OK once (audited console.download), then USED; v as for the peek. */
int ra_ocert_dl_take(struct ca *, struct store *, const char *token, struct ra_ocert_view *v,
		     enum ra_ocert_dl *, struct err *);
/*
 * The user administrator confirms that the renewed certificate replaced the old one: the old
 * one is revoked (superseded) now; old gets its serial.  OK, UNKNOWN, EXPIRED, USED (replaced
 * already) or NOT_RENEWAL.
 */
int ra_ocert_confirm(struct ca *, struct store *, const char *token, enum ra_ocert_dl *,
		     char old[STORE_SERIAL_MAX], struct err *);
/*
 * Revokes a certificate of the officer's organization, of a kind the officer's permissions
 * cover (else ERR_NOTFOUND, as for another organization's), with a reason of 0, 1, 3, 4 or 5
 * and a comment (at most 128 characters, required for 0), audited cert.revoke and
 * console.revoke (the comment) in one transaction; then the CRL-on-revoke rule.
 */
int ra_ocert_revoke(struct ca *, struct store *, const struct ra_officer *, const char *serial,
		    int reason, const char *comment, struct err *);
/* The same with one more audit entry (action, detail) in its transaction (NULL: none). */
int ra_ocert_revoke_audited(struct ca *, struct store *, const struct ra_officer *,
			    const char *serial, int reason, const char *comment, const char *action,
			    const char *detail, struct err *);
/*
 * Bulk revocation of a search result (issue 13 part 4).  The set: the officer's
 * organization's certificates of kind k (the officer must have its permission) that pass f
 * (status, name, expiry; f's profile, limit and offset are ignored) and are not revoked, in
 * the list's order, at most RA_OCERT_REVOKE_MAX (else ERR_REFUSED: narrow the search).
 * ra_ocert_revoke_set gives the set (caller frees *out with ra_cert_list_free) and its digest:
 * the SHA-256 of the serials, in hex, which the confirmation carries.
 */
#define RA_OCERT_REVOKE_MAX 5000
#define RA_OCERT_SET_DIGEST 65
int ra_ocert_revoke_set(struct ca *, struct store *, const struct ra_officer *,
			enum ra_ocert_kind k, const struct ra_cert_filter *f, struct ra_cert **out,
			size_t *nout, char digest[RA_OCERT_SET_DIGEST], struct err *);
/*
 * Revokes the set of (k, f) when its digest is still digest (else ERR_CONFLICT, nothing
 * revoked: the result changed, or was revoked already), with the reason and comment of
 * ra_ocert_revoke, in ONE transaction: each certificate cert.revoke and console.revoke
 * (detail "bulk=N comment"), all or none; then the CRL-on-revoke rule once.  *revoked: how many.
 */
int ra_ocert_revoke_many(struct ca *, struct store *, const struct ra_officer *,
			 enum ra_ocert_kind k, const struct ra_cert_filter *f, const char *digest,
			 int reason, const char *comment, size_t *revoked, struct err *);
/*
 * The schedule: reminders (n->remind) for waiting certificates console.replace_remind_days
 * before their revocation, then the waiting ones whose time came revoked (superseded).
 */
int ra_ocert_replace_due(struct ca *, struct store *, time_t now, const struct ra_ocert_notify *n,
			 size_t *revoked, size_t *reminded, struct err *);
/*
 * The schedule: the expiry reminders of the console's valid certificates, 30 and 7 days before
 * notAfter, once each (a certificate inside 7 days gets the 7-day one only; a renewed one
 * none), each in one transaction with its console.expiry_mail audit entry; *count sent.
 */
int ra_ocert_expiry_due(struct store *, time_t now, const struct ra_ocert_notify *n, size_t *count,
			struct err *);

/* ---- client certificates with a key the RA makes (client.c) ---- */

#define RA_CLIENT_PIN_LEN 12	 /* access PIN: symbols of RA_CODE_ALPHABET, 60 bits */
#define RA_CLIENT_ZIP_PW_LEN 20	 /* the ZIP's password: 100 bits */
#define RA_CLIENT_TRIES 5	 /* wrong PINs lock a pickup */
#define RA_CLIENT_DAYS 14	 /* console.client_days: a holder's URL stays valid */
#define RA_CLIENT_ZIP_MAX 10000u /* certificates in one ZIP */

/*
 * How the PKCS#12 reaches its holder: per holder (the holder is mailed a one-time URL; the
 * access PIN, which is also the PKCS#12's password, is shown once to the officer or mailed as
 * a second one-time URL), or all at once in one encrypted ZIP to the user administrator.
 */
enum ra_client_delivery {
	RA_CLIENT_PIN_SHOWN = 0, /* URL to the holder, the PIN on the officer's printable page */
	RA_CLIENT_PIN_MAILED,	 /* URL and a separate PIN URL to the holder */
	RA_CLIENT_ZIP,		 /* one ZIP to the user administrator */
	RA_CLIENT_DELIVERY__MAX
};
extern const char *const ra_client_delivery_names[RA_CLIENT_DELIVERY__MAX]; /* "pin_shown", .. */
int ra_client_delivery_parse(const char *, enum ra_client_delivery *);

/* The mails (the console's mail.c fills it); each runs in the certificate's transaction. */
struct ra_client_notify {
	void *arg;
	/* the holder's certificate URL (/client/<token>) */
	int (*url)(void *arg, struct store *, const struct store_certadmin *a, const char *token,
		   time_t expires, int pin_mailed, struct err *);
	/* the holder's PIN URL (/client/pin/<token>) */
	int (*pin)(void *arg, struct store *, const struct store_certadmin *a, const char *token,
		   time_t expires, struct err *);
	/* the user administrator's ZIP URL (/client/zip/<token>) */
	int (*zip)(void *arg, struct store *, const char *admin_name, const char *admin_email,
		   const char *token, size_t count, time_t expires, struct err *);
};

/* One client certificate with a key made here (borrowed strings). */
struct ra_client_req {
	const struct ra_officer *officer;
	enum ra_client_delivery delivery;
	const char *cn; /* the subject's CN (NULL: the holder's name) */
	const char *const *ou;
	size_t nou;
	const char *admin_name, *admin_unit, *admin_email;    /* e-mail required */
	const char *holder_name, *holder_unit, *holder_email; /* e-mail required per holder */
	const char *p12_name; /* ZIP: the file's name without .p12 (NULL: the serial) */
	const char *pin;      /* ZIP: the PKCS#12's password (4 to 64 characters; NULL: drawn) */
	const struct ra_client_notify *n;
	int check_only;
};

/* What one issuance gives the caller. */
struct ra_client_out {
	char serial[STORE_SERIAL_MAX];
	char pin[RA_CLIENT_PIN_LEN + 1]; /* PIN_SHOWN: the access PIN to show once; else "" */
	time_t expires;			 /* the holder's URL */
};

/* The ZIP being filled (one per form or bulk file). */
struct ra_client_zip;
/* A ZIP under a new password (pw gets it: show it once, then wipe). */
struct ra_client_zip *ra_client_zip_new(char pw[RA_CLIENT_ZIP_PW_LEN + 1]);
void ra_client_zip_free(struct ra_client_zip *); /* accepts NULL; wipes */
size_t ra_client_zip_count(const struct ra_client_zip *);

/*
 * Issues one client certificate of the officer's organization with a P-256 key made here,
 * through ra_ocert_issue (the name policy, the user administrator's record), and in the
 * certificate's transaction: per holder the pickup (the PKCS#12 under the access PIN) with its
 * mails and the audit entry console.client_issue; ZIP: the PKCS#12 (under q->pin or a drawn
 * PIN) and its line of the PIN list added to zip (kept in memory until ra_client_zip_commit).
 */
int ra_client_issue(struct ca *, struct store *, const struct ra_client_req *,
		    struct ra_client_zip *zip, struct ra_client_out *out, struct err *);
/*
 * Stores the ZIP (its PKCS#12 files and PINs.txt), encrypted under its password, for the user
 * administrator's one-time URL (console.client_days), mails it (n->zip) and audits
 * console.client_zip, in one transaction.  ERR_REFUSED for an empty ZIP.
 */
int ra_client_zip_commit(struct ca *, struct store *, const struct ra_officer *,
			 struct ra_client_zip *, const char *admin_name, const char *admin_email,
			 const struct ra_client_notify *, struct err *);

/* What a holder's, PIN or ZIP URL finds. */
enum ra_client_res {
	RA_CLIENT_OK = 0,
	RA_CLIENT_UNKNOWN,   /* no such URL */
	RA_CLIENT_EXPIRED,   /* console.client_days passed */
	RA_CLIENT_LOCKED,    /* five wrong PINs */
	RA_CLIENT_TAKEN,     /* downloaded (or shown) already */
	RA_CLIENT_WRONG_PIN, /* tries_left more */
	RA_CLIENT_RES__MAX
};
const char *ra_client_res_name(enum ra_client_res);

struct ra_client_view {
	struct ra_cert cert; /* the certificate (without DER); ZIP: empty */
	int tries_left;
	time_t expires;
	size_t count; /* ZIP: certificates in it */
};
void ra_client_view_clear(struct ra_client_view *); /* accepts NULL */
/* The holder's URL: nothing written; v filled unless UNKNOWN. */
int ra_client_peek(struct ca *, struct store *, const char *token, struct ra_client_view *v,
		   enum ra_client_res *, struct err *);
/*
 * The holder's button with the access PIN: OK once with the PKCS#12 (caller wipes and frees;
 * console.client_download), WRONG_PIN (tries_left; console.client_wrong_pin), LOCKED at the
 * fifth (console.client_locked), EXPIRED, TAKEN, UNKNOWN.
 */
int ra_client_take(struct ca *, struct store *, const char *token, const char *pin,
		   unsigned char **p12, size_t *len, struct ra_client_view *v, enum ra_client_res *,
		   struct err *);
/* The PIN URL: peek (nothing written), take (the PIN once; console.client_pin_shown). */
int ra_client_pin_peek(struct store *, const char *token, enum ra_client_res *, struct err *);
int ra_client_pin_take(struct store *, const char *token, char pin[RA_CLIENT_PIN_LEN + 1],
		       enum ra_client_res *, struct err *);
/* The user administrator's ZIP URL: peek, take (once; console.client_zip_download). */
int ra_client_zip_peek(struct store *, const char *token, struct ra_client_view *v,
		       enum ra_client_res *, struct err *);
int ra_client_zip_take(struct store *, const char *token, unsigned char **zip, size_t *len,
		       enum ra_client_res *, struct err *);
/* The schedule: clears the PKCS#12 files, sealed PINs and ZIPs whose URLs have expired. */
int ra_client_purge(struct store *, time_t now, struct err *);

/* ---- bulk download and the user administrator's update (console; export.c, ocadmin.c) ---- */

#define RA_EXPORT_MAX 100000u			 /* certificates in one download */
#define RA_EXPORT_MAX_BYTES (256u * 1024 * 1024) /* bytes of one download */
#define RA_EXPORT_UPKI_COLS 46

enum ra_export_format { RA_EXPORT_NATIVE = 0, RA_EXPORT_UPKI, RA_EXPORT__MAX };
extern const char *const ra_export_format_names[RA_EXPORT__MAX]; /* "native", "upki" */
int ra_export_format_parse(const char *, enum ra_export_format *);

struct ra_export_opts {
	unsigned kinds; /* bits 1u << enum ra_ocert_kind: the kinds the officer may see */
	int status;	/* -1 any, else enum ra_cert_status */
	enum ra_export_format format;
	size_t max; /* certificates at most (0: RA_EXPORT_MAX); more: ERR_REFUSED */
};
/* A download: the file's bytes, its rows and the characters CP932 could not hold ('?'). */
struct ra_export_out {
	struct buf data;
	size_t rows, unmapped;
};
void ra_export_out_free(struct ra_export_out *); /* accepts a zeroed one */
/*
 * The organization's console certificates of the kinds asked for as a TSV file
 * (docs/bulk-tsv.md "Bulk download"): NATIVE is UTF-8 with LF and named columns, UPKI the 46
 * columns of the academic RA in CP932 with CRLF and JST times.  Never a secret.  ERR_REFUSED
 * (nothing made) beyond max certificates or RA_EXPORT_MAX_BYTES.
 */
int ra_export_certs(struct ca *, struct store *, int64_t org_id, const struct ra_export_opts *,
		    struct ra_export_out *, struct err *);
/* The UPKI status code of a certificate and its record: 5, 6, 7 or 8. */
int ra_export_upki_status(const struct store_cert *, const struct store_certadmin *);
/* "YYYY-MM-DD HH:MM:SS" in Japan Standard Time (UTC+9, no TZ lookup); "" for 0. */
void ra_export_jst(time_t, char out[20]);
/* Appends n bytes of UTF-8 as CP932 to out; a character CP932 lacks becomes '?', counted. */
int ra_export_cp932(const char *utf8, size_t n, struct buf *out, size_t *unmapped, struct err *);

/* The new user administrator (利用管理者) of certificates (borrowed strings). */
struct ra_admin_new {
	const char *name, *unit, *email; /* e-mail required; name and unit at most 64 */
};
/* Checks the fields (ERR_REFUSED naming the field). */
int ra_admin_new_check(const struct ra_admin_new *, struct err *);
/*
 * One certificate of the officer's organization (and a kind it may see, else ERR_NOTFOUND)
 * gets a new user administrator, audited console.admin (old and new address) in one
 * transaction.  Later mails read the record: they go to the new address.
 */
int ra_ocert_admin_set(struct ca *, struct store *, const struct ra_officer *, const char *serial,
		       const struct ra_admin_new *, struct err *);
/*
 * Every certificate of the organization (of the kinds the officer may see) whose user
 * administrator's address is old_email, in one transaction; *changed counts them (0 is fine).
 */
int ra_ocert_admin_rename(struct ca *, struct store *, const struct ra_officer *,
			  const char *old_email, const struct ra_admin_new *, size_t *changed,
			  struct err *);
/* One line of an uploaded update file and what became of it. */
struct ra_admin_line {
	size_t line;
	char serial[STORE_SERIAL_MAX];
	char msg[200]; /* "" when good */
};
/*
 * A native TSV (UTF-8, header serial, admin_name, admin_unit, admin_email in any order): all
 * lines or none, in one transaction.  *out holds a result per line (free()); ERR_REFUSED when
 * the file or any line is bad (nothing written), *changed the certificates updated.
 */
int ra_ocert_admin_tsv(struct ca *, struct store *, const struct ra_officer *,
		       const unsigned char *p, size_t n, struct ra_admin_line **out, size_t *nout,
		       size_t *changed, struct err *);

/* ---- bulk TSV (console) ---- */

/*
 * The officer console's bulk upload, read and checked without writing anything (bulk.c,
 * docs/bulk-tsv.md): every line of a tab-separated file becomes either a record or a list of
 * errors, each naming the line, the column (position, English and Japanese name), a code and
 * the rule.  Two dialects: NATIVE (UTF-8, one header row of named columns in any order) and
 * UPKI (the academic RA's fixed columns, no header, UTF-8 or CP932; /work/shared
 * UPKI-FORMATS.md).  Only syntax and consistency (the CSR against its line); the names
 * against an organization's domains are the commit step's (ra_policy_*).
 */
#include "util/tsv.h"

enum ra_bulk_kind {
	RA_BULK_SERVER = 0, /* server certificates: 13 columns (UPKI) */
	RA_BULK_CLIENT,	    /* client certificates: 15 columns */
	RA_BULK_ACME,	    /* ACME enrolments: 13 columns */
	RA_BULK_KIND__MAX,
};
enum ra_bulk_op {
	RA_BULK_ISSUE = 0, /* server, client */
	RA_BULK_RENEW,	   /* server, client, acme */
	RA_BULK_REVOKE,	   /* server, client, acme */
	RA_BULK_CREATE,	   /* acme */
	RA_BULK_SUSPEND,   /* acme */
	RA_BULK_OP__MAX,
};
enum ra_bulk_dialect {
	RA_BULK_NATIVE = 0,
	RA_BULK_UPKI,
	RA_BULK_DIALECT__MAX,
};
/* "server", "client", "acme"; "issue", "renew", ...; "native", "upki"; "error" out of range. */
const char *ra_bulk_kind_name(enum ra_bulk_kind);
const char *ra_bulk_op_name(enum ra_bulk_op);
const char *ra_bulk_dialect_name(enum ra_bulk_dialect);
/* 1 when kind has operation op (acme: create, renew, suspend, revoke; others: issue, renew,
 * revoke). */
int ra_bulk_op_valid(enum ra_bulk_kind, enum ra_bulk_op);

/* The columns, by meaning; the English names are the native header's. */
enum ra_bulk_col {
	RA_BULK_COL_NONE = 0, /* an unused column of the UPKI layout (must stay empty) */
	RA_BULK_COL_SUBJECT_DN,
	RA_BULK_COL_PROFILE,
	RA_BULK_COL_DOWNLOAD_METHOD,
	RA_BULK_COL_ACCOUNT_ID,
	RA_BULK_COL_SERIAL,
	RA_BULK_COL_REASON,
	RA_BULK_COL_COMMENT,
	RA_BULK_COL_CSR,
	RA_BULK_COL_ADMIN_NAME,
	RA_BULK_COL_ADMIN_UNIT,
	RA_BULK_COL_ADMIN_EMAIL,
	RA_BULK_COL_FQDN,
	RA_BULK_COL_SERVER_SOFTWARE,
	RA_BULK_COL_DNS_NAMES,
	RA_BULK_COL_HOLDER_NAME,
	RA_BULK_COL_P12_NAME,
	RA_BULK_COL_HOLDER_UNIT,
	RA_BULK_COL_HOLDER_EMAIL,
	RA_BULK_COL_ACCESS_PIN,
	RA_BULK_COL__MAX,
};
/* "subject_dn", "profile", ... ("unused" for NONE); "error" out of range. */
const char *ra_bulk_col_name(enum ra_bulk_col);
/* "主体者DN", "プロファイルID", ... (UTF-8); "" out of range. */
const char *ra_bulk_col_name_ja(enum ra_bulk_col);

/* What is wrong (the faces word it in their language; the message is English). */
enum ra_bulk_code {
	RA_BULK_E_NONE = 0,
	RA_BULK_E_FILE,		  /* the reader refused the file (tsv says why) */
	RA_BULK_E_USAGE,	  /* the kind has no such operation */
	RA_BULK_E_NO_DATA,	  /* native: a header and no line */
	RA_BULK_E_HEADER_UNKNOWN, /* native header: not a column name */
	RA_BULK_E_HEADER_DUPLICATE,
	RA_BULK_E_HEADER_NOT_APPLICABLE, /* a column of another kind of file */
	RA_BULK_E_HEADER_MISSING,	 /* a column the operation needs */
	RA_BULK_E_COLUMNS,		 /* the line has the wrong number of columns */
	RA_BULK_E_REQUIRED,		 /* empty, and the operation needs it */
	RA_BULK_E_NOT_EMPTY,		 /* must be empty for this operation */
	RA_BULK_E_TOO_LONG,
	RA_BULK_E_DN_SYNTAX,
	RA_BULK_E_DN_ORDER,	/* attributes missing, repeated or out of order */
	RA_BULK_E_DN_ATTRIBUTE, /* an attribute not allowed (e-mail, OU in server, ...) */
	RA_BULK_E_DN_VALUE,	/* a value breaks its rule (C=JP, CN characters, ...) */
	RA_BULK_E_PROFILE,
	RA_BULK_E_CSR,	       /* not base64 of a valid CSR */
	RA_BULK_E_CSR_SUBJECT, /* the CSR's subject is not the line's DN */
	RA_BULK_E_CSR_KEY,     /* the CSR's key is not the profile's */
	RA_BULK_E_EMAIL,       /* not an e-mail address (or not the S/MIME CN) */
	RA_BULK_E_FQDN,	       /* not a host name, or not the CN */
	RA_BULK_E_DNS_NAME,    /* a dNSName entry: syntax, prefix, empty */
	RA_BULK_E_DNS_COUNT,   /* more than RA_BULK_DNS_MAX */
	RA_BULK_E_DNS_DUPLICATE,
	RA_BULK_E_SERIAL,
	RA_BULK_E_REASON,
	RA_BULK_E_COMMENT_REQUIRED, /* reason 0 needs a comment */
	RA_BULK_E_DOWNLOAD,
	RA_BULK_E_AMBIGUOUS, /* UPKI client columns 14 and 15 both hold an address */
	RA_BULK_E_PIN,
	RA_BULK_E_P12_NAME,
	RA_BULK_E_ACCOUNT_ID,
	RA_BULK_E__MAX,
};
/* "file", "usage", "no_data", "header_unknown", ...; "error" out of range. */
const char *ra_bulk_code_name(enum ra_bulk_code);

#define RA_BULK_DNS_MAX 8	  /* dNSName entries of a line (the FQDN is added to them) */
#define RA_BULK_LINE_ERRORS_MAX 8 /* errors kept per line (the line is bad all the same) */
#define RA_BULK_ERRORS_MAX 20000  /* errors kept per file (errs_dropped counts the rest) */
#define RA_BULK_CSR_CACHE 8	  /* distinct CSRs whose parse is remembered in one file */

struct ra_bulk_error {
	size_t line;	      /* 1-based; 0: the file as a whole */
	size_t column;	      /* 1-based position in the line; 0: the whole line */
	enum ra_bulk_col col; /* NONE when the error is not one column's */
	enum ra_bulk_code code;
	int tsv;       /* FILE: the enum tsv_error */
	char msg[224]; /* English, naming the rule; never quotes an access PIN */
};

/* One good line.  Strings are owned (NULL when the column was empty). */
struct ra_bulk_rec {
	size_t line;
	char *subject_dn;    /* normalised: "CN=..,[OU=..,]O=..,L=..,ST=..,C=JP", CN lower case
			      * for server and acme */
	const char *profile; /* shomei's profile: "server" or "client"; NULL when not given */
	int profile_id;	     /* UPKI's: 3 RSA 2048, 11 P-384 (server), 5 client, 7 S/MIME */
	int smime;	     /* 7: S/MIME, on shomei's client profile */
	unsigned char *csr;  /* DER (malloc'ed), csr_len bytes; NULL without a CSR */
	size_t csr_len;
	char *admin_name, *admin_unit, *admin_email;
	char *fqdn; /* lower case, = CN */
	char *server_software;
	char **dns; /* lower case, the FQDN first when it was not listed */
	size_t ndns;
	char serial[STORE_SERIAL_MAX]; /* renew, revoke: upper-case hex; "" without */
	int reason;		       /* CRLReason code; -1 without */
	char *comment;
	char *account_id;
	int download; /* client: 1 PKCS#12 per person, 2 all at once, 3 browser; 0 without */
	char *holder_name, *holder_unit, *holder_email, *p12_name;
	char *pin;		 /* access PIN (download 2); wiped when freed */
	int holder_email_column; /* UPKI client: 14, or 15 when the columns came swapped */
};

struct ra_bulk_opts {
	enum ra_bulk_kind kind;
	enum ra_bulk_op op;
	enum ra_bulk_dialect dialect;
	const struct tsv_limits *limits; /* NULL: tsv's defaults */
	/*
	 * These exact bytes passed ra_bulk_check before, and the caller can prove it (the
	 * console's sealed dry run binds the file's SHA-256): the CSRs' self-signatures are not
	 * verified again (everything else is checked as always).
	 */
	int csr_checked;
};

/* What a file gave: records of the good lines and errors of the bad ones, in line order. */
struct ra_bulk_result {
	enum tsv_encoding encoding;
	size_t total, good, bad; /* data lines (not blank, not the native header) */
	struct ra_bulk_rec *recs;
	size_t nrecs;
	struct ra_bulk_error *errs;
	size_t nerrs;
	size_t errs_dropped; /* errors over RA_BULK_ERRORS_MAX not kept */
};

struct ra_bulk_summary {
	size_t total, good, bad;
	enum tsv_encoding encoding;
	const char *encoding_name; /* tsv_encoding_name() */
};

/*
 * Reads and checks n bytes for o's kind, operation and dialect.  0 when the file was read
 * (each line good or bad: res says which); -1 with ERR_REFUSED when the file as a whole is
 * refused (the reader, a native header, no data, or a kind without that operation), then
 * res->errs holds the reasons (line 0 or the header's line).  res is always initialised:
 * free it with ra_bulk_result_free() after either outcome.
 */
int ra_bulk_check(const unsigned char *p, size_t n, const struct ra_bulk_opts *o,
		  struct ra_bulk_result *res, struct err *);
/* The totals of a result and the encoding used. */
void ra_bulk_summary(const struct ra_bulk_result *, struct ra_bulk_summary *);
void ra_bulk_rec_clear(struct ra_bulk_rec *);	   /* accepts NULL; wipes the PIN */
void ra_bulk_result_free(struct ra_bulk_result *); /* accepts a zeroed result */

/*
 * Committing a checked file (bulkcommit.c, docs/bulk-tsv.md "Commit"): server and client
 * issue (from the line's CSR), renew and revoke, as the officer, through ra_ocert_issue and
 * ra_ocert_revoke, each line its own transaction.  ALL_OR_NOTHING: nothing is done when a line
 * was refused by the checks or refuses in a first pass of every line's issuance checks
 * (check_only: nothing signed); only then is every line done.  A line that fails in that real
 * pass (a race, a store failure) stops it: the lines done before stay done (each its own
 * transaction) and the outcomes say so.  GOOD_LINES: every good line is done, the others are
 * reported.
 */
enum ra_bulk_mode {
	RA_BULK_ALL_OR_NOTHING = 0,
	RA_BULK_GOOD_LINES,
	RA_BULK_MODE__MAX,
};
/* "all_or_nothing", "good_lines"; "error" out of range. */
const char *ra_bulk_mode_name(enum ra_bulk_mode);

enum ra_bulk_state {
	RA_BULK_DONE = 0, /* issued, renewed or revoked: serial */
	RA_BULK_CHECKED,  /* check_only: every check passed */
	RA_BULK_BAD,	  /* refused by ra_bulk_check (code, col, column, msg) */
	RA_BULK_REFUSED,  /* refused at commit (err, kind, msg): the name policy, the DN, ... */
	RA_BULK_SKIPPED,  /* not done: all-or-nothing, and another line was refused */
	RA_BULK_STATE__MAX,
};
/* "done", "checked", "bad", "refused", "skipped"; "error" out of range. */
const char *ra_bulk_state_name(enum ra_bulk_state);

/* One line's outcome (every data line of the file, in line order). */
struct ra_bulk_outcome {
	size_t line;
	enum ra_bulk_state state;
	char serial[STORE_SERIAL_MAX]; /* DONE: the new certificate's (revoke: the revoked one) */
	char subject_dn[256];	       /* the line's DN when it was good, else "" */
	enum ra_bulk_code code;	       /* BAD: the first error's */
	enum ra_bulk_col col;	       /* BAD: its column (NONE: the line) */
	size_t column;		       /* BAD: its position */
	enum err_code err;	       /* REFUSED: the refusal's code (ERR_REFUSED, ...) */
	int kind;		       /* REFUSED: enum ca_refusal, 0 when none */
	char msg[224];		       /* English, naming the rule */
	char kid[24];		       /* acme create, renew, suspend: the binding's key id */
};

struct ra_bulk_counts {
	size_t total; /* data lines */
	size_t done, checked, bad, refused, skipped;
};

struct ra_bulk_commit_req {
	enum ra_bulk_kind kind; /* SERVER, CLIENT or ACME */
	enum ra_bulk_op op;	/* ISSUE, RENEW or REVOKE; ACME: CREATE, RENEW, SUSPEND, REVOKE */
	enum ra_bulk_mode mode;
	int check_only;			  /* the dry run: checks only, nothing written, no audit */
	const struct ra_officer *officer; /* the certificates are its organization's */
	const struct ra_ocert_notify *n;  /* the user administrators' mails */
	/* client issue lines (keys made here, client.c): the holders' and ZIPs' mails */
	const struct ra_client_notify *cn;
	/*
	 * Out: the ZIPs of download method 2 lines, one per user administrator's address, each
	 * with its password to show once (ra_bulk_zips_free wipes them); NULL: no such lines.
	 */
	struct ra_bulk_zips *zips;
	/* ACME create lines: the keys that seal the HMAC keys (NULL: ACME is off, such lines
	 * are refused), and out: each line's credentials to show once (NULL: not kept) */
	const struct ra_acme_keys *acme_keys;
	struct ra_bulk_eabs *eabs;
	/*
	 * NULL, or told after each good line of a pass: pass 0 checks (the dry run, and the
	 * first pass of all-or-nothing), pass 1 does (a server issuance or renewal file: signs
	 * every line's certificate), pass 2 stores what pass 1 signed, in one transaction; done
	 * of total good lines of that pass.  Called from the committing thread or its workers
	 * (one at a time); it must not use the store.
	 */
	void (*progress)(void *arg, int pass, size_t done, size_t total);
	void *progress_arg;
};

#define RA_BULK_ZIPS_MAX 64 /* user administrators with a ZIP in one file */
struct ra_bulk_zips {
	size_t n;
	struct {
		char admin_email[256];
		char password[RA_CLIENT_ZIP_PW_LEN + 1];
		size_t count;
		int stored; /* 0: the ZIP could not be stored (err says why) */
		char err[256];
	} v[RA_BULK_ZIPS_MAX];
};
void ra_bulk_zips_wipe(struct ra_bulk_zips *);

/*
 * Commits res (from ra_bulk_check of the same kind and operation) as q says.  *out gets one
 * outcome per data line (caller frees), c the counts.  Unless check_only, the audit entry
 * console.bulk (the officer, the file's line count, kind, operation, mode and the counts) is
 * written at the end.  -1 when the commit could not run at all (a usage error: *out NULL) or
 * the audit entry failed after the lines (*out holds what was done); a line's refusal is its
 * outcome, not a failure.
 */
int ra_bulk_commit(struct ca *, struct store *, const struct ra_bulk_commit_req *q,
		   const struct ra_bulk_result *res, struct ra_bulk_outcome **out, size_t *nout,
		   struct ra_bulk_counts *c, struct err *);
/* ---- statistics (stats.c) ---- */
/*
 * The console's statistics of issued certificates (issue 13, part 8) and its audit view
 * (part 11).  Counted: the certificates of organizations in the profiles server, shortlived
 * (ACME's short-lived server certificates, a row of their own), client and codesign.  A certificate
 * belongs to each registered domain of its organization that its CN, a SAN dNSName or an
 * rfc822Name's domain equals or lies under ("*." dropped), else to
 * "(other)"; the organization's row (RA_STATS_ALL) counts it once.  Issued, renewed, valid now
 * and ending within 30/60/90 days are counted in the month of issuance (of the certificates
 * issued that month, how many are valid now ...), revoked in the month of revocation.
 * Months are UTC, as year * 12 + month - 1.
 */
enum ra_stats_profile {
	RA_STATS_SERVER = 0,
	RA_STATS_SHORTLIVED, /* ACME's short-lived server certificates (7 days) */
	RA_STATS_CLIENT,
	RA_STATS_CODESIGN,
	RA_STATS_PROFILE__MAX,
};
extern const char *const ra_stats_profile_names[RA_STATS_PROFILE__MAX];
#define RA_STATS_MONTHS_MAX 36 /* months of one query */
#define RA_STATS_MONTH_TEXT 8  /* "YYYY-MM" and the NUL */

struct ra_stats_counts {
	int64_t issued, renewed, revoked, valid, exp30, exp60, exp90;
};
enum ra_stats_kind {
	RA_STATS_DOMAIN = 0, /* a registered domain (domain) */
	RA_STATS_OTHER,	     /* names under none of them */
	RA_STATS_ALL,	     /* every certificate of the organization, once */
};
struct ra_stats_row {
	char org_code[64];
	char domain[256]; /* RA_STATS_DOMAIN only */
	enum ra_stats_kind kind;
	int month;
	struct ra_stats_counts c[RA_STATS_PROFILE__MAX];
};
struct ra_stats {
	struct ra_stats_row *rows; /* by organization code, domain (other, all last), month;
				    * only rows with something counted */
	size_t nrows;
	int from, to;			/* months, inclusive */
	struct ra_stats_counts *totals; /* [(month - from) * RA_STATS_PROFILE__MAX + profile] */
};

/* "YYYY-MM" (1970-01 to 9999-12) into a month; -1 when malformed. */
int ra_stats_month_parse(const char *, int *month);
void ra_stats_month_text(int month, char out[RA_STATS_MONTH_TEXT]);
int ra_stats_month_of(time_t);
time_t ra_stats_month_start(int month);
/* 1 when name (len bytes; a leading "*." ignored) equals domain or lies under it. */
int ra_stats_name_under(const char *name, size_t len, const char *domain);
void ra_stats_counts_add(struct ra_stats_counts *to, const struct ra_stats_counts *);
/*
 * The statistics of one organization (org_code; ERR_NOTFOUND when unknown) or of all (NULL)
 * for the months from..to (at most RA_STATS_MONTHS_MAX, else ERR_REFUSED), valid counted at
 * now.  Read only.  out: ra_stats_clear().
 */
int ra_stats_collect(struct store *, const char *org_code, int from, int to, time_t now,
		     struct ra_stats *out, struct err *);
void ra_stats_clear(struct ra_stats *); /* accepts NULL */

/* The audit view: a page of the chain, newest first (see store_audit_list for the filter). */
#define RA_AUDIT_PAGE 100
struct ra_audit_query {
	const char *actor;    /* substring; NULL or "" any */
	const char *action;   /* prefix; NULL or "" any */
	const char *org_code; /* NULL or "" any; ERR_NOTFOUND when unknown */
	time_t from, to;      /* from <= ts < to; 0 open */
	int64_t before;	      /* entries below this seq; 0 from the newest */
};
/* *out: STORE_LIST_FREE(*out, *n, store_audit_clear); *next_before 0 on the last page. */
int ra_audit_page(struct store *, const struct ra_audit_query *, struct store_audit **out,
		  size_t *n, int64_t *next_before, struct err *);
/* The walk of `shomei audit verify` (ca_audit_verify): 0 intact, 1 broken (r says), -1. */
int ra_audit_verify(struct store *, struct ca_audit_report *r, struct err *);

/* ---- ACME (acme.c, issue 14; the face is src/acme) ---- */

#define RA_ACME_KEY_LEN 32	/* acme.key_file: the master key of nonces and sealed EAB keys */
#define RA_ACME_NONCE_TTL 3600	/* seconds a nonce is good for */
#define RA_ACME_NONCE_BYTES 40	/* expiry (8) || random (16) || MAC (16) */
#define RA_ACME_NONCE_TEXT 55	/* as base64url + NUL */
#define RA_ACME_EAB_KEY_LEN 32	/* HMAC-SHA-256 key of a binding */
#define RA_ACME_EAB_KEY_TEXT 44 /* as base64url + NUL */
#define RA_ACME_KID_TEXT 23	/* 16 random bytes as base64url + NUL */
#define RA_ACME_CONTACTS_MAX 4	/* contact URLs of an account */
#define RA_ACME_CONTACT_MAX 254 /* bytes of one */

/* The keys derived from acme.key_file (each for one purpose). */
struct ra_acme_keys {
	unsigned char nonce[32]; /* HMAC of nonces */
	unsigned char eab[32];	 /* seals the bindings' HMAC keys */
};
/*
 * Reads acme.key_file (default keys/acme.key; made on first use with O_EXCL, 0600) and
 * derives the keys.  The web process does it as root before it drops its privileges; every
 * front end on one database needs the same file.
 */
int ra_acme_keys_load(const struct conf *, struct ra_acme_keys *, struct err *);
void ra_acme_keys_wipe(struct ra_acme_keys *);

/* A fresh nonce (no store access): its expiry, 16 random bytes, a MAC over both. */
void ra_acme_nonce_new(const struct ra_acme_keys *, time_t now, char out[RA_ACME_NONCE_TEXT]);

enum ra_acme_nonce {
	RA_ACME_NONCE_OK = 0,
	RA_ACME_NONCE_BAD,   /* not one of ours (malformed, forged) or expired */
	RA_ACME_NONCE_USED,  /* used before (by any front end, before a restart too) */
	RA_ACME_NONCE_ERROR, /* the store failed (e set) */
	RA_ACME_NONCE__MAX
};
extern const char *const ra_acme_nonce_names[RA_ACME_NONCE__MAX];
/*
 * Uses a nonce once: its MAC and expiry checked without the store, then its random part
 * inserted into the used set, durably before this returns OK: through the group commit
 * (ra_acme_write), so that concurrent requests share one commit.  With no store, only the
 * checks that need none (a request's first, before any work on its key).
 */
enum ra_acme_nonce ra_acme_nonce_use(struct store *, const struct ra_acme_keys *, const char *nonce,
				     time_t now, struct err *);
/*
 * The same, deferred for a request that may write anyway (the face's POSTs): the checks now
 * (BAD), then the nonce is held by the calling thread and its insert goes into the first
 * ra_acme_write unit this thread runs (one unit, one commit, instead of two); a unit that
 * finds it used fails (its writes undone) and every later ra_acme_write of the request is
 * refused, so a replayed request writes nothing.  ra_acme_nonce_settle, before the answer
 * is sent: a nonce still held is written alone; USED or ERROR then replaces the answer
 * (badNonce, serverInternal).  ra_acme_nonce_forget at the request's start and end.  st: the
 * thread's store (for the write without a group commit).
 */
enum ra_acme_nonce ra_acme_nonce_hold(struct store *, const struct ra_acme_keys *,
				      const char *nonce, time_t now, struct err *);
enum ra_acme_nonce ra_acme_nonce_settle(struct err *);
void ra_acme_nonce_forget(void);
/*
 * Purges the used nonces that expired (housekeeping: the web process's minute timer, never a
 * request), through ra_acme_write; *n (may be NULL) the rows purged.
 */
int ra_acme_nonce_purge(struct store *, time_t now, int64_t *n, struct err *);

/*
 * Where ACME's durable writes go: the used nonces and every state change (account, order,
 * challenge, validation, finalize, deactivation) are ca_write units of ca's group commit, so
 * concurrent requests share one commit and no request thread takes the store's write lock.
 * The web process sets it at acme_init (before any thread; NULL at acme_fini).  Unset (the
 * CLI, unit tests): each unit is a transaction of its own on the caller's store.
 */
void ra_acme_writer_set(struct ca *);
/*
 * Runs fn durably (ca_write's contract: fn only writes, in a transaction it never begins or
 * commits; -1 undoes it; ERR_UNKNOWN when committed but not confirmed durable).  again: fn may
 * run more than once (ca_write_again).
 */
int ra_acme_write(struct store *, ca_write_fn fn, void *arg, int again, struct err *);

/* Outcomes of the account operations (names: ra_acme_outcome_names). */
enum ra_acme_outcome {
	RA_ACME_OK = 0,
	RA_ACME_CREATED,	     /* a new account */
	RA_ACME_EXISTS,		     /* the key's account, returned as it is */
	RA_ACME_NO_ACCOUNT,	     /* onlyReturnExisting without an account; unknown kid */
	RA_ACME_NOT_VALID,	     /* the account is deactivated or revoked */
	RA_ACME_EAB_REQUIRED,	     /* acme.eab_required and no binding given */
	RA_ACME_EAB_MALFORMED,	     /* the binding's JWS is no good JWS, or not over the key */
	RA_ACME_EAB_BAD,	     /* unknown key id, or the MAC does not verify */
	RA_ACME_EAB_UNUSABLE,	     /* suspended, revoked or used by another account */
	RA_ACME_CONTACT_UNSUPPORTED, /* a contact URL other than mailto: */
	RA_ACME_CONTACT_INVALID,     /* a mailto: URL that is no single plain address */
	RA_ACME_KEY_TAKEN,	     /* key change: the new key has an account (other_id) */
	RA_ACME_REJECTED,	     /* newOrder: identifiers refused (each its refusal) */
	RA_ACME_NOT_FOUND,	     /* no such order, authorization or certificate (for it) */
	RA_ACME_NOT_READY,	     /* finalize of an order that is not ready */
	RA_ACME_BAD_CSR,	     /* finalize: the CSR does not name the order's identifiers */
	RA_ACME_REFUSED,	     /* finalize: the CA or the name policy refused (e's kind) */
	RA_ACME_UNAUTHORIZED,	     /* revokeCert: not ours, or neither its account nor its key */
	RA_ACME_ALREADY_REVOKED,     /* revokeCert: revoked before */
	RA_ACME_BAD_REASON,	     /* revokeCert: a reason a subscriber may not give */
	RA_ACME_BAD_PROFILE,	     /* newOrder: a profile ACME does not issue */
	RA_ACME_ALREADY_REPLACED,    /* newOrder, finalize: replaces names a replaced one */
	RA_ACME_BAD_REPLACES,	     /* newOrder: replaces shares no identifier with the order */
	RA_ACME_BAD_STATE,	     /* authorization deactivation: not pending or valid */
	RA_ACME_RATE_LIMITED,	     /* a rate limit (acmelimit.c) reached: see ra_acme_limited */
	RA_ACME_ERROR,		     /* store or internal failure (e set) */
	RA_ACME__MAX
};
extern const char *const ra_acme_outcome_names[RA_ACME__MAX];

struct ra_acme_account {
	int64_t id;
	char status[16]; /* "valid", "deactivated", "revoked" */
	char *jwk;	 /* canonical JSON of its key */
	char *contact;	 /* JSON array of mailto: URLs */
	int tos_agreed;
	int64_t org_id; /* 0: bound to none */
	int64_t eab_id;
	unsigned char thumb[JWS_THUMB_LEN];
	time_t created;
};
void ra_acme_account_clear(struct ra_acme_account *); /* accepts NULL */

/* newAccount's request, as the face parsed it (the outer JWS verified with jwk). */
struct ra_acme_new {
	json_t *jwk;	   /* the account key (from the protected header) */
	json_t *contact;   /* the payload's contact array, or NULL */
	int tos_agreed;	   /* termsOfServiceAgreed */
	int only_existing; /* onlyReturnExisting */
	json_t *eab;	   /* externalAccountBinding object, or NULL */
	const char *url;   /* the newAccount URL (the binding's url must equal it) */
	int eab_required;  /* acme.eab_required */
	const char *actor; /* "acme:<address>" */
	const char *addr;  /* the client's address (recorded; counted by the limit), or NULL */
	const struct ra_acme_limits *limits; /* NULL: no accounts-per-address limit */
	struct ra_acme_limited *hit;	     /* RATE_LIMITED: which limit, when again */
};
/*
 * newAccount (RFC 8555 7.3, 7.3.1, 7.3.4): CREATED (with the binding, one transaction with
 * its audit entry acme.account.create), EXISTS, or a refusal outcome; *out is filled for
 * CREATED and EXISTS.
 */
enum ra_acme_outcome ra_acme_account_new(struct store *, const struct ra_acme_keys *,
					 const struct ra_acme_new *, struct ra_acme_account *out,
					 struct err *);
/* The account of id (OK, NO_ACCOUNT or ERROR); its status is the caller's to check. */
enum ra_acme_outcome ra_acme_account_get(struct store *, int64_t id, struct ra_acme_account *out,
					 struct err *);
/*
 * Account update (7.3.2) and deactivation (7.3.6) of a valid account: contact (NULL: kept)
 * and/or deactivate; audited acme.account.update / acme.account.deactivate.  *out is the
 * account afterwards.
 */
enum ra_acme_outcome ra_acme_account_update(struct store *, int64_t id, json_t *contact,
					    int deactivate, const char *actor,
					    struct ra_acme_account *out, struct err *);
/*
 * Key change (7.3.5) of a valid account whose key is still old_thumb: KEY_TAKEN with *other_id
 * the account the new key belongs to; audited acme.account.key.
 */
enum ra_acme_outcome ra_acme_account_key(struct store *, int64_t id,
					 const unsigned char old_thumb[JWS_THUMB_LEN],
					 json_t *new_jwk, const char *actor, int64_t *other_id,
					 struct err *);
/* Contact URLs: CONTACT_UNSUPPORTED, CONTACT_INVALID or OK (*canon: their JSON text). */
enum ra_acme_outcome ra_acme_contact_check(json_t *contact, char **canon, struct err *);

/*
 * A new External Account Binding for organization org_code, limited to names (comma-separated
 * DNS names within the organization's domains; NULL or "": its domains): the key id and the
 * HMAC key as base64url, shown once; the key is stored only sealed.  Audited acme.eab.create.
 */
int ra_acme_eab_create(struct store *, const struct ra_acme_keys *, const char *org_code,
		       const char *names, const char *actor, char kid[RA_ACME_KID_TEXT],
		       char hmac[RA_ACME_EAB_KEY_TEXT], struct err *);
/*
 * Sets a binding's status ("active", "suspended", "revoked"); audited acme.eab.<status>.
 * ERR_NOTFOUND for an unknown key id, ERR_CONFLICT when it is revoked or has that status.
 */
int ra_acme_eab_set_status(struct store *, const char *kid, const char *status, const char *actor,
			   struct err *);
/* 0 when names (as for ra_acme_eab_create) lie within org_code's domains; nothing written. */
int ra_acme_eab_names_check(struct store *, const char *org_code, const char *names, struct err *);
#define RA_ACME_EAB_LIST_MAX 1000 /* bindings the console lists */
/* The organization's bindings, newest first, without their sealed keys (the console). */
int ra_acme_eab_list(struct store *, int64_t org_id, struct store_acme_eab **, size_t *,
		     struct err *);
void ra_acme_eab_list_free(struct store_acme_eab *, size_t); /* accepts NULL */
/*
 * An officer's change of a binding of organization org_code (the console and bulk TSV):
 * status ("active", "suspended", "revoked") or else names (as for ra_acme_eab_create), one of
 * the two; detail joins the audit entry acme.eab.<status> or acme.eab.names (a reason, a
 * comment).  ERR_NOTFOUND when the organization has no binding kid (another's included),
 * ERR_CONFLICT when it is revoked or has that status already, ERR_REFUSED for names outside
 * the domains.  check_only: the checks alone, nothing written.
 */
int ra_acme_eab_officer_set(struct store *, const char *org_code, const char *kid,
			    const char *status, const char *names, const char *detail,
			    const char *actor, int check_only, struct err *);

/*
 * The credentials of a bulk file's create lines, each shown once on the officer's screen
 * (never mailed); ra_bulk_eabs_free wipes the HMAC keys.
 */
struct ra_bulk_eab {
	size_t line;
	char kid[RA_ACME_KID_TEXT];
	char hmac[RA_ACME_EAB_KEY_TEXT];
	char names[256]; /* cut when longer */
};
#define RA_BULK_EABS_MAX 1000 /* create lines of one ACME file (the rest refused) */
struct ra_bulk_eabs {
	size_t n, cap;
	struct ra_bulk_eab *v;
};
void ra_bulk_eabs_free(struct ra_bulk_eabs *); /* accepts NULL; wipes and frees v and itself */

/* ---- ACME orders, authorizations, validation, finalization (acmeorder.c) ---- */

/*
 * A certificate as RFC 9773 4.1 names it (certID): base64url(the keyIdentifier of its
 * authorityKeyIdentifier) "." base64url(the content octets of its serialNumber's DER INTEGER).
 */
#define RA_ACME_CERTID_MAX 200 /* bytes of a certID's text */
#define RA_ACME_AKI_MAX 64     /* bytes of a keyIdentifier (SHA-1: 20; SHA-256: 32) */
#define RA_ACME_SERIAL_MAX 20  /* content octets of a serialNumber (RFC 5280 4.1.2.2) */
struct ra_acme_certid {
	unsigned char aki[RA_ACME_AKI_MAX];
	size_t akilen;
	char serial[2 * RA_ACME_SERIAL_MAX + 1]; /* upper-case hex, as the store's serials */
	char text[RA_ACME_CERTID_MAX + 1];	 /* the certID as parsed (canonical) */
};
/*
 * Parses the certID s[0..len) strictly: one ".", both parts unpadded base64url (no other
 * byte), a keyIdentifier of 1 to RA_ACME_AKI_MAX bytes, a serial of 1 to RA_ACME_SERIAL_MAX
 * content octets in minimal DER (no superfluous leading 00 or FF), positive and not zero.
 * 0, or -1 (ERR_REFUSED naming the rule).  Pure; fuzzed by tests/fuzz/fuzz_acme_certid.c.
 */
int ra_acme_certid_parse(const char *s, size_t len, struct ra_acme_certid *, struct err *);
/* The certID text of a certificate (for tests and logs); -1 without an AKI keyIdentifier. */
int ra_acme_certid_of(const X509 *, char *out, size_t outlen);

/*
 * The suggested renewal window (RFC 9773 4.2) of a certificate valid from nb to na (inclusive):
 * from when a third of its validity remains until a sixth remains, so a 90-day certificate
 * renews from day 60 to day 75, a 7-day one from day 4.7 to 5.8, and a client that misses
 * the window has a sixth of the validity left.  A revoked certificate gets a window that ended
 * an hour before now (from a day before now): renew at once.  Pure.
 */
void ra_acme_renewal_window(time_t nb, time_t na, int revoked, time_t now, time_t *start,
			    time_t *end);
/*
 * The renewal window of the certificate id names: one of ca's issuing CAs (current or previous)
 * has the keyIdentifier as its subjectKeyIdentifier, and the store has the serial as a
 * certificate of that CA.  OK, NOT_FOUND or ERROR.
 */
enum ra_acme_outcome ra_acme_renewal_info(const struct ca *, struct store *,
					  const struct ra_acme_certid *id, time_t now,
					  time_t *start, time_t *end, struct err *);

/* The profiles ACME may offer (acme.profiles): "server" and "shortlived". */
int ra_acme_profile_ok(const char *name);
#define RA_ACME_PROFILE_MAX 32 /* bytes of a profile's name */

/*
 * The orders list of acct (RFC 8555 7.1.2.1): at most page order ids above after, ascending
 * (keyset paging), of its orders that are not invalid and are valid or not expired; *next is
 * the cursor of the next page (the last id), 0 when this is the last.  *ids allocated.
 */
enum ra_acme_outcome ra_acme_orders_list(struct store *, int64_t acct_id, int64_t after,
					 size_t page, int64_t **ids, size_t *n, int64_t *next,
					 struct err *);

#define RA_ACME_IDENTS_MAX 100	      /* identifiers of one order */
#define RA_ACME_ORDER_TTL (7 * 86400) /* seconds an order and its authorizations live */
#define RA_ACME_TOKEN_TEXT 44	      /* a challenge token: 32 random bytes as base64url + NUL */
#define RA_ACME_NAME_MAX 254	      /* a DNS identifier + NUL */
#define RA_ACME_REUSE_DAYS 30	      /* acme.authz_reuse_days: a valid authorization's life */
#define RA_ACME_REUSE_DAYS_MAX 398    /* (the CA/Browser Forum's BR 4.2.1 upper bound) */
/*
 * Seconds after which a challenge or an order still processing was cut by a crash (a
 * validation takes 10 s at most, signing is synchronous): reading it ends it (see
 * ra_acme_order_get).
 */
#define RA_ACME_STALE 60

struct csr;

/* One identifier of a newOrder as the client sent it; refusal set by ra_acme_order_new. */
struct ra_acme_ident {
	int wildcard; /* set by ra_acme_order_new: value was "*." name (value is then name) */
	char type[8];
	char value[RA_ACME_NAME_MAX];
	char *refusal; /* owned; NULL: accepted */
};
/* An order with its authorizations (read by the face; the rows as the store has them). */
struct ra_acme_order {
	struct store_acme_order o;
	struct store_acme_authz *az;
	size_t naz;
};
void ra_acme_order_clear(struct ra_acme_order *); /* accepts NULL */
/*
 * An authorization with its challenges (the rows as the store has them); at: the index in ch
 * of the challenge a ra_acme_chall_* call concerned.
 */
struct ra_acme_authz {
	struct store_acme_authz s;
	struct store_acme_chall *ch;
	size_t nch, at;
};
void ra_acme_authz_clear(struct ra_acme_authz *); /* accepts NULL */

/*
 * newOrder (RFC 8555 7.4) for a valid account: its binding must be active (else EAB_UNUSABLE);
 * each identifier (type dns; lower-cased) must lie within the binding's names, or the
 * organization's domains when it names none, and pass the name policy of profile server
 * (ra_policy_names): else REJECTED with ids[i].refusal for each refused one.  A wildcard "*.x"
 * (ids[i].wildcard set) only where the binding names "*.x" itself, or, when it names none,
 * where x lies within the organization's domains.  Duplicates are dropped.  CREATED: the
 * order, an authorization per identifier (a wildcard's for x, wildcard set) with its
 * challenges (http-01, dns-01, tls-alpn-01; a wildcard's dns-01 alone) and the audit entry
 * acme.order.create in one transaction; *out is the order.
 */
enum ra_acme_outcome ra_acme_order_new(struct store *, const struct ra_acme_account *,
				       struct ra_acme_ident *ids, size_t n, const char *actor,
				       struct ra_acme_order *out, struct err *);
/* What a newOrder may add to its identifiers. */
struct ra_acme_order_opts {
	const char *profile;		       /* NULL: "server"; else ra_acme_profile_ok's */
	const struct ra_acme_certid *replaces; /* RFC 9773 5, or NULL */
	const struct ca *ca;		       /* with replaces: its issuing CAs */
};
/*
 * ra_acme_order_new with a profile (BAD_PROFILE) and the certificate it replaces: one this
 * account obtained over ACME from one of ca's issuing CAs (UNAUTHORIZED otherwise: another
 * account's, not ACME's, unknown), sharing an identifier with the order (BAD_REPLACES), not
 * replaced by an order being finalized or finalized (ALREADY_REPLACED).  Both are stored with
 * the order and named in its audit entry.
 */
enum ra_acme_outcome ra_acme_order_new_ex(struct store *, const struct ra_acme_account *,
					  struct ra_acme_ident *ids, size_t n,
					  const struct ra_acme_order_opts *, const char *actor,
					  struct ra_acme_order *out, struct err *);
/*
 * Sets how long a valid authorization lives and is reused by the same account's new orders
 * (acme.authz_reuse_days, 1 to RA_ACME_REUSE_DAYS_MAX; read once at start, before any thread).
 */
void ra_acme_reuse_set(long days);
/*
 * The order id of account acct_id with its authorizations: OK, NOT_FOUND or ERROR.  What a
 * crash left processing for RA_ACME_STALE seconds moves on first, each in a transaction of its
 * own audited by "acme:sweep" (not when the caller has a transaction open): a challenge
 * becomes invalid (serverInternal, "the validation did not finish (restart)"; its
 * authorization and order follow), an order ready again (acme.order.sweep).
 */
enum ra_acme_outcome ra_acme_order_get(struct store *, int64_t id, int64_t acct_id,
				       struct ra_acme_order *out, struct err *);
/*
 * The authorization id of account acct_id: OK, NOT_FOUND or ERROR; its challenge swept so.
 * One past its expiry that is still pending or valid is written expired first (a conditional
 * update in a transaction of its own with the audit entry acme.authz.expire; its orders that
 * are pending or ready become invalid), and an order past its expiry invalid likewise
 * (acme.order.expire); not when the caller has a transaction open (it reads so, though).
 */
enum ra_acme_outcome ra_acme_authz_get(struct store *, int64_t id, int64_t acct_id,
				       struct ra_acme_authz *out, struct err *);
/* The challenge id of account acct_id with its authorization (out->at its index). */
enum ra_acme_outcome ra_acme_chall_get(struct store *, int64_t id, int64_t acct_id,
				       struct ra_acme_authz *out, struct err *);
/*
 * newAuthz (RFC 8555 7.4.1): a pre-authorization of identifier id for acct, under the same
 * rules as newOrder's identifiers (an active binding, else EAB_UNUSABLE; the binding's names,
 * the policy: REJECTED with id->refusal), and no wildcard.  CREATED: a pending authorization
 * of no order with its challenges and the audit entry acme.authz.create, one transaction;
 * *out is it.  A later order of the account for the identifier reuses it.
 */
enum ra_acme_outcome ra_acme_authz_new(struct store *, const struct ra_acme_account *,
				       struct ra_acme_ident *id, const char *actor,
				       struct ra_acme_authz *out, struct err *);
/*
 * Deactivation of authorization id of account acct_id (RFC 8555 7.5.2): pending or valid ->
 * deactivated by a conditional update, its orders that are pending or ready invalid, audited
 * acme.authz.deactivate, one transaction; any other status is BAD_STATE.  *out is the row
 * after.  A deactivated authorization is never reused.
 */
enum ra_acme_outcome ra_acme_authz_deactivate(struct store *, int64_t id, int64_t acct_id,
					      const char *actor, struct ra_acme_authz *out,
					      struct err *);
/*
 * A client's answer to challenge id (7.5.1): a pending challenge of a pending, unexpired
 * authorization none of whose challenges is being validated moves to processing with the
 * authorization's attempt (*start = 1: the caller validates and calls ra_acme_chall_done); any
 * other is left as it is (*start = 0).  *out is the authorization after, out->at the challenge.
 */
enum ra_acme_outcome ra_acme_chall_start(struct store *, int64_t id, int64_t acct_id, int *start,
					 struct ra_acme_authz *out, struct err *);
/*
 * The outcome of the validation of challenge id (problem: its error document as JSON, NULL
 * when it succeeded): challenge and authorization valid or invalid, the order ready (all valid) or
 * invalid, the audit entry acme.validation.valid / .invalid and, when it failed, a row of
 * acme_failed_validations for the name, in one transaction.
 */
enum ra_acme_outcome ra_acme_chall_done(struct store *, int64_t id, const char *problem,
					const char *actor, struct err *);
/*
 * The text of an IP address of len bytes (4: IPv4, 16: IPv6) into out (n >=
 * INET6_ADDRSTRLEN): dotted decimal, or RFC 5952's form for IPv6.  -1 for another length.
 */
int ra_acme_ip_text(const unsigned char *, size_t len, char *out, size_t n);
/*
 * An ip identifier's value (RFC 8738 3) into b (16 bytes) and *len (4 or 16): only the
 * canonical text (ra_acme_ip_text's: no leading zeros, RFC 5952 for IPv6, no zone); -1 for any
 * other spelling.  Pure.
 */
int ra_acme_ip_canon(const char *text, unsigned char b[16], size_t *len);
/*
 * The reverse DNS name of an ip identifier's canonical text (RFC 8738 6: tls-alpn-01's SNI;
 * RFC 1035 3.5 in-addr.arpa, RFC 3596 2.5 ip6.arpa nibbles) into out; -1 for no canonical
 * address or too small a buffer.  Pure.
 */
int ra_acme_ip_reverse(const char *text, char *out, size_t n);
/*
 * The CSR matches the order: its dNSNames and iPAddresses (and no other kind of name) are
 * exactly names (any order, duplicates allowed): a dNSName one whose type is not "ip"
 * (case-insensitive), an iPAddress (4 or 16 bytes) one whose type (types[i]; types NULL: all
 * dns) is "ip", in ra_acme_ip_text's form (RFC 8738 4); its CN, if any, is one of them.
 * 0, or -1 with a message naming the rule (pure; fuzzed by tests/fuzz/fuzz_acme_csr.c).
 */
int ra_acme_csr_match(const struct csr *, const char *const *names, const char *const *types,
		      size_t n, struct err *);
/*
 * Tests only (test.acme_finalize_pause, refused without test.instance): finalize waits ms
 * milliseconds after its own checks, just before it signs, so that a test can deactivate an
 * authorization meanwhile (the certificate's transaction must then refuse).  0: none.
 */
void ra_acme_fin_pause_set(long ms);
/* The longest time between a CAA check and issuance (CA/Browser Forum BR 3.2.2.8). */
#define RA_ACME_CAA_MAX_AGE (8 * 3600)
/*
 * finalize's CAA recheck (BR 3.2.2.8): the valid DNS authorizations of ready order id of
 * account acct_id whose CAA was last checked (at their validation, or by an earlier recheck)
 * more than RA_ACME_CAA_MAX_AGE before now, into *due (caller frees each value and the
 * array); none for an order that is unknown, another account's or not ready (finalize answers
 * that).  The face asks CAA of each (its resolver) and, when every one allows, records it
 * with ra_acme_caa_checked; a refusal stops the finalization before anything is signed.
 */
int ra_acme_caa_due(struct store *, int64_t id, int64_t acct_id, time_t now,
		    struct store_acme_caa_due **due, size_t *n, struct err *);
/* Records that CAA allowed issuance for the n authorizations of due at now. */
int ra_acme_caa_checked(struct store *, const struct store_acme_caa_due *due, size_t n, time_t now,
			struct err *);
/*
 * finalize (7.4): a ready order (else NOT_READY) of acct within the certificates-per-domain
 * limit of lim (NULL: none; RATE_LIMITED with hit), with an active binding (EAB_UNUSABLE), a
 * CSR (DER) that matches it (BAD_CSR), issued through ra_issue (profile server, the binding's
 * organization, the order's names given; REFUSED with e's kind) with the order made valid and
 * the audit entry acme.order.finalize in the certificate's transaction.  The order is read
 * once; on OK, *out (caller clears) is it as the issuance left it (valid, with the serial).
 */
enum ra_acme_outcome ra_acme_finalize(struct ca *, struct store *, int64_t id,
				      const struct ra_acme_account *,
				      const struct ra_acme_limits *lim, struct ra_acme_limited *hit,
				      const unsigned char *csr, size_t csrlen, const char *actor,
				      struct ra_acme_order *out, struct err *);
/*
 * At start: every order processing for RA_ACME_STALE seconds (its issuance never committed:
 * the certificate's transaction makes the order valid) becomes invalid with a serverInternal
 * error, audited acme.order.sweep, each a conditional move in a transaction of its own; *n
 * how many.  Younger ones (another front end may be signing them) are left to the read-time
 * sweep.  -1 on a store error.
 */
int ra_acme_order_sweep_start(struct store *, time_t now, size_t *n, struct err *);
/*
 * ra_acme_finalize, calling processing(arg) (when not NULL) once the order has moved to
 * processing and before anything is signed: the face then knows it may answer processing.
 */
enum ra_acme_outcome
ra_acme_finalize_ex(struct ca *, struct store *, int64_t id, const struct ra_acme_account *,
		    const struct ra_acme_limits *lim, struct ra_acme_limited *hit,
		    const unsigned char *csr, size_t csrlen, const char *actor,
		    struct ra_acme_order *out, void (*processing)(void *), void *arg, struct err *);
/* The certificate (DER, caller frees) of valid order id of account acct_id. */
enum ra_acme_outcome ra_acme_cert_get(struct store *, int64_t id, int64_t acct_id,
				      unsigned char **der, size_t *len, struct err *);

/*
 * 1 when a subscriber may revoke with reason (RFC 8555 7.6, RFC 5280 5.3.1; the CA/Browser
 * Forum's BR 7.2.2): unspecified, keyCompromise, affiliationChanged, superseded,
 * cessationOfOperation.  cACompromise, aACompromise and privilegeWithdrawn are the CA's to give;
 * certificateHold and removeFromCRL are not used here at all.
 */
int ra_acme_reason_ok(long reason);
/*
 * revokeCert (7.6): der must be a certificate of this CA's store (the same DER; else
 * UNAUTHORIZED), not revoked (ALREADY_REVOKED), reason one ra_acme_reason_ok takes
 * (BAD_REASON).  acct_id > 0: the account must be the one whose order holds the certificate;
 * acct_id 0: key (the JWS's jwk) must be the certificate's own public key; else UNAUTHORIZED.
 * Revoked through ra_revoke_tx (the row, OCSP's counter, the cert.revoke audit entry by actor)
 * with the audit entry acme.cert.revoke, in one transaction; then ca_after_revoke.
 */
enum ra_acme_outcome ra_acme_revoke(struct ca *, struct store *, const unsigned char *der,
				    size_t len, int64_t acct_id, EVP_PKEY *key, long reason,
				    const char *actor, struct err *);

/* ---- ACME rate limits (acmelimit.c, issue 14 part 5) ---- */

enum ra_acme_limit {
	RA_ACME_LIMIT_ORDERS = 0, /* new orders per account */
	RA_ACME_LIMIT_CERTS,	  /* certificates per registered domain (Public Suffix List) */
	RA_ACME_LIMIT_FAILED,	  /* failed validations per name */
	RA_ACME_LIMIT_ACCOUNTS,	  /* new accounts per client address */
	RA_ACME_LIMIT_IP_CERTS,	  /* certificates per IP address (IPv6: per /64) */
	RA_ACME_LIMIT__MAX
};
extern const char *const ra_acme_limit_names[RA_ACME_LIMIT__MAX];
/*
 * Each limit's count (0: off) and window in seconds; and the face's own guards, read here so
 * that the face and the page explaining them (the portal's) read one configuration: requests
 * per client address (a token bucket; rate 0: off) and validations at once per organization.
 */
struct ra_acme_limits {
	long max[RA_ACME_LIMIT__MAX];
	long window[RA_ACME_LIMIT__MAX];
	long req_rate, req_burst; /* acme.requests_per_second, acme.requests_burst */
	/* the second bucket of an IPv6 client's /48 (a site): acme.requests_per_second_48,
	 * acme.requests_burst_48 (rate 0: off) */
	long req_rate48, req_burst48;
	long validations_per_org; /* acme.validations_per_organization (0: no cap) */
};
/* Which limit a request reached, and when the window has room again. */
struct ra_acme_limited {
	enum ra_acme_limit which;
	long retry_after; /* seconds until the oldest counted event leaves the window, >= 1 */
	char detail[400]; /* names the limit, its keys and values, and the key reached */
};
/* The configuration key of limit l: its count, or (window != 0) its window. */
const char *ra_acme_limit_key(enum ra_acme_limit, int window);
/* Validations at once in a web process (the face's ACME_VALIDATIONS_MAX; validate.c checks). */
#define RA_ACME_VALIDATIONS_MAX 32
/*
 * Reads the limits (acme.<limit> and acme.<limit>_window, acme.requests_per_second,
 * acme.requests_burst, acme.validations_per_organization up to RA_ACME_VALIDATIONS_MAX;
 * defaults for a university RA).
 */
int ra_acme_limits_conf(const struct conf *, struct ra_acme_limits *, struct err *);
/*
 * Loads the Public Suffix List once (acme_init: at start, before the sandbox; else on first
 * use); ra_acme_psl_free ends it.
 */
int ra_acme_psl_load(struct err *);
void ra_acme_psl_free(void);
/*
 * The registered domain of name (lower case, no wildcard) by the Public Suffix List into out:
 * www.cs.example.ac.jp -> example.ac.jp; a public suffix itself stays as it is.  -1 when
 * name is empty, out too small or the list does not load (logged).
 */
int ra_acme_reg_domain(const char *name, char *out, size_t n);
/*
 * newOrder's limits, before the order is made: new orders of the account, then for each
 * identifier the failed validations of the name, the certificates of a DNS name's registered
 * domain and those of an address (IPv6: its /64).  A renewal (replaces: the order names a
 * certificate to replace, which ra_acme_order_new_ex then requires to be the account's; or
 * exactly the names of a certificate the account got within the certificates-per-domain
 * window) is exempt from the certificates per domain and from the new orders per account up to
 * twice that limit (a ceiling, as pending renewals hold nothing).  OK, RATE_LIMITED (*hit
 * filled), or ERROR.
 */
enum ra_acme_outcome ra_acme_limit_order(struct store *, const struct ra_acme_limits *,
					 const struct ra_acme_account *,
					 const struct ra_acme_ident *ids, size_t n, int replaces,
					 struct ra_acme_limited *hit, struct err *);
/*
 * The key of the certificates-per-address count of an ip identifier's canonical text into
 * out: "ip:" and the IPv4 address, or "ip:" and the IPv6 /64 ("ip:2001:db8:1:2::/64"); -1
 * when text is no address or out too small.  Pure.
 */
int ra_acme_ip_limit_key(const char *text, char *out, size_t n);
/*
 * finalize's limit: the certificates of organization org_id under each registered domain of
 * order o (as finalize read it; none for a renewal: replaces, or the account's same names) and
 * under each of its addresses (renewal or not), checked again before signing (orders made
 * earlier must not pass the count).  OK (also for an order that is not ready: finalize
 * answers that), RATE_LIMITED or ERROR.
 */
enum ra_acme_outcome ra_acme_limit_finalize(struct store *, const struct ra_acme_limits *,
					    const struct ra_acme_order *o, int64_t org_id,
					    struct ra_acme_limited *hit, struct err *);
/*
 * The failed validations of name by account acct_id (a challenge answered; another account's
 * failures do not count): OK, RATE_LIMITED or ERROR.
 */
enum ra_acme_outcome ra_acme_limit_name(struct store *, const struct ra_acme_limits *,
					int64_t acct_id, const char *name,
					struct ra_acme_limited *hit, struct err *);
/* The accounts created from client address addr: OK, RATE_LIMITED or ERROR. */
enum ra_acme_outcome ra_acme_limit_account(struct store *, const struct ra_acme_limits *,
					   const char *addr, struct ra_acme_limited *hit,
					   struct err *);
/*
 * Records a certificate issued through ACME to account acct of organization org_id once under
 * each registered domain of its names, each address (IPv6: /64) and its set of names for the
 * account (the renewal rule), in the caller's (the certificate's) transaction.
 */
int ra_acme_limit_record_cert(struct store *, int64_t org_id, int64_t acct,
			      const char *const *names, size_t n, const char *serial, struct err *);
/*
 * Deletes the events no limit counts any more (certificates' domains and failed validations
 * older than their windows), at most once a minute per process and not inside a caller's
 * transaction; a failure is logged.  The front ends on one database share one configuration.
 */
void ra_acme_limit_purge(struct store *, const struct ra_acme_limits *, time_t now);
/*
 * 1 when a DNS identifier looks like an IPv4 address in any of the forms resolvers accept
 * (127.0.0.1, 0x7f.1, 2130706433, 017700000001): its last label is all digits or a 0x
 * number.  Such a name is refused (rejectedIdentifier): IP identifiers are RFC 8738's.
 */
int ra_acme_dns_looks_ip(const char *name);

/* 1 when the DNS name lies in one of the organization's domains (policy.c). */
int ra_dns_in_org(const struct store_org *, const char *name);

#endif
