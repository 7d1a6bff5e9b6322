/*
 * init: the key ceremony of `shomei init` — root CA, issuing CA, OCSP responder, TSA and the
 * HTTPS server certificate, keys encrypted at rest, shomei.conf written last.  This runs
 * offline in the CLI process: it is the one place where CA keys are used outside the signer.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "ca_int.h"

struct init_keytype {
	const char *name;
	const char *alg; /* "EC" or "RSA" */
	const char *curve;
	unsigned bits;
};

static const struct init_keytype init_keytypes[] = {
    {"p256", "EC", "P-256", 0},	    {"p384", "EC", "P-384", 0},	    {"rsa2048", "RSA", NULL, 2048},
    {"rsa3072", "RSA", NULL, 3072}, {"rsa4096", "RSA", NULL, 4096},
};

char *
ca_oid_arc_new(void)
{
	unsigned char u[16];
	unsigned v[7];

	util_random(u, sizeof(u));
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* UUID version 4 (RFC 9562) */
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* variant 10 */
	/* aaaabbbb-cccc-dddd-eeee-ffffffgggggg -> .a.b.c.d.e.f.g (16-bit a..e, 24-bit f, g) */
	v[0] = (unsigned)u[0] << 8 | u[1];
	v[1] = (unsigned)u[2] << 8 | u[3];
	v[2] = (unsigned)u[4] << 8 | u[5];
	v[3] = (unsigned)u[6] << 8 | u[7];
	v[4] = (unsigned)u[8] << 8 | u[9];
	v[5] = (unsigned)u[10] << 16 | (unsigned)u[11] << 8 | u[12];
	v[6] = (unsigned)u[13] << 16 | (unsigned)u[14] << 8 | u[15];
	return xasprintf("1.2.840.113556.1.8000.2554.%u.%u.%u.%u.%u.%u.%u", v[0], v[1], v[2], v[3],
			 v[4], v[5], v[6]);
}

/* A dotted OID of at least two arcs that OpenSSL can encode. */
static int
init_oid_ok(const char *s)
{
	ASN1_OBJECT *o;
	size_t n = strlen(s);
	int ok;

	ok = n < X509_POLICY_OID_MAX - 8 && x509_oid_text_ok(s);
	if (ok) {
		o = OBJ_txt2obj(s, 1);
		ok = o != NULL;
		ASN1_OBJECT_free(o);
	}
	return ok;
}

/*
 * The certificate policy, CPS and TSA policy of a new CA, applied to the profiles so that the
 * certificates made here carry them too.  *arc, *cp and *tsa are set (caller frees).
 */
static int
init_policies(const struct ca_init_opts *o, char **arc, char **cp, char **tsa, struct err *e)
{
	struct conf pc;
	int rc = -1;

	memset(&pc, 0, sizeof(pc));
	*arc = o->oid_arc != NULL ? xstrdup(o->oid_arc) : ca_oid_arc_new();
	*cp = o->policy != NULL ? xstrdup(o->policy) : xasprintf("%s.1", *arc);
	*tsa = o->tsa_policy != NULL ? xstrdup(o->tsa_policy) : xasprintf("%s.2", *arc);
	if (!init_oid_ok(*arc) || !init_oid_ok(*cp) || !init_oid_ok(*tsa)) {
		err_set(e, ERR_REFUSED,
			"init: \"%s\" is not an OID arc (dotted numbers such as "
			"1.3.6.1.4.1.99999 for an IANA enterprise number)",
			!init_oid_ok(*arc)  ? *arc
			: !init_oid_ok(*cp) ? *cp
					    : *tsa);
		goto out;
	}
	if (strcmp(*cp, "2.5.29.32.0") == 0 || strcmp(*tsa, "2.5.29.32.0") == 0) {
		err_set(e, ERR_REFUSED,
			"init: anyPolicy (2.5.29.32.0) is no policy of yours: give the OID of your "
			"CP/CPS (--policy) or let init make one");
		goto out;
	}
	if (o->cps_uri != NULL &&
	    ((strncmp(o->cps_uri, "http://", 7) != 0 && strncmp(o->cps_uri, "https://", 8) != 0) ||
	     strlen(o->cps_uri) >= X509_CPS_URI_MAX ||
	     o->cps_uri[strcspn(o->cps_uri, " \t\r\n\"<>")] != '\0')) {
		err_set(e, ERR_REFUSED, "init: --cps: expected an http:// or https:// URL");
		goto out;
	}
	if (strcmp(*cp, *tsa) == 0) {
		err_set(e, ERR_REFUSED,
			"init: the certificate policy and the TSA policy are the "
			"same OID %s",
			*cp);
		goto out;
	}
	conf_set(&pc, "policies", *cp);
	if (o->cps_uri != NULL)
		conf_set(&pc, "cps_uri", o->cps_uri);
	if (profile_configure(&pc, e) == -1)
		goto out;
	rc = 0;
out:
	conf_free(&pc);
	return rc;
}

static EVP_PKEY *
init_keygen(const struct init_keytype *kt, struct err *e)
{
	EVP_PKEY *k;

	if (kt->curve != NULL)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", kt->curve);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)kt->bits);
	if (k == NULL)
		err_ssl(e, ERR_INTERNAL, "init: %s key generation failed", kt->name);
	return k;
}

/* Signs an unsigned certificate with a key held here (init only). */
static int
init_sign(EVP_PKEY *key, X509 *tbs, X509 **out, struct err *e)
{
	unsigned char *der = NULL, *sig = NULL;
	size_t len = 0, siglen = 0;
	EVP_MD_CTX *ctx = NULL;
	int sig_nid, md_nid, rc = -1;

	if (x509_tbs_der(tbs, &der, &len, e) == -1)
		goto out;
	if (x509_sigalg_for_key(key, &sig_nid, &md_nid, e) == -1)
		goto out;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, EVP_get_digestbynid(md_nid), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, der, len) != 1) {
		err_ssl(e, ERR_INTERNAL, "init: cannot sign");
		goto out;
	}
	sig = xmalloc(siglen);
	if (EVP_DigestSign(ctx, sig, &siglen, der, len) != 1) {
		err_ssl(e, ERR_INTERNAL, "init: cannot sign");
		goto out;
	}
	if (x509_assemble(der, len, sig, siglen, out, e) == -1)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	free(sig);
	return rc;
}

X509_NAME *
init_name(const char *org, const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (n == NULL ||
	    !X509_NAME_add_entry_by_NID(n, NID_countryName, MBSTRING_ASC,
					(const unsigned char *)"JP", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_NID(n, NID_organizationName, MBSTRING_UTF8,
					(const unsigned char *)org, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn,
					-1, -1, 0))
		fatalx("init: cannot build a name");
	return n;
}

/* Builds, lints and signs one certificate of the hierarchy. */
int
init_cert(const struct x509_issuer *iss, EVP_PKEY *signkey, const char *profile, X509_NAME *subject,
	  EVP_PKEY *pub, GENERAL_NAMES *sans, X509 **out, struct err *e)
{
	struct x509_template t;
	X509 *tbs = NULL;
	time_t end;
	int rc = -1;

	memset(&t, 0, sizeof(t));
	if ((t.profile = profile_find(profile)) == NULL) {
		err_set(e, ERR_INTERNAL, "init: profile %s missing", profile);
		goto out;
	}
	t.subject = subject;
	t.pubkey = pub;
	t.sans = sans;
	t.not_before = util_now() - 60;
	t.not_after = x509_not_after(t.not_before, t.profile->default_days);
	if (iss->cert != NULL && x509_time_to_epoch(X509_get0_notAfter(iss->cert), &end) == 0 &&
	    t.not_after > end)
		t.not_after = end;
	x509_serial_new(t.serial, &t.serial_len);
	if (x509_tbs_build(iss, &t, &tbs, e) == -1 || x509_lint(tbs, t.profile, iss, e) == -1 ||
	    init_sign(signkey, tbs, out, e) == -1)
		goto out;
	rc = 0;
out:
	X509_free(tbs);
	return rc;
}

int
init_write_cert(const char *dir, const char *name, X509 *x, struct err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *path = xasprintf("%s/%s", dir, name);
	char *p;
	long n;
	int rc = -1;

	if (b == NULL || !PEM_write_bio_X509(b, x)) {
		err_ssl(e, ERR_INTERNAL, "init: cannot encode %s", name);
		goto out;
	}
	n = BIO_get_mem_data(b, &p);
	rc = util_write_file(path, p, (size_t)n, 0644, e);
out:
	BIO_free(b);
	free(path);
	return rc;
}

/* The HTTPS key stays unencrypted (the web process needs it) but readable by its owner only. */
static int
init_write_plain_key(const char *path, EVP_PKEY *k, struct err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int rc = -1;

	if (b == NULL || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
		err_ssl(e, ERR_INTERNAL, "init: cannot encode %s", path);
		goto out;
	}
	n = BIO_get_mem_data(b, &p);
	rc = util_write_file(path, p, (size_t)n, 0600, e);
	OPENSSL_cleanse(p, (size_t)n);
out:
	BIO_free(b);
	return rc;
}

static GENERAL_NAMES *
init_https_sans(const char *base_url)
{
	GENERAL_NAMES *g = GENERAL_NAMES_new();
	GENERAL_NAME *gn;
	ASN1_OCTET_STRING *ip;
	static const unsigned char lo[4] = {127, 0, 0, 1};

	if (g == NULL)
		fatalx("out of memory");
	gn = GENERAL_NAME_new();
	gn->type = GEN_DNS;
	gn->d.dNSName = ASN1_IA5STRING_new();
	ASN1_STRING_set(gn->d.dNSName, "localhost", -1);
	sk_GENERAL_NAME_push(g, gn);
	gn = GENERAL_NAME_new();
	gn->type = GEN_IPADD;
	ip = ASN1_OCTET_STRING_new();
	ASN1_OCTET_STRING_set(ip, lo, 4);
	gn->d.iPAddress = ip;
	sk_GENERAL_NAME_push(g, gn);
	(void)base_url;
	return g;
}

int
init_record(struct store *st, const char *actor, const char *ca_name, X509 *x, const char *profile,
	    const GENERAL_NAMES *sans, struct err *e)
{
	struct store_cert rec;
	unsigned char *der = NULL;
	int len, rc = -1;

	memset(&rec, 0, sizeof(rec));
	if ((len = i2d_X509(x, &der)) <= 0 ||
	    x509_serial_hex(X509_get0_serialNumber(x), rec.serial, sizeof(rec.serial)) == -1 ||
	    x509_time_to_epoch(X509_get0_notBefore(x), &rec.not_before) == -1 ||
	    x509_time_to_epoch(X509_get0_notAfter(x), &rec.not_after) == -1) {
		err_ssl(e, ERR_INTERNAL, "init: cannot record %s certificate", profile);
		goto out;
	}
	rec.ca = (char *)ca_name;
	rec.subject = x509_name_text(X509_get_subject_name(x));
	rec.sans = x509_sans_text(sans);
	rec.profile = (char *)profile;
	rec.status = STORE_CERT_VALID;
	rec.reason = -1;
	rec.der = der;
	rec.derlen = (size_t)len;
	rec.created = util_now();
	if (store_cert_insert(st, &rec, e) == -1 ||
	    store_audit_append(st, actor, "cert.issue", rec.serial, rec.subject, NULL, e) == -1)
		goto out;
	rc = 0;
out:
	free(rec.subject);
	free(rec.sans);
	OPENSSL_free(der);
	return rc;
}

/* The shomei.conf that init writes. */
static void
init_conf_text(struct buf *cf, const struct ca_init_opts *o, const char *name,
	       const char *baseclean, const char *storev, int use_env, const char *arc,
	       const char *cp, const char *tsapol)
{
	buf_printf(
	    cf,
	    "# shomei configuration, written by `shomei init`.\n"
	    "# Every key is described in docs/config.md; paths are relative to this "
	    "directory.\n\n"
	    "ca_name = %s\n"
	    "base_url = %s\n"
	    "store = %s\n\n"
	    "# Keys: encrypted PEM files (or pkcs11: URIs) used only by the signer process.\n"
	    "# The root key is not here: init wrote it outside this directory (keep it offline;\n"
	    "# `shomei ca root-crl --root-key FILE` is its only use).\n"
	    "root.cert = certs/root.pem\n"
	    "ca.key = %s\n"
	    "ca.cert = certs/issuing.pem\n"
	    "ocsp.key = keys/ocsp.key.pem\n"
	    "ocsp.cert = certs/ocsp.pem\n"
	    "tsa.key = keys/tsa.key.pem\n"
	    "tsa.cert = certs/tsa.pem\n"
	    "https.key = keys/https.key.pem\n"
	    "https.cert = certs/https.pem\n"
	    "%s\n"
	    "%s"
	    "\n# CRL validity (hours)\n"
	    "crl.hours = 24\n"
	    "crl.delta_hours = 1\n"
	    "# The root CRL is signed offline with the root key (`shomei ca root-crl`) and lasts\n"
	    "# root_crl.days; serve warns root_crl.warn_days before it runs out.\n"
	    "root_crl.days = %d\n"
	    "root_crl.warn_days = %d\n\n"
	    "# Object identifiers, made under the arc %s at init\n"
	    "# (see docs/config.md): the certificate policy every certificate asserts\n"
	    "# and the TSA policy of the time-stamps.\n"
	    "policies = %s\n"
	    "%s%s%s"
	    "tsa.policy = %s\n\n"
	    "# Listeners of `shomei serve`\n"
	    "listen.http = 127.0.0.1:8080\n"
	    "listen.https = 127.0.0.1:8443\n"
	    "listen.console = 127.0.0.1:8444\n",
	    name, baseclean, storev, o->ca_key_uri ? o->ca_key_uri : "keys/issuing.key.pem",
	    use_env ? "key_passphrase_env = SHOMEI_KEY_PASSPHRASE"
		    : "key_passphrase_file = keys/passphrase",
	    o->ca_key_uri ? "pkcs11.pin_env = SHOMEI_PKCS11_PIN\n" : "", CA_ROOT_CRL_DAYS_DEFAULT,
	    CA_ROOT_CRL_WARN_DAYS_DEFAULT, arc, cp, o->cps_uri ? "cps_uri = " : "",
	    o->cps_uri ? o->cps_uri : "", o->cps_uri ? "\n" : "", tsapol);
	if (o->ca_key_uri != NULL && getenv("SHOMEI_PKCS11_MODULE") != NULL)
		buf_printf(cf, "pkcs11.module = %s\n", getenv("SHOMEI_PKCS11_MODULE"));
	{
		/* the sender of the portal's mail: noreply@ the base URL's host when it is a
		 * domain name, else a placeholder to replace */
		const char *h = strstr(baseclean, "://") + 3;
		size_t hl = strcspn(h, ":/");
		int dotted = memchr(h, '.', hl) != NULL && strspn(h, "0123456789.") < hl;

		buf_printf(cf,
			   "\n# Sender of the mail the portal sends (see README, Mail)\n"
			   "mail.from = noreply@%.*s\n",
			   dotted ? (int)hl : 21, dotted ? h : "localhost.localdomain");
	}
}

/* Writes shomei.conf (0640), making its directory first when it lies outside the data
 * directory (an installed shomei's /etc/shomei, 0755). */
static int
init_conf_write(const char *confpath, const struct buf *cf, struct err *e)
{
	const char *slash = strrchr(confpath, '/');
	char *dir = NULL;
	int rc = -1;

	if (slash != NULL && slash != confpath) {
		dir = xstrndup(confpath, (size_t)(slash - confpath));
		if (util_mkdir_p(dir, 0755, e) == -1)
			goto out;
	}
	rc = util_write_file(confpath, cf->data, cf->len, 0640, e);
out:
	free(dir);
	return rc;
}

int
ca_init(const struct ca_init_opts *o, struct err *e)
{
	const struct init_keytype *kt = NULL;
	const char *name = o->ca_name ? o->ca_name : "shomei";
	const char *base = o->base_url ? o->base_url : "http://localhost:8080";
	const char *org = o->org_name ? o->org_name : "shomei";
	const char *storev = o->store ? o->store : "sqlite:db/shomei.db";
	char *rootkey = NULL, *confpath = NULL, *keys = NULL, *certs = NULL, *path = NULL,
	     *pass = NULL;
	char *spec = NULL, *cn = NULL, *baseclean = NULL, *rootname = NULL;
	char *arc = NULL, *cp = NULL, *tsapol = NULL;
	struct store_crl rootcrl;
	struct ca_root_crl_req rq;
	EVP_PKEY *rootk = NULL, *cak = NULL, *ocspk = NULL, *tsak = NULL, *httpsk = NULL;
	X509 *root = NULL, *cacert = NULL, *ocsp = NULL, *tsa = NULL, *https = NULL;
	X509_NAME *n = NULL;
	GENERAL_NAMES *sans = NULL;
	struct x509_issuer riss, ciss;
	struct conf tmpconf;
	struct store *st = NULL;
	struct buf cf;
	size_t i;
	int rc = -1, use_env;
	unsigned char rnd[32];
	char passhex[65];

	memset(&tmpconf, 0, sizeof(tmpconf));
	memset(&rootcrl, 0, sizeof(rootcrl));
	buf_init(&cf, 64 * 1024);
	for (i = 0; i < sizeof(init_keytypes) / sizeof(init_keytypes[0]); i++)
		if (strcmp(o->key_type ? o->key_type : "p256", init_keytypes[i].name) == 0)
			kt = &init_keytypes[i];
	if (kt == NULL) {
		err_set(e, ERR_REFUSED,
			"init: key type \"%s\" unknown (p256, p384, rsa2048, rsa3072, rsa4096)",
			o->key_type);
		goto out;
	}
	if (o->key_rounds != 0 && (o->key_rounds < CA_KEY_ROUNDS_MIN || o->key_rounds > INT_MAX)) {
		err_set(e, ERR_REFUSED, "init: --key-rounds must be at least %d",
			CA_KEY_ROUNDS_MIN);
		goto out;
	}
	signer_key_write_iter_set((int)o->key_rounds); /* 0: the default */
	if (!ca_name_valid(name)) {
		err_set(e, ERR_REFUSED, "init: CA name \"%s\" must be 1-32 of a-z, 0-9 and -",
			name);
		goto out;
	}
	if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
		err_set(e, ERR_REFUSED, "init: base URL must start with http:// or https://");
		goto out;
	}
	baseclean = xstrdup(base);
	while (strlen(baseclean) > 8 && baseclean[strlen(baseclean) - 1] == '/')
		baseclean[strlen(baseclean) - 1] = '\0';

	if (init_policies(o, &arc, &cp, &tsapol, e) == -1)
		goto out;

	confpath = ca_conf_file(o->datadir);
	path = xasprintf("%s/certs/issuing.pem", o->datadir);
	if (util_file_exists(confpath) || util_file_exists(path)) {
		err_set(e, ERR_REFUSED, "init: %s already holds a CA; refusing to overwrite it",
			o->datadir);
		goto out;
	}
	/* the root key never lies in the data directory, which serving processes read */
	if (o->root_key_out != NULL) {
		rootkey = xstrdup(o->root_key_out);
	} else {
		char *d = xstrdup(o->datadir);

		while (strlen(d) > 1 && d[strlen(d) - 1] == '/')
			d[strlen(d) - 1] = '\0';
		rootkey = xasprintf("%s.offline/root.key.pem", d);
		free(d);
	}
	if (util_file_exists(rootkey)) {
		err_set(e, ERR_REFUSED, "init: %s exists; refusing to overwrite a root key",
			rootkey);
		goto out;
	}
	keys = xasprintf("%s/keys", o->datadir);
	certs = xasprintf("%s/certs", o->datadir);
	if (util_mkdir_p(o->datadir, 0750, e) == -1 || util_mkdir_p(keys, 0700, e) == -1 ||
	    util_mkdir_p(certs, 0755, e) == -1)
		goto out;
	chmod(keys, 0700);
	/* a relative SQLite store in a directory of its own (the web process writes there) */
	if (strncmp(storev, "sqlite:", 7) == 0 && storev[7] != '/' && strrchr(storev, '/')) {
		free(path);
		path = xasprintf("%s/%.*s", o->datadir, (int)(strrchr(storev, '/') - storev - 7),
				 storev + 7);
		if (util_mkdir_p(path, 0700, e) == -1)
			goto out;
	}
	{
		char *kd = xstrdup(rootkey);

		if (strrchr(kd, '/') != NULL) {
			*strrchr(kd, '/') = '\0';
			if (*kd != '\0' && util_mkdir_p(kd, 0700, e) == -1) {
				free(kd);
				goto out;
			}
		}
		free(kd);
	}

	/* passphrase for the keys at rest: the operator's, or a generated one in keys/ */
	use_env = getenv("SHOMEI_KEY_PASSPHRASE") != NULL && *getenv("SHOMEI_KEY_PASSPHRASE");
	if (use_env) {
		pass = xstrdup(getenv("SHOMEI_KEY_PASSPHRASE"));
	} else {
		util_random(rnd, sizeof(rnd));
		hex_encode(passhex, rnd, sizeof(rnd));
		pass = xstrdup(passhex);
		OPENSSL_cleanse(passhex, sizeof(passhex));
		free(path);
		path = xasprintf("%s/passphrase", keys);
		if (util_write_file(path, pass, strlen(pass), 0600, e) == -1)
			goto out;
	}

	if ((rootk = init_keygen(kt, e)) == NULL || (ocspk = init_keygen(kt, e)) == NULL ||
	    (tsak = init_keygen(kt, e)) == NULL)
		goto out;
	if ((httpsk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
		err_ssl(e, ERR_INTERNAL, "init: key generation failed");
		goto out;
	}
	if (o->ca_key_uri != NULL) {
		conf_set(&tmpconf, "pkcs11.module",
			 getenv("SHOMEI_PKCS11_MODULE") ? getenv("SHOMEI_PKCS11_MODULE")
							: "/usr/lib/softhsm/libsofthsm2.so");
		conf_set(&tmpconf, "pkcs11.pin_env", "SHOMEI_PKCS11_PIN");
		if (signer_key_load(&tmpconf, o->ca_key_uri, &cak, e) == -1)
			goto out;
	} else if ((cak = init_keygen(kt, e)) == NULL)
		goto out;

	/* root (self-issued), then the issuing CA under it */
	memset(&riss, 0, sizeof(riss));
	riss.pubkey = rootk;
	rootname = xasprintf("%s-root", name); /* the root's CRL and certificate URLs */
	riss.name = rootname;
	riss.base_url = baseclean;
	cn = xasprintf("%s Root CA", name);
	n = init_name(org, cn);
	if (init_cert(&riss, rootk, "root-ca", n, rootk, NULL, &root, e) == -1)
		goto out;
	X509_NAME_free(n);
	free(cn);
	riss.cert = root;
	riss.pubkey = X509_get0_pubkey(root);
	cn = xasprintf("%s Issuing CA", name);
	n = init_name(org, cn);
	if (init_cert(&riss, rootk, "issuing-ca", n, cak, NULL, &cacert, e) == -1)
		goto out;
	X509_NAME_free(n);
	free(cn);

	memset(&ciss, 0, sizeof(ciss));
	ciss.cert = cacert;
	ciss.pubkey = X509_get0_pubkey(cacert);
	ciss.name = name;
	ciss.base_url = baseclean;
	cn = xasprintf("%s OCSP Responder", name);
	n = init_name(org, cn);
	if (init_cert(&ciss, cak, "ocsp", n, ocspk, NULL, &ocsp, e) == -1)
		goto out;
	X509_NAME_free(n);
	free(cn);
	cn = xasprintf("%s Time-Stamping Authority", name);
	n = init_name(org, cn);
	if (init_cert(&ciss, cak, "tsa", n, tsak, NULL, &tsa, e) == -1)
		goto out;
	X509_NAME_free(n);
	free(cn);
	cn = xstrdup("localhost");
	n = init_name(org, cn);
	sans = init_https_sans(baseclean);
	if (init_cert(&ciss, cak, "server", n, httpsk, sans, &https, e) == -1)
		goto out;

		/* files: keys encrypted (but the HTTPS key), certificates, chain */
#define KEYFILE(nm) (free(path), path = xasprintf("%s/%s", keys, nm))
	if (signer_key_write(rootkey, rootk, pass, e) == -1)
		goto out;
	if (o->ca_key_uri == NULL && KEYFILE("issuing.key.pem") &&
	    signer_key_write(path, cak, pass, e) == -1)
		goto out;
	if (KEYFILE("ocsp.key.pem") && signer_key_write(path, ocspk, pass, e) == -1)
		goto out;
	if (KEYFILE("tsa.key.pem") && signer_key_write(path, tsak, pass, e) == -1)
		goto out;
	if (KEYFILE("https.key.pem") && init_write_plain_key(path, httpsk, e) == -1)
		goto out;
#undef KEYFILE
	if (init_write_cert(certs, "root.pem", root, e) == -1 ||
	    init_write_cert(certs, "issuing.pem", cacert, e) == -1 ||
	    init_write_cert(certs, "ocsp.pem", ocsp, e) == -1 ||
	    init_write_cert(certs, "tsa.pem", tsa, e) == -1 ||
	    init_write_cert(certs, "https.pem", https, e) == -1)
		goto out;
	{
		BIO *b = BIO_new(BIO_s_mem());
		char *p;
		long len;

		if (b == NULL || !PEM_write_bio_X509(b, cacert) || !PEM_write_bio_X509(b, root)) {
			BIO_free(b);
			err_ssl(e, ERR_INTERNAL, "init: cannot encode chain");
			goto out;
		}
		len = BIO_get_mem_data(b, &p);
		free(path);
		path = xasprintf("%s/chain.pem", certs);
		rc = util_write_file(path, p, (size_t)len, 0644, e);
		BIO_free(b);
		if (rc == -1)
			goto out;
		rc = -1;
	}

	/* the store, with the certificates made here and the first audit entries */
	if (strncmp(storev, "sqlite:", 7) == 0 && storev[7] != '/')
		spec = xasprintf("sqlite:%s/%s", o->datadir, storev + 7);
	else
		spec = xstrdup(storev);
	if (store_open(&st, spec, e) == -1 || store_begin(st, e) == -1)
		goto out;
	free(path);
	path = xasprintf("name=%s key=%s base_url=%s", name, o->ca_key_uri ? "pkcs11" : kt->name,
			 baseclean);
	/* one transaction: the records, the audit entries and the first root CRL, made while
	 * the root key is here (the issuing CA is not revoked) */
	memset(&rq, 0, sizeof(rq));
	rq.root_name = rootname;
	rq.root = root;
	rq.key = rootk;
	rq.days = CA_ROOT_CRL_DAYS_DEFAULT;
	rq.actor = "cli:init";
	if (store_audit_append(st, "cli:init", "ca.init", name, path, NULL, e) == -1 ||
	    init_record(st, "cli:init", name, ocsp, "ocsp", NULL, e) == -1 ||
	    init_record(st, "cli:init", name, tsa, "tsa", NULL, e) == -1 ||
	    init_record(st, "cli:init", name, https, "server", sans, e) == -1 ||
	    ca_root_crl_make_tx(st, &rq, &rootcrl, NULL, e) == -1 || store_commit(st, e) == -1) {
		store_rollback(st);
		goto out;
	}

	/* shomei.conf last: its presence is what marks the data dir as holding a CA */
	init_conf_text(&cf, o, name, baseclean, storev, use_env, arc, cp, tsapol);
	if (buf_cstr(&cf) == NULL || init_conf_write(confpath, &cf, e) == -1)
		goto out;
	rc = 0;
out:
	free(rootkey);
	store_close(st);
	if (pass != NULL) {
		OPENSSL_cleanse(pass, strlen(pass));
		free(pass);
	}
	OPENSSL_cleanse(rnd, sizeof(rnd));
	X509_NAME_free(n);
	GENERAL_NAMES_free(sans);
	EVP_PKEY_free(rootk);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(ocspk);
	EVP_PKEY_free(tsak);
	EVP_PKEY_free(httpsk);
	X509_free(root);
	X509_free(cacert);
	X509_free(ocsp);
	X509_free(tsa);
	X509_free(https);
	conf_free(&tmpconf);
	buf_free(&cf);
	free(confpath);
	free(keys);
	free(certs);
	free(path);
	free(spec);
	free(cn);
	free(baseclean);
	free(rootname);
	free(arc);
	free(cp);
	free(tsapol);
	store_crl_clear(&rootcrl);
	return rc;
}
