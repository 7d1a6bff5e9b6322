/* misc: hex, randomness, clock, files, strict number parsing. */
#include <arpa/inet.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"

void
util_thread_name(const char *name)
{
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);
}

int
util_thread_nice(int nice)
{
	return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}

void
hex_encode(char *dst, const unsigned char *src, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		dst[2 * i] = hx[src[i] >> 4];
		dst[2 * i + 1] = hx[src[i] & 15];
	}
	dst[2 * n] = '\0';
}

int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
hex_decode(unsigned char *dst, size_t dstmax, const char *src)
{
	size_t n = strlen(src), i;
	int hi, lo;

	if (n % 2 != 0 || n / 2 > dstmax)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if ((hi = hex_digit(src[2 * i])) < 0 || (lo = hex_digit(src[2 * i + 1])) < 0)
			return -1;
		dst[i] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

void
util_random(void *p, size_t n)
{
	static int ready;

	if (!ready) {
		if (sodium_init() < 0)
			fatalx("libsodium: initialisation failed");
		ready = 1;
	}
	randombytes_buf(p, n);
}

static long clock_offset;

time_t
util_now(void)
{
	return time(NULL) + clock_offset;
}

void
util_clock_set_offset(long seconds)
{
	clock_offset = seconds;
}

int
util_read_file(const char *path, size_t max, struct buf *out, struct err *e)
{
	int fd = -1, rc = -1;
	ssize_t n;
	unsigned char tmp[65536];

	buf_init(out, max);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		err_set(e, errno == ENOENT ? ERR_NOTFOUND : ERR_INTERNAL, "%s: %s", path,
			strerror(errno));
		goto out;
	}
	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_set(e, ERR_INTERNAL, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_append(out, tmp, (size_t)n) == -1) {
			err_set(e, ERR_REFUSED, "%s: file larger than %zu bytes", path, max);
			goto out;
		}
	}
	rc = 0;
out:
	explicit_bzero(tmp, sizeof(tmp)); /* no copy of a secret file left on the stack */
	if (fd != -1)
		close(fd);
	if (rc == -1)
		buf_free(out);
	return rc;
}

int
util_write_file(const char *path, const void *p, size_t n, int mode, struct err *e)
{
	char *tmp = NULL;
	int fd = -1, rc = -1;
	const unsigned char *c = p;
	ssize_t w;

	tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) == -1) {
		err_set(e, ERR_INTERNAL, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	while (n > 0) {
		if ((w = write(fd, c, n)) == -1) {
			if (errno == EINTR)
				continue;
			err_set(e, ERR_INTERNAL, "%s: write: %s", tmp, strerror(errno));
			goto out;
		}
		c += w;
		n -= (size_t)w;
	}
	if (fchmod(fd, (mode_t)mode) == -1 || fsync(fd) == -1) {
		err_set(e, ERR_INTERNAL, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		err_set(e, ERR_INTERNAL, "%s: close: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		err_set(e, ERR_INTERNAL, "%s: rename: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (rc == -1 && tmp != NULL)
		unlink(tmp);
	free(tmp);
	return rc;
}

int
util_secret_file(const char *path, void *out, size_t len, struct err *e)
{
	unsigned char *k = NULL;
	char *tmp = NULL;
	int fd = -1, rc = -1, tries;
	ssize_t w;

	k = xmalloc(len);
	util_random(k, len);
	/*
	 * Written whole under a temporary name, then given its name with link(), which fails
	 * when another process was first: a crash never leaves a short secret behind, and two
	 * starting processes agree on one.
	 */
	if (!util_file_exists(path)) {
		tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
		(void)unlink(tmp);
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1 ||
		    (w = write(fd, k, len)) != (ssize_t)len || fsync(fd) == -1) {
			err_set(e, ERR_INTERNAL, "%s: %s", tmp,
				fd != -1 && w >= 0 && w != (ssize_t)len ? "short write"
									: strerror(errno));
			(void)unlink(tmp);
			goto out;
		}
		if (link(tmp, path) == 0) {
			(void)unlink(tmp);
			memcpy(out, k, len);
			rc = 0;
			goto out;
		}
		if (errno != EEXIST) {
			err_set(e, ERR_INTERNAL, "%s: %s", path, strerror(errno));
			(void)unlink(tmp);
			goto out;
		}
		(void)unlink(tmp);
	}
	for (tries = 0; tries < 50; tries++) {
		struct buf b;

		if (util_read_file(path, 1024, &b, e) == -1)
			goto out;
		if (b.len == len) {
			memcpy(out, b.data, len);
			buf_free(&b);
			rc = 0;
			goto out;
		}
		buf_free(&b);
		usleep(20000);
	}
	err_set(e, ERR_INTERNAL, "%s: not a %zu-byte secret (remove it to make a new one)", path,
		len);
out:
	sodium_memzero(k, len);
	free(k);
	free(tmp);
	if (fd != -1)
		close(fd);
	return rc;
}

int
util_mkdir_p(const char *path, int mode, struct err *e)
{
	char *p, *s;
	int rc = -1;

	p = xstrdup(path);
	for (s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, (mode_t)mode) == -1 && errno != EEXIST) {
				err_set(e, ERR_INTERNAL, "%s: mkdir: %s", p, strerror(errno));
				goto out;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	rc = 0;
out:
	free(p);
	return rc;
}

int
util_file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int
util_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
util_memeq_ct(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

/*
 * 1 when the address (4 or 16 octets) is one of the listed addresses or prefixes, else 0.
 * An unreadable value matches nothing: check values when they are set (util_ip_prefix_ok).
 */
int
util_ip_in(char *const *ips, size_t n, const unsigned char *a, size_t alen)
{
	unsigned char net[16];
	char buf[64];
	const char *slash;
	long bits;
	size_t i, full;

	for (i = 0; i < n; i++) {
		int fam = strchr(ips[i], ':') != NULL ? AF_INET6 : AF_INET;
		size_t len = fam == AF_INET6 ? 16 : 4;

		if (len != alen)
			continue;
		slash = strchr(ips[i], '/');
		snprintf(buf, sizeof(buf), "%.*s",
			 (int)(slash != NULL ? (size_t)(slash - ips[i]) : strlen(ips[i])), ips[i]);
		if (inet_pton(fam, buf, net) != 1)
			continue;
		bits = (long)len * 8;
		if (slash != NULL && util_parse_long(slash + 1, 0, (long)len * 8, &bits) == -1)
			continue;
		full = (size_t)bits / 8;
		if (memcmp(net, a, full) != 0)
			continue;
		if (bits % 8 != 0) {
			unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));

			if ((net[full] & mask) != (a[full] & mask))
				continue;
		}
		return 1;
	}
	return 0;
}

int
util_ip_prefix_ok(const char *v)
{
	unsigned char a[16];
	char buf[64];
	const char *slash = strchr(v, '/');
	int fam = strchr(v, ':') != NULL ? AF_INET6 : AF_INET;
	long bits;
	size_t hl = slash != NULL ? (size_t)(slash - v) : strlen(v);

	if (hl >= sizeof(buf))
		return 0;
	memcpy(buf, v, hl);
	buf[hl] = '\0';
	return inet_pton(fam, buf, a) == 1 &&
	       (slash == NULL ||
		util_parse_long(slash + 1, 0, fam == AF_INET6 ? 128 : 32, &bits) == 0);
}

void
util_ip_rate_key(const unsigned char *a, size_t len, char *out, size_t n)
{
	unsigned char net[16];
	char text[INET6_ADDRSTRLEN];

	if (len == 4 && inet_ntop(AF_INET, a, text, sizeof(text)) != NULL) {
		snprintf(out, n, "%s", text);
		return;
	}
	if (len == 16) {
		/* an IPv6 client holds a /64 at least: keyed on its host part it would get a
		 * fresh allowance with each of its 2^64 addresses */
		memcpy(net, a, 8);
		memset(net + 8, 0, 8);
		if (inet_ntop(AF_INET6, net, text, sizeof(text)) != NULL) {
			snprintf(out, n, "%s/64", text);
			return;
		}
	}
	snprintf(out, n, "?");
}

/* One X-Forwarded-For entry (p, n: trimmed by the caller) as 4 or 16 octets; -1 if none. */
static int
util_xff_entry(const char *p, size_t n, unsigned char out[16], size_t *outlen)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char buf[64];

	if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
		p++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(buf) || memchr(p, '\0', n) != NULL)
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, out) == 1) {
		*outlen = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, out) != 1)
		return -1;
	*outlen = 16;
	if (memcmp(out, mapped, sizeof(mapped)) == 0) {
		memmove(out, out + 12, 4);
		*outlen = 4;
	}
	return 0;
}

int
util_xff_client(const char *xff, size_t n, char *const *trusted, size_t ntrusted,
		unsigned char out[16], size_t *outlen)
{
	unsigned char a[16];
	size_t alen, end = n, start, b, e, seen;

	*outlen = 0;
	for (seen = 0; seen < UTIL_XFF_MAX; seen++) {
		/* the entry before end: from the comma before it (or the start) */
		start = end;
		while (start > 0 && xff[start - 1] != ',')
			start--;
		b = start;
		e = end;
		while (b < e && (xff[b] == ' ' || xff[b] == '\t'))
			b++;
		while (e > b && (xff[e - 1] == ' ' || xff[e - 1] == '\t'))
			e--;
		if (util_xff_entry(xff + b, e - b, a, &alen) == -1)
			return -1;
		if (!util_ip_in(trusted, ntrusted, a, alen)) {
			memcpy(out, a, alen);
			*outlen = alen;
			return 0;
		}
		if (start == 0)
			return -1; /* every entry is a trusted proxy */
		end = start - 1;
	}
	return -1;
}
