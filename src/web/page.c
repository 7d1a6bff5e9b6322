/*
 * page: what every portal page shares — the base values of templates/layout.html, the flow
 * bar of the application steps, and the two notice pages (busy, error) that the HTTP layer
 * needs before any flow exists.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/paths.h"
#include "web.h"

/* The applicant's steps (DESIGN.md 2.1), as the flow bar shows them. */
static const char *const web_flow_self[] = {
    N_("Applicant information"), N_("Confirm"), N_("Done"), N_("Confirmation mail"),
    N_("Issuance application"),	 N_("Confirm"), N_("Done"), N_("Issued"),
};

/* An agent's application: the holder approves between 完了 and 発行完了. */
static const char *const web_flow_agent[] = {
    N_("Applicant information"),
    N_("Confirm"),
    N_("Done"),
    N_("Confirmation mail"),
    N_("Issuance application"),
    N_("Confirm"),
    N_("Done"),
    N_("Holder approval"),
    N_("Issued"),
};

struct tmpl_data *
web_data_new(const char *lang, const char *title_msgid)
{
	struct tmpl_data *d = tmpl_data_new();

	if (lang == NULL)
		lang = I18N_DEFAULT;
	tmpl_data_str(d, "lang", lang);
	tmpl_data_bool(d, "lang_ja", strcmp(lang, "ja") == 0);
	tmpl_data_str(d, "title", i18n_get(lang, title_msgid));
	tmpl_data_str(d, "css_v", web_static_version("shomei.css"));
	tmpl_data_str(d, "lang_keep", ""); /* the portal fills it (query arguments to keep) */
	return d;
}

void
web_flow_add(struct tmpl_data *d, const char *lang, int current)
{
	web_flow_add_list(d, "steps", lang, current, 0);
}

void
web_flow_add_list(struct tmpl_data *d, const char *list, const char *lang, int current, int agent)
{
	const char *const *steps = agent ? web_flow_agent : web_flow_self;
	int n = agent ? (int)(sizeof(web_flow_agent) / sizeof(web_flow_agent[0]))
		      : (int)(sizeof(web_flow_self) / sizeof(web_flow_self[0]));

	/* flowbar.html may show a second bar ("steps_agent", /regist/step1): off unless added */
	if (strcmp(list, "steps") == 0)
		tmpl_data_bool(d, "steps_agent", 0);

	for (int i = 0; i < n; i++) {
		struct tmpl_data *s = tmpl_data_add(d, list);

		tmpl_data_str(s, "label", i18n_get(lang, steps[i]));
		tmpl_data_bool(s, "current", i == current);
		tmpl_data_bool(s, "done", i < current);
	}
}

int
web_render_notice(const struct tmpl_set *ts, enum web_notice which, const char *lang,
		  const char *reference, struct buf *out, struct err *e)
{
	struct tmpl_data *d;
	int rc;

	if (which == WEB_NOTICE_BUSY) {
		d = web_data_new(lang, N_("The service is busy"));
	} else {
		d = web_data_new(lang, N_("Service error"));
		tmpl_data_str(d, "reference", reference != NULL ? reference : "");
	}
	tmpl_data_bool(d, "steps", 0);
	rc =
	    tmpl_render(ts, "layout", which == WEB_NOTICE_BUSY ? "busy" : "error", d, lang, out, e);
	tmpl_data_free(d);
	return rc;
}

/*
 * DIR as configured, else the share directory's NAME (paths.h: the checkout's, or the
 * installed DATADIR's), else NAME in the working directory.  Caller frees.
 */
char *
web_dir(const struct conf *c, const char *key, const char *name)
{
	const char *v = conf_get(c, key, NULL);
	char *p;

	if (v != NULL)
		return conf_path(c, v);
	p = paths_share(name);
	if (util_file_exists(p) || !util_file_exists(name))
		return p;
	free(p);
	return xstrdup(name);
}
