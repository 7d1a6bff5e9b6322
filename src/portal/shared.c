/*
 * shared: pieces the forms of the portal use — their size limits, a CAPTCHA as an inline
 * image, the flow bar, the test fault hook and queueing a mail.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "http/http.h"
#include "portal_int.h"
#include "ra/ra.h"

const struct web_form_limits portal_form_big = {PORTAL_ISSUE_BODY_MAX, "csr", PORTAL_CSR_FIELD_MAX,
						0};
const struct web_form_limits portal_form_csr = {PORTAL_ISSUE_BODY_MAX, "csr", PORTAL_CSR_FIELD_MAX,
						1};

int
portal_captcha(struct store *st, const char *purpose, char id_hex[CAPTCHA_ID_HEX], char **data_uri,
	       struct err *e)
{
	static const char pfx[] = "data:image/png;base64,";
	struct buf png;
	size_t n;
	char *uri;
	int rc = -1;

	*data_uri = NULL;
	buf_init(&png, 1024 * 1024);
	if (captcha_new(st, &portal.captcha, purpose, id_hex, &png, e) == -1)
		goto out;
	n = sodium_base64_ENCODED_LEN(png.len, sodium_base64_VARIANT_ORIGINAL);
	uri = xmalloc(sizeof(pfx) - 1 + n);
	memcpy(uri, pfx, sizeof(pfx) - 1);
	sodium_bin2base64(uri + sizeof(pfx) - 1, n, png.data, png.len,
			  sodium_base64_VARIANT_ORIGINAL);
	*data_uri = uri;
	rc = 0;
out:
	buf_free(&png);
	return rc;
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
