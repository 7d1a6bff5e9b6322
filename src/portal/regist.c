/*
 * regist: registration of an application (DESIGN.md 2.1, steps 申請者情報入力 → 確認 → 完了 →
 * 確認メール受信): the step-1 form and its validation, the confirm page, the idempotent
 * Register (application, link token and mail in one transaction) and the mailed link.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ca/ca.h"
#include "http/http.h"
#include "portal_int.h"
#include "ra/ra.h"

#define REGIST_PURPOSE "regist"			      /* the CAPTCHA's form */
#define REGIST_TOKEN_FORM STORE_TOKEN_REGIST_FORM     /* nonce of the confirm form */
#define REGIST_TOKEN_VERIFY STORE_TOKEN_REGIST_VERIFY /* the mailed link */

enum regist_flow { REGIST_STEP_INPUT = 0, REGIST_STEP_CONFIRM, REGIST_STEP_DONE, REGIST_STEP_MAIL };

/* The applicant's values (borrowed from the form) and the msgids of their errors. */
struct regist_vals {
	const char *type, *org, *ticket, *email, *email2;
};

struct regist_errs {
	const char *type, *org, *ticket, *email, *email2, *captcha, *consent;
	int any;
	int status; /* 0: 400 when any, else 200 */
};

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

static void
regist_vals_from(struct regist_vals *v, const struct portal_form *f)
{
	v->type = nz(portal_form_get(f, "applicant_type"));
	v->org = nz(portal_form_get(f, "org_code"));
	v->ticket = nz(portal_form_get(f, "ticket"));
	v->email = nz(portal_form_get(f, "email"));
	v->email2 = nz(portal_form_get(f, "email_confirm"));
}

static void
regist_err(struct tmpl_data *d, const char *lang, const char *name, const char *msgid)
{
	if (msgid != NULL)
		tmpl_data_str(d, name, i18n_get(lang, msgid));
	else
		tmpl_data_bool(d, name, 0);
}

/* The step-1 form with values v (may be NULL) and errors er (may be NULL). */
static int
regist_step1_render(struct portal_ctx *x, const struct regist_vals *v, const struct regist_errs *er)
{
	static const struct regist_vals none = {"self", "", "", "", ""};
	static const struct regist_errs noerr;
	struct tmpl_data *d = NULL;
	struct store_org *orgs = NULL;
	size_t norgs = 0;
	struct store *st;
	struct buf png, uri;
	struct err e;
	char id_hex[CAPTCHA_ID_HEX], csrf[PORTAL_B64_LEN];
	int rc = -1;

	err_clear(&e);
	buf_init(&png, 1024 * 1024);
	buf_init(&uri, 2 * 1024 * 1024);
	if (v == NULL)
		v = &none;
	if (er == NULL)
		er = &noerr;
	if ((st = ca_thread_store(x->ca, &e)) == NULL ||
	    store_org_list(st, &orgs, &norgs, &e) == -1 ||
	    captcha_new(st, &portal.captcha, REGIST_PURPOSE, id_hex, &png, &e) == -1) {
		rc = portal_error(x, &e);
		goto out;
	}
	{
		size_t n = sodium_base64_ENCODED_LEN(png.len, sodium_base64_VARIANT_ORIGINAL);
		char *b64 = xmalloc(n);

		sodium_bin2base64(b64, n, png.data, png.len, sodium_base64_VARIANT_ORIGINAL);
		if (buf_printf(&uri, "data:image/png;base64,%s", b64) == -1 ||
		    buf_cstr(&uri) == NULL) {
			free(b64);
			err_set(&e, ERR_INTERNAL, "portal: CAPTCHA image too large");
			rc = portal_error(x, &e);
			goto out;
		}
		free(b64);
	}
	d = portal_data(x, N_("Applicant information"), REGIST_STEP_INPUT);
	web_flow_add_list(d, "steps_agent", x->lang, REGIST_STEP_INPUT, 1);
	portal_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "captcha_id", id_hex);
	tmpl_data_str(d, "captcha_png", (const char *)uri.data);
	tmpl_data_bool(d, "type_self", strcmp(v->type, "agent") != 0);
	tmpl_data_bool(d, "type_agent", strcmp(v->type, "agent") == 0);
	for (size_t i = 0; i < norgs; i++) {
		struct tmpl_data *o = tmpl_data_add(d, "orgs");

		tmpl_data_str(o, "code", orgs[i].code);
		tmpl_data_str(o, "name", orgs[i].name);
		tmpl_data_bool(o, "selected", strcmp(orgs[i].code, v->org) == 0);
	}
	tmpl_data_str(d, "ticket", v->ticket);
	tmpl_data_str(d, "email", v->email);
	tmpl_data_str(d, "email_confirm", v->email2);
	tmpl_data_bool(d, "has_errors", er->any);
	regist_err(d, x->lang, "err_applicant_type", er->type);
	regist_err(d, x->lang, "err_org_code", er->org);
	regist_err(d, x->lang, "err_ticket", er->ticket);
	regist_err(d, x->lang, "err_email", er->email);
	regist_err(d, x->lang, "err_email_confirm", er->email2);
	regist_err(d, x->lang, "err_captcha", er->captcha);
	rc = portal_page(x, er->status != 0 ? er->status : er->any ? 400 : 200, "regist_step1", d);
out:
	tmpl_data_free(d);
	STORE_LIST_FREE(orgs, norgs, store_org_clear);
	buf_free(&png);
	buf_free(&uri);
	return rc;
}

/* The MAC that binds the confirm form's values to the session, nonce and time. */
static void
regist_form_mac(const struct portal_ctx *x, const struct regist_vals *v, const char *nonce,
		const char *when, char out[PORTAL_B64_LEN])
{
	const char *parts[] = {"regist-form", x->sid, nonce,	 when,
			       v->type,	      v->org, v->ticket, v->email};

	portal_mac(out, parts, sizeof(parts) / sizeof(parts[0]));
}

/* The confirm page: the values, a fresh or given nonce, the consent box. */
static int
regist_confirm_render(struct portal_ctx *x, const struct regist_vals *v, const char *nonce,
		      const char *when, const char *consent_err)
{
	struct tmpl_data *d;
	struct store_org org;
	struct store *st;
	struct err e;
	char csrf[PORTAL_B64_LEN], mac[PORTAL_B64_LEN], nb[PORTAL_B64_LEN], wb[32];
	unsigned char raw[PORTAL_TOKEN_LEN];
	int rc;

	err_clear(&e);
	memset(&org, 0, sizeof(org));
	if ((st = ca_thread_store(x->ca, &e)) == NULL || store_org_get(st, v->org, &org, &e) == -1)
		return portal_error(x, &e);
	if (nonce == NULL) {
		util_random(raw, sizeof(raw));
		portal_b64url(nb, sizeof(nb), raw, sizeof(raw));
		snprintf(wb, sizeof(wb), "%lld", (long long)util_now());
		nonce = nb;
		when = wb;
	}
	regist_form_mac(x, v, nonce, when, mac);
	portal_csrf(x, csrf);
	d = portal_data(x, N_("Confirm"), REGIST_STEP_CONFIRM);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "form_nonce", nonce);
	tmpl_data_str(d, "form_time", when);
	tmpl_data_str(d, "form_mac", mac);
	tmpl_data_str(d, "applicant_type", v->type);
	tmpl_data_str(d, "type_label",
		      i18n_get(x->lang, strcmp(v->type, "agent") == 0
					    ? N_("Agent")
					    : N_("Self (the certificate holder)")));
	tmpl_data_str(d, "org_code", v->org);
	tmpl_data_str(d, "org_name", org.name);
	tmpl_data_str(d, "ticket", v->ticket);
	tmpl_data_str(d, "email", v->email);
	regist_err(d, x->lang, "err_consent", consent_err);
	rc = portal_page(x, consent_err != NULL ? 400 : 200, "regist_confirm", d);
	tmpl_data_free(d);
	store_org_clear(&org);
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

/*
 * Refuses (er->ticket) a ticket with a live registration: one not expired (its mailed link is
 * valid for 3 days) nor cancelled.  Once it has expired the ticket can be registered again.
 * -1 only for store errors.
 */
static int
regist_ticket_in_progress(struct store *st, const char *ticket, struct regist_errs *er,
			  struct err *e)
{
	int64_t n;

	if (store_app_ticket_live(st, ticket, util_now(), &n, e) == -1)
		return -1;
	if (n > 0)
		er->ticket = N_("This ticket is already being used by an application in progress. "
				"When its confirmation mail has expired (3 days after "
				"registration), the ticket can be used again.");
	return 0;
}

/*
 * Checks org and ticket: the organization exists, the ticket exists, belongs to it, is
 * unused and has no live registration.  Fills er; *org_id when valid.  -1 only for store
 * errors.
 */
static int
regist_check_ticket(struct store *st, const struct regist_vals *v, struct regist_errs *er,
		    int64_t *org_id, struct err *e)
{
	struct store_org org;
	struct store_ticket t;
	struct err se;
	int rc = -1;

	memset(&org, 0, sizeof(org));
	memset(&t, 0, sizeof(t));
	*org_id = 0;
	err_clear(&se);
	if (v->org[0] == '\0') {
		er->org = N_("Select your organization.");
	} else if (store_org_get(st, v->org, &org, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		er->org = N_("This organization code does not exist.");
	}
	err_clear(&se);
	if (v->ticket[0] == '\0') {
		er->ticket = N_("Enter the ticket number.");
	} else if (store_ticket_get(st, v->ticket, &t, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		er->ticket = N_("This ticket number does not exist.");
	} else if (er->org == NULL && t.org_id != org.id) {
		er->ticket = N_("This ticket does not belong to the selected organization.");
	} else if (strcmp(t.status, "unused") != 0) {
		er->ticket = N_("This ticket has already been used.");
	} else if (regist_ticket_in_progress(st, v->ticket, er, e) == -1) {
		goto out;
	}
	if (er->org == NULL && er->ticket == NULL)
		*org_id = org.id;
	rc = 0;
out:
	store_org_clear(&org);
	store_ticket_clear(&t);
	return rc;
}

/* 1 (with the error beside the ticket, 429) when the ticket's attempts this hour are used up. */
static int
regist_ticket_limited(const struct regist_vals *v, struct regist_errs *er)
{
	if (v->ticket[0] == '\0' || portal_ticket_rate_ok(v->ticket, portal.ticket_rate))
		return 0;
	er->ticket = N_("Too many attempts with this ticket number. Please try again in an hour.");
	er->status = 429;
	return 1;
}

int
portal_step1_get(struct http_req *r)
{
	struct portal_ctx x;

	portal_ctx_init(&x, r);
	return regist_step1_render(&x, NULL, NULL);
}

/* GET /regist/confirm (a language switch on the confirm page): back to step 1. */
int
portal_confirm_get(struct http_req *r)
{
	return portal_step1_get(r);
}

int
portal_step1_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct regist_vals v;
	struct regist_errs er;
	struct store *st;
	struct err e;
	enum captcha_result cr;
	int64_t org_id;
	int rc = -1;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&er, 0, sizeof(er));
	err_clear(&e);
	if (!portal_rate_ok(r, portal.step1_rate)) {
		rc = portal_notice(&x, 429, N_("Too many requests"),
				   N_("Too many requests came from your network. Please wait a "
				      "minute and try again."));
		goto out;
	}
	if (portal_form_read(&x, &f, &rc))
		goto out;
	regist_vals_from(&v, &f);
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (strcmp(v.type, "self") != 0 && strcmp(v.type, "agent") != 0) {
		er.type = N_("Choose whether you apply for yourself or as an agent.");
		v.type = "self";
	}
	/* over its limit the ticket is not looked at: no answer about it until the hour is over */
	if (!regist_ticket_limited(&v, &er) &&
	    regist_check_ticket(st, &v, &er, &org_id, &e) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (!mail_addr_valid(v.email))
		er.email = N_("Enter a valid e-mail address.");
	if (strcmp(v.email, v.email2) != 0)
		er.email2 = N_("The two e-mail addresses do not match.");
	if (captcha_verify(st, portal_form_get(&f, "captcha_id"), REGIST_PURPOSE,
			   portal_form_get(&f, "captcha"), &cr, &e) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	er.captcha = captcha_result_msgid(cr);
	er.any = er.type || er.org || er.ticket || er.email || er.email2 || er.captcha;
	if (er.any)
		rc = regist_step1_render(&x, &v, &er);
	else
		rc = regist_confirm_render(&x, &v, NULL, NULL, NULL);
out:
	portal_form_free(&f);
	return rc;
}

/* The done page (also for a repeated Register). */
static int
regist_done_render(struct portal_ctx *x, const char *email)
{
	struct tmpl_data *d = portal_data(x, N_("Registration complete"), REGIST_STEP_DONE);
	int rc;

	tmpl_data_str(d, "email", email);
	rc = portal_page(x, 200, "regist_done", d);
	tmpl_data_free(d);
	return rc;
}

/* Builds the mail of the one-time link in lang into body (subject: a msgid's translation). */
static int
regist_mail_body(const char *lang, const char *link, struct buf *body)
{
	if (buf_printf(
		body, "%s\n\n%s\n\n%s\n\n%s\n",
		i18n_get(lang, N_("We have received your certificate application.")),
		i18n_get(lang, N_("Open the link below to continue with the issuance application. "
				  "The link can be used once and is valid for 3 days.")),
		link,
		i18n_get(lang,
			 N_("If you did not make this application, please discard this mail."))) ==
		-1 ||
	    buf_cstr(body) == NULL)
		return -1;
	return 0;
}

/* The registration's write: what regist_create() made ready, and what the write found. */
struct regist_write {
	const struct regist_vals *v;
	const unsigned char *nonce_hash;
	const unsigned char *verify_hash; /* the mailed link's token */
	const char *subject;
	struct buf *body; /* the mail */
	time_t now;
	int repeat;		/* this form was registered before: nothing written */
	struct regist_errs *er; /* organization or ticket refused: nothing written */
};

static int
regist_write(struct store *st, void *arg, struct err *e)
{
	struct regist_write *w = arg;
	struct store_app a;
	struct store_token t;
	struct err se;
	int64_t org_id, app_id;

	err_clear(&se);
	if (store_token_get(st, w->nonce_hash, REGIST_TOKEN_FORM, &t, &se) == 0) {
		w->repeat = 1;
		return 0;
	} else if (se.code != ERR_NOTFOUND) {
		*e = se;
		return -1;
	}
	if (regist_check_ticket(st, w->v, w->er, &org_id, e) == -1)
		return -1;
	if (w->er->org != NULL || w->er->ticket != NULL) {
		w->er->any = 1;
		return 0;
	}
	memset(&a, 0, sizeof(a));
	a.org_id = org_id;
	a.ticket = (char *)w->v->ticket;
	a.applicant_type = (char *)w->v->type;
	a.email = (char *)w->v->email;
	a.created = w->now;
	a.expires = w->now + PORTAL_APP_TTL;
	if (store_app_add(st, &a, &app_id, e) == -1)
		return -1;
	err_clear(&se);
	if (store_token_add(st, w->nonce_hash, REGIST_TOKEN_FORM, app_id, w->now + PORTAL_FORM_TTL,
			    w->now, &se) == -1) {
		w->repeat = se.code == ERR_CONFLICT; /* a concurrent twin won */
		*e = se;
		return -1;
	}
	if (store_token_add(st, w->verify_hash, REGIST_TOKEN_VERIFY, app_id,
			    w->now + PORTAL_APP_TTL, 0, e) == -1)
		return -1;
	return portal_mail_queue(st, w->v->email, w->subject, w->body, e);
}

/*
 * Registers the application: in one durable write (the group commit, ca_write) the
 * application, the form's nonce (a repeated Register finds it), the mailed link's token and
 * the mail.  *repeat: this form was registered before; er: the organization or ticket refused.
 */
static int
regist_create(struct portal_ctx *x, struct store *st, const struct regist_vals *v,
	      const unsigned char nonce_hash[STORE_HASH_LEN], int *repeat, struct regist_errs *er,
	      struct err *e)
{
	struct regist_write w;
	struct buf body;
	unsigned char raw[PORTAL_TOKEN_LEN], h[STORE_HASH_LEN];
	char tok[PORTAL_B64_LEN], *link = NULL;
	int rc = -1;

	*repeat = 0;
	buf_init(&body, MAIL_BODY_MAX);
	util_random(raw, sizeof(raw));
	ra_token_hash(raw, h);
	portal_b64url(tok, sizeof(tok), raw, sizeof(raw));
	link = xasprintf("%s/regist/verify?onetimetoken=%s", portal.base_url, tok);
	if (regist_mail_body(x->lang, link, &body) == -1) {
		err_set(e, ERR_INTERNAL, "portal: mail body too large");
		goto out;
	}
	memset(&w, 0, sizeof(w));
	w.subject = i18n_get(x->lang, N_("[shomei] Continue your certificate application"));
	w.body = &body;
	w.v = v;
	w.nonce_hash = nonce_hash;
	w.verify_hash = h;
	w.now = util_now();
	w.er = er;
	if (ca_write(x->ca, st, regist_write, &w, e) == -1 && !w.repeat)
		goto out;
	err_clear(e);
	*repeat = w.repeat;
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(tok, sizeof(tok));
	if (link != NULL) {
		sodium_memzero(link, strlen(link));
		free(link);
	}
	buf_free(&body);
	return rc;
}

int
portal_confirm_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct regist_vals v;
	struct regist_errs er;
	struct store *st;
	struct err e;
	const char *nonce, *when, *mac, *action;
	char want[PORTAL_B64_LEN];
	unsigned char raw[PORTAL_TOKEN_LEN], nh[STORE_HASH_LEN];
	long t;
	int rc = -1, repeat;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&er, 0, sizeof(er));
	err_clear(&e);
	if (portal_form_read(&x, &f, &rc))
		goto out;
	regist_vals_from(&v, &f);
	v.email2 = v.email;
	nonce = portal_form_get(&f, "form_nonce");
	when = portal_form_get(&f, "form_time");
	mac = portal_form_get(&f, "form_mac");
	action = nz(portal_form_get(&f, "action"));
	if (nonce == NULL || when == NULL || mac == NULL ||
	    portal_b64url_decode(raw, sizeof(raw), nonce) == -1 ||
	    util_parse_long(when, 0, LONG_MAX, &t) == -1 || strlen(mac) != PORTAL_B64_LEN - 1) {
		rc = portal_notice(
		    &x, 400, N_("The form is no longer valid"),
		    N_("This form is no longer valid. Please start again from the first step."));
		goto out;
	}
	regist_form_mac(&x, &v, nonce, when, want);
	if (!util_memeq_ct(want, mac, PORTAL_B64_LEN - 1) || t > util_now() + 60 ||
	    util_now() - t > PORTAL_FORM_TTL) {
		rc = portal_notice(
		    &x, 400, N_("The form is no longer valid"),
		    N_("This form is no longer valid. Please start again from the first step."));
		goto out;
	}
	if (strcmp(action, "back") == 0) {
		rc = regist_step1_render(&x, &v, NULL);
		goto out;
	}
	if (strcmp(nz(portal_form_get(&f, "consent")), "yes") != 0) {
		rc = regist_confirm_render(&x, &v, nonce, when,
					   N_("Please read the user obligations and the privacy "
					      "policy and agree to them."));
		goto out;
	}
	ra_token_hash(raw, nh);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    regist_create(&x, st, &v, nh, &repeat, &er, &e) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (er.any)
		rc = regist_step1_render(&x, &v, &er);
	else
		rc = regist_done_render(&x, v.email);
out:
	sodium_memzero(raw, sizeof(raw));
	portal_form_free(&f);
	return rc;
}

int
portal_verify_get(struct http_req *r)
{
	struct portal_ctx x;
	struct store_token t;
	struct store *st = NULL;
	struct err e, se;
	unsigned char raw[PORTAL_TOKEN_LEN], h[STORE_HASH_LEN];
	time_t now = util_now();
	int rc = -1, began = 0, agent = 0;
	enum { V_OK, V_UNKNOWN, V_USED, V_EXPIRED } res = V_UNKNOWN;

	portal_ctx_init(&x, r);
	err_clear(&e);
	err_clear(&se);
	if (portal_b64url_decode(raw, sizeof(raw), http_query(r, "onetimetoken")) == -1)
		goto reply;
	ra_token_hash(raw, h);
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		goto fail;
	if (store_token_get(st, h, REGIST_TOKEN_VERIFY, &t, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			e = se;
			goto fail;
		}
		res = V_UNKNOWN;
	} else if (t.used != 0) {
		res = V_USED;
	} else if (t.expires <= now) {
		res = V_EXPIRED;
	} else {
		/* GET and HEAD use nothing up (mail scanners and link checkers open links): the
		 * page's button (POST /regist/verify, issue.c) does */
		struct store_app a;

		if (store_app_get(st, t.app_id, &a, &e) == -1)
			goto fail;
		agent = strcmp(a.applicant_type, "agent") == 0;
		store_app_clear(&a);
		res = V_OK;
	}
reply:
	if (began)
		store_rollback(st);
	began = 0;
	sodium_memzero(raw, sizeof(raw));
	switch (res) {
	case V_OK: {
		struct tmpl_data *d =
		    portal_data_flow(&x, N_("E-mail address confirmed"), REGIST_STEP_MAIL, agent);
		char csrf[PORTAL_B64_LEN];

		portal_csrf(&x, csrf);
		tmpl_data_str(d, "csrf", csrf);
		tmpl_data_str(d, "onetimetoken", http_query(r, "onetimetoken"));
		rc = portal_page(&x, 200, "regist_verified", d);
		tmpl_data_free(d);
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
	return rc;
fail:
	if (began)
		store_rollback(st);
	sodium_memzero(raw, sizeof(raw));
	return portal_error(&x, &e);
}
