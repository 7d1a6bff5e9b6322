/* cmd_admin: cert, org, ticket and audit — commands that read or change records. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/pem.h>
#include <openssl/sha.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "ra/ra.h"
#include "serve/serve.h"
#include "util/der.h"
#include "util/timefmt.h"

/* Opens the instance and a store connection; prints and maps the error. */
static int
admin_open(struct cli *cli, struct ca **ca, struct store **st)
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

static void
admin_time(char *dst, size_t n, time_t t)
{
	if (t == 0 || timefmt_rfc3339(t, dst, n) == -1)
		snprintf(dst, n, "-");
}

static const char *
admin_status(const struct store_cert *c)
{
	return ra_cert_status_name(
	    ra_cert_status_of(c->status == STORE_CERT_REVOKED, c->not_after, util_now()));
}

static const char usage_cert[] =
    "usage: shomei cert list [--status valid|revoked|expired] [--org CODE] [--limit N]\n"
    "       shomei cert show SERIAL [--pem]\n";

static int
cert_list(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"status", required_argument, NULL, 's'}, {"org", required_argument, NULL, 'o'},
	    {"limit", required_argument, NULL, 'l'},  {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	struct store_cert_filter f;
	struct store_cert *v = NULL;
	struct store_org org;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	const char *status = NULL, *orgc = NULL;
	char nb[32], na[32];
	size_t n = 0, i;
	long limit = 0;
	int ch, stop, rc = 0;

	memset(&org, 0, sizeof(org));
	memset(&f, 0, sizeof(f));
	f.status = -1;
	err_clear(&e);
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		switch (ch) {
		case 's':
			status = optarg;
			break;
		case 'o':
			orgc = optarg;
			break;
		case 'l':
			if (util_parse_long(optarg, 1, 1000000, &limit) == -1)
				return cli_usage(usage_cert);
			break;
		default:
			rc = cli_common_opt(cli, ch, optarg, usage_cert, &stop);
			if (stop)
				return rc;
		}
	}
	if (optind != argc)
		return cli_usage(usage_cert);
	if (status != NULL) {
		enum ra_cert_status cs;

		if (ra_cert_status_parse(status, &cs) == -1) {
			fprintf(stderr, "shomei: --status: valid, revoked or expired\n");
			return ERR_USAGE;
		}
		f.status = cs == RA_CERT_REVOKED ? STORE_CERT_REVOKED : STORE_CERT_VALID;
		if (cs == RA_CERT_EXPIRED)
			f.expiring_before = util_now();
	}
	f.limit = (size_t)limit;
	if ((rc = admin_open(cli, &ca, &st)) != 0)
		return rc;
	if (orgc != NULL) {
		if (store_org_get(st, orgc, &org, &e) == -1) {
			rc = cli_fail(&e);
			goto out;
		}
		f.org_id = org.id;
	}
	if (store_cert_list(st, &f, &v, &n, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	for (i = 0; i < n; i++) {
		/* "valid" excludes expired ones, as a person reading the list would expect */
		if (status != NULL && strcmp(status, "valid") == 0 && v[i].not_after < util_now())
			continue;
		admin_time(nb, sizeof(nb), v[i].not_before);
		admin_time(na, sizeof(na), v[i].not_after);
		printf("%s\t%s\t%s\t%s\t%s\t%s\n", v[i].serial, admin_status(&v[i]), v[i].profile,
		       na, v[i].subject, v[i].sans ? v[i].sans : "");
	}
out:
	STORE_LIST_FREE(v, n, store_cert_clear);
	store_org_clear(&org);
	store_close(st);
	ca_close(ca);
	return rc;
}

static int
cert_show(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"pem", no_argument, NULL, 'p'},
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct store_cert c;
	struct store_org org;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	const unsigned char *p;
	const char *serial;
	char t1[32], t2[32], t3[32];
	X509 *x = NULL;
	int ch, stop, rc = 0, pem = 0;

	memset(&c, 0, sizeof(c));
	memset(&org, 0, sizeof(org));
	err_clear(&e);
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		if (ch == 'p') {
			pem = 1;
			continue;
		}
		rc = cli_common_opt(cli, ch, optarg, usage_cert, &stop);
		if (stop)
			return rc;
	}
	if (optind + 1 != argc)
		return cli_usage(usage_cert);
	serial = argv[optind];
	if (strncmp(serial, "serial=", 7) == 0)
		serial += 7;
	if ((rc = admin_open(cli, &ca, &st)) != 0)
		return rc;
	if (store_cert_get(st, serial, &c, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	if (pem) {
		p = c.der;
		if ((x = d2i_X509(NULL, &p, (long)c.derlen)) == NULL ||
		    !PEM_write_X509(stdout, x)) {
			err_ssl(&e, ERR_INTERNAL, "cert: stored DER of %s does not parse",
				c.serial);
			rc = cli_fail(&e);
		}
		goto out;
	}
	admin_time(t1, sizeof(t1), c.not_before);
	admin_time(t2, sizeof(t2), c.not_after);
	admin_time(t3, sizeof(t3), c.revoked_at);
	printf("serial:      %s\n", c.serial);
	printf("status:      %s\n", admin_status(&c));
	printf("profile:     %s\n", c.profile);
	printf("subject:     %s\n", c.subject);
	printf("san:         %s\n", c.sans ? c.sans : "-");
	printf("not before:  %s\n", t1);
	printf("not after:   %s\n", t2);
	printf("issuer CA:   %s\n", c.ca);
	if (c.org_id != 0 && store_org_get_id(st, c.org_id, &org, &e) == 0)
		printf("org:         %s\n", org.code);
	if (c.status == STORE_CERT_REVOKED)
		printf("revoked:     %s (%s)\n", t3, ca_reason_name(c.reason < 0 ? 0 : c.reason));
	if (c.predecessor != NULL)
		printf("replaces:    %s\n", c.predecessor);
out:
	X509_free(x);
	store_cert_clear(&c);
	store_org_clear(&org);
	store_close(st);
	ca_close(ca);
	return rc;
}

int
cmd_cert(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return cert_list(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return cert_show(cli, argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_cert, stdout);
		return 0;
	}
	return cli_usage(usage_cert);
}

static const char usage_org[] =
    "usage: shomei org add CODE --name NAME [NAMES]\n"
    "       shomei org set CODE [--name NAME] [NAMES] [--unrestricted | --restricted]\n"
    "       shomei org show CODE\n"
    "       shomei org list\n\n"
    "NAMES (each repeatable; given once or more, it replaces that list; --clear-KIND empties\n"
    "it):\n"
    "  --domain D        DNS domains: dNSNames must lie in one (equal or below)\n"
    "  --mail-domain D   mail domains of rfc822Names (none listed: the DNS domains)\n"
    "  --ip A            IP addresses or prefixes (192.0.2.1, 192.0.2.0/24, 2001:db8::/32)\n"
    "  --uri U           URIs, exact or a prefix ending in /\n"
    "  --clear-domains --clear-mail-domains --clear-ips --clear-uris\n\n"
    "An organization (企業コード) is a member of the CA; its names bound what its certificates\n"
    "may contain, and the RA builds their subject with O = its registered name.  An\n"
    "organization without any name issues nothing until it is --unrestricted (any name;\n"
    "audited like every change).\n";

/* Collects the list options of `org add|set` into c (the arrays live as long as argv). */
struct org_opts {
	const char **v[4];
	size_t n[4];
};

static void
org_list_opt(struct org_opts *o, struct ra_org_list *l, int i, const char *val)
{
	if (val != NULL)
		o->v[i][o->n[i]++] = val;
	else
		o->n[i] = 0; /* --clear-KIND */
	l->v = o->v[i];
	l->n = o->n[i];
	l->set = 1;
}

static void
org_show(const struct store_org *o)
{
	size_t j;

	printf("%s\t%s\t", o->code, o->name);
	for (j = 0; j < o->ndomains; j++)
		printf("%s%s", j ? "," : "", o->domains[j]);
	printf("\n");
}

static void
org_show_long(const struct store_org *o)
{
	size_t j;

	printf("code:          %s\nname:          %s\nunrestricted:  %s\ndomains:      ", o->code,
	       o->name, o->unrestricted ? "yes" : "no");
	for (j = 0; j < o->ndomains; j++)
		printf(" %s", o->domains[j]);
	printf("\nmail domains: ");
	for (j = 0; j < o->nmail_domains; j++)
		printf(" %s", o->mail_domains[j]);
	if (o->nmail_domains == 0)
		printf(" (its domains)");
	printf("\nip:           ");
	for (j = 0; j < o->nips; j++)
		printf(" %s", o->ips[j]);
	printf("\nuri:          ");
	for (j = 0; j < o->nuris; j++)
		printf(" %s", o->uris[j]);
	printf("\n");
}

int
cmd_org(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"domain", required_argument, NULL, 'D'},
	    {"mail-domain", required_argument, NULL, 'M'},
	    {"ip", required_argument, NULL, 'I'},
	    {"uri", required_argument, NULL, 'U'},
	    {"clear-domains", no_argument, NULL, '1'},
	    {"clear-mail-domains", no_argument, NULL, '2'},
	    {"clear-ips", no_argument, NULL, '3'},
	    {"clear-uris", no_argument, NULL, '4'},
	    {"unrestricted", no_argument, NULL, 'u'},
	    {"restricted", no_argument, NULL, 'r'},
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct store_org *v = NULL, one;
	struct ra_org_change c;
	struct org_opts oo;
	struct err e;
	const char *verb;
	size_t n = 0, i;
	int ch, stop, rc = 0, nargs;

	err_clear(&e);
	memset(&oo, 0, sizeof(oo));
	memset(&one, 0, sizeof(one));
	ra_org_change_init(&c);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_org, stdout);
		return 0;
	}
	if (argc < 2 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "list") != 0 &&
			 strcmp(argv[1], "set") != 0 && strcmp(argv[1], "show") != 0))
		return cli_usage(usage_org);
	verb = argv[1];
	nargs = strcmp(verb, "list") == 0 ? 0 : 1;
	argc--;
	argv++;
	for (i = 0; i < 4; i++)
		oo.v[i] = xcalloc((size_t)argc + 1, sizeof(*oo.v[i]));
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		switch (ch) {
		case 'n':
			c.name = optarg;
			break;
		case 'D':
		case '1':
			org_list_opt(&oo, &c.domains, 0, ch == 'D' ? optarg : NULL);
			break;
		case 'M':
		case '2':
			org_list_opt(&oo, &c.mail_domains, 1, ch == 'M' ? optarg : NULL);
			break;
		case 'I':
		case '3':
			org_list_opt(&oo, &c.ips, 2, ch == 'I' ? optarg : NULL);
			break;
		case 'U':
		case '4':
			org_list_opt(&oo, &c.uris, 3, ch == 'U' ? optarg : NULL);
			break;
		case 'u':
		case 'r':
			c.unrestricted = ch == 'u';
			break;
		default:
			rc = cli_common_opt(cli, ch, optarg, usage_org, &stop);
			if (stop)
				goto out;
		}
	}
	if (optind + nargs != argc || (strcmp(verb, "add") == 0 && c.name == NULL)) {
		rc = cli_usage(usage_org);
		goto out;
	}
	if ((rc = admin_open(cli, &ca, &st)) != 0)
		goto out;
	if (strcmp(verb, "add") == 0 || strcmp(verb, "set") == 0) {
		if ((strcmp(verb, "add") == 0
			 ? ra_org_add(st, argv[optind], c.name, &c, "cli:org", &e)
			 : ra_org_set(st, argv[optind], &c, "cli:org", &e)) == -1) {
			rc = cli_fail(&e);
			goto out;
		}
		printf("organization %s %s\n", argv[optind],
		       strcmp(verb, "add") == 0 ? "added" : "changed");
		goto out;
	}
	if (strcmp(verb, "show") == 0) {
		if (store_org_get(st, argv[optind], &one, &e) == -1) {
			rc = cli_fail(&e);
			goto out;
		}
		org_show_long(&one);
		goto out;
	}
	if (store_org_list(st, &v, &n, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	for (i = 0; i < n; i++)
		org_show(&v[i]);
out:
	STORE_LIST_FREE(v, n, store_org_clear);
	store_org_clear(&one);
	for (i = 0; i < 4; i++)
		free(oo.v[i]);
	store_close(st);
	ca_close(ca);
	return rc;
}

static const char usage_ticket[] =
    "usage: shomei ticket create --org CODE --profile PROFILE [--count N]\n"
    "       shomei ticket list --org CODE\n\n"
    "A ticket (チケット番号) entitles its organization to one certificate of a profile.\n";

int
cmd_ticket(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"org", required_argument, NULL, 'o'},   {"profile", required_argument, NULL, 'p'},
	    {"count", required_argument, NULL, 'c'}, {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},	     {NULL, 0, NULL, 0},
	};
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct store_org org;
	struct store_ticket *v = NULL;
	struct err e;
	const char *orgc = NULL, *profile = NULL;
	char **nums = NULL;
	long count = 1;
	size_t n = 0, i;
	int ch, stop, rc = 0, create;

	memset(&org, 0, sizeof(org));
	err_clear(&e);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_ticket, stdout);
		return 0;
	}
	if (argc < 2 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "list") != 0))
		return cli_usage(usage_ticket);
	create = strcmp(argv[1], "create") == 0;
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		switch (ch) {
		case 'o':
			orgc = optarg;
			break;
		case 'p':
			profile = optarg;
			break;
		case 'c':
			if (util_parse_long(optarg, 1, 10000, &count) == -1) {
				fprintf(stderr, "shomei: --count: 1 to 10000\n");
				return ERR_USAGE;
			}
			break;
		default:
			rc = cli_common_opt(cli, ch, optarg, usage_ticket, &stop);
			if (stop)
				return rc;
		}
	}
	if (optind != argc || orgc == NULL || (create && profile == NULL))
		return cli_usage(usage_ticket);
	if ((rc = admin_open(cli, &ca, &st)) != 0)
		return rc;
	if (create) {
		if (ra_ticket_create(st, orgc, profile, (size_t)count, "cli:ticket", &nums, &e) ==
		    -1) {
			rc = cli_fail(&e);
			goto out;
		}
		for (i = 0; i < (size_t)count; i++) {
			printf("%s\n", nums[i]);
			free(nums[i]);
		}
		free(nums);
		goto out;
	}
	if (store_org_get(st, orgc, &org, &e) == -1 ||
	    store_ticket_list(st, org.id, &v, &n, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	for (i = 0; i < n; i++)
		printf("%s\t%s\t%s\t%s\n", v[i].number, v[i].profile, v[i].status,
		       v[i].cert_serial ? v[i].cert_serial : "-");
out:
	STORE_LIST_FREE(v, n, store_ticket_clear);
	store_org_clear(&org);
	store_close(st);
	ca_close(ca);
	return rc;
}

static const char usage_audit[] =
    "usage: shomei audit verify\n"
    "       shomei audit list [--limit N]\n"
    "       shomei audit reconcile\n\n"
    "verify walks the hash chain and reports the first entry that was modified, removed or\n"
    "reordered (exit status 1).  reconcile walks the signer's own log (signer.log) and lists\n"
    "every certificate the signer signed that the store does not hold, every stored one\n"
    "that is not what the signer signed under its serial, and every serial signed twice\n"
    "with different contents (exit status 1 when there is one, or when the log's chain is\n"
    "broken).\n";

/* The signer's log of the data directory's configuration; caller frees. */
static char *
admin_signer_log(const struct ca *ca)
{
	return conf_path(&ca->conf, conf_get(&ca->conf, "signer.log", "signer.log"));
}

struct reconcile_sig {
	char serial[STORE_SERIAL_MAX];
	char sha[65];
};

struct reconcile {
	struct reconcile_sig *v;
	size_t n, cap;
};

static int
reconcile_one(void *arg, const char *kind, const char *id, const char *sha)
{
	struct reconcile *r = arg;

	if (strcmp(kind, "cert") != 0)
		return 0;
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 1024;
		r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	snprintf(r->v[r->n].serial, sizeof(r->v[r->n].serial), "%s", id);
	snprintf(r->v[r->n].sha, sizeof(r->v[r->n].sha), "%s", sha);
	r->n++;
	return 0;
}

static int
reconcile_cmp(const void *a, const void *b)
{
	const struct reconcile_sig *x = a, *y = b;
	int c = strcasecmp(x->serial, y->serial);

	return c != 0 ? c : strcmp(x->sha, y->sha);
}

/* SHA-256 (hex) of a certificate's TBSCertificate, the bytes the signer signed. */
static int
reconcile_tbs_sha(const unsigned char *der, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	struct der_reader in;
	struct der_tlv cert, tbs;

	if (der_parse_one(der, len, &cert) == -1)
		return -1;
	der_reader_enter(&in, &cert);
	if (der_next(&in, &tbs) != 0)
		return -1;
	SHA256(tbs.start, tbs.total, md);
	hex_encode(out, md, sizeof(md));
	return 0;
}

/*
 * Every certificate line of the signer's log against the store: a serial the store lacks
 * (signed, then lost or deleted), a stored certificate that is not what the signer signed
 * under its serial (replaced in the store), and a serial signed twice with different
 * contents.
 */
static int
audit_reconcile(struct ca *ca, struct store *st)
{
	struct reconcile r;
	struct store_cert c;
	char *path = admin_signer_log(ca), last[65], sha[65];
	long long n = 0, missing = 0, altered = 0, twice = 0;
	size_t i, j, k;
	struct err e;
	int rc = 0, found;

	memset(&r, 0, sizeof(r));
	err_clear(&e);
	if (signer_log_verify(path, reconcile_one, &r, &n, last, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	qsort(r.v, r.n, sizeof(*r.v), reconcile_cmp);
	for (i = 0; i < r.n; i = j) {
		for (j = i + 1; j < r.n && strcasecmp(r.v[j].serial, r.v[i].serial) == 0; j++)
			;
		for (k = i + 1; k < j; k++)
			if (strcmp(r.v[k].sha, r.v[i].sha) != 0) {
				printf("signed twice with one serial, different contents: %s\n",
				       r.v[i].serial);
				twice++;
				break;
			}
		memset(&c, 0, sizeof(c));
		err_clear(&e);
		if (store_cert_get(st, r.v[i].serial, &c, &e) == -1) {
			if (e.code != ERR_NOTFOUND) {
				rc = cli_fail(&e);
				goto out;
			}
			printf("signed but not in the store: %s\n", r.v[i].serial);
			missing++;
			continue;
		}
		found = 0;
		if (reconcile_tbs_sha(c.der, c.derlen, sha) == 0)
			for (k = i; k < j && !found; k++)
				found = strcmp(r.v[k].sha, sha) == 0;
		if (!found) {
			printf("in the store, but not the certificate the signer signed: %s\n",
			       r.v[i].serial);
			altered++;
		}
		store_cert_clear(&c);
	}
	if (missing + altered + twice > 0) {
		fprintf(stderr,
			"shomei: audit reconcile: of the %zu certificates the signer signed, %lld "
			"are not in the store, %lld differ from the store's, %lld serials were "
			"signed twice\n",
			r.n, missing, altered, twice);
		rc = ERR_REFUSED;
	} else {
		printf("reconciled: the store holds all %zu certificates of the signer's log, as "
		       "signed (%lld signatures)\n",
		       r.n, n);
	}
out:
	free(r.v);
	free(path);
	return rc;
}

struct audit_print {
	long limit;
	long n;
};

static int
audit_print_one(void *arg, const struct store_audit *a)
{
	struct audit_print *ap = arg;
	char t[32], h[2 * STORE_HASH_LEN + 1];

	admin_time(t, sizeof(t), a->ts);
	hex_encode(h, a->hash, 8);
	printf("%lld\t%s\t%s\t%s\t%s\t%s\t%s\n", (long long)a->seq, t, a->actor, a->action,
	       a->object, a->detail, h);
	return ap->limit > 0 && ++ap->n >= ap->limit;
}

int
cmd_audit(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"limit", required_argument, NULL, 'l'},
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct ca_audit_report r;
	struct audit_print ap;
	struct err e;
	int ch, stop, rc = 0, verify, reconcile, v;

	memset(&ap, 0, sizeof(ap));
	err_clear(&e);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_audit, stdout);
		return 0;
	}
	if (argc < 2 || (strcmp(argv[1], "verify") != 0 && strcmp(argv[1], "list") != 0 &&
			 strcmp(argv[1], "reconcile") != 0))
		return cli_usage(usage_audit);
	verify = strcmp(argv[1], "verify") == 0;
	reconcile = strcmp(argv[1], "reconcile") == 0;
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		if (ch == 'l') {
			if (util_parse_long(optarg, 1, 100000000, &ap.limit) == -1)
				return cli_usage(usage_audit);
			continue;
		}
		rc = cli_common_opt(cli, ch, optarg, usage_audit, &stop);
		if (stop)
			return rc;
	}
	if (optind != argc)
		return cli_usage(usage_audit);
	if ((rc = admin_open(cli, &ca, &st)) != 0)
		return rc;
	if (reconcile) {
		rc = audit_reconcile(ca, st);
		goto out;
	}
	if (!verify) {
		if (store_audit_foreach(st, audit_print_one, &ap, &e) == -1 && err_is_set(&e))
			rc = cli_fail(&e);
		goto out;
	}
	v = ca_audit_verify(st, &r, &e);
	if (v == -1) {
		rc = cli_fail(&e);
	} else if (v == 1) {
		fprintf(stderr, "shomei: audit: chain broken at entry %lld: %s\n",
			(long long)r.bad_seq, r.problem);
		rc = ERR_REFUSED;
	} else {
		printf("audit chain intact: %lld entries\n", (long long)r.entries);
	}
out:
	store_close(st);
	ca_close(ca);
	return rc;
}

static const char usage_signer_log[] =
    "usage: shomei signer-log verify [FILE]\n\n"
    "Walks the hash chain of the signer's own log (signer.log of shomei.conf, or FILE): one\n"
    "line per signature, outside the store.  Prints the number of signatures and the last\n"
    "hash (keep it elsewhere to detect a log cut short), or the first line where the chain\n"
    "breaks (exit status 1).\n";

int
cmd_signer_log(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ca *ca = NULL;
	struct err e;
	char *path = NULL, last[65];
	long long n = 0;
	int ch, stop, rc = 0;

	err_clear(&e);
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		rc = cli_common_opt(cli, ch, optarg, usage_signer_log, &stop);
		if (stop)
			return rc;
	}
	if (optind >= argc || strcmp(argv[optind], "verify") != 0 || argc - optind > 2)
		return cli_usage(usage_signer_log);
	if (argc - optind == 2)
		path = xstrdup(argv[optind + 1]);
	else if (ca_open(cli->datadir, 0, serve_conf_known, &ca, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	} else
		path = admin_signer_log(ca);
	if (signer_log_verify(path, NULL, NULL, &n, last, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	printf("signer log intact: %lld signatures, last hash %s\n", n, last);
out:
	free(path);
	ca_close(ca);
	return rc;
}
