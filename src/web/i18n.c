/*
 * i18n: gettext .po catalogs read by shomei itself into a sorted in-memory table, so the
 * language is chosen per request without setlocale() (which is process-wide and not
 * thread-safe under the libmicrohttpd thread pool).  The files stay valid gettext catalogs
 * (`msgfmt --check`).
 */
#include <stdlib.h>
#include <string.h>

#include "util/accept.h"
#include "util/utf8.h"
#include "web.h"

#define PO_MAX (4 * 1024 * 1024)
#define PO_STR_MAX (64 * 1024)

struct i18n_msg {
	char *id;
	char *str;
};

struct i18n_cat {
	struct i18n_msg *v;
	size_t n, cap;
};

/* The process-wide catalogs, in the order of i18n_langs. */
static const char *const i18n_langs[] = {"ja", "en"};
#define I18N_NLANGS (sizeof(i18n_langs) / sizeof(i18n_langs[0]))
static struct i18n_cat *i18n_table[I18N_NLANGS];

/* ---- .po parser ---- */

struct po {
	const char *name;
	const char *p, *end;
	int line;
	struct err *e;
};

/* The current line without its newline: [*ls, *le). */
static void
po_line(const struct po *po, const char **ls, const char **le)
{
	const char *q = po->p;

	while (q < po->end && *q != '\n')
		q++;
	*ls = po->p;
	*le = q;
	if (*le > *ls && (*le)[-1] == '\r')
		(*le)--;
}

static void
po_next(struct po *po)
{
	while (po->p < po->end && *po->p != '\n')
		po->p++;
	if (po->p < po->end)
		po->p++;
	po->line++;
}

static const char *
po_skip_blank(const char *s, const char *e)
{
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

/* Appends the "..." string at s (to the end of the line) to out, decoding escapes. */
static int
po_string(struct po *po, const char *s, const char *e, struct buf *out)
{
	int rc = -1;

	s = po_skip_blank(s, e);
	if (s >= e || *s != '"') {
		err_set(po->e, ERR_REFUSED, "%s:%d: expected a quoted string", po->name, po->line);
		goto out;
	}
	for (s++; s < e && *s != '"'; s++) {
		int c = (unsigned char)*s;

		if (c == '\\') {
			if (++s >= e) {
				err_set(po->e, ERR_REFUSED, "%s:%d: backslash at end of line",
					po->name, po->line);
				goto out;
			}
			switch (*s) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case '"':
				c = '"';
				break;
			case '\\':
				c = '\\';
				break;
			default:
				err_set(po->e, ERR_REFUSED, "%s:%d: unsupported escape \\%c",
					po->name, po->line, *s >= 0x20 && *s < 0x7f ? *s : '?');
				goto out;
			}
		} else if (c < 0x20 || c == 0x7f) {
			err_set(po->e, ERR_REFUSED, "%s:%d: control character in string", po->name,
				po->line);
			goto out;
		}
		if (buf_putc(out, c) == -1) {
			err_set(po->e, ERR_REFUSED, "%s:%d: string longer than %d bytes", po->name,
				po->line, PO_STR_MAX);
			goto out;
		}
	}
	if (s >= e) {
		err_set(po->e, ERR_REFUSED, "%s:%d: unterminated string", po->name, po->line);
		goto out;
	}
	s = po_skip_blank(s + 1, e);
	if (s != e) {
		err_set(po->e, ERR_REFUSED, "%s:%d: text after the string", po->name, po->line);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/*
 * Reads "KEYWORD "..."" and its continuation lines into out.  The cursor is on the keyword
 * line and ends on the first line that is not a continuation.
 */
static int
po_field(struct po *po, const char *kw, struct buf *out)
{
	const char *ls, *le;
	size_t kwlen = strlen(kw);
	int rc = -1;

	buf_reset(out);
	po_line(po, &ls, &le);
	if ((size_t)(le - ls) <= kwlen || strncmp(ls, kw, kwlen) != 0 ||
	    (ls[kwlen] != ' ' && ls[kwlen] != '\t')) {
		err_set(po->e, ERR_REFUSED, "%s:%d: expected %s", po->name, po->line, kw);
		goto out;
	}
	if (po_string(po, ls + kwlen, le, out) == -1)
		goto out;
	for (po_next(po); po->p < po->end; po_next(po)) {
		po_line(po, &ls, &le);
		ls = po_skip_blank(ls, le);
		if (ls >= le || *ls != '"')
			break;
		if (po_string(po, ls, le, out) == -1)
			goto out;
	}
	if (buf_cstr(out) == NULL || !utf8_valid(out->data, out->len)) {
		err_set(po->e, ERR_REFUSED, "%s:%d: %s is not valid UTF-8", po->name, po->line, kw);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

static int
msg_cmp(const void *a, const void *b)
{
	return strcmp(((const struct i18n_msg *)a)->id, ((const struct i18n_msg *)b)->id);
}

void
i18n_cat_free(struct i18n_cat *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].id);
		free(c->v[i].str);
	}
	free(c->v);
	free(c);
}

int
i18n_po_parse(const char *name, const char *text, size_t len, struct i18n_cat **out, struct err *e)
{
	struct po po = {name, text, text + len, 1, e};
	struct i18n_cat *c = xcalloc(1, sizeof(*c));
	struct buf id, str;
	int rc = -1, fuzzy = 0, header = 0;

	*out = NULL;
	buf_init(&id, PO_STR_MAX);
	buf_init(&str, PO_STR_MAX);
	if (len > PO_MAX) {
		err_set(e, ERR_REFUSED, "%s: catalog larger than %d bytes", name, PO_MAX);
		goto out;
	}
	if (memchr(text, '\0', len) != NULL) {
		err_set(e, ERR_REFUSED, "%s: NUL byte in catalog", name);
		goto out;
	}
	while (po.p < po.end) {
		const char *ls, *le;

		po_line(&po, &ls, &le);
		ls = po_skip_blank(ls, le);
		if (ls == le) {
			fuzzy = 0;
			po_next(&po);
			continue;
		}
		if (*ls == '#') {
			/* "#, fuzzy": gettext ignores the translation; so do we */
			if (le - ls >= 2 && ls[1] == ',') {
				for (const char *q = ls; q + 5 <= le; q++)
					if (strncmp(q, "fuzzy", 5) == 0)
						fuzzy = 1;
			}
			po_next(&po);
			continue;
		}
		po.p = ls;
		if (po_field(&po, "msgid", &id) == -1 || po_field(&po, "msgstr", &str) == -1)
			goto out;
		if (id.len == 0) {
			if (header++) {
				err_set(e, ERR_REFUSED, "%s:%d: second header entry", name,
					po.line);
				goto out;
			}
			if (strstr((char *)str.data, "charset=UTF-8") == NULL) {
				err_set(e, ERR_REFUSED, "%s: header lacks charset=UTF-8", name);
				goto out;
			}
		} else {
			for (size_t i = 0; i < c->n; i++) {
				if (strcmp(c->v[i].id, (char *)id.data) == 0) {
					err_set(e, ERR_REFUSED, "%s:%d: duplicate msgid", name,
						po.line - 1);
					goto out;
				}
			}
			if (!fuzzy && str.len > 0) {
				if (c->n == c->cap) {
					c->cap = c->cap ? 2 * c->cap : 32;
					c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
				}
				c->v[c->n].id = xstrndup((char *)id.data, id.len);
				c->v[c->n].str = xstrndup((char *)str.data, str.len);
				c->n++;
			}
		}
		fuzzy = 0;
	}
	if (c->n > 0)
		qsort(c->v, c->n, sizeof(*c->v), msg_cmp);
	*out = c;
	c = NULL;
	rc = 0;
out:
	buf_free(&id);
	buf_free(&str);
	i18n_cat_free(c);
	return rc;
}

const char *
i18n_cat_get(const struct i18n_cat *c, const char *msgid)
{
	struct i18n_msg key, *m;

	if (c == NULL || msgid == NULL || c->n == 0)
		return NULL;
	key.id = (char *)msgid;
	key.str = NULL;
	m = bsearch(&key, c->v, c->n, sizeof(*c->v), msg_cmp);
	return m != NULL ? m->str : NULL;
}

size_t
i18n_cat_count(const struct i18n_cat *c)
{
	return c != NULL ? c->n : 0;
}

/* ---- the process-wide table ---- */

void
i18n_unload(void)
{
	for (size_t i = 0; i < I18N_NLANGS; i++) {
		i18n_cat_free(i18n_table[i]);
		i18n_table[i] = NULL;
	}
}

int
i18n_load(const char *dir, struct err *e)
{
	struct i18n_cat *cats[I18N_NLANGS] = {NULL};
	struct buf b;
	char *path = NULL;
	int rc = -1;

	buf_init(&b, PO_MAX);
	for (size_t i = 0; i < I18N_NLANGS; i++) {
		free(path);
		path = xasprintf("%s/%s.po", dir, i18n_langs[i]);
		buf_free(&b); /* util_read_file() starts a new buffer */
		if (util_read_file(path, PO_MAX, &b, e) == -1)
			goto out;
		if (i18n_po_parse(path, (const char *)b.data, b.len, &cats[i], e) == -1)
			goto out;
	}
	i18n_unload();
	for (size_t i = 0; i < I18N_NLANGS; i++) {
		i18n_table[i] = cats[i];
		cats[i] = NULL;
	}
	rc = 0;
out:
	for (size_t i = 0; i < I18N_NLANGS; i++)
		i18n_cat_free(cats[i]);
	free(path);
	buf_free(&b);
	return rc;
}

const char *
i18n_lookup(const char *lang, const char *msgid)
{
	for (size_t i = 0; lang != NULL && i < I18N_NLANGS; i++)
		if (strcmp(lang, i18n_langs[i]) == 0)
			return i18n_cat_get(i18n_table[i], msgid);
	return NULL;
}

const char *
i18n_get(const char *lang, const char *msgid)
{
	const char *s = i18n_lookup(lang, msgid);

	return s != NULL ? s : msgid;
}

/* ---- language choice ---- */

/* The supported language a language range names, or NULL. */
static const char *
lang_match(const char *r, size_t n)
{
	if (n == 1 && r[0] == '*')
		return I18N_DEFAULT;
	for (size_t i = 0; i < I18N_NLANGS; i++) {
		size_t l = strlen(i18n_langs[i]);

		if (n >= l && strncasecmp(r, i18n_langs[i], l) == 0 && (n == l || r[l] == '-'))
			return i18n_langs[i];
	}
	return NULL;
}

const char *
i18n_pick(const char *al, const char *cookie)
{
	const char *best = I18N_DEFAULT, *p;
	int bestq = 0;

	if (cookie != NULL)
		for (size_t i = 0; i < I18N_NLANGS; i++)
			if (strcmp(cookie, i18n_langs[i]) == 0)
				return i18n_langs[i];
	if (al == NULL)
		return best;
	for (p = al; *p != '\0';) {
		const char *item = p, *iend, *r, *rend, *lang, *sc;
		int q = 1000;

		while (*p != '\0' && *p != ',')
			p++;
		iend = p;
		if (*p == ',')
			p++;
		r = item;
		while (r < iend && (*r == ' ' || *r == '\t'))
			r++;
		for (rend = r; rend < iend && *rend != ';' && *rend != ' ' && *rend != '\t';)
			rend++;
		if (rend == r)
			continue;
		/* parameters: only q counts; a malformed q drops the entry */
		for (sc = rend; sc < iend; sc++) {
			const char *v, *vend;

			if (*sc != ';')
				continue;
			v = sc + 1;
			while (v < iend && (*v == ' ' || *v == '\t'))
				v++;
			if (iend - v < 2 || (v[0] != 'q' && v[0] != 'Q') || v[1] != '=')
				continue;
			v += 2;
			for (vend = v;
			     vend < iend && *vend != ';' && *vend != ' ' && *vend != '\t';)
				vend++;
			q = accept_qvalue(v, (size_t)(vend - v));
		}
		if (q <= 0 || (lang = lang_match(r, (size_t)(rend - r))) == NULL)
			continue;
		if (q > bestq) {
			bestq = q;
			best = lang;
		}
	}
	return best;
}
