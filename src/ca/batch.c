/*
 * batch: group commit.  Issuing threads queue their certificate and wait; one thread with its
 * own store connection writes everything queued in one transaction (one fsync for the lot)
 * and wakes them.  A certificate counts as issued only once its transaction committed.
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
	const struct store_cert *rec;
	const char *actor;
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

/* Writes items [first, up to n) in one transaction; sets each item's rc. */
static void
batch_write(struct ca_batch *b, struct batch_item *first, size_t n)
{
	struct batch_item *it;
	struct err e;
	char *detail;
	size_t i;
	int ok = 0;

	err_clear(&e);
	if (store_begin(b->st, &e) == -1)
		goto fail;
	for (it = first, i = 0; i < n; it = it->next, i++) {
		err_clear(&it->err);
		if (store_cert_insert(b->st, it->rec, &it->err) == -1) {
			if (it->err.code == ERR_CONFLICT) {
				it->rc = -1; /* this one re-draws its serial; the batch goes on */
				continue;
			}
			err_set(&e, it->err.code, "%s", it->err.msg);
			goto fail;
		}
		detail = ca_issue_detail(it->rec);
		ok = store_audit_append(b->st, it->actor, "cert.issue", it->rec->serial, detail,
					NULL, &e) == 0;
		free(detail);
		if (!ok)
			goto fail;
		it->rc = 0;
	}
	if (store_commit(b->st, &e) == -1)
		goto fail;
	return;
fail:
	store_rollback(b->st);
	for (it = first, i = 0; i < n; it = it->next, i++) {
		it->rc = -1;
		err_clear(&it->err);
		err_set(&it->err, e.code == ERR_OK ? ERR_INTERNAL : e.code, "%s",
			e.code == ERR_OK ? "store: batch failed" : e.msg);
		if (it->err.code == ERR_CONFLICT)
			it->err.code = ERR_INTERNAL;
	}
}

static void *
batch_main(void *arg)
{
	struct ca_batch *b = arg;
	struct batch_item *first, *it;
	size_t n, i;

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
	log_debug("batch: %llu certificates in %llu transactions",
		  (unsigned long long)b->items, (unsigned long long)b->batches);
	store_close(b->st);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->work);
	free(b);
	ca->batch = NULL;
}

int
ca_batch_submit(struct ca_batch *b, const struct store_cert *rec, const char *actor,
		struct err *e)
{
	struct batch_item it;

	memset(&it, 0, sizeof(it));
	it.rec = rec;
	it.actor = actor;
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
