/* cli: shared helpers of the subcommands. */
#include <stdio.h>
#include <string.h>

#include "ca/ca.h"
#include "cli/cli.h"

const struct cli_cmd cli_cmds[] = {
    {"init", cmd_init, "create the data directory, CA hierarchy and shomei.conf"},
    {"issue", cmd_issue, "issue a certificate from a CSR"},
    {"revoke", cmd_revoke, "revoke a certificate"},
    {"cert", cmd_cert, "list or show certificates"},
    {"org", cmd_org, "add or list organizations"},
    {"ticket", cmd_ticket, "create or list tickets"},
    {"audit", cmd_audit, "verify or list the audit chain, reconcile it with the signer's log"},
    {"signer-log", cmd_signer_log, "verify the signer's own log of every signature"},
    {"crl", cmd_crl, "generate a full or delta CRL now"},
    {"ca", cmd_ca, "root CA ceremonies: root CRL, revoke or switch an issuing CA"},
    {"apikey", cmd_apikey, "create, list or disable API keys of the REST API"},
    {"officer", cmd_officer, "add, list or disable RA officers; renewals that are due"},
    {"acme", cmd_acme, "External Account Bindings of ACME: create, suspend, resume, revoke"},
    {"serve", cmd_serve, "run the service (supervisor, signer, web)"},
    {"mail", cmd_mail, "deliver queued mail now (flush) or show the queue (status)"},
    {"client", cmd_client, "send a signed self-service revoke or status request"},
    {"backup", cmd_backup,
     "back up the store, configuration, certificates (and keys) while serving"},
    {"restore", cmd_restore, "restore a backup into a new data directory"},
    {"conf", cmd_conf, "list the configuration keys shomei.conf may hold"},
    {"routes", cmd_routes, "list the console's routes and what each requires"},
    {NULL, NULL, NULL},
};

int
cli_fail(const struct err *e)
{
	fprintf(stderr, "shomei: %s\n", e->msg[0] ? e->msg : "failed");
	switch (e->code) {
	case ERR_OK:
	case ERR_INTERNAL:
	case ERR_UNKNOWN:
		return ERR_INTERNAL;
	case ERR_USAGE:
		return ERR_USAGE;
	default:
		return ERR_REFUSED;
	}
}

int
cli_usage(const char *text)
{
	fputs(text, stderr);
	return ERR_USAGE;
}

int
cli_common_opt(struct cli *c, int opt, const char *arg, const char *usage, int *exit_now)
{
	*exit_now = 0;
	switch (opt) {
	case 'h':
		fputs(usage, stdout);
		*exit_now = 1;
		return 0;
	case 'd':
		c->datadir = arg;
		c->data_explicit = 1;
		/* a data directory named here keeps its own shomei.conf, unless -c named one */
		if (!c->conf_explicit) {
			c->conf = NULL;
			ca_conf_file_set(NULL);
		}
		return 0;
	default:
		*exit_now = 1;
		return cli_usage(usage);
	}
}
