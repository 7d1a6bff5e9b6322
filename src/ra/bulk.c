/*
 * ra bulk: the officer console's bulk TSV, read (util/tsv.c) and checked line by line without
 * writing anything (ra.h "bulk TSV (console)", docs/bulk-tsv.md).  Each line yields a record
 * or errors naming the line, the column and the rule; the file's totals say how many of each.
 *
 * Which columns an operation needs is one table (bulk_needs): a character per column, 'r'
 * required, 'o' optional, '-' must be empty, 'x' not a column of this kind of file.  The
 * UPKI layout maps positions to columns (bulk_upki_*); the native header names them.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>

#include "ra/ra.h"
#include "util/b64.h"
#include "util/utf8.h"
#include "x509/x509.h"

static const char *const bulk_kind_names[RA_BULK_KIND__MAX] = {"server", "client", "acme"};
static const char *const bulk_op_names[RA_BULK_OP__MAX] = {"issue", "renew", "revoke", "create",
							   "suspend"};
static const char *const bulk_dialect_names[RA_BULK_DIALECT__MAX] = {"native", "upki"};

const char *
ra_bulk_kind_name(enum ra_bulk_kind v)
{
	return (unsigned)v < RA_BULK_KIND__MAX ? bulk_kind_names[v] : "error";
}

const char *
ra_bulk_op_name(enum ra_bulk_op v)
{
	return (unsigned)v < RA_BULK_OP__MAX ? bulk_op_names[v] : "error";
}

const char *
ra_bulk_dialect_name(enum ra_bulk_dialect v)
{
	return (unsigned)v < RA_BULK_DIALECT__MAX ? bulk_dialect_names[v] : "error";
}

int
ra_bulk_op_valid(enum ra_bulk_kind k, enum ra_bulk_op op)
{
	if ((unsigned)k >= RA_BULK_KIND__MAX || (unsigned)op >= RA_BULK_OP__MAX)
		return 0;
	if (k == RA_BULK_ACME)
		return op != RA_BULK_ISSUE;
	return op == RA_BULK_ISSUE || op == RA_BULK_RENEW || op == RA_BULK_REVOKE;
}

/* The columns: native header name, Japanese name, most characters. */
static const struct {
	const char *en, *ja;
	size_t max;
} bulk_cols[RA_BULK_COL__MAX] = {
    [RA_BULK_COL_NONE] = {"unused", "(空欄)", 0},
    [RA_BULK_COL_SUBJECT_DN] = {"subject_dn", "主体者DN", 250},
    [RA_BULK_COL_PROFILE] = {"profile", "プロファイルID", 16},
    [RA_BULK_COL_DOWNLOAD_METHOD] = {"download_method", "証明書ダウンロード方法", 1},
    [RA_BULK_COL_ACCOUNT_ID] = {"acme_account_id", "ACMEアカウントID", 128},
    [RA_BULK_COL_SERIAL] = {"serial", "シリアル番号", 50},
    [RA_BULK_COL_REASON] = {"reason", "失効事由", 1},
    [RA_BULK_COL_COMMENT] = {"comment", "失効事由コメント", 128},
    [RA_BULK_COL_CSR] = {"csr", "CSR", 2048},
    [RA_BULK_COL_ADMIN_NAME] = {"admin_name", "利用管理者氏名", 64},
    [RA_BULK_COL_ADMIN_UNIT] = {"admin_unit", "利用管理者所属", 64},
    [RA_BULK_COL_ADMIN_EMAIL] = {"admin_email", "利用管理者メールアドレス", 78},
    [RA_BULK_COL_FQDN] = {"fqdn", "FQDN", 64},
    [RA_BULK_COL_SERVER_SOFTWARE] = {"server_software", "サーバソフトウェア", 128},
    [RA_BULK_COL_DNS_NAMES] = {"dns_names", "dNSName", 250},
    [RA_BULK_COL_HOLDER_NAME] = {"holder_name", "利用者氏名", 64},
    [RA_BULK_COL_P12_NAME] = {"p12_name", "P12ファイル名", 64},
    [RA_BULK_COL_HOLDER_UNIT] = {"holder_unit", "利用者所属", 64},
    [RA_BULK_COL_HOLDER_EMAIL] = {"holder_email", "利用者メールアドレス", 128},
    [RA_BULK_COL_ACCESS_PIN] = {"access_pin", "アクセスPIN", 64},
};

const char *
ra_bulk_col_name(enum ra_bulk_col c)
{
	return (unsigned)c < RA_BULK_COL__MAX ? bulk_cols[c].en : "error";
}

const char *
ra_bulk_col_name_ja(enum ra_bulk_col c)
{
	return (unsigned)c < RA_BULK_COL__MAX ? bulk_cols[c].ja : "";
}

static const char *const bulk_code_names[RA_BULK_E__MAX] = {
    [RA_BULK_E_NONE] = "none",
    [RA_BULK_E_FILE] = "file",
    [RA_BULK_E_USAGE] = "usage",
    [RA_BULK_E_NO_DATA] = "no_data",
    [RA_BULK_E_HEADER_UNKNOWN] = "header_unknown",
    [RA_BULK_E_HEADER_DUPLICATE] = "header_duplicate",
    [RA_BULK_E_HEADER_NOT_APPLICABLE] = "header_not_applicable",
    [RA_BULK_E_HEADER_MISSING] = "header_missing",
    [RA_BULK_E_COLUMNS] = "columns",
    [RA_BULK_E_REQUIRED] = "required",
    [RA_BULK_E_NOT_EMPTY] = "not_empty",
    [RA_BULK_E_TOO_LONG] = "too_long",
    [RA_BULK_E_DN_SYNTAX] = "dn_syntax",
    [RA_BULK_E_DN_ORDER] = "dn_order",
    [RA_BULK_E_DN_ATTRIBUTE] = "dn_attribute",
    [RA_BULK_E_DN_VALUE] = "dn_value",
    [RA_BULK_E_PROFILE] = "profile",
    [RA_BULK_E_CSR] = "csr",
    [RA_BULK_E_CSR_SUBJECT] = "csr_subject",
    [RA_BULK_E_CSR_KEY] = "csr_key",
    [RA_BULK_E_EMAIL] = "email",
    [RA_BULK_E_FQDN] = "fqdn",
    [RA_BULK_E_DNS_NAME] = "dns_name",
    [RA_BULK_E_DNS_COUNT] = "dns_count",
    [RA_BULK_E_DNS_DUPLICATE] = "dns_duplicate",
    [RA_BULK_E_SERIAL] = "serial",
    [RA_BULK_E_REASON] = "reason",
    [RA_BULK_E_COMMENT_REQUIRED] = "comment_required",
    [RA_BULK_E_DOWNLOAD] = "download",
    [RA_BULK_E_AMBIGUOUS] = "ambiguous",
    [RA_BULK_E_PIN] = "pin",
    [RA_BULK_E_P12_NAME] = "p12_name",
    [RA_BULK_E_ACCOUNT_ID] = "account_id",
};

const char *
ra_bulk_code_name(enum ra_bulk_code v)
{
	return (unsigned)v < RA_BULK_E__MAX ? bulk_code_names[v] : "error";
}

/*
 * What each operation needs of each column, in enum ra_bulk_col order:
 * NONE DN PROFILE DOWNLOAD ACCOUNT SERIAL REASON COMMENT CSR ADMIN_NAME ADMIN_UNIT ADMIN_EMAIL
 * FQDN SOFTWARE DNS HOLDER_NAME P12 HOLDER_UNIT HOLDER_EMAIL PIN.
 */
static const char *const bulk_needs[RA_BULK_KIND__MAX][RA_BULK_OP__MAX] = {
    [RA_BULK_SERVER] =
	{
	    [RA_BULK_ISSUE] = "-rrxx---roorrroxxxxx",
	    [RA_BULK_RENEW] = "-rrxxr--roorrroxxxxx",
	    [RA_BULK_REVOKE] = "-r-xxrro---o---xxxxx",
	},
    [RA_BULK_CLIENT] =
	{
	    [RA_BULK_ISSUE] = "-rrrx---xoorxxxooooo",
	    [RA_BULK_RENEW] = "-rrrxr--xoorxxxooooo",
	    [RA_BULK_REVOKE] = "-rooxrroxoooxxxoooo-",
	},
    [RA_BULK_ACME] =
	{
	    [RA_BULK_CREATE] = "-rrx-----oorrroxxxxx",
	    [RA_BULK_RENEW] = "-rrxr----oorrroxxxxx",
	    [RA_BULK_SUSPEND] = "-r-xr-ro---o---xxxxx",
	    [RA_BULK_REVOKE] = "-r-x-rro---o---xxxxx",
	},
};

/* The UPKI layouts: the column at each position (1-based position = index + 1). */
#define BULK_UPKI_MAX 15
static const enum ra_bulk_col bulk_upki_server[13] = {
    RA_BULK_COL_SUBJECT_DN, RA_BULK_COL_PROFILE,     RA_BULK_COL_NONE, RA_BULK_COL_SERIAL,
    RA_BULK_COL_REASON,	    RA_BULK_COL_COMMENT,     RA_BULK_COL_CSR,  RA_BULK_COL_ADMIN_NAME,
    RA_BULK_COL_ADMIN_UNIT, RA_BULK_COL_ADMIN_EMAIL, RA_BULK_COL_FQDN, RA_BULK_COL_SERVER_SOFTWARE,
    RA_BULK_COL_DNS_NAMES,
};
static const enum ra_bulk_col bulk_upki_acme[13] = {
    RA_BULK_COL_SUBJECT_DN,  RA_BULK_COL_PROFILE,    RA_BULK_COL_ACCOUNT_ID,
    RA_BULK_COL_SERIAL,	     RA_BULK_COL_REASON,     RA_BULK_COL_COMMENT,
    RA_BULK_COL_CSR,	     RA_BULK_COL_ADMIN_NAME, RA_BULK_COL_ADMIN_UNIT,
    RA_BULK_COL_ADMIN_EMAIL, RA_BULK_COL_FQDN,	     RA_BULK_COL_SERVER_SOFTWARE,
    RA_BULK_COL_DNS_NAMES,
};
static const enum ra_bulk_col bulk_upki_client[15] = {
    RA_BULK_COL_SUBJECT_DN,  RA_BULK_COL_PROFILE,      RA_BULK_COL_DOWNLOAD_METHOD,
    RA_BULK_COL_SERIAL,	     RA_BULK_COL_REASON,       RA_BULK_COL_COMMENT,
    RA_BULK_COL_NONE,	     RA_BULK_COL_ADMIN_NAME,   RA_BULK_COL_ADMIN_UNIT,
    RA_BULK_COL_ADMIN_EMAIL, RA_BULK_COL_HOLDER_NAME,  RA_BULK_COL_P12_NAME,
    RA_BULK_COL_HOLDER_UNIT, RA_BULK_COL_HOLDER_EMAIL, RA_BULK_COL_ACCESS_PIN,
};

/* A CSR parsed once per file (the same bytes on many lines are parsed once). */
struct bulk_csr {
	unsigned char *der;
	size_t len;
	struct csr *csr; /* NULL: refused, msg says why */
	struct x509_keyinfo ki;
	char msg[160];
};

struct bulk_ctx {
	const struct ra_bulk_opts *o;
	const char *needs;
	struct ra_bulk_result *res;
	size_t line;
	size_t line_errs;
	size_t pos[RA_BULK_COL__MAX];	 /* 1-based position of each column; 0: absent */
	const char *v[RA_BULK_COL__MAX]; /* the current line's values ("" when absent) */
	size_t at;			 /* when not 0: the position errors name */
	int refused[RA_BULK_COL__MAX];	 /* the column broke a presence rule: not checked on */
	const enum ra_bulk_col *upki;	 /* UPKI: the layout; NULL for native */
	size_t ncols;			 /* columns a line must have */
	struct bulk_csr cache[RA_BULK_CSR_CACHE];
	size_t ncache, evict;
	const unsigned char *verified; /* per document line: its CSR's signature verifies */
	const struct tsv_doc *vdoc;    /* ... in this document's column vcol */
	size_t vcol;
	size_t cur;  /* the document line being checked */
	int csr_pre; /* the CSR being parsed is the one verified (bytes and all) */
};

/* Records an error of the current line (column c, or NONE); returns -1. */
static int bulk_err(struct bulk_ctx *x, enum ra_bulk_col c, enum ra_bulk_code code, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));

static int
bulk_err(struct bulk_ctx *x, enum ra_bulk_col c, enum ra_bulk_code code, const char *fmt, ...)
{
	struct ra_bulk_result *r = x->res;
	struct ra_bulk_error *er;
	va_list ap;

	if (x->line_errs++ >= RA_BULK_LINE_ERRORS_MAX)
		return -1;
	if (r->nerrs >= RA_BULK_ERRORS_MAX) {
		r->errs_dropped++;
		return -1;
	}
	if ((r->nerrs & (r->nerrs - 1)) == 0 || r->nerrs == 0)
		r->errs = xrealloc(r->errs, (r->nerrs == 0 ? 1 : 2 * r->nerrs) * sizeof(*er));
	er = &r->errs[r->nerrs++];
	memset(er, 0, sizeof(*er));
	er->line = x->line;
	er->column = x->at != 0 ? x->at : c == RA_BULK_COL_NONE ? 0 : x->pos[c];
	er->col = c;
	er->code = code;
	va_start(ap, fmt);
	vsnprintf(er->msg, sizeof(er->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void
ra_bulk_rec_clear(struct ra_bulk_rec *r)
{
	if (r == NULL)
		return;
	free(r->subject_dn);
	free(r->csr);
	free(r->admin_name);
	free(r->admin_unit);
	free(r->admin_email);
	free(r->fqdn);
	free(r->server_software);
	for (size_t i = 0; i < r->ndns; i++)
		free(r->dns[i]);
	free(r->dns);
	free(r->comment);
	free(r->account_id);
	free(r->holder_name);
	free(r->holder_unit);
	free(r->holder_email);
	free(r->p12_name);
	if (r->pin != NULL)
		OPENSSL_cleanse(r->pin, strlen(r->pin));
	free(r->pin);
	memset(r, 0, sizeof(*r));
	r->reason = -1;
}

void
ra_bulk_result_free(struct ra_bulk_result *res)
{
	if (res == NULL)
		return;
	for (size_t i = 0; i < res->nrecs; i++)
		ra_bulk_rec_clear(&res->recs[i]);
	free(res->recs);
	free(res->errs);
	memset(res, 0, sizeof(*res));
}

void
ra_bulk_summary(const struct ra_bulk_result *res, struct ra_bulk_summary *s)
{
	s->total = res->total;
	s->good = res->good;
	s->bad = res->bad;
	s->encoding = res->encoding;
	s->encoding_name = tsv_encoding_name(res->encoding);
}

/* ---- value rules ---- */

/* A copy of s, or NULL when s is empty. */
static char *
bulk_dup(const char *s)
{
	return *s == '\0' ? NULL : xstrdup(s);
}

static void
bulk_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* 1 when every byte of s is in the set (ASCII letters and digits are always allowed). */
static int
bulk_ascii_in(const char *s, const char *set)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (!isalnum(c) || c >= 0x80)
			if (c >= 0x80 || strchr(set, c) == NULL)
				return 0;
	}
	return 1;
}

/* A host name label run: [A-Za-z0-9-], labels 1-63, not starting or ending with '-'. */
static int
bulk_domain_ok(const char *d)
{
	size_t lab = 0, labels = 0;
	const char *s = d;

	if (*d == '\0' || strlen(d) > 253)
		return 0;
	for (;; s++) {
		if (*s == '.' || *s == '\0') {
			if (lab == 0 || lab > 63 || s[-1] == '-')
				return 0;
			labels++;
			lab = 0;
			if (*s == '\0')
				break;
			continue;
		}
		if (!(isalnum((unsigned char)*s) && (unsigned char)*s < 0x80) && *s != '-')
			return 0;
		if (lab == 0 && *s == '-')
			return 0;
		lab++;
	}
	return labels >= 2;
}

/* 1 for an e-mail address: dot-atom local part (1-64) "@" a host name with a dot. */
static int
bulk_email_ok(const char *s)
{
	const char *at = strchr(s, '@');
	size_t local;

	if (at == NULL || strchr(at + 1, '@') != NULL || strlen(s) > 254)
		return 0;
	local = (size_t)(at - s);
	if (local == 0 || local > 64 || s[0] == '.' || at[-1] == '.')
		return 0;
	for (const char *p = s; p < at; p++) {
		unsigned char c = (unsigned char)*p;

		if (c >= 0x80 || (!isalnum(c) && strchr("!#$%&'*+/=?^_`{|}~.-", c) == NULL))
			return 0;
		if (c == '.' && p[1] == '.')
			return 0;
	}
	return bulk_domain_ok(at + 1);
}

/* The attributes of a subject DN, in the text's order (CN first). */
enum bulk_attr {
	BULK_A_CN = 0,
	BULK_A_OU,
	BULK_A_O,
	BULK_A_L,
	BULK_A_ST,
	BULK_A_C,
	BULK_A__N,
};
static const char *const bulk_attr_names[BULK_A__N] = {"CN", "OU", "O", "L", "ST", "C"};
static const int bulk_attr_nids[BULK_A__N] = {NID_commonName,	       NID_organizationalUnitName,
					      NID_organizationName,    NID_localityName,
					      NID_stateOrProvinceName, NID_countryName};

#define BULK_DN_RDNS 6
struct bulk_dn {
	int n;
	enum bulk_attr type[BULK_DN_RDNS];
	char *val[BULK_DN_RDNS];
	char buf[256];
};

/* The attribute type spelled by name[0..len) (any case unless strict); -1 when unknown. */
static int
bulk_attr_find(const char *name, size_t len, int strict)
{
	for (int i = 0; i < BULK_A__N; i++) {
		const char *a = bulk_attr_names[i];

		if (strlen(a) != len)
			continue;
		if (strict ? memcmp(a, name, len) == 0 : strncasecmp(a, name, len) == 0)
			return i;
	}
	return -1;
}

/* At s: blanks, letters, blanks, '=': the length up to and including '=', else 0. */
static size_t
bulk_attr_at(const char *s)
{
	const char *p = s;

	while (*p == ' ')
		p++;
	if (!isalpha((unsigned char)*p))
		return 0;
	while (isalnum((unsigned char)*p))
		p++;
	while (*p == ' ')
		p++;
	return *p == '=' ? (size_t)(p - s + 1) : 0;
}

/*
 * Splits "CN=a,O=b,..." into d.  A comma separates only where an attribute name and '='
 * follow it (O may hold commas).  strict (ACME): upper-case names, no blank around '=' nor
 * after ','.  Values lose surrounding blanks otherwise.
 */
static int
bulk_dn_split(struct bulk_ctx *x, const char *s, int strict, struct bulk_dn *d)
{
	const enum ra_bulk_col C = RA_BULK_COL_SUBJECT_DN;
	char *p;

	memset(d, 0, sizeof(*d));
	if (strlen(s) >= sizeof(d->buf))
		return bulk_err(x, C, RA_BULK_E_TOO_LONG, "subject DN longer than 250 characters");
	memcpy(d->buf, s, strlen(s) + 1);
	p = d->buf;
	for (;;) {
		size_t alen = bulk_attr_at(p), nlen;
		char *name = p, *eq, *v, *end, *q;
		int t;

		if (alen == 0)
			return bulk_err(x, C, RA_BULK_E_DN_SYNTAX,
					"subject DN: expected NAME=value at \"%.40s\"", p);
		eq = p + alen - 1;
		while (*name == ' ')
			name++;
		nlen = (size_t)(eq - name);
		while (nlen > 0 && name[nlen - 1] == ' ')
			nlen--;
		if (strict && (name != p || name + nlen != eq))
			return bulk_err(x, C, RA_BULK_E_DN_SYNTAX,
					"subject DN: no blank is allowed around '=' or after ','");
		t = bulk_attr_find(name, nlen, strict);
		if (t < 0 && strict && bulk_attr_find(name, nlen, 0) >= 0)
			return bulk_err(
			    x, C, RA_BULK_E_DN_SYNTAX,
			    "subject DN: attribute names in upper case (CN, O, L, ST, C)");
		if (t < 0)
			return bulk_err(x, C, RA_BULK_E_DN_ATTRIBUTE,
					"subject DN: attribute %.*s is not allowed (only %s)",
					(int)(nlen > 20 ? 20 : nlen), name,
					x->o->kind == RA_BULK_CLIENT ? "CN, OU, O, L, ST, C"
								     : "CN, O, L, ST, C");
		v = eq + 1;
		for (end = v; (q = strchr(end, ',')) != NULL; end = q + 1)
			if (bulk_attr_at(q + 1) != 0)
				break;
		end = q != NULL ? q : v + strlen(v);
		p = q != NULL ? q + 1 : NULL;
		*end = '\0';
		if (strict && (*v == ' ' || (end > v && end[-1] == ' ')))
			return bulk_err(x, C, RA_BULK_E_DN_SYNTAX,
					"subject DN: no blank is allowed around '=' or after ','");
		while (*v == ' ')
			v++;
		while (end > v && end[-1] == ' ')
			*--end = '\0';
		if (d->n == BULK_DN_RDNS)
			return bulk_err(x, C, RA_BULK_E_DN_ORDER,
					"subject DN: more than %d attributes", BULK_DN_RDNS);
		d->type[d->n] = (enum bulk_attr)t;
		d->val[d->n++] = v;
		if (p == NULL)
			return 0;
	}
}

/* The value rules of one attribute; 0 or -1 (error recorded). */
static int
bulk_dn_value(struct bulk_ctx *x, enum bulk_attr t, char *v, int smime)
{
	const enum ra_bulk_col C = RA_BULK_COL_SUBJECT_DN;
	const char *an = bulk_attr_names[t];
	long chars = utf8_count((const unsigned char *)v, strlen(v));
	long max = (t == BULK_A_L || t == BULK_A_ST) ? 128 : 64;

	if (*v == '\0')
		return bulk_err(x, C, RA_BULK_E_DN_VALUE, "subject DN: %s is empty", an);
	if (chars < 0 || chars > max)
		return bulk_err(x, C, RA_BULK_E_DN_VALUE,
				"subject DN: %s longer than %ld characters", an, max);
	switch (t) {
	case BULK_A_C:
		if (strcmp(v, "JP") != 0)
			return bulk_err(x, C, RA_BULK_E_DN_VALUE, "subject DN: C must be JP");
		return 0;
	case BULK_A_CN:
		if (x->o->kind == RA_BULK_CLIENT) {
			if (smime && !bulk_email_ok(v))
				return bulk_err(
				    x, C, RA_BULK_E_DN_VALUE,
				    "subject DN: the CN of an S/MIME certificate (profile "
				    "7) is the holder's e-mail address");
			if (!bulk_ascii_in(v, " '(),-./:=@_"))
				return bulk_err(
				    x, C, RA_BULK_E_DN_VALUE,
				    "subject DN: CN may hold half-width letters, digits, "
				    "space and '(),-./:=@_ only");
			return 0;
		}
		bulk_lower(v);
		if (!bulk_ascii_in(v, ".-") || v[0] == '.' || v[0] == '-' ||
		    v[strlen(v) - 1] == '.' || v[strlen(v) - 1] == '-' || !bulk_domain_ok(v))
			return bulk_err(
			    x, C, RA_BULK_E_DN_VALUE,
			    "subject DN: CN must be a host name of a-z, 0-9, '.' and '-' "
			    "(not starting or ending with '.' or '-')");
		return 0;
	default:
		if (!bulk_ascii_in(v, " '(),-./:="))
			return bulk_err(x, C, RA_BULK_E_DN_VALUE,
					"subject DN: %s may hold half-width letters, digits, space "
					"and '(),-./:= only",
					an);
		return 0;
	}
}

/* The subject DN column: syntax, order (CN,[OU,]O,L,ST,C), values; normalised into *norm. */
static int
bulk_dn_check(struct bulk_ctx *x, const char *s, int smime, struct bulk_dn *d, char **norm)
{
	const enum ra_bulk_col C = RA_BULK_COL_SUBJECT_DN;
	int client = x->o->kind == RA_BULK_CLIENT, k = 0;
	struct buf b;

	if (bulk_dn_split(x, s, x->o->kind == RA_BULK_ACME, d) == -1)
		return -1;
	for (int i = 0; i < d->n; i++) {
		if (d->type[i] == BULK_A_OU && !client)
			return bulk_err(x, C, RA_BULK_E_DN_ATTRIBUTE,
					"subject DN: no OU in %s certificates",
					x->o->kind == RA_BULK_ACME ? "ACME" : "server");
	}
	/* expected: CN, OU (client, optional), O, L, ST, C, each once */
	for (int t = BULK_A_CN; t < BULK_A__N; t++) {
		if (t == BULK_A_OU && (k >= d->n || d->type[k] != BULK_A_OU))
			continue;
		if (k >= d->n || d->type[k] != (enum bulk_attr)t)
			return bulk_err(
			    x, C, RA_BULK_E_DN_ORDER,
			    "subject DN: attributes must be %s in this order, each once",
			    client ? "CN,OU,O,L,ST,C (OU optional)" : "CN,O,L,ST,C");
		k++;
	}
	if (k != d->n)
		return bulk_err(x, C, RA_BULK_E_DN_ORDER,
				"subject DN: attributes must be %s in this order, each once",
				client ? "CN,OU,O,L,ST,C (OU optional)" : "CN,O,L,ST,C");
	for (int i = 0; i < d->n; i++)
		if (bulk_dn_value(x, d->type[i], d->val[i], smime) == -1)
			return -1;
	buf_init(&b, 1024);
	for (int i = 0; i < d->n; i++)
		buf_printf(&b, "%s%s=%s", i ? "," : "", bulk_attr_names[d->type[i]], d->val[i]);
	*norm = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return 0;
}

/* The profile column: UPKI's number, or (native) a name; sets the record's profile. */
static int
bulk_profile(struct bulk_ctx *x, const char *v, struct ra_bulk_rec *r)
{
	static const struct {
		const char *id, *name;
		int kind_client, num, smime;
	} tab[] = {
	    {"3", "rsa2048", 0, 3, 0},
	    {"11", "p384", 0, 11, 0},
	    {"5", "client", 1, 5, 0},
	    {"7", "smime", 1, 7, 1},
	};
	int client = x->o->kind == RA_BULK_CLIENT;

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (tab[i].kind_client != client)
			continue;
		if (strcmp(v, tab[i].id) == 0 ||
		    (x->o->dialect == RA_BULK_NATIVE && strcmp(v, tab[i].name) == 0)) {
			r->profile_id = tab[i].num;
			r->smime = tab[i].smime;
			r->profile = client ? "client" : "server";
			return 0;
		}
	}
	return bulk_err(x, RA_BULK_COL_PROFILE, RA_BULK_E_PROFILE, "profile %s: %s",
			x->o->dialect == RA_BULK_NATIVE ? "must be" : "ID must be",
			client ? (x->o->dialect == RA_BULK_NATIVE
				      ? "5 or client (client authentication), 7 or smime (S/MIME)"
				      : "5 (client authentication) or 7 (S/MIME)")
			       : (x->o->dialect == RA_BULK_NATIVE
				      ? "3 or rsa2048 (RSA 2048), 11 or p384 (ECDSA P-384)"
				      : "3 (RSA 2048) or 11 (ECDSA P-384)"));
}

/* The parse of der (from the cache, or parsed now and remembered). */
static struct bulk_csr *
bulk_csr_get(struct bulk_ctx *x, const unsigned char *der, size_t len)
{
	struct bulk_csr *c;
	struct err e;

	for (size_t i = 0; i < x->ncache; i++)
		if (x->cache[i].len == len && memcmp(x->cache[i].der, der, len) == 0)
			return &x->cache[i];
	if (x->ncache < RA_BULK_CSR_CACHE) {
		c = &x->cache[x->ncache++];
	} else {
		c = &x->cache[x->evict++ % RA_BULK_CSR_CACHE];
		free(c->der);
		csr_free(c->csr);
	}
	memset(c, 0, sizeof(*c));
	c->der = xmalloc(len);
	memcpy(c->der, der, len);
	c->len = len;
	err_clear(&e);
	if (csr_parse_ex(der, len, x->o->csr_checked || x->csr_pre ? CSR_PARSE_NO_VERIFY : 0,
			 &c->csr, &e) == -1 ||
	    x509_spki_check(c->csr->spki, &c->ki, &e) == -1) {
		csr_free(c->csr);
		c->csr = NULL;
		snprintf(c->msg, sizeof(c->msg), "%.150s", e.msg);
	}
	return c;
}

/* 1 when the CSR's subject is d: the same attributes and values, C first or CN first. */
static int
bulk_csr_subject_eq(const X509_NAME *n, const struct bulk_dn *d)
{
	int cnt = X509_NAME_entry_count(n), fwd;

	if (cnt != d->n || cnt == 0)
		return 0;
	/* X.509 order C,ST,L,O,CN is the text's reverse; the text's own order is accepted too */
	fwd = OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(n, 0))) == NID_countryName;
	for (int i = 0; i < cnt; i++) {
		const X509_NAME_ENTRY *ne = X509_NAME_get_entry(n, fwd ? cnt - 1 - i : i);
		unsigned char *u = NULL;
		int len, ok;

		if (i > 0 && X509_NAME_ENTRY_set(ne) ==
				 X509_NAME_ENTRY_set(X509_NAME_get_entry(n, fwd ? cnt - i : i - 1)))
			return 0; /* a multi-valued RDN */
		if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne)) != bulk_attr_nids[d->type[i]])
			return 0;
		len = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(ne));
		if (len < 0)
			return 0;
		ok = (size_t)len == strlen(d->val[i]) &&
		     (d->type[i] == BULK_A_CN ? strncasecmp((char *)u, d->val[i], (size_t)len) == 0
					      : memcmp(u, d->val[i], (size_t)len) == 0);
		OPENSSL_free(u);
		if (!ok)
			return 0;
	}
	return 1;
}

/* The CSR column: base64 DER of a valid CSR whose subject is the DN and key the profile's. */
static int
bulk_csr(struct bulk_ctx *x, const char *v, const struct bulk_dn *d, struct ra_bulk_rec *r)
{
	const enum ra_bulk_col C = RA_BULK_COL_CSR;
	struct bulk_csr *c;
	struct buf der;
	int rc = -1;

	buf_init(&der, X509_CSR_MAX);
	if (b64_decode(&der, v, strlen(v), 0) == -1) {
		bulk_err(x, C, RA_BULK_E_CSR,
			 "CSR: not base64 on one line (DER without BEGIN/END lines)");
		goto out;
	}
	/* the very value the threads verified (bulk_verify_all) */
	x->csr_pre = x->verified != NULL && x->verified[x->cur] &&
		     x->vcol < x->vdoc->lines[x->cur].ncols &&
		     v == x->vdoc->lines[x->cur].cols[x->vcol];
	c = bulk_csr_get(x, der.data, der.len);
	x->csr_pre = 0;
	if (c->csr == NULL) {
		bulk_err(x, C, RA_BULK_E_CSR, "CSR: %s", c->msg);
		goto out;
	}
	if (r->profile_id == 3 && (c->ki.type != EVP_PKEY_RSA || c->ki.bits != 2048)) {
		bulk_err(x, C, RA_BULK_E_CSR_KEY, "CSR: profile 3 needs an RSA 2048-bit key");
		goto out;
	}
	if (r->profile_id == 11 && (c->ki.type != EVP_PKEY_EC || c->ki.bits != 384)) {
		bulk_err(x, C, RA_BULK_E_CSR_KEY, "CSR: profile 11 needs an ECDSA P-384 key");
		goto out;
	}
	if (d->n > 0 && !bulk_csr_subject_eq(c->csr->subject, d)) {
		bulk_err(x, C, RA_BULK_E_CSR_SUBJECT,
			 "CSR: its subject is not the subject DN of the line (same attributes and "
			 "values; order C,ST,L,O,CN or its reverse)");
		goto out;
	}
	r->csr = xmalloc(der.len);
	memcpy(r->csr, der.data, der.len);
	r->csr_len = der.len;
	rc = 0;
out:
	buf_free(&der);
	return rc;
}

/* One host name: lower-cased into a copy, checked as a dNSName without wildcard. */
static char *
bulk_host(const char *s, size_t len)
{
	char *h = xstrndup(s, len);
	struct err e;

	bulk_lower(h);
	err_clear(&e);
	if (len == 0 || strchr(h, '*') != NULL || x509_dns_name_check(h, len, 0, &e) == -1) {
		free(h);
		return NULL;
	}
	return h;
}

/* The dNSName column: UPKI "dNSName=a,dNSName=b"; native "a,b" (the prefix optional). */
static int
bulk_dns(struct bulk_ctx *x, const char *v, struct ra_bulk_rec *r)
{
	const enum ra_bulk_col C = RA_BULK_COL_DNS_NAMES;
	const char *p = v;
	char **out = xcalloc(RA_BULK_DNS_MAX + 1, sizeof(*out));
	size_t n = 0;
	int rc = -1;

	while (*v != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		int prefixed = len >= 8 && strncasecmp(p, "dNSName=", 8) == 0;
		char *h;

		if (len == 0) {
			bulk_err(x, C, RA_BULK_E_DNS_NAME,
				 "dNSName: an empty entry (a comma at the end, or two in a row)");
			goto out;
		}
		if (!prefixed && x->o->dialect == RA_BULK_UPKI) {
			bulk_err(x, C, RA_BULK_E_DNS_NAME,
				 "dNSName: each entry is dNSName=<host name>, separated by commas");
			goto out;
		}
		if (n == RA_BULK_DNS_MAX) {
			bulk_err(x, C, RA_BULK_E_DNS_COUNT, "dNSName: more than %d names",
				 RA_BULK_DNS_MAX);
			goto out;
		}
		h = bulk_host(prefixed ? p + 8 : p, prefixed ? len - 8 : len);
		if (h == NULL) {
			bulk_err(x, C, RA_BULK_E_DNS_NAME,
				 "dNSName: entry %zu is not a host name (no wildcard)", n + 1);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (strcmp(out[i], h) == 0) {
				bulk_err(x, C, RA_BULK_E_DNS_DUPLICATE,
					 "dNSName: %s is listed twice", h);
				free(h);
				goto out;
			}
		}
		out[n++] = h;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	/* the FQDN first when it is missing */
	if (r->fqdn != NULL) {
		size_t i = 0;

		while (i < n && strcmp(out[i], r->fqdn) != 0)
			i++;
		if (i == n) {
			memmove(out + 1, out, n * sizeof(*out));
			out[0] = xstrdup(r->fqdn);
			n++;
		}
	}
	r->dns = out;
	r->ndns = n;
	out = NULL;
	rc = 0;
out:
	if (out != NULL) {
		for (size_t i = 0; i < n; i++)
			free(out[i]);
		free(out);
	}
	return rc;
}

/* Serial: decimal, or hex after 0x (any case); positive, at most 20 octets; as upper hex. */
static int
bulk_serial(struct bulk_ctx *x, const char *v, struct ra_bulk_rec *r)
{
	const enum ra_bulk_col C = RA_BULK_COL_SERIAL;
	int hex = v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
	const char *digits = hex ? v + 2 : v;
	unsigned char bin[20];
	BIGNUM *bn = NULL;
	int rc = -1, len;

	if (*digits == '\0' ||
	    strspn(digits, hex ? "0123456789abcdefABCDEF" : "0123456789") != strlen(digits)) {
		bulk_err(x, C, RA_BULK_E_SERIAL,
			 "serial: decimal digits, or hexadecimal digits after 0x");
		goto out;
	}
	if ((hex ? BN_hex2bn(&bn, digits) : BN_dec2bn(&bn, digits)) == 0)
		fatalx("bulk: out of memory");
	if (BN_is_zero(bn) || BN_num_bytes(bn) > 20) {
		bulk_err(x, C, RA_BULK_E_SERIAL, "serial: must be positive and at most 20 octets");
		goto out;
	}
	len = BN_bn2bin(bn, bin);
	hex_encode(r->serial, bin, (size_t)len);
	rc = 0;
out:
	BN_free(bn);
	return rc;
}

/* 1 when s is 1..max of [A-Za-z0-9] and the bytes of extra. */
static int
bulk_token_ok(const char *s, const char *extra)
{
	return *s != '\0' && bulk_ascii_in(s, extra);
}

/* ---- one line ---- */

/*
 * The presence rules ('r', '-') and lengths of every column of the line.  A value that breaks
 * one is refused and read as empty from here on (one error per column, not a cascade).
 */
static int
bulk_presence(struct bulk_ctx *x)
{
	int bad = 0;

	for (int c = 1; c < RA_BULK_COL__MAX; c++) {
		const char *v = x->v[c];
		long chars;

		x->refused[c] = 0;
		if (x->pos[c] == 0)
			continue;
		if (*v == '\0') {
			if (x->needs[c] == 'r')
				bad |= bulk_err(x, (enum ra_bulk_col)c, RA_BULK_E_REQUIRED,
						"%s: required for %s", bulk_cols[c].en,
						ra_bulk_op_name(x->o->op));
			continue;
		}
		if (x->needs[c] == '-' || x->needs[c] == 'x') {
			bad |= bulk_err(x, (enum ra_bulk_col)c, RA_BULK_E_NOT_EMPTY,
					"%s: must be empty for %s %s", bulk_cols[c].en,
					ra_bulk_kind_name(x->o->kind), ra_bulk_op_name(x->o->op));
			x->refused[c] = 1;
			x->v[c] = "";
			continue;
		}
		chars = utf8_count((const unsigned char *)v, strlen(v));
		if (chars < 0 || (size_t)chars > bulk_cols[c].max) {
			bad |= bulk_err(x, (enum ra_bulk_col)c, RA_BULK_E_TOO_LONG,
					"%s: longer than %zu characters", bulk_cols[c].en,
					bulk_cols[c].max);
			x->refused[c] = 1;
			x->v[c] = "";
		}
	}
	return bad ? -1 : 0;
}

/* The client's columns: download method, holder e-mail (S/MIME: the CN), PIN, file name. */
static int
bulk_client(struct bulk_ctx *x, const struct bulk_dn *d, struct ra_bulk_rec *r)
{
	const char **v = x->v;
	int bad = 0;

	if (*v[RA_BULK_COL_DOWNLOAD_METHOD] != '\0') {
		const char *m = v[RA_BULK_COL_DOWNLOAD_METHOD];

		if (m[1] != '\0' || m[0] < '1' || m[0] > '3')
			bad |=
			    bulk_err(x, RA_BULK_COL_DOWNLOAD_METHOD, RA_BULK_E_DOWNLOAD,
				     "download method: 1 (PKCS#12 per person), 2 (PKCS#12 all at "
				     "once) or 3 (browser)");
		else
			r->download = m[0] - '0';
	}
	if (*v[RA_BULK_COL_HOLDER_EMAIL] != '\0') {
		if (!bulk_email_ok(v[RA_BULK_COL_HOLDER_EMAIL]))
			bad |= bulk_err(x, RA_BULK_COL_HOLDER_EMAIL, RA_BULK_E_EMAIL,
					"holder e-mail: not an e-mail address");
		else if (r->smime && d->n > 0 &&
			 strcasecmp(v[RA_BULK_COL_HOLDER_EMAIL], d->val[0]) != 0)
			bad |= bulk_err(x, RA_BULK_COL_HOLDER_EMAIL, RA_BULK_E_EMAIL,
					"holder e-mail: an S/MIME certificate's holder e-mail is "
					"its CN");
		r->holder_email = bulk_dup(v[RA_BULK_COL_HOLDER_EMAIL]);
	} else if (r->smime && d->n > 0) {
		r->holder_email = xstrdup(d->val[0]);
	} else if (x->o->op != RA_BULK_REVOKE && (r->download == 1 || r->download == 3) &&
		   !x->refused[RA_BULK_COL_HOLDER_EMAIL]) {
		bad |= bulk_err(x, RA_BULK_COL_HOLDER_EMAIL, RA_BULK_E_REQUIRED,
				"holder e-mail: required for download method %d (the holder is "
				"mailed the certificate's URL)",
				r->download);
	}
	if (*v[RA_BULK_COL_ACCESS_PIN] != '\0') {
		const char *pin = v[RA_BULK_COL_ACCESS_PIN];

		if (r->download != 2)
			bad |= bulk_err(x, RA_BULK_COL_ACCESS_PIN, RA_BULK_E_PIN,
					"access PIN: only for download method 2");
		else if (strlen(pin) < 4 ||
			 !bulk_ascii_in(pin, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"))
			bad |=
			    bulk_err(x, RA_BULK_COL_ACCESS_PIN, RA_BULK_E_PIN,
				     "access PIN: 4 to 64 half-width letters, digits or symbols");
		else
			r->pin = xstrdup(pin);
	}
	if (*v[RA_BULK_COL_P12_NAME] != '\0' && !bulk_token_ok(v[RA_BULK_COL_P12_NAME], "._-"))
		bad |= bulk_err(x, RA_BULK_COL_P12_NAME, RA_BULK_E_P12_NAME,
				"PKCS#12 file name: half-width letters, digits, '.', '_' and '-'");
	r->p12_name = bulk_dup(v[RA_BULK_COL_P12_NAME]);
	r->holder_name = bulk_dup(v[RA_BULK_COL_HOLDER_NAME]);
	r->holder_unit = bulk_dup(v[RA_BULK_COL_HOLDER_UNIT]);
	return bad ? -1 : 0;
}

/* The server and ACME columns: FQDN (= CN), dNSName, CSR, server software. */
static int
bulk_server(struct bulk_ctx *x, const struct bulk_dn *d, struct ra_bulk_rec *r)
{
	const char **v = x->v;
	int bad = 0;

	if (*v[RA_BULK_COL_FQDN] != '\0') {
		r->fqdn = bulk_host(v[RA_BULK_COL_FQDN], strlen(v[RA_BULK_COL_FQDN]));
		if (r->fqdn == NULL)
			bad |=
			    bulk_err(x, RA_BULK_COL_FQDN, RA_BULK_E_FQDN, "FQDN: not a host name");
		else if (d->n > 0 && strcmp(r->fqdn, d->val[0]) != 0)
			bad |= bulk_err(x, RA_BULK_COL_FQDN, RA_BULK_E_FQDN,
					"FQDN: must equal the CN of the subject DN");
	}
	if ((*v[RA_BULK_COL_DNS_NAMES] != '\0' || r->fqdn != NULL) &&
	    bulk_dns(x, v[RA_BULK_COL_DNS_NAMES], r) == -1)
		bad = -1;
	if (*v[RA_BULK_COL_CSR] != '\0' && r->profile_id != 0 &&
	    bulk_csr(x, v[RA_BULK_COL_CSR], d, r) == -1)
		bad = -1;
	r->server_software = bulk_dup(v[RA_BULK_COL_SERVER_SOFTWARE]);
	return bad ? -1 : 0;
}

/* Columns every kind may have: e-mail, names, serial, reason and comment, account ID. */
static int
bulk_common(struct bulk_ctx *x, struct ra_bulk_rec *r)
{
	const char **v = x->v;
	const char *reason = v[RA_BULK_COL_REASON];
	int bad = 0;

	if (*v[RA_BULK_COL_ADMIN_EMAIL] != '\0' && !bulk_email_ok(v[RA_BULK_COL_ADMIN_EMAIL]))
		bad |= bulk_err(x, RA_BULK_COL_ADMIN_EMAIL, RA_BULK_E_EMAIL,
				"user administrator e-mail: not an e-mail address");
	r->admin_email = bulk_dup(v[RA_BULK_COL_ADMIN_EMAIL]);
	r->admin_name = bulk_dup(v[RA_BULK_COL_ADMIN_NAME]);
	r->admin_unit = bulk_dup(v[RA_BULK_COL_ADMIN_UNIT]);
	if (*v[RA_BULK_COL_SERIAL] != '\0' && bulk_serial(x, v[RA_BULK_COL_SERIAL], r) == -1)
		bad = -1;
	if (*reason != '\0') {
		if (reason[1] != '\0' || strchr("01345", reason[0]) == NULL)
			bad |= bulk_err(x, RA_BULK_COL_REASON, RA_BULK_E_REASON,
					"reason code: 0 (unspecified), 1 (keyCompromise), 3 "
					"(affiliationChanged), 4 (superseded) or 5 "
					"(cessationOfOperation)");
		else
			r->reason = reason[0] - '0';
		if (r->reason == 0 && *v[RA_BULK_COL_COMMENT] == '\0' &&
		    !x->refused[RA_BULK_COL_COMMENT])
			bad |= bulk_err(x, RA_BULK_COL_COMMENT, RA_BULK_E_COMMENT_REQUIRED,
					"reason comment: required when the reason code is 0");
	}
	r->comment = bulk_dup(v[RA_BULK_COL_COMMENT]);
	if (*v[RA_BULK_COL_ACCOUNT_ID] != '\0' && !bulk_token_ok(v[RA_BULK_COL_ACCOUNT_ID], "._~-"))
		bad |=
		    bulk_err(x, RA_BULK_COL_ACCOUNT_ID, RA_BULK_E_ACCOUNT_ID,
			     "ACME account ID: half-width letters, digits, '.', '_', '~' and '-'");
	r->account_id = bulk_dup(v[RA_BULK_COL_ACCOUNT_ID]);
	return bad ? -1 : 0;
}

/*
 * UPKI client columns 14 and 15: the holder e-mail is column 14 and the access PIN column
 * 15, unless column 15 holds an address and column 14 does not (the other source's layout):
 * then they are swapped.  Both addresses is an error (a PIN cannot be told from an address).
 */
static int
bulk_upki_14_15(struct bulk_ctx *x, const struct tsv_line *l, struct ra_bulk_rec *r)
{
	const char *a = l->cols[13], *b = l->cols[14];
	int a_mail = bulk_email_ok(a), b_mail = bulk_email_ok(b);

	x->pos[RA_BULK_COL_HOLDER_EMAIL] = 14;
	x->pos[RA_BULK_COL_ACCESS_PIN] = 15;
	r->holder_email_column = 14;
	if (a_mail && b_mail)
		return bulk_err(x, RA_BULK_COL_HOLDER_EMAIL, RA_BULK_E_AMBIGUOUS,
				"columns 14 and 15 both hold an e-mail address: which is the "
				"holder e-mail and which the access PIN is ambiguous");
	if (b_mail && !a_mail) {
		x->v[RA_BULK_COL_HOLDER_EMAIL] = b;
		x->v[RA_BULK_COL_ACCESS_PIN] = a;
		x->pos[RA_BULK_COL_HOLDER_EMAIL] = 15;
		x->pos[RA_BULK_COL_ACCESS_PIN] = 14;
		r->holder_email_column = 15;
	}
	return 0;
}

/* The values of line l by column; -1 when its column count is wrong. */
static int
bulk_values(struct bulk_ctx *x, const struct tsv_line *l)
{
	if (l->ncols != x->ncols)
		return bulk_err(x, RA_BULK_COL_NONE, RA_BULK_E_COLUMNS,
				"%zu columns, but a %s line has %zu (a tab inside a value makes "
				"one more)",
				l->ncols, ra_bulk_kind_name(x->o->kind), x->ncols);
	for (int c = 0; c < RA_BULK_COL__MAX; c++)
		x->v[c] = "";
	if (x->upki == NULL) {
		for (int c = 1; c < RA_BULK_COL__MAX; c++)
			if (x->pos[c] != 0)
				x->v[c] = l->cols[x->pos[c] - 1];
		return 0;
	}
	for (size_t i = 0; i < x->ncols; i++) {
		if (x->upki[i] != RA_BULK_COL_NONE) {
			x->v[x->upki[i]] = l->cols[i];
			x->pos[x->upki[i]] = i + 1;
		} else if (l->cols[i][0] != '\0') {
			x->at = i + 1;
			bulk_err(x, RA_BULK_COL_NONE, RA_BULK_E_NOT_EMPTY,
				 "column %zu: must be empty (unused in this layout)", i + 1);
			x->at = 0;
			return -1;
		}
	}
	return 0;
}

/* One data line: a record appended to res->recs, or errors. */
static void
bulk_line(struct bulk_ctx *x, const struct tsv_line *l)
{
	struct ra_bulk_result *res = x->res;
	struct ra_bulk_rec r;
	struct bulk_dn d;
	int bad = 0;

	memset(&r, 0, sizeof(r));
	memset(&d, 0, sizeof(d));
	r.reason = -1;
	r.line = l->lineno;
	x->line = l->lineno;
	x->line_errs = 0;
	res->total++;
	if (bulk_values(x, l) == -1)
		goto out;
	if (x->upki != NULL && x->o->kind == RA_BULK_CLIENT && bulk_upki_14_15(x, l, &r) == -1)
		bad = -1;
	if (bulk_presence(x) == -1)
		bad = -1;
	if (*x->v[RA_BULK_COL_PROFILE] != '\0' &&
	    bulk_profile(x, x->v[RA_BULK_COL_PROFILE], &r) == -1)
		bad = -1;
	if (*x->v[RA_BULK_COL_SUBJECT_DN] != '\0' &&
	    bulk_dn_check(x, x->v[RA_BULK_COL_SUBJECT_DN], r.smime, &d, &r.subject_dn) == -1) {
		bad = -1;
		d.n = 0; /* nothing to compare the CSR, FQDN or e-mail with */
	}
	if (bulk_common(x, &r) == -1)
		bad = -1;
	if (x->o->kind == RA_BULK_CLIENT ? bulk_client(x, &d, &r) : bulk_server(x, &d, &r))
		bad = -1;
	if (bad)
		goto out;
	if ((res->nrecs & (res->nrecs - 1)) == 0)
		res->recs = xrealloc(res->recs,
				     (res->nrecs == 0 ? 1 : 2 * res->nrecs) * sizeof(*res->recs));
	res->recs[res->nrecs++] = r;
	res->good++;
	return;
out:
	if (x->line_errs == 0)
		fatalx("bulk: line %zu refused without an error", x->line);
	ra_bulk_rec_clear(&r);
	res->bad++;
}

/* The native header (line l): names to positions; every problem recorded.  0 or -1. */
static int
bulk_header(struct bulk_ctx *x, const struct tsv_line *l)
{
	int bad = 0;

	x->line = l->lineno;
	x->ncols = l->ncols;
	for (size_t i = 0; i < l->ncols; i++) {
		const char *h = l->cols[i];
		int c = 1;

		while (c < RA_BULK_COL__MAX && strcmp(bulk_cols[c].en, h) != 0)
			c++;
		x->at = i + 1;
		if (c == RA_BULK_COL__MAX) {
			bad |=
			    bulk_err(x, RA_BULK_COL_NONE, RA_BULK_E_HEADER_UNKNOWN,
				     "header column %zu: \"%.40s\" is not a column name", i + 1, h);
		} else if (x->needs[c] == 'x') {
			bad |= bulk_err(x, (enum ra_bulk_col)c, RA_BULK_E_HEADER_NOT_APPLICABLE,
					"header: %s is not a column of %s files", h,
					ra_bulk_kind_name(x->o->kind));
		} else if (x->pos[c] != 0) {
			bad |= bulk_err(x, (enum ra_bulk_col)c, RA_BULK_E_HEADER_DUPLICATE,
					"header: %s appears twice (columns %zu and %zu)", h,
					x->pos[c], i + 1);
		} else {
			x->pos[c] = i + 1;
		}
		x->at = 0;
	}
	for (int c = 1; c < RA_BULK_COL__MAX; c++)
		if (x->needs[c] == 'r' && x->pos[c] == 0)
			bad |= bulk_err(x, (enum ra_bulk_col)c, RA_BULK_E_HEADER_MISSING,
					"header: no column %s, which %s %s needs", bulk_cols[c].en,
					ra_bulk_kind_name(x->o->kind), ra_bulk_op_name(x->o->op));
	return bad ? -1 : 0;
}

/* A refusal of the whole file: one error at line (0: none) and e set. */
static int
bulk_file_err(struct bulk_ctx *x, size_t line, enum ra_bulk_code code, int tsv, const char *msg,
	      struct err *e)
{
	x->line = line;
	x->line_errs = 0;
	bulk_err(x, RA_BULK_COL_NONE, code, "%s", msg);
	if (x->res->nerrs > 0)
		x->res->errs[x->res->nerrs - 1].tsv = tsv;
	if (!err_is_set(e))
		err_set(e, ERR_REFUSED, "bulk: %s", msg);
	return -1;
}

/*
 * The CSRs' self-signatures verified by BULK_VERIFY_THREADS threads before the lines are
 * walked (a P-384 verification costs ~1 ms; the walk is one thread): the walk then parses a
 * CSR whose bytes verified here without verifying them again.  Only an accelerator: what
 * did not verify here is verified (and its error worded) by the walk.
 */
#define BULK_VERIFY_THREADS 2

struct bulk_verify {
	const struct tsv_doc *doc;
	size_t col;   /* the CSR's column, 0-based */
	size_t *same; /* per line: the earlier line with the same value, or SIZE_MAX */
	unsigned char *ok;
	size_t next;
	pthread_mutex_t mu;
};

static void *
bulk_verify_main(void *arg)
{
	struct bulk_verify *v = arg;
	struct csr *c;
	struct buf der;
	struct err e;
	size_t k;

	buf_init(&der, X509_CSR_MAX);
	for (;;) {
		pthread_mutex_lock(&v->mu);
		k = v->next++;
		pthread_mutex_unlock(&v->mu);
		if (k >= v->doc->nlines)
			break;
		if (v->col >= v->doc->lines[k].ncols)
			continue;
		if (v->same[k] != SIZE_MAX)
			continue; /* the value of an earlier line: its verdict */
		buf_reset(&der);
		c = NULL;
		err_clear(&e);
		if (b64_decode(&der, v->doc->lines[k].cols[v->col],
			       strlen(v->doc->lines[k].cols[v->col]), 0) == 0 &&
		    der.len > 0 && csr_parse(der.data, der.len, &c, &e) == 0)
			v->ok[k] = 1;
		csr_free(c);
	}
	buf_free(&der);
	return NULL;
}

/* Per line of doc, 1 when its CSR verifies (NULL: nothing to verify). Caller frees. */
static unsigned char *
bulk_verify_all(struct bulk_ctx *x, const struct tsv_doc *doc)
{
	struct bulk_verify v;
	pthread_t th[BULK_VERIFY_THREADS];
	size_t i, nth = 0, ring[RA_BULK_CSR_CACHE], nring = 0, evict = 0;

	memset(&v, 0, sizeof(v));
	if (x->o->csr_checked || doc->nlines < 64)
		return NULL;
	if (x->upki != NULL) {
		for (i = 0; i < x->ncols && x->upki[i] != RA_BULK_COL_CSR; i++)
			;
		if (i == x->ncols)
			return NULL;
		v.col = i;
	} else if (x->pos[RA_BULK_COL_CSR] > 0) {
		v.col = x->pos[RA_BULK_COL_CSR] - 1;
	} else {
		return NULL;
	}
	v.doc = doc;
	v.ok = xcalloc(doc->nlines, 1);
	/* a value among the last RA_BULK_CSR_CACHE distinct ones is verified once (files often
	 * repeat a few CSRs) */
	v.same = xcalloc(doc->nlines, sizeof(*v.same));
	for (i = 0; i < doc->nlines; i++) {
		const char *s = v.col < doc->lines[i].ncols ? doc->lines[i].cols[v.col] : NULL;

		v.same[i] = SIZE_MAX;
		for (size_t j = 0; s != NULL && j < nring; j++)
			if (strcmp(s, doc->lines[ring[j]].cols[v.col]) == 0) {
				v.same[i] = ring[j];
				break;
			}
		if (s != NULL && v.same[i] == SIZE_MAX)
			ring[nring < RA_BULK_CSR_CACHE ? nring++ : evict++ % RA_BULK_CSR_CACHE] = i;
	}
	pthread_mutex_init(&v.mu, NULL);
	for (i = 0; i < BULK_VERIFY_THREADS; i++)
		if (pthread_create(&th[nth], NULL, bulk_verify_main, &v) == 0)
			nth++;
	if (nth == 0)
		bulk_verify_main(&v);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&v.mu);
	for (i = 0; i < doc->nlines; i++)
		if (v.same[i] != SIZE_MAX)
			v.ok[i] = v.ok[v.same[i]];
	free(v.same);
	x->vdoc = doc;
	x->vcol = v.col;
	return v.ok;
}

int
ra_bulk_check(const unsigned char *p, size_t n, const struct ra_bulk_opts *o,
	      struct ra_bulk_result *res, struct err *e)
{
	struct bulk_ctx *x = xcalloc(1, sizeof(*x));
	struct tsv_doc doc;
	size_t first = 0;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&doc, 0, sizeof(doc));
	x->o = o;
	x->res = res;
	if (!ra_bulk_op_valid(o->kind, o->op) || (unsigned)o->dialect >= RA_BULK_DIALECT__MAX) {
		bulk_file_err(x, 0, RA_BULK_E_USAGE, 0, "no such kind, operation or dialect", e);
		goto out;
	}
	x->needs = bulk_needs[o->kind][o->op];
	if (tsv_read(p, n, o->limits, o->dialect == RA_BULK_NATIVE ? TSV_UTF8_ONLY : 0, &doc, e) ==
	    -1) {
		bulk_file_err(x, doc.err_line, RA_BULK_E_FILE, (int)doc.error, e->msg, e);
		goto out;
	}
	res->encoding = doc.encoding;
	if (o->dialect == RA_BULK_UPKI) {
		x->upki = o->kind == RA_BULK_SERVER ? bulk_upki_server
			  : o->kind == RA_BULK_ACME ? bulk_upki_acme
						    : bulk_upki_client;
		x->ncols = o->kind == RA_BULK_CLIENT ? 15 : 13;
	} else {
		if (bulk_header(x, &doc.lines[0]) == -1) {
			err_set(e, ERR_REFUSED, "bulk: line %zu: %s", doc.lines[0].lineno,
				res->errs[0].msg);
			goto out;
		}
		if (doc.nlines == 1) {
			bulk_file_err(x, doc.lines[0].lineno, RA_BULK_E_NO_DATA, 0,
				      "the file has a header and no lines", e);
			goto out;
		}
		first = 1;
	}
	x->verified = bulk_verify_all(x, &doc);
	for (size_t i = first; i < doc.nlines; i++) {
		x->cur = i;
		bulk_line(x, &doc.lines[i]);
	}
	rc = 0;
out:
	free((void *)x->verified);
	for (size_t i = 0; i < x->ncache; i++) {
		free(x->cache[i].der);
		csr_free(x->cache[i].csr);
	}
	free(x);
	tsv_doc_free(&doc);
	return rc;
}
