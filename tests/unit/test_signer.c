/*
 * signer unit tests: framing, a real forked signer over a throwaway CA (P-256 and RSA-2048),
 * every refusal rule, the fatal framing cases (exit status 3), key loading failures, and a
 * 1,000,000-entry CRL.  SHOMEI_SIGNER_BENCH=1 also prints throughput figures.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "signer/signer.h"
#include "signer/signer_local.h"
#include "testutil.h"
#include "util/util.h"
#include "x509/x509.h"

#define PASS "correct horse battery staple"

/* SET OF Attribute, to encode CMS SignedAttributes the way a TSA would */
ASN1_ITEM_TEMPLATE(TU_ATTRS) = ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SET_OF, 0, TU_ATTRS, X509_ATTRIBUTE)
    static_ASN1_ITEM_TEMPLATE_END(TU_ATTRS)

#define assert_msg(e, needle)                                                                      \
	do {                                                                                       \
		if (strstr((e)->msg, (needle)) == NULL)                                            \
			fail_msg("message \"%s\" lacks \"%s\"", (e)->msg, (needle));               \
	} while (0)

	struct fx {
	char *dir;
	int rsa;
	EVP_PKEY *ca_key;
	X509 *ca_cert;
	EVP_PKEY *ocsp_key;
	X509 *ocsp_cert;
	EVP_PKEY *tsa_key;
	X509 *tsa_cert;
	EVP_PKEY *leaf_key;
	struct conf conf;    /* full.conf: CA, OCSP and TSA keys */
	struct conf conf_ca; /* shomei.conf: the CA key only (loads 3x faster) */
	struct signer_client *cl;
	pid_t pid;
};

static long tu_serial = 1000;

static double
tu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static EVP_PKEY *
tu_key(int rsa)
{
	EVP_PKEY *k;

	if (rsa)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(k);
	return k;
}

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

	assert_int_equal(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
						    (const unsigned char *)"shomei test", -1, -1,
						    0),
			 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
						    (const unsigned char *)cn, -1, -1, 0),
			 1);
	return n;
}

/* A certificate for pub, signed by issuer_key (self-signed when issuer is NULL). */
static X509 *
tu_cert(EVP_PKEY *pub, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca, const char *eku)
{
	X509 *x = X509_new();
	X509_NAME *n = tu_name(cn);
	X509V3_CTX ctx;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), tu_serial++);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400);
	X509_set_pubkey(x, pub);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	tu_ext(x, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	tu_ext(x, &ctx, NID_key_usage,
	       ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	tu_ext(x, &ctx, NID_subject_key_identifier, "hash");
	tu_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	if (eku != NULL)
		tu_ext(x, &ctx, NID_ext_key_usage, eku);
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

static void
tu_write_cert(const char *dir, const char *rel, X509 *x)
{
	char *path = xasprintf("%s/%s", dir, rel);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	free(path);
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
tu_write_key(const char *dir, const char *rel, EVP_PKEY *k)
{
	char *path = xasprintf("%s/%s", dir, rel);
	struct err e;

	err_clear(&e);
	if (signer_key_write(path, k, PASS, &e) == -1)
		fail_msg("%s", e.msg);
	free(path);
}

/* Loads dir/name and applies key=value overrides (NULL-terminated pairs). */
static void
tu_conf(struct conf *c, const char *dir, const char *name, ...)
{
	char *path = xasprintf("%s/%s", dir, name);
	const char *k, *v;
	struct err e;
	va_list ap;

	err_clear(&e);
	if (conf_load(c, path, &e) == -1)
		fail_msg("%s", e.msg);
	va_start(ap, name);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		conf_set(c, k, v);
	}
	va_end(ap);
	free(path);
}

/* Exit status of pid, waiting at most ~10 s. */
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

static struct fx *
fx_new(int rsa)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct err e;
	char *dirs;

	err_clear(&e);
	f->rsa = rsa;
	f->dir = tu_tmpdir();
	dirs = xasprintf("%s/keys", f->dir);
	assert_int_equal(util_mkdir_p(dirs, 0700, &e), 0);
	free(dirs);
	dirs = xasprintf("%s/certs", f->dir);
	assert_int_equal(util_mkdir_p(dirs, 0700, &e), 0);
	free(dirs);
	f->ca_key = tu_key(rsa);
	f->ca_cert = tu_cert(f->ca_key, "shomei Test Issuing CA", NULL, f->ca_key, 1, NULL);
	f->ocsp_key = tu_key(0);
	f->ocsp_cert = tu_cert(f->ocsp_key, "shomei Test OCSP", f->ca_cert, f->ca_key, 0,
			       "critical,OCSPSigning");
	f->tsa_key = tu_key(0);
	f->tsa_cert = tu_cert(f->tsa_key, "shomei Test TSA", f->ca_cert, f->ca_key, 0,
			      "critical,timeStamping");
	f->leaf_key = tu_key(0);
	tu_write_key(f->dir, "keys/issuing.key.pem", f->ca_key);
	tu_write_key(f->dir, "keys/ocsp.key.pem", f->ocsp_key);
	tu_write_key(f->dir, "keys/tsa.key.pem", f->tsa_key);
	tu_write_cert(f->dir, "certs/issuing.pem", f->ca_cert);
	tu_write_cert(f->dir, "certs/ocsp.pem", f->ocsp_cert);
	tu_write_cert(f->dir, "certs/tsa.pem", f->tsa_cert);
	tu_write_text(f->dir, "shomei.conf",
		      "# CA key only\n"
		      "ca.key = keys/issuing.key.pem\n"
		      "ca.cert = certs/issuing.pem\n"
		      "key_passphrase = " PASS "\n");
	tu_write_text(f->dir, "full.conf",
		      "ca.key = keys/issuing.key.pem\n"
		      "ca.cert = certs/issuing.pem\n"
		      "ocsp.key = keys/ocsp.key.pem\n"
		      "ocsp.cert = certs/ocsp.pem\n"
		      "tsa.key = keys/tsa.key.pem\n"
		      "tsa.cert = certs/tsa.pem\n"
		      "key_passphrase = " PASS "\n");
	tu_conf(&f->conf, f->dir, "full.conf", NULL);
	tu_conf(&f->conf_ca, f->dir, "shomei.conf", NULL);
	return f;
}

static void
fx_free(struct fx *f)
{
	if (f == NULL)
		return;
	if (f->cl != NULL) {
		signer_client_free(f->cl);
		/* closing the socket is a clean EOF: the signer exits 0 */
		assert_int_equal(tu_wait(f->pid), 0);
	}
	EVP_PKEY_free(f->ca_key);
	X509_free(f->ca_cert);
	EVP_PKEY_free(f->ocsp_key);
	X509_free(f->ocsp_cert);
	EVP_PKEY_free(f->tsa_key);
	X509_free(f->tsa_cert);
	EVP_PKEY_free(f->leaf_key);
	conf_free(&f->conf);
	conf_free(&f->conf_ca);
	tu_rmdir(f->dir);
	free(f);
}

static int
group_setup(void **state, int rsa)
{
	struct fx *f = fx_new(rsa);
	struct err e;

	err_clear(&e);
	if (signer_spawn(&f->conf, &f->cl, &f->pid, &e) == -1)
		fail_msg("%s", e.msg);
	*state = f;
	return 0;
}

static int
group_setup_p256(void **state)
{
	return group_setup(state, 0);
}

static int
group_setup_rsa(void **state)
{
	return group_setup(state, 1);
}

static int
group_teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* What a test TBSCertificate should get wrong. */
struct tbs_opts {
	const char *issuer_cn; /* NULL: the CA's subject */
	int sig_nid;	       /* 0: the CA key's algorithm */
	int ca;		       /* basicConstraints cA TRUE */
	long days;	       /* validity; 0 = 90 */
	long start;	       /* notBefore offset in seconds */
	X509 *aki_from;	       /* take the AKI from this certificate instead of the CA */
	const char *ku;	       /* keyUsage; NULL = critical,digitalSignature */
	int ns_ca;	       /* no basicConstraints nor keyUsage, Netscape cert type sslCA */
	const char *eku;       /* extendedKeyUsage; NULL = serverAuth, "" = none */
	int v1;		       /* version 1, no extensions */
	int unrevocable;       /* 1: no CRL distribution point; 2: AIA without OCSP */
};

static unsigned char *
tbs_make(struct fx *f, const struct tbs_opts *o, size_t *len)
{
	X509 *x = X509_new();
	X509_NAME *subj = tu_name("leaf.example"), *iss = NULL;
	X509V3_CTX ctx;
	unsigned char *der = NULL, *copy;
	int n, sig_nid, md_nid;
	struct err e;

	err_clear(&e);
	X509_set_version(x, o->v1 ? 0 : 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), tu_serial++);
	X509_set_subject_name(x, subj);
	if (o->issuer_cn != NULL) {
		iss = tu_name(o->issuer_cn);
		X509_set_issuer_name(x, iss);
	} else {
		X509_set_issuer_name(x, X509_get_subject_name(f->ca_cert));
	}
	X509_gmtime_adj(X509_getm_notBefore(x), o->start);
	X509_gmtime_adj(X509_getm_notAfter(x), (o->days ? o->days : 90) * 86400L);
	X509_set_pubkey(x, f->leaf_key);
	X509V3_set_ctx(&ctx, o->aki_from ? o->aki_from : f->ca_cert, x, NULL, NULL, 0);
	if (!o->v1) {
		if (o->ns_ca)
			tu_ext(x, &ctx, NID_netscape_cert_type, "sslCA");
		else
			tu_ext(x, &ctx, NID_basic_constraints,
			       o->ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
		if (!o->ns_ca) /* without keyUsage nor BC, OpenSSL takes sslCA for a CA */
			tu_ext(x, &ctx, NID_key_usage, o->ku ? o->ku : "critical,digitalSignature");
		if (o->eku == NULL || o->eku[0] != '\0')
			tu_ext(x, &ctx, NID_ext_key_usage, o->eku ? o->eku : "serverAuth");
		tu_ext(x, &ctx, NID_subject_alt_name, "DNS:leaf.example");
		tu_ext(x, &ctx, NID_subject_key_identifier, "hash");
		tu_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
		if (o->unrevocable != 1)
			tu_ext(x, &ctx, NID_crl_distribution_points,
			       "URI:http://ca.example/crl/ca.crl");
		tu_ext(x, &ctx, NID_info_access,
		       o->unrevocable == 2 ? "caIssuers;URI:http://ca.example/ca/ca.crt"
					   : "OCSP;URI:http://ca.example/ocsp,"
					     "caIssuers;URI:http://ca.example/ca/ca.crt");
	}
	assert_int_equal(x509_sigalg_for_key(X509_get0_pubkey(f->ca_cert), &sig_nid, &md_nid, &e),
			 0);
	assert_int_equal(x509_algor_set((X509_ALGOR *)X509_get0_tbs_sigalg(x),
					o->sig_nid ? o->sig_nid : sig_nid, &e),
			 0);
	n = i2d_re_X509_tbs(x, &der);
	assert_true(n > 0);
	copy = xmalloc((size_t)n);
	memcpy(copy, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	X509_NAME_free(subj);
	X509_NAME_free(iss);
	X509_free(x);
	return copy;
}

/* SEQUENCE { tbs, alg, BIT STRING sig }: a Certificate or a CertificateList; *len set. */
static unsigned char *
der_assemble(const unsigned char *tbs, size_t tbslen, const unsigned char *alg, size_t alglen,
	     const unsigned char *sig, size_t siglen, size_t *len)
{
	unsigned char hdr[6], bhdr[6], *der, *w;
	size_t hl, bl, content;

	bl = der_hdr(bhdr, 0x03, siglen + 1);
	content = tbslen + alglen + bl + 1 + siglen;
	hl = der_hdr(hdr, 0x30, content);
	der = w = xmalloc(hl + content);
	memcpy(w, hdr, hl), w += hl;
	memcpy(w, tbs, tbslen), w += tbslen;
	memcpy(w, alg, alglen), w += alglen;
	memcpy(w, bhdr, bl), w += bl;
	*w++ = 0;
	memcpy(w, sig, siglen);
	*len = hl + content;
	return der;
}

/* The Certificate for a TBS and its signature, parsed by OpenSSL. */
static X509 *
cert_assemble(const unsigned char *tbs, size_t tbslen, const unsigned char *sig, size_t siglen)
{
	struct der_reader d, in;
	struct der_tlv t, alg;
	unsigned char *der;
	const unsigned char *q;
	size_t len;
	X509 *x;

	der_reader_init(&d, tbs, tbslen);
	assert_int_equal(der_next(&d, &t), 0);
	der_reader_init(&in, t.val, t.len);
	assert_int_equal(der_next(&in, &alg), 0); /* [0] version */
	assert_int_equal(der_next(&in, &alg), 0); /* serial */
	assert_int_equal(der_next(&in, &alg), 0); /* algorithm */
	der = der_assemble(tbs, tbslen, alg.start, alg.total, sig, siglen, &len);
	q = der;
	x = d2i_X509(NULL, &q, (long)len);
	assert_non_null(x);
	assert_ptr_equal(q, der + len);
	free(der);
	return x;
}

/*
 * The same TBS with the validity SEQUENCE's length in a non-minimal long form (30 81 1e
 * instead of 30 1e): valid BER, not DER.
 */
static unsigned char *
tbs_nonminimal(const unsigned char *tbs, size_t len, size_t *outlen)
{
	struct der_reader d, in;
	struct der_tlv outer, t;
	unsigned char hdr[6], *out, *w;
	size_t hl, before, i;

	der_reader_init(&d, tbs, len);
	assert_int_equal(der_next(&d, &outer), 0);
	der_reader_init(&in, outer.val, outer.len);
	for (i = 0; i < 5; i++) /* version, serial, algorithm, issuer, validity */
		assert_int_equal(der_next(&in, &t), 0);
	assert_int_equal(t.tag, 0x30);
	assert_true(t.len < 0x80);
	hl = der_hdr(hdr, 0x30, outer.len + 1);
	out = w = xmalloc(hl + outer.len + 1);
	memcpy(w, hdr, hl), w += hl;
	before = (size_t)(t.start - outer.val);
	memcpy(w, outer.val, before), w += before;
	*w++ = 0x30;
	*w++ = 0x81;
	memcpy(w, t.start + 1, outer.len - before - 1);
	*outlen = hl + outer.len + 1;
	return out;
}

/* Signs a TBS built with opts; expects success and a certificate that verifies. */
static void
sign_cert_ok(struct fx *f, const struct tbs_opts *o)
{
	unsigned char *tbs, *sig = NULL;
	size_t len, siglen = 0;
	struct err e;
	X509 *x;

	err_clear(&e);
	tbs = tbs_make(f, o, &len);
	if (signer_sign(f->cl, SIGNER_OP_SIGN_CERT, tbs, len, &sig, &siglen, &e) == -1)
		fail_msg("%s", e.msg);
	x = cert_assemble(tbs, len, sig, siglen);
	assert_int_equal(X509_verify(x, f->ca_key), 1);
	/* and it chains: issuer name and AKI point at the CA */
	assert_int_equal(X509_check_issued(f->ca_cert, x), X509_V_OK);
	X509_free(x);
	free(sig);
	free(tbs);
}

/* Sends p; expects ERR_REFUSED naming needle, and a signer that still answers PING. */
static void
sign_refused(struct fx *f, enum signer_op op, const unsigned char *p, size_t len,
	     const char *needle)
{
	unsigned char *sig = NULL;
	size_t siglen = 0;
	struct err e;

	err_clear(&e);
	assert_int_equal(signer_sign(f->cl, op, p, len, &sig, &siglen, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_msg(&e, needle);
	assert_null(sig);
	err_clear(&e);
	if (signer_ping(f->cl, &e) == -1)
		fail_msg("ping after refusal: %s", e.msg);
}

static void
tbs_refused(struct fx *f, const struct tbs_opts *o, const char *needle)
{
	unsigned char *tbs;
	size_t len;

	tbs = tbs_make(f, o, &len);
	sign_refused(f, SIGNER_OP_SIGN_CERT, tbs, len, needle);
	free(tbs);
}

/* ---- framing ---- */

static void
test_frame_roundtrip(void **state)
{
	int sv[2];
	struct buf b;
	struct err e;
	uint32_t op = 0;
	unsigned char big[100000];

	err_clear(&e);
	memset(big, 0xab, sizeof(big));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* larger than the socket buffer: the reader must loop over short reads */
	if (fork() == 0) {
		close(sv[0]);
		signer_frame_write(sv[1], SIGNER_OP_SIGN_CERT, big, sizeof(big));
		signer_frame_write(sv[1], SIGNER_OP_PING, NULL, 0);
		_exit(0);
	}
	close(sv[1]);
	assert_int_equal(signer_frame_read(sv[0], &op, &b, &e), 0);
	assert_int_equal(op, SIGNER_OP_SIGN_CERT);
	assert_int_equal(b.len, sizeof(big));
	assert_memory_equal(b.data, big, sizeof(big));
	buf_free(&b);
	assert_int_equal(signer_frame_read(sv[0], &op, &b, &e), 0);
	assert_int_equal(op, SIGNER_OP_PING);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	/* then a clean EOF */
	assert_int_equal(signer_frame_read(sv[0], &op, &b, &e), 1);
	buf_free(&b);
	close(sv[0]);
	wait(NULL);
}

/* Writes raw bytes, closes the writer, and returns what signer_frame_read says. */
static int
frame_raw(const unsigned char *p, size_t n, struct err *e)
{
	int sv[2], r;
	uint32_t op = 0;
	struct buf b;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], p, n), (ssize_t)n);
	close(sv[1]);
	err_clear(e);
	r = signer_frame_read(sv[0], &op, &b, e);
	assert_null(b.data);
	buf_free(&b);
	close(sv[0]);
	return r;
}

static void
test_frame_errors(void **state)
{
	static const unsigned char trunc_hdr[] = {0, 0, 0, 2, 0};
	static const unsigned char trunc_payload[] = {0, 0, 0, 2, 0, 0, 0, 10, 1, 2, 3};
	static const unsigned char over[] = {0, 0, 0, 2, 0, 4, 0, 1}; /* 256 KiB + 1 */
	static const unsigned char ping_payload[] = {0, 0, 0, 1, 0, 0, 0, 1, 'x'};
	static const unsigned char unknown[] = {0, 0, 0, 99, 0, 0, 0, 0};
	static const unsigned char zero[] = {0, 0, 0, 0, 0, 0, 0, 0};
	struct err e;

	assert_int_equal(signer_op_max(SIGNER_OP_SIGN_CERT), SIGNER_MAX_CERT);
	assert_int_equal(signer_op_max(SIGNER_OP_SIGN_CRL), SIGNER_MAX_CRL);
	assert_int_equal(signer_op_max(SIGNER_OP__MAX), 0);
	assert_int_equal(frame_raw(trunc_hdr, sizeof(trunc_hdr), &e), -1);
	assert_msg(&e, "truncated frame: header has 5 of 8 bytes");
	assert_int_equal(frame_raw(trunc_payload, sizeof(trunc_payload), &e), -1);
	assert_msg(&e, "truncated frame: payload has 3 of 10 bytes");
	assert_int_equal(frame_raw(over, sizeof(over), &e), -1);
	assert_msg(&e, "SIGN_CERT frame of 262145 bytes exceeds its maximum of 262144");
	assert_int_equal(frame_raw(ping_payload, sizeof(ping_payload), &e), -1);
	assert_msg(&e, "PING frame of 1 bytes exceeds");
	assert_int_equal(frame_raw(unknown, sizeof(unknown), &e), -1);
	assert_msg(&e, "unknown op 99");
	assert_int_equal(frame_raw(zero, sizeof(zero), &e), -1);
	assert_msg(&e, "unknown op 0");
	assert_int_equal(frame_raw(NULL, 0, &e), 1);
}

/*
 * A fake signer end on a socketpair, for the client tests: reads requests and, when answer
 * is set, answers each at once (PING with "pong", a signing op with its own payload — the
 * last 64 bytes of a longer one — so a caller can tell its answer from another's); otherwise it
 * holds them unanswered, like a hung signer.  Ends at EOF.
 */
struct fake_signer {
	int fd;
	int answer;   /* 1: answer, 0: read and hold, -1: do not even read */
	int delay_ms; /* before each answer */
	int nreq;     /* requests read (atomic) */
	pthread_t th;
};

/* Waits, reading nothing, until the peer shuts the stream down (POLLHUP). */
static void
pause_until_eof(int fd)
{
	struct pollfd pfd;

	pfd.fd = fd;
	pfd.events = 0; /* only POLLHUP: both directions shut down or closed */
	while (poll(&pfd, 1, -1) != 1 || (pfd.revents & (POLLHUP | POLLERR)) == 0)
		;
}

static void *
fake_signer_main(void *arg)
{
	struct fake_signer *fs = arg;
	struct buf req;
	struct err e;
	uint32_t op;

	for (;;) {
		err_clear(&e);
		if (fs->answer == -1) {
			pause_until_eof(fs->fd);
			break;
		}
		if (signer_frame_read_kind(fs->fd, SIGNER_FRAME_REQUEST, -1, &op, &req, &e) != 0)
			break;
		__atomic_add_fetch(&fs->nreq, 1, __ATOMIC_RELAXED);
		if (fs->delay_ms > 0)
			usleep((useconds_t)fs->delay_ms * 1000);
		if (fs->answer) {
			if (op == SIGNER_OP_PING)
				signer_frame_write(fs->fd, SIGNER_STATUS_OK, "pong", 4);
			else if (req.len <= 64)
				signer_frame_write(fs->fd, SIGNER_STATUS_OK, req.data, req.len);
			else
				signer_frame_write(fs->fd, SIGNER_STATUS_OK,
						   req.data + req.len - 64, 64);
		}
		buf_free(&req);
	}
	buf_free(&req);
	return NULL;
}

/* Starts a fake signer; *client_fd is the end to give the client. */
static void
fake_signer_start_delay(struct fake_signer *fs, int answer, int delay_ms, int *client_fd)
{
	int sv[2];

	memset(fs, 0, sizeof(*fs));
	fs->delay_ms = delay_ms;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fs->fd = sv[1];
	fs->answer = answer;
	*client_fd = sv[0];
	assert_int_equal(pthread_create(&fs->th, NULL, fake_signer_main, fs), 0);
}

static void
fake_signer_start(struct fake_signer *fs, int answer, int *client_fd)
{
	fake_signer_start_delay(fs, answer, 0, client_fd);
}

/* Waits for the fake's end of the stream (the client closed or shut down its end). */
static void
fake_signer_stop(struct fake_signer *fs)
{
	pthread_join(fs->th, NULL);
	close(fs->fd);
}

/*
 * read() for the whole test program, so that test_reset_fd_reuse can act in the window
 * between the receiver thread picking up a socket and reading it: while tu_stall.fd is set,
 * the first read() of that descriptor waits, before the system call, until the test lets it
 * go.  Every other read() goes straight to the system call.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd; /* -1: stall nothing */
	int held;
	int release;
} tu_stall = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, -1, 0, 0};

ssize_t
read(int fd, void *p, size_t n)
{
	if (fd != -1 && __atomic_load_n(&tu_stall.fd, __ATOMIC_ACQUIRE) == fd) {
		pthread_mutex_lock(&tu_stall.mu);
		if (tu_stall.fd == fd) {
			tu_stall.fd = -1;
			tu_stall.held = 1;
			pthread_cond_broadcast(&tu_stall.cv);
			while (!tu_stall.release)
				pthread_cond_wait(&tu_stall.cv, &tu_stall.mu);
		}
		pthread_mutex_unlock(&tu_stall.mu);
	}
	return syscall(SYS_read, fd, p, n);
}

/* Open descriptors of this process (to see that handed-over sockets are closed, not leaked). */
static int
tu_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own */
}

/*
 * signer_client_reset_fd() while the receiver is about to read the socket it replaces: that
 * descriptor must stay open until the receiver has let go of it.  Closed any earlier, its
 * number goes to the next descriptor the process opens (a store connection, say) and the
 * receiver reads that.  The receiver is held just before its read of socket B; B is replaced
 * by C; a victim socket pair opened then takes the lowest free numbers (B's, if B was
 * closed); once the receiver goes on, the bytes put in the victims must all still be there.
 */
static void
test_reset_fd_reuse(void **state)
{
	struct signer_client *cl;
	struct fake_signer fs;
	struct timespec dl;
	struct err e;
	int a[2], b[2], c[2], vic[2], i, avail, stolen = 0, fds0, fd;

	(void)state;
	fds0 = tu_open_fds();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, c), 0);
	cl = signer_client_new(a[0]);
	pthread_mutex_lock(&tu_stall.mu);
	tu_stall.held = tu_stall.release = 0;
	__atomic_store_n(&tu_stall.fd, b[0], __ATOMIC_RELEASE);
	pthread_mutex_unlock(&tu_stall.mu);
	signer_client_reset_fd(cl, b[0]); /* the receiver leaves A and stops before reading B */
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&tu_stall.mu);
	while (!tu_stall.held)
		if (pthread_cond_timedwait(&tu_stall.cv, &tu_stall.mu, &dl) != 0)
			break;
	assert_true(tu_stall.held);
	pthread_mutex_unlock(&tu_stall.mu);
	signer_client_reset_fd(cl, c[0]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, vic), 0);
	assert_int_equal(write(vic[0], "v", 1), 1);
	assert_int_equal(write(vic[1], "v", 1), 1);
	pthread_mutex_lock(&tu_stall.mu);
	tu_stall.release = 1;
	pthread_cond_broadcast(&tu_stall.cv);
	pthread_mutex_unlock(&tu_stall.mu);
	usleep(100000); /* the receiver reads whatever B's number now is */
	for (i = 0; i < 2; i++) {
		avail = -1;
		assert_int_equal(ioctl(vic[i], FIONREAD, &avail), 0);
		stolen += avail != 1;
	}
	shutdown(vic[0], SHUT_RDWR); /* a receiver stuck on the victim gets EOF */
	close(vic[0]);
	close(vic[1]);
	if (stolen)
		fail_msg("the receiver read %d socket(s) it did not own", stolen);
	/* the client works on the newest socket; every replaced one was closed by whoever
	 * held it last */
	fake_signer_start(&fs, 1, &fd);
	signer_client_reset_fd(cl, fd);
	err_clear(&e);
	assert_int_equal(signer_ping(cl, &e), 0);
	signer_client_free(cl);
	fake_signer_stop(&fs);
	close(a[1]);
	close(b[1]);
	close(c[1]);
	close(c[0]);
	assert_int_equal(tu_open_fds(), fds0);
}

/* ---- timeouts: a signer that stops answering ---- */

static int tu_hangs;
static uint64_t tu_hang_gen;

static void
tu_on_hang(uint64_t gen)
{
	__atomic_add_fetch(&tu_hangs, 1, __ATOMIC_RELAXED);
	tu_hang_gen = gen;
}

struct hung_call {
	struct signer_client *cl;
	unsigned char tbs[16];
	int rc;
	struct err e;
	double secs;
};

static void *
hung_call_main(void *arg)
{
	struct hung_call *h = arg;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	double t0 = tu_now();

	err_clear(&h->e);
	h->rc =
	    signer_sign(h->cl, SIGNER_OP_SIGN_TSA, h->tbs, sizeof(h->tbs), &sig, &siglen, &h->e);
	h->secs = tu_now() - t0;
	free(sig);
	return NULL;
}

/*
 * A signer that reads requests and never answers (a stuck PKCS#11 device): four callers at
 * once all fail within the timeout with a clear error, the owner hears of it once, later
 * calls fail at once, an answer arriving late reaches nobody, and after reset_fd() every
 * caller gets its own answer again.
 */
static void
test_client_timeout(void **state)
{
	struct signer_client *cl;
	struct fake_signer hung, good;
	struct hung_call h[4];
	pthread_t th[4];
	unsigned char mine[16], *sig = NULL;
	size_t siglen = 0;
	struct err e;
	double t0;
	int fd, i, fds0;

	(void)state;
	fds0 = tu_open_fds();
	tu_hangs = 0;
	fake_signer_start(&hung, 0, &fd);
	cl = signer_client_new(fd);
	assert_int_equal(cl->timeout_ms, SIGNER_TIMEOUT_DEFAULT_MS);
	signer_client_set_timeout(cl, 300);
	cl->on_hang = tu_on_hang;
	alarm(60); /* a caller that waits for ever must fail the test, not hang it */
	for (i = 0; i < 4; i++) {
		memset(&h[i], 0, sizeof(h[i]));
		h[i].cl = cl;
		memset(h[i].tbs, 'a' + i, sizeof(h[i].tbs));
		assert_int_equal(pthread_create(&th[i], NULL, hung_call_main, &h[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(h[i].rc, -1);
		assert_int_equal(h[i].e.code, ERR_INTERNAL);
		assert_msg(&h[i].e, "signer: no answer within 300 ms");
		if (h[i].secs < 0.25 || h[i].secs > 3.0)
			fail_msg("caller %d failed after %.3f s (timeout 0.3 s)", i, h[i].secs);
	}
	assert_int_equal(__atomic_load_n(&tu_hangs, __ATOMIC_RELAXED), 1);
	assert_int_equal(tu_hang_gen, 0);
	assert_int_equal(cl->hangs, 1);
	/* the stream is given up: the fake sees EOF, an answer it sends now goes nowhere */
	fake_signer_stop(&hung);
	/* until a new signer arrives, callers fail at once instead of queueing behind it */
	memset(mine, 'z', sizeof(mine));
	t0 = tu_now();
	err_clear(&e);
	assert_int_equal(signer_sign(cl, SIGNER_OP_SIGN_TSA, mine, sizeof(mine), &sig, &siglen, &e),
			 -1);
	assert_true(tu_now() - t0 < 0.2);
	assert_msg(&e, "signer: connection lost");
	/* a new signer: each caller gets its own answer (the fake echoes the payload) */
	fake_signer_start(&good, 1, &fd);
	signer_client_reset_fd(cl, fd);
	err_clear(&e);
	assert_int_equal(signer_sign(cl, SIGNER_OP_SIGN_TSA, mine, sizeof(mine), &sig, &siglen, &e),
			 0);
	assert_int_equal(siglen, sizeof(mine));
	assert_memory_equal(sig, mine, sizeof(mine));
	free(sig);
	assert_int_equal(signer_ping(cl, &e), 0);
	assert_int_equal(__atomic_load_n(&tu_hangs, __ATOMIC_RELAXED), 1);
	alarm(0);
	signer_client_free(cl);
	fake_signer_stop(&good);
	assert_int_equal(tu_open_fds(), fds0);
}

/*
 * The hung signer answers the timed-out request after all, on the same stream, before the
 * next caller's answer: that late answer must not be taken for the next caller's.  The
 * stream was given up, so the next caller fails cleanly (no data) rather than receiving
 * another request's signature; the late bytes are drained and dropped.
 */
static void
test_client_late_answer(void **state)
{
	struct signer_client *cl;
	unsigned char a[16], b[16], *sig = NULL;
	size_t siglen = 0;
	struct buf req;
	struct err e;
	uint32_t op;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cl = signer_client_new(sv[0]);
	signer_client_set_timeout(cl, 200);
	alarm(60);
	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	err_clear(&e);
	assert_int_equal(signer_sign(cl, SIGNER_OP_SIGN_TSA, a, sizeof(a), &sig, &siglen, &e), -1);
	assert_msg(&e, "signer: no answer within 200 ms");
	/* the "signer" wakes up: reads A's request and answers it */
	err_clear(&e);
	assert_int_equal(signer_frame_read_kind(sv[1], SIGNER_FRAME_REQUEST, 1000, &op, &req, &e),
			 0);
	assert_memory_equal(req.data, a, sizeof(a));
	buf_free(&req);
	(void)signer_frame_write(sv[1], SIGNER_STATUS_OK, a, sizeof(a));
	err_clear(&e);
	sig = NULL;
	assert_int_equal(signer_sign(cl, SIGNER_OP_SIGN_TSA, b, sizeof(b), &sig, &siglen, &e), -1);
	assert_null(sig);
	assert_int_equal(e.code, ERR_INTERNAL);
	alarm(0);
	signer_client_free(cl);
	close(sv[1]);
}

/*
 * A signer that does not even read: a request larger than the socket buffer cannot be
 * written.  The write gives up after the timeout (no progress), rather than holding the
 * write lock, and every other caller with it, for good.
 */
static void
test_client_write_stall(void **state)
{
	struct signer_client *cl;
	struct fake_signer fs;
	unsigned char *big, *sig = NULL;
	size_t len = 4u << 20, siglen = 0;
	struct err e;
	double t0, secs;
	int fd;

	(void)state;
	big = xcalloc(1, len);
	fake_signer_start(&fs, -1, &fd);
	cl = signer_client_new(fd);
	signer_client_set_timeout(cl, 300);
	alarm(60);
	err_clear(&e);
	t0 = tu_now();
	assert_int_equal(signer_sign(cl, SIGNER_OP_SIGN_CRL, big, len, &sig, &siglen, &e), -1);
	secs = tu_now() - t0;
	assert_msg(&e, "signer: no progress writing a request within 300 ms");
	if (secs < 0.25 || secs > 3.0)
		fail_msg("the stalled write failed after %.3f s (timeout 0.3 s)", secs);
	assert_int_equal(cl->hangs, 1);
	alarm(0);
	signer_client_free(cl);
	fake_signer_stop(&fs);
	free(big);
}

/*
 * A large request (a big CRL) is given more time: SIGNER_TIMEOUT_MS_PER_MIB per MiB queued.
 * An 8 MiB request answered after 0.6 s succeeds under a 0.3 s timeout (0.3 + 0.8 s), while a
 * small one answered as slowly fails.
 */
static void
test_client_timeout_large(void **state)
{
	struct signer_client *cl;
	struct fake_signer fs;
	unsigned char *big, *sig = NULL, small[16];
	size_t len = 8u << 20, siglen = 0;
	struct err e;
	int fd;

	(void)state;
	big = xcalloc(1, len);
	big[len - 1] = 0x42;
	fake_signer_start_delay(&fs, 1, 600, &fd);
	cl = signer_client_new(fd);
	signer_client_set_timeout(cl, 300);
	alarm(60);
	err_clear(&e);
	if (signer_sign(cl, SIGNER_OP_SIGN_CRL, big, len, &sig, &siglen, &e) == -1)
		fail_msg("8 MiB request: %s", e.msg);
	assert_int_equal(siglen, 64);
	assert_memory_equal(sig, big + len - 64, 64);
	free(sig);
	sig = NULL;
	memset(small, 's', sizeof(small));
	assert_int_equal(
	    signer_sign(cl, SIGNER_OP_SIGN_TSA, small, sizeof(small), &sig, &siglen, &e), -1);
	assert_msg(&e, "signer: no answer within 300 ms");
	alarm(0);
	signer_client_free(cl);
	fake_signer_stop(&fs);
	free(big);
}

static void
test_der_reader(void **state)
{
	static const unsigned char ok[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	static const unsigned char indefinite[] = {0x30, 0x80, 0x00, 0x00};
	static const unsigned char nonminimal[] = {0x04, 0x81, 0x01, 0x00};
	static const unsigned char past_end[] = {0x04, 0x05, 0x00};
	static const unsigned char long_ok[] = {0x04, 0x81, 0x80};
	static const unsigned char hightag[] = {0x1f, 0x01, 0x00};
	struct der_reader d;
	struct der_tlv t;
	unsigned char hdr[6];

	der_reader_init(&d, ok, sizeof(ok));
	assert_int_equal(der_next(&d, &t), 0);
	assert_int_equal(t.tag, 0x30);
	assert_int_equal(t.len, 3);
	assert_int_equal(t.total, 5);
	assert_true(der_reader_done(&d));
	assert_int_equal(der_next(&d, &t), 1);
	der_reader_init(&d, indefinite, sizeof(indefinite));
	assert_int_equal(der_next(&d, &t), -1);
	der_reader_init(&d, nonminimal, sizeof(nonminimal));
	assert_int_equal(der_next(&d, &t), -1);
	der_reader_init(&d, past_end, sizeof(past_end));
	assert_int_equal(der_next(&d, &t), -1);
	der_reader_init(&d, long_ok, sizeof(long_ok)); /* claims 128 bytes, has none */
	assert_int_equal(der_next(&d, &t), -1);
	der_reader_init(&d, hightag, sizeof(hightag));
	assert_int_equal(der_next(&d, &t), -1);
	der_reader_init(&d, ok, 1);
	assert_int_equal(der_next(&d, &t), -1);
	assert_int_equal(der_hdr(hdr, 0x30, 5), 2);
	assert_int_equal(der_hdr(hdr, 0x30, 200), 3);
	assert_int_equal(hdr[1], 0x81);
	assert_int_equal(der_hdr(hdr, 0x30, 49000000), 6);
	assert_int_equal(hdr[1], 0x84);
}

/* ---- signing through a spawned signer (P-256 group) ---- */

static void
test_ping(void **state)
{
	struct fx *f = *state;
	struct err e;
	uint64_t before = f->cl->requests;

	err_clear(&e);
	assert_int_equal(signer_ping(f->cl, &e), 0);
	assert_int_equal(f->cl->requests, before + 1);
	assert_true(f->cl->nanos > 0);
}

static void
test_sign_cert(void **state)
{
	struct tbs_opts o = {0};

	sign_cert_ok(*state, &o);
}

static void
test_cert_refusals(void **state)
{
	struct fx *f = *state;
	struct tbs_opts o;
	EVP_PKEY *other_key = tu_key(0);
	X509 *impostor;
	unsigned char *tbs, *junk;
	size_t len;

	memset(&o, 0, sizeof(o));
	o.issuer_cn = "Some Other CA";
	tbs_refused(f, &o, "signer: SIGN_CERT: issuer does not match the CA certificate");

	/* without a CRL distribution point or an OCSP URL: 7 days at most (short-lived) */
	for (int u = 1; u <= 2; u++) {
		memset(&o, 0, sizeof(o));
		o.unrevocable = u;
		tbs_refused(f, &o,
			    "no CRL distribution point or OCSP URL on a certificate of "
			    "more than 7 days");
		o.days = 8;
		tbs_refused(f, &o, "no CRL distribution point or OCSP URL");
		o.days = 6;
		sign_cert_ok(f, &o);
	}

	memset(&o, 0, sizeof(o));
	o.sig_nid = f->rsa ? NID_ecdsa_with_SHA256 : NID_ecdsa_with_SHA384;
	tbs_refused(f, &o, "signer: SIGN_CERT: signature algorithm does not match the CA key");
	o.sig_nid = f->rsa ? NID_sha384WithRSAEncryption : NID_sha256WithRSAEncryption;
	tbs_refused(f, &o, "signature algorithm does not match the CA key");

	memset(&o, 0, sizeof(o));
	o.ca = 1;
	tbs_refused(f, &o, "basicConstraints cA is TRUE");

	memset(&o, 0, sizeof(o));
	o.ku = "critical,digitalSignature,keyCertSign";
	tbs_refused(f, &o, "keyUsage keyCertSign");

	/* what OpenSSL would still take for a CA: Netscape cert type sslCA without BC, or v1 */
	memset(&o, 0, sizeof(o));
	o.ns_ca = 1;
	tbs_refused(f, &o, "not a v3 end-entity certificate");
	memset(&o, 0, sizeof(o));
	o.v1 = 1;
	tbs_refused(f, &o, "not a v3 end-entity certificate");

	memset(&o, 0, sizeof(o));
	o.days = 4000; /* the CA ends after 3650 days */
	tbs_refused(f, &o, "validity is not inside the CA certificate's validity");
	memset(&o, 0, sizeof(o));
	o.start = -3 * 86400; /* the CA starts one day ago */
	tbs_refused(f, &o, "validity is not inside the CA certificate's validity");

	/* same subject as the CA, different key: the AKI gives it away */
	impostor = tu_cert(other_key, "shomei Test Issuing CA", NULL, other_key, 1, NULL);
	memset(&o, 0, sizeof(o));
	o.aki_from = impostor;
	tbs_refused(f, &o, "authorityKeyIdentifier does not match");
	X509_free(impostor);
	EVP_PKEY_free(other_key);

	/* garbage, a TBS with a byte of trailing junk, a truncated TBS, an empty payload */
	sign_refused(f, SIGNER_OP_SIGN_CERT, (const unsigned char *)"hello, world", 12,
		     "SIGN_CERT: payload is not one DER SEQUENCE");
	memset(&o, 0, sizeof(o));
	tbs = tbs_make(f, &o, &len);
	junk = xmalloc(len + 1);
	memcpy(junk, tbs, len);
	junk[len] = 0;
	sign_refused(f, SIGNER_OP_SIGN_CERT, junk, len + 1, "payload is not one DER SEQUENCE");
	sign_refused(f, SIGNER_OP_SIGN_CERT, tbs, len - 1, "payload is not one DER SEQUENCE");
	sign_refused(f, SIGNER_OP_SIGN_CERT, tbs, 0, "payload is not one DER SEQUENCE");
	/* a well-formed SEQUENCE that is no TBSCertificate */
	sign_refused(f, SIGNER_OP_SIGN_CERT, (const unsigned char *)"\x30\x03\x02\x01\x05", 5,
		     "no serialNumber and signature AlgorithmIdentifier");
	free(junk);
	/* a non-minimal length inside: BER that OpenSSL parses, but not DER */
	junk = tbs_nonminimal(tbs, len, &len);
	sign_refused(f, SIGNER_OP_SIGN_CERT, junk, len, "TBSCertificate is not DER");
	free(junk);
	free(tbs);
}

/* A TBSCertList made (and signed, to fill in its algorithm) with the OpenSSL CRL API. */
/* thisUpdate offset (s), validity (days) and a forced CRL number of the next crl_make_x */
static long crl_this_off, crl_days = 1, crl_number_forced, crl_number_twice;

static unsigned char *
crl_make_x(struct fx *f, const char *issuer_cn, int indirect, size_t *len)
{
	X509_CRL *crl = X509_CRL_new();
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_TIME *t = ASN1_TIME_adj(NULL, time(NULL) + crl_this_off, 0, 0);
	ASN1_TIME *next = ASN1_TIME_adj(NULL, time(NULL) + crl_this_off, (int)crl_days, 0);
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	X509_NAME *n = issuer_cn ? tu_name(issuer_cn) : NULL;
	unsigned char *der = NULL, *copy;
	int l;

	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, n ? n : X509_get_subject_name(f->ca_cert));
	X509_CRL_set1_lastUpdate(crl, t);
	X509_CRL_set1_nextUpdate(crl, next);
	ASN1_INTEGER_set(serial, 0x1234567);
	X509_REVOKED_set_serialNumber(r, serial);
	X509_REVOKED_set_revocationDate(r, t);
	X509_CRL_add0_revoked(crl, r);
	{
		/* numbers that increase, as the signer wants them */
		static long number = 100;
		ASN1_INTEGER *num = ASN1_INTEGER_new();

		ASN1_INTEGER_set(num, crl_number_forced ? crl_number_forced : number++);
		assert_int_equal(X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0), 1);
		if (crl_number_twice) { /* a second one, lower: which would a reader take? */
			ASN1_INTEGER_set(num, 3);
			assert_int_equal(
			    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, X509V3_ADD_APPEND),
			    1);
		}
		ASN1_INTEGER_free(num);
	}
	if (indirect) {
		ISSUING_DIST_POINT *idp = ISSUING_DIST_POINT_new();

		idp->indirectCRL = 1;
		assert_int_equal(X509_CRL_add1_ext_i2d(crl, NID_issuing_distribution_point, idp, 1,
						       X509V3_ADD_DEFAULT),
				 1);
		ISSUING_DIST_POINT_free(idp);
	}
	assert_true(X509_CRL_sign(crl, f->ca_key, EVP_sha256()) > 0);
	l = i2d_re_X509_CRL_tbs(crl, &der);
	assert_true(l > 0);
	copy = xmalloc((size_t)l);
	memcpy(copy, der, (size_t)l);
	*len = (size_t)l;
	OPENSSL_free(der);
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(t);
	ASN1_TIME_free(next);
	X509_NAME_free(n);
	X509_CRL_free(crl);
	return copy;
}

static unsigned char *
crl_make(struct fx *f, const char *issuer_cn, size_t *len)
{
	return crl_make_x(f, issuer_cn, 0, len);
}

static void
verify_detached(EVP_PKEY *pub, int md_nid, const unsigned char *tbs, size_t len,
		const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_get_digestbynid(md_nid), NULL, pub),
			 1);
	assert_int_equal(EVP_DigestVerify(ctx, sig, siglen, tbs, len), 1);
	EVP_MD_CTX_free(ctx);
}

static void
test_sign_crl(void **state)
{
	struct fx *f = *state;
	unsigned char *tbs, *sig = NULL, *bad;
	size_t len, siglen;
	struct err e;

	err_clear(&e);
	tbs = crl_make(f, NULL, &len);
	if (signer_sign(f->cl, SIGNER_OP_SIGN_CRL, tbs, len, &sig, &siglen, &e) == -1)
		fail_msg("%s", e.msg);
	verify_detached(f->ca_key, NID_sha256, tbs, len, sig, siglen);
	free(sig);
	/* truncated by one byte */
	bad = xmalloc(len);
	memcpy(bad, tbs, len);
	sign_refused(f, SIGNER_OP_SIGN_CRL, bad, len - 1, "payload is not one DER SEQUENCE");
	free(bad);
	free(tbs);
	tbs = crl_make(f, "Some Other CA", &len);
	sign_refused(f, SIGNER_OP_SIGN_CRL, tbs, len,
		     "signer: SIGN_CRL: issuer does not match the CA certificate");
	free(tbs);
	sign_refused(f, SIGNER_OP_SIGN_CRL, (const unsigned char *)"\x30\x03\x02\x01\x00", 5,
		     "version must be v2");
	/* an indirect CRL could revoke another issuer's certificates */
	tbs = crl_make_x(f, NULL, 1, &len);
	sign_refused(f, SIGNER_OP_SIGN_CRL, tbs, len, "extension not allowed in shomei's CRLs");
	free(tbs);
	/* a certificate TBS is not a CRL */
	{
		struct tbs_opts o = {0};

		tbs = tbs_make(f, &o, &len);
		sign_refused(f, SIGNER_OP_SIGN_CRL, tbs, len, "SIGN_CRL: RFC 5280 5.1.2.1");
		free(tbs);
	}
}

/* A v2 TBSCertList with n revoked entries of 49 bytes each, written by hand. */
static unsigned char *
crl_big(const struct signer_keys *ks, size_t n, size_t *len)
{
	unsigned char when[2][14];
	time_t now = time(NULL), t;
	ASN1_UTCTIME *ut;
	static const unsigned char reason[] = {0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55,
					       0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, 0x01};
	/* CRL numbers from 0x7f000001 up: above the small ones crl_make() counts up */
	static unsigned char exts[] = {0xa0, 0x11, 0x30, 0x0f, 0x30, 0x0d, 0x06, 0x03, 0x55, 0x1d,
				       0x14, 0x04, 0x06, 0x02, 0x04, 0x7f, 0x00, 0x00, 0x00};
	unsigned char hdr[6], lhdr[6], *out, *w;
	size_t entries = n * 49, content, hl, ll, i;

	exts[sizeof(exts) - 1]++;
	ll = der_hdr(lhdr, 0x30, entries);
	content = 3 + ks->ca_algid_len + ks->ca_name_len + 15 + 15 + ll + entries + sizeof(exts);
	hl = der_hdr(hdr, 0x30, content);
	out = w = xmalloc(hl + content);
	memcpy(w, hdr, hl), w += hl;
	memcpy(w, "\x02\x01\x01", 3), w += 3;
	memcpy(w, ks->ca_algid, ks->ca_algid_len), w += ks->ca_algid_len;
	memcpy(w, ks->ca_name, ks->ca_name_len), w += ks->ca_name_len;
	for (i = 0; i < 2; i++) { /* thisUpdate now, nextUpdate a day later */
		t = now + (time_t)i * 86400;
		ut = ASN1_UTCTIME_set(NULL, t);
		assert_int_equal(ASN1_STRING_length(ut), 13);
		memcpy(when[i], ASN1_STRING_get0_data(ut), 13);
		ASN1_UTCTIME_free(ut);
		*w++ = 0x17;
		*w++ = 13;
		memcpy(w, when[i], 13), w += 13;
	}
	memcpy(w, lhdr, ll), w += ll;
	for (i = 0; i < n; i++) {
		*w++ = 0x30;
		*w++ = 47;
		*w++ = 0x02;
		*w++ = 16;
		w[0] = 0x40;
		memset(w + 1, 0, 11);
		w[12] = (unsigned char)(i >> 24);
		w[13] = (unsigned char)(i >> 16);
		w[14] = (unsigned char)(i >> 8);
		w[15] = (unsigned char)i;
		w += 16;
		*w++ = 0x17;
		*w++ = 13;
		memcpy(w, when[0], 13), w += 13;
		memcpy(w, reason, sizeof(reason)), w += sizeof(reason);
	}
	memcpy(w, exts, sizeof(exts)), w += sizeof(exts);
	assert_int_equal((size_t)(w - out), hl + content);
	*len = hl + content;
	return out;
}

static void
test_sign_crl_large(void **state)
{
	struct fx *f = *state;
	const struct signer_key *key;
	struct signer_keys ks;
	unsigned char *tbs, *sig = NULL, *der;
	size_t len, siglen, derlen;
	struct err e;
	double t0, t1, t2;
	X509_CRL *crl;
	const unsigned char *q;

	err_clear(&e);
	/* the checks in-process, timed: they must not depend on the CRL's size */
	if (signer_keys_load(&f->conf, &ks, &e) == -1)
		fail_msg("%s", e.msg);
	tbs = crl_big(&ks, 1000000, &len);
	assert_true(len > 49000000);
	t0 = tu_now();
	if (signer_check(&ks, SIGNER_OP_SIGN_CRL, tbs, len, &key, &e) == -1)
		fail_msg("%s", e.msg);
	t1 = tu_now();
	assert_ptr_equal(key, &ks.ca);
	/* ... and through the signer: 49 MB over the socket, signed, verified */
	if (signer_sign(f->cl, SIGNER_OP_SIGN_CRL, tbs, len, &sig, &siglen, &e) == -1)
		fail_msg("%s", e.msg);
	t2 = tu_now();
	print_message("CRL of 1,000,000 entries (%zu bytes): checks %.1f us, sign round trip "
		      "%.0f ms\n",
		      len, (t1 - t0) * 1e6, (t2 - t1) * 1e3);
	assert_true(t1 - t0 < 0.01); /* the brief: far below 10 ms; it is O(1) */
	verify_detached(f->ca_key, NID_sha256, tbs, len, sig, siglen);
	free(tbs);
	free(sig);
	/* OpenSSL agrees that the hand-made shape is a CRL: a small one verifies */
	tbs = crl_big(&ks, 3, &len);
	if (signer_sign(f->cl, SIGNER_OP_SIGN_CRL, tbs, len, &sig, &siglen, &e) == -1)
		fail_msg("%s", e.msg);
	der = der_assemble(tbs, len, ks.ca_algid, ks.ca_algid_len, sig, siglen, &derlen);
	q = der;
	crl = d2i_X509_CRL(NULL, &q, (long)derlen);
	assert_non_null(crl);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 3);
	assert_int_equal(X509_CRL_verify(crl, f->ca_key), 1);
	X509_CRL_free(crl);
	free(der);
	free(tbs);
	free(sig);
	signer_keys_free(&ks);
}

static void
test_ocsp_no_key(void **state)
{
	struct fx *f = *state;
	struct signer_client *cl = NULL;
	struct conf c;
	pid_t pid;
	struct err e;
	unsigned char *sig = NULL;
	size_t siglen;

	err_clear(&e);
	tu_conf(&c, f->dir, "shomei.conf", NULL);
	if (signer_spawn(&c, &cl, &pid, &e) == -1)
		fail_msg("%s", e.msg);
	assert_int_equal(signer_sign(cl, SIGNER_OP_SIGN_OCSP, (const unsigned char *)"\x30\x00", 2,
				     &sig, &siglen, &e),
			 -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_string_equal(e.msg, "signer: no OCSP key configured");
	err_clear(&e);
	assert_int_equal(signer_sign(cl, SIGNER_OP_SIGN_TSA, (const unsigned char *)"\x31\x00", 2,
				     &sig, &siglen, &e),
			 -1);
	assert_string_equal(e.msg, "signer: no TSA key configured");
	err_clear(&e);
	assert_int_equal(signer_ping(cl, &e), 0);
	signer_client_free(cl);
	assert_int_equal(tu_wait(pid), 0);
	conf_free(&c);
}

/* tbsResponseData of a BasicOCSPResponse signed by (cert, key) */
/* thisUpdate and nextUpdate of the next ocsp_make (seconds from now; next -1: none) */
static long ocsp_this_off, ocsp_next_off = 3600;

static unsigned char *
ocsp_make(struct fx *f, X509 *cert, EVP_PKEY *key, unsigned long flags, size_t *len)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *cid;
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	ASN1_TIME *now = ASN1_TIME_adj(NULL, time(NULL) + ocsp_this_off, 0, 0);
	ASN1_TIME *next = ASN1_TIME_adj(NULL, time(NULL) + ocsp_this_off + ocsp_next_off, 0, 0);
	unsigned char *der = NULL, *copy;
	struct der_reader d, in;
	struct der_tlv t, rd;
	int n;

	ASN1_INTEGER_set(serial, 4242);
	cid = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(f->ca_cert),
			       X509_get0_pubkey_bitstr(f->ca_cert), serial);
	assert_non_null(OCSP_basic_add1_status(bs, cid, V_OCSP_CERTSTATUS_GOOD, 0, NULL, now,
					       ocsp_next_off >= 0 ? next : NULL));
	assert_int_equal(OCSP_basic_sign(bs, cert, key, EVP_sha256(), NULL, flags | OCSP_NOCERTS),
			 1);
	n = i2d_OCSP_BASICRESP(bs, &der);
	assert_true(n > 0);
	der_reader_init(&d, der, (size_t)n);
	assert_int_equal(der_next(&d, &t), 0);
	der_reader_init(&in, t.val, t.len);
	assert_int_equal(der_next(&in, &rd), 0);
	copy = xmalloc(rd.total);
	memcpy(copy, rd.start, rd.total);
	*len = rd.total;
	OPENSSL_free(der);
	OCSP_CERTID_free(cid);
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	OCSP_BASICRESP_free(bs);
	return copy;
}

static void
test_sign_ocsp(void **state)
{
	struct fx *f = *state;
	unsigned char *tbs, *sig = NULL;
	size_t len, siglen;
	struct err e;
	unsigned long flags[2] = {0, OCSP_RESPID_KEY};
	int i;

	for (i = 0; i < 2; i++) {
		err_clear(&e);
		tbs = ocsp_make(f, f->ocsp_cert, f->ocsp_key, flags[i], &len);
		if (signer_sign(f->cl, SIGNER_OP_SIGN_OCSP, tbs, len, &sig, &siglen, &e) == -1)
			fail_msg("%s", e.msg);
		verify_detached(f->ocsp_key, NID_sha256, tbs, len, sig, siglen);
		free(sig);
		free(tbs);
		/* a responderID naming the CA, not the OCSP responder */
		tbs = ocsp_make(f, f->ca_cert, f->ca_key, flags[i], &len);
		sign_refused(f, SIGNER_OP_SIGN_OCSP, tbs, len,
			     "SIGN_OCSP: RFC 6960 4.2.2.3: responderID does not match");
		free(tbs);
	}
	sign_refused(f, SIGNER_OP_SIGN_OCSP, (const unsigned char *)"\x30\x00", 2,
		     "SIGN_OCSP: ResponseData does not parse");
}

/* What the next attrs_make's TSTInfo gets wrong: its policy, genTime, the digest of it. */
static const char *tst_policy = "1.2.3.4.1";
static long tst_time_off;
static int tst_bad_md;

/* TSTInfo { v1, policy, messageImprint, serialNumber, genTime (with a fraction) } */
static void
tst_make(struct buf *b)
{
	ASN1_OBJECT *pol = OBJ_txt2obj(tst_policy, 1);
	unsigned char oid[64], *q = oid, imprint[32];
	static const unsigned char sha256[] = {0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
					       0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00};
	char gt[32];
	struct tm tm;
	time_t t = time(NULL) + tst_time_off;
	long m1, m2;
	int n;

	n = i2d_ASN1_OBJECT(pol, &q);
	assert_true(n > 0);
	memset(imprint, 0x33, sizeof(imprint));
	gmtime_r(&t, &tm);
	assert_true(strftime(gt, sizeof(gt), "%Y%m%d%H%M%S.25Z", &tm) > 0);
	assert_true((m1 = der_begin(b, DER_TAG_SEQUENCE)) >= 0);
	assert_int_equal(der_put_int64(b, 1), 0);
	assert_int_equal(buf_append(b, oid, (size_t)n), 0);
	assert_true((m2 = der_begin(b, DER_TAG_SEQUENCE)) >= 0);
	assert_int_equal(buf_append(b, sha256, sizeof(sha256)), 0);
	assert_int_equal(der_put(b, DER_TAG_OCTETSTRING, imprint, sizeof(imprint)), 0);
	assert_int_equal(der_end(b, m2), 0);
	assert_int_equal(der_put_int64(b, 4711), 0);
	assert_int_equal(der_put(b, DER_TAG_GENTIME, gt, strlen(gt)), 0);
	assert_int_equal(der_end(b, m1), 0);
	ASN1_OBJECT_free(pol);
}

/*
 * DER SignedAttributes: contentType ct (a NID) and, if with_md, a messageDigest of the
 * TSTInfo that follows them in the payload; *signed_len is the attributes' length.
 */
static unsigned char *
attrs_make(int ct, int with_md, int twice, size_t *len, size_t *signed_len)
{
	STACK_OF(X509_ATTRIBUTE) *sk = NULL;
	X509_ATTRIBUTE *a;
	ASN1_OCTET_STRING *os;
	unsigned char md[32], *der = NULL, *copy;
	struct buf tst;
	int n, i;

	buf_init(&tst, 4096);
	tst_make(&tst);
	SHA256(tst.data, tst.len, md);
	if (tst_bad_md)
		md[0] ^= 1;
	/* pushed by hand: X509at_add1_attr() itself refuses the duplicate we want to send */
	sk = sk_X509_ATTRIBUTE_new_null();
	for (i = 0; i < (twice ? 2 : 1); i++) {
		a = X509_ATTRIBUTE_create(NID_pkcs9_contentType, V_ASN1_OBJECT, OBJ_nid2obj(ct));
		assert_non_null(a);
		assert_true(sk_X509_ATTRIBUTE_push(sk, a) > 0);
	}
	if (with_md) {
		os = ASN1_OCTET_STRING_new();
		assert_int_equal(ASN1_OCTET_STRING_set(os, md, sizeof(md)), 1);
		a = X509_ATTRIBUTE_create(NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING, os);
		assert_non_null(a);
		assert_true(sk_X509_ATTRIBUTE_push(sk, a) > 0);
	}
	n = ASN1_item_i2d((ASN1_VALUE *)sk, &der, ASN1_ITEM_rptr(TU_ATTRS));
	assert_true(n > 0);
	copy = xmalloc((size_t)n + tst.len);
	memcpy(copy, der, (size_t)n);
	memcpy(copy + n, tst.data, tst.len);
	*signed_len = (size_t)n;
	*len = (size_t)n + tst.len;
	OPENSSL_free(der);
	buf_free(&tst);
	sk_X509_ATTRIBUTE_pop_free(sk, X509_ATTRIBUTE_free);
	return copy;
}

static void
test_sign_tsa(void **state)
{
	struct fx *f = *state;
	unsigned char *tbs, *sig = NULL;
	size_t len, slen, siglen;
	struct err e;

	err_clear(&e);
	tbs = attrs_make(NID_id_smime_ct_TSTInfo, 1, 0, &len, &slen);
	assert_int_equal(tbs[0], 0x31);
	if (signer_sign(f->cl, SIGNER_OP_SIGN_TSA, tbs, len, &sig, &siglen, &e) == -1)
		fail_msg("%s", e.msg);
	/* the attributes are signed, not the TSTInfo sent after them */
	verify_detached(f->tsa_key, NID_sha256, tbs, slen, sig, siglen);
	free(sig);
	free(tbs);
	tbs = attrs_make(NID_pkcs7_data, 1, 0, &len, &slen);
	sign_refused(f, SIGNER_OP_SIGN_TSA, tbs, len, "contentType must be id-ct-TSTInfo");
	free(tbs);
	tbs = attrs_make(NID_id_smime_ct_TSTInfo, 0, 0, &len, &slen);
	sign_refused(f, SIGNER_OP_SIGN_TSA, tbs, len,
		     "contentType and messageDigest attributes are required");
	free(tbs);
	tbs = attrs_make(NID_id_smime_ct_TSTInfo, 1, 1, &len, &slen);
	sign_refused(f, SIGNER_OP_SIGN_TSA, tbs, len, "attribute contentType repeats");
	free(tbs);
	/* the attributes alone, without the TSTInfo they sign for */
	tbs = attrs_make(NID_id_smime_ct_TSTInfo, 1, 0, &len, &slen);
	sign_refused(f, SIGNER_OP_SIGN_TSA, tbs, slen,
		     "payload is not a DER SET of attributes and the TSTInfo");
	free(tbs);
	/* the signer's policy: the digest, the policy OID, genTime against its clock */
	tst_bad_md = 1;
	tbs = attrs_make(NID_id_smime_ct_TSTInfo, 1, 0, &len, &slen);
	sign_refused(f, SIGNER_OP_SIGN_TSA, tbs, len,
		     "policy: messageDigest is not the digest of the TSTInfo");
	free(tbs);
	tst_bad_md = 0;
	tst_policy = "1.2.3.4.2";
	tbs = attrs_make(NID_id_smime_ct_TSTInfo, 1, 0, &len, &slen);
	sign_refused(f, SIGNER_OP_SIGN_TSA, tbs, len, "policy: the TSTInfo's policy is not");
	free(tbs);
	tst_policy = "1.2.3.4.1";
	tst_time_off = -3600;
	tbs = attrs_make(NID_id_smime_ct_TSTInfo, 1, 0, &len, &slen);
	sign_refused(f, SIGNER_OP_SIGN_TSA, tbs, len, "policy: genTime is not the signer's time");
	free(tbs);
	tst_time_off = 0;
	/* a certificate TBS is not a SET of attributes */
	sign_refused(f, SIGNER_OP_SIGN_TSA, (const unsigned char *)"\x30\x00", 2,
		     "payload is not a DER SET");
}

static void
test_client_limits(void **state)
{
	struct fx *f = *state;
	unsigned char *sig = NULL;
	size_t siglen;
	struct err e;

	/* refused before anything reaches (and would kill) the signer */
	err_clear(&e);
	assert_int_equal(signer_sign(f->cl, SIGNER_OP_SIGN_CERT, (const unsigned char *)"x",
				     SIGNER_MAX_CERT + 1, &sig, &siglen, &e),
			 -1);
	assert_msg(&e, "exceed the maximum");
	err_clear(&e);
	assert_int_equal(
	    signer_sign(f->cl, SIGNER_OP_PING, (const unsigned char *)"", 0, &sig, &siglen, &e),
	    -1);
	assert_msg(&e, "not a signing op");
	err_clear(&e);
	assert_int_equal(signer_ping(f->cl, &e), 0);
}

/* ---- RSA group ---- */

static void
test_rsa(void **state)
{
	struct fx *f = *state;
	unsigned char *tbs, *sig = NULL;
	size_t len, siglen;
	struct tbs_opts o = {0};
	struct err e;

	err_clear(&e);
	sign_cert_ok(f, &o);
	test_cert_refusals(state);
	tbs = crl_make(f, NULL, &len);
	if (signer_sign(f->cl, SIGNER_OP_SIGN_CRL, tbs, len, &sig, &siglen, &e) == -1)
		fail_msg("%s", e.msg);
	assert_int_equal(siglen, 256);
	verify_detached(f->ca_key, NID_sha256, tbs, len, sig, siglen);
	free(sig);
	free(tbs);
}

/* ---- fatal framing: the signer exits 3 ---- */

static void
fatal_case(struct fx *f, const unsigned char *p, size_t n)
{
	struct err e;
	int fd = -1;
	pid_t pid;

	err_clear(&e);
	if (signer_spawn_fd(&f->conf_ca, &fd, &pid, &e) == -1)
		fail_msg("%s", e.msg);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
	assert_int_equal(tu_wait(pid), 3);
}

static void
test_fatal(void **state)
{
	struct fx *f = *state;
	static const unsigned char unknown[] = {0, 0, 0, 99, 0, 0, 0, 0};
	static const unsigned char over[] = {0, 0, 0, 2, 0, 4, 0, 1};
	static const unsigned char trunc_payload[] = {0, 0, 0, 2, 0, 0, 0, 100, 0x30, 0x62};
	static const unsigned char trunc_hdr[] = {0, 0, 0};
	struct err e;
	int fd = -1;
	pid_t pid;
	unsigned char hdr[8] = {0, 0, 0, 99, 0, 0, 0, 0};
	char c;

	fatal_case(f, unknown, sizeof(unknown));
	fatal_case(f, over, sizeof(over));
	fatal_case(f, trunc_payload, sizeof(trunc_payload));
	fatal_case(f, trunc_hdr, sizeof(trunc_hdr));

	/* with the socket still open: the signer hangs up on its own */
	err_clear(&e);
	if (signer_spawn_fd(&f->conf_ca, &fd, &pid, &e) == -1)
		fail_msg("%s", e.msg);
	assert_int_equal(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	assert_int_equal(read(fd, &c, 1), 0);
	assert_int_equal(tu_wait(pid), 3);
	close(fd);
}

/* A client whose signer died gets "connection lost", and reset_fd brings it back. */
static void
test_connection_lost(void **state)
{
	struct fx *f = *state;
	struct signer_client *cl = NULL;
	struct err e;
	pid_t pid, pid2;
	int fd;

	err_clear(&e);
	if (signer_spawn(&f->conf_ca, &cl, &pid, &e) == -1)
		fail_msg("%s", e.msg);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(signer_ping(cl, &e), -1);
	assert_int_equal(e.code, ERR_INTERNAL);
	assert_msg(&e, "signer: connection lost");
	err_clear(&e);
	if (signer_spawn_fd(&f->conf_ca, &fd, &pid2, &e) == -1)
		fail_msg("%s", e.msg);
	signer_client_reset_fd(cl, fd);
	assert_int_equal(signer_ping(cl, &e), 0);
	signer_client_free(cl);
	assert_int_equal(tu_wait(pid2), 0);
}

/* ---- the pipelined client under concurrency ---- */

struct pipe_job {
	struct fx *f;
	struct signer_client *cl;
	const unsigned char *tbs;
	size_t len;
	int valid; /* 1: a good TBS (must verify), 0: garbage (must be refused) */
	int iterations;
	int done;
	int mismatched;
	int lost;
};

static void *
pipe_worker(void *arg)
{
	struct pipe_job *j = arg;
	unsigned char *sig;
	size_t siglen;
	struct err e;
	X509 *x;
	int i, r;

	for (i = 0; i < j->iterations; i++) {
		sig = NULL;
		err_clear(&e);
		r = signer_sign(j->cl, SIGNER_OP_SIGN_CERT, j->tbs, j->len, &sig, &siglen, &e);
		if (r == -1 && e.code == ERR_INTERNAL) {
			j->lost++;
			break;
		}
		if (j->valid) {
			/* a response meant for another caller would not verify over this TBS */
			if (r == -1) {
				j->mismatched++;
			} else {
				x = cert_assemble(j->tbs, j->len, sig, siglen);
				if (X509_verify(x, j->f->ca_key) != 1)
					j->mismatched++;
				X509_free(x);
			}
		} else if (r != -1 || e.code != ERR_REFUSED) {
			j->mismatched++;
		}
		free(sig);
		j->done++;
	}
	return NULL;
}

/* Eight callers at once, half valid and half refused: every answer reaches its own caller. */
static void
test_pipelined_callers(void **state)
{
	struct fx *f = *state;
	struct tbs_opts o = {0};
	struct pipe_job jobs[8];
	pthread_t th[8];
	static const unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	unsigned char *tbs;
	size_t len;
	int i;

	tbs = tbs_make(f, &o, &len);
	alarm(120); /* a lost wake-up must fail the test, not hang it */
	for (i = 0; i < 8; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].f = f;
		jobs[i].cl = f->cl;
		jobs[i].valid = i % 2 == 0;
		jobs[i].tbs = jobs[i].valid ? tbs : junk;
		jobs[i].len = jobs[i].valid ? len : sizeof(junk);
		jobs[i].iterations = 150;
		assert_int_equal(pthread_create(&th[i], NULL, pipe_worker, &jobs[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(jobs[i].mismatched, 0);
		assert_int_equal(jobs[i].lost, 0);
		assert_int_equal(jobs[i].done, 150);
	}
	alarm(0);
	free(tbs);
}

/* The signer dies with callers queued: every one of them fails promptly; a reset recovers. */
static void
test_pipelined_connection_lost(void **state)
{
	struct fx *f = *state;
	struct tbs_opts o = {0};
	struct signer_client *cl = NULL;
	struct pipe_job jobs[6];
	pthread_t th[6];
	struct err e;
	unsigned char *tbs;
	size_t len;
	pid_t pid, pid2;
	int i, fd, lost = 0;

	err_clear(&e);
	if (signer_spawn(&f->conf_ca, &cl, &pid, &e) == -1)
		fail_msg("%s", e.msg);
	tbs = tbs_make(f, &o, &len);
	alarm(120);
	for (i = 0; i < 6; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].f = f;
		jobs[i].cl = cl;
		jobs[i].valid = 1;
		jobs[i].tbs = tbs;
		jobs[i].len = len;
		jobs[i].iterations = 1000000; /* until the signer goes away */
		assert_int_equal(pthread_create(&th[i], NULL, pipe_worker, &jobs[i]), 0);
	}
	usleep(200000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(jobs[i].mismatched, 0);
		lost += jobs[i].lost;
	}
	alarm(0);
	assert_int_equal(lost, 6);
	assert_int_equal(signer_ping(cl, &e), -1);
	err_clear(&e);
	if (signer_spawn_fd(&f->conf_ca, &fd, &pid2, &e) == -1)
		fail_msg("%s", e.msg);
	signer_client_reset_fd(cl, fd);
	assert_int_equal(signer_ping(cl, &e), 0);
	signer_client_free(cl);
	assert_int_equal(tu_wait(pid2), 0);
	free(tbs);
}

/* ---- start-up failures ---- */

static void
spawn_fails(struct fx *f, const char *file, const char *needle, ...)
{
	struct signer_client *cl = NULL;
	struct conf c;
	const char *k, *v;
	struct err e;
	va_list ap;
	pid_t pid = 12345;

	err_clear(&e);
	tu_conf(&c, f->dir, file, NULL);
	va_start(ap, needle);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		conf_set(&c, k, v);
	}
	va_end(ap);
	assert_int_equal(signer_spawn(&c, &cl, &pid, &e), -1);
	assert_null(cl);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_msg(&e, needle);
	conf_free(&c);
}

static void
test_startup_failures(void **state)
{
	struct fx *f = *state;
	char *pem = xasprintf("%s/keys/plain.pem", f->dir);
	FILE *fp = fopen(pem, "w");

	assert_non_null(fp);
	PEM_write_PrivateKey(fp, f->ca_key, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	free(pem);
	spawn_fails(f, "shomei.conf",
		    "signer: keys/issuing.key.pem: wrong passphrase or corrupt key",
		    "key_passphrase", "not the passphrase", NULL);
	spawn_fails(f, "shomei.conf", "signer: ca.key (keys/ocsp.key.pem) does not match ca.cert",
		    "ca.key", "keys/ocsp.key.pem", NULL);
	spawn_fails(f, "shomei.conf", "expected an encrypted PKCS#8 key", "ca.key",
		    "keys/plain.pem", NULL);
	spawn_fails(f, "shomei.conf", "No such file or directory", "ca.key", "keys/missing.pem",
		    NULL);
	spawn_fails(f, "shomei.conf", "signer: ca.key is not configured", "ca.key", "", NULL);
	spawn_fails(f, "shomei.conf", "signer: ocsp.key is configured but ocsp.cert is not",
		    "ocsp.key", "keys/ocsp.key.pem", NULL);
	spawn_fails(f, "shomei.conf", "not a CA certificate", "ca.key", "keys/ocsp.key.pem",
		    "ca.cert", "certs/ocsp.pem", NULL);
	tu_write_text(f->dir, "env.conf",
		      "ca.key = keys/issuing.key.pem\n"
		      "ca.cert = certs/issuing.pem\n"
		      "key_passphrase_env = SHOMEI_TEST_NOPE\n");
	unsetenv("SHOMEI_TEST_NOPE");
	spawn_fails(f, "env.conf", "environment variable SHOMEI_TEST_NOPE is not set", NULL);
}

static void
test_passphrase_sources(void **state)
{
	struct fx *f = *state;
	struct conf c;
	struct err e;
	char *p = NULL;

	memset(&c, 0, sizeof(c));
	c.dir = xstrdup(f->dir);
	err_clear(&e);
	assert_int_equal(signer_passphrase(&c, &p, &e), -1);
	assert_msg(&e, "no key passphrase configured");
	conf_set(&c, "key_passphrase_file", "pass.txt");
	tu_write_text(f->dir, "pass.txt", "from a file\r\n");
	err_clear(&e);
	assert_int_equal(signer_passphrase(&c, &p, &e), 0);
	assert_string_equal(p, "from a file");
	signer_secret_free(p);
	conf_set(&c, "key_passphrase_env", "SHOMEI_TEST_PASS");
	setenv("SHOMEI_TEST_PASS", "from the environment", 1);
	assert_int_equal(signer_passphrase(&c, &p, &e), 0);
	assert_string_equal(p, "from the environment");
	signer_secret_free(p);
	unsetenv("SHOMEI_TEST_PASS");
	assert_int_equal(signer_passphrase(&c, &p, &e), -1);
	assert_msg(&e, "environment variable SHOMEI_TEST_PASS is not set");
	conf_set(&c, "key_passphrase", "");
	err_clear(&e);
	assert_int_equal(signer_passphrase(&c, &p, &e), -1);
	assert_msg(&e, "passphrase is empty");
	conf_free(&c);
}

/* The PBKDF2 rounds of an encrypted PKCS#8 PEM file (PBES2, PBKDF2-HMAC-SHA256), else -1. */
static long
key_file_iter(const char *path)
{
	const ASN1_OBJECT *obj;
	const void *pval;
	const X509_ALGOR *alg;
	X509_SIG *p8 = NULL;
	PBE2PARAM *pbe2 = NULL;
	PBKDF2PARAM *kdf = NULL;
	FILE *fp;
	int ptype;
	long iter = -1;

	if ((fp = fopen(path, "r")) == NULL)
		goto out;
	p8 = PEM_read_PKCS8(fp, NULL, NULL, NULL);
	fclose(fp);
	if (p8 == NULL)
		goto out;
	X509_SIG_get0(p8, &alg, NULL);
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	if (OBJ_obj2nid(obj) != NID_pbes2 || ptype != V_ASN1_SEQUENCE ||
	    (pbe2 = ASN1_item_unpack(pval, ASN1_ITEM_rptr(PBE2PARAM))) == NULL)
		goto out;
	X509_ALGOR_get0(&obj, &ptype, &pval, pbe2->keyfunc);
	if (OBJ_obj2nid(obj) != NID_id_pbkdf2 || ptype != V_ASN1_SEQUENCE ||
	    (kdf = ASN1_item_unpack(pval, ASN1_ITEM_rptr(PBKDF2PARAM))) == NULL)
		goto out;
	X509_ALGOR_get0(&obj, NULL, NULL, pbe2->encryption);
	if (OBJ_obj2nid(obj) != NID_aes_256_cbc || kdf->prf == NULL)
		goto out;
	X509_ALGOR_get0(&obj, NULL, NULL, kdf->prf);
	if (OBJ_obj2nid(obj) == NID_hmacWithSHA256)
		iter = ASN1_INTEGER_get(kdf->iter);
out:
	PBKDF2PARAM_free(kdf);
	PBE2PARAM_free(pbe2);
	X509_SIG_free(p8);
	return iter;
}

/*
 * The rounds of the keys shomei writes: 600,000 by default (the other unit tests write theirs
 * with TU_KEY_ITER, see testutil.h), and the test setting takes effect.
 */
static void
test_key_write_rounds(void **state)
{
	struct fx *f = *state;
	char *path = xasprintf("%s/keys/rounds.pem", f->dir);
	EVP_PKEY *k = NULL;
	struct err e;

	err_clear(&e);
	signer_key_write_iter_set(0);
	assert_int_equal(signer_key_write(path, f->leaf_key, PASS, &e), 0);
	signer_key_write_iter_set(TU_KEY_ITER);
	assert_int_equal(key_file_iter(path), 600000);
	assert_int_equal(signer_key_load(&f->conf, "keys/rounds.pem", &k, &e), 0);
	assert_int_equal(EVP_PKEY_eq(k, f->leaf_key), 1);
	EVP_PKEY_free(k);
	assert_int_equal(signer_key_write(path, f->leaf_key, PASS, &e), 0);
	assert_int_equal(key_file_iter(path), TU_KEY_ITER);
	free(path);
}

static void
test_key_write_load(void **state)
{
	struct fx *f = *state;
	char *path = xasprintf("%s/keys/rt.pem", f->dir);
	EVP_PKEY *k = NULL;
	struct stat st;
	struct err e;

	err_clear(&e);
	assert_int_equal(signer_key_write(path, f->leaf_key, "", &e), -1);
	assert_msg(&e, "empty passphrase");
	err_clear(&e);
	assert_int_equal(signer_key_write(path, f->leaf_key, PASS, &e), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(signer_key_load(&f->conf, "keys/rt.pem", &k, &e), 0);
	assert_int_equal(EVP_PKEY_eq(k, f->leaf_key), 1);
	EVP_PKEY_free(k);
	free(path);
}

/* ---- figures (SHOMEI_SIGNER_BENCH=1) ---- */

static void
test_bench(void **state)
{
	struct fx *f = *state;
	struct tbs_opts o = {0};
	unsigned char *tbs, *sig = NULL;
	size_t len, siglen;
	struct err e;
	double t0, t1;
	int i, n = 10000, pings = 100000;
	struct signer_keys ks;
	const struct signer_key *key;

	if (getenv("SHOMEI_SIGNER_BENCH") == NULL) {
		skip();
		return;
	}
	err_clear(&e);
	tbs = tbs_make(f, &o, &len);
	t0 = tu_now();
	for (i = 0; i < n; i++) {
		assert_int_equal(
		    signer_sign(f->cl, SIGNER_OP_SIGN_CERT, tbs, len, &sig, &siglen, &e), 0);
		free(sig);
	}
	t1 = tu_now();
	print_message("SIGN_CERT (%s CA, %zu-byte TBS): %d in %.2f s = %.0f signatures/s\n",
		      f->rsa ? "RSA-2048" : "P-256", len, n, t1 - t0, n / (t1 - t0));
	t0 = tu_now();
	for (i = 0; i < pings; i++)
		assert_int_equal(signer_ping(f->cl, &e), 0);
	t1 = tu_now();
	print_message("PING: %d in %.2f s = %.0f round trips/s (%.1f us each)\n", pings, t1 - t0,
		      pings / (t1 - t0), (t1 - t0) / pings * 1e6);
	/* where the time goes: the same work in-process, without the socket */
	if (signer_keys_load(&f->conf, &ks, &e) == -1)
		fail_msg("%s", e.msg);
	t0 = tu_now();
	for (i = 0; i < n; i++)
		assert_int_equal(signer_check(&ks, SIGNER_OP_SIGN_CERT, tbs, len, &key, &e), 0);
	t1 = tu_now();
	print_message("  in-process SIGN_CERT checks: %.1f us each\n", (t1 - t0) / n * 1e6);
	t0 = tu_now();
	for (i = 0; i < n; i++) {
		assert_int_equal(signer_key_sign(&ks.ca, tbs, len, &sig, &siglen, &e), 0);
		free(sig);
	}
	t1 = tu_now();
	print_message("  in-process signature: %.1f us each\n", (t1 - t0) / n * 1e6);
	signer_keys_free(&ks);
	free(tbs);
}

/* The signer's own policy (policy.c): each refusal, from a client of the signer's socket. */
static void
test_policy_refusals(void **state)
{
	struct fx *f = *state;
	struct signer_client *svc = NULL;
	struct tbs_opts o;
	unsigned char *tbs;
	size_t len, i;
	struct err e;
	pid_t pid;

	/* SIGN_CERT: the EKU names an end-entity profile; never OCSP, TSA or any */
	memset(&o, 0, sizeof(o));
	o.eku = "OCSPSigning";
	tbs_refused(f, &o, "policy: extendedKeyUsage OCSPSigning is never signed online");
	o.eku = "timeStamping";
	tbs_refused(f, &o, "policy: extendedKeyUsage timeStamping is never signed online");
	o.eku = "serverAuth,anyExtendedKeyUsage";
	tbs_refused(f, &o, "policy: extendedKeyUsage anyExtendedKeyUsage is never signed");
	o.eku = "";
	tbs_refused(f, &o, "policy: extendedKeyUsage matches no profile");
	o.eku = "serverAuth,codeSigning";
	tbs_refused(f, &o, "policy: extendedKeyUsage matches no profile");
	/* keyUsage exactly the profile's for the key type (EC client: with keyAgreement) */
	memset(&o, 0, sizeof(o));
	o.ku = "critical,digitalSignature,keyAgreement";
	tbs_refused(f, &o, "policy: keyUsage is not the server profile's");
	o.eku = "clientAuth,emailProtection";
	sign_cert_ok(f, &o);
	o.ku = NULL;
	tbs_refused(f, &o, "policy: keyUsage is not the client profile's");
	/* keyCertSign hidden in the padding bits of a digitalSignature keyUsage: not DER */
	memset(&o, 0, sizeof(o));
	o.ku = "critical,DER:03:02:03:84";
	tbs_refused(f, &o, "policy: keyUsage is not the server profile's");
	/* validity: the profile's maximum, notAfter inclusive */
	memset(&o, 0, sizeof(o));
	o.days = 398; /* tbs_make ends at notBefore + days: one second too long */
	tbs_refused(f, &o, "policy: validity longer than the server profile's 398 days");
	o.eku = "codeSigning";
	sign_cert_ok(f, &o);
	/* notBefore is now: not a day back, not a day ahead */
	memset(&o, 0, sizeof(o));
	o.start = -86400;
	tbs_refused(f, &o, "policy: notBefore is not the signer's time");
	o.start = 86400;
	tbs_refused(f, &o, "policy: notBefore is not the signer's time");

	/* SIGN_OCSP: the signer's clock, a bounded validity */
	ocsp_this_off = -7200; /* beyond the largest backdating */
	tbs = ocsp_make(f, f->ocsp_cert, f->ocsp_key, 0, &len);
	sign_refused(f, SIGNER_OP_SIGN_OCSP, tbs, len, "policy: thisUpdate too far");
	free(tbs);
	ocsp_this_off = 0;
	ocsp_next_off = 480 * 60 + 1; /* ocsp.validity_minutes is 480 */
	tbs = ocsp_make(f, f->ocsp_cert, f->ocsp_key, 0, &len);
	sign_refused(f, SIGNER_OP_SIGN_OCSP, tbs, len,
		     "policy: nextUpdate more than 480 minutes after thisUpdate");
	free(tbs);
	ocsp_next_off = -1;
	tbs = ocsp_make(f, f->ocsp_cert, f->ocsp_key, 0, &len);
	sign_refused(f, SIGNER_OP_SIGN_OCSP, tbs, len, "policy: a response without nextUpdate");
	free(tbs);
	ocsp_next_off = 3600;
	/* producedAt a year back: the first GeneralizedTime of the ResponseData */
	tbs = ocsp_make(f, f->ocsp_cert, f->ocsp_key, 0, &len);
	for (i = 0; i + 2 < len && !(tbs[i] == 0x18 && tbs[i + 1] == 0x0f); i++)
		;
	assert_true(i + 2 < len);
	tbs[i + 5]--; /* the year's last digit */
	sign_refused(f, SIGNER_OP_SIGN_OCSP, tbs, len, "policy: producedAt is not the signer's");
	free(tbs);

	/* SIGN_CRL: the signer's clock, a bounded validity, numbers that increase */
	crl_this_off = -86400;
	tbs = crl_make(f, NULL, &len);
	sign_refused(f, SIGNER_OP_SIGN_CRL, tbs, len, "policy: thisUpdate is not the signer's");
	free(tbs);
	crl_this_off = 0;
	crl_days = 2; /* crl.hours is 24 */
	tbs = crl_make(f, NULL, &len);
	sign_refused(f, SIGNER_OP_SIGN_CRL, tbs, len,
		     "policy: nextUpdate more than 24 hours after thisUpdate (crl.hours)");
	free(tbs);
	crl_days = 1;
	crl_number_forced = 5;
	tbs = crl_make(f, NULL, &len);
	sign_refused(f, SIGNER_OP_SIGN_CRL, tbs, len, "policy: CRL number 5 is not above");
	free(tbs);
	crl_number_forced = 0;
	crl_number_twice = 1;
	tbs = crl_make(f, NULL, &len);
	sign_refused(f, SIGNER_OP_SIGN_CRL, tbs, len, "RFC 5280 5.2: an extension repeats");
	free(tbs);
	crl_number_twice = 0;
	/* a restarted signer knows the last CRL numbers from its log (signer.log): 100, the
	 * first this fixture signed, is refused; with the log off, nothing tells it */
	{
		static const char *const logs[] = {"signer.log", "off"};
		struct signer_client *fresh = NULL;
		unsigned char *sig = NULL;
		size_t siglen = 0;
		pid_t fpid;

		for (i = 0; i < 2; i++) {
			err_clear(&e);
			conf_set(&f->conf, "signer.log", logs[i]);
			if (signer_spawn(&f->conf, &fresh, &fpid, &e) == -1)
				fail_msg("%s", e.msg);
			crl_number_forced = 100;
			tbs = crl_make(f, NULL, &len);
			crl_number_forced = 0;
			err_clear(&e);
			assert_int_equal(
			    signer_sign(fresh, SIGNER_OP_SIGN_CRL, tbs, len, &sig, &siglen, &e),
			    i == 0 ? -1 : 0);
			if (i == 0)
				assert_msg(&e, "policy: CRL number 100 is not above");
			free(sig);
			sig = NULL;
			free(tbs);
			signer_client_free(fresh);
			assert_int_equal(tu_wait(fpid), 0);
		}
		conf_set(&f->conf, "signer.log", "signer.log");
	}

	/* a signer of its own for `shomei issue --profile ocsp|tsa` signs those */
	err_clear(&e);
	conf_set(&f->conf, "signer.service_certs", "yes");
	if (signer_spawn(&f->conf, &svc, &pid, &e) == -1)
		fail_msg("%s", e.msg);
	conf_set(&f->conf, "signer.service_certs", "no");
	{
		unsigned char *sig = NULL;
		size_t siglen = 0;

		memset(&o, 0, sizeof(o));
		o.eku = "OCSPSigning";
		tbs = tbs_make(f, &o, &len);
		if (signer_sign(svc, SIGNER_OP_SIGN_CERT, tbs, len, &sig, &siglen, &e) == -1)
			fail_msg("service signer: %s", e.msg);
		free(sig);
		free(tbs);
		/* anyExtendedKeyUsage stays refused even there */
		o.eku = "anyExtendedKeyUsage";
		tbs = tbs_make(f, &o, &len);
		err_clear(&e);
		assert_int_equal(signer_sign(svc, SIGNER_OP_SIGN_CERT, tbs, len, &sig, &siglen, &e),
				 -1);
		free(tbs);
	}
	signer_client_free(svc);
	assert_int_equal(tu_wait(pid), 0);
}

/*
 * The CRL floors of several issuing CAs from one log (after a CA switch): named lines count
 * for their CA only, lines without a name (written before switches existed) for every CA.
 */
static void
test_log_crl_floors(void **state)
{
	static const char text[] = "1\t0\tcrl\tfull:57\tx\n"
				   "2\t0\tcrl\tdelta:58\tx\n"
				   "3\t0\tcert\t0A0B\tx\n"
				   "4\t0\tcrl\tfull:3@old\tx\n"
				   "5\t0\tcrl\tfull:61@new\tx\n"
				   "6\t0\tcrl\tdelta:70@old\tx\n"
				   "7\t0\tcrl\tfull:99@gone\tx\n"
				   "8\t0\tcrl\tfull:100@new";
	const char *const names[] = {"new", "old", "fresh"};
	int64_t last[3][2];
	char path[] = "/tmp/shomei-slog-XXXXXX";
	struct err e;
	int fd;

	(void)state;
	err_clear(&e);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	memset(last, 0, sizeof(last));
	assert_int_equal(signer_log_crl_floor(fd, names, 3, last, &e), 0);
	/* the torn last line (no newline: never sent) counts for nothing */
	assert_int_equal(last[0][0], 61);
	assert_int_equal(last[0][1], 58);
	assert_int_equal(last[1][0], 57);
	assert_int_equal(last[1][1], 70);
	assert_int_equal(last[2][0], 57);
	assert_int_equal(last[2][1], 58);
	close(fd);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest plain[] = {
	    cmocka_unit_test(test_frame_roundtrip),    cmocka_unit_test(test_frame_errors),
	    cmocka_unit_test(test_der_reader),	       cmocka_unit_test(test_reset_fd_reuse),
	    cmocka_unit_test(test_client_timeout),     cmocka_unit_test(test_client_late_answer),
	    cmocka_unit_test(test_client_write_stall), cmocka_unit_test(test_client_timeout_large),
	};
	const struct CMUnitTest p256[] = {
	    cmocka_unit_test(test_ping),
	    cmocka_unit_test(test_sign_cert),
	    cmocka_unit_test(test_cert_refusals),
	    cmocka_unit_test(test_sign_crl),
	    cmocka_unit_test(test_sign_crl_large),
	    cmocka_unit_test(test_sign_ocsp),
	    cmocka_unit_test(test_sign_tsa),
	    cmocka_unit_test(test_policy_refusals),
	    cmocka_unit_test(test_ocsp_no_key),
	    cmocka_unit_test(test_client_limits),
	    cmocka_unit_test(test_fatal),
	    cmocka_unit_test(test_connection_lost),
	    cmocka_unit_test(test_pipelined_callers),
	    cmocka_unit_test(test_pipelined_connection_lost),
	    cmocka_unit_test(test_startup_failures),
	    cmocka_unit_test(test_passphrase_sources),
	    cmocka_unit_test(test_key_write_load),
	    cmocka_unit_test(test_key_write_rounds),
	    cmocka_unit_test(test_log_crl_floors),
	    cmocka_unit_test(test_bench),
	};
	const struct CMUnitTest rsa[] = {
	    cmocka_unit_test(test_rsa),
	    cmocka_unit_test(test_bench),
	};
	int fails = 0;

	fails += cmocka_run_group_tests_name("signer framing", plain, NULL, NULL);
	fails +=
	    cmocka_run_group_tests_name("signer P-256", p256, group_setup_p256, group_teardown);
	fails +=
	    cmocka_run_group_tests_name("signer RSA-2048", rsa, group_setup_rsa, group_teardown);
	return fails ? 1 : 0;
}
