/*
 * store_crl: the CRLs made, full and delta, kept for serving.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char SQL_CRL_INSERT[] =
    "INSERT INTO crls (ca, number, delta, base_number, this_update, next_update, created, der) "
    "VALUES ($1, $2, $3, $4, $5, $6, $8, $7) ON CONFLICT DO NOTHING";
/* the same with der zero-filled to $7 bytes (the last column, 0004), then filled in pieces */
static const char SQL_CRL_INSERT_ZERO[] =
    "INSERT INTO crls (ca, number, delta, base_number, this_update, next_update, created, der) "
    "VALUES ($1, $2, $3, $4, $5, $6, $8, zeroblob($7)) ON CONFLICT DO NOTHING";
static const char SQL_CRL_LATEST[] =
    "SELECT ca, number, delta, base_number, this_update, next_update, der FROM crls "
    "WHERE ca = $1 AND delta = $2 ORDER BY number DESC LIMIT 1";
static const char SQL_CRL_LATEST_INFO[] =
    "SELECT ca, number, delta, base_number, this_update, next_update FROM crls "
    "WHERE ca = $1 AND delta = $2 ORDER BY number DESC LIMIT 1";

int
store_crl_next_number(struct store *s, const char *ca, int64_t *number, struct err *e)
{
	char *name = NULL;
	int rc = -1;

	*number = 0;
	if (ca == NULL) {
		err_set(e, ERR_INTERNAL, "store: CRL number: no CA given");
		goto out;
	}
	name = xasprintf("crl.%s", ca);
	if (store_counter_add(s, name, 1, number, e) == -1)
		goto out;
	rc = 0;
out:
	free(name);
	return rc;
}

int
store_crl_put(struct store *s, const struct store_crl *c, struct err *e)
{
	struct drv_stmt *st = NULL;
	char esc[128];
	int rc = -1, fill;

	if (c->ca == NULL) {
		err_set(e, ERR_INTERNAL, "store: CRL without CA");
		goto out;
	}
	fill = s->drv->blob_fill_last != NULL && c->derlen > (1u << 20);
	if ((st = store_stmt_get(s, fill ? SQL_CRL_INSERT_ZERO : SQL_CRL_INSERT, 0, "store CRL",
				 e)) == NULL)
		goto out;
	stmt_text(s, st, 1, c->ca);
	stmt_int(s, st, 2, c->number);
	stmt_int(s, st, 3, c->delta ? 1 : 0);
	stmt_int_or_null(s, st, 4, c->delta ? c->base_number : 0, 0);
	stmt_int(s, st, 5, (int64_t)c->this_update);
	stmt_int(s, st, 6, (int64_t)c->next_update);
	if (fill)
		stmt_int(s, st, 7, (int64_t)c->derlen);
	else
		stmt_blob(s, st, 7, c->der, c->derlen);
	stmt_int(s, st, 8, (int64_t)util_now());
	if (store_stmt_step(s, st, "store CRL of", c->ca, e) == -1)
		goto out;
	if (s->drv->changes(st) == 0) {
		err_set(e, ERR_CONFLICT, "store: CRL number %" PRId64 " of CA %s already exists",
			c->number, store_esc(esc, sizeof(esc), c->ca));
		goto out;
	}
	if (fill) {
		struct err de;

		err_clear(&de);
		if (store_fault_hit(s, e) == -1)
			goto out;
		if (s->drv->blob_fill_last(s->conn, "crls", "der", c->der, c->derlen, &de) == -1) {
			err_set(e, ERR_INTERNAL, "store: store CRL of %s: %s",
				store_esc(esc, sizeof(esc), c->ca), de.msg);
			goto out;
		}
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

/* The newest CRL; with_der = 0 leaves der NULL (a full CRL can be tens of megabytes). */
static int
store_crl_latest_x(struct store *s, const char *ca, int delta, int with_der, struct store_crl *c,
		   struct err *e)
{
	struct drv_stmt *st = NULL;
	const unsigned char *p;
	char esc[128];
	size_t len;
	int rc = -1, r;

	memset(c, 0, sizeof(*c));
	if (ca == NULL) {
		err_set(e, ERR_INTERNAL, "store: latest CRL: no CA given");
		goto out;
	}
	if ((st = store_stmt_get(s, with_der ? SQL_CRL_LATEST : SQL_CRL_LATEST_INFO, 0,
				 "latest CRL", e)) == NULL)
		goto out;
	stmt_text(s, st, 1, ca);
	stmt_int(s, st, 2, delta ? 1 : 0);
	if ((r = store_stmt_step(s, st, "latest CRL of", ca, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, ERR_NOTFOUND, "store: no %s CRL of CA %s", delta ? "delta" : "full",
			store_esc(esc, sizeof(esc), ca));
		goto out;
	}
	c->ca = col_str(s, st, 0);
	c->number = col_int(s, st, 1);
	c->delta = col_int(s, st, 2) != 0;
	c->base_number = col_int_or(s, st, 3, 0);
	c->this_update = (time_t)col_int(s, st, 4);
	c->next_update = (time_t)col_int(s, st, 5);
	if (with_der) {
		p = s->drv->column_blob(st, 6, &len);
		c->der = xmalloc(len);
		memcpy(c->der, p, len);
		c->derlen = len;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	if (rc == -1)
		store_crl_clear(c);
	return rc;
}

int
store_crl_latest(struct store *s, const char *ca, int delta, struct store_crl *c, struct err *e)
{
	return store_crl_latest_x(s, ca, delta, 1, c, e);
}

int
store_crl_latest_info(struct store *s, const char *ca, int delta, struct store_crl *c,
		      struct err *e)
{
	return store_crl_latest_x(s, ca, delta, 0, c, e);
}

void
store_crl_clear(struct store_crl *c)
{
	if (c == NULL)
		return;
	free(c->ca);
	free(c->der);
	memset(c, 0, sizeof(*c));
}
