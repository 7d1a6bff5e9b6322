/*
 * ocadmin: the user administrator (利用管理者) recorded for the console's certificates is
 * changed (issue 13 part 7): for one certificate, for every certificate of the organization
 * whose administrator had one address, or by a native TSV upload (all lines or none).  Each
 * certificate changed is audited console.admin with the old and the new address, all in one
 * transaction per request.  Mails that follow (the replacement reminder) read cert_admins, so
 * they go to the new address.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mail.h"
#include "ra.h"
#include "util/tsv.h"
#include "util/utf8.h"

#define ADMIN_RENAME_MAX 100000 /* certificates of one address */

/* At most max characters of UTF-8 without control characters (NULL and "" allowed). */
static int
admin_text_ok(const char *s, long max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n, i = 0;
	long cp;

	if (s == NULL)
		return 1;
	n = strlen(s);
	if (n > 4 * (size_t)max || !utf8_valid(u, n) || utf8_count(u, n) > max)
		return 0;
	while (i < n)
		if ((cp = utf8_next(u, n, &i)) < 0 || utf8_is_control(cp))
			return 0;
	return 1;
}

int
ra_admin_new_check(const struct ra_admin_new *a, struct err *e)
{
	if (a->email == NULL || strlen(a->email) > 78 || !mail_addr_valid(a->email))
		return err_set(e, ERR_REFUSED, "user administrator e-mail: not a valid address");
	if (!admin_text_ok(a->name, 64))
		return err_set(e, ERR_REFUSED, "user administrator name: at most 64 characters");
	if (!admin_text_ok(a->unit, 64))
		return err_set(e, ERR_REFUSED, "user administrator unit: at most 64 characters");
	return 0;
}

/* The officer may see the record's kind. */
static int
admin_kind_ok(const struct ra_officer *o, const struct store_certadmin *a)
{
	enum ra_ocert_kind k;

	return ra_ocert_kind_parse(a->kind, &k) == 0 && (o->perms & ra_ocert_perm(k)) != 0;
}

/* Writes one record's new administrator and its audit entry (inside the caller's transaction). */
static int
admin_write(struct store *st, const struct ra_officer *o, const struct store_certadmin *a,
	    const struct ra_admin_new *n, struct err *e)
{
	char actor[48], detail[400], o_esc[160], n_esc[160];

	snprintf(actor, sizeof(actor), "officer:%" PRId64, o->id);
	log_escape(o_esc, sizeof(o_esc), a->admin_email, strlen(a->admin_email));
	log_escape(n_esc, sizeof(n_esc), n->email, strlen(n->email));
	snprintf(detail, sizeof(detail), "admin_email %s -> %s", o_esc, n_esc);
	if (store_certadmin_admin_set(st, a->serial, n->name, n->unit, n->email, e) == -1)
		return -1;
	return store_audit_append(st, actor, "console.admin", a->serial, detail, NULL, e);
}

/* The officer's record of serial (its organization, a kind it may see); ERR_NOTFOUND else. */
static int
admin_get(struct ca *ca, struct store *st, const struct ra_officer *o, const char *serial,
	  struct store_certadmin *a, struct err *e)
{
	struct ra_cert c;
	struct err e2;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	memset(a, 0, sizeof(*a));
	if (ra_cert_get(ca, st, o->org_id, serial, 0, &c, e) == -1)
		goto out;
	err_clear(&e2);
	if (store_certadmin_get(st, c.serial, a, &e2) == -1) {
		if (e2.code != ERR_NOTFOUND) {
			err_set(e, e2.code, "%s", e2.msg);
			goto out;
		}
		err_set(e, ERR_NOTFOUND, "cert: %s has no user administrator record", c.serial);
		goto out;
	}
	if (a->org_id != o->org_id || !admin_kind_ok(o, a)) {
		store_certadmin_clear(a);
		err_set(e, ERR_NOTFOUND, "cert: no certificate %s in this organization", c.serial);
		goto out;
	}
	rc = 0;
out:
	ra_cert_clear(&c);
	return rc;
}

int
ra_ocert_admin_set(struct ca *ca, struct store *st, const struct ra_officer *o, const char *serial,
		   const struct ra_admin_new *n, struct err *e)
{
	struct store_certadmin a;
	int rc = -1;

	memset(&a, 0, sizeof(a));
	if (ra_admin_new_check(n, e) == -1 || admin_get(ca, st, o, serial, &a, e) == -1)
		goto out;
	if (store_begin(st, e) == -1)
		goto out;
	if (admin_write(st, o, &a, n, e) == -1 || store_commit(st, e) == -1) {
		store_rollback(st);
		goto out;
	}
	rc = 0;
out:
	store_certadmin_clear(&a);
	return rc;
}

int
ra_ocert_admin_rename(struct ca *ca, struct store *st, const struct ra_officer *o,
		      const char *old_email, const struct ra_admin_new *n, size_t *changed,
		      struct err *e)
{
	struct store_certadmin *v = NULL;
	size_t nv = 0, i, k = 0;
	int rc = -1;

	(void)ca;
	*changed = 0;
	if (old_email == NULL || !mail_addr_valid(old_email)) {
		err_set(e, ERR_REFUSED, "old e-mail: not a valid address");
		goto out;
	}
	if (ra_admin_new_check(n, e) == -1 || o->org_id <= 0)
		goto out;
	if (store_begin(st, e) == -1)
		goto out;
	if (store_certadmin_by_email(st, o->org_id, old_email, ADMIN_RENAME_MAX, &v, &nv, e) == -1)
		goto fail;
	for (i = 0; i < nv; i++) {
		if (!admin_kind_ok(o, &v[i]))
			continue;
		if (admin_write(st, o, &v[i], n, e) == -1)
			goto fail;
		k++;
	}
	if (store_commit(st, e) == -1)
		goto fail;
	*changed = k;
	rc = 0;
	goto out;
fail:
	store_rollback(st);
out:
	STORE_LIST_FREE(v, nv, store_certadmin_clear);
	return rc;
}

/* The columns of the update file. */
enum admin_col { ADMIN_SERIAL = 0, ADMIN_NAME, ADMIN_UNIT, ADMIN_EMAIL, ADMIN__MAX };
static const char *const admin_col_names[ADMIN__MAX] = {"serial", "admin_name", "admin_unit",
							"admin_email"};

/* A line's result: msg set when bad (then *bad counts it). */
static void
admin_line_set(struct ra_admin_line *l, size_t *bad, const char *msg)
{
	size_t n = strlen(msg);

	if (n >= sizeof(l->msg))
		n = sizeof(l->msg) - 1;
	memcpy(l->msg, msg, n);
	l->msg[n] = '\0';
	(*bad)++;
}

int
ra_ocert_admin_tsv(struct ca *ca, struct store *st, const struct ra_officer *o,
		   const unsigned char *p, size_t n, struct ra_admin_line **out, size_t *nout,
		   size_t *changed, struct err *e)
{
	struct tsv_doc doc;
	struct ra_admin_line *v = NULL;
	struct store_certadmin *recs = NULL;
	struct ra_admin_new an;
	int pos[ADMIN__MAX];
	size_t i, j, nl = 0, bad = 0;
	struct err le;
	int c, rc = -1, intx = 0;

	*out = NULL;
	*nout = 0;
	*changed = 0;
	memset(&doc, 0, sizeof(doc));
	if (tsv_read(p, n, NULL, TSV_UTF8_ONLY, &doc, e) == -1)
		goto out;
	/* the header: every column once, in any order */
	for (c = 0; c < ADMIN__MAX; c++)
		pos[c] = -1;
	for (j = 0; j < doc.lines[0].ncols; j++) {
		for (c = 0; c < ADMIN__MAX; c++)
			if (strcmp(doc.lines[0].cols[j], admin_col_names[c]) == 0)
				break;
		if (c == ADMIN__MAX || pos[c] != -1) {
			err_set(e, ERR_REFUSED, "line %zu: header: unknown or repeated column %zu",
				doc.lines[0].lineno, j + 1);
			goto out;
		}
		pos[c] = (int)j;
	}
	for (c = 0; c < ADMIN__MAX; c++)
		if (pos[c] == -1) {
			err_set(e, ERR_REFUSED, "line %zu: header: the column %s is missing",
				doc.lines[0].lineno, admin_col_names[c]);
			goto out;
		}
	if (doc.nlines < 2) {
		err_set(e, ERR_REFUSED, "the file has a header and no line");
		goto out;
	}
	nl = doc.nlines - 1;
	v = xcalloc(nl, sizeof(*v));
	recs = xcalloc(nl, sizeof(*recs));
	/* every line checked before anything is written */
	for (i = 0; i < nl; i++) {
		const struct tsv_line *l = &doc.lines[i + 1];

		v[i].line = l->lineno;
		if (l->ncols != doc.lines[0].ncols) {
			admin_line_set(&v[i], &bad, "wrong number of columns");
			continue;
		}
		snprintf(v[i].serial, sizeof(v[i].serial), "%s", l->cols[pos[ADMIN_SERIAL]]);
		an.name = l->cols[pos[ADMIN_NAME]];
		an.unit = l->cols[pos[ADMIN_UNIT]];
		an.email = l->cols[pos[ADMIN_EMAIL]];
		err_clear(&le);
		if (ra_admin_new_check(&an, &le) == -1 ||
		    admin_get(ca, st, o, l->cols[pos[ADMIN_SERIAL]], &recs[i], &le) == -1) {
			if (le.code == ERR_INTERNAL) {
				err_set(e, le.code, "%s", le.msg);
				goto out;
			}
			admin_line_set(&v[i], &bad, le.msg);
			continue;
		}
		for (j = 0; j < i; j++)
			if (v[j].msg[0] == '\0' && strcmp(recs[j].serial, recs[i].serial) == 0)
				break;
		if (j < i)
			admin_line_set(&v[i], &bad, "the certificate is on an earlier line too");
	}
	if (bad > 0) {
		err_set(e, ERR_REFUSED, "%zu of %zu lines are bad: nothing was changed", bad, nl);
		goto done;
	}
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	for (i = 0; i < nl; i++) {
		const struct tsv_line *l = &doc.lines[i + 1];

		an.name = l->cols[pos[ADMIN_NAME]];
		an.unit = l->cols[pos[ADMIN_UNIT]];
		an.email = l->cols[pos[ADMIN_EMAIL]];
		if (admin_write(st, o, &recs[i], &an, e) == -1)
			goto out;
	}
	if (store_commit(st, e) == -1)
		goto out;
	intx = 0;
	*changed = nl;
	rc = 0;
done:
	*out = v;
	*nout = nl;
	v = NULL;
out:
	if (intx)
		store_rollback(st);
	for (i = 0; recs != NULL && i < nl; i++)
		store_certadmin_clear(&recs[i]);
	free(recs);
	free(v);
	tsv_doc_free(&doc);
	return rc;
}
