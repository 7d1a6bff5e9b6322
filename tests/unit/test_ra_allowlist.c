/*
 * ra allow-list unit tests: the OU allow-list (store, ra_allow_* rules and audit) and its
 * enforcement by ra_issue() (CA_REFUSAL_NAME_POLICY), on SQLite and on PostgreSQL.
 */
#include "testutil.h"
#include "tu_x509.h"
#include "tu_ca.h"

#include "ra/ra.h"

static struct tu_ca fx;

static int
setup_sqlite(void **state)
{
	(void)state;
	tu_ca_open(&fx, 0, "test_ra_allowlist");
	return 0;
}

static int
setup_pg(void **state)
{
	(void)state;
	tu_ca_open(&fx, 1, "test_ra_allowlist");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_ca_close(&fx);
	return 0;
}

static void
test_ou_text(void **state)
{
	char long65[70];

	(void)state;
	assert_true(ra_allow_ou_ok("Lab"));
	assert_true(ra_allow_ou_ok("情報基盤センター"));
	assert_true(ra_allow_ou_ok("Dept. of Physics (Room 2)"));
	assert_false(ra_allow_ou_ok(""));
	assert_false(ra_allow_ou_ok("a\tb"));
	assert_false(ra_allow_ou_ok("a\nb"));
	assert_false(ra_allow_ou_ok("a\x7f"
				    "b"));
	assert_false(ra_allow_ou_ok("\xc2\x85")); /* C1 NEL */
	assert_false(ra_allow_ou_ok("\xff\xfe")); /* not UTF-8 */
	assert_false(ra_allow_ou_ok(" Lab"));
	assert_false(ra_allow_ou_ok("Lab "));
	memset(long65, 'a', 64);
	long65[64] = '\0';
	assert_true(ra_allow_ou_ok(long65));
	long65[64] = 'a';
	long65[65] = '\0';
	assert_false(ra_allow_ou_ok(long65));
}

/* Counts the audit entries with action. */
struct audit_count {
	const char *action;
	int n;
};

static int
audit_cb(void *arg, const struct store_audit *a)
{
	struct audit_count *c = arg;

	if (strcmp(a->action, c->action) == 0)
		c->n++;
	return 0;
}

static int
audit_n(const char *action)
{
	struct audit_count c = {action, 0};
	struct err e;

	err_clear(&e);
	assert_int_equal(store_audit_foreach(fx.st, audit_cb, &c, &e), 0);
	return c.n;
}

/* ra_issue of a client or server CSR; 0 or -1 with e. */
static int
issue(const char *profile, const char *subj, const char *san, struct err *e)
{
	struct ra_issue_req q;
	struct ca_issued out;
	unsigned char *der;
	int len, rc;

	der = tu_csr_ex(subj, san, &len);
	memset(&q, 0, sizeof(q));
	q.profile = profile;
	q.org_code = "UNIV";
	q.csr = der;
	q.csrlen = (size_t)len;
	q.actor = "unit";
	q.check_only = 1;
	err_clear(e);
	rc = ra_issue(fx.ca, fx.st, &q, &out, e);
	OPENSSL_free(der);
	ca_issued_clear(&out);
	return rc;
}

static void
test_allowlist(void **state)
{
	const char *const doms[] = {"univ.example.ac.jp", "lab.example.org"};
	struct ra_org_change ch;
	struct store_allow *v = NULL;
	size_t n = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	ra_org_change_init(&ch);
	ch.domains.v = doms;
	ch.domains.n = 2;
	ch.domains.set = 1;
	assert_int_equal(ra_org_add(fx.st, "UNIV", "Example University", &ch, "unit", &e), 0);
	assert_int_equal(ra_org_add(fx.st, "OTHER", "Other", NULL, "unit", &e), 0);

	/* without a list any OU passes */
	assert_int_equal(
	    issue("client", "/OU=Anything/CN=Alice", "email:alice@univ.example.ac.jp", &e), 0);

	/* the rules: organization, domain within its domains, OU text */
	err_clear(&e);
	assert_int_equal(ra_allow_add(fx.st, "NOPE", "univ.example.ac.jp", "Lab", "unit", &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	err_clear(&e);
	assert_int_equal(ra_allow_add(fx.st, "UNIV", "example.com", "Lab", "unit", &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_non_null(strstr(e.msg, "not within the domains of organization UNIV"));
	err_clear(&e);
	assert_int_equal(ra_allow_add(fx.st, "UNIV", "bad domain", "Lab", "unit", &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	err_clear(&e);
	assert_int_equal(ra_allow_add(fx.st, "UNIV", "univ.example.ac.jp", "a\tb", "unit", &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_int_equal(audit_n("allowlist.add"), 0);

	/* add (the domain folded to lower case), a repeat is a conflict */
	err_clear(&e);
	assert_int_equal(ra_allow_add(fx.st, "UNIV", "Univ.Example.AC.JP", "Lab", "unit", &e), 0);
	err_clear(&e);
	assert_int_equal(
	    ra_allow_add(fx.st, "UNIV", "univ.example.ac.jp", "情報基盤センター", "unit", &e), 0);
	err_clear(&e);
	assert_int_equal(ra_allow_add(fx.st, "UNIV", "cs.univ.example.ac.jp", "CS", "unit", &e), 0);
	err_clear(&e);
	assert_int_equal(ra_allow_add(fx.st, "UNIV", "univ.example.ac.jp", "Lab", "unit", &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_int_equal(audit_n("allowlist.add"), 3);
	assert_int_equal(ra_allow_list(fx.st, "UNIV", &v, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].domain, "cs.univ.example.ac.jp");
	assert_string_equal(v[1].domain, "univ.example.ac.jp");
	assert_string_equal(v[1].ou, "Lab");
	assert_string_equal(v[2].ou, "情報基盤センター");
	STORE_LIST_FREE(v, n, store_allow_clear);
	assert_int_equal(ra_allow_list(fx.st, "OTHER", &v, &n, &e), 0);
	assert_int_equal(n, 0);
	free(v);

	/* enforcement: a listed OU passes, another is refused with its kind */
	assert_int_equal(issue("client", "/OU=Lab/CN=Alice", "email:alice@univ.example.ac.jp", &e),
			 0);
	assert_int_equal(
	    issue("client", "/OU=Physics/CN=Alice", "email:alice@univ.example.ac.jp", &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
	assert_non_null(strstr(e.msg, "OU \"Physics\" is not on the OU allow-list of domain "
				      "univ.example.ac.jp"));
	/* the most specific listed domain decides: cs.* has its own list */
	assert_int_equal(issue("client", "/OU=CS/CN=Bob", "email:bob@cs.univ.example.ac.jp", &e),
			 0);
	assert_int_equal(issue("client", "/OU=Lab/CN=Bob", "email:bob@cs.univ.example.ac.jp", &e),
			 -1);
	assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
	/* server: the DNS names decide (a wildcard counts as its base) */
	assert_int_equal(issue("server", "/OU=Physics/CN=www.univ.example.ac.jp",
			       "DNS:www.univ.example.ac.jp", &e),
			 -1);
	assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
	assert_non_null(strstr(e.msg, "OU \"Physics\" is not on the OU allow-list of domain "
				      "univ.example.ac.jp (organization UNIV) for the name "
				      "www.univ.example.ac.jp"));
	assert_int_equal(issue("server", "/OU=Lab/CN=x.cs.univ.example.ac.jp",
			       "DNS:x.cs.univ.example.ac.jp", &e),
			 -1);
	assert_non_null(strstr(e.msg, "allow-list of domain cs.univ.example.ac.jp"));
	assert_int_equal(issue("server", "/OU=Physics", "DNS:*.univ.example.ac.jp", &e), -1);
	assert_int_equal(e.kind, CA_REFUSAL_NAME_POLICY);
	/* a domain without a list: any OU; no OU: nothing to check */
	assert_int_equal(issue("client", "/OU=Physics/CN=Carol", "email:carol@lab.example.org", &e),
			 0);
	assert_int_equal(issue("client", "/CN=Alice", "email:alice@univ.example.ac.jp", &e), 0);

	/* remove: audited; unknown entries are not found; an empty list allows any OU again */
	err_clear(&e);
	assert_int_equal(ra_allow_remove(fx.st, "UNIV", "univ.example.ac.jp", "Nope", "unit", &e),
			 -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	err_clear(&e);
	assert_int_equal(ra_allow_remove(fx.st, "UNIV", "univ.example.ac.jp", "Lab", "unit", &e),
			 0);
	err_clear(&e);
	assert_int_equal(
	    ra_allow_remove(fx.st, "UNIV", "univ.example.ac.jp", "情報基盤センター", "unit", &e),
	    0);
	assert_int_equal(audit_n("allowlist.remove"), 2);
	/* an entry stays removable after its organization lost the domain */
	err_clear(&e);
	assert_int_equal(ra_allow_add(fx.st, "UNIV", "lab.example.org", "Old", "unit", &e), 0);
	ra_org_change_init(&ch);
	ch.domains.v = doms;
	ch.domains.n = 1;
	ch.domains.set = 1;
	err_clear(&e);
	assert_int_equal(ra_org_set(fx.st, "UNIV", &ch, "unit", &e), 0);
	err_clear(&e);
	assert_int_equal(ra_allow_remove(fx.st, "UNIV", "lab.example.org", "Old", "unit", &e), 0);
	assert_int_equal(
	    issue("client", "/OU=Physics/CN=Alice", "email:alice@univ.example.ac.jp", &e), 0);
	assert_int_equal(ra_allow_list(fx.st, NULL, &v, &n, &e), 0);
	assert_int_equal(n, 1);
	STORE_LIST_FREE(v, n, store_allow_clear);
}

static void
test_form_claim(void **state)
{
	unsigned char nonce[RA_TOKEN_LEN];
	struct err e;
	int seen = -1;

	(void)state;
	err_clear(&e);
	util_random(nonce, sizeof(nonce));
	assert_int_equal(ra_form_claim(fx.st, nonce, &seen, &e), 0);
	assert_int_equal(seen, 0);
	assert_int_equal(ra_form_claim(fx.st, nonce, &seen, &e), 0);
	assert_int_equal(seen, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ou_text),
	    cmocka_unit_test_setup_teardown(test_allowlist, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_form_claim, setup_sqlite, teardown),
	    cmocka_unit_test_setup_teardown(test_allowlist, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_form_claim, setup_pg, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
