/*
 * log: one line per event on stderr; untrusted text goes through log_escape().  When stderr
 * is the journal (systemd's JOURNAL_STREAM names its device and inode), each line starts with
 * its priority as sd-daemon.h writes it ("<6>" info, "<4>" warning, "<7>" debug, "<3>" error),
 * which journald keeps as the PRIORITY field and strips from the message.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static const char *log_prog = "shomei";
static int log_verbose;
static int log_journal; /* stderr is the journal: lines carry "<N>" */

/* 1 when JOURNAL_STREAM is "DEV:INO" of the descriptor fd (systemd's StandardError=journal). */
int
log_is_journal(int fd)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (v == NULL || *v == '\0' || fstat(fd, &st) == -1)
		return 0;
	dev = strtoull(v, &end, 10);
	if (end == v || *end != ':')
		return 0;
	v = end + 1;
	ino = strtoull(v, &end, 10);
	if (end == v || *end != '\0')
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *progname, int verbose)
{
	log_prog = progname;
	log_verbose = verbose;
	/* decided once: forked processes whose stderr is a pipe to the supervisor keep it, since
	 * the supervisor passes their lines on to the journal unchanged */
	log_journal = log_is_journal(STDERR_FILENO);
}

const char *
log_prio_prefix(int prio)
{
	static const char *const p[8] = {"<0>", "<1>", "<2>", "<3>", "<4>", "<5>", "<6>", "<7>"};

	if (!log_journal || prio < 0 || prio > 7)
		return "";
	return p[prio];
}

static void
log_v(int prio, const char *level, const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	n = snprintf(line, sizeof(line), "%s%s[%ld]: %s: ", log_prio_prefix(prio), log_prog,
		     (long)getpid(), level);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* one write per line keeps lines from different processes whole */
	n = (int)strlen(line);
	if ((size_t)n < sizeof(line) - 1)
		line[n++] = '\n';
	else
		line[n - 1] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v(LOG_PRIO_INFO, "info", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v(LOG_PRIO_WARNING, "warning", fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v(LOG_PRIO_ERR, "error", fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_v(LOG_PRIO_DEBUG, "debug", fmt, ap);
	va_end(ap);
}

const char *
log_escape(char *dst, size_t n, const char *src, size_t srclen)
{
	static const char hx[] = "0123456789abcdef";
	size_t i, o = 0;
	unsigned char c;

	if (n == 0)
		return dst;
	for (i = 0; i < srclen && src != NULL; i++) {
		c = (unsigned char)src[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= n)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= n)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hx[c >> 4];
			dst[o++] = hx[c & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}
