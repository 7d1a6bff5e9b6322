/*
 * admins: the user administrator (利用管理者) recorded for the organization's certificates is
 * changed (issue 13 part 7): for one certificate (the form on /certs/view, POST /certs/admin),
 * for every certificate whose administrator had one address (POST /admins/rename) and by a
 * native TSV upload (POST /admins/tsv: serial, admin_name, admin_unit, admin_email; all lines
 * or none).  The rules and the audit are src/ra/ocadmin.c's.
 */
#include <stdio.h>
#include <string.h>

#include "console_int.h"

#define ADMINS_PERMS (RA_PERM_SERVER | RA_PERM_CLIENT | RA_PERM_CODESIGN)
#define ADMINS_TSV_MAX (4u * 1024 * 1024) /* bytes of an uploaded file */

static const struct web_form_limits admins_tsv_form = {ADMINS_TSV_MAX + 64 * 1024, "file",
						       ADMINS_TSV_MAX, 1};

/* The page: the two forms, and what the last request did. */
static int
admins_page(struct web_ctx *x, const struct console_who *w, int status, const char *notice,
	    const char *error, const struct ra_admin_line *v, size_t n)
{
	struct tmpl_data *d = console_data(x, w, N_("User-administrator information: update"));
	struct tmpl_data *it;
	char num[24];
	size_t i;
	int rc;

	if (notice != NULL)
		tmpl_data_str(d, "notice", notice);
	if (error != NULL)
		tmpl_data_str(d, "error", error);
	for (i = 0; i < n; i++) {
		it = tmpl_data_add(d, "lines");
		snprintf(num, sizeof(num), "%zu", v[i].line);
		tmpl_data_str(it, "line", num);
		tmpl_data_str(it, "serial", v[i].serial);
		tmpl_data_str(it, "result",
			      v[i].msg[0] != '\0' ? v[i].msg : i18n_get(x->lang, N_("Good")));
		tmpl_data_bool(it, "bad", v[i].msg[0] != '\0');
	}
	tmpl_data_bool(d, "have_lines", n > 0);
	rc = web_page(x, status, "console_admins", d);
	tmpl_data_free(d);
	return rc;
}

/* GET /admins: the forms. */
int
console_admins_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, 1u << RA_ROLE_OFFICER, ADMINS_PERMS, &w, &rc))
		return rc;
	return admins_page(&x, &w, 200, NULL, NULL, NULL, 0);
}

/* The new administrator of a form. */
static void
admins_new(const struct web_form *f, struct ra_admin_new *n)
{
	n->name = web_form_get(f, "admin_name");
	n->unit = web_form_get(f, "admin_unit");
	n->email = web_form_get(f, "admin_email");
}

/* POST /admins/rename: old_email, admin_name, admin_unit, admin_email. */
int
console_admins_rename_post(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	struct ra_admin_new n;
	struct store *st;
	struct err e;
	char msg[160];
	size_t changed = 0;
	int rc;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	if (console_gate(&x, 1u << RA_ROLE_OFFICER, ADMINS_PERMS, &w, &rc))
		goto out;
	admins_new(&f, &n);
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_ocert_admin_rename(x.ca, st, &w.o, web_form_get(&f, "old_email"), &n, &changed,
				  &e) == -1) {
		rc = e.code == ERR_REFUSED ? admins_page(&x, &w, 422, NULL, e.msg, NULL, 0)
					   : web_error(&x, &e);
		goto out;
	}
	snprintf(msg, sizeof(msg), "%s: %zu", i18n_get(x.lang, N_("Certificates updated")),
		 changed);
	rc = admins_page(&x, &w, 200, msg, NULL, NULL, 0);
out:
	web_form_free(&f);
	return rc;
}

/* POST /admins/tsv: the file (native TSV), all lines or none. */
int
console_admins_tsv_post(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	struct ra_admin_line *v = NULL;
	const char *file;
	struct store *st;
	struct err e;
	char msg[160];
	size_t n = 0, changed = 0;
	int rc;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	if (web_form_read(&x, &f, &admins_tsv_form, &rc))
		goto out;
	if (console_gate(&x, 1u << RA_ROLE_OFFICER, ADMINS_PERMS, &w, &rc))
		goto out;
	file = web_form_get(&f, "file");
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (ra_ocert_admin_tsv(x.ca, st, &w.o, (const unsigned char *)(file != NULL ? file : ""),
			       file != NULL ? strlen(file) : 0, &v, &n, &changed, &e) == -1) {
		rc = e.code == ERR_REFUSED ? admins_page(&x, &w, 422, NULL, e.msg, v, n)
					   : web_error(&x, &e);
		goto out;
	}
	snprintf(msg, sizeof(msg), "%s: %zu", i18n_get(x.lang, N_("Certificates updated")),
		 changed);
	rc = admins_page(&x, &w, 200, msg, NULL, v, n);
out:
	free(v);
	web_form_free(&f);
	return rc;
}

/* POST /certs/admin: serial, admin_name, admin_unit, admin_email (from /certs/view). */
int
console_cert_admin_post(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	struct ra_admin_new n;
	struct tmpl_data *d;
	const char *serial;
	struct store *st;
	struct err e;
	int rc;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	if (console_gate(&x, 1u << RA_ROLE_OFFICER, ADMINS_PERMS, &w, &rc))
		goto out;
	serial = web_form_get(&f, "serial");
	admins_new(&f, &n);
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (ra_ocert_admin_set(x.ca, st, &w.o, serial, &n, &e) == -1) {
		if (e.code == ERR_NOTFOUND) {
			rc = web_notice(
			    &x, 404, N_("Not found"),
			    N_("Your organization has no certificate with this serial number."));
			goto out;
		}
		if (e.code != ERR_REFUSED) {
			rc = web_error(&x, &e);
			goto out;
		}
	}
	d = console_data(&x, &w, N_("User-administrator information: update"));
	if (e.code == ERR_REFUSED)
		tmpl_data_str(d, "message", e.msg);
	else
		tmpl_data_bool(d, "admin_done", 1);
	tmpl_data_str(d, "serial", serial != NULL ? serial : "");
	rc = web_page(&x, e.code == ERR_REFUSED ? 422 : 200, "console_admin_done", d);
	tmpl_data_free(d);
out:
	web_form_free(&f);
	return rc;
}
