/*
 * online: the HTTPS endpoints of signed self-service requests (src/ra decides them).
 *
 *   POST /online/revoke   CMS SignedData (DER or PEM) of a {"type":"revoke",...} request
 *   POST /online/status   the same with {"type":"status",...}
 *
 * The answer is JSON {"result": "...", ...} (application/json) unless the Accept header
 * prefers text/html over application/json, in which case it is a page in the user's language
 * naming the outcome.  `result` is authoritative; the HTTP status only groups the outcomes:
 * 200 for an answer about the certificate (accepted; valid, revoked and expired for status),
 * 400 malformed, 403 when the request does not prove possession of one of our certificates
 * (issuer_unknown, cert_signature_invalid, request_signature_invalid, unknown_certificate,
 * stale), 409 when a revocation was not done because of the certificate's state
 * (already_revoked, revocation_pending, expired).  The request carries its own proof (the
 * signature, time and nonce), so no session, cookie or CSRF token is involved.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <microhttpd.h>

#include "ca/ca.h"
#include "http/http.h"
#include "portal_int.h"
#include "ra/ra.h"
#include "util/accept.h"
#include "util/timefmt.h"

/* Title and explanation of each outcome (msgids: one literal each, for the catalog test). */
/* clang-format off */
static const struct {
	const char *title;
	const char *message;
} online_text[RA_ONLINE_RESULT__MAX] = {
	[RA_ONLINE_MALFORMED] = {N_("Malformed request"),
		N_("The request is not a well-formed signed request. Make it again as described in the instructions.")},
	[RA_ONLINE_ISSUER_UNKNOWN] = {N_("Certificate not issued by this service"),
		N_("The certificate in the request was not issued by one of the certificate authorities of this service.")},
	[RA_ONLINE_CERT_SIGNATURE_INVALID] = {N_("Certificate signature invalid"),
		N_("The signature of the certificate in the request does not verify with our certificate authority's key.")},
	[RA_ONLINE_REQUEST_SIGNATURE_INVALID] = {N_("Request signature invalid"),
		N_("The request was not signed with the key of the certificate it contains.")},
	[RA_ONLINE_UNKNOWN_CERTIFICATE] = {N_("Unknown certificate"),
		N_("The certificate in the request is not one of the certificates managed by this service.")},
	[RA_ONLINE_STALE] = {N_("Request out of date or repeated"),
		N_("The time in the request is too far from the current time, or the request was already sent once. Make a new request.")},
	[RA_ONLINE_EXPIRED] = {N_("Certificate expired"),
		N_("The certificate has expired.")},
	[RA_ONLINE_ALREADY_REVOKED] = {N_("Certificate already revoked"),
		N_("The certificate has already been revoked, and the revocation has been published in the certificate revocation list.")},
	[RA_ONLINE_REVOCATION_PENDING] = {N_("Revocation already accepted"),
		N_("A revocation of this certificate has already been accepted. It will appear in the next certificate revocation list.")},
	[RA_ONLINE_ACCEPTED] = {N_("Revocation accepted"),
		N_("The certificate has been revoked. OCSP shows the revocation now; the next certificate revocation list will list it.")},
	[RA_ONLINE_VALID] = {N_("Certificate valid"),
		N_("The certificate is valid and has not been revoked.")},
	[RA_ONLINE_REVOKED] = {N_("Certificate revoked"),
		N_("The certificate has been revoked.")},
};
/* clang-format on */

/* The HTTP status of an outcome (see the comment at the top). */
static int
online_status(enum ra_online_result res, enum ra_online_type type)
{
	switch (res) {
	case RA_ONLINE_MALFORMED:
		return 400;
	case RA_ONLINE_ISSUER_UNKNOWN:
	case RA_ONLINE_CERT_SIGNATURE_INVALID:
	case RA_ONLINE_REQUEST_SIGNATURE_INVALID:
	case RA_ONLINE_UNKNOWN_CERTIFICATE:
	case RA_ONLINE_STALE:
		return 403;
	case RA_ONLINE_EXPIRED:
		return type == RA_ONLINE_REVOKE ? 409 : 200;
	case RA_ONLINE_ALREADY_REVOKED:
	case RA_ONLINE_REVOCATION_PENDING:
		return 409;
	default:
		return 200;
	}
}

/*
 * 1 when Accept prefers text/html to application/json (browsers), else 0 (JSON): no header,
 * any type, equal qualities mean JSON.
 */
static int
online_wants_html(const char *accept)
{
	int qhtml = accept_quality(accept, "text/html");

	return qhtml > 0 && qhtml > accept_quality(accept, "application/json");
}

static int
online_json(struct http_req *r, int status, const struct ra_online_answer *a)
{
	char t[32];
	json_t *j;
	char *s = NULL;
	int rc = -1;

	j = json_pack("{s:s, s:s}", "result", ra_online_result_name(a->result), "message",
		      online_text[a->result].message);
	if (j == NULL)
		goto out;
	if (a->serial[0] != '\0')
		json_object_set_new(j, "serial", json_string(a->serial));
	timefmt_rfc3339(a->checked, t, sizeof(t));
	json_object_set_new(j, "checked", json_string(t));
	if (a->not_after != 0) {
		timefmt_rfc3339(a->not_after, t, sizeof(t));
		json_object_set_new(j, "not_after", json_string(t));
	}
	if (a->revoked_at != 0) {
		timefmt_rfc3339(a->revoked_at, t, sizeof(t));
		json_object_set_new(j, "revoked_at", json_string(t));
		json_object_set_new(j, "reason", json_string(ca_reason_name(a->reason)));
	}
	if (a->detail[0] != '\0')
		json_object_set_new(j, "detail", json_string(a->detail));
	if ((s = json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII)) == NULL)
		goto out;
	rc = http_reply_hdrs(r, status, "application/json", s, strlen(s),
			     (const char *const[]){"Vary", "Accept", NULL});
out:
	free(s);
	json_decref(j);
	return rc;
}

static int
online_html(struct http_req *r, int status, const struct ra_online_answer *a)
{
	struct web_ctx x;
	struct tmpl_data *d;
	char t[32];
	int rc;

	web_ctx_init(&x, &portal.site, r);
	d = web_data(&x, online_text[a->result].title, -1);
	tmpl_data_str(d, "result", ra_online_result_name(a->result));
	tmpl_data_str(d, "message", i18n_get(x.lang, online_text[a->result].message));
	tmpl_data_bool(d, "ok", a->result == RA_ONLINE_ACCEPTED || a->result == RA_ONLINE_VALID);
	tmpl_data_str(d, "serial", a->serial);
	timefmt_rfc3339(a->checked, t, sizeof(t));
	tmpl_data_str(d, "checked", t);
	if (a->not_after != 0) {
		timefmt_rfc3339(a->not_after, t, sizeof(t));
		tmpl_data_str(d, "not_after", t);
	} else {
		tmpl_data_str(d, "not_after", "");
	}
	if (a->revoked_at != 0) {
		timefmt_rfc3339(a->revoked_at, t, sizeof(t));
		tmpl_data_str(d, "revoked_at", t);
		tmpl_data_str(d, "reason", ca_reason_name(a->reason));
	} else {
		tmpl_data_str(d, "revoked_at", "");
		tmpl_data_str(d, "reason", "");
	}
	tmpl_data_str(d, "detail", a->detail);
	rc = web_page(&x, status, "online_result", d);
	tmpl_data_free(d);
	return rc;
}

static int
online_post(struct http_req *r, enum ra_online_type type)
{
	struct ra_online_answer a;
	struct ra_notify notify;
	struct store *st;
	struct err e;
	int html = online_wants_html(http_header(r, "Accept"));
	int status;

	err_clear(&e);
	/* the holder's mail in the language of the request */
	portal_notify_init(
	    &notify, i18n_pick(http_header(r, "Accept-Language"),
			       MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "lang")));
	if ((st = ca_thread_store(r->app, &e)) == NULL ||
	    ra_online_handle(r->app, st, type, r->body, r->bodylen, &notify, &a, &e) == -1) {
		if (html) {
			struct web_ctx x;

			web_ctx_init(&x, &portal.site, r);
			return web_error(&x, &e);
		}
		log_warn("online: %s: %s", ra_online_type_name(type), e.msg);
		return http_reply_problem(r, 500, NULL, "Internal Server Error",
					  "the request could not be completed; the server log has "
					  "details");
	}
	status = online_status(a.result, type);
	log_info("online: %s %s: %s", ra_online_type_name(type), a.serial[0] ? a.serial : "-",
		 ra_online_result_name(a.result));
	return html ? online_html(r, status, &a) : online_json(r, status, &a);
}

int
portal_online_revoke_post(struct http_req *r)
{
	return online_post(r, RA_ONLINE_REVOKE);
}

int
portal_online_status_post(struct http_req *r)
{
	return online_post(r, RA_ONLINE_STATUS);
}
