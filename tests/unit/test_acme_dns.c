/*
 * ACME validation's DNS client (src/acme/dns.c): the answer parser on well-formed and hostile
 * messages (another id, a question not echoed, a pointer loop, a CNAME chain longer than
 * ACME_DNS_CNAME_MAX, a truncated answer), TXT strings concatenated, CAA records judged (RFC
 * 8659 issue / issuewild, RFC 8657 accounturi and validationmethods, a critical unknown tag),
 * resolver addresses, and the bounded waits: a resolver that never answers, and a truncated
 * answer whose TCP server never answers, both end by the deadline.
 */
#include "testutil.h"

#include <pthread.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "acme/dns.h"

#define OK(x) assert_int_equal((x), 0)

/* ---- a message builder ---- */

struct msg {
	unsigned char b[2048];
	size_t n;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void
put16(struct msg *m, unsigned v)
{
	unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};

	put(m, x, 2);
}

static void
put_name(struct msg *m, const char *name)
{
	while (*name != '\0') {
		size_t l = strcspn(name, ".");
		unsigned char c = (unsigned char)l;

		put(m, &c, 1);
		put(m, name, l);
		name += l + (name[l] == '.');
	}
	put(m, "", 1);
}

/* Header (id 0x1234, a response, rcode, TC) and the question. */
static void
head(struct msg *m, unsigned rcode, int tc, unsigned ancount, const char *q, unsigned qtype)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8180 | (tc ? 0x0200 : 0) | rcode);
	put16(m, 1);
	put16(m, ancount);
	put16(m, 0);
	put16(m, 0);
	put_name(m, q);
	put16(m, qtype);
	put16(m, 1);
}

static void
rr(struct msg *m, const char *owner, unsigned type, const void *rd, size_t len)
{
	put_name(m, owner);
	put16(m, type);
	put16(m, 1);
	put16(m, 0);
	put16(m, 60);
	put16(m, (unsigned)len);
	put(m, rd, len);
}

/* A CNAME record's data: name in wire form. */
static size_t
wire(const char *name, unsigned char *out)
{
	struct msg t;

	t.n = 0;
	put_name(&t, name);
	memcpy(out, t.b, t.n);
	return t.n;
}

static struct acme_dns_res res;

/* ---- the parser ---- */

static void
test_parse(void **state)
{
	static const unsigned char txt[] = "\x05"
					   "hello"
					   "\x05"
					   "world";
	unsigned char w[300];
	char out[64];
	struct msg m;
	struct err e;

	(void)state;
	/* a CNAME to another name, its TXT record there (two strings), a record elsewhere */
	head(&m, 0, 0, 3, "_acme-challenge.www.example.org", ACME_DNS_TXT);
	rr(&m, "_acme-challenge.WWW.example.org", ACME_DNS_CNAME, w, wire("t.example.net", w));
	rr(&m, "t.example.net", ACME_DNS_TXT, txt, sizeof(txt) - 1);
	rr(&m, "other.example.net", ACME_DNS_TXT, txt, sizeof(txt) - 1);
	err_clear(&e);
	OK(acme_dns_parse(m.b, m.n, 0x1234, "_acme-challenge.www.example.org", ACME_DNS_TXT, 0,
			  &res, &e));
	assert_int_equal(res.rcode, 0);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.cnames, 1);
	assert_string_equal(res.name, "t.example.net");
	assert_string_equal(res.cname, "");
	OK(acme_dns_txt(res.rr[0].data, res.rr[0].len, out, sizeof(out)));
	assert_string_equal(out, "helloworld");
	assert_int_equal(acme_dns_txt(res.rr[0].data, res.rr[0].len, out, 5), -1); /* no room */
	assert_int_equal(acme_dns_txt((const unsigned char *)"\x09"
							     "short",
				      6, out, sizeof(out)),
			 -1);

	/* a chain that leaves the answer: the name to ask next */
	head(&m, 0, 0, 1, "a.example.org", ACME_DNS_TXT);
	rr(&m, "a.example.org", ACME_DNS_CNAME, w, wire("b.example.net", w));
	OK(acme_dns_parse(m.b, m.n, 0x1234, "a.example.org", ACME_DNS_TXT, 0, &res, &e));
	assert_int_equal(res.n, 0);
	assert_string_equal(res.cname, "b.example.net");
	/* ... but not beyond ACME_DNS_CNAME_MAX in all */
	err_clear(&e);
	assert_int_equal(acme_dns_parse(m.b, m.n, 0x1234, "a.example.org", ACME_DNS_TXT,
					ACME_DNS_CNAME_MAX, &res, &e),
			 -1);
	assert_non_null(strstr(e.msg, "CNAME"));

	/* NXDOMAIN and SERVFAIL are told, not records */
	head(&m, ACME_DNS_NXDOMAIN, 0, 0, "a.example.org", ACME_DNS_TXT);
	OK(acme_dns_parse(m.b, m.n, 0x1234, "a.example.org", ACME_DNS_TXT, 0, &res, &e));
	assert_int_equal(res.rcode, ACME_DNS_NXDOMAIN);
	/* truncated: said */
	head(&m, 0, 1, 0, "a.example.org", ACME_DNS_TXT);
	OK(acme_dns_parse(m.b, m.n, 0x1234, "a.example.org", ACME_DNS_TXT, 0, &res, &e));
	assert_true(res.truncated);

	/* another id, another question, a query (not a response): refused */
	err_clear(&e);
	assert_int_equal(
	    acme_dns_parse(m.b, m.n, 0x4321, "a.example.org", ACME_DNS_TXT, 0, &res, &e), -1);
	err_clear(&e);
	assert_int_equal(
	    acme_dns_parse(m.b, m.n, 0x1234, "b.example.org", ACME_DNS_TXT, 0, &res, &e), -1);
	err_clear(&e);
	assert_int_equal(
	    acme_dns_parse(m.b, m.n, 0x1234, "a.example.org", ACME_DNS_CAA, 0, &res, &e), -1);
	m.b[2] &= 0x7f;
	err_clear(&e);
	assert_int_equal(
	    acme_dns_parse(m.b, m.n, 0x1234, "a.example.org", ACME_DNS_TXT, 0, &res, &e), -1);

	/* a compression pointer to itself (a loop), and one forwards: refused */
	head(&m, 0, 0, 1, "a.example.org", ACME_DNS_TXT);
	{
		unsigned char p[2] = {0xc0, (unsigned char)m.n};

		put(&m, p, 2);
		put16(&m, ACME_DNS_TXT);
		put16(&m, 1);
		put16(&m, 0);
		put16(&m, 60);
		put16(&m, 1);
		put(&m, "", 1);
	}
	err_clear(&e);
	assert_int_equal(
	    acme_dns_parse(m.b, m.n, 0x1234, "a.example.org", ACME_DNS_TXT, 0, &res, &e), -1);
	/* a pointer backwards to the question's name: the record is the name's */
	m.b[12 + wire("a.example.org", w) + 4 + 1] = 12;
	err_clear(&e);
	OK(acme_dns_parse(m.b, m.n, 0x1234, "a.example.org", ACME_DNS_TXT, 0, &res, &e));
	assert_int_equal(res.n, 1);
	/* a record's data past the end: refused */
	err_clear(&e);
	assert_int_equal(
	    acme_dns_parse(m.b, m.n - 1, 0x1234, "a.example.org", ACME_DNS_TXT, 0, &res, &e), -1);
	/* a label of a byte no host name has */
	head(&m, 0, 0, 0, "a.example.org", ACME_DNS_TXT);
	m.b[13] = '/';
	err_clear(&e);
	assert_int_equal(
	    acme_dns_parse(m.b, m.n, 0x1234, "a.example.org", ACME_DNS_TXT, 0, &res, &e), -1);
}

/* ---- CAA ---- */

/* res: the CAA records given as (flags, tag, value), n of them. */
static void
caa_set(size_t n, const unsigned char *flags, const char *const *tags, const char *const *vals)
{
	memset(&res, 0, sizeof(res));
	snprintf(res.name, sizeof(res.name), "example.org");
	for (size_t i = 0; i < n; i++) {
		unsigned char *d = res.rr[i].data;
		size_t tl = strlen(tags[i]), vl = strlen(vals[i]);

		d[0] = flags[i];
		d[1] = (unsigned char)tl;
		memcpy(d + 2, tags[i], tl);
		memcpy(d + 2 + tl, vals[i], vl);
		res.rr[i].len = (uint16_t)(2 + tl + vl);
	}
	res.n = n;
}

static int
allows(int wild, const char *method)
{
	static const char *const ids[] = {"ca.example.jp", "other-name.example.jp"};
	char why[600];
	int r;

	why[0] = '\0';
	r = acme_caa_allows(&res, wild, method, "https://ca.example.jp/acme/acct/7", ids, 2, why,
			    sizeof(why));
	if (!r)
		assert_true(why[0] != '\0');
	return r;
}

static void
test_caa(void **state)
{
	static const unsigned char f0[4] = {0, 0, 0, 0}, fc[2] = {0, 128};
	struct acme_caa c;

	(void)state;
	{
		const char *t[] = {"issue"}, *v[] = {"ca.example.jp"};

		caa_set(1, f0, t, v);
		assert_true(allows(0, "dns-01"));
		assert_true(allows(1, "http-01")); /* no issuewild: issue holds for wildcards */
	}
	{
		const char *t[] = {"issue", "iodef"}, *v[] = {"letsencrypt.org", "mailto:a@b"};

		caa_set(2, f0, t, v);
		assert_false(allows(0, "dns-01"));
	}
	{
		const char *t[] = {"iodef"}, *v[] = {"mailto:a@b"};

		caa_set(1, f0, t, v); /* no issue property: not restricted */
		assert_true(allows(0, "dns-01"));
	}
	{
		const char *t[] = {"ISSUE"},
			   *v[] = {" CA.example.jp ; accounturi=https://ca.example.jp/acme/acct/7 ;"
				   " validationmethods = http-01, dns-01"};

		caa_set(1, f0, t, v);
		assert_true(allows(0, "dns-01"));
		assert_true(allows(0, "http-01"));
		assert_false(allows(0, "tls-alpn-01"));
	}
	{
		const char *t[] = {"issue"},
			   *v[] = {"ca.example.jp; accounturi=https://ca.example.jp/acme/acct/70"};

		caa_set(1, f0, t, v);
		assert_false(allows(0, "dns-01"));
	}
	/* parameters off RFC 8659 4.2's grammar authorize nothing; an unknown one is ignored */
	{
		const char *bad[] = {"ca.example.jp; accounturi", "ca.example.jp; =x; foo",
				     "ca.example.jp; -x=1", "ca.example.jp; a b=1"};
		const char *t[] = {"issue"};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			caa_set(1, f0, t, &bad[i]);
			assert_false(allows(0, "dns-01"));
		}
		{
			const char *v[] = {"ca.example.jp; policy-x=1 ; y=2"};

			caa_set(1, f0, t, v);
			assert_true(allows(0, "dns-01"));
		}
	}
	{
		const char *t[] = {"issue", "issuewild"}, *v[] = {"ca.example.jp", ";"};

		caa_set(2, f0, t, v);
		assert_true(allows(0, "dns-01"));
		assert_false(allows(1, "dns-01"));
	}
	{
		const char *t[] = {"issue", "tbs"}, *v[] = {"ca.example.jp", "x"};

		caa_set(2, fc, t, v); /* an unknown tag, critical */
		assert_false(allows(0, "dns-01"));
		caa_set(2, f0, t, v); /* not critical: ignored */
		assert_true(allows(0, "dns-01"));
	}
	{
		const char *t[] = {"issue"}, *v[] = {";"};

		caa_set(1, f0, t, v); /* no CA at all */
		assert_false(allows(0, "dns-01"));
	}
	/* malformed records */
	assert_int_equal(acme_caa_parse((const unsigned char *)"\x00", 1, &c), -1);
	assert_int_equal(acme_caa_parse((const unsigned char *)"\x00\x09"
							       "issue",
					7, &c),
			 -1);
	assert_int_equal(acme_caa_parse((const unsigned char *)"\x00\x05"
							       "is-ue",
					7, &c),
			 -1);
	OK(acme_caa_parse((const unsigned char *)"\x80\x05"
						 "IssuE"
						 "x",
			  8, &c));
	assert_string_equal(c.tag, "issue");
	assert_string_equal(c.value, "x");
	assert_int_equal(c.flags, 128);
	memset(&res, 0, sizeof(res));
	res.n = 1;
	res.rr[0].len = 1;
	assert_false(allows(0, "dns-01")); /* a record that does not parse refuses */
}

/* ---- resolvers and bounded waits ---- */

static void
test_server(void **state)
{
	struct acme_dns_server s;
	struct err e;

	(void)state;
	err_clear(&e);
	OK(acme_dns_server("127.0.0.1:5353", &s, &e));
	assert_int_equal(s.sa.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)(void *)&s.sa)->sin_port), 5353);
	OK(acme_dns_server("192.0.2.1", &s, &e));
	assert_int_equal(ntohs(((struct sockaddr_in *)(void *)&s.sa)->sin_port), 53);
	OK(acme_dns_server("[::1]:54", &s, &e));
	assert_int_equal(s.sa.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)(void *)&s.sa)->sin6_port), 54);
	OK(acme_dns_server("2001:db8::1", &s, &e));
	assert_int_equal(ntohs(((struct sockaddr_in6 *)(void *)&s.sa)->sin6_port), 53);
	for (const char *const *b =
		 (const char *const[]){"dns.example", "127.0.0.1:0", "127.0.0.1:99999", "[::1",
				       "1.2.3.4:x", NULL};
	     *b != NULL; b++) {
		err_clear(&e);
		assert_int_equal(acme_dns_server(*b, &s, &e), -1);
	}
}

/* A UDP "resolver" answering every query with the TC bit and nothing else. */
static void *
tc_answerer(void *arg)
{
	int fd = *(int *)arg;
	unsigned char b[512];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);

	if (n >= 12) {
		b[2] |= 0x82; /* QR, TC */
		b[3] = 0x80;
		sendto(fd, b, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static void
test_deadline(void **state)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	struct acme_dns_server srv;
	int u, t, one = 1;
	int64_t t0;
	pthread_t th;
	struct err e;

	(void)state;
	/* a UDP port that never answers (and a TCP listener there that never answers) */
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((u = socket(AF_INET, SOCK_DGRAM, 0)) >= 0);
	OK(bind(u, (struct sockaddr *)&a, sizeof(a)));
	OK(getsockname(u, (struct sockaddr *)&a, &al));
	assert_true((t = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	OK(bind(t, (struct sockaddr *)&a, sizeof(a)));
	OK(listen(t, 4));
	memset(&srv, 0, sizeof(srv));
	memcpy(&srv.sa, &a, sizeof(a));
	srv.salen = sizeof(a);

	err_clear(&e);
	t0 = acme_dns_now_ms();
	assert_int_equal(acme_dns_lookup(&srv, "x.example.org", ACME_DNS_TXT, t0 + 400, &res, &e),
			 -1);
	assert_true(acme_dns_now_ms() - t0 < 1500);
	assert_non_null(strstr(e.msg, "no answer"));

	/* truncated over UDP, then a TCP peer that accepts and says nothing (the first part's
	 * queries read away first) */
	{
		unsigned char junk[512];

		while (recv(u, junk, sizeof(junk), MSG_DONTWAIT) > 0)
			;
	}
	assert_int_equal(pthread_create(&th, NULL, tc_answerer, &u), 0);
	err_clear(&e);
	t0 = acme_dns_now_ms();
	assert_int_equal(acme_dns_lookup(&srv, "x.example.org", ACME_DNS_TXT, t0 + 600, &res, &e),
			 -1);
	assert_true(acme_dns_now_ms() - t0 < 1700);
	if (strstr(e.msg, "TCP") == NULL)
		fail_msg("%s", e.msg);
	pthread_join(th, NULL);
	close(u);
	close(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_caa),
	    cmocka_unit_test(test_server),
	    cmocka_unit_test(test_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
