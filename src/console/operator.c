/*
 * operator: the CA operator's pages of the console (DESIGN.md 2.5, issue 13 parts 1, 3 and 9)
 * — officers (list, add, disable/enable, permissions, re-enrolment), organizations (list,
 * add, name and domains) and the OU allow-list per domain — and the allow-list's TSV download
 * for officers with the server permission.  Every operator page passes console_gate() with
 * the operator role only; every write is an RA function, audited there with the actor
 * "officer:<id>".  A new officer's (or a re-enrolment's) access PIN is shown once, in the
 * answer to the POST (no-store): the form carries a sealed nonce that the RA records before
 * acting (ra_form_claim), so the same form sent again (reload, Back) does nothing and shows
 * no PIN.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "console_int.h"

#define OP_ROLES (1u << RA_ROLE_OPERATOR)
#define OP_SEAL_ADD "officer-add"
#define OP_SEAL_REENROL "officer-reenrol"
#define OP_DOMAINS_MAX 64 /* domains given at once in a textarea */

/* The permissions as the pages name them (checkbox perm_<name>). */
static const struct {
	unsigned bit;
	const char *name, *msgid;
} op_perms[] = {
    {RA_PERM_SERVER, "server", N_("Server certificates")},
    {RA_PERM_CLIENT, "client", N_("Client certificates")},
    {RA_PERM_CODESIGN, "codesign", N_("Code-signing certificates")},
    {RA_PERM_ACME, "acme", N_("ACME")},
    {RA_PERM_STATS, "stats", N_("Statistics")},
};

static const char *const op_role_msgid[RA_ROLE__MAX] = {
    [RA_ROLE_OFFICER] = N_("RA officer"),
    [RA_ROLE_OPERATOR] = N_("CA operator"),
    [RA_ROLE_AUDITOR] = N_("Auditor"),
};

/* The actor of the audit entries: "officer:<id>" of the operator. */
static void
op_actor(const struct console_who *w, char out[48])
{
	snprintf(out, 48, "officer:%" PRId64, w->o.id);
}

/* An id from a form or query ("1".."2^53"); -1 when it is anything else. */
static int
op_id(const char *s, int64_t *id)
{
	long v;

	if (s == NULL || util_parse_long(s, 1, 1L << 53, &v) == -1)
		return -1;
	*id = v;
	return 0;
}

/* The checked perm_<name> boxes of f. */
static unsigned
op_perms_of(const struct web_form *f)
{
	char name[32];
	unsigned p = 0;
	size_t i;

	for (i = 0; i < sizeof(op_perms) / sizeof(op_perms[0]); i++) {
		snprintf(name, sizeof(name), "perm_%s", op_perms[i].name);
		if (web_form_get(f, name) != NULL)
			p |= op_perms[i].bit;
	}
	return p;
}

/* The list "perms" of d: a checkbox each, checked as perms says. */
static void
op_perms_data(struct tmpl_data *d, const char *lang, unsigned perms)
{
	struct tmpl_data *it;
	size_t i;

	for (i = 0; i < sizeof(op_perms) / sizeof(op_perms[0]); i++) {
		it = tmpl_data_add(d, "perms");
		tmpl_data_str(it, "perm", op_perms[i].name);
		tmpl_data_str(it, "perm_label", i18n_get(lang, op_perms[i].msgid));
		tmpl_data_bool(it, "checked", (perms & op_perms[i].bit) != 0);
	}
}

/* The list "orgs" of d (code, name, selected). */
static int
op_orgs_data(struct tmpl_data *d, struct store *st, const char *selected, struct err *e)
{
	struct ra_org *v = NULL;
	struct tmpl_data *it;
	size_t n = 0, i;

	if (ra_org_list(st, &v, &n, e) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		it = tmpl_data_add(d, "orgs");
		tmpl_data_str(it, "org_code", v[i].code);
		tmpl_data_str(it, "org_name", v[i].name);
		tmpl_data_bool(it, "selected",
			       selected != NULL && strcmp(selected, v[i].code) == 0);
		ra_org_clear(&v[i]);
	}
	free(v);
	return 0;
}

/* 1 for the errors a page shows (the operator's input): refused, not found, conflict. */
static int
op_user_error(const struct err *e)
{
	return e->code == ERR_REFUSED || e->code == ERR_NOTFOUND || e->code == ERR_CONFLICT;
}

/* The store of the request, or the error page (1, *rc). */
static int
op_store(struct web_ctx *x, struct store **st, int *rc)
{
	struct err e;

	err_clear(&e);
	if ((*st = ca_thread_store(x->ca, &e)) == NULL) {
		*rc = web_error(x, &e);
		return 1;
	}
	return 0;
}

/* The gate of a POST: the operator, then the form and its CSRF token; 1 when answered. */
static int
op_post(struct web_ctx *x, struct http_req *r, struct console_who *w, struct web_form *f, int *rc)
{
	web_ctx_init(x, &console.site, r);
	memset(f, 0, sizeof(*f));
	if (console_gate(x, OP_ROLES, 0, w, rc))
		return 1;
	return web_form_read(x, f, NULL, rc);
}

/* ---- officers ---- */

/* GET /operator/officers[?org=CODE]: every officer (or an organization's), with actions. */
int
console_op_officers_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct tmpl_data *d = NULL, *it;
	struct ra_officer *v = NULL;
	struct web_seal seal;
	struct store *st;
	const char *org = http_query(r, "org");
	char id[24], perms[RA_PERMS_TEXT];
	size_t n = 0, i;
	struct err e;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, OP_ROLES, 0, &w, &rc) || op_store(&x, &st, &rc))
		return rc;
	err_clear(&e);
	if (org != NULL && org[0] == '\0')
		org = NULL;
	d = console_data(&x, &w, N_("Officers"));
	if (op_orgs_data(d, st, org, &e) == -1 || ra_officer_list(st, org, &v, &n, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *vals[1];

		it = tmpl_data_add(d, "officers");
		snprintf(id, sizeof(id), "%" PRId64, v[i].id);
		tmpl_data_str(it, "id", id);
		tmpl_data_str(it, "name", v[i].name);
		tmpl_data_str(it, "email", v[i].email);
		tmpl_data_str(it, "org", v[i].org_code);
		tmpl_data_str(it, "role", i18n_get(x.lang, op_role_msgid[v[i].role]));
		tmpl_data_bool(it, "is_officer", v[i].role == RA_ROLE_OFFICER);
		tmpl_data_bool(it, "active", v[i].active);
		tmpl_data_bool(it, "self", v[i].id == w.o.id);
		ra_perms_format(v[i].perms, perms);
		tmpl_data_str(it, "perms_text", perms);
		op_perms_data(it, x.lang, v[i].perms);
		/* the re-enrolment button's own nonce: its PIN is shown once */
		vals[0] = id;
		web_seal_make(&x, OP_SEAL_REENROL, RA_FORM_TTL, 1, vals, 1, &seal);
		web_seal_data(it, &seal);
	}
	rc = web_page(&x, 200, "console_op_officers", d);
out:
	free(v);
	tmpl_data_free(d);
	return rc;
}

/* The add form (status 200, or 400 with error), values of f kept, with a fresh seal. */
static int
op_officer_form(struct web_ctx *x, const struct console_who *w, struct store *st,
		const struct web_form *f, const char *error, int status)
{
	struct tmpl_data *d = console_data(x, w, N_("Add an officer"));
	struct tmpl_data *it;
	struct web_seal seal;
	const char *role = f != NULL ? web_form_get(f, "role") : NULL;
	struct err e;
	int rc, i;

	err_clear(&e);
	if (op_orgs_data(d, st, f != NULL ? web_form_get(f, "org") : NULL, &e) == -1) {
		rc = web_error(x, &e);
		goto out;
	}
	if (error != NULL)
		tmpl_data_str(d, "error", error);
	tmpl_data_str(d, "name",
		      f != NULL && web_form_get(f, "name") ? web_form_get(f, "name") : "");
	tmpl_data_str(d, "email",
		      f != NULL && web_form_get(f, "email") ? web_form_get(f, "email") : "");
	for (i = 0; i < RA_ROLE__MAX; i++) {
		it = tmpl_data_add(d, "roles");
		tmpl_data_str(it, "role", ra_role_name((enum ra_role)i));
		tmpl_data_str(it, "role_label", i18n_get(x->lang, op_role_msgid[i]));
		tmpl_data_bool(it, "selected",
			       role != NULL ? strcmp(role, ra_role_name((enum ra_role)i)) == 0
					    : i == RA_ROLE_OFFICER);
	}
	op_perms_data(d, x->lang, f != NULL ? op_perms_of(f) : RA_PERM_SERVER | RA_PERM_CLIENT);
	web_seal_make(x, OP_SEAL_ADD, RA_FORM_TTL, 1, NULL, 0, &seal);
	web_seal_data(d, &seal);
	rc = web_page(x, status, "console_op_officer_add", d);
out:
	tmpl_data_free(d);
	return rc;
}

/* GET /operator/officers/add: the form. */
int
console_op_officer_add_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct store *st;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, OP_ROLES, 0, &w, &rc) || op_store(&x, &st, &rc))
		return rc;
	return op_officer_form(&x, &w, st, NULL, NULL, 200);
}

/* The page with the access PIN, shown once (the answer of a POST: no-store). */
static int
op_pin_page(struct web_ctx *x, const struct console_who *w, const struct ra_officer *o,
	    const char *pin, int reenrol)
{
	struct tmpl_data *d =
	    console_data(x, w, reenrol ? N_("Officer re-enrolled") : N_("Officer added"));
	char days[24];
	int rc;

	tmpl_data_str(d, "name", o->name);
	tmpl_data_str(d, "email", o->email);
	tmpl_data_str(d, "org", o->org_code);
	tmpl_data_str(d, "org_name", o->org_name);
	tmpl_data_str(d, "role", i18n_get(x->lang, op_role_msgid[o->role]));
	tmpl_data_str(d, "pin", pin);
	snprintf(days, sizeof(days), "%ld", console.mail.enrol_days);
	tmpl_data_str(d, "days", days);
	rc = web_page(x, 200, "console_op_pin", d);
	tmpl_data_free(d);
	return rc;
}

/* The answer to a form sent again: nothing was done (409). */
static int
op_repeated(struct web_ctx *x, const struct console_who *w)
{
	struct tmpl_data *d = console_data(x, w, N_("Form already sent"));
	int rc;

	tmpl_data_str(d, "message",
		      i18n_get(x->lang, N_("This form was sent already and nothing was done "
					   "now. The access PIN is shown only in the answer to "
					   "the first submission. If it was lost, re-enrol the "
					   "officer from the list.")));
	rc = web_page(x, 409, "console_op_notice", d);
	tmpl_data_free(d);
	return rc;
}

/* POST /operator/officers/add: the officer recorded, its URL mailed, the PIN shown once. */
int
console_op_officer_add_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct console_who w;
	struct ra_officer_new q;
	struct ra_officer_notify n;
	struct ra_officer o;
	struct web_seal seal;
	enum web_seal_result sr;
	struct store *st;
	const char *org, *role;
	char actor[48], pin[RA_OFFICER_PIN_LEN + 1];
	struct err e;
	int rc, seen;

	memset(pin, 0, sizeof(pin));
	if (op_post(&x, r, &w, &f, &rc) || op_store(&x, &st, &rc))
		goto out;
	err_clear(&e);
	if ((sr = web_seal_open_form(&x, OP_SEAL_ADD, &f, NULL, 0, &seal)) != WEB_SEAL_OK) {
		rc = web_seal_refused(&x, sr, N_("Open the form to add an officer again."));
		goto out;
	}
	if (ra_form_claim(st, seal.nonce_raw, &seen, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (seen) {
		rc = op_repeated(&x, &w);
		goto out;
	}
	memset(&q, 0, sizeof(q));
	org = web_form_get(&f, "org");
	q.org_code = org != NULL && org[0] != '\0' ? org : NULL;
	q.name = web_form_get(&f, "name");
	q.email = web_form_get(&f, "email");
	q.perms = op_perms_of(&f);
	role = web_form_get(&f, "role");
	if (q.name == NULL || q.email == NULL || role == NULL ||
	    ra_role_parse(role, &q.role) == -1) {
		rc = op_officer_form(&x, &w, st, &f,
				     i18n_get(x.lang, N_("Fill in the name, the e-mail address "
							 "and the role.")),
				     400);
		goto out;
	}
	if (q.role != RA_ROLE_OFFICER)
		q.perms = 0;
	op_actor(&w, actor);
	console_mail_notify(&console.mail, &n);
	if (ra_officer_add(x.ca, st, &q, &n, actor, &o, pin, &e) == -1) {
		rc = op_user_error(&e) ? op_officer_form(&x, &w, st, &f, e.msg, 400)
				       : web_error(&x, &e);
		goto out;
	}
	rc = op_pin_page(&x, &w, &o, pin, 0);
out:
	sodium_memzero(pin, sizeof(pin));
	web_form_free(&f);
	return rc;
}

/* A page with one message and a link back (status). */
static int
op_message(struct web_ctx *x, const struct console_who *w, int status, const char *title,
	   const char *message, const char *back)
{
	struct tmpl_data *d = console_data(x, w, title);
	int rc;

	tmpl_data_str(d, "message", message);
	tmpl_data_str(d, "back", back);
	rc = web_page(x, status, "console_op_notice", d);
	tmpl_data_free(d);
	return rc;
}

/* The officer of the form's id, or the answer (1, *rc). */
static int
op_form_officer(struct web_ctx *x, const struct console_who *w, struct store *st,
		const struct web_form *f, struct ra_officer *o, int *rc)
{
	struct err e;
	int64_t id;

	err_clear(&e);
	if (op_id(web_form_get(f, "id"), &id) == -1) {
		*rc = op_message(x, w, 400, N_("Officers"),
				 i18n_get(x->lang, N_("No such officer.")), "/operator/officers");
		return 1;
	}
	if (ra_officer_get(st, id, o, &e) == -1) {
		*rc = e.code == ERR_NOTFOUND ? op_message(x, w, 404, N_("Officers"),
							  i18n_get(x->lang, N_("No such officer.")),
							  "/operator/officers")
					     : web_error(x, &e);
		return 1;
	}
	return 0;
}

/* POST /operator/officers/status: disable (active=0) or enable (active=1) an officer. */
int
console_op_officer_status_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct console_who w;
	struct ra_officer o;
	struct store *st;
	const char *a;
	char actor[48];
	struct err e;
	int rc;

	if (op_post(&x, r, &w, &f, &rc) || op_store(&x, &st, &rc) ||
	    op_form_officer(&x, &w, st, &f, &o, &rc))
		goto out;
	err_clear(&e);
	a = web_form_get(&f, "active");
	if (a == NULL || (strcmp(a, "0") != 0 && strcmp(a, "1") != 0)) {
		rc = op_message(&x, &w, 400, N_("Officers"),
				i18n_get(x.lang, N_("The form could not be read")),
				"/operator/officers");
		goto out;
	}
	if (o.id == w.o.id && a[0] == '0') {
		rc = op_message(&x, &w, 400, N_("Officers"),
				i18n_get(x.lang, N_("You cannot disable your own account.")),
				"/operator/officers");
		goto out;
	}
	op_actor(&w, actor);
	if (ra_officer_set_status(st, o.id, a[0] == '1', actor, &e) == -1) {
		rc = op_user_error(&e)
			 ? op_message(&x, &w, 400, N_("Officers"), e.msg, "/operator/officers")
			 : web_error(&x, &e);
		goto out;
	}
	rc = web_redirect(&x, "/operator/officers");
out:
	web_form_free(&f);
	return rc;
}

/* POST /operator/officers/perms: an officer's permissions replaced by the checked boxes. */
int
console_op_officer_perms_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct console_who w;
	struct ra_officer o;
	struct store *st;
	char actor[48];
	struct err e;
	int rc;

	if (op_post(&x, r, &w, &f, &rc) || op_store(&x, &st, &rc) ||
	    op_form_officer(&x, &w, st, &f, &o, &rc))
		goto out;
	err_clear(&e);
	op_actor(&w, actor);
	if (ra_officer_set_perms(st, o.id, op_perms_of(&f), actor, &e) == -1) {
		rc = op_user_error(&e)
			 ? op_message(&x, &w, 400, N_("Officers"), e.msg, "/operator/officers")
			 : web_error(&x, &e);
		goto out;
	}
	rc = web_redirect(&x, "/operator/officers");
out:
	web_form_free(&f);
	return rc;
}

/* POST /operator/officers/reenrol: the certificate revoked, a new URL mailed, the PIN once. */
int
console_op_officer_reenrol_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct console_who w;
	struct ra_officer o;
	struct ra_officer_notify n;
	struct web_seal seal;
	enum web_seal_result sr;
	struct store *st;
	const char *vals[1];
	char actor[48], pin[RA_OFFICER_PIN_LEN + 1];
	struct err e;
	int rc, seen;

	memset(pin, 0, sizeof(pin));
	if (op_post(&x, r, &w, &f, &rc) || op_store(&x, &st, &rc))
		goto out;
	err_clear(&e);
	vals[0] = web_form_get(&f, "id");
	if ((sr = web_seal_open_form(&x, OP_SEAL_REENROL, &f, vals, 1, &seal)) != WEB_SEAL_OK) {
		rc = web_seal_refused(&x, sr, N_("Open the list of officers again."));
		goto out;
	}
	if (op_form_officer(&x, &w, st, &f, &o, &rc))
		goto out;
	if (ra_form_claim(st, seal.nonce_raw, &seen, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (seen) {
		rc = op_repeated(&x, &w);
		goto out;
	}
	op_actor(&w, actor);
	console_mail_notify(&console.mail, &n);
	if (ra_officer_reenrol(x.ca, st, o.id, CA_REASON_KEY_COMPROMISE, &n, actor, pin, &e) ==
	    -1) {
		rc = op_user_error(&e)
			 ? op_message(&x, &w, 400, N_("Officers"), e.msg, "/operator/officers")
			 : web_error(&x, &e);
		goto out;
	}
	rc = op_pin_page(&x, &w, &o, pin, 1);
out:
	sodium_memzero(pin, sizeof(pin));
	web_form_free(&f);
	return rc;
}

/* ---- organizations ---- */

/* The lines of text (blanks around each trimmed, empty ones skipped) into v (xstrdup'ed). */
static size_t
op_lines(const char *text, char **v, size_t max)
{
	const char *p = text, *end;
	size_t n = 0, len;

	while (p != NULL && *p != '\0' && n < max) {
		end = p + strcspn(p, "\r\n");
		len = (size_t)(end - p);
		while (len > 0 && (p[0] == ' ' || p[0] == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > 0)
			v[n++] = xstrndup(p, len);
		p = end + strspn(end, "\r\n");
	}
	return n;
}

static void
op_lines_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
}

/* The organizations page (the list and the add form), status, error (may be NULL). */
static int
op_orgs_page(struct web_ctx *x, const struct console_who *w, struct store *st,
	     const struct web_form *f, const char *error, int status)
{
	struct tmpl_data *d = console_data(x, w, N_("Organizations")), *it;
	struct ra_org *v = NULL;
	struct store_org o;
	struct buf doms;
	size_t n = 0, i, j;
	struct err e;
	int rc;

	err_clear(&e);
	memset(&o, 0, sizeof(o));
	if (ra_org_list(st, &v, &n, &e) == -1) {
		rc = web_error(x, &e);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (ra_org_detail(st, v[i].code, &o, &e) == -1) {
			rc = web_error(x, &e);
			goto out;
		}
		it = tmpl_data_add(d, "orgs");
		tmpl_data_str(it, "org_code", o.code);
		tmpl_data_str(it, "org_name", o.name);
		buf_init(&doms, 64 * 1024);
		for (j = 0; j < o.ndomains; j++)
			buf_printf(&doms, "%s%s", j > 0 ? ", " : "", o.domains[j]);
		tmpl_data_str(it, "domains", buf_cstr(&doms) != NULL ? buf_cstr(&doms) : "");
		buf_free(&doms);
		store_org_clear(&o);
	}
	if (error != NULL)
		tmpl_data_str(d, "error", error);
	tmpl_data_str(d, "code",
		      f != NULL && web_form_get(f, "code") ? web_form_get(f, "code") : "");
	tmpl_data_str(d, "name",
		      f != NULL && web_form_get(f, "name") ? web_form_get(f, "name") : "");
	tmpl_data_str(d, "domains_text",
		      f != NULL && web_form_get(f, "domains") ? web_form_get(f, "domains") : "");
	rc = web_page(x, status, "console_op_orgs", d);
out:
	for (i = 0; i < n; i++)
		ra_org_clear(&v[i]);
	free(v);
	tmpl_data_free(d);
	return rc;
}

/* GET /operator/orgs */
int
console_op_orgs_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct store *st;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, OP_ROLES, 0, &w, &rc) || op_store(&x, &st, &rc))
		return rc;
	return op_orgs_page(&x, &w, st, NULL, NULL, 200);
}

/* POST /operator/orgs/add: code, name, domains (one per line). */
int
console_op_org_add_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct console_who w;
	struct ra_org_change ch;
	struct store *st;
	char *doms[OP_DOMAINS_MAX], actor[48];
	const char *code, *name;
	size_t nd = 0;
	struct err e;
	int rc;

	if (op_post(&x, r, &w, &f, &rc) || op_store(&x, &st, &rc))
		goto out;
	err_clear(&e);
	code = web_form_get(&f, "code");
	name = web_form_get(&f, "name");
	nd = op_lines(web_form_get(&f, "domains"), doms, OP_DOMAINS_MAX);
	ra_org_change_init(&ch);
	ch.domains.v = (const char *const *)doms;
	ch.domains.n = nd;
	ch.domains.set = 1;
	op_actor(&w, actor);
	if (ra_org_add(st, code != NULL ? code : "", name != NULL ? name : "", &ch, actor, &e) ==
	    -1) {
		rc = op_user_error(&e) ? op_orgs_page(&x, &w, st, &f, e.msg, 400)
				       : web_error(&x, &e);
		goto out;
	}
	rc = web_redirect(&x, "/operator/orgs");
out:
	op_lines_free(doms, nd);
	web_form_free(&f);
	return rc;
}

/* The edit page of organization code (status, error may be NULL). */
static int
op_org_edit_page(struct web_ctx *x, const struct console_who *w, struct store *st, const char *code,
		 const char *error, int status)
{
	struct tmpl_data *d = NULL, *it;
	struct store_org o;
	struct err e;
	size_t i;
	int rc;

	err_clear(&e);
	if (ra_org_detail(st, code, &o, &e) == -1) {
		if (e.code != ERR_NOTFOUND)
			return web_error(x, &e);
		return op_message(x, w, 404, N_("Organizations"),
				  i18n_get(x->lang, N_("No such organization.")), "/operator/orgs");
	}
	d = console_data(x, w, N_("Edit an organization"));
	tmpl_data_str(d, "org_code", o.code);
	tmpl_data_str(d, "org_name", o.name);
	for (i = 0; i < o.ndomains; i++) {
		it = tmpl_data_add(d, "domains");
		tmpl_data_str(it, "domain", o.domains[i]);
	}
	if (error != NULL)
		tmpl_data_str(d, "error", error);
	rc = web_page(x, status, "console_op_org_edit", d);
	tmpl_data_free(d);
	store_org_clear(&o);
	return rc;
}

/* GET /operator/orgs/edit?code=CODE */
int
console_op_org_edit_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct store *st;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, OP_ROLES, 0, &w, &rc) || op_store(&x, &st, &rc))
		return rc;
	return op_org_edit_page(&x, &w, st, http_query(r, "code"), NULL, 200);
}

/*
 * POST /operator/orgs/edit: code and op — "name" (name), "add" (domains, one per line) or
 * "remove" (domain) — one audited change each.
 */
int
console_op_org_edit_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct console_who w;
	struct ra_org_change ch;
	struct store_org o;
	struct store *st;
	char *add[OP_DOMAINS_MAX], actor[48], loc[128];
	const char **list = NULL, *code, *op, *dom;
	size_t nadd = 0, n = 0, i;
	struct err e;
	int rc;

	memset(&o, 0, sizeof(o));
	if (op_post(&x, r, &w, &f, &rc) || op_store(&x, &st, &rc))
		goto out;
	err_clear(&e);
	code = web_form_get(&f, "code");
	op = web_form_get(&f, "op");
	if (ra_org_detail(st, code, &o, &e) == -1) {
		rc = e.code == ERR_NOTFOUND
			 ? op_message(&x, &w, 404, N_("Organizations"),
				      i18n_get(x.lang, N_("No such organization.")),
				      "/operator/orgs")
			 : web_error(&x, &e);
		goto out;
	}
	ra_org_change_init(&ch);
	if (op != NULL && strcmp(op, "name") == 0) {
		ch.name = web_form_get(&f, "name") != NULL ? web_form_get(&f, "name") : "";
	} else if (op != NULL && strcmp(op, "add") == 0) {
		nadd = op_lines(web_form_get(&f, "domains"), add, OP_DOMAINS_MAX);
		list = xcalloc(o.ndomains + nadd + 1, sizeof(*list));
		for (i = 0; i < o.ndomains; i++)
			list[n++] = o.domains[i];
		for (i = 0; i < nadd; i++)
			list[n++] = add[i];
	} else if (op != NULL && strcmp(op, "remove") == 0 &&
		   (dom = web_form_get(&f, "domain")) != NULL) {
		list = xcalloc(o.ndomains + 1, sizeof(*list));
		for (i = 0; i < o.ndomains; i++)
			if (strcmp(o.domains[i], dom) != 0)
				list[n++] = o.domains[i];
	} else {
		rc = op_org_edit_page(&x, &w, st, o.code,
				      i18n_get(x.lang, N_("The form could not be read")), 400);
		goto out;
	}
	if (list != NULL) {
		ch.domains.v = list;
		ch.domains.n = n;
		ch.domains.set = 1;
	}
	op_actor(&w, actor);
	if (ra_org_set(st, o.code, &ch, actor, &e) == -1) {
		rc = op_user_error(&e) ? op_org_edit_page(&x, &w, st, o.code, e.msg, 400)
				       : web_error(&x, &e);
		goto out;
	}
	snprintf(loc, sizeof(loc), "/operator/orgs/edit?code=%s", o.code);
	rc = web_redirect(&x, loc);
out:
	free(list);
	op_lines_free(add, nadd);
	store_org_clear(&o);
	web_form_free(&f);
	return rc;
}

/* ---- the OU allow-list ---- */

/* The allow-list page of organization code (NULL: only the choice), status, error. */
static int
op_allow_page(struct web_ctx *x, const struct console_who *w, struct store *st, const char *code,
	      const char *error, int status)
{
	struct tmpl_data *d = console_data(x, w, N_("OU allow-list")), *it;
	struct store_allow *v = NULL;
	struct store_org o;
	size_t n = 0, i;
	struct err e;
	int rc;

	err_clear(&e);
	memset(&o, 0, sizeof(o));
	if (code != NULL && code[0] == '\0')
		code = NULL;
	if (op_orgs_data(d, st, code, &e) == -1) {
		rc = web_error(x, &e);
		goto out;
	}
	if (code != NULL) {
		if (ra_org_detail(st, code, &o, &e) == -1 ||
		    ra_allow_list(st, code, &v, &n, &e) == -1) {
			if (e.code != ERR_NOTFOUND) {
				rc = web_error(x, &e);
				goto out;
			}
			error = i18n_get(x->lang, N_("No such organization."));
			status = 404;
		} else {
			tmpl_data_str(d, "org", o.code);
			tmpl_data_str(d, "org_name_shown", o.name);
			for (i = 0; i < o.ndomains; i++) {
				it = tmpl_data_add(d, "domains");
				tmpl_data_str(it, "domain", o.domains[i]);
			}
			for (i = 0; i < n; i++) {
				it = tmpl_data_add(d, "entries");
				tmpl_data_str(it, "domain", v[i].domain);
				tmpl_data_str(it, "ou", v[i].ou);
			}
		}
	}
	if (error != NULL)
		tmpl_data_str(d, "error", error);
	rc = web_page(x, status, "console_op_allowlist", d);
out:
	STORE_LIST_FREE(v, n, store_allow_clear);
	store_org_clear(&o);
	tmpl_data_free(d);
	return rc;
}

/* GET /operator/allowlist[?org=CODE] */
int
console_op_allowlist_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct store *st;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, OP_ROLES, 0, &w, &rc) || op_store(&x, &st, &rc))
		return rc;
	return op_allow_page(&x, &w, st, http_query(r, "org"), NULL, 200);
}

/* POST /operator/allowlist/add and /remove: org, domain, ou. */
static int
op_allow_post(struct http_req *r, int add)
{
	struct web_ctx x;
	struct web_form f;
	struct console_who w;
	struct store *st;
	const char *org, *dom, *ou;
	char actor[48], loc[128];
	struct err e;
	int rc;

	if (op_post(&x, r, &w, &f, &rc) || op_store(&x, &st, &rc))
		goto out;
	err_clear(&e);
	org = web_form_get(&f, "org");
	dom = web_form_get(&f, "domain");
	ou = web_form_get(&f, "ou");
	op_actor(&w, actor);
	if (org == NULL || strlen(org) > 64) {
		rc = op_allow_page(&x, &w, st, NULL, i18n_get(x.lang, N_("No such organization.")),
				   404);
		goto out;
	}
	if ((add ? ra_allow_add(st, org, dom, ou, actor, &e)
		 : ra_allow_remove(st, org, dom, ou, actor, &e)) == -1) {
		rc = op_user_error(&e) ? op_allow_page(&x, &w, st, org, e.msg, 400)
				       : web_error(&x, &e);
		goto out;
	}
	snprintf(loc, sizeof(loc), "/operator/allowlist?org=%s", org);
	rc = web_redirect(&x, loc);
out:
	web_form_free(&f);
	return rc;
}

int
console_op_allowlist_add_post(struct http_req *r)
{
	return op_allow_post(r, 1);
}

int
console_op_allowlist_remove_post(struct http_req *r)
{
	return op_allow_post(r, 0);
}

/*
 * GET /allowlist.tsv: the OU allow-list of the officer's organization as TSV (docs/console.md):
 * UTF-8, LF line ends, a header row "domain<TAB>OU", one entry a line by domain and OU (an
 * OU holds no control character, so no quoting).  Roles without an organization (operator,
 * auditor) name one with ?org=CODE; without it they get a page that links each
 * organization's file.
 */
int
console_allowlist_tsv_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct store_allow *v = NULL;
	struct store *st;
	struct buf out;
	const char *code, *hdrs[3];
	char disp[160];
	size_t n = 0, i;
	struct err e;
	int rc;

	web_ctx_init(&x, &console.site, r);
	buf_init(&out, 16 * 1024 * 1024);
	if (console_gate(&x, CONSOLE_ROLES_ALL, RA_PERM_SERVER, &w, &rc) || op_store(&x, &st, &rc))
		goto done;
	err_clear(&e);
	code = w.o.role == RA_ROLE_OFFICER ? w.o.org_code : http_query(r, "org");
	if (code == NULL || code[0] == '\0') {
		struct tmpl_data *d = console_data(&x, &w, N_("Allow-list bulk download"));

		if (op_orgs_data(d, st, NULL, &e) == -1)
			rc = web_error(&x, &e);
		else
			rc = web_page(&x, 200, "console_allowlist_pick", d);
		tmpl_data_free(d);
		goto done;
	}
	if (ra_allow_list(st, code, &v, &n, &e) == -1) {
		rc = e.code == ERR_NOTFOUND
			 ? op_message(&x, &w, 404, N_("Allow-list bulk download"),
				      i18n_get(x.lang, N_("No such organization.")),
				      "/allowlist.tsv")
			 : web_error(&x, &e);
		goto done;
	}
	buf_printf(&out, "domain\tOU\n");
	for (i = 0; i < n; i++)
		buf_printf(&out, "%s\t%s\n", v[i].domain, v[i].ou);
	if (buf_cstr(&out) == NULL) {
		err_set(&e, ERR_INTERNAL, "console: the allow-list is too large");
		rc = web_error(&x, &e);
		goto done;
	}
	snprintf(disp, sizeof(disp), "attachment; filename=\"allowlist-%s.tsv\"", code);
	hdrs[0] = "Content-Disposition";
	hdrs[1] = disp;
	hdrs[2] = NULL;
	rc = http_reply_hdrs(r, 200, "text/tab-separated-values; charset=utf-8", out.data, out.len,
			     hdrs);
done:
	STORE_LIST_FREE(v, n, store_allow_clear);
	buf_free(&out);
	return rc;
}
