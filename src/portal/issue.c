/*
 * issue: the pages of the issuance half of the applicant's flow (DESIGN.md 2.1, steps
 * 発行申請情報入力 → 確認 → 完了 → 発行完了): the mailed link's button, the issuance form,
 * the confirm page, Submit, the certificate page (PIN and certificate code shown once), the
 * single-use PKCS#12 download, and the holder's approval of an agent's application with the
 * agent's certificate page.  The rules and the writes are the RA's (src/ra/issue.c,
 * src/ra/regist.c); this file draws pages, keeps the forms' values under MACs and words the
 * RA's outcomes.  portal.h tells the whole design.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "ca/ca.h"
#include "http/http.h"
#include "portal_int.h"
#include "ra/ra.h"

/*
 * The application password is hashed (argon2id, PORTAL_PW_*) off the request threads, by
 * pwhash.c: the form queues it and the confirm page carries its reference (pw_ref: a handle,
 * or the hash itself when the hasher had no place), MAC'd with the other values; Submit takes
 * the hash by it, and asks for the password again when the handle was forgotten (a restart).
 */

enum issue_flow {
	ISSUE_STEP_MAIL = 3,
	ISSUE_STEP_INPUT,
	ISSUE_STEP_CONFIRM,
	ISSUE_STEP_DONE,
	ISSUE_STEP_ISSUED,
	ISSUE_STEP_APPROVAL = 7,
	ISSUE_STEP_AGENT_ISSUED = 8
};

/* The form's values, borrowed from the parsed form. */
struct issue_vals {
	const char *t; /* continuation token */
	const char *name_kanji, *name_romaji, *ou, *subject_email, *hostnames, *key_mode, *csr;
	const char *pw_ref; /* once the password was accepted: its pwhash reference, else "" */
};

/* The msgids of the form's errors. */
struct issue_errs {
	const char *name_kanji, *name_romaji, *ou, *subject_email, *hostnames, *key_mode, *csr,
	    *password, *password2;
	char csr_detail[256]; /* the CSR's refusal as the CA gave it (English, technical) */
	int any;
};

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

static int
issue_is(const struct ra_app *a, const char *profile)
{
	return strcmp(a->profile, profile) == 0;
}

static void
issue_vals_from(struct issue_vals *v, const struct web_form *f)
{
	v->t = nz(web_form_get(f, "t"));
	v->name_kanji = nz(web_form_get(f, "name_kanji"));
	v->name_romaji = nz(web_form_get(f, "name_romaji"));
	v->ou = nz(web_form_get(f, "ou"));
	v->subject_email = nz(web_form_get(f, "subject_email"));
	v->hostnames = nz(web_form_get(f, "hostnames"));
	v->key_mode = nz(web_form_get(f, "key_mode"));
	v->csr = nz(web_form_get(f, "csr"));
	v->pw_ref = nz(web_form_get(f, "pw_ref"));
}

/* The RA's view of the form's values (password_hash: the hash, at Submit). */
static void
issue_ra_values(struct ra_issue_values *rv, const struct issue_vals *v, const char *pw_hash)
{
	memset(rv, 0, sizeof(*rv));
	rv->name_kanji = v->name_kanji;
	rv->name_romaji = v->name_romaji;
	rv->ou = v->ou;
	rv->subject_email = v->subject_email;
	rv->hostnames = v->hostnames;
	rv->key_mode = v->key_mode;
	rv->csr = v->csr;
	rv->password_hash = pw_hash != NULL ? pw_hash : "";
}

/* The messages of the RA's field verdicts. */
static void
issue_errs_from(struct issue_errs *er, const struct ra_issue_fields *f)
{
	static const char *const kanji =
	    N_("Use up to 64 full-width characters: kanji, hiragana, katakana, full-width "
	       "letters and the full-width space.");

	memset(er, 0, sizeof(*er));
	er->name_kanji = f->name_kanji == RA_FIELD_MISSING ? N_("Enter the name in kanji.")
			 : f->name_kanji != RA_FIELD_OK	   ? kanji
							   : NULL;
	er->name_romaji = f->name_romaji == RA_FIELD_MISSING ? N_("Enter the name in romaji.")
			  : f->name_romaji != RA_FIELD_OK
			      ? N_("Use up to 64 characters: ASCII letters, space, hyphen (-), "
				   "apostrophe (') and period (.).")
			      : NULL;
	er->ou = f->ou == RA_FIELD_MISSING ? N_("Enter the organization unit.")
		 : f->ou != RA_FIELD_OK ? N_("Use up to 64 characters without control characters.")
					: NULL;
	switch (f->subject_email) {
	case RA_FIELD_OK:
		break;
	case RA_FIELD_MISSING:
		er->subject_email = N_("Enter the e-mail address of the certificate holder.");
		break;
	case RA_FIELD_NOT_CONFIRMED:
		er->subject_email =
		    N_("For your own application, use the e-mail address you confirmed by mail.");
		break;
	case RA_FIELD_NOT_ORG:
		er->subject_email =
		    N_("A certificate with these details cannot be issued for your organization.");
		break;
	default:
		er->subject_email = N_("Enter a valid e-mail address.");
	}
	if (f->hostnames == RA_FIELD_NOT_ORG)
		er->hostnames = N_("These host names cannot be certified for your organization.");
	else if (f->hostnames != RA_FIELD_OK)
		er->hostnames =
		    N_("Enter one to ten valid host names (for example www.example.jp), "
		       "separated by spaces.");
	if (f->key_mode != RA_FIELD_OK)
		er->key_mode = N_("Choose how the key is made.");
	if (f->csr == RA_FIELD_MISSING)
		er->csr = N_("Paste the certificate signing request (PEM).");
	else if (f->csr != RA_FIELD_OK)
		er->csr = N_("This certificate signing request cannot be accepted:");
	snprintf(er->csr_detail, sizeof(er->csr_detail), "%s", f->csr_detail);
	if (f->password != RA_FIELD_OK)
		er->password = N_("The application password must have 8 to 128 characters.");
	if (f->password2 != RA_FIELD_OK)
		er->password2 = N_("The two passwords do not match.");
	er->any = f->any;
}

static void
issue_err(struct tmpl_data *d, const char *lang, const char *name, const char *msgid)
{
	if (msgid != NULL)
		tmpl_data_str(d, name, i18n_get(lang, msgid));
	else
		tmpl_data_bool(d, name, 0);
}

/* The notice for an application that was submitted already (PIN and code shown once). */
static int
issue_submitted_notice(struct web_ctx *x, int status)
{
	return web_notice(
	    x, status, N_("The certificate has already been issued"),
	    N_("This application has already been submitted. For your security, the PIN and the "
	       "certificate code are shown only once."));
}

/*
 * Finds the application of continuation token t in this session.  Returns 0 with *a filled,
 * or 1 after replying (*rc) with the right notice (unknown, expired, issued already) or, on a
 * store error, the error page.
 */
static int
issue_cont_load(struct web_ctx *x, struct store *st, const char *t, struct ra_app *a, int *rc)
{
	enum ra_submit_result res;
	struct err e;

	err_clear(&e);
	if (ra_cont_load(st, t, x->sid, a, &res, &e) == -1) {
		*rc = web_error(x, &e);
		return 1;
	}
	switch (res) {
	case RA_SUBMIT_ISSUED:
		return 0;
	case RA_SUBMIT_USED:
		*rc = web_notice(
		    x, 410, N_("The certificate has already been issued"),
		    N_("The certificate of this application has already been issued. For your "
		       "security, the PIN and the certificate code are shown only once."));
		break;
	case RA_SUBMIT_EXPIRED:
		*rc = web_notice(
		    x, 410, N_("This application has expired"),
		    N_("This application has expired. Please register your application again; your "
		       "ticket can be used for the new registration."));
		break;
	default:
		*rc = web_notice(
		    x, 404, N_("This page is not valid"),
		    N_("This page is not valid in this browser session. Please open the link from "
		       "the mail again in the same browser, or register again."));
	}
	return 1;
}

/* The MAC that keeps the password's reference across Back (bound to session, continuation). */
static void
issue_pw_mac(const struct web_ctx *x, const char *t, const char *pw_ref, char out[WEB_B64_LEN])
{
	const char *parts[] = {"issue-pw", x->sid, t, pw_ref};

	web_mac(&portal.site, out, parts, 4);
}

/* The issuance form with values v and errors er (either may be NULL). */
static int
issue_form_render(struct web_ctx *x, const struct ra_app *a, const struct issue_vals *v,
		  const struct issue_errs *er)
{
	static const struct issue_errs noerr;
	struct tmpl_data *d;
	char csrf[WEB_B64_LEN], pwmac[WEB_B64_LEN];
	const char *km;
	int rc;

	if (er == NULL)
		er = &noerr;
	d = web_data_flow(x, N_("Issuance application"), ISSUE_STEP_INPUT, a->agent);
	web_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "t", v->t);
	tmpl_data_str(d, "org_name", a->org_name);
	tmpl_data_str(d, "ticket", a->ticket);
	tmpl_data_str(d, "profile", a->profile);
	tmpl_data_bool(d, "p_client", issue_is(a, "client"));
	tmpl_data_bool(d, "p_server", issue_is(a, "server"));
	tmpl_data_bool(d, "p_codesign", issue_is(a, "codesign"));
	tmpl_data_bool(d, "need_names", !issue_is(a, "server"));
	tmpl_data_bool(d, "agent", a->agent);
	tmpl_data_str(d, "name_kanji", v->name_kanji);
	tmpl_data_str(d, "name_romaji", v->name_romaji);
	tmpl_data_str(d, "ou", v->ou);
	tmpl_data_str(d, "subject_email", v->subject_email);
	tmpl_data_str(d, "hostnames", v->hostnames);
	tmpl_data_str(d, "csr", v->csr);
	km = v->key_mode[0] != '\0' ? v->key_mode : "p256";
	tmpl_data_bool(d, "km_p256", strcmp(km, "p256") == 0);
	tmpl_data_bool(d, "km_rsa2048", strcmp(km, "rsa2048") == 0);
	tmpl_data_bool(d, "km_csr", strcmp(km, "csr") == 0);
	if (v->pw_ref[0] != '\0') {
		issue_pw_mac(x, v->t, v->pw_ref, pwmac);
		tmpl_data_str(d, "pw_ref", v->pw_ref);
		tmpl_data_str(d, "pw_mac", pwmac);
	} else {
		tmpl_data_bool(d, "pw_ref", 0);
	}
	tmpl_data_bool(d, "has_errors", er->any);
	issue_err(d, x->lang, "err_name_kanji", er->name_kanji);
	issue_err(d, x->lang, "err_name_romaji", er->name_romaji);
	issue_err(d, x->lang, "err_ou", er->ou);
	issue_err(d, x->lang, "err_subject_email", er->subject_email);
	issue_err(d, x->lang, "err_hostnames", er->hostnames);
	issue_err(d, x->lang, "err_key_mode", er->key_mode);
	issue_err(d, x->lang, "err_csr", er->csr);
	tmpl_data_str(d, "err_csr_detail", er->csr_detail);
	issue_err(d, x->lang, "err_app_password", er->password);
	issue_err(d, x->lang, "err_app_password_confirm", er->password2);
	rc = web_page(x, er->any ? 400 : 200, "issue_form", d);
	tmpl_data_free(d);
	return rc;
}

int
portal_issue_form_get(struct http_req *r)
{
	struct web_ctx x;
	struct ra_app a;
	struct issue_vals v;
	struct store *st;
	struct err e;
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	err_clear(&e);
	memset(&v, 0, sizeof(v));
	v.t = nz(http_query(r, "t"));
	v.name_kanji = v.name_romaji = v.ou = v.subject_email = v.hostnames = v.csr = "";
	v.key_mode = "p256";
	v.pw_ref = "";
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		return web_error(&x, &e);
	if (issue_cont_load(&x, st, v.t, &a, &rc) != 0)
		return rc;
	if (a.state != RA_APP_MAIL_VERIFIED) {
		rc = web_notice(
		    &x, 409, N_("This application has already been submitted"),
		    N_("This application has already been submitted. For your security, the PIN "
		       "and the certificate code are shown only once."));
	} else {
		/* self: the holder's address is the one just verified */
		if (!a.agent)
			v.subject_email = a.email;
		rc = issue_form_render(&x, &a, &v, NULL);
	}
	ra_app_clear(&a);
	return rc;
}

#define ISSUE_SEAL "issue-form"
#define ISSUE_SEALED_N 9

/* The confirm form's sealed values (sealed.c: bound to the session, nonce and expiry). */
#define ISSUE_SEALED(v)                                                                            \
	{                                                                                          \
		(v)->t, (v)->name_kanji, (v)->name_romaji, (v)->ou, (v)->subject_email,            \
		    (v)->hostnames, (v)->key_mode, (v)->csr, (v)->pw_ref                           \
	}

static int
issue_confirm_render(struct web_ctx *x, const struct ra_app *a, const struct issue_vals *v)
{
	const char *sealed[] = ISSUE_SEALED(v);
	struct tmpl_data *d;
	struct web_seal seal;
	char csrf[WEB_B64_LEN];
	const char *km;
	int rc;

	web_seal_make(x, ISSUE_SEAL, PORTAL_FORM_TTL, 1, sealed, ISSUE_SEALED_N, &seal);
	web_csrf(x, csrf);
	d = web_data_flow(x, N_("Confirm"), ISSUE_STEP_CONFIRM, a->agent);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "t", v->t);
	web_seal_data(d, &seal);
	tmpl_data_str(d, "org_name", a->org_name);
	tmpl_data_str(d, "ticket", a->ticket);
	tmpl_data_str(d, "profile", a->profile);
	tmpl_data_bool(d, "need_names", !issue_is(a, "server"));
	tmpl_data_bool(d, "p_server", issue_is(a, "server"));
	tmpl_data_str(d, "name_kanji", v->name_kanji);
	tmpl_data_str(d, "name_romaji", v->name_romaji);
	tmpl_data_str(d, "ou", v->ou);
	tmpl_data_str(d, "subject_email", v->subject_email);
	tmpl_data_str(d, "hostnames", v->hostnames);
	tmpl_data_str(d, "key_mode", v->key_mode);
	km = strcmp(v->key_mode, "csr") == 0 ? N_("Certificate signing request (CSR)")
	     : strcmp(v->key_mode, "rsa2048") == 0
		 ? N_("Generated by the service: RSA 2048 (PKCS#12)")
		 : N_("Generated by the service: ECDSA P-256 (PKCS#12)");
	tmpl_data_str(d, "key_mode_label", i18n_get(x->lang, km));
	tmpl_data_str(d, "csr", v->csr);
	tmpl_data_bool(d, "km_csr", strcmp(v->key_mode, "csr") == 0);
	tmpl_data_str(d, "pw_ref", v->pw_ref);
	rc = web_page(x, 200, "issue_confirm", d);
	tmpl_data_free(d);
	sodium_memzero(&seal, sizeof(seal));
	return rc;
}

int
portal_issue_form_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct ra_app a;
	struct issue_vals v;
	struct issue_errs er;
	struct ra_issue_values rv;
	struct ra_issue_fields fields;
	struct store *st;
	struct err e;
	const char *pw, *pw2, *pwmac;
	char want[WEB_B64_LEN], ref[PWHASH_REF_MAX], *hosts = NULL;
	int rc = -1, have_a = 0;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	err_clear(&e);
	if (web_form_read(&x, &f, &portal_form_csr, &rc))
		goto out;
	issue_vals_from(&v, &f);
	/* an uploaded CSR file (multipart) counts when nothing was pasted */
	if (v.csr[0] == '\0' && web_form_get(&f, "csr_file") != NULL)
		v.csr = web_form_get(&f, "csr_file");
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (issue_cont_load(&x, st, v.t, &a, &rc) != 0)
		goto out;
	have_a = 1;
	if (a.state != RA_APP_MAIL_VERIFIED) {
		rc = web_notice(
		    &x, 409, N_("This application has already been submitted"),
		    N_("This application has already been submitted. For your security, the PIN "
		       "and the certificate code are shown only once."));
		goto out;
	}
	pw = nz(web_form_get(&f, "app_password"));
	pw2 = nz(web_form_get(&f, "app_password_confirm"));
	pwmac = nz(web_form_get(&f, "pw_mac"));
	if (pw[0] == '\0' && v.pw_ref[0] != '\0') {
		/* kept across Back: only a reference this session's form carried */
		issue_pw_mac(&x, v.t, v.pw_ref, want);
		if (strlen(pwmac) != WEB_B64_LEN - 1 ||
		    !util_memeq_ct(want, pwmac, WEB_B64_LEN - 1))
			v.pw_ref = "";
		pw = v.pw_ref[0] != '\0' ? NULL : pw;
	} else {
		v.pw_ref = "";
	}
	issue_ra_values(&rv, &v, NULL);
	if (ra_issue_check(x.ca, st, &a, &rv, pw, pw2, &fields, &hosts, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (fields.any) {
		issue_errs_from(&er, &fields);
		rc = issue_form_render(&x, &a, &v, &er);
		goto out;
	}
	if (pw != NULL) {
		/* hashed while the confirm page is read (an older confirm page keeps its own) */
		if (pwhash_submit(pw, ref, &e) == -1) {
			rc = web_error(&x, &e);
			goto out;
		}
		v.pw_ref = ref;
	}
	if (hosts != NULL)
		v.hostnames = hosts; /* normalised: what the confirm page shows is issued */
	rc = issue_confirm_render(&x, &a, &v);
out:
	free(hosts);
	if (have_a)
		ra_app_clear(&a);
	web_form_free(&f);
	return rc;
}

/* ---- Submit ---- */

int
portal_cert_page(struct web_ctx *x, const struct ra_cert_page *p)
{
	struct tmpl_data *d =
	    web_data_flow(x, N_("Certificate issued"),
			  p->agent ? ISSUE_STEP_AGENT_ISSUED : ISSUE_STEP_ISSUED, p->agent);
	char *url = NULL, date[32];
	struct tm tm;
	int rc;

	gmtime_r(&p->not_after, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
	tmpl_data_str(d, "serial", p->serial);
	tmpl_data_str(d, "not_after", date);
	tmpl_data_str(d, "profile", p->profile);
	tmpl_data_str(d, "cert_code", p->code);
	if (p->p12) {
		url = xasprintf("/issue/download?d=%s", p->dl);
		tmpl_data_bool(d, "p12", 1);
		tmpl_data_str(d, "pin", p->pin);
		tmpl_data_str(d, "download_url", url);
	} else {
		tmpl_data_bool(d, "p12", 0);
	}
	tmpl_data_str(d, "cert_pem", p->cert_pem);
	tmpl_data_str(d, "chain_pem", p->chain_pem);
	rc = web_page(x, 200, "issue_cert", d);
	tmpl_data_free(d);
	if (url != NULL) {
		sodium_memzero(url, strlen(url));
		free(url);
	}
	return rc;
}

/* The page of a ticket taken by another certificate meanwhile. */
static int
issue_ticket_used(struct web_ctx *x)
{
	return web_notice(
	    x, 409, N_("This ticket has already been used"),
	    N_("The ticket of this application has meanwhile been used for another certificate. "
	       "No certificate was issued on this application."));
}

/*
 * The confirm page's Submit, once the form is known to be this session's (MAC, nonce): the
 * password's hash by its reference (asked again when it was forgotten), then the RA's Submit.
 */
static int
issue_submit(struct web_ctx *x, struct store *st, struct issue_vals *v,
	     const unsigned char nh[STORE_HASH_LEN])
{
	struct ra_notify n;
	struct ra_app a;
	struct ra_issue_values rv;
	struct ra_submit_req q;
	struct ra_cert_page page;
	struct issue_errs er;
	enum ra_submit_result res;
	struct err e;
	char ref[PWHASH_REF_MAX], hash[PWHASH_REF_MAX];
	long waited = 0;
	int rc = -1, k, have_a = 0;

	err_clear(&e);
	memset(&page, 0, sizeof(page));
	hash[0] = '\0';
	if (issue_cont_load(x, st, v->t, &a, &rc) != 0)
		goto out;
	have_a = 1;
	/* the password's hash, made meanwhile (or now, if it is not done yet) */
	snprintf(ref, sizeof(ref), "%s", v->pw_ref);
	if ((k = pwhash_get(ref, hash, &waited, &e)) == -1) {
		rc = web_error(x, &e);
		goto out;
	}
	if (waited > 1000)
		log_info("portal: Submit waited %ldus for the password hash", waited);
	if (k == 1) {
		/*
		 * Forgotten: the server restarted, or the confirm page is hours old, or a twin of
		 * this Submit (a double click) issued and forgot it just now.
		 */
		if (a.state != RA_APP_MAIL_VERIFIED) {
			rc = issue_submitted_notice(x, 200);
			goto out;
		}
		memset(&er, 0, sizeof(er));
		er.password = N_("Please enter the application password again.");
		er.any = 1;
		v->pw_ref = "";
		rc = issue_form_render(x, &a, v, &er);
		goto out;
	}
	issue_ra_values(&rv, v, hash);
	memset(&q, 0, sizeof(q));
	q.app = &a;
	q.v = &rv;
	q.nonce_hash = nh;
	q.cont = v->t;
	q.session = x->sid;
	portal_notify_init(&n, x->lang);
	if (ra_submit(x->ca, st, &q, &n, &res, &page, &e) == -1) {
		rc = web_error(x, &e);
		goto out;
	}
	pwhash_forget(ref); /* issued, sent for approval, or a twin's: not needed again */
	switch (res) {
	case RA_SUBMIT_ISSUED:
		rc = portal_cert_page(x, &page);
		break;
	case RA_SUBMIT_SENT: {
		struct tmpl_data *d =
		    web_data_flow(x, N_("Application submitted"), ISSUE_STEP_DONE, 1);

		tmpl_data_str(d, "subject_email", v->subject_email);
		rc = web_page(x, 200, "issue_sent", d);
		tmpl_data_free(d);
		break;
	}
	case RA_SUBMIT_TICKET_USED:
		rc = issue_ticket_used(x);
		break;
	case RA_SUBMIT_REFUSED:
		/* a CSR that passed the form's check and is refused now: the form again */
		memset(&er, 0, sizeof(er));
		er.csr = N_("This certificate signing request cannot be accepted:");
		snprintf(er.csr_detail, sizeof(er.csr_detail), "%s", page.detail);
		er.any = 1;
		v->pw_ref = "";
		rc = issue_form_render(x, &a, v, &er);
		break;
	default:
		rc = issue_submitted_notice(x, 200);
	}
out:
	sodium_memzero(hash, sizeof(hash));
	ra_cert_page_clear(&page);
	if (have_a)
		ra_app_clear(&a);
	return rc;
}

int
portal_issue_confirm_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct ra_app a;
	struct issue_vals v;
	struct store *st;
	struct err e;
	const char *action;
	struct web_seal seal;
	enum web_seal_result sr = WEB_SEAL_MALFORMED;
	unsigned char nh[STORE_HASH_LEN];
	int rc = -1, seen;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	err_clear(&e);
	if (web_form_read(&x, &f, &portal_form_csr, &rc))
		goto out;
	issue_vals_from(&v, &f);
	action = nz(web_form_get(&f, "action"));
	{
		const char *sealed[] = ISSUE_SEALED(&v);

		if ((sr = web_seal_open_form(&x, ISSUE_SEAL, &f, sealed, ISSUE_SEALED_N, &seal)) !=
		    WEB_SEAL_OK)
			goto invalid;
	}
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	/* a repeated Submit first: the continuation is used up once issued */
	ra_token_hash(seal.nonce_raw, nh);
	if (strcmp(action, "back") != 0) {
		if (ra_submit_seen(st, nh, &seen, &e) == -1) {
			rc = web_error(&x, &e);
			goto out;
		}
		if (seen) {
			rc = issue_submitted_notice(&x, 200);
			goto out;
		}
	}
	if (strcmp(action, "back") == 0) {
		if (issue_cont_load(&x, st, v.t, &a, &rc) != 0)
			goto out;
		rc = issue_form_render(&x, &a, &v, NULL);
		ra_app_clear(&a);
		goto out;
	}
	if (strcmp(action, "submit") != 0 || v.pw_ref[0] == '\0') {
		sr = WEB_SEAL_MALFORMED; /* what the sealed form cannot hold */
		goto invalid;
	}
	rc = issue_submit(&x, st, &v, nh);
	goto out;
invalid:
	rc = web_seal_refused(
	    &x, sr, N_("This form is no longer valid. Please open the issuance form again."));
out:
	sodium_memzero(&seal, sizeof(seal));
	web_form_free(&f);
	return rc;
}

/*
 * GET /issue/download?d=<secret>: the PKCS#12, once (a durable delete: it cannot come twice).
 * HEAD answers as GET would, without the file and without using the download up.
 */
int
portal_issue_download_get(struct http_req *r)
{
	struct web_ctx x;
	struct store *st;
	struct err e;
	unsigned char *data = NULL;
	const char *s = http_query(r, "d"); /* a query, not the path: paths go to the access log */
	const char *hdrs[] = {"Content-Disposition", "attachment; filename=\"certificate.p12\"",
			      "Cache-Control", "no-store", NULL}; /* nosniff comes from http */
	size_t len = 0;
	int rc;

	web_ctx_init(&x, &portal.site, r);
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		return web_error(&x, &e);
	/* HEAD never consumes anything: the same answer without the file (nor taking it) */
	if ((strcmp(r->method, "HEAD") == 0
		 ? ra_download_peek(st, s, &e)
		 : ra_download_take(x.ca, st, s, &data, &len, &e)) == -1) {
		if (e.code != ERR_NOTFOUND)
			return web_error(&x, &e);
		return web_notice(
		    &x, 410, N_("This download is no longer available"),
		    N_("This download link can be used once and only for an hour after issuance. "
		       "If you did not save the file, please ask for a re-issue."));
	}
	rc = http_reply_hdrs(r, 200, "application/x-pkcs12", data, len, hdrs);
	sodium_memzero(data, len);
	free(data);
	return rc;
}

/* ---- the mailed link ---- */

/*
 * GET shows a button and uses nothing (mail scanners open links; regist.c); POST (CSRF) uses
 * the link, marks the application mail-verified, makes the continuation bound to this
 * session and redirects to the form.  The same session's POST again, after the answer was
 * lost (a crash, a dropped connection: the session id did not rotate), is answered the same
 * redirect while the application waits for its form (ra_link_resume).
 */
int
portal_verify_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct store *st = NULL;
	struct err e;
	char cont[RA_TOKEN_TEXT], next[WEB_B64_LEN], *loc = NULL;
	enum ra_link_result res = RA_LINK_UNKNOWN;
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	err_clear(&e);
	cont[0] = '\0';
	if (web_form_read_link(&x, &f, &portal_form_csr, "onetimetoken", &rc))
		goto done;
	/* the continuation is bound to the session id the link's use rotates to */
	web_session_link_id(&x, web_form_get(&f, "csrf"), web_form_get(&f, "onetimetoken"), next);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_link_use(x.ca, st, web_form_get(&f, "onetimetoken"), next, cont, &res, &e) == -1 ||
	    /* used already: by this session, whose answer was lost? then that answer again */
	    (res == RA_LINK_USED &&
	     ra_link_resume(st, web_form_get(&f, "onetimetoken"), next, cont, &res, &e) == -1)) {
		rc = web_error(&x, &e);
		goto done;
	}
	switch (res) {
	case RA_LINK_OK:
		web_session_rotate(&x, next);
		loc = xasprintf("/issue/form?t=%s", cont);
		rc = web_redirect(&x, loc);
		break;
	case RA_LINK_USED:
		rc = web_notice(&x, 410, N_("This link has already been used"),
				N_("This link has already been used. Each link in our mails can "
				   "be used only once."));
		break;
	case RA_LINK_EXPIRED:
		rc = web_notice(
		    &x, 410, N_("This link has expired"),
		    N_("This link has expired: links are valid for 3 days. Please register your "
		       "application again; your ticket can be used for the new registration."));
		break;
	default:
		rc = web_notice(&x, 404, N_("This link is not valid"),
				N_("This link is not valid. Please check that you opened the "
				   "whole link from the mail."));
		break;
	}
done:
	sodium_memzero(cont, sizeof(cont));
	sodium_memzero(next, sizeof(next));
	free(loc);
	web_form_free(&f);
	return rc;
}

/* ---- the holder's approval of an agent's application ---- */

/* The notice of an approval link that leads nowhere (res is not ISSUED). */
static int
issue_approval_notice(struct web_ctx *x, enum ra_submit_result res)
{
	switch (res) {
	case RA_SUBMIT_USED:
		return web_notice(x, 410, N_("This link has already been used"),
				  N_("This link has already been used. Each link in our mails "
				     "can be used only once."));
	case RA_SUBMIT_EXPIRED:
		return web_notice(x, 410, N_("This link has expired"),
				  N_("This approval link has expired: links are valid for 3 "
				     "days. The agent can register the application again."));
	case RA_SUBMIT_DECIDED:
		return web_notice(x, 409, N_("This application has already been decided"),
				  N_("This application has already been approved or rejected."));
	case RA_SUBMIT_TICKET_USED:
		return issue_ticket_used(x);
	default:
		return web_notice(x, 404, N_("This link is not valid"),
				  N_("This link is not valid. Please check that you opened the "
				     "whole link from the mail."));
	}
}

/* GET /approve?t=: the application's details and the two buttons; uses nothing up. */
int
portal_approve_get(struct http_req *r)
{
	struct web_ctx x;
	struct ra_app a;
	struct tmpl_data *d;
	struct store *st;
	struct err e;
	enum ra_submit_result res;
	char csrf[WEB_B64_LEN];
	const char *t = nz(http_query(r, "t"));
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL || ra_approval_load(st, t, &a, &res, &e) == -1)
		return web_error(&x, &e);
	if (res != RA_SUBMIT_ISSUED)
		return issue_approval_notice(&x, res);
	d = web_data_flow(&x, N_("Approval of a certificate application"), ISSUE_STEP_APPROVAL, 1);
	web_csrf(&x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "t", t);
	tmpl_data_str(d, "agent_email", a.email);
	tmpl_data_str(d, "org_name", a.org_name);
	tmpl_data_str(d, "profile", a.profile);
	tmpl_data_bool(d, "need_names", !issue_is(&a, "server"));
	tmpl_data_bool(d, "p_server", issue_is(&a, "server"));
	tmpl_data_str(d, "name_kanji", a.name_kanji);
	tmpl_data_str(d, "name_romaji", a.name_romaji);
	tmpl_data_str(d, "ou", a.ou);
	tmpl_data_str(d, "subject_email", a.subject_email);
	tmpl_data_str(d, "hostnames", a.hostnames);
	tmpl_data_str(d, "key_mode", a.key_mode);
	rc = web_page(&x, 200, "approve", d);
	tmpl_data_free(d);
	ra_app_clear(&a);
	return rc;
}

/* POST /approve: action approve (issues; the agent gets the certificate page by mail) or reject. */
int
portal_approve_post(struct http_req *r)
{
	struct web_ctx x;
	char next[WEB_B64_LEN];
	struct web_form f;
	struct ra_notify n;
	struct ra_cert_page page;
	struct ra_app a;
	struct store *st;
	struct err e;
	enum ra_submit_result res = RA_SUBMIT_UNKNOWN;
	const char *action, *t;
	int rc = -1, have_a = 0;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	memset(&page, 0, sizeof(page));
	err_clear(&e);
	if (web_form_read_link(&x, &f, &portal_form_csr, "t", &rc))
		goto out;
	action = nz(web_form_get(&f, "action"));
	t = nz(web_form_get(&f, "t"));
	portal_notify_init(&n, x.lang);
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		goto fail;
	if (strcmp(action, "reject") == 0) {
		if (ra_reject(x.ca, st, t, &n, &res, &e) == -1)
			goto fail;
		if (res == RA_SUBMIT_REJECTED)
			rc = web_notice(&x, 200, N_("Application rejected"),
					N_("You have rejected the application. No certificate "
					   "was issued, and the agent has been told by mail."));
		else
			rc = issue_approval_notice(&x, res);
		goto out;
	}
	if (strcmp(action, "approve") != 0) {
		rc = web_notice(&x, 400, N_("The form could not be read"),
				N_("The form could not be read. Please go back and try again."));
		goto out;
	}
	/* the agent's address for the page (the approval below uses the link up) */
	if (ra_approval_load(st, t, &a, &res, &e) == -1)
		goto fail;
	if (res != RA_SUBMIT_ISSUED) {
		rc = issue_approval_notice(&x, res);
		goto out;
	}
	have_a = 1;
	if (ra_approve(x.ca, st, t, &n, &res, &page, &e) == -1)
		goto fail;
	if (res == RA_SUBMIT_REFUSED) {
		err_set(&e, ERR_INTERNAL, "portal: approval refused by the CA: %s", page.detail);
		goto fail;
	}
	if (res != RA_SUBMIT_ISSUED) {
		rc = issue_approval_notice(&x, res == RA_SUBMIT_REPEAT ? RA_SUBMIT_DECIDED : res);
		goto out;
	}
	/* the holder is known: the link was used up */
	web_session_link_id(&x, web_form_get(&f, "csrf"), t, next);
	web_session_rotate(&x, next);
	{
		struct tmpl_data *d =
		    web_data_flow(&x, N_("Application approved"), ISSUE_STEP_AGENT_ISSUED, 1);

		tmpl_data_str(d, "serial", page.serial);
		tmpl_data_str(d, "agent_email", a.email);
		rc = web_page(&x, 200, "approve_done", d);
		tmpl_data_free(d);
	}
	goto out;
fail:
	rc = web_error(&x, &e);
out:
	if (have_a)
		ra_app_clear(&a);
	ra_cert_page_clear(&page);
	web_form_free(&f);
	sodium_memzero(next, sizeof(next));
	return rc;
}

/* ---- the agent's certificate page, by a mailed one-time link ---- */

/* GET /issue/deliver?t=: a button (mail scanners open links); uses nothing up. */
int
portal_deliver_get(struct http_req *r)
{
	struct web_ctx x;
	struct tmpl_data *d;
	char csrf[WEB_B64_LEN];
	int rc;

	web_ctx_init(&x, &portal.site, r);
	d = web_data_flow(&x, N_("Certificate issued"), ISSUE_STEP_AGENT_ISSUED, 1);
	web_csrf(&x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "t", nz(http_query(r, "t")));
	rc = web_page(&x, 200, "deliver", d);
	tmpl_data_free(d);
	return rc;
}

/* POST /issue/deliver: takes the sealed PIN and download secret, shows the page once. */
int
portal_deliver_post(struct http_req *r)
{
	struct web_ctx x;
	char next[WEB_B64_LEN];
	struct web_form f;
	struct ra_cert_page page;
	struct store *st;
	struct err e;
	int rc = -1, found = 0;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	memset(&page, 0, sizeof(page));
	err_clear(&e);
	if (web_form_read_link(&x, &f, &portal_form_csr, "t", &rc))
		goto out;
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_deliver_take(x.ca, st, web_form_get(&f, "t"), &page, &found, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (!found) {
		rc = web_notice(&x, 410, N_("This link has already been used"),
				N_("This link has already been used or has expired. For your "
				   "security, the certificate page with the PIN is shown only "
				   "once."));
	} else {
		/* the agent is known: the link was used up */
		web_session_link_id(&x, web_form_get(&f, "csrf"), web_form_get(&f, "t"), next);
		web_session_rotate(&x, next);
		rc = portal_cert_page(&x, &page);
	}
out:
	ra_cert_page_clear(&page);
	web_form_free(&f);
	sodium_memzero(next, sizeof(next));
	return rc;
}
