/*
 * shared: pieces every form of the portal uses — reading a posted form with its CSRF check,
 * hashing one-time secrets, a CAPTCHA as an inline image.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "http/http.h"
#include "portal_int.h"

int
portal_form_read(struct portal_ctx *x, struct portal_form *f, int *rc)
{
	struct err e;

	err_clear(&e);
	if (portal_form_parse(x->r->body, x->r->bodylen, f, &e) == -1) {
		char esc[256];

		log_warn("portal: %s: %s", x->r->url, log_escape(esc, sizeof(esc), e.msg,
								  strlen(e.msg)));
		*rc = portal_notice(x, 400, N_("The form could not be read"),
				    N_("The form could not be read. Please go back and try again."));
		return 1;
	}
	if (!portal_csrf_ok(x, portal_form_get(f, "csrf"))) {
		*rc = portal_notice(x, 403, N_("Access denied"),
				    N_("Your session has expired or the form did not come from this site. Please start again from the first step."));
		return 1;
	}
	return 0;
}

void
portal_token_hash(const unsigned char raw[PORTAL_TOKEN_LEN], unsigned char out[STORE_HASH_LEN])
{
	crypto_generichash(out, STORE_HASH_LEN, raw, PORTAL_TOKEN_LEN, NULL, 0);
}

int
portal_captcha(struct store *st, const char *purpose, char id_hex[CAPTCHA_ID_HEX],
	       char **data_uri, struct err *e)
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
