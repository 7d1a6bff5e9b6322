/*
 * store_backup: the store's part of `shomei backup` (src/backup): a snapshot of the whole
 * store into one file (SQLite's online backup API, in store_sqlite.c) and the copy's own
 * consistency check.  PostgreSQL is backed up with its own tools (docs/backup.md).
 */
#include <string.h>

#include "store_int.h"

static const char SQL_QUICK_CHECK[] = "PRAGMA quick_check";

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
