/*
 * acme: the ACME face (RFC 8555) under /acme/ on the HTTPS listener: the directory, nonces,
 * accounts (new, update, deactivation, key change) with External Account Binding.  It speaks
 * the protocol only: JWS and JWK checks are src/util/jws.c's (pure, fuzzed), nonces, accounts
 * and bindings are src/ra/acme.c's (one transaction each, audited).  Every answer carries a
 * Replay-Nonce and a Link to the directory; every error is an RFC 8555 problem document
 * (application/problem+json, urn:ietf:params:acme:error:*).
 *
 * Files: acme.c (configuration, routes, replies, the directory and new-nonce, the JWS gate of
 * every POST), account.c (newAccount, the account URL, keyChange), order.c (newOrder, orders,
 * authorizations, challenges, finalize, the certificate), validate.c (http-01, dns-01 and
 * tls-alpn-01 validation with CAA off the request threads: bounded, with the address rule),
 * dns.c (the DNS client of dns-01, CAA and tls-alpn-01; dns.h), limit.c (the request
 * limiter of /acme/ and the 429 rateLimited answer of every rate limit).
 */
#ifndef SHOMEI_ACME_H
#define SHOMEI_ACME_H

#include "ca/ca.h"
#include "http/http.h"
#include "util/jws.h"

/* Bytes of a request body the HTTP layer takes in (413 above). */
#define ACME_HTTP_BODY_MAX JWS_BODY_MAX

/* The keys the face reads (acme.*). */
extern const char *const acme_conf_keys[];
/*
 * Reads the acme.* keys and, when acme.enabled, acme.key_file (as root, before the web process
 * drops its privileges).  Refuses a bad value.
 */
int acme_init(struct ca *, struct err *);
void acme_fini(void);
/*
 * The web process's ACME housekeeping, a thread of its own once a minute (from the start):
 * the used nonces that expired and the rate limits' old events are purged there, through the
 * group commit, never in a request.  Nothing when ACME is off.  Stopped before acme_fini.
 */
#define ACME_HOUSEKEEPING_EVERY 60
int acme_housekeeping_start(struct ca *, struct err *);
void acme_housekeeping_stop(void);
/*
 * Waits (at most the longest validation and a margin) until the validations running have
 * stored their outcome: at shutdown, before the CA and its store connections go.
 */
void acme_validate_drain(void);
/* At shutdown: waits for finalize's issuances still running (at most ACME_DRAIN_S). */
void acme_finalize_drain(void);
/*
 * At start, once the store is reachable: the orders a stop left processing become invalid
 * with an error (ra_acme_order_sweep_start); a failure is logged.
 */
void acme_finalize_sweep_start(struct ca *);

/* The face's route on the HTTPS listener: /acme/ and below, any method. */
extern const struct http_route acme_http_routes[];

/* The problem types (RFC 8555 6.7) the face answers with. */
enum acme_prob {
	ACME_PROB_MALFORMED = 0,
	ACME_PROB_BAD_NONCE,
	ACME_PROB_BAD_SIG_ALG,
	ACME_PROB_BAD_PUBLIC_KEY,
	ACME_PROB_UNAUTHORIZED,
	ACME_PROB_NO_ACCOUNT,
	ACME_PROB_EAB_REQUIRED,
	ACME_PROB_INVALID_CONTACT,
	ACME_PROB_UNSUPPORTED_CONTACT,
	ACME_PROB_SERVER_INTERNAL,
	ACME_PROB_REJECTED_IDENTIFIER,
	ACME_PROB_BAD_CSR,
	ACME_PROB_ORDER_NOT_READY,
	ACME_PROB_RATE_LIMITED,
	ACME_PROB_CONNECTION,
	ACME_PROB_DNS,
	ACME_PROB_INCORRECT_RESPONSE,
	ACME_PROB_ALREADY_REVOKED,
	ACME_PROB_BAD_REVOCATION_REASON,
	ACME_PROB_CAA,
	ACME_PROB_TLS,
	ACME_PROB_INVALID_PROFILE,  /* draft-ietf-acme-profiles */
	ACME_PROB_ALREADY_REPLACED, /* RFC 9773 5 */
	ACME_PROB__MAX
};
/* "urn:ietf:params:acme:error:" and the type's name ("badNonce", ...). */
const char *acme_prob_type(enum acme_prob);

struct sockaddr;
/*
 * 1 when an http-01 validation may connect to sa: not unspecified, loopback, private (RFC
 * 1918, RFC 4193), shared (RFC 6598), link-local, multicast, reserved or documentation space,
 * nor 6to4 (2002::/16) or Teredo (2001::/32); IPv4-mapped IPv6 and NAT64 (64:ff9b::/96)
 * judged by their IPv4 address.  Pure; validate.c's open-socket callback asks it unless
 * acme.allow_private_addresses.
 */
int acme_addr_public(const struct sockaddr *);
/*
 * 1 when x is a tls-alpn-01 challenge certificate (RFC 8737 3) for host and md (SHA-256 of the
 * key authorization): exactly one subjectAltName, a dNSName equal to host (case-insensitive),
 * or, when host is an address's text (RFC 8738 6), an iPAddress of its bytes, and exactly
 * one id-pe-acmeIdentifier extension (1.3.6.1.5.5.7.1.31), critical, holding the DER OCTET
 * STRING of md; else 0 with why.  Pure (fuzzed by tests/fuzz/fuzz_acme_dns.c).
 */
int acme_tlsalpn_check(X509 *x, const char *host, const unsigned char *md, char *why, size_t n);

#define ACME_VALIDATIONS_MAX 32	       /* validations running at once (one thread each) */
#define ACME_VALIDATIONS_PER_ACCOUNT 4 /* of them, one account's */

/*
 * The slots of the validations running in this process, each held for one account: at most
 * ACME_VALIDATIONS_MAX in all and ACME_VALIDATIONS_PER_ACCOUNT per account, so one account
 * cannot hold them all.  At most ACME_VALIDATIONS_MAX accounts hold slots at once, so a fixed
 * table suffices.  The caller locks (validate.c's mutex); pure, for the unit tests.
 */
struct acme_slots {
	int running;
	struct {
		int64_t acct; /* 0: a free entry */
		int n;
	} per[ACME_VALIDATIONS_MAX];
};
enum acme_slot {
	ACME_SLOT_OK = 0,
	ACME_SLOT_FULL,	   /* ACME_VALIDATIONS_MAX running */
	ACME_SLOT_ACCOUNT, /* ACME_VALIDATIONS_PER_ACCOUNT of acct's running */
	ACME_SLOT_ORG,	   /* acme.validations_per_organization of the organization's running */
	ACME_SLOT__MAX
};
/* Takes a slot for account acct (> 0). */
enum acme_slot acme_slots_take(struct acme_slots *, int64_t acct);
/* Gives back a slot of acct's; one it does not hold is an internal error (fatal). */
void acme_slots_put(struct acme_slots *, int64_t acct);

/*
 * The validations running per organization, beside the per-account slots: at most max of one
 * organization's (acme.validations_per_organization), so the accounts of one organization
 * cannot hold every slot either.  As many organizations as validations, so a fixed table
 * suffices.  Caller locks; pure, for the unit tests.
 */
struct acme_org_slots {
	struct {
		int64_t org; /* 0: a free entry */
		int n;
	} per[ACME_VALIDATIONS_MAX];
};
/* OK or ACME_SLOT_ORG; org <= 0 (no organization) or max <= 0 (no cap) always OK. */
enum acme_slot acme_org_slots_take(struct acme_org_slots *, int64_t org, int max);
/* Gives back a slot of org's (one it does not hold is fatal); as take for org, max <= 0. */
void acme_org_slots_put(struct acme_org_slots *, int64_t org, int max);

/*
 * The request limiter of /acme/ per client address (IPv6 by its /64): a token bucket of rate
 * tokens a second up to burst, in a fixed table of this process indexed by a keyed hash of
 * the address and probed over a few entries; when they are all taken the least recently used
 * is reused (a flood of addresses makes the table forget, never grow).  Caller locks.
 */
#define ACME_BUCKETS 2048
#define ACME_BUCKET_PROBE 8
struct acme_buckets {
	unsigned char key[16]; /* random: which entries an address lands in */
	struct {
		unsigned char addr[16];
		double tokens, last; /* last 0: a free entry */
	} b[ACME_BUCKETS];
};
/*
 * Takes a token for addr (len 4 or 16 octets; an IPv6 address counts by its /64) at now
 * (seconds, > 0, not decreasing): 0 when the request may go, else the seconds (>= 1) until
 * a token is there again.  Pure, for the unit tests.
 */
long acme_buckets_take(struct acme_buckets *, const unsigned char *addr, size_t len, double now,
		       double rate, double burst);
/*
 * The request limiter's decision for client addr (len 4 or 16) at now: a token of its
 * address's bucket in t[0] (IPv6 by its /64, lim->req_rate and req_burst), then for IPv6 one
 * of its /48's bucket in t[1] (lim->req_rate48 and req_burst48, when the rate is not 0), so
 * that one site cannot spread its requests over 65,536 /64s.  0 when the request may go,
 * else the seconds to wait, *site 1 when the /48's bucket is empty.  Pure, unit-tested.
 */
struct ra_acme_limits;
long acme_request_take(struct acme_buckets t[2], const unsigned char *addr, size_t len, double now,
		       const struct ra_acme_limits *lim, int *site);

#endif
