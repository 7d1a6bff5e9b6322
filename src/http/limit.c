/*
 * limit: requests per client address and minute (IPv6 by its /64, util_ip_rate_key), for
 * every face that needs one (the portal's forms and CAPTCHAs, OCSP's freshly signed answers).
 *
 * The counters live in this process: a fixed table indexed by a keyed hash of the address
 * (the key is random per limiter, so the slots an address lands in cannot be steered from
 * outside), probed over a few slots; when all of them are taken the one with the oldest
 * window is reused, so a flood of addresses makes the table forget, never grow.
 */
#include <netdb.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "http/http.h"

#define LIMIT_PROBE 8

void
http_limiter_init(struct http_limiter *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	crypto_shorthash_keygen(l->key);
}

int
http_limit_key_ok(struct http_limiter *l, const char *addr, long per_minute)
{
	unsigned char h[crypto_shorthash_BYTES];
	struct http_limit_slot *slot = NULL, *victim = NULL, *s;
	time_t now = time(NULL);
	size_t start, i;
	int ok;

	crypto_shorthash(h, (const unsigned char *)addr, strlen(addr), l->key);
	start = ((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16) % HTTP_LIMIT_SLOTS;
	pthread_mutex_lock(&l->lock);
	for (i = 0; i < LIMIT_PROBE; i++) {
		s = &l->slot[(start + i) % HTTP_LIMIT_SLOTS];
		if (s->window != 0 && strcmp(s->addr, addr) == 0) {
			slot = s;
			break;
		}
		if (victim == NULL || s->window < victim->window)
			victim = s;
	}
	if (slot == NULL) {
		slot = victim;
		snprintf(slot->addr, sizeof(slot->addr), "%s", addr);
		slot->window = now;
		slot->count = 0;
	}
	if (now - slot->window >= 60) {
		slot->window = now;
		slot->count = 0;
	}
	ok = slot->count < per_minute;
	if (ok)
		slot->count++;
	pthread_mutex_unlock(&l->lock);
	return ok;
}

int
http_limit_ok(struct http_limiter *l, struct http_req *r, long per_minute)
{
	char addr[64];
	unsigned char ip[16];
	size_t iplen;

	http_client_ip(r, ip, &iplen);
	util_ip_rate_key(ip, iplen, addr, sizeof(addr)); /* IPv6: its /64 */
	return http_limit_key_ok(l, addr, per_minute);
}
