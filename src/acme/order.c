/*
 * order: newOrder (RFC 8555 7.4), the order URL, authorizations (7.5), challenges (7.5.1;
 * http-01, dns-01, tls-alpn-01 of 8.3, 8.4, RFC 8737), finalize (7.4) and the certificate (7.4.2).
 * The rules and the writes are src/ra/acmeorder.c's; validation runs off the request thread
 * (validate.c).
 *
 * URLs: /acme/order/<id>, /acme/order/<id>/finalize, /acme/authz/<id>, /acme/chall/<id> (one
 * challenge of an authorization: http-01, dns-01, tls-alpn-01), /acme/cert/<order id>.  Another
 * account's object does not exist for the caller (404 malformed, as an unknown id).
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "acme/dns.h"
#include "acme_int.h"
#include "util/b64.h"
#include "util/sjson.h"
#include "util/timefmt.h"

#define ACME_CSR_MAX 16384  /* bytes of a finalize CSR (DER) */
#define ACME_CERT_MAX 16384 /* bytes of a revokeCert certificate (DER) */

/* The id at the start of s into *id; *rest what follows it.  0, or -1 for no id. */
static int
acme_id_parse(const char *s, int64_t *id, const char **rest)
{
	size_t n = strspn(s, "0123456789");
	char d[20];
	long v;

	if (n == 0 || n > 18 || s[0] == '0')
		return -1;
	memcpy(d, s, n);
	d[n] = '\0';
	if (util_parse_long(d, 1, 1L << 62, &v) == -1)
		return -1;
	*id = v;
	*rest = s + n;
	return 0;
}

/* The URL of ACME_PREFIX "/<kind>/<id><tail>" into out. */
static void
acme_obj_url(char *out, size_t n, const char *kind, int64_t id, const char *tail)
{
	char path[96];

	snprintf(path, sizeof(path), ACME_PREFIX "/%s/%" PRId64 "%s", kind, id, tail);
	acme_url(out, n, path);
}

/* An RFC 3339 time as a JSON string. */
static json_t *
acme_time(time_t t)
{
	char s[40];

	if (timefmt_rfc3339(t, s, sizeof(s)) == -1)
		s[0] = '\0';
	return json_string(s);
}

/* The problem of an outcome of src/ra/acmeorder.c. */
static int
acme_order_problem(struct acme_ctx *c, enum ra_acme_outcome r, const struct err *e)
{
	switch (r) {
	case RA_ACME_NOT_FOUND:
		return acme_problem(c, 404, ACME_PROB_MALFORMED, e->msg, NULL);
	case RA_ACME_EAB_UNUSABLE:
		return acme_problem(c, 403, ACME_PROB_UNAUTHORIZED, e->msg, NULL);
	case RA_ACME_NOT_READY:
		return acme_problem(c, 403, ACME_PROB_ORDER_NOT_READY, e->msg, NULL);
	case RA_ACME_BAD_STATE:
		return acme_problem(c, 400, ACME_PROB_MALFORMED, e->msg, NULL);
	case RA_ACME_BAD_CSR:
	case RA_ACME_REFUSED:
		return acme_problem(c, 400, ACME_PROB_BAD_CSR, e->msg, NULL);
	case RA_ACME_BAD_PROFILE:
		return acme_problem(c, 400, ACME_PROB_INVALID_PROFILE, e->msg, NULL);
	case RA_ACME_ALREADY_REPLACED:
		return acme_problem(c, 409, ACME_PROB_ALREADY_REPLACED, e->msg, NULL);
	case RA_ACME_BAD_REPLACES:
		return acme_problem(c, 400, ACME_PROB_MALFORMED, e->msg, NULL);
	case RA_ACME_UNAUTHORIZED:
		return acme_problem(c, 403, ACME_PROB_UNAUTHORIZED, e->msg, NULL);
	default:
		return acme_internal(c, ra_acme_outcome_names[r < RA_ACME__MAX ? r : RA_ACME_ERROR],
				     e);
	}
}

/* The order object (7.1.3). */
static json_t *
acme_order_json(const struct ra_acme_order *o)
{
	char url[ACME_URL_MAX];
	json_t *j, *az = json_array(), *ids;

	ids = json_loads(o->o.identifiers, 0, NULL);
	for (size_t i = 0; i < o->naz; i++) {
		acme_obj_url(url, sizeof(url), "authz", o->az[i].id, "");
		json_array_append_new(az, json_string(url));
	}
	acme_obj_url(url, sizeof(url), "order", o->o.id, "/finalize");
	j = json_pack("{s:s, s:o, s:o, s:o, s:s}", "status", o->o.status, "expires",
		      acme_time(o->o.expires), "identifiers", ids != NULL ? ids : json_array(),
		      "authorizations", az, "finalize", url);
	if (j != NULL && o->o.profile != NULL)
		json_object_set_new(j, "profile", json_string(o->o.profile));
	if (j != NULL && o->o.replaces_certid != NULL)
		json_object_set_new(j, "replaces", json_string(o->o.replaces_certid));
	if (j != NULL && o->o.error != NULL) {
		json_t *err = json_loads(o->o.error, 0, NULL);

		if (err != NULL)
			json_object_set_new(j, "error", err);
	}
	if (j != NULL && strcmp(o->o.status, "valid") == 0) {
		acme_obj_url(url, sizeof(url), "cert", o->o.id, "");
		json_object_set_new(j, "certificate", json_string(url));
	}
	return j;
}

/* Answers with the order, its URL as Location. */
static int
acme_order_reply(struct acme_ctx *c, int status, const struct ra_acme_order *o)
{
	char loc[ACME_URL_MAX];
	const char *h[] = {"Location", loc, "Retry-After", "1", NULL};
	json_t *j;
	char *s;
	int rc;

	acme_obj_url(loc, sizeof(loc), "order", o->o.id, "");
	if (strcmp(o->o.status, "processing") != 0)
		return acme_json(c, status, acme_order_json(o), loc);
	/* RFC 8555 7.4: while the certificate is being issued, when to look again */
	j = acme_order_json(o);
	s = j != NULL ? json_dumps(j, JSON_INDENT(2)) : NULL;
	if (s != NULL) {
		rc = acme_send(c->r, status, "application/json", s, h);
	} else {
		struct err e;

		err_clear(&e);
		err_set(&e, ERR_INTERNAL, "out of memory building JSON");
		rc = acme_internal(c, "reply", &e);
	}
	free(s);
	json_decref(j);
	return rc;
}

/* The challenge object (8): its type, URL, token, status, validated, error. */
static json_t *
acme_chall_json(const struct store_acme_chall *ch)
{
	char url[ACME_URL_MAX];
	json_t *j, *err;

	acme_obj_url(url, sizeof(url), "chall", ch->id, "");
	j = json_pack("{s:s, s:s, s:s, s:s}", "type", ch->type, "url", url, "token", ch->token,
		      "status", ch->status);
	if (j != NULL && ch->validated != 0)
		json_object_set_new(j, "validated", acme_time(ch->validated));
	if (j != NULL && ch->error != NULL && (err = json_loads(ch->error, 0, NULL)) != NULL)
		json_object_set_new(j, "error", err);
	return j;
}

/* The authorization object (7.1.4): a wildcard's identifier is the name without "*.". */
static json_t *
acme_authz_json(const struct ra_acme_authz *az)
{
	json_t *j, *chs = json_array();

	for (size_t i = 0; i < az->nch; i++)
		json_array_append_new(chs, acme_chall_json(&az->ch[i]));
	j = json_pack("{s:s, s:o, s:{s:s, s:s}, s:o}", "status", az->s.status, "expires",
		      acme_time(az->s.expires), "identifier", "type", az->s.type, "value",
		      az->s.value, "challenges", chs);
	if (j != NULL && az->s.wildcard)
		json_object_set_new(j, "wildcard", json_true());
	return j;
}

/* newOrder's identifiers into ids (at most RA_ACME_IDENTS_MAX); -1 after answering. */
static int
acme_idents_parse(struct acme_ctx *c, struct ra_acme_ident *ids, size_t *n)
{
	json_t *arr = NULL, *v;
	const char *type, *value;
	size_t i;
	struct err e;

	err_clear(&e);
	if (c->payload == NULL ||
	    sjson_array(c->payload, "identifiers", 1, &arr, "acme: newOrder", &e) == -1) {
		acme_problem(c, 400, ACME_PROB_MALFORMED,
			     err_is_set(&e) ? e.msg : "RFC 8555 7.4: newOrder takes identifiers",
			     NULL);
		return -1;
	}
	if (json_object_get(c->payload, "notBefore") != NULL ||
	    json_object_get(c->payload, "notAfter") != NULL) {
		acme_problem(c, 400, ACME_PROB_MALFORMED,
			     "RFC 8555 7.4: notBefore and notAfter are not offered here", NULL);
		return -1;
	}
	if (json_array_size(arr) == 0 || json_array_size(arr) > RA_ACME_IDENTS_MAX) {
		acme_problem(c, 400, ACME_PROB_MALFORMED,
			     "RFC 8555 7.4: an order has 1 to 100 identifiers", NULL);
		return -1;
	}
	json_array_foreach(arr, i, v)
	{
		if (!json_is_object(v) ||
		    sjson_string(v, "type", 1, &type, NULL, "acme: identifier", &e) == -1 ||
		    sjson_string(v, "value", 1, &value, NULL, "acme: identifier", &e) == -1 ||
		    strlen(type) >= sizeof(ids[i].type) || strlen(value) >= sizeof(ids[i].value)) {
			acme_problem(c, 400, ACME_PROB_MALFORMED,
				     err_is_set(&e)
					 ? e.msg
					 : "RFC 8555 7.1.4: an identifier is an object "
					   "with a short type and a value of at most 253 "
					   "bytes",
				     NULL);
			return -1;
		}
		snprintf(ids[i].type, sizeof(ids[i].type), "%s", type);
		snprintf(ids[i].value, sizeof(ids[i].value), "%s", value);
	}
	*n = json_array_size(arr);
	return 0;
}

/* rejectedIdentifier with a subproblem per refused identifier (7.3.3 subproblems). */
static int
acme_rejected(struct acme_ctx *c, const struct ra_acme_ident *ids, size_t n, const struct err *e)
{
	json_t *subs = json_array();

	for (size_t i = 0; i < n; i++)
		if (ids[i].refusal != NULL)
			json_array_append_new(
			    subs, json_pack("{s:s, s:s, s:i, s:{s:s, s:s}}", "type",
					    acme_prob_type(ACME_PROB_REJECTED_IDENTIFIER), "detail",
					    ids[i].refusal, "status", 400, "identifier", "type",
					    ids[i].type, "value", ids[i].value));
	return acme_problem_ex(c, 400, ACME_PROB_REJECTED_IDENTIFIER, e->msg, NULL,
			       json_pack("{s:o}", "subproblems", subs));
}

/*
 * newOrder's profile (draft-ietf-acme-profiles: one acme.profiles offers, else
 * invalidProfile) and replaces (RFC 9773 5: a certID, else malformed) into opt; -1 after
 * answering.
 */
static int
acme_order_opts(struct acme_ctx *c, struct ra_acme_order_opts *opt, struct ra_acme_certid *cid)
{
	const char *profile = NULL, *replaces = NULL;
	char esc[80], msg[256];
	size_t i;
	struct err e;

	err_clear(&e);
	if (sjson_string(c->payload, "profile", 0, &profile, NULL, "acme: newOrder", &e) == -1 ||
	    sjson_string(c->payload, "replaces", 0, &replaces, NULL, "acme: newOrder", &e) == -1) {
		acme_problem(c, 400, ACME_PROB_MALFORMED, e.msg, NULL);
		return -1;
	}
	opt->profile = acme.nprofiles > 0 ? acme.profiles[0] : "server";
	if (profile != NULL) {
		for (i = 0; i < acme.nprofiles && strcmp(acme.profiles[i], profile) != 0; i++)
			;
		if (i == acme.nprofiles) {
			log_escape(esc, sizeof(esc), profile, strlen(profile));
			snprintf(msg, sizeof(msg),
				 "draft-ietf-acme-profiles: profile \"%s\" is not offered here "
				 "(the directory's meta profiles lists those that are)",
				 esc);
			acme_problem(c, 400, ACME_PROB_INVALID_PROFILE, msg, NULL);
			return -1;
		}
		opt->profile = acme.profiles[i];
	}
	if (replaces != NULL) {
		if (ra_acme_certid_parse(replaces, strlen(replaces), cid, &e) == -1) {
			acme_problem(c, 400, ACME_PROB_MALFORMED, e.msg, NULL);
			return -1;
		}
		opt->replaces = cid;
		opt->ca = c->ca;
	}
	return 0;
}

int
acme_new_order(struct acme_ctx *c)
{
	struct ra_acme_ident *ids = NULL;
	struct ra_acme_order o;
	struct ra_acme_order_opts opt;
	struct ra_acme_certid cid;
	struct ra_acme_limited hit;
	enum ra_acme_outcome r;
	size_t n = 0;
	struct err e;
	int rc = 0;

	memset(&o, 0, sizeof(o));
	memset(&opt, 0, sizeof(opt));
	err_clear(&e);
	if (acme_post_begin(c, ACME_AUTH_KID) == -1)
		goto out;
	ids = xcalloc(RA_ACME_IDENTS_MAX, sizeof(*ids));
	if (acme_idents_parse(c, ids, &n) == -1 || acme_order_opts(c, &opt, &cid) == -1)
		goto out;
	r = ra_acme_limit_order(c->st, &acme.limits, &c->acct, ids, n, opt.replaces != NULL, &hit,
				&e);
	if (r == RA_ACME_RATE_LIMITED) {
		rc = acme_limited(c, 429, hit.detail, hit.retry_after);
		goto out;
	}
	if (r == RA_ACME_OK)
		r = ra_acme_order_new_ex(c->st, &c->acct, ids, n, &opt, c->actor, &o, &e);
	if (r == RA_ACME_CREATED)
		rc = acme_order_reply(c, 201, &o);
	else if (r == RA_ACME_REJECTED)
		rc = acme_rejected(c, ids, n, &e);
	else
		rc = acme_order_problem(c, r, &e);
out:
	for (size_t i = 0; ids != NULL && i < RA_ACME_IDENTS_MAX; i++)
		free(ids[i].refusal);
	free(ids);
	ra_acme_order_clear(&o);
	return rc;
}

/* POST /acme/new-authz {identifier} (7.4.1): a pre-authorization, 201 with its Location. */
int
acme_new_authz(struct acme_ctx *c)
{
	struct ra_acme_ident id;
	struct ra_acme_authz a;
	enum ra_acme_outcome r;
	json_t *ident;
	const char *type = NULL, *value = NULL;
	char loc[ACME_URL_MAX];
	struct err e;
	int rc = 0;

	memset(&id, 0, sizeof(id));
	memset(&a, 0, sizeof(a));
	err_clear(&e);
	if (acme_post_begin(c, ACME_AUTH_KID) == -1)
		goto out;
	if (c->payload == NULL || json_object_size(c->payload) != 1 ||
	    !json_is_object(ident = json_object_get(c->payload, "identifier")) ||
	    json_object_size(ident) != 2 ||
	    sjson_string(ident, "type", 1, &type, NULL, "acme: identifier", &e) == -1 ||
	    sjson_string(ident, "value", 1, &value, NULL, "acme: identifier", &e) == -1 ||
	    strlen(type) >= sizeof(id.type) || strlen(value) >= sizeof(id.value)) {
		rc = acme_problem(c, 400, ACME_PROB_MALFORMED,
				  "RFC 8555 7.4.1: newAuthz takes {\"identifier\": {\"type\", "
				  "\"value\"}} (a value of at most 253 bytes)",
				  NULL);
		goto out;
	}
	snprintf(id.type, sizeof(id.type), "%s", type);
	snprintf(id.value, sizeof(id.value), "%s", value);
	r = ra_acme_authz_new(c->st, &c->acct, &id, c->actor, &a, &e);
	if (r == RA_ACME_CREATED || r == RA_ACME_OK) {
		/* 200: the account's authorization of the identifier that was there already */
		acme_obj_url(loc, sizeof(loc), "authz", a.s.id, "");
		rc = acme_json(c, r == RA_ACME_CREATED ? 201 : 200, acme_authz_json(&a), loc);
	} else if (r == RA_ACME_REJECTED) {
		rc = acme_rejected(c, &id, 1, &e);
	} else {
		rc = acme_order_problem(c, r, &e);
	}
out:
	free(id.refusal);
	ra_acme_authz_clear(&a);
	return rc;
}

/*
 * CAA again before finalize signs (CA/Browser Forum BR 3.2.2.8: checked within 8 hours of
 * issuance), while acme.dns_resolver is set: for each valid DNS authorization of order id
 * whose last check is older (ra_acme_caa_due; a reused authorization), asked of the resolver
 * within one validation's time.  0 to go on (the checks recorded), or -1 after answering: 403
 * caa with a subproblem per refusing identifier, nothing signed, or the store's failure.
 */
static int
acme_finalize_caa(struct acme_ctx *c, int64_t id, int *rc)
{
	struct store_acme_caa_due *due = NULL;
	json_t *subs = NULL;
	int64_t deadline = acme_dns_now_ms() + (int64_t)ACME_HTTP01_TIMEOUT * 1000;
	char why[700], detail[300];
	size_t n = 0, bad = 0;
	struct err e;
	int ret = -1, slot = 0;

	err_clear(&e);
	if (acme.dns_resolver[0] == '\0')
		return 0;
	if (ra_acme_caa_due(c->st, id, c->acct.id, util_now(), &due, &n, &e) == -1) {
		*rc = acme_internal(c, "CAA recheck", &e);
		goto out;
	}
	/* the lookups (up to a validation's time) count as a validation of the account and its
	 * organization: a request thread waits on DNS for at most that many of them at once */
	if (n > 0 && acme_validate_reserve(c->acct.id, c->acct.org_id) != ACME_SLOT_OK) {
		*rc = acme_problem(c, 503, ACME_PROB_RATE_LIMITED,
				   "too many validations of this account or organization at once "
				   "(CAA is checked again at finalization); retry in a second",
				   NULL);
		goto out;
	}
	slot = n > 0;
	subs = json_array();
	for (size_t i = 0; i < n; i++) {
		if (acme_caa_check(due[i].value, due[i].wildcard, due[i].method, c->acct.id,
				   deadline, why, sizeof(why)) == 0)
			continue;
		bad++;
		json_array_append_new(subs, json_pack("{s:s, s:s, s:i, s:{s:s, s:s}}", "type",
						      acme_prob_type(ACME_PROB_CAA), "detail", why,
						      "status", 403, "identifier", "type", "dns",
						      "value", due[i].value));
	}
	if (bad > 0) {
		snprintf(detail, sizeof(detail),
			 "CA/Browser Forum BR 3.2.2.8: CAA checked again at finalization (the "
			 "last check was over 8 hours ago) does not let this CA issue for %zu "
			 "identifier%s: nothing is issued",
			 bad, bad == 1 ? "" : "s");
		*rc = acme_problem_ex(c, 403, ACME_PROB_CAA, detail, NULL,
				      json_pack("{s:O}", "subproblems", subs));
		goto out;
	}
	if (ra_acme_caa_checked(c->st, due, n, util_now(), &e) == -1) {
		*rc = acme_internal(c, "CAA recheck", &e);
		goto out;
	}
	ret = 0;
out:
	if (slot)
		acme_validate_release(c->acct.id, c->acct.org_id);
	json_decref(subs);
	for (size_t i = 0; i < n; i++)
		free(due[i].value);
	free(due);
	return ret;
}

/* POST /acme/order/<id>/finalize {csr} (7.4). */
static int
acme_finalize(struct acme_ctx *c, int64_t id)
{
	unsigned char *der = xmalloc(ACME_CSR_MAX);
	const char *csr = NULL;
	struct ra_acme_order o;
	struct ra_acme_limited hit;
	enum ra_acme_outcome r;
	size_t len = 0;
	struct err e;
	int rc, processing = 0;

	memset(&o, 0, sizeof(o));
	err_clear(&e);
	if (c->payload == NULL ||
	    sjson_string(c->payload, "csr", 1, &csr, NULL, "acme: finalize", &e) == -1) {
		rc = acme_problem(c, 400, ACME_PROB_MALFORMED,
				  err_is_set(&e) ? e.msg : "RFC 8555 7.4: finalize takes a csr",
				  NULL);
		goto out;
	}
	if (b64url_decode(der, ACME_CSR_MAX, &len, csr, strlen(csr)) == -1) {
		rc = acme_problem(
		    c, 400, ACME_PROB_BAD_CSR,
		    "RFC 8555 7.4: csr is the base64url of a DER CSR (at most 16 KiB)", NULL);
		goto out;
	}
	/* BR 3.2.2.8: CAA again when its last check is older than 8 hours */
	if (acme_finalize_caa(c, id, &rc) == -1)
		goto out;
	/* the order read once: the limit, the issuance and the answer; a slow signature is
	 * answered processing (finalize.c) */
	r = acme_finalize_run(c, id, der, len, &hit, &o, &processing, &e);
	if (r == RA_ACME_RATE_LIMITED)
		rc = acme_limited(c, 429, hit.detail, hit.retry_after);
	else if (r != RA_ACME_OK)
		rc = acme_order_problem(c, r, &e);
	else if (processing && (r = ra_acme_order_get(c->st, id, c->acct.id, &o, &e)) != RA_ACME_OK)
		rc = acme_order_problem(c, r, &e);
	else
		rc = acme_order_reply(c, 200, &o);
out:
	ra_acme_order_clear(&o);
	free(der);
	return rc;
}

int
acme_order(struct acme_ctx *c, const char *rest)
{
	struct ra_acme_order o;
	enum ra_acme_outcome r;
	const char *tail = NULL;
	int64_t id = 0;
	struct err e;
	int rc;

	memset(&o, 0, sizeof(o));
	err_clear(&e);
	if (acme_id_parse(rest, &id, &tail) == -1 ||
	    (strcmp(tail, "") != 0 && strcmp(tail, "/finalize") != 0))
		return acme_problem(c, 404, ACME_PROB_MALFORMED, "no such resource", NULL);
	if (acme_post_begin(c, ACME_AUTH_KID) == -1)
		return 0;
	if (strcmp(tail, "/finalize") == 0)
		return acme_finalize(c, id);
	r = ra_acme_order_get(c->st, id, c->acct.id, &o, &e);
	rc = r == RA_ACME_OK ? acme_order_reply(c, 200, &o) : acme_order_problem(c, r, &e);
	ra_acme_order_clear(&o);
	return rc;
}

int
acme_authz(struct acme_ctx *c, const char *rest)
{
	struct ra_acme_authz a;
	enum ra_acme_outcome r;
	const char *tail = NULL;
	int64_t id = 0;
	struct err e;
	int rc;

	memset(&a, 0, sizeof(a));
	err_clear(&e);
	if (acme_id_parse(rest, &id, &tail) == -1 || *tail != '\0')
		return acme_problem(c, 404, ACME_PROB_MALFORMED, "no such resource", NULL);
	if (acme_post_begin(c, ACME_AUTH_KID) == -1)
		return 0;
	/* POST-as-GET reads it; {"status":"deactivated"} deactivates it (7.5.2) */
	if (c->payload != NULL && json_object_size(c->payload) > 0) {
		const char *st = NULL;

		if (sjson_string(c->payload, "status", 1, &st, NULL, "acme: authorization", &e) ==
			-1 ||
		    json_object_size(c->payload) != 1 || strcmp(st, "deactivated") != 0)
			return acme_problem(c, 400, ACME_PROB_MALFORMED,
					    "RFC 8555 7.5.2: an authorization takes only "
					    "{\"status\": \"deactivated\"}",
					    NULL);
		r = ra_acme_authz_deactivate(c->st, id, c->acct.id, c->actor, &a, &e);
	} else {
		r = ra_acme_authz_get(c->st, id, c->acct.id, &a, &e);
	}
	rc = r == RA_ACME_OK ? acme_json(c, 200, acme_authz_json(&a), NULL)
			     : acme_order_problem(c, r, &e);
	ra_acme_authz_clear(&a);
	return rc;
}

/* The key authorization of token (8.1): token "." base64url(the account key's thumbprint). */
static void
acme_keyauth(const struct acme_ctx *c, const char *token, char *out, size_t n)
{
	char t[64];

	if (b64url_encode(t, sizeof(t), c->acct.thumb, JWS_THUMB_LEN) == -1)
		fatalx("acme: thumbprint buffer");
	snprintf(out, n, "%s.%s", token, t);
}

int
acme_chall(struct acme_ctx *c, const char *rest)
{
	struct ra_acme_authz a;
	struct ra_acme_limited hit;
	enum ra_acme_outcome r;
	const char *tail = NULL;
	char keyauth[RA_ACME_TOKEN_TEXT + 64], up[ACME_URL_MAX + 16], url[ACME_URL_MAX];
	int64_t id = 0;
	int start = 0, slot = 0;
	enum acme_slot sr;
	struct err e;
	int rc;

	memset(&a, 0, sizeof(a));
	err_clear(&e);
	if (acme_id_parse(rest, &id, &tail) == -1 || *tail != '\0')
		return acme_problem(c, 404, ACME_PROB_MALFORMED, "no such resource", NULL);
	if (acme_post_begin(c, ACME_AUTH_KID) == -1)
		return 0;
	/* POST-as-GET reads the challenge; a payload ({}) answers it (7.5.1) */
	if (c->payload != NULL) {
		/* a name that failed validation too often lately is not validated again yet */
		if ((r = ra_acme_chall_get(c->st, id, c->acct.id, &a, &e)) == RA_ACME_OK &&
		    strcmp(a.s.chall_status, "pending") == 0)
			r = ra_acme_limit_name(c->st, &acme.limits, c->acct.id, a.s.value, &hit,
					       &e);
		ra_acme_authz_clear(&a);
		if (r == RA_ACME_RATE_LIMITED)
			return acme_limited(c, 429, hit.detail, hit.retry_after);
		if (r != RA_ACME_OK)
			return acme_order_problem(c, r, &e);
		err_clear(&e);
		if ((sr = acme_validate_reserve(c->acct.id, c->acct.org_id)) != ACME_SLOT_OK) {
			if (sr == ACME_SLOT_ACCOUNT)
				snprintf(url, sizeof(url),
					 "this account has %d validations running, the most one "
					 "account may; retry in a second",
					 ACME_VALIDATIONS_PER_ACCOUNT);
			else if (sr == ACME_SLOT_ORG)
				snprintf(url, sizeof(url),
					 "this organization's accounts have %ld validations "
					 "running, the most one organization may "
					 "(acme.validations_per_organization); retry in a second",
					 acme.limits.validations_per_org);
			else
				snprintf(url, sizeof(url),
					 "too many validations at once; retry in a second");
			return acme_problem(c, 503, ACME_PROB_RATE_LIMITED, url, NULL);
		}
		slot = 1;
		r = ra_acme_chall_start(c->st, id, c->acct.id, &start, &a, &e);
	} else {
		r = ra_acme_chall_get(c->st, id, c->acct.id, &a, &e);
	}
	if (r != RA_ACME_OK) {
		if (slot)
			acme_validate_release(c->acct.id, c->acct.org_id);
		rc = acme_order_problem(c, r, &e);
		goto out;
	}
	if (start) {
		struct acme_vreq q;

		acme_keyauth(c, a.ch[a.at].token, keyauth, sizeof(keyauth));
		memset(&q, 0, sizeof(q));
		q.acct = c->acct.id;
		q.org = c->acct.org_id;
		q.id = id;
		q.type = a.ch[a.at].type;
		q.host = a.s.value;
		q.wildcard = a.s.wildcard;
		q.token = a.ch[a.at].token;
		q.keyauth = keyauth;
		q.actor = c->actor;
		if (acme_validate_start(c->ca, &q) == -1) {
			/* no thread: the challenge fails now rather than stay processing */
			log_warn("acme: challenge %" PRId64 ": no validation thread", id);
			ra_acme_chall_done(
			    c->st, id,
			    "{\"type\":\"urn:ietf:params:acme:error:serverInternal\","
			    "\"detail\":\"the validation could not start\","
			    "\"status\":500}",
			    c->actor, &e);
		}
	} else if (slot) {
		acme_validate_release(c->acct.id, c->acct.org_id);
	}
	acme_obj_url(url, sizeof(url), "authz", a.s.id, "");
	snprintf(up, sizeof(up), "<%s>;rel=\"up\"", url);
	{
		/* RFC 8555 8.2: while the validation runs, when to look again (clients such as
		 * lego wait 5 s without it; a validation on a fast network takes milliseconds) */
		int busy = strcmp(a.ch[a.at].status, "processing") == 0;
		const char *h[] = {"Link", up, busy ? "Retry-After" : NULL, "1", NULL};
		json_t *j = acme_chall_json(&a.ch[a.at]);
		char *s = j != NULL ? json_dumps(j, JSON_INDENT(2)) : NULL;

		rc = s != NULL ? acme_send(c->r, 200, "application/json", s, h)
			       : acme_internal(c, "reply", &e);
		free(s);
		json_decref(j);
	}
out:
	ra_acme_authz_clear(&a);
	return rc;
}

/* The PEM of x appended to b; -1 when it does not fit. */
static int
acme_pem_add(struct buf *b, X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;
	int rc = -1;

	if (bio != NULL && PEM_write_bio_X509(bio, x) == 1 && (n = BIO_get_mem_data(bio, &p)) > 0)
		rc = buf_append(b, p, (size_t)n);
	BIO_free(bio);
	return rc;
}

/*
 * The PEM (RFC 7468 "CERTIFICATE", 64 columns) of the DER der[0..len) appended to b, without
 * parsing it (the store's own certificate); -1 when it does not fit.
 */
static int
acme_pem_der(struct buf *b, const unsigned char *der, size_t len)
{
	unsigned char line[65 + 1];
	int rc = buf_append(b, "-----BEGIN CERTIFICATE-----\n", 28);

	for (size_t at = 0; rc == 0 && at < len; at += 48) {
		size_t n = len - at < 48 ? len - at : 48;
		int w = EVP_EncodeBlock(line, der + at, (int)n);

		line[w] = '\n';
		rc = buf_append(b, line, (size_t)w + 1);
	}
	if (rc == 0)
		rc = buf_append(b, "-----END CERTIFICATE-----\n", 26);
	return rc;
}

/* POST-as-GET /acme/cert/<order id> (7.4.2): the leaf and its issuing CA, Link rel="up". */
int
acme_cert(struct acme_ctx *c, const char *rest)
{
	const struct ca_issuing *ci;
	unsigned char *der = NULL;
	enum ra_acme_outcome r;
	const char *tail = NULL;
	struct buf b;
	char up[ACME_URL_MAX + 64];
	int64_t id = 0;
	size_t len = 0;
	struct err e;
	int rc = 0;

	buf_init(&b, 256 * 1024);
	err_clear(&e);
	if (acme_id_parse(rest, &id, &tail) == -1 || *tail != '\0') {
		rc = acme_problem(c, 404, ACME_PROB_MALFORMED, "no such resource", NULL);
		goto out;
	}
	if (acme_post_begin(c, ACME_AUTH_KID) == -1)
		goto out;
	if ((r = ra_acme_cert_get(c->st, id, c->acct.id, &der, &len, &e)) != RA_ACME_OK) {
		rc = acme_order_problem(c, r, &e);
		goto out;
	}
	/* the stored DER as it is (not parsed and encoded again: the CA signed these bytes) */
	ci = ca_issuing_of_der(c->ca, der, len);
	if (len == 0 || len > INT_MAX / 2 || ci == NULL || acme_pem_der(&b, der, len) == -1 ||
	    acme_pem_add(&b, ci->cert) == -1) {
		err_set(&e, ERR_INTERNAL, "order %" PRId64 ": the certificate chain", id);
		rc = acme_internal(c, "certificate", &e);
		goto out;
	}
	snprintf(up, sizeof(up), "<%s/ca/%s.crt>;rel=\"up\"", c->ca->base_url, ci->name);
	{
		const char *h[] = {"Link", up, NULL};

		rc = acme_send(c->r, 200, "application/pem-certificate-chain", buf_cstr(&b), h);
	}
out:
	free(der);
	buf_free(&b);
	return rc;
}

/* POST /acme/revoke-cert {certificate, reason?} (7.6): by its account's kid or its own key. */
int
acme_revoke_cert(struct acme_ctx *c)
{
	unsigned char *der = xmalloc(ACME_CERT_MAX);
	const char *cert = NULL;
	long long reason = 0;
	enum ra_acme_outcome r;
	size_t len = 0;
	struct err e;
	int rc = 0;

	err_clear(&e);
	if (acme_post_begin(c, ACME_AUTH_ANY) == -1)
		goto out;
	if (c->payload == NULL ||
	    sjson_string(c->payload, "certificate", 1, &cert, NULL, "acme: revokeCert", &e) == -1 ||
	    sjson_int(c->payload, "reason", 0, -1000, 1000, &reason, "acme: revokeCert", &e) ==
		-1) {
		rc = acme_problem(
		    c, 400, ACME_PROB_MALFORMED,
		    err_is_set(&e) ? e.msg : "RFC 8555 7.6: revokeCert takes a certificate", NULL);
		goto out;
	}
	if (b64url_decode(der, ACME_CERT_MAX, &len, cert, strlen(cert)) == -1) {
		rc = acme_problem(c, 400, ACME_PROB_MALFORMED,
				  "RFC 8555 7.6: certificate is the base64url of a DER certificate "
				  "(at most 16 KiB)",
				  NULL);
		goto out;
	}
	if (c->acct.id == 0)
		snprintf(c->actor, sizeof(c->actor), "acme:certificate-key");
	r = ra_acme_revoke(c->ca, c->st, der, len, c->acct.id, c->acct.id == 0 ? c->key : NULL,
			   (long)reason, c->actor, &e);
	switch (r) {
	case RA_ACME_OK:
		rc = acme_send(c->r, 200, NULL, NULL, NULL);
		break;
	case RA_ACME_UNAUTHORIZED:
		rc = acme_problem(c, 403, ACME_PROB_UNAUTHORIZED, e.msg, NULL);
		break;
	case RA_ACME_ALREADY_REVOKED:
		rc = acme_problem(c, 400, ACME_PROB_ALREADY_REVOKED, e.msg, NULL);
		break;
	case RA_ACME_BAD_REASON:
		rc = acme_problem(c, 400, ACME_PROB_BAD_REVOCATION_REASON, e.msg, NULL);
		break;
	default:
		rc = acme_order_problem(c, r, &e);
		break;
	}
out:
	free(der);
	return rc;
}

/*
 * GET renewalInfo/<certID> (RFC 9773 4): the suggested window of a certificate of this
 * instance's issuing CAs (ra_acme_renewal_window's rule), Retry-After ACME_RENEWAL_RETRY.  No
 * JWS: anyone who has the certificate may ask.  A certID that does not parse is 400 malformed,
 * an unknown certificate 404.
 */
int
acme_renewal_info(struct acme_ctx *c, const char *rest)
{
	struct ra_acme_certid id;
	enum ra_acme_outcome r;
	time_t start = 0, end = 0;
	char retry[24];
	struct err e;
	json_t *j;
	char *s;
	int rc;

	err_clear(&e);
	if (ra_acme_certid_parse(rest, strlen(rest), &id, &e) == -1)
		return acme_problem(c, 400, ACME_PROB_MALFORMED, e.msg, NULL);
	r = ra_acme_renewal_info(c->ca, c->st, &id, util_now(), &start, &end, &e);
	if (r == RA_ACME_NOT_FOUND)
		return acme_problem(c, 404, ACME_PROB_MALFORMED, e.msg, NULL);
	if (r != RA_ACME_OK)
		return acme_internal(c, "renewal information", &e);
	j = json_pack("{s:{s:o, s:o}}", "suggestedWindow", "start", acme_time(start), "end",
		      acme_time(end));
	s = j != NULL ? json_dumps(j, JSON_INDENT(2)) : NULL;
	snprintf(retry, sizeof(retry), "%d", ACME_RENEWAL_RETRY);
	{
		const char *h[] = {"Retry-After", retry, NULL};

		rc = s != NULL ? acme_send(c->r, 200, "application/json", s, h)
			       : acme_internal(c, "reply", &e);
	}
	free(s);
	json_decref(j);
	return rc;
}
