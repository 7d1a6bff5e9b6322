/* ca: loading an instance (configuration, CA certificates, signer) for the CLI and serve. */
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca.h"

/* The keys the ca module reads (ca.c, revoke.c; cmd_ca reads crl.on_revoke too). */
const char *const ca_conf_keys[] = {
    "ca_name",
    "base_url",
    "store",
    "root.cert",
    "ca.cert",
    "ocsp.cert",
    "tsa.cert",
    "crl.hours",
    "crl.delta_hours",
    "crl.on_revoke",
    "signer.timeout_ms",
    "root_crl.days",
    "root_crl.warn_days",
    "root.name",
    "prev1.ca_name",
    "prev1.ca.cert",
    "prev1.ocsp.cert",
    "prev2.ca_name",
    "prev2.ca.cert",
    "prev2.ocsp.cert",
    "prev3.ca_name",
    "prev3.ca.cert",
    "prev3.ocsp.cert",
    NULL,
};

static X509 *
ca_cert_load(const struct conf *c, const char *key, int required, struct err *e)
{
	const char *v = conf_get(c, key, NULL);
	char *path = NULL;
	FILE *f = NULL;
	X509 *x = NULL;

	if (v == NULL || *v == '\0') {
		if (required)
			err_set(e, ERR_REFUSED, "%s: %s is not set", c->path, key);
		goto out;
	}
	path = conf_path(c, v);
	if ((f = fopen(path, "r")) == NULL) {
		err_set(e, ERR_INTERNAL, "%s: cannot open (%s)", path, key);
		goto out;
	}
	if ((x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		err_ssl(e, ERR_INTERNAL, "%s: not a PEM certificate", path);
out:
	if (f != NULL)
		fclose(f);
	free(path);
	return x;
}

/* "sqlite:relative" is relative to the data dir; everything else is passed on. */
static char *
ca_store_spec(const struct conf *c)
{
	const char *v = conf_get(c, "store", "sqlite:shomei.db");

	if (strncmp(v, "sqlite:", 7) == 0 && v[7] != '/')
		return xasprintf("sqlite:%s/%s", c->dir, v + 7);
	return xstrdup(v);
}

/* s of a-z, 0-9 and -, 1 to max long. */
static int
ca_name_chars(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return i > 0 && i <= max;
}

int
ca_name_valid(const char *s)
{
	return ca_name_chars(s, 32);
}

static void
ca_issuing_set(struct ca_issuing *ci, char *name, X509 *cert, X509 *ocsp, const char *base_url)
{
	ci->name = name;
	ci->cert = cert;
	ci->ocsp_cert = ocsp;
	ci->issuer.cert = cert;
	ci->issuer.pubkey = X509_get0_pubkey(cert);
	ci->issuer.name = name;
	ci->issuer.base_url = base_url;
}

/*
 * The previous issuing CAs of prev1.* .. prev3.* (shomei ca rollover writes them): each
 * needs its name and certificate; its OCSP certificate is optional.  Slots are filled in
 * order, and a name may appear once.
 */
static int
ca_prev_load(struct ca *ca, struct err *e)
{
	char key[32];
	const char *name;
	X509 *cert = NULL, *ocsp = NULL;
	int i, j;

	for (i = 1; i <= CA_PREV_MAX; i++) {
		snprintf(key, sizeof(key), "prev%d.ca_name", i);
		if ((name = conf_get(&ca->conf, key, NULL)) == NULL)
			break;
		if (!ca_name_valid(name) || ca_name_url_clash(ca, name))
			return err_set(e, ERR_REFUSED,
				       "%s: %s = %s: not a CA name (a-z, 0-9, -), or its URLs are "
				       "another CA's or the root's",
				       ca->conf.path, key, name);
		snprintf(key, sizeof(key), "prev%d.ca.cert", i);
		if ((cert = ca_cert_load(&ca->conf, key, 1, e)) == NULL)
			return -1;
		snprintf(key, sizeof(key), "prev%d.ocsp.cert", i);
		ocsp = ca_cert_load(&ca->conf, key, 0, e);
		if (err_is_set(e)) {
			X509_free(cert);
			return -1;
		}
		ca_issuing_set(&ca->cas[ca->ncas++], xstrdup(name), cert, ocsp, ca->base_url);
	}
	for (j = i + 1; j <= CA_PREV_MAX; j++) {
		snprintf(key, sizeof(key), "prev%d.ca_name", j);
		if (conf_get(&ca->conf, key, NULL) != NULL)
			return err_set(e, ERR_REFUSED, "%s: %s is set but prev%d.ca_name is not",
				       ca->conf.path, key, i);
	}
	return 0;
}

/* a store filter holds every issuing CA's name (ra_cas_filter) */
_Static_assert(1 + CA_PREV_MAX <= STORE_CAS_MAX, "STORE_CAS_MAX too small for CA_PREV_MAX");

/* 1 when a and b + "-delta" are the same name. */
static int
ca_name_is_delta_of(const char *a, const char *b)
{
	size_t n = strlen(b);

	return strncmp(a, b, n) == 0 && strcmp(a + n, "-delta") == 0;
}

int
ca_name_url_clash(const struct ca *ca, const char *name)
{
	size_t i;

	if (strcmp(name, ca->root_crl_name) == 0 || ca_name_is_delta_of(name, ca->root_crl_name) ||
	    ca_name_is_delta_of(ca->root_crl_name, name))
		return 1;
	for (i = 0; i < ca->ncas; i++)
		if (strcmp(name, ca->cas[i].name) == 0 ||
		    ca_name_is_delta_of(name, ca->cas[i].name) ||
		    ca_name_is_delta_of(ca->cas[i].name, name))
			return 1;
	return 0;
}

const struct ca_issuing *
ca_issuing_find(const struct ca *ca, const char *name)
{
	size_t i;

	for (i = 0; i < ca->ncas; i++)
		if (strcmp(ca->cas[i].name, name) == 0)
			return &ca->cas[i];
	return NULL;
}

const struct ca_issuing *
ca_issuing_of(const struct ca *ca, const X509 *x)
{
	size_t i;
	int ok;

	for (i = 0; i < ca->ncas; i++) {
		if (X509_NAME_cmp(X509_get_issuer_name(x),
				  X509_get_subject_name(ca->cas[i].cert)) != 0)
			continue;
		ok = X509_verify((X509 *)x, ca->cas[i].issuer.pubkey) == 1;
		ERR_clear_error();
		if (ok)
			return &ca->cas[i];
	}
	return NULL;
}

const struct ca_issuing *
ca_issuing_of_der(const struct ca *ca, const unsigned char *der, size_t len)
{
	const struct ca_issuing *ci = NULL;
	const unsigned char *p = der;
	X509 *x;

	if (ca->ncas > 1 && (x = d2i_X509(NULL, &p, (long)len)) != NULL) {
		ci = ca_issuing_of(ca, x);
		X509_free(x);
	}
	ERR_clear_error();
	return ci != NULL ? ci : &ca->cas[0];
}

static void
ca_thread_store_free(void *p)
{
	store_close(p);
}

static char *ca_conf_override;

void
ca_conf_file_set(const char *path)
{
	free(ca_conf_override);
	ca_conf_override = path != NULL ? xstrdup(path) : NULL;
}

char *
ca_conf_file(const char *datadir)
{
	if (ca_conf_override != NULL)
		return xstrdup(ca_conf_override);
	return xasprintf("%s/%s", datadir, CA_CONF_NAME);
}

int
ca_open(const char *datadir, unsigned flags, const char *const *const *known, struct ca **out,
	struct err *e)
{
	struct ca *ca = NULL;
	char *path = NULL;
	const char *v;
	int rc = -1;

	*out = NULL;
	ca = xcalloc(1, sizeof(*ca));
	ca->signer_pid = -1;
	ca->datadir = xstrdup(datadir);
	path = ca_conf_file(datadir);
	if (!util_file_exists(path)) {
		if (ca_conf_override != NULL)
			err_set(e, ERR_REFUSED, "%s: no configuration (run `shomei init` first)",
				path);
		else
			err_set(e, ERR_REFUSED, "%s: no CA here (run `shomei init` first)",
				datadir);
		goto out;
	}
	if (conf_load(&ca->conf, path, e) == -1)
		goto out;
	/* relative paths name files of the data directory, wherever the configuration lives */
	free(ca->conf.dir);
	ca->conf.dir = xstrdup(datadir);
	if (known != NULL && conf_check_keys(&ca->conf, known, e) == -1)
		goto out;
	ca->name = xstrdup(conf_get(&ca->conf, "ca_name", "shomei"));
	v = conf_get(&ca->conf, "root.name", NULL);
	ca->root_crl_name = v != NULL ? xstrdup(v) : ca_root_crl_name(ca->name);
	/* names go into URLs and the signer's log lines */
	/* the root's: "<ca_name>-root" by default, so 5 more than a CA name */
	if (!ca_name_valid(ca->name) || !ca_name_chars(ca->root_crl_name, 37) ||
	    strcmp(ca->name, ca->root_crl_name) == 0 ||
	    ca_name_is_delta_of(ca->name, ca->root_crl_name) ||
	    ca_name_is_delta_of(ca->root_crl_name, ca->name)) {
		err_set(e, ERR_REFUSED,
			"%s: ca_name \"%s\" (1-32) and root.name \"%s\" (1-37) must be of a-z, 0-9 "
			"and - and name distinct URLs",
			ca->conf.path, ca->name, ca->root_crl_name);
		goto out;
	}
	v = conf_get(&ca->conf, "base_url", "http://localhost:8080");
	ca->base_url = xstrndup(v, strlen(v) - (strlen(v) > 0 && v[strlen(v) - 1] == '/'));
	ca->store_spec = ca_store_spec(&ca->conf);
	if (conf_get_long(&ca->conf, "crl.hours", 24, 1, 24 * 366, &ca->crl_hours, e) == -1 ||
	    conf_get_long(&ca->conf, "crl.delta_hours", 1, 1, 24 * 31, &ca->crl_delta_hours, e) ==
		-1)
		goto out;
	if (conf_get_long(&ca->conf, "signer.timeout_ms", SIGNER_TIMEOUT_DEFAULT_MS, 100, 600000,
			  &ca->signer_timeout_ms, e) == -1)
		goto out;
	if (profile_configure(&ca->conf, e) == -1)
		goto out;
	if ((ca->cert = ca_cert_load(&ca->conf, "ca.cert", 1, e)) == NULL)
		goto out;
	if ((ca->root = ca_cert_load(&ca->conf, "root.cert", 1, e)) == NULL)
		goto out;
	ca->ocsp_cert = ca_cert_load(&ca->conf, "ocsp.cert", 0, e);
	ca->tsa_cert = ca_cert_load(&ca->conf, "tsa.cert", 0, e);
	if (err_is_set(e))
		goto out;
	ca->chain = sk_X509_new_null();
	if (ca->chain == NULL || !sk_X509_push(ca->chain, ca->cert))
		fatalx("out of memory");
	X509_up_ref(ca->cert);
	if (!sk_X509_push(ca->chain, ca->root))
		fatalx("out of memory");
	X509_up_ref(ca->root);
	ca->issuer.cert = ca->cert;
	ca->issuer.pubkey = X509_get0_pubkey(ca->cert);
	ca->issuer.name = ca->name;
	ca->issuer.base_url = ca->base_url;
	ca_issuing_set(&ca->cas[0], ca->name, ca->cert, ca->ocsp_cert, ca->base_url);
	ca->ncas = 1;
	if (ca_prev_load(ca, e) == -1)
		goto out;
	if (pthread_key_create(&ca->store_key, ca_thread_store_free) != 0)
		fatalx("ca: pthread_key_create failed");
	ca->store_key_ok = 1;
	if (flags & CA_OPEN_SIGNER_SERVICE) {
		/* only this command's own signer: a file's key would be refused above */
		conf_set(&ca->conf, "signer.service_certs", "yes");
		flags |= CA_OPEN_SIGNER;
	}
	if ((flags & CA_OPEN_SIGNER) &&
	    signer_spawn(&ca->conf, &ca->signer, &ca->signer_pid, e) == -1)
		goto out;
	if (ca->signer != NULL)
		signer_client_set_timeout(ca->signer, (int)ca->signer_timeout_ms);
	*out = ca;
	ca = NULL;
	rc = 0;
out:
	free(path);
	ca_close(ca);
	return rc;
}

void
ca_close(struct ca *ca)
{
	size_t i;

	if (ca == NULL)
		return;
	ca_batch_stop(ca);
	if (ca->signer != NULL) {
		/* a signer that stopped answering would not see the EOF either: kill it */
		if (ca->signer_pid > 0 && __atomic_load_n(&ca->signer->hangs, __ATOMIC_RELAXED) > 0)
			kill(ca->signer_pid, SIGKILL);
		signer_client_free(ca->signer); /* EOF ends the signer */
		ca->signer = NULL;
	}
	if (ca->signer_pid > 0)
		waitpid(ca->signer_pid, NULL, 0);
	for (i = 1; i < ca->ncas; i++) {
		X509_free(ca->cas[i].cert);
		X509_free(ca->cas[i].ocsp_cert);
		free(ca->cas[i].name);
	}
	sk_X509_pop_free(ca->chain, X509_free);
	X509_free(ca->cert);
	X509_free(ca->root);
	X509_free(ca->ocsp_cert);
	X509_free(ca->tsa_cert);
	if (ca->store_key_ok) {
		store_close(pthread_getspecific(ca->store_key)); /* the calling thread's own */
		pthread_setspecific(ca->store_key, NULL);
		pthread_key_delete(ca->store_key);
	}
	conf_free(&ca->conf);
	free(ca->datadir);
	free(ca->name);
	free(ca->root_crl_name);
	free(ca->base_url);
	free(ca->store_spec);
	free(ca);
}

int
ca_store_open(struct ca *ca, struct store **st, struct err *e)
{
	return store_open(st, ca->store_spec, e);
}

struct store *
ca_thread_store(struct ca *ca, struct err *e)
{
	struct store *st = pthread_getspecific(ca->store_key);

	if (st == NULL) {
		if (ca_store_open(ca, &st, e) == -1)
			return NULL;
		pthread_setspecific(ca->store_key, st);
	}
	return st;
}

void
ca_thread_store_close(struct ca *ca)
{
	struct store *st = pthread_getspecific(ca->store_key);

	if (st != NULL) {
		pthread_setspecific(ca->store_key, NULL);
		store_close(st);
	}
}
