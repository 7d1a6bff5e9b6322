/*
 * keys: the signer's key backends.
 *
 *   file    an encrypted PKCS#8 PEM ("ENCRYPTED PRIVATE KEY"); the passphrase comes from
 *           key_passphrase, key_passphrase_env or key_passphrase_file and is wiped after use
 *   pkcs11  a "pkcs11:" URI loaded through libengine-pkcs11-openssl (the ENGINE API is
 *           deprecated in OpenSSL 3 but is still the only PKCS#11 route Debian 12 ships)
 *
 * Keys are loaded only inside the signer child (signer_keys_load); `shomei init` uses
 * signer_key_load/signer_key_write before any signer exists.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/ui.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../x509/x509.h"
#include "signer_local.h"

#define KEYS_FILE_MAX (1024 * 1024)
#define KEYS_PASSPHRASE_MAX 4096
/* PBKDF2-HMAC-SHA256 rounds for keys we write (OWASP 2023); about 0.25 s per load. */
#define KEYS_PBKDF2_ITER 600000
#define KEYS_PKCS11_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define KEYS_SELFTEST "shomei signer self-test"

/* PBKDF2 rounds of the keys this process writes (see signer_key_write_iter_set()). */
static int keys_write_iter = KEYS_PBKDF2_ITER;

/* The pkcs11 engine of this process (see signer_engine_release()), and who loaded it. */
static ENGINE *keys_engine;
static pid_t keys_engine_pid;
/*
 * Set once this process has initialised a PKCS#11 module.  libp11 never finalises a module
 * (its engine_finish skips C_Finalize to avoid a deadlock), so a child forked afterwards
 * would inherit the module's state, including the login: a signer started with a wrong PIN
 * would still work.  signer_spawn_fd() refuses to fork from such a process.
 */
static pid_t keys_engine_used;

int
signer_engine_used(void)
{
	return keys_engine_used != 0 && keys_engine_used == getpid();
}

void
signer_secret_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/* The keys the signer reads (keys.c): its keys, their passphrase, the PKCS#11 token. */
const char *const signer_conf_keys[] = {
    "signer.max_skew",
    "signer.log",
    "ca.key",
    "ca.cert",
    "ocsp.key",
    "ocsp.cert",
    "tsa.key",
    "tsa.cert",
    "key_passphrase",
    "key_passphrase_env",
    "key_passphrase_file",
    "pkcs11.module",
    "pkcs11.pin",
    "pkcs11.pin_env",
    "prev1.ca.key",
    "prev1.ocsp.key",
    "prev2.ca.key",
    "prev2.ocsp.key",
    "prev3.ca.key",
    "prev3.ocsp.key",
    NULL,
};

int
signer_passphrase(const struct conf *c, char **out, struct err *e)
{
	const char *v, *env;
	char *path = NULL;
	struct buf b;
	size_t n;
	int rc = -1;

	*out = NULL;
	buf_init(&b, 0);
	if ((v = conf_get(c, "key_passphrase", NULL)) != NULL) {
		*out = xstrdup(v);
	} else if ((v = conf_get(c, "key_passphrase_env", NULL)) != NULL) {
		if ((env = getenv(v)) == NULL) {
			err_set(e, ERR_REFUSED,
				"signer: key_passphrase_env: environment variable %s is not set",
				v);
			goto out;
		}
		*out = xstrdup(env);
	} else if ((v = conf_get(c, "key_passphrase_file", NULL)) != NULL) {
		path = conf_path(c, v);
		if (util_read_file(path, KEYS_PASSPHRASE_MAX, &b, e) == -1)
			goto out;
		n = b.len;
		while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r'))
			n--;
		if (memchr(b.data, '\0', n) != NULL) {
			err_set(e, ERR_REFUSED, "signer: %s: NUL byte in the passphrase file", v);
			goto out;
		}
		*out = xstrndup((const char *)b.data, n);
	} else {
		err_set(e, ERR_REFUSED,
			"signer: no key passphrase configured (set key_passphrase, "
			"key_passphrase_env or key_passphrase_file)");
		goto out;
	}
	if (**out == '\0') {
		err_set(e, ERR_REFUSED, "signer: the key passphrase is empty");
		goto out;
	}
	rc = 0;
out:
	if (rc == -1) {
		signer_secret_free(*out);
		*out = NULL;
	}
	buf_free(&b);
	free(path);
	return rc;
}

void
signer_key_write_iter_set(int iter)
{
	keys_write_iter = iter > 0 ? iter : KEYS_PBKDF2_ITER;
}

int
signer_key_write(const char *path, EVP_PKEY *pkey, const char *pass, struct err *e)
{
	PKCS8_PRIV_KEY_INFO *p8inf = NULL;
	X509_ALGOR *pbe = NULL;
	X509_SIG *p8 = NULL;
	BIO *bio = NULL;
	char *pem;
	long n;
	int rc = -1;

	if (pass == NULL || *pass == '\0') {
		err_set(e, ERR_REFUSED, "signer: refusing to write %s with an empty passphrase",
			path);
		goto out;
	}
	if ((p8inf = EVP_PKEY2PKCS8(pkey)) == NULL) {
		err_ssl(e, ERR_INTERNAL, "signer: %s: cannot encode the key", path);
		goto out;
	}
	pbe = PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), keys_write_iter, NULL, 0, NULL,
				NID_hmacWithSHA256);
	if (pbe == NULL) {
		err_ssl(e, ERR_INTERNAL, "signer: %s: cannot set up PBES2", path);
		goto out;
	}
	if ((p8 = PKCS8_set0_pbe(pass, (int)strlen(pass), p8inf, pbe)) == NULL) {
		err_ssl(e, ERR_INTERNAL, "signer: %s: cannot encrypt the key", path);
		goto out;
	}
	pbe = NULL; /* owned by p8 */
	if ((bio = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_PKCS8(bio, p8)) {
		err_ssl(e, ERR_INTERNAL, "signer: %s: cannot write PEM", path);
		goto out;
	}
	n = BIO_get_mem_data(bio, &pem);
	if (util_write_file(path, pem, (size_t)n, 0600, e) == -1)
		goto out;
	rc = 0;
out:
	BIO_free(bio);
	X509_SIG_free(p8);
	X509_ALGOR_free(pbe);
	PKCS8_PRIV_KEY_INFO_free(p8inf);
	return rc;
}

/* Loads an encrypted PKCS#8 PEM; messages name spec as written in the configuration. */
static int
keys_file_load(const struct conf *c, const char *spec, EVP_PKEY **out, struct err *e)
{
	PKCS8_PRIV_KEY_INFO *p8inf = NULL;
	X509_SIG *p8 = NULL;
	BIO *bio = NULL;
	struct buf b;
	struct err e2;
	char *path = NULL, *pass = NULL, *name = NULL, *hdr = NULL;
	unsigned char *der = NULL;
	const unsigned char *q;
	long derlen = 0;
	int rc = -1;

	buf_init(&b, 0);
	err_clear(&e2);
	path = conf_path(c, spec);
	if (util_read_file(path, KEYS_FILE_MAX, &b, &e2) == -1) {
		err_set(e, e2.code == ERR_NOTFOUND ? ERR_REFUSED : e2.code, "signer: %s", e2.msg);
		goto out;
	}
	if ((bio = BIO_new_mem_buf(b.data, (int)b.len)) == NULL)
		fatalx("signer: out of memory");
	if (!PEM_read_bio(bio, &name, &hdr, &der, &derlen)) {
		ERR_clear_error();
		err_set(e, ERR_REFUSED, "signer: %s: not a PEM file", spec);
		goto out;
	}
	if (strcmp(name, PEM_STRING_PKCS8) != 0) {
		err_set(e, ERR_REFUSED,
			"signer: %s: expected an encrypted PKCS#8 key (\"%s\"), found \"%s\" "
			"(openssl pkcs8 -topk8 -v2 aes-256-cbc converts one)",
			spec, PEM_STRING_PKCS8, name);
		goto out;
	}
	q = der;
	if ((p8 = d2i_X509_SIG(NULL, &q, derlen)) == NULL || q != der + derlen) {
		err_ssl(e, ERR_REFUSED, "signer: %s: corrupt encrypted key", spec);
		goto out;
	}
	if (signer_passphrase(c, &pass, e) == -1)
		goto out;
	if ((p8inf = PKCS8_decrypt(p8, pass, (int)strlen(pass))) == NULL) {
		ERR_clear_error();
		err_set(e, ERR_REFUSED, "signer: %s: wrong passphrase or corrupt key", spec);
		goto out;
	}
	if ((*out = EVP_PKCS82PKEY(p8inf)) == NULL) {
		err_ssl(e, ERR_REFUSED, "signer: %s: unsupported or corrupt key", spec);
		goto out;
	}
	rc = 0;
out:
	signer_secret_free(pass);
	PKCS8_PRIV_KEY_INFO_free(p8inf);
	X509_SIG_free(p8);
	OPENSSL_free(name);
	OPENSSL_free(hdr);
	OPENSSL_free(der);
	BIO_free(bio);
	buf_free(&b);
	free(path);
	return rc;
}

/* ---- PKCS#11 ---- */

/*
 * The head of a PKCS#11 CK_FUNCTION_LIST (v2.x layout), enough to list tokens when a key
 * cannot be found.  Declared here so that no PKCS#11 header package is needed.
 */
struct keys_p11_funcs {
	unsigned char version[2];
	unsigned long (*initialize)(void *);
	unsigned long (*finalize)(void *);
	unsigned long (*get_info)(void *);
	unsigned long (*get_function_list)(void *);
	unsigned long (*get_slot_list)(unsigned char, unsigned long *, unsigned long *);
	unsigned long (*get_slot_info)(unsigned long, void *);
	unsigned long (*get_token_info)(unsigned long, void *);
};

#define KEYS_CKR_OK 0x0UL
#define KEYS_CKR_ALREADY_INITIALIZED 0x191UL
#define KEYS_CKF_TOKEN_INITIALIZED 0x400UL
#define KEYS_CKF_USER_PIN_LOCKED 0x40000UL
#define KEYS_CKR_PIN_INCORRECT 0xA0
#define KEYS_CKR_PIN_INVALID 0xA1
#define KEYS_CKR_PIN_LEN_RANGE 0xA2
#define KEYS_CKR_PIN_EXPIRED 0xA3
#define KEYS_CKR_PIN_LOCKED 0xA4

static int
keys_hexval(int c)
{
	int v = -1;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	return v;
}

/*
 * Copies the percent-decoded value of a path attribute ("token", "object", ...) of a pkcs11
 * URI into out.  Returns 1 when found, 0 when absent, -1 when malformed or too long.
 */
static int
keys_uri_attr(const char *uri, const char *attr, char *out, size_t outlen)
{
	const char *p = uri + strlen("pkcs11:"), *end, *v;
	size_t alen = strlen(attr), o = 0;
	int rc = 0, hi, lo;

	while (*p != '\0' && *p != '?') {
		end = p + strcspn(p, ";?");
		if ((size_t)(end - p) > alen && strncmp(p, attr, alen) == 0 && p[alen] == '=') {
			for (v = p + alen + 1; v < end; v++) {
				if (o + 1 >= outlen) {
					rc = -1;
					goto out;
				}
				if (*v == '%') {
					if (end - v < 3) {
						rc = -1;
						goto out;
					}
					hi = keys_hexval(v[1]);
					lo = keys_hexval(v[2]);
					if (hi < 0 || lo < 0) {
						rc = -1;
						goto out;
					}
					out[o++] = (char)(hi << 4 | lo);
					v += 2;
				} else {
					out[o++] = *v;
				}
			}
			out[o] = '\0';
			rc = 1;
			goto out;
		}
		p = *end == ';' ? end + 1 : end;
	}
out:
	if (rc != 1 && outlen > 0)
		out[0] = '\0';
	return rc;
}

/*
 * The labels of the initialised tokens the module shows, as "a, b" in out ("" if none);
 * *found tells whether one is labelled want, and *flags are that token's CK_TOKEN_INFO flags.
 */
static int
keys_p11_tokens(const char *module, const char *want, char *out, size_t outlen, int *found,
		unsigned long *flags)
{
	struct keys_p11_funcs *f = NULL;
	unsigned long (*getlist)(struct keys_p11_funcs **);
	unsigned long *slots = NULL, n = 0, i, r, info[64];
	char label[33];
	void *dl = NULL, *sym;
	int rc = -1, finalize = 0;
	size_t l, o = 0;

	*found = 0;
	*flags = 0;
	out[0] = '\0';
	if ((dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL)
		goto out;
	if ((sym = dlsym(dl, "C_GetFunctionList")) == NULL)
		goto out;
	memcpy(&getlist, &sym, sizeof(getlist));
	if (getlist(&f) != KEYS_CKR_OK || f == NULL)
		goto out;
	r = f->initialize(NULL);
	if (r != KEYS_CKR_OK && r != KEYS_CKR_ALREADY_INITIALIZED)
		goto out;
	finalize = r == KEYS_CKR_OK; /* never finalize what the engine initialised */
	if (f->get_slot_list(1, NULL, &n) != KEYS_CKR_OK || n > 1024)
		goto out;
	slots = xcalloc(n ? n : 1, sizeof(*slots));
	if (f->get_slot_list(1, slots, &n) != KEYS_CKR_OK)
		goto out;
	for (i = 0; i < n; i++) {
		memset(info, 0, sizeof(info));
		if (f->get_token_info(slots[i], info) != KEYS_CKR_OK)
			continue;
		/* CK_TOKEN_INFO: label[32], manufacturerID[32], model[16], serial[16], flags */
		if ((info[96 / sizeof(unsigned long)] & KEYS_CKF_TOKEN_INITIALIZED) == 0)
			continue;
		memcpy(label, info, 32);
		for (l = 32; l > 0 && label[l - 1] == ' '; l--)
			;
		label[l] = '\0';
		if (strcmp(label, want) == 0) {
			*found = 1;
			*flags = info[96 / sizeof(unsigned long)];
		}
		if (o + l + 3 < outlen) {
			if (o > 0) {
				memcpy(out + o, ", ", 2);
				o += 2;
			}
			memcpy(out + o, label, l);
			o += l;
			out[o] = '\0';
		}
	}
	rc = 0;
out:
	if (finalize)
		f->finalize(NULL);
	free(slots);
	if (dl != NULL)
		dlclose(dl);
	return rc;
}

/* A UI that never prompts: without a configured PIN a login fails instead of reading a tty. */
static int
keys_ui_read(UI *ui, UI_STRING *uis)
{
	return 0;
}

/* Turns a failed ENGINE_load_private_key into one clear message (consumes the error queue). */
static void
keys_pkcs11_explain(const struct conf *c, const char *uri, struct err *e)
{
	const char *lib, *module = conf_get(c, "pkcs11.module", KEYS_PKCS11_MODULE);
	char token[256], object[256], tokens[512], last[256], shown[600];
	unsigned long l, flags = 0;
	int wrong_pin = 0, locked = 0, expired = 0, no_pin = 0, not_found = 0, found = 0, reason;

	last[0] = '\0';
	while ((l = ERR_get_error()) != 0) {
		reason = ERR_GET_REASON(l);
		lib = ERR_lib_error_string(l);
		if (lib != NULL && strcmp(lib, "PKCS#11 module") == 0) {
			if (reason == KEYS_CKR_PIN_INCORRECT || reason == KEYS_CKR_PIN_INVALID ||
			    reason == KEYS_CKR_PIN_LEN_RANGE)
				wrong_pin = 1;
			else if (reason == KEYS_CKR_PIN_LOCKED)
				locked = 1;
			else if (reason == KEYS_CKR_PIN_EXPIRED)
				expired = 1;
		} else if (ERR_GET_LIB(l) == ERR_LIB_UI) {
			no_pin = 1;
		} else if (ERR_reason_error_string(l) != NULL &&
			   strcmp(ERR_reason_error_string(l), "object not found") == 0) {
			not_found = 1;
		}
		if (last[0] == '\0')
			ERR_error_string_n(l, last, sizeof(last));
	}
	if (keys_uri_attr(uri, "token", token, sizeof(token)) != 1)
		token[0] = '\0';
	if (keys_uri_attr(uri, "object", object, sizeof(object)) != 1)
		object[0] = '\0';
	log_escape(shown, sizeof(shown), token, strlen(token));
	/* without a PIN there was no login to fail: a locked PIN shows only in the token's flags */
	if (no_pin && token[0] != '\0' &&
	    keys_p11_tokens(module, token, tokens, sizeof(tokens), &found, &flags) == 0 && found &&
	    (flags & KEYS_CKF_USER_PIN_LOCKED) != 0)
		locked = 1;
	if (wrong_pin) {
		err_set(e, ERR_REFUSED,
			"signer: pkcs11: login failed: wrong PIN for token \"%s\" "
			"(check pkcs11.pin or pkcs11.pin_env)",
			shown);
	} else if (locked) {
		err_set(e, ERR_REFUSED,
			"signer: pkcs11: login failed: PIN locked: the user PIN of token \"%s\" "
			"is locked (too many wrong PINs); only the token's security officer can "
			"unlock it",
			shown);
	} else if (expired) {
		err_set(e, ERR_REFUSED,
			"signer: pkcs11: login failed: PIN expired: the user PIN of token \"%s\" "
			"must be changed before it can be used",
			shown);
	} else if (no_pin) {
		err_set(e, ERR_REFUSED,
			"signer: pkcs11: token \"%s\" needs a login but no PIN is configured "
			"(pkcs11.pin or pkcs11.pin_env)",
			shown);
	} else if (not_found && token[0] != '\0' &&
		   keys_p11_tokens(module, token, tokens, sizeof(tokens), &found, &flags) == 0 &&
		   !found) {
		err_set(e, ERR_REFUSED, "signer: pkcs11: token \"%s\" not found in %s (tokens: %s)",
			shown, module, tokens[0] ? tokens : "none");
	} else if (not_found) {
		log_escape(tokens, sizeof(tokens), object, strlen(object));
		err_set(e, ERR_REFUSED,
			"signer: pkcs11: no private key object \"%s\" on token \"%s\"", tokens,
			shown);
	} else {
		err_set(e, ERR_REFUSED, "signer: pkcs11: cannot load the key of token \"%s\" (%s)",
			shown, last[0] ? last : "no detail");
	}
}

/* The engine of this process, created on first use with the module and PIN from c. */
static ENGINE *
keys_engine_get(const struct conf *c, struct err *e)
{
	const char *module = conf_get(c, "pkcs11.module", KEYS_PKCS11_MODULE), *v, *env;
	ENGINE *eng = NULL, *ret = NULL;
	char *pin = NULL;

	if (keys_engine != NULL && keys_engine_pid == getpid()) {
		ret = keys_engine;
		goto out;
	}
	/* inherited across fork: the parent owns that one; never finish it here */
	keys_engine = NULL;
	if (!util_file_exists(module)) {
		err_set(e, ERR_REFUSED, "signer: pkcs11: module %s (pkcs11.module) not found",
			module);
		goto out;
	}
	if ((eng = ENGINE_by_id("pkcs11")) == NULL) {
		err_ssl(e, ERR_REFUSED,
			"signer: pkcs11: engine not available (install libengine-pkcs11-openssl)");
		goto out;
	}
	if (!ENGINE_ctrl_cmd_string(eng, "MODULE_PATH", module, 0)) {
		err_ssl(e, ERR_REFUSED, "signer: pkcs11: cannot set module %s", module);
		goto out;
	}
	if ((v = conf_get(c, "pkcs11.pin", NULL)) != NULL) {
		pin = xstrdup(v);
	} else if ((v = conf_get(c, "pkcs11.pin_env", NULL)) != NULL) {
		if ((env = getenv(v)) == NULL) {
			err_set(e, ERR_REFUSED,
				"signer: pkcs11.pin_env: environment variable %s is not set", v);
			goto out;
		}
		pin = xstrdup(env);
	}
	if (pin != NULL && !ENGINE_ctrl_cmd_string(eng, "PIN", pin, 0)) {
		err_ssl(e, ERR_REFUSED, "signer: pkcs11: cannot set the PIN");
		goto out;
	}
	keys_engine_used = getpid();
	if (!ENGINE_init(eng)) {
		err_ssl(e, ERR_REFUSED, "signer: pkcs11: cannot initialise module %s", module);
		goto out;
	}
	keys_engine = eng;
	keys_engine_pid = getpid();
	ret = eng;
	eng = NULL;
out:
	signer_secret_free(pin);
	ENGINE_free(eng);
	return ret;
}

void
signer_engine_release(void)
{
	if (keys_engine != NULL && keys_engine_pid == getpid()) {
		ENGINE_finish(keys_engine);
		ENGINE_free(keys_engine);
	}
	keys_engine = NULL;
}

static int
keys_pkcs11_load(const struct conf *c, const char *uri, EVP_PKEY **out, struct err *e)
{
	UI_METHOD *ui = NULL;
	ENGINE *eng;
	int rc = -1;

	if ((eng = keys_engine_get(c, e)) == NULL)
		goto out;
	if ((ui = UI_create_method("shomei-no-prompt")) == NULL ||
	    UI_method_set_reader(ui, keys_ui_read) != 0)
		fatalx("signer: out of memory");
	ERR_clear_error();
	if ((*out = ENGINE_load_private_key(eng, uri, ui, NULL)) == NULL) {
		keys_pkcs11_explain(c, uri, e);
		goto out;
	}
	rc = 0;
out:
	if (ui != NULL)
		UI_destroy_method(ui);
	return rc;
}

int
signer_key_load(const struct conf *c, const char *spec, EVP_PKEY **out, struct err *e)
{
	int rc;

	*out = NULL;
	if (strncmp(spec, "pkcs11:", 7) == 0)
		rc = keys_pkcs11_load(c, spec, out, e);
	else
		rc = keys_file_load(c, spec, out, e);
	return rc;
}

/* ---- signing ---- */

int
signer_key_sign(const struct signer_key *k, const unsigned char *tbs, size_t len,
		unsigned char **sig, size_t *siglen, struct err *e)
{
	EVP_MD_CTX *ctx = NULL;
	const EVP_MD *md;
	unsigned char *s = NULL;
	size_t n = 0;
	int rc = -1;

	*sig = NULL;
	*siglen = 0;
	if ((md = EVP_get_digestbynid(k->md_nid)) == NULL) {
		err_set(e, ERR_INTERNAL, "signer: no digest for NID %d", k->md_nid);
		goto out;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("signer: out of memory");
	if (k->tmpl != NULL) {
		if (!EVP_MD_CTX_copy_ex(ctx, k->tmpl)) {
			err_ssl(e, ERR_INTERNAL, "signer: %s: cannot copy the signing context",
				k->spec);
			goto out;
		}
	} else if (EVP_DigestSignInit(ctx, NULL, md, NULL, k->pkey) != 1) {
		err_ssl(e, ERR_INTERNAL, "signer: %s: cannot start signing", k->spec);
		goto out;
	}
	if (EVP_DigestSign(ctx, NULL, &n, tbs, len) != 1) {
		err_ssl(e, ERR_INTERNAL, "signer: %s: cannot start signing", k->spec);
		goto out;
	}
	s = xmalloc(n);
	if (EVP_DigestSign(ctx, s, &n, tbs, len) != 1) {
		err_ssl(e, ERR_INTERNAL, "signer: %s: signing failed", k->spec);
		goto out;
	}
	*sig = s;
	s = NULL;
	*siglen = n;
	rc = 0;
out:
	free(s);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* Verifies sig over tbs with the certificate's public key: 0 good, -1 bad. */
static int
keys_verify(const struct signer_key *k, const unsigned char *tbs, size_t len,
	    const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = NULL;
	int rc = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("signer: out of memory");
	if (EVP_DigestVerifyInit(ctx, NULL, EVP_get_digestbynid(k->md_nid), NULL,
				 X509_get0_pubkey(k->cert)) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, tbs, len) == 1)
		rc = 0;
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* ---- the signer's key set ---- */

static int
keys_cert_load(const struct conf *c, const char *spec, X509 **out, struct err *e)
{
	BIO *bio = NULL;
	struct buf b;
	struct err e2;
	char *path = NULL;
	int rc = -1;

	buf_init(&b, 0);
	err_clear(&e2);
	path = conf_path(c, spec);
	if (util_read_file(path, KEYS_FILE_MAX, &b, &e2) == -1) {
		err_set(e, e2.code == ERR_NOTFOUND ? ERR_REFUSED : e2.code, "signer: %s", e2.msg);
		goto out;
	}
	if ((bio = BIO_new_mem_buf(b.data, (int)b.len)) == NULL)
		fatalx("signer: out of memory");
	if ((*out = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		err_ssl(e, ERR_REFUSED, "signer: %s: not a PEM certificate", spec);
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio);
	buf_free(&b);
	free(path);
	return rc;
}

/*
 * Loads "<role>.key" and "<role>.cert", decides the algorithm from the certificate's key (as
 * the certificate builder does), and proves key and certificate belong together with a test
 * signature (which also works for PKCS#11 keys whose private half never leaves the token).
 */
static int
keys_role_load(const struct conf *c, const char *role, int required, struct signer_key *k,
	       struct err *e)
{
	char kname[32], cname[32];
	const char *kspec, *cspec;
	unsigned char *sig = NULL;
	size_t siglen;
	struct err e2;
	int rc = -1, eq;

	memset(k, 0, sizeof(*k));
	err_clear(&e2);
	snprintf(kname, sizeof(kname), "%s.key", role);
	snprintf(cname, sizeof(cname), "%s.cert", role);
	kspec = conf_get(c, kname, NULL);
	cspec = conf_get(c, cname, NULL);
	if (kspec == NULL || *kspec == '\0') {
		if (required)
			err_set(e, ERR_REFUSED, "signer: %s is not configured", kname);
		else
			rc = 0;
		goto out;
	}
	if (cspec == NULL || *cspec == '\0') {
		err_set(e, ERR_REFUSED, "signer: %s is configured but %s is not", kname, cname);
		goto out;
	}
	k->spec = kspec;
	if (keys_cert_load(c, cspec, &k->cert, e) == -1)
		goto out;
	if (x509_sigalg_for_key(X509_get0_pubkey(k->cert), &k->sig_nid, &k->md_nid, &e2) == -1) {
		err_set(e, ERR_REFUSED, "signer: %s: %s", cspec, e2.msg);
		goto out;
	}
	if (signer_key_load(c, kspec, &k->pkey, e) == -1)
		goto out;
	eq = EVP_PKEY_eq(X509_get0_pubkey(k->cert), k->pkey);
	ERR_clear_error();
	if (eq == 0) {
		err_set(e, ERR_REFUSED, "signer: %s (%s) does not match %s (%s)", kname, kspec,
			cname, cspec);
		goto out;
	}
	if (signer_key_sign(k, (const unsigned char *)KEYS_SELFTEST, strlen(KEYS_SELFTEST), &sig,
			    &siglen, e) == -1)
		goto out;
	if (keys_verify(k, (const unsigned char *)KEYS_SELFTEST, strlen(KEYS_SELFTEST), sig,
			siglen) == -1) {
		err_set(e, ERR_REFUSED,
			"signer: %s (%s): a test signature does not verify with %s (%s)", kname,
			kspec, cname, cspec);
		goto out;
	}
	if ((k->tmpl = EVP_MD_CTX_new()) == NULL)
		fatalx("signer: out of memory");
	if (EVP_DigestSignInit(k->tmpl, NULL, EVP_get_digestbynid(k->md_nid), NULL, k->pkey) != 1) {
		err_ssl(e, ERR_REFUSED, "signer: %s (%s): cannot start signing", kname, kspec);
		goto out;
	}
	rc = 0;
out:
	free(sig);
	if (rc == -1) {
		EVP_MD_CTX_free(k->tmpl);
		EVP_PKEY_free(k->pkey);
		X509_free(k->cert);
		memset(k, 0, sizeof(*k));
	}
	return rc;
}

/*
 * What a CA key's CRLs must carry: the DER of its signature AlgorithmIdentifier and of its
 * certificate's subject.  conf_key names the certificate in messages.
 */
static int
keys_ca_ders(const struct signer_key *k, const char *conf_key, unsigned char **algid,
	     size_t *algid_len, unsigned char **subject, size_t *subject_len, struct err *e)
{
	X509_ALGOR *alg = NULL;
	unsigned char *der = NULL;
	int rc = -1, n;

	if (X509_check_ca(k->cert) == 0) {
		err_set(e, ERR_REFUSED, "signer: %s: not a CA certificate", conf_key);
		goto out;
	}
	if ((alg = X509_ALGOR_new()) == NULL)
		fatalx("signer: out of memory");
	if (x509_algor_set(alg, k->sig_nid, e) == -1)
		goto out;
	if ((n = i2d_X509_ALGOR(alg, &der)) <= 0) {
		err_ssl(e, ERR_INTERNAL, "signer: cannot encode the CA signature algorithm");
		goto out;
	}
	*algid = der;
	*algid_len = (size_t)n;
	der = NULL;
	if ((n = i2d_X509_NAME(X509_get_subject_name(k->cert), &der)) <= 0) {
		err_ssl(e, ERR_INTERNAL, "signer: cannot encode the CA subject");
		goto out;
	}
	*subject = der;
	*subject_len = (size_t)n;
	der = NULL;
	rc = 0;
out:
	X509_ALGOR_free(alg);
	OPENSSL_free(der);
	return rc;
}

/* The previous issuing CAs of prevN.ca_name with their keys (prevN.ca.key, prevN.ocsp.key). */
static int
keys_prev_load(const struct conf *c, struct signer_keys *ks, struct err *e)
{
	struct signer_prev *pv;
	char key[32], role[32];
	const char *name;
	int i;

	for (i = 1; i <= SIGNER_PREV_MAX; i++) {
		snprintf(key, sizeof(key), "prev%d.ca_name", i);
		if ((name = conf_get(c, key, NULL)) == NULL)
			break;
		pv = &ks->prev[ks->nprev++];
		snprintf(pv->name, sizeof(pv->name), "%s", name);
		snprintf(role, sizeof(role), "prev%d.ca", i);
		if (keys_role_load(c, role, 1, &pv->ca, e) == -1)
			return -1;
		snprintf(role, sizeof(role), "prev%d.ocsp", i);
		if (keys_role_load(c, role, 0, &pv->ocsp, e) == -1)
			return -1;
		snprintf(key, sizeof(key), "prev%d.ca.cert", i);
		if (keys_ca_ders(&pv->ca, key, &pv->algid, &pv->algid_len, &pv->subject,
				 &pv->subject_len, e) == -1)
			return -1;
	}
	return 0;
}

/* Each CA's CRL floor from the log (signer_log_crl_floor). */
static int
keys_crl_floors(struct signer_keys *ks, struct err *e)
{
	const char *names[1 + SIGNER_PREV_MAX];
	int64_t last[1 + SIGNER_PREV_MAX][2];
	size_t i;

	memset(last, 0, sizeof(last));
	names[0] = ks->name;
	for (i = 0; i < ks->nprev; i++)
		names[1 + i] = ks->prev[i].name;
	if (signer_log_crl_floor(ks->log_fd, names, 1 + ks->nprev, last, e) == -1)
		return -1;
	memcpy(ks->policy.crl_last, last[0], sizeof(last[0]));
	for (i = 0; i < ks->nprev; i++)
		memcpy(ks->prev[i].crl_last, last[1 + i], sizeof(last[0]));
	return 0;
}

int
signer_keys_load(const struct conf *c, struct signer_keys *ks, struct err *e)
{
	int rc = -1;

	memset(ks, 0, sizeof(*ks));
	ks->log_fd = -1;
	snprintf(ks->name, sizeof(ks->name), "%s", conf_get(c, "ca_name", "shomei"));
	if (signer_policy_load(c, &ks->policy, e) == -1 ||
	    signer_log_open(c, &ks->log_fd, e) == -1 ||
	    keys_role_load(c, "ca", 1, &ks->ca, e) == -1 ||
	    keys_role_load(c, "ocsp", 0, &ks->ocsp, e) == -1 ||
	    keys_role_load(c, "tsa", 0, &ks->tsa, e) == -1 ||
	    keys_ca_ders(&ks->ca, "ca.cert", &ks->ca_algid, &ks->ca_algid_len, &ks->ca_name,
			 &ks->ca_name_len, e) == -1 ||
	    keys_prev_load(c, ks, e) == -1 || keys_crl_floors(ks, e) == -1)
		goto out;
	if ((ks->parse_ctx = OSSL_LIB_CTX_new()) == NULL ||
	    (ks->parse_null = OSSL_PROVIDER_load(ks->parse_ctx, "null")) == NULL) {
		err_ssl(e, ERR_INTERNAL, "signer: cannot set up the parsing library context");
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		signer_keys_free(ks);
	return rc;
}

static void
keys_key_free(struct signer_key *k)
{
	EVP_MD_CTX_free(k->tmpl);
	EVP_PKEY_free(k->pkey);
	X509_free(k->cert);
}

void
signer_keys_free(struct signer_keys *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	keys_key_free(&ks->ca);
	keys_key_free(&ks->ocsp);
	keys_key_free(&ks->tsa);
	for (i = 0; i < ks->nprev; i++) {
		keys_key_free(&ks->prev[i].ca);
		keys_key_free(&ks->prev[i].ocsp);
		OPENSSL_free(ks->prev[i].algid);
		OPENSSL_free(ks->prev[i].subject);
	}
	OPENSSL_free(ks->ca_algid);
	OPENSSL_free(ks->ca_name);
	if (ks->log_fd >= 0)
		(void)close(ks->log_fd);
	if (ks->parse_null != NULL)
		OSSL_PROVIDER_unload(ks->parse_null);
	OSSL_LIB_CTX_free(ks->parse_ctx);
	memset(ks, 0, sizeof(*ks));
	ks->log_fd = -1;
	signer_engine_release();
}
