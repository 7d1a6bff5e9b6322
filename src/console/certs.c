/*
 * certs: the organization's server, client and code-signing certificates in the console (issue
 * 13 part 4), one at a time: the list with filters and paging, the form (from a CSR, with the
 * user administrator), renewal, revocation with reason and comment.  Each route needs the
 * permission of its kind (ra_ocert_perm); an officer sees only its organization's
 * certificates (src/ra decides).  The user administrator's download page (/cert/<token>) is on
 * the public listener.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "console_int.h"

#define CONSOLE_PAGE 50		      /* certificates per list page (the most one page loads) */
#define CONSOLE_CSR_MAX (64 * 1024)   /* bytes of a pasted or uploaded CSR */
#define CONSOLE_CERT_BODY (80 * 1024) /* bytes of the issuance form */

static const struct web_form_limits console_csr_form = {CONSOLE_CERT_BODY, "csr", CONSOLE_CSR_MAX,
							1};

/* The list's and form's titles per kind. */
static const char *const console_kind_title[RA_OCERT__MAX] = {
    [RA_OCERT_SERVER] = N_("Server certificates"),
    [RA_OCERT_CLIENT] = N_("Client certificates"),
    [RA_OCERT_CODESIGN] = N_("Code-signing certificates"),
};

static const char *const console_status_msgid[RA_CERT_STATUS__MAX] = {
    [RA_CERT_VALID] = N_("Valid"),
    [RA_CERT_REVOKED] = N_("Revoked"),
    [RA_CERT_EXPIRED] = N_("Expired"),
};

/* "YYYY-MM-DD HH:MM UTC" of t ("" for 0). */
static void
console_when(time_t t, char out[32])
{
	struct tm tm;

	out[0] = '\0';
	if (t == 0)
		return;
	gmtime_r(&t, &tm);
	if (strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		out[0] = '\0';
}

/* The kind of ?kind= (or the form's kind); -1 when none or unknown. */
static int
console_kind(const char *v, enum ra_ocert_kind *k)
{
	return v != NULL && ra_ocert_kind_parse(v, k) == 0 ? 0 : -1;
}

/* The gate for a kind's pages: officers with its permission (operators: no organization). */
static int
console_kind_gate(struct web_ctx *x, enum ra_ocert_kind k, struct console_who *w, int *rc)
{
	return console_gate(x, 1u << RA_ROLE_OFFICER, ra_ocert_perm(k), w, rc);
}

/*
 * The list's filter of kind k from the search fields (status, q: a name substring, days:
 * expiring within); returns the days (0: none).  f borrows q.
 */
static long
console_filter(enum ra_ocert_kind k, const char *status, const char *q, const char *days,
	       struct ra_cert_filter *f)
{
	enum ra_cert_status cs;
	long dd = 0;

	ra_cert_filter_init(f);
	f->profile = ra_ocert_kind_names[k];
	f->profile_alt = ra_ocert_kind_alt(k); /* server: ACME's shortlived too */
	if (status != NULL && *status != '\0' && ra_cert_status_parse(status, &cs) == 0)
		f->status = (int)cs;
	if (q != NULL && *q != '\0')
		f->name = q;
	if (days != NULL && util_parse_long(days, 1, 3650, &dd) == 0)
		f->expiring_before = util_now() + 86400L * dd;
	else
		dd = 0;
	return dd;
}

/* GET /certs?kind=K&status=&q=&days=&page=: the organization's certificates of kind K. */
int
console_certs_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct ra_cert_filter f;
	struct ra_cert *v = NULL;
	struct tmpl_data *d, *it;
	enum ra_ocert_kind k;
	const char *status = http_query(r, "status"), *q = http_query(r, "q");
	const char *days = http_query(r, "days"), *page = http_query(r, "page");
	struct store *st;
	struct err e;
	char when[32], buf[64];
	size_t n = 0, i, shown;
	long pg = 0, dd = 0;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_kind(http_query(r, "kind"), &k) == -1)
		return web_notice(&x, 404, N_("Not found"), N_("There is no such page."));
	if (console_kind_gate(&x, k, &w, &rc))
		return rc;
	dd = console_filter(k, status, q, days, &f);
	if (page != NULL && util_parse_long(page, 0, 100000, &pg) == -1)
		pg = 0;
	f.limit = CONSOLE_PAGE + 1; /* one more: is there a next page */
	f.offset = (size_t)pg * CONSOLE_PAGE;
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_cert_list(x.ca, st, w.o.org_id, &f, &v, &n, &e) == -1)
		return web_error(&x, &e);
	d = console_data(&x, &w, console_kind_title[k]);
	tmpl_data_str(d, "kind", ra_ocert_kind_names[k]);
	tmpl_data_str(d, "q", q != NULL ? q : "");
	tmpl_data_str(d, "days", dd > 0 ? days : "");
	tmpl_data_bool(d, "st_valid", f.status == RA_CERT_VALID);
	tmpl_data_bool(d, "st_revoked", f.status == RA_CERT_REVOKED);
	tmpl_data_bool(d, "st_expired", f.status == RA_CERT_EXPIRED);
	tmpl_data_str(d, "status", f.status >= 0 ? ra_cert_status_name(f.status) : "");
	shown = n > CONSOLE_PAGE ? CONSOLE_PAGE : n;
	for (i = 0; i < shown; i++) {
		it = tmpl_data_add(d, "certs");
		tmpl_data_str(it, "serial", v[i].serial);
		tmpl_data_str(it, "subject", v[i].subject != NULL ? v[i].subject : "");
		tmpl_data_str(it, "sans", v[i].sans != NULL ? v[i].sans : "");
		tmpl_data_str(it, "profile", v[i].profile != NULL ? v[i].profile : "");
		tmpl_data_str(it, "status", i18n_get(x.lang, console_status_msgid[v[i].status]));
		console_when(v[i].not_after, when);
		tmpl_data_str(it, "not_after", when);
	}
	tmpl_data_bool(d, "none", shown == 0);
	/* the other pages of the same search: its values percent-encoded, whatever they hold */
	if (n > CONSOLE_PAGE || pg > 0) {
		struct buf qs;
		long to[2] = {pg - 1, pg + 1};
		const char *name[2] = {"prev", "next"};
		int j;

		for (j = 0; j < 2; j++) {
			if ((j == 0 && pg == 0) || (j == 1 && n <= CONSOLE_PAGE))
				continue;
			buf_init(&qs, 4096);
			console_qs_add(&qs, "kind", ra_ocert_kind_names[k]);
			console_qs_add(&qs, "q", q);
			console_qs_add(&qs, "status",
				       f.status >= 0 ? ra_cert_status_name(f.status) : NULL);
			console_qs_add(&qs, "days", dd > 0 ? days : NULL);
			snprintf(buf, sizeof(buf), "%ld", to[j]);
			console_qs_add(&qs, "page", buf);
			tmpl_data_str(d, name[j], buf_cstr(&qs) != NULL ? buf_cstr(&qs) : "");
			buf_free(&qs);
		}
	}
	rc = web_page(&x, 200, "console_certs", d);
	tmpl_data_free(d);
	ra_cert_list_free(v, n);
	return rc;
}

/* The form of a new certificate (or a renewal of renew), with what was typed and an error. */
static int
console_cert_form(struct web_ctx *x, const struct console_who *w, enum ra_ocert_kind k,
		  const struct web_form *f, const char *renew, const char *error, int status)
{
	static const char *const fields[] = {"dns",	    "admin_name",   "admin_unit",
					     "admin_email", "software",	    "holder_name",
					     "holder_unit", "holder_email", "csr"};
	struct tmpl_data *d = console_data(x, w, console_kind_title[k]);
	const char *v;
	size_t i;
	int rc;

	tmpl_data_str(d, "kind", ra_ocert_kind_names[k]);
	tmpl_data_bool(d, "server", k == RA_OCERT_SERVER);
	tmpl_data_bool(d, "client", k == RA_OCERT_CLIENT);
	if (renew != NULL)
		tmpl_data_str(d, "renew", renew);
	if (error != NULL)
		tmpl_data_str(d, "error", error);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (f != NULL && (v = web_form_get(f, fields[i])) != NULL)
			tmpl_data_str(d, fields[i], v);
	if (f != NULL && (v = web_form_get(f, "delivery")) != NULL) {
		char key[32];

		tmpl_data_bool(d, "delivery", 1);
		snprintf(key, sizeof(key), "d_%s", v);
		if (strcmp(v, "csr") == 0 || strcmp(v, "pin_shown") == 0 ||
		    strcmp(v, "pin_mailed") == 0 || strcmp(v, "zip") == 0)
			tmpl_data_bool(d, key, 1);
	}
	rc = web_page(x, status, "console_cert_new", d);
	tmpl_data_free(d);
	return rc;
}

/* GET /certs/new?kind=K[&renew=SERIAL]: the form (a renewal keeps the user administrator). */
int
console_cert_new_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	enum ra_ocert_kind k;
	const char *renew = http_query(r, "renew");
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_kind(http_query(r, "kind"), &k) == -1)
		return web_notice(&x, 404, N_("Not found"), N_("There is no such page."));
	if (console_kind_gate(&x, k, &w, &rc))
		return rc;
	memset(&f, 0, sizeof(f));
	rc = console_cert_form(&x, &w, k, NULL, renew != NULL && *renew != '\0' ? renew : NULL,
			       NULL, 200);
	web_form_free(&f);
	return rc;
}

/* Splits the names field (blanks or commas) into v (at most max); returns the count. */
static size_t
console_names(char *s, const char **v, size_t max)
{
	size_t n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(s, " ,\t\r\n", &save); t != NULL && n < max;
	     t = strtok_r(NULL, " ,\t\r\n", &save))
		v[n++] = t;
	return n;
}

/* The issued page: what was issued, and that the user administrator has the URL. */
static int
console_cert_issued(struct web_ctx *x, const struct console_who *w, enum ra_ocert_kind k,
		    const struct ca_issued *is, const char *email, const char *renew)
{
	struct tmpl_data *d = console_data(x, w, N_("Certificate issued"));
	char when[32];
	int rc;

	tmpl_data_str(d, "kind", ra_ocert_kind_names[k]);
	tmpl_data_str(d, "serial", is->serial);
	console_when(is->not_after, when);
	tmpl_data_str(d, "not_after", when);
	tmpl_data_str(d, "email", email);
	if (renew != NULL)
		tmpl_data_str(d, "renew", renew);
	rc = web_page(x, 201, "console_cert_issued", d);
	tmpl_data_free(d);
	return rc;
}

/* POST /certs/new: issues one certificate of the officer's organization. */
int
console_cert_new_post(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	struct ra_ocert_req q;
	struct ra_ocert_notify n;
	struct ca_issued is;
	enum ra_ocert_kind k;
	enum ra_client_delivery d;
	const char *csr, *file, *dns, *renew, *names[16], *delivery;
	char *dnsbuf = NULL;
	struct store *st;
	struct err e;
	int rc;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	memset(&is, 0, sizeof(is));
	if (web_form_read(&x, &f, &console_csr_form, &rc))
		goto out;
	if (console_kind(web_form_get(&f, "kind"), &k) == -1) {
		rc = web_notice(&x, 400, N_("Bad request"), N_("There is no such page."));
		goto out;
	}
	if (console_kind_gate(&x, k, &w, &rc))
		goto out;
	delivery = web_form_get(&f, "delivery");
	if (k == RA_OCERT_CLIENT && delivery != NULL && strcmp(delivery, "csr") != 0) {
		char error[sizeof(e.msg)];
		int status = 0;

		if (ra_client_delivery_parse(delivery, &d) == -1)
			rc = console_cert_form(&x, &w, k, &f, NULL, "delivery: unknown", 422);
		else if (web_form_get(&f, "renew") != NULL && *web_form_get(&f, "renew") != '\0')
			rc = console_cert_form(
			    &x, &w, k, &f, NULL,
			    "renew: a renewal is from a CSR; for a key made here, "
			    "issue a new certificate and revoke the old one",
			    422);
		else if ((rc = console_client_issue(&x, &w, &f, d, error, sizeof(error),
						    &status)) == 0 &&
			 error[0] != '\0')
			rc = console_cert_form(&x, &w, k, &f, NULL, error, status);
		goto out;
	}
	csr = web_form_get(&f, "csr");
	file = web_form_get(&f, "csrfile");
	if (file != NULL && *file != '\0')
		csr = file;
	renew = web_form_get(&f, "renew");
	if (renew != NULL && *renew == '\0')
		renew = NULL;
	memset(&q, 0, sizeof(q));
	q.kind = k;
	q.officer = &w.o;
	q.csr = (const unsigned char *)(csr != NULL ? csr : "");
	q.csrlen = csr != NULL ? strlen(csr) : 0;
	dns = web_form_get(&f, "dns");
	if (k == RA_OCERT_SERVER && dns != NULL && *dns != '\0') {
		dnsbuf = xstrdup(dns);
		q.ndns = console_names(dnsbuf, names, sizeof(names) / sizeof(names[0]));
		q.dns = names;
	}
	q.admin_name = web_form_get(&f, "admin_name");
	q.admin_unit = web_form_get(&f, "admin_unit");
	q.admin_email = web_form_get(&f, "admin_email");
	q.server_software = web_form_get(&f, "software");
	q.holder_name = web_form_get(&f, "holder_name");
	q.holder_unit = web_form_get(&f, "holder_unit");
	q.holder_email = web_form_get(&f, "holder_email");
	q.replaces = renew;
	console_mail_ocert_notify(&console.mail, &n);
	q.n = &n;
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (ra_ocert_issue(x.ca, st, &q, &is, &e) == -1) {
		if (e.code == ERR_REFUSED || e.code == ERR_CONFLICT || e.code == ERR_NOTFOUND)
			rc = console_cert_form(&x, &w, k, &f, renew, e.msg, 422);
		else
			rc = web_error(&x, &e);
		goto out;
	}
	rc = console_cert_issued(&x, &w, k, &is, q.admin_email, renew);
out:
	ca_issued_clear(&is);
	free(dnsbuf);
	web_form_free(&f);
	return rc;
}

/* GET /certs/view?serial=S: one certificate with its record, the revocation form. */
int
console_cert_view_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct ra_cert c;
	struct store_certadmin a;
	struct tmpl_data *d;
	enum ra_ocert_kind k;
	struct store *st;
	struct err e, e2;
	char when[32];
	int rc, have;

	web_ctx_init(&x, &console.site, r);
	memset(&c, 0, sizeof(c));
	memset(&a, 0, sizeof(a));
	if (console_gate(&x, 1u << RA_ROLE_OFFICER,
			 RA_PERM_SERVER | RA_PERM_CLIENT | RA_PERM_CODESIGN, &w, &rc))
		return rc;
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		return web_error(&x, &e);
	if (ra_cert_get(x.ca, st, w.o.org_id, http_query(r, "serial"), 0, &c, &e) == -1) {
		if (e.code != ERR_NOTFOUND && e.code != ERR_REFUSED)
			return web_error(&x, &e);
		return web_notice(
		    &x, 404, N_("Not found"),
		    N_("Your organization has no certificate with this serial number."));
	}
	/* the kind's permission too: a server officer does not see client certificates */
	if (ra_ocert_kind_of_profile(c.profile, &k) == -1 || (w.o.perms & ra_ocert_perm(k)) == 0) {
		ra_cert_clear(&c);
		d = console_data(&x, &w, N_("Not permitted"));
		rc = web_page(&x, 403, "console_denied", d);
		tmpl_data_free(d);
		return rc;
	}
	err_clear(&e2);
	have = store_certadmin_get(st, c.serial, &a, &e2) == 0;
	d = console_data(&x, &w, N_("Certificate"));
	tmpl_data_str(d, "kind", c.profile);
	tmpl_data_str(d, "serial", c.serial);
	tmpl_data_str(d, "subject", c.subject != NULL ? c.subject : "");
	tmpl_data_str(d, "sans", c.sans != NULL ? c.sans : "");
	tmpl_data_str(d, "status", i18n_get(x.lang, console_status_msgid[c.status]));
	tmpl_data_bool(d, "valid", c.status == RA_CERT_VALID);
	console_when(c.not_before, when);
	tmpl_data_str(d, "not_before", when);
	console_when(c.not_after, when);
	tmpl_data_str(d, "not_after", when);
	if (have) {
		tmpl_data_str(d, "admin_name", a.admin_name);
		tmpl_data_str(d, "admin_unit", a.admin_unit);
		tmpl_data_str(d, "admin_email", a.admin_email);
		tmpl_data_str(d, "software", a.server_software);
		tmpl_data_bool(d, "waiting",
			       a.replace_state != NULL && strcmp(a.replace_state, "waiting") == 0);
		console_when(a.replace_due, when);
		tmpl_data_str(d, "replace_due", when);
	}
	rc = web_page(&x, 200, "console_cert_view", d);
	tmpl_data_free(d);
	ra_cert_clear(&c);
	store_certadmin_clear(&a);
	return rc;
}

/* POST /certs/revoke: serial, reason, comment. */
int
console_cert_revoke_post(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	struct ra_cert c;
	enum ra_ocert_kind k;
	const char *serial, *reason, *comment;
	struct store *st;
	struct err e;
	long rs = -1;
	int rc;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	memset(&c, 0, sizeof(c));
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	if (console_gate(&x, 1u << RA_ROLE_OFFICER,
			 RA_PERM_SERVER | RA_PERM_CLIENT | RA_PERM_CODESIGN, &w, &rc))
		goto out;
	serial = web_form_get(&f, "serial");
	reason = web_form_get(&f, "reason");
	comment = web_form_get(&f, "comment");
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (ra_cert_get(x.ca, st, w.o.org_id, serial, 0, &c, &e) == -1 ||
	    ra_ocert_kind_of_profile(c.profile, &k) == -1 || (w.o.perms & ra_ocert_perm(k)) == 0) {
		if (e.code == ERR_INTERNAL) {
			rc = web_error(&x, &e);
			goto out;
		}
		rc =
		    web_notice(&x, 404, N_("Not found"),
			       N_("Your organization has no certificate with this serial number."));
		goto out;
	}
	if (reason == NULL || util_parse_long(reason, 0, 10, &rs) == -1)
		rs = -1;
	if (ra_ocert_revoke(x.ca, st, &w.o, c.serial, (int)rs, comment, &e) == -1) {
		if (e.code == ERR_INTERNAL) {
			rc = web_error(&x, &e);
			goto out;
		}
		{
			struct tmpl_data *d = console_data(&x, &w, N_("Not revoked"));

			tmpl_data_str(d, "message", e.msg);
			tmpl_data_str(d, "serial", c.serial);
			rc = web_page(&x, e.code == ERR_CONFLICT ? 409 : 422, "console_revoke_done",
				      d);
			tmpl_data_free(d);
		}
		goto out;
	}
	{
		struct tmpl_data *d = console_data(&x, &w, N_("Certificate revoked"));

		tmpl_data_str(d, "serial", c.serial);
		tmpl_data_bool(d, "done", 1);
		rc = web_page(&x, 200, "console_revoke_done", d);
		tmpl_data_free(d);
	}
out:
	ra_cert_clear(&c);
	web_form_free(&f);
	return rc;
}

/* ---- bulk revocation of a search result: /certs/revoke-all ---- */

#define CONSOLE_REVOKE_SHOWN 100 /* certificates the confirmation lists */

/*
 * The confirmation page of revoking the search result (kind k, the search fields): how many,
 * the first CONSOLE_REVOKE_SHOWN, the form with the set's digest.  error: why a POST was
 * refused (shown again with status).
 */
static int
console_revoke_all_page(struct web_ctx *x, const struct console_who *w, enum ra_ocert_kind k,
			const char *status, const char *q, const char *days, const char *error,
			int code)
{
	struct ra_cert_filter f;
	struct ra_cert *v = NULL;
	struct tmpl_data *d, *it;
	char dg[RA_OCERT_SET_DIGEST], num[32], when[32], csrf[WEB_B64_LEN];
	struct store *st;
	struct err e;
	size_t n = 0, i;
	long dd;
	int rc;

	dd = console_filter(k, status, q, days, &f);
	err_clear(&e);
	if ((st = ca_thread_store(x->ca, &e)) == NULL ||
	    ra_ocert_revoke_set(x->ca, st, &w->o, k, &f, &v, &n, dg, &e) == -1) {
		if (e.code != ERR_REFUSED)
			return web_error(x, &e);
		error = e.msg; /* too many: narrow the search */
		code = 422;
		dg[0] = '\0';
	}
	d = console_data(x, w, N_("Revoke the search result"));
	tmpl_data_str(d, "kind", ra_ocert_kind_names[k]);
	tmpl_data_str(d, "q", f.name != NULL ? f.name : "");
	tmpl_data_str(d, "status", f.status >= 0 ? ra_cert_status_name(f.status) : "");
	tmpl_data_str(d, "days", dd > 0 ? days : "");
	snprintf(num, sizeof(num), "%zu", n);
	tmpl_data_str(d, "count", num);
	if (error != NULL)
		tmpl_data_str(d, "error", error);
	for (i = 0; i < n && i < CONSOLE_REVOKE_SHOWN; i++) {
		it = tmpl_data_add(d, "certs");
		tmpl_data_str(it, "serial", v[i].serial);
		tmpl_data_str(it, "subject", v[i].subject != NULL ? v[i].subject : "");
		tmpl_data_str(it, "sans", v[i].sans != NULL ? v[i].sans : "");
		tmpl_data_str(it, "status", i18n_get(x->lang, console_status_msgid[v[i].status]));
		console_when(v[i].not_after, when);
		tmpl_data_str(it, "not_after", when);
	}
	tmpl_data_bool(d, "more", n > CONSOLE_REVOKE_SHOWN);
	tmpl_data_bool(d, "none", n == 0);
	if (n > 0 && dg[0] != '\0') {
		tmpl_data_str(d, "digest", dg);
		web_csrf(x, csrf);
		tmpl_data_str(d, "csrf", csrf);
		tmpl_data_bool(d, "can_revoke", 1);
	}
	rc = web_page(x, code, "console_revoke_all", d);
	tmpl_data_free(d);
	ra_cert_list_free(v, n);
	return rc;
}

/* GET /certs/revoke-all?kind=K&status=&q=&days=: the confirmation; nothing written. */
int
console_revoke_all_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	enum ra_ocert_kind k;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_kind(http_query(r, "kind"), &k) == -1)
		return web_notice(&x, 404, N_("Not found"), N_("There is no such page."));
	if (console_kind_gate(&x, k, &w, &rc))
		return rc;
	return console_revoke_all_page(&x, &w, k, http_query(r, "status"), http_query(r, "q"),
				       http_query(r, "days"), NULL, 200);
}

/*
 * POST /certs/revoke-all: kind, the search fields, digest, reason, comment: the set revoked
 * in one transaction (ra_ocert_revoke_many) when it is still the one confirmed.
 */
int
console_revoke_all_post(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	struct ra_cert_filter cf;
	enum ra_ocert_kind k;
	const char *status, *q, *days, *reason, *comment;
	struct tmpl_data *d;
	struct store *st;
	struct err e;
	char num[32];
	size_t done = 0;
	long rs = -1;
	int rc;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	if (console_kind(web_form_get(&f, "kind"), &k) == -1) {
		rc = web_notice(&x, 400, N_("Bad request"), N_("There is no such page."));
		goto out;
	}
	if (console_kind_gate(&x, k, &w, &rc))
		goto out;
	status = web_form_get(&f, "status");
	q = web_form_get(&f, "q");
	days = web_form_get(&f, "days");
	reason = web_form_get(&f, "reason");
	comment = web_form_get(&f, "comment");
	if (reason == NULL || util_parse_long(reason, 0, 10, &rs) == -1)
		rs = -1;
	(void)console_filter(k, status, q, days, &cf);
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (ra_ocert_revoke_many(x.ca, st, &w.o, k, &cf, web_form_get(&f, "digest"), (int)rs,
				 comment, &done, &e) == -1) {
		if (e.code == ERR_REFUSED || e.code == ERR_CONFLICT)
			rc = console_revoke_all_page(&x, &w, k, status, q, days, e.msg,
						     e.code == ERR_CONFLICT ? 409 : 422);
		else
			rc = web_error(&x, &e);
		goto out;
	}
	d = console_data(&x, &w, N_("Certificates revoked"));
	tmpl_data_str(d, "kind", ra_ocert_kind_names[k]);
	snprintf(num, sizeof(num), "%zu", done);
	tmpl_data_str(d, "count", num);
	tmpl_data_bool(d, "done", 1);
	rc = web_page(&x, 200, "console_revoke_all", d);
	tmpl_data_free(d);
out:
	web_form_free(&f);
	return rc;
}

/* ---- the user administrator's page on the public listener: /cert/<token>[/confirm] ---- */

static const struct {
	const char *title, *message;
} console_dl_msg[RA_OCERT_DL__MAX] = {
    [RA_OCERT_DL_UNKNOWN] = {N_("Unknown URL"),
			     N_("This certificate URL is not known. Check that you opened the "
				"whole URL from the mail.")},
    [RA_OCERT_DL_EXPIRED] = {N_("URL expired"),
			     N_("This certificate URL has expired. Ask your RA officer.")},
    [RA_OCERT_DL_USED] = {N_("Already downloaded"),
			  N_("The certificate of this URL has been downloaded already; it is "
			     "given once. Ask your RA officer if you need it again.")},
    [RA_OCERT_DL_NOT_RENEWAL] = {N_("Not a renewal"),
				 N_("This certificate replaces no other certificate.")},
};

/* The token of /cert/<token> and whether /confirm follows; NULL when malformed. */
static const char *
console_dl_token(const struct http_req *r, char out[RA_TOKEN_TEXT], int *confirm)
{
	const char *t = r->url + strlen("/cert/"), *sl = strchr(t, '/');
	size_t n = sl != NULL ? (size_t)(sl - t) : strlen(t);

	*confirm = sl != NULL && strcmp(sl, "/confirm") == 0;
	if (n == 0 || n >= RA_TOKEN_TEXT || (sl != NULL && !*confirm))
		return NULL;
	memcpy(out, t, n);
	out[n] = '\0';
	return out;
}

/* The page of a download URL (GET, and after a refusal). */
static int
console_dl_page(struct web_ctx *x, enum ra_ocert_dl res, const struct ra_ocert_view *v,
		const char *done_msgid, const char *tok)
{
	struct tmpl_data *d;
	char when[32], csrf[WEB_B64_LEN], action[64];
	int rc;

	if (res != RA_OCERT_DL_OK && res != RA_OCERT_DL_USED) {
		d = console_data(x, NULL, console_dl_msg[res].title);
		tmpl_data_str(d, "message", i18n_get(x->lang, console_dl_msg[res].message));
		rc = web_page(x, res == RA_OCERT_DL_UNKNOWN ? 404 : 410, "console_enrol_status", d);
		tmpl_data_free(d);
		return rc;
	}
	d = console_data(x, NULL, N_("Your certificate"));
	tmpl_data_str(d, "serial", v->cert.serial);
	tmpl_data_str(d, "subject", v->cert.subject != NULL ? v->cert.subject : "");
	tmpl_data_str(d, "sans", v->cert.sans != NULL ? v->cert.sans : "");
	console_when(v->cert.not_after, when);
	tmpl_data_str(d, "not_after", when);
	tmpl_data_bool(d, "used", res == RA_OCERT_DL_USED);
	tmpl_data_bool(d, "waiting", v->a.replaces != NULL);
	if (v->a.replaces != NULL)
		tmpl_data_str(d, "replaces", v->a.replaces);
	if (done_msgid != NULL)
		tmpl_data_str(d, "notice", i18n_get(x->lang, done_msgid));
	snprintf(action, sizeof(action), "/cert/%s", tok);
	tmpl_data_str(d, "action", action);
	web_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	rc = web_page(x, 200, "console_cert_dl", d);
	tmpl_data_free(d);
	return rc;
}

/* GET /cert/<token>: shows the certificate and the button; nothing written. */
int
console_dl_get(struct http_req *r)
{
	struct web_ctx x;
	struct ra_ocert_view v;
	enum ra_ocert_dl res = RA_OCERT_DL_UNKNOWN;
	char tok[RA_TOKEN_TEXT];
	struct store *st;
	struct err e;
	int confirm, rc;

	web_ctx_init(&x, &console.pub, r);
	memset(&v, 0, sizeof(v));
	if (console_dl_token(r, tok, &confirm) == NULL || confirm)
		return console_dl_page(&x, RA_OCERT_DL_UNKNOWN, &v, NULL, "");
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_ocert_dl_peek(x.ca, st, tok, &v, &res, &e) == -1) {
		ra_ocert_view_clear(&v);
		return web_error(&x, &e);
	}
	rc = console_dl_page(&x, res, &v, NULL, tok);
	ra_ocert_view_clear(&v);
	return rc;
}

/* The certificate and its chain (issuing CA, root) as PEM. */
static int
console_dl_reply(struct web_ctx *x, const struct ra_ocert_view *v)
{
	const char *h[] = {"Content-Disposition", "attachment; filename=\"certificate.pem\"", NULL};
	const unsigned char *p = v->cert.der;
	X509 *c = d2i_X509(NULL, &p, (long)v->cert.derlen);
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc = -1;

	if (c != NULL && b != NULL && PEM_write_bio_X509(b, c) &&
	    PEM_write_bio_X509(b, ca_issuing_of_der(x->ca, v->cert.der, v->cert.derlen)->cert) &&
	    PEM_write_bio_X509(b, x->ca->root)) {
		n = BIO_get_mem_data(b, &data);
		rc = http_reply_hdrs(x->r, 200, "application/pem-certificate-chain", data,
				     (size_t)n, h);
	}
	X509_free(c);
	BIO_free(b);
	return rc;
}

/* POST /cert/<token> (the download, once) and /cert/<token>/confirm (the replacement). */
int
console_dl_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct ra_ocert_view v;
	enum ra_ocert_dl res = RA_OCERT_DL_UNKNOWN;
	char tok[RA_TOKEN_TEXT], old[STORE_SERIAL_MAX];
	struct store *st;
	struct err e;
	int confirm = 0, rc;

	web_ctx_init(&x, &console.pub, r);
	memset(&f, 0, sizeof(f));
	memset(&v, 0, sizeof(v));
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	err_clear(&e);
	if (console_dl_token(r, tok, &confirm) == NULL) {
		rc = console_dl_page(&x, RA_OCERT_DL_UNKNOWN, &v, NULL, "");
		goto out;
	}
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (confirm) {
		if (ra_ocert_confirm(x.ca, st, tok, &res, old, &e) == -1 ||
		    ra_ocert_dl_peek(x.ca, st, tok, &v, &res, &e) == -1) {
			rc = web_error(&x, &e);
			goto out;
		}
		rc = console_dl_page(&x, res, &v,
				     old[0] != '\0'
					 ? N_("Thank you: the replacement is confirmed and the old "
					      "certificate is revoked.")
					 : N_("The old certificate was revoked before."),
				     tok);
		goto out;
	}
	if (ra_ocert_dl_take(x.ca, st, tok, &v, &res, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	rc = res == RA_OCERT_DL_OK ? console_dl_reply(&x, &v)
				   : console_dl_page(&x, res, &v, NULL, tok);
out:
	ra_ocert_view_clear(&v);
	web_form_free(&f);
	return rc;
}
