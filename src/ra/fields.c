/*
 * fields: the character rules of the holder's fields (names, OU, password, host names).  Pure
 * functions over untrusted, already UTF-8-validated strings (the form decoder refuses anything
 * else); unit tested.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ra.h"
#include "util/utf8.h"
#include "x509/x509.h"

static int
check_kanji_cp(long c)
{
	return (c >= 0x4e00 && c <= 0x9fff) ||	 /* CJK unified ideographs */
	       (c >= 0x3400 && c <= 0x4dbf) ||	 /* extension A */
	       (c >= 0x20000 && c <= 0x2fa1f) || /* extensions B.., compatibility supplement */
	       (c >= 0xf900 && c <= 0xfaff) ||	 /* compatibility ideographs */
	       (c >= 0x3041 && c <= 0x3096) ||	 /* hiragana */
	       (c >= 0x309d && c <= 0x309f) ||	 /* ゝゞゟ */
	       (c >= 0x30a1 && c <= 0x30fa) ||	 /* katakana */
	       (c >= 0x30fc && c <= 0x30ff) ||	 /* ーヽヾヿ */
	       c == 0x3005 || c == 0x3006 || c == 0x3007 || /* 々〆〇 */
	       (c >= 0xff21 && c <= 0xff3a) ||		    /* full-width A-Z */
	       (c >= 0xff41 && c <= 0xff5a) ||		    /* full-width a-z */
	       c == 0x3000;				    /* ideographic space */
}

int
ra_name_kanji_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, n = 0, blanks = 0;
	long c;

	while (i < len) {
		if ((c = utf8_next(p, len, &i)) == -1 || !check_kanji_cp(c))
			return 0;
		if (c == 0x3000)
			blanks++;
		if (++n > RA_NAME_MAX)
			return 0;
	}
	return n > 0 && blanks < n;
}

int
ra_name_romaji_ok(const char *s)
{
	size_t n = 0;
	int letter = 0, blank = 0, inner_dot = 0;

	for (; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
			letter = 1;
		else if (c == ' ')
			blank = 1;
		else if (c == '.')
			inner_dot |=
			    n > 0 && s[n - 1] != ' ' && s[n + 1] != '\0' && s[n + 1] != ' ';
		else if (c != '-' && c != '\'')
			return 0;
	}
	/* a name is not a host name: "www.example.jp" is refused, "J. R. Tolkien" is not */
	return letter && n <= RA_NAME_MAX && !(inner_dot && !blank);
}

int
ra_ou_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, n = 0;
	int seen = 0;
	long c;

	while (i < len) {
		if ((c = utf8_next(p, len, &i)) == -1 || utf8_is_control(c) || c == 0x2028 ||
		    c == 0x2029)
			return 0;
		if (c != ' ' && c != 0x3000)
			seen = 1;
		if (++n > RA_NAME_MAX)
			return 0;
	}
	return seen;
}

int
ra_password_ok(const char *s)
{
	long n = utf8_count((const unsigned char *)s, strlen(s));

	return n >= RA_PASSWORD_MIN && n <= RA_PASSWORD_MAX;
}

int
ra_hostnames_parse(const char *s, char **out, struct err *e)
{
	struct buf b;
	const char *p = s;
	size_t count = 0;
	int rc = -1;

	*out = NULL;
	buf_init(&b, (size_t)RA_HOSTS_MAX * 256 + 1);
	while (*p != '\0') {
		size_t len = strcspn(p, " \t\r\n,");
		char name[254];

		if (len == 0) {
			p++;
			continue;
		}
		if (len >= sizeof(name)) {
			err_set(e, ERR_REFUSED, "hostnames: a name is longer than 253 characters");
			goto out;
		}
		if (++count > RA_HOSTS_MAX) {
			err_set(e, ERR_REFUSED, "hostnames: more than %d names", RA_HOSTS_MAX);
			goto out;
		}
		for (size_t i = 0; i < len; i++)
			name[i] = (char)tolower((unsigned char)p[i]);
		name[len] = '\0';
		if (x509_dns_check(name, len, 1, "hostnames", e) == -1)
			goto out;
		if (b.len > 0) {
			/* no duplicates: compare against each name so far */
			const char *q = (const char *)b.data, *end = q + b.len;

			while (q < end) {
				size_t l = strcspn(q, " ");

				if (l > (size_t)(end - q))
					l = (size_t)(end - q);
				if (l == len && memcmp(q, name, len) == 0) {
					err_set(e, ERR_REFUSED, "hostnames: %s is given twice",
						name);
					goto out;
				}
				q += l + 1;
			}
		}
		if (buf_printf(&b, "%s%s", b.len > 0 ? " " : "", name) == -1)
			goto toolong;
		p += len;
	}
	if (count == 0) {
		err_set(e, ERR_REFUSED, "hostnames: no host name");
		goto out;
	}
	if (buf_cstr(&b) == NULL)
		goto toolong;
	*out = (char *)b.data;
	b.data = NULL;
	rc = 0;
	goto out;
toolong:
	err_set(e, ERR_REFUSED, "hostnames: too long");
out:
	buf_free(&b);
	return rc;
}
