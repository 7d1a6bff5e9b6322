/*
 * enrol: the officer's certificate pages.  The mailed URL (/officer/enrol/<token>) is on the
 * public HTTPS listener, which asks for no client certificate: the page names the officer and
 * asks for the access PIN that the CA operator handed over; the button issues one
 * certificate (a server-made key) and shows its PKCS#12 PIN once, with a button that
 * downloads the file once.  A renewal URL (/officer/renew/<token>) is on the console
 * listener instead: the officer's current certificate takes the place of the access PIN.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "console_int.h"

#define CONSOLE_ENROL_PREFIX "/officer/enrol/"
#define CONSOLE_RENEW_PREFIX "/officer/renew/"

/* What the page says for an enrolment that cannot be used (title, message). */
static const struct {
	const char *title, *message;
} console_enrol_msg[RA_ENROL_RESULT__MAX] = {
    [RA_ENROL_UNKNOWN] = {N_("Unknown URL"),
			  N_("This certificate URL is not known. Check that you opened the whole "
			     "URL from the mail.")},
    [RA_ENROL_EXPIRED] = {N_("URL expired"),
			  N_("This certificate URL has expired. Ask the CA operator for a new "
			     "one.")},
    [RA_ENROL_LOCKED] = {N_("URL locked"),
			 N_("This certificate URL is locked after too many wrong access PINs. Ask "
			    "the CA operator for a new one.")},
    [RA_ENROL_ISSUED] =
	{N_("Certificate already issued"),
	 N_("The certificate of this URL has been issued already; it is issued "
	    "only once. If you did not receive it, ask the CA operator to enrol you "
	    "again.")},
    [RA_ENROL_DISABLED] = {N_("Officer account disabled"),
			   N_("The officer account of this URL is disabled. Ask the CA operator.")},
};

static int
console_enrol_status(struct web_ctx *x, enum ra_enrol_result res)
{
	struct tmpl_data *d;
	int rc;

	if (res >= RA_ENROL_RESULT__MAX || console_enrol_msg[res].title == NULL)
		res = RA_ENROL_UNKNOWN;
	d = console_data(x, NULL, console_enrol_msg[res].title);
	tmpl_data_str(d, "message", i18n_get(x->lang, console_enrol_msg[res].message));
	rc = web_page(x, res == RA_ENROL_UNKNOWN ? 404 : 410, "console_enrol_status", d);
	tmpl_data_free(d);
	return rc;
}

/* The form asking for the access PIN (or, for a renewal, only the button). */
static int
console_enrol_form(struct web_ctx *x, const char *action, const struct ra_enrol_view *v, int wrong)
{
	struct tmpl_data *d =
	    console_data(x, NULL,
			 v->kind == RA_ENROL_KIND_RENEW ? N_("Renew your RA officer certificate")
							: N_("Your RA officer certificate"));
	char csrf[WEB_B64_LEN], when[32], left[16];
	struct tm tm;
	int rc;

	tmpl_data_str(d, "action", action);
	tmpl_data_str(d, "name", v->officer.name);
	tmpl_data_str(d, "org", v->officer.org_name);
	gmtime_r(&v->expires, &tm);
	if (strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm) == 0)
		when[0] = '\0';
	tmpl_data_str(d, "expires", when);
	tmpl_data_bool(d, "renew", v->kind == RA_ENROL_KIND_RENEW);
	tmpl_data_bool(d, "wrong", wrong);
	snprintf(left, sizeof(left), "%d", v->tries_left);
	tmpl_data_str(d, "tries_left", left);
	web_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	rc = web_page(x, wrong ? 422 : 200, "console_enrol", d);
	tmpl_data_free(d);
	return rc;
}

/* The certificate issued: its PKCS#12 PIN once, and the button that downloads the file. */
static int
console_enrol_done(struct web_ctx *x, const struct ra_enrol_cert *c)
{
	struct tmpl_data *d = console_data(x, NULL, N_("Your RA officer certificate"));
	char csrf[WEB_B64_LEN], when[32];
	struct tm tm;
	int rc;

	tmpl_data_str(d, "serial", c->serial);
	tmpl_data_str(d, "pin", c->pin);
	tmpl_data_str(d, "dl", c->dl);
	gmtime_r(&c->not_after, &tm);
	if (strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm) == 0)
		when[0] = '\0';
	tmpl_data_str(d, "not_after", when);
	web_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	rc = web_page(x, 200, "console_enrol_done", d);
	tmpl_data_free(d);
	return rc;
}

/* The token of a URL under prefix: its rest when it is one path segment, else NULL. */
static const char *
console_token(const struct http_req *r, const char *prefix)
{
	const char *t = r->url + strlen(prefix);

	return *t != '\0' && strchr(t, '/') == NULL && strlen(t) < RA_TOKEN_TEXT ? t : NULL;
}

/* GET /officer/enrol/<token>: nothing written. */
int
console_enrol_get(struct http_req *r)
{
	struct web_ctx x;
	struct ra_enrol_view v;
	enum ra_enrol_result res = RA_ENROL_UNKNOWN;
	const char *t = console_token(r, CONSOLE_ENROL_PREFIX);
	struct store *st;
	struct err e;

	web_ctx_init(&x, &console.pub, r);
	err_clear(&e);
	if (t == NULL)
		return console_enrol_status(&x, RA_ENROL_UNKNOWN);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_officer_enrol_peek(st, t, &v, &res, &e) == -1)
		return web_error(&x, &e);
	if (res == RA_ENROL_OK && v.kind == RA_ENROL_KIND_RENEW)
		res = RA_ENROL_UNKNOWN; /* a renewal URL is the console's, never this listener's */
	if (res != RA_ENROL_OK)
		return console_enrol_status(&x, res);
	return console_enrol_form(&x, r->url, &v, 0);
}

/* Issues from a posted enrolment page (auth: the PIN, or the renewing officer by mTLS). */
static int
console_enrol_issue(struct web_ctx *x, const char *t, const struct ra_enrol_auth *auth)
{
	struct ra_enrol_cert c;
	struct ra_enrol_view v;
	enum ra_enrol_result res = RA_ENROL_UNKNOWN;
	struct store *st;
	struct err e;
	int rc;

	memset(&c, 0, sizeof(c));
	err_clear(&e);
	if ((st = ca_thread_store(x->ca, &e)) == NULL ||
	    ra_officer_enrol_take(x->ca, st, t, auth, &res, &c, &e) == -1) {
		ra_enrol_cert_clear(&c);
		return web_error(x, &e);
	}
	if (res == RA_ENROL_OK)
		rc = console_enrol_done(x, &c);
	else if (res == RA_ENROL_WRONG_PIN && ra_officer_enrol_peek(st, t, &v, &res, &e) == 0 &&
		 res == RA_ENROL_OK)
		rc = console_enrol_form(x, x->r->url, &v, 1);
	else
		rc = console_enrol_status(x, res == RA_ENROL_WRONG_PIN ? RA_ENROL_LOCKED : res);
	ra_enrol_cert_clear(&c);
	return rc;
}

/* POST /officer/enrol/<token>: the access PIN; one certificate, however often it is sent. */
int
console_enrol_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	const char *t = console_token(r, CONSOLE_ENROL_PREFIX), *pin;
	char buf[64];
	int rc;

	web_ctx_init(&x, &console.pub, r);
	memset(&f, 0, sizeof(f));
	if (web_form_read(&x, &f, NULL, &rc)) {
		web_form_free(&f);
		return rc;
	}
	pin = web_form_get(&f, "pin");
	snprintf(buf, sizeof(buf), "%s", pin != NULL ? pin : "");
	web_form_free(&f);
	if (t == NULL)
		return console_enrol_status(&x, RA_ENROL_UNKNOWN);
	{
		struct ra_enrol_auth auth = {RA_ENROL_KIND_ENROL, buf, 0};

		rc = console_enrol_issue(&x, t, &auth);
	}
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/*
 * GET and POST /officer/renew/<token> on the console listener: the officer's current
 * certificate (checked like a login, and the renewal's officer) replaces the access PIN.
 */
static int
console_renew(struct http_req *r, int post)
{
	struct web_ctx x;
	struct web_form f;
	struct console_who w;
	struct ra_enrol_view v;
	enum ra_enrol_result res = RA_ENROL_UNKNOWN;
	const char *t = console_token(r, CONSOLE_RENEW_PREFIX);
	struct store *st;
	struct err e;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (post) {
		memset(&f, 0, sizeof(f));
		if (web_form_read(&x, &f, NULL, &rc)) {
			web_form_free(&f);
			return rc;
		}
		web_form_free(&f);
	}
	if (console_cert_officer(&x, &w, &rc))
		return rc;
	err_clear(&e);
	if (t == NULL)
		return console_enrol_status(&x, RA_ENROL_UNKNOWN);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_officer_enrol_peek(st, t, &v, &res, &e) == -1)
		return web_error(&x, &e);
	if (res == RA_ENROL_OK && (v.kind != RA_ENROL_KIND_RENEW || v.officer.id != w.o.id))
		res = RA_ENROL_UNKNOWN; /* another officer's renewal, or an enrolment URL */
	if (res != RA_ENROL_OK)
		return console_enrol_status(&x, res);
	if (!post)
		return console_enrol_form(&x, r->url, &v, 0);
	{
		struct ra_enrol_auth auth = {RA_ENROL_KIND_RENEW, NULL, w.o.id};

		return console_enrol_issue(&x, t, &auth);
	}
}

int
console_renew_get(struct http_req *r)
{
	return console_renew(r, 0);
}

int
console_renew_post(struct http_req *r)
{
	return console_renew(r, 1);
}

/* POST /officer/download of site: the PKCS#12 of the page before, once. */
static int
console_download(struct http_req *r, const struct web_site *site)
{
	struct web_ctx x;
	struct web_form f;
	const char *hdrs[] = {"Content-Disposition", "attachment; filename=\"officer.p12\"", NULL};
	unsigned char *data = NULL;
	size_t len = 0;
	struct store *st;
	struct err e;
	int rc;

	web_ctx_init(&x, site, r);
	memset(&f, 0, sizeof(f));
	if (web_form_read(&x, &f, NULL, &rc)) {
		web_form_free(&f);
		return rc;
	}
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		web_form_free(&f);
		return web_error(&x, &e);
	}
	if (ra_officer_download_take(st, web_form_get(&f, "dl"), &data, &len, &e) == -1) {
		web_form_free(&f);
		if (e.code != ERR_NOTFOUND)
			return web_error(&x, &e);
		return web_notice(&x, 410, N_("Download no longer available"),
				  N_("The certificate file was downloaded already or its time ran "
				     "out; it is given once."));
	}
	web_form_free(&f);
	rc = http_reply_hdrs(r, 200, "application/x-pkcs12", data, len, hdrs);
	OPENSSL_cleanse(data, len);
	free(data);
	return rc;
}

/* On the console listener: after a renewal. */
int
console_download_post(struct http_req *r)
{
	return console_download(r, &console.site);
}

/* On the public listener: after an enrolment (its page and token are the public site's). */
int
console_pub_download_post(struct http_req *r)
{
	return console_download(r, &console.pub);
}
