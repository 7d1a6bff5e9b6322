/*
 * seal: queued mail bodies sealed under a key kept outside the store.  A body carries one-time
 * links and certificate codes, and sits in the store until it is delivered (and in its backups
 * and replicas afterwards): the store holds "shomei-seal1:" and base64url of a 24-byte nonce
 * and the XChaCha20-Poly1305 ciphertext with its tag.  The associated data is the row's id,
 * envelope sender and recipient, so a sealed body opens only in its own row and for its own
 * recipient: a body moved to another row, or a row redirected to another address, is refused.
 *
 * A body without the prefix was queued before bodies were sealed, and is delivered as it is.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mail/mail.h"
#include "util/b64.h"

#define MAIL_SEAL_PREFIX "shomei-seal1:"
#define MAIL_SEAL_LABEL "shomei mail_queue v1"
#define MAIL_NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define MAIL_TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES

_Static_assert(MAIL_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	       "MAIL_KEY_LEN is the AEAD's key length");

/* Appends a 4-byte big-endian length and the text. */
static void
seal_ad_text(struct buf *ad, const char *t)
{
	size_t n = strlen(t);
	unsigned char l[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
			      (unsigned char)(n >> 8), (unsigned char)n};

	if (buf_append(ad, l, sizeof(l)) == -1 || buf_append(ad, t, n) == -1)
		fatalx("mail: associated data larger than its buffer");
}

/* The associated data of row id: label, id (8 bytes big-endian), sender, recipient. */
static void
seal_ad(struct buf *ad, int64_t id, const char *sender, const char *recipient)
{
	unsigned char b[8];
	uint64_t u = (uint64_t)id;
	int i;

	buf_init(ad, 4096);
	for (i = 7; i >= 0; i--, u >>= 8)
		b[i] = (unsigned char)u;
	if (buf_append(ad, MAIL_SEAL_LABEL, sizeof(MAIL_SEAL_LABEL)) == -1 ||
	    buf_append(ad, b, sizeof(b)) == -1)
		fatalx("mail: associated data larger than its buffer");
	seal_ad_text(ad, sender);
	seal_ad_text(ad, recipient);
}

char *
mail_seal(const unsigned char key[MAIL_KEY_LEN], int64_t id, const char *sender,
	  const char *recipient, const char *text, size_t len)
{
	struct buf ad;
	unsigned char *raw;
	unsigned long long clen;
	size_t rawlen = MAIL_NONCE_LEN + len + MAIL_TAG_LEN, plen = strlen(MAIL_SEAL_PREFIX);
	char *out;

	seal_ad(&ad, id, sender, recipient);
	raw = xmalloc(rawlen);
	randombytes_buf(raw, MAIL_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(raw + MAIL_NONCE_LEN, &clen,
						   (const unsigned char *)text, len, ad.data,
						   ad.len, NULL, raw, key);
	out = xmalloc(plen + B64URL_LEN(rawlen) + 1);
	memcpy(out, MAIL_SEAL_PREFIX, plen);
	if (b64url_encode(out + plen, B64URL_LEN(rawlen) + 1, raw, rawlen) == -1)
		fatalx("mail: sealed body does not fit its buffer");
	free(raw);
	buf_free(&ad);
	return out;
}

int
mail_body_open(const struct mail_conf *mc, const struct store_mail *m, struct buf *out,
	       struct err *e)
{
	struct buf ad;
	const char *p, *msg = m->message != NULL ? m->message : "";
	unsigned char *raw = NULL;
	unsigned long long mlen;
	size_t plen = strlen(MAIL_SEAL_PREFIX), n, rawlen = 0, rawcap = 0;
	int rc = -1;

	buf_init(out, MAIL_MSG_MAX + 1);
	buf_init(&ad, 0);
	if (*msg == '\0') {
		err_set(e, ERR_REFUSED, "mail: %" PRId64 ": empty body, not sent", m->id);
		goto out;
	}
	if (strncmp(msg, MAIL_SEAL_PREFIX, plen) != 0) {
		/* whoever can write the store must not get mail sent from the CA's address: a
		 * body in clear (written into the store, or queued by a shomei before bodies were
		 * sealed) is never sent */
		err_set(e, ERR_REFUSED,
			"mail: %" PRId64 ": body not sealed (written into the store directly, or "
			"queued before bodies were sealed), not sent",
			m->id);
		goto out;
	}
	if (!mc->have_key) {
		err_set(e, ERR_INTERNAL, "mail: the queue key is not loaded (mail.key_file)");
		goto out;
	}
	p = msg + plen;
	n = strlen(p);
	rawcap = n / 4 * 3 + 3;
	raw = xmalloc(rawcap);
	if (b64url_decode(raw, rawcap, &rawlen, p, n) == -1 ||
	    rawlen < MAIL_NONCE_LEN + MAIL_TAG_LEN ||
	    rawlen - MAIL_NONCE_LEN - MAIL_TAG_LEN > MAIL_MSG_MAX) {
		err_set(e, ERR_REFUSED, "mail: %" PRId64 ": sealed body is malformed, not sent",
			m->id);
		goto out;
	}
	seal_ad(&ad, m->id, m->sender != NULL ? m->sender : "",
		m->recipient != NULL ? m->recipient : "");
	/* in place: the plaintext over the ciphertext */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		raw + MAIL_NONCE_LEN, &mlen, NULL, raw + MAIL_NONCE_LEN, rawlen - MAIL_NONCE_LEN,
		ad.data, ad.len, raw, mc->key) != 0) {
		err_set(e, ERR_REFUSED,
			"mail: %" PRId64 ": sealed body does not open (altered, moved from another "
			"row or recipient, or sealed under another key than mail.key_file), not "
			"sent",
			m->id);
		goto out;
	}
	if (mlen == 0 || buf_append(out, raw + MAIL_NONCE_LEN, (size_t)mlen) == -1) {
		err_set(e, ERR_REFUSED, "mail: %" PRId64 ": sealed body is empty or too large",
			m->id);
		goto out;
	}
	rc = 0;
out:
	if (raw != NULL) {
		sodium_memzero(raw, rawcap);
		free(raw);
	}
	buf_free(&ad);
	if (rc == -1)
		buf_free(out);
	return rc;
}

int
mail_key_load(const struct conf *c, unsigned char key[MAIL_KEY_LEN], struct err *e)
{
	char *path = conf_path(c, conf_get(c, "mail.key_file", "keys/mail.key"));
	int rc = util_secret_file(path, key, MAIL_KEY_LEN, e);

	free(path);
	return rc;
}

void
mail_conf_set_key(struct mail_conf *mc, const unsigned char key[MAIL_KEY_LEN])
{
	memcpy(mc->key, key, MAIL_KEY_LEN);
	mc->have_key = 1;
}
