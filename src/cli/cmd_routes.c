/*
 * cmd_routes: `shomei routes` — the console listener's routes, each with what its gate asks
 * for (console_route_access), read from the tables the server serves.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "console/console.h"

static const char usage_routes[] =
    "usage: shomei routes [--listener console|public]\n\n"
    "Prints every route of the console listener, one row per requirement, tab-separated:\n"
    "method, path, params (the query or form fields that choose the requirement, - for\n"
    "none), access (public, certificate, or roles=R,... [perms=P|...]).  A route whose\n"
    "requirement is not declared (console_route_access, src/console/console.c) prints\n"
    "'unclassified' and the command exits 1; so does a declaration that names no route.\n"
    "--listener public: the console's pages on the public HTTPS listener (the mailed\n"
    "one-time URLs), each public; a path that ends in '*' hides a token in the log.\n";

/* 1 when route rt is the route that row a declares. */
static int
routes_match(const struct http_route *rt, const struct console_route_access *a)
{
	return rt->method != NULL && strcmp(rt->method, a->method) == 0 &&
	       strcmp(rt->path, a->path) == 0;
}

/* Prints the table's rows; returns how many routes or declarations do not match. */
static int
routes_print(FILE *f, const struct http_route *t, const struct console_route_access *acc)
{
	const struct http_route *rt;
	const struct console_route_access *a;
	int bad = 0, n;

	for (rt = t; rt->path != NULL; rt++) {
		n = 0;
		for (a = acc; a->path != NULL; a++) {
			if (!routes_match(rt, a))
				continue;
			fprintf(f, "%s\t%s\t%s\t%s\n", rt->method != NULL ? rt->method : "*",
				rt->path, a->params[0] != '\0' ? a->params : "-", a->access);
			n++;
		}
		if (n == 0) {
			fprintf(f, "%s\t%s\t-\tunclassified\n",
				rt->method != NULL ? rt->method : "*", rt->path);
			fprintf(stderr,
				"shomei: routes: %s %s: no requirement declared in "
				"console_route_access\n",
				rt->method != NULL ? rt->method : "*", rt->path);
			bad++;
		}
	}
	for (a = acc; a->path != NULL; a++) {
		for (rt = t; rt->path != NULL && !routes_match(rt, a); rt++)
			;
		if (rt->path == NULL) {
			fprintf(stderr, "shomei: routes: %s %s: declared but not a route\n",
				a->method, a->path);
			bad++;
		}
	}
	return bad;
}

int
cmd_routes(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"listener", required_argument, NULL, 'l'},
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *listener = "console";
	int ch, stop, rc, bad;

	while ((ch = getopt_long(argc, argv, "hd:l:", lo, NULL)) != -1) {
		if (ch == 'l') {
			listener = optarg;
			continue;
		}
		rc = cli_common_opt(cli, ch, optarg, usage_routes, &stop);
		if (stop)
			return rc;
	}
	if (optind != argc || (strcmp(listener, "console") != 0 && strcmp(listener, "public") != 0))
		return cli_usage(usage_routes);
	if (strcmp(listener, "public") == 0) {
		const struct http_route *rt;

		for (rt = console_public_routes; rt->path != NULL; rt++)
			printf("%s\t%s%s\t-\tpublic\n", rt->method != NULL ? rt->method : "*",
			       rt->path, rt->secret_tail ? "*" : "");
		bad = 0;
	} else {
		bad = routes_print(stdout, console_http_routes, console_route_access);
	}
	if (fflush(stdout) != 0)
		return ERR_INTERNAL;
	return bad > 0 ? ERR_REFUSED : 0;
}
