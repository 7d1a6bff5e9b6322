/*
 * backup: making, verifying and restoring a backup directory (backup.h, docs/backup.md).
 * The store's snapshot is the store module's (store_backup_to); the audit chain is walked
 * by ca_audit_verify; this file moves files and keeps the manifest.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "backup/backup_int.h"
#include "ca/ca.h"
#include "store/store.h"

#define BK_MODE_FILE 0600
#define BK_MODE_DIR 0700

/* Adds a file to the manifest being made. */
static void
bk_list_add(struct backup_manifest *m, size_t *cap, const char *path,
	    const unsigned char sha[BACKUP_HASH_LEN], uint64_t size)
{
	struct backup_file *f;

	if (m->nfiles == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		m->files = xrealloc(m->files, *cap * sizeof(*m->files));
	}
	f = &m->files[m->nfiles++];
	f->path = xstrdup(path);
	f->size = size;
	memcpy(f->sha256, sha, BACKUP_HASH_LEN);
}

/*
 * What the manifest records of a store copy: schema, audit head, certificates.  The copy's
 * schema must be the migrations' (as verify and restore will require): a store someone added
 * an object to is refused now, not when the backup is needed.
 */
static int
bk_store_facts(const char *spec, struct backup_manifest *m, struct backup_summary *sum,
	       struct err *e)
{
	struct store *s = NULL;
	int version = 0, rc = -1;

	if (store_open_readonly(&s, spec, e) == -1 || store_schema_check(s, e) == -1 ||
	    store_schema_version(s, &version, e) == -1 ||
	    store_audit_head(s, &m->audit_seq, m->audit_hash, e) == -1 ||
	    store_cert_count(s, -1, &m->certs, e) == -1 ||
	    store_cert_count(s, STORE_CERT_VALID, &sum->valid, e) == -1 ||
	    store_cert_count(s, STORE_CERT_REVOKED, &sum->revoked, e) == -1)
		goto out;
	m->schema = version;
	sum->certs = m->certs;
	sum->audit_seq = m->audit_seq;
	memcpy(sum->audit_hash, m->audit_hash, BACKUP_HASH_LEN);
	rc = 0;
out:
	store_close(s);
	return rc;
}

/* The snapshot of the live store into tmp/store.db. */
static int
bk_make_store(const struct backup_opts *o, const char *tmp, struct backup_manifest *m, size_t *cap,
	      struct backup_summary *sum, struct err *e)
{
	unsigned char sha[BACKUP_HASH_LEN];
	struct store *s = NULL;
	char *path = NULL, *spec = NULL;
	uint64_t size;
	int rc = -1;

	path = xasprintf("%s/%s", tmp, BACKUP_STORE);
	spec = xasprintf("sqlite:%s", path);
	if (bk_write_new(path, "", 0, BK_MODE_FILE, NULL, e) == -1 ||
	    store_open(&s, o->store, e) == -1 || store_backup_to(s, path, e) == -1)
		goto out;
	store_close(s);
	s = NULL;
	if (bk_store_facts(spec, m, sum, e) == -1 || bk_copy(path, NULL, 0, sha, &size, e) == -1)
		goto out;
	bk_list_add(m, cap, BACKUP_STORE, sha, size);
	rc = 0;
out:
	store_close(s);
	free(spec);
	free(path);
	return rc;
}

/* The configuration and certs/ into tmp. */
static int
bk_make_files(const struct backup_opts *o, const char *tmp, struct backup_manifest *m, size_t *cap,
	      struct err *e)
{
	unsigned char sha[BACKUP_HASH_LEN];
	char **names = NULL, *src = NULL, *dst = NULL, *rel = NULL;
	size_t n = 0, i;
	uint64_t size;
	int rc = -1;

	dst = xasprintf("%s/%s", tmp, BACKUP_CONF);
	if (bk_copy(o->conf, dst, BK_MODE_FILE, sha, &size, e) == -1)
		goto out;
	bk_list_add(m, cap, BACKUP_CONF, sha, size);
	free(dst);
	dst = xasprintf("%s/certs", tmp);
	src = xasprintf("%s/certs", o->datadir);
	if (bk_mkdir(dst, BK_MODE_DIR, e) == -1 || bk_list_dir(src, 0, &names, &n, e) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		free(src);
		free(dst);
		free(rel);
		rel = xasprintf("certs/%s", names[i]);
		src = xasprintf("%s/%s", o->datadir, rel);
		dst = xasprintf("%s/%s", tmp, rel);
		if (bk_copy(src, dst, BK_MODE_FILE, sha, &size, e) == -1)
			goto out;
		bk_list_add(m, cap, rel, sha, size);
	}
	free(dst);
	dst = xasprintf("%s/certs", tmp);
	if (bk_fsync_dir(dst, e) == -1)
		goto out;
	rc = 0;
out:
	bk_names_free(names, n);
	free(rel);
	free(src);
	free(dst);
	return rc;
}

/* Every file of keys/, sealed into tmp/keys.sealed. */
static int
bk_make_keys(const struct backup_opts *o, const char *tmp, struct backup_manifest *m, size_t *cap,
	     struct err *e)
{
	unsigned char sha[BACKUP_HASH_LEN];
	struct backup_key *k = NULL;
	struct buf out, b;
	char **names = NULL, *dir = NULL, *path = NULL;
	size_t n = 0, i;
	int rc = -1;

	buf_init(&out, 32 * 1024 * 1024);
	memset(&b, 0, sizeof(b));
	dir = xasprintf("%s/keys", o->datadir);
	if (bk_list_dir(dir, 1, &names, &n, e) == -1)
		goto out;
	if (n > BACKUP_KEYS_MAX) {
		err_set(e, ERR_REFUSED, "backup: %s: more than %d files", dir, BACKUP_KEYS_MAX);
		goto out;
	}
	k = xcalloc(n > 0 ? n : 1, sizeof(*k));
	for (i = 0; i < n; i++) {
		free(path);
		path = xasprintf("%s/%s", dir, names[i]);
		if (util_read_file(path, BACKUP_KEY_FILE_MAX, &b, e) == -1)
			goto out;
		k[i].name = xstrdup(names[i]);
		k[i].len = b.len;
		k[i].data = xmalloc(b.len > 0 ? b.len : 1);
		memcpy(k[i].data, b.data, b.len);
		buf_free(&b);
	}
	free(path);
	path = xasprintf("%s/%s", tmp, BACKUP_KEYS);
	if (backup_keys_seal(k, n, o->pass, o->passlen, &out, e) == -1 ||
	    bk_write_new(path, out.data, out.len, BK_MODE_FILE, sha, e) == -1)
		goto out;
	bk_list_add(m, cap, BACKUP_KEYS, sha, out.len);
	rc = 0;
out:
	buf_free(&b);
	buf_free(&out);
	backup_keys_free(k, n);
	bk_names_free(names, n);
	free(path);
	free(dir);
	return rc;
}

/* Renames the finished tmp to target (absent or an empty directory) and syncs its parent. */
static int
bk_commit_dir(const char *tmp, const char *target, struct err *e)
{
	char *parent = NULL;
	int rc = -1;

	if (bk_fsync_dir(tmp, e) == -1)
		goto out;
	if (rename(tmp, target) == -1) {
		err_set(e, errno == ENOTEMPTY || errno == EEXIST ? ERR_REFUSED : ERR_INTERNAL,
			"%s: rename: %s", target, strerror(errno));
		goto out;
	}
	parent = bk_parent(target);
	if (bk_fsync_dir(parent, e) == -1)
		goto out;
	rc = 0;
out:
	free(parent);
	return rc;
}

int
backup_make(const struct backup_opts *o, const char *destarg, struct backup_summary *sum,
	    struct err *e)
{
	char *dest = bk_path_clean(destarg);
	struct backup_manifest m;
	struct buf mb;
	char *tmp = NULL, *path = NULL;
	size_t cap = 0;
	int rc = -1, made = 0;

	memset(&m, 0, sizeof(m));
	memset(sum, 0, sizeof(*sum));
	buf_init(&mb, BACKUP_MANIFEST_MAX);
	if (strncmp(o->store, "sqlite:", 7) != 0) {
		err_set(e, ERR_REFUSED,
			"backup: the store is PostgreSQL: back it up with pg_dump --format=custom "
			"(or pg_basebackup) and keep shomei.conf and certs/ beside it; see "
			"docs/backup.md");
		goto out;
	}
	if (bk_target_free(dest, "backup", e) == -1)
		goto out;
	tmp = xasprintf("%s.tmp-%ld", dest, (long)getpid());
	if (bk_mkdir(tmp, BK_MODE_DIR, e) == -1)
		goto out;
	made = 1;
	m.version = xstrdup(o->version);
	m.store = xstrdup("sqlite");
	m.created = (int64_t)util_now();
	if (bk_make_store(o, tmp, &m, &cap, sum, e) == -1 ||
	    bk_make_files(o, tmp, &m, &cap, e) == -1)
		goto out;
	if (o->pass != NULL && bk_make_keys(o, tmp, &m, &cap, e) == -1)
		goto out;
	path = xasprintf("%s/%s", tmp, BACKUP_MANIFEST);
	if (backup_manifest_format(&m, &mb, e) == -1 ||
	    bk_write_new(path, mb.data, mb.len, BK_MODE_FILE, NULL, e) == -1 ||
	    bk_commit_dir(tmp, dest, e) == -1)
		goto out;
	made = 0;
	sum->created = m.created;
	sum->nfiles = m.nfiles;
	sum->keys = o->pass != NULL;
	rc = 0;
out:
	if (made)
		bk_rmtree(tmp);
	backup_manifest_clear(&m);
	buf_free(&mb);
	free(path);
	free(tmp);
	free(dest);
	return rc;
}

/* ---- verify ---- */

/*
 * The store copy at path (the private copy the caller made and hashed): its own check, its
 * schema exactly the migrations', the audit chain, the head and counts the manifest recorded.
 */
static int
bk_verify_store(const char *path, const struct backup_manifest *m, struct backup_summary *sum,
		struct err *e)
{
	struct ca_audit_report r;
	struct store *s = NULL;
	unsigned char head[STORE_HASH_LEN];
	char *spec = NULL;
	int version = 0, rc = -1, v;

	spec = xasprintf("sqlite:%s", path);
	if (store_open_readonly(&s, spec, e) == -1 || store_check(s, e) == -1 ||
	    store_schema_version(s, &version, e) == -1)
		goto out;
	if (version != m->schema) {
		err_set(e, ERR_REFUSED, "backup: the store's schema is %d, the manifest says %lld",
			version, (long long)m->schema);
		goto out;
	}
	if (store_schema_check(s, e) == -1)
		goto out;
	if ((v = ca_audit_verify(s, &r, e)) == -1)
		goto out;
	if (v == 1) {
		err_set(e, ERR_REFUSED, "backup: audit chain broken at entry %lld: %s",
			(long long)r.bad_seq, r.problem);
		goto out;
	}
	if (store_audit_head(s, &sum->audit_seq, head, e) == -1 ||
	    store_cert_count(s, -1, &sum->certs, e) == -1 ||
	    store_cert_count(s, STORE_CERT_VALID, &sum->valid, e) == -1 ||
	    store_cert_count(s, STORE_CERT_REVOKED, &sum->revoked, e) == -1)
		goto out;
	memcpy(sum->audit_hash, head, BACKUP_HASH_LEN);
	sum->audit_entries = r.entries;
	if (sum->audit_seq != m->audit_seq || memcmp(head, m->audit_hash, BACKUP_HASH_LEN) != 0) {
		err_set(e, ERR_REFUSED,
			"backup: the store's audit head (entry %lld) is not the one the manifest "
			"recorded (entry %lld)",
			(long long)sum->audit_seq, (long long)m->audit_seq);
		goto out;
	}
	if (sum->certs != m->certs) {
		err_set(e, ERR_REFUSED,
			"backup: the store holds %lld certificates, the manifest says %lld",
			(long long)sum->certs, (long long)m->certs);
		goto out;
	}
	rc = 0;
out:
	store_close(s);
	free(spec);
	return rc;
}

/*
 * Copies the backup's file rel (dfd) to the new file dst (NULL: only reads it), which must
 * come out as the manifest recorded it: what is checked or installed is what was hashed.
 */
static int
bk_src_copy(int dfd, const char *src, const struct backup_manifest *m, const char *rel,
	    const char *dst, int mode, struct err *e)
{
	const struct backup_file *f = backup_manifest_find(m, rel);
	unsigned char sha[BACKUP_HASH_LEN];
	char *name = NULL;
	uint64_t size;
	int fd = -1, rc = -1;

	name = xasprintf("%s/%s", src, rel);
	if (f == NULL) {
		err_set(e, ERR_REFUSED, "backup: the manifest lists no %s", rel);
		goto out;
	}
	if ((fd = bk_src_file(dfd, src, rel, e)) == -1 ||
	    bk_copy_fd(fd, name, dst, mode, sha, &size, e) == -1)
		goto out;
	if (size != f->size || memcmp(sha, f->sha256, BACKUP_HASH_LEN) != 0) {
		err_set(e, ERR_REFUSED,
			"backup: %s: its %s does not match the manifest: damaged or altered", rel,
			size != f->size ? "size" : "SHA-256");
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	free(name);
	return rc;
}

/* Reads and opens keys.sealed of the backup dfd, checking it against the manifest first. */
static int
bk_keys_load(int dfd, const char *src, const struct backup_file *f, const char *pass,
	     size_t passlen, struct backup_key **k, size_t *n, struct err *e)
{
	unsigned char sha[BACKUP_HASH_LEN];
	struct buf b;
	int fd = -1, rc = -1;

	memset(&b, 0, sizeof(b));
	if ((fd = bk_src_file(dfd, src, BACKUP_KEYS, e)) == -1 ||
	    bk_read_fd(fd, BACKUP_KEYS, 16 * 1024 * 1024, &b, e) == -1)
		goto out;
	crypto_hash_sha256(sha, b.data, b.len);
	if (b.len != f->size || memcmp(sha, f->sha256, BACKUP_HASH_LEN) != 0) {
		err_set(e, ERR_REFUSED, "backup: %s: changed since the manifest was written",
			BACKUP_KEYS);
		goto out;
	}
	if (backup_keys_open(b.data, b.len, pass, passlen, k, n, e) == -1)
		goto out;
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	buf_free(&b);
	return rc;
}

/*
 * The whole check of the backup dfd (src names it).  store.db is copied once, to the new
 * private file storepath, and everything about the store is checked on that copy; m keeps
 * the manifest for the caller (restore).
 */
static int
bk_verify(int dfd, const char *src, const char *storepath, const char *pass, size_t passlen,
	  struct backup_manifest *m, struct backup_summary *sum, struct err *e)
{
	static const char *const beside[] = {BACKUP_STORE "-wal", BACKUP_STORE "-shm",
					     BACKUP_STORE "-journal", NULL};
	struct backup_key *k = NULL;
	struct buf b;
	size_t i, nk = 0;
	int fd = -1, rc = -1;

	memset(&b, 0, sizeof(b));
	memset(m, 0, sizeof(*m));
	memset(sum, 0, sizeof(*sum));
	if ((fd = bk_src_file(dfd, src, BACKUP_MANIFEST, e)) == -1 ||
	    bk_read_fd(fd, BACKUP_MANIFEST, BACKUP_MANIFEST_MAX, &b, e) == -1 ||
	    backup_manifest_parse(b.data, b.len, m, e) == -1)
		goto out;
	if (backup_manifest_find(m, BACKUP_STORE) == NULL ||
	    backup_manifest_find(m, BACKUP_CONF) == NULL) {
		err_set(e, ERR_REFUSED, "backup: the manifest lists no %s or no %s", BACKUP_STORE,
			BACKUP_CONF);
		goto out;
	}
	for (i = 0; beside[i] != NULL; i++)
		if (bk_src_absent(dfd, src, beside[i], e) == -1)
			goto out;
	for (i = 0; i < m->nfiles; i++) {
		if (strcmp(m->files[i].path, BACKUP_STORE) == 0)
			continue;
		if (bk_src_copy(dfd, src, m, m->files[i].path, NULL, 0, e) == -1)
			goto out;
	}
	if (bk_src_copy(dfd, src, m, BACKUP_STORE, storepath, BK_MODE_FILE, e) == -1 ||
	    bk_verify_store(storepath, m, sum, e) == -1)
		goto out;
	sum->keys = backup_manifest_find(m, BACKUP_KEYS) != NULL;
	if (sum->keys && pass != NULL &&
	    bk_keys_load(dfd, src, backup_manifest_find(m, BACKUP_KEYS), pass, passlen, &k, &nk,
			 e) == -1)
		goto out;
	sum->created = m->created;
	sum->nfiles = m->nfiles;
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	backup_keys_free(k, nk);
	buf_free(&b);
	return rc;
}

int
backup_verify(const char *srcarg, const char *pass, size_t passlen, struct backup_summary *sum,
	      struct err *e)
{
	char *src = bk_path_clean(srcarg);
	struct backup_manifest m;
	const char *tmpdir = getenv("TMPDIR");
	char *work = NULL, *path = NULL;
	int dfd = -1, rc = -1;

	memset(&m, 0, sizeof(m));
	memset(sum, 0, sizeof(*sum));
	if ((dfd = bk_src_open(src, e)) == -1)
		goto out;
	/* the store's private copy: a new directory of this process's only (0700) */
	work = xasprintf("%s/shomei-verify-XXXXXX",
			 tmpdir != NULL && *tmpdir == '/' ? tmpdir : "/tmp");
	if (mkdtemp(work) == NULL) {
		err_set(e, ERR_INTERNAL, "%s: mkdtemp: %s", work, strerror(errno));
		free(work);
		work = NULL;
		goto out;
	}
	path = xasprintf("%s/%s", work, BACKUP_STORE);
	if (bk_verify(dfd, src, path, pass, passlen, &m, sum, e) == -1)
		goto out;
	rc = 0;
out:
	bk_rmtree(work);
	if (dfd != -1)
		close(dfd);
	backup_manifest_clear(&m);
	free(path);
	free(work);
	free(src);
	return rc;
}

/* ---- restore ---- */

/*
 * Where the restored configuration (the file at path) keeps the store: "db/shomei.db";
 * caller frees.  A configuration that sets a test.* key is refused (a crafted backup could
 * move the clock or the instance's identity of the restored server).
 */
static char *
bk_store_rel(const char *path, struct err *e)
{
	struct conf c;
	char *rel = NULL;
	const char *v;
	size_t i;

	memset(&c, 0, sizeof(c));
	if (conf_load(&c, path, e) == -1)
		goto out;
	for (i = 0; i < c.n; i++) {
		if (strncmp(c.v[i].key, "test.", 5) == 0) {
			err_set(
			    e, ERR_REFUSED,
			    "restore: %s:%d: \"%s\" is a key for shomei's tests only, never in a "
			    "configuration to restore: refused",
			    BACKUP_CONF, c.v[i].line, c.v[i].key);
			goto out;
		}
	}
	v = conf_get(&c, "store", "sqlite:shomei.db");
	if (strncmp(v, "sqlite:", 7) != 0 || !backup_path_ok(v + 7) ||
	    strcmp(v + 7, BACKUP_CONF) == 0 || strncmp(v + 7, "certs/", 6) == 0 ||
	    strncmp(v + 7, "keys/", 5) == 0) {
		err_set(e, ERR_REFUSED,
			"restore: the configuration's store (%.200s) is not a SQLite file inside "
			"the data directory, apart from shomei.conf, certs/ and keys/: restore by "
			"hand (docs/backup.md)",
			strncmp(v, "sqlite:", 7) == 0 ? v : "PostgreSQL");
		goto out;
	}
	rel = xstrdup(v + 7);
out:
	conf_free(&c);
	return rel;
}

/*
 * The checked copy tmp/.store.db, renamed to where the configuration names the store,
 * migrated and back in WAL mode.
 */
static int
bk_restore_store(const char *checked, const char *tmp, const char *rel, struct err *e)
{
	struct store *s = NULL;
	struct stat sb;
	char *dst = NULL, *dir = NULL, *spec = NULL;
	int rc = -1;

	dst = xasprintf("%s/%s", tmp, rel);
	dir = bk_parent(dst);
	if (strchr(rel, '/') != NULL && bk_mkdir(dir, 0700, e) == -1)
		goto out;
	if (lstat(dst, &sb) == 0) {
		err_set(e, ERR_REFUSED, "restore: %s: the store's place is taken", rel);
		goto out;
	}
	if (rename(checked, dst) == -1) {
		err_set(e, ERR_INTERNAL, "%s: rename: %s", dst, strerror(errno));
		goto out;
	}
	spec = xasprintf("sqlite:%s", dst);
	if (store_open(&s, spec, e) == -1)
		goto out;
	store_close(s);
	s = NULL;
	if (bk_fsync_dir(dir, e) == -1 || bk_fsync_dir(tmp, e) == -1)
		goto out;
	rc = 0;
out:
	store_close(s);
	free(spec);
	free(dir);
	free(dst);
	return rc;
}

/* certs/ (0755, files 0644, as init makes them) and keys/ (0700, files 0600). */
static int
bk_restore_dirs(int dfd, const char *src, const struct backup_manifest *m, const char *tmp,
		const struct backup_key *k, size_t nk, int keys, struct err *e)
{
	char *dir = NULL, *dst = NULL;
	size_t i;
	int rc = -1;

	dir = xasprintf("%s/certs", tmp);
	if (bk_mkdir(dir, 0755, e) == -1)
		goto out;
	for (i = 0; i < m->nfiles; i++) {
		if (strncmp(m->files[i].path, "certs/", 6) != 0)
			continue;
		free(dst);
		dst = xasprintf("%s/%s", tmp, m->files[i].path);
		if (bk_src_copy(dfd, src, m, m->files[i].path, dst, 0644, e) == -1)
			goto out;
	}
	if (bk_fsync_dir(dir, e) == -1 || !keys)
		goto done;
	free(dir);
	dir = xasprintf("%s/keys", tmp);
	if (bk_mkdir(dir, 0700, e) == -1)
		goto out;
	for (i = 0; i < nk; i++) {
		free(dst);
		dst = xasprintf("%s/%s", dir, k[i].name);
		if (bk_write_new(dst, k[i].data, k[i].len, 0600, NULL, e) == -1)
			goto out;
	}
	if (bk_fsync_dir(dir, e) == -1)
		goto out;
done:
	rc = 0;
out:
	free(dst);
	free(dir);
	return rc;
}

int
backup_restore(const char *srcarg, const char *datadirarg, const char *pass, size_t passlen,
	       struct backup_summary *sum, struct err *e)
{
	char *datadir = bk_path_clean(datadirarg), *src = bk_path_clean(srcarg);
	struct backup_manifest m;
	struct backup_key *k = NULL;
	const struct backup_file *kf;
	char *tmp = NULL, *rel = NULL, *conf = NULL, *checked = NULL;
	size_t nk = 0;
	int rc = -1, made = 0, dfd = -1;

	memset(&m, 0, sizeof(m));
	memset(sum, 0, sizeof(*sum));
	if ((dfd = bk_src_open(src, e)) == -1 || bk_target_free(datadir, "restore", e) == -1)
		goto out;
	tmp = xasprintf("%s.restore-%ld", datadir, (long)getpid());
	if (bk_mkdir(tmp, 0750, e) == -1)
		goto out;
	made = 1;
	/* the store is copied once, into tmp, checked there, and that copy is installed */
	checked = xasprintf("%s/.%s", tmp, BACKUP_STORE);
	if (bk_verify(dfd, src, checked, NULL, 0, &m, sum, e) == -1)
		goto out;
	if ((kf = backup_manifest_find(&m, BACKUP_KEYS)) != NULL && pass == NULL) {
		err_set(e, ERR_REFUSED,
			"restore: the backup holds keys: give its passphrase (--passphrase-file "
			"FILE or $SHOMEI_BACKUP_PASSPHRASE)");
		goto out;
	}
	if (kf != NULL && bk_keys_load(dfd, src, kf, pass, passlen, &k, &nk, e) == -1)
		goto out;
	conf = xasprintf("%s/%s", tmp, BACKUP_CONF);
	if (bk_src_copy(dfd, src, &m, BACKUP_CONF, conf, 0640, e) == -1 ||
	    (rel = bk_store_rel(conf, e)) == NULL ||
	    bk_restore_dirs(dfd, src, &m, tmp, k, nk, kf != NULL, e) == -1 ||
	    bk_restore_store(checked, tmp, rel, e) == -1 || bk_commit_dir(tmp, datadir, e) == -1)
		goto out;
	made = 0;
	rc = 0;
out:
	if (made)
		bk_rmtree(tmp);
	if (dfd != -1)
		close(dfd);
	backup_keys_free(k, nk);
	backup_manifest_clear(&m);
	free(checked);
	free(conf);
	free(rel);
	free(tmp);
	free(src);
	free(datadir);
	return rc;
}
