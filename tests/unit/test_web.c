/*
 * web unit tests: the escaping template renderer, the .po reader and catalogs, language
 * choice, the notice pages, and the CAPTCHA (drawing, and checking on both store backends:
 * SQLite and the throwaway PostgreSQL of scripts/with-pg.sh).  Run from the repository root.
 */
#include "testutil.h"

#include <ctype.h>
#include <dirent.h>

#include <gd.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "http/http.h"
#include "store/store.h"
#include "web/web.h"

#define OK(call)                                                                                   \
	do {                                                                                       \
		err_clear(&e);                                                                     \
		if ((call) != 0)                                                                   \
			fail_msg("%s: %s", #call, e.msg);                                          \
	} while (0)

#define FAILS(call)                                                                                \
	do {                                                                                       \
		err_clear(&e);                                                                     \
		assert_int_equal((call), -1);                                                      \
		assert_true(err_is_set(&e));                                                       \
	} while (0)

/* ---- templates ---- */

static struct tmpl_set *
set_of(const char *const *pairs, int strict)
{
	struct tmpl_set *ts = tmpl_set_new();
	struct err e;

	for (; pairs[0] != NULL; pairs += 2)
		OK(tmpl_set_add(ts, pairs[0], pairs[1], strlen(pairs[1]), &e));
	tmpl_set_strict(ts, strict);
	return ts;
}

/* Renders t with d; returns a malloc'ed page or NULL on a render error. */
static char *
render(struct tmpl_set *ts, const char *name, const char *page, struct tmpl_data *d)
{
	struct buf b;
	struct err e;
	char *s = NULL;

	buf_init(&b, 65536);
	err_clear(&e);
	if (tmpl_render(ts, name, page, d, "en", &b, &e) == 0)
		s = xstrdup(b.len ? (char *)buf_cstr(&b) : "");
	buf_free(&b);
	return s;
}

static void
test_tmpl_escape(void **state)
{
	static const char *const t[] = {"p", "<p title=\"{{v}}\">{{v}}</p>", NULL};
	struct tmpl_set *ts = set_of(t, 1);
	struct tmpl_data *d = tmpl_data_new();
	char *s;

	tmpl_data_str(d, "v", "<script>alert(\"x\")</script> & 'q' {{v}} {{&v}} {{_ Done}}");
	s = render(ts, "p", NULL, d);
	assert_non_null(s);
	assert_string_equal(s, "<p title=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; "
			       "&#39;q&#39; {{v}} {{&amp;v}} {{_ Done}}\">&lt;script&gt;alert("
			       "&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; {{v}} {{&amp;v}} "
			       "{{_ Done}}</p>");
	assert_null(strstr(s, "<script"));
	free(s);
	/* UTF-8 and other characters pass unchanged */
	tmpl_data_str(d, "v", "証明書 / = ` %");
	s = render(ts, "p", NULL, d);
	assert_string_equal(s, "<p title=\"証明書 / = ` %\">証明書 / = ` %</p>");
	free(s);
	tmpl_data_free(d);
	tmpl_set_free(ts);
}

static void
test_tmpl_sections(void **state)
{
	static const char *const t[] = {
	    "layout",
	    "[{{>head}}|{{>content}}]",
	    "head",
	    "H:{{title}}",
	    "page",
	    "{{#items}}({{name}}@{{site}}{{?hot}}!{{/hot}}{{^hot}}.{{/hot}}){{/items}}"
	    "{{?items}}n{{/items}}{{^none}}-{{/none}}{{?none}}X{{/none}}",
	    NULL};
	struct tmpl_set *ts = set_of(t, 1);
	struct tmpl_data *d = tmpl_data_new(), *r;
	char *s;

	tmpl_data_str(d, "title", "T&");
	tmpl_data_str(d, "site", "outer");
	r = tmpl_data_add(d, "items");
	tmpl_data_str(r, "name", "a<");
	tmpl_data_bool(r, "hot", 1);
	r = tmpl_data_add(d, "items");
	tmpl_data_str(r, "name", "b");
	tmpl_data_str(r, "site", "inner");
	tmpl_data_bool(r, "hot", 0);
	tmpl_data_bool(d, "none", 0);
	s = render(ts, "layout", "page", d);
	assert_non_null(s);
	assert_string_equal(s, "[H:T&amp;|(a&lt;@outer!)(b@inner.)n-]");
	free(s);
	/* {{>content}} without a page is a render error */
	assert_null(render(ts, "layout", NULL, d));
	/* an unknown page or template */
	assert_null(render(ts, "layout", "nope", d));
	assert_null(render(ts, "nope", NULL, d));
	tmpl_data_free(d);
	tmpl_set_free(ts);
}

static void
test_tmpl_strict(void **state)
{
	static const char *const t[] = {
	    "a", "x{{missing}}y", "b", "{{&frag}}", "c", "{{?f}}F{{/f}}", "r", "{{>r}}", NULL};
	struct tmpl_set *ts = set_of(t, 1);
	struct tmpl_data *d = tmpl_data_new();
	char *s;

	assert_null(render(ts, "a", NULL, d));
	assert_null(render(ts, "c", NULL, d));
	/* a string is never inserted raw, even by {{&name}} */
	tmpl_data_str(d, "frag", "<b>user</b>");
	assert_null(render(ts, "b", NULL, d));
	tmpl_data_html(d, "frag", TMPL_HTML("<b>ours</b>"));
	s = render(ts, "b", NULL, d);
	assert_string_equal(s, "<b>ours</b>");
	free(s);
	/* endless partial recursion is an error, not a crash */
	assert_null(render(ts, "r", NULL, d));
	/* lenient (production): unknowns render empty */
	tmpl_set_strict(ts, 0);
	tmpl_data_str(d, "frag", "<b>user</b>");
	s = render(ts, "a", NULL, d);
	assert_string_equal(s, "xy");
	free(s);
	s = render(ts, "b", NULL, d);
	assert_string_equal(s, "");
	free(s);
	assert_null(render(ts, "r", NULL, d));
	tmpl_data_free(d);
	tmpl_set_free(ts);
}

static void
test_tmpl_parse_errors(void **state)
{
	static const char *const bad[] = {"{{x",
					  "{{}}",
					  "{{#a}}",
					  "{{#a}}{{/b}}",
					  "{{/a}}",
					  "{{a b}}",
					  "{{_}}",
					  "{{_  x}}",
					  "{{_ x }}",
					  "{{<x}}",
					  "{{?a}}{{#b}}{{/a}}{{/b}}",
					  "{{x\"}}",
					  NULL};
	struct tmpl_set *ts = tmpl_set_new();
	struct err e;
	char deep[2000];
	size_t n = 0;

	for (int i = 0; bad[i] != NULL; i++) {
		err_clear(&e);
		if (tmpl_set_add(ts, "t", bad[i], strlen(bad[i]), &e) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(strstr(e.msg, "template t"));
	}
	/* nesting is bounded */
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{{?a}}");
	FAILS(tmpl_set_add(ts, "t", deep, n, &e));
	/* duplicate names, bad names */
	OK(tmpl_set_add(ts, "t", "x", 1, &e));
	FAILS(tmpl_set_add(ts, "t", "y", 1, &e));
	FAILS(tmpl_set_add(ts, "a/b", "y", 1, &e));
	/* a lone "{" and "}}" are text */
	OK(tmpl_set_add(ts, "u", "{ } }} {", 8, &e));
	tmpl_set_free(ts);
}

static void
test_tmpl_limit(void **state)
{
	static const char *const t[] = {"p", "{{v}}{{v}}", NULL};
	struct tmpl_set *ts = set_of(t, 1);
	struct tmpl_data *d = tmpl_data_new();
	struct buf b;
	struct err e;

	tmpl_data_str(d, "v", "<<<<<<<<<<"); /* 40 bytes escaped, 80 rendered */
	buf_init(&b, 79);
	FAILS(tmpl_render(ts, "p", NULL, d, "en", &b, &e));
	assert_non_null(strstr(e.msg, "larger than"));
	buf_free(&b);
	buf_init(&b, 80);
	OK(tmpl_render(ts, "p", NULL, d, "en", &b, &e));
	assert_int_equal(b.len, 80);
	buf_free(&b);
	tmpl_data_free(d);
	tmpl_set_free(ts);
}

/* ---- i18n ---- */

static const char po_header[] = "msgid \"\"\nmsgstr \"\"\n"
				"\"Content-Type: text/plain; charset=UTF-8\\n\"\n\n";

static int
po_try(const char *body, struct i18n_cat **c, struct err *e)
{
	char *text = xasprintf("%s%s", po_header, body);
	int rc;

	err_clear(e);
	rc = i18n_po_parse("t.po", text, strlen(text), c, e);
	free(text);
	return rc;
}

static void
test_po_parse(void **state)
{
	struct i18n_cat *c = NULL;
	struct err e;
	static const char *const bad[] = {
	    "msgid \"a\"\n",						/* no msgstr */
	    "msgid \"a\"\nmsgstr \"b\nc\"\n",				/* unterminated */
	    "msgid \"a\\q\"\nmsgstr \"b\"\n",				/* bad escape */
	    "msgid \"a\"\nmsgid_plural \"as\"\nmsgstr[0] \"b\"\n",	/* plurals */
	    "msgctxt \"x\"\nmsgid \"a\"\nmsgstr \"b\"\n",		/* context */
	    "msgid \"a\"\nmsgstr \"b\"\n\nmsgid \"a\"\nmsgstr \"c\"\n", /* duplicate */
	    "msgid \"a\"\nmsgstr \"\xff\"\n",				/* not UTF-8 */
	    "msgid \"a\"\nmsgstr \"\xe3\x81\"\n",			/* truncated UTF-8 */
	    "msgid \"a\" x\nmsgstr \"b\"\n",				/* trailing text */
	    "msgid a\nmsgstr \"b\"\n",					/* unquoted */
	    "msgid \"a\"\nmsgstr \"b\"\nmsgid \"\"\nmsgstr \"x\"\n",	/* second header */
	    "msgid \"a\\\"\nmsgstr \"b\"\n",				/* escaped closing quote */
	    NULL};

	assert_int_equal(po_try("# comment\n#: ref.c:1\nmsgid \"\"\n\"multi \"\n\"line\"\n"
				"msgstr \"複数\"\n  \"行\\n\\t\\\"q\\\"\\\\\"\n\n"
				"#, fuzzy\nmsgid \"fz\"\nmsgstr \"ignored\"\n\n"
				"msgid \"empty\"\nmsgstr \"\"\n\r\n"
				"msgid \"crlf\"\r\nmsgstr \"ok\"\r\n",
				&c, &e),
			 0);
	assert_int_equal(i18n_cat_count(c), 2);
	assert_string_equal(i18n_cat_get(c, "multi line"), "複数行\n\t\"q\"\\");
	assert_string_equal(i18n_cat_get(c, "crlf"), "ok");
	assert_null(i18n_cat_get(c, "fz"));
	assert_null(i18n_cat_get(c, "empty"));
	assert_null(i18n_cat_get(c, "nope"));
	i18n_cat_free(c);
	for (int i = 0; bad[i] != NULL; i++) {
		c = NULL;
		if (po_try(bad[i], &c, &e) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_null(c);
		assert_non_null(strstr(e.msg, "t.po"));
	}
	/* a header without charset=UTF-8 */
	err_clear(&e);
	assert_int_equal(i18n_po_parse("t.po", "msgid \"\"\nmsgstr \"x\"\n", 21, &c, &e), -1);
	/* NUL inside */
	assert_int_equal(i18n_po_parse("t.po", "msgid \"\0\"", 9, &c, &e), -1);
}

static void
test_catalogs_valid(void **state)
{
	struct err e;

	assert_int_equal(system("msgfmt --check -o /dev/null po/ja.po"), 0);
	assert_int_equal(system("msgfmt --check -o /dev/null po/en.po"), 0);
	OK(i18n_load("po", &e));
	assert_string_equal(i18n_get("ja", "Issued"), "発行完了");
	assert_string_equal(i18n_get("en", "Issued"), "Issued");
	assert_string_equal(i18n_get("fr", "Issued"), "Issued");
	assert_string_equal(i18n_get("ja", "no such msgid"), "no such msgid");
	assert_null(i18n_lookup("ja", "no such msgid"));
	FAILS(i18n_load("/nonexistent", &e));
	/* a failed load keeps the earlier catalogs */
	assert_string_equal(i18n_get("ja", "Issued"), "発行完了");
}

/* Adds every msgid of text to *v: {{_ ...}} (html) or N_("...") (c). */
static void
msgids_collect(const char *text, int c_source, char ***v, size_t *n)
{
	const char *p = text, *q;

	while ((p = strstr(p, c_source ? "N_(" : "{{_ ")) != NULL) {
		struct buf b;

		p += c_source ? 3 : 4;
		if (c_source) {
			while (*p == ' ' || *p == '\t' || *p == '\n')
				p++;
			if (*p != '"')
				continue; /* not a literal (the macro's definition) */
			p++;
		}
		buf_init(&b, 4096);
		if (c_source) {
			/* the literal may be split over lines: "a" "b" (clang-format does that) */
			for (q = p; *q != '\0'; q++) {
				if (*q == '"') {
					const char *r = q + 1;

					while (*r == ' ' || *r == '\t' || *r == '\n')
						r++;
					if (*r != '"')
						break;
					q = r;
					continue;
				}
				if (*q == '\\')
					q++;
				assert_int_equal(buf_putc(&b, *q), 0);
			}
		} else {
			q = strstr(p, "}}");
			assert_non_null(q);
			assert_int_equal(buf_append(&b, p, (size_t)(q - p)), 0);
		}
		*v = xrealloc(*v, (*n + 1) * sizeof(**v));
		(*v)[(*n)++] = xstrdup(b.len ? buf_cstr(&b) : "");
		buf_free(&b);
		p = q;
	}
}

static void
msgids_scan_dir(const char *dir, const char *suffix, int c_source, char ***v, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct err e;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		char *path;
		struct buf b;

		if (l <= strlen(suffix) || strcmp(de->d_name + l - strlen(suffix), suffix) != 0)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		buf_init(&b, 1 << 20);
		OK(util_read_file(path, 1 << 20, &b, &e));
		msgids_collect(buf_cstr(&b), c_source, v, n);
		buf_free(&b);
		free(path);
	}
	closedir(d);
}

/* Every msgid used in templates/, src/web, src/portal and src/console has a translation in ja.po
 * and en.po. */
static void
test_catalogs_complete(void **state)
{
	char **v = NULL;
	size_t n = 0, missing = 0;
	struct buf pot;
	struct err e;

	OK(i18n_load("po", &e));
	buf_init(&pot, 1 << 20);
	OK(util_read_file("po/shomei.pot", 1 << 20, &pot, &e));
	msgids_scan_dir("templates", ".html", 0, &v, &n);
	msgids_scan_dir("src/web", ".c", 1, &v, &n);
	msgids_scan_dir("src/portal", ".c", 1, &v, &n);
	msgids_scan_dir("src/console", ".c", 1, &v, &n);
	assert_true(n >= 15);
	for (size_t i = 0; i < n; i++) {
		char *line = xasprintf("msgid \"%s\"\n", v[i]);

		if (i18n_lookup("ja", v[i]) == NULL || i18n_lookup("en", v[i]) == NULL ||
		    strstr(buf_cstr(&pot), line) == NULL) {
			print_error("no translation (ja, en or shomei.pot): \"%s\"\n", v[i]);
			missing++;
		}
		free(line);
		free(v[i]);
	}
	free(v);
	buf_free(&pot);
	assert_int_equal(missing, 0);
}

static void
test_i18n_pick(void **state)
{
	assert_string_equal(i18n_pick(NULL, NULL), "ja");
	assert_string_equal(i18n_pick("", NULL), "ja");
	assert_string_equal(i18n_pick("en", NULL), "en");
	assert_string_equal(i18n_pick("en-US,en;q=0.9", NULL), "en");
	assert_string_equal(i18n_pick("EN-gb", NULL), "en");
	assert_string_equal(i18n_pick("fr-FR, de;q=0.8", NULL), "ja");
	assert_string_equal(i18n_pick("fr, en;q=0.5, ja;q=0.4", NULL), "en");
	assert_string_equal(i18n_pick("en;q=0.4, ja;q=0.5", NULL), "ja");
	assert_string_equal(i18n_pick("ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7", NULL), "ja");
	assert_string_equal(i18n_pick("en;q=0, *;q=0.1", NULL), "ja");
	assert_string_equal(i18n_pick("en;q=0", NULL), "ja");
	assert_string_equal(i18n_pick("en ; q=1.000", NULL), "en");
	assert_string_equal(i18n_pick("en;q=1.5", NULL), "ja"); /* malformed q: dropped */
	assert_string_equal(i18n_pick("en;q=abc", NULL), "ja");
	assert_string_equal(i18n_pick("english", NULL), "ja"); /* not a prefix match */
	assert_string_equal(i18n_pick("en, ja", NULL), "en");  /* tie: the earlier */
	assert_string_equal(i18n_pick(",,;,;q=,", NULL), "ja");
	assert_string_equal(i18n_pick("en", "ja"), "ja"); /* the cookie wins */
	assert_string_equal(i18n_pick(NULL, "en"), "en");
	assert_string_equal(i18n_pick("en", "fr"), "en"); /* unless unsupported */
	assert_string_equal(i18n_pick("ja", "EN\"<"), "ja");
}

/* The real templates: busy and error pages in both languages, strictly rendered. */
static void
test_notice_pages(void **state)
{
	struct tmpl_set *ts = NULL;
	struct tmpl_data *d;
	struct buf b;
	struct err e;
	char *s;

	OK(i18n_load("po", &e));
	OK(tmpl_set_load(&ts, "templates", &e));
	tmpl_set_strict(ts, 1);
	buf_init(&b, 1 << 16);
	OK(web_render_notice(ts, WEB_NOTICE_BUSY, "ja", NULL, &b, &e));
	s = buf_cstr(&b);
	assert_non_null(strstr(s, "<html lang=\"ja\">"));
	assert_non_null(strstr(s, "<h1>ただいま混み合っています</h1>"));
	assert_non_null(strstr(s, "href=\"?lang=en\""));
	assert_null(strstr(s, "flowbar"));
	buf_reset(&b);
	OK(web_render_notice(ts, WEB_NOTICE_ERROR, "en", "<ref&1>", &b, &e));
	s = buf_cstr(&b);
	assert_non_null(strstr(s, "<html lang=\"en\">"));
	assert_non_null(strstr(s, "<h1>Service error</h1>"));
	assert_non_null(strstr(s, "<code>&lt;ref&amp;1&gt;</code>"));
	assert_non_null(strstr(s, "href=\"?lang=ja\""));
	/* the flow bar */
	buf_reset(&b);
	d = web_data_new("ja", "Confirm");
	web_flow_add(d, "ja", 1);
	OK(tmpl_render(ts, "layout", "busy", d, "ja", &b, &e));
	s = buf_cstr(&b);
	assert_non_null(strstr(s, "<li class=\"done\">申請者情報入力</li>"));
	assert_non_null(strstr(s, "<li class=\"current\" aria-current=\"step\">確認</li>"));
	assert_non_null(strstr(s, "<li>発行完了</li>"));
	tmpl_data_free(d);
	buf_free(&b);
	tmpl_set_free(ts);
	/* strict: a msgid without translation fails */
	{
		static const char *const t[] = {"m", "{{_ never translated}}", NULL};
		struct tmpl_set *ms = set_of(t, 1);

		assert_null(render(ms, "m", NULL, NULL));
		tmpl_set_strict(ms, 0);
		s = render(ms, "m", NULL, NULL);
		assert_string_equal(s, "never translated");
		free(s);
		tmpl_set_free(ms);
	}
}

/* ---- static files and the site pages ---- */

/* Only names of the fixed list are found, exactly; the content, version and ETag are right. */
static void
test_static_files(void **state)
{
	static const char *const bad[] = {
	    "",
	    "../shomei.css",
	    "./shomei.css",
	    "shomei.css/",
	    "SHOMEI.CSS",
	    "shomei.css ",
	    "shomei.css%00",
	    "/shomei.css",
	    "static/shomei.css",
	    "..",
	    "shomei",
	    "portal.css",
	    "../templates/layout.html",
	    "shomei.css\n",
	    NULL,
	};
	const struct web_static_file *f;
	struct buf b;
	struct err e;
	char *tmp;

	assert_null(web_static_find("shomei.css")); /* nothing loaded yet */
	assert_string_equal(web_static_version("shomei.css"), "");
	FAILS(web_static_load("/nonexistent", &e));
	OK(web_static_load("static", &e));
	f = web_static_find("shomei.css");
	assert_non_null(f);
	assert_string_equal(f->ctype, "text/css; charset=utf-8");
	buf_init(&b, WEB_STATIC_MAX);
	OK(util_read_file("static/shomei.css", WEB_STATIC_MAX, &b, &e));
	assert_int_equal(f->len, b.len);
	assert_memory_equal(f->data, b.data, b.len);
	assert_int_equal(strlen(f->version), WEB_STATIC_VERSION_LEN);
	assert_int_equal(strspn(f->version, "0123456789ABCDEF"), WEB_STATIC_VERSION_LEN);
	assert_int_equal(strlen(f->etag), 34);
	assert_true(f->etag[0] == '"' && f->etag[33] == '"');
	assert_memory_equal(f->etag + 1, f->version, WEB_STATIC_VERSION_LEN);
	assert_string_equal(web_static_version("shomei.css"), f->version);
	for (size_t i = 0; bad[i] != NULL; i++)
		if (web_static_find(bad[i]) != NULL)
			fail_msg("found \"%s\"", bad[i]);
	assert_null(web_static_find(NULL));
	/* another content, another version */
	tmp = xstrdup("/tmp/shomei-static-XXXXXX");
	assert_non_null(mkdtemp(tmp));
	{
		char *p = xasprintf("%s/shomei.css", tmp);
		FILE *fp = fopen(p, "w");
		char v1[WEB_STATIC_VERSION_LEN + 1];

		assert_non_null(fp);
		fputs("body{color:red}\n", fp);
		fclose(fp);
		memcpy(v1, f->version, sizeof(v1));
		OK(web_static_load(tmp, &e));
		f = web_static_find("shomei.css");
		assert_non_null(f);
		assert_int_equal(f->len, 16);
		assert_string_not_equal(f->version, v1);
		/* a file over the limit is refused and nothing stays loaded */
		fp = fopen(p, "w");
		assert_non_null(fp);
		for (size_t i = 0; i <= WEB_STATIC_MAX; i++)
			fputc('x', fp);
		fclose(fp);
		FAILS(web_static_load(tmp, &e));
		assert_null(web_static_find("shomei.css"));
		unlink(p);
		free(p);
	}
	rmdir(tmp);
	free(tmp);
	web_static_unload();
	buf_free(&b);
}

/* The top page and the policy pages, strictly rendered (every variable and msgid known). */
static void
test_site_pages(void **state)
{
	static const char *const pages[] = {"index", "policy_obligations", "policy_privacy", NULL};
	static const char *const langs[] = {"ja", "en", NULL};
	struct tmpl_set *ts = NULL;
	struct buf b;
	struct err e;

	OK(i18n_load("po", &e));
	OK(tmpl_set_load(&ts, "templates", &e));
	OK(web_static_load("static", &e));
	tmpl_set_strict(ts, 1);
	buf_init(&b, 1 << 20);
	for (size_t i = 0; pages[i] != NULL; i++) {
		for (size_t j = 0; langs[j] != NULL; j++) {
			struct tmpl_data *d = web_data_new(langs[j], "User obligations");
			char *href = xasprintf("href=\"/static/shomei.css?v=%s\"",
					       web_static_version("shomei.css"));
			const char *s;

			tmpl_data_bool(d, "steps", 0);
			tmpl_data_str(d, "contact_email", "help@example.jp");
			tmpl_data_str(d, "contact_text", "<desk>");
			buf_reset(&b);
			OK(tmpl_render(ts, "layout", pages[i], d, langs[j], &b, &e));
			s = buf_cstr(&b);
			assert_non_null(strstr(s, href));
			assert_null(strstr(s, "style=")); /* the CSP allows no inline styles */
			assert_non_null(strstr(s, "href=\"/policies/privacy\""));
			if (strcmp(pages[i], "policy_obligations") != 0) {
				assert_non_null(strstr(s, "href=\"mailto:help@example.jp\""));
				assert_non_null(strstr(s, "&lt;desk&gt;"));
			}
			if (strcmp(pages[i], "index") == 0) {
				assert_non_null(strstr(s, "href=\"/regist/step1\""));
				assert_non_null(strstr(s, strcmp(langs[j], "ja") == 0 ? "同意する"
										      : ">Agree<"));
			}
			free(href);
			tmpl_data_free(d);
		}
	}
	buf_free(&b);
	web_static_unload();
	tmpl_set_free(ts);
}

/* ---- CAPTCHA ---- */

static void
cc_test(struct captcha_conf *cc, const char *answer)
{
	struct conf c;
	struct err e;

	memset(&c, 0, sizeof(c));
	if (answer != NULL) {
		conf_set(&c, "test.captcha_answer", answer);
		conf_set(&c, "test.instance", "yes");
	}
	OK(captcha_conf_load(cc, &c, answer != NULL ? 1 : 0, &e));
	conf_free(&c);
}

static void
test_captcha_draw(void **state)
{
	struct captcha_conf cc;
	struct buf png;
	struct err e;
	gdImagePtr im;

	cc_test(&cc, NULL);
	assert_int_equal(cc.ttl, 600);
	assert_string_equal(cc.test_answer, "");
	buf_init(&png, 1 << 20);
	OK(captcha_draw(&cc, "ACDEF7", &png, &e));
	assert_memory_equal(png.data, "\x89PNG\r\n\x1a\n", 8);
	im = gdImageCreateFromPngPtr((int)png.len, png.data);
	assert_non_null(im);
	assert_int_equal(gdImageSX(im), CAPTCHA_WIDTH);
	assert_int_equal(gdImageSY(im), CAPTCHA_HEIGHT);
	gdImageDestroy(im);
	/* a missing font is a clean error */
	memcpy(cc.font, "/nonexistent.ttf", 17);
	FAILS(captcha_draw(&cc, "ACDEF7", &png, &e));
	buf_free(&png);
}

static void
test_captcha_test_mode(void **state)
{
	const char *lo[] = {"127.0.0.1:8443", "[::1]:8080", "127.1.2.3:1"};
	const char *bad[] = {"0.0.0.0:8443",
			     "[::]:8443",
			     "localhost:8443",
			     "192.0.2.1:80",
			     "[::ffff:10.0.0.1]:80",
			     ":8443",
			     "128.0.0.1:80",
			     "127.0.0.1",
			     "[::1]",
			     "::1:80"};
	struct captcha_conf cc;
	struct conf c;
	struct err e;

	memset(&c, 0, sizeof(c));
	/* not configured: normal */
	err_clear(&e);
	assert_int_equal(captcha_test_mode_allowed(&c, lo, 3, &e), 0);
	conf_set(&c, "test.captcha_answer", "ABCDE");
	/* without test.instance = yes: refused */
	err_clear(&e);
	assert_int_equal(captcha_test_mode_allowed(&c, lo, 3, &e), -1);
	assert_non_null(strstr(e.msg, "test.instance"));
	conf_set(&c, "test.instance", "true");
	err_clear(&e);
	assert_int_equal(captcha_test_mode_allowed(&c, lo, 3, &e), -1);
	conf_set(&c, "test.instance", "yes");
	err_clear(&e);
	assert_int_equal(captcha_test_mode_allowed(&c, lo, 3, &e), 1);
	/* any listener that is not loopback: refused */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *two[] = {"127.0.0.1:8443", bad[i]};

		err_clear(&e);
		if (captcha_test_mode_allowed(&c, two, 2, &e) != -1)
			fail_msg("allowed with listener %s", bad[i]);
	}
	err_clear(&e);
	assert_int_equal(captcha_test_mode_allowed(&c, lo, 0, &e), -1);
	/* a malformed answer: refused */
	conf_set(&c, "test.captcha_answer", "AB");
	err_clear(&e);
	assert_int_equal(captcha_test_mode_allowed(&c, lo, 1, &e), -1);
	/* the answer is honoured only when the check said yes */
	conf_set(&c, "test.captcha_answer", "ABCDE");
	OK(captcha_conf_load(&cc, &c, 0, &e));
	assert_string_equal(cc.test_answer, "");
	OK(captcha_conf_load(&cc, &c, -1, &e));
	assert_string_equal(cc.test_answer, "");
	OK(captcha_conf_load(&cc, &c, 1, &e));
	assert_string_equal(cc.test_answer, "ABCDE");
	conf_set(&c, "portal.captcha_ttl", "5");
	FAILS(captcha_conf_load(&cc, &c, 1, &e));
	conf_set(&c, "portal.captcha_ttl", "120");
	OK(captcha_conf_load(&cc, &c, 1, &e));
	assert_int_equal(cc.ttl, 120);
	conf_free(&c);
}

/* CAPTCHA checks on a store backend. */
static int cur_pg;

struct fx {
	char *dir;
	char *spec;
	struct store *s;
};

static void
pg_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void
pg_raw(const char *sql)
{
	PGconn *c = PQconnectdb(tu_pg());
	PGresult *r;

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("postgresql: %s", PQerrorMessage(c));
	PQsetNoticeProcessor(c, pg_quiet, NULL);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("postgresql: %s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

static int
grp_sqlite(void **state)
{
	cur_pg = 0;
	return 0;
}

static int
grp_pg(void **state)
{
	cur_pg = 1;
	if (tu_pg() == NULL) {
		print_error("SHOMEI_TEST_PG is not set: run through scripts/with-pg.sh\n");
		return -1;
	}
	return 0;
}

static int
fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct err e;

	if (cur_pg) {
		pg_raw("SET client_min_messages TO warning; DROP SCHEMA public CASCADE; "
		       "CREATE SCHEMA public");
		f->spec = xstrdup(tu_pg());
	} else {
		f->dir = tu_tmpdir();
		f->spec = xasprintf("sqlite:%s/shomei.db", f->dir);
	}
	OK(store_open(&f->s, f->spec, &e));
	util_clock_set_offset(0);
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;

	util_clock_set_offset(0);
	store_close(f->s);
	free(f->spec);
	tu_rmdir(f->dir);
	free(f);
	return 0;
}

/* A new CAPTCHA with the predictable answer; its id in id. */
static void
new_one(struct store *s, const char *purpose, char id[CAPTCHA_ID_HEX])
{
	struct captcha_conf cc;
	struct buf png;
	struct err e;

	cc_test(&cc, "ABCDE");
	buf_init(&png, 1 << 20);
	OK(captcha_new(s, &cc, purpose, id, &png, &e));
	assert_int_equal(strlen(id), 64);
	assert_true(png.len > 100);
	buf_free(&png);
}

static enum captcha_result
check(struct store *s, const char *id, const char *purpose, const char *answer)
{
	enum captcha_result r = CAPTCHA_OK;
	struct err e;

	OK(captcha_verify(s, id, purpose, answer, &r, &e));
	return r;
}

static void
test_captcha_verify(void **state)
{
	struct fx *f = *state;
	struct store *s2 = NULL;
	struct captcha_conf cc;
	struct buf png;
	char id[CAPTCHA_ID_HEX], id2[CAPTCHA_ID_HEX], lower[CAPTCHA_ID_HEX];
	struct err e;
	int64_t n;

	/* right (case and blanks do not matter), then used up */
	new_one(f->s, "regist", id);
	assert_int_equal(check(f->s, id, "regist", " abcde "), CAPTCHA_OK);
	assert_int_equal(check(f->s, id, "regist", "ABCDE"), CAPTCHA_WRONG);
	/* wrong: consumed as well */
	new_one(f->s, "regist", id);
	assert_int_equal(check(f->s, id, "regist", "ABCDF"), CAPTCHA_WRONG);
	assert_int_equal(check(f->s, id, "regist", "ABCDE"), CAPTCHA_WRONG);
	/* another form's CAPTCHA */
	new_one(f->s, "revoke", id);
	assert_int_equal(check(f->s, id, "regist", "ABCDE"), CAPTCHA_WRONG);
	assert_int_equal(check(f->s, id, "revoke", "ABCDE"), CAPTCHA_WRONG);
	/* expired */
	new_one(f->s, "regist", id);
	util_clock_set_offset(601);
	assert_int_equal(check(f->s, id, "regist", "ABCDE"), CAPTCHA_EXPIRED);
	util_clock_set_offset(0);
	/*
	 * just before expiry, taken on a second connection (another front end); connected
	 * first: a slow connect (PostgreSQL under ASan) between the CAPTCHA and its check could
	 * cross a second and turn 599 s into 600
	 */
	OK(store_open(&s2, f->spec, &e));
	new_one(f->s, "regist", id);
	util_clock_set_offset(599);
	assert_int_equal(check(s2, id, "regist", "abcde"), CAPTCHA_OK);
	assert_int_equal(check(f->s, id, "regist", "abcde"), CAPTCHA_WRONG);
	store_close(s2);
	util_clock_set_offset(0);
	/* ids: case-insensitive hex; malformed ones are wrong, not errors */
	new_one(f->s, "regist", id);
	for (size_t i = 0; i < sizeof(lower); i++)
		lower[i] = (id[i] >= 'A' && id[i] <= 'F') ? (char)(id[i] - 'A' + 'a') : id[i];
	assert_int_equal(check(f->s, lower, "regist", "ABCDE"), CAPTCHA_OK);
	assert_int_equal(check(f->s, "", "regist", "ABCDE"), CAPTCHA_WRONG);
	assert_int_equal(check(f->s, "zz", "regist", "ABCDE"), CAPTCHA_WRONG);
	id[63] = 'G';
	assert_int_equal(check(f->s, id, "regist", "ABCDE"), CAPTCHA_WRONG);
	new_one(f->s, "regist", id);
	assert_int_equal(check(f->s, id, "regist", "ABCDEABCDEABCDEABCDEABCDEABCDEABCDEABCDE"),
			 CAPTCHA_WRONG);
	assert_int_equal(check(f->s, id, "regist", "ABCDE"), CAPTCHA_WRONG);
	/* a random answer: two CAPTCHAs get different ids; a guess fails */
	cc_test(&cc, NULL);
	buf_init(&png, 1 << 20);
	OK(captcha_new(f->s, &cc, "regist", id, &png, &e));
	OK(captcha_new(f->s, &cc, "regist", id2, &png, &e));
	assert_string_not_equal(id, id2);
	assert_int_equal(check(f->s, id, "regist", "ABCDE"), CAPTCHA_WRONG);
	buf_free(&png);
	/* making a CAPTCHA purges the expired ones (at most once a minute): id2 is gone, not
	 * merely expired; the new one stays */
	util_clock_set_offset(1000);
	new_one(f->s, "regist", id);
	OK(store_captcha_purge(f->s, util_now(), &n, &e));
	assert_int_equal(n, 0);
	assert_int_equal(check(f->s, id2, "regist", "ABCDE"), CAPTCHA_WRONG);
	assert_int_equal(check(f->s, id, "regist", "ABCDE"), CAPTCHA_OK);
	/* messages */
	assert_null(captcha_result_msgid(CAPTCHA_OK));
	assert_non_null(captcha_result_msgid(CAPTCHA_WRONG));
	assert_non_null(captcha_result_msgid(CAPTCHA_EXPIRED));
}

/*
 * The pool of pre-drawn images: filled by its thread; each image handed out once (distinct
 * ids and images) with its own answer stored as before; another font is not served from it;
 * without the pool (stopped) captcha_new() draws itself.
 */
static void
test_captcha_pool(void **state)
{
	struct fx *f = *state;
	struct captcha_conf cc, other;
	struct buf png;
	struct err e;
	char ids[8][CAPTCHA_ID_HEX];
	unsigned char digest[8][32];
	size_t ready = 0;
	unsigned long taken, inl;
	int i, j;

	cc_test(&cc, "ABCDE");
	OK(captcha_pool_start(&cc, 8, &e));
	for (i = 0; i < 1000 && ready < 8; i++) {
		captcha_pool_stats(&ready, &taken, &inl);
		if (ready < 8)
			usleep(10000);
	}
	assert_int_equal(ready, 8);
	assert_int_equal(taken, 0);
	buf_init(&png, 1 << 20);
	for (i = 0; i < 8; i++) {
		OK(captcha_new(f->s, &cc, "regist", ids[i], &png, &e));
		assert_true(png.len > 100 && memcmp(png.data, "\x89PNG", 4) == 0);
		crypto_generichash(digest[i], 32, png.data, png.len, NULL, 0);
	}
	captcha_pool_stats(&ready, &taken, &inl);
	assert_int_equal(taken, 8);
	assert_int_equal(inl, 0);
	for (i = 0; i < 8; i++)
		for (j = 0; j < i; j++) {
			assert_string_not_equal(ids[i], ids[j]);
			assert_memory_not_equal(digest[i], digest[j], 32);
		}
	/* the answers were stored for the ids they were handed out with */
	for (i = 0; i < 8; i++)
		assert_int_equal(check(f->s, ids[i], "regist", "abcde"), CAPTCHA_OK);
	/* another font (or test answer): drawn in the request, not taken from the pool */
	other = cc;
	memcpy(other.test_answer, "FGHJK", 6);
	OK(captcha_new(f->s, &other, "regist", ids[0], &png, &e));
	captcha_pool_stats(&ready, &taken, &inl);
	assert_int_equal(taken, 8);
	assert_int_equal(inl, 1);
	assert_int_equal(check(f->s, ids[0], "regist", "FGHJK"), CAPTCHA_OK);
	/* stopped: no pool, still CAPTCHAs */
	captcha_pool_stop();
	OK(captcha_new(f->s, &cc, "regist", ids[0], &png, &e));
	assert_int_equal(check(f->s, ids[0], "regist", "ABCDE"), CAPTCHA_OK);
	captcha_pool_stats(&ready, &taken, &inl);
	assert_int_equal(ready, 0);
	buf_free(&png);
}

/* The store functions directly: duplicates and missing rows are clean errors, also inside a
 * transaction (no SQL error that would abort a PostgreSQL transaction). */
static void
test_captcha_store(void **state)
{
	struct fx *f = *state;
	unsigned char idh[STORE_HASH_LEN], ah[STORE_HASH_LEN];
	struct store_captcha c;
	struct err e;

	memset(idh, 1, sizeof(idh));
	memset(ah, 2, sizeof(ah));
	OK(store_begin(f->s, &e));
	OK(store_captcha_put(f->s, idh, ah, "regist", 1000, &e));
	err_clear(&e);
	assert_int_equal(store_captcha_put(f->s, idh, ah, "regist", 1000, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	OK(store_captcha_take(f->s, idh, &c, &e));
	assert_memory_equal(c.answer_hash, ah, STORE_HASH_LEN);
	assert_string_equal(c.purpose, "regist");
	assert_int_equal(c.expires, 1000);
	store_captcha_clear(&c);
	err_clear(&e);
	assert_int_equal(store_captcha_take(f->s, idh, &c, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	OK(store_captcha_put(f->s, idh, ah, "again", 1000, &e));
	OK(store_commit(f->s, &e));
	OK(store_captcha_take(f->s, idh, &c, &e));
	assert_string_equal(c.purpose, "again");
	store_captcha_clear(&c);
}

/* ---- form decoders (form.c) ---- */

static int
parse(const char *body, struct web_form *f)
{
	struct err e;
	int rc;

	err_clear(&e);
	rc = web_form_parse(body, strlen(body), f, &e);
	if (rc == -1)
		assert_true(err_is_set(&e));
	return rc;
}

static void
test_form_ok(void **state)
{
	struct web_form f;

	assert_int_equal(parse("applicant_type=self&email=taro%40example.jp&name=%E5%B1%B1%E7%94%B0"
			       "+%E5%A4%AA%E9%83%8E&&empty=&bare&multi=a%0D%0Ab",
			       &f),
			 0);
	assert_int_equal(f.n, 6);
	assert_string_equal(web_form_get(&f, "applicant_type"), "self");
	assert_string_equal(web_form_get(&f, "email"), "taro@example.jp");
	assert_string_equal(web_form_get(&f, "name"), "山田 太郎");
	assert_string_equal(web_form_get(&f, "empty"), "");
	assert_string_equal(web_form_get(&f, "bare"), "");
	assert_string_equal(web_form_get(&f, "multi"), "a\r\nb");
	assert_null(web_form_get(&f, "missing"));
	web_form_free(&f);

	assert_int_equal(parse("", &f), 0);
	assert_int_equal(f.n, 0);
	web_form_free(&f);
	assert_int_equal(parse("a%2Bb=%2b%3D%26", &f), 0);
	assert_string_equal(web_form_get(&f, "a+b"), "+=&");
	web_form_free(&f);
	assert_int_equal(parse("k=a=b", &f), 0); /* only the first '=' splits */
	assert_string_equal(web_form_get(&f, "k"), "a=b");
	web_form_free(&f);
}

static void
test_form_refused(void **state)
{
	static const char *const bad[] = {
	    "a=%",	"a=%4",	       "a=%zz",	   "a=%G0",	     "%=1",   "a=1&a=2",
	    "=1",	"a=%00",       "a=%01",	   "a%0A=1",	     "a=%7F", "a=%FF",
	    "a=%C0%AF", "a=%ED%A0%80", "a=%E6%97", "a=%F4%90%80%80",
	};
	struct web_form f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &f) != -1)
			fail_msg("accepted: %s", bad[i]);
		web_form_free(&f);
	}
}

static void
test_form_limits(void **state)
{
	struct web_form f;
	struct buf b;
	struct err e;
	char *s;

	/* a value of exactly the limit (escaped: 3 bytes each in the body) is accepted */
	buf_init(&b, 1 << 20);
	assert_true(buf_printf(&b, "v=") != -1);
	for (int i = 0; i < WEB_FORM_VALUE_MAX; i++)
		assert_true(buf_printf(&b, "x") != -1);
	assert_int_equal(web_form_parse(b.data, b.len, &f, &e), 0);
	assert_int_equal(strlen(web_form_get(&f, "v")), WEB_FORM_VALUE_MAX);
	web_form_free(&f);
	assert_true(buf_printf(&b, "x") != -1);
	assert_int_equal(web_form_parse(b.data, b.len, &f, &e), -1);
	web_form_free(&f);

	/* a long name */
	buf_reset(&b);
	for (int i = 0; i <= WEB_FORM_NAME_MAX; i++)
		assert_true(buf_printf(&b, "n") != -1);
	assert_true(buf_printf(&b, "=1") != -1);
	assert_int_equal(web_form_parse(b.data, b.len, &f, &e), -1);
	web_form_free(&f);

	/* too many fields */
	buf_reset(&b);
	for (int i = 0; i <= WEB_FORM_FIELDS_MAX; i++)
		assert_true(buf_printf(&b, "f%d=1&", i) != -1);
	assert_int_equal(web_form_parse(b.data, b.len, &f, &e), -1);
	web_form_free(&f);
	assert_int_equal(web_form_parse(b.data, b.len - 6 - 2, &f, &e), 0); /* drop f32=1& */
	assert_int_equal(f.n, WEB_FORM_FIELDS_MAX);
	web_form_free(&f);

	/* the body limit itself */
	s = xmalloc(WEB_FORM_BODY_MAX + 1);
	memset(s, '&', WEB_FORM_BODY_MAX + 1);
	assert_int_equal(web_form_parse(s, WEB_FORM_BODY_MAX, &f, &e), 0);
	web_form_free(&f);
	assert_int_equal(web_form_parse(s, WEB_FORM_BODY_MAX + 1, &f, &e), -1);
	web_form_free(&f);
	free(s);

	/* embedded NUL in the raw body */
	assert_int_equal(web_form_parse("a=b\0c", 5, &f, &e), -1);
	web_form_free(&f);
	buf_free(&b);
}

static void
test_form_big_field(void **state)
{
	struct web_form f;
	struct err e;
	struct buf b;
	char *v;

	(void)state;
	err_clear(&e);
	buf_init(&b, 64 * 1024);
	v = xmalloc(4001);
	memset(v, 'A', 4000);
	v[4000] = '\0';
	assert_int_equal(buf_printf(&b, "t=x&csr=%s", v), 0);
	/* over the ordinary value limit ... */
	assert_int_equal(web_form_parse(b.data, b.len, &f, &e), -1);
	web_form_free(&f);
	/* ... but within the limit of the named large field */
	err_clear(&e);
	assert_int_equal(web_form_parse_ex(b.data, b.len, 64 * 1024, "csr", 8192, &f, &e), 0);
	assert_int_equal(strlen(web_form_get(&f, "csr")), 4000);
	web_form_free(&f);
	/* only that field: another one of the same size is still refused */
	buf_reset(&b);
	assert_int_equal(buf_printf(&b, "csr=x&other=%s", v), 0);
	assert_int_equal(web_form_parse_ex(b.data, b.len, 64 * 1024, "csr", 8192, &f, &e), -1);
	web_form_free(&f);
	/* and its own limit */
	assert_int_equal(web_form_parse_ex(b.data, b.len, 64 * 1024, "other", 3999, &f, &e), -1);
	web_form_free(&f);
	/* the body limit given */
	assert_int_equal(web_form_parse_ex(b.data, b.len, 100, "other", 8192, &f, &e), -1);
	web_form_free(&f);
	free(v);
	buf_free(&b);
}

#define CT "multipart/form-data; boundary=----b0undary"

static void multipart_raw(void);

static int
mp(const char *body, const char *ctype, struct web_form *f)
{
	struct err e;
	int rc;

	err_clear(&e);
	rc = web_form_parse_multipart(body, strlen(body), ctype, 64 * 1024, "csr", 8192, f, &e);
	if (rc == -1)
		assert_true(err_is_set(&e));
	web_form_free(rc == -1 ? f : NULL);
	return rc;
}

static void
test_multipart(void **state)
{
	struct web_form f;
	static const char *const bad[] = {
	    "",									     /* empty */
	    "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx", /* unclosed */
	    "preamble\r\n------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n"
	    "------b0undary--\r\n", /* preamble */
	    "------b0undary\r\nContent-Type: text/plain\r\n\r\nx\r\n------b0undary--\r\n", /* no
											      name
											    */
	    "------b0undary\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n"
	    "------b0undary--\r\n",
	    "------b0undary\r\nContent-Disposition: form-data; "
	    "name=a\r\n\r\nx\r\n------b0undary--\r\n",
	    "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n"
	    "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ny\r\n"
	    "------b0undary--\r\n", /* repeated */
	    "------b0undary\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nx\r\n"
	    "------b0undary--\r\n", /* empty name */
	    "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff\r\n"
	    "------b0undary--\r\n", /* not UTF-8 */
	    "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\x01y\r\n"
	    "------b0undary--\r\n", /* control */
	    "------b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n"
	    "Content-Disposition: form-data; name=\"b\"\r\n\r\nx\r\n------b0undary--\r\n",
	    "------b0undaryX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n"
	    "------b0undary--\r\n", /* no CRLF after the boundary */
	};
	struct buf b;
	char *big;

	(void)state;
	assert_int_equal(
	    mp("------b0undary\r\n"
	       "Content-Disposition: form-data; name=\"t\"\r\n\r\n"
	       "abc\r\n"
	       "------b0undary\r\n"
	       "Content-Disposition: form-data; name=\"csr_file\"; filename=\"r.csr\"\r\n"
	       "Content-Type: application/octet-stream\r\n\r\n"
	       "-----BEGIN CERTIFICATE REQUEST-----\r\nAAAA\r\n\r\n"
	       "------b0undary\r\n"
	       "Content-Disposition: form-data; name=\"empty\"\r\n\r\n"
	       "\r\n"
	       "------b0undary--\r\nepilogue",
	       CT, &f),
	    0);
	assert_int_equal(f.n, 3);
	assert_string_equal(web_form_get(&f, "t"), "abc");
	assert_string_equal(web_form_get(&f, "csr_file"),
			    "-----BEGIN CERTIFICATE REQUEST-----\r\nAAAA\r\n");
	assert_string_equal(web_form_get(&f, "empty"), "");
	web_form_free(&f);
	/* a quoted boundary */
	assert_int_equal(
	    mp("--x y\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x y--",
	       "multipart/form-data; boundary=\"x y\"", &f),
	    0);
	assert_string_equal(web_form_get(&f, "a"), "1");
	web_form_free(&f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mp(bad[i], CT, &f) != -1)
			fail_msg("accepted bad[%zu]", i);
	/* bad Content-Types */
	assert_int_equal(mp("--a\r\n", "application/x-www-form-urlencoded", &f), -1);
	assert_int_equal(mp("--a\r\n", "multipart/form-data", &f), -1);
	assert_int_equal(mp("--a\r\n", "multipart/form-data; boundary=", &f), -1);
	assert_int_equal(mp("--a\r\n", "multipart/form-data; boundary=a<b", &f), -1);
	assert_int_equal(mp("--a\r\n", NULL, &f), -1);
	/* limits: a file may be big, an ordinary value may not */
	buf_init(&b, 64 * 1024);
	big = xmalloc(4001);
	memset(big, 'A', 4000);
	big[4000] = '\0';
	assert_int_equal(buf_printf(&b,
				    "------b0undary\r\nContent-Disposition: form-data; "
				    "name=\"f\"; filename=\"x\"\r\n\r\n%s\r\n------b0undary--",
				    big),
			 0);
	assert_int_equal(mp(buf_cstr(&b), CT, &f), 0);
	assert_int_equal(strlen(web_form_get(&f, "f")), 4000);
	web_form_free(&f);
	buf_reset(&b);
	assert_int_equal(buf_printf(&b,
				    "------b0undary\r\nContent-Disposition: form-data; "
				    "name=\"f\"\r\n\r\n%s\r\n------b0undary--",
				    big),
			 0);
	assert_int_equal(mp(buf_cstr(&b), CT, &f), -1);
	free(big);
	buf_free(&b);
	multipart_raw();
}

/* ---- sessions, CSRF and sealed forms (session.c, csrf.c, sealed.c) ---- */

/* A request context without a request: a site with a fixed secret and a given session id. */
static void
ctx_of(struct web_ctx *x, struct web_site *site, const char *sid)
{
	memset(site, 0, sizeof(*site));
	site->name = "test";
	memset(site->secret, 0x5a, sizeof(site->secret));
	memset(x, 0, sizeof(*x));
	x->site = site;
	x->lang = "en";
	if (sid != NULL)
		snprintf(x->sid, sizeof(x->sid), "%s", sid);
	else
		web_session_new_id(x->sid);
}

/* WEB_FORM_RAW: the one raw field keeps any bytes (NUL, CP932, controls) with its length. */
static void
multipart_raw(void)
{
	static const char body[] =
	    "------b0undary\r\n"
	    "Content-Disposition: form-data; name=\"op\"\r\n\r\n"
	    "issue\r\n"
	    "------b0undary\r\n"
	    "Content-Disposition: form-data; name=\"file\"; filename=\"a.tsv\"\r\n"
	    "\r\n"
	    "\x93\x8c\x8b\x9e\t\x00\x01x\r\n\r\n"
	    "------b0undary--\r\n";
	static const unsigned char want[] = "\x93\x8c\x8b\x9e\t\x00\x01x\r\n";
	struct web_form f;
	const unsigned char *p;
	size_t n = 0;
	struct err e;

	err_clear(&e);
	assert_int_equal(web_form_parse_multipart_ex(body, sizeof(body) - 1, CT, 64 * 1024, "file",
						     1024, 1, &f, &e),
			 0);
	assert_string_equal(web_form_get(&f, "op"), "issue");
	p = web_form_get_raw(&f, "file", &n);
	assert_non_null(p);
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(p, want, n);
	assert_null(web_form_get_raw(&f, "none", &n));
	web_form_free(&f);
	/* without raw the same file is refused (not UTF-8, controls) */
	assert_int_equal(web_form_parse_multipart_ex(body, sizeof(body) - 1, CT, 64 * 1024, "file",
						     1024, 0, &f, &e),
			 -1);
	web_form_free(&f);
	/* the raw field keeps its limit */
	assert_int_equal(web_form_parse_multipart_ex(body, sizeof(body) - 1, CT, 64 * 1024, "file",
						     4, 1, &f, &e),
			 -1);
	web_form_free(&f);
}

static void
test_web_csrf(void **state)
{
	struct web_site site, other;
	struct web_ctx x, y;
	char tok[WEB_B64_LEN], tok2[WEB_B64_LEN];
	unsigned char raw[WEB_TOKEN_LEN];

	(void)state;
	ctx_of(&x, &site, NULL);
	assert_int_equal(strlen(x.sid), WEB_B64_LEN - 1);
	assert_int_equal(b64url_decode_exact(raw, sizeof(raw), x.sid), 0);
	web_csrf(&x, tok);
	assert_int_equal(strlen(tok), WEB_B64_LEN - 1);
	assert_true(web_csrf_ok(&x, tok));
	web_csrf(&x, tok2);
	assert_string_equal(tok, tok2); /* one token per session */
	/* refused: none, truncated, one character changed, another session, another secret */
	assert_false(web_csrf_ok(&x, NULL));
	assert_false(web_csrf_ok(&x, ""));
	tok2[WEB_B64_LEN - 2] = '\0';
	assert_false(web_csrf_ok(&x, tok2));
	memcpy(tok2, tok, sizeof(tok));
	tok2[3] = tok2[3] == 'A' ? 'B' : 'A';
	assert_false(web_csrf_ok(&x, tok2));
	ctx_of(&y, &site, NULL);
	assert_false(web_csrf_ok(&y, tok));
	ctx_of(&y, &other, x.sid);
	other.secret[0] ^= 1;
	assert_false(web_csrf_ok(&y, tok));
	/* a session that did not come with the request has no valid token yet */
	x.sid_new = 1;
	assert_false(web_csrf_ok(&x, tok));
	/* base64url: exactly the bytes asked for */
	assert_int_equal(b64url_decode_exact(raw, sizeof(raw), "AAAA"), -1);
	assert_int_equal(b64url_decode_exact(raw, sizeof(raw), NULL), -1);
	memcpy(tok2, x.sid, sizeof(tok2));
	tok2[5] = '+';
	assert_int_equal(b64url_decode_exact(raw, sizeof(raw), tok2), -1);
}

static void
test_web_session_rotate(void **state)
{
	struct web_site site;
	struct web_ctx x;
	char old[WEB_B64_LEN], next[WEB_B64_LEN], tok[WEB_B64_LEN], *c;
	const char *vals[] = {"v"};
	struct web_seal s;

	(void)state;
	ctx_of(&x, &site, NULL);
	memcpy(old, x.sid, sizeof(old));
	web_csrf(&x, tok);
	web_seal_make(&x, "login", 600, 1, vals, 1, &s);
	/* the cookie: __Host- prefix, Secure, Path=/, no Domain, HttpOnly, SameSite=Strict */
	c = web_session_cookie(&x);
	assert_true(strncmp(c, "__Host-sid=", 11) == 0);
	assert_true(strncmp(c + 11, old, WEB_B64_LEN - 1) == 0 && c[11 + WEB_B64_LEN - 1] == ';');
	assert_non_null(strstr(c, "; Secure"));
	assert_non_null(strstr(c, "; Path=/"));
	assert_non_null(strstr(c, "; HttpOnly"));
	assert_non_null(strstr(c, "; SameSite=Strict"));
	for (char *p = c; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	assert_null(strstr(c, "domain"));
	free(c);
	/* rotation: a new id, which the reply sets; what the old id carried does not follow it */
	web_session_rotate(&x, NULL);
	assert_true(x.sid_new);
	assert_int_equal(strlen(x.sid), WEB_B64_LEN - 1);
	assert_string_not_equal(x.sid, old);
	c = web_session_cookie(&x);
	assert_non_null(strstr(c, x.sid));
	assert_null(strstr(c, old));
	free(c);
	x.sid_new = 0; /* the next request, with the new cookie */
	assert_false(web_csrf_ok(&x, tok));
	assert_int_equal(web_seal_open(&x, "login", s.nonce, s.expires, s.mac, vals, 1, NULL),
			 WEB_SEAL_BAD_MAC);
	/* rotating to an id made beforehand (bound to the RA's record before the switch) */
	web_session_new_id(next);
	assert_string_not_equal(next, x.sid);
	web_session_rotate(&x, next);
	assert_string_equal(x.sid, next);
	assert_true(x.sid_new);
	/* a one-time link's use rotates to an id of the button's CSRF token and the link: the
	 * same again for the same pair (the page's form sent again is recognised), else another */
	{
		char a[WEB_B64_LEN], b[WEB_B64_LEN], c2[WEB_B64_LEN];

		web_session_link_id(&x, tok, "link-1", a);
		web_session_link_id(&x, tok, "link-1", b);
		assert_string_equal(a, b);
		assert_int_equal(strlen(a), WEB_B64_LEN - 1);
		assert_string_not_equal(a, tok);
		web_session_link_id(&x, tok, "link-2", c2);
		assert_string_not_equal(a, c2);
		web_session_link_id(&x, old, "link-1", c2); /* the sid is no CSRF token */
		assert_string_not_equal(a, c2);
		memcpy(b, tok, sizeof(b));
		b[0] = b[0] == 'A' ? 'B' : 'A';
		web_session_link_id(&x, b, "link-1", c2);
		assert_string_not_equal(a, c2);
		site.secret[0] ^= 1; /* only this site's secret makes it */
		web_session_link_id(&x, tok, "link-1", c2);
		assert_string_not_equal(a, c2);
		site.secret[0] ^= 1;
		/* only the route that rotated: another flow's button with the same pair differs */
		{
			struct http_req r1, r2;
			char d1[WEB_B64_LEN], d2[WEB_B64_LEN];

			memset(&r1, 0, sizeof(r1));
			memset(&r2, 0, sizeof(r2));
			r1.url = "/regist/verify";
			r2.url = "/revoke/verify";
			x.r = &r1;
			web_session_link_id(&x, tok, "link-1", d1);
			x.r = &r2;
			web_session_link_id(&x, tok, "link-1", d2);
			assert_string_not_equal(d1, d2);
			x.r = NULL;
		}
	}
	/* and the old session, presented again, has none of it */
	ctx_of(&x, &site, old);
	assert_true(web_csrf_ok(&x, tok)); /* an anonymous session still: its own token only */
	web_seal_make(&x, "login", 600, 1, vals, 1, &s);
	memcpy(x.sid, next, sizeof(next));
	assert_int_equal(web_seal_open(&x, "login", s.nonce, s.expires, s.mac, vals, 1, NULL),
			 WEB_SEAL_BAD_MAC);
}

static void
test_web_sealed(void **state)
{
	struct web_site site, other;
	struct web_ctx x, y;
	const char *vals[] = {"self", "ORG1", "T-1", "taro@example.jp"};
	const char *changed[] = {"self", "ORG1", "T-1", "jiro@example.jp"};
	struct web_seal s, o, r;
	char mac[WEB_SEAL_MAC_LEN], exp[32];

	(void)state;
	ctx_of(&x, &site, NULL);
	web_seal_make(&x, "regist-form", 3600, 1, vals, 4, &s);
	assert_int_equal(strlen(s.nonce), WEB_B64_LEN - 1);
	assert_true(strncmp(s.mac, "regist-form.", 12) == 0);
	assert_int_equal(strlen(s.mac), 12 + WEB_B64_LEN - 1);
	assert_int_equal(web_seal_open(&x, "regist-form", s.nonce, s.expires, s.mac, vals, 4, &o),
			 WEB_SEAL_OK);
	assert_memory_equal(o.nonce_raw, s.nonce_raw, WEB_TOKEN_LEN);
	assert_string_equal(o.nonce, s.nonce);
	/* two seals of the same values differ by their nonce */
	web_seal_make(&x, "regist-form", 3600, 1, vals, 4, &r);
	assert_string_not_equal(r.nonce, s.nonce);
	assert_string_not_equal(r.mac, s.mac);
	/* sealed again (a page shown again): same nonce and expiry, still opens */
	web_seal_remake(&x, "regist-form", &o, vals, 4, &r);
	assert_string_equal(r.nonce, s.nonce);
	assert_string_equal(r.expires, s.expires);
	assert_string_equal(r.mac, s.mac);

	/* malformed: a field missing, not of its form, a purpose that is no label */
	assert_int_equal(web_seal_open(&x, "regist-form", s.nonce, NULL, s.mac, vals, 4, NULL),
			 WEB_SEAL_MALFORMED);
	assert_int_equal(web_seal_open(&x, "regist-form", s.nonce, s.expires, NULL, vals, 4, NULL),
			 WEB_SEAL_MALFORMED);
	assert_int_equal(web_seal_open(&x, "regist-form", "AAAA", s.expires, s.mac, vals, 4, NULL),
			 WEB_SEAL_MALFORMED);
	assert_int_equal(web_seal_open(&x, "regist-form", s.nonce, "-5", s.mac, vals, 4, NULL),
			 WEB_SEAL_MALFORMED);
	assert_int_equal(web_seal_open(&x, "regist-form", s.nonce, "12x", s.mac, vals, 4, NULL),
			 WEB_SEAL_MALFORMED);
	assert_int_equal(web_seal_open(&x, "regist-form", s.nonce, s.expires,
				       s.mac + strlen("regist-form."), vals, 4, NULL),
			 WEB_SEAL_MALFORMED);
	snprintf(mac, sizeof(mac), "Regist.%s", s.mac + strlen("regist-form."));
	assert_int_equal(web_seal_open(&x, "regist-form", s.nonce, s.expires, mac, vals, 4, NULL),
			 WEB_SEAL_MALFORMED);
	snprintf(mac, sizeof(mac), "%.*s", (int)strlen(s.mac) - 1, s.mac);
	assert_int_equal(web_seal_open(&x, "regist-form", s.nonce, s.expires, mac, vals, 4, NULL),
			 WEB_SEAL_MALFORMED);

	/* bad MAC: a value changed, the nonce or expiry changed, another session or secret, a
	 * forged purpose label, a seal with its nonce left out */
	assert_int_equal(
	    web_seal_open(&x, "regist-form", s.nonce, s.expires, s.mac, changed, 4, NULL),
	    WEB_SEAL_BAD_MAC);
	assert_int_equal(web_seal_open(&x, "regist-form", s.nonce, s.expires, s.mac, vals, 3, NULL),
			 WEB_SEAL_BAD_MAC);
	web_seal_make(&x, "regist-form", 3600, 1, vals, 4, &r);
	assert_int_equal(web_seal_open(&x, "regist-form", r.nonce, s.expires, s.mac, vals, 4, NULL),
			 WEB_SEAL_BAD_MAC);
	snprintf(exp, sizeof(exp), "%lld", atoll(s.expires) + 3600);
	assert_int_equal(web_seal_open(&x, "regist-form", s.nonce, exp, s.mac, vals, 4, NULL),
			 WEB_SEAL_BAD_MAC);
	assert_int_equal(web_seal_open(&x, "regist-form", NULL, s.expires, s.mac, vals, 4, NULL),
			 WEB_SEAL_BAD_MAC);
	ctx_of(&y, &site, NULL);
	assert_int_equal(web_seal_open(&y, "regist-form", s.nonce, s.expires, s.mac, vals, 4, NULL),
			 WEB_SEAL_BAD_MAC);
	ctx_of(&y, &other, x.sid);
	other.secret[31] ^= 0x80;
	assert_int_equal(web_seal_open(&y, "regist-form", s.nonce, s.expires, s.mac, vals, 4, NULL),
			 WEB_SEAL_BAD_MAC);
	snprintf(mac, sizeof(mac), "issue-form.%s", s.mac + strlen("regist-form."));
	assert_int_equal(web_seal_open(&x, "issue-form", s.nonce, s.expires, mac, vals, 4, NULL),
			 WEB_SEAL_BAD_MAC);

	/* wrong purpose: a genuine seal of another form, with the same values */
	web_seal_make(&x, "issue-form", 3600, 1, vals, 4, &r);
	assert_int_equal(web_seal_open(&x, "regist-form", r.nonce, r.expires, r.mac, vals, 4, NULL),
			 WEB_SEAL_WRONG_PURPOSE);
	assert_int_equal(web_seal_open(&x, "issue-form", r.nonce, r.expires, r.mac, vals, 4, NULL),
			 WEB_SEAL_OK);

	/* expired: genuine, but its time has passed (the test clock moves on) */
	util_clock_set_offset(3599);
	assert_int_equal(web_seal_open(&x, "regist-form", s.nonce, s.expires, s.mac, vals, 4, NULL),
			 WEB_SEAL_OK);
	util_clock_set_offset(3601);
	assert_int_equal(web_seal_open(&x, "regist-form", s.nonce, s.expires, s.mac, vals, 4, NULL),
			 WEB_SEAL_EXPIRED);
	/* the checks in order: a changed value of an expired seal is a bad MAC */
	assert_int_equal(
	    web_seal_open(&x, "regist-form", s.nonce, s.expires, s.mac, changed, 4, NULL),
	    WEB_SEAL_BAD_MAC);
	util_clock_set_offset(0);

	/* a seal without a nonce (a login's proof between pages) */
	web_seal_make(&x, "reissue-auth", 60, 0, vals, 1, &r);
	assert_string_equal(r.nonce, "");
	assert_int_equal(web_seal_open(&x, "reissue-auth", NULL, r.expires, r.mac, vals, 1, NULL),
			 WEB_SEAL_OK);
	assert_int_equal(
	    web_seal_open(&x, "reissue-auth", s.nonce, r.expires, r.mac, vals, 1, NULL),
	    WEB_SEAL_BAD_MAC);
	for (int i = 0; i < WEB_SEAL__MAX; i++)
		assert_non_null(web_seal_result_names[i]);
	assert_string_equal(web_seal_result_names[WEB_SEAL_WRONG_PURPOSE], "wrong purpose");
}

int
main(void)
{
	const struct CMUnitTest plain[] = {
	    cmocka_unit_test(test_tmpl_escape),
	    cmocka_unit_test(test_tmpl_sections),
	    cmocka_unit_test(test_tmpl_strict),
	    cmocka_unit_test(test_tmpl_parse_errors),
	    cmocka_unit_test(test_tmpl_limit),
	    cmocka_unit_test(test_po_parse),
	    cmocka_unit_test(test_catalogs_valid),
	    cmocka_unit_test(test_catalogs_complete),
	    cmocka_unit_test(test_i18n_pick),
	    cmocka_unit_test(test_notice_pages),
	    cmocka_unit_test(test_captcha_draw),
	    cmocka_unit_test(test_captcha_test_mode),
	    cmocka_unit_test(test_static_files),
	    cmocka_unit_test(test_site_pages),
	    cmocka_unit_test(test_form_ok),
	    cmocka_unit_test(test_form_refused),
	    cmocka_unit_test(test_form_limits),
	    cmocka_unit_test(test_form_big_field),
	    cmocka_unit_test(test_multipart),
	    cmocka_unit_test(test_web_csrf),
	    cmocka_unit_test(test_web_session_rotate),
	    cmocka_unit_test(test_web_sealed),
	};
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test_setup_teardown(test_captcha_verify, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_captcha_store, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_captcha_pool, fx_setup, fx_teardown),
	};
	int fails = 0;

	fails += cmocka_run_group_tests_name("web", plain, NULL, NULL);
	fails += cmocka_run_group_tests_name("captcha on sqlite", stored, grp_sqlite, NULL);
	fails += cmocka_run_group_tests_name("captcha on postgresql", stored, grp_pg, NULL);
	i18n_unload();
	return fails != 0;
}
