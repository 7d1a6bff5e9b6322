/*
 * regist: the registration of an application and its mailed link (DESIGN.md 2.1, up to
 * 確認メール受信).  Step 1's organization and ticket are checked read-only first (the face
 * shows a code per field); Register writes, in one durable write through the group commit,
 * the application (registered), the confirm form's nonce (a repeated Register finds it and
 * writes nothing), the mailed link's token (its hash) and the mail (the face's hook).  The
 * link is looked at without being used (GET: mail scanners open links) and used by the
 * page's button: registered -> mail-verified and a continuation bound to the browser
 * session, in one write.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ra.h"

static const char *const regist_result_names[RA_REGIST_RESULT__MAX] = {
    [RA_REGIST_DONE] = "done",
    [RA_REGIST_REPEAT] = "repeat",
    [RA_REGIST_REFUSED] = "refused",
};

static const char *const link_result_names[RA_LINK_RESULT__MAX] = {
    [RA_LINK_OK] = "ok",
    [RA_LINK_UNKNOWN] = "unknown",
    [RA_LINK_USED] = "used",
    [RA_LINK_EXPIRED] = "expired",
};

const char *
ra_regist_result_name(enum ra_regist_result r)
{
	return (int)r >= 0 && r < RA_REGIST_RESULT__MAX ? regist_result_names[r] : "unknown";
}

const char *
ra_link_result_name(enum ra_link_result r)
{
	return (int)r >= 0 && r < RA_LINK_RESULT__MAX ? link_result_names[r] : "unknown";
}

void
ra_org_clear(struct ra_org *o)
{
	if (o == NULL)
		return;
	free(o->code);
	free(o->name);
	memset(o, 0, sizeof(*o));
}

int
ra_org_get(struct store *st, const char *code, struct ra_org *out, struct err *e)
{
	struct store_org o;

	memset(out, 0, sizeof(*out));
	memset(&o, 0, sizeof(o));
	if (store_org_get(st, code, &o, e) == -1)
		return -1;
	out->code = o.code;
	out->name = o.name;
	o.code = o.name = NULL;
	store_org_clear(&o);
	return 0;
}

int
ra_org_list(struct store *st, struct ra_org **out, size_t *nout, struct err *e)
{
	struct store_org *v = NULL;
	size_t n = 0, i;
	int rc = -1;

	*out = NULL;
	*nout = 0;
	if (store_org_list(st, &v, &n, e) == -1)
		goto out;
	if (n > 0) {
		*out = xcalloc(n, sizeof(**out));
		for (i = 0; i < n; i++) {
			(*out)[i].code = v[i].code;
			(*out)[i].name = v[i].name;
			v[i].code = v[i].name = NULL;
		}
	}
	*nout = n;
	rc = 0;
out:
	STORE_LIST_FREE(v, n, store_org_clear);
	return rc;
}

/*
 * The organization and ticket of step 1: the organization exists, the ticket exists, is
 * its, is unused and has no live registration (one neither expired nor cancelled; once its
 * link has expired the ticket can be registered again).  Read-only; in Register's write on
 * PostgreSQL the ticket's row is locked by the live-registration count.
 */
static int
regist_check(struct store *st, const char *org, const char *ticket, struct ra_regist_fields *f,
	     int64_t *org_id, struct err *e)
{
	struct store_org o;
	struct store_ticket t;
	struct err se;
	int64_t live;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	memset(&o, 0, sizeof(o));
	memset(&t, 0, sizeof(t));
	*org_id = 0;
	err_clear(&se);
	if (org == NULL || org[0] == '\0') {
		f->org = RA_ORG_EMPTY;
	} else if (store_org_get(st, org, &o, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		f->org = RA_ORG_UNKNOWN;
	}
	err_clear(&se);
	if (ticket == NULL || ticket[0] == '\0') {
		f->ticket = RA_TICKET_EMPTY;
	} else if (store_ticket_get(st, ticket, &t, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		f->ticket = RA_TICKET_UNKNOWN;
	} else if (f->org == RA_ORG_OK && t.org_id != o.id) {
		f->ticket = RA_TICKET_OTHER_ORG;
	} else if (strcmp(t.status, "unused") != 0) {
		f->ticket = RA_TICKET_USED;
	} else {
		if (store_app_ticket_live(st, ticket, util_now(), &live, e) == -1)
			goto out;
		if (live > 0)
			f->ticket = RA_TICKET_IN_PROGRESS;
	}
	if (f->org == RA_ORG_OK && f->ticket == RA_TICKET_OK)
		*org_id = o.id;
	rc = 0;
out:
	store_org_clear(&o);
	store_ticket_clear(&t);
	return rc;
}

int
ra_regist_check(struct store *st, const char *org, const char *ticket, struct ra_regist_fields *f,
		struct err *e)
{
	int64_t id;

	return regist_check(st, org, ticket, f, &id, e);
}

/* Register's write (the group commit's thread): see the top of this file. */
struct regist_write {
	const struct ra_regist_req *q;
	const struct ra_notify *n;
	const unsigned char *verify_hash;
	const char *verify_text;
	time_t now;
	enum ra_regist_result res;
	struct ra_regist_fields *f;
};

static int
regist_write(struct store *st, void *arg, struct err *e)
{
	struct regist_write *w = arg;
	const struct ra_regist_req *q = w->q;
	struct store_app a;
	struct store_token t;
	struct err se;
	int64_t org_id, app_id;

	err_clear(&se);
	if (store_token_get(st, q->nonce_hash, STORE_TOKEN_REGIST_FORM, &t, &se) == 0) {
		w->res = RA_REGIST_REPEAT;
		return 0;
	} else if (se.code != ERR_NOTFOUND) {
		*e = se;
		return -1;
	}
	if (regist_check(st, q->org, q->ticket, w->f, &org_id, e) == -1)
		return -1;
	if (w->f->org != RA_ORG_OK || w->f->ticket != RA_TICKET_OK) {
		w->res = RA_REGIST_REFUSED;
		return 0;
	}
	memset(&a, 0, sizeof(a));
	a.org_id = org_id;
	a.ticket = (char *)q->ticket;
	a.applicant_type = q->agent ? "agent" : "self";
	a.email = (char *)q->email;
	a.created = w->now;
	a.expires = w->now + RA_APP_TTL;
	if (store_app_add(st, &a, &app_id, e) == -1)
		return -1;
	err_clear(&se);
	if (store_token_add(st, q->nonce_hash, STORE_TOKEN_REGIST_FORM, app_id,
			    w->now + RA_FORM_TTL, w->now, &se) == -1) {
		if (se.code == ERR_CONFLICT)
			w->res = RA_REGIST_REPEAT; /* a concurrent twin won: undo ours */
		*e = se;
		return -1;
	}
	if (store_token_add(st, w->verify_hash, STORE_TOKEN_REGIST_VERIFY, app_id,
			    w->now + RA_APP_TTL, 0, e) == -1)
		return -1;
	if (w->n != NULL && w->n->registered != NULL &&
	    w->n->registered(w->n->arg, st, q->email, w->verify_text, e) == -1)
		return -1;
	w->res = RA_REGIST_DONE;
	return 0;
}

int
ra_regist(struct ca *ca, struct store *st, const struct ra_regist_req *q, const struct ra_notify *n,
	  enum ra_regist_result *res, struct ra_regist_fields *f, struct err *e)
{
	struct regist_write w;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	char text[RA_TOKEN_TEXT];
	int rc = -1;

	memset(f, 0, sizeof(*f));
	ra_token_new(raw, text);
	ra_token_hash(raw, h);
	memset(&w, 0, sizeof(w));
	w.q = q;
	w.n = n;
	w.verify_hash = h;
	w.verify_text = text;
	w.now = util_now();
	w.f = f;
	if (ca_write(ca, st, regist_write, &w, e) == -1) {
		if (w.res != RA_REGIST_REPEAT)
			goto out;
		err_clear(e);
	}
	*res = w.res;
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(text, sizeof(text));
	return rc;
}

/* Marks an application expired (from -> expired); a state that moved meanwhile is fine. */
int
ra_app_expire(struct store *st, int64_t id, enum ra_app_state from, struct err *e)
{
	struct err se;

	err_clear(&se);
	if (ra_app_move(st, id, from, RA_APP_EV_EXPIRE, NULL, &se) == -1 &&
	    se.code != ERR_CONFLICT) {
		*e = se;
		return -1;
	}
	return 0;
}

int
ra_link_peek(struct store *st, const char *token, enum ra_link_result *res, int *agent,
	     struct err *e)
{
	struct store_token t;
	struct store_app a;
	struct err se;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	int rc = -1;

	*res = RA_LINK_UNKNOWN;
	*agent = 0;
	memset(&a, 0, sizeof(a));
	err_clear(&se);
	if (ra_token_decode(token, raw) == -1) {
		rc = 0;
		goto out;
	}
	ra_token_hash(raw, h);
	if (store_token_get(st, h, STORE_TOKEN_REGIST_VERIFY, &t, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
	} else if (t.used != 0) {
		*res = RA_LINK_USED;
	} else if (t.expires <= util_now()) {
		*res = RA_LINK_EXPIRED;
	} else {
		if (store_app_get(st, t.app_id, &a, e) == -1)
			goto out;
		*agent = strcmp(a.applicant_type, "agent") == 0;
		*res = RA_LINK_OK;
	}
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	store_app_clear(&a);
	return rc;
}

/* The label of the continuation derived from a mailed link and the session it rotates to. */
#define RA_LINK_CONT_LABEL "shomei issue-form continuation"

int
ra_link_resume(struct store *st, const char *token, const char *session, char cont[RA_TOKEN_TEXT],
	       enum ra_link_result *res, struct err *e)
{
	struct store_token t, c;
	struct store_app a;
	struct err se;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN], craw[RA_TOKEN_LEN], ch[STORE_HASH_LEN];
	enum ra_app_state state;
	int agent, rc = -1;

	cont[0] = '\0';
	memset(&a, 0, sizeof(a));
	err_clear(&se);
	if (ra_link_peek(st, token, res, &agent, e) == -1)
		goto out;
	if (*res == RA_LINK_OK)
		*res = RA_LINK_UNKNOWN; /* never used: nothing to give again */
	if (*res != RA_LINK_USED || ra_token_decode(token, raw) == -1) {
		rc = 0;
		goto out;
	}
	ra_token_hash(raw, h);
	ra_token_derive(raw, RA_LINK_CONT_LABEL, session, craw, cont);
	ra_token_hash_keyed(craw, session, ch);
	if (store_token_get(st, h, STORE_TOKEN_REGIST_VERIFY, &t, e) == -1)
		goto out;
	if (store_token_get(st, ch, STORE_TOKEN_ISSUE_FORM, &c, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
	} else if (c.app_id == t.app_id && c.used == 0 && c.expires > util_now()) {
		if (store_app_get(st, t.app_id, &a, e) == -1)
			goto out;
		if (ra_app_state_parse(a.state, &state) == 0 && state == RA_APP_MAIL_VERIFIED)
			*res = RA_LINK_OK;
	}
	rc = 0;
out:
	if (rc == -1 || *res != RA_LINK_OK)
		sodium_memzero(cont, RA_TOKEN_TEXT);
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(craw, sizeof(craw));
	store_app_clear(&a);
	return rc;
}

/* The link's use: the link used, mail-verified, the continuation made (one write). */
struct link_write {
	const unsigned char *hash, *cont_hash;
	time_t now;
	enum ra_link_result res;
	int64_t app_id;
};

static int
link_write(struct store *st, void *arg, struct err *e)
{
	struct link_write *w = arg;
	struct store_token t;
	struct err se;

	err_clear(&se);
	w->res = RA_LINK_UNKNOWN;
	if (store_token_get(st, w->hash, STORE_TOKEN_REGIST_VERIFY, &t, &se) == -1) {
		if (se.code == ERR_NOTFOUND)
			return 0;
		*e = se;
		return -1;
	}
	w->app_id = t.app_id;
	if (t.used != 0) {
		w->res = RA_LINK_USED;
		return 0;
	}
	if (t.expires <= w->now) {
		w->res = RA_LINK_EXPIRED; /* and the application marked so, in this write */
		return ra_app_expire(st, t.app_id, RA_APP_REGISTERED, e);
	}
	if (store_token_use(st, w->hash, STORE_TOKEN_REGIST_VERIFY, w->now, e) == -1 ||
	    ra_app_move(st, t.app_id, RA_APP_REGISTERED, RA_APP_EV_VERIFY, NULL, e) == -1 ||
	    store_token_add(st, w->cont_hash, STORE_TOKEN_ISSUE_FORM, t.app_id, w->now + RA_APP_TTL,
			    0, e) == -1)
		return -1;
	w->res = RA_LINK_OK;
	return 0;
}

int
ra_link_use(struct ca *ca, struct store *st, const char *token, const char *session,
	    char cont[RA_TOKEN_TEXT], enum ra_link_result *res, struct err *e)
{
	struct link_write w;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN], craw[RA_TOKEN_LEN], ch[STORE_HASH_LEN];
	int rc = -1;

	*res = RA_LINK_UNKNOWN;
	cont[0] = '\0';
	memset(&w, 0, sizeof(w));
	if (ra_token_decode(token, raw) == -1) {
		rc = 0;
		goto out;
	}
	ra_token_hash(raw, h);
	/* derived, not drawn: a lost answer can be given again (ra_link_resume) */
	ra_token_derive(raw, RA_LINK_CONT_LABEL, session, craw, cont);
	ra_token_hash_keyed(craw, session, ch);
	w.hash = h;
	w.cont_hash = ch;
	w.now = util_now();
	if (ca_write(ca, st, link_write, &w, e) == -1)
		goto out;
	*res = w.res;
	if (w.res != RA_LINK_OK)
		sodium_memzero(cont, RA_TOKEN_TEXT);
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(craw, sizeof(craw));
	return rc;
}
