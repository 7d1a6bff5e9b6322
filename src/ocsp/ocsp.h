/*
 * ocsp: the OCSP responder (RFC 6960, with the RFC 5019 profile for GET and caching) —
 * request parsing by a bounds-checked DER walk, status lookup in the store, ResponseData
 * signed by the delegated OCSP certificate through the signer, a cache of complete signed
 * responses that revocation invalidates, and the HTTP handlers for POST /ocsp and
 * GET /ocsp/<base64>.
 *
 * Configuration (shomei.conf):
 *   ocsp.validity_minutes     nextUpdate - thisUpdate (default 480: 8 hours)
 *   ocsp.backdate_seconds     thisUpdate before the signing time, for clients' clock skew
 *                             (default 300; at most a quarter of the validity)
 *   ocsp.cache_entries        signed responses kept (default 100000; 0 turns the cache off)
 *   ocsp.revocation_poll_ms   how often the revocation counter is read while requests arrive
 *                             (default 10; 0: on every request)
 *
 * Layers: parsing and DER building are pure (no store, no signer; the fuzzer uses them);
 * the responder uses ca (certificates, signer client) and store.
 */
#ifndef SHOMEI_OCSP_H
#define SHOMEI_OCSP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http/http.h"
#include "signer/signer.h"
#include "util/util.h"

struct ca;
struct store;

#define OCSP_VALIDITY_MINUTES_DEFAULT SIGNER_OCSP_VALIDITY_DEFAULT_MIN

/* OCSPResponseStatus (RFC 6960 4.2.1). */
enum ocsp_resp_status {
	OCSP_RESP_SUCCESSFUL = 0,
	OCSP_RESP_MALFORMED = 1,
	OCSP_RESP_INTERNAL = 2,
	OCSP_RESP_TRYLATER = 3,
	OCSP_RESP_SIGREQUIRED = 5,
	OCSP_RESP_UNAUTHORIZED = 6,
};

/* CertStatus (RFC 6960 4.2.1). */
enum ocsp_cert_status {
	OCSP_CERT_GOOD = 0,
	OCSP_CERT_REVOKED = 1,
	OCSP_CERT_UNKNOWN = 2,
};

/* Hash algorithms of a CertID that the responder recognises. */
enum ocsp_hash {
	OCSP_HASH_UNKNOWN = -1,
	OCSP_HASH_SHA1 = 0,
	OCSP_HASH_SHA256,
	OCSP_HASH_SHA384,
	OCSP_HASH_SHA512,
	OCSP_HASH__MAX
};

#define OCSP_MAX_CERTIDS 64 /* Requests in one OCSPRequest */
#define OCSP_NONCE_MAX 128  /* extnValue octets of a nonce (RFC 8954 asks for 1..32) */
#define OCSP_SERIAL_MAX 20  /* RFC 5280 4.1.2.2: serials we issue are at most 20 octets */
#define OCSP_REQ_MAX (64 * 1024)

/* One CertID as sent; every pointer points into the request buffer. */
struct ocsp_certid {
	enum ocsp_hash hash;	  /* OCSP_HASH_UNKNOWN for other algorithms */
	const unsigned char *der; /* the whole CertID TLV (echoed in the response) */
	size_t derlen;
	const unsigned char *name_hash; /* issuerNameHash contents */
	size_t name_hash_len;
	const unsigned char *key_hash; /* issuerKeyHash contents */
	size_t key_hash_len;
	const unsigned char *serial; /* INTEGER contents, minimal two's complement */
	size_t serial_len;
};

/* A parsed OCSPRequest; pointers into the caller's buffer, nothing allocated. */
struct ocsp_req {
	struct ocsp_certid ids[OCSP_MAX_CERTIDS];
	size_t n;
	const unsigned char *nonce; /* the whole nonce Extension TLV, or NULL */
	size_t noncelen;
	int signed_req; /* optionalSignature present (not verified; RFC 6960 4.1.2) */
};

/*
 * Parses a DER OCSPRequest (RFC 6960 4.1.1): strict DER (definite, minimal lengths; no
 * trailing bytes), version v1, 1..OCSP_MAX_CERTIDS requests, CertIDs with an OID hash
 * algorithm, OCTET STRING hashes and a minimally encoded serial; a nonce of
 * 1..OCSP_NONCE_MAX octets at most once; an unknown critical extension is refused
 * (RFC 6960 4.4).  0, or -1 with ERR_REFUSED naming the rule.
 */
int ocsp_req_parse(const unsigned char *, size_t, struct ocsp_req *, struct err *);

/*
 * Decodes base64 (standard or URL alphabet, padding optional) as found in a GET URL
 * (RFC 6960 Appendix A.1).  Returns 0 and *outlen, or -1 on a bad character, bad padding or
 * when the result would exceed outmax.
 */
int ocsp_b64_decode(const char *, size_t, unsigned char *out, size_t outmax, size_t *outlen);

/* "good", "revoked", "unknown"; "malformedRequest", "unauthorized", ... for errors. */
const char *ocsp_cert_status_name(enum ocsp_cert_status);
const char *ocsp_resp_status_name(enum ocsp_resp_status);

/* ---- building responses (pure DER) ---- */

/* One SingleResponse to build. */
struct ocsp_single {
	const unsigned char *certid; /* the request's CertID DER, echoed */
	size_t certidlen;
	enum ocsp_cert_status status;
	time_t revoked_at;
	int reason; /* CRLReason; omitted when <= 0 (unspecified: RFC 5280 5.3.1) */
	time_t this_update;
	time_t next_update; /* 0: omitted */
};

/* The unsigned error response OCSPResponse { responseStatus }: 5 octets. */
#define OCSP_ERROR_RESP_LEN 5
void ocsp_resp_error(unsigned char out[OCSP_ERROR_RESP_LEN], enum ocsp_resp_status);

/*
 * ResponseData (RFC 6960 4.2.1) with responderID byKey (keyhash: SHA-1 of the OCSP
 * certificate's subjectPublicKey), producedAt, the responses and, when nonce is not NULL,
 * responseExtensions holding that Extension TLV unchanged.  Appends to out.
 */
int ocsp_respdata_build(struct buf *out, const unsigned char keyhash[20], time_t produced,
			const struct ocsp_single *, size_t n, const unsigned char *nonce,
			size_t noncelen, struct err *);

/*
 * OCSPResponse { successful, id-pkix-ocsp-basic, BasicOCSPResponse { rd, algid, signature,
 * certs [0] { cert } } }, appended to out.  cert may be NULL (no certs field).
 */
int ocsp_resp_assemble(struct buf *out, const unsigned char *rd, size_t rdlen,
		       const unsigned char *algid, size_t algidlen, const unsigned char *sig,
		       size_t siglen, const unsigned char *cert, size_t certlen, struct err *);

/* ---- the responder ---- */

struct ocsp_responder;
struct ocsp_blob;

/* An answer: the OCSPResponse DER and what the HTTP layer needs for caching headers. */
struct ocsp_answer {
	const unsigned char *der;
	size_t len;
	enum ocsp_resp_status status;
	int cacheable; /* successful, no nonce: GET may carry RFC 5019 caching headers */
	time_t produced;
	time_t next_update;	   /* the earliest nextUpdate of the responses */
	const char *etag;	   /* "\"...\"" when cacheable */
	const char *last_modified; /* HTTP-dates when cacheable */
	const char *expires;
	int cache_hit;		/* served from the response cache (no signature made) */
	struct ocsp_blob *blob; /* owned reference (NULL for error responses) */
	unsigned char err[OCSP_ERROR_RESP_LEN];
};

/*
 * A responder for the CA: reads ocsp.* from its configuration, precomputes the CertID
 * hashes of the issuing CA for every supported algorithm, the responderID and the signature
 * AlgorithmIdentifier of the OCSP certificate.  Thread-safe; ca must outlive it.
 */
int ocsp_responder_new(struct ca *, struct ocsp_responder **, struct err *);
void ocsp_responder_free(struct ocsp_responder *); /* accepts NULL */

/*
 * Answers one DER OCSPRequest.  Never fails: problems become error responses (malformed,
 * unauthorized, internalError, tryLater; logged).  st may be NULL (the store is then
 * unavailable: internalError unless the cache answers).  ocsp_answer_clear() releases it.
 */
void ocsp_respond(struct ocsp_responder *, struct store *, const unsigned char *, size_t,
		  struct ocsp_answer *);
/*
 * The same, for a client that may be refused answers signed for it alone (a nonce, several
 * CertIDs): fresh_ok(arg) is asked once for such a request.  Refused, one CertID is answered
 * from the cache without the nonce (RFC 8954 2.1 lets a responder leave it out), several
 * with tryLater.
 */
void ocsp_respond_limited(struct ocsp_responder *, struct store *, const unsigned char *, size_t,
			  struct ocsp_answer *, int (*fresh_ok)(void *), void *arg);
void ocsp_answer_clear(struct ocsp_answer *);

/* Cache statistics (atomically read): hits, misses (signatures made), revalidations. */
struct ocsp_stats {
	uint64_t hits;
	uint64_t signed_responses;
	uint64_t revalidated;
	uint64_t polls;
};
void ocsp_responder_stats(struct ocsp_responder *, struct ocsp_stats *);

/*
 * HTTP handlers: r->app is the struct ca of the web process; the responder is created on
 * first use.  POST needs Content-Type application/ocsp-request; every OCSP-level problem is
 * an OCSP error response with HTTP 200 (what OCSP clients parse).
 */
int ocsp_http_post(struct http_req *);
int ocsp_http_get(struct http_req *);
/* The responder's routes (plain HTTP listener): POST /ocsp, POST /ocsp/, GET /ocsp/<base64>. */
extern const struct http_route ocsp_http_routes[];
/* Frees the responder the handlers created (web process shutdown; optional). */
void ocsp_http_shutdown(void);
/* The configuration keys the responder reads (NULL-terminated; see conf_check_keys). */
extern const char *const ocsp_conf_keys[];

#endif
