/*
 * x509 unit tests: profiles, CSR parsing (good, weak, hostile), TBS building for every
 * profile, one test per lint rule (good TBS, then mutated), text forms, assembly + verify.
 * Keys, CSRs and the test issuer are made here with the OpenSSL API, independently of the
 * code under test.
 */
#include "testutil.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/utf8.h"
#include "x509/x509.h"

#define DAY 86400L

static EVP_PKEY *k_p256, *k_p384, *k_rsa2048, *k_rsa1024, *k_k1, *k_ed25519, *k_ed448;
static EVP_PKEY *ca_key;  /* P-256 */
static X509 *ca_cert;	  /* self-signed, now-1d .. now+20y */
static X509 *rsa_ca_cert; /* RSA-2048 (k_rsa2048), same validity */
static struct x509_issuer issuer, rsa_issuer;

/* ---- helpers (OpenSSL API only) ---- */

/* "CN=a,O=b,C=JP" -> X509_NAME with UTF-8 values (values must not contain ','). */
static X509_NAME *
mkname(const char *spec)
{
	X509_NAME *n = X509_NAME_new();
	char *dup, *p, *next, *eq;

	assert_non_null(n);
	if (spec == NULL || *spec == '\0')
		return n;
	dup = strdup(spec);
	for (p = dup; p != NULL; p = next) {
		next = strchr(p, ',');
		if (next != NULL)
			*next++ = '\0';
		eq = strchr(p, '=');
		assert_non_null(eq);
		*eq = '\0';
		assert_int_equal(X509_NAME_add_entry_by_txt(n, p, MBSTRING_UTF8,
							    (unsigned char *)eq + 1, -1, -1, 0),
				 1);
	}
	free(dup);
	return n;
}

static GENERAL_NAMES *
mksans(const char *conf)
{
	X509_EXTENSION *ext;
	GENERAL_NAMES *g;

	if (conf == NULL)
		return NULL;
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, conf);
	assert_non_null(ext);
	g = X509V3_EXT_d2i(ext);
	assert_non_null(g);
	X509_EXTENSION_free(ext);
	return g;
}

static GENERAL_NAMES *
mksan1(int type, const void *data, int len)
{
	GENERAL_NAMES *g = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_STRING *s =
	    ASN1_STRING_type_new(type == GEN_IPADD ? V_ASN1_OCTET_STRING : V_ASN1_IA5STRING);

	assert_int_equal(ASN1_STRING_set(s, data, len), 1);
	GENERAL_NAME_set0_value(gn, type, s);
	sk_GENERAL_NAME_push(g, gn);
	return g;
}

static void
add_ext_conf(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

static X509 *
mkissuer(EVP_PKEY *key, const char *subject, long nb, long na)
{
	X509 *x = X509_new();
	X509_NAME *n = mkname(subject);
	X509V3_CTX ctx;

	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 0x12345678), 1);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_time_adj_ex(X509_getm_notBefore(x), 0, nb, NULL);
	X509_time_adj_ex(X509_getm_notAfter(x), 0, na, NULL);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	add_ext_conf(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	add_ext_conf(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
	add_ext_conf(x, &ctx, NID_subject_key_identifier, "hash");
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

/* A CSR in DER: caller frees *der (OPENSSL_free). */
static void
mkcsr(EVP_PKEY *key, const char *subject, const char *sans, int san_twice, const EVP_MD *md,
      unsigned char **der, size_t *len)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = mkname(subject);
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	int l;

	X509_REQ_set_version(r, 0);
	X509_REQ_set_subject_name(r, n);
	X509_REQ_set_pubkey(r, key);
	if (sans != NULL) {
		exts = sk_X509_EXTENSION_new_null();
		ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
		assert_non_null(ext);
		sk_X509_EXTENSION_push(exts, ext);
		if (san_twice)
			sk_X509_EXTENSION_push(exts, X509_EXTENSION_dup(ext));
		assert_int_equal(X509_REQ_add_extensions(r, exts), 1);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	assert_true(X509_REQ_sign(r, key, md) > 0);
	*der = NULL;
	l = i2d_X509_REQ(r, der);
	assert_true(l > 0);
	*len = (size_t)l;
	X509_REQ_free(r);
	X509_NAME_free(n);
}

static char *
mkcsr_pem(EVP_PKEY *key, const char *subject, size_t *len)
{
	unsigned char *der;
	const unsigned char *p;
	size_t dlen;
	X509_REQ *r;
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	mkcsr(key, subject, NULL, 0, EVP_sha256(), &der, &dlen);
	p = der;
	r = d2i_X509_REQ(NULL, &p, (long)dlen);
	assert_non_null(r);
	assert_int_equal(PEM_write_bio_X509_REQ(b, r), 1);
	n = BIO_get_mem_data(b, &data);
	out = malloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	BIO_free(b);
	X509_REQ_free(r);
	OPENSSL_free(der);
	return out;
}

static void
expect_err(int rc, const struct err *e, const char *msg)
{
	if (rc != -1 || strcmp(e->msg, msg) != 0)
		fail_msg("expected \"%s\", got rc=%d \"%s\"", msg, rc, e->msg);
}

#define expect_prefix tu_expect_prefix

static int
csr_try(const void *data, size_t len, struct err *e)
{
	struct csr *c = NULL;
	int rc;

	err_clear(e);
	rc = csr_parse(data, len, &c, e);
	csr_free(c);
	return rc;
}

/* Builds a TBS; lint is not run.  sans is an OpenSSL SAN config string or NULL. */
static X509 *
build_x(const struct x509_issuer *is, const char *profile, EVP_PKEY *key, const char *subject,
	const char *sans, time_t nb, long days)
{
	struct x509_template t;
	struct err e;
	X509_NAME *n = mkname(subject);
	GENERAL_NAMES *g = mksans(sans);
	X509 *x = NULL;

	memset(&t, 0, sizeof(t));
	err_clear(&e);
	t.profile = profile_find(profile);
	assert_non_null(t.profile);
	t.subject = n;
	t.pubkey = key;
	t.sans = g;
	t.not_before = nb;
	t.not_after = x509_not_after(nb, days);
	x509_serial_new(t.serial, &t.serial_len);
	if (x509_tbs_build(is, &t, &x, &e) != 0)
		fail_msg("build %s: %s", profile, e.msg);
	X509_NAME_free(n);
	GENERAL_NAMES_free(g);
	return x;
}

static X509 *
build(const char *profile, EVP_PKEY *key, const char *subject, const char *sans)
{
	return build_x(&issuer, profile, key, subject, sans, util_now(),
		       profile_find(profile)->default_days);
}

static X509 *
good_server(void)
{
	return build("server", k_p256, "CN=www.example.com,O=Example,C=JP",
		     "DNS:www.example.com,DNS:example.com,IP:192.0.2.1");
}

static void
lint_ok(X509 *x, const char *profile, const struct x509_issuer *is)
{
	struct err e;

	err_clear(&e);
	if (x509_lint(x, profile_find(profile), is, &e) != 0)
		fail_msg("lint %s: %s", profile, e.msg);
}

static void
lint_expect(X509 *x, const char *profile, const char *msg)
{
	struct err e;
	int rc;

	err_clear(&e);
	rc = x509_lint(x, profile_find(profile), &issuer, &e);
	expect_err(rc, &e, msg);
	assert_int_equal(e.code, ERR_REFUSED);
}

static void
del_ext(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	assert_true(i >= 0);
	X509_EXTENSION_free(X509_delete_ext(x, i));
}

static void
replace_ext(X509 *x, int nid, const char *conf)
{
	del_ext(x, nid);
	add_ext_conf(x, NULL, nid, conf);
}

static void
replace_sans(X509 *x, GENERAL_NAMES *g, int crit)
{
	assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, g, crit, X509V3_ADD_REPLACE),
			 1);
	GENERAL_NAMES_free(g);
}

/* The lint message for a server TBS whose SAN is replaced by one dNSName. */
static void
lint_dns(const char *name, const char *msg)
{
	X509 *x = good_server();

	replace_sans(x, mksan1(GEN_DNS, name, (int)strlen(name)), 0);
	lint_expect(x, "server", msg);
	X509_free(x);
}

static int
ext_crit(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

/* ---- setup ---- */

static int
group_setup(void **state)
{
	k_p256 = EVP_EC_gen("P-256");
	k_p384 = EVP_EC_gen("P-384");
	k_k1 = EVP_EC_gen("secp256k1");
	k_rsa2048 = EVP_RSA_gen(2048);
	k_rsa1024 = EVP_RSA_gen(1024);
	k_ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	k_ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	ca_key = EVP_EC_gen("P-256");
	if (!k_p256 || !k_p384 || !k_k1 || !k_rsa2048 || !k_rsa1024 || !k_ed25519 || !k_ed448 ||
	    !ca_key)
		return -1;
	ca_cert = mkissuer(ca_key, "CN=Test Issuing CA,O=shomei test,C=JP", -DAY, 20 * 366 * DAY);
	rsa_ca_cert =
	    mkissuer(k_rsa2048, "CN=Test RSA CA,O=shomei test,C=JP", -DAY, 20 * 366 * DAY);
	issuer.cert = ca_cert;
	issuer.pubkey = X509_get0_pubkey(ca_cert);
	issuer.name = "issuing";
	issuer.base_url = "http://localhost:8080";
	rsa_issuer = issuer;
	rsa_issuer.cert = rsa_ca_cert;
	rsa_issuer.pubkey = X509_get0_pubkey(rsa_ca_cert);
	rsa_issuer.name = "rsa";
	return 0;
}

static int
group_teardown(void **state)
{
	EVP_PKEY_free(k_p256);
	EVP_PKEY_free(k_p384);
	EVP_PKEY_free(k_k1);
	EVP_PKEY_free(k_rsa2048);
	EVP_PKEY_free(k_rsa1024);
	EVP_PKEY_free(k_ed25519);
	EVP_PKEY_free(k_ed448);
	EVP_PKEY_free(ca_key);
	X509_free(ca_cert);
	X509_free(rsa_ca_cert);
	return 0;
}

/* ---- profiles ---- */

static void
test_profile_table(void **state)
{
	static const char *const names[] = {"server", "client",	 "codesign",   "officer",   "ocsp",
					    "tsa",    "root-ca", "issuing-ca", "shortlived"};
	const struct profile *all, *p;
	size_t n, i;

	all = profile_all(&n);
	assert_int_equal(n, 9);
	for (i = 0; i < n; i++) {
		assert_string_equal(all[i].name, names[i]);
		assert_ptr_equal(profile_find(names[i]), &all[i]);
		assert_true(all[i].default_days <= all[i].max_days);
	}
	assert_null(profile_find("nosuch"));
	assert_null(profile_find(NULL));
	p = profile_find("server");
	assert_int_equal(p->max_days, 398);
	assert_int_equal(p->default_days, 397);
	assert_int_equal(p->key_usage, KU_DIGITAL_SIGNATURE);
	assert_int_equal(p->ku_rsa_extra, KU_KEY_ENCIPHERMENT);
	assert_int_equal(p->san_required, X509_SAN_DNS | X509_SAN_IP);
	p = profile_find("tsa");
	assert_int_equal(p->eku[0], NID_time_stamp);
	assert_int_equal(p->eku[1], NID_undef);
	assert_true(p->eku_critical);
	assert_int_equal(profile_find("root-ca")->max_days, 7305);
	assert_int_equal(profile_find("issuing-ca")->max_days, 3653);
	assert_int_equal(profile_find("issuing-ca")->path_len, 0);
	assert_int_equal(profile_find("root-ca")->path_len, -1);
	assert_true(profile_find("officer")->officer_marker);
	assert_true(profile_find("ocsp")->ocsp_nocheck);
	assert_false(profile_find("ocsp")->cdp_aia);
	/* short-lived: the server profile's, at most 7 days, caIssuers alone */
	p = profile_find("shortlived");
	assert_int_equal(p->max_days, 7);
	assert_int_equal(p->cdp_aia, X509_CDP_AIA_SHORT_LIVED);
	assert_int_equal(p->eku[0], NID_server_auth);
	assert_int_equal(p->san_required, X509_SAN_DNS | X509_SAN_IP);
}

static void
test_profile_configure(void **state)
{
	struct conf c;
	struct err e;

	memset(&c, 0, sizeof(c));
	err_clear(&e);
	conf_set(&c, "listen", "8080");
	conf_set(&c, "profile.server.max_days", "90");
	conf_set(&c, "profile.server.default_days", "30");
	conf_set(&c, "profile.client.max_days", "100"); /* default 365 follows down to 100 */
	assert_int_equal(profile_configure(&c, &e), 0);
	assert_int_equal(profile_find("server")->max_days, 90);
	assert_int_equal(profile_find("server")->default_days, 30);
	assert_int_equal(profile_find("client")->max_days, 100);
	assert_int_equal(profile_find("client")->default_days, 100);
	assert_int_equal(profile_find("codesign")->max_days, 1095);
	conf_free(&c);

	/* refusals leave the table as it was */
	memset(&c, 0, sizeof(c));
	conf_set(&c, "profile.nosuch.max_days", "10");
	err_clear(&e);
	expect_prefix(profile_configure(&c, &e), &e,
		      "config:0: profile.nosuch.max_days: unknown "
		      "profile \"nosuch\"");
	assert_int_equal(profile_find("server")->max_days, 90);
	conf_free(&c);

	memset(&c, 0, sizeof(c));
	conf_set(&c, "profile.server.max_days", "100");
	conf_set(&c, "profile.server.default_days", "200");
	err_clear(&e);
	expect_err(profile_configure(&c, &e), &e,
		   "config: profile server: default_days 200 exceeds max_days 100");
	conf_free(&c);

	memset(&c, 0, sizeof(c));
	conf_set(&c, "profile.server.max_days", "400");
	err_clear(&e);
	expect_prefix(profile_configure(&c, &e), &e,
		      "config:0: profile.server.max_days: expected a number of days from 1 to 398");
	conf_free(&c);

	memset(&c, 0, sizeof(c));
	conf_set(&c, "profile.server.max_days", "ten");
	err_clear(&e);
	assert_int_equal(profile_configure(&c, &e), -1);
	conf_free(&c);

	memset(&c, 0, sizeof(c));
	conf_set(&c, "profile.server.colour", "1");
	err_clear(&e);
	expect_prefix(profile_configure(&c, &e), &e,
		      "config:0: profile.server.colour: unknown "
		      "profile setting");
	conf_free(&c);

	/* an empty configuration restores the built-in numbers */
	memset(&c, 0, sizeof(c));
	err_clear(&e);
	assert_int_equal(profile_configure(&c, &e), 0);
	assert_int_equal(profile_find("server")->max_days, 398);
	assert_int_equal(profile_find("server")->default_days, 397);
	assert_int_equal(profile_find("client")->default_days, 365);
	conf_free(&c);
}

/* keyAgreement for EC client keys by default, and switched off by the profile setting */
static void
test_ku_key_agreement(void **state)
{
	struct conf c;
	struct err e;
	X509 *x;
	ASN1_BIT_STRING *ku;

	x = build("client", k_p256, "CN=Taro", "email:taro@example.com");
	ku = X509_get_ext_d2i(x, NID_key_usage, NULL, NULL);
	assert_non_null(ku);
	assert_true(ASN1_BIT_STRING_get_bit(ku, 0) && ASN1_BIT_STRING_get_bit(ku, 4));
	assert_false(ASN1_BIT_STRING_get_bit(ku, 2)); /* never keyEncipherment on EC (RFC 5480) */
	ASN1_BIT_STRING_free(ku);
	lint_ok(x, "client", &issuer);
	X509_free(x);
	/* server certificates sign (ECDHE): no keyAgreement */
	x = good_server();
	ku = X509_get_ext_d2i(x, NID_key_usage, NULL, NULL);
	assert_false(ASN1_BIT_STRING_get_bit(ku, 4));
	ASN1_BIT_STRING_free(ku);
	X509_free(x);

	memset(&c, 0, sizeof(c));
	err_clear(&e);
	conf_set(&c, "profile.client.key_agreement", "no");
	assert_int_equal(profile_configure(&c, &e), 0);
	x = build("client", k_p256, "CN=Taro", "email:taro@example.com");
	ku = X509_get_ext_d2i(x, NID_key_usage, NULL, NULL);
	assert_false(ASN1_BIT_STRING_get_bit(ku, 4));
	ASN1_BIT_STRING_free(ku);
	lint_ok(x, "client", &issuer);
	X509_free(x);
	conf_set(&c, "profile.client.key_agreement", "maybe");
	err_clear(&e);
	expect_prefix(profile_configure(&c, &e), &e,
		      "config:0: profile.client.key_agreement: expected yes or no");
	conf_free(&c);
	memset(&c, 0, sizeof(c));
	assert_int_equal(profile_configure(&c, &e), 0);
	/* a certificate made without keyAgreement no longer passes the default profile */
	conf_set(&c, "profile.client.key_agreement", "no");
	assert_int_equal(profile_configure(&c, &e), 0);
	x = build("client", k_p256, "CN=Taro", "email:taro@example.com");
	conf_free(&c);
	memset(&c, 0, sizeof(c));
	assert_int_equal(profile_configure(&c, &e), 0);
	lint_expect(x, "client",
		    "lint: profile client: keyUsage must be exactly digitalSignature, "
		    "keyAgreement");
	X509_free(x);
}

/* TLS server certificates: no Ed25519, no RSA exponent below 65537, unless allowed */
static void
test_key_by_profile(void **state)
{
	EVP_PKEY_CTX *kc;
	EVP_PKEY *e3 = NULL;
	BIGNUM *three = BN_new();
	struct conf c;
	struct err e;
	X509 *x;

	kc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	assert_non_null(kc);
	assert_true(BN_set_word(three, 3));
	assert_int_equal(EVP_PKEY_keygen_init(kc), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(kc, 2048), 1);
	assert_int_equal(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(kc, three), 1);
	assert_int_equal(EVP_PKEY_keygen(kc, &e3), 1);
	EVP_PKEY_CTX_free(kc);
	BN_free(three);

	x = build_x(&issuer, "server", k_ed25519, "CN=ed.example.com", "DNS:ed.example.com",
		    util_now(), 90);
	lint_expect(x, "server",
		    "key: profile server: Ed25519 keys are not accepted (TLS clients do not "
		    "support them); use an EC P-256 or RSA key, or set "
		    "profile.server.allow_ed25519 = yes");
	X509_free(x);
	x = build_x(&issuer, "server", e3, "CN=e3.example.com", "DNS:e3.example.com", util_now(),
		    90);
	lint_expect(x, "server",
		    "key: profile server: RSA public exponent below 65537 is not accepted "
		    "(CA/Browser Forum BR 6.1.6); make the key with e = 65537, or set "
		    "profile.server.allow_small_rsa_exponent = yes");
	X509_free(x);
	/* other profiles take both; e = 65537 passes everywhere */
	x = build("client", e3, "CN=Taro", "email:taro@example.com");
	lint_ok(x, "client", &issuer);
	X509_free(x);
	x = build("server", k_rsa2048, "CN=r.example.com", "DNS:r.example.com");
	lint_ok(x, "server", &issuer);
	X509_free(x);

	memset(&c, 0, sizeof(c));
	err_clear(&e);
	conf_set(&c, "profile.server.allow_ed25519", "yes");
	conf_set(&c, "profile.server.allow_small_rsa_exponent", "yes");
	assert_int_equal(profile_configure(&c, &e), 0);
	x = build_x(&issuer, "server", k_ed25519, "CN=ed.example.com", "DNS:ed.example.com",
		    util_now(), 90);
	lint_ok(x, "server", &issuer);
	X509_free(x);
	x = build("server", e3, "CN=e3.example.com", "DNS:e3.example.com");
	lint_ok(x, "server", &issuer);
	X509_free(x);
	conf_free(&c);
	memset(&c, 0, sizeof(c));
	assert_int_equal(profile_configure(&c, &e), 0);
	EVP_PKEY_free(e3);
}

/* certificatePolicies: the configured OIDs and CPS in every profile but the root's */
static void
test_policies(void **state)
{
	struct conf c;
	struct err e;
	X509 *x, *plain;
	CERTIFICATEPOLICIES *pols;
	POLICYINFO *pi;
	POLICYQUALINFO *q;
	char oid[80];

	plain = good_server(); /* made before any policy is configured */
	assert_null(X509_get_ext_d2i(plain, NID_certificate_policies, NULL, NULL));
	memset(&c, 0, sizeof(c));
	err_clear(&e);
	conf_set(&c, "policies", "1.3.6.1.4.1.99999.1.1");
	conf_set(&c, "cps_uri", "https://ca.example.jp/cps");
	conf_set(&c, "profile.codesign.policies", "1.3.6.1.4.1.99999.1.3, 1.3.6.1.4.1.99999.1.4");
	assert_int_equal(profile_configure(&c, &e), 0);
	assert_string_equal(profile_find("issuing-ca")->policies[0], "1.3.6.1.4.1.99999.1.1");
	assert_string_equal(profile_find("tsa")->cps_uri, "https://ca.example.jp/cps");
	assert_string_equal(profile_find("root-ca")->policies[0], "");
	assert_string_equal(profile_find("codesign")->policies[1], "1.3.6.1.4.1.99999.1.4");

	x = good_server();
	pols = X509_get_ext_d2i(x, NID_certificate_policies, NULL, NULL);
	assert_non_null(pols);
	assert_int_equal(sk_POLICYINFO_num(pols), 1);
	pi = sk_POLICYINFO_value(pols, 0);
	OBJ_obj2txt(oid, sizeof(oid), pi->policyid, 1);
	assert_string_equal(oid, "1.3.6.1.4.1.99999.1.1");
	q = sk_POLICYQUALINFO_value(pi->qualifiers, 0);
	assert_int_equal(OBJ_obj2nid(q->pqualid), NID_id_qt_cps);
	assert_memory_equal(ASN1_STRING_get0_data(q->d.cpsuri), "https://ca.example.jp/cps", 25);
	CERTIFICATEPOLICIES_free(pols);
	lint_ok(x, "server", &issuer);
	/* lint checks presence: the certificate made without them is refused now */
	lint_expect(plain, "server", "lint: RFC 5280 4.2.1.4: certificatePolicies missing");
	{
		X509 *cs = build("codesign", k_rsa2048, "CN=Example Code,O=Example,C=JP",
				 "email:dev@example.com");

		pols = X509_get_ext_d2i(cs, NID_certificate_policies, NULL, NULL);
		assert_int_equal(sk_POLICYINFO_num(pols), 2);
		CERTIFICATEPOLICIES_free(pols);
		lint_ok(cs, "codesign", &issuer);
		X509_free(cs);
	}
	conf_free(&c);
	/* ... and one whose policies differ from the configured ones */
	memset(&c, 0, sizeof(c));
	conf_set(&c, "policies", "1.3.6.1.4.1.99999.1.9");
	assert_int_equal(profile_configure(&c, &e), 0);
	lint_expect(x, "server",
		    "lint: profile server: certificatePolicies must be 1.3.6.1.4.1.99999.1.9 "
		    "(as configured)");
	X509_free(x);
	conf_free(&c);

	/* bad values */
	memset(&c, 0, sizeof(c));
	conf_set(&c, "policies", "2.5.29.32.0");
	err_clear(&e);
	expect_prefix(profile_configure(&c, &e), &e,
		      "config:0: policies: \"2.5.29.32.0\" is not a policy OID");
	conf_free(&c);
	memset(&c, 0, sizeof(c));
	conf_set(&c, "profile.server.policies", "1.2.x");
	err_clear(&e);
	expect_prefix(profile_configure(&c, &e), &e,
		      "config:0: profile.server.policies: \"1.2.x\" is not a policy OID");
	conf_free(&c);
	memset(&c, 0, sizeof(c));
	conf_set(&c, "policies", "1.2.3.4, 1.2.3.4");
	err_clear(&e);
	expect_prefix(profile_configure(&c, &e), &e,
		      "config:0: policies: 1.2.3.4 is listed twice (RFC 5280 4.2.1.4)");
	conf_free(&c);
	memset(&c, 0, sizeof(c));
	/* OpenSSL reads 1.2.03.4 as 1.2.3.4: a text lint could never match */
	conf_set(&c, "policies", "1.2.03.4");
	err_clear(&e);
	expect_prefix(profile_configure(&c, &e), &e,
		      "config:0: policies: \"1.2.03.4\" is not a policy OID");
	conf_free(&c);
	assert_int_equal(x509_oid_text_ok("1.2.0.4"), 1);
	assert_int_equal(x509_oid_text_ok("0.9.2342"), 1);
	assert_int_equal(x509_oid_text_ok("1.2.3."), 0);
	assert_int_equal(x509_oid_text_ok(".1.2"), 0);
	assert_int_equal(x509_oid_text_ok("1..2"), 0);
	assert_int_equal(x509_oid_text_ok("12"), 0);
	memset(&c, 0, sizeof(c));
	conf_set(&c, "cps_uri", "ftp://x");
	err_clear(&e);
	expect_prefix(profile_configure(&c, &e), &e,
		      "config:0: cps_uri: expected an http:// or https:// URL");
	conf_free(&c);
	memset(&c, 0, sizeof(c));
	conf_set(&c, "cps_uri", "https://ca.example.jp/cps");
	err_clear(&e);
	expect_prefix(profile_configure(&c, &e), &e,
		      "config: profile server: a cps_uri needs a policy OID");
	conf_free(&c);
	/* the refusals left the table as configured; an empty configuration clears it */
	assert_string_equal(profile_find("server")->policies[0], "1.3.6.1.4.1.99999.1.9");
	memset(&c, 0, sizeof(c));
	assert_int_equal(profile_configure(&c, &e), 0);
	assert_string_equal(profile_find("server")->policies[0], "");
	lint_ok(plain, "server", &issuer);
	X509_free(plain);
}

/* ---- CSR ---- */

static void
test_csr_good(void **state)
{
	EVP_PKEY *keys[] = {k_p256, k_p384, k_rsa2048, k_ed25519};
	unsigned char *der;
	size_t len, i;
	struct csr *c = NULL;
	struct err e;
	char *pem;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		mkcsr(keys[i], "CN=www.example.com,O=Example,C=JP", NULL, 0,
		      keys[i] == k_ed25519 ? NULL : EVP_sha256(), &der, &len);
		err_clear(&e);
		if (csr_parse(der, len, &c, &e) != 0)
			fail_msg("key %zu: %s", i, e.msg);
		assert_non_null(c->spki);
		assert_int_equal(EVP_PKEY_eq(c->pkey, keys[i]), 1);
		assert_int_equal(X509_NAME_entry_count(c->subject), 3);
		assert_null(c->sans);
		csr_free(c);
		c = NULL;
		OPENSSL_free(der);
	}
	/* PEM, with text before it as `openssl req -text` writes */
	pem = mkcsr_pem(k_p256, "CN=pem.example.com", &len);
	err_clear(&e);
	assert_int_equal(csr_parse((unsigned char *)pem, len, &c, &e), 0);
	csr_free(c);
	c = NULL;
	{
		size_t n = strlen(pem) + 64;
		char *withtext = malloc(n);

		snprintf(withtext, n, "Certificate Request:\n  Data: ...\n%s", pem);
		err_clear(&e);
		assert_int_equal(csr_parse((unsigned char *)withtext, strlen(withtext), &c, &e), 0);
		csr_free(c);
		c = NULL;
		free(withtext);
	}
	free(pem);
	csr_free(NULL);
}

static void
test_csr_new_label(void **state)
{
	size_t len;
	char *pem = mkcsr_pem(k_p256, "CN=x", &len), *b, *body, *end;
	struct buf out;
	struct err e;

	/* rewrite as NEW CERTIFICATE REQUEST */
	buf_init(&out, 1 << 20);
	body = strstr(pem, "-----\n") + 6;
	end = strstr(body, "-----END");
	buf_printf(&out,
		   "-----BEGIN NEW CERTIFICATE REQUEST-----\n%.*s"
		   "-----END NEW CERTIFICATE REQUEST-----\n",
		   (int)(end - body), body);
	b = buf_cstr(&out);
	assert_int_equal(csr_try(b, out.len, &e), 0);
	buf_free(&out);
	free(pem);
}

static void
test_csr_sans(void **state)
{
	unsigned char *der;
	size_t len;
	struct csr *c = NULL;
	struct err e;
	char *text;

	mkcsr(k_p256, "CN=www.example.com", "DNS:www.example.com,IP:192.0.2.1,IP:2001:db8::1", 0,
	      EVP_sha256(), &der, &len);
	err_clear(&e);
	assert_int_equal(csr_parse(der, len, &c, &e), 0);
	assert_non_null(c->sans);
	assert_int_equal(sk_GENERAL_NAME_num(c->sans), 3);
	text = x509_sans_text(c->sans);
	assert_string_equal(text, "DNS:www.example.com, IP:192.0.2.1, IP:2001:db8::1");
	free(text);
	csr_free(c);
	OPENSSL_free(der);
}

static void
test_csr_weak_keys(void **state)
{
	unsigned char *der;
	size_t len;
	struct err e;

	mkcsr(k_rsa1024, "CN=weak", NULL, 0, EVP_sha256(), &der, &len);
	expect_err(csr_try(der, len, &e), &e,
		   "key: RSA key of 1024 bits is too weak (minimum 2048)");
	assert_int_equal(e.code, ERR_REFUSED);
	OPENSSL_free(der);

	mkcsr(k_k1, "CN=k1", NULL, 0, EVP_sha256(), &der, &len);
	expect_err(csr_try(der, len, &e), &e,
		   "key: curve secp256k1 is not approved (P-256, P-384, P-521)");
	OPENSSL_free(der);

	mkcsr(k_ed448, "CN=ed448", NULL, 0, NULL, &der, &len);
	expect_prefix(csr_try(der, len, &e), &e, "key: algorithm ED448 is not accepted");
	OPENSSL_free(der);

	/* a weak digest for the proof of possession */
	mkcsr(k_p256, "CN=sha1", NULL, 0, EVP_sha1(), &der, &len);
	expect_prefix(csr_try(der, len, &e), &e,
		      "csr: signature algorithm ecdsa-with-SHA1 is not "
		      "accepted");
	OPENSSL_free(der);
}

static void
test_csr_duplicate_extension(void **state)
{
	unsigned char *der;
	size_t len;
	struct err e;

	mkcsr(k_p256, "CN=dup", "DNS:a.example.com", 1, EVP_sha256(), &der, &len);
	expect_err(csr_try(der, len, &e), &e,
		   "csr: RFC 5280 4.2: duplicate extension subjectAltName");
	OPENSSL_free(der);
}

static void
test_csr_bad_san(void **state)
{
	unsigned char *der;
	size_t len;
	struct err e;

	mkcsr(k_p256, "CN=bad", "DNS:a..b", 0, EVP_sha256(), &der, &len);
	expect_err(csr_try(der, len, &e), &e, "csr: RFC 5280 4.2.1.6: bad DNS name \"a..b\"");
	OPENSSL_free(der);
}

static void
test_csr_bad_signature(void **state)
{
	unsigned char *der;
	size_t len;
	struct err e;

	mkcsr(k_p256, "CN=sig", NULL, 0, EVP_sha256(), &der, &len);
	der[len - 3] ^= 0x01; /* inside the ECDSA signature's s */
	expect_err(csr_try(der, len, &e), &e, "csr: RFC 2986: signature does not verify");
	OPENSSL_free(der);

	mkcsr(k_rsa2048, "CN=sig", NULL, 0, EVP_sha256(), &der, &len);
	der[len - 1] ^= 0x80;
	expect_err(csr_try(der, len, &e), &e, "csr: RFC 2986: signature does not verify");
	OPENSSL_free(der);
}

static void
test_csr_version(void **state)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = mkname("CN=v2");
	unsigned char *der = NULL;
	int len;
	struct err e;

	X509_REQ_set_version(r, 1);
	X509_REQ_set_subject_name(r, n);
	X509_REQ_set_pubkey(r, k_p256);
	assert_true(X509_REQ_sign(r, k_p256, EVP_sha256()) > 0);
	len = i2d_X509_REQ(r, &der);
	expect_err(csr_try(der, (size_t)len, &e), &e,
		   "csr: RFC 2986 4.1: version must be v1 (0), not 1");
	OPENSSL_free(der);
	X509_REQ_free(r);
	X509_NAME_free(n);
}

static void
test_csr_garbage(void **state)
{
	static const char *const bad_b64 = "-----BEGIN CERTIFICATE REQUEST-----\n"
					   "MIIBIjANBgkqhkiG9w0B$$$AQEFAAOCAQ8AMIIBCgKCAQEA\n"
					   "-----END CERTIFICATE REQUEST-----\n";
	static const char *const cert_pem = "-----BEGIN CERTIFICATE-----\n"
					    "MIIB\n"
					    "-----END CERTIFICATE-----\n";
	static const char *const no_end = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n";
	unsigned char junk[512], *der, *big, *twice;
	size_t len, i;
	struct err e;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	expect_err(csr_try(junk, sizeof(junk), &e), &e,
		   "csr: not a PEM or DER certificate request");
	expect_err(csr_try("", 0, &e), &e, "csr: not a PEM or DER certificate request");
	expect_err(csr_try("hello world", 11, &e), &e, "csr: not a PEM or DER certificate request");
	junk[0] = 0x30;
	expect_err(csr_try(junk, sizeof(junk), &e), &e,
		   "csr: not a PEM or DER certificate request");
	expect_err(csr_try(bad_b64, strlen(bad_b64), &e), &e, "csr: PEM: bad base64 encoding");
	expect_err(csr_try(cert_pem, strlen(cert_pem), &e), &e,
		   "csr: not a PEM or DER certificate request (PEM label \"CERTIFICATE\")");
	expect_prefix(csr_try(no_end, strlen(no_end), &e), &e, "csr: PEM: no \"-----END");

	/* 1 MB */
	big = calloc(1, 1 << 20);
	big[0] = 0x30;
	expect_err(csr_try(big, 1 << 20, &e), &e, "csr: larger than 65536 bytes");
	free(big);

	/* truncated and trailing DER */
	mkcsr(k_p256, "CN=t", NULL, 0, EVP_sha256(), &der, &len);
	for (i = 0; i < len; i += 7)
		expect_err(csr_try(der, i, &e), &e, "csr: not a PEM or DER certificate request");
	twice = malloc(len + 1);
	memcpy(twice, der, len);
	twice[len] = 0;
	expect_err(csr_try(twice, len + 1, &e), &e, "csr: DER: 1 trailing bytes after the request");
	/* every single-byte corruption either parses or fails cleanly */
	for (i = 0; i < len; i++) {
		memcpy(twice, der, len);
		twice[i] ^= 0xff;
		(void)csr_try(twice, len, &e);
	}
	free(twice);
	OPENSSL_free(der);
}

/* ---- build ---- */

struct expect {
	const char *profile;
	EVP_PKEY **key;
	const char *subject;
	const char *sans;
	unsigned ku;
	int eku[6];
	int eku_crit;
	int ca;
	long pathlen;
	int cdp; /* 0: none; 1: CDP, AIA OCSP + caIssuers; 2: CDP, AIA caIssuers only */
	int nocheck;
	int marker;
};

static void
check_ku(X509 *x, unsigned want)
{
	ASN1_BIT_STRING *ku = X509_get_ext_d2i(x, NID_key_usage, NULL, NULL);
	static const unsigned bits[9] = {
	    KU_DIGITAL_SIGNATURE, KU_NON_REPUDIATION, KU_KEY_ENCIPHERMENT,
	    KU_DATA_ENCIPHERMENT, KU_KEY_AGREEMENT,   KU_KEY_CERT_SIGN,
	    KU_CRL_SIGN,	  KU_ENCIPHER_ONLY,   KU_DECIPHER_ONLY,
	};
	unsigned got = 0;
	int i;

	assert_non_null(ku);
	for (i = 0; i < 9; i++)
		if (ASN1_BIT_STRING_get_bit(ku, i))
			got |= bits[i];
	assert_int_equal(got, want);
	ASN1_BIT_STRING_free(ku);
}

static void
check_uri(const GENERAL_NAME *gn, const char *url)
{
	assert_int_equal(gn->type, GEN_URI);
	assert_int_equal(ASN1_STRING_length(gn->d.uniformResourceIdentifier), strlen(url));
	assert_memory_equal(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), url,
			    strlen(url));
}

static void
check_built(X509 *x, const struct expect *w, const char *crl, const char *ocsp, const char *ca)
{
	BASIC_CONSTRAINTS *bc;
	EXTENDED_KEY_USAGE *eku;
	CRL_DIST_POINTS *cdp;
	AUTHORITY_INFO_ACCESS *aia;
	AUTHORITY_KEYID *akid;
	ASN1_OCTET_STRING *ski;
	int i, n = 0, crit;

	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	/* BC: critical everywhere */
	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_int_equal(bc->ca != 0, w->ca);
	if (w->pathlen >= 0)
		assert_int_equal(ASN1_INTEGER_get(bc->pathlen), w->pathlen);
	else
		assert_null(bc->pathlen);
	BASIC_CONSTRAINTS_free(bc);
	/* KU: critical everywhere */
	assert_int_equal(ext_crit(x, NID_key_usage), 1);
	check_ku(x, w->ku);
	/* EKU */
	while (n < 6 && w->eku[n] != NID_undef)
		n++;
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
	if (n == 0) {
		assert_null(eku);
	} else {
		assert_non_null(eku);
		assert_int_equal(crit, w->eku_crit);
		assert_int_equal(sk_ASN1_OBJECT_num(eku), n);
		for (i = 0; i < n; i++)
			assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)), w->eku[i]);
		sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	}
	/* SKI, AKI: not critical, AKI = issuer's SKI */
	ski = X509_get_ext_d2i(x, NID_subject_key_identifier, &crit, NULL);
	assert_non_null(ski);
	assert_int_equal(crit, 0);
	assert_int_equal(ASN1_STRING_length(ski), 20);
	ASN1_OCTET_STRING_free(ski);
	akid = X509_get_ext_d2i(x, NID_authority_key_identifier, &crit, NULL);
	assert_non_null(akid);
	assert_int_equal(crit, 0);
	assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(ca_cert)), 0);
	assert_null(akid->issuer);
	AUTHORITY_KEYID_free(akid);
	/* CDP, AIA */
	cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, &crit, NULL);
	aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	if (!w->cdp) {
		assert_null(cdp);
		assert_null(aia);
	} else {
		assert_non_null(cdp);
		assert_int_equal(crit, 0);
		assert_int_equal(sk_DIST_POINT_num(cdp), 1);
		check_uri(
		    sk_GENERAL_NAME_value(sk_DIST_POINT_value(cdp, 0)->distpoint->name.fullname, 0),
		    crl);
		assert_non_null(aia);
		assert_int_equal(ext_crit(x, NID_info_access), 0);
		assert_int_equal(sk_ACCESS_DESCRIPTION_num(aia), w->cdp == 2 ? 1 : 2);
		if (w->cdp == 1) {
			assert_int_equal(OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia, 0)->method),
					 NID_ad_OCSP);
			check_uri(sk_ACCESS_DESCRIPTION_value(aia, 0)->location, ocsp);
		}
		assert_int_equal(OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia, 2 - w->cdp)->method),
				 NID_ad_ca_issuers);
		check_uri(sk_ACCESS_DESCRIPTION_value(aia, 2 - w->cdp)->location, ca);
	}
	sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);
	sk_ACCESS_DESCRIPTION_pop_free(aia, ACCESS_DESCRIPTION_free);
	assert_int_equal(ext_crit(x, NID_id_pkix_OCSP_noCheck), w->nocheck ? 0 : -1);
	/* marker */
	i = X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_title, -1);
	if (w->marker) {
		assert_true(i >= 0);
		assert_string_equal(ASN1_STRING_get0_data(X509_NAME_ENTRY_get_data(
					X509_NAME_get_entry(X509_get_subject_name(x), i))),
				    X509_OFFICER_MARKER_VALUE);
	} else {
		assert_int_equal(i, -1);
	}
	/* SAN critical only with an empty subject */
	if (w->sans != NULL)
		assert_int_equal(ext_crit(x, NID_subject_alt_name), 0);
	else
		assert_int_equal(ext_crit(x, NID_subject_alt_name), -1);
	/* issuer name, signature algorithm */
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca_cert)), 0);
	assert_int_equal(OBJ_obj2nid(X509_get0_tbs_sigalg(x)->algorithm), NID_ecdsa_with_SHA256);
}

static void
test_build_profiles(void **state)
{
	static const struct expect w[] = {
	    {"server",
	     &k_p256,
	     "CN=www.example.com,O=Example,C=JP",
	     "DNS:www.example.com",
	     KU_DIGITAL_SIGNATURE,
	     {NID_server_auth},
	     0,
	     0,
	     -1,
	     1,
	     0,
	     0},
	    {"server",
	     &k_rsa2048,
	     "CN=www.example.com",
	     "DNS:www.example.com,IP:192.0.2.7",
	     KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT,
	     {NID_server_auth},
	     0,
	     0,
	     -1,
	     1,
	     0,
	     0},
	    {"client",
	     &k_ed25519,
	     "CN=Ed Example",
	     "email:ed@example.com",
	     KU_DIGITAL_SIGNATURE, /* keyAgreement is for EC keys (X25519 is another key) */
	     {NID_client_auth, NID_email_protect},
	     0,
	     0,
	     -1,
	     1,
	     0,
	     0},
	    {"client",
	     &k_p384,
	     "CN=Taro Yamada,O=Example,C=JP",
	     "email:taro@example.com",
	     KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT, /* S/MIME to an EC key: ECDH */
	     {NID_client_auth, NID_email_protect},
	     0,
	     0,
	     -1,
	     1,
	     0,
	     0},
	    {"client",
	     &k_rsa2048,
	     "CN=Taro Yamada",
	     "email:taro@example.com",
	     KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT,
	     {NID_client_auth, NID_email_protect},
	     0,
	     0,
	     -1,
	     1,
	     0,
	     0},
	    {"codesign",
	     &k_rsa2048,
	     "CN=Example Code,O=Example,C=JP",
	     "email:dev@example.com,URI:https://example.com/",
	     KU_DIGITAL_SIGNATURE,
	     {NID_code_sign},
	     0,
	     0,
	     -1,
	     1,
	     0,
	     0},
	    {"codesign",
	     &k_p256,
	     "CN=Example Code",
	     NULL,
	     KU_DIGITAL_SIGNATURE,
	     {NID_code_sign},
	     0,
	     0,
	     -1,
	     1,
	     0,
	     0},
	    {"officer",
	     &k_p256,
	     "CN=Officer One,O=Example,C=JP",
	     "email:officer@example.com",
	     KU_DIGITAL_SIGNATURE,
	     {NID_client_auth},
	     0,
	     0,
	     -1,
	     1,
	     0,
	     1},
	    {"ocsp",
	     &k_p256,
	     "CN=OCSP Responder",
	     NULL,
	     KU_DIGITAL_SIGNATURE,
	     {NID_OCSP_sign},
	     0,
	     0,
	     -1,
	     0,
	     1,
	     0},
	    {"tsa",
	     &k_p256,
	     "CN=Timestamp Authority",
	     NULL,
	     KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION,
	     {NID_time_stamp},
	     1,
	     0,
	     -1,
	     1,
	     0,
	     0},
	    {"issuing-ca",
	     &k_p384,
	     "CN=Sub CA,O=Example,C=JP",
	     NULL,
	     KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE,
	     {NID_server_auth, NID_client_auth, NID_email_protect, NID_code_sign, NID_time_stamp},
	     0,
	     1,
	     0,
	     2, /* no OCSP URL: no responder speaks for the issuing CA */
	     0,
	     0},
	};
	size_t i;
	X509 *x;

	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		x = build(w[i].profile, *w[i].key, w[i].subject, w[i].sans);
		check_built(x, &w[i], "http://localhost:8080/crl/issuing.crl",
			    "http://localhost:8080/ocsp", "http://localhost:8080/ca/issuing.crt");
		lint_ok(x, w[i].profile, &issuer);
		X509_free(x);
	}
}

static void
test_build_serial(void **state)
{
	unsigned char s[20];
	size_t len, i;
	const ASN1_INTEGER *ai;
	X509 *x;
	char hex[41];

	for (i = 0; i < 2000; i++) {
		x509_serial_new(s, &len);
		assert_int_equal(len, 16);
		assert_true(s[0] >= 0x01 && s[0] <= 0x7f);
	}
	x = good_server();
	ai = X509_get0_serialNumber(x);
	assert_int_equal(ASN1_STRING_type(ai), V_ASN1_INTEGER);
	assert_int_equal(ASN1_STRING_length(ai), 16);
	assert_true(ASN1_STRING_get0_data(ai)[0] >= 1 && ASN1_STRING_get0_data(ai)[0] <= 0x7f);
	assert_int_equal(x509_serial_hex(ai, hex, sizeof(hex)), 0);
	assert_int_equal(strlen(hex), 32);
	X509_free(x);
}

static const ASN1_STRING *
subject_value(X509 *x, int nid)
{
	const X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, nid, -1);

	assert_true(i >= 0);
	return X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
}

static void
test_build_japanese(void **state)
{
	static const char cn[] = "山田 太郎", o[] = "株式会社テスト";
	ASN1_STRING *bmp = NULL, *t61 = NULL;
	X509_NAME *n = X509_NAME_new();
	const ASN1_STRING *v;
	struct x509_template t;
	struct err e;
	GENERAL_NAMES *g = mksans("email:taro@example.jp");
	X509 *x = NULL;
	char *text;

	/* the CSR side uses BMPString, T61String and a lower-case PrintableString */
	assert_true(ASN1_mbstring_copy(&bmp, (const unsigned char *)cn, -1, MBSTRING_UTF8,
				       B_ASN1_BMPSTRING) > 0);
	assert_int_equal(ASN1_STRING_type(bmp), V_ASN1_BMPSTRING);
	X509_NAME_add_entry_by_NID(n, NID_commonName, V_ASN1_BMPSTRING, bmp->data, bmp->length, -1,
				   0);
	X509_NAME_add_entry_by_NID(n, NID_organizationName, V_ASN1_UTF8STRING,
				   (const unsigned char *)o, -1, -1, 0);
	X509_NAME_add_entry_by_NID(n, NID_organizationalUnitName, V_ASN1_T61STRING,
				   (const unsigned char *)"Dev", -1, -1, 0);
	X509_NAME_add_entry_by_NID(n, NID_countryName, V_ASN1_PRINTABLESTRING,
				   (const unsigned char *)"jp", -1, -1, 0);
	X509_NAME_add_entry_by_NID(n, NID_pkcs9_emailAddress, V_ASN1_UTF8STRING,
				   (const unsigned char *)"taro@example.jp", -1, -1, 0);
	memset(&t, 0, sizeof(t));
	t.profile = profile_find("client");
	t.subject = n;
	t.pubkey = k_p256;
	t.sans = g;
	t.not_before = util_now();
	t.not_after = t.not_before + 365 * DAY;
	x509_serial_new(t.serial, &t.serial_len);
	err_clear(&e);
	assert_int_equal(x509_tbs_build(&issuer, &t, &x, &e), 0);
	v = subject_value(x, NID_commonName);
	assert_int_equal(ASN1_STRING_type(v), V_ASN1_UTF8STRING);
	assert_int_equal(ASN1_STRING_length(v), strlen(cn));
	assert_memory_equal(ASN1_STRING_get0_data(v), cn, strlen(cn));
	v = subject_value(x, NID_organizationName);
	assert_int_equal(ASN1_STRING_type(v), V_ASN1_UTF8STRING);
	assert_memory_equal(ASN1_STRING_get0_data(v), o, strlen(o));
	assert_int_equal(ASN1_STRING_type(subject_value(x, NID_organizationalUnitName)),
			 V_ASN1_UTF8STRING);
	v = subject_value(x, NID_countryName);
	assert_int_equal(ASN1_STRING_type(v), V_ASN1_PRINTABLESTRING);
	assert_memory_equal(ASN1_STRING_get0_data(v), "JP", 2);
	assert_int_equal(ASN1_STRING_type(subject_value(x, NID_pkcs9_emailAddress)),
			 V_ASN1_IA5STRING);
	lint_ok(x, "client", &issuer);
	text = x509_name_text(X509_get_subject_name(x));
	assert_string_equal(
	    text, "emailAddress=taro@example.jp,C=JP,OU=Dev,O=株式会社テスト,CN=山田 太郎");
	free(text);
	X509_free(x);
	X509_NAME_free(n);
	ASN1_STRING_free(bmp);
	ASN1_STRING_free(t61);
	GENERAL_NAMES_free(g);
}

static void
expect_subject_refused(X509_NAME *n, const char *msg)
{
	struct x509_template t;
	struct err e;
	X509 *x = NULL;
	int rc;

	memset(&t, 0, sizeof(t));
	t.profile = profile_find("codesign");
	t.subject = n;
	t.pubkey = k_p256;
	t.not_before = util_now();
	t.not_after = t.not_before + DAY;
	x509_serial_new(t.serial, &t.serial_len);
	err_clear(&e);
	rc = x509_tbs_build(&issuer, &t, &x, &e);
	assert_null(x);
	expect_err(rc, &e, msg);
	X509_NAME_free(n);
}

static X509_NAME *
name1(int nid, int type, const char *v, int len)
{
	X509_NAME *n = X509_NAME_new();

	assert_int_equal(
	    X509_NAME_add_entry_by_NID(n, nid, type, (const unsigned char *)v, len, -1, 0), 1);
	return n;
}

static void
test_build_subject_rules(void **state)
{
	ASN1_STRING *bmp = NULL;
	X509_NAME *n;
	char longcn[80];

	expect_subject_refused(name1(NID_commonName, V_ASN1_UTF8STRING, "a\nb", -1),
			       "subject: CN: control character U+000A not allowed");
	expect_subject_refused(name1(NID_commonName, V_ASN1_UTF8STRING, "a\xc2\x85", -1),
			       "subject: CN: control character U+0085 not allowed");
	expect_subject_refused(name1(NID_commonName, V_ASN1_UTF8STRING, "a\xc0\xaf", -1),
			       "subject: CN: not valid in its string type");
	expect_subject_refused(name1(NID_commonName, V_ASN1_UTF8STRING, "\xed\xa0\x80", -1),
			       "subject: CN: not valid in its string type");
	expect_subject_refused(
	    name1(NID_commonName, V_ASN1_UTF8STRING, "evil\xe2\x80\xaegpj.exe", -1),
	    "subject: CN: character U+202E not allowed");
	expect_subject_refused(name1(NID_commonName, V_ASN1_UTF8STRING, "a\0b", 3),
			       "subject: CN: control character U+0000 not allowed");
	expect_subject_refused(name1(NID_commonName, V_ASN1_UTF8STRING, "", 0),
			       "subject: CN: empty value");
	memset(longcn, 'a', sizeof(longcn));
	expect_subject_refused(name1(NID_commonName, V_ASN1_UTF8STRING, longcn, 65),
			       "subject: CN: longer than 64 characters (RFC 5280 Appendix A)");
	expect_subject_refused(name1(NID_countryName, V_ASN1_PRINTABLESTRING, "JPN", -1),
			       "subject: C must be two upper-case letters (ISO 3166-1 alpha-2)");
	expect_subject_refused(name1(NID_countryName, V_ASN1_UTF8STRING, "日本", -1),
			       "subject: C: character not allowed in a PrintableString");
	expect_subject_refused(
	    name1(NID_pkcs9_emailAddress, V_ASN1_UTF8STRING, "太郎@example.jp", -1),
	    "subject: emailAddress: must be ASCII (IA5String)");
	expect_subject_refused(name1(NID_description, V_ASN1_UTF8STRING, "x", -1),
			       "subject: attribute description is not accepted");
	expect_subject_refused(name1(NID_commonName, V_ASN1_BIT_STRING, "x", -1),
			       "subject: CN: not a character string");
	/* BMPString carrying a control character */
	assert_true(ASN1_mbstring_copy(&bmp, (const unsigned char *)"a\tb", -1, MBSTRING_UTF8,
				       B_ASN1_BMPSTRING) > 0);
	n = name1(NID_commonName, V_ASN1_BMPSTRING, (const char *)bmp->data, bmp->length);
	expect_subject_refused(n, "subject: CN: control character U+0009 not allowed");
	ASN1_STRING_free(bmp);
}

static void
test_build_multivalued_rdn(void **state)
{
	X509_NAME *n = X509_NAME_new();
	struct x509_template t;
	struct err e;
	X509 *x = NULL;
	char *text, *want;

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"A", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "UID", MBSTRING_UTF8, (const unsigned char *)"a1", -1, -1,
				   -1);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"B", -1, -1, 0);
	memset(&t, 0, sizeof(t));
	t.profile = profile_find("codesign");
	t.subject = n;
	t.pubkey = k_p256;
	t.not_before = util_now();
	t.not_after = t.not_before + DAY;
	x509_serial_new(t.serial, &t.serial_len);
	err_clear(&e);
	assert_int_equal(x509_tbs_build(&issuer, &t, &x, &e), 0);
	text = x509_name_text(X509_get_subject_name(x));
	want = x509_name_text(n);
	assert_string_equal(text, want);
	assert_non_null(strchr(text, '+'));
	assert_int_equal(X509_NAME_ENTRY_set(X509_NAME_get_entry(X509_get_subject_name(x), 1)), 0);
	assert_int_equal(X509_NAME_ENTRY_set(X509_NAME_get_entry(X509_get_subject_name(x), 2)), 1);
	free(text);
	free(want);
	X509_free(x);
	X509_NAME_free(n);
}

static void
test_build_times(void **state)
{
	X509 *x;
	const struct profile *p = profile_find("root-ca");
	struct x509_issuer self = {NULL, k_p384, "root", "http://localhost:8080"};
	time_t nb = 2208988800; /* 2040-01-01 */
	time_t e49 = 2524607999, e50 = 2524608000;

	x = build_x(&self, "root-ca", k_p384, "CN=Root", NULL, nb, (e49 - nb) / DAY);
	assert_int_equal(ASN1_STRING_type(X509_get0_notBefore(x)), V_ASN1_UTCTIME);
	assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(x)), V_ASN1_UTCTIME);
	X509_free(x);
	x = build_x(&self, "root-ca", k_p384, "CN=Root", NULL, nb, (e50 - nb) / DAY + 1);
	assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(x)), V_ASN1_GENERALIZEDTIME);
	assert_int_equal(ASN1_STRING_length(X509_get0_notAfter(x)), 15);
	lint_ok(x, "root-ca", &self);
	X509_free(x);
	(void)p;
}

/* Signs a TBS with key as the signer process would; returns the assembled certificate. */
static X509 *
sign_and_assemble(X509 *tbs, EVP_PKEY *key, const EVP_MD *md)
{
	unsigned char *der = NULL, *sig;
	size_t len, siglen = 0;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	struct err e;
	X509 *cert = NULL;

	err_clear(&e);
	assert_int_equal(x509_tbs_der(tbs, &der, &len, &e), 0);
	assert_int_equal(EVP_DigestSignInit(mctx, NULL, md, NULL, key), 1);
	assert_int_equal(EVP_DigestSign(mctx, NULL, &siglen, der, len), 1);
	sig = malloc(siglen);
	assert_int_equal(EVP_DigestSign(mctx, sig, &siglen, der, len), 1);
	if (x509_assemble(der, len, sig, siglen, &cert, &e) != 0)
		fail_msg("assemble: %s", e.msg);
	free(sig);
	OPENSSL_free(der);
	EVP_MD_CTX_free(mctx);
	return cert;
}

static void
test_build_root_self_issued(void **state)
{
	struct x509_issuer self = {NULL, k_p384, "root", "http://localhost:8080"};
	X509 *x, *cert, *sub, *subcert;
	AUTHORITY_KEYID *akid;
	const ASN1_OCTET_STRING *ski;
	struct x509_issuer root;

	x = build_x(&self, "root-ca", k_p384, "CN=shomei Root CA,O=Example,C=JP", NULL,
		    util_now() - 60, 7305);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(x)), 0);
	assert_int_equal(OBJ_obj2nid(X509_get0_tbs_sigalg(x)->algorithm), NID_ecdsa_with_SHA384);
	lint_ok(x, "root-ca", &self);
	cert = sign_and_assemble(x, k_p384, EVP_sha384());
	assert_int_equal(X509_verify(cert, k_p384), 1);
	assert_int_equal(X509_check_issued(cert, cert), X509_V_OK);
	ski = X509_get0_subject_key_id(cert);
	akid = X509_get_ext_d2i(cert, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(ski);
	assert_non_null(akid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(ski, akid->keyid), 0);
	AUTHORITY_KEYID_free(akid);
	assert_int_equal(ext_crit(cert, NID_crl_distribution_points), -1);
	assert_int_equal(ext_crit(cert, NID_ext_key_usage), -1);
	assert_int_equal(X509_check_ca(cert), 1);

	/* an issuing CA under it: CDP/AIA point at the root */
	root.cert = cert;
	root.pubkey = X509_get0_pubkey(cert);
	root.name = "root";
	root.base_url = "http://localhost:8080";
	sub = build_x(&root, "issuing-ca", k_p256, "CN=shomei Issuing CA,O=Example,C=JP", NULL,
		      util_now(), 3653);
	lint_ok(sub, "issuing-ca", &root);
	subcert = sign_and_assemble(sub, k_p384, EVP_sha384());
	assert_int_equal(X509_verify(subcert, k_p384), 1);
	assert_int_equal(X509_check_issued(cert, subcert), X509_V_OK);
	{
		CRL_DIST_POINTS *cdp =
		    X509_get_ext_d2i(subcert, NID_crl_distribution_points, NULL, NULL);

		check_uri(
		    sk_GENERAL_NAME_value(sk_DIST_POINT_value(cdp, 0)->distpoint->name.fullname, 0),
		    "http://localhost:8080/crl/root.crl");
		sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);
	}
	X509_free(sub);
	X509_free(subcert);
	X509_free(x);
	X509_free(cert);
}

static void
test_assemble_verify(void **state)
{
	X509 *x = good_server(), *cert;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	unsigned char *d1 = NULL, *d2 = NULL;
	size_t l1, l2;
	struct err e;

	cert = sign_and_assemble(x, ca_key, EVP_sha256());
	assert_int_equal(X509_verify(cert, ca_key), 1);
	assert_int_equal(X509_check_issued(ca_cert, cert), X509_V_OK);
	/* the certificate carries exactly the TBS that was signed */
	err_clear(&e);
	assert_int_equal(x509_tbs_der(x, &d1, &l1, &e), 0);
	assert_int_equal(x509_tbs_der(cert, &d2, &l2, &e), 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(d1, d2, l1);
	/* and a path validates */
	X509_STORE_add_cert(store, ca_cert);
	X509_STORE_CTX_init(ctx, store, cert, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	if (X509_verify_cert(ctx) != 1)
		fail_msg("verify: %s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	OPENSSL_free(d1);
	OPENSSL_free(d2);
	X509_free(cert);
	X509_free(x);

	/* RSA issuer: sha256WithRSAEncryption with NULL parameters */
	x = build_x(&rsa_issuer, "server", k_p256, "CN=rsa.example.com", "DNS:rsa.example.com",
		    util_now(), 90);
	assert_int_equal(OBJ_obj2nid(X509_get0_tbs_sigalg(x)->algorithm),
			 NID_sha256WithRSAEncryption);
	lint_ok(x, "server", &rsa_issuer);
	cert = sign_and_assemble(x, k_rsa2048, EVP_sha256());
	assert_int_equal(X509_verify(cert, k_rsa2048), 1);
	X509_free(cert);
	X509_free(x);
}

static void
test_assemble_bad(void **state)
{
	static const unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	unsigned char *der = NULL, *longer;
	size_t len;
	X509 *x = good_server(), *cert = NULL;
	struct err e;

	err_clear(&e);
	assert_int_equal(x509_assemble(junk, sizeof(junk), junk, 1, &cert, &e), -1);
	assert_null(cert);
	assert_int_equal(e.code, ERR_INTERNAL);
	assert_int_equal(x509_tbs_der(x, &der, &len, &e), 0);
	longer = malloc(len + 1);
	memcpy(longer, der, len);
	longer[len] = 0;
	err_clear(&e);
	assert_int_equal(x509_assemble(longer, len + 1, junk, 1, &cert, &e), -1);
	err_clear(&e);
	assert_int_equal(x509_assemble(der, len - 1, junk, 1, &cert, &e), -1);
	free(longer);
	OPENSSL_free(der);
	X509_free(x);
}

/* ---- names ---- */

static void
test_sans_text(void **state)
{
	GENERAL_NAMES *g = mksans("DNS:a.example,IP:192.0.2.1,IP:2001:db8::1,email:x@y.example,"
				  "URI:https://example.com/a");
	char *t = x509_sans_text(g);

	assert_string_equal(t, "DNS:a.example, IP:192.0.2.1, IP:2001:db8::1, email:x@y.example, "
			       "URI:https://example.com/a");
	free(t);
	GENERAL_NAMES_free(g);
	assert_null(x509_sans_text(NULL));
	g = mksan1(GEN_DNS, "a,b\n", 4);
	t = x509_sans_text(g);
	assert_string_equal(t, "DNS:a\\x2cb\\x0a");
	free(t);
	GENERAL_NAMES_free(g);
}

static void
test_serial_hex(void **state)
{
	ASN1_INTEGER *a = ASN1_INTEGER_new();
	BIGNUM *bn;
	char hex[41], *want;
	unsigned char s[20];
	size_t len;

	x509_serial_new(s, &len);
	bn = BN_bin2bn(s, (int)len, NULL);
	BN_to_ASN1_INTEGER(bn, a);
	assert_int_equal(x509_serial_hex(a, hex, sizeof(hex)), 0);
	want = BN_bn2hex(bn);
	assert_string_equal(hex, want);
	OPENSSL_free(want);
	ASN1_INTEGER_set(a, 0x0a0b);
	assert_int_equal(x509_serial_hex(a, hex, sizeof(hex)), 0);
	assert_string_equal(hex, "0A0B");
	ASN1_INTEGER_set(a, 0);
	assert_int_equal(x509_serial_hex(a, hex, sizeof(hex)), 0);
	assert_string_equal(hex, "00");
	ASN1_INTEGER_set(a, -5);
	assert_int_equal(x509_serial_hex(a, hex, sizeof(hex)), -1);
	ASN1_INTEGER_set(a, 0x0a0b);
	assert_int_equal(x509_serial_hex(a, hex, 4), -1);
	BN_free(bn);
	ASN1_INTEGER_free(a);
}

static void
test_time_epoch(void **state)
{
	ASN1_TIME *t = ASN1_TIME_new();
	time_t v;

	assert_int_equal(ASN1_TIME_set_string(t, "20500101000000Z"), 1);
	assert_int_equal(x509_time_to_epoch(t, &v), 0);
	assert_int_equal((long long)v, 2524608000LL);
	assert_int_equal(ASN1_TIME_set_string(t, "491231235959Z"), 1);
	assert_int_equal(x509_time_to_epoch(t, &v), 0);
	assert_int_equal((long long)v, 2524607999LL);
	assert_int_equal(ASN1_TIME_set_string(t, "700101000000Z"), 1);
	assert_int_equal(x509_time_to_epoch(t, &v), 0);
	assert_int_equal((long long)v, 0);
	assert_int_equal(x509_time_to_epoch(NULL, &v), -1);
	ASN1_STRING_set(t, "garbage", 7);
	assert_int_equal(x509_time_to_epoch(t, &v), -1);
	ASN1_TIME_free(t);
}

static void
test_dns_check(void **state)
{
	static const char *const good[] = {
	    "example.com",    "www.example.com", "*.example.com", "a-b.example",
	    "xn--r8jz45g.jp", "EXAMPLE.COM",	 "a1.example",	  "localhost",
	};
	static const struct {
		const char *name;
		int wild;
		const char *msg;
	} bad[] = {
	    {"a..b", 1, "lint: RFC 5280 4.2.1.6: bad DNS name \"a..b\""},
	    {"f*o.example.com", 1,
	     "lint: wildcard must be the whole left-most label: "
	     "\"f*o.example.com\""},
	    {"www.*.example.com", 1,
	     "lint: wildcard must be the whole left-most label: "
	     "\"www.*.example.com\""},
	    {"**.example.com", 1,
	     "lint: wildcard must be the whole left-most label: "
	     "\"**.example.com\""},
	    {"*", 1, "lint: wildcard \"*\" alone is not allowed"},
	    {"*.com", 1, "lint: wildcard on a single-label name is not allowed: \"*.com\""},
	    {"*.example.com", 0, "lint: wildcard not allowed here: \"*.example.com\""},
	    {"-a.example", 1, "lint: RFC 5280 4.2.1.6: bad DNS name \"-a.example\""},
	    {"a-.example", 1, "lint: RFC 5280 4.2.1.6: bad DNS name \"a-.example\""},
	    {"a_b.example", 1, "lint: RFC 5280 4.2.1.6: bad DNS name \"a_b.example\""},
	    {"example.com.", 1, "lint: RFC 5280 4.2.1.6: bad DNS name \"example.com.\""},
	    {".example.com", 1, "lint: RFC 5280 4.2.1.6: bad DNS name \".example.com\""},
	    {"", 1, "lint: RFC 5280 4.2.1.6: bad DNS name \"\""},
	    {"a b.example", 1, "lint: RFC 5280 4.2.1.6: bad DNS name \"a b.example\""},
	    {"例え.jp", 1,
	     "lint: RFC 5280 7.2: DNS name \"\\xe4\\xbe\\x8b\\xe3\\x81\\x88.jp\" is "
	     "not ASCII (write IDNs as xn-- A-labels)"},
	    {"192.0.2.1", 1,
	     "lint: DNS name \"192.0.2.1\" looks like an IP address (use an "
	     "iPAddress SAN)"},
	};
	char label[80], longname[300];
	struct err e;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		err_clear(&e);
		if (x509_dns_name_check(good[i], strlen(good[i]), 1, &e) != 0)
			fail_msg("%s: %s", good[i], e.msg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		expect_err(x509_dns_name_check(bad[i].name, strlen(bad[i].name), bad[i].wild, &e),
			   &e, bad[i].msg);
	}
	err_clear(&e);
	expect_err(x509_dns_name_check("a\0b.example", 11, 1, &e), &e,
		   "lint: RFC 5280 4.2.1.6: bad DNS name \"a\\x00b.example\"");
	/* 63-octet label fine, 64 not */
	memset(label, 'a', 63);
	memcpy(label + 63, ".example", 9);
	err_clear(&e);
	assert_int_equal(x509_dns_name_check(label, strlen(label), 0, &e), 0);
	memset(label, 'a', 64);
	memcpy(label + 64, ".example", 9);
	err_clear(&e);
	expect_prefix(x509_dns_name_check(label, strlen(label), 0, &e), &e,
		      "lint: RFC 1035 2.3.4: DNS label longer than 63 octets");
	/* 253 octets fine, 254 not */
	memset(longname, 'a', sizeof(longname));
	for (i = 50; i < 260; i += 50)
		longname[i] = '.';
	err_clear(&e);
	assert_int_equal(x509_dns_name_check(longname, 253, 0, &e), 0);
	err_clear(&e);
	expect_prefix(x509_dns_name_check(longname, 254, 0, &e), &e,
		      "lint: RFC 1035 2.3.4: DNS name longer than 253 octets");
}

static void
test_utf8_rules(void **state)
{
	assert_int_equal(utf8_count((const unsigned char *)"abc", 3), 3);
	assert_int_equal(utf8_count((const unsigned char *)"山田", 6), 2);
	assert_int_equal(utf8_count((const unsigned char *)"\xf0\x9f\x98\x80", 4), 1);
	assert_int_equal(utf8_count((const unsigned char *)"\xc0\x80", 2), -1);
	assert_int_equal(utf8_count((const unsigned char *)"\xe0\x80\xaf", 3), -1);
	assert_int_equal(utf8_count((const unsigned char *)"\xed\xbf\xbf", 3), -1);
	assert_int_equal(utf8_count((const unsigned char *)"\xf4\x90\x80\x80", 4), -1);
	assert_int_equal(utf8_count((const unsigned char *)"\xe5\xb1", 2), -1);
	assert_int_equal(utf8_count((const unsigned char *)"\x80", 1), -1);
	assert_int_equal(utf8_count((const unsigned char *)"\xff", 1), -1);
}

/* ---- lint: one test per rule ---- */

static void
test_lint_good(void **state)
{
	X509 *x = good_server();

	lint_ok(x, "server", &issuer);
	X509_free(x);
}

static void
test_lint_version(void **state)
{
	X509 *x = good_server();

	X509_set_version(x, X509_VERSION_1);
	lint_expect(x, "server", "lint: RFC 5280 4.1.2.1: version must be v3");
	X509_free(x);
}

static void
set_serial_bytes(X509 *x, const unsigned char *b, int len, int neg)
{
	BIGNUM *bn = BN_bin2bn(b, len, NULL);
	ASN1_INTEGER *ai;

	BN_set_negative(bn, neg);
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	X509_set_serialNumber(x, ai);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
}

static void
test_lint_serial(void **state)
{
	unsigned char b[21];
	X509 *x = good_server();

	memset(b, 0x11, sizeof(b));
	set_serial_bytes(x, b, 2, 0);
	lint_expect(x, "server",
		    "lint: RFC 5280 4.1.2.2: serial number of 2 octets (must be 8 to 20)");
	set_serial_bytes(x, b, 16, 1);
	lint_expect(x, "server", "lint: RFC 5280 4.1.2.2: serial number must be positive");
	set_serial_bytes(x, b, 0, 0);
	lint_expect(x, "server", "lint: RFC 5280 4.1.2.2: serial number must be positive");
	set_serial_bytes(x, b, 21, 0);
	lint_expect(x, "server",
		    "lint: RFC 5280 4.1.2.2: serial number of 21 octets (must be 8 to 20)");
	b[0] = 0x80; /* 20 bytes with the top bit set: 21 octets in DER */
	set_serial_bytes(x, b, 20, 0);
	lint_expect(x, "server",
		    "lint: RFC 5280 4.1.2.2: serial number of 21 octets (must be 8 to 20)");
	b[0] = 0x7f;
	set_serial_bytes(x, b, 20, 0);
	lint_ok(x, "server", &issuer);
	set_serial_bytes(x, b, 8, 0);
	lint_ok(x, "server", &issuer);
	X509_free(x);
}

static void
test_lint_sigalg(void **state)
{
	X509 *x = good_server();
	struct err e;

	err_clear(&e);
	assert_int_equal(
	    x509_algor_set((X509_ALGOR *)X509_get0_tbs_sigalg(x), NID_ecdsa_with_SHA384, &e), 0);
	lint_expect(x, "server",
		    "lint: RFC 5280 4.1.2.3: signature algorithm ecdsa-with-SHA384 "
		    "does not match the issuer key (expected ecdsa-with-SHA256)");
	X509_free(x);
}

static void
test_lint_issuer_name(void **state)
{
	X509 *x = good_server();
	X509_NAME *n = mkname("CN=Someone Else");

	X509_set_issuer_name(x, n);
	lint_expect(x, "server", "lint: RFC 5280 4.1.2.4: issuer name is not the issuer's subject");
	X509_NAME_free(n);
	X509_free(x);
}

static void
set_after(X509 *x, time_t t)
{
	ASN1_TIME *a = ASN1_TIME_set(NULL, t);

	X509_set1_notAfter(x, a);
	ASN1_TIME_free(a);
}

static void
test_lint_validity(void **state)
{
	X509 *x = good_server(), *short_ca;
	struct x509_issuer is;
	struct err e;
	time_t nb;
	ASN1_TIME *g;

	assert_int_equal(x509_time_to_epoch(X509_get0_notBefore(x), &nb), 0);
	set_after(x, nb);
	lint_expect(x, "server", "lint: RFC 5280 4.1.2.5: notBefore is not before notAfter");
	set_after(x, nb - 1);
	lint_expect(x, "server", "lint: RFC 5280 4.1.2.5: notBefore is not before notAfter");
	set_after(x, nb + 500 * DAY - 1);
	lint_expect(x, "server",
		    "lint: profile server: validity of 500 days exceeds the maximum 398");
	/* notAfter is inclusive (RFC 5280 4.1.2.5): 398 days end one second before nb + 398d */
	set_after(x, nb + 398 * DAY - 1);
	lint_ok(x, "server", &issuer);
	assert_int_equal(x509_not_after(nb, 398), nb + 398 * DAY - 1);
	set_after(x, nb + 398 * DAY);
	lint_expect(x, "server",
		    "lint: profile server: validity of 398 days + 1 s (notAfter is inclusive, "
		    "RFC 5280 4.1.2.5) exceeds the maximum 398 days");
	/* GeneralizedTime before 2050 */
	g = ASN1_GENERALIZEDTIME_set(NULL, nb + 300 * DAY);
	X509_set1_notAfter(x, g);
	ASN1_TIME_free(g);
	lint_expect(x, "server",
		    "lint: RFC 5280 4.1.2.5: validity must be UTCTime through 2049 and "
		    "GeneralizedTime from 2050, in seconds, with Z");
	X509_free(x);

	/* starts before the issuer */
	x = build_x(&issuer, "server", k_p256, "CN=a.example", "DNS:a.example",
		    util_now() - 3 * DAY, 397);
	lint_expect(x, "server",
		    "lint: RFC 5280 4.1.2.5: validity starts before the issuer's notBefore");
	X509_free(x);

	/* ends after the issuer: an issuer with 100 days left */
	short_ca = mkissuer(ca_key, "CN=Test Issuing CA,O=shomei test,C=JP", -DAY, 100 * DAY);
	is = issuer;
	is.cert = short_ca;
	x = build_x(&is, "server", k_p256, "CN=a.example", "DNS:a.example", util_now(), 397);
	err_clear(&e);
	expect_err(x509_lint(x, profile_find("server"), &is, &e), &e,
		   "lint: RFC 5280 4.1.2.5: validity ends after the issuer's notAfter");
	X509_free(x);
	X509_free(short_ca);
}

static void
test_lint_key(void **state)
{
	X509 *x = good_server();

	X509_set_pubkey(x, k_rsa1024);
	lint_expect(x, "server", "key: RSA key of 1024 bits is too weak (minimum 2048)");
	X509_set_pubkey(x, k_k1);
	lint_expect(x, "server", "key: curve secp256k1 is not approved (P-256, P-384, P-521)");
	X509_set_pubkey(x, k_ed448);
	lint_expect(x, "server",
		    "key: algorithm ED448 is not accepted (RSA, EC P-256/P-384/P-521, "
		    "Ed25519)");
	X509_free(x);
}

static void
test_lint_duplicate_extension(void **state)
{
	X509 *x = good_server();

	X509_add_ext(x, X509_get_ext(x, X509_get_ext_by_NID(x, NID_subject_alt_name, -1)), -1);
	lint_expect(x, "server", "lint: RFC 5280 4.2: duplicate extension subjectAltName");
	X509_free(x);
	x = good_server();
	X509_add_ext(x, X509_get_ext(x, X509_get_ext_by_NID(x, NID_key_usage, -1)), -1);
	lint_expect(x, "server", "lint: RFC 5280 4.2: duplicate extension keyUsage");
	X509_free(x);
}

static void
test_lint_unexpected_extension(void **state)
{
	X509 *x = good_server();
	X509_EXTENSION *ext;
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();

	add_ext_conf(x, NULL, NID_netscape_comment, "hello");
	lint_expect(x, "server", "lint: profile server: unexpected extension nsComment");
	X509_free(x);

	/* a known extension whose value does not decode */
	x = good_server();
	del_ext(x, NID_key_usage);
	ASN1_OCTET_STRING_set(os, (const unsigned char *)"\x05\x00", 2);
	ext = X509_EXTENSION_create_by_NID(NULL, NID_key_usage, 1, os);
	X509_add_ext(x, ext, -1);
	lint_expect(x, "server", "lint: RFC 5280 4.2: malformed extension keyUsage");
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	X509_free(x);
}

static void
test_lint_subject_encoding(void **state)
{
	X509 *x = good_server();
	X509_NAME *n = name1(NID_commonName, V_ASN1_PRINTABLESTRING, "www.example.com", -1);

	X509_set_subject_name(x, n);
	lint_expect(x, "server", "lint: subject: CN must be a UTF8STRING");
	X509_NAME_free(n);
	n = name1(NID_commonName, V_ASN1_UTF8STRING, "a\x1b[31m", -1);
	X509_set_subject_name(x, n);
	lint_expect(x, "server", "lint: subject: CN: control character U+001B not allowed");
	X509_NAME_free(n);
	X509_free(x);
}

static void
test_lint_officer_marker(void **state)
{
	X509 *x;
	X509_NAME *n;
	int i;

	/* a server CSR that smuggles the marker into its subject: built as is, refused by lint */
	x = build("server", k_p256, "CN=www.example.com,title=" X509_OFFICER_MARKER_VALUE,
		  "DNS:www.example.com");
	assert_true(X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_title, -1) >= 0);
	lint_expect(x, "server",
		    "lint: profile server: subject carries the RA officer marker, "
		    "which only the officer profile may");
	X509_free(x);
	/* case and blanks do not get it through */
	x = build("client", k_p256, "CN=Taro,title=  Shomei RA OFFICER ", "email:t@example.com");
	lint_expect(x, "client",
		    "lint: profile client: subject carries the RA officer marker, "
		    "which only the officer profile may");
	X509_free(x);
	/* an ordinary title is fine */
	x = build("client", k_p256, "CN=Taro,title=Manager", "email:t@example.com");
	lint_ok(x, "client", &issuer);
	X509_free(x);

	/* officer: marker added once, even when the subject already has it */
	x = build("officer", k_p256, "CN=Officer,title=" X509_OFFICER_MARKER_VALUE, NULL);
	i = X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_title, -1);
	assert_true(i >= 0);
	assert_int_equal(X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_title, i), -1);
	lint_ok(x, "officer", &issuer);
	/* officer without the marker */
	n = X509_NAME_dup(X509_get_subject_name(x));
	X509_NAME_ENTRY_free(X509_NAME_delete_entry(n, i));
	X509_set_subject_name(x, n);
	lint_expect(x, "officer",
		    "lint: profile officer: subject must carry the RA officer marker "
		    "(title=shomei RA officer) exactly once");
	X509_NAME_free(n);
	X509_free(x);
}

static void
test_lint_empty_subject(void **state)
{
	X509 *x;
	X509_NAME *n = X509_NAME_new();

	/* built with an empty subject: SAN is critical and lint is happy */
	x = build("server", k_p256, "", "DNS:www.example.com");
	assert_int_equal(ext_crit(x, NID_subject_alt_name), 1);
	lint_ok(x, "server", &issuer);
	X509_free(x);
	/* empty subject, non-critical SAN */
	x = good_server();
	X509_set_subject_name(x, n);
	lint_expect(x, "server",
		    "lint: RFC 5280 4.1.2.6: empty subject requires a critical subjectAltName");
	X509_free(x);
	/* non-empty subject, critical SAN */
	x = good_server();
	replace_sans(x, mksans("DNS:www.example.com"), 1);
	lint_expect(x, "server",
		    "lint: RFC 5280 4.2.1.6: subjectAltName must not be critical when "
		    "the subject is not empty");
	X509_free(x);
	X509_NAME_free(n);
}

static void
test_lint_san_required(void **state)
{
	X509 *x = good_server();

	del_ext(x, NID_subject_alt_name);
	lint_expect(x, "server",
		    "lint: RFC 5280 4.2.1.6: server profile requires a dNSName or iPAddress SAN");
	X509_free(x);
	x = build("client", k_p256, "CN=Taro", NULL);
	lint_expect(x, "client",
		    "lint: RFC 5280 4.2.1.6: client profile requires a rfc822Name SAN");
	X509_free(x);
	/* an IP alone satisfies server */
	x = build("server", k_p256, "CN=192.0.2.1", "IP:192.0.2.1");
	lint_ok(x, "server", &issuer);
	X509_free(x);
	x = good_server();
	replace_sans(x, sk_GENERAL_NAME_new_null(), 0);
	lint_expect(x, "server", "lint: RFC 5280 4.2.1.6: subjectAltName must not be empty");
	X509_free(x);
}

static void
test_lint_san_kinds(void **state)
{
	X509 *x = good_server();

	replace_sans(x, mksans("DNS:www.example.com,email:a@example.com"), 0);
	lint_expect(x, "server", "lint: profile server: SAN of kind rfc822Name is not allowed");
	X509_free(x);
	x = build("client", k_p256, "CN=Taro", "email:t@example.com");
	replace_sans(x, mksans("email:t@example.com,DNS:www.example.com"), 0);
	lint_expect(x, "client", "lint: profile client: SAN of kind dNSName is not allowed");
	X509_free(x);
	x = build("ocsp", k_p256, "CN=OCSP", NULL);
	replace_sans(x, mksans("URI:http://example.com"), 0);
	lint_expect(x, "ocsp",
		    "lint: profile ocsp: SAN of kind uniformResourceIdentifier is not "
		    "allowed");
	X509_free(x);
	x = good_server();
	replace_sans(x, mksans("DNS:www.example.com,RID:1.2.3.4"), 0);
	lint_expect(x, "server", "lint: profile server: SAN of kind registeredID is not allowed");
	X509_free(x);
}

static void
test_lint_san_syntax(void **state)
{
	X509 *x;

	lint_dns("a..b", "lint: RFC 5280 4.2.1.6: bad DNS name \"a..b\"");
	lint_dns("f*o.example.com", "lint: wildcard must be the whole left-most label: "
				    "\"f*o.example.com\"");
	lint_dns("*", "lint: wildcard \"*\" alone is not allowed");
	lint_dns("*.com", "lint: wildcard on a single-label name is not allowed: \"*.com\"");
	/* IP length */
	x = good_server();
	replace_sans(x, mksan1(GEN_IPADD, "\x01\x02\x03\x04\x05", 5), 0);
	lint_expect(x, "server", "lint: RFC 5280 4.2.1.6: iPAddress must be 4 or 16 octets, not 5");
	X509_free(x);
	x = good_server();
	replace_sans(x, mksan1(GEN_IPADD, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16), 0);
	lint_ok(x, "server", &issuer);
	X509_free(x);
	/* rfc822 */
	x = build("client", k_p256, "CN=Taro", "email:t@example.com");
	replace_sans(x, mksan1(GEN_EMAIL, "a@@b.example", 12), 0);
	lint_expect(x, "client", "lint: RFC 5280 4.2.1.6: bad rfc822Name \"a@@b.example\"");
	replace_sans(x, mksan1(GEN_EMAIL, "taro.example.com", 16), 0);
	lint_expect(x, "client", "lint: RFC 5280 4.2.1.6: bad rfc822Name \"taro.example.com\"");
	replace_sans(x, mksan1(GEN_EMAIL, "t@a..b", 6), 0);
	lint_expect(x, "client", "lint: RFC 5280 4.2.1.6: bad rfc822Name \"t@a..b\"");
	replace_sans(x, mksan1(GEN_EMAIL, "\xe5\xb1\xb1@example.jp", 14), 0);
	lint_expect(x, "client",
		    "lint: RFC 5280 4.2.1.6: bad rfc822Name \"\\xe5\\xb1\\xb1@example.jp\"");
	replace_sans(x, mksan1(GEN_EMAIL, "first.last+tag@mail.example.co.jp", 33), 0);
	lint_ok(x, "client", &issuer);
	X509_free(x);
	/* URI */
	x = build("codesign", k_p256, "CN=Code", "URI:https://example.com/");
	lint_ok(x, "codesign", &issuer);
	replace_sans(x, mksan1(GEN_URI, "no scheme", 9), 0);
	lint_expect(x, "codesign", "lint: RFC 5280 4.2.1.6: bad URI \"no scheme\"");
	X509_free(x);
}

static void
lint_dns_ok(const char *name)
{
	X509 *x = good_server();

	replace_sans(x, mksan1(GEN_DNS, name, (int)strlen(name)), 0);
	lint_ok(x, "server", &issuer);
	X509_free(x);
}

static void
test_lint_san_syntax_ok(void **state)
{
	lint_dns_ok("*.example.com");
	lint_dns_ok("xn--bcher-kva.example");
}

static void
test_lint_basic_constraints(void **state)
{
	X509 *x = good_server();

	del_ext(x, NID_basic_constraints);
	lint_expect(x, "server", "lint: RFC 5280 4.2.1.9: basicConstraints missing");
	add_ext_conf(x, NULL, NID_basic_constraints, "CA:FALSE");
	lint_expect(x, "server", "lint: RFC 5280 4.2.1.9: basicConstraints must be critical");
	replace_ext(x, NID_basic_constraints, "critical,CA:TRUE");
	lint_expect(x, "server", "lint: profile server: basicConstraints cA must be FALSE");
	X509_free(x);
	x = build("issuing-ca", k_p256, "CN=Sub", NULL);
	replace_ext(x, NID_basic_constraints, "critical,CA:TRUE");
	lint_expect(x, "issuing-ca",
		    "lint: profile issuing-ca: basicConstraints pathLenConstraint must be 0");
	replace_ext(x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
	lint_ok(x, "issuing-ca", &issuer);
	X509_free(x);
}

static void
test_lint_key_usage(void **state)
{
	X509 *x = good_server();

	del_ext(x, NID_key_usage);
	lint_expect(x, "server", "lint: RFC 5280 4.2.1.3: keyUsage missing");
	add_ext_conf(x, NULL, NID_key_usage, "digitalSignature");
	lint_expect(x, "server", "lint: RFC 5280 4.2.1.3: keyUsage must be critical");
	replace_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment");
	lint_expect(x, "server", "lint: profile server: keyUsage must be exactly digitalSignature");
	X509_free(x);
	/* RSA server: keyEncipherment is required */
	x = build("server", k_rsa2048, "CN=www.example.com", "DNS:www.example.com");
	lint_ok(x, "server", &issuer);
	replace_ext(x, NID_key_usage, "critical,digitalSignature");
	lint_expect(
	    x, "server",
	    "lint: profile server: keyUsage must be exactly digitalSignature, keyEncipherment");
	X509_free(x);
}

static void
test_lint_eku(void **state)
{
	X509 *x = good_server();

	del_ext(x, NID_ext_key_usage);
	lint_expect(x, "server", "lint: RFC 5280 4.2.1.12: extendedKeyUsage missing");
	add_ext_conf(x, NULL, NID_ext_key_usage, "clientAuth");
	lint_expect(x, "server",
		    "lint: profile server: extendedKeyUsage must be exactly serverAuth");
	replace_ext(x, NID_ext_key_usage, "serverAuth,serverAuth");
	lint_expect(x, "server",
		    "lint: profile server: extendedKeyUsage must be exactly serverAuth");
	X509_free(x);
	/* TSA: critical, timeStamping only (RFC 3161 2.3) */
	x = build("tsa", k_p256, "CN=TSA", NULL);
	replace_ext(x, NID_ext_key_usage, "timeStamping");
	lint_expect(x, "tsa", "lint: RFC 3161 2.3: extendedKeyUsage must be critical");
	replace_ext(x, NID_ext_key_usage, "critical,timeStamping,codeSigning");
	lint_expect(x, "tsa", "lint: profile tsa: extendedKeyUsage must be exactly timeStamping");
	X509_free(x);
	/* the issuing CA: exactly its purposes, never OCSPSigning (it would become a delegated
	 * responder of the root about itself) */
	x = build("issuing-ca", k_p256, "CN=Sub", NULL);
	lint_ok(x, "issuing-ca", &issuer);
	replace_ext(x, NID_ext_key_usage,
		    "serverAuth,clientAuth,emailProtection,codeSigning,timeStamping,OCSPSigning");
	lint_expect(x, "issuing-ca",
		    "lint: profile issuing-ca: extendedKeyUsage must be exactly serverAuth, "
		    "clientAuth, emailProtection, codeSigning, timeStamping");
	del_ext(x, NID_ext_key_usage);
	lint_expect(x, "issuing-ca", "lint: RFC 5280 4.2.1.12: extendedKeyUsage missing");
	X509_free(x);
}

static void
test_lint_key_ids(void **state)
{
	X509 *x = good_server();
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();

	del_ext(x, NID_subject_key_identifier);
	lint_expect(x, "server", "lint: RFC 5280 4.2.1.2: subjectKeyIdentifier missing");
	add_ext_conf(x, NULL, NID_subject_key_identifier, "0102030405");
	lint_expect(x, "server",
		    "lint: RFC 5280 4.2.1.2: subjectKeyIdentifier is not the SHA-1 of "
		    "the public key (method 1)");
	X509_free(x);
	x = good_server();
	del_ext(x, NID_authority_key_identifier);
	lint_expect(x, "server", "lint: RFC 5280 4.2.1.1: authorityKeyIdentifier missing");
	ASN1_OCTET_STRING_set(os, (const unsigned char *)"\x01\x02\x03", 3);
	akid->keyid = os;
	X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT);
	lint_expect(x, "server",
		    "lint: RFC 5280 4.2.1.1: authorityKeyIdentifier does not match the "
		    "issuer's subjectKeyIdentifier");
	X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 1, X509V3_ADD_REPLACE);
	lint_expect(x, "server",
		    "lint: RFC 5280 4.2.1.1: authorityKeyIdentifier must not be "
		    "critical");
	AUTHORITY_KEYID_free(akid);
	X509_free(x);
}

/* The short-lived profile: no CDP, AIA caIssuers alone, 7 days at most; nothing else. */
static void
test_lint_short_lived(void **state)
{
	X509 *x = build("shortlived", k_p256, "CN=www.example.com", "DNS:www.example.com");
	AUTHORITY_INFO_ACCESS *aia;
	struct err e;

	(void)state;
	lint_ok(x, "shortlived", &issuer);
	assert_true(X509_get_ext_by_NID(x, NID_crl_distribution_points, -1) < 0);
	aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	assert_non_null(aia);
	assert_int_equal(sk_ACCESS_DESCRIPTION_num(aia), 1);
	assert_int_equal(OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia, 0)->method),
			 NID_ad_ca_issuers);
	AUTHORITY_INFO_ACCESS_free(aia);
	/* a server certificate's pointers are not a short-lived one's */
	replace_ext(x, NID_info_access,
		    "OCSP;URI:http://localhost:8080/ocsp,"
		    "caIssuers;URI:http://localhost:8080/ca/issuing.crt");
	lint_expect(x, "shortlived",
		    "lint: profile shortlived: authorityInfoAccess must be caIssuers "
		    "http://localhost:8080/ca/issuing.crt only");
	X509_free(x);
	x = build_x(&issuer, "server", k_p256, "CN=www.example.com", "DNS:www.example.com",
		    util_now(), 7);
	lint_expect(x, "shortlived", "lint: profile shortlived: crlDistributionPoints not allowed");
	/* and the server profile never takes a certificate without them */
	X509_free(x);
	x = build("shortlived", k_p256, "CN=www.example.com", "DNS:www.example.com");
	lint_expect(x, "server", "lint: RFC 5280 4.2.1.13: crlDistributionPoints missing");
	X509_free(x);
	/* 8 days is no short-lived certificate */
	x = build_x(&issuer, "shortlived", k_p256, "CN=www.example.com", "DNS:www.example.com",
		    util_now(), 8);
	err_clear(&e);
	assert_int_not_equal(x509_lint(x, profile_find("shortlived"), &issuer, &e), 0);
	assert_int_equal(e.code, ERR_REFUSED);
	X509_free(x);
}

static void
test_lint_cdp_aia(void **state)
{
	X509 *x = good_server();

	del_ext(x, NID_crl_distribution_points);
	lint_expect(x, "server", "lint: RFC 5280 4.2.1.13: crlDistributionPoints missing");
	add_ext_conf(x, NULL, NID_crl_distribution_points, "URI:http://evil.example/x.crl");
	lint_expect(x, "server",
		    "lint: profile server: cRLDistributionPoints must be "
		    "http://localhost:8080/crl/issuing.crl");
	X509_free(x);
	x = good_server();
	del_ext(x, NID_info_access);
	lint_expect(x, "server", "lint: RFC 5280 4.2.2.1: authorityInfoAccess missing");
	add_ext_conf(x, NULL, NID_info_access, "OCSP;URI:http://localhost:8080/ocsp");
	lint_expect(x, "server",
		    "lint: profile server: authorityInfoAccess must be OCSP "
		    "http://localhost:8080/ocsp and caIssuers "
		    "http://localhost:8080/ca/issuing.crt");
	X509_free(x);
	x = good_server();
	replace_ext(x, NID_info_access,
		    "critical,OCSP;URI:http://localhost:8080/ocsp,"
		    "caIssuers;URI:http://localhost:8080/ca/issuing.crt");
	lint_expect(x, "server",
		    "lint: RFC 5280 4.2.2.1: authorityInfoAccess must not be critical");
	X509_free(x);
	/* the OCSP responder certificate carries neither */
	x = build("ocsp", k_p256, "CN=OCSP", NULL);
	add_ext_conf(x, NULL, NID_crl_distribution_points, "URI:http://localhost:8080/crl/a.crl");
	lint_expect(x, "ocsp", "lint: profile ocsp: crlDistributionPoints not allowed");
	del_ext(x, NID_crl_distribution_points);
	add_ext_conf(x, NULL, NID_info_access, "OCSP;URI:http://localhost:8080/ocsp");
	lint_expect(x, "ocsp", "lint: profile ocsp: authorityInfoAccess not allowed");
	X509_free(x);
}

static void
test_lint_ocsp_nocheck(void **state)
{
	X509 *x = build("ocsp", k_p256, "CN=OCSP", NULL);
	ASN1_NULL *n = ASN1_NULL_new();

	lint_ok(x, "ocsp", &issuer);
	del_ext(x, NID_id_pkix_OCSP_noCheck);
	lint_expect(x, "ocsp", "lint: RFC 6960 4.2.2.2.1: noCheck missing");
	X509_free(x);
	x = good_server();
	X509_add1_ext_i2d(x, NID_id_pkix_OCSP_noCheck, n, 0, X509V3_ADD_DEFAULT);
	lint_expect(x, "server", "lint: profile server: noCheck not allowed");
	X509_free(x);
	ASN1_NULL_free(n);
}

static void
test_lint_profile_mismatch(void **state)
{
	X509 *x = good_server();

	/* a server TBS is not a client certificate */
	lint_expect(x, "client", "lint: profile client: SAN of kind dNSName is not allowed");
	X509_free(x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_profile_table),
	    cmocka_unit_test(test_profile_configure),
	    cmocka_unit_test(test_csr_good),
	    cmocka_unit_test(test_csr_new_label),
	    cmocka_unit_test(test_csr_sans),
	    cmocka_unit_test(test_csr_weak_keys),
	    cmocka_unit_test(test_csr_duplicate_extension),
	    cmocka_unit_test(test_csr_bad_san),
	    cmocka_unit_test(test_csr_bad_signature),
	    cmocka_unit_test(test_csr_version),
	    cmocka_unit_test(test_csr_garbage),
	    cmocka_unit_test(test_build_profiles),
	    cmocka_unit_test(test_build_serial),
	    cmocka_unit_test(test_build_japanese),
	    cmocka_unit_test(test_build_subject_rules),
	    cmocka_unit_test(test_build_multivalued_rdn),
	    cmocka_unit_test(test_build_times),
	    cmocka_unit_test(test_build_root_self_issued),
	    cmocka_unit_test(test_assemble_verify),
	    cmocka_unit_test(test_assemble_bad),
	    cmocka_unit_test(test_sans_text),
	    cmocka_unit_test(test_serial_hex),
	    cmocka_unit_test(test_time_epoch),
	    cmocka_unit_test(test_dns_check),
	    cmocka_unit_test(test_utf8_rules),
	    cmocka_unit_test(test_lint_good),
	    cmocka_unit_test(test_lint_version),
	    cmocka_unit_test(test_lint_serial),
	    cmocka_unit_test(test_lint_sigalg),
	    cmocka_unit_test(test_lint_issuer_name),
	    cmocka_unit_test(test_lint_validity),
	    cmocka_unit_test(test_ku_key_agreement),
	    cmocka_unit_test(test_key_by_profile),
	    cmocka_unit_test(test_policies),
	    cmocka_unit_test(test_lint_key),
	    cmocka_unit_test(test_lint_duplicate_extension),
	    cmocka_unit_test(test_lint_unexpected_extension),
	    cmocka_unit_test(test_lint_subject_encoding),
	    cmocka_unit_test(test_lint_officer_marker),
	    cmocka_unit_test(test_lint_empty_subject),
	    cmocka_unit_test(test_lint_san_required),
	    cmocka_unit_test(test_lint_san_kinds),
	    cmocka_unit_test(test_lint_san_syntax),
	    cmocka_unit_test(test_lint_san_syntax_ok),
	    cmocka_unit_test(test_lint_basic_constraints),
	    cmocka_unit_test(test_lint_key_usage),
	    cmocka_unit_test(test_lint_eku),
	    cmocka_unit_test(test_lint_key_ids),
	    cmocka_unit_test(test_lint_cdp_aia),
	    cmocka_unit_test(test_lint_short_lived),
	    cmocka_unit_test(test_lint_ocsp_nocheck),
	    cmocka_unit_test(test_lint_profile_mismatch),
	};

	return cmocka_run_group_tests_name("x509", tests, group_setup, group_teardown);
}
