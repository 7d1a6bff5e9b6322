/*
 * bench/issue: certificates per second through the real issuance path — CSR parse and
 * verify, build, lint, signer IPC (a real signer process), durable store (SQLite WAL,
 * synchronous=FULL, group commit) with audit entries — and, in the same run, the same CSRs
 * through `openssl ca -batch`: once as one process per request (how operators script it) and
 * once with -infiles (one process for all, openssl's fastest mode).  Prints rates and ratios.
 *
 * usage: issue [-n CERTS] [-t THREADS] [-b BATCH] [-s OPENSSL_SINGLE_SAMPLE] [-k] [-S STORE]...
 *              [-x]
 * (-x: shomei only, for profiling; -k: keep the data directory)
 *
 * -S STORE (at most 4 times): the store of a run, "sqlite" for the default (SQLite in the data
 * directory) or a PostgreSQL connection string.  With several, shomei issues the same CSRs
 * into each in turn, each with a CA of its own, and prints each rate and its ratio to the
 * first; for PostgreSQL it prints the server's fsync and synchronous_commit.  Side by side:
 *
 *	scripts/with-pg.sh sh -c 'build/bench/issue -x -S sqlite -S "$SHOMEI_TEST_PG"'
 *	scripts/with-pg.sh sh -c \
 *	    'make bench BENCHES=issue BENCH_ARGS="-S sqlite -S \"$SHOMEI_TEST_PG\""'
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <libpq-fe.h>

#include "common.h"
#include "ca/ca.h"

struct job {
	struct ca *ca;
	unsigned char **csr;
	size_t *csrlen;
	size_t from, to;
	int failed;
};

/* A P-256 CSR for host<i>.bench.example with a matching DNS SAN, as DER and as a PEM file. */
static void
make_csr(size_t i, const char *dir, unsigned char **der, size_t *derlen, int write_file)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext;
	char cn[64], san[80], *path;
	unsigned char *p = NULL;
	FILE *f;
	int len;

	snprintf(cn, sizeof(cn), "host%zu.bench.example", i);
	snprintf(san, sizeof(san), "DNS:%s", cn);
	if (k == NULL || req == NULL || n == NULL || exts == NULL)
		fatalx("bench: out of memory");
	X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_subject_name(req, n);
	X509_REQ_set_pubkey(req, k);
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	sk_X509_EXTENSION_push(exts, ext);
	X509_REQ_add_extensions(req, exts);
	if (!X509_REQ_sign(req, k, EVP_sha256()) || (len = i2d_X509_REQ(req, &p)) <= 0)
		fatalx("bench: cannot make CSR");
	*der = p;
	*derlen = (size_t)len;
	if (write_file) { /* for openssl ca */
		path = xasprintf("%s/%zu.csr", dir, i);
		if ((f = fopen(path, "w")) == NULL || !PEM_write_X509_REQ(f, req))
			fatalx("bench: cannot write %s", path);
		fclose(f);
		free(path);
	}
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(n);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
}

static void *
worker(void *arg)
{
	struct job *j = arg;
	struct store *st = NULL;
	struct ca_issue_req req;
	struct ca_issued out;
	struct err e;
	size_t i;

	err_clear(&e);
	if (ca_store_open(j->ca, &st, &e) == -1) {
		fprintf(stderr, "bench: %s\n", e.msg);
		j->failed++;
		return NULL;
	}
	for (i = j->from; i < j->to; i++) {
		memset(&req, 0, sizeof(req));
		req.profile = "server";
		req.csr = j->csr[i];
		req.csrlen = j->csrlen[i];
		req.actor = "bench";
		err_clear(&e);
		if (ca_issue(j->ca, st, &req, &out, &e) == -1) {
			fprintf(stderr, "bench: %s\n", e.msg);
			j->failed++;
			continue;
		}
		ca_issued_clear(&out);
	}
	store_close(st);
	return NULL;
}

static int
run(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

#define STORES_MAX 4

/* What a run of shomei was given and measured. */
struct shomei_run {
	const char *spec; /* NULL: the default store (SQLite in the data directory) */
	char *dir;	  /* its data directory */
	double rate;
	int failed;
};

/* "postgresql (fsync=on, synchronous_commit=on)" or "sqlite": what a run's store is. */
static void
store_label(const char *spec, char *out, size_t n)
{
	PGconn *c;
	PGresult *r1, *r2;

	if (spec == NULL || strncmp(spec, "sqlite:", 7) == 0) {
		snprintf(out, n, "sqlite (WAL, synchronous=FULL)");
		return;
	}
	c = PQconnectdb(spec);
	r1 = PQexec(c, "SHOW fsync");
	r2 = PQexec(c, "SHOW synchronous_commit");
	snprintf(out, n, "postgresql %s (fsync=%s, synchronous_commit=%s)",
		 PQparameterStatus(c, "server_version") ? PQparameterStatus(c, "server_version")
							: "?",
		 PQresultStatus(r1) == PGRES_TUPLES_OK ? PQgetvalue(r1, 0, 0) : "?",
		 PQresultStatus(r2) == PGRES_TUPLES_OK ? PQgetvalue(r2, 0, 0) : "?");
	PQclear(r1);
	PQclear(r2);
	PQfinish(c);
}

/*
 * Initialises a CA in r->dir with r->spec as its store and issues the n CSRs from threads
 * writers through the group commit; prints the rate and the CPU used.
 */
static void
shomei_issue(struct shomei_run *r, unsigned char **csr, size_t *csrlen, long n, long threads,
	     long batch)
{
	struct ca_init_opts io;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct err e;
	struct job *jobs;
	pthread_t *th;
	double t0, t1, c0, c1, s0, s1, rtt_us;
	int64_t count = 0;
	char label[160];
	size_t i;

	err_clear(&e);
	memset(&io, 0, sizeof(io));
	io.datadir = r->dir;
	io.root_key_out = bench_root_key_out(r->dir);
	io.key_type = "p256";
	io.ca_name = "bench";
	io.store = r->spec;
	if (ca_init(&io, &e) == -1)
		fatalx("bench: init: %s", e.msg);
	if (ca_open(r->dir, CA_OPEN_SIGNER, NULL, &ca, &e) == -1 ||
	    ca_batch_start(ca, (size_t)batch, &e) == -1)
		fatalx("bench: %s", e.msg);
	jobs = xcalloc((size_t)threads, sizeof(*jobs));
	th = xcalloc((size_t)threads, sizeof(*th));
	c0 = proc_cpu_s(getpid());
	s0 = proc_cpu_s(ca->signer_pid);
	t0 = now_s();
	for (i = 0; i < (size_t)threads; i++) {
		jobs[i].ca = ca;
		jobs[i].csr = csr;
		jobs[i].csrlen = csrlen;
		jobs[i].from = i * (size_t)n / (size_t)threads;
		jobs[i].to = (i + 1) * (size_t)n / (size_t)threads;
		pthread_create(&th[i], NULL, worker, &jobs[i]);
	}
	for (i = 0; i < (size_t)threads; i++) {
		pthread_join(th[i], NULL);
		r->failed += jobs[i].failed;
	}
	t1 = now_s();
	c1 = proc_cpu_s(getpid());
	s1 = proc_cpu_s(ca->signer_pid);
	rtt_us = ca->signer->requests
		     ? (double)ca->signer->nanos / (double)ca->signer->requests / 1e3
		     : 0;
	r->rate = (double)n / (t1 - t0);
	if (ca_store_open(ca, &st, &e) == -1 || store_cert_count(st, -1, &count, &e) == -1)
		fatalx("bench: %s", e.msg);
	store_close(st);
	store_label(r->spec, label, sizeof(label));
	printf("shomei issue, %s:\n", label);
	printf("                            %7ld certs in %7.3f s = %9.0f certs/s "
	       "(%ld threads, group commit <= %ld, %lld rows durable, %d failed)\n",
	       n, t1 - t0, r->rate, threads, batch, (long long)count, r->failed);
	printf("  CPU per certificate: %.0f us issuing process + %.0f us signer "
	       "(%.0f%% of 2 cores busy, the database server's not counted)\n",
	       (c1 - c0) / (double)n * 1e6, (s1 - s0) / (double)n * 1e6,
	       ((c1 - c0) + (s1 - s0)) / (t1 - t0) / 2 * 100);
	printf("  signer round trip: %.0f us mean over %llu requests\n", rtt_us,
	       (unsigned long long)ca->signer->requests);
	fflush(stdout);
	ca_close(ca);
	free(jobs);
	free(th);
}

int
main(int argc, char **argv)
{
	struct shomei_run runs[STORES_MAX];
	struct err e;
	unsigned char **csr;
	size_t *csrlen;
	char dir[] = "/tmp/shomei-bench.XXXXXX";
	char *csrdir, *ocadir, *cmd;
	long n = 20000, threads = 32, batch = 512, single = 200;
	int ch, keep = 0, failed = 0, only_shomei = 0;
	size_t i, chunk = 2000, nruns = 0;
	double t0, t1, shomei_rate, oca_batch_rate, oca_single_rate;
	FILE *f;

	memset(runs, 0, sizeof(runs));

	while ((ch = getopt(argc, argv, "n:t:b:s:kS:x")) != -1) {
		switch (ch) {
		case 'n':
			util_parse_long(optarg, 1, 10000000, &n);
			break;
		case 't':
			util_parse_long(optarg, 1, 256, &threads);
			break;
		case 'b':
			util_parse_long(optarg, 1, 100000, &batch);
			break;
		case 's':
			util_parse_long(optarg, 1, 100000, &single);
			break;
		case 'k':
			keep = 1;
			break;
		case 'S':
			if (nruns == STORES_MAX)
				fatalx("bench: at most %d stores (-S)", STORES_MAX);
			runs[nruns++].spec = strcmp(optarg, "sqlite") == 0 ? NULL : optarg;
			break;
		case 'x':
			only_shomei = 1;
			break;
		default:
			fprintf(stderr,
				"usage: issue [-n N] [-t THREADS] [-b BATCH] [-s SAMPLE] [-k]"
				" [-S STORE] [-x]\n");
			return 2;
		}
	}
	if (single > n)
		single = n;
	if (nruns == 0)
		nruns = 1; /* the default store */
	log_init("bench", 0);
	err_clear(&e);
	if (mkdtemp(dir) == NULL)
		fatalx("bench: mkdtemp");
	/* the first run's CA is in dir itself (openssl ca uses its key), the others' beside */
	for (i = 0; i < nruns; i++)
		runs[i].dir = i == 0 ? xstrdup(dir) : xasprintf("%s/run%zu", dir, i);
	csrdir = xasprintf("%s/csr", dir);
	ocadir = xasprintf("%s/oca", dir);
	mkdir(csrdir, 0755);
	mkdir(ocadir, 0755);

	printf("bench/issue: %ld P-256 CSRs, P-256 issuing CA, profile server, %ld concurrent "
	       "requests\n",
	       n, threads);
	fflush(stdout);
	csr = xcalloc((size_t)n, sizeof(*csr));
	csrlen = xcalloc((size_t)n, sizeof(*csrlen));
	for (i = 0; i < (size_t)n; i++)
		make_csr(i, csrdir, &csr[i], &csrlen[i], !only_shomei);

	/* ---- shomei, on each store in turn ---- */
	for (i = 0; i < nruns; i++) {
		shomei_issue(&runs[i], csr, csrlen, n, threads, batch);
		failed += runs[i].failed;
	}
	for (i = 1; i < nruns; i++)
		printf("ratio run %zu / run 1 (%s / %s): %.2f\n", i + 1,
		       runs[i].spec != NULL ? "postgresql" : "sqlite",
		       runs[0].spec != NULL ? "postgresql" : "sqlite", runs[i].rate / runs[0].rate);
	for (i = 0; i < nruns; i++)
		if (runs[i].spec != NULL)
			printf("target >= 5000 certs/s on postgresql (issue 16): %s\n",
			       runs[i].rate >= 5000 ? "met" : "NOT met");
	shomei_rate = runs[0].rate;
	fflush(stdout);
	if (only_shomei)
		goto done;

	/* ---- openssl ca, same CA key and certificate, same extensions ---- */
	f = fopen(xasprintf("%s/ca.cnf", ocadir), "w");
	if (f == NULL)
		fatalx("bench: cannot write openssl ca config");
	fprintf(
	    f,
	    "[ ca ]\ndefault_ca = d\n[ d ]\ndir = %s\ndatabase = $dir/index.txt\n"
	    "new_certs_dir = $dir/certs\ncertificate = %s/certs/issuing.pem\n"
	    "private_key = $dir/ca.key\nserial = $dir/serial\n"
	    "default_md = sha256\ndefault_days = 397\npolicy = p\ncopy_extensions = copy\n"
	    "unique_subject = no\nx509_extensions = x\n[ p ]\ncommonName = supplied\n"
	    "[ x ]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n"
	    "extendedKeyUsage = serverAuth\nsubjectKeyIdentifier = hash\n"
	    "authorityKeyIdentifier = keyid\n"
	    "crlDistributionPoints = URI:http://localhost:8080/crl/bench.crl\n"
	    "authorityInfoAccess = OCSP;URI:http://localhost:8080/ocsp,"
	    "caIssuers;URI:http://localhost:8080/ca/bench.crt\n",
	    ocadir, dir);
	fclose(f);
	/* openssl's best case: the same key, decrypted once here instead of at every run */
	cmd = xasprintf("openssl pkey -in %s/keys/issuing.key.pem -passin file:%s/keys/passphrase "
			"-out %s/ca.key",
			dir, dir, ocadir);
	if (run(cmd) != 0)
		fatalx("bench: cannot export the CA key for openssl ca");
	free(cmd);
	cmd = xasprintf("cd %s && mkdir -p certs && : > index.txt && echo 01 > serial", ocadir);
	run(cmd);
	free(cmd);

	/* one process per request */
	t0 = now_s();
	for (i = 0; i < (size_t)single; i++) {
		cmd = xasprintf("openssl ca -batch -config %s/ca.cnf -notext -out /dev/null "
				"-in %s/%zu.csr >/dev/null 2>&1",
				ocadir, csrdir, i);
		if (run(cmd) != 0)
			fatalx("bench: openssl ca failed: %s", cmd);
		free(cmd);
	}
	t1 = now_s();
	oca_single_rate = (double)single / (t1 - t0);
	printf("openssl ca (1 per process): %7ld certs in %7.3f s = %9.0f certs/s\n", single,
	       t1 - t0, oca_single_rate);
	fflush(stdout);

	/* everything through -infiles, in chunks (argument length) */
	cmd = xasprintf("cd %s && : > index.txt && rm -f index.txt.* && echo 01 > serial", ocadir);
	run(cmd);
	free(cmd);
	t0 = now_s();
	for (i = 0; i < (size_t)n; i += chunk) {
		struct buf b;
		size_t j;

		buf_init(&b, 64 * 1024 * 1024);
		buf_printf(&b,
			   "openssl ca -batch -config %s/ca.cnf -notext -out /dev/null -infiles",
			   ocadir);
		for (j = i; j < i + chunk && j < (size_t)n; j++)
			buf_printf(&b, " %s/%zu.csr", csrdir, j);
		buf_printf(&b, " >/dev/null 2>&1");
		if (run(buf_cstr(&b)) != 0)
			fatalx("bench: openssl ca -infiles failed");
		buf_free(&b);
	}
	t1 = now_s();
	oca_batch_rate = (double)n / (t1 - t0);
	printf("openssl ca -infiles:        %7ld certs in %7.3f s = %9.0f certs/s\n", n, t1 - t0,
	       oca_batch_rate);
	printf("ratio shomei / openssl ca (1 per process): %6.1fx   (target >= 20x)\n",
	       shomei_rate / oca_single_rate);
	printf("ratio shomei / openssl ca -infiles:        %6.1fx\n", shomei_rate / oca_batch_rate);
	printf("target >= 3000 certs/s: %s\n", shomei_rate >= 3000 ? "met" : "NOT met");
	printf("note: shomei's certificates are durable (fsync'ed, with audit entries) and its CA "
	       "key is encrypted in a separate process; openssl ca gets the key unencrypted and "
	       "writes index.txt without fsync\n");

done:
	if (!keep) {
		cmd = xasprintf("rm -rf %s", dir);
		run(cmd);
		free(cmd);
	} else {
		printf("kept %s\n", dir);
	}
	for (i = 0; i < (size_t)n; i++)
		OPENSSL_free(csr[i]);
	free(csr);
	free(csrlen);
	for (i = 0; i < nruns; i++)
		free(runs[i].dir);
	free(csrdir);
	free(ocadir);
	return failed ? 1 : 0;
}
