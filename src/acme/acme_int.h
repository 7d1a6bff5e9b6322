/* acme_int: shared between the files of the ACME face only (acme.h is its public header). */
#ifndef SHOMEI_ACME_INT_H
#define SHOMEI_ACME_INT_H

#include <jansson.h>

#include "acme/acme.h"
#include "ra/ra.h"

#define ACME_PREFIX "/acme"
#define ACME_ACCT_PATH ACME_PREFIX "/acct/"
#define ACME_URL_MAX 512
#define ACME_PROFILES_MAX 4		  /* profiles acme.profiles may list */
#define ACME_RENEWAL_RETRY 21600	  /* Retry-After of renewal information: 6 hours */
#define ACME_RENEWAL_PATH "/renewal-info" /* GET <renewalInfo>/<certID> (RFC 9773 4.1) */
/* The page that explains the rate limits (the portal's; Link rel="help" of rateLimited). */
#define ACME_LIMITS_PAGE "/policies/acme-limits"

/* The face's configuration, read once by acme_init. */
struct acme {
	int enabled;
	int eab_required;
	char *base; /* acme.base_url without a trailing '/' */
	char *tos, *website;
	json_t *caa; /* array of strings, or NULL */
	struct ra_acme_keys keys;
	long http01_port;	       /* acme.http01_port */
	int allow_private;	       /* acme.allow_private_addresses */
	char test_resolve[48];	       /* test.acme_resolve (test instances only), or "" */
	char dns_resolver[64];	       /* acme.dns_resolver, or "": the system's (dns.c) */
	long tlsalpn01_port;	       /* acme.tlsalpn01_port */
	struct ra_acme_limits limits;  /* acme.orders_per_account, ... (src/ra/acmelimit.c) */
	char limits_url[ACME_URL_MAX]; /* the page explaining them (Link rel="help") */
	/* acme.profiles: the profiles newOrder may name (the first is the default's place) */
	char profiles[ACME_PROFILES_MAX][RA_ACME_PROFILE_MAX];
	size_t nprofiles;
	long orders_page;	 /* acme.orders_page: order URLs per page of the orders list */
	long finalize_wait_ms;	 /* acme.finalize_wait_ms: finalize answers processing after it */
	long test_sign_delay_ms; /* test.acme_sign_delay_ms (test instances): the signer slow */
};
extern struct acme acme;

/*
 * finalize's issuance (finalize.c): run in a thread of its own (at most ACME_FINALIZE_MAX at
 * once, else in the request's), waited for acme.finalize_wait_ms once the order is
 * processing; *processing set when it is still signing (the request answers the order
 * processing with Retry-After; the thread finishes it; *out left empty).  Else
 * ra_acme_finalize's outcome, *hit, *out (caller clears) and e.
 */
#define ACME_FINALIZE_MAX 32
struct acme_ctx;
enum ra_acme_outcome acme_finalize_run(struct acme_ctx *, int64_t id, const unsigned char *der,
				       size_t len, struct ra_acme_limited *hit,
				       struct ra_acme_order *out, int *processing, struct err *e);

/* One request being handled. */
struct acme_ctx {
	struct http_req *r;
	struct ca *ca;
	struct store *st;
	char url[ACME_URL_MAX];	     /* base + the request's path: what a JWS's url must be */
	struct jws j;		     /* the request's JWS (POST) */
	EVP_PKEY *key;		     /* the key that signed it */
	json_t *payload;	     /* the payload object; NULL for POST-as-GET */
	struct ra_acme_account acct; /* the kid's account (acct.id 0 for jwk requests) */
	char actor[96];
};

/* Which key a POST names (RFC 8555 6.2). */
enum acme_auth {
	ACME_AUTH_JWK = 0, /* newAccount */
	ACME_AUTH_KID,	   /* everything else: an existing, valid account */
	ACME_AUTH_ANY,	   /* revokeCert: the account's kid, or the certificate's key as jwk */
};

/*
 * Every check of a POST before its handler: Content-Type, the flattened JWS, the key (jwk or
 * the kid's valid account), the signature, url, the nonce used once, the payload as a JSON
 * object (empty: POST-as-GET).  0 to go on, -1 after answering the problem.
 */
int acme_post_begin(struct acme_ctx *, enum acme_auth);
void acme_ctx_clear(struct acme_ctx *);

/* A problem document (status and type), with an optional Location. */
int acme_problem(struct acme_ctx *, int status, enum acme_prob, const char *detail,
		 const char *location);
/* The problem of a store or internal failure (logged, no details to the client). */
int acme_internal(struct acme_ctx *, const char *what, const struct err *);
/* A problem document with extra members (subproblems; takes the reference to extra). */
int acme_problem_ex(struct acme_ctx *, int status, enum acme_prob, const char *detail,
		    const char *location, json_t *extra);
/* body (NULL: none) with Replay-Nonce, the directory's Link and extra header pairs. */
int acme_send(struct http_req *, int status, const char *ctype, const char *body,
	      const char *const *extra);
/*
 * 429 (or status) rateLimited with detail, Retry-After: retry (at least 1) and Link:
 * <the limits page>;rel="help".
 */
int acme_limited(struct acme_ctx *, int status, const char *detail, long retry);
/*
 * The request limiter of /acme/ (limit.c): 0 to go on, -1 when the client's address is
 * unknown (refused), else the seconds to wait (*site 1: its IPv6 /48's bucket is empty).
 */
long acme_request_limit(struct http_req *, int *site);
/* A JSON answer (takes the reference to j), with an optional Location. */
int acme_json(struct acme_ctx *, int status, json_t *j, const char *location);
/* The URL of path (ACME_PREFIX...) into out. */
void acme_url(char *out, size_t n, const char *path);

/* order.c: GET renewalInfo/<certID> (RFC 9773 4), rest after the path's "/" */
int acme_renewal_info(struct acme_ctx *, const char *rest);

/* account.c */
int acme_new_account(struct acme_ctx *);
int acme_account(struct acme_ctx *, const char *id);
int acme_key_change(struct acme_ctx *);

/* order.c */
int acme_new_order(struct acme_ctx *);
int acme_new_authz(struct acme_ctx *);
int acme_order(struct acme_ctx *, const char *rest);
int acme_authz(struct acme_ctx *, const char *rest);
int acme_chall(struct acme_ctx *, const char *rest);
int acme_cert(struct acme_ctx *, const char *rest);
int acme_revoke_cert(struct acme_ctx *);

/* keycache.c: accounts' decoded keys by id and stored JWK bytes (see there) */
#define ACME_KEYCACHE_SLOTS 4096
/* The key decoded from account id's stored jwk (a new reference), or NULL when not cached. */
EVP_PKEY *acme_keycache_get(int64_t id, const char *jwk);
/* Remembers key (takes a reference of its own) as decoded from account id's stored jwk. */
void acme_keycache_put(int64_t id, const char *jwk, EVP_PKEY *key);
/* Forgets account id's key (keyChange, deactivation). */
void acme_keycache_drop(int64_t id);
void acme_keycache_flush(void);

/* Seconds by which front ends' clocks may differ: used nonces are purged that long after
 * they expired (acme.c's housekeeping). */
#define ACME_PURGE_SKEW 300

/* validate.c */
#define ACME_HTTP01_BODY_MAX 8192	       /* bytes of a challenge response read */
#define ACME_HTTP01_TIMEOUT 10		       /* seconds of one validation, redirects included */
#define ACME_DRAIN_S (ACME_HTTP01_TIMEOUT + 5) /* the longest wait for them at shutdown */
/*
 * Takes one of the slots for account acct and its organization org (0: none) under the lock
 * (acme_slots_take, then acme_org_slots_take with acme.validations_per_organization).
 */
enum acme_slot acme_validate_reserve(int64_t acct, int64_t org);
void acme_validate_release(int64_t acct, int64_t org);
/* What a validation needs to know of its challenge (copied by acme_validate_start). */
struct acme_vreq {
	int64_t acct;	  /* the account, whose slot it holds */
	int64_t org;	  /* its organization (0: none), whose slot it holds too */
	int64_t id;	  /* the challenge */
	const char *type; /* "http-01", "dns-01", "tls-alpn-01" */
	const char *host; /* the identifier (a wildcard's without "*.") */
	int wildcard;
	const char *token, *keyauth, *actor;
};
/*
 * Validates challenge q->id on a thread of the validation pool in a slot reserved for account
 * q->acct (released when it ends), then records the outcome through ra_acme_chall_done.  -1
 * (the slot released) when no worker can take it (none could start, or shutting down).
 */
int acme_validate_start(struct ca *, const struct acme_vreq *q);
/*
 * CAA (RFC 8659 3) for host (a wildcard's base when wildcard), validation method method,
 * account acct, asked of acme.dns_resolver until deadline (acme_dns_now_ms()): from the name
 * up to its top-level domain, the first non-empty CAA RRset decides (acme_caa_allows, with
 * acme.caa_identities, the account's URL and the method); none at all lets issuance go on; a
 * lookup that fails refuses.  0 allowed, 1 refused with why (n bytes) filled.
 */
int acme_caa_check(const char *host, int wildcard, const char *method, int64_t acct,
		   int64_t deadline, char *why, size_t n);

#endif
