/*
 * acmelimit: the RA's ACME rate limits (issue 14 part 5; the face answers 429 rateLimited):
 * new orders per account, certificates per registered domain of an organization, failed
 * validations per name of an account and new accounts per client address, each a count of the
 * events of its key inside a sliding window (store_acme_limit_count: an indexed range scan cut at
 * the limit).  When the count has reached the limit, the answer names the limit and tells how long
 * until the oldest counted event leaves the window (at least 1 s).
 *
 * The registered domain of a name is the Public Suffix List's (libpsl over Debian's
 * publicsuffix data, loaded once at start): www.cs.example.ac.jp counts under example.ac.jp.
 * A name with no registrable part (a suffix itself) counts under itself.
 *
 * The counts are read before the write they limit, outside its transaction: two requests at
 * the same moment may both pass at the edge (a soft limit, by one request per front end
 * thread), which is the usual trade for a check that costs no lock.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include <libpsl.h>
#include <sodium.h>

#include "ra.h"

const char *const ra_acme_limit_names[RA_ACME_LIMIT__MAX] = {
    "new orders per account",	   "certificates per registered domain",
    "failed validations per name", "new accounts per client address",
    "certificates per IP address",
};

/* The configuration keys of each limit: its count and its window (seconds), with defaults. */
static const struct {
	const char *max_key, *window_key;
	long max, window;
} limit_conf[RA_ACME_LIMIT__MAX] = {
    {"acme.orders_per_account", "acme.orders_per_account_window", 300, 3 * 3600},
    {"acme.certs_per_domain", "acme.certs_per_domain_window", 1000, 7 * 86400},
    {"acme.failed_validations_per_name", "acme.failed_validations_window", 5, 3600},
    {"acme.accounts_per_address", "acme.accounts_per_address_window", 20, 3 * 3600},
    {"acme.certs_per_ip", "acme.certs_per_ip_window", 50, 7 * 86400},
};

static const enum store_acme_limit limit_store[RA_ACME_LIMIT__MAX] = {
    STORE_ACME_LIMIT_ORDERS,   STORE_ACME_LIMIT_CERTS, STORE_ACME_LIMIT_FAILED,
    STORE_ACME_LIMIT_ACCOUNTS, STORE_ACME_LIMIT_CERTS, /* the same events' table: keys "ip:..."
							  (ra_acme_ip_limit_key) */
};

static pthread_mutex_t limit_psl_mu = PTHREAD_MUTEX_INITIALIZER;
static psl_ctx_t *limit_psl; /* under limit_psl_mu; read-only once loaded */

const char *
ra_acme_limit_key(enum ra_acme_limit l, int window)
{
	if ((unsigned)l >= RA_ACME_LIMIT__MAX)
		fatalx("acme: no limit %d", (int)l);
	return window ? limit_conf[l].window_key : limit_conf[l].max_key;
}

int
ra_acme_limits_conf(const struct conf *c, struct ra_acme_limits *lim, struct err *e)
{
	for (int i = 0; i < RA_ACME_LIMIT__MAX; i++)
		if (conf_get_long(c, limit_conf[i].max_key, limit_conf[i].max, 0, 1000000000L,
				  &lim->max[i], e) == -1 ||
		    conf_get_long(c, limit_conf[i].window_key, limit_conf[i].window, 1,
				  366L * 86400, &lim->window[i], e) == -1)
			return -1;
	if (conf_get_long(c, "acme.requests_per_second", 50, 0, 1000000, &lim->req_rate, e) == -1 ||
	    conf_get_long(c, "acme.requests_burst", 200, 1, 1000000, &lim->req_burst, e) == -1 ||
	    conf_get_long(c, "acme.requests_per_second_48", 200, 0, 1000000, &lim->req_rate48, e) ==
		-1 ||
	    conf_get_long(c, "acme.requests_burst_48", 800, 1, 1000000, &lim->req_burst48, e) ==
		-1 ||
	    conf_get_long(c, "acme.validations_per_organization", 8, 0, RA_ACME_VALIDATIONS_MAX,
			  &lim->validations_per_org, e) == -1)
		return -1;
	return 0;
}

/* The list, loaded on first use when acme_init did not (a caller outside the web process). */
static const psl_ctx_t *
limit_psl_get(struct err *e)
{
	psl_ctx_t *p;

	pthread_mutex_lock(&limit_psl_mu);
	/* Debian's publicsuffix data (newest of it and the library's built-in copy) */
	if (limit_psl == NULL && (limit_psl = psl_latest(NULL)) == NULL)
		limit_psl = psl_load_file("/usr/share/publicsuffix/public_suffix_list.dat");
	p = limit_psl;
	pthread_mutex_unlock(&limit_psl_mu);
	if (p == NULL)
		err_set(e, ERR_INTERNAL,
			"acme: the Public Suffix List does not load (package publicsuffix)");
	return p;
}

int
ra_acme_psl_load(struct err *e)
{
	return limit_psl_get(e) != NULL ? 0 : -1;
}

void
ra_acme_psl_free(void)
{
	pthread_mutex_lock(&limit_psl_mu);
	psl_free(limit_psl);
	limit_psl = NULL;
	pthread_mutex_unlock(&limit_psl_mu);
}

int
ra_acme_reg_domain(const char *name, char *out, size_t n)
{
	const psl_ctx_t *psl;
	const char *d = NULL;
	unsigned char a[16];
	struct err e;

	err_clear(&e);
	if (name == NULL || *name == '\0')
		return -1;
	/* an address has no registered domain (its last octets are none): not counted */
	if (inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1)
		return -1;
	if ((psl = limit_psl_get(&e)) == NULL) {
		log_warn("%s", e.msg);
		return -1;
	}
	d = psl_registrable_domain(psl, name);
	if (d == NULL)
		d = name;
	if (strlen(d) >= n)
		return -1;
	snprintf(out, n, "%s", d);
	return 0;
}

int
ra_acme_ip_limit_key(const char *text, char *out, size_t n)
{
	unsigned char a[16];
	char t[INET6_ADDRSTRLEN];

	if (text == NULL)
		return -1;
	if (inet_pton(AF_INET, text, a) == 1) {
		inet_ntop(AF_INET, a, t, sizeof(t));
		return snprintf(out, n, "ip:%s", t) < (int)n ? 0 : -1;
	}
	if (inet_pton(AF_INET6, text, a) != 1)
		return -1;
	/* an IPv6 subscriber holds a /64 at least: the count is the prefix's */
	memset(a + 8, 0, 8);
	inet_ntop(AF_INET6, a, t, sizeof(t));
	return snprintf(out, n, "ip:%s/64", t) < (int)n ? 0 : -1;
}

/* strcmp for qsort over an array of strings. */
static int
limit_strcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The key of account acct's set of names (any order, case and duplicates alike):
 * "set:<acct>:" and the hex SHA-256 of the sorted distinct lower-case names, each followed by
 * a newline, into out (RA_ACME_NAME_MAX); -1 for a name too long.
 */
static int
limit_set_key(int64_t acct, const char *const *names, size_t n, char *out, size_t olen)
{
	char **v = xcalloc(n > 0 ? n : 1, sizeof(*v));
	unsigned char md[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	crypto_hash_sha256_state h;
	size_t i;
	int rc = -1;

	for (i = 0; i < n; i++) {
		size_t l = strlen(names[i]);

		if (l == 0 || l >= RA_ACME_NAME_MAX)
			goto out;
		v[i] = xstrdup(names[i]);
		for (size_t k = 0; k < l; k++)
			if (v[i][k] >= 'A' && v[i][k] <= 'Z')
				v[i][k] = (char)(v[i][k] + 32);
	}
	qsort(v, n, sizeof(*v), limit_strcmp);
	crypto_hash_sha256_init(&h);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(v[i], v[i - 1]) == 0)
			continue;
		crypto_hash_sha256_update(&h, (const unsigned char *)v[i], strlen(v[i]));
		crypto_hash_sha256_update(&h, (const unsigned char *)"\n", 1);
	}
	crypto_hash_sha256_final(&h, md);
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	rc = snprintf(out, olen, "set:%" PRId64 ":%s", acct, hex) < (int)olen ? 0 : -1;
out:
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return rc;
}

/*
 * 1 when account acct got a certificate for exactly these names within the
 * certificates-per-domain window (the renewal rule), 0 when not, -1 on error.
 */
static int
limit_same_set(struct store *st, const struct ra_acme_limits *lim, int64_t org_id, int64_t acct,
	       const char *const *names, size_t n, struct err *e)
{
	char key[RA_ACME_NAME_MAX];
	time_t oldest = 0;
	int64_t got = 0;

	if (n == 0 || limit_set_key(acct, names, n, key, sizeof(key)) == -1)
		return 0;
	if (store_acme_limit_count(st, STORE_ACME_LIMIT_CERTS, key, org_id,
				   util_now() - lim->window[RA_ACME_LIMIT_CERTS], 1, &got, &oldest,
				   e) == -1)
		return -1;
	return got > 0;
}

/*
 * One limit's count for key: OK under the limit (or the limit off), RATE_LIMITED with *hit
 * filled, or ERROR.
 */
static enum ra_acme_outcome
limit_check_x(struct store *st, const struct ra_acme_limits *lim, enum ra_acme_limit l, long factor,
	      const char *key, int64_t key_id, const char *what, struct ra_acme_limited *hit,
	      struct err *e)
{
	time_t now = util_now(), oldest = 0;
	int64_t n = 0;
	long retry;

	if (lim->max[l] == 0)
		return RA_ACME_OK;
	if (store_acme_limit_count(st, limit_store[l], key, key_id, now - lim->window[l],
				   lim->max[l] * factor, &n, &oldest, e) == -1)
		return RA_ACME_ERROR;
	if (n < lim->max[l] * factor)
		return RA_ACME_OK;
	retry = (long)(oldest + lim->window[l] - now);
	hit->which = l;
	hit->retry_after = retry < 1 ? 1 : retry;
	snprintf(hit->detail, sizeof(hit->detail),
		 "rate limit \"%s\" (%s = %ld per %s = %ld s) reached for %s; retry after %ld s",
		 ra_acme_limit_names[l], limit_conf[l].max_key, lim->max[l],
		 limit_conf[l].window_key, lim->window[l], what, hit->retry_after);
	err_set(e, ERR_REFUSED, "acme: %s", hit->detail);
	return RA_ACME_RATE_LIMITED;
}

static enum ra_acme_outcome
limit_check(struct store *st, const struct ra_acme_limits *lim, enum ra_acme_limit l,
	    const char *key, int64_t key_id, const char *what, struct ra_acme_limited *hit,
	    struct err *e)
{
	return limit_check_x(st, lim, l, 1, key, key_id, what, hit, e);
}

/* The name of a DNS identifier as the RA keeps it (lower case) into out; -1 if too long. */
static int
limit_name(const char *v, char *out, size_t n)
{
	size_t l = strlen(v);

	if (l == 0 || l >= n)
		return -1;
	for (size_t i = 0; i <= l; i++)
		out[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
	return 0;
}

enum ra_acme_outcome
ra_acme_limit_order(struct store *st, const struct ra_acme_limits *lim,
		    const struct ra_acme_account *acct, const struct ra_acme_ident *ids, size_t n,
		    int replaces, struct ra_acme_limited *hit, struct err *e)
{
	char name[RA_ACME_NAME_MAX], dom[RA_ACME_NAME_MAX], esc[300], acc[48];
	char(*seen)[RA_ACME_NAME_MAX] = NULL; /* the domains and addresses counted (each once) */
	const char **vals = NULL;
	size_t nseen = 0, k;
	enum ra_acme_outcome r;
	int renewal = replaces != 0, same;

	if (!renewal && n > 0) {
		vals = xcalloc(n, sizeof(*vals));
		for (size_t i = 0; i < n; i++)
			vals[i] = ids[i].value;
		if ((same = limit_same_set(st, lim, acct->org_id, acct->id, vals, n, e)) == -1) {
			r = RA_ACME_ERROR;
			goto out;
		}
		renewal = same;
	}
	snprintf(acc, sizeof(acc), "account %" PRId64, acct->id);
	/* a renewal is exempt from the new orders per account, up to a ceiling of twice it */
	if ((r = limit_check_x(st, lim, RA_ACME_LIMIT_ORDERS, renewal ? 2 : 1, NULL, acct->id, acc,
			       hit, e)) != RA_ACME_OK)
		goto out;
	seen = xcalloc(n > 0 ? n : 1, sizeof(*seen));
	for (size_t i = 0; i < n; i++) {
		/* an address: its failed validations and its certificates (never exempt) */
		if (strcmp(ids[i].type, "ip") == 0) {
			if (ra_acme_ip_limit_key(ids[i].value, dom, sizeof(dom)) == -1)
				continue; /* not canonical: refused anyway */
			log_escape(esc, sizeof(esc), ids[i].value, strlen(ids[i].value));
			if ((r = limit_check(st, lim, RA_ACME_LIMIT_FAILED, ids[i].value, acct->id,
					     esc, hit, e)) != RA_ACME_OK)
				goto out;
			for (k = 0; k < nseen && strcmp(seen[k], dom) != 0; k++)
				;
			if (k < nseen)
				continue;
			memcpy(seen[nseen++], dom, sizeof(dom));
			log_escape(esc, sizeof(esc), dom + 3, strlen(dom + 3));
			if ((r = limit_check(st, lim, RA_ACME_LIMIT_IP_CERTS, dom, acct->org_id,
					     esc, hit, e)) != RA_ACME_OK)
				goto out;
			continue;
		}
		/* only DNS names the RA could accept count; the others are refused anyway */
		if (strcmp(ids[i].type, "dns") != 0 ||
		    limit_name(ids[i].value, name, sizeof(name)) == -1)
			continue;
		log_escape(esc, sizeof(esc), name, strlen(name));
		/* failures are recorded under a wildcard's base name (its authorization's) */
		if ((r = limit_check(st, lim, RA_ACME_LIMIT_FAILED,
				     name[0] == '*' && name[1] == '.' ? name + 2 : name, acct->id,
				     esc, hit, e)) != RA_ACME_OK)
			goto out;
		if (renewal || lim->max[RA_ACME_LIMIT_CERTS] == 0 ||
		    ra_acme_reg_domain(name[0] == '*' && name[1] == '.' ? name + 2 : name, dom,
				       sizeof(dom)) == -1)
			continue;
		for (k = 0; k < nseen && strcmp(seen[k], dom) != 0; k++)
			;
		if (k < nseen)
			continue;
		memcpy(seen[nseen++], dom, sizeof(dom));
		log_escape(esc, sizeof(esc), dom, strlen(dom));
		if ((r = limit_check(st, lim, RA_ACME_LIMIT_CERTS, dom, acct->org_id, esc, hit,
				     e)) != RA_ACME_OK)
			goto out;
	}
	r = RA_ACME_OK;
out:
	free(vals);
	free(seen);
	return r;
}

enum ra_acme_outcome
ra_acme_limit_name(struct store *st, const struct ra_acme_limits *lim, int64_t acct_id,
		   const char *name, struct ra_acme_limited *hit, struct err *e)
{
	char esc[300];

	log_escape(esc, sizeof(esc), name, strlen(name));
	return limit_check(st, lim, RA_ACME_LIMIT_FAILED, name, acct_id, esc, hit, e);
}

enum ra_acme_outcome
ra_acme_limit_account(struct store *st, const struct ra_acme_limits *lim, const char *addr,
		      struct ra_acme_limited *hit, struct err *e)
{
	char esc[80];

	log_escape(esc, sizeof(esc), addr, strlen(addr));
	return limit_check(st, lim, RA_ACME_LIMIT_ACCOUNTS, addr, 0, esc, hit, e);
}

int
ra_acme_limit_record_cert(struct store *st, int64_t org_id, int64_t acct, const char *const *names,
			  size_t n, const char *serial, struct err *e)
{
	char(*doms)[RA_ACME_NAME_MAX] = xcalloc(n + 1, sizeof(*doms));
	size_t k = 0, j;
	int rc = -1;

	/* the account's set of names: a later order of the same names is a renewal */
	if (n > 0 && limit_set_key(acct, names, n, doms[0], sizeof(doms[0])) == 0 &&
	    store_acme_cert_domain_add(st, org_id, doms[0], serial, util_now(), e) == -1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const char *v = names[i];

		if (v[0] == '*' && v[1] == '.')
			v += 2;
		/* an address counts under itself (IPv6: its /64), a name under its domain */
		if (ra_acme_ip_limit_key(v, doms[k], sizeof(doms[k])) == -1 &&
		    ra_acme_reg_domain(v, doms[k], sizeof(doms[k])) == -1)
			continue;
		for (j = 0; j < k && strcmp(doms[j], doms[k]) != 0; j++)
			;
		if (j < k)
			continue;
		if (store_acme_cert_domain_add(st, org_id, doms[k], serial, util_now(), e) == -1)
			goto out;
		k++;
	}
	rc = 0;
out:
	free(doms);
	return rc;
}

/* 1 when name (a wildcard as its base) has registered domain dom. */
static int
limit_same_domain(const char *name, const char *dom)
{
	char d[RA_ACME_NAME_MAX];

	if (name[0] == '*' && name[1] == '.')
		name += 2;
	return ra_acme_reg_domain(name, d, sizeof(d)) == 0 && strcmp(d, dom) == 0;
}

enum ra_acme_outcome
ra_acme_limit_finalize(struct store *st, const struct ra_acme_limits *lim,
		       const struct ra_acme_order *o, int64_t org_id, struct ra_acme_limited *hit,
		       struct err *e)
{
	char dom[RA_ACME_NAME_MAX], esc[300];
	char **names = NULL;
	enum ra_acme_outcome r = RA_ACME_OK;
	int renewal = 0;

	if (lim->max[RA_ACME_LIMIT_CERTS] == 0 && lim->max[RA_ACME_LIMIT_IP_CERTS] == 0)
		return RA_ACME_OK;
	/* an order that is not ready: finalize itself says so */
	if (strcmp(o->o.status, "ready") != 0)
		return RA_ACME_OK;
	/* a renewal (replaces, or the names of a certificate of the account) is exempt from the
	 * certificates per domain; its addresses still count */
	renewal = o->o.replaces != NULL;
	if (!renewal && o->naz > 0) {
		names = xcalloc(o->naz, sizeof(*names));
		for (size_t i = 0; i < o->naz; i++) {
			names[i] = xmalloc(strlen(o->az[i].value) + 3);
			snprintf(names[i], strlen(o->az[i].value) + 3, "%s%s",
				 o->az[i].wildcard ? "*." : "", o->az[i].value);
		}
		if ((renewal = limit_same_set(st, lim, org_id, o->o.account_id,
					      (const char *const *)names, o->naz, e)) == -1) {
			r = RA_ACME_ERROR;
			goto out;
		}
	}
	for (size_t i = 0; r == RA_ACME_OK && i < o->naz; i++) {
		const char *v = o->az[i].value;
		size_t j;

		if (ra_acme_ip_limit_key(v, dom, sizeof(dom)) == 0) {
			for (j = 0; j < i && strcmp(o->az[j].value, v) != 0; j++)
				;
			log_escape(esc, sizeof(esc), dom + 3, strlen(dom + 3));
			if (j == i)
				r = limit_check(st, lim, RA_ACME_LIMIT_IP_CERTS, dom, org_id, esc,
						hit, e);
			continue;
		}
		if (renewal || lim->max[RA_ACME_LIMIT_CERTS] == 0)
			continue;
		if (v[0] == '*' && v[1] == '.')
			v += 2;
		if (ra_acme_reg_domain(v, dom, sizeof(dom)) == -1)
			continue;
		/* a domain an earlier name of the order counted already */
		for (j = 0; j < i && !limit_same_domain(o->az[j].value, dom); j++)
			;
		if (j < i)
			continue;
		log_escape(esc, sizeof(esc), dom, strlen(dom));
		r = limit_check(st, lim, RA_ACME_LIMIT_CERTS, dom, org_id, esc, hit, e);
	}
out:
	for (size_t i = 0; names != NULL && i < o->naz; i++)
		free(names[i]);
	free(names);
	return r;
}

struct limit_purge {
	time_t certs_before, failed_before;
	int64_t n;
};

/* The purge as a unit of ra_acme_write (it may run again: it only deletes). */
static int
limit_purge_write(struct store *st, void *arg, struct err *e)
{
	struct limit_purge *p = arg;

	p->n = 0;
	return store_acme_limit_purge(st, p->certs_before, p->failed_before, &p->n, e);
}

static pthread_mutex_t limit_purge_mu = PTHREAD_MUTEX_INITIALIZER;
static time_t limit_purged; /* under limit_purge_mu: the last purge of this process */

void
ra_acme_limit_purge(struct store *st, const struct ra_acme_limits *lim, time_t now)
{
	struct limit_purge p;
	int due;
	struct err e;

	pthread_mutex_lock(&limit_purge_mu);
	due = now - limit_purged >= 60;
	if (due)
		limit_purged = now;
	pthread_mutex_unlock(&limit_purge_mu);
	if (!due || store_in_tx(st))
		return;
	err_clear(&e);
	/* the certificates' table holds the addresses' events and the renewal rule's too */
	p.certs_before =
	    now - (lim->window[RA_ACME_LIMIT_CERTS] > lim->window[RA_ACME_LIMIT_IP_CERTS]
		       ? lim->window[RA_ACME_LIMIT_CERTS]
		       : lim->window[RA_ACME_LIMIT_IP_CERTS]);
	p.failed_before = now - lim->window[RA_ACME_LIMIT_FAILED];
	p.n = 0;
	if (ra_acme_write(st, limit_purge_write, &p, 1, &e) == -1)
		log_warn("acme: purging the rate limits' old events: %s", e.msg);
	else if (p.n > 0)
		log_debug("acme: %" PRId64 " rate-limit events past their window purged", p.n);
}
