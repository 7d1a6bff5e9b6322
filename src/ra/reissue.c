/*
 * reissue: re-issue by the holder (DESIGN.md 2.3) — the login by e-mail, application password
 * and certificate code, the holder's certificates with why each cannot be re-issued, the
 * rules of the mutable fields, and the commit: old certificate revoked (superseded) and new
 * application made in one transaction, with the mail carrying the new certificate code.  The
 * faces word the outcomes, keep the holder's identity between their steps and make the forms'
 * nonces; nothing here knows about HTML or languages.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca/ca.h"
#include "mail/mail.h"
#include "ra.h"
#include "util/utf8.h"
#include "x509/x509.h"

#define REISSUE_OU_MAX 64 /* characters of an OU (X.520 ub-name) */

static const char *const reissue_login_results[RA_REISSUE_LOGIN_RESULT__MAX] = {
    [RA_REISSUE_LOGIN_OK] = "ok",
    [RA_REISSUE_LOGIN_REFUSED] = "refused",
};

static const char *const reissue_whys[RA_REISSUE_WHY__MAX] = {
    [RA_REISSUE_WHY_NONE] = "none",
    [RA_REISSUE_WHY_REVOKED] = "revoked",
    [RA_REISSUE_WHY_EXPIRED] = "expired",
    [RA_REISSUE_WHY_ENDING] = "ending",
    [RA_REISSUE_WHY_OTHER_CODE] = "other_code",
};

static const char *const reissue_fields[RA_REISSUE_FIELD__MAX] = {
    [RA_REISSUE_FIELD_OK] = "ok",
    [RA_REISSUE_FIELD_MISSING] = "missing",
    [RA_REISSUE_FIELD_INVALID] = "invalid",
    [RA_REISSUE_FIELD_OUTSIDE_ORG] = "outside_org",
};

static const char *const reissue_results[RA_REISSUE_RESULT__MAX] = {
    [RA_REISSUE_ACCEPTED] = "accepted",
    [RA_REISSUE_REPEAT] = "repeat",
    [RA_REISSUE_NOT_REISSUABLE] = "not_reissuable",
    [RA_REISSUE_REVOKED_MEANWHILE] = "revoked_meanwhile",
    [RA_REISSUE_FIELDS] = "fields",
};

const char *
ra_reissue_login_result_name(enum ra_reissue_login_result r)
{
	if ((int)r < 0 || r >= RA_REISSUE_LOGIN_RESULT__MAX)
		return "error";
	return reissue_login_results[r];
}

const char *
ra_reissue_why_name(enum ra_reissue_why w)
{
	if ((int)w < 0 || w >= RA_REISSUE_WHY__MAX)
		return "error";
	return reissue_whys[w];
}

const char *
ra_reissue_field_name(enum ra_reissue_field f)
{
	if ((int)f < 0 || f >= RA_REISSUE_FIELD__MAX)
		return "error";
	return reissue_fields[f];
}

const char *
ra_reissue_result_name(enum ra_reissue_result r)
{
	if ((int)r < 0 || r >= RA_REISSUE_RESULT__MAX)
		return "error";
	return reissue_results[r];
}

static const char *
reissue_nz(const char *s)
{
	return s != NULL ? s : "";
}

/* ---- login ---- */

int
ra_reissue_login(struct store *st, const char *email, const char *password, const char *code,
		 struct ra_app *out, enum ra_reissue_login_result *res, struct err *e)
{
	struct store_app a;
	struct err se;
	unsigned char h[STORE_HASH_LEN];
	int rc = -1, pw_ok, addr_ok;

	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	err_clear(&se);
	*res = RA_REISSUE_LOGIN_REFUSED;
	email = reissue_nz(email);
	password = reissue_nz(password);
	if (ra_code_hash(code, h) == -1) {
		rc = 0; /* no code at all: the same answer as a wrong one */
		goto out;
	}
	if (store_app_get_by_code(st, h, &a, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (a.password_hash == NULL || a.password_hash[0] == '\0') {
		rc = 0;
		goto out;
	}
	/* the password is verified whatever the address: the time taken tells neither apart */
	pw_ok = crypto_pwhash_str_verify(a.password_hash, password, strlen(password)) == 0;
	addr_ok = (a.email != NULL && strcasecmp(email, a.email) == 0) ||
		  (a.subject_email != NULL && strcasecmp(email, a.subject_email) == 0);
	if (!pw_ok || !addr_ok) {
		rc = 0;
		goto out;
	}
	if (ra_app_load(st, a.id, out, e) == -1)
		goto out;
	*res = RA_REISSUE_LOGIN_OK;
	rc = 0;
out:
	sodium_memzero(h, sizeof(h));
	store_app_clear(&a);
	return rc;
}

/* ---- what may be re-issued ---- */

void
ra_reissue_item_clear(struct ra_reissue_item *it)
{
	if (it == NULL)
		return;
	free(it->subject);
	free(it->name_romaji);
	free(it->name_kanji);
	free(it->hostnames);
	memset(it, 0, sizeof(*it));
}

void
ra_reissue_items_free(struct ra_reissue_item *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		ra_reissue_item_clear(&v[i]);
	free(v);
}

/*
 * Why the certificate c of application a cannot be re-issued at now (NONE when it can): an
 * application that is no longer "issued" was re-issued (its certificate revoked) already.
 */
static enum ra_reissue_why
reissue_why(const struct store_app *a, const struct store_cert *c, time_t now)
{
	if (a->state == NULL || strcmp(a->state, ra_app_state_name(RA_APP_ISSUED)) != 0 ||
	    c->status == STORE_CERT_REVOKED)
		return RA_REISSUE_WHY_REVOKED;
	if (c->not_after <= now)
		return RA_REISSUE_WHY_EXPIRED;
	if (c->not_after - now <= RA_REISSUE_MIN_LEFT)
		return RA_REISSUE_WHY_ENDING;
	return RA_REISSUE_WHY_NONE;
}

/* Fills it (owning copies) from application a and its certificate c. */
static void
reissue_item_fill(struct ra_reissue_item *it, const struct store_app *a, const struct store_cert *c,
		  time_t now)
{
	memset(it, 0, sizeof(*it));
	it->app_id = a->id;
	snprintf(it->serial, sizeof(it->serial), "%s", c->serial);
	snprintf(it->profile, sizeof(it->profile), "%s",
		 a->profile != NULL ? a->profile : reissue_nz(c->profile));
	it->subject = xstrdup(reissue_nz(c->subject));
	it->name_romaji = xstrdup(reissue_nz(a->name_romaji));
	it->name_kanji = xstrdup(reissue_nz(a->name_kanji));
	it->hostnames = xstrdup(reissue_nz(a->hostnames));
	it->not_before = c->not_before;
	it->not_after = c->not_after;
	it->why = reissue_why(a, c, now);
}

int
ra_reissue_list(struct store *st, const struct ra_app *login, const char *email, time_t now,
		struct ra_reissue_item **out, size_t *n, struct err *e)
{
	struct store_app *v = NULL;
	struct ra_reissue_item *items = NULL;
	struct store_cert c;
	size_t nv = 0, k = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	memset(&c, 0, sizeof(c));
	/* only the addresses the holder proved: no listing of someone else's certificates */
	if (email == NULL ||
	    (strcasecmp(email, login->email) != 0 &&
	     (login->subject_email[0] == '\0' || strcasecmp(email, login->subject_email) != 0))) {
		err_set(e, ERR_REFUSED,
			"ra: re-issue: the address is not one of application %lld's addresses",
			(long long)login->id);
		goto out;
	}
	if (store_app_list_holder(st, login->org_id, email, RA_REISSUE_LIST_MAX, &v, &nv, e) == -1)
		goto out;
	items = xcalloc(nv > 0 ? nv : 1, sizeof(*items));
	for (k = 0; k < nv; k++) {
		if (store_cert_get(st, v[k].cert_serial, &c, e) == -1)
			goto out;
		reissue_item_fill(&items[k], &v[k], &c, now);
		/* each certificate needs its own code: the login's code re-issues the login's one
		 */
		if (items[k].why == RA_REISSUE_WHY_NONE && v[k].id != login->id)
			items[k].why = RA_REISSUE_WHY_OTHER_CODE;
		store_cert_clear(&c);
	}
	*out = items;
	*n = nv;
	items = NULL;
	rc = 0;
out:
	store_cert_clear(&c);
	ra_reissue_items_free(items, k);
	STORE_LIST_FREE(v, nv, store_app_clear);
	return rc;
}

int
ra_reissue_target(struct store *st, int64_t app_id, time_t now, struct ra_app *a,
		  struct ra_reissue_item *it, struct err *e)
{
	struct store_cert c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	memset(it, 0, sizeof(*it));
	if (ra_app_load(st, app_id, a, e) == -1)
		goto out;
	if (a->cert_serial[0] == '\0') {
		err_set(e, ERR_NOTFOUND, "ra: re-issue: application %lld has no certificate",
			(long long)app_id);
		goto out;
	}
	if (store_cert_get(st, a->cert_serial, &c, e) == -1)
		goto out;
	reissue_item_fill(it, &a->rec, &c, now);
	rc = 0;
out:
	store_cert_clear(&c);
	if (rc != 0) {
		ra_app_clear(a);
		ra_reissue_item_clear(it);
	}
	return rc;
}

/* ---- the mutable fields ---- */

/*
 * The OU rule: strict UTF-8, 1-64 characters, no control characters (C0, DEL, C1, line and
 * paragraph separators), not only blanks (space, ideographic space).
 */
static enum ra_reissue_field
reissue_ou_rule(const char *ou, const char *profile)
{
	const unsigned char *p = (const unsigned char *)ou;
	size_t len = strlen(ou), i = 0;
	long n, c;
	int seen = 0;

	if (ou[0] == '\0')
		return profile[0] != '\0' && strcmp(profile, "server") != 0
			   ? RA_REISSUE_FIELD_MISSING
			   : RA_REISSUE_FIELD_OK;
	if ((n = utf8_count(p, len)) < 0 || n > REISSUE_OU_MAX)
		return RA_REISSUE_FIELD_INVALID;
	while (i < len) {
		c = utf8_next(p, len, &i);
		if (utf8_is_control(c) || c == 0x2028 || c == 0x2029)
			return RA_REISSUE_FIELD_INVALID;
		if (c != ' ' && c != 0x3000)
			seen = 1;
	}
	return seen ? RA_REISSUE_FIELD_OK : RA_REISSUE_FIELD_INVALID;
}

int
ra_reissue_check(struct store *st, const struct ra_app *a, const struct ra_reissue_vals *v,
		 struct ra_reissue_fields *f, struct err *e)
{
	struct store_org org;
	const char *addr = reissue_nz(v->subject_email), *ou = reissue_nz(v->ou);
	int rc = -1, client = strcmp(a->profile, "client") == 0;

	memset(f, 0, sizeof(*f));
	memset(&org, 0, sizeof(org));
	if (addr[0] != '\0' || client) {
		if (addr[0] == '\0') {
			f->subject_email = RA_REISSUE_FIELD_MISSING;
		} else if (!mail_addr_valid(addr)) {
			f->subject_email = RA_REISSUE_FIELD_INVALID;
		} else {
			if (store_org_get_id(st, a->org_id, &org, e) == -1)
				goto out;
			if (!ra_email_in_org(&org, addr))
				f->subject_email = RA_REISSUE_FIELD_OUTSIDE_ORG;
		}
	}
	f->ou = reissue_ou_rule(ou, a->profile);
	f->any = f->subject_email != RA_REISSUE_FIELD_OK || f->ou != RA_REISSUE_FIELD_OK;
	rc = 0;
out:
	store_org_clear(&org);
	return rc;
}

/* ---- the re-issue itself ---- */

int
ra_reissue_done(struct store *st, const unsigned char nonce[RA_TOKEN_LEN], int *done, struct err *e)
{
	struct store_token tok;
	struct err se;
	unsigned char h[STORE_HASH_LEN];
	int rc = -1;

	*done = 0;
	err_clear(&se);
	ra_token_hash(nonce, h);
	if (store_token_get(st, h, STORE_TOKEN_REISSUE_FORM, &tok, &se) == 0)
		*done = 1;
	else if (se.code != ERR_NOTFOUND) {
		*e = se;
		goto out;
	}
	rc = 0;
out:
	return rc;
}

void
ra_reissue_answer_clear(struct ra_reissue_answer *a)
{
	if (a == NULL)
		return;
	free(a->to);
	memset(a, 0, sizeof(*a));
}

/*
 * The writes of an accepted re-issue of a (certificate serial) inside the open transaction,
 * after the nonce: the revocation, the new application, its audit entry and the mail.
 * *revoked_meanwhile when the certificate was revoked by another writer.  *to: the address
 * mailed (owned).
 */
static int
reissue_write(struct ca *ca, struct store *st, const struct ra_reissue_req *q,
	      const struct ra_app *a, const char *serial, const struct ra_notify *n, time_t now,
	      int *revoked_meanwhile, int64_t *new_id, char **to, struct err *e)
{
	struct store_app rec;
	struct err se;
	unsigned char code_hash[STORE_HASH_LEN];
	char code[RA_CODE_LEN], *detail = NULL;
	const char *mail_to;
	int rc = -1;

	err_clear(&se);
	memset(code, 0, sizeof(code));
	memset(code_hash, 0, sizeof(code_hash));
	*revoked_meanwhile = 0;
	/* no revocation mail: the re-issue mail below tells the holder (one mail, as always) */
	if (ra_revoke_tx(ca, st, serial, CA_REASON_SUPERSEDED, q->actor, NULL, &se) == -1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			goto out;
		}
		*revoked_meanwhile = 1;
		rc = 0;
		goto out;
	}
	if (q->fault_after_revoke) {
		err_set(e, ERR_INTERNAL,
			"ra: re-issue of application %lld: injected fault between the revocation "
			"and the new application",
			(long long)a->id);
		goto out;
	}
	rec = a->rec; /* borrowed: the predecessor's values, two of them replaced */
	rec.subject_email = q->vals.subject_email[0] != '\0' ? (char *)q->vals.subject_email : NULL;
	rec.ou = q->vals.ou[0] != '\0' ? (char *)q->vals.ou : NULL;
	rec.predecessor_id = a->id;
	rec.created = now;
	rec.expires = now + RA_REISSUE_FETCH_TTL;
	ra_code_new(code, code_hash);
	if (store_app_add_reissue(st, &rec, code_hash, new_id, e) == -1)
		goto out;
	detail = xasprintf("application=%lld predecessor=%lld old=%s", (long long)*new_id,
			   (long long)a->id, serial);
	if (store_audit_append(st, q->actor, "portal.reissue", serial, detail, NULL, e) == -1)
		goto out;
	mail_to = rec.subject_email != NULL ? rec.subject_email : reissue_nz(rec.email);
	if (n != NULL && n->reissued != NULL &&
	    n->reissued(n->arg, st, mail_to, serial, code, e) == -1)
		goto out;
	*to = xstrdup(mail_to);
	rc = 0;
out:
	sodium_memzero(code, sizeof(code));
	sodium_memzero(code_hash, sizeof(code_hash));
	free(detail);
	return rc;
}

int
ra_reissue_commit(struct ca *ca, struct store *st, const struct ra_reissue_req *q,
		  const struct ra_notify *n, struct ra_reissue_answer *ans, struct err *e)
{
	struct ra_app a;
	struct ra_reissue_item it;
	struct store_token tok;
	struct err se;
	struct ra_reissue_vals v;
	struct ra_reissue_req req;
	unsigned char nh[STORE_HASH_LEN];
	time_t now;
	int rc = -1, intx = 0, meanwhile = 0;

	memset(ans, 0, sizeof(*ans));
	memset(&a, 0, sizeof(a));
	memset(&it, 0, sizeof(it));
	err_clear(&se);
	if (q->nonce == NULL || q->actor == NULL) {
		err_set(e, ERR_INTERNAL, "ra: re-issue without the form's nonce or an actor");
		goto out;
	}
	ra_token_hash(q->nonce, nh);
	req = *q;
	v.subject_email = reissue_nz(q->vals.subject_email);
	v.ou = reissue_nz(q->vals.ou);
	req.vals = v;
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	now = util_now();
	/* a repeat of the form (or a twin that committed first) changes nothing */
	if (store_token_get(st, nh, STORE_TOKEN_REISSUE_FORM, &tok, &se) == 0) {
		ans->result = RA_REISSUE_REPEAT;
		rc = 0;
		goto out;
	} else if (se.code != ERR_NOTFOUND) {
		*e = se;
		goto out;
	}
	/* the application and its certificate as they are now, under the write lock */
	if (ra_reissue_target(st, q->app_id, now, &a, &it, e) == -1)
		goto out;
	snprintf(ans->old_serial, sizeof(ans->old_serial), "%s", it.serial);
	if (it.why != RA_REISSUE_WHY_NONE) {
		ans->result = RA_REISSUE_NOT_REISSUABLE;
		ans->why = it.why;
		rc = 0;
		goto out;
	}
	if (ra_reissue_check(st, &a, &v, &ans->fields, e) == -1)
		goto out;
	if (ans->fields.any) {
		ans->result = RA_REISSUE_FIELDS;
		rc = 0;
		goto out;
	}
	err_clear(&se);
	if (store_token_add(st, nh, STORE_TOKEN_REISSUE_FORM, a.id, q->nonce_expires, now, &se) ==
	    -1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			goto out;
		}
		ans->result = RA_REISSUE_REPEAT; /* a twin took the nonce meanwhile */
		rc = 0;
		goto out;
	}
	if (reissue_write(ca, st, &req, &a, it.serial, n, now, &meanwhile, &ans->new_id, &ans->to,
			  e) == -1)
		goto out;
	if (meanwhile) {
		ans->result = RA_REISSUE_REVOKED_MEANWHILE;
		rc = 0;
		goto out;
	}
	intx = 0;
	if (store_commit(st, e) == -1)
		goto out;
	ans->result = RA_REISSUE_ACCEPTED;
	err_clear(&se);
	if (ca_after_revoke(ca, st, it.serial, q->actor, &se) == -1)
		log_warn("ra: CRL after the re-issue of %s: %s", it.serial, se.msg);
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	if (rc != 0 || ans->result != RA_REISSUE_ACCEPTED) {
		free(ans->to);
		ans->to = NULL;
		ans->new_id = 0;
	}
	ra_app_clear(&a);
	ra_reissue_item_clear(&it);
	return rc;
}
