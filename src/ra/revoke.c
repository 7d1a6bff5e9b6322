/*
 * revoke: revocations the RA makes for holders (web revocation, signed requests, re-issue),
 * each with the mail that tells the holder in the same transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "ra.h"

int
ra_revoke_tx(struct ca *ca, struct store *st, const char *serial, int reason, const char *actor,
	     const struct ra_notify *n, struct err *e)
{
	struct store_cert c;
	struct ra_revoked rv;
	struct err se;
	char *to = NULL;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	err_clear(&se);
	if (ca_revoke_tx(ca, st, serial, reason, 0, actor, e) == -1)
		goto out;
	if (n == NULL || n->revoked == NULL) {
		rc = 0;
		goto out;
	}
	if (store_cert_holder_email(st, serial, &to, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		rc = 0; /* issued outside the portal (CLI, API): no holder address known */
		goto out;
	}
	if (store_cert_get(st, serial, &c, e) == -1)
		goto out;
	memset(&rv, 0, sizeof(rv));
	rv.to = to;
	rv.serial = c.serial;
	rv.subject = c.subject;
	rv.reason = reason;
	rv.revoked_at = c.revoked_at;
	if (n->revoked(n->arg, st, &rv, e) == -1)
		goto out;
	rc = 0;
out:
	free(to);
	store_cert_clear(&c);
	return rc;
}
