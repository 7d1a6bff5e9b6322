/*
 * shared: pieces the forms of the portal use — their size limits, a CAPTCHA as an inline
 * image, the flow bar, the test fault hook and queueing a mail.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "http/http.h"
#include "portal_int.h"
#include "ra/ra.h"

const struct web_form_limits portal_form_big = {PORTAL_ISSUE_BODY_MAX, "csr", PORTAL_CSR_FIELD_MAX,
						0};
const struct web_form_limits portal_form_csr = {PORTAL_ISSUE_BODY_MAX, "csr", PORTAL_CSR_FIELD_MAX,
						1};

int
portal_captcha(struct web_ctx *x, struct store *st, const char *purpose,
	       char id_hex[CAPTCHA_ID_HEX], char **data_uri, struct err *e)
{
	struct buf png, uri;
	int rc = -1;

	*data_uri = NULL;
	if (!http_limit_ok(&portal.captchas, x->r, portal.captcha_rate))
		return PORTAL_CAPTCHA_LIMITED;
	buf_init(&png, 1024 * 1024);
	buf_init(&uri, 2 * 1024 * 1024);
	if (captcha_new(st, &portal.captcha, purpose, id_hex, &png, e) == -1)
		goto out;
	if (buf_printf(&uri, "data:image/png;base64,") == -1 ||
	    b64_encode(&uri, png.data, png.len) == -1 || buf_cstr(&uri) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: CAPTCHA image too large");
		goto out;
	}
	*data_uri = xstrdup((const char *)uri.data);
	rc = 0;
out:
	buf_free(&png);
	buf_free(&uri);
	return rc;
}

int
portal_captcha_limited(struct web_ctx *x)
{
	return web_notice(x, 429, N_("Too many requests"),
			  N_("Too many requests came from your network. Please wait a minute and "
			     "try again."));
}

void
portal_steps(struct tmpl_data *d, const char *lang, const char *const *labels, size_t n,
	     int current)
{
	tmpl_data_bool(d, "steps", 0); /* replaced by the list below */
	for (size_t i = 0; i < n; i++) {
		struct tmpl_data *s = tmpl_data_add(d, "steps");

		tmpl_data_str(s, "label", i18n_get(lang, labels[i]));
		tmpl_data_bool(s, "current", (int)i == current);
		tmpl_data_bool(s, "done", (int)i < current);
	}
}

int
portal_test_fault(const char *name)
{
	return portal.test_fault != NULL && strcmp(portal.test_fault, name) == 0;
}

int
portal_mail_queue(struct store *st, const char *to, const char *subject, struct buf *body,
		  struct err *e)
{
	struct mail_msg m;

	if (buf_cstr(body) == NULL)
		return err_set(e, ERR_INTERNAL, "portal: mail body too large");
	memset(&m, 0, sizeof(m));
	m.to = to;
	m.subject = subject;
	m.body = (const char *)body->data;
	m.cte = portal.mail.cte;
	return mail_enqueue(&portal.mail, st, &m, NULL, e);
}
