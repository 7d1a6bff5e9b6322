/* cmd_serve: `shomei serve`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "serve/serve.h"

static const char usage_serve[] =
    "usage: shomei serve [--http ADDR:PORT] [--https ADDR:PORT|off] [--console ADDR:PORT|off]\n\n"
    "Runs the supervisor, the signer (the only process with private keys) and the web\n"
    "process.  Defaults from shomei.conf (listen.http, listen.https, listen.console):\n"
    "127.0.0.1:8080, 127.0.0.1:8443 and 127.0.0.1:8444 (the RA officers' console, which\n"
    "asks for a TLS client certificate; off when HTTPS is).  SIGTERM finishes in-flight\n"
    "requests and exits 0; SIGHUP reloads.\n";

int
cmd_serve(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"http", required_argument, NULL, 'H'},    {"https", required_argument, NULL, 'S'},
	    {"console", required_argument, NULL, 'C'}, {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0},
	};
	struct serve_opts o;
	int ch, stop, rc;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		switch (ch) {
		case 'H':
			o.http = optarg;
			break;
		case 'S':
			o.https = optarg;
			break;
		case 'C':
			o.console = optarg;
			break;
		default:
			rc = cli_common_opt(cli, ch, optarg, usage_serve, &stop);
			if (stop)
				return rc;
		}
	}
	if (optind != argc)
		return cli_usage(usage_serve);
	o.datadir = cli->datadir;
	return serve_main(&o);
}
