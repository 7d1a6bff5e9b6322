/*
 * bench/tsa: RFC 3161 time stamps per second through the real server — `shomei serve` (the
 * built binary: supervisor, signer process, web process) on a fresh P-256 CA in a temporary
 * directory, driven over loopback by a small epoll client: many keep-alive connections, one
 * POST /tsa in flight on each, for a bounded time.  A sample of the replies is verified with
 * OpenSSL's RFC 3161 verifier (signature, chain to the root, imprint, nonce) and their serials
 * are checked for uniqueness.  As a reference peer, the same kind of requests go through
 * `openssl ts -reply` as one process per request (how operators script it), with the same
 * TSA key (given to openssl unencrypted: its best case).
 *
 * usage: tsa [-d SECONDS] [-c CONNECTIONS] [-t CLIENT_THREADS] [-T SERVER_THREADS]
 *            [-s OPENSSL_SAMPLE] [-S STORE] [-B SHOMEI_BINARY] [-k] [-x]
 * (-x: shomei only; -k: keep the data directory; the binary defaults to ../shomei relative to
 * this program, i.e. BUILD/shomei)
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "common.h"
#include "ca/ca.h"

#define NREQ 4096	 /* distinct requests (data and nonce) cycled through */
#define SAMPLE_EVERY 997 /* keep every n-th reply of a connection for verification */
#define SAMPLE_MAX 64	 /* per client thread */
#define RBUF (64 * 1024)

/* One prepared request: the HTTP bytes and the DER query (for verification). */
struct breq {
	char *http;
	size_t httplen;
	unsigned char *der;
	size_t derlen;
};

static struct breq reqs[NREQ];

struct sample {
	size_t req;
	unsigned char *resp;
	size_t len;
};

struct conn {
	int fd;
	size_t req;  /* index of the request in flight */
	size_t sent; /* bytes of it written */
	char buf[RBUF];
	size_t have;
	unsigned long done;
};

struct client {
	pthread_t th;
	int nconn;
	size_t first_req;
	struct sockaddr_in addr;
	unsigned long done; /* replies counted in the measured window */
	unsigned long bad;  /* non-200, not a reply, or a connection error */
	struct sample samples[SAMPLE_MAX];
	int nsamples;
};

static atomic_int phase; /* 0 warm-up, 1 measuring, 2 stop */

static int
run(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A DER TimeStampReq (SHA-256 imprint of "document <i>", 64-bit nonce, certReq). */
static void
req_make(size_t i, struct breq *r)
{
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *nonce = ASN1_INTEGER_new();
	BIGNUM *bn;
	unsigned char md[32], rnd[8], *der = NULL;
	char data[64];
	int n;

	snprintf(data, sizeof(data), "document %zu", i);
	EVP_Digest(data, strlen(data), md, NULL, EVP_sha256(), NULL);
	RAND_bytes(rnd, sizeof(rnd));
	rnd[0] = (unsigned char)((rnd[0] & 0x7f) | 0x40);
	bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
	if (req == NULL || mi == NULL || alg == NULL || nonce == NULL || bn == NULL ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) ||
	    !TS_MSG_IMPRINT_set_algo(mi, alg) || !TS_MSG_IMPRINT_set_msg(mi, md, 32) ||
	    !TS_REQ_set_version(req, 1) || !TS_REQ_set_msg_imprint(req, mi) ||
	    BN_to_ASN1_INTEGER(bn, nonce) == NULL || !TS_REQ_set_nonce(req, nonce) ||
	    !TS_REQ_set_cert_req(req, 1) || (n = i2d_TS_REQ(req, &der)) <= 0)
		fatalx("bench: cannot make a request");
	r->der = der;
	r->derlen = (size_t)n;
	r->http =
	    xasprintf("POST /tsa HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		      "Content-Type: application/timestamp-query\r\nContent-Length: %d\r\n\r\n",
		      n);
	r->httplen = strlen(r->http);
	r->http = xrealloc(r->http, r->httplen + (size_t)n);
	memcpy(r->http + r->httplen, der, (size_t)n);
	r->httplen += (size_t)n;
	BN_free(bn);
	ASN1_INTEGER_free(nonce);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
}

static int
conn_open(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) == -1) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Writes as much of the connection's request as the socket takes: 0, or -1 on error. */
static int
conn_send(struct conn *c)
{
	const struct breq *r = &reqs[c->req];
	ssize_t w;

	while (c->sent < r->httplen) {
		w = write(c->fd, r->http + c->sent, r->httplen - c->sent);
		if (w == -1 && errno == EAGAIN)
			return 0;
		if (w <= 0)
			return -1;
		c->sent += (size_t)w;
	}
	return 0;
}

/* memmem() is a GNU extension; this is the plain loop. */
static char *
find(char *p, size_t n, const char *needle, size_t m)
{
	size_t i;

	for (i = 0; i + m <= n; i++)
		if (p[i] == needle[0] && memcmp(p + i, needle, m) == 0)
			return p + i;
	return NULL;
}

/*
 * A complete response in c->buf: returns its total length and sets *status, *body, *blen;
 * 0 when more bytes are needed; -1 when it is not a response we understand.
 */
static long
resp_parse(struct conn *c, int *status, const char **body, size_t *blen)
{
	char *end, *p, *line;
	size_t hlen;
	long clen = -1, v;

	if ((end = find(c->buf, c->have, "\r\n\r\n", 4)) == NULL)
		return c->have >= RBUF ? -1 : 0;
	hlen = (size_t)(end - c->buf) + 4;
	if (c->have < 12 || memcmp(c->buf, "HTTP/1.1 ", 9) != 0)
		return -1;
	*status = (c->buf[9] - '0') * 100 + (c->buf[10] - '0') * 10 + (c->buf[11] - '0');
	for (line = c->buf; line < end; line = p + 2) {
		if ((p = find(line, (size_t)(end - line) + 2, "\r\n", 2)) == NULL)
			break;
		if ((size_t)(p - line) > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
			char num[32];
			size_t n = (size_t)(p - line) - 15;

			if (n >= sizeof(num))
				return -1;
			memcpy(num, line + 15, n);
			num[n] = '\0';
			if (util_parse_long(num + strspn(num, " "), 0, RBUF, &v) == -1)
				return -1;
			clen = v;
		}
	}
	if (clen < 0)
		return -1;
	if (c->have < hlen + (size_t)clen)
		return c->have >= RBUF ? -1 : 0;
	*body = c->buf + hlen;
	*blen = (size_t)clen;
	return (long)(hlen + (size_t)clen);
}

static void *
client_main(void *arg)
{
	struct client *cl = arg;
	struct epoll_event ev, evs[256];
	struct conn *cs = xcalloc((size_t)cl->nconn, sizeof(*cs));
	const char *body;
	size_t blen;
	ssize_t n;
	long used;
	int ep = epoll_create1(0), i, k, nev, status;

	for (i = 0; i < cl->nconn; i++) {
		cs[i].req = (cl->first_req + (size_t)i * 31) % NREQ;
		if ((cs[i].fd = conn_open(&cl->addr)) == -1)
			fatalx("bench: connect: %s", strerror(errno));
		ev.events = EPOLLIN;
		ev.data.ptr = &cs[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
		if (conn_send(&cs[i]) == -1)
			fatalx("bench: write: %s", strerror(errno));
	}
	while (atomic_load(&phase) < 2) {
		if ((nev = epoll_wait(ep, evs, 256, 100)) == -1 && errno != EINTR)
			fatalx("bench: epoll_wait: %s", strerror(errno));
		for (k = 0; k < nev; k++) {
			struct conn *c = evs[k].data.ptr;

			n = read(c->fd, c->buf + c->have, RBUF - c->have);
			if (n == -1 && errno == EAGAIN)
				continue;
			if (n <= 0) {
				cl->bad++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				if ((c->fd = conn_open(&cl->addr)) == -1)
					fatalx("bench: reconnect: %s", strerror(errno));
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
				c->have = 0;
				c->sent = 0;
				conn_send(c);
				continue;
			}
			c->have += (size_t)n;
			while ((used = resp_parse(c, &status, &body, &blen)) > 0) {
				if (atomic_load(&phase) == 1) {
					cl->done++;
					if (status != 200)
						cl->bad++;
					else if (c->done++ % SAMPLE_EVERY == 0 &&
						 cl->nsamples < SAMPLE_MAX) {
						struct sample *s = &cl->samples[cl->nsamples++];

						s->req = c->req;
						s->resp = xmalloc(blen);
						memcpy(s->resp, body, blen);
						s->len = blen;
					}
				}
				memmove(c->buf, c->buf + used, c->have - (size_t)used);
				c->have -= (size_t)used;
				c->req = (c->req + 1) % NREQ;
				c->sent = 0;
				if (conn_send(c) == -1)
					fatalx("bench: write: %s", strerror(errno));
			}
			if (used == -1)
				fatalx("bench: a reply that is not HTTP/1.1 with Content-Length");
		}
	}
	for (i = 0; i < cl->nconn; i++)
		close(cs[i].fd);
	close(ep);
	free(cs);
	return NULL;
}

/* GET /healthz answers 200. */
static int
healthy(const struct sockaddr_in *a)
{
	static const char q[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	char buf[512];
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;
	ssize_t n;

	if (fd == -1)
		return 0;
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) == 0 &&
	    write(fd, q, sizeof(q) - 1) == (ssize_t)(sizeof(q) - 1) &&
	    (n = read(fd, buf, sizeof(buf) - 1)) > 12)
		ok = memcmp(buf, "HTTP/1.1 200", 12) == 0;
	close(fd);
	return ok;
}

static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd != -1 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd != -1)
		close(fd);
	return port;
}

/* The children of pid (the signer and the web process of `serve`), by their /proc/PID/comm. */
static void
children_find(pid_t pid, pid_t *web, pid_t *signer)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	char path[300], buf[512], *p;
	FILE *f;
	long cpid, ppid;

	*web = *signer = -1;
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (util_parse_long(de->d_name, 1, INT_MAX, &cpid) == -1)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", cpid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL &&
		    p[1] == ' ' && p[2] != '\0' && p[3] == ' ') {
			ppid = strtol(p + 4, NULL, 10);
			if (ppid == (long)pid) {
				if (strstr(buf, "web") != NULL)
					*web = (pid_t)cpid;
				else
					*signer = (pid_t)cpid;
			}
		}
		fclose(f);
	}
	closedir(d);
}

/* Verifies one sampled reply against its request; appends its serial to serials. */
static int
sample_verify(const char *dir, const struct sample *s, X509_STORE *store,
	      STACK_OF(X509) * untrusted, ASN1_INTEGER **serials, int *nserials)
{
	const unsigned char *p = reqs[s->req].der;
	TS_REQ *req = d2i_TS_REQ(NULL, &p, (long)reqs[s->req].derlen);
	TS_RESP *resp = NULL;
	TS_VERIFY_CTX *ctx = NULL;
	int ok = 0;

	(void)dir;
	p = s->resp;
	if (req == NULL || (resp = d2i_TS_RESP(NULL, &p, (long)s->len)) == NULL ||
	    (ctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL)) == NULL)
		goto out;
	TS_VERIFY_CTX_add_flags(ctx, TS_VFY_SIGNATURE | TS_VFY_SIGNER);
	X509_STORE_up_ref(store);
	TS_VERIFY_CTX_set_store(ctx, store);
	TS_VERIFY_CTX_set_certs(ctx, X509_chain_up_ref(untrusted));
	if (TS_RESP_verify_response(ctx, resp) != 1)
		goto out;
	serials[(*nserials)++] =
	    ASN1_INTEGER_dup(TS_TST_INFO_get_serial(TS_RESP_get_tst_info(resp)));
	ok = 1;
out:
	if (!ok)
		ERR_print_errors_fp(stderr);
	TS_VERIFY_CTX_free(ctx);
	TS_RESP_free(resp);
	TS_REQ_free(req);
	return ok;
}

/* `openssl ts -reply`, one process per request, with the same TSA key and certificate. */
static double
openssl_rate(const char *dir, long n)
{
	char *cmd;
	FILE *f;
	double t0, t1;
	long i;

	cmd = xasprintf("mkdir -p %s/ots && openssl pkey -in %s/keys/tsa.key.pem -passin "
			"file:%s/keys/passphrase -out %s/ots/tsa.key && echo 01 > %s/ots/serial",
			dir, dir, dir, dir, dir);
	if (run(cmd) != 0)
		fatalx("bench: cannot export the TSA key for openssl ts");
	free(cmd);
	cmd = xasprintf("%s/ots/ts.cnf", dir);
	if ((f = fopen(cmd, "w")) == NULL)
		fatalx("bench: cannot write %s", cmd);
	free(cmd);
	fprintf(f,
		"[ tsa ]\ndefault_tsa = t\n[ t ]\ndir = %s\nserial = $dir/ots/serial\n"
		"crypto_device = builtin\nsigner_cert = $dir/certs/tsa.pem\n"
		"certs = $dir/certs/issuing.pem\nsigner_key = $dir/ots/tsa.key\n"
		"signer_digest = sha256\ndefault_policy = 1.2.3.4.1\n"
		"digests = sha256, sha384, sha512\naccuracy = secs:1\nordering = no\n"
		"tsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
		dir);
	fclose(f);
	for (i = 0; i < n; i++) {
		cmd = xasprintf("%s/ots/%ld.tsq", dir, i);
		if ((f = fopen(cmd, "wb")) == NULL ||
		    fwrite(reqs[i % NREQ].der, 1, reqs[i % NREQ].derlen, f) !=
			reqs[i % NREQ].derlen)
			fatalx("bench: cannot write %s", cmd);
		fclose(f);
		free(cmd);
	}
	t0 = now_s();
	for (i = 0; i < n; i++) {
		cmd = xasprintf("openssl ts -reply -config %s/ots/ts.cnf -queryfile %s/ots/%ld.tsq "
				"-out %s/ots/%ld.tsr >/dev/null 2>&1",
				dir, dir, i, dir, i);
		if (run(cmd) != 0)
			fatalx("bench: openssl ts -reply failed: %s", cmd);
		free(cmd);
	}
	t1 = now_s();
	return (double)n / (t1 - t0);
}

int
main(int argc, char **argv)
{
	struct ca_init_opts io;
	struct client *cls;
	struct sockaddr_in addr;
	struct err e;
	char dir[] = "/tmp/shomei-bench-tsa.XXXXXX";
	char *bin = NULL, *cmd, *conf, self[PATH_MAX], listen_arg[64];
	long secs = 10, conns = 64, threads = 2, sthreads = 0, single = 100;
	int ch, keep = 0, only_shomei = 0, port, i, j, verified = 0, nsamples = 0, nserials = 0;
	int dup = 0, failed = 0;
	const char *storespec = NULL;
	unsigned long done = 0, bad = 0;
	double t0, t1, rate, orate, c0s, c1s, c0w, c1w, c0g, c1g;
	pid_t pid, web, signer;
	X509_STORE *store;
	STACK_OF(X509) * untrusted;
	ASN1_INTEGER **serials;
	X509 *x;
	FILE *f;
	ssize_t sl;

	while ((ch = getopt(argc, argv, "d:c:t:T:s:S:B:kx")) != -1) {
		switch (ch) {
		case 'd':
			util_parse_long(optarg, 1, 3600, &secs);
			break;
		case 'c':
			util_parse_long(optarg, 1, 4096, &conns);
			break;
		case 't':
			util_parse_long(optarg, 1, 64, &threads);
			break;
		case 'T':
			util_parse_long(optarg, 1, 256, &sthreads);
			break;
		case 's':
			util_parse_long(optarg, 1, 100000, &single);
			break;
		case 'S':
			storespec = optarg;
			break;
		case 'B':
			bin = xstrdup(optarg);
			break;
		case 'k':
			keep = 1;
			break;
		case 'x':
			only_shomei = 1;
			break;
		default:
			fprintf(stderr,
				"usage: tsa [-d SECONDS] [-c CONNECTIONS] [-t CLIENT_THREADS]"
				" [-T SERVER_THREADS] [-s SAMPLE] [-S STORE] [-B BINARY] [-k]"
				" [-x]\n");
			return 2;
		}
	}
	if (threads > conns)
		threads = conns;
	log_init("bench", 0);
	err_clear(&e);
	signal(SIGPIPE, SIG_IGN);
	if (bin == NULL) { /* BUILD/bench/tsa -> BUILD/shomei */
		if ((sl = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
			fatalx("bench: cannot find myself");
		self[sl] = '\0';
		bin = xasprintf("%s/../shomei", dirname(self));
	}
	if (access(bin, X_OK) != 0)
		fatalx("bench: %s is not executable (build it, or pass -B)", bin);
	if (mkdtemp(dir) == NULL)
		fatalx("bench: mkdtemp");
	memset(&io, 0, sizeof(io));
	io.datadir = dir;
	io.root_key_out = bench_root_key_out(dir);
	io.key_type = "p256";
	io.ca_name = "bench";
	io.store = storespec;
	if (ca_init(&io, &e) == -1)
		fatalx("bench: init: %s", e.msg);
	if (sthreads > 0) {
		conf = xasprintf("%s/shomei.conf", dir);
		if ((f = fopen(conf, "a")) == NULL)
			fatalx("bench: cannot append to %s", conf);
		fprintf(f, "\nhttp.threads = %ld\n", sthreads);
		fclose(f);
		free(conf);
	}
	for (i = 0; i < NREQ; i++)
		req_make((size_t)i, &reqs[i]);

	/* ---- shomei serve ---- */
	if ((port = free_port()) == -1)
		fatalx("bench: no free port");
	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", port);
	if ((pid = fork()) == -1)
		fatalx("bench: fork");
	if (pid == 0) {
		/* the request log goes to a file, as it would to the journal */
		cmd = xasprintf("%s/serve.log", dir);
		if ((i = open(cmd, O_WRONLY | O_CREAT | O_APPEND, 0600)) == -1 ||
		    dup2(i, 1) == -1 || dup2(i, 2) == -1)
			_exit(126);
		close(i);
		execl(bin, bin, "-d", dir, "serve", "--http", listen_arg, "--https", "off",
		      (char *)NULL);
		_exit(127);
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)port);
	for (i = 0; i < 300 && !healthy(&addr); i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			fatalx("bench: shomei serve exited");
		usleep(100000);
	}
	if (i == 300)
		fatalx("bench: shomei serve did not become healthy");
	children_find(pid, &web, &signer);

	printf("bench/tsa: POST /tsa (SHA-256 imprint, nonce, certReq) to shomei serve, P-256 TSA "
	       "key, %ld keep-alive connections from %ld client threads, %ld s\n",
	       conns, threads, secs);
	fflush(stdout);
	cls = xcalloc((size_t)threads, sizeof(*cls));
	for (i = 0; i < threads; i++) {
		cls[i].nconn = (int)(conns / threads + (i < conns % threads));
		cls[i].first_req = (size_t)i * 977;
		cls[i].addr = addr;
		pthread_create(&cls[i].th, NULL, client_main, &cls[i]);
	}
	sleep(1); /* warm-up: connections open, the TSA context built, first serial block */
	c0s = proc_cpu_s(signer);
	c0w = proc_cpu_s(web);
	c0g = proc_cpu_s(getpid());
	t0 = now_s();
	atomic_store(&phase, 1);
	sleep((unsigned)secs);
	atomic_store(&phase, 2);
	t1 = now_s();
	c1s = proc_cpu_s(signer);
	c1w = proc_cpu_s(web);
	c1g = proc_cpu_s(getpid());
	for (i = 0; i < threads; i++) {
		pthread_join(cls[i].th, NULL);
		done += cls[i].done;
		bad += cls[i].bad;
		nsamples += cls[i].nsamples;
	}
	rate = (double)done / (t1 - t0);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);

	/* ---- verify the sample ---- */
	store = X509_STORE_new();
	untrusted = sk_X509_new_null();
	cmd = xasprintf("%s/certs/root.pem", dir);
	if ((f = fopen(cmd, "r")) == NULL || (x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		fatalx("bench: cannot read %s", cmd);
	fclose(f);
	X509_STORE_add_cert(store, x);
	X509_free(x);
	free(cmd);
	cmd = xasprintf("%s/certs/issuing.pem", dir);
	if ((f = fopen(cmd, "r")) == NULL || (x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		fatalx("bench: cannot read %s", cmd);
	fclose(f);
	sk_X509_push(untrusted, x);
	free(cmd);
	serials = xcalloc((size_t)nsamples + 1, sizeof(*serials));
	for (i = 0; i < threads; i++)
		for (j = 0; j < cls[i].nsamples; j++) {
			verified += sample_verify(dir, &cls[i].samples[j], store, untrusted,
						  serials, &nserials);
			free(cls[i].samples[j].resp);
		}
	for (i = 0; i < nserials; i++)
		for (j = i + 1; j < nserials; j++)
			dup += ASN1_INTEGER_cmp(serials[i], serials[j]) == 0;
	for (i = 0; i < nserials; i++)
		ASN1_INTEGER_free(serials[i]);
	free(serials);
	sk_X509_pop_free(untrusted, X509_free);
	X509_STORE_free(store);
	failed = bad > 0 || verified != nsamples || nsamples == 0 || dup > 0;

	printf("shomei serve:               %8lu stamps in %6.2f s = %9.0f stamps/s "
	       "(%lu errors)\n",
	       done, t1 - t0, rate, bad);
	printf("  CPU per stamp: %.1f us web + %.1f us signer + %.1f us this client "
	       "(%.0f%% of 2 cores busy)\n",
	       done ? (c1w - c0w) / (double)done * 1e6 : 0,
	       done ? (c1s - c0s) / (double)done * 1e6 : 0,
	       done ? (c1g - c0g) / (double)done * 1e6 : 0,
	       ((c1w - c0w) + (c1s - c0s) + (c1g - c0g)) / (t1 - t0) / 2 * 100);
	printf("  verified sample: %d of %d replies verify (openssl TS_RESP_verify_response: "
	       "signature, chain, imprint, nonce), %d duplicate serials\n",
	       verified, nsamples, dup);
	printf("target >= 10000 stamps/s: %s\n", rate >= 10000 ? "met" : "NOT met");
	fflush(stdout);

	if (!only_shomei) {
		orate = openssl_rate(dir, single);
		printf("openssl ts -reply (1 per process): %ld stamps = %9.0f stamps/s\n", single,
		       orate);
		printf("ratio shomei / openssl ts -reply (1 per process): %6.1fx\n", rate / orate);
		printf(
		    "note: shomei answers over HTTP with its key encrypted at rest in a separate "
		    "signer process and its serials reserved durably in the store; openssl ts "
		    "gets the key unencrypted and reads the query from a file\n");
	}
	if (!keep) {
		cmd = xasprintf("rm -rf %s", dir);
		run(cmd);
		free(cmd);
	} else {
		printf("kept %s\n", dir);
	}
	for (i = 0; i < NREQ; i++) {
		free(reqs[i].http);
		OPENSSL_free(reqs[i].der);
	}
	free(cls);
	free(bin);
	return failed ? 1 : 0;
}
