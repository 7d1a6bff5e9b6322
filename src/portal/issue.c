/*
 * issue: the issuance half of the applicant's flow (DESIGN.md 2.1, steps 発行申請情報入力 →
 * 確認 → 完了 → 発行完了): the mailed link's button, the issuance form and its checks, the
 * confirm page, the idempotent Submit that issues through the CA, the certificate page (PIN
 * and certificate code shown once) and the single-use PKCS#12 download.  portal.h tells the
 * whole design.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca/ca.h"
#include "http/http.h"
#include "portal_int.h"

#define ISSUE_TOKEN_FORM "issue-form"     /* the continuation after the mailed link */
#define ISSUE_TOKEN_SUBMIT "issue-submit" /* nonce of the confirm form */
#define ISSUE_TOKEN_VERIFY "regist-verify"
#define ISSUE_TOKEN_APPROVE "approve"     /* the holder's approval link (agent) */

#define ISSUE_PIN_LEN 12
/*
 * The application password's argon2id cost: OWASP's m=19 MiB, t=2, p=1 (Password Storage
 * Cheat Sheet; libsodium's argon2id always uses p=1), not libsodium's INTERACTIVE (64 MiB,
 * t=2).  Measured on the 2-core bench machine: INTERACTIVE 104-121 ms and 64 MiB per hash,
 * this 25-39 ms and 19 MiB; under 4 concurrent form POSTs INTERACTIVE held 256 MiB and its
 * p99 reached 1.6 s (bench/portal).  The password never stands alone: a re-issue also needs
 * the certificate code (random, stored as BLAKE2b) and the mailbox.  The parameters are in
 * each hash string, so crypto_pwhash_str_verify() (reissue.c) keeps accepting hashes made
 * with the earlier INTERACTIVE setting.  No argon2id setting that resists guessing fits in
 * the 5 ms page target: bench/portal reports POST /issue/form as exempt.
 */
#define ISSUE_PW_OPSLIMIT 2ULL
#define ISSUE_PW_MEMLIMIT ((size_t)19 * 1024 * 1024)

/* No 0/O, 1/I/l: what a person can copy without asking. */
static const char issue_pin_alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";

enum issue_flow { ISSUE_STEP_MAIL = 3, ISSUE_STEP_INPUT, ISSUE_STEP_CONFIRM, ISSUE_STEP_DONE,
		  ISSUE_STEP_ISSUED, ISSUE_STEP_APPROVAL = 7, ISSUE_STEP_AGENT_ISSUED = 8 };

static int
issue_agent(const struct store_app *a)
{
	return strcmp(a->applicant_type, "agent") == 0;
}

/* The form's values, borrowed from the parsed form. */
struct issue_vals {
	const char *t; /* continuation token */
	const char *name_kanji, *name_romaji, *ou, *subject_email, *hostnames, *key_mode, *csr;
	const char *pw_hash; /* argon2id string once the password was accepted, else "" */
};

struct issue_errs {
	const char *name_kanji, *name_romaji, *ou, *subject_email, *hostnames, *key_mode, *csr,
	    *password, *password2;
	char csr_detail[256]; /* the CSR's refusal as the CA gave it (English, technical) */
	int any;
};

/* What a continuation token leads to. */
struct issue_app {
	struct store_app a;
	char profile[32];
	char org_name[256];
};

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

static void
issue_vals_from(struct issue_vals *v, const struct portal_form *f)
{
	v->t = nz(portal_form_get(f, "t"));
	v->name_kanji = nz(portal_form_get(f, "name_kanji"));
	v->name_romaji = nz(portal_form_get(f, "name_romaji"));
	v->ou = nz(portal_form_get(f, "ou"));
	v->subject_email = nz(portal_form_get(f, "subject_email"));
	v->hostnames = nz(portal_form_get(f, "hostnames"));
	v->key_mode = nz(portal_form_get(f, "key_mode"));
	v->csr = nz(portal_form_get(f, "csr"));
	v->pw_hash = nz(portal_form_get(f, "pw_hash"));
}

static void
issue_err(struct tmpl_data *d, const char *lang, const char *name, const char *msgid)
{
	if (msgid != NULL)
		tmpl_data_str(d, name, i18n_get(lang, msgid));
	else
		tmpl_data_bool(d, name, 0);
}

/* The continuation's hash, keyed with the session id: it only works in that session. */
static void
issue_cont_hash(const struct portal_ctx *x, const unsigned char raw[PORTAL_TOKEN_LEN],
		unsigned char out[STORE_HASH_LEN])
{
	crypto_generichash(out, STORE_HASH_LEN, raw, PORTAL_TOKEN_LEN,
			   (const unsigned char *)x->sid, strlen(x->sid));
}

/* Random text of n characters of alphabet into out (n + 1 bytes). */
static void
issue_random_text(char *out, size_t n, const char *alphabet)
{
	uint32_t m = (uint32_t)strlen(alphabet);

	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[randombytes_uniform(m)];
	out[n] = '\0';
}

/*
 * Parses the body (urlencoded, or multipart/form-data for the issuance form's CSR file;
 * CSR-sized) and checks CSRF; replies itself and returns 1 on failure.
 */
static int
issue_form_read(struct portal_ctx *x, struct portal_form *f, int *rc)
{
	struct err e;

	const char *ct = http_header(x->r, "Content-Type");
	int r;

	err_clear(&e);
	if (ct != NULL && strncasecmp(ct, "multipart/form-data", 19) == 0)
		r = portal_form_parse_multipart(x->r->body, x->r->bodylen, ct,
						PORTAL_ISSUE_BODY_MAX, "csr", PORTAL_CSR_FIELD_MAX,
						f, &e);
	else
		r = portal_form_parse_ex(x->r->body, x->r->bodylen, PORTAL_ISSUE_BODY_MAX, "csr",
					 PORTAL_CSR_FIELD_MAX, f, &e);
	if (r == -1) {
		char esc[256];

		log_warn("portal: %s: %s", x->r->url,
			 log_escape(esc, sizeof(esc), e.msg, strlen(e.msg)));
		*rc = portal_notice(x, 400, N_("The form could not be read"),
				    N_("The form could not be read. Please go back and try again."));
		return 1;
	}
	if (!portal_csrf_ok(x, portal_form_get(f, "csrf"))) {
		*rc = portal_notice(x, 403, N_("Access denied"),
				    N_("Your session has expired or the form did not come from this site. Please start again from the first step."));
		return 1;
	}
	return 0;
}

/* Records that an application ran out of time (from -> expired); a moved state is fine. */
static void
issue_mark_expired(struct store *st, int64_t id, const char *from)
{
	struct err e;

	err_clear(&e);
	if (store_app_set_state(st, id, from, "expired", &e) == -1 && e.code != ERR_CONFLICT)
		log_warn("portal: application %lld: %s", (long long)id, e.msg);
}

/*
 * Finds the application of continuation token t in this session.  Returns 0 with *ia filled,
 * or 1 after replying with the right notice (unknown, expired, issued already), -1 on a
 * store error (e set).
 */
static int
issue_cont_load(struct portal_ctx *x, struct store *st, const char *t, struct issue_app *ia,
		int *rc, struct err *e)
{
	struct store_token tok;
	struct store_ticket tk;
	struct store_org org;
	struct err se;
	unsigned char raw[PORTAL_TOKEN_LEN], h[STORE_HASH_LEN];
	int r = -1;

	memset(ia, 0, sizeof(*ia));
	memset(&tk, 0, sizeof(tk));
	memset(&org, 0, sizeof(org));
	err_clear(&se);
	if (portal_b64url_decode(raw, sizeof(raw), t) == -1)
		goto unknown;
	issue_cont_hash(x, raw, h);
	if (store_token_get(st, h, ISSUE_TOKEN_FORM, &tok, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		goto unknown;
	}
	if (tok.used != 0) {
		*rc = portal_notice(x, 410, N_("The certificate has already been issued"),
				    N_("The certificate of this application has already been issued. For your security, the PIN and the certificate code are shown only once."));
		r = 1;
		goto out;
	}
	if (tok.expires <= util_now()) {
		issue_mark_expired(st, tok.app_id, "mail-verified");
		*rc = portal_notice(x, 410, N_("This application has expired"),
				    N_("This application has expired. Please register your application again; your ticket can be used for the new registration."));
		r = 1;
		goto out;
	}
	if (store_app_get(st, tok.app_id, &ia->a, e) == -1 ||
	    store_ticket_get(st, ia->a.ticket, &tk, e) == -1 ||
	    store_org_get_id(st, ia->a.org_id, &org, e) == -1)
		goto out;
	snprintf(ia->profile, sizeof(ia->profile), "%s", tk.profile);
	snprintf(ia->org_name, sizeof(ia->org_name), "%s", org.name);
	r = 0;
	goto out;
unknown:
	*rc = portal_notice(x, 404, N_("This page is not valid"),
			    N_("This page is not valid in this browser session. Please open the link from the mail again in the same browser, or register again."));
	r = 1;
out:
	sodium_memzero(raw, sizeof(raw));
	store_ticket_clear(&tk);
	store_org_clear(&org);
	if (r != 0)
		store_app_clear(&ia->a);
	return r;
}

static int
issue_is(const struct issue_app *ia, const char *profile)
{
	return strcmp(ia->profile, profile) == 0;
}

/* The MAC that keeps the password hash across Back (bound to the session and continuation). */
static void
issue_pw_mac(const struct portal_ctx *x, const char *t, const char *pw_hash,
	     char out[PORTAL_B64_LEN])
{
	const char *parts[] = {"issue-pw", x->sid, t, pw_hash};

	portal_mac(out, parts, 4);
}

/* The issuance form with values v and errors er (either may be NULL). */
static int
issue_form_render(struct portal_ctx *x, const struct issue_app *ia, const struct issue_vals *v,
		  const struct issue_errs *er)
{
	static const struct issue_errs noerr;
	struct tmpl_data *d;
	char csrf[PORTAL_B64_LEN], pwmac[PORTAL_B64_LEN];
	const char *km;
	int rc;

	if (er == NULL)
		er = &noerr;
	d = portal_data_flow(x, N_("Issuance application"), ISSUE_STEP_INPUT, issue_agent(&ia->a));
	portal_csrf(x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "t", v->t);
	tmpl_data_str(d, "org_name", ia->org_name);
	tmpl_data_str(d, "ticket", ia->a.ticket);
	tmpl_data_str(d, "profile", ia->profile);
	tmpl_data_bool(d, "p_client", issue_is(ia, "client"));
	tmpl_data_bool(d, "p_server", issue_is(ia, "server"));
	tmpl_data_bool(d, "p_codesign", issue_is(ia, "codesign"));
	tmpl_data_bool(d, "need_names", !issue_is(ia, "server"));
	tmpl_data_bool(d, "agent", strcmp(ia->a.applicant_type, "agent") == 0);
	tmpl_data_str(d, "name_kanji", v->name_kanji);
	tmpl_data_str(d, "name_romaji", v->name_romaji);
	tmpl_data_str(d, "ou", v->ou);
	tmpl_data_str(d, "subject_email", v->subject_email);
	tmpl_data_str(d, "hostnames", v->hostnames);
	tmpl_data_str(d, "csr", v->csr);
	km = v->key_mode[0] != '\0' ? v->key_mode : "p256";
	tmpl_data_bool(d, "km_p256", strcmp(km, "p256") == 0);
	tmpl_data_bool(d, "km_rsa2048", strcmp(km, "rsa2048") == 0);
	tmpl_data_bool(d, "km_csr", strcmp(km, "csr") == 0);
	if (v->pw_hash[0] != '\0') {
		issue_pw_mac(x, v->t, v->pw_hash, pwmac);
		tmpl_data_str(d, "pw_hash", v->pw_hash);
		tmpl_data_str(d, "pw_mac", pwmac);
	} else {
		tmpl_data_bool(d, "pw_hash", 0);
	}
	tmpl_data_bool(d, "has_errors", er->any);
	issue_err(d, x->lang, "err_name_kanji", er->name_kanji);
	issue_err(d, x->lang, "err_name_romaji", er->name_romaji);
	issue_err(d, x->lang, "err_ou", er->ou);
	issue_err(d, x->lang, "err_subject_email", er->subject_email);
	issue_err(d, x->lang, "err_hostnames", er->hostnames);
	issue_err(d, x->lang, "err_key_mode", er->key_mode);
	issue_err(d, x->lang, "err_csr", er->csr);
	tmpl_data_str(d, "err_csr_detail", er->csr_detail);
	issue_err(d, x->lang, "err_app_password", er->password);
	issue_err(d, x->lang, "err_app_password_confirm", er->password2);
	rc = portal_page(x, er->any ? 400 : 200, "issue_form", d);
	tmpl_data_free(d);
	return rc;
}

/* ---- the certificate's contents ---- */

/* Adds one UTF-8 attribute; 0 or -1. */
static int
issue_name_add(X509_NAME *n, int nid, const char *v)
{
	return X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8, (const unsigned char *)v, -1, -1,
					  0) == 1
		   ? 0
		   : -1;
}

/* Adds a SAN of type (GEN_DNS, GEN_EMAIL); 0 or -1. */
static int
issue_san_add(GENERAL_NAMES *g, int type, const char *v, size_t len)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (gn == NULL || s == NULL || ASN1_STRING_set(s, v, (int)len) != 1) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return -1;
	}
	GENERAL_NAME_set0_value(gn, type, s);
	if (sk_GENERAL_NAME_push(g, gn) == 0) {
		GENERAL_NAME_free(gn);
		return -1;
	}
	return 0;
}

/*
 * The subject and SANs the RA approves for these values (hosts: the parsed host names, for
 * the server profile).  Caller frees both.
 */
static int
issue_contents(const struct issue_app *ia, const struct issue_vals *v, const char *hosts,
	       X509_NAME **name, GENERAL_NAMES **sans, struct err *e)
{
	X509_NAME *n = X509_NAME_new();
	GENERAL_NAMES *g = sk_GENERAL_NAME_new_null();
	int rc = -1;

	*name = NULL;
	*sans = NULL;
	if (n == NULL || g == NULL)
		goto fail;
	if (issue_name_add(n, NID_organizationName, ia->org_name) == -1)
		goto fail;
	if (v->ou[0] != '\0' && issue_name_add(n, NID_organizationalUnitName, v->ou) == -1)
		goto fail;
	if (issue_is(ia, "server")) {
		const char *p = hosts;

		{
			size_t l = strcspn(p, " ");
			char first[256];

			snprintf(first, sizeof(first), "%.*s", (int)l, p);
			if (issue_name_add(n, NID_commonName, first) == -1)
				goto fail;
		}
		while (*p != '\0') {
			size_t l = strcspn(p, " ");

			if (issue_san_add(g, GEN_DNS, p, l) == -1)
				goto fail;
			p += l;
			if (*p == ' ')
				p++;
		}
	} else {
		if (issue_name_add(n, NID_commonName, v->name_romaji) == -1)
			goto fail;
		if (v->subject_email[0] != '\0' &&
		    issue_san_add(g, GEN_EMAIL, v->subject_email, strlen(v->subject_email)) == -1)
			goto fail;
	}
	*name = n;
	*sans = g;
	n = NULL;
	g = NULL;
	rc = 0;
	goto out;
fail:
	err_set(e, ERR_INTERNAL, "portal: cannot build the certificate's subject");
out:
	X509_NAME_free(n);
	GENERAL_NAMES_free(g);
	return rc;
}

/* A new key of mode "p256" or "rsa2048" (the holder's; made here, never a CA key). */
static EVP_PKEY *
issue_keygen(const char *mode)
{
	if (strcmp(mode, "rsa2048") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* A DER CSR for pkey (empty subject: the RA's contents replace it). *der: OPENSSL_free. */
static int
issue_csr_for_key(EVP_PKEY *pkey, unsigned char **der, size_t *len, struct err *e)
{
	X509_REQ *req = X509_REQ_new();
	int n, rc = -1;

	*der = NULL;
	if (req == NULL || X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_pubkey(req, pkey) != 1 || X509_REQ_sign(req, pkey, EVP_sha256()) <= 0 ||
	    (n = i2d_X509_REQ(req, der)) <= 0) {
		err_set(e, ERR_INTERNAL, "portal: cannot make a CSR for the new key");
		goto out;
	}
	*len = (size_t)n;
	rc = 0;
out:
	X509_REQ_free(req);
	return rc;
}

/* ---- the form ---- */

/*
 * Checks every field against the application's profile; fills er.  *hosts (caller frees) the
 * parsed host names of a server request.  -1 only for internal errors.
 */
static int
issue_check(struct portal_ctx *x, struct store *st, const struct issue_app *ia,
	    const struct issue_vals *v, const char *pw, const char *pw2, struct issue_errs *er,
	    char **hosts, struct err *e)
{
	int server = issue_is(ia, "server"), client = issue_is(ia, "client");
	struct err ce;
	int rc = -1;

	*hosts = NULL;
	err_clear(&ce);
	if (client) {
		if (v->name_kanji[0] == '\0')
			er->name_kanji = N_("Enter the name in kanji.");
		else if (!portal_name_kanji_ok(v->name_kanji))
			er->name_kanji = N_("Use up to 64 full-width characters: kanji, hiragana, katakana, full-width letters and the full-width space.");
	} else if (v->name_kanji[0] != '\0' && !portal_name_kanji_ok(v->name_kanji)) {
		er->name_kanji = N_("Use up to 64 full-width characters: kanji, hiragana, katakana, full-width letters and the full-width space.");
	}
	if (!server) {
		if (v->name_romaji[0] == '\0')
			er->name_romaji = N_("Enter the name in romaji.");
		else if (!portal_name_romaji_ok(v->name_romaji))
			er->name_romaji = N_("Use up to 64 characters: ASCII letters, space, hyphen (-), apostrophe (') and period (.).");
		if (v->ou[0] == '\0')
			er->ou = N_("Enter the organization unit.");
	}
	if (v->ou[0] != '\0' && !portal_ou_ok(v->ou))
		er->ou = N_("Use up to 64 characters without control characters.");
	if (client || strcmp(ia->a.applicant_type, "agent") == 0) {
		if (v->subject_email[0] == '\0')
			er->subject_email = N_("Enter the e-mail address of the certificate holder.");
		else if (!mail_addr_valid(v->subject_email))
			er->subject_email = N_("Enter a valid e-mail address.");
	} else if (v->subject_email[0] != '\0' && !mail_addr_valid(v->subject_email)) {
		er->subject_email = N_("Enter a valid e-mail address.");
	}
	/* a self application: the certificate names the address the mailed link proved */
	if (!er->subject_email && v->subject_email[0] != '\0' &&
	    strcmp(ia->a.applicant_type, "self") == 0 &&
	    strcasecmp(v->subject_email, ia->a.email) != 0)
		er->subject_email = N_("For your own application, use the e-mail address you confirmed by mail.");
	if (!er->subject_email && v->subject_email[0] != '\0') {
		int in = portal_email_in_org(st, ia->a.org_id, v->subject_email, e);

		if (in == -1)
			goto out;
		if (in == 0)
			er->subject_email = N_("A certificate with these details cannot be issued for your organization.");
	}
	if (server) {
		if (v->hostnames[0] == '\0' || portal_hostnames_parse(v->hostnames, hosts, &ce) == -1)
			er->hostnames = N_("Enter one to ten valid host names (for example www.example.jp), separated by spaces.");
	}
	if (strcmp(v->key_mode, "p256") != 0 && strcmp(v->key_mode, "rsa2048") != 0 &&
	    strcmp(v->key_mode, "csr") != 0)
		er->key_mode = N_("Choose how the key is made.");
	if (pw != NULL) {
		if (!portal_password_ok(pw))
			er->password = N_("The application password must have 8 to 128 characters.");
		else if (pw2 == NULL || strcmp(pw, pw2) != 0)
			er->password2 = N_("The two passwords do not match.");
	}
	/* the contents as the CA would issue them: org domains, profile and lint */
	if (!er->name_kanji && !er->name_romaji && !er->ou && !er->subject_email &&
	    !er->hostnames && !er->key_mode) {
		X509_NAME *name = NULL;
		GENERAL_NAMES *sans = NULL;
		EVP_PKEY *probe = NULL;
		unsigned char *der = NULL;
		size_t derlen = 0;
		struct ca_issue_req req;
		struct ca_issued dummy;
		int bad = 0;

		if (issue_contents(ia, v, *hosts, &name, &sans, e) == -1)
			goto out;
		memset(&req, 0, sizeof(req));
		req.profile = ia->profile;
		req.org_code = ia->a.org_code;
		req.subject = name;
		req.sans = sans;
		req.check_only = 1;
		req.actor = "portal";
		/* the names first, with a throw-away key */
		if ((probe = issue_keygen("p256")) == NULL ||
		    issue_csr_for_key(probe, &der, &derlen, e) == -1) {
			if (!err_is_set(e))
				err_set(e, ERR_INTERNAL, "portal: key generation failed");
			bad = -1;
		} else {
			req.csr = der;
			req.csrlen = derlen;
			err_clear(&ce);
			if (ca_issue(x->ca, st, &req, &dummy, &ce) == -1) {
				if (ce.code != ERR_REFUSED) {
					*e = ce;
					bad = -1;
				} else {
					log_info("portal: issuance form refused: %s", ce.msg);
					if (server)
						er->hostnames = N_("These host names cannot be certified for your organization.");
					else
						er->subject_email = N_("A certificate with these details cannot be issued for your organization.");
				}
			}
		}
		OPENSSL_free(der);
		EVP_PKEY_free(probe);
		if (bad == 0 && strcmp(v->key_mode, "csr") == 0) {
			if (v->csr[0] == '\0') {
				er->csr = N_("Paste the certificate signing request (PEM).");
			} else {
				req.csr = (const unsigned char *)v->csr;
				req.csrlen = strlen(v->csr);
				err_clear(&ce);
				if (ca_issue(x->ca, st, &req, &dummy, &ce) == -1) {
					if (ce.code != ERR_REFUSED) {
						*e = ce;
						bad = -1;
					} else {
						er->csr = N_("This certificate signing request cannot be accepted:");
						snprintf(er->csr_detail, sizeof(er->csr_detail), "%.250s",
							 ce.msg);
					}
				}
			}
		}
		X509_NAME_free(name);
		GENERAL_NAMES_free(sans);
		if (bad == -1)
			goto out;
	}
	er->any = er->name_kanji || er->name_romaji || er->ou || er->subject_email ||
		  er->hostnames || er->key_mode || er->csr || er->password || er->password2;
	rc = 0;
out:
	return rc;
}

int
portal_issue_form_get(struct http_req *r)
{
	struct portal_ctx x;
	struct issue_app ia;
	struct issue_vals v;
	struct store *st;
	struct err e;
	int rc = -1, k;

	portal_ctx_init(&x, r);
	err_clear(&e);
	memset(&v, 0, sizeof(v));
	v.t = nz(http_query(r, "t"));
	v.name_kanji = v.name_romaji = v.ou = v.subject_email = v.hostnames = v.csr = "";
	v.key_mode = "p256";
	v.pw_hash = "";
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		return portal_error(&x, &e);
	if ((k = issue_cont_load(&x, st, v.t, &ia, &rc, &e)) == -1)
		return portal_error(&x, &e);
	if (k == 1)
		return rc;
	if (strcmp(ia.a.state, "mail-verified") != 0) {
		rc = portal_notice(&x, 409, N_("This application has already been submitted"),
				   N_("This application has already been submitted. For your security, the PIN and the certificate code are shown only once."));
	} else {
		/* self: the holder's address is the one just verified */
		if (strcmp(ia.a.applicant_type, "self") == 0)
			v.subject_email = ia.a.email;
		rc = issue_form_render(&x, &ia, &v, NULL);
	}
	store_app_clear(&ia.a);
	return rc;
}

/* The MAC that binds the confirm form's values to the session, continuation, nonce, time. */
static void
issue_form_mac(const struct portal_ctx *x, const struct issue_vals *v, const char *nonce,
	       const char *when, char out[PORTAL_B64_LEN])
{
	const char *parts[] = {"issue-form", x->sid, v->t, nonce, when, v->name_kanji,
			       v->name_romaji, v->ou, v->subject_email, v->hostnames, v->key_mode,
			       v->csr, v->pw_hash};

	portal_mac(out, parts, sizeof(parts) / sizeof(parts[0]));
}

static int
issue_confirm_render(struct portal_ctx *x, const struct issue_app *ia, const struct issue_vals *v)
{
	struct tmpl_data *d;
	char csrf[PORTAL_B64_LEN], mac[PORTAL_B64_LEN], nb[PORTAL_B64_LEN], wb[32];
	unsigned char raw[PORTAL_TOKEN_LEN];
	const char *km;
	int rc;

	util_random(raw, sizeof(raw));
	portal_b64url(nb, sizeof(nb), raw, sizeof(raw));
	snprintf(wb, sizeof(wb), "%lld", (long long)util_now());
	issue_form_mac(x, v, nb, wb, mac);
	portal_csrf(x, csrf);
	d = portal_data_flow(x, N_("Confirm"), ISSUE_STEP_CONFIRM, issue_agent(&ia->a));
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "t", v->t);
	tmpl_data_str(d, "form_nonce", nb);
	tmpl_data_str(d, "form_time", wb);
	tmpl_data_str(d, "form_mac", mac);
	tmpl_data_str(d, "org_name", ia->org_name);
	tmpl_data_str(d, "ticket", ia->a.ticket);
	tmpl_data_str(d, "profile", ia->profile);
	tmpl_data_bool(d, "need_names", !issue_is(ia, "server"));
	tmpl_data_bool(d, "p_server", issue_is(ia, "server"));
	tmpl_data_str(d, "name_kanji", v->name_kanji);
	tmpl_data_str(d, "name_romaji", v->name_romaji);
	tmpl_data_str(d, "ou", v->ou);
	tmpl_data_str(d, "subject_email", v->subject_email);
	tmpl_data_str(d, "hostnames", v->hostnames);
	tmpl_data_str(d, "key_mode", v->key_mode);
	km = strcmp(v->key_mode, "csr") == 0	   ? N_("Certificate signing request (CSR)")
	     : strcmp(v->key_mode, "rsa2048") == 0 ? N_("Generated by the service: RSA 2048 (PKCS#12)")
						   : N_("Generated by the service: ECDSA P-256 (PKCS#12)");
	tmpl_data_str(d, "key_mode_label", i18n_get(x->lang, km));
	tmpl_data_str(d, "csr", v->csr);
	tmpl_data_bool(d, "km_csr", strcmp(v->key_mode, "csr") == 0);
	tmpl_data_str(d, "pw_hash", v->pw_hash);
	rc = portal_page(x, 200, "issue_confirm", d);
	tmpl_data_free(d);
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

int
portal_issue_form_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct issue_app ia;
	struct issue_vals v;
	struct issue_errs er;
	struct store *st;
	struct err e;
	const char *pw, *pw2, *pwmac;
	char want[PORTAL_B64_LEN], hbuf[crypto_pwhash_STRBYTES], *hosts = NULL;
	int rc = -1, k, have_ia = 0;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&er, 0, sizeof(er));
	err_clear(&e);
	if (issue_form_read(&x, &f, &rc))
		goto out;
	issue_vals_from(&v, &f);
	/* an uploaded CSR file (multipart) counts when nothing was pasted */
	if (v.csr[0] == '\0' && portal_form_get(&f, "csr_file") != NULL)
		v.csr = portal_form_get(&f, "csr_file");
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if ((k = issue_cont_load(&x, st, v.t, &ia, &rc, &e)) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (k == 1)
		goto out;
	have_ia = 1;
	if (strcmp(ia.a.state, "mail-verified") != 0) {
		rc = portal_notice(&x, 409, N_("This application has already been submitted"),
				   N_("This application has already been submitted. For your security, the PIN and the certificate code are shown only once."));
		goto out;
	}
	pw = nz(portal_form_get(&f, "app_password"));
	pw2 = nz(portal_form_get(&f, "app_password_confirm"));
	pwmac = nz(portal_form_get(&f, "pw_mac"));
	if (pw[0] == '\0' && v.pw_hash[0] != '\0') {
		/* kept across Back: only a hash this session's form carried */
		issue_pw_mac(&x, v.t, v.pw_hash, want);
		if (strlen(pwmac) != PORTAL_B64_LEN - 1 ||
		    !util_memeq_ct(want, pwmac, PORTAL_B64_LEN - 1))
			v.pw_hash = "";
		pw = v.pw_hash[0] != '\0' ? NULL : pw;
	} else {
		v.pw_hash = "";
	}
	if (issue_check(&x, st, &ia, &v, pw, pw2, &er, &hosts, &e) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (er.any) {
		rc = issue_form_render(&x, &ia, &v, &er);
		goto out;
	}
	if (pw != NULL) {
		if (crypto_pwhash_str_alg(hbuf, pw, strlen(pw), ISSUE_PW_OPSLIMIT,
					  ISSUE_PW_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13) != 0) {
			err_set(&e, ERR_INTERNAL, "portal: argon2id: out of memory");
			rc = portal_error(&x, &e);
			goto out;
		}
		v.pw_hash = hbuf;
	}
	if (hosts != NULL)
		v.hostnames = hosts; /* normalised: what the confirm page shows is issued */
	rc = issue_confirm_render(&x, &ia, &v);
out:
	free(hosts);
	if (have_ia)
		store_app_clear(&ia.a);
	portal_form_free(&f);
	return rc;
}

/* ---- Submit ---- */

/* What the certificate page shows; secrets are wiped by issue_result_clear(). */
struct issue_result {
	char serial[STORE_SERIAL_MAX];
	char pin[ISSUE_PIN_LEN + 1];
	char code[PORTAL_CODE_LEN];
	char dl[PORTAL_B64_LEN]; /* download secret (key generated here) */
	char *cert_pem;
	char *chain_pem;
	time_t not_after;
};

static void
issue_result_clear(struct issue_result *res)
{
	free(res->cert_pem);
	free(res->chain_pem);
	sodium_memzero(res, sizeof(*res));
}

/* PEM of the certificate and of the chain (issuing, root). */
static int
issue_pems(struct ca *ca, const unsigned char *der, size_t len, struct issue_result *res,
	   struct err *e)
{
	const unsigned char *p = der;
	X509 *c = d2i_X509(NULL, &p, (long)len);
	BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc = -1;

	if (c == NULL || b1 == NULL || b2 == NULL || PEM_write_bio_X509(b1, c) != 1)
		goto fail;
	for (int i = 0; i < sk_X509_num(ca->chain); i++)
		if (PEM_write_bio_X509(b2, sk_X509_value(ca->chain, i)) != 1)
			goto fail;
	n = BIO_get_mem_data(b1, &data);
	res->cert_pem = xstrndup(data, (size_t)n);
	n = BIO_get_mem_data(b2, &data);
	res->chain_pem = xstrndup(data, (size_t)n);
	if (x509_time_to_epoch(X509_get0_notAfter(c), &res->not_after) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	err_set(e, ERR_INTERNAL, "portal: cannot encode the certificate as PEM");
out:
	X509_free(c);
	BIO_free(b1);
	BIO_free(b2);
	return rc;
}

/* PKCS#12 (AES-256-CBC, PBKDF2, SHA-256 MAC: OpenSSL 3's defaults) of key, cert and chain. */
static int
issue_p12(struct ca *ca, EVP_PKEY *key, const unsigned char *der, size_t len, const char *pin,
	  const char *friendly, unsigned char **out, size_t *outlen, struct err *e)
{
	const unsigned char *p = der;
	X509 *c = d2i_X509(NULL, &p, (long)len);
	PKCS12 *p12 = NULL;
	unsigned char *buf = NULL;
	int n, rc = -1;

	*out = NULL;
	if (c == NULL ||
	    (p12 = PKCS12_create(pin, friendly, key, c, ca->chain, NID_aes_256_cbc,
				 NID_aes_256_cbc, PKCS12_DEFAULT_ITER, PKCS12_DEFAULT_ITER, 0)) ==
		NULL ||
	    (n = i2d_PKCS12(p12, &buf)) <= 0) {
		err_set(e, ERR_INTERNAL, "portal: cannot build the PKCS#12");
		goto out;
	}
	*out = xmalloc((size_t)n);
	memcpy(*out, buf, (size_t)n);
	*outlen = (size_t)n;
	rc = 0;
out:
	OPENSSL_free(buf);
	PKCS12_free(p12);
	X509_free(c);
	return rc;
}

/* The mail that carries the certificate code (the page shows it once as well). */
static int
issue_mail(struct portal_ctx *x, struct store *st, const char *to, const struct issue_result *res,
	   struct err *e)
{
	struct mail_msg m;
	struct buf body;
	int rc = -1;

	buf_init(&body, MAIL_BODY_MAX);
	if (buf_printf(&body, "%s\n\n%s: %s\n%s: %s\n\n%s\n\n%s\n",
		       i18n_get(x->lang, N_("Your certificate has been issued.")),
		       i18n_get(x->lang, N_("Serial number")), res->serial,
		       i18n_get(x->lang, N_("Certificate code")), res->code,
		       i18n_get(x->lang, N_("Keep the certificate code together with your application password: you need both to re-issue the certificate.")),
		       i18n_get(x->lang, N_("If you did not make this application, please contact us."))) == -1 ||
	    buf_cstr(&body) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: mail body too large");
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.to = to;
	m.subject = i18n_get(x->lang, N_("[shomei] Your certificate has been issued"));
	m.body = (const char *)body.data;
	m.cte = portal.mail.cte;
	if (mail_enqueue(&portal.mail, st, &m, NULL, e) == -1)
		goto out;
	rc = 0;
out:
	if (body.data != NULL)
		sodium_memzero(body.data, body.len);
	buf_free(&body);
	return rc;
}

enum issue_outcome { ISSUE_DONE, ISSUE_REPEAT, ISSUE_TICKET_USED, ISSUE_SENT };

/* The mail to the agent with the one-time link of the certificate page. */
static int
issue_mail_agent(struct portal_ctx *x, struct store *st, const char *to, const char *link,
		 struct err *e)
{
	struct mail_msg m;
	struct buf body;
	int rc = -1;

	buf_init(&body, MAIL_BODY_MAX);
	if (buf_printf(&body, "%s\n\n%s\n\n%s\n",
		       i18n_get(x->lang, N_("The certificate holder has approved your application and the certificate has been issued.")),
		       i18n_get(x->lang, N_("Open the link below to get the certificate (and the PIN of its PKCS#12 file, shown once). The link can be used once and is valid for 3 days.")),
		       link) == -1 ||
	    buf_cstr(&body) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: mail body too large");
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.to = to;
	m.subject = i18n_get(x->lang, N_("[shomei] Your certificate has been issued"));
	m.body = (const char *)body.data;
	m.cte = portal.mail.cte;
	if (mail_enqueue(&portal.mail, st, &m, NULL, e) == -1)
		goto out;
	rc = 0;
out:
	if (body.data != NULL)
		sodium_memzero(body.data, body.len);
	buf_free(&body);
	return rc;
}

/* A plain mail (outcome notices): subject and body msgids, one line of detail. */
static int
issue_mail_notice(struct portal_ctx *x, struct store *st, const char *to, const char *subj_msgid,
		  const char *body_msgid, const char *detail, struct err *e)
{
	struct mail_msg m;
	struct buf body;
	int rc = -1;

	buf_init(&body, MAIL_BODY_MAX);
	if (buf_printf(&body, "%s\n\n%s\n", i18n_get(x->lang, body_msgid), detail) == -1 ||
	    buf_cstr(&body) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: mail body too large");
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.to = to;
	m.subject = i18n_get(x->lang, subj_msgid);
	m.body = (const char *)body.data;
	m.cte = portal.mail.cte;
	if (mail_enqueue(&portal.mail, st, &m, NULL, e) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&body);
	return rc;
}

/*
 * Housekeeping: deletes the downloads nobody took, at most once a minute per process.  Each
 * purge is a write transaction of its own; run on every issuance and download it took the
 * write lock twice as often as needed (bench/portal).  An expired download is refused by
 * store_download_take() whether or not its row is gone yet.
 */
#define ISSUE_PURGE_EVERY 60

static void
issue_download_purge(struct store *st, time_t now)
{
	static _Atomic long long last;
	long long l = atomic_load(&last);
	struct err pe;

	if (now - l < ISSUE_PURGE_EVERY && now >= l)
		return;
	if (!atomic_compare_exchange_strong(&last, &l, (long long)now))
		return; /* another thread purges */
	err_clear(&pe);
	if (store_download_purge(st, now, NULL, &pe) == -1)
		log_warn("portal: %s", pe.msg);
}

/* The key that seals what the agent's certificate page shows, from the link's secret. */
static void
issue_seal_key(const unsigned char raw[PORTAL_TOKEN_LEN],
	       unsigned char key[crypto_secretbox_KEYBYTES])
{
	static const unsigned char ctx[] = "shomei portal delivery seal";

	crypto_generichash(key, crypto_secretbox_KEYBYTES, raw, PORTAL_TOKEN_LEN, ctx,
			   sizeof(ctx) - 1);
}

/*
 * Issues an application that is in state from (self: "submitted", agent: "approved"): the
 * key (p256/rsa2048), the CA, then in one transaction the ticket, state -> issued, the code
 * hash, cont_hash used (may be NULL), the parked PKCS#12, audit and mails.  For an agent's
 * application the certificate page goes to the agent by a mailed one-time link (its PIN and
 * download secret sealed under the link's secret) and the code to the holder; res is then
 * only for the approver's page (serial).  On failure the state goes back to back_to.
 */
static int
issue_perform(struct portal_ctx *x, struct store *st, struct issue_app *ia,
	      const struct issue_vals *v, const char *from, const char *back_to,
	      const unsigned char *cont_hash, const char *cont_purpose,
	      enum issue_outcome *outcome, struct issue_result *res, struct err *e)
{
	struct ca_issue_req req;
	struct ca_issued issued;
	struct err se;
	X509_NAME *name = NULL;
	GENERAL_NAMES *sans = NULL;
	EVP_PKEY *key = NULL;
	unsigned char *csr = NULL, *p12 = NULL, *sealed = NULL, code_hash[STORE_HASH_LEN],
		      dlraw[PORTAL_TOKEN_LEN], dlhash[STORE_HASH_LEN], dvraw[PORTAL_TOKEN_LEN],
		      dvhash[STORE_HASH_LEN], skey[crypto_secretbox_KEYBYTES];
	size_t csrlen = 0, p12len = 0, sealedlen = 0;
	char actor[64], *detail = NULL, *hosts = NULL, *link = NULL, dv[PORTAL_B64_LEN];
	time_t now = util_now();
	int rc = -1, began = 0, generated = strcmp(v->key_mode, "csr") != 0, have_cert = 0;
	int agent = strcmp(ia->a.applicant_type, "agent") == 0;
	time_t keep = agent ? now + PORTAL_APP_TTL : now + PORTAL_DOWNLOAD_TTL;

	*outcome = ISSUE_DONE;
	memset(&issued, 0, sizeof(issued));
	memset(dlraw, 0, sizeof(dlraw));
	memset(dvraw, 0, sizeof(dvraw));
	memset(skey, 0, sizeof(skey));
	dv[0] = '\0';
	snprintf(actor, sizeof(actor), "portal:app:%lld", (long long)ia->a.id);

	if (issue_is(ia, "server") && portal_hostnames_parse(v->hostnames, &hosts, e) == -1)
		goto revert;
	if (issue_contents(ia, v, hosts, &name, &sans, e) == -1)
		goto revert;
	if (generated) {
		if ((key = issue_keygen(v->key_mode)) == NULL) {
			err_set(e, ERR_INTERNAL, "portal: key generation failed");
			goto revert;
		}
		if (issue_csr_for_key(key, &csr, &csrlen, e) == -1)
			goto revert;
	}
	memset(&req, 0, sizeof(req));
	req.profile = ia->profile;
	req.csr = generated ? csr : (const unsigned char *)v->csr;
	req.csrlen = generated ? csrlen : strlen(v->csr);
	req.org_code = ia->a.org_code;
	req.actor = actor;
	req.subject = name;
	req.sans = sans;
	if (ca_issue(x->ca, st, &req, &issued, e) == -1)
		goto revert;
	have_cert = 1;
	memcpy(res->serial, issued.serial, sizeof(res->serial));
	if (issue_pems(x->ca, issued.der, issued.derlen, res, e) == -1)
		goto orphan;
	portal_code_new(res->code, code_hash);
	if (generated) {
		char friendly[128];

		issue_random_text(res->pin, ISSUE_PIN_LEN, issue_pin_alphabet);
		if (issue_is(ia, "server"))
			snprintf(friendly, sizeof(friendly), "%.*s",
				 (int)strcspn(v->hostnames, " "), v->hostnames);
		else
			snprintf(friendly, sizeof(friendly), "%s", v->name_romaji);
		if (issue_p12(x->ca, key, issued.der, issued.derlen, res->pin, friendly, &p12,
			      &p12len, e) == -1)
			goto orphan;
		util_random(dlraw, sizeof(dlraw));
		portal_token_hash(dlraw, dlhash);
		portal_b64url(res->dl, sizeof(res->dl), dlraw, sizeof(dlraw));
	}
	if (agent) {
		/* sealed: "<pin>\n<download secret>" (both empty for a CSR) */
		char plain[ISSUE_PIN_LEN + 1 + PORTAL_B64_LEN + 1];
		size_t pl;

		snprintf(plain, sizeof(plain), "%s\n%s", res->pin, res->dl);
		pl = strlen(plain);
		util_random(dvraw, sizeof(dvraw));
		portal_token_hash(dvraw, dvhash);
		issue_seal_key(dvraw, skey);
		portal_b64url(dv, sizeof(dv), dvraw, sizeof(dvraw));
		sealedlen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + pl;
		sealed = xmalloc(sealedlen);
		randombytes_buf(sealed, crypto_secretbox_NONCEBYTES);
		crypto_secretbox_easy(sealed + crypto_secretbox_NONCEBYTES,
				      (const unsigned char *)plain, pl, sealed, skey);
		sodium_memzero(plain, sizeof(plain));
		link = xasprintf("%s/issue/deliver?t=%s", portal.base_url, dv);
	}

	issue_download_purge(st, now);
	if (store_begin(st, e) == -1)
		goto orphan;
	began = 1;
	err_clear(&se);
	if (store_ticket_use(st, ia->a.ticket, res->serial, &se) == -1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			goto orphan;
		}
		store_rollback(st);
		began = 0;
		*outcome = ISSUE_TICKET_USED;
		goto cancel;
	}
	if (store_app_issue(st, ia->a.id, from, res->serial, code_hash, now, e) == -1)
		goto orphan;
	if (cont_hash != NULL && store_token_use(st, cont_hash, cont_purpose, now, e) == -1)
		goto orphan;
	if (generated && store_download_put(st, dlhash, ia->a.id, p12, p12len, keep, e) == -1)
		goto orphan;
	if (agent && store_download_put(st, dvhash, ia->a.id, sealed, sealedlen, keep, e) == -1)
		goto orphan;
	detail = xasprintf("application=%lld ticket=%s profile=%s key=%s type=%s",
			   (long long)ia->a.id, ia->a.ticket, ia->profile, v->key_mode,
			   ia->a.applicant_type);
	if (store_audit_append(st, actor, "portal.issue", res->serial, detail, NULL, e) == -1)
		goto orphan;
	if (issue_mail(x, st, agent ? v->subject_email : ia->a.email, res, e) == -1)
		goto orphan;
	if (agent && issue_mail_agent(x, st, ia->a.email, link, e) == -1)
		goto orphan;
	if (store_commit(st, e) == -1) {
		began = 0;
		goto orphan;
	}
	began = 0;
	rc = 0;
	goto out;

cancel:
	/* the certificate must not stay valid without its ticket: revoke it, cancel */
	{
		struct err re;

		err_clear(&re);
		if (ca_revoke(x->ca, st, res->serial, 5 /* cessationOfOperation */, 0, actor, &re) ==
		    -1)
			log_warn("portal: revoking %s after a lost ticket: %s", res->serial, re.msg);
		err_clear(&re);
		if (store_app_set_state(st, ia->a.id, from, "cancelled", &re) == -1)
			log_warn("portal: application %lld: %s", (long long)ia->a.id, re.msg);
	}
	rc = 0;
	goto out;
orphan:
	/* issued but not delivered: revoke it; the application may be submitted again */
	if (began)
		store_rollback(st);
	began = 0;
	if (have_cert) {
		struct err re;

		err_clear(&re);
		if (ca_revoke(x->ca, st, res->serial, 5, 0, actor, &re) == -1)
			log_warn("portal: revoking undelivered %s: %s", res->serial, re.msg);
	}
revert:
	{
		struct err re;

		err_clear(&re);
		if (store_app_set_state(st, ia->a.id, from, back_to, &re) == -1)
			log_warn("portal: application %lld: %s", (long long)ia->a.id, re.msg);
	}
out:
	if (began)
		store_rollback(st);
	free(detail);
	free(hosts);
	if (link != NULL) {
		sodium_memzero(link, strlen(link));
		free(link);
	}
	OPENSSL_free(csr);
	if (p12 != NULL) {
		sodium_memzero(p12, p12len);
		free(p12);
	}
	free(sealed);
	EVP_PKEY_free(key);
	X509_NAME_free(name);
	GENERAL_NAMES_free(sans);
	ca_issued_clear(&issued);
	sodium_memzero(dlraw, sizeof(dlraw));
	sodium_memzero(dvraw, sizeof(dvraw));
	sodium_memzero(skey, sizeof(skey));
	sodium_memzero(dv, sizeof(dv));
	sodium_memzero(code_hash, sizeof(code_hash));
	return rc;
}

/* The approval mail to the holder (agent applications). */
static int
issue_mail_approval(struct portal_ctx *x, struct store *st, const struct issue_app *ia,
		    const char *to, const char *link, struct err *e)
{
	struct mail_msg m;
	struct buf body;
	int rc = -1;

	buf_init(&body, MAIL_BODY_MAX);
	if (buf_printf(&body, "%s\n\n%s: %s\n%s: %s\n\n%s\n\n%s\n\n%s\n",
		       i18n_get(x->lang, N_("An agent has applied for a certificate for you.")),
		       i18n_get(x->lang, N_("Agent")), ia->a.email,
		       i18n_get(x->lang, N_("Organization")), ia->org_name,
		       i18n_get(x->lang, N_("Open the link below to review the application and approve or reject it. The link can be used once and is valid for 3 days.")),
		       link,
		       i18n_get(x->lang, N_("If you do not know this application, reject it or discard this mail."))) == -1 ||
	    buf_cstr(&body) == NULL) {
		err_set(e, ERR_INTERNAL, "portal: mail body too large");
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.to = to;
	m.subject = i18n_get(x->lang, N_("[shomei] Please approve a certificate application"));
	m.body = (const char *)body.data;
	m.cte = portal.mail.cte;
	if (mail_enqueue(&portal.mail, st, &m, NULL, e) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&body);
	return rc;
}

/*
 * Submit.  Self: the claim (nonce, state mail-verified -> submitted) and issue_perform().
 * Agent: in one transaction the nonce, state mail-verified -> awaiting-approval with the
 * values (the CSR included), the continuation used, the approval token and its mail.
 */
static int
issue_submit(struct portal_ctx *x, struct store *st, struct issue_app *ia,
	     const struct issue_vals *v, const unsigned char nonce_hash[STORE_HASH_LEN],
	     const unsigned char cont_hash[STORE_HASH_LEN], enum issue_outcome *outcome,
	     struct issue_result *res, struct err *e)
{
	struct store_app rec;
	struct store_ticket tk;
	struct err se;
	unsigned char araw[PORTAL_TOKEN_LEN], ah[STORE_HASH_LEN];
	char at[PORTAL_B64_LEN], *link = NULL;
	time_t now = util_now();
	int rc = -1, began = 0, agent = strcmp(ia->a.applicant_type, "agent") == 0;

	*outcome = ISSUE_DONE;
	memset(&tk, 0, sizeof(tk));
	err_clear(&se);
	util_random(araw, sizeof(araw));
	if (store_begin(st, e) == -1)
		goto out;
	began = 1;
	if (store_token_add(st, nonce_hash, ISSUE_TOKEN_SUBMIT, ia->a.id, now + PORTAL_FORM_TTL,
			    now, &se) == -1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			goto out;
		}
		*outcome = ISSUE_REPEAT; /* a concurrent twin */
		rc = 0;
		goto out;
	}
	if (store_ticket_get(st, ia->a.ticket, &tk, e) == -1)
		goto out;
	if (strcmp(tk.status, "unused") != 0) {
		store_rollback(st);
		began = 0;
		*outcome = ISSUE_TICKET_USED;
		rc = 0;
		goto out;
	}
	memset(&rec, 0, sizeof(rec));
	rec.profile = ia->profile;
	rec.subject_email = (char *)v->subject_email;
	rec.name_kanji = (char *)v->name_kanji;
	rec.name_romaji = (char *)v->name_romaji;
	rec.ou = (char *)v->ou;
	rec.hostnames = (char *)v->hostnames;
	rec.key_mode = (char *)v->key_mode;
	rec.password_hash = (char *)v->pw_hash;
	rec.csr = v->csr[0] != '\0' ? (char *)v->csr : NULL;
	err_clear(&se);
	if (store_app_submit(st, ia->a.id, "mail-verified", agent ? "awaiting-approval" : "submitted",
			     &rec, now, &se) == -1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			goto out;
		}
		*outcome = ISSUE_REPEAT; /* another confirm page of this application won */
		rc = 0;
		goto out;
	}
	if (agent) {
		portal_token_hash(araw, ah);
		portal_b64url(at, sizeof(at), araw, sizeof(araw));
		link = xasprintf("%s/approve?t=%s", portal.base_url, at);
		if (store_token_use(st, cont_hash, ISSUE_TOKEN_FORM, now, e) == -1 ||
		    store_token_add(st, ah, ISSUE_TOKEN_APPROVE, ia->a.id, now + PORTAL_APP_TTL, 0,
				    e) == -1 ||
		    issue_mail_approval(x, st, ia, v->subject_email, link, e) == -1)
			goto out;
	}
	if (store_commit(st, e) == -1) {
		began = 0;
		goto out;
	}
	began = 0;
	if (agent) {
		*outcome = ISSUE_SENT;
		rc = 0;
		goto out;
	}
	rc = issue_perform(x, st, ia, v, "submitted", "mail-verified", cont_hash, ISSUE_TOKEN_FORM,
			   outcome, res, e);
out:
	if (began)
		store_rollback(st);
	store_ticket_clear(&tk);
	sodium_memzero(araw, sizeof(araw));
	sodium_memzero(at, sizeof(at));
	if (link != NULL) {
		sodium_memzero(link, strlen(link));
		free(link);
	}
	return rc;
}

/* The certificate page: PIN and code, once. */
static int
issue_cert_render(struct portal_ctx *x, const struct issue_app *ia, const char *key_mode,
		  const struct issue_result *res)
{
	struct tmpl_data *d = portal_data_flow(
	    x, N_("Certificate issued"),
	    issue_agent(&ia->a) ? ISSUE_STEP_AGENT_ISSUED : ISSUE_STEP_ISSUED, issue_agent(&ia->a));
	char *url = NULL, date[32];
	struct tm tm;
	int rc;

	gmtime_r(&res->not_after, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
	tmpl_data_str(d, "serial", res->serial);
	tmpl_data_str(d, "not_after", date);
	tmpl_data_str(d, "profile", ia->profile);
	tmpl_data_str(d, "cert_code", res->code);
	if (strcmp(key_mode, "csr") != 0) {
		url = xasprintf("/issue/download?d=%s", res->dl);
		tmpl_data_bool(d, "p12", 1);
		tmpl_data_str(d, "pin", res->pin);
		tmpl_data_str(d, "download_url", url);
	} else {
		tmpl_data_bool(d, "p12", 0);
	}
	tmpl_data_str(d, "cert_pem", res->cert_pem);
	tmpl_data_str(d, "chain_pem", res->chain_pem);
	rc = portal_page(x, 200, "issue_cert", d);
	tmpl_data_free(d);
	if (url != NULL) {
		sodium_memzero(url, strlen(url));
		free(url);
	}
	return rc;
}

int
portal_issue_confirm_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct issue_app ia;
	struct issue_vals v;
	struct issue_result res;
	struct store *st;
	struct err e;
	enum issue_outcome oc;
	const char *nonce, *when, *mac, *action;
	char want[PORTAL_B64_LEN];
	unsigned char raw[PORTAL_TOKEN_LEN], nh[STORE_HASH_LEN], craw[PORTAL_TOKEN_LEN],
	    ch[STORE_HASH_LEN];
	long t;
	int rc = -1, k, have_ia = 0;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&res, 0, sizeof(res));
	err_clear(&e);
	if (issue_form_read(&x, &f, &rc))
		goto out;
	issue_vals_from(&v, &f);
	nonce = portal_form_get(&f, "form_nonce");
	when = portal_form_get(&f, "form_time");
	mac = portal_form_get(&f, "form_mac");
	action = nz(portal_form_get(&f, "action"));
	if (nonce == NULL || when == NULL || mac == NULL ||
	    portal_b64url_decode(raw, sizeof(raw), nonce) == -1 ||
	    util_parse_long(when, 0, LONG_MAX, &t) == -1 || strlen(mac) != PORTAL_B64_LEN - 1)
		goto invalid;
	issue_form_mac(&x, &v, nonce, when, want);
	if (!util_memeq_ct(want, mac, PORTAL_B64_LEN - 1) || t > util_now() + 60 ||
	    util_now() - t > PORTAL_FORM_TTL)
		goto invalid;
	if ((st = ca_thread_store(x.ca, &e)) == NULL) {
		rc = portal_error(&x, &e);
		goto out;
	}
	/* a repeated Submit first: the continuation is used up once issued */
	portal_token_hash(raw, nh);
	{
		struct store_token tok;
		struct err se;

		err_clear(&se);
		if (strcmp(action, "back") != 0 &&
		    store_token_get(st, nh, ISSUE_TOKEN_SUBMIT, &tok, &se) == 0) {
			rc = portal_notice(&x, 200, N_("The certificate has already been issued"),
					   N_("This application has already been submitted. For your security, the PIN and the certificate code are shown only once."));
			goto out;
		} else if (se.code != ERR_OK && se.code != ERR_NOTFOUND) {
			rc = portal_error(&x, &se);
			goto out;
		}
	}
	if ((k = issue_cont_load(&x, st, v.t, &ia, &rc, &e)) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	if (k == 1)
		goto out;
	have_ia = 1;
	if (strcmp(action, "back") == 0) {
		rc = issue_form_render(&x, &ia, &v, NULL);
		goto out;
	}
	if (strcmp(action, "submit") != 0 || v.pw_hash[0] == '\0')
		goto invalid;
	if (portal_b64url_decode(craw, sizeof(craw), v.t) == -1)
		goto invalid;
	issue_cont_hash(&x, craw, ch);
	if (issue_submit(&x, st, &ia, &v, nh, ch, &oc, &res, &e) == -1) {
		rc = portal_error(&x, &e);
		goto out;
	}
	switch (oc) {
	case ISSUE_DONE:
		rc = issue_cert_render(&x, &ia, v.key_mode, &res);
		break;
	case ISSUE_SENT: {
		struct tmpl_data *d = portal_data_flow(&x, N_("Application submitted"),
						       ISSUE_STEP_DONE, 1);

		tmpl_data_str(d, "subject_email", v.subject_email);
		rc = portal_page(&x, 200, "issue_sent", d);
		tmpl_data_free(d);
		break;
	}
	case ISSUE_REPEAT:
		rc = portal_notice(&x, 200, N_("The certificate has already been issued"),
				   N_("This application has already been submitted. For your security, the PIN and the certificate code are shown only once."));
		break;
	default:
		rc = portal_notice(&x, 409, N_("This ticket has already been used"),
				   N_("The ticket of this application has meanwhile been used for another certificate. No certificate was issued on this application."));
		break;
	}
	goto out;
invalid:
	rc = portal_notice(&x, 400, N_("The form is no longer valid"),
			   N_("This form is no longer valid. Please open the issuance form again."));
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(craw, sizeof(craw));
	issue_result_clear(&res);
	if (have_ia)
		store_app_clear(&ia.a);
	portal_form_free(&f);
	return rc;
}

/* GET /issue/download?d=<secret>: the PKCS#12, once. */
int
portal_issue_download_get(struct http_req *r)
{
	struct portal_ctx x;
	struct store *st;
	struct err e, se;
	unsigned char raw[PORTAL_TOKEN_LEN], h[STORE_HASH_LEN], *data = NULL;
	const char *s = http_query(r, "d"); /* a query, not the path: paths go to the access log */
	const char *hdrs[] = {"Content-Disposition", "attachment; filename=\"certificate.p12\"",
			      "Cache-Control", "no-store", "X-Content-Type-Options", "nosniff",
			      NULL};
	size_t len = 0;
	int rc;

	portal_ctx_init(&x, r);
	err_clear(&e);
	err_clear(&se);
	if (portal_b64url_decode(raw, sizeof(raw), s) == -1)
		goto gone;
	portal_token_hash(raw, h);
	sodium_memzero(raw, sizeof(raw));
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		return portal_error(&x, &e);
	issue_download_purge(st, util_now());
	if (store_download_take(st, h, util_now(), &data, &len, NULL, &se) == -1) {
		if (se.code != ERR_NOTFOUND)
			return portal_error(&x, &se);
		goto gone;
	}
	rc = http_reply_hdrs(r, 200, "application/x-pkcs12", data, len, hdrs);
	sodium_memzero(data, len);
	free(data);
	return rc;
gone:
	return portal_notice(&x, 410, N_("This download is no longer available"),
			     N_("This download link can be used once and only for an hour after issuance. If you did not save the file, please ask for a re-issue."));
}

/* ---- the mailed link ---- */

/*
 * GET shows a button and uses nothing (mail scanners open links); POST (CSRF) uses the link,
 * marks the application mail-verified, makes the continuation and redirects to the form.
 */
int
portal_verify_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct store_token t;
	struct store *st = NULL;
	struct err e, se;
	unsigned char raw[PORTAL_TOKEN_LEN], h[STORE_HASH_LEN], craw[PORTAL_TOKEN_LEN],
	    ch[STORE_HASH_LEN];
	char cont[PORTAL_B64_LEN], *loc = NULL;
	time_t now = util_now();
	int rc = -1, began = 0;
	enum { V_OK, V_UNKNOWN, V_USED, V_EXPIRED } res = V_UNKNOWN;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	err_clear(&e);
	err_clear(&se);
	if (issue_form_read(&x, &f, &rc))
		goto done;
	if (portal_b64url_decode(raw, sizeof(raw), portal_form_get(&f, "onetimetoken")) == -1)
		goto reply;
	portal_token_hash(raw, h);
	if ((st = ca_thread_store(x.ca, &e)) == NULL || store_begin(st, &e) == -1)
		goto fail;
	began = 1;
	if (store_token_get(st, h, ISSUE_TOKEN_VERIFY, &t, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			e = se;
			goto fail;
		}
		res = V_UNKNOWN;
	} else if (t.used != 0) {
		res = V_USED;
	} else if (t.expires <= now) {
		store_rollback(st);
		began = 0;
		issue_mark_expired(st, t.app_id, "registered");
		res = V_EXPIRED;
	} else {
		util_random(craw, sizeof(craw));
		issue_cont_hash(&x, craw, ch);
		portal_b64url(cont, sizeof(cont), craw, sizeof(craw));
		if (store_token_use(st, h, ISSUE_TOKEN_VERIFY, now, &e) == -1 ||
		    store_app_set_state(st, t.app_id, "registered", "mail-verified", &e) == -1 ||
		    store_token_add(st, ch, ISSUE_TOKEN_FORM, t.app_id, now + PORTAL_APP_TTL, 0,
				    &e) == -1)
			goto fail;
		if (store_commit(st, &e) == -1) {
			began = 0;
			goto fail;
		}
		began = 0;
		res = V_OK;
	}
reply:
	if (began)
		store_rollback(st);
	began = 0;
	switch (res) {
	case V_OK: {
		const char *hdrs[] = {"Location", NULL, "Cache-Control", "no-store", NULL};

		loc = xasprintf("/issue/form?t=%s", cont);
		hdrs[1] = loc;
		rc = http_reply_hdrs(r, 303, "text/plain; charset=utf-8", "", 0, hdrs);
		break;
	}
	case V_USED:
		rc = portal_notice(&x, 410, N_("This link has already been used"),
				   N_("This link has already been used. Each link in our mails can be used only once."));
		break;
	case V_EXPIRED:
		rc = portal_notice(&x, 410, N_("This link has expired"),
				   N_("This link has expired: links are valid for 3 days. Please register your application again; your ticket can be used for the new registration."));
		break;
	default:
		rc = portal_notice(&x, 404, N_("This link is not valid"),
				   N_("This link is not valid. Please check that you opened the whole link from the mail."));
		break;
	}
	goto done;
fail:
	if (began)
		store_rollback(st);
	rc = portal_error(&x, &e);
done:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(craw, sizeof(craw));
	sodium_memzero(cont, sizeof(cont));
	free(loc);
	portal_form_free(&f);
	return rc;
}

/* ---- issuing an approved application (re-issue: reissue.c) ---- */

int
portal_issue_approved(struct portal_ctx *x, struct store *st, const struct store_app *a,
		      const char *csr_pem, const char *code,
		      const unsigned char code_hash[STORE_HASH_LEN], char *refusal,
		      size_t refusal_len, int *rc, struct err *e)
{
	struct issue_app ia;
	struct issue_vals v;
	struct issue_result res;
	struct store_org org;
	struct ca_issue_req req;
	struct ca_issued issued;
	struct err ce;
	X509_NAME *name = NULL;
	GENERAL_NAMES *sans = NULL;
	EVP_PKEY *key = NULL;
	unsigned char *csr = NULL, *p12 = NULL, dlraw[PORTAL_TOKEN_LEN], dlhash[STORE_HASH_LEN];
	size_t csrlen = 0, p12len = 0;
	char actor[64], *detail = NULL;
	time_t now = util_now();
	int r = -1, began = 0, have_cert = 0;
	int generated = a->key_mode == NULL || strcmp(a->key_mode, "csr") != 0;

	memset(&ia, 0, sizeof(ia));
	memset(&v, 0, sizeof(v));
	memset(&res, 0, sizeof(res));
	memset(&org, 0, sizeof(org));
	memset(&issued, 0, sizeof(issued));
	err_clear(&ce);
	refusal[0] = '\0';
	snprintf(actor, sizeof(actor), "portal:app:%lld", (long long)a->id);
	if (store_org_get_id(st, a->org_id, &org, e) == -1)
		goto out;
	ia.a = *a; /* borrowed: never cleared here */
	snprintf(ia.profile, sizeof(ia.profile), "%s", nz(a->profile));
	snprintf(ia.org_name, sizeof(ia.org_name), "%s", org.name);
	v.name_kanji = nz(a->name_kanji);
	v.name_romaji = nz(a->name_romaji);
	v.ou = nz(a->ou);
	v.subject_email = nz(a->subject_email);
	v.hostnames = nz(a->hostnames);
	v.key_mode = generated ? nz(a->key_mode) : "csr";
	if (issue_contents(&ia, &v, v.hostnames, &name, &sans, e) == -1)
		goto out;
	if (generated) {
		if ((key = issue_keygen(v.key_mode)) == NULL) {
			err_set(e, ERR_INTERNAL, "portal: key generation failed");
			goto out;
		}
		if (issue_csr_for_key(key, &csr, &csrlen, e) == -1)
			goto out;
	}
	memset(&req, 0, sizeof(req));
	req.profile = ia.profile;
	req.csr = generated ? csr : (const unsigned char *)csr_pem;
	req.csrlen = generated ? csrlen : strlen(nz(csr_pem));
	req.org_code = a->org_code;
	req.actor = actor;
	req.subject = name;
	req.sans = sans;
	if (ca_issue(x->ca, st, &req, &issued, &ce) == -1) {
		if (ce.code == ERR_REFUSED && !generated) {
			snprintf(refusal, refusal_len, "%s", ce.msg);
			r = 1;
		} else {
			*e = ce;
		}
		goto out;
	}
	have_cert = 1;
	memcpy(res.serial, issued.serial, sizeof(res.serial));
	snprintf(res.code, sizeof(res.code), "%s", code);
	if (issue_pems(x->ca, issued.der, issued.derlen, &res, e) == -1)
		goto orphan;
	if (generated) {
		issue_random_text(res.pin, ISSUE_PIN_LEN, issue_pin_alphabet);
		if (issue_p12(x->ca, key, issued.der, issued.derlen, res.pin,
			      a->name_romaji != NULL ? a->name_romaji : "certificate", &p12, &p12len,
			      e) == -1)
			goto orphan;
		util_random(dlraw, sizeof(dlraw));
		portal_token_hash(dlraw, dlhash);
		portal_b64url(res.dl, sizeof(res.dl), dlraw, sizeof(dlraw));
	}
	if (store_begin(st, e) == -1)
		goto orphan;
	began = 1;
	if (store_app_issue(st, a->id, "approved", res.serial, code_hash, now, e) == -1 ||
	    store_ticket_reassign(st, a->ticket, res.serial, e) == -1)
		goto orphan;
	if (generated && store_download_put(st, dlhash, a->id, p12, p12len,
					    now + PORTAL_DOWNLOAD_TTL, e) == -1)
		goto orphan;
	detail = xasprintf("application=%lld predecessor=%lld key=%s", (long long)a->id,
			   (long long)a->predecessor_id, v.key_mode);
	if (store_audit_append(st, actor, "portal.issue", res.serial, detail, NULL, e) == -1)
		goto orphan;
	began = 0;
	if (store_commit(st, e) == -1)
		goto orphan;
	*rc = issue_cert_render(x, &ia, v.key_mode, &res);
	r = 0;
	goto out;
orphan:
	/* issued but not delivered: revoke it; the holder can fetch again with the code */
	if (began)
		store_rollback(st);
	began = 0;
	if (have_cert) {
		struct err re;

		err_clear(&re);
		if (ca_revoke(x->ca, st, res.serial, 5, 0, actor, &re) == -1)
			log_warn("portal: revoking undelivered %s: %s", res.serial, re.msg);
	}
out:
	if (began)
		store_rollback(st);
	free(detail);
	OPENSSL_free(csr);
	if (p12 != NULL) {
		sodium_memzero(p12, p12len);
		free(p12);
	}
	EVP_PKEY_free(key);
	X509_NAME_free(name);
	GENERAL_NAMES_free(sans);
	ca_issued_clear(&issued);
	store_org_clear(&org);
	issue_result_clear(&res);
	sodium_memzero(dlraw, sizeof(dlraw));
	return r;
}

/* ---- the holder's approval of an agent's application ---- */

/* The values of a submitted application, borrowed from a. */
static void
issue_vals_of_app(struct issue_vals *v, const struct store_app *a)
{
	memset(v, 0, sizeof(*v));
	v->t = "";
	v->name_kanji = nz(a->name_kanji);
	v->name_romaji = nz(a->name_romaji);
	v->ou = nz(a->ou);
	v->subject_email = nz(a->subject_email);
	v->hostnames = nz(a->hostnames);
	v->key_mode = nz(a->key_mode);
	v->csr = nz(a->csr);
	v->pw_hash = nz(a->password_hash);
}

/*
 * Finds the application of approval token t (state awaiting-approval).  0 with *ia and *h
 * filled, 1 after replying with a notice, -1 on a store error.
 */
static int
issue_approval_load(struct portal_ctx *x, struct store *st, const char *t, struct issue_app *ia,
		    unsigned char h[STORE_HASH_LEN], int *rc, struct err *e)
{
	struct store_token tok;
	struct store_ticket tk;
	struct store_org org;
	struct err se;
	unsigned char raw[PORTAL_TOKEN_LEN];
	int r = -1;

	memset(ia, 0, sizeof(*ia));
	memset(&tk, 0, sizeof(tk));
	memset(&org, 0, sizeof(org));
	err_clear(&se);
	if (portal_b64url_decode(raw, sizeof(raw), t) == -1)
		goto unknown;
	portal_token_hash(raw, h);
	if (store_token_get(st, h, ISSUE_TOKEN_APPROVE, &tok, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		goto unknown;
	}
	if (tok.used != 0) {
		*rc = portal_notice(x, 410, N_("This link has already been used"),
				    N_("This link has already been used. Each link in our mails can be used only once."));
		r = 1;
		goto out;
	}
	if (tok.expires <= util_now()) {
		issue_mark_expired(st, tok.app_id, "awaiting-approval");
		*rc = portal_notice(x, 410, N_("This link has expired"),
				    N_("This approval link has expired: links are valid for 3 days. The agent can register the application again."));
		r = 1;
		goto out;
	}
	if (store_app_get(st, tok.app_id, &ia->a, e) == -1 ||
	    store_ticket_get(st, ia->a.ticket, &tk, e) == -1 ||
	    store_org_get_id(st, ia->a.org_id, &org, e) == -1)
		goto out;
	if (strcmp(ia->a.state, "awaiting-approval") != 0) {
		*rc = portal_notice(x, 409, N_("This application has already been decided"),
				    N_("This application has already been approved or rejected."));
		r = 1;
		goto out;
	}
	snprintf(ia->profile, sizeof(ia->profile), "%s", tk.profile);
	snprintf(ia->org_name, sizeof(ia->org_name), "%s", org.name);
	r = 0;
	goto out;
unknown:
	*rc = portal_notice(x, 404, N_("This link is not valid"),
			    N_("This link is not valid. Please check that you opened the whole link from the mail."));
	r = 1;
out:
	sodium_memzero(raw, sizeof(raw));
	store_ticket_clear(&tk);
	store_org_clear(&org);
	if (r != 0)
		store_app_clear(&ia->a);
	return r;
}

/* GET /approve?t=: the application's details and the two buttons; uses nothing up. */
int
portal_approve_get(struct http_req *r)
{
	struct portal_ctx x;
	struct issue_app ia;
	struct tmpl_data *d;
	struct store *st;
	struct err e;
	unsigned char h[STORE_HASH_LEN];
	char csrf[PORTAL_B64_LEN];
	const char *t = nz(http_query(r, "t"));
	int rc = -1, k;

	portal_ctx_init(&x, r);
	err_clear(&e);
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		return portal_error(&x, &e);
	if ((k = issue_approval_load(&x, st, t, &ia, h, &rc, &e)) == -1)
		return portal_error(&x, &e);
	if (k == 1)
		return rc;
	d = portal_data_flow(&x, N_("Approval of a certificate application"), ISSUE_STEP_APPROVAL,
			     1);
	portal_csrf(&x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "t", t);
	tmpl_data_str(d, "agent_email", ia.a.email);
	tmpl_data_str(d, "org_name", ia.org_name);
	tmpl_data_str(d, "profile", ia.profile);
	tmpl_data_bool(d, "need_names", !issue_is(&ia, "server"));
	tmpl_data_bool(d, "p_server", issue_is(&ia, "server"));
	tmpl_data_str(d, "name_kanji", nz(ia.a.name_kanji));
	tmpl_data_str(d, "name_romaji", nz(ia.a.name_romaji));
	tmpl_data_str(d, "ou", nz(ia.a.ou));
	tmpl_data_str(d, "subject_email", nz(ia.a.subject_email));
	tmpl_data_str(d, "hostnames", nz(ia.a.hostnames));
	tmpl_data_str(d, "key_mode", nz(ia.a.key_mode));
	rc = portal_page(&x, 200, "approve", d);
	tmpl_data_free(d);
	store_app_clear(&ia.a);
	return rc;
}

/* POST /approve: action approve (issues; the agent gets the certificate page by mail) or reject. */
int
portal_approve_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct issue_app ia;
	struct issue_vals v;
	struct issue_result res;
	struct store *st;
	struct err e, se;
	enum issue_outcome oc;
	unsigned char h[STORE_HASH_LEN];
	const char *action;
	char detail[128];
	time_t now = util_now();
	int rc = -1, k, have_ia = 0, began = 0;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&res, 0, sizeof(res));
	err_clear(&e);
	err_clear(&se);
	if (issue_form_read(&x, &f, &rc))
		goto out;
	action = nz(portal_form_get(&f, "action"));
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		goto fail;
	if ((k = issue_approval_load(&x, st, nz(portal_form_get(&f, "t")), &ia, h, &rc, &e)) ==
	    -1)
		goto fail;
	if (k == 1)
		goto out;
	have_ia = 1;
	if (strcmp(action, "reject") == 0) {
		snprintf(detail, sizeof(detail), "%s: %s", i18n_get(x.lang, N_("Ticket number")),
			 ia.a.ticket);
		if (store_begin(st, &e) == -1)
			goto fail;
		began = 1;
		if (store_token_use(st, h, ISSUE_TOKEN_APPROVE, now, &se) == -1 ||
		    store_app_set_state(st, ia.a.id, "awaiting-approval", "rejected", &se) == -1) {
			if (se.code != ERR_CONFLICT) {
				e = se;
				goto fail;
			}
			store_rollback(st);
			began = 0;
			rc = portal_notice(&x, 409, N_("This application has already been decided"),
					   N_("This application has already been approved or rejected."));
			goto out;
		}
		if (store_audit_append(st, "portal:holder", "portal.reject", ia.a.ticket, "", NULL,
				       &e) == -1 ||
		    issue_mail_notice(&x, st, ia.a.email,
				      N_("[shomei] Your certificate application was rejected"),
				      N_("The certificate holder has rejected the application you made on their behalf. No certificate was issued; the ticket can be used again."),
				      detail, &e) == -1 ||
		    issue_mail_notice(&x, st, nz(ia.a.subject_email),
				      N_("[shomei] Your certificate application was rejected"),
				      N_("You have rejected the certificate application made on your behalf. No certificate was issued."),
				      detail, &e) == -1)
			goto fail;
		if (store_commit(st, &e) == -1) {
			began = 0;
			goto fail;
		}
		began = 0;
		rc = portal_notice(&x, 200, N_("Application rejected"),
				   N_("You have rejected the application. No certificate was issued, and the agent has been told by mail."));
		goto out;
	}
	if (strcmp(action, "approve") != 0) {
		rc = portal_notice(&x, 400, N_("The form could not be read"),
				   N_("The form could not be read. Please go back and try again."));
		goto out;
	}
	/* the claim: awaiting-approval -> approved (a double click finds it moved) */
	if (store_app_set_state(st, ia.a.id, "awaiting-approval", "approved", &se) == -1) {
		if (se.code != ERR_CONFLICT) {
			e = se;
			goto fail;
		}
		rc = portal_notice(&x, 409, N_("This application has already been decided"),
				   N_("This application has already been approved or rejected."));
		goto out;
	}
	issue_vals_of_app(&v, &ia.a);
	if (issue_perform(&x, st, &ia, &v, "approved", "awaiting-approval", h, ISSUE_TOKEN_APPROVE,
			  &oc, &res, &e) == -1)
		goto fail;
	if (oc == ISSUE_TICKET_USED) {
		rc = portal_notice(&x, 409, N_("This ticket has already been used"),
				   N_("The ticket of this application has meanwhile been used for another certificate. No certificate was issued on this application."));
		goto out;
	}
	{
		struct tmpl_data *d = portal_data_flow(&x, N_("Application approved"),
						       ISSUE_STEP_AGENT_ISSUED, 1);

		tmpl_data_str(d, "serial", res.serial);
		tmpl_data_str(d, "agent_email", ia.a.email);
		rc = portal_page(&x, 200, "approve_done", d);
		tmpl_data_free(d);
	}
	goto out;
fail:
	if (began)
		store_rollback(st);
	began = 0;
	rc = portal_error(&x, &e);
out:
	issue_result_clear(&res);
	if (have_ia)
		store_app_clear(&ia.a);
	portal_form_free(&f);
	return rc;
}

/* ---- the agent's certificate page, by a mailed one-time link ---- */

/* GET /issue/deliver?t=: a button (mail scanners open links); uses nothing up. */
int
portal_deliver_get(struct http_req *r)
{
	struct portal_ctx x;
	struct tmpl_data *d;
	char csrf[PORTAL_B64_LEN];
	int rc;

	portal_ctx_init(&x, r);
	d = portal_data_flow(&x, N_("Certificate issued"), ISSUE_STEP_AGENT_ISSUED, 1);
	portal_csrf(&x, csrf);
	tmpl_data_str(d, "csrf", csrf);
	tmpl_data_str(d, "t", nz(http_query(r, "t")));
	rc = portal_page(&x, 200, "deliver", d);
	tmpl_data_free(d);
	return rc;
}

/* POST /issue/deliver: takes the sealed PIN and download secret, shows the page once. */
int
portal_deliver_post(struct http_req *r)
{
	struct portal_ctx x;
	struct portal_form f;
	struct issue_app ia;
	struct issue_result res;
	struct store_cert cert;
	struct store *st;
	struct err e, se;
	unsigned char raw[PORTAL_TOKEN_LEN], h[STORE_HASH_LEN], key[crypto_secretbox_KEYBYTES],
	    *data = NULL;
	char plain[ISSUE_PIN_LEN + 1 + PORTAL_B64_LEN + 1];
	size_t len = 0, pl;
	int64_t app_id = 0;
	int rc = -1, have_ia = 0;

	portal_ctx_init(&x, r);
	memset(&f, 0, sizeof(f));
	memset(&res, 0, sizeof(res));
	memset(&ia, 0, sizeof(ia));
	memset(&cert, 0, sizeof(cert));
	memset(plain, 0, sizeof(plain));
	memset(key, 0, sizeof(key));
	err_clear(&e);
	err_clear(&se);
	if (issue_form_read(&x, &f, &rc))
		goto out;
	if (portal_b64url_decode(raw, sizeof(raw), portal_form_get(&f, "t")) == -1)
		goto gone;
	portal_token_hash(raw, h);
	if ((st = ca_thread_store(x.ca, &e)) == NULL)
		goto fail;
	if (store_download_take(st, h, util_now(), &data, &len, &app_id, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			e = se;
			goto fail;
		}
		goto gone;
	}
	issue_seal_key(raw, key);
	if (len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES ||
	    (pl = len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES) >= sizeof(plain) ||
	    crypto_secretbox_open_easy((unsigned char *)plain, data + crypto_secretbox_NONCEBYTES,
				       len - crypto_secretbox_NONCEBYTES, data, key) != 0) {
		err_set(&e, ERR_INTERNAL, "portal: delivery of application %lld does not open",
			(long long)app_id);
		goto fail;
	}
	plain[pl] = '\0';
	if (store_app_get(st, app_id, &ia.a, &e) == -1)
		goto fail;
	have_ia = 1;
	if (ia.a.cert_serial == NULL) {
		err_set(&e, ERR_INTERNAL, "portal: delivered application %lld has no certificate",
			(long long)app_id);
		goto fail;
	}
	snprintf(ia.profile, sizeof(ia.profile), "%s", nz(ia.a.profile));
	if (store_cert_get(st, ia.a.cert_serial, &cert, &e) == -1)
		goto fail;
	snprintf(res.serial, sizeof(res.serial), "%s", cert.serial);
	if (issue_pems(x.ca, cert.der, cert.derlen, &res, &e) == -1)
		goto fail;
	{
		char *nl = strchr(plain, '\n');

		if (nl != NULL) {
			*nl = '\0';
			snprintf(res.pin, sizeof(res.pin), "%.12s", plain);
			snprintf(res.dl, sizeof(res.dl), "%.43s", nl + 1);
		}
	}
	rc = issue_cert_render(&x, &ia, nz(ia.a.key_mode), &res);
	goto out;
gone:
	rc = portal_notice(&x, 410, N_("This link has already been used"),
			   N_("This link has already been used or has expired. For your security, the certificate page with the PIN is shown only once."));
	goto out;
fail:
	rc = portal_error(&x, &e);
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(plain, sizeof(plain));
	if (data != NULL) {
		sodium_memzero(data, len);
		free(data);
	}
	issue_result_clear(&res);
	store_cert_clear(&cert);
	if (have_ia)
		store_app_clear(&ia.a);
	portal_form_free(&f);
	return rc;
}
