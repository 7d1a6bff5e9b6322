/*
 * portal: start-up (templates, catalogs, CAPTCHA and mail settings, the portal secret: the
 * portal's struct web_site), the route table and the per-address rate limit.  The request
 * context, the session cookie, CSRF, sealed forms and rendering are src/web's.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "ca/ca.h"
#include "http/http.h"
#include "portal_int.h"
#include "ra/ra.h"

struct portal portal;

/* ---- start-up ---- */

/* Reads the 32-byte secret, or creates it (util_secret_file: O_EXCL, 0600). */
static int
portal_secret_load(const struct conf *c, struct err *e)
{
	char *path = conf_path(c, conf_get(c, "portal.secret_file", "keys/portal.key"));
	int rc = -1;

	rc = util_secret_file(path, portal.site.secret, WEB_SECRET_LEN, e);
	free(path);
	return rc;
}

/*
 * The keys the portal reads: portal_init and portal_site_init (top.c).  The CAPTCHA's keys
 * are captcha_conf_keys (src/web), the mail's mail_conf_keys.
 */
const char *const portal_conf_keys[] = {
    "portal.templates",
    "portal.po",
    "portal.step1_rate",
    "portal.revoke_rate",
    "portal.reissue_rate",
    "portal.captcha_rate",
    "portal.base_url",
    "portal.secret_file",
    "portal.key_pool",
    "portal.password_hashers",
    "portal.ticket_rate",
    "portal.contact_email",
    "portal.contact_text",
    "portal.contact_text_en",
    "portal.static",
    "test.instance",
    "test.clock_offset",
    "test.fault",
    NULL,
};

int
portal_init(struct ca *ca, const char *const *listen_addrs, size_t naddrs, struct err *e)
{
	const struct conf *c = &ca->conf;
	char *tdir = NULL, *pdir = NULL;
	const char *v;
	long rate;
	int test_allowed, rc = -1;

	memset(&portal, 0, sizeof(portal));
	portal.site.name = "portal";
	http_limiter_init(&portal.forms);
	http_limiter_init(&portal.captchas);
	if (sodium_init() < 0) {
		err_set(e, ERR_INTERNAL, "portal: libsodium did not initialise");
		goto out;
	}
	tdir = web_dir(c, "portal.templates", "templates");
	pdir = web_dir(c, "portal.po", "po");
	if (tmpl_set_load(&portal.site.tmpl, tdir, e) == -1 || i18n_load(pdir, e) == -1)
		goto out;
	if ((test_allowed = captcha_test_mode_allowed(c, listen_addrs, naddrs, e)) == -1 ||
	    captcha_conf_load(&portal.captcha, c, test_allowed, e) == -1)
		goto out;
	if (mail_conf_load(&portal.mail, c, ca->datadir, e) == -1 ||
	    mail_key_load(c, portal.mail.key, e) == -1) /* keys/: before the privilege drop */
		goto out;
	portal.mail.have_key = 1;
	if (conf_get_long(c, "portal.step1_rate", 10, 1, 1000000, &rate, e) == -1)
		goto out;
	portal.step1_rate = rate;
	if (conf_get_long(c, "portal.revoke_rate", 10, 1, 1000000, &rate, e) == -1)
		goto out;
	portal.revoke_rate = rate;
	if (conf_get_long(c, "portal.reissue_rate", 10, 1, 1000000, &rate, e) == -1)
		goto out;
	portal.reissue_rate = rate;
	/* each GET of a form page makes a CAPTCHA (a store row, a PNG): bounded per address */
	if (conf_get_long(c, "portal.captcha_rate", 60, 1, 1000000, &rate, e) == -1)
		goto out;
	portal.captcha_rate = rate;
	portal.base_url = xstrdup(conf_get(c, "portal.base_url", "https://localhost:8443"));
	if (strcmp(conf_get(c, "test.instance", "no"), "yes") == 0) {
		long off;

		if (conf_get_long(c, "test.clock_offset", 0, -100000000L, 100000000L, &off, e) ==
		    -1)
			goto out;
		if (off != 0) {
			util_clock_set_offset(off);
			log_warn("portal: TEST clock shifted by %ld seconds (test.clock_offset)",
				 off);
		}
		if ((v = conf_get(c, "test.fault", NULL)) != NULL) {
			portal.test_fault = xstrdup(v);
			log_warn("portal: TEST fault injected at %s (test.fault)", v);
		}
	}
	if (portal_secret_load(c, e) == -1 || portal_site_init(c, e) == -1)
		goto out;
	/* the web process (after the fork): CAPTCHA drawing and key making off the request path */
	if (conf_get_long(c, "portal.key_pool", 256, 0, 4096, &rate, e) == -1)
		goto out;
	if (captcha_pool_start(&portal.captcha, (size_t)portal.captcha.pool, e) == -1 ||
	    ra_start(ca, (size_t)rate, e) == -1)
		goto out;
	/* application passwords hashed while the confirm page is read (pwhash.c) */
	{
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN), hashers;

		if (conf_get_long(c, "portal.password_hashers",
				  ncpu < 1   ? 1
				  : ncpu > 4 ? 4
					     : ncpu,
				  0, 8, &hashers, e) == -1)
			goto out;
		if (hashers > 0 &&
		    pwhash_start(PORTAL_PWHASH_SLOTS, (unsigned)hashers, PORTAL_PW_OPSLIMIT,
				 PORTAL_PW_MEMLIMIT, PORTAL_FORM_TTL * 1000L, e) == -1)
			goto out;
	}
	rc = 0;
out:
	free(tdir);
	free(pdir);
	return rc;
}

/* The portal's pages on the HTTPS listener (handlers in the files named in portal.h). */
const struct http_route portal_http_routes[] = {
    {"GET", "/", portal_index_get, 0, HTTP_KIND_HTML, "index", 0, 0},
    {"GET", "/static/", web_static_get, 0, HTTP_KIND_PLAIN, "static", 0, 0},
    {"GET", "/regist/step1", portal_step1_get, 0, HTTP_KIND_HTML, "regist", 0, 0},
    {"POST", "/regist/step1", portal_step1_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "regist", 0, 0},
    {"GET", "/regist/confirm", portal_confirm_get, 0, HTTP_KIND_HTML, "regist", 0, 0},
    {"POST", "/regist/confirm", portal_confirm_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "regist", 0,
     0},
    {"GET", "/regist/verify", portal_verify_get, 0, HTTP_KIND_HTML, "regist", 0, 0},
    {"POST", "/regist/verify", portal_verify_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "regist", 0,
     0},
    {"GET", "/issue/form", portal_issue_form_get, 0, HTTP_KIND_HTML, "issue", 0, 0},
    {"POST", "/issue/form", portal_issue_form_post, PORTAL_ISSUE_BODY_MAX, HTTP_KIND_HTML, "issue",
     0, 0},
    {"POST", "/issue/confirm", portal_issue_confirm_post, PORTAL_ISSUE_BODY_MAX, HTTP_KIND_HTML,
     "issue", 0, 0},
    {"GET", "/issue/download", portal_issue_download_get, 0, HTTP_KIND_BINARY, "issue", 0, 0},
    {"GET", "/issue/deliver", portal_deliver_get, 0, HTTP_KIND_HTML, "issue", 0, 0},
    {"POST", "/issue/deliver", portal_deliver_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "issue", 0,
     0},
    {"GET", "/approve", portal_approve_get, 0, HTTP_KIND_HTML, "approve", 0, 0},
    {"POST", "/approve", portal_approve_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "approve", 0, 0},
    {"GET", "/policies/", portal_policy_get, 0, HTTP_KIND_HTML, "policy", 0, 0},
    {"POST", "/online/revoke", portal_online_revoke_post, RA_ONLINE_BODY_MAX, HTTP_KIND_API,
     "online", 0, 0},
    {"POST", "/online/status", portal_online_status_post, RA_ONLINE_BODY_MAX, HTTP_KIND_API,
     "online", 0, 0},
    {"GET", "/revoke/step1", portal_revoke_step1_get, 0, HTTP_KIND_HTML, "revoke", 0, 0},
    {"POST", "/revoke/step1", portal_revoke_step1_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "revoke",
     0, 0},
    {"GET", "/revoke/confirm", portal_revoke_step1_get, 0, HTTP_KIND_HTML, "revoke", 0, 0},
    {"POST", "/revoke/confirm", portal_revoke_confirm_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML,
     "revoke", 0, 0},
    {"GET", "/revoke/verify", portal_revoke_verify_get, 0, HTTP_KIND_HTML, "revoke", 0, 0},
    {"POST", "/revoke/verify", portal_revoke_verify_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML,
     "revoke", 0, 0},
    {"GET", "/reissue", portal_reissue_get, 0, HTTP_KIND_HTML, "reissue", 0, 0},
    {"POST", "/reissue", portal_reissue_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML, "reissue", 0, 0},
    {"POST", "/reissue/warn", portal_reissue_warn_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML,
     "reissue", 0, 0},
    {"POST", "/reissue/edit", portal_reissue_edit_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML,
     "reissue", 0, 0},
    {"POST", "/reissue/check", portal_reissue_check_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML,
     "reissue", 0, 0},
    {"POST", "/reissue/confirm", portal_reissue_confirm_post, WEB_FORM_BODY_MAX, HTTP_KIND_HTML,
     "reissue", 0, 0},
    {"GET", "/reissue/fetch", portal_reissue_fetch_get, 0, HTTP_KIND_HTML, "reissue", 0, 0},
    {"POST", "/reissue/fetch", portal_reissue_fetch_post, PORTAL_ISSUE_BODY_MAX, HTTP_KIND_HTML,
     "reissue", 0, 0},
    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
};

void
portal_fini(void)
{
	captcha_pool_stop();
	ra_stop();
	pwhash_stop();
	portal_site_fini();
	tmpl_set_free(portal.site.tmpl);
	mail_conf_clear(&portal.mail);
	free(portal.base_url);
	free(portal.test_fault);
	sodium_memzero(portal.site.secret, sizeof(portal.site.secret));
	memset(&portal, 0, sizeof(portal));
}

/* ---- rate limit ---- */

int
portal_rate_ok(struct http_req *r, long limit)
{
	return http_limit_ok(&portal.forms, r, limit);
}

/* GET /policies/obligations, /policies/privacy, /policies/acme-limits (acmelimits.c). */
int
portal_policy_get(struct http_req *r)
{
	struct web_ctx x;
	struct tmpl_data *d;
	int rc;

	web_ctx_init(&x, &portal.site, r);
	if (strcmp(r->url, "/policies/obligations") == 0) {
		d = web_data(&x, N_("User obligations"), -1);
		rc = web_page(&x, 200, "policy_obligations", d);
	} else if (strcmp(r->url, "/policies/privacy") == 0) {
		d = web_data(&x, N_("Privacy policy"), -1);
		portal_contact_add(&x, d);
		rc = web_page(&x, 200, "policy_privacy", d);
	} else if (strcmp(r->url, "/policies/acme-limits") == 0) {
		d = NULL;
		rc = portal_acme_limits(&x);
	} else {
		d = NULL;
		rc = web_notice(&x, 404, N_("Page not found"),
				N_("The page you requested does not exist."));
	}
	tmpl_data_free(d);
	return rc;
}
