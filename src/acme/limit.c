/*
 * limit: the request limiter of /acme/ (a token bucket per client address, in this process)
 * and the answer of every rate limit: 429 rateLimited with Retry-After and a Link to the page
 * that explains the limits (the RA's limits are src/ra/acmelimit.c's).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "acme_int.h"

long
acme_buckets_take(struct acme_buckets *t, const unsigned char *addr, size_t len, double now,
		  double rate, double burst)
{
	unsigned char a[16], h[crypto_shorthash_BYTES];
	size_t start, i;
	int at = -1, victim = -1;
	double tokens, w;
	long secs;

	/* an address as 16 octets: IPv4 in the last 4 (the rest zero), IPv6 by its /64 */
	memset(a, 0, sizeof(a));
	if (len == 4)
		memcpy(a + 12, addr, 4);
	else if (len == 16)
		memcpy(a, addr, 8);
	crypto_shorthash(h, a, sizeof(a), t->key);
	start = ((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16) % ACME_BUCKETS;
	for (i = 0; i < ACME_BUCKET_PROBE; i++) {
		size_t k = (start + i) % ACME_BUCKETS;

		if (t->b[k].last != 0 && memcmp(t->b[k].addr, a, sizeof(a)) == 0) {
			at = (int)k;
			break;
		}
		if (victim == -1 || t->b[k].last < t->b[victim].last)
			victim = (int)k;
	}
	if (at == -1) { /* a new address: a full bucket, in the least recently used entry */
		at = victim;
		memcpy(t->b[at].addr, a, sizeof(a));
		t->b[at].tokens = burst;
		t->b[at].last = now;
	}
	tokens = t->b[at].tokens + (now - t->b[at].last) * rate;
	if (tokens > burst)
		tokens = burst;
	t->b[at].last = now;
	if (tokens >= 1) {
		t->b[at].tokens = tokens - 1;
		return 0;
	}
	t->b[at].tokens = tokens;
	w = (1 - tokens) / rate;
	secs = (long)w;
	if ((double)secs < w)
		secs++;
	return secs < 1 ? 1 : secs;
}

long
acme_request_take(struct acme_buckets t[2], const unsigned char *addr, size_t len, double now,
		  const struct ra_acme_limits *lim, int *site)
{
	unsigned char a48[16];
	long wait;

	*site = 0;
	if (lim->req_rate > 0 &&
	    (wait = acme_buckets_take(&t[0], addr, len, now, (double)lim->req_rate,
				      (double)lim->req_burst)) > 0)
		return wait;
	if (len != 16 || lim->req_rate48 <= 0)
		return 0;
	/* the /48 (the rest zero; acme_buckets_take keeps its /64, which is then the /48) */
	memset(a48, 0, sizeof(a48));
	memcpy(a48, addr, 6);
	if ((wait = acme_buckets_take(&t[1], a48, 16, now, (double)lim->req_rate48,
				      (double)lim->req_burst48)) > 0)
		*site = 1;
	return wait;
}

static pthread_mutex_t limit_mu = PTHREAD_MUTEX_INITIALIZER;
static struct acme_buckets limit_buckets[2]; /* under limit_mu: per address (/64), per /48 */
static int limit_keyed;

/* Seconds of the monotonic clock (never 0). */
static double
limit_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + 1;
}

long
acme_request_limit(struct http_req *r, int *site)
{
	unsigned char ip[16];
	size_t len = 0;
	long wait;

	*site = 0;
	/* an unknown client (a trusted proxy whose X-Forwarded-For names none: missing, garbage,
	 * over 16 KiB or 32 entries) is refused, not counted under one key that anyone could
	 * exhaust for all such clients, or hide in */
	memset(ip, 0, sizeof(ip));
	http_client_ip(r, ip, &len);
	if (len == 0)
		return -1;
	if (acme.limits.req_rate <= 0 && acme.limits.req_rate48 <= 0)
		return 0;
	pthread_mutex_lock(&limit_mu);
	if (!limit_keyed) {
		crypto_shorthash_keygen(limit_buckets[0].key);
		crypto_shorthash_keygen(limit_buckets[1].key);
		limit_keyed = 1;
	}
	wait = acme_request_take(limit_buckets, ip, len, limit_now(), &acme.limits, site);
	pthread_mutex_unlock(&limit_mu);
	return wait;
}

int
acme_limited(struct acme_ctx *c, int status, const char *detail, long retry)
{
	char ra[24], help[ACME_URL_MAX + 32];
	const char *h[] = {"Retry-After", ra, "Link", help, NULL};
	json_t *j;
	char *s = NULL;
	int rc = -1;

	snprintf(ra, sizeof(ra), "%ld", retry < 1 ? 1 : retry);
	snprintf(help, sizeof(help), "<%s>;rel=\"help\"", acme.limits_url);
	j = json_pack("{s:s, s:s, s:i}", "type", acme_prob_type(ACME_PROB_RATE_LIMITED), "detail",
		      detail, "status", status);
	if (j != NULL && (s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII)) != NULL)
		rc = acme_send(c->r, status, "application/problem+json", s, h);
	free(s);
	json_decref(j);
	return rc;
}
