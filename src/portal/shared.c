/*
 * shared: pieces every form of the portal uses — reading a posted form with its CSRF check,
 * hashing one-time secrets, a CAPTCHA as an inline image.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "http/http.h"
#include "portal_int.h"
#include "ra/ra.h"

/* Parses with the limits given (big_name NULL: the default form limits) and checks CSRF. */
static int
portal_form_read_ex(struct portal_ctx *x, struct portal_form *f, size_t body_max,
		    const char *big_name, size_t big_max, int *rc)
{
	struct err e;

	err_clear(&e);
	if (portal_form_parse_ex(x->r->body, x->r->bodylen, body_max, big_name, big_max, f, &e) ==
	    -1) {
		char esc[256];

		log_warn("portal: %s: %s", x->r->url,
			 log_escape(esc, sizeof(esc), e.msg, strlen(e.msg)));
		*rc =
		    portal_notice(x, 400, N_("The form could not be read"),
				  N_("The form could not be read. Please go back and try again."));
		return 1;
	}
	if (!portal_csrf_ok(x, portal_form_get(f, "csrf"))) {
		*rc = portal_notice(x, 403, N_("Access denied"),
				    N_("Your session has expired or the form did not come from "
				       "this site. Please start again from the first step."));
		return 1;
	}
	return 0;
}

int
portal_form_read(struct portal_ctx *x, struct portal_form *f, int *rc)
{
	return portal_form_read_ex(x, f, PORTAL_FORM_BODY_MAX, NULL, 0, rc);
}

int
portal_form_read_big(struct portal_ctx *x, struct portal_form *f, int *rc)
{
	return portal_form_read_ex(x, f, PORTAL_ISSUE_BODY_MAX, "csr", PORTAL_CSR_FIELD_MAX, rc);
}

void
portal_token_hash(const unsigned char raw[PORTAL_TOKEN_LEN], unsigned char out[STORE_HASH_LEN])
{
	crypto_generichash(out, STORE_HASH_LEN, raw, PORTAL_TOKEN_LEN, NULL, 0);
}

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

void
portal_code_new(char out[PORTAL_CODE_LEN], unsigned char hash[STORE_HASH_LEN])
{
	static const char alphabet[] = PORTAL_CODE_ALPHABET;
	char raw[PORTAL_CODE_CHARS + 1];
	size_t k = 0;

	for (size_t i = 0; i < PORTAL_CODE_CHARS; i++)
		raw[i] = alphabet[randombytes_uniform((uint32_t)(sizeof(alphabet) - 1))];
	raw[PORTAL_CODE_CHARS] = '\0';
	for (size_t i = 0; i < PORTAL_CODE_CHARS; i++) {
		if (i > 0 && i % 5 == 0)
			out[k++] = '-';
		out[k++] = raw[i];
	}
	out[k] = '\0';
	/* the hash is over the symbols alone: what a person types is normalised the same way */
	crypto_generichash(hash, STORE_HASH_LEN, (const unsigned char *)raw, PORTAL_CODE_CHARS,
			   NULL, 0);
	sodium_memzero(raw, sizeof(raw));
}

int
portal_email_in_org(struct store *st, int64_t org_id, const char *addr, struct err *e)
{
	struct store_org org;
	int r;

	memset(&org, 0, sizeof(org));
	if (store_org_get_id(st, org_id, &org, e) == -1)
		return -1;
	r = ra_email_in_org(&org, addr);
	store_org_clear(&org);
	return r;
}

int
portal_test_fault(const char *name)
{
	return portal.test_fault != NULL && strcmp(portal.test_fault, name) == 0;
}

char *
portal_pem(const char *label, const unsigned char *der, size_t len)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	struct buf b;
	unsigned char *lines = NULL;
	int n = 0, m = 0;
	char *out = NULL;

	buf_init(&b, 2 * len + 256);
	if (ctx == NULL || len > 1024 * 1024)
		goto out;
	/* EVP_Encode*: base64 in lines of 64 characters, each ending in a newline */
	lines = xmalloc((len + 2) / 3 * 4 + len / 48 + 3);
	EVP_EncodeInit(ctx);
	if (EVP_EncodeUpdate(ctx, lines, &n, der, (int)len) != 1)
		goto out;
	EVP_EncodeFinal(ctx, lines + n, &m);
	if (buf_printf(&b, "-----BEGIN %s-----\n%.*s-----END %s-----\n", label, n + m,
		       (const char *)lines, label) == -1 ||
	    buf_cstr(&b) == NULL)
		goto out;
	out = xstrdup((const char *)b.data);
out:
	free(lines);
	buf_free(&b);
	EVP_ENCODE_CTX_free(ctx);
	return out;
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
