/* cmd_mail: the outgoing mail queue (flush it once, show its counts). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "serve/serve.h"
#include "mail/mail.h"

static const char usage_mail[] =
    "usage: shomei mail flush [--max N]\n"
    "       shomei mail status\n\n"
    "`flush` delivers the queued mail that is due now (maildir or SMTP, per mail.delivery)\n"
    "once, and reschedules what fails; `serve` does the same every few seconds.\n";

int
cmd_mail(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"max", required_argument, NULL, 'm'},
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mail_conf mc;
	struct mail_run_stats st;
	struct ca *ca = NULL;
	struct store *s = NULL;
	struct err e;
	const char *sub;
	long max = 100;
	int ch, rc = 0, stop = 0;

	memset(&mc, 0, sizeof(mc));
	err_clear(&e);
	if (argc < 2)
		return cli_usage(usage_mail);
	sub = argv[1];
	argc--;
	argv++;
	optind = 0; /* GNU getopt: re-initialise for the sub-subcommand */
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		if (ch == 'm') {
			if (util_parse_long(optarg, 1, 100000, &max) == -1)
				return cli_usage(usage_mail);
		} else {
			rc = cli_common_opt(cli, ch, optarg, usage_mail, &stop);
			if (stop)
				return rc;
		}
	}
	if (optind != argc || (strcmp(sub, "flush") != 0 && strcmp(sub, "status") != 0))
		return cli_usage(usage_mail);
	if (ca_open(cli->datadir, 0, serve_conf_known, &ca, &e) == -1 ||
	    ca_store_open(ca, &s, &e) == -1 ||
	    mail_conf_load(&mc, &ca->conf, ca->datadir, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	if (strcmp(sub, "flush") == 0) {
		/* the queue's sealing key (keys/ is root's: run as root, like serve) */
		if (mail_key_load(&ca->conf, mc.key, &e) == -1) {
			rc = cli_fail(&e);
			goto out;
		}
		mc.have_key = 1;
		if (mail_queue_run(&mc, s, (size_t)max, &st, &e) == -1) {
			rc = cli_fail(&e);
			goto out;
		}
		printf("sent=%zu retried=%zu failed=%zu\n", st.sent, st.retried, st.failed);
	} else {
		int64_t q, sn, fl;

		if (store_mail_count(s, STORE_MAIL_QUEUED, &q, &e) == -1 ||
		    store_mail_count(s, STORE_MAIL_SENT, &sn, &e) == -1 ||
		    store_mail_count(s, STORE_MAIL_FAILED, &fl, &e) == -1) {
			rc = cli_fail(&e);
			goto out;
		}
		printf("queued=%lld sent=%lld failed=%lld\n", (long long)q, (long long)sn,
		       (long long)fl);
	}
	rc = 0;
out:
	mail_conf_clear(&mc);
	store_close(s);
	ca_close(ca);
	return rc;
}
