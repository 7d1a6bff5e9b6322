/* utf8: RFC 3629 decoding (see utf8.h). */
#include "util/utf8.h"

long
utf8_next(const unsigned char *s, size_t n, size_t *i)
{
	const unsigned char *p = s + *i;
	size_t left = n - *i, need, k;
	long cp, min;

	if (p[0] < 0x80) {
		(*i)++;
		return p[0];
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		need = 1, cp = p[0] & 0x1f, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 2, cp = p[0] & 0x0f, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 3, cp = p[0] & 0x07, min = 0x10000;
	} else {
		return -1; /* a continuation byte, C0/C1 (always overlong), F5-FF */
	}
	if (left <= need)
		return -1;
	for (k = 1; k <= need; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += need + 1;
	return cp;
}

long
utf8_count(const unsigned char *s, size_t n)
{
	size_t i = 0;
	long count = 0;

	while (i < n) {
		if (utf8_next(s, n, &i) < 0)
			return -1;
		count++;
	}
	return count;
}

int
utf8_valid(const unsigned char *s, size_t n)
{
	return utf8_count(s, n) >= 0;
}

int
utf8_is_control(long cp)
{
	return (cp >= 0 && cp < 0x20) || (cp >= 0x7f && cp <= 0x9f);
}
