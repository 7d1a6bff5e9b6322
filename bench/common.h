/* common: small helpers shared by the benchmark programs (each includes this once). */
#ifndef SHOMEI_BENCH_COMMON_H
#define SHOMEI_BENCH_COMMON_H

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Monotonic seconds. */
static __attribute__((unused)) double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system, all threads) a process has used, from /proc/PID/stat; 0 when
 * it cannot be read. */
static __attribute__((unused)) double
proc_cpu_s(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL || (p = strrchr(line, ')')) == NULL) {
		fclose(f);
		return 0;
	}
	fclose(f);
	/* p is at the ')' that ends field 2; each step moves it to the blank before field i
	 * (3 is the state, 14 utime, 15 stime) */
	for (i = 3; i <= 15 && p != NULL; i++) {
		p = strchr(p + 1, ' ');
		if (p != NULL && i == 14)
			ut = strtoul(p + 1, NULL, 10);
		if (p != NULL && i == 15)
			st = strtoul(p + 1, NULL, 10);
	}
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Where a benchmark's ca_init() puts the root key: inside its scratch directory. */
static inline const char *
bench_root_key_out(const char *dir)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/offline/root.key.pem", dir);
	return path;
}

#endif
