/*
 * signer with a PKCS#11 key: a SoftHSM2 token made in a temporary directory, an EC P-256 key
 * generated on the token with pkcs11-tool, a CA certificate signed by that key through the
 * pkcs11 engine, and a forked signer that signs a TBSCertificate with it.  Then the failures:
 * wrong PIN, no PIN, missing token, missing object, and a locked PIN (through lockshim.so,
 * the test-only PKCS#11 module from tests/pkcs11/lockshim.c built beside this binary).
 */
#include <sys/wait.h>

#include <signal.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "signer/signer.h"
#include "signer/signer_local.h"
#include "testutil.h"
#include "util/util.h"
#include "x509/x509.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define URI "pkcs11:token=shomei-test;object=ca;type=private"

#define assert_msg(e, needle)                                                                      \
	do {                                                                                       \
		if (strstr((e)->msg, (needle)) == NULL)                                            \
			fail_msg("message \"%s\" lacks \"%s\"", (e)->msg, (needle));               \
	} while (0)

struct hsm {
	char *dir;
	X509 *ca_cert;
	EVP_PKEY *leaf_key;
};

static void
tu_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);

	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

static X509_NAME *
tu_name(const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
						    (const unsigned char *)cn, -1, -1, 0),
			 1);
	return n;
}

static void
tu_write_text(const char *dir, const char *rel, const char *text)
{
	char *path = xasprintf("%s/%s", dir, rel);
	struct err e;

	err_clear(&e);
	assert_int_equal(util_write_file(path, text, strlen(text), 0600, &e), 0);
	free(path);
}

static void
tu_conf(struct conf *c, const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct err e;

	err_clear(&e);
	if (conf_load(c, path, &e) == -1)
		fail_msg("%s", e.msg);
	free(path);
}

static void
tu_run(const char *cmd)
{
	int st = system(cmd);

	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("command failed (%d): %s", st, cmd);
}

static int
tu_wait(pid_t pid)
{
	int st = 0, i;
	pid_t r = 0;

	for (i = 0; i < 1000 && r == 0; i++) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == 0)
			usleep(10000);
	}
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		fail_msg("signer %ld did not exit", (long)pid);
	}
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/*
 * The CA certificate, signed on the token through signer_key_load() and the engine.  Done in
 * a child: libp11 never finalises the module, and a process that used it must not fork
 * signers (test_spawn_after_engine checks that signer_spawn refuses).
 */
static X509 *
hsm_ca_cert(const char *dir)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	X509_NAME *n;
	X509V3_CTX ctx;
	struct conf c;
	struct err e;
	char *path = xasprintf("%s/certs/issuing.pem", dir);
	FILE *f;
	pid_t pid;
	int st = 0, ok = 0;

	if ((pid = fork()) == 0) {
		err_clear(&e);
		tu_conf(&c, dir, "shomei.conf");
		if (signer_key_load(&c, URI, &k, &e) == -1) {
			fprintf(stderr, "%s\n", e.msg);
			_exit(1);
		}
		x = X509_new();
		n = tu_name("shomei HSM Test CA");
		X509_set_version(x, 2);
		ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
		X509_set_subject_name(x, n);
		X509_set_issuer_name(x, n);
		X509_gmtime_adj(X509_getm_notBefore(x), -86400);
		X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400);
		X509_set_pubkey(x, k);
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		tu_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		tu_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
		tu_ext(x, &ctx, NID_subject_key_identifier, "hash");
		ok = EVP_PKEY_get_base_id(k) == EVP_PKEY_EC && X509_sign(x, k, EVP_sha256()) > 0 &&
		     (f = fopen(path, "w")) != NULL && PEM_write_X509(f, x) == 1 && fclose(f) == 0;
		if (!ok)
			ERR_print_errors_fp(stderr);
		_exit(ok ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	f = fopen(path, "r");
	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(x)), 1);
	free(path);
	return x;
}

static int
setup(void **state)
{
	struct hsm *h = xcalloc(1, sizeof(*h));
	char *cmd, *path;
	FILE *f;

	if (!util_file_exists(MODULE) ||
	    system("command -v softhsm2-util pkcs11-tool >/dev/null") != 0) {
		fprintf(stderr, "softhsm2/opensc not installed: skipping\n");
		free(h);
		return -1;
	}
	h->dir = tu_tmpdir();
	cmd = xasprintf("mkdir -p %s/tokens %s/certs", h->dir, h->dir);
	tu_run(cmd);
	free(cmd);
	path = xasprintf("%s/softhsm2.conf", h->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
		h->dir);
	fclose(f);
	setenv("SOFTHSM2_CONF", path, 1);
	free(path);
	tu_run("softhsm2-util --init-token --free --label shomei-test --pin 1234 --so-pin 5678 "
	       ">/dev/null");
	tu_run("pkcs11-tool --module " MODULE " --login --pin 1234 --keypairgen "
	       "--key-type EC:prime256v1 --label ca --id 01 >/dev/null 2>&1");
	tu_write_text(h->dir, "shomei.conf",
		      "ca.key = " URI "\n"
		      "ca.cert = certs/issuing.pem\n"
		      "pkcs11.module = " MODULE "\n"
		      "pkcs11.pin = 1234\n");
	h->ca_cert = hsm_ca_cert(h->dir);
	h->leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	*state = h;
	return 0;
}

static int
teardown(void **state)
{
	struct hsm *h = *state;

	X509_free(h->ca_cert);
	EVP_PKEY_free(h->leaf_key);
	tu_rmdir(h->dir);
	free(h);
	unsetenv("SOFTHSM2_CONF");
	return 0;
}

static unsigned char *
tbs_make(struct hsm *h, size_t *len)
{
	X509 *x = X509_new();
	X509_NAME *subj = tu_name("leaf.example");
	X509V3_CTX ctx;
	unsigned char *der = NULL, *copy;
	int n, sig_nid, md_nid;
	struct err e;

	err_clear(&e);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 77);
	X509_set_subject_name(x, subj);
	X509_set_issuer_name(x, X509_get_subject_name(h->ca_cert));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 90L * 86400);
	X509_set_pubkey(x, h->leaf_key);
	X509V3_set_ctx(&ctx, h->ca_cert, x, NULL, NULL, 0);
	tu_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
	/* what the server profile issues: the signer's policy signs nothing else */
	tu_ext(x, &ctx, NID_key_usage, "critical,digitalSignature");
	tu_ext(x, &ctx, NID_ext_key_usage, "serverAuth");
	tu_ext(x, &ctx, NID_subject_alt_name, "DNS:leaf.example");
	tu_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	/* revocation pointers: the signer takes a certificate without them for 7 days at most */
	tu_ext(x, &ctx, NID_crl_distribution_points, "URI:http://ca.example/crl/ca.crl");
	tu_ext(x, &ctx, NID_info_access, "OCSP;URI:http://ca.example/ocsp");
	assert_int_equal(x509_sigalg_for_key(X509_get0_pubkey(h->ca_cert), &sig_nid, &md_nid, &e),
			 0);
	assert_int_equal(x509_algor_set((X509_ALGOR *)X509_get0_tbs_sigalg(x), sig_nid, &e), 0);
	n = i2d_re_X509_tbs(x, &der);
	assert_true(n > 0);
	copy = xmalloc((size_t)n);
	memcpy(copy, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	X509_NAME_free(subj);
	X509_free(x);
	return copy;
}

static X509 *
cert_assemble(const unsigned char *tbs, size_t tbslen, const unsigned char *sig, size_t siglen)
{
	struct der_reader d, in;
	struct der_tlv t, alg;
	unsigned char hdr[6], bhdr[6], *der, *w;
	const unsigned char *q;
	size_t hl, bl, content;
	X509 *x;

	der_reader_init(&d, tbs, tbslen);
	assert_int_equal(der_next(&d, &t), 0);
	der_reader_init(&in, t.val, t.len);
	assert_int_equal(der_next(&in, &alg), 0);
	assert_int_equal(der_next(&in, &alg), 0);
	assert_int_equal(der_next(&in, &alg), 0);
	bl = der_hdr(bhdr, 0x03, siglen + 1);
	content = tbslen + alg.total + bl + 1 + siglen;
	hl = der_hdr(hdr, 0x30, content);
	der = w = xmalloc(hl + content);
	memcpy(w, hdr, hl), w += hl;
	memcpy(w, tbs, tbslen), w += tbslen;
	memcpy(w, alg.start, alg.total), w += alg.total;
	memcpy(w, bhdr, bl), w += bl;
	*w++ = 0;
	memcpy(w, sig, siglen);
	q = der;
	x = d2i_X509(NULL, &q, (long)(hl + content));
	assert_non_null(x);
	free(der);
	return x;
}

static void
test_sign_with_token(void **state)
{
	struct hsm *h = *state;
	struct signer_client *cl = NULL;
	unsigned char *tbs, *sig = NULL;
	size_t len, siglen;
	struct conf c;
	struct err e;
	pid_t pid;
	X509 *x;
	int i;

	err_clear(&e);
	tu_conf(&c, h->dir, "shomei.conf");
	if (signer_spawn(&c, &cl, &pid, &e) == -1)
		fail_msg("%s", e.msg);
	tbs = tbs_make(h, &len);
	for (i = 0; i < 3; i++) {
		if (signer_sign(cl, SIGNER_OP_SIGN_CERT, tbs, len, &sig, &siglen, &e) == -1)
			fail_msg("%s", e.msg);
		x = cert_assemble(tbs, len, sig, siglen);
		assert_int_equal(X509_verify(x, X509_get0_pubkey(h->ca_cert)), 1);
		X509_free(x);
		free(sig);
	}
	free(tbs);
	/* the rules hold for token keys too */
	assert_int_equal(signer_sign(cl, SIGNER_OP_SIGN_CERT, (const unsigned char *)"\x30\x00", 2,
				     &sig, &siglen, &e),
			 -1);
	assert_int_equal(e.code, ERR_REFUSED);
	err_clear(&e);
	assert_int_equal(signer_ping(cl, &e), 0);
	signer_client_free(cl);
	assert_int_equal(tu_wait(pid), 0);
	conf_free(&c);
}

static void
test_pin_from_env(void **state)
{
	struct hsm *h = *state;
	struct signer_client *cl = NULL;
	struct conf c;
	struct err e;
	pid_t pid;

	err_clear(&e);
	tu_write_text(h->dir, "env.conf",
		      "ca.key = " URI "\n"
		      "ca.cert = certs/issuing.pem\n"
		      "pkcs11.pin_env = SHOMEI_TEST_PIN\n");
	tu_conf(&c, h->dir, "env.conf");
	setenv("SHOMEI_TEST_PIN", "1234", 1);
	if (signer_spawn(&c, &cl, &pid, &e) == -1)
		fail_msg("%s", e.msg);
	assert_int_equal(signer_ping(cl, &e), 0);
	signer_client_free(cl);
	assert_int_equal(tu_wait(pid), 0);
	unsetenv("SHOMEI_TEST_PIN");
	err_clear(&e);
	assert_int_equal(signer_spawn(&c, &cl, &pid, &e), -1);
	assert_msg(&e, "pkcs11.pin_env: environment variable SHOMEI_TEST_PIN is not set");
	conf_free(&c);
}

static void
spawn_fails(struct hsm *h, const char *key, const char *value, const char *needle)
{
	struct signer_client *cl = NULL;
	struct conf c;
	struct err e;
	pid_t pid;

	err_clear(&e);
	tu_conf(&c, h->dir, "shomei.conf");
	conf_set(&c, key, value);
	assert_int_equal(signer_spawn(&c, &cl, &pid, &e), -1);
	assert_null(cl);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_msg(&e, needle);
	conf_free(&c);
}

static void
test_failures(void **state)
{
	struct hsm *h = *state;
	struct signer_client *cl = NULL;
	struct conf c;
	struct err e;
	pid_t pid;

	spawn_fails(h, "pkcs11.pin", "9999",
		    "signer: pkcs11: login failed: wrong PIN for token \"shomei-test\"");
	spawn_fails(h, "ca.key", "pkcs11:token=nosuch;object=ca;type=private",
		    "signer: pkcs11: token \"nosuch\" not found");
	spawn_fails(h, "ca.key", "pkcs11:token=shomei-test;object=nope;type=private",
		    "signer: pkcs11: no private key object \"nope\" on token \"shomei-test\"");
	spawn_fails(h, "ca.key", "pkcs11:token=shomei%2dtest;object=nope;type=private",
		    "no private key object \"nope\" on token \"shomei-test\"");
	spawn_fails(h, "pkcs11.module", "/nonexistent/libnothing.so",
		    "signer: pkcs11: module /nonexistent/libnothing.so (pkcs11.module) not found");

	/* no PIN at all: a clear message, never a prompt on a terminal */
	err_clear(&e);
	tu_write_text(h->dir, "nopin.conf",
		      "ca.key = " URI "\n"
		      "ca.cert = certs/issuing.pem\n");
	tu_conf(&c, h->dir, "nopin.conf");
	assert_int_equal(signer_spawn(&c, &cl, &pid, &e), -1);
	assert_msg(&e, "needs a login but no PIN is configured");
	conf_free(&c);
}

/* build/tests/lockshim.so: beside this test binary (make builds both into $(BUILD)/tests). */
static char *
lockshim_path(void)
{
	char exe[4096], *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	assert_non_null(slash);
	*slash = '\0';
	return xasprintf("%s/lockshim.so", exe);
}

/*
 * Spawns a signer with the key on the token behind module and the given PIN (none if NULL):
 * returns 0 (after a PING and a clean exit) or -1 with the signer's message in e.
 */
static int
spawn_with(struct hsm *h, const char *module, const char *pin, struct err *e)
{
	struct signer_client *cl = NULL;
	struct conf c;
	pid_t pid;
	int rc = -1;

	err_clear(e);
	tu_write_text(h->dir, "with.conf",
		      "ca.key = " URI "\n"
		      "ca.cert = certs/issuing.pem\n");
	tu_conf(&c, h->dir, "with.conf");
	conf_set(&c, "pkcs11.module", module);
	if (pin != NULL)
		conf_set(&c, "pkcs11.pin", pin);
	if (signer_spawn(&c, &cl, &pid, e) == 0) {
		assert_int_equal(signer_ping(cl, e), 0);
		signer_client_free(cl);
		assert_int_equal(tu_wait(pid), 0);
		rc = 0;
	} else {
		assert_null(cl);
		assert_int_equal(e->code, ERR_REFUSED);
	}
	conf_free(&c);
	return rc;
}

/*
 * A locked user PIN, which SoftHSM2 never has: the shim answers C_Login with CKR_PIN_LOCKED
 * and flags the token CKF_USER_PIN_LOCKED.  The signer says "PIN locked" with the right PIN,
 * a wrong one and none; unlocked, the shim only forwards (the right PIN signs, a wrong one is
 * a wrong PIN, none is none).
 */
static void
test_pin_locked(void **state)
{
	static const char locked[] = "signer: pkcs11: login failed: PIN locked: the user PIN of "
				     "token \"shomei-test\" is locked";
	struct hsm *h = *state;
	char *shim = lockshim_path();
	struct err e;

	if (!util_file_exists(shim))
		fail_msg("%s missing: make builds it", shim);
	setenv("LOCKSHIM_MODULE", MODULE, 1);
	setenv("LOCKSHIM_LOCKED", "1", 1);
	assert_int_equal(spawn_with(h, shim, "1234", &e), -1);
	assert_msg(&e, locked);
	assert_int_equal(spawn_with(h, shim, "9999", &e), -1);
	assert_msg(&e, locked);
	assert_int_equal(spawn_with(h, shim, NULL, &e), -1);
	assert_msg(&e, locked);

	unsetenv("LOCKSHIM_LOCKED");
	if (spawn_with(h, shim, "1234", &e) == -1)
		fail_msg("%s", e.msg);
	assert_int_equal(spawn_with(h, shim, "9999", &e), -1);
	assert_msg(&e, "signer: pkcs11: login failed: wrong PIN for token \"shomei-test\"");
	assert_null(strstr(e.msg, "locked"));
	assert_int_equal(spawn_with(h, shim, NULL, &e), -1);
	assert_msg(&e, "needs a login but no PIN is configured");
	unsetenv("LOCKSHIM_MODULE");
	free(shim);
}

/* Last: it leaves this process with an initialised module, as libp11 always does. */
static void
test_spawn_after_engine(void **state)
{
	struct hsm *h = *state;
	struct signer_client *cl = NULL;
	EVP_PKEY *k = NULL;
	struct conf c;
	struct err e;
	pid_t pid;

	err_clear(&e);
	tu_conf(&c, h->dir, "shomei.conf");
	if (signer_key_load(&c, URI, &k, &e) == -1)
		fail_msg("%s", e.msg);
	assert_int_equal(EVP_PKEY_eq(k, X509_get0_pubkey(h->ca_cert)), 1);
	EVP_PKEY_free(k);
	signer_engine_release();
	assert_int_equal(signer_spawn(&c, &cl, &pid, &e), -1);
	assert_int_equal(e.code, ERR_INTERNAL);
	assert_msg(&e, "would inherit the module's state and login");
	conf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_with_token),    cmocka_unit_test(test_pin_from_env),
	    cmocka_unit_test(test_failures),	       cmocka_unit_test(test_pin_locked),
	    cmocka_unit_test(test_spawn_after_engine),
	};

	return cmocka_run_group_tests_name("signer PKCS#11 (SoftHSM2)", tests, setup, teardown);
}
