/*
 * portal_int: shared between the files of the portal module only.
 */
#ifndef SHOMEI_PORTAL_INT_H
#define SHOMEI_PORTAL_INT_H

#include <pthread.h>
#include <netdb.h>
#include <time.h>

#include "mail/mail.h"
#include "portal.h"
#include "web/web.h"

#define PORTAL_SECRET_LEN 32
#define PORTAL_TOKEN_LEN 32 /* random bytes of sid, one-time tokens and form nonces */
#define PORTAL_B64_LEN 44   /* 32 bytes as base64url without padding, with NUL */
#define PORTAL_RL_SLOTS 1024

struct portal_rl {
	char addr[NI_MAXHOST];
	time_t window;
	long count;
};

/* Read-only after portal_init() except the rate-limit table (under rl_lock). */
struct portal {
	struct tmpl_set *tmpl;
	struct captcha_conf captcha;
	struct mail_conf mail;
	char *base_url;
	long step1_rate;
	unsigned char secret[PORTAL_SECRET_LEN];
	pthread_mutex_t rl_lock;
	struct portal_rl rl[PORTAL_RL_SLOTS];
};

extern struct portal portal;

/* One request. */
struct portal_ctx {
	struct http_req *r;
	struct ca *ca;
	const char *lang;         /* "ja" | "en" (static) */
	int lang_set;             /* ?lang= given: set the cookie */
	char sid[PORTAL_B64_LEN]; /* the session id from the cookie, or a new one */
	int sid_new;              /* no valid cookie came: set it */
};

void portal_ctx_init(struct portal_ctx *, struct http_req *);
void portal_b64url(char *out, size_t outlen, const unsigned char *, size_t);
/* Decodes exactly want bytes of unpadded base64url; -1 when s is anything else. */
int portal_b64url_decode(unsigned char *out, size_t want, const char *s);
/* HMAC-SHA-256 (portal secret) over the NUL-terminated parts, as base64url. */
void portal_mac(char out[PORTAL_B64_LEN], const char *const *parts, size_t n);
void portal_csrf(const struct portal_ctx *, char out[PORTAL_B64_LEN]);
/* 1 when token is the CSRF token of the request's (existing) session. */
int portal_csrf_ok(const struct portal_ctx *, const char *token);
/* 1 when the client address may make another request (limit per minute), else 0. */
int portal_rate_ok(struct http_req *, long limit);

/* Base values of a page; flow_step -1 hides the flow bar.  Caller frees. */
struct tmpl_data *portal_data(const struct portal_ctx *, const char *title_msgid, int flow_step);
/* The same with the flow bar of a self (agent 0) or an agent's application (agent 1). */
struct tmpl_data *portal_data_flow(const struct portal_ctx *, const char *title_msgid,
				   int flow_step, int agent);
/* Renders page through layout and replies (cookies and security headers included). */
int portal_page(struct portal_ctx *, int status, const char *page, const struct tmpl_data *);
/* A page with a title and one message (both msgids). */
int portal_notice(struct portal_ctx *, int status, const char *title_msgid,
		  const char *msg_msgid);
/* Logs e with a reference number and shows the error page (500). */
int portal_error(struct portal_ctx *, const struct err *);

#endif
