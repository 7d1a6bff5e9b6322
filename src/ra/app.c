/*
 * app: the life cycle of an application (DESIGN.md 2.1, 2.3).  Its states are an enum with a
 * names table (the names are what the store keeps) and every change goes through one
 * function, ra_app_move(), which looks the change up in the transition table and makes it in
 * one conditional statement: a change from a state the application has left already (a
 * double click, a twin front end) is ERR_CONFLICT and changes nothing.
 *
 *   registered --verify--> mail-verified --submit--> submitted --issue--> issued
 *                                        \--submit-agent--> awaiting-approval
 *   awaiting-approval --approve--> approved --issue--> issued
 *   awaiting-approval --reject--> rejected
 *   registered | mail-verified | awaiting-approval --expire--> expired
 *   submitted | approved | awaiting-approval --cancel--> cancelled (the ticket was used
 *                                        meanwhile; ra_approve finds it still awaiting)
 *
 * An application is created registered (a registration) or approved (a re-issue, which the
 * holder proved with the application password and the certificate code).
 */
#include <stdlib.h>
#include <string.h>

#include "ra.h"

static const char *const app_state_names[RA_APP_STATE__MAX] = {
    [RA_APP_REGISTERED] = "registered", [RA_APP_MAIL_VERIFIED] = "mail-verified",
    [RA_APP_SUBMITTED] = "submitted",	[RA_APP_AWAITING_APPROVAL] = "awaiting-approval",
    [RA_APP_APPROVED] = "approved",	[RA_APP_ISSUED] = "issued",
    [RA_APP_EXPIRED] = "expired",	[RA_APP_CANCELLED] = "cancelled",
    [RA_APP_REJECTED] = "rejected",
};

static const char *const app_event_names[RA_APP_EVENT__MAX] = {
    [RA_APP_EV_VERIFY] = "verify",
    [RA_APP_EV_SUBMIT] = "submit",
    [RA_APP_EV_SUBMIT_AGENT] = "submit-agent",
    [RA_APP_EV_APPROVE] = "approve",
    [RA_APP_EV_REJECT] = "reject",
    [RA_APP_EV_ISSUE] = "issue",
    [RA_APP_EV_EXPIRE] = "expire",
    [RA_APP_EV_CANCEL] = "cancel",
};

/* The transition table: every change an application may make. */
static const struct {
	enum ra_app_state from;
	enum ra_app_event ev;
	enum ra_app_state to;
} app_transitions[] = {
    {RA_APP_REGISTERED, RA_APP_EV_VERIFY, RA_APP_MAIL_VERIFIED},
    {RA_APP_MAIL_VERIFIED, RA_APP_EV_SUBMIT, RA_APP_SUBMITTED},
    {RA_APP_MAIL_VERIFIED, RA_APP_EV_SUBMIT_AGENT, RA_APP_AWAITING_APPROVAL},
    {RA_APP_AWAITING_APPROVAL, RA_APP_EV_APPROVE, RA_APP_APPROVED},
    {RA_APP_AWAITING_APPROVAL, RA_APP_EV_REJECT, RA_APP_REJECTED},
    {RA_APP_SUBMITTED, RA_APP_EV_ISSUE, RA_APP_ISSUED},
    {RA_APP_APPROVED, RA_APP_EV_ISSUE, RA_APP_ISSUED},
    {RA_APP_REGISTERED, RA_APP_EV_EXPIRE, RA_APP_EXPIRED},
    {RA_APP_MAIL_VERIFIED, RA_APP_EV_EXPIRE, RA_APP_EXPIRED},
    {RA_APP_AWAITING_APPROVAL, RA_APP_EV_EXPIRE, RA_APP_EXPIRED},
    {RA_APP_SUBMITTED, RA_APP_EV_CANCEL, RA_APP_CANCELLED},
    {RA_APP_APPROVED, RA_APP_EV_CANCEL, RA_APP_CANCELLED},
    {RA_APP_AWAITING_APPROVAL, RA_APP_EV_CANCEL, RA_APP_CANCELLED},
};

const char *
ra_app_state_name(enum ra_app_state s)
{
	if ((int)s < 0 || s >= RA_APP_STATE__MAX)
		return "unknown";
	return app_state_names[s];
}

int
ra_app_state_parse(const char *name, enum ra_app_state *out)
{
	int i;

	for (i = 0; name != NULL && i < RA_APP_STATE__MAX; i++)
		if (strcmp(name, app_state_names[i]) == 0) {
			*out = (enum ra_app_state)i;
			return 0;
		}
	return -1;
}

const char *
ra_app_event_name(enum ra_app_event ev)
{
	if ((int)ev < 0 || ev >= RA_APP_EVENT__MAX)
		return "unknown";
	return app_event_names[ev];
}

int
ra_app_next(enum ra_app_state from, enum ra_app_event ev)
{
	size_t i;

	for (i = 0; i < sizeof(app_transitions) / sizeof(app_transitions[0]); i++)
		if (app_transitions[i].from == from && app_transitions[i].ev == ev)
			return (int)app_transitions[i].to;
	return -1;
}

int
ra_app_move(struct store *st, int64_t id, enum ra_app_state from, enum ra_app_event ev,
	    const struct ra_app_change *c, struct err *e)
{
	const char *f = ra_app_state_name(from);
	int to = ra_app_next(from, ev);

	if (to < 0)
		return err_set(e, ERR_INTERNAL, "ra: application %lld: no transition %s from %s",
			       (long long)id, ra_app_event_name(ev), f);
	switch (ev) {
	case RA_APP_EV_SUBMIT:
	case RA_APP_EV_SUBMIT_AGENT:
		if (c == NULL || c->values == NULL)
			return err_set(e, ERR_INTERNAL, "ra: %s without the values",
				       ra_app_event_name(ev));
		return store_app_submit(st, id, f, ra_app_state_name((enum ra_app_state)to),
					c->values, c->when, e);
	case RA_APP_EV_ISSUE:
		if (c == NULL || c->serial == NULL || c->code_hash == NULL)
			return err_set(e, ERR_INTERNAL, "ra: issue without serial or code");
		return store_app_issue(st, id, f, c->serial, c->code_hash, c->when, e);
	default:
		return store_app_set_state(st, id, f, ra_app_state_name((enum ra_app_state)to), e);
	}
}

void
ra_app_clear(struct ra_app *a)
{
	if (a == NULL)
		return;
	store_app_clear(&a->rec);
	free(a->org_name_owned);
	memset(a, 0, sizeof(*a));
}

/* "" for NULL: the faces never test a recorded value for NULL. */
static const char *
app_nz(const char *s)
{
	return s != NULL ? s : "";
}

/* Points the face's fields at the record a->rec (which owns them). */
static void
ra_app_view(struct ra_app *a)
{
	const struct store_app *r = &a->rec;

	a->id = r->id;
	a->org_id = r->org_id;
	a->agent = strcmp(app_nz(r->applicant_type), "agent") == 0;
	a->org_code = app_nz(r->org_code);
	a->org_name = app_nz(a->org_name_owned);
	a->ticket = app_nz(r->ticket);
	a->email = app_nz(r->email);
	a->subject_email = app_nz(r->subject_email);
	a->name_kanji = app_nz(r->name_kanji);
	a->name_romaji = app_nz(r->name_romaji);
	a->ou = app_nz(r->ou);
	a->hostnames = app_nz(r->hostnames);
	a->key_mode = app_nz(r->key_mode);
	a->password_hash = app_nz(r->password_hash);
	a->csr = app_nz(r->csr);
	a->cert_serial = app_nz(r->cert_serial);
	a->created = r->created;
	a->expires = r->expires;
	a->submitted = r->submitted;
	a->issued = r->issued;
	a->predecessor_id = r->predecessor_id;
}

int
ra_app_load(struct store *st, int64_t id, struct ra_app *a, struct err *e)
{
	struct store_ticket tk;
	struct store_org org;
	int rc = -1;

	memset(a, 0, sizeof(*a));
	memset(&tk, 0, sizeof(tk));
	memset(&org, 0, sizeof(org));
	if (store_app_get(st, id, &a->rec, e) == -1)
		goto out;
	if (ra_app_state_parse(a->rec.state, &a->state) == -1) {
		err_set(e, ERR_INTERNAL, "ra: application %lld in unknown state", (long long)id);
		goto out;
	}
	if (store_ticket_get(st, a->rec.ticket, &tk, e) == -1 ||
	    store_org_get_id(st, a->rec.org_id, &org, e) == -1)
		goto out;
	snprintf(a->profile, sizeof(a->profile), "%s",
		 a->rec.profile != NULL ? a->rec.profile : tk.profile);
	a->org_name_owned = org.name;
	org.name = NULL;
	ra_app_view(a);
	rc = 0;
out:
	store_ticket_clear(&tk);
	store_org_clear(&org);
	if (rc != 0)
		ra_app_clear(a);
	return rc;
}
