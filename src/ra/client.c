/*
 * client: client certificates whose key the RA makes (issue 13 part 4), delivered as PKCS#12
 * per holder or all at once in an encrypted ZIP to the user administrator.
 *
 * Per holder: the holder is mailed a one-time URL (/client/<token>); the page asks for the
 * access PIN, which is also the PKCS#12's password (as the academic service does: the holder
 * types the same PIN to download and to import).  The store keeps the URL's hash, the PIN's
 * hash keyed with the URL's secret (ra_pin_hash, as officer enrolments), and the PKCS#12 — its
 * key encrypted under the PIN (PKCS#8, AES-256-CBC, PBKDF2) — until the one download or the
 * URL's expiry.  The PIN itself is never stored in the clear: it is shown once to the officer
 * (printable page), or mailed as a second one-time URL (/client/pin/<token>) whose secret is
 * the only key to the sealed PIN (crypto_secretbox under a key derived from that secret).
 * Five wrong PINs lock the URL.
 *
 * ZIP: the PKCS#12 files (each under its own PIN: the line's, or drawn) and PINs.txt in one
 * WinZip AES-256 archive (util/zip.c) under a password shown once to the officer; the user
 * administrator is mailed a one-time URL (/client/zip/<token>) that gives the ZIP once.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mail/mail.h"
#include "ra.h"
#include "util/zip.h"

const char *const ra_client_delivery_names[RA_CLIENT_DELIVERY__MAX] = {
    [RA_CLIENT_PIN_SHOWN] = "pin_shown",
    [RA_CLIENT_PIN_MAILED] = "pin_mailed",
    [RA_CLIENT_ZIP] = "zip",
};

static const char *const client_res_names[RA_CLIENT_RES__MAX] = {
    "ok", "unknown", "expired", "locked", "taken", "wrong_pin",
};

int
ra_client_delivery_parse(const char *s, enum ra_client_delivery *d)
{
	for (int i = 0; s != NULL && i < RA_CLIENT_DELIVERY__MAX; i++)
		if (strcmp(s, ra_client_delivery_names[i]) == 0) {
			*d = (enum ra_client_delivery)i;
			return 0;
		}
	return -1;
}

const char *
ra_client_res_name(enum ra_client_res r)
{
	return (unsigned)r < RA_CLIENT_RES__MAX ? client_res_names[r] : "error";
}

struct ra_client_zip {
	struct zip *z;
	struct buf pins; /* PINs.txt: file, serial, holder, e-mail, PIN (UTF-8 BOM, CRLF) */
	size_t n;
	time_t now;
};

/* A password of n symbols of RA_CODE_ALPHABET (no look-alikes). */
struct ra_client_zip *
ra_client_zip_new(char pw[RA_CLIENT_ZIP_PW_LEN + 1])
{
	struct ra_client_zip *c = xcalloc(1, sizeof(*c));

	ra_pin_new(pw, RA_CLIENT_ZIP_PW_LEN);
	c->z = zip_new(pw);
	buf_init(&c->pins, 64u * 1024 * 1024);
	(void)buf_append(&c->pins, "\xef\xbb\xbf", 3);
	(void)buf_printf(&c->pins, "file\tserial\tholder\te-mail\tPIN\r\n");
	c->now = util_now();
	return c;
}

void
ra_client_zip_free(struct ra_client_zip *c)
{
	if (c == NULL)
		return;
	zip_free(c->z);
	buf_free(&c->pins); /* wipes */
	free(c);
}

size_t
ra_client_zip_count(const struct ra_client_zip *c)
{
	return c != NULL ? c->n : 0;
}

/* Days from shomei.conf, else def. */
static long
client_days(struct ca *ca)
{
	struct err e;
	long v;

	err_clear(&e);
	if (conf_get_long(&ca->conf, "console.client_days", RA_CLIENT_DAYS, 1, 365, &v, &e) == -1)
		return RA_CLIENT_DAYS;
	return v;
}

/* The key that seals a mailed PIN, from the PIN URL's secret. */
static void
client_seal_key(const unsigned char raw[RA_TOKEN_LEN], unsigned char key[crypto_secretbox_KEYBYTES])
{
	static const unsigned char ctx[] = "shomei client PIN link";

	crypto_generichash(key, crypto_secretbox_KEYBYTES, raw, RA_TOKEN_LEN, ctx, sizeof(ctx) - 1);
}

/* A file name in the ZIP: letters, digits and ._- of name, else the serial; ".p12" added. */
static void
client_p12_name(const char *name, const char *serial, char *out, size_t n)
{
	size_t k = 0;

	for (const char *p = name != NULL ? name : ""; *p != '\0' && k + 5 < n && k < 64; p++)
		out[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				   (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'
			       ? *p
			       : '_';
	if (k == 0 || out[0] == '.')
		k = (size_t)snprintf(out, n - 4, "%s", serial);
	snprintf(out + k, n - k, ".p12");
}

/* One issuance: what its hooks share. */
struct client_run {
	struct ca *ca;
	const struct ra_client_req *q;
	struct ra_client_zip *zip;
	struct ra_key key;
	const char *pin; /* the PKCS#12's password */
	unsigned char *p12;
	size_t p12len;
	char actor[48];
	time_t now, expires;
	struct ra_client_out *out;
};

/* signed_fn: the PKCS#12 of the new certificate, before anything is stored. */
static int
client_signed(const struct ca_issued *c, void *arg, struct err *e)
{
	struct client_run *u = arg;
	const struct ra_client_req *q = u->q;
	char friendly[160];

	if (u->p12 != NULL) { /* a serial drawn anew: everything anew */
		sodium_memzero(u->p12, u->p12len);
		free(u->p12);
		u->p12 = NULL;
	}
	snprintf(friendly, sizeof(friendly), "%s", q->cn != NULL ? q->cn : q->holder_name);
	return ra_p12(&u->key, c->der, c->derlen, u->ca->chain, friendly, &u->p12, &u->p12len, e);
}

/* write_fn, in the certificate's transaction: the pickup and its mails, or nothing (ZIP). */
static int
client_write(struct store *st, const struct ca_issued *c, void *arg, struct err *e)
{
	struct client_run *u = arg;
	const struct ra_client_req *q = u->q;
	struct store_pickup p;
	struct store_certadmin a;
	unsigned char raw[RA_TOKEN_LEN], th[STORE_HASH_LEN], praw[RA_TOKEN_LEN], ph[STORE_HASH_LEN],
	    key[crypto_secretbox_KEYBYTES];
	unsigned char
	    box[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + RA_CLIENT_PIN_LEN];
	char tok[RA_TOKEN_TEXT], ptok[RA_TOKEN_TEXT], detail[96];
	int mailed = q->delivery == RA_CLIENT_PIN_MAILED, rc = -1;

	snprintf(detail, sizeof(detail), "delivery=%s", ra_client_delivery_names[q->delivery]);
	if (store_audit_append(st, u->actor, "console.client_issue", c->serial, detail, NULL, e) ==
	    -1)
		return -1;
	if (q->delivery == RA_CLIENT_ZIP)
		return 0;
	memset(&p, 0, sizeof(p));
	snprintf(p.serial, sizeof(p.serial), "%s", c->serial);
	p.org_id = q->officer->org_id;
	p.expires = u->expires;
	p.created = u->now;
	ra_token_new(raw, tok);
	ra_token_hash(raw, th);
	ra_pin_hash(raw, u->pin, p.pin_hash);
	if (mailed) {
		ra_token_new(praw, ptok);
		ra_token_hash(praw, ph);
		client_seal_key(praw, key);
		randombytes_buf(box, crypto_secretbox_NONCEBYTES);
		crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES,
				      (const unsigned char *)u->pin, RA_CLIENT_PIN_LEN, box, key);
	}
	if (store_pickup_add(st, &p, th, u->p12, u->p12len, mailed ? ph : NULL, mailed ? box : NULL,
			     sizeof(box), e) == -1)
		goto out;
	memset(&a, 0, sizeof(a));
	snprintf(a.serial, sizeof(a.serial), "%s", c->serial);
	a.org_id = q->officer->org_id;
	a.officer_id = q->officer->id;
	a.kind = (char *)"client";
	a.admin_name = (char *)q->admin_name;
	a.admin_unit = (char *)q->admin_unit;
	a.admin_email = (char *)q->admin_email;
	a.holder_name = (char *)q->holder_name;
	a.holder_unit = (char *)q->holder_unit;
	a.holder_email = (char *)q->holder_email;
	if (q->n != NULL && q->n->url != NULL &&
	    q->n->url(q->n->arg, st, &a, tok, u->expires, mailed, e) == -1)
		goto out;
	if (mailed && q->n != NULL && q->n->pin != NULL &&
	    q->n->pin(q->n->arg, st, &a, ptok, u->expires, e) == -1)
		goto out;
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(praw, sizeof(praw));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(tok, sizeof(tok));
	sodium_memzero(ptok, sizeof(ptok));
	return rc;
}

/* The request's own rules (the RA's, before any key is made). */
static int
client_req_check(const struct ra_client_req *q, struct ra_client_zip *zip, struct err *e)
{
	if ((unsigned)q->delivery >= RA_CLIENT_DELIVERY__MAX)
		return err_set(e, ERR_REFUSED, "delivery: not one of pin_shown, pin_mailed, zip");
	if (q->officer == NULL || q->officer->org_id == 0)
		return err_set(e, ERR_REFUSED, "issue: an officer of an organization applies");
	if (q->holder_email == NULL || !mail_addr_valid(q->holder_email))
		return err_set(
		    e, ERR_REFUSED,
		    q->delivery != RA_CLIENT_ZIP
			? "holder e-mail: required (the holder is mailed the certificate "
			  "URL)"
			: "holder e-mail: required (the client profile certifies the "
			  "holder's address)");
	if (q->delivery == RA_CLIENT_ZIP && zip == NULL && !q->check_only)
		return err_set(e, ERR_INTERNAL, "client: a ZIP delivery without its ZIP");
	if (q->delivery == RA_CLIENT_ZIP && zip != NULL && zip->n >= RA_CLIENT_ZIP_MAX)
		return err_set(e, ERR_REFUSED, "zip: at most %u certificates", RA_CLIENT_ZIP_MAX);
	if (q->pin != NULL && q->delivery != RA_CLIENT_ZIP)
		return err_set(e, ERR_REFUSED, "access PIN: given only for the ZIP delivery");
	return 0;
}

/* The ZIP's entry and PIN line of an issued certificate. */
static int
client_zip_add(struct ra_client_zip *zip, const struct ra_client_req *q, const char *serial,
	       const unsigned char *p12, size_t len, const char *pin, struct err *e)
{
	char name[96];
	client_p12_name(q->p12_name, serial, name, sizeof(name));
	/* two lines with one file name: the later gets the serial too */
	if (buf_cstr(&zip->pins) != NULL && strstr((const char *)zip->pins.data, name) != NULL)
		snprintf(name + strlen(name) - 4, sizeof(name) - strlen(name) + 4, "-%s.p12",
			 serial);
	if (zip_add(zip->z, name, p12, len, zip->now, e) == -1)
		return -1;
	if (buf_printf(&zip->pins, "%s\t%s\t", name, serial) == -1)
		return err_set(e, ERR_REFUSED, "zip: the PIN list is too large");
	/* names and addresses are checked (no control characters): a tab would be one */
	for (const char *s = q->holder_name != NULL ? q->holder_name : ""; *s != '\0'; s++)
		(void)buf_putc(&zip->pins, *s == '\t' ? ' ' : *s);
	if (buf_printf(&zip->pins, "\t%s\t%s\r\n", q->holder_email != NULL ? q->holder_email : "",
		       pin) == -1)
		return err_set(e, ERR_REFUSED, "zip: the PIN list is too large");
	zip->n++;
	return 0;
}

int
ra_client_issue(struct ca *ca, struct store *st, const struct ra_client_req *q,
		struct ra_client_zip *zip, struct ra_client_out *out, struct err *e)
{
	struct client_run u;
	struct ra_ocert_req oq;
	struct ca_issued is;
	char pin[RA_CLIENT_PIN_LEN + 1];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&u, 0, sizeof(u));
	memset(&is, 0, sizeof(is));
	if (client_req_check(q, zip, e) == -1)
		return -1;
	ra_pin_new(pin, RA_CLIENT_PIN_LEN);
	u.pin = q->pin != NULL ? q->pin : pin;
	if (ra_key_make_pin("p256", u.pin, &u.key, e) == -1)
		goto out;
	u.ca = ca;
	u.q = q;
	u.zip = zip;
	u.out = out;
	u.now = util_now();
	u.expires = u.now + 86400L * client_days(ca);
	snprintf(u.actor, sizeof(u.actor), "officer:%" PRId64, q->officer->id);
	memset(&oq, 0, sizeof(oq));
	oq.kind = RA_OCERT_CLIENT;
	oq.officer = q->officer;
	oq.admin_name = q->admin_name;
	oq.admin_unit = q->admin_unit;
	oq.admin_email = q->admin_email;
	oq.holder_name = q->holder_name;
	oq.holder_unit = q->holder_unit;
	oq.holder_email = q->holder_email;
	oq.key = &u.key;
	oq.cn = q->cn != NULL && *q->cn != '\0' ? q->cn : q->holder_name;
	oq.ou = q->ou;
	oq.nou = q->nou;
	oq.check_only = q->check_only;
	oq.signed_fn = client_signed;
	oq.write_fn = client_write;
	oq.arg = &u;
	if (ra_ocert_issue(ca, st, &oq, &is, e) == -1)
		goto out;
	if (!q->check_only) {
		snprintf(out->serial, sizeof(out->serial), "%s", is.serial);
		out->expires = u.expires;
		if (q->delivery == RA_CLIENT_PIN_SHOWN)
			memcpy(out->pin, pin, sizeof(out->pin));
		if (q->delivery == RA_CLIENT_ZIP &&
		    client_zip_add(zip, q, is.serial, u.p12, u.p12len, u.pin, e) == -1)
			goto out;
	}
	rc = 0;
out:
	sodium_memzero(pin, sizeof(pin));
	if (u.p12 != NULL) {
		sodium_memzero(u.p12, u.p12len);
		free(u.p12);
	}
	ra_key_clear(&u.key);
	ca_issued_clear(&is);
	return rc;
}

int
ra_client_zip_commit(struct ca *ca, struct store *st, const struct ra_officer *o,
		     struct ra_client_zip *zip, const char *admin_name, const char *admin_email,
		     const struct ra_client_notify *n, struct err *e)
{
	struct store_batch b;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN], *bytes = NULL;
	char tok[RA_TOKEN_TEXT], actor[48], detail[64];
	size_t len = 0;
	int64_t id;
	int rc = -1;

	if (zip == NULL || zip->n == 0)
		return err_set(e, ERR_REFUSED, "zip: no certificate to deliver");
	if (admin_email == NULL || !mail_addr_valid(admin_email))
		return err_set(e, ERR_REFUSED, "user administrator e-mail: not a valid address");
	if (zip_add(zip->z, "PINs.txt", zip->pins.data, zip->pins.len, zip->now, e) == -1 ||
	    zip_finish(zip->z, &bytes, &len, e) == -1)
		goto out;
	memset(&b, 0, sizeof(b));
	b.org_id = o->org_id;
	b.officer_id = o->id;
	b.count = (int64_t)zip->n;
	b.admin_email = (char *)admin_email;
	b.created = util_now();
	b.expires = b.created + 86400L * client_days(ca);
	ra_token_new(raw, tok);
	ra_token_hash(raw, h);
	snprintf(actor, sizeof(actor), "officer:%" PRId64, o->id);
	snprintf(detail, sizeof(detail), "count=%zu", zip->n);
	if (store_begin(st, e) == -1)
		goto out;
	if (store_batch_add(st, &b, h, bytes, len, &id, e) == -1 ||
	    store_audit_append(st, actor, "console.client_zip", o->org_code, detail, NULL, e) ==
		-1 ||
	    (n != NULL && n->zip != NULL &&
	     n->zip(n->arg, st, admin_name, admin_email, tok, zip->n, b.expires, e) == -1) ||
	    store_commit(st, e) == -1) {
		store_rollback(st);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(tok, sizeof(tok));
	free(bytes);
	return rc;
}

/* ---- the holder's URL ---- */

void
ra_client_view_clear(struct ra_client_view *v)
{
	if (v == NULL)
		return;
	ra_cert_clear(&v->cert);
	memset(v, 0, sizeof(*v));
}

/* The pickup of token (raw gets its secret) and what it finds now. */
static int
client_load(struct ca *ca, struct store *st, const char *token, unsigned char raw[RA_TOKEN_LEN],
	    struct store_pickup *p, struct ra_client_view *v, enum ra_client_res *res,
	    struct err *e)
{
	unsigned char th[STORE_HASH_LEN];
	struct err se;

	*res = RA_CLIENT_UNKNOWN;
	memset(p, 0, sizeof(*p));
	memset(v, 0, sizeof(*v));
	if (token == NULL || ra_token_decode(token, raw) == -1)
		return 0;
	ra_token_hash(raw, th);
	err_clear(&se);
	if (store_pickup_get(st, th, p, &se) == -1) {
		if (se.code == ERR_NOTFOUND)
			return 0;
		*e = se;
		return -1;
	}
	if (ra_cert_get(ca, st, p->org_id, p->serial, 0, &v->cert, e) == -1)
		return -1;
	v->expires = p->expires;
	v->tries_left = p->tries < RA_CLIENT_TRIES ? (int)(RA_CLIENT_TRIES - p->tries) : 0;
	*res = strcmp(p->state, "taken") == 0				      ? RA_CLIENT_TAKEN
	       : strcmp(p->state, "locked") == 0			      ? RA_CLIENT_LOCKED
	       : strcmp(p->state, "expired") == 0 || p->expires <= util_now() ? RA_CLIENT_EXPIRED
									      : RA_CLIENT_OK;
	return 0;
}

int
ra_client_peek(struct ca *ca, struct store *st, const char *token, struct ra_client_view *v,
	       enum ra_client_res *res, struct err *e)
{
	unsigned char raw[RA_TOKEN_LEN];
	struct store_pickup p;
	int rc;

	rc = client_load(ca, st, token, raw, &p, v, res, e);
	sodium_memzero(raw, sizeof(raw));
	store_pickup_clear(&p);
	return rc;
}

/* A wrong PIN in one transaction with its audit entry: WRONG_PIN or LOCKED (or as it is now). */
static int
client_wrong_pin(struct store *st, const struct store_pickup *p, struct ra_client_view *v,
		 enum ra_client_res *res, struct err *e)
{
	struct err se;
	char detail[64];
	int64_t tries = 0;
	int locked = 0;

	err_clear(&se);
	if (store_begin(st, e) == -1)
		return -1;
	if (store_pickup_fail(st, p->id, RA_CLIENT_TRIES, &tries, &locked, &se) == -1) {
		store_rollback(st);
		if (se.code != ERR_CONFLICT) {
			*e = se;
			return -1;
		}
		*res = RA_CLIENT_TAKEN; /* a twin took or locked it meanwhile */
		return 0;
	}
	snprintf(detail, sizeof(detail), "tries=%" PRId64, tries);
	if (store_audit_append(st, "holder:download",
			       locked ? "console.client_locked" : "console.client_wrong_pin",
			       p->serial, detail, NULL, e) == -1 ||
	    store_commit(st, e) == -1) {
		store_rollback(st);
		return -1;
	}
	*res = locked ? RA_CLIENT_LOCKED : RA_CLIENT_WRONG_PIN;
	v->tries_left = tries < RA_CLIENT_TRIES ? (int)(RA_CLIENT_TRIES - tries) : 0;
	return 0;
}

int
ra_client_take(struct ca *ca, struct store *st, const char *token, const char *pin,
	       unsigned char **p12, size_t *len, struct ra_client_view *v, enum ra_client_res *res,
	       struct err *e)
{
	unsigned char raw[RA_TOKEN_LEN], ph[STORE_HASH_LEN];
	struct store_pickup p;
	struct err se;
	int rc = -1;

	*p12 = NULL;
	*len = 0;
	if (client_load(ca, st, token, raw, &p, v, res, e) == -1)
		goto out;
	rc = 0;
	if (*res == RA_CLIENT_EXPIRED && strcmp(p.state, "open") == 0) {
		err_clear(&se);
		if (store_pickup_set_state(st, p.id, "open", "expired", &se) == -1 &&
		    se.code != ERR_CONFLICT) {
			*e = se;
			rc = -1;
		}
	}
	if (*res != RA_CLIENT_OK)
		goto out;
	ra_pin_hash(raw, pin, ph);
	if (sodium_memcmp(ph, p.pin_hash, sizeof(ph)) != 0) {
		rc = client_wrong_pin(st, &p, v, res, e);
		goto out;
	}
	rc = -1;
	err_clear(&se);
	if (store_begin(st, e) == -1)
		goto out;
	if (store_pickup_take(st, p.id, util_now(), p12, len, &se) == -1) {
		store_rollback(st);
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		*res = RA_CLIENT_TAKEN; /* a twin took it first */
		rc = 0;
		goto out;
	}
	if (store_audit_append(st, "holder:download", "console.client_download", p.serial,
			       "kind=client", NULL, e) == -1 ||
	    store_commit(st, e) == -1) {
		store_rollback(st);
		sodium_memzero(*p12, *len);
		free(*p12);
		*p12 = NULL;
		*len = 0;
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(ph, sizeof(ph));
	store_pickup_clear(&p);
	return rc;
}

/* ---- the PIN URL ---- */

/* The pickup of a PIN URL: OK (the PIN waits), TAKEN (shown), EXPIRED, UNKNOWN. */
static int
client_pin_load(struct store *st, const char *token, unsigned char raw[RA_TOKEN_LEN],
		unsigned char ph[STORE_HASH_LEN], struct store_pickup *p, enum ra_client_res *res,
		struct err *e)
{
	struct err se;

	*res = RA_CLIENT_UNKNOWN;
	memset(p, 0, sizeof(*p));
	if (token == NULL || ra_token_decode(token, raw) == -1)
		return 0;
	ra_token_hash(raw, ph);
	err_clear(&se);
	if (store_pickup_by_pin(st, ph, p, &se) == -1) {
		if (se.code == ERR_NOTFOUND)
			return 0;
		*e = se;
		return -1;
	}
	*res = p->expires <= util_now()				  ? RA_CLIENT_EXPIRED
	       : !p->pin_waiting || strcmp(p->state, "open") != 0 ? RA_CLIENT_TAKEN
								  : RA_CLIENT_OK;
	return 0;
}

int
ra_client_pin_peek(struct store *st, const char *token, enum ra_client_res *res, struct err *e)
{
	unsigned char raw[RA_TOKEN_LEN], ph[STORE_HASH_LEN];
	struct store_pickup p;
	int rc = client_pin_load(st, token, raw, ph, &p, res, e);

	sodium_memzero(raw, sizeof(raw));
	store_pickup_clear(&p);
	return rc;
}

int
ra_client_pin_take(struct store *st, const char *token, char pin[RA_CLIENT_PIN_LEN + 1],
		   enum ra_client_res *res, struct err *e)
{
	unsigned char raw[RA_TOKEN_LEN], ph[STORE_HASH_LEN], key[crypto_secretbox_KEYBYTES];
	unsigned char *box = NULL;
	struct store_pickup p;
	struct err se;
	size_t len = 0;
	int rc = -1;

	pin[0] = '\0';
	if (client_pin_load(st, token, raw, ph, &p, res, e) == -1)
		goto out;
	rc = 0;
	if (*res != RA_CLIENT_OK)
		goto out;
	rc = -1;
	err_clear(&se);
	if (store_begin(st, e) == -1)
		goto out;
	if (store_pickup_pin_take(st, ph, &box, &len, &se) == -1) {
		store_rollback(st);
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		*res = RA_CLIENT_TAKEN;
		rc = 0;
		goto out;
	}
	client_seal_key(raw, key);
	if (len != crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + RA_CLIENT_PIN_LEN ||
	    crypto_secretbox_open_easy((unsigned char *)pin, box + crypto_secretbox_NONCEBYTES,
				       len - crypto_secretbox_NONCEBYTES, box, key) != 0) {
		store_rollback(st);
		err_set(e, ERR_INTERNAL, "client: the sealed PIN of %s does not open", p.serial);
		goto out;
	}
	pin[RA_CLIENT_PIN_LEN] = '\0';
	if (store_audit_append(st, "holder:pin", "console.client_pin_shown", p.serial, "", NULL,
			       e) == -1 ||
	    store_commit(st, e) == -1) {
		store_rollback(st);
		sodium_memzero(pin, RA_CLIENT_PIN_LEN + 1);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(key, sizeof(key));
	if (box != NULL) {
		sodium_memzero(box, len);
		free(box);
	}
	store_pickup_clear(&p);
	return rc;
}

/* ---- the user administrator's ZIP URL ---- */

static int
client_zip_load(struct store *st, const char *token, unsigned char h[STORE_HASH_LEN],
		struct store_batch *b, enum ra_client_res *res, struct err *e)
{
	unsigned char raw[RA_TOKEN_LEN];
	struct err se;

	*res = RA_CLIENT_UNKNOWN;
	memset(b, 0, sizeof(*b));
	if (token == NULL || ra_token_decode(token, raw) == -1)
		return 0;
	ra_token_hash(raw, h);
	sodium_memzero(raw, sizeof(raw));
	err_clear(&se);
	if (store_batch_get(st, h, b, &se) == -1) {
		if (se.code == ERR_NOTFOUND)
			return 0;
		*e = se;
		return -1;
	}
	*res = b->used != 0		  ? RA_CLIENT_TAKEN
	       : b->expires <= util_now() ? RA_CLIENT_EXPIRED
	       : !b->waiting		  ? RA_CLIENT_EXPIRED
					  : RA_CLIENT_OK;
	return 0;
}

int
ra_client_zip_peek(struct store *st, const char *token, struct ra_client_view *v,
		   enum ra_client_res *res, struct err *e)
{
	unsigned char h[STORE_HASH_LEN];
	struct store_batch b;
	int rc = client_zip_load(st, token, h, &b, res, e);

	memset(v, 0, sizeof(*v));
	v->count = (size_t)b.count;
	v->expires = b.expires;
	store_batch_clear(&b);
	return rc;
}

int
ra_client_zip_take(struct store *st, const char *token, unsigned char **zip, size_t *len,
		   enum ra_client_res *res, struct err *e)
{
	unsigned char h[STORE_HASH_LEN];
	struct store_batch b;
	struct err se;
	char obj[32], detail[64];
	int rc = -1;

	*zip = NULL;
	*len = 0;
	if (client_zip_load(st, token, h, &b, res, e) == -1)
		goto out;
	rc = 0;
	if (*res != RA_CLIENT_OK)
		goto out;
	rc = -1;
	err_clear(&se);
	snprintf(obj, sizeof(obj), "zip:%" PRId64, b.id);
	snprintf(detail, sizeof(detail), "count=%" PRId64, b.count);
	if (store_begin(st, e) == -1)
		goto out;
	if (store_batch_take(st, h, util_now(), zip, len, &se) == -1) {
		store_rollback(st);
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		*res = RA_CLIENT_TAKEN;
		rc = 0;
		goto out;
	}
	if (store_audit_append(st, "admin:download", "console.client_zip_download", obj, detail,
			       NULL, e) == -1 ||
	    store_commit(st, e) == -1) {
		store_rollback(st);
		free(*zip);
		*zip = NULL;
		*len = 0;
		goto out;
	}
	rc = 0;
out:
	store_batch_clear(&b);
	return rc;
}

int
ra_client_purge(struct store *st, time_t now, struct err *e)
{
	return store_client_purge(st, now, e);
}
