/*
 * store_sqlite: the SQLite statement driver.  WAL, synchronous=FULL, busy timeout 10 s
 * (sqlite_busy below: short waits), foreign keys on, temporary tables and savepoint journals
 * in memory; prepared statements are kept per connection (SQLITE_PREPARE_PERSISTENT) and
 * reset after each use.  A long-running process may move the WAL checkpoints off its
 * committing threads (sqlite_checkpointer_start below).
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "driver.h"

#define SQLITE_BUSY_MS 10000
#define SQLITE_BUSY_POLL_US 100	   /* a waiting writer looks again this often, at first */
#define SQLITE_BUSY_SLOW_MS 50	   /* after this long, every millisecond */
#define SQLITE_AUTOCKPT_PAGES 8192 /* a committing connection checkpoints (no checkpointer) */
#define SQLITE_CKPT_PAGES 1000	   /* the checkpointer is woken at this many WAL pages */

struct drv_stmt {
	struct drv_conn *conn;
	sqlite3_stmt *st;
	char *sql;
	uint32_t hash;
	struct drv_stmt *next;
	int map[DRV_PARAMS_MAX + 1]; /* $N -> SQLite parameter index, 0 = unused */
	int bind_rc;		     /* first bind failure, reported by step */
	int64_t changes;
};

struct drv_conn {
	sqlite3 *db;
	char *path;
	/* deferred sync (sqlite_defer_sync): the WAL, opened once at the first sync */
	pthread_mutex_t wal_mu;
	char *walpath;
	int walfd;
	struct timespec busy_since; /* the first try of the current wait */
	struct drv_stmt *cache[DRV_CACHE_BUCKETS];
	/* BEGIN IMMEDIATE and COMMIT, prepared at their first use (not parsed at every one) */
	sqlite3_stmt *begin_st, *commit_st;
};

/* Sets e from the connection's last error, prefixed by nothing: store.c adds context. */
static int
sqlite_fail(struct drv_conn *c, int rc, struct err *e)
{
	enum err_code code = ERR_INTERNAL;

	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		code = ERR_CONFLICT;
	return err_set(e, code, "%s", c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
}

static int
sqlite_exec(struct drv_conn *c, const char *sql, struct err *e)
{
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		err_set(e, ERR_INTERNAL, "%s", msg != NULL ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return rc == SQLITE_OK ? 0 : -1;
}

static void
sqlite_close(struct drv_conn *c)
{
	struct drv_stmt *st, *next;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < DRV_CACHE_BUCKETS; i++) {
		for (st = c->cache[i]; st != NULL; st = next) {
			next = st->next;
			sqlite3_finalize(st->st);
			free(st->sql);
			free(st);
		}
	}
	sqlite3_finalize(c->begin_st);
	sqlite3_finalize(c->commit_st);
	if (c->db != NULL) {
		if (!sqlite3_get_autocommit(c->db))
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(c->db);
	}
	if (c->walfd != -1)
		close(c->walfd);
	pthread_mutex_destroy(&c->wal_mu);
	free(c->walpath);
	free(c->path);
	free(c);
}

static double
ts_ms(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/*
 * The busy handler (instead of sqlite3_busy_timeout's): a writer that finds the write lock
 * taken (BEGIN IMMEDIATE while another thread or process commits, which with WAL and an fsync
 * of ~0.3 ms takes about a millisecond) looks again every 100 us for the first 50 ms, then
 * every millisecond, up to SQLITE_BUSY_MS in all.  SQLite's own handler sleeps 1, 2, 5, 10,
 * 15, 20, 25, 25, 25, 50, 50, 100 ms: a writer that waited behind a few commits then slept
 * 25-100 ms after the lock was long free, which was the p99 of every committing portal page
 * at 4 concurrent requests (bench/portal: POST /regist/confirm 235 ms).  The waits are
 * sleeps (nanosleep), not spins: the 2 cores are left to the holder.
 */
static int
sqlite_busy(void *arg, int count)
{
	struct drv_conn *c = arg;
	struct timespec now, d;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (count == 0)
		c->busy_since = now;
	ms = ts_ms(&c->busy_since, &now);
	if (ms >= SQLITE_BUSY_MS)
		return 0;
	d.tv_sec = 0;
	d.tv_nsec = ms < SQLITE_BUSY_SLOW_MS ? SQLITE_BUSY_POLL_US * 1000L : 1000000L;
	nanosleep(&d, NULL);
	return 1;
}

/*
 * The checkpointer: one thread of a long-running process (shomei serve's web process), with
 * its own connection, copies the WAL back into the database (PASSIVE: it never waits for
 * nor blocks a writer).  Without it, the connection whose commit pushed the WAL over its
 * limit does that itself, inside its commit: a batch of waiting requests then also waited
 * for thousands of page writes and an fsync of the database file.
 *
 * Every connection has the WAL hook below.  While a checkpointer runs for its file, a commit
 * that leaves SQLITE_CKPT_PAGES or more in the WAL wakes it; otherwise the hook does what
 * SQLite's automatic checkpoint does, at SQLITE_AUTOCKPT_PAGES (the CLI, other files).
 *
 * Once every frame is copied, the next writer starts the WAL again from its beginning, so
 * the file stays at its size and each commit overwrites blocks that are already allocated
 * and written: its fdatasync then flushes data only.  A WAL that grows instead makes every
 * fdatasync also commit the file system's journal (the new size), which waits for the
 * journal thread: on a busy machine the slowest commits.  The checkpointer therefore also
 * gives the WAL its working size once, at start (sqlite_wal_presize).
 */
/*
 * Residency.  A commit rewrites parts of the WAL's pages (a frame is 24 + page bytes, so
 * most frames straddle two pages of the file, and their headers are 24-byte writes) and
 * reads the database's pages.  When the kernel has evicted those pages from its cache --
 * memory pressure, or proactive reclaim of idle page cache, which on some hosts takes a
 * file's idle pages within seconds -- each such write or read waits for the disk in the
 * middle of a commit (seen: 24-byte WAL writes of 0.3-3 ms in a burst that followed a few
 * idle seconds).  So the checkpointer maps the WAL and the database read-only and locks them
 * in memory (mlock), store.resident_mb in all (the WAL first, then the database from its
 * start), and extends the database's mapping as the file grows: into address space reserved
 * up front, so the mapping stays one area.  Nothing reads the mappings; they only keep the
 * pages.  A lock the limits refuse (RLIMIT_MEMLOCK) is reported once and not tried again.
 */
struct resident {
	const char *what; /* "database", "WAL" */
	int fd;
	char *base;	 /* cap bytes of reserved address space */
	size_t cap, len; /* [0, len) of the file is mapped and locked */
	int failed;
};

static void
resident_open(struct resident *r, const char *what, const char *path, size_t cap)
{
	long pg = sysconf(_SC_PAGESIZE);

	memset(r, 0, sizeof(*r));
	r->what = what;
	r->fd = -1;
	r->cap = cap / (size_t)pg * (size_t)pg;
	if (r->cap == 0)
		return;
	r->base = mmap(NULL, r->cap, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->base == MAP_FAILED) {
		r->base = NULL;
		return;
	}
	/* kept open until the checkpointer stops: see sqlite_checkpointer_stop */
	if ((r->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		munmap(r->base, r->cap);
		r->base = NULL;
	}
}

/* Gives [off, off + len) of the reserved space back to plain reservation (unlocked). */
static void
resident_unmap(struct resident *r, size_t off, size_t len)
{
	(void)mmap(r->base + off, len, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

/* Maps and locks what the file has grown by since the last call (at most cap). */
static void
resident_update(struct resident *r, const char *path)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct stat sb;
	size_t want;
	void *p;

	if (r->base == NULL || r->failed || fstat(r->fd, &sb) == -1)
		return;
	want = ((size_t)sb.st_size + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
	if (want > r->cap)
		want = r->cap;
	if (want < r->len) { /* truncated: give the pages past its end back */
		resident_unmap(r, want, r->len - want);
		r->len = want;
		return;
	}
	if (want == r->len)
		return;
	p = mmap(r->base + r->len, want - r->len, PROT_READ, MAP_SHARED | MAP_FIXED, r->fd,
		 (off_t)r->len);
	if (p == MAP_FAILED || mlock(p, want - r->len) == -1) {
		log_warn("store: sqlite:%s: cannot keep the %s in memory (%zu KiB): %s; its pages "
			 "may be read back from disk during commits (RLIMIT_MEMLOCK, "
			 "store.resident_mb)",
			 path, r->what, want / 1024, strerror(errno));
		if (p != MAP_FAILED)
			resident_unmap(r, r->len, want - r->len);
		r->failed = 1;
		return;
	}
	r->len = want;
}

static void
resident_close(struct resident *r)
{
	if (r->base != NULL)
		munmap(r->base, r->cap);
	if (r->fd != -1)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int on; /* under mu */
	int want, stop;
	char *path;
	struct drv_conn *conn;
	unsigned long runs;
	char *walpath;
	size_t walcap, dbcap;
	struct resident db, wal; /* the checkpointer thread's (opened there, closed by stop) */
} ckpt = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int
sqlite_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct drv_conn *c = arg;
	int mine;

	if (pages < SQLITE_CKPT_PAGES)
		return SQLITE_OK;
	pthread_mutex_lock(&ckpt.mu);
	if ((mine = ckpt.on && strcmp(c->path, ckpt.path) == 0)) {
		ckpt.want = 1;
		pthread_cond_signal(&ckpt.cv);
	}
	pthread_mutex_unlock(&ckpt.mu);
	if (!mine && pages >= SQLITE_AUTOCKPT_PAGES)
		(void)sqlite3_wal_checkpoint(db, name);
	return SQLITE_OK;
}

/*
 * A connection to path opened with flags (read-write and create, or read-only), never through
 * a link, defensive and without a trusted schema; NULL with e set.  uri (NULL: none) is what
 * SQLite opens instead of path (SQLITE_OPEN_URI is then among flags).
 */
static struct drv_conn *
sqlite_conn_new(const char *path, const char *uri, int flags, struct err *e)
{
	struct drv_conn *c = xcalloc(1, sizeof(*c));
	int r;

	c->path = xstrdup(path);
	c->walfd = -1;
	pthread_mutex_init(&c->wal_mu, NULL);
	r = sqlite3_open_v2(
	    uri != NULL ? uri : path, &c->db,
	    flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (r == SQLITE_OK &&
	    (sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
	     sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) != SQLITE_OK))
		r = SQLITE_ERROR;
	if (r != SQLITE_OK) {
		err_set(e, ERR_INTERNAL, "store: sqlite:%s: %s", path,
			c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(r));
		sqlite_close(c);
		return NULL;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_handler(c->db, sqlite_busy, c);
	return c;
}

static int
sqlite_open(struct drv_conn **out, const char *path, struct err *e)
{
	struct drv_conn *c;
	sqlite3_stmt *st = NULL;
	const char *mode;
	struct err de;
	int rc = -1, r, tries;

	*out = NULL;
	err_clear(&de);
	/*
	 * The store's directory belongs to the web process's user (serve as root): a root
	 * command must not follow a link planted there (NOFOLLOW), nor trust the schema a
	 * compromised web process may have written (no unsafe functions in it, no writable
	 * schema or other corrupting features).
	 */
	if ((c = sqlite_conn_new(path, NULL, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, e)) ==
	    NULL)
		goto out;
	sqlite3_wal_hook(c->db, sqlite_wal_hook, c); /* instead of wal_autocheckpoint */
	/*
	 * journal_mode answers with the mode in force: a file that is not a database fails here.
	 * It may answer SQLITE_BUSY at once, without the busy handler, while another process
	 * holds the database (e.g. migrating it): retry for as long as the busy timeout.
	 */
	for (tries = 0;; tries++) {
		if ((r = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL)) ==
			SQLITE_OK &&
		    (r = sqlite3_step(st)) == SQLITE_ROW)
			break;
		if ((r & 0xff) != SQLITE_BUSY || tries >= SQLITE_BUSY_MS / 10) {
			err_set(e, ERR_INTERNAL, "store: sqlite:%s: %s", path,
				sqlite3_errmsg(c->db));
			goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
		sqlite3_sleep(10);
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	if (mode == NULL || (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)) {
		err_set(e, ERR_INTERNAL, "store: sqlite:%s: cannot enable WAL (journal mode %s)",
			path, mode != NULL ? mode : "unknown");
		goto out;
	}
	/*
	 * FULL: a commit is on disk before a caller is told it succeeded.  temp_store=MEMORY: the
	 * journal of a savepoint (every unit of the group commit has one) and sorts stay in
	 * memory; on disk each was a temporary file created, written and unlinked inside the
	 * commit.
	 */
	/* secure_delete: a deleted row's bytes (CAPTCHA answers, nonces, PKCS#12 downloads,
	 * sent mail) are overwritten, not left in free space (Debian's build has it on by
	 * default; say so for every build) */
	if (sqlite_exec(c,
			"PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
			"PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY; "
			"PRAGMA secure_delete=ON",
			&de) == -1) {
		err_set(e, ERR_INTERNAL, "store: sqlite:%s: %s", path, de.msg);
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite_close(c);
	return rc;
}

/*
 * The header of a read-only copy (https://sqlite.org/fileformat.html, section 1.3): a
 * SQLite 3 database in rollback-journal mode, its file format write and read versions (bytes
 * 18 and 19) both 1.  A copy in WAL mode (2 and 2) would have SQLite read a -wal file beside
 * it, bytes no hash of the copy covers.  ERR_REFUSED else.
 */
static int
sqlite_ro_header_ok(const char *path, struct err *e)
{
	static const char magic[16] = "SQLite format 3";
	unsigned char h[100];
	struct stat sb;
	ssize_t n;
	int fd = -1, rc = -1;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1) {
		err_set(e, errno == ENOENT || errno == ELOOP ? ERR_REFUSED : ERR_INTERNAL,
			"store: sqlite:%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		err_set(e, ERR_REFUSED, "store: sqlite:%s: not a regular file", path);
		goto out;
	}
	while ((n = pread(fd, h, sizeof(h), 0)) == -1 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(h) || memcmp(h, magic, sizeof(magic)) != 0) {
		err_set(e, ERR_REFUSED, "store: sqlite:%s: not a SQLite 3 database", path);
		goto out;
	}
	if (h[18] != 1 || h[19] != 1) {
		err_set(
		    e, ERR_REFUSED,
		    "store: sqlite:%s: SQLite file format: header bytes 18 and 19 are %u and %u, "
		    "not 1 and 1 (rollback-journal mode): a copy in WAL mode is refused",
		    path, h[18], h[19]);
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	return rc;
}

/* "file:PATH?immutable=1", PATH percent-encoded (https://sqlite.org/uri.html); caller frees. */
static char *
sqlite_immutable_uri(const char *path)
{
	static const char hexd[] = "0123456789ABCDEF";
	const unsigned char *p;
	char *res, *q;

	res = xmalloc(strlen(path) * 3 + sizeof("file://?immutable=1"));
	q = res;
	memcpy(q, "file://", 7);
	q += path[0] == '/' ? 7 : 5;
	for (p = (const unsigned char *)path; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/._-~", *p) != NULL) {
			*q++ = (char)*p;
		} else {
			*q++ = '%';
			*q++ = hexd[*p >> 4];
			*q++ = hexd[*p & 0xf];
		}
	}
	memcpy(q, "?immutable=1", sizeof("?immutable=1"));
	return res;
}

/*
 * A backup's copy, read-only: untrusted bytes (SQLite's advice for such files: defensive,
 * no trusted schema, cell size checks, no memory mapping).  The caller's own private copy
 * (nobody else may write it or its directory): its header must say rollback-journal mode,
 * and it is opened immutable (no locks, no -wal, -shm or -journal read or created beside
 * it), so what SQLite reads is exactly the bytes of the file, which may lie on read-only
 * media.
 */
static int
sqlite_open_ro(struct drv_conn **out, const char *path, struct err *e)
{
	struct drv_conn *c = NULL;
	struct err de;
	char *uri = NULL;
	int rc = -1;

	*out = NULL;
	err_clear(&de);
	if (sqlite_ro_header_ok(path, e) == -1)
		goto out;
	uri = sqlite_immutable_uri(path);
	if ((c = sqlite_conn_new(path, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, e)) == NULL)
		goto out;
	if (sqlite_exec(c, "PRAGMA cell_size_check=ON; PRAGMA mmap_size=0", &de) == -1) {
		err_set(e, ERR_INTERNAL, "store: sqlite:%s: %s", path, de.msg);
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	free(uri);
	sqlite_close(c);
	return rc;
}

/*
 * SQLite's online backup API, all pages in one step: one read transaction on the source, so
 * the copy is one snapshot (a step-by-step copy restarts whenever another connection writes,
 * which during a burst is always), and in WAL mode writers go on meanwhile.  The copy is
 * switched to rollback-journal mode: one file, readable without -wal and -shm files.
 */
static int
sqlite_backup_to(struct drv_conn *c, const char *dest, struct err *e)
{
	sqlite3 *d = NULL;
	sqlite3_backup *b = NULL;
	char *msg = NULL;
	int rc = -1, r, tries;

	r = sqlite3_open_v2(dest, &d,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
				SQLITE_OPEN_NOFOLLOW,
			    NULL);
	if (r != SQLITE_OK) {
		err_set(e, ERR_INTERNAL, "%s: %s", dest,
			d != NULL ? sqlite3_errmsg(d) : sqlite3_errstr(r));
		goto out;
	}
	if ((b = sqlite3_backup_init(d, "main", c->db, "main")) == NULL) {
		err_set(e, ERR_INTERNAL, "%s: %s", dest, sqlite3_errmsg(d));
		goto out;
	}
	for (tries = 0;; tries++) {
		r = sqlite3_backup_step(b, -1);
		if (r == SQLITE_DONE)
			break;
		if (((r & 0xff) != SQLITE_BUSY && (r & 0xff) != SQLITE_LOCKED && r != SQLITE_OK) ||
		    tries >= SQLITE_BUSY_MS / 10) {
			err_set(e, ERR_INTERNAL, "%s: backup: %s", dest, sqlite3_errstr(r));
			goto out;
		}
		sqlite3_sleep(10);
	}
	r = sqlite3_backup_finish(b);
	b = NULL;
	if (r != SQLITE_OK) {
		err_set(e, ERR_INTERNAL, "%s: backup: %s", dest, sqlite3_errmsg(d));
		goto out;
	}
	if (sqlite3_exec(d, "PRAGMA journal_mode=DELETE", NULL, NULL, &msg) != SQLITE_OK) {
		err_set(e, ERR_INTERNAL, "%s: %s", dest, msg != NULL ? msg : "journal mode");
		goto out;
	}
	rc = 0;
out:
	sqlite3_free(msg);
	if (b != NULL)
		sqlite3_backup_finish(b);
	if (d != NULL && sqlite3_close(d) != SQLITE_OK && rc == 0)
		rc = err_set(e, ERR_INTERNAL, "%s: close failed", dest);
	return rc;
}

/* Maps $1..$n to SQLite's parameter indexes once, when the statement is prepared. */
static int
sqlite_map_params(struct drv_stmt *st, struct err *e)
{
	char name[16];
	int n, rc = 0;

	for (n = 1; n <= DRV_PARAMS_MAX; n++) {
		snprintf(name, sizeof(name), "$%d", n);
		st->map[n] = sqlite3_bind_parameter_index(st->st, name);
	}
	if (sqlite3_bind_parameter_count(st->st) > DRV_PARAMS_MAX)
		rc = err_set(e, ERR_INTERNAL, "statement has more than %d parameters",
			     DRV_PARAMS_MAX);
	return rc;
}

static int
sqlite_prepare(struct drv_conn *c, const char *sql, int flags, struct drv_stmt **out, struct err *e)
{
	struct drv_stmt *st = NULL;
	uint32_t h = drv_sql_hash(sql);
	int rc = -1, r;

	for (st = c->cache[h % DRV_CACHE_BUCKETS]; st != NULL; st = st->next) {
		if (st->hash == h && strcmp(st->sql, sql) == 0) {
			*out = st;
			st = NULL;
			rc = 0;
			goto out;
		}
	}
	st = xcalloc(1, sizeof(*st));
	st->conn = c;
	st->hash = h;
	st->sql = xstrdup(sql);
	if ((r = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->st, NULL)) !=
	    SQLITE_OK) {
		sqlite_fail(c, r, e);
		goto out;
	}
	if (sqlite_map_params(st, e) == -1)
		goto out;
	st->next = c->cache[h % DRV_CACHE_BUCKETS];
	c->cache[h % DRV_CACHE_BUCKETS] = st;
	*out = st;
	st = NULL;
	rc = 0;
out:
	if (st != NULL) {
		sqlite3_finalize(st->st);
		free(st->sql);
		free(st);
	}
	return rc;
}

/* The SQLite index of $n, or 0 (recorded as a bind error) when the SQL has no $n. */
static int
sqlite_param(struct drv_stmt *st, int n)
{
	int i = 0;

	if (n >= 1 && n <= DRV_PARAMS_MAX)
		i = st->map[n];
	if (i == 0 && st->bind_rc == SQLITE_OK)
		st->bind_rc = SQLITE_RANGE;
	return i;
}

static void
sqlite_bind_result(struct drv_stmt *st, int r)
{
	if (r != SQLITE_OK && st->bind_rc == SQLITE_OK)
		st->bind_rc = r;
}

static void
sqlite_bind_null(struct drv_stmt *st, int n)
{
	int i;

	if ((i = sqlite_param(st, n)) != 0)
		sqlite_bind_result(st, sqlite3_bind_null(st->st, i));
}

static void
sqlite_bind_text(struct drv_stmt *st, int n, const char *v)
{
	int i;

	if (v == NULL)
		sqlite_bind_null(st, n);
	else if ((i = sqlite_param(st, n)) != 0)
		sqlite_bind_result(st, sqlite3_bind_text(st->st, i, v, -1, SQLITE_STATIC));
}

static void
sqlite_bind_int64(struct drv_stmt *st, int n, int64_t v)
{
	int i;

	if ((i = sqlite_param(st, n)) != 0)
		sqlite_bind_result(st, sqlite3_bind_int64(st->st, i, v));
}

static void
sqlite_bind_blob(struct drv_stmt *st, int n, const void *p, size_t len)
{
	int i;

	if ((i = sqlite_param(st, n)) != 0)
		sqlite_bind_result(st, sqlite3_bind_blob64(st->st, i, p != NULL ? p : "",
							   (sqlite3_uint64)len, SQLITE_STATIC));
}

static int
sqlite_step(struct drv_stmt *st, struct err *e)
{
	int rc = -1, r;

	if (st->bind_rc != SQLITE_OK) {
		err_set(e, ERR_INTERNAL, "binding parameters: %s", sqlite3_errstr(st->bind_rc));
		goto out;
	}
	r = sqlite3_step(st->st);
	if (r == SQLITE_ROW) {
		rc = 1;
	} else if (r == SQLITE_DONE) {
		st->changes = sqlite3_changes64(st->conn->db);
		rc = 0;
	} else {
		sqlite_fail(st->conn, r, e);
	}
out:
	return rc;
}

static const char *
sqlite_column_text(struct drv_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st->st, col);
}

static int64_t
sqlite_column_int64(struct drv_stmt *st, int col)
{
	return sqlite3_column_int64(st->st, col);
}

static const unsigned char *
sqlite_column_blob(struct drv_stmt *st, int col, size_t *len)
{
	const unsigned char *p = sqlite3_column_blob(st->st, col);

	*len = (size_t)sqlite3_column_bytes(st->st, col);
	return p != NULL ? p : (const unsigned char *)"";
}

static int
sqlite_column_null(struct drv_stmt *st, int col)
{
	return sqlite3_column_type(st->st, col) == SQLITE_NULL;
}

static int64_t
sqlite_changes(struct drv_stmt *st)
{
	return st->changes;
}

static void
sqlite_reset(struct drv_stmt *st)
{
	if (st == NULL)
		return;
	sqlite3_reset(st->st);
	sqlite3_clear_bindings(st->st);
	st->bind_rc = SQLITE_OK;
	st->changes = 0;
}

/* Runs the one statement sql through *st, prepared at the first call and kept. */
static int
sqlite_exec_kept(struct drv_conn *c, sqlite3_stmt **st, const char *sql, struct err *e)
{
	int rc;

	if (*st == NULL && (rc = sqlite3_prepare_v2(c->db, sql, -1, st, NULL)) != SQLITE_OK) {
		*st = NULL;
		return sqlite_fail(c, rc, e);
	}
	if ((rc = sqlite3_step(*st)) != SQLITE_DONE)
		err_set(e, ERR_INTERNAL, "%s", sqlite3_errmsg(c->db));
	sqlite3_reset(*st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_begin(struct drv_conn *c, struct err *e)
{
	return sqlite_exec_kept(c, &c->begin_st, "BEGIN IMMEDIATE", e);
}

static void
sqlite_rollback(struct drv_conn *c)
{
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static int
sqlite_commit(struct drv_conn *c, struct err *e)
{
	int rc = -1;

	if (sqlite_exec_kept(c, &c->commit_st, "COMMIT", e) == -1)
		goto out;
	rc = 0;
out:
	if (rc == -1)
		sqlite_rollback(c);
	return rc;
}

/*
 * Deferred sync.  synchronous=NORMAL: a commit writes its WAL frames and returns; sync()
 * then fdatasyncs the WAL, which makes every frame written before it durable (the WAL is
 * only appended to, and recovery keeps its valid prefix).  Checkpoints still sync the WAL
 * before they copy it (they run with the checkpointing connection's FULL).  The WAL file
 * stays the same while this connection is open (SQLite removes it only when the last
 * connection closes), so one descriptor, opened at the first sync, serves them all; syncs
 * do not wait for each other.
 */
static int
sqlite_defer_sync(struct drv_conn *c, struct err *e)
{
	const char *wal = sqlite3_filename_wal(sqlite3_db_filename(c->db, "main"));

	if (wal == NULL || *wal == '\0')
		return err_set(e, ERR_INTERNAL, "sqlite:%s: no WAL file", c->path);
	if (sqlite_exec(c, "PRAGMA synchronous=NORMAL", e) == -1)
		return -1;
	pthread_mutex_lock(&c->wal_mu);
	free(c->walpath);
	c->walpath = xstrdup(wal);
	pthread_mutex_unlock(&c->wal_mu);
	return 0;
}

static int
sqlite_sync(struct drv_conn *c, struct err *e)
{
	int fd;

	pthread_mutex_lock(&c->wal_mu);
	if (c->walpath == NULL) { /* not deferred: each commit was durable */
		pthread_mutex_unlock(&c->wal_mu);
		return 0;
	}
	if (c->walfd == -1) {
		c->walfd = open(c->walpath, O_RDONLY | O_CLOEXEC);
		if (c->walfd == -1 && errno == ENOENT) { /* nothing committed yet */
			pthread_mutex_unlock(&c->wal_mu);
			return 0;
		}
		if (c->walfd == -1) {
			pthread_mutex_unlock(&c->wal_mu);
			return err_set(e, ERR_INTERNAL, "sqlite:%s: cannot open the WAL: %s",
				       c->path, strerror(errno));
		}
	}
	fd = c->walfd;
	pthread_mutex_unlock(&c->wal_mu);
	if (fdatasync(fd) == -1)
		return err_set(e, ERR_INTERNAL, "sqlite:%s: fdatasync of the WAL: %s", c->path,
			       strerror(errno));
	return 0;
}

/* Incremental blob I/O into the row last inserted (see driver.h), 1 MiB at a time. */
static int
sqlite_blob_fill_last(struct drv_conn *c, const char *table, const char *column, const void *p,
		      size_t len, struct err *e)
{
	const unsigned char *q = p;
	sqlite3_blob *b = NULL;
	size_t off = 0, n;
	int r, rc = -1;

	r = sqlite3_blob_open(c->db, "main", table, column, sqlite3_last_insert_rowid(c->db), 1,
			      &b);
	if (r != SQLITE_OK) {
		sqlite_fail(c, r, e);
		goto out;
	}
	if ((size_t)sqlite3_blob_bytes(b) != len) {
		err_set(e, ERR_INTERNAL, "blob of %d bytes, expected %zu", sqlite3_blob_bytes(b),
			len);
		goto out;
	}
	while (off < len) {
		n = len - off > (1u << 20) ? (1u << 20) : len - off;
		if ((r = sqlite3_blob_write(b, q + off, (int)n, (int)off)) != SQLITE_OK) {
			sqlite_fail(c, r, e);
			goto out;
		}
		off += n;
	}
	rc = 0;
out:
	if (b != NULL)
		sqlite3_blob_close(b);
	return rc;
}

/*
 * Gives the WAL its working size, written (zeros), once: under the write lock, so that no
 * frame is being appended meanwhile, and only past its current end (frames are read up to
 * the wal-index's last frame, and recovery stops at the first invalid one: zeros).
 */
static off_t
sqlite_wal_presize(struct drv_conn *c)
{
	static const char zero[65536];
	const char *wal;
	struct stat sb;
	struct err e;
	off_t want, off;
	int fd, page = 4096;
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(c->db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		page = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	want = 32 + (off_t)2 * SQLITE_CKPT_PAGES * (24 + page);
	err_clear(&e);
	if (sqlite_exec(c, "BEGIN IMMEDIATE", &e) == -1)
		return want;
	wal = sqlite3_filename_wal(sqlite3_db_filename(c->db, "main"));
	if (wal != NULL && (fd = open(wal, O_WRONLY | O_CLOEXEC)) != -1) {
		if (fstat(fd, &sb) == 0 && sb.st_size < want) {
			for (off = sb.st_size; off < want; off += (off_t)sizeof(zero))
				if (pwrite(fd, zero, sizeof(zero), off) != (ssize_t)sizeof(zero))
					break;
			(void)fdatasync(fd);
		}
		close(fd);
	}
	sqlite_exec(c, "ROLLBACK", &e);
	return want;
}

static void *
sqlite_ckpt_main(void *arg)
{
	int nlog, nckpt, rc;

	(void)arg;
	util_thread_name("shomei-ckpt");
	resident_open(&ckpt.wal, "WAL", ckpt.walpath, ckpt.walcap);
	resident_open(&ckpt.db, "database", ckpt.path, ckpt.dbcap);
	resident_update(&ckpt.wal, ckpt.path);
	resident_update(&ckpt.db, ckpt.path);
	pthread_mutex_lock(&ckpt.mu);
	for (;;) {
		while (!ckpt.want && !ckpt.stop)
			pthread_cond_wait(&ckpt.cv, &ckpt.mu);
		if (ckpt.stop)
			break;
		ckpt.want = 0;
		pthread_mutex_unlock(&ckpt.mu);
		rc = sqlite3_wal_checkpoint_v2(ckpt.conn->db, "main", SQLITE_CHECKPOINT_PASSIVE,
					       &nlog, &nckpt);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_warn("store: sqlite:%s: checkpoint: %s", ckpt.path,
				 sqlite3_errmsg(ckpt.conn->db));
		resident_update(&ckpt.wal, ckpt.path); /* grown past its working size */
		resident_update(&ckpt.db, ckpt.path);  /* the pages just copied into it */
		pthread_mutex_lock(&ckpt.mu);
		ckpt.runs++;
	}
	pthread_mutex_unlock(&ckpt.mu);
	return NULL;
}

int
sqlite_checkpointer_start(const char *path, size_t resident, struct err *e)
{
	struct drv_conn *c;
	const char *wal;
	size_t walcap;
	off_t walsize;

	pthread_mutex_lock(&ckpt.mu);
	if (ckpt.on || ckpt.path != NULL) {
		pthread_mutex_unlock(&ckpt.mu);
		return err_set(e, ERR_INTERNAL, "store: a checkpointer runs already");
	}
	pthread_mutex_unlock(&ckpt.mu);
	if (sqlite_open(&c, path, e) == -1)
		return -1;
	walsize = sqlite_wal_presize(c);
	/* the WAL's working size, or twice that if it grows; the rest for the database */
	walcap = resident / 2 < 2 * (size_t)walsize ? resident / 2 : 2 * (size_t)walsize;
	wal = sqlite3_filename_wal(sqlite3_db_filename(c->db, "main"));
	pthread_mutex_lock(&ckpt.mu);
	ckpt.walpath = xstrdup(wal != NULL ? wal : "");
	ckpt.walcap = walcap;
	ckpt.dbcap = resident - walcap;
	ckpt.conn = c;
	ckpt.path = xstrdup(path);
	ckpt.want = 1; /* what an earlier process left in the WAL */
	ckpt.stop = 0;
	ckpt.runs = 0;
	if (pthread_create(&ckpt.thread, NULL, sqlite_ckpt_main, NULL) != 0) {
		free(ckpt.path);
		free(ckpt.walpath);
		ckpt.conn = NULL;
		ckpt.path = ckpt.walpath = NULL;
		pthread_mutex_unlock(&ckpt.mu);
		sqlite_close(c);
		return err_set(e, ERR_INTERNAL, "store: cannot start the checkpointer thread");
	}
	ckpt.on = 1;
	pthread_mutex_unlock(&ckpt.mu);
	return 0;
}

void
sqlite_checkpointer_stop(void)
{
	char *path;

	pthread_mutex_lock(&ckpt.mu);
	if (!ckpt.on) {
		pthread_mutex_unlock(&ckpt.mu);
		return;
	}
	ckpt.on = 0; /* from here on, commits checkpoint for themselves */
	ckpt.stop = 1;
	pthread_cond_signal(&ckpt.cv);
	pthread_mutex_unlock(&ckpt.mu);
	pthread_join(ckpt.thread, NULL);
	pthread_mutex_lock(&ckpt.mu);
	log_debug("store: sqlite:%s: %lu checkpoints", ckpt.path, ckpt.runs);
	path = ckpt.path;
	ckpt.path = NULL;
	pthread_mutex_unlock(&ckpt.mu);
	sqlite_close(ckpt.conn);
	ckpt.conn = NULL;
	/*
	 * Closing a descriptor of the database drops every POSIX lock this process holds on
	 * it, SQLite's among them: the caller has closed its other connections first.
	 */
	resident_close(&ckpt.wal);
	resident_close(&ckpt.db);
	free(ckpt.walpath);
	ckpt.walpath = NULL;
	free(path);
}

const struct store_driver store_driver_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .defer_sync = sqlite_defer_sync,
    .sync = sqlite_sync,
    .exec = sqlite_exec,
    .prepare = sqlite_prepare,
    .bind_text = sqlite_bind_text,
    .bind_int64 = sqlite_bind_int64,
    .bind_blob = sqlite_bind_blob,
    .bind_null = sqlite_bind_null,
    .step = sqlite_step,
    .column_text = sqlite_column_text,
    .column_int64 = sqlite_column_int64,
    .column_blob = sqlite_column_blob,
    .column_null = sqlite_column_null,
    .changes = sqlite_changes,
    .reset = sqlite_reset,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .blob_fill_last = sqlite_blob_fill_last,
    .open_ro = sqlite_open_ro,
    .backup_to = sqlite_backup_to,
};
