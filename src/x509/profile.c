/*
 * profile: the certificate profiles, as one table of data.  Nothing else in shomei branches on
 * a profile's name: the builder and the linter read these fields.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/obj_mac.h>
#include <openssl/objects.h>
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
	.cdp_aia = X509_CDP_AIA_FULL,
	.dns_wildcard = 1,
	/* browsers' TLS stacks take neither Ed25519 certificates nor tiny RSA exponents */
	.refuse_ed25519 = 1,
	.refuse_small_rsa_e = 1,
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
	.cdp_aia = X509_CDP_AIA_FULL,
	/* S/MIME: mail can be encrypted to an EC key by ECDH (RFC 5480 3, RFC 8551) */
	.ku_ec_extra = KU_KEY_AGREEMENT,
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
	.cdp_aia = X509_CDP_AIA_FULL,
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
	.cdp_aia = X509_CDP_AIA_FULL,
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
	.cdp_aia = X509_CDP_AIA_FULL,
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
	/* offline, `shomei init` only: CDP/AIA point at the root; no OCSP URL (see cdp_aia) */
	.name = "issuing-ca",
	.key_usage = KU_CA,
	.ku_rsa_extra = 0,
	.ku_critical = 1,
	/*
	 * The purposes the issuing CA issues for.  NSS takes a CA without EKU as an SSL and
	 * e-mail CA only, so it refused codeSigning leaves ("Certificate type not approved for
	 * application").  A private CA's mix: the CA/Browser Forum's BR would want a TLS
	 * subordinate CA with serverAuth (and clientAuth) alone.  OCSPSigning
	 * is left out on purpose: with it the issuing CA could answer OCSP for the root about
	 * itself (a delegated responder of its own issuer).
	 */
	.eku = {NID_server_auth, NID_client_auth, NID_email_protect, NID_code_sign, NID_time_stamp,
		NID_undef},
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
	.cdp_aia = X509_CDP_AIA_NO_OCSP,
    },
    {
	/*
	 * The server profile for a short-lived certificate (CA/Browser Forum BR: at most 7
	 * days, so neither an OCSP URL nor a CRL distribution point: a compromised key is let
	 * expire).  Issued over ACME on request (draft-ietf-acme-profiles); max_days may be set
	 * lower, never higher.
	 */
	.name = "shortlived",
	.key_usage = KU_EE,
	.ku_rsa_extra = KU_KEY_ENCIPHERMENT,
	.ku_critical = 1,
	.eku = {NID_server_auth, NID_undef},
	.eku_critical = 0,
	.ca = 0,
	.bc_critical = 1,
	.path_len = -1,
	.max_days = X509_SHORT_LIVED_DAYS,
	.default_days = X509_SHORT_LIVED_DAYS,
	.san_allowed = X509_SAN_DNS | X509_SAN_IP,
	.san_required = X509_SAN_DNS | X509_SAN_IP,
	.ocsp_nocheck = 0,
	.officer_marker = 0,
	.cdp_aia = X509_CDP_AIA_SHORT_LIVED,
	.dns_wildcard = 1,
	.refuse_ed25519 = 1,
	.refuse_small_rsa_e = 1,
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

/* The settings of one profile: "profile.<name>.<setting>". */
#define PROFILE_KEYS(n)                                                                            \
	"profile." n ".max_days", "profile." n ".default_days", "profile." n ".policies",          \
	    "profile." n ".cps_uri", "profile." n ".key_agreement", "profile." n ".allow_ed25519", \
	    "profile." n ".allow_small_rsa_exponent"

/* The keys profile_configure reads (test_conf checks one of each setting per profile). */
const char *const profile_conf_keys[] = {
    PROFILE_KEYS("server"),
    PROFILE_KEYS("client"),
    PROFILE_KEYS("codesign"),
    PROFILE_KEYS("officer"),
    PROFILE_KEYS("ocsp"),
    PROFILE_KEYS("tsa"),
    PROFILE_KEYS("root-ca"),
    PROFILE_KEYS("issuing-ca"),
    PROFILE_KEYS("shortlived"),
    "policies",
    "cps_uri",
    NULL,
};

int
x509_oid_text_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 3 || strspn(s, "0123456789.") != n || strchr(s, '.') == NULL)
		return 0;
	/* no empty arc, no leading zero (OpenSSL would read 1.2.03 as 1.2.3: another text) */
	for (i = 0; i < n; i++) {
		int start = i == 0 || s[i - 1] == '.';

		if (start && (s[i] == '.' || (s[i] == '0' && i + 1 < n && s[i + 1] != '.')))
			return 0;
	}
	return s[n - 1] != '.';
}

/* A yes/no setting. */
static int
profile_bool(const char *v, int *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/*
 * A list of policy OIDs, separated by commas or blanks, into dst (the rest cleared).  Each
 * must be a dotted OID OpenSSL can encode, of two arcs at least; anyPolicy is refused (a CA
 * that publishes a CP asserts its own OID).
 */
static int
profile_policies(const char *v, char dst[X509_MAX_POLICIES][X509_POLICY_OID_MAX], const char *where,
		 int line, const char *key, struct err *e)
{
	char oid[X509_POLICY_OID_MAX];
	ASN1_OBJECT *obj;
	size_t n = 0, len;
	int bad;

	memset(dst, 0, sizeof(char[X509_MAX_POLICIES][X509_POLICY_OID_MAX]));
	while (*v != '\0') {
		v += strspn(v, ", \t");
		if ((len = strcspn(v, ", \t")) == 0)
			break;
		if (len >= sizeof(oid) || n == X509_MAX_POLICIES)
			return err_set(e, ERR_REFUSED,
				       "%s:%d: %s: at most %d OIDs of %d characters each", where,
				       line, key, X509_MAX_POLICIES, X509_POLICY_OID_MAX - 1);
		memcpy(oid, v, len);
		oid[len] = '\0';
		bad = !x509_oid_text_ok(oid) || strcmp(oid, "2.5.29.32.0") == 0;
		if (!bad) {
			obj = OBJ_txt2obj(oid, 1);
			bad = obj == NULL;
			ASN1_OBJECT_free(obj);
		}
		if (bad)
			return err_set(
			    e, ERR_REFUSED,
			    "%s:%d: %s: \"%s\" is not a policy OID (dotted numbers such as "
			    "1.3.6.1.4.1.99999.1; anyPolicy is not one)",
			    where, line, key, oid);
		for (size_t i = 0; i < n; i++)
			if (strcmp(dst[i], oid) == 0)
				return err_set(e, ERR_REFUSED,
					       "%s:%d: %s: %s is listed twice (RFC 5280 4.2.1.4)",
					       where, line, key, oid);
		memcpy(dst[n++], oid, len + 1);
		v += len;
	}
	return 0;
}

/* A CPS URI: http or https, printable ASCII, no blanks. */
static int
profile_cps(const char *v, char dst[X509_CPS_URI_MAX], const char *where, int line, const char *key,
	    struct err *e)
{
	size_t i, len = strlen(v);

	for (i = 0; i < len; i++)
		if (v[i] <= ' ' || v[i] > '~')
			break;
	if (len >= X509_CPS_URI_MAX || i != len ||
	    (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0))
		return err_set(e, ERR_REFUSED,
			       "%s:%d: %s: expected an http:// or https:// URL of at most %d "
			       "characters",
			       where, line, key, X509_CPS_URI_MAX - 1);
	memcpy(dst, v, len + 1);
	return 0;
}

/* One "profile.<name>.<field> = value" onto next[k]; *set marks which were given. */
static int
profile_set(struct profile *p, const struct profile *builtin, const char *field, const char *v,
	    unsigned *set, const char *where, int line, const char *key, struct err *e)
{
	long n;
	int b;

	if (strcmp(field, "max_days") == 0 || strcmp(field, "default_days") == 0) {
		if (util_parse_long(v, 1, builtin->max_days, &n) == -1)
			return err_set(e, ERR_REFUSED,
				       "%s:%d: %s: expected a number of days from 1 to %ld", where,
				       line, key, builtin->max_days);
		if (field[0] == 'm')
			p->max_days = n;
		else {
			p->default_days = n;
			*set |= 1u;
		}
		return 0;
	}
	if (strcmp(field, "policies") == 0) {
		*set |= 2u;
		return profile_policies(v, p->policies, where, line, key, e);
	}
	if (strcmp(field, "cps_uri") == 0) {
		*set |= 4u;
		return profile_cps(v, p->cps_uri, where, line, key, e);
	}
	if (strcmp(field, "key_agreement") == 0 || strcmp(field, "allow_ed25519") == 0 ||
	    strcmp(field, "allow_small_rsa_exponent") == 0) {
		if (profile_bool(v, &b) == -1)
			return err_set(e, ERR_REFUSED, "%s:%d: %s: expected yes or no", where, line,
				       key);
		if (field[0] == 'k')
			p->ku_ec_extra = b ? KU_KEY_AGREEMENT : 0;
		else if (strcmp(field, "allow_ed25519") == 0)
			p->refuse_ed25519 = !b;
		else
			p->refuse_small_rsa_e = !b;
		return 0;
	}
	return err_set(e, ERR_REFUSED, "%s:%d: %s: unknown profile setting \"%s\"", where, line,
		       key, field);
}

/*
 * Applies "profile.<name>.<setting>" and the "policies" / "cps_uri" defaults.  A maximum can
 * be lowered but not raised above the built-in one (those follow the CA/Browser Forum and RFC
 * limits); the default must not exceed the maximum.  Unknown profiles or keys are refused.
 * All or nothing: on error the table in effect is unchanged.  Call it at start-up.
 */
int
profile_configure(const struct conf *c, struct err *e)
{
	struct profile next[PROFILE_N];
	unsigned set[PROFILE_N] = {0};
	char defpol[X509_MAX_POLICIES][X509_POLICY_OID_MAX], defcps[X509_CPS_URI_MAX];
	const char *key, *name, *field, *where;
	size_t i, k;
	int rc = -1;

	pthread_once(&profile_once, profile_init);
	pthread_mutex_lock(&profile_mu);
	memcpy(next, profile_builtin, sizeof(next));
	memset(defpol, 0, sizeof(defpol));
	memset(defcps, 0, sizeof(defcps));
	where = (c != NULL && c->path != NULL) ? c->path : "config";
	for (i = 0; c != NULL && i < c->n; i++) {
		key = c->v[i].key;
		if (strcmp(key, "policies") == 0) {
			if (profile_policies(c->v[i].value, defpol, where, c->v[i].line, key, e) ==
			    -1)
				goto out;
			continue;
		}
		if (strcmp(key, "cps_uri") == 0) {
			if (profile_cps(c->v[i].value, defcps, where, c->v[i].line, key, e) == -1)
				goto out;
			continue;
		}
		if (strncmp(key, "profile.", 8) != 0)
			continue;
		name = key + 8;
		if ((field = strchr(name, '.')) == NULL) {
			err_set(e, ERR_REFUSED,
				"%s:%d: %s: expected profile.<name>.<setting>, e.g. "
				"profile.server.max_days",
				where, c->v[i].line, key);
			goto out;
		}
		if ((k = profile_index(name, (size_t)(field - name))) == PROFILE_N) {
			err_set(e, ERR_REFUSED, "%s:%d: %s: unknown profile \"%.*s\"", where,
				c->v[i].line, key, (int)(field - name), name);
			goto out;
		}
		if (profile_set(&next[k], &profile_builtin[k], field + 1, c->v[i].value, &set[k],
				where, c->v[i].line, key, e) == -1)
			goto out;
	}
	for (k = 0; k < PROFILE_N; k++) {
		/* a lowered maximum pulls the built-in default down with it */
		if (!(set[k] & 1u) && next[k].default_days > next[k].max_days)
			next[k].default_days = next[k].max_days;
		if (next[k].default_days > next[k].max_days) {
			err_set(e, ERR_REFUSED,
				"%s: profile %s: default_days %ld exceeds max_days %ld", where,
				next[k].name, next[k].default_days, next[k].max_days);
			goto out;
		}
		/* the self-signed root asserts no policy: relying parties' trust starts there */
		if (strcmp(next[k].name, "root-ca") == 0)
			continue;
		if (!(set[k] & 2u))
			memcpy(next[k].policies, defpol, sizeof(defpol));
		if (!(set[k] & 4u))
			memcpy(next[k].cps_uri, defcps, sizeof(defcps));
		if (next[k].cps_uri[0] != '\0' && next[k].policies[0][0] == '\0') {
			err_set(e, ERR_REFUSED,
				"%s: profile %s: a cps_uri needs a policy OID to qualify (set "
				"policies)",
				where, next[k].name);
			goto out;
		}
	}
	memcpy(profile_live, next, sizeof(profile_live));
	rc = 0;
out:
	pthread_mutex_unlock(&profile_mu);
	return rc;
}
