/*
 * form: the decoder of application/x-www-form-urlencoded request bodies (WHATWG URL,
 * "application/x-www-form-urlencoded parsing").  It takes untrusted bytes: every limit is
 * checked before memory is used, and anything malformed is a clean refusal.
 */
#include <stdlib.h>
#include <string.h>

#include "portal.h"

static int
form_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 1 when s[0..n) is valid UTF-8 (no overlongs, surrogates or values above U+10FFFF). */
static int
form_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], need, cp, min;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i <= need)
			return 0;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/*
 * Decodes p[0..n) into a new string of at most max bytes (*out, caller frees).  what names the
 * part in messages ("name" or "value"); ctl_ok allows tab, CR and LF.
 */
static int
form_decode(const unsigned char *p, size_t n, size_t max, const char *what, int ctl_ok,
	    char **out, struct err *e)
{
	unsigned char *d = NULL;
	size_t i, k = 0;
	int rc = -1;

	*out = NULL;
	d = xmalloc(max + 1);
	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (n - i < 3 || (hi = form_hexval(p[i + 1])) < 0 ||
			    (lo = form_hexval(p[i + 2])) < 0) {
				err_set(e, ERR_REFUSED, "form: %s: bad percent escape", what);
				goto out;
			}
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c == 0x7f || (c < 0x20 && !(ctl_ok && (c == '\t' || c == '\r' || c == '\n')))) {
			err_set(e, ERR_REFUSED, "form: %s: control character 0x%02x", what, c);
			goto out;
		}
		if (k == max) {
			err_set(e, ERR_REFUSED, "form: %s longer than %zu bytes", what, max);
			goto out;
		}
		d[k++] = c;
	}
	if (!form_utf8_valid(d, k)) {
		err_set(e, ERR_REFUSED, "form: %s is not UTF-8", what);
		goto out;
	}
	d[k] = '\0';
	*out = (char *)d;
	d = NULL;
	rc = 0;
out:
	free(d);
	return rc;
}

int
portal_form_parse(const void *body, size_t len, struct portal_form *f, struct err *e)
{
	return portal_form_parse_ex(body, len, PORTAL_FORM_BODY_MAX, NULL, 0, f, e);
}

int
portal_form_parse_ex(const void *body, size_t len, size_t body_max, const char *big_name,
		     size_t big_max, struct portal_form *f, struct err *e)
{
	const unsigned char *p = body, *end = p + len;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	if (len > body_max) {
		err_set(e, ERR_REFUSED, "form: body of %zu bytes exceeds %zu", len, body_max);
		goto out;
	}
	while (p < end) {
		const unsigned char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
		char *name = NULL, *value = NULL;

		if (amp == NULL)
			amp = end;
		if (amp == p) {
			p++;
			continue;
		}
		if (f->n == PORTAL_FORM_FIELDS_MAX) {
			err_set(e, ERR_REFUSED, "form: more than %d fields", PORTAL_FORM_FIELDS_MAX);
			goto out;
		}
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL)
			eq = amp;
		if (form_decode(p, (size_t)(eq - p), PORTAL_FORM_NAME_MAX, "name", 0, &name, e) ==
			-1)
			goto out;
		if (name[0] == '\0' || portal_form_get(f, name) != NULL) {
			err_set(e, ERR_REFUSED, "form: %s field name",
				name[0] == '\0' ? "empty" : "repeated");
			free(name);
			goto out;
		}
		if (form_decode(eq < amp ? eq + 1 : amp, eq < amp ? (size_t)(amp - eq - 1) : 0,
				big_name != NULL && strcmp(name, big_name) == 0
				    ? big_max
				    : PORTAL_FORM_VALUE_MAX,
				"value", 1, &value, e) == -1) {
			free(name);
			goto out;
		}
		f->v[f->n].name = name;
		f->v[f->n].value = value;
		f->n++;
		p = amp < end ? amp + 1 : end;
	}
	rc = 0;
out:
	return rc;
}

void
portal_form_free(struct portal_form *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].name);
		if (f->v[i].value != NULL) {
			explicit_bzero(f->v[i].value, strlen(f->v[i].value));
			free(f->v[i].value);
		}
	}
	memset(f, 0, sizeof(*f));
}

const char *
portal_form_get(const struct portal_form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, name) == 0)
			return f->v[i].value;
	return NULL;
}
