/*
 * A CA for unit tests that issue: made by ca_init() in a temporary directory, opened with its
 * own signer and the group commit, on SQLite or on the PostgreSQL cluster of
 * scripts/with-pg.sh (schema public dropped first).  Include after testutil.h.
 */
#ifndef SHOMEI_TU_CA_H
#define SHOMEI_TU_CA_H

#include <libpq-fe.h>

#include "ca/ca.h"

struct tu_ca {
	char *dir;
	struct ca *ca;
	struct store *st;
};

/* Empties the PostgreSQL test database (drops and re-creates schema public). */
static inline void
tu_pg_reset(void)
{
	PGconn *c = PQconnectdb(tu_pg());
	PGresult *r;

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("postgresql: %s", PQerrorMessage(c));
	r = PQexec(c, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; "
		      "CREATE SCHEMA public");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("postgresql: %s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* A new CA named "unit" on SQLite (pg 0) or PostgreSQL (pg 1). */
static inline void
tu_ca_open(struct tu_ca *f, int pg, const char *progname)
{
	struct ca_init_opts io;
	struct err e;

	log_init(progname, 0);
	memset(f, 0, sizeof(*f));
	f->dir = tu_tmpdir();
	memset(&io, 0, sizeof(io));
	io.datadir = f->dir;
	io.root_key_out = tu_root_key_out(f->dir);
	io.key_rounds = TU_KEY_ITER; /* ca_init() sets the rounds it is given, the default when 0 */
	io.ca_name = "unit";
	if (pg) {
		if (tu_pg() == NULL)
			fail_msg("SHOMEI_TEST_PG is not set (run through scripts/with-pg.sh)");
		tu_pg_reset();
		io.store = tu_pg();
	}
	err_clear(&e);
	if (ca_init(&io, &e) == -1)
		fail_msg("init: %s", e.msg);
	if (ca_open(f->dir, CA_OPEN_SIGNER, NULL, &f->ca, &e) == -1 ||
	    ca_store_open(f->ca, &f->st, &e) == -1 || ca_batch_start(f->ca, 64, &e) == -1)
		fail_msg("open: %s", e.msg);
}

static inline void
tu_ca_close(struct tu_ca *f)
{
	ca_batch_stop(f->ca);
	store_close(f->st);
	ca_close(f->ca);
	tu_rmdir(f->dir);
	memset(f, 0, sizeof(*f));
}

#endif
