/*
 * store_ticket: tickets, the numbers an organization hands out to its applicants.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char SQL_TICKET_INSERT[] =
    "INSERT INTO tickets (number, org_id, profile, status, created) "
    "VALUES ($1, $2, $3, 'unused', $4) ON CONFLICT DO NOTHING";
#define TICKET_COLS                                                                                \
	"SELECT t.id, t.number, t.org_id, o.code, t.profile, t.status, t.cert_serial, "            \
	"t.created FROM tickets t JOIN organizations o ON o.id = t.org_id"
static const char SQL_TICKET_GET[] = TICKET_COLS " WHERE t.number = $1";
static const char SQL_TICKET_ALL[] = TICKET_COLS " ORDER BY t.id";
static const char SQL_TICKET_BY_ORG[] = TICKET_COLS " WHERE t.org_id = $1 ORDER BY t.id";
static const char SQL_TICKET_USE[] = "UPDATE tickets SET status = 'used', cert_serial = $2 "
				     "WHERE number = $1 AND status = 'unused'";
static const char SQL_TICKET_EXISTS[] = "SELECT 1 FROM tickets WHERE number = $1";
static const char SQL_TICKET_REASSIGN[] =
    "UPDATE tickets SET cert_serial = $2 WHERE number = $1 AND status = 'used'";

int
store_ticket_add(struct store *s, int64_t org_id, const char *number, const char *profile,
		 struct err *e)
{
	struct drv_stmt *st = NULL;
	char esc[128];
	int rc = -1, r;

	if (number == NULL || profile == NULL) {
		err_set(e, ERR_INTERNAL, "store: ticket without number or profile");
		goto out;
	}
	if ((r = store_org_exists(s, org_id, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: organization #%" PRId64 " not found", org_id);
		goto out;
	}
	if ((st = store_stmt_get(s, SQL_TICKET_INSERT, 0, "add ticket", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, number);
	stmt_int(s, st, 2, org_id);
	stmt_text(s, st, 3, profile);
	stmt_int(s, st, 4, (int64_t)util_now());
	if (store_stmt_step(s, st, "add ticket", number, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: ticket %s already exists",
			store_esc(esc, sizeof(esc), number));
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

static void
ticket_row(struct store *s, struct drv_stmt *st, struct store_ticket *t)
{
	t->id = col_int(s, st, 0);
	t->number = col_str(s, st, 1);
	t->org_id = col_int(s, st, 2);
	t->org_code = col_str(s, st, 3);
	t->profile = col_str(s, st, 4);
	t->status = col_str(s, st, 5);
	t->cert_serial = col_dup(s, st, 6);
	t->created = (time_t)col_int(s, st, 7);
}

int
store_ticket_get(struct store *s, const char *number, struct store_ticket *t, struct err *e)
{
	struct drv_stmt *st = NULL;
	char esc[128];
	int rc = -1, r;

	memset(t, 0, sizeof(*t));
	if (number == NULL) {
		err_set(e, ERR_NOTFOUND, "store: ticket (none) not found");
		goto out;
	}
	if ((st = store_stmt_get(s, SQL_TICKET_GET, 0, "get ticket", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, number);
	if ((r = store_stmt_step(s, st, "get ticket", number, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: ticket %s not found",
			store_esc(esc, sizeof(esc), number));
		goto out;
	}
	ticket_row(s, st, t);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_ticket_list(struct store *s, int64_t org_id, struct store_ticket **out, size_t *nout,
		  struct err *e)
{
	struct drv_stmt *st;
	struct store_ticket *v = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*nout = 0;
	if ((st = store_stmt_get(s, org_id != 0 ? SQL_TICKET_BY_ORG : SQL_TICKET_ALL, 0,
				 "list tickets", e)) == NULL)
		goto out;
	if (org_id != 0)
		stmt_int(s, st, 1, org_id);
	while ((r = store_stmt_step(s, st, "list tickets", NULL, e)) == 1) {
		store_array_grow((void **)&v, &cap, n, sizeof(*v));
		ticket_row(s, st, &v[n++]);
	}
	if (r == -1)
		goto out;
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	stmt_reset(s, st);
	STORE_LIST_FREE(v, n, store_ticket_clear);
	return rc;
}

int
store_ticket_use(struct store *s, const char *number, const char *serial, struct err *e)
{
	struct drv_stmt *st = NULL;
	char ser[STORE_SERIAL_MAX], esc[128];
	int rc = -1, r;

	if (number == NULL) {
		err_set(e, ERR_NOTFOUND, "store: ticket (none) not found");
		goto out;
	}
	if (serial != NULL && store_serial_norm(serial, ser, e) == -1)
		goto out;
	if ((st = store_stmt_get(s, SQL_TICKET_USE, 0, "use ticket", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, number);
	stmt_text(s, st, 2, serial != NULL ? ser : NULL);
	if (store_stmt_step(s, st, "use ticket", number, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		stmt_reset(s, st);
		st = NULL;
		if ((r = store_exists(s, SQL_TICKET_EXISTS, number, 0, "find ticket", e)) == -1)
			goto out;
		err_set(e, r ? ERR_CONFLICT : ERR_NOTFOUND,
			r ? "store: ticket %s already used" : "store: ticket %s not found",
			store_esc(esc, sizeof(esc), number));
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

void
store_ticket_clear(struct store_ticket *t)
{
	if (t == NULL)
		return;
	free(t->number);
	free(t->org_code);
	free(t->profile);
	free(t->status);
	free(t->cert_serial);
	memset(t, 0, sizeof(*t));
}

int
store_ticket_reassign(struct store *s, const char *number, const char *serial, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_TICKET_REASSIGN, 0, "reassign ticket", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, number);
	stmt_text(s, st, 2, serial);
	if (store_stmt_step(s, st, "reassign ticket", number, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: ticket %s is not used", number);
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}
