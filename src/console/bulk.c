/*
 * bulk: the officers' bulk TSV upload in the console (issue 13 part 5).  GET /bulk?kind=K is
 * the form (operation, dialect, mode, the file); POST /bulk reads the file (any bytes: the
 * reader decides UTF-8 or CP932), checks every line (ra_bulk_check) and runs every line's
 * issuance checks without signing (ra_bulk_commit with check_only): the result table, and a
 * commit button whose form carries the file's bytes (base64) with a seal over the kind,
 * operation, dialect, mode and the file's SHA-256, so that POST /bulk/commit acts on exactly
 * the bytes that were checked.  POST /bulk/commit hands the file to a job (bulkjob.c: a
 * worker thread runs ra_bulk_commit) and answers 303 to GET /bulk/job?id=, a page that
 * refreshes itself with the lines done until the result is there; POST /bulk/result.tsv
 * answers the result as a TSV file from a sealed form (GET never acts).  No JavaScript.
 * kind=acme (the acme permission, acme.enabled): ACME enrolment files.  The secrets a finished
 * job holds (the ZIP passwords of download method 2 lines, the key id and HMAC key of each
 * binding made) no GET shows: the result page says they wait, and its button's POST
 * (POST /bulk/job/keys, CSRF, no-store) shows them once and erases them.
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
#define BULK_JOB_INLINE_LINES 50 /* a commit of at most this many lines is waited for ... */
#define BULK_JOB_INLINE_MS 5000	 /* ... this long before the job's page is answered */

static const struct web_form_limits bulk_upload_form = {BULK_FILE_MAX + 64 * 1024, "file",
							BULK_FILE_MAX, WEB_FORM_RAW};
static const struct web_form_limits bulk_commit_form = {BULK_B64_MAX + 64 * 1024, "content",
							BULK_B64_MAX, 1};

static const char *const bulk_title[RA_BULK_KIND__MAX] = {
    [RA_BULK_SERVER] = N_("Server certificates: bulk upload (TSV)"),
    [RA_BULK_CLIENT] = N_("Client certificates: bulk upload (TSV)"),
    [RA_BULK_ACME] = N_("ACME enrolment: bulk upload (TSV)"),
};

static const char *const bulk_state_msgid[RA_BULK_STATE__MAX] = {
    [RA_BULK_DONE] = N_("OK"),	  [RA_BULK_CHECKED] = N_("OK"),	      [RA_BULK_BAD] = N_("NG"),
    [RA_BULK_REFUSED] = N_("NG"), [RA_BULK_SKIPPED] = N_("Not done"),
};

/* What a form names: kind ("server", "client", "acme"), op, dialect and mode; -1 when unknown. */
static int
bulk_kind(const char *v, enum ra_bulk_kind *k)
{
	if (v != NULL && strcmp(v, "server") == 0)
		*k = RA_BULK_SERVER;
	else if (v != NULL && strcmp(v, "client") == 0)
		*k = RA_BULK_CLIENT;
	else if (v != NULL && strcmp(v, "acme") == 0)
		*k = RA_BULK_ACME;
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
	else if (strcmp(op, "create") == 0)
		c->op = RA_BULK_CREATE;
	else if (strcmp(op, "suspend") == 0)
		c->op = RA_BULK_SUSPEND;
	else
		return -1;
	if (!ra_bulk_op_valid(c->kind, c->op))
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

/* The gate: officers with the kind's permission (ACME files: ACME on). */
static int
bulk_gate(struct web_ctx *x, enum ra_bulk_kind k, struct console_who *w, int *rc)
{
	if (console_gate(x, 1u << RA_ROLE_OFFICER,
			 k == RA_BULK_ACME ? RA_PERM_ACME
					   : ra_ocert_perm(k == RA_BULK_CLIENT ? RA_OCERT_CLIENT
									       : RA_OCERT_SERVER),
			 w, rc))
		return 1;
	if (k == RA_BULK_ACME && !console.acme_on) {
		*rc = web_notice(x, 404, N_("ACME enrolment"),
				 N_("ACME is not enabled on this server."));
		return 1;
	}
	return 0;
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
	tmpl_data_bool(d, "acme", k == RA_BULK_ACME);
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

/* What is wrong with a line, worded for the page (the RA's message follows: English). */
static const char *const bulk_code_msgid[RA_BULK_E__MAX] = {
    [RA_BULK_E_FILE] = N_("The file cannot be read"),
    [RA_BULK_E_USAGE] = N_("This kind of file has no such operation"),
    [RA_BULK_E_NO_DATA] = N_("The file has no data line"),
    [RA_BULK_E_HEADER_UNKNOWN] = N_("Unknown column name in the header"),
    [RA_BULK_E_HEADER_DUPLICATE] = N_("A column appears twice in the header"),
    [RA_BULK_E_HEADER_NOT_APPLICABLE] = N_("The header has a column of another kind of file"),
    [RA_BULK_E_HEADER_MISSING] = N_("The header lacks a column this operation needs"),
    [RA_BULK_E_COLUMNS] = N_("Wrong number of columns"),
    [RA_BULK_E_REQUIRED] = N_("A required column is empty"),
    [RA_BULK_E_NOT_EMPTY] = N_("This column must be empty for this operation"),
    [RA_BULK_E_TOO_LONG] = N_("The value is too long"),
    [RA_BULK_E_DN_SYNTAX] = N_("The subject DN cannot be read"),
    [RA_BULK_E_DN_ORDER] = N_("Subject DN attributes are missing, repeated or out of order"),
    [RA_BULK_E_DN_ATTRIBUTE] = N_("The subject DN has an attribute that is not allowed"),
    [RA_BULK_E_DN_VALUE] = N_("A subject DN value breaks its rule"),
    [RA_BULK_E_PROFILE] = N_("Unknown or unsuitable profile"),
    [RA_BULK_E_CSR] = N_("The CSR is not a valid certificate signing request"),
    [RA_BULK_E_CSR_SUBJECT] = N_("The CSR's subject is not the line's subject DN"),
    [RA_BULK_E_CSR_KEY] = N_("The CSR's key does not suit the profile"),
    [RA_BULK_E_EMAIL] = N_("Not a valid e-mail address"),
    [RA_BULK_E_FQDN] = N_("Not a valid host name (FQDN)"),
    [RA_BULK_E_DNS_NAME] = N_("A dNSName entry is not valid"),
    [RA_BULK_E_DNS_COUNT] = N_("Too many dNSName entries"),
    [RA_BULK_E_DNS_DUPLICATE] = N_("A dNSName entry appears twice"),
    [RA_BULK_E_SERIAL] = N_("Not a valid serial number"),
    [RA_BULK_E_REASON] = N_("Not a valid revocation reason"),
    [RA_BULK_E_COMMENT_REQUIRED] = N_("This revocation reason needs a comment"),
    [RA_BULK_E_DOWNLOAD] = N_("Not a valid download method"),
    [RA_BULK_E_AMBIGUOUS] = N_("Two columns hold an address: only one may"),
    [RA_BULK_E_PIN] = N_("The access PIN breaks its rule"),
    [RA_BULK_E_P12_NAME] = N_("Not a valid PKCS#12 file name"),
    [RA_BULK_E_ACCOUNT_ID] = N_("Not a valid account ID"),
};
static const char *const bulk_refusal_msgid[CA_REFUSAL__MAX] = {
    [CA_REFUSAL_CSR] = N_("The CSR was refused"),
    [CA_REFUSAL_KEY] = N_("The key was refused"),
    [CA_REFUSAL_SUBJECT] = N_("The subject was refused"),
    [CA_REFUSAL_LINT] = N_("The certificate would break the profile's rules"),
    [CA_REFUSAL_VALIDITY] = N_("The validity period was refused"),
    [CA_REFUSAL_PROFILE] = N_("The profile cannot be used here"),
    [CA_REFUSAL_ORG] = N_("The organization does not exist"),
    [CA_REFUSAL_NAME_POLICY] = N_("A name is outside what the organization may certify"),
};

/* A line's reason in the page's language: what is wrong, then the RA's own words. */
static void
bulk_reason(const struct web_ctx *x, const struct ra_bulk_outcome *o, char *out, size_t n)
{
	const char *m = NULL;

	if (o->state == RA_BULK_BAD && (unsigned)o->code < RA_BULK_E__MAX)
		m = bulk_code_msgid[o->code];
	else if (o->state == RA_BULK_REFUSED)
		m = o->kind > 0 && o->kind < CA_REFUSAL__MAX && bulk_refusal_msgid[o->kind] != NULL
			? bulk_refusal_msgid[o->kind]
		    : o->err == ERR_CONFLICT ? N_("The certificate's state does not allow it")
		    : o->err == ERR_NOTFOUND ? N_("No such certificate of this organization")
					     : N_("The line was refused");
	if (m == NULL)
		snprintf(out, n, "%s", o->msg);
	else if (o->msg[0] == '\0')
		snprintf(out, n, "%s", i18n_get(x->lang, m));
	else
		snprintf(out, n, "%s: %s", i18n_get(x->lang, m), o->msg);
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
bulk_table(const struct web_ctx *x, struct tmpl_data *d, enum ra_bulk_kind k,
	   const struct ra_bulk_outcome *o, size_t n, struct buf *tsv)
{
	struct tmpl_data *it;
	char num[32], code[64], reason[512];
	size_t i;

	tmpl_data_bool(d, "acme", k == RA_BULK_ACME);
	if (tsv != NULL)
		(void)buf_printf(tsv, "line\tresult\tserial\tcode\tcolumn\treason\tsubject_dn%s\n",
				 k == RA_BULK_ACME ? "\tacme_key_id" : "");
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
		bulk_reason(x, &o[i], reason, sizeof(reason));
		tmpl_data_str(it, "reason", reason);
		tmpl_data_str(it, "dn", o[i].subject_dn);
		tmpl_data_bool(it, "acme", k == RA_BULK_ACME);
		tmpl_data_str(it, "kid", o[i].kid);
		if (tsv != NULL) {
			(void)buf_printf(tsv, "%zu\t%s\t%s\t%s\t", o[i].line,
					 ra_bulk_state_name(o[i].state), o[i].serial, code);
			bulk_tsv_field(tsv, bulk_col_text(x, o[i].col));
			(void)buf_putc(tsv, '\t');
			bulk_tsv_field(tsv, reason);
			(void)buf_putc(tsv, '\t');
			bulk_tsv_field(tsv, o[i].subject_dn);
			if (k == RA_BULK_ACME) {
				(void)buf_putc(tsv, '\t');
				bulk_tsv_field(tsv, o[i].kid);
			}
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
bulk_counts(struct tmpl_data *d, enum tsv_encoding enc, const struct ra_bulk_counts *c)
{
	char num[32];

	tmpl_data_str(d, "encoding", tsv_encoding_name(enc));
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
	bulk_counts(d, res.encoding, &c);
	bulk_table(&x, d, ch.kind, out, n, NULL);
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

/* The ZIPs of download method 2 lines: each user administrator's password, shown once. */
static void
bulk_zips(struct tmpl_data *d, const struct ra_bulk_zips *z)
{
	struct tmpl_data *it;
	char count[32];
	size_t i;

	tmpl_data_bool(d, "zips", z->n > 0);
	for (i = 0; i < z->n; i++) {
		it = tmpl_data_add(d, "zip");
		tmpl_data_str(it, "email", z->v[i].admin_email);
		snprintf(count, sizeof(count), "%zu", z->v[i].count);
		tmpl_data_str(it, "count", count);
		if (z->v[i].stored)
			tmpl_data_str(it, "password", z->v[i].password);
		else
			tmpl_data_str(it, "error", z->v[i].err);
	}
}

/* The credentials of ACME create lines: key id and HMAC key, shown once. */
static void
bulk_eabs(struct tmpl_data *d, const struct ra_bulk_eabs *z)
{
	struct tmpl_data *it;
	char num[32];
	size_t i;

	tmpl_data_bool(d, "eabs", z->n > 0);
	for (i = 0; i < z->n; i++) {
		it = tmpl_data_add(d, "eab");
		snprintf(num, sizeof(num), "%zu", z->v[i].line);
		tmpl_data_str(it, "line", num);
		tmpl_data_str(it, "kid", z->v[i].kid);
		tmpl_data_str(it, "hmac", z->v[i].hmac);
		tmpl_data_str(it, "names", z->v[i].names);
	}
}

/*
 * POST /bulk/commit: the file that was checked, handed to a job (bulkjob.c) and answered 303
 * to its page; a small file's job is waited for (BULK_JOB_INLINE_*), so its page is the
 * result at once.
 */
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
	struct web_seal seal;
	enum web_seal_result sr;
	struct store *st;
	struct buf raw;
	const char *content, *sha, *sv[5];
	char got[65], id[CONSOLE_BULK_JOB_ID], loc[64];
	struct err e;
	int rc, seen = 0, slot = -1, small;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	memset(&res, 0, sizeof(res));
	buf_init(&raw, BULK_FILE_MAX);
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
	/* a slot first: a form refused for a busy console stays usable */
	if (console_bulk_job_reserve(x.ca, &w, x.sid, &slot, id, &e) == -1) {
		if (e.code == ERR_INTERNAL) {
			rc = web_error(&x, &e);
			goto out;
		}
		rc = web_notice(&x, e.code == ERR_CONFLICT ? 409 : 503, bulk_title[ch.kind],
				e.code == ERR_CONFLICT
				    ? N_("A file of yours is being committed. Wait until it is "
					 "done, then send this form again.")
				    : N_("The console is committing other files. Send this form "
					 "again in a few minutes."));
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
	small = res.nrecs <= BULK_JOB_INLINE_LINES;
	console_bulk_job_submit(slot, &q, &res); /* res is the job's now */
	slot = -1;
	if (small)
		console_bulk_job_wait(id, BULK_JOB_INLINE_MS);
	snprintf(loc, sizeof(loc), "/bulk/job?id=%s", id);
	rc = web_redirect(&x, loc);
out:
	if (slot != -1)
		console_bulk_job_cancel(slot);
	buf_free(&raw);
	ra_bulk_result_free(&res);
	web_form_free(&f);
	return rc;
}

/* The finished job's page: the counts, the table and the sealed result TSV. */
static int
bulk_done_page(struct web_ctx *x, const struct console_who *w, const struct console_bulk_view *v)
{
	struct tmpl_data *d;
	struct web_seal seal;
	struct buf tsv, tb64;
	const char *rv[1];
	char num[32], when[40];
	struct tm tm;
	int rc;

	buf_init(&tsv, 64u * 1024 * 1024);
	buf_init(&tb64, 96u * 1024 * 1024);
	d = console_data(x, w, bulk_title[v->kind]);
	tmpl_data_str(d, "kind", ra_bulk_kind_name(v->kind));
	tmpl_data_bool(d, "committed", 1);
	bulk_counts(d, v->encoding, &v->c);
	tmpl_data_str(d, "job_id", v->id);
	/* a GET only says the secrets wait: the button's POST (CSRF) shows them, once */
	if (v->zips != NULL) {
		bulk_zips(d, v->zips);
	} else if (v->zips_waiting > 0) {
		snprintf(num, sizeof(num), "%zu", v->zips_waiting);
		tmpl_data_bool(d, "zips_waiting", 1);
		tmpl_data_str(d, "zips_count", num);
	} else if (v->zips_shown != 0 && gmtime_r(&v->zips_shown, &tm) != NULL &&
		   strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) > 0) {
		tmpl_data_str(d, "zips_shown", when);
	}
	if (v->eabs != NULL) {
		bulk_eabs(d, v->eabs);
	} else if (v->eabs_waiting > 0) {
		snprintf(num, sizeof(num), "%zu", v->eabs_waiting);
		tmpl_data_bool(d, "eabs_waiting", 1);
		tmpl_data_str(d, "eabs_count", num);
	} else if (v->eabs_shown != 0 && gmtime_r(&v->eabs_shown, &tm) != NULL &&
		   strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) > 0) {
		tmpl_data_str(d, "eabs_shown", when);
	}
	bulk_table(x, d, v->kind, v->out, v->nout, &tsv);
	if (buf_cstr(&tsv) != NULL && b64_encode(&tb64, tsv.data, tsv.len) == 0 &&
	    buf_cstr(&tb64) != NULL) {
		rv[0] = (const char *)tb64.data;
		web_seal_make(x, BULK_RESULT_SEAL, BULK_SEAL_TTL, 1, rv, 1, &seal);
		web_seal_data(d, &seal);
		tmpl_data_str(d, "result_tsv", rv[0]);
	}
	rc = web_page_max(x, 200, "console_bulk_result", d, BULK_PAGE_MAX);
	tmpl_data_free(d);
	buf_free(&tsv);
	buf_free(&tb64);
	return rc;
}

/*
 * GET /bulk/job?id=ID: the job of this session — its lines done of the pass's total on a page
 * that refreshes itself every second, then the result.  Another session or officer: 404.
 */
int
console_bulk_job_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct console_bulk_view v;
	struct tmpl_data *d;
	char num[32];
	int rc;

	web_ctx_init(&x, &console.site, r);
	memset(&v, 0, sizeof(v));
	if (console_gate(&x, 1u << RA_ROLE_OFFICER, RA_PERM_SERVER | RA_PERM_CLIENT | RA_PERM_ACME,
			 &w, &rc))
		return rc;
	/* a GET (or HEAD) takes nothing: the ZIP passwords and the EAB credentials only the
	 * button's POST takes (console_bulk_keys_post) */
	if (console_bulk_job_view(http_query(r, "id"), x.sid, w.o.id, 0, &v) == -1)
		return web_notice(&x, 404, N_("Not found"),
				  N_("There is no such bulk commit in this session. A result is "
				     "kept for one hour."));
	if (v.failed) {
		rc = web_error(&x, &v.e);
		goto out;
	}
	if (v.finished) {
		rc = bulk_done_page(&x, &w, &v);
		goto out;
	}
	d = console_data(&x, &w, bulk_title[v.kind]);
	tmpl_data_str(d, "kind", ra_bulk_kind_name(v.kind));
	tmpl_data_str(d, "refresh", "1");
	tmpl_data_bool(d, "queued", v.queued);
	snprintf(num, sizeof(num), "%zu", v.ahead);
	tmpl_data_str(d, "ahead", num);
	tmpl_data_bool(d, "checking", !v.queued && v.pass == 0);
	tmpl_data_bool(d, "committing", !v.queued && v.pass == 1);
	tmpl_data_bool(d, "storing", !v.queued && v.pass == 2);
	snprintf(num, sizeof(num), "%zu", v.done);
	tmpl_data_str(d, "done", num);
	snprintf(num, sizeof(num), "%zu", v.total);
	tmpl_data_str(d, "total", num);
	snprintf(num, sizeof(num), "%zu", v.total > 0 ? v.done * 100 / v.total : 0);
	tmpl_data_str(d, "percent", num);
	rc = web_page(&x, 200, "console_bulk_job", d);
	tmpl_data_free(d);
out:
	free(v.out);
	if (v.zips != NULL) {
		ra_bulk_zips_wipe(v.zips);
		free(v.zips);
	}
	ra_bulk_eabs_free(v.eabs);
	return rc;
}

/*
 * POST /bulk/job/keys (id, CSRF): the finished job's secrets — the ZIP passwords of a server
 * or client job's download method 2 lines, the EAB credentials of an ACME create job — shown
 * on this answer (no-store) and erased from the job; the job's page (GET) only says they wait
 * or when they were shown.  Sent again: the page without them.
 */
int
console_bulk_keys_post(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct web_form f;
	struct console_bulk_view v;
	char loc[64];
	const char *id;
	int rc;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	memset(&v, 0, sizeof(v));
	if (web_form_read(&x, &f, NULL, &rc))
		goto out;
	if (console_gate(&x, 1u << RA_ROLE_OFFICER, RA_PERM_SERVER | RA_PERM_CLIENT | RA_PERM_ACME,
			 &w, &rc))
		goto out;
	id = web_form_get(&f, "id");
	if (id == NULL ||
	    console_bulk_job_view(id, x.sid, w.o.id,
				  CONSOLE_BULK_TAKE_ZIPS | CONSOLE_BULK_TAKE_EABS, &v) == -1) {
		rc = web_notice(&x, 404, N_("Not found"),
				N_("There is no such bulk commit in this session. A result is "
				   "kept for one hour."));
		goto out;
	}
	if (!v.finished || v.failed) {
		snprintf(loc, sizeof(loc), "/bulk/job?id=%s", v.id);
		rc = web_redirect(&x, loc);
		goto out;
	}
	rc = bulk_done_page(&x, &w, &v);
out:
	free(v.out);
	if (v.zips != NULL) {
		ra_bulk_zips_wipe(v.zips);
		free(v.zips);
	}
	ra_bulk_eabs_free(v.eabs);
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
	if (console_gate(&x, 1u << RA_ROLE_OFFICER, RA_PERM_SERVER | RA_PERM_CLIENT | RA_PERM_ACME,
			 &w, &rc))
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
