/*
 * ra bulk unit tests: the TSV reader (util/tsv.c: encodings, line ends, limits, hostile bytes)
 * and the dry-run check of bulk lines (ra/bulk.c) for server, client and ACME files in the
 * UPKI and native dialects, each column rule with its code and column.  CSRs are made here
 * (one RSA 2048 and one P-384 key, a few CSRs reused on many lines); CP932 bytes are made
 * from UTF-8 literals with iconv(3).
 */
#include <iconv.h>
#include <time.h>

#include "testutil.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ra/ra.h"
#include "util/b64.h"
#include "util/tsv.h"

#define DN_WWW "CN=www.example.ac.jp,O=Example University,L=Chiyoda-ku,ST=Tokyo,C=JP"

static EVP_PKEY *rsa_key, *ec_key, *p256_key;
/* base64 DER CSRs */
static char *csr_rsa;	  /* DN_WWW, RSA 2048, X.509 order C..CN */
static char *csr_rsa_rev; /* DN_WWW, RSA 2048, the text's order CN..C */
static char *csr_ec;	  /* DN_WWW, P-384 */
static char *csr_p256;	  /* DN_WWW, P-256 (no profile's key) */
static char *csr_other;	  /* CN=other.example.ac.jp, RSA 2048 */
static char *csr_acme_dn; /* the ACME DN (O=Example Univ) is not needed: no CSR there */

/* A CSR for key with the attributes (name, value) in the order given; base64 DER. */
static char *
mk_csr(EVP_PKEY *k, const char *const *attrs)
{
	X509_REQ *rq = X509_REQ_new();
	X509_NAME *n = X509_REQ_get_subject_name(rq);
	unsigned char *der = NULL;
	struct buf b;
	char *out;
	int len;

	for (size_t i = 0; attrs[i] != NULL; i += 2)
		assert_true(X509_NAME_add_entry_by_txt(
		    n, attrs[i], MBSTRING_UTF8, (const unsigned char *)attrs[i + 1], -1, -1, 0));
	assert_true(X509_REQ_set_pubkey(rq, k));
	assert_true(X509_REQ_sign(rq, k, EVP_sha256()) > 0);
	len = i2d_X509_REQ(rq, &der);
	assert_true(len > 0);
	buf_init(&b, 8192);
	assert_int_equal(b64_encode(&b, der, (size_t)len), 0);
	out = xstrdup(buf_cstr(&b));
	buf_free(&b);
	OPENSSL_free(der);
	X509_REQ_free(rq);
	return out;
}

static int
setup(void **state)
{
	const char *fwd[] = {"C",  "JP",
			     "ST", "Tokyo",
			     "L",  "Chiyoda-ku",
			     "O",  "Example University",
			     "CN", "www.example.ac.jp",
			     NULL};
	const char *rev[] = {"CN", "www.example.ac.jp",
			     "O",  "Example University",
			     "L",  "Chiyoda-ku",
			     "ST", "Tokyo",
			     "C",  "JP",
			     NULL};
	const char *oth[] = {"C",  "JP",
			     "ST", "Tokyo",
			     "L",  "Chiyoda-ku",
			     "O",  "Example University",
			     "CN", "other.example.ac.jp",
			     NULL};

	(void)state;
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	p256_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(rsa_key);
	assert_non_null(ec_key);
	assert_non_null(p256_key);
	csr_rsa = mk_csr(rsa_key, fwd);
	csr_rsa_rev = mk_csr(rsa_key, rev);
	csr_ec = mk_csr(ec_key, fwd);
	csr_p256 = mk_csr(p256_key, fwd);
	csr_other = mk_csr(rsa_key, oth);
	csr_acme_dn = NULL;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ec_key);
	EVP_PKEY_free(p256_key);
	free(csr_rsa);
	free(csr_rsa_rev);
	free(csr_ec);
	free(csr_p256);
	free(csr_other);
	return 0;
}

/* UTF-8 s as CP932 bytes (malloc'ed), *len set. */
static unsigned char *
to_cp932(const char *s, size_t *len)
{
	iconv_t cd = iconv_open("CP932", "UTF-8");
	size_t inleft = strlen(s), outleft = 2 * inleft + 1;
	char *in = (char *)s, *out0 = malloc(outleft), *out = out0;

	assert_true(cd != (iconv_t)-1);
	assert_true(iconv(cd, &in, &inleft, &out, &outleft) != (size_t)-1);
	iconv_close(cd);
	*len = (size_t)(out - out0);
	return (unsigned char *)out0;
}

/* Joins n columns with tabs into b (appended), then the line end eol. */
static void
put_line(struct buf *b, const char *const *cols, size_t n, const char *eol)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf_printf(b, "%s%s", i ? "\t" : "", cols[i]), 0);
	assert_int_equal(buf_printf(b, "%s", eol), 0);
}

/* A good UPKI server issue line, as 13 columns (col[6] the CSR). */
static void
server_cols(const char *cols[13], const char *csr)
{
	const char *v[13] = {DN_WWW,
			     "3",
			     "",
			     "",
			     "",
			     "",
			     csr,
			     "Taro Yamada",
			     "Information Center",
			     "admin@example.ac.jp",
			     "www.example.ac.jp",
			     "apache2.4",
			     "dNSName=www.example.ac.jp,dNSName=web.example.ac.jp"};

	memcpy(cols, v, sizeof(v));
}

/* A good UPKI client issue line, as 15 columns. */
static void
client_cols(const char *cols[15])
{
	const char *v[15] = {"CN=Hanako Sato,OU=Faculty of Science,O=Example University,"
			     "L=Chiyoda-ku,ST=Tokyo,C=JP",
			     "5",
			     "1",
			     "",
			     "",
			     "",
			     "",
			     "Taro Yamada",
			     "Information Center",
			     "admin@example.ac.jp",
			     "Hanako Sato",
			     "cert20261206-103000",
			     "Faculty of Science",
			     "hanako@example.ac.jp",
			     ""};

	memcpy(cols, v, sizeof(v));
}

/* ra_bulk_check over b for kind/op/dialect. */
static int
run(struct buf *b, enum ra_bulk_kind k, enum ra_bulk_op op, enum ra_bulk_dialect d,
    struct ra_bulk_result *res, struct err *e)
{
	struct ra_bulk_opts o = {.kind = k, .op = op, .dialect = d};

	err_clear(e);
	return ra_bulk_check(b->data, b->len, &o, res, e);
}

/* The first error of line with code, or NULL. */
static const struct ra_bulk_error *
find_err(const struct ra_bulk_result *r, size_t line, enum ra_bulk_code code)
{
	for (size_t i = 0; i < r->nerrs; i++)
		if (r->errs[i].line == line && r->errs[i].code == code)
			return &r->errs[i];
	return NULL;
}

/* One UPKI server issue line with column col (1-based) replaced by v: expects code there. */
static void
server_expect(enum ra_bulk_op op, int col, const char *v, enum ra_bulk_code code)
{
	const char *cols[13];
	struct ra_bulk_result r;
	const struct ra_bulk_error *er;
	struct buf b;
	struct err e;

	server_cols(cols, csr_rsa);
	if (op == RA_BULK_RENEW)
		cols[3] = "0x1A2b";
	cols[col - 1] = v;
	buf_init(&b, 1 << 20);
	put_line(&b, cols, 13, "\n");
	assert_int_equal(run(&b, RA_BULK_SERVER, op, RA_BULK_UPKI, &r, &e), 0);
	er = find_err(&r, 1, code);
	if (er == NULL)
		fail_msg("column %d \"%.60s\": expected %s, got %zu errors (%s: %s)", col, v,
			 ra_bulk_code_name(code), r.nerrs,
			 r.nerrs ? ra_bulk_code_name(r.errs[0].code) : "-",
			 r.nerrs ? r.errs[0].msg : "-");
	assert_int_equal(er->column, col);
	if (r.nerrs != 1)
		fail_msg("column %d \"%.60s\": %zu errors, the second %s: %s", col, v, r.nerrs,
			 ra_bulk_code_name(r.errs[1].code), r.errs[1].msg);
	assert_int_equal(r.good, 0);
	assert_int_equal(r.bad, 1);
	ra_bulk_result_free(&r);
	buf_free(&b);
}

/* ---- the reader ---- */

static void
test_tsv_utf8_line_ends(void **state)
{
	static const char lf[] = "a\tb\tc\nd\te\tf\n";
	static const char crlf[] = "a\tb\tc\r\nd\te\tf\r\n";
	static const char nofinal[] = "a\tb\tc\r\nd\te\tf";
	static const char bom[] = "\xef\xbb\xbf"
				  "a\tb\tc\nd\te\tf\n\n\n \t\n";
	const char *texts[] = {lf, crlf, nofinal, bom};
	struct tsv_doc d;
	struct err e;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		err_clear(&e);
		assert_int_equal(
		    tsv_read((const unsigned char *)texts[i], strlen(texts[i]), NULL, 0, &d, &e),
		    0);
		assert_int_equal(d.encoding, i == 3 ? TSV_ENC_UTF8_BOM : TSV_ENC_UTF8);
		assert_int_equal(d.nlines, 2);
		assert_int_equal(d.lines[1].lineno, 2);
		assert_int_equal(d.lines[1].ncols, 3);
		assert_string_equal(d.lines[0].cols[0], "a"); /* no BOM left */
		assert_string_equal(d.lines[1].cols[2], "f"); /* no CR left */
		tsv_doc_free(&d);
	}
	assert_string_equal(tsv_encoding_name(TSV_ENC_CP932), "CP932");
	assert_string_equal(tsv_encoding_name(TSV_ENC_UTF8_BOM), "UTF-8 (BOM)");
	/* blank lines inside are skipped, their numbers count */
	err_clear(&e);
	assert_int_equal(tsv_read((const unsigned char *)"x\n\n\t\ny\tz\n", 9, NULL, 0, &d, &e), 0);
	assert_int_equal(d.nlines, 2);
	assert_int_equal(d.lines[1].lineno, 4);
	assert_int_equal(d.lines[1].ncols, 2);
	tsv_doc_free(&d);
	/* empty values keep their columns */
	err_clear(&e);
	assert_int_equal(tsv_read((const unsigned char *)"\t\tq\t", 4, NULL, 0, &d, &e), 0);
	assert_int_equal(d.lines[0].ncols, 4);
	assert_string_equal(d.lines[0].cols[2], "q");
	assert_string_equal(d.lines[0].cols[3], "");
	tsv_doc_free(&d);
}

static void
test_tsv_cp932(void **state)
{
	const char *utf8 = "山田\t太郎\r\nｶﾀｶﾅ\t情報基盤センター\\\r\n";
	unsigned char *sj;
	size_t n;
	struct tsv_doc d;
	struct err e;

	(void)state;
	sj = to_cp932(utf8, &n);
	err_clear(&e);
	assert_int_equal(tsv_read(sj, n, NULL, 0, &d, &e), 0);
	assert_int_equal(d.encoding, TSV_ENC_CP932);
	assert_int_equal(d.nlines, 2);
	assert_string_equal(d.lines[0].cols[0], "山田");
	assert_string_equal(d.lines[1].cols[0], "ｶﾀｶﾅ");
	assert_string_equal(d.lines[1].cols[1], "情報基盤センター\\"); /* 0x5C stays a backslash */
	tsv_doc_free(&d);
	/* UTF-8 only: the same bytes refused */
	err_clear(&e);
	tu_expect_prefix(tsv_read(sj, n, NULL, TSV_UTF8_ONLY, &d, &e), &e, "tsv: line 1, byte 1: ");
	assert_int_equal(e.kind, TSV_ERR_NOT_UTF8);
	tsv_doc_free(&d);
	free(sj);
	/* broken Shift_JIS on line 2: a lead byte followed by a tab */
	err_clear(&e);
	assert_int_equal(tsv_read((const unsigned char *)"ab\tc\nxy\x82\tz\n", 11, NULL, 0, &d, &e),
			 -1);
	assert_int_equal(d.error, TSV_ERR_ENCODING);
	assert_int_equal(e.kind, TSV_ERR_ENCODING);
	assert_int_equal(d.err_line, 2);
	assert_int_equal(d.err_byte, 3);
	assert_string_equal(e.msg, "tsv: line 2, byte 3: neither UTF-8 nor a valid CP932 "
				   "(Shift_JIS) character");
	tsv_doc_free(&d);
	/* a lead byte at the very end */
	err_clear(&e);
	assert_int_equal(tsv_read((const unsigned char *)"a\n\x81", 3, NULL, 0, &d, &e), -1);
	assert_int_equal(d.error, TSV_ERR_ENCODING);
	assert_int_equal(d.err_line, 2);
	tsv_doc_free(&d);
	/* a BOM, then bytes that are not UTF-8 */
	err_clear(&e);
	assert_int_equal(
	    tsv_read((const unsigned char *)"\xef\xbb\xbfok\n\x82\xa0", 8, NULL, 0, &d, &e), -1);
	assert_int_equal(d.error, TSV_ERR_ENCODING);
	assert_int_equal(d.err_line, 2);
	tsv_doc_free(&d);
}

static void
test_tsv_refusals(void **state)
{
	struct tsv_limits lim = {
	    .max_bytes = 100, .max_lines = 3, .max_field = 10, .max_columns = 4};
	struct tsv_doc d;
	struct err e;
	struct {
		const char *s;
		size_t n;
		enum tsv_error code;
		size_t line;
	} cases[] = {
	    {"", 0, TSV_ERR_EMPTY, 0},
	    {"\n\r\n \t\n", 6, TSV_ERR_EMPTY, 0},
	    {"a\tb\nc\0d\n", 8, TSV_ERR_BINARY, 2},
	    {"a\x01", 2, TSV_ERR_BINARY, 1},
	    {"a\x7f", 2, TSV_ERR_BINARY, 1},
	    {"a\xc2\x85", 3, TSV_ERR_BINARY, 1}, /* C1 NEL */
	    {"\xff\xfe"
	     "a\0",
	     4, TSV_ERR_UTF16, 1},
	    {"a\rb\n", 4, TSV_ERR_LONE_CR, 1},
	    {"a\n\nb\rc\n", 7, TSV_ERR_LONE_CR, 3},
	    {"a\r", 2, TSV_ERR_LONE_CR, 1},
	    {"1\n2\n3\n4\n", 8, TSV_ERR_TOO_MANY_LINES, 4},
	    {"a\tb\tc\td\te\n", 10, TSV_ERR_TOO_MANY_COLUMNS, 1},
	    {"x\n0123456789A\n", 14, TSV_ERR_FIELD_TOO_LONG, 2},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err_clear(&e);
		if (tsv_read((const unsigned char *)cases[i].s, cases[i].n, &lim, 0, &d, &e) !=
			-1 ||
		    d.error != cases[i].code || (int)e.kind != (int)cases[i].code ||
		    d.err_line != cases[i].line || e.code != ERR_REFUSED)
			fail_msg("case %zu: expected %s at line %zu, got %s at %zu: %s", i,
				 tsv_error_name(cases[i].code), cases[i].line,
				 tsv_error_name(d.error), d.err_line, e.msg);
		assert_null(d.lines);
		tsv_doc_free(&d);
	}
	/* trailing blank lines do not count against the line limit */
	err_clear(&e);
	assert_int_equal(tsv_read((const unsigned char *)"1\n2\n3\n\n\n\n\n", 10, &lim, 0, &d, &e),
			 0);
	assert_int_equal(d.nlines, 3);
	tsv_doc_free(&d);
	/* over the byte limit */
	{
		unsigned char big[101];

		memset(big, 'a', sizeof(big));
		err_clear(&e);
		tu_expect_prefix(tsv_read(big, sizeof(big), &lim, 0, &d, &e), &e,
				 "tsv: the file has 101 bytes, more than the limit of 100");
		assert_int_equal(d.error, TSV_ERR_TOO_LARGE);
	}
	/* the default size limit: 16 MiB + 1 */
	{
		size_t n = TSV_MAX_BYTES_DEFAULT + 1;
		unsigned char *big = malloc(n);

		memset(big, 'a', n);
		err_clear(&e);
		assert_int_equal(tsv_read(big, n, NULL, 0, &d, &e), -1);
		assert_int_equal(d.error, TSV_ERR_TOO_LARGE);
		free(big);
	}
}

/* One million empty lines: one clear error, fast, no allocation per line. */
static void
test_tsv_million_empty_lines(void **state)
{
	size_t n = 2000000;
	unsigned char *p = malloc(n);
	struct ra_bulk_result r;
	struct ra_bulk_opts o = {
	    .kind = RA_BULK_SERVER, .op = RA_BULK_ISSUE, .dialect = RA_BULK_UPKI};
	struct tsv_doc d;
	struct err e;
	clock_t t0;

	(void)state;
	for (size_t i = 0; i < n; i += 2) {
		p[i] = '\r';
		p[i + 1] = '\n';
	}
	t0 = clock();
	err_clear(&e);
	assert_int_equal(tsv_read(p, n, NULL, 0, &d, &e), -1);
	assert_int_equal(d.error, TSV_ERR_EMPTY);
	assert_string_equal(e.msg, "tsv: no data: the file holds only blank lines (1000000)");
	tsv_doc_free(&d);
	err_clear(&e);
	assert_int_equal(ra_bulk_check(p, n, &o, &r, &e), -1);
	assert_int_equal(r.nerrs, 1);
	assert_int_equal(r.errs[0].code, RA_BULK_E_FILE);
	assert_int_equal(r.errs[0].tsv, TSV_ERR_EMPTY);
	assert_int_equal(r.total, 0);
	ra_bulk_result_free(&r);
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 0.5);
	/* 1,000,000 LF lines too: more than 16 MiB is not needed to get there */
	memset(p, '\n', n / 2);
	err_clear(&e);
	assert_int_equal(tsv_read(p, n / 2, NULL, 0, &d, &e), -1);
	assert_int_equal(d.error, TSV_ERR_EMPTY);
	tsv_doc_free(&d);
	free(p);
}

/* ---- server files ---- */

static void
test_bulk_server_good(void **state)
{
	const char *cols[13];
	struct ra_bulk_result r;
	struct ra_bulk_summary s;
	struct buf b;
	struct err e;

	(void)state;
	buf_init(&b, 1 << 20);
	server_cols(cols, csr_rsa);
	put_line(&b, cols, 13, "\n");
	/* P-384, upper-case CN, FQDN and dNSName (folded), FQDN not listed: added first */
	server_cols(cols, csr_ec);
	cols[0] = "CN=WWW.Example.AC.JP, O=Example University, L=Chiyoda-ku, ST=Tokyo, C=JP";
	cols[1] = "11";
	cols[10] = "WWW.EXAMPLE.AC.JP";
	cols[12] = "dNSName=Mail.Example.AC.JP";
	put_line(&b, cols, 13, "\n");
	/* the CSR's subject in the text's order; no dNSName; no admin name */
	server_cols(cols, csr_rsa_rev);
	cols[7] = cols[8] = cols[12] = "";
	put_line(&b, cols, 13, ""); /* no final newline */
	assert_int_equal(run(&b, RA_BULK_SERVER, RA_BULK_ISSUE, RA_BULK_UPKI, &r, &e), 0);
	if (r.nerrs > 0)
		fail_msg("line %zu: %s", r.errs[0].line, r.errs[0].msg);
	assert_int_equal(r.good, 3);
	assert_int_equal(r.nrecs, 3);
	assert_string_equal(r.recs[0].subject_dn, DN_WWW);
	assert_string_equal(r.recs[0].profile, "server");
	assert_int_equal(r.recs[0].profile_id, 3);
	assert_non_null(r.recs[0].csr);
	assert_int_equal(r.recs[0].ndns, 2);
	assert_string_equal(r.recs[0].dns[0], "www.example.ac.jp");
	assert_string_equal(r.recs[0].dns[1], "web.example.ac.jp");
	assert_string_equal(r.recs[0].admin_name, "Taro Yamada");
	assert_string_equal(r.recs[0].server_software, "apache2.4");
	assert_string_equal(r.recs[0].serial, "");
	assert_int_equal(r.recs[0].reason, -1);
	assert_string_equal(r.recs[1].subject_dn, DN_WWW);
	assert_int_equal(r.recs[1].profile_id, 11);
	assert_string_equal(r.recs[1].fqdn, "www.example.ac.jp");
	assert_int_equal(r.recs[1].ndns, 2);
	assert_string_equal(r.recs[1].dns[0], "www.example.ac.jp");
	assert_string_equal(r.recs[1].dns[1], "mail.example.ac.jp");
	assert_int_equal(r.recs[2].line, 3);
	assert_null(r.recs[2].admin_name);
	assert_int_equal(r.recs[2].ndns, 1);
	ra_bulk_summary(&r, &s);
	assert_int_equal(s.total, 3);
	assert_int_equal(s.good, 3);
	assert_int_equal(s.bad, 0);
	assert_string_equal(s.encoding_name, "UTF-8");
	ra_bulk_result_free(&r);
	buf_free(&b);
}

/* A CP932 file with CRLF and full-width Japanese administrator names. */
static void
test_bulk_server_cp932(void **state)
{
	const char *cols[13];
	struct ra_bulk_result r;
	struct ra_bulk_summary s;
	struct ra_bulk_opts o = {
	    .kind = RA_BULK_SERVER, .op = RA_BULK_ISSUE, .dialect = RA_BULK_UPKI};
	unsigned char *sj;
	size_t n;
	struct buf b;
	struct err e;

	(void)state;
	buf_init(&b, 1 << 20);
	server_cols(cols, csr_rsa);
	cols[7] = "山田　太郎";
	cols[8] = "情報基盤センター（ＩＴ）";
	put_line(&b, cols, 13, "\r\n");
	cols[7] = "ｻﾄｳ ﾊﾅｺ";
	cols[9] = "not-an-address";
	put_line(&b, cols, 13, "\r\n");
	sj = to_cp932(buf_cstr(&b), &n);
	err_clear(&e);
	assert_int_equal(ra_bulk_check(sj, n, &o, &r, &e), 0);
	ra_bulk_summary(&r, &s);
	assert_int_equal(s.encoding, TSV_ENC_CP932);
	assert_string_equal(s.encoding_name, "CP932");
	assert_int_equal(s.total, 2);
	assert_int_equal(s.good, 1);
	assert_int_equal(s.bad, 1);
	assert_string_equal(r.recs[0].admin_name, "山田　太郎");
	assert_string_equal(r.recs[0].admin_unit, "情報基盤センター（ＩＴ）");
	assert_non_null(find_err(&r, 2, RA_BULK_E_EMAIL));
	assert_int_equal(find_err(&r, 2, RA_BULK_E_EMAIL)->column, 10);
	assert_int_equal(find_err(&r, 2, RA_BULK_E_EMAIL)->col, RA_BULK_COL_ADMIN_EMAIL);
	assert_string_equal(ra_bulk_col_name_ja(RA_BULK_COL_ADMIN_EMAIL),
			    "利用管理者メールアドレス");
	ra_bulk_result_free(&r);
	/* the native dialect is UTF-8 only */
	o.dialect = RA_BULK_NATIVE;
	err_clear(&e);
	assert_int_equal(ra_bulk_check(sj, n, &o, &r, &e), -1);
	assert_int_equal(r.errs[0].code, RA_BULK_E_FILE);
	assert_int_equal(r.errs[0].tsv, TSV_ERR_NOT_UTF8);
	ra_bulk_result_free(&r);
	/* broken Shift_JIS: the error names the line */
	sj[n - 3] = 0x81; /* a lead byte before the CR of the last line */
	o.dialect = RA_BULK_UPKI;
	err_clear(&e);
	assert_int_equal(ra_bulk_check(sj, n, &o, &r, &e), -1);
	assert_int_equal(r.nerrs, 1);
	assert_int_equal(r.errs[0].tsv, TSV_ERR_ENCODING);
	assert_int_equal(r.errs[0].line, 2);
	assert_non_null(strstr(e.msg, "line 2, byte "));
	ra_bulk_result_free(&r);
	free(sj);
	buf_free(&b);
}

static void
test_bulk_columns(void **state)
{
	const char *cols[13];
	struct ra_bulk_result r;
	struct buf b;
	struct err e;
	char admin[64];

	(void)state;
	buf_init(&b, 1 << 20);
	server_cols(cols, csr_rsa);
	put_line(&b, cols, 12, "\n"); /* one short */
	/* a tab inside a value makes one more column */
	snprintf(admin, sizeof(admin), "Taro\tYamada");
	cols[7] = admin;
	put_line(&b, cols, 13, "\n");
	cols[7] = "Taro Yamada";
	put_line(&b, cols, 13, "\n"); /* good */
	cols[2] = "x";		      /* an unused column */
	put_line(&b, cols, 13, "\n");
	assert_int_equal(run(&b, RA_BULK_SERVER, RA_BULK_ISSUE, RA_BULK_UPKI, &r, &e), 0);
	assert_int_equal(r.total, 4);
	assert_int_equal(r.good, 1);
	assert_int_equal(r.bad, 3);
	assert_non_null(find_err(&r, 1, RA_BULK_E_COLUMNS));
	assert_string_equal(find_err(&r, 1, RA_BULK_E_COLUMNS)->msg,
			    "12 columns, but a server line has 13 (a tab inside a value makes one "
			    "more)");
	assert_non_null(find_err(&r, 2, RA_BULK_E_COLUMNS));
	assert_int_equal(find_err(&r, 2, RA_BULK_E_COLUMNS)->column, 0);
	assert_non_null(find_err(&r, 4, RA_BULK_E_NOT_EMPTY));
	assert_int_equal(find_err(&r, 4, RA_BULK_E_NOT_EMPTY)->column, 3);
	assert_int_equal(r.recs[0].line, 3);
	ra_bulk_result_free(&r);
	/* a client file needs 15 */
	assert_int_equal(run(&b, RA_BULK_CLIENT, RA_BULK_ISSUE, RA_BULK_UPKI, &r, &e), 0);
	assert_int_equal(r.bad, 4);
	ra_bulk_result_free(&r);
	/* acme has no "issue" */
	assert_int_equal(run(&b, RA_BULK_ACME, RA_BULK_ISSUE, RA_BULK_UPKI, &r, &e), -1);
	assert_int_equal(r.errs[0].code, RA_BULK_E_USAGE);
	ra_bulk_result_free(&r);
	buf_free(&b);
}

/* Every column rule of server issue (and renew), with the code and the column it names. */
static void
test_bulk_server_rules(void **state)
{
	char longv[300];

	(void)state;
	/* 1 subject DN */
	server_expect(RA_BULK_ISSUE, 1, "", RA_BULK_E_REQUIRED);
	server_expect(RA_BULK_ISSUE, 1,
		      "CN=www.example.ac.jp,O=Example University,L=Chiyoda-ku,"
		      "C=JP,ST=Tokyo",
		      RA_BULK_E_DN_ORDER);
	server_expect(RA_BULK_ISSUE, 1, "CN=www.example.ac.jp,O=Example University,ST=Tokyo,C=JP",
		      RA_BULK_E_DN_ORDER);
	server_expect(RA_BULK_ISSUE, 1,
		      "CN=www.example.ac.jp,OU=IT,O=Example University,"
		      "L=Chiyoda-ku,ST=Tokyo,C=JP",
		      RA_BULK_E_DN_ATTRIBUTE);
	server_expect(RA_BULK_ISSUE, 1,
		      "CN=www.example.ac.jp,emailAddress=a@example.ac.jp,"
		      "O=Example University,L=Chiyoda-ku,ST=Tokyo,C=JP",
		      RA_BULK_E_DN_ATTRIBUTE);
	server_expect(RA_BULK_ISSUE, 1,
		      "CN=www.example.ac.jp,O=Example University,L=Chiyoda-ku,"
		      "ST=Tokyo,C=US",
		      RA_BULK_E_DN_VALUE);
	server_expect(RA_BULK_ISSUE, 1,
		      "CN=-www.example.ac.jp,O=Example University,L=Chiyoda-ku,"
		      "ST=Tokyo,C=JP",
		      RA_BULK_E_DN_VALUE);
	server_expect(RA_BULK_ISSUE, 1,
		      "CN=www_x.example.ac.jp,O=Example University,"
		      "L=Chiyoda-ku,ST=Tokyo,C=JP",
		      RA_BULK_E_DN_VALUE);
	server_expect(RA_BULK_ISSUE, 1,
		      "CN=www.example.ac.jp,O=Example University;,"
		      "L=Chiyoda-ku,ST=Tokyo,C=JP",
		      RA_BULK_E_DN_VALUE);
	server_expect(RA_BULK_ISSUE, 1, "www.example.ac.jp", RA_BULK_E_DN_SYNTAX);
	memset(longv, 'a', 251);
	longv[251] = '\0';
	server_expect(RA_BULK_ISSUE, 1, longv, RA_BULK_E_TOO_LONG);
	/* 2 profile */
	server_expect(RA_BULK_ISSUE, 2, "", RA_BULK_E_REQUIRED);
	server_expect(RA_BULK_ISSUE, 2, "5", RA_BULK_E_PROFILE);
	server_expect(RA_BULK_ISSUE, 2, "rsa2048", RA_BULK_E_PROFILE); /* native only */
	/* 3-6 empty for issue */
	server_expect(RA_BULK_ISSUE, 4, "12", RA_BULK_E_NOT_EMPTY);
	server_expect(RA_BULK_ISSUE, 5, "1", RA_BULK_E_NOT_EMPTY);
	/* 7 CSR */
	server_expect(RA_BULK_ISSUE, 7, "", RA_BULK_E_REQUIRED);
	server_expect(RA_BULK_ISSUE, 7, "not base64!", RA_BULK_E_CSR);
	server_expect(RA_BULK_ISSUE, 7, "AAAA", RA_BULK_E_CSR);
	server_expect(RA_BULK_ISSUE, 7, csr_ec, RA_BULK_E_CSR_KEY);   /* profile 3, P-384 */
	server_expect(RA_BULK_ISSUE, 7, csr_p256, RA_BULK_E_CSR_KEY); /* no profile's key */
	server_expect(RA_BULK_ISSUE, 7, csr_other, RA_BULK_E_CSR_SUBJECT);
	/* 8, 9 names: at most 64 characters (full-width count as one) */
	memset(longv, 0, sizeof(longv));
	for (int i = 0; i < 65; i++)
		memcpy(longv + 3 * i, "山", 3);
	server_expect(RA_BULK_ISSUE, 8, longv, RA_BULK_E_TOO_LONG);
	server_expect(RA_BULK_ISSUE, 9, longv, RA_BULK_E_TOO_LONG);
	/* 10 e-mail */
	server_expect(RA_BULK_ISSUE, 10, "", RA_BULK_E_REQUIRED);
	server_expect(RA_BULK_ISSUE, 10, "admin@localhost", RA_BULK_E_EMAIL);
	server_expect(RA_BULK_ISSUE, 10, "a..b@example.ac.jp", RA_BULK_E_EMAIL);
	/* 11 FQDN */
	server_expect(RA_BULK_ISSUE, 11, "", RA_BULK_E_REQUIRED);
	server_expect(RA_BULK_ISSUE, 11, "web.example.ac.jp", RA_BULK_E_FQDN);
	server_expect(RA_BULK_ISSUE, 11, "www..example.ac.jp", RA_BULK_E_FQDN);
	/* 12 server software */
	server_expect(RA_BULK_ISSUE, 12, "", RA_BULK_E_REQUIRED);
	/* 13 dNSName */
	server_expect(RA_BULK_ISSUE, 13, "dNSName=a.example.ac.jp,", RA_BULK_E_DNS_NAME);
	server_expect(RA_BULK_ISSUE, 13, "a.example.ac.jp", RA_BULK_E_DNS_NAME);
	server_expect(RA_BULK_ISSUE, 13, "dNSName=*.example.ac.jp", RA_BULK_E_DNS_NAME);
	server_expect(RA_BULK_ISSUE, 13, "dNSName=a.example.ac.jp,dNSName=A.example.ac.jp",
		      RA_BULK_E_DNS_DUPLICATE);
	server_expect(RA_BULK_ISSUE, 13,
		      "dNSName=a1.example.ac.jp,dNSName=a2.example.ac.jp,dNSName=a3.example.ac.jp,"
		      "dNSName=a4.example.ac.jp,dNSName=a5.example.ac.jp,dNSName=a6.example.ac.jp,"
		      "dNSName=a7.example.ac.jp,dNSName=a8.example.ac.jp,dNSName=a9.example.ac.jp",
		      RA_BULK_E_DNS_COUNT);
	/* renew: 4 serial */
	server_expect(RA_BULK_RENEW, 4, "", RA_BULK_E_REQUIRED);
	server_expect(RA_BULK_RENEW, 4, "0x", RA_BULK_E_SERIAL);
	server_expect(RA_BULK_RENEW, 4, "12ab", RA_BULK_E_SERIAL);
	server_expect(RA_BULK_RENEW, 4, "0", RA_BULK_E_SERIAL);
	server_expect(RA_BULK_RENEW, 4, "-5", RA_BULK_E_SERIAL);
	server_expect(RA_BULK_RENEW, 4, "0x0102030405060708090a0b0c0d0e0f101112131415",
		      RA_BULK_E_SERIAL);
	memset(longv, '1', 51);
	longv[51] = '\0';
	server_expect(RA_BULK_RENEW, 4, longv, RA_BULK_E_TOO_LONG);
}

/* The same CSR on several lines is parsed once; each line is still compared with its own DN. */
static void
test_bulk_csr_reuse(void **state)
{
	const char *cols[13];
	struct ra_bulk_result r;
	struct buf b;
	struct err e;

	(void)state;
	buf_init(&b, 1 << 20);
	for (int i = 0; i < 3; i++) {
		server_cols(cols, csr_rsa);
		put_line(&b, cols, 13, "\n"); /* 1, 4, 7 good */
		cols[0] = "CN=other.example.ac.jp,O=Example University,L=Chiyoda-ku,ST=Tokyo,C=JP";
		cols[10] = "other.example.ac.jp";
		cols[12] = "";
		put_line(&b, cols, 13, "\n"); /* 2, 5, 8 the CSR is www's */
		cols[6] = "MIIB";
		put_line(&b, cols, 13, "\n"); /* 3, 6, 9 not a CSR */
	}
	assert_int_equal(run(&b, RA_BULK_SERVER, RA_BULK_ISSUE, RA_BULK_UPKI, &r, &e), 0);
	assert_int_equal(r.good, 3);
	for (size_t l = 1; l <= 9; l += 3) {
		assert_int_equal(r.recs[l / 3].line, l);
		assert_non_null(find_err(&r, l + 1, RA_BULK_E_CSR_SUBJECT));
		assert_non_null(find_err(&r, l + 2, RA_BULK_E_CSR));
	}
	ra_bulk_result_free(&r);
	buf_free(&b);
}

static void
test_bulk_revoke_renew(void **state)
{
	const char *cols[13] = {DN_WWW, "", "", "12345678901234567890", "1", "", "", "", "", "",
				"",	"", ""};
	struct ra_bulk_result r;
	struct buf b;
	struct err e;

	(void)state;
	buf_init(&b, 1 << 20);
	put_line(&b, cols, 13, "\n"); /* 1 good: decimal serial */
	cols[3] = "0xabCDef";
	cols[4] = "0";
	cols[5] = "the host was retired";
	cols[9] = "new-admin@example.ac.jp";
	put_line(&b, cols, 13, "\n"); /* 2 good: reason 0 with a comment */
	cols[5] = "";
	put_line(&b, cols, 13, "\n"); /* 3 reason 0 without a comment */
	cols[4] = "2";
	put_line(&b, cols, 13, "\n"); /* 4 reason 2 */
	cols[4] = "5";
	cols[6] = csr_rsa;
	put_line(&b, cols, 13, "\n"); /* 5 a CSR in a revocation */
	cols[6] = "";
	cols[4] = "";
	put_line(&b, cols, 13, "\n"); /* 6 no reason */
	cols[4] = "1";
	cols[1] = "rsa";
	put_line(&b, cols, 13, "\n"); /* 7 a profile in a revocation: one error, not two */
	assert_int_equal(run(&b, RA_BULK_SERVER, RA_BULK_REVOKE, RA_BULK_UPKI, &r, &e), 0);
	assert_int_equal(r.good, 2);
	assert_int_equal(r.bad, 5);
	assert_int_equal(find_err(&r, 7, RA_BULK_E_NOT_EMPTY)->column, 2);
	assert_null(find_err(&r, 7, RA_BULK_E_PROFILE));
	assert_int_equal(r.errs[r.nerrs - 1].line, 7);
	assert_int_equal(r.errs[r.nerrs - 2].line, 6);
	assert_string_equal(r.recs[0].serial, "AB54A98CEB1F0AD2");
	assert_int_equal(r.recs[0].reason, 1);
	assert_string_equal(r.recs[1].serial, "ABCDEF");
	assert_int_equal(r.recs[1].reason, 0);
	assert_string_equal(r.recs[1].comment, "the host was retired");
	assert_string_equal(r.recs[1].admin_email, "new-admin@example.ac.jp");
	assert_int_equal(find_err(&r, 3, RA_BULK_E_COMMENT_REQUIRED)->column, 6);
	assert_int_equal(find_err(&r, 4, RA_BULK_E_REASON)->column, 5);
	assert_int_equal(find_err(&r, 5, RA_BULK_E_NOT_EMPTY)->column, 7);
	assert_int_equal(find_err(&r, 6, RA_BULK_E_REQUIRED)->column, 5);
	ra_bulk_result_free(&r);
	buf_free(&b);
	/* renew: the serial and a good line */
	{
		const char *c2[13];

		buf_init(&b, 1 << 20);
		server_cols(c2, csr_ec);
		c2[1] = "11";
		c2[3] = "0x00FF";
		put_line(&b, c2, 13, "\n");
		assert_int_equal(run(&b, RA_BULK_SERVER, RA_BULK_RENEW, RA_BULK_UPKI, &r, &e), 0);
		assert_int_equal(r.good, 1);
		assert_string_equal(r.recs[0].serial, "FF");
		ra_bulk_result_free(&r);
		buf_free(&b);
	}
}

/* ---- client files ---- */

static void
test_bulk_client(void **state)
{
	const char *cols[15];
	struct ra_bulk_result r;
	struct buf b;
	struct err e;

	(void)state;
	buf_init(&b, 1 << 20);
	client_cols(cols);
	put_line(&b, cols, 15, "\n"); /* 1 good, e-mail in 14 */
	cols[2] = "2";
	cols[13] = "PIN-1234";
	cols[14] = "hanako@example.ac.jp";
	put_line(&b, cols, 15, "\n"); /* 2 good: the other layout, e-mail in 15, PIN in 14 */
	cols[13] = "hanako@example.ac.jp";
	cols[14] = "other@example.ac.jp";
	put_line(&b, cols, 15, "\n"); /* 3 both addresses: ambiguous */
	cols[13] = "hanako@example.ac.jp";
	cols[14] = "s3cret!";
	put_line(&b, cols, 15, "\n"); /* 4 good: PIN with method 2 */
	cols[2] = "1";
	put_line(&b, cols, 15, "\n"); /* 5 a PIN with method 1 */
	cols[14] = "";
	cols[13] = "";
	put_line(&b, cols, 15, "\n"); /* 6 method 1 without the holder e-mail */
	cols[2] = "4";
	cols[13] = "hanako@example.ac.jp";
	put_line(&b, cols, 15, "\n"); /* 7 method 4 */
	/* 8 S/MIME: the CN is the address, the holder e-mail defaults to it */
	client_cols(cols);
	cols[0] = "CN=hanako@example.ac.jp,O=Example University,L=Chiyoda-ku,ST=Tokyo,C=JP";
	cols[1] = "7";
	cols[13] = "";
	put_line(&b, cols, 15, "\n");
	cols[13] = "other@example.ac.jp";
	put_line(&b, cols, 15, "\n"); /* 9 S/MIME, another holder address */
	client_cols(cols);
	cols[1] = "7";
	put_line(&b, cols, 15, "\n"); /* 10 S/MIME with a name as CN */
	client_cols(cols);
	cols[0] = "CN=Hanako Sato,OU=Sci,OU=Math,O=Example University,L=Chiyoda-ku,ST=Tokyo,C=JP";
	put_line(&b, cols, 15, "\n"); /* 11 two OUs */
	client_cols(cols);
	cols[0] = "CN=佐藤花子,O=Example University,L=Chiyoda-ku,ST=Tokyo,C=JP";
	put_line(&b, cols, 15, "\n"); /* 12 full-width CN */
	client_cols(cols);
	cols[11] = "cert 2026";
	put_line(&b, cols, 15, "\n"); /* 13 a blank in the file name */
	client_cols(cols);
	cols[6] = "x";
	put_line(&b, cols, 15, "\n"); /* 14 column 7 unused */
	assert_int_equal(run(&b, RA_BULK_CLIENT, RA_BULK_ISSUE, RA_BULK_UPKI, &r, &e), 0);
	assert_int_equal(r.total, 14);
	assert_int_equal(r.good, 4);
	assert_int_equal(r.recs[0].line, 1);
	assert_string_equal(r.recs[0].profile, "client");
	assert_int_equal(r.recs[0].profile_id, 5);
	assert_int_equal(r.recs[0].download, 1);
	assert_string_equal(r.recs[0].holder_email, "hanako@example.ac.jp");
	assert_int_equal(r.recs[0].holder_email_column, 14);
	assert_null(r.recs[0].pin);
	assert_string_equal(r.recs[0].p12_name, "cert20261206-103000");
	assert_string_equal(r.recs[0].subject_dn,
			    "CN=Hanako Sato,OU=Faculty of Science,"
			    "O=Example University,L=Chiyoda-ku,ST=Tokyo,C=JP");
	assert_int_equal(r.recs[1].line, 2);
	assert_string_equal(r.recs[1].holder_email, "hanako@example.ac.jp");
	assert_string_equal(r.recs[1].pin, "PIN-1234");
	assert_int_equal(r.recs[1].holder_email_column, 15);
	assert_int_equal(r.recs[2].line, 4);
	assert_string_equal(r.recs[2].pin, "s3cret!");
	assert_int_equal(r.recs[2].holder_email_column, 14);
	assert_int_equal(r.recs[3].line, 8);
	assert_int_equal(r.recs[3].smime, 1);
	assert_string_equal(r.recs[3].profile, "client");
	assert_string_equal(r.recs[3].holder_email, "hanako@example.ac.jp");
	assert_int_equal(find_err(&r, 3, RA_BULK_E_AMBIGUOUS)->column, 14);
	assert_int_equal(find_err(&r, 5, RA_BULK_E_PIN)->column, 15);
	assert_null(strstr(find_err(&r, 5, RA_BULK_E_PIN)->msg, "s3cret"));
	assert_int_equal(find_err(&r, 6, RA_BULK_E_REQUIRED)->column, 14);
	assert_int_equal(find_err(&r, 7, RA_BULK_E_DOWNLOAD)->column, 3);
	assert_non_null(find_err(&r, 9, RA_BULK_E_EMAIL));
	assert_non_null(find_err(&r, 10, RA_BULK_E_DN_VALUE));
	assert_non_null(find_err(&r, 11, RA_BULK_E_DN_ORDER));
	assert_non_null(find_err(&r, 12, RA_BULK_E_DN_VALUE));
	assert_int_equal(find_err(&r, 13, RA_BULK_E_P12_NAME)->column, 12);
	assert_int_equal(find_err(&r, 14, RA_BULK_E_NOT_EMPTY)->column, 7);
	ra_bulk_result_free(&r);
	buf_free(&b);
	/* revoke: the PIN column must be empty, the serial is required */
	buf_init(&b, 1 << 20);
	client_cols(cols);
	cols[3] = "0x10";
	cols[4] = "4";
	put_line(&b, cols, 15, "\n");
	cols[3] = "";
	cols[14] = "pin12345";
	put_line(&b, cols, 15, "\n");
	assert_int_equal(run(&b, RA_BULK_CLIENT, RA_BULK_REVOKE, RA_BULK_UPKI, &r, &e), 0);
	assert_int_equal(r.good, 1);
	assert_int_equal(r.recs[0].reason, 4);
	assert_int_equal(find_err(&r, 2, RA_BULK_E_REQUIRED)->column, 4);
	assert_int_equal(find_err(&r, 2, RA_BULK_E_NOT_EMPTY)->column, 15);
	ra_bulk_result_free(&r);
	buf_free(&b);
}

/* ---- ACME files ---- */

static void
test_bulk_acme(void **state)
{
	const char *cols[13];
	struct ra_bulk_result r;
	struct buf b;
	struct err e;

	(void)state;
	buf_init(&b, 1 << 20);
	server_cols(cols, "");
	put_line(&b, cols, 13, "\n"); /* 1 good */
	cols[0] = "CN=www.example.ac.jp, O=Example University,L=Chiyoda-ku,ST=Tokyo,C=JP";
	put_line(&b, cols, 13, "\n"); /* 2 a blank after a comma */
	cols[0] = "cn=www.example.ac.jp,O=Example University,L=Chiyoda-ku,ST=Tokyo,C=JP";
	put_line(&b, cols, 13, "\n"); /* 3 lower-case name */
	cols[0] = DN_WWW;
	cols[6] = csr_rsa;
	put_line(&b, cols, 13, "\n"); /* 4 a CSR */
	cols[6] = "";
	cols[2] = "acct-1";
	put_line(&b, cols, 13, "\n"); /* 5 an account ID in create */
	assert_int_equal(run(&b, RA_BULK_ACME, RA_BULK_CREATE, RA_BULK_UPKI, &r, &e), 0);
	assert_int_equal(r.good, 1);
	assert_null(r.recs[0].csr);
	assert_string_equal(r.recs[0].fqdn, "www.example.ac.jp");
	assert_int_equal(find_err(&r, 2, RA_BULK_E_DN_SYNTAX)->column, 1);
	assert_non_null(find_err(&r, 3, RA_BULK_E_DN_SYNTAX));
	assert_int_equal(find_err(&r, 4, RA_BULK_E_NOT_EMPTY)->column, 7);
	assert_int_equal(find_err(&r, 5, RA_BULK_E_NOT_EMPTY)->column, 3);
	ra_bulk_result_free(&r);
	/* renew: the account ID is required; line 5 is good now, line 1 is not */
	assert_int_equal(run(&b, RA_BULK_ACME, RA_BULK_RENEW, RA_BULK_UPKI, &r, &e), 0);
	assert_int_equal(r.good, 1);
	assert_int_equal(r.recs[0].line, 5);
	assert_string_equal(r.recs[0].account_id, "acct-1");
	assert_int_equal(find_err(&r, 1, RA_BULK_E_REQUIRED)->column, 3);
	ra_bulk_result_free(&r);
	buf_free(&b);
	/* suspend */
	{
		const char *s[13] = {DN_WWW, "", "acct/1", "", "3", "", "", "", "", "", "", "", ""};

		buf_init(&b, 1 << 20);
		put_line(&b, s, 13, "\n");
		s[2] = "acct-1";
		put_line(&b, s, 13, "\n");
		assert_int_equal(run(&b, RA_BULK_ACME, RA_BULK_SUSPEND, RA_BULK_UPKI, &r, &e), 0);
		assert_int_equal(r.good, 1);
		assert_int_equal(find_err(&r, 1, RA_BULK_E_ACCOUNT_ID)->column, 3);
		ra_bulk_result_free(&r);
		buf_free(&b);
	}
}

/* ---- the native dialect ---- */

static void
test_bulk_native(void **state)
{
	struct ra_bulk_result r;
	struct buf b;
	struct err e;

	(void)state;
	buf_init(&b, 1 << 20);
	/* any order; optional columns may be left out; plain host names */
	buf_printf(&b,
		   "admin_email\tfqdn\tcsr\tprofile\tsubject_dn\tserver_software\tdns_names\n"
		   "admin@example.ac.jp\twww.example.ac.jp\t%s\trsa2048\t%s\tnginx1.24\t"
		   "web.example.ac.jp,dNSName=x.example.ac.jp\n"
		   "admin@example.ac.jp\twww.example.ac.jp\t%s\t11\t%s\tnginx1.24\t\n"
		   "admin@example.ac.jp\twww.example.ac.jp\t%s\t3\t%s\tnginx1.24\n",
		   csr_rsa, DN_WWW, csr_ec, DN_WWW, csr_rsa, DN_WWW);
	assert_int_equal(run(&b, RA_BULK_SERVER, RA_BULK_ISSUE, RA_BULK_NATIVE, &r, &e), 0);
	assert_int_equal(r.total, 3);
	assert_int_equal(r.good, 2);
	assert_int_equal(r.recs[0].line, 2);
	assert_int_equal(r.recs[0].profile_id, 3);
	assert_int_equal(r.recs[0].ndns, 3);
	assert_string_equal(r.recs[0].dns[0], "www.example.ac.jp");
	assert_string_equal(r.recs[0].dns[2], "x.example.ac.jp");
	assert_int_equal(r.recs[1].profile_id, 11);
	assert_non_null(find_err(&r, 4, RA_BULK_E_COLUMNS));
	ra_bulk_result_free(&r);
	buf_free(&b);

	/* header errors: unknown, duplicate, another kind's column, a missing one */
	buf_init(&b, 1 << 20);
	buf_printf(&b, "subject_dn\tprofile\tcsr\tcsr\tadmin_mail\tholder_name\tfqdn\n"
		       "x\tx\tx\tx\tx\tx\tx\n");
	assert_int_equal(run(&b, RA_BULK_SERVER, RA_BULK_ISSUE, RA_BULK_NATIVE, &r, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_int_equal(r.total, 0);
	assert_int_equal(find_err(&r, 1, RA_BULK_E_HEADER_DUPLICATE)->column, 4);
	assert_int_equal(find_err(&r, 1, RA_BULK_E_HEADER_UNKNOWN)->column, 5);
	assert_int_equal(find_err(&r, 1, RA_BULK_E_HEADER_NOT_APPLICABLE)->column, 6);
	assert_int_equal(find_err(&r, 1, RA_BULK_E_HEADER_MISSING)->col, RA_BULK_COL_ADMIN_EMAIL);
	assert_non_null(find_err(&r, 1, RA_BULK_E_HEADER_MISSING));
	ra_bulk_result_free(&r);
	buf_free(&b);

	/* a header and nothing else */
	buf_init(&b, 1 << 20);
	buf_printf(&b, "subject_dn\tserial\treason\tcomment\n\n");
	assert_int_equal(run(&b, RA_BULK_SERVER, RA_BULK_REVOKE, RA_BULK_NATIVE, &r, &e), -1);
	assert_int_equal(r.errs[0].code, RA_BULK_E_NO_DATA);
	ra_bulk_result_free(&r);
	/* a BOM and CRLF are fine in the native dialect, and the client columns */
	buf_reset(&b);
	buf_printf(&b, "\xef\xbb\xbfsubject_dn\tprofile\tdownload_method\tadmin_email\t"
		       "holder_email\taccess_pin\r\n"
		       "CN=Hanako Sato,O=Example University,L=Chiyoda-ku,ST=Tokyo,C=JP\tclient\t2\t"
		       "admin@example.ac.jp\thanako@example.ac.jp\tpin-0001\r\n");
	assert_int_equal(run(&b, RA_BULK_CLIENT, RA_BULK_ISSUE, RA_BULK_NATIVE, &r, &e), 0);
	assert_int_equal(r.good, 1);
	assert_int_equal(r.encoding, TSV_ENC_UTF8_BOM);
	assert_string_equal(r.recs[0].pin, "pin-0001");
	assert_int_equal(r.recs[0].holder_email_column, 0);
	ra_bulk_result_free(&r);
	buf_free(&b);
}

/* The names tables cover every value. */
static void
test_bulk_names(void **state)
{
	(void)state;
	for (int i = 0; i < RA_BULK_E__MAX; i++)
		assert_string_not_equal(ra_bulk_code_name((enum ra_bulk_code)i), "error");
	for (int i = 0; i < RA_BULK_COL__MAX; i++) {
		assert_string_not_equal(ra_bulk_col_name((enum ra_bulk_col)i), "error");
		assert_string_not_equal(ra_bulk_col_name_ja((enum ra_bulk_col)i), "");
	}
	for (int i = 0; i < TSV_ERR__MAX; i++)
		assert_string_not_equal(tsv_error_name((enum tsv_error)i), "error");
	assert_string_equal(ra_bulk_col_name_ja(RA_BULK_COL_SUBJECT_DN), "主体者DN");
	assert_string_equal(ra_bulk_code_name(RA_BULK_E__MAX), "error");
	assert_int_equal(ra_bulk_op_valid(RA_BULK_ACME, RA_BULK_CREATE), 1);
	assert_int_equal(ra_bulk_op_valid(RA_BULK_SERVER, RA_BULK_CREATE), 0);
	assert_int_equal(ra_bulk_op_valid(RA_BULK_CLIENT, RA_BULK_SUSPEND), 0);
}

/* 10,000 good server lines (a few CSRs reused) in well under two seconds. */
static void
test_bulk_large(void **state)
{
	const char *cols[13];
	struct ra_bulk_result r;
	struct buf b;
	struct err e;
	struct timespec t0, t1;
	double secs;

	(void)state;
	buf_init(&b, 64u << 20);
	for (int i = 0; i < 10000; i++) {
		server_cols(cols, i % 3 == 0 ? csr_ec : i % 3 == 1 ? csr_rsa : csr_rsa_rev);
		cols[1] = i % 3 == 0 ? "11" : "3";
		put_line(&b, cols, 13, "\r\n");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run(&b, RA_BULK_SERVER, RA_BULK_ISSUE, RA_BULK_UPKI, &r, &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (r.nerrs > 0)
		fail_msg("line %zu: %s", r.errs[0].line, r.errs[0].msg);
	assert_int_equal(r.total, 10000);
	assert_int_equal(r.good, 10000);
	assert_int_equal(r.recs[9999].line, 10000);
	print_message("10,000 lines in %.3f s\n", secs);
	assert_true(secs < 2.0);
	ra_bulk_result_free(&r);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tsv_utf8_line_ends),
	    cmocka_unit_test(test_tsv_cp932),
	    cmocka_unit_test(test_tsv_refusals),
	    cmocka_unit_test(test_tsv_million_empty_lines),
	    cmocka_unit_test(test_bulk_server_good),
	    cmocka_unit_test(test_bulk_server_cp932),
	    cmocka_unit_test(test_bulk_columns),
	    cmocka_unit_test(test_bulk_server_rules),
	    cmocka_unit_test(test_bulk_csr_reuse),
	    cmocka_unit_test(test_bulk_revoke_renew),
	    cmocka_unit_test(test_bulk_client),
	    cmocka_unit_test(test_bulk_acme),
	    cmocka_unit_test(test_bulk_native),
	    cmocka_unit_test(test_bulk_names),
	    cmocka_unit_test(test_bulk_large),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
