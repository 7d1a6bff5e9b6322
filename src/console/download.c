/*
 * download: the organization's certificates as one TSV file (issue 13 part 6): GET
 * /download?kind=server|client|codesign|all&format=native|upki[&status=valid|revoked|expired].
 * An officer gets its organization's certificates of the kinds its permissions allow ("all":
 * every kind it may see; a kind it may not: 403).  Without format, the page to choose one.  The
 * file is made by src/ra/export.c (docs/bulk-tsv.md "Bulk download").
 */
#include <stdio.h>
#include <string.h>

#include "console_int.h"

static const char *const download_title[RA_OCERT__MAX + 1] = {
    [RA_OCERT_SERVER] = N_("Server certificates: bulk download"),
    [RA_OCERT_CLIENT] = N_("Client certificates: bulk download"),
    [RA_OCERT_CODESIGN] = N_("Code-signing certificates: bulk download"),
    [RA_OCERT__MAX] = N_("All certificates: bulk download"),
};

/* The kinds of ?kind= as bits (1u << kind) and the permissions they need; -1 when unknown. */
static int
download_kind(const char *v, int *k, unsigned *perms)
{
	enum ra_ocert_kind ok;

	if (v != NULL && strcmp(v, "all") == 0) {
		*k = RA_OCERT__MAX;
		*perms = RA_PERM_SERVER | RA_PERM_CLIENT | RA_PERM_CODESIGN;
		return 0;
	}
	if (v == NULL || ra_ocert_kind_parse(v, &ok) == -1)
		return -1;
	*k = (int)ok;
	*perms = ra_ocert_perm(ok);
	return 0;
}

/* GET /download: the page (no format) or the file. */
int
console_download_get(struct http_req *r)
{
	struct web_ctx x;
	struct console_who w;
	struct ra_export_opts o;
	struct ra_export_out out;
	enum ra_export_format fmt;
	enum ra_cert_status cs;
	const char *kv = http_query(r, "kind"), *fv = http_query(r, "format");
	const char *sv = http_query(r, "status");
	const char *hdrs[] = {"Content-Disposition", NULL, "X-Shomei-Unmapped", NULL, NULL};
	struct tmpl_data *d;
	struct store *st;
	struct err e;
	char disp[96], unm[24];
	unsigned perms;
	int k, i, rc;

	web_ctx_init(&x, &console.site, r);
	if (download_kind(kv, &k, &perms) == -1)
		return web_notice(&x, 404, N_("Not found"), N_("There is no such page."));
	if (console_gate(&x, 1u << RA_ROLE_OFFICER, perms, &w, &rc))
		return rc;
	memset(&o, 0, sizeof(o));
	o.status = -1;
	for (i = 0; i < RA_OCERT__MAX; i++)
		if ((k == RA_OCERT__MAX || k == i) &&
		    (w.o.perms & ra_ocert_perm((enum ra_ocert_kind)i)) != 0)
			o.kinds |= 1u << i;
	if (sv != NULL && *sv != '\0') {
		if (ra_cert_status_parse(sv, &cs) == -1)
			return web_notice(&x, 400, N_("Bad request"),
					  N_("The status is valid, revoked or expired."));
		o.status = (int)cs;
	}
	if (fv == NULL || *fv == '\0') {
		d = console_data(&x, &w, download_title[k]);
		tmpl_data_str(d, "kind", k == RA_OCERT__MAX ? "all" : ra_ocert_kind_names[k]);
		rc = web_page(&x, 200, "console_download", d);
		tmpl_data_free(d);
		return rc;
	}
	if (ra_export_format_parse(fv, &fmt) == -1)
		return web_notice(&x, 400, N_("Bad request"), N_("The format is native or upki."));
	o.format = fmt;
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		return web_error(&x, &e);
	if (ra_export_certs(x.ca, st, w.o.org_id, &o, &out, &e) == -1) {
		if (e.code == ERR_REFUSED)
			return web_notice(&x, 422, N_("Too many certificates"),
					  N_("The download holds at most 100,000 certificates. "
					     "Choose a status to download fewer."));
		return web_error(&x, &e);
	}
	snprintf(disp, sizeof(disp), "attachment; filename=\"shomei-%s-%s.tsv\"",
		 k == RA_OCERT__MAX ? "all" : ra_ocert_kind_names[k], ra_export_format_names[fmt]);
	snprintf(unm, sizeof(unm), "%zu", out.unmapped);
	hdrs[1] = disp;
	hdrs[3] = unm;
	rc = http_reply_hdrs(r, 200,
			     fmt == RA_EXPORT_UPKI ? "text/tab-separated-values; charset=Shift_JIS"
						   : "text/tab-separated-values; charset=utf-8",
			     out.data.data, out.data.len, hdrs);
	ra_export_out_free(&out);
	return rc;
}
