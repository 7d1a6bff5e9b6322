/*
 * portal: what every portal page shares — start-up (templates, catalogs, CAPTCHA and mail
 * settings, the portal secret), the page language, the session cookie and CSRF token, the
 * per-address rate limit, and rendering a page with its headers.
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

/* DIR as configured, else ../NAME beside the binary, else NAME in the working directory. */
char *
portal_dir(const struct conf *c, const char *key, const char *name)
{
	const char *v = conf_get(c, key, NULL);
	char exe[PATH_MAX];
	ssize_t n;

	if (v != NULL)
		return conf_path(c, v);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *d, *p;

		exe[n] = '\0';
		d = dirname(exe);
		p = xasprintf("%s/../%s", d, name);
		if (util_file_exists(p))
			return p;
		free(p);
	}
	return xstrdup(name);
}

/* Reads the 32-byte secret, or creates it (O_EXCL: two starting processes agree on one). */
static int
portal_secret_load(const struct conf *c, struct err *e)
{
	char *path = conf_path(c, conf_get(c, "portal.secret_file", "keys/portal.key"));
	unsigned char k[PORTAL_SECRET_LEN];
	int fd = -1, rc = -1, tries;

	util_random(k, sizeof(k));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) != -1) {
		if (write(fd, k, sizeof(k)) != (ssize_t)sizeof(k) || fsync(fd) == -1) {
			err_set(e, ERR_INTERNAL, "portal: %s: %s", path, strerror(errno));
			goto out;
		}
		memcpy(portal.secret, k, sizeof(k));
		rc = 0;
		goto out;
	}
	if (errno != EEXIST) {
		err_set(e, ERR_INTERNAL, "portal: %s: %s", path, strerror(errno));
		goto out;
	}
	for (tries = 0; tries < 50; tries++) {
		struct buf b;

		buf_init(&b, 1024);
		if (util_read_file(path, 1024, &b, e) == -1) {
			buf_free(&b);
			goto out;
		}
		if (b.len == PORTAL_SECRET_LEN) {
			memcpy(portal.secret, b.data, PORTAL_SECRET_LEN);
			buf_free(&b);
			rc = 0;
			goto out;
		}
		buf_free(&b);
		usleep(20000); /* another process is writing it */
	}
	err_set(e, ERR_INTERNAL, "portal: %s: not a %d-byte secret", path, PORTAL_SECRET_LEN);
out:
	sodium_memzero(k, sizeof(k));
	if (fd != -1)
		close(fd);
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
	pthread_mutex_init(&portal.rl_lock, NULL);
	if (sodium_init() < 0) {
		err_set(e, ERR_INTERNAL, "portal: libsodium did not initialise");
		goto out;
	}
	tdir = portal_dir(c, "portal.templates", "templates");
	pdir = portal_dir(c, "portal.po", "po");
	if (tmpl_set_load(&portal.tmpl, tdir, e) == -1 || i18n_load(pdir, e) == -1)
		goto out;
	if ((test_allowed = captcha_test_mode_allowed(c, listen_addrs, naddrs, e)) == -1 ||
	    captcha_conf_load(&portal.captcha, c, test_allowed, e) == -1)
		goto out;
	if (mail_conf_load(&portal.mail, c, ca->datadir, e) == -1)
		goto out;
	if (conf_get_long(c, "portal.step1_rate", 10, 1, 1000000, &rate, e) == -1)
		goto out;
	portal.step1_rate = rate;
	if (conf_get_long(c, "portal.revoke_rate", 10, 1, 1000000, &rate, e) == -1)
		goto out;
	portal.revoke_rate = rate;
	if (conf_get_long(c, "portal.reissue_rate", 10, 1, 1000000, &rate, e) == -1)
		goto out;
	portal.reissue_rate = rate;
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
    {"GET", "/", portal_index_get, 0, HTTP_KIND_HTML, "index"},
    {"GET", "/static/", portal_static_get, 0, HTTP_KIND_PLAIN, "static"},
    {"GET", "/regist/step1", portal_step1_get, 0, HTTP_KIND_HTML, "regist"},
    {"POST", "/regist/step1", portal_step1_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML, "regist"},
    {"GET", "/regist/confirm", portal_confirm_get, 0, HTTP_KIND_HTML, "regist"},
    {"POST", "/regist/confirm", portal_confirm_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML,
     "regist"},
    {"GET", "/regist/verify", portal_verify_get, 0, HTTP_KIND_HTML, "regist"},
    {"POST", "/regist/verify", portal_verify_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML, "regist"},
    {"GET", "/issue/form", portal_issue_form_get, 0, HTTP_KIND_HTML, "issue"},
    {"POST", "/issue/form", portal_issue_form_post, PORTAL_ISSUE_BODY_MAX, HTTP_KIND_HTML, "issue"},
    {"POST", "/issue/confirm", portal_issue_confirm_post, PORTAL_ISSUE_BODY_MAX, HTTP_KIND_HTML,
     "issue"},
    {"GET", "/issue/download", portal_issue_download_get, 0, HTTP_KIND_BINARY, "issue"},
    {"GET", "/issue/deliver", portal_deliver_get, 0, HTTP_KIND_HTML, "issue"},
    {"POST", "/issue/deliver", portal_deliver_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML, "issue"},
    {"GET", "/approve", portal_approve_get, 0, HTTP_KIND_HTML, "approve"},
    {"POST", "/approve", portal_approve_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML, "approve"},
    {"GET", "/policies/", portal_policy_get, 0, HTTP_KIND_HTML, "policy"},
    {"POST", "/online/revoke", portal_online_revoke_post, RA_ONLINE_BODY_MAX, HTTP_KIND_API,
     "online"},
    {"POST", "/online/status", portal_online_status_post, RA_ONLINE_BODY_MAX, HTTP_KIND_API,
     "online"},
    {"GET", "/revoke/step1", portal_revoke_step1_get, 0, HTTP_KIND_HTML, "revoke"},
    {"POST", "/revoke/step1", portal_revoke_step1_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML,
     "revoke"},
    {"GET", "/revoke/confirm", portal_revoke_step1_get, 0, HTTP_KIND_HTML, "revoke"},
    {"POST", "/revoke/confirm", portal_revoke_confirm_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML,
     "revoke"},
    {"GET", "/revoke/verify", portal_revoke_verify_get, 0, HTTP_KIND_HTML, "revoke"},
    {"POST", "/revoke/verify", portal_revoke_verify_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML,
     "revoke"},
    {"GET", "/reissue", portal_reissue_get, 0, HTTP_KIND_HTML, "reissue"},
    {"POST", "/reissue", portal_reissue_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML, "reissue"},
    {"POST", "/reissue/warn", portal_reissue_warn_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML,
     "reissue"},
    {"POST", "/reissue/edit", portal_reissue_edit_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML,
     "reissue"},
    {"POST", "/reissue/check", portal_reissue_check_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML,
     "reissue"},
    {"POST", "/reissue/confirm", portal_reissue_confirm_post, PORTAL_FORM_BODY_MAX, HTTP_KIND_HTML,
     "reissue"},
    {"GET", "/reissue/fetch", portal_reissue_fetch_get, 0, HTTP_KIND_HTML, "reissue"},
    {"POST", "/reissue/fetch", portal_reissue_fetch_post, PORTAL_ISSUE_BODY_MAX, HTTP_KIND_HTML,
     "reissue"},
    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL},
};

void
portal_fini(void)
{
	captcha_pool_stop();
	ra_stop();
	pwhash_stop();
	portal_site_fini();
	tmpl_set_free(portal.tmpl);
	mail_conf_clear(&portal.mail);
	free(portal.base_url);
	free(portal.test_fault);
	sodium_memzero(portal.secret, sizeof(portal.secret));
	memset(&portal, 0, sizeof(portal));
}

/* ---- request context ---- */

void
portal_ctx_init(struct portal_ctx *x, struct http_req *r)
{
	const char *q = http_query(r, "lang"), *sid;
	unsigned char raw[PORTAL_TOKEN_LEN];

	memset(x, 0, sizeof(*x));
	x->r = r;
	x->ca = r->app;
	if (q != NULL && (strcmp(q, "ja") == 0 || strcmp(q, "en") == 0)) {
		x->lang = strcmp(q, "ja") == 0 ? "ja" : "en";
		x->lang_set = 1;
	} else {
		x->lang = i18n_pick(http_header(r, "Accept-Language"),
				    MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "lang"));
	}
	sid = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "sid");
	if (sid != NULL && b64url_decode_exact(raw, sizeof(raw), sid) == 0) {
		memcpy(x->sid, sid, strlen(sid) + 1);
	} else {
		util_random(raw, sizeof(raw));
		b64url_encode(x->sid, sizeof(x->sid), raw, sizeof(raw));
		x->sid_new = 1;
	}
	sodium_memzero(raw, sizeof(raw));
}

/* HMAC-SHA-256 with the portal secret over the parts, each followed by a NUL, as base64url. */
void
portal_mac(char out[PORTAL_B64_LEN], const char *const *parts, size_t n)
{
	crypto_auth_hmacsha256_state h;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&h, portal.secret, sizeof(portal.secret));
	for (size_t i = 0; i < n; i++)
		crypto_auth_hmacsha256_update(&h, (const unsigned char *)parts[i],
					      strlen(parts[i]) + 1);
	crypto_auth_hmacsha256_final(&h, mac);
	b64url_encode(out, PORTAL_B64_LEN, mac, sizeof(mac));
	sodium_memzero(&h, sizeof(h));
}

void
portal_csrf(const struct portal_ctx *x, char out[PORTAL_B64_LEN])
{
	const char *parts[] = {"csrf", x->sid};

	portal_mac(out, parts, 2);
}

int
portal_csrf_ok(const struct portal_ctx *x, const char *token)
{
	char want[PORTAL_B64_LEN];

	if (x->sid_new || token == NULL || strlen(token) != PORTAL_B64_LEN - 1)
		return 0;
	portal_csrf(x, want);
	return util_memeq_ct(want, token, PORTAL_B64_LEN - 1);
}

/* ---- rate limit ---- */

/* The client's address as text ("?" when unknown). */
static void
portal_client_addr(struct http_req *r, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	socklen_t len;

	snprintf(out, n, "?");
	if (sa == NULL)
		return;
	len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (getnameinfo(sa, len, out, (socklen_t)n, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(out, n, "?");
}

int
portal_rate_ok(struct http_req *r, long limit)
{
	char addr[NI_MAXHOST];
	time_t now = time(NULL);
	struct portal_rl *slot = NULL, *oldest = NULL;
	int ok;

	portal_client_addr(r, addr, sizeof(addr));
	pthread_mutex_lock(&portal.rl_lock);
	for (size_t i = 0; i < PORTAL_RL_SLOTS; i++) {
		struct portal_rl *s = &portal.rl[i];

		if (s->addr[0] != '\0' && strcmp(s->addr, addr) == 0) {
			slot = s;
			break;
		}
		if (oldest == NULL || s->window < oldest->window)
			oldest = s;
	}
	if (slot == NULL) {
		/* a full table forgets the least recent address */
		slot = oldest;
		snprintf(slot->addr, sizeof(slot->addr), "%s", addr);
		slot->window = now;
		slot->count = 0;
	}
	if (now - slot->window >= 60) {
		slot->window = now;
		slot->count = 0;
	}
	ok = slot->count < limit;
	if (ok)
		slot->count++;
	pthread_mutex_unlock(&portal.rl_lock);
	return ok;
}

/* ---- rendering ---- */

/* Appends "name=value&" (percent-encoded) for every query argument but lang. */
static enum MHD_Result
portal_keep_arg(void *arg, enum MHD_ValueKind kind, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *parts[2] = {name, value != NULL ? value : ""};
	struct buf *b = arg;

	(void)kind;
	if (name == NULL || strcmp(name, "lang") == 0)
		return MHD_YES;
	for (int i = 0; i < 2; i++) {
		for (const unsigned char *p = (const unsigned char *)parts[i]; *p != '\0'; p++) {
			if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
				if (buf_putc(b, *p) == -1)
					return MHD_NO;
			} else if (buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]) == -1) {
				return MHD_NO;
			}
		}
		if (buf_putc(b, i == 0 ? '=' : '&') == -1)
			return MHD_NO;
	}
	return MHD_YES;
}

/*
 * The language switch keeps the page's other query arguments (a mailed link's token, the
 * issuance form's continuation): lang_keep is "a=1&b=2&" for the layout's "?{{lang_keep}}lang=".
 */
static void
portal_lang_keep(const struct portal_ctx *x, struct tmpl_data *d)
{
	struct buf b;

	if (x->r == NULL || x->r->conn == NULL ||
	    (strcmp(x->r->method, "GET") != 0 && strcmp(x->r->method, "HEAD") != 0))
		return;
	buf_init(&b, 4096);
	MHD_get_connection_values(x->r->conn, MHD_GET_ARGUMENT_KIND, portal_keep_arg, &b);
	if (buf_cstr(&b) != NULL)
		tmpl_data_str(d, "lang_keep", (const char *)b.data);
	buf_free(&b);
}

struct tmpl_data *
portal_data(const struct portal_ctx *x, const char *title_msgid, int flow_step)
{
	struct tmpl_data *d = web_data_new(x->lang, title_msgid);

	portal_lang_keep(x, d);
	if (flow_step >= 0)
		web_flow_add(d, x->lang, flow_step);
	else
		tmpl_data_bool(d, "steps", 0);
	return d;
}

struct tmpl_data *
portal_data_flow(const struct portal_ctx *x, const char *title_msgid, int flow_step, int agent)
{
	struct tmpl_data *d = web_data_new(x->lang, title_msgid);

	portal_lang_keep(x, d);
	web_flow_add_list(d, "steps", x->lang, flow_step, agent);
	return d;
}

int
portal_page(struct portal_ctx *x, int status, const char *page, const struct tmpl_data *d)
{
	struct buf out;
	struct err e;
	const char *hdrs[16];
	char *sidc = NULL;
	size_t n = 0;
	int rc;

	err_clear(&e);
	buf_init(&out, 1024 * 1024);
	if (tmpl_render(portal.tmpl, "layout", page, d, x->lang, &out, &e) == -1) {
		log_warn("portal: %s: %s", page, e.msg);
		buf_reset(&out);
		status = 500;
		if (web_render_notice(portal.tmpl, WEB_NOTICE_ERROR, x->lang, NULL, &out, &e) ==
		    -1) {
			buf_free(&out);
			return -1;
		}
	}
	if (x->sid_new) {
		sidc = xasprintf("sid=%s; Secure; HttpOnly; SameSite=Strict; Path=/", x->sid);
		hdrs[n++] = "Set-Cookie";
		hdrs[n++] = sidc;
	}
	if (x->lang_set) {
		hdrs[n++] = "Set-Cookie";
		hdrs[n++] = strcmp(x->lang, "en") == 0
				? "lang=en; Secure; SameSite=Strict; Path=/; Max-Age=31536000"
				: "lang=ja; Secure; SameSite=Strict; Path=/; Max-Age=31536000";
	}
	hdrs[n++] = "Content-Security-Policy";
	hdrs[n++] =
	    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
	    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
	hdrs[n++] = "X-Content-Type-Options";
	hdrs[n++] = "nosniff";
	hdrs[n++] = "Referrer-Policy";
	hdrs[n++] = "no-referrer";
	hdrs[n] = NULL;
	rc = http_reply_hdrs(x->r, status, "text/html; charset=utf-8", out.data, out.len, hdrs);
	buf_free(&out);
	free(sidc);
	return rc;
}

int
portal_notice(struct portal_ctx *x, int status, const char *title_msgid, const char *msg_msgid)
{
	struct tmpl_data *d = portal_data(x, title_msgid, -1);
	int rc;

	tmpl_data_str(d, "message", i18n_get(x->lang, msg_msgid));
	rc = portal_page(x, status, "notice", d);
	tmpl_data_free(d);
	return rc;
}

int
portal_error(struct portal_ctx *x, const struct err *e)
{
	char ref[17];
	unsigned char rnd[8];
	struct buf out;
	int rc = -1;

	util_random(rnd, sizeof(rnd));
	hex_encode(ref, rnd, sizeof(rnd));
	log_warn("portal: %s %s: error %s: %s", x->r->method, x->r->url, ref, e->msg);
	buf_init(&out, 1024 * 1024);
	{
		struct err e2;

		err_clear(&e2);
		if (web_render_notice(portal.tmpl, WEB_NOTICE_ERROR, x->lang, ref, &out, &e2) == -1)
			goto out;
	}
	rc = http_reply(x->r, 500, "text/html; charset=utf-8", out.data, out.len);
out:
	buf_free(&out);
	return rc;
}

/* GET /policies/obligations, /policies/privacy. */
int
portal_policy_get(struct http_req *r)
{
	struct portal_ctx x;
	struct tmpl_data *d;
	int rc;

	portal_ctx_init(&x, r);
	if (strcmp(r->url, "/policies/obligations") == 0) {
		d = portal_data(&x, N_("User obligations"), -1);
		rc = portal_page(&x, 200, "policy_obligations", d);
	} else if (strcmp(r->url, "/policies/privacy") == 0) {
		d = portal_data(&x, N_("Privacy policy"), -1);
		portal_contact_add(&x, d);
		rc = portal_page(&x, 200, "policy_privacy", d);
	} else {
		d = NULL;
		rc = portal_notice(&x, 404, N_("Page not found"),
				   N_("The page you requested does not exist."));
	}
	tmpl_data_free(d);
	return rc;
}
