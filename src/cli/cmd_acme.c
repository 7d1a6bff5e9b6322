/*
 * cmd_acme: ACME's External Account Bindings (`shomei acme eab create|suspend|resume|revoke`).
 * create prints the key id and the HMAC key once; the store keeps the key only sealed under
 * acme.key_file.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "ra/ra.h"
#include "serve/serve.h"

static const char usage_acme[] =
    "usage: shomei acme eab create --org CODE [--names a.example.ac.jp,b.example.ac.jp]\n"
    "       shomei acme eab suspend|resume|revoke KEYID\n\n"
    "An External Account Binding (RFC 8555 7.3.4) lets one ACME account be made for the\n"
    "organization; with --names it may order only those names (else the organization's\n"
    "domains).  The names may include IP addresses among the organization's (org --ip):\n"
    "an address is ordered (RFC 8738) only when its binding names it.  `create` prints two lines, "
    "the key id and the HMAC key (base64url): the key\n"
    "is shown only this once and stored only sealed under acme.key_file.\n";

/* Opens the instance, a store connection and the ACME keys; prints and maps the error. */
static int
acme_cli_open(struct cli *cli, struct ca **ca, struct store **st, struct ra_acme_keys *k)
{
	struct err e;

	err_clear(&e);
	*ca = NULL;
	*st = NULL;
	if (ca_open(cli->datadir, 0, serve_conf_known, ca, &e) == -1 ||
	    ca_store_open(*ca, st, &e) == -1 || ra_acme_keys_load(&(*ca)->conf, k, &e) == -1) {
		store_close(*st);
		*st = NULL;
		ca_close(*ca);
		*ca = NULL;
		return cli_fail(&e);
	}
	return 0;
}

static int
acme_eab_create(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"org", required_argument, NULL, 'o'},
	    {"names", required_argument, NULL, 'n'},
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ra_acme_keys k;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	const char *org = NULL, *names = NULL;
	char kid[RA_ACME_KID_TEXT], hmac[RA_ACME_EAB_KEY_TEXT];
	int ch, rc, stop;

	memset(&k, 0, sizeof(k));
	err_clear(&e);
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		if (ch == 'o') {
			org = optarg;
		} else if (ch == 'n') {
			names = optarg;
		} else {
			rc = cli_common_opt(cli, ch, optarg, usage_acme, &stop);
			if (stop)
				return rc;
		}
	}
	if (org == NULL || optind != argc)
		return cli_usage(usage_acme);
	if ((rc = acme_cli_open(cli, &ca, &st, &k)) != 0)
		return rc;
	if (ra_acme_eab_create(st, &k, org, names, "cli:acme", kid, hmac, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	printf("%s\n%s\n", kid, hmac);
	fflush(stdout);
	fprintf(stderr,
		"shomei: External Account Binding %s made for organization %s; its HMAC key is "
		"shown only this once\n",
		kid, org);
out:
	sodium_memzero(hmac, sizeof(hmac));
	ra_acme_keys_wipe(&k);
	store_close(st);
	ca_close(ca);
	return rc;
}

/* suspend, resume, revoke KEYID */
static int
acme_eab_status(struct cli *cli, int argc, char **argv, const char *status)
{
	struct ra_acme_keys k;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	int ch, rc, stop;

	memset(&k, 0, sizeof(k));
	err_clear(&e);
	while ((ch = getopt(argc, argv, "hd:")) != -1) {
		rc = cli_common_opt(cli, ch, optarg, usage_acme, &stop);
		if (stop)
			return rc;
	}
	if (optind != argc - 1)
		return cli_usage(usage_acme);
	if ((rc = acme_cli_open(cli, &ca, &st, &k)) != 0)
		return rc;
	if (ra_acme_eab_set_status(st, argv[optind], status, "cli:acme", &e) == -1)
		rc = cli_fail(&e);
	else
		fprintf(stderr, "shomei: External Account Binding %s is %s\n", argv[optind],
			status);
	ra_acme_keys_wipe(&k);
	store_close(st);
	ca_close(ca);
	return rc;
}

int
cmd_acme(struct cli *cli, int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "eab") == 0) {
		if (strcmp(argv[2], "create") == 0)
			return acme_eab_create(cli, argc - 2, argv + 2);
		if (strcmp(argv[2], "suspend") == 0)
			return acme_eab_status(cli, argc - 2, argv + 2, "suspended");
		if (strcmp(argv[2], "resume") == 0)
			return acme_eab_status(cli, argc - 2, argv + 2, "active");
		if (strcmp(argv[2], "revoke") == 0)
			return acme_eab_status(cli, argc - 2, argv + 2, "revoked");
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_acme, stdout);
		return 0;
	}
	return cli_usage(usage_acme);
}
