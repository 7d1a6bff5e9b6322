/*
 * officer: RA officers (DESIGN.md 2.5, issue 13) — who they are, their permissions, the
 * enrolment that gives each one ONE certificate (mailed URL + access PIN), renewal and the
 * supersede rule, and the check of a console connection's client certificate.
 *
 * Secrets: the URL's secret is kept as its BLAKE2b-256 (ra_token_hash), the access PIN as
 * BLAKE2b-256 keyed with the URL's raw secret (the stored hash alone cannot be brute-forced:
 * the key is not in the store), the PKCS#12 (encrypted under its PIN, which is never stored)
 * until its first download.  Every change is one transaction with its audit entry; the
 * certificate's own records are written in its durable transaction (ca_issue's write_fn), with
 * the enrolment moved open -> issued by a conditional update, so that it is issued once.
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "mail/mail.h"
#include "ra.h"
#include "util/utf8.h"

#define DAY 86400

static const char *const role_names[RA_ROLE__MAX] = {"officer", "operator", "auditor"};

static const char *const perm_names[] = {"server", "client", "codesign", "acme", "stats"};
#define PERM_N (sizeof(perm_names) / sizeof(perm_names[0]))

static const char *const enrol_result_names[RA_ENROL_RESULT__MAX] = {
    "ok", "unknown", "expired", "locked", "issued", "wrong_pin", "disabled",
};

static const char *const login_result_names[RA_LOGIN__MAX] = {
    "ok", "no_cert", "foreign", "personal", "revoked", "expired", "unknown", "disabled",
};

const char *
ra_role_name(enum ra_role r)
{
	return (unsigned)r < RA_ROLE__MAX ? role_names[r] : "unknown";
}

int
ra_role_parse(const char *s, enum ra_role *out)
{
	for (int i = 0; s != NULL && i < RA_ROLE__MAX; i++)
		if (strcmp(s, role_names[i]) == 0) {
			*out = (enum ra_role)i;
			return 0;
		}
	return -1;
}

const char *
ra_enrol_result_name(enum ra_enrol_result r)
{
	return (unsigned)r < RA_ENROL_RESULT__MAX ? enrol_result_names[r] : "error";
}

const char *
ra_login_result_name(enum ra_login_result r)
{
	return (unsigned)r < RA_LOGIN__MAX ? login_result_names[r] : "error";
}

int
ra_perms_parse(const char *csv, unsigned *out)
{
	const char *p = csv != NULL ? csv : "";
	unsigned v = 0;
	size_t i, n;

	*out = 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || strcmp(p, "none") == 0)
		return 0;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		for (i = 0; i < PERM_N; i++)
			if (strlen(perm_names[i]) == n && strncmp(p, perm_names[i], n) == 0)
				break;
		if (i == PERM_N || (v & (1u << i)))
			return -1;
		v |= 1u << i;
		p += strcspn(p, ",");
		if (*p == '\0')
			break;
		p++;
	}
	*out = v;
	return 0;
}

void
ra_perms_format(unsigned perms, char out[RA_PERMS_TEXT])
{
	size_t i, k = 0;

	out[0] = '\0';
	for (i = 0; i < PERM_N; i++) {
		if (!(perms & (1u << i)))
			continue;
		k += (size_t)snprintf(out + k, RA_PERMS_TEXT - k, "%s%s", k > 0 ? "," : "",
				      perm_names[i]);
	}
	if (k == 0)
		snprintf(out, RA_PERMS_TEXT, "none");
}

long
ra_officer_enrol_days(struct ca *ca)
{
	struct err e;
	long days = RA_OFFICER_ENROL_DAYS;

	err_clear(&e);
	if (conf_get_long(&ca->conf, "console.enrol_days", RA_OFFICER_ENROL_DAYS, 1, 90, &days,
			  &e) == -1) {
		log_warn("officer: %s; taking %d days", e.msg, RA_OFFICER_ENROL_DAYS);
		days = RA_OFFICER_ENROL_DAYS;
	}
	return days;
}

/* The face's view of a stored officer. */
static void
officer_view(struct ra_officer *out, const struct store_officer *o)
{
	enum ra_role r = RA_ROLE_OFFICER;

	memset(out, 0, sizeof(*out));
	out->id = o->id;
	out->org_id = o->org_id;
	snprintf(out->org_code, sizeof(out->org_code), "%s",
		 o->org_code != NULL ? o->org_code : "");
	snprintf(out->org_name, sizeof(out->org_name), "%s",
		 o->org_name != NULL ? o->org_name : "");
	snprintf(out->name, sizeof(out->name), "%s", o->name != NULL ? o->name : "");
	snprintf(out->email, sizeof(out->email), "%s", o->email != NULL ? o->email : "");
	(void)ra_role_parse(o->role, &r);
	out->role = r;
	out->perms = (unsigned)o->perms & RA_PERM_ALL;
	out->active = o->status != NULL && strcmp(o->status, "active") == 0;
	out->created = o->created;
}

int
ra_officer_get(struct store *st, int64_t id, struct ra_officer *out, struct err *e)
{
	struct store_officer o;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (store_officer_get(st, id, &o, e) == -1)
		goto out;
	officer_view(out, &o);
	rc = 0;
out:
	store_officer_clear(&o);
	return rc;
}

int
ra_officer_list(struct store *st, const char *org_code, struct ra_officer **out, size_t *nout,
		struct err *e)
{
	struct store_officer *v = NULL;
	struct store_org org;
	size_t n = 0, i;
	int rc = -1;

	memset(&org, 0, sizeof(org));
	*out = NULL;
	*nout = 0;
	if (org_code != NULL && store_org_get(st, org_code, &org, e) == -1)
		goto out;
	if (store_officer_list(st, org.id, &v, &n, e) == -1)
		goto out;
	*out = n > 0 ? xcalloc(n, sizeof(**out)) : NULL;
	for (i = 0; i < n; i++)
		officer_view(&(*out)[i], &v[i]);
	*nout = n;
	rc = 0;
out:
	STORE_LIST_FREE(v, n, store_officer_clear);
	store_org_clear(&org);
	return rc;
}

/* ---- the access PIN and the enrolment URL ---- */

/*
 * Opens an enrolment of kind for officer o at now inside the caller's transaction and calls the
 * hook: enrol's with the URL's secret (kind enrol), renew's (kind renew).  pin (may be NULL
 * for renew) gets the access PIN.
 */
static int
officer_enrol_open(struct ca *ca, struct store *st, const struct ra_officer *o, const char *kind,
		   time_t now, const struct ra_officer_notify *n, char *pin, struct err *e)
{
	struct store_enrol en;
	unsigned char raw[RA_TOKEN_LEN], th[STORE_HASH_LEN];
	char text[RA_TOKEN_TEXT], p[RA_OFFICER_PIN_LEN + 1];
	int64_t id;
	int renew = strcmp(kind, "renew") == 0, rc = -1;

	memset(&en, 0, sizeof(en));
	ra_token_new(raw, text);
	ra_token_hash(raw, th);
	ra_pin_new(p, RA_OFFICER_PIN_LEN);
	ra_pin_hash(raw, p, en.pin_hash);
	en.officer_id = o->id;
	en.created = now;
	en.expires = en.created + ra_officer_enrol_days(ca) * DAY;
	en.kind = (char *)kind;
	if (store_enrol_add(st, &en, th, &id, e) == -1)
		goto out;
	if (n != NULL && !renew && n->enrol != NULL && n->enrol(n->arg, st, o, text, e) == -1)
		goto out;
	if (n != NULL && renew && n->renew != NULL && n->renew(n->arg, st, o, text, e) == -1)
		goto out;
	if (pin != NULL)
		memcpy(pin, p, sizeof(p));
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(text, sizeof(text));
	sodium_memzero(p, sizeof(p));
	return rc;
}

/* Checks what ra_officer_add() is given; *org loaded for an officer. */
static int
officer_check(struct store *st, const struct ra_officer_new *q, struct store_org *org,
	      struct err *e)
{
	size_t nl = q->name != NULL ? strlen(q->name) : 0;

	if (nl == 0 || !utf8_valid((const unsigned char *)q->name, nl) ||
	    nl >= RA_OFFICER_NAME_BYTES ||
	    (!ra_name_romaji_ok(q->name) && !ra_name_kanji_ok(q->name)))
		return err_set(
		    e, ERR_REFUSED,
		    "officer: name: 1 to %d characters of a person's name (Latin letters, "
		    "or kanji and kana) is required",
		    RA_NAME_MAX);
	if (q->email == NULL || strlen(q->email) >= RA_OFFICER_EMAIL_BYTES ||
	    !mail_addr_valid(q->email))
		return err_set(e, ERR_REFUSED, "officer: e-mail: not a valid address");
	if ((unsigned)q->role >= RA_ROLE__MAX)
		return err_set(e, ERR_REFUSED, "officer: role: officer, operator or auditor");
	if (q->perms & ~RA_PERM_ALL)
		return err_set(e, ERR_REFUSED, "officer: perms: unknown permission bits");
	if (q->role != RA_ROLE_OFFICER) {
		if (q->org_code != NULL && q->org_code[0] != '\0')
			return err_set(e, ERR_REFUSED,
				       "officer: org: a CA %s belongs to no organization",
				       ra_role_name(q->role));
		return 0;
	}
	if (q->org_code == NULL || q->org_code[0] == '\0')
		return err_set(e, ERR_REFUSED, "officer: org: an officer needs its organization");
	return store_org_get(st, q->org_code, org, e);
}

int
ra_officer_add(struct ca *ca, struct store *st, const struct ra_officer_new *q,
	       const struct ra_officer_notify *n, const char *actor, struct ra_officer *out,
	       char pin[RA_OFFICER_PIN_LEN + 1], struct err *e)
{
	struct store_officer rec;
	struct store_org org;
	char perms[RA_PERMS_TEXT], obj[64], *detail = NULL;
	int rc = -1, intx = 0;

	memset(&org, 0, sizeof(org));
	memset(&rec, 0, sizeof(rec));
	memset(out, 0, sizeof(*out));
	pin[0] = '\0';
	if (officer_check(st, q, &org, e) == -1)
		goto out;
	rec.org_id = org.id;
	rec.role = (char *)ra_role_name(q->role);
	rec.name = (char *)q->name;
	rec.email = (char *)q->email;
	rec.perms = q->perms;
	rec.status = "active";
	rec.created = util_now();
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (store_officer_add(st, &rec, &out->id, e) == -1)
		goto out;
	out->org_id = org.id;
	snprintf(out->org_code, sizeof(out->org_code), "%s", org.code != NULL ? org.code : "");
	snprintf(out->org_name, sizeof(out->org_name), "%s", org.name != NULL ? org.name : "");
	snprintf(out->name, sizeof(out->name), "%s", q->name);
	snprintf(out->email, sizeof(out->email), "%s", q->email);
	out->role = q->role;
	out->perms = q->perms;
	out->active = 1;
	out->created = rec.created;
	ra_perms_format(q->perms, perms);
	snprintf(obj, sizeof(obj), "officer:%" PRId64, out->id);
	detail = xasprintf("role=%s org=%s email=%s perms=%s", ra_role_name(q->role),
			   out->org_code[0] != '\0' ? out->org_code : "-", q->email, perms);
	if (store_audit_append(st, actor, "officer.add", obj, detail, NULL, e) == -1 ||
	    officer_enrol_open(ca, st, out, "enrol", rec.created, n, pin, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	if (rc == -1) {
		sodium_memzero(pin, RA_OFFICER_PIN_LEN + 1);
		memset(out, 0, sizeof(*out));
	}
	free(detail);
	store_org_clear(&org);
	return rc;
}

/* One audited change of an officer: fn(st, id, arg) and the audit entry, one transaction. */
static int
officer_change(struct store *st, int64_t id, const char *actor, const char *action,
	       const char *detail, int (*fn)(struct store *, int64_t, const void *, struct err *),
	       const void *arg, struct err *e)
{
	char obj[64];
	int rc = -1, intx = 0;

	snprintf(obj, sizeof(obj), "officer:%" PRId64, id);
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (fn(st, id, arg, e) == -1 ||
	    store_audit_append(st, actor, action, obj, detail, NULL, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	return rc;
}

static int
officer_status_fn(struct store *st, int64_t id, const void *arg, struct err *e)
{
	return store_officer_set_status(st, id, (const char *)arg, util_now(), e);
}

static int
officer_perms_fn(struct store *st, int64_t id, const void *arg, struct err *e)
{
	return store_officer_set_perms(st, id, (int64_t) * (const unsigned *)arg, util_now(), e);
}

int
ra_officer_set_status(struct store *st, int64_t id, int active, const char *actor, struct err *e)
{
	return officer_change(st, id, actor, active ? "officer.enable" : "officer.disable", "",
			      officer_status_fn, active ? "active" : "disabled", e);
}

int
ra_officer_set_perms(struct store *st, int64_t id, unsigned perms, const char *actor, struct err *e)
{
	char text[RA_PERMS_TEXT], detail[RA_PERMS_TEXT + 8];

	if (perms & ~RA_PERM_ALL)
		return err_set(e, ERR_REFUSED, "officer: perms: unknown permission bits");
	ra_perms_format(perms, text);
	snprintf(detail, sizeof(detail), "perms=%s", text);
	return officer_change(st, id, actor, "officer.perms", detail, officer_perms_fn, &perms, e);
}

/*
 * Revokes every active certificate of the officer with reason inside the caller's transaction
 * (a certificate revoked already by other means is only marked), moving each to status to.
 * *count adds those revoked here.
 */
static int
officer_revoke_active(struct ca *ca, struct store *st, int64_t officer_id, int64_t below_id,
		      int reason, const char *to, const char *actor, size_t *count, struct err *e)
{
	struct store_officer_cert *v = NULL;
	struct err se;
	size_t n = 0, i;
	int rc = -1;

	if (store_officer_cert_list(st, officer_id, &v, &n, e) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		if (strcmp(v[i].status, "active") != 0 || (below_id != 0 && v[i].id >= below_id))
			continue;
		err_clear(&se);
		if (ca_revoke_tx(ca, st, v[i].serial, reason, 0, actor, &se) == -1) {
			if (se.code != ERR_CONFLICT) {
				*e = se;
				goto out;
			}
		} else {
			(*count)++;
		}
		if (store_officer_cert_set_status(st, v[i].serial, "active", to, e) == -1)
			goto out;
	}
	rc = 0;
out:
	STORE_LIST_FREE(v, n, store_officer_cert_clear);
	return rc;
}

/* After revocations committed: the CRL-on-revoke rule (a failure is only logged). */
static void
officer_after_revoke(struct ca *ca, struct store *st, size_t count, const char *actor)
{
	struct err e;

	err_clear(&e);
	if (count > 0 && ca_after_revoke(ca, st, actor, &e) == -1)
		log_warn("officer: CRL after revocation: %s", e.msg);
}

int
ra_officer_reenrol(struct ca *ca, struct store *st, int64_t id, int reason,
		   const struct ra_officer_notify *n, const char *actor,
		   char pin[RA_OFFICER_PIN_LEN + 1], struct err *e)
{
	struct ra_officer o;
	char obj[64], detail[64];
	size_t revoked = 0;
	int rc = -1, intx = 0;

	pin[0] = '\0';
	if (ra_officer_get(st, id, &o, e) == -1)
		goto out;
	if (!o.active) {
		err_set(e, ERR_REFUSED, "officer: officer %" PRId64 " is disabled", id);
		goto out;
	}
	snprintf(obj, sizeof(obj), "officer:%" PRId64, id);
	snprintf(detail, sizeof(detail), "reason=%s", ca_reason_name(reason));
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (store_enrol_close_open(st, id, e) == -1 ||
	    officer_revoke_active(ca, st, id, 0, reason, "revoked", actor, &revoked, e) == -1 ||
	    store_audit_append(st, actor, "officer.reenrol", obj, detail, NULL, e) == -1 ||
	    officer_enrol_open(ca, st, &o, "enrol", util_now(), n, pin, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	officer_after_revoke(ca, st, revoked, actor);
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	if (rc == -1)
		sodium_memzero(pin, RA_OFFICER_PIN_LEN + 1);
	return rc;
}

/* ---- the enrolment URL's page ---- */

void
ra_enrol_cert_clear(struct ra_enrol_cert *c)
{
	if (c == NULL)
		return;
	if (c->p12 != NULL) {
		sodium_memzero(c->p12, c->p12len);
		free(c->p12);
	}
	sodium_memzero(c, sizeof(*c));
}

/*
 * The enrolment of token's text and its officer: 0 with *res UNKNOWN (nothing loaded), or
 * OK, EXPIRED, LOCKED, ISSUED, DISABLED with en and o loaded; raw gets the secret.
 */
static int
officer_enrol_load(struct store *st, const char *token, time_t now, unsigned char raw[RA_TOKEN_LEN],
		   struct store_enrol *en, struct ra_officer *o, enum ra_enrol_result *res,
		   struct err *e)
{
	unsigned char th[STORE_HASH_LEN];
	struct err se;

	*res = RA_ENROL_UNKNOWN;
	memset(en, 0, sizeof(*en));
	memset(o, 0, sizeof(*o));
	if (token == NULL || ra_token_decode(token, raw) == -1)
		return 0;
	ra_token_hash(raw, th);
	err_clear(&se);
	if (store_enrol_get(st, th, en, &se) == -1) {
		if (se.code == ERR_NOTFOUND)
			return 0;
		*e = se;
		return -1;
	}
	if (ra_officer_get(st, en->officer_id, o, e) == -1)
		return -1;
	if (strcmp(en->state, "issued") == 0)
		*res = RA_ENROL_ISSUED;
	else if (strcmp(en->state, "locked") == 0)
		*res = RA_ENROL_LOCKED;
	else if (strcmp(en->state, "expired") == 0 || en->expires <= now)
		*res = RA_ENROL_EXPIRED;
	else if (!o->active)
		*res = RA_ENROL_DISABLED;
	else
		*res = RA_ENROL_OK;
	return 0;
}

int
ra_officer_enrol_peek(struct store *st, const char *token, struct ra_enrol_view *v,
		      enum ra_enrol_result *res, struct err *e)
{
	unsigned char raw[RA_TOKEN_LEN];
	struct store_enrol en;
	struct ra_officer o;
	int rc = -1;

	if (v != NULL)
		memset(v, 0, sizeof(*v));
	if (officer_enrol_load(st, token, util_now(), raw, &en, &o, res, e) == -1)
		goto out;
	if (*res != RA_ENROL_UNKNOWN && v != NULL) {
		v->officer = o;
		v->kind = strcmp(en.kind, "renew") == 0 ? RA_ENROL_KIND_RENEW : RA_ENROL_KIND_ENROL;
		v->expires = en.expires;
		v->tries_left =
		    en.tries < RA_OFFICER_TRIES ? (int)(RA_OFFICER_TRIES - en.tries) : 0;
	}
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	store_enrol_clear(&en);
	return rc;
}

/* The outcome of an enrolment that is no longer open (read again by its hash). */
static int
officer_enrol_state(struct store *st, const unsigned char th[STORE_HASH_LEN],
		    enum ra_enrol_result *res, struct err *e)
{
	struct store_enrol en;
	int rc = -1;

	if (store_enrol_get(st, th, &en, e) == -1)
		goto out;
	if (strcmp(en.state, "issued") == 0)
		*res = RA_ENROL_ISSUED;
	else if (strcmp(en.state, "expired") == 0)
		*res = RA_ENROL_EXPIRED;
	else
		*res = RA_ENROL_LOCKED;
	rc = 0;
out:
	store_enrol_clear(&en);
	return rc;
}

/*
 * A wrong PIN, in one transaction: tries + 1 (locked at RA_OFFICER_TRIES) and its audit
 * entry.  *res WRONG_PIN (tries_left set) or LOCKED; a state that moved meanwhile (a twin
 * locked or issued it) is looked at again.
 */
static int
officer_wrong_pin(struct store *st, const struct store_enrol *en,
		  const unsigned char th[STORE_HASH_LEN], enum ra_enrol_result *res,
		  int *tries_left, struct err *e)
{
	struct err se;
	char obj[64], detail[64];
	int64_t tries = 0;
	int locked = 0, rc = -1, intx = 0;

	err_clear(&se);
	snprintf(obj, sizeof(obj), "officer:%" PRId64, en->officer_id);
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (store_enrol_fail(st, en->id, RA_OFFICER_TRIES, &tries, &locked, &se) == -1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			goto out;
		}
		/* no longer open: a twin locked, issued or expired it meanwhile */
		store_rollback(st);
		intx = 0;
		rc = officer_enrol_state(st, th, res, e);
		goto out;
	}
	snprintf(detail, sizeof(detail), "enrolment=%" PRId64 " tries=%" PRId64, en->id, tries);
	if (store_audit_append(st, "officer:enrol",
			       locked ? "officer.enrol.locked" : "officer.enrol.wrong_pin", obj,
			       detail, NULL, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	*res = locked ? RA_ENROL_LOCKED : RA_ENROL_WRONG_PIN;
	*tries_left = tries < RA_OFFICER_TRIES ? (int)(RA_OFFICER_TRIES - tries) : 0;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	return rc;
}

/* One officer certificate's issuance: what its hooks share. */
struct officer_run {
	struct ca *ca;
	const struct ra_officer *o;
	const struct store_enrol *en;
	struct ra_key key;
	struct ra_enrol_cert *out;
	unsigned char dlhash[STORE_HASH_LEN], fpr[STORE_HASH_LEN];
	char actor[64];
	time_t now;
	int lost; /* the enrolment was not open anymore: a twin issued it */
};

/* signed_fn: the PKCS#12, its download secret and the fingerprint, before anything is stored. */
static int
officer_signed(const struct ca_issued *c, void *arg, struct err *e)
{
	struct officer_run *u = arg;
	struct ra_enrol_cert *out = u->out;
	unsigned char dlraw[RA_TOKEN_LEN];
	char friendly[RA_OFFICER_NAME_BYTES + 16];

	ra_enrol_cert_clear(out); /* a serial drawn anew: everything anew */
	snprintf(friendly, sizeof(friendly), "%s (RA officer)", u->o->name);
	if (ra_p12(&u->key, c->der, c->derlen, u->ca->chain, friendly, &out->p12, &out->p12len,
		   e) == -1)
		return -1;
	memcpy(out->serial, c->serial, sizeof(out->serial));
	memcpy(out->pin, u->key.pin, sizeof(out->pin));
	out->not_after = c->not_after;
	out->officer_id = u->o->id;
	ra_token_new(dlraw, out->dl);
	ra_token_hash(dlraw, u->dlhash);
	sodium_memzero(dlraw, sizeof(dlraw));
	SHA256(c->der, c->derlen, u->fpr);
	return 0;
}

/* write_fn, in the certificate's transaction: enrolment issued (once), certificate bound. */
static int
officer_write(struct store *st, const struct ca_issued *c, void *arg, struct err *e)
{
	struct officer_run *u = arg;
	struct store_officer_cert oc;
	struct err se;
	char obj[64], *detail;
	int rc;

	err_clear(&se);
	if (store_enrol_issue(st, u->en->id, c->serial, u->out->p12, u->out->p12len, u->dlhash,
			      u->now + RA_DOWNLOAD_TTL, u->now, &se) == -1) {
		if (se.code == ERR_CONFLICT)
			u->lost = 1;
		*e = se;
		return -1;
	}
	memset(&oc, 0, sizeof(oc));
	memcpy(oc.serial, c->serial, sizeof(oc.serial));
	oc.officer_id = u->o->id;
	memcpy(oc.fpr, u->fpr, sizeof(oc.fpr));
	oc.not_after = c->not_after;
	oc.created = u->now;
	if (store_officer_cert_add(st, &oc, e) == -1)
		return -1;
	snprintf(obj, sizeof(obj), "officer:%" PRId64, u->o->id);
	detail =
	    xasprintf("serial=%s enrolment=%" PRId64 " kind=%s", c->serial, u->en->id, u->en->kind);
	rc = store_audit_append(st, u->actor, "officer.enrol", obj, detail, NULL, e);
	free(detail);
	return rc;
}

/* The issuing CA's organizationName (O of operators' and auditors' certificates). */
static void
officer_ca_org(struct ca *ca, char *out, size_t n)
{
	snprintf(out, n, "shomei");
	if (ca->cert != NULL)
		(void)X509_NAME_get_text_by_NID(X509_get_subject_name(ca->cert),
						NID_organizationName, out, (int)n);
}

/* Issues the certificate of enrolment en for officer o (u prepared); -1 with u->lost too. */
static int
officer_issue(struct ca *ca, struct store *st, struct officer_run *u, struct err *e)
{
	struct ra_issue_req rq;
	struct ca_issue_req cq;
	struct ca_issued issued;
	struct store_org caorg;
	X509_NAME *subject = NULL;
	char oname[257];
	int rc = -1;

	memset(&issued, 0, sizeof(issued));
	if (ra_key_make("p256", &u->key, e) == -1)
		goto out;
	if (u->o->role == RA_ROLE_OFFICER) {
		memset(&rq, 0, sizeof(rq));
		rq.profile = "officer";
		rq.officer = 1;
		rq.org_code = u->o->org_code;
		rq.key = u->key.key;
		rq.spki = u->key.spki;
		rq.cn = u->o->name;
		rq.names_given = 1;
		rq.actor = u->actor;
		rq.signed_fn = officer_signed;
		rq.write_fn = officer_write;
		rq.arg = u;
		if (ra_issue(ca, st, &rq, &issued, e) == -1)
			goto out;
	} else {
		/* CA operators and auditors: O is the CA's own name */
		officer_ca_org(ca, oname, sizeof(oname));
		memset(&caorg, 0, sizeof(caorg));
		caorg.name = oname;
		if (ra_policy_subject(&caorg, NULL, 0, u->o->name, &subject, e) == -1)
			goto out;
		memset(&cq, 0, sizeof(cq));
		cq.profile = "officer";
		cq.key = u->key.key;
		cq.spki = u->key.spki;
		cq.subject = subject;
		cq.actor = u->actor;
		cq.signed_fn = officer_signed;
		cq.write_fn = officer_write;
		cq.arg = u;
		if (ca_issue(ca, st, &cq, &issued, e) == -1)
			goto out;
	}
	rc = 0;
out:
	X509_NAME_free(subject);
	ca_issued_clear(&issued);
	ra_key_clear(&u->key);
	return rc;
}

/* The officer-issuing CA of console.officer_ca: only the issuing CA (ca_name) for now. */
static int
officer_ca_check(struct ca *ca, struct err *e)
{
	const char *want = conf_get(&ca->conf, "console.officer_ca", ca->name);

	if (strcmp(want, ca->name) != 0)
		return err_set(e, ERR_INTERNAL,
			       "officer: console.officer_ca: only the issuing CA \"%s\" issues "
			       "officer certificates",
			       ca->name);
	return 0;
}

int
ra_officer_enrol_take(struct ca *ca, struct store *st, const char *token,
		      const struct ra_enrol_auth *auth, enum ra_enrol_result *res,
		      struct ra_enrol_cert *out, struct err *e)
{
	const char *pin = auth->pin;
	struct officer_run u;
	struct store_enrol en;
	struct ra_officer o;
	unsigned char raw[RA_TOKEN_LEN], ph[STORE_HASH_LEN], th[STORE_HASH_LEN];
	struct err se;
	int rc = -1;

	memset(&u, 0, sizeof(u));
	memset(out, 0, sizeof(*out));
	err_clear(&se);
	u.now = util_now();
	if (officer_ca_check(ca, e) == -1 ||
	    officer_enrol_load(st, token, u.now, raw, &en, &o, res, e) == -1)
		goto out;
	if (*res == RA_ENROL_EXPIRED && strcmp(en.state, "open") == 0 &&
	    store_enrol_set_state(st, en.id, "open", "expired", &se) == -1 &&
	    se.code != ERR_CONFLICT) {
		*e = se;
		goto out;
	}
	if (*res != RA_ENROL_OK) {
		rc = 0;
		goto out;
	}
	/*
	 * The URL's kind must be what the caller proved: an access PIN for an enrolment, the
	 * officer's own current certificate (checked by the console) for a renewal.  A renewal URL
	 * never issues on a PIN page, nor for another officer.
	 */
	if (strcmp(en.kind, auth->kind == RA_ENROL_KIND_RENEW ? "renew" : "enrol") != 0 ||
	    (auth->kind == RA_ENROL_KIND_RENEW && en.officer_id != auth->officer_id)) {
		*res = RA_ENROL_UNKNOWN;
		rc = 0;
		goto out;
	}
	if (strcmp(en.kind, "enrol") == 0) {
		ra_pin_hash(raw, pin, ph);
		if (sodium_memcmp(ph, en.pin_hash, sizeof(ph)) != 0) {
			ra_token_hash(raw, th);
			rc = officer_wrong_pin(st, &en, th, res, &out->tries_left, e);
			goto out;
		}
	}
	u.ca = ca;
	u.o = &o;
	u.en = &en;
	u.out = out;
	snprintf(u.actor, sizeof(u.actor), "officer:%" PRId64, o.id);
	if (officer_issue(ca, st, &u, &se) == -1) {
		ra_enrol_cert_clear(out);
		if (!u.lost) {
			*e = se;
			goto out;
		}
		*res = RA_ENROL_ISSUED; /* a twin (a retry, a Back) issued it first */
		rc = 0;
		goto out;
	}
	*res = RA_ENROL_OK;
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(ph, sizeof(ph));
	store_enrol_clear(&en);
	return rc;
}

int
ra_officer_download_take(struct store *st, const char *secret, unsigned char **data, size_t *len,
			 struct err *e)
{
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	int rc = -1;

	*data = NULL;
	*len = 0;
	if (secret == NULL || ra_token_decode(secret, raw) == -1) {
		err_set(e, ERR_NOTFOUND, "officer: no such download");
		goto out;
	}
	ra_token_hash(raw, h);
	rc = store_enrol_p12_take(st, h, util_now(), data, len, e);
out:
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

/* ---- console login ---- */

/* The checks of a certificate that need no store: FOREIGN, PERSONAL, EXPIRED or OK. */
static enum ra_login_result
officer_cert_check(struct ca *ca, X509 *x, time_t now)
{
	int exact = 0, similar = 0;

	/* the officer-issuing CA, or an earlier one whose certificates live on after a switch */
	if (ca_issuing_of(ca, x) == NULL)
		return RA_LOGIN_FOREIGN;
	x509_name_officer_count(X509_get_subject_name(x), &exact, &similar);
	if (exact != 1 || similar != 1)
		return RA_LOGIN_PERSONAL;
	return RA_LOGIN_OK;
}

/* 1 when now lies outside x's validity. */
static int
officer_cert_expired(X509 *x, time_t now)
{
	return X509_cmp_time(X509_get0_notBefore(x), &now) > 0 ||
	       X509_cmp_time(X509_get0_notAfter(x), &now) < 0;
}

/* The writes of an accepted login (one transaction); *revoked counts superseded ones. */
static int
officer_login_write(struct ca *ca, struct store *st, const struct store_officer_cert *oc,
		    const struct ra_officer *o, const struct ra_login_session *ls, time_t now,
		    size_t *revoked, struct err *e)
{
	char actor[64], obj[64], detail[160], ip[48];
	struct store_osess os;
	unsigned char raw[RA_TOKEN_LEN];
	int first = 0, rc = -1, intx = 0;

	snprintf(actor, sizeof(actor), "officer:%" PRId64, o->id);
	snprintf(obj, sizeof(obj), "officer:%" PRId64, o->id);
	memset(&os, 0, sizeof(os));
	if (ra_token_decode(ls->sid, raw) == -1) {
		err_set(e, ERR_REFUSED, "console: malformed session id");
		goto out;
	}
	ra_token_hash(raw, os.id_hash);
	sodium_memzero(raw, sizeof(raw));
	os.officer_id = o->id;
	memcpy(os.fpr, oc->fpr, STORE_HASH_LEN);
	log_escape(ip, sizeof(ip), ls->client, strlen(ls->client));
	snprintf(os.client, sizeof(os.client), "%s", ip);
	os.created = os.last_seen = now;
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (store_officer_cert_login(st, oc->serial, now, &first, e) == -1 ||
	    store_osess_add(st, &os, e) == -1)
		goto out;
	/* the first login with a new certificate supersedes the officer's older ones */
	if (first && officer_revoke_active(ca, st, o->id, oc->id, CA_REASON_SUPERSEDED,
					   "superseded", actor, revoked, e) == -1)
		goto out;
	snprintf(detail, sizeof(detail), "serial=%s first=%d address=%s", oc->serial, first,
		 os.client);
	if (store_audit_append(st, actor, "console.login", obj, detail, NULL, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	return rc;
}

/* The check of ra_officer_check(), and with ls the writes of ra_officer_login(). */
static int
officer_login(struct ca *ca, struct store *st, const unsigned char *der, size_t len, time_t now,
	      const struct ra_login_session *ls, struct ra_officer *out, unsigned char fpr[32],
	      enum ra_login_result *why, struct err *e)
{
	const unsigned char *p = der;
	struct store_officer_cert oc;
	struct store_cert rec;
	char serial[STORE_SERIAL_MAX];
	X509 *x = NULL;
	struct err se;
	size_t revoked = 0;
	int rc = -1;

	memset(&oc, 0, sizeof(oc));
	memset(&rec, 0, sizeof(rec));
	memset(out, 0, sizeof(*out));
	memset(fpr, 0, 32);
	err_clear(&se);
	*why = RA_LOGIN_NO_CERT;
	if (der == NULL || len == 0) {
		rc = 0;
		goto out;
	}
	*why = RA_LOGIN_FOREIGN;
	if (len > LONG_MAX || (x = d2i_X509(NULL, &p, (long)len)) == NULL || p != der + len) {
		ERR_clear_error();
		rc = 0;
		goto out;
	}
	SHA256(der, len, fpr);
	if ((*why = officer_cert_check(ca, x, now)) != RA_LOGIN_OK ||
	    x509_serial_hex(X509_get0_serialNumber(x), serial, sizeof(serial)) == -1) {
		if (*why == RA_LOGIN_OK)
			*why = RA_LOGIN_FOREIGN;
		rc = 0;
		goto out;
	}
	if (store_cert_get(st, serial, &rec, &se) == -1 && se.code != ERR_NOTFOUND) {
		*e = se;
		goto out;
	}
	rc = 0;
	if (rec.status == STORE_CERT_REVOKED) {
		*why = RA_LOGIN_REVOKED;
		goto out;
	}
	if (officer_cert_expired(x, now)) {
		*why = RA_LOGIN_EXPIRED;
		goto out;
	}
	err_clear(&se);
	if (store_officer_cert_by_fpr(st, fpr, &oc, &se) == -1) {
		*why = RA_LOGIN_UNKNOWN;
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			rc = -1;
		}
		goto out;
	}
	if (strcmp(oc.status, "active") != 0) {
		*why = RA_LOGIN_REVOKED;
		goto out;
	}
	rc = -1;
	if (ra_officer_get(st, oc.officer_id, out, e) == -1)
		goto out;
	rc = 0;
	if (!out->active) {
		*why = RA_LOGIN_DISABLED;
		goto out;
	}
	if (ls != NULL) {
		if (officer_login_write(ca, st, &oc, out, ls, now, &revoked, e) == -1) {
			rc = -1;
			goto out;
		}
		officer_after_revoke(ca, st, revoked, "console:login");
	}
	*why = RA_LOGIN_OK;
out:
	if (rc == -1 || (*why != RA_LOGIN_OK && *why != RA_LOGIN_DISABLED))
		memset(out, 0, sizeof(*out));
	X509_free(x);
	store_cert_clear(&rec);
	store_officer_cert_clear(&oc);
	return rc;
}

int
ra_officer_check(struct ca *ca, struct store *st, const unsigned char *der, size_t len, time_t now,
		 struct ra_officer *out, unsigned char fpr[32], enum ra_login_result *why,
		 struct err *e)
{
	return officer_login(ca, st, der, len, now, NULL, out, fpr, why, e);
}

int
ra_officer_login(struct ca *ca, struct store *st, const unsigned char *der, size_t len, time_t now,
		 const struct ra_login_session *ls, struct ra_officer *out, unsigned char fpr[32],
		 enum ra_login_result *why, struct err *e)
{
	return officer_login(ca, st, der, len, now, ls, out, fpr, why, e);
}

/* ---- renewal and the supersede rule ---- */

/* Opens the renewal of officer id (one transaction); *opened 0 when it was not due anymore. */
static int
officer_renew_one(struct ca *ca, struct store *st, int64_t id, time_t now,
		  const struct ra_officer_notify *n, int *opened, struct err *e)
{
	struct ra_officer o;
	char obj[64];
	int64_t open = 0;
	int rc = -1, intx = 0;

	*opened = 0;
	snprintf(obj, sizeof(obj), "officer:%" PRId64, id);
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (ra_officer_get(st, id, &o, e) == -1 ||
	    store_enrol_open_count(st, id, "renew", now, &open, e) == -1)
		goto out;
	if (!o.active || open > 0) {
		rc = 0; /* done meanwhile */
		goto out;
	}
	if (officer_enrol_open(ca, st, &o, "renew", now, n, NULL, e) == -1 ||
	    store_audit_append(st, "console:schedule", "officer.renew", obj, "", NULL, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	*opened = 1;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	return rc;
}

int
ra_officer_renew_due(struct ca *ca, struct store *st, time_t now, const struct ra_officer_notify *n,
		     size_t *count, struct err *e)
{
	int64_t *ids = NULL;
	size_t nids = 0, i;
	int opened, rc = -1;

	*count = 0;
	if (store_enrol_p12_purge(st, now, NULL, e) == -1 ||
	    store_officer_renew_due(st, now + RA_OFFICER_RENEW_DAYS * DAY, now, &ids, &nids, e) ==
		-1)
		goto out;
	for (i = 0; i < nids; i++) {
		if (officer_renew_one(ca, st, ids[i], now, n, &opened, e) == -1)
			goto out;
		*count += (size_t)opened;
	}
	rc = 0;
out:
	free(ids);
	return rc;
}

int
ra_officer_supersede_due(struct ca *ca, struct store *st, time_t now, size_t *count, struct err *e)
{
	struct store_officer_cert *v = NULL;
	const char *actor = "console:schedule";
	struct err se;
	char obj[64], detail[80];
	size_t n = 0, i, revoked = 0;
	int rc = -1, intx = 0, mine;

	*count = 0;
	if (store_officer_cert_supersede_due(st, now - RA_OFFICER_SUPERSEDE_DAYS * DAY, &v, &n,
					     e) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		snprintf(obj, sizeof(obj), "officer:%" PRId64, v[i].officer_id);
		snprintf(detail, sizeof(detail), "serial=%s", v[i].serial);
		if (store_begin(st, e) == -1)
			goto out;
		intx = 1;
		err_clear(&se);
		if ((mine = ca_revoke_tx(ca, st, v[i].serial, CA_REASON_SUPERSEDED, 0, actor,
					 &se) == 0) == 0 &&
		    se.code != ERR_CONFLICT) {
			*e = se;
			goto out;
		}
		err_clear(&se);
		if (store_officer_cert_set_status(st, v[i].serial, "active", "superseded", &se) ==
		    -1) {
			if (se.code != ERR_CONFLICT) {
				*e = se;
				goto out;
			}
			store_rollback(st); /* moved meanwhile (a login superseded it) */
			intx = 0;
			continue;
		}
		if (store_audit_append(st, actor, "officer.supersede", obj, detail, NULL, e) ==
			-1 ||
		    store_commit(st, e) == -1)
			goto out;
		intx = 0;
		revoked += (size_t)mine;
		(*count)++;
	}
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	officer_after_revoke(ca, st, revoked, actor);
	STORE_LIST_FREE(v, n, store_officer_cert_clear);
	return rc;
}
