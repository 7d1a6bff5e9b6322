/*
 * stats: the RA officers' console's statistics of issued certificates (issue 13, part 8).
 * Per organization, per registered domain and per month: issued, renewed (with a
 * predecessor), revoked, valid now, ending within 30/60/90 days, by profile.  The store groups
 * the certificates (store_stats.c); this file puts each group in the domains its names fall
 * under (the CN, the SANs' dNSNames and the rfc822Names' domains; none: "(other)") and in the
 * month of its issuance or revocation (UTC, computed here: SQL date functions differ).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ra.h"

const char *const ra_stats_profile_names[RA_STATS_PROFILE__MAX] = {
    [RA_STATS_SERVER] = "server",
    [RA_STATS_SHORTLIVED] = "shortlived",
    [RA_STATS_CLIENT] = "client",
    [RA_STATS_CODESIGN] = "codesign",
};

int
ra_stats_month_of(time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		return 0;
	return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

time_t
ra_stats_month_start(int month)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = month / 12 - 1900;
	tm.tm_mon = month % 12;
	tm.tm_mday = 1;
	return timegm(&tm);
}

int
ra_stats_month_parse(const char *s, int *month)
{
	int y = 0, m = 0, i;

	if (s == NULL || strlen(s) != 7 || s[4] != '-')
		return -1;
	for (i = 0; i < 7; i++) {
		if (i == 4)
			continue;
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (i < 4)
			y = y * 10 + (s[i] - '0');
		else
			m = m * 10 + (s[i] - '0');
	}
	if (y < 1970 || y > 9999 || m < 1 || m > 12)
		return -1;
	*month = y * 12 + m - 1;
	return 0;
}

void
ra_stats_month_text(int month, char out[RA_STATS_MONTH_TEXT])
{
	unsigned m = month > 0 ? (unsigned)month : 0;

	snprintf(out, RA_STATS_MONTH_TEXT, "%04u-%02u", m / 12 % 10000, m % 12 + 1);
}

int
ra_stats_name_under(const char *name, size_t len, const char *domain)
{
	size_t dl = strlen(domain);

	if (len > 2 && name[0] == '*' && name[1] == '.') {
		name += 2;
		len -= 2;
	}
	while (len > 0 && name[len - 1] == '.')
		len--;
	if (dl == 0 || len < dl)
		return 0;
	if (strncasecmp(name + len - dl, domain, dl) != 0)
		return 0;
	return len == dl || name[len - dl - 1] == '.';
}

/* What one collection works on. */
struct stats_acc {
	struct store_org *orgs; /* by code */
	size_t norgs;
	size_t *by_id; /* indexes into orgs, by id */
	size_t *base;  /* first cell of each organization: (ndomains + 2) * months cells */
	struct ra_stats_counts *cells; /* [(base + d) * months + m][profile] */
	size_t months;
	int from;
	unsigned char *hit; /* per domain of the current group's organization */
	size_t hitcap;
};

static int
stats_profile(const char *p)
{
	int i;

	for (i = 0; i < RA_STATS_PROFILE__MAX; i++)
		if (strcmp(p, ra_stats_profile_names[i]) == 0)
			return i;
	return -1;
}

/* The organization of id, or -1. */
static long
stats_org(const struct stats_acc *a, int64_t id)
{
	size_t lo = 0, hi = a->norgs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (a->orgs[a->by_id[mid]].id == id)
			return (long)a->by_id[mid];
		if (a->orgs[a->by_id[mid]].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Marks the domains of o that name (len bytes) lies under. */
static void
stats_mark(struct stats_acc *a, const struct store_org *o, const char *name, size_t len)
{
	size_t d;

	for (d = 0; d < o->ndomains; d++)
		if (ra_stats_name_under(name, len, o->domains[d]))
			a->hit[d] = 1;
}

/*
 * Marks the domains of o that the group's names fall under: the subject's CN (RFC 4514 text:
 * components split at unescaped commas), the SANs' "DNS:" names and the "email:" names'
 * domains.
 */
static void
stats_domains(struct stats_acc *a, const struct store_org *o, const char *subject, const char *sans)
{
	const char *p = subject, *q, *at;

	memset(a->hit, 0, o->ndomains);
	while (*p != '\0') {
		for (q = p; *q != '\0' && *q != ','; q++)
			if (*q == '\\' && q[1] != '\0')
				q++;
		while (*p == ' ')
			p++;
		if (q - p > 3 && strncasecmp(p, "CN=", 3) == 0)
			stats_mark(a, o, p + 3, (size_t)(q - p - 3));
		p = *q == ',' ? q + 1 : q;
	}
	for (p = sans; *p != '\0';) {
		while (*p == ' ' || *p == ',')
			p++;
		for (q = p; *q != '\0' && *q != ','; q++)
			;
		if (q - p > 4 && strncmp(p, "DNS:", 4) == 0) {
			stats_mark(a, o, p + 4, (size_t)(q - p - 4));
		} else if (q - p > 6 && strncmp(p, "email:", 6) == 0) {
			for (at = q; at > p && at[-1] != '@'; at--)
				;
			if (at > p)
				stats_mark(a, o, at, (size_t)(q - at));
		}
		p = q;
	}
}

static void
stats_add(struct ra_stats_counts *c, const struct store_stats_group *g, int revoked)
{
	if (revoked) {
		c->revoked += g->count;
		return;
	}
	c->issued += g->count;
	c->renewed += g->renewed;
	c->valid += g->valid;
	c->exp30 += g->exp30;
	c->exp60 += g->exp60;
	c->exp90 += g->exp90;
}

/* One group into its domains, "(other)" when none, and the organization's total. */
static int
stats_group(struct stats_acc *a, const struct store_stats_group *g, int revoked)
{
	const struct store_org *o;
	long oi = stats_org(a, g->org_id);
	int p = stats_profile(g->profile), m, any = 0;
	size_t d, nd, cell;

	if (oi < 0 || p < 0)
		return 0; /* an organization added since the list, or not a counted profile */
	m = ra_stats_month_of((time_t)(g->day * 86400)) - a->from;
	if (m < 0 || (size_t)m >= a->months)
		return 0;
	o = &a->orgs[oi];
	nd = o->ndomains;
	stats_domains(a, o, g->subject, g->sans);
	for (d = 0; d < nd + 2; d++) {
		if (d < nd && !a->hit[d])
			continue;
		if (d == nd && any)
			continue; /* "(other)": only the groups no domain took */
		if (d < nd)
			any = 1;
		cell = (a->base[oi] + d) * a->months + (size_t)m;
		stats_add(&a->cells[cell * RA_STATS_PROFILE__MAX + (size_t)p], g, revoked);
	}
	return 0;
}

static int
stats_issued_cb(void *arg, const struct store_stats_group *g)
{
	return stats_group(arg, g, 0);
}

static int
stats_revoked_cb(void *arg, const struct store_stats_group *g)
{
	return stats_group(arg, g, 1);
}

/* a->by_id sorted by the organizations' ids (insertion: no global for qsort in a thread). */
static void
stats_sort_by_id(struct stats_acc *a)
{
	size_t i, j, v;

	for (i = 1; i < a->norgs; i++) {
		v = a->by_id[i];
		for (j = i; j > 0 && a->orgs[a->by_id[j - 1]].id > a->orgs[v].id; j--)
			a->by_id[j] = a->by_id[j - 1];
		a->by_id[j] = v;
	}
}

static int
stats_nonzero(const struct ra_stats_counts *c)
{
	int p;

	for (p = 0; p < RA_STATS_PROFILE__MAX; p++)
		if (c[p].issued || c[p].revoked || c[p].valid)
			return 1;
	return 0;
}

/* The rows with something in them, and the per-month totals (every certificate once). */
static void
stats_rows(struct stats_acc *a, struct ra_stats *out)
{
	const struct ra_stats_counts *c;
	struct ra_stats_row *r;
	size_t o, d, m, cap = 0;
	int p;

	out->totals = xcalloc(a->months * RA_STATS_PROFILE__MAX, sizeof(*out->totals));
	for (o = 0; o < a->norgs; o++) {
		for (d = 0; d < a->orgs[o].ndomains + 2; d++) {
			for (m = 0; m < a->months; m++) {
				c = &a->cells[((a->base[o] + d) * a->months + m) *
					      RA_STATS_PROFILE__MAX];
				if (!stats_nonzero(c))
					continue;
				if (d == a->orgs[o].ndomains + 1) {
					for (p = 0; p < RA_STATS_PROFILE__MAX; p++) {
						ra_stats_counts_add(
						    &out->totals[m * RA_STATS_PROFILE__MAX +
								 (size_t)p],
						    &c[p]);
					}
				}
				if (out->nrows == cap) {
					cap = cap != 0 ? cap * 2 : 64;
					out->rows = xrealloc(out->rows, cap * sizeof(*out->rows));
				}
				r = &out->rows[out->nrows++];
				memset(r, 0, sizeof(*r));
				snprintf(r->org_code, sizeof(r->org_code), "%s", a->orgs[o].code);
				if (d < a->orgs[o].ndomains)
					snprintf(r->domain, sizeof(r->domain), "%s",
						 a->orgs[o].domains[d]);
				r->kind = d < a->orgs[o].ndomains    ? RA_STATS_DOMAIN
					  : d == a->orgs[o].ndomains ? RA_STATS_OTHER
								     : RA_STATS_ALL;
				r->month = a->from + (int)m;
				memcpy(r->c, c, sizeof(r->c));
			}
		}
	}
}

void
ra_stats_counts_add(struct ra_stats_counts *to, const struct ra_stats_counts *c)
{
	to->issued += c->issued;
	to->renewed += c->renewed;
	to->revoked += c->revoked;
	to->valid += c->valid;
	to->exp30 += c->exp30;
	to->exp60 += c->exp60;
	to->exp90 += c->exp90;
}

int
ra_stats_collect(struct store *st, const char *org_code, int from, int to, time_t now,
		 struct ra_stats *out, struct err *e)
{
	struct stats_acc a;
	struct store_stats_query q;
	struct store_org one;
	size_t i, cells = 0, maxd = 1;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	memset(&one, 0, sizeof(one));
	memset(&q, 0, sizeof(q));
	if (to < from || to - from >= RA_STATS_MONTHS_MAX) {
		err_set(e, ERR_REFUSED, "stats: the period is 1 to %d months", RA_STATS_MONTHS_MAX);
		goto out;
	}
	if (org_code != NULL) {
		if (store_org_get(st, org_code, &one, e) == -1)
			goto out;
		a.orgs = xcalloc(1, sizeof(*a.orgs));
		a.orgs[0] = one;
		memset(&one, 0, sizeof(one));
		a.norgs = 1;
		q.org_id = a.orgs[0].id;
	} else if (store_org_list(st, &a.orgs, &a.norgs, e) == -1) {
		goto out;
	}
	a.from = from;
	a.months = (size_t)(to - from + 1);
	a.by_id = xcalloc(a.norgs + 1, sizeof(*a.by_id));
	a.base = xcalloc(a.norgs + 1, sizeof(*a.base));
	for (i = 0; i < a.norgs; i++) {
		a.by_id[i] = i;
		a.base[i] = cells;
		cells += a.orgs[i].ndomains + 2;
		if (a.orgs[i].ndomains > maxd)
			maxd = a.orgs[i].ndomains;
	}
	stats_sort_by_id(&a);
	a.cells = xcalloc((cells + 1) * a.months * RA_STATS_PROFILE__MAX, sizeof(*a.cells));
	a.hit = xcalloc(maxd, 1);
	q.from = ra_stats_month_start(from);
	q.to = ra_stats_month_start(to + 1);
	q.now = now;
	if (store_stats_issued(st, &q, stats_issued_cb, &a, e) != 0 ||
	    store_stats_revoked(st, &q, stats_revoked_cb, &a, e) != 0)
		goto out;
	out->from = from;
	out->to = to;
	stats_rows(&a, out);
	rc = 0;
out:
	if (rc == -1)
		ra_stats_clear(out);
	STORE_LIST_FREE(a.orgs, a.norgs, store_org_clear);
	store_org_clear(&one);
	free(a.by_id);
	free(a.base);
	free(a.cells);
	free(a.hit);
	return rc;
}

void
ra_stats_clear(struct ra_stats *s)
{
	if (s == NULL)
		return;
	free(s->rows);
	free(s->totals);
	memset(s, 0, sizeof(*s));
}

/* ---- the audit view ---- */

int
ra_audit_page(struct store *st, const struct ra_audit_query *q, struct store_audit **out, size_t *n,
	      int64_t *next_before, struct err *e)
{
	struct store_audit_filter f;
	struct store_org o;
	int rc = -1;

	*out = NULL;
	*n = 0;
	*next_before = 0;
	memset(&f, 0, sizeof(f));
	memset(&o, 0, sizeof(o));
	if (q->org_code != NULL && q->org_code[0] != '\0') {
		if (store_org_get(st, q->org_code, &o, e) == -1)
			goto out;
		f.org_id = o.id;
	}
	f.actor = q->actor;
	f.action = q->action;
	f.from = q->from;
	f.to = q->to;
	f.before = q->before;
	f.limit = RA_AUDIT_PAGE + 1; /* one more: is there a next page? */
	if (store_audit_list(st, &f, out, n, e) == -1)
		goto out;
	if (*n > RA_AUDIT_PAGE) {
		store_audit_clear(&(*out)[RA_AUDIT_PAGE]);
		*n = RA_AUDIT_PAGE;
		*next_before = (*out)[RA_AUDIT_PAGE - 1].seq;
	}
	rc = 0;
out:
	store_org_clear(&o);
	return rc;
}

int
ra_audit_verify(struct store *st, struct ca_audit_report *r, struct err *e)
{
	return ca_audit_verify(st, r, e);
}
