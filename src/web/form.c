/*
 * form: the decoder of application/x-www-form-urlencoded request bodies (WHATWG URL,
 * "application/x-www-form-urlencoded parsing").  It takes untrusted bytes: every limit is
 * checked before memory is used, and anything malformed is a clean refusal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/utf8.h"
#include "web.h"

/*
 * Decodes p[0..n) into a new string of at most max bytes (*out, caller frees).  what names the
 * part in messages ("name" or "value"); ctl_ok allows tab, CR and LF.
 */
static int
form_decode(const unsigned char *p, size_t n, size_t max, const char *what, int ctl_ok, char **out,
	    struct err *e)
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

			if (n - i < 3 || (hi = hex_digit(p[i + 1])) < 0 ||
			    (lo = hex_digit(p[i + 2])) < 0) {
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
	if (!utf8_valid(d, k)) {
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
web_form_parse(const void *body, size_t len, struct web_form *f, struct err *e)
{
	return web_form_parse_ex(body, len, WEB_FORM_BODY_MAX, NULL, 0, f, e);
}

int
web_form_parse_ex(const void *body, size_t len, size_t body_max, const char *big_name,
		  size_t big_max, struct web_form *f, struct err *e)
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
		if (f->n == WEB_FORM_FIELDS_MAX) {
			err_set(e, ERR_REFUSED, "form: more than %d fields", WEB_FORM_FIELDS_MAX);
			goto out;
		}
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL)
			eq = amp;
		if (form_decode(p, (size_t)(eq - p), WEB_FORM_NAME_MAX, "name", 0, &name, e) == -1)
			goto out;
		if (name[0] == '\0' || web_form_get(f, name) != NULL) {
			err_set(e, ERR_REFUSED, "form: %s field name",
				name[0] == '\0' ? "empty" : "repeated");
			free(name);
			goto out;
		}
		if (form_decode(eq < amp ? eq + 1 : amp, eq < amp ? (size_t)(amp - eq - 1) : 0,
				big_name != NULL && strcmp(name, big_name) == 0
				    ? big_max
				    : WEB_FORM_VALUE_MAX,
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
web_form_free(struct web_form *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].name);
		if (f->v[i].value != NULL) {
			size_t n = strlen(f->v[i].value);

			explicit_bzero(f->v[i].value, f->v[i].len > n ? f->v[i].len : n);
			free(f->v[i].value);
		}
	}
	memset(f, 0, sizeof(*f));
}

const char *
web_form_get(const struct web_form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, name) == 0)
			return f->v[i].value;
	return NULL;
}

const unsigned char *
web_form_get_raw(const struct web_form *f, const char *name, size_t *len)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, name) == 0) {
			*len = f->v[i].len != 0 ? f->v[i].len : strlen(f->v[i].value);
			return (const unsigned char *)f->v[i].value;
		}
	*len = 0;
	return NULL;
}

/* ---- multipart/form-data (RFC 7578) ---- */

/* The first n-byte needle in hay[0..hn), or NULL (memmem is a GNU extension). */
static const unsigned char *
form_find(const unsigned char *hay, size_t hn, const char *needle, size_t n)
{
	const unsigned char *p = hay, *end = hay + hn;

	while (n > 0 && (size_t)(end - p) >= n) {
		const unsigned char *c =
		    memchr(p, (unsigned char)needle[0], (size_t)(end - p) - n + 1);

		if (c == NULL)
			return NULL;
		if (memcmp(c, needle, n) == 0)
			return c;
		p = c + 1;
	}
	return NULL;
}

/* The boundary parameter of a multipart/form-data Content-Type into b (NUL-terminated). */
static int
form_boundary(const char *ctype, char *b, size_t bn, struct err *e)
{
	static const char mt[] = "multipart/form-data";
	const char *p;
	size_t n = 0;

	if (ctype == NULL || strncasecmp(ctype, mt, sizeof(mt) - 1) != 0) {
		err_set(e, ERR_REFUSED, "form: not multipart/form-data");
		return -1;
	}
	for (p = ctype + sizeof(mt) - 1; *p != '\0'; p++)
		if (strncasecmp(p, "boundary=", 9) == 0 && (p[-1] == ';' || p[-1] == ' '))
			break;
	if (*p == '\0') {
		err_set(e, ERR_REFUSED, "form: RFC 7578 4.1: no boundary");
		return -1;
	}
	p += 9;
	if (*p == '"') {
		p++;
		while (p[n] != '\0' && p[n] != '"')
			n++;
		if (p[n] != '"')
			n = 0;
	} else {
		n = strcspn(p, "; \t");
	}
	/* RFC 2046 5.1.1: 1-70 bchars (quoting aside, no blank at the end) */
	if (n == 0 || n > 70 || n + 1 > bn || p[n - 1] == ' ') {
		err_set(e, ERR_REFUSED, "form: RFC 2046 5.1.1: bad boundary");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      strchr("'()+_,-./:=? ", c) != NULL)) {
			err_set(e, ERR_REFUSED, "form: RFC 2046 5.1.1: bad boundary");
			return -1;
		}
	}
	memcpy(b, p, n);
	b[n] = '\0';
	return 0;
}

/*
 * The value of parameter key (name, filename) of a Content-Disposition header h[0..n): a
 * quoted string without escapes (browsers percent-encode quotes).  *v NULL when absent.
 */
static int
form_disp_param(const char *h, size_t n, const char *key, const char **v, size_t *vn)
{
	size_t kl = strlen(key);

	*v = NULL;
	*vn = 0;
	for (size_t i = 0; i + kl + 2 <= n; i++) {
		if ((h[i] == ';' || h[i] == ' ') && i + 1 + kl + 2 <= n &&
		    strncasecmp(h + i + 1, key, kl) == 0 && h[i + 1 + kl] == '=') {
			const char *q = h + i + 1 + kl + 1;
			const char *end = h + n, *close;

			if (q >= end || *q != '"')
				return -1;
			q++;
			if ((close = memchr(q, '"', (size_t)(end - q))) == NULL)
				return -1;
			*v = q;
			*vn = (size_t)(close - q);
			return 0;
		}
	}
	return 0;
}

/* Copies p[0..n) as a checked string (limits, controls, UTF-8) like form_decode(). */
static int
form_take(const unsigned char *p, size_t n, size_t max, const char *what, int ctl_ok, char **out,
	  struct err *e)
{
	char *d;

	*out = NULL;
	if (n > max) {
		err_set(e, ERR_REFUSED, "form: %s longer than %zu bytes", what, max);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c == 0x7f || (c < 0x20 && !(ctl_ok && (c == '\t' || c == '\r' || c == '\n')))) {
			err_set(e, ERR_REFUSED, "form: %s: control character 0x%02x", what, c);
			return -1;
		}
	}
	if (!utf8_valid(p, n)) {
		err_set(e, ERR_REFUSED, "form: %s is not UTF-8", what);
		return -1;
	}
	d = xmalloc(n + 1);
	memcpy(d, p, n);
	d[n] = '\0';
	*out = d;
	return 0;
}

#define FORM_PART_HEADERS_MAX 1024 /* bytes of one part's header block */

int
web_form_parse_multipart(const void *body, size_t len, const char *ctype, size_t body_max,
			 const char *big_name, size_t big_max, struct web_form *f, struct err *e)
{
	return web_form_parse_multipart_ex(body, len, ctype, body_max, big_name, big_max, 0, f, e);
}

int
web_form_parse_multipart_ex(const void *body, size_t len, const char *ctype, size_t body_max,
			    const char *big_name, size_t big_max, int raw, struct web_form *f,
			    struct err *e)
{
	const unsigned char *p = body, *end = p + len;
	char bnd[80], delim[84];
	size_t dl;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	if (len > body_max) {
		err_set(e, ERR_REFUSED, "form: body of %zu bytes exceeds %zu", len, body_max);
		goto out;
	}
	if (form_boundary(ctype, bnd, sizeof(bnd), e) == -1)
		goto out;
	dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", bnd);
	/* the body starts with the first delimiter (no preamble: browsers send none) */
	if (len < dl - 2 || memcmp(p, delim + 2, dl - 2) != 0) {
		err_set(e, ERR_REFUSED,
			"form: RFC 2046 5.1.1: body does not start with the boundary");
		goto out;
	}
	p += dl - 2;
	for (;;) {
		const unsigned char *hend, *next;
		const char *nm, *fn, *disp = NULL;
		size_t nml, fnl, displ = 0;
		char *name = NULL, *value = NULL;

		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			break; /* close delimiter; the epilogue is ignored */
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
			err_set(e, ERR_REFUSED, "form: RFC 2046 5.1.1: no CRLF after the boundary");
			goto out;
		}
		p += 2;
		hend = form_find(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (hend == NULL || hend - p > FORM_PART_HEADERS_MAX) {
			err_set(e, ERR_REFUSED, "form: part headers missing or over %d bytes",
				FORM_PART_HEADERS_MAX);
			goto out;
		}
		/* header lines: only Content-Disposition matters */
		for (const unsigned char *l = p; l < hend + 2;) {
			const unsigned char *le = form_find(l, (size_t)(hend + 2 - l), "\r\n", 2);
			size_t ll = (size_t)(le - l);

			for (size_t i = 0; i < ll; i++)
				if (l[i] < 0x20 && l[i] != '\t') {
					err_set(e, ERR_REFUSED,
						"form: control character in part header");
					goto out;
				}
			if (ll > 20 &&
			    strncasecmp((const char *)l, "Content-Disposition:", 20) == 0) {
				if (disp != NULL) {
					err_set(e, ERR_REFUSED,
						"form: repeated Content-Disposition");
					goto out;
				}
				disp = (const char *)l + 20;
				displ = ll - 20;
			}
			l = le + 2;
		}
		while (disp != NULL && displ > 0 && (*disp == ' ' || *disp == '\t'))
			disp++, displ--;
		if (disp == NULL || displ < 9 || strncasecmp(disp, "form-data", 9) != 0 ||
		    form_disp_param(disp, displ, "name", &nm, &nml) == -1 || nm == NULL ||
		    form_disp_param(disp, displ, "filename", &fn, &fnl) == -1) {
			err_set(e, ERR_REFUSED,
				"form: RFC 7578 4.2: part without Content-Disposition form-data "
				"and a name");
			goto out;
		}
		p = hend + 4;
		if ((next = form_find(p, (size_t)(end - p), delim, dl)) == NULL) {
			err_set(e, ERR_REFUSED,
				"form: RFC 2046 5.1.1: part not closed by the boundary");
			goto out;
		}
		if (f->n == WEB_FORM_FIELDS_MAX) {
			err_set(e, ERR_REFUSED, "form: more than %d fields", WEB_FORM_FIELDS_MAX);
			goto out;
		}
		if (form_take((const unsigned char *)nm, nml, WEB_FORM_NAME_MAX, "name", 0, &name,
			      e) == -1)
			goto out;
		if (name[0] == '\0' || web_form_get(f, name) != NULL) {
			err_set(e, ERR_REFUSED, "form: %s field name",
				name[0] == '\0' ? "empty" : "repeated");
			free(name);
			goto out;
		}
		if (raw && big_name != NULL && strcmp(name, big_name) == 0) {
			if ((size_t)(next - p) > big_max) {
				err_set(e, ERR_REFUSED, "form: file longer than %zu bytes",
					big_max);
				free(name);
				goto out;
			}
			value = xmalloc((size_t)(next - p) + 1);
			memcpy(value, p, (size_t)(next - p));
			value[next - p] = '\0';
			f->v[f->n].len = (size_t)(next - p);
		} else if (form_take(p, (size_t)(next - p),
				     fn != NULL || (big_name != NULL && strcmp(name, big_name) == 0)
					 ? big_max
					 : WEB_FORM_VALUE_MAX,
				     fn != NULL ? "file" : "value", 1, &value, e) == -1) {
			free(name);
			goto out;
		} else
			f->v[f->n].len = strlen(value);
		f->v[f->n].name = name;
		f->v[f->n].value = value;
		f->n++;
		p = next + dl;
	}
	rc = 0;
out:
	return rc;
}
