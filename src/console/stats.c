/*
 * stats: the console's statistics of issued certificates (issue 13, part 8): GET /stats, a
 * table and a bar chart drawn here as SVG through the escaping template renderer (numbers and
 * fixed class names only, no script, no style attribute: the CSP allows neither), and GET
 * /stats.tsv, the same table as a file.  The CA operator and the auditor see every
 * organization and may pick one; an officer sees only their own, with the stats permission.
 * The counting rules are in src/ra/stats.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_int.h"

#define STATS_SVG_W 720
#define STATS_SVG_H 240
#define STATS_SVG_LEFT 48
#define STATS_SVG_BOTTOM 24
#define STATS_SVG_TOP 12

/* What a statistics request asks for. */
struct stats_req {
	int from, to;
	char org[64]; /* "" for every organization */
	const char *error_msgid;
	int status;
};

/* Appends s percent-encoded (a query value) to b. */
static void
stats_urlenc(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.')
			(void)buf_putc(b, *p);
		else
			(void)buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
}

/*
 * The request's period and organization: an officer's own organization whatever org says;
 * the others' org when given.  Malformed months: error_msgid set (400).
 */
static void
stats_req_read(struct web_ctx *x, const struct console_who *w, struct stats_req *q)
{
	const char *from = http_query(x->r, "from"), *to = http_query(x->r, "to");
	const char *org = http_query(x->r, "org");

	memset(q, 0, sizeof(*q));
	q->status = 200;
	q->to = ra_stats_month_of(util_now());
	q->from = q->to - 11;
	if ((to != NULL && to[0] != '\0' && ra_stats_month_parse(to, &q->to) == -1) ||
	    (from != NULL && from[0] != '\0' && ra_stats_month_parse(from, &q->from) == -1) ||
	    q->to < q->from || q->to - q->from >= RA_STATS_MONTHS_MAX) {
		q->error_msgid = N_("The period is given as months YYYY-MM, from before to, at "
				    "most 36 months.");
		q->status = 400;
		q->to = ra_stats_month_of(util_now());
		q->from = q->to - 11;
	}
	if (w->o.role == RA_ROLE_OFFICER)
		snprintf(q->org, sizeof(q->org), "%s", w->o.org_code);
	else if (org != NULL && strlen(org) < sizeof(q->org))
		snprintf(q->org, sizeof(q->org), "%s", org);
}

/* The query string of q (for the TSV link). */
static void
stats_query(const struct stats_req *q, struct buf *b)
{
	char m[RA_STATS_MONTH_TEXT];

	ra_stats_month_text(q->from, m);
	(void)buf_printf(b, "from=%s", m);
	ra_stats_month_text(q->to, m);
	(void)buf_printf(b, "&to=%s", m);
	if (q->org[0] != '\0') {
		(void)buf_printf(b, "&org=");
		stats_urlenc(b, q->org);
	}
}

static const char *
stats_domain_text(const struct ra_stats_row *r, const char *lang)
{
	if (r->kind == RA_STATS_OTHER)
		return lang != NULL ? i18n_get(lang, N_("(other)")) : "(other)";
	if (r->kind == RA_STATS_ALL)
		return lang != NULL ? i18n_get(lang, N_("(all domains)")) : "(all domains)";
	return r->domain;
}

static void
stats_num(struct tmpl_data *d, const char *name, int64_t v)
{
	char n[24];

	snprintf(n, sizeof(n), "%" PRId64, v);
	tmpl_data_str(d, name, n);
}

/* The table: one line per row and profile with something counted. */
static void
stats_table(struct tmpl_data *d, const struct ra_stats *s, const char *lang)
{
	const struct ra_stats_counts *c;
	struct tmpl_data *it;
	char m[RA_STATS_MONTH_TEXT];
	size_t i;
	int p;

	for (i = 0; i < s->nrows; i++) {
		for (p = 0; p < RA_STATS_PROFILE__MAX; p++) {
			c = &s->rows[i].c[p];
			if (c->issued == 0 && c->revoked == 0 && c->valid == 0)
				continue;
			it = tmpl_data_add(d, "rows");
			tmpl_data_str(it, "org", s->rows[i].org_code);
			tmpl_data_str(it, "domain", stats_domain_text(&s->rows[i], lang));
			tmpl_data_bool(it, "total", s->rows[i].kind == RA_STATS_ALL);
			ra_stats_month_text(s->rows[i].month, m);
			tmpl_data_str(it, "month", m);
			tmpl_data_str(it, "profile", ra_stats_profile_names[p]);
			stats_num(it, "issued", c->issued);
			stats_num(it, "renewed", c->renewed);
			stats_num(it, "revoked", c->revoked);
			stats_num(it, "valid", c->valid);
			stats_num(it, "exp30", c->exp30);
			stats_num(it, "exp60", c->exp60);
			stats_num(it, "exp90", c->exp90);
		}
	}
}

/*
 * The bar chart: per month, the certificates issued stacked by profile (every certificate
 * once).  Only numbers and the fixed profile names reach the template.
 */
static void
stats_chart(struct tmpl_data *d, const struct ra_stats *s)
{
	int months = s->to - s->from + 1, m, p;
	int64_t max = 0, sum, v;
	double slot, bw, plot_h = STATS_SVG_H - STATS_SVG_BOTTOM - STATS_SVG_TOP, y, h;
	struct tmpl_data *it;
	char t[RA_STATS_MONTH_TEXT], n[32];

	for (m = 0; m < months; m++) {
		for (sum = 0, p = 0; p < RA_STATS_PROFILE__MAX; p++)
			sum += s->totals[m * RA_STATS_PROFILE__MAX + p].issued;
		if (sum > max)
			max = sum;
	}
	stats_num(d, "svg_w", STATS_SVG_W);
	stats_num(d, "svg_h", STATS_SVG_H);
	stats_num(d, "axis_x", STATS_SVG_LEFT);
	stats_num(d, "axis_y", STATS_SVG_H - STATS_SVG_BOTTOM);
	stats_num(d, "axis_top", STATS_SVG_TOP);
	stats_num(d, "axis_right", STATS_SVG_W);
	stats_num(d, "max", max);
	stats_num(d, "max_y", STATS_SVG_TOP + 4);
	stats_num(d, "label_y", STATS_SVG_H - 6);
	slot = (double)(STATS_SVG_W - STATS_SVG_LEFT) / months;
	bw = slot * 0.7;
	for (m = 0; m < months; m++) {
		y = STATS_SVG_H - STATS_SVG_BOTTOM;
		ra_stats_month_text(s->from + m, t);
		for (p = 0; p < RA_STATS_PROFILE__MAX; p++) {
			v = s->totals[m * RA_STATS_PROFILE__MAX + p].issued;
			if (v == 0 || max == 0)
				continue;
			h = plot_h * (double)v / (double)max;
			y -= h;
			it = tmpl_data_add(d, "bars");
			tmpl_data_str(it, "profile", ra_stats_profile_names[p]);
			tmpl_data_str(it, "month", t);
			stats_num(it, "n", v);
			snprintf(n, sizeof(n), "%.1f", STATS_SVG_LEFT + slot * m + (slot - bw) / 2);
			tmpl_data_str(it, "x", n);
			snprintf(n, sizeof(n), "%.1f", y);
			tmpl_data_str(it, "y", n);
			snprintf(n, sizeof(n), "%.1f", bw);
			tmpl_data_str(it, "w", n);
			snprintf(n, sizeof(n), "%.1f", h);
			tmpl_data_str(it, "h", n);
		}
		/* a label every month up to 12, else every third */
		if (months <= 12 || m % 3 == 0) {
			it = tmpl_data_add(d, "labels");
			tmpl_data_str(it, "month", t);
			snprintf(n, sizeof(n), "%.1f", STATS_SVG_LEFT + slot * m + slot / 2);
			tmpl_data_str(it, "x", n);
		}
	}
}

/* The organizations to pick from (operator and auditor). */
static int
stats_orgs(struct tmpl_data *d, struct store *st, const char *sel, struct err *e)
{
	struct ra_org *v = NULL;
	struct tmpl_data *it;
	size_t n = 0, i;

	if (ra_org_list(st, &v, &n, e) == -1)
		return -1;
	tmpl_data_bool(d, "pick_org", 1);
	for (i = 0; i < n; i++) {
		it = tmpl_data_add(d, "orgs");
		tmpl_data_str(it, "code", v[i].code);
		tmpl_data_str(it, "name", v[i].name);
		tmpl_data_bool(it, "sel", strcmp(v[i].code, sel) == 0);
	}
	STORE_LIST_FREE(v, n, ra_org_clear);
	return 0;
}

/* Collects q's statistics: 0, 1 when the organization does not exist, -1 on error. */
static int
stats_collect(struct store *st, const struct stats_req *q, struct ra_stats *s, struct err *e)
{
	if (ra_stats_collect(st, q->org[0] != '\0' ? q->org : NULL, q->from, q->to, util_now(), s,
			     e) == 0)
		return 0;
	if (e->code == ERR_NOTFOUND) {
		err_clear(e);
		return 1;
	}
	return -1;
}

/* GET /stats */
int
console_stats_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct stats_req q;
	struct ra_stats s;
	struct tmpl_data *d;
	struct store *st;
	struct buf qs;
	char m[RA_STATS_MONTH_TEXT];
	struct err e;
	int rc, found;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, CONSOLE_ROLES_ALL, RA_PERM_STATS, &w, &rc))
		return rc;
	memset(&s, 0, sizeof(s));
	err_clear(&e);
	stats_req_read(&x, &w, &q);
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    (found = stats_collect(st, &q, &s, &e)) == -1)
		return web_error(&x, &e);
	d = console_data(&x, &w, N_("Issued-certificate statistics"));
	if (w.o.role != RA_ROLE_OFFICER && stats_orgs(d, st, q.org, &e) == -1) {
		tmpl_data_free(d);
		ra_stats_clear(&s);
		return web_error(&x, &e);
	}
	if (found == 1) {
		q.error_msgid = N_("There is no such organization.");
		q.status = 404;
	}
	if (q.error_msgid != NULL)
		tmpl_data_str(d, "error", i18n_get(x.lang, q.error_msgid));
	ra_stats_month_text(q.from, m);
	tmpl_data_str(d, "from", m);
	ra_stats_month_text(q.to, m);
	tmpl_data_str(d, "to", m);
	tmpl_data_str(d, "org", q.org);
	buf_init(&qs, 1024);
	stats_query(&q, &qs);
	tmpl_data_str(d, "query", buf_cstr(&qs) != NULL ? buf_cstr(&qs) : "");
	buf_free(&qs);
	if (found == 0) {
		stats_table(d, &s, x.lang);
		stats_chart(d, &s);
	}
	rc = web_page(&x, q.status, "console_stats", d);
	tmpl_data_free(d);
	ra_stats_clear(&s);
	return rc;
}

/* A TSV field: tabs, line ends and other controls become spaces. */
static void
stats_tsv_field(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++)
		(void)buf_putc(b, (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
}

/* GET /stats.tsv: the table as UTF-8 TSV with a header row. */
int
console_stats_tsv_get(struct http_req *r)
{
	static const char *const hdrs[] = {"Content-Disposition",
					   "attachment; filename=\"shomei-stats.tsv\"", NULL};
	const struct ra_stats_counts *c;
	struct web_ctx x;
	struct console_who w;
	struct stats_req q;
	struct ra_stats s;
	struct store *st;
	struct buf b;
	char m[RA_STATS_MONTH_TEXT];
	struct err e;
	size_t i;
	int rc, found, p;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, CONSOLE_ROLES_ALL, RA_PERM_STATS, &w, &rc))
		return rc;
	memset(&s, 0, sizeof(s));
	err_clear(&e);
	stats_req_read(&x, &w, &q);
	if (q.error_msgid != NULL)
		return http_reply_text(r, 400, "stats: the period is YYYY-MM months, at most 36\n");
	if ((st = ca_thread_store(x.ca, &e)) == NULL ||
	    (found = stats_collect(st, &q, &s, &e)) == -1)
		return web_error(&x, &e);
	if (found == 1)
		return http_reply_text(r, 404, "stats: no such organization\n");
	buf_init(&b, 64 * 1024 * 1024);
	(void)buf_printf(&b, "organization\tdomain\tmonth\tprofile\tissued\trenewed\trevoked\t"
			     "valid_now\texpiring_30d\texpiring_60d\texpiring_90d\n");
	for (i = 0; i < s.nrows; i++) {
		for (p = 0; p < RA_STATS_PROFILE__MAX; p++) {
			c = &s.rows[i].c[p];
			if (c->issued == 0 && c->revoked == 0 && c->valid == 0)
				continue;
			stats_tsv_field(&b, s.rows[i].org_code);
			(void)buf_putc(&b, '\t');
			stats_tsv_field(&b, stats_domain_text(&s.rows[i], NULL));
			ra_stats_month_text(s.rows[i].month, m);
			(void)buf_printf(&b,
					 "\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64
					 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n",
					 m, ra_stats_profile_names[p], c->issued, c->renewed,
					 c->revoked, c->valid, c->exp30, c->exp60, c->exp90);
		}
	}
	ra_stats_clear(&s);
	if (buf_cstr(&b) == NULL) {
		buf_free(&b);
		err_set(&e, ERR_INTERNAL, "stats: the TSV is larger than 64 MiB");
		return web_error(&x, &e);
	}
	rc = http_reply_hdrs(r, 200, "text/tab-separated-values; charset=utf-8", b.data, b.len,
			     hdrs);
	buf_free(&b);
	return rc;
}
