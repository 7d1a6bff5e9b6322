/*
 * notify: mails that tell a holder what happened to their certificate, queued in the same
 * transaction as the change itself (so a rolled-back change sends nothing, and a committed one
 * is never left untold).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ca/ca.h"
#include "portal_int.h"
#include "ra/ra.h"

/* The language the hooks write in: their arg. */
static const char *
portal_notify_lang(void *arg)
{
	return arg != NULL ? (const char *)arg : I18N_DEFAULT;
}

int
portal_notify_revoked(void *arg, struct store *st, const struct ra_revoked *rv, struct err *e)
{
	const char *lang = portal_notify_lang(arg);
	struct buf body;
	struct tm tm;
	char when[64];
	int rc = -1;

	buf_init(&body, MAIL_BODY_MAX);
	gmtime_r(&rv->revoked_at, &tm);
	if (strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		when[0] = '\0';
	if (buf_printf(
		&body, "%s\n\n%s: %s\n%s: %s\n%s: %s\n%s: %s\n\n%s\n\n%s\n",
		i18n_get(lang, N_("Your certificate has been revoked.")),
		i18n_get(lang, N_("Serial number")), rv->serial, i18n_get(lang, N_("Subject")),
		rv->subject, i18n_get(lang, N_("Reason")), ca_reason_name(rv->reason),
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
	if (portal_mail_queue(st, rv->to,
			      i18n_get(lang, N_("[shomei] Your certificate has been revoked")),
			      &body, e) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&body);
	return rc;
}

int
portal_notify_reissued(void *arg, struct store *st, const char *to, const char *old_serial,
		       const char *code, struct err *e)
{
	const char *lang = portal_notify_lang(arg);
	struct buf body;
	char *link = xasprintf("%s/reissue/fetch", portal.base_url);
	int rc = -1;

	buf_init(&body, MAIL_BODY_MAX);
	if (buf_printf(
		&body, "%s\n\n%s: %s\n\n%s\n\n%s: %s\n\n%s\n%s\n\n%s\n",
		i18n_get(lang, N_("We have accepted your request to re-issue your certificate.")),
		i18n_get(lang, N_("Revoked certificate (superseded)")), old_serial,
		i18n_get(lang, N_("Your new certificate code is below. Keep it together with "
				  "your application password: you need it to fetch the new "
				  "certificate and for any later re-issue.")),
		i18n_get(lang, N_("Certificate code")), code,
		i18n_get(lang,
			 N_("Fetch the new certificate on this page with the certificate code:")),
		link,
		i18n_get(lang, N_("If you did not ask for this re-issue, contact the "
				  "registration authority of your organization."))) == -1 ||
	    buf_cstr(&body) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: re-issue mail: body too large");
		goto out;
	}
	if (portal_mail_queue(
		st, to, i18n_get(lang, N_("[shomei] Your certificate re-issue has been accepted")),
		&body, e) == -1)
		goto out;
	rc = 0;
out:
	if (body.data != NULL)
		sodium_memzero(body.data, body.len); /* it holds the certificate code */
	buf_free(&body);
	free(link);
	return rc;
}

void
portal_notify_init(struct ra_notify *n, const char *lang)
{
	memset(n, 0, sizeof(*n));
	n->arg = (void *)lang;
	n->revoked = portal_notify_revoked;
	n->reissued = portal_notify_reissued;
}
