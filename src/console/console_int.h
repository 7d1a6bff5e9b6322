/*
 * console_int.h: what the console's files share (not for other modules).
 */
#ifndef SHOMEI_CONSOLE_INT_H
#define SHOMEI_CONSOLE_INT_H

#include "console.h"
#include "web/web.h"

#define CONSOLE_CERT_MAX 16384 /* bytes of a client certificate the console reads */

struct console {
	struct web_site site;
	long idle_s;	     /* console.idle_timeout */
	char *client_ca_pem; /* the officer-issuing CA certificate(s): the TLS request names them */
	char *tsa_chain_pem; /* the TSA certificate, its CA and the root ("" without a TSA) */
	char *tsa_url;	     /* base_url + /tsa */
	struct console_mail mail; /* the officers' and user administrators' mails */
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
int console_certs_get(struct http_req *);
int console_cert_new_get(struct http_req *);
int console_cert_new_post(struct http_req *);
int console_cert_view_get(struct http_req *);
int console_cert_revoke_post(struct http_req *);
int console_dl_get(struct http_req *);
int console_dl_post(struct http_req *);
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
int console_bulk_get(struct http_req *);  /* bulk.c */
int console_bulk_post(struct http_req *);
int console_bulk_commit_post(struct http_req *);
int console_bulk_result_post(struct http_req *);

#endif
