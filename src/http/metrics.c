/*
 * metrics: counters and histograms of the web process, rendered in the Prometheus text
 * format at /metrics.  A small table under one mutex: series are few (routes x codes).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

#define METRICS_MAX 512
#define METRICS_BUCKETS 11

static const double metrics_le[METRICS_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 1, 10,
};

struct metric {
	char *family;
	char *labels; /* NULL for histograms */
	uint64_t value;
	int histogram;
	uint64_t buckets[METRICS_BUCKETS];
	double sum;
};

struct metric_help {
	char *family;
	char *type;
	char *help;
};

static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;
static struct metric metrics[METRICS_MAX];
static size_t nmetrics;
/* open addressing over (family, labels): index + 1 into metrics[], 0 = empty */
#define METRICS_SLOTS 1024
static unsigned short metrics_slot[METRICS_SLOTS];

static unsigned
metrics_hash(const char *family, const char *labels)
{
	unsigned h = 2166136261u;

	for (; *family != '\0'; family++)
		h = (h ^ (unsigned char)*family) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (; labels != NULL && *labels != '\0'; labels++)
		h = (h ^ (unsigned char)*labels) * 16777619u;
	return h;
}
static struct metric_help helps[64];
static size_t nhelps;

/* The series for family+labels, created on first use (mutex held); NULL when full. */
static struct metric *
metrics_get(const char *family, const char *labels, int histogram)
{
	unsigned i = metrics_hash(family, labels) % METRICS_SLOTS, probes;
	struct metric *m;

	for (probes = 0; probes < METRICS_SLOTS; probes++, i = (i + 1) % METRICS_SLOTS) {
		if (metrics_slot[i] == 0)
			break;
		m = &metrics[metrics_slot[i] - 1];
		if (strcmp(m->family, family) == 0 &&
		    ((labels == NULL && m->labels == NULL) ||
		     (labels != NULL && m->labels != NULL && strcmp(m->labels, labels) == 0)))
			return m;
	}
	if (nmetrics == METRICS_MAX || probes == METRICS_SLOTS)
		return NULL;
	metrics[nmetrics].family = xstrdup(family);
	metrics[nmetrics].labels = labels != NULL ? xstrdup(labels) : NULL;
	metrics[nmetrics].histogram = histogram;
	metrics_slot[i] = (unsigned short)(nmetrics + 1);
	return &metrics[nmetrics++];
}

void
metrics_count(const char *family, const char *labels, uint64_t n)
{
	struct metric *m;

	pthread_mutex_lock(&metrics_mu);
	if ((m = metrics_get(family, labels, 0)) != NULL)
		m->value += n;
	pthread_mutex_unlock(&metrics_mu);
}

void
metrics_observe(const char *family, double seconds)
{
	struct metric *m;
	size_t i;

	pthread_mutex_lock(&metrics_mu);
	if ((m = metrics_get(family, NULL, 1)) != NULL) {
		for (i = 0; i < METRICS_BUCKETS; i++)
			if (seconds <= metrics_le[i])
				m->buckets[i]++;
		m->value++;
		m->sum += seconds;
	}
	pthread_mutex_unlock(&metrics_mu);
}

void
metrics_help(const char *family, const char *type, const char *help)
{
	size_t i;

	pthread_mutex_lock(&metrics_mu);
	for (i = 0; i < nhelps; i++)
		if (strcmp(helps[i].family, family) == 0)
			break;
	if (i == nhelps && nhelps < sizeof(helps) / sizeof(helps[0])) {
		helps[i].family = xstrdup(family);
		helps[i].type = xstrdup(type);
		helps[i].help = xstrdup(help);
		nhelps++;
	}
	pthread_mutex_unlock(&metrics_mu);
}

int
metrics_render(struct buf *out)
{
	size_t i, j, k;
	int rc = 0;
	char *seen[METRICS_MAX];
	size_t nseen = 0;

	pthread_mutex_lock(&metrics_mu);
	/* help-registered families first, so they appear even before any sample */
	for (i = 0; i < nhelps; i++) {
		rc |= buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", helps[i].family,
				 helps[i].help, helps[i].family, helps[i].type);
		for (j = 0; j < nmetrics; j++) {
			struct metric *m = &metrics[j];

			if (strcmp(m->family, helps[i].family) != 0)
				continue;
			if (!m->histogram) {
				rc |= buf_printf(out, "%s{%s} %llu\n", m->family,
						 m->labels ? m->labels : "",
						 (unsigned long long)m->value);
				continue;
			}
			for (k = 0; k < METRICS_BUCKETS; k++)
				rc |= buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", m->family,
						 metrics_le[k], (unsigned long long)m->buckets[k]);
			rc |= buf_printf(out,
					 "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n"
					 "%s_count %llu\n",
					 m->family, (unsigned long long)m->value, m->family, m->sum,
					 m->family, (unsigned long long)m->value);
		}
		seen[nseen++] = helps[i].family;
	}
	/* families without help text */
	for (j = 0; j < nmetrics; j++) {
		int known = 0;

		for (k = 0; k < nseen && !known; k++)
			known = strcmp(seen[k], metrics[j].family) == 0;
		if (!known && !metrics[j].histogram)
			rc |= buf_printf(out, "%s{%s} %llu\n", metrics[j].family,
					 metrics[j].labels ? metrics[j].labels : "",
					 (unsigned long long)metrics[j].value);
	}
	pthread_mutex_unlock(&metrics_mu);
	return rc == 0 ? 0 : -1;
}
