/*
 * keys: the keys the RA generates for holders (server-made keys), and their PKCS#12.
 *
 * A generated key comes with its PIN (12 symbols of 56, ~70 bits), its encoded public key
 * (SubjectPublicKeyInfo, what the CA certifies: no CSR is made for it), the key already
 * shrouded under the PIN (PKCS#8, AES-256-CBC, PBKDF2 with 2048 iterations) and the MAC key
 * derived from the PIN (PKCS#12 KDF, 2048 iterations, SHA-256): the costly parts of a
 * PKCS#12, ~1 ms of CPU.  Once
 * the certificate is signed, ra_p12() adds the certificate bags and computes the MAC
 * (one HMAC).
 *
 * The P-256 ones are made ahead (util/pool.c: one thread at nice 19, on idle time), up to
 * portal.key_pool of them; ra_key_take() hands each out once and makes one itself only
 * when the pool is empty (or for RSA, which is never pooled).  The
 * pooled keys and PINs live in this process's memory only (the web process, which made every
 * applicant key before too), and are wiped when handed out or at the end.
 */
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "ra.h"

/* No 0/O, 1/I/l: what a person can copy without asking. */
static const char key_pin_alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";

static struct pool *kpool; /* NULL: none (portal.key_pool = 0) */

void
ra_key_clear(struct ra_key *k)
{
	EVP_PKEY_free(k->key);
	X509_PUBKEY_free(k->spki);
	PKCS12_SAFEBAG_free(k->keybag);
	sodium_memzero(k, sizeof(*k));
}

int
ra_key_make(const char *mode, struct ra_key *k, struct err *e)
{
	return ra_key_make_pin(mode, NULL, k, e);
}

int
ra_key_make_pin(const char *mode, const char *pin, struct ra_key *k, struct err *e)
{
	STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
	PKCS12_SAFEBAG *bag;
	int rc = -1;

	memset(k, 0, sizeof(*k));
	k->rsa = strcmp(mode, "rsa2048") == 0;
	k->key = k->rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
			: EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (k->key == NULL || X509_PUBKEY_set(&k->spki, k->key) != 1) {
		err_set(e, ERR_INTERNAL, "ra: cannot generate a %s key", mode);
		goto out;
	}
	if (pin != NULL && (strlen(pin) < 4 || strlen(pin) > RA_PIN_MAX)) {
		err_set(e, ERR_REFUSED, "ra: a PKCS#12 PIN has 4 to %d characters", RA_PIN_MAX);
		goto out;
	}
	/* k->pin keeps a given PIN only when it fits; the PKCS#12 is made under it anyway */
	if (pin != NULL && strlen(pin) <= RA_PIN_LEN)
		memcpy(k->pin, pin, strlen(pin) + 1);
	for (int i = 0; pin == NULL && i < RA_PIN_LEN; i++)
		k->pin[i] =
		    key_pin_alphabet[randombytes_uniform((uint32_t)(sizeof(key_pin_alphabet) - 1))];
	if (pin == NULL)
		k->pin[RA_PIN_LEN] = '\0';
	/* the bag alone: its attributes (name, key id) come with the certificate */
	if ((bag = PKCS12_add_key(&bags, k->key, 0, PKCS12_DEFAULT_ITER, NID_aes_256_cbc,
				  pin != NULL ? pin : k->pin)) == NULL) {
		err_set(e, ERR_INTERNAL, "ra: cannot shroud the new key");
		goto out;
	}
	k->keybag = sk_PKCS12_SAFEBAG_pop(bags);
	randombytes_buf(k->mac_salt, sizeof(k->mac_salt));
	if (PKCS12_key_gen_utf8(pin != NULL ? pin : k->pin, -1, k->mac_salt,
				(int)sizeof(k->mac_salt), PKCS12_MAC_ID, PKCS12_DEFAULT_ITER,
				(int)sizeof(k->mac_key), k->mac_key, EVP_sha256()) != 1) {
		err_set(e, ERR_INTERNAL, "ra: cannot derive the PKCS#12 MAC key");
		goto out;
	}
	rc = 0;
out:
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	if (rc == -1)
		ra_key_clear(k);
	return rc;
}

static int
kpool_make(void *item, void *arg)
{
	struct err e;

	(void)arg;
	err_clear(&e);
	if (ra_key_make("p256", item, &e) == -1) {
		log_warn("%s", e.msg);
		return -1;
	}
	return 0;
}

static void
kpool_clear(void *item)
{
	ra_key_clear(item);
}

int
ra_keypool_start(size_t cap, struct err *e)
{
	if (kpool != NULL)
		return 0;
	return pool_start(&kpool, "shomei-keys", cap, sizeof(struct ra_key), kpool_make,
			  kpool_clear, NULL, e);
}

void
ra_keypool_stop(void)
{
	size_t ready;
	unsigned long taken, misses;

	if (kpool == NULL)
		return;
	pool_stats(kpool, &ready, &taken, &misses);
	log_debug("ra: %lu pooled keys handed out, %lu made in requests", taken, misses);
	pool_stop(kpool);
	kpool = NULL;
}

void
ra_keypool_stats(size_t *ready, unsigned long *taken, unsigned long *made_inline)
{
	pool_stats(kpool, ready, taken, made_inline);
}

int
ra_key_take(const char *mode, struct ra_key *k, struct err *e)
{
	if (strcmp(mode, "p256") == 0 && pool_take(kpool, k) == 0)
		return 0;
	return ra_key_make(mode, k, e);
}

/* friendlyName and localKeyID (the certificate's SHA-1, as PKCS12_create() sets it). */
static int
key_bag_attrs(PKCS12_SAFEBAG *bag, const char *friendly, const unsigned char *id,
	      unsigned int idlen)
{
	if (friendly != NULL && friendly[0] != '\0' &&
	    PKCS12_add_friendlyname_utf8(bag, friendly, -1) != 1)
		return -1;
	return PKCS12_add_localkeyid(bag, (unsigned char *)id, (int)idlen) == 1 ? 0 : -1;
}

/*
 * The MacData of p12 with k's derived key: what PKCS12_set_mac() computes, without deriving
 * the key again: HMAC-SHA-256 over the AuthenticatedSafe (the DER of safes, which is what
 * p12's authSafe data holds), with k's salt and the iteration count the key was made with.
 */
static int
key_p12_mac(const struct ra_key *k, PKCS12 *p12, STACK_OF(PKCS7) * safes)
{
	const ASN1_OCTET_STRING *mac = NULL;
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int n, rc = -1;

	if (PKCS12_setup_mac(p12, PKCS12_DEFAULT_ITER, (unsigned char *)k->mac_salt,
			     (int)sizeof(k->mac_salt), EVP_sha256()) != 1 ||
	    (n = ASN1_item_i2d((const ASN1_VALUE *)safes, &der,
			       ASN1_ITEM_rptr(PKCS12_AUTHSAFES))) <= 0 ||
	    HMAC(EVP_sha256(), k->mac_key, (int)sizeof(k->mac_key), der, (size_t)n, md, &mdlen) ==
		NULL)
		goto out;
	PKCS12_get0_mac(&mac, NULL, NULL, NULL, p12);
	/* p12's own digest string, empty until now (the getter only hands out const) */
	if (mac == NULL || ASN1_OCTET_STRING_set((ASN1_OCTET_STRING *)mac, md, (int)mdlen) != 1)
		goto out;
	rc = 0;
out:
	OPENSSL_free(der);
	return rc;
}

/*
 * A certBag of the DER as it is: the certificate is not decoded (decoding its public key
 * through OpenSSL 3's providers costs ~0.1 ms, see docs/perf.md).  An ASN1_ANY of
 * type SEQUENCE is encoded as the bytes it holds.
 */
static PKCS12_SAFEBAG *
key_cert_bag(const unsigned char *der, size_t len)
{
	ASN1_TYPE *any = ASN1_TYPE_new();
	ASN1_STRING *seq = ASN1_STRING_new();
	PKCS12_SAFEBAG *bag = NULL;

	if (any != NULL && seq != NULL && len <= INT_MAX &&
	    ASN1_STRING_set(seq, der, (int)len) == 1) {
		ASN1_TYPE_set(any, V_ASN1_SEQUENCE, seq);
		seq = NULL;
		bag = PKCS12_item_pack_safebag(any, ASN1_ITEM_rptr(ASN1_ANY), NID_x509Certificate,
					       NID_certBag);
	}
	ASN1_STRING_free(seq);
	ASN1_TYPE_free(any);
	return bag;
}

int
ra_p12(const struct ra_key *k, const unsigned char *der, size_t len, STACK_OF(X509) * chain,
       const char *friendly, unsigned char **out, size_t *outlen, struct err *e)
{
	STACK_OF(PKCS12_SAFEBAG) *certs = sk_PKCS12_SAFEBAG_new_null(), *keys = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	PKCS12_SAFEBAG *bag = NULL, *kb = NULL;
	PKCS12 *p12 = NULL;
	unsigned char id[EVP_MAX_MD_SIZE], *buf = NULL;
	unsigned int idlen = 0;
	int n, rc = -1;

	*out = NULL;
	/* localKeyID: the certificate's SHA-1, as PKCS12_create() (X509_digest) makes it */
	if (certs == NULL || EVP_Digest(der, len, id, &idlen, EVP_sha1(), NULL) != 1)
		goto fail;
	if ((bag = key_cert_bag(der, len)) == NULL ||
	    key_bag_attrs(bag, friendly, id, idlen) == -1 || !sk_PKCS12_SAFEBAG_push(certs, bag))
		goto fail;
	bag = NULL;
	for (int i = 0; i < sk_X509_num(chain); i++)
		if (PKCS12_add_cert(&certs, sk_X509_value(chain, i)) == NULL)
			goto fail;
	if ((kb = ASN1_item_dup(ASN1_ITEM_rptr(PKCS12_SAFEBAG), k->keybag)) == NULL ||
	    key_bag_attrs(kb, friendly, id, idlen) == -1 ||
	    (keys = sk_PKCS12_SAFEBAG_new_null()) == NULL || !sk_PKCS12_SAFEBAG_push(keys, kb))
		goto fail;
	kb = NULL;
	/* certificates in plain data (public), the shrouded key in plain data, then the MAC */
	if (!PKCS12_add_safe(&safes, certs, -1, 0, NULL) ||
	    !PKCS12_add_safe(&safes, keys, -1, 0, NULL) ||
	    (p12 = PKCS12_add_safes(safes, 0)) == NULL || key_p12_mac(k, p12, safes) == -1 ||
	    (n = i2d_PKCS12(p12, &buf)) <= 0)
		goto fail;
	*out = xmalloc((size_t)n);
	memcpy(*out, buf, (size_t)n);
	*outlen = (size_t)n;
	rc = 0;
	goto out;
fail:
	err_set(e, ERR_INTERNAL, "ra: cannot build the PKCS#12");
out:
	OPENSSL_free(buf);
	PKCS12_free(p12);
	PKCS12_SAFEBAG_free(bag);
	PKCS12_SAFEBAG_free(kb);
	sk_PKCS12_SAFEBAG_pop_free(certs, PKCS12_SAFEBAG_free);
	sk_PKCS12_SAFEBAG_pop_free(keys, PKCS12_SAFEBAG_free);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	return rc;
}
