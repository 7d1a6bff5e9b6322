/*
 * bench/acme: complete ACME issuances per second (RFC 8555) through the real server, and the
 * same client against pebble (Debian's ACME test server) on the same machine.
 *
 * shomei: `shomei serve` (supervisor, signer, web process) on a fresh CA in a temporary
 * directory (SQLite in it, or PostgreSQL with -S), loopback only, test.instance = yes with
 * test.acme_resolve = 127.0.0.1 and acme.http01_port = the bench's own http-01 responder.
 * pebble: run with PEBBLE_VA_NOSLEEP=1, PEBBLE_WFE_NONCEREJECT=0 (no random badNonce) and
 * PEBBLE_AUTHZREUSE=0, its
 * HTTPS certificate made here (a throwaway CA and a localhost certificate), its DNS answered
 * by pebble-challtestsrv with 127.0.0.1 for every name, its httpPort the same responder.
 *
 * The load client: W worker threads (-w), each with its own account (made once, with an
 * External Account Binding from `shomei acme eab create` for shomei), its own keep-alive
 * HTTPS connection and its own certificate key, run N complete issuances (-n) between them:
 *
 *   newOrder (host<i>.bench.example) -> POST-as-GET its authorization (the http-01 token) ->
 *   the token's key authorization into the responder's table -> POST {} to the challenge ->
 *   POST-as-GET the authorization until valid (the server's validator fetches the token
 *   from the responder meanwhile) -> finalize (a P-256 CSR; the order polled until valid when the
 *   server answers processing) -> POST-as-GET the certificate (a PEM chain).
 *
 * Every answer is checked (status, the JSON fields used); one failure stops the run.  Printed:
 * issuances/s, the server's CPU per issuance (utime + stime of the serve process and its
 * children, or of pebble, from /proc before and after), the requests and polls per issuance,
 * and the ratio shomei/pebble.  Then lego (if installed) gets L certificates (-L, default 50)
 * one after another from each server (one lego account each, one `lego run` per name), wall
 * time side by side.  The machine may be shared: run it a few times and report the spread.
 *
 * usage: acme [-n ISSUANCES] [-P PEBBLE_ISSUANCES] [-w WORKERS] [-L LEGO_COUNT] [-S STORE]
 *             [-b SHOMEI] [-k] [-x]
 * (-P: pebble's share, default 500 (at most -n): pebble 2.4 stops answering for good after
 * some hundreds to a thousand issuances at 16 workers here (its log ends with authorizations
 * set valid; every later request times out), so its rate is taken over fewer)
 * (-x: shomei only, no pebble; -L 0: no lego; -k: keep the data directory; -S: a PostgreSQL
 * connection string for shomei's store instead of SQLite)
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common.h"
#include "util/util.h"

#define BENCH_ORG "BENCH"
#define BENCH_DOMAIN "bench.example"
#define BODY_MAX (256 * 1024)

/* One server under test: its directory's URLs and how to trust and reach it. */
struct target {
	const char *name; /* "shomei" or "pebble" */
	char *dir_url;	  /* the directory */
	char *new_nonce, *new_account, *new_order;
	char *cafile;	 /* trust for its HTTPS certificate */
	char *resolve;	 /* "localhost:PORT:127.0.0.1" */
	int eab;	 /* accounts need an External Account Binding */
	const char *bin; /* the shomei binary (for eab create) */
	const char *datadir;
};

/* An account: its key, its URL (kid) and its key's RFC 7638 thumbprint. */
struct acct {
	EVP_PKEY *key;
	char *jwk; /* canonical JSON of the public key */
	char thumb[64];
	char *kid;
};

/* One worker: its account, connection, certificate key and counters. */
struct worker {
	struct target *t;
	struct acct a;
	EVP_PKEY *certkey;
	CURL *h;
	struct curl_slist *hdrs;
	char nonce[256];
	char location[1024];
	char *body;
	size_t bodylen;
	long requests, polls;
	int failed;
	pthread_t th;
};

/* The responder's table: token -> the thumbprint of the account that ordered it. */
struct slot {
	char token[64];
	const char *thumb;
};

static struct {
	struct slot *slots;
	size_t n; /* a power of two */
	pthread_mutex_t mu;
	int fd;
	pthread_t th[16];
} resp = {.mu = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

static atomic_long next_issue;
static long total_issues;

/* ---- small helpers ---- */

static int
run(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *
b64u(const unsigned char *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *o = xmalloc(n * 4 / 3 + 4), *q = o;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*q++ = tab[p[i] >> 2];
		*q++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*q++ = tab[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*q++ = tab[p[i + 2] & 63];
	}
	if (n - i == 1) {
		*q++ = tab[p[i] >> 2];
		*q++ = tab[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		*q++ = tab[p[i] >> 2];
		*q++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*q++ = tab[(p[i + 1] & 15) << 2];
	}
	*q = '\0';
	return o;
}

static char *
b64u_str(const char *s)
{
	return b64u((const unsigned char *)s, strlen(s));
}

/* Decodes base64url (no padding) into out; its length, or -1. */
static int
b64u_dec(const char *s, unsigned char *out, size_t max)
{
	size_t n = 0, bits = 0;
	unsigned long acc = 0;
	const char *p;
	int v;

	for (p = s; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			v = *p - 'A';
		else if (*p >= 'a' && *p <= 'z')
			v = *p - 'a' + 26;
		else if (*p >= '0' && *p <= '9')
			v = *p - '0' + 52;
		else if (*p == '-')
			v = 62;
		else if (*p == '_')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == max)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return (int)n;
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

/* CPU seconds of pid and its children (one level: serve's web and signer). */
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

/* SIGTERM to the process group we made, SIGKILL after 20 s; reaps the leader. */
static void
stop_group(pid_t pid)
{
	double end = now_s() + 20;
	int st;

	kill(-pid, SIGTERM);
	while (now_s() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			usleep(100000);
			kill(-pid, SIGKILL);
			return;
		}
		usleep(20000);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* ---- the http-01 responder (loopback, its own threads) ---- */

static size_t
slot_hash(const char *tok)
{
	size_t h = 5381;

	for (; *tok != '\0'; tok++)
		h = h * 33 + (unsigned char)*tok;
	return h;
}

static void
resp_put(const char *token, const char *thumb)
{
	size_t i;

	if (strlen(token) >= sizeof(resp.slots[0].token))
		fatalx("bench: token too long");
	pthread_mutex_lock(&resp.mu);
	for (i = slot_hash(token) & (resp.n - 1); resp.slots[i].thumb != NULL;
	     i = (i + 1) & (resp.n - 1))
		if (strcmp(resp.slots[i].token, token) == 0)
			break;
	snprintf(resp.slots[i].token, sizeof(resp.slots[i].token), "%s", token);
	resp.slots[i].thumb = thumb;
	pthread_mutex_unlock(&resp.mu);
}

static const char *
resp_get(const char *token)
{
	const char *thumb = NULL;
	size_t i;

	pthread_mutex_lock(&resp.mu);
	for (i = slot_hash(token) & (resp.n - 1); resp.slots[i].thumb != NULL;
	     i = (i + 1) & (resp.n - 1))
		if (strcmp(resp.slots[i].token, token) == 0) {
			thumb = resp.slots[i].thumb;
			break;
		}
	pthread_mutex_unlock(&resp.mu);
	return thumb;
}

/* One connection: GET /.well-known/acme-challenge/<token> -> token.thumbprint, then close. */
static void
resp_serve(int fd)
{
	static const char pre[] = "GET /.well-known/acme-challenge/";
	char req[2048], tok[64], out[512];
	const char *thumb = NULL;
	size_t n = 0, k;
	ssize_t r;
	int len;

	while (n < sizeof(req) - 1 && (r = read(fd, req + n, sizeof(req) - 1 - n)) > 0) {
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	req[n] = '\0';
	if (strncmp(req, pre, sizeof(pre) - 1) == 0) {
		k = strcspn(req + sizeof(pre) - 1, " ?");
		if (k > 0 && k < sizeof(tok)) {
			memcpy(tok, req + sizeof(pre) - 1, k);
			tok[k] = '\0';
			thumb = resp_get(tok);
		}
	}
	if (thumb != NULL)
		len = snprintf(out, sizeof(out),
			       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
			       "%zu\r\nConnection: close\r\n\r\n%s.%s",
			       strlen(tok) + 1 + strlen(thumb), tok, thumb);
	else
		len = snprintf(out, sizeof(out),
			       "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
			       "Connection: close\r\n\r\n");
	if (write(fd, out, (size_t)len) != len) {
		/* the validator went away: its problem */
	}
	close(fd);
}

static void *
resp_main(void *arg)
{
	int fd;

	(void)arg;
	for (;;) {
		struct timeval tv = {2, 0};

		fd = accept(resp.fd, NULL, NULL);
		if (fd == -1)
			break; /* shut down */
		/* a connection that sends nothing holds a thread 2 s at most */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		resp_serve(fd);
	}
	return NULL;
}

/* Listens on 127.0.0.1 (a free port), for at most n tokens; the port. */
static int
resp_start(size_t n)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int one = 1;
	size_t i;

	for (resp.n = 1024; resp.n < 2 * n; resp.n *= 2)
		;
	resp.slots = xcalloc(resp.n, sizeof(*resp.slots));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((resp.fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(resp.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(resp.fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(resp.fd, 512) != 0 ||
	    getsockname(resp.fd, (struct sockaddr *)&a, &len) != 0)
		fatalx("bench: responder: cannot listen");
	for (i = 0; i < sizeof(resp.th) / sizeof(resp.th[0]); i++)
		if (pthread_create(&resp.th[i], NULL, resp_main, NULL) != 0)
			fatalx("bench: pthread_create");
	return ntohs(a.sin_port);
}

/* Stops the responder (its port is free again for lego). */
static void
resp_stop(void)
{
	size_t i;

	shutdown(resp.fd, SHUT_RDWR);
	for (i = 0; i < sizeof(resp.th) / sizeof(resp.th[0]); i++)
		pthread_join(resp.th[i], NULL);
	close(resp.fd);
	resp.fd = -1;
	free(resp.slots);
	resp.slots = NULL;
}

/* ---- JWS (ES256) and the HTTPS client ---- */

static void
acct_keygen(struct acct *a)
{
	unsigned char x[32], y[32], dig[32];
	BIGNUM *bx = NULL, *by = NULL;
	char *x64, *y64, *th;

	if ((a->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    !EVP_PKEY_get_bn_param(a->key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) ||
	    !EVP_PKEY_get_bn_param(a->key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) ||
	    BN_bn2binpad(bx, x, 32) != 32 || BN_bn2binpad(by, y, 32) != 32)
		fatalx("bench: account key");
	x64 = b64u(x, 32);
	y64 = b64u(y, 32);
	/* RFC 7638: the members in lexicographic order, no blanks */
	a->jwk =
	    xasprintf("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x64, y64);
	SHA256((const unsigned char *)a->jwk, strlen(a->jwk), dig);
	th = b64u(dig, 32);
	snprintf(a->thumb, sizeof(a->thumb), "%s", th);
	free(th);
	free(x64);
	free(y64);
	BN_free(bx);
	BN_free(by);
}

/* The flattened JWS of payload (NULL: POST-as-GET) for url, with kid or (kid NULL) the jwk;
 * extra: more members of the request body (the EAB of newAccount) or NULL. */
static char *
jws_make(struct worker *w, const char *url, const char *payload)
{
	unsigned char der[128], sig[64];
	const unsigned char *dp = der;
	size_t derlen = sizeof(der);
	const BIGNUM *r, *s;
	ECDSA_SIG *es = NULL;
	EVP_MD_CTX *md;
	char *prot, *p64, *pay64, *in, *s64, *out;

	prot = w->a.kid != NULL
		   ? xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\"}",
			       w->a.kid, w->nonce, url)
		   : xasprintf("{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\"}",
			       w->a.jwk, w->nonce, url);
	p64 = b64u_str(prot);
	pay64 = b64u_str(payload != NULL ? payload : "");
	in = xasprintf("%s.%s", p64, pay64);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, w->a.key) != 1 ||
	    EVP_DigestSign(md, der, &derlen, (const unsigned char *)in, strlen(in)) != 1 ||
	    (es = d2i_ECDSA_SIG(NULL, &dp, (long)derlen)) == NULL)
		fatalx("bench: ES256 signature");
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
		fatalx("bench: ES256 signature");
	s64 = b64u(sig, 64);
	out = xasprintf("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", p64,
			pay64, s64);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	free(prot);
	free(p64);
	free(pay64);
	free(in);
	free(s64);
	return out;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct worker *w = arg;
	size_t len = sz * n, k;
	char *dst = NULL;
	size_t max = 0;

	if (len > 14 && strncasecmp(p, "Replay-Nonce:", 13) == 0) {
		dst = w->nonce;
		max = sizeof(w->nonce);
		p += 13, len -= 13;
	} else if (len > 10 && strncasecmp(p, "Location:", 9) == 0) {
		dst = w->location;
		max = sizeof(w->location);
		p += 9, len -= 9;
	}
	if (dst != NULL) {
		while (len > 0 && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' '))
			len--;
		k = len < max - 1 ? len : max - 1;
		memcpy(dst, p, k);
		dst[k] = '\0';
	}
	return sz * n;
}

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct worker *w = arg;
	size_t len = sz * n;

	if (w->bodylen + len >= BODY_MAX)
		return 0; /* too large: curl fails the transfer */
	memcpy(w->body + w->bodylen, p, len);
	w->bodylen += len;
	w->body[w->bodylen] = '\0';
	return len;
}

static void
worker_conn(struct worker *w)
{
	struct curl_slist *res = NULL;

	w->body = xmalloc(BODY_MAX);
	if ((w->h = curl_easy_init()) == NULL)
		fatalx("bench: curl_easy_init");
	w->hdrs = curl_slist_append(NULL, "Content-Type: application/jose+json");
	res = curl_slist_append(NULL, w->t->resolve);
	curl_easy_setopt(w->h, CURLOPT_RESOLVE, res); /* (kept: the handle uses it) */
	curl_easy_setopt(w->h, CURLOPT_CAINFO, w->t->cafile);
	curl_easy_setopt(w->h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(w->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(w->h, CURLOPT_HEADERDATA, w);
	curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->h, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(w->h, CURLOPT_NOSIGNAL, 1L);
}

/* One request: POST body (NULL: HEAD) to url; the status, the body in w->body. */
static long
http_do(struct worker *w, const char *url, const char *body)
{
	long status = 0;
	CURLcode rc;

	w->bodylen = 0;
	w->body[0] = '\0';
	w->location[0] = '\0';
	curl_easy_setopt(w->h, CURLOPT_URL, url);
	if (body != NULL) {
		curl_easy_setopt(w->h, CURLOPT_NOBODY, 0L);
		curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, w->hdrs);
	} else {
		curl_easy_setopt(w->h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(w->h, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, NULL);
	}
	if ((rc = curl_easy_perform(w->h)) != CURLE_OK) {
		fprintf(stderr, "bench: %s: %s\n", url, curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
	w->requests++;
	return status;
}

/*
 * A signed POST with the worker's nonce (fetched first if it has none); one retry on badNonce
 * (pebble can refuse one at random) or 503 (the validation slots: after 20 ms).  The status;
 * *j the parsed JSON body (NULL if none), owned by the caller.
 */
static long
acme_post(struct worker *w, const char *url, const char *payload, json_t **j)
{
	long st = -1;
	char *body;
	int tries;

	*j = NULL;
	for (tries = 0; tries < 20; tries++) {
		if (w->nonce[0] == '\0' && http_do(w, w->t->new_nonce, NULL) < 0)
			return -1;
		body = jws_make(w, url, payload);
		w->nonce[0] = '\0';
		st = http_do(w, url, body);
		free(body);
		if (st == 400 && strstr(w->body, "badNonce") != NULL)
			continue;
		if (st == 503) {
			usleep(20000);
			continue;
		}
		break;
	}
	if (st > 0 && w->bodylen > 0 && w->body[0] == '{')
		*j = json_loads(w->body, 0, NULL);
	return st;
}

static const char *
jstr(json_t *j, const char *k)
{
	return json_string_value(json_object_get(j, k));
}

static int
fail(struct worker *w, const char *what, long st)
{
	fprintf(stderr, "bench: %s: %s: HTTP %ld: %.400s\n", w->t->name, what, st, w->body);
	w->failed = 1;
	return -1;
}

/* newAccount (with an External Account Binding when the target needs one). */
static int
account_new(struct worker *w)
{
	char *payload = NULL, *cmd, line[256], kid[128] = "", hmac[128] = "";
	unsigned char key[64], mac[32];
	unsigned int maclen = sizeof(mac);
	int keylen, rc = -1;
	json_t *j = NULL;
	long st;
	FILE *f;

	if (w->t->eab) {
		char *p64, *pay64, *in, *m64;

		cmd = xasprintf("'%s' -d '%s' acme eab create --org " BENCH_ORG " 2>/dev/null",
				w->t->bin, w->t->datadir);
		if ((f = popen(cmd, "r")) == NULL)
			fatalx("bench: %s", cmd);
		if (fgets(line, sizeof(line), f) != NULL)
			snprintf(kid, sizeof(kid), "%.*s", (int)strcspn(line, "\r\n"), line);
		if (fgets(line, sizeof(line), f) != NULL)
			snprintf(hmac, sizeof(hmac), "%.*s", (int)strcspn(line, "\r\n"), line);
		if (pclose(f) != 0 || kid[0] == '\0' ||
		    (keylen = b64u_dec(hmac, key, sizeof(key))) <= 0)
			fatalx("bench: %s failed", cmd);
		free(cmd);
		p64 = xasprintf("{\"alg\":\"HS256\",\"kid\":\"%s\",\"url\":\"%s\"}", kid,
				w->t->new_account);
		in = b64u_str(p64);
		free(p64);
		p64 = in;
		pay64 = b64u_str(w->a.jwk);
		in = xasprintf("%s.%s", p64, pay64);
		if (HMAC(EVP_sha256(), key, keylen, (const unsigned char *)in, strlen(in), mac,
			 &maclen) == NULL)
			fatalx("bench: HMAC");
		m64 = b64u(mac, maclen);
		payload =
		    xasprintf("{\"termsOfServiceAgreed\":true,\"contact\":[\"mailto:"
			      "bench@" BENCH_DOMAIN "\"],\"externalAccountBinding\":{"
			      "\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}}",
			      p64, pay64, m64);
		free(p64);
		free(pay64);
		free(in);
		free(m64);
	} else
		payload = xstrdup(
		    "{\"termsOfServiceAgreed\":true,\"contact\":[\"mailto:bench@" BENCH_DOMAIN
		    "\"]}");
	st = acme_post(w, w->t->new_account, payload, &j);
	if (st != 201 || w->location[0] == '\0') {
		fail(w, "newAccount", st);
		goto out;
	}
	w->a.kid = xstrdup(w->location);
	rc = 0;
out:
	json_decref(j);
	free(payload);
	return rc;
}

/* A P-256 CSR for name (the worker's certificate key), base64url DER. */
static char *
csr_make(struct worker *w, const char *name)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext;
	unsigned char *der = NULL;
	char san[160], *out;
	int len;

	snprintf(san, sizeof(san), "DNS:%s", name);
	if (req == NULL || exts == NULL || !X509_REQ_set_pubkey(req, w->certkey) ||
	    (ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san)) == NULL ||
	    !sk_X509_EXTENSION_push(exts, ext) || !X509_REQ_add_extensions(req, exts) ||
	    !X509_REQ_sign(req, w->certkey, EVP_sha256()) || (len = i2d_X509_REQ(req, &der)) <= 0)
		fatalx("bench: CSR");
	out = b64u(der, (size_t)len);
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return out;
}

/* POST-as-GET url until its status is not one of the waiting ones; the last JSON. */
static json_t *
poll_until(struct worker *w, const char *url, const char *wait1, const char *wait2)
{
	useconds_t pause = 2000;
	json_t *j = NULL;
	const char *s;
	long st;
	int i;

	for (i = 0; i < 2000; i++) {
		json_decref(j);
		st = acme_post(w, url, NULL, &j);
		w->polls++;
		if (st != 200 || j == NULL || (s = jstr(j, "status")) == NULL) {
			fail(w, "poll", st);
			json_decref(j);
			return NULL;
		}
		if (strcmp(s, wait1) != 0 && (wait2 == NULL || strcmp(s, wait2) != 0))
			return j;
		usleep(pause);
		if (pause < 50000)
			pause *= 2;
	}
	fail(w, "poll: still waiting", 0);
	json_decref(j);
	return NULL;
}

/* One complete issuance of host<i>.bench.example; 0 when the chain came. */
static int
issue_one(struct worker *w, long i)
{
	char name[128], *payload = NULL, *csr = NULL, *order = NULL, *fin = NULL, *cert = NULL,
			*authz = NULL, *chall = NULL;
	json_t *j = NULL, *ch;
	const char *s;
	size_t k;
	long st;
	int rc = -1;

	snprintf(name, sizeof(name), "host%ld.%s", i, BENCH_DOMAIN);
	payload = xasprintf("{\"identifiers\":[{\"type\":\"dns\",\"value\":\"%s\"}]}", name);
	st = acme_post(w, w->t->new_order, payload, &j);
	if (st != 201 || j == NULL || w->location[0] == '\0' || jstr(j, "finalize") == NULL ||
	    (s = json_string_value(json_array_get(json_object_get(j, "authorizations"), 0))) ==
		NULL) {
		fail(w, "newOrder", st);
		goto out;
	}
	order = xstrdup(w->location);
	fin = xstrdup(jstr(j, "finalize"));
	authz = xstrdup(s);
	json_decref(j);
	st = acme_post(w, authz, NULL, &j);
	if (st != 200 || j == NULL) {
		fail(w, "authorization", st);
		goto out;
	}
	json_array_foreach(json_object_get(j, "challenges"), k, ch)
	{
		if ((s = jstr(ch, "type")) != NULL && strcmp(s, "http-01") == 0 &&
		    jstr(ch, "url") != NULL && jstr(ch, "token") != NULL) {
			chall = xstrdup(jstr(ch, "url"));
			resp_put(jstr(ch, "token"), w->a.thumb);
			break;
		}
	}
	if (chall == NULL) {
		fail(w, "authorization without http-01", st);
		goto out;
	}
	json_decref(j);
	st = acme_post(w, chall, "{}", &j);
	if (st != 200) {
		fail(w, "challenge", st);
		goto out;
	}
	json_decref(j);
	/* the authorization is polled, as lego and certbot do (polling the order while pebble's
	 * validator completes it deadlocked pebble 2.4 under this load) */
	if ((j = poll_until(w, authz, "pending", "processing")) == NULL)
		goto out;
	if ((s = jstr(j, "status")) == NULL || strcmp(s, "valid") != 0) {
		fail(w, "authorization not valid", 0);
		goto out;
	}
	json_decref(j);
	csr = csr_make(w, name);
	free(payload);
	payload = xasprintf("{\"csr\":\"%s\"}", csr);
	st = acme_post(w, fin, payload, &j);
	if (st != 200 || j == NULL || (s = jstr(j, "status")) == NULL) {
		fail(w, "finalize", st);
		goto out;
	}
	if (strcmp(s, "valid") != 0) {
		json_decref(j);
		if ((j = poll_until(w, order, "processing", "ready")) == NULL)
			goto out;
	}
	if ((s = jstr(j, "certificate")) == NULL) {
		fail(w, "order valid without certificate", 0);
		goto out;
	}
	cert = xstrdup(s);
	json_decref(j);
	st = acme_post(w, cert, NULL, &j);
	if (st != 200 || strncmp(w->body, "-----BEGIN CERTIFICATE-----", 27) != 0) {
		fail(w, "certificate", st);
		goto out;
	}
	rc = 0;
out:
	json_decref(j);
	free(payload);
	free(csr);
	free(order);
	free(fin);
	free(authz);
	free(chall);
	free(cert);
	return rc;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	long i;

	while (!w->failed && (i = atomic_fetch_add(&next_issue, 1)) < total_issues)
		if (issue_one(w, i) != 0)
			break;
	return NULL;
}

/* Reads the directory into t. */
static void
target_directory(struct target *t)
{
	struct worker w;
	json_t *j;

	memset(&w, 0, sizeof(w));
	w.t = t;
	worker_conn(&w);
	curl_easy_setopt(w.h, CURLOPT_URL, t->dir_url);
	if (curl_easy_perform(w.h) != CURLE_OK || (j = json_loads(w.body, 0, NULL)) == NULL ||
	    jstr(j, "newNonce") == NULL || jstr(j, "newAccount") == NULL ||
	    jstr(j, "newOrder") == NULL)
		fatalx("bench: %s: no directory at %s: %.200s", t->name, t->dir_url, w.body);
	t->new_nonce = xstrdup(jstr(j, "newNonce"));
	t->new_account = xstrdup(jstr(j, "newAccount"));
	t->new_order = xstrdup(jstr(j, "newOrder"));
	json_decref(j);
	curl_easy_cleanup(w.h);
	free(w.body);
}

struct result {
	double wall, cpu, rate;
	long requests, polls;
	int ok;
};

/* The load: nworkers accounts, then n issuances between them; server is the process whose
 * tree's CPU is counted. */
static struct result
load_run(struct target *t, pid_t server, long n, int nworkers)
{
	struct worker *ws = xcalloc((size_t)nworkers, sizeof(*ws));
	struct result r;
	double t0, c0;
	int i;

	memset(&r, 0, sizeof(r));
	target_directory(t);
	for (i = 0; i < nworkers; i++) {
		ws[i].t = t;
		worker_conn(&ws[i]);
		acct_keygen(&ws[i].a);
		if ((ws[i].certkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
			fatalx("bench: key");
		if (account_new(&ws[i]) != 0)
			fatalx("bench: %s: newAccount failed", t->name);
	}
	atomic_store(&next_issue, 0);
	total_issues = n;
	c0 = tree_cpu_s(server);
	t0 = now_s();
	for (i = 0; i < nworkers; i++)
		if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
			fatalx("bench: pthread_create");
	for (i = 0; i < nworkers; i++)
		pthread_join(ws[i].th, NULL);
	r.wall = now_s() - t0;
	r.cpu = tree_cpu_s(server) - c0;
	r.ok = 1;
	for (i = 0; i < nworkers; i++) {
		r.requests += ws[i].requests;
		r.polls += ws[i].polls;
		if (ws[i].failed)
			r.ok = 0;
		curl_easy_cleanup(ws[i].h);
		curl_slist_free_all(ws[i].hdrs);
		free(ws[i].body);
		EVP_PKEY_free(ws[i].a.key);
		EVP_PKEY_free(ws[i].certkey);
		free(ws[i].a.jwk);
		free(ws[i].a.kid);
	}
	free(ws);
	r.rate = (double)n / r.wall;
	return r;
}

static void
result_print(const char *who, const struct result *r, long n)
{
	printf("  %-8s %6ld issuances in %6.2f s: %8.1f issuances/s, server CPU %6.3f ms per "
	       "issuance, %.1f requests (%.1f polls) per issuance%s\n",
	       who, n, r->wall, r->rate, r->cpu * 1000.0 / (double)n,
	       (double)r->requests / (double)n, (double)r->polls / (double)n,
	       r->ok ? "" : "  FAILED");
}

/* lego: count certificates one after another (one `lego run` each, one account); wall s. */
static double
lego_run(const char *dir, const char *tag, const char *dir_url, const char *cafile, const char *eab,
	 int port, int count)
{
	double t0 = now_s();
	char *cmd;
	int i;

	for (i = 0; i < count; i++) {
		cmd = xasprintf("LEGO_CA_CERTIFICATES='%s' lego --server '%s' --accept-tos --email "
				"bench@" BENCH_DOMAIN " %s --key-type ec256 --http --http.port "
				"127.0.0.1:%d --domains lego%d.%s." BENCH_DOMAIN
				" --path '%s/lego-%s' run >>'%s/lego-%s.log' 2>&1",
				cafile, dir_url, eab, port, i, tag, dir, tag, dir, tag);
		if (run(cmd) != 0) {
			fprintf(stderr, "bench: lego failed against %s (%s/lego-%s.log)\n", tag,
				dir, tag);
			free(cmd);
			return -1;
		}
		free(cmd);
	}
	return now_s() - t0;
}

/* ---- the two servers ---- */

static pid_t
shomei_start(const char *bin, const char *dir, const char *store, int rport, struct target *t,
	     int *httpsport)
{
	int hp = free_port(), sp = free_port(), cp = free_port();
	char *cmd, *conf, *log, *a1, *a2, *a3;
	pid_t pid;
	FILE *f;
	double end;

	while (sp == hp)
		sp = free_port();
	cmd = store != NULL
		  ? xasprintf("'%s' -d %s/shomei init --key-rounds 1000 --store '%s' >/dev/null",
			      bin, dir, store)
		  : xasprintf("'%s' -d %s/shomei init --key-rounds 1000 >/dev/null", bin, dir);
	if ((store != NULL && strchr(store, '\'') != NULL) || run(cmd) != 0)
		fatalx("bench: shomei init failed");
	free(cmd);
	cmd = xasprintf("'%s' -d %s/shomei org add " BENCH_ORG
			" --name Bench --domain " BENCH_DOMAIN " >/dev/null",
			bin, dir);
	if (run(cmd) != 0)
		fatalx("bench: shomei org add failed");
	free(cmd);
	conf = xasprintf("%s/shomei/shomei.conf", dir);
	if ((f = fopen(conf, "a")) == NULL)
		fatalx("bench: %s", conf);
	fprintf(f,
		"\ntest.instance = yes\nacme.enabled = yes\nacme.base_url = https://localhost:%d\n"
		"acme.http01_port = %d\nacme.allow_private_addresses = yes\n"
		"test.acme_resolve = 127.0.0.1\ncrl.schedule = no\n"
		/* the load comes from one address and one registered domain: the limits that
		 * would refuse it are off (the failed validations per name stay counted) */
		"acme.requests_per_second = 0\nacme.accounts_per_address = 0\n"
		"acme.orders_per_account = 0\nacme.certs_per_domain = 0\n",
		sp, rport);
	fclose(f);
	free(conf);
	a1 = xasprintf("127.0.0.1:%d", hp);
	a2 = xasprintf("127.0.0.1:%d", sp);
	a3 = xasprintf("127.0.0.1:%d", cp);
	t->datadir = xasprintf("%s/shomei", dir);
	log = xasprintf("%s/serve.log", dir);
	{
		char *argv[] = {(char *)bin, "-d", (char *)t->datadir, "serve", "--http", a1,
				"--https",   a2,   "--console",	       a3,	NULL};

		pid = spawn(argv, log);
	}
	end = now_s() + 30;
	for (;;) {
		char *probe = xasprintf(
		    "curl -sf --noproxy '*' -o /dev/null http://127.0.0.1:%d/healthz", hp);
		int ok = run(probe) == 0;

		free(probe);
		if (ok)
			break;
		if (now_s() > end || waitpid(pid, NULL, WNOHANG) == pid)
			fatalx("bench: serve did not start (%s)", log);
		usleep(100000);
	}
	t->name = "shomei";
	t->dir_url = xasprintf("https://localhost:%d/acme/directory", sp);
	t->cafile = xasprintf("%s/shomei/certs/root.pem", dir);
	t->resolve = xasprintf("localhost:%d:127.0.0.1", sp);
	t->eab = 1;
	t->bin = bin;
	*httpsport = sp;
	free(a1);
	free(a2);
	free(a3);
	free(log);
	return pid;
}

/* pebble with its own TLS certificate (made here), its DNS by pebble-challtestsrv. */
static pid_t
pebble_start(const char *dir, int rport, struct target *t, pid_t *dnspid)
{
	int lp = free_port(), mp = free_port(), tp = free_port(), dp = free_port(),
	    cm = free_port();
	char *cmd, *conf, *log, *dns, *mgmt;
	pid_t pid;
	FILE *f;
	double end;

	cmd = xasprintf(
	    "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout pebble-ca.key -out pebble-ca.pem -days 2 -subj /CN=bench-pebble-tls-ca "
	    "2>/dev/null && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout pebble.key -out pebble.csr -subj /CN=localhost 2>/dev/null && "
	    "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > pebble.ext && openssl x509 "
	    "-req -in pebble.csr -CA pebble-ca.pem -CAkey pebble-ca.key -CAcreateserial -days 2 "
	    "-extfile pebble.ext -out pebble.pem 2>/dev/null",
	    dir);
	if (run(cmd) != 0)
		fatalx("bench: cannot make pebble's certificate");
	free(cmd);
	conf = xasprintf("%s/pebble.json", dir);
	if ((f = fopen(conf, "w")) == NULL)
		fatalx("bench: %s", conf);
	fprintf(
	    f,
	    "{\"pebble\":{\"listenAddress\":\"127.0.0.1:%d\",\"managementListenAddress\":"
	    "\"127.0.0.1:%d\",\"certificate\":\"%s/pebble.pem\",\"privateKey\":\"%s/pebble.key\","
	    "\"httpPort\":%d,\"tlsPort\":%d,\"ocspResponderURL\":\"\","
	    "\"externalAccountBindingRequired\":false}}\n",
	    lp, mp, dir, dir, rport, tp);
	fclose(f);
	dns = xasprintf("127.0.0.1:%d", dp);
	mgmt = xasprintf("127.0.0.1:%d", cm);
	log = xasprintf("%s/pebble.log", dir);
	{
		char *argv[] = {"pebble-challtestsrv",
				"-defaultIPv4",
				"127.0.0.1",
				"-defaultIPv6",
				"",
				"-dns01",
				dns,
				"-http01",
				"",
				"-https01",
				"",
				"-tlsalpn01",
				"",
				"-management",
				mgmt,
				NULL};

		*dnspid = spawn(argv, log);
	}
	setenv("PEBBLE_VA_NOSLEEP", "1", 1);
	setenv("PEBBLE_WFE_NONCEREJECT", "0", 1);
	/* no reuse of valid authorizations (every name is new anyway; its search under load
	 * stalled pebble 2.4) */
	setenv("PEBBLE_AUTHZREUSE", "0", 1);
	{
		char *argv[] = {"pebble", "-config", conf, "-dnsserver", dns, NULL};

		pid = spawn(argv, log);
	}
	t->name = "pebble";
	t->dir_url = xasprintf("https://localhost:%d/dir", lp);
	t->cafile = xasprintf("%s/pebble-ca.pem", dir);
	t->resolve = xasprintf("localhost:%d:127.0.0.1", lp);
	t->eab = 0;
	end = now_s() + 30;
	for (;;) {
		char *probe = xasprintf("curl -sf --noproxy '*' --cacert %s -o /dev/null %s",
					t->cafile, t->dir_url);
		int ok = run(probe) == 0;

		free(probe);
		if (ok)
			break;
		if (now_s() > end || waitpid(pid, NULL, WNOHANG) == pid)
			fatalx("bench: pebble did not start (%s)", log);
		usleep(100000);
	}
	free(conf);
	free(dns);
	free(mgmt);
	free(log);
	return pid;
}

static char *scratch;
static int keep;

static void
cleanup(void)
{
	char *cmd;

	if (scratch == NULL || keep)
		return;
	cmd = xasprintf("rm -rf '%s'", scratch);
	if (run(cmd) != 0)
		fprintf(stderr, "bench: cannot remove %s\n", scratch);
	free(cmd);
}

int
main(int argc, char **argv)
{
	const char *bin = "build/shomei", *store = NULL;
	long n = 2000, nlego = 50, np = 500;
	int nworkers = 16, only = 0, c, rport, sport;
	struct target ts, tp;
	struct result rs, rp;
	pid_t spid, ppid = -1, dpid = -1;
	double ls = 0, lp = 0;
	static char tmpl[] = "/tmp/shomei-bench-acme.XXXXXX"; /* (atexit reads it) */
	char *eab;
	static const char *proxies[] = {"http_proxy",  "https_proxy", "HTTP_PROXY",
					"HTTPS_PROXY", "all_proxy",   "ALL_PROXY"};
	size_t i;

	while ((c = getopt(argc, argv, "n:P:w:L:S:b:kx")) != -1) {
		switch (c) {
		case 'n':
			n = strtol(optarg, NULL, 10);
			break;
		case 'P':
			np = strtol(optarg, NULL, 10);
			break;
		case 'w':
			nworkers = (int)strtol(optarg, NULL, 10);
			break;
		case 'L':
			nlego = strtol(optarg, NULL, 10);
			break;
		case 'S':
			store = strcmp(optarg, "sqlite") == 0 ? NULL : optarg;
			break;
		case 'b':
			bin = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 'x':
			only = 1;
			break;
		default:
			fprintf(stderr, "usage: acme [-n ISSUANCES] [-P PEBBLE_ISSUANCES] [-w "
					"WORKERS] [-L LEGO_COUNT] "
					"[-S STORE] [-b SHOMEI] [-k] [-x]\n");
			return 2;
		}
	}
	if (np > n)
		np = n;
	if (n < 1 || np < 1 || nworkers < 1 || nworkers > 32 || nlego < 0)
		fatalx("bench: -n >= 1, 1 <= -w <= 32 (the server's validation slots), -L >= 0");
	for (i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((scratch = mkdtemp(tmpl)) == NULL)
		fatalx("bench: mkdtemp");
	atexit(cleanup);
	printf("bench/acme: %ld complete issuances, %d workers (one account each), store %s; "
	       "the machine's %ld CPUs may be shared: run it a few times\n",
	       n, nworkers, store != NULL ? "PostgreSQL" : "SQLite", sysconf(_SC_NPROCESSORS_ONLN));

	rport = resp_start((size_t)n);
	memset(&ts, 0, sizeof(ts));
	spid = shomei_start(bin, scratch, store, rport, &ts, &sport);
	rs = load_run(&ts, spid, n, nworkers);
	result_print("shomei", &rs, n);
	if (!only) {
		memset(&tp, 0, sizeof(tp));
		ppid = pebble_start(scratch, rport, &tp, &dpid);
		rp = load_run(&tp, ppid, np, nworkers);
		result_print("pebble", &rp, np);
		if (rp.ok)
			printf(
			    "  ratio shomei/pebble: %.2f x the rate, %.2f x the CPU per issuance\n",
			    rs.rate / rp.rate,
			    (rs.cpu / (double)n) / (rp.cpu > 0 ? rp.cpu / (double)np : 1e-9));
		else
			printf("  pebble stopped answering (see above): no ratio from this run\n");
	}
	resp_stop();
	if (nlego > 0 && run("command -v lego >/dev/null") == 0) {
		char *kid = NULL, *hmac = NULL, *cmd, line[256];
		FILE *f;

		cmd = xasprintf("'%s' -d '%s' acme eab create --org " BENCH_ORG " 2>/dev/null", bin,
				ts.datadir);
		if ((f = popen(cmd, "r")) == NULL)
			fatalx("bench: %s", cmd);
		if (fgets(line, sizeof(line), f) != NULL)
			kid = xasprintf("%.*s", (int)strcspn(line, "\r\n"), line);
		if (fgets(line, sizeof(line), f) != NULL)
			hmac = xasprintf("%.*s", (int)strcspn(line, "\r\n"), line);
		if (pclose(f) != 0 || kid == NULL || hmac == NULL)
			fatalx("bench: %s failed", cmd);
		free(cmd);
		eab = xasprintf("--eab --kid=%s --hmac=%s", kid, hmac);
		if (!only && !rp.ok) {
			/* a stalled pebble answers nothing more: lego gets a fresh one */
			stop_group(ppid);
			stop_group(dpid);
			memset(&tp, 0, sizeof(tp));
			ppid = pebble_start(scratch, rport, &tp, &dpid);
		}
		ls = lego_run(scratch, "shomei", ts.dir_url, ts.cafile, eab, rport, (int)nlego);
		if (!only)
			lp = lego_run(scratch, "pebble", tp.dir_url, tp.cafile, "", rport,
				      (int)nlego);
		if (ls >= 0)
			printf("  lego, %ld certificates one after another: shomei %.1f s (%.2f s "
			       "each)",
			       nlego, ls, ls / (double)nlego);
		else
			printf(
			    "  lego, %ld certificates one after another: shomei FAILED (see above)",
			    nlego);
		if (!only && lp >= 0 && ls >= 0)
			printf(", pebble %.1f s (%.2f s each), ratio %.2f", lp, lp / (double)nlego,
			       ls / lp);
		else if (!only && lp < 0)
			printf(", pebble failed (see above): no ratio");
		printf("\n");
		free(eab);
		free(kid);
		free(hmac);
	}
	stop_group(spid);
	if (ppid > 0) {
		stop_group(ppid);
		stop_group(dpid);
	}
	curl_global_cleanup();
	/* pebble 2.4 stalls under load (docs/perf.md): the peer's failure is printed, not ours */
	return rs.ok && ls >= 0 ? 0 : 1;
}
