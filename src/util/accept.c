/* accept: the Accept header (see accept.h). */
#include <string.h>
#include <strings.h>

#include "util/accept.h"

/* RFC 9110 5.6.2 tchar */
static int
accept_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *
accept_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A token at p: its length (0 when there is none). */
static size_t
accept_token(const char *p)
{
	size_t n = 0;

	while (accept_tchar((unsigned char)p[n]))
		n++;
	return n;
}

/* A quoted-string at p (which is '"'): its length with both quotes, 0 when unterminated. */
static size_t
accept_quoted(const char *p)
{
	size_t n = 1;

	for (;;) {
		unsigned char c = (unsigned char)p[n];

		if (c == '"')
			return n + 1;
		if (c == '\\') {
			c = (unsigned char)p[n + 1];
			if (c == '\0' || (c < 0x20 && c != '\t') || c == 0x7f)
				return 0;
			n += 2;
			continue;
		}
		if (c == '\0' || (c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
		n++;
	}
}

int
accept_qvalue(const char *v, size_t n)
{
	int q, scale = 100;

	if (n == 0 || (v[0] != '0' && v[0] != '1') || (n > 1 && v[1] != '.') || n > 5)
		return -1;
	q = (v[0] - '0') * ACCEPT_Q_ONE;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (v[i] < '0' || v[i] > '9' || (v[0] == '1' && v[i] != '0'))
			return -1;
		q += (v[i] - '0') * scale;
	}
	return q;
}

/* Parses one element at p into r; the end of what was parsed, or NULL when malformed. */
static const char *
accept_range_parse(const char *p, struct accept_range *r)
{
	size_t n, vn;
	int seen_q = 0;

	r->q = ACCEPT_Q_ONE;
	r->type = p;
	if ((r->type_len = accept_token(p)) == 0 || p[r->type_len] != '/')
		return NULL;
	p += r->type_len + 1;
	r->subtype = p;
	if ((r->subtype_len = accept_token(p)) == 0)
		return NULL;
	p += r->subtype_len;
	if (r->type_len == 1 && r->type[0] == '*' && !(r->subtype_len == 1 && r->subtype[0] == '*'))
		return NULL;
	for (;;) {
		const char *name, *val;

		p = accept_ows(p);
		if (*p == ',' || *p == '\0')
			return p;
		if (*p != ';')
			return NULL;
		p = accept_ows(p + 1);
		if (*p == ';' || *p == ',' || *p == '\0')
			continue; /* an empty parameter */
		name = p;
		if ((n = accept_token(p)) == 0 || p[n] != '=')
			return NULL;
		val = p + n + 1;
		if (*val == '"') {
			if ((vn = accept_quoted(val)) == 0)
				return NULL;
		} else if ((vn = accept_token(val)) == 0) {
			return NULL;
		}
		p = val + vn;
		if (!seen_q && n == 1 && (name[0] == 'q' || name[0] == 'Q')) {
			if (*val == '"' || (r->q = accept_qvalue(val, vn)) < 0)
				return NULL;
			seen_q = 1;
		}
	}
}

/* Past the element at p: to its ',' (outside quoted strings) or the end. */
static const char *
accept_skip(const char *p)
{
	while (*p != '\0' && *p != ',') {
		if (*p == '"') {
			size_t n = accept_quoted(p);

			if (n == 0)
				return p + strlen(p);
			p += n;
		} else {
			p++;
		}
	}
	return p;
}

int
accept_next(const char **pp, struct accept_range *r)
{
	const char *p = *pp, *end;

	for (;;) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0') {
			*pp = p;
			return 0;
		}
		if ((end = accept_range_parse(p, r)) != NULL) {
			*pp = end;
			return 1;
		}
		p = accept_skip(p);
	}
}

/* How specifically r matches mt: 3 exact, 2 type/ *, 1 * / *, 0 not at all. */
static int
accept_match(const struct accept_range *r, const char *mt)
{
	const char *slash = strchr(mt, '/');
	size_t tl;

	if (slash == NULL)
		return 0;
	tl = (size_t)(slash - mt);
	if (r->type_len == 1 && r->type[0] == '*')
		return 1;
	if (r->type_len != tl || strncasecmp(r->type, mt, tl) != 0)
		return 0;
	if (r->subtype_len == 1 && r->subtype[0] == '*')
		return 2;
	if (r->subtype_len != strlen(slash + 1) ||
	    strncasecmp(r->subtype, slash + 1, r->subtype_len) != 0)
		return 0;
	return 3;
}

int
accept_quality(const char *accept, const char *mt)
{
	struct accept_range r;
	const char *p = accept;
	int best = 0, q = -1, m;

	if (accept == NULL || *accept_ows(accept) == '\0')
		return ACCEPT_Q_ONE;
	while (accept_next(&p, &r)) {
		if ((m = accept_match(&r, mt)) == 0 || m < best)
			continue;
		if (m > best || r.q > q)
			q = r.q;
		best = m;
	}
	return q;
}

int
accept_pick(const char *accept, const char *const *offered, size_t n)
{
	int best = -1, bestq = 0, q;

	for (size_t i = 0; i < n; i++)
		if ((q = accept_quality(accept, offered[i])) > bestq) {
			best = (int)i;
			bestq = q;
		}
	return best;
}
