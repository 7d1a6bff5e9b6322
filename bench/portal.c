/*
 * bench/portal: the applicant portal's pages under many concurrent sessions, through the real
 * server — `shomei serve` (the built binary: supervisor, signer, web process) on a fresh CA in
 * a temporary directory made with the shomei CLI (init, an organization, one ticket per
 * session and round), with test.instance = yes and the predictable test CAPTCHA answer, on
 * loopback only.
 *
 * Every session has its own TLS keep-alive connection and its own cookie jar (sid) and CSRF
 * token, and its own ticket, and walks the whole self-application flow page by page:
 *
 *   GET  /                    the top page
 *   GET  /regist/step1        the form; its CAPTCHA image is inline (a data: URI in the
 *                             page, so there is no separate request): decoded and checked
 *   POST /regist/step1        the answers -> the confirm page (form_mac ...)
 *   POST /regist/confirm      Register -> the done page; the mail is queued
 *   (the mails in var/outbox/new are read and each session gets its one-time link)
 *   GET  /regist/verify       ?onetimetoken=... -> the confirmed page with its button (the
 *                             link's token and a CSRF token in the form)
 *   POST /regist/verify       csrf, onetimetoken -> 303 to /issue/form?t=<continuation>
 *   GET  /issue/form          ?t=... -> the issuance form of this continuation
 *   POST /issue/form          urlencoded (the form itself is multipart; both are accepted):
 *                             names, OU, the confirmed address, key_mode, the application
 *                             password twice -> the confirm page (nonce, MAC, the password's
 *                             reference: its hash is made meanwhile, see below)
 *   (the applicants read the confirm page: -z ms, default 5000, not counted as page time)
 *   POST /issue/confirm       action=submit, key_mode p256 -> the certificate page: serial,
 *                             certificate code, the PIN and the download link
 *   GET  /issue/download      ?d=... -> the PKCS#12: non-empty DER that parses as PKCS12;
 *                             every 20th is opened with the page's PIN (PKCS12_parse): a
 *                             P-256 key matching a certificate for the session's address
 *
 * After the measured rounds, one more round with key_mode rsa2048 (its issuance and download
 * are reported on their own rows, "rsa"; -n leaves it out).
 *
 * Exempt from the 5 ms target, reported on its own row and marked:
 *   POST /issue/confirm rsa   RSA-2048 key generation (~50-300 ms of CPU, random: prime
 *                             search), by the issue's own terms.
 *
 * The application password's argon2id (~25 ms of CPU and 19 MiB: its cost is the point, see
 * PORTAL_PW_* in src/portal/portal_int.h) is not made in a page: POST /issue/form queues it
 * and the server's hasher threads (nice 19, src/portal/pwhash.c) make it while the applicant
 * reads the confirm page; Submit takes it, or makes it itself if it is still queued, or waits
 * for it if it is being made -- that time is in Submit's server time.  The reading time (-z,
 * default 5 s: 200 hashes take ~2.5 s of the 2 cores) is slept between the two pages and not
 * counted; the run prints how many Submits still waited for their hash, and the longest
 * wait.  -z 0 shows Submit with the hash in it; -H 0 turns the hasher off (the form hashes
 * in its request, as before it existed).
 *
 * Concurrency: the 200 sessions are open at once (200 connections, 200 cookies, their flows
 * interleaved page by page), and WORKERS (-w, default 4) client threads send their requests,
 * so at most 4 are in flight: twice the 2 cores.  More in flight on 2 cores measures queueing
 * in front of the CPUs rather than the server's work per page (the client's p99 grows with the
 * queue, the server's own time stays); fewer leaves a core idle.  -w 200 gives the other
 * definition (every session with a request in flight).
 *
 * Each response is checked (status, and the body carries what the page must carry); one
 * wrong answer fails the run.  The time of a request is from the moment it is sent on its
 * established connection to the moment the whole response has arrived, taken by the client
 * on the same 2 cores as the server.  The server's own time of each request is read from its
 * request log (the "NNNus" of each line), and the CPU time its handler's thread spent in it
 * (its "cpu=NNNus").  WORKERS client threads drive the sessions: a page is requested for
 * every session (each thread walks its share of the sessions one request at a
 * time, so at most WORKERS requests are in flight), then the next page.  A warm-up round comes
 * first and is not counted.
 *
 * Peer: `openssl s_server -WWW` serving the same rendered pages as static files over TLS with
 * the same certificate, key and client.  s_server answers one request per connection
 * (HTTP/1.0, then it closes) and serves connections one at a time, so for it each request
 * gets a fresh connection whose (resumed) handshake happens before the clock starts.  It is
 * bound to 127.0.0.1 only (checked).
 *
 * Pages are a table (struct page below): adding a page is one function that builds its
 * request, and one that checks its response and takes what the next page needs.
 *
 * What the server does off the request path, and how to see the pages without it:
 *   - CAPTCHA images are drawn ahead (portal.captcha_pool) and P-256 keys made ahead with their
 *     PIN, encoded public key and PIN-shrouded PKCS#8 (portal.key_pool, -P): both by a thread
 *     at nice 19 that refills once a burst is over (200 ms without a take), so in this bench
 *     between the pages of a round.  -P 0 makes every key in its request: POST /issue/confirm
 *     then carries the key and PBKDF2 (~1 ms of CPU more).
 *   - Every write of these pages goes through the group commit (ca_write): one transaction
 *     and one fsync for all that are waiting, no write-lock waits among them; the fsync of a
 *     batch overlaps the writing of the next, and WAL checkpoints run in a thread of their own.
 *
 * usage: portal [-c SESSIONS] [-w WORKERS] [-r ROUNDS] [-T SERVER_THREADS] [-S STORE]
 *               [-B SHOMEI_BINARY] [-P KEYPOOL] [-H HASHERS] [-z THINK_MS] [-k] [-n] [-x]
 *   -c sessions (default 200), -w client threads (default 4), -r measured rounds (default 3,
 *   each with fresh sessions and tickets), -S a libpq connection string for PostgreSQL
 *   (default SQLite), -P portal.key_pool (default: the server's, 256), -H
 *   portal.password_hashers (default: the server's), -z the reading time before Submit in ms
 *   (default 5000), -k keep the data
 *   directory, -n no RSA round, -x shomei only (no s_server).  The target line judges the server's
 * p99 (its request log) of every page that is not exempt; the client's p99 is judged on the same
 * line for information. run: make bench BENCHES=portal  (or build/bench/portal after make
 * build/bench/portal)
 */
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

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common.h"
#include "util/util.h"

#define ANSWER "ABCDEF"
#define ORG "BENCH"
#define RBUF (512 * 1024) /* one response */
#define QBUF (8 * 1024)	  /* one request */
#define ERRS_SHOWN 5

/* ---- one session ---- */

struct sess {
	int idx;
	int fd;
	SSL *ssl;
	char sid[64]; /* the cookie value */
	char ticket[64];
	char email[96];
	char csrf[64];
	char captcha_id[80];
	char nonce[64], ftime[32], fmac[64];
	char token[64];
	/* issuance (after the mail) */
	char cont[64];	  /* the continuation token t of /issue/form */
	char pw_ref[160]; /* the password's reference the confirm page carries */
	char pin[32];	  /* the PKCS#12 PIN shown once */
	char dl[64];	  /* the download secret d */
	/* the response being read */
	char *buf;
	size_t have;
	int status;
	const char *body;
	size_t blen;
};

struct page;
typedef int page_req_fn(struct sess *, char *q, size_t qmax);	    /* request bytes, or -1 */
typedef int page_check_fn(struct sess *, char *err, size_t errlen); /* 0 ok, -1 wrong */

struct page {
	const char *name; /* as printed */
	const char *meth; /* method and path as in the server's request log */
	const char *path;
	page_req_fn *req;
	page_check_fn *check;
	const char *peer_file; /* the static copy served by s_server */
	const char *exempt;    /* why the 5 ms target does not apply, or NULL */
	/* results */
	double *lat; /* client seconds, measured rounds */
	size_t nlat;
	double *srv; /* server seconds from its log */
	double *cpu; /* the CPU seconds of its handler, from the same lines */
	size_t nsrv, srvcap;
	double *peer; /* s_server, client seconds */
	size_t npeer;
	char *sample; /* one body, for the peer */
	size_t samplelen;
};

static SSL_CTX *tls;
static struct sockaddr_in https_addr;
static atomic_ulong nerrors;
static pthread_mutex_t errlock = PTHREAD_MUTEX_INITIALIZER;

static void
report_error(const struct page *p, const struct sess *s, const char *what)
{
	unsigned long n = atomic_fetch_add(&nerrors, 1);

	if (n < ERRS_SHOWN) {
		pthread_mutex_lock(&errlock);
		fprintf(stderr, "bench: %s, session %d: %s (status %d)\n", p->name, s->idx, what,
			s->status);
		if (s->body != NULL && n == 0)
			fprintf(stderr, "---- body ----\n%.*s\n----\n",
				(int)(s->blen > 4000 ? 4000 : s->blen), s->body);
		pthread_mutex_unlock(&errlock);
	}
}

static int
run(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* What exit() (also by fatalx) must not leave behind: the two servers and the directory. */
static pid_t serve_pid = -1, peer_pid = -1;

/*
 * CPU time the hypervisor took from this VM ("steal" in /proc/stat), in ms, -1 when unknown:
 * printed for the measured rounds, since it is what moves single runs' p99 most here.
 */
static double
steal_ms(void)
{
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long v[8];
	double ms = -1;
	long hz = sysconf(_SC_CLK_TCK);

	if (f == NULL)
		return -1;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		   &v[3], /* banned-ok */
		   &v[4], &v[5], &v[6], &v[7]) == 8 &&
	    hz > 0)
		ms = (double)v[7] * 1000.0 / (double)hz;
	fclose(f);
	return ms;
}
static char *tmp_dir;
static int keep_dir;

static void
cleanup(void)
{
	if (peer_pid > 0) {
		kill(peer_pid, SIGTERM);
		waitpid(peer_pid, NULL, 0);
		peer_pid = -1;
	}
	if (serve_pid > 0) {
		kill(serve_pid, SIGTERM);
		waitpid(serve_pid, NULL, 0);
		serve_pid = -1;
	}
	if (tmp_dir != NULL && !keep_dir) {
		char *cmd = xasprintf("rm -rf %s", tmp_dir);

		run(cmd);
		free(cmd);
	} else if (tmp_dir != NULL) {
		printf("kept %s\n", tmp_dir);
	}
	tmp_dir = NULL;
}

/* memmem() is a GNU extension; this is the plain loop. */
static const char *
find(const char *p, size_t n, const char *needle)
{
	size_t m = strlen(needle);

	for (size_t i = 0; i + m <= n; i++)
		if (p[i] == needle[0] && memcmp(p + i, needle, m) == 0)
			return p + i;
	return NULL;
}

/* The value attribute that follows name="NAME" value=" in the body, into out. */
static int
html_value(const struct sess *s, const char *name, char *out, size_t outlen)
{
	char pat[96];
	const char *p, *q, *end = s->body + s->blen;

	snprintf(pat, sizeof(pat), "name=\"%s\" value=\"", name);
	if ((p = find(s->body, s->blen, pat)) == NULL)
		return -1;
	p += strlen(pat);
	for (q = p; q < end && *q != '"'; q++)
		;
	if (q == end || (size_t)(q - p) >= outlen || q == p)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 0;
}

/* application/x-www-form-urlencoded value. */
static void
urlenc(char *out, size_t outlen, const char *v)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *v != '\0' && o + 4 < outlen; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hx[c >> 4];
			out[o++] = hx[c & 15];
		}
	}
	out[o] = '\0';
}

/* ---- TLS connections ---- */

static int
tcp_open(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A verified TLS connection to a (the server's name is localhost); sess may be resumed. */
static SSL *
tls_open(const struct sockaddr_in *a, int *fdp, SSL_SESSION *resume)
{
	SSL *ssl;
	int fd;

	if ((fd = tcp_open(a)) == -1)
		return NULL;
	if ((ssl = SSL_new(tls)) == NULL) {
		close(fd);
		return NULL;
	}
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	SSL_set1_host(ssl, "localhost");
	if (resume != NULL)
		SSL_set_session(ssl, resume);
	if (SSL_connect(ssl) != 1 || SSL_get_verify_result(ssl) != X509_V_OK) {
		ERR_print_errors_fp(stderr);
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	*fdp = fd;
	return ssl;
}

static void
tls_close(SSL *ssl, int fd)
{
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd != -1)
		close(fd);
}

static int
tls_write_all(SSL *ssl, const char *p, size_t n)
{
	while (n > 0) {
		int w = SSL_write(ssl, p, (int)n);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Reads one HTTP/1.x response with Content-Length (or, when until_close, everything up to the
 * end of the connection) into s->buf; sets status, body, blen.
 */
static int
resp_read(struct sess *s, int until_close)
{
	const char *hend = NULL;
	size_t need = 0;

	s->have = 0;
	s->status = 0;
	s->body = NULL;
	s->blen = 0;
	for (;;) {
		int n;

		if (hend == NULL && (hend = find(s->buf, s->have, "\r\n\r\n")) != NULL) {
			const char *cl;
			long v;
			char num[24];
			size_t k = 0;

			if (s->have < 12 || memcmp(s->buf, "HTTP/1.", 7) != 0)
				return -1;
			s->status =
			    (s->buf[9] - '0') * 100 + (s->buf[10] - '0') * 10 + (s->buf[11] - '0');
			if (!until_close) {
				cl = find(s->buf, (size_t)(hend - s->buf), "\r\nContent-Length: ");
				if (cl == NULL)
					return -1;
				for (cl += 18; *cl >= '0' && *cl <= '9' && k + 1 < sizeof(num);
				     cl++)
					num[k++] = *cl;
				num[k] = '\0';
				if (util_parse_long(num, 0, RBUF, &v) == -1)
					return -1;
				need = (size_t)(hend - s->buf) + 4 + (size_t)v;
			}
		}
		if (hend != NULL && !until_close && s->have >= need)
			break;
		if (s->have == RBUF)
			return -1;
		n = SSL_read(s->ssl, s->buf + s->have, (int)(RBUF - s->have));
		if (n <= 0) {
			if (until_close && hend != NULL)
				break;
			return -1;
		}
		s->have += (size_t)n;
	}
	s->body = hend + 4;
	s->blen =
	    until_close ? s->have - (size_t)(s->body - s->buf) : need - (size_t)(s->body - s->buf);
	return 0;
}

/* Takes __Host-sid=VALUE from a Set-Cookie of the last response, if any. */
static void
cookie_take(struct sess *s)
{
	const char *p = find(s->buf, (size_t)(s->body - s->buf), "\r\nSet-Cookie: __Host-sid="), *q;

	if (p == NULL)
		return;
	p += strlen("\r\nSet-Cookie: __Host-sid=");
	for (q = p; *q != ';' && *q != '\r' && (size_t)(q - p) < sizeof(s->sid) - 1; q++)
		;
	memcpy(s->sid, p, (size_t)(q - p));
	s->sid[q - p] = '\0';
}

/* ---- the pages ---- */

static int
req_get(struct sess *s, char *q, size_t qmax, const char *path)
{
	int n =
	    snprintf(q, qmax,
		     "GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: shomei-bench\r\n"
		     "Accept-Language: ja\r\n%s%s%s\r\n",
		     path, s->sid[0] ? "Cookie: __Host-sid=" : "", s->sid, s->sid[0] ? "\r\n" : "");

	return n > 0 && (size_t)n < qmax ? n : -1;
}

static int
req_post(struct sess *s, char *q, size_t qmax, const char *path, const char *body)
{
	int n = snprintf(q, qmax,
			 "POST %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: shomei-bench\r\n"
			 "Accept-Language: ja\r\nCookie: __Host-sid=%s\r\n"
			 "Content-Type: application/x-www-form-urlencoded\r\n"
			 "Content-Length: %zu\r\n\r\n%s",
			 path, s->sid, strlen(body), body);

	return n > 0 && (size_t)n < qmax ? n : -1;
}

static int
index_req(struct sess *s, char *q, size_t qmax)
{
	return req_get(s, q, qmax, "/");
}

static int
index_check(struct sess *s, char *err, size_t errlen)
{
	if (s->status != 200 || find(s->body, s->blen, "<h1>証明書の申請</h1>") == NULL ||
	    find(s->body, s->blen, "href=\"/regist/step1\">同意する</a>") == NULL ||
	    find(s->body, s->blen, "利用者の義務") == NULL) {
		snprintf(err, errlen, "not the top page");
		return -1;
	}
	return 0;
}

static int
step1_req(struct sess *s, char *q, size_t qmax)
{
	return req_get(s, q, qmax, "/regist/step1");
}

static int
step1_check(struct sess *s, char *err, size_t errlen)
{
	static const char pre[] = "src=\"data:image/png;base64,";
	const char *p, *q, *end = s->body + s->blen;
	unsigned char png[16 * 1024];
	int n;

	if (s->status != 200 || html_value(s, "csrf", s->csrf, sizeof(s->csrf)) == -1 ||
	    html_value(s, "captcha_id", s->captcha_id, sizeof(s->captcha_id)) == -1) {
		snprintf(err, errlen, "no form with csrf and captcha_id");
		return -1;
	}
	/* the CAPTCHA: a PNG of the right size */
	if ((p = find(s->body, s->blen, pre)) == NULL) {
		snprintf(err, errlen, "no CAPTCHA image");
		return -1;
	}
	p += sizeof(pre) - 1;
	for (q = p; q < end && *q != '"'; q++)
		;
	if (q == end || (size_t)(q - p) > 4 * sizeof(png) / 3 ||
	    (n = EVP_DecodeBlock(png, (const unsigned char *)p, (int)(q - p))) < 24 ||
	    memcmp(png, "\x89PNG\r\n\x1a\n", 8) != 0 || memcmp(png + 12, "IHDR", 4) != 0 ||
	    png[16] != 0 || png[17] != 0 || png[18] != 0 || png[19] != 200 || png[23] != 70) {
		snprintf(err, errlen, "the CAPTCHA is not a 200x70 PNG");
		return -1;
	}
	return 0;
}

static int
post1_req(struct sess *s, char *q, size_t qmax)
{
	char body[2048], em[192];

	urlenc(em, sizeof(em), s->email);
	snprintf(body, sizeof(body),
		 "csrf=%s&applicant_type=self&org_code=" ORG "&ticket=%s&email=%s&email_confirm=%s"
		 "&captcha_id=%s&captcha=" ANSWER,
		 s->csrf, s->ticket, em, em, s->captcha_id);
	return req_post(s, q, qmax, "/regist/step1", body);
}

static int
post1_check(struct sess *s, char *err, size_t errlen)
{
	if (s->status != 200 || html_value(s, "form_nonce", s->nonce, sizeof(s->nonce)) == -1 ||
	    html_value(s, "form_time", s->ftime, sizeof(s->ftime)) == -1 ||
	    html_value(s, "form_mac", s->fmac, sizeof(s->fmac)) == -1 ||
	    html_value(s, "csrf", s->csrf, sizeof(s->csrf)) == -1 ||
	    find(s->body, s->blen, s->ticket) == NULL || find(s->body, s->blen, s->email) == NULL) {
		snprintf(err, errlen, "not the confirm page of this session's values");
		return -1;
	}
	return 0;
}

static int
confirm_req(struct sess *s, char *q, size_t qmax)
{
	char body[2048], em[192];

	urlenc(em, sizeof(em), s->email);
	snprintf(body, sizeof(body),
		 "csrf=%s&form_nonce=%s&form_time=%s&form_mac=%s&applicant_type=self&org_code=" ORG
		 "&ticket=%s&email=%s&consent=yes&action=register",
		 s->csrf, s->nonce, s->ftime, s->fmac, s->ticket, em);
	return req_post(s, q, qmax, "/regist/confirm", body);
}

static int
confirm_check(struct sess *s, char *err, size_t errlen)
{
	if (s->status != 200 || find(s->body, s->blen, "申請を登録しました") == NULL ||
	    find(s->body, s->blen, s->email) == NULL) {
		snprintf(err, errlen, "not the done page");
		return -1;
	}
	return 0;
}

static int
verify_req(struct sess *s, char *q, size_t qmax)
{
	char path[160];

	if (s->token[0] == '\0')
		return -1; /* no mail came for this session */
	snprintf(path, sizeof(path), "/regist/verify?onetimetoken=%s", s->token);
	return req_get(s, q, qmax, path);
}

static int
verify_check(struct sess *s, char *err, size_t errlen)
{
	char tok[64];

	/* a button only: the GET uses nothing up (mail scanners open links) */
	if (s->status != 200 ||
	    find(s->body, s->blen, "メールアドレスの確認が完了しました") == NULL ||
	    find(s->body, s->blen, "action=\"/regist/verify\"") == NULL ||
	    html_value(s, "csrf", s->csrf, sizeof(s->csrf)) == -1 ||
	    html_value(s, "onetimetoken", tok, sizeof(tok)) == -1 || strcmp(tok, s->token) != 0) {
		snprintf(err, errlen, "not the confirmed page with its button");
		return -1;
	}
	return 0;
}

static int
verify_post_req(struct sess *s, char *q, size_t qmax)
{
	char body[512];

	snprintf(body, sizeof(body), "csrf=%s&onetimetoken=%s", s->csrf, s->token);
	return req_post(s, q, qmax, "/regist/verify", body);
}

/* 303 to /issue/form?t=<the continuation>; its token is taken for the next pages. */
static int
verify_post_check(struct sess *s, char *err, size_t errlen)
{
	static const char loc[] = "\r\nLocation: /issue/form?t=";
	const char *p = find(s->buf, (size_t)(s->body - s->buf), loc);
	size_t n;

	if (s->status != 303 || p == NULL) {
		snprintf(err, errlen, "not a 303 to /issue/form");
		return -1;
	}
	p += sizeof(loc) - 1;
	n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
	if (n != 43 || p[n] != '\r') {
		snprintf(err, errlen, "the continuation is not 43 base64url characters");
		return -1;
	}
	memcpy(s->cont, p, n);
	s->cont[n] = '\0';
	return 0;
}

static int
form_req(struct sess *s, char *q, size_t qmax)
{
	char path[160];

	snprintf(path, sizeof(path), "/issue/form?t=%s", s->cont);
	return req_get(s, q, qmax, path);
}

static int
form_check(struct sess *s, char *err, size_t errlen)
{
	char t[64];

	if (s->status != 200 || find(s->body, s->blen, "action=\"/issue/form\"") == NULL ||
	    find(s->body, s->blen, "name=\"key_mode\" value=\"p256\"") == NULL ||
	    html_value(s, "csrf", s->csrf, sizeof(s->csrf)) == -1 ||
	    html_value(s, "t", t, sizeof(t)) == -1 || strcmp(t, s->cont) != 0) {
		snprintf(err, errlen, "not the issuance form of this continuation");
		return -1;
	}
	return 0;
}

/* The issuance values of a session; key_mode is the round's (p256, or rsa2048). */
static const char *key_mode = "p256";
#define NAME_KANJI "試験　太郎"
#define NAME_ROMAJI "Taro Bench"
#define OU "Benchmark"

static int
form_post_req(struct sess *s, char *q, size_t qmax)
{
	char body[2048], em[192], kj[96], rj[64], pw[64];

	urlenc(em, sizeof(em), s->email);
	urlenc(kj, sizeof(kj), NAME_KANJI);
	urlenc(rj, sizeof(rj), NAME_ROMAJI);
	snprintf(pw, sizeof(pw), "bench-pass-%d", s->idx);
	snprintf(body, sizeof(body),
		 "csrf=%s&t=%s&name_kanji=%s&name_romaji=%s&ou=" OU "&subject_email=%s"
		 "&hostnames=&key_mode=%s&csr=&app_password=%s&app_password_confirm=%s",
		 s->csrf, s->cont, kj, rj, em, key_mode, pw, pw);
	return req_post(s, q, qmax, "/issue/form", body);
}

/* The confirm page: its nonce, time and MAC, and the password's reference (pwhash). */
static int
form_post_check(struct sess *s, char *err, size_t errlen)
{
	char km[16];

	if (s->status != 200 || html_value(s, "form_nonce", s->nonce, sizeof(s->nonce)) == -1 ||
	    html_value(s, "form_time", s->ftime, sizeof(s->ftime)) == -1 ||
	    html_value(s, "form_mac", s->fmac, sizeof(s->fmac)) == -1 ||
	    html_value(s, "csrf", s->csrf, sizeof(s->csrf)) == -1 ||
	    html_value(s, "pw_ref", s->pw_ref, sizeof(s->pw_ref)) == -1 || s->pw_ref[0] == '\0' ||
	    html_value(s, "key_mode", km, sizeof(km)) == -1 || strcmp(km, key_mode) != 0 ||
	    find(s->body, s->blen, "action=\"/issue/confirm\"") == NULL ||
	    find(s->body, s->blen, s->email) == NULL ||
	    find(s->body, s->blen, NAME_KANJI) == NULL) {
		snprintf(err, errlen, "not the issuance confirm page of this session's values");
		return -1;
	}
	return 0;
}

static int
submit_req(struct sess *s, char *q, size_t qmax)
{
	char body[3072], em[192], kj[96], rj[64], ph[320];

	urlenc(em, sizeof(em), s->email);
	urlenc(kj, sizeof(kj), NAME_KANJI);
	urlenc(rj, sizeof(rj), NAME_ROMAJI);
	urlenc(ph, sizeof(ph), s->pw_ref);
	snprintf(body, sizeof(body),
		 "csrf=%s&t=%s&form_nonce=%s&form_time=%s&form_mac=%s&name_kanji=%s"
		 "&name_romaji=%s&ou=" OU "&subject_email=%s&hostnames=&key_mode=%s&csr="
		 "&pw_ref=%s&action=submit",
		 s->csrf, s->cont, s->nonce, s->ftime, s->fmac, kj, rj, em, key_mode, ph);
	return req_post(s, q, qmax, "/issue/confirm", body);
}

/* The value between pre and the next '<' or '"' into out. */
static int
body_take(const struct sess *s, const char *pre, char *out, size_t outlen)
{
	const char *p = find(s->body, s->blen, pre), *q, *end = s->body + s->blen;

	if (p == NULL)
		return -1;
	p += strlen(pre);
	for (q = p; q < end && *q != '<' && *q != '"'; q++)
		;
	if (q == end || q == p || (size_t)(q - p) >= outlen)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 0;
}

/* The certificate page: serial, certificate code, the PIN and the download link. */
static int
submit_check(struct sess *s, char *err, size_t errlen)
{
	char code[96];

	if (s->status != 200 || find(s->body, s->blen, "id=\"serial\">") == NULL ||
	    body_take(s, "<strong id=\"cert_code\">", code, sizeof(code)) == -1 ||
	    body_take(s, "<strong id=\"pin\"><code>", s->pin, sizeof(s->pin)) == -1 ||
	    strlen(s->pin) != 12 ||
	    body_take(s, "href=\"/issue/download?d=", s->dl, sizeof(s->dl)) == -1 ||
	    find(s->body, s->blen, "-----BEGIN CERTIFICATE-----") == NULL) {
		snprintf(err, errlen, "not the certificate page with PIN and download link");
		return -1;
	}
	return 0;
}

static int
download_req(struct sess *s, char *q, size_t qmax)
{
	char path[160];

	snprintf(path, sizeof(path), "/issue/download?d=%s", s->dl);
	return req_get(s, q, qmax, path);
}

/*
 * The PKCS#12: non-empty DER of a PKCS12 structure; every 20th one opened with the shown PIN
 * (PKCS12_parse): a key of the round's kind that matches a certificate for this session's
 * address.
 */
static int
download_check(struct sess *s, char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)s->body;
	PKCS12 *p12;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;
	int ok = 0;

	if (s->status != 200 || s->blen < 64 || p[0] != 0x30 ||
	    find(s->buf, (size_t)(s->body - s->buf),
		 "\r\nContent-Type: application/x-pkcs12\r\n") == NULL ||
	    (p12 = d2i_PKCS12(NULL, &p, (long)s->blen)) == NULL ||
	    p != (const unsigned char *)s->body + s->blen) {
		snprintf(err, errlen, "not a PKCS#12 (DER) download");
		return -1;
	}
	if (s->idx % 20 != 0) {
		PKCS12_free(p12);
		return 0;
	}
	if (PKCS12_parse(p12, s->pin, &key, &cert, &ca) == 1 && key != NULL && cert != NULL &&
	    X509_check_private_key(cert, key) == 1 && X509_check_email(cert, s->email, 0, 0) == 1 &&
	    ca != NULL && sk_X509_num(ca) >= 1) {
		if (strcmp(key_mode, "p256") == 0)
			ok = EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_bits(key) == 256;
		else
			ok = EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) == 2048;
	}
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	if (!ok) {
		snprintf(err, errlen,
			 "the PKCS#12 does not open with the PIN to a %s key and "
			 "this session's certificate",
			 key_mode);
		return -1;
	}
	return 0;
}

enum {
	PAGE_INDEX,
	PAGE_STEP1,
	PAGE_POST1,
	PAGE_CONFIRM,
	PAGE_VERIFY,
	PAGE_VERIFY_POST,
	PAGE_FORM,
	PAGE_FORM_POST,
	PAGE_SUBMIT,
	PAGE_DOWNLOAD,
	PAGE_FLOW, /* the pages of a round; the RSA round replaces the last two by: */
	PAGE_SUBMIT_RSA = PAGE_FLOW,
	PAGE_DOWNLOAD_RSA,
	PAGE__MAX
};

#define PAGE(n, m, p, rq, ck, f, x)                                                                \
	{                                                                                          \
		.name = (n), .meth = (m), .path = (p), .req = (rq), .check = (ck),                 \
		.peer_file = (f), .exempt = (x)                                                    \
	}
static struct page pages[PAGE__MAX] = {
    PAGE("GET /", "GET", "/", index_req, index_check, "index.html", NULL),
    PAGE("GET /regist/step1", "GET", "/regist/step1", step1_req, step1_check, "step1.html", NULL),
    PAGE("POST /regist/step1", "POST", "/regist/step1", post1_req, post1_check, "confirm.html",
	 NULL),
    PAGE("POST /regist/confirm", "POST", "/regist/confirm", confirm_req, confirm_check, "done.html",
	 NULL),
    PAGE("GET /regist/verify", "GET", "/regist/verify", verify_req, verify_check, "verified.html",
	 NULL),
    PAGE("POST /regist/verify", "POST", "/regist/verify", verify_post_req, verify_post_check,
	 "redirect.txt", NULL),
    PAGE("GET /issue/form", "GET", "/issue/form", form_req, form_check, "issue_form.html", NULL),
    PAGE("POST /issue/form", "POST", "/issue/form", form_post_req, form_post_check,
	 "issue_confirm.html", NULL),
    PAGE("POST /issue/confirm", "POST", "/issue/confirm", submit_req, submit_check,
	 "issue_cert.html", NULL),
    PAGE("GET /issue/download", "GET", "/issue/download", download_req, download_check, "cert.p12",
	 NULL),
    PAGE("POST /issue/confirm rsa", "POST", "/issue/confirm", submit_req, submit_check,
	 "issue_cert_rsa.html", "RSA keygen"),
    PAGE("GET /issue/download rsa", "GET", "/issue/download", download_req, download_check,
	 "cert_rsa.p12", NULL),
};
/* the mails are read between these two pages */
#define PAGE_MAIL_BEFORE PAGE_VERIFY

/* ---- driving ---- */

struct worker {
	pthread_t th;
	struct sess *ss;
	int nss, first, step;
	struct page *p;
	int measure;
	double *lat; /* this worker's samples */
	size_t nlat;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char *q = xmalloc(QBUF), err[160];

	for (int i = w->first; i < w->nss; i += w->step) {
		struct sess *s = &w->ss[i];
		double t0, t1;
		int n;

		if ((n = w->p->req(s, q, QBUF)) < 0) {
			s->status = 0;
			s->body = NULL;
			report_error(w->p, s, "could not build the request");
			continue;
		}
		t0 = now_s();
		if (tls_write_all(s->ssl, q, (size_t)n) == -1 || resp_read(s, 0) == -1) {
			report_error(w->p, s, "connection failed or not an HTTP response");
			continue;
		}
		t1 = now_s();
		cookie_take(s);
		if (w->p->check(s, err, sizeof(err)) == -1) {
			report_error(w->p, s, err);
			continue;
		}
		if (w->measure)
			w->lat[w->nlat++] = t1 - t0;
		if (i == 0 && w->measure) { /* a body to serve from s_server */
			free(w->p->sample);
			w->p->sample = xmalloc(s->blen);
			memcpy(w->p->sample, s->body, s->blen);
			w->p->samplelen = s->blen;
		}
	}
	free(q);
	return NULL;
}

/* One page for every session, by nworkers threads. */
static void
page_run(struct page *p, struct sess *ss, int nss, int nworkers, int measure)
{
	struct worker *w = xcalloc((size_t)nworkers, sizeof(*w));

	for (int i = 0; i < nworkers; i++) {
		w[i].ss = ss;
		w[i].nss = nss;
		w[i].first = i;
		w[i].step = nworkers;
		w[i].p = p;
		w[i].measure = measure;
		w[i].lat = xcalloc((size_t)nss / (size_t)nworkers + 1, sizeof(double));
		pthread_create(&w[i].th, NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < nworkers; i++) {
		pthread_join(w[i].th, NULL);
		memcpy(p->lat + p->nlat, w[i].lat, w[i].nlat * sizeof(double));
		p->nlat += w[i].nlat;
		free(w[i].lat);
	}
	free(w);
}

/*
 * Decodes a mail body (base64 or quoted-printable) into out (NUL-terminated).  The maildir
 * holds LF line ends; CRLF is accepted too.
 */
static int
mail_body(const char *mail, size_t len, char *out, size_t outlen)
{
	const char *h = find(mail, len, "\n\n"), *h2 = find(mail, len, "\r\n\r\n"), *p;
	int qp;
	size_t o = 0, hl = 2;

	if (h2 != NULL && (h == NULL || h2 < h)) {
		h = h2;
		hl = 4;
	}
	if (h == NULL)
		return -1;
	qp = find(mail, (size_t)(h - mail), "Content-Transfer-Encoding: quoted-printable") != NULL;
	if (qp) {
		for (p = h + hl; p < mail + len && o + 1 < outlen; p++) {
			if (*p == '=' && p + 1 < mail + len && p[1] == '\n') {
				p += 1;
			} else if (*p == '=' && p + 2 < mail + len && p[1] == '\r' &&
				   p[2] == '\n') {
				p += 2;
			} else if (*p == '=' && p + 2 < mail + len) {
				char hx[3] = {p[1], p[2], 0};

				out[o++] = (char)strtol(hx, NULL, 16);
				p += 2;
			} else {
				out[o++] = *p;
			}
		}
		out[o] = '\0';
		return 0;
	} else {
		char *b64 = xmalloc(len + 1);
		size_t k = 0;
		int n;

		for (p = h + hl; p < mail + len; p++)
			if (*p != '\r' && *p != '\n')
				b64[k++] = *p;
		if (k / 4 * 3 + 1 > outlen ||
		    (n = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)b64, (int)k)) < 0) {
			free(b64);
			return -1;
		}
		out[n] = '\0';
		free(b64);
		return 0;
	}
}

/*
 * Waits (up to 60 s) until every session's mail is in DIR/outbox/new, takes each session's
 * one-time token from its mail (matched by the To address) and removes the mails.
 */
static int
mails_take(const char *dir, struct sess *ss, int nss)
{
	char *nd = xasprintf("%s/outbox/new", dir);
	int got = 0, tries;

	for (tries = 0; tries < 600 && got < nss; tries++) {
		DIR *d = opendir(nd);
		struct dirent *de;

		if (d == NULL && errno != ENOENT) /* made at the first delivery */
			fatalx("bench: %s: %s", nd, strerror(errno));
		while (d != NULL && (de = readdir(d)) != NULL) {
			char *path, *body;
			const char *to, *tok;
			struct buf b;
			struct err e;
			int k;

			if (de->d_name[0] == '.')
				continue;
			path = xasprintf("%s/%s", nd, de->d_name);
			buf_init(&b, 1 << 20);
			body = xmalloc(1 << 20);
			if (util_read_file(path, 1 << 20, &b, &e) == -1 ||
			    (to = find((char *)b.data, b.len, "\nTo: ")) == NULL ||
			    mail_body((char *)b.data, b.len, body, 1 << 20) == -1)
				fatalx("bench: %s: not a mail", path);
			if ((tok = strstr(body, "/regist/verify?onetimetoken=")) == NULL) {
				/* the certificate code of an issuance: not needed here */
				unlink(path);
				free(path);
				free(body);
				buf_free(&b);
				continue;
			}
			tok += strlen("/regist/verify?onetimetoken=");
			for (k = 0; k < nss; k++) {
				size_t el = strlen(ss[k].email);
				const char *a = to + 5;

				if (*a == '<')
					a++;
				if (strncmp(a, ss[k].email, el) == 0 &&
				    (a[el] == '\r' || a[el] == '\n' || a[el] == '>'))
					break;
			}
			if (k == nss)
				fatalx("bench: %s: a mail for no session of this round", path);
			if (ss[k].token[0] != '\0')
				fatalx("bench: two mails for session %d", k);
			if (strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					"0123456789-_") != 43)
				fatalx("bench: %s: the token is not 43 base64url characters", path);
			memcpy(ss[k].token, tok, 43);
			ss[k].token[43] = '\0';
			got++;
			unlink(path);
			free(path);
			free(body);
			buf_free(&b);
		}
		if (d != NULL)
			closedir(d);
		if (got < nss)
			usleep(100000);
	}
	free(nd);
	return got == nss ? 0 : -1;
}

/* ---- the server and its log ---- */

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

/* GET /healthz on the plain listener answers 200. */
static int
healthy(int port)
{
	static const char q[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct sockaddr_in a;
	char buf[512];
	int fd, ok = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if ((fd = tcp_open(&a)) == -1)
		return 0;
	if (write(fd, q, sizeof(q) - 1) == (ssize_t)(sizeof(q) - 1) &&
	    read(fd, buf, sizeof(buf) - 1) > 12)
		ok = memcmp(buf, "HTTP/1.1 200", 12) == 0;
	close(fd);
	return ok;
}

/*
 * The server's own times from its request log, from byte offset from on: lines
 * "... ADDR METHOD PATH STATUS BYTES NNNus cpu=NNNus" of the HTTPS listener, up to offset to
 * (or the end when -1), for the pages lo..hi-1: the time from the headers to the answer, and
 * the CPU time of the handler's thread.
 */
static void
serverlog_read(const char *path, long from, long to, int lo, int hi, const char *addr)
{
	FILE *f = fopen(path, "r");
	char line[2048];

	if (f == NULL || fseek(f, from, SEEK_SET) == -1)
		fatalx("bench: %s: cannot read", path);
	while ((to == -1 || ftell(f) < to) && fgets(line, sizeof(line), f) != NULL) {
		char meth[16], upath[256], *p = strstr(line, addr), *us, *cpu;
		size_t k;
		long v, c;

		if (p == NULL || (cpu = strstr(line, "us cpu=")) == NULL ||
		    strstr(cpu, "us\n") == NULL)
			continue;
		p += strlen(addr) + 1;
		for (k = 0; *p != ' ' && *p != '\0' && k + 1 < sizeof(meth); p++)
			meth[k++] = *p;
		meth[k] = '\0';
		if (*p++ != ' ')
			continue;
		for (k = 0; *p != ' ' && *p != '\0' && k + 1 < sizeof(upath); p++)
			upath[k++] = *p;
		upath[k] = '\0';
		*cpu = '\0';
		cpu += strlen("us cpu=");
		*strstr(cpu, "us\n") = '\0';
		for (us = cpu - strlen("us cpu="); us > line && us[-1] >= '0' && us[-1] <= '9';)
			us--;
		if (util_parse_long(us, 0, LONG_MAX, &v) == -1 ||
		    util_parse_long(cpu, 0, LONG_MAX, &c) == -1)
			continue;
		for (int i = lo; i < hi; i++)
			if (strcmp(pages[i].meth, meth) == 0 && strcmp(pages[i].path, upath) == 0 &&
			    pages[i].nsrv < pages[i].srvcap) {
				pages[i].cpu[pages[i].nsrv] = (double)c / 1e6;
				pages[i].srv[pages[i].nsrv++] = (double)v / 1e6;
			}
	}
	fclose(f);
}

/* Submits that waited for their password's hash (the server logs those over 1 ms). */
static void
serverlog_waits(const char *path, long from, long to, long *n, long *max)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	const char *pre = "Submit waited ";

	*n = *max = 0;
	if (f == NULL || fseek(f, from, SEEK_SET) == -1)
		fatalx("bench: %s: cannot read", path);
	while ((to == -1 || ftell(f) < to) && fgets(line, sizeof(line), f) != NULL) {
		char *p = strstr(line, pre);
		long v;

		if (p == NULL)
			continue;
		p += strlen(pre);
		p[strspn(p, "0123456789")] = '\0';
		if (util_parse_long(p, 0, LONG_MAX, &v) == 0) {
			(*n)++;
			*max = v > *max ? v : *max;
		}
	}
	fclose(f);
}

static long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* ---- the peer: openssl s_server -WWW ---- */

/* One GET of page p's static copy on a fresh (resumed) connection; -1 on a wrong answer. */
static int
peer_get(const struct sockaddr_in *a, struct page *p, SSL_SESSION **resume, struct sess *s,
	 double *secs)
{
	char q[256];
	int fd = -1, n;
	double t0;

	if ((s->ssl = tls_open(a, &fd, *resume)) == NULL)
		return -1;
	n = snprintf(q, sizeof(q), "GET /%s HTTP/1.0\r\nHost: localhost\r\n\r\n", p->peer_file);
	t0 = now_s();
	if (tls_write_all(s->ssl, q, (size_t)n) == -1 || resp_read(s, 1) == -1) {
		tls_close(s->ssl, fd);
		return -1;
	}
	*secs = now_s() - t0;
	if (*resume == NULL || !SSL_session_reused(s->ssl)) {
		SSL_SESSION_free(*resume);
		*resume = SSL_get1_session(s->ssl);
	}
	tls_close(s->ssl, fd);
	s->ssl = NULL;
	return s->status == 200 && s->blen == p->samplelen &&
		       memcmp(s->body, p->sample, s->blen) == 0
		   ? 0
		   : -1;
}

struct peer_worker {
	pthread_t th;
	struct sockaddr_in a;
	int n;
	struct page *p;
	double *lat;
	int nlat, bad;
};

static void *
peer_main(void *arg)
{
	struct peer_worker *w = arg;
	struct sess s;
	SSL_SESSION *resume = NULL;

	memset(&s, 0, sizeof(s));
	s.buf = xmalloc(RBUF);
	for (int i = 0; i < w->n; i++) {
		double t;

		if (peer_get(&w->a, w->p, &resume, &s, &t) == -1)
			w->bad++;
		else
			w->lat[w->nlat++] = t;
	}
	SSL_SESSION_free(resume);
	free(s.buf);
	return NULL;
}

/* s_server must listen on loopback only: /proc/net/tcp has its port bound to 127.0.0.1. */
static int
port_loopback_only(int port)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[512];
	int lo = 0, other = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned a, p, st;

		/* "  0: 0100007F:1F90 00000000:0000 0A ..." (0A: listening) */
		char *c = strchr(line, ':');

		if (c == NULL)
			continue;
		a = (unsigned)strtoul(c + 2, &c, 16);
		if (*c != ':')
			continue;
		p = (unsigned)strtoul(c + 1, &c, 16);
		strtoul(c + 1, &c, 16);
		if (*c != ':')
			continue;
		strtoul(c + 1, &c, 16);
		st = (unsigned)strtoul(c + 1, &c, 16);
		if ((int)p == port && st == 0x0A) {
			if (a == 0x0100007FU)
				lo = 1;
			else
				other = 1;
		}
	}
	fclose(f);
	return lo && !other;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of v[0..n) (sorted here), in milliseconds. */
static double
quantile_ms(double *v, size_t n, double q)
{
	size_t k;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	k = (size_t)(q * (double)n + 0.999999);
	if (k == 0)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1] * 1e3;
}

/*
 * The peer: openssl s_server -WWW serving the pages the measured rounds saved, driven by
 * NWORKERS client threads, NSESS * ROUNDS requests a page.  Returns 1 if it gave a wrong
 * answer, else 0.
 */
static int
peer_run(const char *dir, long nsess, long nworkers, long rounds)
{
	struct peer_worker *pw;
	int pport = free_port();
	char *https_cert = xasprintf("%s/certs/https.pem", dir);
	char *https_key = xasprintf("%s/keys/https.key.pem", dir);
	char *chain = xasprintf("%s/certs/issuing.pem", dir);
	char accept[64];
	struct sockaddr_in pa;
	char *peerdir;
	FILE *f;
	pid_t peer;
	int i, failed = 0;

	peerdir = xasprintf("%s/peer", dir);
	if (mkdir(peerdir, 0700) == -1)
		fatalx("bench: mkdir %s", peerdir);
	for (i = 0; i < PAGE__MAX; i++) {
		char *p;

		if (pages[i].nlat == 0) /* the RSA round with -n */
			continue;
		p = xasprintf("%s/%s", peerdir, pages[i].peer_file);

		if ((f = fopen(p, "w")) == NULL ||
		    fwrite(pages[i].sample, 1, pages[i].samplelen, f) != pages[i].samplelen ||
		    fclose(f) != 0)
			fatalx("bench: cannot write %s", p);
		free(p);
	}
	snprintf(accept, sizeof(accept), "127.0.0.1:%d", pport);
	if ((peer = fork()) == -1)
		fatalx("bench: fork");
	peer_pid = peer;
	if (peer == 0) {
		int fd = open("/dev/null", O_RDWR);

		if (chdir(peerdir) == -1 || fd == -1 || dup2(fd, 0) == -1 || dup2(fd, 1) == -1 ||
		    dup2(fd, 2) == -1)
			_exit(126);
		execlp("openssl", "openssl", "s_server", "-quiet", "-WWW", "-accept", accept,
		       "-cert", https_cert, "-key", https_key, "-cert_chain", chain, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100 && !port_loopback_only(pport); i++) {
		if (waitpid(peer, NULL, WNOHANG) == peer)
			fatalx("bench: openssl s_server exited");
		usleep(50000);
	}
	if (i == 100)
		fatalx("bench: openssl s_server is not listening on 127.0.0.1:%d only", pport);
	memset(&pa, 0, sizeof(pa));
	pa.sin_family = AF_INET;
	pa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pa.sin_port = htons((uint16_t)pport);
	pw = xcalloc((size_t)nworkers, sizeof(*pw));
	for (i = 0; i < PAGE__MAX; i++) {
		long n = nsess * rounds;

		if (pages[i].nlat == 0)
			continue;
		pages[i].peer = xcalloc((size_t)n + 1, sizeof(double));
		for (int k = 0; k < nworkers; k++) {
			pw[k].a = pa;
			pw[k].p = &pages[i];
			pw[k].n = (int)(n / nworkers + (k < n % nworkers));
			pw[k].lat = xcalloc((size_t)pw[k].n + 1, sizeof(double));
			pw[k].nlat = pw[k].bad = 0;
			pthread_create(&pw[k].th, NULL, peer_main, &pw[k]);
		}
		for (int k = 0; k < nworkers; k++) {
			pthread_join(pw[k].th, NULL);
			memcpy(pages[i].peer + pages[i].npeer, pw[k].lat,
			       (size_t)pw[k].nlat * sizeof(double));
			pages[i].npeer += (size_t)pw[k].nlat;
			if (pw[k].bad > 0) {
				fprintf(stderr, "bench: s_server: %d wrong answers for %s\n",
					pw[k].bad, pages[i].name);
				failed = 1;
			}
			free(pw[k].lat);
		}
	}
	free(pw);
	kill(peer, SIGTERM);
	waitpid(peer, NULL, 0);
	peer_pid = -1;
	free(https_cert);
	free(https_key);
	free(chain);
	free(peerdir);
	return failed;
}

/* The figures of the rounds and of the peer, and whether the targets were met. */
static void
figures_print(int only_shomei, double wall, long nwaits, long maxwait, long think_ms, double steal0,
	      double steal1, double st0, double st1)
{
	size_t total = 0;
	int met = 1, cmet = 1;
	int i;

	printf("%-24s %6s %9s %9s %9s | %9s %9s %9s", "page (ms)", "n", "p50", "p99", "max",
	       "srv p50", "srv p99", "cpu p50");
	if (!only_shomei)
		printf(" | %9s %9s %7s", "peer p50", "peer p99", "p99 x");
	printf("\n");
	for (i = 0; i < PAGE__MAX; i++) {
		struct page *p = &pages[i];
		double p50 = quantile_ms(p->lat, p->nlat, 0.50);
		double p99 = quantile_ms(p->lat, p->nlat, 0.99);
		double mx = quantile_ms(p->lat, p->nlat, 1.0);
		double s99 = quantile_ms(p->srv, p->nsrv, 0.99);

		if (p->nlat == 0)
			continue;
		if (i < PAGE_FLOW)
			total += p->nlat;
		if (p->exempt == NULL) {
			met = met && s99 <= 5.0;
			cmet = cmet && p99 <= 5.0;
		}
		printf("%-24s %6zu %9.3f %9.3f %9.3f | %9.3f %9.3f %9.3f", p->name, p->nlat, p50,
		       p99, mx, quantile_ms(p->srv, p->nsrv, 0.5), s99,
		       quantile_ms(p->cpu, p->nsrv, 0.5));
		if (!only_shomei) {
			double q50 = quantile_ms(p->peer, p->npeer, 0.5);
			double q99 = quantile_ms(p->peer, p->npeer, 0.99);

			printf(" | %9.3f %9.3f %6.1fx", q50, q99, q99 > 0 ? p99 / q99 : 0);
		}
		printf("  (%zu bytes)%s%s%s\n", p->samplelen, p->exempt ? " [exempt: " : "",
		       p->exempt ? p->exempt : "", p->exempt ? "]" : "");
	}
	printf("all responses checked: %zu requests, 0 wrong; %.0f requests/s over the "
	       "measured rounds (mail waits excluded)\n",
	       total, wall > 0 ? (double)total / wall : 0);
	printf("password hashes: %ld of %zu Submits waited for theirs (longest %.1f ms); "
	       "%ld ms of reading time before Submit (-z), not counted as page time\n",
	       nwaits, pages[PAGE_SUBMIT].nsrv, (double)maxwait / 1000, think_ms);
	if (steal0 >= 0 && steal1 >= steal0 && st1 > st0)
		printf("steal: the hypervisor took %.0f ms of this VM's CPU time during the "
		       "measured rounds (%.1f%% of %.1f s x %ld CPUs); single runs' p99 move "
		       "with it\n",
		       steal1 - steal0,
		       100.0 * (steal1 - steal0) / 1000.0 /
			   ((st1 - st0) * (double)sysconf(_SC_NPROCESSORS_ONLN)),
		       st1 - st0, sysconf(_SC_NPROCESSORS_ONLN));
	printf("srv = the server's own time per request (its request log: from the headers to "
	       "the answer); cpu = the CPU time of the handler's thread in it (the rest is "
	       "waiting: signer, commit, CPU); peer = openssl "
	       "s_server -WWW with the same pages as files, one request per (resumed) "
	       "connection, handshake outside the clock; p99 x = shomei p99 / peer p99\n");
	printf("target server p99 <= 5 ms per page (exempt pages aside): %s; client p99 "
	       "<= 5 ms: %s\n",
	       met ? "met" : "NOT met", cmet ? "met" : "NOT met");
}

/*
 * The instance, with the shomei CLI: init (on STORESPEC if not NULL), the organization, NSESS *
 * (ROUNDS + 2) tickets, and the test settings appended to shomei.conf.  Returns the tickets
 * (owned by the caller).
 */
static char **
instance_make(const char *bin, const char *dir, const char *storespec, long nsess, long rounds,
	      long sthreads, long keypool, long hashers)
{
	char *cmd, *conf, **tickets;
	FILE *f;

	cmd = storespec != NULL
		  ? xasprintf("'%s' -d %s init --store '%s' >/dev/null", bin, dir, storespec)
		  : xasprintf("'%s' -d %s init >/dev/null", bin, dir);
	if (strchr(bin, '\'') != NULL || (storespec != NULL && strchr(storespec, '\'') != NULL) ||
	    run(cmd) != 0)
		fatalx("bench: shomei init failed");
	free(cmd);
	cmd = xasprintf("'%s' -d %s org add " ORG " --name 'ベンチマーク株式会社' --domain "
			"bench.example.jp >/dev/null",
			bin, dir);
	if (run(cmd) != 0)
		fatalx("bench: shomei org add failed");
	free(cmd);
	tickets = xcalloc((size_t)(nsess * (rounds + 2)), sizeof(*tickets));
	cmd = xasprintf("'%s' -d %s ticket create --org " ORG " --profile client --count %ld", bin,
			dir, nsess * (rounds + 2));
	if ((f = popen(cmd, "r")) == NULL)
		fatalx("bench: %s", cmd);
	{
		char line[128];
		long n = 0;

		while (fgets(line, sizeof(line), f) != NULL && n < nsess * (rounds + 2)) {
			line[strcspn(line, "\r\n ")] = '\0';
			if (line[0] != '\0')
				tickets[n++] = xstrdup(line);
		}
		if (pclose(f) != 0 || n != nsess * (rounds + 2))
			fatalx("bench: shomei ticket create gave %ld tickets", n);
	}
	free(cmd);
	conf = xasprintf("%s/shomei.conf", dir);
	if ((f = fopen(conf, "a")) == NULL)
		fatalx("bench: cannot append to %s", conf);
	fprintf(f, "\ntest.instance = yes\ntest.captcha_answer = " ANSWER "\n"
		   "mail.from = ca@bench.example.jp\nportal.step1_rate = 1000000\n"
		   "crl.schedule = no\n"
		   /* a session's connection idles while the others take their turn: in the RSA
		    * round 50 keygens per client thread, longer than the default 30 s */
		   "http.timeout = 600\n");
	if (sthreads > 0)
		fprintf(f, "http.threads = %ld\n", sthreads);
	if (keypool >= 0)
		fprintf(f, "portal.key_pool = %ld\n", keypool);
	if (hashers >= 0)
		fprintf(f, "portal.password_hashers = %ld\n", hashers);
	fclose(f);
	free(conf);
	return tickets;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/shomei-bench-portal-XXXXXX", self[PATH_MAX], listen_h[64], listen_s[64],
	     *bin = NULL, *cmd, *log;
	const char *storespec = NULL;
	long nsess = 200, nworkers = 4, rounds = 3, sthreads = 0, keypool = -1, hashers = -1,
	     think_ms = 5000, nwaits = 0, maxwait = 0;
	int opt, keep = 0, only_shomei = 0, hport, sport, failed = 0, i;
	ssize_t sl;
	pid_t pid;
	struct sess *ss;
	char **tickets;
	long logoff = 0, logrsa = -1;
	int rsa_round = 1;
	double t0, t1, wall = 0, steal0 = -1, steal1 = -1, st0 = 0, st1 = 0;

	while ((opt = getopt(argc, argv, "c:w:r:T:S:B:P:H:z:knx")) != -1) {
		switch (opt) {
		case 'c':
			if (util_parse_long(optarg, 1, 10000, &nsess) == -1)
				fatalx("bench: -c: 1..10000");
			break;
		case 'w':
			if (util_parse_long(optarg, 1, 10000, &nworkers) == -1)
				fatalx("bench: -w: 1..10000");
			break;
		case 'r':
			if (util_parse_long(optarg, 1, 100, &rounds) == -1)
				fatalx("bench: -r: 1..100");
			break;
		case 'T':
			if (util_parse_long(optarg, 1, 256, &sthreads) == -1)
				fatalx("bench: -T: 1..256");
			break;
		case 'S':
			storespec = optarg;
			break;
		case 'P':
			if (util_parse_long(optarg, 0, 4096, &keypool) == -1)
				fatalx("bench: -P: 0..4096");
			break;
		case 'H':
			if (util_parse_long(optarg, 0, 8, &hashers) == -1)
				fatalx("bench: -H: 0..8");
			break;
		case 'z':
			if (util_parse_long(optarg, 0, 600000, &think_ms) == -1)
				fatalx("bench: -z: 0..600000 (ms)");
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
		case 'n':
			rsa_round = 0;
			break;
		default:
			fprintf(stderr, "usage: portal [-c SESSIONS] [-w WORKERS] [-r ROUNDS]"
					" [-T SERVER_THREADS] [-S STORE] [-B BINARY] [-P KEYPOOL]"
					" [-H HASHERS] [-z THINK_MS] [-k] [-n] [-x]\n");
			return 2;
		}
	}
	if (nworkers > nsess)
		nworkers = nsess;
	log_init("bench", 0);
	signal(SIGPIPE, SIG_IGN);
	if (bin == NULL) { /* BUILD/bench/portal -> BUILD/shomei */
		if ((sl = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
			fatalx("bench: cannot find myself");
		self[sl] = '\0';
		bin = xasprintf("%s/../shomei", dirname(self));
	}
	if (access(bin, X_OK) != 0)
		fatalx("bench: %s is not executable (build it, or pass -B)", bin);
	if (mkdtemp(dir) == NULL)
		fatalx("bench: mkdtemp");
	tmp_dir = dir;
	keep_dir = keep;
	atexit(cleanup);

	tickets = instance_make(bin, dir, storespec, nsess, rounds, sthreads, keypool, hashers);

	/* ---- shomei serve ---- */
	if ((hport = free_port()) == -1 || (sport = free_port()) == -1 || hport == sport)
		fatalx("bench: no free ports");
	snprintf(listen_h, sizeof(listen_h), "127.0.0.1:%d", hport);
	snprintf(listen_s, sizeof(listen_s), "127.0.0.1:%d", sport);
	log = xasprintf("%s/serve.log", dir);
	if ((pid = fork()) == -1)
		fatalx("bench: fork");
	serve_pid = pid;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd == -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(126);
		close(fd);
		execl(bin, bin, "-d", dir, "serve", "--http", listen_h, "--https", listen_s,
		      "--console", "off", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 300 && !healthy(hport); i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			fatalx("bench: shomei serve exited (see %s)", log);
		usleep(100000);
	}
	if (i == 300)
		fatalx("bench: shomei serve did not become healthy");

	/* the client: TLS verified against the instance's root */
	tls = SSL_CTX_new(TLS_client_method());
	cmd = xasprintf("%s/certs/root.pem", dir);
	if (tls == NULL || SSL_CTX_load_verify_locations(tls, cmd, NULL) != 1)
		fatalx("bench: cannot load %s", cmd);
	free(cmd);
	SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(tls, SSL_SESS_CACHE_CLIENT);
	memset(&https_addr, 0, sizeof(https_addr));
	https_addr.sin_family = AF_INET;
	https_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	https_addr.sin_port = htons((uint16_t)sport);

	ss = xcalloc((size_t)nsess, sizeof(*ss));
	for (i = 0; i < nsess; i++) {
		ss[i].idx = i;
		ss[i].buf = xmalloc(RBUF);
		if ((ss[i].ssl = tls_open(&https_addr, &ss[i].fd, NULL)) == NULL)
			fatalx("bench: TLS connection %d failed", i);
	}
	for (i = 0; i < PAGE__MAX; i++) {
		pages[i].lat = xcalloc((size_t)(nsess * rounds), sizeof(double));
		pages[i].srvcap = (size_t)(nsess * rounds) + 16;
		pages[i].srv = xcalloc(pages[i].srvcap, sizeof(double));
		pages[i].cpu = xcalloc(pages[i].srvcap, sizeof(double));
	}

	printf("bench/portal: %ld sessions (each its own TLS keep-alive connection, cookie and "
	       "CSRF token) through the registration pages of shomei serve, %ld client threads "
	       "(at most %ld requests in flight), 1 warm-up + %ld measured rounds, store %s\n",
	       nsess, nworkers, nworkers, rounds, storespec != NULL ? "PostgreSQL" : "SQLite");
	fflush(stdout);
	/* round 0 warms up, 1..rounds are measured, rounds + 1 issues RSA keys (exempt) */
	for (long round = 0; round <= rounds + (rsa_round ? 1 : 0) && atomic_load(&nerrors) == 0;
	     round++) {
		int measure = round > 0, rsa = round == rounds + 1;

		if (round == 1) {
			steal0 = steal_ms();
			st0 = now_s();
		}
		if (rsa) {
			steal1 = steal_ms();
			st1 = now_s();
		}

		for (i = 0; i < nsess; i++) {
			struct sess *s = &ss[i];

			s->sid[0] = s->csrf[0] = s->token[0] = '\0'; /* a new session */
			snprintf(s->ticket, sizeof(s->ticket), "%s", tickets[round * nsess + i]);
			snprintf(s->email, sizeof(s->email), "r%lds%d@bench.example.jp", round, i);
		}
		if (round == 1)
			logoff = file_size(log);
		if (rsa) {
			logrsa = file_size(log);
			key_mode = "rsa2048";
		}
		t0 = now_s();
		for (int pg = 0; pg < PAGE_FLOW && atomic_load(&nerrors) == 0; pg++) {
			struct page *p = &pages[pg];

			if (rsa && (pg == PAGE_SUBMIT || pg == PAGE_DOWNLOAD))
				p = &pages[pg == PAGE_SUBMIT ? PAGE_SUBMIT_RSA : PAGE_DOWNLOAD_RSA];
			if (pg == PAGE_MAIL_BEFORE) {
				double m0 = now_s();

				if (mails_take(dir, ss, (int)nsess) == -1)
					fatalx("bench: not every session got its mail");
				t0 +=
				    now_s() - m0; /* waiting for the mail sender is not page time */
			}
			if (pg == PAGE_SUBMIT && think_ms > 0) {
				/* the applicants read the confirm page before they press Submit */
				usleep((useconds_t)think_ms * 1000);
				t0 += (double)think_ms / 1000;
			}
			page_run(p, ss, (int)nsess, (int)nworkers,
				 measure && (!rsa || pg >= PAGE_SUBMIT));
		}
		t1 = now_s();
		if (measure && !rsa)
			wall += t1 - t0;
	}
	if (steal1 < 0) {
		steal1 = steal_ms();
		st1 = now_s();
	}
	usleep(200000); /* the last log lines */
	if (atomic_load(&nerrors) == 0) {
		serverlog_waits(log, logoff, logrsa, &nwaits, &maxwait);
		serverlog_read(log, logoff, logrsa, 0, PAGE_FLOW, listen_s);
		if (logrsa != -1)
			serverlog_read(log, logrsa, -1, PAGE_FLOW, PAGE__MAX, listen_s);
	}
	for (i = 0; i < nsess; i++) {
		tls_close(ss[i].ssl, ss[i].fd);
		ss[i].ssl = NULL;
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	serve_pid = -1;
	if (atomic_load(&nerrors) > 0) {
		fprintf(stderr, "bench: %lu wrong answers: the figures would be worthless\n",
			(unsigned long)atomic_load(&nerrors));
		failed = 1;
		goto out;
	}

	if (!only_shomei && peer_run(dir, nsess, nworkers, rounds) != 0)
		failed = 1;
	figures_print(only_shomei, wall, nwaits, maxwait, think_ms, steal0, steal1, st0, st1);
out:
	cleanup();
	for (i = 0; i < nsess * (rounds + 2); i++)
		free(tickets[i]);
	free(tickets);
	for (i = 0; i < nsess; i++)
		free(ss[i].buf);
	free(ss);
	for (i = 0; i < PAGE__MAX; i++) {
		free(pages[i].lat);
		free(pages[i].srv);
		free(pages[i].cpu);
		free(pages[i].peer);
		free(pages[i].sample);
	}
	SSL_CTX_free(tls);
	free(log);
	free(bin);
	return failed ? 1 : 0;
}
