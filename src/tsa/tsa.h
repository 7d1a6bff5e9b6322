/*
 * tsa: the RFC 3161 time-stamping authority — TimeStampReq parsing, TSTInfo, CMS SignedData
 * signed through the signer (SIGN_TSA), and the HTTP handler for POST /tsa.
 *
 * Everything per request is written as DER by hand from parts computed once per process
 * (struct tsa: the TSA certificate's DER, its issuerAndSerialNumber, the ESSCertIDv2
 * signingCertificateV2 attribute, the algorithm identifiers): no certificate or key is
 * decoded on the hot path.  The private key stays in the signer, which refuses anything but
 * CMS signed attributes with contentType id-ct-TSTInfo and a messageDigest.
 *
 * Configuration (shomei.conf):
 *   tsa.policy       = 1.2.3.4.1   the TSA policy OID (the default is an EXAMPLE under an
 *                                  arc nobody owns; operators must set their own)
 *   tsa.accuracy_ms  = 1000        accuracy claimed in every token (0: none); below 1000 the
 *                                  genTime carries milliseconds
 *   tsa.serial_block = 1000        serial numbers reserved from the store per refill
 */
#ifndef SHOMEI_TSA_H
#define SHOMEI_TSA_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "ca/ca.h"
#include "http/http.h"
#include "util/util.h"

#define TSA_POLICY_DEFAULT "1.2.3.4.1" /* example only: set tsa.policy */
#define TSA_COUNTER_SERIAL "tsa_serial"
#define TSA_NONCE_MAX 64 /* octets of a nonce's INTEGER contents */

/* PKIFailureInfo bit numbers (RFC 3161 2.4.2). */
enum tsa_fail {
	TSA_FAIL_BAD_ALG = 0,
	TSA_FAIL_BAD_REQUEST = 2,
	TSA_FAIL_BAD_DATA_FORMAT = 5,
	TSA_FAIL_TIME_NOT_AVAILABLE = 14,
	TSA_FAIL_UNACCEPTED_POLICY = 15,
	TSA_FAIL_UNACCEPTED_EXTENSION = 16,
	TSA_FAIL_ADD_INFO_NOT_AVAILABLE = 17,
	TSA_FAIL_SYSTEM_FAILURE = 25,
};

/* The PKIFailureInfo name ("badAlg", ...) of a bit, for logs and metrics. */
const char *tsa_fail_name(int bit);

/*
 * A parsed TimeStampReq.  Every pointer borrows from the request bytes; TLV pointers cover
 * the whole element (identifier, length, contents) so they can be echoed unchanged.
 */
struct tsa_req {
	int md_nid;		      /* NID_sha256, NID_sha384 or NID_sha512 */
	const unsigned char *imprint; /* MessageImprint TLV as sent (DER-checked) */
	size_t imprint_len;
	const unsigned char *hash; /* hashedMessage contents */
	size_t hash_len;
	const unsigned char *policy; /* reqPolicy OID TLV, or NULL */
	size_t policy_len;
	const unsigned char *nonce; /* nonce INTEGER TLV, or NULL */
	size_t nonce_len;
	int cert_req;
};

/*
 * Parses a DER TimeStampReq (RFC 3161 2.4.1): strict DER lengths, no trailing bytes, version
 * 1, SHA-256/384/512 imprints of the right length, a minimal nonce of at most TSA_NONCE_MAX
 * octets, no extensions.  Returns 0, or -1 with *fail set to the PKIFailureInfo bit and e
 * (ERR_REFUSED) naming the rule.  Does not look at the policy (tsa_req_check does).
 */
int tsa_req_parse(const unsigned char *, size_t, struct tsa_req *, int *fail, struct err *);

/*
 * The per-process TSA: parts of every token computed once from the configuration and the
 * TSA certificate, and the serial number block.  Thread-safe after tsa_new().
 */
struct tsa {
	struct ca *ca;	       /* borrowed */
	int md_nid, sig_nid;   /* what the TSA key signs with (x509_sigalg_for_key) */
	EVP_MD *md;	       /* fetched once: digest of TSTInfo (messageDigest) */
	unsigned char *policy; /* OID TLV */
	size_t policy_len;
	long accuracy_ms;
	unsigned char *accuracy; /* Accuracy TLV, or NULL */
	size_t accuracy_len;
	unsigned char *cert; /* TSA certificate DER */
	size_t cert_len;
	unsigned char *sid; /* IssuerAndSerialNumber TLV */
	size_t sid_len;
	unsigned char *name; /* TSTInfo tsa field: [0] { directoryName [4] { Name } } */
	size_t name_len;
	unsigned char *digalg; /* DigestAlgorithmIdentifier TLV */
	size_t digalg_len;
	unsigned char *sigalg; /* SignatureAlgorithmIdentifier TLV */
	size_t sigalg_len;
	unsigned char *attr_ct; /* contentType attribute TLV */
	size_t attr_ct_len;
	unsigned char *attr_ess; /* signingCertificateV2 attribute TLV */
	size_t attr_ess_len;
	time_t not_before, not_after; /* of the TSA certificate */
	pthread_mutex_t mu;	      /* serial block */
	uint64_t next, end;	      /* next <= end: serials still reserved */
	long block;
};

/* Builds the context for ca (ca->tsa_cert, ca->conf).  Caller owns *out: tsa_free(). */
int tsa_new(struct ca *, struct tsa **out, struct err *);
void tsa_free(struct tsa *); /* accepts NULL */

/* Checks a parsed request against the TSA's policy: 0, or -1 with *fail (unacceptedPolicy). */
int tsa_req_check(const struct tsa *, const struct tsa_req *, int *fail, struct err *);

/*
 * Hands out the next serial number.  Serials come in blocks reserved with one atomic
 * store_counter_add(TSA_COUNTER_SERIAL, block): unique across threads, restarts and processes
 * sharing the store (unused rest of a block is skipped, never reused).  st may be NULL: the
 * calling thread's store of t->ca is used (opened only when a block is needed).
 */
int tsa_serial_next(struct tsa *, struct store *st, uint64_t *serial, struct err *);

/*
 * The DER TSTInfo for a request (RFC 3161 2.4.2): version 1, policy, the request's
 * messageImprint, serial, genTime (with milliseconds when accuracy < 1 s), accuracy, nonce,
 * the TSA name.  Appends to out.
 */
int tsa_tstinfo_build(const struct tsa *, const struct tsa_req *, uint64_t serial,
		      const struct timespec *now, struct buf *out, struct err *);

/*
 * A granted TimeStampResp: TSTInfo, signed attributes (contentType, messageDigest,
 * signingCertificateV2) signed by the signer (SIGN_TSA), SignerInfo, SignedData (with the
 * TSA certificate when certReq), ContentInfo.  Appends to out.
 */
int tsa_resp_build(const struct tsa *, struct signer_client *, const struct tsa_req *,
		   uint64_t serial, const struct timespec *now, struct buf *out, struct err *);

/* A TimeStampResp with status rejection, the failInfo bit and a statusString.  Appends. */
int tsa_resp_reject(int fail, const char *text, struct buf *out);

/*
 * POST /tsa.  r->app is the struct ca of the web process; the first request builds the
 * process's struct tsa (kept for the life of the process).  Always answers a
 * TimeStampResp (application/timestamp-reply), a rejection when the request is bad or the
 * TSA cannot stamp (systemFailure).
 */
int tsa_http_post(struct http_req *);
#define TSA_HTTP_BODY_MAX (64 * 1024) /* bytes of a TimeStampReq over HTTP */
/* The TSA's route: POST /tsa (both listeners). */
extern const struct http_route tsa_http_routes[];
/* The configuration keys the TSA reads (NULL-terminated; see conf_check_keys). */
extern const char *const tsa_conf_keys[];

#endif
