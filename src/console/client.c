/*
 * client: client certificates whose key the CA makes (issue 13 part 4), in the console and
 * on the public listener.  The form of /certs/new?kind=client offers, besides a CSR, three
 * deliveries (ra/client.c): PKCS#12 to the holder with the access PIN on the officer's
 * printable page, the same with the PIN in a second one-time URL, or one encrypted ZIP to
 * the user administrator with its password on the officer's page.  Public pages: the holder's
 * /client/<token> (GET the page, POST with the access PIN: the PKCS#12 once), the PIN URL
 * /client/pin/<token> (POST shows the PIN once) and the user administrator's
 * /client/zip/<token> (POST: the ZIP once).  Nothing acts on a GET; every form carries CSRF.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "console_int.h"

#define CONSOLE_CLIENT_PREFIX "/client/"

/* "YYYY-MM-DD HH:MM UTC" of t. */
static void
client_when(time_t t, char out[32])
{
	struct tm tm;

	out[0] = '\0';
	gmtime_r(&t, &tm);
	if (strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		out[0] = '\0';
}

int
console_client_issue(struct web_ctx *x, const struct console_who *w, const struct web_form *f,
		     enum ra_client_delivery d, char *error, size_t errlen, int *status)
{
	struct ra_client_req q;
	struct ra_client_out out;
	struct ra_client_notify n;
	struct ra_client_zip *zip = NULL;
	struct tmpl_data *dd, *it;
	char pw[RA_CLIENT_ZIP_PW_LEN + 1], when[32];
	struct store *st;
	struct err e;
	int rc = -1;

	error[0] = '\0';
	memset(&q, 0, sizeof(q));
	memset(&out, 0, sizeof(out));
	pw[0] = '\0';
	q.officer = &w->o;
	q.delivery = d;
	q.admin_name = web_form_get(f, "admin_name");
	q.admin_unit = web_form_get(f, "admin_unit");
	q.admin_email = web_form_get(f, "admin_email");
	q.holder_name = web_form_get(f, "holder_name");
	q.holder_unit = web_form_get(f, "holder_unit");
	q.holder_email = web_form_get(f, "holder_email");
	if (q.holder_name == NULL || *q.holder_name == '\0') {
		snprintf(error, errlen, "holder: a name (the certificate's CN) is required");
		*status = 422;
		return 0;
	}
	console_mail_client_notify(&console.mail, &n);
	q.n = &n;
	err_clear(&e);
	if ((st = ca_thread_store(x->ca, &e)) == NULL)
		return web_error(x, &e);
	if (d == RA_CLIENT_ZIP)
		zip = ra_client_zip_new(pw);
	if (ra_client_issue(x->ca, st, &q, zip, &out, &e) == -1 ||
	    (zip != NULL && ra_client_zip_commit(x->ca, st, &w->o, zip, q.admin_name, q.admin_email,
						 &n, &e) == -1)) {
		if (e.code == ERR_REFUSED || e.code == ERR_CONFLICT || e.code == ERR_NOTFOUND) {
			snprintf(error, errlen, "%s", e.msg);
			*status = 422;
			rc = 0;
		} else
			rc = web_error(x, &e);
		goto out;
	}
	client_when(out.expires, when);
	if (d == RA_CLIENT_PIN_SHOWN) {
		dd = console_data(x, w, N_("Access PIN of the client certificate"));
		tmpl_data_str(dd, "pin", out.pin);
		tmpl_data_str(dd, "expires", when);
		tmpl_data_str(dd, "serial", out.serial);
		tmpl_data_str(dd, "holder", q.holder_name);
		tmpl_data_str(dd, "email", q.holder_email);
		rc = web_page(x, 201, "console_client_pin", dd);
	} else if (d == RA_CLIENT_PIN_MAILED) {
		dd = console_data(x, w, N_("Certificate issued"));
		tmpl_data_str(dd, "expires", when);
		tmpl_data_str(dd, "serial", out.serial);
		tmpl_data_str(dd, "holder", q.holder_name);
		tmpl_data_str(dd, "email", q.holder_email);
		rc = web_page(x, 201, "console_client_issued", dd);
	} else {
		dd = console_data(x, w, N_("Password of the ZIP file"));
		tmpl_data_str(dd, "password", pw);
		tmpl_data_str(dd, "count", "1");
		it = tmpl_data_add(dd, "certs");
		tmpl_data_str(it, "serial", out.serial);
		tmpl_data_str(it, "holder", q.holder_name);
		tmpl_data_str(dd, "email", q.admin_email);
		rc = web_page(x, 201, "console_client_zip", dd);
	}
	tmpl_data_free(dd);
out:
	sodium_memzero(pw, sizeof(pw));
	sodium_memzero(out.pin, sizeof(out.pin));
	ra_client_zip_free(zip);
	return rc;
}

/* ---- the public pages ---- */

static const struct {
	const char *title, *message;
} console_client_msg[RA_CLIENT_RES__MAX] = {
    [RA_CLIENT_UNKNOWN] = {N_("Unknown URL"),
			   N_("This certificate URL is not known. Check that you opened the whole "
			      "URL from the mail.")},
    [RA_CLIENT_EXPIRED] = {N_("URL expired"),
			   N_("This certificate URL has expired. Ask your RA officer.")},
    [RA_CLIENT_LOCKED] = {N_("URL locked"),
			  N_("This URL is locked after too many wrong access PINs. Ask your RA "
			     "officer.")},
    [RA_CLIENT_TAKEN] = {N_("Already downloaded"),
			 N_("What this URL gives has been given already; it is given once. Ask "
			    "your RA officer if you need it again.")},
};

static int
console_client_status(struct web_ctx *x, enum ra_client_res res)
{
	struct tmpl_data *d;
	int rc;

	if (res >= RA_CLIENT_RES__MAX || console_client_msg[res].title == NULL)
		res = RA_CLIENT_UNKNOWN;
	d = console_data(x, NULL, console_client_msg[res].title);
	tmpl_data_str(d, "message", i18n_get(x->lang, console_client_msg[res].message));
	rc = web_page(x, res == RA_CLIENT_UNKNOWN ? 404 : 410, "console_enrol_status", d);
	tmpl_data_free(d);
	return rc;
}

enum console_client_page { CLIENT_PAGE_CERT = 0, CLIENT_PAGE_PIN, CLIENT_PAGE_ZIP };

/* The page and the token of /client/<t>, /client/pin/<t>, /client/zip/<t>; -1 malformed. */
static int
console_client_path(const struct http_req *r, enum console_client_page *pg, char tok[RA_TOKEN_TEXT])
{
	const char *t = r->url + strlen(CONSOLE_CLIENT_PREFIX);
	size_t n;

	*pg = CLIENT_PAGE_CERT;
	if (strncmp(t, "pin/", 4) == 0) {
		*pg = CLIENT_PAGE_PIN;
		t += 4;
	} else if (strncmp(t, "zip/", 4) == 0) {
		*pg = CLIENT_PAGE_ZIP;
		t += 4;
	}
	n = strlen(t);
	if (n == 0 || n >= RA_TOKEN_TEXT || strchr(t, '/') != NULL)
		return -1;
	memcpy(tok, t, n + 1);
	return 0;
}

/* The holder's page: the certificate and the PIN form (wrong: after a wrong PIN). */
static int
console_client_form(struct web_ctx *x, const struct ra_client_view *v, const char *tok, int wrong)
{
	struct tmpl_data *d = console_data(x, NULL, N_("Your client certificate"));
	char when[32], csrf[WEB_B64_LEN], action[96], left[16];
	int rc;

	tmpl_data_str(d, "serial", v->cert.serial);
	tmpl_data_str(d, "subject", v->cert.subject != NULL ? v->cert.subject : "");
	tmpl_data_str(d, "sans", v->cert.sans != NULL ? v->cert.sans : "");
	client_when(v->expires, when);
	tmpl_data_str(d, "expires", when);
	snprintf(action, sizeof(action), CONSOLE_CLIENT_PREFIX "%s", tok);
	tmpl_data_str(d, "action", action);
	web_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_bool(d, "wrong", wrong);
	snprintf(left, sizeof(left), "%d", v->tries_left);
	tmpl_data_str(d, "tries_left", left);
	rc = web_page(x, wrong ? 422 : 200, "console_client_dl", d);
	tmpl_data_free(d);
	return rc;
}

/* A page with only a button that POSTs to action (the PIN URL and the ZIP URL). */
static int
console_client_button(struct web_ctx *x, enum console_client_page pg, const char *tok,
		      const struct ra_client_view *v)
{
	struct tmpl_data *d;
	char csrf[WEB_B64_LEN], action[96], when[32], count[32];
	int rc;

	d = console_data(x, NULL,
			 pg == CLIENT_PAGE_PIN ? N_("Access PIN of the client certificate")
					       : N_("Client certificates"));
	snprintf(action, sizeof(action), CONSOLE_CLIENT_PREFIX "%s/%s",
		 pg == CLIENT_PAGE_PIN ? "pin" : "zip", tok);
	tmpl_data_str(d, "action", action);
	web_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	if (v != NULL) {
		client_when(v->expires, when);
		tmpl_data_str(d, "expires", when);
		snprintf(count, sizeof(count), "%zu", v->count);
		tmpl_data_str(d, "count", count);
	}
	rc = web_page(x, 200,
		      pg == CLIENT_PAGE_PIN ? "console_client_pinlink" : "console_client_zipdl", d);
	tmpl_data_free(d);
	return rc;
}

/* GET /client/...: the page; nothing written. */
int
console_client_get(struct http_req *r)
{
	struct web_ctx x;
	struct ra_client_view v;
	enum ra_client_res res = RA_CLIENT_UNKNOWN;
	enum console_client_page pg;
	char tok[RA_TOKEN_TEXT];
	struct store *st;
	struct err e;
	int rc;

	web_ctx_init(&x, &console.pub, r);
	memset(&v, 0, sizeof(v));
	if (console_client_path(r, &pg, tok) == -1)
		return console_client_status(&x, RA_CLIENT_UNKNOWN);
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		return web_error(&x, &e);
	if ((pg == CLIENT_PAGE_CERT && ra_client_peek(x.ca, st, tok, &v, &res, &e) == -1) ||
	    (pg == CLIENT_PAGE_PIN && ra_client_pin_peek(st, tok, &res, &e) == -1) ||
	    (pg == CLIENT_PAGE_ZIP && ra_client_zip_peek(st, tok, &v, &res, &e) == -1)) {
		ra_client_view_clear(&v);
		return web_error(&x, &e);
	}
	if (res != RA_CLIENT_OK)
		rc = console_client_status(&x, res);
	else if (pg == CLIENT_PAGE_CERT)
		rc = console_client_form(&x, &v, tok, 0);
	else
		rc = console_client_button(&x, pg, tok, pg == CLIENT_PAGE_ZIP ? &v : NULL);
	ra_client_view_clear(&v);
	return rc;
}

/* POST /client/<t>: the access PIN; the PKCS#12 once. */
static int
console_client_take(struct web_ctx *x, struct store *st, const char *tok, const char *pin)
{
	struct ra_client_view v;
	enum ra_client_res res = RA_CLIENT_UNKNOWN;
	unsigned char *p12 = NULL;
	size_t len = 0;
	char disp[96];
	const char *hdrs[] = {"Content-Disposition", disp, NULL};
	struct err e;
	int rc;

	err_clear(&e);
	if (ra_client_take(x->ca, st, tok, pin, &p12, &len, &v, &res, &e) == -1) {
		ra_client_view_clear(&v);
		return web_error(x, &e);
	}
	if (res == RA_CLIENT_WRONG_PIN)
		rc = console_client_form(x, &v, tok, 1);
	else if (res != RA_CLIENT_OK)
		rc = console_client_status(x, res);
	else {
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s.p12\"", v.cert.serial);
		rc = http_reply_hdrs(x->r, 200, "application/x-pkcs12", p12, len, hdrs);
		sodium_memzero(p12, len);
	}
	free(p12);
	ra_client_view_clear(&v);
	return rc;
}

/* POST /client/pin/<t>: the PIN once. */
static int
console_client_pin(struct web_ctx *x, struct store *st, const char *tok)
{
	enum ra_client_res res = RA_CLIENT_UNKNOWN;
	char pin[RA_CLIENT_PIN_LEN + 1];
	struct tmpl_data *d;
	struct err e;
	int rc;

	err_clear(&e);
	if (ra_client_pin_take(st, tok, pin, &res, &e) == -1)
		return web_error(x, &e);
	if (res != RA_CLIENT_OK)
		return console_client_status(x, res);
	d = console_data(x, NULL, N_("Access PIN of the client certificate"));
	tmpl_data_str(d, "pin", pin);
	rc = web_page(x, 200, "console_client_pinlink", d);
	tmpl_data_free(d);
	sodium_memzero(pin, sizeof(pin));
	return rc;
}

/* POST /client/zip/<t>: the ZIP once. */
static int
console_client_zip(struct web_ctx *x, struct store *st, const char *tok)
{
	enum ra_client_res res = RA_CLIENT_UNKNOWN;
	const char *hdrs[] = {"Content-Disposition",
			      "attachment; filename=\"client-certificates.zip\"", NULL};
	unsigned char *zip = NULL;
	size_t len = 0;
	struct err e;
	int rc;

	err_clear(&e);
	if (ra_client_zip_take(st, tok, &zip, &len, &res, &e) == -1)
		return web_error(x, &e);
	if (res != RA_CLIENT_OK)
		return console_client_status(x, res);
	rc = http_reply_hdrs(x->r, 200, "application/zip", zip, len, hdrs);
	free(zip);
	return rc;
}

int
console_client_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	enum console_client_page pg;
	char tok[RA_TOKEN_TEXT];
	struct store *st;
	struct err e;
	int rc;

	web_ctx_init(&x, &console.pub, r);
	memset(&f, 0, sizeof(f));
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	if (console_client_path(r, &pg, tok) == -1) {
		rc = console_client_status(&x, RA_CLIENT_UNKNOWN);
		goto out;
	}
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	rc = pg == CLIENT_PAGE_CERT  ? console_client_take(&x, st, tok, web_form_get(&f, "pin"))
	     : pg == CLIENT_PAGE_PIN ? console_client_pin(&x, st, tok)
				     : console_client_zip(&x, st, tok);
out:
	web_form_free(&f);
	return rc;
}
