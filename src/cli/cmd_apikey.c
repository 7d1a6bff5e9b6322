/* cmd_apikey: per-organization API keys of the REST API (create, list, disable, enable). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api/api.h"
#include "ca/ca.h"
#include "cli/cli.h"
#include "ra/ra.h"
#include "serve/serve.h"
#include "util/timefmt.h"

static const char usage_apikey[] =
    "usage: shomei apikey create --org CODE [--name LABEL]\n"
    "       shomei apikey list [--org CODE]\n"
    "       shomei apikey disable KEYID\n"
    "       shomei apikey enable KEYID\n\n"
    "An API key (shk_<id>_<secret>) lets a program use the REST API /api/v1 for one\n"
    "organization.  `create` prints the key once: only a hash of it is stored.\n";

/* Opens the instance and a store connection; prints and maps the error. */
static int
apikey_open(struct cli *cli, struct ca **ca, struct store **st)
{
	struct err e;

	err_clear(&e);
	*ca = NULL;
	*st = NULL;
	if (ca_open(cli->datadir, 0, serve_conf_known, ca, &e) == -1 ||
	    ca_store_open(*ca, st, &e) == -1) {
		ca_close(*ca);
		*ca = NULL;
		return cli_fail(&e);
	}
	return 0;
}

/* Parses the options shared by the subcommands: --org, --name, -d, -h. */
static int
apikey_opts(struct cli *cli, int argc, char **argv, const char **org, const char **name, int *stop)
{
	static const struct option lo[] = {
	    {"org", required_argument, NULL, 'o'},
	    {"name", required_argument, NULL, 'n'},
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch, rc = 0;

	*stop = 0;
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		if (ch == 'o' && org != NULL) {
			*org = optarg;
		} else if (ch == 'n' && name != NULL) {
			*name = optarg;
		} else if (ch == 'o' || ch == 'n') {
			*stop = 1;
			return cli_usage(usage_apikey);
		} else {
			rc = cli_common_opt(cli, ch, optarg, usage_apikey, stop);
			if (*stop)
				return rc;
		}
	}
	return 0;
}

static int
apikey_create(struct cli *cli, int argc, char **argv)
{
	struct ra_apikey rec;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	const char *org = NULL, *name = NULL;
	char key[RA_APIKEY_TEXT_LEN + 1];
	int rc, stop;

	memset(&rec, 0, sizeof(rec));
	err_clear(&e);
	rc = apikey_opts(cli, argc, argv, &org, &name, &stop);
	if (stop)
		return rc;
	if (org == NULL || optind != argc)
		return cli_usage(usage_apikey);
	if ((rc = apikey_open(cli, &ca, &st)) != 0)
		return rc;
	if (ra_apikey_create(st, org, name, "cli:apikey", key, &rec, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	printf("%s\n", key);
	fflush(stdout);
	fprintf(stderr,
		"shomei: API key %s created for organization %s; it is shown only this once\n",
		rec.id, rec.org_code);
out:
	sodium_memzero(key, sizeof(key));
	ra_apikey_clear(&rec);
	store_close(st);
	ca_close(ca);
	return rc;
}

static int
apikey_list(struct cli *cli, int argc, char **argv)
{
	struct ra_apikey *v = NULL;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	const char *orgc = NULL;
	char created[32], used[32];
	size_t n = 0, i;
	int rc, stop;

	err_clear(&e);
	rc = apikey_opts(cli, argc, argv, &orgc, NULL, &stop);
	if (stop)
		return rc;
	if (optind != argc)
		return cli_usage(usage_apikey);
	if ((rc = apikey_open(cli, &ca, &st)) != 0)
		return rc;
	if (ra_apikey_list(st, orgc, &v, &n, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	for (i = 0; i < n; i++) {
		timefmt_rfc3339(v[i].created, created, sizeof(created));
		if (v[i].last_used != 0)
			timefmt_rfc3339(v[i].last_used, used, sizeof(used));
		else
			snprintf(used, sizeof(used), "-");
		printf("%s\t%s\t%s\t%s\t%s\t%s\n", v[i].id, v[i].org_code,
		       v[i].disabled ? "disabled" : "enabled", created, used, v[i].name);
	}
out:
	ra_apikey_list_free(v, n);
	store_close(st);
	ca_close(ca);
	return rc;
}

static int
apikey_disable(struct cli *cli, int argc, char **argv, int disabled)
{
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	int rc, stop;

	err_clear(&e);
	rc = apikey_opts(cli, argc, argv, NULL, NULL, &stop);
	if (stop)
		return rc;
	if (optind + 1 != argc)
		return cli_usage(usage_apikey);
	if ((rc = apikey_open(cli, &ca, &st)) != 0)
		return rc;
	if (ra_apikey_set_disabled(st, argv[optind], disabled, "cli:apikey", &e) == -1)
		rc = cli_fail(&e);
	store_close(st);
	ca_close(ca);
	return rc;
}

int
cmd_apikey(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return apikey_create(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return apikey_list(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "disable") == 0)
		return apikey_disable(cli, argc - 1, argv + 1, 1);
	if (argc >= 2 && strcmp(argv[1], "enable") == 0)
		return apikey_disable(cli, argc - 1, argv + 1, 0);
	/* hidden: the API's route table, for the OpenAPI drift test */
	if (argc == 2 && strcmp(argv[1], "routes") == 0) {
		api_routes_print(stdout);
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_apikey, stdout);
		return 0;
	}
	return cli_usage(usage_apikey);
}
