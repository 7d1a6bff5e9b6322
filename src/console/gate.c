/*
 * gate: who a console request comes from.  The TLS layer only asks for a certificate; the
 * RA decides whether it is an officer's (ra_officer_check), and the session — started by the
 * login button, bound to that certificate, ended by logout or idleness — must be open.  Each
 * refusal has its own page saying what happened and what to do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "console_int.h"
#include "x509/x509.h"

/* What the refusal page says for each result of the certificate check. */
static const struct {
	const char *title, *message, *advice;
} console_refusals[RA_LOGIN__MAX] = {
    [RA_LOGIN_NO_CERT] =
	{N_("No certificate"), N_("Your browser did not present a client certificate."),
	 N_("Import the RA officer certificate (the PKCS#12 file you received when "
	    "you enrolled) into your browser, and when the browser asks, choose "
	    "the certificate whose subject shows 'shomei RA officer'.")},
    [RA_LOGIN_FOREIGN] = {N_("Certificate not accepted"),
			  N_("The certificate your browser presented was not issued by this "
			     "service's RA officer CA."),
			  N_("Choose the certificate whose subject shows 'shomei RA officer'.")},
    [RA_LOGIN_PERSONAL] = {N_("Not an RA officer certificate"),
			   N_("The certificate your browser presented is a personal certificate "
			      "of this service, not an RA officer certificate."),
			   N_("Choose the certificate whose subject shows 'shomei RA officer'.")},
    [RA_LOGIN_REVOKED] = {N_("Certificate revoked"),
			  N_("The RA officer certificate your browser presented has been revoked."),
			  N_("If you have a newer RA officer certificate, choose it; otherwise ask "
			     "the CA operator to enrol you again.")},
    [RA_LOGIN_EXPIRED] = {N_("Certificate expired"),
			  N_("The RA officer certificate your browser presented has expired or is "
			     "not valid yet."),
			  N_("If you have a newer RA officer certificate, choose it; otherwise ask "
			     "the CA operator to enrol you again.")},
    [RA_LOGIN_UNKNOWN] = {N_("Certificate not registered"),
			  N_("The RA officer certificate your browser presented belongs to no "
			     "registered officer."),
			  N_("Ask the CA operator to check your officer registration.")},
    [RA_LOGIN_DISABLED] = {N_("Officer account disabled"),
			   N_("The officer account of this certificate is disabled."),
			   N_("Ask the CA operator to enable your account.")},
};

/* Why a session ended, as the login page tells it. */
static const char *const console_osess_notice[RA_OSESS__MAX] = {
    [RA_OSESS_ENDED] = N_("You have logged out. Log in again to continue."),
    [RA_OSESS_TIMEOUT] = N_("Your session ended after a period without activity. Log in again "
			    "to continue."),
    [RA_OSESS_OTHER_CERT] = N_("Your browser presented another certificate, so the session "
			       "ended. Log in again to continue."),
};

static const char *const console_role_msgid[] = {
    [RA_ROLE_OFFICER] = N_("RA officer"),
    [RA_ROLE_OPERATOR] = N_("CA operator"),
    [RA_ROLE_AUDITOR] = N_("Auditor"),
};

struct tmpl_data *
console_data(const struct web_ctx *x, const struct console_who *w, const char *title_msgid)
{
	struct tmpl_data *d = web_data(x, title_msgid, -1);
	char csrf[WEB_B64_LEN];

	/* the brand links the console: on the public listener (enrolment, downloads) its URL */
	tmpl_data_str(d, "home",
		      x->r->route != NULL && x->r->srv != NULL && http_server_client_ca(x->r->srv)
			  ? "/"
			  : console.mail.console_base);
	if (w != NULL) {
		tmpl_data_str(d, "who", w->o.name);
		tmpl_data_str(d, "who_org",
			      w->o.org_name[0] != '\0' ? w->o.org_name : w->o.org_code);
		tmpl_data_str(d, "who_role", i18n_get(x->lang, console_role_msgid[w->o.role]));
		web_csrf(x, csrf);
		tmpl_data_str(d, "csrf", csrf);
	} else {
		tmpl_data_bool(d, "who", 0);
	}
	return d;
}

/* The refusal page of a certificate check's result (403). */
static int
console_refused(struct web_ctx *x, enum ra_login_result why, X509 *cert)
{
	struct tmpl_data *d = console_data(x, NULL, console_refusals[why].title);
	char *s;
	int rc;

	tmpl_data_str(d, "message", i18n_get(x->lang, console_refusals[why].message));
	tmpl_data_str(d, "advice", i18n_get(x->lang, console_refusals[why].advice));
	if (cert != NULL && (s = x509_name_text(X509_get_subject_name(cert))) != NULL) {
		tmpl_data_str(d, "subject", s);
		free(s);
		if ((s = x509_name_text(X509_get_issuer_name(cert))) != NULL) {
			tmpl_data_str(d, "issuer", s);
			free(s);
		}
	}
	rc = web_page(x, 403, "console_refused", d);
	tmpl_data_free(d);
	return rc;
}

/*
 * The client certificate: *why and w filled.  Returns -1 on an internal error (e set); *cert
 * is the parsed certificate when one came (caller frees).
 */
static int
console_cert(struct web_ctx *x, struct store *st, const struct ra_login_session *ls,
	     struct console_who *w, enum ra_login_result *why, X509 **cert, struct err *e)
{
	unsigned char der[CONSOLE_CERT_MAX];
	const unsigned char *p = der;
	long n;
	int rc;

	*cert = NULL;
	memset(w, 0, sizeof(*w));
	n = http_peer_cert(x->r, der, sizeof(der));
	if (n < 0) {
		*why = RA_LOGIN_FOREIGN; /* larger than any certificate of ours */
		return 0;
	}
	if (n > 0)
		*cert = d2i_X509(NULL, &p, n);
	rc = ls != NULL ? ra_officer_login(x->ca, st, n > 0 ? der : NULL, (size_t)n, util_now(), ls,
					   &w->o, w->fpr, why, e)
			: ra_officer_check(x->ca, st, n > 0 ? der : NULL, (size_t)n, util_now(),
					   &w->o, w->fpr, why, e);
	if (rc == -1)
		return -1;
	if (*why == RA_LOGIN_OK && *cert != NULL) {
		char *s = x509_name_text(X509_get_subject_name(*cert));
		const ASN1_TIME *na = X509_get0_notAfter(*cert);
		struct tm tm;

		snprintf(w->subject, sizeof(w->subject), "%s", s != NULL ? s : "");
		free(s);
		if (ASN1_TIME_to_tm(na, &tm) == 1)
			w->not_after = timegm(&tm);
	}
	return 0;
}

/* The page with the login button for the officer of this certificate (200). */
static int
console_login_page(struct web_ctx *x, const struct console_who *w, const char *notice_msgid)
{
	struct tmpl_data *d = console_data(x, NULL, N_("Log in to the RA officer console"));
	char csrf[WEB_B64_LEN], when[32];
	struct tm tm;
	int rc;

	if (notice_msgid != NULL)
		tmpl_data_str(d, "notice", i18n_get(x->lang, notice_msgid));
	tmpl_data_str(d, "name", w->o.name);
	tmpl_data_str(d, "org", w->o.org_name[0] != '\0' ? w->o.org_name : w->o.org_code);
	tmpl_data_str(d, "role", i18n_get(x->lang, console_role_msgid[w->o.role]));
	tmpl_data_str(d, "subject", w->subject);
	gmtime_r(&w->not_after, &tm);
	if (strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm) == 0)
		when[0] = '\0';
	tmpl_data_str(d, "not_after", when);
	web_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	rc = web_page(x, 200, "console_login", d);
	tmpl_data_free(d);
	return rc;
}

int
console_cert_officer(struct web_ctx *x, struct console_who *w, int *rc)
{
	enum ra_login_result why;
	struct store *st;
	X509 *cert = NULL;
	struct err e;

	err_clear(&e);
	if ((st = ca_thread_store(x->ca, &e)) == NULL ||
	    console_cert(x, st, NULL, w, &why, &cert, &e) == -1) {
		*rc = web_error(x, &e);
		return 1;
	}
	if (why != RA_LOGIN_OK) {
		*rc = console_refused(x, why, cert);
		X509_free(cert);
		return 1;
	}
	X509_free(cert);
	return 0;
}

int
console_gate(struct web_ctx *x, unsigned roles, unsigned perms, struct console_who *w, int *rc)
{
	enum ra_login_result why;
	enum ra_osess_result res;
	struct store *st;
	X509 *cert = NULL;
	int64_t officer_id;
	struct err e;

	err_clear(&e);
	if ((st = ca_thread_store(x->ca, &e)) == NULL ||
	    console_cert(x, st, NULL, w, &why, &cert, &e) == -1)
		goto fail;
	if (why != RA_LOGIN_OK) {
		*rc = console_refused(x, why, cert);
		X509_free(cert);
		return 1;
	}
	X509_free(cert);
	if (ra_osess_check(st, x->sid, w->fpr, console.idle_s, util_now(), &officer_id, &res, &e) ==
	    -1)
		goto fail;
	if (res != RA_OSESS_OK || officer_id != w->o.id) {
		/* a POST without a session is not acted on: the login page instead */
		*rc =
		    console_login_page(x, w, res != RA_OSESS_OK ? console_osess_notice[res] : NULL);
		return 1;
	}
	if ((roles & (1u << w->o.role)) == 0 ||
	    (perms != 0 && w->o.role == RA_ROLE_OFFICER && (w->o.perms & perms) == 0)) {
		struct tmpl_data *d = console_data(x, w, N_("Not permitted"));

		*rc = web_page(x, 403, "console_denied", d);
		tmpl_data_free(d);
		return 1;
	}
	return 0;
fail:
	*rc = web_error(x, &e);
	return 1;
}

/* POST /login: the certificate checked again, the session rotated and started. */
int
console_login_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct console_who w;
	struct ra_login_session ls;
	enum ra_login_result why;
	struct store *st;
	X509 *cert = NULL;
	char client[48];
	struct err e;
	int rc;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	if (web_form_read(&x, &f, NULL, &rc)) {
		web_form_free(&f);
		return rc;
	}
	web_form_free(&f);
	err_clear(&e);
	/* a new id: one someone planted or saw before the login is worth nothing */
	web_session_rotate(&x, NULL);
	http_client_addr(r, client, sizeof(client));
	ls.sid = x.sid;
	ls.client = client;
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    console_cert(&x, st, &ls, &w, &why, &cert, &e) == -1)
		return web_error(&x, &e);
	if (why != RA_LOGIN_OK) {
		rc = console_refused(&x, why, cert);
		X509_free(cert);
		return rc;
	}
	X509_free(cert);
	return web_redirect(&x, "/");
}

/* POST /logout: the session ended (audited) and a new anonymous one given. */
int
console_logout_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct tmpl_data *d;
	struct store *st;
	struct err e;
	int rc, ended;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	if (web_form_read(&x, &f, NULL, &rc)) {
		web_form_free(&f);
		return rc;
	}
	web_form_free(&f);
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_osess_end(st, x.sid, util_now(), &ended, &e) == -1)
		return web_error(&x, &e);
	web_session_rotate(&x, NULL);
	d = console_data(&x, NULL, N_("Logged out"));
	rc = web_page(&x, 200, "console_loggedout", d);
	tmpl_data_free(d);
	return rc;
}

/* Appends "&name=value" (value percent-encoded) when value is not empty. */
void
console_qs_add(struct buf *b, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	if (value == NULL || value[0] == '\0')
		return;
	(void)buf_printf(b, "%s%s=", b->len > 0 ? "&" : "", name);
	for (p = (const unsigned char *)value; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.')
			(void)buf_putc(b, *p);
		else
			(void)buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
}
