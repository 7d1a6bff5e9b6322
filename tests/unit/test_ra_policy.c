/*
 * ra policy unit tests: an organization's name policy (ra_policy_names, ra_email_in_org) on
 * organizations made up here, and ra_issue() — the subject the RA builds and every refusal
 * with its kind — through a CA on SQLite and on PostgreSQL.
 */
#include "testutil.h"
#include "tu_x509.h"
#include "tu_ca.h"

#include "ra/ra.h"

static struct tu_ca fx;

/* The SANs of an OpenSSL configuration string ("DNS:a,IP:192.0.2.1"); caller frees. */
static GENERAL_NAMES *
sans_of(const char *conf)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, conf);
	GENERAL_NAMES *g;

	assert_non_null(ext);
	g = X509V3_EXT_d2i(ext);
	assert_non_null(g);
	X509_EXTENSION_free(ext);
	return g;
}

/* ra_policy_names over conf for org and profile: 0, or -1 with the message in msg. */
static int
names(const struct store_org *org, const char *profile, const char *conf, char *msg, size_t n)
{
	GENERAL_NAMES *g = sans_of(conf);
	struct err e;
	int rc;

	err_clear(&e);
	rc = ra_policy_names(org, profile_find(profile), g, &e);
	GENERAL_NAMES_free(g);
	if (rc == -1) {
		assert_int_equal(e.code, ERR_REFUSED);
		assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
		assert_true(strncmp(e.msg, "name policy: ", 13) == 0);
	}
	snprintf(msg, n, "%s", e.msg);
	return rc;
}

static void
test_names(void **state)
{
	char *domains[] = {"example.ac.jp", "lab.example.org"};
	char *mail[] = {"mail.example.jp"};
	char *ips[] = {"192.0.2.0/24", "198.51.100.7", "2001:db8::/32", "203.0.112.0/20"};
	char *uris[] = {"https://www.example.ac.jp/sw/", "urn:example:signer"};
	struct store_org org;
	char msg[1024];

	(void)state;
	memset(&org, 0, sizeof(org));
	org.code = "UNIV";
	org.name = "Example University";
	/* no names at all: nothing, until unrestricted */
	assert_int_equal(names(&org, "server", "DNS:www.example.ac.jp", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "organization UNIV lists no domains"));
	assert_non_null(strstr(msg, "shomei org set UNIV --unrestricted"));
	org.unrestricted = 1;
	assert_int_equal(
	    names(&org, "server", "DNS:anything.example,IP:10.0.0.1", msg, sizeof(msg)), 0);
	org.unrestricted = 0;

	org.domains = domains;
	org.ndomains = 2;
	/* DNS: equal or below, case-insensitive; not a suffix that is no label */
	assert_int_equal(names(&org, "server", "DNS:example.ac.jp", msg, sizeof(msg)), 0);
	assert_int_equal(names(&org, "server", "DNS:WWW.Example.AC.JP", msg, sizeof(msg)), 0);
	assert_int_equal(names(&org, "server", "DNS:a.b.lab.example.org", msg, sizeof(msg)), 0);
	assert_int_equal(names(&org, "server", "DNS:badexample.ac.jp", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "badexample.ac.jp is not within the domains of "
				    "organization UNIV"));
	assert_int_equal(
	    names(&org, "server", "DNS:www.example.ac.jp,DNS:evil.example", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "evil.example"));
	/* wildcards: only where the profile allows one */
	assert_int_equal(names(&org, "server", "DNS:*.example.ac.jp", msg, sizeof(msg)), 0);
	assert_int_equal(names(&org, "client", "DNS:*.example.ac.jp", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "profile client: wildcard *.example.ac.jp is not allowed"));
	/* e-mail: the DNS domains while no mail domain is listed */
	assert_int_equal(names(&org, "client", "email:a@example.ac.jp", msg, sizeof(msg)), 0);
	assert_int_equal(names(&org, "client", "email:a@x.lab.example.org", msg, sizeof(msg)), 0);
	assert_int_equal(names(&org, "client", "email:ceo@other.example.jp", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "e-mail address ceo@other.example.jp is outside the mail "
				    "domains of organization UNIV"));
	assert_int_equal(names(&org, "client", "email:no-at-sign", msg, sizeof(msg)), -1);
	org.mail_domains = mail;
	org.nmail_domains = 1;
	assert_int_equal(names(&org, "client", "email:a@example.ac.jp", msg, sizeof(msg)), -1);
	assert_int_equal(names(&org, "client", "email:a@mail.example.jp", msg, sizeof(msg)), 0);
	/* IP: none by default, then exact addresses and prefixes (also not on a byte) */
	assert_int_equal(names(&org, "server", "IP:192.0.2.1", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "IP address 192.0.2.1 is not one of the addresses of "
				    "organization UNIV"));
	org.ips = ips;
	org.nips = 4;
	assert_int_equal(names(&org, "server", "IP:192.0.2.1", msg, sizeof(msg)), 0);
	assert_int_equal(names(&org, "server", "IP:192.0.3.1", msg, sizeof(msg)), -1);
	assert_int_equal(names(&org, "server", "IP:198.51.100.7", msg, sizeof(msg)), 0);
	assert_int_equal(names(&org, "server", "IP:198.51.100.8", msg, sizeof(msg)), -1);
	assert_int_equal(names(&org, "server", "IP:203.0.127.255", msg, sizeof(msg)), 0);
	assert_int_equal(names(&org, "server", "IP:203.0.128.0", msg, sizeof(msg)), -1);
	assert_int_equal(names(&org, "server", "IP:2001:db8:1::5", msg, sizeof(msg)), 0);
	assert_int_equal(names(&org, "server", "IP:2001:db9::5", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "2001:db9::5"));
	/* URI: exact, or below a prefix ending in "/" */
	assert_int_equal(
	    names(&org, "codesign", "URI:https://www.example.ac.jp/sw/a", msg, sizeof(msg)), -1);
	org.uris = uris;
	org.nuris = 2;
	assert_int_equal(
	    names(&org, "codesign", "URI:https://www.example.ac.jp/sw/a", msg, sizeof(msg)), 0);
	assert_int_equal(names(&org, "codesign", "URI:urn:example:signer", msg, sizeof(msg)), 0);
	assert_int_equal(names(&org, "codesign", "URI:urn:example:signer2", msg, sizeof(msg)), -1);
	assert_int_equal(
	    names(&org, "codesign", "URI:https://www.example.ac.jp/swx", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "URI https://www.example.ac.jp/swx is not one of the URIs"));
	/* other kinds: never */
	assert_int_equal(names(&org, "server", "RID:1.2.3.4", msg, sizeof(msg)), -1);
}

static void
test_email_in_org(void **state)
{
	char *domains[] = {"example.ac.jp"};
	struct store_org org;

	(void)state;
	memset(&org, 0, sizeof(org));
	org.code = "UNIV";
	assert_int_equal(ra_email_in_org(&org, "a@example.ac.jp"), 0); /* no names: nothing */
	org.domains = domains;
	org.ndomains = 1;
	assert_int_equal(ra_email_in_org(&org, "a@example.ac.jp"), 1);
	assert_int_equal(ra_email_in_org(&org, "a@mail.EXAMPLE.ac.jp"), 1);
	assert_int_equal(ra_email_in_org(&org, "a@example.ac.jp.evil"), 0);
	assert_int_equal(ra_email_in_org(&org, "a@"), 0);
	assert_int_equal(ra_email_in_org(&org, "example.ac.jp"), 0);
	org.ndomains = 0;
	org.unrestricted = 1;
	assert_int_equal(ra_email_in_org(&org, "a@anywhere.example"), 1);
}

/* ---- ra_issue through a CA ---- */

static int
setup_sqlite(void **state)
{
	(void)state;
	tu_ca_open(&fx, 0, "test_ra_policy");
	return 0;
}

static int
setup_pg(void **state)
{
	(void)state;
	tu_ca_open(&fx, 1, "test_ra_policy");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_ca_close(&fx);
	return 0;
}

/* ra_issue of a CSR with subject subj and SANs san for org; the certificate's subject text. */
static int
issue(const char *org, const char *profile, const char *subj, const char *san, int check_only,
      char **subject, struct err *e)
{
	struct ra_issue_req q;
	struct ca_issued out;
	struct store_cert c;
	unsigned char *der;
	int len, rc;

	der = tu_csr_ex(subj, san, &len);
	memset(&q, 0, sizeof(q));
	q.profile = profile;
	q.org_code = org;
	q.csr = der;
	q.csrlen = (size_t)len;
	q.actor = "unit";
	q.check_only = check_only;
	err_clear(e);
	rc = ra_issue(fx.ca, fx.st, &q, &out, e);
	OPENSSL_free(der);
	if (subject != NULL)
		*subject = NULL;
	if (rc == 0 && !check_only) {
		struct err se;

		err_clear(&se);
		memset(&c, 0, sizeof(c));
		assert_int_equal(store_cert_get(fx.st, out.serial, &c, &se), 0);
		if (subject != NULL)
			*subject = strdup(c.subject);
		assert_true(c.org_id != 0);
		store_cert_clear(&c);
	}
	ca_issued_clear(&out);
	return rc;
}

static void
test_issue(void **state)
{
	const char *const doms[] = {"univ.example.ac.jp"};
	struct ra_org_change ch;
	struct err e;
	char *subject = NULL;
	int64_t n0, n;

	(void)state;
	err_clear(&e);
	ra_org_change_init(&ch);
	ch.domains.v = doms;
	ch.domains.n = 1;
	ch.domains.set = 1;
	assert_int_equal(ra_org_add(fx.st, "UNIV", "Example University", &ch, "unit", &e), 0);
	assert_int_equal(ra_org_add(fx.st, "BARE", "Bare", NULL, "unit", &e), 0);
	assert_int_equal(store_cert_count(fx.st, -1, &n0, &e), 0);

	/* the RA's subject: O from the organization, OU and CN kept, the rest dropped */
	assert_int_equal(issue("UNIV", "client", "/C=US/O=Example University/OU=Lab/CN=Alice",
			       "email:alice@univ.example.ac.jp", 0, &subject, &e),
			 0);
	assert_string_equal(subject, "CN=Alice,OU=Lab,O=Example University");
	free(subject);
	/* shortlived only when the face offers it (ACME): not from any other face */
	assert_int_equal(issue("UNIV", "shortlived", "", "DNS:www.univ.example.ac.jp", 1, NULL, &e),
			 -1);
	assert_non_null(strstr(e.msg, "shortlived over ACME"));
	/* server: the CN one of the names, else the first name */
	assert_int_equal(issue("UNIV", "server", "", "DNS:www.univ.example.ac.jp", 0, &subject, &e),
			 0);
	assert_string_equal(subject, "CN=www.univ.example.ac.jp,O=Example University");
	free(subject);
	assert_int_equal(issue("UNIV", "server", "/CN=www.other.example",
			       "DNS:www.univ.example.ac.jp", 0, NULL, &e),
			 -1);
	assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
	assert_non_null(strstr(e.msg, "CN \"www.other.example\" is not one of the certificate's "
				      "names"));
	/* the refusals and their kinds */
	assert_int_equal(issue("UNIV", "client", "/O=Other Corp/CN=Alice",
			       "email:alice@univ.example.ac.jp", 0, NULL, &e),
			 -1);
	assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
	assert_non_null(strstr(e.msg, "O \"Other Corp\" is not the registered name of "
				      "organization UNIV (\"Example University\")"));
	assert_int_equal(
	    issue("UNIV", "client", "/CN=CEO", "email:ceo@other.example.jp", 0, NULL, &e), -1);
	assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
	assert_int_equal(issue("UNIV", "client", "", "email:alice@univ.example.ac.jp", 0, NULL, &e),
			 -1);
	assert_non_null(strstr(e.msg, "the holder's name (CN) is missing"));
	/* a client CN is one of its addresses or a person's name, never another's address or a
	 * host name; a code-signing CN is the organization's registered name (absent: that name) */
	assert_int_equal(issue("UNIV", "client", "/CN=ceo@other.example.jp",
			       "email:alice@univ.example.ac.jp", 0, NULL, &e),
			 -1);
	assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
	assert_non_null(strstr(e.msg, "CN \"ceo@other.example.jp\" is neither one of the "
				      "certificate's e-mail addresses nor a person's name"));
	assert_int_equal(issue("UNIV", "client", "/CN=www.other.example",
			       "email:alice@univ.example.ac.jp", 0, NULL, &e),
			 -1);
	assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
	assert_int_equal(issue("UNIV", "client", "/CN=Alice@Univ.Example.ac.jp",
			       "email:alice@univ.example.ac.jp", 0, &subject, &e),
			 0);
	assert_string_equal(subject, "CN=Alice@Univ.Example.ac.jp,O=Example University");
	free(subject);
	assert_int_equal(issue("UNIV", "client", "/CN=J. R. Tolkien",
			       "email:alice@univ.example.ac.jp", 0, &subject, &e),
			 0);
	assert_string_equal(subject, "CN=J. R. Tolkien,O=Example University");
	free(subject);
	assert_int_equal(issue("UNIV", "codesign", "/CN=Microsoft Corporation",
			       "email:alice@univ.example.ac.jp", 0, NULL, &e),
			 -1);
	assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
	assert_non_null(strstr(e.msg, "CN \"Microsoft Corporation\" of a code-signing certificate "
				      "must be the organization's registered name \"Example "
				      "University\""));
	assert_int_equal(
	    issue("UNIV", "codesign", "", "email:alice@univ.example.ac.jp", 0, &subject, &e), 0);
	assert_string_equal(subject, "CN=Example University,O=Example University");
	free(subject);
	assert_int_equal(
	    issue("BARE", "server", "/CN=www.bare.example", "DNS:www.bare.example", 0, NULL, &e),
	    -1);
	assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
	assert_int_equal(issue("NOPE", "server", "/CN=a.example", "DNS:a.example", 0, NULL, &e),
			 -1);
	assert_int_equal(e.kind, CA_REFUSAL_ORG);
	assert_int_equal(issue("UNIV", "ocsp", "/CN=x", NULL, 0, NULL, &e), -1);
	assert_int_equal(e.kind, CA_REFUSAL_PROFILE);
	assert_int_equal(issue("UNIV", "server", "/CN=nosan.univ.example.ac.jp", NULL, 0, NULL, &e),
			 -1);
	assert_int_equal(e.kind, CA_REFUSAL_LINT);
	assert_string_equal(ca_refusal_name(CA_REFUSAL_NAME_POLICY), "name-policy");
	assert_string_equal(ca_refusal_name(99), "none");
	/* a face that gives the names (the portal) gives the CN under the same rules: a client's
	 * is a person's name, a code-signing certificate names the organization whatever the CSR
	 * or the face says */
	{
		static const char *const cases[][4] = {
		    /* profile, the face's CN, the CSR's subject, the subject or (refused) "!" and
		     * what the refusal says */
		    {"codesign", NULL, "/CN=Microsoft Corporation",
		     "CN=Example University,O=Example University"},
		    {"codesign", "Microsoft Corporation", "",
		     "!of a code-signing certificate must be the organization's registered name"},
		    {"client", "Alice Example", "/CN=ceo@other.example.jp",
		     "CN=Alice Example,O=Example University"},
		    {"client", "www.other.example", "",
		     "!is neither one of the certificate's e-mail addresses nor a person's name"},
		};
		const char *const email = "alice@univ.example.ac.jp";

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct ra_issue_req q;
			struct ca_issued out;
			unsigned char *der;
			int len;

			der = tu_csr_ex(cases[i][2], NULL, &len);
			memset(&q, 0, sizeof(q));
			q.profile = cases[i][0];
			q.org_code = "UNIV";
			q.cn = cases[i][1];
			q.email = email;
			q.names_given = 1;
			q.csr = der;
			q.csrlen = (size_t)len;
			q.actor = "unit";
			err_clear(&e);
			if (cases[i][3][0] == '!') {
				assert_int_equal(ra_issue(fx.ca, fx.st, &q, &out, &e), -1);
				assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
				assert_non_null(strstr(e.msg, cases[i][3] + 1));
			} else {
				struct store_cert c;

				if (ra_issue(fx.ca, fx.st, &q, &out, &e) != 0)
					fail_msg("case %zu: %s", i, e.msg);
				memset(&c, 0, sizeof(c));
				assert_int_equal(store_cert_get(fx.st, out.serial, &c, &e), 0);
				assert_string_equal(c.subject, cases[i][3]);
				store_cert_clear(&c);
				ca_issued_clear(&out);
			}
			OPENSSL_free(der);
		}
	}
	/* a garbage request is a CSR refusal */
	{
		struct ra_issue_req q;
		struct ca_issued out;

		memset(&q, 0, sizeof(q));
		q.profile = "server";
		q.org_code = "UNIV";
		q.csr = (const unsigned char *)"garbage";
		q.csrlen = 7;
		err_clear(&e);
		assert_int_equal(ra_issue(fx.ca, fx.st, &q, &out, &e), -1);
		assert_int_equal(e.kind, CA_REFUSAL_CSR);
	}
	/* unrestricted: any name, still the RA's subject; check_only stores nothing */
	ra_org_change_init(&ch);
	ch.unrestricted = 1;
	assert_int_equal(ra_org_set(fx.st, "BARE", &ch, "unit", &e), 0);
	assert_int_equal(
	    issue("BARE", "server", "/CN=www.bare.example", "DNS:www.bare.example", 1, NULL, &e),
	    0);
	assert_int_equal(store_cert_count(fx.st, -1, &n, &e), 0);
	assert_int_equal(n, n0 + 7);
	assert_int_equal(issue("BARE", "server", "/CN=www.bare.example", "DNS:www.bare.example", 0,
			       &subject, &e),
			 0);
	assert_string_equal(subject, "CN=www.bare.example,O=Bare");
	free(subject);
}

static void
test_org_set(void **state)
{
	const char *const bad_ip[] = {"192.0.2.300"};
	const char *const bad_pfx[] = {"192.0.2.0/33"};
	const char *const host_bits[] = {"192.0.2.10/24"};
	const char *const host_bits6[] = {"2001:db8:1::/32"};
	const char *const bad_uri[] = {"not a uri"};
	const char *const ok_ip[] = {"2001:db8::/32", "192.0.2.1"};
	struct ra_org_change ch;
	struct store_org o;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(ra_org_add(fx.st, "UNIV", "Example University", NULL, "unit", &e), 0);
	ra_org_change_init(&ch);
	ch.ips.v = bad_ip;
	ch.ips.n = 1;
	ch.ips.set = 1;
	assert_int_equal(ra_org_set(fx.st, "UNIV", &ch, "unit", &e), -1);
	assert_non_null(strstr(e.msg, "not an IPv4 or IPv6 address"));
	ch.ips.v = bad_pfx;
	err_clear(&e);
	assert_int_equal(ra_org_set(fx.st, "UNIV", &ch, "unit", &e), -1);
	/* a prefix with bits set after its length is a mistake for the address or the network */
	ch.ips.v = host_bits;
	err_clear(&e);
	assert_int_equal(ra_org_set(fx.st, "UNIV", &ch, "unit", &e), -1);
	assert_non_null(strstr(e.msg, "ip 192.0.2.10/24 has bits set after its prefix length "
				      "(the network is 192.0.2.0/24)"));
	ch.ips.v = host_bits6;
	err_clear(&e);
	assert_int_equal(ra_org_set(fx.st, "UNIV", &ch, "unit", &e), -1);
	assert_non_null(strstr(e.msg, "(the network is 2001:db8::/32)"));
	ra_org_change_init(&ch);
	ch.uris.v = bad_uri;
	ch.uris.n = 1;
	ch.uris.set = 1;
	err_clear(&e);
	assert_int_equal(ra_org_set(fx.st, "UNIV", &ch, "unit", &e), -1);
	assert_non_null(strstr(e.msg, "not an absolute URI"));
	ra_org_change_init(&ch);
	ch.ips.v = ok_ip;
	ch.ips.n = 2;
	ch.ips.set = 1;
	ch.unrestricted = 1;
	ch.name = "Example University (new)";
	err_clear(&e);
	assert_int_equal(ra_org_set(fx.st, "UNIV", &ch, "unit", &e), 0);
	memset(&o, 0, sizeof(o));
	assert_int_equal(store_org_get(fx.st, "UNIV", &o, &e), 0);
	assert_string_equal(o.name, "Example University (new)");
	assert_int_equal(o.unrestricted, 1);
	assert_int_equal(o.nips, 2);
	assert_int_equal(o.ndomains, 0);
	store_org_clear(&o);
	assert_int_equal(ra_org_set(fx.st, "NOPE", &ch, "unit", &e), -1);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_email_in_org),
	};
	const struct CMUnitTest sqlite[] = {
	    cmocka_unit_test_setup_teardown(test_issue, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_org_set, setup_sqlite, teardown),
	};
	const struct CMUnitTest pg[] = {
	    cmocka_unit_test_setup_teardown(test_issue, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_org_set, setup_pg, teardown),
	};
	int failed = cmocka_run_group_tests_name("ra policy", pure, NULL, NULL);

	failed += cmocka_run_group_tests_name("ra_issue on SQLite", sqlite, NULL, NULL);
	return failed + cmocka_run_group_tests_name("ra_issue on PostgreSQL", pg, NULL, NULL);
}
