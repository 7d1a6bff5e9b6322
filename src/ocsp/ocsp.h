/*
 * ocsp: the OCSP responder (RFC 6960) — request parsing, status lookup, ResponseData signed by
 * the delegated OCSP certificate through the signer, a response cache that revocation
 * invalidates, and the HTTP handlers for POST /ocsp and GET /ocsp/<base64>.
 * (Stub until the OCSP work lands.)
 */
#ifndef SHOMEI_OCSP_H
#define SHOMEI_OCSP_H

#include "http/http.h"

/* r->app is the struct ca of the web process. */
int ocsp_http_post(struct http_req *);
int ocsp_http_get(struct http_req *);

#endif
