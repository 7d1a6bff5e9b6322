/*
 * pwhash: the application password's argon2id, made off the request threads.
 *
 * The issuance form (POST /issue/form) only queues the password and puts a handle on the
 * confirm page; the hash is made while the applicant reads that page, by a few threads at
 * nice 19, and Submit (POST /issue/confirm) takes it by the handle.  argon2id is costly on
 * purpose (~25 ms of CPU and 19 MiB here): made in the request, it tied up a request thread
 * for that long and a burst of forms held 19 MiB per request thread at once; here it is at
 * most `threads` hashes at a time, at the lowest priority, and never in a page's time unless
 * Submit comes before the hash is done.
 *
 * A job waits for a quiet moment like the pools (util/pool.c): no hash starts while forms keep
 * coming (the last less than PWHASH_QUIET_MS ago) unless the job is PWHASH_LATE_MS old, so
 * that the hashes of a burst do not compete with its requests.  Submit never waits for a
 * queued job: it takes it over and hashes in its own thread at its own priority; it waits
 * only for one that is being hashed.
 *
 * The passwords wait in one locked allocation (sodium_allocarray: guard pages, mlock when
 * allowed) and are wiped as soon as they are hashed; nothing of them is ever written to disk.
 * The table holds `slots` jobs for at most ttl_ms each; a job is forgotten after its Submit,
 * after ttl_ms, or when the table is full and a newer one needs its place (the oldest hashed
 * one).  When no place is left the form hashes in its request as before, and the confirm page
 * carries the hash itself (as it did before this module): a reference is either a handle
 * ("h" + base64url of 16 random bytes) or an argon2id string.  A forgotten handle (expired,
 * evicted, or the server restarted meanwhile) makes Submit ask for the password again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "portal_int.h"

_Static_assert(PWHASH_REF_MAX == crypto_pwhash_STRBYTES, "a reference holds a hash");

#define PWHASH_QUIET_MS 200
#define PWHASH_LATE_MS 1000
#define PWHASH_WAIT_S 60 /* bounds a Submit's wait for a hash being made (never reached) */
#define PWHASH_THREADS_MAX 8

enum pwjob_state { PWJ_FREE, PWJ_QUEUED, PWJ_RUNNING, PWJ_DONE };

struct pwjob {
	unsigned char id[PWHASH_ID_LEN];
	enum pwjob_state state;
	int forget; /* forgotten while being hashed: freed by whoever finishes it */
	uint64_t seq;
	struct timespec made; /* CLOCK_MONOTONIC */
	size_t pwlen;
	char pw[PWHASH_PW_MAX + 1];
	char hash[crypto_pwhash_STRBYTES];
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t work; /* a job was queued, or stop (CLOCK_MONOTONIC) */
	pthread_cond_t done; /* a job was hashed (CLOCK_MONOTONIC) */
	struct pwjob *jobs;
	size_t slots;
	unsigned nthreads;
	pthread_t th[PWHASH_THREADS_MAX];
	unsigned long long ops;
	size_t mem;
	long ttl_ms;
	uint64_t seq;
	struct timespec last_submit;
	int stop;
	struct pwhash_stats stats;
} pw = {.mu = PTHREAD_MUTEX_INITIALIZER};

static long
pw_since_ms(const struct timespec *t, const struct timespec *now)
{
	return (long)(now->tv_sec - t->tv_sec) * 1000L + (now->tv_nsec - t->tv_nsec) / 1000000L;
}

static struct timespec
pw_plus_ms(struct timespec t, long ms)
{
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static void
pw_free_job(struct pwjob *j)
{
	sodium_memzero(j, sizeof(*j)); /* state PWJ_FREE */
}

/* The argon2id string of j's password (lock not held; j is PWJ_RUNNING, so j is ours). */
static int
pw_hash_job(struct pwjob *j, char out[crypto_pwhash_STRBYTES])
{
	return crypto_pwhash_str_alg(out, j->pw, j->pwlen, pw.ops, pw.mem,
				     crypto_pwhash_ALG_ARGON2ID13);
}

/* With the lock: j (PWJ_RUNNING) hashed into out (rc of pw_hash_job); wakes the waiters. */
static void
pw_finish(struct pwjob *j, int rc, const char *out)
{
	sodium_memzero(j->pw, sizeof(j->pw));
	j->pwlen = 0;
	if (j->forget || rc != 0) {
		/* forgotten meanwhile, or out of memory: a waiter finds nothing and asks again */
		if (rc != 0)
			pw.stats.failed++;
		pw_free_job(j);
	} else {
		memcpy(j->hash, out, sizeof(j->hash));
		j->state = PWJ_DONE;
	}
	pthread_cond_broadcast(&pw.done);
}

/* With the lock: forgets the jobs older than ttl_ms that nobody is hashing. */
static void
pw_reap(const struct timespec *now)
{
	for (size_t i = 0; i < pw.slots; i++) {
		struct pwjob *j = &pw.jobs[i];

		if ((j->state == PWJ_QUEUED || j->state == PWJ_DONE) &&
		    pw_since_ms(&j->made, now) >= pw.ttl_ms) {
			if (j->state == PWJ_QUEUED)
				pw.stats.expired_unhashed++;
			pw_free_job(j);
		}
	}
}

/* With the lock: the oldest queued job, or NULL. */
static struct pwjob *
pw_oldest_queued(void)
{
	struct pwjob *best = NULL;

	for (size_t i = 0; i < pw.slots; i++)
		if (pw.jobs[i].state == PWJ_QUEUED && (best == NULL || pw.jobs[i].seq < best->seq))
			best = &pw.jobs[i];
	return best;
}

static void *
pw_main(void *arg)
{
	char out[crypto_pwhash_STRBYTES];

	(void)arg;
	util_thread_name("shomei-pwhash");
	(void)util_thread_nice(19);
	pthread_mutex_lock(&pw.mu);
	while (!pw.stop) {
		struct pwjob *j = pw_oldest_queued();
		struct timespec now, until;
		int rc;

		if (j == NULL) {
			pthread_cond_wait(&pw.work, &pw.mu);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (pw_since_ms(&pw.last_submit, &now) < PWHASH_QUIET_MS &&
		    pw_since_ms(&j->made, &now) < PWHASH_LATE_MS) {
			/* forms are still coming: wait for a quiet moment, or until j is late */
			struct timespec quiet = pw_plus_ms(pw.last_submit, PWHASH_QUIET_MS),
					late = pw_plus_ms(j->made, PWHASH_LATE_MS);

			until = (quiet.tv_sec < late.tv_sec ||
				 (quiet.tv_sec == late.tv_sec && quiet.tv_nsec < late.tv_nsec))
				    ? quiet
				    : late;
			(void)pthread_cond_timedwait(&pw.work, &pw.mu, &until);
			continue;
		}
		j->state = PWJ_RUNNING;
		pthread_mutex_unlock(&pw.mu);
		rc = pw_hash_job(j, out);
		pthread_mutex_lock(&pw.mu);
		pw.stats.hashed_ahead++;
		pw_finish(j, rc, out);
		sodium_memzero(out, sizeof(out));
	}
	pthread_mutex_unlock(&pw.mu);
	return NULL;
}

int
pwhash_start(size_t slots, unsigned threads, unsigned long long ops, size_t mem, long ttl_ms,
	     struct err *e)
{
	pthread_condattr_t ca;

	if (pw.jobs != NULL)
		return err_set(e, ERR_INTERNAL, "pwhash: already started");
	if (slots == 0 || threads == 0 || threads > PWHASH_THREADS_MAX || ttl_ms <= 0)
		return err_set(e, ERR_INTERNAL, "pwhash: bad settings");
	if (sodium_init() < 0 || (pw.jobs = sodium_allocarray(slots, sizeof(struct pwjob))) == NULL)
		return err_set(e, ERR_INTERNAL, "pwhash: out of memory");
	memset(pw.jobs, 0, slots * sizeof(struct pwjob));
	pw.slots = slots;
	pw.ops = ops;
	pw.mem = mem;
	pw.ttl_ms = ttl_ms;
	pw.stop = 0;
	pw.seq = 0;
	memset(&pw.stats, 0, sizeof(pw.stats));
	clock_gettime(CLOCK_MONOTONIC, &pw.last_submit);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pw.work, &ca);
	pthread_cond_init(&pw.done, &ca);
	pthread_condattr_destroy(&ca);
	for (pw.nthreads = 0; pw.nthreads < threads; pw.nthreads++)
		if (pthread_create(&pw.th[pw.nthreads], NULL, pw_main, NULL) != 0) {
			err_set(e, ERR_INTERNAL, "pwhash: cannot start a thread");
			pwhash_stop();
			return -1;
		}
	return 0;
}

void
pwhash_stop(void)
{
	if (pw.jobs == NULL)
		return;
	pthread_mutex_lock(&pw.mu);
	pw.stop = 1;
	pthread_cond_broadcast(&pw.work);
	pthread_mutex_unlock(&pw.mu);
	for (unsigned i = 0; i < pw.nthreads; i++)
		pthread_join(pw.th[i], NULL);
	/* a Submit still hashing in its request finishes first (bounded: PWHASH_WAIT_S) */
	pthread_mutex_lock(&pw.mu);
	for (int busy = 1; busy;) {
		struct timespec until;

		busy = 0;
		for (size_t i = 0; i < pw.slots; i++)
			busy |= pw.jobs[i].state == PWJ_RUNNING;
		if (!busy)
			break;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += PWHASH_WAIT_S;
		if (pthread_cond_timedwait(&pw.done, &pw.mu, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&pw.mu);
	sodium_free(pw.jobs); /* wipes */
	pw.jobs = NULL;
	pw.slots = 0;
	pw.nthreads = 0;
	pthread_cond_destroy(&pw.work);
	pthread_cond_destroy(&pw.done);
}

/* The argon2id of pw made here, into ref. */
static int
pw_inline(const char *pwd, size_t len, char ref[PWHASH_REF_MAX], struct err *e)
{
	if (crypto_pwhash_str_alg(ref, pwd, len, pw.jobs != NULL ? pw.ops : PORTAL_PW_OPSLIMIT,
				  pw.jobs != NULL ? pw.mem : PORTAL_PW_MEMLIMIT,
				  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return err_set(e, ERR_INTERNAL, "pwhash: argon2id: out of memory");
	return 0;
}

int
pwhash_submit(const char *pwd, char ref[PWHASH_REF_MAX], struct err *e)
{
	size_t len = strlen(pwd);
	struct pwjob *j = NULL, *evict = NULL;
	struct timespec now;

	if (pw.jobs == NULL || len > PWHASH_PW_MAX)
		return pw_inline(pwd, len, ref, e);
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&pw.mu);
	pw_reap(&now);
	for (size_t i = 0; i < pw.slots && j == NULL; i++) {
		if (pw.jobs[i].state == PWJ_FREE)
			j = &pw.jobs[i];
		else if (pw.jobs[i].state == PWJ_DONE &&
			 (evict == NULL || pw.jobs[i].seq < evict->seq))
			evict = &pw.jobs[i];
	}
	if (j == NULL && evict != NULL) {
		pw.stats.evicted++;
		pw_free_job(evict);
		j = evict;
	}
	if (j == NULL) {
		/* every place holds a password still to hash: this one is hashed here */
		pw.stats.inline_full++;
		pthread_mutex_unlock(&pw.mu);
		return pw_inline(pwd, len, ref, e);
	}
	util_random(j->id, sizeof(j->id));
	j->state = PWJ_QUEUED;
	j->forget = 0;
	j->seq = ++pw.seq;
	j->made = now;
	j->pwlen = len;
	memcpy(j->pw, pwd, len);
	j->pw[len] = '\0';
	pw.last_submit = now;
	pw.stats.queued++;
	ref[0] = 'h';
	web_b64url(ref + 1, PWHASH_REF_MAX - 1, j->id, sizeof(j->id));
	pthread_cond_signal(&pw.work);
	pthread_mutex_unlock(&pw.mu);
	return 0;
}

int
pwhash_is_handle(const char *ref)
{
	return ref[0] == 'h';
}

/* With the lock: the job of handle ref, or NULL. */
static struct pwjob *
pw_find(const char *ref)
{
	unsigned char id[PWHASH_ID_LEN];

	if (pw.jobs == NULL || ref[0] != 'h' || web_b64url_decode(id, sizeof(id), ref + 1) == -1)
		return NULL;
	for (size_t i = 0; i < pw.slots; i++)
		if (pw.jobs[i].state != PWJ_FREE && !pw.jobs[i].forget &&
		    util_memeq_ct(pw.jobs[i].id, id, sizeof(id)))
			return &pw.jobs[i];
	return NULL;
}

int
pwhash_get(const char *ref, char out[PWHASH_REF_MAX], long *waited_us, struct err *e)
{
	struct pwjob *j;
	struct timespec t0, now, until;
	int rc = 1;

	*waited_us = 0;
	if (!pwhash_is_handle(ref)) {
		/* the hash itself (made in the form's request) */
		if (strncmp(ref, "$argon2id$", 10) != 0 || strlen(ref) >= PWHASH_REF_MAX)
			return 1;
		snprintf(out, PWHASH_REF_MAX, "%s", ref);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	until = pw_plus_ms(t0, PWHASH_WAIT_S * 1000L);
	pthread_mutex_lock(&pw.mu);
	while ((j = pw_find(ref)) != NULL) {
		if (j->state == PWJ_DONE) {
			memcpy(out, j->hash, PWHASH_REF_MAX);
			rc = 0;
			break;
		}
		if (j->state == PWJ_QUEUED) {
			/* not started: hashed here, at this request's priority */
			char h[crypto_pwhash_STRBYTES];
			int hr;

			j->state = PWJ_RUNNING;
			pw.stats.hashed_in_submit++;
			pthread_mutex_unlock(&pw.mu);
			hr = pw_hash_job(j, h);
			pthread_mutex_lock(&pw.mu);
			pw_finish(j, hr, h);
			sodium_memzero(h, sizeof(h));
			if (hr != 0) {
				rc = err_set(e, ERR_INTERNAL, "pwhash: argon2id: out of memory");
				break;
			}
			continue;
		}
		/* being hashed by a hasher thread */
		pw.stats.waited++;
		if (pthread_cond_timedwait(&pw.done, &pw.mu, &until) == ETIMEDOUT) {
			rc = err_set(e, ERR_INTERNAL, "pwhash: no hash after %d s", PWHASH_WAIT_S);
			break;
		}
	}
	pthread_mutex_unlock(&pw.mu);
	clock_gettime(CLOCK_MONOTONIC, &now);
	*waited_us = (long)(now.tv_sec - t0.tv_sec) * 1000000L + (now.tv_nsec - t0.tv_nsec) / 1000L;
	return rc;
}

void
pwhash_forget(const char *ref)
{
	struct pwjob *j;

	pthread_mutex_lock(&pw.mu);
	if ((j = pw_find(ref)) != NULL) {
		if (j->state == PWJ_RUNNING)
			j->forget = 1;
		else
			pw_free_job(j);
	}
	pthread_mutex_unlock(&pw.mu);
}

void
pwhash_stats(struct pwhash_stats *s)
{
	pthread_mutex_lock(&pw.mu);
	*s = pw.stats;
	s->pending = 0;
	for (size_t i = 0; i < pw.slots; i++)
		if (pw.jobs[i].state == PWJ_QUEUED || pw.jobs[i].state == PWJ_RUNNING)
			s->pending++;
	pthread_mutex_unlock(&pw.mu);
}
