/*
 * session: the session cookie of the HTML faces (see web.h): a random id in __Host-sid, read
 * from each request, set when it is new, rotated when an identity is established.
 */
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <sodium.h>

#include "http/http.h"
#include "web.h"

void
web_session_new_id(char out[WEB_B64_LEN])
{
	unsigned char raw[WEB_TOKEN_LEN];

	util_random(raw, sizeof(raw));
	b64url_encode(out, WEB_B64_LEN, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
}

void
web_session_read(struct web_ctx *x)
{
	unsigned char raw[WEB_TOKEN_LEN];
	const char *sid = NULL;

	if (x->r != NULL && x->r->conn != NULL)
		sid = MHD_lookup_connection_value(x->r->conn, MHD_COOKIE_KIND,
						  x->site->cookie != NULL ? x->site->cookie
									  : WEB_SESSION_COOKIE);
	if (sid != NULL && b64url_decode_exact(raw, sizeof(raw), sid) == 0) {
		memcpy(x->sid, sid, WEB_B64_LEN - 1);
		x->sid[WEB_B64_LEN - 1] = '\0';
		x->sid_new = 0;
	} else {
		web_session_new_id(x->sid);
		x->sid_new = 1;
	}
	sodium_memzero(raw, sizeof(raw));
}

void
web_session_rotate(struct web_ctx *x, const char *next)
{
	if (next != NULL && strlen(next) == WEB_B64_LEN - 1)
		memcpy(x->sid, next, WEB_B64_LEN);
	else
		web_session_new_id(x->sid);
	x->sid_new = 1;
}

void
web_session_link_id(const struct web_ctx *x, const char *csrf, const char *link,
		    char out[WEB_B64_LEN])
{
	/* the route too: the form of one flow's link sent again passes no other flow's check */
	const char *route = x->r != NULL && x->r->url != NULL ? x->r->url : "";
	const char *parts[] = {"rotate", route, csrf != NULL ? csrf : "", link != NULL ? link : ""};

	web_mac(x->site, out, parts, 4);
}

char *
web_session_cookie(const struct web_ctx *x)
{
	return xasprintf("%s=%s; Secure; HttpOnly; SameSite=Strict; Path=/",
			 x->site->cookie != NULL ? x->site->cookie : WEB_SESSION_COOKIE, x->sid);
}
