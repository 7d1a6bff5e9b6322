/* cmd_ca: init, issue, revoke, crl — the commands that create or sign. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "ra/ra.h"
#include "util/timefmt.h"
#include "serve/serve.h"
#include "util/paths.h"

static const char usage_init[] =
    "usage: shomei init [--key-type p256|p384|rsa2048|rsa3072|rsa4096] [--ca-name NAME]\n"
    "                   [--base-url URL] [--org-name ORG] [--store SPEC] [--ca-key PKCS11-URI]\n"
    "                   [--oid-arc OID] [--policy OID] [--tsa-policy OID] [--cps URL]\n"
    "                   [--key-rounds N]\n"
    "       shomei init --system [OPTIONS]\n"
    "       shomei init --check\n\n"
    "Creates the data directory with shomei.conf, a root CA, an issuing CA, an OCSP\n"
    "responder, a TSA and an HTTPS server certificate.  Keys are encrypted with the\n"
    "passphrase in $SHOMEI_KEY_PASSPHRASE, or a generated one kept in keys/passphrase.\n"
    "--ca-key uses an existing key in a PKCS#11 token for the issuing CA (PIN from\n"
    "$SHOMEI_PKCS11_PIN, module from $SHOMEI_PKCS11_MODULE).  Refuses to overwrite a CA.\n"
    "  --store SPEC   sqlite:PATH (default sqlite:db/shomei.db) or a PostgreSQL conninfo\n"
    "  --root-key-out FILE  where the root key goes (default DIR.offline/root.key.pem):\n"
    "                 never inside the data directory; keep it offline\n"
    "  --oid-arc OID  the arc of the CA's own OIDs, e.g. your IANA enterprise number\n"
    "                 1.3.6.1.4.1.N.1 (default: a new arc from a random UUID under\n"
    "                 1.2.840.113556.1.8000.2554, which needs no registration)\n"
    "  --policy OID   the certificate policy (CP/CPS) every certificate asserts (<arc>.1)\n"
    "  --tsa-policy OID  the policy of the time-stamps (<arc>.2)\n"
    "  --cps URL      the CPS's address, put next to the policy in every certificate\n"
    "  --key-rounds N PBKDF2 rounds of the encrypted keys (default 600000, at least 1000):\n"
    "                 fewer start faster and protect the keys at rest less; for throwaway\n"
    "                 test instances only\n"
    "The initial root CRL is made with the root key here; later ones by `shomei ca root-crl`.\n"
    "--system makes an installed service's files: " SHOMEI_CONFFILE " (root's, 0640)\n"
    "and " SHOMEI_STATEDIR " (0750, group of web.user; keys/ root's 0700; db/ and the\n"
    "outbox the web user's), unless -c or -d name others; the account shomei (web.user)\n"
    "is created when missing.  Needs root.\n"
    "--check checks the shomei.conf of an existing data directory and starts nothing: every\n"
    "key must be known (`shomei conf keys`; a typo is named with the nearest known key), and\n"
    "the CA's own settings and certificates must load.  Prints \"configuration ok\" and exits\n"
    "0, else prints the first problem and exits 1.\n";

/* init --check: loads the data directory's configuration as every command does, then stops. */
static int
init_check(struct cli *cli)
{
	struct ca *ca = NULL;
	struct err e;
	int rc = ERR_REFUSED;

	err_clear(&e);
	if (ca_open(cli->datadir, 0, serve_conf_known, &ca, &e) == -1) {
		fprintf(stderr, "shomei: %s\n", e.msg[0] ? e.msg : "configuration refused");
		goto out;
	}
	printf("configuration ok\n");
	rc = 0;
out:
	ca_close(ca);
	return rc;
}

/*
 * init --system, before the ceremony: root only; the installed pair of paths unless -c or
 * -d named others; the web process's account made when missing (as scripts/deps.sh does).
 */
static int
init_system_before(struct cli *cli, struct err *e)
{
	char *const argv[] = {
	    "useradd",		"--system", "--user-group",	 "--home-dir", "/nonexistent",
	    "--no-create-home", "--shell",  "/usr/sbin/nologin", "shomei",     NULL};
	int status;
	pid_t pid;

	if (geteuid() != 0)
		return err_set(e, ERR_REFUSED, "init --system: run it as root");
	if (!cli->data_explicit)
		cli->datadir = SHOMEI_STATEDIR;
	if (!cli->conf_explicit && !cli->data_explicit) {
		cli->conf = SHOMEI_CONFFILE;
		ca_conf_file_set(cli->conf);
	}
	umask(022); /* the modes init asks for: certs/ 0755, keys/ 0700, shomei.conf 0640 */
	if (getpwnam("shomei") != NULL)
		return 0;
	printf("creating the system account shomei (the web process's user)\n");
	fflush(stdout);
	if ((pid = fork()) == -1)
		return err_set(e, ERR_INTERNAL, "init --system: fork: %s", strerror(errno));
	if (pid == 0) {
		execv("/usr/sbin/useradd", argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(e, ERR_INTERNAL,
			       "init --system: useradd shomei failed; create the account yourself");
	return 0;
}

/*
 * init --system, after the ceremony: the owners and modes serve would set at its start
 * (sandbox_prepare: the data directory's group, db/ and the outbox to the web user, keys/
 * checked), and the configuration's directory root's.
 */
static int
init_system_after(struct cli *cli, struct err *e)
{
	struct ca *ca = NULL;
	struct sandbox sb;
	char *conf = ca_conf_file(cli->datadir), *slash;
	int rc = -1;

	if (ca_open(cli->datadir, 0, serve_conf_known, &ca, e) == -1 ||
	    sandbox_user(&ca->conf, &sb, e) == -1 || sandbox_prepare(ca, &sb, e) == -1)
		goto out;
	if (chown(conf, 0, 0) == -1 || chmod(conf, 0640) == -1) {
		err_set(e, ERR_INTERNAL, "%s: %s", conf, strerror(errno));
		goto out;
	}
	if ((slash = strrchr(conf, '/')) != NULL && slash != conf) {
		*slash = '\0';
		if (chmod(conf, 0755) == -1) {
			err_set(e, ERR_INTERNAL, "%s: %s", conf, strerror(errno));
			goto out;
		}
	}
	printf("configuration: %s\n", ca->conf.path);
	rc = 0;
out:
	free(conf);
	ca_close(ca);
	return rc;
}

int
cmd_init(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"key-type", required_argument, NULL, 'k'},
	    {"ca-name", required_argument, NULL, 'n'},
	    {"base-url", required_argument, NULL, 'u'},
	    {"org-name", required_argument, NULL, 'o'},
	    {"store", required_argument, NULL, 's'},
	    {"ca-key", required_argument, NULL, 'K'},
	    {"check", no_argument, NULL, 'C'},
	    {"data", required_argument, NULL, 'd'},
	    {"oid-arc", required_argument, NULL, 'A'},
	    {"policy", required_argument, NULL, 'P'},
	    {"tsa-policy", required_argument, NULL, 'T'},
	    {"cps", required_argument, NULL, 'S'},
	    {"root-key-out", required_argument, NULL, 'R'},
	    {"system", no_argument, NULL, 'Y'},
	    {"key-rounds", required_argument, NULL, 'I'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ca_init_opts o;
	struct err e;
	int ch, stop, rc, check = 0, made = 0, sys = 0;

	memset(&o, 0, sizeof(o));
	err_clear(&e);
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		switch (ch) {
		case 'k':
			o.key_type = optarg;
			break;
		case 'n':
			o.ca_name = optarg;
			break;
		case 'u':
			o.base_url = optarg;
			break;
		case 'o':
			o.org_name = optarg;
			break;
		case 's':
			o.store = optarg;
			break;
		case 'K':
			o.ca_key_uri = optarg;
			break;
		case 'A':
			o.oid_arc = optarg;
			break;
		case 'P':
			o.policy = optarg;
			break;
		case 'T':
			o.tsa_policy = optarg;
			break;
		case 'S':
			o.cps_uri = optarg;
			break;
		case 'R':
			o.root_key_out = optarg;
			break;
		case 'I':
			if (util_parse_long(optarg, CA_KEY_ROUNDS_MIN, INT_MAX, &o.key_rounds) ==
			    -1) {
				fprintf(stderr,
					"shomei: init: --key-rounds must be a number of at "
					"least %d\n",
					CA_KEY_ROUNDS_MIN);
				return ERR_USAGE;
			}
			break;
		case 'C':
			check = 1;
			break;
		case 'Y':
			sys = 1;
			break;
		default:
			rc = cli_common_opt(cli, ch, optarg, usage_init, &stop);
			if (stop)
				return rc;
		}
		made |= ch != 'C' && ch != 'd';
	}
	/* --check makes nothing: the options of a new CA have no meaning with it */
	if (optind != argc || (check && made))
		return cli_usage(usage_init);
	if (check)
		return init_check(cli);
	if (sys && init_system_before(cli, &e) == -1)
		return cli_fail(&e);
	o.datadir = cli->datadir;
	if (ca_init(&o, &e) == -1)
		return cli_fail(&e);
	if (sys && init_system_after(cli, &e) == -1)
		return cli_fail(&e);
	printf("initialized CA \"%s\" in %s\n", o.ca_name ? o.ca_name : "shomei", cli->datadir);
	if (o.root_key_out != NULL)
		printf("root key: %s (keep it offline)\n", o.root_key_out);
	else
		printf("root key: %s.offline/root.key.pem (keep it offline)\n", cli->datadir);
	return 0;
}

static const char usage_issue[] =
    "usage: shomei issue --profile PROFILE --csr FILE [--days N] [--org CODE] [--out FILE]\n"
    "       shomei issue --profile ocsp --ca NAME --csr FILE [--days N] [--out FILE]\n\n"
    "Issues a certificate from a PKCS#10 request (PEM or DER) and prints it as PEM.\n"
    "Profiles: server, client, codesign, officer, ocsp, tsa, shortlived (server, 7 days at most,\n"
    "no OCSP URL, no CRL distribution point).\n"
    "With --org the organization's name policy applies (its domains, mail domains, addresses\n"
    "and URIs) and the subject is built by the RA: O = the organization's registered name,\n"
    "CN one of the names (server) or the CSR's CN (the holder's name).  Without --org the\n"
    "operator issues the CSR's subject and names as they are.\n"
    "--ca NAME: a previous issuing CA (prevN.ca_name, after `shomei ca rollover`) renews its\n"
    "own OCSP responder's certificate; point prevN.ocsp.cert (and .key) at it.\n";

int
cmd_issue(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"profile", required_argument, NULL, 'p'},
	    {"csr", required_argument, NULL, 'c'},
	    {"days", required_argument, NULL, 'D'},
	    {"org", required_argument, NULL, 'o'},
	    {"out", required_argument, NULL, 'O'},
	    {"data", required_argument, NULL, 'd'},
	    {"ca", required_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ca_issue_req req;
	struct ra_issue_req rreq;
	struct ca_issued out;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct buf csr, pem;
	struct err e;
	const char *csrfile = NULL, *outfile = NULL;
	BIO *b = NULL;
	char *p;
	long n, days = 0;
	int ch, stop, rc = 0, service;

	const char *org = NULL, *caname = NULL;

	memset(&req, 0, sizeof(req));
	memset(&rreq, 0, sizeof(rreq));
	memset(&out, 0, sizeof(out));
	buf_init(&csr, 0);
	buf_init(&pem, 0);
	err_clear(&e);
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		switch (ch) {
		case 'p':
			req.profile = optarg;
			break;
		case 'c':
			csrfile = optarg;
			break;
		case 'o':
			org = optarg;
			break;
		case 'O':
			outfile = optarg;
			break;
		case 'C':
			caname = optarg;
			break;
		case 'D':
			if (util_parse_long(optarg, 1, 36500, &days) == -1) {
				fprintf(stderr, "shomei: --days: expected a number of days\n");
				return ERR_USAGE;
			}
			break;
		default:
			rc = cli_common_opt(cli, ch, optarg, usage_issue, &stop);
			if (stop)
				return rc;
		}
	}
	if (optind != argc || req.profile == NULL || csrfile == NULL ||
	    (caname != NULL && org != NULL))
		return cli_usage(usage_issue);
	req.days = days;
	req.actor = "cli:issue";
	/* read a little more than the CSR limit so that csr_parse reports the size itself */
	if (util_read_file(csrfile, X509_CSR_MAX + 1, &csr, &e) == -1) {
		if (e.code == ERR_REFUSED) {
			err_clear(&e);
			err_set(&e, ERR_REFUSED, "csr: larger than %d bytes", X509_CSR_MAX);
		}
		rc = cli_fail(&e);
		goto out;
	}
	req.csr = csr.data;
	req.csrlen = csr.len;
	/* for an organization through the RA's name policy; without one, the operator's own */
	rreq.profile = req.profile;
	rreq.org_code = org;
	rreq.csr = req.csr;
	rreq.csrlen = req.csrlen;
	rreq.days = req.days;
	rreq.actor = req.actor;
	/* OCSP and TSA certificates: only this command's own signer signs them (the online
	 * one never does) */
	service = strcmp(req.profile, "ocsp") == 0 || strcmp(req.profile, "tsa") == 0;
	if (ca_open(cli->datadir, service ? CA_OPEN_SIGNER_SERVICE : CA_OPEN_SIGNER,
		    serve_conf_known, &ca, &e) == -1)
		goto fail;
	if (caname != NULL && (req.issuing = ca_issuing_find(ca, caname)) == NULL) {
		err_set(&e, ERR_REFUSED,
			"issue: no issuing CA called \"%s\" (ca_name, prevN.ca_name)", caname);
		goto fail;
	}
	if (ca_store_open(ca, &st, &e) == -1 ||
	    (org != NULL ? ra_issue(ca, st, &rreq, &out, &e) : ca_issue(ca, st, &req, &out, &e)) ==
		-1)
		goto fail;
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio(b, PEM_STRING_X509, "", out.der, (long)out.derlen))
		fatalx("issue: cannot encode PEM");
	n = BIO_get_mem_data(b, &p);
	if (outfile != NULL) {
		if (util_write_file(outfile, p, (size_t)n, 0644, &e) == -1) {
			/* the certificate exists now: say so, so that nothing is lost */
			fprintf(stderr, "shomei: issued serial %s but could not write it\n",
				out.serial);
			rc = cli_fail(&e);
			goto out;
		}
		fprintf(stderr, "issued serial %s -> %s\n", out.serial, outfile);
	} else if (fwrite(p, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout) != 0) {
		fprintf(stderr, "shomei: issued serial %s but could not print it\n", out.serial);
		rc = ERR_INTERNAL;
	}
	goto out;
fail:
	rc = cli_fail(&e);
out:
	BIO_free(b);
	ca_issued_clear(&out);
	store_close(st);
	ca_close(ca);
	buf_free(&csr);
	buf_free(&pem);
	return rc;
}

static const char usage_revoke[] =
    "usage: shomei revoke SERIAL --reason REASON\n\n"
    "Revokes a certificate (SERIAL in hex, as `openssl x509 -serial` prints it).\n"
    "Reasons: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,\n"
    "cessationOfOperation, privilegeWithdrawn, aACompromise.\n"
    "With crl.on_revoke = yes in shomei.conf a new CRL is generated at once.\n";

int
cmd_revoke(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"reason", required_argument, NULL, 'r'},
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct store_crl crl;
	const struct ca_issuing *ci = NULL;
	struct err e;
	const char *reason = NULL, *serial;
	int ch, stop, rc = 0, code, on_revoke;

	err_clear(&e);
	memset(&crl, 0, sizeof(crl));
	while ((ch = getopt_long(argc, argv, "hd:r:", lo, NULL)) != -1) {
		if (ch == 'r') {
			reason = optarg;
			continue;
		}
		rc = cli_common_opt(cli, ch, optarg, usage_revoke, &stop);
		if (stop)
			return rc;
	}
	if (optind + 1 != argc || reason == NULL)
		return cli_usage(usage_revoke);
	serial = argv[optind];
	if (strncmp(serial, "serial=", 7) == 0) /* accept `openssl x509 -serial` output as is */
		serial += 7;
	if ((code = ca_reason_parse(reason)) < 0) {
		fprintf(stderr, "shomei: unknown reason \"%s\"\n", reason);
		return cli_usage(usage_revoke);
	}
	if (ca_open(cli->datadir, 0, serve_conf_known, &ca, &e) == -1 ||
	    ca_store_open(ca, &st, &e) == -1 ||
	    ca_revoke(ca, st, serial, code, 0, "cli:revoke", &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	printf("revoked %s (%s)\n", serial, ca_reason_name(code));
	on_revoke = strcmp(conf_get(&ca->conf, "crl.on_revoke", "no"), "yes") == 0;
	if (on_revoke) {
		struct store_cert rec;

		/* the CRL of the certificate's own CA (a previous one's after a CA switch) */
		memset(&rec, 0, sizeof(rec));
		if (store_cert_get(st, serial, &rec, &e) == 0)
			ci = ca_issuing_find(ca, rec.ca);
		store_cert_clear(&rec);
		err_clear(&e);
		if (signer_spawn(&ca->conf, &ca->signer, &ca->signer_pid, &e) == -1 ||
		    ca_crl_generate_for(ca, ci != NULL ? ci : &ca->cas[0], st, 0, "cli:revoke",
					&crl, &e) == -1) {
			fprintf(stderr, "shomei: revoked, but the CRL was not regenerated:\n");
			rc = cli_fail(&e);
			goto out;
		}
		printf("CRL number %lld generated\n", (long long)crl.number);
	}
out:
	store_crl_clear(&crl);
	store_close(st);
	ca_close(ca);
	return rc;
}

static const char usage_crl[] =
    "usage: shomei crl [--delta] [--ca NAME] [--out FILE]\n\n"
    "Generates and signs a full CRL (or a delta CRL against the latest full one) now,\n"
    "stores it, and writes the DER to FILE (default DATA/crl/<ca-name>[-delta].crl).\n"
    "--ca: a previous issuing CA's (prevN.ca_name, after `shomei ca rollover`) instead of\n"
    "the current one's.\n";

int
cmd_crl(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"delta", no_argument, NULL, 'D'},	   {"ca", required_argument, NULL, 'C'},
	    {"out", required_argument, NULL, 'o'}, {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},	   {NULL, 0, NULL, 0},
	};
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct store_crl crl;
	struct err e;
	char *dir = NULL, *path = NULL;
	const char *outfile = NULL, *caname = NULL;
	const struct ca_issuing *ci = NULL;
	int ch, stop, rc = 0, delta = 0;

	err_clear(&e);
	memset(&crl, 0, sizeof(crl));
	while ((ch = getopt_long(argc, argv, "hd:o:", lo, NULL)) != -1) {
		if (ch == 'D') {
			delta = 1;
			continue;
		}
		if (ch == 'o') {
			outfile = optarg;
			continue;
		}
		if (ch == 'C') {
			caname = optarg;
			continue;
		}
		rc = cli_common_opt(cli, ch, optarg, usage_crl, &stop);
		if (stop)
			return rc;
	}
	if (optind != argc)
		return cli_usage(usage_crl);
	if (ca_open(cli->datadir, CA_OPEN_SIGNER, serve_conf_known, &ca, &e) == -1)
		goto fail;
	if ((ci = ca_issuing_find(ca, caname != NULL ? caname : ca->name)) == NULL) {
		err_set(&e, ERR_REFUSED,
			"crl: no issuing CA called \"%s\" (ca_name, prevN.ca_name)", caname);
		goto fail;
	}
	if (ca_store_open(ca, &st, &e) == -1 ||
	    ca_crl_generate_for(ca, ci, st, delta, "cli:crl", &crl, &e) == -1)
		goto fail;
	if (outfile == NULL) {
		dir = xasprintf("%s/crl", cli->datadir);
		path = xasprintf("%s/%s%s.crl", dir, ci->name, delta ? "-delta" : "");
		if (util_mkdir_p(dir, 0755, &e) == -1) {
			rc = cli_fail(&e);
			goto out;
		}
		outfile = path;
	}
	if (util_write_file(outfile, crl.der, crl.derlen, 0644, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	printf("%s CRL number %lld -> %s\n", delta ? "delta" : "full", (long long)crl.number,
	       outfile);
	goto out;
fail:
	rc = cli_fail(&e);
out:
	store_crl_clear(&crl);
	store_close(st);
	ca_close(ca);
	free(dir);
	free(path);
	return rc;
}

static const char usage_ca[] =
    "usage: shomei ca root-crl --root-key FILE [--revoke CERT [--reason REASON]]\n"
    "       shomei ca rollover --root-key FILE [--name NAME]\n\n"
    "The root CA's ceremony: with the root key brought from its offline place, signs a new\n"
    "root CRL (valid root_crl.days, default 365) that carries the previous one's entries, and\n"
    "stores it; the server publishes it at /crl/<ca>-root.crl, the address the issuing CA\n"
    "certificate names.  Run it before the root CRL's nextUpdate (serve warns\n"
    "root_crl.warn_days ahead) and to revoke an issuing CA: --revoke names its certificate\n"
    "(PEM); --reason is keyCompromise, cACompromise, superseded, cessationOfOperation,\n"
    "affiliationChanged or unspecified (default).  FILE (or a pkcs11: URI) is opened with\n"
    "the key passphrase (PIN) of shomei.conf.  The key is used in this process only and\n"
    "never passes to the server.  Prints every issuing CA the new root CRL lists: check it.\n\n"
    "rollover switches the issuing (intermediate) CA, with the root key at hand: makes a new\n"
    "issuing CA called NAME (default <ca_name>-g2, then -g3 ...) with a key of the current\n"
    "one's kind and an OCSP responder of its own, and rewrites shomei.conf: NAME issues every\n"
    "certificate from the next start or reload (SIGHUP), while the CA it replaces becomes\n"
    "prev1.* and goes on signing its CRLs (/crl/<old>.crl) and OCSP answers until its last\n"
    "certificate expires; /ca/ serves both chains; officers log in with certificates of\n"
    "either.  At most 3 previous CAs (docs/rollover.md).\n";

static X509 *
ca_cmd_read_cert(const char *path, struct err *e)
{
	FILE *f = fopen(path, "r");
	X509 *x = NULL;

	if (f == NULL) {
		err_set(e, ERR_REFUSED, "%s: cannot open", path);
		return NULL;
	}
	if ((x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		err_set(e, ERR_REFUSED, "%s: not a PEM certificate", path);
	fclose(f);
	return x;
}

/* What the operator signed: the number, and every issuing CA the root CRL lists. */
static void
ca_root_crl_print(const struct ca *ca, const struct store_crl *crl, long days, int already)
{
	const unsigned char *p = crl->der;
	X509_CRL *x = d2i_X509_CRL(NULL, &p, (long)crl->derlen);
	STACK_OF(X509_REVOKED) *rs = x != NULL ? X509_CRL_get_REVOKED(x) : NULL;
	int i, n = rs != NULL ? sk_X509_REVOKED_num(rs) : 0;
	char serial[STORE_SERIAL_MAX], when[64];

	if (already)
		printf("the issuing CA was revoked before: its first reason and date stay\n");
	printf("root CRL number %lld -> /crl/%s.crl: %d revoked issuing CA%s, next update in "
	       "%ld days\n",
	       (long long)crl->number, ca->root_crl_name, n, n == 1 ? "" : "s", days);
	for (i = 0; i < n; i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(rs, i);
		ASN1_ENUMERATED *re = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
		time_t t = 0;

		x509_serial_hex(X509_REVOKED_get0_serialNumber(r), serial, sizeof(serial));
		x509_time_to_epoch(X509_REVOKED_get0_revocationDate(r), &t);
		timefmt_rfc3339(t, when, sizeof(when));
		printf("  revoked %s since %s (%s)\n", serial, when,
		       ca_reason_name(re != NULL ? (int)ASN1_ENUMERATED_get(re) : 0));
		ASN1_ENUMERATED_free(re);
	}
	X509_CRL_free(x);
}

/* The operator's path of a key file ("pkcs11:" URIs as they are); NULL when cwd is unreadable. */
static char *
ca_cmd_abs(const char *keyfile)
{
	char cwd[4096];

	if (keyfile[0] == '/' || strncmp(keyfile, "pkcs11:", 7) == 0)
		return xstrdup(keyfile);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	return xasprintf("%s/%s", cwd, keyfile);
}

static int
ca_root_crl_cmd(struct cli *cli, const char *keyfile, const char *revoke, const char *reason)
{
	struct ca_root_crl_req rq;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct store_crl crl;
	struct err e;
	char *abs = NULL;
	int rc = 0, already = 0;

	err_clear(&e);
	memset(&rq, 0, sizeof(rq));
	memset(&crl, 0, sizeof(crl));
	rq.reason = CA_REASON_UNSPECIFIED;
	if (reason != NULL &&
	    ((rq.reason = ca_reason_parse(reason)) == CA_REASON_NONE ||
	     rq.reason == CA_REASON_CERTIFICATE_HOLD || rq.reason == CA_REASON_REMOVE_FROM_CRL)) {
		fprintf(stderr,
			"shomei: ca root-crl: reason \"%s\" is not one a CA is revoked for\n",
			reason);
		return ERR_USAGE;
	}
	/* the key file is the operator's path, not one relative to the data directory */
	if ((abs = ca_cmd_abs(keyfile)) == NULL) {
		fprintf(stderr, "shomei: ca root-crl: cannot read the current directory\n");
		return ERR_INTERNAL;
	}
	if (ca_open(cli->datadir, 0, serve_conf_known, &ca, &e) == -1 ||
	    conf_get_long(&ca->conf, "root_crl.days", CA_ROOT_CRL_DAYS_DEFAULT, 1,
			  CA_ROOT_CRL_DAYS_MAX, &rq.days, &e) == -1 ||
	    signer_key_load(&ca->conf, abs, &rq.key, &e) == -1 ||
	    (revoke != NULL && (rq.revoke = ca_cmd_read_cert(revoke, &e)) == NULL) ||
	    ca_store_open(ca, &st, &e) == -1)
		goto fail;
	rq.root_name = ca->root_crl_name;
	rq.root = ca->root;
	rq.actor = "cli:ca-root-crl";
	if (ca_root_crl_make(st, &rq, &crl, &already, &e) == -1)
		goto fail;
	ca_root_crl_print(ca, &crl, rq.days, already);
	if (rq.revoke != NULL && X509_cmp(rq.revoke, ca->cert) == 0)
		printf(
		    "warning: the revoked issuing CA is the one in use (ca.cert): switch to a new "
		    "issuing CA before serving again\n");
	goto out;
fail:
	rc = cli_fail(&e);
out:
	store_crl_clear(&crl);
	EVP_PKEY_free(rq.key);
	X509_free(rq.revoke);
	store_close(st);
	ca_close(ca);
	free(abs);
	return rc;
}

static int
ca_rollover_cmd(struct cli *cli, const char *keyfile, const char *name)
{
	struct ca_rollover_req rq;
	struct ca_rollover_out out;
	struct ca *ca = NULL;
	struct err e;
	char *abs = ca_cmd_abs(keyfile), when[32];
	int rc = 0;

	err_clear(&e);
	memset(&rq, 0, sizeof(rq));
	memset(&out, 0, sizeof(out));
	rq.name = name;
	rq.actor = "cli:ca-rollover";
	if (abs == NULL) {
		fprintf(stderr, "shomei: ca rollover: cannot read the current directory\n");
		return ERR_INTERNAL;
	}
	if (ca_open(cli->datadir, 0, serve_conf_known, &ca, &e) == -1 ||
	    signer_key_load(&ca->conf, abs, &rq.root_key, &e) == -1 ||
	    ca_rollover(ca, &rq, &out, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	timefmt_rfc3339(out.not_after, when, sizeof(when));
	printf("new issuing CA %s (serial %s, valid until %s): %s\n", out.name, out.serial, when,
	       out.cert_path);
	printf("%s answers for its certificates as prev1 (/crl/%s.crl, OCSP) until they expire\n",
	       ca->name, ca->name);
	printf("shomei.conf rewritten: restart serve or send it SIGHUP to issue from %s\n",
	       out.name);
out:
	ca_rollover_out_clear(&out);
	EVP_PKEY_free(rq.root_key);
	ca_close(ca);
	free(abs);
	return rc;
}

int
cmd_ca(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"root-key", required_argument, NULL, 'k'},
	    {"revoke", required_argument, NULL, 'r'},
	    {"reason", required_argument, NULL, 'R'},
	    {"data", required_argument, NULL, 'd'},
	    {"name", required_argument, NULL, 'N'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *key = NULL, *revoke = NULL, *reason = NULL, *name = NULL;
	int ch, stop, rc;

	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		if (ch == 'k')
			key = optarg;
		else if (ch == 'r')
			revoke = optarg;
		else if (ch == 'R')
			reason = optarg;
		else if (ch == 'N')
			name = optarg;
		else {
			rc = cli_common_opt(cli, ch, optarg, usage_ca, &stop);
			if (stop)
				return rc;
		}
	}
	if (reason != NULL && revoke == NULL) {
		fprintf(stderr, "shomei: ca root-crl: --reason goes with --revoke CERT\n");
		return ERR_USAGE;
	}
	if (optind + 1 == argc && strcmp(argv[optind], "rollover") == 0 && key != NULL &&
	    revoke == NULL)
		return ca_rollover_cmd(cli, key, name);
	if (optind + 1 != argc || strcmp(argv[optind], "root-crl") != 0 || key == NULL ||
	    name != NULL)
		return cli_usage(usage_ca);
	return ca_root_crl_cmd(cli, key, revoke, reason);
}
