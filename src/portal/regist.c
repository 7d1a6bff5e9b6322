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

#define REGIST_PURPOSE "regist" /* the CAPTCHA's form */

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
regist_vals_from(struct regist_vals *v, const struct web_form *f)
{
	v->type = nz(web_form_get(f, "applicant_type"));
	v->org = nz(web_form_get(f, "org_code"));
	v->ticket = nz(web_form_get(f, "ticket"));
	v->email = nz(web_form_get(f, "email"));
	v->email2 = nz(web_form_get(f, "email_confirm"));
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
regist_step1_render(struct web_ctx *x, const struct regist_vals *v, const struct regist_errs *er)
{
	static const struct regist_vals none = {"self", "", "", "", ""};
	static const struct regist_errs noerr;
	struct tmpl_data *d = NULL;
	struct ra_org *orgs = NULL;
	size_t norgs = 0;
	struct store *st;
	struct err e;
	char id_hex[CAPTCHA_ID_HEX], csrf[WEB_B64_LEN], *png = NULL;
	int rc = -1, k;

	err_clear(&e);
	if (v == NULL)
		v = &none;
	if (er == NULL)
		er = &noerr;
	if ((st = ca_thread_store(x->ca, &e)) == NULL || ra_org_list(st, &orgs, &norgs, &e) == -1 ||
	    (k = portal_captcha(x, st, REGIST_PURPOSE, id_hex, &png, &e)) == -1) {
		rc = web_error(x, &e);
		goto out;
	}
	if (k == PORTAL_CAPTCHA_LIMITED) {
		rc = portal_captcha_limited(x);
		goto out;
	}
	d = web_data(x, N_("Applicant information"), REGIST_STEP_INPUT);
	web_flow_add_list(d, "steps_agent", x->lang, REGIST_STEP_INPUT, 1);
	web_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "captcha_id", id_hex);
	tmpl_data_str(d, "captcha_png", png);
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
	rc = web_page(x, er->status != 0 ? er->status : er->any ? 400 : 200, "regist_step1", d);
out:
	tmpl_data_free(d);
	for (size_t i = 0; i < norgs; i++)
		ra_org_clear(&orgs[i]);
	free(orgs);
	free(png);
	return rc;
}

#define REGIST_SEAL "regist-form"

/* The confirm form's sealed values (sealed.c: bound to the session, nonce and expiry). */
#define REGIST_SEALED(v)                                                                           \
	{                                                                                          \
		(v)->type, (v)->org, (v)->ticket, (v)->email                                       \
	}

/* The confirm page: the values, a fresh seal or prev's again, the consent box. */
static int
regist_confirm_render(struct web_ctx *x, const struct regist_vals *v, const struct web_seal *prev,
		      const char *consent_err)
{
	const char *sealed[] = REGIST_SEALED(v);
	struct tmpl_data *d;
	struct ra_org org;
	struct store *st;
	struct err e;
	struct web_seal seal;
	char csrf[WEB_B64_LEN];
	int rc;

	err_clear(&e);
	memset(&org, 0, sizeof(org));
	if ((st = ca_thread_store(x->ca, &e)) == NULL || ra_org_get(st, v->org, &org, &e) == -1)
		return web_error(x, &e);
	if (prev == NULL)
		web_seal_make(x, REGIST_SEAL, PORTAL_FORM_TTL, 1, sealed, 4, &seal);
	else
		web_seal_remake(x, REGIST_SEAL, prev, sealed, 4, &seal);
	web_csrf(x, csrf);
	d = web_data(x, N_("Confirm"), REGIST_STEP_CONFIRM);
	tmpl_data_str(d, "csrf", csrf);
	web_seal_data(d, &seal);
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
	rc = web_page(x, consent_err != NULL ? 400 : 200, "regist_confirm", d);
	tmpl_data_free(d);
	ra_org_clear(&org);
	sodium_memzero(&seal, sizeof(seal));
	return rc;
}

/* The messages of the RA's verdicts on the organization and the ticket. */
static void
regist_errs_from(struct regist_errs *er, const struct ra_regist_fields *f)
{
	static const char *const org[] = {
	    [RA_ORG_OK] = NULL,
	    [RA_ORG_EMPTY] = N_("Select your organization."),
	    [RA_ORG_UNKNOWN] = N_("This organization code does not exist."),
	};
	static const char *const ticket[] = {
	    [RA_TICKET_OK] = NULL,
	    [RA_TICKET_EMPTY] = N_("Enter the ticket number."),
	    [RA_TICKET_UNKNOWN] = N_("This ticket number does not exist."),
	    [RA_TICKET_OTHER_ORG] = N_("This ticket does not belong to the selected organization."),
	    [RA_TICKET_USED] = N_("This ticket has already been used."),
	    [RA_TICKET_IN_PROGRESS] =
		N_("This ticket is already being used by an application in progress. When its "
		   "confirmation mail has expired (3 days after registration), the ticket can be "
		   "used again."),
	};

	er->org = org[f->org];
	er->ticket = ticket[f->ticket];
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
	struct web_ctx x;

	web_ctx_init(&x, &portal.site, r);
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
	struct web_ctx x;
	struct web_form f;
	struct regist_vals v;
	struct regist_errs er;
	struct store *st;
	struct err e;
	enum captcha_result cr;
	struct ra_regist_fields rf;
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	memset(&er, 0, sizeof(er));
	err_clear(&e);
	if (!portal_rate_ok(r, portal.step1_rate)) {
		rc = web_notice(&x, 429, N_("Too many requests"),
				N_("Too many requests came from your network. Please wait a "
				   "minute and try again."));
		goto out;
	}
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	regist_vals_from(&v, &f);
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (strcmp(v.type, "self") != 0 && strcmp(v.type, "agent") != 0) {
		er.type = N_("Choose whether you apply for yourself or as an agent.");
		v.type = "self";
	}
	/* the CAPTCHA first: without a solved one nothing is said about the organization or
	 * the ticket, so they cannot be tried out by a script */
	if (captcha_verify(st, web_form_get(&f, "captcha_id"), REGIST_PURPOSE,
			   web_form_get(&f, "captcha"), &cr, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	er.captcha = captcha_result_msgid(cr);
	/* an attempt with the CAPTCHA solved counts against the ticket (unsolved ones cannot use
	 * up someone's ticket); over its limit the ticket is not looked at: no answer about it
	 * until the hour is over */
	if (cr == CAPTCHA_OK && !regist_ticket_limited(&v, &er)) {
		if (ra_regist_check(st, v.org, v.ticket, &rf, &e) == -1) {
			rc = web_error(&x, &e);
			goto out;
		}
		regist_errs_from(&er, &rf);
	}
	if (!mail_addr_valid(v.email))
		er.email = N_("Enter a valid e-mail address.");
	if (strcmp(v.email, v.email2) != 0)
		er.email2 = N_("The two e-mail addresses do not match.");
	er.any = er.type || er.org || er.ticket || er.email || er.email2 || er.captcha;
	if (er.any)
		rc = regist_step1_render(&x, &v, &er);
	else
		rc = regist_confirm_render(&x, &v, NULL, NULL);
out:
	web_form_free(&f);
	return rc;
}

/* The done page (also for a repeated Register). */
static int
regist_done_render(struct web_ctx *x, const char *email)
{
	struct tmpl_data *d = web_data(x, N_("Registration complete"), REGIST_STEP_DONE);
	int rc;

	tmpl_data_str(d, "email", email);
	rc = web_page(x, 200, "regist_done", d);
	tmpl_data_free(d);
	return rc;
}

int
portal_confirm_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct regist_vals v;
	struct regist_errs er;
	struct store *st;
	struct err e;
	const char *action;
	struct web_seal seal;
	unsigned char nh[STORE_HASH_LEN];
	struct ra_regist_req q;
	struct ra_regist_fields rf;
	struct ra_notify n;
	enum ra_regist_result res;
	int rc = -1;

	web_ctx_init(&x, &portal.site, r);
	memset(&f, 0, sizeof(f));
	memset(&er, 0, sizeof(er));
	err_clear(&e);
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	regist_vals_from(&v, &f);
	v.email2 = v.email;
	action = nz(web_form_get(&f, "action"));
	{
		const char *sealed[] = REGIST_SEALED(&v);
		enum web_seal_result sr;

		if ((sr = web_seal_open_form(&x, REGIST_SEAL, &f, sealed, 4, &seal)) !=
		    WEB_SEAL_OK) {
			rc = web_seal_refused(&x, sr,
					      N_("This form is no longer valid. Please start again "
						 "from the first step."));
			goto out;
		}
	}
	if (strcmp(action, "back") == 0) {
		rc = regist_step1_render(&x, &v, NULL);
		goto out;
	}
	if (strcmp(nz(web_form_get(&f, "consent")), "yes") != 0) {
		rc = regist_confirm_render(&x, &v, &seal,
					   N_("Please read the user obligations and the privacy "
					      "policy and agree to them."));
		goto out;
	}
	ra_token_hash(seal.nonce_raw, nh);
	memset(&q, 0, sizeof(q));
	q.org = v.org;
	q.ticket = v.ticket;
	q.email = v.email;
	q.agent = strcmp(v.type, "agent") == 0;
	q.nonce_hash = nh;
	portal_notify_init(&n, x.lang);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_regist(x.ca, st, &q, &n, &res, &rf, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (res == RA_REGIST_REFUSED) {
		regist_errs_from(&er, &rf);
		er.any = 1;
		rc = regist_step1_render(&x, &v, &er);
	} else {
		rc = regist_done_render(&x, v.email); /* also for a repeated Register */
	}
out:
	sodium_memzero(&seal, sizeof(seal));
	web_form_free(&f);
	return rc;
}

int
portal_verify_get(struct http_req *r)
{
	struct web_ctx x;
	struct store *st = NULL;
	struct err e;
	enum ra_link_result res = RA_LINK_UNKNOWN;
	int rc = -1, agent = 0, resumed = 0;

	web_ctx_init(&x, &portal.site, r);
	err_clear(&e);
	/* GET and HEAD use nothing up (mail scanners and link checkers open links): the page's
	 * button (POST /regist/verify, issue.c) does */
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_link_peek(st, http_query(r, "onetimetoken"), &res, &agent, &e) == -1)
		return web_error(&x, &e);
	if (res == RA_LINK_USED && !x.sid_new) {
		/* used by this session, whose answer was lost: the button again (its POST is
		 * answered the same redirect, portal_verify_post) */
		char csrf[WEB_B64_LEN], next[WEB_B64_LEN], cont[RA_TOKEN_TEXT];

		web_csrf(&x, csrf);
		web_session_link_id(&x, csrf, http_query(r, "onetimetoken"), next);
		rc = ra_link_resume(st, http_query(r, "onetimetoken"), next, cont, &res, &e);
		resumed = res == RA_LINK_OK;
		sodium_memzero(cont, sizeof(cont));
		sodium_memzero(next, sizeof(next));
		if (rc == -1)
			return web_error(&x, &e);
	}
	switch (res) {
	case RA_LINK_OK: {
		struct tmpl_data *d =
		    web_data_flow(&x, N_("E-mail address confirmed"), REGIST_STEP_MAIL, agent);
		char csrf[WEB_B64_LEN];

		/*
		 * A session of its own for the button, drawn now: the use's continuation (and its
		 * resumption after a lost answer) is bound to it, so an id seen or planted before
		 * the link was opened is worth nothing even with the link in hand.  A resumed use
		 * keeps the session its continuation is bound to.
		 */
		if (!resumed)
			web_session_rotate(&x, NULL);
		web_csrf(&x, csrf);
		tmpl_data_str(d, "csrf", csrf);
		tmpl_data_str(d, "onetimetoken", http_query(r, "onetimetoken"));
		rc = web_page(&x, 200, "regist_verified", d);
		tmpl_data_free(d);
		break;
	}
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
	return rc;
}
