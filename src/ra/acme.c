/*
 * acme: the RA's side of ACME (RFC 8555; the protocol is src/acme's): nonces, the account life
 * cycle (new, update, deactivate, key change) and External Account Bindings, which bind an
 * account to a member organization.
 *
 * Nonces cost no store access to make: base64url of expiry (8 bytes, big-endian) || 16 random
 * bytes || a 16-byte keyed BLAKE2b MAC over both, under a key derived from acme.key_file.  A
 * nonce is used by inserting its random part into acme_nonces (ON CONFLICT DO NOTHING: zero
 * rows means it was used before, on any front end, before a restart too); forged or expired
 * ones are refused before the store is asked.  The insert is a unit of the group commit
 * (ra_acme_write), durable before the request goes on.  Rows are purged once their nonce has
 * expired, by the web process's minute timer (ra_acme_nonce_purge).
 *
 * A binding's HMAC key is shown once and stored only sealed (XChaCha20-Poly1305 under another
 * key derived from acme.key_file; associated data: a label, the key id and the organization),
 * so the store alone (a backup, a replica) cannot make accounts for an organization.  A
 * binding serves one account (its account_id is set once, conditionally, in the account's
 * transaction); a suspended or revoked one serves none.
 */
#include <inttypes.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "ra.h"
#include "util/b64.h"
#include "util/sjson.h"

#define ACME_KDF_CTX "shomeiac"
#define ACME_EAB_LABEL "shomei acme eab v1"
#define ACME_SEAL_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define ACME_SEAL_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

const char *const ra_acme_nonce_names[RA_ACME_NONCE__MAX] = {"ok", "bad", "used", "error"};

const char *const ra_acme_outcome_names[RA_ACME__MAX] = {
    "ok",
    "created",
    "exists",
    "no-account",
    "not-valid",
    "eab-required",
    "eab-malformed",
    "eab-bad",
    "eab-unusable",
    "contact-unsupported",
    "contact-invalid",
    "key-taken",
    "rejected",
    "not-found",
    "not-ready",
    "bad-csr",
    "refused",
    "unauthorized",
    "already-revoked",
    "bad-reason",
    "bad-profile",
    "already-replaced",
    "bad-replaces",
    "bad-state",
    "rate-limited",
    "error",
};

/*
 * The public functions below decide on the code of the errors of the calls they make, so each
 * works on an error of its own (the caller's may hold an earlier one, and the first error set
 * wins) and hands it over at its end: acme_err_out.
 */
static void
acme_err_out(struct err *out, const struct err *le)
{
	if (le->code != ERR_OK)
		err_set(out, le->code, "%s", le->msg);
}

/* ---- keys ---- */

int
ra_acme_keys_load(const struct conf *c, struct ra_acme_keys *k, struct err *e)
{
	unsigned char master[RA_ACME_KEY_LEN];
	char *path = conf_path(c, conf_get(c, "acme.key_file", "keys/acme.key"));
	int rc = -1;

	_Static_assert(RA_ACME_KEY_LEN == crypto_kdf_KEYBYTES, "the master key is a KDF key");
	memset(k, 0, sizeof(*k));
	if (sodium_init() < 0) {
		err_set(e, ERR_INTERNAL, "acme: libsodium did not initialise");
		goto out;
	}
	if (util_secret_file(path, master, sizeof(master), e) == -1)
		goto out;
	if (crypto_kdf_derive_from_key(k->nonce, sizeof(k->nonce), 1, ACME_KDF_CTX, master) != 0 ||
	    crypto_kdf_derive_from_key(k->eab, sizeof(k->eab), 2, ACME_KDF_CTX, master) != 0)
		fatalx("acme: key derivation failed");
	rc = 0;
out:
	sodium_memzero(master, sizeof(master));
	free(path);
	return rc;
}

void
ra_acme_keys_wipe(struct ra_acme_keys *k)
{
	sodium_memzero(k, sizeof(*k));
}

/* ---- nonces ---- */

/* The MAC of a nonce's first 24 bytes. */
static void
acme_nonce_mac(const struct ra_acme_keys *k, const unsigned char *p, unsigned char mac[16])
{
	if (crypto_generichash(mac, 16, p, 24, k->nonce, sizeof(k->nonce)) != 0)
		fatalx("acme: BLAKE2b failed");
}

void
ra_acme_nonce_new(const struct ra_acme_keys *k, time_t now, char out[RA_ACME_NONCE_TEXT])
{
	unsigned char n[RA_ACME_NONCE_BYTES];
	uint64_t exp = (uint64_t)now + RA_ACME_NONCE_TTL;

	for (int i = 7; i >= 0; i--, exp >>= 8)
		n[i] = (unsigned char)exp;
	randombytes_buf(n + 8, STORE_ACME_NONCE_ID);
	acme_nonce_mac(k, n, n + 24);
	if (b64url_encode(out, RA_ACME_NONCE_TEXT, n, sizeof(n)) == -1)
		fatalx("acme: nonce does not fit");
}

/* The group commit ACME's writes join (ra_acme_writer_set), or NULL. */
static struct ca *acme_writer;

/* A used nonce: its random part and expiry. */
struct acme_nonce_rec {
	unsigned char id[STORE_ACME_NONCE_ID];
	time_t expires;
};

/*
 * The nonce of the request this thread serves (ra_acme_nonce_hold): checked, not yet known
 * used.  It goes into the request's first ra_acme_write unit, or alone at ra_acme_nonce_settle.
 */
enum acme_held_state {
	ACME_HELD_NONE = 0,
	ACME_HELD_PENDING, /* to be written */
	ACME_HELD_WRITTEN, /* durable with a unit, or alone */
	ACME_HELD_USED,	   /* used before: the request is refused, writes nothing */
	ACME_HELD_ERROR,   /* the store failed (or the outcome is unknown) */
};
static __thread struct {
	enum acme_held_state state;
	struct acme_nonce_rec rec;
	struct store *st;
} acme_held;

void
ra_acme_writer_set(struct ca *ca)
{
	acme_writer = ca;
}

/* ra_acme_write without the held nonce. */
static int
acme_write_run(struct store *st, ca_write_fn fn, void *arg, int again, struct err *e)
{
	if (acme_writer != NULL)
		return again ? ca_write_again(acme_writer, st, fn, arg, e)
			     : ca_write(acme_writer, st, fn, arg, e);
	return ca_write_own(st, fn, arg, e);
}

static int
acme_nonce_write(struct store *st, void *arg, struct err *e)
{
	const struct acme_nonce_rec *n = arg;

	return store_acme_nonce_use(st, n->id, n->expires, e);
}

/*
 * A unit with the held nonce first (a copy: the unit runs in the batch thread, whose
 * acme_held is not the request's); used says the nonce's insert found it used (this run).
 */
struct acme_held_unit {
	ca_write_fn fn;
	void *arg;
	struct acme_nonce_rec rec;
	int used;
};

static int
acme_held_write(struct store *st, void *arg, struct err *e)
{
	struct acme_held_unit *w = arg;

	w->used = 0;
	if (store_acme_nonce_use(st, w->rec.id, w->rec.expires, e) == -1) {
		w->used = e->code == ERR_CONFLICT;
		return -1;
	}
	return w->fn(st, w->arg, e);
}

int
ra_acme_write(struct store *st, ca_write_fn fn, void *arg, int again, struct err *e)
{
	struct acme_held_unit w;
	int rc;

	if (acme_held.state == ACME_HELD_USED || acme_held.state == ACME_HELD_ERROR)
		return err_set(e, ERR_REFUSED,
			       "acme: RFC 8555 6.5: the request's nonce is not usable: nothing "
			       "is written");
	if (acme_held.state != ACME_HELD_PENDING)
		return acme_write_run(st, fn, arg, again, e);
	memset(&w, 0, sizeof(w));
	w.fn = fn;
	w.arg = arg;
	w.rec = acme_held.rec;
	rc = acme_write_run(st, acme_held_write, &w, again, e);
	if (rc == 0)
		acme_held.state = ACME_HELD_WRITTEN;
	else if (w.used)
		acme_held.state = ACME_HELD_USED;
	else if (e->code == ERR_UNKNOWN) /* perhaps written: the request fails */
		acme_held.state = ACME_HELD_ERROR;
	/* else undone with fn's unit: still pending */
	return rc;
}

struct acme_purge {
	time_t now;
	int64_t n;
};

static int
acme_nonce_purge_write(struct store *st, void *arg, struct err *e)
{
	struct acme_purge *p = arg;

	p->n = 0;
	return store_acme_nonce_purge(st, p->now, &p->n, e);
}

int
ra_acme_nonce_purge(struct store *st, time_t now, int64_t *n, struct err *e)
{
	struct acme_purge p = {now, 0};

	if (ra_acme_write(st, acme_nonce_purge_write, &p, 1, e) == -1)
		return -1;
	if (n != NULL)
		*n = p.n;
	return 0;
}

/* A nonce of ours, not expired: its record in rec.  -1 with e set (ERR_REFUSED) if not. */
static int
acme_nonce_check(const struct ra_acme_keys *k, const char *nonce, time_t now,
		 struct acme_nonce_rec *rec, struct err *e)
{
	unsigned char n[RA_ACME_NONCE_BYTES], mac[16];
	size_t len = 0;
	uint64_t exp = 0;

	if (nonce == NULL || strlen(nonce) != RA_ACME_NONCE_TEXT - 1 ||
	    b64url_decode(n, sizeof(n), &len, nonce, strlen(nonce)) == -1 || len != sizeof(n))
		return err_set(e, ERR_REFUSED, "acme: RFC 8555 6.5: not a nonce of this server");
	acme_nonce_mac(k, n, mac);
	if (sodium_memcmp(mac, n + 24, sizeof(mac)) != 0)
		return err_set(e, ERR_REFUSED, "acme: RFC 8555 6.5: not a nonce of this server");
	for (int i = 0; i < 8; i++)
		exp = exp << 8 | n[i];
	if (exp <= (uint64_t)now)
		return err_set(e, ERR_REFUSED, "acme: RFC 8555 6.5: the nonce expired");
	memcpy(rec->id, n + 8, sizeof(rec->id));
	rec->expires = (time_t)exp;
	return 0;
}

enum ra_acme_nonce
ra_acme_nonce_use(struct store *st, const struct ra_acme_keys *k, const char *nonce, time_t now,
		  struct err *e_out)
{
	struct err le, *e = &le;
	struct acme_nonce_rec rec;
	enum ra_acme_nonce r = RA_ACME_NONCE_BAD;

	err_clear(&le);
	if (acme_nonce_check(k, nonce, now, &rec, e) == -1)
		goto out;
	if (st == NULL) { /* the check alone */
		r = RA_ACME_NONCE_OK;
		goto out;
	}
	if (acme_write_run(st, acme_nonce_write, &rec, 1, e) == -1) {
		r = e->code == ERR_CONFLICT ? RA_ACME_NONCE_USED : RA_ACME_NONCE_ERROR;
		if (r == RA_ACME_NONCE_USED) {
			err_clear(e);
			err_set(e, ERR_REFUSED, "acme: RFC 8555 6.5: the nonce was used before");
		}
		goto out;
	}
	r = RA_ACME_NONCE_OK;
out:
	acme_err_out(e_out, &le);
	return r;
}

enum ra_acme_nonce
ra_acme_nonce_hold(struct store *st, const struct ra_acme_keys *k, const char *nonce, time_t now,
		   struct err *e_out)
{
	struct err le;

	err_clear(&le);
	memset(&acme_held, 0, sizeof(acme_held));
	if (acme_nonce_check(k, nonce, now, &acme_held.rec, &le) == -1) {
		acme_err_out(e_out, &le);
		return RA_ACME_NONCE_BAD;
	}
	acme_held.st = st;
	acme_held.state = ACME_HELD_PENDING;
	return RA_ACME_NONCE_OK;
}

enum ra_acme_nonce
ra_acme_nonce_settle(struct err *e_out)
{
	struct err le;

	err_clear(&le);
	if (acme_held.state == ACME_HELD_PENDING) {
		if (acme_write_run(acme_held.st, acme_nonce_write, &acme_held.rec, 1, &le) == 0)
			acme_held.state = ACME_HELD_WRITTEN;
		else
			acme_held.state =
			    le.code == ERR_CONFLICT ? ACME_HELD_USED : ACME_HELD_ERROR;
	}
	switch (acme_held.state) {
	case ACME_HELD_USED:
		err_clear(&le);
		err_set(&le, ERR_REFUSED, "acme: RFC 8555 6.5: the nonce was used before");
		acme_err_out(e_out, &le);
		return RA_ACME_NONCE_USED;
	case ACME_HELD_ERROR:
		if (le.code == ERR_OK)
			err_set(&le, ERR_UNKNOWN, "acme: the nonce's write did not complete");
		acme_err_out(e_out, &le);
		return RA_ACME_NONCE_ERROR;
	default:
		return RA_ACME_NONCE_OK;
	}
}

void
ra_acme_nonce_forget(void)
{
	memset(&acme_held, 0, sizeof(acme_held));
}

/* ---- accounts ---- */

void
ra_acme_account_clear(struct ra_acme_account *a)
{
	if (a == NULL)
		return;
	free(a->jwk);
	free(a->contact);
	memset(a, 0, sizeof(*a));
}

/* The face's view of a stored account: the strings move from s to out. */
static void
acme_account_take(struct ra_acme_account *out, struct store_acme_account *s)
{
	memset(out, 0, sizeof(*out));
	out->id = s->id;
	snprintf(out->status, sizeof(out->status), "%s", s->status != NULL ? s->status : "");
	out->jwk = s->jwk;
	out->contact = s->contact;
	out->tos_agreed = s->tos_agreed;
	out->org_id = s->org_id;
	out->eab_id = s->eab_id;
	memcpy(out->thumb, s->thumb, sizeof(out->thumb));
	out->created = s->created;
	s->jwk = s->contact = NULL;
	store_acme_account_clear(s);
}

/* One mailto: address: a plain addr-spec with one '@', no hfields, no second address. */
static int
acme_mailto_ok(const char *a)
{
	const char *at = strchr(a, '@');
	size_t n = strlen(a);

	if (n < 3 || n > RA_ACME_CONTACT_MAX || at == NULL || at == a || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL || strchr(at + 1, '.') == NULL)
		return 0;
	for (const char *p = a; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || strchr("?,%<>\"()[];:\\", *p) != NULL)
			return 0;
	for (const char *p = at + 1; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return 0;
	return 1;
}

enum ra_acme_outcome
ra_acme_contact_check(json_t *contact, char **canon, struct err *e)
{
	json_t *v;
	size_t i;
	char esc[96];

	*canon = NULL;
	if (contact == NULL) {
		*canon = xstrdup("[]");
		return RA_ACME_OK;
	}
	if (!json_is_array(contact) || json_array_size(contact) > RA_ACME_CONTACTS_MAX) {
		err_set(e, ERR_REFUSED,
			"acme: RFC 8555 7.1.2: contact is an array of at most %d URLs",
			RA_ACME_CONTACTS_MAX);
		return RA_ACME_CONTACT_INVALID;
	}
	json_array_foreach(contact, i, v)
	{
		const char *s = json_string_value(v);

		if (s == NULL) {
			err_set(e, ERR_REFUSED, "acme: RFC 8555 7.1.2: a contact is a URL string");
			return RA_ACME_CONTACT_INVALID;
		}
		if (strncasecmp(s, "mailto:", 7) != 0) {
			err_set(e, ERR_REFUSED,
				"acme: contact \"%s\": only mailto: URLs are supported",
				log_escape(esc, sizeof(esc), s, strlen(s)));
			return RA_ACME_CONTACT_UNSUPPORTED;
		}
		if (!acme_mailto_ok(s + 7)) {
			err_set(
			    e, ERR_REFUSED,
			    "acme: contact \"%s\": one plain e-mail address, without header fields",
			    log_escape(esc, sizeof(esc), s, strlen(s)));
			return RA_ACME_CONTACT_INVALID;
		}
	}
	if ((*canon = json_dumps(contact, JSON_COMPACT)) == NULL)
		fatalx("acme: out of memory");
	return RA_ACME_OK;
}

enum ra_acme_outcome
ra_acme_account_get(struct store *st, int64_t id, struct ra_acme_account *out, struct err *e_out)
{
	struct err le, *e = &le;
	struct store_acme_account a;

	err_clear(&le);
	memset(out, 0, sizeof(*out));
	if (store_acme_account_get(st, id, &a, e) == -1) {
		acme_err_out(e_out, &le);
		return e->code == ERR_NOTFOUND ? RA_ACME_NO_ACCOUNT : RA_ACME_ERROR;
	}
	acme_account_take(out, &a);
	return RA_ACME_OK;
}

/* Opens a binding's sealed HMAC key into key; -1 when it does not open. */
static int acme_eab_open(const struct ra_acme_keys *k, const struct store_acme_eab *b,
			 unsigned char key[RA_ACME_EAB_KEY_LEN]);

/* The associated data of a binding's sealed key: label, key id, organization id. */
static void
acme_eab_ad(struct buf *ad, const char *kid, int64_t org_id)
{
	unsigned char b[8];
	uint64_t u = (uint64_t)org_id;

	for (int i = 7; i >= 0; i--, u >>= 8)
		b[i] = (unsigned char)u;
	buf_init(ad, 512);
	if (buf_append(ad, ACME_EAB_LABEL, sizeof(ACME_EAB_LABEL)) == -1 ||
	    buf_append(ad, kid, strlen(kid) + 1) == -1 || buf_append(ad, b, sizeof(b)) == -1)
		fatalx("acme: associated data larger than its buffer");
}

static int
acme_eab_open(const struct ra_acme_keys *k, const struct store_acme_eab *b,
	      unsigned char key[RA_ACME_EAB_KEY_LEN])
{
	struct buf ad;
	unsigned long long mlen = 0;
	int rc = -1;

	acme_eab_ad(&ad, b->kid, b->org_id);
	if (b->sealedlen != ACME_SEAL_NONCE + RA_ACME_EAB_KEY_LEN + ACME_SEAL_TAG)
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		key, &mlen, NULL, b->sealed + ACME_SEAL_NONCE, b->sealedlen - ACME_SEAL_NONCE,
		ad.data, ad.len, b->sealed, k->eab) != 0 ||
	    mlen != RA_ACME_EAB_KEY_LEN)
		goto out;
	rc = 0;
out:
	buf_free(&ad);
	return rc;
}

/*
 * RFC 8555 7.3.4: the binding q->eab is a flattened JWS with alg HS256, kid a binding's key
 * id, url the newAccount URL, no nonce, over the account's key (q->jwk: same thumbprint), and
 * its MAC verifies with the binding's key.  *b is the binding (active and unused) on OK.
 */
static enum ra_acme_outcome
acme_eab_check(struct store *st, const struct ra_acme_keys *k, const struct ra_acme_new *q,
	       const unsigned char thumb[JWS_THUMB_LEN], struct store_acme_eab *b, struct err *e)
{
	unsigned char key[RA_ACME_EAB_KEY_LEN], pthumb[JWS_THUMB_LEN];
	struct jws j;
	json_t *pjwk = NULL;
	char *text = NULL;
	enum ra_acme_outcome r = RA_ACME_EAB_MALFORMED;

	memset(&j, 0, sizeof(j));
	memset(b, 0, sizeof(*b));
	if ((text = json_dumps(q->eab, JSON_COMPACT)) == NULL ||
	    jws_parse(text, strlen(text), 1, &j, e) == -1)
		goto out;
	if (j.alg != JWS_ALG_HS256 || j.kid == NULL || j.nonce != NULL || j.jwk != NULL ||
	    j.url == NULL || strcmp(j.url, q->url) != 0) {
		err_set(e, ERR_REFUSED,
			"acme: RFC 8555 7.3.4: the binding's header is alg HS256, "
			"kid and the newAccount url, without nonce or jwk");
		goto out;
	}
	if ((pjwk = sjson_load_object(j.payload, j.payloadlen, JWS_HEADER_MAX, 1,
				      "acme: binding payload", e)) == NULL ||
	    jwk_thumbprint(pjwk, pthumb, NULL, e) == -1 ||
	    sodium_memcmp(pthumb, thumb, JWS_THUMB_LEN) != 0) {
		err_clear(e);
		err_set(e, ERR_REFUSED,
			"acme: RFC 8555 7.3.4: the binding's payload is not the account key");
		goto out;
	}
	if (strlen(j.kid) >= STORE_ACME_KID_MAX || store_acme_eab_get(st, j.kid, b, e) == -1) {
		r = e->code == ERR_INTERNAL ? RA_ACME_ERROR : RA_ACME_EAB_BAD;
		if (r == RA_ACME_EAB_BAD) {
			err_clear(e);
			err_set(e, ERR_REFUSED,
				"acme: no External Account Binding has this key id");
		}
		goto out;
	}
	if (acme_eab_open(k, b, key) == -1) {
		err_set(e, ERR_INTERNAL,
			"acme: binding %s: its sealed key does not open (altered, or sealed under "
			"another acme.key_file)",
			b->kid);
		r = RA_ACME_ERROR;
		goto out;
	}
	if (jws_verify_hmac(&j, key, sizeof(key), e) == -1) {
		r = RA_ACME_EAB_BAD;
		goto out;
	}
	if (strcmp(b->status, "active") != 0 || b->account_id != 0) {
		err_set(e, ERR_REFUSED, "acme: External Account Binding %s is %s", b->kid,
			b->account_id != 0 ? "used by another account" : b->status);
		r = RA_ACME_EAB_UNUSABLE;
		goto out;
	}
	r = RA_ACME_OK;
out:
	sodium_memzero(key, sizeof(key));
	if (r != RA_ACME_OK)
		store_acme_eab_clear(b);
	json_decref(pjwk);
	free(text);
	jws_clear(&j);
	return r;
}

/* Inserts the account a (with its binding b, or none) and its audit entry; the caller's tx. */
static int
acme_account_insert(struct store *st, struct store_acme_account *a, const struct store_acme_eab *b,
		    const char *actor, struct err *e)
{
	char obj[48], *detail = NULL;
	int rc = -1;

	if (store_acme_account_add(st, a, e) == -1)
		goto out;
	if (b != NULL && store_acme_eab_bind(st, b->id, a->id, a->created, e) == -1)
		goto out;
	snprintf(obj, sizeof(obj), "acme-account:%" PRId64, a->id);
	detail = b != NULL ? xasprintf("org=%s eab=%s", b->org_code, b->kid) : xstrdup("");
	if (store_audit_append(st, actor, "acme.account.create", obj, detail, NULL, e) == -1)
		goto out;
	rc = 0;
out:
	free(detail);
	return rc;
}

/*
 * newAccount lost a race with another request: the key's account made meanwhile (EXISTS), else
 * the binding was used by another account (EAB_UNUSABLE).
 */
static enum ra_acme_outcome
acme_account_raced(struct store *st, const unsigned char thumb[JWS_THUMB_LEN], int have_b,
		   struct ra_acme_account *out, struct err *e)
{
	struct store_acme_account old;
	struct err ie;

	err_clear(&ie);
	err_clear(e);
	if (store_acme_account_by_thumb(st, thumb, &old, &ie) == 0) {
		if (strcmp(old.status, "valid") != 0) {
			err_set(e, ERR_REFUSED, "acme: RFC 8555 7.3.6: the account is %s",
				old.status);
			store_acme_account_clear(&old);
			return RA_ACME_NOT_VALID;
		}
		acme_account_take(out, &old);
		return RA_ACME_EXISTS;
	}
	if (ie.code != ERR_NOTFOUND || !have_b) {
		err_set(e, ie.code != ERR_NOTFOUND ? ie.code : ERR_INTERNAL, "%s", ie.msg);
		return RA_ACME_ERROR;
	}
	err_set(e, ERR_CONFLICT, "acme: the External Account Binding was used meanwhile");
	return RA_ACME_EAB_UNUSABLE;
}

/* ra_acme_account_new's unit: the account, its binding bound, its address, the audit entry. */
struct acme_account_w {
	struct store_acme_account *a;
	const struct store_acme_eab *b;
	const char *actor, *addr;
};

static int
acme_account_new_write(struct store *st, void *arg, struct err *e)
{
	const struct acme_account_w *w = arg;

	if (acme_account_insert(st, w->a, w->b, w->actor, e) == -1 ||
	    (w->addr != NULL && store_acme_account_set_addr(st, w->a->id, w->addr, e) == -1))
		return -1;
	return 0;
}

enum ra_acme_outcome
ra_acme_account_new(struct store *st, const struct ra_acme_keys *k, const struct ra_acme_new *q,
		    struct ra_acme_account *out, struct err *e_out)
{
	struct err le, *e = &le;
	struct store_acme_account a, old;
	struct store_acme_eab b;
	struct acme_account_w w;
	enum ra_acme_outcome r = RA_ACME_ERROR;
	int have_b = 0;

	err_clear(&le);
	memset(&w, 0, sizeof(w));
	memset(&a, 0, sizeof(a));
	memset(&old, 0, sizeof(old));
	memset(&b, 0, sizeof(b));
	memset(out, 0, sizeof(*out));
	if (jwk_thumbprint(q->jwk, a.thumb, &a.jwk, e) == -1)
		goto out;
	/* an existing account first (7.3.1): its key is what identifies it */
	if (store_acme_account_by_thumb(st, a.thumb, &old, e) == 0) {
		r = strcmp(old.status, "valid") == 0 ? RA_ACME_EXISTS : RA_ACME_NOT_VALID;
		if (r == RA_ACME_NOT_VALID)
			err_set(e, ERR_REFUSED, "acme: RFC 8555 7.3.6: the account is %s",
				old.status);
		acme_account_take(out, &old);
		goto out;
	}
	if (e->code != ERR_NOTFOUND)
		goto out;
	err_clear(e);
	if (q->only_existing) {
		err_set(e, ERR_REFUSED, "acme: RFC 8555 7.3.1: no account has this key");
		r = RA_ACME_NO_ACCOUNT;
		goto out;
	}
	/* a new account: the accounts created from this address lately (acmelimit.c) */
	if (q->limits != NULL && q->addr != NULL &&
	    (r = ra_acme_limit_account(st, q->limits, q->addr, q->hit, e)) != RA_ACME_OK)
		goto out;
	if ((r = ra_acme_contact_check(q->contact, &a.contact, e)) != RA_ACME_OK)
		goto out;
	r = RA_ACME_ERROR;
	if (q->eab == NULL && q->eab_required) {
		err_set(e, ERR_REFUSED,
			"acme: RFC 8555 7.3.4: this server requires an External "
			"Account Binding (ask your RA officer for one)");
		r = RA_ACME_EAB_REQUIRED;
		goto out;
	}
	if (q->eab != NULL) {
		if ((r = acme_eab_check(st, k, q, a.thumb, &b, e)) != RA_ACME_OK)
			goto out;
		have_b = 1;
		a.org_id = b.org_id;
		a.eab_id = b.id;
		r = RA_ACME_ERROR;
	}
	a.tos_agreed = q->tos_agreed;
	a.created = util_now();
	w.a = &a;
	w.b = have_b ? &b : NULL;
	w.actor = q->actor;
	w.addr = q->addr;
	if (ra_acme_write(st, acme_account_new_write, &w, 0, e) == -1) {
		if (e->code == ERR_CONFLICT) /* a race: the key or the binding was taken */
			r = acme_account_raced(st, a.thumb, have_b, out, e);
		goto out;
	}
	a.status = xstrdup("valid");
	acme_account_take(out, &a);
	r = RA_ACME_CREATED;
out:
	store_acme_account_clear(&a);
	store_acme_eab_clear(&b);
	acme_err_out(e_out, &le);
	return r;
}

/*
 * ra_acme_account_update's unit: the account read (w->r: NO_ACCOUNT, NOT_VALID when it
 * fails so), its contact and status written with their audit entries, read again into w->a.
 */
struct acme_account_upd {
	int64_t id;
	const char *canon, *actor;
	int deactivate;
	time_t now;
	struct store_acme_account *a;
	enum ra_acme_outcome r;
};

static int
acme_account_update_write(struct store *st, void *arg, struct err *e)
{
	struct acme_account_upd *w = arg;
	char obj[48];

	w->r = RA_ACME_ERROR;
	store_acme_account_clear(w->a);
	snprintf(obj, sizeof(obj), "acme-account:%" PRId64, w->id);
	if (store_acme_account_get(st, w->id, w->a, e) == -1) {
		if (e->code == ERR_NOTFOUND)
			w->r = RA_ACME_NO_ACCOUNT;
		return -1;
	}
	if (strcmp(w->a->status, "valid") != 0) {
		err_set(e, ERR_REFUSED, "acme: RFC 8555 7.3.6: the account is %s", w->a->status);
		w->r = RA_ACME_NOT_VALID;
		return -1;
	}
	if (w->canon != NULL &&
	    (store_acme_account_set_contact(st, w->id, w->canon, w->now, e) == -1 ||
	     store_audit_append(st, w->actor, "acme.account.update", obj, w->canon, NULL, e) == -1))
		return -1;
	if (w->deactivate &&
	    (store_acme_account_set_status(st, w->id, "deactivated", w->now, e) == -1 ||
	     store_audit_append(st, w->actor, "acme.account.deactivate", obj, "", NULL, e) == -1))
		return -1;
	store_acme_account_clear(w->a);
	return store_acme_account_get(st, w->id, w->a, e);
}

enum ra_acme_outcome
ra_acme_account_update(struct store *st, int64_t id, json_t *contact, int deactivate,
		       const char *actor, struct ra_acme_account *out, struct err *e_out)
{
	struct err le, *e = &le;
	struct store_acme_account a;
	struct acme_account_upd w;
	char *canon = NULL;
	time_t now = util_now();
	enum ra_acme_outcome r = RA_ACME_ERROR;

	err_clear(&le);
	memset(&w, 0, sizeof(w));
	memset(&a, 0, sizeof(a));
	memset(out, 0, sizeof(*out));
	if (contact != NULL && (r = ra_acme_contact_check(contact, &canon, e)) != RA_ACME_OK)
		goto out;
	w.id = id;
	w.canon = canon;
	w.deactivate = deactivate;
	w.actor = actor;
	w.now = now;
	w.a = &a;
	if (ra_acme_write(st, acme_account_update_write, &w, 0, e) == -1) {
		r = w.r;
		goto out;
	}
	acme_account_take(out, &a);
	r = RA_ACME_OK;
out:
	store_acme_account_clear(&a);
	free(canon);
	acme_err_out(e_out, &le);
	return r;
}

/*
 * ra_acme_account_key's unit: KEY_TAKEN (w->other_id) when another account has the new key,
 * NOT_VALID when the account or its old key changed meanwhile (w->r), else the swap audited.
 */
struct acme_account_kw {
	int64_t id, other_id;
	const unsigned char *old_thumb, *thumb;
	const char *canon, *actor, *obj, *detail;
	enum ra_acme_outcome r;
};

static int
acme_account_key_write(struct store *st, void *arg, struct err *e)
{
	struct acme_account_kw *w = arg;
	struct store_acme_account other;

	memset(&other, 0, sizeof(other));
	w->r = RA_ACME_ERROR;
	w->other_id = 0;
	if (store_acme_account_by_thumb(st, w->thumb, &other, e) == 0) {
		w->other_id = other.id;
		store_acme_account_clear(&other);
		err_set(e, ERR_CONFLICT, "acme: RFC 8555 7.3.5: the new key has an account");
		w->r = RA_ACME_KEY_TAKEN;
		return -1;
	}
	if (e->code != ERR_NOTFOUND)
		return -1;
	err_clear(e);
	if (store_acme_account_set_key(st, w->id, w->old_thumb, w->thumb, w->canon, util_now(),
				       e) == -1) {
		if (e->code == ERR_CONFLICT)
			w->r = RA_ACME_NOT_VALID;
		return -1;
	}
	return store_audit_append(st, w->actor, "acme.account.key", w->obj, w->detail, NULL, e);
}

enum ra_acme_outcome
ra_acme_account_key(struct store *st, int64_t id, const unsigned char old_thumb[JWS_THUMB_LEN],
		    json_t *new_jwk, const char *actor, int64_t *other_id, struct err *e_out)
{
	struct err le, *e = &le;
	struct store_acme_account other;
	unsigned char thumb[JWS_THUMB_LEN];
	char obj[48], tt[JWS_THUMB_TEXT], *canon = NULL, *detail = NULL;
	struct acme_account_kw w;
	enum ra_acme_outcome r = RA_ACME_ERROR;

	err_clear(&le);
	memset(&w, 0, sizeof(w));
	memset(&other, 0, sizeof(other));
	*other_id = 0;
	if (jwk_thumbprint(new_jwk, thumb, &canon, e) == -1)
		goto out;
	snprintf(obj, sizeof(obj), "acme-account:%" PRId64, id);
	jwk_thumb_text(thumb, tt);
	detail = xasprintf("thumbprint=%s", tt);
	w.id = id;
	w.old_thumb = old_thumb;
	w.thumb = thumb;
	w.canon = canon;
	w.actor = actor;
	w.obj = obj;
	w.detail = detail;
	if (ra_acme_write(st, acme_account_key_write, &w, 0, e) == -1) {
		*other_id = w.other_id;
		r = w.r;
		goto out;
	}
	r = RA_ACME_OK;
out:
	store_acme_account_clear(&other);
	free(canon);
	free(detail);
	acme_err_out(e_out, &le);
	return r;
}

/* ---- External Account Bindings ---- */

/*
 * names (comma-separated) checked to lie in org's domains, or an IP address (RFC 8738) among
 * org's addresses (written in its canonical text); *canon lower-case, no blanks.
 */
static int
acme_eab_names(const struct store_org *org, const char *names, char **canon, struct err *e)
{
	struct buf b;
	const char *p = names != NULL ? names : "";
	char name[256], esc[96];
	unsigned char ip[16];
	size_t n, iplen;
	int rc = -1, count = 0;

	buf_init(&b, 64 * 1024);
	while (*p != '\0') {
		p += strspn(p, ", \t");
		if ((n = strcspn(p, ", \t")) == 0)
			break;
		if (n >= sizeof(name) || ++count > 100) {
			err_set(e, ERR_REFUSED, "acme: at most 100 names of at most 253 bytes");
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			name[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
		name[n] = '\0';
		if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1) {
			/* an address: only one the organization lists (its domains cover none) */
			iplen = strchr(name, ':') != NULL ? 16 : 4;
			if (!util_ip_in(org->ips, org->nips, ip, iplen) ||
			    ra_acme_ip_text(ip, iplen, name, sizeof(name)) == -1) {
				err_set(e, ERR_REFUSED,
					"acme: address %s is not one of the addresses of %s",
					log_escape(esc, sizeof(esc), name, n), org->code);
				goto out;
			}
		} else if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-.*") != n ||
			   !ra_dns_in_org(org, name)) {
			err_set(e, ERR_REFUSED,
				"acme: name \"%s\" is no DNS name within the domains of %s",
				log_escape(esc, sizeof(esc), name, n), org->code);
			goto out;
		}
		if (buf_printf(&b, "%s%s", b.len > 0 ? "," : "", name) == -1)
			fatalx("acme: names larger than their buffer");
		p += n;
	}
	*canon = xstrdup(b.len > 0 ? buf_cstr(&b) : "");
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

int
ra_acme_eab_create(struct store *st, const struct ra_acme_keys *k, const char *org_code,
		   const char *names, const char *actor, char kid[RA_ACME_KID_TEXT],
		   char hmac[RA_ACME_EAB_KEY_TEXT], struct err *e)
{
	unsigned char id[16], key[RA_ACME_EAB_KEY_LEN];
	struct store_org org;
	struct store_acme_eab b;
	struct buf ad;
	char *detail = NULL;
	int rc = -1, intx = 0;

	memset(&org, 0, sizeof(org));
	memset(&b, 0, sizeof(b));
	buf_init(&ad, 0);
	kid[0] = hmac[0] = '\0';
	if (store_org_get(st, org_code, &org, e) == -1 ||
	    acme_eab_names(&org, names, &b.names, e) == -1)
		goto out;
	/* never "-" first: a key id is given to commands (`shomei acme eab suspend KEYID`) */
	do {
		randombytes_buf(id, sizeof(id));
		if (b64url_encode(b.kid, sizeof(b.kid), id, sizeof(id)) == -1)
			fatalx("acme: key id does not fit");
	} while (b.kid[0] == '-');
	randombytes_buf(key, sizeof(key));
	b.org_id = org.id;
	b.created = util_now();
	b.sealedlen = ACME_SEAL_NONCE + sizeof(key) + ACME_SEAL_TAG;
	b.sealed = xmalloc(b.sealedlen);
	randombytes_buf(b.sealed, ACME_SEAL_NONCE);
	acme_eab_ad(&ad, b.kid, b.org_id);
	crypto_aead_xchacha20poly1305_ietf_encrypt(b.sealed + ACME_SEAL_NONCE, NULL, key,
						   sizeof(key), ad.data, ad.len, NULL, b.sealed,
						   k->eab);
	detail = xasprintf("org=%s names=%s", org.code, b.names);
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (store_acme_eab_add(st, &b, e) == -1 ||
	    store_audit_append(st, actor, "acme.eab.create", b.kid, detail, NULL, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	memcpy(kid, b.kid, RA_ACME_KID_TEXT); /* 22 characters and the NUL */
	if (b64url_encode(hmac, RA_ACME_EAB_KEY_TEXT, key, sizeof(key)) == -1)
		fatalx("acme: HMAC key does not fit");
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	sodium_memzero(key, sizeof(key));
	buf_free(&ad);
	store_acme_eab_clear(&b);
	store_org_clear(&org);
	free(detail);
	return rc;
}

int
ra_acme_eab_names_check(struct store *st, const char *org_code, const char *names, struct err *e)
{
	struct store_org org;
	char *canon = NULL;
	int rc;

	memset(&org, 0, sizeof(org));
	rc = store_org_get(st, org_code, &org, e) == -1 ||
		     acme_eab_names(&org, names, &canon, e) == -1
		 ? -1
		 : 0;
	free(canon);
	store_org_clear(&org);
	return rc;
}

int
ra_acme_eab_list(struct store *st, int64_t org_id, struct store_acme_eab **out, size_t *n,
		 struct err *e)
{
	size_t i;

	if (store_acme_eab_list(st, org_id, RA_ACME_EAB_LIST_MAX, out, n, e) == -1)
		return -1;
	/* a list never carries a sealed key: nobody shows or moves it */
	for (i = 0; i < *n; i++) {
		sodium_memzero((*out)[i].sealed, (*out)[i].sealedlen);
		(*out)[i].sealedlen = 0;
	}
	return 0;
}

void
ra_acme_eab_list_free(struct store_acme_eab *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		store_acme_eab_clear(&v[i]);
	free(v);
}

/*
 * The one way a binding's status or names change: org_code NULL (the command line) for any
 * organization's binding, else only for that organization's (ra_acme_eab_officer_set).
 */
static int
acme_eab_change(struct store *st, const char *org_code, const char *kid, const char *status,
		const char *names, const char *detail, const char *actor, int check_only,
		struct err *e)
{
	struct store_acme_eab b;
	struct store_org org;
	char action[32], *canon = NULL, *det = NULL;
	int rc = -1, intx = 0;

	memset(&b, 0, sizeof(b));
	memset(&org, 0, sizeof(org));
	if ((status == NULL) == (names == NULL) ||
	    (status != NULL && strcmp(status, "active") != 0 && strcmp(status, "suspended") != 0 &&
	     strcmp(status, "revoked") != 0)) {
		err_set(e, ERR_REFUSED, "acme: a binding is active, suspended or revoked");
		goto out;
	}
	if (names != NULL && org_code == NULL)
		fatalx("acme: names change without an organization");
	if (kid == NULL || strlen(kid) >= STORE_ACME_KID_MAX) {
		err_set(e, ERR_NOTFOUND, "acme: no binding with this key id%s%s",
			org_code != NULL ? " in " : "", org_code != NULL ? org_code : "");
		goto out;
	}
	if (org_code != NULL && store_org_get(st, org_code, &org, e) == -1)
		goto out;
	if (names != NULL && acme_eab_names(&org, names, &canon, e) == -1)
		goto out;
	if (!check_only) {
		if (store_begin(st, e) == -1)
			goto out;
		intx = 1;
	}
	/* another organization's binding does not exist for this officer */
	if (store_acme_eab_get(st, kid, &b, e) == -1 || (org_code != NULL && b.org_id != org.id)) {
		err_clear(e);
		err_set(e, ERR_NOTFOUND, "acme: no binding with this key id%s%s",
			org_code != NULL ? " in " : "", org_code != NULL ? org_code : "");
		goto out;
	}
	if (strcmp(b.status, "revoked") == 0) {
		err_set(e, ERR_CONFLICT, "acme: binding %s is revoked for good", b.kid);
		goto out;
	}
	if (status != NULL && strcmp(b.status, status) == 0) {
		err_set(e, ERR_CONFLICT, "acme: binding %s is %s already", b.kid, status);
		goto out;
	}
	if (check_only) {
		rc = 0;
		goto out;
	}
	if (status != NULL) {
		snprintf(action, sizeof(action), "acme.eab.%s", status);
		det = xasprintf("org=%s%s%s", b.org_code,
				detail != NULL && *detail != '\0' ? " " : "",
				detail != NULL ? detail : "");
	} else {
		snprintf(action, sizeof(action), "acme.eab.names");
		det = xasprintf("org=%s names=%s (were %s)%s%s", b.org_code, canon, b.names,
				detail != NULL && *detail != '\0' ? " " : "",
				detail != NULL ? detail : "");
	}
	if ((status != NULL ? store_acme_eab_set_status(st, b.kid, status, e)
			    : store_acme_eab_set_names(st, b.kid, canon, e)) == -1 ||
	    store_audit_append(st, actor, action, b.kid, det, NULL, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	store_acme_eab_clear(&b);
	store_org_clear(&org);
	free(canon);
	free(det);
	return rc;
}

int
ra_acme_eab_set_status(struct store *st, const char *kid, const char *status, const char *actor,
		       struct err *e)
{
	return acme_eab_change(st, NULL, kid, status, NULL, NULL, actor, 0, e);
}

int
ra_acme_eab_officer_set(struct store *st, const char *org_code, const char *kid, const char *status,
			const char *names, const char *detail, const char *actor, int check_only,
			struct err *e)
{
	if (org_code == NULL)
		return err_set(e, ERR_REFUSED, "acme: an officer of an organization changes it");
	return acme_eab_change(st, org_code, kid, status, names, detail, actor, check_only, e);
}
