/*
 * Unit tests of what the REST API asks of the RA: API keys (text, hashing, create / check /
 * disable / enable / list, the last-use touch, the audit entries) and certificates as an
 * organization sees them (get, list, revoke: another organization's certificate does not
 * exist for the caller).  On SQLite, and on PostgreSQL under scripts/with-pg.sh (the
 * PostgreSQL group fails without it, it never skips).
 */
#include "testutil.h"

#include <libpq-fe.h>
#include <sodium.h>

#include "api/api.h"
#include "ca/ca.h"
#include "ra/ra.h"
#include "store/store.h"

static void
t_key_text(void **state)
{
	unsigned char secret[RA_APIKEY_SECRET_BYTES], back[RA_APIKEY_SECRET_BYTES];
	unsigned char h1[STORE_HASH_LEN], h2[STORE_HASH_LEN];
	char text[RA_APIKEY_TEXT_LEN + 1], id[RA_APIKEY_ID_LEN + 1], bad[RA_APIKEY_TEXT_LEN + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(secret); i++)
		secret[i] = (unsigned char)(i * 7 + 1);
	ra_apikey_format("0123456789abcdef", secret, text);
	text[RA_APIKEY_TEXT_LEN] = '\0';
	assert_int_equal(strlen(text), RA_APIKEY_TEXT_LEN);
	assert_int_equal(strncmp(text, "shk_0123456789abcdef_01080f161d", 31), 0);
	assert_int_equal(ra_apikey_parse(text, strlen(text), id, back), 0);
	assert_string_equal(id, "0123456789abcdef");
	assert_memory_equal(back, secret, sizeof(secret));

	/* hashing: deterministic, keyed (not the plain BLAKE2b of the secret), secret-sensitive */
	ra_apikey_hash(secret, h1);
	ra_apikey_hash(back, h2);
	assert_memory_equal(h1, h2, sizeof(h1));
	crypto_generichash(h2, sizeof(h2), secret, sizeof(secret), NULL, 0);
	assert_memory_not_equal(h1, h2, sizeof(h1));
	back[31] ^= 1;
	ra_apikey_hash(back, h2);
	assert_memory_not_equal(h1, h2, sizeof(h1));
	assert_memory_not_equal(h1, secret, sizeof(h1));

	/* strict: length, prefix, separator, lower-case hex only */
	assert_int_equal(ra_apikey_parse(text, strlen(text) - 1, id, back), -1);
	memcpy(bad, text, sizeof(text));
	bad[0] = 'S';
	assert_int_equal(ra_apikey_parse(bad, strlen(bad), id, back), -1);
	memcpy(bad, text, sizeof(text));
	bad[20] = '-';
	assert_int_equal(ra_apikey_parse(bad, strlen(bad), id, back), -1);
	memcpy(bad, text, sizeof(text));
	bad[10] = 'A';
	assert_int_equal(ra_apikey_parse(bad, strlen(bad), id, back), -1);
	memcpy(bad, text, sizeof(text));
	bad[60] = 'g';
	assert_int_equal(ra_apikey_parse(bad, strlen(bad), id, back), -1);
	memcpy(bad, text, sizeof(text));
	bad[RA_APIKEY_TEXT_LEN - 1] = 'F';
	assert_int_equal(ra_apikey_parse(bad, strlen(bad), id, back), -1);
	assert_int_equal(ra_apikey_parse("", 0, id, back), -1);
}

static void
t_cert_status_names(void **state)
{
	(void)state;
	assert_string_equal(ra_cert_status_name(RA_CERT_VALID), "valid");
	assert_string_equal(ra_cert_status_name(RA_CERT_REVOKED), "revoked");
	assert_string_equal(ra_cert_status_name(RA_CERT_EXPIRED), "expired");
	assert_string_equal(ra_cert_status_name(RA_CERT_STATUS__MAX), "unknown");
	assert_string_equal(ra_cert_status_name((enum ra_cert_status) - 1), "unknown");
}

/* ---- on a store ---- */

static int cur_pg;

static int
grp_sqlite(void **state)
{
	(void)state;
	cur_pg = 0;
	return 0;
}

static int
grp_pg(void **state)
{
	(void)state;
	cur_pg = 1;
	if (tu_pg() == NULL) {
		print_error("SHOMEI_TEST_PG is not set: run through scripts/with-pg.sh\n");
		return -1;
	}
	return 0;
}

/* A fresh store: a temporary SQLite file, or an empty schema of the test cluster. */
static struct store *
fresh_store(char **dir)
{
	struct store *s = NULL;
	struct err e;
	char *spec;
	PGconn *c;
	PGresult *r;

	*dir = NULL;
	if (cur_pg) {
		c = PQconnectdb(tu_pg());
		if (PQstatus(c) != CONNECTION_OK)
			fail_msg("postgresql: %s", PQerrorMessage(c));
		r = PQexec(c,
			   "SET client_min_messages TO warning; "
			   "DROP SCHEMA IF EXISTS ra_api_unit CASCADE; CREATE SCHEMA ra_api_unit");
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			fail_msg("postgresql: %s", PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(c);
		spec = xasprintf("%s options='-c search_path=ra_api_unit'", tu_pg());
	} else {
		*dir = tu_tmpdir();
		spec = xasprintf("sqlite:%s/shomei.db", *dir);
	}
	err_clear(&e);
	if (store_open(&s, spec, &e) != 0)
		fail_msg("store_open: %s", e.msg);
	free(spec);
	return s;
}

/* The audit chain's entries, collected. */
struct audit_log {
	char *actor[32], *action[32], *object[32], *detail[32];
	size_t n;
};

static int
audit_collect(void *arg, const struct store_audit *a)
{
	struct audit_log *l = arg;

	if (l->n >= 32)
		return 1;
	l->actor[l->n] = xstrdup(a->actor);
	l->action[l->n] = xstrdup(a->action);
	l->object[l->n] = xstrdup(a->object);
	l->detail[l->n] = xstrdup(a->detail);
	l->n++;
	return 0;
}

static void
audit_read(struct store *s, struct audit_log *l)
{
	struct err e;

	memset(l, 0, sizeof(*l));
	err_clear(&e);
	assert_int_equal(store_audit_foreach(s, audit_collect, l, &e), 0);
}

static void
audit_free(struct audit_log *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->actor[i]);
		free(l->action[i]);
		free(l->object[i]);
		free(l->detail[i]);
	}
	memset(l, 0, sizeof(*l));
}

static void
t_keys(void **state)
{
	const char *dom[] = {"acme.example"};
	struct ra_apikey k, *v = NULL;
	struct store_apikey sk;
	struct audit_log al;
	struct store *s;
	struct err e;
	char *dir, key[RA_APIKEY_TEXT_LEN + 1], key2[RA_APIKEY_TEXT_LEN + 1], hdr[128];
	char id[RA_APIKEY_ID_LEN + 1], longname[202];
	unsigned char secret[RA_APIKEY_SECRET_BYTES], h[STORE_HASH_LEN];
	int64_t org1, org2, seq;
	time_t used;
	size_t n = 0;

	(void)state;
	s = fresh_store(&dir);
	err_clear(&e);
	assert_int_equal(store_org_add(s, "ACME", "Acme", dom, 1, &org1, &e), 0);
	assert_int_equal(store_org_add(s, "BETA", "Beta", NULL, 0, &org2, &e), 0);

	/* create: the key parses, the stored hash is the hash of its secret, not the secret */
	assert_int_equal(ra_apikey_create(s, "ACME", "ci", "test", key, &k, &e), 0);
	assert_int_equal(strlen(key), RA_APIKEY_TEXT_LEN);
	assert_int_equal(ra_apikey_parse(key, strlen(key), id, secret), 0);
	assert_string_equal(id, k.id);
	assert_string_equal(k.org_code, "ACME");
	assert_int_equal(k.org_id, org1);
	assert_string_equal(k.name, "ci");
	ra_apikey_hash(secret, h);
	ra_apikey_clear(&k);
	assert_int_equal(store_apikey_get(s, id, &sk, &e), 0);
	assert_memory_equal(h, sk.hash, sizeof(h));
	assert_memory_not_equal(secret, sk.hash, sizeof(h));
	store_apikey_clear(&sk);
	assert_int_equal(ra_apikey_get(s, id, &k, &e), 0);
	assert_string_equal(k.org_code, "ACME");
	assert_string_equal(k.name, "ci");
	assert_int_equal(k.org_id, org1);
	assert_false(k.disabled);
	assert_true(k.created != 0);
	assert_int_equal((long long)k.last_used, 0);
	ra_apikey_clear(&k);
	/* one audit entry, written with the key: apikey.create by the actor, no secret in it */
	assert_int_equal(store_audit_head(s, &seq, h, &e), 0);
	assert_int_equal(seq, 1);
	audit_read(s, &al);
	assert_int_equal(al.n, 1);
	assert_string_equal(al.actor[0], "test");
	assert_string_equal(al.action[0], "apikey.create");
	assert_string_equal(al.object[0], id);
	assert_string_equal(al.detail[0], "org=ACME name=ci");
	assert_null(strstr(al.detail[0], key + 21));
	audit_free(&al);

	/* check: good (and the use recorded), wrong secret, unknown id, malformed, missing */
	assert_int_equal(ra_apikey_check(s, key, strlen(key), &k, &e), RA_APIKEY_OK);
	assert_string_equal(k.org_code, "ACME");
	assert_int_equal(k.org_id, org1);
	assert_string_equal(k.id, id);
	ra_apikey_clear(&k);
	assert_int_equal(ra_apikey_get(s, id, &k, &e), 0);
	assert_true(k.last_used != 0); /* touched */
	used = k.last_used;
	ra_apikey_clear(&k);
	/* within a minute the use is not written again (no write per request) */
	sleep(1);
	assert_int_equal(ra_apikey_check(s, key, strlen(key), &k, &e), RA_APIKEY_OK);
	ra_apikey_clear(&k);
	assert_int_equal(ra_apikey_get(s, id, &k, &e), 0);
	assert_int_equal((long long)k.last_used, (long long)used);
	ra_apikey_clear(&k);
	memcpy(key2, key, sizeof(key));
	key2[RA_APIKEY_TEXT_LEN - 1] = key2[RA_APIKEY_TEXT_LEN - 1] == '0' ? '1' : '0';
	assert_int_equal(ra_apikey_check(s, key2, strlen(key2), &k, &e), RA_APIKEY_BAD);
	assert_null(k.org_code);
	assert_int_equal(k.org_id, 0);
	assert_int_equal(ra_apikey_check(s,
					 "shk_0000000000000000_0000000000000000000000"
					 "000000000000000000000000000000000000000000",
					 RA_APIKEY_TEXT_LEN, &k, &e),
			 RA_APIKEY_BAD);
	assert_int_equal(ra_apikey_check(s, "nonsense", 8, &k, &e), RA_APIKEY_BAD);
	assert_int_equal(ra_apikey_check(s, key, strlen(key) - 1, &k, &e), RA_APIKEY_BAD);
	assert_int_equal(ra_apikey_check(s, NULL, 0, &k, &e), RA_APIKEY_MISSING);
	/* the same through the API's Authorization header */
	snprintf(hdr, sizeof(hdr), "Bearer %s", key);
	assert_int_equal(api_key_check(s, hdr, &k, &e), RA_APIKEY_OK);
	assert_string_equal(k.org_code, "ACME");
	ra_apikey_clear(&k);
	snprintf(hdr, sizeof(hdr), "Basic %s", key);
	assert_int_equal(api_key_check(s, hdr, &k, &e), RA_APIKEY_BAD);
	assert_int_equal(api_key_check(s, "Bearer nonsense", &k, &e), RA_APIKEY_BAD);
	assert_int_equal(api_key_check(s, NULL, &k, &e), RA_APIKEY_MISSING);

	/* disable / enable, each audited */
	assert_int_equal(ra_apikey_set_disabled(s, id, 1, "op", &e), 0);
	assert_int_equal(ra_apikey_check(s, key, strlen(key), &k, &e), RA_APIKEY_DISABLED);
	assert_null(k.org_code);
	assert_int_equal(ra_apikey_get(s, id, &k, &e), 0);
	assert_true(k.disabled);
	ra_apikey_clear(&k);
	/* a disabled key with a wrong secret is just a wrong key */
	assert_int_equal(ra_apikey_check(s, key2, strlen(key2), &k, &e), RA_APIKEY_BAD);
	assert_int_equal(ra_apikey_set_disabled(s, id, 0, "op", &e), 0);
	assert_int_equal(ra_apikey_check(s, key, strlen(key), &k, &e), RA_APIKEY_OK);
	ra_apikey_clear(&k);
	audit_read(s, &al);
	assert_int_equal(al.n, 3);
	assert_string_equal(al.action[1], "apikey.disable");
	assert_string_equal(al.action[2], "apikey.enable");
	assert_string_equal(al.actor[1], "op");
	assert_string_equal(al.object[2], id);
	audit_free(&al);

	/* a second key, another organization; list all and by organization */
	assert_int_equal(ra_apikey_create(s, "BETA", NULL, "test", key2, &k, &e), 0);
	assert_string_not_equal(key, key2);
	assert_string_equal(k.name, "");
	ra_apikey_clear(&k);
	assert_int_equal(ra_apikey_list(s, NULL, &v, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, id);
	assert_string_equal(v[0].org_code, "ACME");
	assert_string_equal(v[1].org_code, "BETA");
	assert_string_equal(v[1].name, "");
	ra_apikey_list_free(v, n);
	assert_int_equal(ra_apikey_list(s, "BETA", &v, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].org_id, org2);
	ra_apikey_list_free(v, n);

	/* refusals: nothing is written, the audit chain stays as it was */
	err_clear(&e);
	assert_int_equal(ra_apikey_list(s, "NOPE", &v, &n, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_null(v);
	assert_int_equal(n, 0);
	err_clear(&e);
	assert_int_equal(ra_apikey_create(s, "NOPE", "x", "test", key2, &k, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_string_equal(key2, "");
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	err_clear(&e);
	assert_int_equal(ra_apikey_create(s, "ACME", longname, "test", key2, &k, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	longname[200] = '\0';
	assert_int_equal(ra_apikey_create(s, "ACME", longname, "test", key2, &k, &e), 0);
	ra_apikey_clear(&k);
	err_clear(&e);
	assert_int_equal(ra_apikey_set_disabled(s, "0000000000000000", 1, "op", &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	err_clear(&e);
	assert_int_equal(ra_apikey_get(s, "0000000000000000", &k, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_int_equal(store_audit_head(s, &seq, h, &e), 0);
	assert_int_equal(seq, 5); /* 3 above, BETA's key, the 200-byte name's */

	/* the store under it: odd ids are unknown, ids and organizations are checked */
	err_clear(&e);
	assert_int_equal(store_apikey_get(s, "bad id'--", &sk, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	memset(&sk, 0, sizeof(sk));
	snprintf(sk.id, sizeof(sk.id), "%s", id);
	sk.org_id = org1;
	err_clear(&e);
	assert_int_equal(store_apikey_add(s, &sk, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	snprintf(sk.id, sizeof(sk.id), "fresh");
	sk.org_id = 999;
	err_clear(&e);
	assert_int_equal(store_apikey_add(s, &sk, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	/* touch never goes backwards */
	err_clear(&e);
	assert_int_equal(store_apikey_touch(s, id, 5, &e), 0);
	assert_int_equal(ra_apikey_get(s, id, &k, &e), 0);
	assert_true(k.last_used > 5);
	ra_apikey_clear(&k);

	sodium_memzero(key, sizeof(key));
	sodium_memzero(secret, sizeof(secret));
	store_close(s);
	tu_rmdir(dir);
}

/* ---- certificates as an organization sees them ---- */

static const unsigned char fake_der[] = {0x30, 0x03, 0x02, 0x01, 0x01};

/* Inserts a certificate row (only what the RA reads matters here). */
static void
cert_put(struct store *s, const char *serial, const char *ca, int64_t org, const char *subject,
	 time_t not_after, time_t created)
{
	struct store_cert c;
	struct err e;

	memset(&c, 0, sizeof(c));
	err_clear(&e);
	snprintf(c.serial, sizeof(c.serial), "%s", serial);
	c.ca = (char *)ca;
	c.subject = (char *)subject;
	c.sans = "DNS:www.acme.example";
	c.profile = "server";
	c.org_id = org;
	c.not_before = 100;
	c.not_after = not_after;
	c.reason = -1;
	c.der = (unsigned char *)fake_der;
	c.derlen = sizeof(fake_der);
	c.created = created;
	if (store_cert_insert(s, &c, &e) != 0)
		fail_msg("insert %s: %s", serial, e.msg);
}

/* ra_cert_get fails with ERR_NOTFOUND and the one message for a certificate not seen. */
static void
get_notfound(struct ca *ca, struct store *s, int64_t org, const char *serial)
{
	struct ra_cert c;
	struct err e;

	err_clear(&e);
	if (ra_cert_get(ca, s, org, serial, RA_CERT_WITH_DER, &c, &e) != -1)
		fail_msg("org %lld sees %s", (long long)org, serial);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "no certificate"));
	assert_null(c.subject);
	assert_null(c.der);
	assert_null(c.org_code);
}

/* The serials a list gives, as "A,B,C". */
static void
list_expect(struct ca *ca, struct store *s, int64_t org, const struct ra_cert_filter *f,
	    const char *want)
{
	struct ra_cert *v = NULL;
	struct err e;
	char got[256];
	size_t n = 0, i, off = 0;

	err_clear(&e);
	got[0] = '\0';
	if (ra_cert_list(ca, s, org, f, &v, &n, &e) != 0)
		fail_msg("list: %s", e.msg);
	for (i = 0; i < n; i++) {
		assert_null(v[i].der);
		assert_int_equal(v[i].org_id, org);
		off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s", i > 0 ? "," : "",
					v[i].serial);
	}
	if (strcmp(got, want) != 0)
		fail_msg("list for org %lld: want \"%s\", got \"%s\"", (long long)org, want, got);
	ra_cert_list_free(v, n);
}

static void
t_certs(void **state)
{
	const char *dom[] = {"acme.example"};
	struct ra_cert_filter f;
	struct ra_cert c;
	struct store_cert sc;
	struct audit_log al;
	struct ca ca;
	struct store *s;
	struct err e;
	char *dir;
	int64_t acme, beta, seq;
	unsigned char h[STORE_HASH_LEN];
	time_t now = util_now(), later = now + 86400 * 30;

	(void)state;
	memset(&ca, 0, sizeof(ca));
	ca.name = "shomei";
	ca.cas[0].name = ca.name; /* the one issuing CA; "other" below is another CA's */
	ca.ncas = 1;
	s = fresh_store(&dir);
	err_clear(&e);
	assert_int_equal(store_org_add(s, "ACME", "Acme", dom, 1, &acme, &e), 0);
	assert_int_equal(store_org_add(s, "BETA", "Beta", NULL, 0, &beta, &e), 0);
	cert_put(s, "0A01", "shomei", acme, "CN=www.acme.example,O=Acme", later, 10);
	cert_put(s, "0A02", "shomei", acme, "CN=old.acme.example,O=Acme", now - 10, 20);
	cert_put(s, "0A03", "other", acme, "CN=www.acme.example,O=Acme", later, 30);
	cert_put(s, "0A04", "shomei", acme, "CN=mail.acme.example,O=Acme", later + 10, 40);
	cert_put(s, "0B01", "shomei", beta, "CN=www.beta.example,O=Beta", later, 50);
	cert_put(s, "0C01", "shomei", 0, "CN=nobody", later, 60);

	/* get: its own, with DER when asked, any case of the serial */
	assert_int_equal(ra_cert_get(&ca, s, acme, "0a01", RA_CERT_WITH_DER, &c, &e), 0);
	assert_string_equal(c.serial, "0A01");
	assert_string_equal(c.subject, "CN=www.acme.example,O=Acme");
	assert_string_equal(c.sans, "DNS:www.acme.example");
	assert_string_equal(c.profile, "server");
	assert_string_equal(c.org_code, "ACME");
	assert_int_equal(c.org_id, acme);
	assert_int_equal(c.status, RA_CERT_VALID);
	assert_int_equal((long long)c.not_after, (long long)later);
	assert_int_equal(c.reason, -1);
	assert_int_equal((long long)c.revoked_at, 0);
	assert_int_equal(c.derlen, sizeof(fake_der));
	assert_memory_equal(c.der, fake_der, sizeof(fake_der));
	ra_cert_clear(&c);
	assert_int_equal(ra_cert_get(&ca, s, acme, "0A01", 0, &c, &e), 0);
	assert_null(c.der);
	assert_int_equal(c.derlen, 0);
	ra_cert_clear(&c);
	assert_int_equal(ra_cert_get(&ca, s, acme, "0A02", 0, &c, &e), 0);
	assert_int_equal(c.status, RA_CERT_EXPIRED);
	ra_cert_clear(&c);
	/* another organization's, another CA name's, nobody's, unknown, malformed: not there */
	get_notfound(&ca, s, beta, "0A01");
	get_notfound(&ca, s, acme, "0B01");
	get_notfound(&ca, s, acme, "0A03");
	get_notfound(&ca, s, acme, "0C01");
	get_notfound(&ca, s, 0, "0C01");
	get_notfound(&ca, s, acme, "0FFF");
	get_notfound(&ca, s, acme, "");
	get_notfound(&ca, s, acme, "0A01'--");
	get_notfound(&ca, s, acme, "00112233445566778899AABBCCDDEEFF0011223344");

	/* list: the organization's certificates of this CA, oldest first, filtered and paged */
	ra_cert_filter_init(&f);
	list_expect(&ca, s, acme, &f, "0A01,0A02,0A04");
	list_expect(&ca, s, beta, &f, "0B01");
	list_expect(&ca, s, 0, &f, "");
	f.status = RA_CERT_VALID;
	list_expect(&ca, s, acme, &f, "0A01,0A04");
	f.status = RA_CERT_EXPIRED;
	list_expect(&ca, s, acme, &f, "0A02");
	f.status = RA_CERT_REVOKED;
	list_expect(&ca, s, acme, &f, "");
	ra_cert_filter_init(&f);
	f.subject = "mail.";
	list_expect(&ca, s, acme, &f, "0A04");
	f.subject = "www.beta";
	list_expect(&ca, s, acme, &f, "");
	ra_cert_filter_init(&f);
	f.expiring_before = later + 1;
	list_expect(&ca, s, acme, &f, "0A01,0A02");
	ra_cert_filter_init(&f);
	f.limit = 2;
	list_expect(&ca, s, acme, &f, "0A01,0A02");
	f.offset = 2;
	list_expect(&ca, s, acme, &f, "0A04");

	/* revoke: not another organization's; the certificate stays as it was */
	assert_int_equal(store_audit_head(s, &seq, h, &e), 0);
	assert_int_equal(seq, 0);
	err_clear(&e);
	assert_int_equal(
	    ra_cert_revoke(&ca, s, beta, "0A01", 1, 0, "api:BETA:0000000000000000", &c, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_null(c.subject);
	err_clear(&e);
	assert_int_equal(ra_cert_revoke(&ca, s, acme, "0A03", 1, 0, "x", NULL, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_int_equal(store_cert_get(s, "0A01", &sc, &e), 0);
	assert_int_equal(sc.status, STORE_CERT_VALID);
	store_cert_clear(&sc);
	/* a reason the CA does not take (certificateHold) */
	err_clear(&e);
	assert_int_equal(ra_cert_revoke(&ca, s, acme, "0A01", 6, 0, "x", NULL, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	/* its own: revoked, with its audit entry by the actor; the answer carries no DER */
	err_clear(&e);
	assert_int_equal(
	    ra_cert_revoke(&ca, s, acme, "0a01", 1, now - 60, "api:ACME:0123456789abcdef", &c, &e),
	    0);
	assert_string_equal(c.serial, "0A01");
	assert_int_equal(c.status, RA_CERT_REVOKED);
	assert_int_equal(c.reason, 1);
	assert_true(c.revoked_at != 0);
	assert_int_equal((long long)c.invalidity_date, (long long)(now - 60));
	assert_string_equal(c.org_code, "ACME");
	assert_null(c.der);
	ra_cert_clear(&c);
	audit_read(s, &al);
	assert_int_equal(al.n, 1);
	assert_string_equal(al.action[0], "cert.revoke");
	assert_string_equal(al.actor[0], "api:ACME:0123456789abcdef");
	assert_string_equal(al.object[0], "0A01");
	audit_free(&al);
	assert_int_equal(ra_cert_get(&ca, s, acme, "0A01", 0, &c, &e), 0);
	assert_int_equal(c.status, RA_CERT_REVOKED);
	ra_cert_clear(&c);
	/* twice: a conflict, nothing more written */
	err_clear(&e);
	assert_int_equal(ra_cert_revoke(&ca, s, acme, "0A01", 4, 0, "x", &c, &e), -1);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_int_equal(store_audit_head(s, &seq, h, &e), 0);
	assert_int_equal(seq, 1);
	/* an expired certificate can still be revoked; revoked ones list as revoked */
	assert_int_equal(ra_cert_revoke(&ca, s, acme, "0A02", 0, 0, "x", NULL, &e), 0);
	ra_cert_filter_init(&f);
	f.status = RA_CERT_REVOKED;
	list_expect(&ca, s, acme, &f, "0A01,0A02");
	list_expect(&ca, s, beta, &f, "");
	f.status = RA_CERT_VALID;
	list_expect(&ca, s, acme, &f, "0A04");
	f.status = RA_CERT_EXPIRED;
	list_expect(&ca, s, acme, &f, "");

	store_close(s);
	tu_rmdir(dir);
}

/* store_cert_list's not_after_min (what ra_cert_list's status "valid" asks for) */
static void
t_store_not_after_min(void **state)
{
	static const unsigned char der[] = {0x30, 0x00};
	struct store_cert c, *v = NULL;
	struct store_cert_filter f;
	struct store *s;
	struct err e;
	char *dir;
	size_t n = 0;
	int i;

	(void)state;
	s = fresh_store(&dir);
	err_clear(&e);
	for (i = 0; i < 3; i++) {
		memset(&c, 0, sizeof(c));
		snprintf(c.serial, sizeof(c.serial), "0%d", i + 1);
		c.ca = "shomei";
		c.subject = "CN=x";
		c.profile = "server";
		c.not_before = 100;
		c.not_after = 1000 * (i + 1); /* 1000, 2000, 3000 */
		c.reason = -1;
		c.der = (unsigned char *)der;
		c.derlen = sizeof(der);
		assert_int_equal(store_cert_insert(s, &c, &e), 0);
	}
	memset(&f, 0, sizeof(f));
	f.status = -1;
	f.not_after_min = 2000;
	assert_int_equal(store_cert_list(s, &f, &v, &n, &e), 0);
	assert_int_equal(n, 2);
	STORE_LIST_FREE(v, n, store_cert_clear);
	f.expiring_before = 3000;
	assert_int_equal(store_cert_list(s, &f, &v, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].serial, "02");
	STORE_LIST_FREE(v, n, store_cert_clear);
	store_close(s);
	tu_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(t_key_text),
	    cmocka_unit_test(t_cert_status_names),
	};
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test(t_keys),
	    cmocka_unit_test(t_certs),
	    cmocka_unit_test(t_store_not_after_min),
	};
	int fails = 0;

	log_init("test_ra_api", 0);
	if (sodium_init() < 0)
		return 1;
	fails += cmocka_run_group_tests_name("ra: API key text", pure, NULL, NULL);
	fails += cmocka_run_group_tests_name("ra: keys and certificates on sqlite", stored,
					     grp_sqlite, NULL);
	fails += cmocka_run_group_tests_name("ra: keys and certificates on postgresql", stored,
					     grp_pg, NULL);
	return fails != 0;
}
