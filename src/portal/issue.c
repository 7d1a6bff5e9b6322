/*
 * issue: the issuance half of the applicant's flow (DESIGN.md 2.1, steps 発行申請情報入力 →
 * 確認 → 完了 → 発行完了): the mailed link's button, the issuance form and its checks, the
 * confirm page, the idempotent Submit that issues through the CA, the certificate page (PIN
 * and certificate code shown once) and the single-use PKCS#12 download.  portal.h tells the
 * whole design.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca/ca.h"
#include "http/http.h"
#include "portal_int.h"
#include "ra/ra.h"

#define ISSUE_TOKEN_FORM STORE_TOKEN_ISSUE_FORM	    /* the continuation after the mailed link */
#define ISSUE_TOKEN_SUBMIT STORE_TOKEN_ISSUE_SUBMIT /* nonce of the confirm form */
#define ISSUE_TOKEN_VERIFY STORE_TOKEN_REGIST_VERIFY
#define ISSUE_TOKEN_APPROVE STORE_TOKEN_APPROVE /* the holder's approval link (agent) */

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

static int
issue_agent(const struct store_app *a)
{
	return strcmp(a->applicant_type, "agent") == 0;
}

/* The form's values, borrowed from the parsed form. */
struct issue_vals {
	const char *t; /* continuation token */
	const char *name_kanji, *name_romaji, *ou, *subject_email, *hostnames, *key_mode, *csr;
	const char *pw_ref; /* once the password was accepted: its pwhash reference, else "" */
};

struct issue_errs {
	const char *name_kanji, *name_romaji, *ou, *subject_email, *hostnames, *key_mode, *csr,
	    *password, *password2;
	char csr_detail[256]; /* the CSR's refusal as the CA gave it (English, technical) */
	int any;
};

/* What a continuation token leads to. */
struct issue_app {
	struct store_app a;
	char profile[32];
	char org_name[256];
};

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

static void
issue_vals_from(struct issue_vals *v, const struct portal_form *f)
{
	v->t = nz(portal_form_get(f, "t"));
	v->name_kanji = nz(portal_form_get(f, "name_kanji"));
	v->name_romaji = nz(portal_form_get(f, "name_romaji"));
	v->ou = nz(portal_form_get(f, "ou"));
	v->subject_email = nz(portal_form_get(f, "subject_email"));
	v->hostnames = nz(portal_form_get(f, "hostnames"));
	v->key_mode = nz(portal_form_get(f, "key_mode"));
	v->csr = nz(portal_form_get(f, "csr"));
	v->pw_ref = nz(portal_form_get(f, "pw_ref"));
}

static void
issue_err(struct tmpl_data *d, const char *lang, const char *name, const char *msgid)
{
	if (msgid != NULL)
		tmpl_data_str(d, name, i18n_get(lang, msgid));
	else
		tmpl_data_bool(d, name, 0);
}

/* The continuation's hash, keyed with the session id: it only works in that session. */
static void
issue_cont_hash(const struct portal_ctx *x, const unsigned char raw[PORTAL_TOKEN_LEN],
		unsigned char out[STORE_HASH_LEN])
{
	crypto_generichash(out, STORE_HASH_LEN, raw, PORTAL_TOKEN_LEN,
			   (const unsigned char *)x->sid, strlen(x->sid));
}

/*
 * Parses the body (urlencoded, or multipart/form-data for the issuance form's CSR file;
 * CSR-sized) and checks CSRF; replies itself and returns 1 on failure.
 */
static int
issue_form_read(struct portal_ctx *x, struct portal_form *f, int *rc)
{
	struct err e;

	const char *ct = http_header(x->r, "Content-Type");
	int r;

	err_clear(&e);
	if (ct != NULL && strncasecmp(ct, "multipart/form-data", 19) == 0)
		r = portal_form_parse_multipart(x->r->body, x->r->bodylen, ct,
						PORTAL_ISSUE_BODY_MAX, "csr", PORTAL_CSR_FIELD_MAX,
						f, &e);
	else
		r = portal_form_parse_ex(x->r->body, x->r->bodylen, PORTAL_ISSUE_BODY_MAX, "csr",
					 PORTAL_CSR_FIELD_MAX, f, &e);
	if (r == -1) {
		char esc[256];

		log_warn("portal: %s: %s", x->r->url,
			 log_escape(esc, sizeof(esc), e.msg, strlen(e.msg)));
		*rc =
		    portal_notice(x, 400, N_("The form could not be read"),
				  N_("The form could not be read. Please go back and try again."));
		return 1;
	}
	if (!portal_csrf_ok(x, portal_form_get(f, "csrf"))) {
		*rc = portal_notice(x, 403, N_("Access denied"),
				    N_("Your session has expired or the form did not come from "
				       "this site. Please start again from the first step."));
		return 1;
	}
	return 0;
}

/* Records that an application ran out of time (from -> expired); a moved state is fine. */
static void
issue_mark_expired(struct store *st, int64_t id, const char *from)
{
	struct err e;

	err_clear(&e);
	if (store_app_set_state(st, id, from, "expired", &e) == -1 && e.code != ERR_CONFLICT)
		log_warn("portal: application %lld: %s", (long long)id, e.msg);
}

/*
 * Finds the application of continuation token t in this session.  Returns 0 with *ia filled,
 * or 1 after replying (*rc) with the right notice (unknown, expired, issued already) or, on a
 * store error, the error page.
 */
static int
issue_cont_load(struct portal_ctx *x, struct store *st, const char *t, struct issue_app *ia,
		int *rc, struct err *e)
{
	struct store_token tok;
	struct store_ticket tk;
	struct store_org org;
	struct err se;
	unsigned char raw[PORTAL_TOKEN_LEN], h[STORE_HASH_LEN];
	int r = -1;

	memset(ia, 0, sizeof(*ia));
	memset(&tk, 0, sizeof(tk));
	memset(&org, 0, sizeof(org));
	err_clear(&se);
	if (portal_b64url_decode(raw, sizeof(raw), t) == -1)
		goto unknown;
	issue_cont_hash(x, raw, h);
	if (store_token_get(st, h, ISSUE_TOKEN_FORM, &tok, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		goto unknown;
	}
	if (tok.used != 0) {
		*rc = portal_notice(
		    x, 410, N_("The certificate has already been issued"),
		    N_("The certificate of this application has already been issued. For your "
		       "security, the PIN and the certificate code are shown only once."));
		r = 1;
		goto out;
	}
	if (tok.expires <= util_now()) {
		issue_mark_expired(st, tok.app_id, "mail-verified");
		*rc = portal_notice(
		    x, 410, N_("This application has expired"),
		    N_("This application has expired. Please register your application again; your "
		       "ticket can be used for the new registration."));
		r = 1;
		goto out;
	}
	if (store_app_get(st, tok.app_id, &ia->a, e) == -1 ||
	    store_ticket_get(st, ia->a.ticket, &tk, e) == -1 ||
	    store_org_get_id(st, ia->a.org_id, &org, e) == -1)
		goto out;
	snprintf(ia->profile, sizeof(ia->profile), "%s", tk.profile);
	snprintf(ia->org_name, sizeof(ia->org_name), "%s", org.name);
	r = 0;
	goto out;
unknown:
	*rc = portal_notice(x, 404, N_("This page is not valid"),
			    N_("This page is not valid in this browser session. Please open the "
			       "link from the mail again in the same browser, or register again."));
	r = 1;
out:
	sodium_memzero(raw, sizeof(raw));
	store_ticket_clear(&tk);
	store_org_clear(&org);
	if (r != 0)
		store_app_clear(&ia->a);
	if (r == -1) {
		*rc = portal_error(x, e);
		r = 1;
	}
	return r;
}

static int
issue_is(const struct issue_app *ia, const char *profile)
{
	return strcmp(ia->profile, profile) == 0;
}

/* The MAC that keeps the password's reference across Back (bound to session, continuation). */
static void
issue_pw_mac(const struct portal_ctx *x, const char *t, const char *pw_ref,
	     char out[PORTAL_B64_LEN])
{
	const char *parts[] = {"issue-pw", x->sid, t, pw_ref};

	portal_mac(out, parts, 4);
}

/* The issuance form with values v and errors er (either may be NULL). */
static int
issue_form_render(struct portal_ctx *x, const struct issue_app *ia, const struct issue_vals *v,
		  const struct issue_errs *er)
{
	static const struct issue_errs noerr;
	struct tmpl_data *d;
	char csrf[PORTAL_B64_LEN], pwmac[PORTAL_B64_LEN];
	const char *km;
	int rc;

	if (er == NULL)
		er = &noerr;
	d = portal_data_flow(x, N_("Issuance application"), ISSUE_STEP_INPUT, issue_agent(&ia->a));
	portal_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "t", v->t);
	tmpl_data_str(d, "org_name", ia->org_name);
	tmpl_data_str(d, "ticket", ia->a.ticket);
	tmpl_data_str(d, "profile", ia->profile);
	tmpl_data_bool(d, "p_client", issue_is(ia, "client"));
	tmpl_data_bool(d, "p_server", issue_is(ia, "server"));
	tmpl_data_bool(d, "p_codesign", issue_is(ia, "codesign"));
	tmpl_data_bool(d, "need_names", !issue_is(ia, "server"));
	tmpl_data_bool(d, "agent", strcmp(ia->a.applicant_type, "agent") == 0);
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
	rc = portal_page(x, er->any ? 400 : 200, "issue_form", d);
	tmpl_data_free(d);
	return rc;
}

/* ---- the certificate's contents ---- */

/* The names of a request: up to RA_HOSTS_MAX host names split out of hosts. */
struct issue_names {
	char *buf;
	const char *dns[RA_HOSTS_MAX];
	size_t ndns;
};

/*
 * Fills the RA's request with what the holder entered (hosts: the parsed host names, for the
 * server profile): the RA builds O from the organization, the CN from the first host name or
 * the romaji name, the SANs from the host names or the holder's address.  nm owns the
 * strings; free nm->buf.
 */
static void
issue_ra_req(const struct issue_app *ia, const struct issue_vals *v, const char *hosts,
	     struct issue_names *nm, struct ra_issue_req *req)
{
	char *p, *tok;

	memset(nm, 0, sizeof(*nm));
	memset(req, 0, sizeof(*req));
	req->profile = ia->profile;
	req->org_code = ia->a.org_code;
	if (v->ou[0] != '\0') {
		req->ou = &v->ou;
		req->nou = 1;
	}
	if (issue_is(ia, "server")) {
		nm->buf = xstrdup(hosts != NULL ? hosts : "");
		for (p = nm->buf; nm->ndns < RA_HOSTS_MAX && *p != '\0';) {
			tok = p;
			p += strcspn(p, " ");
			if (*p == ' ')
				*p++ = '\0';
			if (*tok != '\0')
				nm->dns[nm->ndns++] = tok;
		}
		req->dns = nm->dns;
		req->ndns = nm->ndns;
		req->cn = nm->ndns > 0 ? nm->dns[0] : NULL; /* the form decides, not the CSR */
	} else {
		req->cn = v->name_romaji;
		if (v->subject_email[0] != '\0')
			req->email = v->subject_email;
	}
}

/* A new key of mode "p256" or "rsa2048" (the holder's; made here, never a CA key). */
/* ---- the form ---- */

/*
 * Checks every field against the application's profile; fills er.  *hosts (caller frees) the
 * parsed host names of a server request.  -1 only for internal errors.
 */
static int
issue_check(struct portal_ctx *x, struct store *st, const struct issue_app *ia,
	    const struct issue_vals *v, const char *pw, const char *pw2, struct issue_errs *er,
	    char **hosts, struct err *e)
{
	int server = issue_is(ia, "server"), client = issue_is(ia, "client");
	struct err ce;
	int rc = -1;

	*hosts = NULL;
	err_clear(&ce);
	if (client) {
		if (v->name_kanji[0] == '\0')
			er->name_kanji = N_("Enter the name in kanji.");
		else if (!ra_name_kanji_ok(v->name_kanji))
			er->name_kanji =
			    N_("Use up to 64 full-width characters: kanji, hiragana, katakana, "
			       "full-width letters and the full-width space.");
	} else if (v->name_kanji[0] != '\0' && !ra_name_kanji_ok(v->name_kanji)) {
		er->name_kanji = N_("Use up to 64 full-width characters: kanji, hiragana, "
				    "katakana, full-width letters and the full-width space.");
	}
	if (!server) {
		if (v->name_romaji[0] == '\0')
			er->name_romaji = N_("Enter the name in romaji.");
		else if (!ra_name_romaji_ok(v->name_romaji))
			er->name_romaji = N_("Use up to 64 characters: ASCII letters, space, "
					     "hyphen (-), apostrophe (') and period (.).");
		if (v->ou[0] == '\0')
			er->ou = N_("Enter the organization unit.");
	}
	if (v->ou[0] != '\0' && !ra_ou_ok(v->ou))
		er->ou = N_("Use up to 64 characters without control characters.");
	if (client || strcmp(ia->a.applicant_type, "agent") == 0) {
		if (v->subject_email[0] == '\0')
			er->subject_email =
			    N_("Enter the e-mail address of the certificate holder.");
		else if (!mail_addr_valid(v->subject_email))
			er->subject_email = N_("Enter a valid e-mail address.");
	} else if (v->subject_email[0] != '\0' && !mail_addr_valid(v->subject_email)) {
		er->subject_email = N_("Enter a valid e-mail address.");
	}
	/* a self application: the certificate names the address the mailed link proved */
	if (!er->subject_email && v->subject_email[0] != '\0' &&
	    strcmp(ia->a.applicant_type, "self") == 0 &&
	    strcasecmp(v->subject_email, ia->a.email) != 0)
		er->subject_email =
		    N_("For your own application, use the e-mail address you confirmed by mail.");
	if (!er->subject_email && v->subject_email[0] != '\0') {
		int in = portal_email_in_org(st, ia->a.org_id, v->subject_email, e);

		if (in == -1)
			goto out;
		if (in == 0)
			er->subject_email = N_("A certificate with these details cannot be issued "
					       "for your organization.");
	}
	if (server) {
		if (v->hostnames[0] == '\0' || ra_hostnames_parse(v->hostnames, hosts, &ce) == -1)
			er->hostnames = N_("Enter one to ten valid host names (for example "
					   "www.example.jp), separated by spaces.");
	}
	if (strcmp(v->key_mode, "p256") != 0 && strcmp(v->key_mode, "rsa2048") != 0 &&
	    strcmp(v->key_mode, "csr") != 0)
		er->key_mode = N_("Choose how the key is made.");
	if (pw != NULL) {
		if (!ra_password_ok(pw))
			er->password =
			    N_("The application password must have 8 to 128 characters.");
		else if (pw2 == NULL || strcmp(pw, pw2) != 0)
			er->password2 = N_("The two passwords do not match.");
	}
	/* the contents as the CA would issue them: org domains, profile and lint */
	if (!er->name_kanji && !er->name_romaji && !er->ou && !er->subject_email &&
	    !er->hostnames && !er->key_mode) {
		struct issue_names nm;
		struct ra_issue_req req;
		struct ca_issued dummy;
		int bad = 0;

		issue_ra_req(ia, v, *hosts, &nm, &req);
		req.check_only = 1;
		req.actor = "portal";
		/* the names first, with the portal's probe key (never certified) */
		req.key = portal.probe;
		req.spki = portal.probe_spki;
		err_clear(&ce);
		if (ra_issue(x->ca, st, &req, &dummy, &ce) == -1) {
			if (ce.code != ERR_REFUSED) {
				*e = ce;
				bad = -1;
			} else {
				log_info("portal: issuance form refused (%s): %s",
					 ca_refusal_name(ce.kind), ce.msg);
				if (server)
					er->hostnames =
					    N_("These host names cannot be certified for "
					       "your organization.");
				else
					er->subject_email =
					    N_("A certificate with these details cannot be "
					       "issued for your organization.");
			}
		}
		req.key = NULL;
		req.spki = NULL;
		if (bad == 0 && strcmp(v->key_mode, "csr") == 0) {
			if (v->csr[0] == '\0') {
				er->csr = N_("Paste the certificate signing request (PEM).");
			} else {
				req.csr = (const unsigned char *)v->csr;
				req.csrlen = strlen(v->csr);
				err_clear(&ce);
				if (ra_issue(x->ca, st, &req, &dummy, &ce) == -1) {
					if (ce.code != ERR_REFUSED) {
						*e = ce;
						bad = -1;
					} else {
						er->csr = N_("This certificate signing request "
							     "cannot be accepted:");
						snprintf(er->csr_detail, sizeof(er->csr_detail),
							 "%.250s", ce.msg);
					}
				}
			}
		}
		free(nm.buf);
		if (bad == -1)
			goto out;
	}
	er->any = er->name_kanji || er->name_romaji || er->ou || er->subject_email ||
		  er->hostnames || er->key_mode || er->csr || er->password || er->password2;
	rc = 0;
out:
	return rc;
}

int
portal_issue_form_get(struct http_req *r)
{
	struct portal_ctx x;
	struct issue_app ia;
	struct issue_vals v;
	struct store *st;
	struct err e;
	int rc = -1;

	portal_ctx_init(&x, r);
	err_clear(&e);
	memset(&v, 0, sizeof(v));
	v.t = nz(http_query(r, "t"));
	v.name_kanji = v.name_romaji = v.ou = v.subject_email = v.hostnames = v.csr = "";
	v.key_mode = "p256";
	v.pw_ref = "";
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		return portal_error(&x, &e);
	if (issue_cont_load(&x, st, v.t, &ia, &rc, &e) != 0)
		return rc;
	if (strcmp(ia.a.state, "mail-verified") != 0) {
		rc = portal_notice(
		    &x, 409, N_("This application has already been submitted"),
		    N_("This application has already been submitted. For your security, the PIN "
		       "and the certificate code are shown only once."));
	} else {
		/* self: the holder's address is the one just verified */
		if (strcmp(ia.a.applicant_type, "self") == 0)
			v.subject_email = ia.a.email;
		rc = issue_form_render(&x, &ia, &v, NULL);
	}
	store_app_clear(&ia.a);
	return rc;
}

/* The MAC that binds the confirm form's values to the session, continuation, nonce, time. */
static void
issue_form_mac(const struct portal_ctx *x, const struct issue_vals *v, const char *nonce,
	       const char *when, char out[PORTAL_B64_LEN])
{
	const char *parts[] = {"issue-form",   x->sid,	    v->t,
			       nonce,	       when,	    v->name_kanji,
			       v->name_romaji, v->ou,	    v->subject_email,
			       v->hostnames,   v->key_mode, v->csr,
			       v->pw_ref};

	portal_mac(out, parts, sizeof(parts) / sizeof(parts[0]));
}

static int
issue_confirm_render(struct portal_ctx *x, const struct issue_app *ia, const struct issue_vals *v)
{
	struct tmpl_data *d;
	char csrf[PORTAL_B64_LEN], mac[PORTAL_B64_LEN], nb[PORTAL_B64_LEN], wb[32];
	unsigned char raw[PORTAL_TOKEN_LEN];
	const char *km;
	int rc;

	util_random(raw, sizeof(raw));
	portal_b64url(nb, sizeof(nb), raw, sizeof(raw));
	snprintf(wb, sizeof(wb), "%lld", (long long)util_now());
	issue_form_mac(x, v, nb, wb, mac);
	portal_csrf(x, csrf);
	d = portal_data_flow(x, N_("Confirm"), ISSUE_STEP_CONFIRM, issue_agent(&ia->a));
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "t", v->t);
	tmpl_data_str(d, "form_nonce", nb);
	tmpl_data_str(d, "form_time", wb);
	tmpl_data_str(d, "form_mac", mac);
	tmpl_data_str(d, "org_name", ia->org_name);
	tmpl_data_str(d, "ticket", ia->a.ticket);
	tmpl_data_str(d, "profile", ia->profile);
	tmpl_data_bool(d, "need_names", !issue_is(ia, "server"));
	tmpl_data_bool(d, "p_server", issue_is(ia, "server"));
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
	rc = portal_page(x, 200, "issue_confirm", d);
	tmpl_data_free(d);
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

int
portal_issue_form_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct issue_app ia;
	struct issue_vals v;
	struct issue_errs er;
	struct store *st;
	struct err e;
	const char *pw, *pw2, *pwmac;
	char want[PORTAL_B64_LEN], ref[PWHASH_REF_MAX], *hosts = NULL;
	int rc = -1, have_ia = 0;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&er, 0, sizeof(er));
	err_clear(&e);
	if (issue_form_read(&x, &f, &rc))
		goto out;
	issue_vals_from(&v, &f);
	/* an uploaded CSR file (multipart) counts when nothing was pasted */
	if (v.csr[0] == '\0' && portal_form_get(&f, "csr_file") != NULL)
		v.csr = portal_form_get(&f, "csr_file");
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (issue_cont_load(&x, st, v.t, &ia, &rc, &e) != 0)
		goto out;
	have_ia = 1;
	if (strcmp(ia.a.state, "mail-verified") != 0) {
		rc = portal_notice(
		    &x, 409, N_("This application has already been submitted"),
		    N_("This application has already been submitted. For your security, the PIN "
		       "and the certificate code are shown only once."));
		goto out;
	}
	pw = nz(portal_form_get(&f, "app_password"));
	pw2 = nz(portal_form_get(&f, "app_password_confirm"));
	pwmac = nz(portal_form_get(&f, "pw_mac"));
	if (pw[0] == '\0' && v.pw_ref[0] != '\0') {
		/* kept across Back: only a reference this session's form carried */
		issue_pw_mac(&x, v.t, v.pw_ref, want);
		if (strlen(pwmac) != PORTAL_B64_LEN - 1 ||
		    !util_memeq_ct(want, pwmac, PORTAL_B64_LEN - 1))
			v.pw_ref = "";
		pw = v.pw_ref[0] != '\0' ? NULL : pw;
	} else {
		v.pw_ref = "";
	}
	if (issue_check(&x, st, &ia, &v, pw, pw2, &er, &hosts, &e) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (er.any) {
		rc = issue_form_render(&x, &ia, &v, &er);
		goto out;
	}
	if (pw != NULL) {
		/* hashed while the confirm page is read (an older confirm page keeps its own) */
		if (pwhash_submit(pw, ref, &e) == -1) {
			rc = portal_error(&x, &e);
			goto out;
		}
		v.pw_ref = ref;
	}
	if (hosts != NULL)
		v.hostnames = hosts; /* normalised: what the confirm page shows is issued */
	rc = issue_confirm_render(&x, &ia, &v);
out:
	free(hosts);
	if (have_ia)
		store_app_clear(&ia.a);
	portal_form_free(&f);
	return rc;
}

/* ---- Submit ---- */

/* What the certificate page shows; secrets are wiped by issue_result_clear(). */
struct issue_result {
	char serial[STORE_SERIAL_MAX];
	char pin[RA_PIN_LEN + 1];
	char code[RA_CODE_LEN];
	char dl[PORTAL_B64_LEN]; /* download secret (key generated here) */
	char *cert_pem;
	char *chain_pem;
	time_t not_after;
};

static void
issue_result_clear(struct issue_result *res)
{
	free(res->cert_pem);
	free(res->chain_pem);
	sodium_memzero(res, sizeof(*res));
}

/*
 * PEM of the certificate (encoded from its DER, not parsed again) and of the chain (issuing,
 * root: encoded once, at portal_init), and its notAfter as the CA set it.
 */
static int
issue_pems(const struct ca_issued *c, struct issue_result *res, struct err *e)
{
	if ((res->cert_pem = portal_pem("CERTIFICATE", c->der, c->derlen)) == NULL)
		return err_set(e, ERR_INTERNAL, "portal: cannot encode the certificate as PEM");
	res->chain_pem = xstrdup(portal.chain_pem);
	res->not_after = c->not_after;
	return 0;
}

/* The mail that carries the certificate code (the page shows it once as well). */
static int
issue_mail(struct portal_ctx *x, struct store *st, const char *to, const struct issue_result *res,
	   struct err *e)
{
	struct buf body;
	int rc = -1;

	buf_init(&body, MAIL_BODY_MAX);
	if (buf_printf(
		&body, "%s\n\n%s: %s\n%s: %s\n\n%s\n\n%s\n",
		i18n_get(x->lang, N_("Your certificate has been issued.")),
		i18n_get(x->lang, N_("Serial number")), res->serial,
		i18n_get(x->lang, N_("Certificate code")), res->code,
		i18n_get(x->lang, N_("Keep the certificate code together with your application "
				     "password: you need both to re-issue the certificate.")),
		i18n_get(x->lang,
			 N_("If you did not make this application, please contact us."))) == -1 ||
	    buf_cstr(&body) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: mail body too large");
		goto out;
	}
	if (portal_mail_queue(st, to,
			      i18n_get(x->lang, N_("[shomei] Your certificate has been issued")),
			      &body, e) == -1)
		goto out;
	rc = 0;
out:
	if (body.data != NULL)
		sodium_memzero(body.data, body.len);
	buf_free(&body);
	return rc;
}

enum issue_outcome { ISSUE_DONE, ISSUE_REPEAT, ISSUE_TICKET_USED, ISSUE_SENT };

/* The mail to the agent with the one-time link of the certificate page. */
static int
issue_mail_agent(struct portal_ctx *x, struct store *st, const char *to, const char *link,
		 struct err *e)
{
	struct buf body;
	int rc = -1;

	buf_init(&body, MAIL_BODY_MAX);
	if (buf_printf(
		&body, "%s\n\n%s\n\n%s\n",
		i18n_get(x->lang, N_("The certificate holder has approved your application and the "
				     "certificate has been issued.")),
		i18n_get(
		    x->lang,
		    N_("Open the link below to get the certificate (and the PIN of its PKCS#12 "
		       "file, shown once). The link can be used once and is valid for 3 days.")),
		link) == -1 ||
	    buf_cstr(&body) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: mail body too large");
		goto out;
	}
	if (portal_mail_queue(st, to,
			      i18n_get(x->lang, N_("[shomei] Your certificate has been issued")),
			      &body, e) == -1)
		goto out;
	rc = 0;
out:
	if (body.data != NULL)
		sodium_memzero(body.data, body.len);
	buf_free(&body);
	return rc;
}

/* A plain mail (outcome notices): subject and body msgids, one line of detail. */
static int
issue_mail_notice(struct portal_ctx *x, struct store *st, const char *to, const char *subj_msgid,
		  const char *body_msgid, const char *detail, struct err *e)
{
	struct buf body;
	int rc = -1;

	buf_init(&body, MAIL_BODY_MAX);
	if (buf_printf(&body, "%s\n\n%s\n", i18n_get(x->lang, body_msgid), detail) == -1 ||
	    buf_cstr(&body) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: mail body too large");
		goto out;
	}
	if (portal_mail_queue(st, to, i18n_get(x->lang, subj_msgid), &body, e) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&body);
	return rc;
}

/*
 * Housekeeping: deletes the downloads nobody took, at most once a minute per process, through
 * the group commit like the application's writes; run on every issuance and download it
 * wrote twice as often as needed (bench/portal).  An expired download is refused by
 * store_download_take() whether or not its row is gone yet.
 */
#define ISSUE_PURGE_EVERY 60

static int
issue_purge_write(struct store *st, void *arg, struct err *e)
{
	return store_download_purge(st, *(const time_t *)arg, NULL, e);
}

static void
issue_download_purge(struct ca *ca, struct store *st, time_t now)
{
	static _Atomic long long last;
	long long l = atomic_load(&last);
	struct err pe;

	if (now - l < ISSUE_PURGE_EVERY && now >= l)
		return;
	if (!atomic_compare_exchange_strong(&last, &l, (long long)now))
		return; /* another thread purges */
	err_clear(&pe);
	if (ca_write(ca, st, issue_purge_write, &now, &pe) == -1)
		log_warn("portal: %s", pe.msg);
}

/* The key that seals what the agent's certificate page shows, from the link's secret. */
static void
issue_seal_key(const unsigned char raw[PORTAL_TOKEN_LEN],
	       unsigned char key[crypto_secretbox_KEYBYTES])
{
	static const unsigned char ctx[] = "shomei portal delivery seal";

	crypto_generichash(key, crypto_secretbox_KEYBYTES, raw, PORTAL_TOKEN_LEN, ctx,
			   sizeof(ctx) - 1);
}

/* The values a Submit records with the application (borrowed from ia and v). */
static void
issue_app_values(struct store_app *rec, const struct issue_app *ia, const struct issue_vals *v)
{
	memset(rec, 0, sizeof(*rec));
	rec->profile = (char *)ia->profile;
	rec->subject_email = (char *)v->subject_email;
	rec->name_kanji = (char *)v->name_kanji;
	rec->name_romaji = (char *)v->name_romaji;
	rec->ou = (char *)v->ou;
	rec->hostnames = (char *)v->hostnames;
	rec->key_mode = (char *)v->key_mode;
	rec->password_hash = (char *)v->pw_ref;
	rec->csr = v->csr[0] != '\0' ? (char *)v->csr : NULL;
}

/* One issuance of the portal: what ca_issue()'s hooks take and give back. */
struct issue_run {
	struct portal_ctx *x;
	struct issue_app *ia;
	const struct issue_vals *v;
	const char *from;		/* the state the application leaves for issued */
	const unsigned char *cont_hash; /* the token used up with the issuance, or NULL */
	enum store_token_purpose cont_purpose;
	const unsigned char *nonce_hash; /* self Submit: the claim is part of the write */
	const char *code;		 /* a re-issue keeps its code (and its hash), else NULL */
	const unsigned char *fixed_code_hash;
	struct ra_key key; /* generated here (or the applicant's CSR) */
	int generated;
	char friendly[128];
	char actor[64];
	int agent;
	time_t now, keep;
	/* made once the certificate is signed (issue_signed) */
	struct issue_result *res;
	unsigned char code_hash[STORE_HASH_LEN], dlhash[STORE_HASH_LEN], dvhash[STORE_HASH_LEN];
	unsigned char *p12, *sealed;
	size_t p12len, sealedlen;
	char *link;
	/* set by issue_write when the issuance lost to something else: nothing was written */
	enum issue_outcome outcome;
};

/* Forgets what issue_signed made for the write (before it runs again, and at the end). */
static void
issue_run_drop(struct issue_run *u)
{
	if (u->p12 != NULL) {
		sodium_memzero(u->p12, u->p12len);
		free(u->p12);
	}
	free(u->sealed);
	if (u->link != NULL) {
		sodium_memzero(u->link, strlen(u->link));
		free(u->link);
	}
	u->p12 = u->sealed = NULL;
	u->link = NULL;
	u->p12len = u->sealedlen = 0;
	sodium_memzero(u->code_hash, sizeof(u->code_hash));
}

/*
 * ca_issue's signed_fn: with the signed certificate, before anything is stored, everything the
 * write and the page need: PEMs, the certificate code, the PIN and PKCS#12 with its download
 * secret, and for an agent's application the sealed delivery and its link.
 */
static int
issue_signed(const struct ca_issued *c, void *arg, struct err *e)
{
	struct issue_run *u = arg;
	unsigned char dlraw[PORTAL_TOKEN_LEN], dvraw[PORTAL_TOKEN_LEN],
	    skey[crypto_secretbox_KEYBYTES];
	char dv[PORTAL_B64_LEN];
	int rc = -1;

	issue_run_drop(u);
	issue_result_clear(u->res); /* a serial drawn anew: the page's values too */
	memcpy(u->res->serial, c->serial, sizeof(u->res->serial));
	if (issue_pems(c, u->res, e) == -1)
		return -1;
	if (u->code != NULL) {
		snprintf(u->res->code, sizeof(u->res->code), "%s", u->code);
		memcpy(u->code_hash, u->fixed_code_hash, sizeof(u->code_hash));
	} else {
		ra_code_new(u->res->code, u->code_hash);
	}
	if (u->generated) {
		memcpy(u->res->pin, u->key.pin, sizeof(u->res->pin));
		if (ra_p12(&u->key, c->der, c->derlen, u->x->ca->chain, u->friendly, &u->p12,
			   &u->p12len, e) == -1)
			return -1;
		util_random(dlraw, sizeof(dlraw));
		ra_token_hash(dlraw, u->dlhash);
		portal_b64url(u->res->dl, sizeof(u->res->dl), dlraw, sizeof(dlraw));
		sodium_memzero(dlraw, sizeof(dlraw));
	}
	if (u->agent) {
		/* sealed: "<pin>\n<download secret>" (both empty for a CSR) */
		char plain[RA_PIN_LEN + 1 + PORTAL_B64_LEN + 1];
		size_t pl;

		snprintf(plain, sizeof(plain), "%s\n%s", u->res->pin, u->res->dl);
		pl = strlen(plain);
		util_random(dvraw, sizeof(dvraw));
		ra_token_hash(dvraw, u->dvhash);
		issue_seal_key(dvraw, skey);
		portal_b64url(dv, sizeof(dv), dvraw, sizeof(dvraw));
		u->sealedlen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + pl;
		u->sealed = xmalloc(u->sealedlen);
		randombytes_buf(u->sealed, crypto_secretbox_NONCEBYTES);
		crypto_secretbox_easy(u->sealed + crypto_secretbox_NONCEBYTES,
				      (const unsigned char *)plain, pl, u->sealed, skey);
		sodium_memzero(plain, sizeof(plain));
		u->link = xasprintf("%s/issue/deliver?t=%s", portal.base_url, dv);
		sodium_memzero(dvraw, sizeof(dvraw));
		sodium_memzero(skey, sizeof(skey));
		sodium_memzero(dv, sizeof(dv));
	}
	rc = 0;
	return rc;
}

/* The issuance lost to a twin or to another use of the ticket: outcome oc, nothing written. */
static int
issue_write_lost(struct issue_run *u, enum issue_outcome oc, const struct err *se, struct err *e)
{
	if (se->code != ERR_CONFLICT) {
		*e = *se;
		return -1;
	}
	u->outcome = oc;
	return err_set(e, ERR_CONFLICT, "portal: application %lld was not issued here",
		       (long long)u->ia->a.id);
}

/*
 * ca_issue's write_fn, in the certificate's transaction: for a self Submit the claim (the
 * confirm page's nonce, mail-verified -> submitted with the values), then the ticket used,
 * the application issued with the code's hash, the continuation used, the parked PKCS#12 (and
 * the agent's sealed delivery), the audit entry and the mails.
 */
static int
issue_write(struct store *st, const struct ca_issued *c, void *arg, struct err *e)
{
	struct issue_run *u = arg;
	const struct issue_vals *v = u->v;
	const struct store_app *a = &u->ia->a;
	struct err se;
	char *detail;
	int rc;

	err_clear(&se);
	if (u->nonce_hash != NULL) {
		struct store_app rec;

		if (store_token_add(st, u->nonce_hash, ISSUE_TOKEN_SUBMIT, a->id,
				    u->now + PORTAL_FORM_TTL, u->now, &se) == -1)
			return issue_write_lost(u, ISSUE_REPEAT, &se, e);
		issue_app_values(&rec, u->ia, v);
		if (store_app_submit(st, a->id, "mail-verified", u->from, &rec, u->now, &se) == -1)
			return issue_write_lost(u, ISSUE_REPEAT, &se, e);
	}
	if (store_ticket_use(st, a->ticket, c->serial, &se) == -1)
		return issue_write_lost(u, ISSUE_TICKET_USED, &se, e);
	if (store_app_issue(st, a->id, u->from, c->serial, u->code_hash, u->now, e) == -1)
		return -1;
	if (u->cont_hash != NULL &&
	    store_token_use(st, u->cont_hash, u->cont_purpose, u->now, e) == -1)
		return -1;
	if (u->p12 != NULL &&
	    store_download_put(st, u->dlhash, a->id, u->p12, u->p12len, u->keep, e) == -1)
		return -1;
	if (u->sealed != NULL &&
	    store_download_put(st, u->dvhash, a->id, u->sealed, u->sealedlen, u->keep, e) == -1)
		return -1;
	detail = xasprintf("application=%lld ticket=%s profile=%s key=%s type=%s", (long long)a->id,
			   a->ticket, u->ia->profile, v->key_mode, a->applicant_type);
	rc = store_audit_append(st, u->actor, "portal.issue", c->serial, detail, NULL, e);
	free(detail);
	if (rc == -1)
		return -1;
	if (issue_mail(u->x, st, u->agent ? v->subject_email : a->email, u->res, e) == -1)
		return -1;
	if (u->agent && issue_mail_agent(u->x, st, a->email, u->link, e) == -1)
		return -1;
	return 0;
}

/*
 * Issues an application: the key (p256/rsa2048) or the applicant's CSR, the CA, and with the
 * certificate in its one durable transaction (ca_issue's group commit) issue_write's records.
 * A certificate is issued together with its application or not at all, so nothing is left to
 * revoke when something fails.  nonce_hash (self Submit) makes the claim part of that
 * transaction and the application goes mail-verified -> submitted -> issued there; otherwise
 * it is in state from (an agent's application: "approved") and goes back to back_to when the
 * issuance fails.  For an agent's application the certificate page goes to the agent by a
 * mailed one-time link (its PIN and download secret sealed under the link's secret) and the
 * code to the holder; res is then only for the approver's page (serial).
 */
static int
issue_perform(struct portal_ctx *x, struct store *st, struct issue_app *ia,
	      const struct issue_vals *v, const unsigned char *nonce_hash, const char *from,
	      const char *back_to, const unsigned char *cont_hash,
	      enum store_token_purpose cont_purpose, enum issue_outcome *outcome,
	      struct issue_result *res, struct err *e)
{
	struct ra_issue_req req;
	struct ca_issued issued;
	struct issue_run u;
	struct issue_names nm;
	char *hosts = NULL;
	int rc = -1;

	*outcome = ISSUE_DONE;
	memset(&nm, 0, sizeof(nm));
	memset(&issued, 0, sizeof(issued));
	memset(&u, 0, sizeof(u));
	u.x = x;
	u.ia = ia;
	u.v = v;
	u.from = from;
	u.cont_hash = cont_hash;
	u.cont_purpose = cont_purpose;
	u.nonce_hash = nonce_hash;
	u.res = res;
	u.now = util_now();
	u.agent = strcmp(ia->a.applicant_type, "agent") == 0;
	u.keep = u.agent ? u.now + PORTAL_APP_TTL : u.now + PORTAL_DOWNLOAD_TTL;
	u.outcome = ISSUE_DONE;
	u.generated = strcmp(v->key_mode, "csr") != 0;
	snprintf(u.actor, sizeof(u.actor), "portal:app:%lld", (long long)ia->a.id);
	if (issue_is(ia, "server"))
		snprintf(u.friendly, sizeof(u.friendly), "%.*s", (int)strcspn(v->hostnames, " "),
			 v->hostnames);
	else
		snprintf(u.friendly, sizeof(u.friendly), "%s", v->name_romaji);

	if (issue_is(ia, "server") && ra_hostnames_parse(v->hostnames, &hosts, e) == -1)
		goto revert;
	if (u.generated && ra_key_take(v->key_mode, &u.key, e) == -1)
		goto revert;
	issue_download_purge(x->ca, st, u.now);
	issue_ra_req(ia, v, hosts, &nm, &req);
	if (u.generated) {
		req.key = u.key.key; /* made here: no CSR to make, parse and verify */
		req.spki = u.key.spki;
	} else {
		req.csr = (const unsigned char *)v->csr;
		req.csrlen = strlen(v->csr);
	}
	req.actor = u.actor;
	req.signed_fn = issue_signed;
	req.write_fn = issue_write;
	req.arg = &u;
	if (ra_issue(x->ca, st, &req, &issued, e) == -1) {
		if (u.outcome == ISSUE_DONE)
			goto revert;
		/* lost: to a twin (nothing to undo) or to another use of the ticket */
		*outcome = u.outcome;
		err_clear(e);
		if (u.outcome == ISSUE_TICKET_USED && nonce_hash == NULL) {
			struct err re;

			err_clear(&re);
			if (store_app_set_state(st, ia->a.id, from, "cancelled", &re) == -1)
				log_warn("portal: application %lld: %s", (long long)ia->a.id,
					 re.msg);
		}
		rc = 0;
		goto out;
	}
	rc = 0;
	goto out;

revert:
	if (back_to != NULL) {
		struct err re;

		err_clear(&re);
		if (store_app_set_state(st, ia->a.id, from, back_to, &re) == -1)
			log_warn("portal: application %lld: %s", (long long)ia->a.id, re.msg);
	}
out:
	issue_run_drop(&u); /* the page needs res, nothing else */
	free(hosts);
	free(nm.buf);
	ra_key_clear(&u.key);
	ca_issued_clear(&issued);
	return rc;
}

/* The approval mail to the holder (agent applications). */
static int
issue_mail_approval(struct portal_ctx *x, struct store *st, const struct issue_app *ia,
		    const char *to, const char *link, struct err *e)
{
	struct buf body;
	int rc = -1;

	buf_init(&body, MAIL_BODY_MAX);
	if (buf_printf(
		&body, "%s\n\n%s: %s\n%s: %s\n\n%s\n\n%s\n\n%s\n",
		i18n_get(x->lang, N_("An agent has applied for a certificate for you.")),
		i18n_get(x->lang, N_("Agent")), ia->a.email, i18n_get(x->lang, N_("Organization")),
		ia->org_name,
		i18n_get(x->lang,
			 N_("Open the link below to review the application and approve or reject "
			    "it. The link can be used once and is valid for 3 days.")),
		link,
		i18n_get(
		    x->lang,
		    N_("If you do not know this application, reject it or discard this mail."))) ==
		-1 ||
	    buf_cstr(&body) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: mail body too large");
		goto out;
	}
	if (portal_mail_queue(
		st, to, i18n_get(x->lang, N_("[shomei] Please approve a certificate application")),
		&body, e) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&body);
	return rc;
}

/*
 * Submit.  Self: issue_perform() with the claim (the confirm page's nonce, mail-verified ->
 * submitted) in the issuance's own transaction.  Agent: in one transaction the nonce, state
 * mail-verified -> awaiting-approval with the values (the CSR included), the continuation
 * used, the approval token and its mail.
 */
static int
issue_submit(struct portal_ctx *x, struct store *st, struct issue_app *ia,
	     const struct issue_vals *v, const unsigned char nonce_hash[STORE_HASH_LEN],
	     const unsigned char cont_hash[STORE_HASH_LEN], enum issue_outcome *outcome,
	     struct issue_result *res, struct err *e)
{
	struct store_app rec;
	struct store_ticket tk;
	struct err se;
	unsigned char araw[PORTAL_TOKEN_LEN], ah[STORE_HASH_LEN];
	char at[PORTAL_B64_LEN], *link = NULL;
	time_t now = util_now();
	int rc = -1, began = 0, agent = strcmp(ia->a.applicant_type, "agent") == 0;

	*outcome = ISSUE_DONE;
	memset(&tk, 0, sizeof(tk));
	err_clear(&se);
	util_random(araw, sizeof(araw));
	/* a ticket used meanwhile is told before anything is signed (the write checks again) */
	if (store_ticket_get(st, ia->a.ticket, &tk, e) == -1)
		goto out;
	if (strcmp(tk.status, "unused") != 0) {
		*outcome = ISSUE_TICKET_USED;
		rc = 0;
		goto out;
	}
	if (!agent) {
		rc = issue_perform(x, st, ia, v, nonce_hash, "submitted", NULL, cont_hash,
				   ISSUE_TOKEN_FORM, outcome, res, e);
		goto out;
	}
	if (store_begin(st, e) == -1)
		goto out;
	began = 1;
	if (store_token_add(st, nonce_hash, ISSUE_TOKEN_SUBMIT, ia->a.id, now + PORTAL_FORM_TTL,
			    now, &se) == -1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			goto out;
		}
		*outcome = ISSUE_REPEAT; /* a concurrent twin */
		rc = 0;
		goto out;
	}
	issue_app_values(&rec, ia, v);
	err_clear(&se);
	if (store_app_submit(st, ia->a.id, "mail-verified", "awaiting-approval", &rec, now, &se) ==
	    -1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			goto out;
		}
		*outcome = ISSUE_REPEAT; /* another confirm page of this application won */
		rc = 0;
		goto out;
	}
	ra_token_hash(araw, ah);
	portal_b64url(at, sizeof(at), araw, sizeof(araw));
	link = xasprintf("%s/approve?t=%s", portal.base_url, at);
	if (store_token_use(st, cont_hash, ISSUE_TOKEN_FORM, now, e) == -1 ||
	    store_token_add(st, ah, ISSUE_TOKEN_APPROVE, ia->a.id, now + PORTAL_APP_TTL, 0, e) ==
		-1 ||
	    issue_mail_approval(x, st, ia, v->subject_email, link, e) == -1)
		goto out;
	if (store_commit(st, e) == -1) {
		began = 0;
		goto out;
	}
	began = 0;
	*outcome = ISSUE_SENT;
	rc = 0;
out:
	if (began)
		store_rollback(st);
	store_ticket_clear(&tk);
	sodium_memzero(araw, sizeof(araw));
	sodium_memzero(at, sizeof(at));
	if (link != NULL) {
		sodium_memzero(link, strlen(link));
		free(link);
	}
	return rc;
}

/* The certificate page: PIN and code, once. */
static int
issue_cert_render(struct portal_ctx *x, const struct issue_app *ia, const char *key_mode,
		  const struct issue_result *res)
{
	struct tmpl_data *d = portal_data_flow(
	    x, N_("Certificate issued"),
	    issue_agent(&ia->a) ? ISSUE_STEP_AGENT_ISSUED : ISSUE_STEP_ISSUED, issue_agent(&ia->a));
	char *url = NULL, date[32];
	struct tm tm;
	int rc;

	gmtime_r(&res->not_after, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
	tmpl_data_str(d, "serial", res->serial);
	tmpl_data_str(d, "not_after", date);
	tmpl_data_str(d, "profile", ia->profile);
	tmpl_data_str(d, "cert_code", res->code);
	if (strcmp(key_mode, "csr") != 0) {
		url = xasprintf("/issue/download?d=%s", res->dl);
		tmpl_data_bool(d, "p12", 1);
		tmpl_data_str(d, "pin", res->pin);
		tmpl_data_str(d, "download_url", url);
	} else {
		tmpl_data_bool(d, "p12", 0);
	}
	tmpl_data_str(d, "cert_pem", res->cert_pem);
	tmpl_data_str(d, "chain_pem", res->chain_pem);
	rc = portal_page(x, 200, "issue_cert", d);
	tmpl_data_free(d);
	if (url != NULL) {
		sodium_memzero(url, strlen(url));
		free(url);
	}
	return rc;
}

int
portal_issue_confirm_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct issue_app ia;
	struct issue_vals v;
	struct issue_result res;
	struct store *st;
	struct err e;
	enum issue_outcome oc;
	const char *nonce, *when, *mac, *action;
	char want[PORTAL_B64_LEN];
	unsigned char raw[PORTAL_TOKEN_LEN], nh[STORE_HASH_LEN], craw[PORTAL_TOKEN_LEN],
	    ch[STORE_HASH_LEN];
	char ref[PWHASH_REF_MAX], hash[PWHASH_REF_MAX];
	long t, waited = 0;
	int rc = -1, k, have_ia = 0;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&res, 0, sizeof(res));
	hash[0] = '\0';
	err_clear(&e);
	if (issue_form_read(&x, &f, &rc))
		goto out;
	issue_vals_from(&v, &f);
	nonce = portal_form_get(&f, "form_nonce");
	when = portal_form_get(&f, "form_time");
	mac = portal_form_get(&f, "form_mac");
	action = nz(portal_form_get(&f, "action"));
	if (nonce == NULL || when == NULL || mac == NULL ||
	    portal_b64url_decode(raw, sizeof(raw), nonce) == -1 ||
	    util_parse_long(when, 0, LONG_MAX, &t) == -1 || strlen(mac) != PORTAL_B64_LEN - 1)
		goto invalid;
	issue_form_mac(&x, &v, nonce, when, want);
	if (!util_memeq_ct(want, mac, PORTAL_B64_LEN - 1) || t > util_now() + 60 ||
	    util_now() - t > PORTAL_FORM_TTL)
		goto invalid;
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = portal_error(&x, &e);
		goto out;
	}
	/* a repeated Submit first: the continuation is used up once issued */
	ra_token_hash(raw, nh);
	{
		struct store_token tok;
		struct err se;

		err_clear(&se);
		if (strcmp(action, "back") != 0 &&
		    store_token_get(st, nh, ISSUE_TOKEN_SUBMIT, &tok, &se) == 0) {
			rc = portal_notice(
			    &x, 200, N_("The certificate has already been issued"),
			    N_("This application has already been submitted. For your security, "
			       "the PIN and the certificate code are shown only once."));
			goto out;
		} else if (se.code != ERR_OK && se.code != ERR_NOTFOUND) {
			rc = portal_error(&x, &se);
			goto out;
		}
	}
	if (issue_cont_load(&x, st, v.t, &ia, &rc, &e) != 0)
		goto out;
	have_ia = 1;
	if (strcmp(action, "back") == 0) {
		rc = issue_form_render(&x, &ia, &v, NULL);
		goto out;
	}
	if (strcmp(action, "submit") != 0 || v.pw_ref[0] == '\0')
		goto invalid;
	if (portal_b64url_decode(craw, sizeof(craw), v.t) == -1)
		goto invalid;
	/* the password's hash, made meanwhile (or now, if it is not done yet) */
	snprintf(ref, sizeof(ref), "%s", v.pw_ref);
	if ((k = pwhash_get(ref, hash, &waited, &e)) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (waited > 1000)
		log_info("portal: Submit waited %ldus for the password hash", waited);
	if (k == 1) {
		/*
		 * Forgotten: the server restarted, or the confirm page is hours old, or a twin of
		 * this Submit (a double click) issued and forgot it just now: looked up again.
		 */
		struct issue_errs er;

		store_app_clear(&ia.a);
		have_ia = 0;
		if (issue_cont_load(&x, st, v.t, &ia, &rc, &e) != 0)
			goto out;
		have_ia = 1;
		if (strcmp(ia.a.state, "mail-verified") != 0) {
			rc = portal_notice(
			    &x, 200, N_("The certificate has already been issued"),
			    N_("This application has already been submitted. For your security, "
			       "the PIN and the certificate code are shown only once."));
			goto out;
		}
		memset(&er, 0, sizeof(er));
		er.password = N_("Please enter the application password again.");
		er.any = 1;
		v.pw_ref = "";
		rc = issue_form_render(&x, &ia, &v, &er);
		goto out;
	}
	v.pw_ref = hash;
	issue_cont_hash(&x, craw, ch);
	if (issue_submit(&x, st, &ia, &v, nh, ch, &oc, &res, &e) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	pwhash_forget(ref); /* issued, sent for approval, or a twin's: not needed again */
	switch (oc) {
	case ISSUE_DONE:
		rc = issue_cert_render(&x, &ia, v.key_mode, &res);
		break;
	case ISSUE_SENT: {
		struct tmpl_data *d =
		    portal_data_flow(&x, N_("Application submitted"), ISSUE_STEP_DONE, 1);

		tmpl_data_str(d, "subject_email", v.subject_email);
		rc = portal_page(&x, 200, "issue_sent", d);
		tmpl_data_free(d);
		break;
	}
	case ISSUE_REPEAT:
		rc = portal_notice(
		    &x, 200, N_("The certificate has already been issued"),
		    N_("This application has already been submitted. For your security, the PIN "
		       "and the certificate code are shown only once."));
		break;
	default:
		rc = portal_notice(
		    &x, 409, N_("This ticket has already been used"),
		    N_("The ticket of this application has meanwhile been used for another "
		       "certificate. No certificate was issued on this application."));
		break;
	}
	goto out;
invalid:
	rc =
	    portal_notice(&x, 400, N_("The form is no longer valid"),
			  N_("This form is no longer valid. Please open the issuance form again."));
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(craw, sizeof(craw));
	sodium_memzero(hash, sizeof(hash));
	issue_result_clear(&res);
	if (have_ia)
		store_app_clear(&ia.a);
	portal_form_free(&f);
	return rc;
}

/* The download's write: the parked PKCS#12 taken (read and deleted). */
struct issue_download {
	const unsigned char *hash;
	time_t now;
	unsigned char *data;
	size_t len;
};

static int
issue_download_take(struct store *st, void *arg, struct err *e)
{
	struct issue_download *w = arg;

	return store_download_take(st, w->hash, w->now, &w->data, &w->len, NULL, e);
}

/* GET /issue/download?d=<secret>: the PKCS#12, once (a durable delete: it cannot come twice). */
int
portal_issue_download_get(struct http_req *r)
{
	struct issue_download dw;
	struct portal_ctx x;
	struct store *st;
	struct err e, se;
	unsigned char raw[PORTAL_TOKEN_LEN], h[STORE_HASH_LEN], *data = NULL;
	const char *s = http_query(r, "d"); /* a query, not the path: paths go to the access log */
	const char *hdrs[] = {"Content-Disposition",
			      "attachment; filename=\"certificate.p12\"",
			      "Cache-Control",
			      "no-store",
			      "X-Content-Type-Options",
			      "nosniff",
			      NULL};
	size_t len = 0;
	int rc;

	portal_ctx_init(&x, r);
	memset(&dw, 0, sizeof(dw));
	err_clear(&e);
	err_clear(&se);
	if (portal_b64url_decode(raw, sizeof(raw), s) == -1)
		goto gone;
	ra_token_hash(raw, h);
	sodium_memzero(raw, sizeof(raw));
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		return portal_error(&x, &e);
	issue_download_purge(x.ca, st, util_now());
	dw.hash = h;
	dw.now = util_now();
	if (ca_write(x.ca, st, issue_download_take, &dw, &se) == -1) {
		if (se.code != ERR_NOTFOUND)
			return portal_error(&x, &se);
		goto gone;
	}
	data = dw.data;
	len = dw.len;
	rc = http_reply_hdrs(r, 200, "application/x-pkcs12", data, len, hdrs);
	sodium_memzero(data, len);
	free(data);
	return rc;
gone:
	return portal_notice(
	    &x, 410, N_("This download is no longer available"),
	    N_("This download link can be used once and only for an hour after issuance. If you "
	       "did not save the file, please ask for a re-issue."));
}

/* ---- the mailed link ---- */

enum issue_verify_res { V_OK, V_UNKNOWN, V_USED, V_EXPIRED };

/* The mailed link's write: the link used, mail-verified, the continuation made. */
struct issue_verify {
	const unsigned char *hash, *cont_hash;
	time_t now;
	enum issue_verify_res res;
	int64_t app_id;
};

static int
issue_verify_write(struct store *st, void *arg, struct err *e)
{
	struct issue_verify *w = arg;
	struct store_token t;
	struct err se;

	err_clear(&se);
	w->res = V_UNKNOWN;
	if (store_token_get(st, w->hash, ISSUE_TOKEN_VERIFY, &t, &se) == -1) {
		if (se.code == ERR_NOTFOUND)
			return 0;
		*e = se;
		return -1;
	}
	w->app_id = t.app_id;
	if (t.used != 0) {
		w->res = V_USED;
		return 0;
	}
	if (t.expires <= w->now) {
		w->res = V_EXPIRED; /* the caller marks the application expired */
		return 0;
	}
	if (store_token_use(st, w->hash, ISSUE_TOKEN_VERIFY, w->now, e) == -1 ||
	    store_app_set_state(st, t.app_id, "registered", "mail-verified", e) == -1 ||
	    store_token_add(st, w->cont_hash, ISSUE_TOKEN_FORM, t.app_id, w->now + PORTAL_APP_TTL,
			    0, e) == -1)
		return -1;
	w->res = V_OK;
	return 0;
}

/*
 * GET shows a button and uses nothing (mail scanners open links); POST (CSRF) uses the link,
 * marks the application mail-verified, makes the continuation and redirects to the form.
 */
int
portal_verify_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct store *st = NULL;
	struct err e;
	unsigned char raw[PORTAL_TOKEN_LEN], h[STORE_HASH_LEN], craw[PORTAL_TOKEN_LEN],
	    ch[STORE_HASH_LEN];
	char cont[PORTAL_B64_LEN], *loc = NULL;
	time_t now = util_now();
	int rc = -1;
	struct issue_verify vw;
	enum issue_verify_res res = V_UNKNOWN;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	err_clear(&e);
	if (issue_form_read(&x, &f, &rc))
		goto done;
	if (portal_b64url_decode(raw, sizeof(raw), portal_form_get(&f, "onetimetoken")) == -1)
		goto reply;
	ra_token_hash(raw, h);
	util_random(craw, sizeof(craw));
	issue_cont_hash(&x, craw, ch);
	portal_b64url(cont, sizeof(cont), craw, sizeof(craw));
	memset(&vw, 0, sizeof(vw));
	vw.hash = h;
	vw.cont_hash = ch;
	vw.now = now;
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ca_write(x.ca, st, issue_verify_write, &vw, &e) == -1)
		goto fail;
	res = vw.res;
	if (res == V_EXPIRED)
		issue_mark_expired(st, vw.app_id, "registered");
reply:
	switch (res) {
	case V_OK: {
		const char *hdrs[] = {"Location", NULL, "Cache-Control", "no-store", NULL};

		loc = xasprintf("/issue/form?t=%s", cont);
		hdrs[1] = loc;
		rc = http_reply_hdrs(r, 303, "text/plain; charset=utf-8", "", 0, hdrs);
		break;
	}
	case V_USED:
		rc = portal_notice(&x, 410, N_("This link has already been used"),
				   N_("This link has already been used. Each link in our mails can "
				      "be used only once."));
		break;
	case V_EXPIRED:
		rc = portal_notice(
		    &x, 410, N_("This link has expired"),
		    N_("This link has expired: links are valid for 3 days. Please register your "
		       "application again; your ticket can be used for the new registration."));
		break;
	default:
		rc = portal_notice(&x, 404, N_("This link is not valid"),
				   N_("This link is not valid. Please check that you opened the "
				      "whole link from the mail."));
		break;
	}
	goto done;
fail:
	rc = portal_error(&x, &e);
done:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(craw, sizeof(craw));
	sodium_memzero(cont, sizeof(cont));
	free(loc);
	portal_form_free(&f);
	return rc;
}

/* ---- issuing an approved application (re-issue: reissue.c) ---- */

/* The re-issue's write: approved -> issued, the ticket moved to it, its PKCS#12, audit. */
static int
issue_reissue_write(struct store *st, const struct ca_issued *c, void *arg, struct err *e)
{
	struct issue_run *u = arg;
	const struct store_app *a = &u->ia->a;
	char *detail;
	int rc;

	if (store_app_issue(st, a->id, u->from, c->serial, u->code_hash, u->now, e) == -1 ||
	    store_ticket_reassign(st, a->ticket, c->serial, e) == -1)
		return -1;
	if (u->p12 != NULL &&
	    store_download_put(st, u->dlhash, a->id, u->p12, u->p12len, u->keep, e) == -1)
		return -1;
	detail = xasprintf("application=%lld predecessor=%lld key=%s", (long long)a->id,
			   (long long)a->predecessor_id, u->v->key_mode);
	rc = store_audit_append(st, u->actor, "portal.issue", c->serial, detail, NULL, e);
	free(detail);
	return rc;
}

int
portal_issue_approved(struct portal_ctx *x, struct store *st, const struct store_app *a,
		      const char *csr_pem, const char *code,
		      const unsigned char code_hash[STORE_HASH_LEN], char *refusal,
		      size_t refusal_len, int *rc, struct err *e)
{
	struct issue_app ia;
	struct issue_vals v;
	struct issue_result res;
	struct issue_run u;
	struct store_org org;
	struct ra_issue_req req;
	struct ca_issued issued;
	struct issue_names nm;
	struct err ce;
	int r = -1;

	memset(&ia, 0, sizeof(ia));
	memset(&v, 0, sizeof(v));
	memset(&res, 0, sizeof(res));
	memset(&org, 0, sizeof(org));
	memset(&issued, 0, sizeof(issued));
	memset(&u, 0, sizeof(u));
	memset(&nm, 0, sizeof(nm));
	err_clear(&ce);
	refusal[0] = '\0';
	if (store_org_get_id(st, a->org_id, &org, e) == -1)
		goto out;
	ia.a = *a; /* borrowed: never cleared here */
	snprintf(ia.profile, sizeof(ia.profile), "%s", nz(a->profile));
	snprintf(ia.org_name, sizeof(ia.org_name), "%s", org.name);
	u.generated = a->key_mode == NULL || strcmp(a->key_mode, "csr") != 0;
	v.name_kanji = nz(a->name_kanji);
	v.name_romaji = nz(a->name_romaji);
	v.ou = nz(a->ou);
	v.subject_email = nz(a->subject_email);
	v.hostnames = nz(a->hostnames);
	v.key_mode = u.generated ? nz(a->key_mode) : "csr";
	u.x = x;
	u.ia = &ia;
	u.v = &v;
	u.from = "approved";
	u.res = &res;
	u.code = code;
	u.fixed_code_hash = code_hash;
	u.now = util_now();
	u.keep = u.now + PORTAL_DOWNLOAD_TTL;
	snprintf(u.actor, sizeof(u.actor), "portal:app:%lld", (long long)a->id);
	snprintf(u.friendly, sizeof(u.friendly), "%s",
		 a->name_romaji != NULL ? a->name_romaji : "certificate");
	if (u.generated && ra_key_take(v.key_mode, &u.key, e) == -1)
		goto out;
	issue_ra_req(&ia, &v, v.hostnames, &nm, &req);
	if (u.generated) {
		req.key = u.key.key;
		req.spki = u.key.spki;
	} else {
		req.csr = (const unsigned char *)csr_pem;
		req.csrlen = strlen(nz(csr_pem));
	}
	req.actor = u.actor;
	req.signed_fn = issue_signed;
	req.write_fn = issue_reissue_write;
	req.arg = &u;
	if (ra_issue(x->ca, st, &req, &issued, &ce) == -1) {
		if (ce.code == ERR_REFUSED && !u.generated) {
			snprintf(refusal, refusal_len, "%s", ce.msg);
			r = 1;
		} else {
			*e = ce;
		}
		goto out;
	}
	*rc = issue_cert_render(x, &ia, v.key_mode, &res);
	r = 0;
out:
	issue_run_drop(&u);
	ra_key_clear(&u.key);
	free(nm.buf);
	ca_issued_clear(&issued);
	store_org_clear(&org);
	issue_result_clear(&res);
	return r;
}

/* ---- the holder's approval of an agent's application ---- */

/* The values of a submitted application, borrowed from a. */
static void
issue_vals_of_app(struct issue_vals *v, const struct store_app *a)
{
	memset(v, 0, sizeof(*v));
	v->t = "";
	v->name_kanji = nz(a->name_kanji);
	v->name_romaji = nz(a->name_romaji);
	v->ou = nz(a->ou);
	v->subject_email = nz(a->subject_email);
	v->hostnames = nz(a->hostnames);
	v->key_mode = nz(a->key_mode);
	v->csr = nz(a->csr);
	v->pw_ref = nz(a->password_hash);
}

/*
 * Finds the application of approval token t (state awaiting-approval).  0 with *ia and *h
 * filled, 1 after replying with a notice, -1 on a store error.
 */
static int
issue_approval_load(struct portal_ctx *x, struct store *st, const char *t, struct issue_app *ia,
		    unsigned char h[STORE_HASH_LEN], int *rc, struct err *e)
{
	struct store_token tok;
	struct store_ticket tk;
	struct store_org org;
	struct err se;
	unsigned char raw[PORTAL_TOKEN_LEN];
	int r = -1;

	memset(ia, 0, sizeof(*ia));
	memset(&tk, 0, sizeof(tk));
	memset(&org, 0, sizeof(org));
	err_clear(&se);
	if (portal_b64url_decode(raw, sizeof(raw), t) == -1)
		goto unknown;
	ra_token_hash(raw, h);
	if (store_token_get(st, h, ISSUE_TOKEN_APPROVE, &tok, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		goto unknown;
	}
	if (tok.used != 0) {
		*rc = portal_notice(x, 410, N_("This link has already been used"),
				    N_("This link has already been used. Each link in our mails "
				       "can be used only once."));
		r = 1;
		goto out;
	}
	if (tok.expires <= util_now()) {
		issue_mark_expired(st, tok.app_id, "awaiting-approval");
		*rc = portal_notice(x, 410, N_("This link has expired"),
				    N_("This approval link has expired: links are valid for 3 "
				       "days. The agent can register the application again."));
		r = 1;
		goto out;
	}
	if (store_app_get(st, tok.app_id, &ia->a, e) == -1 ||
	    store_ticket_get(st, ia->a.ticket, &tk, e) == -1 ||
	    store_org_get_id(st, ia->a.org_id, &org, e) == -1)
		goto out;
	if (strcmp(ia->a.state, "awaiting-approval") != 0) {
		*rc = portal_notice(x, 409, N_("This application has already been decided"),
				    N_("This application has already been approved or rejected."));
		r = 1;
		goto out;
	}
	snprintf(ia->profile, sizeof(ia->profile), "%s", tk.profile);
	snprintf(ia->org_name, sizeof(ia->org_name), "%s", org.name);
	r = 0;
	goto out;
unknown:
	*rc = portal_notice(x, 404, N_("This link is not valid"),
			    N_("This link is not valid. Please check that you opened the whole "
			       "link from the mail."));
	r = 1;
out:
	sodium_memzero(raw, sizeof(raw));
	store_ticket_clear(&tk);
	store_org_clear(&org);
	if (r != 0)
		store_app_clear(&ia->a);
	return r;
}

/* GET /approve?t=: the application's details and the two buttons; uses nothing up. */
int
portal_approve_get(struct http_req *r)
{
	struct portal_ctx x;
	struct issue_app ia;
	struct tmpl_data *d;
	struct store *st;
	struct err e;
	unsigned char h[STORE_HASH_LEN];
	char csrf[PORTAL_B64_LEN];
	const char *t = nz(http_query(r, "t"));
	int rc = -1, k;

	portal_ctx_init(&x, r);
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		return portal_error(&x, &e);
	if ((k = issue_approval_load(&x, st, t, &ia, h, &rc, &e)) == -1)
		return portal_error(&x, &e);
	if (k == 1)
		return rc;
	d = portal_data_flow(&x, N_("Approval of a certificate application"), ISSUE_STEP_APPROVAL,
			     1);
	portal_csrf(&x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "t", t);
	tmpl_data_str(d, "agent_email", ia.a.email);
	tmpl_data_str(d, "org_name", ia.org_name);
	tmpl_data_str(d, "profile", ia.profile);
	tmpl_data_bool(d, "need_names", !issue_is(&ia, "server"));
	tmpl_data_bool(d, "p_server", issue_is(&ia, "server"));
	tmpl_data_str(d, "name_kanji", nz(ia.a.name_kanji));
	tmpl_data_str(d, "name_romaji", nz(ia.a.name_romaji));
	tmpl_data_str(d, "ou", nz(ia.a.ou));
	tmpl_data_str(d, "subject_email", nz(ia.a.subject_email));
	tmpl_data_str(d, "hostnames", nz(ia.a.hostnames));
	tmpl_data_str(d, "key_mode", nz(ia.a.key_mode));
	rc = portal_page(&x, 200, "approve", d);
	tmpl_data_free(d);
	store_app_clear(&ia.a);
	return rc;
}

/* POST /approve: action approve (issues; the agent gets the certificate page by mail) or reject. */
int
portal_approve_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct issue_app ia;
	struct issue_vals v;
	struct issue_result res;
	struct store *st;
	struct err e, se;
	enum issue_outcome oc;
	unsigned char h[STORE_HASH_LEN];
	const char *action;
	char detail[128];
	time_t now = util_now();
	int rc = -1, k, have_ia = 0, began = 0;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&res, 0, sizeof(res));
	err_clear(&e);
	err_clear(&se);
	if (issue_form_read(&x, &f, &rc))
		goto out;
	action = nz(portal_form_get(&f, "action"));
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		goto fail;
	if ((k = issue_approval_load(&x, st, nz(portal_form_get(&f, "t")), &ia, h, &rc, &e)) == -1)
		goto fail;
	if (k == 1)
		goto out;
	have_ia = 1;
	if (strcmp(action, "reject") == 0) {
		snprintf(detail, sizeof(detail), "%s: %s", i18n_get(x.lang, N_("Ticket number")),
			 ia.a.ticket);
		if (store_begin(st, &e) == -1)
			goto fail;
		began = 1;
		if (store_token_use(st, h, ISSUE_TOKEN_APPROVE, now, &se) == -1 ||
		    store_app_set_state(st, ia.a.id, "awaiting-approval", "rejected", &se) == -1) {
			if (se.code != ERR_CONFLICT) {
				e = se;
				goto fail;
			}
			store_rollback(st);
			began = 0;
			rc = portal_notice(
			    &x, 409, N_("This application has already been decided"),
			    N_("This application has already been approved or rejected."));
			goto out;
		}
		if (store_audit_append(st, "portal:holder", "portal.reject", ia.a.ticket, "", NULL,
				       &e) == -1 ||
		    issue_mail_notice(
			&x, st, ia.a.email,
			N_("[shomei] Your certificate application was rejected"),
			N_("The certificate holder has rejected the application you made on their "
			   "behalf. No certificate was issued; the ticket can be used again."),
			detail, &e) == -1 ||
		    issue_mail_notice(&x, st, nz(ia.a.subject_email),
				      N_("[shomei] Your certificate application was rejected"),
				      N_("You have rejected the certificate application made on "
					 "your behalf. No certificate was issued."),
				      detail, &e) == -1)
			goto fail;
		if (store_commit(st, &e) == -1) {
			began = 0;
			goto fail;
		}
		began = 0;
		rc = portal_notice(&x, 200, N_("Application rejected"),
				   N_("You have rejected the application. No certificate was "
				      "issued, and the agent has been told by mail."));
		goto out;
	}
	if (strcmp(action, "approve") != 0) {
		rc = portal_notice(&x, 400, N_("The form could not be read"),
				   N_("The form could not be read. Please go back and try again."));
		goto out;
	}
	/* the claim: awaiting-approval -> approved (a double click finds it moved) */
	if (store_app_set_state(st, ia.a.id, "awaiting-approval", "approved", &se) == -1) {
		if (se.code != ERR_CONFLICT) {
			e = se;
			goto fail;
		}
		rc = portal_notice(&x, 409, N_("This application has already been decided"),
				   N_("This application has already been approved or rejected."));
		goto out;
	}
	issue_vals_of_app(&v, &ia.a);
	if (issue_perform(&x, st, &ia, &v, NULL, "approved", "awaiting-approval", h,
			  ISSUE_TOKEN_APPROVE, &oc, &res, &e) == -1)
		goto fail;
	if (oc == ISSUE_TICKET_USED) {
		rc = portal_notice(
		    &x, 409, N_("This ticket has already been used"),
		    N_("The ticket of this application has meanwhile been used for another "
		       "certificate. No certificate was issued on this application."));
		goto out;
	}
	{
		struct tmpl_data *d =
		    portal_data_flow(&x, N_("Application approved"), ISSUE_STEP_AGENT_ISSUED, 1);

		tmpl_data_str(d, "serial", res.serial);
		tmpl_data_str(d, "agent_email", ia.a.email);
		rc = portal_page(&x, 200, "approve_done", d);
		tmpl_data_free(d);
	}
	goto out;
fail:
	if (began)
		store_rollback(st);
	began = 0;
	rc = portal_error(&x, &e);
out:
	issue_result_clear(&res);
	if (have_ia)
		store_app_clear(&ia.a);
	portal_form_free(&f);
	return rc;
}

/* ---- the agent's certificate page, by a mailed one-time link ---- */

/* GET /issue/deliver?t=: a button (mail scanners open links); uses nothing up. */
int
portal_deliver_get(struct http_req *r)
{
	struct portal_ctx x;
	struct tmpl_data *d;
	char csrf[PORTAL_B64_LEN];
	int rc;

	portal_ctx_init(&x, r);
	d = portal_data_flow(&x, N_("Certificate issued"), ISSUE_STEP_AGENT_ISSUED, 1);
	portal_csrf(&x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "t", nz(http_query(r, "t")));
	rc = portal_page(&x, 200, "deliver", d);
	tmpl_data_free(d);
	return rc;
}

/* POST /issue/deliver: takes the sealed PIN and download secret, shows the page once. */
int
portal_deliver_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct issue_app ia;
	struct issue_result res;
	struct store_cert cert;
	struct store *st;
	struct err e, se;
	unsigned char raw[PORTAL_TOKEN_LEN], h[STORE_HASH_LEN], key[crypto_secretbox_KEYBYTES],
	    *data = NULL;
	char plain[RA_PIN_LEN + 1 + PORTAL_B64_LEN + 1];
	size_t len = 0, pl;
	int64_t app_id = 0;
	int rc = -1, have_ia = 0;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&res, 0, sizeof(res));
	memset(&ia, 0, sizeof(ia));
	memset(&cert, 0, sizeof(cert));
	memset(plain, 0, sizeof(plain));
	memset(key, 0, sizeof(key));
	err_clear(&e);
	err_clear(&se);
	if (issue_form_read(&x, &f, &rc))
		goto out;
	if (portal_b64url_decode(raw, sizeof(raw), portal_form_get(&f, "t")) == -1)
		goto gone;
	ra_token_hash(raw, h);
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		goto fail;
	if (store_download_take(st, h, util_now(), &data, &len, &app_id, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			e = se;
			goto fail;
		}
		goto gone;
	}
	issue_seal_key(raw, key);
	if (len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES ||
	    (pl = len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES) >= sizeof(plain) ||
	    crypto_secretbox_open_easy((unsigned char *)plain, data + crypto_secretbox_NONCEBYTES,
				       len - crypto_secretbox_NONCEBYTES, data, key) != 0) {
		err_set(&e, ERR_INTERNAL, "portal: delivery of application %lld does not open",
			(long long)app_id);
		goto fail;
	}
	plain[pl] = '\0';
	if (store_app_get(st, app_id, &ia.a, &e) == -1)
		goto fail;
	have_ia = 1;
	if (ia.a.cert_serial == NULL) {
		err_set(&e, ERR_INTERNAL, "portal: delivered application %lld has no certificate",
			(long long)app_id);
		goto fail;
	}
	snprintf(ia.profile, sizeof(ia.profile), "%s", nz(ia.a.profile));
	if (store_cert_get(st, ia.a.cert_serial, &cert, &e) == -1)
		goto fail;
	snprintf(res.serial, sizeof(res.serial), "%s", cert.serial);
	{
		struct ca_issued ci;

		memset(&ci, 0, sizeof(ci));
		ci.der = cert.der;
		ci.derlen = cert.derlen;
		ci.not_after = cert.not_after;
		if (issue_pems(&ci, &res, &e) == -1)
			goto fail;
	}
	{
		char *nl = strchr(plain, '\n');

		if (nl != NULL) {
			*nl = '\0';
			snprintf(res.pin, sizeof(res.pin), "%.12s", plain);
			snprintf(res.dl, sizeof(res.dl), "%.43s", nl + 1);
		}
	}
	rc = issue_cert_render(&x, &ia, nz(ia.a.key_mode), &res);
	goto out;
gone:
	rc = portal_notice(&x, 410, N_("This link has already been used"),
			   N_("This link has already been used or has expired. For your security, "
			      "the certificate page with the PIN is shown only once."));
	goto out;
fail:
	rc = portal_error(&x, &e);
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(plain, sizeof(plain));
	if (data != NULL) {
		sodium_memzero(data, len);
		free(data);
	}
	issue_result_clear(&res);
	store_cert_clear(&cert);
	if (have_ia)
		store_app_clear(&ia.a);
	portal_form_free(&f);
	return rc;
}
