/*
 * sealed: the state of a multi-step form carried in its page under a MAC (see web.h) — one
 * implementation for every form of every face: purpose label, session, nonce, expiry, values.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "http/http.h"
#include "web.h"

#define WEB_SEAL_VALUES_MAX 24

const char *const web_seal_result_names[WEB_SEAL__MAX] = {
    [WEB_SEAL_OK] = "ok",	    [WEB_SEAL_MALFORMED] = "malformed",
    [WEB_SEAL_BAD_MAC] = "bad MAC", [WEB_SEAL_WRONG_PURPOSE] = "wrong purpose",
    [WEB_SEAL_EXPIRED] = "expired",
};

/* 1 when p is a purpose label: [a-z0-9-], 1 to WEB_SEAL_PURPOSE_MAX characters. */
static int
web_seal_purpose_ok(const char *p, size_t n)
{
	if (n == 0 || n > WEB_SEAL_PURPOSE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
			return 0;
	return 1;
}

/* The MAC of a seal: "seal", purpose, sid, nonce ("" for none), expires, the values. */
static void
web_seal_mac(const struct web_ctx *x, const char *purpose, const char *nonce, const char *expires,
	     const char *const *values, size_t n, char out[WEB_B64_LEN])
{
	const char *parts[5 + WEB_SEAL_VALUES_MAX];

	if (n > WEB_SEAL_VALUES_MAX)
		fatalx("web: a seal of %zu values (at most %d)", n, WEB_SEAL_VALUES_MAX);
	parts[0] = "seal";
	parts[1] = purpose;
	parts[2] = x->sid;
	parts[3] = nonce;
	parts[4] = expires;
	for (size_t i = 0; i < n; i++)
		parts[5 + i] = values[i] != NULL ? values[i] : "";
	web_mac(x->site, out, parts, 5 + n);
}

/* Fills out's MAC field from its nonce and expiry. */
static void
web_seal_sign(const struct web_ctx *x, const char *purpose, const char *const *values, size_t n,
	      struct web_seal *out)
{
	char mac[WEB_B64_LEN];

	if (!web_seal_purpose_ok(purpose, strlen(purpose)))
		fatalx("web: bad seal purpose");
	web_seal_mac(x, purpose, out->nonce, out->expires, values, n, mac);
	snprintf(out->mac, sizeof(out->mac), "%s.%s", purpose, mac);
}

void
web_seal_make(const struct web_ctx *x, const char *purpose, long ttl, int with_nonce,
	      const char *const *values, size_t n, struct web_seal *out)
{
	memset(out, 0, sizeof(*out));
	if (with_nonce) {
		util_random(out->nonce_raw, sizeof(out->nonce_raw));
		b64url_encode(out->nonce, sizeof(out->nonce), out->nonce_raw,
			      sizeof(out->nonce_raw));
	}
	snprintf(out->expires, sizeof(out->expires), "%lld", (long long)util_now() + ttl);
	web_seal_sign(x, purpose, values, n, out);
}

void
web_seal_remake(const struct web_ctx *x, const char *purpose, const struct web_seal *prev,
		const char *const *values, size_t n, struct web_seal *out)
{
	if (out != prev)
		memcpy(out, prev, sizeof(*out));
	web_seal_sign(x, purpose, values, n, out);
}

enum web_seal_result
web_seal_open(const struct web_ctx *x, const char *purpose, const char *nonce, const char *expires,
	      const char *mac, const char *const *values, size_t n, struct web_seal *out)
{
	struct web_seal s;
	char want[WEB_B64_LEN];
	const char *dot;
	size_t plen;
	long t;
	enum web_seal_result res = WEB_SEAL_MALFORMED;

	memset(&s, 0, sizeof(s));
	if (expires == NULL || mac == NULL || util_parse_long(expires, 0, LONG_MAX, &t) == -1 ||
	    strlen(expires) >= sizeof(s.expires) || (dot = strchr(mac, '.')) == NULL)
		goto out;
	plen = (size_t)(dot - mac);
	if (!web_seal_purpose_ok(mac, plen) || strlen(dot + 1) != WEB_B64_LEN - 1)
		goto out;
	if (nonce != NULL) {
		if (b64url_decode_exact(s.nonce_raw, sizeof(s.nonce_raw), nonce) == -1)
			goto out;
		memcpy(s.nonce, nonce, WEB_B64_LEN);
	}
	memcpy(s.expires, expires, strlen(expires) + 1);
	memcpy(s.mac, mac, plen);
	s.mac[plen] = '\0'; /* the purpose the seal names, for its MAC */
	web_seal_mac(x, s.mac, s.nonce, s.expires, values, n, want);
	if (!util_memeq_ct(want, dot + 1, WEB_B64_LEN - 1)) {
		res = WEB_SEAL_BAD_MAC;
		goto out;
	}
	if (strcmp(s.mac, purpose) != 0) {
		res = WEB_SEAL_WRONG_PURPOSE;
		goto out;
	}
	if (util_now() > t) {
		res = WEB_SEAL_EXPIRED;
		goto out;
	}
	memcpy(s.mac, mac, strlen(mac) + 1);
	if (out != NULL)
		memcpy(out, &s, sizeof(s));
	res = WEB_SEAL_OK;
out:
	sodium_memzero(&s, sizeof(s));
	return res;
}

enum web_seal_result
web_seal_open_form(const struct web_ctx *x, const char *purpose, const struct web_form *f,
		   const char *const *values, size_t n, struct web_seal *out)
{
	const char *nonce = web_form_get(f, "form_nonce");

	if (nonce == NULL)
		return WEB_SEAL_MALFORMED;
	return web_seal_open(x, purpose, nonce, web_form_get(f, "form_time"),
			     web_form_get(f, "form_mac"), values, n, out);
}

void
web_seal_data(struct tmpl_data *d, const struct web_seal *s)
{
	tmpl_data_str(d, "form_nonce", s->nonce);
	tmpl_data_str(d, "form_time", s->expires);
	tmpl_data_str(d, "form_mac", s->mac);
}

int
web_seal_refused(struct web_ctx *x, enum web_seal_result res, const char *msg_msgid)
{
	char esc[256];

	log_info("%s: %s %s: sealed form refused: %s", x->site->name, x->r->method,
		 http_url_for_log(NULL, x->r->route, x->r->url, esc, sizeof(esc)),
		 res > WEB_SEAL_OK && res < WEB_SEAL__MAX ? web_seal_result_names[res] : "?");
	return web_notice(x, 400, N_("The form is no longer valid"), msg_msgid);
}
