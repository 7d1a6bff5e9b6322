/*
 * cert: certificates as an organization sees them — one by serial, a filtered page of them,
 * and revocation — for every face that acts for one organization (the REST API today).  The
 * scope is enforced here: a certificate of another organization, of none, or issued under
 * another CA name of a shared store does not exist for the caller (ERR_NOTFOUND with the
 * same message as an unknown serial, so that nothing tells them apart).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra.h"

static const char *const cert_status_names[RA_CERT_STATUS__MAX] = {
    [RA_CERT_VALID] = "valid",
    [RA_CERT_REVOKED] = "revoked",
    [RA_CERT_EXPIRED] = "expired",
};

const char *
ra_cert_status_name(enum ra_cert_status s)
{
	if ((int)s < 0 || s >= RA_CERT_STATUS__MAX)
		return "unknown";
	return cert_status_names[s];
}

int
ra_cert_status_parse(const char *name, enum ra_cert_status *out)
{
	int i;

	for (i = 0; name != NULL && i < RA_CERT_STATUS__MAX; i++)
		if (strcmp(name, cert_status_names[i]) == 0) {
			*out = (enum ra_cert_status)i;
			return 0;
		}
	return -1;
}

enum ra_cert_status
ra_cert_status_of(int revoked, time_t not_after, time_t now)
{
	if (revoked)
		return RA_CERT_REVOKED;
	return not_after < now ? RA_CERT_EXPIRED : RA_CERT_VALID;
}

void
ra_cert_clear(struct ra_cert *c)
{
	if (c == NULL)
		return;
	free(c->subject);
	free(c->sans);
	free(c->profile);
	free(c->org_code);
	free(c->der);
	memset(c, 0, sizeof(*c));
	c->reason = -1;
}

void
ra_cert_list_free(struct ra_cert *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		ra_cert_clear(&v[i]);
	free(v);
}

void
ra_cert_filter_init(struct ra_cert_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->status = -1;
}

/* The one message for a serial the caller cannot see, whatever the reason. */
static int
cert_notfound(const char *serial, struct err *e)
{
	char esc[128];

	if (serial == NULL)
		serial = "";
	return err_set(e, ERR_NOTFOUND, "cert: no certificate %s in this organization",
		       log_escape(esc, sizeof(esc), serial, strlen(serial)));
}

/* A serial as the store keeps it: 1 to 40 hex digits (any case).  1 when it is one. */
static int
cert_serial_ok(const char *s)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n >= STORE_SERIAL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

/*
 * The face's view of a stored certificate: the strings (and the DER when with_der) move from
 * c to out, the status is decided at now, code is copied.
 */
static void
cert_take(struct ra_cert *out, struct store_cert *c, const char *code, int with_der, time_t now)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->serial, c->serial, sizeof(out->serial));
	out->subject = c->subject;
	out->sans = c->sans;
	out->profile = c->profile;
	c->subject = c->sans = c->profile = NULL;
	out->org_id = c->org_id;
	out->org_code = xstrdup(code);
	out->not_before = c->not_before;
	out->not_after = c->not_after;
	out->status = ra_cert_status_of(c->status == STORE_CERT_REVOKED, c->not_after, now);
	out->revoked_at = c->revoked_at;
	out->reason = c->reason;
	out->invalidity_date = c->invalidity_date;
	if (with_der && c->der != NULL) {
		out->der = c->der;
		out->derlen = c->derlen;
		c->der = NULL;
		c->derlen = 0;
	}
}

int
ra_cert_get(struct ca *ca, struct store *st, int64_t org_id, const char *serial, unsigned flags,
	    struct ra_cert *out, struct err *e)
{
	struct store_cert rec;
	struct err e2;
	char *code = NULL;
	int rc = -1;

	memset(&rec, 0, sizeof(rec));
	memset(out, 0, sizeof(*out));
	out->reason = -1;
	err_clear(&e2);
	if (org_id <= 0 || !cert_serial_ok(serial)) {
		cert_notfound(serial, e);
		goto out;
	}
	if (store_cert_get(st, serial, &rec, &e2) == -1) {
		if (e2.code == ERR_NOTFOUND)
			cert_notfound(serial, e);
		else
			err_set(e, e2.code, "%s", e2.msg);
		goto out;
	}
	if (rec.org_id != org_id || ca_issuing_find(ca, rec.ca) == NULL) {
		cert_notfound(serial, e);
		goto out;
	}
	if (store_org_code_get(st, org_id, &code, e) == -1)
		goto out;
	cert_take(out, &rec, code, (flags & RA_CERT_WITH_DER) != 0, util_now());
	rc = 0;
out:
	store_cert_clear(&rec);
	free(code);
	return rc;
}

void
ra_cas_filter(const struct ca *ca, const char *cas[STORE_CAS_MAX])
{
	size_t i;

	for (i = 0; i < STORE_CAS_MAX; i++)
		cas[i] = i < ca->ncas ? ca->cas[i].name : NULL;
}

/* The store's filter of an organization's list (f's status as of now); sf borrows f's texts. */
static void
cert_filter_store(const struct ca *ca, int64_t org_id, const struct ra_cert_filter *f, time_t now,
		  struct store_cert_filter *sf)
{
	memset(sf, 0, sizeof(*sf));
	sf->status = -1;
	sf->org_id = org_id;
	/* every issuing CA's: earlier ones' certificates live on after a switch */
	ra_cas_filter(ca, sf->cas);
	sf->expiring_before = f->expiring_before;
	sf->subject_substr = f->subject;
	sf->profile = f->profile;
	sf->profile_alt = f->profile != NULL ? f->profile_alt : NULL;
	sf->name_substr = f->name;
	switch (f->status) {
	case RA_CERT_VALID: /* not revoked and not past notAfter */
		sf->status = STORE_CERT_VALID;
		sf->not_after_min = now;
		break;
	case RA_CERT_REVOKED:
		sf->status = STORE_CERT_REVOKED;
		break;
	case RA_CERT_EXPIRED: /* not revoked, past notAfter */
		sf->status = STORE_CERT_VALID;
		if (sf->expiring_before == 0 || sf->expiring_before > now)
			sf->expiring_before = now;
		break;
	default:
		break;
	}
	sf->limit = f->limit;
	sf->offset = f->offset;
}

int
ra_cert_list(struct ca *ca, struct store *st, int64_t org_id, const struct ra_cert_filter *f,
	     struct ra_cert **out, size_t *nout, struct err *e)
{
	struct store_cert_filter sf;
	struct store_cert *v = NULL;
	time_t now = util_now();
	char *code = NULL;
	size_t n = 0, i;
	int rc = -1;

	*out = NULL;
	*nout = 0;
	if (org_id <= 0) { /* no organization has no certificates */
		rc = 0;
		goto out;
	}
	cert_filter_store(ca, org_id, f, now, &sf);
	if (store_org_code_get(st, org_id, &code, e) == -1 ||
	    store_cert_list(st, &sf, &v, &n, e) == -1)
		goto out;
	*out = n > 0 ? xcalloc(n, sizeof(**out)) : NULL;
	for (i = 0; i < n; i++)
		cert_take(&(*out)[i], &v[i], code, 0, now);
	*nout = n;
	rc = 0;
out:
	STORE_LIST_FREE(v, n, store_cert_clear);
	free(code);
	return rc;
}

int
ra_cert_count(struct ca *ca, struct store *st, int64_t org_id, const struct ra_cert_filter *f,
	      int64_t *n, struct err *e)
{
	struct store_cert_filter sf;

	*n = 0;
	if (org_id <= 0)
		return 0;
	cert_filter_store(ca, org_id, f, util_now(), &sf);
	sf.limit = sf.offset = 0;
	return store_cert_count_filter(st, &sf, n, e);
}

int
ra_cert_revoke(struct ca *ca, struct store *st, int64_t org_id, const char *serial, int reason,
	       time_t invalidity, const char *actor, struct ra_cert *out, struct err *e)
{
	struct ra_cert rec;
	struct err e2;
	int rc = -1;

	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		out->reason = -1;
	}
	if (ra_cert_get(ca, st, org_id, serial, 0, &rec, e) == -1)
		goto out;
	if (rec.status == RA_CERT_REVOKED) {
		err_set(e, ERR_CONFLICT, "cert: %s is already revoked", rec.serial);
		goto out;
	}
	if (ca_revoke(ca, st, rec.serial, reason, invalidity, actor, e) == -1)
		goto out;
	/* the revocation is committed; a CRL that cannot be made now is the schedule's job */
	err_clear(&e2);
	if (ca_after_revoke(ca, st, rec.serial, actor, &e2) == -1)
		log_warn("ra: CRL after revoking %s: %s", rec.serial, e2.msg);
	if (out != NULL && ra_cert_get(ca, st, org_id, rec.serial, 0, out, e) == -1)
		goto out;
	rc = 0;
out:
	ra_cert_clear(&rec);
	return rc;
}
