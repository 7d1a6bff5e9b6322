/*
 * web: the building blocks of the HTML portal — a template renderer that always escapes,
 * Japanese/English message catalogs (gettext .po files read by shomei itself) and the
 * CAPTCHA (PNG drawn with libgd, answers kept hashed in the store, single use).
 *
 * Thread safety: tmpl_set_load() and i18n_load() run once at start-up, before the HTTP
 * thread pool; afterwards the loaded templates and catalogs are read-only and may be used
 * from every thread.  struct tmpl_data belongs to one request.
 */
#ifndef SHOMEI_WEB_H
#define SHOMEI_WEB_H

#include <stddef.h>
#include <time.h>

#include "util/util.h"

struct store;

/* ---- i18n ---- */

/*
 * Marks a string literal as a msgid for the catalogs without translating it (the catalog
 * completeness test scans the C files of src/web for N_("...")).  Msgids are the English text.
 */
#define N_(s) s

/* Languages, in order; the first is the default. */
#define I18N_DEFAULT "ja"

/* A parsed .po file: msgid -> msgstr (fuzzy and untranslated entries left out). */
struct i18n_cat;

/*
 * Parses .po text (msgid/msgstr, "..." continuation lines, escapes \n \t \r \" \\,
 * comments).  Strict: anything else — plurals, msgctxt, bad escapes, invalid UTF-8, duplicate
 * msgids, a header without charset=UTF-8 — is refused with a message naming the line.
 * name is used in messages.  The caller frees *out with i18n_cat_free().
 */
int i18n_po_parse(const char *name, const char *text, size_t len, struct i18n_cat **out,
		  struct err *);
void i18n_cat_free(struct i18n_cat *);
/* The translation of msgid, or NULL when the catalog has none. */
const char *i18n_cat_get(const struct i18n_cat *, const char *msgid);
size_t i18n_cat_count(const struct i18n_cat *);

/* Loads DIR/ja.po and DIR/en.po into the process-wide table (replacing an earlier load). */
int i18n_load(const char *dir, struct err *);
void i18n_unload(void);
/* The translation, or NULL when missing (or lang unknown / nothing loaded). */
const char *i18n_lookup(const char *lang, const char *msgid);
/* The translation, falling back to msgid itself (production: never an empty string). */
const char *i18n_get(const char *lang, const char *msgid);
/*
 * "ja" or "en": the cookie when it names a supported language, else the supported language
 * with the highest q-value in Accept-Language (RFC 9110 12.5.4; "en-US" counts as "en", "*"
 * as the default; ties go to the earlier entry; q=0 excludes), else "ja".  Both may be NULL.
 * Returns a static string.
 */
const char *i18n_pick(const char *accept_language, const char *cookie);

/* ---- templates ---- */

/*
 * Syntax (templates are ours; user data only ever arrives as values):
 *   {{name}}             the value, HTML-escaped (& < > " ')
 *   {{#list}}..{{/list}} repeats for each record of a list; names resolve in the record first,
 *                        then outwards
 *   {{?flag}}..{{/flag}} shown when flag is true (a true bool, non-empty string or list)
 *   {{^flag}}..{{/flag}} shown when it is not
 *   {{>partial}}         another template; {{>content}} is the page given to tmpl_render()
 *   {{_ msgid}}          the translation of msgid in the page language, escaped
 *   {{&name}}            a trusted HTML fragment: only a value set by tmpl_data_html()
 * Values are never parsed again, so "{{" inside a value is just text.
 */
struct tmpl_set;
struct tmpl_data;

/*
 * A fragment of trusted HTML.  Only TMPL_HTML("...") makes one, and only from a string literal
 * (the macro concatenates it with "" so anything else does not compile): user input cannot
 * reach the unescaped path.
 */
struct tmpl_html {
	const char *html;
};
#define TMPL_HTML(literal) ((const struct tmpl_html){"" literal ""})

/* Loads every file DIR/NAME.html as the template named after the file (without .html). */
int tmpl_set_load(struct tmpl_set **, const char *dir, struct err *);
/* An empty set; tmpl_set_add() parses one template into it (tests, fuzzing). */
struct tmpl_set *tmpl_set_new(void);
int tmpl_set_add(struct tmpl_set *, const char *name, const char *text, size_t len, struct err *);
void tmpl_set_free(struct tmpl_set *);
/*
 * Strict (tests): an unknown variable, msgid without translation, missing partial or a
 * {{&name}} that is not trusted HTML is a render error.  Lenient (production, the default):
 * they render as empty (an untranslated msgid as itself).
 */
void tmpl_set_strict(struct tmpl_set *, int strict);

struct tmpl_data *tmpl_data_new(void);
void tmpl_data_free(struct tmpl_data *); /* accepts NULL */
/* Values are copied.  Setting a name again replaces it. */
void tmpl_data_str(struct tmpl_data *, const char *name, const char *value);
void tmpl_data_bool(struct tmpl_data *, const char *name, int value);
void tmpl_data_html(struct tmpl_data *, const char *name, struct tmpl_html);
/* Appends a new, empty record to the list name and returns it (owned by the data). */
struct tmpl_data *tmpl_data_add(struct tmpl_data *, const char *name);

/*
 * Renders template name (e.g. "layout") with page as {{>content}} (may be NULL) and lang for
 * {{_ }} into out (whose max bounds the page).  ERR_INTERNAL on a render error or when out is
 * full; out then holds a partial page that must not be sent.
 */
int tmpl_render(const struct tmpl_set *, const char *name, const char *page,
		const struct tmpl_data *, const char *lang, struct buf *out, struct err *);

/* ---- shared page parts (page.c) ---- */

/*
 * Base values of templates/layout.html: lang, lang_ja, title (msgid, translated) and css_v
 * (the stylesheet's version for its URL, "" when not loaded).
 */
struct tmpl_data *web_data_new(const char *lang, const char *title_msgid);
/* Adds the list "steps" of the applicant's flow bar with step current (0-based) marked. */
void web_flow_add(struct tmpl_data *, const char *lang, int current);
/*
 * The same into the list named list, for a self (agent 0) or an agent's application (agent
 * 1: "Holder approval" / 本人承認 is step 7, "Issued" step 8).  Filling "steps" also sets
 * "steps_agent" (the optional second bar of templates/flowbar.html) to false: add
 * "steps_agent" after "steps".
 */
void web_flow_add_list(struct tmpl_data *, const char *list, const char *lang, int current,
		       int agent);

enum web_notice {
	WEB_NOTICE_BUSY,  /* 503: overloaded */
	WEB_NOTICE_ERROR, /* 500: never shows internals; reference (may be NULL) is for support */
};

/* The busy or error page, in lang, through layout. */
int web_render_notice(const struct tmpl_set *, enum web_notice, const char *lang,
		      const char *reference, struct buf *out, struct err *);

/* ---- static files (static.c) ---- */

#define WEB_STATIC_MAX (256 * 1024) /* bytes of one static file */
#define WEB_STATIC_VERSION_LEN 16   /* hex digits of the version in URLs (?v=) */

/* A static file of the fixed list (static.c), loaded once at start-up; read-only after. */
struct web_static_file {
	const char *name;  /* "shomei.css" */
	const char *ctype; /* Content-Type */
	unsigned char *data;
	size_t len;
	char version[WEB_STATIC_VERSION_LEN + 1]; /* hex of the content hash, for ?v= */
	char etag[35];				  /* "<32 hex digits>", quoted */
};

/*
 * Reads every file of the fixed list from dir (each at most WEB_STATIC_MAX bytes); a missing
 * file is an error.  Once, at start-up, before the HTTP threads.
 */
int web_static_load(const char *dir, struct err *);
void web_static_unload(void);
/* The loaded file whose name is exactly name (no paths: the list is fixed), or NULL. */
const struct web_static_file *web_static_find(const char *name);
/* The version of a loaded file ("" when not loaded); layout links carry it as ?v=. */
const char *web_static_version(const char *name);

/* ---- CAPTCHA ---- */

#define CAPTCHA_ID_LEN 32			/* random bytes */
#define CAPTCHA_ID_HEX (2 * CAPTCHA_ID_LEN + 1) /* as text in forms, with NUL */
#define CAPTCHA_WIDTH 200
#define CAPTCHA_HEIGHT 70
#define CAPTCHA_ANSWER_MAX 16
#define CAPTCHA_TTL_DEFAULT 600
#define CAPTCHA_POOL_DEFAULT 256 /* pre-drawn images (~12 KB each) */

struct captcha_conf {
	long ttl;				  /* seconds (portal.captcha_ttl) */
	char font[256];				  /* TrueType font (portal.captcha_font) */
	char test_answer[CAPTCHA_ANSWER_MAX + 1]; /* "" unless test mode is allowed */
	long pool;				  /* pre-drawn images (portal.captcha_pool) */
};

/*
 * Decides whether test.captcha_answer may be honoured: 0 when it is not set (normal),
 * 1 when it is set and allowed — test.instance = yes and every listener address is a
 * loopback address (127.0.0.0/8, ::1; names and wildcards are not) — and -1 with the error
 * set when it is set but not allowed, or malformed.  serve must refuse to start on -1.
 */
int captcha_test_mode_allowed(const struct conf *, const char *const *listen_addrs, size_t n,
			      struct err *);
/*
 * Reads portal.captcha_ttl and portal.captcha_font; copies test.captcha_answer only when
 * test_allowed is 1 (the result of captcha_test_mode_allowed()).
 */
int captcha_conf_load(struct captcha_conf *, const struct conf *, int test_allowed, struct err *);
/* The configuration keys of the two above (NULL-terminated; see conf_check_keys). */
extern const char *const captcha_conf_keys[];

/*
 * A new CAPTCHA for purpose (the form it guards, e.g. "regist"): draws the PNG into png,
 * stores the hashed id and answer, and gives the id as hex for the form's hidden field.
 */
int captcha_new(struct store *, const struct captcha_conf *, const char *purpose,
		char id_hex[CAPTCHA_ID_HEX], struct buf *png, struct err *);
/*
 * A pool of up to cap pre-drawn images for captcha_new() with the same font and test answer,
 * kept full by one low-priority thread (in the process that serves the pages: start it after
 * any fork).  Each image is handed out once; with the pool empty captcha_new() draws itself.
 * cap 0: no pool.  Stop before exit (wipes what is left).
 */
int captcha_pool_start(const struct captcha_conf *, size_t cap, struct err *);
void captcha_pool_stop(void);
/* Since the start of the pool: images ready now, handed out, and drawn in a request instead. */
void captcha_pool_stats(size_t *ready, unsigned long *taken, unsigned long *drawn_inline);

enum captcha_result {
	CAPTCHA_OK = 0,
	CAPTCHA_WRONG, /* wrong answer, unknown id, used already, or other purpose */
	CAPTCHA_EXPIRED,
};

/*
 * Checks an answer (case-insensitive, blanks around it ignored).  Always consumes the
 * CAPTCHA.  Returns 0 with *result set (CAPTCHA_OK or why not), -1 only for store errors.
 */
int captcha_verify(struct store *, const char *id_hex, const char *purpose, const char *answer,
		   enum captcha_result *result, struct err *);
/* The msgid of the field error for a result (NULL for CAPTCHA_OK). */
const char *captcha_result_msgid(enum captcha_result);
/* Drawing alone (tests): answer as PNG into png. */
int captcha_draw(const struct captcha_conf *, const char *answer, struct buf *png, struct err *);

#endif
