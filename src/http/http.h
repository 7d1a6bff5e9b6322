/*
 * http: the libmicrohttpd wrapper — listeners, a route table, responses, one log line per
 * request.  Handlers get a struct http_req and answer through http_reply*().
 */
#ifndef SHOMEI_HTTP_H
#define SHOMEI_HTTP_H

#include <stddef.h>

#include "util/util.h"

struct MHD_Connection;
struct http_server;

struct http_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	const char *version;
	void *app; /* the application context given to http_server_start */
	int status; /* set by http_reply*, for the log */
	size_t sent;
};

typedef int http_handler(struct http_req *);

struct http_route {
	const char *method; /* "GET", "POST", or NULL for any */
	const char *path;   /* exact path, or a prefix when it ends in '/' */
	http_handler *fn;
};

struct http_listen {
	const char *addr; /* "127.0.0.1:8080" or "[::1]:8080" */
	unsigned threads;
	const struct http_route *routes;
	void *app;
};

int http_server_start(const struct http_listen *, struct http_server **, struct err *);
/* Stops accepting, lets in-flight requests finish (up to grace seconds), then stops. */
void http_server_stop(struct http_server *, int grace);

int http_reply(struct http_req *, int status, const char *ctype, const void *, size_t);
int http_reply_text(struct http_req *, int status, const char *text);

/* Parses "ADDR:PORT" / "[V6]:PORT" into a sockaddr (storage >= sockaddr_in6). */
struct sockaddr;
int http_addr_parse(const char *, struct sockaddr *, unsigned *len, struct err *);

#endif
