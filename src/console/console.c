/*
 * console: start-up of the RA officers' face (its templates, its own secret and session
 * cookie, the officer CA's certificate that the TLS request names, the TSA's chain) and its
 * route table on the console listener.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <sodium.h>

#include "console_int.h"

struct console console;

/* PEM of the certificates given, in order (NULLs skipped); caller frees. */
static char *
console_pem(X509 *const *v, size_t n, struct err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out = NULL;
	long len;
	size_t i;

	if (b == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (v[i] != NULL && !PEM_write_bio_X509(b, v[i]))
			goto out;
	len = BIO_get_mem_data(b, &p);
	out = xstrndup(p, (size_t)len);
out:
	if (out == NULL)
		err_set(e, ERR_INTERNAL, "console: cannot write PEM certificates");
	BIO_free(b);
	return out;
}

/*
 * The public pages' site (console.pub): the console's templates, a cookie of its own, and
 * the secret HMAC-SHA-256(console secret, CONSOLE_PUB_LABEL): one-way, so the public pages'
 * tokens and MACs tell nothing of the console's.
 */
#define CONSOLE_PUB_LABEL "shomei console public pages secret v1"
static void
console_pub_init(void)
{
	static const char label[] = CONSOLE_PUB_LABEL;

	console.pub.name = "console-public";
	console.pub.layout = console.site.layout;
	console.pub.cookie = "__Host-console-pub";
	console.pub.tmpl = console.site.tmpl;
	if (crypto_auth_hmacsha256(console.pub.secret, (const unsigned char *)label,
				   sizeof(label) - 1, console.site.secret) != 0)
		fatalx("console: HMAC-SHA-256 failed");
}

int
console_init(struct ca *ca, struct err *e)
{
	const struct conf *c = &ca->conf;
	char *tdir = NULL, *kpath = NULL;
	int rc = -1;

	memset(&console, 0, sizeof(console));
	console.site.name = "console";
	console.site.layout = "console_layout";
	console.site.cookie = "__Host-console";
	if (sodium_init() < 0) {
		err_set(e, ERR_INTERNAL, "console: libsodium did not initialise");
		goto out;
	}
	if (conf_get_long(c, "console.idle_timeout", RA_OSESS_IDLE_DEFAULT, 60, 86400,
			  &console.idle_s, e) == -1)
		goto out;
	/* tests watch a bulk job under way and kill the web process in its middle */
	if (conf_get_long(c, "test.bulk_line_delay_ms", 0, 0, 1000, &console.bulk_delay_ms, e) ==
	    -1)
		goto out;
	if (console.bulk_delay_ms > 0)
		log_warn(
		    "console: TEST bulk jobs slowed by %ld ms a line (test.bulk_line_delay_ms)",
		    console.bulk_delay_ms);
	tdir = web_dir(c, "portal.templates", "templates");
	if (tmpl_set_load(&console.site.tmpl, tdir, e) == -1)
		goto out;
	/* a secret of its own: the portal's CSRF tokens and sealed forms are worth nothing here */
	kpath = conf_path(c, conf_get(c, "console.secret_file", "keys/console.key"));
	if (util_secret_file(kpath, console.site.secret, sizeof(console.site.secret), e) == -1)
		goto out;
	console_pub_init();
	{
		/* officer certificates of the current issuing CA, and of earlier ones during a
		 * CA switch; the TSA certificate's own issuer (it may be an earlier one) */
		X509 *officer_ca[1 + CA_PREV_MAX];
		const struct ca_issuing *ti =
		    ca->tsa_cert != NULL ? ca_issuing_of(ca, ca->tsa_cert) : NULL;
		X509 *tsa[] = {ca->tsa_cert, ti != NULL ? ti->cert : ca->cert, ca->root};
		size_t i;

		for (i = 0; i < ca->ncas; i++)
			officer_ca[i] = ca->cas[i].cert;
		if ((console.client_ca_pem = console_pem(officer_ca, ca->ncas, e)) == NULL ||
		    (console.tsa_chain_pem = console_pem(tsa, ca->tsa_cert != NULL ? 3 : 0, e)) ==
			NULL)
			goto out;
	}
	console.tsa_url = xasprintf("%s/tsa", ca->base_url);
	/* the officers' ACME enrolment seals HMAC keys under keys/acme.key: before the drop */
	console.acme_on = strcmp(conf_get(c, "acme.enabled", "no"), "yes") == 0;
	if (console.acme_on && ra_acme_keys_load(c, &console.acme_keys, e) == -1)
		goto out;
	/* reads the mail queue's key: before the privilege drop */
	if (console_mail_init(&console.mail, ca, e) == -1)
		goto out;
	rc = 0;
out:
	free(tdir);
	free(kpath);
	return rc;
}

const char *
console_client_ca_pem(void)
{
	return console.client_ca_pem;
}

void
console_fini(void)
{
	tmpl_set_free(console.site.tmpl);
	free(console.client_ca_pem);
	free(console.tsa_chain_pem);
	free(console.tsa_url);
	console_mail_clear(&console.mail);
	ra_acme_keys_wipe(&console.acme_keys);
	sodium_memzero(console.site.secret, sizeof(console.site.secret));
	sodium_memzero(console.pub.secret, sizeof(console.pub.secret)); /* its tmpl: the site's */
	memset(&console, 0, sizeof(console));
}

/* The console's pages, on the console listener (which asks for a client certificate). */
const struct http_route console_http_routes[] = {
    {"GET", "/", console_index_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"GET", "/static/", web_static_get, 0, HTTP_KIND_PLAIN, "static", 0, 0},
    {"POST", "/login", console_login_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "console", 0, 0},
    {"POST", "/logout", console_logout_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "console", 0, 0},
    {"GET", "/timestamp", console_timestamp_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"GET", "/timestamp/chain.pem", console_timestamp_chain_get, 0, HTTP_KIND_PLAIN, "console", 0,
     0},
    {"GET", "/certs", console_certs_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"GET", "/certs/new", console_cert_new_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"POST", "/certs/new", console_cert_new_post, 80 * 1024, HTTP_KIND_HTML, "console", 0, 0},
    {"GET", "/certs/view", console_cert_view_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"POST", "/certs/revoke", console_cert_revoke_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML,
     "console", 0, 0},
    {"GET", "/certs/revoke-all", console_revoke_all_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"POST", "/certs/revoke-all", console_revoke_all_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML,
     "console", 0, 0},
    {"GET", "/operator/officers", console_op_officers_get, 0, HTTP_KIND_HTML, "operator", 0, 0},
    {"GET", "/operator/officers/add", console_op_officer_add_get, 0, HTTP_KIND_HTML, "operator", 0,
     0},
    {"POST", "/operator/officers/add", console_op_officer_add_post, WEB_FORM_BODY_MAX,
     HTTP_KIND_HTML, "operator", 0, 0},
    {"POST", "/operator/officers/status", console_op_officer_status_post, WEB_FORM_BODY_MAX,
     HTTP_KIND_HTML, "operator", 0, 0},
    {"POST", "/operator/officers/perms", console_op_officer_perms_post, WEB_FORM_BODY_MAX,
     HTTP_KIND_HTML, "operator", 0, 0},
    {"POST", "/operator/officers/reenrol", console_op_officer_reenrol_post, WEB_FORM_BODY_MAX,
     HTTP_KIND_HTML, "operator", 0, 0},
    {"GET", "/operator/orgs", console_op_orgs_get, 0, HTTP_KIND_HTML, "operator", 0, 0},
    {"POST", "/operator/orgs/add", console_op_org_add_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML,
     "operator", 0, 0},
    {"GET", "/operator/orgs/edit", console_op_org_edit_get, 0, HTTP_KIND_HTML, "operator", 0, 0},
    {"POST", "/operator/orgs/edit", console_op_org_edit_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML,
     "operator", 0, 0},
    {"GET", "/operator/allowlist", console_op_allowlist_get, 0, HTTP_KIND_HTML, "operator", 0, 0},
    {"POST", "/operator/allowlist/add", console_op_allowlist_add_post, WEB_FORM_BODY_MAX,
     HTTP_KIND_HTML, "operator", 0, 0},
    {"POST", "/operator/allowlist/remove", console_op_allowlist_remove_post, WEB_FORM_BODY_MAX,
     HTTP_KIND_HTML, "operator", 0, 0},
    {"GET", "/allowlist.tsv", console_allowlist_tsv_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"GET", "/stats", console_stats_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"GET", "/stats.tsv", console_stats_tsv_get, 0, HTTP_KIND_PLAIN, "console", 0, 0},
    {"GET", "/audit", console_audit_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"POST", "/audit/verify", console_audit_verify_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML,
     "console", 0, 0},
    {"GET", "/download", console_download_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"GET", "/admins", console_admins_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"POST", "/admins/rename", console_admins_rename_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML,
     "console", 0, 0},
    {"POST", "/admins/tsv", console_admins_tsv_post, 4 * 1024 * 1024 + 64 * 1024, HTTP_KIND_HTML,
     "console", 0, 0},
    {"POST", "/certs/admin", console_cert_admin_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "console",
     0, 0},
    {"GET", "/eab", console_eab_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"POST", "/eab/create", console_eab_create_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "console",
     0, 0},
    {"POST", "/eab/status", console_eab_status_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "console",
     0, 0},
    /* bulk TSV: a file of up to 32 MiB, its base64 in the commit form (bulk.c) */
    {"GET", "/bulk", console_bulk_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"POST", "/bulk", console_bulk_post, 33 * 1024 * 1024, HTTP_KIND_HTML, "console", 0, 0},
    {"POST", "/bulk/commit", console_bulk_commit_post, 44 * 1024 * 1024, HTTP_KIND_HTML, "console",
     0, 0},
    {"GET", "/bulk/job", console_bulk_job_get, 0, HTTP_KIND_HTML, "console", 0, 0},
    {"POST", "/bulk/job/keys", console_bulk_keys_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "console",
     0, 0},
    {"POST", "/bulk/result.tsv", console_bulk_result_post, 8 * 1024 * 1024, HTTP_KIND_BINARY,
     "console", 0, 0},
    {"GET", "/officer/renew/", console_renew_get, 0, HTTP_KIND_HTML, "officer", 0, 1},
    {"POST", "/officer/renew/", console_renew_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "officer", 0,
     1},
    {"POST", "/officer/download", console_download_post, WEB_FORM_BODY_MAX, HTTP_KIND_BINARY,
     "officer", 0, 0},
    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
};

/*
 * The officer's certificate URL on the public HTTPS listener (which asks for no client
 * certificate), and its one download; the user administrator's and holders' URLs.
 */
const struct http_route console_public_routes[] = {
    {"GET", "/officer/enrol/", console_enrol_get, 0, HTTP_KIND_HTML, "officer", 0, 1},
    {"POST", "/officer/enrol/", console_enrol_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "officer", 0,
     1},
    {"POST", "/officer/download", console_pub_download_post, WEB_FORM_BODY_MAX, HTTP_KIND_BINARY,
     "officer", 0, 0},
    {"GET", "/cert/", console_dl_get, 0, HTTP_KIND_HTML, "cert", 0, 1},
    {"POST", "/cert/", console_dl_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "cert", 0, 1},
    {"GET", "/client/", console_client_get, 0, HTTP_KIND_HTML, "client", 0, 1},
    {"POST", "/client/", console_client_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "client", 0, 1},
    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
};

#define ACC_ANY "roles=officer,operator,auditor"
#define ACC_CERTS "roles=officer perms=server|client|codesign"
#define BULK_SERVER "kind=server&op=issue&dialect=native&mode=all_or_nothing"
#define BULK_CLIENT "kind=client&op=issue&dialect=native&mode=all_or_nothing"
#define BULK_ACME "kind=acme&op=create&dialect=upki&mode=all_or_nothing"

/* What each route's gate asks for (console.h); keep it beside console_http_routes. */
const struct console_route_access console_route_access[] = {
    {"GET", "/", "", ACC_ANY},
    {"GET", "/static/", "", "public"},
    {"POST", "/login", "", "certificate"},
    {"POST", "/logout", "", "public"},
    {"GET", "/timestamp", "", ACC_ANY},
    {"GET", "/timestamp/chain.pem", "", ACC_ANY},
    {"GET", "/certs", "kind=server", "roles=officer perms=server"},
    {"GET", "/certs", "kind=client", "roles=officer perms=client"},
    {"GET", "/certs", "kind=codesign", "roles=officer perms=codesign"},
    {"GET", "/certs/new", "kind=server", "roles=officer perms=server"},
    {"GET", "/certs/new", "kind=client", "roles=officer perms=client"},
    {"GET", "/certs/new", "kind=codesign", "roles=officer perms=codesign"},
    {"POST", "/certs/new", "kind=server", "roles=officer perms=server"},
    {"POST", "/certs/new", "kind=client", "roles=officer perms=client"},
    {"POST", "/certs/new", "kind=codesign", "roles=officer perms=codesign"},
    {"GET", "/certs/view", "", ACC_CERTS},
    {"POST", "/certs/revoke", "", ACC_CERTS},
    {"GET", "/operator/officers", "", "roles=operator"},
    {"GET", "/operator/officers/add", "", "roles=operator"},
    {"POST", "/operator/officers/add", "", "roles=operator"},
    {"POST", "/operator/officers/status", "", "roles=operator"},
    {"POST", "/operator/officers/perms", "", "roles=operator"},
    {"POST", "/operator/officers/reenrol", "", "roles=operator"},
    {"GET", "/operator/orgs", "", "roles=operator"},
    {"POST", "/operator/orgs/add", "", "roles=operator"},
    {"GET", "/operator/orgs/edit", "", "roles=operator"},
    {"POST", "/operator/orgs/edit", "", "roles=operator"},
    {"GET", "/operator/allowlist", "", "roles=operator"},
    {"POST", "/operator/allowlist/add", "", "roles=operator"},
    {"POST", "/operator/allowlist/remove", "", "roles=operator"},
    {"GET", "/allowlist.tsv", "", ACC_ANY " perms=server"},
    {"GET", "/stats", "", ACC_ANY " perms=stats"},
    {"GET", "/stats.tsv", "", ACC_ANY " perms=stats"},
    {"GET", "/audit", "", "roles=operator,auditor"},
    {"POST", "/audit/verify", "", "roles=operator,auditor"},
    {"GET", "/download", "kind=server", "roles=officer perms=server"},
    {"GET", "/download", "kind=client", "roles=officer perms=client"},
    {"GET", "/download", "kind=codesign", "roles=officer perms=codesign"},
    {"GET", "/download", "kind=all", ACC_CERTS},
    {"GET", "/admins", "", ACC_CERTS},
    {"POST", "/admins/rename", "", ACC_CERTS},
    {"POST", "/admins/tsv", "", ACC_CERTS},
    {"POST", "/certs/admin", "", ACC_CERTS},
    {"GET", "/bulk", "kind=server", "roles=officer perms=server"},
    {"GET", "/bulk", "kind=client", "roles=officer perms=client"},
    {"GET", "/bulk", "kind=acme", "roles=officer perms=acme"},
    {"POST", "/bulk", BULK_SERVER, "roles=officer perms=server"},
    {"POST", "/bulk", BULK_CLIENT, "roles=officer perms=client"},
    {"POST", "/bulk", BULK_ACME, "roles=officer perms=acme"},
    {"POST", "/bulk/commit", BULK_SERVER, "roles=officer perms=server"},
    {"POST", "/bulk/commit", BULK_CLIENT, "roles=officer perms=client"},
    {"POST", "/bulk/commit", BULK_ACME, "roles=officer perms=acme"},
    {"GET", "/bulk/job", "", "roles=officer perms=server|client|acme"},
    {"POST", "/bulk/job/keys", "", "roles=officer perms=server|client|acme"},
    {"GET", "/certs/revoke-all", "kind=server", "roles=officer perms=server"},
    {"GET", "/certs/revoke-all", "kind=client", "roles=officer perms=client"},
    {"GET", "/certs/revoke-all", "kind=codesign", "roles=officer perms=codesign"},
    {"POST", "/certs/revoke-all", "kind=server", "roles=officer perms=server"},
    {"POST", "/certs/revoke-all", "kind=client", "roles=officer perms=client"},
    {"POST", "/certs/revoke-all", "kind=codesign", "roles=officer perms=codesign"},
    {"POST", "/bulk/result.tsv", "", "roles=officer perms=server|client|acme"},
    {"GET", "/eab", "", "roles=officer perms=acme"},
    {"POST", "/eab/create", "", "roles=officer perms=acme"},
    {"POST", "/eab/status", "", "roles=officer perms=acme"},
    {"GET", "/officer/renew/", "", "certificate"},
    {"POST", "/officer/renew/", "", "certificate"},
    {"POST", "/officer/download", "", "public"},
    {NULL, NULL, NULL, NULL},
};
