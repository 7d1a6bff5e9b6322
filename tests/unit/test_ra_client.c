/*
 * ra/client.c (client certificates with a key the RA makes) on SQLite and on PostgreSQL: an
 * officer of EX1 issues per holder with the PIN shown (the holder's URL takes the PIN once and
 * gives a PKCS#12 that opens with it and holds the key of the certificate), with the PIN mailed
 * (the PIN URL shows the PIN once), five wrong PINs lock the URL, the URL expires, and a ZIP
 * for the user administrator opens with 7z under the password shown and its PKCS#12 files
 * open with the PINs of PINs.txt.  Every issuance and download is audited; the store never
 * holds the PIN in the clear.
 */
#include "testutil.h"
#include "tu_x509.h"
#include "tu_ca.h"
#include "tu_ra.h"

#include <openssl/err.h>
#include <openssl/pkcs12.h>

#define OK(x) assert_int_equal((x), 0)
#define DAY 86400

static struct tu_ra fx;
static int want_pg;
static struct ra_officer off;

/* What the mail hooks were given (the last of each). */
static struct {
	int urls, pins, zips, pin_mailed;
	char url_to[256], url_tok[RA_TOKEN_TEXT], pin_to[256], pin_tok[RA_TOKEN_TEXT];
	char zip_to[256], zip_tok[RA_TOKEN_TEXT];
	size_t zip_count;
} hk;

static int
hook_url(void *arg, struct store *st, const struct store_certadmin *a, const char *token,
	 time_t expires, int pin_mailed, struct err *e)
{
	(void)arg;
	(void)st;
	(void)e;
	assert_true(expires > util_now());
	hk.urls++;
	hk.pin_mailed = pin_mailed;
	snprintf(hk.url_to, sizeof(hk.url_to), "%s", a->holder_email);
	snprintf(hk.url_tok, sizeof(hk.url_tok), "%s", token);
	return 0;
}

static int
hook_pin(void *arg, struct store *st, const struct store_certadmin *a, const char *token,
	 time_t expires, struct err *e)
{
	(void)arg;
	(void)st;
	(void)e;
	(void)expires;
	hk.pins++;
	snprintf(hk.pin_to, sizeof(hk.pin_to), "%s", a->holder_email);
	snprintf(hk.pin_tok, sizeof(hk.pin_tok), "%s", token);
	return 0;
}

static int
hook_zip(void *arg, struct store *st, const char *admin_name, const char *admin_email,
	 const char *token, size_t count, time_t expires, struct err *e)
{
	(void)arg;
	(void)st;
	(void)e;
	(void)expires;
	(void)admin_name;
	hk.zips++;
	hk.zip_count = count;
	snprintf(hk.zip_to, sizeof(hk.zip_to), "%s", admin_email);
	snprintf(hk.zip_tok, sizeof(hk.zip_tok), "%s", token);
	return 0;
}

static const struct ra_client_notify notify = {NULL, hook_url, hook_pin, hook_zip};

static int
setup(void **state)
{
	struct ra_officer_new q;
	char pin[RA_OFFICER_PIN_LEN + 1];
	struct err e;

	(void)state;
	tu_ra_open(&fx, want_pg, 1, "test_ra_client");
	err_clear(&e);
	memset(&q, 0, sizeof(q));
	q.org_code = "EX1";
	q.name = "Taro Yamada";
	q.email = "taro@example.co.jp";
	q.role = RA_ROLE_OFFICER;
	q.perms = RA_PERM_CLIENT;
	if (ra_officer_add(fx.ca.ca, fx.ca.st, &q, NULL, "unit", &off, pin, &e) == -1)
		fail_msg("ra_officer_add: %s", e.msg);
	memset(&hk, 0, sizeof(hk));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	util_clock_set_offset(0);
	tu_ra_close(&fx);
	return 0;
}

/* The number of audit entries of action for object (NULL: any). */
static size_t
audits(const char *action, const char *object)
{
	struct store_audit_filter f;
	struct store_audit *v = NULL;
	size_t n = 0, i, k = 0;
	struct err e;

	memset(&f, 0, sizeof(f));
	f.action = action;
	f.limit = 1000;
	err_clear(&e);
	OK(store_audit_list(fx.ca.st, &f, &v, &n, &e));
	for (i = 0; i < n; i++)
		if (object == NULL || strcmp(v[i].object, object) == 0)
			k++;
	STORE_LIST_FREE(v, n, store_audit_clear);
	return k;
}

/* Opens p12 with pin: the certificate's serial matches, its key is the certificate's. */
static void
p12_opens(const unsigned char *p12, size_t len, const char *pin, const char *serial)
{
	const unsigned char *p = p12;
	PKCS12 *pk = d2i_PKCS12(NULL, &p, (long)len);
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *chain = NULL;
	BIGNUM *bn = NULL;
	char *hex;

	assert_non_null(pk);
	assert_int_equal(PKCS12_parse(pk, "WRONGPIN1234", &key, &x, &chain), 0);
	ERR_clear_error();
	assert_int_equal(PKCS12_parse(pk, pin, &key, &x, &chain), 1);
	assert_int_equal(X509_check_private_key(x, key), 1);
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	hex = BN_bn2hex(bn);
	assert_string_equal(hex, serial);
	OPENSSL_free(hex);
	BN_free(bn);
	EVP_PKEY_free(key);
	X509_free(x);
	sk_X509_pop_free(chain, X509_free);
	PKCS12_free(pk);
}

static void
req_init(struct ra_client_req *q, enum ra_client_delivery d, const char *holder)
{
	memset(q, 0, sizeof(*q));
	q->officer = &off;
	q->delivery = d;
	q->cn = holder;
	q->admin_name = "Hanako Admin";
	q->admin_email = "admin@example.co.jp";
	q->holder_name = holder;
	q->holder_unit = "Lab";
	q->holder_email = "holder@example.co.jp";
	q->n = &notify;
}

static enum ra_client_res
take(const char *tok, const char *pin, unsigned char **p12, size_t *len, int *left)
{
	struct ra_client_view v;
	enum ra_client_res res = RA_CLIENT_UNKNOWN;
	struct err e;

	err_clear(&e);
	if (ra_client_take(fx.ca.ca, fx.ca.st, tok, pin, p12, len, &v, &res, &e) == -1)
		fail_msg("ra_client_take: %s", e.msg);
	if (left != NULL)
		*left = v.tries_left;
	ra_client_view_clear(&v);
	return res;
}

static void
test_pin_shown(void **state)
{
	struct ra_client_req q;
	struct ra_client_out out;
	struct ra_client_view v;
	enum ra_client_res res;
	unsigned char *p12 = NULL;
	size_t len = 0;
	struct err e;
	int left = 0;

	(void)state;
	req_init(&q, RA_CLIENT_PIN_SHOWN, "Ichiro Suzuki");
	err_clear(&e);
	if (ra_client_issue(fx.ca.ca, fx.ca.st, &q, NULL, &out, &e) == -1)
		fail_msg("ra_client_issue: %s", e.msg);
	assert_int_equal(strlen(out.pin), RA_CLIENT_PIN_LEN);
	assert_int_equal(hk.urls, 1);
	assert_int_equal(hk.pins, 0);
	assert_int_equal(hk.pin_mailed, 0);
	assert_string_equal(hk.url_to, "holder@example.co.jp");
	assert_int_equal(audits("console.client_issue", out.serial), 1);
	/* the page: nothing written */
	OK(ra_client_peek(fx.ca.ca, fx.ca.st, hk.url_tok, &v, &res, &e));
	assert_int_equal(res, RA_CLIENT_OK);
	assert_string_equal(v.cert.serial, out.serial);
	assert_int_equal(v.tries_left, RA_CLIENT_TRIES);
	assert_non_null(strstr(v.cert.subject, "CN=Ichiro Suzuki"));
	assert_non_null(strstr(v.cert.sans, "holder@example.co.jp"));
	ra_client_view_clear(&v);
	/* a wrong PIN counts; the right one (any case) gives the PKCS#12 once */
	assert_int_equal(take(hk.url_tok, "AAAAAAAAAAAA", &p12, &len, &left), RA_CLIENT_WRONG_PIN);
	assert_null(p12);
	assert_int_equal(left, RA_CLIENT_TRIES - 1);
	assert_int_equal(audits("console.client_wrong_pin", out.serial), 1);
	assert_int_equal(take(hk.url_tok, out.pin, &p12, &len, NULL), RA_CLIENT_OK);
	assert_non_null(p12);
	p12_opens(p12, len, out.pin, out.serial);
	free(p12);
	p12 = NULL;
	assert_int_equal(audits("console.client_download", out.serial), 1);
	assert_int_equal(take(hk.url_tok, out.pin, &p12, &len, NULL), RA_CLIENT_TAKEN);
	assert_null(p12);
	/* unknown and malformed URLs */
	assert_int_equal(
	    take("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", out.pin, &p12, &len, NULL),
	    RA_CLIENT_UNKNOWN);
	assert_int_equal(take("short", out.pin, &p12, &len, NULL), RA_CLIENT_UNKNOWN);
}

/* The pickup row behind a holder's URL. */
static void
pickup_of(const char *tok, struct store_pickup *p)
{
	unsigned char raw[RA_TOKEN_LEN], th[STORE_HASH_LEN];
	struct err e;

	assert_int_equal(ra_token_decode(tok, raw), 0);
	ra_token_hash(raw, th);
	err_clear(&e);
	OK(store_pickup_get(fx.ca.st, th, p, &e));
}

static void
test_pin_mailed_lock_expiry(void **state)
{
	struct ra_client_req q;
	struct ra_client_out out;
	enum ra_client_res res;
	unsigned char *p12 = NULL;
	char pin[RA_CLIENT_PIN_LEN + 1], pintok[RA_TOKEN_TEXT], tok[RA_TOKEN_TEXT];
	size_t len = 0;
	struct err e;
	int i, left = 0;

	(void)state;
	req_init(&q, RA_CLIENT_PIN_MAILED, "Jiro Tanaka");
	err_clear(&e);
	if (ra_client_issue(fx.ca.ca, fx.ca.st, &q, NULL, &out, &e) == -1)
		fail_msg("ra_client_issue: %s", e.msg);
	assert_string_equal(out.pin, ""); /* not shown: mailed */
	assert_int_equal(hk.pins, 1);
	assert_int_equal(hk.pin_mailed, 1);
	assert_string_not_equal(hk.pin_tok, hk.url_tok);
	snprintf(pintok, sizeof(pintok), "%s", hk.pin_tok);
	snprintf(tok, sizeof(tok), "%s", hk.url_tok);
	/* the certificate URL is no PIN URL and the other way round */
	OK(ra_client_pin_peek(fx.ca.st, tok, &res, &e));
	assert_int_equal(res, RA_CLIENT_UNKNOWN);
	assert_int_equal(take(pintok, "x", &p12, &len, NULL), RA_CLIENT_UNKNOWN);
	OK(ra_client_pin_peek(fx.ca.st, pintok, &res, &e));
	assert_int_equal(res, RA_CLIENT_OK);
	OK(ra_client_pin_take(fx.ca.st, pintok, pin, &res, &e));
	assert_int_equal(res, RA_CLIENT_OK);
	assert_int_equal(strlen(pin), RA_CLIENT_PIN_LEN);
	assert_int_equal(audits("console.client_pin_shown", out.serial), 1);
	{
		char again[RA_CLIENT_PIN_LEN + 1];

		OK(ra_client_pin_take(fx.ca.st, pintok, again, &res, &e));
		assert_int_equal(res, RA_CLIENT_TAKEN);
		assert_string_equal(again, "");
	}
	/* five wrong PINs lock the URL: the right one does not open it then */
	for (i = 1; i < RA_CLIENT_TRIES; i++) {
		assert_int_equal(take(tok, "WRONGWRONG22", &p12, &len, &left), RA_CLIENT_WRONG_PIN);
		assert_int_equal(left, RA_CLIENT_TRIES - i);
	}
	{
		struct store_pickup p;

		pickup_of(tok, &p);
		assert_true(p.p12_waiting);
		store_pickup_clear(&p);
	}
	assert_int_equal(take(tok, "WRONGWRONG22", &p12, &len, &left), RA_CLIENT_LOCKED);
	assert_int_equal(take(tok, pin, &p12, &len, &left), RA_CLIENT_LOCKED);
	assert_null(p12);
	assert_int_equal(audits("console.client_locked", out.serial), 1);
	{
		/* locked: the PKCS#12 nobody can fetch any more is not kept */
		struct store_pickup p;

		pickup_of(tok, &p);
		assert_string_equal(p.state, "locked");
		assert_false(p.p12_waiting);
		assert_false(p.pin_waiting);
		store_pickup_clear(&p);
	}
	/* a revoked certificate's PKCS#12 is not handed out: the right PIN finds it gone */
	req_init(&q, RA_CLIENT_PIN_MAILED, "Goro Abe");
	if (ra_client_issue(fx.ca.ca, fx.ca.st, &q, NULL, &out, &e) == -1)
		fail_msg("ra_client_issue: %s", e.msg);
	snprintf(tok, sizeof(tok), "%s", hk.url_tok);
	OK(ra_client_pin_take(fx.ca.st, hk.pin_tok, pin, &res, &e));
	assert_int_equal(res, RA_CLIENT_OK);
	OK(ca_revoke(fx.ca.ca, fx.ca.st, out.serial, CA_REASON_AFFILIATION_CHANGED, 0, "unit", &e));
	assert_int_equal(take(tok, pin, &p12, &len, NULL), RA_CLIENT_EXPIRED);
	assert_null(p12);
	{
		struct store_pickup p;

		pickup_of(tok, &p);
		assert_false(p.p12_waiting);
		store_pickup_clear(&p);
	}
	/* another one expires: console.client_days (14) */
	req_init(&q, RA_CLIENT_PIN_SHOWN, "Saburo Ito");
	if (ra_client_issue(fx.ca.ca, fx.ca.st, &q, NULL, &out, &e) == -1)
		fail_msg("ra_client_issue: %s", e.msg);
	util_clock_set_offset((RA_CLIENT_DAYS + 1) * DAY);
	assert_int_equal(take(hk.url_tok, out.pin, &p12, &len, NULL), RA_CLIENT_EXPIRED);
	util_clock_set_offset(0);
	assert_int_equal(take(hk.url_tok, out.pin, &p12, &len, NULL), RA_CLIENT_EXPIRED);
	assert_null(p12);
	/* the schedule's purge clears what waits behind expired URLs */
	req_init(&q, RA_CLIENT_PIN_MAILED, "Shiro Kato");
	if (ra_client_issue(fx.ca.ca, fx.ca.st, &q, NULL, &out, &e) == -1)
		fail_msg("ra_client_issue: %s", e.msg);
	OK(ra_client_purge(fx.ca.st, util_now() + (RA_CLIENT_DAYS + 1) * DAY, &e));
	OK(ra_client_pin_peek(fx.ca.st, hk.pin_tok, &res, &e));
	assert_int_equal(res, RA_CLIENT_TAKEN); /* nothing waits anymore */
	{
		struct ra_client_view v;

		OK(ra_client_peek(fx.ca.ca, fx.ca.st, hk.url_tok, &v, &res, &e));
		assert_int_equal(res, RA_CLIENT_EXPIRED);
		ra_client_view_clear(&v);
	}
}

static void
test_refusals(void **state)
{
	struct ra_client_req q;
	struct ra_client_out out;
	struct err e;
	int64_t before = 0, after = 0;

	(void)state;
	err_clear(&e);
	OK(store_cert_count(fx.ca.st, -1, &before, &e));
	req_init(&q, RA_CLIENT_PIN_SHOWN, "No Mail");
	q.holder_email = NULL;
	assert_int_equal(ra_client_issue(fx.ca.ca, fx.ca.st, &q, NULL, &out, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	/* the name policy: an address outside the organization's domains */
	req_init(&q, RA_CLIENT_PIN_SHOWN, "Outsider");
	q.holder_email = "x@elsewhere.example";
	err_clear(&e);
	assert_int_equal(ra_client_issue(fx.ca.ca, fx.ca.st, &q, NULL, &out, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	/* a PIN given is for the ZIP only */
	req_init(&q, RA_CLIENT_PIN_SHOWN, "Pin Given");
	q.pin = "abcd1234";
	err_clear(&e);
	assert_int_equal(ra_client_issue(fx.ca.ca, fx.ca.st, &q, NULL, &out, &e), -1);
	/* the dry run signs nothing */
	req_init(&q, RA_CLIENT_PIN_SHOWN, "Dry Run");
	q.check_only = 1;
	err_clear(&e);
	OK(ra_client_issue(fx.ca.ca, fx.ca.st, &q, NULL, &out, &e));
	assert_string_equal(out.serial, "");
	OK(store_cert_count(fx.ca.st, -1, &after, &e));
	assert_int_equal(after, before);
	assert_int_equal(hk.urls, 0);
}

static void
test_zip(void **state)
{
	struct ra_client_req q;
	struct ra_client_out out[2];
	struct ra_client_zip *z;
	struct ra_client_view v;
	enum ra_client_res res;
	unsigned char *zip = NULL;
	size_t len = 0;
	char pw[RA_CLIENT_ZIP_PW_LEN + 1], dir[] = "/tmp/shomei-rzip-XXXXXX", cmd[1024];
	char path[600], line[512], file[128], serial[64], pin[80];
	struct err e;
	FILE *f;
	int found = 0;

	(void)state;
	if (system("command -v 7z >/dev/null 2>&1") != 0)
		skip();
	z = ra_client_zip_new(pw);
	assert_int_equal(strlen(pw), RA_CLIENT_ZIP_PW_LEN);
	err_clear(&e);
	/* an empty ZIP is not stored */
	assert_int_equal(ra_client_zip_commit(fx.ca.ca, fx.ca.st, &off, z, "Hanako Admin",
					      "admin@example.co.jp", &notify, &e),
			 -1);
	err_clear(&e);
	req_init(&q, RA_CLIENT_ZIP, "Shiro Kato");
	q.holder_email = "shiro@example.co.jp";
	q.p12_name = "cert20261206-103000";
	if (ra_client_issue(fx.ca.ca, fx.ca.st, &q, z, &out[0], &e) == -1)
		fail_msg("ra_client_issue: %s", e.msg);
	req_init(&q, RA_CLIENT_ZIP, "Goro Sato");
	q.holder_email = "goro@example.co.jp";
	q.pin = "own-pin-1234-longer-than-twelve"; /* the line's own PIN */
	if (ra_client_issue(fx.ca.ca, fx.ca.st, &q, z, &out[1], &e) == -1)
		fail_msg("ra_client_issue: %s", e.msg);
	assert_int_equal(hk.urls, 0);
	assert_int_equal(ra_client_zip_count(z), 2);
	if (ra_client_zip_commit(fx.ca.ca, fx.ca.st, &off, z, "Hanako Admin", "admin@example.co.jp",
				 &notify, &e) == -1)
		fail_msg("ra_client_zip_commit: %s", e.msg);
	ra_client_zip_free(z);
	assert_int_equal(hk.zips, 1);
	assert_int_equal(hk.zip_count, 2);
	assert_string_equal(hk.zip_to, "admin@example.co.jp");
	assert_int_equal(audits("console.client_zip", "EX1"), 1);
	OK(ra_client_zip_peek(fx.ca.st, hk.zip_tok, &v, &res, &e));
	assert_int_equal(res, RA_CLIENT_OK);
	assert_int_equal(v.count, 2);
	OK(ra_client_zip_take(fx.ca.st, hk.zip_tok, &zip, &len, &res, &e));
	assert_int_equal(res, RA_CLIENT_OK);
	assert_non_null(zip);
	{
		unsigned char *again = NULL;
		size_t l2 = 0;

		OK(ra_client_zip_take(fx.ca.st, hk.zip_tok, &again, &l2, &res, &e));
		assert_int_equal(res, RA_CLIENT_TAKEN);
		assert_null(again);
	}
	assert_int_equal(audits("console.client_zip_download", NULL), 1);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/c.zip", dir);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(zip, 1, len, f), len);
	fclose(f);
	free(zip);
	snprintf(cmd, sizeof(cmd), "cd %s && 7z x -y -pWRONG c.zip >/dev/null 2>&1", dir);
	assert_int_not_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "cd %s && 7z x -y -p%s c.zip >/dev/null 2>&1", dir, pw);
	assert_int_equal(system(cmd), 0);
	/* PINs.txt: each file opens with its PIN */
	snprintf(path, sizeof(path), "%s/PINs.txt", dir);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *col[5], *p = line;
		unsigned char buf[8192];
		size_t n, k = 0;
		FILE *g;

		line[strcspn(line, "\r\n")] = '\0';
		for (k = 0; k < 5 && p != NULL; k++) {
			col[k] = p;
			if ((p = strchr(p, '\t')) != NULL)
				*p++ = '\0';
		}
		if (k < 5 || strcmp(col[1], "serial") == 0)
			continue;
		snprintf(file, sizeof(file), "%s", col[0]);
		snprintf(serial, sizeof(serial), "%s", col[1]);
		snprintf(pin, sizeof(pin), "%s", col[4]);
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		assert_non_null(g = fopen(path, "rb"));
		n = fread(buf, 1, sizeof(buf), g);
		fclose(g);
		p12_opens(buf, n, pin, serial);
		found++;
	}
	fclose(f);
	assert_int_equal(found, 2);
	snprintf(path, sizeof(path), "%s/cert20261206-103000.p12", dir);
	assert_int_equal(access(path, R_OK), 0);
	snprintf(cmd, sizeof(cmd), "grep -q own-pin-1234-longer-than-twelve %s/PINs.txt", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pin_shown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_mailed_lock_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zip, setup, teardown),
	};
	int failed = cmocka_run_group_tests_name("ra client on SQLite", tests, NULL, NULL);

	if (tu_pg() == NULL) {
		print_message("SHOMEI_TEST_PG is not set: PostgreSQL skipped "
			      "(run through scripts/with-pg.sh)\n");
		return failed;
	}
	want_pg = 1;
	return failed + cmocka_run_group_tests_name("ra client on PostgreSQL", tests, NULL, NULL);
}
