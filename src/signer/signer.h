/*
 * signer: the only process that holds private keys of the CA (issuing CA), the OCSP responder
 * and the TSA.  It is forked from its parent with a socketpair made before the fork, loads the
 * keys only after the fork, and answers framed requests:
 *
 *   request:  u32 op | u32 len | len bytes of DER           (big-endian header)
 *   response: u32 status | u32 len | len bytes (signature, or a UTF-8 refusal message)
 *
 * It never signs arbitrary bytes: each payload is a DER to-be-signed structure that it parses
 * again and refuses unless the issuer and signature algorithm match the key that would sign it.
 * A frame that is truncated, larger than the op allows, or carries an unknown op is broken
 * internal framing: the signer exits (status 3) and its supervisor starts a new one.
 */
#ifndef SHOMEI_SIGNER_H
#define SHOMEI_SIGNER_H

#include <sys/types.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "../util/util.h"

enum signer_op {
	SIGNER_OP_PING = 1,	 /* empty payload; answers "pong" */
	SIGNER_OP_SIGN_CERT = 2, /* TBSCertificate, issuing CA key */
	SIGNER_OP_SIGN_CRL = 3,	 /* TBSCertList, issuing CA key */
	SIGNER_OP_SIGN_OCSP = 4, /* OCSP ResponseData, OCSP responder key */
	SIGNER_OP_SIGN_TSA = 5,	 /* DER SignedAttributes of a TSTInfo, TSA key */
	SIGNER_OP__MAX
};

enum signer_status {
	SIGNER_STATUS_OK = 0,
	SIGNER_STATUS_REFUSED = 1, /* payload parsed but a rule refused it; message follows */
};

#define SIGNER_HDR_LEN 8
#define SIGNER_MAX_CERT (256 * 1024)
#define SIGNER_MAX_CRL (512u * 1024 * 1024)
#define SIGNER_MAX_OCSP (1024 * 1024)
#define SIGNER_MAX_TSA (64 * 1024)
/* ocsp.validity_minutes when unset: the OCSP responder's and the signer's bound alike */
#define SIGNER_OCSP_VALIDITY_DEFAULT_MIN 480
#define SIGNER_MAX_RESPONSE (64 * 1024)

/* Largest payload allowed for an op; 0 for an unknown op. */
size_t signer_op_max(uint32_t op);

/*
 * Framing, exposed for tests.  signer_frame_read() returns 0 and fills op/payload, 1 on clean
 * EOF before any byte, -1 on a truncated frame, an oversized length or an unknown op
 * (err says which).  payload is a buf the function initialises.
 */
int signer_frame_write(int fd, uint32_t op, const void *, size_t);
int signer_frame_read(int fd, uint32_t *op, struct buf *payload, struct err *);

/*
 * Which keys the signer loads, from shomei.conf (paths relative to the config dir):
 *   ca.key        = keys/issuing.key.pem  or  pkcs11:token=...;object=...
 *   ca.cert       = certs/issuing.pem
 *   ocsp.key      / ocsp.cert
 *   tsa.key       / tsa.cert
 *   key_passphrase / key_passphrase_env / key_passphrase_file  (encrypted PEM keys)
 *   pkcs11.module (default /usr/lib/softhsm/libsofthsm2.so), pkcs11.pin / pkcs11.pin_env
 * A missing ocsp/tsa key is allowed (those ops are then refused); a missing CA key is not.
 */
struct conf;

/* Entry point of the signer child: loads keys, serves fd until EOF; returns an exit status. */
int signer_proc(int fd, const struct conf *);

/*
 * Client stub used by the CLI and the web process.  Thread-safe and pipelined: callers write
 * their requests one after another (under wmu) and queue themselves in a FIFO; a receiver
 * thread reads the responses, which the signer sends in request order, and hands each to its
 * caller.  So the signer works through queued requests back to back and no caller's wake-up
 * sits in the serial path.  A broken stream fails every pending caller until
 * signer_client_reset_fd() swaps in a new socket after a restart.
 *
 * Timeout: a caller waits at most timeout_ms (plus SIGNER_TIMEOUT_MS_PER_MIB for each MiB
 * queued up to and including its own request, so a large CRL is not taken for a hang), and
 * a write that makes no progress for timeout_ms fails too.  Either means the signer is hung
 * (or hopelessly behind): the stream is declared broken at once — every queued caller fails
 * with "signer: no answer within N ms", later calls fail at once, the socket is shut down,
 * and nothing read from it is ever handed to a caller again (an answer that arrives late is
 * discarded, never given to the next caller in line).  on_hang(gen) is then called once, from
 * the caller that noticed, so the owner can have the signer killed and replaced; gen counts
 * the reset_fd() calls, which tells the supervisor which signer it means.
 *
 * Descriptors: the client owns fd.  When reset_fd() replaces a socket that the receiver is
 * reading (or about to read), it only shuts it down and leaves closing it to the receiver,
 * which does so once it has let go of it — a descriptor number is never reused while the
 * receiver may still read it.
 */
#define SIGNER_TIMEOUT_DEFAULT_MS 10000
#define SIGNER_TIMEOUT_MS_PER_MIB 100

struct signer_pending;

struct signer_client {
	int fd;
	pthread_mutex_t wmu; /* one writer at a time; taken before qmu */
	pthread_mutex_t qmu; /* fd, gen, broken, rx_fd, the FIFO, queued, stats */
	pthread_cond_t rxcv; /* the receiver waits here for a (new) connection */
	pthread_t rx;
	int rx_started;
	int stopping;
	int broken;
	uint64_t gen;	 /* bumped by reset_fd */
	int rx_fd;	 /* the socket the receiver reads or is about to (-1: none) */
	uint64_t rx_gen; /* the generation rx_fd belongs to */
	struct signer_pending *head, *tail;
	size_t queued;			    /* payload bytes of the requests in the FIFO */
	int timeout_ms;			    /* 0: wait for ever */
	void (*on_latency)(double seconds); /* optional: each request's time (metrics) */
	void (*on_hang)(uint64_t gen);	    /* optional: the signer of stream gen is hung */
	uint64_t hangs;			    /* timeouts seen (atomic) */
	uint64_t requests;		    /* atomic */
	uint64_t nanos;			    /* total time callers spent on a request (atomic) */
};

/* A new client has the default timeout (SIGNER_TIMEOUT_DEFAULT_MS). */
struct signer_client *signer_client_new(int fd);
void signer_client_reset_fd(struct signer_client *, int fd);
/* ms > 0, or 0 to wait for ever; call before the client is shared between threads. */
void signer_client_set_timeout(struct signer_client *, int ms);
void signer_client_free(struct signer_client *); /* closes fd; accepts NULL */
int signer_ping(struct signer_client *, struct err *);
/* On success *sig is malloc'ed (caller frees) and *siglen set. */
int signer_sign(struct signer_client *, enum signer_op, const unsigned char *tbs, size_t len,
		unsigned char **sig, size_t *siglen, struct err *);

/*
 * socketpair + fork + signer_proc() in the child (which never returns).  The parent keeps one
 * end; no key material is ever in the parent's memory.  *pid may be NULL.
 */
int signer_spawn(const struct conf *, struct signer_client **, pid_t *pid, struct err *);
/*
 * Same, but returns the raw fd (used by the supervisor, which hands it to the web process).
 * Both fork from a process that should be single-threaded at that moment (the supervisor,
 * the CLI): the child goes on to use OpenSSL and malloc, not just async-signal-safe calls.
 * The readiness answer is awaited for 30 s; a REFUSED one (bad key, passphrase, PIN, ...) is
 * returned as ERR_REFUSED with the signer's message, and the child is reaped.
 */
int signer_spawn_fd(const struct conf *, int *fd, pid_t *pid, struct err *);

/*
 * Key backends, also used by `shomei init` (which makes keys before any signer runs).
 *
 * signer_key_load(): spec is a path (relative to the config dir) of an encrypted PKCS#8 PEM,
 * opened with signer_passphrase(), or a "pkcs11:" URI loaded through the pkcs11 engine
 * (pkcs11.module, pkcs11.pin / pkcs11.pin_env).  Each failure has its own message: "signer:
 * keys/issuing.key.pem: wrong passphrase or corrupt key", "signer: pkcs11: login failed: wrong
 * PIN", "signer: pkcs11: token \"x\" not found", ...  Caller owns *out (EVP_PKEY_free).
 *
 * signer_key_write(): PKCS#8 encrypted with AES-256-CBC (PBKDF2-HMAC-SHA256), PEM, mode
 * 0600, written atomically.  An empty passphrase is refused.  600,000 PBKDF2 rounds (OWASP
 * 2023); a key is read with the rounds its file names.
 *
 * signer_key_write_iter_set(): the PBKDF2 rounds of the keys this process writes from now on;
 * 0 restores the 600,000.  For the unit tests only (tests/unit/testutil.h), which make a
 * CA per test: shomei itself never calls it.
 *
 * signer_passphrase(): key_passphrase, else the environment variable named by
 * key_passphrase_env, else the contents of key_passphrase_file without trailing newlines.
 * Caller releases *out with signer_secret_free() (wipes it).
 *
 * signer_engine_release(): drops the pkcs11 engine that signer_key_load() keeps for this
 * process (free the keys from it first).  libp11 never finalises the PKCS#11 module, so a
 * process that has loaded a pkcs11 key keeps the module's state (and login) for good:
 * signer_spawn() refuses to fork a signer from it.  Start signers before loading such keys,
 * or load them in a child.
 */
int signer_key_load(const struct conf *, const char *spec, EVP_PKEY **out, struct err *);
int signer_key_write(const char *path, EVP_PKEY *, const char *passphrase, struct err *);
void signer_key_write_iter_set(int iter);
int signer_passphrase(const struct conf *, char **out, struct err *);
void signer_secret_free(char *); /* OPENSSL_cleanse + free; accepts NULL */
void signer_engine_release(void);
/* The configuration keys the signer reads (NULL-terminated; see conf_check_keys). */
extern const char *const signer_conf_keys[];

/*
 * The signer's log (see src/signer/slog.c): walks the hash chain of the file at path, calling
 * fn (when not NULL) with each line's kind ("cert", "crl", "ocsp", "tsa") and id (a serial,
 * "full:N", "delta:N" or "-"); fn returning non-zero stops.  *count lines, last the final
 * hash.  ERR_REFUSED names the first line where the chain breaks.
 */
/* One line: kind, id and the SHA-256 (hex) of what was signed. */
typedef int signer_log_entry_fn(void *arg, const char *kind, const char *id, const char *sha);
int signer_log_verify(const char *path, signer_log_entry_fn *, void *arg, long long *count,
		      char last[65], struct err *);

#endif
