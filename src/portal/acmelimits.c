/*
 * acmelimits: GET /policies/acme-limits, the page an ACME client's rateLimited answer links
 * to (Link rel="help"): each limit with its configured count and window, in Japanese or
 * English like every portal page.  The values are the RA's (ra_acme_limits_conf), read from
 * the configuration the ACME face reads, so the page shows what the server enforces.
 */
#include <stdio.h>
#include <string.h>

#include "portal_int.h"

/* One row: what is limited (msgid), at most how many, within what. */
static void
limits_row(struct tmpl_data *d, const char *lang, const char *msgid, long max, const char *within,
	   const char *key)
{
	struct tmpl_data *row = tmpl_data_add(d, "limits");
	char n[32];

	snprintf(n, sizeof(n), "%ld", max);
	tmpl_data_str(row, "what", i18n_get(lang, msgid));
	tmpl_data_bool(row, "off", max == 0);
	tmpl_data_str(row, "max", n);
	tmpl_data_str(row, "within", within);
	tmpl_data_str(row, "key", key);
}

/* A window as seconds and, when whole, hours or days ("10800 s (3 h)"). */
static void
limits_window(long s, char *out, size_t n)
{
	if (s % 86400 == 0)
		snprintf(out, n, "%ld s (%ld d)", s, s / 86400);
	else if (s % 3600 == 0)
		snprintf(out, n, "%ld s (%ld h)", s, s / 3600);
	else
		snprintf(out, n, "%ld s", s);
}

int
portal_acme_limits(struct web_ctx *x)
{
	static const char *const what[RA_ACME_LIMIT__MAX] = {
	    N_("New orders per account"),      N_("Certificates per registered domain"),
	    N_("Failed validations per name"), N_("New accounts per client address"),
	    N_("Certificates per IP address"),
	};
	const struct conf *c = &x->ca->conf;
	struct ra_acme_limits lim;
	struct tmpl_data *d = NULL;
	char w[64], b[64];
	struct err e;
	int rc;

	err_clear(&e);
	if (strcmp(conf_get(c, "acme.enabled", "no"), "yes") != 0 ||
	    ra_acme_limits_conf(c, &lim, &e) == -1)
		return web_notice(x, 404, N_("Page not found"),
				  N_("The page you requested does not exist."));
	d = web_data(x, N_("ACME rate limits"), -1);
	for (int i = 0; i < RA_ACME_LIMIT__MAX; i++) {
		limits_window(lim.window[i], w, sizeof(w));
		limits_row(d, x->lang, what[i], lim.max[i], w,
			   ra_acme_limit_key((enum ra_acme_limit)i, 0));
	}
	snprintf(b, sizeof(b), "1 s (%s %ld)", i18n_get(x->lang, N_("bursts of")), lim.req_burst);
	limits_row(d, x->lang, N_("Requests per client address"), lim.req_rate, b,
		   "acme.requests_per_second");
	snprintf(b, sizeof(b), "1 s (%s %ld)", i18n_get(x->lang, N_("bursts of")), lim.req_burst48);
	limits_row(d, x->lang, N_("Requests per IPv6 /48 (a site, over all its /64s)"),
		   lim.req_rate48, b, "acme.requests_per_second_48");
	limits_row(d, x->lang, N_("Validations running at once per organization"),
		   lim.validations_per_org, i18n_get(x->lang, N_("at once")),
		   "acme.validations_per_organization");
	rc = web_page(x, 200, "policy_acme_limits", d);
	tmpl_data_free(d);
	return rc;
}
