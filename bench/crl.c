/*
 * bench/crl: a CRL of N revoked certificates (default 1,000,000) — time and extra memory of
 * the full CRL, time of a delta CRL — and, in the same run, `openssl ca -gencrl` over the
 * same revocations.  Targets: full CRL <= 2 s with <= 100 MB extra memory; delta <= 10 ms.
 *
 * usage: crl [-n REVOKED] [-k]
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "ca/ca.h"

/* Peak resident memory of a process in KiB (VmHWM), or of this one when pid is 0. */
static long
peak_kib(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)(pid ? pid : getpid()));
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmHWM:", 6) == 0)
			v = strtol(line + 6, NULL, 10);
	fclose(f);
	return v;
}

static long
rss_kib(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)(pid ? pid : getpid()));
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			v = strtol(line + 6, NULL, 10);
	fclose(f);
	return v;
}

static void
asn1_time(char *dst, size_t n, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	/* UTCTime as openssl's index.txt wants it: two-digit year */
	snprintf(dst, n, "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const char *const oca_reasons[] = {
    "unspecified",	  "keyCompromise", "CACompromise",
    "affiliationChanged", "superseded",	   "cessationOfOperation",
};

/* Fills the store with n revoked certificates and writes the same as an openssl ca index. */
static void
fill(struct ca *ca, long n, const char *index)
{
	struct store *st = NULL;
	struct store_cert rec;
	struct err e;
	unsigned char serial[16];
	static unsigned char der[] = {0x30, 0x00};
	char exp[64], rev[64];
	time_t now = time(NULL);
	FILE *f;
	long i;

	err_clear(&e);
	if (ca_store_open(ca, &st, &e) == -1)
		fatalx("bench: %s", e.msg);
	if ((f = fopen(index, "w")) == NULL)
		fatalx("bench: cannot write %s", index);
	memset(&rec, 0, sizeof(rec));
	rec.ca = ca->name;
	rec.subject = "CN=revoked.bench.example";
	rec.profile = "server";
	rec.status = STORE_CERT_REVOKED;
	rec.der = der;
	rec.derlen = sizeof(der);
	for (i = 0; i < n; i++) {
		if (i % 20000 == 0 && store_begin(st, &e) == -1)
			fatalx("bench: %s", e.msg);
		util_random(serial, sizeof(serial));
		serial[0] = (unsigned char)(1 + serial[0] % 0x7f);
		hex_encode(rec.serial, serial, sizeof(serial));
		rec.not_before = now - 86400;
		rec.not_after = now + 365 * 86400;
		rec.revoked_at = now - (i % 86400);
		rec.reason = (int)(i % 6);
		rec.created = now;
		if (store_cert_insert(st, &rec, &e) == -1)
			fatalx("bench: %s", e.msg);
		asn1_time(exp, sizeof(exp), rec.not_after);
		asn1_time(rev, sizeof(rev), rec.revoked_at);
		fprintf(f, "R\t%s\t%s,%s\t%s\tunknown\t/CN=revoked.bench.example\n", exp, rev,
			oca_reasons[rec.reason], rec.serial);
		if ((i + 1) % 20000 == 0 || i + 1 == n)
			if (store_commit(st, &e) == -1)
				fatalx("bench: %s", e.msg);
	}
	fclose(f);
	store_close(st);
}

/*
 * Generates one CRL in a child process, so that its peak memory is its own: reports seconds,
 * the child's and the signer's extra peak memory, and the CRL size.
 */
static int
timed_crl(const char *dir, int delta, double *secs, long *extra_kib, long *signer_kib, size_t *size)
{
	int pfd[2];
	pid_t pid;
	double out[4];
	int st;

	if (pipe(pfd) == -1 || (pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		struct ca *ca = NULL;
		struct store *s = NULL;
		struct store_crl crl;
		struct err e;
		long base, sbase;
		double t0, t1;

		close(pfd[0]);
		err_clear(&e);
		memset(&crl, 0, sizeof(crl));
		if (ca_open(dir, CA_OPEN_SIGNER, NULL, &ca, &e) == -1 ||
		    ca_store_open(ca, &s, &e) == -1)
			_exit(1);
		base = rss_kib(0);
		sbase = peak_kib(ca->signer_pid);
		t0 = now_s();
		if (ca_crl_generate(ca, s, delta, "bench", &crl, &e) == -1) {
			fprintf(stderr, "bench: %s\n", e.msg);
			_exit(1);
		}
		t1 = now_s();
		out[0] = t1 - t0;
		out[1] = (double)(peak_kib(0) - base);
		out[2] = (double)(peak_kib(ca->signer_pid) - sbase);
		out[3] = (double)crl.derlen;
		if (write(pfd[1], out, sizeof(out)) != (ssize_t)sizeof(out))
			_exit(1);
		store_crl_clear(&crl);
		store_close(s);
		ca_close(ca);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], out, sizeof(out)) != (ssize_t)sizeof(out)) {
		close(pfd[0]);
		waitpid(pid, NULL, 0);
		return -1;
	}
	close(pfd[0]);
	waitpid(pid, &st, 0);
	*secs = out[0];
	*extra_kib = (long)out[1];
	*signer_kib = (long)out[2];
	*size = (size_t)out[3];
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct ca_init_opts io;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct store_cert rec;
	struct err e;
	char dir[] = "/tmp/shomei-crlbench.XXXXXX";
	char *cmd, *index, line[256];
	long n = 1000000, extra, sextra, dextra, dsextra, omax = 0, i;
	double t, dt, ot = 0, t0;
	size_t size, dsize;
	int ch, keep = 0;
	unsigned char serial[16];
	static unsigned char der[] = {0x30, 0x00};
	FILE *f;

	while ((ch = getopt(argc, argv, "n:k")) != -1) {
		switch (ch) {
		case 'n':
			util_parse_long(optarg, 1, 100000000, &n);
			break;
		case 'k':
			keep = 1;
			break;
		default:
			fprintf(stderr, "usage: crl [-n REVOKED] [-k]\n");
			return 2;
		}
	}
	log_init("bench", 0);
	err_clear(&e);
	if (mkdtemp(dir) == NULL)
		fatalx("bench: mkdtemp");
	memset(&io, 0, sizeof(io));
	io.datadir = dir;
	io.root_key_out = bench_root_key_out(dir);
	io.ca_name = "bench";
	if (ca_init(&io, &e) == -1 || ca_open(dir, 0, NULL, &ca, &e) == -1)
		fatalx("bench: %s", e.msg);
	printf("bench/crl: %ld revoked certificates, P-256 issuing CA, SQLite\n", n);
	fflush(stdout);
	index = xasprintf("%s/index.txt", dir);
	t0 = now_s();
	fill(ca, n, index);
	printf("  (loaded in %.1f s)\n", now_s() - t0);
	fflush(stdout);

	if (timed_crl(dir, 0, &t, &extra, &sextra, &size) == -1)
		fatalx("bench: full CRL failed");
	printf(
	    "shomei full CRL:      %8.3f s, %7.1f MB, extra memory %6.1f MB (+ signer %.1f MB)\n",
	    t, (double)size / 1e6, (double)extra / 1024, (double)sextra / 1024);
	fflush(stdout);

	/* ten more revocations after the full CRL, then the delta */
	if (ca_store_open(ca, &st, &e) == -1)
		fatalx("bench: %s", e.msg);
	sleep(1);
	memset(&rec, 0, sizeof(rec));
	rec.ca = ca->name;
	rec.subject = "CN=late.bench.example";
	rec.profile = "server";
	rec.der = der;
	rec.derlen = sizeof(der);
	rec.not_after = time(NULL) + 86400;
	for (i = 0; i < 10; i++) {
		util_random(serial, sizeof(serial));
		serial[0] = (unsigned char)(1 + serial[0] % 0x7f);
		hex_encode(rec.serial, serial, sizeof(serial));
		if (store_cert_insert(st, &rec, &e) == -1 ||
		    ca_revoke(ca, st, rec.serial, 1, 0, "bench", &e) == -1)
			fatalx("bench: %s", e.msg);
	}
	store_close(st);
	if (timed_crl(dir, 1, &dt, &dextra, &dsextra, &dsize) == -1)
		fatalx("bench: delta CRL failed");
	printf("shomei delta CRL:     %8.3f ms, %zu bytes\n", dt * 1e3, dsize);

	/* openssl ca -gencrl over the same revocations, with the same key (unencrypted) */
	f = fopen(xasprintf("%s/oca.cnf", dir), "w");
	if (f == NULL)
		fatalx("bench: cannot write openssl config");
	fprintf(f,
		"[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = %s\ncertificate = %s/certs/issuing.pem\n"
		"private_key = %s/oca.key\ndefault_md = sha256\ndefault_crl_hours = 24\n"
		"crlnumber = %s/crlnumber\n",
		index, dir, dir, dir);
	fclose(f);
	cmd =
	    xasprintf("cd %s && echo 01 > crlnumber && openssl pkey -in keys/issuing.key.pem "
		      "-passin file:keys/passphrase -out oca.key && /usr/bin/time -f '%%e %%M' -o "
		      "oca.time openssl ca -gencrl -config oca.cnf -out oca.crl 2>/dev/null",
		      dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: openssl ca -gencrl failed\n");
	free(cmd);
	cmd = xasprintf("%s/oca.time", dir);
	if ((f = fopen(cmd, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL) {
			char *endp;

			ot = strtod(line, &endp);
			omax = strtol(endp, NULL, 10);
		}
		fclose(f);
	}
	free(cmd);
	printf("openssl ca -gencrl:   %8.3f s, peak memory %6.1f MB\n", ot, (double)omax / 1024);
	if (ot > 0)
		printf("ratio openssl / shomei (full CRL time): %.1fx\n", ot / t);
	printf("targets: full <= 2 s: %s; extra memory <= 100 MB: %s; delta <= 10 ms: %s\n",
	       t <= 2 ? "met" : "NOT met", extra / 1024 <= 100 ? "met" : "NOT met",
	       dt <= 0.010 ? "met" : "NOT met");
	ca_close(ca);
	if (!keep) {
		cmd = xasprintf("rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench: could not remove %s\n", dir);
		free(cmd);
	} else {
		printf("kept %s\n", dir);
	}
	free(index);
	return 0;
}
