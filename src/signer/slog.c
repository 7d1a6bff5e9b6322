/*
 * slog: the signer's own log of every signature, kept outside the store (which the web
 * process can write), append-only and hash-chained like the audit chain.  One line each:
 *
 *   seq TAB time TAB kind TAB id TAB sha256(signed bytes) TAB hash
 *
 * where hash = SHA-256(previous hash || the line up to and including the TAB before it), the
 * first line chaining from 64 zeros.  kind is cert, crl, ocsp or tsa; id is the
 * certificate's serial (hex), "full:N" or "delta:N" for a CRL, "-" otherwise.
 *
 * Several signers may append to one log (the online one, `shomei crl`'s, `shomei issue`'s):
 * each append takes an exclusive flock, reads the last line back for the sequence number and
 * hash, and writes its line with one write().  Certificates and CRLs are made durable
 * (fdatasync) before their signature leaves the signer; OCSP and TSA lines are not forced,
 * since they are signed many times a second and reveal nothing the store must hold.
 * `shomei signer-log verify` walks the chain (signer_log_verify), and `shomei audit
 * reconcile` lists the certificates the signer signed that the store does not hold.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "signer_local.h"

#define SLOG_LINE_MAX 512
#define SLOG_ZERO "0000000000000000000000000000000000000000000000000000000000000000"
#define SLOG_CAS_MAX (1 + SIGNER_PREV_MAX) /* the current issuing CA and previous ones */

int
signer_log_open(const struct conf *c, int *fd, struct err *e)
{
	const char *v = conf_get(c, "signer.log", "signer.log");
	char *path;

	*fd = -1;
	if (strcmp(v, "off") == 0)
		return 0;
	path = conf_path(c, v);
	*fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd == -1)
		err_set(e, ERR_REFUSED, "signer: %s (signer.log): %s", path, strerror(errno));
	free(path);
	return *fd == -1 ? -1 : 0;
}

/* The last line's sequence number and hash (0 and zeros for an empty log). */
static int
slog_tail(int fd, long long *seq, char hash[65], struct err *e)
{
	char buf[SLOG_LINE_MAX + 1], *nl, *last, *tab;
	long v;
	struct stat st;
	off_t off;
	ssize_t n;

	*seq = 0;
	memcpy(hash, SLOG_ZERO, 65);
	if (fstat(fd, &st) == -1)
		return err_set(e, ERR_INTERNAL, "signer log: fstat: %s", strerror(errno));
	if (st.st_size == 0)
		return 0;
	off = st.st_size > SLOG_LINE_MAX ? st.st_size - SLOG_LINE_MAX : 0;
	if ((n = pread(fd, buf, (size_t)(st.st_size - off), off)) <= 0)
		return err_set(e, ERR_INTERNAL, "signer log: cannot read its end: %s",
			       strerror(errno));
	if (buf[n - 1] != '\n') {
		/*
		 * A line cut short (a full disk, a crash inside write()): its signature never
		 * left the signer, which answers only after its line is whole, so it goes.
		 */
		buf[n - 1] = '\0';
		nl = strrchr(buf, '\n');
		if (nl == NULL && off > 0)
			return err_set(e, ERR_INTERNAL, "signer log: its last line is malformed");
		if (ftruncate(fd, off + (nl != NULL ? nl - buf + 1 : 0)) == -1)
			return err_set(e, ERR_INTERNAL, "signer log: cannot cut a torn line: %s",
				       strerror(errno));
		log_warn("signer log: a line cut short was removed (a signature never sent)");
		return slog_tail(fd, seq, hash, e);
	}
	buf[n - 1] = '\0';
	nl = strrchr(buf, '\n');
	last = nl != NULL ? nl + 1 : buf;
	tab = strrchr(last, '\t');
	if ((nl = strchr(last, '\t')) != NULL)
		*nl = '\0';
	if (tab == NULL || strlen(tab + 1) != 64 || nl == NULL ||
	    util_parse_long(last, 1, LONG_MAX, &v) == -1)
		return err_set(e, ERR_INTERNAL, "signer log: its last line is malformed");
	*seq = v;
	memcpy(hash, tab + 1, 65);
	return 0;
}

/*
 * A whole line of the log: a CRL's number into last[][] when it is above what is there (the
 * named CA's, or every CA's for a line without a name).
 */
static void
slog_crl_line(char *line, const char *const *names, size_t n, int64_t (*last)[2], int (*found)[2])
{
	char *f[4], *p = line, *at;
	size_t j;
	long v;
	int i, k;

	for (i = 0; i < 4; i++) {
		f[i] = p;
		if ((p = strchr(p, '\t')) == NULL)
			return;
		*p++ = '\0';
	}
	if (strcmp(f[2], "crl") != 0)
		return;
	if (strncmp(f[3], "full:", 5) == 0)
		k = 0;
	else if (strncmp(f[3], "delta:", 6) == 0)
		k = 1;
	else
		return;
	if ((at = strchr(f[3], '@')) != NULL)
		*at++ = '\0';
	if (util_parse_long(f[3] + (k ? 6 : 5), 0, LONG_MAX, &v) == -1)
		return;
	for (j = 0; j < n; j++) {
		if (at != NULL && strcmp(at, names[j]) != 0)
			continue;
		found[j][k] = 1;
		if (v > last[j][k])
			last[j][k] = v;
	}
}

/* 1 when every CA's full and delta numbers have been seen. */
static int
slog_all_found(int (*found)[2], size_t n)
{
	size_t j;

	for (j = 0; j < n; j++)
		if (!found[j][0] || !found[j][1])
			return 0;
	return 1;
}

int
signer_log_crl_floor(int fd, const char *const *names, size_t n, int64_t (*last)[2], struct err *e)
{
	char buf[65536 + 1], *nl, *line;
	struct stat st;
	off_t end, off, next;
	int found[SLOG_CAS_MAX][2], rc = -1;
	ssize_t r;

	if (fd == -1)
		return 0;
	if (n > SLOG_CAS_MAX)
		return err_set(e, ERR_INTERNAL, "signer log: more than %d issuing CAs",
			       SLOG_CAS_MAX);
	memset(found, 0, sizeof(found));
	if (flock(fd, LOCK_SH) == -1)
		return err_set(e, ERR_INTERNAL, "signer log: flock: %s", strerror(errno));
	if (fstat(fd, &st) == -1) {
		err_set(e, ERR_INTERNAL, "signer log: fstat: %s", strerror(errno));
		goto out;
	}
	/*
	 * Backwards, 64 KiB at a time, until both kinds of every CA are seen: the latest CRLs
	 * are near the end (a delta CRL an hour, a full one a day).  A chunk's first line, begun in
	 * the chunk before it, is read again with that one.
	 */
	for (end = st.st_size; end > 0 && !slog_all_found(found, n); end = next) {
		off = end > 65536 ? end - 65536 : 0;
		if ((r = pread(fd, buf, (size_t)(end - off), off)) != end - off) {
			err_set(e, ERR_INTERNAL, "signer log: read: %s",
				r == -1 ? strerror(errno) : "short read");
			goto out;
		}
		buf[end - off] = '\0';
		line = buf;
		next = 0;
		if (off > 0) {
			if ((nl = strchr(buf, '\n')) == NULL || nl - buf + 1 >= end - off) {
				err_set(e, ERR_INTERNAL, "signer log: a line longer than %d bytes",
					SLOG_LINE_MAX);
				goto out;
			}
			line = nl + 1;
			next = off + (line - buf);
		}
		/* whole lines only: a torn last one was never sent */
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			slog_crl_line(line, names, n, last, found);
			line = nl + 1;
		}
	}
	rc = 0;
out:
	(void)flock(fd, LOCK_UN);
	return rc;
}

/* hex(SHA-256(prev || text)) */
static void
slog_chain(const char *prev, const char *text, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH], buf[64 + SLOG_LINE_MAX];

	memcpy(buf, prev, 64);
	memcpy(buf + 64, text, len < SLOG_LINE_MAX ? len : SLOG_LINE_MAX);
	SHA256(buf, 64 + (len < SLOG_LINE_MAX ? len : SLOG_LINE_MAX), md);
	hex_encode(out, md, sizeof(md));
}

int
signer_log_append(int fd, const char *kind, const char *id, const unsigned char *p, size_t len,
		  int durable, struct err *e)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char line[SLOG_LINE_MAX], mdhex[65], prev[65], hash[65];
	struct stat st;
	long long seq;
	int n, rc = -1;

	if (fd == -1)
		return 0;
	SHA256(p, len, md);
	hex_encode(mdhex, md, sizeof(md));
	if (flock(fd, LOCK_EX) == -1)
		return err_set(e, ERR_INTERNAL, "signer log: flock: %s", strerror(errno));
	if (slog_tail(fd, &seq, prev, e) == -1)
		goto out;
	n = snprintf(line, sizeof(line), "%lld\t%lld\t%s\t%s\t%s\t", seq + 1, (long long)util_now(),
		     kind, id, mdhex);
	if (n < 0 || (size_t)n + 66 > sizeof(line)) {
		err_set(e, ERR_INTERNAL, "signer log: line too long");
		goto out;
	}
	slog_chain(prev, line, (size_t)n, hash);
	memcpy(line + n, hash, 64);
	line[n + 64] = '\n';
	if (fstat(fd, &st) == -1) {
		err_set(e, ERR_INTERNAL, "signer log: fstat: %s", strerror(errno));
		goto out;
	}
	if (write(fd, line, (size_t)n + 65) != (ssize_t)n + 65 ||
	    (durable && fdatasync(fd) == -1)) {
		err_set(e, ERR_INTERNAL, "signer log: write: %s", strerror(errno));
		/* no line for a signature that is not sent (a full disk leaves no torn one) */
		(void)ftruncate(fd, st.st_size);
		goto out;
	}
	rc = 0;
out:
	(void)flock(fd, LOCK_UN);
	return rc;
}

int
signer_log_verify(const char *path, signer_log_entry_fn *fn, void *arg, long long *count,
		  char last[65], struct err *e)
{
	FILE *f = fopen(path, "r");
	char line[SLOG_LINE_MAX + 2], prev[65], hash[65], *tab, *fields[6];
	long long seq = 0;
	long n;
	size_t len;
	int i, rc = -1;

	*count = 0;
	memcpy(prev, SLOG_ZERO, 65);
	if (f == NULL)
		return err_set(e, ERR_REFUSED, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		seq++;
		len = strlen(line);
		if (len == 0 || line[len - 1] != '\n' || len < 66) {
			err_set(e, ERR_REFUSED, "%s:%lld: incomplete or overlong line", path, seq);
			goto out;
		}
		line[--len] = '\0';
		tab = line + len - 65;
		if (*tab != '\t') {
			err_set(e, ERR_REFUSED, "%s:%lld: malformed line", path, seq);
			goto out;
		}
		slog_chain(prev, line, (size_t)(tab - line) + 1, hash);
		if (strcmp(hash, tab + 1) != 0) {
			err_set(e, ERR_REFUSED,
				"%s:%lld: the hash chain breaks here (the line or one before it "
				"was changed, removed or inserted)",
				path, seq);
			goto out;
		}
		memcpy(prev, hash, 65);
		*tab = '\0';
		fields[0] = line;
		for (i = 1; i < 5; i++) {
			if ((fields[i] = strchr(fields[i - 1], '\t')) == NULL)
				break;
			*fields[i]++ = '\0';
		}
		if (i != 5 || util_parse_long(fields[0], 1, LONG_MAX, &n) == -1 || n != seq) {
			err_set(e, ERR_REFUSED, "%s:%lld: bad sequence number or fields", path,
				seq);
			goto out;
		}
		if (fn != NULL && fn(arg, fields[2], fields[3], fields[4]) != 0) {
			err_set(e, ERR_INTERNAL, "%s:%lld: stopped", path, seq);
			goto out;
		}
	}
	if (ferror(f)) {
		err_set(e, ERR_INTERNAL, "%s: read error", path);
		goto out;
	}
	*count = seq;
	memcpy(last, prev, 65);
	rc = 0;
out:
	fclose(f);
	return rc;
}
