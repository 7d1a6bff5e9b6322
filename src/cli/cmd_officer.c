/* cmd_officer: RA officers (add, list, disable, enable, perms, reenrol, renew-due). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "console/console.h"
#include "ra/ra.h"
#include "serve/serve.h"
#include "util/timefmt.h"

static const char usage_officer[] =
    "usage: shomei officer add --name NAME --email ADDR [--org CODE]\n"
    "                          [--perm server,client,codesign,acme,stats]\n"
    "                          [--role officer|operator|auditor]\n"
    "       shomei officer list [--org CODE]\n"
    "       shomei officer disable ID\n"
    "       shomei officer enable ID\n"
    "       shomei officer perms ID LIST\n"
    "       shomei officer reenrol ID [--reason NAME]\n"
    "       shomei officer renew-due\n\n"
    "RA officers log in to the console with a certificate of their own.  `add` records one\n"
    "(role officer, the default, needs --org; operator and auditor belong to no organization),\n"
    "mails the certificate URL and prints the access PIN once: hand it over out of band.\n"
    "`reenrol` revokes the officer's certificate (lost; --reason, default keyCompromise) and\n"
    "opens a new enrolment with a new PIN.  `renew-due` mails the renewal URLs that are due\n"
    "and revokes the certificates that renewals superseded 14 days ago.\n";

struct officer_opts {
	const char *org, *name, *email, *perm, *role, *reason;
};

/* Parses the options of the subcommands; *stop with the exit status in the return value. */
static int
officer_opts(struct cli *cli, int argc, char **argv, struct officer_opts *o, int *stop)
{
	static const struct option lo[] = {
	    {"org", required_argument, NULL, 'o'},
	    {"name", required_argument, NULL, 'n'},
	    {"email", required_argument, NULL, 'm'},
	    {"perm", required_argument, NULL, 'p'},
	    {"role", required_argument, NULL, 'r'},
	    {"reason", required_argument, NULL, 'R'},
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch, rc = 0;

	memset(o, 0, sizeof(*o));
	*stop = 0;
	optind = 0; /* GNU getopt: re-initialise for the sub-subcommand */
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		switch (ch) {
		case 'o':
			o->org = optarg;
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'm':
			o->email = optarg;
			break;
		case 'p':
			o->perm = optarg;
			break;
		case 'r':
			o->role = optarg;
			break;
		case 'R':
			o->reason = optarg;
			break;
		default:
			rc = cli_common_opt(cli, ch, optarg, usage_officer, stop);
			if (*stop)
				return rc;
		}
	}
	return 0;
}

/* Opens the instance and a store connection; prints and maps the error. */
static int
officer_open(struct cli *cli, struct ca **ca, struct store **st)
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

/* An officer id as typed; -1 (with a message) for anything else. */
static int
officer_id(const char *s, int64_t *id)
{
	long v;

	if (util_parse_long(s, 1, 0x7fffffffL, &v) == -1) {
		fprintf(stderr, "shomei: officer: \"%s\" is not an officer id\n", s);
		return -1;
	}
	*id = v;
	return 0;
}

/* Prints the access PIN of a new enrolment of o (valid for days) and where the URL went. */
static void
officer_print_pin(const struct ra_officer *o, long days, const char *pin)
{
	char until[32];

	timefmt_rfc3339(util_now() + days * 86400, until, sizeof(until));
	printf("officer %" PRId64 "\n", o->id);
	printf("enrolment URL mailed to %s, valid until %s\n", o->email, until);
	printf("access PIN: %s (hand it over out of band; it is not shown again)\n", pin);
	fflush(stdout);
}

static int
officer_add(struct cli *cli, int argc, char **argv)
{
	struct officer_opts op;
	struct ra_officer_new q;
	struct ra_officer_notify n;
	struct console_mail m;
	struct ra_officer o;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	char pin[RA_OFFICER_PIN_LEN + 1];
	int rc, stop;

	memset(&m, 0, sizeof(m));
	memset(pin, 0, sizeof(pin));
	err_clear(&e);
	rc = officer_opts(cli, argc, argv, &op, &stop);
	if (stop)
		return rc;
	if (op.name == NULL || op.email == NULL || optind != argc)
		return cli_usage(usage_officer);
	memset(&q, 0, sizeof(q));
	q.org_code = op.org;
	q.name = op.name;
	q.email = op.email;
	if (op.role != NULL && ra_role_parse(op.role, &q.role) == -1) {
		fprintf(stderr, "shomei: officer: --role: officer, operator or auditor\n");
		return 2;
	}
	if (op.perm != NULL && ra_perms_parse(op.perm, &q.perms) == -1) {
		fprintf(stderr,
			"shomei: officer: --perm: a list of server, client, codesign, acme, "
			"stats\n");
		return 2;
	}
	if ((rc = officer_open(cli, &ca, &st)) != 0)
		return rc;
	if (console_mail_init(&m, ca, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	console_mail_notify(&m, &n);
	if (ra_officer_add(ca, st, &q, &n, "cli:officer", &o, pin, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	officer_print_pin(&o, m.enrol_days, pin);
out:
	sodium_memzero(pin, sizeof(pin));
	console_mail_clear(&m);
	store_close(st);
	ca_close(ca);
	return rc;
}

static int
officer_list(struct cli *cli, int argc, char **argv)
{
	struct officer_opts op;
	struct ra_officer *v = NULL;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	char created[32], perms[RA_PERMS_TEXT];
	size_t n = 0, i;
	int rc, stop;

	err_clear(&e);
	rc = officer_opts(cli, argc, argv, &op, &stop);
	if (stop)
		return rc;
	if (optind != argc)
		return cli_usage(usage_officer);
	if ((rc = officer_open(cli, &ca, &st)) != 0)
		return rc;
	if (ra_officer_list(st, op.org, &v, &n, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	for (i = 0; i < n; i++) {
		timefmt_rfc3339(v[i].created, created, sizeof(created));
		ra_perms_format(v[i].perms, perms);
		printf("%" PRId64 "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v[i].id,
		       ra_role_name(v[i].role), v[i].org_code[0] != '\0' ? v[i].org_code : "-",
		       v[i].active ? "active" : "disabled", perms, created, v[i].email, v[i].name);
	}
out:
	free(v);
	store_close(st);
	ca_close(ca);
	return rc;
}

/* disable, enable, perms: one change of one officer. */
static int
officer_set(struct cli *cli, int argc, char **argv, const char *what)
{
	struct officer_opts op;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	unsigned perms = 0;
	int64_t id;
	int rc, stop, isperms = strcmp(what, "perms") == 0;

	err_clear(&e);
	rc = officer_opts(cli, argc, argv, &op, &stop);
	if (stop)
		return rc;
	if (optind + 1 + isperms != argc)
		return cli_usage(usage_officer);
	if (officer_id(argv[optind], &id) == -1)
		return 2;
	if (isperms && ra_perms_parse(argv[optind + 1], &perms) == -1) {
		fprintf(stderr, "shomei: officer: perms: a list of server, client, codesign, acme, "
				"stats\n");
		return 2;
	}
	if ((rc = officer_open(cli, &ca, &st)) != 0)
		return rc;
	if (isperms)
		rc = ra_officer_set_perms(st, id, perms, "cli:officer", &e);
	else
		rc = ra_officer_set_status(st, id, strcmp(what, "enable") == 0, "cli:officer", &e);
	if (rc == -1)
		rc = cli_fail(&e);
	store_close(st);
	ca_close(ca);
	return rc;
}

static int
officer_reenrol(struct cli *cli, int argc, char **argv)
{
	struct officer_opts op;
	struct ra_officer_notify n;
	struct console_mail m;
	struct ra_officer o;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	char pin[RA_OFFICER_PIN_LEN + 1];
	int64_t id;
	int rc, stop, reason = CA_REASON_KEY_COMPROMISE;

	memset(&m, 0, sizeof(m));
	memset(pin, 0, sizeof(pin));
	err_clear(&e);
	rc = officer_opts(cli, argc, argv, &op, &stop);
	if (stop)
		return rc;
	if (optind + 1 != argc)
		return cli_usage(usage_officer);
	if (officer_id(argv[optind], &id) == -1)
		return 2;
	if (op.reason != NULL && (reason = ca_reason_parse(op.reason)) == CA_REASON_NONE) {
		fprintf(stderr, "shomei: officer: --reason: an RFC 5280 reason name\n");
		return 2;
	}
	if ((rc = officer_open(cli, &ca, &st)) != 0)
		return rc;
	if (console_mail_init(&m, ca, &e) == -1 || ra_officer_get(st, id, &o, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	console_mail_notify(&m, &n);
	if (ra_officer_reenrol(ca, st, id, reason, &n, "cli:officer", pin, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	officer_print_pin(&o, m.enrol_days, pin);
out:
	sodium_memzero(pin, sizeof(pin));
	console_mail_clear(&m);
	store_close(st);
	ca_close(ca);
	return rc;
}

static int
officer_renew_due(struct cli *cli, int argc, char **argv)
{
	struct officer_opts op;
	struct ra_officer_notify n;
	struct console_mail m;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	size_t opened = 0, superseded = 0;
	int rc, stop;

	memset(&m, 0, sizeof(m));
	err_clear(&e);
	rc = officer_opts(cli, argc, argv, &op, &stop);
	if (stop)
		return rc;
	if (optind != argc)
		return cli_usage(usage_officer);
	if ((rc = officer_open(cli, &ca, &st)) != 0)
		return rc;
	if (console_mail_init(&m, ca, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	console_mail_notify(&m, &n);
	if (ra_officer_renew_due(ca, st, util_now(), &n, &opened, &e) == -1 ||
	    ra_officer_supersede_due(ca, st, util_now(), &superseded, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	printf("renewals opened: %zu\ncertificates superseded: %zu\n", opened, superseded);
out:
	console_mail_clear(&m);
	store_close(st);
	ca_close(ca);
	return rc;
}

int
cmd_officer(struct cli *cli, int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : "";

	if (strcmp(sub, "add") == 0)
		return officer_add(cli, argc - 1, argv + 1);
	if (strcmp(sub, "list") == 0)
		return officer_list(cli, argc - 1, argv + 1);
	if (strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0 || strcmp(sub, "perms") == 0)
		return officer_set(cli, argc - 1, argv + 1, sub);
	if (strcmp(sub, "reenrol") == 0)
		return officer_reenrol(cli, argc - 1, argv + 1);
	if (strcmp(sub, "renew-due") == 0)
		return officer_renew_due(cli, argc - 1, argv + 1);
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(usage_officer, stdout);
		return 0;
	}
	return cli_usage(usage_officer);
}
