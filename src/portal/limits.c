/*
 * limits: the per-ticket attempt limit of step 1 (portal.ticket_rate attempts per ticket number
 * and hour), so that one ticket cannot be tried again and again — guessing which organization
 * it belongs to, or registering it over and over to send mail to arbitrary addresses.
 *
 * The counters live in this web process (a reload or a second front end starts its own): a
 * fixed table indexed by a keyed BLAKE2b hash of the ticket number (the portal secret is the
 * key, so neither the table nor its collisions can be steered from outside), probed over a few
 * slots; when all of them are taken the one with the oldest window is reused.
 */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "portal_int.h"

int
portal_ticket_rate_ok(const char *ticket, long limit)
{
	unsigned char key[PORTAL_TRL_KEY];
	struct portal_trl *slot = NULL, *victim = NULL;
	time_t now = time(NULL);
	size_t start;
	int ok;

	crypto_generichash(key, sizeof(key), (const unsigned char *)ticket, strlen(ticket),
			   portal.site.secret, sizeof(portal.site.secret));
	start = ((size_t)key[0] | (size_t)key[1] << 8 | (size_t)key[2] << 16) % PORTAL_TRL_SLOTS;
	pthread_mutex_lock(&portal.trl_lock);
	for (size_t i = 0; i < PORTAL_TRL_PROBE; i++) {
		struct portal_trl *s = &portal.trl[(start + i) % PORTAL_TRL_SLOTS];

		if (s->window != 0 && memcmp(s->key, key, sizeof(key)) == 0) {
			slot = s;
			break;
		}
		if (victim == NULL || s->window < victim->window)
			victim = s;
	}
	if (slot == NULL) {
		slot = victim;
		memcpy(slot->key, key, sizeof(key));
		slot->window = now;
		slot->count = 0;
	}
	if (now - slot->window >= PORTAL_TRL_WINDOW) {
		slot->window = now;
		slot->count = 0;
	}
	ok = slot->count < limit;
	if (ok)
		slot->count++;
	pthread_mutex_unlock(&portal.trl_lock);
	sodium_memzero(key, sizeof(key));
	return ok;
}
