/*
 * tsv: a bounded reader of tab-separated text uploaded by people (the RA officers' bulk files,
 * docs/bulk-tsv.md).  The bytes are untrusted: every limit is checked before memory is
 * taken, nothing is read out of bounds, and a refusal is one error naming the line (and the
 * byte, for encodings) with a code the faces translate.
 *
 *   encoding      UTF-8 with a BOM; UTF-8 without (every byte well-formed, utf8.h); else
 *                 CP932 (Windows-31J, the academic RA's "Shift_JIS"), converted to UTF-8 with
 *                 iconv.  UTF-16 is refused by its BOM.  TSV_UTF8_ONLY refuses CP932.
 *   line ends     LF or CRLF (mixed is fine); a CR not followed by LF is refused
 *   blank lines   a line that is empty or holds only tabs and spaces is skipped (its number
 *                 still counts); a file of nothing but blank lines is refused at once
 *   bytes         NUL, other C0 controls but tab, DEL and C1 controls: "binary file"
 *   columns       split at every tab, no quoting; each value NUL-terminated UTF-8
 */
#ifndef SHOMEI_UTIL_TSV_H
#define SHOMEI_UTIL_TSV_H

#include <stddef.h>

#include "util/util.h"

#define TSV_MAX_BYTES_DEFAULT (16u * 1024 * 1024)
#define TSV_MAX_LINES_DEFAULT 100000u
#define TSV_MAX_FIELD_DEFAULT (16u * 1024) /* bytes of one value (after conversion) */
#define TSV_MAX_COLUMNS_DEFAULT 64u

/* Limits of one read; 0 in a member means its default. */
struct tsv_limits {
	size_t max_bytes;   /* of the upload as sent */
	size_t max_lines;   /* lines up to the last one that is not blank */
	size_t max_field;   /* bytes of one value, UTF-8 */
	size_t max_columns; /* of one line */
};

enum tsv_encoding {
	TSV_ENC_UTF8 = 0, /* no BOM (plain ASCII reads as this) */
	TSV_ENC_UTF8_BOM,
	TSV_ENC_CP932,
	TSV_ENC__MAX,
};
/* "UTF-8", "UTF-8 (BOM)", "CP932"; "unknown" out of range. */
const char *tsv_encoding_name(enum tsv_encoding);

/* Why a file was refused (struct err's kind after tsv_read, too). */
enum tsv_error {
	TSV_OK = 0,
	TSV_ERR_EMPTY,	   /* no bytes, or only blank lines */
	TSV_ERR_TOO_LARGE, /* over max_bytes */
	TSV_ERR_TOO_MANY_LINES,
	TSV_ERR_FIELD_TOO_LONG,
	TSV_ERR_TOO_MANY_COLUMNS,
	TSV_ERR_BINARY,	  /* NUL or another control character */
	TSV_ERR_ENCODING, /* neither UTF-8 nor CP932 (line and byte named) */
	TSV_ERR_NOT_UTF8, /* TSV_UTF8_ONLY and not UTF-8 */
	TSV_ERR_UTF16,	  /* a UTF-16 byte order mark */
	TSV_ERR_LONE_CR,  /* a CR not followed by LF */
	TSV_ERR__MAX,
};
/* "ok", "empty", "too_large", "too_many_lines", ...; "error" out of range. */
const char *tsv_error_name(enum tsv_error);

#define TSV_UTF8_ONLY 0x01u /* refuse CP932 (the native format) */

struct tsv_line {
	size_t lineno; /* 1-based, counting blank lines */
	size_t ncols;  /* at least 1 */
	char **cols;   /* ncols NUL-terminated UTF-8 values (into the document's text) */
};

/* A document read by tsv_read(); tsv_doc_free() releases it. */
struct tsv_doc {
	enum tsv_encoding encoding;
	struct tsv_line *lines; /* the lines that are not blank, in order */
	size_t nlines;
	size_t last_lineno; /* the number of the last line that is not blank */
	/* where a refusal is: 1-based line and byte within that line of the upload (0: none) */
	enum tsv_error error;
	size_t err_line, err_byte;
	char *text;  /* owned: the UTF-8 text the values point into */
	char **cols; /* owned: every line's column pointers */
};

/*
 * Reads n bytes (lim NULL: the defaults; flags TSV_UTF8_ONLY or 0) into doc.  0, or -1 with
 * ERR_REFUSED, e->kind and doc->error the enum tsv_error, doc->err_line/err_byte set when
 * known, and an English message naming the line ("line 3, byte 17: ...").  doc is always
 * initialised: free it with tsv_doc_free() after either outcome.
 */
int tsv_read(const unsigned char *p, size_t n, const struct tsv_limits *lim, unsigned flags,
	     struct tsv_doc *doc, struct err *);
void tsv_doc_free(struct tsv_doc *); /* accepts a zeroed or freed doc */

#endif
