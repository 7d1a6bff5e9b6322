/*
 * revoke: revocation by the holder on the web (DESIGN.md 2.2): organization code, ticket,
 * e-mail, reason and CAPTCHA → confirm → done, and a mail whose one-time link revokes the
 * certificate when it is opened.
 *
 * The three identifying values are checked together: when they do not name a certificate
 * issued on that ticket to an application with that e-mail, the answer is one generic message
 * that does not tell which value was wrong (field errors are only given for what is visible in
 * the value itself: empty, not an e-mail address, the CAPTCHA).  The link goes only to the
 * e-mail address of the application, which the holder has just typed: it proves control of that
 * mailbox.  Opening the link (GET) revokes, as the mail says; HEAD does not, so link checkers
 * that probe with HEAD change nothing.  The request, the revocation, its audit entry and the
 * mail telling the holder are one transaction.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ca/ca.h"
#include "http/http.h"
#include "portal_int.h"
#include "ra/ra.h"

#define REVOKE_PURPOSE "revoke"			  /* the CAPTCHA's form */
#define REVOKE_TOKEN_FORM STORE_TOKEN_REVOKE_FORM /* nonce of the confirm form */

/* The reasons a holder may give (RFC 5280 5.3.1 names), the default first. */
static const struct {
	const char *name;
	const char *label; /* msgid */
} revoke_reasons[] = {
    {"cessationOfOperation", N_("The certificate is no longer used (cessation of operation)")},
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

struct revoke_vals {
	const char *org, *ticket, *email, *reason;
};

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

static int
revoke_reason_ok(const char *s)
{
	for (size_t i = 0; i < REVOKE_NREASONS; i++)
		if (strcmp(s, revoke_reasons[i].name) == 0)
			return 1;
	return 0;
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
revoke_data(const struct portal_ctx *x, const char *title_msgid, int step)
{
	struct tmpl_data *d = portal_data(x, title_msgid, -1);

	portal_steps(d, x->lang, revoke_flow, sizeof(revoke_flow) / sizeof(revoke_flow[0]), step);
	return d;
}

static void
revoke_vals_from(struct revoke_vals *v, const struct portal_form *f)
{
	v->org = nz(portal_form_get(f, "org_code"));
	v->ticket = nz(portal_form_get(f, "ticket"));
	v->email = nz(portal_form_get(f, "email"));
	v->reason = nz(portal_form_get(f, "reason"));
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
revoke_step1_render(struct portal_ctx *x, const struct revoke_vals *v, const struct revoke_errs *er)
{
	static const struct revoke_vals none = {"", "", "", "cessationOfOperation"};
	static const struct revoke_errs noerr;
	struct tmpl_data *d = NULL;
	struct store_org *orgs = NULL;
	size_t norgs = 0;
	struct store *st;
	struct err e;
	char id_hex[CAPTCHA_ID_HEX], csrf[PORTAL_B64_LEN], *uri = NULL;
	int rc = -1;

	err_clear(&e);
	if (v == NULL)
		v = &none;
	if (er == NULL)
		er = &noerr;
	if ((st = ca_thread_store(x->ca, &e)) == NULL ||
	    store_org_list(st, &orgs, &norgs, &e) == -1 ||
	    portal_captcha(st, REVOKE_PURPOSE, id_hex, &uri, &e) == -1) {
		rc = portal_error(x, &e);
		goto out;
	}
	d = revoke_data(x, N_("Certificate revocation"), REVOKE_STEP_INPUT);
	portal_csrf(x, csrf);
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
	rc = portal_page(x, er->any ? 400 : 200, "revoke_step1", d);
out:
	tmpl_data_free(d);
	STORE_LIST_FREE(orgs, norgs, store_org_clear);
	free(uri);
	return rc;
}

static void
revoke_form_mac(const struct portal_ctx *x, const struct revoke_vals *v, const char *nonce,
		const char *when, char out[PORTAL_B64_LEN])
{
	const char *parts[] = {"revoke-form", x->sid,	 nonce,	   when,
			       v->org,	      v->ticket, v->email, v->reason};

	portal_mac(out, parts, sizeof(parts) / sizeof(parts[0]));
}

static int
revoke_confirm_render(struct portal_ctx *x, const struct revoke_vals *v)
{
	struct tmpl_data *d;
	char csrf[PORTAL_B64_LEN], mac[PORTAL_B64_LEN], nonce[PORTAL_B64_LEN], when[32];
	unsigned char raw[PORTAL_TOKEN_LEN];
	int rc;

	util_random(raw, sizeof(raw));
	b64url_encode(nonce, sizeof(nonce), raw, sizeof(raw));
	snprintf(when, sizeof(when), "%lld", (long long)util_now());
	revoke_form_mac(x, v, nonce, when, mac);
	portal_csrf(x, csrf);
	d = revoke_data(x, N_("Confirm the revocation"), REVOKE_STEP_CONFIRM);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "form_nonce", nonce);
	tmpl_data_str(d, "form_time", when);
	tmpl_data_str(d, "form_mac", mac);
	tmpl_data_str(d, "org_code", v->org);
	tmpl_data_str(d, "ticket", v->ticket);
	tmpl_data_str(d, "email", v->email);
	tmpl_data_str(d, "reason", v->reason);
	tmpl_data_str(d, "reason_label", revoke_reason_label(x->lang, v->reason));
	rc = portal_page(x, 200, "revoke_confirm", d);
	tmpl_data_free(d);
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

/*
 * What the three values name: 0 with serial set when they fit a certificate that can be
 * revoked; else er->general (or a notice msgid in *notice for a revoked or expired one).
 */
static int
revoke_find(struct store *st, const struct revoke_vals *v, char serial[STORE_SERIAL_MAX],
	    struct revoke_errs *er, const char **notice, struct err *e)
{
	struct store_cert c;
	struct err se;
	int rc = -1;

	*notice = NULL;
	memset(&c, 0, sizeof(c));
	err_clear(&se);
	if (store_revoke_lookup(st, v->org, v->ticket, v->email, serial, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			return -1;
		}
		er->general =
		    N_("The organization code, ticket number and e-mail address do not match a "
		       "certificate that can be revoked. Please check what you entered.");
		er->any = 1;
		return 0;
	}
	if (store_cert_get(st, serial, &c, e) == -1)
		goto out;
	if (c.status == STORE_CERT_REVOKED)
		*notice = N_("This certificate has already been revoked.");
	else if (c.not_after <= util_now())
		*notice = N_("This certificate has expired already: it cannot be used any more and "
			     "does not need to be revoked.");
	rc = 0;
out:
	store_cert_clear(&c);
	return rc;
}

int
portal_revoke_step1_get(struct http_req *r)
{
	struct portal_ctx x;

	portal_ctx_init(&x, r);
	return revoke_step1_render(&x, NULL, NULL);
}

int
portal_revoke_step1_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct revoke_vals v;
	struct revoke_errs er;
	struct store *st;
	struct err e;
	enum captcha_result cr;
	const char *notice;
	char serial[STORE_SERIAL_MAX];
	int rc = -1;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&er, 0, sizeof(er));
	err_clear(&e);
	if (!portal_rate_ok(r, portal.revoke_rate)) {
		rc = portal_notice(&x, 429, N_("Too many requests"),
				   N_("Too many requests came from your network. Please wait a "
				      "minute and try again."));
		goto out;
	}
	if (portal_form_read(&x, &f, &rc))
		goto out;
	revoke_vals_from(&v, &f);
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (v.org[0] == '\0')
		er.org = N_("Select your organization.");
	if (v.ticket[0] == '\0')
		er.ticket = N_("Enter the ticket number.");
	if (!mail_addr_valid(v.email))
		er.email = N_("Enter a valid e-mail address.");
	if (!revoke_reason_ok(v.reason)) {
		er.reason = N_("Choose the reason for the revocation.");
		v.reason = "cessationOfOperation";
	}
	if (captcha_verify(st, portal_form_get(&f, "captcha_id"), REVOKE_PURPOSE,
			   portal_form_get(&f, "captcha"), &cr, &e) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	er.captcha = captcha_result_msgid(cr);
	er.any = er.org || er.ticket || er.email || er.reason || er.captcha;
	if (!er.any && revoke_find(st, &v, serial, &er, &notice, &e) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (er.any)
		rc = revoke_step1_render(&x, &v, &er);
	else if (notice != NULL)
		rc = portal_notice(&x, 409, N_("The certificate cannot be revoked"), notice);
	else
		rc = revoke_confirm_render(&x, &v);
out:
	portal_form_free(&f);
	return rc;
}

static int
revoke_mail_body(const char *lang, const char *link, struct buf *body)
{
	if (buf_printf(
		body, "%s\n\n%s\n\n%s\n\n%s\n",
		i18n_get(lang, N_("We have received a request to revoke your certificate.")),
		i18n_get(lang, N_("Open the link below to revoke the certificate. Opening the link "
				  "revokes it at once; a revoked certificate cannot be restored. "
				  "The link can be used once and is valid for 3 days.")),
		link,
		i18n_get(lang, N_("If you did not make this request, do not open the link and "
				  "discard this mail: your certificate stays valid."))) == -1 ||
	    buf_cstr(body) == NULL)
		return -1;
	return 0;
}

/*
 * Register the request: in one transaction the form nonce (used), the request with the hash
 * of its link and the mail.  *repeat when the nonce was used already (nothing written).
 */
static int
revoke_request(struct portal_ctx *x, struct store *st, const struct revoke_vals *v,
	       const unsigned char nonce_hash[STORE_HASH_LEN], int *repeat, struct revoke_errs *er,
	       const char **notice, struct err *e)
{
	struct store_revreq q;
	struct store_token t;
	struct buf body;
	struct err se;
	unsigned char raw[PORTAL_TOKEN_LEN], h[STORE_HASH_LEN];
	char tok[PORTAL_B64_LEN], *link = NULL;
	time_t now = util_now();
	int rc = -1, began = 0;

	*repeat = 0;
	memset(&q, 0, sizeof(q));
	buf_init(&body, MAIL_BODY_MAX);
	util_random(raw, sizeof(raw));
	ra_token_hash(raw, h);
	b64url_encode(tok, sizeof(tok), raw, sizeof(raw));
	err_clear(&se);
	if (store_begin(st, e) == -1)
		goto out;
	began = 1;
	if (store_token_get(st, nonce_hash, REVOKE_TOKEN_FORM, &t, &se) == 0) {
		*repeat = 1;
		rc = 0;
		goto out;
	} else if (se.code != ERR_NOTFOUND) {
		*e = se;
		goto out;
	}
	if (revoke_find(st, v, q.serial, er, notice, e) == -1)
		goto out;
	if (er->any || *notice != NULL) {
		rc = 0;
		goto out;
	}
	q.reason = ca_reason_parse(v->reason);
	q.email = (char *)v->email;
	q.created = now;
	q.expires = now + PORTAL_APP_TTL;
	err_clear(&se);
	if (store_token_add(st, nonce_hash, REVOKE_TOKEN_FORM, 0, now + PORTAL_FORM_TTL, now,
			    &se) == -1) {
		if (se.code == ERR_CONFLICT) { /* a concurrent twin won */
			*repeat = 1;
			rc = 0;
		} else {
			*e = se;
		}
		goto out;
	}
	if (store_revreq_add(st, &q, h, e) == -1)
		goto out;
	link = xasprintf("%s/revoke/verify?onetimetoken=%s", portal.base_url, tok);
	if (revoke_mail_body(x->lang, link, &body) == -1) {
		err_set(e, ERR_INTERNAL, "portal: mail body too large");
		goto out;
	}
	if (portal_mail_queue(
		st, v->email,
		i18n_get(x->lang, N_("[shomei] Confirm the revocation of your certificate")), &body,
		e) == -1)
		goto out;
	began = 0;
	if (store_commit(st, e) == -1)
		goto out;
	rc = 0;
out:
	if (began)
		store_rollback(st);
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
portal_revoke_confirm_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct revoke_vals v;
	struct revoke_errs er;
	struct store *st;
	struct err e;
	const char *nonce, *when, *mac, *notice = NULL;
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
	revoke_vals_from(&v, &f);
	nonce = portal_form_get(&f, "form_nonce");
	when = portal_form_get(&f, "form_time");
	mac = portal_form_get(&f, "form_mac");
	if (nonce == NULL || when == NULL || mac == NULL ||
	    b64url_decode_exact(raw, sizeof(raw), nonce) == -1 ||
	    util_parse_long(when, 0, LONG_MAX, &t) == -1 || strlen(mac) != PORTAL_B64_LEN - 1 ||
	    !revoke_reason_ok(v.reason)) {
		rc = portal_notice(
		    &x, 400, N_("The form is no longer valid"),
		    N_("This form is no longer valid. Please start again from the first step."));
		goto out;
	}
	revoke_form_mac(&x, &v, nonce, when, want);
	if (!util_memeq_ct(want, mac, PORTAL_B64_LEN - 1) || t > util_now() + 60 ||
	    util_now() - t > PORTAL_FORM_TTL) {
		rc = portal_notice(
		    &x, 400, N_("The form is no longer valid"),
		    N_("This form is no longer valid. Please start again from the first step."));
		goto out;
	}
	if (strcmp(nz(portal_form_get(&f, "action")), "back") == 0) {
		rc = revoke_step1_render(&x, &v, NULL);
		goto out;
	}
	ra_token_hash(raw, nh);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    revoke_request(&x, st, &v, nh, &repeat, &er, &notice, &e) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (er.any) {
		rc = revoke_step1_render(&x, &v, &er);
	} else if (notice != NULL) {
		rc = portal_notice(&x, 409, N_("The certificate cannot be revoked"), notice);
	} else {
		struct tmpl_data *d =
		    revoke_data(&x, N_("Revocation request accepted"), REVOKE_STEP_DONE);

		tmpl_data_str(d, "email", v.email);
		rc = portal_page(&x, 200, "revoke_done", d);
		tmpl_data_free(d);
	}
out:
	sodium_memzero(raw, sizeof(raw));
	portal_form_free(&f);
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

int
portal_revoke_verify_get(struct http_req *r)
{
	struct portal_ctx x;
	struct store_revreq q;
	struct store_crl crl;
	struct ra_notify notify;
	struct store *st = NULL;
	struct err e, se;
	unsigned char raw[PORTAL_TOKEN_LEN], h[STORE_HASH_LEN];
	char *actor = NULL, when[64], next[64];
	time_t now = util_now();
	int rc = -1, began = 0;
	enum { V_OK, V_UNKNOWN, V_USED, V_EXPIRED, V_REVOKED, V_PROBE } res = V_UNKNOWN;

	portal_ctx_init(&x, r);
	memset(&q, 0, sizeof(q));
	memset(&crl, 0, sizeof(crl));
	err_clear(&e);
	err_clear(&se);
	next[0] = '\0';
	if (b64url_decode_exact(raw, sizeof(raw), http_query(r, "onetimetoken")) == -1)
		goto reply;
	ra_token_hash(raw, h);
	if ((st = ca_thread_store(x.ca, &e)) == NULL || store_begin(st, &e) == -1)
		goto fail;
	began = 1;
	if (store_revreq_get(st, h, &q, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			e = se;
			goto fail;
		}
		res = V_UNKNOWN;
	} else if (q.done != 0) {
		res = V_USED;
	} else if (q.expires <= now) {
		res = V_EXPIRED;
	} else if (strcmp(r->method, "HEAD") == 0) {
		res = V_PROBE;
	} else {
		actor = xasprintf("holder:web-revocation %s", q.email);
		if (store_revreq_done(st, q.id, now, &e) == -1)
			goto fail;
		err_clear(&se);
		portal_notify_init(&notify, x.lang);
		if (ra_revoke_tx(x.ca, st, q.serial, q.reason, actor, &notify, &se) == -1) {
			if (se.code != ERR_CONFLICT) {
				e = se;
				goto fail;
			}
			res = V_REVOKED; /* revoked meanwhile by other means: the request is done */
		} else {
			res = V_OK;
		}
		began = 0;
		if (store_commit(st, &e) == -1)
			goto fail;
		if (res == V_OK) {
			err_clear(&se);
			if (ca_after_revoke(x.ca, st, actor, &se) == -1)
				log_warn("portal: CRL after revocation of %s: %s", q.serial,
					 se.msg);
		}
	}
reply:
	if (began)
		store_rollback(st);
	began = 0;
	sodium_memzero(raw, sizeof(raw));
	switch (res) {
	case V_OK:
	case V_REVOKED: {
		struct tmpl_data *d =
		    revoke_data(&x,
				res == V_OK ? N_("The certificate has been revoked")
					    : N_("The certificate was revoked already"),
				REVOKE_STEP_REVOKED);

		err_clear(&se);
		if (store_crl_latest_info(st, x.ca->name, 0, &crl, &se) == 0)
			revoke_time(crl.next_update, next, sizeof(next));
		revoke_time(now, when, sizeof(when));
		tmpl_data_str(d, "serial", q.serial);
		tmpl_data_str(d, "reason", revoke_reason_label(x.lang, ca_reason_name(q.reason)));
		tmpl_data_str(d, "when", when);
		if (next[0] != '\0')
			tmpl_data_str(d, "crl_next", next);
		else
			tmpl_data_bool(d, "crl_next", 0);
		rc = portal_page(&x, 200, "revoke_revoked", d);
		tmpl_data_free(d);
		break;
	}
	case V_PROBE:
		rc = portal_notice(&x, 200, N_("Certificate revocation"),
				   N_("Open this link in your browser to revoke the certificate."));
		break;
	case V_USED:
		rc = portal_notice(&x, 410, N_("This link has already been used"),
				   N_("This link has already been used: the certificate was "
				      "revoked when the link was first opened."));
		break;
	case V_EXPIRED:
		rc = portal_notice(
		    &x, 410, N_("This link has expired"),
		    N_("This link has expired: links are valid for 3 days. The certificate has not "
		       "been revoked. Please make the revocation request again."));
		break;
	default:
		rc = portal_notice(&x, 404, N_("This link is not valid"),
				   N_("This link is not valid. Please check that you opened the "
				      "whole link from the mail."));
		break;
	}
	store_revreq_clear(&q);
	store_crl_clear(&crl);
	free(actor);
	return rc;
fail:
	if (began)
		store_rollback(st);
	sodium_memzero(raw, sizeof(raw));
	store_revreq_clear(&q);
	free(actor);
	return portal_error(&x, &e);
}
