/*
 * orgcert: the certificates an organization's RA officer issues in the console (issue 13
 * part 4): server, client and code-signing certificates from a CSR, with the user
 * administrator (利用管理者) recorded and mailed a one-time download URL; renewal with a new key,
 * the old certificate waiting for its replacement until the user administrator confirms it or
 * console.replace_days pass (then revoked, superseded); revocation with reason and comment.
 * The organization is always the officer's: another organization's certificate does not exist
 * for the caller (ra_cert_get).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "mail/mail.h"
#include "ra.h"
#include "util/utf8.h"
#include "x509/x509.h"

const char *const ra_ocert_kind_names[RA_OCERT__MAX] = {
    [RA_OCERT_SERVER] = "server",
    [RA_OCERT_CLIENT] = "client",
    [RA_OCERT_CODESIGN] = "codesign",
};

int
ra_ocert_kind_parse(const char *s, enum ra_ocert_kind *k)
{
	int i;

	for (i = 0; s != NULL && i < RA_OCERT__MAX; i++)
		if (strcmp(s, ra_ocert_kind_names[i]) == 0) {
			*k = (enum ra_ocert_kind)i;
			return 0;
		}
	return -1;
}

int
ra_ocert_kind_of_profile(const char *profile, enum ra_ocert_kind *k)
{
	if (profile != NULL && strcmp(profile, "shortlived") == 0) {
		*k = RA_OCERT_SERVER;
		return 0;
	}
	return ra_ocert_kind_parse(profile, k);
}

const char *
ra_ocert_kind_alt(enum ra_ocert_kind k)
{
	return k == RA_OCERT_SERVER ? "shortlived" : NULL;
}

unsigned
ra_ocert_perm(enum ra_ocert_kind k)
{
	return k == RA_OCERT_SERVER   ? RA_PERM_SERVER
	       : k == RA_OCERT_CLIENT ? RA_PERM_CLIENT
				      : RA_PERM_CODESIGN;
}

/* Days from shomei.conf, else def. */
static long
ocert_days(struct ca *ca, const char *key, long def)
{
	struct err e;
	long v;

	err_clear(&e);
	if (conf_get_long(&ca->conf, key, def, 1, 3650, &v, &e) == -1)
		return def;
	return v;
}

/* A text field: at most max characters of UTF-8 without control characters ("" allowed). */
static int
ocert_text_ok(const char *s, long max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n, i = 0;
	long cp;

	if (s == NULL)
		return 1;
	n = strlen(s);
	if (n > 4 * (size_t)max || !utf8_valid(u, n) || utf8_count(u, n) > max)
		return 0;
	while (i < n)
		if ((cp = utf8_next(u, n, &i)) < 0 || utf8_is_control(cp))
			return 0;
	return 1;
}

/* The user administrator's and holder's fields, each rule naming the field. */
static int
ocert_fields_check(const struct ra_ocert_req *q, struct err *e)
{
	if (q->admin_email == NULL || !mail_addr_valid(q->admin_email))
		return err_set(e, ERR_REFUSED, "user administrator e-mail: not a valid address");
	if (!ocert_text_ok(q->admin_name, 64))
		return err_set(e, ERR_REFUSED, "user administrator name: at most 64 characters");
	if (!ocert_text_ok(q->admin_unit, 64))
		return err_set(e, ERR_REFUSED, "user administrator unit: at most 64 characters");
	if (!ocert_text_ok(q->server_software, 128))
		return err_set(e, ERR_REFUSED, "server software: at most 128 characters");
	if (q->kind == RA_OCERT_SERVER && (q->server_software == NULL || *q->server_software == 0))
		return err_set(e, ERR_REFUSED,
			       "server software: required for a server certificate");
	if (!ocert_text_ok(q->holder_name, 64) || !ocert_text_ok(q->holder_unit, 64))
		return err_set(e, ERR_REFUSED, "holder: name and unit at most 64 characters");
	if (q->holder_email != NULL && *q->holder_email != '\0' &&
	    !mail_addr_valid(q->holder_email))
		return err_set(e, ERR_REFUSED, "holder e-mail: not a valid address");
	return 0;
}

/* What the certificate's transaction writes besides the certificate. */
struct ocert_tx {
	const struct ra_ocert_req *q;
	struct ca *ca;
	const char *old_serial; /* a renewal: the certificate it replaces */
	char dl[RA_TOKEN_TEXT];
	time_t now;
};

static int
ocert_write(struct store *st, const struct ca_issued *is, void *arg, struct err *e)
{
	struct ocert_tx *t = arg;
	const struct ra_ocert_req *q = t->q;
	struct store_certadmin a, old;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	struct err e2;
	int r;

	memset(&a, 0, sizeof(a));
	snprintf(a.serial, sizeof(a.serial), "%s", is->serial);
	a.org_id = q->officer->org_id;
	a.officer_id = q->officer->id;
	a.kind = (char *)ra_ocert_kind_names[q->kind];
	a.admin_name = (char *)q->admin_name;
	a.admin_unit = (char *)q->admin_unit;
	a.admin_email = (char *)q->admin_email;
	a.server_software = (char *)q->server_software;
	a.holder_name = (char *)q->holder_name;
	a.holder_unit = (char *)q->holder_unit;
	a.holder_email = (char *)q->holder_email;
	a.replaces = (char *)t->old_serial;
	a.created = t->now;
	if (q->key == NULL) {
		a.dl_expires = t->now + 86400L * ocert_days(t->ca, "console.download_days", 14);
		ra_token_new(raw, t->dl);
		ra_token_hash(raw, h);
		sodium_memzero(raw, sizeof(raw));
	}
	if (store_certadmin_add(st, &a, q->key == NULL ? h : NULL, e) == -1)
		return -1;
	if (t->old_serial != NULL) {
		time_t due = t->now + 86400L * ocert_days(t->ca, "console.replace_days", 14);

		if ((r = store_certadmin_wait(st, t->old_serial, due, e)) == -1)
			return -1;
		if (r == 0) {
			/* no record yet (issued elsewhere), or renewed before */
			err_clear(&e2);
			if (store_certadmin_get(st, t->old_serial, &old, &e2) == 0) {
				store_certadmin_clear(&old);
				return err_set(e, ERR_CONFLICT,
					       "renew: %s has been renewed already", t->old_serial);
			}
			if (e2.code != ERR_NOTFOUND) {
				*e = e2;
				return -1;
			}
			memset(&old, 0, sizeof(old));
			snprintf(old.serial, sizeof(old.serial), "%s", t->old_serial);
			old.org_id = a.org_id;
			old.officer_id = a.officer_id;
			old.kind = a.kind;
			old.admin_email = a.admin_email;
			old.replace_state = "waiting";
			old.replace_due = due;
			old.created = t->now;
			if (store_certadmin_add(st, &old, NULL, e) == -1)
				return -1;
		}
	}
	a.dl_used = 0;
	if (q->key == NULL && q->n != NULL && q->n->ready != NULL &&
	    q->n->ready(q->n->arg, st, &a, t->dl, e) == -1)
		return -1;
	if (q->write_fn != NULL && q->write_fn(st, is, q->arg, e) == -1)
		return -1;
	return 0;
}

/* signed_fn: the caller's (a key made here: its PKCS#12), with the caller's argument. */
static int
ocert_signed(const struct ca_issued *is, void *arg, struct err *e)
{
	const struct ocert_tx *t = arg;

	return t->q->signed_fn(is, t->q->arg, e);
}

/* The CN of a certificate's subject (caller frees), or NULL. */
static char *
ocert_cn(X509 *x)
{
	X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
	unsigned char *u = NULL;
	char *out;
	int len;

	if (i < 0 || (len = ASN1_STRING_to_UTF8(
			  &u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)))) < 0)
		return NULL;
	out = xstrndup((const char *)u, (size_t)len);
	OPENSSL_free(u);
	return out;
}

/*
 * A renewal's old certificate: the organization's, valid, of the same kind, and another key
 * than the CSR's.  *cn gets its CN (the new certificate keeps the subject).
 */
static int
ocert_renew_check(struct ca *ca, struct store *st, const struct ra_ocert_req *q,
		  char serial[STORE_SERIAL_MAX], char **cn, struct err *e)
{
	struct ra_cert old;
	struct csr *csr = NULL;
	const unsigned char *p;
	X509 *x = NULL;
	unsigned char *a = NULL, *b = NULL;
	int la, lb, rc = -1;

	memset(&old, 0, sizeof(old));
	*cn = NULL;
	if (ra_cert_get(ca, st, q->officer->org_id, q->replaces, RA_CERT_WITH_DER, &old, e) == -1)
		goto out;
	snprintf(serial, STORE_SERIAL_MAX, "%s", old.serial);
	if (old.status != RA_CERT_VALID) {
		err_set(e, ERR_REFUSED, "renew: %s is %s, not valid", old.serial,
			old.status == RA_CERT_REVOKED ? "revoked" : "expired");
		goto out;
	}
	if (strcmp(old.profile, ra_ocert_kind_names[q->kind]) != 0) {
		err_set(e, ERR_REFUSED, "renew: %s is a %s certificate, not a %s one", old.serial,
			old.profile, ra_ocert_kind_names[q->kind]);
		goto out;
	}
	p = old.der;
	if ((x = d2i_X509(NULL, &p, (long)old.derlen)) == NULL) {
		err_set(e, ERR_INTERNAL, "renew: %s does not parse", old.serial);
		goto out;
	}
	if (csr_parse(q->csr, q->csrlen, &csr, e) == -1)
		goto out;
	la = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &a);
	lb = i2d_X509_PUBKEY(csr->spki, &b);
	if (la > 0 && la == lb && memcmp(a, b, (size_t)la) == 0) {
		err_set(e, ERR_REFUSED,
			"renew: the CSR has the key of %s; a renewal needs a new key pair",
			old.serial);
		err_kind(e, CA_REFUSAL_CSR);
		goto out;
	}
	*cn = ocert_cn(x);
	rc = 0;
out:
	OPENSSL_free(a);
	OPENSSL_free(b);
	csr_free(csr);
	X509_free(x);
	ra_cert_clear(&old);
	return rc;
}

int
ra_ocert_issue(struct ca *ca, struct store *st, const struct ra_ocert_req *q, struct ca_issued *out,
	       struct err *e)
{
	struct ra_issue_req r;
	struct ocert_tx t;
	char actor[48], old[STORE_SERIAL_MAX], *cn = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&t, 0, sizeof(t));
	if (q->kind >= RA_OCERT__MAX || q->officer == NULL || q->officer->org_id == 0)
		return err_set(e, ERR_REFUSED, "issue: an officer of an organization applies");
	if (q->key == NULL && (q->csr == NULL || q->csrlen == 0))
		return err_set(e, ERR_REFUSED, "CSR: required");
	if (q->key != NULL && (q->kind != RA_OCERT_CLIENT || q->replaces != NULL || q->csr != NULL))
		return err_set(e, ERR_REFUSED,
			       "issue: a key made here is for a new client certificate");
	if (q->key != NULL && (q->cn == NULL || *q->cn == '\0'))
		return err_set(e, ERR_REFUSED, "holder: a name (the certificate's CN) is required");
	if (ocert_fields_check(q, e) == -1)
		return -1;
	if (q->replaces != NULL && ocert_renew_check(ca, st, q, old, &cn, e) == -1)
		goto out;
	snprintf(actor, sizeof(actor), "officer:%" PRId64, q->officer->id);
	t.q = q;
	t.ca = ca;
	t.old_serial = q->replaces != NULL ? old : NULL;
	t.now = util_now();
	memset(&r, 0, sizeof(r));
	r.profile = ra_ocert_kind_names[q->kind];
	r.org_code = q->officer->org_code;
	r.csr = q->csr;
	r.csrlen = q->csrlen;
	if (q->key != NULL) {
		r.key = q->key->key;
		r.spki = q->key->spki;
		r.names_given = 1;
		r.ou = q->ou;
		r.nou = q->nou;
		r.signed_fn = q->signed_fn != NULL ? ocert_signed : NULL;
	}
	r.csr_verified = q->csr_verified;
	r.dns = q->dns;
	r.ndns = q->ndns;
	r.names_given = q->ndns > 0 || q->key != NULL;
	r.cn = q->key != NULL ? q->cn : cn;
	r.email = q->kind != RA_OCERT_SERVER && q->holder_email != NULL && *q->holder_email != '\0'
		      ? q->holder_email
		      : NULL;
	r.actor = actor;
	r.predecessor = t.old_serial;
	r.check_only = q->check_only;
	r.sign_only = q->sign_only;
	r.presigned = q->presigned;
	r.write_fn = ocert_write;
	r.arg = &t;
	if (ra_issue(ca, st, &r, out, e) == -1)
		goto out;
	rc = 0;
out:
	sodium_memzero(t.dl, sizeof(t.dl));
	free(cn);
	return rc;
}

/* ---- the user administrator's one-time download URL ---- */

void
ra_ocert_view_clear(struct ra_ocert_view *v)
{
	if (v == NULL)
		return;
	store_certadmin_clear(&v->a);
	ra_cert_clear(&v->cert);
	memset(v, 0, sizeof(*v));
}

/* The record of a download URL's secret, and its certificate (with DER). */
static int
ocert_by_token(struct ca *ca, struct store *st, const char *token, struct ra_ocert_view *v,
	       enum ra_ocert_dl *res, struct err *e)
{
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	struct err e2;

	memset(v, 0, sizeof(*v));
	*res = RA_OCERT_DL_UNKNOWN;
	if (token == NULL || ra_token_decode(token, raw) == -1)
		return 0;
	ra_token_hash(raw, h);
	sodium_memzero(raw, sizeof(raw));
	err_clear(&e2);
	if (store_certadmin_by_dl(st, h, &v->a, &e2) == -1) {
		if (e2.code == ERR_NOTFOUND)
			return 0;
		*e = e2;
		return -1;
	}
	if (ra_cert_get(ca, st, v->a.org_id, v->a.serial, RA_CERT_WITH_DER, &v->cert, e) == -1)
		return -1;
	*res = v->a.dl_expires < util_now() ? RA_OCERT_DL_EXPIRED
	       : v->a.dl_used != 0	    ? RA_OCERT_DL_USED
					    : RA_OCERT_DL_OK;
	return 0;
}

int
ra_ocert_dl_peek(struct ca *ca, struct store *st, const char *token, struct ra_ocert_view *v,
		 enum ra_ocert_dl *res, struct err *e)
{
	return ocert_by_token(ca, st, token, v, res, e);
}

int
ra_ocert_dl_take(struct ca *ca, struct store *st, const char *token, struct ra_ocert_view *v,
		 enum ra_ocert_dl *res, struct err *e)
{
	char detail[64];
	int r;

	if (ocert_by_token(ca, st, token, v, res, e) == -1)
		return -1;
	if (*res != RA_OCERT_DL_OK)
		return 0;
	if (store_begin(st, e) == -1)
		return -1;
	snprintf(detail, sizeof(detail), "kind=%s", v->a.kind);
	if ((r = store_certadmin_dl_use(st, v->a.serial, util_now(), e)) == -1 ||
	    (r == 1 && store_audit_append(st, "admin:download", "console.download", v->a.serial,
					  detail, NULL, e) == -1) ||
	    store_commit(st, e) == -1) {
		store_rollback(st);
		return -1;
	}
	if (r == 0)
		*res = RA_OCERT_DL_USED; /* a twin took it first */
	return 0;
}

/*
 * Revokes old (superseded) and marks its record replaced, in the caller's transaction: only
 * while its renewal is still valid (a revoked or expired renewal replaces nothing; 0 then).
 */
static int
ocert_supersede_tx(struct ca *ca, struct store *st, const char *old, const char *actor, time_t now,
		   struct err *e)
{
	struct err e2;
	int r;

	if ((r = store_certadmin_replaced(st, old, now, e)) != 1)
		return r;
	err_clear(&e2);
	if (ca_revoke(ca, st, old, CA_REASON_SUPERSEDED, 0, actor, &e2) == -1 &&
	    e2.code != ERR_CONFLICT) {
		*e = e2;
		return -1;
	}
	return 1;
}

int
ra_ocert_confirm(struct ca *ca, struct store *st, const char *token, enum ra_ocert_dl *res,
		 char old[STORE_SERIAL_MAX], struct err *e)
{
	struct ra_ocert_view v;
	struct err e2;
	int r, rc = -1;

	old[0] = '\0';
	if (ocert_by_token(ca, st, token, &v, res, e) == -1)
		goto out;
	rc = 0;
	if (*res == RA_OCERT_DL_UNKNOWN || *res == RA_OCERT_DL_EXPIRED)
		goto out;
	*res = RA_OCERT_DL_OK;
	if (v.a.replaces == NULL) {
		*res = RA_OCERT_DL_NOT_RENEWAL;
		goto out;
	}
	rc = -1;
	if (store_begin(st, e) == -1)
		goto out;
	if ((r = ocert_supersede_tx(ca, st, v.a.replaces, "admin:confirm", util_now(), e)) == -1 ||
	    store_commit(st, e) == -1) {
		store_rollback(st);
		goto out;
	}
	if (r == 0)
		*res = RA_OCERT_DL_USED; /* replaced already */
	else
		snprintf(old, STORE_SERIAL_MAX, "%s", v.a.replaces);
	err_clear(&e2);
	if (r == 1 && ca_after_revoke(ca, st, v.a.replaces, "admin:confirm", &e2) == -1)
		log_warn("ra: CRL after the replacement of %s: %s", v.a.replaces, e2.msg);
	rc = 0;
out:
	ra_ocert_view_clear(&v);
	return rc;
}

/* ---- revocation by the officer, and the schedule ---- */

/*
 * The certificate old waits no more for its replacement when no renewal of it is valid any
 * more (audited console.replace_cancel by actor), in the caller's transaction: it stays
 * valid.  1 when it changed, 0 when not (not waiting, or a renewal is valid).
 */
static int
ocert_unwait_tx(struct store *st, const char *old, const char *actor, time_t now, struct err *e)
{
	int r;

	if ((r = store_certadmin_unwait(st, old, now, e)) == 1 &&
	    store_audit_append(st, actor, "console.replace_cancel", old,
			       "the renewal is revoked or expired", NULL, e) == -1)
		return -1;
	return r;
}

/* After the revocation of serial in the caller's transaction: what it renewed waits no more. */
static int
ocert_revoked_tx(struct store *st, const char *serial, const char *actor, struct err *e)
{
	struct store_certadmin a;
	struct err e2;
	int rc = 0;

	memset(&a, 0, sizeof(a));
	err_clear(&e2);
	if (store_certadmin_get(st, serial, &a, &e2) == -1) {
		if (e2.code == ERR_NOTFOUND)
			return 0;
		*e = e2;
		return -1;
	}
	if (a.replaces != NULL && ocert_unwait_tx(st, a.replaces, actor, util_now(), e) == -1)
		rc = -1;
	store_certadmin_clear(&a);
	return rc;
}

/* An officer's reason (0, 1, 3, 4 or 5) and comment (at most 128, required for 0). */
static int
ocert_revoke_args(int reason, const char *comment, struct err *e)
{
	if (reason != CA_REASON_UNSPECIFIED && reason != CA_REASON_KEY_COMPROMISE &&
	    reason != CA_REASON_AFFILIATION_CHANGED && reason != CA_REASON_SUPERSEDED &&
	    reason != CA_REASON_CESSATION_OF_OPERATION)
		return err_set(e, ERR_REFUSED, "reason: not one of 0, 1, 3, 4, 5");
	if (!ocert_text_ok(comment, 128))
		return err_set(e, ERR_REFUSED, "comment: at most 128 characters");
	if (reason == CA_REASON_UNSPECIFIED && (comment == NULL || *comment == '\0'))
		return err_set(e, ERR_REFUSED, "comment: required when the reason is unspecified");
	return 0;
}

int
ra_ocert_revoke(struct ca *ca, struct store *st, const struct ra_officer *o, const char *serial,
		int reason, const char *comment, struct err *e)
{
	return ra_ocert_revoke_audited(ca, st, o, serial, reason, comment, NULL, NULL, e);
}

int
ra_ocert_revoke_audited(struct ca *ca, struct store *st, const struct ra_officer *o,
			const char *serial, int reason, const char *comment, const char *action,
			const char *adetail, struct err *e)
{
	struct ra_cert c;
	enum ra_ocert_kind k;
	struct err e2;
	char actor[48], detail[600];
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (ocert_revoke_args(reason, comment, e) == -1)
		return -1;
	if (ra_cert_get(ca, st, o->org_id, serial, 0, &c, e) == -1)
		return -1;
	/* a kind the officer may not revoke is as unknown as another organization's */
	if (ra_ocert_kind_parse(c.profile, &k) == -1 || (o->perms & ra_ocert_perm(k)) == 0) {
		err_set(e, ERR_NOTFOUND, "cert: no certificate %s in this organization", c.serial);
		goto out;
	}
	if (c.status == RA_CERT_REVOKED) {
		err_set(e, ERR_CONFLICT, "revoke: %s is revoked already", c.serial);
		goto out;
	}
	snprintf(actor, sizeof(actor), "officer:%" PRId64, o->id);
	log_escape(detail, sizeof(detail), comment != NULL ? comment : "",
		   comment != NULL ? strlen(comment) : 0);
	if (store_begin(st, e) == -1)
		goto out;
	if (ca_revoke(ca, st, c.serial, reason, 0, actor, e) == -1 ||
	    store_audit_append(st, actor, "console.revoke", c.serial, detail, NULL, e) == -1 ||
	    (action != NULL && store_audit_append(st, actor, action, c.serial,
						  adetail != NULL ? adetail : "", NULL, e) == -1) ||
	    ocert_revoked_tx(st, c.serial, actor, e) == -1 || store_commit(st, e) == -1) {
		store_rollback(st);
		goto out;
	}
	err_clear(&e2);
	if (ca_after_revoke(ca, st, c.serial, actor, &e2) == -1)
		log_warn("ra: CRL after revoking %s: %s", c.serial, e2.msg);
	rc = 0;
out:
	ra_cert_clear(&c);
	return rc;
}

int
ra_ocert_revoke_set(struct ca *ca, struct store *st, const struct ra_officer *o,
		    enum ra_ocert_kind k, const struct ra_cert_filter *f, struct ra_cert **out,
		    size_t *nout, char digest[RA_OCERT_SET_DIGEST], struct err *e)
{
	struct ra_cert_filter g;
	struct ra_cert *v = NULL;
	EVP_MD_CTX *md = NULL;
	unsigned char h[32];
	unsigned int hl = 0;
	size_t n = 0, i, k2 = 0;
	int rc = -1;

	*out = NULL;
	*nout = 0;
	digest[0] = '\0';
	if (o == NULL || o->role != RA_ROLE_OFFICER || o->org_id <= 0 ||
	    (unsigned)k >= RA_OCERT__MAX)
		return err_set(e, ERR_REFUSED, "revoke: an officer of an organization revokes");
	if ((o->perms & ra_ocert_perm(k)) == 0)
		return err_set(e, ERR_REFUSED, "revoke: the officer has no %s permission",
			       ra_ocert_kind_names[k]);
	g = *f;
	g.profile = ra_ocert_kind_names[k];   /* the kind the officer may revoke, nothing else */
	g.profile_alt = ra_ocert_kind_alt(k); /* a server officer's: ACME's shortlived too */
	g.limit = 0;
	g.offset = 0;
	if (ra_cert_list(ca, st, o->org_id, &g, &v, &n, e) == -1)
		goto out;
	/* the revoked ones are not revoked again: the set is the others, in the list's order */
	for (i = 0; i < n; i++) {
		if (v[i].status == RA_CERT_REVOKED) {
			ra_cert_clear(&v[i]);
			continue;
		}
		if (k2 != i) {
			v[k2] = v[i];
			memset(&v[i], 0, sizeof(v[i]));
		}
		k2++;
	}
	n = k2;
	if (n > RA_OCERT_REVOKE_MAX) {
		err_set(e, ERR_REFUSED,
			"revoke: the search result has %zu certificates, more than %d at once; "
			"narrow the search",
			n, RA_OCERT_REVOKE_MAX);
		goto out;
	}
	if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		fatalx("ra: SHA-256 failed");
	for (i = 0; i < n; i++)
		if (EVP_DigestUpdate(md, v[i].serial, strlen(v[i].serial) + 1) != 1)
			fatalx("ra: SHA-256 failed");
	if (EVP_DigestFinal_ex(md, h, &hl) != 1 || hl != 32)
		fatalx("ra: SHA-256 failed");
	for (i = 0; i < 32; i++)
		snprintf(digest + 2 * i, 3, "%02x", h[i]);
	*out = v;
	*nout = n;
	v = NULL;
	n = 0;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	ra_cert_list_free(v, n);
	return rc;
}

int
ra_ocert_revoke_many(struct ca *ca, struct store *st, const struct ra_officer *o,
		     enum ra_ocert_kind k, const struct ra_cert_filter *f, const char *digest,
		     int reason, const char *comment, size_t *revoked, struct err *e)
{
	struct ra_cert *v = NULL;
	char now[RA_OCERT_SET_DIGEST], actor[48], esc[400], detail[600];
	size_t n = 0, i;
	struct err e2;
	int rc = -1;

	*revoked = 0;
	if (ocert_revoke_args(reason, comment, e) == -1)
		return -1;
	if (ra_ocert_revoke_set(ca, st, o, k, f, &v, &n, now, e) == -1)
		return -1;
	if (digest == NULL || strcmp(digest, now) != 0) {
		err_set(e, ERR_CONFLICT,
			"revoke: the search result changed since it was shown (%zu certificates "
			"now); nothing was revoked",
			n);
		goto out;
	}
	if (n == 0) {
		err_set(e, ERR_CONFLICT, "revoke: the search result has no certificate to revoke");
		goto out;
	}
	snprintf(actor, sizeof(actor), "officer:%" PRId64, o->id);
	log_escape(esc, sizeof(esc), comment != NULL ? comment : "",
		   comment != NULL ? strlen(comment) : 0);
	snprintf(detail, sizeof(detail), "bulk=%zu %s", n, esc);
	/* one transaction: every certificate of the set is revoked, or none */
	if (store_begin(st, e) == -1)
		goto out;
	for (i = 0; i < n; i++)
		if (ca_revoke(ca, st, v[i].serial, reason, 0, actor, e) == -1 ||
		    store_audit_append(st, actor, "console.revoke", v[i].serial, detail, NULL, e) ==
			-1 ||
		    ocert_revoked_tx(st, v[i].serial, actor, e) == -1) {
			store_rollback(st);
			goto out;
		}
	if (store_commit(st, e) == -1) {
		store_rollback(st);
		goto out;
	}
	*revoked = n;
	err_clear(&e2);
	if (ca_after_revoke(ca, st, NULL, actor, &e2) == -1)
		log_warn("ra: CRL after revoking %zu certificates: %s", n, e2.msg);
	rc = 0;
out:
	ra_cert_list_free(v, n);
	return rc;
}

int
ra_ocert_replace_due(struct ca *ca, struct store *st, time_t now, const struct ra_ocert_notify *n,
		     size_t *revoked, size_t *reminded, struct err *e)
{
	char(*v)[STORE_SERIAL_MAX] = NULL;
	struct store_certadmin a;
	size_t k = 0, i;
	long before = 86400L * ocert_days(ca, "console.replace_remind_days", 3);
	struct err e2;
	int r, rc = -1;

	*revoked = *reminded = 0;
	/*
	 * first, what waits for a renewal revoked (elsewhere: the CLI, the portal) or expired
	 * since waits no more: never reminded, never revoked for it
	 */
	if (store_certadmin_wait_orphans(st, now, 256, &v, &k, e) == -1)
		return -1;
	for (i = 0; i < k; i++) {
		if (store_begin(st, e) == -1)
			goto out;
		if ((r = ocert_unwait_tx(st, v[i], "console:schedule", now, e)) == -1 ||
		    store_commit(st, e) == -1) {
			store_rollback(st);
			goto out;
		}
		if (r == 1)
			log_info("ra: %s waits no more: its renewal is revoked or expired", v[i]);
	}
	free(v);
	v = NULL;
	/* the reminder, console.replace_remind_days before the revocation */
	if (store_certadmin_remind_due(st, now + before, 256, &v, &k, e) == -1)
		return -1;
	for (i = 0; i < k; i++) {
		memset(&a, 0, sizeof(a));
		if (store_begin(st, e) == -1)
			goto out;
		if ((r = store_certadmin_reminded(st, v[i], now, e)) == -1 ||
		    (r == 1 && store_certadmin_get(st, v[i], &a, e) == -1) ||
		    (r == 1 && n != NULL && n->remind != NULL &&
		     n->remind(n->arg, st, &a, e) == -1) ||
		    store_commit(st, e) == -1) {
			store_certadmin_clear(&a);
			store_rollback(st);
			goto out;
		}
		store_certadmin_clear(&a);
		*reminded += (size_t)r;
	}
	free(v);
	v = NULL;
	if (store_certadmin_waiting_due(st, now, 256, &v, &k, e) == -1)
		return -1;
	for (i = 0; i < k; i++) {
		if (store_begin(st, e) == -1)
			goto out;
		if ((r = ocert_supersede_tx(ca, st, v[i], "console:schedule", now, e)) == -1 ||
		    store_commit(st, e) == -1) {
			store_rollback(st);
			goto out;
		}
		*revoked += (size_t)r;
	}
	err_clear(&e2);
	if (*revoked > 0 && ca_after_revoke(ca, st, NULL, "console:schedule", &e2) == -1)
		log_warn("ra: CRL after replacements: %s", e2.msg);
	rc = 0;
out:
	free(v);
	return rc;
}

/* One expiry reminder (bits: what it marks) in its own transaction; *sent 1 when it went. */
static int
ocert_expiry_one(struct store *st, const struct store_expiring *x, int bits, int days,
		 const struct ra_ocert_notify *n, int *sent, struct err *e)
{
	struct store_certadmin a;
	char detail[32];
	int r;

	*sent = 0;
	memset(&a, 0, sizeof(a));
	if (store_begin(st, e) == -1)
		return -1;
	snprintf(detail, sizeof(detail), "days=%d", days);
	if ((r = store_certadmin_expiry_mark(st, x->serial, bits, e)) == -1 ||
	    (r == 1 && store_certadmin_get(st, x->serial, &a, e) == -1) ||
	    (r == 1 && n != NULL && n->expiring != NULL &&
	     n->expiring(n->arg, st, &a, x->not_after, days, e) == -1) ||
	    (r == 1 && store_audit_append(st, "console:schedule", "console.expiry_mail", x->serial,
					  detail, NULL, e) == -1) ||
	    store_commit(st, e) == -1) {
		store_certadmin_clear(&a);
		store_rollback(st);
		return -1;
	}
	store_certadmin_clear(&a);
	*sent = r;
	return 0;
}

int
ra_ocert_expiry_due(struct store *st, time_t now, const struct ra_ocert_notify *n, size_t *count,
		    struct err *e)
{
	/* the 7-day reminder first: a certificate inside 7 days gets that one only */
	static const struct {
		int days, bit, marks;
	} pass[] = {{7, 2, 3}, {30, 1, 1}};
	struct store_expiring *v = NULL;
	size_t k, i, p;
	int sent;

	*count = 0;
	for (p = 0; p < sizeof(pass) / sizeof(pass[0]); p++) {
		if (store_certadmin_expiring(st, now, now + 86400L * pass[p].days, pass[p].bit, 512,
					     &v, &k, e) == -1)
			return -1;
		for (i = 0; i < k; i++) {
			if (ocert_expiry_one(st, &v[i], pass[p].marks, pass[p].days, n, &sent, e) ==
			    -1) {
				free(v);
				return -1;
			}
			*count += (size_t)sent;
		}
		free(v);
		v = NULL;
	}
	return 0;
}
