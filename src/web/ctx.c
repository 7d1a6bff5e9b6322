/*
 * ctx: one request of an HTML face — its language, its session, reading its posted form with
 * the CSRF check, and the reply: a page through the layout with the cookies and security
 * headers, a notice, the error page, a redirect.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "http/http.h"
#include "web.h"

void
web_ctx_init(struct web_ctx *x, const struct web_site *site, struct http_req *r)
{
	const char *q = http_query(r, "lang");

	memset(x, 0, sizeof(*x));
	x->r = r;
	x->ca = r->app;
	x->site = site;
	if (q != NULL && (strcmp(q, "ja") == 0 || strcmp(q, "en") == 0)) {
		x->lang = strcmp(q, "ja") == 0 ? "ja" : "en";
		x->lang_set = 1;
	} else {
		x->lang = i18n_pick(http_header(r, "Accept-Language"),
				    MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "lang"));
	}
	web_session_read(x);
}

/* Appends "name=value&" (percent-encoded) for every query argument but lang. */
static enum MHD_Result
web_keep_arg(void *arg, enum MHD_ValueKind kind, const char *name, const char *value)
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
web_lang_keep(const struct web_ctx *x, struct tmpl_data *d)
{
	struct buf b;

	if (x->r == NULL || x->r->conn == NULL ||
	    (strcmp(x->r->method, "GET") != 0 && strcmp(x->r->method, "HEAD") != 0))
		return;
	buf_init(&b, 4096);
	MHD_get_connection_values(x->r->conn, MHD_GET_ARGUMENT_KIND, web_keep_arg, &b);
	if (buf_cstr(&b) != NULL)
		tmpl_data_str(d, "lang_keep", (const char *)b.data);
	buf_free(&b);
}

struct tmpl_data *
web_data(const struct web_ctx *x, const char *title_msgid, int flow_step)
{
	struct tmpl_data *d = web_data_new(x->lang, title_msgid);

	web_lang_keep(x, d);
	if (flow_step >= 0)
		web_flow_add(d, x->lang, flow_step);
	else
		tmpl_data_bool(d, "steps", 0);
	return d;
}

struct tmpl_data *
web_data_flow(const struct web_ctx *x, const char *title_msgid, int flow_step, int agent)
{
	struct tmpl_data *d = web_data_new(x->lang, title_msgid);

	web_lang_keep(x, d);
	web_flow_add_list(d, "steps", x->lang, flow_step, agent);
	return d;
}

/* Adds the cookies due (session, language) to hdrs at *n; *sidc is freed by the caller. */
static void
web_cookies(const struct web_ctx *x, const char **hdrs, size_t *n, char **sidc)
{
	if (x->sid_new) {
		*sidc = web_session_cookie(x);
		hdrs[(*n)++] = "Set-Cookie";
		hdrs[(*n)++] = *sidc;
	}
	if (x->lang_set) {
		hdrs[(*n)++] = "Set-Cookie";
		hdrs[(*n)++] = strcmp(x->lang, "en") == 0
				   ? "lang=en; Secure; SameSite=Strict; Path=/; Max-Age=31536000"
				   : "lang=ja; Secure; SameSite=Strict; Path=/; Max-Age=31536000";
	}
}

int
web_page(struct web_ctx *x, int status, const char *page, const struct tmpl_data *d)
{
	return web_page_max(x, status, page, d, WEB_PAGE_MAX);
}

int
web_page_max(struct web_ctx *x, int status, const char *page, const struct tmpl_data *d, size_t max)
{
	struct buf out;
	struct err e;
	const char *hdrs[32];
	char *sidc = NULL;
	size_t n = 0;
	int rc;

	err_clear(&e);
	buf_init(&out, max);
	if (tmpl_render(x->site->tmpl, x->site->layout != NULL ? x->site->layout : "layout", page,
			d, x->lang, &out, &e) == -1) {
		log_warn("%s: %s: %s", x->site->name, page, e.msg);
		buf_reset(&out);
		status = 500;
		if (web_render_notice(x->site->tmpl, WEB_NOTICE_ERROR, x->lang, NULL, &out, &e) ==
		    -1) {
			buf_free(&out);
			return -1;
		}
	}
	web_cookies(x, hdrs, &n, &sidc);
	hdrs[n++] = "Content-Security-Policy";
	hdrs[n++] =
	    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
	    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
	/* X-Content-Type-Options and, on HTTPS, Strict-Transport-Security come from http */
	hdrs[n++] = "Referrer-Policy";
	hdrs[n++] = "no-referrer";
	/* for browsers without CSP's frame-ancestors */
	hdrs[n++] = "X-Frame-Options";
	hdrs[n++] = "DENY";
	/* a page about certificates needs no camera, microphone, position or payment */
	hdrs[n++] = "Permissions-Policy";
	hdrs[n++] = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
		    "interest-cohort=()";
	/* no other site's window keeps a handle on ours, nor embeds our answers */
	hdrs[n++] = "Cross-Origin-Opener-Policy";
	hdrs[n++] = "same-origin";
	hdrs[n++] = "Cross-Origin-Resource-Policy";
	hdrs[n++] = "same-origin";
	hdrs[n] = NULL;
	rc = http_reply_hdrs(x->r, status, "text/html; charset=utf-8", out.data, out.len, hdrs);
	buf_free(&out);
	free(sidc);
	return rc;
}

int
web_notice(struct web_ctx *x, int status, const char *title_msgid, const char *msg_msgid)
{
	struct tmpl_data *d = web_data(x, title_msgid, -1);
	int rc;

	tmpl_data_str(d, "message", i18n_get(x->lang, msg_msgid));
	rc = web_page(x, status, "notice", d);
	tmpl_data_free(d);
	return rc;
}

int
web_error(struct web_ctx *x, const struct err *e)
{
	char ref[17], eu[256];
	unsigned char rnd[8];
	struct buf out;
	struct err e2;
	int rc = -1;

	util_random(rnd, sizeof(rnd));
	hex_encode(ref, rnd, sizeof(rnd));
	log_warn("%s: %s %s: error %s: %s", x->site->name, x->r->method,
		 http_url_for_log(NULL, x->r->route, x->r->url, eu, sizeof(eu)), ref, e->msg);
	buf_init(&out, 1024 * 1024);
	err_clear(&e2);
	if (web_render_notice(x->site->tmpl, WEB_NOTICE_ERROR, x->lang, ref, &out, &e2) == -1)
		goto out;
	rc = http_reply(x->r, 500, "text/html; charset=utf-8", out.data, out.len);
out:
	buf_free(&out);
	return rc;
}

int
web_redirect(struct web_ctx *x, const char *location)
{
	const char *hdrs[8];
	char *sidc = NULL;
	size_t n = 0;
	int rc;

	hdrs[n++] = "Location";
	hdrs[n++] = location;
	hdrs[n++] = "Cache-Control";
	hdrs[n++] = "no-store";
	web_cookies(x, hdrs, &n, &sidc);
	hdrs[n] = NULL;
	rc = http_reply_hdrs(x->r, 303, "text/plain; charset=utf-8", "", 0, hdrs);
	free(sidc);
	return rc;
}

/* 1 when the form is a one-time link's button sent again by the session its use rotated to. */
static int
web_link_replay(const struct web_ctx *x, const struct web_form *f, const char *link_field)
{
	const char *csrf = web_form_get(f, "csrf"), *link;
	char id[WEB_B64_LEN];

	if (link_field == NULL || x->sid_new || csrf == NULL || strlen(csrf) != WEB_B64_LEN - 1 ||
	    (link = web_form_get(f, link_field)) == NULL)
		return 0;
	web_session_link_id(x, csrf, link, id);
	return util_memeq_ct(id, x->sid, WEB_B64_LEN - 1);
}

int
web_form_read(struct web_ctx *x, struct web_form *f, const struct web_form_limits *lim, int *rc)
{
	return web_form_read_link(x, f, lim, NULL, rc);
}

int
web_form_read_link(struct web_ctx *x, struct web_form *f, const struct web_form_limits *lim,
		   const char *link_field, int *rc)
{
	static const struct web_form_limits dflt = {WEB_FORM_BODY_MAX, NULL, 0, 0};
	const char *ct = http_header(x->r, "Content-Type");
	struct err e;
	int r;

	if (lim == NULL)
		lim = &dflt;
	err_clear(&e);
	if (lim->multipart && ct != NULL && strncasecmp(ct, "multipart/form-data", 19) == 0)
		r = web_form_parse_multipart_ex(x->r->body, x->r->bodylen, ct, lim->body_max,
						lim->big_name, lim->big_max,
						lim->multipart == WEB_FORM_RAW, f, &e);
	else
		r = web_form_parse_ex(x->r->body, x->r->bodylen, lim->body_max, lim->big_name,
				      lim->big_max, f, &e);
	if (r == -1) {
		char esc[256], eu[256];

		log_warn("%s: %s: %s", x->site->name,
			 http_url_for_log(NULL, x->r->route, x->r->url, eu, sizeof(eu)),
			 log_escape(esc, sizeof(esc), e.msg, strlen(e.msg)));
		*rc = web_notice(x, 400, N_("The form could not be read"),
				 N_("The form could not be read. Please go back and try again."));
		return 1;
	}
	if (!web_csrf_ok(x, web_form_get(f, "csrf")) && !web_link_replay(x, f, link_field)) {
		*rc = web_notice(x, 403, N_("Access denied"),
				 N_("Your session has expired or the form did not come from "
				    "this site. Please start again from the first step."));
		return 1;
	}
	return 0;
}
