/*
 * store_audit: the hash-chained audit log and its head row.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "store_int.h"

static const char SQL_AUDIT_HEAD[] = "SELECT seq, hash FROM audit_head WHERE id = 1";
static const char SQL_AUDIT_HEAD_LOCK[] =
    "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE";
static const char SQL_AUDIT_INSERT[] =
    "INSERT INTO audit (seq, ts, actor, action, object, detail, prev_hash, hash) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
static const char SQL_AUDIT_HEAD_SET[] = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1";
static const char SQL_AUDIT_ALL[] =
    "SELECT seq, ts, actor, action, object, detail, prev_hash, hash FROM audit ORDER BY seq";

static void
put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

/* SHA-256 over prev || seq (8 BE) || ts (8 BE) || (len (4 BE) || bytes) of the four texts. */
void
store_audit_hash(const struct store_audit *a, unsigned char out[STORE_HASH_LEN])
{
	const char *field[4];
	unsigned char num[8];
	EVP_MD_CTX *ctx;
	size_t i, len;
	int ok;

	field[0] = a->actor;
	field[1] = a->action;
	field[2] = a->object;
	field[3] = a->detail;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("store: audit hash: out of memory");
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, a->prev, STORE_HASH_LEN);
	put_be64(num, (uint64_t)a->seq);
	ok = ok && EVP_DigestUpdate(ctx, num, 8);
	put_be64(num, (uint64_t)(int64_t)a->ts);
	ok = ok && EVP_DigestUpdate(ctx, num, 8);
	for (i = 0; i < 4; i++) {
		len = field[i] != NULL ? strlen(field[i]) : 0;
		if (len > UINT32_MAX)
			fatalx("store: audit hash: field of %zu bytes", len);
		put_be64(num, (uint64_t)len);
		ok = ok && EVP_DigestUpdate(ctx, num + 4, 4);
		if (len > 0)
			ok = ok && EVP_DigestUpdate(ctx, field[i], len);
	}
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		fatalx("store: audit hash: SHA-256 failed");
}

/* Reads (seq, hash) of the head row; lock holds it for the transaction (PostgreSQL). */
static int
audit_head_read(struct store *s, int lock, int64_t *seq, unsigned char hash[STORE_HASH_LEN],
		struct err *e)
{
	struct drv_stmt *st;
	const unsigned char *p;
	size_t len;
	int rc = -1, r;

	*seq = 0;
	if ((st = store_stmt_get(
		 s, lock && s->backend == STORE_PG ? SQL_AUDIT_HEAD_LOCK : SQL_AUDIT_HEAD, 0,
		 "audit head", e)) == NULL)
		goto out;
	if ((r = store_stmt_step(s, st, "audit head", NULL, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_INTERNAL, "store: audit head row is missing");
		goto out;
	}
	*seq = col_int(s, st, 0);
	p = s->drv->column_blob(st, 1, &len);
	if (len != STORE_HASH_LEN) {
		err_set(e, ERR_INTERNAL, "store: audit head hash is %zu bytes, not %d", len,
			STORE_HASH_LEN);
		goto out;
	}
	memcpy(hash, p, STORE_HASH_LEN);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_audit_lock(struct store *s, struct err *e)
{
	unsigned char h[STORE_HASH_LEN];
	int64_t seq;

	if (s->backend != STORE_PG)
		return 0; /* SQLite's BEGIN IMMEDIATE holds the whole database already */
	return audit_head_read(s, 1, &seq, h, e);
}

/* Writes the transaction's audit head back (store_commit() calls it). */
int
store_audit_head_write(struct store *s, struct err *e)
{
	struct drv_stmt *st;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_AUDIT_HEAD_SET, 0, "move audit head", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, s->head_seq);
	stmt_blob(s, st, 2, s->head_hash, STORE_HASH_LEN);
	if (store_stmt_step(s, st, "move audit head", NULL, e) == -1)
		goto out;
	if (s->drv->changes(st) != 1) {
		err_set(e, ERR_INTERNAL, "store: audit head row is missing");
		goto out;
	}
	s->head_dirty = 0;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_audit_bulk_drop(struct store *s)
{
	STORE_LIST_FREE(s->bulk_audit, s->nbulk_audit, store_audit_clear);
	s->bulk_audit = NULL;
	s->nbulk_audit = s->cbulk_audit = 0;
}

/* Sends the optimistic run's entries kept so far as multi-row INSERTs, unanswered. */
int
store_audit_bulk_send(struct store *s, struct err *e)
{
	struct drv_stmt *st = NULL;
	const struct store_audit *a;
	struct buf q;
	size_t i, k, r;
	int rc = -1;

	buf_init(&q, 64 * 1024);
	for (i = 0; i < s->nbulk_audit; i += k) {
		k = s->nbulk_audit - i < STORE_BULK_ROWS ? s->nbulk_audit - i : STORE_BULK_ROWS;
		buf_reset(&q);
		buf_printf(&q, "INSERT INTO audit (seq, ts, actor, action, object, detail, "
			       "prev_hash, hash) VALUES ");
		for (r = 0; r < k; r++) {
			int b = (int)r * 8;

			buf_printf(&q, "%s($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)",
				   r > 0 ? ", " : "", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6,
				   b + 7, b + 8);
		}
		if (buf_cstr(&q) == NULL) {
			err_set(e, ERR_INTERNAL, "store: append audit entries: query too long");
			goto out;
		}
		if ((st = store_stmt_get(s, (const char *)q.data, DRV_DEFER, "append audit entries",
					 e)) == NULL)
			goto out;
		for (r = 0; r < k; r++) {
			a = &s->bulk_audit[i + r];
			stmt_int(s, st, (int)r * 8 + 1, a->seq);
			stmt_int(s, st, (int)r * 8 + 2, (int64_t)a->ts);
			stmt_text(s, st, (int)r * 8 + 3, a->actor);
			stmt_text(s, st, (int)r * 8 + 4, a->action);
			stmt_text(s, st, (int)r * 8 + 5, a->object);
			stmt_text(s, st, (int)r * 8 + 6, a->detail);
			stmt_blob(s, st, (int)r * 8 + 7, a->prev, STORE_HASH_LEN);
			stmt_blob(s, st, (int)r * 8 + 8, a->hash, STORE_HASH_LEN);
		}
		if (store_stmt_step(s, st, "append audit entries", NULL, e) == -1)
			goto out;
		stmt_reset(s, st);
		st = NULL;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	buf_free(&q);
	store_audit_bulk_drop(s);
	return rc;
}

/* Appends one entry; the head is read once per transaction and written at commit. */
int
store_audit_append(struct store *s, const char *actor, const char *action, const char *object,
		   const char *detail, int64_t *seq_out, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct store_audit a;
	int rc = -1, own = 0;

	memset(&a, 0, sizeof(a));
	if (actor == NULL || action == NULL || object == NULL) {
		err_set(e, ERR_INTERNAL, "store: audit entry without actor, action or object");
		goto out;
	}
	if (store_tx_enter(s, &own, e) == -1)
		goto out;
	if (!s->head_known) {
		if (audit_head_read(s, 1, &s->head_seq, s->head_hash, e) == -1)
			goto out;
		s->head_known = 1;
	}
	a.seq = s->head_seq + 1;
	memcpy(a.prev, s->head_hash, STORE_HASH_LEN);
	a.ts = util_now();
	a.actor = (char *)actor;
	a.action = (char *)action;
	a.object = (char *)object;
	a.detail = (char *)(detail != NULL ? detail : "");
	store_audit_hash(&a, a.hash);
	if (s->optimistic && s->backend == STORE_PG) { /* for a multi-row INSERT */
		struct store_audit *d;

		store_array_grow((void **)&s->bulk_audit, &s->cbulk_audit, s->nbulk_audit,
				 sizeof(*s->bulk_audit));
		d = &s->bulk_audit[s->nbulk_audit++];
		*d = a;
		d->actor = xstrdup(a.actor);
		d->action = xstrdup(a.action);
		d->object = xstrdup(a.object);
		d->detail = xstrdup(a.detail);
		goto appended;
	}
	/* nobody reads its answer: a pipelining connection sends it without waiting */
	if ((st = store_stmt_get(s, SQL_AUDIT_INSERT, DRV_DEFER, "append audit entry", e)) == NULL)
		goto out;
	stmt_int(s, st, 1, a.seq);
	stmt_int(s, st, 2, (int64_t)a.ts);
	stmt_text(s, st, 3, a.actor);
	stmt_text(s, st, 4, a.action);
	stmt_text(s, st, 5, a.object);
	stmt_text(s, st, 6, a.detail);
	stmt_blob(s, st, 7, a.prev, STORE_HASH_LEN);
	stmt_blob(s, st, 8, a.hash, STORE_HASH_LEN);
	if (store_stmt_step(s, st, "append audit entry", action, e) == -1)
		goto out;
appended:
	s->head_seq = a.seq;
	memcpy(s->head_hash, a.hash, STORE_HASH_LEN);
	s->head_dirty = 1;
	rc = 0;
out:
	stmt_reset(s, st);
	rc = store_tx_leave(s, own, rc, e);
	if (rc == 0 && seq_out != NULL)
		*seq_out = a.seq;
	return rc;
}

/* Copies a 32-byte hash column; -1 when it has another length. */
static int
audit_hash_col(struct store *s, struct drv_stmt *st, int col, unsigned char out[STORE_HASH_LEN])
{
	const unsigned char *p;
	size_t len;
	int rc = -1;

	p = s->drv->column_blob(st, col, &len);
	if (len == STORE_HASH_LEN) {
		memcpy(out, p, STORE_HASH_LEN);
		rc = 0;
	}
	return rc;
}

int
store_audit_foreach(struct store *s, int (*cb)(void *, const struct store_audit *), void *arg,
		    struct err *e)
{
	struct drv_stmt *st;
	struct store_audit a;
	int rc = -1, step;

	memset(&a, 0, sizeof(a));
	if ((st = store_stmt_get(s, SQL_AUDIT_ALL, DRV_STREAM, "audit log", e)) == NULL)
		goto out;
	while ((step = store_stmt_step(s, st, "audit log", NULL, e)) == 1) {
		a.seq = col_int(s, st, 0);
		a.ts = (time_t)col_int(s, st, 1);
		a.actor = col_str(s, st, 2);
		a.action = col_str(s, st, 3);
		a.object = col_str(s, st, 4);
		a.detail = col_str(s, st, 5);
		if (audit_hash_col(s, st, 6, a.prev) == -1 ||
		    audit_hash_col(s, st, 7, a.hash) == -1) {
			rc = err_set(e, ERR_INTERNAL,
				     "store: audit entry %" PRId64 ": hash is not %d bytes", a.seq,
				     STORE_HASH_LEN);
			goto out;
		}
		rc = cb(arg, &a);
		store_audit_clear(&a);
		if (rc != 0)
			goto out;
	}
	if (step == -1) {
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	store_audit_clear(&a);
	stmt_reset(s, st);
	return rc;
}

/* Inside a transaction that appended, the head is the one not yet written back. */
int
store_audit_head(struct store *s, int64_t *seq, unsigned char hash[STORE_HASH_LEN], struct err *e)
{
	int rc = 0;

	if (s->in_tx && s->head_known) {
		*seq = s->head_seq;
		memcpy(hash, s->head_hash, STORE_HASH_LEN);
	} else {
		rc = audit_head_read(s, 0, seq, hash, e);
	}
	return rc;
}

void
store_audit_clear(struct store_audit *a)
{
	if (a == NULL)
		return;
	free(a->actor);
	free(a->action);
	free(a->object);
	free(a->detail);
	memset(a, 0, sizeof(*a));
}

/*
 * The SQL of an audit page for the filter; audit_list_bind() binds in the same order.  At
 * most 2^6 texts, each prepared once.
 */
static int
audit_list_sql(struct store *s, const struct store_audit_filter *f, struct buf *q)
{
	const char *pos = s->backend == STORE_PG ? "strpos" : "instr";
	int n = 0, bad = 0;

	bad |= buf_printf(q, "SELECT seq, ts, actor, action, object, detail, prev_hash, hash "
			     "FROM audit WHERE 1 = 1");
	if (f->actor != NULL && f->actor[0] != '\0')
		bad |= buf_printf(q, " AND %s(actor, $%d) > 0", pos, ++n);
	if (f->action != NULL && f->action[0] != '\0')
		bad |= buf_printf(q, " AND %s(action, $%d) = 1", pos, ++n);
	if (f->org_id != 0) {
		++n;
		bad |= buf_printf(
		    q,
		    " AND (actor IN (SELECT 'officer:' || CAST(id AS TEXT) FROM officers WHERE "
		    "org_id = $%d) OR object IN (SELECT 'officer:' || CAST(id AS TEXT) FROM "
		    "officers WHERE org_id = $%d) OR object IN (SELECT serial FROM certificates "
		    "WHERE org_id = $%d) OR object IN (SELECT code FROM organizations WHERE id = "
		    "$%d) OR %s(actor, (SELECT 'api:' || code || ':' FROM organizations WHERE id = "
		    "$%d)) = 1)",
		    n, n, n, n, pos, n);
	}
	if (f->from != 0)
		bad |= buf_printf(q, " AND ts >= $%d", ++n);
	if (f->to != 0)
		bad |= buf_printf(q, " AND ts < $%d", ++n);
	if (f->before != 0)
		bad |= buf_printf(q, " AND seq < $%d", ++n);
	bad |= buf_printf(q, " ORDER BY seq DESC LIMIT $%d", n + 1);
	return bad != 0 || buf_cstr(q) == NULL ? -1 : 0;
}

static void
audit_list_bind(struct store *s, struct drv_stmt *st, const struct store_audit_filter *f)
{
	int n = 0;

	if (f->actor != NULL && f->actor[0] != '\0')
		stmt_text(s, st, ++n, f->actor);
	if (f->action != NULL && f->action[0] != '\0')
		stmt_text(s, st, ++n, f->action);
	if (f->org_id != 0)
		stmt_int(s, st, ++n, f->org_id);
	if (f->from != 0)
		stmt_int(s, st, ++n, (int64_t)f->from);
	if (f->to != 0)
		stmt_int(s, st, ++n, (int64_t)f->to);
	if (f->before != 0)
		stmt_int(s, st, ++n, f->before);
	stmt_int(s, st, ++n, (int64_t)f->limit);
}

int
store_audit_list(struct store *s, const struct store_audit_filter *f, struct store_audit **out,
		 size_t *nout, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct store_audit *v = NULL;
	struct buf q;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	buf_init(&q, 4096);
	if (f->limit < 1 || f->limit > 1000) {
		err_set(e, ERR_INTERNAL, "store: audit page of %zu entries", f->limit);
		goto out;
	}
	if (audit_list_sql(s, f, &q) == -1) {
		err_set(e, ERR_INTERNAL, "store: list audit entries: query too long");
		goto out;
	}
	if ((st = store_stmt_get(s, (const char *)q.data, 0, "list audit entries", e)) == NULL)
		goto out;
	audit_list_bind(s, st, f);
	while ((r = store_stmt_step(s, st, "list audit entries", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		v[n].seq = col_int(s, st, 0);
		v[n].ts = (time_t)col_int(s, st, 1);
		v[n].actor = col_str(s, st, 2);
		v[n].action = col_str(s, st, 3);
		v[n].object = col_str(s, st, 4);
		v[n].detail = col_str(s, st, 5);
		/* a hash of another length is the verification's finding, not the list's */
		(void)audit_hash_col(s, st, 6, v[n].prev);
		(void)audit_hash_col(s, st, 7, v[n].hash);
		n++;
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
	STORE_LIST_FREE(v, n, store_audit_clear);
	return rc;
}
