/*
 * api: the REST/JSON API under /api/v1 — issue from a CSR, get, list/search and revoke
 * certificates — authenticated by per-organization API keys (Authorization: Bearer
 * shk_<id>_<secret>), every operation scoped to the key's organization, errors as RFC 7807
 * application/problem+json with one type URI per kind of error (docs/openapi.yaml).
 *
 * Files: api.c (routes and handlers: they call the RA — src/ra/cert.c, src/ra/apikey.c,
 * ra_issue() — and never the store), req.c (JSON request bodies and query parameters: pure
 * functions, unit-tested and fuzzed), apikey.c (the Bearer credential of a request).
 */
#ifndef SHOMEI_API_H
#define SHOMEI_API_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "http/http.h"
#include "ra/ra.h"
#include "util/util.h"

/* Every /api/v1/ request; r->app is the struct ca of the web process. */
int api_http(struct http_req *);
/* Bytes of a request body the HTTP layer takes in (413 above); API_JSON_MAX is checked after. */
#define API_HTTP_BODY_MAX (1024 * 1024)
/* The API's route on the HTTPS listener: /api/v1/ and below, any method (api_http). */
extern const struct http_route api_http_routes[];

/* ---- routes ---- */

struct api_route {
	const char *method;  /* "GET" (also answers HEAD) or "POST" */
	const char *pattern; /* "/api/v1/certificates/{serial}": a {name} matches one segment */
	const char *op;	     /* the OpenAPI operationId */
};

/* The route table (NULL-terminated), as served: `shomei apikey routes` prints it. */
extern const struct api_route api_routes[];
/* Prints "METHOD PATTERN OPERATION" per line (the OpenAPI drift test reads it). */
void api_routes_print(FILE *);

/* ---- problems (RFC 7807) ---- */

enum api_prob {
	API_PROB_NONE = 0,
	API_PROB_MALFORMED_JSON,  /* 400: not JSON, too deep, bad UTF-8 */
	API_PROB_DUPLICATE_KEY,	  /* 400: a member name appears twice */
	API_PROB_INVALID_REQUEST, /* 400: wrong type, missing or bad value */
	API_PROB_UNKNOWN_FIELD,	  /* 400: a member the operation does not know */
	API_PROB_INVALID_QUERY,	  /* 400: bad or unknown query parameter */
	API_PROB_UNAUTHORIZED,	  /* 401: no key, malformed key, unknown key, wrong secret */
	API_PROB_KEY_DISABLED,	  /* 403 */
	API_PROB_NOT_FOUND,	  /* 404: route, or a certificate the organization cannot see */
	API_PROB_METHOD,	  /* 405 */
	API_PROB_NOT_ACCEPTABLE,  /* 406: Accept names no representation we have */
	API_PROB_ALREADY_REVOKED, /* 409 */
	API_PROB_IDEM_BUSY,	  /* 409: the first request with this Idempotency-Key still runs */
	API_PROB_TOO_LARGE,	  /* 413 */
	API_PROB_MEDIA_TYPE,	  /* 415: POST without Content-Type: application/json */
	API_PROB_PROFILE,	  /* 422: profile unknown or not issuable through the API */
	API_PROB_BAD_CSR,	  /* 422: the CSR or its key is refused */
	API_PROB_DOMAIN,      /* 422: a name the organization may not certify (its name policy) */
	API_PROB_LINT,	      /* 422: the certificate would break a rule (lint-before-sign) */
	API_PROB_REFUSED,     /* 422: any other refusal of the CA */
	API_PROB_IDEM_REUSED, /* 422: an Idempotency-Key used with another request */
	API_PROB_INTERNAL,    /* 500 */
	API_PROB_UNAVAILABLE, /* 503: store or signer unavailable */
	API_PROB_OUTCOME_UNKNOWN, /* 503: committed but not confirmed durable (ERR_UNKNOWN) */
	API_PROB__MAX,
};

#define API_PROB_URN "urn:shomei:problem:"

struct api_prob_info {
	int status;
	const char *slug; /* type is API_PROB_URN slug */
	const char *title;
};

const struct api_prob_info *api_prob_info(enum api_prob);

/* An error for the client: its kind and a detail message (first set wins, like struct err). */
struct api_error {
	enum api_prob prob;
	char detail[512];
};

void api_error_clear(struct api_error *);
int api_fail(struct api_error *, enum api_prob, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- request bodies and query parameters (req.c; no store, no signer) ---- */

#define API_JSON_MAX (256 * 1024) /* a CSR is at most 64 KiB; 413 above this */
#define API_JSON_MAX_DEPTH 8	  /* every request body is flat; deeper nesting is refused */
#define API_PROFILE_MAX 32
#define API_DAYS_MAX 36500L
#define API_SUBJECT_MAX 256
#define API_LIST_DEFAULT 100
#define API_LIST_MAX 1000
#define API_OFFSET_MAX 1000000000L

/* Profiles that an organization may request through the API (end-entity ones only). */
int api_profile_allowed(const char *);

/*
 * POST /certificates body: {"profile": "server", "csr": "-----BEGIN ...", "days": 90}.  Owned
 * strings; api_issue_req_clear() frees them.
 */
struct api_issue_req {
	char *profile;
	char *csr;
	size_t csrlen;
	long days; /* 0: the profile's default */
};

int api_issue_req_parse(const unsigned char *, size_t, struct api_issue_req *, struct api_error *);
void api_issue_req_clear(struct api_issue_req *);

/* POST /certificates/{serial}/revoke body: {"reason": "keyCompromise", "invalidity_date"?}. */
struct api_revoke_req {
	int reason;	   /* RFC 5280 CRLReason code; unspecified (0) when absent */
	time_t invalidity; /* 0: not given */
};

int api_revoke_req_parse(const unsigned char *, size_t, struct api_revoke_req *,
			 struct api_error *);

/* GET /certificates query. */
enum api_status_filter {
	API_STATUS_ANY = -1,
	API_STATUS_VALID = 0, /* not revoked and not expired */
	API_STATUS_REVOKED = 1,
	API_STATUS_EXPIRED = 2, /* not revoked, past notAfter */
};

struct api_list_params {
	int status;		/* enum api_status_filter */
	time_t expiring_before; /* 0 any */
	char subject[API_SUBJECT_MAX + 1];
	int have_subject;
	size_t limit;
	size_t offset;
	unsigned seen; /* bit per parameter: each may be given once */
};

void api_list_params_init(struct api_list_params *);
/* One query parameter; unknown names, repeats and bad values are API_PROB_INVALID_QUERY. */
int api_list_param_set(struct api_list_params *, const char *key, const char *value,
		       struct api_error *);

/* Representations of a certificate. */
enum api_format {
	API_FMT_NONE = 0, /* nothing acceptable (406) */
	API_FMT_JSON,
	API_FMT_PEM,
	API_FMT_DER,
};

/* ?format=json|pem|der (NULL: not given) and the Accept header (NULL: absent) decide. */
enum api_format api_format_pick(const char *format, const char *accept, struct api_error *);

/* ---- API keys as HTTP carries them (apikey.c; the keys themselves are the RA's) ---- */

/*
 * The token of an "Authorization: Bearer <token>" header value (scheme case-insensitive);
 * *len set.  NULL when the header is not a Bearer credential.
 */
const char *api_bearer_token(const char *header, size_t *len);

/*
 * Checks an Authorization header value (NULL: absent) with ra_apikey_check(): a header that
 * is not a Bearer credential is RA_APIKEY_BAD.  On RA_APIKEY_OK *key is filled.
 */
enum ra_apikey_auth api_key_check(struct store *, const char *authorization, struct ra_apikey *key,
				  struct err *);

#endif
