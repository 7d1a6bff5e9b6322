/*
 * profile: the certificate profiles, as one table of data.  Nothing else in shomei branches on
 * a profile's name: the builder and the linter read these fields.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/obj_mac.h>
#include <openssl/x509v3.h>

#include "x509.h"

#define KU_EE (KU_DIGITAL_SIGNATURE)
#define KU_CA (KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE)

static const struct profile profile_builtin[] = {
    {
	.name = "server",
	.key_usage = KU_EE,
	.ku_rsa_extra = KU_KEY_ENCIPHERMENT,
	.ku_critical = 1,
	.eku = {NID_server_auth, NID_undef},
	.eku_critical = 0,
	.ca = 0,
	.bc_critical = 1,
	.path_len = -1,
	.max_days = 398,
	.default_days = 397,
	.san_allowed = X509_SAN_DNS | X509_SAN_IP,
	.san_required = X509_SAN_DNS | X509_SAN_IP,
	.ocsp_nocheck = 0,
	.officer_marker = 0,
	.cdp_aia = 1,
	.dns_wildcard = 1,
    },
    {
	.name = "client",
	.key_usage = KU_EE,
	.ku_rsa_extra = KU_KEY_ENCIPHERMENT,
	.ku_critical = 1,
	.eku = {NID_client_auth, NID_email_protect, NID_undef},
	.eku_critical = 0,
	.ca = 0,
	.bc_critical = 1,
	.path_len = -1,
	.max_days = 1095,
	.default_days = 365,
	.san_allowed = X509_SAN_EMAIL,
	.san_required = X509_SAN_EMAIL,
	.ocsp_nocheck = 0,
	.officer_marker = 0,
	.cdp_aia = 1,
    },
    {
	.name = "codesign",
	.key_usage = KU_EE,
	.ku_rsa_extra = 0,
	.ku_critical = 1,
	.eku = {NID_code_sign, NID_undef},
	.eku_critical = 0,
	.ca = 0,
	.bc_critical = 1,
	.path_len = -1,
	.max_days = 1095,
	.default_days = 365,
	.san_allowed = X509_SAN_EMAIL | X509_SAN_URI,
	.san_required = 0,
	.ocsp_nocheck = 0,
	.officer_marker = 0,
	.cdp_aia = 1,
    },
    {
	.name = "officer",
	.key_usage = KU_EE,
	.ku_rsa_extra = 0,
	.ku_critical = 1,
	.eku = {NID_client_auth, NID_undef},
	.eku_critical = 0,
	.ca = 0,
	.bc_critical = 1,
	.path_len = -1,
	.max_days = 825,
	.default_days = 365,
	.san_allowed = X509_SAN_EMAIL,
	.san_required = 0,
	.ocsp_nocheck = 0,
	.officer_marker = 1,
	.cdp_aia = 1,
    },
    {
	.name = "ocsp",
	.key_usage = KU_EE,
	.ku_rsa_extra = 0,
	.ku_critical = 1,
	.eku = {NID_OCSP_sign, NID_undef},
	.eku_critical = 0,
	.ca = 0,
	.bc_critical = 1,
	.path_len = -1,
	.max_days = 366,
	.default_days = 365,
	.san_allowed = 0,
	.san_required = 0,
	.ocsp_nocheck = 1,
	.officer_marker = 0,
	.cdp_aia = 0,
    },
    {
	/* RFC 3161 2.3: the only EKU is id-kp-timeStamping, and it is critical */
	.name = "tsa",
	.key_usage = KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION,
	.ku_rsa_extra = 0,
	.ku_critical = 1,
	.eku = {NID_time_stamp, NID_undef},
	.eku_critical = 1,
	.ca = 0,
	.bc_critical = 1,
	.path_len = -1,
	.max_days = 1827,
	.default_days = 1826,
	.san_allowed = 0,
	.san_required = 0,
	.ocsp_nocheck = 0,
	.officer_marker = 0,
	.cdp_aia = 1,
    },
    {
	/* offline, `shomei init` only: self-issued */
	.name = "root-ca",
	.key_usage = KU_CA,
	.ku_rsa_extra = 0,
	.ku_critical = 1,
	.eku = {NID_undef},
	.eku_critical = 0,
	.ca = 1,
	.bc_critical = 1,
	.path_len = -1,
	.max_days = 7305,
	.default_days = 7305,
	.san_allowed = 0,
	.san_required = 0,
	.ocsp_nocheck = 0,
	.officer_marker = 0,
	.cdp_aia = 0,
    },
    {
	/* offline, `shomei init` only: CDP/AIA point at the root */
	.name = "issuing-ca",
	.key_usage = KU_CA,
	.ku_rsa_extra = 0,
	.ku_critical = 1,
	.eku = {NID_undef},
	.eku_critical = 0,
	.ca = 1,
	.bc_critical = 1,
	.path_len = 0,
	.max_days = 3653,
	.default_days = 3653,
	.san_allowed = 0,
	.san_required = 0,
	.ocsp_nocheck = 0,
	.officer_marker = 0,
	.cdp_aia = 1,
    },
};

#define PROFILE_N (sizeof(profile_builtin) / sizeof(profile_builtin[0]))

/* The table in effect: the built-in one plus shomei.conf overrides (numbers only). */
static struct profile profile_live[PROFILE_N];
static pthread_once_t profile_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t profile_mu = PTHREAD_MUTEX_INITIALIZER;

static void
profile_init(void)
{
	memcpy(profile_live, profile_builtin, sizeof(profile_live));
}

static size_t
profile_index(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < PROFILE_N; i++)
		if (strlen(profile_builtin[i].name) == len &&
		    memcmp(profile_builtin[i].name, name, len) == 0)
			return i;
	return PROFILE_N;
}

const struct profile *
profile_find(const char *name)
{
	const struct profile *p = NULL;
	size_t i;

	pthread_once(&profile_once, profile_init);
	if (name != NULL && (i = profile_index(name, strlen(name))) < PROFILE_N)
		p = &profile_live[i];
	return p;
}

const struct profile *
profile_all(size_t *n)
{
	pthread_once(&profile_once, profile_init);
	*n = PROFILE_N;
	return profile_live;
}

/* The keys profile_configure reads: two per built-in profile (test_conf checks the pairing). */
const char *const profile_conf_keys[] = {
    "profile.server.max_days",
    "profile.server.default_days",
    "profile.client.max_days",
    "profile.client.default_days",
    "profile.codesign.max_days",
    "profile.codesign.default_days",
    "profile.officer.max_days",
    "profile.officer.default_days",
    "profile.ocsp.max_days",
    "profile.ocsp.default_days",
    "profile.tsa.max_days",
    "profile.tsa.default_days",
    "profile.root-ca.max_days",
    "profile.root-ca.default_days",
    "profile.issuing-ca.max_days",
    "profile.issuing-ca.default_days",
    NULL,
};

/*
 * Applies "profile.<name>.max_days" and "profile.<name>.default_days".  A maximum can be
 * lowered but not raised above the built-in one (those follow the CA/Browser Forum and RFC
 * limits); the default must not exceed the maximum.  Unknown profiles or keys are refused.
 * All or nothing: on error the table in effect is unchanged.  Call it at start-up.
 */
int
profile_configure(const struct conf *c, struct err *e)
{
	struct profile next[PROFILE_N];
	int default_set[PROFILE_N] = {0};
	const char *key, *name, *field, *where;
	size_t i, k;
	long v;
	int rc = -1;

	pthread_once(&profile_once, profile_init);
	pthread_mutex_lock(&profile_mu);
	memcpy(next, profile_builtin, sizeof(next));
	where = (c != NULL && c->path != NULL) ? c->path : "config";
	for (i = 0; c != NULL && i < c->n; i++) {
		key = c->v[i].key;
		if (strncmp(key, "profile.", 8) != 0)
			continue;
		name = key + 8;
		if ((field = strchr(name, '.')) == NULL) {
			err_set(e, ERR_REFUSED,
				"%s:%d: %s: expected profile.<name>.max_days or "
				"profile.<name>.default_days",
				where, c->v[i].line, key);
			goto out;
		}
		if ((k = profile_index(name, (size_t)(field - name))) == PROFILE_N) {
			err_set(e, ERR_REFUSED, "%s:%d: %s: unknown profile \"%.*s\"", where,
				c->v[i].line, key, (int)(field - name), name);
			goto out;
		}
		field++;
		if (util_parse_long(c->v[i].value, 1, profile_builtin[k].max_days, &v) == -1) {
			err_set(e, ERR_REFUSED,
				"%s:%d: %s: expected a number of days from 1 to %ld", where,
				c->v[i].line, key, profile_builtin[k].max_days);
			goto out;
		}
		if (strcmp(field, "max_days") == 0)
			next[k].max_days = v;
		else if (strcmp(field, "default_days") == 0) {
			next[k].default_days = v;
			default_set[k] = 1;
		} else {
			err_set(e, ERR_REFUSED, "%s:%d: %s: unknown profile setting \"%s\"", where,
				c->v[i].line, key, field);
			goto out;
		}
	}
	for (k = 0; k < PROFILE_N; k++) {
		/* a lowered maximum pulls the built-in default down with it */
		if (!default_set[k] && next[k].default_days > next[k].max_days)
			next[k].default_days = next[k].max_days;
		if (next[k].default_days > next[k].max_days) {
			err_set(e, ERR_REFUSED,
				"%s: profile %s: default_days %ld exceeds max_days %ld", where,
				next[k].name, next[k].default_days, next[k].max_days);
			goto out;
		}
	}
	memcpy(profile_live, next, sizeof(profile_live));
	rc = 0;
out:
	pthread_mutex_unlock(&profile_mu);
	return rc;
}
