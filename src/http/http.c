/*
 * http: the libmicrohttpd server wrapper.  A request is handled in three steps: headers
 * (route, method, limits, overload), body (accumulated up to the route's maximum) and
 * dispatch.  Per-request state is freed in the completion callback, which also ends the
 * request's "in flight" count.  Per-connection state (struct http_sock) carries the deadline
 * of the header or body being received; a watchdog thread shuts down the sockets that miss
 * theirs, and libmicrohttpd, reading end-of-file, closes them in its own thread.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "http/http.h"

/* One accepted connection, from libmicrohttpd's STARTED notice to its CLOSED notice. */
struct http_sock {
	struct http_sock *prev, *next;
	int fd;		  /* libmicrohttpd's: only shut down, never closed here */
	long deadline_ms; /* CLOCK_MONOTONIC; 0: none (a handler or an answer is under way) */
	const char *what; /* what must arrive by then, for the log */
};

struct http_server {
	struct MHD_Daemon *d;
	struct http_listen cfg;
	struct http_route *routes; /* cfg.tables composed */
	char *addr;
	unsigned inflight;     /* atomic */
	unsigned pending;      /* atomic: of those, requests whose body is still arriving */
	size_t deferred_bytes; /* atomic: body bytes held by requests without a slot */
	pthread_mutex_t lock;  /* socks, wd_stop */
	pthread_cond_t wake;
	struct http_sock *socks;
	pthread_t wd;
	int wd_started, wd_stop;
};

/* State of one request, from its headers to its completion. */
struct http_conn {
	struct http_server *srv;
	const struct http_route *rt;
	struct buf body;
	struct timespec t0;
	int counted;  /* holds one "in flight" slot */
	int pending;  /* ... and is one of srv->pending (its body is still arriving) */
	int deferred; /* takes its slot once its body is complete (pending bodies hold enough) */
	size_t held;  /* ... and holds these bytes of srv->deferred_bytes meanwhile */
	int busy;     /* ... over HTTP_DEFERRED_BYTES: answered 503 once its body is in */
	int answered; /* a reply was queued before the body was read (413, 503, ...) */
	int too_big;
};

static void http_peer_ip(struct http_req *, unsigned char out[16], size_t *len);

static long
http_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* Sets the deadline of c's connection: secs from now (0: none), for what to arrive. */
static void
http_sock_deadline(struct http_server *srv, struct MHD_Connection *c, unsigned secs,
		   const char *what)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct http_sock *hs = ci != NULL ? ci->socket_context : NULL;

	if (hs == NULL)
		return;
	pthread_mutex_lock(&srv->lock);
	hs->deadline_ms = secs != 0 ? http_now_ms() + (long)secs * 1000L : 0;
	hs->what = what;
	pthread_mutex_unlock(&srv->lock);
}

/*
 * libmicrohttpd's connection notices (its worker thread): a new connection gets the header
 * deadline and joins srv->socks; a closed one leaves them before libmicrohttpd closes its
 * socket, so the watchdog never shuts down a number that another file has taken.
 */
static void
http_notify(void *cls, struct MHD_Connection *c, void **socket_context,
	    enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	struct http_sock *hs = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL)
			return;
		hs = xcalloc(1, sizeof(*hs));
		hs->fd = ci->connect_fd;
		hs->deadline_ms = http_now_ms() + (long)srv->cfg.header_timeout_s * 1000L;
		hs->what = "request header";
		pthread_mutex_lock(&srv->lock);
		hs->next = srv->socks;
		if (srv->socks != NULL)
			srv->socks->prev = hs;
		srv->socks = hs;
		pthread_mutex_unlock(&srv->lock);
		*socket_context = hs;
		return;
	}
	if (code != MHD_CONNECTION_NOTIFY_CLOSED || hs == NULL)
		return;
	pthread_mutex_lock(&srv->lock);
	if (hs->prev != NULL)
		hs->prev->next = hs->next;
	else
		srv->socks = hs->next;
	if (hs->next != NULL)
		hs->next->prev = hs->prev;
	pthread_mutex_unlock(&srv->lock);
	free(hs);
	*socket_context = NULL;
}

/*
 * The watchdog: four times a second, shuts down (both ways) the connections past their
 * deadline.  libmicrohttpd then reads end-of-file and closes the connection itself, ending
 * its request (and its "in flight" slot) through http_completed.
 */
static void *
http_watchdog(void *arg)
{
	struct http_server *srv = arg;
	struct http_sock *hs;
	struct timespec until;
	long now;

	pthread_mutex_lock(&srv->lock);
	while (!srv->wd_stop) {
		clock_gettime(CLOCK_MONOTONIC, &until); /* the condition's clock */
		until.tv_nsec += 250000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&srv->wake, &srv->lock, &until);
		now = http_now_ms();
		for (hs = srv->socks; hs != NULL; hs = hs->next) {
			if (hs->deadline_ms == 0 || now < hs->deadline_ms)
				continue;
			log_warn("%s: %s not complete in time: closing the connection", srv->addr,
				 hs->what);
			metrics_count("shomei_http_deadline_closed_total", NULL, 1);
			(void)shutdown(hs->fd, SHUT_RDWR);
			hs->deadline_ms = 0;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

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

const char *
http_header(struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
http_query(struct http_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Adds the headers every answer gets, queues it and drops our reference. */
static int
http_queue(struct http_req *r, struct MHD_Response *resp, int status, const char *ctype, size_t n,
	   const char *const *hdrs)
{
	enum MHD_Result ok;
	int cache = 0;
	size_t i;

	if (ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	for (i = 0; hdrs != NULL && hdrs[i] != NULL && hdrs[i + 1] != NULL; i += 2) {
		MHD_add_response_header(resp, hdrs[i], hdrs[i + 1]);
		if (strcasecmp(hdrs[i], "Cache-Control") == 0)
			cache = 1;
	}
	if (!cache)
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	/* every HTTPS answer, pages, API and static files alike: a browser that once reached
	 * us over TLS never goes to plain HTTP for this host again (no includeSubDomains: the
	 * parent domain is the organization's, not ours) */
	if (r->tls)
		MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
	ok = MHD_queue_response(r->conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	if (ok != MHD_YES)
		return -1; /* nothing queued: status stays 0 and the caller falls back */
	r->status = status;
	r->sent = n;
	return 0;
}

int
http_reply_hdrs(struct http_req *r, int status, const char *ctype, const void *p, size_t n,
		const char *const *hdrs)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return -1;
	return http_queue(r, resp, status, ctype, n, hdrs);
}

int
http_reply_shared(struct http_req *r, int status, const char *ctype, const void *p, size_t n,
		  const char *const *hdrs, void (*done)(void *), void *cls)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer_with_free_callback_cls(n, (void *)p, done, cls);
	if (resp == NULL) {
		done(cls);
		return -1;
	}
	return http_queue(r, resp, status, ctype, n, hdrs);
}

int
http_reply(struct http_req *r, int status, const char *ctype, const void *p, size_t n)
{
	return http_reply_hdrs(r, status, ctype, p, n, NULL);
}

int
http_reply_text(struct http_req *r, int status, const char *text)
{
	return http_reply(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* JSON string body with the few escapes RFC 8259 requires. */
static void
http_json_str(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			buf_printf(b, "\\u%04x", c);
		else
			buf_putc(b, c);
	}
	buf_putc(b, '"');
}

int
http_reply_problem(struct http_req *r, int status, const char *type, const char *title,
		   const char *detail)
{
	struct buf b;
	int rc;

	buf_init(&b, 64 * 1024);
	buf_printf(&b, "{\"type\":");
	http_json_str(&b, type != NULL ? type : "about:blank");
	buf_printf(&b, ",\"title\":");
	http_json_str(&b, title);
	buf_printf(&b, ",\"status\":%d", status);
	if (detail != NULL) {
		buf_printf(&b, ",\"detail\":");
		http_json_str(&b, detail);
	}
	buf_printf(&b, "}\n");
	rc = http_reply(r, status, "application/problem+json", b.data, b.len);
	buf_free(&b);
	return rc;
}

/* A generic error in the shape the route's clients understand. */
static int
http_reply_generic(struct http_req *r, enum http_kind kind, int status, const char *title,
		   const char *ja, const char *retry_after)
{
	const char *hdrs[] = {"Retry-After", retry_after, NULL};
	struct buf b;
	int rc;

	switch (kind) {
	case HTTP_KIND_API:
		if (retry_after == NULL)
			return http_reply_problem(r, status, NULL, title, NULL);
		buf_init(&b, 4096);
		buf_printf(&b, "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%d}\n", title,
			   status);
		rc = http_reply_hdrs(r, status, "application/problem+json", b.data, b.len, hdrs);
		buf_free(&b);
		return rc;
	case HTTP_KIND_HTML:
		buf_init(&b, 8192);
		buf_printf(&b,
			   "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">"
			   "<meta name=\"viewport\" content=\"width=device-width\">"
			   "<title>%s / %s</title></head>\n<body style=\"font-family:sans-serif;"
			   "max-width:40em;margin:3em auto\"><h1>%s</h1><p lang=\"en\">%s</p>%s"
			   "</body></html>\n",
			   ja, title, ja, title,
			   retry_after != NULL
			       ? "<p>しばらくしてから再度お試しください。"
				 "<span lang=\"en\"> Please try again in a few seconds.</span></p>"
			       : "");
		rc = http_reply_hdrs(r, status, "text/html; charset=utf-8", b.data, b.len,
				     retry_after != NULL ? hdrs : NULL);
		buf_free(&b);
		return rc;
	default:
		buf_init(&b, 1024);
		buf_printf(&b, "%s\n", title);
		rc = http_reply_hdrs(r, status, "text/plain; charset=utf-8", b.data, b.len,
				     retry_after != NULL ? hdrs : NULL);
		buf_free(&b);
		return rc;
	}
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

/* 1 when a request could be for either method: the same, either any (NULL), GET and HEAD. */
static int
http_methods_meet(const char *a, const char *b)
{
	return a == NULL || b == NULL || strcmp(a, b) == 0 ||
	       (strcmp(a, "GET") == 0 && strcmp(b, "HEAD") == 0) ||
	       (strcmp(a, "HEAD") == 0 && strcmp(b, "GET") == 0);
}

/* 1 when every request for later's method reaches first before it (first is a prefix route). */
static int
http_route_shadows(const struct http_route *first, const struct http_route *later)
{
	size_t pl = strlen(first->path);
	int below, takes;

	below = pl > 1 && first->path[pl - 1] == '/' && strncmp(later->path, first->path, pl) == 0;
	/* first answers every method later does: any, the same, or GET (which answers HEAD) */
	takes = first->method == NULL ||
		(later->method != NULL &&
		 (strcmp(first->method, later->method) == 0 ||
		  (strcmp(first->method, "GET") == 0 && strcmp(later->method, "HEAD") == 0)));
	return below && takes;
}

int
http_routes_compose(const struct http_route *const *tables, struct http_route **out, struct err *e)
{
	struct http_route *all = NULL, *a, *b;
	size_t n = 0, t, i, j;
	int rc = -1;

	*out = NULL;
	for (t = 0; tables[t] != NULL; t++)
		for (i = 0; tables[t][i].path != NULL; i++)
			n++;
	all = xcalloc(n + 1, sizeof(*all));
	n = 0;
	for (t = 0; tables[t] != NULL; t++)
		for (i = 0; tables[t][i].path != NULL; i++)
			all[n++] = tables[t][i];
	for (j = 1; j < n; j++)
		for (i = 0; i < j; i++) {
			a = &all[i];
			b = &all[j];
			if (strcmp(a->path, b->path) == 0 &&
			    http_methods_meet(a->method, b->method)) {
				err_set(e, ERR_INTERNAL,
					"http: routes %s %s (%s) and %s %s (%s) overlap",
					a->method ? a->method : "*", a->path,
					a->name ? a->name : "-", b->method ? b->method : "*",
					b->path, b->name ? b->name : "-");
				goto out;
			}
			if (http_route_shadows(a, b)) {
				err_set(
				    e, ERR_INTERNAL,
				    "http: route %s %s (%s) is never reached: %s %s (%s) takes it "
				    "first",
				    b->method ? b->method : "*", b->path, b->name ? b->name : "-",
				    a->method ? a->method : "*", a->path, a->name ? a->name : "-");
				goto out;
			}
		}
	*out = all;
	all = NULL;
	rc = 0;
out:
	free(all);
	return rc;
}

const char *
http_url_for_log(const struct http_route *routes, const struct http_route *rt, const char *url,
		 char *out, size_t n)
{
	size_t pl;

	/* no route (404, 405): the secret prefix the path is under, whatever the method */
	for (; rt == NULL && routes != NULL && routes->path != NULL; routes++) {
		pl = strlen(routes->path);
		if (routes->secret_tail && strncmp(url, routes->path, pl) == 0)
			rt = routes;
	}
	if (rt != NULL && rt->secret_tail)
		snprintf(out, n, "%s*", rt->path);
	else
		log_escape(out, n, url, strlen(url));
	return out;
}

/*
 * Logs and counts a finished request: "ADDR METHOD PATH STATUS BYTES NNNus cpu=NNNus", the
 * time from its headers to its answer, and the CPU time its handler's thread spent in it (the
 * rest of the time is waiting: the body, the signer, the store's commit, the CPU).
 */
static void
http_account(struct http_server *srv, struct http_conn *hc, struct http_req *r)
{
	struct timespec t1;
	char eu[256], em[64], labels[160];
	long us;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (long)(t1.tv_sec - hc->t0.tv_sec) * 1000000L + (t1.tv_nsec - hc->t0.tv_nsec) / 1000;
	/* a one-time URL's token never reaches the log: its route's prefix and "*" instead */
	http_url_for_log(srv->routes, hc->rt, r->url, eu, sizeof(eu));
	log_info("%s %s %s %d %zu %ldus cpu=%ldus", srv->addr,
		 log_escape(em, sizeof(em), r->method, strlen(r->method)), eu, r->status, r->sent,
		 us, r->cpu_us);
	snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%d\"",
		 hc->rt != NULL && hc->rt->name != NULL ? hc->rt->name : "other", r->status);
	metrics_count("shomei_http_requests_total", labels, 1);
}

static void
http_req_init(struct http_req *r, struct http_server *srv, struct MHD_Connection *c,
	      const char *url, const char *method, const char *version)
{
	memset(r, 0, sizeof(*r));
	r->conn = c;
	r->method = method;
	r->url = url;
	r->version = version;
	r->app = srv->cfg.app;
	r->tls = srv->cfg.tls_cert_pem != NULL;
	r->srv = srv;
}

/* Seconds a route's body may take: its own, else the listener's, never beyond timeout_s. */
static unsigned
http_body_s(const struct http_server *srv, const struct http_route *rt)
{
	unsigned s = rt != NULL && rt->body_s != 0 ? rt->body_s : srv->cfg.body_timeout_s;

	return s < srv->cfg.timeout_s ? s : srv->cfg.timeout_s;
}

/*
 * Requests waiting for their slot buffer their bodies without one: at most this many bytes
 * in all per listener (a request that would pass it is answered 503), so that many large
 * uploads cannot take the process's memory.
 */
#define HTTP_DEFERRED_BYTES (64u << 20)

static void
http_held_release(struct http_server *srv, struct http_conn *hc)
{
	if (hc->held > 0)
		__atomic_sub_fetch(&srv->deferred_bytes, hc->held, __ATOMIC_RELAXED);
	hc->held = 0;
}

/*
 * Takes an "in flight" slot for a request whose headers are in; 0, or -1 when every slot is
 * taken (the caller answers 503).  A request with a body to come holds its slot while the
 * body arrives — but such requests hold at most three quarters of the slots: beyond that a
 * request's slot waits until its body is complete (hc->deferred), so that slow uploads
 * cannot take the slots that OCSP, TSA and CRL requests need for the moment they run.
 */
static int
http_slot_take(struct http_server *srv, struct http_conn *hc, int hasbody)
{
	unsigned max = srv->cfg.max_inflight, share = max - max / 4;

	if (hasbody && __atomic_add_fetch(&srv->pending, 1, __ATOMIC_RELAXED) > share) {
		__atomic_sub_fetch(&srv->pending, 1, __ATOMIC_RELAXED);
		hc->deferred = 1;
		return 0;
	}
	hc->pending = hasbody;
	hc->counted = 1;
	return __atomic_add_fetch(&srv->inflight, 1, __ATOMIC_RELAXED) > max ? -1 : 0;
}

/* The body is complete: it no longer counts as pending; a deferred request takes its slot. */
static int
http_slot_body_done(struct http_server *srv, struct http_conn *hc)
{
	if (hc->pending) {
		__atomic_sub_fetch(&srv->pending, 1, __ATOMIC_RELAXED);
		hc->pending = 0;
	}
	if (!hc->deferred)
		return 0;
	hc->deferred = 0;
	http_held_release(srv, hc);
	if (hc->busy)
		return -1;
	hc->counted = 1;
	return __atomic_add_fetch(&srv->inflight, 1, __ATOMIC_RELAXED) > srv->cfg.max_inflight ? -1
											       : 0;
}

/* 1 when the request announces a body (a length above 0, or a transfer coding). */
static int
http_has_body(struct MHD_Connection *c)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");

	if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding") != NULL)
		return 1;
	return cl != NULL && strcmp(cl, "0") != 0;
}

static enum MHD_Result
http_dispatch(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_conn *hc = *con_cls;
	struct http_req r;
	const char *cl;
	long clen;
	int bad;

	if (hc == NULL) {
		/* headers are in: route, method, declared length, load */
		hc = xcalloc(1, sizeof(*hc));
		hc->srv = srv;
		clock_gettime(CLOCK_MONOTONIC, &hc->t0);
		*con_cls = hc;
		http_req_init(&r, srv, c, url, method, version);
		hc->rt = http_route_find(srv->routes, method, url, &bad);
		buf_init(&hc->body, hc->rt != NULL ? hc->rt->max_body : 0);
		/* the body (read, or read and dropped after an early answer) has its own time */
		http_sock_deadline(srv, c, http_body_s(srv, hc->rt), "request body");
		if (hc->rt == NULL) {
			http_reply_text(&r, bad ? 405 : 404,
					bad ? "method not allowed\n" : "not found\n");
			hc->answered = 1;
		} else if (http_slot_take(srv, hc, http_has_body(c)) == -1) {
			http_reply_generic(&r, hc->rt->kind, 503, "Service busy",
					   "ただいま混み合っています", "2");
			hc->answered = 1;
		} else {
			cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
			if (cl != NULL && (util_parse_long(cl, 0, 0x7fffffffL, &clen) == -1 ||
					   (size_t)clen > hc->rt->max_body)) {
				http_reply_generic(&r, hc->rt->kind, 413, "Request body too large",
						   "送信データが大きすぎます", NULL);
				hc->answered = 1;
			}
		}
		if (hc->answered)
			http_account(srv, hc, &r);
		return MHD_YES;
	}
	if (*upload_size != 0) {
		/* a body without a slot counts against the listener's budget for those */
		if (hc->deferred && !hc->busy) {
			if (__atomic_add_fetch(&srv->deferred_bytes, *upload_size,
					       __ATOMIC_RELAXED) > HTTP_DEFERRED_BYTES) {
				__atomic_sub_fetch(&srv->deferred_bytes, *upload_size,
						   __ATOMIC_RELAXED);
				http_held_release(srv, hc);
				buf_free(&hc->body);
				hc->busy = 1;
			} else {
				hc->held += *upload_size;
			}
		}
		/* body chunk: keep up to the route's maximum, note anything beyond */
		if (!hc->answered && !hc->too_big && !hc->busy &&
		    buf_append(&hc->body, upload, *upload_size) == -1)
			hc->too_big = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	if (hc->answered)
		return MHD_YES;
	/* the body is in: no deadline while the handler runs and the answer goes out (a client
	 * that stops reading it meets the idle timeout) */
	http_sock_deadline(srv, c, 0, NULL);
	http_req_init(&r, srv, c, url, method, version);
	r.route = hc->rt;
	if (http_slot_body_done(srv, hc) == -1) {
		http_reply_generic(&r, hc->rt->kind, 503, "Service busy",
				   "ただいま混み合っています", "2");
	} else if (hc->too_big) {
		http_reply_generic(&r, hc->rt->kind, 413, "Request body too large",
				   "送信データが大きすぎます", NULL);
	} else {
		struct timespec c0, c1;
		int frc;

		r.body = hc->body.data;
		r.bodylen = hc->body.len;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
		frc = hc->rt->fn(&r);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
		r.cpu_us =
		    (long)(c1.tv_sec - c0.tv_sec) * 1000000L + (c1.tv_nsec - c0.tv_nsec) / 1000;
		if (frc == -1 && r.status == 0)
			http_reply_generic(&r, hc->rt->kind, 500, "Internal error",
					   "システムエラーが発生しました", NULL);
		if (r.status == 0) /* a handler that forgot to answer */
			http_reply_text(&r, 500, "internal error\n");
	}
	hc->answered = 1;
	http_account(srv, hc, &r);
	/* nothing could be queued at all: close rather than leave the client waiting */
	return r.status != 0 ? MHD_YES : MHD_NO;
}

static void
http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	       enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_conn *hc = *con_cls;

	(void)toe;
	if (hc == NULL)
		return;
	/* kept alive: the next request's header comes after an idle wait (up to timeout_s) */
	http_sock_deadline(srv, c, srv->cfg.timeout_s + srv->cfg.header_timeout_s,
			   "request header");
	if (hc->pending)
		__atomic_sub_fetch(&srv->pending, 1, __ATOMIC_RELAXED);
	http_held_release(srv, hc);
	if (hc->counted)
		__atomic_sub_fetch(&srv->inflight, 1, __ATOMIC_RELAXED);
	buf_free(&hc->body);
	free(hc);
	*con_cls = NULL;
}

int
http_listen_socket(const char *addr, int *fdp, struct err *e)
{
	struct sockaddr_storage ss;
	unsigned sl;
	int fd, on = 1;

	*fdp = -1;
	if (http_addr_parse(addr, (struct sockaddr *)&ss, &sl, e) == -1)
		return -1;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return err_set(e, ERR_INTERNAL, "listen: socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1 || listen(fd, 1024) == -1) {
		err_set(e, ERR_REFUSED, "listen: %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	*fdp = fd;
	return 0;
}

/*
 * With cfg->fd the server accepts on a socket the supervisor opened and shares with every
 * generation of web processes: on a reload the old one stops accepting while the new one
 * takes over the same queue, so no connection is refused or reset.
 */
int
http_server_start(const struct http_listen *cfg, struct http_server **out, struct err *e)
{
	struct http_server *srv;
	struct sockaddr_storage ss;
	unsigned sl, flags;

	*out = NULL;
	memset(&ss, 0, sizeof(ss));
	if (cfg->fd < 0 && http_addr_parse(cfg->addr, (struct sockaddr *)&ss, &sl, e) == -1)
		return -1;
	if (cfg->fd >= 0) {
		socklen_t len = sizeof(ss);

		if (getsockname(cfg->fd, (struct sockaddr *)&ss, &len) == -1)
			return err_set(e, ERR_INTERNAL, "listen: %s: %s", cfg->addr,
				       strerror(errno));
	}
	srv = xcalloc(1, sizeof(*srv));
	if (http_routes_compose(cfg->tables, &srv->routes, e) == -1) {
		free(srv);
		return -1;
	}
	srv->cfg = *cfg;
	if (srv->cfg.threads == 0)
		srv->cfg.threads = 2;
	if (srv->cfg.max_connections == 0)
		srv->cfg.max_connections = 1024;
	if (srv->cfg.max_inflight == 0)
		srv->cfg.max_inflight = 64 * srv->cfg.threads;
	if (srv->cfg.timeout_s == 0)
		srv->cfg.timeout_s = 30;
	if (srv->cfg.max_header == 0)
		srv->cfg.max_header = 8192;
	if (srv->cfg.header_timeout_s == 0)
		srv->cfg.header_timeout_s = 10;
	if (srv->cfg.body_timeout_s == 0)
		srv->cfg.body_timeout_s = 10;
	pthread_mutex_init(&srv->lock, NULL);
	{
		/* a step of the wall clock must not stop the watchdog */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&srv->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	srv->addr = xstrdup(cfg->addr);
	/*
	 * poll(), not epoll: libmicrohttpd's epoll loop (0.9.75, and still upstream) reads at
	 * most 128 events per epoll_wait and calls it again, with the full timeout, whenever it
	 * got exactly 128 — before it handles any of them.  Edge-triggered connections report
	 * nothing new while their requests wait to be read, and a thread at its connection limit
	 * takes the listening socket out of its set, so when a thread holding a multiple of 128
	 * connections got them all ready at once it slept until http.timeout with a full batch of
	 * requests unread and new clients in the backlog.  poll() rebuilds its set on every turn
	 * and never waits with work in hand; a thread holds max_connections / threads sockets
	 * (256 by default), which costs poll() no measurable throughput (bench/ocsp).
	 */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC |
		(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
		(cfg->tls_cert_pem != NULL ? MHD_USE_TLS : 0);
	{
		struct MHD_OptionItem opts[12];
		int n = 0;

		if (cfg->fd >= 0)
			opts[n++] =
			    (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, cfg->fd, NULL};
		else
			opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
						    (intptr_t)srv->cfg.threads, NULL};
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
						    (intptr_t)srv->cfg.max_connections, NULL};
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
						    (intptr_t)srv->cfg.timeout_s, NULL};
		/* one address cannot hold every connection (slow clients, floods) */
		if (srv->cfg.max_per_ip > 0)
			opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
							    (intptr_t)srv->cfg.max_per_ip, NULL};
		/* libmicrohttpd clears this pool for every request: keep it small */
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
						    (intptr_t)(srv->cfg.max_header + 4096), NULL};
		if (cfg->tls_cert_pem != NULL) {
			opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
							    (void *)(cfg->tls_priorities != NULL
									 ? cfg->tls_priorities
									 : HTTP_TLS_PRIORITIES)};
			opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
							    (void *)cfg->tls_cert_pem};
			opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
							    (void *)cfg->tls_key_pem};
			/* libmicrohttpd then asks for a certificate (GNUTLS_CERT_REQUEST) */
			if (cfg->tls_client_ca_pem != NULL)
				opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
								    (void *)cfg->tls_client_ca_pem};
		}
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
		srv->d = MHD_start_daemon(flags, 0, NULL, NULL, http_dispatch, srv,
					  MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
					  MHD_OPTION_NOTIFY_CONNECTION, http_notify, srv,
					  MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	}
	if (srv->d == NULL) {
		err_set(e, ERR_INTERNAL,
			"listen: cannot listen on %s (in use, not permitted, or "
			"bad TLS key/certificate)",
			cfg->addr);
		goto fail;
	}
	if (pthread_create(&srv->wd, NULL, http_watchdog, srv) != 0) {
		err_set(e, ERR_INTERNAL, "listen: %s: cannot start the watchdog thread", cfg->addr);
		MHD_stop_daemon(srv->d);
		goto fail;
	}
	srv->wd_started = 1;
	*out = srv;
	return 0;
fail:
	pthread_cond_destroy(&srv->wake);
	pthread_mutex_destroy(&srv->lock);
	free(srv->addr);
	free(srv->routes);
	free(srv);
	return -1;
}

/* Ends the watchdog thread (after the daemon: every connection is gone by then). */
static void
http_watchdog_stop(struct http_server *srv)
{
	if (!srv->wd_started)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->wd_stop = 1;
	pthread_cond_signal(&srv->wake);
	pthread_mutex_unlock(&srv->lock);
	pthread_join(srv->wd, NULL);
	srv->wd_started = 0;
}

void
http_server_stop(struct http_server *srv, int grace)
{
	const union MHD_DaemonInfo *di;
	int i, quiet;

	if (srv == NULL)
		return;
	(void)MHD_quiesce_daemon(srv->d); /* stop accepting; the socket stays (shared) */
	/*
	 * Until every connection is gone, at most grace seconds — but connections that stay open
	 * only to be reused (keep-alive) do not hold the stop up: once no request has been in
	 * progress for a second, the rest are idle and are closed.
	 */
	for (i = 0, quiet = 0; i < grace * 10 && quiet < 10; i++) {
		di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (di == NULL || di->num_connections == 0)
			break;
		quiet = __atomic_load_n(&srv->inflight, __ATOMIC_RELAXED) == 0 ? quiet + 1 : 0;
		usleep(100000);
	}
	MHD_stop_daemon(srv->d);
	http_watchdog_stop(srv);
	pthread_cond_destroy(&srv->wake);
	pthread_mutex_destroy(&srv->lock);
	free(srv->addr);
	free(srv->routes);
	free(srv);
}

int
http_tls_priorities_check(const char *prio, struct err *e)
{
	gnutls_priority_t p = NULL;
	const char *where = NULL;
	int rc;

	if ((rc = gnutls_priority_init(&p, prio, &where)) != GNUTLS_E_SUCCESS)
		return err_set(e, ERR_REFUSED, "tls.priorities: GnuTLS refuses it at \"%.40s\": %s",
			       where != NULL ? where : prio, gnutls_strerror(rc));
	gnutls_priority_deinit(p);
	return 0;
}

void
http_client_addr(struct http_req *r, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	socklen_t len;

	snprintf(out, n, "?");
	if (sa == NULL)
		return;
	len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (getnameinfo(sa, len, out, (socklen_t)n, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(out, n, "?");
}

int
http_server_client_ca(const struct http_server *srv)
{
	return srv->cfg.tls_client_ca_pem != NULL;
}

long
http_peer_cert(struct http_req *r, unsigned char *out, size_t max)
{
	const union MHD_ConnectionInfo *ci;
	const gnutls_datum_t *peers;
	unsigned int n = 0;

	if (!r->tls ||
	    (ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION)) == NULL ||
	    ci->tls_session == NULL)
		return 0;
	peers = gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
	if (peers == NULL || n == 0 || peers[0].size == 0)
		return 0;
	if (peers[0].size > max)
		return -1;
	memcpy(out, peers[0].data, peers[0].size);
	return (long)peers[0].size;
}

struct http_xff {
	struct buf b;
	int over; /* more than b holds: believe none of it (its right end is lost) */
};

/* Appends one X-Forwarded-For value to the struct http_xff in cls (comma-joined). */
static enum MHD_Result
http_xff_collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct http_xff *x = cls;

	(void)kind;
	if (key == NULL || value == NULL || strcasecmp(key, "X-Forwarded-For") != 0)
		return MHD_YES;
	if ((x->b.len > 0 && buf_append(&x->b, ",", 1) == -1) ||
	    buf_append(&x->b, value, strlen(value)) == -1) {
		x->over = 1;
		return MHD_NO;
	}
	return MHD_YES;
}

/* The client a trusted proxy names in X-Forwarded-For; 0, or -1 (keep the peer). */
static int
http_client_forwarded(struct http_req *r, unsigned char out[16], size_t *len)
{
	const struct http_listen *cfg = &r->srv->cfg;
	struct http_xff x;
	int rc = -1;

	memset(&x, 0, sizeof(x));
	buf_init(&x.b, 16 * 1024);
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, http_xff_collect, &x);
	if (!x.over && x.b.len > 0)
		rc = util_xff_client((const char *)x.b.data, x.b.len, cfg->trusted_proxies,
				     cfg->ntrusted, out, len);
	buf_free(&x.b);
	return rc;
}

void
http_client_ip(struct http_req *r, unsigned char out[16], size_t *len)
{
	http_peer_ip(r, out, len);
	if (*len != 0 && r->srv != NULL && r->srv->cfg.ntrusted > 0 &&
	    util_ip_in(r->srv->cfg.trusted_proxies, r->srv->cfg.ntrusted, out, *len)) {
		unsigned char fwd[16];
		size_t flen;

		/* without a usable X-Forwarded-For the client is unknown, never the proxy
		 * itself (which metrics.allow may list, and whose key all would share) */
		if (http_client_forwarded(r, fwd, &flen) == 0) {
			memcpy(out, fwd, flen);
			*len = flen;
		} else {
			*len = 0;
		}
	}
}

/* The address of the connection's peer (4 or 16 octets); *len 0 when unknown. */
static void
http_peer_ip(struct http_req *r, unsigned char out[16], size_t *len)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	*len = 0;
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		*len = 4;
	} else if (sa->sa_family == AF_INET6) {
		const unsigned char *a =
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;

		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			memcpy(out, a + 12, 4);
			*len = 4;
		} else {
			memcpy(out, a, 16);
			*len = 16;
		}
	}
}
