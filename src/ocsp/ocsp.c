/*
 * ocsp: the responder — which CertIDs are ours, status from the store, signing through the
 * signer, the response cache, and the HTTP handlers.
 *
 * Hot path (one CertID, no nonce): parse by DER walk, compare the issuer hashes with the
 * precomputed ones, find the complete signed OCSPResponse in a sharded cache keyed by the
 * CertID's DER, check it is neither near its nextUpdate nor older than the last revocation
 * seen, and hand its bytes to the HTTP layer.  No signature, no store access, no OpenSSL
 * object.  Revocations are seen through the store counter CA_COUNTER_REVOCATIONS, read at
 * most every ocsp.revocation_poll_ms while requests arrive (the first request after a quiet
 * period always reads it).  A cached response older than the counter is revalidated by one
 * store lookup; it is re-signed only when the status changed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "ocsp_local.h"
#include "util/timefmt.h"

#define OCSP_SHARDS 64
#define OCSP_KEY_MAX 256 /* longest CertID DER that is cached (SHA-512 ones are ~170) */
#define OCSP_METRIC "shomei_ocsp_responses_total"

/* A complete OCSPResponse, immutable once built, shared by the cache and answers. */
#define OCSP_UNKNOWN_TTL 60 /* seconds an "unknown" answer is served from the cache */

struct ocsp_blob {
	unsigned refs; /* atomic */
	size_t len;
	time_t produced;
	time_t next_update;
	time_t refresh_at;   /* the cache builds a new one from here on */
	uint64_t issued_gen; /* an "unknown" answer: the CA's issuances it has seen */
	char etag[24];
	char last_modified[40];
	char expires[40];
	unsigned char der[];
};

struct ocsp_centry {
	struct ocsp_centry *hnext; /* bucket chain */
	struct ocsp_centry *older, *newer;
	uint64_t h;
	int64_t gen; /* revocation counter the status was read at (or after) */
	enum ocsp_cert_status status;
	struct ocsp_blob *blob;
	size_t keylen;
	unsigned char key[OCSP_KEY_MAX];
};

struct ocsp_shard {
	pthread_mutex_t mu;
	struct ocsp_centry **buckets;
	size_t mask;
	size_t n, max;
	struct ocsp_centry *oldest, *newest;
};

/*
 * One issuing CA the responder answers for: the current one, and those a CA switch left
 * behind (each with its own delegated OCSP certificate, whose key its signer holds).
 */
struct ocsp_issuer {
	const char *name; /* the certificates' "ca" in the store (borrowed from struct ca) */
	int ready;	  /* an OCSP certificate is configured */
	/* issuerNameHash / issuerKeyHash of the issuing CA per algorithm */
	unsigned char name_hash[OCSP_HASH__MAX][EVP_MAX_MD_SIZE];
	unsigned char key_hash[OCSP_HASH__MAX][EVP_MAX_MD_SIZE];
	size_t mdlen[OCSP_HASH__MAX];
	unsigned char responder_keyhash[20];
	unsigned char *algid; /* signature AlgorithmIdentifier of the OCSP key */
	size_t algidlen;
	unsigned char *cert; /* OCSP certificate DER, for the certs field */
	size_t certlen;
};

struct ocsp_responder {
	struct ca *ca;
	long validity_s;
	long backdate_s; /* thisUpdate this far before the signing time (clock skew) */
	long poll_ms;
	size_t cache_max;
	struct ocsp_issuer iss[1 + CA_PREV_MAX];
	size_t niss;
	int64_t gen;	      /* atomic: last revocation counter read */
	int64_t last_poll_ns; /* atomic */
	time_t last_warn;     /* atomic: rate limit of repeated warnings */
	struct ocsp_shard shards[OCSP_SHARDS];
	struct ocsp_stats stats; /* atomic fields */
};

static const char *const ocsp_md_names[OCSP_HASH__MAX] = {
    [OCSP_HASH_SHA1] = "SHA1",
    [OCSP_HASH_SHA256] = "SHA256",
    [OCSP_HASH_SHA384] = "SHA384",
    [OCSP_HASH_SHA512] = "SHA512",
};

static int64_t
ocsp_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Logs a warning at most once a minute (store or signer trouble repeats per request). */
static void
ocsp_warn(struct ocsp_responder *rs, const char *what, const struct err *e)
{
	time_t now = time(NULL), last = __atomic_load_n(&rs->last_warn, __ATOMIC_RELAXED);

	if (now - last < 60 || !__atomic_compare_exchange_n(&rs->last_warn, &last, now, 0,
							    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	log_warn("ocsp: %s: %s", what, e->msg);
}

/* ---- blobs ---- */

static void
ocsp_blob_ref(struct ocsp_blob *b)
{
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
}

static void
ocsp_blob_unref(struct ocsp_blob *b)
{
	if (b != NULL && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

/* A blob holding der (one reference, the caller's). */
static struct ocsp_blob *
ocsp_blob_new(const struct ocsp_responder *rs, const unsigned char *der, size_t len, time_t now)
{
	struct ocsp_blob *b = xmalloc(sizeof(*b) + len);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[17];

	b->refs = 1;
	b->issued_gen = 0;
	b->len = len;
	memcpy(b->der, der, len);
	b->produced = now;
	b->next_update = now - rs->backdate_s + rs->validity_s; /* the singles' nextUpdate */
	/* rebuilt when a quarter of the validity remains: relying parties get fresh margins */
	b->refresh_at = b->next_update - rs->validity_s / 4;
	if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 8)
		memset(md, 0, 8);
	hex_encode(hex, md, 8);
	snprintf(b->etag, sizeof(b->etag), "\"%s\"", hex);
	/* RFC 5019 6.2: Last-Modified is the response's thisUpdate */
	timefmt_http(now - rs->backdate_s, b->last_modified, sizeof(b->last_modified));
	timefmt_http(b->next_update, b->expires, sizeof(b->expires));
	return b;
}

/* ---- cache ---- */

/* FNV-1a over the CertID DER. */
static uint64_t
ocsp_key_hash(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static struct ocsp_shard *
ocsp_shard_of(struct ocsp_responder *rs, uint64_t h)
{
	return &rs->shards[(h >> 58) & (OCSP_SHARDS - 1)];
}

/* The entry for key (shard locked), or NULL. */
static struct ocsp_centry *
ocsp_cache_find(struct ocsp_shard *sh, uint64_t h, const unsigned char *key, size_t keylen)
{
	struct ocsp_centry *ce;

	for (ce = sh->buckets[h & sh->mask]; ce != NULL; ce = ce->hnext)
		if (ce->h == h && ce->keylen == keylen && memcmp(ce->key, key, keylen) == 0)
			return ce;
	return NULL;
}

/* Unlinks ce from its bucket and the age list (shard locked); the caller frees it. */
static void
ocsp_cache_unlink(struct ocsp_shard *sh, struct ocsp_centry *ce)
{
	struct ocsp_centry **pp;

	for (pp = &sh->buckets[ce->h & sh->mask]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == ce) {
			*pp = ce->hnext;
			break;
		}
	if (ce->older != NULL)
		ce->older->newer = ce->newer;
	else
		sh->oldest = ce->newer;
	if (ce->newer != NULL)
		ce->newer->older = ce->older;
	else
		sh->newest = ce->older;
	ce->older = ce->newer = NULL;
	sh->n--;
}

static void
ocsp_cache_append(struct ocsp_shard *sh, struct ocsp_centry *ce)
{
	ce->hnext = sh->buckets[ce->h & sh->mask];
	sh->buckets[ce->h & sh->mask] = ce;
	ce->older = sh->newest;
	ce->newer = NULL;
	if (sh->newest != NULL)
		sh->newest->newer = ce;
	else
		sh->oldest = ce;
	sh->newest = ce;
	sh->n++;
}

/* Looks up key; on a hit returns a reference to its blob and the entry's gen and status. */
static struct ocsp_blob *
ocsp_cache_get(struct ocsp_responder *rs, uint64_t h, const unsigned char *key, size_t keylen,
	       int64_t *gen, enum ocsp_cert_status *status)
{
	struct ocsp_shard *sh = ocsp_shard_of(rs, h);
	struct ocsp_centry *ce;
	struct ocsp_blob *b = NULL;

	pthread_mutex_lock(&sh->mu);
	if ((ce = ocsp_cache_find(sh, h, key, keylen)) != NULL) {
		b = ce->blob;
		ocsp_blob_ref(b);
		*gen = ce->gen;
		*status = ce->status;
	}
	pthread_mutex_unlock(&sh->mu);
	return b;
}

/* Marks the entry still holding blob as valid at gen (its status was checked again). */
static void
ocsp_cache_touch(struct ocsp_responder *rs, uint64_t h, const unsigned char *key, size_t keylen,
		 const struct ocsp_blob *blob, int64_t gen)
{
	struct ocsp_shard *sh = ocsp_shard_of(rs, h);
	struct ocsp_centry *ce;

	pthread_mutex_lock(&sh->mu);
	if ((ce = ocsp_cache_find(sh, h, key, keylen)) != NULL && ce->blob == blob && ce->gen < gen)
		ce->gen = gen;
	pthread_mutex_unlock(&sh->mu);
}

/* Stores (or replaces) key -> blob; the cache takes its own reference. */
static void
ocsp_cache_put(struct ocsp_responder *rs, uint64_t h, const unsigned char *key, size_t keylen,
	       struct ocsp_blob *blob, int64_t gen, enum ocsp_cert_status status)
{
	struct ocsp_shard *sh = ocsp_shard_of(rs, h);
	struct ocsp_centry *ce, *victim = NULL;
	struct ocsp_blob *old = NULL;

	if (sh->max == 0 || keylen > OCSP_KEY_MAX)
		return;
	ocsp_blob_ref(blob);
	pthread_mutex_lock(&sh->mu);
	if ((ce = ocsp_cache_find(sh, h, key, keylen)) != NULL) {
		ocsp_cache_unlink(sh, ce);
		old = ce->blob;
	} else {
		if (sh->n >= sh->max) {
			victim = sh->oldest;
			ocsp_cache_unlink(sh, victim);
		}
		ce = xmalloc(sizeof(*ce));
		ce->h = h;
		ce->keylen = keylen;
		memcpy(ce->key, key, keylen);
	}
	ce->blob = blob;
	ce->gen = gen;
	ce->status = status;
	ocsp_cache_append(sh, ce);
	pthread_mutex_unlock(&sh->mu);
	ocsp_blob_unref(old);
	if (victim != NULL) {
		ocsp_blob_unref(victim->blob);
		free(victim);
	}
}

/* ---- responder setup ---- */

/* Digest of the CA's subject DER and of its subjectPublicKey bits (RFC 6960 4.1.1). */
static int
ocsp_issuer_hashes(struct ocsp_issuer *is, X509 *ca, struct err *e)
{
	const ASN1_BIT_STRING *key;
	unsigned char *name = NULL;
	unsigned len;
	int namelen, i, rc = -1;

	if ((namelen = i2d_X509_NAME(X509_get_subject_name(ca), &name)) <= 0 ||
	    (key = X509_get0_pubkey_bitstr(ca)) == NULL) {
		err_ssl(e, ERR_INTERNAL, "ocsp: cannot read the issuing CA's name and key");
		goto out;
	}
	for (i = 0; i < OCSP_HASH__MAX; i++) {
		EVP_MD *md = EVP_MD_fetch(NULL, ocsp_md_names[i], NULL);
		int ok;

		ok = md != NULL &&
		     EVP_Digest(name, (size_t)namelen, is->name_hash[i], &len, md, NULL) == 1;
		ok = ok && EVP_Digest(key->data, (size_t)key->length, is->key_hash[i], &len, md,
				      NULL) == 1;
		EVP_MD_free(md);
		if (!ok) {
			err_ssl(e, ERR_INTERNAL, "ocsp: %s unavailable", ocsp_md_names[i]);
			goto out;
		}
		is->mdlen[i] = len;
	}
	rc = 0;
out:
	OPENSSL_free(name);
	return rc;
}

/* responderID byKey, the signature AlgorithmIdentifier and the DER of the OCSP certificate. */
static int
ocsp_signer_setup(struct ocsp_issuer *is, X509 *ocsp, struct err *e)
{
	X509_ALGOR *alg = NULL;
	unsigned char *p = NULL;
	unsigned len = 0;
	int sig_nid, md_nid, n, rc = -1;

	if (X509_pubkey_digest(ocsp, EVP_sha1(), is->responder_keyhash, &len) != 1 || len != 20) {
		err_ssl(e, ERR_INTERNAL, "ocsp: cannot hash the OCSP certificate's key");
		goto out;
	}
	if (x509_sigalg_for_key(X509_get0_pubkey(ocsp), &sig_nid, &md_nid, e) == -1)
		goto out;
	if ((alg = X509_ALGOR_new()) == NULL || x509_algor_set(alg, sig_nid, e) == -1 ||
	    (n = i2d_X509_ALGOR(alg, &p)) <= 0) {
		err_ssl(e, ERR_INTERNAL, "ocsp: cannot encode the signature algorithm");
		goto out;
	}
	is->algid = xmalloc((size_t)n);
	memcpy(is->algid, p, (size_t)n);
	is->algidlen = (size_t)n;
	OPENSSL_free(p);
	p = NULL;
	if ((n = i2d_X509(ocsp, &p)) <= 0) {
		err_ssl(e, ERR_INTERNAL, "ocsp: cannot encode the OCSP certificate");
		goto out;
	}
	is->cert = xmalloc((size_t)n);
	memcpy(is->cert, p, (size_t)n);
	is->certlen = (size_t)n;
	rc = 0;
out:
	OPENSSL_free(p);
	X509_ALGOR_free(alg);
	return rc;
}

/* The configuration keys the responder reads (ocsp_responder_new). */
const char *const ocsp_conf_keys[] = {
    "ocsp.validity_minutes",   "ocsp.backdate_seconds", "ocsp.cache_entries",
    "ocsp.revocation_poll_ms", "ocsp.fresh_rate",	NULL,
};

int
ocsp_responder_new(struct ca *ca, struct ocsp_responder **out, struct err *e)
{
	struct ocsp_responder *rs = NULL;
	long minutes, entries, poll, backdate;
	size_t i, per, nb;
	int rc = -1;

	*out = NULL;
	/*
	 * 8 hours: the CA/Browser Forum's floor (BR 4.9.10), short enough that a relying party
	 * holding a cached "good" learns of a revocation the same working day.  thisUpdate is
	 * backdated 5 minutes so that a client whose clock runs behind accepts the response.
	 */
	if (conf_get_long(&ca->conf, "ocsp.validity_minutes", OCSP_VALIDITY_MINUTES_DEFAULT, 1,
			  10 * 24 * 60, &minutes, e) == -1 ||
	    conf_get_long(&ca->conf, "ocsp.backdate_seconds", 300, 0, 3600, &backdate, e) == -1 ||
	    conf_get_long(&ca->conf, "ocsp.cache_entries", 100000, 0, 10000000, &entries, e) ==
		-1 ||
	    conf_get_long(&ca->conf, "ocsp.revocation_poll_ms", 10, 0, 60000, &poll, e) == -1)
		goto out;
	rs = xcalloc(1, sizeof(*rs));
	rs->ca = ca;
	rs->validity_s = minutes * 60;
	/* at most a quarter of the validity, so that a short validity stays mostly ahead */
	rs->backdate_s = backdate < rs->validity_s / 4 ? backdate : rs->validity_s / 4;
	rs->poll_ms = poll;
	rs->cache_max = (size_t)entries;
	rs->gen = -1;
	per = (rs->cache_max + OCSP_SHARDS - 1) / OCSP_SHARDS;
	for (nb = 16; nb < per && nb < ((size_t)1 << 24); nb <<= 1)
		;
	for (i = 0; i < OCSP_SHARDS; i++) {
		pthread_mutex_init(&rs->shards[i].mu, NULL);
		rs->shards[i].max = per;
		rs->shards[i].mask = nb - 1;
		rs->shards[i].buckets = xcalloc(nb, sizeof(*rs->shards[i].buckets));
	}
	for (i = 0; i < ca->ncas; i++) {
		struct ocsp_issuer *is = &rs->iss[rs->niss++];

		is->name = ca->cas[i].name;
		if (ocsp_issuer_hashes(is, ca->cas[i].cert, e) == -1)
			goto out;
		if (ca->cas[i].ocsp_cert != NULL) {
			if (ocsp_signer_setup(is, ca->cas[i].ocsp_cert, e) == -1)
				goto out;
			is->ready = 1;
		} else {
			log_warn("ocsp: %s: no OCSP certificate configured: requests for its "
				 "certificates get internalError",
				 is->name);
		}
	}
	metrics_help(OCSP_METRIC, "counter",
		     "OCSP answers: certificate status per SingleResponse, or the error status");
	*out = rs;
	rs = NULL;
	rc = 0;
out:
	ocsp_responder_free(rs);
	return rc;
}

void
ocsp_responder_free(struct ocsp_responder *rs)
{
	struct ocsp_centry *ce, *next;
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < OCSP_SHARDS; i++) {
		if (rs->shards[i].buckets == NULL)
			continue;
		for (ce = rs->shards[i].oldest; ce != NULL; ce = next) {
			next = ce->newer;
			ocsp_blob_unref(ce->blob);
			free(ce);
		}
		free(rs->shards[i].buckets);
		pthread_mutex_destroy(&rs->shards[i].mu);
	}
	for (i = 0; i < rs->niss; i++) {
		free(rs->iss[i].algid);
		free(rs->iss[i].cert);
	}
	free(rs);
}

void
ocsp_responder_stats(struct ocsp_responder *rs, struct ocsp_stats *s)
{
	s->hits = __atomic_load_n(&rs->stats.hits, __ATOMIC_RELAXED);
	s->signed_responses = __atomic_load_n(&rs->stats.signed_responses, __ATOMIC_RELAXED);
	s->revalidated = __atomic_load_n(&rs->stats.revalidated, __ATOMIC_RELAXED);
	s->polls = __atomic_load_n(&rs->stats.polls, __ATOMIC_RELAXED);
}

/* ---- answering ---- */

/*
 * Which of our issuing CAs the CertID names (issuer name and key hashes, RFC 6960 4.1.1):
 * its index + 1, or 0 for none.
 */
static int
ocsp_certid_ours(const struct ocsp_responder *rs, const struct ocsp_certid *id)
{
	const struct ocsp_issuer *is;
	size_t i, n;

	if (id->hash == OCSP_HASH_UNKNOWN)
		return 0;
	for (i = 0; i < rs->niss; i++) {
		is = &rs->iss[i];
		n = is->mdlen[id->hash];
		if (id->name_hash_len == n && id->key_hash_len == n &&
		    memcmp(id->name_hash, is->name_hash[id->hash], n) == 0 &&
		    memcmp(id->key_hash, is->key_hash[id->hash], n) == 0)
			return (int)i + 1;
	}
	return 0;
}

/*
 * The revocation counter: read from the store when the last read is older than the poll
 * interval (one thread reads; the others go on with the value they have).
 */
static int64_t
ocsp_gen(struct ocsp_responder *rs, struct store *st)
{
	int64_t now = ocsp_mono_ns(), last, g;
	struct err e;

	last = __atomic_load_n(&rs->last_poll_ns, __ATOMIC_RELAXED);
	if (rs->poll_ms == 0 || (now - last >= rs->poll_ms * 1000000 &&
				 __atomic_compare_exchange_n(&rs->last_poll_ns, &last, now, 0,
							     __ATOMIC_RELAXED, __ATOMIC_RELAXED))) {
		err_clear(&e);
		if (st == NULL) {
			err_set(&e, ERR_INTERNAL, "no store connection");
			ocsp_warn(rs, "revocation counter", &e);
		} else if (store_counter_get(st, CA_COUNTER_REVOCATIONS, &g, &e) == -1) {
			ocsp_warn(rs, "revocation counter", &e);
		} else {
			__atomic_store_n(&rs->gen, g, __ATOMIC_RELEASE);
			__atomic_add_fetch(&rs->stats.polls, 1, __ATOMIC_RELAXED);
		}
	}
	return __atomic_load_n(&rs->gen, __ATOMIC_ACQUIRE);
}

/*
 * Status of one of our CertIDs from the store: unknown when the serial is not a positive
 * integer of at most 20 octets, not in the store, or another CA's.  -1 on a store error.
 */
static int
ocsp_status_lookup(const struct ocsp_issuer *is, struct store *st, const struct ocsp_certid *id,
		   struct ocsp_single *s, struct err *e)
{
	struct store_cert rec;
	const unsigned char *p = id->serial;
	size_t n = id->serial_len;
	char hex[STORE_SERIAL_MAX];
	int rc = -1;

	memset(&rec, 0, sizeof(rec));
	s->status = OCSP_CERT_UNKNOWN;
	s->revoked_at = 0;
	s->reason = -1;
	/* two's complement: negative serials are never ours; a leading zero octet only keeps
	 * a positive value's high bit from reading as a sign */
	if (p[0] & 0x80) {
		rc = 0;
		goto out;
	}
	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	if (n > OCSP_SERIAL_MAX) {
		rc = 0;
		goto out;
	}
	if (st == NULL) {
		err_set(e, ERR_INTERNAL, "ocsp: no store connection");
		goto out;
	}
	hex_encode(hex, p, n);
	if (store_cert_get(st, hex, &rec, e) == -1) {
		if (e->code == ERR_NOTFOUND) {
			err_clear(e);
			rc = 0;
		}
		goto out;
	}
	if (rec.ca != NULL && strcmp(rec.ca, is->name) == 0) {
		if (rec.status == STORE_CERT_REVOKED) {
			s->status = OCSP_CERT_REVOKED;
			s->revoked_at = rec.revoked_at;
			s->reason = rec.reason;
		} else {
			s->status = OCSP_CERT_GOOD;
		}
	}
	rc = 0;
out:
	store_cert_clear(&rec);
	return rc;
}

static void
ocsp_answer_error(struct ocsp_answer *a, enum ocsp_resp_status s)
{
	ocsp_resp_error(a->err, s);
	a->der = a->err;
	a->len = OCSP_ERROR_RESP_LEN;
	a->status = s;
	a->cacheable = 0;
}

static void
ocsp_answer_blob(struct ocsp_answer *a, struct ocsp_blob *b, int cacheable)
{
	a->blob = b; /* the caller's reference moves here */
	a->der = b->der;
	a->len = b->len;
	a->status = OCSP_RESP_SUCCESSFUL;
	a->cacheable = cacheable;
	a->produced = b->produced;
	a->next_update = b->next_update;
	a->etag = b->etag;
	a->last_modified = b->last_modified;
	a->expires = b->expires;
}

/*
 * Builds and signs a response for singles (their times are set here); a blob with one
 * reference, or NULL with e set (ERR_REFUSED from the signer: internalError; else tryLater).
 */
static struct ocsp_blob *
ocsp_sign(struct ocsp_responder *rs, const struct ocsp_issuer *is, struct ocsp_single *singles,
	  size_t n, const unsigned char *nonce, size_t noncelen, time_t now, struct err *e)
{
	struct ocsp_blob *b = NULL;
	struct buf rd, resp;
	unsigned char *sig = NULL;
	size_t siglen = 0, i;

	buf_init(&rd, SIGNER_MAX_OCSP);
	buf_init(&resp, 2 * SIGNER_MAX_OCSP);
	for (i = 0; i < n; i++) {
		singles[i].this_update = now - rs->backdate_s;
		singles[i].next_update = singles[i].this_update + rs->validity_s;
	}
	if (rs->ca->signer == NULL) {
		err_set(e, ERR_INTERNAL, "ocsp: no signer attached");
		goto out;
	}
	if (ocsp_respdata_build(&rd, is->responder_keyhash, now, singles, n, nonce, noncelen, e) ==
		-1 ||
	    signer_sign(rs->ca->signer, SIGNER_OP_SIGN_OCSP, rd.data, rd.len, &sig, &siglen, e) ==
		-1 ||
	    ocsp_resp_assemble(&resp, rd.data, rd.len, is->algid, is->algidlen, sig, siglen,
			       is->cert, is->certlen, e) == -1)
		goto out;
	b = ocsp_blob_new(rs, resp.data, resp.len, now);
	__atomic_add_fetch(&rs->stats.signed_responses, 1, __ATOMIC_RELAXED);
out:
	free(sig);
	buf_free(&rd);
	buf_free(&resp);
	return b;
}

static enum ocsp_resp_status
ocsp_sign_failure(struct ocsp_responder *rs, const struct err *e)
{
	ocsp_warn(rs, "signing", e);
	return e->code == ERR_REFUSED ? OCSP_RESP_INTERNAL : OCSP_RESP_TRYLATER;
}

/*
 * One CertID of ours, no nonce: from the cache when it is current, else signed and cached.
 * The answer takes the reference of the blob it points at; b is released otherwise.
 */
static void
ocsp_respond_cached(struct ocsp_responder *rs, const struct ocsp_issuer *is, struct store *st,
		    const struct ocsp_certid *id, struct ocsp_answer *a,
		    enum ocsp_cert_status *status)
{
	struct ocsp_blob *b, *nb = NULL;
	struct ocsp_single s;
	enum ocsp_cert_status cst = OCSP_CERT_UNKNOWN;
	uint64_t h = ocsp_key_hash(id->der, id->derlen), igen;
	int64_t gen, cgen = 0;
	time_t now;
	struct err e;
	int usable;

	err_clear(&e);
	gen = ocsp_gen(rs, st); /* before any status is read */
	now = util_now();
	igen = __atomic_load_n(&rs->ca->issued_gen, __ATOMIC_ACQUIRE);
	b = ocsp_cache_get(rs, h, id->der, id->derlen, &cgen, &cst);
	usable = b != NULL && now < b->refresh_at && now >= b->produced &&
		 (cst != OCSP_CERT_UNKNOWN || b->issued_gen == igen);
	if (usable && cgen == gen) {
		__atomic_add_fetch(&rs->stats.hits, 1, __ATOMIC_RELAXED);
		*status = cst;
		goto cached;
	}
	memset(&s, 0, sizeof(s));
	s.certid = id->der;
	s.certidlen = id->derlen;
	if (ocsp_status_lookup(is, st, id, &s, &e) == -1) {
		ocsp_warn(rs, "status lookup", &e);
		ocsp_answer_error(a, OCSP_RESP_INTERNAL);
		goto out;
	}
	*status = s.status;
	if (usable && cst == s.status) {
		/* a revocation happened elsewhere; this certificate's status has not changed
		 * (a revoked one stays revoked with the same time and reason) */
		__atomic_add_fetch(&rs->stats.revalidated, 1, __ATOMIC_RELAXED);
		ocsp_cache_touch(rs, h, id->der, id->derlen, b, gen);
		goto cached;
	}
	if ((nb = ocsp_sign(rs, is, &s, 1, NULL, 0, now, &e)) == NULL) {
		if (b != NULL && now < b->next_update && now >= b->produced && cst == s.status) {
			/* signer restarting: the older answer is still true and still valid */
			ocsp_warn(rs, "signing (answered from the cache)", &e);
			goto cached;
		}
		ocsp_answer_error(a, ocsp_sign_failure(rs, &e));
		goto out;
	}
	/*
	 * "unknown" is kept briefly, so that a flood of made-up serials costs one signature per
	 * serial a minute, not one per request: until this process issues a certificate (any:
	 * the generation moves), and for OCSP_UNKNOWN_TTL at most, which bounds what another
	 * process's issuance can leave unseen (a serial is 16 random bytes: asked about before
	 * it was issued, it was guessed)
	 */
	if (s.status == OCSP_CERT_UNKNOWN) {
		nb->issued_gen = igen;
		if (nb->refresh_at > now + OCSP_UNKNOWN_TTL)
			nb->refresh_at = now + OCSP_UNKNOWN_TTL;
	}
	if (rs->cache_max > 0)
		ocsp_cache_put(rs, h, id->der, id->derlen, nb, gen, s.status);
	ocsp_answer_blob(a, nb, 1);
	nb = NULL;
	goto out;
cached:
	a->cache_hit = 1;
	ocsp_answer_blob(a, b, 1);
	b = NULL;
out:
	ocsp_blob_unref(b);
	ocsp_blob_unref(nb);
}

/*
 * Several CertIDs, a nonce, or no cache: every status read and one signature (the responder
 * of is: CertIDs of another issuing CA are answered unknown).
 */
static void
ocsp_respond_fresh(struct ocsp_responder *rs, const struct ocsp_issuer *is, struct store *st,
		   const struct ocsp_req *req, const int *ours, struct ocsp_answer *a,
		   enum ocsp_cert_status *status)
{
	struct ocsp_single s[OCSP_MAX_CERTIDS];
	struct ocsp_blob *b;
	time_t now = util_now();
	struct err e;
	size_t i;

	err_clear(&e);
	memset(s, 0, sizeof(s[0]) * req->n);
	for (i = 0; i < req->n; i++) {
		s[i].certid = req->ids[i].der;
		s[i].certidlen = req->ids[i].derlen;
		s[i].status = OCSP_CERT_UNKNOWN;
		s[i].reason = -1;
		if (ours[i] == is - rs->iss + 1 &&
		    ocsp_status_lookup(is, st, &req->ids[i], &s[i], &e) == -1) {
			ocsp_warn(rs, "status lookup", &e);
			ocsp_answer_error(a, OCSP_RESP_INTERNAL);
			goto out;
		}
		status[i] = s[i].status;
	}
	if ((b = ocsp_sign(rs, is, s, req->n, req->nonce, req->noncelen, now, &e)) == NULL)
		ocsp_answer_error(a, ocsp_sign_failure(rs, &e));
	else
		ocsp_answer_blob(a, b, req->nonce == NULL);
out:
	return;
}

/* Counts n answers with status (a name from ocsp_*_status_name()). */
static void
ocsp_count(const char *status, uint64_t n)
{
	static const char *const labels[][2] = {
	    {"good", "status=\"good\""},
	    {"revoked", "status=\"revoked\""},
	    {"unknown", "status=\"unknown\""},
	    {"malformedRequest", "status=\"malformedRequest\""},
	    {"internalError", "status=\"internalError\""},
	    {"tryLater", "status=\"tryLater\""},
	    {"unauthorized", "status=\"unauthorized\""},
	};
	const char *l = "status=\"other\"";
	size_t i;

	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		if (strcmp(labels[i][0], status) == 0) {
			l = labels[i][1];
			break;
		}
	metrics_count(OCSP_METRIC, l, n);
}

void
ocsp_respond(struct ocsp_responder *rs, struct store *st, const unsigned char *p, size_t len,
	     struct ocsp_answer *a)
{
	ocsp_respond_limited(rs, st, p, len, a, NULL, NULL);
}

void
ocsp_respond_limited(struct ocsp_responder *rs, struct store *st, const unsigned char *p,
		     size_t len, struct ocsp_answer *a, int (*fresh_ok)(void *), void *arg)
{
	struct ocsp_req req;
	enum ocsp_cert_status status[OCSP_MAX_CERTIDS];
	int ours[OCSP_MAX_CERTIDS];
	uint64_t counts[3] = {0, 0, 0};
	const struct ocsp_issuer *is = NULL;
	size_t i, nours = 0;
	struct err e;

	memset(a, 0, sizeof(*a));
	err_clear(&e);
	if (ocsp_req_parse(p, len, &req, &e) == -1) {
		log_debug("%s", e.msg);
		ocsp_answer_error(a, OCSP_RESP_MALFORMED);
		goto out;
	}
	for (i = 0; i < req.n; i++) {
		ours[i] = ocsp_certid_ours(rs, &req.ids[i]);
		nours += ours[i] != 0;
		status[i] = OCSP_CERT_UNKNOWN;
		/* one responder signs: the first CertID's of ours decides which */
		if (ours[i] != 0 && is == NULL)
			is = &rs->iss[ours[i] - 1];
	}
	if (nours == 0) {
		/* RFC 6960 2.3: we are not authoritative for any certificate in the request */
		ocsp_answer_error(a, OCSP_RESP_UNAUTHORIZED);
		goto out;
	}
	if (!is->ready) {
		ocsp_answer_error(a, OCSP_RESP_INTERNAL);
		goto out;
	}
	/* a signature for this client alone: within its address's share only */
	if ((req.n > 1 || req.nonce != NULL) && fresh_ok != NULL && !fresh_ok(arg)) {
		metrics_count("shomei_ocsp_fresh_limited_total", NULL, 1);
		if (req.n > 1 || rs->cache_max == 0 || req.ids[0].derlen > OCSP_KEY_MAX) {
			ocsp_answer_error(a, OCSP_RESP_TRYLATER);
			goto out;
		}
		req.nonce = NULL;
		req.noncelen = 0;
	}
	if (req.n == 1 && req.nonce == NULL && rs->cache_max > 0 &&
	    req.ids[0].derlen <= OCSP_KEY_MAX)
		ocsp_respond_cached(rs, is, st, &req.ids[0], a, &status[0]);
	else
		ocsp_respond_fresh(rs, is, st, &req, ours, a, status);
	if (a->status == OCSP_RESP_SUCCESSFUL)
		for (i = 0; i < req.n; i++)
			counts[status[i]]++;
out:
	if (a->status != OCSP_RESP_SUCCESSFUL) {
		ocsp_count(ocsp_resp_status_name(a->status), 1);
	} else {
		for (i = 0; i < 3; i++)
			if (counts[i] > 0)
				ocsp_count(ocsp_cert_status_name((enum ocsp_cert_status)i),
					   counts[i]);
	}
}

void
ocsp_answer_clear(struct ocsp_answer *a)
{
	ocsp_blob_unref(a->blob);
	memset(a, 0, sizeof(*a));
}

/* ---- HTTP ---- */

/* answers signed for one client alone (a nonce, several CertIDs): per address and minute */
static struct http_limiter ocsp_fresh_limiter;
static long ocsp_fresh_rate;

static int
ocsp_http_fresh_ok(void *arg)
{
	return http_limit_ok(&ocsp_fresh_limiter, arg, ocsp_fresh_rate);
}

static pthread_mutex_t ocsp_http_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ocsp_responder *ocsp_http_rs; /* atomic pointer */
static int ocsp_http_warned;		    /* under ocsp_http_mu */

/* The web process's responder for ca, created on first use; NULL when it cannot be. */
static struct ocsp_responder *
ocsp_http_responder(struct ca *ca)
{
	struct ocsp_responder *rs = __atomic_load_n(&ocsp_http_rs, __ATOMIC_ACQUIRE);
	struct err e;

	if (rs != NULL && rs->ca == ca)
		return rs;
	pthread_mutex_lock(&ocsp_http_mu);
	if (ocsp_http_rs == NULL) {
		err_clear(&e);
		if (conf_get_long(&ca->conf, "ocsp.fresh_rate", 120, 1, 100000000, &ocsp_fresh_rate,
				  &e) == -1 ||
		    ocsp_responder_new(ca, &rs, &e) == -1) {
			/* a configuration error: said once, every request gets internalError */
			if (!ocsp_http_warned)
				log_warn("%s", e.msg);
			ocsp_http_warned = 1;
		} else {
			http_limiter_init(&ocsp_fresh_limiter);
			metrics_help(
			    "shomei_ocsp_fresh_limited_total", "counter",
			    "OCSP requests with a nonce or several CertIDs over their "
			    "address's ocsp.fresh_rate (answered from the cache or tryLater)");
			metrics_count("shomei_ocsp_fresh_limited_total", NULL, 0);
			__atomic_store_n(&ocsp_http_rs, rs, __ATOMIC_RELEASE);
		}
	}
	rs = ocsp_http_rs;
	pthread_mutex_unlock(&ocsp_http_mu);
	if (rs != NULL && rs->ca != ca) {
		log_warn("ocsp: one responder per process (a second CA was given)");
		rs = NULL;
	}
	return rs;
}

void
ocsp_http_shutdown(void)
{
	pthread_mutex_lock(&ocsp_http_mu);
	ocsp_responder_free(ocsp_http_rs);
	__atomic_store_n(&ocsp_http_rs, NULL, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&ocsp_http_mu);
}

/* Sends an answer; GET answers without nonce carry RFC 5019 6.2 caching headers. */
static int
ocsp_http_send(struct http_req *r, const struct ocsp_answer *a, int get)
{
	const char *hdrs[9];
	char cc[96];
	long maxage;

	if (!get || !a->cacheable) {
		hdrs[0] = NULL;
	} else {
		maxage = (long)(a->next_update - util_now());
		if (maxage < 0)
			maxage = 0;
		snprintf(cc, sizeof(cc), "max-age=%ld, public, no-transform, must-revalidate",
			 maxage);
		hdrs[0] = "Cache-Control";
		hdrs[1] = cc;
		hdrs[2] = "Last-Modified";
		hdrs[3] = a->last_modified;
		hdrs[4] = "Expires";
		hdrs[5] = a->expires;
		hdrs[6] = "ETag";
		hdrs[7] = a->etag;
		hdrs[8] = NULL;
	}
	return http_reply_hdrs(r, 200, "application/ocsp-response", a->der, a->len, hdrs);
}

/* Answers der (NULL: the request was unusable, malformedRequest). */
static int
ocsp_http_answer(struct http_req *r, const unsigned char *der, size_t len, int get)
{
	struct ocsp_responder *rs;
	struct ocsp_answer a;
	struct store *st;
	struct err e;
	int rc;

	memset(&a, 0, sizeof(a));
	if ((rs = ocsp_http_responder(r->app)) == NULL) {
		ocsp_answer_error(&a, OCSP_RESP_INTERNAL);
		ocsp_count(ocsp_resp_status_name(a.status), 1);
	} else if (der == NULL) {
		ocsp_answer_error(&a, OCSP_RESP_MALFORMED);
		ocsp_count(ocsp_resp_status_name(a.status), 1);
	} else {
		err_clear(&e);
		if ((st = ca_thread_store(r->app, &e)) == NULL)
			ocsp_warn(rs, "store", &e);
		ocsp_respond_limited(rs, st, der, len, &a, ocsp_http_fresh_ok, r);
	}
	rc = ocsp_http_send(r, &a, get);
	ocsp_answer_clear(&a);
	return rc;
}

/* application/ocsp-request, any case, parameters allowed (RFC 6960 A.1). */
static int
ocsp_ctype_ok(const char *ct)
{
	static const char want[] = "application/ocsp-request";
	size_t n = sizeof(want) - 1;
	int ok = 0;

	if (ct == NULL)
		goto out;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		goto out;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	ok = *ct == '\0' || *ct == ';';
out:
	return ok;
}

int
ocsp_http_post(struct http_req *r)
{
	const unsigned char *der = r->body;

	if (!ocsp_ctype_ok(http_header(r, "Content-Type"))) {
		log_debug(
		    "ocsp: RFC 6960 A.1.1: POST without Content-Type application/ocsp-request");
		der = NULL;
	}
	return ocsp_http_answer(r, der, r->bodylen, 0);
}

int
ocsp_http_get(struct http_req *r)
{
	static const char prefix[] = "/ocsp/";
	const char *b64 = "";
	unsigned char *der = NULL;
	size_t n = 0, len = 0;
	int rc, ok = 0;

	if (strncmp(r->url, prefix, sizeof(prefix) - 1) == 0) {
		b64 = r->url + sizeof(prefix) - 1;
		n = strlen(b64);
	}
	/* RFC 6960 A.1: GET {url}/{url-encoding of base-64 encoding of the DER OCSPRequest} */
	if (n > 0 && n <= OCSP_REQ_MAX / 3 * 4 + 4) {
		der = xmalloc(n / 4 * 3 + 3);
		ok = ocsp_b64_decode(b64, n, der, n / 4 * 3 + 3, &len) == 0;
	}
	if (!ok)
		log_debug("ocsp: RFC 6960 A.1: GET request is not base64 of acceptable size");
	rc = ocsp_http_answer(r, ok ? der : NULL, len, 1);
	free(der);
	return rc;
}

/* RFC 6960 A.1: POST to the responder's URL, GET with the request in the path. */
const struct http_route ocsp_http_routes[] = {
    {"POST", "/ocsp", ocsp_http_post, OCSP_REQ_MAX, HTTP_KIND_BINARY, "ocsp", 5, 0},
    {"POST", "/ocsp/", ocsp_http_post, OCSP_REQ_MAX, HTTP_KIND_BINARY, "ocsp", 5, 0},
    {"GET", "/ocsp/", ocsp_http_get, 0, HTTP_KIND_BINARY, "ocsp", 0, 0},
    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
};
