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

#define PORTAL_TRL_SLOTS 4096 /* per-ticket attempt counters (limits.c) */
#define PORTAL_TRL_PROBE 8
#define PORTAL_TRL_KEY 16     /* bytes of the keyed hash that stands for a ticket number */
#define PORTAL_TRL_WINDOW 3600

struct portal_trl {
	unsigned char key[PORTAL_TRL_KEY];
	time_t window; /* 0: free */
	long count;
};

/* Read-only after portal_init() except the rate-limit tables (under rl_lock, trl_lock). */
struct portal {
	struct tmpl_set *tmpl;
	struct captcha_conf captcha;
	struct mail_conf mail;
	char *base_url;
	long step1_rate;
	unsigned char secret[PORTAL_SECRET_LEN];
	pthread_mutex_t rl_lock;
	struct portal_rl rl[PORTAL_RL_SLOTS];
	/* the top page (top.c) and the per-ticket limit (limits.c) */
	char *contact_email;   /* NULL: not configured */
	char *contact_text;    /* NULL: not configured */
	char *contact_text_en; /* NULL: contact_text in English too */
	long ticket_rate;
	pthread_mutex_t trl_lock;
	struct portal_trl trl[PORTAL_TRL_SLOTS];
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

/*
 * 1 when one more step-1 attempt with ticket is allowed (portal.ticket_rate attempts per ticket
 * and hour; counts this one), else 0.  Tickets are known only by a keyed hash (limits.c).
 */
int portal_ticket_rate_ok(const char *ticket, long limit);
/* Directory key as configured, else ../name beside the binary, else name; caller frees. */
char *portal_dir(const struct conf *, const char *key, const char *name);
/* The top page's and static files' settings (top.c): from portal_init() / portal_fini(). */
int portal_site_init(const struct conf *, struct err *);
void portal_site_fini(void);
/* Adds the values of templates/contact.html (portal.contact_*) to a page's data. */
void portal_contact_add(const struct portal_ctx *, struct tmpl_data *);

/* Base values of a page; flow_step -1 hides the flow bar.  Caller frees. */
struct tmpl_data *portal_data(const struct portal_ctx *, const char *title_msgid, int flow_step);
/* Renders page through layout and replies (cookies and security headers included). */
int portal_page(struct portal_ctx *, int status, const char *page, const struct tmpl_data *);
/* A page with a title and one message (both msgids). */
int portal_notice(struct portal_ctx *, int status, const char *title_msgid,
		  const char *msg_msgid);
/* Logs e with a reference number and shows the error page (500). */
int portal_error(struct portal_ctx *, const struct err *);

#endif
