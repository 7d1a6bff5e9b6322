/*
 * bench/ocsp: OCSP responses per second from `shomei serve` under keep-alive load, and, in the
 * same run and on the same certificates and requests, from `openssl ocsp -index ... -multi 2`.
 *
 * It makes a CA (shomei's own init ceremony) in a temporary directory, issues N certificates
 * through the real issuance path and revokes some, builds one OCSPRequest per certificate
 * (SHA-1 CertID, no nonce: what browsers and RFC 5019 clients send, so the responses can come
 * from the cache), and drives each server with a small epoll client that keeps C connections
 * busy for D seconds, cycling through all the requests.  Every response of a first pass is
 * parsed and checked (status, certificate status good/revoked, signature chain), for both
 * servers.  A short run with a fresh nonce in every request shows the signing path too.
 *
 * Both servers run in a private network namespace (unshare -n; `openssl ocsp` binds every
 * interface) with only loopback up; every process started is stopped by its PID (openssl's
 * -multi workers by the process group it leads).  Root is needed for the namespace; without
 * it the openssl comparison is skipped.
 *
 * usage: ocsp [-n CERTS] [-r REVOKED] [-c CONNS] [-T CLIENT_THREADS] [-d SECONDS]
 *             [-N NONCE_SECONDS] [-b SHOMEI_BINARY] [-w HTTP_THREADS] [-k] [-q] [-x]
 * (-x: shomei only; -k: keep the data directory; -q: serve's log to /dev/null instead of
 * DIR/serve.log, to see what the request log costs; -w: http.threads)
 */
#define _GNU_SOURCE /* unshare(CLONE_NEWNET) */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common.h"
#include "ca/ca.h"

#define RESP_MAX (64 * 1024)

/* ---- small helpers ---- */

static int
run(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Busy and total jiffies of the whole machine, from /proc/stat. */
static void
cpu_jiffies(unsigned long long *busy, unsigned long long *total)
{
	unsigned long long v[10] = {0};
	char line[512], *p, *end;
	FILE *f;
	int i;

	*busy = *total = 0;
	if ((f = fopen("/proc/stat", "r")) == NULL)
		return;
	if (fgets(line, sizeof(line), f) != NULL && strncmp(line, "cpu ", 4) == 0) {
		p = line + 4;
		for (i = 0; i < 10; i++) {
			v[i] = strtoull(p, &end, 10);
			if (end == p)
				break;
			p = end;
		}
		for (i = 0; i < 10; i++)
			*total += v[i];
		*busy = *total - v[3] - v[4]; /* idle, iowait */
	}
	fclose(f);
}

static double
self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of pid and its children (one level: serve's web and signer, openssl's
 * workers), from /proc/PID/task/PID/children. */
static double
tree_cpu_s(pid_t pid)
{
	char path[64], line[4096], *p, *end;
	double sum = proc_cpu_s(pid);
	long c;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return sum;
	if (fgets(line, sizeof(line), f) != NULL) {
		for (p = line;; p = end) {
			c = strtol(p, &end, 10);
			if (end == p)
				break;
			sum += proc_cpu_s((pid_t)c);
		}
	}
	fclose(f);
	return sum;
}

/* A port nobody listens on now (in our namespace). */
static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	if (port <= 0)
		fatalx("bench: no free port");
	return port;
}

static int
tcp_connect(int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* ---- the CA and its certificates ---- */

struct certs {
	size_t n;
	X509 **x;
	char (*serial)[STORE_SERIAL_MAX];
	int *revoked;
};

/* A P-256 CSR for host<i>.bench.example (DER, OPENSSL_free). */
static unsigned char *
make_csr(size_t i, size_t *len)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	char cn[64], san[80];
	unsigned char *p = NULL;
	int l;

	snprintf(cn, sizeof(cn), "host%zu.bench.example", i);
	snprintf(san, sizeof(san), "DNS:%s", cn);
	if (k == NULL || req == NULL || n == NULL || exts == NULL)
		fatalx("bench: out of memory");
	X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_subject_name(req, n);
	X509_REQ_set_pubkey(req, k);
	sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san));
	X509_REQ_add_extensions(req, exts);
	if (!X509_REQ_sign(req, k, EVP_sha256()) || (l = i2d_X509_REQ(req, &p)) <= 0)
		fatalx("bench: cannot make CSR");
	*len = (size_t)l;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(n);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return p;
}

struct issue_job {
	struct ca *ca;
	struct certs *c;
	size_t from, to;
};

static void *
issue_worker(void *arg)
{
	struct issue_job *j = arg;
	struct store *st = NULL;
	struct ca_issue_req req;
	struct ca_issued out;
	const unsigned char *p;
	unsigned char *csr;
	size_t i, len;
	struct err e;

	err_clear(&e);
	if (ca_store_open(j->ca, &st, &e) == -1)
		fatalx("bench: %s", e.msg);
	for (i = j->from; i < j->to; i++) {
		csr = make_csr(i, &len);
		memset(&req, 0, sizeof(req));
		req.profile = "server";
		req.csr = csr;
		req.csrlen = len;
		req.actor = "bench";
		if (ca_issue(j->ca, st, &req, &out, &e) == -1)
			fatalx("bench: issue: %s", e.msg);
		p = out.der;
		if ((j->c->x[i] = d2i_X509(NULL, &p, (long)out.derlen)) == NULL)
			fatalx("bench: issued certificate does not parse");
		memcpy(j->c->serial[i], out.serial, sizeof(out.serial));
		ca_issued_clear(&out);
		OPENSSL_free(csr);
	}
	store_close(st);
	return NULL;
}

/* Issues n certificates (8 threads, group commit) and revokes every (n/r)-th. */
static void
make_certs(const char *dir, size_t n, size_t r, struct certs *c)
{
	struct issue_job jobs[8];
	pthread_t th[8];
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	size_t i, step, nrev = 0;

	err_clear(&e);
	c->n = n;
	c->x = xcalloc(n, sizeof(*c->x));
	c->serial = xcalloc(n, sizeof(*c->serial));
	c->revoked = xcalloc(n, sizeof(*c->revoked));
	if (ca_open(dir, CA_OPEN_SIGNER, NULL, &ca, &e) == -1 || ca_batch_start(ca, 256, &e) == -1)
		fatalx("bench: %s", e.msg);
	for (i = 0; i < 8; i++) {
		jobs[i].ca = ca;
		jobs[i].c = c;
		jobs[i].from = i * n / 8;
		jobs[i].to = (i + 1) * n / 8;
		pthread_create(&th[i], NULL, issue_worker, &jobs[i]);
	}
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	if (ca_store_open(ca, &st, &e) == -1)
		fatalx("bench: %s", e.msg);
	step = r > 0 ? n / r : 0;
	for (i = 0; step > 0 && i < n && nrev < r; i += step, nrev++) {
		if (ca_revoke(ca, st, c->serial[i], 1, 0, "bench", &e) == -1)
			fatalx("bench: revoke: %s", e.msg);
		c->revoked[i] = 1;
	}
	store_close(st);
	ca_close(ca);
}

/* UTCTime text YYMMDDHHMMSSZ, as index.txt holds it. */
static void
utctime(time_t t, char out[32])
{
	char full[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(full, sizeof(full), "%Y%m%d%H%M%SZ", &tm);
	memcpy(out, full + 2, strlen(full + 2) + 1);
}

/* index.txt in `openssl ca` format for the same certificates and revocations. */
static void
write_index(const char *path, const struct certs *c, const X509 *issuer)
{
	FILE *f = fopen(path, "w");
	char exp[32], *subj;
	time_t t, now = time(NULL);
	size_t i;

	(void)issuer;
	if (f == NULL)
		fatalx("bench: cannot write %s", path);
	for (i = 0; i < c->n; i++) {
		if (x509_time_to_epoch(X509_get0_notAfter(c->x[i]), &t) == -1)
			fatalx("bench: bad notAfter");
		utctime(t, exp);
		subj = X509_NAME_oneline(X509_get_subject_name(c->x[i]), NULL, 0);
		if (c->revoked[i]) {
			char rev[32];

			utctime(now, rev);
			fprintf(f, "R\t%s\t%s,keyCompromise\t%s\tunknown\t%s\n", exp, rev,
				c->serial[i], subj);
		} else {
			fprintf(f, "V\t%s\t\t%s\tunknown\t%s\n", exp, c->serial[i], subj);
		}
		OPENSSL_free(subj);
	}
	fclose(f);
	subj = xasprintf("%s.attr", path);
	if ((f = fopen(subj, "w")) != NULL) {
		fputs("unique_subject = no\n", f);
		fclose(f);
	}
	free(subj);
}

/* ---- requests ---- */

struct reqs {
	size_t n;
	struct buf *http; /* complete HTTP requests */
	OCSP_CERTID **id;
};

/* One POST /ocsp per certificate (SHA-1 CertID), with a fresh nonce when nonce is set. */
static void
make_requests(const struct certs *c, X509 *issuer, int port, int nonce, struct reqs *r)
{
	OCSP_REQUEST *rq;
	OCSP_CERTID *id;
	unsigned char *der;
	size_t i;
	int len;

	r->n = c->n;
	r->http = xcalloc(c->n, sizeof(*r->http));
	r->id = xcalloc(c->n, sizeof(*r->id));
	for (i = 0; i < c->n; i++) {
		rq = OCSP_REQUEST_new();
		id = OCSP_cert_to_id(EVP_sha1(), c->x[i], issuer);
		if (rq == NULL || id == NULL ||
		    OCSP_request_add0_id(rq, OCSP_CERTID_dup(id)) == NULL)
			fatalx("bench: cannot build an OCSP request");
		if (nonce && OCSP_request_add1_nonce(rq, NULL, 16) != 1)
			fatalx("bench: nonce");
		der = NULL;
		if ((len = i2d_OCSP_REQUEST(rq, &der)) <= 0)
			fatalx("bench: cannot encode an OCSP request");
		buf_init(&r->http[i], 64 * 1024);
		buf_printf(&r->http[i],
			   "POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			   "Content-Type: application/ocsp-request\r\nContent-Length: %d\r\n"
			   "Connection: keep-alive\r\n\r\n",
			   port, len);
		buf_append(&r->http[i], der, (size_t)len);
		r->id[i] = id;
		OPENSSL_free(der);
		OCSP_REQUEST_free(rq);
	}
}

static void
free_requests(struct reqs *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		buf_free(&r->http[i]);
		OCSP_CERTID_free(r->id[i]);
	}
	free(r->http);
	free(r->id);
	memset(r, 0, sizeof(*r));
}

/* ---- HTTP response framing ---- */

/*
 * Looks for one complete response at the start of p: returns its total length (0: not
 * complete yet; -1: malformed), *status the HTTP status, *close whether the server will close
 * the connection after it, body and bodylen the payload.
 */
static long
http_frame(const char *p, size_t n, int *status, int *close_after, const char **body,
	   size_t *bodylen)
{
	const char *end = NULL, *h;
	size_t i, hl, cl = 0;
	int have_cl = 0, keep = -1, http10;

	for (i = 3; i < n; i++)
		if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') {
			end = p + i + 1;
			break;
		}
	if (end == NULL)
		return n > 16384 ? -1 : 0;
	hl = (size_t)(end - p);
	if (hl < 12 || strncmp(p, "HTTP/1.", 7) != 0)
		return -1;
	http10 = p[7] == '0';
	*status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	for (h = p; h < end; h++) {
		if (*h != '\n')
			continue;
		if ((size_t)(end - h) > 16 && strncasecmp(h + 1, "content-length:", 15) == 0) {
			cl = strtoul(h + 16, NULL, 10);
			have_cl = 1;
		} else if ((size_t)(end - h) > 12 && strncasecmp(h + 1, "connection:", 11) == 0) {
			const char *v = h + 12;

			while (*v == ' ')
				v++;
			keep = strncasecmp(v, "keep-alive", 10) == 0 ? 1
			       : strncasecmp(v, "close", 5) == 0     ? 0
								     : keep;
		}
	}
	if (!have_cl)
		return -1;
	if (hl + cl > n)
		return hl + cl > RESP_MAX ? -1 : 0;
	*close_after = keep == 0 || (http10 && keep != 1);
	*body = end;
	*bodylen = cl;
	return (long)(hl + cl);
}

/* ---- correctness pass: every request once, every answer checked ---- */

static int
verify_all(int port, const struct reqs *r, const struct certs *c, X509_STORE *trust,
	   STACK_OF(X509) * untrusted, const char *who)
{
	char *in = xmalloc(RESP_MAX);
	size_t i, have = 0, bodylen;
	long fl;
	int fd = -1, status = 0, close_after = 0, bad = 0, cst, reason, nrev = 0;
	const char *body;
	const unsigned char *p;
	ssize_t k;

	for (i = 0; i < r->n; i++) {
		OCSP_RESPONSE *resp;
		OCSP_BASICRESP *bs;
		ASN1_GENERALIZEDTIME *rev, *thisu, *nextu;

		if (fd < 0 && (fd = tcp_connect(port)) < 0)
			fatalx("bench: %s: cannot connect", who);
		if (write(fd, r->http[i].data, r->http[i].len) != (ssize_t)r->http[i].len)
			fatalx("bench: %s: write failed", who);
		have = 0;
		while ((fl = http_frame(in, have, &status, &close_after, &body, &bodylen)) == 0) {
			if ((k = read(fd, in + have, RESP_MAX - have)) <= 0)
				fatalx("bench: %s: connection lost in the check pass", who);
			have += (size_t)k;
		}
		if (fl < 0 || status != 200)
			fatalx("bench: %s: bad HTTP answer (status %d)", who, status);
		p = (const unsigned char *)body;
		resp = d2i_OCSP_RESPONSE(NULL, &p, (long)bodylen);
		bs = resp != NULL ? OCSP_response_get1_basic(resp) : NULL;
		if (bs == NULL || OCSP_basic_verify(bs, untrusted, trust, 0) != 1 ||
		    OCSP_resp_find_status(bs, r->id[i], &cst, &reason, &rev, &thisu, &nextu) != 1 ||
		    cst != (c->revoked[i] ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD)) {
			if (bad++ < 3)
				fprintf(stderr, "bench: %s: answer %zu is wrong\n", who, i);
			ERR_print_errors_fp(stderr);
		}
		nrev += c->revoked[i] && cst == V_OCSP_CERTSTATUS_REVOKED;
		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(resp);
		if (close_after) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	free(in);
	printf("  %s: checked %zu answers (%d revoked, signatures and chain verified): %s\n", who,
	       r->n, nrev, bad ? "WRONG ANSWERS" : "all correct");
	return bad;
}

/* ---- load ---- */

struct conn {
	int fd;
	size_t next;
	size_t have;
	char *in;
};

struct load {
	int port;
	const struct reqs *r;
	size_t conns;  /* this thread's connections */
	size_t offset; /* where this thread starts in the requests */
	double end;
	uint64_t done;
	uint64_t bad;
	uint64_t reconnects;
	uint64_t bytes;
};

static int
conn_send(struct load *l, struct conn *c, int ep)
{
	const struct buf *b = &l->r->http[c->next % l->r->n];
	struct epoll_event ev;
	ssize_t w;
	size_t off = 0;

	if (c->fd < 0) {
		if ((c->fd = tcp_connect(l->port)) < 0)
			return -1;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
			fatalx("bench: epoll_ctl");
		l->reconnects++;
	}
	while (off < b->len) {
		if ((w = write(c->fd, b->data + off, b->len - off)) <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)w;
	}
	c->have = 0;
	return 0;
}

static void
conn_reset(struct load *l, struct conn *c, int ep)
{
	(void)l;
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
}

static void *
load_main(void *arg)
{
	struct load *l = arg;
	struct conn *cs = xcalloc(l->conns, sizeof(*cs));
	struct epoll_event evs[64];
	const char *body;
	size_t i, bodylen, stride = l->r->n / 7 + 1;
	int ep = epoll_create1(EPOLL_CLOEXEC), n, k, status, close_after;
	long fl;
	ssize_t got;

	if (ep < 0)
		fatalx("bench: epoll_create1");
	for (i = 0; i < l->conns; i++) {
		cs[i].fd = -1;
		cs[i].in = xmalloc(RESP_MAX);
		cs[i].next = l->offset + i * stride;
		if (conn_send(l, &cs[i], ep) == -1)
			fatalx("bench: cannot connect to port %d", l->port);
	}
	l->reconnects = 0;
	while (now_s() < l->end) {
		if ((n = epoll_wait(ep, evs, 64, 50)) < 0) {
			if (errno == EINTR)
				continue;
			fatalx("bench: epoll_wait");
		}
		for (k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;

			got = read(c->fd, c->in + c->have, RESP_MAX - c->have);
			if (got <= 0) {
				/* closed before answering: count it, reconnect, ask again */
				l->bad++;
				conn_reset(l, c, ep);
				if (conn_send(l, c, ep) == -1)
					l->bad++;
				continue;
			}
			c->have += (size_t)got;
			fl = http_frame(c->in, c->have, &status, &close_after, &body, &bodylen);
			if (fl == 0)
				continue;
			if (fl < 0 || status != 200 || bodylen < 16) {
				l->bad++;
				close_after = 1;
			} else {
				l->done++;
				l->bytes += (uint64_t)fl;
			}
			c->next++;
			if (close_after)
				conn_reset(l, c, ep);
			if (conn_send(l, c, ep) == -1) {
				l->bad++;
				conn_reset(l, c, ep);
			}
		}
	}
	for (i = 0; i < l->conns; i++) {
		if (cs[i].fd >= 0)
			close(cs[i].fd);
		free(cs[i].in);
	}
	free(cs);
	close(ep);
	return NULL;
}

struct result {
	double rate;
	double seconds;
	uint64_t done, bad, reconnects;
	double busy;	   /* machine CPU busy, 0..1 */
	double client_cpu; /* CPU seconds of the load client */
	double server_cpu; /* CPU seconds of the server's processes */
};

/* Keeps conns connections busy for seconds, over threads client threads. */
static void
load_run(int port, pid_t server, const struct reqs *r, size_t conns, size_t threads, double seconds,
	 struct result *res)
{
	struct load *ls = xcalloc(threads, sizeof(*ls));
	pthread_t *th = xcalloc(threads, sizeof(*th));
	unsigned long long b0, t0j, b1, t1j;
	double t0, t1, c0, c1, s0, s1;
	size_t i;

	memset(res, 0, sizeof(*res));
	s0 = tree_cpu_s(server);
	cpu_jiffies(&b0, &t0j);
	c0 = self_cpu_s();
	t0 = now_s();
	for (i = 0; i < threads; i++) {
		ls[i].port = port;
		ls[i].r = r;
		ls[i].conns = conns / threads + (i < conns % threads);
		ls[i].offset = i * r->n / threads;
		ls[i].end = t0 + seconds;
		pthread_create(&th[i], NULL, load_main, &ls[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		res->done += ls[i].done;
		res->bad += ls[i].bad;
		res->reconnects += ls[i].reconnects;
	}
	t1 = now_s();
	c1 = self_cpu_s();
	cpu_jiffies(&b1, &t1j);
	s1 = tree_cpu_s(server);
	res->server_cpu = s1 - s0;
	res->seconds = t1 - t0;
	res->rate = (double)res->done / res->seconds;
	res->busy = t1j > t0j ? (double)(b1 - b0) / (double)(t1j - t0j) : 0;
	res->client_cpu = c1 - c0;
	free(ls);
	free(th);
}

static void
print_result(const char *who, const struct result *r)
{
	printf("%-34s %9.0f responses/s  (%llu in %.1f s, %llu errors, %llu reconnects)\n", who,
	       r->rate, (unsigned long long)r->done, r->seconds, (unsigned long long)r->bad,
	       (unsigned long long)r->reconnects);
	double su = r->done ? r->server_cpu / (double)r->done * 1e6 : 0;
	double cu = r->done ? r->client_cpu / (double)r->done * 1e6 : 0;

	printf("%-34s server CPU %.1f us/response, load client %.1f us/response; machine "
	       "%.0f%% busy (other processes included)\n",
	       "", su, cu, r->busy * 100);
	/* what 2 otherwise idle cores would give at these CPU costs (a shared machine's other
	 * load takes its share of the cores during the run) */
	if (su + cu > 0)
		printf("%-34s estimate for 2 idle cores: %.0f responses/s\n", "", 2e6 / (su + cu));
	fflush(stdout);
}

/* ---- processes ---- */

static pid_t
spawn(char *const argv[], const char *logpath)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		fatalx("bench: fork");
	if (pid == 0) {
		setpgid(0, 0);
		fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

/* Waits until something accepts connections on port (30 s at most). */
static int
wait_listening(int port, pid_t pid)
{
	double end = now_s() + 30;
	int fd, st;

	while (now_s() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return -1;
		if ((fd = tcp_connect(port)) >= 0) {
			close(fd);
			return 0;
		}
		usleep(20000);
	}
	return -1;
}

/* SIGTERM to the process group we made, then SIGKILL after 10 s; reaps the leader. */
static void
stop_group(pid_t pid)
{
	double end = now_s() + 10;
	int st;

	kill(-pid, SIGTERM);
	while (now_s() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			/* workers of the group may still be exiting */
			usleep(100000);
			kill(-pid, SIGKILL);
			return;
		}
		usleep(20000);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* Private network namespace with loopback up; 0 on success. */
static int
netns_private(void)
{
	if (unshare(CLONE_NEWNET) != 0)
		return -1;
	return run("ip link set lo up") == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct ca_init_opts io;
	struct err e;
	struct certs certs;
	struct reqs reqs, nreqs;
	struct result rs, rn, ro;
	X509_STORE *trust = NULL;
	STACK_OF(X509) *untrusted = NULL;
	X509 *issuer = NULL, *root = NULL;
	FILE *f;
	char dir[] = "/tmp/shomei-bench-ocsp.XXXXXX";
	char exe[PATH_MAX], *bin = NULL, *path, *cmd, portstr[16], *conf;
	long n = 1000, nrev = 100, conns = 32, cthreads = 1, secs = 10, nsecs = 3, wthreads = 0;
	int ch, keep = 0, only_shomei = 0, netns = 0, port, bad = 0, have_openssl = 0, quiet = 0;
	pid_t pid;
	ssize_t el;
	double t0;

	while ((ch = getopt(argc, argv, "n:r:c:T:d:N:b:w:kqx")) != -1) {
		switch (ch) {
		case 'n':
			util_parse_long(optarg, 1, 1000000, &n);
			break;
		case 'r':
			util_parse_long(optarg, 0, 1000000, &nrev);
			break;
		case 'c':
			util_parse_long(optarg, 1, 4096, &conns);
			break;
		case 'T':
			util_parse_long(optarg, 1, 64, &cthreads);
			break;
		case 'd':
			util_parse_long(optarg, 1, 600, &secs);
			break;
		case 'N':
			util_parse_long(optarg, 0, 600, &nsecs);
			break;
		case 'b':
			bin = xstrdup(optarg);
			break;
		case 'w':
			util_parse_long(optarg, 1, 256, &wthreads);
			break;
		case 'k':
			keep = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'x':
			only_shomei = 1;
			break;
		default:
			fprintf(stderr, "usage: ocsp [-n CERTS] [-r REVOKED] [-c CONNS] "
					"[-T CLIENT_THREADS] [-d SECONDS] [-N NONCE_SECONDS] "
					"[-b SHOMEI] [-w HTTP_THREADS] [-k] [-q] [-x]\n");
			return 2;
		}
	}
	if (nrev > n)
		nrev = n;
	if (conns < cthreads)
		conns = cthreads;
	log_init("bench", 0);
	signal(SIGPIPE, SIG_IGN);
	err_clear(&e);
	if (bin == NULL) {
		/* BUILD/bench/ocsp -> BUILD/shomei */
		if ((el = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
			fatalx("bench: cannot find myself");
		exe[el] = '\0';
		if ((path = strrchr(exe, '/')) != NULL)
			*path = '\0';
		if ((path = strrchr(exe, '/')) != NULL)
			*path = '\0';
		bin = xasprintf("%s/shomei", exe);
	}
	if (access(bin, X_OK) != 0)
		fatalx("bench: %s not found (make all first, or -b PATH)", bin);
	netns = netns_private() == 0;
	if (!netns)
		printf("bench/ocsp: no private network namespace (needs root): openssl ocsp is "
		       "skipped, it would listen on every interface\n");
	have_openssl = netns && !only_shomei && run("openssl version >/dev/null 2>&1") == 0;

	if (mkdtemp(dir) == NULL)
		fatalx("bench: mkdtemp");
	memset(&io, 0, sizeof(io));
	io.datadir = dir;
	io.root_key_out = bench_root_key_out(dir);
	io.key_type = "p256";
	io.ca_name = "bench";
	if (ca_init(&io, &e) == -1)
		fatalx("bench: init: %s", e.msg);
	printf("bench/ocsp: %ld certificates (P-256 CA and OCSP responder), %ld revoked; "
	       "requests: one SHA-1 CertID, no nonce (RFC 5019 style, cacheable); "
	       "%ld keep-alive connections, %ld client thread(s), %ld s per run\n",
	       n, nrev, conns, cthreads, secs);
	fflush(stdout);
	t0 = now_s();
	make_certs(dir, (size_t)n, (size_t)nrev, &certs);
	printf("  issued %ld and revoked %ld in %.1f s\n", n, nrev, now_s() - t0);

	/* what both servers are checked against */
	path = xasprintf("%s/certs/issuing.pem", dir);
	if ((f = fopen(path, "r")) == NULL || (issuer = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		fatalx("bench: cannot read %s", path);
	fclose(f);
	free(path);
	path = xasprintf("%s/certs/root.pem", dir);
	if ((f = fopen(path, "r")) == NULL || (root = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		fatalx("bench: cannot read %s", path);
	fclose(f);
	free(path);
	trust = X509_STORE_new();
	untrusted = sk_X509_new_null();
	X509_STORE_add_cert(trust, root);
	sk_X509_push(untrusted, issuer);

	/* ---- shomei ---- */
	port = free_port();
	conf = xasprintf("%s/shomei.conf", dir);
	if (wthreads > 0) {
		if ((f = fopen(conf, "a")) == NULL)
			fatalx("bench: %s", conf);
		fprintf(f, "\nhttp.threads = %ld\n", wthreads);
		fclose(f);
	}
	snprintf(portstr, sizeof(portstr), "127.0.0.1:%d", port);
	{
		char *args[] = {bin, "-d", dir, "serve", "--http", portstr, "--https", "off", NULL};

		path = quiet ? xstrdup("/dev/null") : xasprintf("%s/serve.log", dir);
		pid = spawn(args, path);
		free(path);
	}
	if (wait_listening(port, pid) == -1)
		fatalx("bench: shomei serve did not start (see %s/serve.log)", dir);
	make_requests(&certs, issuer, port, 0, &reqs);
	bad += verify_all(port, &reqs, &certs, trust, untrusted, "shomei");
	load_run(port, pid, &reqs, (size_t)conns, (size_t)cthreads, 1, &rs); /* warm-up */
	load_run(port, pid, &reqs, (size_t)conns, (size_t)cthreads, (double)secs, &rs);
	print_result("shomei serve (cached, no nonce):", &rs);
	if (nsecs > 0) {
		make_requests(&certs, issuer, port, 1, &nreqs);
		load_run(port, pid, &nreqs, (size_t)conns, (size_t)cthreads, (double)nsecs, &rn);
		print_result("shomei serve (nonce, signed each):", &rn);
		free_requests(&nreqs);
	}
	stop_group(pid);
	free_requests(&reqs);

	/* ---- openssl ocsp, same certificates, same key, same requests ---- */
	if (have_openssl) {
		char *idx = xasprintf("%s/index.txt", dir);
		char *key = xasprintf("%s/ocsp.key", dir);
		char *cacert = xasprintf("%s/certs/issuing.pem", dir);
		char *rsigner = xasprintf("%s/certs/ocsp.pem", dir);
		char *logp = xasprintf("%s/openssl-ocsp.log", dir);
		char oport[16];

		write_index(idx, &certs, issuer);
		/* openssl's best case: the key unencrypted, decrypted once here */
		cmd = xasprintf(
		    "openssl pkey -in %s/keys/ocsp.key.pem -passin file:%s/keys/passphrase "
		    "-out %s",
		    dir, dir, key);
		if (run(cmd) != 0)
			fatalx("bench: cannot export the OCSP key for openssl ocsp");
		free(cmd);
		port = free_port();
		snprintf(oport, sizeof(oport), "%d", port);
		{
			char *args[] = {"openssl",  "ocsp",  "-index", idx,  "-CA",   cacert,
					"-rsigner", rsigner, "-rkey",  key,  "-port", oport,
					"-multi",   "2",     "-nmin",  "60", NULL};

			pid = spawn(args, logp);
		}
		if (wait_listening(port, pid) == -1)
			fatalx("bench: openssl ocsp did not start (see %s)", logp);
		make_requests(&certs, issuer, port, 0, &reqs);
		bad += verify_all(port, &reqs, &certs, trust, untrusted, "openssl ocsp");
		load_run(port, pid, &reqs, (size_t)conns, (size_t)cthreads, 1, &ro);
		load_run(port, pid, &reqs, (size_t)conns, (size_t)cthreads, (double)secs, &ro);
		print_result("openssl ocsp -multi 2:", &ro);
		stop_group(pid);
		free_requests(&reqs);
		printf("ratio shomei / openssl ocsp: %.1fx   (target >= 5x: %s)\n",
		       ro.rate > 0 ? rs.rate / ro.rate : 0,
		       ro.rate > 0 && rs.rate >= 5 * ro.rate ? "met" : "NOT met");
		free(idx);
		free(key);
		free(cacert);
		free(rsigner);
		free(logp);
	}
	printf("target >= 60000 responses/s (keep-alive, 2 cores): %s\n",
	       rs.rate >= 60000 ? "met" : "NOT met");
	printf("note: the load client runs on the same 2 cores; shomei answers from its cache of "
	       "signed responses (a revocation invalidates it), openssl ocsp signs every "
	       "response\n");

	if (!keep) {
		cmd = xasprintf("rm -rf %s", dir);
		run(cmd);
		free(cmd);
	} else {
		printf("kept %s\n", dir);
	}
	for (long i = 0; i < n; i++)
		X509_free(certs.x[i]);
	free(certs.x);
	free(certs.serial);
	free(certs.revoked);
	X509_STORE_free(trust);
	sk_X509_free(untrusted);
	X509_free(issuer);
	X509_free(root);
	free(conf);
	free(bin);
	return bad ? 1 : 0;
}
