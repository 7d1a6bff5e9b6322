/*
 * manifest: the MANIFEST of a backup directory.  Lines end in LF, fields are separated by one
 * space, in this order:
 *
 *	shomei-backup 1
 *	version 0.1.0
 *	created 1765130000
 *	store sqlite
 *	schema 23
 *	audit-head 1234 <64 hex: SHA-256>
 *	certificates 17
 *	file <size> <64 hex: SHA-256> <path>        (zero or more, no path twice)
 *	end <64 hex: SHA-256 of every byte before this line>
 *
 * Read from a backup, it is untrusted: every line is bounded, every number range-checked,
 * every path a plain relative name (backup_path_ok); anything else is refused with its line.
 */
#include <string.h>

#include <openssl/evp.h>

#include "backup/backup.h"

#define MANIFEST_LINE_MAX 512
#define MANIFEST_FIELDS 4
#define MANIFEST_NUM_MAX 4611686018427387904LL /* 2^62 */

struct mcur {
	const unsigned char *p;
	size_t len, off;
	int line;
	char buf[MANIFEST_LINE_MAX + 1];
	char *f[MANIFEST_FIELDS];
	int nf;
};

/* SHA-256 in 64 lower-case hex digits (the manifest's form) into dst[65]. */
static void
mhex(char *dst, const unsigned char *h)
{
	size_t i;

	hex_encode(dst, h, BACKUP_HASH_LEN);
	for (i = 0; dst[i] != '\0'; i++)
		if (dst[i] >= 'A' && dst[i] <= 'F')
			dst[i] = (char)(dst[i] - 'A' + 'a');
}

int
backup_path_ok(const char *p)
{
	size_t n = strlen(p), i, comp = 0;
	int slashes = 0;

	if (n == 0 || n > BACKUP_PATH_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (c == '/') {
			/* no empty component, at most one directory */
			if (comp == 0 || ++slashes > 1)
				return 0;
			comp = 0;
			continue;
		}
		if (comp == 0 && c == '.') /* no ".", "..", nor hidden names */
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
		comp++;
	}
	return comp > 0;
}

/* The next line into c->buf, split at single spaces into c->f: 1, 0 at the end, -1 bad. */
static int
mcur_next(struct mcur *c, struct err *e)
{
	const unsigned char *nl;
	size_t n, i;
	char *s;

	if (c->off == c->len)
		return 0;
	c->line++;
	nl = memchr(c->p + c->off, '\n', c->len - c->off);
	if (nl == NULL)
		return err_set(e, ERR_REFUSED, "manifest: line %d: no line end", c->line);
	n = (size_t)(nl - (c->p + c->off));
	if (n > MANIFEST_LINE_MAX)
		return err_set(e, ERR_REFUSED, "manifest: line %d: longer than %d bytes", c->line,
			       MANIFEST_LINE_MAX);
	memcpy(c->buf, c->p + c->off, n);
	c->buf[n] = '\0';
	c->off += n + 1;
	for (i = 0; i < n; i++)
		if ((unsigned char)c->buf[i] < 0x21 && c->buf[i] != ' ')
			return err_set(e, ERR_REFUSED, "manifest: line %d: control byte", c->line);
	c->nf = 0;
	for (s = c->buf;;) {
		char *sp = strchr(s, ' ');

		if (*s == '\0' || *s == ' ' || c->nf == MANIFEST_FIELDS)
			return err_set(e, ERR_REFUSED, "manifest: line %d: malformed", c->line);
		c->f[c->nf++] = s;
		if (sp == NULL)
			break;
		*sp = '\0';
		s = sp + 1;
	}
	return 1;
}

/* A decimal number in [min, max] (no sign, no leading zero). */
static int
mnum(const struct mcur *c, const char *s, int64_t min, int64_t max, int64_t *out, struct err *e)
{
	int64_t v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
		goto bad;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (MANIFEST_NUM_MAX - (s[i] - '0')) / 10)
			goto bad;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	return err_set(e, ERR_REFUSED, "manifest: line %d: bad number", c->line);
}

/* 64 lower-case hex digits. */
static int
mhash(const struct mcur *c, const char *s, unsigned char out[BACKUP_HASH_LEN], struct err *e)
{
	size_t i;

	if (strlen(s) != 2 * BACKUP_HASH_LEN)
		goto bad;
	for (i = 0; i < 2 * BACKUP_HASH_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			goto bad;
	if (hex_decode(out, BACKUP_HASH_LEN, s) != BACKUP_HASH_LEN)
		goto bad;
	return 0;
bad:
	return err_set(e, ERR_REFUSED, "manifest: line %d: bad SHA-256 (64 lower-case hex digits)",
		       c->line);
}

/* The next line, which must be "key" followed by nargs fields. */
static int
mexpect(struct mcur *c, const char *key, int nargs, struct err *e)
{
	int r = mcur_next(c, e);

	if (r == -1)
		return -1;
	if (r == 0)
		return err_set(e, ERR_REFUSED, "manifest: ends before \"%s\"", key);
	if (strcmp(c->f[0], key) != 0 || c->nf != nargs + 1)
		return err_set(e, ERR_REFUSED, "manifest: line %d: expected \"%s\" and %d field%s",
			       c->line, key, nargs, nargs == 1 ? "" : "s");
	return 0;
}

static int
mversion_ok(const char *v)
{
	size_t i, n = strlen(v);

	if (n == 0 || n > 32)
		return 0;
	for (i = 0; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'z') ||
		      (v[i] >= 'A' && v[i] <= 'Z') || strchr(".+~-", v[i]) != NULL))
			return 0;
	return 1;
}

/* The header lines, up to and with "certificates". */
static int
mheader(struct mcur *c, struct backup_manifest *m, struct err *e)
{
	int64_t v;

	if (mexpect(c, "shomei-backup", 1, e) == -1)
		return -1;
	if (mnum(c, c->f[1], 1, 1000, &v, e) == -1)
		return -1;
	if (v != BACKUP_FORMAT)
		return err_set(e, ERR_REFUSED,
			       "manifest: format %lld is not %d (made by a newer "
			       "shomei?)",
			       (long long)v, BACKUP_FORMAT);
	m->format = (int)v;
	if (mexpect(c, "version", 1, e) == -1)
		return -1;
	if (!mversion_ok(c->f[1]))
		return err_set(e, ERR_REFUSED, "manifest: line %d: bad version", c->line);
	m->version = xstrdup(c->f[1]);
	if (mexpect(c, "created", 1, e) == -1 ||
	    mnum(c, c->f[1], 0, MANIFEST_NUM_MAX, &m->created, e) == -1)
		return -1;
	if (mexpect(c, "store", 1, e) == -1)
		return -1;
	if (strcmp(c->f[1], "sqlite") != 0)
		return err_set(e, ERR_REFUSED, "manifest: line %d: store kind is not sqlite",
			       c->line);
	m->store = xstrdup(c->f[1]);
	if (mexpect(c, "schema", 1, e) == -1 || mnum(c, c->f[1], 1, 1000000, &m->schema, e) == -1)
		return -1;
	if (mexpect(c, "audit-head", 2, e) == -1 ||
	    mnum(c, c->f[1], 0, MANIFEST_NUM_MAX, &m->audit_seq, e) == -1 ||
	    mhash(c, c->f[2], m->audit_hash, e) == -1)
		return -1;
	if (mexpect(c, "certificates", 1, e) == -1 ||
	    mnum(c, c->f[1], 0, MANIFEST_NUM_MAX, &m->certs, e) == -1)
		return -1;
	return 0;
}

/* A "file" line into m->files (c->f already split). */
static int
mfile(struct mcur *c, struct backup_manifest *m, size_t *cap, struct err *e)
{
	struct backup_file *f;
	int64_t size;

	if (c->nf != 4)
		return err_set(e, ERR_REFUSED, "manifest: line %d: expected \"file\" and 3 fields",
			       c->line);
	if (m->nfiles == BACKUP_FILES_MAX)
		return err_set(e, ERR_REFUSED, "manifest: line %d: more than %d files", c->line,
			       BACKUP_FILES_MAX);
	if (!backup_path_ok(c->f[3]))
		return err_set(e, ERR_REFUSED,
			       "manifest: line %d: path is not a plain relative name", c->line);
	if (backup_manifest_find(m, c->f[3]) != NULL)
		return err_set(e, ERR_REFUSED, "manifest: line %d: path listed twice", c->line);
	if (m->nfiles == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		m->files = xrealloc(m->files, *cap * sizeof(*m->files));
	}
	f = &m->files[m->nfiles];
	memset(f, 0, sizeof(*f));
	if (mnum(c, c->f[1], 0, MANIFEST_NUM_MAX, &size, e) == -1 ||
	    mhash(c, c->f[2], f->sha256, e) == -1)
		return -1;
	f->size = (uint64_t)size;
	f->path = xstrdup(c->f[3]);
	m->nfiles++;
	return 0;
}

int
backup_manifest_parse(const unsigned char *p, size_t len, struct backup_manifest *m, struct err *e)
{
	struct mcur c;
	unsigned char want[BACKUP_HASH_LEN], got[BACKUP_HASH_LEN];
	size_t cap = 0, endoff;
	int rc = -1, r;

	memset(m, 0, sizeof(*m));
	memset(&c, 0, sizeof(c));
	c.p = p;
	c.len = len;
	if (len > BACKUP_MANIFEST_MAX) {
		err_set(e, ERR_REFUSED, "manifest: larger than %d bytes", BACKUP_MANIFEST_MAX);
		goto out;
	}
	if (mheader(&c, m, e) == -1)
		goto out;
	for (;;) {
		endoff = c.off;
		if ((r = mcur_next(&c, e)) == -1)
			goto out;
		if (r == 0) {
			err_set(e, ERR_REFUSED, "manifest: no \"end\" line (cut short?)");
			goto out;
		}
		if (strcmp(c.f[0], "end") == 0)
			break;
		if (strcmp(c.f[0], "file") != 0) {
			err_set(e, ERR_REFUSED, "manifest: line %d: unknown line \"%.32s\"", c.line,
				c.f[0]);
			goto out;
		}
		if (mfile(&c, m, &cap, e) == -1)
			goto out;
	}
	if (c.nf != 2 || mhash(&c, c.f[1], want, e) == -1) {
		err_set(e, ERR_REFUSED, "manifest: line %d: malformed \"end\"", c.line);
		goto out;
	}
	if (c.off != c.len) {
		err_set(e, ERR_REFUSED, "manifest: line %d: bytes after \"end\"", c.line);
		goto out;
	}
	if (EVP_Digest(p, endoff, got, NULL, EVP_sha256(), NULL) != 1) {
		err_ssl(e, ERR_INTERNAL, "manifest: SHA-256");
		goto out;
	}
	if (memcmp(want, got, BACKUP_HASH_LEN) != 0) {
		err_set(e, ERR_REFUSED,
			"manifest: its SHA-256 (\"end\" line) does not match its "
			"contents: damaged or altered");
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		backup_manifest_clear(m);
	return rc;
}

int
backup_manifest_format(const struct backup_manifest *m, struct buf *out, struct err *e)
{
	unsigned char h[BACKUP_HASH_LEN];
	char hex[2 * BACKUP_HASH_LEN + 1];
	size_t i;
	int rc = -1, bad = 0;

	mhex(hex, m->audit_hash);
	bad |= buf_printf(out,
			  "shomei-backup %d\nversion %s\ncreated %lld\nstore %s\nschema %lld\n"
			  "audit-head %lld %s\ncertificates %lld\n",
			  BACKUP_FORMAT, m->version, (long long)m->created, m->store,
			  (long long)m->schema, (long long)m->audit_seq, hex,
			  (long long)m->certs) == -1;
	for (i = 0; i < m->nfiles && !bad; i++) {
		if (!backup_path_ok(m->files[i].path)) {
			err_set(e, ERR_INTERNAL, "manifest: %s: not a plain relative name",
				m->files[i].path);
			goto out;
		}
		mhex(hex, m->files[i].sha256);
		bad |= buf_printf(out, "file %llu %s %s\n", (unsigned long long)m->files[i].size,
				  hex, m->files[i].path) == -1;
	}
	if (bad || EVP_Digest(out->data, out->len, h, NULL, EVP_sha256(), NULL) != 1) {
		err_set(e, ERR_INTERNAL, "manifest: too large");
		goto out;
	}
	mhex(hex, h);
	if (buf_printf(out, "end %s\n", hex) == -1) {
		err_set(e, ERR_INTERNAL, "manifest: too large");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

const struct backup_file *
backup_manifest_find(const struct backup_manifest *m, const char *path)
{
	size_t i;

	for (i = 0; i < m->nfiles; i++)
		if (strcmp(m->files[i].path, path) == 0)
			return &m->files[i];
	return NULL;
}

void
backup_manifest_clear(struct backup_manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nfiles; i++)
		free(m->files[i].path);
	free(m->files);
	free(m->version);
	free(m->store);
	memset(m, 0, sizeof(*m));
}
