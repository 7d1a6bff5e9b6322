/*
 * revoke: the portal's pages of the revocation by the holder on the web (DESIGN.md 2.2); the
 * RA decides (src/ra/revoke.c), this file shows forms, pages and messages.
 *
 *   GET  /revoke/step1       organization code, ticket, e-mail, reason, CAPTCHA
 *   POST /revoke/step1       field errors (ra_revoke_check) and the CAPTCHA; then what the
 *                            three values name (ra_revoke_find): one generic message when they
 *                            fit no certificate, never which value was wrong; else the confirm
 *                            page, its values under a MAC with a random form nonce
 *   POST /revoke/confirm     action=back: the form; action=request: ra_revoke_request() — in
 *                            one transaction the nonce, the request with the hash of its
 *                            one-time link and the mail (notify.c); a repeat writes nothing
 *   GET  /revoke/verify      ?onetimetoken=: ra_revoke_peek(), nothing used (mail scanners
 *                            prefetch links; HEAD is the same): the certificate and a button
 *   POST /revoke/verify      onetimetoken, csrf: ra_revoke_complete() — the link used and the
 *                            certificate revoked in one transaction; a second POST finds the
 *                            link used.  Without a valid csrf: 403, nothing used
 *
 * The link goes only to the e-mail address of the application, which the holder has just
 * typed: it proves control of that mailbox.
 */
#include <stdlib.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ca/ca.h"
#include "http/http.h"
#include "portal_int.h"
#include "ra/ra.h"

#define REVOKE_PURPOSE "revoke" /* the CAPTCHA's form */

/* The words of the reasons a holder may give (ra_revoke_check has the rule), the default first. */
static const struct {
	const char *name;
	const char *label; /* msgid */
} revoke_reasons[] = {
    {RA_REVOKE_REASON_DEFAULT, N_("The certificate is no longer used (cessation of operation)")},
    {"keyCompromise", N_("The private key was lost, stolen or disclosed (key compromise)")},
    {"superseded", N_("The certificate has been replaced (superseded)")},
    {"affiliationChanged", N_("My name or affiliation changed (affiliation changed)")},
};
#define REVOKE_NREASONS (sizeof(revoke_reasons) / sizeof(revoke_reasons[0]))

/* The holder's steps, as the flow bar shows them. */
static const char *const revoke_flow[] = {
    N_("Revocation request"), N_("Confirm"), N_("Done"), N_("Confirmation mail"), N_("Revoked"),
};
enum {
	REVOKE_STEP_INPUT = 0,
	REVOKE_STEP_CONFIRM,
	REVOKE_STEP_DONE,
	REVOKE_STEP_MAIL,
	REVOKE_STEP_REVOKED
};

/* The messages beside the fields (msgids; NULL: none). */
struct revoke_errs {
	const char *org, *ticket, *email, *reason, *captcha;
	const char *general; /* the one message for a combination that fits no certificate */
	int any;
};

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

static const char *
revoke_reason_label(const char *lang, const char *name)
{
	for (size_t i = 0; i < REVOKE_NREASONS; i++)
		if (strcmp(name, revoke_reasons[i].name) == 0)
			return i18n_get(lang, revoke_reasons[i].label);
	return name;
}

static struct tmpl_data *
revoke_data(const struct web_ctx *x, const char *title_msgid, int step)
{
	struct tmpl_data *d = web_data(x, title_msgid, -1);

	portal_steps(d, x->lang, revoke_flow, sizeof(revoke_flow) / sizeof(revoke_flow[0]), step);
	return d;
}

static void
revoke_vals_from(struct ra_revoke_vals *v, const struct web_form *f)
{
	v->org = nz(web_form_get(f, "org_code"));
	v->ticket = nz(web_form_get(f, "ticket"));
	v->email = nz(web_form_get(f, "email"));
	v->reason = nz(web_form_get(f, "reason"));
}

/* The RA's field codes in the portal's words. */
static void
revoke_errs_from(struct revoke_errs *er, const struct ra_revoke_fields *f)
{
	if (f->org != RA_REVOKE_FIELD_OK)
		er->org = N_("Select your organization.");
	if (f->ticket != RA_REVOKE_FIELD_OK)
		er->ticket = N_("Enter the ticket number.");
	if (f->email != RA_REVOKE_FIELD_OK)
		er->email = N_("Enter a valid e-mail address.");
	if (f->reason != RA_REVOKE_FIELD_OK)
		er->reason = N_("Choose the reason for the revocation.");
	er->any = er->any || f->any;
}

static void
revoke_err(struct tmpl_data *d, const char *lang, const char *name, const char *msgid)
{
	if (msgid != NULL)
		tmpl_data_str(d, name, i18n_get(lang, msgid));
	else
		tmpl_data_bool(d, name, 0);
}

/* The step-1 form with values v (may be NULL) and errors er (may be NULL). */
static int
revoke_step1_render(struct web_ctx *x, const struct ra_revoke_vals *v, const struct revoke_errs *er)
{
	static const struct ra_revoke_vals none = {"", "", "", RA_REVOKE_REASON_DEFAULT};
	static const struct revoke_errs noerr;
	struct tmpl_data *d = NULL;
	struct ra_org *orgs = NULL;
	size_t norgs = 0;
	struct store *st;
	struct err e;
	char id_hex[CAPTCHA_ID_HEX], csrf[WEB_B64_LEN], *uri = NULL;
	int rc = -1, k;

	err_clear(&e);
	if (v == NULL)
		v = &none;
	if (er == NULL)
		er = &noerr;
	if ((st = ca_thread_store(x->ca, &e)) == NULL || ra_org_list(st, &orgs, &norgs, &e) == -1 ||
	    (k = portal_captcha(x, st, REVOKE_PURPOSE, id_hex, &uri, &e)) == -1) {
		rc = web_error(x, &e);
		goto out;
	}
	if (k == PORTAL_CAPTCHA_LIMITED) {
		rc = portal_captcha_limited(x);
		goto out;
	}
	d = revoke_data(x, N_("Certificate revocation"), REVOKE_STEP_INPUT);
	web_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "captcha_id", id_hex);
	tmpl_data_str(d, "captcha_png", uri);
	for (size_t i = 0; i < norgs; i++) {
		struct tmpl_data *o = tmpl_data_add(d, "orgs");

		tmpl_data_str(o, "code", orgs[i].code);
		tmpl_data_str(o, "name", orgs[i].name);
		tmpl_data_bool(o, "selected", strcmp(orgs[i].code, v->org) == 0);
	}
	for (size_t i = 0; i < REVOKE_NREASONS; i++) {
		struct tmpl_data *o = tmpl_data_add(d, "reasons");

		tmpl_data_str(o, "name", revoke_reasons[i].name);
		tmpl_data_str(o, "label", i18n_get(x->lang, revoke_reasons[i].label));
		tmpl_data_bool(o, "selected", strcmp(revoke_reasons[i].name, v->reason) == 0);
	}
	tmpl_data_str(d, "ticket", v->ticket);
	tmpl_data_str(d, "email", v->email);
	/* the banner points at red fields: not for the one generic message */
	tmpl_data_bool(d, "has_errors",
		       er->org || er->ticket || er->email || er->reason || er->captcha);
	revoke_err(d, x->lang, "err_general", er->general);
	revoke_err(d, x->lang, "err_org_code", er->org);
	revoke_err(d, x->lang, "err_ticket", er->ticket);
	revoke_err(d, x->lang, "err_email", er->email);
	revoke_err(d, x->lang, "err_reason", er->reason);
	revoke_err(d, x->lang, "err_captcha", er->captcha);
	rc = web_page(x, er->any ? 400 : 200, "revoke_step1", d);
out:
	tmpl_data_free(d);
	for (size_t i = 0; i < norgs; i++)
		ra_org_clear(&orgs[i]);
	free(orgs);
	free(uri);
	return rc;
}

/* The confirm page's values under the seal (src/web/sealed.c). */
#define REVOKE_SEAL "revoke-form"
#define REVOKE_SEALED(v)                                                                           \
	{                                                                                          \
		(v)->org, (v)->ticket, (v)->email, (v)->reason                                     \
	}
#define REVOKE_SEALED_N 4

static int
revoke_confirm_render(struct web_ctx *x, const struct ra_revoke_vals *v)
{
	const char *sealed[] = REVOKE_SEALED(v);
	struct tmpl_data *d;
	struct web_seal seal;
	char csrf[WEB_B64_LEN];
	int rc;

	web_seal_make(x, REVOKE_SEAL, PORTAL_FORM_TTL, 1, sealed, REVOKE_SEALED_N, &seal);
	web_csrf(x, csrf);
	d = revoke_data(x, N_("Confirm the revocation"), REVOKE_STEP_CONFIRM);
	tmpl_data_str(d, "csrf", csrf);
	web_seal_data(d, &seal);
	tmpl_data_str(d, "org_code", v->org);
	tmpl_data_str(d, "ticket", v->ticket);
	tmpl_data_str(d, "email", v->email);
	tmpl_data_str(d, "reason", v->reason);
	tmpl_data_str(d, "reason_label", revoke_reason_label(x->lang, v->reason));
	rc = web_page(x, 200, "revoke_confirm", d);
	tmpl_data_free(d);
	sodium_memzero(&seal, sizeof(seal));
	return rc;
}

/*
 * The page for what the RA said of a request (ra_revoke_find, ra_revoke_request): the form
 * with its errors, the notice of a revoked or expired certificate, or (OK) nothing: 0.
 */
static int
revoke_refusal(struct web_ctx *x, const struct ra_revoke_vals *v, enum ra_revreq_result res,
	       struct revoke_errs *er, int *rc)
{
	switch (res) {
	case RA_REVREQ_FIELDS:
		*rc = revoke_step1_render(x, v, er);
		return 1;
	case RA_REVREQ_NO_MATCH:
		er->general = N_("The organization code, ticket number and e-mail address do not "
				 "match a certificate that can be revoked. Please check what you "
				 "entered.");
		er->any = 1;
		*rc = revoke_step1_render(x, v, er);
		return 1;
	case RA_REVREQ_REVOKED:
		*rc = web_notice(x, 409, N_("The certificate cannot be revoked"),
				 N_("This certificate has already been revoked."));
		return 1;
	case RA_REVREQ_EXPIRED:
		*rc = web_notice(x, 409, N_("The certificate cannot be revoked"),
				 N_("This certificate has expired already: it cannot be used any "
				    "more and does not need to be revoked."));
		return 1;
	default:
		return 0;
	}
}

int
portal_revoke_step1_get(struct http_req *r)
{
	struct web_ctx x;

	web_ctx_init(&x, &portal.site, r);
	return revoke_step1_render(&x, NULL, NULL);
}

int
portal_revoke_step1_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct ra_revoke_vals v;
	struct ra_revoke_fields rf;
	struct revoke_errs er;
	struct store *st;
	struct err e;
	enum captcha_result cr;
	enum ra_revreq_result res;
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	memset(&er, 0, sizeof(er));
	err_clear(&e);
	if (!portal_rate_ok(r, portal.revoke_rate)) {
		rc = web_notice(&x, 429, N_("Too many requests"),
				N_("Too many requests came from your network. Please wait a "
				   "minute and try again."));
		goto out;
	}
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	revoke_vals_from(&v, &f);
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	ra_revoke_check(&v, &rf);
	revoke_errs_from(&er, &rf);
	if (rf.reason != RA_REVOKE_FIELD_OK)
		v.reason = RA_REVOKE_REASON_DEFAULT;
	if (captcha_verify(st, web_form_get(&f, "captcha_id"), REVOKE_PURPOSE,
			   web_form_get(&f, "captcha"), &cr, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	er.captcha = captcha_result_msgid(cr);
	er.any = er.any || er.captcha != NULL;
	if (er.any) {
		rc = revoke_step1_render(&x, &v, &er);
		goto out;
	}
	if (ra_revoke_find(st, &v, &res, NULL, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (!revoke_refusal(&x, &v, res, &er, &rc))
		rc = revoke_confirm_render(&x, &v);
out:
	web_form_free(&f);
	return rc;
}

/*
 * The confirm form's seal (its nonce's bytes in seal->nonce_raw) when its values are sealed
 * for this session and pass the field rules: WEB_SEAL_OK; else why not.
 */
static enum web_seal_result
revoke_form_ok(const struct web_ctx *x, const struct web_form *f, const struct ra_revoke_vals *v,
	       struct web_seal *seal)
{
	const char *sealed[] = REVOKE_SEALED(v);
	struct ra_revoke_fields rf;
	enum web_seal_result sr;

	sr = web_seal_open_form(x, REVOKE_SEAL, f, sealed, REVOKE_SEALED_N, seal);
	if (sr == WEB_SEAL_OK && ra_revoke_check(v, &rf))
		sr = WEB_SEAL_MALFORMED;
	return sr;
}

int
portal_revoke_confirm_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct ra_revreq q;
	struct ra_revoke_fields rf;
	struct revoke_errs er;
	struct ra_notify notify;
	struct store *st;
	struct err e;
	enum ra_revreq_result res;
	enum web_seal_result sr;
	struct web_seal seal;
	unsigned char nh[STORE_HASH_LEN];
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	memset(&q, 0, sizeof(q));
	memset(&er, 0, sizeof(er));
	memset(&seal, 0, sizeof(seal));
	err_clear(&e);
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	revoke_vals_from(&q.vals, &f);
	if ((sr = revoke_form_ok(&x, &f, &q.vals, &seal)) != WEB_SEAL_OK) {
		rc = web_seal_refused(
		    &x, sr,
		    N_("This form is no longer valid. Please start again from the first step."));
		goto out;
	}
	if (strcmp(nz(web_form_get(&f, "action")), "back") == 0) {
		rc = revoke_step1_render(&x, &q.vals, NULL);
		goto out;
	}
	ra_token_hash(seal.nonce_raw, nh);
	q.nonce_hash = nh;
	portal_notify_init(&notify, x.lang);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_revoke_request(st, &q, &notify, &res, &rf, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	revoke_errs_from(&er, &rf);
	if (!revoke_refusal(&x, &q.vals, res, &er, &rc)) {
		/* OK, and REPEAT (a repeated submission): the same page, no second mail */
		struct tmpl_data *d =
		    revoke_data(&x, N_("Revocation request accepted"), REVOKE_STEP_DONE);

		tmpl_data_str(d, "email", q.vals.email);
		rc = web_page(&x, 200, "revoke_done", d);
		tmpl_data_free(d);
	}
out:
	sodium_memzero(&seal, sizeof(seal));
	web_form_free(&f);
	return rc;
}

/* "2026-11-21 19:30 UTC" */
static void
revoke_time(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, outlen, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		out[0] = '\0';
}

/* The pages of a link that cannot be used (or OK: 0, nothing sent). */
static int
revoke_link_refusal(struct web_ctx *x, enum ra_revlink_result res, int *rc)
{
	switch (res) {
	case RA_REVLINK_OK:
	case RA_REVLINK_REVOKED:
		return 0;
	case RA_REVLINK_USED:
		*rc = web_notice(x, 410, N_("This link has already been used"),
				 N_("This link has already been used: the certificate was "
				    "revoked with it."));
		return 1;
	case RA_REVLINK_EXPIRED:
		*rc = web_notice(
		    x, 410, N_("This link has expired"),
		    N_("This link has expired: links are valid for 3 days. The certificate has not "
		       "been revoked. Please make the revocation request again."));
		return 1;
	default:
		*rc = web_notice(x, 404, N_("This link is not valid"),
				 N_("This link is not valid. Please check that you opened the "
				    "whole link from the mail."));
		return 1;
	}
}

/*
 * GET and HEAD of the mailed link: nothing is used (mail scanners and link checkers open
 * links); the page shows the certificate and a button that POSTs the link with the CSRF token.
 */
int
portal_revoke_verify_get(struct http_req *r)
{
	struct web_ctx x;
	struct ra_revlink l;
	struct tmpl_data *d;
	struct store *st;
	struct err e;
	enum ra_revlink_result res = RA_REVLINK_UNKNOWN;
	const char *token = http_query(r, "onetimetoken");
	char csrf[WEB_B64_LEN], until[64];
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_revoke_peek(st, token, &res, &l, &e) == -1)
		return web_error(&x, &e);
	if (res == RA_REVLINK_REVOKED) /* only complete says so */
		res = RA_REVLINK_USED;
	if (revoke_link_refusal(&x, res, &rc))
		return rc;
	d = revoke_data(&x, N_("Revoke the certificate"), REVOKE_STEP_MAIL);
	web_csrf(&x, csrf);
	revoke_time(l.expires, until, sizeof(until));
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "onetimetoken", token);
	tmpl_data_str(d, "serial", l.serial);
	tmpl_data_str(d, "reason", revoke_reason_label(x.lang, ca_reason_name(l.reason)));
	tmpl_data_str(d, "until", until);
	rc = web_page(&x, 200, "revoke_verify", d);
	tmpl_data_free(d);
	return rc;
}

/* The link page's button: the link used and the certificate revoked, once. */
int
portal_revoke_verify_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct ra_revlink l;
	struct ra_notify notify;
	struct tmpl_data *d;
	struct store *st;
	struct err e;
	enum ra_revlink_result res = RA_REVLINK_UNKNOWN;
	char when[64], next[64], sid[WEB_B64_LEN];
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	err_clear(&e);
	/* 403 without this session's CSRF token (or the one the link's use rotated away from) */
	if (web_form_read_link(&x, &f, NULL, "onetimetoken", &rc))
		goto out;
	web_session_link_id(&x, web_form_get(&f, "csrf"), web_form_get(&f, "onetimetoken"), sid);
	portal_notify_init(&notify, x.lang);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_revoke_complete(x.ca, st, web_form_get(&f, "onetimetoken"), &notify, &res, &l, &e) ==
		-1) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (revoke_link_refusal(&x, res, &rc))
		goto out;
	if (res == RA_REVLINK_OK)
		web_session_rotate(&x, sid); /* the holder proved the mailbox: a new session */
	d = revoke_data(&x,
			res == RA_REVLINK_OK ? N_("The certificate has been revoked")
					     : N_("The certificate was revoked already"),
			REVOKE_STEP_REVOKED);
	revoke_time(l.revoked_at, when, sizeof(when));
	tmpl_data_str(d, "serial", l.serial);
	tmpl_data_str(d, "reason", revoke_reason_label(x.lang, ca_reason_name(l.reason)));
	tmpl_data_str(d, "when", when);
	if (l.crl_next != 0) {
		revoke_time(l.crl_next, next, sizeof(next));
		tmpl_data_str(d, "crl_next", next);
	} else {
		tmpl_data_bool(d, "crl_next", 0);
	}
	rc = web_page(&x, 200, "revoke_revoked", d);
	tmpl_data_free(d);
out:
	web_form_free(&f);
	return rc;
}
