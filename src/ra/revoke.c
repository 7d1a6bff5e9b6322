/*
 * revoke: revocations the RA makes for holders (web revocation, signed requests, re-issue),
 * each with the mail that tells the holder in the same transaction; and the rules of the web
 * revocation (DESIGN.md 2.2): the form's fields, the request with its mailed one-time link,
 * the link looked at (nothing used: GET and HEAD) and the link used (its page's button), each
 * decision one transaction.  The portal (src/portal/revoke.c) draws the pages.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mail/mail.h"
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

/* ---- web revocation by the holder ---- */

/* The reasons a holder may give on the web (RFC 5280 5.3.1 names), the default first. */
static const char *const revoke_reasons[] = {
    RA_REVOKE_REASON_DEFAULT,
    "keyCompromise",
    "superseded",
    "affiliationChanged",
};

static const char *const revoke_field_names[RA_REVOKE_FIELD__MAX] = {
    [RA_REVOKE_FIELD_OK] = "ok",
    [RA_REVOKE_FIELD_MISSING] = "missing",
    [RA_REVOKE_FIELD_INVALID] = "invalid",
};

static const char *const revreq_result_names[RA_REVREQ_RESULT__MAX] = {
    [RA_REVREQ_OK] = "ok",	     [RA_REVREQ_REPEAT] = "repeat",
    [RA_REVREQ_FIELDS] = "fields",   [RA_REVREQ_NO_MATCH] = "no_match",
    [RA_REVREQ_REVOKED] = "revoked", [RA_REVREQ_EXPIRED] = "expired",
};

static const char *const revlink_result_names[RA_REVLINK_RESULT__MAX] = {
    [RA_REVLINK_OK] = "ok",	      [RA_REVLINK_UNKNOWN] = "unknown", [RA_REVLINK_USED] = "used",
    [RA_REVLINK_EXPIRED] = "expired", [RA_REVLINK_REVOKED] = "revoked",
};

const char *
ra_revoke_field_name(enum ra_revoke_field f)
{
	if ((int)f < 0 || f >= RA_REVOKE_FIELD__MAX)
		return "error";
	return revoke_field_names[f];
}

const char *
ra_revreq_result_name(enum ra_revreq_result r)
{
	if ((int)r < 0 || r >= RA_REVREQ_RESULT__MAX)
		return "error";
	return revreq_result_names[r];
}

const char *
ra_revlink_result_name(enum ra_revlink_result r)
{
	if ((int)r < 0 || r >= RA_REVLINK_RESULT__MAX)
		return "error";
	return revlink_result_names[r];
}

static const char *
revoke_nz(const char *s)
{
	return s != NULL ? s : "";
}

int
ra_revoke_check(const struct ra_revoke_vals *v, struct ra_revoke_fields *f)
{
	const char *reason = revoke_nz(v->reason);
	size_t i;

	memset(f, 0, sizeof(*f));
	if (revoke_nz(v->org)[0] == '\0')
		f->org = RA_REVOKE_FIELD_MISSING;
	if (revoke_nz(v->ticket)[0] == '\0')
		f->ticket = RA_REVOKE_FIELD_MISSING;
	if (revoke_nz(v->email)[0] == '\0')
		f->email = RA_REVOKE_FIELD_MISSING;
	else if (!mail_addr_valid(v->email))
		f->email = RA_REVOKE_FIELD_INVALID;
	for (i = 0; i < sizeof(revoke_reasons) / sizeof(revoke_reasons[0]); i++)
		if (strcmp(reason, revoke_reasons[i]) == 0)
			break;
	if (reason[0] == '\0')
		f->reason = RA_REVOKE_FIELD_MISSING;
	else if (i == sizeof(revoke_reasons) / sizeof(revoke_reasons[0]))
		f->reason = RA_REVOKE_FIELD_INVALID;
	f->any = f->org != RA_REVOKE_FIELD_OK || f->ticket != RA_REVOKE_FIELD_OK ||
		 f->email != RA_REVOKE_FIELD_OK || f->reason != RA_REVOKE_FIELD_OK;
	return f->any;
}

/* ra_revoke_find(), and the address as recorded (*addr, may be NULL; caller frees) when OK. */
static int
revoke_find(struct store *st, const struct ra_revoke_vals *v, enum ra_revreq_result *res,
	    char serial[STORE_SERIAL_MAX], char **addr, struct err *e)
{
	struct ra_revoke_fields f;
	struct store_cert c;
	struct err se;
	char sn[STORE_SERIAL_MAX];
	int rc = -1;

	*res = RA_REVREQ_NO_MATCH;
	if (serial != NULL)
		serial[0] = '\0';
	memset(&c, 0, sizeof(c));
	err_clear(&se);
	if (ra_revoke_check(v, &f)) {
		*res = RA_REVREQ_FIELDS;
		rc = 0;
		goto out;
	}
	if (store_revoke_lookup(st, v->org, v->ticket, v->email, sn, addr, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		rc = 0; /* NO_MATCH: which of the three is wrong is not told */
		goto out;
	}
	if (store_cert_get(st, sn, &c, e) == -1)
		goto out;
	if (c.status == STORE_CERT_REVOKED)
		*res = RA_REVREQ_REVOKED;
	else if (c.not_after <= util_now())
		*res = RA_REVREQ_EXPIRED;
	else
		*res = RA_REVREQ_OK;
	if (serial != NULL)
		memcpy(serial, sn, STORE_SERIAL_MAX);
	rc = 0;
out:
	if (addr != NULL && (rc != 0 || *res != RA_REVREQ_OK)) {
		free(*addr);
		*addr = NULL;
	}
	store_cert_clear(&c);
	return rc;
}

int
ra_revoke_find(struct store *st, const struct ra_revoke_vals *v, enum ra_revreq_result *res,
	       char serial[STORE_SERIAL_MAX], struct err *e)
{
	return revoke_find(st, v, res, serial, NULL, e);
}

int
ra_revoke_request(struct store *st, const struct ra_revreq *q, const struct ra_notify *n,
		  enum ra_revreq_result *res, struct ra_revoke_fields *f, struct err *e)
{
	struct ra_revoke_fields ff;
	struct store_revreq r;
	struct store_token t;
	struct err se;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	char tok[RA_TOKEN_TEXT], *addr = NULL;
	time_t now;
	int rc = -1, intx = 0;

	*res = RA_REVREQ_NO_MATCH;
	memset(&r, 0, sizeof(r));
	memset(&ff, 0, sizeof(ff));
	err_clear(&se);
	ra_token_new(raw, tok);
	ra_token_hash(raw, h);
	if (q->nonce_hash == NULL) {
		err_set(e, ERR_INTERNAL, "ra: revocation request without the form's nonce");
		goto out;
	}
	if (ra_revoke_check(&q->vals, &ff)) {
		*res = RA_REVREQ_FIELDS;
		rc = 0;
		goto out;
	}
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	now = util_now();
	/* a repeat of the confirm form (or a twin that committed first) changes nothing */
	if (store_token_get(st, q->nonce_hash, STORE_TOKEN_REVOKE_FORM, &t, &se) == 0) {
		*res = RA_REVREQ_REPEAT;
		rc = 0;
		goto out;
	} else if (se.code != ERR_NOTFOUND) {
		*e = se;
		goto out;
	}
	/* the certificate as it is now, under the write lock */
	if (revoke_find(st, &q->vals, res, r.serial, &addr, e) == -1)
		goto out;
	if (*res != RA_REVREQ_OK) {
		rc = 0;
		goto out;
	}
	err_clear(&se);
	if (store_token_add(st, q->nonce_hash, STORE_TOKEN_REVOKE_FORM, 0, now + RA_FORM_TTL, now,
			    &se) == -1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			goto out;
		}
		*res = RA_REVREQ_REPEAT; /* a twin took the nonce meanwhile */
		rc = 0;
		goto out;
	}
	r.reason = ca_reason_parse(q->vals.reason);
	r.email = addr; /* the address as recorded: the link proves that mailbox, not the typing */
	r.created = now;
	r.expires = now + RA_APP_TTL;
	if (store_revreq_add(st, &r, h, e) == -1)
		goto out;
	if (n != NULL && n->revoke_link != NULL && n->revoke_link(n->arg, st, addr, tok, e) == -1)
		goto out;
	intx = 0;
	if (store_commit(st, e) == -1)
		goto out;
	*res = RA_REVREQ_OK;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	if (rc == -1)
		*res = RA_REVREQ_NO_MATCH;
	if (f != NULL)
		*f = ff;
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(tok, sizeof(tok));
	free(addr);
	return rc;
}

/* The request of a link's text: *res UNKNOWN (nothing loaded), USED, EXPIRED or OK. */
static int
revoke_link_get(struct store *st, const char *token, struct store_revreq *q,
		enum ra_revlink_result *res, struct err *e)
{
	struct err se;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	int rc = -1;

	*res = RA_REVLINK_UNKNOWN;
	err_clear(&se);
	if (ra_token_decode(token, raw) == -1) {
		rc = 0;
		goto out;
	}
	ra_token_hash(raw, h);
	if (store_revreq_get(st, h, q, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
	} else if (q->done != 0) {
		*res = RA_REVLINK_USED;
	} else if (q->expires <= util_now()) {
		*res = RA_REVLINK_EXPIRED;
	} else {
		*res = RA_REVLINK_OK;
	}
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

int
ra_revoke_peek(struct store *st, const char *token, enum ra_revlink_result *res,
	       struct ra_revlink *out, struct err *e)
{
	struct store_revreq q;
	int rc = -1;

	memset(&q, 0, sizeof(q));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (revoke_link_get(st, token, &q, res, e) == -1)
		goto out;
	if (*res == RA_REVLINK_OK && out != NULL) {
		memcpy(out->serial, q.serial, sizeof(out->serial));
		out->reason = q.reason;
		out->expires = q.expires;
	}
	rc = 0;
out:
	store_revreq_clear(&q);
	return rc;
}

int
ra_revoke_complete(struct ca *ca, struct store *st, const char *token, const struct ra_notify *n,
		   enum ra_revlink_result *res, struct ra_revlink *out, struct err *e)
{
	struct store_revreq q;
	struct store_crl crl;
	struct store_cert c;
	struct err se;
	char *actor = NULL;
	time_t now;
	int rc = -1, intx = 0;

	memset(&q, 0, sizeof(q));
	memset(&crl, 0, sizeof(crl));
	memset(&c, 0, sizeof(c));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	err_clear(&se);
	*res = RA_REVLINK_UNKNOWN;
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	now = util_now();
	if (revoke_link_get(st, token, &q, res, e) == -1)
		goto out;
	if (*res != RA_REVLINK_OK) {
		rc = 0;
		goto out;
	}
	if (store_revreq_done(st, q.id, now, &se) == -1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			goto out;
		}
		*res = RA_REVLINK_USED; /* a twin used it meanwhile */
		rc = 0;
		goto out;
	}
	actor = xasprintf("holder:web-revocation %s", revoke_nz(q.email));
	err_clear(&se);
	if (ra_revoke_tx(ca, st, q.serial, q.reason, actor, n, &se) == -1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			goto out;
		}
		*res = RA_REVLINK_REVOKED; /* revoked meanwhile by other means: the link is done */
	}
	intx = 0;
	if (store_commit(st, e) == -1)
		goto out;
	/* committed: what follows only informs, and never turns the answer into a failure */
	if (*res == RA_REVLINK_OK) {
		err_clear(&se);
		if (ca_after_revoke(ca, st, actor, &se) == -1)
			log_warn("ra: CRL after the web revocation of %s: %s", q.serial, se.msg);
	}
	if (out != NULL) {
		memcpy(out->serial, q.serial, sizeof(out->serial));
		out->reason = q.reason;
		out->expires = q.expires;
		out->revoked_at = now;
		err_clear(&se);
		if (store_cert_get(st, q.serial, &c, &se) == 0 && c.revoked_at != 0)
			out->revoked_at = c.revoked_at;
		err_clear(&se);
		/* the CRL of the certificate's own CA (an earlier one's after a switch) */
		if (store_crl_latest_info(st, c.ca != NULL ? c.ca : ca->name, 0, &crl, &se) == 0)
			out->crl_next = crl.next_update;
	}
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	if (rc == -1)
		*res = RA_REVLINK_UNKNOWN;
	store_revreq_clear(&q);
	store_crl_clear(&crl);
	store_cert_clear(&c);
	free(actor);
	return rc;
}
