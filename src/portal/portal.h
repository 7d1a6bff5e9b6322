/*
 * portal: the applicant portal on the HTTPS listener (DESIGN.md 2.1).  This slice covers the
 * registration of an application up to the mailed one-time link:
 *
 *   GET  /regist/step1        the form (applicant type, organization, ticket, e-mail twice,
 *                             CAPTCHA)
 *   POST /regist/step1        validation; errors beside their fields, else the confirm page
 *   POST /regist/confirm      Back (the form again, values kept) or Register: the application,
 *                             its one-time link token and the mail in one store transaction
 *   GET  /regist/verify       ?onetimetoken=...: see Issuance below
 *   GET  /policies/obligations, /policies/privacy
 *   GET  /                    the top page: service, user obligations, Agree (top.c)
 *   GET  /static/NAME         the stylesheet (a fixed list of files, loaded at start)
 *
 * Sessions, CSRF and the confirm form's state are src/web's (ctx.c, session.c, csrf.c,
 * sealed.c; no server-side session state): the cookie `__Host-sid` is a random 256-bit value
 * (base64url; Secure, HttpOnly, SameSite=Strict, Path=/, no Domain).  Every form carries
 * csrf = HMAC-SHA-256(portal secret, "csrf" NUL sid) and every POST is refused with 403 unless
 * it matches the request's sid (signed double submit).  The secret is 32 random bytes in the
 * data dir (portal.secret_file, default keys/portal.key, mode 0600, made on first start).  The
 * confirm form carries its values under a seal (purpose "regist-form": a MAC over them, the
 * sid, a random nonce and the expiry), so that only values that passed step 1 (CAPTCHA
 * included) in this session reach the register step; the nonce's hash is stored once (tokens,
 * purpose "regist-form"): a repeated submission finds it and shows the same done page without
 * a second application or mail.  The session id rotates when an identity is established: the
 * mailed link's button (POST /regist/verify), the agent approval and delivery links (once the
 * link's one-time use is accepted), the web revocation link's button (POST /revoke/verify)
 * and the re-issue login.
 *
 * Configuration: portal.base_url (the https origin in mailed links, default
 * https://localhost:8443), portal.templates and portal.po (directories; default: templates/
 * and po/ beside the binary's parent directory, else in the working directory),
 * portal.step1_rate (POSTs of step 1 per client address and minute, default 10),
 * portal.ticket_rate (step-1 attempts per ticket number and hour, default 5; limits.c),
 * portal.contact_email, portal.contact_text, portal.contact_text_en, portal.static (top.c).
 * Test hook: test.clock_offset (seconds added to util_now()) is honoured only with
 * test.instance = yes.
 */
/*
 * Issuance (issue.c; DESIGN.md 2.1, steps 発行申請情報入力 → 確認 → 完了 → 発行完了):
 *
 *   GET  /regist/verify       ?onetimetoken=...: uses nothing up (mail scanners prefetch
 *                             links); a page with a button (POST form with CSRF), or the
 *                             clear page for a used / expired / unknown link
 *   POST /regist/verify       onetimetoken, csrf: uses the link, marks the application
 *                             mail-verified and makes the continuation token (purpose
 *                             "issue-form", 3 days), then 303 to /issue/form?t=<token>
 *   GET  /issue/form          ?t=: the issuance form (refresh and Back work: the continuation
 *                             is only used up when the certificate is issued)
 *   POST /issue/form          validation, errors beside their fields; else the confirm page
 *   POST /issue/confirm       action=back: the form with the values; action=submit: issues
 *   GET  /issue/download      ?d=<secret>: the PKCS#12, once, within PORTAL_DOWNLOAD_TTL
 *                             (a query: the access log records paths, not queries)
 *
 * The continuation token is bound to the session: the store keeps BLAKE2b-256 keyed with the
 * session id, so the link works only with the cookie of the browser that used the mail link.
 * Issuance form fields: t, csrf, name_kanji, name_romaji, ou, subject_email, hostnames
 * (server profile: DNS names separated by blanks or commas), key_mode (p256 | rsa2048 | csr),
 * csr (PEM, at most PORTAL_CSR_FIELD_MAX bytes), app_password, app_password_confirm; after a
 * Back, pw_hash and pw_mac carry the argon2id hash so the password need not be typed again.
 * Which fields a profile needs: client name_kanji, name_romaji, ou, subject_email; codesign
 * name_romaji, ou (subject_email optional: an rfc822Name SAN); server hostnames (ou
 * optional).  Character rules: name_kanji 1-64 characters of CJK ideographs, hiragana,
 * katakana (incl. ー), 々〆〇, full-width Latin letters and the ideographic space; name_romaji
 * 1-64 of ASCII letters, space, hyphen, apostrophe and period (at least one letter); ou 1-64
 * characters without control characters; the password 8-128 characters.  subject_email of a
 * self application must be the address the mailed link confirmed, and lie in the
 * organization's domains when it lists any (agent applications too).  The certificate's
 * subject is always built from these values (O = the organization's name, OU, CN = the romaji
 * name (client), the organization's name (codesign: the publisher) or the first host name;
 * SANs: the e-mail address or the host names): a CSR only proves
 * possession of its key, and is checked (parse, key strength, profile and lint) before the
 * confirm page, its refusal shown beside the field.
 *
 * Submit: in one transaction the form nonce (purpose "issue-submit", hash only) is recorded
 * and the application moves mail-verified -> submitted with its values and the password's
 * argon2id hash (crypto_pwhash_str); then the CA issues (its own durable commit; a key for
 * p256/rsa2048 is generated here: a holder key, never a CA key); then in one transaction the
 * ticket is marked used, the application moves submitted -> issued with the serial and the
 * hash of a new certificate code, the continuation is used up, the PKCS#12 is parked for its
 * download link, the audit entry "portal.issue" and the mail (the certificate code) are
 * written.  The response is the certificate page: the PIN of the PKCS#12 (12 characters of an
 * unambiguous alphabet) and the certificate code are shown once and never stored (the code
 * only as BLAKE2b-256).  A repeated or concurrent Submit finds the nonce or the state and shows
 * "already issued" without PIN or code.  When the ticket was taken meanwhile by another
 * application, the new certificate is revoked at once and the application is cancelled.
 */
#ifndef SHOMEI_PORTAL_H
#define SHOMEI_PORTAL_H

#include <stddef.h>

#include "http/http.h"
#include "util/util.h"

struct ca;
struct http_req;

#define PORTAL_APP_TTL (3 * 24 * 3600)	  /* an application and its mailed link */
#define PORTAL_FORM_TTL 3600		  /* from step 1 to Register */
#define PORTAL_DOWNLOAD_TTL 3600	  /* a PKCS#12 waits this long for its download */
#define PORTAL_ISSUE_BODY_MAX (64 * 1024) /* bytes of an issuance form (a pasted CSR) */
#define PORTAL_CSR_FIELD_MAX (32 * 1024)  /* bytes of the csr field */

/*
 * Loads templates, catalogs, CAPTCHA and mail settings and the portal secret; once, at start,
 * before the HTTPS listener.  listen_addrs: the listeners (for the CAPTCHA test-mode rule).
 */
int portal_init(struct ca *, const char *const *listen_addrs, size_t naddrs, struct err *);
void portal_fini(void);
/* The configuration keys portal_init reads (NULL-terminated; see conf_check_keys). */
extern const char *const portal_conf_keys[];

/* The portal's routes (HTTPS listener): the handlers below. */
extern const struct http_route portal_http_routes[];

/* Handlers (HTTPS route table). */
int portal_step1_get(struct http_req *);
int portal_step1_post(struct http_req *);
int portal_confirm_get(struct http_req *);
int portal_confirm_post(struct http_req *);
int portal_verify_get(struct http_req *);
int portal_verify_post(struct http_req *);
int portal_policy_get(struct http_req *);
/* Signed self-service requests (online.c; decided by src/ra): JSON or a page by Accept. */
int portal_online_revoke_post(struct http_req *);
int portal_online_status_post(struct http_req *);
int portal_index_get(struct http_req *); /* GET / (top.c) */
/*
 * Web revocation (revoke.c; decided by src/ra/revoke.c): GET/POST /revoke/step1, POST
 * /revoke/confirm, GET (and HEAD) /revoke/verify shows the link's page and uses nothing,
 * POST /revoke/verify (its button, with CSRF) revokes.
 */
int portal_revoke_step1_get(struct http_req *);
int portal_revoke_step1_post(struct http_req *);
int portal_revoke_verify_get(struct http_req *);
int portal_revoke_verify_post(struct http_req *);
int portal_revoke_confirm_post(struct http_req *);
/* Re-issue (reissue.c): see the header of reissue.c for the steps. */
int portal_reissue_get(struct http_req *);
int portal_reissue_post(struct http_req *);
int portal_reissue_warn_post(struct http_req *);
int portal_reissue_edit_post(struct http_req *);
int portal_reissue_check_post(struct http_req *);
int portal_reissue_confirm_post(struct http_req *);
int portal_reissue_fetch_get(struct http_req *);
int portal_reissue_fetch_post(struct http_req *);
int portal_issue_form_get(struct http_req *);
int portal_issue_form_post(struct http_req *);
int portal_issue_confirm_post(struct http_req *);
int portal_issue_download_get(struct http_req *);
int portal_approve_get(struct http_req *);
int portal_approve_post(struct http_req *);
int portal_deliver_get(struct http_req *);
int portal_deliver_post(struct http_req *);

#endif
