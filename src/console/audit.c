/*
 * audit: the console's view of the audit chain (issue 13, part 11), for the CA operator and
 * the auditor: filtered by actor (substring), organization (its officers, certificates, code
 * and API keys: see store_audit_list), action (prefix) and dates, newest first, a page at a
 * time with a link to the next; above it the result of the last walk `shomei audit verify`
 * does, with its time.  The walk reads every entry: it runs on the button (POST
 * /audit/verify), never on a page load, and its result is kept in memory until the next.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console_int.h"

#define AUDIT_ROLES ((1u << RA_ROLE_OPERATOR) | (1u << RA_ROLE_AUDITOR))

/* "YYYY-MM-DD" (UTC) into the start of that day; -1 when malformed. */
static int
audit_date_parse(const char *s, time_t *t)
{
	int v[3] = {0, 0, 0}, i, k = 0;
	struct tm tm;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (i = 0; i < 10; i++) {
		if (i == 4 || i == 7) {
			k++;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v[k] = v[k] * 10 + (s[i] - '0');
	}
	if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	*t = timegm(&tm);
	return 0;
}

/* A query value that is at most max bytes, else "" (the filter is then not applied). */
static const char *
audit_arg(struct http_req *r, const char *name, size_t max)
{
	const char *v = http_query(r, name);

	return v != NULL && strlen(v) <= max ? v : "";
}

/* The last verification of this process (at 0: none since the start). */
static struct {
	pthread_mutex_t mu;
	time_t at;
	int broken;
	struct ca_audit_report rep;
} audit_last = {PTHREAD_MUTEX_INITIALIZER, 0, 0, {0, 0, ""}};

/* The last verification's result and time on d (chain_never when there was none). */
static void
audit_verify_data(struct tmpl_data *d)
{
	struct ca_audit_report rep;
	char n[32];
	struct tm tm;
	time_t at;
	int broken;

	pthread_mutex_lock(&audit_last.mu);
	at = audit_last.at;
	broken = audit_last.broken;
	rep = audit_last.rep;
	pthread_mutex_unlock(&audit_last.mu);
	if (at == 0) {
		tmpl_data_bool(d, "chain_never", 1);
		return;
	}
	tmpl_data_bool(d, "chain_ok", !broken);
	tmpl_data_bool(d, "chain_broken", broken);
	snprintf(n, sizeof(n), "%" PRId64, rep.entries);
	tmpl_data_str(d, "chain_entries", n);
	snprintf(n, sizeof(n), "%" PRId64, rep.bad_seq);
	tmpl_data_str(d, "chain_bad", n);
	tmpl_data_str(d, "chain_problem", rep.problem);
	gmtime_r(&at, &tm);
	if (strftime(n, sizeof(n), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		n[0] = '\0';
	tmpl_data_str(d, "chain_at", n);
}

/* POST /audit/verify: walks the whole chain now, keeps the result, back to /audit. */
int
console_audit_verify_post(struct http_req *r)
{
	struct web_ctx x;
	struct web_form f;
	struct console_who w;
	struct ca_audit_report rep;
	struct store *st;
	struct err e;
	int rc, v;

	web_ctx_init(&x, &console.site, r);
	memset(&f, 0, sizeof(f));
	if (web_form_read(&x, &f, NULL, &rc)) {
		web_form_free(&f);
		return rc;
	}
	web_form_free(&f);
	if (console_gate(&x, AUDIT_ROLES, 0, &w, &rc))
		return rc;
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL || (v = ra_audit_verify(st, &rep, &e)) == -1)
		return web_error(&x, &e);
	pthread_mutex_lock(&audit_last.mu);
	audit_last.at = util_now();
	audit_last.broken = v != 0;
	audit_last.rep = rep;
	pthread_mutex_unlock(&audit_last.mu);
	if (v != 0)
		log_warn("console: audit chain verification failed at entry %" PRId64 " (%s)",
			 rep.bad_seq, w.o.name);
	return web_redirect(&x, "/audit");
}

/* The entries of the page on d. */
static void
audit_entries(struct tmpl_data *d, const struct store_audit *v, size_t n)
{
	struct tmpl_data *it;
	char t[32];
	struct tm tm;
	size_t i;

	for (i = 0; i < n; i++) {
		it = tmpl_data_add(d, "entries");
		snprintf(t, sizeof(t), "%" PRId64, v[i].seq);
		tmpl_data_str(it, "seq", t);
		gmtime_r(&v[i].ts, &tm);
		if (strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm) == 0)
			t[0] = '\0';
		tmpl_data_str(it, "ts", t);
		tmpl_data_str(it, "actor", v[i].actor);
		tmpl_data_str(it, "action", v[i].action);
		tmpl_data_str(it, "object", v[i].object);
		tmpl_data_str(it, "detail", v[i].detail);
	}
}

/* GET /audit */
int
console_audit_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct ra_audit_query q;
	struct store_audit *v = NULL;
	struct tmpl_data *d;
	struct store *st;
	struct buf qs;
	const char *from, *to, *before;
	char *end;
	int64_t next = 0;
	size_t n = 0;
	struct err e;
	int rc, status = 200;

	web_ctx_init(&x, &console.site, r);
	if (console_gate(&x, AUDIT_ROLES, 0, &w, &rc))
		return rc;
	err_clear(&e);
	memset(&q, 0, sizeof(q));
	q.actor = audit_arg(r, "actor", 256);
	q.action = audit_arg(r, "action", 64);
	q.org_code = audit_arg(r, "org", 63);
	from = audit_arg(r, "from", 10);
	to = audit_arg(r, "to", 10);
	before = audit_arg(r, "before", 20);
	d = console_data(&x, &w, N_("Audit log"));
	if ((from[0] != '\0' && audit_date_parse(from, &q.from) == -1) ||
	    (to[0] != '\0' && audit_date_parse(to, &q.to) == -1) ||
	    (before[0] != '\0' && ((q.before = strtoll(before, &end, 10)) <= 0 || *end != '\0'))) {
		tmpl_data_str(d, "error", i18n_get(x.lang, N_("Dates are written YYYY-MM-DD.")));
		status = 400;
		q.from = q.to = 0;
		q.before = 0;
	}
	if (q.to != 0)
		q.to += 86400; /* the whole of the last day */
	audit_verify_data(d);
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		goto fail;
	if (ra_audit_page(st, &q, &v, &n, &next, &e) == -1) {
		if (e.code != ERR_NOTFOUND)
			goto fail;
		err_clear(&e);
		tmpl_data_str(d, "error", i18n_get(x.lang, N_("There is no such organization.")));
		status = 404;
	}
	tmpl_data_str(d, "actor", q.actor);
	tmpl_data_str(d, "action", q.action);
	tmpl_data_str(d, "org", q.org_code);
	tmpl_data_str(d, "from", status == 400 ? "" : from);
	tmpl_data_str(d, "to", status == 400 ? "" : to);
	audit_entries(d, v, n);
	if (next != 0) {
		char nb[24];

		buf_init(&qs, 4096);
		console_qs_add(&qs, "actor", q.actor);
		console_qs_add(&qs, "org", q.org_code);
		console_qs_add(&qs, "action", q.action);
		console_qs_add(&qs, "from", from);
		console_qs_add(&qs, "to", to);
		snprintf(nb, sizeof(nb), "%" PRId64, next);
		console_qs_add(&qs, "before", nb);
		tmpl_data_str(d, "next", buf_cstr(&qs) != NULL ? buf_cstr(&qs) : "");
		buf_free(&qs);
	}
	STORE_LIST_FREE(v, n, store_audit_clear);
	rc = web_page(&x, status, "console_audit", d);
	tmpl_data_free(d);
	return rc;
fail:
	STORE_LIST_FREE(v, n, store_audit_clear);
	tmpl_data_free(d);
	return web_error(&x, &e);
}
