/*
 * tsv: the bounded reader of uploaded tab-separated text (tsv.h, docs/bulk-tsv.md).
 *
 * Three steps over the upload, none allocating per line: the bytes (size, UTF-16 BOM,
 * control characters), the encoding (UTF-8 as it is, or CP932 converted with iconv into one
 * buffer of at most three bytes per input byte), then two passes over the UTF-8 text: the
 * first counts and checks lines and columns, the second (after one allocation each for the
 * lines and the column pointers) cuts the text in place.
 */
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/tsv.h"
#include "util/utf8.h"

static const char *const tsv_encoding_names[TSV_ENC__MAX] = {
    [TSV_ENC_UTF8] = "UTF-8",
    [TSV_ENC_UTF8_BOM] = "UTF-8 (BOM)",
    [TSV_ENC_CP932] = "CP932",
};

const char *
tsv_encoding_name(enum tsv_encoding v)
{
	if ((unsigned)v >= TSV_ENC__MAX)
		return "unknown";
	return tsv_encoding_names[v];
}

static const char *const tsv_error_names[TSV_ERR__MAX] = {
    [TSV_OK] = "ok",
    [TSV_ERR_EMPTY] = "empty",
    [TSV_ERR_TOO_LARGE] = "too_large",
    [TSV_ERR_TOO_MANY_LINES] = "too_many_lines",
    [TSV_ERR_FIELD_TOO_LONG] = "field_too_long",
    [TSV_ERR_TOO_MANY_COLUMNS] = "too_many_columns",
    [TSV_ERR_BINARY] = "binary",
    [TSV_ERR_ENCODING] = "encoding",
    [TSV_ERR_NOT_UTF8] = "not_utf8",
    [TSV_ERR_UTF16] = "utf16",
    [TSV_ERR_LONE_CR] = "lone_cr",
};

const char *
tsv_error_name(enum tsv_error v)
{
	if ((unsigned)v >= TSV_ERR__MAX)
		return "error";
	return tsv_error_names[v];
}

void
tsv_doc_free(struct tsv_doc *d)
{
	if (d == NULL)
		return;
	free(d->lines);
	free(d->cols);
	free(d->text);
	d->lines = NULL;
	d->cols = NULL;
	d->text = NULL;
	d->nlines = 0;
}

/* Line (1-based) and byte within it (1-based) of offset off in s. */
static void
tsv_locate(const unsigned char *s, size_t off, size_t *line, size_t *byte)
{
	size_t l = 1, start = 0;

	for (size_t i = 0; i < off; i++) {
		if (s[i] == '\n') {
			l++;
			start = i + 1;
		}
	}
	*line = l;
	*byte = off - start + 1;
}

/* Sets the refusal: code, place (line 0: none) and the message, prefixed with the place. */
static int
tsv_fail(struct tsv_doc *d, struct err *e, enum tsv_error code, size_t line, size_t byte,
	 const char *what)
{
	d->error = code;
	d->err_line = line;
	d->err_byte = byte;
	if (line > 0 && byte > 0)
		err_set(e, ERR_REFUSED, "tsv: line %zu, byte %zu: %s", line, byte, what);
	else if (line > 0)
		err_set(e, ERR_REFUSED, "tsv: line %zu: %s", line, what);
	else
		err_set(e, ERR_REFUSED, "tsv: %s", what);
	return err_kind(e, (int)code);
}

/* The offset of the first byte that is not well-formed UTF-8 in s[0..n) (n when none). */
static size_t
tsv_utf8_bad(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n)
		if (utf8_next(s, n, &i) < 0)
			return i;
	return n;
}

/* CP932 s[0..n) into d->text (NUL-terminated; *outlen bytes). */
static int
tsv_from_cp932(const unsigned char *s, size_t n, struct tsv_doc *d, size_t *outlen, struct err *e)
{
	iconv_t cd = iconv_open("UTF-8", "CP932");
	char *in = (char *)s, *out;
	size_t inleft = n, outleft = 3 * n, line, byte;
	int rc = -1;

	if (cd == (iconv_t)-1) {
		err_set(e, ERR_INTERNAL, "tsv: iconv cannot convert from CP932: %s",
			strerror(errno));
		return -1;
	}
	d->text = xmalloc(3 * n + 1);
	out = d->text;
	if (iconv(cd, &in, &inleft, &out, &outleft) == (size_t)-1) {
		int saved = errno;

		tsv_locate(s, (size_t)(in - (char *)s), &line, &byte);
		if (saved == EILSEQ || saved == EINVAL)
			tsv_fail(d, e, TSV_ERR_ENCODING, line, byte,
				 saved == EINVAL ? "the file ends inside a CP932 (Shift_JIS) "
						   "character"
						 : "neither UTF-8 nor a valid CP932 (Shift_JIS) "
						   "character");
		else
			err_set(e, ERR_INTERNAL, "tsv: iconv: %s", strerror(saved));
		goto out;
	}
	*outlen = (size_t)(out - d->text);
	d->text[*outlen] = '\0';
	rc = 0;
out:
	iconv_close(cd);
	return rc;
}

/* The raw bytes: control characters other than tab, CR and LF mean a binary file. */
static int
tsv_check_bytes(const unsigned char *p, size_t n, struct tsv_doc *d, struct err *e)
{
	size_t line, byte;
	char what[96];

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f) {
			tsv_locate(p, i, &line, &byte);
			snprintf(
			    what, sizeof(what),
			    "binary file: control byte 0x%02X (only tab, CR and LF may appear)", c);
			return tsv_fail(d, e, TSV_ERR_BINARY, line, byte, what);
		}
	}
	return 0;
}

/* Decides the encoding and leaves the UTF-8 text (BOM removed) in d->text, *len bytes. */
static int
tsv_decode(const unsigned char *p, size_t n, unsigned flags, struct tsv_doc *d, size_t *len,
	   struct err *e)
{
	size_t bad, line, byte;

	if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
		d->encoding = TSV_ENC_UTF8_BOM;
		bad = tsv_utf8_bad(p + 3, n - 3);
		if (bad < n - 3) {
			tsv_locate(p, bad + 3, &line, &byte);
			return tsv_fail(d, e, TSV_ERR_ENCODING, line, byte,
					"the file starts with a UTF-8 byte order mark but is not "
					"valid UTF-8");
		}
		d->text = xmalloc(n - 3 + 1);
		memcpy(d->text, p + 3, n - 3);
		*len = n - 3;
		d->text[*len] = '\0';
		return 0;
	}
	bad = tsv_utf8_bad(p, n);
	if (bad == n) {
		d->encoding = TSV_ENC_UTF8;
		d->text = xmalloc(n + 1);
		memcpy(d->text, p, n);
		*len = n;
		d->text[n] = '\0';
		return 0;
	}
	if (flags & TSV_UTF8_ONLY) {
		tsv_locate(p, bad, &line, &byte);
		return tsv_fail(d, e, TSV_ERR_NOT_UTF8, line, byte,
				"not valid UTF-8 (this format is UTF-8 only; save the file as "
				"UTF-8)");
	}
	d->encoding = TSV_ENC_CP932;
	return tsv_from_cp932(p, n, d, len, e);
}

/* C1 controls (U+0080-U+009F, C2 80..C2 9F in UTF-8) in the text. */
static int
tsv_check_c1(const char *t, size_t n, struct tsv_doc *d, struct err *e)
{
	const unsigned char *s = (const unsigned char *)t;
	size_t line, byte;
	char what[96];

	for (size_t i = 0; i + 1 < n; i++) {
		if (s[i] == 0xc2 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f) {
			tsv_locate(s, i, &line, &byte);
			snprintf(what, sizeof(what), "binary file: control character U+%04X",
				 (unsigned)s[i + 1]);
			return tsv_fail(d, e, TSV_ERR_BINARY, line,
					d->encoding == TSV_ENC_CP932 ? 0 : byte, what);
		}
	}
	return 0;
}

/* 1 when s[0..n) holds only tabs and spaces (or nothing). */
static int
tsv_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '\t' && s[i] != ' ')
			return 0;
	return 1;
}

/* The length of the line at t[off..n) without its end (LF or CRLF); *next past the end. */
static size_t
tsv_line_len(const char *t, size_t n, size_t off, size_t *next)
{
	const char *nl = memchr(t + off, '\n', n - off);
	size_t len = nl != NULL ? (size_t)(nl - (t + off)) : n - off;

	*next = nl != NULL ? off + len + 1 : n;
	if (nl != NULL && len > 0 && t[off + len - 1] == '\r')
		len--;
	return len;
}

struct tsv_count {
	size_t lines, cols;
};

/* The first pass: every rule of lines and columns; counts what the second pass needs. */
static int
tsv_scan(const char *t, size_t n, const struct tsv_limits *lim, struct tsv_doc *d,
	 struct tsv_count *c, struct err *e)
{
	size_t off = 0, next, lineno = 0, len;
	char what[128];

	c->lines = c->cols = 0;
	while (off < n) {
		const char *s = t + off, *cr;
		size_t cols = 1, start = 0;

		lineno++;
		len = tsv_line_len(t, n, off, &next);
		cr = memchr(s, '\r', len);
		if (cr != NULL)
			return tsv_fail(d, e, TSV_ERR_LONE_CR, lineno, (size_t)(cr - s) + 1,
					"a carriage return (CR) not followed by a line feed: "
					"lines must end in LF or CRLF");
		off = next;
		if (tsv_blank(s, len))
			continue;
		if (lineno > lim->max_lines) {
			snprintf(what, sizeof(what), "more than %zu lines", lim->max_lines);
			return tsv_fail(d, e, TSV_ERR_TOO_MANY_LINES, lineno, 0, what);
		}
		for (size_t i = 0; i <= len; i++) {
			if (i < len && s[i] != '\t')
				continue;
			if (i - start > lim->max_field) {
				snprintf(what, sizeof(what),
					 "column %zu: a value longer than %zu bytes", cols,
					 lim->max_field);
				return tsv_fail(d, e, TSV_ERR_FIELD_TOO_LONG, lineno, 0, what);
			}
			if (i < len && ++cols > lim->max_columns) {
				snprintf(what, sizeof(what), "more than %zu columns",
					 lim->max_columns);
				return tsv_fail(d, e, TSV_ERR_TOO_MANY_COLUMNS, lineno, 0, what);
			}
			start = i + 1;
		}
		c->lines++;
		c->cols += cols;
		d->last_lineno = lineno;
	}
	if (c->lines == 0) {
		snprintf(what, sizeof(what), "no data: the file holds only blank lines (%zu)",
			 lineno);
		return tsv_fail(d, e, TSV_ERR_EMPTY, 0, 0, what);
	}
	return 0;
}

/* The second pass: the text cut in place into the lines' NUL-terminated values. */
static void
tsv_cut(char *t, size_t n, struct tsv_doc *d)
{
	size_t off = 0, next, lineno = 0, len, k = 0;
	char **col = d->cols;

	while (off < n) {
		char *s = t + off;
		struct tsv_line *l;

		lineno++;
		len = tsv_line_len(t, n, off, &next);
		off = next;
		if (tsv_blank(s, len))
			continue;
		l = &d->lines[k++];
		l->lineno = lineno;
		l->cols = col;
		l->ncols = 1;
		*col++ = s;
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '\t') {
				s[i] = '\0';
				*col++ = s + i + 1;
				l->ncols++;
			}
		}
		s[len] = '\0'; /* the LF, the CR of CRLF, or the text's own NUL */
		if (lineno == d->last_lineno)
			break;
	}
	d->nlines = k;
}

int
tsv_read(const unsigned char *p, size_t n, const struct tsv_limits *lim, unsigned flags,
	 struct tsv_doc *d, struct err *e)
{
	struct tsv_limits l = {0};
	struct tsv_count c;
	size_t len = 0;
	char what[96];

	memset(d, 0, sizeof(*d));
	if (lim != NULL)
		l = *lim;
	l.max_bytes = l.max_bytes ? l.max_bytes : TSV_MAX_BYTES_DEFAULT;
	l.max_lines = l.max_lines ? l.max_lines : TSV_MAX_LINES_DEFAULT;
	l.max_field = l.max_field ? l.max_field : TSV_MAX_FIELD_DEFAULT;
	l.max_columns = l.max_columns ? l.max_columns : TSV_MAX_COLUMNS_DEFAULT;
	if (n > l.max_bytes) {
		snprintf(what, sizeof(what), "the file has %zu bytes, more than the limit of %zu",
			 n, l.max_bytes);
		return tsv_fail(d, e, TSV_ERR_TOO_LARGE, 0, 0, what);
	}
	if (n == 0 || p == NULL)
		return tsv_fail(d, e, TSV_ERR_EMPTY, 0, 0, "no data: the file is empty");
	if (n >= 2 && ((p[0] == 0xff && p[1] == 0xfe) || (p[0] == 0xfe && p[1] == 0xff)))
		return tsv_fail(d, e, TSV_ERR_UTF16, 1, 1,
				"UTF-16 is not accepted: save the file as UTF-8 or Shift_JIS");
	if (tsv_check_bytes(p, n, d, e) == -1)
		return -1;
	if (tsv_decode(p, n, flags, d, &len, e) == -1)
		goto fail;
	if (tsv_check_c1(d->text, len, d, e) == -1 || tsv_scan(d->text, len, &l, d, &c, e) == -1)
		goto fail;
	d->lines = xcalloc(c.lines, sizeof(*d->lines));
	d->cols = xcalloc(c.cols, sizeof(*d->cols));
	tsv_cut(d->text, len, d);
	if (d->nlines != c.lines)
		fatalx("tsv: %zu lines counted, %zu cut", c.lines, d->nlines);
	return 0;
fail:
	free(d->text);
	d->text = NULL;
	return -1;
}
