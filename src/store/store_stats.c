/*
 * store_stats: aggregate counts of the certificates of organizations for the console's
 * statistics (src/ra/stats.c).  The database groups; the RA sorts the groups into domains and
 * months (a group's names decide its domain, which SQL cannot tell).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define STATS_DAY "86400"
#define STATS_KEY "org_id, subject, COALESCE(sans, ''), profile"
#define STATS_PROFILES "profile IN ($4, $5, $6, $7)"

/*
 * Issued in [$2, $3): per organization, names, profile and day of issuance; how many, how
 * many renewed (with a predecessor), valid at $8, and of those ending by $9, $10, $11.
 */
#define STATS_ISSUED_SQL(org)                                                                      \
	"SELECT " STATS_KEY ", created / " STATS_DAY ", COUNT(*), "                                \
	"SUM(CASE WHEN predecessor IS NOT NULL THEN 1 ELSE 0 END), "                               \
	"SUM(CASE WHEN status = 0 AND not_before <= $8 AND not_after > $8 THEN 1 ELSE 0 END), "    \
	"SUM(CASE WHEN status = 0 AND not_before <= $8 AND not_after > $8 AND not_after <= $9 "    \
	"THEN 1 ELSE 0 END), "                                                                     \
	"SUM(CASE WHEN status = 0 AND not_before <= $8 AND not_after > $8 AND not_after <= $10 "   \
	"THEN 1 ELSE 0 END), "                                                                     \
	"SUM(CASE WHEN status = 0 AND not_before <= $8 AND not_after > $8 AND not_after <= $11 "   \
	"THEN 1 ELSE 0 END) "                                                                      \
	"FROM certificates WHERE " org " AND created >= $2 AND created < $3 AND " STATS_PROFILES   \
	" GROUP BY " STATS_KEY ", created / " STATS_DAY
static const char SQL_STATS_ISSUED_ONE[] = STATS_ISSUED_SQL("org_id = $1");
static const char SQL_STATS_ISSUED_ALL[] = STATS_ISSUED_SQL("org_id > $1");

/* Revoked in [$2, $3): per organization, names, profile and day of revocation. */
#define STATS_REVOKED_SQL(org)                                                                     \
	"SELECT " STATS_KEY ", revoked_at / " STATS_DAY ", COUNT(*) FROM certificates WHERE " org  \
	" AND status = 1 AND revoked_at >= $2 AND revoked_at < $3 AND " STATS_PROFILES             \
	" GROUP BY " STATS_KEY ", revoked_at / " STATS_DAY
static const char SQL_STATS_REVOKED_ONE[] = STATS_REVOKED_SQL("org_id = $1");
static const char SQL_STATS_REVOKED_ALL[] = STATS_REVOKED_SQL("org_id > $1");

/* Runs one of the two queries; revoked: the second (only count filled). */
static int
stats_run(struct store *s, const struct store_stats_query *q, int revoked,
	  int (*cb)(void *, const struct store_stats_group *), void *arg, struct err *e)
{
	const char *what = revoked ? "revocation statistics" : "issuance statistics";
	const char *sql = revoked ? (q->org_id != 0 ? SQL_STATS_REVOKED_ONE : SQL_STATS_REVOKED_ALL)
				  : (q->org_id != 0 ? SQL_STATS_ISSUED_ONE : SQL_STATS_ISSUED_ALL);
	struct store_stats_group g;
	struct drv_stmt *st;
	int rc = -1, step, i;

	memset(&g, 0, sizeof(g));
	if ((st = store_stmt_get(s, sql, DRV_STREAM, what, e)) == NULL)
		goto out;
	stmt_int(s, st, 1, q->org_id);
	stmt_int(s, st, 2, (int64_t)q->from);
	stmt_int(s, st, 3, (int64_t)q->to);
	for (i = 0; i < 4; i++)
		stmt_text(s, st, 4 + i, store_stats_profiles[i]);
	if (!revoked) {
		stmt_int(s, st, 8, (int64_t)q->now);
		stmt_int(s, st, 9, (int64_t)q->now + 30 * 86400);
		stmt_int(s, st, 10, (int64_t)q->now + 60 * 86400);
		stmt_int(s, st, 11, (int64_t)q->now + 90 * 86400);
	}
	while ((step = store_stmt_step(s, st, what, NULL, e)) == 1) {
		memset(&g, 0, sizeof(g));
		g.org_id = col_int(s, st, 0);
		g.subject = s->drv->column_text(st, 1);
		g.sans = s->drv->column_text(st, 2);
		g.profile = s->drv->column_text(st, 3);
		g.day = col_int(s, st, 4);
		g.count = col_int(s, st, 5);
		if (!revoked) {
			g.renewed = col_int(s, st, 6);
			g.valid = col_int(s, st, 7);
			g.exp30 = col_int(s, st, 8);
			g.exp60 = col_int(s, st, 9);
			g.exp90 = col_int(s, st, 10);
		}
		if (g.subject == NULL)
			g.subject = "";
		if (g.sans == NULL)
			g.sans = "";
		if (g.profile == NULL)
			g.profile = "";
		if ((rc = cb(arg, &g)) != 0)
			goto out;
	}
	if (step == -1) {
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	stmt_reset(s, st);
	return rc;
}

const char *const store_stats_profiles[4] = {"server", "shortlived", "client", "codesign"};

int
store_stats_issued(struct store *s, const struct store_stats_query *q,
		   int (*cb)(void *, const struct store_stats_group *), void *arg, struct err *e)
{
	return stats_run(s, q, 0, cb, arg, e);
}

int
store_stats_revoked(struct store *s, const struct store_stats_query *q,
		    int (*cb)(void *, const struct store_stats_group *), void *arg, struct err *e)
{
	return stats_run(s, q, 1, cb, arg, e);
}
