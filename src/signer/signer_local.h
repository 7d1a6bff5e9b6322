/*
 * signer internals shared by frame.c, signer.c, keys.c and client.c (and the unit
 * tests).  Nothing outside src/signer/ and tests/unit/test_signer*.c includes this file.
 */
#ifndef SHOMEI_SIGNER_LOCAL_H
#define SHOMEI_SIGNER_LOCAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "../util/der.h"
#include "../util/util.h"
#include "signer.h"

struct profile;

/* How long signer_spawn*() waits for the readiness frame (PKCS#11 logins can be slow). */
#define SIGNER_READY_TIMEOUT_MS 30000

/* "SIGN_CERT", "PING", ... or "op?" for an unknown op. */
const char *signer_op_name(uint32_t op);
int signer_op_valid(uint32_t op);

/* Which side of the socket reads a frame: the signer reads requests, clients read responses. */
enum signer_frame_kind {
	SIGNER_FRAME_REQUEST,  /* word is an op: must be known, len <= signer_op_max(op) */
	SIGNER_FRAME_RESPONSE, /* word is a status: OK or REFUSED, len <= SIGNER_MAX_RESPONSE */
};

/*
 * Reads one frame of the given kind.  timeout_ms < 0 waits for ever; otherwise the whole frame
 * must arrive in that time.  Returns 0, 1 on clean EOF before any byte, -1 with e set
 * (ERR_INTERNAL).  payload is initialised by the function in every case (buf_free() it).
 */
int signer_frame_read_kind(int fd, enum signer_frame_kind, int timeout_ms, uint32_t *word,
			   struct buf *payload, struct err *);

/* One signing key with its certificate and the algorithm that certificate's key calls for. */
struct signer_key {
	EVP_PKEY *pkey; /* NULL when not configured */
	X509 *cert;
	int sig_nid;
	int md_nid;
	const char *spec; /* the config value, for messages (borrowed from the conf) */
	/* DigestSign context set up once; each signature starts from a copy (saves ~30%) */
	EVP_MD_CTX *tmpl;
};

/*
 * The signer's own policy (policy.c): the profiles it signs end-entity certificates for, with
 * shomei.conf's maxima; whether OCSP and TSA certificates may be signed (only a signer that
 * `shomei issue --profile ocsp|tsa` starts for itself); the last CRL numbers it signed.
 */
#define SIGNER_SKEW_DEFAULT 300		      /* s: clock difference accepted (signer.max_skew) */
#define SIGNER_OCSP_BACKDATE_MAX 3600	      /* s: ocsp.backdate_seconds' maximum */
#define SIGNER_OCSP_VALIDITY_MAX (10 * 86400) /* s: ocsp.validity_minutes' maximum */
#define SIGNER_CRL_MAX_DAYS 366		      /* crl.hours' maximum */

struct signer_profile {
	const struct profile *p;
	int service; /* ocsp, tsa */
};

struct signer_policy {
	struct signer_profile profiles[8];
	size_t nprofiles;
	int service_certs;
	long skew;	     /* signer.max_skew */
	long crl_max_s[2];   /* crl.hours, crl.delta_hours: nextUpdate - thisUpdate at most */
	long ocsp_max_s;     /* ocsp.validity_minutes */
	int64_t crl_last[2]; /* full, delta: the last CRL numbers signed (0: none) */
	char last_id[64];    /* what the last checked payload is, for the log */
	unsigned char tsa_policy[64]; /* DER of tsa.policy's OID */
	size_t tsa_policy_len;
};

int signer_policy_load(const struct conf *, struct signer_policy *, struct err *);
int signer_policy_cert(const struct signer_policy *, const X509 *, time_t now, struct err *);
int signer_policy_ocsp(const struct signer_policy *, const unsigned char *, size_t, time_t now,
		       struct err *);
/*
 * last: the last full and delta CRL numbers this CA signed (raised on success); name: the
 * issuing CA's name, which the log line carries ("full:N@name").
 */
int signer_policy_crl(struct signer_policy *, int64_t last[2], const char *name,
		      const unsigned char *, size_t, time_t now, struct err *);
int signer_policy_tsa(const struct signer_policy *, const unsigned char *tst, size_t len,
		      int md_nid, const unsigned char *md, size_t mdlen, time_t now, struct err *);

/* The signer's log (slog.c): fd -1 when signer.log = off. */
int signer_log_open(const struct conf *, int *fd, struct err *);
int signer_log_append(int fd, const char *kind, const char *id, const unsigned char *, size_t,
		      int durable, struct err *);
/*
 * Raises last[i][0] (full) and last[i][1] (delta) to the highest CRL numbers the log records
 * for the issuing CA names[i], so that a restarted signer never signs a CRL number at or below
 * one signed before.  Lines without a CA name (written before CA switches existed, by the one
 * CA there was) count for every CA: a CA made by a switch starts its numbers above them.
 */
int signer_log_crl_floor(int fd, const char *const *names, size_t n, int64_t (*last)[2],
			 struct err *);

/*
 * A previous issuing CA that a CA switch left behind (prevN.* in shomei.conf): its key signs
 * its CRLs and its OCSP key its OCSP answers until its certificates expire, never a new
 * certificate.
 */
#define SIGNER_PREV_MAX 3

struct signer_prev {
	char name[40]; /* prevN.ca_name */
	struct signer_key ca;
	struct signer_key ocsp;
	unsigned char *algid; /* as ca_algid and ca_name below */
	size_t algid_len;
	unsigned char *subject;
	size_t subject_len;
	int64_t crl_last[2];
};

struct signer_keys {
	struct signer_policy policy; /* crl_last: the current issuing CA's */
	char name[40];		     /* ca_name */
	struct signer_prev prev[SIGNER_PREV_MAX];
	size_t nprev;
	int log_fd;
	size_t sign_len; /* set by signer_check: sign only the first bytes (SIGN_TSA) */
	struct signer_key ca;
	struct signer_key ocsp;
	struct signer_key tsa;
	unsigned char *ca_algid; /* DER AlgorithmIdentifier the CA key signs with */
	size_t ca_algid_len;
	unsigned char *ca_name; /* DER of the CA certificate's subject */
	size_t ca_name_len;
	/*
	 * A library context holding only the "null" provider, for parsing what we check.
	 * OpenSSL 3.0 decodes every SubjectPublicKeyInfo through its provider decoders while
	 * parsing a certificate (~250 us, 90% of a SIGN_CERT); it does so opportunistically and
	 * ignores failures, so parsing in this context checks exactly the same structure, 15x
	 * faster.  The checks never need the subject's key.
	 */
	OSSL_LIB_CTX *parse_ctx;
	OSSL_PROVIDER *parse_null;
};

/* Loads every configured key (signer child only) and checks it against its certificate. */
int signer_keys_load(const struct conf *, struct signer_keys *, struct err *);
void signer_keys_free(struct signer_keys *);

/* 1 when this process has initialised a PKCS#11 module (it must not fork a signer). */
int signer_engine_used(void);

/* Signs tbs with k's key and digest; *sig is malloc'ed (caller frees). */
int signer_key_sign(const struct signer_key *k, const unsigned char *tbs, size_t len,
		    unsigned char **sig, size_t *siglen, struct err *);

/*
 * The per-op rules: on success *key is the key that signs this op.  Refusals are ERR_REFUSED
 * "signer: SIGN_CERT: ..." messages; exposed for the unit tests (and their timing of CRLs).
 */
int signer_check(struct signer_keys *, uint32_t op, const unsigned char *, size_t,
		 const struct signer_key **key, struct err *);

#endif
