/*
 * compose: RFC 5322 messages with UTF-8 MIME bodies (RFC 2045 base64 or quoted-printable) and
 * RFC 2047 encoded-word subjects and display names.  Every header value is checked before it
 * is written: CR, LF and other control characters are refused, so no caller can inject a
 * header, and addresses must pass a strict grammar.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mail/mail.h"
#include "util/b64.h"
#include "util/timefmt.h"
#include "util/utf8.h"

/* Raw bytes per encoded-word: 39 -> 52 base64 characters -> a 64-character word, so
 * "Subject: " + word stays at 73 octets and a folded line " " + word at 65. */
#define MAIL_EW_RAW 39

/*
 * Checks UTF-8 text: well-formed, no NUL/DEL/C0/C1 controls.  With body set, TAB, LF and CR
 * directly before LF are allowed.  Returns 0 or -1 with a message naming what.
 */
static int
text_check(const char *what, const char *s, size_t max, int body, struct err *e)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, i, j, k;
	long cp;
	int rc = -1;

	if (s == NULL) {
		err_set(e, ERR_REFUSED, "mail: %s is missing", what);
		goto out;
	}
	n = strlen(s);
	if (n > max) {
		err_set(e, ERR_REFUSED, "mail: %s is longer than %zu bytes", what, max);
		goto out;
	}
	for (i = 0; i < n; i += k) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			if (body && (p[i] == '\t' || p[i] == '\n' ||
				     (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n'))) {
				k = 1;
				continue;
			}
			err_set(
			    e, ERR_REFUSED,
			    "mail: %s: control character 0x%02x refused (RFC 5322 2.2: no header "
			    "injection)",
			    what, p[i]);
			goto out;
		}
		j = i;
		if ((cp = utf8_next(p, n, &j)) < 0 || utf8_is_control(cp)) {
			err_set(e, ERR_REFUSED,
				"mail: %s is not UTF-8 (RFC 3629) or holds a "
				"control character",
				what);
			goto out;
		}
		k = j - i;
	}
	rc = 0;
out:
	return rc;
}

/* atext of RFC 5322 3.2.3, the characters of a dot-atom other than '.' */
static int
addr_atext(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

int
mail_addr_valid(const char *a)
{
	const char *at, *p, *label;
	size_t n, labels = 0;

	if (a == NULL || (n = strlen(a)) == 0 || n > MAIL_ADDR_MAX)
		return 0;
	if ((at = strchr(a, '@')) == NULL || strchr(at + 1, '@') != NULL)
		return 0;
	/* local part: dot-atom, at most 64 octets (RFC 5321 4.5.3.1.1) */
	if (at == a || at - a > 64 || a[0] == '.' || at[-1] == '.')
		return 0;
	for (p = a; p < at; p++) {
		if (*p == '.' && p[1] == '.')
			return 0;
		if (*p != '.' && !addr_atext((unsigned char)*p))
			return 0;
	}
	/* domain: LDH labels of 1..63, no leading or trailing hyphen, at least two labels */
	label = at + 1;
	for (p = label;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == label || p - label > 63 || *label == '-' || p[-1] == '-')
				return 0;
			labels++;
			if (*p == '\0')
				break;
			label = p + 1;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return 0;
	}
	return labels >= 2;
}

/*
 * Writes "name: " and text as RFC 2047 B encoded-words, folded with CRLF SP so that no line
 * exceeds 78 octets; words never split a UTF-8 character (RFC 2047 5).  No final CRLF.
 */
static int
hdr_words(struct buf *out, const char *name, const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t n = strlen(text), k;
	int first = 1;

	if (buf_printf(out, "%s:", name) == -1)
		return -1;
	if (n == 0)
		return buf_append(out, " ", 1);
	while (n > 0) {
		k = n > MAIL_EW_RAW ? MAIL_EW_RAW : n;
		/* back off to a character boundary */
		while (k < n && k > 0 && (p[k] & 0xc0) == 0x80)
			k--;
		if (buf_printf(out, "%s=?UTF-8?B?", first ? " " : "\r\n ") == -1 ||
		    b64_encode(out, p, k) == -1 || buf_append(out, "?=", 2) == -1)
			return -1;
		first = 0;
		p += k;
		n -= k;
	}
	return 0;
}

/* The subject header: plain when short printable ASCII, else encoded-words. */
static int
hdr_subject(struct buf *out, const char *subj)
{
	size_t i, n = strlen(subj);
	int plain = n + 9 <= 78 && strstr(subj, "=?") == NULL;

	for (i = 0; plain && i < n; i++)
		if ((unsigned char)subj[i] >= 0x7f)
			plain = 0;
	if (plain)
		return buf_printf(out, "Subject: %s\r\n", subj);
	if (hdr_words(out, "Subject", subj) == -1)
		return -1;
	return buf_append(out, "\r\n", 2);
}

/* RFC 5322 3.3 date-time in UTC, independent of the locale. */
static int
hdr_date(struct buf *out, time_t t)
{
	char d[TIMEFMT_RFC5322_LEN];

	if (timefmt_rfc5322(t, d, sizeof(d)) == -1)
		return -1;
	return buf_printf(out, "Date: %s\r\n", d);
}

/* The body with CRLF line ends and a final CRLF, into canon. */
static int
body_canon(const char *body, struct buf *canon)
{
	const char *p;

	for (p = body; *p != '\0'; p++) {
		if (*p == '\r')
			continue; /* text_check allowed CR only before LF */
		if (*p == '\n' ? buf_append(canon, "\r\n", 2) : buf_putc(canon, *p))
			return -1;
	}
	if (canon->len < 2 || memcmp(canon->data + canon->len - 2, "\r\n", 2) != 0)
		return buf_append(canon, "\r\n", 2);
	return 0;
}

/* RFC 2045 6.8: base64 lines of 76 characters. */
static int
body_base64(struct buf *out, const struct buf *canon)
{
	size_t off, k;

	for (off = 0; off < canon->len; off += k) {
		k = canon->len - off > 57 ? 57 : canon->len - off;
		if (b64_encode(out, canon->data + off, k) == -1 || buf_append(out, "\r\n", 2) == -1)
			return -1;
	}
	return 0;
}

/* RFC 2045 6.7: quoted-printable, lines of at most 76 characters with soft breaks. */
static int
body_qp(struct buf *out, const struct buf *canon)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = canon->data;
	size_t i, col = 0, n = canon->len;
	char tok[4];
	size_t tl;

	for (i = 0; i < n; i++) {
		unsigned c = p[i];

		if (c == '\r' && i + 1 < n && p[i + 1] == '\n') {
			if (buf_append(out, "\r\n", 2) == -1)
				return -1;
			i++;
			col = 0;
			continue;
		}
		/* literal unless it must be encoded: '=', non-ASCII, controls, and blanks at
		 * the end of a line (rule 3) */
		if ((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !(i + 1 < n && p[i + 1] == '\r'))) {
			tok[0] = (char)c;
			tl = 1;
		} else {
			tok[0] = '=';
			tok[1] = hex[c >> 4];
			tok[2] = hex[c & 15];
			tl = 3;
		}
		if (col + tl > 75) {
			if (buf_append(out, "=\r\n", 3) == -1)
				return -1;
			col = 0;
		}
		if (buf_append(out, tok, tl) == -1)
			return -1;
		col += tl;
	}
	return 0;
}

int
mail_compose(const struct mail_msg *m, struct buf *out, struct err *e)
{
	struct buf canon;
	const char *dom;
	unsigned char rnd[16];
	char rhex[33];
	int rc = -1;

	buf_init(&canon, MAIL_BODY_MAX * 2 + 4);
	if (!mail_addr_valid(m->from) || !mail_addr_valid(m->to)) {
		char esc[128];
		const char *bad = mail_addr_valid(m->from) ? m->to : m->from;

		err_set(e, ERR_REFUSED,
			"mail: address \"%s\" is not local@domain (RFC 5322 3.4.1 dot-atom)",
			bad != NULL ? log_escape(esc, sizeof(esc), bad, strlen(bad)) : "(none)");
		goto out;
	}
	dom = m->msgid_domain != NULL ? m->msgid_domain : strchr(m->from, '@') + 1;
	if (m->msgid_domain != NULL) {
		char tmp[300];

		/* the domain of from passed the grammar; a configured one must pass it too */
		if (strlen(dom) > 250 || snprintf(tmp, sizeof(tmp), "x@%s", dom) < 0 ||
		    !mail_addr_valid(tmp)) {
			err_set(e, ERR_REFUSED, "mail: Message-ID domain is not a DNS name");
			goto out;
		}
	}
	if (text_check("subject", m->subject, MAIL_SUBJECT_MAX, 0, e) == -1 ||
	    (m->from_name != NULL && text_check("sender name", m->from_name, 256, 0, e) == -1) ||
	    text_check("body", m->body, MAIL_BODY_MAX, 1, e) == -1)
		goto out;
	if (body_canon(m->body, &canon) == -1)
		goto full;

	util_random(rnd, sizeof(rnd));
	hex_encode(rhex, rnd, sizeof(rhex) / 2);
	if (hdr_date(out, util_now()) == -1)
		goto full;
	if (m->from_name != NULL && *m->from_name != '\0') {
		if (hdr_words(out, "From", m->from_name) == -1 ||
		    buf_printf(out, "\r\n <%s>\r\n", m->from) == -1)
			goto full;
	} else if (buf_printf(out, "From: %s\r\n", m->from) == -1) {
		goto full;
	}
	if (buf_printf(out, "To: %s\r\n", m->to) == -1 || hdr_subject(out, m->subject) == -1 ||
	    buf_printf(out, "Message-ID: <%s@%s>\r\n", rhex, dom) == -1 ||
	    buf_printf(out,
		       "MIME-Version: 1.0\r\n"
		       "Content-Type: text/plain; charset=UTF-8\r\n"
		       "Content-Transfer-Encoding: %s\r\n"
		       "Auto-Submitted: auto-generated\r\n\r\n",
		       m->cte == MAIL_CTE_QP ? "quoted-printable" : "base64") == -1)
		goto full;
	if ((m->cte == MAIL_CTE_QP ? body_qp(out, &canon) : body_base64(out, &canon)) == -1)
		goto full;
	rc = 0;
	goto out;
full:
	err_set(e, ERR_REFUSED, "mail: message larger than its buffer allows");
out:
	buf_free(&canon);
	return rc;
}
