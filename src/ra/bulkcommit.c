/*
 * bulkcommit: a checked bulk TSV file (bulk.c) committed as the officer (issue 13 part 5):
 * server certificates issued from each line's CSR, renewed (the old serial, a new key) or
 * revoked (reason and comment) through orgcert.c, each line its own transaction, and one
 * audit entry console.bulk for the file.  The DN of a line must be the subject the RA builds:
 * its O the organization's registered name and its CN the certificate's (the FQDN; a renewal
 * or revocation: the old certificate's CN).  Client files: revocation only — issuing and
 * renewing a client certificate needs a key the RA makes (PKCS#12) or the browser, which no
 * bulk line carries; such lines are refused with that reason.  ACME files (the acme
 * permission) make, rename or suspend External Account Bindings of the organization or revoke
 * the certificates its ACME orders got (bulk_acme_line; docs/bulk-tsv.md "ACME files"); the
 * HMAC key of each binding made goes to q->eabs, to be shown once.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ra.h"

static const char *const bulk_mode_names[RA_BULK_MODE__MAX] = {"all_or_nothing", "good_lines"};
static const char *const bulk_state_names[RA_BULK_STATE__MAX] = {"done", "checked", "bad",
								 "refused", "skipped"};

const char *
ra_bulk_mode_name(enum ra_bulk_mode m)
{
	return (unsigned)m < RA_BULK_MODE__MAX ? bulk_mode_names[m] : "error";
}

const char *
ra_bulk_state_name(enum ra_bulk_state s)
{
	return (unsigned)s < RA_BULK_STATE__MAX ? bulk_state_names[s] : "error";
}

/*
 * The value of attribute name ("CN", "O") in a normalised line DN ("CN=..,[OU=..,]O=..,L=..")
 * into out; -1 when absent or too long.  A comma separates attributes only before NAME=, so
 * ",O=" cannot occur inside a value (bulk.c).
 */
static int
bulk_dn_attr(const char *dn, const char *name, char *out, size_t outlen)
{
	char key[8];
	const char *p, *end;
	size_t n, kl;

	kl = (size_t)snprintf(key, sizeof(key), "%s=", name);
	if (strncmp(dn, key, kl) == 0)
		p = dn + kl;
	else {
		kl = (size_t)snprintf(key, sizeof(key), ",%s=", name);
		if ((p = strstr(dn, key)) == NULL)
			return -1;
		p += kl;
	}
	end = p;
	for (;;) {
		end = strchr(end, ',');
		if (end == NULL) {
			end = p + strlen(p);
			break;
		}
		/* the next attribute: ",NAME=" with NAME letters */
		{
			const char *q = end + 1;

			while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z'))
				q++;
			if (q > end + 1 && *q == '=')
				break;
		}
		end++;
	}
	n = (size_t)(end - p);
	if (n >= outlen)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/*
 * The value of attribute name in an RFC 4514 subject (ra_cert.subject): "CN=a,O=b\, c";
 * backslash escapes of one character undone.  -1 when absent or too long.
 */
static int
bulk_4514_attr(const char *s, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name), k = 0;
	const char *p = s;
	int start = 1;

	while (*p != '\0') {
		if (start && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			p += nl + 1;
			while (*p != '\0' && *p != ',') {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (k + 1 >= outlen)
					return -1;
				out[k++] = *p++;
			}
			out[k] = '\0';
			return 0;
		}
		if (*p == '\\' && p[1] != '\0')
			p += 2;
		else {
			start = *p == ',' || *p == '+';
			p++;
		}
	}
	return -1;
}

/* Copies s into out[0..n), cut at n - 1 bytes (never inside a UTF-8 character). */
static void
bulk_copy(char *out, size_t n, const char *s)
{
	size_t k = strlen(s);

	if (k >= n) {
		k = n - 1;
		while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
			k--;
	}
	memcpy(out, s, k);
	out[k] = '\0';
}

/* Sets o to REFUSED with e's code, kind and message. */
static void
bulk_refused(struct ra_bulk_outcome *o, const struct err *e)
{
	o->state = RA_BULK_REFUSED;
	o->err = e->code;
	o->kind = e->kind;
	bulk_copy(o->msg, sizeof(o->msg), e->msg);
}

/*
 * The DN of a line against what the certificate gets: O the organization's registered name,
 * CN cn (the FQDN, or the old certificate's CN).  0, or -1 with ERR_REFUSED naming the rule.
 */
static int
bulk_dn_match(const struct ra_bulk_rec *r, const struct ra_officer *of, const char *cn,
	      struct err *e)
{
	char lcn[256], lo[256];

	if (bulk_dn_attr(r->subject_dn, "CN", lcn, sizeof(lcn)) == -1 ||
	    bulk_dn_attr(r->subject_dn, "O", lo, sizeof(lo)) == -1)
		return err_set(e, ERR_REFUSED, "subject DN: CN and O are required");
	if (strcmp(lo, of->org_name) != 0)
		return err_set(e, ERR_REFUSED,
			       "subject DN: O must be the organization's registered name \"%s\"",
			       of->org_name);
	if (cn != NULL && strcasecmp(lcn, cn) != 0)
		return err_set(e, ERR_REFUSED, "subject DN: CN %s is not the certificate's CN %s",
			       lcn, cn);
	return 0;
}

/*
 * The old certificate of a renewal or revocation (the officer's organization's, of the file's
 * kind): its CN into cn, and the line's DN against it.
 */
static int
bulk_old_match(struct ca *ca, struct store *st, const struct ra_bulk_commit_req *q,
	       const struct ra_bulk_rec *r, struct err *e)
{
	const struct ra_officer *of = q->officer;
	struct ra_cert c;
	char cn[256], o[300];
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (ra_cert_get(ca, st, of->org_id, r->serial, 0, &c, e) == -1)
		goto out;
	/* a client file names client certificates only, a server or ACME file server ones
	 * (ACME's short-lived ones among them) */
	if (c.profile == NULL ||
	    (strcmp(c.profile, q->kind == RA_BULK_ACME ? "server" : ra_bulk_kind_name(q->kind)) !=
		 0 &&
	     !(strcmp(c.profile, "shortlived") == 0 &&
	       (q->kind == RA_BULK_ACME || strcmp(ra_bulk_kind_name(q->kind), "server") == 0)))) {
		err_set(e, ERR_REFUSED, "serial: %s is not a %s certificate", c.serial,
			q->kind == RA_BULK_ACME ? "server" : ra_bulk_kind_name(q->kind));
		goto out;
	}
	if (c.subject == NULL || bulk_4514_attr(c.subject, "CN", cn, sizeof(cn)) == -1) {
		err_set(e, ERR_REFUSED, "serial: %s has no CN", c.serial);
		goto out;
	}
	if (bulk_4514_attr(c.subject, "O", o, sizeof(o)) == 0 && strcmp(o, of->org_name) != 0) {
		err_set(e, ERR_REFUSED, "serial: %s is not of the organization's name", c.serial);
		goto out;
	}
	if (bulk_dn_match(r, of, cn, e) == -1)
		goto out;
	rc = 0;
out:
	ra_cert_clear(&c);
	return rc;
}

/* The ZIPs of a file's download method 2 lines, one per user administrator's address. */
struct bulk_zipset {
	struct ra_client_zip *z[RA_BULK_ZIPS_MAX];
	const struct ra_bulk_rec *first[RA_BULK_ZIPS_MAX]; /* its first line: name, address */
	char pw[RA_BULK_ZIPS_MAX][RA_CLIENT_ZIP_PW_LEN + 1];
	size_t n;
};

/* The ZIP of the address of r (made on first use); NULL (e set) when there are too many. */
static struct ra_client_zip *
bulk_zip_of(struct bulk_zipset *zs, const struct ra_bulk_rec *r, struct err *e)
{
	size_t i;

	for (i = 0; i < zs->n; i++)
		if (strcmp(zs->first[i]->admin_email, r->admin_email) == 0)
			return zs->z[i];
	if (zs->n == RA_BULK_ZIPS_MAX) {
		err_set(e, ERR_REFUSED, "zip: at most %d user administrators per file",
			RA_BULK_ZIPS_MAX);
		return NULL;
	}
	zs->first[zs->n] = r;
	zs->z[zs->n] = ra_client_zip_new(zs->pw[zs->n]);
	return zs->z[zs->n++];
}

/*
 * A client issue line: a key made here, per holder (download method 1: the holder is mailed
 * the certificate URL and, separately, the PIN URL) or into the user administrator's ZIP (2);
 * the browser (3) is not offered.  The DN's O must be the organization's name; its CN and OU
 * become the certificate's.  0 done or checked, 1 refused (e).
 */
static int
bulk_client_line(struct ca *ca, struct store *st, const struct ra_bulk_commit_req *q,
		 const struct ra_bulk_rec *r, int check_only, struct bulk_zipset *zs,
		 struct ra_bulk_outcome *o, struct err *e)
{
	struct ra_client_req cq;
	struct ra_client_out out;
	struct ra_client_zip *z = NULL;
	char cn[256], ou[256];
	const char *ous[1];

	if (r->download != 1 && r->download != 2)
		return err_set(e, ERR_REFUSED,
			       "download method: only 1 (PKCS#12 per person) and 2 (PKCS#12 all at "
			       "once) are offered; a browser enrolment (3) is not"),
		       1;
	if (bulk_dn_match(r, q->officer, NULL, e) == -1 ||
	    bulk_dn_attr(r->subject_dn, "CN", cn, sizeof(cn)) == -1)
		return 1;
	memset(&cq, 0, sizeof(cq));
	if (bulk_dn_attr(r->subject_dn, "OU", ou, sizeof(ou)) == 0) {
		ous[0] = ou;
		cq.ou = ous;
		cq.nou = 1;
	}
	cq.officer = q->officer;
	cq.delivery = r->download == 2 ? RA_CLIENT_ZIP : RA_CLIENT_PIN_MAILED;
	cq.cn = cn;
	cq.admin_name = r->admin_name;
	cq.admin_unit = r->admin_unit;
	cq.admin_email = r->admin_email;
	cq.holder_name = r->holder_name != NULL && *r->holder_name != '\0' ? r->holder_name : cn;
	cq.holder_unit = r->holder_unit;
	cq.holder_email = r->holder_email;
	cq.p12_name = r->p12_name;
	cq.pin = r->download == 2 && r->pin != NULL && *r->pin != '\0' ? r->pin : NULL;
	cq.n = q->cn;
	cq.check_only = check_only;
	if (r->download == 2 && !check_only && (z = bulk_zip_of(zs, r, e)) == NULL)
		return 1;
	if (ra_client_issue(ca, st, &cq, z, &out, e) == -1)
		return 1;
	if (!check_only)
		snprintf(o->serial, sizeof(o->serial), "%s", out.serial);
	o->state = check_only ? RA_BULK_CHECKED : RA_BULK_DONE;
	return 0;
}

/* Stores each ZIP for its user administrator (mailed) and hands the passwords out. */
static void
bulk_zips_commit(struct ca *ca, struct store *st, const struct ra_bulk_commit_req *q,
		 struct bulk_zipset *zs)
{
	struct err e;
	size_t i;

	for (i = 0; i < zs->n; i++) {
		err_clear(&e);
		if (ra_client_zip_count(zs->z[i]) == 0)
			continue;
		if (ra_client_zip_commit(ca, st, q->officer, zs->z[i], zs->first[i]->admin_name,
					 zs->first[i]->admin_email, q->cn, &e) == -1)
			log_warn("ra: bulk: the ZIP for %s was not stored: %s",
				 zs->first[i]->admin_email, e.msg);
		if (q->zips != NULL && q->zips->n < RA_BULK_ZIPS_MAX) {
			size_t k = q->zips->n++;

			snprintf(q->zips->v[k].admin_email, sizeof(q->zips->v[k].admin_email), "%s",
				 zs->first[i]->admin_email);
			q->zips->v[k].count = ra_client_zip_count(zs->z[i]);
			q->zips->v[k].stored = e.code == ERR_OK;
			if (e.code == ERR_OK)
				memcpy(q->zips->v[k].password, zs->pw[i], sizeof(zs->pw[i]));
			else
				bulk_copy(q->zips->v[k].err, sizeof(q->zips->v[k].err), e.msg);
		}
	}
}

static void
bulk_zipset_clear(struct bulk_zipset *zs)
{
	size_t i;

	for (i = 0; i < zs->n; i++)
		ra_client_zip_free(zs->z[i]);
	sodium_memzero(zs, sizeof(*zs));
}

void
ra_bulk_zips_wipe(struct ra_bulk_zips *z)
{
	if (z != NULL)
		sodium_memzero(z, sizeof(*z));
}

void
ra_bulk_eabs_free(struct ra_bulk_eabs *z)
{
	if (z == NULL)
		return;
	if (z->v != NULL)
		sodium_memzero(z->v, z->cap * sizeof(*z->v));
	free(z->v);
	sodium_memzero(z, sizeof(*z));
	free(z);
}

/* The names a create or renew line gives its binding: the FQDN first, then the dNSNames. */
static char *
bulk_acme_names(const struct ra_bulk_rec *r)
{
	struct buf b;
	char *out;
	size_t i;

	buf_init(&b, 64 * 1024);
	if (r->fqdn != NULL)
		(void)buf_printf(&b, "%s", r->fqdn);
	for (i = 0; i < r->ndns; i++)
		if (r->fqdn == NULL || strcmp(r->dns[i], r->fqdn) != 0)
			(void)buf_printf(&b, "%s%s", b.len > 0 ? "," : "", r->dns[i]);
	out = xstrdup(buf_cstr(&b) != NULL ? buf_cstr(&b) : "");
	buf_free(&b);
	return out;
}

/*
 * A suspend line's binding (column 3, its key id): the organization's, and the DN's CN one of
 * its names (when it names any), so that a key id copied onto the wrong line is refused.
 */
static int
bulk_acme_binding(struct store *st, const struct ra_officer *of, const struct ra_bulk_rec *r,
		  struct err *e)
{
	struct store_acme_eab b;
	char cn[256];
	const char *p;
	size_t n;
	int rc = -1, found = 0;

	memset(&b, 0, sizeof(b));
	if (r->account_id == NULL || strlen(r->account_id) >= STORE_ACME_KID_MAX ||
	    store_acme_eab_get(st, r->account_id, &b, e) == -1 || b.org_id != of->org_id) {
		err_clear(e);
		err_set(e, ERR_NOTFOUND, "ACME account ID: no binding with this key id in %s",
			of->org_code);
		goto out;
	}
	if (bulk_dn_attr(r->subject_dn, "CN", cn, sizeof(cn)) == -1) {
		err_set(e, ERR_REFUSED, "subject DN: CN is required");
		goto out;
	}
	for (p = b.names; p != NULL && *p != '\0'; p += n + (p[n] == ',')) {
		n = strcspn(p, ",");
		if (n == strlen(cn) && strncasecmp(p, cn, n) == 0)
			found = 1;
	}
	if (b.names != NULL && *b.names != '\0' && !found) {
		err_set(e, ERR_REFUSED, "subject DN: CN %s is not a name of binding %s", cn, b.kid);
		goto out;
	}
	rc = 0;
out:
	store_acme_eab_clear(&b);
	return rc;
}

/*
 * An ACME line (docs/bulk-tsv.md "ACME"): create a binding for the line's names, renew (the
 * binding of column 3's key id may order the line's names from now on), suspend it, or revoke
 * a certificate an ACME order of the organization got (as a server revoke line).  0 done or
 * checked, 1 refused (e).
 */
static int
bulk_acme_line(struct ca *ca, struct store *st, const struct ra_bulk_commit_req *q,
	       const struct ra_bulk_rec *r, int check_only, struct ra_bulk_outcome *o,
	       struct err *e)
{
	const struct ra_officer *of = q->officer;
	struct ra_officer ao;
	char actor[48], kid[RA_ACME_KID_TEXT], hmac[RA_ACME_EAB_KEY_TEXT], *names = NULL;
	char *detail = NULL;
	int64_t acct = 0;
	int rc = 1;

	_Static_assert(RA_ACME_KID_TEXT <= sizeof(o->kid), "a key id fits an outcome");
	snprintf(actor, sizeof(actor), "officer:%" PRId64, of->id);
	kid[0] = hmac[0] = '\0';
	switch (q->op) {
	case RA_BULK_CREATE:
		names = bulk_acme_names(r);
		if (bulk_dn_match(r, of, r->fqdn, e) == -1)
			goto out;
		if (check_only) {
			if (ra_acme_eab_names_check(st, of->org_code, names, e) == -1)
				goto out;
			break;
		}
		if (q->acme_keys == NULL) {
			err_set(e, ERR_REFUSED, "acme: ACME is not enabled (acme.enabled)");
			goto out;
		}
		if (ra_acme_eab_create(st, q->acme_keys, of->org_code, names, actor, kid, hmac,
				       e) == -1)
			goto out;
		snprintf(o->kid, sizeof(o->kid), "%s", kid);
		if (q->eabs != NULL) {
			struct ra_bulk_eab *c;

			if (q->eabs->n == q->eabs->cap) {
				size_t cap = q->eabs->cap > 0 ? q->eabs->cap * 2 : 16;
				struct ra_bulk_eab *v = xcalloc(cap, sizeof(*v));

				if (q->eabs->n > 0)
					memcpy(v, q->eabs->v, q->eabs->n * sizeof(*v));
				if (q->eabs->v != NULL)
					sodium_memzero(q->eabs->v, q->eabs->cap * sizeof(*v));
				free(q->eabs->v);
				q->eabs->v = v;
				q->eabs->cap = cap;
			}
			c = &q->eabs->v[q->eabs->n++];
			c->line = r->line;
			memcpy(c->kid, kid, sizeof(c->kid));
			memcpy(c->hmac, hmac, sizeof(c->hmac));
			bulk_copy(c->names, sizeof(c->names), names);
		}
		break;
	case RA_BULK_RENEW:
		names = bulk_acme_names(r);
		if (bulk_dn_match(r, of, r->fqdn, e) == -1 ||
		    ra_acme_eab_officer_set(st, of->org_code, r->account_id, NULL, names, NULL,
					    actor, check_only, e) == -1)
			goto out;
		snprintf(o->kid, sizeof(o->kid), "%s", r->account_id);
		break;
	case RA_BULK_SUSPEND:
		detail = xasprintf("reason=%d comment=%s", r->reason,
				   r->comment != NULL ? r->comment : "");
		if (bulk_dn_match(r, of, NULL, e) == -1 || bulk_acme_binding(st, of, r, e) == -1 ||
		    ra_acme_eab_officer_set(st, of->org_code, r->account_id, "suspended", NULL,
					    detail, actor, check_only, e) == -1)
			goto out;
		snprintf(o->kid, sizeof(o->kid), "%s", r->account_id);
		break;
	case RA_BULK_REVOKE:
		if (bulk_old_match(ca, st, q, r, e) == -1)
			goto out;
		if (store_acme_order_by_serial(st, r->serial, &acct, e) == -1) {
			if (e->code == ERR_NOTFOUND) {
				err_clear(e);
				err_set(e, ERR_REFUSED,
					"serial: %s was not issued through ACME (revoke it in a "
					"server certificate file)",
					r->serial);
			}
			goto out;
		}
		/* the certificate an ACME order of the organization got: the acme permission
		 * covers it, as the server permission covers the server certificates */
		ao = *of;
		ao.perms |= RA_PERM_SERVER;
		if (check_only) {
			struct ra_cert c;

			memset(&c, 0, sizeof(c));
			if (ra_cert_get(ca, st, of->org_id, r->serial, 0, &c, e) == -1)
				goto out;
			if (c.status == RA_CERT_REVOKED) {
				err_set(e, ERR_CONFLICT, "revoke: %s is revoked already", c.serial);
				ra_cert_clear(&c);
				goto out;
			}
			ra_cert_clear(&c);
		} else {
			/* the audit chain names the account and the binding, as revokeCert's */
			struct store_acme_account a;
			struct store_acme_eab b;

			memset(&a, 0, sizeof(a));
			memset(&b, 0, sizeof(b));
			if (store_acme_account_get(st, acct, &a, e) == -1 ||
			    (a.eab_id != 0 && store_acme_eab_get_id(st, a.eab_id, &b, e) == -1)) {
				store_acme_account_clear(&a);
				goto out;
			}
			detail =
			    xasprintf("account=%" PRId64 " eab=%s reason=%s by=officer", acct,
				      b.kid[0] != '\0' ? b.kid : "-", ca_reason_name(r->reason));
			store_acme_account_clear(&a);
			store_acme_eab_clear(&b);
			if (ra_ocert_revoke_audited(ca, st, &ao, r->serial, r->reason, r->comment,
						    "acme.cert.revoke", detail, e) == -1)
				goto out;
		}
		snprintf(o->serial, sizeof(o->serial), "%s", r->serial);
		break;
	default:
		err_set(e, ERR_REFUSED, "bulk: acme %s cannot be committed",
			ra_bulk_op_name(q->op));
		goto out;
	}
	o->state = check_only ? RA_BULK_CHECKED : RA_BULK_DONE;
	rc = 0;
out:
	sodium_memzero(hmac, sizeof(hmac));
	free(names);
	free(detail);
	return rc;
}

/*
 * One good line: checked only (check_only) or done.  0 (o DONE or CHECKED), 1 refused (o says
 * why).
 */
/*
 * An issuance or renewal line's real pass is two steps: BULK_SIGN builds, checks and signs
 * its certificate (kept in sig, nothing stored), BULK_STORE then stores that certificate in
 * the pass's one transaction.  Every other line is done in one step (BULK_ONE).
 */
enum bulk_step { BULK_ONE, BULK_SIGN, BULK_STORE };

static int
bulk_line(struct ca *ca, struct store *st, const struct ra_bulk_commit_req *q,
	  const struct ra_bulk_rec *r, int check_only, struct bulk_zipset *zs,
	  struct ra_bulk_outcome *o, enum bulk_step step, struct ca_issued *sig)
{
	struct ra_ocert_req oq;
	struct ca_issued is;
	const char **names = NULL;
	size_t i, n = 0;
	struct err e;
	int rc = 1;

	memset(&is, 0, sizeof(is));
	err_clear(&e);
	if (q->kind == RA_BULK_ACME) {
		rc = bulk_acme_line(ca, st, q, r, check_only, o, &e);
		goto out;
	}
	if (q->kind == RA_BULK_CLIENT && q->op == RA_BULK_RENEW) {
		err_set(
		    &e, ERR_REFUSED,
		    "client: renew by issuing a new certificate (issue line) and revoking the old "
		    "one (revoke line); a renewal keeps no key made here");
		goto out;
	}
	if (q->kind == RA_BULK_CLIENT && q->op == RA_BULK_ISSUE) {
		rc = bulk_client_line(ca, st, q, r, check_only, zs, o, &e);
		goto out;
	}
	if (q->op == RA_BULK_REVOKE) {
		if (bulk_old_match(ca, st, q, r, &e) == -1)
			goto out;
		if (check_only) {
			struct ra_cert c;

			memset(&c, 0, sizeof(c));
			if (ra_cert_get(ca, st, q->officer->org_id, r->serial, 0, &c, &e) == -1)
				goto out;
			if (c.status == RA_CERT_REVOKED) {
				err_set(&e, ERR_CONFLICT, "revoke: %s is revoked already",
					c.serial);
				ra_cert_clear(&c);
				goto out;
			}
			ra_cert_clear(&c);
		} else if (ra_ocert_revoke(ca, st, q->officer, r->serial, r->reason, r->comment,
					   &e) == -1)
			goto out;
		snprintf(o->serial, sizeof(o->serial), "%s", r->serial);
		o->state = check_only ? RA_BULK_CHECKED : RA_BULK_DONE;
		rc = 0;
		goto out;
	}
	if (q->op == RA_BULK_RENEW) {
		if (bulk_old_match(ca, st, q, r, &e) == -1)
			goto out;
	} else if (bulk_dn_match(r, q->officer, r->fqdn, &e) == -1)
		goto out;
	/* the names, the FQDN first: the certificate's CN */
	names = xcalloc(r->ndns + 1, sizeof(*names));
	if (r->fqdn != NULL)
		names[n++] = r->fqdn;
	for (i = 0; i < r->ndns; i++)
		if (r->fqdn == NULL || strcmp(r->dns[i], r->fqdn) != 0)
			names[n++] = r->dns[i];
	memset(&oq, 0, sizeof(oq));
	oq.kind = RA_OCERT_SERVER;
	oq.officer = q->officer;
	oq.csr = r->csr;
	oq.csrlen = r->csr_len;
	oq.csr_verified = 1; /* ra_bulk_check parsed and verified it in this request */
	oq.dns = names;
	oq.ndns = n;
	oq.admin_name = r->admin_name;
	oq.admin_unit = r->admin_unit;
	oq.admin_email = r->admin_email;
	oq.server_software = r->server_software;
	oq.replaces = q->op == RA_BULK_RENEW ? r->serial : NULL;
	oq.n = q->n;
	oq.check_only = check_only;
	oq.sign_only = step == BULK_SIGN;
	oq.presigned = step == BULK_STORE ? sig : NULL;
	if (ra_ocert_issue(ca, st, &oq, step == BULK_SIGN ? sig : &is, &e) == -1)
		goto out;
	if (step == BULK_SIGN) {
		o->state = RA_BULK_CHECKED; /* signed, not yet stored */
		rc = 0;
		goto out;
	}
	if (!check_only)
		snprintf(o->serial, sizeof(o->serial), "%s", is.serial);
	o->state = check_only ? RA_BULK_CHECKED : RA_BULK_DONE;
	rc = 0;
out:
	if (rc == 1)
		bulk_refused(o, &e);
	ca_issued_clear(&is);
	free(names);
	return rc;
}

/* The file's console.bulk audit entry, written in the lines' transaction. */
struct bulk_audit {
	const char *actor, *object, *detail;
};

static int
bulk_audit_write(struct store *st, void *arg, struct err *e)
{
	const struct bulk_audit *a = arg;

	return store_audit_append(st, a->actor, "console.bulk", a->object, a->detail, NULL, e);
}

/*
 * A pass over the lines of an issuance or renewal file by BULK_WORKERS threads, each with a
 * store connection of its own: the lines' signatures are in flight together (the signer
 * client is pipelined) and both cores build and check certificates.  The real pass writes
 * every line into one transaction (tx: ca_write joins it), committed by the caller.
 */
#define BULK_WORKERS 8

struct bulk_pass {
	struct ca *ca;
	const struct ra_bulk_commit_req *q;
	struct ra_bulk_outcome *v;
	struct ra_bulk_rec **recof;
	size_t n, next;
	int real;
	enum bulk_step step;
	struct ca_issued *sig; /* per line: BULK_SIGN's certificate, BULK_STORE's to store */
	size_t todo, did;      /* the progress callback's total and lines done, under mu */
	struct ca_tx *tx;
	pthread_mutex_t mu;
	int stop; /* all-or-nothing: a line was refused */
};

struct bulk_worker {
	pthread_t th;
	struct bulk_pass *p;
	struct store *st;
};

static void *
bulk_worker(void *arg)
{
	struct bulk_worker *w = arg;
	struct bulk_pass *p = w->p;
	struct store *st = w->st;
	size_t k;
	int r;

	util_thread_name("shomei-bulk");
	ca_tx_join(p->tx);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->next < p->n &&
		       (p->recof[p->next] == NULL || p->v[p->next].state == RA_BULK_REFUSED ||
			(p->step == BULK_STORE && p->sig[p->next].der == NULL)))
			p->next++;
		k = p->next < p->n && !p->stop ? p->next++ : p->n;
		pthread_mutex_unlock(&p->mu);
		if (k == p->n)
			break;
		r = bulk_line(p->ca, st, p->q, p->recof[k], !p->real, NULL, &p->v[k], p->step,
			      p->sig != NULL ? &p->sig[k] : NULL);
		pthread_mutex_lock(&p->mu);
		if (r == 1 && p->real && p->q->mode == RA_BULK_ALL_OR_NOTHING)
			p->stop = 1;
		if (p->q->progress != NULL)
			p->q->progress(p->q->progress_arg, p->step == BULK_STORE ? 2 : p->real,
				       ++p->did, p->todo);
		pthread_mutex_unlock(&p->mu);
	}
	ca_tx_join(NULL);
	return NULL;
}

/*
 * Runs the pass; 1 when it stopped (a refused line in the real all-or-nothing pass).  The
 * workers' connections are opened first: opening one writes (SQLite: the schema check takes
 * the write lock), which must not wait for the pass's own transaction.
 */
static int
bulk_pass_run(struct bulk_pass *p, struct err *e)
{
	struct bulk_worker w[BULK_WORKERS];
	size_t i, nw = 0, nth = 0;
	int rc = -1;

	memset(w, 0, sizeof(w));
	pthread_mutex_init(&p->mu, NULL);
	for (nw = 0; nw < BULK_WORKERS && nw < p->n; nw++) {
		w[nw].p = p;
		if (ca_store_open(p->ca, &w[nw].st, e) == -1)
			goto out;
	}
	for (i = 0; i < nw; i++)
		if (pthread_create(&w[i].th, NULL, bulk_worker, &w[i]) != 0)
			break;
	nth = i;
	if (nth == 0 && nw > 0)
		bulk_worker(&w[0]);
	for (i = 0; i < nth; i++)
		pthread_join(w[i].th, NULL);
	rc = p->stop;
out:
	for (i = 0; i < nw; i++)
		store_close(w[i].st);
	pthread_mutex_destroy(&p->mu);
	return rc;
}

int
ra_bulk_commit(struct ca *ca, struct store *st, const struct ra_bulk_commit_req *q,
	       const struct ra_bulk_result *res, struct ra_bulk_outcome **out, size_t *nout,
	       struct ra_bulk_counts *c, struct err *e)
{
	struct ra_bulk_outcome *v = NULL, *o;
	struct ra_bulk_rec **recof = NULL;
	size_t i, k, n = 0, ri = 0, ei = 0, nlines, todo, did;
	char actor[48], detail[256];
	struct bulk_zipset zs;
	struct ca_tx *tx = NULL;      /* the real pass of an issuance or renewal: one transaction */
	struct ca_issued *sig = NULL; /* its certificates, signed before they are stored */
	struct ra_officer cur;
	struct ra_bulk_commit_req qc;
	int real, r, r1, stop = 0, rc = -1;

	memset(&zs, 0, sizeof(zs));
	if (q->zips != NULL)
		memset(q->zips, 0, sizeof(*q->zips));
	*out = NULL;
	*nout = 0;
	memset(c, 0, sizeof(*c));
	if ((unsigned)q->kind >= RA_BULK_KIND__MAX || !ra_bulk_op_valid(q->kind, q->op) ||
	    (unsigned)q->mode >= RA_BULK_MODE__MAX)
		return err_set(e, ERR_REFUSED, "bulk: %s %s cannot be committed",
			       ra_bulk_kind_name(q->kind), ra_bulk_op_name(q->op));
	if (q->officer == NULL || q->officer->org_id == 0 || q->officer->role != RA_ROLE_OFFICER)
		return err_set(e, ERR_REFUSED, "bulk: an officer of an organization commits");
	/*
	 * The officer as the store has it now, not as when the file was sent (a job may wait
	 * in a queue): disabled meanwhile, or without the kind's permission, nothing is done.
	 */
	if (ra_officer_get(st, q->officer->id, &cur, e) == -1)
		return -1;
	if (!cur.active || cur.role != RA_ROLE_OFFICER || cur.org_id != q->officer->org_id ||
	    !(cur.perms & (q->kind == RA_BULK_SERVER   ? RA_PERM_SERVER
			   : q->kind == RA_BULK_CLIENT ? RA_PERM_CLIENT
						       : RA_PERM_ACME)))
		return err_set(e, ERR_REFUSED,
			       "bulk: officer %" PRId64
			       " is disabled or no longer has the %s permission: nothing was done",
			       cur.id, ra_bulk_kind_name(q->kind));
	qc = *q;
	qc.officer = &cur;
	q = &qc;
	for (i = 0; i < res->nerrs; i++)
		if (res->errs[i].line == 0 || res->errs[i].code == RA_BULK_E_FILE ||
		    res->errs[i].code == RA_BULK_E_USAGE ||
		    res->errs[i].code == RA_BULK_E_NO_DATA ||
		    (res->errs[i].code >= RA_BULK_E_HEADER_UNKNOWN &&
		     res->errs[i].code <= RA_BULK_E_HEADER_MISSING))
			return err_set(e, ERR_REFUSED, "bulk: the file was refused as a whole");
	/* one outcome per data line: the records and the bad lines, merged by line */
	nlines = res->nrecs + res->bad + 1;
	v = xcalloc(nlines, sizeof(*v));
	recof = xcalloc(nlines, sizeof(*recof));
	while (ri < res->nrecs || ei < res->nerrs) {
		if (n == nlines)
			break;
		o = &v[n];
		if (ri < res->nrecs &&
		    (ei == res->nerrs || res->recs[ri].line < res->errs[ei].line)) {
			o->line = res->recs[ri].line;
			o->state = RA_BULK_SKIPPED;
			if (res->recs[ri].subject_dn != NULL)
				bulk_copy(o->subject_dn, sizeof(o->subject_dn),
					  res->recs[ri].subject_dn);
			recof[n] = &res->recs[ri++];
		} else {
			const struct ra_bulk_error *er = &res->errs[ei];

			o->line = er->line;
			o->state = RA_BULK_BAD;
			o->code = er->code;
			o->col = er->col;
			o->column = er->column;
			snprintf(o->msg, sizeof(o->msg), "%s", er->msg);
			while (ei < res->nerrs && res->errs[ei].line == o->line)
				ei++;
		}
		n++;
	}
	for (i = 0; i < n; i++)
		if (v[i].state == RA_BULK_BAD)
			c->bad++;
	/* the credentials of one file are shown on one page: at most RA_BULK_EABS_MAX */
	for (i = 0, k = 0; q->kind == RA_BULK_ACME && q->op == RA_BULK_CREATE && i < n; i++) {
		if (recof[i] == NULL || ++k <= RA_BULK_EABS_MAX)
			continue;
		v[i].state = RA_BULK_REFUSED;
		v[i].err = ERR_REFUSED;
		snprintf(v[i].msg, sizeof(v[i].msg),
			 "acme: at most %d bindings are made by one file; send the rest in another",
			 RA_BULK_EABS_MAX);
	}
	/*
	 * Passes: 0 checks every line (always in the dry run and all-or-nothing), 1 does them
	 * (unless check_only, or all-or-nothing with a refused line).
	 */
	for (real = 0; real < 2 && !stop; real++) {
		if (real == 0 && !q->check_only && q->mode == RA_BULK_GOOD_LINES)
			continue;
		/*
		 * An issuance or renewal file's real pass is one transaction: a refused line
		 * undoes every line, so all-or-nothing needs no check pass first (the dry run
		 * ran it on these bytes).  Should the store have changed since, the lines signed
		 * before the refused one are dropped unstored (the signer's log lists them).
		 */
		if (real == 0 && !q->check_only && q->op != RA_BULK_REVOKE &&
		    q->kind == RA_BULK_SERVER)
			continue;
		if (real == 1 && q->check_only)
			break;
		if (q->mode == RA_BULK_ALL_OR_NOTHING && c->bad > 0 && real == 1)
			break;
		for (k = 0, todo = 0, did = 0; k < n; k++)
			if (recof[k] != NULL && v[k].state != RA_BULK_REFUSED)
				todo++;
		if (q->progress != NULL)
			q->progress(q->progress_arg, real, 0, todo);
		if (q->op != RA_BULK_REVOKE && q->kind == RA_BULK_SERVER) {
			struct bulk_pass p;

			memset(&p, 0, sizeof(p));
			p.ca = ca;
			p.q = q;
			p.v = v;
			p.recof = recof;
			p.n = n;
			p.real = real;
			p.todo = todo;
			/*
			 * The real pass signs every line first, then stores them all in one
			 * transaction: SQLite's write lock is not held while the signer works
			 * (every other writer of the store, a console session's touch among
			 * them, would wait for the whole file).
			 */
			p.step = real ? BULK_SIGN : BULK_ONE;
			if (real && sig == NULL)
				sig = xcalloc(n, sizeof(*sig));
			p.sig = sig;
			if ((r = bulk_pass_run(&p, e)) == -1)
				goto out;
			stop = r;
			if (real && !stop) {
				if (ca_tx_new(ca, &tx, e) == -1)
					goto out;
				p.tx = tx;
				p.step = BULK_STORE;
				p.next = 0;
				p.did = 0;
				for (k = 0, p.todo = 0; k < n; k++)
					if (sig[k].der != NULL)
						p.todo++;
				if (q->progress != NULL)
					q->progress(q->progress_arg, 2, 0, p.todo);
				if ((r = bulk_pass_run(&p, e)) == -1)
					goto out;
				stop = r;
			}
		}
		for (k = 0;
		     k < n && !stop && (q->op == RA_BULK_REVOKE || q->kind != RA_BULK_SERVER);
		     k++) {
			if (recof[k] == NULL || v[k].state == RA_BULK_REFUSED)
				continue;
			r1 = bulk_line(ca, st, q, recof[k], !real, &zs, &v[k], BULK_ONE, NULL);
			if (q->progress != NULL)
				q->progress(q->progress_arg, real, ++did, todo);
			if (r1 == 1 && real && q->mode == RA_BULK_ALL_OR_NOTHING)
				stop = 1; /* the lines done so far stay done */
		}
		if (real == 0 && q->mode == RA_BULK_ALL_OR_NOTHING)
			for (k = 0; k < n; k++)
				if (v[k].state == RA_BULK_REFUSED)
					stop = 1;
	}
	/* all-or-nothing stopped at a refused line: its transaction (and every line) undone */
	if (tx != NULL && stop) {
		ca_tx_end(tx, 0, e);
		tx = NULL;
		for (k = 0; k < n; k++)
			if (v[k].state == RA_BULK_DONE) {
				v[k].state = RA_BULK_SKIPPED;
				v[k].serial[0] = '\0';
			}
	}
	/* the ZIPs of what was done, whatever stopped the pass: their keys are only in them */
	bulk_zips_commit(ca, st, q, &zs);
	/* what was only checked on the way to the real pass and not done: skipped */
	for (k = 0; k < n; k++) {
		if (!q->check_only && v[k].state == RA_BULK_CHECKED)
			v[k].state = RA_BULK_SKIPPED;
		switch (v[k].state) {
		case RA_BULK_DONE:
			c->done++;
			break;
		case RA_BULK_CHECKED:
			c->checked++;
			break;
		case RA_BULK_REFUSED:
			c->refused++;
			break;
		case RA_BULK_SKIPPED:
			c->skipped++;
			break;
		default:
			break;
		}
	}
	c->total = n;
	*out = v;
	*nout = n;
	v = NULL;
	if (!q->check_only) {
		snprintf(actor, sizeof(actor), "officer:%" PRId64, q->officer->id);
		snprintf(detail, sizeof(detail),
			 "kind=%s op=%s mode=%s lines=%zu done=%zu bad=%zu refused=%zu "
			 "skipped=%zu",
			 ra_bulk_kind_name(q->kind), ra_bulk_op_name(q->op),
			 ra_bulk_mode_name(q->mode), n, c->done, c->bad, c->refused, c->skipped);
		if (tx != NULL) {
			/* the entry in the lines' transaction, and its one commit */
			struct bulk_audit a = {actor, q->officer->org_code, detail};

			r = ca_tx_write(tx, bulk_audit_write, &a, e);
			r = ca_tx_end(tx, r == 0, r == 0 ? e : &(struct err){0}) == -1 ? -1 : r;
			tx = NULL;
			if (r == -1) {
				/* nothing of the transaction was written */
				for (k = 0; k < n; k++)
					if ((*out)[k].state == RA_BULK_DONE) {
						(*out)[k].state = RA_BULK_SKIPPED;
						(*out)[k].serial[0] = '\0';
						c->done--;
						c->skipped++;
					}
				goto out;
			}
		} else {
			if (store_begin(st, e) == -1)
				goto out;
			if (store_audit_append(st, actor, "console.bulk", q->officer->org_code,
					       detail, NULL, e) == -1 ||
			    store_commit(st, e) == -1) {
				store_rollback(st);
				goto out; /* *out keeps the outcomes of what was done */
			}
		}
	}
	rc = 0;
out:
	if (tx != NULL)
		ca_tx_end(tx, 0, &(struct err){0});
	bulk_zipset_clear(&zs);
	if (sig != NULL)
		for (k = 0; k < n; k++)
			ca_issued_clear(&sig[k]);
	free(sig);
	free(v);
	free(recof);
	return rc;
}
