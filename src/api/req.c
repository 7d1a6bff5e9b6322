/*
 * req: the API's untrusted inputs — JSON request bodies, query parameters, the Accept header,
 * RFC 3339 times — turned into typed requests or a typed problem.  No store, no signer: the
 * unit tests and tests/fuzz/fuzz_api.c drive these functions directly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api/api.h"
#include "ca/ca.h"
#include "util/accept.h"
#include "util/sjson.h"
#include "util/timefmt.h"

static const struct api_prob_info api_probs[API_PROB__MAX] = {
    [API_PROB_NONE] = {500, "internal", "Internal error"},
    [API_PROB_MALFORMED_JSON] = {400, "malformed-json", "Request body is not valid JSON"},
    [API_PROB_DUPLICATE_KEY] = {400, "duplicate-key", "Duplicate member in JSON object"},
    [API_PROB_INVALID_REQUEST] = {400, "invalid-request", "Invalid request"},
    [API_PROB_UNKNOWN_FIELD] = {400, "unknown-field", "Unknown member in request"},
    [API_PROB_INVALID_QUERY] = {400, "invalid-query", "Invalid query parameter"},
    [API_PROB_UNAUTHORIZED] = {401, "unauthorized", "Missing or invalid API key"},
    [API_PROB_KEY_DISABLED] = {403, "key-disabled", "API key is disabled"},
    [API_PROB_NOT_FOUND] = {404, "not-found", "Not found"},
    [API_PROB_METHOD] = {405, "method-not-allowed", "Method not allowed"},
    [API_PROB_NOT_ACCEPTABLE] = {406, "not-acceptable", "No acceptable representation"},
    [API_PROB_ALREADY_REVOKED] = {409, "already-revoked", "Certificate already revoked"},
    [API_PROB_IDEM_BUSY] = {409, "idempotency-key-in-use",
			    "A request with this Idempotency-Key is still running"},
    [API_PROB_IDEM_REUSED] = {422, "idempotency-key-reused",
			      "Idempotency-Key already used with another request"},
    [API_PROB_TOO_LARGE] = {413, "too-large", "Request body too large"},
    [API_PROB_MEDIA_TYPE] = {415, "unsupported-media-type",
			     "Request body must be application/json"},
    [API_PROB_PROFILE] = {422, "profile-not-allowed", "Profile not available"},
    [API_PROB_BAD_CSR] = {422, "bad-csr", "Certificate signing request refused"},
    [API_PROB_DOMAIN] = {422, "domain-not-allowed",
			 "Name outside what the organization may certify"},
    [API_PROB_LINT] = {422, "lint-refused", "Certificate would violate a rule"},
    [API_PROB_REFUSED] = {422, "refused", "Request refused"},
    [API_PROB_INTERNAL] = {500, "internal", "Internal error"},
    [API_PROB_UNAVAILABLE] = {503, "unavailable", "Service temporarily unavailable"},
    [API_PROB_OUTCOME_UNKNOWN] = {503, "outcome-unknown", "Outcome unknown"},
};

const struct api_prob_info *
api_prob_info(enum api_prob p)
{
	if ((int)p <= 0 || p >= API_PROB__MAX)
		p = API_PROB_INTERNAL;
	return &api_probs[p];
}

void
api_error_clear(struct api_error *ae)
{
	ae->prob = API_PROB_NONE;
	ae->detail[0] = '\0';
}

int
api_fail(struct api_error *ae, enum api_prob p, const char *fmt, ...)
{
	va_list ap;

	if (ae->prob != API_PROB_NONE)
		return -1;
	ae->prob = p;
	va_start(ap, fmt);
	vsnprintf(ae->detail, sizeof(ae->detail), fmt, ap);
	va_end(ap);
	return -1;
}

/* Untrusted text made printable for a detail message. */
static const char *
req_esc(char *dst, size_t n, const char *s)
{
	return log_escape(dst, n, s, strlen(s));
}

int
api_profile_allowed(const char *name)
{
	static const char *const allowed[] = {"server", "client", "codesign", NULL};
	size_t i;

	for (i = 0; allowed[i] != NULL; i++)
		if (strcmp(name, allowed[i]) == 0)
			return 1;
	return 0;
}

#define REQ_WHO "request body"

/* The problem of a refusal by src/util/sjson. */
static int
req_sjson_fail(struct api_error *ae, const struct err *e)
{
	static const enum api_prob probs[SJSON_FAIL__MAX] = {
	    [SJSON_TOO_LARGE] = API_PROB_TOO_LARGE,
	    [SJSON_SYNTAX] = API_PROB_MALFORMED_JSON,
	    [SJSON_TOO_DEEP] = API_PROB_MALFORMED_JSON,
	    [SJSON_DUPLICATE] = API_PROB_DUPLICATE_KEY,
	    [SJSON_NOT_OBJECT] = API_PROB_INVALID_REQUEST,
	    [SJSON_UNKNOWN] = API_PROB_UNKNOWN_FIELD,
	    [SJSON_TYPE] = API_PROB_INVALID_REQUEST,
	    [SJSON_MISSING] = API_PROB_INVALID_REQUEST,
	    [SJSON_RANGE] = API_PROB_INVALID_REQUEST,
	};
	enum api_prob p = API_PROB_INTERNAL;

	if (e->kind > 0 && e->kind < SJSON_FAIL__MAX && probs[e->kind] != API_PROB_NONE)
		p = probs[e->kind];
	return api_fail(ae, p, "%s", e->msg);
}

/*
 * Parses a request body that must be one JSON object with members from known only; caller
 * json_decref()s.
 */
static json_t *
req_json_load(const unsigned char *body, size_t len, const char *const *known, struct api_error *ae)
{
	struct err e;
	json_t *j;

	err_clear(&e);
	if ((j = sjson_load_object(body, len, API_JSON_MAX, API_JSON_MAX_DEPTH, REQ_WHO, &e)) ==
		NULL ||
	    sjson_known(j, known, REQ_WHO, &e) == -1) {
		req_sjson_fail(ae, &e);
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* An optional string member: NULL when missing; -1 on wrong type. */
static int
req_string(json_t *obj, const char *name, const char **out, size_t *len, struct api_error *ae)
{
	struct err e;

	err_clear(&e);
	if (sjson_string(obj, name, 0, out, len, REQ_WHO, &e) == -1)
		return req_sjson_fail(ae, &e);
	return 0;
}

void
api_issue_req_clear(struct api_issue_req *q)
{
	if (q == NULL)
		return;
	free(q->profile);
	free(q->csr);
	memset(q, 0, sizeof(*q));
}

int
api_issue_req_parse(const unsigned char *body, size_t len, struct api_issue_req *q,
		    struct api_error *ae)
{
	static const char *const known[] = {"profile", "csr", "days", NULL};
	const char *profile, *csr;
	size_t plen, clen;
	json_t *j = NULL;
	long long days = 0;
	struct err e;
	char esc[96];
	int rc = -1;

	memset(q, 0, sizeof(*q));
	if ((j = req_json_load(body, len, known, ae)) == NULL)
		goto out;
	if (req_string(j, "profile", &profile, &plen, ae) == -1 ||
	    req_string(j, "csr", &csr, &clen, ae) == -1)
		goto out;
	if (profile == NULL || plen == 0 || plen > API_PROFILE_MAX) {
		api_fail(ae, API_PROB_INVALID_REQUEST,
			 "\"profile\" is required (1 to %d characters)", API_PROFILE_MAX);
		goto out;
	}
	if (strlen(profile) != plen || !api_profile_allowed(profile)) {
		api_fail(ae, API_PROB_PROFILE,
			 "profile \"%s\" cannot be requested through the API (server, client, "
			 "codesign)",
			 req_esc(esc, sizeof(esc), profile));
		goto out;
	}
	if (csr == NULL || clen == 0) {
		api_fail(ae, API_PROB_INVALID_REQUEST,
			 "\"csr\" is required: a PKCS #10 request in PEM");
		goto out;
	}
	if (clen > X509_CSR_MAX) {
		api_fail(ae, API_PROB_BAD_CSR, "csr: %zu bytes exceed the limit of %d", clen,
			 X509_CSR_MAX);
		goto out;
	}
	err_clear(&e);
	if (sjson_int(j, "days", 0, 1, API_DAYS_MAX, &days, REQ_WHO, &e) == -1) {
		req_sjson_fail(ae, &e);
		goto out;
	}
	q->days = (long)days;
	q->profile = xstrndup(profile, plen);
	q->csr = xmalloc(clen);
	memcpy(q->csr, csr, clen);
	q->csrlen = clen;
	rc = 0;
out:
	json_decref(j);
	if (rc == -1)
		api_issue_req_clear(q);
	return rc;
}

/* Reasons a subscriber may give: not certificateHold (6), removeFromCRL (8) or 7 (unused). */
static int
req_reason_ok(int r)
{
	return r >= 0 && r <= 10 && r != 6 && r != 7 && r != 8;
}

int
api_revoke_req_parse(const unsigned char *body, size_t len, struct api_revoke_req *q,
		     struct api_error *ae)
{
	static const char *const known[] = {"reason", "invalidity_date", NULL};
	const char *reason, *inval;
	size_t rlen, ilen;
	json_t *j = NULL;
	char esc[96];
	int rc = -1, code = 0;

	memset(q, 0, sizeof(*q));
	if ((j = req_json_load(body, len, known, ae)) == NULL)
		goto out;
	if (req_string(j, "reason", &reason, &rlen, ae) == -1 ||
	    req_string(j, "invalidity_date", &inval, &ilen, ae) == -1)
		goto out;
	if (reason != NULL) {
		code = strlen(reason) == rlen ? ca_reason_parse(reason) : -1;
		if (!req_reason_ok(code)) {
			api_fail(ae, API_PROB_INVALID_REQUEST,
				 "\"reason\" \"%s\": RFC 5280 5.3.1: must be one of unspecified, "
				 "keyCompromise, cACompromise, affiliationChanged, superseded, "
				 "cessationOfOperation, privilegeWithdrawn, aACompromise",
				 req_esc(esc, sizeof(esc), reason));
			goto out;
		}
	}
	if (inval != NULL &&
	    (timefmt_rfc3339_parse(inval, ilen, &q->invalidity) == -1 || q->invalidity <= 0)) {
		api_fail(ae, API_PROB_INVALID_REQUEST,
			 "\"invalidity_date\" \"%s\" is not an RFC 3339 date-time after 1970",
			 req_esc(esc, sizeof(esc), inval));
		goto out;
	}
	q->reason = code;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* ---- list query ---- */

void
api_list_params_init(struct api_list_params *p)
{
	memset(p, 0, sizeof(*p));
	p->status = API_STATUS_ANY;
	p->limit = API_LIST_DEFAULT;
}

int
api_list_param_set(struct api_list_params *p, const char *key, const char *value,
		   struct api_error *ae)
{
	static const char *const names[] = {"status", "expiring_before", "subject",
					    "limit",  "offset",		 NULL};
	char esc[96], vesc[96];
	long n;
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(key, names[i]) == 0)
			break;
	if (names[i] == NULL)
		return api_fail(ae, API_PROB_INVALID_QUERY,
				"unknown query parameter \"%s\" (status, expiring_before, subject, "
				"limit, offset)",
				req_esc(esc, sizeof(esc), key));
	if (p->seen & (1u << i))
		return api_fail(ae, API_PROB_INVALID_QUERY, "query parameter \"%s\" given twice",
				key);
	p->seen |= 1u << i;
	if (value == NULL)
		value = "";
	req_esc(vesc, sizeof(vesc), value);
	switch (i) {
	case 0:
		if (strcmp(value, "valid") == 0)
			p->status = API_STATUS_VALID;
		else if (strcmp(value, "revoked") == 0)
			p->status = API_STATUS_REVOKED;
		else if (strcmp(value, "expired") == 0)
			p->status = API_STATUS_EXPIRED;
		else if (strcmp(value, "any") == 0)
			p->status = API_STATUS_ANY;
		else
			return api_fail(ae, API_PROB_INVALID_QUERY,
					"status \"%s\": valid, revoked, expired or any", vesc);
		break;
	case 1:
		if (timefmt_rfc3339_parse(value, strlen(value), &p->expiring_before) == -1 ||
		    p->expiring_before <= 0)
			return api_fail(ae, API_PROB_INVALID_QUERY,
					"expiring_before \"%s\" is not an RFC 3339 date-time after "
					"1970",
					vesc);
		break;
	case 2:
		if (*value == '\0' || strlen(value) > API_SUBJECT_MAX)
			return api_fail(ae, API_PROB_INVALID_QUERY, "subject must be 1 to %d bytes",
					API_SUBJECT_MAX);
		snprintf(p->subject, sizeof(p->subject), "%s", value);
		p->have_subject = 1;
		break;
	case 3:
		if (util_parse_long(value, 1, API_LIST_MAX, &n) == -1)
			return api_fail(ae, API_PROB_INVALID_QUERY,
					"limit \"%s\" is not an integer from 1 to %d", vesc,
					API_LIST_MAX);
		p->limit = (size_t)n;
		break;
	default:
		if (util_parse_long(value, 0, API_OFFSET_MAX, &n) == -1)
			return api_fail(ae, API_PROB_INVALID_QUERY,
					"offset \"%s\" is not an integer from 0 to %ld", vesc,
					API_OFFSET_MAX);
		p->offset = (size_t)n;
		break;
	}
	return 0;
}

/* ---- representations ---- */

enum api_format
api_format_pick(const char *format, const char *accept, struct api_error *ae)
{
	/* in our order of preference, for when Accept ranks them equal (e.g. any type) */
	static const char *const types[] = {"application/json", "application/x-pem-file",
					    "application/pem-certificate-chain",
					    "application/pkix-cert"};
	static const enum api_format formats[] = {API_FMT_JSON, API_FMT_PEM, API_FMT_PEM,
						  API_FMT_DER};
	char esc[96];
	int i;

	if (format != NULL) {
		if (strcmp(format, "json") == 0)
			return API_FMT_JSON;
		if (strcmp(format, "pem") == 0)
			return API_FMT_PEM;
		if (strcmp(format, "der") == 0)
			return API_FMT_DER;
		api_fail(ae, API_PROB_INVALID_QUERY, "format \"%s\": json, pem or der",
			 req_esc(esc, sizeof(esc), format));
		return API_FMT_NONE;
	}
	if ((i = accept_pick(accept, types, sizeof(types) / sizeof(types[0]))) == -1) {
		api_fail(ae, API_PROB_NOT_ACCEPTABLE,
			 "Accept: application/json, application/x-pem-file or "
			 "application/pkix-cert");
		return API_FMT_NONE;
	}
	return formats[i];
}
