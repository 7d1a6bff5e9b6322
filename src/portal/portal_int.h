/*
 * portal_int: shared between the files of the portal module only.
 */
#ifndef SHOMEI_PORTAL_INT_H
#define SHOMEI_PORTAL_INT_H

#include <pthread.h>
#include <netdb.h>
#include <time.h>

#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "mail/mail.h"
#include "portal.h"
#include "ra/ra.h"
#include "util/b64.h"
#include "web/web.h"

#define PORTAL_TRL_SLOTS 4096 /* per-ticket attempt counters (limits.c) */
#define PORTAL_TRL_PROBE 8
#define PORTAL_TRL_KEY 16 /* bytes of the keyed hash that stands for a ticket number */
#define PORTAL_TRL_WINDOW 3600

struct portal_trl {
	unsigned char key[PORTAL_TRL_KEY];
	time_t window; /* 0: free */
	long count;
};

/* Read-only after portal_init() except the rate-limit tables (under their locks). */
struct portal {
	struct web_site site; /* templates and the portal secret (CSRF, sealed forms) */
	struct captcha_conf captcha;
	struct mail_conf mail;
	char *base_url;
	long step1_rate;
	long revoke_rate;	   /* POSTs of /revoke/step1 per client address and minute */
	long reissue_rate;	   /* POSTs of /reissue and /reissue/fetch per address and minute */
	char *test_fault;	   /* test.fault (test instances only): a point where to fail */
	struct http_limiter forms; /* the POSTs of step 1, revocation and re-issue */
	struct http_limiter captchas; /* CAPTCHA images made (each GET of a form page) */
	long captcha_rate;	      /* per address and minute */
	/* the top page (top.c) and the per-ticket limit (limits.c) */
	char *contact_email;   /* NULL: not configured */
	char *contact_text;    /* NULL: not configured */
	char *contact_text_en; /* NULL: contact_text in English too */
	long ticket_rate;
	pthread_mutex_t trl_lock;
	struct portal_trl trl[PORTAL_TRL_SLOTS];
};

extern struct portal portal;

/* 1 when the client address may make another request (limit per minute), else 0. */
int portal_rate_ok(struct http_req *, long limit);
/* The same for one limiter. */

/*
 * 1 when one more step-1 attempt with ticket is allowed (portal.ticket_rate attempts per ticket
 * and hour; counts this one), else 0.  Tickets are known only by a keyed hash (limits.c).
 */
int portal_ticket_rate_ok(const char *ticket, long limit);
/* The top page's and static files' settings (top.c): from portal_init() / portal_fini(). */
int portal_site_init(const struct conf *, struct err *);
void portal_site_fini(void);
/* Adds the values of templates/contact.html (portal.contact_*) to a page's data. */
void portal_contact_add(const struct web_ctx *, struct tmpl_data *);

/*
 * Queues a mail of the portal (the configured sender and transfer encoding) through st: in the
 * caller's transaction, so that it goes out if and only if that commits.  body: the text.
 */
int portal_mail_queue(struct store *st, const char *to, const char *subject, struct buf *body,
		      struct err *e);

/* ---- shared by the forms of the portal (shared.c) ---- */
/* Forms with a pasted CSR (field csr): urlencoded (portal_form_big) or also multipart. */
extern const struct web_form_limits portal_form_big, portal_form_csr;
/* The flow bar of a page: labels (msgids) with step current highlighted. */
void portal_steps(struct tmpl_data *, const char *lang, const char *const *labels, size_t n,
		  int current);

/* 1 when test.fault names this point (test instances only): the caller fails there. */
int portal_test_fault(const char *name);

/*
 * The application password's argon2id (pwhash.c), made off the request threads: the form
 * queues it and gets a reference for the confirm page, Submit takes the hash by it.  The cost
 * is OWASP's m=19 MiB, t=2, p=1 (Password Storage Cheat Sheet; libsodium's argon2id always
 * uses p=1), not libsodium's INTERACTIVE (64 MiB, t=2): measured on the 2-core bench machine,
 * INTERACTIVE took 104-121 ms and 64 MiB per hash, this 25-39 ms and 19 MiB.  The password
 * never stands alone: a re-issue also needs the certificate code (random, stored as BLAKE2b)
 * and the mailbox.  The parameters are in each hash string, so crypto_pwhash_str_verify()
 * (reissue.c) keeps accepting hashes made with other settings.
 */
#define PORTAL_PW_OPSLIMIT 2ULL
#define PORTAL_PW_MEMLIMIT ((size_t)19 * 1024 * 1024)
#define PWHASH_ID_LEN 16
#define PORTAL_PWHASH_SLOTS 1024	    /* passwords waiting for their Submit, at most */
#define PWHASH_PW_MAX (RA_PASSWORD_MAX * 4) /* bytes: 128 characters of UTF-8 */
#define PWHASH_REF_MAX 128		    /* crypto_pwhash_STRBYTES: a hash, or "h" + a handle */
struct pwhash_stats {
	unsigned long queued;		/* forms that queued their password */
	unsigned long hashed_ahead;	/* hashed by the hasher threads */
	unsigned long hashed_in_submit; /* still queued at Submit: hashed in its request */
	unsigned long waited;		/* Submit waited for a hash being made */
	unsigned long inline_full;	/* the table was full: hashed in the form's request */
	unsigned long evicted, expired_unhashed, failed;
	size_t pending; /* queued or being hashed now */
};
/* slots jobs at most, threads hashers (nice 19), argon2id ops/mem, jobs forgotten after ttl_ms. */
int pwhash_start(size_t slots, unsigned threads, unsigned long long ops, size_t mem, long ttl_ms,
		 struct err *);
void pwhash_stop(void);
/* Queues pw: ref gets its handle, or the hash made here when no place is free; 0 or -1. */
int pwhash_submit(const char *pw, char ref[PWHASH_REF_MAX], struct err *);
/* 1 when ref is a handle (not a hash). */
int pwhash_is_handle(const char *ref);
/*
 * The argon2id string of ref into out: 0; 1 when the handle is forgotten (expired, evicted,
 * the server restarted) or ref is no argon2id string; -1 on error.  Takes over a queued job,
 * waits for one being hashed; *waited_us: the time this took.
 */
int pwhash_get(const char *ref, char out[PWHASH_REF_MAX], long *waited_us, struct err *);
/* Forgets ref's job (after its Submit): wipes its hash. */
void pwhash_forget(const char *ref);
void pwhash_stats(struct pwhash_stats *);

/* issue.c: the certificate page (PIN and code shown once) of an issuance. */
int portal_cert_page(struct web_ctx *, const struct ra_cert_page *);
/*
 * A new CAPTCHA for purpose: its id (hex) and its image as a data: URI (caller frees); or
 * PORTAL_CAPTCHA_LIMITED (nothing made) when the client is over portal.captcha_rate.
 */
int portal_captcha(struct web_ctx *, struct store *, const char *purpose,
		   char id_hex[CAPTCHA_ID_HEX], char **data_uri, struct err *);
/* portal_captcha's answer when the client made portal.captcha_rate CAPTCHAs this minute. */
#define PORTAL_CAPTCHA_LIMITED 1
int portal_captcha_limited(struct web_ctx *);

/* ---- telling people (notify.c): the portal's mails for the RA's operations ---- */
struct ra_notify;
struct ra_revoked;
/* Every hook of the portal, in language lang (a static string, "ja" or "en"). */
void portal_notify_init(struct ra_notify *, const char *lang);
/* The revocation mail to the holder (the ra_notify hook). */
int portal_notify_revoked(void *arg, struct store *, const struct ra_revoked *, struct err *);
/* The re-issue mail with the new certificate code and the fetch page (the ra_notify hook). */
int portal_notify_reissued(void *arg, struct store *, const char *to, const char *old_serial,
			   const char *code, struct err *);

/* ---- web revocation (revoke.c) ---- */

/* GET /policies/acme-limits: the ACME rate limits as configured (acmelimits.c). */
int portal_acme_limits(struct web_ctx *);

#endif
