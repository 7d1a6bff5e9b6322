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
#include "ra/ra.h"
#include "util/util.h"

/* ---- officers' mail (mail.c): shared by `shomei officer` and the console pages ---- */

/* ---- console pages (console.c, gate.c, pages.c) ---- */

/*
 * Before the privilege drop (it reads keys/console.key): templates, the console's secret, the
 * officer CA's certificate for the TLS request and the TSA's chain.
 */
int console_init(struct ca *, struct err *);
void console_fini(void);
/* The PEM the console listener's certificate request names (http_listen.tls_client_ca_pem). */
const char *console_client_ca_pem(void);
/* The console listener's routes, and the enrolment pages on the public HTTPS listener. */
extern const struct http_route console_http_routes[];
extern const struct http_route console_public_routes[];
/* The configuration keys of the pages (NULL-terminated; see conf_check_keys). */
extern const char *const console_page_conf_keys[];

#endif
