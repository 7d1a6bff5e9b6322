/* shomei: command-line entry point; dispatches to the subcommands in src/cli/. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "util/paths.h"

static void
usage_main(FILE *f)
{
	const struct cli_cmd *c;

	fprintf(f,
		"usage: shomei [-d DIR] [-c FILE] [-v] COMMAND [ARGS...]\n\n"
		"  -d, --data DIR   data directory (default %s, or $SHOMEI_DATA)\n"
		"  -c, --conf FILE  configuration (default %s, or $SHOMEI_CONF)\n"
		"  -v, --verbose    more log output\n"
		"  -h, --help       this help; `shomei COMMAND --help` for a command\n"
		"      --version    print the version\n\n"
		"commands:\n",
		paths_default_data(),
		paths_default_conf() != NULL ? paths_default_conf() : "DIR/shomei.conf");
	for (c = cli_cmds; c->name != NULL; c++)
		fprintf(f, "  %-8s %s\n", c->name, c->summary);
	fprintf(f, "\nexit status: 0 ok, 1 refused or bad input, 2 usage, 3 internal error\n");
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"data", required_argument, NULL, 'd'}, {"conf", required_argument, NULL, 'c'},
	    {"verbose", no_argument, NULL, 'v'},    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},    {NULL, 0, NULL, 0},
	};
	struct cli cli;
	const struct cli_cmd *c;
	int ch;

	memset(&cli, 0, sizeof(cli));
	paths_init();
	cli.datadir = getenv("SHOMEI_DATA");
	cli.conf = getenv("SHOMEI_CONF");
	if (cli.conf != NULL && *cli.conf == '\0')
		cli.conf = NULL;
	if (cli.datadir == NULL || *cli.datadir == '\0')
		cli.datadir = NULL;
	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "+d:c:vh", lo, NULL)) != -1) {
		switch (ch) {
		case 'd':
			cli.datadir = optarg;
			break;
		case 'c':
			cli.conf = optarg;
			break;
		case 'v':
			cli.verbose = 1;
			break;
		case 'h':
			usage_main(stdout);
			return 0;
		case 'V':
			printf("shomei %s (%s)\n", SHOMEI_VERSION,
			       OpenSSL_version(OPENSSL_VERSION));
			return 0;
		default:
			usage_main(stderr);
			return ERR_USAGE;
		}
	}
	/* an installed shomei's pair of defaults: /etc/shomei/shomei.conf for /var/lib/shomei;
	 * a data directory named without a configuration keeps its own shomei.conf */
	cli.conf_explicit = cli.conf != NULL;
	cli.data_explicit = cli.datadir != NULL;
	if (cli.conf == NULL && cli.datadir == NULL)
		cli.conf = paths_default_conf();
	if (cli.datadir == NULL)
		cli.datadir = paths_default_data();
	ca_conf_file_set(cli.conf);
	log_init("shomei", cli.verbose);
	if (optind >= argc) {
		usage_main(stderr);
		return ERR_USAGE;
	}
	for (c = cli_cmds; c->name != NULL; c++)
		if (strcmp(c->name, argv[optind]) == 0) {
			argc -= optind;
			argv += optind;
			optind = 0; /* GNU getopt: re-initialise for the subcommand */
			return c->fn(&cli, argc, argv);
		}
	fprintf(stderr, "shomei: unknown command \"%s\"\n", argv[optind]);
	usage_main(stderr);
	return ERR_USAGE;
}
