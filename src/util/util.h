/*
 * util: bounded buffers, errors, logging, hex, config files, small helpers.
 * Every other module may use this one; it uses none of them.
 */
#ifndef SHOMEI_UTIL_H
#define SHOMEI_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Exit status of the CLI, and the class of an error. */
enum err_code {
	ERR_OK = 0,
	ERR_REFUSED = 1,  /* bad input or a rule refused it: the caller's fault */
	ERR_USAGE = 2,	  /* wrong command line */
	ERR_INTERNAL = 3, /* our fault or the environment's: I/O, store, signer */
	ERR_NOTFOUND = 4, /* mapped to ERR_REFUSED at the CLI; 404 over HTTP */
	ERR_CONFLICT = 5, /* already exists / already revoked; 409 over HTTP */
	ERR_UNKNOWN = 6,  /* the outcome is not known: a write was committed (others may see it)
			   * but not confirmed durable.  Neither "done" nor "failed": the caller
			   * must not act as if nothing was written (retry idempotently) */
};

/*
 * An error travelling up the layers: a class and one message naming the object and the rule,
 * e.g. "csr: RFC 2986: signature does not verify".  The first err_set() wins, so the innermost
 * (most specific) message survives; err_clear() resets.
 */
struct err {
	enum err_code code;
	int kind; /* what kind of refusal, in the terms of the module that refused (issuance:
		   * enum ca_refusal of ca.h); 0 = not classified.  Set by err_kind(). */
	char msg[1024];
};

void err_clear(struct err *);
/*
 * Classifies the error set in e as kind, unless it is classified already (the innermost layer
 * that knows wins, like the message).  No effect on an error that is not set.  Returns -1.
 */
int err_kind(struct err *, int kind);
int err_set(struct err *, enum err_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like err_set() but appends the OpenSSL error queue (and clears it). */
int err_ssl(struct err *, enum err_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int err_is_set(const struct err *);

/* Growable byte buffer that refuses to grow beyond max (hostile input cannot exhaust memory). */
struct buf {
	unsigned char *data;
	size_t len;
	size_t cap;
	size_t max;
	int fixed; /* caller-owned memory: never reallocated nor freed */
};

void buf_init(struct buf *, size_t max);
/* A buffer over caller memory (e.g. on the stack) of size bytes; holds at most size - 1. */
void buf_init_fixed(struct buf *, void *mem, size_t size);
void buf_free(struct buf *);			    /* accepts zeroed buf; wipes contents */
void buf_reset(struct buf *);			    /* len = 0, keeps memory */
int buf_append(struct buf *, const void *, size_t); /* -1 when max would be exceeded */
int buf_putc(struct buf *, int);
int buf_printf(struct buf *, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NUL-terminates (not counted in len); returns data as char *. -1/NULL when full. */
char *buf_cstr(struct buf *);

/* Allocation: out of memory is fatal (exit 3 with a message). */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * systemd's readiness protocol (sd_notify(3), without libsystemd): sends state ("READY=1",
 * "RELOADING=1", "STOPPING=1", "STATUS=...", newline-separated) as one datagram to the
 * AF_UNIX socket $NOTIFY_SOCKET names (a path, or "@name" for an abstract socket).  0 when
 * sent, 1 when there is no such variable (not started by systemd), -1 on failure.
 */
int util_sd_notify(const char *state);

/*
 * Logging to stderr: "shomei[pid]: level: message", preceded by "<N>" (the syslog priority,
 * sd-daemon.h style) when stderr is the journal.  log_escape() makes untrusted text safe.
 */
enum log_prio {
	LOG_PRIO_CRIT = 2,
	LOG_PRIO_ERR = 3,
	LOG_PRIO_WARNING = 4,
	LOG_PRIO_INFO = 6,
	LOG_PRIO_DEBUG = 7,
};
void log_init(const char *progname, int verbose);
/* 1 when fd is the stream $JOURNAL_STREAM names ("DEV:INO"). */
int log_is_journal(int fd);
/* "<N>" for a line written to stderr directly when it is the journal, else "". */
const char *log_prio_prefix(int prio);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copies src to dst (size n, always NUL-terminated) with non-printables as \xNN. */
const char *log_escape(char *dst, size_t n, const char *src, size_t srclen);

/* Hex: upper case, as `openssl x509 -serial` prints. dst must hold 2*n+1. */
void hex_encode(char *dst, const unsigned char *src, size_t n);
/* Returns decoded length or -1 on odd length / bad digit / too long for dstmax. */
long hex_decode(unsigned char *dst, size_t dstmax, const char *src);
/* The value of one hexadecimal digit (either case), or -1. */
int hex_digit(int c);

/* Random bytes from the OS CSPRNG (libsodium); fatal when unavailable. */
void util_random(void *, size_t);

/*
 * Things made ahead by a thread at nice 19 (pool.c): up to cap items of size bytes, each made
 * by make(item, arg) (0, or -1: the thread waits a second) and handed out once by pool_take()
 * (0, or 1 when there is none: the caller makes one itself); clear() frees what an item
 * holds, for those still there at pool_stop().  cap 0: no pool (*out NULL, every take 1).
 */
struct pool;
typedef int pool_make_fn(void *item, void *arg);
typedef void pool_clear_fn(void *item);
int pool_start(struct pool **out, const char *thread_name, size_t cap, size_t size,
	       pool_make_fn *make, pool_clear_fn *clear, void *arg, struct err *);
void pool_stop(struct pool *); /* accepts NULL */
int pool_take(struct pool *, void *item);
/* Items ready, handed out, and asked for while there was none. */
void pool_stats(struct pool *, size_t *ready, unsigned long *taken, unsigned long *misses);

/* Names the calling thread (top -H, ps -L, gdb); at most 15 characters are kept. */
void util_thread_name(const char *);
/*
 * Sets the calling thread's nice value (this thread only).  -1 when the system refuses it (a
 * value below the current one needs CAP_SYS_NICE or RLIMIT_NICE): the thread keeps its own.
 */
int util_thread_nice(int);

/* Wall clock.  Tests may shift it through util_clock_set_offset(). */
time_t util_now(void);
void util_clock_set_offset(long seconds);

/* Reads a whole file, refusing files larger than max. */
int util_read_file(const char *path, size_t max, struct buf *out, struct err *);
/* Writes atomically (tmp + fsync + rename) with the given mode. */
int util_write_file(const char *path, const void *, size_t, int mode, struct err *);
int util_mkdir_p(const char *path, int mode, struct err *);
/*
 * A secret of len random bytes kept in the file path: read when the file exists, else made
 * and written (O_EXCL, 0600, synced: two starting processes agree on one; a reader that finds
 * it half written waits for the writer).  Into out; the caller wipes it after use.
 */
int util_secret_file(const char *path, void *out, size_t len, struct err *);
int util_file_exists(const char *path);

/* Strict number parsing: whole string, range-checked. */
int util_parse_long(const char *, long min, long max, long *out);
/*
 * 1 when the address (4 or 16 octets) is one of the listed addresses or prefixes
 * ("192.0.2.0/24", "2001:db8::/32", "::1"), else 0.  An unreadable value matches nothing.
 */
int util_ip_in(char *const *list, size_t n, const unsigned char *a, size_t alen);
/*
 * The key a client address counts under in rate limits: an IPv4 address itself, an IPv6
 * address's /64 ("2001:db8:1:2::/64"); "?" for anything else.
 */
void util_ip_rate_key(const unsigned char *a, size_t len, char *out, size_t n);
/* 1 when v is an IPv4 or IPv6 address, with or without a /prefix length. */
int util_ip_prefix_ok(const char *v);
/*
 * The client behind trusted reverse proxies, from X-Forwarded-For: xff is n bytes, the values
 * of every such header joined by commas in the order received.  Walks the entries from the
 * right (the one the nearest proxy wrote) over those in trusted (util_ip_in's addresses and
 * prefixes) and writes the first one that is not trusted (4 or 16 octets, an IPv4-mapped
 * address as its 4).  Entries are addresses, IPv6 ones optionally in brackets, with optional
 * blanks around them.  Returns 0, or -1 when there is no address to believe: an entry that is
 * no address (garbage, a port, an empty entry), more than UTIL_XFF_MAX entries looked at, or
 * only trusted ones; the caller then keeps the peer's own address.
 */
#define UTIL_XFF_MAX 32
int util_xff_client(const char *xff, size_t n, char *const *trusted, size_t ntrusted,
		    unsigned char out[16], size_t *outlen);

/* Constant-time comparison of equal-length buffers. */
int util_memeq_ct(const void *, const void *, size_t);

/*
 * Configuration file: "key = value" lines, '#' comments, blank lines.  Keys are
 * [a-z0-9_.]; values are the rest of the line with surrounding blanks removed.
 * Unknown keys are the caller's business (conf_check_keys(), below).
 */
struct conf_entry {
	char *key;
	char *value;
	int line;
};

struct conf {
	char *path;
	char *dir; /* directory that relative paths in values are resolved against */
	struct conf_entry *v;
	size_t n;
};

int conf_load(struct conf *, const char *path, struct err *);
void conf_free(struct conf *); /* values zeroed */
/* Zeroes every value of key in place (it reads as ""): a secret the process must not keep. */
void conf_wipe(struct conf *, const char *key);
const char *conf_get(const struct conf *, const char *key, const char *dflt);
int conf_get_long(const struct conf *, const char *key, long dflt, long min, long max, long *out,
		  struct err *);
/* Sets or replaces a key in memory (used by init and tests). */
void conf_set(struct conf *, const char *key, const char *value);
/* Resolves a path value relative to the config directory; caller frees. */
char *conf_path(const struct conf *, const char *value);
/*
 * Known keys: each module that reads shomei.conf exports the exact keys it reads as a
 * NULL-terminated list (no patterns); a program checks a file against the NULL-terminated list
 * of those lists.  conf_check_keys refuses the first key none of them holds: "PATH:LINE:
 * unknown key "K"", with " (did you mean "N"?)" when conf_key_nearest finds one.
 */
int conf_check_keys(const struct conf *, const char *const *const *known, struct err *);
/* The known key nearest to key by conf_key_distance, when close enough to suggest; else NULL. */
const char *conf_key_nearest(const char *key, const char *const *const *known);
#define CONF_KEY_COMPARE_MAX 64 /* longer keys are compared with nothing */
#define CONF_KEY_SUGGEST_MAX 3	/* edits at most (and at most a third of the known key) */
/* Damerau-Levenshtein distance of a and b; -1 when one is over CONF_KEY_COMPARE_MAX bytes. */
int conf_key_distance(const char *a, const char *b);

#endif
