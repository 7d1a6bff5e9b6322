/*
 * acme: configuration, the route and its dispatch, replies (Replay-Nonce and the directory's
 * Link on every one, problem documents), the directory, new-nonce, and the checks every POST
 * passes before its handler (acme_post_begin).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <curl/curl.h>

#include "acme_int.h"
#include "acme/dns.h"
#include "util/sjson.h"

struct acme acme;

const char *const acme_conf_keys[] = {
    "acme.enabled",
    "acme.base_url",
    "acme.terms_of_service",
    "acme.website",
    "acme.caa_identities",
    "acme.eab_required",
    "acme.key_file",
    "acme.http01_port",
    "acme.allow_private_addresses",
    "acme.dns_resolver",
    "acme.tlsalpn01_port",
    "acme.profiles",
    "acme.orders_page",
    "acme.authz_reuse_days",
    "test.acme_resolve",
    "test.acme_finalize_pause",
    "acme.orders_per_account",
    "acme.orders_per_account_window",
    "acme.certs_per_domain",
    "acme.certs_per_domain_window",
    "acme.certs_per_ip",
    "acme.certs_per_ip_window",
    "acme.failed_validations_per_name",
    "acme.failed_validations_window",
    "acme.accounts_per_address",
    "acme.accounts_per_address_window",
    "acme.requests_per_second",
    "acme.requests_burst",
    "acme.requests_per_second_48",
    "acme.requests_burst_48",
    "acme.validations_per_organization",
    "acme.finalize_wait_ms",
    "test.acme_sign_delay_ms",
    NULL,
};

static const char *const acme_prob_names[ACME_PROB__MAX] = {
    "malformed",
    "badNonce",
    "badSignatureAlgorithm",
    "badPublicKey",
    "unauthorized",
    "accountDoesNotExist",
    "externalAccountRequired",
    "invalidContact",
    "unsupportedContact",
    "serverInternal",
    "rejectedIdentifier",
    "badCSR",
    "orderNotReady",
    "rateLimited",
    "connection",
    "dns",
    "incorrectResponse",
    "alreadyRevoked",
    "badRevocationReason",
    "caa",
    "tls",
    "invalidProfile",
    "alreadyReplaced",
};

const char *
acme_prob_type(enum acme_prob p)
{
	static char types[ACME_PROB__MAX][64];
	static int done;

	if (!done) { /* (filled once at start by acme_init, before any thread reads it) */
		for (int i = 0; i < ACME_PROB__MAX; i++)
			snprintf(types[i], sizeof(types[i]), "urn:ietf:params:acme:error:%s",
				 acme_prob_names[i]);
		done = 1;
	}
	return types[p < ACME_PROB__MAX ? p : ACME_PROB_SERVER_INTERNAL];
}

/* "yes" or "no" of key (default dflt) into *out; anything else is refused. */
static int
acme_conf_bool(const struct conf *c, const char *key, const char *dflt, int *out, struct err *e)
{
	const char *v = conf_get(c, key, dflt);

	if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
		return err_set(e, ERR_REFUSED, "%s: yes or no, not \"%s\"", key, v);
	*out = strcmp(v, "yes") == 0;
	return 0;
}

/* acme.caa_identities: comma- or blank-separated domain names into acme.caa. */
static int
acme_conf_caa(const struct conf *c, struct err *e)
{
	const char *v = conf_get(c, "acme.caa_identities", "");
	char item[256];
	size_t n;

	while (*v != '\0') {
		v += strspn(v, ", \t");
		if ((n = strcspn(v, ", \t")) == 0)
			break;
		if (n >= sizeof(item))
			return err_set(e, ERR_REFUSED, "acme.caa_identities: a name is too long");
		memcpy(item, v, n);
		item[n] = '\0';
		if (strspn(item, "abcdefghijklmnopqrstuvwxyz0123456789-.") != n)
			return err_set(e, ERR_REFUSED,
				       "acme.caa_identities: \"%s\" is no lower-case domain name",
				       item);
		if (acme.caa == NULL)
			acme.caa = json_array();
		json_array_append_new(acme.caa, json_string(item));
		v += n;
	}
	return 0;
}

/*
 * acme.http01_port, acme.tlsalpn01_port, acme.allow_private_addresses, acme.dns_resolver,
 * test.acme_resolve (test instances only).
 */
static int
acme_conf_validation(const struct conf *c, struct err *e)
{
	const char *v = conf_get(c, "test.acme_resolve", NULL);
	unsigned char a[16];

	const char *r = conf_get(c, "acme.dns_resolver", "");
	struct acme_dns_server srv;

	if (conf_get_long(c, "acme.finalize_wait_ms", 2000, 0, 60000, &acme.finalize_wait_ms, e) ==
		-1 ||
	    conf_get_long(c, "test.acme_sign_delay_ms", 0, 0, 60000, &acme.test_sign_delay_ms, e) ==
		-1)
		return -1;
	if (acme.test_sign_delay_ms > 0 && strcmp(conf_get(c, "test.instance", "no"), "yes") != 0)
		return err_set(e, ERR_REFUSED,
			       "config: test.acme_sign_delay_ms is set but test.instance is not "
			       "\"yes\"");
	if (conf_get_long(c, "acme.http01_port", 80, 1, 65535, &acme.http01_port, e) == -1 ||
	    conf_get_long(c, "acme.tlsalpn01_port", 443, 1, 65535, &acme.tlsalpn01_port, e) == -1 ||
	    acme_conf_bool(c, "acme.allow_private_addresses", "no", &acme.allow_private, e) == -1)
		return -1;
	if (strlen(r) >= sizeof(acme.dns_resolver) ||
	    (r[0] != '\0' && acme_dns_server(r, &srv, e) == -1))
		return err_set(e, ERR_REFUSED,
			       "config: acme.dns_resolver: an IP address, with \":port\" or not "
			       "([IPv6]:port)");
	snprintf(acme.dns_resolver, sizeof(acme.dns_resolver), "%s", r);
	/* a pause of finalize just before it signs, so that a test can race it (test
	 * instances only) */
	ra_acme_fin_pause_set(0);
	if (conf_get(c, "test.acme_finalize_pause", NULL) != NULL) {
		long ms = 0;

		if (strcmp(conf_get(c, "test.instance", "no"), "yes") != 0)
			return err_set(e, ERR_REFUSED,
				       "config: test.acme_finalize_pause is set "
				       "but test.instance is not \"yes\"");
		if (conf_get_long(c, "test.acme_finalize_pause", 0, 0, 5000, &ms, e) == -1)
			return -1;
		ra_acme_fin_pause_set(ms);
	}
	if (v == NULL)
		return 0;
	if (strcmp(conf_get(c, "test.instance", "no"), "yes") != 0)
		return err_set(e, ERR_REFUSED,
			       "config: test.acme_resolve is set but test.instance is not \"yes\": "
			       "refusing to validate names at an address the configuration gives");
	if (strlen(v) >= sizeof(acme.test_resolve) ||
	    (inet_pton(AF_INET, v, a) != 1 && inet_pton(AF_INET6, v, a) != 1))
		return err_set(e, ERR_REFUSED, "config: test.acme_resolve: an IP address");
	snprintf(acme.test_resolve, sizeof(acme.test_resolve), "%s", v);
	return 0;
}

/* acme.profiles: comma- or blank-separated names ra_acme_profile_ok takes, none twice. */
static int
acme_conf_profiles(const struct conf *c, struct err *e)
{
	const char *v = conf_get(c, "acme.profiles", "server shortlived");
	char item[RA_ACME_PROFILE_MAX];
	size_t n;

	acme.nprofiles = 0;
	while (*v != '\0') {
		v += strspn(v, ", \t");
		if ((n = strcspn(v, ", \t")) == 0)
			break;
		if (n >= sizeof(item))
			return err_set(e, ERR_REFUSED, "acme.profiles: a name is too long");
		memcpy(item, v, n);
		item[n] = '\0';
		if (!ra_acme_profile_ok(item))
			return err_set(e, ERR_REFUSED,
				       "acme.profiles: \"%.32s\" is not a profile ACME issues "
				       "(server, shortlived)",
				       item);
		for (size_t i = 0; i < acme.nprofiles; i++)
			if (strcmp(acme.profiles[i], item) == 0)
				return err_set(e, ERR_REFUSED, "acme.profiles: %s is listed twice",
					       item);
		if (acme.nprofiles == ACME_PROFILES_MAX)
			return err_set(e, ERR_REFUSED, "acme.profiles: at most %d profiles",
				       ACME_PROFILES_MAX);
		memcpy(acme.profiles[acme.nprofiles++], item, n + 1);
		v += n;
	}
	return 0;
}

/*
 * The rate limits (the RA's, src/ra/acmelimit.c, with the Public Suffix List when enabled),
 * the request limiter and the cap of validations per organization.
 */
static int
acme_conf_limits(const struct conf *c, struct err *e)
{
	if (ra_acme_limits_conf(c, &acme.limits, e) == -1)
		return -1;
	acme_url(acme.limits_url, sizeof(acme.limits_url), ACME_LIMITS_PAGE);
	return acme.enabled ? ra_acme_psl_load(e) : 0;
}

int
acme_init(struct ca *ca, struct err *e)
{
	const struct conf *c = &ca->conf;
	const char *v;
	long reuse = 0;
	int rc = -1;

	acme_fini();
	(void)acme_prob_type(ACME_PROB_MALFORMED);
	if (acme_conf_bool(c, "acme.enabled", "no", &acme.enabled, e) == -1 ||
	    acme_conf_bool(c, "acme.eab_required", "yes", &acme.eab_required, e) == -1 ||
	    acme_conf_caa(c, e) == -1)
		goto out;
	v = conf_get(c, "acme.base_url", conf_get(c, "portal.base_url", "https://localhost:8443"));
	if (strncmp(v, "https://", 8) != 0 || strlen(v) > 200) {
		err_set(e, ERR_REFUSED, "acme.base_url: an https:// URL (at most 200 bytes)");
		goto out;
	}
	acme.base = xstrndup(v, strlen(v) - (v[strlen(v) - 1] == '/'));
	acme.tos = xstrdup(conf_get(c, "acme.terms_of_service", ""));
	acme.website = xstrdup(conf_get(c, "acme.website", ""));
	if (acme_conf_validation(c, e) == -1 || acme_conf_profiles(c, e) == -1 ||
	    conf_get_long(c, "acme.orders_page", 100, 1, 1000, &acme.orders_page, e) == -1 ||
	    conf_get_long(c, "acme.authz_reuse_days", RA_ACME_REUSE_DAYS, 1, RA_ACME_REUSE_DAYS_MAX,
			  &reuse, e) == -1 ||
	    acme_conf_limits(c, e) == -1)
		goto out;
	ra_acme_reuse_set(reuse);
	/* durable writes through ca's group commit (from when it is started) */
	ra_acme_writer_set(ca);
	/* the key file is root's (keys/): read before the privileges go */
	if (acme.enabled && ra_acme_keys_load(c, &acme.keys, e) == -1)
		goto out;
	if (acme.enabled && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		err_set(e, ERR_INTERNAL, "acme: libcurl did not initialise");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

void
acme_fini(void)
{
	free(acme.base);
	free(acme.tos);
	free(acme.website);
	json_decref(acme.caa);
	ra_acme_keys_wipe(&acme.keys);
	ra_acme_psl_free();
	acme_keycache_flush();
	ra_acme_writer_set(NULL);
	memset(&acme, 0, sizeof(acme));
}

/* ---- housekeeping: off the request paths ---- */

static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started, stop;
	struct ca *ca;
} acme_hk = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* One round: the used nonces that expired, the rate limits' events past their window. */
static void
acme_housekeep(struct ca *ca)
{
	struct store *st;
	struct err e;
	int64_t n = 0;
	time_t now = util_now();

	err_clear(&e);
	if ((st = ca_thread_store(ca, &e)) == NULL) {
		log_warn("acme: housekeeping: %s", e.msg);
		return;
	}
	/* a used nonce's row outlives its expiry by ACME_PURGE_SKEW: a front end whose clock is
	 * behind this one's still refuses it (and does not take it as new) */
	if (ra_acme_nonce_purge(st, now - ACME_PURGE_SKEW, &n, &e) == -1)
		log_warn("acme: purging used nonces: %s", e.msg);
	else if (n > 0)
		log_debug("acme: %" PRId64 " expired used nonces purged", n);
	ra_acme_limit_purge(st, &acme.limits, now);
}

static void *
acme_housekeeping_main(void *arg)
{
	struct timespec t;

	(void)arg;
	util_thread_name("shomei-acme-hk");
	pthread_mutex_lock(&acme_hk.mu);
	while (!acme_hk.stop) {
		pthread_mutex_unlock(&acme_hk.mu);
		acme_housekeep(acme_hk.ca);
		pthread_mutex_lock(&acme_hk.mu);
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += ACME_HOUSEKEEPING_EVERY;
		while (!acme_hk.stop &&
		       pthread_cond_timedwait(&acme_hk.cv, &acme_hk.mu, &t) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&acme_hk.mu);
	return NULL;
}

int
acme_housekeeping_start(struct ca *ca, struct err *e)
{
	if (!acme.enabled || acme_hk.started)
		return 0;
	acme_hk.ca = ca;
	acme_hk.stop = 0;
	if (pthread_create(&acme_hk.thread, NULL, acme_housekeeping_main, NULL) != 0)
		return err_set(e, ERR_INTERNAL, "acme: cannot start the housekeeping thread");
	acme_hk.started = 1;
	return 0;
}

void
acme_housekeeping_stop(void)
{
	if (!acme_hk.started)
		return;
	pthread_mutex_lock(&acme_hk.mu);
	acme_hk.stop = 1;
	pthread_cond_broadcast(&acme_hk.cv);
	pthread_mutex_unlock(&acme_hk.mu);
	pthread_join(acme_hk.thread, NULL);
	acme_hk.started = 0;
}

void
acme_url(char *out, size_t n, const char *path)
{
	snprintf(out, n, "%s%s", acme.base, path);
}

/* ---- replies ---- */

/*
 * Sends body (NULL: none) with a fresh Replay-Nonce, the directory's Link and the optional
 * extra header pairs (NULL-terminated; at most 4 pairs).
 */
int
acme_send(struct http_req *r, int status, const char *ctype, const char *body,
	  const char *const *extra)
{
	char nonce[RA_ACME_NONCE_TEXT], link[ACME_URL_MAX + 32], dir[ACME_URL_MAX], alt[512];
	const char *h[16];
	size_t k = 0;
	struct err e;
	enum ra_acme_nonce nr;

	/* the request's nonce is used (durably) before anything is answered; a nonce used
	 * before replaces the answer: the request wrote nothing (ra_acme_nonce_hold) */
	err_clear(&e);
	if ((nr = ra_acme_nonce_settle(&e)) != RA_ACME_NONCE_OK) {
		if (nr != RA_ACME_NONCE_USED)
			log_warn("acme: nonce: %s", e.msg);
		status = nr == RA_ACME_NONCE_USED ? 400 : 500;
		snprintf(alt, sizeof(alt), "{\"type\":\"%s\",\"detail\":\"%s\",\"status\":%d}",
			 acme_prob_type(nr == RA_ACME_NONCE_USED ? ACME_PROB_BAD_NONCE
								 : ACME_PROB_SERVER_INTERNAL),
			 nr == RA_ACME_NONCE_USED
			     ? "RFC 8555 6.5: the nonce was used before"
			     : "the request could not be completed; the server log has details",
			 status);
		ctype = "application/problem+json";
		body = alt;
		extra = NULL;
		/* the state stays (used, or failed) until acme_http's end, so that a write
		 * after the answer is refused too (ra_acme_write) */
	}
	ra_acme_nonce_new(&acme.keys, util_now(), nonce);
	acme_url(dir, sizeof(dir), ACME_PREFIX "/directory");
	snprintf(link, sizeof(link), "<%s>;rel=\"index\"", dir);
	h[k++] = "Replay-Nonce";
	h[k++] = nonce;
	h[k++] = "Link";
	h[k++] = link;
	for (size_t i = 0; extra != NULL && extra[i] != NULL && k < 14; i += 2) {
		h[k++] = extra[i];
		h[k++] = extra[i + 1];
	}
	h[k] = NULL;
	return http_reply_hdrs(r, status, ctype, body != NULL ? body : "",
			       body != NULL ? strlen(body) : 0, h);
}

int
acme_problem(struct acme_ctx *c, int status, enum acme_prob p, const char *detail,
	     const char *location)
{
	return acme_problem_ex(c, status, p, detail, location, NULL);
}

int
acme_problem_ex(struct acme_ctx *c, int status, enum acme_prob p, const char *detail,
		const char *location, json_t *extra)
{
	const char *loc[] = {"Location", location, NULL};
	json_t *j;
	char *s = NULL;
	int rc = -1;

	j = json_pack("{s:s, s:s, s:i}", "type", acme_prob_type(p), "detail",
		      detail != NULL ? detail : "", "status", status);
	if (j == NULL)
		goto out;
	if (p == ACME_PROB_BAD_SIG_ALG) {
		json_t *a = json_array();

		for (size_t i = 0; jws_account_algs[i] != NULL; i++)
			json_array_append_new(a, json_string(jws_account_algs[i]));
		json_object_set_new(j, "algorithms", a);
	}
	if (extra != NULL)
		json_object_update(j, extra);
	if (p == ACME_PROB_RATE_LIMITED) {
		char help[ACME_URL_MAX + 32];
		const char *h[] = {
		    "Retry-After", "1", "Link", help, location != NULL ? "Location" : NULL,
		    location,	   NULL};

		snprintf(help, sizeof(help), "<%s>;rel=\"help\"", acme.limits_url);
		if ((s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII)) != NULL)
			rc = acme_send(c->r, status, "application/problem+json", s, h);
		goto out;
	}
	if ((s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII)) == NULL)
		goto out;
	rc = acme_send(c->r, status, "application/problem+json", s, location != NULL ? loc : NULL);
out:
	free(s);
	json_decref(extra);
	json_decref(j);
	return rc;
}

int
acme_internal(struct acme_ctx *c, const char *what, const struct err *e)
{
	log_warn("acme: %s: %s", what, e->msg);
	return acme_problem(c, 500, ACME_PROB_SERVER_INTERNAL,
			    "the request could not be completed; the server log has details", NULL);
}

int
acme_json(struct acme_ctx *c, int status, json_t *j, const char *location)
{
	const char *loc[] = {"Location", location, NULL};
	char *s = NULL;
	int rc = -1;

	if (j == NULL || (s = json_dumps(j, JSON_INDENT(2))) == NULL) {
		struct err e;

		err_clear(&e);
		err_set(&e, ERR_INTERNAL, "out of memory building JSON");
		rc = acme_internal(c, "reply", &e);
		goto out;
	}
	rc = acme_send(c->r, status, "application/json", s, location != NULL ? loc : NULL);
out:
	free(s);
	json_decref(j);
	return rc;
}

/* ---- GET resources ---- */

/* GET /acme/directory (RFC 8555 7.1.1). */
static int
acme_directory(struct acme_ctx *c)
{
	static const char *const res[][2] = {
	    {"newNonce", "/new-nonce"},	  {"newAccount", "/new-account"},
	    {"newOrder", "/new-order"},	  {"revokeCert", "/revoke-cert"},
	    {"keyChange", "/key-change"}, {"renewalInfo", ACME_RENEWAL_PATH},
	    {"newAuthz", "/new-authz"},
	};
	char url[ACME_URL_MAX];
	json_t *j = json_object(), *meta = json_object();

	for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++) {
		snprintf(url, sizeof(url), "%s%s%s", acme.base, ACME_PREFIX, res[i][1]);
		json_object_set_new(j, res[i][0], json_string(url));
	}
	if (*acme.tos != '\0')
		json_object_set_new(meta, "termsOfService", json_string(acme.tos));
	if (*acme.website != '\0')
		json_object_set_new(meta, "website", json_string(acme.website));
	if (acme.caa != NULL)
		json_object_set(meta, "caaIdentities", acme.caa);
	json_object_set_new(meta, "externalAccountRequired", json_boolean(acme.eab_required));
	/* draft-ietf-acme-profiles: {name: description} */
	if (acme.nprofiles > 0) {
		json_t *pr = json_object();
		const struct profile *p;
		char d[200];

		for (size_t i = 0; i < acme.nprofiles; i++) {
			if ((p = profile_find(acme.profiles[i])) == NULL)
				continue;
			if (p->cdp_aia == X509_CDP_AIA_SHORT_LIVED)
				snprintf(
				    d, sizeof(d),
				    "TLS server certificate valid %ld days at most, without OCSP "
				    "or CRL pointers (CA/Browser Forum short-lived certificate)",
				    p->max_days);
			else
				snprintf(d, sizeof(d),
					 "TLS server certificate valid %ld days, with OCSP and CRL "
					 "pointers%s",
					 p->default_days, i == 0 ? " (the default)" : "");
			json_object_set_new(pr, p->name, json_string(d));
		}
		json_object_set_new(meta, "profiles", pr);
	}
	json_object_set_new(j, "meta", meta);
	return acme_json(c, 200, j, NULL);
}

/* HEAD (200) and GET (204) /acme/new-nonce (RFC 8555 7.2): only the Replay-Nonce matters. */
static int
acme_new_nonce(struct acme_ctx *c)
{
	return acme_send(c->r, strcmp(c->r->method, "HEAD") == 0 ? 200 : 204, NULL, NULL, NULL);
}

/* ---- the checks of every POST ---- */

/* Maps a refusal of src/util/jws.c to its problem (400). */
static int
acme_jws_problem(struct acme_ctx *c, const struct err *e)
{
	enum acme_prob p = e->kind == JWS_FAIL_ALG   ? ACME_PROB_BAD_SIG_ALG
			   : e->kind == JWS_FAIL_KEY ? ACME_PROB_BAD_PUBLIC_KEY
						     : ACME_PROB_MALFORMED;

	return acme_problem(c, 400, p, e->msg, NULL);
}

/* Answers a problem and returns -1 (a refusal inside the checks of a POST). */
static int
acme_refuse(struct acme_ctx *c, int status, enum acme_prob p, const char *detail,
	    const char *location)
{
	acme_problem(c, status, p, detail, location);
	return -1;
}

static int
acme_jws_refuse(struct acme_ctx *c, const struct err *e)
{
	acme_jws_problem(c, e);
	return -1;
}

/* The key of a jwk request (the header's own). */
static int
acme_key_jwk(struct acme_ctx *c)
{
	struct err e;

	err_clear(&e);
	if (c->j.jwk == NULL || c->j.kid != NULL)
		return acme_refuse(c, 400, ACME_PROB_MALFORMED,
				   "RFC 8555 6.2: this resource takes a jwk, not a kid", NULL);
	if (jwk_key(c->j.jwk, &c->key, &e) == -1 || jwk_alg_check(c->key, c->j.alg, &e) == -1)
		return acme_jws_refuse(c, &e);
	return 0;
}

/* The key of a kid request: the valid account the kid's URL names. */
static int
acme_key_kid(struct acme_ctx *c)
{
	char prefix[ACME_URL_MAX];
	const char *id;
	long n;
	json_t *k = NULL;
	struct err e;
	int rc = -1;

	err_clear(&e);
	if (c->j.kid == NULL || c->j.jwk != NULL) {
		acme_problem(c, 400, ACME_PROB_MALFORMED,
			     "RFC 8555 6.2: this resource takes the account's kid, not a jwk",
			     NULL);
		goto out;
	}
	acme_url(prefix, sizeof(prefix), ACME_ACCT_PATH);
	id = strncmp(c->j.kid, prefix, strlen(prefix)) == 0 ? c->j.kid + strlen(prefix) : "";
	if (*id == '\0' || strlen(id) > 18 || strspn(id, "0123456789") != strlen(id) ||
	    util_parse_long(id, 1, 1L << 62, &n) == -1) {
		acme_problem(c, 400, ACME_PROB_NO_ACCOUNT,
			     "kid is not an account URL of this server", NULL);
		goto out;
	}
	switch (ra_acme_account_get(c->st, n, &c->acct, &e)) {
	case RA_ACME_OK:
		break;
	case RA_ACME_NO_ACCOUNT:
		acme_problem(c, 400, ACME_PROB_NO_ACCOUNT, "no account has this URL", NULL);
		goto out;
	default:
		acme_internal(c, "account", &e);
		goto out;
	}
	if (strcmp(c->acct.status, "valid") != 0) {
		acme_problem(c, 403, ACME_PROB_UNAUTHORIZED,
			     "RFC 8555 7.3.6: the account is deactivated", NULL);
		goto out;
	}
	/* the key decoded from exactly these stored bytes before, else decoded now */
	if ((c->key = acme_keycache_get(n, c->acct.jwk)) == NULL) {
		if ((k = sjson_load_object(c->acct.jwk, strlen(c->acct.jwk), JWS_HEADER_MAX, 1,
					   "acme: stored key", &e)) == NULL ||
		    jwk_key(k, &c->key, &e) == -1) {
			err_set(&e, ERR_INTERNAL, "account %ld: its stored key does not load", n);
			acme_internal(c, "account", &e);
			goto out;
		}
		acme_keycache_put(n, c->acct.jwk, c->key);
	}
	if (jwk_alg_check(c->key, c->j.alg, &e) == -1) {
		acme_jws_problem(c, &e);
		goto out;
	}
	snprintf(c->actor, sizeof(c->actor), "acme:acct/%ld", n);
	rc = 0;
out:
	json_decref(k);
	return rc;
}

int
acme_post_begin(struct acme_ctx *c, enum acme_auth auth)
{
	const char *ct = http_header(c->r, "Content-Type");
	struct err e;

	err_clear(&e);
	if (ct == NULL || strncasecmp(ct, "application/jose+json", 21) != 0 ||
	    (ct[21] != '\0' && ct[21] != ';' && ct[21] != ' '))
		return acme_refuse(c, 415, ACME_PROB_MALFORMED,
				   "RFC 8555 6.2: Content-Type is application/jose+json", NULL);
	if (jws_parse(c->r->body, c->r->bodylen, 0, &c->j, &e) == -1)
		return acme_jws_refuse(c, &e);
	if (c->j.url == NULL || strcmp(c->j.url, c->url) != 0)
		return acme_refuse(c, 403, ACME_PROB_UNAUTHORIZED,
				   "RFC 8555 6.4: the protected header's url is not this request's",
				   NULL);
	if (c->j.nonce == NULL)
		return acme_refuse(c, 400, ACME_PROB_BAD_NONCE,
				   "RFC 8555 6.5: the protected header has no nonce", NULL);
	/* a nonce of ours that has not expired, before any work on a key (cheap, no store) */
	if (ra_acme_nonce_use(NULL, &acme.keys, c->j.nonce, util_now(), &e) != RA_ACME_NONCE_OK)
		return acme_refuse(c, 400, ACME_PROB_BAD_NONCE, e.msg, NULL);
	if (auth == ACME_AUTH_ANY)
		auth = c->j.kid != NULL ? ACME_AUTH_KID : ACME_AUTH_JWK;
	if ((auth == ACME_AUTH_JWK ? acme_key_jwk(c) : acme_key_kid(c)) == -1)
		return -1;
	if (jws_verify(&c->j, c->key, &e) == -1)
		return acme_jws_refuse(c, &e);
	/* used with the request's first write, or alone before its answer (acme_send) */
	if (ra_acme_nonce_hold(c->st, &acme.keys, c->j.nonce, util_now(), &e) != RA_ACME_NONCE_OK)
		return acme_refuse(c, 400, ACME_PROB_BAD_NONCE, e.msg, NULL);
	if (c->j.payloadlen > 0 &&
	    (c->payload = sjson_load_object(c->j.payload, c->j.payloadlen, JWS_BODY_MAX, 8,
					    "acme: payload", &e)) == NULL)
		return acme_refuse(c, 400, ACME_PROB_MALFORMED, e.msg, NULL);
	return 0;
}

void
acme_ctx_clear(struct acme_ctx *c)
{
	jws_clear(&c->j);
	EVP_PKEY_free(c->key);
	json_decref(c->payload);
	ra_acme_account_clear(&c->acct);
	c->key = NULL;
	c->payload = NULL;
}

/* ---- dispatch ---- */

/* A resource that exists but answers other methods: 405 with Allow. */
static int
acme_method(struct acme_ctx *c, const char *allow)
{
	const char *h[] = {"Allow", allow, NULL};
	char body[1024];

	snprintf(body, sizeof(body),
		 "{\"type\":\"%s\",\"detail\":\"this resource answers %s\",\"status\":405}",
		 acme_prob_type(ACME_PROB_MALFORMED), allow);
	return acme_send(c->r, 405, "application/problem+json", body, h);
}

/* Every /acme/ request; r->app is the struct ca of the web process. */
static int
acme_http(struct http_req *r)
{
	struct acme_ctx c;
	const char *path = r->url + strlen(ACME_PREFIX);
	int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
	int post = strcmp(r->method, "POST") == 0, rc = -1;
	char detail[256];
	long wait;
	int site = 0;
	struct err e;

	memset(&c, 0, sizeof(c));
	c.r = r;
	c.ca = r->app;
	err_clear(&e);
	ra_acme_nonce_forget(); /* (a thread serves one request after another) */
	if (!acme.enabled)
		return http_reply_problem(r, 404, NULL, "Not Found",
					  "ACME is not enabled on this server (acme.enabled)");
	if ((wait = acme_request_limit(r, &site)) == -1)
		return acme_problem(
		    &c, 400, ACME_PROB_MALFORMED,
		    "the client's address cannot be determined: the trusted proxy's "
		    "X-Forwarded-For names none (missing, malformed, over 16 KiB or "
		    "32 entries; http.trusted_proxies)",
		    NULL);
	if (wait > 0 && site) {
		snprintf(detail, sizeof(detail),
			 "rate limit \"requests per IPv6 /48\" (acme.requests_per_second_48 = "
			 "%ld, acme.requests_burst_48 = %ld) reached; retry after %ld s",
			 acme.limits.req_rate48, acme.limits.req_burst48, wait);
		return acme_limited(&c, 429, detail, wait);
	}
	if (wait > 0) {
		snprintf(detail, sizeof(detail),
			 "rate limit \"requests per client address\" (acme.requests_per_second = "
			 "%ld, acme.requests_burst = %ld) reached; retry after %ld s",
			 acme.limits.req_rate, acme.limits.req_burst, wait);
		return acme_limited(&c, 429, detail, wait);
	}
	if (strlen(r->url) >= ACME_URL_MAX - strlen(acme.base) - 1)
		return acme_problem(&c, 404, ACME_PROB_MALFORMED, "no such resource", NULL);
	acme_url(c.url, sizeof(c.url), r->url);
	snprintf(c.actor, sizeof(c.actor), "acme:new");
	if (strcmp(path, "/directory") == 0)
		return get ? acme_directory(&c) : acme_method(&c, "GET, HEAD");
	if (strcmp(path, "/new-nonce") == 0)
		return get ? acme_new_nonce(&c) : acme_method(&c, "GET, HEAD");
	if (strncmp(path, ACME_RENEWAL_PATH "/", strlen(ACME_RENEWAL_PATH) + 1) == 0) {
		if (!get)
			return acme_method(&c, "GET, HEAD");
		if ((c.st = ca_thread_store(c.ca, &e)) == NULL)
			return acme_internal(&c, "store", &e);
		return acme_renewal_info(&c, path + strlen(ACME_RENEWAL_PATH) + 1);
	}
	if (!post)
		return acme_method(&c, "POST");
	if ((c.st = ca_thread_store(c.ca, &e)) == NULL)
		return acme_internal(&c, "store", &e);
	if (strcmp(path, "/new-account") == 0)
		rc = acme_new_account(&c);
	else if (strcmp(path, "/key-change") == 0)
		rc = acme_key_change(&c);
	else if (strncmp(r->url, ACME_ACCT_PATH, strlen(ACME_ACCT_PATH)) == 0)
		rc = acme_account(&c, r->url + strlen(ACME_ACCT_PATH));
	else if (strcmp(path, "/new-order") == 0)
		rc = acme_new_order(&c);
	else if (strcmp(path, "/new-authz") == 0)
		rc = acme_new_authz(&c);
	else if (strncmp(path, "/order/", 7) == 0)
		rc = acme_order(&c, path + 7);
	else if (strncmp(path, "/authz/", 7) == 0)
		rc = acme_authz(&c, path + 7);
	else if (strncmp(path, "/chall/", 7) == 0)
		rc = acme_chall(&c, path + 7);
	else if (strncmp(path, "/cert/", 6) == 0)
		rc = acme_cert(&c, path + 6);
	else if (strcmp(path, "/revoke-cert") == 0)
		rc = acme_revoke_cert(&c);
	else
		rc = acme_problem(&c, 404, ACME_PROB_MALFORMED, "no such resource", NULL);
	/* every answer went through acme_send, which settled the nonce; should one not have,
	 * it is used now all the same */
	if (ra_acme_nonce_settle(&e) == RA_ACME_NONCE_ERROR)
		log_warn("acme: nonce: %s", e.msg);
	ra_acme_nonce_forget();
	acme_ctx_clear(&c);
	return rc;
}

const struct http_route acme_http_routes[] = {
    {NULL, ACME_PREFIX "/", acme_http, ACME_HTTP_BODY_MAX, HTTP_KIND_API, "acme", 0, 0},
    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
};
