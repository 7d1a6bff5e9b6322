/*
 * export: the console's bulk download (issue 13 part 6, docs/bulk-tsv.md "Bulk download"): an
 * organization's server, client and code-signing certificates with what the console recorded
 * about each (cert_admins), as tab-separated text.  NATIVE: UTF-8, LF, a header of named
 * columns, UTC times.  UPKI: the academic RA's 46 columns (UPKI-FORMATS.md) with one header
 * row, CP932 and CRLF, its status codes and times in Japan Standard Time.  A value never holds
 * a tab or a line end (each becomes a space), so nothing is quoted.  Never a secret: no access
 * PIN, no download URL.
 */
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ra.h"

const char *const ra_export_format_names[RA_EXPORT__MAX] = {
    [RA_EXPORT_NATIVE] = "native",
    [RA_EXPORT_UPKI] = "upki",
};

int
ra_export_format_parse(const char *s, enum ra_export_format *f)
{
	int i;

	for (i = 0; s != NULL && i < RA_EXPORT__MAX; i++)
		if (strcmp(s, ra_export_format_names[i]) == 0) {
			*f = (enum ra_export_format)i;
			return 0;
		}
	return -1;
}

void
ra_export_out_free(struct ra_export_out *o)
{
	if (o == NULL)
		return;
	buf_free(&o->data);
	memset(o, 0, sizeof(*o));
}

/* The native columns, in order. */
static const char *const export_native_cols[] = {
    "serial",	   "kind",	   "profile",	  "status",	     "subject",
    "sans",	   "not_before",   "not_after",	  "revoked_at",	     "reason",
    "admin_name",  "admin_unit",   "admin_email", "server_software", "holder_name",
    "holder_unit", "holder_email", "replaces",	  "replace_state",   "certificate",
    "fingerprint",
};

/*
 * The UPKI columns' names (UPKI-FORMATS.md, in its order).  The Japanese wording is shomei's:
 * the academic RA's own header text is not published.
 */
static const char *const export_upki_cols[RA_EXPORT_UPKI_COLS] = {
    "申請ID",
    "操作ID",
    "不正レコード無視フラグ",
    "主体者DN",
    "ドメインID",
    "申請日時",
    "処理完了日時",
    "登録担当者ID",
    "申請種別",
    "業務モデル",
    "プロファイルID",
    "ステータス",
    "利用管理者氏名",
    "利用管理者所属",
    "利用管理者メールアドレス",
    "FQDN",
    "サーバソフトウェア",
    "CSR",
    "dNSName",
    "確認フラグ",
    "トランザクションID",
    "CA APIエラーコード",
    "証明書",
    "シリアル番号",
    "フィンガープリント",
    "有効期間開始日時",
    "有効期間終了日時",
    "URL有効期限",
    "アクセスPIN",
    "その他送付先",
    "その他送付先2",
    "失効申請ID",
    "失効操作ID",
    "失効申請日時",
    "失効処理完了日時",
    "失効登録担当者ID",
    "失効事由コード",
    "失効事由コメント",
    "失効確認フラグ",
    "失効トランザクションID",
    "失効CA APIエラーコード",
    "失効利用管理者メールアドレス",
    "旧シリアル番号",
    "更新依頼メール送信フラグ",
    "ダウンロード方法",
    "最終更新日時",
};

int
ra_export_upki_status(const struct store_cert *c, const struct store_certadmin *a)
{
	if (c->status == STORE_CERT_REVOKED)
		return 7;
	if (a != NULL && a->replace_state != NULL && strcmp(a->replace_state, "waiting") == 0)
		return 8;
	if ((a != NULL && a->replaces != NULL && *a->replaces != '\0') ||
	    (c->predecessor != NULL && *c->predecessor != '\0'))
		return 6;
	return 5;
}

void
ra_export_jst(time_t t, char out[20])
{
	struct tm tm;
	time_t j = t + 9 * 3600; /* JST has no daylight saving time */

	out[0] = '\0';
	if (t == 0 || gmtime_r(&j, &tm) == NULL)
		return;
	if (strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		out[0] = '\0';
}

/* ISO 8601 UTC ("" for 0): the native format's times. */
static void
export_utc(time_t t, char out[24])
{
	struct tm tm;

	out[0] = '\0';
	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		return;
	if (strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

/* Bytes of the UTF-8 sequence led by c (1 for a stray byte). */
static size_t
export_u8len(unsigned char c)
{
	if (c >= 0xf0 && c < 0xf8)
		return 4;
	if (c >= 0xe0)
		return c < 0xf0 ? 3 : 1;
	if (c >= 0xc0)
		return 2;
	return 1;
}

int
ra_export_cp932(const char *utf8, size_t n, struct buf *out, size_t *unmapped, struct err *e)
{
	iconv_t cd = iconv_open("CP932", "UTF-8");
	char chunk[4096], *in = (char *)utf8, *op;
	size_t inleft = n, oleft, k;
	int rc = -1;

	if (cd == (iconv_t)-1)
		return err_set(e, ERR_INTERNAL, "export: iconv cannot convert to CP932: %s",
			       strerror(errno));
	while (inleft > 0) {
		op = chunk;
		oleft = sizeof(chunk);
		k = iconv(cd, &in, &inleft, &op, &oleft);
		if (buf_append(out, chunk, sizeof(chunk) - oleft) == -1) {
			err_set(e, ERR_REFUSED, "export: more than %u bytes", RA_EXPORT_MAX_BYTES);
			goto out;
		}
		if (k != (size_t)-1 || errno == E2BIG)
			continue;
		/* EILSEQ (no CP932 character) or EINVAL (cut short): one '?' for the character */
		k = export_u8len((unsigned char)*in);
		if (k > inleft)
			k = inleft;
		in += k;
		inleft -= k;
		(*unmapped)++;
		if (buf_putc(out, '?') == -1) {
			err_set(e, ERR_REFUSED, "export: more than %u bytes", RA_EXPORT_MAX_BYTES);
			goto out;
		}
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	rc = 0;
out:
	iconv_close(cd);
	return rc;
}

/* One walk's state. */
struct export_run {
	const struct ra_export_opts *o;
	struct buf line; /* the row being built (UTF-8) */
	struct ra_export_out *out;
	size_t max;
	int ncol; /* columns of the row so far */
};

/* Appends a value: a tab before all but the first; tab, CR and LF become spaces. */
static void
export_field(struct export_run *x, const char *v)
{
	size_t i;

	if (x->ncol++ > 0)
		buf_putc(&x->line, '\t');
	for (i = 0; v != NULL && v[i] != '\0'; i++)
		buf_putc(&x->line, v[i] == '\t' || v[i] == '\r' || v[i] == '\n' ? ' ' : v[i]);
}

static void
export_int(struct export_run *x, long long v)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", v);
	export_field(x, s);
}

/* Ends the row into the output, converted for UPKI. */
static int
export_end(struct export_run *x, struct err *e)
{
	int r;

	if (x->o->format == RA_EXPORT_UPKI) {
		buf_append(&x->line, "\r\n", 2);
		r = ra_export_cp932((const char *)x->line.data, x->line.len, &x->out->data,
				    &x->out->unmapped, e);
	} else {
		buf_putc(&x->line, '\n');
		r = buf_append(&x->out->data, x->line.data, x->line.len) == -1
			? err_set(e, ERR_REFUSED, "export: more than %u bytes", RA_EXPORT_MAX_BYTES)
			: 0;
	}
	buf_reset(&x->line);
	x->ncol = 0;
	return r;
}

/* The certificate's DER as base64 on one line; "" when there is none (free()). */
static char *
export_b64(const struct store_cert *c)
{
	char *s = xmalloc(4 * ((c->derlen + 2) / 3) + 1);

	s[0] = '\0';
	if (c->der != NULL && c->derlen > 0)
		EVP_EncodeBlock((unsigned char *)s, c->der, (int)c->derlen);
	return s;
}

/* The SHA-256 of the DER in lower-case hex ("" without a DER). */
static void
export_fpr(const struct store_cert *c, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	out[0] = '\0';
	if (c->der == NULL || !EVP_Digest(c->der, c->derlen, md, &len, EVP_sha256(), NULL))
		return;
	for (i = 0; i < len && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The names of type prefix ("DNS:") in a store SANs text, joined by sep with each given pre. */
static void
export_sans(const char *sans, const char *prefix, const char *pre, const char *sep, int first_only,
	    struct buf *b)
{
	const char *p = sans, *end;
	size_t pl = strlen(prefix), n = 0;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > pl && strncmp(p, prefix, pl) == 0) {
			if (n++ > 0)
				buf_append(b, sep, strlen(sep));
			buf_append(b, pre, strlen(pre));
			buf_append(b, p + pl, (size_t)(end - p) - pl);
			if (first_only)
				break;
		}
		p = end;
	}
	buf_putc(b, '\0');
}

/*
 * UPKI's profile ID: server 3 (RSA) or 11 (ECDSA), client 5 (7, S/MIME, when the subject holds
 * an address); code signing has none ("").
 */
static const char *
export_upki_profile(const struct store_cert *c, const struct store_certadmin *a)
{
	const unsigned char *p = c->der;
	X509 *x;
	EVP_PKEY *k;
	const char *id = "";

	if (strcmp(a->kind, "client") == 0)
		return c->subject != NULL && strchr(c->subject, '@') != NULL ? "7" : "5";
	if (strcmp(a->kind, "server") != 0 || p == NULL)
		return "";
	if ((x = d2i_X509(NULL, &p, (long)c->derlen)) == NULL)
		return "";
	if ((k = X509_get0_pubkey(x)) != NULL)
		id = EVP_PKEY_base_id(k) == EVP_PKEY_EC ? "11" : "3";
	X509_free(x);
	return id;
}

static time_t
export_max_t(time_t a, time_t b)
{
	return a > b ? a : b;
}

/* One native row. */
static void
export_native_row(struct export_run *x, const struct store_cert *c, const struct store_certadmin *a,
		  const char *b64, const char *fpr)
{
	char t[24];
	enum ra_cert_status cs =
	    ra_cert_status_of(c->status == STORE_CERT_REVOKED, c->not_after, util_now());

	export_field(x, c->serial);
	export_field(x, a->kind);
	export_field(x, c->profile);
	export_field(x, ra_cert_status_name(cs));
	export_field(x, c->subject);
	export_field(x, c->sans);
	export_utc(c->not_before, t);
	export_field(x, t);
	export_utc(c->not_after, t);
	export_field(x, t);
	export_utc(c->status == STORE_CERT_REVOKED ? c->revoked_at : 0, t);
	export_field(x, t);
	if (c->status == STORE_CERT_REVOKED && c->reason >= 0)
		export_int(x, c->reason);
	else
		export_field(x, "");
	export_field(x, a->admin_name);
	export_field(x, a->admin_unit);
	export_field(x, a->admin_email);
	export_field(x, a->server_software);
	export_field(x, a->holder_name);
	export_field(x, a->holder_unit);
	export_field(x, a->holder_email);
	export_field(x, a->replaces);
	export_field(x, a->replace_state);
	export_field(x, b64);
	export_field(x, fpr);
}

/* One UPKI row: the 46 columns, empty where shomei has no value. */
static void
export_upki_row(struct export_run *x, const struct store_cert *c, const struct store_certadmin *a,
		const char *b64, const char *fpr)
{
	struct buf s;
	char t[20];
	int revoked = c->status == STORE_CERT_REVOKED, server = strcmp(a->kind, "server") == 0;

	buf_init(&s, 64 * 1024);
	export_field(x, ""); /* 1 application ID */
	export_field(x, ""); /* 2 operation ID */
	export_field(x, ""); /* 3 ignore-invalid-record flag */
	export_field(x, c->subject);
	export_field(x, ""); /* 5 domain ID */
	ra_export_jst(a->created, t);
	export_field(x, t); /* 6 applied at */
	ra_export_jst(c->created, t);
	export_field(x, t);	      /* 7 completed at */
	export_int(x, a->officer_id); /* 8 officer ID */
	export_field(x, "");	      /* 9 application kind */
	export_field(x, "");	      /* 10 business model */
	export_field(x, export_upki_profile(c, a));
	export_int(x, ra_export_upki_status(c, a));
	export_field(x, a->admin_name);
	export_field(x, a->admin_unit);
	export_field(x, a->admin_email);
	if (server)
		export_sans(c->sans, "DNS:", "", "", 1, &s);
	export_field(x, server ? (const char *)s.data : ""); /* 16 FQDN */
	export_field(x, server ? a->server_software : "");
	export_field(x, ""); /* 18 CSR: not kept */
	buf_reset(&s);
	if (server)
		export_sans(c->sans, "DNS:", "dNSName=", ",", 0, &s);
	export_field(x, server ? (const char *)s.data : ""); /* 19 dNSName */
	export_field(x, "");				     /* 20 confirmation flag */
	export_field(x, "");				     /* 21 transaction ID */
	export_field(x, "");				     /* 22 CA API error code */
	export_field(x, b64);
	export_field(x, c->serial);
	export_field(x, fpr);
	ra_export_jst(c->not_before, t);
	export_field(x, t);
	ra_export_jst(c->not_after, t);
	export_field(x, t);
	ra_export_jst(a->dl_expires, t);
	export_field(x, t);  /* 28 URL expiry (a time, not the URL) */
	export_field(x, ""); /* 29 access PIN: never */
	export_field(x, ""); /* 30 other recipient */
	export_field(x, ""); /* 31 other recipient 2 */
	export_field(x, ""); /* 32 revocation application ID */
	export_field(x, ""); /* 33 revocation operation ID */
	ra_export_jst(revoked ? c->revoked_at : 0, t);
	export_field(x, t);  /* 34 revocation applied at */
	export_field(x, t);  /* 35 revocation completed at */
	export_field(x, ""); /* 36 revocation officer ID */
	if (revoked && c->reason >= 0)
		export_int(x, c->reason);
	else
		export_field(x, ""); /* 37 revocation reason code */
	export_field(x, "");	     /* 38 revocation comment (in the audit trail) */
	export_field(x, "");	     /* 39 revocation confirmation flag */
	export_field(x, "");	     /* 40 revocation transaction ID */
	export_field(x, "");	     /* 41 revocation CA API error code */
	export_field(x, revoked ? a->admin_email : "");
	export_field(x, a->replaces != NULL ? a->replaces : c->predecessor); /* 43 old serial */
	export_field(x, a->replace_state == NULL ? "" : a->reminded != 0 ? "1" : "0");
	export_field(x, ""); /* 45 download method */
	ra_export_jst(export_max_t(export_max_t(c->created, revoked ? c->revoked_at : 0),
				   export_max_t(a->dl_used, a->reminded)),
		      t);
	export_field(x, t); /* 46 last updated */
	buf_free(&s);
}

static int
export_row(void *arg, const struct store_cert *c, const struct store_certadmin *a, struct err *e)
{
	struct export_run *x = arg;
	char fpr[65], *b64;
	int rc;

	if (x->out->rows >= x->max)
		return err_set(e, ERR_REFUSED,
			       "export: more than %zu certificates; narrow the download by status",
			       x->max);
	b64 = export_b64(c);
	export_fpr(c, fpr);
	if (x->o->format == RA_EXPORT_UPKI)
		export_upki_row(x, c, a, b64, fpr);
	else
		export_native_row(x, c, a, b64, fpr);
	free(b64);
	if ((rc = export_end(x, e)) == 0)
		x->out->rows++;
	return rc;
}

int
ra_export_certs(struct ca *ca, struct store *st, int64_t org_id, const struct ra_export_opts *o,
		struct ra_export_out *out, struct err *e)
{
	struct store_certadmin_export_filter f;
	struct export_run x;
	time_t now = util_now();
	size_t i, nk = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&x, 0, sizeof(x));
	buf_init(&out->data, RA_EXPORT_MAX_BYTES);
	buf_init(&x.line, 1024 * 1024);
	x.o = o;
	x.out = out;
	x.max = o->max > 0 && o->max < RA_EXPORT_MAX ? o->max : RA_EXPORT_MAX;
	memset(&f, 0, sizeof(f));
	f.org_id = org_id;
	f.ca = NULL; /* every issuing CA's: earlier ones' certificates live on after a switch */
	f.status = -1;
	f.limit = x.max + 1; /* one more: the refusal */
	for (i = 0; i < RA_OCERT__MAX; i++)
		if (o->kinds & (1u << i))
			f.kinds[nk++] = ra_ocert_kind_names[i];
	switch (o->status) {
	case RA_CERT_VALID:
		f.status = STORE_CERT_VALID;
		f.not_after_min = now;
		break;
	case RA_CERT_REVOKED:
		f.status = STORE_CERT_REVOKED;
		break;
	case RA_CERT_EXPIRED:
		f.status = STORE_CERT_VALID;
		f.not_after_max = now;
		break;
	default:
		break;
	}
	/* the header row */
	if (o->format == RA_EXPORT_UPKI)
		for (i = 0; i < RA_EXPORT_UPKI_COLS; i++)
			export_field(&x, export_upki_cols[i]);
	else
		for (i = 0; i < sizeof(export_native_cols) / sizeof(export_native_cols[0]); i++)
			export_field(&x, export_native_cols[i]);
	if (export_end(&x, e) == -1)
		goto out;
	if (org_id > 0 && nk > 0 && store_certadmin_export(st, &f, export_row, &x, e) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&x.line);
	if (rc == -1)
		ra_export_out_free(out);
	return rc;
}
