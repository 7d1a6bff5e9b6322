/*
 * frame: the signer's frames over a stream socket.
 *
 *   request:  u32 op     | u32 len | len bytes
 *   response: u32 status | u32 len | len bytes
 *
 * Both words are big-endian.  Reads retry on EINTR and short reads; writes use MSG_NOSIGNAL so
 * a vanished peer is an error return, never a SIGPIPE.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "signer_local.h"

/* Payloads above this are read into a buffer that grows as the bytes arrive. */
#define FRAME_PREALLOC (4u * 1024 * 1024)

size_t
signer_op_max(uint32_t op)
{
	size_t max = 0;

	switch (op) {
	case SIGNER_OP_PING:
		max = 0;
		break;
	case SIGNER_OP_SIGN_CERT:
		max = SIGNER_MAX_CERT;
		break;
	case SIGNER_OP_SIGN_CRL:
		max = SIGNER_MAX_CRL;
		break;
	case SIGNER_OP_SIGN_OCSP:
		max = SIGNER_MAX_OCSP;
		break;
	case SIGNER_OP_SIGN_TSA:
		max = SIGNER_MAX_TSA;
		break;
	default:
		max = 0;
		break;
	}
	return max;
}

int
signer_op_valid(uint32_t op)
{
	return op >= SIGNER_OP_PING && op < SIGNER_OP__MAX;
}

const char *
signer_op_name(uint32_t op)
{
	static const char *const names[SIGNER_OP__MAX] = {
	    [SIGNER_OP_PING] = "PING",	       [SIGNER_OP_SIGN_CERT] = "SIGN_CERT",
	    [SIGNER_OP_SIGN_CRL] = "SIGN_CRL", [SIGNER_OP_SIGN_OCSP] = "SIGN_OCSP",
	    [SIGNER_OP_SIGN_TSA] = "SIGN_TSA",
	};

	return signer_op_valid(op) ? names[op] : "op?";
}

static void
frame_put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
frame_get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Writes every byte of iov[0..n) (n <= 2), retrying on EINTR and short writes. */
static int
frame_writev(int fd, const struct iovec *in, int n)
{
	struct iovec iov[2];
	struct msghdr msg;
	struct iovec *v = iov;
	ssize_t w;
	size_t done;
	int rc = -1;

	memcpy(iov, in, (size_t)n * sizeof(*iov));
	while (n > 0) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = v;
		msg.msg_iovlen = (size_t)n;
		w = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (w == -1 && errno == ENOTSOCK)
			w = writev(fd, v, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			goto out;
		done = (size_t)w;
		while (n > 0 && done >= v->iov_len) {
			done -= v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (unsigned char *)v->iov_base + done;
			v->iov_len -= done;
		}
	}
	rc = 0;
out:
	return rc;
}

int
signer_frame_write(int fd, uint32_t word, const void *p, size_t len)
{
	unsigned char hdr[SIGNER_HDR_LEN];
	struct iovec iov[2];
	int rc = -1;

	if (len > UINT32_MAX) {
		errno = EMSGSIZE;
		goto out;
	}
	frame_put_u32(hdr, word);
	frame_put_u32(hdr + 4, (uint32_t)len);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)p;
	iov[1].iov_len = len;
	rc = frame_writev(fd, iov, len > 0 ? 2 : 1);
out:
	return rc;
}

static int64_t
frame_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Reads up to n bytes into p until n arrived or EOF.  *got says how many arrived.  deadline is
 * a frame_now_ms() value or -1.  Returns 0 (complete or EOF: compare *got), -1 on error with
 * errno set (ETIMEDOUT when the deadline passed).
 */
static int
frame_read_full(int fd, unsigned char *p, size_t n, size_t *got, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	ssize_t r;
	int rc = -1, pr;

	*got = 0;
	while (*got < n) {
		if (deadline >= 0) {
			left = deadline - frame_now_ms();
			if (left <= 0) {
				errno = ETIMEDOUT;
				goto out;
			}
			pfd.fd = fd;
			pfd.events = POLLIN;
			pfd.revents = 0;
			pr = poll(&pfd, 1, (int)left);
			if (pr == -1 && errno == EINTR)
				continue;
			if (pr == -1)
				goto out;
			if (pr == 0) {
				errno = ETIMEDOUT;
				goto out;
			}
		}
		r = read(fd, p + *got, n - *got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto out;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	rc = 0;
out:
	return rc;
}

/* Reads len payload bytes into b, growing it as data arrives (a lying length costs little). */
static int
frame_payload_read(int fd, struct buf *b, size_t len, int64_t deadline, struct err *e)
{
	size_t cap, got;
	int rc = -1;

	cap = len < FRAME_PREALLOC ? len : FRAME_PREALLOC;
	b->data = xmalloc(cap + 1);
	b->cap = cap + 1;
	b->len = 0;
	while (b->len < len) {
		if (b->len == cap) {
			cap = cap > len / 2 ? len : cap * 2;
			b->data = xrealloc(b->data, cap + 1);
			b->cap = cap + 1;
		}
		if (frame_read_full(fd, b->data + b->len, cap - b->len, &got, deadline) == -1) {
			err_set(e, ERR_INTERNAL, "signer: read: %s", strerror(errno));
			b->len += got;
			goto out;
		}
		b->len += got;
		if (b->len < cap) {
			err_set(e, ERR_INTERNAL,
				"signer: truncated frame: payload has %zu of %zu bytes", b->len,
				len);
			goto out;
		}
	}
	b->data[b->len] = '\0';
	rc = 0;
out:
	return rc;
}

int
signer_frame_read_kind(int fd, enum signer_frame_kind kind, int timeout_ms, uint32_t *word,
		       struct buf *payload, struct err *e)
{
	unsigned char hdr[SIGNER_HDR_LEN];
	int64_t deadline = timeout_ms < 0 ? -1 : frame_now_ms() + timeout_ms;
	size_t got, max;
	uint32_t w, len;
	int rc = -1;

	buf_init(payload, 0);
	if (frame_read_full(fd, hdr, sizeof(hdr), &got, deadline) == -1) {
		if (errno == ETIMEDOUT)
			err_set(e, ERR_INTERNAL, "signer: no answer within %d ms", timeout_ms);
		else
			err_set(e, ERR_INTERNAL, "signer: read: %s", strerror(errno));
		goto out;
	}
	if (got == 0) {
		rc = 1;
		goto out;
	}
	if (got < sizeof(hdr)) {
		err_set(e, ERR_INTERNAL, "signer: truncated frame: header has %zu of %d bytes", got,
			SIGNER_HDR_LEN);
		goto out;
	}
	w = frame_get_u32(hdr);
	len = frame_get_u32(hdr + 4);
	if (kind == SIGNER_FRAME_REQUEST) {
		if (!signer_op_valid(w)) {
			err_set(e, ERR_INTERNAL, "signer: unknown op %" PRIu32, w);
			goto out;
		}
		max = signer_op_max(w);
	} else {
		if (w != SIGNER_STATUS_OK && w != SIGNER_STATUS_REFUSED) {
			err_set(e, ERR_INTERNAL, "signer: unknown response status %" PRIu32, w);
			goto out;
		}
		max = SIGNER_MAX_RESPONSE;
	}
	if (len > max) {
		err_set(e, ERR_INTERNAL,
			"signer: %s frame of %" PRIu32 " bytes exceeds its maximum of %zu",
			kind == SIGNER_FRAME_REQUEST ? signer_op_name(w) : "response", len, max);
		goto out;
	}
	payload->max = max;
	if (frame_payload_read(fd, payload, len, deadline, e) == -1)
		goto out;
	*word = w;
	rc = 0;
out:
	if (rc == -1)
		buf_free(payload);
	return rc;
}

int
signer_frame_read(int fd, uint32_t *op, struct buf *payload, struct err *e)
{
	return signer_frame_read_kind(fd, SIGNER_FRAME_REQUEST, -1, op, payload, e);
}
