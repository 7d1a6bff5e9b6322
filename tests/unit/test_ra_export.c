/*
 * The console's bulk download and the user administrator's update (src/ra/export.c,
 * src/ra/ocadmin.c, store_certadmin.c) on SQLite and PostgreSQL: the UPKI status codes, JST
 * times without the process TZ, CP932 with '?' for what it lacks, tabs and line ends inside
 * values, the 46 columns, kinds and organizations apart, the bound, no secret; the update by
 * serial, by old address and by TSV (all or nothing), each audited.
 */
#include "testutil.h"
#include "tu_x509.h"
#include "tu_ca.h"
#include "tu_ra.h"

#include <iconv.h>

#define OK(x) assert_int_equal((x), 0)

static struct tu_ra fx;
static int want_pg;
static struct ra_officer off1, off2; /* EX1 (every kind), EX2 */
static char ready_token[RA_TOKEN_TEXT];

/* Where needle is in the n bytes at p, or NULL. */
static const void *
find_bytes(const void *p, size_t n, const void *needle, size_t nl)
{
	const unsigned char *u = p;
	size_t i;

	for (i = 0; u != NULL && i + nl <= n; i++)
		if (memcmp(u + i, needle, nl) == 0)
			return u + i;
	return NULL;
}

static int
hook_ready(void *arg, struct store *st, const struct store_certadmin *a, const char *token,
	   struct err *e)
{
	(void)arg;
	(void)st;
	(void)a;
	(void)e;
	snprintf(ready_token, sizeof(ready_token), "%s", token);
	return 0;
}

static const struct ra_ocert_notify notify = {NULL, hook_ready, NULL, NULL};

static void
officer(struct ra_officer *o, const char *code, int64_t id)
{
	struct store_org org;
	struct err e;

	memset(o, 0, sizeof(*o));
	memset(&org, 0, sizeof(org));
	err_clear(&e);
	OK(store_org_get(fx.ca.st, code, &org, &e));
	o->id = id;
	o->org_id = org.id;
	snprintf(o->org_code, sizeof(o->org_code), "%s", code);
	o->role = RA_ROLE_OFFICER;
	o->perms = RA_PERM_SERVER | RA_PERM_CLIENT | RA_PERM_CODESIGN;
	o->active = 1;
	store_org_clear(&org);
}

static int
setup(void **state)
{
	(void)state;
	tu_ra_open(&fx, want_pg, 0, "test_ra_export");
	officer(&off1, "EX1", 7);
	officer(&off2, "EX2", 8);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_ra_close(&fx);
	return 0;
}

/* Issues a certificate of kind k for o; serial out. */
static void
issue(const struct ra_officer *o, enum ra_ocert_kind k, const char *cn, const char *admin_name,
      const char *email, const char *replaces, char serial[STORE_SERIAL_MAX])
{
	struct ra_ocert_req q;
	struct ca_issued is;
	struct err e;
	unsigned char *csr;
	int len;

	char subj[300];

	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	csr = k == RA_OCERT_SERVER ? tu_csr(cn, &len)
				   : tu_csr_ex(subj, "email:alice@example.co.jp", &len);
	memset(&q, 0, sizeof(q));
	memset(&is, 0, sizeof(is));
	q.kind = k;
	q.officer = o;
	q.csr = csr;
	q.csrlen = (size_t)len;
	q.admin_name = admin_name;
	q.admin_unit = "情報基盤センター";
	q.admin_email = email;
	q.server_software = k == RA_OCERT_SERVER ? "nginx 1.24" : NULL;
	q.replaces = replaces;
	q.n = &notify;
	err_clear(&e);
	if (ra_ocert_issue(fx.ca.ca, fx.ca.st, &q, &is, &e) == -1)
		fail_msg("issue %s: %s", cn, e.msg);
	snprintf(serial, STORE_SERIAL_MAX, "%s", is.serial);
	ca_issued_clear(&is);
	OPENSSL_free(csr);
}

/* The rows of a UTF-8 text split at sep (each a malloc'ed copy, the separator cut). */
static size_t
split(const char *s, size_t n, const char *sep, char ***out)
{
	size_t k = 0, sl = strlen(sep);
	const char *p = s, *end = s + n, *q;

	*out = NULL;
	while (p < end) {
		q = p;
		while (q < end && (size_t)(end - q) >= sl && memcmp(q, sep, sl) != 0)
			q++;
		if ((size_t)(end - q) < sl)
			q = end;
		*out = realloc(*out, (k + 1) * sizeof(**out));
		(*out)[k] = strndup(p, (size_t)(q - p));
		k++;
		p = q + (q < end ? sl : 0);
	}
	return k;
}

static void
free_rows(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The n-th (0-based) tab-separated field of a row (malloc'ed). */
static char *
field(const char *row, size_t n)
{
	char **v;
	size_t k = split(row, strlen(row), "\t", &v), i;
	char *r;

	assert_true(n < k + 1);
	r = strdup(n < k ? v[n] : "");
	for (i = 0; i < k; i++)
		free(v[i]);
	free(v);
	return r;
}

static size_t
ncols(const char *row)
{
	size_t n = 1;

	for (; *row != '\0'; row++)
		n += *row == '\t';
	return n;
}

/* CP932 bytes back to UTF-8 (malloc'ed). */
static char *
from_cp932(const unsigned char *p, size_t n)
{
	iconv_t cd = iconv_open("UTF-8", "CP932");
	size_t cap = n * 3 + 1, il = n, ol = cap;
	char *out = malloc(cap), *in = (char *)p, *op = out;

	assert_true(cd != (iconv_t)-1);
	assert_true(iconv(cd, &in, &il, &op, &ol) != (size_t)-1);
	*op = '\0';
	iconv_close(cd);
	return out;
}

static void
test_jst(void **state)
{
	char t[20];

	(void)state;
	setenv("TZ", "America/New_York", 1);
	tzset();
	ra_export_jst(0, t);
	assert_string_equal(t, "");
	ra_export_jst(1, t);
	assert_string_equal(t, "1970-01-01 09:00:01");
	ra_export_jst(1735657200, t); /* 2024-12-31 15:00:00 UTC */
	assert_string_equal(t, "2025-01-01 00:00:00");
	ra_export_jst(1719792000, t); /* 2024-07-01 00:00:00 UTC: no DST in Japan */
	assert_string_equal(t, "2024-07-01 09:00:00");
	unsetenv("TZ");
	tzset();
}

static void
test_cp932(void **state)
{
	struct buf b;
	struct err e;
	size_t unm = 0;
	const char *s = "利用管理者 ABC \xe2\x91\xa0 \\~ \xf0\x9f\x98\x80 \xe4\xb8\x82.";

	(void)state;
	buf_init(&b, 1024);
	err_clear(&e);
	OK(ra_export_cp932(s, strlen(s), &b, &unm, &e));
	/* ① is an NEC extension (0x87 0x40); the emoji and 丂 (not in CP932) become '?' */
	assert_int_equal(unm, 2);
	assert_int_equal(b.data[0], 0x97); /* 利 */
	assert_int_equal(b.data[1], 0x98);
	assert_non_null(find_bytes(b.data, b.len, "\x87\x40", 2));
	assert_non_null(find_bytes(b.data, b.len, " \\~ ? ?.", 8));
	buf_free(&b);
}

static void
test_status(void **state)
{
	struct store_cert c;
	struct store_certadmin a;

	(void)state;
	memset(&c, 0, sizeof(c));
	memset(&a, 0, sizeof(a));
	assert_int_equal(ra_export_upki_status(&c, &a), 5);
	a.replaces = "0A";
	assert_int_equal(ra_export_upki_status(&c, &a), 6);
	a.replaces = NULL;
	c.predecessor = "0B";
	assert_int_equal(ra_export_upki_status(&c, &a), 6);
	a.replace_state = "waiting";
	assert_int_equal(ra_export_upki_status(&c, &a), 8);
	c.status = STORE_CERT_REVOKED;
	a.replace_state = "replaced";
	assert_int_equal(ra_export_upki_status(&c, &a), 7);
}

/* The whole walk: issue, renew, revoke; both formats; kinds, organizations, bound, secrets. */
static void
test_export(void **state)
{
	char s1[STORE_SERIAL_MAX], s2[STORE_SERIAL_MAX], s3[STORE_SERIAL_MAX];
	char s4[STORE_SERIAL_MAX], s5[STORE_SERIAL_MAX];
	struct ra_export_opts o;
	struct ra_export_out out;
	struct ra_officer cli = off1;
	struct err e;
	char **rows, *txt, *f;
	size_t n, i;
	int seen[4] = {0};

	(void)state;
	issue(&off1, RA_OCERT_SERVER, "www.example.co.jp", "山田 太郎", "yamada@example.co.jp",
	      NULL, s1);
	issue(&off1, RA_OCERT_SERVER, "www.example.co.jp", "山田 太郎", "yamada@example.co.jp", s1,
	      s2); /* renews s1: s1 waits */
	/* the rules refuse control characters; the writer still never lets one through */
	err_clear(&e);
	assert_int_equal(store_certadmin_admin_set(fx.ca.st, s2, "山田\r\n太郎", "a\tb",
						   "yamada@example.co.jp", &e),
			 1);
	issue(&off1, RA_OCERT_CLIENT, "Alice Example", "Alice \xf0\x9f\x98\x80",
	      "alice@example.co.jp", NULL, s3);
	issue(&off1, RA_OCERT_SERVER, "old.example.co.jp", "", "old@example.co.jp", NULL, s4);
	issue(&off2, RA_OCERT_SERVER, "www.other.example.jp", "", "x@other.example.jp", NULL, s5);
	err_clear(&e);
	OK(ra_ocert_revoke(fx.ca.ca, fx.ca.st, &off1, s4, 1, NULL, &e));

	/* UPKI, every kind */
	memset(&o, 0, sizeof(o));
	o.kinds = 7;
	o.status = -1;
	o.format = RA_EXPORT_UPKI;
	OK(ra_export_certs(fx.ca.ca, fx.ca.st, off1.org_id, &o, &out, &e));
	assert_int_equal(out.rows, 4);
	assert_int_equal(out.unmapped, 1); /* the emoji */
	assert_null(find_bytes(out.data.data, out.data.len, ready_token, strlen(ready_token)));
	txt = from_cp932(out.data.data, out.data.len);
	n = split(txt, strlen(txt), "\r\n", &rows);
	assert_int_equal(n, 5);
	assert_int_equal(ncols(rows[0]), RA_EXPORT_UPKI_COLS);
	assert_non_null(strstr(rows[0], "利用管理者メールアドレス"));
	for (i = 1; i < n; i++) {
		char *serial = field(rows[i], 23), *st = field(rows[i], 11),
		     *pin = field(rows[i], 28);
		char *nb = field(rows[i], 25);

		assert_int_equal(ncols(rows[i]), RA_EXPORT_UPKI_COLS);
		assert_null(strchr(rows[i], '\n'));
		assert_string_equal(pin, "");
		assert_int_equal(strlen(nb), 19);
		assert_int_equal(nb[10], ' ');
		assert_null(strstr(rows[i], s5));
		if (strcmp(serial, s1) == 0) {
			assert_string_equal(st, "8");
			seen[0] = 1;
		} else if (strcmp(serial, s2) == 0) {
			assert_string_equal(st, "6");
			f = field(rows[i], 12);
			assert_string_equal(f, "山田  太郎"); /* CR and LF became spaces */
			free(f);
			f = field(rows[i], 42);
			assert_string_equal(f, s1);
			free(f);
			f = field(rows[i], 13);
			assert_string_equal(f, "a b");
			free(f);
			f = field(rows[i], 16);
			assert_string_equal(f, "nginx 1.24");
			free(f);
			f = field(rows[i], 18);
			assert_string_equal(f, "dNSName=www.example.co.jp");
			free(f);
			seen[1] = 1;
		} else if (strcmp(serial, s3) == 0) {
			assert_string_equal(st, "5");
			f = field(rows[i], 12);
			assert_string_equal(f, "Alice ?");
			free(f);
			seen[2] = 1;
		} else if (strcmp(serial, s4) == 0) {
			assert_string_equal(st, "7");
			f = field(rows[i], 36);
			assert_string_equal(f, "1");
			free(f);
			seen[3] = 1;
		}
		free(serial);
		free(st);
		free(pin);
		free(nb);
	}
	assert_true(seen[0] && seen[1] && seen[2] && seen[3]);
	free_rows(rows, n);
	free(txt);
	ra_export_out_free(&out);

	/* native, servers only, revoked only */
	o.kinds = 1u << RA_OCERT_SERVER;
	o.format = RA_EXPORT_NATIVE;
	o.status = RA_CERT_REVOKED;
	OK(ra_export_certs(fx.ca.ca, fx.ca.st, off1.org_id, &o, &out, &e));
	assert_int_equal(out.rows, 1);
	n = split((const char *)out.data.data, out.data.len, "\n", &rows);
	assert_int_equal(n, 2);
	assert_true(strncmp(rows[0], "serial\tkind\tprofile\tstatus\t", 27) == 0);
	assert_int_equal(ncols(rows[1]), ncols(rows[0]));
	f = field(rows[1], 0);
	assert_string_equal(f, s4);
	free(f);
	f = field(rows[1], 3);
	assert_string_equal(f, "revoked");
	free(f);
	free_rows(rows, n);
	ra_export_out_free(&out);

	/* a client-only officer: no server rows */
	cli.perms = RA_PERM_CLIENT;
	o.kinds = 1u << RA_OCERT_CLIENT;
	o.status = -1;
	OK(ra_export_certs(fx.ca.ca, fx.ca.st, cli.org_id, &o, &out, &e));
	assert_int_equal(out.rows, 1);
	assert_non_null(find_bytes(out.data.data, out.data.len, s3, strlen(s3)));
	ra_export_out_free(&out);

	/* the bound */
	o.kinds = 7;
	o.max = 3;
	err_clear(&e);
	assert_int_equal(ra_export_certs(fx.ca.ca, fx.ca.st, off1.org_id, &o, &out, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_null(out.data.data);

	/* ---- the user administrator's update ---- */
	{
		struct ra_admin_new an = {"新 管理者", "新所属", "new@example.co.jp"};
		struct store_certadmin a;
		struct ra_admin_line *v = NULL;
		size_t nv = 0, changed = 0;
		struct buf tsv;

		err_clear(&e);
		OK(ra_ocert_admin_set(fx.ca.ca, fx.ca.st, &off1, s3, &an, &e));
		memset(&a, 0, sizeof(a));
		OK(store_certadmin_get(fx.ca.st, s3, &a, &e));
		assert_string_equal(a.admin_email, "new@example.co.jp");
		store_certadmin_clear(&a);
		/* another organization's certificate does not exist */
		err_clear(&e);
		assert_int_equal(ra_ocert_admin_set(fx.ca.ca, fx.ca.st, &off1, s5, &an, &e), -1);
		assert_int_equal(e.code, ERR_NOTFOUND);
		/* a bad address */
		an.email = "not an address";
		err_clear(&e);
		assert_int_equal(ra_ocert_admin_set(fx.ca.ca, fx.ca.st, &off1, s3, &an, &e), -1);
		assert_int_equal(e.code, ERR_REFUSED);
		/* by old address: s1 and s2 */
		an.email = "suzuki@example.co.jp";
		err_clear(&e);
		OK(ra_ocert_admin_rename(fx.ca.ca, fx.ca.st, &off1, "yamada@example.co.jp", &an,
					 &changed, &e));
		assert_int_equal(changed, 2);
		OK(store_certadmin_get(fx.ca.st, s1, &a, &e));
		assert_string_equal(a.admin_email, "suzuki@example.co.jp");
		store_certadmin_clear(&a);
		/* TSV: one bad line, nothing changes */
		buf_init(&tsv, 4096);
		buf_printf(&tsv,
			   "admin_email\tserial\tadmin_name\tadmin_unit\n"
			   "t1@example.co.jp\t%s\tT1\tU1\n"
			   "t2@example.co.jp\t%s\tT2\tU2\n",
			   s1, s5);
		err_clear(&e);
		assert_int_equal(ra_ocert_admin_tsv(fx.ca.ca, fx.ca.st, &off1, tsv.data, tsv.len,
						    &v, &nv, &changed, &e),
				 -1);
		assert_int_equal(e.code, ERR_REFUSED);
		assert_int_equal(nv, 2);
		assert_string_equal(v[0].msg, "");
		assert_string_not_equal(v[1].msg, "");
		free(v);
		OK(store_certadmin_get(fx.ca.st, s1, &a, &e));
		assert_string_equal(a.admin_email, "suzuki@example.co.jp");
		store_certadmin_clear(&a);
		/* all good */
		buf_reset(&tsv);
		buf_printf(&tsv,
			   "serial\tadmin_name\tadmin_unit\tadmin_email\r\n"
			   "%s\tT1\tU1\tt1@example.co.jp\r\n"
			   "%s\tT2\tU2\tt2@example.co.jp\r\n",
			   s1, s2);
		err_clear(&e);
		OK(ra_ocert_admin_tsv(fx.ca.ca, fx.ca.st, &off1, tsv.data, tsv.len, &v, &nv,
				      &changed, &e));
		assert_int_equal(changed, 2);
		free(v);
		OK(store_certadmin_get(fx.ca.st, s2, &a, &e));
		assert_string_equal(a.admin_email, "t2@example.co.jp");
		assert_string_equal(a.admin_name, "T2");
		store_certadmin_clear(&a);
		buf_free(&tsv);
		/* audited: 1 + 2 + 2 */
		{
			struct store_audit_filter af = {NULL, "console.admin", 0, 0, 0, 0, 1000};
			struct store_audit *ae = NULL;
			size_t na = 0;

			OK(store_audit_list(fx.ca.st, &af, &ae, &na, &e));
			assert_int_equal(na, 5);
			assert_non_null(strstr(ae[0].detail, "t2@example.co.jp"));
			STORE_LIST_FREE(ae, na, store_audit_clear);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_jst),
	    cmocka_unit_test(test_cp932),
	    cmocka_unit_test(test_status),
	};
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test(test_export),
	};
	int failed = cmocka_run_group_tests_name("ra export", pure, NULL, NULL);

	failed += cmocka_run_group_tests_name("ra export on SQLite", stored, setup, teardown);
	if (tu_pg() == NULL) {
		print_message("SHOMEI_TEST_PG is not set: PostgreSQL skipped "
			      "(run through scripts/with-pg.sh)\n");
		return failed;
	}
	want_pg = 1;
	return failed +
	       cmocka_run_group_tests_name("ra export on PostgreSQL", stored, setup, teardown);
}
