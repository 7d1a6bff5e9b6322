/*
 * store_certadmin: what the RA officers' console records about the certificates it issues
 * (0016; src/ra/orgcert.c): the user administrator, the server software, the one-time
 * download URL, the replacement of a renewed certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define CA_COLS                                                                                    \
	"serial, org_id, officer_id, kind, admin_name, admin_unit, admin_email, "                  \
	"server_software, holder_name, holder_unit, holder_email, replaces, replace_state, "       \
	"replace_due, reminded, dl_expires, dl_used, expiry_mail, created"

static const char SQL_CA_INSERT[] =
    "INSERT INTO cert_admins (" CA_COLS ", dl_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)";
static const char SQL_CA_GET[] = "SELECT " CA_COLS " FROM cert_admins WHERE serial = $1";
static const char SQL_CA_BY_DL[] = "SELECT " CA_COLS " FROM cert_admins WHERE dl_hash = $1";
static const char SQL_CA_DL_USE[] =
    "UPDATE cert_admins SET dl_used = $2 WHERE serial = $1 AND dl_used IS NULL";
static const char SQL_CA_WAIT[] = "UPDATE cert_admins SET replace_state = 'waiting', "
				  "replace_due = $2 WHERE serial = $1 AND replace_state IS NULL";
/* a renewal of $1 that is still valid at $2 (not revoked, not expired) */
#define CA_RENEWAL_VALID                                                                           \
	"EXISTS (SELECT 1 FROM cert_admins n JOIN certificates c ON c.serial = n.serial "          \
	"WHERE n.replaces = $1 AND c.status = 0 AND c.not_after > $2)"
static const char SQL_CA_REPLACED[] =
    "UPDATE cert_admins SET replace_state = 'replaced' "
    "WHERE serial = $1 AND replace_state = 'waiting' AND " CA_RENEWAL_VALID;
static const char SQL_CA_UNWAIT[] =
    "UPDATE cert_admins SET replace_state = NULL, replace_due = NULL, reminded = NULL "
    "WHERE serial = $1 AND replace_state = 'waiting' AND NOT " CA_RENEWAL_VALID;
static const char SQL_CA_ORPHANS[] =
    "SELECT a.serial FROM cert_admins a WHERE a.replace_state = 'waiting' AND NOT EXISTS "
    "(SELECT 1 FROM cert_admins n JOIN certificates c ON c.serial = n.serial "
    "WHERE n.replaces = a.serial AND c.status = 0 AND c.not_after > $1) "
    "ORDER BY a.replace_due LIMIT $2";
static const char SQL_CA_WAITING_DUE[] =
    "SELECT serial FROM cert_admins WHERE replace_state = 'waiting' AND replace_due <= $1 "
    "ORDER BY replace_due LIMIT $2";
static const char SQL_CA_REMIND_DUE[] =
    "SELECT serial FROM cert_admins WHERE replace_state = 'waiting' AND reminded IS NULL AND "
    "replace_due <= $1 ORDER BY replace_due LIMIT $2";
/* valid certificates of the console whose notAfter is within the window and whose reminder
 * (bit) has not gone out; a renewed one (waiting or replaced) is reminded no more */
static const char SQL_CA_EXPIRING[] =
    "SELECT a.serial, c.not_after FROM cert_admins a JOIN certificates c ON c.serial = a.serial "
    "WHERE c.status = 0 AND c.not_after > $1 AND c.not_after <= $2 AND a.replace_state IS NULL "
    "AND (a.expiry_mail & $3) = 0 ORDER BY c.not_after LIMIT $4";
static const char SQL_CA_EXPIRY_MARK[] =
    "UPDATE cert_admins SET expiry_mail = expiry_mail | $2 WHERE serial = $1 AND "
    "(expiry_mail & $2) <> $2";
static const char SQL_CA_REMINDED[] =
    "UPDATE cert_admins SET reminded = $2 WHERE serial = $1 AND reminded IS NULL";

void
store_certadmin_clear(struct store_certadmin *a)
{
	if (a == NULL)
		return;
	free(a->kind);
	free(a->admin_name);
	free(a->admin_unit);
	free(a->admin_email);
	free(a->server_software);
	free(a->holder_name);
	free(a->holder_unit);
	free(a->holder_email);
	free(a->replaces);
	free(a->replace_state);
	memset(a, 0, sizeof(*a));
}

/* A text that may be NULL bound as "" (the NOT NULL DEFAULT '' columns). */
static void
ca_text(struct store *s, struct drv_stmt *st, int n, const char *v)
{
	stmt_text(s, st, n, v != NULL ? v : "");
}

int
store_certadmin_add(struct store *s, const struct store_certadmin *a, const unsigned char *dl_hash,
		    struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_CA_INSERT, 0, "add certificate record", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, a->serial);
	stmt_int(s, st, 2, a->org_id);
	stmt_int(s, st, 3, a->officer_id);
	stmt_text(s, st, 4, a->kind);
	ca_text(s, st, 5, a->admin_name);
	ca_text(s, st, 6, a->admin_unit);
	stmt_text(s, st, 7, a->admin_email);
	ca_text(s, st, 8, a->server_software);
	ca_text(s, st, 9, a->holder_name);
	ca_text(s, st, 10, a->holder_unit);
	ca_text(s, st, 11, a->holder_email);
	if (a->replaces != NULL)
		stmt_text(s, st, 12, a->replaces);
	else
		s->drv->bind_null(st, 12);
	if (a->replace_state != NULL)
		stmt_text(s, st, 13, a->replace_state);
	else
		s->drv->bind_null(st, 13);
	stmt_int_or_null(s, st, 14, (int64_t)a->replace_due, 0);
	stmt_int_or_null(s, st, 15, (int64_t)a->reminded, 0);
	stmt_int_or_null(s, st, 16, (int64_t)a->dl_expires, 0);
	stmt_int_or_null(s, st, 17, (int64_t)a->dl_used, 0);
	stmt_int(s, st, 18, a->expiry_mail);
	stmt_int(s, st, 19, (int64_t)a->created);
	if (dl_hash != NULL)
		stmt_blob(s, st, 20, dl_hash, STORE_HASH_LEN);
	else
		s->drv->bind_null(st, 20);
	if (store_stmt_step(s, st, "add certificate record", a->serial, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

static void
ca_row(struct store *s, struct drv_stmt *st, struct store_certadmin *a)
{
	const char *v = s->drv->column_text(st, 0);

	snprintf(a->serial, sizeof(a->serial), "%s", v != NULL ? v : "");
	a->org_id = col_int(s, st, 1);
	a->officer_id = col_int(s, st, 2);
	a->kind = col_str(s, st, 3);
	a->admin_name = col_str(s, st, 4);
	a->admin_unit = col_str(s, st, 5);
	a->admin_email = col_str(s, st, 6);
	a->server_software = col_str(s, st, 7);
	a->holder_name = col_str(s, st, 8);
	a->holder_unit = col_str(s, st, 9);
	a->holder_email = col_str(s, st, 10);
	a->replaces = col_dup(s, st, 11);
	a->replace_state = col_dup(s, st, 12);
	a->replace_due = (time_t)col_int_or(s, st, 13, 0);
	a->reminded = (time_t)col_int_or(s, st, 14, 0);
	a->dl_expires = (time_t)col_int_or(s, st, 15, 0);
	a->dl_used = (time_t)col_int_or(s, st, 16, 0);
	a->expiry_mail = (int)col_int(s, st, 17);
	a->created = (time_t)col_int(s, st, 18);
}

/* One row by a text or a hash key: ERR_NOTFOUND when none. */
static int
ca_get(struct store *s, const char *sql, const char *serial, const unsigned char *hash,
       struct store_certadmin *a, struct err *e)
{
	struct drv_stmt *st = NULL;
	int r, rc = -1;

	memset(a, 0, sizeof(*a));
	if ((st = store_stmt_get(s, sql, 0, "certificate record", e)) == NULL)
		goto out;
	if (serial != NULL)
		stmt_text(s, st, 1, serial);
	else
		stmt_blob(s, st, 1, hash, STORE_HASH_LEN);
	if ((r = store_stmt_step(s, st, "certificate record", serial, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no record of this certificate");
		goto out;
	}
	ca_row(s, st, a);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_certadmin_get(struct store *s, const char *serial, struct store_certadmin *a, struct err *e)
{
	char norm[STORE_SERIAL_MAX];

	if (store_serial_norm(serial, norm, e) == -1)
		return -1;
	return ca_get(s, SQL_CA_GET, norm, NULL, a, e);
}

int
store_certadmin_by_dl(struct store *s, const unsigned char dl_hash[STORE_HASH_LEN],
		      struct store_certadmin *a, struct err *e)
{
	return ca_get(s, SQL_CA_BY_DL, NULL, dl_hash, a, e);
}

/* An UPDATE keyed by serial with an optional int: 1 changed, 0 not. */
static int
ca_update(struct store *s, const char *sql, const char *serial, int with_int, int64_t v,
	  struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, sql, 0, "update certificate record", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, serial);
	if (with_int)
		stmt_int(s, st, 2, v);
	if (store_stmt_step(s, st, "update certificate record", serial, e) == -1)
		goto out;
	rc = s->drv->changes(st) > 0 ? 1 : 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_certadmin_dl_use(struct store *s, const char *serial, time_t now, struct err *e)
{
	return ca_update(s, SQL_CA_DL_USE, serial, 1, (int64_t)now, e);
}

int
store_certadmin_wait(struct store *s, const char *serial, time_t due, struct err *e)
{
	return ca_update(s, SQL_CA_WAIT, serial, 1, (int64_t)due, e);
}

int
store_certadmin_replaced(struct store *s, const char *serial, time_t now, struct err *e)
{
	return ca_update(s, SQL_CA_REPLACED, serial, 1, (int64_t)now, e);
}

int
store_certadmin_unwait(struct store *s, const char *serial, time_t now, struct err *e)
{
	return ca_update(s, SQL_CA_UNWAIT, serial, 1, (int64_t)now, e);
}

int
store_certadmin_reminded(struct store *s, const char *serial, time_t now, struct err *e)
{
	return ca_update(s, SQL_CA_REMINDED, serial, 1, (int64_t)now, e);
}

/* Serials of a one-int, one-limit query; caller frees *out. */
static int
ca_serials(struct store *s, const char *sql, time_t t, size_t max, char (**out)[STORE_SERIAL_MAX],
	   size_t *n, struct err *e)
{
	struct drv_stmt *st = NULL;
	char(*v)[STORE_SERIAL_MAX] = NULL;
	size_t cap = 0;
	const char *x;
	int r, rc = -1;

	*out = NULL;
	*n = 0;
	if ((st = store_stmt_get(s, sql, 0, "certificate records", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, (int64_t)t);
	stmt_int(s, st, 2, (int64_t)max);
	while ((r = store_stmt_step(s, st, "certificate records", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, *n, sizeof(*v));
		x = s->drv->column_text(st, 0);
		snprintf(v[*n], STORE_SERIAL_MAX, "%s", x != NULL ? x : "");
		(*n)++;
	}
	if (r == -1)
		goto out;
	*out = v;
	v = NULL;
	rc = 0;
out:
	if (rc == -1)
		*n = 0;
	free(v);
	stmt_reset(s, st);
	return rc;
}

int
store_certadmin_waiting_due(struct store *s, time_t now, size_t max, char (**out)[STORE_SERIAL_MAX],
			    size_t *n, struct err *e)
{
	return ca_serials(s, SQL_CA_WAITING_DUE, now, max, out, n, e);
}

int
store_certadmin_wait_orphans(struct store *s, time_t now, size_t max,
			     char (**out)[STORE_SERIAL_MAX], size_t *n, struct err *e)
{
	return ca_serials(s, SQL_CA_ORPHANS, now, max, out, n, e);
}

int
store_certadmin_remind_due(struct store *s, time_t before, size_t max,
			   char (**out)[STORE_SERIAL_MAX], size_t *n, struct err *e)
{
	return ca_serials(s, SQL_CA_REMIND_DUE, before, max, out, n, e);
}

int
store_certadmin_expiring(struct store *s, time_t now, time_t until, int bit, size_t max,
			 struct store_expiring **out, size_t *n, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct store_expiring *v = NULL;
	size_t cap = 0;
	const char *x;
	int r, rc = -1;

	*out = NULL;
	*n = 0;
	if ((st = store_stmt_get(s, SQL_CA_EXPIRING, 0, "expiring certificates", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, (int64_t)now);
	stmt_int(s, st, 2, (int64_t)until);
	stmt_int(s, st, 3, bit);
	stmt_int(s, st, 4, (int64_t)max);
	while ((r = store_stmt_step(s, st, "expiring certificates", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, *n, sizeof(*v));
		x = s->drv->column_text(st, 0);
		snprintf(v[*n].serial, sizeof(v[*n].serial), "%s", x != NULL ? x : "");
		v[*n].not_after = (time_t)col_int(s, st, 1);
		(*n)++;
	}
	if (r == -1)
		goto out;
	*out = v;
	v = NULL;
	rc = 0;
out:
	if (rc == -1)
		*n = 0;
	free(v);
	stmt_reset(s, st);
	return rc;
}

int
store_certadmin_expiry_mark(struct store *s, const char *serial, int bits, struct err *e)
{
	return ca_update(s, SQL_CA_EXPIRY_MARK, serial, 1, bits, e);
}

/* ---- the bulk download (issue 13 part 6) and the user administrator's update (part 7) ---- */

/*
 * The organization's console certificates joined with their records, oldest first.  $2..$4
 * the kinds ("" for a kind not asked for), $5 the certificate status (-1 any), $6/$7 a
 * notAfter range (0: open), $8 the limit.
 */
static const char SQL_CA_EXPORT[] =
    "SELECT c.serial, c.subject, c.sans, c.profile, c.not_before, c.not_after, c.status, "
    "c.revoked_at, c.reason, c.predecessor, c.der, c.created, a.kind, a.admin_name, "
    "a.admin_unit, a.admin_email, a.server_software, a.holder_name, a.holder_unit, "
    "a.holder_email, a.replaces, a.replace_state, a.replace_due, a.reminded, a.dl_expires, "
    "a.dl_used, a.created, a.officer_id, a.org_id "
    "FROM cert_admins a JOIN certificates c ON c.serial = a.serial "
    "WHERE a.org_id = $1 AND c.org_id = $1 AND ($9 = '' OR c.ca = $9) AND a.kind IN ($2, $3, $4) "
    "AND (CAST($5 AS BIGINT) < 0 OR c.status = CAST($5 AS BIGINT)) "
    "AND (CAST($6 AS BIGINT) = 0 OR c.not_after >= CAST($6 AS BIGINT)) "
    "AND (CAST($7 AS BIGINT) = 0 OR c.not_after < CAST($7 AS BIGINT)) "
    "ORDER BY c.created, c.serial LIMIT $8";
static const char SQL_CA_BY_EMAIL[] = "SELECT " CA_COLS " FROM cert_admins WHERE org_id = $1 AND "
				      "admin_email = $2 ORDER BY created, serial LIMIT $3";
static const char SQL_CA_ADMIN_SET[] = "UPDATE cert_admins SET admin_name = $2, admin_unit = $3, "
				       "admin_email = $4 WHERE serial = $1";

int
store_certadmin_export(struct store *s, const struct store_certadmin_export_filter *f,
		       int (*row)(void *arg, const struct store_cert *c,
				  const struct store_certadmin *a, struct err *e),
		       void *arg, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct store_cert c;
	struct store_certadmin a;
	const unsigned char *der;
	const char *v;
	size_t len;
	int i, r, rc = -1;

	memset(&c, 0, sizeof(c));
	memset(&a, 0, sizeof(a));
	if ((st = store_stmt_get(s, SQL_CA_EXPORT, 0, "export certificates", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, f->org_id);
	for (i = 0; i < 3; i++)
		stmt_text(s, st, 2 + i, f->kinds[i] != NULL ? f->kinds[i] : "");
	stmt_int(s, st, 5, f->status);
	stmt_int(s, st, 6, (int64_t)f->not_after_min);
	stmt_int(s, st, 7, (int64_t)f->not_after_max);
	stmt_int(s, st, 8, (int64_t)f->limit);
	stmt_text(s, st, 9, f->ca != NULL ? f->ca : "");
	while ((r = store_stmt_step(s, st, "export certificates", NULL, e)) == 1) {
		v = s->drv->column_text(st, 0);
		snprintf(c.serial, sizeof(c.serial), "%s", v != NULL ? v : "");
		memcpy(a.serial, c.serial, sizeof(a.serial));
		c.subject = col_str(s, st, 1);
		c.sans = col_dup(s, st, 2);
		c.profile = col_str(s, st, 3);
		c.not_before = (time_t)col_int(s, st, 4);
		c.not_after = (time_t)col_int(s, st, 5);
		c.status = (enum store_cert_status)col_int(s, st, 6);
		c.revoked_at = (time_t)col_int_or(s, st, 7, 0);
		c.reason = (int)col_int_or(s, st, 8, -1);
		c.predecessor = col_dup(s, st, 9);
		der = s->drv->column_blob(st, 10, &len);
		if (der != NULL && len > 0) {
			c.der = xmalloc(len);
			memcpy(c.der, der, len);
			c.derlen = len;
		}
		c.created = (time_t)col_int(s, st, 11);
		a.kind = col_str(s, st, 12);
		a.admin_name = col_str(s, st, 13);
		a.admin_unit = col_str(s, st, 14);
		a.admin_email = col_str(s, st, 15);
		a.server_software = col_str(s, st, 16);
		a.holder_name = col_str(s, st, 17);
		a.holder_unit = col_str(s, st, 18);
		a.holder_email = col_str(s, st, 19);
		a.replaces = col_dup(s, st, 20);
		a.replace_state = col_dup(s, st, 21);
		a.replace_due = (time_t)col_int_or(s, st, 22, 0);
		a.reminded = (time_t)col_int_or(s, st, 23, 0);
		a.dl_expires = (time_t)col_int_or(s, st, 24, 0);
		a.dl_used = (time_t)col_int_or(s, st, 25, 0);
		a.created = (time_t)col_int(s, st, 26);
		a.officer_id = col_int(s, st, 27);
		a.org_id = col_int(s, st, 28);
		c.org_id = a.org_id;
		r = row(arg, &c, &a, e);
		store_cert_clear(&c);
		store_certadmin_clear(&a);
		if (r == -1)
			goto out;
	}
	if (r == -1)
		goto out;
	rc = 0;
out:
	store_cert_clear(&c);
	store_certadmin_clear(&a);
	stmt_reset(s, st);
	return rc;
}

int
store_certadmin_by_email(struct store *s, int64_t org_id, const char *email, size_t max,
			 struct store_certadmin **out, size_t *n, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct store_certadmin *v = NULL;
	size_t cap = 0;
	int r, rc = -1;

	*out = NULL;
	*n = 0;
	if ((st = store_stmt_get(s, SQL_CA_BY_EMAIL, 0, "certificate records", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, org_id);
	stmt_text(s, st, 2, email);
	stmt_int(s, st, 3, (int64_t)max);
	while ((r = store_stmt_step(s, st, "certificate records", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, *n, sizeof(*v));
		memset(&v[*n], 0, sizeof(v[*n]));
		ca_row(s, st, &v[*n]);
		(*n)++;
	}
	if (r == -1)
		goto out;
	*out = v;
	v = NULL;
	rc = 0;
out:
	if (rc == -1) {
		STORE_LIST_FREE(v, *n, store_certadmin_clear);
		*n = 0;
	}
	stmt_reset(s, st);
	return rc;
}

int
store_certadmin_admin_set(struct store *s, const char *serial, const char *name, const char *unit,
			  const char *email, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_CA_ADMIN_SET, 0, "update user administrator", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, serial);
	ca_text(s, st, 2, name);
	ca_text(s, st, 3, unit);
	stmt_text(s, st, 4, email);
	if (store_stmt_step(s, st, "update user administrator", serial, e) == -1)
		goto out;
	rc = s->drv->changes(st) > 0 ? 1 : 0;
out:
	stmt_reset(s, st);
	return rc;
}
