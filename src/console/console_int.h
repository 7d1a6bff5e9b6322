/*
 * console_int.h: what the console's files share (not for other modules).
 */
#ifndef SHOMEI_CONSOLE_INT_H
#define SHOMEI_CONSOLE_INT_H

#include "console.h"
#include "web/web.h"

#define CONSOLE_CERT_MAX 16384 /* bytes of a client certificate the console reads */

struct console {
	struct web_site site; /* the console listener's pages */
	/*
	 * The console's pages on the public listener (enrolment, the user administrator's
	 * download, the client pickup): a cookie and a secret of their own (derived from the
	 * console's with a label of its own), so that no CSRF token, sealed form or session id
	 * made there is worth anything on the console, and none of the console's there.  Its
	 * templates are the console's (tmpl is borrowed).
	 */
	struct web_site pub;
	long idle_s;	     /* console.idle_timeout */
	long bulk_delay_ms;  /* test.bulk_line_delay_ms: a TEST instance's bulk job, slowed */
	char *client_ca_pem; /* the officer-issuing CA certificate(s): the TLS request names them */
	char *tsa_chain_pem; /* the TSA certificate, its CA and the root ("" without a TSA) */
	char *tsa_url;	     /* base_url + /tsa */
	struct console_mail mail;      /* the officers' and user administrators' mails */
	int acme_on;		       /* acme.enabled: the ACME enrolment pages and TSV */
	struct ra_acme_keys acme_keys; /* acme.key_file's: seal the bindings' HMAC keys */
};
extern struct console console;

/* Who a request of the console comes from, once console_gate() let it through. */
struct console_who {
	struct ra_officer o;
	unsigned char fpr[STORE_HASH_LEN]; /* SHA-256 of the client certificate */
	char subject[256];		   /* the certificate's subject (RFC 4514) */
	time_t not_after;
};

/*
 * Every page of the console but the login page starts here: the client certificate is an
 * officer's (else the page saying what is wrong and what to do), the session is open and
 * bound to that certificate (else the login page, with why), and the officer's role and
 * permissions allow the page (roles: a mask of 1 << RA_ROLE_*; perms: any of these bits, 0
 * for none needed).  Returns 1 when it answered itself (*rc set), 0 to go on.
 */
int console_gate(struct web_ctx *, unsigned roles, unsigned perms, struct console_who *, int *rc);
/* The client certificate alone (no session): an officer's, else the refusal page (1, *rc). */
int console_cert_officer(struct web_ctx *, struct console_who *, int *rc);
/* Base values of a console page for who (NULL: not logged in). */
struct tmpl_data *console_data(const struct web_ctx *, const struct console_who *,
			       const char *title_msgid);
/* Appends "&name=value" to a query string b (value percent-encoded) when value is not empty. */
void console_qs_add(struct buf *b, const char *name, const char *value);
/* Roles allowed everywhere an officer is. */
#define CONSOLE_ROLES_ALL                                                                          \
	((1u << RA_ROLE_OFFICER) | (1u << RA_ROLE_OPERATOR) | (1u << RA_ROLE_AUDITOR))

/* Handlers (console.c, gate.c, pages.c, stats.c, audit.c). */
int console_index_get(struct http_req *);
int console_login_post(struct http_req *);
int console_logout_post(struct http_req *);
int console_timestamp_get(struct http_req *);
int console_timestamp_chain_get(struct http_req *);
int console_enrol_get(struct http_req *);
int console_enrol_post(struct http_req *);
int console_renew_get(struct http_req *);
int console_renew_post(struct http_req *);
int console_download_post(struct http_req *);
int console_pub_download_post(struct http_req *);
int console_certs_get(struct http_req *);
int console_cert_new_get(struct http_req *);
int console_cert_new_post(struct http_req *);
int console_cert_view_get(struct http_req *);
int console_cert_revoke_post(struct http_req *);
int console_revoke_all_get(struct http_req *);
int console_revoke_all_post(struct http_req *);
int console_dl_get(struct http_req *);
int console_dl_post(struct http_req *);
/*
 * The form's client certificate with a key made here (client.c): issues it with delivery d
 * and answers the page; a refusal leaves the answer to the caller (error, *status set, 0).
 */
int console_client_issue(struct web_ctx *, const struct console_who *, const struct web_form *,
			 enum ra_client_delivery d, char *error, size_t errlen, int *status);
int console_client_get(struct http_req *);
int console_client_post(struct http_req *);
/* The CA operator's pages (operator.c) and the allow-list download. */
int console_op_officers_get(struct http_req *);
int console_op_officer_add_get(struct http_req *);
int console_op_officer_add_post(struct http_req *);
int console_op_officer_status_post(struct http_req *);
int console_op_officer_perms_post(struct http_req *);
int console_op_officer_reenrol_post(struct http_req *);
int console_op_orgs_get(struct http_req *);
int console_op_org_add_post(struct http_req *);
int console_op_org_edit_get(struct http_req *);
int console_op_org_edit_post(struct http_req *);
int console_op_allowlist_get(struct http_req *);
int console_op_allowlist_add_post(struct http_req *);
int console_op_allowlist_remove_post(struct http_req *);
int console_allowlist_tsv_get(struct http_req *);
int console_stats_get(struct http_req *); /* stats.c */
int console_stats_tsv_get(struct http_req *);
int console_download_get(struct http_req *); /* download.c */
int console_admins_get(struct http_req *);   /* admins.c */
int console_admins_rename_post(struct http_req *);
int console_admins_tsv_post(struct http_req *);
int console_cert_admin_post(struct http_req *);
int console_audit_get(struct http_req *); /* audit.c */
int console_audit_verify_post(struct http_req *);
int console_eab_get(struct http_req *); /* eab.c */
int console_eab_create_post(struct http_req *);
int console_eab_status_post(struct http_req *);
int console_bulk_get(struct http_req *); /* bulk.c */
int console_bulk_post(struct http_req *);
int console_bulk_commit_post(struct http_req *);
int console_bulk_result_post(struct http_req *);
int console_bulk_job_get(struct http_req *);
int console_bulk_keys_post(struct http_req *);

/* ---- bulk commits off the request thread (bulkjob.c) ---- */
#define CONSOLE_BULK_JOBS_MAX 8	  /* jobs kept at once: queued, running or finished */
#define CONSOLE_BULK_JOB_TTL 3600 /* seconds a finished job's result is kept */
#define CONSOLE_BULK_JOB_ID 33	  /* 128 random bits in hex, and the NUL */

/* What a job's page shows: a copy made under the job table's lock. */
struct console_bulk_view {
	enum ra_bulk_kind kind;
	enum ra_bulk_mode mode;
	int queued, finished, failed;
	size_t ahead; /* queued: jobs before this one */
	int pass;     /* running: 0 checking, 1 committing */
	size_t done, total;
	/* finished: */
	enum tsv_encoding encoding;
	struct ra_bulk_outcome *out; /* a copy; the caller frees */
	size_t nout;
	struct ra_bulk_counts c;
	struct err e; /* failed: why; done: a failure after the lines (the audit entry) */
	/* done: the ZIPs of download method 2 lines with their passwords (the caller wipes and
	 * frees them), and the EAB credentials of ACME create lines: taken only by the POST of
	 * the result page's "show" button (CONSOLE_BULK_TAKE_*), never by a GET (a link preview,
	 * a prefetch or a reload must not consume them); NULL: none, or not taken.  *_waiting:
	 * how many wait; *_shown: when they were shown (0: not yet) */
	struct ra_bulk_zips *zips;
	size_t zips_waiting;
	time_t zips_shown;
	struct ra_bulk_eabs *eabs;
	size_t eabs_waiting;
	time_t eabs_shown;
	char id[CONSOLE_BULK_JOB_ID]; /* the job's */
};

/*
 * A job slot for officer w's session sid: 0 with *slot and id, or -1 with ERR_CONFLICT (this
 * officer has a file being committed) or ERR_UNKNOWN (every slot is busy).  Starts the worker
 * thread the first time.  The slot is then submitted or cancelled.
 */
int console_bulk_job_reserve(struct ca *, const struct console_who *w, const char *sid, int *slot,
			     char id[CONSOLE_BULK_JOB_ID], struct err *);
/* Queues the reserved slot's commit: q (its officer, notify and progress are the job's own) and
 * res, which the job takes (*res is emptied). */
void console_bulk_job_submit(int slot, const struct ra_bulk_commit_req *q,
			     struct ra_bulk_result *res);
void console_bulk_job_cancel(int slot);
/* Waits at most ms milliseconds for job id to finish. */
void console_bulk_job_wait(const char *id, long ms);
/* What console_bulk_job_view moves out of a finished job (shown once). */
#define CONSOLE_BULK_TAKE_ZIPS 1u /* the ZIP passwords (the "show" button's POST only) */
#define CONSOLE_BULK_TAKE_EABS 2u /* the EAB credentials (the same POST only) */
/*
 * The job id of this session and officer into v (0), or -1 when there is none.  take: a
 * finished job's ZIP passwords and/or EAB credentials move to v (shown once; the time of their
 * showing is kept); else they stay with the job.
 */
int console_bulk_job_view(const char *id, const char *sid, int64_t officer_id, unsigned take,
			  struct console_bulk_view *v);

#endif
