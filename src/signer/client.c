/*
 * client: the stub that CLI and web processes use to reach the signer, and signer_spawn(),
 * which forks the signer.  The parent never sees key material: the child loads the keys after
 * the fork and only signatures (or refusal messages) come back over the socket.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "signer_local.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

/* The receiver hands every signature to its waiting caller: at nice -10 (see BATCH_NICE). */
#define SIGNER_RX_NICE (-10)

struct signer_pending {
	sem_t done; /* posted once, by the receiver or by whoever fails the stream */
	int rc;
	int queued; /* in the FIFO (qmu): not yet taken by the receiver or failed */
	size_t len; /* payload bytes of the request */
	uint32_t status;
	struct buf resp;
	char why[256];
	struct signer_pending *next;
};

static uint64_t
client_nanos(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Fails every queued caller (qmu held). */
static void
client_fail_all(struct signer_client *c, const char *why)
{
	struct signer_pending *p;

	while ((p = c->head) != NULL) {
		c->head = p->next;
		p->rc = -1;
		p->queued = 0;
		snprintf(p->why, sizeof(p->why), "%s", why);
		sem_post(&p->done); /* p may vanish from here on */
	}
	c->tail = NULL;
	c->queued = 0;
}

/*
 * Gives a socket a send timeout, so that a write to a signer that stopped reading fails
 * (EAGAIN) instead of blocking every caller behind the write lock for good.  Once per socket,
 * not per request; a descriptor that is not a socket (tests) is left as it is.
 */
static void
client_fd_setup(int fd, int timeout_ms)
{
	struct timeval tv;

	if (fd == -1)
		return;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/*
 * The receiver: reads responses in order and completes the caller at the head of the FIFO.
 * When the stream breaks it fails everyone pending and waits for reset_fd().  A socket that
 * reset_fd() replaced while the receiver held it (rx_fd) is closed here, once the receiver
 * has let go of it, so its number cannot be reused under a read.
 */
static void *
client_rx_main(void *arg)
{
	struct signer_client *c = arg;
	struct signer_pending *p;
	struct buf resp;
	struct err e;
	uint32_t status;
	uint64_t gen;
	int fd, r;

	util_thread_name("shomei-sigrx");
	(void)util_thread_nice(SIGNER_RX_NICE);
	pthread_mutex_lock(&c->qmu);
	for (;;) {
		if (c->rx_fd != -1 && c->rx_gen != c->gen) {
			close(c->rx_fd); /* replaced: reset_fd() left it to us */
			c->rx_fd = -1;
		}
		if (c->stopping)
			break;
		if (c->fd == -1 || c->broken) {
			pthread_cond_wait(&c->rxcv, &c->qmu);
			continue;
		}
		fd = c->rx_fd = c->fd;
		gen = c->rx_gen = c->gen;
		pthread_mutex_unlock(&c->qmu);

		err_clear(&e);
		r = signer_frame_read_kind(fd, SIGNER_FRAME_RESPONSE, -1, &status, &resp, &e);

		pthread_mutex_lock(&c->qmu);
		if (c->gen != gen) {
			if (r == 0)
				buf_free(&resp);
			continue; /* a new socket arrived meanwhile: its callers are not ours */
		}
		if (c->broken) {
			/* a late answer on a stream given up on (timeout): nobody's, dropped */
			if (r == 0)
				buf_free(&resp);
			continue;
		}
		if (r != 0 || (p = c->head) == NULL) {
			if (r == 0)
				buf_free(&resp);
			c->broken = 1;
			client_fail_all(c, r == 1   ? "signer: connection lost"
					   : r == 0 ? "signer: unexpected response"
						    : "signer: connection lost (bad frame)");
			continue;
		}
		c->head = p->next;
		if (c->head == NULL)
			c->tail = NULL;
		p->queued = 0;
		c->queued -= p->len;
		pthread_mutex_unlock(&c->qmu);
		p->status = status;
		p->resp = resp;
		p->rc = 0;
		sem_post(&p->done); /* the caller wakes without taking any lock */
		pthread_mutex_lock(&c->qmu);
	}
	pthread_mutex_unlock(&c->qmu);
	return NULL;
}

struct signer_client *
signer_client_new(int fd)
{
	struct signer_client *c;

	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->rx_fd = -1;
	c->timeout_ms = SIGNER_TIMEOUT_DEFAULT_MS;
	client_fd_setup(fd, c->timeout_ms);
	if (pthread_mutex_init(&c->wmu, NULL) != 0 || pthread_mutex_init(&c->qmu, NULL) != 0 ||
	    pthread_cond_init(&c->rxcv, NULL) != 0)
		fatalx("signer: pthread initialisation failed");
	if (pthread_create(&c->rx, NULL, client_rx_main, c) != 0)
		fatalx("signer: cannot start the receiver thread");
	c->rx_started = 1;
	return c;
}

void
signer_client_set_timeout(struct signer_client *c, int ms)
{
	pthread_mutex_lock(&c->wmu);
	pthread_mutex_lock(&c->qmu);
	c->timeout_ms = ms > 0 ? ms : 0;
	client_fd_setup(c->fd, c->timeout_ms);
	pthread_mutex_unlock(&c->qmu);
	pthread_mutex_unlock(&c->wmu);
}

void
signer_client_reset_fd(struct signer_client *c, int fd)
{
	int old, close_old = 0;

	pthread_mutex_lock(&c->wmu);
	pthread_mutex_lock(&c->qmu);
	client_fd_setup(fd, c->timeout_ms);
	old = c->fd;
	c->fd = fd;
	c->gen++;
	c->broken = 0;
	client_fail_all(c, "signer: connection lost (signer restarted)");
	if (old != -1 && old != fd) {
		/*
		 * Wakes a receiver blocked on the old socket (or about to read it): it sees the
		 * new generation and moves on.  While it may still read the old descriptor it
		 * stays open — the receiver closes it — so its number cannot be handed to another
		 * file under that read.  Done under qmu: the receiver may close it right after.
		 */
		shutdown(old, SHUT_RDWR);
		close_old = c->rx_fd != old;
	}
	pthread_cond_broadcast(&c->rxcv);
	pthread_mutex_unlock(&c->qmu);
	pthread_mutex_unlock(&c->wmu);
	/* the receiver never held it (nor will: it reads c->fd) and no writer has it (wmu) */
	if (close_old)
		close(old);
}

void
signer_client_free(struct signer_client *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->qmu);
	c->stopping = 1;
	pthread_cond_broadcast(&c->rxcv);
	if (c->fd != -1)
		shutdown(c->fd, SHUT_RDWR); /* the signer sees EOF; the receiver wakes */
	pthread_mutex_unlock(&c->qmu);
	if (c->rx_started)
		pthread_join(c->rx, NULL);
	if (c->fd != -1)
		close(c->fd);
	pthread_mutex_destroy(&c->wmu);
	pthread_mutex_destroy(&c->qmu);
	pthread_cond_destroy(&c->rxcv);
	free(c);
}

/*
 * The signer did not answer (or read) in time: gives up on the stream (qmu held).  Every
 * queued caller fails, later calls fail at once (broken) and the socket is shut down — the
 * receiver drops whatever still arrives on it, the signer sees EOF if it ever reads again.
 */
static void
client_hang(struct signer_client *c, int ms, const char *what)
{
	char why[128];

	snprintf(why, sizeof(why), "signer: no %s within %d ms (signer hung?)", what, ms);
	c->broken = 1;
	client_fail_all(c, why);
	shutdown(c->fd, SHUT_RDWR);
}

/* A CLOCK_REALTIME deadline (sem_timedwait's clock) ms from now. */
static void
client_deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * One request/response exchange, pipelined (see signer.h).  On success *status and resp are
 * set (resp is initialised here in every case).  A broken socket is ERR_INTERNAL "signer:
 * connection lost" for this caller and every caller queued with it; so is a timeout, "signer:
 * no answer within N ms".
 */
static int
client_call(struct signer_client *c, uint32_t op, const unsigned char *p, size_t len,
	    uint32_t *status, struct buf *resp, struct err *e)
{
	struct signer_pending me;
	struct timespec dl;
	uint64_t t0 = client_nanos(), gen;
	size_t ahead;
	long wait_ms = 0;
	int fd, w, r = 0, timeout, hung = 0;

	memset(&me, 0, sizeof(me));
	buf_init(resp, 0);
	if (sem_init(&me.done, 0, 0) != 0)
		return err_set(e, ERR_INTERNAL, "signer: sem_init: %s", strerror(errno));
	pthread_mutex_lock(&c->wmu);
	pthread_mutex_lock(&c->qmu);
	if (c->fd == -1 || c->broken) {
		pthread_mutex_unlock(&c->qmu);
		pthread_mutex_unlock(&c->wmu);
		sem_destroy(&me.done);
		return err_set(e, ERR_INTERNAL,
			       c->fd == -1 ? "signer: not connected"
					   : "signer: connection lost (signer not running)");
	}
	fd = c->fd;
	gen = c->gen;
	timeout = c->timeout_ms;
	/* queued before writing, so the FIFO is in the order the signer answers */
	me.queued = 1;
	me.len = len;
	if (c->tail != NULL)
		c->tail->next = &me;
	else
		c->head = &me;
	c->tail = &me;
	c->queued += len;
	ahead = c->queued;
	pthread_mutex_unlock(&c->qmu);
	w = signer_frame_write(fd, op, p, len);
	if (w == -1) {
		/* a frame cut short leaves the stream unusable for everyone (me included) */
		r = errno;
		pthread_mutex_lock(&c->qmu);
		if (!c->broken && timeout > 0 && (r == EAGAIN || r == EWOULDBLOCK)) {
			client_hang(c, timeout, "progress writing a request");
			hung = 1;
		} else {
			c->broken = 1;
			client_fail_all(c, "signer: connection lost (write failed)");
			shutdown(fd, SHUT_RDWR);
		}
		pthread_mutex_unlock(&c->qmu);
	}
	pthread_mutex_unlock(&c->wmu);
	if (timeout > 0) {
		wait_ms = timeout + (long)(ahead >> 20) * SIGNER_TIMEOUT_MS_PER_MIB;
		client_deadline(&dl, wait_ms);
		while ((r = sem_timedwait(&me.done, &dl)) == -1 && errno == EINTR)
			;
		if (r == -1) {
			pthread_mutex_lock(&c->qmu);
			/* still queued: no answer in time (else the answer is being handed over) */
			if (me.queued) {
				client_hang(c, (int)wait_ms, "answer");
				hung = 1;
			}
			pthread_mutex_unlock(&c->qmu);
		}
	}
	if (timeout <= 0 || r == -1)
		while (sem_wait(&me.done) == -1 && errno == EINTR)
			;
	sem_destroy(&me.done);
	if (hung) {
		__atomic_add_fetch(&c->hangs, 1, __ATOMIC_RELAXED);
		if (c->on_hang != NULL)
			c->on_hang(gen);
	}
	t0 = client_nanos() - t0;
	__atomic_add_fetch(&c->requests, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->nanos, t0, __ATOMIC_RELAXED);
	if (c->on_latency != NULL)
		c->on_latency((double)t0 / 1e9);
	if (me.rc == -1)
		return err_set(e, ERR_INTERNAL, "%s", me.why);
	*status = me.status;
	*resp = me.resp;
	return 0;
}

/* Turns a REFUSED answer into ERR_REFUSED with the signer's (escaped) message. */
static int
client_refused(const struct buf *resp, struct err *e)
{
	char msg[sizeof(e->msg)];

	log_escape(msg, sizeof(msg), (const char *)resp->data, resp->len);
	return err_set(e, ERR_REFUSED, "%s", msg[0] ? msg : "signer: refused");
}

int
signer_ping(struct signer_client *c, struct err *e)
{
	struct buf resp;
	uint32_t status = 0;
	int rc = -1;

	if (client_call(c, SIGNER_OP_PING, NULL, 0, &status, &resp, e) == -1)
		goto out;
	if (status == SIGNER_STATUS_REFUSED) {
		client_refused(&resp, e);
		goto out;
	}
	if (resp.len != 4 || memcmp(resp.data, "pong", 4) != 0) {
		err_set(e, ERR_INTERNAL, "signer: PING: unexpected answer");
		goto out;
	}
	rc = 0;
out:
	buf_free(&resp);
	return rc;
}

int
signer_sign(struct signer_client *c, enum signer_op op, const unsigned char *tbs, size_t len,
	    unsigned char **sig, size_t *siglen, struct err *e)
{
	struct buf resp;
	uint32_t status = 0;
	int rc = -1;

	*sig = NULL;
	*siglen = 0;
	buf_init(&resp, 0);
	/* an oversized or unknown frame would kill the signer: refuse it here */
	if (op == SIGNER_OP_PING || !signer_op_valid(op)) {
		err_set(e, ERR_INTERNAL, "signer: %s is not a signing op", signer_op_name(op));
		goto out;
	}
	if (len > signer_op_max(op)) {
		err_set(e, ERR_REFUSED, "signer: %s: %zu bytes exceed the maximum of %zu",
			signer_op_name(op), len, signer_op_max(op));
		goto out;
	}
	if (client_call(c, op, tbs, len, &status, &resp, e) == -1)
		goto out;
	if (status == SIGNER_STATUS_REFUSED) {
		client_refused(&resp, e);
		goto out;
	}
	if (resp.len == 0) {
		err_set(e, ERR_INTERNAL, "signer: %s: empty signature", signer_op_name(op));
		goto out;
	}
	*siglen = resp.len;
	*sig = resp.data;
	resp.data = NULL;
	rc = 0;
out:
	buf_free(&resp);
	return rc;
}

/*
 * _exit() skips LeakSanitizer's exit-time check, so sanitizer builds check the signer child
 * here: everything signer_proc() allocated must be freed by now (a leak ends the child with
 * LeakSanitizer's exit code, which the tests see).
 */
static void
client_child_leak_check(void)
{
#if defined(__SANITIZE_ADDRESS__)
	__lsan_do_leak_check();
#endif
}

/* waitpid() that retries on EINTR; returns the status or -1. */
static int
client_reap(pid_t pid)
{
	int status = -1;

	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	return status;
}

int
signer_spawn_fd(const struct conf *conf, int *fdp, pid_t *pidp, struct err *e)
{
	struct buf msg;
	struct err e2;
	uint32_t status = 0;
	int sv[2] = {-1, -1}, rc = -1, r, kill_child = 0, ws;
	char text[sizeof(e->msg)];
	pid_t pid = -1;

	*fdp = -1;
	if (pidp != NULL)
		*pidp = -1;
	buf_init(&msg, 0);
	err_clear(&e2);
	if (signer_engine_used()) {
		err_set(e, ERR_INTERNAL,
			"signer: this process has used a PKCS#11 module; a signer forked from it "
			"would inherit the module's state and login (start signers first)");
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		err_set(e, ERR_INTERNAL, "signer: socketpair: %s", strerror(errno));
		goto out;
	}
	fflush(NULL); /* no buffered output written twice */
	if ((pid = fork()) == -1) {
		err_set(e, ERR_INTERNAL, "signer: fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(sv[0]);
		r = signer_proc(sv[1], conf);
		client_child_leak_check();
		_exit(r);
	}
	close(sv[1]);
	sv[1] = -1;
	r = signer_frame_read_kind(sv[0], SIGNER_FRAME_RESPONSE, SIGNER_READY_TIMEOUT_MS, &status,
				   &msg, &e2);
	if (r == 1) {
		ws = client_reap(pid);
		pid = -1;
		if (ws != -1 && WIFSIGNALED(ws))
			err_set(e, ERR_INTERNAL, "signer: killed by signal %d before it was ready",
				WTERMSIG(ws));
		else
			err_set(e, ERR_INTERNAL, "signer: exited (status %d) before it was ready",
				ws != -1 && WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
		goto out;
	}
	if (r == -1) {
		kill_child = 1;
		err_set(e, ERR_INTERNAL, "%s (while waiting for the signer to start)", e2.msg);
		goto out;
	}
	if (status == SIGNER_STATUS_REFUSED) {
		log_escape(text, sizeof(text), (const char *)msg.data, msg.len);
		err_set(e, ERR_REFUSED, "%s", text);
		goto out;
	}
	if (msg.len != 5 || memcmp(msg.data, "ready", 5) != 0) {
		kill_child = 1;
		err_set(e, ERR_INTERNAL, "signer: unexpected readiness message");
		goto out;
	}
	*fdp = sv[0];
	sv[0] = -1;
	if (pidp != NULL)
		*pidp = pid;
	pid = -1;
	rc = 0;
out:
	if (pid > 0) {
		if (kill_child)
			kill(pid, SIGKILL);
		client_reap(pid);
	}
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	buf_free(&msg);
	return rc;
}

int
signer_spawn(const struct conf *conf, struct signer_client **out, pid_t *pid, struct err *e)
{
	int fd = -1, rc = -1;

	*out = NULL;
	if (signer_spawn_fd(conf, &fd, pid, e) == -1)
		goto out;
	*out = signer_client_new(fd);
	rc = 0;
out:
	return rc;
}
