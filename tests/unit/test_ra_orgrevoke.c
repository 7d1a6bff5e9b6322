/*
 * Bulk revocation of a console search result (ra_ocert_revoke_set, ra_ocert_revoke_many in
 * src/ra/orgcert.c) on SQLite and PostgreSQL: the set is the officer's organization's
 * certificates of the kind that pass the filter and are not revoked (another organization's
 * and another kind's never); an officer without the kind's permission is refused; the reason
 * and the comment follow the single revocation (a comment for unspecified); a stale digest
 * (the result changed, or the same confirmation sent twice) revokes nothing; a good one
 * revokes exactly the set in one transaction, each with its console.revoke audit entry.
 */
#include "testutil.h"
#include "tu_x509.h"
#include "tu_ca.h"
#include "tu_ra.h"

#define OK(x) assert_int_equal((x), 0)

static struct tu_ra fx;
static int want_pg;
static struct ra_officer off1, off2; /* EX1, EX2 */

static int
hook_ready(void *arg, struct store *st, const struct store_certadmin *a, const char *token,
	   struct err *e)
{
	(void)arg;
	(void)st;
	(void)a;
	(void)token;
	(void)e;
	return 0;
}

static const struct ra_ocert_notify notify = {NULL, hook_ready, NULL, NULL};

static void
officer(struct ra_officer *o, const char *code, int64_t id)
{
	struct store_org org;
	struct err e;

	memset(o, 0, sizeof(*o));
	memset(&org, 0, sizeof(org));
	err_clear(&e);
	OK(store_org_get(fx.ca.st, code, &org, &e));
	o->id = id;
	o->org_id = org.id;
	snprintf(o->org_code, sizeof(o->org_code), "%s", code);
	o->role = RA_ROLE_OFFICER;
	o->perms = RA_PERM_SERVER | RA_PERM_CLIENT;
	o->active = 1;
	store_org_clear(&org);
}

static int
setup(void **state)
{
	(void)state;
	tu_ra_open(&fx, want_pg, 0, "test_ra_orgrevoke");
	officer(&off1, "EX1", 7);
	officer(&off2, "EX2", 8);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_ra_close(&fx);
	return 0;
}

/* Issues a certificate of kind k for o (a renewal of replaces, or NULL); serial out. */
static void
issue_ex(const struct ra_officer *o, enum ra_ocert_kind k, const char *cn, const char *replaces,
	 char serial[STORE_SERIAL_MAX])
{
	struct ra_ocert_req q;
	struct ca_issued is;
	struct err e;
	unsigned char *csr;
	char subj[300];
	int len;

	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	csr = k == RA_OCERT_SERVER ? tu_csr(cn, &len)
				   : tu_csr_ex(subj, "email:alice@example.co.jp", &len);
	memset(&q, 0, sizeof(q));
	memset(&is, 0, sizeof(is));
	q.kind = k;
	q.officer = o;
	q.csr = csr;
	q.csrlen = (size_t)len;
	q.admin_name = "Hanako Admin";
	q.admin_email = "admin@example.co.jp";
	q.server_software = k == RA_OCERT_SERVER ? "nginx 1.24" : NULL;
	q.replaces = replaces;
	q.n = &notify;
	err_clear(&e);
	if (ra_ocert_issue(fx.ca.ca, fx.ca.st, &q, &is, &e) == -1)
		fail_msg("issue %s: %s", cn, e.msg);
	snprintf(serial, STORE_SERIAL_MAX, "%s", is.serial);
	ca_issued_clear(&is);
	OPENSSL_free(csr);
}

static void
issue(const struct ra_officer *o, enum ra_ocert_kind k, const char *cn,
      char serial[STORE_SERIAL_MAX])
{
	issue_ex(o, k, cn, NULL, serial);
}

/* The certificate's status as the organization's officer sees it. */
static enum ra_cert_status
status_of(const struct ra_officer *o, const char *serial)
{
	struct ra_cert c;
	enum ra_cert_status s;
	struct err e;

	memset(&c, 0, sizeof(c));
	err_clear(&e);
	OK(ra_cert_get(fx.ca.ca, fx.ca.st, o->org_id, serial, 0, &c, &e));
	s = c.status;
	ra_cert_clear(&c);
	return s;
}

/* console.revoke entries by actor officer:7. */
static size_t
revoke_audits(void)
{
	struct store_audit_filter f;
	struct store_audit *v = NULL;
	size_t n = 0;
	struct err e;

	memset(&f, 0, sizeof(f));
	f.action = "console.revoke";
	f.actor = "officer:7";
	f.limit = 1000;
	err_clear(&e);
	OK(store_audit_list(fx.ca.st, &f, &v, &n, &e));
	STORE_LIST_FREE(v, n, store_audit_clear);
	return n;
}

static void
test_revoke_search_result(void **state)
{
	char a1[STORE_SERIAL_MAX], a2[STORE_SERIAL_MAX], b1[STORE_SERIAL_MAX];
	char c1[STORE_SERIAL_MAX], x1[STORE_SERIAL_MAX], dg[RA_OCERT_SET_DIGEST];
	char dg2[RA_OCERT_SET_DIGEST];
	struct ra_cert_filter f;
	struct ra_cert *v = NULL;
	struct ra_officer weak;
	size_t n = 0, done = 0, i;
	struct err e;

	(void)state;
	issue(&off1, RA_OCERT_SERVER, "lab1.example.co.jp", a1);
	issue(&off1, RA_OCERT_SERVER, "lab2.example.co.jp", a2);
	issue(&off1, RA_OCERT_SERVER, "www.example.co.jp", b1);
	issue(&off1, RA_OCERT_CLIENT, "lab-person", c1);
	issue(&off2, RA_OCERT_SERVER, "lab1.other.example.jp", x1);

	/* the set: EX1's server certificates whose names contain "lab" — not the client one,
	 * not EX2's */
	ra_cert_filter_init(&f);
	f.name = "lab";
	err_clear(&e);
	OK(ra_ocert_revoke_set(fx.ca.ca, fx.ca.st, &off1, RA_OCERT_SERVER, &f, &v, &n, dg, &e));
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++)
		assert_true(strcmp(v[i].serial, a1) == 0 || strcmp(v[i].serial, a2) == 0);
	assert_int_equal(strlen(dg), 64);
	ra_cert_list_free(v, n);

	/* without the kind's permission: refused */
	weak = off1;
	weak.perms = RA_PERM_CLIENT;
	err_clear(&e);
	assert_int_equal(ra_ocert_revoke_many(fx.ca.ca, fx.ca.st, &weak, RA_OCERT_SERVER, &f, dg, 5,
					      "", &done, &e),
			 -1);
	assert_int_equal(e.code, ERR_REFUSED);
	/* unspecified without a comment: refused, nothing revoked */
	err_clear(&e);
	assert_int_equal(ra_ocert_revoke_many(fx.ca.ca, fx.ca.st, &off1, RA_OCERT_SERVER, &f, dg, 0,
					      "", &done, &e),
			 -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_non_null(strstr(e.msg, "comment"));
	/* a stale digest: nothing */
	err_clear(&e);
	assert_int_equal(ra_ocert_revoke_many(fx.ca.ca, fx.ca.st, &off1, RA_OCERT_SERVER, &f, "00",
					      5, "", &done, &e),
			 -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_int_equal(status_of(&off1, a1), RA_CERT_VALID);
	assert_int_equal(revoke_audits(), 0);

	/* the good one: exactly the two, each audited */
	err_clear(&e);
	OK(ra_ocert_revoke_many(fx.ca.ca, fx.ca.st, &off1, RA_OCERT_SERVER, &f, dg, 0, "lab closed",
				&done, &e));
	assert_int_equal(done, 2);
	assert_int_equal(status_of(&off1, a1), RA_CERT_REVOKED);
	assert_int_equal(status_of(&off1, a2), RA_CERT_REVOKED);
	assert_int_equal(status_of(&off1, b1), RA_CERT_VALID);
	assert_int_equal(status_of(&off1, c1), RA_CERT_VALID);
	assert_int_equal(status_of(&off2, x1), RA_CERT_VALID);
	assert_int_equal(revoke_audits(), 2);

	/* the same confirmation again: the set is empty now, nothing more */
	err_clear(&e);
	assert_int_equal(ra_ocert_revoke_many(fx.ca.ca, fx.ca.st, &off1, RA_OCERT_SERVER, &f, dg, 0,
					      "lab closed", &done, &e),
			 -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_int_equal(done, 0);
	err_clear(&e);
	OK(ra_ocert_revoke_set(fx.ca.ca, fx.ca.st, &off1, RA_OCERT_SERVER, &f, &v, &n, dg2, &e));
	assert_int_equal(n, 0);
	assert_string_not_equal(dg, dg2);
	ra_cert_list_free(v, n);
	assert_int_equal(revoke_audits(), 2);
}

/* The replacement state of serial's record ("" for none). */
static void
replace_state(const char *serial, char out[16])
{
	struct store_certadmin a;
	struct err e;

	memset(&a, 0, sizeof(a));
	err_clear(&e);
	OK(store_certadmin_get(fx.ca.st, serial, &a, &e));
	snprintf(out, 16, "%s", a.replace_state != NULL ? a.replace_state : "");
	store_certadmin_clear(&a);
}

static void
assert_state(const char *serial, const char *want)
{
	char got[16];

	replace_state(serial, got);
	assert_string_equal(got, want);
}

/*
 * Issue 13 review L1: an old certificate waiting for its replacement is superseded only while
 * its renewal is still valid; the renewal revoked (by the console at once, elsewhere by the
 * schedule's next run), the old one waits no more and stays valid; a later renewal makes it
 * wait again and, its time come, supersedes it.
 */
static void
test_replacement_follows_renewal(void **state)
{
	char old[STORE_SERIAL_MAX], r1[STORE_SERIAL_MAX], r2[STORE_SERIAL_MAX];
	char r3[STORE_SERIAL_MAX];
	size_t revoked = 0, reminded = 0;
	time_t later = util_now() + 30 * 86400L; /* past console.replace_days (14) */
	struct err e;

	(void)state;
	issue(&off1, RA_OCERT_SERVER, "old.example.co.jp", old);
	assert_state(old, "");
	issue_ex(&off1, RA_OCERT_SERVER, "old.example.co.jp", old, r1);
	assert_state(old, "waiting");
	/* the renewal revoked in the console: at once, the old one waits no more */
	err_clear(&e);
	OK(ra_ocert_revoke(fx.ca.ca, fx.ca.st, &off1, r1, 1, "key lost", &e));
	assert_state(old, "");
	err_clear(&e);
	OK(ra_ocert_replace_due(fx.ca.ca, fx.ca.st, later, NULL, &revoked, &reminded, &e));
	assert_int_equal(revoked, 0);
	assert_int_equal(status_of(&off1, old), RA_CERT_VALID);

	/* renewed again, that renewal revoked outside the console (the CLI): the schedule */
	issue_ex(&off1, RA_OCERT_SERVER, "old.example.co.jp", old, r2);
	assert_state(old, "waiting");
	err_clear(&e);
	OK(ca_revoke(fx.ca.ca, fx.ca.st, r2, 1, 0, "cli", &e));
	assert_state(old, "waiting");
	err_clear(&e);
	OK(ra_ocert_replace_due(fx.ca.ca, fx.ca.st, later, NULL, &revoked, &reminded, &e));
	assert_int_equal(revoked, 0);
	assert_int_equal(reminded, 0);
	assert_state(old, "");
	assert_int_equal(status_of(&off1, old), RA_CERT_VALID);

	/* a renewal that stays valid: superseded when its time comes */
	issue_ex(&off1, RA_OCERT_SERVER, "old.example.co.jp", old, r3);
	assert_state(old, "waiting");
	err_clear(&e);
	OK(ra_ocert_replace_due(fx.ca.ca, fx.ca.st, later, NULL, &revoked, &reminded, &e));
	assert_int_equal(revoked, 1);
	assert_state(old, "replaced");
	assert_int_equal(status_of(&off1, old), RA_CERT_REVOKED);
	assert_int_equal(status_of(&off1, r3), RA_CERT_VALID);
}

int
main(void)
{
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test(test_revoke_search_result),
	    cmocka_unit_test(test_replacement_follows_renewal),
	};
	int failed =
	    cmocka_run_group_tests_name("ra bulk revocation on SQLite", stored, setup, teardown);

	if (tu_pg() == NULL) {
		print_message("SHOMEI_TEST_PG is not set: PostgreSQL skipped "
			      "(run through scripts/with-pg.sh)\n");
		return failed;
	}
	want_pg = 1;
	return failed + cmocka_run_group_tests_name("ra bulk revocation on PostgreSQL", stored,
						    setup, teardown);
}
