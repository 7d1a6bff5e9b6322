/*
 * zip: WinZip AES-256 (AE-2) encrypted ZIP archives (zip.h).  Layout of each entry: a local
 * header (method 99, general purpose flag bit 0 encrypted and bit 11 UTF-8 name, CRC 0, the
 * extra field 0x9901: vendor version 2 "AE", strength 3 = AES-256, the real method 0 stored),
 * then salt (16) | password verification value (2) | AES-CTR ciphertext | HMAC-SHA1 (10).
 * The key material is PBKDF2-HMAC-SHA1(password, salt, 1000, 66): the AES key, the HMAC key,
 * the verification value.  The CTR counter is a 128-bit little-endian integer starting at 1
 * (not OpenSSL's big-endian CTR, so the blocks are made with AES-ECB here).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "zip.h"

#define ZIP_SALT 16
#define ZIP_KEY 32
#define ZIP_PWV 2
#define ZIP_MAC 10
#define ZIP_ITER 1000
#define ZIP_EXTRA 11 /* 0x9901: id 2, size 2, version 2, "AE" 2, strength 1, method 2 */

struct zip_entry {
	char *name;
	uint32_t offset, csize, usize;
	uint16_t dtime, ddate;
};

struct zip {
	char *password;
	struct buf body; /* the local headers and data so far */
	struct zip_entry *ent;
	size_t n, cap;
};

static void
le16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)((v >> 8) & 0xff);
}

static void
le32(unsigned char *p, uint32_t v)
{
	le16(p, v & 0xffff);
	le16(p + 2, v >> 16);
}

struct zip *
zip_new(const char *password)
{
	struct zip *z = xcalloc(1, sizeof(*z));

	z->password = xstrdup(password != NULL ? password : "");
	buf_init(&z->body, ZIP_MAX_BYTES);
	return z;
}

void
zip_free(struct zip *z)
{
	size_t i;

	if (z == NULL)
		return;
	OPENSSL_cleanse(z->password, strlen(z->password));
	free(z->password);
	buf_free(&z->body);
	for (i = 0; i < z->n; i++)
		free(z->ent[i].name);
	free(z->ent);
	free(z);
}

/* A name an unzipper writes where it was asked to: relative, no "..", no control bytes. */
static int
zip_name_ok(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0, i;
	const char *p;

	if (n == 0 || n > 255 || name[0] == '/' || name[0] == '\\')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f || name[i] == '\\' ||
		    name[i] == ':')
			return 0;
	for (p = name; p != NULL; p = strchr(p, '/'), p = p != NULL ? p + 1 : NULL)
		if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
			return 0;
	return 1;
}

/* MS-DOS time and date of t (UTC), from 1980. */
static void
zip_dostime(time_t t, uint16_t *dtime, uint16_t *ddate)
{
	struct tm tm;

	if (t < 315532800 || gmtime_r(&t, &tm) == NULL) {
		*dtime = 0;
		*ddate = (0 << 9) | (1 << 5) | 1;
		return;
	}
	*dtime = (uint16_t)((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
	*ddate = (uint16_t)(((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
}

/* out = AES-256-CTR (little-endian counter from 1) of in under key. */
static int
zip_ctr(const unsigned char key[ZIP_KEY], const unsigned char *in, size_t len, unsigned char *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char ctr[16], ks[16];
	uint64_t blk = 0;
	size_t off, i, k;
	int outl, rc = -1;

	if (c == NULL || EVP_EncryptInit_ex(c, EVP_aes_256_ecb(), NULL, key, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(c, 0) != 1)
		goto out;
	for (off = 0; off < len; off += 16) {
		blk++;
		memset(ctr, 0, sizeof(ctr));
		for (i = 0; i < 8; i++)
			ctr[i] = (unsigned char)((blk >> (8 * i)) & 0xff);
		if (EVP_EncryptUpdate(c, ks, &outl, ctr, sizeof(ctr)) != 1 || outl != 16)
			goto out;
		k = len - off < 16 ? len - off : 16;
		for (i = 0; i < k; i++)
			out[off + i] = in[off + i] ^ ks[i];
	}
	rc = 0;
out:
	OPENSSL_cleanse(ks, sizeof(ks));
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int
zip_add(struct zip *z, const char *name, const void *data, size_t len, time_t mtime, struct err *e)
{
	unsigned char km[2 * ZIP_KEY + ZIP_PWV], salt[ZIP_SALT], mac[20], h[30 + ZIP_EXTRA];
	unsigned char *enc = NULL;
	unsigned int maclen = 0;
	struct zip_entry en;
	size_t nlen, csize;
	int rc = -1;

	memset(&en, 0, sizeof(en));
	if (!zip_name_ok(name)) {
		err_set(e, ERR_REFUSED, "zip: bad entry name");
		goto out;
	}
	nlen = strlen(name);
	csize = ZIP_SALT + ZIP_PWV + len + ZIP_MAC;
	if (z->n >= ZIP_MAX_ENTRIES || len > ZIP_MAX_BYTES || z->body.len > ZIP_MAX_BYTES ||
	    csize + nlen + sizeof(h) > ZIP_MAX_BYTES - z->body.len) {
		err_set(e, ERR_REFUSED, "zip: more than %u entries or %u bytes", ZIP_MAX_ENTRIES,
			ZIP_MAX_BYTES);
		goto out;
	}
	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    PKCS5_PBKDF2_HMAC_SHA1(z->password, (int)strlen(z->password), salt, sizeof(salt),
				   ZIP_ITER, (int)sizeof(km), km) != 1) {
		err_set(e, ERR_INTERNAL, "zip: cannot derive the key");
		goto out;
	}
	enc = xmalloc(len > 0 ? len : 1);
	if (zip_ctr(km, data, len, enc) == -1 ||
	    HMAC(EVP_sha1(), km + ZIP_KEY, ZIP_KEY, enc, len, mac, &maclen) == NULL ||
	    maclen < ZIP_MAC) {
		err_set(e, ERR_INTERNAL, "zip: cannot encrypt %s", name);
		goto out;
	}
	en.offset = (uint32_t)z->body.len;
	en.csize = (uint32_t)csize;
	en.usize = (uint32_t)len;
	zip_dostime(mtime, &en.dtime, &en.ddate);
	le32(h, 0x04034b50);
	le16(h + 4, 51);	      /* version needed: AES */
	le16(h + 6, 0x0001 | 0x0800); /* encrypted, UTF-8 name */
	le16(h + 8, 99);
	le16(h + 10, en.dtime);
	le16(h + 12, en.ddate);
	le32(h + 14, 0); /* AE-2: no CRC */
	le32(h + 18, en.csize);
	le32(h + 22, en.usize);
	le16(h + 26, (uint32_t)nlen);
	le16(h + 28, ZIP_EXTRA);
	le16(h + 30, 0x9901);
	le16(h + 32, 7);
	le16(h + 34, 2); /* AE-2 */
	h[36] = 'A';
	h[37] = 'E';
	h[38] = 3;	 /* AES-256 */
	le16(h + 39, 0); /* stored */
	if (buf_append(&z->body, h, 30) == -1 || buf_append(&z->body, name, nlen) == -1 ||
	    buf_append(&z->body, h + 30, ZIP_EXTRA) == -1 ||
	    buf_append(&z->body, salt, sizeof(salt)) == -1 ||
	    buf_append(&z->body, km + 2 * ZIP_KEY, ZIP_PWV) == -1 ||
	    buf_append(&z->body, enc, len) == -1 || buf_append(&z->body, mac, ZIP_MAC) == -1) {
		err_set(e, ERR_REFUSED, "zip: more than %u bytes", ZIP_MAX_BYTES);
		goto out;
	}
	if (z->n == z->cap) {
		z->cap = z->cap == 0 ? 16 : 2 * z->cap;
		z->ent = xrealloc(z->ent, z->cap * sizeof(*z->ent));
	}
	en.name = xstrdup(name);
	z->ent[z->n++] = en;
	rc = 0;
out:
	OPENSSL_cleanse(km, sizeof(km));
	free(enc);
	return rc;
}

int
zip_finish(struct zip *z, unsigned char **out, size_t *len, struct err *e)
{
	struct buf b;
	unsigned char h[46 + ZIP_EXTRA], eocd[22];
	size_t i, nlen;
	uint32_t cdoff, cdlen;
	int rc = -1;

	*out = NULL;
	*len = 0;
	buf_init(&b, (size_t)ZIP_MAX_BYTES + 16 * 1024 * 1024);
	if (buf_append(&b, z->body.data, z->body.len) == -1)
		goto full;
	cdoff = (uint32_t)b.len;
	for (i = 0; i < z->n; i++) {
		nlen = strlen(z->ent[i].name);
		memset(h, 0, sizeof(h));
		le32(h, 0x02014b50);
		le16(h + 4, (3u << 8) | 51); /* made by: Unix, 5.1 */
		le16(h + 6, 51);
		le16(h + 8, 0x0001 | 0x0800);
		le16(h + 10, 99);
		le16(h + 12, z->ent[i].dtime);
		le16(h + 14, z->ent[i].ddate);
		le32(h + 16, 0);
		le32(h + 20, z->ent[i].csize);
		le32(h + 24, z->ent[i].usize);
		le16(h + 28, (uint32_t)nlen);
		le16(h + 30, ZIP_EXTRA);
		le32(h + 38, 0100600u << 16); /* a regular file, rw------- */
		le32(h + 42, z->ent[i].offset);
		le16(h + 46, 0x9901);
		le16(h + 48, 7);
		le16(h + 50, 2);
		h[52] = 'A';
		h[53] = 'E';
		h[54] = 3;
		le16(h + 55, 0);
		if (buf_append(&b, h, 46) == -1 || buf_append(&b, z->ent[i].name, nlen) == -1 ||
		    buf_append(&b, h + 46, ZIP_EXTRA) == -1)
			goto full;
	}
	cdlen = (uint32_t)(b.len - cdoff);
	memset(eocd, 0, sizeof(eocd));
	le32(eocd, 0x06054b50);
	le16(eocd + 8, (uint32_t)z->n);
	le16(eocd + 10, (uint32_t)z->n);
	le32(eocd + 12, cdlen);
	le32(eocd + 16, cdoff);
	if (buf_append(&b, eocd, sizeof(eocd)) == -1)
		goto full;
	*out = b.data;
	*len = b.len;
	b.data = NULL;
	rc = 0;
	goto out;
full:
	err_set(e, ERR_REFUSED, "zip: the archive is too large");
out:
	buf_free(&b);
	return rc;
}
