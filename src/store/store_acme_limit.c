/*
 * store_acme_limit: the counts of the ACME rate limits (0025; src/ra/acmelimit.c).  Each count
 * is an indexed range scan of one key's events since a time, ordered by time and cut at the
 * limit (a key with a million events costs no more than one at its limit), with the oldest
 * event counted, from which the RA tells when the window has room again.
 */
#include <stdio.h>
#include <string.h>

#include "store_int.h"

/*
 * One statement per limit: $1 the key, $2 since, $3 at most this many rows; $4 the key's
 * owner where the key is a pair (0029): failed validations per (account, name), certificates
 * per (organization, registered domain).
 */
static const char *const SQL_LIMIT_COUNT[STORE_ACME_LIMIT__MAX] = {
    [STORE_ACME_LIMIT_ORDERS] =
	"SELECT COUNT(*), MIN(t) FROM (SELECT created AS t FROM acme_orders WHERE account_id = $1 "
	"AND created >= $2 ORDER BY created LIMIT $3) w",
    [STORE_ACME_LIMIT_CERTS] =
	"SELECT COUNT(*), MIN(t) FROM (SELECT at AS t FROM acme_cert_domains WHERE org_id = $4 AND "
	"domain = $1 AND at >= $2 ORDER BY at LIMIT $3) w",
    [STORE_ACME_LIMIT_FAILED] =
	"SELECT COUNT(*), MIN(t) FROM (SELECT at AS t FROM acme_failed_validations WHERE "
	"account_id = $4 AND name = $1 AND at >= $2 ORDER BY at LIMIT $3) w",
    [STORE_ACME_LIMIT_ACCOUNTS] =
	"SELECT COUNT(*), MIN(t) FROM (SELECT created AS t FROM acme_accounts WHERE addr = $1 AND "
	"created >= $2 ORDER BY created LIMIT $3) w",
};
static const char SQL_CERT_DOMAIN_ADD[] =
    "INSERT INTO acme_cert_domains (domain, serial, at, org_id) VALUES ($1, $2, $3, $4)";
static const char SQL_ACCOUNT_ADDR[] = "UPDATE acme_accounts SET addr = $2 WHERE id = $1";
static const char SQL_PURGE_CERTS[] = "DELETE FROM acme_cert_domains WHERE at < $1";
static const char SQL_PURGE_FAILED[] = "DELETE FROM acme_failed_validations WHERE at < $1";

int
store_acme_limit_count(struct store *s, enum store_acme_limit which, const char *key,
		       int64_t key_id, time_t since, int64_t max, int64_t *n, time_t *oldest,
		       struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	*n = 0;
	*oldest = 0;
	if ((unsigned)which >= STORE_ACME_LIMIT__MAX)
		fatalx("store: no ACME limit %d", (int)which);
	if ((st = store_stmt_get(s, SQL_LIMIT_COUNT[which], 0, "count for an ACME rate limit",
				 e)) == NULL)
		goto out;
	if (which == STORE_ACME_LIMIT_ORDERS)
		stmt_int(s, st, 1, key_id);
	else
		stmt_text(s, st, 1, key);
	stmt_int(s, st, 2, (int64_t)since);
	stmt_int(s, st, 3, max);
	if (which == STORE_ACME_LIMIT_CERTS || which == STORE_ACME_LIMIT_FAILED)
		stmt_int(s, st, 4, key_id);
	if (store_stmt_step(s, st, "count for an ACME rate limit", NULL, e) != 1)
		goto out;
	*n = col_int(s, st, 0);
	*oldest = (time_t)col_int_or(s, st, 1, 0);
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_cert_domain_add(struct store *s, int64_t org_id, const char *domain, const char *serial,
			   time_t at, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_CERT_DOMAIN_ADD, 0, "record an ACME certificate's domain",
				 e)) == NULL)
		goto out;
	stmt_text(s, st, 1, domain);
	stmt_text(s, st, 2, serial);
	stmt_int(s, st, 3, (int64_t)at);
	stmt_int(s, st, 4, org_id);
	if (store_stmt_step(s, st, "record an ACME certificate's domain", NULL, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_account_set_addr(struct store *s, int64_t id, const char *addr, struct err *e)
{
	struct drv_stmt *st = NULL;
	int rc = -1;

	if ((st = store_stmt_get(s, SQL_ACCOUNT_ADDR, 0, "record an ACME account's address", e)) ==
	    NULL)
		goto out;
	stmt_int(s, st, 1, id);
	stmt_text(s, st, 2, addr);
	if (store_stmt_step(s, st, "record an ACME account's address", NULL, e) == -1)
		goto out;
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

int
store_acme_limit_purge(struct store *s, time_t certs_before, time_t failed_before, int64_t *n,
		       struct err *e)
{
	const char *sql[2] = {SQL_PURGE_CERTS, SQL_PURGE_FAILED};
	time_t before[2] = {certs_before, failed_before};
	struct drv_stmt *st = NULL;
	int rc = -1;

	if (n != NULL)
		*n = 0;
	for (int i = 0; i < 2; i++) {
		if ((st = store_stmt_get(s, sql[i], 0, "purge ACME limit events", e)) == NULL)
			goto out;
		stmt_int(s, st, 1, (int64_t)before[i]);
		if (store_stmt_step(s, st, "purge ACME limit events", NULL, e) == -1)
			goto out;
		if (n != NULL)
			*n += s->drv->changes(st);
		stmt_reset(s, st);
		st = NULL;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}
