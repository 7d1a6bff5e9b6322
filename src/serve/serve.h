/*
 * serve: the processes of `shomei serve`.
 *
 *   supervisor  forks the signer (socketpair made before the fork) and the web process, hands
 *               the web process the signer's socket, restarts either child when it dies
 *               (a new signer socket travels to the web process over a control socketpair with
 *               SCM_RIGHTS), forwards SIGHUP, and on SIGTERM stops the web process (which
 *               finishes in-flight requests) and then the signer.
 *   web         the network-facing process: no private CA key in its memory.
 */
#ifndef SHOMEI_SERVE_H
#define SHOMEI_SERVE_H

#include <sys/types.h>

#include "http/http.h"
#include "util/util.h"

struct serve_opts {
	const char *datadir;
	const char *http;    /* overrides listen.http */
	const char *https;   /* overrides listen.https ("off": none) */
	const char *console; /* overrides listen.console ("off": none; off when https is) */
	/* set by the supervisor: the listening sockets every web generation accepts on */
	int http_fd;
	int https_fd;	/* -1 when off */
	int console_fd; /* -1 when off */
};

/* Runs the supervisor until SIGTERM/SIGINT; returns the exit status. */
int serve_main(const struct serve_opts *);

/* What the web process may reach (sandbox.c). */
struct sandbox {
	int active; /* serve runs as root: the web process becomes user */
	uid_t uid;
	gid_t gid;
	char user[64];
	unsigned long long memlock; /* bytes the web process locks (the store's resident part) */
};
struct ca;
struct conf;
/* web.user resolved (inactive when serve does not run as root, with a warning). */
int sandbox_user(const struct conf *, struct sandbox *, struct err *);
/*
 * Supervisor, before each web process: refuses a root key in the data directory; gives the
 * web user the store's directory and files, the outbox and the data directory's group.
 */
int sandbox_prepare(const struct ca *, const struct sandbox *, struct err *);
/* Web process: zeroes and drops every environment variable but a few, wipes conf secrets. */
void sandbox_scrub(struct conf *);
/* Web process: its own mount namespace with the data directory at *view (NULL: none). */
int sandbox_view(const struct sandbox *, const char *datadir, char **view, struct err *);
/* Web process, after its start-up reads: keys/ covered, user switched, no new privileges,
 * not dumpable, the seccomp filter. */
int sandbox_enter(const struct sandbox *, const char *view, struct err *);
int sandbox_seccomp(struct err *);

/* The web process (child of the supervisor). */
int serve_web_main(const struct serve_opts *, const struct sandbox *, int signer_fd, int ctl_fd);
/*
 * The route tables each listener of the web process serves (web.c): the web process's own
 * (/healthz, /metrics) and its modules' (pub, ocsp, tsa; portal, api), composed at start.
 */
extern const struct http_route *const serve_http_tables[];
extern const struct http_route *const serve_https_tables[];
/* The RA officers' console listener's (listen.console). */
extern const struct http_route *const serve_console_tables[];

/* Publication handlers (pub.c) and the CRL schedule of the web process. */
struct http_req;
struct ca;
int pub_crl_get(struct http_req *);
int pub_ca_get(struct http_req *);
extern const struct http_route pub_http_routes[];  /* GET /crl/, GET /ca/ */
extern const struct http_route pub_https_routes[]; /* GET /ca/ */
void pub_schedule_start(struct ca *);
/* The schedule's settings that must stop a start (test-only intervals outside a test instance). */
int pub_conf_check(const struct conf *, struct err *);
void pub_schedule_stop(void);

/*
 * Configuration keys (NULL-terminated lists; see conf_check_keys): serve's own (web.c,
 * supervisor.c), the CRL schedule's (pub.c), and serve_conf_known, every module's list: the
 * keys shomei.conf may hold.  serve, `init --check` and every CLI command that opens the CA
 * refuse any other (conf.c).
 */
extern const char *const serve_conf_keys[];
extern const char *const pub_conf_keys[];
extern const char *const *const serve_conf_known[];

/* SCM_RIGHTS helpers. */
int serve_fd_send(int sock, int fd);
int serve_fd_recv(int sock); /* -1 on EOF/error */

#endif
