/*
 * portal: the applicant portal on the HTTPS listener (DESIGN.md 2.1).  This slice covers the
 * registration of an application up to the mailed one-time link:
 *
 *   GET  /regist/step1        the form (applicant type, organization, ticket, e-mail twice,
 *                             CAPTCHA)
 *   POST /regist/step1        validation; errors beside their fields, else the confirm page
 *   POST /regist/confirm      Back (the form again, values kept) or Register: the application,
 *                             its one-time link token and the mail in one store transaction
 *   GET  /regist/verify       ?onetimetoken=...: marks the application mail-verified
 *   GET  /policies/obligations, /policies/privacy
 *
 * Sessions and CSRF (no server-side session state): the cookie `sid` is a random 256-bit value
 * (base64url; Secure, HttpOnly, SameSite=Strict, Path=/).  Every form carries
 * csrf = HMAC-SHA-256(portal secret, "csrf" NUL sid) and every POST is refused with 403 unless
 * it matches the request's sid (signed double submit).  The secret is 32 random bytes in the
 * data dir (portal.secret_file, default keys/portal.key, mode 0600, made on first start).  The
 * confirm form carries its values with a MAC over them, the sid and the time, so that only
 * values that passed step 1 (CAPTCHA included) in this session reach the register step, and a
 * random form nonce whose hash is stored once (tokens, purpose "regist-form"): a repeated
 * submission finds it and shows the same done page without a second application or mail.
 *
 * Configuration: portal.base_url (the https origin in mailed links, default
 * https://localhost:8443), portal.templates and portal.po (directories; default: templates/
 * and po/ beside the binary's parent directory, else in the working directory),
 * portal.step1_rate (POSTs of step 1 per client address and minute, default 10).
 * Test hook: test.clock_offset (seconds added to util_now()) is honoured only with
 * test.instance = yes.
 */
#ifndef SHOMEI_PORTAL_H
#define SHOMEI_PORTAL_H

#include <stddef.h>

#include "util/util.h"

struct ca;
struct http_req;

#define PORTAL_APP_TTL (3 * 24 * 3600) /* an application and its mailed link */
#define PORTAL_FORM_TTL 3600           /* from step 1 to Register */

/*
 * Loads templates, catalogs, CAPTCHA and mail settings and the portal secret; once, at start,
 * before the HTTPS listener.  listen_addrs: the listeners (for the CAPTCHA test-mode rule).
 */
int portal_init(struct ca *, const char *const *listen_addrs, size_t naddrs, struct err *);
void portal_fini(void);

/* Handlers (HTTPS route table). */
int portal_step1_get(struct http_req *);
int portal_step1_post(struct http_req *);
int portal_confirm_get(struct http_req *);
int portal_confirm_post(struct http_req *);
int portal_verify_get(struct http_req *);
int portal_policy_get(struct http_req *);
/* Web revocation (revoke.c): GET/POST /revoke/step1, POST /revoke/confirm, GET /revoke/verify. */
int portal_revoke_step1_get(struct http_req *);
int portal_revoke_step1_post(struct http_req *);
int portal_revoke_verify_get(struct http_req *);
int portal_revoke_confirm_post(struct http_req *);

/* ---- application/x-www-form-urlencoded (form.c) ---- */
#define PORTAL_FORM_BODY_MAX (16 * 1024) /* bytes of a form body */
#define PORTAL_FORM_FIELDS_MAX 32
#define PORTAL_FORM_NAME_MAX 64     /* bytes of a decoded name */
#define PORTAL_FORM_VALUE_MAX 1024  /* bytes of a decoded value */

struct portal_field {
	char *name;
	char *value;
};

struct portal_form {
	struct portal_field v[PORTAL_FORM_FIELDS_MAX];
	size_t n;
};

/*
 * Decodes an urlencoded body ('+' is a space, %XX a byte).  Refused (ERR_REFUSED, a message
 * naming the rule): a body over the limit, more fields than the limit, a name or value over its
 * limit, a bad escape, a NUL or other control byte (tab, CR and LF allowed in values), invalid
 * UTF-8, an empty or repeated name.  Empty pairs ("a=1&&b=2") are skipped.  The caller frees
 * the form with portal_form_free() (also after a failure).
 */
int portal_form_parse(const void *body, size_t len, struct portal_form *, struct err *);
void portal_form_free(struct portal_form *);
/* The value of name, or NULL when absent. */
const char *portal_form_get(const struct portal_form *, const char *name);

#endif
