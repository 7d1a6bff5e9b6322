/*
 * bulk: the officers' bulk TSV upload in the console (issue 13 part 5).  GET /bulk?kind=K is
 * the form (operation, dialect, mode, the file); POST /bulk reads the file (any bytes: the
 * reader decides UTF-8 or CP932), checks every line (ra_bulk_check) and runs every line's
 * issuance checks without signing (ra_bulk_commit with check_only): the result table, and a
 * commit button whose form carries the file's bytes (base64) with a seal over the kind,
 * operation, dialect, mode and the file's SHA-256, so that POST /bulk/commit acts on exactly
 * the bytes that were checked.  POST /bulk/commit commits (ra_bulk_commit) and shows the
 * result; POST /bulk/result.tsv answers the result as a TSV file from a sealed form (GET never
 * acts).  No JavaScript.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "console_int.h"
#include "util/b64.h"

#define BULK_FILE_MAX (32u * 1024 * 1024)		/* bytes of an uploaded file */
#define BULK_B64_MAX ((BULK_FILE_MAX + 2) / 3 * 4 + 16) /* its base64 in the commit form */
#define BULK_SEAL_TTL 3600				/* seconds between dry run and commit */
#define BULK_SEAL "bulk-commit"
#define BULK_RESULT_SEAL "bulk-result"
#define BULK_PAGE_MAX (96u * 1024 * 1024) /* the result page: the table and the sealed file */

static const struct web_form_limits bulk_upload_form = {BULK_FILE_MAX + 64 * 1024, "file",
							BULK_FILE_MAX, WEB_FORM_RAW};
static const struct web_form_limits bulk_commit_form = {BULK_B64_MAX + 64 * 1024, "content",
							BULK_B64_MAX, 1};

static const char *const bulk_title[RA_BULK_KIND__MAX] = {
    [RA_BULK_SERVER] = N_("Server certificates: bulk upload (TSV)"),
    [RA_BULK_CLIENT] = N_("Client certificates: bulk upload (TSV)"),
    [RA_BULK_ACME] = N_("Bulk upload (TSV)"),
};

static const char *const bulk_state_msgid[RA_BULK_STATE__MAX] = {
    [RA_BULK_DONE] = N_("OK"),	  [RA_BULK_CHECKED] = N_("OK"),	      [RA_BULK_BAD] = N_("NG"),
    [RA_BULK_REFUSED] = N_("NG"), [RA_BULK_SKIPPED] = N_("Not done"),
};

/* What a form names: kind ("server", "client"), op, dialect and mode; -1 when unknown. */
static int
bulk_kind(const char *v, enum ra_bulk_kind *k)
{
	if (v != NULL && strcmp(v, "server") == 0)
		*k = RA_BULK_SERVER;
	else if (v != NULL && strcmp(v, "client") == 0)
		*k = RA_BULK_CLIENT;
	else
		return -1;
	return 0;
}

struct bulk_choice {
	enum ra_bulk_kind kind;
	enum ra_bulk_op op;
	enum ra_bulk_dialect dialect;
	enum ra_bulk_mode mode;
};

static int
bulk_choice_read(const struct web_form *f, struct bulk_choice *c)
{
	const char *op = web_form_get(f, "op"), *di = web_form_get(f, "dialect");
	const char *mo = web_form_get(f, "mode");

	if (bulk_kind(web_form_get(f, "kind"), &c->kind) == -1 || op == NULL || di == NULL ||
	    mo == NULL)
		return -1;
	if (strcmp(op, "issue") == 0)
		c->op = RA_BULK_ISSUE;
	else if (strcmp(op, "renew") == 0)
		c->op = RA_BULK_RENEW;
	else if (strcmp(op, "revoke") == 0)
		c->op = RA_BULK_REVOKE;
	else
		return -1;
	if (strcmp(di, "upki") == 0)
		c->dialect = RA_BULK_UPKI;
	else if (strcmp(di, "native") == 0)
		c->dialect = RA_BULK_NATIVE;
	else
		return -1;
	if (strcmp(mo, "all_or_nothing") == 0)
		c->mode = RA_BULK_ALL_OR_NOTHING;
	else if (strcmp(mo, "good_lines") == 0)
		c->mode = RA_BULK_GOOD_LINES;
	else
		return -1;
	return 0;
}

/* The gate: officers with the kind's permission. */
static int
bulk_gate(struct web_ctx *x, enum ra_bulk_kind k, struct console_who *w, int *rc)
{
	return console_gate(x, 1u << RA_ROLE_OFFICER,
			    ra_ocert_perm(k == RA_BULK_CLIENT ? RA_OCERT_CLIENT : RA_OCERT_SERVER),
			    w, rc);
}

/* GET /bulk?kind=K: the upload form. */
int
console_bulk_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct tmpl_data *d;
	enum ra_bulk_kind k;
	int rc;

	web_ctx_init(&x, &console.site, r);
	if (bulk_kind(http_query(r, "kind"), &k) == -1)
		return web_notice(&x, 404, N_("Not found"), N_("There is no such page."));
	if (bulk_gate(&x, k, &w, &rc))
		return rc;
	d = console_data(&x, &w, bulk_title[k]);
	tmpl_data_str(d, "kind", ra_bulk_kind_name(k));
	tmpl_data_bool(d, "client", k == RA_BULK_CLIENT);
	rc = web_page(&x, 200, "console_bulk", d);
	tmpl_data_free(d);
	return rc;
}

/* SHA-256 of p[0..n) in lower-case hex. */
static void
bulk_sha256(const unsigned char *p, size_t n, char out[65])
{
	unsigned char h[32];
	unsigned int hl = 0;
	size_t i;

	if (EVP_Digest(p, n, h, &hl, EVP_sha256(), NULL) != 1 || hl != 32)
		fatalx("bulk: SHA-256 failed");
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* The column's name in the page's language ("" for the whole line). */
static const char *
bulk_col_text(const struct web_ctx *x, enum ra_bulk_col col)
{
	if (col == RA_BULK_COL_NONE)
		return "";
	return strcmp(x->lang, "ja") == 0 ? ra_bulk_col_name_ja(col) : ra_bulk_col_name(col);
}

/* One TSV value: tabs and line ends become blanks. */
static void
bulk_tsv_field(struct buf *b, const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		(void)buf_putc(b, *s == '\t' || *s == '\r' || *s == '\n' ? ' ' : *s);
}

/*
 * The result table (and, with tsv, its TSV: line, result, serial, code, column, reason,
 * subject DN).
 */
static void
bulk_table(const struct web_ctx *x, struct tmpl_data *d, const struct ra_bulk_outcome *o, size_t n,
	   struct buf *tsv)
{
	struct tmpl_data *it;
	char num[32], code[64];
	size_t i;

	if (tsv != NULL)
		(void)buf_printf(tsv, "line\tresult\tserial\tcode\tcolumn\treason\tsubject_dn\n");
	for (i = 0; i < n; i++) {
		it = tmpl_data_add(d, "rows");
		snprintf(num, sizeof(num), "%zu", o[i].line);
		tmpl_data_str(it, "line", num);
		tmpl_data_str(it, "result", i18n_get(x->lang, bulk_state_msgid[o[i].state]));
		tmpl_data_bool(it, "ng",
			       o[i].state == RA_BULK_BAD || o[i].state == RA_BULK_REFUSED);
		tmpl_data_str(it, "serial", o[i].serial);
		tmpl_data_str(it, "column", bulk_col_text(x, o[i].col));
		if (o[i].state == RA_BULK_BAD)
			snprintf(code, sizeof(code), "%s", ra_bulk_code_name(o[i].code));
		else if (o[i].state == RA_BULK_REFUSED)
			snprintf(code, sizeof(code), "%s",
				 o[i].kind != 0		    ? ca_refusal_name(o[i].kind)
				 : o[i].err == ERR_CONFLICT ? "conflict"
				 : o[i].err == ERR_NOTFOUND ? "not_found"
							    : "refused");
		else
			code[0] = '\0';
		tmpl_data_str(it, "code", code);
		tmpl_data_str(it, "reason", o[i].msg);
		tmpl_data_str(it, "dn", o[i].subject_dn);
		if (tsv != NULL) {
			(void)buf_printf(tsv, "%zu\t%s\t%s\t%s\t", o[i].line,
					 ra_bulk_state_name(o[i].state), o[i].serial, code);
			bulk_tsv_field(tsv, bulk_col_text(x, o[i].col));
			(void)buf_putc(tsv, '\t');
			bulk_tsv_field(tsv, o[i].msg);
			(void)buf_putc(tsv, '\t');
			bulk_tsv_field(tsv, o[i].subject_dn);
			(void)buf_putc(tsv, '\n');
		}
	}
}

/* The page of a file refused as a whole (422): the reader's or the header's reasons. */
static int
bulk_refused_page(struct web_ctx *x, const struct console_who *w, enum ra_bulk_kind k,
		  const struct ra_bulk_result *res)
{
	struct tmpl_data *d = console_data(x, w, bulk_title[k]), *it;
	char num[32];
	size_t i;
	int rc;

	tmpl_data_str(d, "kind", ra_bulk_kind_name(k));
	for (i = 0; i < res->nerrs; i++) {
		it = tmpl_data_add(d, "errors");
		snprintf(num, sizeof(num), "%zu", res->errs[i].line);
		tmpl_data_str(it, "line", num);
		tmpl_data_str(it, "code",
			      res->errs[i].code == RA_BULK_E_FILE
				  ? tsv_error_name((enum tsv_error)res->errs[i].tsv)
				  : ra_bulk_code_name(res->errs[i].code));
		tmpl_data_str(it, "reason", res->errs[i].msg);
	}
	rc = web_page_max(x, 422, "console_bulk_refused", d, BULK_PAGE_MAX);
	tmpl_data_free(d);
	return rc;
}

/* Counts and the encoding into d. */
static void
bulk_counts(struct tmpl_data *d, const struct ra_bulk_result *res, const struct ra_bulk_counts *c)
{
	char num[32];

	tmpl_data_str(d, "encoding", tsv_encoding_name(res->encoding));
	snprintf(num, sizeof(num), "%zu", c->total);
	tmpl_data_str(d, "total", num);
	snprintf(num, sizeof(num), "%zu", c->done + c->checked);
	tmpl_data_str(d, "good", num);
	snprintf(num, sizeof(num), "%zu", c->bad + c->refused);
	tmpl_data_str(d, "bad", num);
	snprintf(num, sizeof(num), "%zu", c->skipped);
	tmpl_data_str(d, "skipped", num);
}

/* The values a commit form's seal covers. */
static void
bulk_sealed(const struct bulk_choice *ch, const char *sha, const char *v[5])
{
	v[0] = ra_bulk_kind_name(ch->kind);
	v[1] = ra_bulk_op_name(ch->op);
	v[2] = ra_bulk_dialect_name(ch->dialect);
	v[3] = ra_bulk_mode_name(ch->mode);
	v[4] = sha;
}

/* POST /bulk: the dry run. */
int
console_bulk_post(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	struct bulk_choice ch;
	struct ra_bulk_opts o;
	struct ra_bulk_result res;
	struct ra_bulk_commit_req q;
	struct ra_bulk_outcome *out = NULL;
	struct ra_bulk_counts c;
	struct tmpl_data *d = NULL;
	struct web_seal seal;
	struct store *st;
	struct buf b64;
	const unsigned char *file;
	const char *sv[5];
	char sha[65];
	size_t flen = 0, n = 0;
	struct err e;
	int rc;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	memset(&res, 0, sizeof(res));
	buf_init(&b64, BULK_B64_MAX + 1);
	if (web_form_read(&x, &f, &bulk_upload_form, &rc))
		goto out;
	if (bulk_choice_read(&f, &ch) == -1) {
		rc = web_notice(&x, 400, N_("Bad request"), N_("There is no such page."));
		goto out;
	}
	if (bulk_gate(&x, ch.kind, &w, &rc))
		goto out;
	if ((file = web_form_get_raw(&f, "file", &flen)) == NULL || flen == 0) {
		rc = web_notice(&x, 422, bulk_title[ch.kind], N_("Choose a TSV file to upload."));
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.kind = ch.kind;
	o.op = ch.op;
	o.dialect = ch.dialect;
	err_clear(&e);
	if (ra_bulk_check(file, flen, &o, &res, &e) == -1) {
		rc = bulk_refused_page(&x, &w, ch.kind, &res);
		goto out;
	}
	memset(&q, 0, sizeof(q));
	q.kind = ch.kind;
	q.op = ch.op;
	q.mode = ch.mode;
	q.check_only = 1;
	q.officer = &w.o;
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_bulk_commit(x.ca, st, &q, &res, &out, &n, &c, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	d = console_data(&x, &w, bulk_title[ch.kind]);
	tmpl_data_str(d, "kind", ra_bulk_kind_name(ch.kind));
	tmpl_data_bool(d, "dry_run", 1);
	bulk_counts(d, &res, &c);
	bulk_table(&x, d, out, n, NULL);
	if (c.checked > 0 && !(ch.mode == RA_BULK_ALL_OR_NOTHING && (c.bad > 0 || c.refused > 0))) {
		if (b64_encode(&b64, file, flen) == -1 || buf_cstr(&b64) == NULL) {
			err_set(&e, ERR_INTERNAL, "bulk: the file does not fit the commit form");
			rc = web_error(&x, &e);
			goto out;
		}
		bulk_sha256(file, flen, sha);
		bulk_sealed(&ch, sha, sv);
		web_seal_make(&x, BULK_SEAL, BULK_SEAL_TTL, 1, sv, 5, &seal);
		web_seal_data(d, &seal);
		tmpl_data_str(d, "op", sv[1]);
		tmpl_data_str(d, "dialect", sv[2]);
		tmpl_data_str(d, "mode", sv[3]);
		tmpl_data_str(d, "sha", sha);
		tmpl_data_str(d, "content", (const char *)b64.data);
		tmpl_data_bool(d, "can_commit", 1);
	} else
		tmpl_data_bool(d, "nothing", 1);
	rc = web_page_max(&x, 200, "console_bulk_result", d, BULK_PAGE_MAX);
out:
	tmpl_data_free(d);
	free(out);
	buf_free(&b64);
	ra_bulk_result_free(&res);
	web_form_free(&f);
	return rc;
}

/* POST /bulk/commit: the file that was checked, committed. */
int
console_bulk_commit_post(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	struct bulk_choice ch;
	struct ra_bulk_opts o;
	struct ra_bulk_result res;
	struct ra_bulk_commit_req q;
	struct ra_bulk_outcome *out = NULL;
	struct ra_bulk_counts c;
	struct ra_ocert_notify nt;
	struct tmpl_data *d = NULL;
	struct web_seal seal;
	enum web_seal_result sr;
	struct store *st;
	struct buf raw, tsv, tb64;
	const char *content, *sha, *sv[5], *rv[1];
	char got[65];
	struct err e;
	size_t n = 0;
	int rc, seen = 0;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	memset(&res, 0, sizeof(res));
	buf_init(&raw, BULK_FILE_MAX);
	buf_init(&tsv, 64u * 1024 * 1024);
	buf_init(&tb64, 96u * 1024 * 1024);
	if (web_form_read(&x, &f, &bulk_commit_form, &rc))
		goto out;
	if (bulk_choice_read(&f, &ch) == -1) {
		rc = web_notice(&x, 400, N_("Bad request"), N_("There is no such page."));
		goto out;
	}
	if (bulk_gate(&x, ch.kind, &w, &rc))
		goto out;
	sha = web_form_get(&f, "sha");
	content = web_form_get(&f, "content");
	bulk_sealed(&ch, sha != NULL ? sha : "", sv);
	if ((sr = web_seal_open_form(&x, BULK_SEAL, &f, sv, 5, &seal)) != WEB_SEAL_OK) {
		rc = web_seal_refused(&x, sr, N_("Upload the file again."));
		goto out;
	}
	if (content == NULL || b64_decode(&raw, content, strlen(content), 1) == -1 ||
	    (bulk_sha256(raw.data, raw.len, got), strcmp(got, sha) != 0)) {
		rc = web_notice(&x, 400, bulk_title[ch.kind],
				N_("The file is not the one that was checked. Upload the file "
				   "again."));
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.kind = ch.kind;
	o.op = ch.op;
	o.dialect = ch.dialect;
	o.csr_checked = 1; /* the seal covers the file's SHA-256: the dry run verified its CSRs */
	err_clear(&e);
	if (ra_bulk_check(raw.data, raw.len, &o, &res, &e) == -1) {
		rc = bulk_refused_page(&x, &w, ch.kind, &res);
		goto out;
	}
	/* the same commit form sent again (reload, Back, a double click) does nothing */
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    ra_form_claim(st, seal.nonce_raw, &seen, &e) == -1) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (seen) {
		rc = web_notice(&x, 409, bulk_title[ch.kind],
				N_("This file was committed already: the same form was sent again. "
				   "Nothing was done now."));
		goto out;
	}
	memset(&q, 0, sizeof(q));
	q.kind = ch.kind;
	q.op = ch.op;
	q.mode = ch.mode;
	q.officer = &w.o;
	console_mail_ocert_notify(&console.mail, &nt);
	q.n = &nt;
	if (ra_bulk_commit(x.ca, st, &q, &res, &out, &n, &c, &e) == -1 && out == NULL) {
		rc = web_error(&x, &e);
		goto out;
	}
	if (e.code != ERR_OK)
		log_warn("console: bulk: %s", e.msg); /* the audit entry failed after the lines */
	d = console_data(&x, &w, bulk_title[ch.kind]);
	tmpl_data_str(d, "kind", ra_bulk_kind_name(ch.kind));
	tmpl_data_bool(d, "committed", 1);
	bulk_counts(d, &res, &c);
	bulk_table(&x, d, out, n, &tsv);
	if (buf_cstr(&tsv) != NULL && b64_encode(&tb64, tsv.data, tsv.len) == 0 &&
	    buf_cstr(&tb64) != NULL) {
		rv[0] = (const char *)tb64.data;
		web_seal_make(&x, BULK_RESULT_SEAL, BULK_SEAL_TTL, 1, rv, 1, &seal);
		web_seal_data(d, &seal);
		tmpl_data_str(d, "result_tsv", rv[0]);
	}
	rc = web_page_max(&x, 200, "console_bulk_result", d, BULK_PAGE_MAX);
out:
	tmpl_data_free(d);
	free(out);
	buf_free(&raw);
	buf_free(&tsv);
	buf_free(&tb64);
	ra_bulk_result_free(&res);
	web_form_free(&f);
	return rc;
}

/* POST /bulk/result.tsv: the committed result (sealed in the page) as a file. */
int
console_bulk_result_post(struct http_req *r)
{
	static const char *const hdrs[] = {"Content-Disposition",
					   "attachment; filename=\"shomei-bulk-result.tsv\"", NULL};
	static const struct web_form_limits lim = {8u * 1024 * 1024, "result_tsv", 8u * 1024 * 1024,
						   1};
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	enum web_seal_result sr;
	struct buf b;
	const char *v[1];
	int rc;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	buf_init(&b, 64u * 1024 * 1024);
	if (web_form_read(&x, &f, &lim, &rc))
		goto out;
	if (console_gate(&x, 1u << RA_ROLE_OFFICER, RA_PERM_SERVER | RA_PERM_CLIENT, &w, &rc))
		goto out;
	v[0] = web_form_get(&f, "result_tsv");
	if (v[0] == NULL) {
		rc = web_notice(&x, 400, N_("Bad request"), N_("There is no such page."));
		goto out;
	}
	if ((sr = web_seal_open_form(&x, BULK_RESULT_SEAL, &f, v, 1, NULL)) != WEB_SEAL_OK) {
		rc = web_seal_refused(&x, sr, N_("Upload the file again."));
		goto out;
	}
	if (b64_decode(&b, v[0], strlen(v[0]), 1) == -1) {
		rc = web_notice(&x, 400, N_("Bad request"), N_("There is no such page."));
		goto out;
	}
	rc = http_reply_hdrs(r, 200, "text/tab-separated-values; charset=utf-8", b.data, b.len,
			     hdrs);
out:
	buf_free(&b);
	web_form_free(&f);
	return rc;
}
