/*
 * console: the RA officers' face (DESIGN.md 2.5, issue 13).  Officers log in with a TLS client
 * certificate on a listener of their own (listen.console); their enrolment pages (the mailed
 * certificate URL and access PIN) are on the public HTTPS listener, which never asks for a
 * client certificate.  The rules (who is an officer, what each may do, every write) are in
 * src/ra; this face draws pages and mails.
 */
#ifndef SHOMEI_CONSOLE_H
#define SHOMEI_CONSOLE_H

#include "ca/ca.h"
#include "http/http.h"
#include "mail/mail.h"
#include "ra/ra.h"
#include "util/util.h"

/* ---- officers' mail (mail.c): shared by `shomei officer` and the console pages ---- */

/* The configuration keys of the console (NULL-terminated; see conf_check_keys). */
extern const char *const console_conf_keys[];

#define CONSOLE_BASE_DEFAULT "https://127.0.0.1:8444"	     /* console.base_url */
#define CONSOLE_PORTAL_BASE_DEFAULT "https://localhost:8443" /* portal.base_url's default */
#define CONSOLE_MAIL_SUBJECT_ENROL "登録担当者用証明書発行受付通知 / Officer certificate"
#define CONSOLE_MAIL_SUBJECT_READY "証明書発行のお知らせ / Your certificate is ready"
#define CONSOLE_MAIL_SUBJECT_EXPIRY30                                                              \
	"証明書の有効期限のお知らせ (30 日前) / Certificate expires in 30 days"
#define CONSOLE_MAIL_SUBJECT_EXPIRY7                                                               \
	"証明書の有効期限のお知らせ (7 日前) / Certificate expires in 7 days"
#define CONSOLE_MAIL_SUBJECT_REMIND "証明書入れ替えのお願い / Please replace your certificate"
#define CONSOLE_MAIL_SUBJECT_RENEW "登録担当者用証明書更新のお知らせ / Officer certificate renewal"
#define CONSOLE_MAIL_SUBJECT_CLIENT "クライアント証明書発行のお知らせ / Your client certificate"
#define CONSOLE_MAIL_SUBJECT_CLIENT_PIN                                                            \
	"クライアント証明書のアクセス PIN / Access PIN of your client certificate"
#define CONSOLE_MAIL_SUBJECT_CLIENT_ZIP                                                            \
	"クライアント証明書一括発行のお知らせ / Client certificates issued"

/*
 * What the officers' mails need: the mail settings with the queue's key, the base URL of
 * the enrolment page (console.public_base_url, default portal.base_url: the public HTTPS
 * listener) and of the renewal page (console.base_url: the console listener), the URL's
 * lifetime in days.  console_mail_clear() wipes it.
 */
struct console_mail {
	struct mail_conf mail;
	char *public_base;  /* no trailing slash */
	char *console_base; /* no trailing slash */
	long enrol_days;
	long download_days; /* console.download_days: the user administrator's URL */
};
/* Loads it from ca's configuration (reads the mail queue's key: before dropping privileges). */
int console_mail_init(struct console_mail *, struct ca *, struct err *);
void console_mail_clear(struct console_mail *); /* accepts NULL */
/* n's hooks queue the mails below with m (m must outlive n). */
void console_mail_notify(struct console_mail *m, struct ra_officer_notify *n);
/* The user administrator's mails of certificates issued in the console (orgcert.c). */
void console_mail_ocert_notify(struct console_mail *m, struct ra_ocert_notify *n);
int console_mail_ready(void *arg, struct store *, const struct store_certadmin *, const char *token,
		       struct err *);
int console_mail_remind(void *arg, struct store *, const struct store_certadmin *, struct err *);
int console_mail_expiring(void *arg, struct store *, const struct store_certadmin *,
			  time_t not_after, int days, struct err *);
/* The holders' and the user administrator's mails of client certificates (client.c). */
void console_mail_client_notify(struct console_mail *m, struct ra_client_notify *n);
/* The hooks themselves (arg: a struct console_mail). */
int console_mail_enrol(void *arg, struct store *, const struct ra_officer *, const char *token,
		       struct err *);
int console_mail_renew(void *arg, struct store *, const struct ra_officer *, const char *token,
		       struct err *);

/* ---- console pages (console.c, gate.c, pages.c) ---- */

/*
 * Before the privilege drop (it reads keys/console.key): templates, the console's secret, the
 * officer CA's certificate for the TLS request and the TSA's chain.
 */
int console_init(struct ca *, struct err *);
void console_fini(void);
/*
 * The console's periodic work (schedule.c), in the web process after the privilege drop: idle
 * sessions, replacements, officers' renewals.
 */
int console_schedule_start(struct ca *, struct err *);
void console_schedule_stop(void);
/* Stops the bulk commit worker (a running commit finishes first) and forgets the jobs. */
void console_bulk_jobs_stop(void);
/* The PEM the console listener's certificate request names (http_listen.tls_client_ca_pem). */
const char *console_client_ca_pem(void);
/* The console listener's routes, and the enrolment pages on the public HTTPS listener. */
extern const struct http_route console_http_routes[];
extern const struct http_route console_public_routes[];

/*
 * Who may use each route of console_http_routes: what its handler's gate asks for, declared
 * beside the route table for `shomei routes` and for the test that sends every route as every
 * role (tests/integration/test_console_routes.py), which fails for a route declared nowhere.
 * params: the query (GET) or form fields (POST) that choose the requirement ("" for none);
 * access: "public" (no check: anyone on the listener), "certificate" (an officer's
 * certificate, no session), or "roles=R[,R...]" with " perms=P[|P...]" when an RA officer
 * needs one of these permissions (roles officer, operator, auditor; permissions as
 * ra_perms_parse reads them).  A route may have several rows (one per kind).
 */
struct console_route_access {
	const char *method, *path, *params, *access;
};
extern const struct console_route_access console_route_access[];

#endif
