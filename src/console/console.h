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

/* ---- console pages (console.c, login.c) ---- */

#endif
