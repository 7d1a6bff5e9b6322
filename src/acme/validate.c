/*
 * validate: challenge validation off the request threads (RFC 8555 8.3 http-01, 8.4 dns-01,
 * RFC 8737 tls-alpn-01, with RFC 8659 CAA first when acme.dns_resolver is set).  A POST to a
 * challenge takes one of ACME_VALIDATIONS_MAX slots, at most ACME_VALIDATIONS_PER_ACCOUNT of
 * them for one account (none free: rateLimited), and the validation runs on a thread of the
 * validation pool (acme_validate_start), with that thread's store connection (ca_thread_store),
 * which records the outcome through ra_acme_chall_done.  The whole validation, CAA included,
 * ends by one deadline (ACME_HTTP01_TIMEOUT seconds).
 *
 * http-01 is libcurl's: http://<name>:<acme.http01_port>/.well-known/acme-challenge/<token>,
 * at most 10 redirects to http or https (certificates not checked, as 8.3 allows) on port 80,
 * 443 or acme.http01_port, ACME_HTTP01_BODY_MAX bytes, no proxy.  Every connection passes the
 * open-socket callback, which refuses the ports above and, unless acme.allow_private_addresses,
 * every address acme_addr_public refuses: the rule holds for each address of each redirect,
 * after resolution.  A test instance may give the address of the identifier's name on every
 * port (test.acme_resolve through libcurl's CURLOPT_CONNECT_TO; refused at start without
 * test.instance).
 *
 * dns-01, CAA and tls-alpn-01's addresses ask src/acme/dns.c's client (bounded, where
 * getaddrinfo is not); tls-alpn-01 connects (the same address rule) to
 * acme.tlsalpn01_port with OpenSSL, non-blocking under the deadline, and judges the certificate
 * with acme_tlsalpn_check (pure, fuzzed).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "acme/dns.h"
#include "acme_int.h"
#include "util/b64.h"

_Static_assert(ACME_DRAIN_S < RA_ACME_STALE,
	       "a validation still running is never taken for one a crash cut");
_Static_assert(ACME_VALIDATIONS_MAX == RA_ACME_VALIDATIONS_MAX,
	       "acme.validations_per_organization is bounded by the validations at once");

static pthread_mutex_t validate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t validate_cv = PTHREAD_COND_INITIALIZER;
static struct acme_slots validate_slots;
static struct acme_org_slots validate_orgs;
/* the validation pool (see acme_validate_start), under validate_mu */
#define ACME_WORKER_IDLE_S 60
struct vjob;
struct vqueue_item {
	struct vjob *j;
	struct vqueue_item *next;
};
static struct vqueue_item *vq_head, *vq_tail;
static int vq_len, vq_idle, vq_live, vq_stop;

enum acme_slot
acme_slots_take(struct acme_slots *s, int64_t acct)
{
	int at = -1;

	if (acct <= 0)
		fatalx("acme: a validation slot for no account");
	if (s->running >= ACME_VALIDATIONS_MAX)
		return ACME_SLOT_FULL;
	for (int i = 0; i < ACME_VALIDATIONS_MAX; i++) {
		if (s->per[i].acct == acct) {
			at = i;
			break;
		}
		if (at == -1 && s->per[i].acct == 0)
			at = i;
	}
	/* fewer than ACME_VALIDATIONS_MAX running: an entry is free or acct's */
	if (at == -1)
		fatalx("acme: the validation slots are inconsistent");
	if (s->per[at].acct == acct && s->per[at].n >= ACME_VALIDATIONS_PER_ACCOUNT)
		return ACME_SLOT_ACCOUNT;
	s->per[at].acct = acct;
	s->per[at].n++;
	s->running++;
	return ACME_SLOT_OK;
}

void
acme_slots_put(struct acme_slots *s, int64_t acct)
{
	for (int i = 0; i < ACME_VALIDATIONS_MAX; i++)
		if (acct > 0 && s->per[i].acct == acct && s->per[i].n > 0) {
			if (--s->per[i].n == 0)
				s->per[i].acct = 0;
			s->running--;
			return;
		}
	fatalx("acme: account %" PRId64 " gives back a validation slot it does not hold", acct);
}

enum acme_slot
acme_org_slots_take(struct acme_org_slots *s, int64_t org, int max)
{
	int at = -1;

	if (org <= 0 || max <= 0)
		return ACME_SLOT_OK; /* no organization, or no cap: nothing to count */
	for (int i = 0; i < ACME_VALIDATIONS_MAX; i++) {
		if (s->per[i].org == org) {
			at = i;
			break;
		}
		if (at == -1 && s->per[i].org == 0)
			at = i;
	}
	/* at most ACME_VALIDATIONS_MAX validations run, each of one organization at most */
	if (at == -1)
		fatalx("acme: the organizations' validation slots are inconsistent");
	if (s->per[at].org == org && s->per[at].n >= max)
		return ACME_SLOT_ORG;
	s->per[at].org = org;
	s->per[at].n++;
	return ACME_SLOT_OK;
}

void
acme_org_slots_put(struct acme_org_slots *s, int64_t org, int max)
{
	if (org <= 0 || max <= 0)
		return;
	for (int i = 0; i < ACME_VALIDATIONS_MAX; i++)
		if (s->per[i].org == org && s->per[i].n > 0) {
			if (--s->per[i].n == 0)
				s->per[i].org = 0;
			return;
		}
	fatalx("acme: organization %" PRId64 " gives back a validation slot it does not hold", org);
}

/* acme.validations_per_organization is read once at start, so a put sees the take's cap. */
enum acme_slot
acme_validate_reserve(int64_t acct, int64_t org)
{
	enum acme_slot r;

	pthread_mutex_lock(&validate_mu);
	if ((r = acme_slots_take(&validate_slots, acct)) == ACME_SLOT_OK &&
	    (r = acme_org_slots_take(&validate_orgs, org, (int)acme.limits.validations_per_org)) !=
		ACME_SLOT_OK)
		acme_slots_put(&validate_slots, acct);
	pthread_mutex_unlock(&validate_mu);
	return r;
}

void
acme_validate_release(int64_t acct, int64_t org)
{
	pthread_mutex_lock(&validate_mu);
	acme_slots_put(&validate_slots, acct);
	acme_org_slots_put(&validate_orgs, org, (int)acme.limits.validations_per_org);
	pthread_cond_broadcast(&validate_cv);
	pthread_mutex_unlock(&validate_mu);
}

void
acme_validate_drain(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ACME_DRAIN_S;
	pthread_mutex_lock(&validate_mu);
	while (validate_slots.running > 0 &&
	       pthread_cond_timedwait(&validate_cv, &validate_mu, &until) == 0)
		;
	if (validate_slots.running > 0)
		log_warn("acme: %d validations still running at shutdown", validate_slots.running);
	/* then every worker ends, its store connection closed before the CA is: a deadline of
	 * its own (a worker that ran late ends at most one validation's time later; one counted
	 * out after the caller closed the CA would use it) */
	vq_stop = 1;
	pthread_cond_broadcast(&validate_cv);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ACME_DRAIN_S;
	while (vq_live > 0 && pthread_cond_timedwait(&validate_cv, &validate_mu, &until) == 0)
		;
	if (vq_live > 0)
		log_warn("acme: %d validation workers still live at shutdown", vq_live);
	pthread_mutex_unlock(&validate_mu);
}

/* 1 when the IPv4 address a (network order bytes) is public. */
static int
addr4_public(const unsigned char *a)
{
	static const struct {
		unsigned char net[4];
		int bits;
	} no[] = {
	    {{0, 0, 0, 0}, 8},	   {{10, 0, 0, 0}, 8},	    {{100, 64, 0, 0}, 10},
	    {{127, 0, 0, 0}, 8},   {{169, 254, 0, 0}, 16},  {{172, 16, 0, 0}, 12},
	    {{192, 0, 0, 0}, 24},  {{192, 0, 2, 0}, 24},    {{192, 168, 0, 0}, 16},
	    {{198, 18, 0, 0}, 15}, {{198, 51, 100, 0}, 24}, {{203, 0, 113, 0}, 24},
	    {{224, 0, 0, 0}, 4},   {{240, 0, 0, 0}, 4},
	};
	uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		uint32_t n = (uint32_t)no[i].net[0] << 24 | (uint32_t)no[i].net[1] << 16 |
			     (uint32_t)no[i].net[2] << 8 | no[i].net[3];
		uint32_t m = 0xffffffffu << (32 - no[i].bits);

		if ((v & m) == n)
			return 0;
	}
	return 1;
}

int
acme_addr_public(const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	/* NAT64's well-known prefix 64:ff9b::/96 (RFC 6052): judged by the IPv4 address in it */
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	const unsigned char *a;

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET)
		return addr4_public(
		    (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)
			->sin_addr);
	if (sa->sa_family != AF_INET6)
		return 0;
	a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return addr4_public(a + 12);
	/* 6to4 (2002::/16, RFC 3056) and Teredo (2001::/32, RFC 4380) tunnel to an IPv4 address
	 * the relay chooses: refused, as the embedded address cannot be judged alone */
	if (a[0] == 0x20 && a[1] == 0x02)
		return 0;
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0)
		return 0;
	/* ::/8 (unspecified, loopback, compatible), fc00::/7, fe80::/10, fec0::/10, ff00::/8,
	 * 2001:db8::/32, and 2000::/3 is the only global unicast space anyway */
	if ((a[0] & 0xe0) != 0x20)
		return 0;
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
		return 0;
	return 1;
}

/* One validation: what the thread needs (owned by it) and what the fetch found. */
struct vjob {
	struct ca *ca;
	int64_t acct; /* whose slot it holds */
	int64_t org;  /* and its organization's */
	int64_t id;   /* the challenge */
	char type[16];
	int wildcard;
	char host[RA_ACME_NAME_MAX];
	char token[RA_ACME_TOKEN_TEXT];
	char keyauth[RA_ACME_TOKEN_TEXT + 64];
	char actor[96];
	int64_t deadline; /* acme_dns_now_ms(): the whole validation ends by then */
	char body[ACME_HTTP01_BODY_MAX + 1];
	size_t len;
	int too_big;
	char refused[160]; /* why the open-socket callback refused a connection */
};

static size_t
vjob_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct vjob *j = arg;
	size_t n = size * nmemb;

	if (n > ACME_HTTP01_BODY_MAX - j->len) {
		j->too_big = 1;
		return 0;
	}
	memcpy(j->body + j->len, p, n);
	j->len += n;
	return n;
}

/* libcurl's open-socket callback: the port and address rules, then an ordinary socket. */
static curl_socket_t
vjob_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct vjob *j = arg;
	const struct sockaddr *sa = &a->addr;
	char text[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	if (sa->sa_family == AF_INET) {
		port = ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, text,
			  sizeof(text));
	} else if (sa->sa_family == AF_INET6) {
		port = ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  text, sizeof(text));
	}
	if (port != 80 && port != 443 && port != acme.http01_port) {
		snprintf(j->refused, sizeof(j->refused),
			 "RFC 8555 10.2: port %d is neither 80, 443 nor acme.http01_port", port);
		return CURL_SOCKET_BAD;
	}
	if (!acme.allow_private && !acme_addr_public(sa)) {
		snprintf(j->refused, sizeof(j->refused),
			 "RFC 8555 10.2: %s is a private, loopback, link-local or reserved address "
			 "(acme.allow_private_addresses = no)",
			 text);
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

/* The problem document (JSON text, caller frees) of a failed validation. */
static char *
vjob_problem(enum acme_prob p, const char *detail)
{
	json_t *j =
	    json_pack("{s:s, s:s, s:i}", "type", acme_prob_type(p), "detail", detail, "status",
		      p == ACME_PROB_CONNECTION || p == ACME_PROB_DNS ? 400 : 403);
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(j);
	if (s == NULL)
		fatalx("acme: out of memory");
	return s;
}

/* The fetch and the comparison: NULL when valid, else the problem (caller frees). */
static char *
vjob_fetch(struct vjob *j, CURL *h)
{
	char url[RA_ACME_NAME_MAX + 128], res[RA_ACME_NAME_MAX + 80], msg[400];
	struct curl_slist *rl = NULL;
	CURLcode cc;
	unsigned char a6[16];
	long status = 0;
	size_t n;
	int ipv6, ipaddr;

	if (h == NULL)
		return vjob_problem(ACME_PROB_SERVER_INTERNAL, "the validator could not start");
	/* the worker's handle: every option of the last validation forgotten */
	curl_easy_reset(h);
	/* an ip identifier (RFC 8738 8.1): the address itself, IPv6 in brackets, as the Host */
	ipv6 = inet_pton(AF_INET6, j->host, a6) == 1;
	ipaddr = ipv6 || inet_pton(AF_INET, j->host, a6) == 1;
	snprintf(url, sizeof(url), "http://%s%s%s:%ld/.well-known/acme-challenge/%s",
		 ipv6 ? "[" : "", j->host, ipv6 ? "]" : "", acme.http01_port, j->token);
	if (acme.test_resolve[0] != '\0' && !ipaddr) {
		/* the identifier's name on any port connects to the test's address instead */
		snprintf(res, sizeof(res),
			 strchr(acme.test_resolve, ':') != NULL ? "%s::[%s]:" : "%s::%s:", j->host,
			 acme.test_resolve);
		rl = curl_slist_append(rl, res);
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, rl);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(
	    h, CURLOPT_TIMEOUT_MS,
	    (long)(j->deadline - acme_dns_now_ms() > 1 ? j->deadline - acme_dns_now_ms() : 1));
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "shomei-acme-validator");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, vjob_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, vjob_socket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, j);
	/*
	 * No connection outlives its transfer, so none serves another identifier's validation
	 * (each was judged by vjob_socket for this one), and no cached address answers for a
	 * name: a validation sees the name's current DNS answer.
	 */
	curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	/* CONNECT_TO's list is read during the transfer only */
	curl_easy_setopt(h, CURLOPT_CONNECT_TO, NULL);
	curl_slist_free_all(rl);
	if (j->too_big)
		return vjob_problem(ACME_PROB_UNAUTHORIZED,
				    "RFC 8555 8.3: the response is larger than 8 KiB");
	if (j->refused[0] != '\0')
		return vjob_problem(ACME_PROB_CONNECTION, j->refused);
	if (cc == CURLE_COULDNT_RESOLVE_HOST)
		return vjob_problem(ACME_PROB_DNS, "RFC 8555 8.3: the name does not resolve");
	if (cc != CURLE_OK) {
		snprintf(msg, sizeof(msg), "RFC 8555 8.3: fetching the challenge failed: %s",
			 curl_easy_strerror(cc));
		return vjob_problem(ACME_PROB_CONNECTION, msg);
	}
	if (status != 200) {
		snprintf(msg, sizeof(msg), "RFC 8555 8.3: the challenge URL answered status %ld",
			 status);
		return vjob_problem(ACME_PROB_UNAUTHORIZED, msg);
	}
	/* the body, its trailing whitespace ignored (8.3), is the key authorization */
	n = j->len;
	while (n > 0 && (j->body[n - 1] == ' ' || j->body[n - 1] == '\t' ||
			 j->body[n - 1] == '\r' || j->body[n - 1] == '\n'))
		n--;
	if (n != strlen(j->keyauth) || memcmp(j->body, j->keyauth, n) != 0)
		return vjob_problem(ACME_PROB_INCORRECT_RESPONSE,
				    "RFC 8555 8.3: the response is not the key authorization");
	return NULL;
}

/* base64url(SHA-256(the key authorization)) into out (RFC 8555 8.4, RFC 8737 3 use the digest). */
static void
vjob_digest(const struct vjob *j, unsigned char md[crypto_hash_sha256_BYTES], char *out, size_t n)
{
	crypto_hash_sha256(md, (const unsigned char *)j->keyauth, strlen(j->keyauth));
	if (b64url_encode(out, n, md, crypto_hash_sha256_BYTES) == -1)
		fatalx("acme: digest buffer");
}

/*
 * dns-01 (RFC 8555 8.4): a TXT record of _acme-challenge.<name> (its strings concatenated)
 * is base64url(SHA-256(key authorization)).  NULL when valid, else the problem.
 */
static char *
vjob_dns01(struct vjob *j)
{
	struct acme_dns_server srv;
	struct acme_dns_res *res = xcalloc(1, sizeof(*res));
	unsigned char md[crypto_hash_sha256_BYTES];
	char want[64], got[ACME_DNS_RDATA_MAX], name[RA_ACME_NAME_MAX + 20], msg[600], *p = NULL;
	struct err e;

	err_clear(&e);
	vjob_digest(j, md, want, sizeof(want));
	snprintf(name, sizeof(name), "_acme-challenge.%s", j->host);
	if (acme_dns_server(acme.dns_resolver, &srv, &e) == -1 ||
	    acme_dns_lookup(&srv, name, ACME_DNS_TXT, j->deadline, res, &e) == -1) {
		snprintf(msg, sizeof(msg), "RFC 8555 8.4: the TXT lookup of %.270s failed: %.250s",
			 name, e.msg);
		p = vjob_problem(ACME_PROB_DNS, msg);
		goto out;
	}
	for (size_t i = 0; i < res->n; i++)
		if (acme_dns_txt(res->rr[i].data, res->rr[i].len, got, sizeof(got)) == 0 &&
		    strcmp(got, want) == 0)
			goto out;
	snprintf(msg, sizeof(msg),
		 "RFC 8555 8.4: no TXT record of %s holds base64url(SHA-256(key authorization)) "
		 "(%zu TXT record%s found)",
		 name, res->n, res->n == 1 ? "" : "s");
	p = vjob_problem(ACME_PROB_INCORRECT_RESPONSE, msg);
out:
	free(res);
	return p;
}

int
acme_caa_check(const char *host, int wildcard, const char *method, int64_t acct, int64_t deadline,
	       char *why, size_t n)
{
	struct acme_dns_server srv;
	struct acme_dns_res *res = xcalloc(1, sizeof(*res));
	const char *ids[16], *name = host;
	char url[ACME_URL_MAX], path[64];
	size_t nids = 0;
	int rc = 0;
	struct err e;

	err_clear(&e);
	for (size_t i = 0; acme.caa != NULL && i < json_array_size(acme.caa) && nids < 16; i++)
		ids[nids++] = json_string_value(json_array_get(acme.caa, i));
	snprintf(path, sizeof(path), ACME_ACCT_PATH "%" PRId64, acct);
	acme_url(url, sizeof(url), path);
	if (acme_dns_server(acme.dns_resolver, &srv, &e) == -1)
		goto fail;
	for (;;) {
		err_clear(&e);
		if (acme_dns_lookup(&srv, name, ACME_DNS_CAA, deadline, res, &e) == -1)
			goto fail;
		if (res->n > 0) {
			rc = acme_caa_allows(res, wildcard, method, url, ids, nids, why, n) ? 0 : 1;
			goto out;
		}
		if ((name = strchr(name, '.')) == NULL)
			goto out; /* none up to the top-level domain */
		name++;
	}
fail:
	snprintf(why, n, "RFC 8659 3: the CAA lookup of %.255s failed (%.300s): issuance refused",
		 name, e.msg);
	rc = 1;
out:
	free(res);
	return rc;
}

/* CAA before j's challenge (acme_caa_check): NULL when allowed, else the problem. */
static char *
vjob_caa(struct vjob *j)
{
	char why[700];

	if (acme_caa_check(j->host, j->wildcard, j->type, j->acct, j->deadline, why, sizeof(why)) ==
	    0)
		return NULL;
	return vjob_problem(ACME_PROB_CAA, why);
}

int
acme_tlsalpn_check(X509 *x, const char *host, const unsigned char *md, char *why, size_t n)
{
	GENERAL_NAMES *gns = NULL;
	const GENERAL_NAME *gn;
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	ASN1_OCTET_STRING *os = NULL;
	const ASN1_OCTET_STRING *ev;
	const unsigned char *p;
	X509_EXTENSION *ext;
	unsigned char addr[16];
	int crit = 0, at, rc = 0, alen = 0;

	if (oid == NULL)
		fatalx("acme: out of memory");
	/* an ip identifier (RFC 8738 6): exactly one iPAddress, the address's bytes */
	if (inet_pton(AF_INET6, host, addr) == 1)
		alen = 16;
	else if (inet_pton(AF_INET, host, addr) == 1)
		alen = 4;
	gns = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (gns == NULL || sk_GENERAL_NAME_num(gns) != 1) {
		snprintf(why, n, "%s: the certificate's subjectAltName is not exactly one %s",
			 alen != 0 ? "RFC 8738 6" : "RFC 8737 3",
			 alen != 0 ? "iPAddress, the identifier" : "dNSName, the identifier");
		goto out;
	}
	gn = sk_GENERAL_NAME_value(gns, 0);
	if (alen != 0 && (gn->type != GEN_IPADD || ASN1_STRING_length(gn->d.iPAddress) != alen ||
			  memcmp(ASN1_STRING_get0_data(gn->d.iPAddress), addr, alen) != 0)) {
		snprintf(why, n,
			 "RFC 8738 6: the certificate's subjectAltName is not exactly one "
			 "iPAddress, the identifier");
		goto out;
	}
	if (alen == 0 &&
	    (gn->type != GEN_DNS || (size_t)ASN1_STRING_length(gn->d.dNSName) != strlen(host) ||
	     strncasecmp((const char *)ASN1_STRING_get0_data(gn->d.dNSName), host, strlen(host)) !=
		 0)) {
		snprintf(why, n,
			 "RFC 8737 3: the certificate's subjectAltName is not exactly one dNSName, "
			 "the identifier");
		goto out;
	}
	if ((at = X509_get_ext_by_OBJ(x, oid, -1)) < 0 || X509_get_ext_by_OBJ(x, oid, at) >= 0) {
		snprintf(
		    why, n,
		    "RFC 8737 3: the certificate has not exactly one acmeIdentifier extension");
		goto out;
	}
	ext = X509_get_ext(x, at);
	ev = X509_EXTENSION_get_data(ext);
	p = ASN1_STRING_get0_data(ev);
	if (X509_EXTENSION_get_critical(ext) != 1) {
		snprintf(why, n, "RFC 8737 3: the acmeIdentifier extension is not critical");
		goto out;
	}
	if ((os = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(ev))) == NULL ||
	    p != ASN1_STRING_get0_data(ev) + ASN1_STRING_length(ev) ||
	    ASN1_STRING_length(os) != crypto_hash_sha256_BYTES ||
	    sodium_memcmp(ASN1_STRING_get0_data(os), md, crypto_hash_sha256_BYTES) != 0) {
		snprintf(why, n,
			 "RFC 8737 3: the acmeIdentifier extension is not the OCTET STRING of "
			 "SHA-256(key authorization)");
		goto out;
	}
	rc = 1;
out:
	ASN1_OCTET_STRING_free(os);
	GENERAL_NAMES_free(gns);
	ASN1_OBJECT_free(oid);
	ERR_clear_error();
	return rc;
}

/*
 * The addresses of j's name for tls-alpn-01 (at most n): test.acme_resolve's, else its A and
 * AAAA records asked of the resolver of dns-01 (acme.dns_resolver, else resolv.conf's first
 * nameserver), under the deadline.  Their count, or -1 with msg.
 */
static int
vjob_addrs(struct vjob *j, struct sockaddr_storage *ss, int n, char *msg, size_t mlen)
{
	static const uint16_t types[] = {ACME_DNS_A, ACME_DNS_AAAA};
	struct acme_dns_server srv;
	struct acme_dns_res *res = NULL;
	struct err e;
	int k = 0;

	memset(ss, 0, sizeof(*ss) * (size_t)n);
	err_clear(&e);
	/* an ip identifier is its own address (RFC 8738 6; test.acme_resolve is for names) */
	if (inet_pton(AF_INET6, j->host, &((struct sockaddr_in6 *)(void *)&ss[0])->sin6_addr) ==
	    1) {
		ss[0].ss_family = AF_INET6;
		return 1;
	}
	if (inet_pton(AF_INET, j->host, &((struct sockaddr_in *)(void *)&ss[0])->sin_addr) == 1) {
		ss[0].ss_family = AF_INET;
		return 1;
	}
	if (acme.test_resolve[0] != '\0') {
		if (acme_dns_server(acme.test_resolve, &srv, &e) == 0)
			ss[k++] = srv.sa;
		return k;
	}
	res = xcalloc(1, sizeof(*res));
	if (acme_dns_server(acme.dns_resolver, &srv, &e) == -1)
		goto fail;
	for (size_t t = 0; t < 2; t++) {
		if (acme_dns_lookup(&srv, j->host, types[t], j->deadline, res, &e) == -1)
			goto fail;
		for (size_t i = 0; i < res->n && k < n; i++) {
			if (types[t] == ACME_DNS_A && res->rr[i].len == 4) {
				struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&ss[k++];

				s4->sin_family = AF_INET;
				memcpy(&s4->sin_addr, res->rr[i].data, 4);
			} else if (types[t] == ACME_DNS_AAAA && res->rr[i].len == 16) {
				struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&ss[k++];

				s6->sin6_family = AF_INET6;
				memcpy(&s6->sin6_addr, res->rr[i].data, 16);
			}
		}
	}
	free(res);
	return k;
fail:
	snprintf(msg, mlen, "RFC 8737 3: the addresses of %.60s: %.300s", j->host, e.msg);
	free(res);
	return -1;
}

/* A connected, non-blocking TCP socket to one of j's addresses on port, or -1 with msg. */
static int
vjob_connect(struct vjob *j, int port, char *msg, size_t mlen)
{
	struct sockaddr_storage ss[8];
	char text[INET6_ADDRSTRLEN] = "?";
	int n, fd = -1, err;
	socklen_t el, sl;

	if ((n = vjob_addrs(j, ss, 8, msg, mlen)) <= 0) {
		if (n == 0)
			snprintf(msg, mlen, "RFC 8737 3: %s has no address", j->host);
		return -1;
	}
	snprintf(msg, mlen, "RFC 8737 3: no connection to %s port %d", j->host, port);
	for (int i = 0; i < n && fd == -1; i++) {
		struct pollfd pfd;
		int64_t left;

		if (ss[i].ss_family == AF_INET) {
			((struct sockaddr_in *)(void *)&ss[i])->sin_port = htons((uint16_t)port);
			inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)&ss[i])->sin_addr, text,
				  sizeof(text));
			sl = sizeof(struct sockaddr_in);
		} else {
			((struct sockaddr_in6 *)(void *)&ss[i])->sin6_port = htons((uint16_t)port);
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)&ss[i])->sin6_addr,
				  text, sizeof(text));
			sl = sizeof(struct sockaddr_in6);
		}
		if (!acme.allow_private && !acme_addr_public((struct sockaddr *)&ss[i])) {
			snprintf(msg, mlen,
				 "RFC 8555 10.2: %s is a private, loopback, link-local or reserved "
				 "address (acme.allow_private_addresses = no)",
				 text);
			continue;
		}
		if ((fd = socket(ss[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) ==
		    -1)
			continue;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		err = 0;
		el = sizeof(err);
		left = j->deadline - acme_dns_now_ms();
		if ((connect(fd, (struct sockaddr *)&ss[i], sl) == -1 && errno != EINPROGRESS) ||
		    left <= 0 || poll(&pfd, 1, (int)left) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1 || err != 0) {
			snprintf(msg, mlen, "RFC 8737 3: connecting to %s port %d failed%s%s", text,
				 port, err != 0 ? ": " : "", err != 0 ? strerror(err) : "");
			close(fd);
			fd = -1;
		}
	}
	return fd;
}

/*
 * tls-alpn-01 (RFC 8737 3): a TLS handshake with the name on acme.tlsalpn01_port (443), SNI
 * the name, ALPN exactly acme-tls/1 (the server must choose it), then acme_tlsalpn_check of
 * its certificate (not otherwise verified), all before the deadline.  NULL when valid.
 */
static char *
vjob_tlsalpn(struct vjob *j)
{
	static const unsigned char alpn[] = "\x0a"
					    "acme-tls/1";
	unsigned char md[crypto_hash_sha256_BYTES];
	char want[64], msg[400], sni[RA_ACME_NAME_MAX];
	const unsigned char *sel = NULL;
	unsigned int sl = 0;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	X509 *x = NULL;
	char *p = NULL;
	int fd, r;

	vjob_digest(j, md, want, sizeof(want));
	/* an address's SNI is its reverse name (RFC 8738 6), else the name */
	if (ra_acme_ip_reverse(j->host, sni, sizeof(sni)) == -1)
		snprintf(sni, sizeof(sni), "%s", j->host);
	if ((fd = vjob_connect(j, (int)acme.tlsalpn01_port, msg, sizeof(msg))) == -1)
		return vjob_problem(ACME_PROB_CONNECTION, msg);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL || (ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_min_proto_version(ssl, TLS1_2_VERSION) != 1 ||
	    SSL_set_alpn_protos(ssl, alpn, sizeof(alpn) - 1) != 0 ||
	    SSL_set_tlsext_host_name(ssl, sni) != 1 || SSL_set_fd(ssl, fd) != 1) {
		p = vjob_problem(ACME_PROB_SERVER_INTERNAL, "the TLS client could not start");
		goto out;
	}
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	while ((r = SSL_connect(ssl)) != 1) {
		int w = SSL_get_error(ssl, r);
		struct pollfd pfd = {.fd = fd,
				     .events = w == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
		int64_t left = j->deadline - acme_dns_now_ms();

		if ((w != SSL_ERROR_WANT_READ && w != SSL_ERROR_WANT_WRITE) || left <= 0 ||
		    poll(&pfd, 1, (int)left) != 1) {
			snprintf(msg, sizeof(msg), "RFC 8737 3: the TLS handshake with %s failed%s",
				 j->host, left <= 0 ? " (timeout)" : "");
			p = vjob_problem(ACME_PROB_TLS, msg);
			goto out;
		}
	}
	SSL_get0_alpn_selected(ssl, &sel, &sl);
	if (sl != sizeof(alpn) - 2 || memcmp(sel, alpn + 1, sl) != 0) {
		p = vjob_problem(
		    ACME_PROB_UNAUTHORIZED,
		    "RFC 8737 3: the server did not choose the ALPN protocol acme-tls/1");
		goto out;
	}
	if ((x = SSL_get1_peer_certificate(ssl)) == NULL ||
	    !acme_tlsalpn_check(x, j->host, md, msg, sizeof(msg)))
		p = vjob_problem(ACME_PROB_INCORRECT_RESPONSE,
				 x == NULL ? "RFC 8737 3: the server showed no certificate" : msg);
out:
	X509_free(x);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	ERR_clear_error();
	return p;
}

/* 1 when j's identifier is an address (an ip identifier's canonical text). */
static int
vjob_is_ip(const struct vjob *j)
{
	unsigned char a[16];

	return inet_pton(AF_INET6, j->host, a) == 1 || inet_pton(AF_INET, j->host, a) == 1;
}

/*
 * The validation of j's challenge type, after CAA when acme.dns_resolver is set: NULL when
 * valid, else the problem (caller frees).
 */
static char *
vjob_run(struct vjob *j, CURL *h)
{
	char *p = NULL;

	j->deadline = acme_dns_now_ms() + (int64_t)ACME_HTTP01_TIMEOUT * 1000;
	/* CAA is of DNS names (RFC 8659); an address has none (RFC 8738 leaves it undefined) */
	if (acme.dns_resolver[0] != '\0' && !vjob_is_ip(j) && (p = vjob_caa(j)) != NULL)
		return p;
	if (strcmp(j->type, "dns-01") == 0)
		return vjob_dns01(j);
	if (strcmp(j->type, "tls-alpn-01") == 0)
		return vjob_tlsalpn(j);
	return vjob_fetch(j, h);
}

/*
 * The validation pool: jobs wait in a FIFO for one of at most ACME_VALIDATIONS_MAX worker
 * threads.  A job exists only in a slot (acme_validate_reserve), so at most that many wait or
 * run and a worker is started whenever the jobs waiting outnumber the idle workers: none waits
 * for another's validation.  Each worker keeps its store connection (ca_thread_store) and its
 * libcurl handle from one validation to the next; a worker idle for ACME_WORKER_IDLE_S
 * seconds ends (both closed), and acme_validate_drain ends them all at shutdown.
 */

/* The next job (the queue's lock held), or NULL when the worker is to end. */
static struct vjob *
vqueue_take(void)
{
	struct vqueue_item *it;
	struct vjob *j;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ACME_WORKER_IDLE_S;
	vq_idle++;
	while (vq_head == NULL && !vq_stop)
		if (pthread_cond_timedwait(&validate_cv, &validate_mu, &until) != 0 &&
		    vq_head == NULL)
			break;
	vq_idle--;
	if ((it = vq_head) == NULL)
		return NULL;
	if ((vq_head = it->next) == NULL)
		vq_tail = NULL;
	vq_len--;
	j = it->j;
	free(it);
	return j;
}

static void *
vjob_main(void *arg)
{
	struct ca *ca = arg;
	struct vjob *j;
	struct store *st;
	CURL *h = curl_easy_init(); /* NULL: each http-01 validation fails, recorded */
	char *problem;
	enum ra_acme_outcome r;
	int64_t acct, org;
	struct err e;

	pthread_mutex_lock(&validate_mu);
	while ((j = vqueue_take()) != NULL) {
		pthread_mutex_unlock(&validate_mu);
		problem = vjob_run(j, h);
		r = RA_ACME_ERROR;
		err_clear(&e);
		if ((st = ca_thread_store(j->ca, &e)) != NULL)
			r = ra_acme_chall_done(st, j->id, problem, j->actor, &e);
		if (r != RA_ACME_OK) {
			log_warn("acme: challenge %" PRId64
				 ": the validation's outcome is not stored: %s",
				 j->id, e.msg);
			/* a connection that failed is opened again for the next job */
			ca_thread_store_close(j->ca);
		}
		free(problem);
		acct = j->acct;
		org = j->org;
		free(j);
		acme_validate_release(acct, org);
		pthread_mutex_lock(&validate_mu);
	}
	pthread_mutex_unlock(&validate_mu);
	/* closed before the worker is counted out: the drain's caller closes the CA next */
	curl_easy_cleanup(h);
	ca_thread_store_close(ca);
	pthread_mutex_lock(&validate_mu);
	vq_live--;
	pthread_cond_broadcast(&validate_cv);
	pthread_mutex_unlock(&validate_mu);
	return NULL;
}

int
acme_validate_start(struct ca *ca, const struct acme_vreq *q)
{
	struct vjob *j = xcalloc(1, sizeof(*j));
	struct vqueue_item *it = xcalloc(1, sizeof(*it));
	pthread_attr_t at;
	pthread_t t;
	int rc = -1;

	j->ca = ca;
	j->acct = q->acct;
	j->org = q->org;
	j->id = q->id;
	snprintf(j->type, sizeof(j->type), "%s", q->type);
	j->wildcard = q->wildcard;
	snprintf(j->host, sizeof(j->host), "%s", q->host);
	snprintf(j->token, sizeof(j->token), "%s", q->token);
	snprintf(j->keyauth, sizeof(j->keyauth), "%s", q->keyauth);
	snprintf(j->actor, sizeof(j->actor), "%s", q->actor);
	pthread_mutex_lock(&validate_mu);
	if (vq_stop)
		goto unlock;
	if (vq_len + 1 > vq_idle && vq_live < ACME_VALIDATIONS_MAX) {
		if (pthread_attr_init(&at) != 0)
			goto unlock;
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, vjob_main, ca) == 0)
			vq_live++;
		pthread_attr_destroy(&at);
	}
	if (vq_live == 0)
		goto unlock; /* no worker to take it */
	it->j = j;
	j = NULL;
	if (vq_tail != NULL)
		vq_tail->next = it;
	else
		vq_head = it;
	vq_tail = it;
	it = NULL;
	vq_len++;
	pthread_cond_broadcast(&validate_cv);
	rc = 0;
unlock:
	pthread_mutex_unlock(&validate_mu);
	free(it);
	if (j != NULL) {
		free(j);
		acme_validate_release(q->acct, q->org);
	}
	return rc;
}
