/*
 * reissue: the portal's pages of the re-issue by the holder (DESIGN.md 2.3); the RA decides
 * (src/ra/reissue.c), this file shows forms, pages and messages.
 *
 *   GET  /reissue            e-mail, application password, certificate code
 *   POST /reissue            checks the three (one generic answer when they do not fit);
 *                            the holder's certificates in the organization, each with whether
 *                            it can be re-issued and why not (revoked, expired, 30 days or
 *                            less left, or another certificate code needed)
 *   POST /reissue/warn       the warning: the old certificate will be revoked and cannot be
 *                            restored (a checkbox must be ticked)
 *   POST /reissue/edit       the mutable fields (holder e-mail, organizational unit) with the
 *                            fixed ones (organization, names, host names) shown
 *   POST /reissue/check      errors beside the fields, else the confirm page
 *   POST /reissue/confirm    action=back: the form; action=submit: ra_reissue_commit() — in
 *                            ONE transaction the old certificate is revoked (superseded) and
 *                            the new application (state approved, linked to its predecessor,
 *                            a new certificate code) is created, with its audit entry and the
 *                            mail carrying the new code (portal_notify_reissued); a repeat of
 *                            the same form finds its nonce and changes nothing
 *   GET  /reissue/fetch      the new certificate code (and a CSR when the certificate was
 *   POST /reissue/fetch      issued for one) -> the certificate, issued now
 *
 * A login that fits rotates the session id (src/web session.c).  Between the steps the holder
 * is known by a seal (src/web sealed.c, purpose "reissue-auth") over the application id, bound
 * to the new session and running out PORTAL_FORM_TTL after the login: nothing is kept on the
 * server.  The values of the confirm page carry their own seal ("reissue-form", with a nonce).
 */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "ca/ca.h"
#include "http/http.h"
#include "portal_int.h"
#include "ra/ra.h"

static const char *const reissue_flow[] = {
    N_("Identification"), N_("Certificates"), N_("Notice"),	 N_("Changes"),
    N_("Confirm"),	  N_("Accepted"),     N_("Certificate"),
};
enum { RS_LOGIN = 0, RS_LIST, RS_WARN, RS_EDIT, RS_CONFIRM, RS_ACCEPTED, RS_FETCH };

/* Why a certificate cannot be re-issued, in the portal's words (msgids). */
static const char *const reissue_why_text[RA_REISSUE_WHY__MAX] = {
    [RA_REISSUE_WHY_NONE] = NULL,
    [RA_REISSUE_WHY_REVOKED] = N_("Revoked: a revoked certificate cannot be re-issued."),
    [RA_REISSUE_WHY_EXPIRED] = N_("Expired: apply for a new certificate."),
    [RA_REISSUE_WHY_ENDING] =
	N_("30 days or less left: apply for a new certificate instead (renewal)."),
    [RA_REISSUE_WHY_OTHER_CODE] =
	N_("Enter the certificate code of this certificate to re-issue it."),
};

/* The messages beside the fields (msgids; NULL: none). */
struct reissue_errs {
	const char *subject_email, *ou, *understood;
	int any;
};

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

/* The msgid of why (NULL for none or out of range). */
static const char *
reissue_why_msgid(enum ra_reissue_why why)
{
	if ((int)why < 0 || why >= RA_REISSUE_WHY__MAX)
		return NULL;
	return reissue_why_text[why];
}

static struct tmpl_data *
reissue_data(const struct web_ctx *x, const char *title_msgid, int step)
{
	struct tmpl_data *d = web_data(x, title_msgid, -1);

	portal_steps(d, x->lang, reissue_flow, sizeof(reissue_flow) / sizeof(reissue_flow[0]),
		     step);
	return d;
}

static void
reissue_err(struct tmpl_data *d, const char *lang, const char *name, const char *msgid)
{
	if (msgid != NULL)
		tmpl_data_str(d, name, i18n_get(lang, msgid));
	else
		tmpl_data_bool(d, name, 0);
}

static void
reissue_date(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 32, "%Y-%m-%d", &tm) == 0)
		out[0] = '\0';
}

/* ---- the holder's identity between the steps ---- */

#define REISSUE_AUTH_SEAL "reissue-auth"
#define REISSUE_FORM_SEAL "reissue-form"

/*
 * The login's proof on a page: app and a seal over it (sealed.c: bound to the session, no
 * nonce) that runs out at expires, the same for every page after one login.
 */
static void
reissue_auth_add(const struct web_ctx *x, struct tmpl_data *d, int64_t app_id, const char *expires)
{
	char app[32], csrf[WEB_B64_LEN];
	const char *sealed[] = {app};
	struct web_seal s;

	snprintf(app, sizeof(app), "%lld", (long long)app_id);
	memset(&s, 0, sizeof(s));
	snprintf(s.expires, sizeof(s.expires), "%s", expires);
	web_seal_remake(x, REISSUE_AUTH_SEAL, &s, sealed, 1, &s);
	web_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "app", app);
	tmpl_data_str(d, "auth_time", s.expires);
	tmpl_data_str(d, "auth", s.mac);
}

/* The application the form's auth fields prove (*id); 0, or 1 after replying (expired, forged). */
static int
reissue_auth_id(struct web_ctx *x, const struct web_form *f, int64_t *id, int *rc)
{
	const char *app = web_form_get(f, "app");
	const char *sealed[] = {app};
	enum web_seal_result sr = WEB_SEAL_MALFORMED;
	long n;

	*id = 0;
	if (app == NULL || util_parse_long(app, 1, LONG_MAX, &n) == -1)
		goto invalid;
	sr = web_seal_open(x, REISSUE_AUTH_SEAL, NULL, web_form_get(f, "auth_time"),
			   web_form_get(f, "auth"), sealed, 1, NULL);
	if (sr != WEB_SEAL_OK)
		goto invalid;
	*id = n;
	return 0;
invalid:
	*rc = web_seal_refused(x, sr,
			       N_("This form is no longer valid. Please identify yourself again on "
				  "the re-issue page."));
	return 1;
}

/* ---- login ---- */

static int
reissue_login_render(struct web_ctx *x, const char *email, const char *general)
{
	struct tmpl_data *d = reissue_data(x, N_("Certificate re-issue"), RS_LOGIN);
	char csrf[WEB_B64_LEN];
	int rc;

	web_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "email", nz(email));
	reissue_err(d, x->lang, "err_general", general);
	rc = web_page(x, general != NULL ? 400 : 200, "reissue_login", d);
	tmpl_data_free(d);
	return rc;
}

int
portal_reissue_get(struct http_req *r)
{
	struct web_ctx x;

	web_ctx_init(&x, &portal.site, r);
	return reissue_login_render(&x, NULL, NULL);
}

/* The list of the holder's certificates; the one of a can be chosen when allowed. */
static int
reissue_list_render(struct web_ctx *x, struct store *st, const struct ra_app *a, const char *email,
		    const char *when)
{
	struct ra_reissue_item *v = NULL;
	struct tmpl_data *d = NULL;
	struct err e;
	size_t n = 0;
	int rc = -1, any = 0;

	err_clear(&e);
	if (ra_reissue_list(st, a, email, util_now(), &v, &n, &e) == -1) {
		rc = web_error(x, &e);
		goto out;
	}
	d = reissue_data(x, N_("Your certificates"), RS_LIST);
	reissue_auth_add(x, d, a->id, when);
	for (size_t i = 0; i < n; i++) {
		struct tmpl_data *c = tmpl_data_add(d, "certs");
		const char *why = reissue_why_msgid(v[i].why);
		char nb[32], na[32];

		reissue_date(v[i].not_before, nb);
		reissue_date(v[i].not_after, na);
		tmpl_data_str(c, "serial", v[i].serial);
		tmpl_data_str(c, "not_before", nb);
		tmpl_data_str(c, "not_after", na);
		tmpl_data_str(c, "name",
			      v[i].name_romaji[0] != '\0' ? v[i].name_romaji : v[i].hostnames);
		tmpl_data_str(c, "name_kanji", v[i].name_kanji);
		tmpl_data_str(c, "org", a->org_name);
		tmpl_data_bool(c, "can", v[i].why == RA_REISSUE_WHY_NONE);
		if (why != NULL)
			tmpl_data_str(c, "why", i18n_get(x->lang, why));
		if (v[i].why == RA_REISSUE_WHY_NONE)
			any = 1;
	}
	tmpl_data_bool(d, "none", !any);
	rc = web_page(x, 200, "reissue_list", d);
out:
	tmpl_data_free(d);
	ra_reissue_items_free(v, n);
	return rc;
}

int
portal_reissue_post(struct http_req *r)
{
	static const char generic[] = N_("The e-mail address, application password and certificate "
					 "code do not match. Please check what you entered.");
	struct web_ctx x;
	struct web_form f;
	struct ra_app a;
	struct store *st;
	struct err e;
	enum ra_reissue_login_result res;
	const char *email;
	char when[32];
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	memset(&a, 0, sizeof(a));
	err_clear(&e);
	if (!portal_rate_ok(r, portal.reissue_rate)) {
		rc = web_notice(&x, 429, N_("Too many requests"),
				N_("Too many requests came from your network. Please wait a "
				   "minute and try again."));
		goto out;
	}
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	email = nz(web_form_get(&f, "email"));
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_reissue_login(st, email, nz(web_form_get(&f, "app_password")),
			     web_form_get(&f, "cert_code"), &a, &res, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (res != RA_REISSUE_LOGIN_OK) {
		rc = reissue_login_render(&x, email, generic);
		goto out;
	}
	/* the holder is known from here on: a new session id, and the login bound to it only */
	web_session_rotate(&x, NULL);
	snprintf(when, sizeof(when), "%lld", (long long)util_now() + PORTAL_FORM_TTL);
	rc = reissue_list_render(&x, st, &a, email, when); /* as typed: it fits a's */
out:
	ra_app_clear(&a);
	web_form_free(&f);
	return rc;
}

/* ---- the chosen certificate ---- */

/*
 * Loads the authenticated application and its certificate and checks that it can still be
 * re-issued; 0, or 1 after replying.
 */
static int
reissue_target(struct web_ctx *x, struct store *st, const struct web_form *f, struct ra_app *a,
	       struct ra_reissue_item *c, int *rc, struct err *e)
{
	int64_t id;
	int k;

	memset(a, 0, sizeof(*a));
	memset(c, 0, sizeof(*c));
	if ((k = reissue_auth_id(x, f, &id, rc)) != 0)
		return k;
	if (ra_reissue_target(st, id, util_now(), a, c, e) == -1)
		return -1;
	if (c->why != RA_REISSUE_WHY_NONE) {
		*rc = web_notice(x, 409, N_("This certificate cannot be re-issued"),
				 reissue_why_msgid(c->why));
		ra_app_clear(a);
		ra_reissue_item_clear(c);
		return 1;
	}
	return 0;
}

static void
reissue_fixed_add(struct tmpl_data *d, const struct ra_app *a, const struct ra_reissue_item *c)
{
	char na[32];

	reissue_date(c->not_after, na);
	tmpl_data_str(d, "serial", c->serial);
	tmpl_data_str(d, "not_after", na);
	tmpl_data_str(d, "org", a->org_name);
	tmpl_data_str(d, "name_kanji", a->name_kanji);
	tmpl_data_str(d, "name_romaji", a->name_romaji);
	tmpl_data_str(d, "hostnames", a->hostnames);
	tmpl_data_bool(d, "is_server", strcmp(a->profile, "server") == 0);
	tmpl_data_bool(d, "has_kanji", a->name_kanji[0] != '\0');
}

/* A page of the chosen certificate (warn, edit, confirm) with the fixed values. */
static int
reissue_page(struct web_ctx *x, const struct ra_app *a, const struct ra_reissue_item *c,
	     const char *when, const char *page, int step, const char *title,
	     const struct ra_reissue_vals *v, const struct reissue_errs *er)
{
	struct tmpl_data *d;
	int rc;

	d = reissue_data(x, title, step);
	reissue_auth_add(x, d, a->id, when);
	reissue_fixed_add(d, a, c);
	tmpl_data_str(d, "subject_email", v != NULL ? v->subject_email : a->subject_email);
	tmpl_data_str(d, "ou", v != NULL ? v->ou : a->ou);
	tmpl_data_bool(d, "has_errors", er != NULL && er->any);
	reissue_err(d, x->lang, "err_subject_email", er != NULL ? er->subject_email : NULL);
	reissue_err(d, x->lang, "err_ou", er != NULL ? er->ou : NULL);
	reissue_err(d, x->lang, "err_understood", er != NULL ? er->understood : NULL);
	rc = web_page(x, er != NULL && er->any ? 400 : 200, page, d);
	tmpl_data_free(d);
	return rc;
}

/* Reads the form, the authenticated target; 0 to go on, else replied (rc set). */
static int
reissue_step_begin(struct web_ctx *x, struct web_form *f, struct store **st, struct ra_app *a,
		   struct ra_reissue_item *c, int *rc)
{
	struct err e;
	int k;

	err_clear(&e);
	memset(a, 0, sizeof(*a));
	memset(c, 0, sizeof(*c));
	if (web_form_read(x, f, NULL, rc))
		return 1;
	if ((*st = ca_thread_store(x->ca, &e)) == NULL) {
		*rc = web_error(x, &e);
		return 1;
	}
	if ((k = reissue_target(x, *st, f, a, c, rc, &e)) == -1) {
		*rc = web_error(x, &e);
		return 1;
	}
	return k;
}

int
portal_reissue_warn_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct ra_app a;
	struct ra_reissue_item c;
	struct store *st;
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	if (reissue_step_begin(&x, &f, &st, &a, &c, &rc) == 0) {
		rc = reissue_page(&x, &a, &c, web_form_get(&f, "auth_time"), "reissue_warn",
				  RS_WARN, N_("Before you re-issue"), NULL, NULL);
		ra_app_clear(&a);
		ra_reissue_item_clear(&c);
	}
	web_form_free(&f);
	return rc;
}

/* The portal's message for the RA's verdict on the holder's e-mail (NULL: fine). */
static const char *
reissue_email_msgid(enum ra_reissue_field f)
{
	switch (f) {
	case RA_REISSUE_FIELD_OK:
		return NULL;
	case RA_REISSUE_FIELD_OUTSIDE_ORG:
		return N_("The e-mail address must belong to a domain of your organization.");
	default:
		return N_("Enter a valid e-mail address.");
	}
}

/* The RA's field codes as the messages beside the fields. */
static void
reissue_errs_of(const struct ra_reissue_fields *rf, struct reissue_errs *er)
{
	memset(er, 0, sizeof(*er));
	er->subject_email = reissue_email_msgid(rf->subject_email);
	if (rf->ou != RA_REISSUE_FIELD_OK)
		er->ou = N_("Enter the organizational unit (up to 64 characters).");
	er->any = er->subject_email != NULL || er->ou != NULL;
}

int
portal_reissue_edit_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct ra_app a;
	struct ra_reissue_item c;
	struct store *st;
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	if (reissue_step_begin(&x, &f, &st, &a, &c, &rc) == 0) {
		const char *when = web_form_get(&f, "auth_time");

		if (strcmp(nz(web_form_get(&f, "understood")), "yes") != 0) {
			struct reissue_errs er = {0};

			er.understood = N_("Please confirm that you understand that the current "
					   "certificate will be revoked.");
			er.any = 1;
			rc = reissue_page(&x, &a, &c, when, "reissue_warn", RS_WARN,
					  N_("Before you re-issue"), NULL, &er);
		} else {
			rc = reissue_page(&x, &a, &c, when, "reissue_edit", RS_EDIT,
					  N_("Changes for the new certificate"), NULL, NULL);
		}
		ra_app_clear(&a);
		ra_reissue_item_clear(&c);
	}
	web_form_free(&f);
	return rc;
}

/* The confirm page: the values with a nonce and their MAC. */
static int
reissue_confirm_render(struct web_ctx *x, const struct ra_app *a, const struct ra_reissue_item *c,
		       const char *auth_time, const struct ra_reissue_vals *v)
{
	struct tmpl_data *d;
	struct web_seal seal;
	char app[32];
	const char *sealed[] = {app, v->subject_email, v->ou};
	int rc;

	snprintf(app, sizeof(app), "%lld", (long long)a->id);
	web_seal_make(x, REISSUE_FORM_SEAL, PORTAL_FORM_TTL, 1, sealed, 3, &seal);
	d = reissue_data(x, N_("Confirm the re-issue"), RS_CONFIRM);
	reissue_auth_add(x, d, a->id, auth_time);
	reissue_fixed_add(d, a, c);
	web_seal_data(d, &seal);
	tmpl_data_str(d, "subject_email", v->subject_email);
	tmpl_data_str(d, "ou", v->ou);
	rc = web_page(x, 200, "reissue_confirm", d);
	tmpl_data_free(d);
	sodium_memzero(&seal, sizeof(seal));
	return rc;
}

/* POST /reissue/edit/check: the edited values -> errors or the confirm page. */
int
portal_reissue_check_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct ra_app a;
	struct ra_reissue_item c;
	struct store *st;
	struct ra_reissue_vals v;
	struct ra_reissue_fields rf;
	struct reissue_errs er;
	struct err e;
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	err_clear(&e);
	if (reissue_step_begin(&x, &f, &st, &a, &c, &rc) != 0)
		goto out;
	v.subject_email = nz(web_form_get(&f, "subject_email"));
	v.ou = nz(web_form_get(&f, "ou"));
	if (ra_reissue_check(st, &a, &v, &rf, &e) == -1) {
		rc = web_error(&x, &e);
	} else {
		reissue_errs_of(&rf, &er);
		if (er.any)
			rc = reissue_page(&x, &a, &c, web_form_get(&f, "auth_time"), "reissue_edit",
					  RS_EDIT, N_("Changes for the new certificate"), &v, &er);
		else
			rc = reissue_confirm_render(&x, &a, &c, web_form_get(&f, "auth_time"), &v);
	}
	ra_app_clear(&a);
	ra_reissue_item_clear(&c);
out:
	web_form_free(&f);
	return rc;
}

/* ---- the re-issue itself ---- */

/* The page of the RA's answer to a Submit (not an error). */
static int
reissue_answer_reply(struct web_ctx *x, struct store *st, const struct web_form *f,
		     const struct ra_reissue_vals *v, const struct ra_reissue_answer *ans)
{
	struct tmpl_data *d;
	int rc = -1;

	switch (ans->result) {
	case RA_REISSUE_ACCEPTED:
		d = reissue_data(x, N_("Re-issue accepted"), RS_ACCEPTED);
		tmpl_data_str(d, "old_serial", ans->old_serial);
		tmpl_data_str(d, "email", nz(ans->to));
		rc = web_page(x, 200, "reissue_done", d);
		tmpl_data_free(d);
		break;
	case RA_REISSUE_REPEAT:
		rc = web_notice(x, 200, N_("Re-issue accepted"),
				N_("Your re-issue has been accepted. We have sent the new "
				   "certificate code by mail."));
		break;
	case RA_REISSUE_NOT_REISSUABLE:
		rc = web_notice(x, 409, N_("This certificate cannot be re-issued"),
				reissue_why_msgid(ans->why));
		break;
	case RA_REISSUE_FIELDS: {
		/* the organization's domains changed since the check: the form again */
		struct reissue_errs er;
		struct ra_app a;
		struct ra_reissue_item c;
		struct err e;

		int k;

		err_clear(&e);
		reissue_errs_of(&ans->fields, &er);
		if ((k = reissue_target(x, st, f, &a, &c, &rc, &e)) == -1)
			rc = web_error(x, &e);
		if (k != 0)
			break;
		rc = reissue_page(x, &a, &c, web_form_get(f, "auth_time"), "reissue_edit", RS_EDIT,
				  N_("Changes for the new certificate"), v, &er);
		ra_app_clear(&a);
		ra_reissue_item_clear(&c);
		break;
	}
	default: /* RA_REISSUE_REVOKED_MEANWHILE */
		rc = web_notice(x, 409, N_("This certificate cannot be re-issued"),
				N_("Revoked: a revoked certificate cannot be re-issued."));
		break;
	}
	return rc;
}

/* Submit: the RA's re-issue of application id with the values v, the form's nonce raw. */
static int
reissue_submit(struct web_ctx *x, struct store *st, const struct web_form *f, int64_t id,
	       const struct ra_reissue_vals *v, const unsigned char raw[WEB_TOKEN_LEN])
{
	struct ra_reissue_req q;
	struct ra_reissue_answer ans;
	struct ra_notify n;
	struct err e;
	char actor[64];
	int rc;

	err_clear(&e);
	memset(&q, 0, sizeof(q));
	snprintf(actor, sizeof(actor), "portal:app:%lld", (long long)id);
	q.app_id = id;
	q.nonce = raw;
	q.nonce_expires = util_now() + PORTAL_FORM_TTL;
	q.vals = *v;
	q.actor = actor;
	q.fault_after_revoke = portal_test_fault("reissue-after-revoke");
	portal_notify_init(&n, x->lang); /* the mail in the holder's language */
	if (ra_reissue_commit(x->ca, st, &q, &n, &ans, &e) == -1)
		rc = web_error(x, &e);
	else
		rc = reissue_answer_reply(x, st, f, v, &ans);
	ra_reissue_answer_clear(&ans);
	return rc;
}

int
portal_reissue_confirm_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct ra_app a;
	struct ra_reissue_item c;
	struct store *st;
	struct ra_reissue_vals v;
	struct err e;
	const char *app, *action;
	struct web_seal seal;
	enum web_seal_result sr;
	int64_t id;
	int rc = -1, done = 0;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	memset(&seal, 0, sizeof(seal));
	err_clear(&e);
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	v.subject_email = nz(web_form_get(&f, "subject_email"));
	v.ou = nz(web_form_get(&f, "ou"));
	app = nz(web_form_get(&f, "app"));
	action = nz(web_form_get(&f, "action"));
	{
		const char *sealed[] = {app, v.subject_email, v.ou};

		if ((sr = web_seal_open_form(&x, REISSUE_FORM_SEAL, &f, sealed, 3, &seal)) !=
		    WEB_SEAL_OK)
			goto invalid;
	}
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (strcmp(action, "submit") == 0) {
		/* a repeat is answered as accepted, also once the login has run out */
		if (ra_reissue_done(st, seal.nonce_raw, &done, &e) == -1) {
			rc = web_error(&x, &e);
			goto out;
		}
		if (done) {
			rc = web_notice(&x, 200, N_("Re-issue accepted"),
					N_("Your re-issue has been accepted. We have sent the "
					   "new certificate code by mail."));
			goto out;
		}
		if (reissue_auth_id(&x, &f, &id, &rc) != 0)
			goto out;
		rc = reissue_submit(&x, st, &f, id, &v, seal.nonce_raw);
		goto out;
	}
	{
		int k = reissue_target(&x, st, &f, &a, &c, &rc, &e);

		if (k == -1)
			rc = web_error(&x, &e);
		if (k != 0)
			goto out;
	}
	if (strcmp(action, "back") == 0)
		rc = reissue_page(&x, &a, &c, web_form_get(&f, "auth_time"), "reissue_edit",
				  RS_EDIT, N_("Changes for the new certificate"), &v, NULL);
	ra_app_clear(&a);
	ra_reissue_item_clear(&c);
	if (strcmp(action, "back") == 0)
		goto out;
	sr = WEB_SEAL_MALFORMED; /* no such action */
invalid:
	rc = web_seal_refused(&x, sr,
			      N_("This form is no longer valid. Please identify yourself again on "
				 "the re-issue page."));
out:
	sodium_memzero(&seal, sizeof(seal));
	web_form_free(&f);
	return rc;
}

/* ---- fetching the new certificate ---- */

/*
 * The fetch form: code (kept, or NULL), the CSR field when the certificate is for a CSR, and
 * the errors (msgids; detail: the CA's refusal of the CSR, in English).
 */
static int
reissue_fetch_render(struct web_ctx *x, const char *code, const char *code_err, int csr,
		     const char *csr_err, const char *detail)
{
	struct tmpl_data *d = reissue_data(x, N_("Fetch your new certificate"), RS_FETCH);
	char csrf[WEB_B64_LEN];
	int rc;

	web_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "cert_code", nz(code));
	tmpl_data_bool(d, "need_csr", csr);
	reissue_err(d, x->lang, "err_cert_code", code_err);
	reissue_err(d, x->lang, "err_csr", csr_err);
	if (detail != NULL)
		tmpl_data_str(d, "csr_detail", detail);
	else
		tmpl_data_bool(d, "csr_detail", 0);
	rc = web_page(x, code_err != NULL || csr_err != NULL ? 400 : 200, "reissue_fetch", d);
	tmpl_data_free(d);
	return rc;
}

int
portal_reissue_fetch_get(struct http_req *r)
{
	struct web_ctx x;

	web_ctx_init(&x, &portal.site, r);
	return reissue_fetch_render(&x, NULL, NULL, 0, NULL, NULL);
}

int
portal_reissue_fetch_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct ra_notify n;
	struct ra_cert_page page;
	enum ra_submit_result res;
	struct store *st;
	struct err e;
	const char *code, *csr;
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	memset(&page, 0, sizeof(page));
	err_clear(&e);
	if (!portal_rate_ok(r, portal.reissue_rate)) {
		rc = web_notice(&x, 429, N_("Too many requests"),
				N_("Too many requests came from your network. Please wait a "
				   "minute and try again."));
		goto out;
	}
	if (web_form_read(&x, &f, &portal_form_big, &rc))
		goto out;
	code = web_form_get(&f, "cert_code");
	csr = web_form_get(&f, "csr");
	portal_notify_init(&n, x.lang);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_reissue_fetch(x.ca, st, nz(code), csr, &n, &res, &page, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	switch (res) {
	case RA_SUBMIT_ISSUED:
		rc = portal_cert_page(&x, &page);
		break;
	case RA_SUBMIT_USED:
		rc = web_notice(&x, 410, N_("The certificate has already been issued"),
				N_("The certificate of this re-issue has already been issued. "
				   "For your security, the PIN is shown only once."));
		break;
	case RA_SUBMIT_EXPIRED:
		rc = web_notice(&x, 410, N_("This re-issue has expired"),
				N_("The new certificate was not fetched within 30 days. Please "
				   "contact the registration authority of your organization."));
		break;
	case RA_SUBMIT_NEED_CSR:
		rc = reissue_fetch_render(
		    &x, code, NULL, 1,
		    csr == NULL ? NULL : N_("Paste the CSR (PEM) of the new key."), NULL);
		break;
	case RA_SUBMIT_REFUSED:
		rc = reissue_fetch_render(&x, code, NULL, 1, N_("The CSR was refused:"),
					  page.detail);
		break;
	default:
		rc = reissue_fetch_render(&x, code,
					  N_("This certificate code does not belong to a re-issue. "
					     "Please check the code in the mail."),
					  0, NULL, NULL);
	}
out:
	ra_cert_page_clear(&page);
	web_form_free(&f);
	return rc;
}
