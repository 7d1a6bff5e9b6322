/*
 * web: the network-facing process.  It holds the configuration, the CA certificates and a
 * signer client, never a private CA key.  Two listeners: plain HTTP for what relying parties
 * fetch (OCSP, CRLs, CA certificates, time stamps) and HTTPS for people and programs that
 * authenticate (portal, API).  Each server thread has its own store connection.
 */
#include <sys/prctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include <openssl/pem.h>

#include "acme/acme.h"
#include "api/api.h"
#include "ca/ca.h"
#include "console/console.h"
#include "http/http.h"
#include "mail/mail.h"
#include "ocsp/ocsp.h"
#include "portal/portal.h"
#include "serve/serve.h"
#include "tsa/tsa.h"

struct web {
	struct ca *ca;
	int ctl;		  /* to the supervisor, which replaces a hung signer */
	struct mail_sender *mail; /* delivers the outgoing mail queue */
};

static struct web web;

#define WEB_METRICS_MAX 32

/* metrics.allow: the addresses and prefixes /metrics answers (read once at start) */
static char *web_metrics_allow[WEB_METRICS_MAX];
static size_t web_metrics_n;

/* trusted reverse proxies (http.trusted_proxies), whose X-Forwarded-For is believed */
static char *web_trusted[WEB_METRICS_MAX];
static size_t web_trusted_n;

/*
 * Reads the address list under key (at most WEB_METRICS_MAX, comma- or blank-separated)
 * into list, refusing what is no address or prefix.
 */
static int
web_prefix_list(const struct conf *c, const char *key, const char *def, char **list, size_t *n,
		struct err *e)
{
	const char *v = conf_get(c, key, def);
	char item[64];
	size_t len;

	*n = 0;
	while (*v != '\0') {
		v += strspn(v, ", \t");
		if ((len = strcspn(v, ", \t")) == 0)
			break;
		if (len >= sizeof(item) || *n == WEB_METRICS_MAX)
			return err_set(e, ERR_REFUSED, "%s: at most %d addresses or prefixes", key,
				       WEB_METRICS_MAX);
		memcpy(item, v, len);
		item[len] = '\0';
		if (!util_ip_prefix_ok(item))
			return err_set(e, ERR_REFUSED,
				       "%s: \"%s\" is not an address or prefix (e.g. "
				       "127.0.0.1, 192.0.2.0/24, ::1)",
				       key, item);
		list[(*n)++] = xstrdup(item);
		v += len;
	}
	return 0;
}

/* Reads metrics.allow (default: loopback) and http.trusted_proxies (default: none). */
static int
web_metrics_conf(const struct conf *c, struct err *e)
{
	if (web_prefix_list(c, "metrics.allow", "127.0.0.0/8 ::1", web_metrics_allow,
			    &web_metrics_n, e) == -1)
		return -1;
	return web_prefix_list(c, "http.trusted_proxies", "", web_trusted, &web_trusted_n, e);
}

/* GET /healthz: the store and the signer answer. */
static int
web_healthz(struct http_req *r)
{
	struct ca *ca = r->app;
	struct err e;
	struct store *st;
	char body[512];
	int store_ok, signer_ok;

	err_clear(&e);
	store_ok = (st = ca_thread_store(ca, &e)) != NULL && store_ping(st, &e) == 0;
	if (!store_ok)
		log_warn("healthz: %s", e.msg);
	err_clear(&e);
	signer_ok = signer_ping(ca->signer, &e) == 0;
	if (!signer_ok)
		log_warn("healthz: %s", e.msg);
	snprintf(body, sizeof(body), "{\"status\":\"%s\",\"store\":\"%s\",\"signer\":\"%s\"}\n",
		 store_ok && signer_ok ? "ok" : "unavailable", store_ok ? "ok" : "unavailable",
		 signer_ok ? "ok" : "unavailable");
	return http_reply(r, store_ok && signer_ok ? 200 : 503, "application/json", body,
			  strlen(body));
}

/* GET /metrics: Prometheus text format, to the addresses of metrics.allow only. */
static int
web_metrics(struct http_req *r)
{
	unsigned char ip[16];
	size_t iplen;
	struct buf b;
	int rc;

	http_client_ip(r, ip, &iplen);
	if (iplen == 0 || !util_ip_in(web_metrics_allow, web_metrics_n, ip, iplen))
		return http_reply_text(
		    r, 403, "metrics are served to the addresses of metrics.allow only\n");
	buf_init(&b, 16 * 1024 * 1024);
	if (metrics_render(&b) == -1) {
		buf_free(&b);
		return -1;
	}
	rc = http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
	buf_free(&b);
	return rc;
}

/* The keys the supervisor (listen.*) and the web process read themselves. */
const char *const serve_conf_keys[] = {
    "listen.http",
    "listen.https",
    "listen.console",
    "http.threads",
    "http.max_connections",
    "http.max_connections_per_ip",
    "http.max_inflight",
    "http.timeout",
    "http.header_timeout",
    "http.body_timeout",
    "http.trusted_proxies",
    "https.cert",
    "https.key",
    "ca.cert",
    "store.resident_mb",
    "metrics.allow",
    "web.user",
    "tls.priorities",
    NULL,
};

/* store.resident_mb when unset: 1 GiB, or a quarter of the memory when that is less. */
static long
web_resident_default(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), pg = sysconf(_SC_PAGESIZE), mb;

	if (pages <= 0 || pg <= 0)
		return 1024;
	mb = (long)((unsigned long long)pages * (unsigned long long)pg / 4 >> 20);
	return mb < 1024 ? mb : 1024;
}

/* The web process's own routes, on each listener. */
static const struct http_route web_http_routes[] = {
    {"GET", "/healthz", web_healthz, 0, HTTP_KIND_PLAIN, "healthz", 0, 0},
    {"GET", "/metrics", web_metrics, 0, HTTP_KIND_PLAIN, "metrics", 0, 0},
    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
};

static const struct http_route web_https_routes[] = {
    {"GET", "/healthz", web_healthz, 0, HTTP_KIND_PLAIN, "healthz", 0, 0},
    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
};

/*
 * Each listener serves the route tables of its modules, composed at start (in this order; two
 * tables routing one path is a start-up error).  Plain HTTP: what relying parties fetch
 * without authenticating.
 */
const struct http_route *const serve_http_tables[] = {
    web_http_routes, pub_http_routes, ocsp_http_routes, tsa_http_routes, NULL,
};

/* HTTPS: people and programs that authenticate (the portal, the API, ACME). */
const struct http_route *const serve_https_tables[] = {
    web_https_routes, portal_http_routes,    api_http_routes, acme_http_routes,
    pub_https_routes, console_public_routes, tsa_http_routes, NULL,
};

/* The RA officers' console: HTTPS that asks for a client certificate. */
const struct http_route *const serve_console_tables[] = {
    web_https_routes,
    console_http_routes,
    NULL,
};

static void
web_signer_latency(double secs)
{
	metrics_observe("shomei_signer_latency_seconds", secs);
}

/*
 * The signer of stream gen (0: the first, n: the n-th the supervisor handed over) did not
 * answer within signer.timeout_ms, and the client has given that stream up.  A hung signer
 * does not exit by itself, so the supervisor is asked to kill it: "H" and gen on the control
 * socket, which lets the supervisor ignore a notice about a signer it has replaced already.
 * Called from the request thread that noticed (once per stream).
 */
static void
web_signer_hang(uint64_t gen)
{
	unsigned char m[5] = {'H', (unsigned char)(gen >> 24), (unsigned char)(gen >> 16),
			      (unsigned char)(gen >> 8), (unsigned char)gen};

	metrics_count("shomei_signer_timeouts_total", NULL, 1);
	log_warn("web: the signer did not answer within %ld ms; asking the supervisor to replace "
		 "it",
		 web.ca->signer_timeout_ms);
	if (send(web.ctl, m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		log_warn("web: cannot reach the supervisor to replace the signer");
}

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

/* The HTTPS listener's certificate chain (server certificate, then the issuing CA) and key. */
/*
 * The HTTPS certificate followed by its issuing CA's (the current one, or the earlier one that
 * issued it before a CA switch), and its key.
 */
static int
web_tls_load(struct ca *ca, char **cert, char **key, struct err *e)
{
	const struct ca_issuing *ci = NULL;
	struct buf b1, b2;
	char *p1 = NULL, *p2 = NULL;
	X509 *x = NULL;
	BIO *bio = NULL;
	int rc = -1;

	buf_init(&b1, 0);
	buf_init(&b2, 0);
	p1 = conf_path(&ca->conf, conf_get(&ca->conf, "https.cert", "certs/https.pem"));
	p2 = conf_path(&ca->conf, conf_get(&ca->conf, "https.key", "keys/https.key.pem"));
	if (util_read_file(p1, 1 << 20, &b1, e) == -1)
		goto out;
	if ((bio = BIO_new_mem_buf(b1.data, (int)b1.len)) == NULL ||
	    (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		err_ssl(e, ERR_REFUSED, "%s: not a PEM certificate", p1);
		goto out;
	}
	BIO_free(bio);
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		fatalx("out of memory");
	ci = ca_issuing_of(ca, x);
	if (!PEM_write_bio_X509(bio, ci != NULL ? ci->cert : ca->cert)) {
		err_ssl(e, ERR_INTERNAL, "%s: cannot encode its issuer", p1);
		goto out;
	}
	{
		char *pp;
		long n = BIO_get_mem_data(bio, &pp);

		if (buf_append(&b1, pp, (size_t)n) == -1 || buf_cstr(&b1) == NULL)
			goto out;
	}
	if (util_read_file(p2, 1 << 20, &b2, e) == -1 || buf_cstr(&b2) == NULL)
		goto out;
	*cert = xstrdup((char *)b1.data);
	*key = xstrdup((char *)b2.data);
	rc = 0;
out:
	BIO_free(bio);
	X509_free(x);
	buf_free(&b1);
	buf_free(&b2);
	free(p1);
	free(p2);
	return rc;
}

int
serve_web_main(const struct serve_opts *o, const struct sandbox *sb, int signer_fd, int ctl_fd)
{
	struct http_server *hs = NULL, *hss = NULL, *hcs = NULL;
	struct http_listen hl;
	struct err e;
	pthread_t ctl_thread;
	sigset_t set;
	const char *addr, *saddr, *tlsprio;
	char *cert = NULL, *key = NULL, *view = NULL;
	unsigned char mailkey[MAIL_KEY_LEN];
	long threads, conns, inflight, timeout, resident, perip, hdr_s, body_s;
	int sig, rc = ERR_INTERNAL;

	prctl(PR_SET_NAME, "shomei-web");
	err_clear(&e);
	memset(&web, 0, sizeof(web));
	web.ctl = ctl_fd;
	/* what this process reads as root: the configuration (its secrets wiped at once), the
	 * CA certificates, the HTTPS key, the portal's secret, the mail queue's key; then it
	 * becomes web.user */
	if (sandbox_view(sb, o->datadir, &view, &e) == -1 ||
	    ca_open(view != NULL ? view : o->datadir, 0, serve_conf_known, &web.ca, &e) == -1)
		goto out;
	sandbox_scrub(&web.ca->conf);
	if (conf_get_long(&web.ca->conf, "store.resident_mb", web_resident_default(), 0, 1L << 20,
			  &resident, &e) == -1)
		goto out;
	addr = o->http ? o->http : conf_get(&web.ca->conf, "listen.http", "127.0.0.1:8080");
	saddr = o->https ? o->https : conf_get(&web.ca->conf, "listen.https", "127.0.0.1:8443");
	if (o->https_fd >= 0) {
		const char *la[2] = {addr, saddr};

		/* before any listener answers: a bad portal setting stops the start, cleanly */
		if (portal_init(web.ca, la, 2, &e) == -1 ||
		    web_tls_load(web.ca, &cert, &key, &e) == -1)
			goto out;
		if (console_init(web.ca, &e) == -1) /* its enrolment pages are here too */
			goto out;
		if (acme_init(web.ca, &e) == -1) /* reads keys/acme.key: before the drop */
			goto out;
	}
	/* the queue's sealing key, for the sender started below (portal_init read its own) */
	if (mail_key_load(&web.ca->conf, mailkey, &e) == -1)
		goto out;
	{
		struct sandbox mine = *sb;

		mine.memlock = ((unsigned long long)resident << 20) + (64ULL << 20);
		if (sandbox_enter(&mine, view, &e) == -1)
			goto out;
	}
	/* WAL checkpoints off the committing threads, and the file kept in memory (SQLite) */
	if (store_checkpointer_start(web.ca->store_spec, (size_t)resident << 20, &e) == -1)
		goto out;
	web.ca->signer = signer_client_new(dup(signer_fd));
	signer_client_set_timeout(web.ca->signer, (int)web.ca->signer_timeout_ms);
	web.ca->signer->on_latency = web_signer_latency;
	web.ca->signer->on_hang = web_signer_hang;
	close(signer_fd);
	/* concurrent issuances (API, portal) share one durable commit */
	if (ca_batch_start(web.ca, 256, &e) == -1)
		goto out;
	if (o->https_fd >= 0)
		acme_finalize_sweep_start(web.ca);
	/* queued mail goes out from here (claims keep two generations from sending twice) */
	if (mail_sender_start(&web.ca->conf, web.ca->datadir, web.ca->store_spec, mailkey, 5,
			      &web.mail, &e) == -1)
		goto out;
	sodium_memzero(mailkey, sizeof(mailkey));
	if (conf_get_long(&web.ca->conf, "http.threads", 4, 1, 256, &threads, &e) == -1 ||
	    conf_get_long(&web.ca->conf, "http.max_connections", 1024, 1, 1000000, &conns, &e) ==
		-1 ||
	    conf_get_long(&web.ca->conf, "http.max_inflight", 0, 0, 1000000, &inflight, &e) == -1 ||
	    conf_get_long(&web.ca->conf, "http.timeout", 30, 1, 3600, &timeout, &e) == -1 ||
	    conf_get_long(&web.ca->conf, "http.header_timeout", 10, 1, 3600, &hdr_s, &e) == -1 ||
	    conf_get_long(&web.ca->conf, "http.body_timeout", 10, 1, 3600, &body_s, &e) == -1 ||
	    web_metrics_conf(&web.ca->conf, &e) == -1 || pub_conf_check(&web.ca->conf, &e) == -1)
		goto out;
	tlsprio = conf_get(&web.ca->conf, "tls.priorities", HTTP_TLS_PRIORITIES);
	if (http_tls_priorities_check(tlsprio, &e) == -1)
		goto out;
	metrics_help("shomei_http_requests_total", "counter", "HTTP requests by route and status");
	metrics_help("shomei_signer_latency_seconds", "histogram",
		     "time of one signer request, as the web process sees it");
	metrics_help("shomei_signer_timeouts_total", "counter",
		     "signer streams given up because the signer did not answer in time");
	metrics_count("shomei_signer_timeouts_total", NULL, 0);
	metrics_help("shomei_crl_served_total", "counter",
		     "CRL answers by where their bytes came from (memory: no store access)");
	memset(&hl, 0, sizeof(hl));
	hl.threads = (unsigned)threads;
	hl.max_connections = (unsigned)conns;
	/* a quarter of the cap by default: one address (or one proxy: then set 0) leaves three
	 * quarters to everyone else */
	if (conf_get_long(&web.ca->conf, "http.max_connections_per_ip",
			  conns / 4 > 0 ? conns / 4 : 1, 0, 1000000, &perip, &e) == -1)
		goto out;
	hl.max_per_ip = (unsigned)perip;
	hl.max_inflight = (unsigned)inflight;
	hl.timeout_s = (unsigned)timeout;
	hl.header_timeout_s = (unsigned)hdr_s;
	hl.body_timeout_s = (unsigned)body_s;
	hl.trusted_proxies = web_trusted;
	hl.ntrusted = web_trusted_n;
	hl.app = web.ca;

	hl.addr = addr;
	hl.fd = o->http_fd;
	hl.tables = serve_http_tables;
	if (http_server_start(&hl, &hs, &e) == -1)
		goto out;
	if (o->https_fd >= 0) {
		hl.addr = saddr;
		hl.fd = o->https_fd;
		hl.tables = serve_https_tables;
		hl.tls_cert_pem = cert;
		hl.tls_key_pem = key;
		hl.tls_priorities = tlsprio;
		if (http_server_start(&hl, &hss, &e) == -1)
			goto out;
		if (o->console_fd >= 0) {
			hl.addr = o->console;
			hl.fd = o->console_fd;
			hl.tables = serve_console_tables;
			hl.tls_client_ca_pem = console_client_ca_pem();
			if (http_server_start(&hl, &hcs, &e) == -1)
				goto out;
		}
	}
	if (write(ctl_fd, "R", 1) != 1)
		goto out;
	if (pthread_create(&ctl_thread, NULL, web_ctl_main, NULL) == 0)
		pthread_detach(ctl_thread);
	pub_schedule_start(web.ca);
	if (o->https_fd >= 0 && console_schedule_start(web.ca, &e) == -1)
		goto out;
	if (o->https_fd >= 0 && acme_housekeeping_start(web.ca, &e) == -1)
		goto out;
	log_info("web: listening on http://%s%s%s%s%s", addr, hss ? " and https://" : "",
		 hss ? saddr : "", hcs ? " and the console on https://" : "",
		 hcs ? o->console : "");

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
	pub_schedule_stop();
	console_schedule_stop();
	acme_housekeeping_stop();
	http_server_stop(hs, 30);
	http_server_stop(hss, 30);
	http_server_stop(hcs, 30);
	console_bulk_jobs_stop(); /* after the requests that could start one */
	hs = hss = hcs = NULL;
	ocsp_http_shutdown();
	mail_sender_stop(web.mail);
	web.mail = NULL;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "%sshomei: web: %s\n", log_prio_prefix(LOG_PRIO_ERR), e.msg);
	http_server_stop(hs, 0);
	http_server_stop(hss, 0);
	http_server_stop(hcs, 0);
	console_schedule_stop();
	console_bulk_jobs_stop();
	mail_sender_stop(web.mail);
	console_fini();
	acme_housekeeping_stop();
	acme_validate_drain(); /* its threads use web.ca */
	acme_finalize_drain();
	acme_fini();
	if (key != NULL) {
		OPENSSL_cleanse(key, strlen(key));
		free(key);
	}
	free(cert);
	sodium_memzero(mailkey, sizeof(mailkey));
	ca_close(web.ca);
	store_checkpointer_stop();
	free(view);
	return rc;
}
