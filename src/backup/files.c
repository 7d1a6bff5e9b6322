/*
 * files: the file system side of backups (backup_int.h): copies that hash what they write,
 * new files and directories made exclusively with their modes, a backup directory's target
 * checked to be absent or empty, and the removal of a half-made temporary tree.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "backup/backup_int.h"

#define BK_CHUNK (256 * 1024)

/* Writes all of p to fd. */
static int
bk_write_all(int fd, const unsigned char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
bk_copy_fd(int in, const char *src, const char *dst, int mode, unsigned char sha[BACKUP_HASH_LEN],
	   uint64_t *size, struct err *e)
{
	EVP_MD_CTX *md = NULL;
	unsigned char *chunk = NULL;
	int out = -1, rc = -1;
	ssize_t n;

	*size = 0;
	chunk = xmalloc(BK_CHUNK);
	if (dst != NULL &&
	    (out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)) == -1) {
		err_set(e, ERR_INTERNAL, "%s: %s", dst, strerror(errno));
		goto out;
	}
	if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		err_ssl(e, ERR_INTERNAL, "SHA-256");
		goto out;
	}
	for (;;) {
		if ((n = read(in, chunk, BK_CHUNK)) == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_set(e, ERR_INTERNAL, "%s: read: %s", src, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(md, chunk, (size_t)n) != 1) {
			err_ssl(e, ERR_INTERNAL, "SHA-256");
			goto out;
		}
		if (out != -1 && bk_write_all(out, chunk, (size_t)n) == -1) {
			err_set(e, ERR_INTERNAL, "%s: write: %s", dst, strerror(errno));
			goto out;
		}
		*size += (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(md, sha, NULL) != 1) {
		err_ssl(e, ERR_INTERNAL, "SHA-256");
		goto out;
	}
	if (out != -1 && (fchmod(out, (mode_t)mode) == -1 || fsync(out) == -1)) {
		err_set(e, ERR_INTERNAL, "%s: %s", dst, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	free(chunk);
	if (out != -1 && close(out) == -1 && rc == 0)
		rc = err_set(e, ERR_INTERNAL, "%s: close: %s", dst, strerror(errno));
	return rc;
}

int
bk_copy(const char *src, const char *dst, int mode, unsigned char sha[BACKUP_HASH_LEN],
	uint64_t *size, struct err *e)
{
	struct stat sb;
	int in = -1, rc = -1;

	*size = 0;
	if ((in = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1 ||
	    fstat(in, &sb) == -1) {
		err_set(e, errno == ENOENT || errno == ELOOP ? ERR_REFUSED : ERR_INTERNAL, "%s: %s",
			src, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		err_set(e, ERR_REFUSED, "%s: not a regular file", src);
		goto out;
	}
	if (bk_copy_fd(in, src, dst, mode, sha, size, e) == -1)
		goto out;
	rc = 0;
out:
	if (in != -1)
		close(in);
	return rc;
}

int
bk_src_open(const char *src, struct err *e)
{
	int fd;

	if ((fd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		err_set(e,
			errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? ERR_REFUSED
									      : ERR_INTERNAL,
			"backup: %s: %s (no MANIFEST can be read)", src,
			errno == ELOOP ? "a symbolic link, not followed" : strerror(errno));
	return fd;
}

int
bk_src_file(int dfd, const char *src, const char *rel, struct err *e)
{
	const char *slash = strchr(rel, '/');
	struct stat sb;
	char *dir = NULL;
	int sub = -1, fd = -1, at = dfd;

	if (slash != NULL) {
		dir = xstrndup(rel, (size_t)(slash - rel));
		if ((sub = openat(dfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) ==
		    -1) {
			err_set(e, errno == EACCES || errno == EIO ? ERR_INTERNAL : ERR_REFUSED,
				"backup: %s/%s: %s: refused", src, dir,
				errno == ELOOP || errno == ENOTDIR
				    ? "not a directory (a symbolic link is never followed)"
				    : strerror(errno));
			goto out;
		}
		at = sub;
		rel = slash + 1;
	}
	if ((fd = openat(at, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1) {
		err_set(e, errno == EACCES || errno == EIO ? ERR_INTERNAL : ERR_REFUSED,
			"backup: %s/%s%s%s: %s: refused", src, dir != NULL ? dir : "",
			dir != NULL ? "/" : "", rel,
			errno == ELOOP ? "a symbolic link, never followed" : strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		err_set(e, ERR_REFUSED, "backup: %s/%s%s%s: not a regular file: refused", src,
			dir != NULL ? dir : "", dir != NULL ? "/" : "", rel);
		close(fd);
		fd = -1;
		goto out;
	}
out:
	if (sub != -1)
		close(sub);
	free(dir);
	return fd;
}

int
bk_src_absent(int dfd, const char *src, const char *name, struct err *e)
{
	struct stat sb;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		return err_set(e, ERR_REFUSED,
			       "backup: %s/%s exists: a backup's store is one file in "
			       "rollback-journal mode, with nothing beside it: refused",
			       src, name);
	if (errno != ENOENT)
		return err_set(e, ERR_INTERNAL, "backup: %s/%s: %s", src, name, strerror(errno));
	return 0;
}

int
bk_read_fd(int fd, const char *name, size_t max, struct buf *out, struct err *e)
{
	unsigned char chunk[8192];
	ssize_t n;

	buf_init(out, max);
	for (;;) {
		if ((n = read(fd, chunk, sizeof(chunk))) == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return err_set(e, ERR_INTERNAL, "%s: read: %s", name, strerror(errno));
		if (n == 0)
			return 0;
		if (buf_append(out, chunk, (size_t)n) == -1)
			return err_set(e, ERR_REFUSED, "%s: larger than %zu bytes", name, max);
	}
}

int
bk_write_new(const char *path, const void *p, size_t n, int mode,
	     unsigned char sha[BACKUP_HASH_LEN], struct err *e)
{
	int fd = -1, rc = -1;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)) == -1) {
		err_set(e, ERR_INTERNAL, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (bk_write_all(fd, p, n) == -1 || fchmod(fd, (mode_t)mode) == -1 || fsync(fd) == -1) {
		err_set(e, ERR_INTERNAL, "%s: write: %s", path, strerror(errno));
		goto out;
	}
	if (sha != NULL && EVP_Digest(p, n, sha, NULL, EVP_sha256(), NULL) != 1) {
		err_ssl(e, ERR_INTERNAL, "SHA-256");
		goto out;
	}
	rc = 0;
out:
	if (fd != -1 && close(fd) == -1 && rc == 0)
		rc = err_set(e, ERR_INTERNAL, "%s: close: %s", path, strerror(errno));
	return rc;
}

int
bk_mkdir(const char *path, int mode, struct err *e)
{
	if (mkdir(path, (mode_t)mode) == -1)
		return err_set(e, errno == EEXIST ? ERR_REFUSED : ERR_INTERNAL, "%s: mkdir: %s",
			       path, strerror(errno));
	if (chmod(path, (mode_t)mode) == -1)
		return err_set(e, ERR_INTERNAL, "%s: chmod: %s", path, strerror(errno));
	return 0;
}

int
bk_fsync_dir(const char *path, struct err *e)
{
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return err_set(e, ERR_INTERNAL, "%s: %s", path, strerror(errno));
	if (fsync(fd) == -1)
		rc = err_set(e, ERR_INTERNAL, "%s: fsync: %s", path, strerror(errno));
	close(fd);
	return rc;
}

char *
bk_path_clean(const char *path)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	return xstrndup(path, n);
}

/* The directory that holds path ("." for a bare name); caller frees. */
char *
bk_parent(const char *path)
{
	const char *s = strrchr(path, '/');

	if (s == NULL)
		return xstrdup(".");
	if (s == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(s - path));
}

int
bk_target_free(const char *path, const char *what, struct err *e)
{
	struct stat sb;
	struct dirent *d;
	DIR *dir = NULL;
	int rc = -1;

	if (lstat(path, &sb) == -1) {
		if (errno == ENOENT) {
			rc = 0;
			goto out;
		}
		err_set(e, ERR_INTERNAL, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		err_set(e, ERR_REFUSED, "%s: %s: exists and is not a directory", what, path);
		goto out;
	}
	if ((dir = opendir(path)) == NULL) {
		err_set(e, ERR_INTERNAL, "%s: %s", path, strerror(errno));
		goto out;
	}
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0) {
			err_set(e, ERR_REFUSED, "%s: %s: exists and is not empty (%s)", what, path,
				"choose a new directory");
			goto out;
		}
	}
	rc = 1;
out:
	if (dir != NULL)
		closedir(dir);
	return rc;
}

static int
bk_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void
bk_rmtree(const char *path)
{
	if (path != NULL)
		(void)nftw(path, bk_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
bk_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
bk_list_dir(const char *dir, int strict, char ***names, size_t *n, struct err *e)
{
	DIR *d = NULL;
	struct dirent *de;
	struct stat sb;
	char *p;
	size_t cap = 0;
	int rc = -1;

	*names = NULL;
	*n = 0;
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT) {
			rc = 0;
			goto out;
		}
		err_set(e, ERR_INTERNAL, "%s: %s", dir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    (!strict && de->d_name[0] == '.'))
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(p, &sb) == -1 || !S_ISREG(sb.st_mode) || !backup_path_ok(de->d_name)) {
			if (strict) {
				err_set(e, ERR_REFUSED,
					"backup: %s: not a plain regular file (a symbolic link, or "
					"a name a backup cannot hold): it cannot be sealed, so the "
					"backup is refused",
					p);
				free(p);
				goto out;
			}
			log_warn("backup: %s: not a plain regular file, left out", p);
			free(p);
			continue;
		}
		free(p);
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*names = xrealloc(*names, cap * sizeof(**names));
		}
		(*names)[(*n)++] = xstrdup(de->d_name);
	}
	if (*n > 0)
		qsort(*names, *n, sizeof(**names), bk_name_cmp);
	rc = 0;
out:
	if (d != NULL)
		closedir(d);
	return rc;
}

void
bk_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
