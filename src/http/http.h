/*
 * http: the libmicrohttpd wrapper — listeners (plain and TLS), a route table, request bodies
 * with per-route limits, replies (with extra headers, RFC 7807 problems), limits with their
 * own status codes (431 headers, 413 body, 503 overload), one log line per request and the
 * per-route request metrics.
 *
 * Handlers get a struct http_req and answer through http_reply*().  A handler returns 0, or
 * -1 when it could not answer at all (the wrapper then sends 500).
 */
#ifndef SHOMEI_HTTP_H
#define SHOMEI_HTTP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/util.h"

struct MHD_Connection;
struct http_server;

/* What kind of client a route serves: decides the shape of generic errors (busy, 413, ...). */
enum http_kind {
	HTTP_KIND_PLAIN = 0, /* text/plain */
	HTTP_KIND_HTML,	     /* a page in Japanese and English */
	HTTP_KIND_API,	     /* application/problem+json */
	HTTP_KIND_BINARY, /* OCSP, TSA, CRL: status code only (protocol errors are the handler's) */
};

struct http_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *url; /* path only, percent-decoded by libmicrohttpd */
	const char *version;
	const unsigned char *body;
	size_t bodylen;
	void *app; /* the application context given in struct http_listen */
	const struct http_route *route;
	int tls;    /* arrived on the HTTPS listener */
	int status; /* set by http_reply*, for the log and metrics */
	size_t sent;
	long cpu_us; /* CPU time of the handler's thread while it ran (the log) */
	const struct http_server *srv;
};

typedef int http_handler(struct http_req *);
struct http_route;

/*
 * The request path url as the log shows it, into out (n bytes), returned: escaped, or its
 * route's prefix and "*" when the route (rt, else the first of routes whose path url starts
 * with, for a request no route took) has a secret tail.  routes may be NULL.
 */
const char *http_url_for_log(const struct http_route *routes, const struct http_route *rt,
			     const char *url, char *out, size_t n);

struct http_route {
	const char *method; /* "GET" (also answers HEAD), "POST", ... or NULL for any */
	const char *path;   /* exact path, or a prefix when it ends in '/' */
	http_handler *fn;
	size_t max_body; /* 0: no body accepted (413 when one is sent) */
	enum http_kind kind;
	const char *name; /* metrics label, e.g. "ocsp" */
	/*
	 * Seconds the body may take to arrive after the headers (0: the listener's
	 * body_timeout_s); the connection is closed after that.  Never more than timeout_s.
	 */
	unsigned body_s;
	/*
	 * 1 for a prefix route whose rest of the path is a secret (a mailed one-time URL's
	 * token): the request log shows the prefix only.
	 */
	unsigned char secret_tail;
};

struct http_listen {
	const char *addr;	  /* "127.0.0.1:8080" or "[::1]:8080" */
	int fd;			  /* >= 0: an already listening socket (addr is for logs) */
	const char *tls_cert_pem; /* NULL: plain HTTP; else PEM chain (server first) */
	const char *tls_key_pem;
	const char *tls_priorities; /* GnuTLS priority string (NULL: HTTP_TLS_PRIORITIES) */
	/*
	 * PEM certificates whose subjects the TLS handshake names in its certificate request:
	 * a client certificate is then requested (never required, and not verified by TLS: the
	 * face checks it through http_peer_cert()).  NULL: none is asked for.
	 */
	const char *tls_client_ca_pem;
	unsigned threads;	  /* thread pool size */
	unsigned max_connections; /* connection cap (0: 1024) */
	unsigned max_per_ip;	  /* connections from one address at once (0: no cap) */
	unsigned max_inflight;	  /* requests being handled at once before 503 (0: 64 * threads) */
	unsigned timeout_s;	  /* idle/slow client timeout (0: 30) */
	/*
	 * Seconds from accept to a request's whole header (0: 10); on a kept-alive connection
	 * from the previous answer, plus timeout_s (the idle wait).  Closed after that, however
	 * steadily the bytes come: the idle timeout alone lets a byte every few seconds hold a
	 * connection forever.
	 */
	unsigned header_timeout_s;
	unsigned body_timeout_s; /* a route's body time when it sets none (0: 10) */
	/*
	 * Reverse proxies whose X-Forwarded-For is believed (addresses and prefixes as
	 * util_ip_in reads them; the caller keeps them while the server runs).
	 */
	char *const *trusted_proxies;
	size_t ntrusted;
	size_t max_header; /* bytes of request line + headers before 431 (0: 8192) */
	/*
	 * The route tables of the modules this listener serves (NULL-terminated list of
	 * NULL-terminated tables): composed at start with http_routes_compose, tried in order.
	 */
	const struct http_route *const *tables;
	void *app;
};

/*
 * TLS 1.2 and 1.3 only, forward-secret AEAD suites (Mozilla's "intermediate" set without
 * finite-field DHE), the server's order.  shomei.conf's tls.priorities replaces it.
 */
#define HTTP_TLS_PRIORITIES                                                                        \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"        \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"
/* Refuses a priority string GnuTLS cannot read, naming where it stops. */
int http_tls_priorities_check(const char *, struct err *);

/* The client's address as text ("?" when unknown). */
void http_client_addr(struct http_req *, char *out, size_t n);
/*
 * The client's address as 4 or 16 octets (an IPv4-mapped IPv6 address as its 4); *len 0
 * when unknown.  When the peer is one of the listener's trusted proxies, the client it
 * names in X-Forwarded-For (util_xff_client; every such header, in order); never otherwise.
 * Rate limits and per-address checks key on this.
 */
void http_client_ip(struct http_req *, unsigned char out[16], size_t *len);

/*
 * Requests per client address and minute (limit.c): a fixed table per limiter (IPv6 by its
 * /64), the least recent address forgotten when its slots are full.  Shared by the faces
 * (the portal's forms and CAPTCHAs, OCSP's freshly signed answers).
 */
#define HTTP_LIMIT_SLOTS 4096
struct http_limit_slot {
	char addr[48];
	time_t window; /* 0: free */
	long count;
};
struct http_limiter {
	pthread_mutex_t lock;
	unsigned char key[16]; /* random: which slots an address lands in */
	struct http_limit_slot slot[HTTP_LIMIT_SLOTS];
};
void http_limiter_init(struct http_limiter *);
/* 1 when the client may make one more request this minute (and counts it), else 0. */
int http_limit_ok(struct http_limiter *, struct http_req *, long per_minute);
int http_limit_key_ok(struct http_limiter *, const char *addr, long per_minute);

/* Composes cfg->tables (a bad composition refuses the start) and starts listening. */
int http_server_start(const struct http_listen *, struct http_server **, struct err *);
/* Stops accepting, lets in-flight requests finish (up to grace seconds), then stops. */
void http_server_stop(struct http_server *, int grace);

/*
 * Concatenates route tables (a NULL-terminated list of tables, each ended by a route with a
 * NULL path) into one table in the same order; *out is the caller's (free()).  Refused: two
 * routes for the same path whose methods meet (the same, either NULL, or GET and HEAD), and a
 * route that an earlier prefix route always takes first — each names both routes.
 */
int http_routes_compose(const struct http_route *const *tables, struct http_route **out,
			struct err *);

/*
 * The client's TLS certificate (DER of the first one it sent) copied into out (at most max
 * bytes): its length, 0 when none was sent (or plain HTTP), -1 when larger than max.  The
 * handshake proved the client holds its key; nothing else about it is checked here.
 */
long http_peer_cert(struct http_req *, unsigned char *out, size_t max);

/* 1 when the listener of srv asks for client certificates (tls_client_ca_pem set). */
int http_server_client_ca(const struct http_server *);

/* Request accessors (NULL when absent). */
const char *http_header(struct http_req *, const char *name);
const char *http_query(struct http_req *, const char *key);

/*
 * Replies.  hdrs is NULL or a NULL-terminated list of name, value pairs.  Every reply carries
 * Cache-Control: no-store unless hdrs sets Cache-Control.
 */
int http_reply(struct http_req *, int status, const char *ctype, const void *, size_t);
int http_reply_hdrs(struct http_req *, int status, const char *ctype, const void *, size_t,
		    const char *const *hdrs);
int http_reply_text(struct http_req *, int status, const char *text);
/*
 * As http_reply_hdrs, but the body is not copied: it must stay until done(cls) runs, which
 * happens once libmicrohttpd has sent it (or at once when nothing could be queued).  For
 * large bodies that many clients fetch at once (a CRL): they share one copy.
 */
int http_reply_shared(struct http_req *, int status, const char *ctype, const void *p, size_t n,
		      const char *const *hdrs, void (*done)(void *), void *cls);
/* RFC 7807: {"type": "about:blank"|type, "title", "status", "detail"} as problem+json. */
int http_reply_problem(struct http_req *, int status, const char *type, const char *title,
		       const char *detail);

/* A listening TCP socket on "ADDR:PORT" (SO_REUSEADDR, backlog 1024). */
int http_listen_socket(const char *addr, int *fd, struct err *);

/* Parses "ADDR:PORT" / "[V6]:PORT" into a sockaddr (storage >= sockaddr_in6). */
struct sockaddr;
int http_addr_parse(const char *, struct sockaddr *, unsigned *len, struct err *);

/*
 * Metrics (Prometheus text format), shared by all modules of the web process.
 * Counters are keyed by family name and a label string such as "route=\"ocsp\",code=\"200\"".
 */
void metrics_count(const char *family, const char *labels, uint64_t n);
/* Histogram of seconds (buckets 0.0001 .. 10). */
void metrics_observe(const char *family, double seconds);
/* Writes every family with HELP/TYPE lines; help texts registered with metrics_help(). */
int metrics_render(struct buf *out);
void metrics_help(const char *family, const char *type, const char *help);

#endif
