/* The SQL migrations compiled into the binary (generated from src/store/migrations/). */
#ifndef SHOMEI_STORE_MIGRATIONS_H
#define SHOMEI_STORE_MIGRATIONS_H

#include <stddef.h>

/*
 * Migration SQL is written once for both backends.  Before execution these tokens are
 * replaced per backend:
 *   {{ID}}    INTEGER PRIMARY KEY AUTOINCREMENT  |  BIGSERIAL PRIMARY KEY
 *   {{BLOB}}  BLOB                               |  BYTEA
 *   {{INT}}   INTEGER                            |  BIGINT
 *   {{HASH0}} X'00...00' (32 zero bytes)         |  decode('00...00', 'hex')
 *   {{PG:text}}  (nothing)                       |  text (PostgreSQL-only statements)
 *   {{SQLITE:text}}  text (SQLite-only statements) |  (nothing); no token inside either
 */
struct store_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct store_migration store_migrations[];
extern const size_t store_nmigrations;

#endif
