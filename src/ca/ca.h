/*
 * ca: the CA's business rules — initialisation of the hierarchy, issuance, revocation, CRLs,
 * the audit chain.  Uses x509 (building, lint), signer (signatures, through the client stub
 * only: no private key is ever in this process) and store.
 *
 * A struct ca is the loaded instance: configuration, CA certificates, the signer client.  It
 * is shared by threads; each thread brings its own struct store.
 */
#ifndef SHOMEI_CA_H
#define SHOMEI_CA_H

#include <sys/types.h>

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "signer/signer.h"
#include "store/store.h"
#include "util/util.h"
#include "x509/x509.h"

#define CA_CONF_NAME "shomei.conf"

struct ca_batch;

/*
 * Previous issuing CAs a CA switch (`shomei ca rollover`) leaves behind: each keeps publishing
 * its CRLs and answering OCSP for its certificates (prevN.* in shomei.conf, N = 1 the newest).
 */
#define CA_PREV_MAX 3

/*
 * One issuing CA: the current one (cas[0], which borrows struct ca's cert, ocsp_cert and
 * name) or a previous one.  New certificates come from the current one only.
 */
struct ca_issuing {
	char *name;	 /* /crl/<name>.crl, /ca/<name>.crt; the certificates' "ca" in the store */
	X509 *cert;	 /* the issuing CA certificate */
	X509 *ocsp_cert; /* its delegated OCSP responder (may be NULL) */
	struct x509_issuer issuer;
};

struct ca {
	char *datadir;
	struct conf conf;
	char *name;		/* ca_name: short name used in URLs (/crl/<name>.crl) */
	char *root_crl_name;	/* root.name ("<name>-root"): the root's CRL and certificate */
	char *base_url;		/* no trailing slash */
	char *store_spec;	/* resolved: "sqlite:/abs/path" or a libpq conninfo */
	X509 *cert;		/* issuing CA */
	X509 *root;		/* root CA */
	X509 *ocsp_cert;	/* may be NULL */
	X509 *tsa_cert;		/* may be NULL */
	STACK_OF(X509) * chain; /* issuing, root */
	struct x509_issuer issuer;
	struct ca_issuing cas[1 + CA_PREV_MAX]; /* [0] the current issuing CA, then previous ones */
	size_t ncas;
	struct signer_client *signer; /* NULL unless opened with CA_OPEN_SIGNER or attached */
	pid_t signer_pid;
	long signer_timeout_ms;	 /* signer.timeout_ms: longest wait for a signer answer */
	long crl_hours;		 /* CRL nextUpdate - thisUpdate */
	long crl_delta_hours;	 /* delta CRL validity */
	uint64_t issued_gen;	 /* counts this process's issuances (atomic; OCSP's unknowns) */
	struct ca_batch *batch;	 /* group commit, when started */
	pthread_key_t store_key; /* per-thread store connections (ca_thread_store) */
	int store_key_ok;
};

#define CA_OPEN_SIGNER 0x01 /* spawn a private signer child (CLI commands that sign) */
/* ... which may sign OCSP and TSA certificates too (`shomei issue --profile ocsp|tsa`) */
#define CA_OPEN_SIGNER_SERVICE 0x02

/*
 * The configuration file every later ca_open and ca_init use instead of DATADIR/shomei.conf
 * (an installed shomei's /etc/shomei/shomei.conf, or --conf); NULL: DATADIR/shomei.conf.
 * Relative paths in it still resolve against the data directory.  Set once by main (a copy
 * is kept); forked processes inherit it.
 */
void ca_conf_file_set(const char *path);
/* The configuration file of datadir (malloc'd): the one set above, else DATADIR/shomei.conf. */
char *ca_conf_file(const char *datadir);

/*
 * Loads the configuration (ca_conf_file) and the CA certificates.  known: the keys the program
 * reads (a NULL-terminated list of every module's list, see conf_check_keys); the first key outside
 * them is refused before anything else is read.  NULL checks nothing (unit tests, benches).
 */
int ca_open(const char *datadir, unsigned flags, const char *const *const *known, struct ca **,
	    struct err *);
void ca_close(struct ca *); /* stops the batcher and the signer child it spawned */
/* 1 when s is a CA name: 1-32 of a-z, 0-9 and - (it goes into URLs and file names). */
int ca_name_valid(const char *s);
/*
 * 1 when an issuing CA called name would share a URL with one of ca's issuing CAs or its
 * root (/crl/<name>.crl, /crl/<name>-delta.crl, /ca/<name>.crt).
 */
int ca_name_url_clash(const struct ca *, const char *name);
/* The issuing CA called name (current or previous), or NULL. */
const struct ca_issuing *ca_issuing_find(const struct ca *, const char *name);
/* The issuing CA (current or previous) whose key signed x, or NULL. */
const struct ca_issuing *ca_issuing_of(const struct ca *, const X509 *x);
/* The same for a certificate's DER; the current issuing CA when none (or it does not parse). */
const struct ca_issuing *ca_issuing_of_der(const struct ca *, const unsigned char *der, size_t len);

/* A new store connection for the calling thread. */
int ca_store_open(struct ca *, struct store **, struct err *);
/*
 * The calling thread's own store connection, opened on first use and closed when the thread
 * ends (the web server's threads use this).  NULL with the error set when it cannot open.
 */
struct store *ca_thread_store(struct ca *, struct err *);
/* Closes the calling thread's store connection now, if it has one (a thread that outlives it). */
void ca_thread_store_close(struct ca *);
/* The configuration keys ca reads (NULL-terminated; for conf_check_keys). */
extern const char *const ca_conf_keys[];

/* ---- shomei init ---- */
struct ca_init_opts {
	const char *datadir;
	const char *key_type; /* p256 (default), p384, rsa2048, rsa3072, rsa4096 */
	const char *ca_name;  /* default "shomei" */
	const char *base_url; /* default "http://localhost:8080" */
	const char *org_name; /* O= of the CA names, default "shomei" */
	const char *store;    /* default "sqlite:db/shomei.db" */
	/* where the root key goes: outside the data directory (default DATADIR.offline/) */
	const char *root_key_out;
	/*
	 * PBKDF2 rounds of the keys written (0: the default, 600,000; at least 1,000).  Fewer
	 * make every start and CLI command faster and the keys at rest weaker: for throwaway
	 * instances (the tests), never for a CA in service.
	 */
	long key_rounds;
	const char *ca_key_uri; /* optional pkcs11: URI of an existing issuing-CA key */
	/*
	 * Object identifiers: the arc the CA's own OIDs are made under (default: a new one
	 * from a random UUID under Microsoft's GUID arc 1.2.840.113556.1.8000.2554, whose
	 * arcs stay small enough for every parser), the certificate policy asserted in every
	 * certificate (default <arc>.1), the TSA policy (default <arc>.2) and a CPS URL.
	 */
	const char *oid_arc;
	const char *policy;
	const char *tsa_policy;
	const char *cps_uri;
};
#define CA_KEY_ROUNDS_MIN 1000
/* A new OID arc from a random UUID (see ca_init_opts.oid_arc); caller frees. */
char *ca_oid_arc_new(void);

/* Creates the data dir, keys, root/issuing/OCSP/TSA/HTTPS certificates and shomei.conf. */
int ca_init(const struct ca_init_opts *, struct err *);

/*
 * ---- shomei ca rollover (rollover.c): the intermediate CA switch ----
 * With the root key (root_key, brought from its offline place), makes a new issuing CA called
 * name (default "<current>-g2", then -g3 ...) with a key of the current one's kind, encrypted
 * with the key passphrase, and its own OCSP responder; records them (audit "ca.rollover"); and
 * rewrites shomei.conf: the new CA is ca_name, the current one becomes prev1.* (older ones move
 * down a slot), root.name keeps the root's URLs.  A running serve takes it at its next reload.
 */
struct ca_rollover_req {
	const char *name;
	EVP_PKEY *root_key;
	const char *actor;
};
struct ca_rollover_out {
	char *name;
	char *cert_path; /* the new issuing CA certificate */
	char serial[STORE_SERIAL_MAX];
	time_t not_after;
};
int ca_rollover(struct ca *, const struct ca_rollover_req *, struct ca_rollover_out *,
		struct err *);
void ca_rollover_out_clear(struct ca_rollover_out *);

/* ---- issuance ---- */
struct ca_issued;

/*
 * The kind of an issuance refusal (struct err's kind when ca_issue() or ra_issue() returns
 * ERR_REFUSED): the x509 kinds, then the CA's and the RA's own.  Faces map kinds to their
 * answers (problem types, form fields, ACME error types), never message texts.
 */
enum ca_refusal {
	CA_REFUSAL_NONE = X509_REFUSAL_NONE,
	CA_REFUSAL_CSR = X509_REFUSAL_CSR,
	CA_REFUSAL_KEY = X509_REFUSAL_KEY,
	CA_REFUSAL_SUBJECT = X509_REFUSAL_SUBJECT,
	CA_REFUSAL_LINT = X509_REFUSAL_LINT,
	CA_REFUSAL_VALIDITY = X509_REFUSAL_VALIDITY,
	CA_REFUSAL_PROFILE = X509_REFUSAL__MAX, /* unknown, or not for this requester */
	CA_REFUSAL_ORG,				/* the organization does not exist */
	CA_REFUSAL_NAME_POLICY, /* a name outside what the organization may certify (src/ra) */
	CA_REFUSAL__MAX,
};
/* "csr", "key", "subject", "lint", "validity", "profile", "org", "name-policy"; "none". */
const char *ca_refusal_name(int kind);

struct ca_issue_req {
	const char *profile;
	const unsigned char *csr;
	size_t csrlen;
	const struct csr *parsed; /* the CSR parsed already (ra_issue): borrowed, csr unused */
	/*
	 * Instead of a CSR: a key the caller made itself (the portal's server-made keys), with
	 * its SubjectPublicKeyInfo as encoded (copied into the certificate) and subject given.
	 * There is no request to parse, nor a signature to prove possession.  Borrowed.
	 */
	EVP_PKEY *key;
	const X509_PUBKEY *spki;
	long days; /* 0 = profile default */
	/* the issuing CA (NULL: the current one); a previous one only for --profile ocsp */
	const struct ca_issuing *issuing;
	int64_t org_id; /* the organization recorded with the certificate (0 = none); its name
			 * policy is the RA's (ra_issue), never applied here */
	const char *predecessor;
	const char *actor; /* audit actor */
	/*
	 * RA-approved contents (the portal): when set, the certificate gets this subject and
	 * these SANs instead of the CSR's (the CSR then only proves possession of the key).
	 * Borrowed.
	 */
	const X509_NAME *subject;
	const GENERAL_NAMES *sans;
	/* Stop after build and lint: nothing is signed or stored (validation of a request). */
	int check_only;
	/*
	 * Issuance in two steps (the console's bulk commit signs every line before it takes the
	 * store's write lock): sign_only stops once the certificate is signed (out gets it,
	 * nothing is stored); presigned stores that very certificate (DER, serial, validity) with
	 * the same request, without building or signing anything (nor parsing: with sans given,
	 * the CSR is not needed, and the subject comes from presigned->subject).  signed_fn is not
	 * called in either step.  A presigned certificate whose serial is taken meanwhile is
	 * refused (ERR_CONFLICT): its serial cannot be drawn anew.
	 */
	int sign_only;
	const struct ca_issued *presigned;
	/*
	 * Optional, for a caller whose own records belong to the issuance (the portal: the
	 * application issued, its ticket used, its PKCS#12, its mail).  signed_fn runs in the
	 * caller's thread once the certificate is signed, before it is stored (again if its
	 * serial has to be drawn anew); write_fn runs in the certificate's transaction, after its
	 * row and audit entry.  Either returning -1 stores nothing: the certificate is not issued
	 * and ca_issue() returns -1 with its error.
	 */
	int (*signed_fn)(const struct ca_issued *, void *arg, struct err *);
	int (*write_fn)(struct store *, const struct ca_issued *, void *arg, struct err *);
	void *arg;
	/*
	 * write_fn only writes to the store (and sets what it reports afresh at every run): it may
	 * run again (ca_write_again), so the certificate's write can take the group commit's
	 * optimistic run.  Without a write_fn that is always so.
	 */
	int write_again;
};

struct ca_issued {
	char serial[STORE_SERIAL_MAX];
	unsigned char *der;
	size_t derlen;
	time_t not_before, not_after;
	/* sign_only: the subject as stored (x509_name_text), so that the presigned step need not
	 * parse the certificate again */
	char *subject;
};

/*
 * The whole issuance path: parse and verify the CSR, build, lint, sign (signer IPC), store the
 * certificate and its audit entry durably (through the group-commit batch when started).
 * Nothing is written unless every step succeeded.
 */
int ca_issue(struct ca *, struct store *, const struct ca_issue_req *, struct ca_issued *,
	     struct err *);
void ca_issued_clear(struct ca_issued *);

/*
 * Group commit: a thread with its own store connection that runs queued writes (issued
 * certificates with their audit entries, the portal's records) in one transaction per batch
 * (up to max_batch), so that many writers share one fsync and none waits for the write lock.
 */
int ca_batch_start(struct ca *, size_t max_batch, struct err *);
void ca_batch_stop(struct ca *);
/* Tests: store_fault_set(fail_stmt, fail_commit) on the batch's connection, from its next batch. */
void ca_batch_fault(struct ca *, long fail_stmt, int fail_commit);

/*
 * A unit of writing: writes through st, which is inside a transaction (never begins or
 * commits one itself); -1 with e set undoes everything it wrote.  It runs in the batch thread
 * while its caller waits, so it only writes: no signing, no key derivation, no network.
 */
typedef int (*ca_write_fn)(struct store *st, void *arg, struct err *e);
/*
 * Runs fn in a durable transaction: through the batch when one is started (shared with other
 * writers, under its own savepoint), else in a transaction of its own on st.  Returns once
 * what fn wrote is committed (0), or undone (-1 with fn's error, or the commit's), or -1 with
 * ERR_UNKNOWN when the commit was made but its durability step failed (the group commit's
 * fsync, a COMMIT whose answer was lost): what fn wrote is visible and may or may not survive
 * a crash, so the caller must not report "failed" nor undo anything around it.
 */
int ca_write(struct ca *, struct store *st, ca_write_fn fn, void *arg, struct err *e);
/*
 * ca_write() for a fn that may run more than once: it only writes to the store (and sets
 * what it reports in arg afresh at every run), so running it again after its transaction was
 * rolled back is the same as running it once.  The batch may then run it optimistically on
 * PostgreSQL, without a savepoint or a round trip of its own (batch_fast in ca/batch.c),
 * and runs it again under its savepoint when something in that run failed.
 */
int ca_write_again(struct ca *, struct store *st, ca_write_fn fn, void *arg, struct err *e);
/* fn in a transaction of its own on st (what ca_write() does without a batch). */
int ca_write_own(struct store *st, ca_write_fn fn, void *arg, struct err *e);

/*
 * One transaction for many writers (the console's bulk commit): ca_tx_new() gives a
 * transaction on a store connection of its own; a thread that ca_tx_join()s it has its
 * ca_write() calls run in it instead (serialised by the transaction's lock, each under a
 * savepoint: a failing unit is undone alone), not committed.  The transaction begins at its
 * first write (SQLite's write lock is held from there to the end: keep the work between the
 * writes short).  ca_tx_write() runs a unit in it from any thread; ca_tx_end() commits (commit
 * = 1; durable when it returns 0, the store's own durability: fsync) or rolls everything back,
 * and frees it.  ca_tx_join(NULL) leaves.
 */
struct ca_tx;
int ca_tx_new(struct ca *, struct ca_tx **, struct err *);
void ca_tx_join(struct ca_tx *);
int ca_tx_write(struct ca_tx *, ca_write_fn fn, void *arg, struct err *e);
int ca_tx_end(struct ca_tx *, int commit, struct err *e);

/*
 * CRLReason (RFC 5280 5.3.1): the values are the codes the CRL and OCSP carry (7 is unused;
 * CA_REASON_NONE marks "no reason" in records and unknown names).
 */
enum ca_crl_reason {
	CA_REASON_NONE = -1,
	CA_REASON_UNSPECIFIED = 0,
	CA_REASON_KEY_COMPROMISE = 1,
	CA_REASON_CA_COMPROMISE = 2,
	CA_REASON_AFFILIATION_CHANGED = 3,
	CA_REASON_SUPERSEDED = 4,
	CA_REASON_CESSATION_OF_OPERATION = 5,
	CA_REASON_CERTIFICATE_HOLD = 6,
	CA_REASON_REMOVE_FROM_CRL = 8,
	CA_REASON_PRIVILEGE_WITHDRAWN = 9,
	CA_REASON_AA_COMPROMISE = 10,
	CA_REASON__MAX,
};
/* The RFC 5280 name of a reason ("keyCompromise") <-> the reason; CA_REASON_NONE if unknown. */
enum ca_crl_reason ca_reason_parse(const char *);
const char *ca_reason_name(int); /* "unknown" out of range */
/*
 * Revokes a certificate of this CA and records it in the audit chain.  Inside a transaction
 * the caller opened, it joins it (the caller commits or rolls back, e.g. together with the
 * request that asked for the revocation); else it commits its own.  ERR_CONFLICT when the
 * certificate is revoked already.
 */
int ca_revoke(struct ca *, struct store *, const char *serial, int reason, time_t invalidity,
	      const char *actor, struct err *);
/*
 * The same checks and writes (certificate row, revocation counter, cert.revoke audit entry)
 * inside the caller's open transaction (store_begin), so that other writes — the nonce of a
 * signed self-service request — commit or roll back with the revocation.
 */
int ca_revoke_tx(struct ca *, struct store *, const char *serial, int reason, time_t invalidity,
		 const char *actor, struct err *);

/* Store counter bumped by every revocation, in the revocation's transaction. */
#define CA_COUNTER_REVOCATIONS "revocations"

/*
 * After a revocation committed: with crl.on_revoke = yes and a signer attached, generates a
 * new full CRL of the revoked certificate's CA (serial; NULL: several, every issuing CA's).
 * 0 when nothing was to be done.
 */
int ca_after_revoke(struct ca *, struct store *, const char *serial, const char *actor,
		    struct err *);

/* ---- CRL ---- */
/* Generates, signs, stores (and audits) a full (delta = 0) or delta CRL. */
/*
 * The root CRL (rootcrl.c), made where the offline root key is at hand: `shomei init` and
 * the ceremony `shomei ca root-crl`.  It carries the previous root CRL's entries, adds
 * `revoke` (an issuing CA certificate of this root) when given, and is stored under the root's
 * name (root.name, "<ca>-root" by default; served at /crl/<root.name>.crl) with an audit
 * entry, in one transaction.
 */
struct ca_root_crl_req {
	const char *root_name; /* the root's name (struct ca's root_crl_name) */
	X509 *root;
	EVP_PKEY *key; /* the root key (checked against root) */
	long days;     /* nextUpdate - thisUpdate (root_crl.days) */
	X509 *revoke;  /* an issuing CA certificate to add, or NULL */
	int reason;    /* its CRLReason (CA_REASON_*) */
	const char *actor;
};
int ca_root_crl_make(struct store *, const struct ca_root_crl_req *, struct store_crl *out,
		     int *already, struct err *);
/* The same inside the caller's transaction (init's).  *already (may be NULL): 1 when the
 * issuing CA to revoke was on the root CRL before (its first reason and date are kept). */
int ca_root_crl_make_tx(struct store *, const struct ca_root_crl_req *, struct store_crl *out,
			int *already, struct err *);
/* "<ca>-root": root.name's default, for a CA named ca_name.  Caller frees. */
char *ca_root_crl_name(const char *ca_name);
/*
 * ERR_REFUSED with a message for the operator when there is no root CRL or it expires within
 * warn_days (serve logs it as a warning); 0 when it is fresh.
 */
int ca_root_crl_check(struct store *, const char *root_name, long warn_days, time_t now,
		      struct err *);
#define CA_ROOT_CRL_DAYS_DEFAULT 365
#define CA_ROOT_CRL_DAYS_MAX 366 /* CA/Browser Forum BR 4.9.7: a root's CRL, 12 months */
#define CA_ROOT_CRL_WARN_DAYS_DEFAULT 30

int ca_crl_generate(struct ca *, struct store *, int delta, const char *actor,
		    struct store_crl *out, struct err *);
/* The same for one issuing CA, current or previous (its own CRL numbers, names and key). */
int ca_crl_generate_for(struct ca *, const struct ca_issuing *, struct store *, int delta,
			const char *actor, struct store_crl *out, struct err *);

/* ---- audit ---- */
struct ca_audit_report {
	int64_t entries;
	int64_t bad_seq; /* 0 when the chain is intact */
	char problem[256];
};

/* Walks the chain; returns 0 when intact, 1 when broken (report says where), -1 on error. */
int ca_audit_verify(struct store *, struct ca_audit_report *, struct err *);

#endif
