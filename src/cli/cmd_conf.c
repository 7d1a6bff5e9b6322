/* cmd_conf: `shomei conf keys` — the configuration keys shomei.conf may hold. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "serve/serve.h"

static const char usage_conf[] =
    "usage: shomei conf keys\n\n"
    "Prints every key shomei.conf may hold, one a line, sorted: the keys the modules read\n"
    "(docs/config.md describes each; a test compares the two).  Any other key stops `serve`,\n"
    "`init --check` and every command that opens the CA.\n";

static int
conf_key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Prints the union of the known lists, sorted, each key once. */
static void
conf_keys_print(FILE *f, const char *const *const *known)
{
	const char **all = NULL;
	size_t n = 0, l, j;

	for (l = 0; known[l] != NULL; l++)
		for (j = 0; known[l][j] != NULL; j++)
			n++;
	all = xcalloc(n > 0 ? n : 1, sizeof(*all));
	n = 0;
	for (l = 0; known[l] != NULL; l++)
		for (j = 0; known[l][j] != NULL; j++)
			all[n++] = known[l][j];
	qsort(all, n, sizeof(*all), conf_key_cmp);
	for (j = 0; j < n; j++)
		if (j == 0 || strcmp(all[j], all[j - 1]) != 0)
			fprintf(f, "%s\n", all[j]);
	free(all);
}

int
cmd_conf(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch, stop, rc;

	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		rc = cli_common_opt(cli, ch, optarg, usage_conf, &stop);
		if (stop)
			return rc;
	}
	if (optind + 1 != argc || strcmp(argv[optind], "keys") != 0)
		return cli_usage(usage_conf);
	conf_keys_print(stdout, serve_conf_known);
	return fflush(stdout) == 0 ? 0 : ERR_INTERNAL;
}
