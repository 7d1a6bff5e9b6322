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

/*
 * Queues subject (a msgid) with body through st in lang (printed: what buf_printf() gave, -1
 * when the body did not fit); the body is wiped and freed.
 */
static int
notify_queue(struct store *st, const char *to, const char *lang, const char *subject_msgid,
	     int printed, struct buf *body, struct err *e)
{
	int rc = -1;

	if (printed == -1 || buf_cstr(body) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: mail body too large");
		goto out;
	}
	if (portal_mail_queue(st, to, i18n_get(lang, subject_msgid), body, e) == -1)
		goto out;
	rc = 0;
out:
	if (body->data != NULL)
		sodium_memzero(body->data, body->len);
	buf_free(body);
	return rc;
}

/*
 * A mail whose point is a one-time link (base_url path token): what happened, what to do with
 * the link, the link, what to do when it was not you; in the recipient's language.
 */
static int
notify_link(void *arg, struct store *st, const char *to, const char *subject, const char *what,
	    const char *todo, const char *path, const char *token, const char *not_you,
	    struct err *e)
{
	const char *lang = portal_notify_lang(arg);
	struct buf body;
	int printed;

	buf_init(&body, MAIL_BODY_MAX);
	printed =
	    buf_printf(&body, "%s\n\n%s\n\n%s%s%s\n\n%s\n", i18n_get(lang, what),
		       i18n_get(lang, todo), portal.base_url, path, token, i18n_get(lang, not_you));
	return notify_queue(st, to, lang, subject, printed, &body, e);
}

/* The registration's mailed link (the applicant continues with it). */
static int
notify_registered(void *arg, struct store *st, const char *to, const char *token, struct err *e)
{
	return notify_link(arg, st, to, N_("[shomei] Continue your certificate application"),
			   N_("We have received your certificate application."),
			   N_("Open the link below to continue with the issuance application. "
			      "The link can be used once and is valid for 3 days."),
			   "/regist/verify?onetimetoken=", token,
			   N_("If you did not make this application, please discard this mail."),
			   e);
}

/* The approval request to the holder of an agent's application. */
static int
notify_approval(void *arg, struct store *st, const struct ra_app *a, const char *to,
		const char *token, struct err *e)
{
	const char *lang = portal_notify_lang(arg);
	struct buf body;
	int printed;

	buf_init(&body, MAIL_BODY_MAX);
	printed = buf_printf(
	    &body, "%s\n\n%s: %s\n%s: %s\n\n%s\n\n%s/approve?t=%s\n\n%s\n",
	    i18n_get(lang, N_("An agent has applied for a certificate for you.")),
	    i18n_get(lang, N_("Agent")), a->email, i18n_get(lang, N_("Organization")), a->org_name,
	    i18n_get(lang, N_("Open the link below to review the application and approve or reject "
			      "it. The link can be used once and is valid for 3 days.")),
	    portal.base_url, token,
	    i18n_get(lang,
		     N_("If you do not know this application, reject it or discard this mail.")));
	return notify_queue(st, to, lang, N_("[shomei] Please approve a certificate application"),
			    printed, &body, e);
}

/* The certificate code to the holder (the page shows it once as well). */
static int
notify_issued(void *arg, struct store *st, const char *to, const char *serial, const char *code,
	      struct err *e)
{
	const char *lang = portal_notify_lang(arg);
	struct buf body;
	int printed;

	buf_init(&body, MAIL_BODY_MAX);
	printed = buf_printf(
	    &body, "%s\n\n%s: %s\n%s: %s\n\n%s\n\n%s\n",
	    i18n_get(lang, N_("Your certificate has been issued.")),
	    i18n_get(lang, N_("Serial number")), serial, i18n_get(lang, N_("Certificate code")),
	    code,
	    i18n_get(lang, N_("Keep the certificate code together with your application "
			      "password: you need both to re-issue the certificate.")),
	    i18n_get(lang, N_("If you did not make this application, please contact us.")));
	return notify_queue(st, to, lang, N_("[shomei] Your certificate has been issued"), printed,
			    &body, e);
}

/* The agent's one-time link to the certificate page. */
static int
notify_delivery(void *arg, struct store *st, const char *to, const char *token, struct err *e)
{
	const char *lang = portal_notify_lang(arg);
	struct buf body;
	int printed;

	buf_init(&body, MAIL_BODY_MAX);
	printed = buf_printf(
	    &body, "%s\n\n%s\n\n%s/issue/deliver?t=%s\n",
	    i18n_get(lang, N_("The certificate holder has approved your application and the "
			      "certificate has been issued.")),
	    i18n_get(lang,
		     N_("Open the link below to get the certificate (and the PIN of its PKCS#12 "
			"file, shown once). The link can be used once and is valid for 3 days.")),
	    portal.base_url, token);
	return notify_queue(st, to, lang, N_("[shomei] Your certificate has been issued"), printed,
			    &body, e);
}

/* A web revocation request: the link whose page has the button that revokes. */
static int
notify_revoke_link(void *arg, struct store *st, const char *to, const char *token, struct err *e)
{
	return notify_link(arg, st, to, N_("[shomei] Confirm the revocation of your certificate"),
			   N_("We have received a request to revoke your certificate."),
			   N_("Open the link below and press the button on its page to revoke the "
			      "certificate; a revoked certificate cannot be restored. The link can "
			      "be used once and is valid for 3 days."),
			   "/revoke/verify?onetimetoken=", token,
			   N_("If you did not make this request, do not open the link and discard "
			      "this mail: your certificate stays valid."),
			   e);
}

/* A plain notice: subject and body msgids, one line of detail. */
static int
notify_notice(struct store *st, const char *lang, const char *to, const char *subj_msgid,
	      const char *body_msgid, const char *detail, struct err *e)
{
	struct buf body;
	int printed;

	buf_init(&body, MAIL_BODY_MAX);
	printed = buf_printf(&body, "%s\n\n%s\n", i18n_get(lang, body_msgid), detail);
	return notify_queue(st, to, lang, subj_msgid, printed, &body, e);
}

/* A rejected agent's application: the agent and the holder are told. */
static int
notify_rejected(void *arg, struct store *st, const struct ra_app *a, struct err *e)
{
	const char *lang = portal_notify_lang(arg);
	char detail[128];

	snprintf(detail, sizeof(detail), "%s: %s", i18n_get(lang, N_("Ticket number")), a->ticket);
	if (notify_notice(
		st, lang, a->email, N_("[shomei] Your certificate application was rejected"),
		N_("The certificate holder has rejected the application you made on their behalf. "
		   "No certificate was issued; the ticket can be used again."),
		detail, e) == -1)
		return -1;
	return notify_notice(st, lang, a->subject_email,
			     N_("[shomei] Your certificate application was rejected"),
			     N_("You have rejected the certificate application made on your "
				"behalf. No certificate was issued."),
			     detail, e);
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
	n->registered = notify_registered;
	n->approval = notify_approval;
	n->issued = notify_issued;
	n->delivery = notify_delivery;
	n->rejected = notify_rejected;
	n->revoke_link = notify_revoke_link;
	n->revoked = portal_notify_revoked;
	n->reissued = portal_notify_reissued;
}
