/*
 * notify: mails that tell a holder what happened to their certificate, queued in the same
 * transaction as the change itself (so a rolled-back change sends nothing, and a committed one
 * is never left untold).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/ca.h"
#include "portal_int.h"

int
portal_notify_revoked(struct store *st, const char *lang, const char *serial, int reason,
		      struct err *e)
{
	struct store_cert c;
	struct buf body;
	struct err se;
	struct tm tm;
	char *to = NULL, when[64];
	int rc = -1;

	memset(&c, 0, sizeof(c));
	buf_init(&body, MAIL_BODY_MAX);
	err_clear(&se);
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
	gmtime_r(&c.revoked_at, &tm);
	if (strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		when[0] = '\0';
	if (buf_printf(
		&body, "%s\n\n%s: %s\n%s: %s\n%s: %s\n%s: %s\n\n%s\n\n%s\n",
		i18n_get(lang, N_("Your certificate has been revoked.")),
		i18n_get(lang, N_("Serial number")), c.serial, i18n_get(lang, N_("Subject")),
		c.subject, i18n_get(lang, N_("Reason")), ca_reason_name(reason),
		i18n_get(lang, N_("Revoked at")), when,
		i18n_get(
		    lang,
		    N_("OCSP shows the revocation now; the CRL shows it from its next update.")),
		i18n_get(lang, N_("If you did not ask for this revocation, contact the "
				  "registration authority of your organization."))) == -1 ||
	    buf_cstr(&body) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: notification too large");
		goto out;
	}
	if (portal_mail_queue(st, to,
			      i18n_get(lang, N_("[shomei] Your certificate has been revoked")),
			      &body, e) == -1)
		goto out;
	rc = 0;
out:
	free(to);
	store_cert_clear(&c);
	buf_free(&body);
	return rc;
}
