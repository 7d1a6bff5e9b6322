/*
 * api: the REST/JSON API under /api/v1 (issue, get, list/search, revoke), authenticated by
 * per-organization API keys, errors as RFC 7807 problem+json.  (Stub until the API lands.)
 */
#ifndef SHOMEI_API_H
#define SHOMEI_API_H

#include "http/http.h"

/* Every /api/v1/ request; r->app is the struct ca of the web process. */
int api_http(struct http_req *);

#endif
