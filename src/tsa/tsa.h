/*
 * tsa: the RFC 3161 time-stamping authority — TimeStampReq parsing, TSTInfo, CMS SignedData
 * signed through the signer (SIGN_TSA), and the HTTP handler for POST /tsa.
 * (Stub until the TSA work lands.)
 */
#ifndef SHOMEI_TSA_H
#define SHOMEI_TSA_H

#include "http/http.h"

/* r->app is the struct ca of the web process. */
int tsa_http_post(struct http_req *);

#endif
