/*
 * mail: outgoing mail.  Messages are composed here (RFC 5322, UTF-8 MIME, RFC 2047 subjects),
 * queued in the store in the transaction of the business change that causes them, and
 * delivered by a sender that drains the queue into a maildir (<datadir>/outbox, the default)
 * or through SMTP (libcurl), retrying with exponential backoff so that nothing is lost while
 * the SMTP server is down.
 *
 * Configuration (shomei.conf):
 *   mail.delivery          maildir (default) | smtp
 *   mail.from              envelope and header sender, e.g. ca@example.jp (required to enqueue)
 *   mail.from_name         display name of From (UTF-8, optional)
 *   mail.domain            Message-ID domain (default: the domain of mail.from)
 *   mail.outbox            maildir directory (default <datadir>/outbox)
 *   mail.transfer_encoding base64 (default) | quoted-printable
 *   mail.smtp_url          smtp://host:port or smtps://host:port
 *   mail.smtp_starttls     yes | no (default no; yes requires STARTTLS: CURLOPT_USE_SSL)
 *   mail.smtp_user, mail.smtp_password or mail.smtp_password_env
 *   mail.smtp_cafile       CA file for TLS (default: the system's)
 *   mail.smtp_timeout      seconds per attempt (default 30)
 *   mail.max_age_hours     give up after this long (default 72)
 *   mail.key_file          the queue's sealing key (default keys/mail.key, made on first use)
 *
 * Queued bodies are sealed (seal.c): XChaCha20-Poly1305 under a key kept outside the store,
 * with the row's id, sender and recipient as associated data, so the store holds neither the
 * one-time links nor the certificate codes in clear, and a sealed body cannot be moved to
 * another row or another recipient.
 */
#ifndef SHOMEI_MAIL_H
#define SHOMEI_MAIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store/store.h"
#include "util/util.h"

#define MAIL_ADDR_MAX 254    /* RFC 5321 4.5.3.1.3 path, less the brackets */
#define MAIL_SUBJECT_MAX 998 /* bytes of UTF-8 */
#define MAIL_BODY_MAX (256 * 1024)
#define MAIL_MSG_MAX (1024 * 1024) /* a composed message */

#define MAIL_BACKOFF_FIRST 30 /* seconds before the second attempt */
#define MAIL_BACKOFF_MAX 3600 /* the delay doubles up to this */

enum mail_cte {
	MAIL_CTE_BASE64 = 0,
	MAIL_CTE_QP = 1, /* quoted-printable */
};

enum mail_delivery {
	MAIL_DELIVERY_MAILDIR = 0,
	MAIL_DELIVERY_SMTP = 1,
};

/* A message to compose.  All text is UTF-8; nothing is owned. */
struct mail_msg {
	const char *from;      /* address only: local@domain */
	const char *from_name; /* display name, or NULL */
	const char *to;	       /* address only */
	const char *subject;
	const char *body;	  /* LF or CRLF line ends */
	const char *msgid_domain; /* NULL: the domain of from */
	enum mail_cte cte;
};

/*
 * Composes msg into out (appended; CRLF line ends, every line <= 78 octets).  ERR_REFUSED when
 * an address fails the grammar, a text is not UTF-8 or holds a control character (CR and LF
 * included: no header injection), or a limit is exceeded.
 */
int mail_compose(const struct mail_msg *, struct buf *out, struct err *);

/*
 * The strict address grammar: dot-atom local part (<= 64) "@" a DNS name of at least two
 * labels of letters, digits and inner hyphens; no quoting, comments or IP literals.
 * 1 valid, 0 not.
 */
int mail_addr_valid(const char *);

/* Seconds before attempt n+1 after n failed attempts (n >= 1): 30, 60, 120 ... capped at 1 h. */
long mail_backoff(int64_t attempts);

#define MAIL_KEY_LEN 32 /* crypto_aead_xchacha20poly1305_ietf_KEYBYTES */

/*
 * Delivery settings read from shomei.conf; the SMTP password and the queue key are wiped by
 * mail_conf_clear.  mail_conf_load does not read the key (it may be out of reach by then: the
 * web process reads keys/ before it drops its privileges): mail_key_load does.
 */
struct mail_conf {
	enum mail_delivery delivery;
	enum mail_cte cte;
	char *from;
	char *from_name; /* NULL when unset */
	char *domain;
	char *outbox; /* maildir directory */
	char *smtp_url;
	int smtp_starttls;
	char *smtp_user;
	char *smtp_password; /* secret */
	char *smtp_cafile;
	long smtp_timeout;
	long max_age;			 /* seconds */
	unsigned char key[MAIL_KEY_LEN]; /* the queue's sealing key; secret */
	int have_key;			 /* mail_enqueue and mail_queue_run need it */
};

int mail_conf_load(struct mail_conf *, const struct conf *, const char *datadir, struct err *);
void mail_conf_clear(struct mail_conf *);
/*
 * Reads the queue's sealing key (mail.key_file, default keys/mail.key beside the
 * configuration) into key, making it on first use (O_EXCL, 0600).  Whoever queues or delivers
 * mail needs the same key: the web process (before it drops its privileges) and
 * `shomei mail flush`.  The caller wipes key.
 */
int mail_key_load(const struct conf *, unsigned char key[MAIL_KEY_LEN], struct err *);
/* Copies key into mc (have_key set). */
void mail_conf_set_key(struct mail_conf *, const unsigned char key[MAIL_KEY_LEN]);
/* The configuration keys mail_conf_load reads (NULL-terminated; see conf_check_keys). */
extern const char *const mail_conf_keys[];

/*
 * Composes msg, seals it and queues it in the store, joining the caller's open transaction
 * (so the mail exists if and only if the business change commits; without one, in a
 * transaction of its own).  msg->from NULL takes conf's sender, msg->from_name NULL conf's
 * display name.  id may be NULL.  ERR_INTERNAL without a key (mail_key_load).
 */
int mail_enqueue(const struct mail_conf *, struct store *, const struct mail_msg *, int64_t *id,
		 struct err *);

/*
 * Seals text (len bytes) for the queue row id with its sender and recipient: "shomei-seal1:"
 * and base64url of nonce, ciphertext and tag.  Caller frees.
 */
char *mail_seal(const unsigned char key[MAIL_KEY_LEN], int64_t id, const char *sender,
		const char *recipient, const char *text, size_t len);
/*
 * The message of a claimed row, as it is to be delivered, into out (initialised here; the
 * caller frees it with buf_free, which wipes): a sealed body opened, or a plaintext body
 * queued before bodies were sealed, as it is.  ERR_REFUSED when a sealed body does not open
 * (altered, moved from another row or recipient, or sealed under another key) or the body is
 * empty: such a mail must not be sent.
 */
int mail_body_open(const struct mail_conf *, const struct store_mail *, struct buf *out,
		   struct err *);

/* Writes one message into the maildir dir (tmp/, synced, renamed into new/); LF line ends. */
int mail_maildir_write(const char *dir, const void *msg, size_t len, struct err *);
/*
 * The same for n messages at once, with one sync for all (not one per message): errs[i] is
 * each one's outcome (ERR_OK: in new/ and durable); -1 when any failed.
 */
int mail_maildir_write_many(const char *dir, const char *const *msgs, const size_t *lens, size_t n,
			    struct err *errs);

/* Sends one message through SMTP (libcurl). */
int mail_smtp_send(const struct mail_conf *, const char *sender, const char *recipient,
		   const void *msg, size_t len, struct err *);

/*
 * Claims up to max due messages and delivers each: sent, or rescheduled with backoff, or
 * failed (and logged) once older than max_age.  A body that mail_body_open refuses is never
 * delivered: failed at once, with a warning naming the mail.  *sent / *retried / *failed may
 * be NULL.  Fails only when the store does, or without a key; delivery errors are per message.
 */
struct mail_run_stats {
	size_t sent, retried, failed;
};
int mail_queue_run(const struct mail_conf *, struct store *, size_t max, struct mail_run_stats *,
		   struct err *);

/*
 * A background thread that opens its own store connection (store_spec as for store_open)
 * and runs the queue every interval seconds, and at once after a commit that queued mail (the
 * store calls it back), until mail_sender_stop (which joins it).
 * conf and key (from mail_key_load, read before the caller lost access to it) are copied.
 */
struct mail_sender;
int mail_sender_start(const struct conf *, const char *datadir, const char *store_spec,
		      const unsigned char key[MAIL_KEY_LEN], unsigned interval,
		      struct mail_sender **, struct err *);
void mail_sender_stop(struct mail_sender *); /* accepts NULL */

#endif
