/*
 * api: routes and handlers of /api/v1.  A request is matched against api_routes (404 / 405
 * with Allow), authenticated (401 with WWW-Authenticate: Bearer, 403 for a disabled key),
 * its body checked for JSON (415), parsed by req.c (400 / 413 / 422), and handled within the
 * key's organization: a certificate of another organization does not exist for it (404).
 * Every error is an RFC 7807 problem whose type is API_PROB_URN + a slug (docs/openapi.yaml).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "api/api.h"
#include "ca/ca.h"
#include "ra/ra.h"
#include "util/timefmt.h"

#define API_PREFIX "/api/v1"
#define API_SEGMENTS_MAX 8

/* One request being handled. */
struct api_ctx {
	struct http_req *r;
	struct ca *ca;
	struct store *st;
	struct ra_apikey key;
	char actor[96];
	const char *param; /* the {serial} segment, when the route has one */
	size_t paramlen;
	struct ra_idem *idem; /* the request's Idempotency-Key claim, or NULL */
};

typedef int api_handler(struct api_ctx *);

static int api_cert_issue(struct api_ctx *);
static int api_cert_list(struct api_ctx *);
static int api_cert_get(struct api_ctx *);
static int api_cert_revoke(struct api_ctx *);
static int api_idem_replay_bound(struct api_ctx *, const struct ra_idem *);

const struct api_route api_routes[] = {
    {"POST", API_PREFIX "/certificates", "issueCertificate"},
    {"GET", API_PREFIX "/certificates", "listCertificates"},
    {"GET", API_PREFIX "/certificates/{serial}", "getCertificate"},
    {"POST", API_PREFIX "/certificates/{serial}/revoke", "revokeCertificate"},
    {NULL, NULL, NULL},
};

/* Handlers, in the order of api_routes. */
static api_handler *const api_handlers[] = {
    api_cert_issue,
    api_cert_list,
    api_cert_get,
    api_cert_revoke,
};

void
api_routes_print(FILE *f)
{
	const struct api_route *rt;

	for (rt = api_routes; rt->method != NULL; rt++)
		fprintf(f, "%s %s %s\n", rt->method, rt->pattern, rt->op);
}

static pthread_once_t api_metrics_once = PTHREAD_ONCE_INIT;

static void
api_metrics_init(void)
{
	metrics_help("shomei_certificates_issued_total", "counter",
		     "certificates issued through the API, by profile");
	metrics_help("shomei_certificates_revoked_total", "counter",
		     "certificates revoked through the API, by reason");
}

/* ---- replies ---- */

/* A problem document, with extra headers (NULL-terminated name, value pairs) or NULL. */
static int
api_problem_hdrs(struct api_ctx *c, enum api_prob p, const char *detail, const char *const *hdrs)
{
	const struct api_prob_info *pi = api_prob_info(p);
	char type[96];
	json_t *j = NULL;
	char *s = NULL;
	int rc = -1;

	snprintf(type, sizeof(type), "%s%s", API_PROB_URN, pi->slug);
	j = json_pack("{s:s, s:s, s:i}", "type", type, "title", pi->title, "status", pi->status);
	if (j == NULL)
		goto out;
	if (detail != NULL && *detail != '\0' &&
	    json_object_set_new(j, "detail", json_string(detail)) == -1)
		goto out;
	if ((s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII)) == NULL)
		goto out;
	rc = http_reply_hdrs(c->r, pi->status, "application/problem+json", s, strlen(s), hdrs);
out:
	free(s);
	json_decref(j);
	return rc;
}

static int
api_problem(struct api_ctx *c, enum api_prob p, const char *detail)
{
	return api_problem_hdrs(c, p, detail, NULL);
}

static int
api_problem_err(struct api_ctx *c, const struct api_error *ae)
{
	return api_problem(c, ae->prob, ae->detail);
}

/*
 * A 500/503: the message goes to the log, the client gets no internals.  A 503 (store or
 * signer unavailable, e.g. a hung signer being replaced) says when to try again.
 */
static int
api_internal(struct api_ctx *c, enum api_prob p, const char *what, const struct err *e)
{
	static const char *const retry[] = {"Retry-After", "5", NULL};

	log_warn("api: %s: %s", what, e->msg);
	if (p == API_PROB_UNAVAILABLE)
		return api_problem_hdrs(c, p, "the CA cannot answer right now; try again shortly",
					retry);
	return api_problem(c, p, "the request could not be completed; the server log has details");
}

/* A JSON body (takes the reference to j). */
static int
api_json_reply(struct api_ctx *c, int status, json_t *j, const char *const *hdrs)
{
	char *s = NULL;
	int rc = -1;

	if (j == NULL || (s = json_dumps(j, JSON_INDENT(2))) == NULL) {
		struct err e;

		err_clear(&e);
		err_set(&e, ERR_INTERNAL, "out of memory building JSON");
		rc = api_internal(c, API_PROB_INTERNAL, "reply", &e);
		goto out;
	}
	/* an Idempotency-Key's answer is kept before it is sent: a retry after a lost answer
	 * gets this one again */
	if (c->idem != NULL && c->idem->active) {
		struct err e;
		const char *loc = NULL;

		for (size_t i = 0; hdrs != NULL && hdrs[i] != NULL; i += 2)
			if (strcmp(hdrs[i], "Location") == 0)
				loc = hdrs[i + 1];
		err_clear(&e);
		if (ra_idem_finish(c->st, c->idem, status, loc, s, strlen(s), &e) == -1)
			log_warn("api: keeping the answer of an Idempotency-Key: %s", e.msg);
	}
	rc = http_reply_hdrs(c->r, status, "application/json", s, strlen(s), hdrs);
out:
	free(s);
	json_decref(j);
	return rc;
}

/*
 * A POST with an Idempotency-Key: 1 when the request is to run (c->idem set), else 0 after
 * answering (the kept answer again, or why not), -1 when nothing could be sent.
 */
static int
api_idem_begin(struct api_ctx *c, const char *key, struct ra_idem *idem, int *rc)
{
	static const char *const busy[] = {"Retry-After", "1", NULL};
	struct err e;

	err_clear(&e);
	switch (ra_idem_begin(c->st, c->key.id, key, c->r->method, c->r->url, c->r->body,
			      c->r->bodylen, util_now(), idem, &e)) {
	case RA_IDEM_RUN:
		c->idem = idem;
		return 1;
	case RA_IDEM_REPLAY: {
		const char *h[] = {"Idempotent-Replayed", "true", NULL, NULL, NULL};

		if (idem->stored.body == NULL) { /* bound to what it created: render it again */
			*rc = api_idem_replay_bound(c, idem);
			return 0;
		}

		if (idem->stored.location != NULL) {
			h[2] = "Location";
			h[3] = idem->stored.location;
		}
		*rc = http_reply_hdrs(c->r, idem->stored.status, "application/json",
				      idem->stored.body, idem->stored.bodylen, h);
		return 0;
	}
	case RA_IDEM_MISMATCH:
		*rc = api_problem(c, API_PROB_IDEM_REUSED,
				  "this Idempotency-Key was used with another request");
		return 0;
	case RA_IDEM_BUSY:
		*rc = api_problem_hdrs(
		    c, API_PROB_IDEM_BUSY,
		    "the first request with this Idempotency-Key is still running", busy);
		return 0;
	case RA_IDEM_BAD_KEY:
		*rc = api_problem(c, API_PROB_INVALID_REQUEST,
				  "Idempotency-Key must be 1 to 255 printable characters");
		return 0;
	default:
		*rc = api_internal(c, API_PROB_UNAVAILABLE, "Idempotency-Key", &e);
		return 0;
	}
}

/* ---- representation of a certificate ---- */

/* PEM of DER bytes under the CERTIFICATE label; caller frees.  NULL on failure. */
static char *
api_pem(const unsigned char *der, size_t len)
{
	BIO *b = NULL;
	char *out = NULL, *p;
	long n;

	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio(b, PEM_STRING_X509, "", der, (long)len) <= 0)
		goto out;
	if ((n = BIO_get_mem_data(b, &p)) <= 0)
		goto out;
	out = xstrndup(p, (size_t)n);
out:
	BIO_free(b);
	return out;
}

/* PEM of an X509 object; caller frees. */
static char *
api_pem_x509(X509 *x)
{
	unsigned char *der = NULL;
	char *out = NULL;
	int n;

	if (x != NULL && (n = i2d_X509(x, &der)) > 0)
		out = api_pem(der, (size_t)n);
	OPENSSL_free(der);
	return out;
}

/* The JSON object of a certificate (with "certificate" and "chain" when rec->der). */
static json_t *
api_cert_json(struct api_ctx *c, const struct ra_cert *rec)
{
	char nb[32], na[32], ra[32];
	char *pem = NULL, *chain = NULL;
	json_t *j;
	int bad = 0;

	timefmt_rfc3339(rec->not_before, nb, sizeof(nb));
	timefmt_rfc3339(rec->not_after, na, sizeof(na));
	j = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:s}", "serial", rec->serial, "profile",
		      rec->profile, "subject", rec->subject, "sans", rec->sans, "organization",
		      rec->org_code, "not_before", nb, "not_after", na, "status",
		      ra_cert_status_name(rec->status));
	if (j == NULL)
		goto out;
	if (rec->status == RA_CERT_REVOKED) {
		timefmt_rfc3339(rec->revoked_at, ra, sizeof(ra));
		bad |= json_object_set_new(j, "revoked_at", json_string(ra));
		bad |= json_object_set_new(
		    j, "revocation_reason",
		    json_string(ca_reason_name(rec->reason < 0 ? 0 : rec->reason)));
		if (rec->invalidity_date != 0) {
			timefmt_rfc3339(rec->invalidity_date, ra, sizeof(ra));
			bad |= json_object_set_new(j, "invalidity_date", json_string(ra));
		}
	}
	if (rec->der != NULL) {
		pem = api_pem(rec->der, rec->derlen);
		chain = api_pem_x509(ca_issuing_of_der(c->ca, rec->der, rec->derlen)->cert);
		if (pem == NULL || chain == NULL) {
			bad = 1;
			goto out;
		}
		bad |= json_object_set_new(j, "certificate", json_string(pem));
		bad |= json_object_set_new(j, "chain", json_string(chain));
	}
out:
	if (bad) {
		json_decref(j);
		j = NULL;
	}
	free(pem);
	free(chain);
	return j;
}

/*
 * The {serial} segment as a serial: 1 to 40 hex digits into ser (STORE_SERIAL_MAX bytes).
 * Returns 0, or -1 after answering 404.
 */
static int
api_serial(struct api_ctx *c, char ser[STORE_SERIAL_MAX])
{
	size_t i;
	int rc = -1;

	for (i = 0; i < c->paramlen; i++) {
		char ch = c->param[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F')))
			break;
	}
	if (c->paramlen == 0 || c->paramlen >= STORE_SERIAL_MAX || i != c->paramlen) {
		api_problem(c, API_PROB_NOT_FOUND, "a certificate serial is 1 to 40 hex digits");
		goto out;
	}
	memcpy(ser, c->param, c->paramlen);
	ser[c->paramlen] = '\0';
	rc = 0;
out:
	return rc;
}

/*
 * The certificate of the {serial} segment if the key's organization can see it (the RA
 * decides), with its DER.  Returns 0, or -1 after answering (404 or 503).
 */
static int
api_cert_load(struct api_ctx *c, struct ra_cert *rec)
{
	char ser[STORE_SERIAL_MAX];
	struct err e;
	int rc = -1;

	memset(rec, 0, sizeof(*rec));
	err_clear(&e);
	if (api_serial(c, ser) == -1)
		goto out;
	if (ra_cert_get(c->ca, c->st, c->key.org_id, ser, RA_CERT_WITH_DER, rec, &e) == -1) {
		if (e.code == ERR_NOTFOUND)
			api_problem(c, API_PROB_NOT_FOUND, "no certificate with this serial");
		else
			api_internal(c, API_PROB_UNAVAILABLE, "get certificate", &e);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* ---- handlers ---- */

/* Maps a refusal of ra_issue() to its problem type by its kind (enum ca_refusal). */
static enum api_prob
api_issue_prob(const struct err *e)
{
	if (e->code != ERR_REFUSED)
		return e->code == ERR_INTERNAL ? API_PROB_UNAVAILABLE : API_PROB_INTERNAL;
	switch (e->kind) {
	case CA_REFUSAL_CSR:
	case CA_REFUSAL_KEY:
	case CA_REFUSAL_SUBJECT:
		return API_PROB_BAD_CSR;
	case CA_REFUSAL_LINT:
	case CA_REFUSAL_VALIDITY:
		return API_PROB_LINT;
	case CA_REFUSAL_NAME_POLICY:
		return API_PROB_DOMAIN;
	case CA_REFUSAL_PROFILE:
		return API_PROB_PROFILE;
	default:
		return API_PROB_REFUSED;
	}
}

/* The Location of certificate serial (API_PREFIX/certificates/SERIAL) into loc. */
static void
api_cert_location(char *loc, size_t n, const char *serial)
{
	snprintf(loc, n, API_PREFIX "/certificates/%s", serial);
}

/*
 * An Idempotency-Key's claim bound to the certificate in the certificate's own transaction
 * (write_fn of the issuance): once that commits, a retry gets this certificate, whatever
 * happens to this request afterwards (ERR_UNKNOWN, a crash before the answer is kept).
 */
static int
api_issue_bind(struct store *st, const struct ca_issued *is, void *arg, struct err *e)
{
	struct api_ctx *c = arg;
	char loc[128];

	api_cert_location(loc, sizeof(loc), is->serial);
	return ra_idem_bind(st, c->idem, 201, loc, e);
}

/*
 * A retry of an issuance whose claim was bound to its certificate but whose answer was never
 * kept (its outcome was unknown, or its process died): the certificate, rendered again.
 */
static int
api_idem_replay_bound(struct api_ctx *c, const struct ra_idem *idem)
{
	const char *loc = idem->stored.location, *serial;
	const char *hdrs[] = {"Idempotent-Replayed", "true", "Location", loc, NULL};
	struct ra_cert rec;
	struct err e;
	int rc;

	memset(&rec, 0, sizeof(rec));
	err_clear(&e);
	if (loc == NULL || idem->stored.status != 201 ||
	    strncmp(loc, API_PREFIX "/certificates/", strlen(API_PREFIX "/certificates/")) != 0) {
		err_set(&e, ERR_INTERNAL, "Idempotency-Key: a kept answer without a certificate");
		return api_internal(c, API_PROB_INTERNAL, "replay", &e);
	}
	serial = loc + strlen(API_PREFIX "/certificates/");
	if (ra_cert_get(c->ca, c->st, c->key.org_id, serial, RA_CERT_WITH_DER, &rec, &e) == -1) {
		rc = api_internal(c, API_PROB_UNAVAILABLE, "replay", &e);
		goto out;
	}
	rc = api_json_reply(c, 201, api_cert_json(c, &rec), hdrs);
out:
	ra_cert_clear(&rec);
	return rc;
}

/* POST /certificates: issue from a CSR within the key's organization. */
static int
api_cert_issue(struct api_ctx *c)
{
	struct api_issue_req q;
	struct ra_issue_req req;
	struct ca_issued out;
	struct ra_cert rec;
	struct api_error ae;
	struct err e;
	char loc[128], labels[64];
	const char *hdrs[] = {"Location", loc, NULL};
	enum api_prob p;
	int rc = -1;

	memset(&out, 0, sizeof(out));
	memset(&rec, 0, sizeof(rec));
	api_error_clear(&ae);
	err_clear(&e);
	if (api_issue_req_parse(c->r->body, c->r->bodylen, &q, &ae) == -1) {
		rc = api_problem_err(c, &ae);
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.profile = q.profile;
	req.csr = (const unsigned char *)q.csr;
	req.csrlen = q.csrlen;
	req.days = q.days;
	req.org_code = c->key.org_code;
	req.actor = c->actor;
	if (c->idem != NULL && c->idem->active) {
		req.write_fn = api_issue_bind;
		req.arg = c;
		req.write_again = 1; /* the claim's binding: a store write, the same every run */
	}
	if (ra_issue(c->ca, c->st, &req, &out, &e) == -1) {
		if (e.code == ERR_UNKNOWN) {
			static const char *const retry[] = {"Retry-After", "5", NULL};

			/* stored, perhaps not durably: the claim is kept (bound to it) */
			if (c->idem != NULL)
				c->idem->active = 0;
			log_warn("api: issue: %s", e.msg);
			rc = api_problem_hdrs(
			    c, API_PROB_OUTCOME_UNKNOWN,
			    c->idem != NULL
				? "the certificate may have been issued: retry with the same "
				  "Idempotency-Key to get it (not a second one)"
				: "the certificate may have been issued: look for it with GET "
				  "/api/v1/certificates before you ask again",
			    retry);
			goto out;
		}
		p = api_issue_prob(&e);
		if (p == API_PROB_UNAVAILABLE || p == API_PROB_INTERNAL)
			rc = api_internal(c, p, "issue", &e);
		else
			rc = api_problem(c, p, e.msg);
		goto out;
	}
	snprintf(labels, sizeof(labels), "profile=\"%s\"", q.profile);
	metrics_count("shomei_certificates_issued_total", labels, 1);
	if (ra_cert_get(c->ca, c->st, c->key.org_id, out.serial, RA_CERT_WITH_DER, &rec, &e) ==
	    -1) {
		rc = api_internal(c, API_PROB_INTERNAL, "issue: read back", &e);
		goto out;
	}
	api_cert_location(loc, sizeof(loc), out.serial);
	rc = api_json_reply(c, 201, api_cert_json(c, &rec), hdrs);
out:
	api_issue_req_clear(&q);
	ca_issued_clear(&out);
	ra_cert_clear(&rec);
	return rc;
}

/* Collects the query parameters of a list request (libmicrohttpd iterator). */
struct api_query_walk {
	struct api_list_params *p;
	struct api_error *ae;
};

static enum MHD_Result
api_query_each(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct api_query_walk *w = cls;

	(void)kind;
	return api_list_param_set(w->p, key, value, w->ae) == 0 ? MHD_YES : MHD_NO;
}

/* GET /certificates: the organization's certificates, filtered and paged. */
static int
api_cert_list(struct api_ctx *c)
{
	struct api_list_params p;
	struct api_query_walk w;
	struct ra_cert_filter f;
	struct ra_cert *v = NULL;
	struct api_error ae;
	struct err e;
	json_t *j = NULL, *items = NULL, *it;
	size_t n = 0, i, shown;
	int rc = -1;

	api_list_params_init(&p);
	api_error_clear(&ae);
	err_clear(&e);
	w.p = &p;
	w.ae = &ae;
	MHD_get_connection_values(c->r->conn, MHD_GET_ARGUMENT_KIND, api_query_each, &w);
	if (ae.prob != API_PROB_NONE) {
		rc = api_problem_err(c, &ae);
		goto out;
	}
	ra_cert_filter_init(&f);
	f.expiring_before = p.expiring_before;
	f.subject = p.have_subject ? p.subject : NULL;
	switch (p.status) {
	case API_STATUS_VALID:
		f.status = RA_CERT_VALID;
		break;
	case API_STATUS_REVOKED:
		f.status = RA_CERT_REVOKED;
		break;
	case API_STATUS_EXPIRED:
		f.status = RA_CERT_EXPIRED;
		break;
	default:
		break;
	}
	f.limit = p.limit + 1; /* one more tells whether there is a next page */
	f.offset = p.offset;
	if (ra_cert_list(c->ca, c->st, c->key.org_id, &f, &v, &n, &e) == -1) {
		rc = api_internal(c, API_PROB_UNAVAILABLE, "list certificates", &e);
		goto out;
	}
	if ((items = json_array()) == NULL)
		goto oom;
	shown = n > p.limit ? p.limit : n;
	for (i = 0; i < shown; i++) {
		if ((it = api_cert_json(c, &v[i])) == NULL ||
		    json_array_append_new(items, it) == -1)
			goto oom;
	}
	j = json_pack("{s:o, s:I, s:I}", "items", items, "limit", (json_int_t)p.limit, "offset",
		      (json_int_t)p.offset);
	items = NULL;
	if (j == NULL)
		goto oom;
	if (n > p.limit &&
	    json_object_set_new(j, "next_offset", json_integer((json_int_t)(p.offset + p.limit))) ==
		-1)
		goto oom;
	rc = api_json_reply(c, 200, j, NULL);
	j = NULL;
	goto out;
oom:
	err_set(&e, ERR_INTERNAL, "out of memory building the list");
	rc = api_internal(c, API_PROB_INTERNAL, "list certificates", &e);
out:
	json_decref(items);
	json_decref(j);
	ra_cert_list_free(v, n);
	return rc;
}

/* GET /certificates/{serial}: JSON, PEM or DER as asked (?format= or Accept). */
static int
api_cert_get(struct api_ctx *c)
{
	struct ra_cert rec;
	struct api_error ae;
	enum api_format fmt;
	const char *format;
	char *pem = NULL;
	char disp[96];
	const char *hdrs[] = {"Content-Disposition", disp, "Vary", "Accept", NULL};
	int rc = -1;

	memset(&rec, 0, sizeof(rec));
	api_error_clear(&ae);
	format = http_query(c->r, "format");
	fmt = api_format_pick(format, http_header(c->r, "Accept"), &ae);
	if (fmt == API_FMT_NONE) {
		rc = api_problem_err(c, &ae);
		goto out;
	}
	if (api_cert_load(c, &rec) == -1) {
		rc = 0;
		goto out;
	}
	switch (fmt) {
	case API_FMT_DER:
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s.cer\"", rec.serial);
		rc = http_reply_hdrs(c->r, 200, "application/pkix-cert", rec.der, rec.derlen, hdrs);
		break;
	case API_FMT_PEM:
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s.pem\"", rec.serial);
		if ((pem = api_pem(rec.der, rec.derlen)) == NULL) {
			struct err e;

			err_clear(&e);
			err_set(&e, ERR_INTERNAL, "cannot encode %s as PEM", rec.serial);
			rc = api_internal(c, API_PROB_INTERNAL, "get certificate", &e);
			break;
		}
		rc = http_reply_hdrs(c->r, 200, "application/x-pem-file", pem, strlen(pem), hdrs);
		break;
	default:
		rc = api_json_reply(c, 200, api_cert_json(c, &rec), hdrs + 2);
		break;
	}
out:
	free(pem);
	ra_cert_clear(&rec);
	return rc;
}

/* POST /certificates/{serial}/revoke: revokes with a reason; 409 when already revoked. */
static int
api_cert_revoke(struct api_ctx *c)
{
	struct api_revoke_req q;
	struct ra_cert rec;
	struct api_error ae;
	struct err e;
	char serial[STORE_SERIAL_MAX], labels[64];
	int rc = -1;

	memset(&rec, 0, sizeof(rec));
	api_error_clear(&ae);
	err_clear(&e);
	if (api_revoke_req_parse(c->r->body, c->r->bodylen, &q, &ae) == -1) {
		rc = api_problem_err(c, &ae);
		goto out;
	}
	if (api_serial(c, serial) == -1) {
		rc = 0;
		goto out;
	}
	if (ra_cert_revoke(c->ca, c->st, c->key.org_id, serial, q.reason, q.invalidity, c->actor,
			   &rec, &e) == -1) {
		if (e.code == ERR_CONFLICT)
			rc = api_problem(c, API_PROB_ALREADY_REVOKED,
					 "the certificate is already revoked");
		else if (e.code == ERR_NOTFOUND)
			rc = api_problem(c, API_PROB_NOT_FOUND, "no certificate with this serial");
		else if (e.code == ERR_REFUSED)
			rc = api_problem(c, API_PROB_INVALID_REQUEST, e.msg);
		else
			rc = api_internal(c, API_PROB_UNAVAILABLE, "revoke", &e);
		goto out;
	}
	snprintf(labels, sizeof(labels), "reason=\"%s\"", ca_reason_name(q.reason));
	metrics_count("shomei_certificates_revoked_total", labels, 1);
	/* the answer to a revocation carries the status, not the certificate (rec has no DER) */
	rc = api_json_reply(c, 200, api_cert_json(c, &rec), NULL);
out:
	ra_cert_clear(&rec);
	return rc;
}

/* ---- dispatch ---- */

/* The end of the path segment at p. */
static const char *
api_seg_end(const char *p)
{
	while (*p != '\0' && *p != '/')
		p++;
	return p;
}

/*
 * Does url match pattern ("{x}" matches one non-empty segment)?  The {x} segment, if any, is
 * returned through param/paramlen.
 */
static int
api_match(const char *pattern, const char *url, const char **param, size_t *paramlen)
{
	const char *p = pattern, *u = url, *pe, *ue;

	*param = NULL;
	*paramlen = 0;
	while (*p != '\0' && *u != '\0') {
		if (*p != '/' || *u != '/')
			return 0;
		p++;
		u++;
		pe = api_seg_end(p);
		ue = api_seg_end(u);
		if (*p == '{') {
			if (ue == u)
				return 0;
			*param = u;
			*paramlen = (size_t)(ue - u);
		} else if (pe - p != ue - u || strncmp(p, u, (size_t)(pe - p)) != 0) {
			return 0;
		}
		p = pe;
		u = ue;
	}
	return *p == '\0' && *u == '\0';
}

/* Is the Content-Type application/json (parameters such as charset allowed)? */
static int
api_is_json(const char *ct)
{
	size_t n = sizeof("application/json") - 1;

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

int
api_http(struct http_req *r)
{
	static const char www_missing[] = "Bearer realm=\"shomei\"";
	static const char www_bad[] = "Bearer realm=\"shomei\", error=\"invalid_token\"";
	const struct api_route *rt;
	const char *method, *param = NULL, *www, *ikey;
	const char *hdrs[] = {NULL, NULL, NULL};
	struct ra_idem idem;
	struct api_ctx c;
	struct err e;
	char allow[64];
	size_t paramlen = 0, i;
	int rc = -1, found = -1, path_ok = 0;

	pthread_once(&api_metrics_once, api_metrics_init);
	memset(&c, 0, sizeof(c));
	memset(&idem, 0, sizeof(idem));
	err_clear(&e);
	c.r = r;
	c.ca = r->app;
	method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
	allow[0] = '\0';
	for (i = 0, rt = api_routes; rt->method != NULL; rt++, i++) {
		if (!api_match(rt->pattern, r->url, &param, &paramlen))
			continue;
		path_ok = 1;
		snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
			 allow[0] ? ", " : "", rt->method);
		if (strcmp(rt->method, method) == 0 && found < 0) {
			found = (int)i;
			c.param = param;
			c.paramlen = paramlen;
		}
	}
	if (found < 0 && !path_ok) {
		rc = api_problem(&c, API_PROB_NOT_FOUND,
				 "no such API resource; see the OpenAPI "
				 "document");
		goto out;
	}
	if (found < 0) {
		if (strstr(allow, "GET") != NULL)
			snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), ", HEAD");
		hdrs[0] = "Allow";
		hdrs[1] = allow;
		rc = api_problem_hdrs(&c, API_PROB_METHOD, NULL, hdrs);
		goto out;
	}
	if ((c.st = ca_thread_store(c.ca, &e)) == NULL) {
		rc = api_internal(&c, API_PROB_UNAVAILABLE, "store", &e);
		goto out;
	}
	switch (api_key_check(c.st, http_header(r, "Authorization"), &c.key, &e)) {
	case RA_APIKEY_OK:
		break;
	case RA_APIKEY_DISABLED:
		rc = api_problem(&c, API_PROB_KEY_DISABLED,
				 "this API key has been disabled (shomei apikey enable)");
		goto out;
	case RA_APIKEY_ERROR:
		rc = api_internal(&c, API_PROB_UNAVAILABLE, "API key", &e);
		goto out;
	default:
		www = http_header(r, "Authorization") == NULL ? www_missing : www_bad;
		hdrs[0] = "WWW-Authenticate";
		hdrs[1] = www;
		rc = api_problem_hdrs(&c, API_PROB_UNAUTHORIZED,
				      http_header(r, "Authorization") == NULL
					  ? "send Authorization: Bearer shk_<id>_<secret>"
					  : "the API key is malformed, unknown or wrong",
				      hdrs);
		goto out;
	}
	snprintf(c.actor, sizeof(c.actor), "api:%s:%s", c.key.org_code, c.key.id);
	if (strcmp(method, "POST") == 0 && !api_is_json(http_header(r, "Content-Type"))) {
		rc = api_problem(&c, API_PROB_MEDIA_TYPE, "send Content-Type: application/json");
		goto out;
	}
	if (strcmp(method, "POST") == 0 && (ikey = http_header(r, "Idempotency-Key")) != NULL &&
	    api_idem_begin(&c, ikey, &idem, &rc) == 0)
		goto out;
	rc = api_handlers[found](&c);
	/* no answer kept (a refusal, a failure): the key may be used again */
	if (c.idem != NULL && c.idem->active && ra_idem_abort(c.st, c.idem, &e) == -1)
		log_warn("api: giving up an Idempotency-Key: %s", e.msg);
out:
	ra_idem_clear(&idem);
	ra_apikey_clear(&c.key);
	return rc;
}

/* Everything under /api/v1/, any method: api_http routes it on (api_routes). */
const struct http_route api_http_routes[] = {
    {NULL, "/api/v1/", api_http, API_HTTP_BODY_MAX, HTTP_KIND_API, "api", 0, 0},
    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
};
