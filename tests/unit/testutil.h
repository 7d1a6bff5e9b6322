/* Helpers shared by the cmocka unit tests. */
#ifndef SHOMEI_TESTUTIL_H
#define SHOMEI_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "signer/signer.h"

/*
 * PBKDF2 rounds of the keys the unit tests write (ca_init() per test writes four, and every
 * signer reads them back): 600,000 rounds cost about 0.25 s per key, most of the CPU time of
 * the suites that make a CA per test.  The rounds change nothing the tests look at (a key is
 * read with the rounds its file names); test_signer checks the 600,000 of the default.
 * ca_init() sets the rounds it is given (the default for 0): its callers give
 * io.key_rounds = TU_KEY_ITER.
 */
#define TU_KEY_ITER 1000

__attribute__((constructor)) static void
tu_key_iter_init(void)
{
	signer_key_write_iter_set(TU_KEY_ITER);
}

/* rc must be -1 and the error message start with prefix. */
#define tu_expect_prefix(rc, e, prefix)                                                            \
	do {                                                                                       \
		int tu_rc_ = (rc);                                                                 \
		if (tu_rc_ != -1 || strncmp((e)->msg, (prefix), strlen(prefix)) != 0)              \
			fail_msg("expected \"%s...\", got rc=%d \"%s\"", (prefix), tu_rc_,         \
				 (e)->msg);                                                        \
	} while (0)

/* A fresh temporary directory (removed by tu_rmdir); caller frees the path. */
static inline char *
tu_tmpdir(void)
{
	char tmpl[] = "/tmp/shomei-unit.XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

/* Where a unit test's ca_init() puts the root key: inside dir, so tu_rmdir removes it. */
static inline const char *
tu_root_key_out(const char *dir)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/offline/root.key.pem", dir);
	return path;
}

static inline void
tu_rmdir(char *dir)
{
	char cmd[512];

	if (dir == NULL)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)!system(cmd);
	free(dir);
}

/* The libpq connection string of the throwaway cluster, or NULL outside scripts/with-pg.sh. */
static inline const char *
tu_pg(void)
{
	const char *s = getenv("SHOMEI_TEST_PG");

	return (s != NULL && *s != '\0') ? s : NULL;
}

#endif
