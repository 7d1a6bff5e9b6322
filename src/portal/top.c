/*
 * top: the portal's top page (GET / on the HTTPS listener: what the service issues and for
 * whom, the user obligations to agree to, the ways in — registration, revocation, re-issue —
 * and the contact), the contact settings it shares with the privacy page, and the static
 * files (GET /static/NAME: the stylesheet).
 *
 * Configuration: portal.contact_email (an address shown as a mailto: link; default: none),
 * portal.contact_text (a line such as the desk's name and hours, shown as text; default:
 * none), portal.contact_text_en (its English version; default: portal.contact_text),
 * portal.static (directory of the static files; default static/ found like templates/).
 */
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "http/http.h"
#include "portal_int.h"
#include "util/utf8.h"
#include "x509/x509.h"

#define PORTAL_CONTACT_MAX 512 /* bytes of portal.contact_text */

/* A contact text: UTF-8 without control characters, at most PORTAL_CONTACT_MAX bytes. */
static int
portal_contact_text_ok(const char *key, const char *v, struct err *e)
{
	size_t n = strlen(v);

	if (n > PORTAL_CONTACT_MAX)
		return err_set(e, ERR_REFUSED, "portal: %s: longer than %d bytes", key,
			       PORTAL_CONTACT_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return err_set(e, ERR_REFUSED, "portal: %s: control character", key);
	if (utf8_count((const unsigned char *)v, n) < 0)
		return err_set(e, ERR_REFUSED, "portal: %s: not UTF-8", key);
	return 0;
}

int
portal_site_init(const struct conf *c, struct err *e)
{
	const char *mail = conf_get(c, "portal.contact_email", NULL);
	const char *text = conf_get(c, "portal.contact_text", NULL);
	const char *text_en = conf_get(c, "portal.contact_text_en", NULL);
	char *sdir = NULL;
	long rate;
	int rc = -1;

	pthread_mutex_init(&portal.trl_lock, NULL);
	if (conf_get_long(c, "portal.ticket_rate", 5, 1, 1000000, &rate, e) == -1)
		goto out;
	portal.ticket_rate = rate;
	if (mail != NULL && mail[0] != '\0') {
		if (!mail_addr_valid(mail)) {
			err_set(e, ERR_REFUSED,
				"portal: portal.contact_email: not an e-mail address");
			goto out;
		}
		portal.contact_email = xstrdup(mail);
	}
	if (text != NULL && text[0] != '\0') {
		if (portal_contact_text_ok("portal.contact_text", text, e) == -1)
			goto out;
		portal.contact_text = xstrdup(text);
	}
	if (text_en != NULL && text_en[0] != '\0') {
		if (portal_contact_text_ok("portal.contact_text_en", text_en, e) == -1)
			goto out;
		portal.contact_text_en = xstrdup(text_en);
	}
	sdir = web_dir(c, "portal.static", "static");
	if (web_static_load(sdir, e) == -1)
		goto out;
	rc = 0;
out:
	free(sdir);
	return rc;
}

void
portal_site_fini(void)
{
	web_static_unload();
	free(portal.contact_email);
	free(portal.contact_text);
	free(portal.contact_text_en);
	portal.contact_email = portal.contact_text = portal.contact_text_en = NULL;
}

void
portal_contact_add(const struct web_ctx *x, struct tmpl_data *d)
{
	const char *text = portal.contact_text;

	if (strcmp(x->lang, "en") == 0 && portal.contact_text_en != NULL)
		text = portal.contact_text_en;
	tmpl_data_str(d, "contact_email", portal.contact_email != NULL ? portal.contact_email : "");
	tmpl_data_str(d, "contact_text", text != NULL ? text : "");
}

/* GET /: the top page. */
int
portal_index_get(struct http_req *r)
{
	struct web_ctx x;
	struct tmpl_data *d;
	int rc;

	web_ctx_init(&x, &portal.site, r);
	d = web_data(&x, N_("Certificate application"), -1);
	portal_contact_add(&x, d);
	rc = web_page(&x, 200, "index", d);
	tmpl_data_free(d);
	return rc;
}
