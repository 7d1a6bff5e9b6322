/*
 * rootcrl: the root CA's CRL, which says whether an issuing CA certificate is revoked.  The
 * root key is offline, so this runs only where the key is brought for a ceremony: `shomei
 * init` (the first, empty CRL) and `shomei ca root-crl --root-key FILE` (re-signed before
 * its nextUpdate, or revoking an issuing CA).  The CRL is stored with the issuing CA's under
 * the name "<ca>-root" and served at the URL the issuing CA certificate's CDP names.
 *
 * The previous root CRL is the state: its entries are carried into the next one, so nothing
 * but the CRLs themselves records which issuing CAs the root has revoked.  A root CRL holds a
 * handful of entries, so OpenSSL's X509_CRL object is the right tool here (ca/crl.c writes
 * the large CRLs of the issuing CA as DER directly).
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"

#define ROOT_CRL_MAX_ENTRIES 1000

/* The number of entries (OpenSSL keeps no stack at all for an empty CRL). */
static int
rootcrl_count(X509_CRL *crl)
{
	int n = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));

	return n < 0 ? 0 : n;
}

char *
ca_root_crl_name(const char *ca_name)
{
	return xasprintf("%s-root", ca_name);
}

/*
 * The entries of the newest stored root CRL, copied into crl (none when there is none).
 * number is the number this CRL has reserved, which locked the counter: the newest stored
 * one must be number - 1.  Anything else means another ceremony ran at the same time, or a
 * root CRL was taken out of the store (whose rows the online web process can write): then
 * carrying the older one would silently drop a revocation, so nothing is signed.
 */
static int
rootcrl_carry(struct store *st, const char *name, X509 *root, X509_CRL *crl, int64_t number,
	      struct err *e)
{
	struct store_crl prev;
	struct err e2;
	X509_CRL *old = NULL;
	STACK_OF(X509_REVOKED) * rs;
	const unsigned char *p;
	int i, rc = -1;

	memset(&prev, 0, sizeof(prev));
	err_clear(&e2);
	if (store_crl_latest(st, name, 0, &prev, &e2) == -1) {
		if (e2.code != ERR_NOTFOUND)
			return err_set(e, e2.code, "%s", e2.msg);
		if (number == 1)
			return 0;
		return err_set(e, ERR_REFUSED,
			       "root CRL: the store holds no root CRL, yet %lld were made: restore "
			       "the missing root CRLs from a backup before signing another",
			       (long long)number - 1);
	}
	if (prev.number != number - 1) {
		err_set(e, ERR_REFUSED,
			"root CRL: the newest stored root CRL is number %lld, but number %lld was "
			"the last made (another ceremony at the same time, or a root CRL removed "
			"from the store): nothing signed; check the store and run it again",
			(long long)prev.number, (long long)number - 1);
		goto out;
	}
	p = prev.der;
	if ((old = d2i_X509_CRL(NULL, &p, (long)prev.derlen)) == NULL ||
	    p != prev.der + prev.derlen || X509_CRL_verify(old, X509_get0_pubkey(root)) != 1) {
		err_ssl(e, ERR_INTERNAL,
			"root CRL: the stored root CRL number %lld does not parse or verify",
			(long long)prev.number);
		goto out;
	}
	rs = X509_CRL_get_REVOKED(old);
	for (i = 0; i < sk_X509_REVOKED_num(rs); i++) {
		X509_REVOKED *r = X509_REVOKED_dup(sk_X509_REVOKED_value(rs, i));

		if (r == NULL || !X509_CRL_add0_revoked(crl, r)) {
			X509_REVOKED_free(r);
			err_ssl(e, ERR_INTERNAL, "root CRL: out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	X509_CRL_free(old);
	store_crl_clear(&prev);
	return rc;
}

/* Adds the revocation of `cert` unless the CRL lists its serial already (then *dup = 1). */
static int
rootcrl_revoke(X509_CRL *crl, const X509 *cert, int reason, time_t now, int *dup, struct err *e)
{
	STACK_OF(X509_REVOKED) *rs = X509_CRL_get_REVOKED(crl);
	X509_REVOKED *r = NULL;
	ASN1_TIME *t = NULL;
	ASN1_ENUMERATED *re = NULL;
	int i, rc = -1;

	*dup = 0;
	for (i = 0; i < sk_X509_REVOKED_num(rs); i++)
		if (ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rs, i)),
				     X509_get0_serialNumber(cert)) == 0) {
			*dup = 1;
			return 0;
		}
	if ((r = X509_REVOKED_new()) == NULL ||
	    !X509_REVOKED_set_serialNumber(r, (ASN1_INTEGER *)X509_get0_serialNumber(cert)) ||
	    (t = ASN1_TIME_set(NULL, now)) == NULL || !X509_REVOKED_set_revocationDate(r, t))
		goto fail;
	/* reasonCode: omitted for unspecified (RFC 5280 5.3.1 SHOULD) */
	if (reason > 0 &&
	    ((re = ASN1_ENUMERATED_new()) == NULL || !ASN1_ENUMERATED_set(re, reason) ||
	     X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, re, 0, 0) != 1))
		goto fail;
	if (!X509_CRL_add0_revoked(crl, r))
		goto fail;
	r = NULL;
	rc = 0;
	goto out;
fail:
	err_ssl(e, ERR_INTERNAL, "root CRL: cannot add the revocation");
out:
	X509_REVOKED_free(r);
	ASN1_TIME_free(t);
	ASN1_ENUMERATED_free(re);
	return rc;
}

/* version 2, issuer, times, AKI and CRL number; entries sorted; signed with the root key */
static int
rootcrl_finish(X509_CRL *crl, X509 *root, EVP_PKEY *key, time_t now, long days, int64_t number,
	       struct err *e)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(root);
	AUTHORITY_KEYID *akid = NULL;
	ASN1_INTEGER *num = NULL;
	ASN1_TIME *tu = NULL, *nu = NULL;
	int sig_nid, md_nid, rc = -1;

	if (x509_sigalg_for_key(key, &sig_nid, &md_nid, e) == -1)
		return -1;
	if (ski == NULL)
		return err_set(e, ERR_INTERNAL, "root CRL: the root has no subjectKeyIdentifier");
	if (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(root)) ||
	    (tu = ASN1_TIME_set(NULL, now)) == NULL ||
	    (nu = ASN1_TIME_set(NULL, now + days * 86400)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, tu) || !X509_CRL_set1_nextUpdate(crl, nu) ||
	    (akid = AUTHORITY_KEYID_new()) == NULL ||
	    (akid->keyid = ASN1_OCTET_STRING_dup(ski)) == NULL ||
	    X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, 0) != 1 ||
	    (num = ASN1_INTEGER_new()) == NULL || !ASN1_INTEGER_set_int64(num, number) ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1 || !X509_CRL_sort(crl) ||
	    X509_CRL_sign(crl, key, md_nid == NID_undef ? NULL : EVP_get_digestbynid(md_nid)) <=
		0) {
		err_ssl(e, ERR_INTERNAL, "root CRL: cannot build or sign");
		goto out;
	}
	rc = 0;
out:
	AUTHORITY_KEYID_free(akid);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	return rc;
}

/* The checks that need no store: the key, the certificate to revoke, the validity. */
static int
rootcrl_req_check(const struct ca_root_crl_req *req, struct err *e)
{
	if (req->days < 1 || req->days > CA_ROOT_CRL_DAYS_MAX)
		return err_set(e, ERR_REFUSED, "root CRL: validity of %ld days out of 1..%d",
			       req->days, CA_ROOT_CRL_DAYS_MAX);
	if (X509_check_private_key(req->root, req->key) != 1) {
		ERR_clear_error();
		return err_set(
		    e, ERR_REFUSED,
		    "root CRL: the key is not the root CA's key (it does not match root.cert)");
	}
	if (req->revoke != NULL &&
	    (X509_check_issued(req->root, req->revoke) != X509_V_OK ||
	     X509_verify(req->revoke, X509_get0_pubkey(req->root)) != 1 ||
	     X509_check_ca(req->revoke) == 0 || X509_cmp(req->root, req->revoke) == 0)) {
		ERR_clear_error();
		return err_set(e, ERR_REFUSED,
			       "root CRL: the certificate to revoke is not an issuing CA "
			       "certificate signed by this root");
	}
	return 0;
}

int
ca_root_crl_make_tx(struct store *st, const struct ca_root_crl_req *req, struct store_crl *out,
		    int *already, struct err *e)
{
	X509_CRL *crl = NULL;
	unsigned char *der = NULL;
	char *name = NULL, obj[160], *detail = NULL, serial[STORE_SERIAL_MAX];
	time_t now = util_now();
	int64_t number = 0;
	int len, dup = 0, rc = -1;

	memset(out, 0, sizeof(*out));
	serial[0] = '\0';
	if (rootcrl_req_check(req, e) == -1)
		goto out;
	name = xstrdup(req->root_name);
	if ((crl = X509_CRL_new()) == NULL) {
		err_ssl(e, ERR_INTERNAL, "root CRL: out of memory");
		goto out;
	}
	/* the number first: its row lock orders concurrent ceremonies (see rootcrl_carry) */
	if (store_crl_next_number(st, name, &number, e) == -1 ||
	    rootcrl_carry(st, name, req->root, crl, number, e) == -1)
		goto out;
	if (req->revoke != NULL) {
		if (rootcrl_revoke(crl, req->revoke, req->reason, now, &dup, e) == -1)
			goto out;
		x509_serial_hex(X509_get0_serialNumber(req->revoke), serial, sizeof(serial));
	}
	if (rootcrl_count(crl) > ROOT_CRL_MAX_ENTRIES) {
		err_set(e, ERR_REFUSED, "root CRL: more than %d entries", ROOT_CRL_MAX_ENTRIES);
		goto out;
	}
	if (rootcrl_finish(crl, req->root, req->key, now, req->days, number, e) == -1)
		goto out;
	if ((len = i2d_X509_CRL(crl, &der)) <= 0) {
		err_ssl(e, ERR_INTERNAL, "root CRL: cannot encode");
		goto out;
	}
	out->ca = xstrdup(name);
	out->number = number;
	out->this_update = now;
	out->next_update = now + req->days * 86400;
	out->der = xmalloc((size_t)len);
	memcpy(out->der, der, (size_t)len);
	out->derlen = (size_t)len;
	snprintf(obj, sizeof(obj), "%s#%lld", name, (long long)number);
	detail = xasprintf("entries=%d days=%ld%s%s", rootcrl_count(crl), req->days,
			   serial[0] ? (dup ? " already-revoked=" : " revoked=") : "", serial);
	/* an issuing CA revoked before is no new revocation: its first reason and date stay */
	if (store_crl_put(st, out, e) == -1 ||
	    store_audit_append(st, req->actor,
			       req->revoke != NULL && !dup ? "ca.revoke" : "crl.root", obj, detail,
			       NULL, e) == -1)
		goto out;
	if (already != NULL)
		*already = dup;
	rc = 0;
out:
	if (rc != 0)
		store_crl_clear(out);
	X509_CRL_free(crl);
	OPENSSL_free(der);
	free(name);
	free(detail);
	return rc;
}

int
ca_root_crl_make(struct store *st, const struct ca_root_crl_req *req, struct store_crl *out,
		 int *already, struct err *e)
{
	if (store_begin(st, e) == -1)
		return -1;
	if (ca_root_crl_make_tx(st, req, out, already, e) == -1 || store_commit(st, e) == -1) {
		store_rollback(st);
		store_crl_clear(out);
		return -1;
	}
	return 0;
}

int
ca_root_crl_check(struct store *st, const char *root_name, long warn_days, time_t now,
		  struct err *e)
{
	struct store_crl crl;
	struct err e2;
	char *name = xstrdup(root_name);
	int rc = 0;

	memset(&crl, 0, sizeof(crl));
	err_clear(&e2);
	if (store_crl_latest_info(st, name, 0, &crl, &e2) == -1) {
		if (e2.code == ERR_NOTFOUND)
			rc = err_set(e, ERR_REFUSED,
				     "no root CRL: relying parties that check the whole chain "
				     "(Windows, NSS) reject every certificate; bring the root key "
				     "and run `shomei ca root-crl --root-key FILE`");
		else
			rc = err_set(e, e2.code, "%s", e2.msg);
	} else if (crl.next_update - now < warn_days * 86400 && crl.next_update - now < 86400 &&
		   crl.next_update > now) {
		rc = err_set(e, ERR_REFUSED,
			     "the root CRL (number %lld) expires in %ld hours: bring the root key "
			     "and run `shomei ca root-crl --root-key FILE` now",
			     (long long)crl.number, (long)((crl.next_update - now + 3599) / 3600));
	} else if (crl.next_update - now < warn_days * 86400) {
		long left = (long)((crl.next_update - now) / 86400);

		rc = err_set(
		    e, ERR_REFUSED,
		    crl.next_update <= now
			? "the root CRL (number %lld) expired %ld days ago: relying parties "
			  "reject every certificate; bring the root key and run `shomei ca "
			  "root-crl --root-key FILE` now"
			: "the root CRL (number %lld) expires in %ld days: bring the root key "
			  "and run `shomei ca root-crl --root-key FILE` before then",
		    (long long)crl.number, left < 0 ? -left : left);
	}
	store_crl_clear(&crl);
	free(name);
	return rc;
}
