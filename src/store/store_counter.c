/*
 * store_counter: named counters of the instance (ticket sequence, TSA serial, CRL numbers).
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char SQL_COUNTER_ADD[] =
    "INSERT INTO counters (name, value) VALUES ($1, $2) ON CONFLICT (name) "
    "DO UPDATE SET value = counters.value + excluded.value RETURNING value";
static const char SQL_COUNTER_GET[] = "SELECT value FROM counters WHERE name = $1";

int
store_counter_get(struct store *s, const char *name, int64_t *value, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1, r;

	*value = 0;
	if ((st = store_stmt_get(s, SQL_COUNTER_GET, 0, "counter", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, name);
	if ((r = store_stmt_step(s, st, "counter", name, e)) == -1)
		goto out;
	if (r == 1)
		*value = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_counter_add(struct store *s, const char *name, int64_t delta, int64_t *value, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	*value = 0;
	if (name == NULL) {
		err_set(e, ERR_INTERNAL, "store: counter without name");
		goto out;
	}
	if ((st = store_stmt_get(s, SQL_COUNTER_ADD, 0, "counter", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, name);
	stmt_int(s, st, 2, delta);
	if (store_stmt_step(s, st, "counter", name, e) != 1) {
		err_set(e, ERR_INTERNAL, "store: counter %s: no value returned", name);
		goto out;
	}
	*value = col_int(s, st, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}
