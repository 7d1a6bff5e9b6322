/*
 * seal: the keys of a backup (every file of keys/: encrypted PEMs, and raw secrets such as
 * keys/passphrase, keys/portal.key, keys/mail.key) in one box, keys.sealed:
 *
 *	"SHOMEIK1" | opslimit (u32, big-endian) | memlimit in KiB (u32) | salt (16) | nonce (24)
 *	| XChaCha20-Poly1305 ciphertext and tag
 *
 * The key is Argon2id(passphrase, salt, opslimit, memlimit); the 56-byte header is the
 * associated data, so its limits cannot be lowered unnoticed.  Inside: for each file,
 * name length (u16), name, data length (u32), data.  Both layers are read as untrusted bytes.
 */
#include <string.h>

#include <sodium.h>

#include "backup/backup.h"

#define SEAL_MAGIC "SHOMEIK1"
#define SEAL_MAGIC_LEN 8
#define SEAL_SALT 16
#define SEAL_HDR (SEAL_MAGIC_LEN + 8 + SEAL_SALT + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
#define SEAL_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEAL_MAX (16 * 1024 * 1024) /* bytes of a whole bundle */
/*
 * The most a bundle's header may ask of Argon2id: libsodium's "sensitive" limits (4 passes,
 * 1 GiB), above the "moderate" ones the writer uses; checked before any derivation.
 */
#define SEAL_OPS_MAX ((uint32_t)crypto_pwhash_OPSLIMIT_SENSITIVE)
#define SEAL_MEM_KIB_MAX ((uint32_t)(crypto_pwhash_MEMLIMIT_SENSITIVE / 1024))
#define SEAL_NAME_MAX 255

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A name a file of keys/ may have: one plain component. */
static int
seal_name_ok(const char *n)
{
	return strchr(n, '/') == NULL && strlen(n) <= SEAL_NAME_MAX && backup_path_ok(n);
}

void
backup_keys_free(struct backup_key *k, size_t n)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(k[i].name);
		if (k[i].data != NULL) {
			sodium_memzero(k[i].data, k[i].len);
			free(k[i].data);
		}
	}
	free(k);
}

int
backup_keys_unpack(const unsigned char *p, size_t len, struct backup_key **out, size_t *nout,
		   struct err *e)
{
	struct backup_key *k = NULL;
	size_t n = 0, off = 0, nl, dl, i;
	int rc = -1;

	*out = NULL;
	*nout = 0;
	k = xcalloc(BACKUP_KEYS_MAX, sizeof(*k));
	while (off < len) {
		if (n == BACKUP_KEYS_MAX) {
			err_set(e, ERR_REFUSED, "keys: more than %d files", BACKUP_KEYS_MAX);
			goto out;
		}
		if (len - off < 2 || (nl = (size_t)p[off] << 8 | p[off + 1]) == 0 ||
		    nl > SEAL_NAME_MAX || len - off - 2 < nl + 4) {
			err_set(e, ERR_REFUSED, "keys: file %zu: malformed name", n + 1);
			goto out;
		}
		k[n].name = xstrndup((const char *)p + off + 2, nl);
		if (strlen(k[n].name) != nl || !seal_name_ok(k[n].name)) {
			err_set(e, ERR_REFUSED, "keys: file %zu: not a plain file name", n + 1);
			n++;
			goto out;
		}
		off += 2 + nl;
		dl = get32(p + off);
		off += 4;
		if (dl > BACKUP_KEY_FILE_MAX || len - off < dl) {
			err_set(e, ERR_REFUSED, "keys: %s: malformed length", k[n].name);
			n++;
			goto out;
		}
		for (i = 0; i < n; i++)
			if (strcmp(k[i].name, k[n].name) == 0) {
				err_set(e, ERR_REFUSED, "keys: %s: twice", k[n].name);
				n++;
				goto out;
			}
		k[n].data = xmalloc(dl > 0 ? dl : 1);
		memcpy(k[n].data, p + off, dl);
		k[n].len = dl;
		off += dl;
		n++;
	}
	*out = k;
	*nout = n;
	k = NULL;
	rc = 0;
out:
	backup_keys_free(k, n);
	return rc;
}

/* Argon2id of the passphrase into key. */
static int
seal_kdf(unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES], const char *pass,
	 size_t passlen, const unsigned char *salt, uint32_t ops, uint32_t memkib, struct err *e)
{
	if (crypto_pwhash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, pass, passlen, salt,
			  ops, (size_t)memkib * 1024, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return err_set(e, ERR_INTERNAL, "keys: Argon2id: out of memory (%u KiB)", memkib);
	return 0;
}

int
backup_keys_seal(const struct backup_key *k, size_t n, const char *pass, size_t passlen,
		 struct buf *out, struct err *e)
{
	unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned char hdr[SEAL_HDR], len4[4];
	struct buf plain;
	unsigned char *ct = NULL;
	unsigned long long ctlen = 0;
	uint32_t ops = (uint32_t)crypto_pwhash_OPSLIMIT_MODERATE;
	uint32_t memkib = (uint32_t)(crypto_pwhash_MEMLIMIT_MODERATE / 1024);
	size_t i;
	int rc = -1;

	buf_init(&plain, SEAL_MAX - SEAL_HDR - SEAL_TAG);
	for (i = 0; i < n; i++) {
		size_t nl = strlen(k[i].name);

		if (!seal_name_ok(k[i].name) || k[i].len > BACKUP_KEY_FILE_MAX) {
			err_set(e, ERR_REFUSED,
				"keys: %s: not a plain file name of at most %d bytes", k[i].name,
				BACKUP_KEY_FILE_MAX);
			goto out;
		}
		put32(len4, (uint32_t)k[i].len);
		if (buf_putc(&plain, (int)(nl >> 8)) == -1 ||
		    buf_putc(&plain, (int)(nl & 0xff)) == -1 ||
		    buf_append(&plain, k[i].name, nl) == -1 || buf_append(&plain, len4, 4) == -1 ||
		    buf_append(&plain, k[i].data, k[i].len) == -1) {
			err_set(e, ERR_REFUSED, "keys: more than %d bytes in all", SEAL_MAX);
			goto out;
		}
	}
	memcpy(hdr, SEAL_MAGIC, SEAL_MAGIC_LEN);
	put32(hdr + SEAL_MAGIC_LEN, ops);
	put32(hdr + SEAL_MAGIC_LEN + 4, memkib);
	randombytes_buf(hdr + SEAL_MAGIC_LEN + 8,
			SEAL_SALT + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	if (seal_kdf(key, pass, passlen, hdr + SEAL_MAGIC_LEN + 8, ops, memkib, e) == -1)
		goto out;
	ct = xmalloc(plain.len + SEAL_TAG);
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, plain.data, plain.len, hdr, SEAL_HDR,
						   NULL, hdr + SEAL_MAGIC_LEN + 8 + SEAL_SALT, key);
	if (buf_append(out, hdr, SEAL_HDR) == -1 || buf_append(out, ct, (size_t)ctlen) == -1) {
		err_set(e, ERR_INTERNAL, "keys: bundle too large");
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(key, sizeof(key));
	free(ct);
	buf_free(&plain);
	return rc;
}

int
backup_keys_open(const unsigned char *p, size_t len, const char *pass, size_t passlen,
		 struct backup_key **out, size_t *n, struct err *e)
{
	unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned char *plain = NULL;
	unsigned long long plen = 0;
	uint32_t ops, memkib;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (len < SEAL_HDR + SEAL_TAG || len > SEAL_MAX ||
	    memcmp(p, SEAL_MAGIC, SEAL_MAGIC_LEN) != 0) {
		err_set(e, ERR_REFUSED, "keys: %s is not a sealed key bundle of this format",
			BACKUP_KEYS);
		goto out;
	}
	ops = get32(p + SEAL_MAGIC_LEN);
	memkib = get32(p + SEAL_MAGIC_LEN + 4);
	if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > SEAL_OPS_MAX ||
	    (size_t)memkib * 1024 < crypto_pwhash_MEMLIMIT_MIN || memkib > SEAL_MEM_KIB_MAX) {
		err_set(e, ERR_REFUSED, "keys: %s: Argon2id limits out of range", BACKUP_KEYS);
		goto out;
	}
	if (seal_kdf(key, pass, passlen, p + SEAL_MAGIC_LEN + 8, ops, memkib, e) == -1)
		goto out;
	plain = xmalloc(len - SEAL_HDR);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		plain, &plen, NULL, p + SEAL_HDR, len - SEAL_HDR, p, SEAL_HDR,
		p + SEAL_MAGIC_LEN + 8 + SEAL_SALT, key) != 0) {
		err_set(e, ERR_REFUSED,
			"keys: %s does not open: wrong passphrase, or the bundle was altered",
			BACKUP_KEYS);
		goto out;
	}
	if (backup_keys_unpack(plain, (size_t)plen, out, n, e) == -1)
		goto out;
	rc = 0;
out:
	sodium_memzero(key, sizeof(key));
	if (plain != NULL) {
		sodium_memzero(plain, len - SEAL_HDR);
		free(plain);
	}
	return rc;
}
