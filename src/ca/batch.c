/*
 * batch: group commit.  A writing thread queues its unit of work (a function that writes
 * through the store it is given) and waits; one thread with its own store connection runs
 * everything queued in one transaction, each unit under its own savepoint, commits once and
 * wakes them.  A unit that fails is undone alone; a failed commit fails them all.  Nothing
 * counts as written before its transaction is durable.
 *
 * The fsync is pipelined (SQLite; store_defer_sync): the batch thread commits without waiting
 * for the disk and goes on with the next batch at once, while the first writer of the batch
 * it committed (its leader) syncs the WAL and then wakes the others.  A writer therefore waits
 * for its own batch's fsync only, not also for the one of the batch before it, and the syncs
 * of consecutive batches overlap.  A batch is visible to other connections from its commit
 * but reported to nobody before its sync: a later batch that read it is reported after its own
 * sync, which covers the earlier batch too (the WAL is written in order).  On PostgreSQL each
 * commit is durable by itself and everyone is woken by the batch thread.
 *
 * A batch whose commit was made but whose durability step failed (the leader's fsync, or a
 * COMMIT whose answer was lost) is visible to everyone and may or may not survive a crash:
 * its writers are told ERR_UNKNOWN ("outcome unknown"), never "failed", because other
 * requests may already have read and acted on what they wrote.  A writer whose own unit was
 * refused (undone under its savepoint) keeps its own error: that one surely failed.
 *
 * On PostgreSQL the batch's connection pipelines (store_pipeline): a unit's statements whose
 * answers nobody reads (its savepoint, its release, audit entries) travel with its next
 * statement that waits, and store_flush() before the release makes a failure among them that
 * unit's.  Units that may run again (ca_write_again: an issuance without a caller's records)
 * go first, in an optimistic run without savepoints in which nothing waits (batch_fast): one
 * round trip for all of them instead of about four per unit.  Should anything in that run
 * fail, the transaction is rolled back and the batch runs again the exact way above, so a
 * failing unit is still undone alone.
 */
#include <pthread.h>
#include <semaphore.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "batch.h"

/*
 * The batch thread runs at nice -10 where the system allows it (root, CAP_SYS_NICE): every
 * issuance waits for it, and at nice 0 it waited behind the other threads of the 2-core
 * machine's bursts (the mail sender, the checkpointer).  Same-run pairs of bench/portal, with
 * the signer's receiver thread likewise: POST /issue/confirm srv p99 3.64/3.60/4.69 ms against
 * 4.07/4.71/5.17 at nice 0.
 */
#define BATCH_NICE (-10)

struct batch_item {
	ca_write_fn fn;
	void *arg;
	sem_t done; /* its own, posted once: waiters wake without touching the queue lock */
	int rc;
	struct err err;
	size_t lead; /* >0: the first of a committed batch of lead items, which it syncs */
	int again;   /* fn may run again after a rolled-back run (ca_write_again) */
	struct batch_item *next;
};

struct ca_batch {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work; /* queue became non-empty, or stop */
	struct batch_item *head, *tail;
	size_t max;
	int stop;
	int deferred;  /* commits are made durable by the leaders (store_sync) */
	int pipelined; /* store_pipeline: statements travel without waiting (PostgreSQL) */
	int exact;     /* no optimistic run (batch_fast): a test injects statement faults */
	struct store *st;
	uint64_t batches, items;
	/* tests (ca_batch_fault): a store_fault_set() for the batch thread's connection */
	int fault_pending, fault_commit;
	long fault_stmt;
};

/* Runs one unit under a savepoint; a failing unit is undone and the transaction goes on. */
static int
batch_unit(struct store *st, struct batch_item *it, struct err *e)
{
	struct err re;

	err_clear(&it->err);
	if (store_savepoint(st, e) == -1)
		return -1;
	it->rc = it->fn(st, it->arg, &it->err);
	if (it->rc == 0) /* its statements sent without waiting (store_pipeline) answered */
		it->rc = store_flush(st, &it->err);
	if (it->rc == 0)
		return store_savepoint_release(st, e);
	if (it->err.code == ERR_OK)
		err_set(&it->err, ERR_INTERNAL, "store: a write failed");
	err_clear(&re);
	if (store_savepoint_rollback(st, &re) == -1) {
		*e = re;
		return -1;
	}
	return 0;
}

/* Sets the rc and error of n items from first on. */
static void
batch_fail(struct batch_item *first, size_t n, const struct err *e, const char *what)
{
	struct batch_item *it;
	size_t i;

	for (it = first, i = 0; i < n; it = it->next, i++) {
		it->rc = -1;
		err_clear(&it->err);
		err_set(&it->err,
			e->code == ERR_OK || e->code == ERR_CONFLICT ? ERR_INTERNAL : e->code, "%s",
			e->code == ERR_OK ? what : e->msg);
	}
}

/*
 * The batch of n items from first was committed, and then its durability failed (e says how,
 * ERR_UNKNOWN): each item that wrote is told the outcome is unknown; a refused one keeps its
 * own error.
 */
static void
batch_unknown(struct batch_item *first, size_t n, const struct err *e)
{
	struct batch_item *it;
	size_t i;

	log_warn("batch: %zu writes committed but not known to be durable: %s", n, e->msg);
	for (it = first, i = 0; i < n; it = it->next, i++) {
		if (it->rc == -1)
			continue;
		it->rc = -1;
		err_clear(&it->err);
		err_set(&it->err, ERR_UNKNOWN,
			"store: outcome unknown: committed, but not confirmed durable (%s)",
			e->msg);
	}
}

/*
 * The optimistic run of the batch's ca_write_again() items, first in its transaction: no
 * savepoints, and nothing waits for the database's answers (PostgreSQL's pipeline, see
 * store_optimistic) until one store_flush() at the end.  -1: one of them failed, which one is
 * not known: the caller rolls back and runs the batch again, each item under its savepoint.
 */
static int
batch_fast(struct ca_batch *b, struct batch_item *first, size_t n)
{
	struct batch_item *it;
	struct err e;
	size_t i, m = 0;
	int rc = -1;

	store_optimistic(b->st, 1);
	for (it = first, i = 0; i < n; it = it->next, i++) {
		if (!it->again)
			continue;
		err_clear(&it->err);
		if ((it->rc = it->fn(b->st, it->arg, &it->err)) == -1)
			goto out;
		m++;
	}
	err_clear(&e);
	/* nothing but the commit follows when every unit took this run */
	if (m > 0 && (m == n ? store_flush_last(b->st, &e) : store_flush(b->st, &e)) == -1)
		goto out;
	rc = 0;
out:
	store_optimistic(b->st, 0);
	if (rc == -1)
		log_debug("batch: the optimistic run of %zu writes failed: run again one by one",
			  n);
	return rc;
}

/* Writes items [first, up to n) in one transaction; sets each item's rc; -1: not committed. */
static int
batch_write(struct ca_batch *b, struct batch_item *first, size_t n)
{
	struct batch_item *it;
	struct err e;
	size_t i;
	int fast = b->pipelined && !b->exact;

	err_clear(&e);
again:
	/* the audit head first: every batch locks in one order (rows after it), so batches of
	 * front ends sharing PostgreSQL never deadlock (a used nonce's row, then the head) */
	if (store_begin(b->st, &e) == -1 || store_audit_lock(b->st, &e) == -1)
		goto fail;
	if (fast && batch_fast(b, first, n) == -1) {
		store_rollback(b->st);
		fast = 0;
		goto again;
	}
	for (it = first, i = 0; i < n; it = it->next, i++)
		if (!(fast && it->again) && batch_unit(b->st, it, &e) == -1)
			goto fail;
	if (store_commit(b->st, &e) == -1) {
		if (e.code == ERR_UNKNOWN) { /* made, perhaps: nobody is told "failed" */
			batch_unknown(first, n, &e);
			return -1;
		}
		goto fail;
	}
	return 0;
fail:
	store_rollback(b->st);
	batch_fail(first, n, &e, "store: batch failed");
	return -1;
}

static void *
batch_main(void *arg)
{
	struct ca_batch *b = arg;
	struct batch_item *first, *it;
	size_t n, i;

	util_thread_name("shomei-batch");
	(void)util_thread_nice(BATCH_NICE);
	pthread_mutex_lock(&b->mu);
	for (;;) {
		while (b->head == NULL && !b->stop)
			pthread_cond_wait(&b->work, &b->mu);
		if (b->head == NULL && b->stop)
			break;
		first = b->head;
		for (n = 1, it = first; it->next != NULL && n < b->max; it = it->next)
			n++;
		b->head = it->next;
		if (b->head == NULL)
			b->tail = NULL;
		if (b->fault_pending) {
			store_fault_set(b->st, b->fault_stmt, b->fault_commit);
			b->exact |=
			    b->fault_stmt != 0; /* the fault hits the run it was meant for */
			b->fault_pending = 0;
		}
		pthread_mutex_unlock(&b->mu);

		if (batch_write(b, first, n) == 0 && b->deferred) {
			first->lead = n; /* it syncs, then wakes the others */
			sem_post(&first->done);
		} else {
			for (it = first, i = n; i > 0; i--) {
				struct batch_item *next = it->next;

				sem_post(&it->done); /* it may vanish from here on */
				it = next;
			}
		}
		pthread_mutex_lock(&b->mu);
		b->batches++;
		b->items += n;
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

int
ca_batch_start(struct ca *ca, size_t max_batch, struct err *e)
{
	struct ca_batch *b;

	if (ca->batch != NULL)
		return 0;
	b = xcalloc(1, sizeof(*b));
	b->max = max_batch > 0 ? max_batch : 512;
	if (ca_store_open(ca, &b->st, e) == -1) {
		free(b);
		return -1;
	}
	if ((b->deferred = store_defer_sync(b->st, e)) == -1 ||
	    (b->pipelined = store_pipeline(b->st, e)) == -1) {
		store_close(b->st);
		free(b);
		return -1;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->work, NULL);
	if (pthread_create(&b->thread, NULL, batch_main, b) != 0) {
		store_close(b->st);
		free(b);
		return err_set(e, ERR_INTERNAL, "batch: cannot start thread");
	}
	ca->batch = b;
	return 0;
}

void
ca_batch_stop(struct ca *ca)
{
	struct ca_batch *b = ca->batch;

	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = 1;
	pthread_cond_broadcast(&b->work);
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->thread, NULL);
	log_debug("batch: %llu writes in %llu transactions", (unsigned long long)b->items,
		  (unsigned long long)b->batches);
	store_close(b->st);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->work);
	free(b);
	ca->batch = NULL;
}

/*
 * The leader of a committed batch: makes it durable, then wakes the others.  Should the sync
 * fail, nobody is told that the batch was written (it may not survive a crash), nor that it
 * failed (it is visible, and may survive): ERR_UNKNOWN (batch_unknown).
 */
static void
batch_lead(struct ca_batch *b, struct batch_item *first)
{
	struct batch_item *it, *next;
	struct err e;
	size_t i, n = first->lead;

	err_clear(&e);
	if (store_sync(b->st, &e) == -1)
		batch_unknown(first, n, &e);
	for (it = first->next, i = 1; i < n; i++) {
		next = it->next;
		sem_post(&it->done); /* it may vanish from here on */
		it = next;
	}
}

/* Queues fn and waits until what it wrote is durable (or undone). */
static int
batch_run(struct ca_batch *b, ca_write_fn fn, void *arg, int again, struct err *e)
{
	struct batch_item it;

	memset(&it, 0, sizeof(it));
	it.fn = fn;
	it.arg = arg;
	it.again = again;
	if (sem_init(&it.done, 0, 0) != 0)
		return err_set(e, ERR_INTERNAL, "batch: sem_init failed");
	pthread_mutex_lock(&b->mu);
	if (b->stop) {
		pthread_mutex_unlock(&b->mu);
		sem_destroy(&it.done);
		return err_set(e, ERR_INTERNAL, "batch: stopped");
	}
	if (b->tail != NULL)
		b->tail->next = &it;
	else
		b->head = &it;
	b->tail = &it;
	pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->mu);
	while (sem_wait(&it.done) == -1 && errno == EINTR)
		;
	if (it.lead > 0)
		batch_lead(b, &it);
	sem_destroy(&it.done);
	if (it.rc == -1)
		return err_set(e, it.err.code, "%s", it.err.msg);
	return 0;
}

void
ca_batch_fault(struct ca *ca, long fail_stmt, int fail_commit)
{
	struct ca_batch *b = ca->batch;

	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	b->fault_pending = 1;
	b->fault_stmt = fail_stmt;
	b->fault_commit = fail_commit;
	pthread_mutex_unlock(&b->mu);
}

/* ---- one transaction for many writers (ca_tx) ---- */

struct ca_tx {
	pthread_mutex_t mu;
	struct store *st;
	int begun;
};

/* The transaction this thread's ca_write() calls join (ca_tx_join), or NULL. */
static __thread struct ca_tx *ca_tx_cur;

int
ca_tx_new(struct ca *ca, struct ca_tx **out, struct err *e)
{
	struct ca_tx *tx = xcalloc(1, sizeof(*tx));

	*out = NULL;
	if (ca_store_open(ca, &tx->st, e) == -1) {
		free(tx);
		return -1;
	}
	pthread_mutex_init(&tx->mu, NULL);
	*out = tx;
	return 0;
}

void
ca_tx_join(struct ca_tx *tx)
{
	ca_tx_cur = tx;
}

int
ca_tx_write(struct ca_tx *tx, ca_write_fn fn, void *arg, struct err *e)
{
	struct err re;
	int rc = -1;

	pthread_mutex_lock(&tx->mu);
	if (!tx->begun) {
		if (store_begin(tx->st, e) == -1)
			goto out;
		tx->begun = 1;
	}
	if (store_savepoint(tx->st, e) == -1)
		goto out;
	if (fn(tx->st, arg, e) == -1) {
		if (e->code == ERR_OK)
			err_set(e, ERR_INTERNAL, "store: a write failed");
		err_clear(&re);
		if (store_savepoint_rollback(tx->st, &re) == -1)
			log_warn("ca: transaction: %s", re.msg);
		goto out;
	}
	if (store_savepoint_release(tx->st, e) == -1)
		goto out;
	rc = 0;
out:
	pthread_mutex_unlock(&tx->mu);
	return rc;
}

int
ca_tx_end(struct ca_tx *tx, int commit, struct err *e)
{
	int rc = 0;

	if (tx == NULL)
		return 0;
	if (ca_tx_cur == tx)
		ca_tx_cur = NULL;
	if (tx->begun && commit)
		rc = store_commit(tx->st, e);
	else if (tx->begun)
		store_rollback(tx->st);
	store_close(tx->st);
	pthread_mutex_destroy(&tx->mu);
	free(tx);
	return rc;
}

int
ca_write_own(struct store *st, ca_write_fn fn, void *arg, struct err *e)
{
	struct err re;

	if (store_begin(st, e) == -1)
		return -1;
	if (fn(st, arg, e) == -1) {
		store_rollback(st);
		if (e->code == ERR_OK)
			err_set(e, ERR_INTERNAL, "store: a write failed");
		return -1;
	}
	err_clear(&re);
	if (store_commit(st, &re) == -1) {
		*e = re;
		return -1;
	}
	return 0;
}

/* ca_write(), ca_write_again(): again says fn may run more than once. */
static int
ca_write_run(struct ca *ca, struct store *st, ca_write_fn fn, void *arg, int again, struct err *e)
{
	if (ca_tx_cur != NULL)
		return ca_tx_write(ca_tx_cur, fn, arg, e);
	if (ca->batch != NULL)
		return batch_run(ca->batch, fn, arg, again, e);
	/* no batcher (the CLI): a transaction of its own on the caller's connection */
	return ca_write_own(st, fn, arg, e);
}

int
ca_write(struct ca *ca, struct store *st, ca_write_fn fn, void *arg, struct err *e)
{
	return ca_write_run(ca, st, fn, arg, 0, e);
}

int
ca_write_again(struct ca *ca, struct store *st, ca_write_fn fn, void *arg, struct err *e)
{
	return ca_write_run(ca, st, fn, arg, 1, e);
}
