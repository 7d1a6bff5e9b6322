/* revoke: revocation with a reason, recorded in the audit chain. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ca.h"

/* RFC 5280 5.3.1 CRLReason; value 7 is unused. */
static const char *const ca_reasons[CA_REASON__MAX] = {
    [CA_REASON_UNSPECIFIED] = "unspecified",
    [CA_REASON_KEY_COMPROMISE] = "keyCompromise",
    [CA_REASON_CA_COMPROMISE] = "cACompromise",
    [CA_REASON_AFFILIATION_CHANGED] = "affiliationChanged",
    [CA_REASON_SUPERSEDED] = "superseded",
    [CA_REASON_CESSATION_OF_OPERATION] = "cessationOfOperation",
    [CA_REASON_CERTIFICATE_HOLD] = "certificateHold",
    [CA_REASON_REMOVE_FROM_CRL] = "removeFromCRL",
    [CA_REASON_PRIVILEGE_WITHDRAWN] = "privilegeWithdrawn",
    [CA_REASON_AA_COMPROMISE] = "aACompromise",
};

enum ca_crl_reason
ca_reason_parse(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < CA_REASON__MAX; i++)
		if (ca_reasons[i] != NULL && strcasecmp(s, ca_reasons[i]) == 0)
			return (enum ca_crl_reason)i;
	return CA_REASON_NONE;
}

const char *
ca_reason_name(int r)
{
	if (r < 0 || r >= CA_REASON__MAX || ca_reasons[r] == NULL)
		return "unknown";
	return ca_reasons[r];
}

/* The checks and writes of a revocation, in the caller's open transaction. */
int
ca_revoke_tx(struct ca *ca, struct store *st, const char *serial, int reason, time_t invalidity,
	     const char *actor, struct err *e)
{
	struct store_cert rec;
	char *detail = NULL;
	int rc = -1;
	int64_t gen;
	time_t now;

	memset(&rec, 0, sizeof(rec));
	/* certificateHold would be reversible and removeFromCRL only belongs in delta CRLs */
	if (reason < 0 || reason >= CA_REASON__MAX || ca_reasons[reason] == NULL ||
	    reason == CA_REASON_CERTIFICATE_HOLD || reason == CA_REASON_REMOVE_FROM_CRL) {
		err_set(e, ERR_REFUSED,
			"revoke: reason must be one of unspecified, keyCompromise, cACompromise, "
			"affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, "
			"aACompromise");
		goto out;
	}
	now = util_now(); /* stamped under the write lock: close to the commit */
	if (invalidity > now) {
		err_set(e, ERR_REFUSED, "revoke: invalidity date lies in the future");
		goto out;
	}
	if (store_cert_get(st, serial, &rec, e) == -1)
		goto out;
	/* the current issuing CA's, or a previous one's that still publishes its CRLs */
	if (ca_issuing_find(ca, rec.ca) == NULL) {
		err_set(
		    e, ERR_REFUSED,
		    "revoke: certificate %s was issued by %s, which is not an issuing CA of this "
		    "instance (%s)",
		    rec.serial, rec.ca, ca->name);
		goto out;
	}
	if (store_cert_revoke(st, rec.serial, now, reason, invalidity, e) == -1)
		goto out;
	/* every process can tell cheaply that something was revoked (OCSP caches, CRL schedule) */
	if (store_counter_add(st, CA_COUNTER_REVOCATIONS, 1, &gen, e) == -1)
		goto out;
	detail = xasprintf("reason=%s subject=%s", ca_reason_name(reason), rec.subject);
	if (store_audit_append(st, actor, "cert.revoke", rec.serial, detail, NULL, e) == -1)
		goto out;
	rc = 0;
out:
	free(detail);
	store_cert_clear(&rec);
	return rc;
}

int
ca_revoke(struct ca *ca, struct store *st, const char *serial, int reason, time_t invalidity,
	  const char *actor, struct err *e)
{
	int rc = -1, intx = 0;

	if (store_in_tx(st)) /* the caller's transaction: it commits or rolls back */
		return ca_revoke_tx(ca, st, serial, reason, invalidity, actor, e);
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (ca_revoke_tx(ca, st, serial, reason, invalidity, actor, e) == -1)
		goto out;
	if (store_commit(st, e) == -1)
		goto out;
	intx = 0;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	return rc;
}

int
ca_after_revoke(struct ca *ca, struct store *st, const char *actor, struct err *e)
{
	struct store_crl crl;
	size_t i;
	int rc;

	if (strcmp(conf_get(&ca->conf, "crl.on_revoke", "no"), "yes") != 0 || ca->signer == NULL)
		return 0;
	/* the revoked certificate's CA is not known here: every CA's (one, but after a switch) */
	for (i = 0, rc = 0; i < ca->ncas && rc == 0; i++) {
		memset(&crl, 0, sizeof(crl));
		rc = ca_crl_generate_for(ca, &ca->cas[i], st, 0, actor, &crl, e);
		store_crl_clear(&crl);
	}
	return rc;
}
