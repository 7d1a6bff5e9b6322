/*
 * pub: publication endpoints of the web process — CRLs (full and delta, RFC 5280) and CA
 * certificates (DER for AIA caIssuers, PEM chain), with caching headers — and the CRL schedule.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/sha.h>

#include "ca/ca.h"
#include "serve/serve.h"
#include "util/timefmt.h"

#define PUB_ROOT_CRL_MAX_AGE 3600

/*
 * The CRLs being served, in memory: one blob per CRL (full, delta, root), shared by
 * reference by every response sending it, so a thousand slow readers of a 50 MB CRL hold
 * one copy, and a 304 or a HEAD costs no store access.  The store is asked for the newest
 * CRL's number at most once per PUB_CRL_RECHECK seconds (another front end, or `shomei crl`,
 * may have made one); its bytes are read only when the number changed.
 */
#define PUB_CRL_RECHECK 1
/* a full and a delta CRL per issuing CA (ca->cas[i]: slots 2i, 2i + 1), then the root's */
#define PUB_CRL_SLOTS (2 * (1 + CA_PREV_MAX) + 1)
#define PUB_CRL_ROOT_SLOT (PUB_CRL_SLOTS - 1)

struct pub_crl_blob {
	int refs; /* atomic */
	int64_t number;
	time_t this_update, next_update;
	char etag[40];
	size_t len;
	unsigned char der[];
};

static struct {
	pthread_mutex_t mu;
	struct pub_crl_blob *cur[PUB_CRL_SLOTS];
	time_t checked[PUB_CRL_SLOTS];
} pub_crls = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void
pub_blob_unref(void *arg)
{
	struct pub_crl_blob *b = arg;

	if (b != NULL && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

static struct pub_crl_blob *
pub_blob_new(const struct store_crl *crl)
{
	struct pub_crl_blob *b = xmalloc(sizeof(*b) + crl->derlen);
	unsigned char md[SHA256_DIGEST_LENGTH];

	b->refs = 1; /* the slot's */
	b->number = crl->number;
	b->this_update = crl->this_update;
	b->next_update = crl->next_update;
	b->len = crl->derlen;
	memcpy(b->der, crl->der, crl->derlen);
	SHA256(crl->der, crl->derlen, md);
	b->etag[0] = '"';
	hex_encode(b->etag + 1, md, 16);
	memcpy(b->etag + 33, "\"", 2);
	return b;
}

/* The next request for the slot's CRL asks the store (a CRL was made here). */
static void
pub_crl_recheck(int slot)
{
	pthread_mutex_lock(&pub_crls.mu);
	pub_crls.checked[slot] = 0;
	pthread_mutex_unlock(&pub_crls.mu);
}

/* The slot's blob with a reference for the caller, or NULL when it is due for a check. */
static struct pub_crl_blob *
pub_blob_fresh(int slot, time_t now, int64_t number)
{
	struct pub_crl_blob *b;

	pthread_mutex_lock(&pub_crls.mu);
	b = pub_crls.cur[slot];
	if (b != NULL &&
	    (number < 0 ? now - pub_crls.checked[slot] < PUB_CRL_RECHECK : b->number == number)) {
		__atomic_add_fetch(&b->refs, 1, __ATOMIC_ACQ_REL);
		if (number >= 0)
			pub_crls.checked[slot] = now;
	} else
		b = NULL;
	pthread_mutex_unlock(&pub_crls.mu);
	return b;
}

/*
 * The newest CRL of the slot: from memory while it was checked within the last second or
 * its number is still the newest; else read from the store and kept.  NULL with e set.
 */
static struct pub_crl_blob *
pub_crl_blob(struct ca *ca, int slot, const char *which, int delta, struct err *e)
{
	struct pub_crl_blob *b, *old;
	struct store_crl crl;
	struct store *st;
	time_t now = util_now();

	if ((b = pub_blob_fresh(slot, now, -1)) != NULL) {
		metrics_count("shomei_crl_served_total", "source=\"memory\"", 1);
		return b;
	}
	memset(&crl, 0, sizeof(crl));
	if ((st = ca_thread_store(ca, e)) == NULL ||
	    store_crl_latest_info(st, which, delta, &crl, e) == -1)
		return NULL;
	if ((b = pub_blob_fresh(slot, now, crl.number)) != NULL) {
		metrics_count("shomei_crl_served_total", "source=\"memory\"", 1);
		store_crl_clear(&crl);
		return b;
	}
	store_crl_clear(&crl);
	if (store_crl_latest(st, which, delta, &crl, e) == -1)
		return NULL;
	b = pub_blob_new(&crl);
	store_crl_clear(&crl);
	metrics_count("shomei_crl_served_total", "source=\"store\"", 1);
	pthread_mutex_lock(&pub_crls.mu);
	old = pub_crls.cur[slot];
	if (old != NULL && old->number > b->number) {
		/* another thread kept a newer one meanwhile: serve that */
		pub_blob_unref(b);
		b = old;
	} else {
		pub_crls.cur[slot] = b;
		pub_crls.checked[slot] = now;
		if (old != NULL)
			pub_blob_unref(old);
	}
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&pub_crls.mu);
	return b;
}

/*
 * GET /crl/<name>.crl and /crl/<name>-delta.crl of each issuing CA (the current one and those
 * a CA switch left behind), and /crl/<root.name>.crl (the root's, signed offline by `shomei ca
 * root-crl`): the newest stored CRL, DER.
 */
int
pub_crl_get(struct http_req *r)
{
	struct ca *ca = r->app;
	struct pub_crl_blob *b;
	struct err e;
	char full[128], delta[128], root[128], lm[64], ex[64], maxage[64];
	const char *name = r->url + strlen("/crl/"), *inm, *which = NULL;
	int isdelta = 0, slot = -1, rc;
	size_t i;
	long left;

	err_clear(&e);
	for (i = 0; i < ca->ncas && slot < 0; i++) {
		snprintf(full, sizeof(full), "%s.crl", ca->cas[i].name);
		snprintf(delta, sizeof(delta), "%s-delta.crl", ca->cas[i].name);
		if (strcmp(name, full) == 0 || strcmp(name, delta) == 0) {
			isdelta = strcmp(name, delta) == 0;
			slot = 2 * (int)i + isdelta;
			which = ca->cas[i].name;
		}
	}
	snprintf(root, sizeof(root), "%s.crl", ca->root_crl_name);
	if (slot < 0 && strcmp(name, root) == 0) {
		slot = PUB_CRL_ROOT_SLOT;
		which = ca->root_crl_name;
	}
	if (slot < 0)
		return http_reply_text(r, 404, "no such CRL\n");
	if ((b = pub_crl_blob(ca, slot, which, isdelta, &e)) == NULL) {
		if (e.code == ERR_NOTFOUND)
			return http_reply_text(r, 404, "no CRL has been generated yet\n");
		log_warn("crl: %s", e.msg);
		return http_reply_text(r, 503, "CRL temporarily unavailable\n");
	}
	timefmt_http(b->this_update, lm, sizeof(lm));
	timefmt_http(b->next_update, ex, sizeof(ex));
	left = (long)(b->next_update - util_now());
	/* a root CRL lasts a year: caches must not keep it that long, or the emergency
	 * revocation of an issuing CA would not reach relying parties behind them */
	if (slot == PUB_CRL_ROOT_SLOT && left > PUB_ROOT_CRL_MAX_AGE) {
		left = PUB_ROOT_CRL_MAX_AGE;
		timefmt_http(util_now() + left, ex, sizeof(ex));
	}
	snprintf(maxage, sizeof(maxage), "public, max-age=%ld, no-transform", left > 0 ? left : 0);
	inm = http_header(r, "If-None-Match");
	{
		const char *h[] = {"ETag", b->etag,	    "Last-Modified", lm,  "Expires",
				   ex,	   "Cache-Control", maxage,	     NULL};

		if (inm != NULL && strcmp(inm, b->etag) == 0) {
			rc = http_reply_hdrs(r, 304, NULL, "", 0, h);
			pub_blob_unref(b);
		} else /* the response holds the reference until it is sent */
			rc = http_reply_shared(r, 200, "application/pkix-crl", b->der, b->len, h,
					       pub_blob_unref, b);
	}
	return rc;
}

/*
 * GET /ca/<name>.crt (an issuing CA, DER), /ca/<name>.pem (its chain) for the current issuing
 * CA and each previous one (both chains during a CA switch), /ca/<root.name>.crt.
 */
int
pub_ca_get(struct http_req *r)
{
	struct ca *ca = r->app;
	const char *name = r->url + strlen("/ca/");
	char crt[128], pem[128];
	const char *h[] = {"Cache-Control", "public, max-age=86400", NULL};
	unsigned char *der = NULL;
	X509 *x = NULL, *chain = NULL;
	BIO *b = NULL;
	size_t i;
	char *p;
	long n;
	int len, rc;

	for (i = 0; i < ca->ncas && x == NULL && chain == NULL; i++) {
		snprintf(crt, sizeof(crt), "%s.crt", ca->cas[i].name);
		snprintf(pem, sizeof(pem), "%s.pem", ca->cas[i].name);
		if (strcmp(name, crt) == 0)
			x = ca->cas[i].cert;
		else if (strcmp(name, pem) == 0)
			chain = ca->cas[i].cert;
	}
	snprintf(crt, sizeof(crt), "%s.crt", ca->root_crl_name);
	if (x == NULL && chain == NULL && strcmp(name, crt) == 0)
		x = ca->root;
	if (x != NULL) {
		if ((len = i2d_X509(x, &der)) <= 0)
			return -1;
		rc = http_reply_hdrs(r, 200, "application/pkix-cert", der, (size_t)len, h);
		OPENSSL_free(der);
		return rc;
	}
	if (chain == NULL)
		return http_reply_text(r, 404, "no such CA certificate\n");
	if ((b = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509(b, chain) ||
	    !PEM_write_bio_X509(b, ca->root)) {
		BIO_free(b);
		return -1;
	}
	n = BIO_get_mem_data(b, &p);
	rc = http_reply_hdrs(r, 200, "application/x-pem-file", p, (size_t)n, h);
	BIO_free(b);
	return rc;
}

/* Plain HTTP: the CRLs and the CA certificates (the URLs in every certificate's CDP and AIA). */
const struct http_route pub_http_routes[] = {
    {"GET", "/crl/", pub_crl_get, 0, HTTP_KIND_BINARY, "crl", 0, 0},
    {"GET", "/ca/", pub_ca_get, 0, HTTP_KIND_BINARY, "ca", 0, 0},
    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
};

/* HTTPS: the CA certificates only (the chain for clients of the portal and the API). */
const struct http_route pub_https_routes[] = {
    {"GET", "/ca/", pub_ca_get, 0, HTTP_KIND_BINARY, "ca", 0, 0},
    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
};

/*
 * The CRL schedule: a full CRL when the newest is older than crl.interval_minutes (default
 * 60) or absent, a delta CRL when the newest delta is older than crl.delta_interval_minutes
 * (default 15).  Several front ends on one database each check the newest CRL first, so they
 * rarely duplicate work (and a duplicate CRL is harmless).  A test instance may count both
 * in seconds (test.crl_interval_seconds, test.crl_delta_interval_seconds) and then checks
 * every 200 ms instead of every 10 s.
 */
struct pub_sched {
	struct ca *ca;
	/* previous issuing CAs: whether one still has an unexpired certificate, and when asked */
	int live[1 + CA_PREV_MAX];
	time_t live_checked[1 + CA_PREV_MAX];
	volatile int stop;
	pthread_t thread;
	int started;
};

static struct pub_sched sched;

static int
pub_crl_due(struct store *st, const char *name, int delta, long seconds, int *due, struct err *e)
{
	struct store_crl crl;
	struct err e2;

	memset(&crl, 0, sizeof(crl));
	err_clear(&e2);
	*due = 0;
	if (store_crl_latest_info(st, name, delta, &crl, &e2) == -1) {
		if (e2.code != ERR_NOTFOUND)
			return err_set(e, e2.code, "%s", e2.msg);
		*due = 1;
		return 0;
	}
	*due = util_now() - crl.this_update >= seconds;
	store_crl_clear(&crl);
	return 0;
}

/*
 * Warns in the log when the root CRL is missing or within root_crl.warn_days of its
 * nextUpdate: only the operator with the offline root key can renew it.
 */
static void
pub_root_crl_warn(struct ca *ca)
{
	struct store *st;
	struct err e;
	long warn;

	err_clear(&e);
	if (conf_get_long(&ca->conf, "root_crl.warn_days", CA_ROOT_CRL_WARN_DAYS_DEFAULT, 0,
			  CA_ROOT_CRL_DAYS_MAX, &warn, &e) == -1 ||
	    (st = ca_thread_store(ca, &e)) == NULL ||
	    ca_root_crl_check(st, ca->root_crl_name, warn, util_now(), &e) == -1)
		log_warn("root CRL: %s", e.msg);
}

/*
 * The test instance's CRL intervals in seconds (0: not set); set without test.instance =
 * yes, they are refused.
 */
static int
pub_test_intervals(const struct conf *c, long *full_s, long *delta_s, struct err *e)
{
	int test = strcmp(conf_get(c, "test.instance", "no"), "yes") == 0;

	*full_s = *delta_s = 0;
	if (conf_get_long(c, "test.crl_interval_seconds", 0, 0, 3600, full_s, e) == -1 ||
	    conf_get_long(c, "test.crl_delta_interval_seconds", 0, 0, 3600, delta_s, e) == -1)
		return -1;
	if (!test && (*full_s > 0 || *delta_s > 0))
		return err_set(e, ERR_REFUSED,
			       "test.crl_interval_seconds and test.crl_delta_interval_seconds "
			       "need test.instance = yes");
	return 0;
}

/*
 * A previous issuing CA publishes CRLs until its last certificate expires (asked hourly);
 * then the schedule says once that its prevN.* lines can go and stops.  The current CA always.
 */
static int
pub_sched_live(struct pub_sched *s, struct store *st, size_t k)
{
	const char *name = s->ca->cas[k].name;
	struct err e;
	int live;

	if (k == 0)
		return 1;
	if (s->live_checked[k] != 0 && util_now() - s->live_checked[k] < 3600)
		return s->live[k];
	err_clear(&e);
	/* RFC 5280 5.1.2.6: a revoked certificate stays on one scheduled CRL after it expires */
	if (store_cert_ca_live(st, name, util_now() - s->ca->crl_hours * 3600, &live, &e) == -1) {
		log_warn("crl schedule: %s: %s", name, e.msg);
		return 1; /* publish rather than let a CRL lapse */
	}
	if (!live && (s->live[k] || s->live_checked[k] == 0))
		log_info("crl schedule: the previous issuing CA %s has no unexpired certificate "
			 "left: its CRLs end here, and its prev.* lines may leave shomei.conf",
			 name);
	s->live[k] = live;
	s->live_checked[k] = util_now();
	return live;
}

/* One issuing CA's turn: a full CRL when due, else a delta CRL when due. */
static void
pub_sched_ca(struct pub_sched *s, struct store *st, size_t k, long full_s, long delta_s)
{
	const struct ca_issuing *ci = &s->ca->cas[k];
	struct store_crl crl;
	struct err e;
	int due;

	err_clear(&e);
	memset(&crl, 0, sizeof(crl));
	if (!pub_sched_live(s, st, k))
		return;
	if (pub_crl_due(st, ci->name, 0, full_s, &due, &e) == -1) {
		log_warn("crl schedule: %s", e.msg);
	} else if (due) {
		if (ca_crl_generate_for(s->ca, ci, st, 0, "schedule", &crl, &e) == -1)
			log_warn("crl schedule: %s: full CRL: %s", ci->name, e.msg);
		else {
			log_info("crl schedule: %s: full CRL number %lld", ci->name,
				 (long long)crl.number);
			pub_crl_recheck(2 * (int)k);
		}
	} else if (pub_crl_due(st, ci->name, 1, delta_s, &due, &e) == 0 && due) {
		if (ca_crl_generate_for(s->ca, ci, st, 1, "schedule", &crl, &e) == -1)
			log_warn("crl schedule: %s: delta CRL: %s", ci->name, e.msg);
		else {
			log_info("crl schedule: %s: delta CRL number %lld", ci->name,
				 (long long)crl.number);
			pub_crl_recheck(2 * (int)k + 1);
		}
	}
	store_crl_clear(&crl);
}

static void *
pub_sched_main(void *arg)
{
	struct pub_sched *s = arg;
	struct store *st;
	struct err e;
	long full_min, delta_min;
	time_t root_checked = 0;
	long full_s, delta_s, ticks = 100;
	size_t k;
	int i;

	err_clear(&e);
	if (conf_get_long(&s->ca->conf, "crl.interval_minutes", 60, 1, 24 * 60 * 7, &full_min,
			  &e) == -1 ||
	    conf_get_long(&s->ca->conf, "crl.delta_interval_minutes", 15, 1, 24 * 60, &delta_min,
			  &e) == -1 ||
	    pub_test_intervals(&s->ca->conf, &full_s, &delta_s, &e) == -1) {
		log_warn("crl schedule: %s", e.msg);
		return NULL;
	}
	full_s = full_s > 0 ? full_s : full_min * 60;
	delta_s = delta_s > 0 ? delta_s : delta_min * 60;
	if (full_s < 60 || delta_s < 60) {
		ticks = 2;
		log_warn("crl schedule: TEST full CRL every %ld s, delta every %ld s", full_s,
			 delta_s);
	}
	while (!s->stop) {
		if (util_now() - root_checked >= 24 * 3600) { /* at start, then daily */
			pub_root_crl_warn(s->ca);
			root_checked = util_now();
		}
		err_clear(&e);
		if ((st = ca_thread_store(s->ca, &e)) == NULL)
			log_warn("crl schedule: %s", e.msg);
		else
			for (k = 0; k < s->ca->ncas && !s->stop; k++)
				pub_sched_ca(s, st, k, full_s, delta_s);
		for (i = 0; i < ticks && !s->stop; i++) /* check every 10 s, stop promptly */
			usleep(100000);
	}
	return NULL;
}

/* The keys of the CRL schedule (pub_schedule_start, pub_sched_main). */
const char *const pub_conf_keys[] = {
    "crl.schedule",
    "crl.interval_minutes",
    "crl.delta_interval_minutes",
    "test.crl_interval_seconds",
    "test.crl_delta_interval_seconds",
    NULL,
};

int
pub_conf_check(const struct conf *c, struct err *e)
{
	long full_s, delta_s;

	return pub_test_intervals(c, &full_s, &delta_s, e);
}

void
pub_schedule_start(struct ca *ca)
{
	if (strcmp(conf_get(&ca->conf, "crl.schedule", "yes"), "yes") != 0) {
		pub_root_crl_warn(ca); /* once: no schedule thread will */
		return;
	}
	memset(&sched, 0, sizeof(sched));
	sched.ca = ca;
	if (pthread_create(&sched.thread, NULL, pub_sched_main, &sched) == 0)
		sched.started = 1;
}

void
pub_schedule_stop(void)
{
	if (!sched.started)
		return;
	sched.stop = 1;
	pthread_join(sched.thread, NULL);
	sched.started = 0;
}
