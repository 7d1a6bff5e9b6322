/* cli: the subcommands of the shomei binary (dispatched from src/main.c). */
#ifndef SHOMEI_CLI_H
#define SHOMEI_CLI_H

#include "util/util.h"

#define SHOMEI_VERSION "0.1.0"

struct cli {
	const char *datadir; /* -d, SHOMEI_DATA, default ./var (checkout) or /var/lib/shomei */
	const char *conf;    /* -c, SHOMEI_CONF, /etc/shomei/shomei.conf; NULL: DATADIR's */
	int conf_explicit;   /* -c or SHOMEI_CONF: a later -d keeps it */
	int data_explicit;   /* -d or SHOMEI_DATA */
	int verbose;
};

struct cli_cmd {
	const char *name;
	int (*fn)(struct cli *, int, char **);
	const char *summary;
};

extern const struct cli_cmd cli_cmds[];

/* Maps an error to the exit status (0 ok, 1 refused/bad input, 2 usage, 3 internal) after
 * printing "shomei: <message>" on stderr. */
int cli_fail(const struct err *);
/* Prints usage text to stderr and returns ERR_USAGE. */
int cli_usage(const char *text);
/* Handles the common -h/--help and -d/--data options while parsing; see cli.c. */
int cli_common_opt(struct cli *, int opt, const char *optarg_, const char *usage, int *exit_now);

int cmd_init(struct cli *, int, char **);
int cmd_issue(struct cli *, int, char **);
int cmd_revoke(struct cli *, int, char **);
int cmd_cert(struct cli *, int, char **);
int cmd_org(struct cli *, int, char **);
int cmd_ticket(struct cli *, int, char **);
int cmd_audit(struct cli *, int, char **);
int cmd_crl(struct cli *, int, char **);
int cmd_ca(struct cli *, int, char **);
int cmd_signer_log(struct cli *, int, char **);
int cmd_serve(struct cli *, int, char **);
int cmd_mail(struct cli *, int, char **);
int cmd_apikey(struct cli *, int, char **);
int cmd_officer(struct cli *, int, char **);
int cmd_acme(struct cli *, int, char **);
int cmd_client(struct cli *, int, char **);
int cmd_conf(struct cli *, int, char **);
int cmd_routes(struct cli *, int, char **);
int cmd_backup(struct cli *, int, char **);
int cmd_restore(struct cli *, int, char **);

#endif
