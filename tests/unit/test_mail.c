/*
 * mail unit tests: composition (RFC 2047 subjects decoded back, header injection refused,
 * address grammar, line lengths), maildir delivery, and the queue on both store backends
 * (SQLite, then the PostgreSQL cluster of scripts/with-pg.sh; that group fails without it).
 *
 * Run with arguments it is the integration tests' driver instead (tests/integration/
 * test_mail.py), on an initialised data directory:
 *   test_mail enqueue DATADIR TO SUBJECT BODY     queue one message
 *   test_mail flush DATADIR [CLOCK_OFFSET]        run the queue once, print the outcome
 *   test_mail status DATADIR                      print queued/sent/failed counts
 */
#include "testutil.h"

#include <sys/stat.h>

#include <dirent.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <sqlite3.h>

#include "ca/ca.h"
#include "mail/mail.h"
#include "store/store.h"

#define OK(x) assert_int_equal((x), 0)

/* ---- helpers ---- */

/* The lines of a composed message: each ends in CRLF, none is longer than max octets. */
static void
check_lines(const struct buf *b, size_t max)
{
	size_t i, start = 0;

	assert_true(b->len >= 2);
	for (i = 0; i < b->len; i++) {
		if (b->data[i] == '\n') {
			assert_true(i > 0 && b->data[i - 1] == '\r');
			if (i - 1 - start > max)
				fail_msg("line of %zu octets: %.*s", i - 1 - start,
					 (int)(i - start), (const char *)b->data + start);
			start = i + 1;
		} else {
			assert_true(b->data[i] != '\r' ||
				    (i + 1 < b->len && b->data[i + 1] == '\n'));
		}
	}
	assert_int_equal(start, b->len); /* ends with CRLF */
}

/* The unfolded value of header name (first occurrence); caller frees. */
static char *
header_get(const char *msg, const char *name)
{
	size_t nl = strlen(name);
	const char *p = msg, *end;
	struct buf v;

	buf_init(&v, 65536);
	while (*p != '\0' && !(p[0] == '\r' && p[1] == '\n')) {
		end = strstr(p, "\r\n");
		assert_non_null(end);
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			for (;;) {
				buf_append(&v, p, (size_t)(end - p));
				p = end + 2;
				if (*p != ' ' && *p != '\t')
					break;
				end = strstr(p, "\r\n");
			}
			{
				char *r = xstrdup(buf_cstr(&v) + (v.data[0] == ' '));

				buf_free(&v);
				return r;
			}
		}
		p = end + 2;
	}
	buf_free(&v);
	return NULL;
}

/* Decodes a sequence of =?UTF-8?B?...?= words separated by blanks (RFC 2047 6.2). */
static char *
ew_decode(const char *s)
{
	struct buf out;
	unsigned char tmp[256];
	const char *p = s, *q;
	int n;
	char *r;

	buf_init(&out, 65536);
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		assert_true(strncmp(p, "=?UTF-8?B?", 10) == 0);
		p += 10;
		q = strstr(p, "?=");
		assert_non_null(q);
		assert_true(q - p < 200);
		n = EVP_DecodeBlock(tmp, (const unsigned char *)p, (int)(q - p));
		assert_true(n >= 0);
		/* EVP_DecodeBlock counts padding as zero bytes */
		if (q - p >= 1 && q[-1] == '=')
			n--;
		if (q - p >= 2 && q[-2] == '=')
			n--;
		buf_append(&out, tmp, (size_t)n);
		p = q + 2;
	}
	r = xstrdup(buf_cstr(&out));
	buf_free(&out);
	return r;
}

/* Decodes the base64 body (after the blank line). */
static char *
body_decode(const char *msg)
{
	const char *p = strstr(msg, "\r\n\r\n");
	struct buf b64, out;
	unsigned char *tmp;
	int n;
	char *r;

	assert_non_null(p);
	buf_init(&b64, 1 << 20);
	buf_init(&out, 1 << 20);
	for (p += 4; *p != '\0'; p++)
		if (*p != '\r' && *p != '\n')
			buf_putc(&b64, *p);
	tmp = xmalloc(b64.len + 1);
	n = EVP_DecodeBlock(tmp, b64.data, (int)b64.len);
	assert_true(n >= 0);
	if (b64.len > 0 && b64.data[b64.len - 1] == '=')
		n--;
	if (b64.len > 1 && b64.data[b64.len - 2] == '=')
		n--;
	buf_append(&out, tmp, (size_t)n);
	r = xstrdup(buf_cstr(&out));
	free(tmp);
	buf_free(&b64);
	buf_free(&out);
	return r;
}

static size_t
dir_count(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ---- composition ---- */

static const char JA_SUBJECT[] =
    "【shomei】証明書発行申請のご案内：以下のリンクから三日以内に発行申請を行ってください";

static void
test_compose_japanese(void **state)
{
	struct mail_msg m = {
	    .from = "ca@example.jp",
	    .from_name = "ショウメイ認証局 サポート窓口",
	    .to = "taro.yamada+cert@sub.example.co.jp",
	    .subject = JA_SUBJECT,
	    .body = "山田様\n\n以下のリンクを開いてください。\nhttps://ca.example.jp/i/abc=def\n",
	};
	struct buf b;
	struct err e;
	char *v, *d, *msg;

	(void)state;
	err_clear(&e);
	buf_init(&b, MAIL_MSG_MAX);
	OK(mail_compose(&m, &b, &e));
	check_lines(&b, 78);
	msg = buf_cstr(&b);
	/* the raw header is ASCII only */
	for (size_t i = 0; i < b.len; i++)
		assert_true(b.data[i] < 0x80);

	v = header_get(msg, "Subject");
	assert_non_null(v);
	assert_true(strstr(msg, "Subject: =?UTF-8?B?") != NULL);
	assert_non_null(strstr(msg, "?=\r\n =?UTF-8?B?")); /* long: folded into several words */
	d = ew_decode(v);
	assert_string_equal(d, JA_SUBJECT);
	free(v);
	free(d);

	v = header_get(msg, "From");
	assert_non_null(v);
	assert_non_null(strstr(v, "<ca@example.jp>"));
	*strstr(v, " <ca@") = '\0';
	d = ew_decode(v);
	assert_string_equal(d, m.from_name);
	free(v);
	free(d);

	v = header_get(msg, "To");
	assert_string_equal(v, "taro.yamada+cert@sub.example.co.jp");
	free(v);
	v = header_get(msg, "Message-ID");
	assert_non_null(v);
	assert_int_equal(strlen(v), 1 + 32 + 1 + strlen("example.jp") + 1);
	assert_non_null(strstr(v, "@example.jp>"));
	free(v);
	v = header_get(msg, "Date");
	assert_non_null(v);
	assert_non_null(strstr(v, " +0000"));
	free(v);
	assert_non_null(strstr(msg, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(msg, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
	assert_non_null(strstr(msg, "\r\nContent-Transfer-Encoding: base64\r\n"));

	d = body_decode(msg);
	assert_string_equal(d, "山田様\r\n\r\n以下のリンクを開いてください。\r\n"
			       "https://ca.example.jp/i/abc=def\r\n");
	free(d);
	buf_free(&b);
}

static void
test_compose_ascii_and_qp(void **state)
{
	char longbody[2000];
	struct mail_msg m = {
	    .from = "ca@example.jp",
	    .to = "a@example.jp",
	    .subject = "Your certificate",
	    .cte = MAIL_CTE_QP,
	};
	struct buf b;
	struct err e;
	char *v;

	(void)state;
	err_clear(&e);
	memset(longbody, 'x', sizeof(longbody) - 1);
	longbody[sizeof(longbody) - 1] = '\0';
	memcpy(longbody + 100, "=日本 \n. ", strlen("=日本 \n. "));
	m.body = longbody;
	buf_init(&b, MAIL_MSG_MAX);
	OK(mail_compose(&m, &b, &e));
	check_lines(&b, 76);
	v = header_get(buf_cstr(&b), "Subject");
	assert_string_equal(v, "Your certificate"); /* short ASCII stays plain */
	free(v);
	assert_non_null(strstr(buf_cstr(&b), "Content-Transfer-Encoding: quoted-printable"));
	assert_non_null(strstr(buf_cstr(&b), "=3D=E6=97=A5=E6=9C=AC=20\r\n. "));
	buf_free(&b);

	/* a long ASCII subject is encoded (and folded) rather than overflowing the line */
	memset(longbody, 'S', 200);
	longbody[200] = '\0';
	m.subject = longbody;
	m.body = "x";
	buf_init(&b, MAIL_MSG_MAX);
	OK(mail_compose(&m, &b, &e));
	check_lines(&b, 78);
	v = header_get(buf_cstr(&b), "Subject");
	{
		char *d = ew_decode(v);

		assert_string_equal(d, longbody);
		free(d);
	}
	free(v);
	buf_free(&b);
}

static void
test_compose_injection(void **state)
{
	static const char *const subjects[] = {
	    "hello\r\nBcc: victim@example.com",
	    "hello\nBcc: x@example.com",
	    "a\rb",
	    "tab\there",
	    "nul\x01",
	    "bad \xff utf-8",
	    "overlong \xc0\xaf",
	    "surrogate \xed\xa0\x80",
	    "C1 \xc2\x85",
	};
	struct mail_msg m = {
	    .from = "ca@example.jp", .to = "a@example.jp", .subject = "ok", .body = "ok"};
	struct buf b;
	struct err e;
	size_t i;

	(void)state;
	buf_init(&b, MAIL_MSG_MAX);
	for (i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		err_clear(&e);
		m.subject = subjects[i];
		assert_int_equal(mail_compose(&m, &b, &e), -1);
		assert_int_equal(e.code, ERR_REFUSED);
	}
	m.subject = "ok";
	err_clear(&e);
	m.from_name = "Eve\r\nBcc: x@example.com";
	assert_int_equal(mail_compose(&m, &b, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	m.from_name = NULL;
	err_clear(&e);
	m.to = "a@example.jp\r\nBcc: x@example.com";
	assert_int_equal(mail_compose(&m, &b, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	m.to = "a@example.jp";
	m.body = "NUL-free but \x1b escape";
	err_clear(&e);
	assert_int_equal(mail_compose(&m, &b, &e), -1);
	m.body = "ok";
	m.msgid_domain = "example.jp>\r\nBcc: x";
	err_clear(&e);
	assert_int_equal(mail_compose(&m, &b, &e), -1);
	assert_int_equal(b.len, 0); /* nothing written on refusal */
	buf_free(&b);
}

static void
test_addr_grammar(void **state)
{
	static const char *const good[] = {
	    "a@example.jp",	  "taro.yamada@example.co.jp", "x+tag@sub-1.example.com",
	    "o'brien@example.ie", "a_b-c@x1.example",	       "!#$%&'*+/=?^_`{|}~-@example.org",
	};
	static const char *const bad[] = {
	    "",
	    "@example.jp",
	    "a@",
	    "a",
	    "a@localhost",
	    "a@@example.jp",
	    "a@b@example.jp",
	    ".a@example.jp",
	    "a.@example.jp",
	    "a..b@example.jp",
	    "a b@example.jp",
	    "\"a\"@example.jp",
	    "a@example..jp",
	    "a@-example.jp",
	    "a@example-.jp",
	    "a@[192.0.2.1]",
	    "a@exa_mple.jp",
	    "a@example.jp.",
	    "<a@example.jp>",
	    "a@example.jp\r\n",
	    "a\n@example.jp",
	    "山田@example.jp",
	    "a@例え.jp",
	    "a(comment)@example.jp",
	    "a@example.jp,b@example.jp",
	};
	char longlocal[100];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!mail_addr_valid(good[i]))
			fail_msg("refused: %s", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mail_addr_valid(bad[i]))
			fail_msg("accepted: %s", bad[i]);
	assert_false(mail_addr_valid(NULL));
	memset(longlocal, 'a', 65);
	memcpy(longlocal + 65, "@example.jp", 12);
	assert_false(mail_addr_valid(longlocal));
	longlocal[1] = '@';
	memcpy(longlocal + 1, "@example.jp", 12);
	assert_true(mail_addr_valid(longlocal));
}

static void
test_maildir_write(void **state)
{
	char *dir = tu_tmpdir(), *box = xasprintf("%s/outbox", dir), *p;
	static const char msg[] = "Subject: x\r\n\r\nline one\r\nline two\r\n";
	struct buf b;
	struct err e;
	DIR *d;
	struct dirent *de;

	(void)state;
	err_clear(&e);
	buf_init(&b, 4096);
	OK(mail_maildir_write(box, msg, strlen(msg), &e));
	p = xasprintf("%s/new", box);
	assert_int_equal(dir_count(p), 1);
	free(p);
	p = xasprintf("%s/tmp", box);
	assert_int_equal(dir_count(p), 0);
	free(p);
	p = xasprintf("%s/cur", box);
	assert_true(util_file_exists(p));
	assert_int_equal(dir_count(p), 0);
	free(p);
	/* file name time.pid_random.host, content with LF line ends */
	p = xasprintf("%s/new", box);
	d = opendir(p);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char *f;

		if (de->d_name[0] == '.')
			continue;
		assert_non_null(strchr(de->d_name, '_'));
		assert_null(strchr(de->d_name, '/'));
		assert_null(strchr(de->d_name, ':'));
		f = xasprintf("%s/%s", p, de->d_name);
		OK(util_read_file(f, 4096, &b, &e));
		assert_int_equal(b.len, strlen("Subject: x\n\nline one\nline two\n"));
		assert_memory_equal(b.data, "Subject: x\n\nline one\nline two\n", b.len);
		free(f);
	}
	closedir(d);
	free(p);
	/* a second message: a second file */
	OK(mail_maildir_write(box, msg, strlen(msg), &e));
	p = xasprintf("%s/new", box);
	assert_int_equal(dir_count(p), 2);
	free(p);
	/* an impossible directory is an error, not a crash */
	err_clear(&e);
	assert_int_equal(mail_maildir_write("/dev/null/outbox", msg, strlen(msg), &e), -1);
	assert_true(err_is_set(&e));
	buf_free(&b);
	free(box);
	tu_rmdir(dir);
}

static void
test_backoff(void **state)
{
	(void)state;
	assert_int_equal(mail_backoff(1), 30);
	assert_int_equal(mail_backoff(2), 60);
	assert_int_equal(mail_backoff(3), 120);
	assert_int_equal(mail_backoff(4), 240);
	assert_int_equal(mail_backoff(7), 1920);
	assert_int_equal(mail_backoff(8), 3600);
	assert_int_equal(mail_backoff(50), 3600);
	assert_int_equal(mail_backoff(INT64_MAX), 3600);
}

static void
test_conf(void **state)
{
	struct conf c;
	struct mail_conf mc;
	struct err e;

	(void)state;
	memset(&c, 0, sizeof(c));
	err_clear(&e);
	OK(mail_conf_load(&mc, &c, "/data", &e));
	assert_int_equal(mc.delivery, MAIL_DELIVERY_MAILDIR);
	assert_string_equal(mc.outbox, "/data/outbox");
	assert_int_equal(mc.max_age, 72 * 3600);
	assert_null(mc.from);
	mail_conf_clear(&mc);

	conf_set(&c, "mail.delivery", "smtp");
	assert_int_equal(mail_conf_load(&mc, &c, "/data", &e), -1); /* no smtp_url */
	err_clear(&e);
	conf_set(&c, "mail.smtp_url", "http://x");
	assert_int_equal(mail_conf_load(&mc, &c, "/data", &e), -1);
	err_clear(&e);
	conf_set(&c, "mail.smtp_url", "smtp://127.0.0.1:2525");
	conf_set(&c, "mail.from", "ca@example.jp");
	conf_set(&c, "mail.smtp_starttls", "yes");
	conf_set(&c, "mail.smtp_password_env", "SHOMEI_TEST_MAIL_PW");
	setenv("SHOMEI_TEST_MAIL_PW", "s3cret", 1);
	OK(mail_conf_load(&mc, &c, "/data", &e));
	assert_int_equal(mc.delivery, MAIL_DELIVERY_SMTP);
	assert_int_equal(mc.smtp_starttls, 1);
	assert_string_equal(mc.smtp_password, "s3cret");
	assert_string_equal(mc.domain, "example.jp");
	mail_conf_clear(&mc);
	conf_set(&c, "mail.from", "not an address");
	assert_int_equal(mail_conf_load(&mc, &c, "/data", &e), -1);
	conf_free(&c);
}

/* ---- the queue, on both backends ---- */

struct fx {
	char *dir;
	char *spec;
	struct store *s;
	struct mail_conf mc;
};

static int cur_pg;

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
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("postgresql: %s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

static int
grp_sqlite(void **state)
{
	(void)state;
	cur_pg = 0;
	return 0;
}

static int
grp_pg(void **state)
{
	(void)state;
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
	struct fx *f = calloc(1, sizeof(*f));
	struct conf c;
	struct err e;

	assert_non_null(f);
	err_clear(&e);
	f->dir = tu_tmpdir();
	if (cur_pg) {
		pg_raw("SET client_min_messages TO warning; DROP SCHEMA public CASCADE; "
		       "CREATE SCHEMA public");
		f->spec = xstrdup(tu_pg());
	} else {
		f->spec = xasprintf("sqlite:%s/shomei.db", f->dir);
	}
	if (store_open(&f->s, f->spec, &e) != 0)
		fail_msg("store_open: %s", e.msg);
	memset(&c, 0, sizeof(c));
	conf_set(&c, "mail.from", "ca@example.jp");
	conf_set(&c, "mail.max_age_hours", "2");
	if (mail_conf_load(&f->mc, &c, f->dir, &e) != 0)
		fail_msg("mail_conf_load: %s", e.msg);
	conf_free(&c);
	/* the queue's key, made in the test's directory */
	{
		char *kf = xasprintf("%s/mail.key", f->dir);
		unsigned char k[MAIL_KEY_LEN];

		memset(&c, 0, sizeof(c));
		conf_set(&c, "mail.key_file", kf);
		if (mail_key_load(&c, k, &e) != 0)
			fail_msg("mail_key_load: %s", e.msg);
		mail_conf_set_key(&f->mc, k);
		sodium_memzero(k, sizeof(k));
		conf_free(&c);
		free(kf);
	}
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
	mail_conf_clear(&f->mc);
	free(f->spec);
	tu_rmdir(f->dir);
	free(f);
	return 0;
}

static int64_t
queue_count(struct store *s, int status)
{
	int64_t n = -1;
	struct err e;

	err_clear(&e);
	if (store_mail_count(s, status, &n, &e) != 0)
		fail_msg("count: %s", e.msg);
	return n;
}

static void
enqueue_one(struct fx *f, const char *to, int64_t *id)
{
	struct mail_msg m = {.to = to, .subject = JA_SUBJECT, .body = "本文\n"};
	struct err e;

	err_clear(&e);
	if (mail_enqueue(&f->mc, f->s, &m, id, &e) != 0)
		fail_msg("enqueue: %s", e.msg);
}

static void
test_queue_rollback(void **state)
{
	struct fx *f = *state;
	struct mail_msg bad = {
	    .to = "x@example.jp\r\nBcc: y@example.jp", .subject = "s", .body = "b"};
	struct err e;
	int64_t id;

	err_clear(&e);
	OK(store_begin(f->s, &e));
	enqueue_one(f, "a@example.jp", &id);
	assert_true(id > 0);
	store_rollback(f->s);
	assert_int_equal(queue_count(f->s, -1), 0);

	/* committed with the business change: there */
	OK(store_begin(f->s, &e));
	enqueue_one(f, "a@example.jp", &id);
	OK(store_commit(f->s, &e));
	assert_int_equal(queue_count(f->s, STORE_MAIL_QUEUED), 1);

	/* a refused message raises no SQL error inside the transaction: it stays usable */
	OK(store_begin(f->s, &e));
	assert_int_equal(mail_enqueue(&f->mc, f->s, &bad, NULL, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	err_clear(&e);
	enqueue_one(f, "b@example.jp", NULL);
	OK(store_commit(f->s, &e));
	assert_int_equal(queue_count(f->s, STORE_MAIL_QUEUED), 2);
}

static void
test_queue_claim_exclusive(void **state)
{
	struct fx *f = *state;
	struct store *s2 = NULL;
	struct store_mail *v1 = NULL, *v2 = NULL;
	size_t n1 = 0, n2 = 0;
	time_t now = util_now();
	struct err e;
	int64_t id;

	err_clear(&e);
	enqueue_one(f, "a@example.jp", &id);
	enqueue_one(f, "b@example.jp", NULL);
	if (store_open(&s2, f->spec, &e) != 0)
		fail_msg("store_open: %s", e.msg);
	OK(store_mail_claim(f->s, now, now + 90, 1, &v1, &n1, &e));
	assert_int_equal(n1, 1);
	assert_int_equal(v1[0].id, id);
	assert_int_equal(v1[0].attempts, 1);
	assert_string_equal(v1[0].recipient, "a@example.jp");
	assert_string_equal(v1[0].sender, "ca@example.jp");
	{
		struct buf b;

		OK(mail_body_open(&f->mc, &v1[0], &b, &e));
		assert_non_null(strstr(buf_cstr(&b), "To: a@example.jp\r\n"));
		buf_free(&b);
	}
	/* the second front end gets only the other one */
	OK(store_mail_claim(s2, now, now + 90, 10, &v2, &n2, &e));
	assert_int_equal(n2, 1);
	assert_true(v2[0].id != id);
	STORE_LIST_FREE(v2, n2, store_mail_clear);
	OK(store_mail_claim(s2, now + 10, now + 100, 10, &v2, &n2, &e));
	assert_int_equal(n2, 0);
	STORE_LIST_FREE(v2, n2, store_mail_clear);
	/* a lock that expired (the first sender died) is claimed again */
	OK(store_mail_claim(s2, now + 91, now + 200, 10, &v2, &n2, &e));
	assert_int_equal(n2, 2);
	assert_int_equal(v2[0].attempts, 2);
	/* the late first sender can no longer mark it: it is s2's now, but marking is by id;
	 * once s2 has sent it, neither can change it again */
	OK(store_mail_sent(s2, v2[0].id, now + 92, &e));
	assert_int_equal(store_mail_sent(f->s, v2[0].id, now + 93, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	err_clear(&e);
	assert_int_equal(store_mail_retry(f->s, v2[0].id, now + 100, "x", &e), -1);
	err_clear(&e);
	STORE_LIST_FREE(v1, n1, store_mail_clear);
	STORE_LIST_FREE(v2, n2, store_mail_clear);
	assert_int_equal(queue_count(f->s, STORE_MAIL_SENT), 1);
	store_close(s2);
}

static void
test_queue_maildir_delivery(void **state)
{
	struct fx *f = *state;
	struct mail_run_stats st;
	struct store_mail m;
	struct err e;
	int64_t id;
	char *p;

	err_clear(&e);
	enqueue_one(f, "a@example.jp", &id);
	OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried + st.failed, 0);
	p = xasprintf("%s/outbox/new", f->dir);
	assert_int_equal(dir_count(p), 1);
	free(p);
	p = xasprintf("%s/outbox/tmp", f->dir);
	assert_int_equal(dir_count(p), 0);
	free(p);
	OK(store_mail_get(f->s, id, &m, &e));
	assert_int_equal(m.status, STORE_MAIL_SENT);
	assert_string_equal(m.message, ""); /* the one-time link does not stay in the store */
	store_mail_clear(&m);
	/* delivered exactly once: another run sends nothing */
	OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
	assert_int_equal(st.sent, 0);
	p = xasprintf("%s/outbox/new", f->dir);
	assert_int_equal(dir_count(p), 1);
	free(p);
	/* the sender's connection defers its syncs: the same, and others see the outcome */
	{
		struct store *s2 = NULL;
		int d;

		err_clear(&e);
		d = store_defer_sync(f->s, &e);
		assert_int_equal(d, cur_pg ? 0 : 1);
		enqueue_one(f, "b@example.jp", &id);
		OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
		assert_int_equal(st.sent, 1);
		p = xasprintf("%s/outbox/new", f->dir);
		assert_int_equal(dir_count(p), 2);
		free(p);
		OK(store_open(&s2, f->spec, &e));
		OK(store_mail_get(s2, id, &m, &e));
		assert_int_equal(m.status, STORE_MAIL_SENT);
		store_mail_clear(&m);
		store_close(s2);
	}
}

static void
test_queue_backoff_and_give_up(void **state)
{
	struct fx *f = *state;
	struct mail_run_stats st;
	struct store_mail m;
	struct err e;
	time_t t0 = util_now(), expect = 0;
	long off = 0, delays[] = {30, 60, 120, 240, 480, 960, 1920, 3600};
	int64_t id;
	size_t i;
	char *good;

	err_clear(&e);
	good = f->mc.outbox;
	f->mc.outbox = xstrdup("/dev/null/outbox"); /* every delivery fails */
	enqueue_one(f, "a@example.jp", &id);
	for (i = 0; i < sizeof(delays) / sizeof(delays[0]) && off < f->mc.max_age; i++) {
		util_clock_set_offset(off);
		OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
		assert_int_equal(st.retried, 1);
		OK(store_mail_get(f->s, id, &m, &e));
		assert_int_equal(m.status, STORE_MAIL_QUEUED);
		assert_int_equal(m.attempts, (int64_t)i + 1);
		assert_non_null(m.last_error);
		expect = t0 + off + delays[i];
		/* allow for the wall clock moving on during the test */
		assert_true(m.next_attempt >= expect && m.next_attempt <= expect + 2);
		store_mail_clear(&m);
		/* not due early */
		util_clock_set_offset(off + delays[i] - 3);
		OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
		assert_int_equal(st.sent + st.retried + st.failed, 0);
		off += delays[i] + 1;
	}
	assert_int_equal(i, sizeof(delays) / sizeof(delays[0])); /* the whole schedule ran */
	/* older than max_age (2 h): given up, marked failed */
	util_clock_set_offset(f->mc.max_age + 3600 * 2);
	OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
	assert_int_equal(st.failed, 1);
	OK(store_mail_get(f->s, id, &m, &e));
	assert_int_equal(m.status, STORE_MAIL_FAILED);
	assert_string_equal(m.message, "");
	store_mail_clear(&m);
	assert_int_equal(queue_count(f->s, STORE_MAIL_QUEUED), 0);
	/* and never tried again */
	util_clock_set_offset(f->mc.max_age * 10);
	OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
	assert_int_equal(st.sent + st.retried + st.failed, 0);

	/* a working outbox after failures: delivered once */
	free(f->mc.outbox);
	f->mc.outbox = good;
	util_clock_set_offset(0);
	enqueue_one(f, "b@example.jp", &id);
	free(f->mc.outbox);
	f->mc.outbox = xstrdup("/dev/null/outbox");
	OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
	assert_int_equal(st.retried, 1);
	free(f->mc.outbox);
	f->mc.outbox = xasprintf("%s/outbox", f->dir);
	util_clock_set_offset(31);
	OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
	assert_int_equal(st.sent, 1);
	OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
	assert_int_equal(st.sent, 0);
	assert_int_equal(queue_count(f->s, STORE_MAIL_SENT), 1);
}

static void
test_sender_thread(void **state)
{
	struct fx *f = *state;
	struct mail_sender *ms = NULL;
	struct conf c;
	struct err e;
	char *p = xasprintf("%s/outbox/new", f->dir);
	int i;

	err_clear(&e);
	enqueue_one(f, "a@example.jp", NULL);
	memset(&c, 0, sizeof(c));
	OK(mail_sender_start(&c, f->dir, f->spec, f->mc.key, 1, &ms, &e));
	for (i = 0; i < 100 && dir_count(p) == 0; i++)
		usleep(50 * 1000);
	assert_int_equal(dir_count(p), 1);
	mail_sender_stop(ms);
	mail_sender_stop(NULL);
	assert_int_equal(queue_count(f->s, STORE_MAIL_SENT), 1);
	conf_free(&c);
	free(p);
}

/* ---- sealed bodies: what the store's own tables hold ---- */

/*
 * Runs sql on a connection of its own, straight to the database (not through src/store);
 * returns the first column of the first row (caller frees), or NULL when there is none.
 */
static char *
raw_sql(struct fx *f, const char *sql)
{
	char *r = NULL;

	if (cur_pg) {
		PGconn *c = PQconnectdb(tu_pg());
		PGresult *res;

		if (PQstatus(c) != CONNECTION_OK)
			fail_msg("postgresql: %s", PQerrorMessage(c));
		res = PQexec(c, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK)
			fail_msg("postgresql: %s: %s", sql, PQresultErrorMessage(res));
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
			r = xstrdup(PQgetvalue(res, 0, 0));
		PQclear(res);
		PQfinish(c);
	} else {
		char *path = xasprintf("%s/shomei.db", f->dir);
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;
		int rc;

		if (sqlite3_open(path, &db) != SQLITE_OK ||
		    sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
		    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			fail_msg("sqlite: %s: %s", sql, sqlite3_errmsg(db));
		if ((rc = sqlite3_step(st)) == SQLITE_ROW)
			r = xstrdup((const char *)sqlite3_column_text(st, 0));
		else if (rc != SQLITE_DONE)
			fail_msg("sqlite: %s: %s", sql, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		sqlite3_close(db);
		free(path);
	}
	return r;
}

/* The message column of row id as the database holds it; caller frees. */
static char *
raw_message(struct fx *f, int64_t id)
{
	char sql[128], *r;

	snprintf(sql, sizeof(sql), "SELECT message FROM mail_queue WHERE id = %lld", (long long)id);
	r = raw_sql(f, sql);
	assert_non_null(r);
	return r;
}

static void
raw_set_message(struct fx *f, int64_t id, const char *msg)
{
	char *sql =
	    xasprintf("UPDATE mail_queue SET message = '%s' WHERE id = %lld", msg, (long long)id);

	assert_null(strchr(msg, '\''));
	free(raw_sql(f, sql));
	free(sql);
}

#define LINK "https://localhost:8443/regist/verify?t=Zk3pQ9vXlink"
#define LINK_QP "https://localhost:8443/regist/verify?t=3DZk3pQ9vXlink"
#define CODE "K7QW2-MZ4TR-9XBNC-HV3LE"

static void
enqueue_secret(struct fx *f, const char *to, int64_t *id)
{
	struct mail_msg m = {.to = to,
			     .subject = "link",
			     .body = "Open " LINK " within three days.\nCode: " CODE "\n",
			     .cte = MAIL_CTE_QP};
	struct err e;

	err_clear(&e);
	if (mail_enqueue(&f->mc, f->s, &m, id, &e) != 0)
		fail_msg("enqueue: %s", e.msg);
}

/* Neither the link, the code nor the headers are in the store's row; they are in the mail. */
static void
test_queue_sealed(void **state)
{
	struct fx *f = *state;
	struct mail_run_stats st;
	struct err e;
	int64_t id, id2;
	char *raw, *raw2, *p, *got;
	struct stat sb;

	err_clear(&e);
	enqueue_secret(f, "a@example.jp", &id);
	/* outside any transaction and inside the caller's */
	OK(store_begin(f->s, &e));
	enqueue_secret(f, "a@example.jp", &id2);
	OK(store_commit(f->s, &e));
	raw = raw_message(f, id);
	raw2 = raw_message(f, id2);
	assert_true(strncmp(raw, "shomei-seal1:", 13) == 0);
	assert_null(strstr(raw, "Zk3pQ9vXlink"));
	assert_null(strstr(raw, "K7QW2"));
	assert_null(strstr(raw, "a@example.jp"));
	assert_null(strstr(raw, "Subject"));
	assert_true(strlen(raw) > 200);
	/* the same text twice: two nonces, two ciphertexts */
	assert_string_not_equal(raw + 13, raw2 + 13);
	/* the key file: made once, root's alone */
	p = xasprintf("%s/mail.key", f->dir);
	OK(stat(p, &sb));
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, MAIL_KEY_LEN);
	free(p);

	OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.failed + st.retried, 0);
	p = xasprintf("%s/outbox/new", f->dir);
	assert_int_equal(dir_count(p), 2);
	free(p);
	/* delivered with the link and the code intact (quoted-printable: '=' is "=3D") */
	free(raw);
	raw = raw_message(f, id);
	assert_string_equal(raw, ""); /* and not kept once sent */
	{
		DIR *d;
		struct dirent *de;
		int seen = 0;

		p = xasprintf("%s/outbox/new", f->dir);
		d = opendir(p);
		assert_non_null(d);
		while ((de = readdir(d)) != NULL) {
			struct buf b;
			char *fp;

			if (de->d_name[0] == '.')
				continue;
			fp = xasprintf("%s/%s", p, de->d_name);
			OK(util_read_file(fp, 1 << 20, &b, &e));
			got = buf_cstr(&b);
			assert_non_null(strstr(got, LINK_QP));
			assert_non_null(strstr(got, "Code: " CODE));
			assert_non_null(strstr(got, "To: a@example.jp\n"));
			buf_free(&b);
			free(fp);
			seen++;
		}
		closedir(d);
		assert_int_equal(seen, 2);
		free(p);
	}
	free(raw);
	free(raw2);
}

/*
 * A sealed body altered, moved to another row, or its row redirected to another recipient is
 * not sent (not even garbled): failed at once, with the reason; the others go out.  A body
 * queued in clear before bodies were sealed is still delivered.
 */
static void
test_queue_tampered(void **state)
{
	struct fx *f = *state;
	struct mail_run_stats st;
	struct store_mail m;
	struct err e;
	int64_t a, b, c, d, legacy;
	char *ra, *rb, *rc, *p;
	size_t i;

	err_clear(&e);
	enqueue_secret(f, "a@example.jp", &a);
	enqueue_secret(f, "b@example.jp", &b);
	enqueue_secret(f, "c@example.jp", &c);
	enqueue_secret(f, "d@example.jp", &d);
	OK(store_mail_enqueue(f->s, "ca@example.jp", "old@example.jp",
			      "From: ca@example.jp\r\nTo: old@example.jp\r\nSubject: old\r\n\r\n"
			      "queued before sealing " LINK "\r\n",
			      util_now(), &legacy, &e));
	/* a: one character of the ciphertext changed */
	ra = raw_message(f, a);
	i = strlen(ra) / 2;
	ra[i] = ra[i] == 'A' ? 'B' : 'A';
	raw_set_message(f, a, ra);
	/* b and c: their bodies swapped (each a valid seal, of another row) */
	rb = raw_message(f, b);
	rc = raw_message(f, c);
	raw_set_message(f, b, rc);
	raw_set_message(f, c, rb);
	/* d: its row redirected to another recipient */
	p = xasprintf("UPDATE mail_queue SET recipient = 'evil@example.jp' WHERE id = %lld",
		      (long long)d);
	free(raw_sql(f, p));
	free(p);

	OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
	assert_int_equal(st.sent, 0); /* the plaintext one neither: anyone could have written it */
	assert_int_equal(st.failed, 5);
	assert_int_equal(st.retried, 0);
	p = xasprintf("%s/outbox/new", f->dir);
	assert_int_equal(dir_count(p), 0);
	free(p);
	OK(store_mail_get(f->s, legacy, &m, &e));
	assert_int_equal(m.status, STORE_MAIL_FAILED);
	assert_non_null(strstr(m.last_error, "body not sealed"));
	store_mail_clear(&m);
	{
		int64_t ids[] = {a, b, c, d};

		for (i = 0; i < 4; i++) {
			OK(store_mail_get(f->s, ids[i], &m, &e));
			assert_int_equal(m.status, STORE_MAIL_FAILED);
			assert_string_equal(m.message, "");
			assert_non_null(m.last_error);
			assert_non_null(strstr(m.last_error, "sealed body does not open"));
			store_mail_clear(&m);
		}
	}
	/* never tried again */
	util_clock_set_offset(3600);
	OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
	assert_int_equal(st.sent + st.failed + st.retried, 0);
	/* not base64url at all, and empty: refused the same way */
	util_clock_set_offset(0);
	enqueue_secret(f, "e@example.jp", &a);
	raw_set_message(f, a, "shomei-seal1:not*base64");
	OK(store_mail_enqueue(f->s, "ca@example.jp", "f@example.jp", "", util_now(), &b, &e));
	OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
	assert_int_equal(st.failed, 2);
	assert_int_equal(st.sent, 0);
	/* another key: nothing opens, nothing is sent */
	enqueue_secret(f, "g@example.jp", &c);
	f->mc.key[0] ^= 1;
	OK(mail_queue_run(&f->mc, f->s, 10, &st, &e));
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.sent, 0);
	/* no key at all: the run is refused, the mail stays queued */
	enqueue_secret(f, "h@example.jp", &c); /* (the key flipped still seals) */
	f->mc.have_key = 0;
	assert_int_equal(mail_queue_run(&f->mc, f->s, 10, &st, &e), -1);
	assert_int_equal(e.code, ERR_INTERNAL);
	f->mc.have_key = 1;
	err_clear(&e);
	p = xasprintf("%s/outbox/new", f->dir);
	assert_int_equal(dir_count(p), 0); /* nothing was ever sent */
	free(p);
	free(ra);
	free(rb);
	free(rc);
}

/* ---- the integration tests' driver ---- */

static int
driver(int argc, char **argv)
{
	struct ca *ca = NULL;
	struct store *s = NULL;
	struct mail_conf mc;
	struct mail_run_stats st;
	struct err e;
	long off = 0;
	int rc = 1;

	memset(&mc, 0, sizeof(mc));
	err_clear(&e);
	log_init("test_mail", 0);
	if (argc < 3)
		goto usage;
	if (ca_open(argv[2], 0, NULL, &ca, &e) == -1 || ca_store_open(ca, &s, &e) == -1 ||
	    mail_conf_load(&mc, &ca->conf, ca->datadir, &e) == -1 ||
	    mail_key_load(&ca->conf, mc.key, &e) == -1)
		goto fail;
	mc.have_key = 1;
	if (strcmp(argv[1], "enqueue") == 0 && argc == 6) {
		struct mail_msg m = {
		    .to = argv[3], .subject = argv[4], .body = argv[5], .cte = mc.cte};
		int64_t id;

		if (store_begin(s, &e) == -1 || mail_enqueue(&mc, s, &m, &id, &e) == -1 ||
		    store_commit(s, &e) == -1)
			goto fail;
		printf("%lld\n", (long long)id);
	} else if (strcmp(argv[1], "flush") == 0 && (argc == 3 || argc == 4)) {
		if (argc == 4 && util_parse_long(argv[3], 0, 1L << 30, &off) == -1)
			goto usage;
		util_clock_set_offset(off);
		if (mail_queue_run(&mc, s, 100, &st, &e) == -1)
			goto fail;
		printf("sent=%zu retried=%zu failed=%zu\n", st.sent, st.retried, st.failed);
	} else if (strcmp(argv[1], "status") == 0 && argc == 3) {
		int64_t q, sn, fl;

		if (store_mail_count(s, STORE_MAIL_QUEUED, &q, &e) == -1 ||
		    store_mail_count(s, STORE_MAIL_SENT, &sn, &e) == -1 ||
		    store_mail_count(s, STORE_MAIL_FAILED, &fl, &e) == -1)
			goto fail;
		printf("queued=%lld sent=%lld failed=%lld\n", (long long)q, (long long)sn,
		       (long long)fl);
	} else {
		goto usage;
	}
	rc = 0;
	goto out;
usage:
	fprintf(stderr, "usage: test_mail enqueue DATADIR TO SUBJECT BODY | flush DATADIR "
			"[OFFSET] | status DATADIR\n");
	rc = 2;
	goto out;
fail:
	fprintf(stderr, "test_mail: %s\n", e.msg);
out:
	mail_conf_clear(&mc);
	store_close(s);
	ca_close(ca);
	return rc;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int
main(int argc, char **argv)
{
	const struct CMUnitTest plain[] = {
	    cmocka_unit_test(test_compose_japanese),
	    cmocka_unit_test(test_compose_ascii_and_qp),
	    cmocka_unit_test(test_compose_injection),
	    cmocka_unit_test(test_addr_grammar),
	    cmocka_unit_test(test_maildir_write),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_conf),
	};
	const struct CMUnitTest queue[] = {
	    T(test_queue_rollback),	    T(test_queue_claim_exclusive),
	    T(test_queue_maildir_delivery), T(test_queue_backoff_and_give_up),
	    T(test_sender_thread),	    T(test_queue_sealed),
	    T(test_queue_tampered),
	};
	int fails = 0;

	if (argc > 1)
		return driver(argc, argv);
	log_init("test_mail", 0);
	fails += cmocka_run_group_tests_name("mail", plain, NULL, NULL);
	fails += cmocka_run_group_tests_name("mail queue on sqlite", queue, grp_sqlite, NULL);
	fails += cmocka_run_group_tests_name("mail queue on postgresql", queue, grp_pg, NULL);
	return fails != 0;
}
