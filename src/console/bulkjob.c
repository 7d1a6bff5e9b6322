/*
 * bulkjob: the commits of bulk TSV files off the request thread (issue 13 part 5, "progress
 * shown for large files").  POST /bulk/commit hands the checked file to a job; one worker
 * thread runs the jobs one after the other (ra_bulk_commit, whose progress callback keeps the
 * job's line counters here, in memory, under the lock), and GET /bulk/job?id= shows the
 * counters on a page that refreshes itself until the job is done, then the result.
 *
 * Bounds: BULK_JOBS_MAX jobs at once (queued, running or finished); one queued or running
 * job per officer; a finished job is kept BULK_JOB_TTL seconds after it finished, or until
 * its slot is needed (the oldest finished job goes first).  A job belongs to the session that
 * started it (the SHA-256 of the session id and the officer's id): any other session or
 * officer gets "no such job".  Nothing of a job is in the store: a restart of the web process
 * forgets the jobs, and what the store holds is what ra_bulk_commit's transactions committed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "console_int.h"

enum bulk_job_state {
	BULK_JOB_FREE = 0,
	BULK_JOB_RESERVED, /* the request thread is claiming the form */
	BULK_JOB_QUEUED,
	BULK_JOB_RUNNING,
	BULK_JOB_DONE,
	BULK_JOB_FAILED, /* ra_bulk_commit could not run (view.e says why) */
};

struct bulk_job {
	enum bulk_job_state state;
	char id[CONSOLE_BULK_JOB_ID];
	unsigned char owner[32]; /* SHA-256 of the session id */
	int64_t officer_id;
	uint64_t seq; /* queue order */
	time_t finished;
	struct ra_officer officer;
	struct ra_bulk_commit_req q;
	struct ra_bulk_result res; /* owned until the job ran */
	struct console_bulk_view v;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a job queued, a job finished, stop */
	struct bulk_job jobs[CONSOLE_BULK_JOBS_MAX];
	struct ca *ca;
	pthread_t thread;
	int started, stop;
	uint64_t seq;
} bj = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void
bulk_job_owner(const char *sid, unsigned char out[32])
{
	unsigned int n = 0;

	if (EVP_Digest(sid, strlen(sid), out, &n, EVP_sha256(), NULL) != 1 || n != 32)
		fatalx("bulkjob: SHA-256 failed");
}

/* Frees what a job holds and marks its slot free.  Under the lock. */
static void
bulk_job_clear(struct bulk_job *j)
{
	ra_bulk_result_free(&j->res);
	free(j->v.out);
	if (j->v.zips != NULL) {
		ra_bulk_zips_wipe(j->v.zips);
		free(j->v.zips);
	}
	ra_bulk_eabs_free(j->v.eabs);
	memset(j, 0, sizeof(*j));
}

/* The progress callback: the counters under the lock. */
static void
bulk_job_progress(void *arg, int pass, size_t done, size_t total)
{
	struct bulk_job *j = arg;

	pthread_mutex_lock(&bj.mu);
	j->v.pass = pass;
	j->v.done = done;
	j->v.total = total;
	pthread_mutex_unlock(&bj.mu);
	if (console.bulk_delay_ms > 0 && done > 0) {
		struct timespec ts = {console.bulk_delay_ms / 1000,
				      (console.bulk_delay_ms % 1000) * 1000000L};

		nanosleep(&ts, NULL);
	}
}

/* The oldest queued job, or NULL.  Under the lock. */
static struct bulk_job *
bulk_job_next(void)
{
	struct bulk_job *best = NULL;
	size_t i;

	for (i = 0; i < CONSOLE_BULK_JOBS_MAX; i++)
		if (bj.jobs[i].state == BULK_JOB_QUEUED &&
		    (best == NULL || bj.jobs[i].seq < best->seq))
			best = &bj.jobs[i];
	return best;
}

/* The worker: runs the queued jobs one at a time until stopped. */
static void *
bulk_job_main(void *arg)
{
	struct bulk_job *j;
	struct ra_ocert_notify nt;
	struct ra_client_notify cnt;
	struct ra_bulk_zips *zips;
	struct ra_bulk_eabs *eabs;
	struct ra_bulk_outcome *out;
	struct ra_bulk_counts c;
	struct store *st;
	struct err e;
	size_t n;
	int r;

	(void)arg;
	pthread_mutex_lock(&bj.mu);
	while (!bj.stop) {
		if ((j = bulk_job_next()) == NULL) {
			pthread_cond_wait(&bj.cv, &bj.mu);
			continue;
		}
		j->state = BULK_JOB_RUNNING;
		j->q.officer = &j->officer;
		j->q.progress = bulk_job_progress;
		j->q.progress_arg = j;
		console_mail_ocert_notify(&console.mail, &nt);
		j->q.n = &nt;
		console_mail_client_notify(&console.mail, &cnt);
		j->q.cn = &cnt;
		zips = xcalloc(1, sizeof(*zips));
		j->q.zips = zips;
		eabs = xcalloc(1, sizeof(*eabs));
		j->q.eabs = eabs;
		j->q.acme_keys = console.acme_on ? &console.acme_keys : NULL;
		pthread_mutex_unlock(&bj.mu);
		/* the slot is RUNNING: nobody else frees or changes q, res or officer */
		out = NULL;
		n = 0;
		memset(&c, 0, sizeof(c));
		err_clear(&e);
		if ((st = ca_thread_store(bj.ca, &e)) == NULL)
			r = -1;
		else
			r = ra_bulk_commit(bj.ca, st, &j->q, &j->res, &out, &n, &c, &e);
		if (e.code != ERR_OK)
			log_warn("console: bulk job %s: %s", j->id, e.msg);
		pthread_mutex_lock(&bj.mu);
		j->v.out = out;
		j->v.nout = n;
		j->v.c = c;
		j->v.e = e;
		if (zips->n > 0) {
			j->v.zips = zips; /* the passwords: shown once, by the button's POST */
		} else {
			ra_bulk_zips_wipe(zips);
			free(zips);
		}
		j->q.zips = NULL;
		if (eabs->n > 0)
			j->v.eabs = eabs; /* the HMAC keys: shown once, as the passwords */
		else
			ra_bulk_eabs_free(eabs);
		j->q.eabs = NULL;
		j->v.encoding = j->res.encoding;
		j->state = r == -1 && out == NULL ? BULK_JOB_FAILED : BULK_JOB_DONE;
		j->finished = util_now();
		ra_bulk_result_free(&j->res);
		pthread_cond_broadcast(&bj.cv);
	}
	pthread_mutex_unlock(&bj.mu);
	return NULL;
}

int
console_bulk_job_reserve(struct ca *ca, const struct console_who *w, const char *sid, int *slot,
			 char id[CONSOLE_BULK_JOB_ID], struct err *e)
{
	struct bulk_job *j = NULL, *old = NULL;
	unsigned char rnd[16];
	time_t now = util_now();
	size_t i;
	int rc = -1;

	pthread_mutex_lock(&bj.mu);
	if (!bj.started) {
		bj.ca = ca;
		bj.stop = 0;
		if (pthread_create(&bj.thread, NULL, bulk_job_main, NULL) != 0) {
			err_set(e, ERR_INTERNAL, "bulkjob: cannot start the worker thread");
			goto out;
		}
		bj.started = 1;
	}
	for (i = 0; i < CONSOLE_BULK_JOBS_MAX; i++) {
		struct bulk_job *x = &bj.jobs[i];

		if ((x->state == BULK_JOB_DONE || x->state == BULK_JOB_FAILED) &&
		    now - x->finished > CONSOLE_BULK_JOB_TTL)
			bulk_job_clear(x);
		if (x->officer_id == w->o.id &&
		    (x->state == BULK_JOB_RESERVED || x->state == BULK_JOB_QUEUED ||
		     x->state == BULK_JOB_RUNNING)) {
			err_set(e, ERR_CONFLICT, "bulk: a file of this officer is being committed");
			goto out;
		}
	}
	for (i = 0; i < CONSOLE_BULK_JOBS_MAX && j == NULL; i++)
		if (bj.jobs[i].state == BULK_JOB_FREE)
			j = &bj.jobs[i];
	/* the oldest result, but never one whose ZIP passwords were not shown yet: they are the
	 * only copies (its TTL alone ends it) */
	for (i = 0; i < CONSOLE_BULK_JOBS_MAX && j == NULL; i++)
		if ((bj.jobs[i].state == BULK_JOB_DONE || bj.jobs[i].state == BULK_JOB_FAILED) &&
		    bj.jobs[i].v.zips == NULL && bj.jobs[i].v.eabs == NULL &&
		    (old == NULL || bj.jobs[i].finished < old->finished))
			old = &bj.jobs[i];
	if (j == NULL && old != NULL) {
		bulk_job_clear(old);
		j = old;
	}
	if (j == NULL) {
		err_set(e, ERR_UNKNOWN, "bulk: every job slot is busy");
		goto out;
	}
	j->state = BULK_JOB_RESERVED;
	util_random(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(j->id + 2 * i, 3, "%02x", rnd[i]);
	bulk_job_owner(sid, j->owner);
	j->officer_id = w->o.id;
	j->officer = w->o;
	memcpy(id, j->id, CONSOLE_BULK_JOB_ID);
	*slot = (int)(j - bj.jobs);
	rc = 0;
out:
	pthread_mutex_unlock(&bj.mu);
	return rc;
}

void
console_bulk_job_submit(int slot, const struct ra_bulk_commit_req *q, struct ra_bulk_result *res)
{
	struct bulk_job *j = &bj.jobs[slot];

	pthread_mutex_lock(&bj.mu);
	if (j->state != BULK_JOB_RESERVED)
		fatalx("bulkjob: submit of a slot not reserved");
	j->q = *q;
	j->res = *res;
	memset(res, 0, sizeof(*res)); /* the job owns it now */
	j->seq = ++bj.seq;
	j->v.kind = q->kind;
	j->v.mode = q->mode;
	/* what the page shows before the first line: the first pass over every good line */
	j->v.pass = q->mode == RA_BULK_ALL_OR_NOTHING ? 0 : 1;
	j->v.total = j->res.nrecs;
	j->state = BULK_JOB_QUEUED;
	pthread_cond_broadcast(&bj.cv);
	pthread_mutex_unlock(&bj.mu);
}

void
console_bulk_job_cancel(int slot)
{
	pthread_mutex_lock(&bj.mu);
	if (bj.jobs[slot].state == BULK_JOB_RESERVED)
		bulk_job_clear(&bj.jobs[slot]);
	pthread_mutex_unlock(&bj.mu);
}

/* The job id's slot for this session and officer, or NULL.  Under the lock. */
static struct bulk_job *
bulk_job_find(const char *id, const unsigned char owner[32], int64_t officer_id)
{
	size_t i;

	if (id == NULL || strlen(id) != CONSOLE_BULK_JOB_ID - 1)
		return NULL;
	for (i = 0; i < CONSOLE_BULK_JOBS_MAX; i++) {
		struct bulk_job *j = &bj.jobs[i];

		if (j->state != BULK_JOB_FREE && j->state != BULK_JOB_RESERVED &&
		    strcmp(j->id, id) == 0 && j->officer_id == officer_id &&
		    CRYPTO_memcmp(j->owner, owner, 32) == 0)
			return j;
	}
	return NULL;
}

void
console_bulk_job_wait(const char *id, long ms)
{
	struct timespec ts;
	struct bulk_job *j;
	size_t i;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&bj.mu);
	for (;;) {
		for (i = 0, j = NULL; i < CONSOLE_BULK_JOBS_MAX && j == NULL; i++)
			if (strcmp(bj.jobs[i].id, id) == 0)
				j = &bj.jobs[i];
		if (j == NULL || j->state == BULK_JOB_DONE || j->state == BULK_JOB_FAILED)
			break;
		if (pthread_cond_timedwait(&bj.cv, &bj.mu, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&bj.mu);
}

int
console_bulk_job_view(const char *id, const char *sid, int64_t officer_id, unsigned take,
		      struct console_bulk_view *v)
{
	unsigned char owner[32];
	struct bulk_job *j;
	size_t i;
	int rc = -1;

	memset(v, 0, sizeof(*v));
	bulk_job_owner(sid, owner);
	pthread_mutex_lock(&bj.mu);
	if ((j = bulk_job_find(id, owner, officer_id)) == NULL)
		goto out;
	*v = j->v;
	v->out = NULL;
	v->zips = NULL;
	v->eabs = NULL;
	memcpy(v->id, j->id, sizeof(v->id));
	v->zips_waiting = j->v.zips != NULL ? j->v.zips->n : 0;
	if ((take & CONSOLE_BULK_TAKE_ZIPS) && j->state == BULK_JOB_DONE && j->v.zips != NULL) {
		v->zips = j->v.zips; /* the ZIPs' passwords: to the button's POST, once */
		j->v.zips = NULL;
		j->v.zips_shown = v->zips_shown = util_now();
	}
	v->eabs_waiting = j->v.eabs != NULL ? j->v.eabs->n : 0;
	if ((take & CONSOLE_BULK_TAKE_EABS) && j->state == BULK_JOB_DONE && j->v.eabs != NULL) {
		v->eabs = j->v.eabs; /* the HMAC keys: to the button's POST, once */
		j->v.eabs = NULL;
		j->v.eabs_shown = v->eabs_shown = util_now();
	}
	v->queued = j->state == BULK_JOB_QUEUED;
	v->finished = j->state == BULK_JOB_DONE || j->state == BULK_JOB_FAILED;
	v->failed = j->state == BULK_JOB_FAILED;
	if (j->state == BULK_JOB_QUEUED)
		for (i = 0; i < CONSOLE_BULK_JOBS_MAX; i++)
			if ((bj.jobs[i].state == BULK_JOB_QUEUED && bj.jobs[i].seq < j->seq) ||
			    bj.jobs[i].state == BULK_JOB_RUNNING)
				v->ahead++;
	if (j->state == BULK_JOB_DONE && j->v.nout > 0) {
		v->out = xcalloc(j->v.nout, sizeof(*v->out));
		memcpy(v->out, j->v.out, j->v.nout * sizeof(*v->out));
	}
	rc = 0;
out:
	pthread_mutex_unlock(&bj.mu);
	return rc;
}

void
console_bulk_jobs_stop(void)
{
	size_t i;

	pthread_mutex_lock(&bj.mu);
	if (!bj.started) {
		pthread_mutex_unlock(&bj.mu);
		return;
	}
	bj.stop = 1;
	pthread_cond_broadcast(&bj.cv);
	pthread_mutex_unlock(&bj.mu);
	pthread_join(bj.thread, NULL); /* a running job finishes first */
	pthread_mutex_lock(&bj.mu);
	for (i = 0; i < CONSOLE_BULK_JOBS_MAX; i++)
		bulk_job_clear(&bj.jobs[i]);
	bj.started = 0;
	pthread_mutex_unlock(&bj.mu);
}
