/*
 * web: the network-facing process.  It holds the configuration, the CA certificates and a
 * signer client, never a private CA key.  Each server thread has its own store connection.
 */
#include <sys/prctl.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca/ca.h"
#include "http/http.h"
#include "serve/serve.h"

struct web {
	struct ca *ca;
	int ctl;
	pthread_key_t store_key;
};

static struct web web;

static void
web_store_free(void *p)
{
	store_close(p);
}

/* The calling thread's store connection, opened on first use. */
static struct store *
web_store(struct err *e)
{
	struct store *st = pthread_getspecific(web.store_key);

	if (st == NULL) {
		if (ca_store_open(web.ca, &st, e) == -1)
			return NULL;
		pthread_setspecific(web.store_key, st);
	}
	return st;
}

/* GET /healthz: the store and the signer answer. */
static int
web_healthz(struct http_req *r)
{
	struct err e;
	struct store *st;
	char body[512];
	int store_ok, signer_ok;

	err_clear(&e);
	store_ok = (st = web_store(&e)) != NULL && store_ping(st, &e) == 0;
	if (!store_ok)
		log_warn("healthz: %s", e.msg);
	err_clear(&e);
	signer_ok = signer_ping(web.ca->signer, &e) == 0;
	if (!signer_ok)
		log_warn("healthz: %s", e.msg);
	snprintf(body, sizeof(body), "{\"status\":\"%s\",\"store\":\"%s\",\"signer\":\"%s\"}\n",
		 store_ok && signer_ok ? "ok" : "unavailable", store_ok ? "ok" : "unavailable",
		 signer_ok ? "ok" : "unavailable");
	return http_reply(r, store_ok && signer_ok ? 200 : 503, "application/json", body,
			  strlen(body));
}

static const struct http_route web_routes[] = {
	{"GET", "/healthz", web_healthz},
	{NULL, NULL, NULL},
};

/* Receives replacement signer sockets from the supervisor. */
static void *
web_ctl_main(void *arg)
{
	int fd;

	(void)arg;
	while ((fd = serve_fd_recv(web.ctl)) != -1) {
		signer_client_reset_fd(web.ca->signer, fd);
		log_info("web: switched to the restarted signer");
	}
	return NULL;
}

int
serve_web_main(const struct serve_opts *o, int signer_fd, int ctl_fd)
{
	struct http_server *hs = NULL;
	struct http_listen hl;
	struct err e;
	pthread_t ctl_thread;
	sigset_t set;
	const char *addr;
	long threads;
	int sig, rc = ERR_INTERNAL;

	prctl(PR_SET_NAME, "shomei-web");
	err_clear(&e);
	memset(&web, 0, sizeof(web));
	web.ctl = ctl_fd;
	pthread_key_create(&web.store_key, web_store_free);
	if (ca_open(o->datadir, 0, &web.ca, &e) == -1)
		goto out;
	web.ca->signer = signer_client_new(dup(signer_fd));
	close(signer_fd);
	if (conf_get_long(&web.ca->conf, "http.threads", 4, 1, 256, &threads, &e) == -1)
		goto out;
	addr = o->http ? o->http : conf_get(&web.ca->conf, "listen.http", "127.0.0.1:8080");
	memset(&hl, 0, sizeof(hl));
	hl.addr = addr;
	hl.threads = (unsigned)threads;
	hl.routes = web_routes;
	hl.app = &web;
	if (http_server_start(&hl, &hs, &e) == -1)
		goto out;
	if (write(ctl_fd, "R", 1) != 1)
		goto out;
	if (pthread_create(&ctl_thread, NULL, web_ctl_main, NULL) == 0)
		pthread_detach(ctl_thread);
	log_info("web: listening on http://%s", addr);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("web: SIGHUP (listeners keep running; restart to change them)");
			continue;
		}
		break;
	}
	log_info("web: finishing in-flight requests");
	http_server_stop(hs, 30);
	hs = NULL;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "shomei: web: %s\n", e.msg);
	http_server_stop(hs, 0);
	ca_close(web.ca);
	return rc;
}
