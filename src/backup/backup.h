/*
 * backup: `shomei backup`, `shomei backup --verify` and `shomei restore` (docs/backup.md).
 *
 * A backup is a directory made under a temporary name and renamed into place at the end:
 *
 *	MANIFEST      what is in it (manifest.c: format, time, store kind, the audit head of the
 *	              snapshot, each file's size and SHA-256; its own SHA-256 on its last line)
 *	store.db      the SQLite store, one snapshot (store_backup_to), rollback-journal mode
 *	shomei.conf   the configuration
 *	certs/...     the data directory's certs/ (CA, OCSP, TSA, HTTPS certificates)
 *	keys.sealed   only with --keys: every file of keys/, sealed with a passphrase (seal.c)
 *
 * Files are 0600, directories 0700.  A manifest and a sealed key bundle read from a backup
 * are untrusted bytes: their parsers are bounded and fuzzed (tests/fuzz/fuzz_backup.c).  The
 * manifest's hashes catch damage, not an attacker who rewrites the manifest too; the keys'
 * seal (XChaCha20-Poly1305 under an Argon2id key) is authenticated.
 */
#ifndef SHOMEI_BACKUP_H
#define SHOMEI_BACKUP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/util.h"

#define BACKUP_MANIFEST "MANIFEST"
#define BACKUP_STORE "store.db"
#define BACKUP_CONF "shomei.conf"
#define BACKUP_KEYS "keys.sealed"
#define BACKUP_FORMAT 1

#define BACKUP_MANIFEST_MAX (1024 * 1024) /* bytes of a MANIFEST */
#define BACKUP_FILES_MAX 4096		  /* files a manifest lists */
#define BACKUP_PATH_MAX 200		  /* bytes of one listed path */
#define BACKUP_HASH_LEN 32		  /* SHA-256 */
#define BACKUP_PASS_MIN 12		  /* bytes of a backup passphrase, at least */
#define BACKUP_PASS_MAX 1024

/* ---- manifest (manifest.c) ---- */
struct backup_file {
	char *path; /* relative: "store.db", "certs/root.pem" */
	uint64_t size;
	unsigned char sha256[BACKUP_HASH_LEN];
};

struct backup_manifest {
	int format;	   /* BACKUP_FORMAT */
	char *version;	   /* the shomei that made it */
	int64_t created;   /* seconds since the epoch */
	char *store;	   /* "sqlite" */
	int64_t schema;	   /* the store's schema version */
	int64_t audit_seq; /* the audit head of the snapshot */
	unsigned char audit_hash[BACKUP_HASH_LEN];
	int64_t certs; /* certificates in the snapshot */
	struct backup_file *files;
	size_t nfiles;
};

/*
 * Reads a MANIFEST (untrusted): the exact line format manifest.c documents, each path a
 * plain relative name, no path twice, the last line the SHA-256 of all before it.  On success
 * m is filled (backup_manifest_clear frees it); ERR_REFUSED "manifest: line N: ..." else.
 */
int backup_manifest_parse(const unsigned char *, size_t, struct backup_manifest *, struct err *);
/* Writes m in that format (its closing hash included) into out. */
int backup_manifest_format(const struct backup_manifest *, struct buf *out, struct err *);
void backup_manifest_clear(struct backup_manifest *); /* accepts a zeroed one */
/* The listed file of that path, or NULL. */
const struct backup_file *backup_manifest_find(const struct backup_manifest *, const char *path);
/* 1 when p is a path a manifest may list (plain components, at most one directory). */
int backup_path_ok(const char *p);

/* ---- sealed keys (seal.c) ---- */
struct backup_key {
	char *name; /* a file name of keys/ (no directory) */
	unsigned char *data;
	size_t len;
};

#define BACKUP_KEYS_MAX 256		  /* files of keys/ */
#define BACKUP_KEY_FILE_MAX (1024 * 1024) /* bytes of one */

/*
 * Seals the files with the passphrase: Argon2id (libsodium's moderate limits, kept in the
 * header) derives the key of one XChaCha20-Poly1305 box over all of them, the header its
 * associated data.  out gets the bundle.
 */
int backup_keys_seal(const struct backup_key *, size_t n, const char *pass, size_t passlen,
		     struct buf *out, struct err *);
/*
 * Opens a bundle (untrusted): ERR_REFUSED for a malformed one, and for a wrong passphrase or
 * altered bytes (one message: they cannot be told apart).  *out: n files, freed (and wiped)
 * by backup_keys_free.
 */
int backup_keys_open(const unsigned char *, size_t, const char *pass, size_t passlen,
		     struct backup_key **out, size_t *n, struct err *);
/* The opened box's contents into files (untrusted layout; seal.c); for the fuzz target. */
int backup_keys_unpack(const unsigned char *, size_t, struct backup_key **out, size_t *n,
		       struct err *);
void backup_keys_free(struct backup_key *, size_t n);

/* ---- the commands (backup.c) ---- */
struct backup_summary {
	int64_t certs, valid, revoked;
	int64_t audit_entries, audit_seq;
	unsigned char audit_hash[BACKUP_HASH_LEN];
	int64_t created;
	size_t nfiles;
	int keys; /* the backup holds keys.sealed */
};

struct backup_opts {
	const char *datadir; /* the data directory (certs/, keys/) */
	const char *conf;    /* the configuration file in use */
	const char *store;   /* the resolved store spec ("sqlite:/abs/path") */
	const char *version; /* the running shomei's */
	const char *pass;    /* NULL: no keys */
	size_t passlen;
};

/*
 * Makes the backup directory dest (absent, or an empty directory): everything is written
 * under "dest.tmp-PID" and renamed at the end; on failure nothing is left.
 */
int backup_make(const struct backup_opts *, const char *dest, struct backup_summary *,
		struct err *);
/*
 * Checks a backup without writing to it: its files opened relative to the directory (no link
 * followed, regular files only), the manifest, each file's size and hash, no store.db-wal,
 * -shm or -journal beside the store; the store copied once into a private temporary
 * directory (removed afterwards) and everything checked on that copy (rollback-journal
 * header, opened immutable, its own check, its schema exactly the migrations', the audit
 * chain walked by ca_audit_verify, the head and counts the manifest recorded); with a
 * passphrase, that the keys open.  ERR_REFUSED naming the first problem.
 */
int backup_verify(const char *src, const char *pass, size_t passlen, struct backup_summary *,
		  struct err *);
/*
 * Verifies src as backup_verify does, with the store's copy made inside the new data
 * directory's temporary tree, then makes the data directory datadir (absent or empty):
 * shomei.conf (no test.* key in it), certs/, the checked copy renamed to where the backed-up
 * configuration's `store` names it (a SQLite path inside the data directory) and, when the
 * backup has keys, keys/ (the passphrase then required) — under a temporary name renamed at
 * the end.  The summary is the installed store's.
 */
int backup_restore(const char *src, const char *datadir, const char *pass, size_t passlen,
		   struct backup_summary *, struct err *);

#endif
