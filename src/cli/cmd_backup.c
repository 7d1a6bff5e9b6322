/* cmd_backup: `shomei backup [--verify]` and `shomei restore` (src/backup, docs/backup.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "backup/backup.h"
#include "ca/ca.h"
#include "cli/cli.h"
#include "serve/serve.h"

#define PASS_ENV "SHOMEI_BACKUP_PASSPHRASE"

static const char usage_backup[] =
    "usage: shomei backup [--keys] [--passphrase-file FILE] DEST\n"
    "       shomei backup --verify [--passphrase-file FILE] DEST\n\n"
    "Makes the new directory DEST (absent or empty; written under DEST.tmp-PID and renamed\n"
    "at the end): a consistent snapshot of the SQLite store, taken while `serve` runs,\n"
    "shomei.conf, certs/ and a MANIFEST (audit head, SHA-256 of each file).  Files 0600.\n"
    "  --keys                 also every file of keys/, sealed (Argon2id, XChaCha20-Poly1305)\n"
    "                         with a passphrase of at least 12 bytes\n"
    "  --passphrase-file FILE the passphrase (its first line), else $" PASS_ENV "\n"
    "  --verify               check DEST instead: the manifest and every file's hash, the\n"
    "                         store copy and its audit chain (with a passphrase: the keys\n"
    "                         open); prints what it holds, exit status 1 on any problem\n"
    "A PostgreSQL store is refused: use pg_dump (docs/backup.md).\n";

static const char usage_restore[] =
    "usage: shomei restore [-d DATADIR] [--passphrase-file FILE] SRC\n\n"
    "Verifies the backup SRC (as `backup --verify`), then makes the data directory DATADIR\n"
    "(absent or empty): shomei.conf, certs/, the store where the configuration's `store`\n"
    "names it and, when the backup holds keys, keys/ (its passphrase from --passphrase-file\n"
    "FILE or $" PASS_ENV ").  Nothing is written when a check fails.\n";

/* The passphrase: the first line of file, else the environment's; NULL when neither. */
static char *
pass_load(const char *file, size_t *len, struct err *e)
{
	struct buf b;
	const char *env = getenv(PASS_ENV);
	char *p = NULL;
	size_t n;

	memset(&b, 0, sizeof(b));
	*len = 0;
	if (file != NULL) {
		if (util_read_file(file, BACKUP_PASS_MAX + 2, &b, e) == -1)
			goto out;
		n = 0;
		while (n < b.len && b.data[n] != '\n' && b.data[n] != '\r')
			n++;
		p = xstrndup((const char *)b.data, n);
	} else if (env != NULL && *env != '\0') {
		p = xstrdup(env);
	}
	if (p != NULL && (strlen(p) == 0 || strlen(p) > BACKUP_PASS_MAX)) {
		err_set(e, ERR_REFUSED, "backup: the passphrase is empty or longer than %d bytes",
			BACKUP_PASS_MAX);
		sodium_memzero(p, strlen(p));
		free(p);
		p = NULL;
		goto out;
	}
	if (p != NULL)
		*len = strlen(p);
out:
	buf_free(&b);
	return p;
}

static void
pass_free(char *p)
{
	if (p != NULL) {
		sodium_memzero(p, strlen(p));
		free(p);
	}
}

static void
summary_print(const char *what, const char *dir, const struct backup_summary *s)
{
	char hex[2 * BACKUP_HASH_LEN + 1];

	hex_encode(hex, s->audit_hash, BACKUP_HASH_LEN);
	printf("%s: %s\n", what, dir);
	printf("certificates: %lld (%lld valid, %lld revoked)\n", (long long)s->certs,
	       (long long)s->valid, (long long)s->revoked);
	if (s->audit_entries > 0)
		printf("audit entries: %lld, chain intact\n", (long long)s->audit_entries);
	printf("audit head: %lld %.16s\n", (long long)s->audit_seq, hex);
	printf("files: %zu, keys: %s\n", s->nfiles, s->keys ? "sealed" : "none");
}

/* Warns about secrets the configuration holds in clear (the backup's copy has them too). */
static void
conf_secrets_warn(const struct ca *ca)
{
	static const char *const keys[] = {"key_passphrase", "mail.smtp_password", "pkcs11.pin",
					   NULL};
	size_t i;

	for (i = 0; keys[i] != NULL; i++)
		if (*conf_get(&ca->conf, keys[i], "") != '\0')
			log_warn("backup: shomei.conf holds %s in clear, and so does the backup's "
				 "copy (prefer %s_file or _env; docs/backup.md)",
				 keys[i], keys[i]);
}

static int
backup_run(struct cli *cli, const char *dest, const char *pass, size_t passlen)
{
	struct backup_opts o;
	struct backup_summary s;
	struct ca *ca = NULL;
	struct err e;
	char *conf = NULL;
	int rc = 0;

	err_clear(&e);
	memset(&o, 0, sizeof(o));
	if (ca_open(cli->datadir, 0, serve_conf_known, &ca, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	conf = ca_conf_file(cli->datadir);
	conf_secrets_warn(ca);
	o.datadir = ca->datadir;
	o.conf = conf;
	o.store = ca->store_spec;
	o.version = SHOMEI_VERSION;
	o.pass = pass;
	o.passlen = passlen;
	if (backup_make(&o, dest, &s, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	summary_print("backup written", dest, &s);
out:
	free(conf);
	ca_close(ca);
	return rc;
}

int
cmd_backup(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"keys", no_argument, NULL, 'k'},
	    {"verify", no_argument, NULL, 'V'},
	    {"passphrase-file", required_argument, NULL, 'p'},
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct backup_summary s;
	struct err e;
	const char *pfile = NULL;
	char *pass = NULL;
	size_t passlen = 0;
	int ch, stop, rc = 0, keys = 0, verify = 0;

	err_clear(&e);
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		if (ch == 'k' || ch == 'V' || ch == 'p') {
			keys |= ch == 'k';
			verify |= ch == 'V';
			pfile = ch == 'p' ? optarg : pfile;
			continue;
		}
		rc = cli_common_opt(cli, ch, optarg, usage_backup, &stop);
		if (stop)
			return rc;
	}
	if (optind + 1 != argc || (keys && verify))
		return cli_usage(usage_backup);
	if ((keys || verify || pfile != NULL) && (pass = pass_load(pfile, &passlen, &e)) == NULL &&
	    err_is_set(&e))
		return cli_fail(&e);
	if (keys && (pass == NULL || passlen < BACKUP_PASS_MIN)) {
		fprintf(stderr,
			"shomei: backup: --keys needs a passphrase of at least %d bytes "
			"(--passphrase-file FILE or $%s); keys are never written in clear\n",
			BACKUP_PASS_MIN, PASS_ENV);
		rc = ERR_REFUSED;
		goto out;
	}
	if (verify) {
		if (backup_verify(argv[optind], pass, passlen, &s, &e) == -1) {
			fprintf(stderr, "shomei: backup %s does not verify\n", argv[optind]);
			rc = cli_fail(&e);
			goto out;
		}
		summary_print("backup verified", argv[optind], &s);
		if (s.keys)
			printf("keys: %s\n", pass != NULL ? "open with the passphrase"
							  : "not checked (no passphrase given)");
		goto out;
	}
	rc = backup_run(cli, argv[optind], keys ? pass : NULL, passlen);
out:
	pass_free(pass);
	return rc;
}

int
cmd_restore(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"passphrase-file", required_argument, NULL, 'p'},
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct backup_summary s;
	struct err e;
	const char *pfile = NULL;
	char *pass = NULL;
	size_t passlen = 0;
	int ch, stop, rc = 0;

	err_clear(&e);
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		if (ch == 'p') {
			pfile = optarg;
			continue;
		}
		rc = cli_common_opt(cli, ch, optarg, usage_restore, &stop);
		if (stop)
			return rc;
	}
	if (optind + 1 != argc)
		return cli_usage(usage_restore);
	if ((pass = pass_load(pfile, &passlen, &e)) == NULL && err_is_set(&e))
		return cli_fail(&e);
	if (backup_restore(argv[optind], cli->datadir, pass, passlen, &s, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	summary_print("restored into", cli->datadir, &s);
	if (cli->conf != NULL)
		printf("note: the configuration is %s/shomei.conf; this shomei reads %s\n",
		       cli->datadir, cli->conf);
out:
	pass_free(pass);
	return rc;
}
