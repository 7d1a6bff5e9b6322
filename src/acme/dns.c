/*
 * dns: ACME validation's DNS client (see dns.h).  A query is one question with RD set and no
 * EDNS (so answers above 512 bytes come truncated and are asked again over TCP); its id is
 * random, the UDP socket is connected to the resolver (the kernel drops datagrams from
 * anyone else), and an answer whose id or question differs is ignored and waited past.  Every
 * wait is a poll() bounded by the caller's deadline.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>

#include "acme/dns.h"

#define DNS_HDR 12
#define DNS_UDP_MAX 512
#define DNS_TCP_MAX 65535
#define DNS_RETRY_MS 2000 /* a UDP query is sent again after this long without an answer */
#define DNS_JUMPS_MAX 64  /* compression pointers followed in one name */

int64_t
acme_dns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint16_t
dns_u16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * The name at off of msg as lower-case text (no trailing dot; "" for the root) into out
 * (ACME_DNS_NAME_TEXT); *next the offset after it where it sits (not where pointers led).
 * Pointers must lead backwards (so no loop), at most DNS_JUMPS_MAX; labels of the letters,
 * digits, '-', '_' and '*' only.  0, or -1.
 */
static int
dns_name(const unsigned char *msg, size_t len, size_t off, char *out, size_t *next)
{
	size_t o = off, w = 0, lim = off;
	int jumps = 0, jumped = 0;

	for (;;) {
		if (o >= len)
			return -1;
		unsigned char l = msg[o];

		if ((l & 0xc0) == 0xc0) {
			size_t to;

			if (o + 1 >= len || ++jumps > DNS_JUMPS_MAX)
				return -1;
			to = (size_t)(l & 0x3f) << 8 | msg[o + 1];
			if (!jumped)
				*next = o + 2;
			jumped = 1;
			if (to >= lim) /* only backwards: no loop */
				return -1;
			lim = to;
			o = to;
			continue;
		}
		if ((l & 0xc0) != 0)
			return -1;
		if (l == 0) {
			if (!jumped)
				*next = o + 1;
			break;
		}
		if (o + 1 + l > len || w + l + 2 > ACME_DNS_NAME_TEXT)
			return -1;
		if (w > 0)
			out[w++] = '.';
		for (size_t i = 0; i < l; i++) {
			unsigned char c = msg[o + 1 + i];

			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c + 32);
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			      c == '_' || c == '*'))
				return -1;
			out[w++] = (char)c;
		}
		o += 1 + l;
	}
	out[w] = '\0';
	return 0;
}

/* 1 when the names a and b (text) are equal, case-insensitively, a trailing dot ignored. */
static int
dns_name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	if (la != lb)
		return 0;
	for (size_t i = 0; i < la; i++) {
		char x = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] + 32) : a[i];
		char y = b[i] >= 'A' && b[i] <= 'Z' ? (char)(b[i] + 32) : b[i];

		if (x != y)
			return 0;
	}
	return 1;
}

/* One answer record as acme_dns_parse first reads it. */
struct dns_an {
	char owner[ACME_DNS_NAME_TEXT];
	uint16_t type, class;
	size_t rd, rdlen; /* offset and length of its data in the message */
};

/* The header and the question of msg; *off after the question.  0, or -1. */
static int
dns_parse_head(const unsigned char *msg, size_t len, uint16_t id, const char *qname, uint16_t qtype,
	       struct acme_dns_res *out, size_t *off, struct err *e)
{
	char q[ACME_DNS_NAME_TEXT];
	uint16_t flags;

	if (len < DNS_HDR)
		return err_set(e, ERR_REFUSED,
			       "dns: RFC 1035 4.1.1: an answer shorter than its "
			       "header");
	flags = dns_u16(msg + 2);
	if (dns_u16(msg) != id || !(flags & 0x8000) || ((flags >> 11) & 0xf) != 0)
		return err_set(e, ERR_REFUSED,
			       "dns: RFC 1035 4.1.1: not the response to this query");
	out->truncated = (flags & 0x0200) != 0;
	out->rcode = flags & 0xf;
	if (dns_u16(msg + 4) != 1 || dns_name(msg, len, DNS_HDR, q, off) == -1 || *off + 4 > len ||
	    !dns_name_eq(q, qname) || dns_u16(msg + *off) != qtype || dns_u16(msg + *off + 2) != 1)
		return err_set(e, ERR_REFUSED,
			       "dns: RFC 1035 4.1.2: the answer does not echo the question");
	*off += 4;
	return 0;
}

/* The answer section's first ACME_DNS_ANSWER_MAX records into an (*n of them). */
static int
dns_parse_answers(const unsigned char *msg, size_t len, size_t off, struct dns_an *an, size_t *n,
		  struct err *e)
{
	size_t count = dns_u16(msg + 6), next = 0;

	*n = 0;
	for (size_t i = 0; i < count && *n < ACME_DNS_ANSWER_MAX; i++) {
		struct dns_an *a = &an[*n];

		if (dns_name(msg, len, off, a->owner, &next) == -1 || next + 10 > len)
			return err_set(e, ERR_REFUSED, "dns: RFC 1035 4.1.3: a malformed record");
		a->type = dns_u16(msg + next);
		a->class = dns_u16(msg + next + 2);
		a->rdlen = dns_u16(msg + next + 8);
		a->rd = next + 10;
		if (a->rd + a->rdlen > len)
			return err_set(e, ERR_REFUSED,
				       "dns: RFC 1035 4.1.3: a record's data runs past the answer");
		off = a->rd + a->rdlen;
		(*n)++;
	}
	return 0;
}

int
acme_dns_parse(const unsigned char *msg, size_t len, uint16_t id, const char *qname, uint16_t qtype,
	       int cnames_before, struct acme_dns_res *out, struct err *e)
{
	struct dns_an *an = NULL;
	size_t off = 0, n = 0, next = 0;
	int rc = -1, moved;

	memset(out, 0, sizeof(*out));
	out->cnames = cnames_before;
	if (strlen(qname) >= sizeof(out->name)) {
		err_set(e, ERR_REFUSED, "dns: a name longer than 255 bytes");
		goto out;
	}
	snprintf(out->name, sizeof(out->name), "%s", qname);
	if (dns_parse_head(msg, len, id, qname, qtype, out, &off, e) == -1)
		goto out;
	if (out->rcode != ACME_DNS_NOERROR) {
		rc = 0;
		goto out;
	}
	an = xcalloc(ACME_DNS_ANSWER_MAX, sizeof(*an));
	if (dns_parse_answers(msg, len, off, an, &n, e) == -1)
		goto out;
	/* the CNAME chain from the asked name, as far as the answer gives it */
	do {
		moved = 0;
		for (size_t i = 0; i < n; i++) {
			if (an[i].type != ACME_DNS_CNAME || an[i].class != 1 ||
			    !dns_name_eq(an[i].owner, out->name) || qtype == ACME_DNS_CNAME)
				continue;
			if (++out->cnames > ACME_DNS_CNAME_MAX) {
				err_set(e, ERR_REFUSED, "dns: more than %d CNAMEs from %s",
					ACME_DNS_CNAME_MAX, qname);
				goto out;
			}
			if (dns_name(msg, len, an[i].rd, out->name, &next) == -1 ||
			    next > an[i].rd + an[i].rdlen) {
				err_set(e, ERR_REFUSED, "dns: RFC 1035 3.3.1: a malformed CNAME");
				goto out;
			}
			moved = 1;
			break;
		}
	} while (moved);
	for (size_t i = 0; i < n; i++) {
		if (an[i].type != qtype || an[i].class != 1 ||
		    !dns_name_eq(an[i].owner, out->name) || an[i].rdlen > ACME_DNS_RDATA_MAX ||
		    out->n >= ACME_DNS_RR_MAX)
			continue;
		out->rr[out->n].len = (uint16_t)an[i].rdlen;
		memcpy(out->rr[out->n].data, msg + an[i].rd, an[i].rdlen);
		out->n++;
	}
	if (out->n == 0 && !dns_name_eq(out->name, qname))
		snprintf(out->cname, sizeof(out->cname), "%s", out->name);
	rc = 0;
out:
	free(an);
	return rc;
}

int
acme_dns_txt(const unsigned char *rd, size_t len, char *out, size_t n)
{
	size_t o = 0, w = 0;

	if (n == 0)
		return -1;
	while (o < len) {
		size_t l = rd[o];

		if (o + 1 + l > len || w + l >= n)
			return -1;
		memcpy(out + w, rd + o + 1, l);
		w += l;
		o += 1 + l;
	}
	if (memchr(out, '\0', w) != NULL)
		return -1;
	out[w] = '\0';
	return 0;
}

/* ---- CAA (RFC 8659, RFC 8657) ---- */

int
acme_caa_parse(const unsigned char *rd, size_t len, struct acme_caa *out)
{
	size_t tl, vl;

	memset(out, 0, sizeof(*out));
	if (len < 2)
		return -1;
	out->flags = rd[0];
	tl = rd[1];
	if (tl == 0 || tl >= sizeof(out->tag) || 2 + tl > len)
		return -1;
	for (size_t i = 0; i < tl; i++) {
		unsigned char c = rd[2 + i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return -1; /* RFC 8659 4.1: a tag is letters and digits */
		out->tag[i] = (char)c;
	}
	vl = len - 2 - tl;
	if (vl >= sizeof(out->value) || memchr(rd + 2 + tl, '\0', vl) != NULL)
		return -1;
	memcpy(out->value, rd + 2 + tl, vl);
	out->value[vl] = '\0';
	return 0;
}

/* s without its leading and trailing blanks, copied into out (n bytes). */
static void
caa_trim(const char *s, size_t len, char *out, size_t n)
{
	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len >= n)
		len = n - 1;
	memcpy(out, s, len);
	out[len] = '\0';
}

/* 1 when the comma-separated list (RFC 8657 4: validationmethods) names method. */
static int
caa_methods_have(const char *list, const char *method)
{
	size_t ml = strlen(method);

	while (*list != '\0') {
		size_t l = strcspn(list, ",");
		char item[64];

		caa_trim(list, l, item, sizeof(item));
		if (strlen(item) == ml && strcmp(item, method) == 0)
			return 1;
		list += l + (list[l] == ',');
	}
	return 0;
}

/*
 * One issue/issuewild value (RFC 8659 4.2: issuer-domain-name [";" parameters]): 1 when it
 * names one of ids and its parameters let this account and method through.
 */
static int
caa_issue_ok(const char *value, const char *method, const char *acct_url, const char *const *ids,
	     size_t nids)
{
	const char *p = value;
	size_t l = strcspn(p, ";");
	char issuer[256], param[512], *eq;
	int named = 0;

	caa_trim(p, l, issuer, sizeof(issuer));
	for (size_t i = 0; i < nids && issuer[0] != '\0'; i++)
		if (dns_name_eq(issuer, ids[i]))
			named = 1;
	if (!named)
		return 0;
	p += l;
	while (*p == ';') {
		p++;
		l = strcspn(p, ";");
		caa_trim(p, l, param, sizeof(param));
		p += l;
		if (param[0] == '\0')
			continue;
		/* a parameter is tag "=" value (RFC 8659 4.2); anything else is a value that does
		 * not follow the grammar, which authorizes nothing */
		if ((eq = strchr(param, '=')) == NULL)
			return 0;
		*eq = '\0';
		{
			char key[64], val[448];
			size_t kl;

			caa_trim(param, strlen(param), key, sizeof(key));
			caa_trim(eq + 1, strlen(eq + 1), val, sizeof(val));
			kl = strlen(key);
			if (kl == 0 || !isalnum((unsigned char)key[0]) ||
			    !isalnum((unsigned char)key[kl - 1]) ||
			    strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
					"6789-") != kl)
				return 0;
			if (strcasecmp(key, "accounturi") == 0 &&
			    (acct_url == NULL || strcmp(val, acct_url) != 0))
				return 0;
			if (strcasecmp(key, "validationmethods") == 0 &&
			    !caa_methods_have(val, method))
				return 0;
		}
	}
	return 1;
}

/* 1 when tag is one RFC 8659 (and RFC 8657's neighbours) define, so its critical flag is known. */
static int
caa_tag_known(const char *tag)
{
	static const char *const known[] = {"issue",	"issuewild",	"iodef",	"issuemail",
					    "issuevmc", "contactemail", "contactphone", NULL};

	for (size_t i = 0; known[i] != NULL; i++)
		if (strcmp(tag, known[i]) == 0)
			return 1;
	return 0;
}

int
acme_caa_allows(const struct acme_dns_res *rrs, int wildcard, const char *method,
		const char *acct_url, const char *const *ids, size_t nids, char *why, size_t whylen)
{
	struct acme_caa c;
	const char *want = "issue";
	size_t nwant = 0;

	for (size_t i = 0; i < rrs->n; i++) {
		if (acme_caa_parse(rrs->rr[i].data, rrs->rr[i].len, &c) == -1) {
			snprintf(why, whylen, "RFC 8659 4.1: a CAA record of %s is malformed",
				 rrs->name);
			return 0;
		}
		if ((c.flags & 0x80) && !caa_tag_known(c.tag)) {
			snprintf(why, whylen,
				 "RFC 8659 4.1: a CAA record of %s has the unknown critical tag %s",
				 rrs->name, c.tag);
			return 0;
		}
		if (wildcard && strcmp(c.tag, "issuewild") == 0)
			want = "issuewild";
	}
	for (size_t i = 0; i < rrs->n; i++) {
		if (acme_caa_parse(rrs->rr[i].data, rrs->rr[i].len, &c) == -1 ||
		    strcmp(c.tag, want) != 0)
			continue;
		nwant++;
		if (caa_issue_ok(c.value, method, acct_url, ids, nids))
			return 1;
	}
	if (nwant == 0) /* 4.2, 4.3: no issue (issuewild) property restricts issuance */
		return 1;
	snprintf(
	    why, whylen,
	    "RFC 8659 4.%d, RFC 8657: no \"%s\" CAA record of %s names this CA (caaIdentities) "
	    "for this account and %s",
	    strcmp(want, "issue") == 0 ? 2 : 3, want, rrs->name, method);
	return 0;
}

/* ---- the resolver and the queries ---- */

/* "host" or "host:port" / "[v6]:port" into out. */
static int
dns_server_parse(const char *spec, struct acme_dns_server *out)
{
	char host[64];
	const char *colon;
	long port = 53;
	char *end = NULL;
	struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&out->sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&out->sa;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (spec[0] == '[') {
		if ((colon = strchr(spec, ']')) == NULL)
			return -1;
		hl = (size_t)(colon - spec - 1);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, spec + 1, hl);
		host[hl] = '\0';
		colon = colon[1] == ':' ? colon + 1 : (colon[1] == '\0' ? NULL : spec);
		if (colon == spec)
			return -1;
	} else {
		colon = strchr(spec, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL; /* a bare IPv6 address */
		hl = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, spec, hl);
		host[hl] = '\0';
	}
	if (colon != NULL) {
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
			return -1;
	}
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		out->salen = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		out->salen = sizeof(*s6);
		return 0;
	}
	return -1;
}

int
acme_dns_server(const char *spec, struct acme_dns_server *out, struct err *e)
{
	char line[256], addr[64];
	FILE *f;
	int rc = -1;

	if (spec != NULL && spec[0] != '\0') {
		if (dns_server_parse(spec, out) == -1)
			return err_set(
			    e, ERR_REFUSED,
			    "acme.dns_resolver: an IP address, with \":port\" ([IPv6]:port) "
			    "or not");
		return 0;
	}
	if ((f = fopen("/etc/resolv.conf", "r")) == NULL)
		return err_set(e, ERR_INTERNAL, "dns: /etc/resolv.conf: %s", strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line + strspn(line, " \t");
		size_t l;

		if (strncmp(p, "nameserver", 10) != 0 || (p[10] != ' ' && p[10] != '\t'))
			continue;
		p += 10 + strspn(p + 10, " \t");
		l = strcspn(p, " \t\r\n%");
		if (l == 0 || l >= sizeof(addr))
			continue;
		memcpy(addr, p, l);
		addr[l] = '\0';
		if (dns_server_parse(addr, out) == 0) {
			rc = 0;
			break;
		}
	}
	fclose(f);
	if (rc == -1)
		err_set(e, ERR_INTERNAL, "dns: /etc/resolv.conf names no nameserver");
	return rc;
}

/* The query for name (text) and qtype into q (at least DNS_UDP_MAX bytes); its length. */
static size_t
dns_query_build(unsigned char *q, uint16_t id, const char *name, uint16_t qtype)
{
	size_t w = DNS_HDR, l;
	const char *p = name;

	memset(q, 0, DNS_HDR);
	q[0] = (unsigned char)(id >> 8);
	q[1] = (unsigned char)id;
	q[2] = 0x01; /* RD */
	q[5] = 1;    /* QDCOUNT */
	while (*p != '\0') {
		l = strcspn(p, ".");
		q[w++] = (unsigned char)l;
		memcpy(q + w, p, l);
		w += l;
		p += l + (p[l] == '.');
	}
	q[w++] = 0;
	q[w++] = (unsigned char)(qtype >> 8);
	q[w++] = (unsigned char)qtype;
	q[w++] = 0;
	q[w++] = 1; /* IN */
	return w;
}

/* poll() one fd for ev until deadline_ms: 1 ready, 0 timed out, -1 failed. */
static int
dns_wait(int fd, short ev, int64_t deadline_ms, int64_t cap_ms)
{
	struct pollfd pfd = {.fd = fd, .events = ev};
	int64_t left = deadline_ms - acme_dns_now_ms();
	int r;

	if (left > cap_ms)
		left = cap_ms;
	if (left <= 0)
		return 0;
	do
		r = poll(&pfd, 1, (int)left);
	while (r == -1 && errno == EINTR);
	return r;
}

/* Reads exactly n bytes of the stream fd before deadline: 0, or -1. */
static int
dns_read_full(int fd, unsigned char *p, size_t n, int64_t deadline_ms)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		if (dns_wait(fd, POLLIN, deadline_ms, deadline_ms) != 1)
			return -1;
		r = read(fd, p + got, n - got);
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* One exchange over TCP (RFC 1035 4.2.2): the answer into a (DNS_TCP_MAX), its length. */
static ssize_t
dns_tcp(const struct acme_dns_server *srv, const unsigned char *q, size_t qlen, unsigned char *a,
	int64_t deadline_ms)
{
	unsigned char buf[2 + DNS_UDP_MAX], lb[2];
	int fd, err = 0;
	socklen_t el = sizeof(err);
	ssize_t rc = -1;
	size_t alen;

	if ((fd = socket(srv->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)&srv->sa, srv->salen) == -1 &&
	    errno != EINPROGRESS)
		goto out;
	if (dns_wait(fd, POLLOUT, deadline_ms, deadline_ms) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1 || err != 0)
		goto out;
	buf[0] = (unsigned char)(qlen >> 8);
	buf[1] = (unsigned char)qlen;
	memcpy(buf + 2, q, qlen);
	if (write(fd, buf, qlen + 2) != (ssize_t)(qlen + 2)) /* small: fits the socket buffer */
		goto out;
	if (dns_read_full(fd, lb, 2, deadline_ms) == -1)
		goto out;
	alen = dns_u16(lb);
	if (alen < DNS_HDR || dns_read_full(fd, a, alen, deadline_ms) == -1)
		goto out;
	rc = (ssize_t)alen;
out:
	close(fd);
	return rc;
}

/*
 * One question over UDP, again over TCP when truncated: the parsed answer.  0, or -1 (e: a
 * timeout, no answer, a malformed one).
 */
static int
dns_ask(const struct acme_dns_server *srv, const char *name, uint16_t qtype, int cnames,
	int64_t deadline_ms, struct acme_dns_res *out, struct err *e)
{
	unsigned char q[DNS_UDP_MAX], *a = xmalloc(DNS_TCP_MAX);
	uint16_t id;
	size_t qlen;
	ssize_t n;
	int fd = -1, rc = -1, got = 0;
	struct err pe;

	err_clear(&pe);
	randombytes_buf(&id, sizeof(id));
	qlen = dns_query_build(q, id, name, qtype);
	if ((fd = socket(srv->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (const struct sockaddr *)&srv->sa, srv->salen) == -1) {
		err_set(e, ERR_INTERNAL, "dns: the resolver's socket: %s", strerror(errno));
		goto out;
	}
	while (!got && acme_dns_now_ms() < deadline_ms) {
		if (send(fd, q, qlen, 0) == -1) {
			err_set(e, ERR_UNKNOWN, "dns: the resolver: %s", strerror(errno));
			goto out;
		}
		/* wait for the answer, ignoring what is not it, then send again */
		int64_t until = acme_dns_now_ms() + DNS_RETRY_MS;

		while (dns_wait(fd, POLLIN, deadline_ms, until - acme_dns_now_ms()) == 1) {
			n = recv(fd, a, DNS_UDP_MAX, 0);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				err_set(e, ERR_UNKNOWN, "dns: the resolver: %s", strerror(errno));
				goto out;
			}
			if (n < 0)
				continue;
			err_clear(&pe);
			if (acme_dns_parse(a, (size_t)n, id, name, qtype, cnames, out, &pe) == 0) {
				got = 1;
				break;
			}
		}
	}
	if (!got) {
		if (err_is_set(&pe))
			*e = pe;
		else
			err_set(e, ERR_UNKNOWN, "dns: no answer from the resolver for %s in time",
				name);
		goto out;
	}
	if (out->truncated) {
		if ((n = dns_tcp(srv, q, qlen, a, deadline_ms)) == -1) {
			err_set(e, ERR_UNKNOWN,
				"dns: the answer for %s was truncated, and over TCP "
				"none came in time",
				name);
			goto out;
		}
		if (acme_dns_parse(a, (size_t)n, id, name, qtype, cnames, out, e) == -1)
			goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	free(a);
	return rc;
}

int
acme_dns_lookup(const struct acme_dns_server *srv, const char *name, uint16_t qtype,
		int64_t deadline_ms, struct acme_dns_res *out, struct err *e)
{
	char cur[ACME_DNS_NAME_TEXT];
	int cnames = 0;

	if (strlen(name) >= sizeof(cur) || name[0] == '\0')
		return err_set(e, ERR_REFUSED, "dns: a name of 1 to 255 bytes");
	for (const char *p = name; *p != '\0';) {
		size_t l = strcspn(p, ".");

		if (l == 0 || l > 63)
			return err_set(e, ERR_REFUSED,
				       "dns: RFC 1035 2.3.4: labels of 1 to 63 bytes");
		p += l + (p[l] == '.');
	}
	snprintf(cur, sizeof(cur), "%s", name);
	for (;;) {
		if (dns_ask(srv, cur, qtype, cnames, deadline_ms, out, e) == -1)
			return -1;
		if (out->rcode != ACME_DNS_NOERROR && out->rcode != ACME_DNS_NXDOMAIN)
			return err_set(e, ERR_UNKNOWN,
				       "dns: the resolver answered rcode %d (%s) for %s",
				       out->rcode,
				       out->rcode == ACME_DNS_SERVFAIL ? "SERVFAIL"
				       : out->rcode == 5	       ? "REFUSED"
								       : "failure",
				       cur);
		/* the chain leads to a name whose records the answer lacks: ask for it */
		if (out->cname[0] == '\0')
			return 0;
		cnames = out->cnames;
		snprintf(cur, sizeof(cur), "%s", out->cname);
	}
}
