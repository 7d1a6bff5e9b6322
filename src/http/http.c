/* http: the libmicrohttpd server wrapper. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http/http.h"

struct http_server {
	struct MHD_Daemon *d;
	struct http_listen cfg;
	char *addr;
};

int
http_addr_parse(const char *s, struct sockaddr *sa, unsigned *len, struct err *e)
{
	const char *colon;
	char host[64];
	long port;
	size_t hl;
	struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return err_set(e, ERR_REFUSED, "listen: bad address \"%s\"", s);
		hl = (size_t)(rb - s - 1);
		colon = rb + 1;
		s++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return err_set(e, ERR_REFUSED, "listen: \"%s\" lacks :PORT", s);
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return err_set(e, ERR_REFUSED, "listen: bad address \"%s\"", s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (util_parse_long(colon + 1, 1, 65535, &port) == -1)
		return err_set(e, ERR_REFUSED, "listen: bad port in \"%s\"", s);
	if (strcmp(host, "localhost") == 0)
		memcpy(host, "127.0.0.1", 10);
	memset(s6, 0, sizeof(*s6));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	return err_set(e, ERR_REFUSED, "listen: \"%s\" is not a numeric address", host);
}

int
http_reply(struct http_req *r, int status, const char *ctype, const void *p, size_t n)
{
	struct MHD_Response *resp;
	enum MHD_Result ok;

	resp = MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return -1;
	if (ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ok = MHD_queue_response(r->conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	r->status = status;
	r->sent = n;
	return ok == MHD_YES ? 0 : -1;
}

int
http_reply_text(struct http_req *r, int status, const char *text)
{
	return http_reply(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

static const struct http_route *
http_route_find(const struct http_route *rt, const char *method, const char *url, int *badmethod)
{
	size_t pl;

	*badmethod = 0;
	for (; rt->path != NULL; rt++) {
		pl = strlen(rt->path);
		if (!(strcmp(url, rt->path) == 0 ||
		      (pl > 1 && rt->path[pl - 1] == '/' && strncmp(url, rt->path, pl) == 0)))
			continue;
		if (rt->method != NULL && strcmp(rt->method, method) != 0 &&
		    !(strcmp(rt->method, "GET") == 0 && strcmp(method, "HEAD") == 0)) {
			*badmethod = 1;
			continue;
		}
		return rt;
	}
	return NULL;
}

static enum MHD_Result
http_dispatch(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct http_server *srv = cls;
	const struct http_route *rt;
	struct http_req r;
	struct timespec t0, t1;
	char eu[256];
	int bad;

	/* first call: headers only; bodies are not accepted by any route yet */
	if (*con_cls == NULL) {
		*con_cls = srv;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		*upload_size = 0; /* discard */
		return MHD_YES;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&r, 0, sizeof(r));
	r.conn = c;
	r.method = method;
	r.url = url;
	r.version = version;
	r.app = srv->cfg.app;
	rt = http_route_find(srv->cfg.routes, method, url, &bad);
	if (rt == NULL)
		http_reply_text(&r, bad ? 405 : 404, bad ? "method not allowed\n" : "not found\n");
	else if (rt->fn(&r) == -1 && r.status == 0)
		http_reply_text(&r, 500, "internal error\n");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("%s %s %s %d %zu %.3fms", srv->addr, method,
		 log_escape(eu, sizeof(eu), url, strlen(url)), r.status, r.sent,
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	(void)upload;
	return MHD_YES;
}

int
http_server_start(const struct http_listen *cfg, struct http_server **out, struct err *e)
{
	struct http_server *srv;
	struct sockaddr_storage ss;
	unsigned sl;

	*out = NULL;
	if (http_addr_parse(cfg->addr, (struct sockaddr *)&ss, &sl, e) == -1)
		return -1;
	srv = xcalloc(1, sizeof(*srv));
	srv->cfg = *cfg;
	srv->addr = xstrdup(cfg->addr);
	srv->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_ITC |
		(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	    0, NULL, NULL, http_dispatch, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, cfg->threads ? cfg->threads : 2,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	if (srv->d == NULL) {
		err_set(e, ERR_INTERNAL, "listen: cannot listen on %s (in use, or not permitted)",
			cfg->addr);
		free(srv->addr);
		free(srv);
		return -1;
	}
	*out = srv;
	return 0;
}

void
http_server_stop(struct http_server *srv, int grace)
{
	const union MHD_DaemonInfo *di;
	int i;

	if (srv == NULL)
		return;
	MHD_quiesce_daemon(srv->d);
	for (i = 0; i < grace * 10; i++) {
		di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (di == NULL || di->num_connections == 0)
			break;
		usleep(100000);
	}
	MHD_stop_daemon(srv->d);
	free(srv->addr);
	free(srv);
}
