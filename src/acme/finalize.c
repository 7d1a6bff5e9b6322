/*
 * finalize's issuance off the request thread (RFC 8555 7.4: "processing" with Retry-After
 * while the certificate is being issued).  The request checks the order and the CSR and moves
 * the order ready -> processing (ra_acme_finalize_ex, in a thread of its own); once it is
 * processing the request waits acme.finalize_wait_ms for the signature.  A signer that answers
 * in time gives the order valid at once, as before; a slow one (busy, a PKCS#11 token) gives
 * the order processing with Retry-After: 1, and the thread finishes it: the order moves
 * processing -> valid in the certificate's own transaction (so never two certificates: the
 * move is conditional), or back to ready when the issuance failed.  At most ACME_FINALIZE_MAX
 * run at once (else the request signs itself, as before); shutdown waits for them
 * (acme_finalize_drain); what a crash leaves processing is swept (ra_acme_order_get after
 * RA_ACME_STALE, and ra_acme_order_sweep_start at start).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme_int.h"

struct fjob {
	pthread_cond_t cv; /* under finalize_mu */
	int refs;	   /* the request and the thread */
	int moved, done;
	enum ra_acme_outcome r;
	struct err e;
	struct ra_acme_limited hit;
	struct ra_acme_order out; /* handed to the request, else cleared here */
	struct ca *ca;
	int64_t id;
	struct ra_acme_account acct; /* without its jwk and contact */
	unsigned char *der;
	size_t len;
	char actor[96];
	long delay_ms;
};

static pthread_mutex_t finalize_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t finalize_cv = PTHREAD_COND_INITIALIZER; /* finalize_running fell */
static int finalize_running;				      /* under finalize_mu */

/* Drops one reference of j (under finalize_mu); the last frees it. */
static void
fjob_unref(struct fjob *j)
{
	if (--j->refs > 0)
		return;
	ra_acme_order_clear(&j->out);
	pthread_cond_destroy(&j->cv);
	free(j->der);
	free(j);
}

/* ra_acme_finalize_ex's hook: the order is processing; the test's slow signer sleeps here. */
static void
fjob_moved(void *arg)
{
	struct fjob *j = arg;
	long ms = j->delay_ms;

	pthread_mutex_lock(&finalize_mu);
	j->moved = 1;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&finalize_mu);
	if (ms > 0) {
		struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
}

static void *
fjob_main(void *arg)
{
	struct fjob *j = arg;
	struct store *st;
	enum ra_acme_outcome r = RA_ACME_ERROR;
	struct ra_acme_limited hit;
	struct ra_acme_order out;
	struct err e;

	err_clear(&e);
	memset(&hit, 0, sizeof(hit));
	memset(&out, 0, sizeof(out));
	if ((st = ca_thread_store(j->ca, &e)) != NULL)
		r = ra_acme_finalize_ex(j->ca, st, j->id, &j->acct, &acme.limits, &hit, j->der,
					j->len, j->actor, &out, fjob_moved, j, &e);
	pthread_mutex_lock(&finalize_mu);
	if (r != RA_ACME_OK && j->refs == 1)
		log_warn("acme: order %" PRId64 ": the issuance after its answer failed: %s", j->id,
			 e.msg);
	j->r = r;
	j->e = e;
	j->hit = hit;
	j->out = out; /* the last reference clears it */
	j->done = 1;
	pthread_cond_broadcast(&j->cv);
	fjob_unref(j);
	finalize_running--;
	pthread_cond_broadcast(&finalize_cv);
	pthread_mutex_unlock(&finalize_mu);
	return NULL;
}

/* An absolute CLOCK_REALTIME time ms from now. */
static struct timespec
finalize_until(long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

enum ra_acme_outcome
acme_finalize_run(struct acme_ctx *c, int64_t id, const unsigned char *der, size_t len,
		  struct ra_acme_limited *hit, struct ra_acme_order *out, int *processing,
		  struct err *e)
{
	struct fjob *j;
	struct timespec until;
	pthread_attr_t at;
	pthread_t t;
	enum ra_acme_outcome r;
	int started = 0;

	*processing = 0;
	j = xcalloc(1, sizeof(*j));
	pthread_cond_init(&j->cv, NULL);
	j->refs = 2;
	j->ca = c->ca;
	j->id = id;
	j->acct = c->acct;
	j->acct.jwk = j->acct.contact = NULL;
	j->der = xmalloc(len > 0 ? len : 1);
	memcpy(j->der, der, len);
	j->len = len;
	snprintf(j->actor, sizeof(j->actor), "%s", c->actor);
	j->delay_ms = acme.test_sign_delay_ms;
	err_clear(&j->e);
	pthread_mutex_lock(&finalize_mu);
	if (finalize_running < ACME_FINALIZE_MAX && pthread_attr_init(&at) == 0) {
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, fjob_main, j) == 0) {
			finalize_running++;
			started = 1;
		}
		pthread_attr_destroy(&at);
	}
	if (!started) {
		/* no thread: the request signs, as it always could */
		pthread_mutex_unlock(&finalize_mu);
		r = ra_acme_finalize(c->ca, c->st, id, &c->acct, &acme.limits, hit, der, len,
				     c->actor, out, e);
		pthread_mutex_lock(&finalize_mu);
		j->refs = 1;
		fjob_unref(j);
		pthread_mutex_unlock(&finalize_mu);
		return r;
	}
	/* the checks before processing are the store's reads: waited for (bounded all the same) */
	until = finalize_until(30000);
	while (!j->done && !j->moved && pthread_cond_timedwait(&j->cv, &finalize_mu, &until) == 0)
		;
	until = finalize_until(acme.finalize_wait_ms);
	while (!j->done && pthread_cond_timedwait(&j->cv, &finalize_mu, &until) == 0)
		;
	if (j->done) {
		r = j->r;
		*e = j->e;
		*hit = j->hit;
		*out = j->out; /* now the request's */
		memset(&j->out, 0, sizeof(j->out));
	} else {
		r = RA_ACME_OK;
		*processing = 1;
	}
	fjob_unref(j);
	pthread_mutex_unlock(&finalize_mu);
	return r;
}

void
acme_finalize_sweep_start(struct ca *ca)
{
	struct store *st;
	size_t n = 0;
	struct err e;

	err_clear(&e);
	if (!acme.enabled)
		return;
	if ((st = ca_thread_store(ca, &e)) == NULL ||
	    ra_acme_order_sweep_start(st, util_now(), &n, &e) == -1)
		log_warn("acme: the orders left processing are not swept: %s", e.msg);
	else if (n > 0)
		log_warn("acme: %zu orders left processing by a stop made invalid", n);
}

void
acme_finalize_drain(void)
{
	struct timespec until = finalize_until((long)ACME_DRAIN_S * 1000);

	pthread_mutex_lock(&finalize_mu);
	while (finalize_running > 0 &&
	       pthread_cond_timedwait(&finalize_cv, &finalize_mu, &until) == 0)
		;
	if (finalize_running > 0)
		log_warn("acme: %d issuances still running at shutdown", finalize_running);
	pthread_mutex_unlock(&finalize_mu);
}
