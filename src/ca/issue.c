/* issue: the issuance path — CSR, build, lint, sign, durable store + audit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "batch.h"

#define CA_ISSUE_TRIES 3 /* serial collisions are astronomically rare; re-draw a few times */

void
ca_issued_clear(struct ca_issued *o)
{
	if (o == NULL)
		return;
	free(o->der);
	free(o->subject);
	memset(o, 0, sizeof(*o));
}

static const char *const ca_refusal_names[CA_REFUSAL__MAX] = {
    [CA_REFUSAL_NONE] = "none",
    [CA_REFUSAL_CSR] = "csr",
    [CA_REFUSAL_KEY] = "key",
    [CA_REFUSAL_SUBJECT] = "subject",
    [CA_REFUSAL_LINT] = "lint",
    [CA_REFUSAL_VALIDITY] = "validity",
    [CA_REFUSAL_PROFILE] = "profile",
    [CA_REFUSAL_ORG] = "org",
    [CA_REFUSAL_NAME_POLICY] = "name-policy",
};

const char *
ca_refusal_name(int kind)
{
	if (kind < 0 || kind >= CA_REFUSAL__MAX || ca_refusal_names[kind] == NULL)
		return "none";
	return ca_refusal_names[kind];
}

/* Detail line of the audit entry: what was issued, to whom.  Caller frees. */
char *
ca_issue_detail(const struct store_cert *rec)
{
	return xasprintf("profile=%s subject=%s%s%s", rec->profile, rec->subject,
			 rec->sans ? " san=" : "", rec->sans ? rec->sans : "");
}

/*
 * The certificate's own write: its audit entry, its row, then the caller's records.  The audit
 * entry goes first: nobody waits for its answer, so on a pipelining connection (the group
 * commit's, PostgreSQL) it travels with the row's INSERT, whose row count is read at once
 * (a taken serial), in one round trip.
 */
struct issue_write {
	const struct store_cert *rec;
	const struct ca_issued *issued;
	const struct ca_issue_req *req;
	int serial_taken; /* the serial exists already: draw another */
};

static int
ca_issue_write(struct store *st, void *arg, struct err *e)
{
	struct issue_write *w = arg;
	char *detail;
	int rc;

	w->serial_taken = 0; /* set afresh by every run (ca_write_again) */
	detail = ca_issue_detail(w->rec);
	rc = store_audit_append(st, w->req->actor, "cert.issue", w->rec->serial, detail, NULL, e);
	free(detail);
	if (rc == -1)
		return -1;
	if (store_cert_insert(st, w->rec, e) == -1) {
		w->serial_taken = e->code == ERR_CONFLICT;
		return -1;
	}
	if (w->req->write_fn != NULL && w->req->write_fn(st, w->issued, w->req->arg, e) == -1)
		return -1;
	return 0;
}

/*
 * Stores the certificate (ca_issue_write) durably.  Without a caller's write_fn, or with one
 * that may run again (write_again), the write only writes to the store and sets serial_taken
 * afresh: it may run again (ca_write_again).
 */
static int
ca_issue_store(struct ca *ca, struct store *st, struct issue_write *w, struct err *e)
{
	if (w->req->write_fn == NULL || w->req->write_again)
		return ca_write_again(ca, st, ca_issue_write, w, e);
	return ca_write(ca, st, ca_issue_write, w, e);
}

/* The certificate's row: what every issuance stores (rec's serial and DER set by the caller). */
static void
ca_issue_rec(const struct ca *ca, const struct ca_issue_req *req, const struct profile *prof,
	     char *subject, const GENERAL_NAMES *sans, time_t nb, time_t na, time_t now,
	     struct store_cert *rec)
{
	rec->ca = xstrdup(req->issuing != NULL ? req->issuing->name : ca->name);
	rec->subject = subject; /* taken */
	rec->sans = x509_sans_text(sans);
	rec->profile = xstrdup(prof->name);
	rec->org_id = req->org_id;
	rec->not_before = nb;
	rec->not_after = na;
	rec->status = STORE_CERT_VALID;
	rec->reason = -1;
	rec->predecessor = req->predecessor ? xstrdup(req->predecessor) : NULL;
	rec->created = now;
}

/* The second step of a two-step issuance: stores req->presigned (a copy goes to out). */
static int
ca_issue_presigned(struct ca *ca, struct store *st, const struct ca_issue_req *req,
		   const struct profile *prof, const GENERAL_NAMES *sans, time_t now,
		   struct ca_issued *out, struct err *e)
{
	const struct ca_issued *ps = req->presigned;
	const unsigned char *p = ps->der;
	struct store_cert rec;
	struct issue_write w;
	struct err e2;
	X509 *x = NULL;
	int rc = -1;

	memset(&rec, 0, sizeof(rec));
	if (ps->der == NULL || ps->derlen == 0 ||
	    (ps->subject == NULL &&
	     ((x = d2i_X509(NULL, &p, (long)ps->derlen)) == NULL || p != ps->der + ps->derlen))) {
		err_set(e, ERR_INTERNAL, "issue: the signed certificate does not parse");
		goto out;
	}
	memcpy(rec.serial, ps->serial, sizeof(rec.serial));
	ca_issue_rec(ca, req, prof,
		     ps->subject != NULL ? xstrdup(ps->subject)
					 : x509_name_text(X509_get_subject_name(x)),
		     sans, ps->not_before, ps->not_after, now, &rec);
	rec.der = xmalloc(ps->derlen);
	memcpy(rec.der, ps->der, ps->derlen);
	rec.derlen = ps->derlen;
	memcpy(out->serial, rec.serial, sizeof(out->serial));
	out->der = rec.der;
	out->derlen = rec.derlen;
	out->not_before = rec.not_before;
	out->not_after = rec.not_after;
	memset(&w, 0, sizeof(w));
	w.rec = &rec;
	w.issued = out;
	w.req = req;
	err_clear(&e2);
	if (ca_issue_store(ca, st, &w, &e2) == -1) {
		if (e2.code == ERR_UNKNOWN)
			__atomic_add_fetch(&ca->issued_gen, 1, __ATOMIC_RELEASE);
		if (w.serial_taken)
			err_set(e, ERR_CONFLICT, "issue: serial %s was taken meanwhile",
				rec.serial);
		else
			*e = e2;
		out->der = NULL;
		memset(out, 0, sizeof(*out));
		goto out;
	}
	rec.der = NULL; /* out's now */
	__atomic_add_fetch(&ca->issued_gen, 1, __ATOMIC_RELEASE);
	rc = 0;
out:
	store_cert_clear(&rec);
	X509_free(x);
	return rc;
}

int
ca_issue(struct ca *ca, struct store *st, const struct ca_issue_req *req, struct ca_issued *out,
	 struct err *e)
{
	const struct x509_issuer *iss = req->issuing != NULL ? &req->issuing->issuer : &ca->issuer;
	const struct profile *prof;
	struct csr *own = NULL;
	const struct csr *csr = NULL;
	const GENERAL_NAMES *sans;
	struct x509_template t;
	struct store_cert rec;
	struct issue_write w;
	struct err e2;
	X509 *tbs = NULL;
	unsigned char *tbsder = NULL, *sig = NULL, *der = NULL;
	size_t tbslen = 0, siglen = 0, len = 0;
	time_t now, ca_end;
	long days;
	int tries, rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&rec, 0, sizeof(rec));
	if (ca->signer == NULL && !req->check_only) {
		err_set(e, ERR_INTERNAL, "issue: no signer attached");
		goto out;
	}
	if ((prof = profile_find(req->profile)) == NULL) {
		err_set(
		    e, ERR_REFUSED,
		    "issue: unknown profile \"%s\" (server, client, codesign, officer, ocsp, tsa)",
		    req->profile);
		err_kind(e, CA_REFUSAL_PROFILE);
		goto out;
	}
	if (prof->ca) {
		err_set(e, ERR_REFUSED, "issue: profile %s is only used by `shomei init`",
			prof->name);
		err_kind(e, CA_REFUSAL_PROFILE);
		goto out;
	}
	/* a previous issuing CA certifies nothing but its own OCSP responder (renewing it) */
	if (req->issuing != NULL && req->issuing != &ca->cas[0] &&
	    strcmp(prof->name, "ocsp") != 0) {
		err_set(e, ERR_REFUSED,
			"issue: the previous issuing CA %s issues only its OCSP responder's "
			"certificate (--profile ocsp)",
			req->issuing->name);
		err_kind(e, CA_REFUSAL_PROFILE);
		goto out;
	}
	/* the second step of two with the names given: the certificate is made, nothing to parse */
	if (req->presigned != NULL && req->presigned->subject != NULL && req->sans != NULL) {
		rc = ca_issue_presigned(ca, st, req, prof, req->sans, util_now(), out, e);
		goto out;
	}
	if (req->key != NULL) {
		/* a key the caller made: nothing to parse or verify */
		if (req->spki == NULL || req->subject == NULL) {
			err_set(e, ERR_INTERNAL, "issue: a key without its SPKI or subject");
			goto out;
		}
		if (x509_key_check(req->key, e) == -1) {
			err_kind(e, CA_REFUSAL_KEY);
			goto out;
		}
		sans = req->sans;
	} else {
		if (req->parsed != NULL)
			csr = req->parsed;
		else if (csr_parse(req->csr, req->csrlen, &own, e) == -1)
			goto out;
		else
			csr = own;
		sans = req->subject != NULL || req->sans != NULL ? req->sans : csr->sans;
	}

	now = util_now();
	if (x509_time_to_epoch(X509_get0_notAfter(iss->cert), &ca_end) == -1) {
		err_set(e, ERR_INTERNAL, "issue: CA certificate has a bad notAfter");
		goto out;
	}
	days = req->days > 0 ? req->days : prof->default_days;
	memset(&t, 0, sizeof(t));
	t.profile = prof;
	t.subject = req->subject != NULL ? req->subject : csr->subject;
	t.pubkey = req->key != NULL ? req->key : csr->pkey;
	t.spki = req->key != NULL ? req->spki : csr->spki; /* copied as is: no re-encoding */
	t.sans = sans;
	t.not_before = now - 60; /* tolerate relying parties' clock skew */
	t.not_after = x509_not_after(t.not_before, days);
	/* the profile default never outlives the CA; an explicit --days is linted as asked */
	if (req->days <= 0 && t.not_after > ca_end)
		t.not_after = ca_end;

	if (req->presigned != NULL) {
		rc = ca_issue_presigned(ca, st, req, prof, sans, now, out, e);
		goto out;
	}
	for (tries = 0; tries < CA_ISSUE_TRIES; tries++) {
		X509_free(tbs);
		OPENSSL_free(tbsder);
		free(sig);
		free(der);
		tbs = NULL;
		tbsder = der = sig = NULL;
		x509_serial_new(t.serial, &t.serial_len);
		if (x509_tbs_build(iss, &t, &tbs, e) == -1) {
			err_kind(e, CA_REFUSAL_LINT);
			goto out;
		}
		if (x509_lint(tbs, prof, iss, e) == -1)
			goto out;
		if (req->check_only) {
			rc = 0;
			goto out;
		}
		if (x509_tbs_der(tbs, &tbsder, &tbslen, e) == -1)
			goto out;
		if (signer_sign(ca->signer, SIGNER_OP_SIGN_CERT, tbsder, tbslen, &sig, &siglen,
				e) == -1)
			goto out;
		/* DER only: parsing it back would decode the key once more */
		if (x509_assemble_der(tbsder, tbslen, sig, siglen, &der, &len, e) == -1)
			goto out;
		if (req->sign_only) {
			if (x509_serial_hex(X509_get0_serialNumber(tbs), out->serial,
					    sizeof(out->serial)) == -1) {
				err_set(e, ERR_INTERNAL, "issue: cannot format serial");
				goto out;
			}
			out->der = der;
			out->derlen = len;
			out->not_before = t.not_before;
			out->not_after = t.not_after;
			out->subject = x509_name_text(X509_get_subject_name(tbs));
			der = NULL;
			rc = 0;
			goto out;
		}

		store_cert_clear(&rec);
		memset(&rec, 0, sizeof(rec));
		if (x509_serial_hex(X509_get0_serialNumber(tbs), rec.serial, sizeof(rec.serial)) ==
		    -1) {
			err_set(e, ERR_INTERNAL, "issue: cannot format serial");
			goto out;
		}
		ca_issue_rec(ca, req, prof, x509_name_text(X509_get_subject_name(tbs)), sans,
			     t.not_before, t.not_after, now, &rec);
		rec.der = der;
		rec.derlen = len;

		memcpy(out->serial, rec.serial, sizeof(out->serial));
		out->der = der;
		out->derlen = len;
		out->not_before = t.not_before;
		out->not_after = t.not_after;
		err_clear(&e2);
		w.rec = &rec;
		w.issued = out;
		w.req = req;
		w.serial_taken = 0;
		if (req->signed_fn != NULL && req->signed_fn(out, req->arg, &e2) == -1)
			rc = -1;
		else
			rc = ca_issue_store(ca, st, &w, &e2);
		rec.der = NULL; /* still owned by der */
		memset(out, 0, sizeof(*out));
		if (rc == 0)
			break;
		if (e2.code == ERR_UNKNOWN) {
			/* stored and visible, perhaps not durable: neither issued nor failed */
			__atomic_add_fetch(&ca->issued_gen, 1, __ATOMIC_RELEASE);
			err_set(e, ERR_UNKNOWN, "issue: certificate %s: %s", rec.serial, e2.msg);
			goto out;
		}
		if (!w.serial_taken) {
			*e = e2;
			goto out;
		}
		log_warn("issue: serial %s already used; drawing another", rec.serial);
	}
	if (rc != 0) {
		err_set(e, ERR_INTERNAL, "issue: no unique serial after %d tries", CA_ISSUE_TRIES);
		goto out;
	}
	memcpy(out->serial, rec.serial, sizeof(out->serial));
	out->der = der;
	out->derlen = len;
	out->not_before = t.not_before;
	out->not_after = t.not_after;
	der = NULL;
	/* OCSP answers "unknown" kept in this process are stale from here on */
	__atomic_add_fetch(&ca->issued_gen, 1, __ATOMIC_RELEASE);
	rc = 0;
out:
	if (rc != 0)
		rc = -1;
	store_cert_clear(&rec);
	csr_free(own);
	X509_free(tbs);
	OPENSSL_free(tbsder);
	free(sig);
	free(der);
	return rc;
}
