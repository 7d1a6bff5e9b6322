/*
 * batch: group commit.  A writing thread queues its unit of work (a function that writes
 * through the store it is given) and waits; one thread with its own store connection runs
 * everything queued in one transaction, each unit under its own savepoint, commits once (one
 * fsync for the lot) and wakes them.  A unit that fails is undone alone; a failed commit fails
 * them all.  Nothing counts as written before its transaction committed.
 */
#include <pthread.h>
#include <semaphore.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "batch.h"

struct batch_item {
	ca_write_fn fn;
	void *arg;
	sem_t done; /* its own, posted once: waiters wake without touching the queue lock */
	int rc;
	struct err err;
	struct batch_item *next;
};

struct ca_batch {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work; /* queue became non-empty, or stop */
	struct batch_item *head, *tail;
	size_t max;
	int stop;
	struct store *st;
	uint64_t batches, items;
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

/* Writes items [first, up to n) in one transaction; sets each item's rc. */
static void
batch_write(struct ca_batch *b, struct batch_item *first, size_t n)
{
	struct batch_item *it;
	struct err e;
	size_t i;

	err_clear(&e);
	if (store_begin(b->st, &e) == -1)
		goto fail;
	for (it = first, i = 0; i < n; it = it->next, i++)
		if (batch_unit(b->st, it, &e) == -1)
			goto fail;
	if (store_commit(b->st, &e) == -1)
		goto fail;
	return;
fail:
	store_rollback(b->st);
	for (it = first, i = 0; i < n; it = it->next, i++) {
		it->rc = -1;
		err_clear(&it->err);
		err_set(&it->err,
			e.code == ERR_OK || e.code == ERR_CONFLICT ? ERR_INTERNAL : e.code, "%s",
			e.code == ERR_OK ? "store: batch failed" : e.msg);
	}
}

static void *
batch_main(void *arg)
{
	struct ca_batch *b = arg;
	struct batch_item *first, *it;
	size_t n, i;

	util_thread_name("shomei-batch");
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
		pthread_mutex_unlock(&b->mu);

		batch_write(b, first, n);

		for (it = first, i = n; i > 0; i--) {
			struct batch_item *next = it->next;

			sem_post(&it->done); /* it may vanish from here on */
			it = next;
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

/* Queues fn and waits until what it wrote is durable (or undone). */
static int
batch_run(struct ca_batch *b, ca_write_fn fn, void *arg, struct err *e)
{
	struct batch_item it;

	memset(&it, 0, sizeof(it));
	it.fn = fn;
	it.arg = arg;
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
	sem_destroy(&it.done);
	if (it.rc == -1)
		return err_set(e, it.err.code, "%s", it.err.msg);
	return 0;
}

int
ca_write(struct ca *ca, struct store *st, ca_write_fn fn, void *arg, struct err *e)
{
	struct err re;

	if (ca->batch != NULL)
		return batch_run(ca->batch, fn, arg, e);
	/* no batcher (the CLI): a transaction of its own on the caller's connection */
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
