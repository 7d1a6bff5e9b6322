/*
 * web: the building blocks of every HTML face (the portal now, the RA console next) — a
 * template renderer that always escapes, Japanese/English message catalogs (gettext .po files
 * read by shomei itself), the CAPTCHA (PNG drawn with libgd, answers kept hashed in the store,
 * single use), and the request plumbing: the request context (ctx.c), the session cookie
 * (session.c), CSRF tokens (csrf.c), sealed multi-step form state (sealed.c) and the form
 * decoders (form.c).  A face describes itself once in a struct web_site (its templates, its
 * secret) and hands it to web_ctx_init() in each handler.
 *
 * Thread safety: tmpl_set_load() and i18n_load() run once at start-up, before the HTTP
 * thread pool; afterwards the loaded templates and catalogs are read-only and may be used
 * from every thread.  struct tmpl_data belongs to one request.
 */
#ifndef SHOMEI_WEB_H
#define SHOMEI_WEB_H

#include <stddef.h>
#include <time.h>

#include "util/b64.h"
#include "util/util.h"

struct store;
struct http_req;
struct ca;

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

/*
 * A face's directory (templates, catalogs, static files): conf's key when set, else ../name
 * beside the binary when that exists, else name in the working directory.  Caller frees.
 */
char *web_dir(const struct conf *, const char *key, const char *name);

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
/*
 * GET /static/NAME (every HTML face routes it): a file of the fixed list, with its ETag (304
 * on If-None-Match); with ?v= equal to its version cached for a year, else briefly.
 */
int web_static_get(struct http_req *);

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

/* ---- application/x-www-form-urlencoded and multipart/form-data (form.c) ---- */
#define WEB_FORM_BODY_MAX (16 * 1024) /* bytes of a form body */
#define WEB_FORM_FIELDS_MAX 32
#define WEB_FORM_NAME_MAX 64	/* bytes of a decoded name */
#define WEB_FORM_VALUE_MAX 1024 /* bytes of a decoded value */

struct web_field {
	char *name;
	char *value; /* NUL-terminated; a raw file (WEB_FORM_RAW) may hold NULs: len */
	size_t len;  /* bytes of value (set for raw files; 0 otherwise) */
};

struct web_form {
	struct web_field v[WEB_FORM_FIELDS_MAX];
	size_t n;
};

/*
 * Decodes an urlencoded body ('+' is a space, %XX a byte).  Refused (ERR_REFUSED, a message
 * naming the rule): a body over the limit, more fields than the limit, a name or value over its
 * limit, a bad escape, a NUL or other control byte (tab, CR and LF allowed in values), invalid
 * UTF-8, an empty or repeated name.  Empty pairs ("a=1&&b=2") are skipped.  The caller frees
 * the form with web_form_free() (also after a failure).
 */
int web_form_parse(const void *body, size_t len, struct web_form *, struct err *);
/* The same with a body limit, and a larger value limit for the one field big_name (or NULL). */
int web_form_parse_ex(const void *body, size_t len, size_t body_max, const char *big_name,
		      size_t big_max, struct web_form *, struct err *);
/*
 * multipart/form-data (RFC 7578) of Content-Type ctype: the boundary (RFC 2046, 1-70 bchars)
 * must open the body (no preamble); each part needs Content-Disposition: form-data with a
 * quoted name (filename optional; other part headers ignored; a header block at most 1 KiB).
 * Names and values obey the urlencoded rules above; a file part (one with a filename) and the
 * field big_name may hold big_max bytes.  Files must be text (UTF-8, no NUL): a PEM CSR.
 */
int web_form_parse_multipart(const void *body, size_t len, const char *ctype, size_t body_max,
			     const char *big_name, size_t big_max, struct web_form *, struct err *);
/*
 * The same; with raw set, the field big_name is taken as it came, any bytes (an uploaded
 * file whose encoding its reader decides: the console's bulk TSV), read with
 * web_form_get_raw().
 */
int web_form_parse_multipart_ex(const void *body, size_t len, const char *ctype, size_t body_max,
				const char *big_name, size_t big_max, int raw, struct web_form *,
				struct err *);
void web_form_free(struct web_form *);
/* The value of name, or NULL when absent. */
const char *web_form_get(const struct web_form *, const char *name);
/* The bytes of name and their count (a raw file may hold NULs), or NULL when absent. */
const unsigned char *web_form_get_raw(const struct web_form *, const char *name, size_t *len);

/* ---- a face and one request of it (ctx.c) ---- */

#define WEB_SECRET_LEN 32
#define WEB_TOKEN_LEN 32 /* random bytes of a session id and of a form nonce */
#define WEB_B64_LEN 44	 /* 32 bytes as base64url without padding, with NUL */

/*
 * An HTML face (the portal, the console): filled once at start-up, read-only afterwards.
 * secret keys the CSRF tokens and the sealed forms of this face only.
 */
struct web_site {
	const char *name;   /* in logs: "portal" */
	const char *layout; /* the template every page goes through (NULL: "layout") */
	/*
	 * The session cookie's name (NULL: WEB_SESSION_COOKIE).  Cookies do not keep ports
	 * apart: faces on one host need names of their own.
	 */
	const char *cookie;
	struct tmpl_set *tmpl;
	unsigned char secret[WEB_SECRET_LEN];
};

/* One request of a face: what every handler gets. */
struct web_ctx {
	struct http_req *r;
	struct ca *ca; /* the request's application handle (r->app), opaque here */
	const struct web_site *site;
	const char *lang;      /* "ja" | "en" (static) */
	int lang_set;	       /* ?lang= given: set the cookie */
	char sid[WEB_B64_LEN]; /* the session id (session.c) */
	int sid_new;	       /* set the cookie: none came, or the id was rotated */
};

/* The language (?lang=, its cookie, Accept-Language) and the session of request r. */
void web_ctx_init(struct web_ctx *, const struct web_site *, struct http_req *);
/* Base values of a page; flow_step -1 hides the flow bar.  Caller frees. */
struct tmpl_data *web_data(const struct web_ctx *, const char *title_msgid, int flow_step);
/* The same with the flow bar of a self (agent 0) or an agent's application (agent 1). */
struct tmpl_data *web_data_flow(const struct web_ctx *, const char *title_msgid, int flow_step,
				int agent);
/*
 * Renders page through layout and replies with the session and language cookies when due and
 * the security headers (CSP, nosniff, no referrer).  A render error becomes the error page.
 */
int web_page(struct web_ctx *, int status, const char *page, const struct tmpl_data *);
#define WEB_PAGE_MAX (1024 * 1024) /* bytes of a page web_page() renders */
/* The same with a larger limit of max bytes (the console's bulk result pages). */
int web_page_max(struct web_ctx *, int status, const char *page, const struct tmpl_data *,
		 size_t max);
/* A page with a title and one message (both msgids). */
int web_notice(struct web_ctx *, int status, const char *title_msgid, const char *msg_msgid);
/* Logs e with a reference number and shows the error page (500). */
int web_error(struct web_ctx *, const struct err *);
/* A 303 to location (a path of this site), with the session cookie when due. */
int web_redirect(struct web_ctx *, const char *location);
/* How much a form may hold (web_form_read()). */
struct web_form_limits {
	size_t body_max;      /* bytes of the body */
	const char *big_name; /* one field that may hold big_max bytes, or NULL */
	size_t big_max;
	int multipart; /* multipart/form-data is accepted too (a file field); WEB_FORM_RAW: and
			* the field big_name is kept as raw bytes (web_form_get_raw) */
};
#define WEB_FORM_RAW 2

/*
 * Parses the request's body (urlencoded, and multipart/form-data when lim says so) within lim
 * (NULL: WEB_FORM_BODY_MAX, no big field, urlencoded only) and checks its CSRF token; on
 * failure replies itself (400 or 403 page), sets *rc and returns 1, else 0.  The caller frees
 * f either way.
 */
int web_form_read(struct web_ctx *, struct web_form *, const struct web_form_limits *lim, int *rc);
/*
 * The same for the button of a one-time link whose use rotates the session to
 * web_session_link_id() (link_field: the form's field with the link's token): the form sent
 * again from the page before (Back, reload) carries the CSRF token of the session the use
 * rotated away from, and is let through to be told that the link is used up.
 */
int web_form_read_link(struct web_ctx *, struct web_form *, const struct web_form_limits *lim,
		       const char *link_field, int *rc);

/* ---- the session cookie (session.c) ---- */

/*
 * The session is a random 256-bit id in the cookie __Host-sid (Secure, HttpOnly,
 * SameSite=Strict, Path=/, no Domain: RFC 6265bis 4.1.3.2, so no other host can set it) and
 * nothing on the server: what a session may do is bound to its id by MACs (CSRF tokens, sealed
 * forms) and by the RA (a continuation token is stored keyed with the id).  Rotating gives the
 * request a new id, and the reply sets it; what the identity brings (the continuation of an
 * opened mail link, a re-issue login) is bound to the new id only, so an id someone planted or
 * saw before the identity was established is worth nothing: it stays what any unknown id is,
 * an anonymous session with its own CSRF token and nothing else.  Rotation costs a random
 * draw or one HMAC, and no store access.
 */
#define WEB_SESSION_COOKIE "__Host-sid"

/* x->sid from the cookie when it is well-formed, else a new id (x->sid_new). */
void web_session_read(struct web_ctx *);
/* A new random session id. */
void web_session_new_id(char out[WEB_B64_LEN]);
/*
 * The request's session becomes next (made by web_session_new_id() or web_session_link_id(),
 * e.g. to bind a record to it in the same transaction that uses a link), or a new random id
 * when next is NULL; the reply sets it.  Call once the identity is established (a one-time
 * link's use accepted, a login checked).  web_csrf_ok() is false after it (x->sid_new).
 */
void web_session_rotate(struct web_ctx *, const char *next);
/*
 * The id a session rotates to when it uses a one-time link: HMAC(secret, "rotate" NUL route NUL
 * csrf NUL link) of the request's path, the CSRF token the button's form carried (the old
 * session's) and the link's token.  Unpredictable without the secret and the link (which only
 * its mail holds, and is used once), recognisable when the page's form comes again
 * (web_form_read_link()), and only by the route that rotated (no other flow's form passes).
 */
void web_session_link_id(const struct web_ctx *, const char *csrf, const char *link,
			 char out[WEB_B64_LEN]);
/* The Set-Cookie value of x's session; caller frees. */
char *web_session_cookie(const struct web_ctx *);

/* ---- CSRF tokens and MACs (csrf.c) ---- */

/* HMAC-SHA-256 (the site's secret) over the NUL-terminated parts, as base64url. */
void web_mac(const struct web_site *, char out[WEB_B64_LEN], const char *const *parts, size_t n);
/*
 * The CSRF token of the request's session: HMAC(secret, "csrf" NUL sid) (signed double
 * submit: every form carries it, every POST is refused unless it matches the cookie's id).
 */
void web_csrf(const struct web_ctx *, char out[WEB_B64_LEN]);
/* 1 when token is the CSRF token of the request's (existing) session. */
int web_csrf_ok(const struct web_ctx *, const char *token);

/* ---- sealed multi-step form state (sealed.c) ---- */

/*
 * A multi-step form carries its state in the page: the values as ordinary fields and a seal
 * over them — a purpose label (which form, e.g. "regist-form"), the session id, an optional
 * random nonce (which the face may record once to refuse a repeated submission), an expiry
 * and HMAC-SHA-256 with the site's secret over all of these and the values.  Nothing is kept
 * on the server until the last step.  The seal travels in three fields:
 *   form_nonce  the nonce, base64url (absent from seals without one)
 *   form_time   the expiry, seconds since the epoch
 *   form_mac    the purpose label, ".", the MAC in base64url
 */
#define WEB_SEAL_PURPOSE_MAX 31
#define WEB_SEAL_MAC_LEN (WEB_SEAL_PURPOSE_MAX + 1 + WEB_B64_LEN)

enum web_seal_result {
	WEB_SEAL_OK = 0,
	WEB_SEAL_MALFORMED,	/* a field missing or not of its form */
	WEB_SEAL_BAD_MAC,	/* other values, another session, or not made here */
	WEB_SEAL_WRONG_PURPOSE, /* a genuine seal of another form */
	WEB_SEAL_EXPIRED,	/* genuine, but past its expiry */
	WEB_SEAL__MAX
};
/* "ok", "malformed", "bad MAC", "wrong purpose", "expired" (logs, tests). */
extern const char *const web_seal_result_names[WEB_SEAL__MAX];

struct web_seal {
	char nonce[WEB_B64_LEN];		/* "" when sealed without a nonce */
	unsigned char nonce_raw[WEB_TOKEN_LEN]; /* the nonce's bytes */
	char expires[24];			/* decimal */
	char mac[WEB_SEAL_MAC_LEN];		/* purpose "." MAC */
};

/*
 * Seals the n values under purpose ([a-z0-9-], 1-31 characters) for x's session until
 * util_now() + ttl, with a fresh nonce when with_nonce.  A broken purpose is fatal.
 */
void web_seal_make(const struct web_ctx *, const char *purpose, long ttl, int with_nonce,
		   const char *const *values, size_t n, struct web_seal *out);
/* Seals again with prev's nonce and expiry (the same form shown again after a refusal). */
void web_seal_remake(const struct web_ctx *, const char *purpose, const struct web_seal *prev,
		     const char *const *values, size_t n, struct web_seal *out);
/*
 * Checks a seal as it came back (nonce NULL for a seal made without one) against purpose, x's
 * session, the time and the n values; the checks in this order: form, MAC, purpose, expiry.
 * WEB_SEAL_OK fills out (may be NULL) for web_seal_remake() and the nonce's bytes.
 */
enum web_seal_result web_seal_open(const struct web_ctx *, const char *purpose, const char *nonce,
				   const char *expires, const char *mac, const char *const *values,
				   size_t n, struct web_seal *out);
/* web_seal_open() of the fields form_nonce, form_time and form_mac of f. */
enum web_seal_result web_seal_open_form(const struct web_ctx *, const char *purpose,
					const struct web_form *f, const char *const *values,
					size_t n, struct web_seal *out);
/* Sets form_nonce, form_time and form_mac of a page's data. */
void web_seal_data(struct tmpl_data *, const struct web_seal *);
/*
 * Logs why a seal was refused and replies 400 "The form is no longer valid" with msg_msgid
 * (what to do now: the step where the face's flow starts again).
 */
int web_seal_refused(struct web_ctx *, enum web_seal_result, const char *msg_msgid);

#endif
