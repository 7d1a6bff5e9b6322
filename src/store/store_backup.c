/*
 * store_backup: the store's part of `shomei backup` (src/backup): a snapshot of the whole
 * store into one file (SQLite's online backup API, in store_sqlite.c) and the copy's own
 * consistency check.  PostgreSQL is backed up with its own tools (docs/backup.md).
 */
#include <string.h>

#include "store_int.h"

static const char SQL_QUICK_CHECK[] = "PRAGMA quick_check";
/* the planner's statistics (sqlite_stat*, made by an ANALYZE by hand) change no behaviour */
static const char SQL_SCHEMA_ROWS[] =
    "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_stat%' "
    "ESCAPE '\\' ORDER BY type, name";

#define SCHEMA_ROWS_MAX 4096 /* objects of a schema read from a copy */

/* One row of sqlite_schema; sql NULL for the indexes of constraints. */
struct schema_row {
	char *type, *name, *tbl, *sql;
};

static void
schema_rows_free(struct schema_row *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(r[i].type);
		free(r[i].name);
		free(r[i].tbl);
		free(r[i].sql);
	}
	free(r);
}

/* Every row of s's sqlite_schema, ordered by type and name; *out freed by schema_rows_free. */
static int
schema_rows(struct store *s, struct schema_row **out, size_t *nout, struct err *e)
{
	struct drv_stmt *st = NULL;
	struct schema_row *r = NULL;
	const char *v;
	size_t n = 0, cap = 0;
	int rc = -1, k;

	*out = NULL;
	*nout = 0;
	if ((st = store_stmt_get(s, SQL_SCHEMA_ROWS, 0, "schema", e)) == NULL)
		goto out;
	while ((k = store_stmt_step(s, st, "schema", NULL, e)) == 1) {
		if (n == SCHEMA_ROWS_MAX) {
			err_set(e, ERR_REFUSED, "store: schema: more than %d objects",
				SCHEMA_ROWS_MAX);
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			r = xrealloc(r, cap * sizeof(*r));
		}
		v = s->drv->column_text(st, 0);
		r[n].type = xstrdup(v != NULL ? v : "");
		v = s->drv->column_text(st, 1);
		r[n].name = xstrdup(v != NULL ? v : "");
		v = s->drv->column_text(st, 2);
		r[n].tbl = xstrdup(v != NULL ? v : "");
		v = s->drv->column_text(st, 3);
		r[n].sql = v != NULL ? xstrdup(v) : NULL;
		n++;
	}
	if (k == -1)
		goto out;
	*out = r;
	*nout = n;
	r = NULL;
	n = 0;
	rc = 0;
out:
	stmt_reset(s, st);
	schema_rows_free(r, n);
	return rc;
}

/* strcmp that orders NULL first. */
static int
schema_strcmp(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b ? 0 : a == NULL ? -1 : 1;
	return strcmp(a, b);
}

static int
schema_key_cmp(const struct schema_row *a, const struct schema_row *b)
{
	int c = strcmp(a->type, b->type);

	return c != 0 ? c : strcmp(a->name, b->name);
}

int
store_backup_to(struct store *s, const char *dest, struct err *e)
{
	struct err de;
	int rc = -1;

	err_clear(&de);
	if (s->in_tx) {
		err_set(e, ERR_INTERNAL, "store: backup: a transaction is open");
		goto out;
	}
	if (s->drv->backup_to == NULL) {
		err_set(e, ERR_REFUSED,
			"store: backup: a %s store is backed up with its own tools (pg_dump "
			"--format=custom, or pg_basebackup), not by shomei: see docs/backup.md",
			s->drv->name);
		goto out;
	}
	if (s->drv->backup_to(s->conn, dest, &de) == -1) {
		err_set(e, ERR_INTERNAL, "store: backup: %s", de.msg);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int
store_check(struct store *s, struct err *e)
{
	struct drv_stmt *st = NULL;
	const char *v;
	char esc[256];
	int rc = -1;

	if (s->backend != STORE_SQLITE) {
		rc = 0;
		goto out;
	}
	if ((st = store_stmt_get(s, SQL_QUICK_CHECK, 0, "quick check", e)) == NULL)
		goto out;
	if (store_stmt_step(s, st, "quick check", NULL, e) != 1) {
		err_set(e, ERR_REFUSED, "store: quick check: no answer");
		goto out;
	}
	v = s->drv->column_text(st, 0);
	if (v == NULL || strcmp(v, "ok") != 0) {
		err_set(e, ERR_REFUSED, "store: the database file is damaged: %s",
			store_esc(esc, sizeof(esc), v));
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_schema_check(struct store *s, struct err *e)
{
	struct store *ref = NULL;
	struct schema_row *a = NULL, *b = NULL;
	size_t na = 0, nb = 0, i = 0, j = 0;
	char esc1[64], esc2[128], esc3[128];
	int version = 0, rc = -1, c;

	if (s->backend != STORE_SQLITE) {
		rc = 0;
		goto out;
	}
	if (store_schema_version(s, &version, e) == -1 ||
	    store_open_upto(&ref, "sqlite::memory:", version, e) == -1 ||
	    schema_rows(s, &a, &na, e) == -1 || schema_rows(ref, &b, &nb, e) == -1)
		goto out;
	while (i < na || j < nb) {
		c = i == na ? 1 : j == nb ? -1 : schema_key_cmp(&a[i], &b[j]);
		if (c < 0) {
			err_set(e, ERR_REFUSED,
				"store: schema: unexpected %s \"%s\" on %s: the migrations up to "
				"version %d make no such object",
				store_esc(esc1, sizeof(esc1), a[i].type),
				store_esc(esc2, sizeof(esc2), a[i].name),
				store_esc(esc3, sizeof(esc3), a[i].tbl), version);
			goto out;
		}
		if (c > 0) {
			err_set(e, ERR_REFUSED,
				"store: schema: %s \"%s\" missing: the migrations up to version %d "
				"make it",
				b[j].type, b[j].name, version);
			goto out;
		}
		if (strcmp(a[i].tbl, b[j].tbl) != 0 || schema_strcmp(a[i].sql, b[j].sql) != 0) {
			err_set(
			    e, ERR_REFUSED,
			    "store: schema: %s \"%s\" is not what the migrations up to version %d "
			    "make",
			    b[j].type, b[j].name, version);
			goto out;
		}
		i++;
		j++;
	}
	rc = 0;
out:
	schema_rows_free(a, na);
	schema_rows_free(b, nb);
	store_close(ref);
	return rc;
}
