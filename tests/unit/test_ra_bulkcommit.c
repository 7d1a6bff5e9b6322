/*
 * ra_bulk_commit (src/ra/bulkcommit.c) on SQLite and on PostgreSQL: an officer of EX1
 * ("Example One", example.co.jp) commits server issue, renew and revoke files built as
 * ra_bulk_check leaves them.  All-or-nothing with a line the checks refused, and with a line
 * the name policy refuses, issues nothing; good lines issues the good ones; the dry run
 * writes nothing; the DN's O and CN must be the subject the RA builds; client issue lines
 * make keys here (per holder: both mails; method 2: one ZIP per user administrator; the
 * browser, a wrong O and renew lines refused); every commit writes one console.bulk audit entry
 * with its counts.
 */
#include <sodium.h>

#include "testutil.h"
#include "tu_x509.h"
#include "tu_ca.h"
#include "tu_ra.h"

#define OK(x) assert_int_equal((x), 0)

static struct tu_ra fx;
static int want_pg;
static struct ra_officer off;
static int readies; /* the user administrators' mails asked for */

static int
hook_ready(void *arg, struct store *st, const struct store_certadmin *a, const char *token,
	   struct err *e)
{
	(void)arg;
	(void)st;
	(void)token;
	(void)e;
	assert_non_null(a->admin_email);
	readies++;
	return 0;
}

static const struct ra_ocert_notify notify = {NULL, hook_ready, NULL, NULL};

static int
setup(void **state)
{
	struct ra_officer_new q;
	char pin[RA_OFFICER_PIN_LEN + 1];
	struct err e;

	(void)state;
	tu_ra_open(&fx, want_pg, 1, "test_ra_bulkcommit");
	err_clear(&e);
	memset(&q, 0, sizeof(q));
	q.org_code = "EX1";
	q.name = "Taro Yamada";
	q.email = "taro@example.co.jp";
	q.role = RA_ROLE_OFFICER;
	q.perms = RA_PERM_SERVER | RA_PERM_CLIENT;
	if (ra_officer_add(fx.ca.ca, fx.ca.st, &q, NULL, "unit", &off, pin, &e) == -1)
		fail_msg("ra_officer_add: %s", e.msg);
	assert_string_equal(off.org_name, "Example One");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_ra_close(&fx);
	return 0;
}

static int64_t
count_certs(void)
{
	int64_t n = 0;
	struct err e;

	err_clear(&e);
	OK(store_cert_count(fx.ca.st, -1, &n, &e));
	return n;
}

/* A good issue (or renew, with old) line for host cn with org O=org. */
static void
rec_server(struct ra_bulk_rec *r, size_t line, const char *cn, const char *org, const char *old)
{
	char subj[300], dn[400];
	unsigned char *der;
	int len;

	memset(r, 0, sizeof(*r));
	r->reason = -1;
	r->line = line;
	snprintf(subj, sizeof(subj), "/C=JP/ST=Tokyo/L=Chiyoda-ku/O=%s/CN=%s", org, cn);
	der = tu_csr_ex(subj, NULL, &len);
	r->csr = malloc((size_t)len);
	memcpy(r->csr, der, (size_t)len);
	r->csr_len = (size_t)len;
	OPENSSL_free(der);
	snprintf(dn, sizeof(dn), "CN=%s,O=%s,L=Chiyoda-ku,ST=Tokyo,C=JP", cn, org);
	r->subject_dn = strdup(dn);
	r->profile = "server";
	r->profile_id = 3;
	r->admin_name = strdup("Hanako Admin");
	r->admin_email = strdup("admin@example.co.jp");
	r->fqdn = strdup(cn);
	r->server_software = strdup("nginx1.24");
	r->dns = calloc(1, sizeof(char *));
	r->dns[0] = strdup(cn);
	r->ndns = 1;
	if (old != NULL)
		snprintf(r->serial, sizeof(r->serial), "%s", old);
}

/* A revoke line of serial for host cn. */
static void
rec_revoke(struct ra_bulk_rec *r, size_t line, const char *cn, const char *serial)
{
	char dn[400];

	memset(r, 0, sizeof(*r));
	r->line = line;
	snprintf(dn, sizeof(dn), "CN=%s,O=Example One,L=Chiyoda-ku,ST=Tokyo,C=JP", cn);
	r->subject_dn = strdup(dn);
	snprintf(r->serial, sizeof(r->serial), "%s", serial);
	r->reason = 5;
	r->comment = strdup("closed");
}

/* A result of n records (recs taken) and one bad line at bad (0: none). */
static void
result(struct ra_bulk_result *res, struct ra_bulk_rec *recs, size_t n, size_t bad)
{
	memset(res, 0, sizeof(*res));
	res->recs = calloc(n + 1, sizeof(*recs));
	memcpy(res->recs, recs, n * sizeof(*recs));
	res->nrecs = n;
	res->good = n;
	res->total = n;
	if (bad != 0) {
		res->errs = calloc(1, sizeof(*res->errs));
		res->errs[0].line = bad;
		res->errs[0].column = 11;
		res->errs[0].col = RA_BULK_COL_FQDN;
		res->errs[0].code = RA_BULK_E_FQDN;
		snprintf(res->errs[0].msg, sizeof(res->errs[0].msg), "fqdn: not the CN");
		res->nerrs = 1;
		res->bad = 1;
		res->total++;
	}
}

static int
commit(enum ra_bulk_op op, enum ra_bulk_mode mode, int check_only, const struct ra_bulk_result *res,
       struct ra_bulk_outcome **out, size_t *n, struct ra_bulk_counts *c)
{
	struct ra_bulk_commit_req q;
	struct err e;

	memset(&q, 0, sizeof(q));
	q.kind = RA_BULK_SERVER;
	q.op = op;
	q.mode = mode;
	q.check_only = check_only;
	q.officer = &off;
	q.n = &notify;
	err_clear(&e);
	return ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, res, out, n, c, &e);
}

/* The newest console.bulk entry's detail (caller frees), or NULL. */
static char *
last_bulk_audit(void)
{
	struct store_audit_filter f;
	struct store_audit *v = NULL;
	size_t n = 0;
	struct err e;
	char *s = NULL;

	memset(&f, 0, sizeof(f));
	f.action = "console.bulk";
	f.limit = 1;
	err_clear(&e);
	OK(store_audit_list(fx.ca.st, &f, &v, &n, &e));
	if (n == 1) {
		s = strdup(v[0].detail);
		assert_string_equal(v[0].object, "EX1");
	}
	STORE_LIST_FREE(v, n, store_audit_clear);
	return s;
}

static void
test_issue_modes(void **state)
{
	struct ra_bulk_rec recs[3];
	struct ra_bulk_result res;
	struct ra_bulk_outcome *o = NULL;
	struct ra_bulk_counts c;
	size_t n = 0;
	int64_t before = count_certs();
	char *d;

	(void)state;
	/* all-or-nothing, line 2 bad: nothing */
	rec_server(&recs[0], 1, "a1.example.co.jp", "Example One", NULL);
	rec_server(&recs[1], 3, "a3.example.co.jp", "Example One", NULL);
	result(&res, recs, 2, 2);
	readies = 0;
	OK(commit(RA_BULK_ISSUE, RA_BULK_ALL_OR_NOTHING, 0, &res, &o, &n, &c));
	assert_int_equal(n, 3);
	assert_int_equal(o[0].state, RA_BULK_SKIPPED);
	assert_int_equal(o[1].state, RA_BULK_BAD);
	assert_int_equal(o[1].line, 2);
	assert_int_equal(o[1].col, RA_BULK_COL_FQDN);
	assert_int_equal(o[2].state, RA_BULK_SKIPPED);
	assert_int_equal(c.done, 0);
	assert_int_equal(c.bad, 1);
	assert_int_equal(c.skipped, 2);
	assert_int_equal(count_certs(), before);
	assert_int_equal(readies, 0);
	d = last_bulk_audit();
	assert_non_null(d);
	assert_non_null(strstr(d, "mode=all_or_nothing lines=3 done=0 bad=1"));
	free(d);
	free(o);

	/* the dry run: the good lines checked, nothing written */
	OK(commit(RA_BULK_ISSUE, RA_BULK_GOOD_LINES, 1, &res, &o, &n, &c));
	assert_int_equal(c.checked, 2);
	assert_int_equal(count_certs(), before);
	free(o);

	/* good lines: 1 and 3 issued, mailed */
	OK(commit(RA_BULK_ISSUE, RA_BULK_GOOD_LINES, 0, &res, &o, &n, &c));
	assert_int_equal(c.done, 2);
	assert_int_equal(o[0].state, RA_BULK_DONE);
	assert_true(o[0].serial[0] != '\0');
	assert_int_equal(o[2].state, RA_BULK_DONE);
	assert_int_equal(count_certs(), before + 2);
	assert_int_equal(readies, 2);
	d = last_bulk_audit();
	assert_non_null(strstr(d, "kind=server op=issue mode=good_lines lines=3 done=2 bad=1"));
	free(d);
	free(o);
	ra_bulk_result_free(&res);

	/* all-or-nothing: a name outside the organization's domains refuses all */
	rec_server(&recs[0], 1, "b1.example.co.jp", "Example One", NULL);
	rec_server(&recs[1], 2, "b2.other.example.jp", "Example One", NULL);
	rec_server(&recs[2], 3, "b3.example.co.jp", "Example One", NULL);
	result(&res, recs, 3, 0);
	before = count_certs();
	OK(commit(RA_BULK_ISSUE, RA_BULK_ALL_OR_NOTHING, 0, &res, &o, &n, &c));
	assert_int_equal(c.refused, 1);
	assert_int_equal(o[1].state, RA_BULK_REFUSED);
	assert_int_equal(o[1].err, ERR_REFUSED);
	assert_int_equal(o[1].kind, CA_REFUSAL_NAME_POLICY);
	assert_int_equal(c.skipped, 2);
	assert_int_equal(count_certs(), before);
	free(o);
	ra_bulk_result_free(&res);

	/* the DN's O must be the organization's registered name */
	rec_server(&recs[0], 1, "c1.example.co.jp", "Other Name", NULL);
	result(&res, recs, 1, 0);
	OK(commit(RA_BULK_ISSUE, RA_BULK_GOOD_LINES, 0, &res, &o, &n, &c));
	assert_int_equal(o[0].state, RA_BULK_REFUSED);
	assert_non_null(strstr(o[0].msg, "registered name"));
	assert_int_equal(count_certs(), before);
	free(o);
	ra_bulk_result_free(&res);

	/* all-or-nothing with every line good: all */
	rec_server(&recs[0], 1, "d1.example.co.jp", "Example One", NULL);
	rec_server(&recs[1], 2, "d2.example.co.jp", "Example One", NULL);
	result(&res, recs, 2, 0);
	OK(commit(RA_BULK_ISSUE, RA_BULK_ALL_OR_NOTHING, 0, &res, &o, &n, &c));
	assert_int_equal(c.done, 2);
	assert_int_equal(count_certs(), before + 2);
	free(o);
	ra_bulk_result_free(&res);
}

static void
test_renew_revoke(void **state)
{
	struct ra_bulk_rec recs[2];
	struct ra_bulk_result res;
	struct ra_bulk_outcome *o = NULL;
	struct ra_bulk_counts c;
	struct ra_cert rc;
	size_t n = 0;
	char s1[STORE_SERIAL_MAX], s2[STORE_SERIAL_MAX];
	struct err e;

	(void)state;
	rec_server(&recs[0], 1, "r1.example.co.jp", "Example One", NULL);
	rec_server(&recs[1], 2, "r2.example.co.jp", "Example One", NULL);
	result(&res, recs, 2, 0);
	OK(commit(RA_BULK_ISSUE, RA_BULK_ALL_OR_NOTHING, 0, &res, &o, &n, &c));
	assert_int_equal(c.done, 2);
	snprintf(s1, sizeof(s1), "%s", o[0].serial);
	snprintf(s2, sizeof(s2), "%s", o[1].serial);
	free(o);
	ra_bulk_result_free(&res);

	/* renew r1 with a new key; a CN other than the old one's is refused */
	rec_server(&recs[0], 1, "r1.example.co.jp", "Example One", s1);
	rec_server(&recs[1], 2, "r9.example.co.jp", "Example One", s2);
	result(&res, recs, 2, 0);
	OK(commit(RA_BULK_RENEW, RA_BULK_GOOD_LINES, 0, &res, &o, &n, &c));
	assert_int_equal(o[0].state, RA_BULK_DONE);
	assert_string_not_equal(o[0].serial, s1);
	assert_int_equal(o[1].state, RA_BULK_REFUSED);
	assert_non_null(strstr(o[1].msg, "CN"));
	free(o);
	ra_bulk_result_free(&res);

	/* revoke r2; then again: revoked already (refused in the dry run too) */
	rec_revoke(&recs[0], 1, "r2.example.co.jp", s2);
	result(&res, recs, 1, 0);
	OK(commit(RA_BULK_REVOKE, RA_BULK_ALL_OR_NOTHING, 0, &res, &o, &n, &c));
	assert_int_equal(o[0].state, RA_BULK_DONE);
	free(o);
	err_clear(&e);
	memset(&rc, 0, sizeof(rc));
	OK(ra_cert_get(fx.ca.ca, fx.ca.st, off.org_id, s2, 0, &rc, &e));
	assert_int_equal(rc.status, RA_CERT_REVOKED);
	assert_int_equal(rc.reason, 5);
	ra_cert_clear(&rc);
	OK(commit(RA_BULK_REVOKE, RA_BULK_ALL_OR_NOTHING, 1, &res, &o, &n, &c));
	assert_int_equal(o[0].state, RA_BULK_REFUSED);
	assert_int_equal(o[0].err, ERR_CONFLICT);
	free(o);
	ra_bulk_result_free(&res);
}

/* What the client mail hooks were asked (holders' URLs and PIN URLs, ZIPs). */
static int c_urls, c_pins, c_zips;
static size_t c_zip_count;

static int
chook_url(void *arg, struct store *st, const struct store_certadmin *a, const char *token,
	  time_t expires, int pin_mailed, struct err *e)
{
	(void)arg, (void)st, (void)token, (void)expires, (void)e;
	assert_true(pin_mailed);
	assert_non_null(a->holder_email);
	c_urls++;
	return 0;
}

static int
chook_pin(void *arg, struct store *st, const struct store_certadmin *a, const char *token,
	  time_t expires, struct err *e)
{
	(void)arg, (void)st, (void)a, (void)token, (void)expires, (void)e;
	c_pins++;
	return 0;
}

static int
chook_zip(void *arg, struct store *st, const char *name, const char *addr, const char *token,
	  size_t count, time_t expires, struct err *e)
{
	(void)arg, (void)st, (void)name, (void)token, (void)expires, (void)e;
	assert_string_equal(addr, "admin@example.co.jp");
	c_zips++;
	c_zip_count = count;
	return 0;
}

static const struct ra_client_notify cnotify = {NULL, chook_url, chook_pin, chook_zip};

/* A client issue line: download method dl, holder's address mail, optional PIN. */
static void
rec_client(struct ra_bulk_rec *r, size_t line, const char *cn, const char *org, int dl,
	   const char *mail, const char *pin)
{
	char dn[400];

	memset(r, 0, sizeof(*r));
	r->reason = -1;
	r->line = line;
	snprintf(dn, sizeof(dn), "CN=%s,OU=Lab,O=%s,L=Chiyoda-ku,ST=Tokyo,C=JP", cn, org);
	r->subject_dn = strdup(dn);
	r->profile = "client";
	r->profile_id = 5;
	r->download = dl;
	r->admin_name = strdup("Hanako Admin");
	r->admin_email = strdup("admin@example.co.jp");
	r->holder_name = strdup(cn);
	r->holder_email = strdup(mail);
	r->p12_name = strdup("cert20261206-103000");
	if (pin != NULL)
		r->pin = strdup(pin);
}

static void
test_client_issue(void **state)
{
	struct ra_bulk_rec recs[5];
	struct ra_bulk_result res;
	struct ra_bulk_outcome *o = NULL;
	struct ra_bulk_counts c;
	struct ra_bulk_commit_req q;
	struct ra_bulk_zips zips;
	size_t n = 0;
	int64_t before = count_certs();
	struct err e;
	char *d;

	(void)state;
	c_urls = c_pins = c_zips = 0;
	rec_client(&recs[0], 1, "Ichiro Suzuki", "Example One", 1, "ichiro@example.co.jp", NULL);
	rec_client(&recs[1], 2, "Jiro Tanaka", "Example One", 2, "jiro@example.co.jp", "pin-4321");
	rec_client(&recs[2], 3, "Saburo Ito", "Example One", 2, "saburo@example.co.jp", NULL);
	rec_client(&recs[3], 4, "Shiro Kato", "Example One", 3, "shiro@example.co.jp", NULL);
	rec_client(&recs[4], 5, "Goro Sato", "Other Org", 1, "goro@example.co.jp", NULL);
	result(&res, recs, 5, 0);
	memset(&q, 0, sizeof(q));
	q.kind = RA_BULK_CLIENT;
	q.op = RA_BULK_ISSUE;
	q.mode = RA_BULK_ALL_OR_NOTHING;
	q.officer = &off;
	q.n = &notify;
	q.cn = &cnotify;
	q.zips = &zips;
	err_clear(&e);
	/* all or nothing: the browser line (3) and the wrong O refuse the file; nothing issued */
	OK(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e));
	assert_int_equal(o[3].state, RA_BULK_REFUSED);
	assert_non_null(strstr(o[3].msg, "browser"));
	assert_int_equal(o[4].state, RA_BULK_REFUSED);
	assert_non_null(strstr(o[4].msg, "O must be"));
	assert_int_equal(c.done, 0);
	assert_int_equal(count_certs(), before);
	assert_int_equal(zips.n, 0);
	free(o);
	/* good lines: per holder (both mails) and one ZIP of two for the user administrator */
	q.mode = RA_BULK_GOOD_LINES;
	OK(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e));
	assert_int_equal(c.done, 3);
	assert_int_equal(c.refused, 2);
	assert_int_equal(o[0].state, RA_BULK_DONE);
	assert_int_equal(o[1].state, RA_BULK_DONE);
	assert_int_equal(o[2].state, RA_BULK_DONE);
	assert_int_equal(count_certs(), before + 3);
	assert_int_equal(c_urls, 1);
	assert_int_equal(c_pins, 1);
	assert_int_equal(c_zips, 1);
	assert_int_equal(c_zip_count, 2);
	assert_int_equal(zips.n, 1);
	assert_true(zips.v[0].stored);
	assert_int_equal(zips.v[0].count, 2);
	assert_int_equal(strlen(zips.v[0].password), RA_CLIENT_ZIP_PW_LEN);
	assert_string_equal(zips.v[0].admin_email, "admin@example.co.jp");
	ra_bulk_zips_wipe(&zips);
	d = last_bulk_audit();
	assert_non_null(strstr(d, "kind=client op=issue mode=good_lines lines=5 done=3"));
	free(d);
	free(o);
	/* renew lines are refused with the way to do it */
	q.op = RA_BULK_RENEW;
	OK(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e));
	assert_int_equal(o[0].state, RA_BULK_REFUSED);
	assert_non_null(strstr(o[0].msg, "revoking the old"));
	free(o);
	/* acme is not committed here */
	q.kind = RA_BULK_ACME;
	q.op = RA_BULK_CREATE;
	assert_int_equal(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e), -1);
	assert_null(o);
	ra_bulk_result_free(&res);
}

/* What the progress callback saw: calls per pass, the last done and total of each. */
struct seen {
	size_t calls[3], done[3], total[3];
	int order_ok; /* pass 0 never after pass 1, nor 1 after 2 */
	int last_pass;
};

static void
on_progress(void *arg, int pass, size_t done, size_t total)
{
	struct seen *s = arg;

	assert_true(pass >= 0 && pass <= 2);
	assert_true(done <= total);
	if (pass < s->last_pass)
		s->order_ok = 0;
	s->last_pass = pass;
	s->calls[pass]++;
	s->done[pass] = done;
	s->total[pass] = total;
}

/*
 * The progress callback: the commit pass (signing) line by line up to its total, then the
 * storing pass over what it signed (a server file's all-or-nothing commit runs no check pass:
 * its one transaction undoes a refused line's file); good lines over the good lines only; bad
 * lines are not counted.
 */
static void
test_progress(void **state)
{
	struct ra_bulk_rec recs[3];
	struct ra_bulk_result res;
	struct ra_bulk_outcome *o = NULL;
	struct ra_bulk_counts c;
	struct ra_bulk_commit_req q;
	struct seen sn;
	size_t n = 0;
	struct err e;

	(void)state;
	rec_server(&recs[0], 1, "g1.example.co.jp", "Example One", NULL);
	rec_server(&recs[1], 2, "g2.example.co.jp", "Example One", NULL);
	rec_server(&recs[2], 3, "g3.example.co.jp", "Example One", NULL);
	result(&res, recs, 3, 0);
	memset(&q, 0, sizeof(q));
	q.kind = RA_BULK_SERVER;
	q.op = RA_BULK_ISSUE;
	q.mode = RA_BULK_ALL_OR_NOTHING;
	q.officer = &off;
	q.n = &notify;
	q.progress = on_progress;
	q.progress_arg = &sn;
	memset(&sn, 0, sizeof(sn));
	sn.order_ok = 1;
	err_clear(&e);
	OK(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e));
	assert_int_equal(c.done, 3);
	assert_true(sn.order_ok);
	/* a server file's all-or-nothing commit is one transaction: no check pass before it */
	assert_int_equal(sn.calls[0], 0);
	assert_int_equal(sn.calls[1], 4); /* 0 of 3, then each line */
	assert_int_equal(sn.done[1], 3);
	assert_int_equal(sn.total[1], 3);
	assert_int_equal(sn.calls[2], 4);
	assert_int_equal(sn.done[2], 3);
	assert_int_equal(sn.total[2], 3);
	free(o);
	ra_bulk_result_free(&res);

	/* good lines with a bad line 2: the commit pass only, over the two good lines */
	rec_server(&recs[0], 1, "g4.example.co.jp", "Example One", NULL);
	rec_server(&recs[1], 3, "g5.example.co.jp", "Example One", NULL);
	result(&res, recs, 2, 2);
	q.mode = RA_BULK_GOOD_LINES;
	memset(&sn, 0, sizeof(sn));
	sn.order_ok = 1;
	OK(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e));
	assert_int_equal(c.done, 2);
	assert_int_equal(sn.calls[0], 0);
	assert_int_equal(sn.calls[1], 3);
	assert_int_equal(sn.done[1], 2);
	assert_int_equal(sn.total[1], 2);
	assert_int_equal(sn.calls[2], 3);
	assert_int_equal(sn.done[2], 2);
	assert_int_equal(sn.total[2], 2);
	free(o);
	ra_bulk_result_free(&res);
}

/*
 * A job may wait in a queue: the officer is read again when it runs.  Disabled meanwhile, or
 * without the kind's permission: the file is refused whole and nothing is issued.
 */
static void
test_officer_now(void **state)
{
	struct ra_bulk_rec recs[1];
	struct ra_bulk_result res;
	struct ra_bulk_outcome *o = NULL;
	struct ra_bulk_counts c;
	struct ra_bulk_commit_req q;
	size_t n = 0;
	int64_t before = count_certs();
	struct err e;

	(void)state;
	memset(&q, 0, sizeof(q));
	q.kind = RA_BULK_SERVER;
	q.op = RA_BULK_ISSUE;
	q.mode = RA_BULK_GOOD_LINES;
	q.officer = &off; /* the copy taken when the file was sent: every permission */
	q.n = &notify;
	err_clear(&e);
	OK(ra_officer_set_perms(fx.ca.st, off.id, off.perms & ~RA_PERM_SERVER, "unit", &e));
	rec_server(&recs[0], 1, "n1.example.co.jp", "Example One", NULL);
	result(&res, recs, 1, 0);
	assert_int_equal(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_non_null(strstr(e.msg, "permission"));
	assert_null(o);
	assert_int_equal(count_certs(), before);
	OK(ra_officer_set_perms(fx.ca.st, off.id, off.perms, "unit", &e));
	OK(ra_officer_set_status(fx.ca.st, off.id, 0, "unit", &e));
	assert_int_equal(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_int_equal(count_certs(), before);
	OK(ra_officer_set_status(fx.ca.st, off.id, 1, "unit", &e));
	OK(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e));
	assert_int_equal(c.done, 1);
	assert_int_equal(count_certs(), before + 1);
	free(o);
	ra_bulk_result_free(&res);
}

/*
 * ACME files: the acme permission; create (the dry run writes nothing; all-or-nothing with a
 * line of another O makes nothing; good lines: one binding, its credentials handed out once),
 * renew (the key id's names change), suspend (a CN not of the binding refused).
 */
static void
test_acme_lines(void **state)
{
	struct ra_acme_keys keys;
	struct ra_bulk_rec recs[2];
	struct ra_bulk_result res;
	struct ra_bulk_outcome *o = NULL;
	struct ra_bulk_counts c;
	struct ra_bulk_commit_req q;
	struct ra_bulk_eabs eabs;
	struct store_acme_eab *v = NULL, row;
	char kid[sizeof(((struct ra_bulk_outcome *)0)->kid)];
	size_t n = 0, nb = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	OK(ra_acme_keys_load(&fx.ca.ca->conf, &keys, &e));
	memset(&eabs, 0, sizeof(eabs));
	memset(&q, 0, sizeof(q));
	q.kind = RA_BULK_ACME;
	q.op = RA_BULK_CREATE;
	q.mode = RA_BULK_ALL_OR_NOTHING;
	q.officer = &off;
	q.acme_keys = &keys;
	q.eabs = &eabs;
	rec_server(&recs[0], 1, "acme1.example.co.jp", "Example One", NULL);
	rec_server(&recs[1], 2, "acme2.example.co.jp", "Other Org", NULL);
	result(&res, recs, 2, 0);
	/* without the acme permission the file is refused whole */
	assert_int_equal(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e), -1);
	assert_non_null(strstr(e.msg, "permission"));
	err_clear(&e);
	OK(ra_officer_set_perms(fx.ca.st, off.id, off.perms | RA_PERM_ACME, "unit", &e));
	/* all or nothing: line 2's O is not the organization's: nothing made */
	OK(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e));
	assert_int_equal(c.done, 0);
	assert_int_equal(o[1].state, RA_BULK_REFUSED);
	assert_int_equal(eabs.n, 0);
	free(o);
	OK(ra_acme_eab_list(fx.ca.st, off.org_id, &v, &nb, &e));
	assert_int_equal(nb, 0);
	ra_acme_eab_list_free(v, nb);
	/* the dry run of good lines writes nothing; the commit makes line 1's binding */
	q.mode = RA_BULK_GOOD_LINES;
	q.check_only = 1;
	OK(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e));
	assert_int_equal(c.checked, 1);
	free(o);
	assert_int_equal(eabs.n, 0);
	q.check_only = 0;
	OK(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e));
	assert_int_equal(c.done, 1);
	assert_int_equal(o[0].state, RA_BULK_DONE);
	assert_int_equal(eabs.n, 1);
	assert_int_equal(eabs.v[0].line, 1);
	assert_string_equal(eabs.v[0].kid, o[0].kid);
	assert_int_equal(strlen(eabs.v[0].hmac), 43);
	snprintf(kid, sizeof(kid), "%s", o[0].kid);
	free(o);
	OK(store_acme_eab_get(fx.ca.st, kid, &row, &e));
	assert_string_equal(row.names, "acme1.example.co.jp");
	assert_string_equal(row.status, "active");
	store_acme_eab_clear(&row);
	sodium_memzero(eabs.v, eabs.cap * sizeof(*eabs.v));
	free(eabs.v);
	ra_bulk_result_free(&res);

	/* renew: the key id of column 3; the binding's names change */
	rec_server(&recs[0], 1, "acme1.example.co.jp", "Example One", NULL);
	free(recs[0].dns[0]);
	recs[0].dns[0] = strdup("www.example.co.jp");
	recs[0].account_id = strdup(kid);
	result(&res, recs, 1, 0);
	q.op = RA_BULK_RENEW;
	q.eabs = NULL;
	OK(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e));
	assert_int_equal(c.done, 1);
	free(o);
	ra_bulk_result_free(&res);
	OK(store_acme_eab_get(fx.ca.st, kid, &row, &e));
	assert_string_equal(row.names, "acme1.example.co.jp,www.example.co.jp");
	store_acme_eab_clear(&row);

	/* suspend: a CN not of the binding is refused, then the right one */
	rec_revoke(&recs[0], 1, "other.example.co.jp", "");
	recs[0].account_id = strdup(kid);
	rec_revoke(&recs[1], 2, "www.example.co.jp", "");
	recs[1].account_id = strdup(kid);
	result(&res, recs, 2, 0);
	q.op = RA_BULK_SUSPEND;
	OK(ra_bulk_commit(fx.ca.ca, fx.ca.st, &q, &res, &o, &n, &c, &e));
	assert_int_equal(o[0].state, RA_BULK_REFUSED);
	assert_int_equal(o[1].state, RA_BULK_DONE);
	free(o);
	ra_bulk_result_free(&res);
	OK(store_acme_eab_get(fx.ca.st, kid, &row, &e));
	assert_string_equal(row.status, "suspended");
	store_acme_eab_clear(&row);
	OK(ra_officer_set_perms(fx.ca.st, off.id, off.perms, "unit", &e));
	ra_acme_keys_wipe(&keys);
}

int
main(void)
{
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test(test_issue_modes),	 cmocka_unit_test(test_renew_revoke),
	    cmocka_unit_test(test_client_issue), cmocka_unit_test(test_progress),
	    cmocka_unit_test(test_officer_now),	 cmocka_unit_test(test_acme_lines),
	};
	int failed =
	    cmocka_run_group_tests_name("ra bulk commit on SQLite", stored, setup, teardown);

	if (tu_pg() == NULL) {
		print_message("SHOMEI_TEST_PG is not set: PostgreSQL skipped "
			      "(run through scripts/with-pg.sh)\n");
		return failed;
	}
	want_pg = 1;
	return failed +
	       cmocka_run_group_tests_name("ra bulk commit on PostgreSQL", stored, setup, teardown);
}
