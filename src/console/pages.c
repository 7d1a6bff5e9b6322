/*
 * pages: the console's menu and the pages that need no RA rule of their own (the timestamp
 * URL page).  The menu lists the manual's interfaces that exist, each only for the roles and
 * permissions its route enforces (the same table).
 */
#include <inttypes.h>
#include <string.h>

#include "console_int.h"

/* The menu: what each entry needs is what its route's gate asks for. */
static const struct {
	const char *path, *msgid;
	unsigned roles, perms;
} console_menu[] = {
    {"/certs?kind=server", N_("Server certificates: issue, renew, revoke"), 1u << RA_ROLE_OFFICER,
     RA_PERM_SERVER},
    {"/certs?kind=client", N_("Client certificates: issue, renew, revoke"), 1u << RA_ROLE_OFFICER,
     RA_PERM_CLIENT},
    {"/certs?kind=codesign", N_("Code-signing certificates: issue, renew, revoke"),
     1u << RA_ROLE_OFFICER, RA_PERM_CODESIGN},
    {"/download?kind=server", N_("Server certificates: bulk download"), 1u << RA_ROLE_OFFICER,
     RA_PERM_SERVER},
    {"/download?kind=client", N_("Client certificates: bulk download"), 1u << RA_ROLE_OFFICER,
     RA_PERM_CLIENT},
    {"/download?kind=codesign", N_("Code-signing certificates: bulk download"),
     1u << RA_ROLE_OFFICER, RA_PERM_CODESIGN},
    {"/download?kind=all", N_("All certificates: bulk download"), 1u << RA_ROLE_OFFICER,
     RA_PERM_SERVER | RA_PERM_CLIENT | RA_PERM_CODESIGN},
    {"/admins", N_("User-administrator information: update"), 1u << RA_ROLE_OFFICER,
     RA_PERM_SERVER | RA_PERM_CLIENT | RA_PERM_CODESIGN},
    {"/bulk?kind=server", N_("Server certificates: bulk upload (TSV)"), 1u << RA_ROLE_OFFICER,
     RA_PERM_SERVER},
    {"/bulk?kind=client", N_("Client certificates: bulk upload (TSV)"), 1u << RA_ROLE_OFFICER,
     RA_PERM_CLIENT},
    {"/eab", N_("ACME enrolment: External Account Bindings"), 1u << RA_ROLE_OFFICER, RA_PERM_ACME},
    {"/bulk?kind=acme", N_("ACME enrolment: bulk upload (TSV)"), 1u << RA_ROLE_OFFICER,
     RA_PERM_ACME},
    {"/timestamp", N_("Timestamp URL"), CONSOLE_ROLES_ALL, 0},
    {"/operator/officers", N_("Officers"), 1u << RA_ROLE_OPERATOR, 0},
    {"/operator/orgs", N_("Organizations"), 1u << RA_ROLE_OPERATOR, 0},
    {"/operator/allowlist", N_("OU allow-list"), 1u << RA_ROLE_OPERATOR, 0},
    {"/allowlist.tsv", N_("Allow-list bulk download"), CONSOLE_ROLES_ALL, RA_PERM_SERVER},
    {"/stats", N_("Issued-certificate statistics"), CONSOLE_ROLES_ALL, RA_PERM_STATS},
    {"/audit", N_("Audit log"), (1u << RA_ROLE_OPERATOR) | (1u << RA_ROLE_AUDITOR), 0},
};

/* What expires within 30 days, per kind the officer may see (the list "expiring" of d). */
static int
console_expiring_add(struct web_ctx *x, const struct console_who *w, struct tmpl_data *d,
		     struct store *st, enum ra_ocert_kind k, struct err *e)
{
	static const char *const label[RA_OCERT__MAX] = {
	    [RA_OCERT_SERVER] = N_("Server certificates"),
	    [RA_OCERT_CLIENT] = N_("Client certificates"),
	    [RA_OCERT_CODESIGN] = N_("Code-signing certificates"),
	};
	struct ra_cert_filter f;
	struct tmpl_data *it;
	char buf[64];
	int64_t n = 0;

	ra_cert_filter_init(&f);
	f.profile = ra_ocert_kind_names[k];
	f.status = RA_CERT_VALID;
	f.expiring_before = util_now() + 30 * 86400L;
	if (ra_cert_count(x->ca, st, w->o.org_id, &f, &n, e) == -1)
		return -1;
	if (n == 0)
		return 0;
	it = tmpl_data_add(d, "expiring");
	tmpl_data_str(it, "label", i18n_get(x->lang, label[k]));
	snprintf(buf, sizeof(buf), "%" PRId64, n);
	tmpl_data_str(it, "count", buf);
	snprintf(buf, sizeof(buf), "/certs?kind=%s&status=valid&days=30", ra_ocert_kind_names[k]);
	tmpl_data_str(it, "path", buf);
	return 0;
}

/* The menu's note of the organization's certificates that expire within 30 days. */
static int
console_expiring(struct web_ctx *x, const struct console_who *w, struct tmpl_data *d)
{
	struct store *st;
	struct err e;
	int k;

	err_clear(&e);
	if ((st = ca_thread_store(x->ca, &e)) == NULL)
		return -1;
	for (k = 0; k < RA_OCERT__MAX; k++)
		if ((w->o.perms & ra_ocert_perm((enum ra_ocert_kind)k)) != 0 &&
		    console_expiring_add(x, w, d, st, (enum ra_ocert_kind)k, &e) == -1)
			return -1;
	return 0;
}

/* GET /: the menu (or, before login, the login page or the refusal). */
int
console_index_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct tmpl_data *d, *it;
	struct err e;
	size_t i;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, CONSOLE_ROLES_ALL, 0, &w, &rc))
		return rc;
	err_clear(&e);
	err_set(&e, ERR_INTERNAL, "console: the menu's expiry note failed");
	d = console_data(&x, &w, N_("Menu"));
	for (i = 0; i < sizeof(console_menu) / sizeof(console_menu[0]); i++) {
		if ((console_menu[i].roles & (1u << w.o.role)) == 0 ||
		    (console_menu[i].perms != 0 && w.o.role == RA_ROLE_OFFICER &&
		     (w.o.perms & console_menu[i].perms) == 0) ||
		    (console_menu[i].perms == RA_PERM_ACME && !console.acme_on))
			continue;
		it = tmpl_data_add(d, "items");
		tmpl_data_str(it, "path", console_menu[i].path);
		tmpl_data_str(it, "label", i18n_get(x.lang, console_menu[i].msgid));
	}
	if (w.o.role == RA_ROLE_OFFICER && console_expiring(&x, &w, d) == -1) {
		tmpl_data_free(d);
		return web_error(&x, &e);
	}
	rc = web_page(&x, 200, "console_menu", d);
	tmpl_data_free(d);
	return rc;
}

/* GET /timestamp: the TSA's URL, its chain and how to use it. */
int
console_timestamp_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct tmpl_data *d;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, CONSOLE_ROLES_ALL, 0, &w, &rc))
		return rc;
	d = console_data(&x, &w, N_("Timestamp URL"));
	tmpl_data_str(d, "tsa_url", console.tsa_url);
	tmpl_data_str(d, "chain", console.tsa_chain_pem);
	rc = web_page(&x, 200, "console_timestamp", d);
	tmpl_data_free(d);
	return rc;
}

/* GET /timestamp/chain.pem: the same chain as a file. */
int
console_timestamp_chain_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, CONSOLE_ROLES_ALL, 0, &w, &rc))
		return rc;
	return http_reply(r, 200, "application/x-pem-file", console.tsa_chain_pem,
			  strlen(console.tsa_chain_pem));
}
