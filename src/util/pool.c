/*
 * pool: things made ahead, off the request path (CAPTCHA images, applicant keys).  One thread
 * per pool, at the lowest CPU priority (nice 19), keeps up to cap items; pool_take() hands
 * each out once (moved out, its slot wiped) and tells the caller when there is none, so that
 * the caller makes one itself.  Items are fixed-size values; what they point to belongs to
 * them (clear() frees it).
 *
 * Refilling waits for a quiet moment: while items are being taken (the last one less than
 * POOL_QUIET_MS ago), the thread makes none unless fewer than an eighth of cap are left (it
 * is about to run dry: items made in the burst cost the burst's requests the same CPU as
 * items made in them, and a pool of 256 then still holds a burst of 200 without refilling in
 * it: bench/portal's last 8 Submits of a round had waited for the refill at a quarter).  At
 * nice 19 it would only use idle CPU anyway, but the requests of a burst keep leaving short
 * idle gaps (waiting for the signer, for an fsync), and each time the thread took one, the
 * next request that woke up had to wait for it to be preempted (bench/portal: POST
 * /issue/confirm srv p99 ~6 ms with refills during the burst, ~4.5 ms without).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"

#define POOL_QUIET_MS 200

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t low; /* an item was taken, or stop (CLOCK_MONOTONIC) */
	struct timespec last_take;
	unsigned char *v; /* cap items of size bytes */
	size_t size, n, cap;
	int stop;
	pthread_t th;
	char name[16];
	pool_make_fn *make;
	pool_clear_fn *clear;
	void *arg;
	unsigned long taken, misses;
};

static long
pool_since_ms(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

static void *
pool_main(void *arg)
{
	struct pool *p = arg;
	unsigned char *item = xcalloc(1, p->size);

	util_thread_name(p->name);
	(void)util_thread_nice(19);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		for (;;) {
			struct timespec until;

			if (p->stop)
				break;
			if (p->n >= p->cap) {
				pthread_cond_wait(&p->low, &p->mu);
				continue;
			}
			if (p->n < p->cap / 8 || p->taken == 0)
				break; /* running low, or nothing taken yet: now */
			if (pool_since_ms(&p->last_take) >= POOL_QUIET_MS)
				break; /* quiet */
			until = p->last_take;
			until.tv_nsec += POOL_QUIET_MS * 1000000L;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			(void)pthread_cond_timedwait(&p->low, &p->mu, &until);
		}
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		pthread_mutex_unlock(&p->mu);
		if (p->make(item, p->arg) == -1) {
			sodium_memzero(item, p->size);
			sleep(1); /* the requests make their own (and report) meanwhile */
			continue;
		}
		pthread_mutex_lock(&p->mu);
		memcpy(p->v + p->n * p->size, item, p->size);
		p->n++;
		pthread_mutex_unlock(&p->mu);
		sodium_memzero(item, p->size);
	}
	free(item);
	return NULL;
}

int
pool_start(struct pool **out, const char *thread_name, size_t cap, size_t size, pool_make_fn *make,
	   pool_clear_fn *clear, void *arg, struct err *e)
{
	pthread_condattr_t ca;
	struct pool *p;

	*out = NULL;
	if (cap == 0)
		return 0;
	p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->low, &ca);
	pthread_condattr_destroy(&ca);
	p->v = xcalloc(cap, size);
	p->size = size;
	p->cap = cap;
	p->make = make;
	p->clear = clear;
	p->arg = arg;
	snprintf(p->name, sizeof(p->name), "%s", thread_name);
	if (pthread_create(&p->th, NULL, pool_main, p) != 0) {
		free(p->v);
		free(p);
		return err_set(e, ERR_INTERNAL, "%s: cannot start its thread", thread_name);
	}
	*out = p;
	return 0;
}

void
pool_stop(struct pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_signal(&p->low);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	for (size_t i = 0; i < p->n; i++)
		p->clear(p->v + i * p->size);
	sodium_memzero(p->v, p->cap * p->size);
	free(p->v);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->low);
	free(p);
}

int
pool_take(struct pool *p, void *item)
{
	if (p == NULL)
		return 1;
	pthread_mutex_lock(&p->mu);
	if (p->n == 0) {
		p->misses++;
		pthread_mutex_unlock(&p->mu);
		return 1;
	}
	p->n--;
	memcpy(item, p->v + p->n * p->size, p->size);
	sodium_memzero(p->v + p->n * p->size, p->size);
	p->taken++;
	clock_gettime(CLOCK_MONOTONIC, &p->last_take);
	pthread_cond_signal(&p->low);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void
pool_stats(struct pool *p, size_t *ready, unsigned long *taken, unsigned long *misses)
{
	*ready = 0;
	*taken = *misses = 0;
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	*ready = p->n;
	*taken = p->taken;
	*misses = p->misses;
	pthread_mutex_unlock(&p->mu);
}
