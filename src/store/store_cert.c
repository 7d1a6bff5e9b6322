/*
 * store_cert: issued certificates, their revocation and the streamed walk over the revoked
 * ones that a CRL is made from.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define CERT_COLS                                                                                  \
	"serial, ca, subject, sans, profile, org_id, not_before, not_after, status, revoked_at, "  \
	"reason, invalidity_date, predecessor, created"
enum { CERT_COL_DER = 14 };
static const char SQL_CERT_INSERT[] =
    "INSERT INTO certificates (" CERT_COLS ", der) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING";
static const char SQL_CERT_GET[] = "SELECT " CERT_COLS ", der FROM certificates WHERE serial = $1";
static const char SQL_CERT_REVOKE[] =
    "UPDATE certificates SET status = 1, revoked_at = $2, reason = $3, invalidity_date = $4 "
    "WHERE serial = $1 AND status = 0";
static const char SQL_CERT_EXISTS[] = "SELECT 1 FROM certificates WHERE serial = $1";
static const char SQL_CERT_COUNT_ALL[] = "SELECT COUNT(*) FROM certificates";
static const char SQL_CERT_COUNT[] = "SELECT COUNT(*) FROM certificates WHERE status = $1";
static const char SQL_CA_NAME_USED[] =
    "SELECT 1 WHERE EXISTS (SELECT 1 FROM certificates WHERE ca = $1) OR "
    "EXISTS (SELECT 1 FROM crls WHERE ca = $1) OR "
    "EXISTS (SELECT 1 FROM counters WHERE name = $2)";
static const char SQL_CERT_LIVE[] =
    "SELECT 1 FROM certificates WHERE ca = $1 AND not_after >= $2 LIMIT 1";
static const char SQL_REVOKED[] =
    "SELECT serial, revoked_at, reason, invalidity_date FROM certificates "
    "WHERE ca = $1 AND status = 1 AND revoked_at >= $2 ORDER BY serial";
/* full CRLs: served in order by the covering partial index certificates_crl (0003) */
static const char SQL_REVOKED_ALL[] =
    "SELECT serial, revoked_at, reason, invalidity_date FROM certificates "
    "WHERE ca = $1 AND status = 1 ORDER BY serial";

/* Binds c's 15 INSERT parameters from $base+1 on (ser: its normalised serial). */
static void
cert_bind(struct store *s, struct drv_stmt *st, int base, const struct store_cert *c,
	  const char *ser)
{
	stmt_text(s, st, base + 1, ser);
	stmt_text(s, st, base + 2, c->ca);
	stmt_text(s, st, base + 3, c->subject);
	stmt_text(s, st, base + 4, c->sans);
	stmt_text(s, st, base + 5, c->profile);
	stmt_int_or_null(s, st, base + 6, c->org_id, 0);
	stmt_int(s, st, base + 7, (int64_t)c->not_before);
	stmt_int(s, st, base + 8, (int64_t)c->not_after);
	if (c->status == STORE_CERT_REVOKED) {
		stmt_int(s, st, base + 9, STORE_CERT_REVOKED);
		stmt_int(s, st, base + 10, (int64_t)c->revoked_at);
		stmt_int_or_null(s, st, base + 11, c->reason, -1);
		stmt_int_or_null(s, st, base + 12, (int64_t)c->invalidity_date, 0);
	} else {
		stmt_int(s, st, base + 9, STORE_CERT_VALID);
		s->drv->bind_null(st, base + 10);
		s->drv->bind_null(st, base + 11);
		s->drv->bind_null(st, base + 12);
	}
	stmt_text(s, st, base + 13, c->predecessor);
	stmt_int(s, st, base + 14, (int64_t)(c->created != 0 ? c->created : util_now()));
	stmt_blob(s, st, base + 15, c->der, c->derlen);
}

/* Keeps a copy of c (serial ser) for the optimistic run's next multi-row INSERT. */
static void
cert_bulk_add(struct store *s, const struct store_cert *c, const char *ser)
{
	struct store_cert *d;

	store_array_grow((void **)&s->bulk_cert, &s->cbulk_cert, s->nbulk_cert,
			 sizeof(*s->bulk_cert));
	d = &s->bulk_cert[s->nbulk_cert++];
	*d = *c;
	snprintf(d->serial, sizeof(d->serial), "%s", ser);
	d->ca = xstrdup(c->ca);
	d->subject = xstrdup(c->subject);
	d->sans = c->sans != NULL ? xstrdup(c->sans) : NULL;
	d->profile = xstrdup(c->profile);
	d->predecessor = c->predecessor != NULL ? xstrdup(c->predecessor) : NULL;
	d->der = xmalloc(c->derlen > 0 ? c->derlen : 1);
	memcpy(d->der, c->der, c->derlen);
	if (d->created == 0)
		d->created = util_now();
}

void
store_cert_bulk_drop(struct store *s)
{
	STORE_LIST_FREE(s->bulk_cert, s->nbulk_cert, store_cert_clear);
	s->bulk_cert = NULL;
	s->nbulk_cert = s->cbulk_cert = 0;
}

/*
 * Sends the optimistic run's certificates kept so far as multi-row INSERTs of up to
 * STORE_BULK_ROWS rows, unanswered, each expecting as many rows inserted (a taken serial
 * fails the run at its end).
 */
int
store_cert_bulk_send(struct store *s, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct buf q;
	size_t i, k, r;
	int rc = -1;

	buf_init(&q, 64 * 1024);
	for (i = 0; i < s->nbulk_cert; i += k) {
		k = s->nbulk_cert - i < STORE_BULK_ROWS ? s->nbulk_cert - i : STORE_BULK_ROWS;
		buf_reset(&q);
		buf_printf(&q, "INSERT INTO certificates (" CERT_COLS ", der) VALUES ");
		for (r = 0; r < k; r++) {
			int b = (int)r * 15;

			buf_printf(&q,
				   "%s($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, "
				   "$%d, $%d, $%d)",
				   r > 0 ? ", " : "", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6,
				   b + 7, b + 8, b + 9, b + 10, b + 11, b + 12, b + 13, b + 14,
				   b + 15);
		}
		if (buf_printf(&q, " ON CONFLICT DO NOTHING") == -1 || buf_cstr(&q) == NULL) {
			err_set(e, ERR_INTERNAL, "store: insert certificates: query too long");
			goto out;
		}
		if ((st = store_stmt_get(s, (const char *)q.data, DRV_DEFER | DRV_ROWS((int)k),
					 "insert certificates", e)) == NULL)
			goto out;
		for (r = 0; r < k; r++)
			cert_bind(s, st, (int)r * 15, &s->bulk_cert[i + r],
				  s->bulk_cert[i + r].serial);
		if (store_stmt_step(s, st, "insert certificates", NULL, e) == -1)
			goto out;
		/* run at once (no pipeline): its row count is here */
		if (s->drv->changes(st) != -1 && s->drv->changes(st) != (int64_t)k) {
			err_set(e, ERR_CONFLICT, "store: a certificate of %zu already exists", k);
			goto out;
		}
		stmt_reset(s, st);
		st = NULL;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	buf_free(&q);
	store_cert_bulk_drop(s);
	return rc;
}

/*
 * Inserts one certificate (the hot path of issuance: no allocation, one cached statement, one
 * more when the certificate belongs to an organization).  In an optimistic run on PostgreSQL
 * (store_optimistic) it keeps a copy for a multi-row INSERT instead (store_cert_bulk_send),
 * and a taken serial fails the run's store_flush().
 */
int
store_cert_insert(struct store *s, const struct store_cert *c, struct err *e)
{
	struct drv_stmt *st = NULL;
	char ser[STORE_SERIAL_MAX];
	int rc = -1, r, bulk = s->optimistic && s->backend == STORE_PG;

	if (store_serial_norm(c->serial, ser, e) == -1)
		goto out;
	if (c->ca == NULL || c->subject == NULL || c->profile == NULL) {
		err_set(e, ERR_INTERNAL, "store: certificate %s: missing CA, subject or profile",
			ser);
		goto out;
	}
	/*
	 * The organization is looked up for a clear error.  An optimistic run on PostgreSQL
	 * leaves that to the foreign key (a failure there runs the batch again, with the lookup):
	 * the lookup would wait for an answer.
	 */
	if (c->org_id != 0 && !bulk) {
		if ((r = store_org_exists(s, c->org_id, e)) == -1)
			goto out;
		if (r == 0) {
			err_set(e, ERR_NOTFOUND,
				"store: certificate %s: organization #%" PRId64 " not found", ser,
				c->org_id);
			goto out;
		}
	}
	if (bulk) {
		cert_bulk_add(s, c, ser);
		rc = 0;
		goto out;
	}
	if ((st = store_stmt_get(s, SQL_CERT_INSERT, 0, "insert certificate", e)) == NULL)
		goto out;
	cert_bind(s, st, 0, c, ser);
	if (store_stmt_step(s, st, "insert certificate", ser, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: certificate %s already exists", ser);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* Fills c from a row of CERT_COLS (and der when with_der). */
static void
cert_row(struct store *s, struct drv_stmt *st, struct store_cert *c, int with_der)
{
	const unsigned char *p;
	const char *ser;
	size_t len;

	ser = s->drv->column_text(st, 0);
	snprintf(c->serial, sizeof(c->serial), "%s", ser != NULL ? ser : "");
	c->ca = col_str(s, st, 1);
	c->subject = col_str(s, st, 2);
	c->sans = col_dup(s, st, 3);
	c->profile = col_str(s, st, 4);
	c->org_id = col_int_or(s, st, 5, 0);
	c->not_before = (time_t)col_int(s, st, 6);
	c->not_after = (time_t)col_int(s, st, 7);
	c->status = col_int(s, st, 8) == STORE_CERT_REVOKED ? STORE_CERT_REVOKED : STORE_CERT_VALID;
	c->revoked_at = (time_t)col_int_or(s, st, 9, 0);
	c->reason = (int)col_int_or(s, st, 10, -1);
	c->invalidity_date = (time_t)col_int_or(s, st, 11, 0);
	c->predecessor = col_dup(s, st, 12);
	c->created = (time_t)col_int(s, st, 13);
	if (with_der) {
		p = s->drv->column_blob(st, CERT_COL_DER, &len);
		c->der = xmalloc(len);
		memcpy(c->der, p, len);
		c->derlen = len;
	}
}

int
store_cert_get(struct store *s, const char *serial, struct store_cert *c, struct err *e)
{
	struct drv_stmt *st = NULL;
	char ser[STORE_SERIAL_MAX];
	int rc = -1, r;

	memset(c, 0, sizeof(*c));
	c->reason = -1;
	if (store_serial_norm(serial, ser, e) == -1)
		goto out;
	if ((st = store_stmt_get(s, SQL_CERT_GET, 0, "get certificate", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, ser);
	if ((r = store_stmt_step(s, st, "get certificate", ser, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: certificate %s not found", ser);
		goto out;
	}
	cert_row(s, st, c, 1);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/*
 * The SQL of a certificate list for the filter (count: of its COUNT(*), without order and
 * page); the same walk over the filter binds the parameters in cert_list_bind().  At most
 * 2^7 texts, each prepared once.
 */
static int
cert_list_sql(struct store *s, const struct store_cert_filter *f, int count, struct buf *q)
{
	int n = 0, bad = 0, i;

	bad |= buf_printf(q, "SELECT %s FROM certificates WHERE 1 = 1",
			  count ? "COUNT(*)" : CERT_COLS);
	if (f->status >= 0)
		bad |= buf_printf(q, " AND status = $%d", ++n);
	if (f->org_id != 0)
		bad |= buf_printf(q, " AND org_id = $%d", ++n);
	for (i = 0; i < STORE_CAS_MAX && f->cas[i] != NULL; i++)
		bad |= buf_printf(q, "%s$%d", i == 0 ? " AND ca IN (" : ", ", ++n);
	if (i > 0)
		bad |= buf_printf(q, ")");
	if (f->expiring_before != 0)
		bad |= buf_printf(q, " AND not_after < $%d", ++n);
	if (f->subject_substr != NULL)
		bad |= buf_printf(q, " AND %s(subject, $%d) > 0",
				  s->backend == STORE_PG ? "strpos" : "instr", ++n);
	if (f->not_after_min != 0)
		bad |= buf_printf(q, " AND not_after >= $%d", ++n);
	if (f->profile != NULL && f->profile_alt != NULL) {
		bad |= buf_printf(q, " AND profile IN ($%d, $%d)", n + 1, n + 2);
		n += 2;
	} else if (f->profile != NULL) {
		bad |= buf_printf(q, " AND profile = $%d", ++n);
	}
	if (f->name_substr != NULL) {
		const char *fn = s->backend == STORE_PG ? "strpos" : "instr";

		n++;
		bad |=
		    buf_printf(q, " AND (%s(subject, $%d) > 0 OR %s(COALESCE(sans, ''), $%d) > 0)",
			       fn, n, fn, n);
	}
	if (!count)
		bad |=
		    buf_printf(q, " ORDER BY created, serial LIMIT $%d OFFSET $%d", n + 1, n + 2);
	return bad != 0 || buf_cstr(q) == NULL ? -1 : 0;
}

static void
cert_list_bind(struct store *s, struct drv_stmt *st, const struct store_cert_filter *f, int count)
{
	int n = 0, i;

	if (f->status >= 0)
		stmt_int(s, st, ++n, f->status);
	if (f->org_id != 0)
		stmt_int(s, st, ++n, f->org_id);
	for (i = 0; i < STORE_CAS_MAX && f->cas[i] != NULL; i++)
		stmt_text(s, st, ++n, f->cas[i]);
	if (f->expiring_before != 0)
		stmt_int(s, st, ++n, (int64_t)f->expiring_before);
	if (f->subject_substr != NULL)
		stmt_text(s, st, ++n, f->subject_substr);
	if (f->not_after_min != 0)
		stmt_int(s, st, ++n, (int64_t)f->not_after_min);
	if (f->profile != NULL)
		stmt_text(s, st, ++n, f->profile);
	if (f->profile != NULL && f->profile_alt != NULL)
		stmt_text(s, st, ++n, f->profile_alt);
	if (f->name_substr != NULL)
		stmt_text(s, st, ++n, f->name_substr);
	if (count)
		return;
	stmt_int(s, st, ++n,
		 f->limit == 0 || f->limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)f->limit);
	stmt_int(s, st, ++n, f->offset > (size_t)INT64_MAX ? INT64_MAX : (int64_t)f->offset);
}

int
store_cert_list(struct store *s, const struct store_cert_filter *filter, struct store_cert **out,
		size_t *nout, struct err *e)
{
	static const struct store_cert_filter any = {.status = -1};
	const struct store_cert_filter *f = filter != NULL ? filter : &any;
	struct drv_stmt *st = NULL;
	struct store_cert *v = NULL;
	struct buf q;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	buf_init(&q, 4096);
	if (cert_list_sql(s, f, 0, &q) == -1) {
		err_set(e, ERR_INTERNAL, "store: list certificates: query too long");
		goto out;
	}
	if ((st = store_stmt_get(s, (const char *)q.data, 0, "list certificates", e)) == NULL)
		goto out;
	cert_list_bind(s, st, f, 0);
	while ((r = store_stmt_step(s, st, "list certificates", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		cert_row(s, st, &v[n++], 0);
	}
	if (r == -1)
		goto out;
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	stmt_reset(s, st);
	buf_free(&q);
	STORE_LIST_FREE(v, n, store_cert_clear);
	return rc;
}

int
store_cert_count_filter(struct store *s, const struct store_cert_filter *f, int64_t *n,
			struct err *e)
{
	struct drv_stmt *st = NULL;
	struct buf q;
	int rc = -1;

	*n = 0;
	buf_init(&q, 4096);
	if (cert_list_sql(s, f, 1, &q) == -1) {
		err_set(e, ERR_INTERNAL, "store: count certificates: query too long");
		goto out;
	}
	if ((st = store_stmt_get(s, (const char *)q.data, 0, "count certificates", e)) == NULL)
		goto out;
	cert_list_bind(s, st, f, 1);
	if (store_stmt_step(s, st, "count certificates", NULL, e) != 1)
		goto out;
	*n = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	buf_free(&q);
	return rc;
}

/* One conditional UPDATE; only when it changed nothing, a lookup tells why. */
int
store_cert_revoke(struct store *s, const char *serial, time_t when, int reason,
		  time_t invalidity_date, struct err *e)
{
	struct drv_stmt *st = NULL;
	char ser[STORE_SERIAL_MAX];
	int rc = -1, r;

	if (store_serial_norm(serial, ser, e) == -1)
		goto out;
	if ((st = store_stmt_get(s, SQL_CERT_REVOKE, 0, "revoke certificate", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, ser);
	stmt_int(s, st, 2, (int64_t)when);
	stmt_int_or_null(s, st, 3, reason, -1);
	stmt_int_or_null(s, st, 4, (int64_t)invalidity_date, 0);
	if (store_stmt_step(s, st, "revoke certificate", ser, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		stmt_reset(s, st);
		st = NULL;
		if ((r = store_exists(s, SQL_CERT_EXISTS, ser, 0, "find certificate", e)) == -1)
			goto out;
		if (r)
			err_set(e, ERR_CONFLICT, "store: certificate %s already revoked", ser);
		else
			err_set(e, ERR_NOTFOUND, "store: certificate %s not found", ser);
		goto out;
	}
	stmt_reset(s, st);
	st = NULL;
	/* a PKCS#12 waiting for its holder is not handed out once its certificate is revoked */
	if (store_pickup_revoked(s, ser, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_cert_count(struct store *s, int status, int64_t *n, struct err *e)
{
	struct drv_stmt *st;
	int rc = -1;

	*n = 0;
	if ((st = store_stmt_get(s, status < 0 ? SQL_CERT_COUNT_ALL : SQL_CERT_COUNT, 0,
				 "count certificates", e)) == NULL)
		goto out;
	if (status >= 0)
		stmt_int(s, st, 1, status);
	if (store_stmt_step(s, st, "count certificates", NULL, e) != 1)
		goto out;
	*n = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		err_set(e, ERR_INTERNAL, "store: count certificates: no answer");
	return rc;
}

void
store_cert_clear(struct store_cert *c)
{
	if (c == NULL)
		return;
	free(c->ca);
	free(c->subject);
	free(c->sans);
	free(c->profile);
	free(c->predecessor);
	free(c->der);
	memset(c, 0, sizeof(*c));
	c->reason = -1;
}

/* Streams the revoked certificates of a CA in serial order; rows are not copied. */
int
store_revoked_foreach(struct store *s, const char *ca, time_t since,
		      int (*cb)(void *, const struct store_revoked *), void *arg, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct store_revoked r;
	int rc = -1, step;

	if (ca == NULL) {
		err_set(e, ERR_INTERNAL, "store: revoked certificates: no CA given");
		goto out;
	}
	if ((st = store_stmt_get(s, since > 0 ? SQL_REVOKED : SQL_REVOKED_ALL, DRV_STREAM,
				 "revoked certificates", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, ca);
	if (since > 0)
		stmt_int(s, st, 2, (int64_t)since);
	while ((step = store_stmt_step(s, st, "revoked certificates of", ca, e)) == 1) {
		r.serial = s->drv->column_text(st, 0);
		if (r.serial == NULL)
			r.serial = "";
		r.revoked_at = (time_t)col_int(s, st, 1);
		r.reason = (int)col_int_or(s, st, 2, -1);
		r.invalidity_date = (time_t)col_int_or(s, st, 3, 0);
		if ((rc = cb(arg, &r)) != 0)
			goto out;
	}
	if (step == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_cert_ca_live(struct store *s, const char *ca, time_t now, int *live, struct err *e)
{
	struct drv_stmt *st;
	int r;

	*live = 0;
	if ((st = store_stmt_get(s, SQL_CERT_LIVE, 0, "find an unexpired certificate", e)) == NULL)
		return -1;
	stmt_text(s, st, 1, ca);
	stmt_int(s, st, 2, (int64_t)now);
	r = store_stmt_step(s, st, "find an unexpired certificate", ca, e);
	stmt_reset(s, st);
	if (r == -1)
		return -1;
	*live = r == 1;
	return 0;
}

int
store_ca_name_used(struct store *s, const char *ca, int *used, struct err *e)
{
	struct drv_stmt *st;
	char *counter = xasprintf("crl.%s", ca);
	int r = -1;

	*used = 0;
	if ((st = store_stmt_get(s, SQL_CA_NAME_USED, 0, "find a CA name", e)) != NULL) {
		stmt_text(s, st, 1, ca);
		stmt_text(s, st, 2, counter);
		r = store_stmt_step(s, st, "find a CA name", ca, e);
		stmt_reset(s, st);
	}
	free(counter);
	if (r == -1)
		return -1;
	*used = r == 1;
	return 0;
}
