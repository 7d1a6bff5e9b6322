/*
 * pages: the console's menu and the pages that need no RA rule of their own (the timestamp
 * URL page).  The menu lists the manual's interfaces that exist, each only for the roles and
 * permissions its route enforces (the same table).
 */
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
    {"/bulk?kind=server", N_("Server certificates: bulk upload (TSV)"), 1u << RA_ROLE_OFFICER,
     RA_PERM_SERVER},
    {"/bulk?kind=client", N_("Client certificates: bulk upload (TSV)"), 1u << RA_ROLE_OFFICER,
     RA_PERM_CLIENT},
    {"/timestamp", N_("Timestamp URL"), CONSOLE_ROLES_ALL, 0},
    {"/operator/officers", N_("Officers"), 1u << RA_ROLE_OPERATOR, 0},
    {"/operator/orgs", N_("Organizations"), 1u << RA_ROLE_OPERATOR, 0},
    {"/operator/allowlist", N_("OU allow-list"), 1u << RA_ROLE_OPERATOR, 0},
    {"/allowlist.tsv", N_("Allow-list bulk download"), CONSOLE_ROLES_ALL, RA_PERM_SERVER},
    {"/stats", N_("Issued-certificate statistics"), CONSOLE_ROLES_ALL, RA_PERM_STATS},
    {"/audit", N_("Audit log"), (1u << RA_ROLE_OPERATOR) | (1u << RA_ROLE_AUDITOR), 0},
};

/* GET /: the menu (or, before login, the login page or the refusal). */
int
console_index_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct tmpl_data *d, *it;
	size_t i;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, CONSOLE_ROLES_ALL, 0, &w, &rc))
		return rc;
	d = console_data(&x, &w, N_("Menu"));
	for (i = 0; i < sizeof(console_menu) / sizeof(console_menu[0]); i++) {
		if ((console_menu[i].roles & (1u << w.o.role)) == 0 ||
		    (console_menu[i].perms != 0 && w.o.role == RA_ROLE_OFFICER &&
		     (w.o.perms & console_menu[i].perms) == 0))
			continue;
		it = tmpl_data_add(d, "items");
		tmpl_data_str(it, "path", console_menu[i].path);
		tmpl_data_str(it, "label", i18n_get(x.lang, console_menu[i].msgid));
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
