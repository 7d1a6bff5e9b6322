/*
 * eab: the officer's ACME enrolment (issue 14 part 3): GET /eab lists the organization's
 * External Account Bindings (key id, names, status, bound account, created) with a form to
 * make one and, per binding, suspend / resume / revoke buttons.  POST /eab/create makes a
 * binding (ra_acme_eab_create: names within the organization's domains) and answers its key
 * id and HMAC key once (no-store; never mailed): the form carries a sealed nonce that the RA
 * records before acting (ra_form_claim), so the same form sent again does nothing and shows
 * no key.  POST /eab/status changes a binding's status (ra_acme_eab_officer_set).  Officers
 * with the acme permission only; every write audited with the actor "officer:<id>".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "console_int.h"

#define EAB_SEAL "eab-create"
#define EAB_ROLES (1u << RA_ROLE_OFFICER)

static const struct {
	const char *status, *msgid;
} eab_status_msgid[] = {
    {"active", N_("Active")},
    {"suspended", N_("Suspended")},
    {"revoked", N_("Revoked")},
};

static const char *
eab_status_text(const struct web_ctx *x, const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(eab_status_msgid) / sizeof(eab_status_msgid[0]); i++)
		if (s != NULL && strcmp(s, eab_status_msgid[i].status) == 0)
			return i18n_get(x->lang, eab_status_msgid[i].msgid);
	return s != NULL ? s : "";
}

/* The gate, then ACME on (else a notice): 1 when answered (*rc). */
static int
eab_gate(struct web_ctx *x, struct console_who *w, int *rc)
{
	if (console_gate(x, EAB_ROLES, RA_PERM_ACME, w, rc))
		return 1;
	if (!console.acme_on) {
		*rc = web_notice(x, 404, N_("ACME enrolment"),
				 N_("ACME is not enabled on this server."));
		return 1;
	}
	return 0;
}

/* The list and the create form (status; notice or error above them). */
static int
eab_page(struct web_ctx *x, const struct console_who *w, int status, const char *notice,
	 const char *error)
{
	struct tmpl_data *d, *it;
	struct store_acme_eab *v = NULL;
	struct web_seal seal;
	char csrf[WEB_B64_LEN], num[32], when[32];
	struct store *st;
	struct tm tm;
	size_t i, n = 0;
	struct err e;
	int rc;

	err_clear(&e);
	if ((st = ca_thread_store(x->ca, &e)) == NULL ||
	    ra_acme_eab_list(st, w->o.org_id, &v, &n, &e) == -1)
		return web_error(x, &e);
	d = console_data(x, w, N_("ACME enrolment"));
	if (notice != NULL)
		tmpl_data_str(d, "notice", notice);
	if (error != NULL)
		tmpl_data_str(d, "error", error);
	web_csrf(x, csrf);
	web_seal_make(x, EAB_SEAL, RA_FORM_TTL, 1, NULL, 0, &seal);
	web_seal_data(d, &seal);
	tmpl_data_str(d, "org", w->o.org_code);
	tmpl_data_bool(d, "have_bindings", n > 0);
	for (i = 0; i < n; i++) {
		it = tmpl_data_add(d, "bindings");
		tmpl_data_str(it, "kid", v[i].kid);
		tmpl_data_str(it, "names",
			      v[i].names != NULL && v[i].names[0] != '\0'
				  ? v[i].names
				  : i18n_get(x->lang, N_("(the organization's domains)")));
		tmpl_data_str(it, "status", eab_status_text(x, v[i].status));
		tmpl_data_str(it, "status_code", v[i].status != NULL ? v[i].status : "");
		if (v[i].account_id != 0) {
			snprintf(num, sizeof(num), "%" PRId64, v[i].account_id);
			tmpl_data_str(it, "account", num);
		}
		when[0] = '\0';
		gmtime_r(&v[i].created, &tm);
		if (strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm) == 0)
			when[0] = '\0';
		tmpl_data_str(it, "created", when);
		tmpl_data_bool(it, "can_suspend",
			       v[i].status != NULL && strcmp(v[i].status, "active") == 0);
		tmpl_data_bool(it, "can_resume",
			       v[i].status != NULL && strcmp(v[i].status, "suspended") == 0);
		tmpl_data_bool(it, "can_revoke",
			       v[i].status != NULL && strcmp(v[i].status, "revoked") != 0);
		tmpl_data_str(it, "csrf", csrf);
	}
	rc = web_page(x, status, "console_eab", d);
	tmpl_data_free(d);
	ra_acme_eab_list_free(v, n);
	return rc;
}

/* GET /eab: the organization's bindings and the create form. */
int
console_eab_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (eab_gate(&x, &w, &rc))
		return rc;
	return eab_page(&x, &w, 200, NULL, NULL);
}

/* POST /eab/create: names; the key id and HMAC key shown once. */
int
console_eab_create_post(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	struct web_seal seal;
	enum web_seal_result sr;
	struct tmpl_data *d;
	struct store *st;
	const char *names;
	char actor[48], kid[RA_ACME_KID_TEXT], hmac[RA_ACME_EAB_KEY_TEXT];
	struct err e;
	int rc, seen = 0;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	memset(hmac, 0, sizeof(hmac));
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	if (eab_gate(&x, &w, &rc))
		goto out;
	err_clear(&e);
	if ((sr = web_seal_open_form(&x, EAB_SEAL, &f, NULL, 0, &seal)) != WEB_SEAL_OK) {
		rc = web_seal_refused(&x, sr, N_("Open the ACME enrolment page again."));
		goto out;
	}
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_form_claim(st, seal.nonce_raw, &seen, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (seen) {
		rc = eab_page(
		    &x, &w, 409, NULL,
		    i18n_get(x.lang, N_("This form was sent already and nothing was done "
					"now. The HMAC key is shown only in the answer to "
					"the first submission. If it was lost, revoke that "
					"binding and make a new one.")));
		goto out;
	}
	names = web_form_get(&f, "names");
	snprintf(actor, sizeof(actor), "officer:%" PRId64, w.o.id);
	if (ra_acme_eab_create(st, &console.acme_keys, w.o.org_code, names, actor, kid, hmac, &e) ==
	    -1) {
		rc = e.code == ERR_REFUSED || e.code == ERR_NOTFOUND
			 ? eab_page(&x, &w, 422, NULL, e.msg)
			 : web_error(&x, &e);
		goto out;
	}
	d = console_data(&x, &w, N_("ACME enrolment"));
	tmpl_data_str(d, "kid", kid);
	tmpl_data_str(d, "hmac", hmac);
	tmpl_data_str(d, "org", w.o.org_code);
	tmpl_data_str(d, "names",
		      names != NULL && *names != '\0'
			  ? names
			  : i18n_get(x.lang, N_("(the organization's domains)")));
	rc = web_page(&x, 201, "console_eab_created", d);
	tmpl_data_free(d);
out:
	sodium_memzero(hmac, sizeof(hmac));
	web_form_free(&f);
	return rc;
}

/* POST /eab/status: kid, status (active, suspended, revoked). */
int
console_eab_status_post(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	struct store *st;
	const char *kid, *status;
	char actor[48], msg[160];
	struct err e;
	int rc;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	if (eab_gate(&x, &w, &rc))
		goto out;
	kid = web_form_get(&f, "kid");
	status = web_form_get(&f, "status");
	if (status == NULL || (strcmp(status, "active") != 0 && strcmp(status, "suspended") != 0 &&
			       strcmp(status, "revoked") != 0)) {
		rc = web_notice(&x, 400, N_("Bad request"), N_("There is no such page."));
		goto out;
	}
	snprintf(actor, sizeof(actor), "officer:%" PRId64, w.o.id);
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (ra_acme_eab_officer_set(st, w.o.org_code, kid, status, NULL, "console", actor, 0, &e) ==
	    -1) {
		rc = e.code == ERR_NOTFOUND   ? eab_page(&x, &w, 404, NULL, e.msg)
		     : e.code == ERR_CONFLICT ? eab_page(&x, &w, 409, NULL, e.msg)
		     : e.code == ERR_REFUSED  ? eab_page(&x, &w, 422, NULL, e.msg)
					      : web_error(&x, &e);
		goto out;
	}
	snprintf(msg, sizeof(msg), "%s: %s", kid, eab_status_text(&x, status));
	rc = eab_page(&x, &w, 200, msg, NULL);
out:
	web_form_free(&f);
	return rc;
}
