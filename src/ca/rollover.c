/*
 * rollover: the intermediate CA switch (`shomei ca rollover`), a ceremony like init's.  With
 * the root key brought from its offline place it makes a new issuing CA (its key, its
 * certificate under the root, a delegated OCSP responder of its own) and rewrites shomei.conf
 * so that the new CA issues from the next start or reload, while the one it replaces becomes
 * prev1.* (and older ones move down a slot): each previous CA keeps signing its CRLs and OCSP
 * answers under its own URLs until its last certificate expires.  Keys are used in this
 * process only, as in init.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ca.h"
#include "ca_int.h"
#include "util/timefmt.h"

/* The keys a switch moves: the current CA's become prev1's, prevN's become prevN+1's. */
static const char *const rollover_roles[] = {"ca_name", "ca.cert", "ca.key", "ocsp.cert",
					     "ocsp.key"};
#define ROLLOVER_NROLES (sizeof(rollover_roles) / sizeof(rollover_roles[0]))

/* "<name>-g2" for a first switch, "<base>-g<N+1>" after "<base>-g<N>". */
static char *
rollover_default_name(const char *cur)
{
	const char *g = strrchr(cur, '-');
	long n;

	if (g != NULL && g[1] == 'g' && util_parse_long(g + 2, 1, 999999, &n) == 0)
		return xasprintf("%.*s-g%ld", (int)(g - cur), cur, n + 1);
	return xasprintf("%s-g2", cur);
}

/* A new key of the same kind as the current issuing CA's (curve, or RSA size). */
static EVP_PKEY *
rollover_keygen_like(const EVP_PKEY *like, struct err *e)
{
	char group[64];
	EVP_PKEY *k = NULL;

	if (EVP_PKEY_get_base_id(like) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(like, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) == 1)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
	else if (EVP_PKEY_get_base_id(like) == EVP_PKEY_RSA)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)EVP_PKEY_get_bits(like));
	if (k == NULL)
		err_ssl(e, ERR_INTERNAL, "rollover: cannot make a key like the issuing CA's (%s)",
			EVP_PKEY_get0_type_name(like));
	return k;
}

/* The O= of the current issuing CA, for the new one's name. */
static void
rollover_org(const struct ca *ca, char *out, size_t n)
{
	snprintf(out, n, "shomei");
	(void)X509_NAME_get_text_by_NID(X509_get_subject_name(ca->cert), NID_organizationName, out,
					(int)n);
}

static int
rollover_check(const struct ca *ca, const char *name, EVP_PKEY *root_key, struct err *e)
{
	struct store *st = NULL;
	int used = 0, rc;

	if (!ca_name_valid(name) || ca_name_url_clash(ca, name))
		return err_set(
		    e, ERR_REFUSED,
		    "rollover: the name \"%s\" is taken (an issuing CA or the root, or "
		    "their -delta URLs: they would mix two CAs), or not 1-32 of a-z, 0-9 "
		    "and -",
		    name);
	/* a CA of that name before (its prevN.* lines gone): its records would become ours */
	rc =
	    store_open(&st, ca->store_spec, e) == -1 || store_ca_name_used(st, name, &used, e) == -1
		? -1
		: 0;
	store_close(st);
	if (rc == -1)
		return -1;
	if (used)
		return err_set(
		    e, ERR_REFUSED,
		    "rollover: the name \"%s\" is taken: the store holds certificates or "
		    "CRLs of a CA called so",
		    name);
	if (ca->ncas > CA_PREV_MAX)
		return err_set(e, ERR_REFUSED,
			       "rollover: %d previous issuing CAs are configured already; remove "
			       "prev%d.* from shomei.conf once its last certificate has expired",
			       CA_PREV_MAX, CA_PREV_MAX);
	if (X509_check_private_key(ca->root, root_key) != 1) {
		ERR_clear_error();
		return err_set(e, ERR_REFUSED,
			       "rollover: the key is not the root CA's key (it does not match "
			       "root.cert)");
	}
	return 0;
}

/* What the ceremony made, and where it put it (paths relative to the data directory). */
struct rollover_run {
	const struct ca *ca;
	const struct ca_rollover_req *req;
	EVP_PKEY *cak, *ocspk;
	X509 *cacert, *ocsp;
	char
	    *rel[4]; /* keys/issuing-N.key.pem, certs/issuing-N.pem, keys/ocsp-N..., certs/ocsp-N */
	char *path[4]; /* the same, absolute */
	int written[4];
};

enum { RR_CA_KEY, RR_CA_CERT, RR_OCSP_KEY, RR_OCSP_CERT };

static int
rollover_make(struct rollover_run *u, struct err *e)
{
	const struct ca *ca = u->ca;
	struct x509_issuer riss, ciss;
	char org[128], *cn = NULL;
	X509_NAME *n = NULL;
	int rc = -1;

	rollover_org(ca, org, sizeof(org));
	if ((u->cak = rollover_keygen_like(X509_get0_pubkey(ca->cert), e)) == NULL ||
	    (u->ocspk = rollover_keygen_like(X509_get0_pubkey(ca->cert), e)) == NULL)
		goto out;
	memset(&riss, 0, sizeof(riss));
	riss.cert = ca->root;
	riss.pubkey = X509_get0_pubkey(ca->root);
	riss.name = ca->root_crl_name; /* the root's CRL and certificate URLs, as before */
	riss.base_url = ca->base_url;
	cn = xasprintf("%s Issuing CA", u->req->name);
	n = init_name(org, cn);
	if (init_cert(&riss, u->req->root_key, "issuing-ca", n, u->cak, NULL, &u->cacert, e) == -1)
		goto out;
	X509_NAME_free(n);
	free(cn);
	memset(&ciss, 0, sizeof(ciss));
	ciss.cert = u->cacert;
	ciss.pubkey = X509_get0_pubkey(u->cacert);
	ciss.name = u->req->name;
	ciss.base_url = ca->base_url;
	cn = xasprintf("%s OCSP Responder", u->req->name);
	n = init_name(org, cn);
	if (init_cert(&ciss, u->cak, "ocsp", n, u->ocspk, NULL, &u->ocsp, e) == -1)
		goto out;
	rc = 0;
out:
	X509_NAME_free(n);
	free(cn);
	return rc;
}

/* The new files; none may exist (a name used before, a half-done earlier run). */
static int
rollover_files(struct rollover_run *u, struct err *e)
{
	const char *dd = u->ca->datadir, *nm = u->req->name;
	char *pass = NULL, *certs = NULL;
	int i, rc = -1;

	u->rel[RR_CA_KEY] = xasprintf("keys/issuing-%s.key.pem", nm);
	u->rel[RR_CA_CERT] = xasprintf("certs/issuing-%s.pem", nm);
	u->rel[RR_OCSP_KEY] = xasprintf("keys/ocsp-%s.key.pem", nm);
	u->rel[RR_OCSP_CERT] = xasprintf("certs/ocsp-%s.pem", nm);
	for (i = 0; i < 4; i++) {
		u->path[i] = xasprintf("%s/%s", dd, u->rel[i]);
		if (util_file_exists(u->path[i])) {
			err_set(e, ERR_REFUSED, "rollover: %s exists; refusing to overwrite it",
				u->path[i]);
			goto out;
		}
	}
	if (signer_passphrase(&u->ca->conf, &pass, e) == -1)
		goto out;
	certs = xasprintf("%s/certs", dd);
	if (signer_key_write(u->path[RR_CA_KEY], u->cak, pass, e) == -1)
		goto out;
	u->written[RR_CA_KEY] = 1;
	if (signer_key_write(u->path[RR_OCSP_KEY], u->ocspk, pass, e) == -1)
		goto out;
	u->written[RR_OCSP_KEY] = 1;
	if (init_write_cert(certs, u->rel[RR_CA_CERT] + strlen("certs/"), u->cacert, e) == -1)
		goto out;
	u->written[RR_CA_CERT] = 1;
	if (init_write_cert(certs, u->rel[RR_OCSP_CERT] + strlen("certs/"), u->ocsp, e) == -1)
		goto out;
	u->written[RR_OCSP_CERT] = 1;
	rc = 0;
out:
	if (pass != NULL) {
		OPENSSL_cleanse(pass, strlen(pass));
		free(pass);
	}
	free(certs);
	return rc;
}

/*
 * The store, in one transaction: the new responder's certificate, the new CA's CRL numbers
 * starting where the old CA's are (a signer's log counts CRL lines written before switches
 * existed for every CA, see signer_log_crl_floor), and the audit entry.
 */
static int
rollover_store(struct rollover_run *u, struct err *e)
{
	struct store *st = NULL;
	char *old = NULL, *new = NULL, *detail = NULL, serial[STORE_SERIAL_MAX];
	int64_t v = 0, dummy;
	int rc = -1;

	if (store_open(&st, u->ca->store_spec, e) == -1 || store_begin(st, e) == -1)
		goto out;
	old = xasprintf("crl.%s", u->ca->name);
	new = xasprintf("crl.%s", u->req->name);
	x509_serial_hex(X509_get0_serialNumber(u->cacert), serial, sizeof(serial));
	detail = xasprintf("from=%s to=%s serial=%s", u->ca->name, u->req->name, serial);
	if (store_counter_get(st, old, &v, e) == -1 ||
	    (v > 0 && store_counter_add(st, new, v, &dummy, e) == -1) ||
	    init_record(st, u->req->actor, u->req->name, u->ocsp, "ocsp", NULL, e) == -1 ||
	    store_audit_append(st, u->req->actor, "ca.rollover", u->req->name, detail, NULL, e) ==
		-1 ||
	    store_commit(st, e) == -1) {
		store_rollback(st);
		goto out;
	}
	rc = 0;
out:
	store_close(st);
	free(old);
	free(new);
	free(detail);
	return rc;
}

/* 1 when the line sets one of the keys a switch rewrites. */
static int
rollover_key_moves(const char *line)
{
	size_t n, i;

	while (*line == ' ' || *line == '\t')
		line++;
	n = strcspn(line, " \t=");
	if (n > 4 && strncmp(line, "prev", 4) == 0)
		return 1;
	if (n == strlen("root.name") && strncmp(line, "root.name", n) == 0)
		return 1;
	/* it may only name the current issuing CA, which changes */
	if (n == strlen("console.officer_ca") && strncmp(line, "console.officer_ca", n) == 0)
		return 1;
	for (i = 0; i < ROLLOVER_NROLES; i++)
		if (n == strlen(rollover_roles[i]) && strncmp(line, rollover_roles[i], n) == 0)
			return 1;
	return 0;
}

static void
rollover_conf_slot(struct buf *b, const struct conf *c, int from, int to)
{
	static const char *const dflt[] = {"shomei", "certs/issuing.pem", "keys/issuing.key.pem",
					   NULL, NULL};
	char key[48];
	const char *v;
	size_t i;

	for (i = 0; i < ROLLOVER_NROLES; i++) {
		if (from == 0)
			snprintf(key, sizeof(key), "%s", rollover_roles[i]);
		else
			snprintf(key, sizeof(key), "prev%d.%s", from, rollover_roles[i]);
		if ((v = conf_get(c, key, from == 0 ? dflt[i] : NULL)) != NULL)
			buf_printf(b, "prev%d.%s = %s\n", to, rollover_roles[i], v);
	}
}

/*
 * shomei.conf rewritten (atomically, its mode and owner kept): every line but the moving keys
 * as it was, then the new CA and the previous ones.
 */
static int
rollover_conf(struct rollover_run *u, struct err *e)
{
	const struct ca *ca = u->ca;
	char *path = ca_conf_file(ca->datadir), *line, *save = NULL, date[32];
	struct buf in, out, blk;
	struct stat sb;
	struct err we;
	size_t i;
	int rc = -1;

	err_clear(&we);
	buf_init(&in, 0);
	buf_init(&out, 64 * 1024);
	buf_init(&blk, 4096);
	if (stat(path, &sb) == -1 || util_read_file(path, 1 << 20, &in, e) == -1 ||
	    buf_cstr(&in) == NULL) {
		if (!err_is_set(e))
			err_set(e, ERR_INTERNAL, "%s: cannot read", path);
		goto out;
	}
	/* line by line, blank lines and comments kept */
	for (line = (char *)in.data; *line != '\0'; line = save) {
		if ((save = strchr(line, '\n')) != NULL)
			*save++ = '\0';
		else
			save = line + strlen(line);
		if (!rollover_key_moves(line))
			buf_printf(&out, "%s\n", line);
	}
	timefmt_rfc3339(util_now(), date, sizeof(date));
	buf_printf(&blk,
		   "\n# shomei ca rollover %s: %s issues; the CAs below answer for their "
		   "certificates until the last expires\n",
		   date, u->req->name);
	buf_printf(&blk, "ca_name = %s\nca.cert = %s\nca.key = %s\nocsp.cert = %s\nocsp.key = %s\n",
		   u->req->name, u->rel[RR_CA_CERT], u->rel[RR_CA_KEY], u->rel[RR_OCSP_CERT],
		   u->rel[RR_OCSP_KEY]);
	buf_printf(&blk, "root.name = %s\n", ca->root_crl_name);
	rollover_conf_slot(&blk, &ca->conf, 0, 1);
	for (i = 1; i < ca->ncas; i++)
		rollover_conf_slot(&blk, &ca->conf, (int)i, (int)i + 1);
	if (buf_cstr(&blk) == NULL || buf_append(&out, blk.data, blk.len) == -1 ||
	    buf_cstr(&out) == NULL)
		goto out;
	if (util_write_file(path, out.data, out.len, (int)(sb.st_mode & 0777), &we) == -1) {
		/* the store knows the new CA already: say how to finish by hand */
		err_set(
		    e, we.code,
		    "%s; the new CA's keys, certificates and store records are made: replace the "
		    "lines of these keys in %s with%s",
		    we.msg, path, (char *)blk.data);
		goto out;
	}
	if (chown(path, sb.st_uid, sb.st_gid) == -1)
		log_warn("%s: cannot give it back to uid %u gid %u", path, (unsigned)sb.st_uid,
			 (unsigned)sb.st_gid);
	rc = 0;
out:
	buf_free(&in);
	buf_free(&out);
	buf_free(&blk);
	free(path);
	return rc;
}

static void
rollover_run_clear(struct rollover_run *u, int undo)
{
	int i;

	for (i = 0; i < 4; i++) {
		if (undo && u->written[i])
			(void)unlink(u->path[i]);
		free(u->rel[i]);
		free(u->path[i]);
	}
	EVP_PKEY_free(u->cak);
	EVP_PKEY_free(u->ocspk);
	X509_free(u->cacert);
	X509_free(u->ocsp);
}

int
ca_rollover(struct ca *ca, const struct ca_rollover_req *req, struct ca_rollover_out *out,
	    struct err *e)
{
	struct ca_rollover_req r = *req;
	struct rollover_run u;
	char *name = NULL;
	int rc = -1, stored = 0;

	memset(&u, 0, sizeof(u));
	memset(out, 0, sizeof(*out));
	if (r.name == NULL)
		r.name = name = rollover_default_name(ca->name);
	u.ca = ca;
	u.req = &r;
	if (rollover_check(ca, r.name, r.root_key, e) == -1 || rollover_make(&u, e) == -1 ||
	    rollover_files(&u, e) == -1)
		goto out;
	if (rollover_store(&u, e) == -1)
		goto out;
	stored = 1;
	if (rollover_conf(&u, e) == -1)
		goto out;
	out->name = xstrdup(r.name);
	out->cert_path = xstrdup(u.path[RR_CA_CERT]);
	x509_serial_hex(X509_get0_serialNumber(u.cacert), out->serial, sizeof(out->serial));
	(void)x509_time_to_epoch(X509_get0_notAfter(u.cacert), &out->not_after);
	rc = 0;
out:
	/* files stay once the store knows them: the operator can finish by hand (the message) */
	rollover_run_clear(&u, rc == -1 && !stored);
	free(name);
	return rc;
}

void
ca_rollover_out_clear(struct ca_rollover_out *o)
{
	free(o->name);
	free(o->cert_path);
	memset(o, 0, sizeof(*o));
}
