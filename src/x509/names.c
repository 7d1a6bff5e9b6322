/*
 * names: subject attribute rules (UTF-8, string types, lengths), SAN syntax (DNS, IP, rfc822,
 * URI), the text forms stored in the database, serial numbers and times.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/utf8.h"
#include "x509.h"

#define X509_TEXT_MAX (1024 * 1024)

enum attr_kind {
	ATTR_DIR,	/* DirectoryString: UTF8String in what we issue */
	ATTR_PRINTABLE, /* PrintableString */
	ATTR_COUNTRY,	/* PrintableString, two upper-case letters */
	ATTR_IA5,	/* IA5String */
};

/* The subject attributes shomei issues, with their upper bounds (RFC 5280 Appendix A). */
static const struct attr_rule {
	int nid;
	enum attr_kind kind;
	long max; /* characters */
} attr_rules[] = {
    {NID_commonName, ATTR_DIR, 64},
    {NID_countryName, ATTR_COUNTRY, 2},
    {NID_localityName, ATTR_DIR, 128},
    {NID_stateOrProvinceName, ATTR_DIR, 128},
    {NID_streetAddress, ATTR_DIR, 128},
    {NID_organizationName, ATTR_DIR, 64},
    {NID_organizationalUnitName, ATTR_DIR, 64},
    {NID_title, ATTR_DIR, 64},
    {NID_surname, ATTR_DIR, 64},
    {NID_givenName, ATTR_DIR, 64},
    {NID_initials, ATTR_DIR, 64},
    {NID_generationQualifier, ATTR_DIR, 64},
    {NID_pseudonym, ATTR_DIR, 128},
    {NID_serialNumber, ATTR_PRINTABLE, 64},
    {NID_dnQualifier, ATTR_PRINTABLE, 64},
    {NID_postalCode, ATTR_DIR, 40},
    {NID_businessCategory, ATTR_DIR, 128},
    {NID_organizationIdentifier, ATTR_DIR, 64},
    {NID_jurisdictionCountryName, ATTR_COUNTRY, 2},
    {NID_jurisdictionStateOrProvinceName, ATTR_DIR, 128},
    {NID_jurisdictionLocalityName, ATTR_DIR, 128},
    {NID_userId, ATTR_DIR, 256},
    {NID_pkcs9_emailAddress, ATTR_IA5, 255},
    {NID_domainComponent, ATTR_IA5, 63},
};

static const struct attr_rule *
attr_rule_find(int nid)
{
	size_t i;

	if (nid == NID_undef)
		return NULL;
	for (i = 0; i < sizeof(attr_rules) / sizeof(attr_rules[0]); i++)
		if (attr_rules[i].nid == nid)
			return &attr_rules[i];
	return NULL;
}

static int
attr_kind_type(enum attr_kind k)
{
	switch (k) {
	case ATTR_DIR:
		return V_ASN1_UTF8STRING;
	case ATTR_PRINTABLE:
	case ATTR_COUNTRY:
		return V_ASN1_PRINTABLESTRING;
	case ATTR_IA5:
	default:
		return V_ASN1_IA5STRING;
	}
}

/* Short name of an attribute or extension OID, or its dotted form. */
static const char *
obj_name(const ASN1_OBJECT *obj, char *tmp, size_t n)
{
	int nid = OBJ_obj2nid(obj);

	if (nid != NID_undef)
		return OBJ_nid2sn(nid);
	if (OBJ_obj2txt(tmp, (int)n, obj, 1) <= 0)
		snprintf(tmp, n, "(bad OID)");
	return tmp;
}

static int
printable_char(long c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr(" '()+,-./:=?", (int)c) != NULL);
}

/* Bidirectional formatting characters that can make a name display as something else. */
static int
bidi_control(long c)
{
	return c == 0x061c || c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e) ||
	       (c >= 0x2066 && c <= 0x2069);
}

/* Checks a value (as UTF-8 bytes) against its attribute rule. */
static int
attr_value_check(const struct attr_rule *r, const char *name, const unsigned char *s, size_t len,
		 const char *who, struct err *e)
{
	size_t i = 0;
	long cp, n;

	if (len == 0)
		return err_set(e, ERR_REFUSED, "%s: %s: empty value", who, name);
	if ((n = utf8_count(s, len)) < 0)
		return err_set(e, ERR_REFUSED, "%s: %s: not valid UTF-8", who, name);
	while (i < len) {
		cp = utf8_next(s, len, &i);
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return err_set(e, ERR_REFUSED,
				       "%s: %s: control character U+%04lX not allowed", who, name,
				       cp);
		if (bidi_control(cp) || cp == 0xfffe || cp == 0xffff)
			return err_set(e, ERR_REFUSED, "%s: %s: character U+%04lX not allowed", who,
				       name, cp);
		if ((r->kind == ATTR_PRINTABLE || r->kind == ATTR_COUNTRY) && !printable_char(cp))
			return err_set(e, ERR_REFUSED,
				       "%s: %s: character not allowed in a PrintableString", who,
				       name);
		if (r->kind == ATTR_IA5 && cp >= 0x80)
			return err_set(e, ERR_REFUSED, "%s: %s: must be ASCII (IA5String)", who,
				       name);
	}
	if (r->kind == ATTR_COUNTRY &&
	    (len != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z'))
		return err_set(e, ERR_REFUSED,
			       "%s: %s must be two upper-case letters (ISO 3166-1 alpha-2)", who,
			       name);
	if (n > r->max)
		return err_set(e, ERR_REFUSED,
			       "%s: %s: longer than %ld characters (RFC 5280 Appendix A)", who,
			       name, r->max);
	return 0;
}

/* String types a CSR may use for an attribute value; anything else is refused. */
static int
input_string_type(int type)
{
	switch (type) {
	case V_ASN1_UTF8STRING:
	case V_ASN1_PRINTABLESTRING:
	case V_ASN1_T61STRING:
	case V_ASN1_IA5STRING:
	case V_ASN1_BMPSTRING:
	case V_ASN1_UNIVERSALSTRING:
	case V_ASN1_VISIBLESTRING:
	case V_ASN1_NUMERICSTRING:
		return 1;
	default:
		return 0;
	}
}

int
x509_name_reencode(const X509_NAME *in, X509_NAME **out, struct err *e)
{
	X509_NAME *n = NULL;
	const X509_NAME_ENTRY *ne;
	const ASN1_OBJECT *obj;
	const ASN1_STRING *data;
	const struct attr_rule *r;
	unsigned char *u = NULL;
	const char *name;
	char tmp[128];
	int i, ulen, set, prev = -1, rc = -1;

	*out = NULL;
	if ((n = X509_NAME_new()) == NULL) {
		err_ssl(e, ERR_INTERNAL, "subject: out of memory");
		goto out;
	}
	for (i = 0; in != NULL && i < X509_NAME_entry_count(in); i++) {
		ne = X509_NAME_get_entry(in, i);
		obj = X509_NAME_ENTRY_get_object(ne);
		data = X509_NAME_ENTRY_get_data(ne);
		name = obj_name(obj, tmp, sizeof(tmp));
		if ((r = attr_rule_find(OBJ_obj2nid(obj))) == NULL) {
			err_set(e, ERR_REFUSED, "subject: attribute %s is not accepted", name);
			goto out;
		}
		if (data == NULL || !input_string_type(ASN1_STRING_type(data))) {
			err_set(e, ERR_REFUSED, "subject: %s: not a character string", name);
			goto out;
		}
		if ((ulen = ASN1_STRING_to_UTF8(&u, data)) < 0) {
			ERR_clear_error();
			err_set(e, ERR_REFUSED, "subject: %s: not valid in its string type", name);
			goto out;
		}
		if (r->kind == ATTR_COUNTRY && ulen == 2) {
			/* "jp" -> "JP": the only normalisation we do */
			if (u[0] >= 'a' && u[0] <= 'z')
				u[0] = (unsigned char)(u[0] - 'a' + 'A');
			if (u[1] >= 'a' && u[1] <= 'z')
				u[1] = (unsigned char)(u[1] - 'a' + 'A');
		}
		if (attr_value_check(r, name, u, (size_t)ulen, "subject", e) == -1)
			goto out;
		set = X509_NAME_ENTRY_set(ne);
		if (!X509_NAME_add_entry_by_OBJ(n, obj, attr_kind_type(r->kind), u, ulen, -1,
						(i > 0 && set == prev) ? -1 : 0)) {
			err_ssl(e, ERR_INTERNAL, "subject: cannot add %s", name);
			goto out;
		}
		prev = set;
		OPENSSL_free(u);
		u = NULL;
	}
	*out = n;
	n = NULL;
	rc = 0;
out:
	OPENSSL_free(u);
	X509_NAME_free(n);
	return rc;
}

int
x509_name_entry_check(const X509_NAME_ENTRY *ne, const char *who, struct err *e)
{
	const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(ne);
	const ASN1_STRING *data = X509_NAME_ENTRY_get_data(ne);
	const struct attr_rule *r;
	const char *name;
	char tmp[128];
	int want;

	name = obj_name(obj, tmp, sizeof(tmp));
	if ((r = attr_rule_find(OBJ_obj2nid(obj))) == NULL)
		return err_set(e, ERR_REFUSED, "%s: attribute %s is not accepted", who, name);
	want = attr_kind_type(r->kind);
	if (data == NULL || ASN1_STRING_type(data) != want)
		return err_set(e, ERR_REFUSED, "%s: %s must be a %s", who, name,
			       ASN1_tag2str(want));
	return attr_value_check(r, name, ASN1_STRING_get0_data(data),
				(size_t)ASN1_STRING_length(data), who, e);
}

void
x509_name_officer_count(const X509_NAME *n, int *exact, int *similar)
{
	static const char marker[] = X509_OFFICER_MARKER_VALUE;
	const X509_NAME_ENTRY *ne;
	unsigned char *u = NULL;
	size_t a, b;
	int i, ulen;

	*exact = *similar = 0;
	for (i = 0; n != NULL && i < X509_NAME_entry_count(n); i++) {
		ne = X509_NAME_get_entry(n, i);
		if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne)) != X509_OFFICER_MARKER_NID)
			continue;
		if ((ulen = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(ne))) < 0) {
			ERR_clear_error();
			continue;
		}
		if ((size_t)ulen == sizeof(marker) - 1 && memcmp(u, marker, (size_t)ulen) == 0)
			(*exact)++;
		a = 0;
		b = (size_t)ulen;
		while (a < b && (u[a] == ' ' || u[a] == '\t'))
			a++;
		while (b > a && (u[b - 1] == ' ' || u[b - 1] == '\t'))
			b--;
		if (b - a == sizeof(marker) - 1 &&
		    OPENSSL_strncasecmp((const char *)u + a, marker, b - a) == 0)
			(*similar)++;
		OPENSSL_free(u);
		u = NULL;
	}
}

/* ---- SAN syntax ---- */

static int
ldh_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

int
x509_dns_check(const char *s, size_t len, int allow_wildcard, const char *who, struct err *e)
{
	char q[300];
	size_t i, start = 0, lab, label_start;
	int digits_only = 1;

	log_escape(q, sizeof(q), s, len);
	if (len == 0)
		return err_set(e, ERR_REFUSED, "%s: RFC 5280 4.2.1.6: bad DNS name \"\"", who);
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return err_set(e, ERR_REFUSED,
				       "%s: RFC 5280 7.2: DNS name \"%s\" is not ASCII (write IDNs "
				       "as xn-- A-labels)",
				       who, q);
		if (s[i] == '\0')
			return err_set(e, ERR_REFUSED, "%s: RFC 5280 4.2.1.6: bad DNS name \"%s\"",
				       who, q);
	}
	if (len > 253)
		return err_set(e, ERR_REFUSED,
			       "%s: RFC 1035 2.3.4: DNS name longer than 253 octets: \"%.80s...\"",
			       who, q);
	if (memchr(s, '*', len) != NULL) {
		if (!allow_wildcard)
			return err_set(e, ERR_REFUSED, "%s: wildcard not allowed here: \"%s\"", who,
				       q);
		if (len == 1)
			return err_set(e, ERR_REFUSED, "%s: wildcard \"*\" alone is not allowed",
				       who);
		if (len < 3 || s[0] != '*' || s[1] != '.' || memchr(s + 1, '*', len - 1) != NULL)
			return err_set(e, ERR_REFUSED,
				       "%s: wildcard must be the whole left-most label: \"%s\"",
				       who, q);
		if (memchr(s + 2, '.', len - 2) == NULL)
			return err_set(e, ERR_REFUSED,
				       "%s: wildcard on a single-label name is not allowed: \"%s\"",
				       who, q);
		start = 2;
	}
	label_start = start;
	for (i = start; i <= len; i++) {
		if (i < len && s[i] != '.') {
			if (!ldh_char((unsigned char)s[i]))
				return err_set(e, ERR_REFUSED,
					       "%s: RFC 5280 4.2.1.6: bad DNS name \"%s\"", who, q);
			continue;
		}
		lab = i - label_start;
		if (lab == 0 || s[label_start] == '-' || s[i - 1] == '-')
			return err_set(e, ERR_REFUSED, "%s: RFC 5280 4.2.1.6: bad DNS name \"%s\"",
				       who, q);
		if (lab > 63)
			return err_set(
			    e, ERR_REFUSED,
			    "%s: RFC 1035 2.3.4: DNS label longer than 63 octets in \"%s\"", who,
			    q);
		if (i == len) {
			for (digits_only = 1; label_start < i; label_start++)
				if (s[label_start] < '0' || s[label_start] > '9')
					digits_only = 0;
		}
		label_start = i + 1;
	}
	if (digits_only)
		return err_set(
		    e, ERR_REFUSED,
		    "%s: DNS name \"%s\" looks like an IP address (use an iPAddress SAN)", who, q);
	return 0;
}

int
x509_dns_name_check(const char *s, size_t len, int allow_wildcard, struct err *e)
{
	return x509_dns_check(s, len, allow_wildcard, "lint", e);
}

static int
email_local_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>[]:;@\\,\"", c) == NULL;
}

/* rfc822Name: local@domain, ASCII dot-atom local part, a valid DNS domain (RFC 5280 4.2.1.6). */
static int
email_check(const char *s, size_t len, const char *who, struct err *e)
{
	struct err scratch;
	const char *at;
	char q[300];
	size_t i, local;
	int ok = 1;

	log_escape(q, sizeof(q), s, len);
	if ((at = memchr(s, '@', len)) == NULL)
		ok = 0;
	local = at != NULL ? (size_t)(at - s) : 0;
	if (ok && (local == 0 || local > 64 || s[0] == '.' || s[local - 1] == '.'))
		ok = 0;
	for (i = 0; ok && i < local; i++)
		if (!email_local_char((unsigned char)s[i]) || (s[i] == '.' && s[i + 1] == '.'))
			ok = 0;
	err_clear(&scratch);
	if (ok && x509_dns_check(at + 1, len - local - 1, 0, who, &scratch) == -1)
		ok = 0;
	if (!ok)
		return err_set(e, ERR_REFUSED, "%s: RFC 5280 4.2.1.6: bad rfc822Name \"%s\"", who,
			       q);
	return 0;
}

/* URI: ASCII, a scheme (RFC 3986 3.1) and a non-empty rest (RFC 5280 4.2.1.6). */
static int
uri_check(const char *s, size_t len, const char *who, struct err *e)
{
	char q[300];
	size_t i;
	int ok = len >= 3;

	log_escape(q, sizeof(q), s, len);
	for (i = 0; ok && i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			ok = 0;
	if (ok && !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		ok = 0;
	for (i = 1; ok && i < len && s[i] != ':'; i++)
		if (!(ldh_char((unsigned char)s[i]) || s[i] == '+' || s[i] == '.'))
			ok = 0;
	if (ok && (i >= len - 1 || s[i] != ':'))
		ok = 0;
	if (!ok)
		return err_set(e, ERR_REFUSED, "%s: RFC 5280 4.2.1.6: bad URI \"%s\"", who, q);
	return 0;
}

int
x509_sans_check(const GENERAL_NAMES *sans, const char *who, struct err *e)
{
	const GENERAL_NAME *gn;
	const ASN1_STRING *s;
	int i, rc = 0;

	for (i = 0; sans != NULL && rc == 0 && i < sk_GENERAL_NAME_num(sans); i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		switch (gn->type) {
		case GEN_DNS:
			s = gn->d.dNSName;
			rc = x509_dns_check((const char *)ASN1_STRING_get0_data(s),
					    (size_t)ASN1_STRING_length(s), 1, who, e);
			break;
		case GEN_IPADD:
			s = gn->d.iPAddress;
			if (ASN1_STRING_length(s) != 4 && ASN1_STRING_length(s) != 16)
				rc = err_set(e, ERR_REFUSED,
					     "%s: RFC 5280 4.2.1.6: iPAddress must be 4 or 16 "
					     "octets, not %d",
					     who, ASN1_STRING_length(s));
			break;
		case GEN_EMAIL:
			s = gn->d.rfc822Name;
			rc = email_check((const char *)ASN1_STRING_get0_data(s),
					 (size_t)ASN1_STRING_length(s), who, e);
			break;
		case GEN_URI:
			s = gn->d.uniformResourceIdentifier;
			rc = uri_check((const char *)ASN1_STRING_get0_data(s),
				       (size_t)ASN1_STRING_length(s), who, e);
			break;
		default:
			/* other kinds: whether they are allowed is the profile's business */
			break;
		}
	}
	return rc;
}

/* ---- text forms ---- */

char *
x509_name_text(const X509_NAME *n)
{
	BIO *bio = NULL;
	char *p = NULL, *text = NULL;
	long len;

	if (n == NULL)
		goto out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	if (X509_NAME_print_ex(bio, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
		goto out;
	if ((len = BIO_get_mem_data(bio, &p)) < 0)
		goto out;
	text = xstrndup(len > 0 ? p : "", (size_t)len);
out:
	BIO_free(bio);
	ERR_clear_error();
	return text;
}

/* Appends untrusted bytes with anything unprintable, '\\' and ',' as \xNN. */
static void
text_append_escaped(struct buf *b, const unsigned char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\' && s[i] != ',')
			buf_putc(b, s[i]);
		else
			buf_printf(b, "\\x%02x", s[i]);
	}
}

char *
x509_sans_text(const GENERAL_NAMES *sans)
{
	const GENERAL_NAME *gn;
	const ASN1_STRING *s;
	struct buf b;
	char ip[INET6_ADDRSTRLEN], tmp[128], *sub, *text = NULL;
	int i;

	buf_init(&b, X509_TEXT_MAX);
	if (sans == NULL || sk_GENERAL_NAME_num(sans) <= 0)
		goto out;
	for (i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (i > 0)
			buf_printf(&b, ", ");
		switch (gn->type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			s = gn->d.ia5;
			buf_printf(&b, "%s:",
				   gn->type == GEN_DNS	   ? "DNS"
				   : gn->type == GEN_EMAIL ? "email"
							   : "URI");
			text_append_escaped(&b, ASN1_STRING_get0_data(s),
					    (size_t)ASN1_STRING_length(s));
			break;
		case GEN_IPADD:
			s = gn->d.iPAddress;
			if (ASN1_STRING_length(s) == 4 &&
			    inet_ntop(AF_INET, ASN1_STRING_get0_data(s), ip, sizeof(ip)) != NULL)
				buf_printf(&b, "IP:%s", ip);
			else if (ASN1_STRING_length(s) == 16 &&
				 inet_ntop(AF_INET6, ASN1_STRING_get0_data(s), ip, sizeof(ip)) !=
				     NULL)
				buf_printf(&b, "IP:%s", ip);
			else
				buf_printf(&b, "IP:<invalid>");
			break;
		case GEN_DIRNAME:
			sub = x509_name_text(gn->d.directoryName);
			buf_printf(&b, "DirName:");
			if (sub != NULL)
				text_append_escaped(&b, (const unsigned char *)sub, strlen(sub));
			free(sub);
			break;
		case GEN_RID:
			buf_printf(&b, "RID:%s", obj_name(gn->d.registeredID, tmp, sizeof(tmp)));
			break;
		case GEN_OTHERNAME:
			buf_printf(&b, "othername:%s",
				   obj_name(gn->d.otherName->type_id, tmp, sizeof(tmp)));
			break;
		default:
			buf_printf(&b, "<unsupported>");
			break;
		}
	}
	if (buf_cstr(&b) != NULL)
		text = xstrndup((const char *)b.data, b.len);
out:
	buf_free(&b);
	return text;
}

int
x509_serial_hex(const ASN1_INTEGER *a, char *dst, size_t dstlen)
{
	const unsigned char *p;
	size_t len;
	int rc = -1;

	if (a == NULL || dstlen < 3 || ASN1_STRING_type(a) == V_ASN1_NEG_INTEGER)
		goto out;
	p = ASN1_STRING_get0_data(a);
	len = (size_t)ASN1_STRING_length(a);
	while (len > 1 && p[0] == 0) {
		p++;
		len--;
	}
	if (len == 0) {
		memcpy(dst, "00", 3);
	} else {
		if (2 * len + 1 > dstlen)
			goto out;
		hex_encode(dst, p, len);
	}
	rc = 0;
out:
	return rc;
}

void
x509_serial_new(unsigned char serial[20], size_t *len)
{
	memset(serial, 0, 20);
	do {
		util_random(serial, 16);
		serial[0] &= 0x7f;
	} while (serial[0] == 0);
	*len = 16;
}

int
x509_time_to_epoch(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) {
		ERR_clear_error();
		return -1;
	}
	*out = timegm(&tm);
	return 0;
}

time_t
x509_not_after(time_t not_before, long days)
{
	return not_before + (time_t)days * 86400 - 1;
}
