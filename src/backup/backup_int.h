/* backup_int: shared between the files of the backup module only (files.c). */
#ifndef SHOMEI_BACKUP_INT_H
#define SHOMEI_BACKUP_INT_H

#include "backup/backup.h"

/*
 * Copies the regular file src (not a link) to the new file dst (O_EXCL, mode, synced),
 * hashing what it copies; dst NULL: only hashes.  ERR_REFUSED when src is missing or no
 * regular file.
 */
int bk_copy(const char *src, const char *dst, int mode, unsigned char sha[BACKUP_HASH_LEN],
	    uint64_t *size, struct err *);
/* The same from the open file in (src names it in messages). */
int bk_copy_fd(int in, const char *src, const char *dst, int mode,
	       unsigned char sha[BACKUP_HASH_LEN], uint64_t *size, struct err *);
/*
 * A backup directory to read (untrusted): opened O_DIRECTORY | O_NOFOLLOW, its files then
 * opened relative to the descriptor only.  The descriptor, or -1 with e set.
 */
int bk_src_open(const char *src, struct err *);
/*
 * The file rel ("MANIFEST", "certs/root.pem") of the backup directory dfd, opened read-only:
 * neither its directory nor the file through a symbolic link, without waiting (O_NONBLOCK: a
 * FIFO never blocks), and only a regular file.  The descriptor, or -1: ERR_REFUSED naming it.
 */
int bk_src_file(int dfd, const char *src, const char *rel, struct err *);
/* 0 when name is absent from the backup directory dfd; ERR_REFUSED when it is there. */
int bk_src_absent(int dfd, const char *src, const char *name, struct err *);
/* All of fd into out (buf_init'ed here with max; ERR_REFUSED when larger). */
int bk_read_fd(int fd, const char *name, size_t max, struct buf *out, struct err *);
/* Writes the new file path (O_EXCL, mode, synced); sha (may be NULL) gets its SHA-256. */
int bk_write_new(const char *path, const void *, size_t, int mode,
		 unsigned char sha[BACKUP_HASH_LEN], struct err *);
/* mkdir with exactly mode; ERR_REFUSED when it exists. */
int bk_mkdir(const char *path, int mode, struct err *);
int bk_fsync_dir(const char *path, struct err *);
/* path without trailing slashes ("b/" names b, whose temporary sibling is "b.tmp-PID"). */
char *bk_path_clean(const char *path);
/* The directory holding path; caller frees. */
char *bk_parent(const char *path);
/* 0: path is absent, 1: an empty directory; -1 (ERR_REFUSED naming what) else. */
int bk_target_free(const char *path, const char *what, struct err *);
/* Removes a temporary tree this process made (no links followed). */
void bk_rmtree(const char *path);
/*
 * The plain regular files of dir, sorted; absent: none.  Others (links, dot files, names
 * backup_path_ok refuses) are warned about and left out, or with strict refused (ERR_REFUSED).
 */
int bk_list_dir(const char *dir, int strict, char ***names, size_t *n, struct err *);
void bk_names_free(char **names, size_t n);

#endif
