/*
 * store: all persistent state.  Two backends behind one interface: SQLite (embedded default,
 * WAL, synchronous=FULL) and PostgreSQL (libpq).  All SQL lives in src/store, one file per
 * entity (store_org.c, store_cert.c, ...), and uses bound parameters only; store_sqlite.c /
 * store_pg.c implement a small statement driver.
 *
 * A struct store is one connection and belongs to one thread.  Every function returns 0 on
 * success and -1 with the error set: ERR_NOTFOUND when the object does not exist,
 * ERR_CONFLICT for a duplicate or an illegal state change, ERR_INTERNAL for the database.
 * Functions that write run in their own transaction unless the caller has opened one with
 * store_begin(), in which case they join it (this is how group commit batches many writes).
 */
#ifndef SHOMEI_STORE_H
#define SHOMEI_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "../util/util.h"

struct store;

/*
 * Frees a list that the store returned (store_org_list(), store_ticket_list(),
 * store_cert_list(), store_apikey_list(), store_mail_claim(), store_app_list_holder()):
 * clear(&v[i]) for each of the n elements, then v.  v may be NULL.  Type-checked: clear takes
 * a pointer to v's element type (store_org_clear for a struct store_org *, ...).  v and n are
 * evaluated more than once: pass plain variables.
 */
#define STORE_LIST_FREE(v, n, clear)                                                               \
	do {                                                                                       \
		if ((v) != NULL) {                                                                 \
			for (size_t store_list_i_ = 0; store_list_i_ < (n); store_list_i_++)       \
				clear(&(v)[store_list_i_]);                                        \
			free(v);                                                                   \
		}                                                                                  \
	} while (0)

enum store_backend {
	STORE_SQLITE,
	STORE_PG,
};

/*
 * Opens "sqlite:PATH" (PATH relative to the working directory) or a PostgreSQL connection
 * string ("postgresql://..." or "host=... dbname=..."), and applies pending migrations.
 */
int store_open(struct store **, const char *spec, struct err *);
/*
 * Opens a store only to read it (a backup's copy, a restored dump being checked): no
 * migrations, every write fails.  A SQLite copy is opened as untrusted bytes: it must be a
 * file no one else writes (the caller's private copy), its header must say rollback-journal
 * mode (store_backup_to's copies are; a WAL-mode file is refused), and it is opened
 * immutable: no -wal, -shm or -journal file is read or made beside it.  ERR_REFUSED when it
 * is no shomei store or its schema is newer than this program's.
 */
int store_open_readonly(struct store **, const char *spec, struct err *);
void store_close(struct store *); /* accepts NULL */
enum store_backend store_backend(const struct store *);
int store_ping(struct store *, struct err *);
/* Highest applied migration number. */
int store_schema_version(struct store *, int *version, struct err *);

/*
 * fn is called (in the committing thread) after every commit that queued mail, and after a
 * mail queued outside a transaction: the web process wakes its mail sender with it.  Process
 * wide; set once before the threads that write start, NULL to stop.
 */
void store_set_mail_hook(void (*fn)(void));
/*
 * A long-running process: a thread of its own copies SQLite's WAL back into the database
 * (one per process, for spec's file), so that no committing thread does it inside its
 * commit.  It also keeps up to resident bytes of the WAL and the database in memory (locked;
 * 0: none), so that commits do not wait for the disk to read back pages the kernel evicted.
 * Nothing for PostgreSQL.  Stop it before the process ends, after the process's other
 * connections to the file are closed; the connections then checkpoint for themselves again.
 */
int store_checkpointer_start(const char *spec, size_t resident, struct err *);
void store_checkpointer_stop(void);
/* 1 while a transaction begun by store_begin() is open on this connection. */
int store_in_tx(const struct store *);
/* Write transaction (SQLite: BEGIN IMMEDIATE).  Nested calls are an internal error. */
int store_begin(struct store *, struct err *);
int store_commit(struct store *, struct err *);
void store_rollback(struct store *);
/*
 * For a group commit: store_defer_sync() makes the commits of this connection return once
 * they are written but before they are on disk (1; 0 where every commit is durable by itself:
 * PostgreSQL); store_sync() makes every commit made so far on it durable, from any thread,
 * also while another thread goes on with the next transaction, and several at once.  A
 * deferred commit is visible to other connections before it is durable: tell nobody about
 * it before store_sync() returned.
 */
int store_defer_sync(struct store *, struct err *);
/* A failure is ERR_UNKNOWN: the commits are visible, but not known to be durable. */
int store_sync(struct store *, struct err *);
/*
 * A savepoint inside the open transaction (one level): what runs after store_savepoint() is
 * kept by store_savepoint_release() or undone by store_savepoint_rollback(), the rest of the
 * transaction stays either way.  The group commit (ca_write) runs each writer under one.
 */
int store_savepoint(struct store *, struct err *);
int store_savepoint_release(struct store *, struct err *);
int store_savepoint_rollback(struct store *, struct err *);
/*
 * For a group commit on PostgreSQL: store_pipeline() lets this connection send the statements
 * whose answers nobody reads (savepoints, releases, audit entries) without waiting for them
 * (libpq's pipeline mode): they travel with the next statement that waits, which reports a
 * failure among them as its own.  store_flush() waits for them: a writer's unit calls it
 * before its savepoint is released, so that a failure undoes that unit alone.
 * store_pipeline() returns 1, or 0 where every statement runs at once (SQLite: both do
 * nothing there).
 */
int store_pipeline(struct store *, struct err *);
int store_flush(struct store *, struct err *);
/*
 * On a pipelining connection, an optimistic run (on = 1) keeps the certificates and audit
 * entries written and sends them as multi-row INSERTs, unanswered, before the next other
 * statement (a certificate's organization is then left to the foreign key): whether a serial
 * was taken is known only from store_flush(), which then fails (as it does for any failure of
 * a statement sent unanswered).  Such a failure cannot be told apart from the writes around
 * it: the caller rolls the whole transaction back and runs its writes again, with on = 0
 * (ca/batch.c does so for the writes that allow it).
 */
void store_optimistic(struct store *, int on);
/*
 * store_flush() when nothing but the commit follows in the transaction: the audit head the
 * transaction moved is written back now (store_commit() then has nothing to write), and the
 * wait for it is the wait for everything sent before it: one round trip instead of two.
 */
int store_flush_last(struct store *, struct err *);

/*
 * Fault injection, for tests (compiled in, idle until set; the failure-path tests of the RA
 * operations use it).  From this call on, the fail_stmt-th statement run on this connection
 * (1-based; 0: none) fails with ERR_INTERNAL "store: injected fault (statement N)" without
 * being executed, and with fail_commit the next store_commit() rolls the transaction back and
 * fails with ERR_INTERNAL "store: injected fault (commit)".  Each fault fires once;
 * store_fault_set(s, 0, 0) clears both and restarts the count.  -1 when fail_stmt < 0.
 *
 * Counted as statements: every SQL statement a store function runs, reads and writes alike,
 * including the audit head that store_commit() writes back and the piecewise write of a large
 * CRL's DER.  Not counted: transaction control (store_begin(), store_commit()'s COMMIT,
 * store_rollback(), the savepoints) and the commit-mode switch of the CAPTCHA writes; fail_commit
 * stands for a failing COMMIT (only store_commit() has one: a lone statement outside a
 * transaction commits by itself).  Identical on both backends: the injected failure does not
 * abort a PostgreSQL transaction as a real error would, so a caller that went on and committed
 * after a failed write is caught with half an operation written.
 */
int store_fault_set(struct store *, long fail_stmt, int fail_commit);
/*
 * fail_commit = STORE_FAULT_SYNC: the next commit is made (visible to every connection) and
 * then its durability step fails with ERR_UNKNOWN — on a connection that defers its syncs
 * the next store_sync() (an fdatasync returning EIO), on any other store_commit() itself (the
 * answer to COMMIT lost).  The caller cannot tell whether the commit survives a crash.
 */
#define STORE_FAULT_SYNC 2
/* The statements counted since the last store_fault_set() (an injected failure included). */
long store_fault_count(const struct store *);

/* ---- backups (store_backup.c) ---- */
/*
 * Copies the whole store, as one consistent snapshot, into the file dest, which exists and
 * is empty (the caller made it with its mode): SQLite's online backup API, while other
 * connections and processes go on writing.  The copy is one file in rollback-journal mode
 * (store_open_readonly() reads it; store_open() turns WAL on again).  Not inside a
 * transaction.  PostgreSQL: ERR_REFUSED naming pg_dump and docs/backup.md.
 */
int store_backup_to(struct store *, const char *dest, struct err *);
/*
 * The database file's own consistency check (SQLite: PRAGMA quick_check); ERR_REFUSED with
 * its first complaint.  Nothing to check on PostgreSQL (0).
 */
int store_check(struct store *, struct err *);
/*
 * A copy's schema is exactly the one this program's migrations make up to the copy's schema
 * version (SQLite: every row of sqlite_schema, its type, name, table and SQL text, compared
 * with those of a new in-memory store migrated to that version): no trigger, view, table or
 * index added, none missing or altered.  ERR_REFUSED naming the first difference.  Nothing to
 * check on PostgreSQL (0).
 */
int store_schema_check(struct store *, struct err *);

/* ---- organizations (store_org.c) ---- */
struct store_org {
	int64_t id;
	char *code;
	char *name;
	char **domains; /* DNS domains (sorted) */
	size_t ndomains;
	time_t created;
	/* 0011: the rest of its name policy (src/ra/policy.c), each sorted */
	char **mail_domains; /* rfc822Name domains (none: the DNS domains) */
	size_t nmail_domains;
	char **ips; /* iPAddress names: "192.0.2.1", "2001:db8::/32" */
	size_t nips;
	char **uris; /* URI names: exact, or a prefix when it ends with "/" */
	size_t nuris;
	int unrestricted; /* an operator allowed any name */
};

/* ERR_CONFLICT when the code exists. */
int store_org_add(struct store *, const char *code, const char *name, const char *const *domains,
		  size_t ndomains, int64_t *id, struct err *);
int store_org_get(struct store *, const char *code, struct store_org *, struct err *);
int store_org_get_id(struct store *, int64_t id, struct store_org *, struct err *);
int store_org_list(struct store *, struct store_org **, size_t *, struct err *);
/*
 * Replaces the name, the name lists (domains, mail_domains, ips, uris) and the unrestricted
 * flag of the organization o->id with o's; joins an open transaction.  ERR_NOTFOUND when
 * there is no such organization.
 */
int store_org_update(struct store *, const struct store_org *, struct err *);
void store_org_clear(struct store_org *);
/* The code of organization id (a cheap read: no name lists); caller frees *code. */
int store_org_code_get(struct store *, int64_t id, char **code, struct err *);

/* ---- tickets (store_ticket.c) ---- */
struct store_ticket {
	int64_t id;
	char *number;
	int64_t org_id;
	char *org_code;
	char *profile;
	char *status;	   /* "unused", "used" */
	char *cert_serial; /* NULL until a certificate is issued on it */
	time_t created;
};

/* ERR_CONFLICT when the number exists. */
int store_ticket_add(struct store *, int64_t org_id, const char *number, const char *profile,
		     struct err *);
int store_ticket_get(struct store *, const char *number, struct store_ticket *, struct err *);
int store_ticket_list(struct store *, int64_t org_id, struct store_ticket **, size_t *,
		      struct err *);
/* Marks a ticket used by a certificate; ERR_CONFLICT when already used. */
int store_ticket_use(struct store *, const char *number, const char *serial, struct err *);
void store_ticket_clear(struct store_ticket *);

/* ---- certificates (store_cert.c) ---- */
#define STORE_SERIAL_MAX 41 /* 20 octets in upper-case hex + NUL */

enum store_cert_status {
	STORE_CERT_VALID = 0,
	STORE_CERT_REVOKED = 1,
};

struct store_cert {
	char serial[STORE_SERIAL_MAX]; /* upper-case hex, as `openssl x509 -serial` prints */
	char *ca;		       /* short name of the issuing CA (config ca_name) */
	char *subject;		       /* RFC 4514 text, UTF-8 */
	char *sans;		       /* "DNS:a.example, IP:192.0.2.1, email:x@y" or NULL */
	char *profile;
	int64_t org_id; /* 0 = none */
	time_t not_before;
	time_t not_after;
	enum store_cert_status status;
	time_t revoked_at;	/* 0 unless revoked */
	int reason;		/* CRLReason code (RFC 5280 5.3.1); -1 = none */
	time_t invalidity_date; /* 0 = unknown */
	char *predecessor;	/* serial of the certificate this one replaces, or NULL */
	unsigned char *der;
	size_t derlen;
	time_t created;
};

/* ERR_CONFLICT when the serial exists (the caller re-draws the serial and signs again). */
int store_cert_insert(struct store *, const struct store_cert *, struct err *);
/* serial is hex, any case. */
int store_cert_get(struct store *, const char *serial, struct store_cert *, struct err *);

/* Issuing CA names a filter may hold: the current one and previous ones (CA_PREV_MAX). */
#define STORE_CAS_MAX 4

struct store_cert_filter {
	int status;			/* -1 any, else enum store_cert_status */
	int64_t org_id;			/* 0 any */
	const char *cas[STORE_CAS_MAX]; /* the certificate's CA is one of these; none set: any */
	time_t expiring_before;		/* 0 any: not_after < this */
	const char *subject_substr;	/* NULL any; plain substring, not a pattern */
	const char *profile;		/* NULL any */
	const char *profile_alt;	/* NULL none: profile or this one */
	const char *name_substr;	/* NULL any; plain substring of the subject or the SANs */
	time_t not_after_min; /* 0 any: not_after >= this (not yet expired at that time) */
	size_t limit;	      /* 0 = no limit */
	size_t offset;
};

/* Ordered by created, then serial.  der is not loaded (derlen 0) to keep lists cheap. */
int store_cert_list(struct store *, const struct store_cert_filter *, struct store_cert **,
		    size_t *, struct err *);
/* ERR_NOTFOUND, or ERR_CONFLICT when already revoked. */
int store_cert_revoke(struct store *, const char *serial, time_t when, int reason,
		      time_t invalidity_date, struct err *);
int store_cert_count(struct store *, int status, int64_t *n, struct err *);
/* *used = 1 when a certificate, a CRL or a CRL counter of a CA called ca is in the store. */
int store_ca_name_used(struct store *, const char *ca, int *used, struct err *);
/* *live = 1 when CA ca has a certificate that has not expired at now (revoked or not). */
int store_cert_ca_live(struct store *, const char *ca, time_t now, int *live, struct err *);
/* How many store_cert_list() would give without limit and offset: one COUNT(*). */
int store_cert_count_filter(struct store *, const struct store_cert_filter *, int64_t *n,
			    struct err *);
void store_cert_clear(struct store_cert *);

/*
 * Calls cb for every revoked certificate of the CA whose revocation time is >= since (0 for
 * all), ordered by serial.  A non-zero return from cb stops the walk and is returned.
 * Rows are streamed (a million revoked certificates are never all in memory): cb must not
 * call into the same struct store.
 */
struct store_revoked {
	const char *serial;
	time_t revoked_at;
	int reason;
	time_t invalidity_date;
};
int store_revoked_foreach(struct store *, const char *ca, time_t since,
			  int (*cb)(void *, const struct store_revoked *), void *, struct err *);

/* ---- CRLs (store_crl.c) ---- */
struct store_crl {
	char *ca;
	int64_t number;
	int delta;
	int64_t base_number; /* delta CRLs: the full CRL they extend */
	time_t this_update;
	time_t next_update;
	unsigned char *der;
	size_t derlen;
};

/* Atomically reserves the next CRL number of a CA (starting at 1). */
int store_crl_next_number(struct store *, const char *ca, int64_t *number, struct err *);
int store_crl_put(struct store *, const struct store_crl *, struct err *);
/* The newest full (delta = 0) or delta (delta = 1) CRL; ERR_NOTFOUND when none. */
int store_crl_latest(struct store *, const char *ca, int delta, struct store_crl *, struct err *);
/* The same without the DER (der NULL, derlen 0): number and times only. */
int store_crl_latest_info(struct store *, const char *ca, int delta, struct store_crl *,
			  struct err *);
void store_crl_clear(struct store_crl *);

/* ---- audit chain (store_audit.c) ---- */
#define STORE_HASH_LEN 32

struct store_audit {
	int64_t seq; /* 1, 2, 3, ... */
	time_t ts;
	char *actor;  /* "cli:root", "officer:<serial>", "api:<org>", ... */
	char *action; /* "cert.issue", "cert.revoke", "crl.generate", "org.add", ... */
	char *object; /* serial, org code, ... */
	char *detail; /* free text (may be "") */
	unsigned char prev[STORE_HASH_LEN];
	unsigned char hash[STORE_HASH_LEN];
};

/*
 * SHA-256 over prev || seq || ts || actor || action || object || detail, each field
 * length-prefixed so that no two different entries hash alike.
 */
void store_audit_hash(const struct store_audit *, unsigned char out[STORE_HASH_LEN]);
/*
 * Appends an entry chained to the current head (serialised against other writers: the head
 * row is locked for the rest of the transaction).  seq_out may be NULL.
 */
int store_audit_append(struct store *, const char *actor, const char *action, const char *object,
		       const char *detail, int64_t *seq_out, struct err *);
/* Walks entries in seq order; non-zero from cb stops and is returned.  Streamed like
 * store_revoked_foreach(): cb must not call into the same struct store. */
int store_audit_foreach(struct store *, int (*cb)(void *, const struct store_audit *), void *,
			struct err *);
/*
 * Takes the audit head's row lock for the transaction (PostgreSQL; nothing on SQLite), so
 * that a transaction that takes it first takes every other row lock after it: the group
 * commit does, so that two front ends' batches (each with ACME nonce rows and audit entries)
 * cannot wait for each other in a cycle.
 */
int store_audit_lock(struct store *, struct err *);
/* The head row (last seq and hash) that append maintains; seq 0 when empty. */
int store_audit_head(struct store *, int64_t *seq, unsigned char hash[STORE_HASH_LEN],
		     struct err *);
void store_audit_clear(struct store_audit *);
/*
 * A page of the chain for the audit view, newest first (console, src/ra/stats.c).  Every
 * criterion is optional: actor a substring of the actor (case-sensitive), action a prefix of
 * the action, from/to the time (from <= ts < to), before the entries below that seq (paging),
 * org_id an organization: entries whose actor or object is one of its officers
 * ("officer:<id>"), whose object is the serial of one of its certificates, whose object is
 * its code (org.*, ticket.create) or whose actor is one of its API keys ("api:<code>:...").
 * At most limit entries (1..1000); *out: STORE_LIST_FREE(..., store_audit_clear).
 */
struct store_audit_filter {
	const char *actor;  /* NULL or "": any */
	const char *action; /* NULL or "": any */
	int64_t org_id;	    /* 0: any */
	time_t from, to;    /* 0: open */
	int64_t before;	    /* 0: from the newest */
	size_t limit;
};
int store_audit_list(struct store *, const struct store_audit_filter *, struct store_audit **out,
		     size_t *n, struct err *);

/* ---- issued-certificate statistics (store_stats.c; src/ra/stats.c) ---- */
/* The profiles counted ("server", "client", "codesign"); the others are not. */
extern const char *const store_stats_profiles[4];
struct store_stats_query {
	int64_t org_id;	 /* 0: every organization's certificates (never those without one) */
	time_t from, to; /* [from, to): issuance time, revocation time */
	time_t now;	 /* valid at now; ending within 30, 60, 90 days of now */
};
/*
 * One group of certificates of one organization with the same subject, SANs and profile and
 * the same day (days since 1970-01-01 UTC) of issuance (store_stats_issued) or revocation
 * (store_stats_revoked: only count).  The strings live until cb returns.
 */
struct store_stats_group {
	int64_t org_id;
	const char *subject, *sans, *profile; /* sans "" when none */
	int64_t day;
	int64_t count;		     /* issued (revoked) that day */
	int64_t renewed;	     /* of them, with a predecessor */
	int64_t valid;		     /* of them, valid now (not revoked, now within the validity) */
	int64_t exp30, exp60, exp90; /* of the valid ones, ending within 30, 60, 90 days */
};
/* Streamed groups (cb must not use the store; non-zero from cb stops and is returned). */
int store_stats_issued(struct store *, const struct store_stats_query *,
		       int (*cb)(void *, const struct store_stats_group *), void *, struct err *);
int store_stats_revoked(struct store *, const struct store_stats_query *,
			int (*cb)(void *, const struct store_stats_group *), void *, struct err *);

/* ---- API keys of an organization (store_apikey.c; src/ra/apikey.c) ---- */
#define STORE_APIKEY_ID_MAX 33 /* public key id, at most 32 characters + NUL */

struct store_apikey {
	char id[STORE_APIKEY_ID_MAX]; /* the public "<id>" part of shk_<id>_<secret> */
	int64_t org_id;
	char *org_code;			    /* filled by get and list */
	char *name;			    /* label given at creation (may be "") */
	unsigned char hash[STORE_HASH_LEN]; /* hash of the secret; the secret is never stored */
	int disabled;
	time_t created;
	time_t last_used; /* 0 = never */
};

/* ERR_NOTFOUND when the organization does not exist, ERR_CONFLICT when the id exists. */
int store_apikey_add(struct store *, const struct store_apikey *, struct err *);
/* ERR_NOTFOUND when no key has this id. */
int store_apikey_get(struct store *, const char *id, struct store_apikey *, struct err *);
/* Keys of one organization (org_id != 0) or all, in creation order. */
int store_apikey_list(struct store *, int64_t org_id, struct store_apikey **, size_t *,
		      struct err *);
/* ERR_NOTFOUND when no key has this id. */
int store_apikey_set_disabled(struct store *, const char *id, int disabled, struct err *);
/* Records a use: last_used = when, unless it is already later (no error for a missing id). */
int store_apikey_touch(struct store *, const char *id, time_t when, struct err *);
void store_apikey_clear(struct store_apikey *);

/* ---- outgoing mail queue (store_mail.c, 0006; src/mail) ---- */
enum store_mail_status {
	STORE_MAIL_QUEUED = 0,
	STORE_MAIL_SENT = 1,
	STORE_MAIL_FAILED = 2,
};

struct store_mail {
	int64_t id;
	char *sender;	 /* envelope sender (address only) */
	char *recipient; /* envelope recipient (address only) */
	char *message;	 /* the message as queued (src/mail seals it: see mail_body_open);
			  * "" once sent or failed */
	enum store_mail_status status;
	int64_t attempts; /* delivery attempts claimed so far */
	time_t next_attempt;
	time_t created;
	char *last_error; /* NULL when none */
};

/* Queues a message, due at now; joins an open transaction.  id may be NULL. */
int store_mail_enqueue(struct store *, const char *sender, const char *recipient,
		       const char *message, time_t now, int64_t *id, struct err *);
/*
 * Replaces the text of a queued message (src/mail writes its sealed text, whose associated
 * data holds the id the insert returned, in the same transaction); ERR_NOTFOUND unless queued.
 */
int store_mail_set_message(struct store *, int64_t id, const char *message, struct err *);
/*
 * Claims up to max queued messages due at now (next_attempt <= now, not locked by another
 * sender): each is locked until lock_until and its attempts counted, with a conditional
 * UPDATE whose row count tells whether this caller won it.  *out (caller frees with
 * STORE_LIST_FREE(v, n, store_mail_clear)) holds only the messages this caller claimed.
 */
int store_mail_claim(struct store *, time_t now, time_t lock_until, size_t max,
		     struct store_mail **out, size_t *nout, struct err *);
/* Marks a message sent (clears its text and lock); ERR_NOTFOUND unless it is queued. */
int store_mail_sent(struct store *, int64_t id, time_t when, struct err *);
/* Unlocks a queued message for another attempt at next; error is recorded (may be NULL). */
int store_mail_retry(struct store *, int64_t id, time_t next, const char *error, struct err *);
/* Gives up: status failed, text cleared, error recorded; ERR_NOTFOUND unless it is queued. */
int store_mail_fail(struct store *, int64_t id, time_t when, const char *error, struct err *);
int store_mail_get(struct store *, int64_t id, struct store_mail *, struct err *);
/* Number of messages in a status (enum store_mail_status), or all with -1. */
int store_mail_count(struct store *, int status, int64_t *n, struct err *);
void store_mail_clear(struct store_mail *);

/* ---- the API's Idempotency-Key (store_idem.c, 0013; src/ra/idem.c) ---- */
struct store_idem {
	unsigned char request_hash[STORE_HASH_LEN];
	int status; /* 0: the request still runs */
	char *location;
	char *body; /* NUL-terminated copy */
	size_t bodylen;
	time_t started; /* set by a claim too: the owner token of finish and drop */
};
/*
 * Claims key_hash for a request: *claimed = 1 when it is ours to run (a new key, or a claim of
 * the same request started before stale_before whose process died); else *claimed = 0 and r
 * holds the row (a finished answer, or a claim still running).
 */
int store_idem_claim(struct store *, const unsigned char key_hash[STORE_HASH_LEN],
		     const unsigned char req_hash[STORE_HASH_LEN], time_t now, time_t stale_before,
		     time_t expires, int *claimed, struct store_idem *r, struct err *);
/*
 * Keeps the answer of a claimed request.  body NULL binds the claim to its answer's status and
 * location only (written in the transaction of what the request created, see ra_idem_bind);
 * a later call with the same status and location adds the body.
 */
/* started: the claim's (its owner token); ERR_CONFLICT when a retry has taken it over. */
int store_idem_finish(struct store *, const unsigned char key_hash[STORE_HASH_LEN], time_t started,
		      int status, const char *location, const void *body, size_t len, struct err *);
/* Gives a claim up (the request failed: a retry runs it again); its own claim only. */
int store_idem_drop(struct store *, const unsigned char key_hash[STORE_HASH_LEN], time_t started,
		    struct err *);
int store_idem_purge(struct store *, time_t now, int64_t *n, struct err *);
void store_idem_clear(struct store_idem *);

/* ---- CAPTCHAs (store_captcha.c, hashes only, 0005; src/web/captcha.c) ---- */
struct store_captcha {
	unsigned char answer_hash[STORE_HASH_LEN];
	char *purpose; /* the form it was made for */
	time_t expires;
};

/* ERR_CONFLICT when the id hash exists. */
int store_captcha_put(struct store *, const unsigned char id_hash[STORE_HASH_LEN],
		      const unsigned char answer_hash[STORE_HASH_LEN], const char *purpose,
		      time_t expires, struct err *);
/*
 * Deletes the CAPTCHA and returns what it held, in one statement (two front ends cannot both
 * take it).  ERR_NOTFOUND when there is none (never made, or taken already).  Expiry is the
 * caller's check.
 */
int store_captcha_take(struct store *, const unsigned char id_hash[STORE_HASH_LEN],
		       struct store_captcha *, struct err *);
/* Deletes CAPTCHAs that expired before now; n (may be NULL) counts them. */
int store_captcha_purge(struct store *, time_t now, int64_t *n, struct err *);
void store_captcha_clear(struct store_captcha *);

/* ---- applications and their one-time tokens (store_app.c, 0007; src/ra) ---- */
struct store_app {
	int64_t id;
	int64_t org_id;
	char *org_code; /* filled by get */
	char *ticket;
	char *applicant_type; /* "self" | "agent" */
	char *email;
	char *state; /* "registered", "mail-verified" (0007); 0008: "submitted",
		      * "awaiting-approval", "approved", "issued", "expired", "cancelled",
		      * "rejected" */
	time_t created;
	time_t expires;
	/* 0008: set at submission (NULL before) */
	char *profile;	     /* the ticket's profile */
	char *subject_email; /* the holder's address (the approval goes there for agents) */
	char *name_kanji;
	char *name_romaji;
	char *ou;
	char *hostnames;	/* server profile: DNS names separated by single spaces */
	char *key_mode;		/* "p256" | "rsa2048" | "csr" */
	char *password_hash;	/* argon2id (crypto_pwhash_str) of the application password */
	char *csr;		/* PEM of a CSR (key_mode csr), or NULL */
	char *cert_serial;	/* once issued */
	int64_t predecessor_id; /* re-issue: the application replaced (0 = none) */
	time_t submitted;	/* 0 = not yet */
	time_t issued;		/* 0 = not yet */
};

/* Adds an application in state registered; *id is its new id.  Joins an open transaction. */
int store_app_add(struct store *, const struct store_app *, int64_t *id, struct err *);
int store_app_get(struct store *, int64_t id, struct store_app *, struct err *);
/* Moves an application from state from to state to; ERR_CONFLICT when it is not in from. */
int store_app_set_state(struct store *, int64_t id, const char *from, const char *to, struct err *);
void store_app_clear(struct store_app *); /* accepts NULL */
/*
 * *n: the applications registered with ticket that are live at now (expires > now, state not
 * cancelled, rejected or expired).  Inside an open transaction on PostgreSQL it also locks the
 * ticket's row until the end of the transaction, so a check followed by store_app_add() cannot race
 * a concurrent twin (SQLite's write transactions are serialised anyway).
 */
int store_app_ticket_live(struct store *, const char *ticket, time_t now, int64_t *n, struct err *);
/*
 * 0008.  Records the issuance request (profile ... password_hash, csr, predecessor_id of a) and
 * moves the application from state from to state to with submitted = when, in one
 * conditional statement: ERR_CONFLICT when it is not in from.
 */
int store_app_submit(struct store *, int64_t id, const char *from, const char *to,
		     const struct store_app *a, time_t when, struct err *);
/*
 * Moves the application from state from to "issued" with its certificate's serial, the
 * BLAKE2b-256 hash of the certificate code and issued = when; ERR_CONFLICT when it is not in
 * from (or the code hash exists).
 */
int store_app_issue(struct store *, int64_t id, const char *from, const char *serial,
		    const unsigned char code_hash[STORE_HASH_LEN], time_t when, struct err *);
/*
 * The application that holds this certificate-code hash (re-issue: e-mail + application
 * password + certificate code; the caller compares subject_email and verifies the password
 * hash).  ERR_NOTFOUND when none.
 */
int store_app_get_by_code(struct store *, const unsigned char code_hash[STORE_HASH_LEN],
			  struct store_app *, struct err *);

/*
 * Downloads of the portal (0008): a PKCS#12 (encrypted by a PIN that is never stored), or an
 * agent's sealed delivery, kept under the hash of a single-use link secret until taken or
 * expired.  A secret only ever reaches a row of its own kind (0012).
 */
enum store_download_kind {
	STORE_DOWNLOAD_PKCS12 = 1, /* the certificate page's PKCS#12 download */
	STORE_DOWNLOAD_DELIVERY,   /* the agent's delivery link: the sealed certificate page */
};
int store_download_put(struct store *, enum store_download_kind,
		       const unsigned char hash[STORE_HASH_LEN], int64_t app_id, const void *data,
		       size_t len, time_t expires, struct err *);
/*
 * Deletes the download of that kind and returns its bytes (*data malloc'ed, caller frees) and
 * application (app_id may be NULL) in one statement; ERR_NOTFOUND when there is none or it
 * expired before now.
 */
int store_download_take(struct store *, enum store_download_kind,
			const unsigned char hash[STORE_HASH_LEN], time_t now, unsigned char **data,
			size_t *len, int64_t *app_id, struct err *);
/* 0 when the download is there and not expired at now (nothing changes); else ERR_NOTFOUND. */
int store_download_peek(struct store *, enum store_download_kind,
			const unsigned char hash[STORE_HASH_LEN], time_t now, struct err *);
/* Deletes downloads that expired before now; n (may be NULL) counts them. */
int store_download_purge(struct store *, time_t now, int64_t *n, struct err *);

/*
 * What a one-time token is for; the table stores the name (store_token_purpose_name()), and a
 * token is found only under the purpose it was made for.
 */
enum store_token_purpose {
	STORE_TOKEN_REGIST_FORM = 0, /* "regist-form": nonce of the registration confirm form */
	STORE_TOKEN_REGIST_VERIFY,   /* "regist-verify": the mailed link that verifies the e-mail */
	STORE_TOKEN_ISSUE_FORM,	     /* "issue-form": the continuation after the mailed link */
	STORE_TOKEN_ISSUE_SUBMIT,    /* "issue-submit": nonce of the issuance confirm form */
	STORE_TOKEN_APPROVE,	     /* "approve": the holder's approval link (agent) */
	STORE_TOKEN_REISSUE_FORM,    /* "reissue-form": nonce of the re-issue confirm form */
	STORE_TOKEN_REVOKE_FORM,     /* "revoke-form": nonce of the revocation confirm form */
	STORE_TOKEN_OFFICER_FORM,    /* "officer-form": nonce of a console form that shows a PIN */
	STORE_TOKEN__MAX,
};

/* The name stored for a purpose ("regist-form", ...); NULL out of range. */
const char *store_token_purpose_name(enum store_token_purpose);

/* A one-time token, known only by the hash of its secret. */
struct store_token {
	int64_t app_id; /* 0 = none */
	time_t expires;
	time_t used; /* 0 = not yet */
};

/*
 * ERR_CONFLICT when the hash exists.  app_id 0 and used 0 are stored as NULL.  A purpose out of
 * range is ERR_INTERNAL (for get and use too).
 */
int store_token_add(struct store *, const unsigned char hash[STORE_HASH_LEN],
		    enum store_token_purpose, int64_t app_id, time_t expires, time_t used,
		    struct err *);
/* ERR_NOTFOUND when there is no token with this hash and purpose. */
int store_token_get(struct store *, const unsigned char hash[STORE_HASH_LEN],
		    enum store_token_purpose, struct store_token *, struct err *);
/* Marks the token used at when, in one conditional statement; ERR_CONFLICT when used already. */
int store_token_use(struct store *, const unsigned char hash[STORE_HASH_LEN],
		    enum store_token_purpose, time_t when, struct err *);

/* ---- client certificates with a key the RA made (store_client.c, 0018) ---- */
struct store_pickup {
	int64_t id;
	char serial[STORE_SERIAL_MAX];
	int64_t org_id;
	unsigned char pin_hash[STORE_HASH_LEN];
	int64_t tries; /* wrong PINs */
	char *state;   /* "open" | "locked" | "taken" | "expired" */
	time_t expires;
	int pin_link;	 /* the PIN was mailed as a second URL */
	int pin_waiting; /* ... and has not been shown yet */
	int p12_waiting; /* the PKCS#12 is still stored */
	time_t created, taken;
};
void store_pickup_clear(struct store_pickup *); /* accepts NULL */
/*
 * Adds an open pickup of p->serial under the URL secret's hash with the PKCS#12 and, when the
 * PIN is mailed, the PIN link's hash and sealed PIN (else NULL); joins a transaction.
 */
int store_pickup_add(struct store *, const struct store_pickup *p,
		     const unsigned char token_hash[STORE_HASH_LEN], const void *p12, size_t p12len,
		     const unsigned char *pin_link_hash, const void *pin_box, size_t boxlen,
		     struct err *);
/* By the URL's or the PIN link's hash; ERR_NOTFOUND. */
int store_pickup_get(struct store *, const unsigned char token_hash[STORE_HASH_LEN],
		     struct store_pickup *, struct err *);
int store_pickup_by_pin(struct store *, const unsigned char pin_link_hash[STORE_HASH_LEN],
			struct store_pickup *, struct err *);
/* A wrong PIN: tries + 1, locked at max; ERR_CONFLICT when the pickup is not open. */
int store_pickup_fail(struct store *, int64_t id, int64_t max, int64_t *tries, int *locked,
		      struct err *);
/* from -> to; ERR_CONFLICT when it is not in from. */
int store_pickup_set_state(struct store *, int64_t id, const char *from, const char *to,
			   struct err *);
/* The PKCS#12, once: open -> taken and the blob cleared; ERR_NOTFOUND when gone. */
int store_pickup_take(struct store *, int64_t id, time_t now, unsigned char **p12, size_t *len,
		      struct err *);
/* The sealed PIN of a PIN link, once (then cleared); ERR_NOTFOUND when gone. */
int store_pickup_pin_take(struct store *, const unsigned char pin_link_hash[STORE_HASH_LEN],
			  unsigned char **box, size_t *len, struct err *);
/*
 * The certificate serial was revoked: its pickup's PKCS#12 and sealed PIN are dropped (an open
 * one: expired).  store_cert_revoke() calls it in the revocation's transaction.
 */
int store_pickup_revoked(struct store *, const char *serial, struct err *);
/* Clears the PKCS#12s, PINs and ZIPs whose time has passed (open pickups: expired). */
int store_client_purge(struct store *, time_t now, struct err *);

struct store_batch {
	int64_t id, org_id, officer_id, count;
	char *admin_email;
	time_t expires, used, created;
	int waiting; /* the ZIP is still there */
};
void store_batch_clear(struct store_batch *); /* accepts NULL */
int store_batch_add(struct store *, const struct store_batch *,
		    const unsigned char dl_hash[STORE_HASH_LEN], const void *zip, size_t ziplen,
		    int64_t *id, struct err *);
/* ERR_NOTFOUND when no ZIP has this hash. */
int store_batch_get(struct store *, const unsigned char dl_hash[STORE_HASH_LEN],
		    struct store_batch *, struct err *);
/* The ZIP, once, before expires: then cleared; ERR_NOTFOUND when gone. */
int store_batch_take(struct store *, const unsigned char dl_hash[STORE_HASH_LEN], time_t now,
		     unsigned char **zip, size_t *len, struct err *);

/* ---- the console's records of the certificates it issues (store_certadmin.c, 0016) ---- */
struct store_certadmin {
	char serial[STORE_SERIAL_MAX];
	int64_t org_id, officer_id;
	char *kind; /* "server", "client", "codesign" */
	char *admin_name, *admin_unit, *admin_email, *server_software;
	char *holder_name, *holder_unit, *holder_email;
	char *replaces;	     /* the serial this one renews, or NULL */
	char *replace_state; /* NULL, "waiting" or "replaced" */
	time_t replace_due, reminded, dl_expires, dl_used, created; /* 0: none */
	int expiry_mail;					    /* bits: 1 30 days, 2 7 days */
};
void store_certadmin_clear(struct store_certadmin *); /* accepts NULL */
/* dl_hash (may be NULL): the user administrator's one-time download URL. */
int store_certadmin_add(struct store *, const struct store_certadmin *,
			const unsigned char *dl_hash, struct err *);
/* ERR_NOTFOUND when the certificate has no record. */
int store_certadmin_get(struct store *, const char *serial, struct store_certadmin *, struct err *);
int store_certadmin_by_dl(struct store *, const unsigned char dl_hash[STORE_HASH_LEN],
			  struct store_certadmin *, struct err *);
/* These return 1 when they changed the row, 0 when its state did not allow it. */
int store_certadmin_dl_use(struct store *, const char *serial, time_t now, struct err *);
int store_certadmin_wait(struct store *, const char *serial, time_t due, struct err *);
/* Only while a renewal of serial is still valid at now (not revoked, not past notAfter). */
int store_certadmin_replaced(struct store *, const char *serial, time_t now, struct err *);
/* Waiting no more (state, due and reminder cleared) when no renewal of serial is valid at now. */
int store_certadmin_unwait(struct store *, const char *serial, time_t now, struct err *);
/* Waiting certificates without a renewal valid at now (at most max); free(*out). */
int store_certadmin_wait_orphans(struct store *, time_t now, size_t max,
				 char (**out)[STORE_SERIAL_MAX], size_t *n, struct err *);
int store_certadmin_reminded(struct store *, const char *serial, time_t now, struct err *);
/* Waiting certificates whose replace_due is at or before now (at most max); free(*out). */
int store_certadmin_waiting_due(struct store *, time_t now, size_t max,
				char (**out)[STORE_SERIAL_MAX], size_t *n, struct err *);
/* Valid console certificates expiring in (now, until] whose reminder bit is unset. */
struct store_expiring {
	char serial[STORE_SERIAL_MAX];
	time_t not_after;
};
int store_certadmin_expiring(struct store *, time_t now, time_t until, int bit, size_t max,
			     struct store_expiring **out, size_t *n, struct err *);
/* Sets the reminder bits: 1 when they were not all set before (this run sends), else 0. */
int store_certadmin_expiry_mark(struct store *, const char *serial, int bits, struct err *);
/* Waiting certificates not reminded yet whose replace_due is at or before before. */
int store_certadmin_remind_due(struct store *, time_t before, size_t max,
			       char (**out)[STORE_SERIAL_MAX], size_t *n, struct err *);
/* The bulk download's selection (the organization's console certificates). */
struct store_certadmin_export_filter {
	int64_t org_id;
	const char *cas[STORE_CAS_MAX]; /* the issuing CAs' names (at least one; NULL: unused) */
	const char *kinds[3];		/* "server", "client", "codesign"; NULL: not asked for */
	int status;			/* -1 any, else enum store_cert_status */
	time_t not_after_min;		/* 0 open: not_after >= this */
	time_t not_after_max;		/* 0 open: not_after < this */
	size_t limit;			/* rows at most */
};
/*
 * Calls row for each certificate (with its DER) and its record, oldest first; both are freed
 * after the call.  A row that returns -1 ends the walk with its error.
 */
int store_certadmin_export(struct store *, const struct store_certadmin_export_filter *,
			   int (*row)(void *arg, const struct store_cert *,
				      const struct store_certadmin *, struct err *),
			   void *arg, struct err *);
/* The organization's records whose user administrator's address is email (at most max). */
int store_certadmin_by_email(struct store *, int64_t org_id, const char *email, size_t max,
			     struct store_certadmin **out, size_t *n, struct err *);
/* A new user administrator for one certificate: 1 changed, 0 no record. */
int store_certadmin_admin_set(struct store *, const char *serial, const char *name,
			      const char *unit, const char *email, struct err *);

/* ---- sessions of the RA officers' console (store_osess.c, 0015; src/ra/osess.c) ---- */
struct store_osess {
	unsigned char id_hash[STORE_HASH_LEN]; /* SHA-256 of the cookie's id */
	int64_t officer_id;
	unsigned char fpr[STORE_HASH_LEN]; /* SHA-256 of the client certificate's DER */
	char client[48];		   /* the address it logged in from */
	time_t created, last_seen;
	time_t ended;	     /* 0: open */
	char end_reason[16]; /* "logout", "timeout", "certificate" ("" while open) */
};
int store_osess_add(struct store *, const struct store_osess *, struct err *);
/* ERR_NOTFOUND when there is none. */
int store_osess_get(struct store *, const unsigned char id_hash[STORE_HASH_LEN],
		    struct store_osess *, struct err *);
/* Sets last_seen of an open session: 1 done, 0 when it has ended, -1 error. */
int store_osess_touch(struct store *, const unsigned char id_hash[STORE_HASH_LEN], time_t now,
		      struct err *);
/* Ends an open session (reason: "logout", "timeout", ...): 1 done, 0 ended already. */
int store_osess_end(struct store *, const unsigned char id_hash[STORE_HASH_LEN], time_t now,
		    const char *reason, struct err *);
/* At most max open sessions last seen before before, oldest first; caller frees *out. */
int store_osess_stale(struct store *, time_t before, size_t max, struct store_osess **out,
		      size_t *n, struct err *);

/* ---- nonces of signed self-service requests (store_nonce.c, 0009; src/ra/online.c) ---- */
/* Records a nonce hash until expires; ERR_CONFLICT when it is present (a replay). */
int store_online_nonce_add(struct store *, const unsigned char hash[STORE_HASH_LEN], time_t expires,
			   struct err *);
/* Deletes nonces that expired before now; n (may be NULL) counts them. */
int store_online_nonce_purge(struct store *, time_t now, int64_t *n, struct err *);

/* ---- re-issue (store_app.c; src/ra/reissue.c) ---- */
/*
 * Adds the application that re-issues a->predecessor_id: state approved, with a's
 * organization, ticket, applicant type and e-mail, its recorded values (profile ...
 * password_hash), created/expires, submitted = created and the hash of its new certificate
 * code.  Joins an open transaction.
 */
int store_app_add_reissue(struct store *, const struct store_app *a,
			  const unsigned char code_hash[STORE_HASH_LEN], int64_t *id, struct err *);
/*
 * The applications of an organization that have a certificate and were made with email as
 * the holder's or the applicant's address, newest first, at most max.
 */
int store_app_list_holder(struct store *, int64_t org_id, const char *email, size_t max,
			  struct store_app **, size_t *, struct err *);
/* Points a used ticket at the certificate that replaced its previous one (re-issue). */
int store_ticket_reassign(struct store *, const char *number, const char *serial, struct err *);

/* ---- web revocation requests (store_revreq.c, 0010; src/ra/revoke.c) ---- */
struct store_revreq {
	int64_t id;
	char serial[STORE_SERIAL_MAX];
	int reason;
	char *email;
	time_t created;
	time_t expires;
	time_t done; /* 0 = pending */
};

/*
 * The certificate a holder names by organization code, ticket and e-mail: the newest
 * application of that organization on that ticket that has a certificate, made with this
 * e-mail as the applicant's or the holder's address (compared without regard to ASCII case).
 * ERR_NOTFOUND when the three do not fit together (the caller must not tell which one is
 * wrong).  *addr (may be NULL; malloc'ed) gets the address as the application recorded it,
 * which is where a link goes: a local part may differ in case from the one typed.
 */
int store_revoke_lookup(struct store *, const char *org_code, const char *ticket, const char *email,
			char serial[STORE_SERIAL_MAX], char **addr, struct err *);
/* The holder's e-mail (subject_email, else the applicant's) of the application behind a
 * certificate; ERR_NOTFOUND when none. */
int store_cert_holder_email(struct store *, const char *serial, char **email, struct err *);
/* Adds a pending request with the hash of its link; joins an open transaction. */
int store_revreq_add(struct store *, const struct store_revreq *,
		     const unsigned char token_hash[STORE_HASH_LEN], struct err *);
/* ERR_NOTFOUND when no request has this link hash. */
int store_revreq_get(struct store *, const unsigned char token_hash[STORE_HASH_LEN],
		     struct store_revreq *, struct err *);
/* Marks a pending request done at when; ERR_CONFLICT when it was done already. */
int store_revreq_done(struct store *, int64_t id, time_t when, struct err *);
/* The requests of a certificate: *all of them, *done of those used. */
int store_revreq_count(struct store *, const char *serial, int64_t *all, int64_t *done,
		       struct err *);
void store_revreq_clear(struct store_revreq *); /* accepts NULL */

/* ---- RA officers (store_officer.c, 0014; src/ra/officer.c) ---- */
struct store_officer {
	int64_t id;
	int64_t org_id; /* 0 = none (CA operators and auditors) */
	char *org_code; /* filled by get and list; NULL without an organization */
	char *org_name; /* likewise */
	char *role;	/* "officer" | "operator" | "auditor" */
	char *name;	/* UTF-8 */
	char *email;
	int64_t perms; /* RA_PERM_* bits */
	char *status;  /* "active" | "disabled" */
	time_t created;
	time_t updated;
};
/* Adds an officer; *id is its new id.  Joins an open transaction. */
int store_officer_add(struct store *, const struct store_officer *, int64_t *id, struct err *);
/* ERR_NOTFOUND when there is no officer id. */
int store_officer_get(struct store *, int64_t id, struct store_officer *, struct err *);
/* The officers of one organization (org_id != 0) or all, by id. */
int store_officer_list(struct store *, int64_t org_id, struct store_officer **, size_t *,
		       struct err *);
/* status "active" | "disabled"; ERR_NOTFOUND when there is no officer id. */
int store_officer_set_status(struct store *, int64_t id, const char *status, time_t when,
			     struct err *);
int store_officer_set_perms(struct store *, int64_t id, int64_t perms, time_t when, struct err *);
void store_officer_clear(struct store_officer *); /* accepts NULL */
/*
 * The active officers whose active certificates all end before before (one of them still
 * valid at now) and who have no open enrolment valid at now: their renewal is due.  *ids:
 * caller frees.
 */
int store_officer_renew_due(struct store *, time_t before, time_t now, int64_t **ids, size_t *n,
			    struct err *);

/* An officer's enrolment: the mailed URL and access PIN (hashes only). */
struct store_enrol {
	int64_t id;
	int64_t officer_id;
	unsigned char pin_hash[STORE_HASH_LEN];
	int64_t tries; /* wrong PINs */
	time_t expires;
	char *state;	   /* "open" | "locked" | "issued" | "expired" */
	char *kind;	   /* "enrol" | "renew" */
	char *cert_serial; /* once issued, else NULL */
	time_t created;
	time_t issued; /* 0 = not yet */
};
/* Adds an open enrolment under the URL secret's hash; joins an open transaction. */
int store_enrol_add(struct store *, const struct store_enrol *,
		    const unsigned char token_hash[STORE_HASH_LEN], int64_t *id, struct err *);
/* ERR_NOTFOUND when no enrolment has this hash. */
int store_enrol_get(struct store *, const unsigned char token_hash[STORE_HASH_LEN],
		    struct store_enrol *, struct err *);
void store_enrol_clear(struct store_enrol *); /* accepts NULL */
/*
 * A wrong PIN, in one conditional statement: tries + 1, and the state "locked" when tries
 * reaches max.  ERR_CONFLICT when the enrolment is not open (anymore).
 */
int store_enrol_fail(struct store *, int64_t id, int64_t max, int64_t *tries, int *locked,
		     struct err *);
/* Moves an enrolment from state from to to; ERR_CONFLICT when it is not in from. */
int store_enrol_set_state(struct store *, int64_t id, const char *from, const char *to,
			  struct err *);
/*
 * open -> issued with the certificate's serial and its PKCS#12 (kept under dl_hash until
 * dl_expires or its first download), in one conditional statement: ERR_CONFLICT when the
 * enrolment is not open (a twin issued it).
 */
int store_enrol_issue(struct store *, int64_t id, const char *serial, const void *p12, size_t len,
		      const unsigned char dl_hash[STORE_HASH_LEN], time_t dl_expires, time_t when,
		      struct err *);
/* Takes the PKCS#12 (cleared in the same statement); ERR_NOTFOUND when gone or expired. */
int store_enrol_p12_take(struct store *, const unsigned char dl_hash[STORE_HASH_LEN], time_t now,
			 unsigned char **data, size_t *len, struct err *);
/* Clears the PKCS#12 of enrolments whose download expired before now. */
int store_enrol_p12_purge(struct store *, time_t now, int64_t *n, struct err *);
/* Marks an officer's open enrolments expired (a new one replaces them). */
int store_enrol_close_open(struct store *, int64_t officer_id, struct err *);
/* The officer's open enrolments of kind valid at now. */
int store_enrol_open_count(struct store *, int64_t officer_id, const char *kind, time_t now,
			   int64_t *count, struct err *);

/* An officer's certificate (the certificate itself is in certificates). */
struct store_officer_cert {
	int64_t id; /* a higher id is a newer certificate */
	char serial[STORE_SERIAL_MAX];
	int64_t officer_id;
	unsigned char fpr[STORE_HASH_LEN]; /* SHA-256 of the DER */
	char *status;			   /* "active" | "superseded" | "revoked" */
	time_t not_after;
	time_t first_login; /* 0 = never */
	time_t created;
};
/* ERR_CONFLICT when the serial or the fingerprint exists. */
int store_officer_cert_add(struct store *, const struct store_officer_cert *, struct err *);
/* ERR_NOTFOUND when no officer certificate has this fingerprint. */
int store_officer_cert_by_fpr(struct store *, const unsigned char fpr[STORE_HASH_LEN],
			      struct store_officer_cert *, struct err *);
/* The officer's certificates, oldest first. */
int store_officer_cert_list(struct store *, int64_t officer_id, struct store_officer_cert **,
			    size_t *, struct err *);
/* The active certificates that a newer active one of their officer made at or before cutoff
 * supersedes. */
int store_officer_cert_supersede_due(struct store *, time_t cutoff, struct store_officer_cert **,
				     size_t *n, struct err *);
/* Moves a certificate from status from to to; ERR_CONFLICT when it is not in from. */
int store_officer_cert_set_status(struct store *, const char *serial, const char *from,
				  const char *to, struct err *);
/* Records the first login (*first 1 when this call did, 0 when one was recorded before). */
int store_officer_cert_login(struct store *, const char *serial, time_t when, int *first,
			     struct err *);
void store_officer_cert_clear(struct store_officer_cert *); /* accepts NULL */

/* ---- key/value settings of the instance (store_counter.c; ticket sequence, TSA serial) ---- */
/* Atomically adds delta to a named counter and returns the new value (starting at 0). */
int store_counter_add(struct store *, const char *name, int64_t delta, int64_t *value,
		      struct err *);
/* Reads a counter without writing (0 when it was never set): cheap, fine on a replica. */
int store_counter_get(struct store *, const char *name, int64_t *value, struct err *);

/* ---- the OU allow-list (store_allowlist.c, 0017; src/ra/allowlist.c) ---- */
struct store_allow {
	int64_t org_id;
	char *domain; /* a DNS domain of the organization (lower case) */
	char *ou;     /* UTF-8 */
	time_t created;
};
/* Adds an entry; ERR_CONFLICT when it exists.  Joins an open transaction. */
int store_allow_add(struct store *, const struct store_allow *, struct err *);
/* Removes an entry; ERR_NOTFOUND when there is none.  Joins an open transaction. */
int store_allow_remove(struct store *, int64_t org_id, const char *domain, const char *ou,
		       struct err *);
/* The entries of an organization (org_id != 0) or all, by organization, domain, OU. */
int store_allow_list(struct store *, int64_t org_id, struct store_allow **, size_t *, struct err *);
void store_allow_clear(struct store_allow *); /* accepts NULL */

/* ---- ACME (store_acme.c, 0019; src/ra/acme.c) ---- */
#define STORE_ACME_NONCE_ID 16 /* the random part of a nonce, kept once used */
#define STORE_ACME_KID_MAX 64  /* an EAB key id + NUL */

/* Records a nonce as used until expires; ERR_CONFLICT when it was used before. */
int store_acme_nonce_use(struct store *, const unsigned char id[STORE_ACME_NONCE_ID],
			 time_t expires, struct err *);
/* Deletes the used nonces that expired before now; *n (may be NULL) how many. */
int store_acme_nonce_purge(struct store *, time_t now, int64_t *n, struct err *);

struct store_acme_account {
	int64_t id;
	unsigned char thumb[STORE_HASH_LEN]; /* RFC 7638 SHA-256 thumbprint of its key */
	char *jwk;			     /* the key's canonical JSON */
	char *status;			     /* "valid", "deactivated", "revoked" */
	char *contact;			     /* JSON array of mailto: URLs */
	int tos_agreed;
	int64_t org_id; /* 0: none */
	int64_t eab_id; /* 0: none */
	time_t created, updated;
};
/* Inserts a (valid) account and sets a->id; ERR_CONFLICT when its key has an account. */
int store_acme_account_add(struct store *, struct store_acme_account *, struct err *);
/* ERR_NOTFOUND when there is no such account. */
int store_acme_account_get(struct store *, int64_t id, struct store_acme_account *, struct err *);
int store_acme_account_by_thumb(struct store *, const unsigned char thumb[STORE_HASH_LEN],
				struct store_acme_account *, struct err *);
/* Replaces the contact of a valid account; ERR_CONFLICT when it is not valid. */
int store_acme_account_set_contact(struct store *, int64_t id, const char *contact, time_t now,
				   struct err *);
/* Moves a valid account to status; ERR_CONFLICT when it is not valid (any more). */
int store_acme_account_set_status(struct store *, int64_t id, const char *status, time_t now,
				  struct err *);
/*
 * Replaces the key of a valid account whose key is still old (the thumbprint): ERR_CONFLICT
 * when the new key has an account or the account changed meanwhile.
 */
int store_acme_account_set_key(struct store *, int64_t id, const unsigned char old[STORE_HASH_LEN],
			       const unsigned char thumb[STORE_HASH_LEN], const char *jwk,
			       time_t now, struct err *);
void store_acme_account_clear(struct store_acme_account *); /* accepts NULL */

struct store_acme_eab {
	int64_t id;
	char kid[STORE_ACME_KID_MAX];
	int64_t org_id;
	char *org_code; /* filled by get */
	char *names;	/* comma-separated names, "" for the organization's domains */
	unsigned char *sealed;
	size_t sealedlen;
	char *status;	    /* "active", "suspended", "revoked" */
	int64_t account_id; /* 0: not bound yet */
	time_t created, bound;
};
/* Inserts a binding and sets b->id; ERR_CONFLICT when the key id exists. */
int store_acme_eab_add(struct store *, struct store_acme_eab *, struct err *);
/* ERR_NOTFOUND when there is no binding with this key id. */
int store_acme_eab_get(struct store *, const char *kid, struct store_acme_eab *, struct err *);
int store_acme_eab_get_id(struct store *, int64_t id, struct store_acme_eab *, struct err *);
/* Binds an active, unbound binding to an account; ERR_CONFLICT when it is not (any more). */
int store_acme_eab_bind(struct store *, int64_t id, int64_t account_id, time_t now, struct err *);
/* Sets the status; ERR_NOTFOUND when there is no such key id. */
int store_acme_eab_set_status(struct store *, const char *kid, const char *status, struct err *);
/* An organization's bindings, newest first, at most max (caller frees each and the array). */
int store_acme_eab_list(struct store *, int64_t org_id, size_t max, struct store_acme_eab **,
			size_t *, struct err *);
/* Sets the names; ERR_NOTFOUND when there is no such key id or it is revoked. */
int store_acme_eab_set_names(struct store *, const char *kid, const char *names, struct err *);
void store_acme_eab_clear(struct store_acme_eab *); /* accepts NULL */

/* ---- ACME orders and authorizations (store_acme_order.c, 0020; src/ra/acmeorder.c) ---- */
struct store_acme_order {
	int64_t id, account_id;
	char *status;	   /* "pending", "ready", "processing", "valid", "invalid" */
	char *identifiers; /* JSON array of {type, value} */
	time_t expires;
	char *serial; /* the certificate once valid, else NULL */
	time_t created, updated;
	char *profile;	       /* the certificate profile asked for (0024; "server" by default) */
	char *replaces;	       /* the serial of the certificate it replaces (RFC 9773), or NULL */
	char *replaces_certid; /* ... and the certID the client named it by */
	char *error;	       /* 0028: the problem document (JSON) of an order given up */
};
/* Inserts a pending order and sets o->id. */
int store_acme_order_add(struct store *, struct store_acme_order *, struct err *);
/* ERR_NOTFOUND when there is no such order. */
int store_acme_order_get(struct store *, int64_t id, struct store_acme_order *, struct err *);
/*
 * Moves an order from status from to to (serial: set when not NULL) when it is from and, with
 * before != 0, has not moved since before; ERR_CONFLICT otherwise.
 */
int store_acme_order_move(struct store *, int64_t id, const char *from, const char *to,
			  const char *serial, time_t now, time_t before, struct err *);
/* The ids (at most max, into ids) of the orders processing since before updated. */
int store_acme_order_stale_processing(struct store *, time_t before, int64_t *ids, size_t max,
				      size_t *n, struct err *);
/* Order id processing and not moved since before -> invalid with error; else ERR_CONFLICT. */
int store_acme_order_fail(struct store *, int64_t id, const char *error, time_t now, time_t before,
			  struct err *);
/* The account whose order holds certificate serial; ERR_NOTFOUND when no order does. */
int store_acme_order_by_serial(struct store *, const char *serial, int64_t *account_id,
			       struct err *);
/*
 * The orders list of an account (RFC 8555 7.1.2.1): at most limit ids above after, ascending,
 * of its orders that are not invalid and are valid or not expired at now (*ids allocated).
 */
int store_acme_order_list(struct store *, int64_t account_id, int64_t after, time_t now,
			  size_t limit, int64_t **ids, size_t *n, struct err *);
/* The (first) order that holds certificate serial; ERR_NOTFOUND when none does. */
int store_acme_order_of_serial(struct store *, const char *serial, struct store_acme_order *,
			       struct err *);
/*
 * The order other than except that replaces certificate serial and is processing or valid
 * (RFC 9773 5; the unique index acme_orders_replaced): *id, or 0 when none.
 */
int store_acme_order_replacing(struct store *, const char *serial, int64_t except, int64_t *id,
			       struct err *);
void store_acme_order_clear(struct store_acme_order *); /* accepts NULL */

struct store_acme_authz {
	int64_t id, order_id, account_id; /* order_id: the order it was made for (0: newAuthz) */
	char type[8];			  /* "dns", "ip" */
	char *value;
	char *status; /* "pending", "valid", "invalid", ... */
	time_t expires;
	char *token;	    /* the first challenge's token (0022: acme_challs has each's) */
	char *chall_status; /* the attempt: "pending", "processing", "valid", "invalid" */
	time_t validated;   /* 0: not yet */
	char *error;	    /* the challenge's problem document (JSON), or NULL */
	time_t updated;	    /* the last move (0021; 0: none) */
	int wildcard;	    /* 0022: the order named *.value */
};
/* Inserts a pending authorization (its attempt pending) and sets a->id; challenges apart. */
int store_acme_authz_add(struct store *, struct store_acme_authz *, struct err *);
/* ERR_NOTFOUND when there is no such authorization. */
int store_acme_authz_get(struct store *, int64_t id, struct store_acme_authz *, struct err *);
/* The authorizations of an order (acme_order_authzs), by id. */
int store_acme_authz_list(struct store *, int64_t order_id, struct store_acme_authz **, size_t *,
			  struct err *);
/*
 * Sets an authorization's challenge's status, error (NULL: none), validation time (now, none
 * while processing) and updated (now) when the challenge is still chall_from and, with before
 * != 0, has not moved since before; ERR_CONFLICT otherwise.  The authorization takes status
 * only while it is pending (a deactivated or expired one keeps its own), and expires
 * valid_until when it becomes valid (the end of its reuse period).
 */
int store_acme_authz_move(struct store *, int64_t id, const char *chall_from, const char *status,
			  const char *chall_status, const char *error, time_t now, time_t before,
			  time_t valid_until, struct err *);
/* Moves an authorization from status from to to (deactivated, expired); ERR_CONFLICT when it
 * is not from. */
int store_acme_authz_set_status(struct store *, int64_t id, const char *from, const char *to,
				time_t now, struct err *);
/* Links authorization authz_id to order order_id (0023, acme_order_authzs). */
int store_acme_authz_link(struct store *, int64_t order_id, int64_t authz_id, struct err *);
/*
 * The most orders one authorization serves: store_acme_authz_find (newOrder's reuse) passes
 * over a fuller one, so that the walks of an authorization's orders (deactivation, a
 * validation's outcome following its orders) read at most this many.
 */
#define STORE_ACME_AUTHZ_ORDERS_MAX 100
/*
 * The orders (ids, caller frees) an authorization serves that are still pending or ready (the
 * only ones that follow it), at most STORE_ACME_AUTHZ_ORDERS_MAX.
 */
int store_acme_authz_orders(struct store *, int64_t authz_id, int64_t **out, size_t *n,
			    struct err *);
/*
 * The usable authorization of account_id for identifier (type, value, a wildcard's base when
 * wildcard) into *id (0: none):
 * valid and not expired at now, or with !valid_only pending and not expired; a valid one
 * first, then the newest; with !valid_only (reuse by an order) none that serves
 * STORE_ACME_AUTHZ_ORDERS_MAX orders already.
 */
int store_acme_authz_find(struct store *, int64_t account_id, const char *type, const char *value,
			  int wildcard, int valid_only, time_t now, int64_t *id, struct err *);
void store_acme_authz_clear(struct store_acme_authz *); /* accepts NULL */
/*
 * Inside finalize's certificate transaction (0029): reads order_id's authorizations and sets
 * *bad to the first one that is not valid or has expired at now (0: all usable), its status
 * into status (n bytes).  No row lock: the transaction holds the audit head (PostgreSQL's
 * FOR UPDATE of cert.issue's entry, SQLite's one writer), which a deactivation or revocation
 * needs to commit too, so one that commits before the issuance is seen here and any other
 * comes after it (a row lock here would wait for a deactivation that waits for the head).
 */
int store_acme_order_authzs_hold(struct store *, int64_t order_id, time_t now, int64_t *bad,
				 char *status, size_t n, struct err *);
/* A valid DNS authorization whose CAA check is older than wanted (0029). */
struct store_acme_caa_due {
	int64_t authz_id;
	char *value; /* the name (a wildcard's base) */
	int wildcard;
	char method[16]; /* the type of its valid challenge */
};
/* order_id's valid DNS authorizations whose CAA was last checked before before (caller frees
 * each value and the array). */
int store_acme_order_caa_due(struct store *, int64_t order_id, time_t before,
			     struct store_acme_caa_due **out, size_t *n, struct err *);
/* Records that CAA let this CA issue for valid authorization id at at (0029). */
int store_acme_authz_caa_set(struct store *, int64_t id, time_t at, struct err *);
/* A challenge of an authorization (0022). */
struct store_acme_chall {
	int64_t id, authz_id;
	char type[16]; /* "http-01", "dns-01", "tls-alpn-01" */
	char *token;
	char *status;	  /* "pending", "processing", "valid", "invalid" */
	time_t validated; /* 0: not yet */
	char *error;	  /* its problem document (JSON), or NULL */
	time_t updated;	  /* the last move (0: none) */
};
/* Inserts a pending challenge and sets c->id. */
int store_acme_chall_add(struct store *, struct store_acme_chall *, struct err *);
/* ERR_NOTFOUND when there is no such challenge. */
int store_acme_chall_get(struct store *, int64_t id, struct store_acme_chall *, struct err *);
/* The challenges of an authorization, by id. */
int store_acme_chall_list(struct store *, int64_t authz_id, struct store_acme_chall **, size_t *,
			  struct err *);
/*
 * Moves a challenge from status from to to with its error (NULL: none), its validation time
 * (now, none while processing) and updated (now); ERR_CONFLICT when it is not from.
 */
int store_acme_chall_move(struct store *, int64_t id, const char *from, const char *to,
			  const char *error, time_t now, struct err *);
void store_acme_chall_clear(struct store_acme_chall *); /* accepts NULL */
/* Records a failed validation of name (the later rate limit's count). */
int store_acme_failed_add(struct store *, const char *name, int64_t account_id, time_t at,
			  struct err *);
/* The failed validations of name since since. */
int store_acme_failed_count(struct store *, const char *name, time_t since, int64_t *n,
			    struct err *);

/* ---- ACME rate limits (store_acme_limit.c, 0025; src/ra/acmelimit.c) ---- */
enum store_acme_limit {
	STORE_ACME_LIMIT_ORDERS = 0, /* new orders of account key_id */
	STORE_ACME_LIMIT_CERTS,	     /* certificates of organization key_id under domain key */
	STORE_ACME_LIMIT_FAILED,     /* failed validations by account key_id of name key */
	STORE_ACME_LIMIT_ACCOUNTS,   /* accounts created from client address key */
	STORE_ACME_LIMIT__MAX
};
/*
 * The events of one key since since, at most max of them counted (an indexed range scan cut
 * at max), into *n, and the time of the oldest counted into *oldest (0: none).
 */
int store_acme_limit_count(struct store *, enum store_acme_limit, const char *key, int64_t key_id,
			   time_t since, int64_t max, int64_t *n, time_t *oldest, struct err *);
/*
 * Records a certificate issued through ACME to organization org_id under a registered domain
 * (its transaction).
 */
int store_acme_cert_domain_add(struct store *, int64_t org_id, const char *domain,
			       const char *serial, time_t at, struct err *);
/* Records the client address that created an account (its transaction). */
int store_acme_account_set_addr(struct store *, int64_t id, const char *addr, struct err *);
/*
 * Deletes the certificates' domains recorded before certs_before and the failed validations
 * before failed_before (never counted again); *n (may be NULL) how many rows.
 */
int store_acme_limit_purge(struct store *, time_t certs_before, time_t failed_before, int64_t *n,
			   struct err *);

#endif
