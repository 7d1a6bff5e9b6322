/*
 * reissue: re-issue by the holder (DESIGN.md 2.3).
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
 *   POST /reissue/confirm    action=back: the form; action=submit: in ONE transaction the old
 *                            certificate is revoked (superseded) and the new application
 *                            (state approved, linked to its predecessor, a new certificate
 *                            code) is created, with its audit entries and the mail carrying the
 *                            new code; a repeat of the same form finds its nonce and changes
 *                            nothing
 *   GET  /reissue/fetch      the new certificate code (and a CSR when the certificate was
 *   POST /reissue/fetch      issued for one) -> the certificate, issued now
 *
 * Between the steps the holder is known by a MAC over the session, the application id and
 * the time of the login (valid PORTAL_FORM_TTL): nothing is kept on the server.  The values of
 * the confirm page carry their own MAC, as in regist.c.
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

#define REISSUE_TOKEN_FORM STORE_TOKEN_REISSUE_FORM /* nonce of the confirm form */
#define REISSUE_MIN_LEFT (30 * 86400)		    /* no re-issue with 30 days or less left */
#define REISSUE_FETCH_TTL (30 * 86400)		    /* the new certificate waits this long */
#define REISSUE_LIST_MAX 50

static const char *const reissue_flow[] = {
    N_("Identification"), N_("Certificates"), N_("Notice"),	 N_("Changes"),
    N_("Confirm"),	  N_("Accepted"),     N_("Certificate"),
};
enum { RS_LOGIN = 0, RS_LIST, RS_WARN, RS_EDIT, RS_CONFIRM, RS_ACCEPTED, RS_FETCH };

/* The mutable values (borrowed from the form). */
struct reissue_vals {
	const char *subject_email, *ou;
};

struct reissue_errs {
	const char *subject_email, *ou, *understood;
	int any;
};

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

static struct tmpl_data *
reissue_data(const struct portal_ctx *x, const char *title_msgid, int step)
{
	struct tmpl_data *d = portal_data(x, title_msgid, -1);

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

static void
reissue_auth_mac(const struct portal_ctx *x, const char *app, const char *when,
		 char out[PORTAL_B64_LEN])
{
	const char *parts[] = {"reissue-auth", x->sid, app, when};

	portal_mac(out, parts, sizeof(parts) / sizeof(parts[0]));
}

static void
reissue_auth_add(const struct portal_ctx *x, struct tmpl_data *d, int64_t app_id, const char *when)
{
	char app[32], mac[PORTAL_B64_LEN], csrf[PORTAL_B64_LEN];

	snprintf(app, sizeof(app), "%lld", (long long)app_id);
	reissue_auth_mac(x, app, when, mac);
	portal_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "app", app);
	tmpl_data_str(d, "auth_time", when);
	tmpl_data_str(d, "auth", mac);
}

/* The application the form's auth fields prove; 0, or 1 after replying (expired, forged). */
static int
reissue_auth_load(struct portal_ctx *x, struct store *st, const struct portal_form *f,
		  struct store_app *a, int *rc, struct err *e)
{
	const char *app = portal_form_get(f, "app"), *when = portal_form_get(f, "auth_time"),
		   *mac = portal_form_get(f, "auth");
	char want[PORTAL_B64_LEN];
	long id, t;

	memset(a, 0, sizeof(*a));
	if (app == NULL || when == NULL || mac == NULL ||
	    util_parse_long(app, 1, LONG_MAX, &id) == -1 ||
	    util_parse_long(when, 0, LONG_MAX, &t) == -1 || strlen(mac) != PORTAL_B64_LEN - 1)
		goto invalid;
	reissue_auth_mac(x, app, when, want);
	if (!util_memeq_ct(want, mac, PORTAL_B64_LEN - 1) || t > util_now() + 60 ||
	    util_now() - t > PORTAL_FORM_TTL)
		goto invalid;
	if (store_app_get(st, id, a, e) == -1)
		return -1;
	return 0;
invalid:
	*rc = portal_notice(x, 400, N_("The form is no longer valid"),
			    N_("This form is no longer valid. Please identify yourself again on "
			       "the re-issue page."));
	return 1;
}

/* ---- what may be re-issued ---- */

/* The msgid saying why the certificate of a cannot be re-issued, or NULL when it can. */
static const char *
reissue_refusal(const struct store_app *a, const struct store_cert *c, time_t now)
{
	if (strcmp(a->state, "issued") != 0 || c->status == STORE_CERT_REVOKED)
		return N_("Revoked: a revoked certificate cannot be re-issued.");
	if (c->not_after <= now)
		return N_("Expired: apply for a new certificate.");
	if (c->not_after - now <= REISSUE_MIN_LEFT)
		return N_("30 days or less left: apply for a new certificate instead (renewal).");
	return NULL;
}

/* ---- login ---- */

static int
reissue_login_render(struct portal_ctx *x, const char *email, const char *general)
{
	struct tmpl_data *d = reissue_data(x, N_("Certificate re-issue"), RS_LOGIN);
	char csrf[PORTAL_B64_LEN];
	int rc;

	portal_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "email", nz(email));
	reissue_err(d, x->lang, "err_general", general);
	rc = portal_page(x, general != NULL ? 400 : 200, "reissue_login", d);
	tmpl_data_free(d);
	return rc;
}

int
portal_reissue_get(struct http_req *r)
{
	struct portal_ctx x;

	portal_ctx_init(&x, r);
	return reissue_login_render(&x, NULL, NULL);
}

/* The list of the holder's certificates; the one of a can be chosen when allowed. */
static int
reissue_list_render(struct portal_ctx *x, struct store *st, const struct store_app *a,
		    const char *email, const char *when)
{
	struct store_app *v = NULL;
	struct tmpl_data *d = NULL;
	struct store_org org;
	struct err e;
	size_t n = 0;
	time_t now = util_now();
	int rc = -1, any = 0;

	err_clear(&e);
	memset(&org, 0, sizeof(org));
	if (store_org_get_id(st, a->org_id, &org, &e) == -1 ||
	    store_app_list_holder(st, a->org_id, email, REISSUE_LIST_MAX, &v, &n, &e) == -1) {
		rc = portal_error(x, &e);
		goto out;
	}
	d = reissue_data(x, N_("Your certificates"), RS_LIST);
	reissue_auth_add(x, d, a->id, when);
	for (size_t i = 0; i < n; i++) {
		struct tmpl_data *c = tmpl_data_add(d, "certs");
		struct store_cert cert;
		const char *why;
		char nb[32], na[32];

		memset(&cert, 0, sizeof(cert));
		if (store_cert_get(st, v[i].cert_serial, &cert, &e) == -1) {
			tmpl_data_free(d);
			d = NULL;
			rc = portal_error(x, &e);
			goto out;
		}
		reissue_date(cert.not_before, nb);
		reissue_date(cert.not_after, na);
		tmpl_data_str(c, "serial", cert.serial);
		tmpl_data_str(c, "not_before", nb);
		tmpl_data_str(c, "not_after", na);
		tmpl_data_str(c, "name",
			      v[i].name_romaji != NULL ? v[i].name_romaji : nz(v[i].hostnames));
		tmpl_data_str(c, "name_kanji", nz(v[i].name_kanji));
		tmpl_data_str(c, "org", org.name);
		why = reissue_refusal(&v[i], &cert, now);
		if (why == NULL && v[i].id != a->id)
			why = N_("Enter the certificate code of this certificate to re-issue it.");
		tmpl_data_bool(c, "can", why == NULL);
		if (why != NULL)
			tmpl_data_str(c, "why", i18n_get(x->lang, why));
		else
			any = 1;
		store_cert_clear(&cert);
	}
	tmpl_data_bool(d, "none", !any);
	rc = portal_page(x, 200, "reissue_list", d);
out:
	tmpl_data_free(d);
	STORE_LIST_FREE(v, n, store_app_clear);
	store_org_clear(&org);
	return rc;
}

int
portal_reissue_post(struct http_req *r)
{
	static const char generic[] = N_("The e-mail address, application password and certificate "
					 "code do not match. Please check what you entered.");
	struct portal_ctx x;
	struct portal_form f;
	struct store_app a;
	struct store *st;
	struct err e, se;
	const char *email, *pw, *code;
	unsigned char h[STORE_HASH_LEN];
	char when[32];
	int rc = -1, ok = 0;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&a, 0, sizeof(a));
	err_clear(&e);
	err_clear(&se);
	if (!portal_rate_ok(r, portal.reissue_rate)) {
		rc = portal_notice(&x, 429, N_("Too many requests"),
				   N_("Too many requests came from your network. Please wait a "
				      "minute and try again."));
		goto out;
	}
	if (portal_form_read(&x, &f, &rc))
		goto out;
	email = nz(portal_form_get(&f, "email"));
	pw = nz(portal_form_get(&f, "app_password"));
	code = portal_form_get(&f, "cert_code");
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (ra_code_hash(code, h) == 0) {
		if (store_app_get_by_code(st, h, &a, &se) == 0) {
			ok = a.password_hash != NULL &&
			     (strcasecmp(email, a.email) == 0 ||
			      (a.subject_email != NULL &&
			       strcasecmp(email, a.subject_email) == 0)) &&
			     crypto_pwhash_str_verify(a.password_hash, pw, strlen(pw)) == 0;
		} else if (se.code != ERR_NOTFOUND) {
			rc = portal_error(&x, &se);
			goto out;
		}
	}
	if (!ok) {
		rc = reissue_login_render(&x, email, generic);
		goto out;
	}
	snprintf(when, sizeof(when), "%lld", (long long)util_now());
	rc = reissue_list_render(&x, st, &a, email, when); /* as typed: it fits a's */
out:
	store_app_clear(&a);
	portal_form_free(&f);
	return rc;
}

/* ---- the chosen certificate ---- */

/*
 * Loads the authenticated application and its certificate and checks that it can still be
 * re-issued; 0, or 1 after replying.
 */
static int
reissue_target(struct portal_ctx *x, struct store *st, const struct portal_form *f,
	       struct store_app *a, struct store_cert *c, int *rc, struct err *e)
{
	const char *why;
	int k;

	memset(c, 0, sizeof(*c));
	if ((k = reissue_auth_load(x, st, f, a, rc, e)) != 0)
		return k;
	if (a->cert_serial == NULL || store_cert_get(st, a->cert_serial, c, e) == -1) {
		if (a->cert_serial == NULL)
			err_set(e, ERR_INTERNAL, "portal: application %lld has no certificate",
				(long long)a->id);
		store_app_clear(a);
		return -1;
	}
	if ((why = reissue_refusal(a, c, util_now())) != NULL) {
		*rc = portal_notice(x, 409, N_("This certificate cannot be re-issued"), why);
		store_app_clear(a);
		store_cert_clear(c);
		return 1;
	}
	return 0;
}

static void
reissue_fixed_add(struct tmpl_data *d, const struct store_app *a, const struct store_cert *c,
		  const char *org_name)
{
	char na[32];

	reissue_date(c->not_after, na);
	tmpl_data_str(d, "serial", c->serial);
	tmpl_data_str(d, "not_after", na);
	tmpl_data_str(d, "org", org_name);
	tmpl_data_str(d, "name_kanji", nz(a->name_kanji));
	tmpl_data_str(d, "name_romaji", nz(a->name_romaji));
	tmpl_data_str(d, "hostnames", nz(a->hostnames));
	tmpl_data_bool(d, "is_server", a->profile != NULL && strcmp(a->profile, "server") == 0);
	tmpl_data_bool(d, "has_kanji", a->name_kanji != NULL && a->name_kanji[0] != '\0');
}

/* A page of the chosen certificate (warn, edit, confirm) with the fixed values. */
static int
reissue_page(struct portal_ctx *x, struct store *st, const struct store_app *a,
	     const struct store_cert *c, const char *when, const char *page, int step,
	     const char *title, const struct reissue_vals *v, const struct reissue_errs *er)
{
	struct tmpl_data *d;
	struct store_org org;
	struct err e;
	int rc;

	err_clear(&e);
	memset(&org, 0, sizeof(org));
	if (store_org_get_id(st, a->org_id, &org, &e) == -1)
		return portal_error(x, &e);
	d = reissue_data(x, title, step);
	reissue_auth_add(x, d, a->id, when);
	reissue_fixed_add(d, a, c, org.name);
	tmpl_data_str(d, "subject_email", v != NULL ? v->subject_email : nz(a->subject_email));
	tmpl_data_str(d, "ou", v != NULL ? v->ou : nz(a->ou));
	tmpl_data_bool(d, "has_errors", er != NULL && er->any);
	reissue_err(d, x->lang, "err_subject_email", er != NULL ? er->subject_email : NULL);
	reissue_err(d, x->lang, "err_ou", er != NULL ? er->ou : NULL);
	reissue_err(d, x->lang, "err_understood", er != NULL ? er->understood : NULL);
	rc = portal_page(x, er != NULL && er->any ? 400 : 200, page, d);
	tmpl_data_free(d);
	store_org_clear(&org);
	return rc;
}

/* Reads the form, the authenticated target; 0 to go on, else replied (rc set). */
static int
reissue_step_begin(struct portal_ctx *x, struct portal_form *f, struct store **st,
		   struct store_app *a, struct store_cert *c, int *rc)
{
	struct err e;
	int k;

	err_clear(&e);
	memset(a, 0, sizeof(*a));
	memset(c, 0, sizeof(*c));
	if (portal_form_read(x, f, rc))
		return 1;
	if ((*st = ca_thread_store(x->ca, &e)) == NULL) {
		*rc = portal_error(x, &e);
		return 1;
	}
	if ((k = reissue_target(x, *st, f, a, c, rc, &e)) == -1) {
		*rc = portal_error(x, &e);
		return 1;
	}
	return k;
}

int
portal_reissue_warn_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct store_app a;
	struct store_cert c;
	struct store *st;
	int rc = -1;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	if (reissue_step_begin(&x, &f, &st, &a, &c, &rc) == 0) {
		rc = reissue_page(&x, st, &a, &c, portal_form_get(&f, "auth_time"), "reissue_warn",
				  RS_WARN, N_("Before you re-issue"), NULL, NULL);
		store_app_clear(&a);
		store_cert_clear(&c);
	}
	portal_form_free(&f);
	return rc;
}

/* Checks the mutable values against the profile; fills er. -1 on a store error. */
static int
reissue_check(struct store *st, const struct store_app *a, const struct reissue_vals *v,
	      struct reissue_errs *er, struct err *e)
{
	int client = a->profile != NULL && strcmp(a->profile, "client") == 0;

	if (v->subject_email[0] != '\0' || client) {
		int in;

		if (!mail_addr_valid(v->subject_email)) {
			er->subject_email = N_("Enter a valid e-mail address.");
		} else if ((in = portal_email_in_org(st, a->org_id, v->subject_email, e)) == -1) {
			return -1;
		} else if (!in) {
			er->subject_email =
			    N_("The e-mail address must belong to a domain of your organization.");
		}
	}
	if (v->ou[0] != '\0' ? !ra_ou_ok(v->ou)
			     : (a->profile != NULL && strcmp(a->profile, "server") != 0))
		er->ou = N_("Enter the organizational unit (up to 64 characters).");
	er->any = er->subject_email || er->ou || er->understood;
	return 0;
}

int
portal_reissue_edit_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct store_app a;
	struct store_cert c;
	struct store *st;
	int rc = -1;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	if (reissue_step_begin(&x, &f, &st, &a, &c, &rc) == 0) {
		const char *when = portal_form_get(&f, "auth_time");

		if (strcmp(nz(portal_form_get(&f, "understood")), "yes") != 0) {
			struct reissue_errs er = {0};

			er.understood = N_("Please confirm that you understand that the current "
					   "certificate will be revoked.");
			er.any = 1;
			rc = reissue_page(&x, st, &a, &c, when, "reissue_warn", RS_WARN,
					  N_("Before you re-issue"), NULL, &er);
		} else {
			rc = reissue_page(&x, st, &a, &c, when, "reissue_edit", RS_EDIT,
					  N_("Changes for the new certificate"), NULL, NULL);
		}
		store_app_clear(&a);
		store_cert_clear(&c);
	}
	portal_form_free(&f);
	return rc;
}

static void
reissue_form_mac(const struct portal_ctx *x, const char *app, const char *nonce, const char *when,
		 const struct reissue_vals *v, char out[PORTAL_B64_LEN])
{
	const char *parts[] = {"reissue-form", x->sid, app, nonce, when, v->subject_email, v->ou};

	portal_mac(out, parts, sizeof(parts) / sizeof(parts[0]));
}

/* The confirm page: the values with a nonce and their MAC. */
static int
reissue_confirm_render(struct portal_ctx *x, struct store *st, const struct store_app *a,
		       const struct store_cert *c, const char *auth_time,
		       const struct reissue_vals *v)
{
	struct tmpl_data *d;
	struct store_org org;
	struct err e;
	char app[32], nonce[PORTAL_B64_LEN], when[32], mac[PORTAL_B64_LEN];
	unsigned char raw[PORTAL_TOKEN_LEN];
	int rc;

	err_clear(&e);
	memset(&org, 0, sizeof(org));
	if (store_org_get_id(st, a->org_id, &org, &e) == -1)
		return portal_error(x, &e);
	util_random(raw, sizeof(raw));
	portal_b64url(nonce, sizeof(nonce), raw, sizeof(raw));
	snprintf(when, sizeof(when), "%lld", (long long)util_now());
	snprintf(app, sizeof(app), "%lld", (long long)a->id);
	reissue_form_mac(x, app, nonce, when, v, mac);
	d = reissue_data(x, N_("Confirm the re-issue"), RS_CONFIRM);
	reissue_auth_add(x, d, a->id, auth_time);
	reissue_fixed_add(d, a, c, org.name);
	tmpl_data_str(d, "form_nonce", nonce);
	tmpl_data_str(d, "form_time", when);
	tmpl_data_str(d, "form_mac", mac);
	tmpl_data_str(d, "subject_email", v->subject_email);
	tmpl_data_str(d, "ou", v->ou);
	rc = portal_page(x, 200, "reissue_confirm", d);
	tmpl_data_free(d);
	store_org_clear(&org);
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

/* POST /reissue/edit/check: the edited values -> errors or the confirm page. */
int
portal_reissue_check_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct store_app a;
	struct store_cert c;
	struct store *st;
	struct reissue_vals v;
	struct reissue_errs er;
	struct err e;
	int rc = -1;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&er, 0, sizeof(er));
	err_clear(&e);
	if (reissue_step_begin(&x, &f, &st, &a, &c, &rc) != 0)
		goto out;
	v.subject_email = nz(portal_form_get(&f, "subject_email"));
	v.ou = nz(portal_form_get(&f, "ou"));
	if (reissue_check(st, &a, &v, &er, &e) == -1)
		rc = portal_error(&x, &e);
	else if (er.any)
		rc = reissue_page(&x, st, &a, &c, portal_form_get(&f, "auth_time"), "reissue_edit",
				  RS_EDIT, N_("Changes for the new certificate"), &v, &er);
	else
		rc = reissue_confirm_render(&x, st, &a, &c, portal_form_get(&f, "auth_time"), &v);
	store_app_clear(&a);
	store_cert_clear(&c);
out:
	portal_form_free(&f);
	return rc;
}

/* ---- the re-issue itself ---- */

static int
reissue_mail(struct portal_ctx *x, struct store *st, const char *to, const char *old_serial,
	     const char *code, struct err *e)
{
	struct buf body;
	char *link = xasprintf("%s/reissue/fetch", portal.base_url);
	int rc = -1;

	buf_init(&body, MAIL_BODY_MAX);
	if (buf_printf(
		&body, "%s\n\n%s: %s\n\n%s\n\n%s: %s\n\n%s\n%s\n\n%s\n",
		i18n_get(x->lang,
			 N_("We have accepted your request to re-issue your certificate.")),
		i18n_get(x->lang, N_("Revoked certificate (superseded)")), old_serial,
		i18n_get(x->lang, N_("Your new certificate code is below. Keep it together with "
				     "your application password: you need it to fetch the new "
				     "certificate and for any later re-issue.")),
		i18n_get(x->lang, N_("Certificate code")), code,
		i18n_get(x->lang,
			 N_("Fetch the new certificate on this page with the certificate code:")),
		link,
		i18n_get(x->lang, N_("If you did not ask for this re-issue, contact the "
				     "registration authority of your organization."))) == -1 ||
	    buf_cstr(&body) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: mail body too large");
		goto out;
	}
	if (portal_mail_queue(
		st, to,
		i18n_get(x->lang, N_("[shomei] Your certificate re-issue has been accepted")),
		&body, e) == -1)
		goto out;
	rc = 0;
out:
	if (body.data != NULL)
		sodium_memzero(body.data, body.len);
	buf_free(&body);
	free(link);
	return rc;
}

/*
 * In one transaction: the form nonce, the old certificate revoked (superseded, audited), the
 * new application (approved, predecessor, the new code's hash), its audit entry, the holder
 * told by mail.  *repeat when the nonce was used (nothing written).
 */
static int
reissue_commit(struct portal_ctx *x, struct store *st, const struct store_app *old,
	       const struct reissue_vals *v, const unsigned char nonce_hash[STORE_HASH_LEN],
	       int *repeat, char code[RA_CODE_LEN], struct err *e)
{
	struct store_app n;
	struct store_token tok;
	struct err se;
	unsigned char code_hash[STORE_HASH_LEN];
	char actor[64], *detail = NULL;
	time_t now = util_now();
	int64_t id;
	int rc = -1, began = 0;

	*repeat = 0;
	err_clear(&se);
	ra_code_new(code, code_hash);
	snprintf(actor, sizeof(actor), "portal:app:%lld", (long long)old->id);
	if (store_begin(st, e) == -1)
		goto out;
	began = 1;
	if (store_token_get(st, nonce_hash, REISSUE_TOKEN_FORM, &tok, &se) == 0) {
		*repeat = 1;
		rc = 0;
		goto out;
	} else if (se.code != ERR_NOTFOUND) {
		*e = se;
		goto out;
	}
	if (store_token_add(st, nonce_hash, REISSUE_TOKEN_FORM, old->id, now + PORTAL_FORM_TTL, now,
			    e) == -1)
		goto out;
	err_clear(&se);
	if (ca_revoke_tx(x->ca, st, old->cert_serial, 4 /* superseded */, 0, actor, &se) == -1) {
		*e = se; /* ERR_CONFLICT: revoked meanwhile */
		goto out;
	}
	if (portal_test_fault("reissue-after-revoke")) {
		err_set(e, ERR_INTERNAL, "portal: injected fault between revocation and re-issue");
		goto out;
	}
	n = *old;
	n.subject_email = v->subject_email[0] != '\0' ? (char *)v->subject_email : NULL;
	n.ou = v->ou[0] != '\0' ? (char *)v->ou : NULL;
	n.predecessor_id = old->id;
	n.created = now;
	n.expires = now + REISSUE_FETCH_TTL;
	if (store_app_add_reissue(st, &n, code_hash, &id, e) == -1)
		goto out;
	detail = xasprintf("application=%lld predecessor=%lld old=%s", (long long)id,
			   (long long)old->id, old->cert_serial);
	if (store_audit_append(st, actor, "portal.reissue", old->cert_serial, detail, NULL, e) ==
	    -1)
		goto out;
	if (reissue_mail(x, st, n.subject_email != NULL ? n.subject_email : n.email,
			 old->cert_serial, code, e) == -1)
		goto out;
	began = 0;
	if (store_commit(st, e) == -1)
		goto out;
	rc = 0;
out:
	if (began)
		store_rollback(st);
	free(detail);
	sodium_memzero(code_hash, sizeof(code_hash));
	return rc;
}

int
portal_reissue_confirm_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct store_app a;
	struct store_cert c;
	struct store *st;
	struct reissue_vals v;
	struct err e;
	const char *nonce, *when, *mac, *app, *action;
	char want[PORTAL_B64_LEN], code[RA_CODE_LEN];
	unsigned char raw[PORTAL_TOKEN_LEN], nh[STORE_HASH_LEN];
	long t;
	int rc = -1, repeat = 0, have = 0;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(code, 0, sizeof(code));
	err_clear(&e);
	if (portal_form_read(&x, &f, &rc))
		goto out;
	v.subject_email = nz(portal_form_get(&f, "subject_email"));
	v.ou = nz(portal_form_get(&f, "ou"));
	nonce = portal_form_get(&f, "form_nonce");
	when = portal_form_get(&f, "form_time");
	mac = portal_form_get(&f, "form_mac");
	app = nz(portal_form_get(&f, "app"));
	action = nz(portal_form_get(&f, "action"));
	if (nonce == NULL || when == NULL || mac == NULL ||
	    portal_b64url_decode(raw, sizeof(raw), nonce) == -1 ||
	    util_parse_long(when, 0, LONG_MAX, &t) == -1 || strlen(mac) != PORTAL_B64_LEN - 1)
		goto invalid;
	reissue_form_mac(&x, app, nonce, when, &v, want);
	if (!util_memeq_ct(want, mac, PORTAL_B64_LEN - 1) || t > util_now() + 60 ||
	    util_now() - t > PORTAL_FORM_TTL)
		goto invalid;
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = portal_error(&x, &e);
		goto out;
	}
	ra_token_hash(raw, nh);
	if (strcmp(action, "submit") == 0) {
		struct store_token tok;
		struct err se;

		err_clear(&se);
		if (store_token_get(st, nh, REISSUE_TOKEN_FORM, &tok, &se) == 0) {
			rc = portal_notice(&x, 200, N_("Re-issue accepted"),
					   N_("Your re-issue has been accepted. We have sent the "
					      "new certificate code by mail."));
			goto out;
		} else if (se.code != ERR_NOTFOUND) {
			rc = portal_error(&x, &se);
			goto out;
		}
	}
	{
		int k = reissue_target(&x, st, &f, &a, &c, &rc, &e);

		if (k == -1)
			rc = portal_error(&x, &e);
		if (k != 0)
			goto out;
		have = 1;
	}
	if (strcmp(action, "back") == 0) {
		rc = reissue_page(&x, st, &a, &c, portal_form_get(&f, "auth_time"), "reissue_edit",
				  RS_EDIT, N_("Changes for the new certificate"), &v, NULL);
		goto out;
	}
	if (strcmp(action, "submit") != 0)
		goto invalid;
	if (reissue_commit(&x, st, &a, &v, nh, &repeat, code, &e) == -1) {
		rc = e.code == ERR_CONFLICT
			 ? portal_notice(&x, 409, N_("This certificate cannot be re-issued"),
					 N_("Revoked: a revoked certificate cannot be re-issued."))
			 : portal_error(&x, &e);
		goto out;
	}
	if (repeat) {
		rc = portal_notice(&x, 200, N_("Re-issue accepted"),
				   N_("Your re-issue has been accepted. We have sent the new "
				      "certificate code by mail."));
	} else {
		struct tmpl_data *d = reissue_data(&x, N_("Re-issue accepted"), RS_ACCEPTED);

		tmpl_data_str(d, "old_serial", a.cert_serial);
		tmpl_data_str(d, "email", v.subject_email[0] != '\0' ? v.subject_email : a.email);
		rc = portal_page(&x, 200, "reissue_done", d);
		tmpl_data_free(d);
	}
	goto out;
invalid:
	rc = portal_notice(&x, 400, N_("The form is no longer valid"),
			   N_("This form is no longer valid. Please identify yourself again on the "
			      "re-issue page."));
out:
	if (have) {
		store_app_clear(&a);
		store_cert_clear(&c);
	}
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(code, sizeof(code));
	portal_form_free(&f);
	return rc;
}

/* ---- fetching the new certificate ---- */

/*
 * The fetch form: code (kept, or NULL), the CSR field when the certificate is for a CSR, and
 * the errors (msgids; detail: the CA's refusal of the CSR, in English).
 */
static int
reissue_fetch_render(struct portal_ctx *x, const char *code, const char *code_err, int csr,
		     const char *csr_err, const char *detail)
{
	struct tmpl_data *d = reissue_data(x, N_("Fetch your new certificate"), RS_FETCH);
	char csrf[PORTAL_B64_LEN];
	int rc;

	portal_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "cert_code", nz(code));
	tmpl_data_bool(d, "need_csr", csr);
	reissue_err(d, x->lang, "err_cert_code", code_err);
	reissue_err(d, x->lang, "err_csr", csr_err);
	if (detail != NULL)
		tmpl_data_str(d, "csr_detail", detail);
	else
		tmpl_data_bool(d, "csr_detail", 0);
	rc = portal_page(x, code_err != NULL || csr_err != NULL ? 400 : 200, "reissue_fetch", d);
	tmpl_data_free(d);
	return rc;
}

int
portal_reissue_fetch_get(struct http_req *r)
{
	struct portal_ctx x;

	portal_ctx_init(&x, r);
	return reissue_fetch_render(&x, NULL, NULL, 0, NULL, NULL);
}

int
portal_reissue_fetch_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct ra_notify n;
	struct ra_cert_page page;
	enum ra_submit_result res;
	struct store *st;
	struct err e;
	const char *code, *csr;
	int rc = -1;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&page, 0, sizeof(page));
	err_clear(&e);
	if (!portal_rate_ok(r, portal.reissue_rate)) {
		rc = portal_notice(&x, 429, N_("Too many requests"),
				   N_("Too many requests came from your network. Please wait a "
				      "minute and try again."));
		goto out;
	}
	if (portal_form_read_big(&x, &f, &rc))
		goto out;
	code = portal_form_get(&f, "cert_code");
	csr = portal_form_get(&f, "csr");
	portal_notify_init(&n, x.lang);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_reissue_fetch(x.ca, st, nz(code), csr, &n, &res, &page, &e) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	switch (res) {
	case RA_SUBMIT_ISSUED:
		rc = portal_cert_page(&x, &page);
		break;
	case RA_SUBMIT_USED:
		rc = portal_notice(&x, 410, N_("The certificate has already been issued"),
				   N_("The certificate of this re-issue has already been issued. "
				      "For your security, the PIN is shown only once."));
		break;
	case RA_SUBMIT_EXPIRED:
		rc = portal_notice(&x, 410, N_("This re-issue has expired"),
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
	portal_form_free(&f);
	return rc;
}
