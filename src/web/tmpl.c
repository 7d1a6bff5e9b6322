/*
 * tmpl: the HTML template renderer.  Templates are parsed once into a tree; rendering walks
 * the tree and escapes every value.  The only unescaped output is template text itself and
 * struct tmpl_html fragments, which only string literals in our code can produce.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

#define TMPL_FILE_MAX (1024 * 1024)
#define TMPL_NAME_MAX 64
#define TMPL_NEST_MAX 32  /* sections inside sections, when parsing */
#define TMPL_DEPTH_MAX 16 /* partials inside partials and list scopes, when rendering */

enum tmpl_kind {
	TMPL_TEXT,
	TMPL_VAR,     /* {{name}} */
	TMPL_RAW,     /* {{&name}} */
	TMPL_LIST,    /* {{#name}} */
	TMPL_IF,      /* {{?name}} */
	TMPL_UNLESS,  /* {{^name}} */
	TMPL_PARTIAL, /* {{>name}} */
	TMPL_MSG,     /* {{_ msgid}} */
};

struct tmpl_node {
	enum tmpl_kind kind;
	char *s; /* text, name or msgid */
	size_t len;
	int line;
	struct tmpl_node *kids; /* sections */
	size_t nkids, capkids;
};

struct tmpl {
	char *name;
	struct tmpl_node root;
};

struct tmpl_set {
	struct tmpl *v;
	size_t n;
	int strict;
};

enum tmpl_vtype {
	TV_STR,
	TV_BOOL,
	TV_HTML,
	TV_LIST,
};

struct tmpl_val {
	char *name;
	enum tmpl_vtype type;
	char *str;
	int b;
	const char *html;
	struct tmpl_data **list;
	size_t nlist, caplist;
};

struct tmpl_data {
	struct tmpl_val *v;
	size_t n, cap;
};

/* ---- data ---- */

struct tmpl_data *
tmpl_data_new(void)
{
	return xcalloc(1, sizeof(struct tmpl_data));
}

static void
val_clear(struct tmpl_val *v)
{
	free(v->str);
	for (size_t i = 0; i < v->nlist; i++)
		tmpl_data_free(v->list[i]);
	free(v->list);
	v->str = NULL;
	v->list = NULL;
	v->nlist = v->caplist = 0;
}

void
tmpl_data_free(struct tmpl_data *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		val_clear(&d->v[i]);
		free(d->v[i].name);
	}
	free(d->v);
	free(d);
}

static const struct tmpl_val *
data_find(const struct tmpl_data *d, const char *name, size_t len)
{
	for (size_t i = 0; d != NULL && i < d->n; i++)
		if (strlen(d->v[i].name) == len && memcmp(d->v[i].name, name, len) == 0)
			return &d->v[i];
	return NULL;
}

/* The value slot for name, emptied (created when new). */
static struct tmpl_val *
data_slot(struct tmpl_data *d, const char *name, enum tmpl_vtype type)
{
	struct tmpl_val *v = (struct tmpl_val *)data_find(d, name, strlen(name));

	if (v == NULL) {
		if (d->n == d->cap) {
			d->cap = d->cap ? 2 * d->cap : 16;
			d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
		}
		v = &d->v[d->n++];
		memset(v, 0, sizeof(*v));
		v->name = xstrdup(name);
	} else if (v->type != type || type != TV_LIST) {
		val_clear(v);
	}
	v->type = type;
	return v;
}

void
tmpl_data_str(struct tmpl_data *d, const char *name, const char *value)
{
	data_slot(d, name, TV_STR)->str = xstrdup(value != NULL ? value : "");
}

void
tmpl_data_bool(struct tmpl_data *d, const char *name, int value)
{
	data_slot(d, name, TV_BOOL)->b = value != 0;
}

void
tmpl_data_html(struct tmpl_data *d, const char *name, struct tmpl_html h)
{
	data_slot(d, name, TV_HTML)->html = h.html;
}

struct tmpl_data *
tmpl_data_add(struct tmpl_data *d, const char *name)
{
	struct tmpl_val *v = data_slot(d, name, TV_LIST);

	if (v->nlist == v->caplist) {
		v->caplist = v->caplist ? 2 * v->caplist : 8;
		v->list = xrealloc(v->list, v->caplist * sizeof(*v->list));
	}
	v->list[v->nlist] = tmpl_data_new();
	return v->list[v->nlist++];
}

/* ---- parser ---- */

static void
node_free(struct tmpl_node *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		node_free(&n->kids[i]);
	free(n->kids);
	free(n->s);
}

static struct tmpl_node *
node_add(struct tmpl_node *parent, enum tmpl_kind kind, const char *s, size_t len, int line)
{
	struct tmpl_node *n;

	if (parent->nkids == parent->capkids) {
		parent->capkids = parent->capkids ? 2 * parent->capkids : 8;
		parent->kids = xrealloc(parent->kids, parent->capkids * sizeof(*parent->kids));
	}
	n = &parent->kids[parent->nkids++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->s = xstrndup(s, len);
	n->len = len;
	n->line = line;
	return n;
}

static int
name_valid(const char *s, size_t n)
{
	if (n == 0 || n > TMPL_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

struct tparse {
	const char *name;
	const char *p, *end;
	int line;
	struct err *e;
};

static int
count_lines(const char *s, size_t n)
{
	int k = 0;

	for (size_t i = 0; i < n; i++)
		k += s[i] == '\n';
	return k;
}

/*
 * Parses into parent until {{/close}} (close NULL: until the end).  depth bounds nesting.
 */
static int
tparse_block(struct tparse *tp, struct tmpl_node *parent, const char *close, int depth)
{
	int rc = -1, open_line = tp->line;

	if (depth > TMPL_NEST_MAX) {
		err_set(tp->e, ERR_INTERNAL, "template %s:%d: sections nested too deep", tp->name,
			tp->line);
		goto out;
	}
	while (tp->p < tp->end) {
		const char *t = tp->p, *tag, *tend, *body;
		size_t n, blen;
		int line;
		enum tmpl_kind kind;

		/* text up to the next "{{" */
		while (t + 1 < tp->end && !(t[0] == '{' && t[1] == '{'))
			t++;
		if (t + 1 >= tp->end)
			t = tp->end;
		if (t > tp->p) {
			node_add(parent, TMPL_TEXT, tp->p, (size_t)(t - tp->p), tp->line);
			tp->line += count_lines(tp->p, (size_t)(t - tp->p));
			tp->p = t;
		}
		if (t >= tp->end)
			break;
		tag = t + 2;
		for (tend = tag; tend + 1 < tp->end && !(tend[0] == '}' && tend[1] == '}');)
			tend++;
		if (tend + 1 >= tp->end) {
			err_set(tp->e, ERR_INTERNAL, "template %s:%d: \"{{\" without \"}}\"",
				tp->name, tp->line);
			goto out;
		}
		line = tp->line;
		tp->line += count_lines(tag, (size_t)(tend - tag));
		tp->p = tend + 2;
		n = (size_t)(tend - tag);
		body = tag;
		blen = n;
		kind = TMPL_VAR;
		if (n > 0 && strchr("&#?^>/_", *tag) != NULL) {
			body = tag + 1;
			blen = n - 1;
			switch (*tag) {
			case '&':
				kind = TMPL_RAW;
				break;
			case '#':
				kind = TMPL_LIST;
				break;
			case '?':
				kind = TMPL_IF;
				break;
			case '^':
				kind = TMPL_UNLESS;
				break;
			case '>':
				kind = TMPL_PARTIAL;
				break;
			case '_':
				kind = TMPL_MSG;
				break;
			default:
				kind = TMPL_TEXT;
				break; /* '/' */
			}
		}
		if (kind == TMPL_MSG) {
			/* "{{_ msgid}}": one blank, then the msgid as written */
			if (blen < 2 || body[0] != ' ' || body[1] == ' ' || body[blen - 1] == ' ' ||
			    memchr(body, '\n', blen) != NULL) {
				err_set(tp->e, ERR_INTERNAL, "template %s:%d: bad {{_ msgid}}",
					tp->name, line);
				goto out;
			}
			node_add(parent, TMPL_MSG, body + 1, blen - 1, line);
			continue;
		}
		if (!name_valid(body, blen)) {
			err_set(tp->e, ERR_INTERNAL, "template %s:%d: bad tag name", tp->name,
				line);
			goto out;
		}
		if (*tag == '/') {
			if (close == NULL || strlen(close) != blen ||
			    memcmp(close, body, blen) != 0) {
				err_set(tp->e, ERR_INTERNAL, "template %s:%d: unexpected {{/%.*s}}",
					tp->name, line, (int)blen, body);
				goto out;
			}
			rc = 0;
			goto out;
		}
		if (kind == TMPL_LIST || kind == TMPL_IF || kind == TMPL_UNLESS) {
			struct tmpl_node *sec = node_add(parent, kind, body, blen, line);

			if (tparse_block(tp, sec, sec->s, depth + 1) == -1)
				goto out;
			continue;
		}
		node_add(parent, kind, body, blen, line);
	}
	if (close != NULL) {
		err_set(tp->e, ERR_INTERNAL, "template %s:%d: {{%s}} is never closed", tp->name,
			open_line, close);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

struct tmpl_set *
tmpl_set_new(void)
{
	return xcalloc(1, sizeof(struct tmpl_set));
}

void
tmpl_set_strict(struct tmpl_set *ts, int strict)
{
	ts->strict = strict != 0;
}

void
tmpl_set_free(struct tmpl_set *ts)
{
	if (ts == NULL)
		return;
	for (size_t i = 0; i < ts->n; i++) {
		node_free(&ts->v[i].root);
		free(ts->v[i].name);
	}
	free(ts->v);
	free(ts);
}

static const struct tmpl *
set_find(const struct tmpl_set *ts, const char *name, size_t len)
{
	for (size_t i = 0; i < ts->n; i++)
		if (strlen(ts->v[i].name) == len && memcmp(ts->v[i].name, name, len) == 0)
			return &ts->v[i];
	return NULL;
}

int
tmpl_set_add(struct tmpl_set *ts, const char *name, const char *text, size_t len, struct err *e)
{
	struct tparse tp = {name, text, text + len, 1, e};
	struct tmpl t;
	int rc = -1;

	memset(&t, 0, sizeof(t));
	if (!name_valid(name, strlen(name)) || set_find(ts, name, strlen(name)) != NULL) {
		err_set(e, ERR_INTERNAL, "template %s: bad or duplicate name", name);
		goto out;
	}
	if (memchr(text, '\0', len) != NULL) {
		err_set(e, ERR_INTERNAL, "template %s: NUL byte", name);
		goto out;
	}
	if (tparse_block(&tp, &t.root, NULL, 0) == -1)
		goto out;
	t.name = xstrdup(name);
	ts->v = xrealloc(ts->v, (ts->n + 1) * sizeof(*ts->v));
	ts->v[ts->n++] = t;
	memset(&t, 0, sizeof(t));
	rc = 0;
out:
	node_free(&t.root);
	return rc;
}

int
tmpl_set_load(struct tmpl_set **out, const char *dir, struct err *e)
{
	struct tmpl_set *ts = tmpl_set_new();
	DIR *d = NULL;
	struct dirent *de;
	struct buf b;
	char *path = NULL, *name = NULL;
	int rc = -1;

	*out = NULL;
	buf_init(&b, TMPL_FILE_MAX);
	if ((d = opendir(dir)) == NULL) {
		err_set(e, ERR_INTERNAL, "templates: cannot open directory %s", dir);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n <= 5 || strcmp(de->d_name + n - 5, ".html") != 0 || de->d_name[0] == '.')
			continue;
		free(path);
		free(name);
		path = xasprintf("%s/%s", dir, de->d_name);
		name = xstrndup(de->d_name, n - 5);
		buf_free(&b); /* util_read_file() starts a new buffer */
		if (util_read_file(path, TMPL_FILE_MAX, &b, e) == -1)
			goto out;
		if (tmpl_set_add(ts, name, b.len ? (const char *)b.data : "", b.len, e) == -1)
			goto out;
	}
	*out = ts;
	ts = NULL;
	rc = 0;
out:
	if (d != NULL)
		closedir(d);
	free(path);
	free(name);
	buf_free(&b);
	tmpl_set_free(ts);
	return rc;
}

/* ---- rendering ---- */

struct rctx {
	const struct tmpl_set *ts;
	const char *page;
	const char *lang;
	struct buf *out;
	struct err *e;
	const struct tmpl_data *scope[TMPL_DEPTH_MAX + 1];
	int nscope;
	int depth;
	const char *tname; /* template being rendered, for messages */
};

static int
render_full(struct rctx *r)
{
	err_set(r->e, ERR_INTERNAL, "template %s: page larger than %zu bytes", r->tname,
		r->out->max);
	return -1;
}

/* Writes s[0..n) with & < > " ' replaced by entities. */
static int
put_escaped(struct rctx *r, const char *s, size_t n)
{
	size_t i, run = 0;

	for (i = 0; i < n; i++) {
		const char *ent = NULL;

		switch (s[i]) {
		case '&':
			ent = "&amp;";
			break;
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		case '"':
			ent = "&quot;";
			break;
		case '\'':
			ent = "&#39;";
			break;
		default:
			continue;
		}
		if (buf_append(r->out, s + run, i - run) == -1 ||
		    buf_append(r->out, ent, strlen(ent)) == -1)
			return render_full(r);
		run = i + 1;
	}
	if (buf_append(r->out, s + run, n - run) == -1)
		return render_full(r);
	return 0;
}

/* The value of name in the innermost scope that has it. */
static const struct tmpl_val *
lookup(const struct rctx *r, const char *name, size_t len)
{
	for (int i = r->nscope - 1; i >= 0; i--) {
		const struct tmpl_val *v = data_find(r->scope[i], name, len);

		if (v != NULL)
			return v;
	}
	return NULL;
}

static int
strict_fail(struct rctx *r, const struct tmpl_node *n, const char *what)
{
	if (!r->ts->strict)
		return 0;
	err_set(r->e, ERR_INTERNAL, "template %s:%d: %s \"%s\"", r->tname, n->line, what, n->s);
	return -1;
}

static int render_nodes(struct rctx *, const struct tmpl_node *);

static int
truthy(const struct tmpl_val *v)
{
	switch (v->type) {
	case TV_BOOL:
		return v->b;
	case TV_STR:
		return v->str[0] != '\0';
	case TV_LIST:
		return v->nlist > 0;
	case TV_HTML:
		return v->html[0] != '\0';
	}
	return 0;
}

static int
render_tmpl(struct rctx *r, const struct tmpl *t)
{
	const char *saved = r->tname;
	int rc;

	if (r->depth >= TMPL_DEPTH_MAX) {
		err_set(r->e, ERR_INTERNAL, "template %s: partials nested too deep", t->name);
		return -1;
	}
	r->depth++;
	r->tname = t->name;
	rc = render_nodes(r, &t->root);
	r->tname = saved;
	r->depth--;
	return rc;
}

static int
render_node(struct rctx *r, const struct tmpl_node *n)
{
	const struct tmpl_val *v;
	const struct tmpl *t;
	const char *s;

	switch (n->kind) {
	case TMPL_TEXT:
		if (buf_append(r->out, n->s, n->len) == -1)
			return render_full(r);
		return 0;
	case TMPL_VAR:
		if ((v = lookup(r, n->s, n->len)) == NULL)
			return strict_fail(r, n, "unknown variable");
		if (v->type == TV_STR)
			return put_escaped(r, v->str, strlen(v->str));
		if (v->type == TV_HTML)
			return put_escaped(r, v->html, strlen(v->html));
		return strict_fail(r, n, "not a string");
	case TMPL_RAW:
		if ((v = lookup(r, n->s, n->len)) == NULL || v->type != TV_HTML)
			return strict_fail(r, n, "not trusted HTML");
		if (buf_append(r->out, v->html, strlen(v->html)) == -1)
			return render_full(r);
		return 0;
	case TMPL_MSG:
		if ((s = i18n_lookup(r->lang, n->s)) == NULL) {
			if (strict_fail(r, n, "no translation for") == -1)
				return -1;
			s = n->s;
		}
		return put_escaped(r, s, strlen(s));
	case TMPL_IF:
	case TMPL_UNLESS:
		if ((v = lookup(r, n->s, n->len)) == NULL &&
		    strict_fail(r, n, "unknown flag") == -1)
			return -1;
		if ((v != NULL && truthy(v)) == (n->kind == TMPL_IF))
			return render_nodes(r, n);
		return 0;
	case TMPL_LIST:
		if ((v = lookup(r, n->s, n->len)) == NULL)
			return strict_fail(r, n, "unknown list");
		if (v->type != TV_LIST)
			return strict_fail(r, n, "not a list");
		if (r->nscope > TMPL_DEPTH_MAX - 1) {
			err_set(r->e, ERR_INTERNAL, "template %s: lists nested too deep", r->tname);
			return -1;
		}
		for (size_t i = 0; i < v->nlist; i++) {
			int rc;

			r->scope[r->nscope++] = v->list[i];
			rc = render_nodes(r, n);
			r->nscope--;
			if (rc == -1)
				return -1;
		}
		return 0;
	case TMPL_PARTIAL:
		if (n->len == 7 && memcmp(n->s, "content", 7) == 0 && r->page != NULL)
			t = set_find(r->ts, r->page, strlen(r->page));
		else
			t = set_find(r->ts, n->s, n->len);
		if (t == NULL) {
			/* a missing partial is always a bug of ours */
			err_set(r->e, ERR_INTERNAL, "template %s:%d: no template \"%s\"", r->tname,
				n->line, n->s);
			return -1;
		}
		return render_tmpl(r, t);
	}
	return 0;
}

static int
render_nodes(struct rctx *r, const struct tmpl_node *parent)
{
	for (size_t i = 0; i < parent->nkids; i++)
		if (render_node(r, &parent->kids[i]) == -1)
			return -1;
	return 0;
}

int
tmpl_render(const struct tmpl_set *ts, const char *name, const char *page,
	    const struct tmpl_data *d, const char *lang, struct buf *out, struct err *e)
{
	struct rctx r;
	const struct tmpl *t;
	struct tmpl_data empty;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	memset(&empty, 0, sizeof(empty));
	r.ts = ts;
	r.page = page;
	r.lang = lang != NULL ? lang : I18N_DEFAULT;
	r.out = out;
	r.e = e;
	r.scope[r.nscope++] = d != NULL ? d : &empty;
	r.tname = name;
	if ((t = set_find(ts, name, strlen(name))) == NULL) {
		err_set(e, ERR_INTERNAL, "template %s: not loaded", name);
		goto out;
	}
	if (page != NULL && set_find(ts, page, strlen(page)) == NULL) {
		err_set(e, ERR_INTERNAL, "template %s: not loaded", page);
		goto out;
	}
	if (render_tmpl(&r, t) == -1)
		goto out;
	rc = 0;
out:
	return rc;
}
