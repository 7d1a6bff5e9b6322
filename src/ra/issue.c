/*
 * issue: the issuance of an application (DESIGN.md 2.1 from 発行申請情報入力, 2.3's fetch):
 * the holder's values checked field by field (and by the CA's own build and lint), Submit,
 * the holder's approval of an agent's application, the agent's certificate page by a mailed
 * link, the single-use PKCS#12 download and the fetch of a re-issue.
 *
 * A certificate is issued together with its application or not at all: the application's
 * records are written in the certificate's own durable transaction (ca_issue()'s write_fn,
 * through the group commit) — for a self Submit the claim (the confirm page's nonce,
 * mail-verified -> submitted), for an approval the claim (the approval link used,
 * awaiting-approval -> approved); then the ticket used, the application issued with the
 * certificate code's hash, the continuation used, the PKCS#12 parked for its download (an
 * agent's page sealed under its link's secret), the audit entry and the mails.  A twin that
 * lost (a double click, another front end) or a ticket taken meanwhile makes the write fail:
 * nothing of it is stored and the signed certificate is dropped, never delivered nor recorded.
 * Anything else leaves the application as it was, with nothing to revoke.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "mail/mail.h"
#include "ra.h"

static const char *const submit_result_names[RA_SUBMIT_RESULT__MAX] = {
    [RA_SUBMIT_ISSUED] = "issued",	 [RA_SUBMIT_SENT] = "sent-for-approval",
    [RA_SUBMIT_REPEAT] = "repeat",	 [RA_SUBMIT_TICKET_USED] = "ticket-used",
    [RA_SUBMIT_REFUSED] = "refused",	 [RA_SUBMIT_UNKNOWN] = "unknown",
    [RA_SUBMIT_DECIDED] = "decided",	 [RA_SUBMIT_USED] = "used",
    [RA_SUBMIT_EXPIRED] = "expired",	 [RA_SUBMIT_NOT_REISSUE] = "not-reissue",
    [RA_SUBMIT_NEED_CSR] = "csr-needed", [RA_SUBMIT_REJECTED] = "rejected",
};

const char *
ra_submit_result_name(enum ra_submit_result r)
{
	return (int)r >= 0 && r < RA_SUBMIT_RESULT__MAX && submit_result_names[r] != NULL
		   ? submit_result_names[r]
		   : "unknown";
}

/* ---- what the RA keeps at hand: the form's probe key and the CA chain as PEM ---- */

static struct {
	EVP_PKEY *probe; /* a P-256 key that is never certified: the form's checks */
	X509_PUBKEY *probe_spki;
	const struct ca *ca;
	char *chain_pem[1 + CA_PREV_MAX]; /* each issuing CA's (ca->cas[i]), then the root */
} rt;

char *
ra_pem(const char *label, const unsigned char *der, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *out = NULL;
	long n;

	if (b != NULL && PEM_write_bio(b, label, "", der, (long)len) > 0 &&
	    (n = BIO_get_mem_data(b, &p)) > 0)
		out = xstrndup(p, (size_t)n);
	BIO_free(b);
	return out;
}

/* The PEM chain of one issuing CA: its certificate, then the root's. */
static char *
issue_chain_pem(const struct ca *ca, X509 *issuing, struct err *e)
{
	X509 *v[2] = {issuing, ca->root};
	struct buf chain;
	char *out = NULL;
	int i;

	buf_init(&chain, 1 << 20);
	for (i = 0; i < 2; i++) {
		unsigned char *der = NULL;
		int n = i2d_X509(v[i], &der);
		char *pem = n > 0 ? ra_pem("CERTIFICATE", der, (size_t)n) : NULL;

		OPENSSL_free(der);
		if (pem == NULL || buf_append(&chain, pem, strlen(pem)) == -1) {
			free(pem);
			err_set(e, ERR_INTERNAL, "ra: cannot encode the CA chain as PEM");
			goto out;
		}
		free(pem);
	}
	out = xstrdup(buf_cstr(&chain) != NULL ? (char *)chain.data : "");
out:
	buf_free(&chain);
	return out;
}

int
ra_start(struct ca *ca, size_t key_pool, struct err *e)
{
	size_t i;
	int rc = -1;

	rt.ca = ca;
	for (i = 0; i < ca->ncas; i++)
		if ((rt.chain_pem[i] = issue_chain_pem(ca, ca->cas[i].cert, e)) == NULL)
			goto out;
	if ((rt.probe = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    X509_PUBKEY_set(&rt.probe_spki, rt.probe) != 1) {
		err_set(e, ERR_INTERNAL, "ra: cannot make the issuance form's probe key");
		goto out;
	}
	if (ra_keypool_start(key_pool, e) == -1)
		goto out;
	rc = 0;
out:
	return rc;
}

void
ra_stop(void)
{
	size_t i;

	ra_keypool_stop();
	for (i = 0; i < 1 + CA_PREV_MAX; i++)
		free(rt.chain_pem[i]);
	EVP_PKEY_free(rt.probe);
	X509_PUBKEY_free(rt.probe_spki);
	memset(&rt, 0, sizeof(rt));
}

void
ra_cert_page_clear(struct ra_cert_page *p)
{
	if (p == NULL)
		return;
	free(p->cert_pem);
	free(p->chain_pem);
	sodium_memzero(p, sizeof(*p));
}

/* The page's certificate (PEM encoded from its DER, not parsed again), chain and notAfter. */
static int
issue_page_cert(struct ra_cert_page *p, const unsigned char *der, size_t len, time_t not_after,
		struct err *e)
{
	size_t i;

	free(p->cert_pem);
	free(p->chain_pem);
	if ((p->cert_pem = ra_pem("CERTIFICATE", der, len)) == NULL) {
		p->chain_pem = NULL;
		return err_set(e, ERR_INTERNAL, "ra: cannot encode the certificate as PEM");
	}
	/* the chain of the CA that issued it: an earlier one's, for a delivery after a switch */
	i = rt.ca != NULL ? (size_t)(ca_issuing_of_der(rt.ca, der, len) - rt.ca->cas) : 0;
	p->chain_pem = xstrdup(rt.chain_pem[i] != NULL ? rt.chain_pem[i] : "");
	p->not_after = not_after;
	return 0;
}

/* ---- the holder's values ---- */

static int
issue_is(const struct ra_app *a, const char *profile)
{
	return strcmp(a->profile, profile) == 0;
}

/* The names of a request: up to RA_HOSTS_MAX host names split out of hosts. */
struct issue_names {
	char *buf;
	const char *dns[RA_HOSTS_MAX];
	size_t ndns;
};

/*
 * The RA's request for what the holder entered (hosts: the parsed host names, for the server
 * profile): O from the organization, the CN from the first host name or the romaji name (the
 * organization's name for code signing), the SANs from the host names or the holder's
 * address.  nm owns the strings; free nm->buf.
 */
static void
issue_ra_req(const struct ra_app *a, const struct ra_issue_values *v, const char *hosts,
	     struct issue_names *nm, struct ra_issue_req *req)
{
	char *p, *tok;

	memset(nm, 0, sizeof(*nm));
	memset(req, 0, sizeof(*req));
	req->profile = a->profile;
	req->org_code = a->org_code;
	req->names_given = 1; /* the holder's names as entered and proved, never the CSR's */
	if (v->ou[0] != '\0') {
		req->ou = &v->ou;
		req->nou = 1;
	}
	if (issue_is(a, "server")) {
		nm->buf = xstrdup(hosts != NULL ? hosts : "");
		for (p = nm->buf; nm->ndns < RA_HOSTS_MAX && *p != '\0';) {
			tok = p;
			p += strcspn(p, " ");
			if (*p == ' ')
				*p++ = '\0';
			if (*tok != '\0')
				nm->dns[nm->ndns++] = tok;
		}
		req->dns = nm->dns;
		req->ndns = nm->ndns;
		req->cn = nm->ndns > 0 ? nm->dns[0] : NULL; /* the form decides, not the CSR */
	} else {
		/* a client certificate names its holder; a code-signing one its publisher, the
		 * organization (the name policy puts its registered name) */
		req->cn = issue_is(a, "codesign") ? NULL : v->name_romaji;
		if (v->subject_email[0] != '\0')
			req->email = v->subject_email;
	}
}

/* The values of an application as recorded at its submission. */
static void
issue_values_of(struct ra_issue_values *v, const struct ra_app *a)
{
	memset(v, 0, sizeof(*v));
	v->name_kanji = a->name_kanji;
	v->name_romaji = a->name_romaji;
	v->ou = a->ou;
	v->subject_email = a->subject_email;
	v->hostnames = a->hostnames;
	v->key_mode = a->key_mode[0] != '\0' ? a->key_mode : "p256";
	v->csr = a->csr;
	v->password_hash = a->password_hash;
}

/* The CA's own build and lint for the checks: refusal (ERR_REFUSED) in ce, -1 otherwise. */
static int
issue_try(struct ca *ca, struct store *st, struct ra_issue_req *req, struct err *ce, struct err *e)
{
	struct ca_issued dummy;

	err_clear(ce);
	req->check_only = 1;
	req->actor = "ra:check";
	if (ra_issue(ca, st, req, &dummy, ce) == 0 || ce->code == ERR_REFUSED)
		return 0;
	*e = *ce;
	return -1;
}

int
ra_issue_check(struct ca *ca, struct store *st, const struct ra_app *a,
	       const struct ra_issue_values *v, const char *pw, const char *pw2,
	       struct ra_issue_fields *f, char **hosts, struct err *e)
{
	int server = issue_is(a, "server"), client = issue_is(a, "client");
	struct issue_names nm;
	struct ra_issue_req req;
	struct store_org org;
	struct err ce;
	int rc = -1;

	memset(f, 0, sizeof(*f));
	memset(&nm, 0, sizeof(nm));
	memset(&org, 0, sizeof(org));
	*hosts = NULL;
	err_clear(&ce);
	if (client && v->name_kanji[0] == '\0')
		f->name_kanji = RA_FIELD_MISSING;
	else if (v->name_kanji[0] != '\0' && !ra_name_kanji_ok(v->name_kanji))
		f->name_kanji = RA_FIELD_INVALID;
	if (!server) {
		if (v->name_romaji[0] == '\0')
			f->name_romaji = RA_FIELD_MISSING;
		else if (!ra_name_romaji_ok(v->name_romaji))
			f->name_romaji = RA_FIELD_INVALID;
		if (v->ou[0] == '\0')
			f->ou = RA_FIELD_MISSING;
	}
	if (v->ou[0] != '\0' && !ra_ou_ok(v->ou))
		f->ou = RA_FIELD_INVALID;
	if ((client || a->agent) && v->subject_email[0] == '\0')
		f->subject_email = RA_FIELD_MISSING;
	else if (v->subject_email[0] != '\0' && !mail_addr_valid(v->subject_email))
		f->subject_email = RA_FIELD_INVALID;
	/* a self application: the certificate names the address the mailed link proved */
	if (f->subject_email == RA_FIELD_OK && v->subject_email[0] != '\0' && !a->agent &&
	    strcasecmp(v->subject_email, a->email) != 0)
		f->subject_email = RA_FIELD_NOT_CONFIRMED;
	if (f->subject_email == RA_FIELD_OK && v->subject_email[0] != '\0') {
		if (store_org_get_id(st, a->org_id, &org, e) == -1)
			goto out;
		if (!ra_email_in_org(&org, v->subject_email))
			f->subject_email = RA_FIELD_NOT_ORG;
	}
	if (server &&
	    (v->hostnames[0] == '\0' || ra_hostnames_parse(v->hostnames, hosts, &ce) == -1))
		f->hostnames = RA_FIELD_INVALID;
	if (strcmp(v->key_mode, "p256") != 0 && strcmp(v->key_mode, "rsa2048") != 0 &&
	    strcmp(v->key_mode, "csr") != 0)
		f->key_mode = RA_FIELD_INVALID;
	if (pw != NULL) {
		if (!ra_password_ok(pw))
			f->password = RA_FIELD_INVALID;
		else if (pw2 == NULL || strcmp(pw, pw2) != 0)
			f->password2 = RA_FIELD_INVALID;
	}
	/* the contents as the CA would issue them: the name policy, the profile and lint */
	if (f->name_kanji == RA_FIELD_OK && f->name_romaji == RA_FIELD_OK && f->ou == RA_FIELD_OK &&
	    f->subject_email == RA_FIELD_OK && f->hostnames == RA_FIELD_OK &&
	    f->key_mode == RA_FIELD_OK) {
		issue_ra_req(a, v, *hosts, &nm, &req);
		/* the names first, with the probe key (never certified): no CSR is made */
		req.key = rt.probe;
		req.spki = rt.probe_spki;
		if (issue_try(ca, st, &req, &ce, e) == -1)
			goto out;
		if (ce.code == ERR_REFUSED) {
			log_info("ra: issuance form refused (%s): %s", ca_refusal_name(ce.kind),
				 ce.msg);
			if (server)
				f->hostnames = RA_FIELD_NOT_ORG;
			else
				f->subject_email = RA_FIELD_NOT_ORG;
		} else if (strcmp(v->key_mode, "csr") == 0) {
			req.key = NULL;
			req.spki = NULL;
			if (v->csr[0] == '\0') {
				f->csr = RA_FIELD_MISSING;
			} else {
				req.csr = (const unsigned char *)v->csr;
				req.csrlen = strlen(v->csr);
				if (issue_try(ca, st, &req, &ce, e) == -1)
					goto out;
				if (ce.code == ERR_REFUSED) {
					f->csr = RA_FIELD_REFUSED;
					snprintf(f->csr_detail, sizeof(f->csr_detail), "%.250s",
						 ce.msg);
				}
			}
		}
	}
	f->any = f->name_kanji || f->name_romaji || f->ou || f->subject_email || f->hostnames ||
		 f->key_mode || f->csr || f->password || f->password2;
	rc = 0;
out:
	free(nm.buf);
	store_org_clear(&org);
	if (rc != 0) {
		free(*hosts);
		*hosts = NULL;
	}
	return rc;
}

/* ---- the continuation (the issuance form's link, bound to the browser session) ---- */

int
ra_cont_load(struct store *st, const char *cont, const char *session, struct ra_app *a,
	     enum ra_submit_result *res, struct err *e)
{
	struct store_token tok;
	struct err se;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	int rc = -1;

	memset(a, 0, sizeof(*a));
	*res = RA_SUBMIT_UNKNOWN;
	err_clear(&se);
	if (ra_token_decode(cont, raw) == -1) {
		rc = 0;
		goto out;
	}
	ra_token_hash_keyed(raw, session, h);
	if (store_token_get(st, h, STORE_TOKEN_ISSUE_FORM, &tok, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (tok.used != 0) {
		*res = RA_SUBMIT_USED;
	} else if (tok.expires <= util_now()) {
		if (ra_app_expire(st, tok.app_id, RA_APP_MAIL_VERIFIED, e) == -1)
			goto out;
		*res = RA_SUBMIT_EXPIRED;
	} else {
		if (ra_app_load(st, tok.app_id, a, e) == -1)
			goto out;
		*res = RA_SUBMIT_ISSUED; /* found: the caller reads a->state */
	}
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

/* ---- housekeeping ---- */

/*
 * Deletes the downloads nobody took, at most once a minute per process, inside the write of
 * the issuance or download that found it due (on every issuance and download it wrote twice
 * as often as needed: bench/portal): it shares that write's transaction, so a purge that fails
 * fails the write with nothing half done, and one that was not written is due again at once.
 * An expired download is refused by store_download_take() whether or not its row is gone yet.
 */
#define ISSUE_PURGE_EVERY 60

static _Atomic long long issue_purge_last;

/* 1 when a purge is due at now and this caller makes it (*prev: when the last one was). */
static int
issue_purge_claim(time_t now, long long *prev)
{
	long long l = atomic_load(&issue_purge_last);

	*prev = l;
	if (now - l < ISSUE_PURGE_EVERY && now >= l)
		return 0;
	return atomic_compare_exchange_strong(&issue_purge_last, &l, (long long)now) ? 1 : 0;
}

/* The purge claimed at now was not written (its transaction failed): due again. */
static void
issue_purge_unclaim(time_t now, long long prev)
{
	long long l = (long long)now;

	(void)atomic_compare_exchange_strong(&issue_purge_last, &l, prev);
}

/* The key that seals what the agent's certificate page shows, from the link's secret. */
static void
issue_seal_key(const unsigned char raw[RA_TOKEN_LEN], unsigned char key[crypto_secretbox_KEYBYTES])
{
	static const unsigned char ctx[] = "shomei portal delivery seal";

	crypto_generichash(key, crypto_secretbox_KEYBYTES, raw, RA_TOKEN_LEN, ctx, sizeof(ctx) - 1);
}

/* ---- one issuance: ra_issue()'s hooks ---- */

/* How an issuance claims its application inside the certificate's transaction. */
enum issue_claim {
	ISSUE_CLAIM_NONE = 0, /* the application is in state from already (a re-issue) */
	ISSUE_CLAIM_SUBMIT,   /* self Submit: the nonce, mail-verified -> submitted */
	ISSUE_CLAIM_APPROVE,  /* approval: the link used, awaiting-approval -> approved */
};

struct issue_run {
	struct ca *ca;
	const struct ra_app *a;
	const struct ra_issue_values *v;
	const struct ra_notify *n;
	enum issue_claim claim;
	const unsigned char *claim_hash; /* the nonce (SUBMIT) or the approval link (APPROVE) */
	const unsigned char *cont_hash;	 /* the continuation used up (self Submit), or NULL */
	enum ra_app_state from;		 /* the state issued leaves */
	int reissue;			 /* a re-issue: the ticket moves to the new certificate */
	const char *code;		 /* a re-issue keeps its code (and its hash), else NULL */
	const unsigned char *fixed_code_hash;
	struct ra_key key; /* made here (or the holder's CSR) */
	int generated;
	char friendly[128];
	char actor[64];
	time_t now, keep;
	int purge; /* the downloads' purge is due: issue_write makes it */
	long long purge_prev;
	/* made once the certificate is signed (issue_signed) */
	struct ra_cert_page *page;
	unsigned char code_hash[STORE_HASH_LEN], dlhash[STORE_HASH_LEN], dvhash[STORE_HASH_LEN];
	unsigned char *p12, *sealed;
	size_t p12len, sealedlen;
	char dv[RA_TOKEN_TEXT]; /* the agent's delivery link secret */
	/* set by issue_write when the issuance lost: nothing was written */
	enum ra_submit_result lost;
};

/* Forgets what issue_signed made for the write (before it runs again, and at the end). */
static void
issue_run_drop(struct issue_run *u)
{
	if (u->p12 != NULL) {
		sodium_memzero(u->p12, u->p12len);
		free(u->p12);
	}
	free(u->sealed);
	u->p12 = u->sealed = NULL;
	u->p12len = u->sealedlen = 0;
	sodium_memzero(u->dv, sizeof(u->dv));
	sodium_memzero(u->code_hash, sizeof(u->code_hash));
}

/*
 * ra_issue's signed_fn: with the signed certificate, before anything is stored, everything
 * the write and the page need: PEMs, the certificate code, the PIN and PKCS#12 with its
 * download secret, and for an agent's application the sealed delivery and its link secret.
 */
static int
issue_signed(const struct ca_issued *c, void *arg, struct err *e)
{
	struct issue_run *u = arg;
	struct ra_cert_page *p = u->page;
	unsigned char dlraw[RA_TOKEN_LEN], dvraw[RA_TOKEN_LEN], skey[crypto_secretbox_KEYBYTES];
	char plain[RA_PIN_LEN + 1 + RA_TOKEN_TEXT + 1];
	size_t pl;
	int rc = -1;

	issue_run_drop(u);
	ra_cert_page_clear(p); /* a serial drawn anew: the page's values too */
	memcpy(p->serial, c->serial, sizeof(p->serial));
	snprintf(p->profile, sizeof(p->profile), "%s", u->a->profile);
	p->agent = u->a->agent;
	p->p12 = u->generated;
	if (issue_page_cert(p, c->der, c->derlen, c->not_after, e) == -1)
		goto out;
	if (u->code != NULL) {
		snprintf(p->code, sizeof(p->code), "%s", u->code);
		memcpy(u->code_hash, u->fixed_code_hash, sizeof(u->code_hash));
	} else {
		ra_code_new(p->code, u->code_hash);
	}
	if (u->generated) {
		memcpy(p->pin, u->key.pin, sizeof(p->pin));
		if (ra_p12(&u->key, c->der, c->derlen, u->ca->chain, u->friendly, &u->p12,
			   &u->p12len, e) == -1)
			goto out;
		ra_token_new(dlraw, p->dl);
		ra_token_hash(dlraw, u->dlhash);
	}
	if (u->a->agent && u->claim == ISSUE_CLAIM_APPROVE) {
		/* sealed: "<pin>\n<download secret>" (both empty for a CSR) */
		snprintf(plain, sizeof(plain), "%s\n%s", p->pin, p->dl);
		pl = strlen(plain);
		ra_token_new(dvraw, u->dv);
		ra_token_hash(dvraw, u->dvhash);
		issue_seal_key(dvraw, skey);
		u->sealedlen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + pl;
		u->sealed = xmalloc(u->sealedlen);
		randombytes_buf(u->sealed, crypto_secretbox_NONCEBYTES);
		crypto_secretbox_easy(u->sealed + crypto_secretbox_NONCEBYTES,
				      (const unsigned char *)plain, pl, u->sealed, skey);
	}
	rc = 0;
out:
	sodium_memzero(dlraw, sizeof(dlraw));
	sodium_memzero(dvraw, sizeof(dvraw));
	sodium_memzero(skey, sizeof(skey));
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

/* The issuance lost to a twin or to another use of the ticket: outcome r, nothing written. */
static int
issue_write_lost(struct issue_run *u, enum ra_submit_result r, const struct err *se, struct err *e)
{
	if (se->code != ERR_CONFLICT) {
		*e = *se;
		return -1;
	}
	u->lost = r;
	return err_set(e, ERR_CONFLICT, "ra: application %lld was not issued here",
		       (long long)u->a->id);
}

/* The values a Submit records with the application (borrowed from a and v). */
static void
issue_record(struct store_app *rec, const struct ra_app *a, const struct ra_issue_values *v)
{
	memset(rec, 0, sizeof(*rec));
	rec->profile = (char *)a->profile;
	rec->subject_email = (char *)v->subject_email;
	rec->name_kanji = (char *)v->name_kanji;
	rec->name_romaji = (char *)v->name_romaji;
	rec->ou = (char *)v->ou;
	rec->hostnames = (char *)v->hostnames;
	rec->key_mode = (char *)v->key_mode;
	rec->password_hash = (char *)v->password_hash;
	rec->csr = v->csr[0] != '\0' ? (char *)v->csr : NULL;
}

/* The claim of issue_write (see enum issue_claim); a lost claim sets u->lost. */
static int
issue_claim(struct store *st, struct issue_run *u, struct err *e)
{
	struct ra_app_change ch;
	struct store_app rec;
	struct err se;

	err_clear(&se);
	memset(&ch, 0, sizeof(ch));
	switch (u->claim) {
	case ISSUE_CLAIM_SUBMIT:
		if (store_token_add(st, u->claim_hash, STORE_TOKEN_ISSUE_SUBMIT, u->a->id,
				    u->now + RA_FORM_TTL, u->now, &se) == -1)
			return issue_write_lost(u, RA_SUBMIT_REPEAT, &se, e);
		issue_record(&rec, u->a, u->v);
		ch.values = &rec;
		ch.when = u->now;
		if (ra_app_move(st, u->a->id, RA_APP_MAIL_VERIFIED, RA_APP_EV_SUBMIT, &ch, &se) ==
		    -1)
			return issue_write_lost(u, RA_SUBMIT_REPEAT, &se, e);
		return 0;
	case ISSUE_CLAIM_APPROVE:
		if (store_token_use(st, u->claim_hash, STORE_TOKEN_APPROVE, u->now, &se) == -1 ||
		    ra_app_move(st, u->a->id, RA_APP_AWAITING_APPROVAL, RA_APP_EV_APPROVE, NULL,
				&se) == -1)
			return issue_write_lost(u, RA_SUBMIT_DECIDED, &se, e);
		return 0;
	default:
		return 0;
	}
}

/*
 * ra_issue's write_fn, in the certificate's transaction: the claim, the ticket used (or moved,
 * for a re-issue), the application issued with the code's hash, the continuation used, the
 * parked PKCS#12 (and the agent's sealed delivery), the audit entry and the mails.
 */
static int
issue_write(struct store *st, const struct ca_issued *c, void *arg, struct err *e)
{
	struct issue_run *u = arg;
	const struct ra_app *a = u->a;
	const struct ra_notify *n = u->n;
	struct ra_app_change ch;
	struct err se;
	char *detail;
	int rc;

	err_clear(&se);
	if (u->purge && store_download_purge(st, u->now, NULL, e) == -1)
		return -1;
	if (issue_claim(st, u, e) == -1)
		return -1;
	if (u->reissue) {
		if (store_ticket_reassign(st, a->ticket, c->serial, e) == -1)
			return -1;
	} else if (store_ticket_use(st, a->ticket, c->serial, &se) == -1) {
		return issue_write_lost(u, RA_SUBMIT_TICKET_USED, &se, e);
	}
	memset(&ch, 0, sizeof(ch));
	ch.serial = c->serial;
	ch.code_hash = u->code_hash;
	ch.when = u->now;
	if (ra_app_move(st, a->id, u->from, RA_APP_EV_ISSUE, &ch, e) == -1)
		return -1;
	if (u->cont_hash != NULL &&
	    store_token_use(st, u->cont_hash, STORE_TOKEN_ISSUE_FORM, u->now, e) == -1)
		return -1;
	if (u->p12 != NULL && store_download_put(st, STORE_DOWNLOAD_PKCS12, u->dlhash, a->id,
						 u->p12, u->p12len, u->keep, e) == -1)
		return -1;
	if (u->sealed != NULL && store_download_put(st, STORE_DOWNLOAD_DELIVERY, u->dvhash, a->id,
						    u->sealed, u->sealedlen, u->keep, e) == -1)
		return -1;
	if (u->reissue)
		detail = xasprintf("application=%lld predecessor=%lld key=%s", (long long)a->id,
				   (long long)a->predecessor_id, u->v->key_mode);
	else
		detail = xasprintf("application=%lld ticket=%s profile=%s key=%s type=%s",
				   (long long)a->id, a->ticket, a->profile, u->v->key_mode,
				   a->agent ? "agent" : "self");
	rc = store_audit_append(st, u->actor, "portal.issue", c->serial, detail, NULL, e);
	free(detail);
	if (rc == -1 || u->reissue)
		return rc;
	if (n != NULL && n->issued != NULL &&
	    n->issued(n->arg, st, a->agent ? u->v->subject_email : a->email, c->serial,
		      u->page->code, e) == -1)
		return -1;
	if (a->agent && n != NULL && n->delivery != NULL &&
	    n->delivery(n->arg, st, a->email, u->dv, e) == -1)
		return -1;
	return 0;
}

/*
 * Issues application a with values v, claiming it as u says: the key (p256/rsa2048 from the
 * pool, or the holder's CSR), the CA, and issue_write's records in the certificate's durable
 * transaction.  *res: ISSUED, or why not (REPEAT, DECIDED, TICKET_USED; REFUSED for a CSR the
 * CA refused, detail in refusal).  -1 only for internal errors.
 */
static int
issue_perform(struct ca *ca, struct store *st, struct issue_run *u, enum ra_submit_result *res,
	      char *refusal, size_t refusal_len, struct err *e)
{
	struct ra_issue_req req;
	struct ca_issued issued;
	struct issue_names nm;
	char *hosts = NULL;
	struct err ie;
	int rc = -1;

	*res = RA_SUBMIT_ISSUED;
	memset(&issued, 0, sizeof(issued));
	memset(&nm, 0, sizeof(nm));
	err_clear(&ie);
	u->ca = ca;
	u->now = util_now();
	u->keep = u->a->agent && !u->reissue ? u->now + RA_APP_TTL : u->now + RA_DOWNLOAD_TTL;
	u->generated = strcmp(u->v->key_mode, "csr") != 0;
	snprintf(u->actor, sizeof(u->actor), "portal:app:%lld", (long long)u->a->id);
	if (issue_is(u->a, "server"))
		snprintf(u->friendly, sizeof(u->friendly), "%.*s",
			 (int)strcspn(u->v->hostnames, " "), u->v->hostnames);
	else
		snprintf(u->friendly, sizeof(u->friendly), "%s",
			 u->v->name_romaji[0] != '\0' ? u->v->name_romaji : "certificate");
	if (issue_is(u->a, "server") && ra_hostnames_parse(u->v->hostnames, &hosts, e) == -1)
		goto out;
	if (u->generated && ra_key_take(u->v->key_mode, &u->key, e) == -1)
		goto out;
	u->purge = issue_purge_claim(u->now, &u->purge_prev);
	issue_ra_req(u->a, u->v, hosts, &nm, &req);
	if (u->generated) {
		req.key = u->key.key; /* made here: no CSR to make, parse and verify */
		req.spki = u->key.spki;
	} else {
		req.csr = (const unsigned char *)u->v->csr;
		req.csrlen = strlen(u->v->csr);
	}
	req.actor = u->actor;
	req.signed_fn = issue_signed;
	req.write_fn = issue_write;
	req.arg = u;
	if (ra_issue(ca, st, &req, &issued, &ie) == -1) {
		if (u->purge)
			issue_purge_unclaim(u->now, u->purge_prev);
		if (u->lost != 0) {
			*res = u->lost; /* to a twin, or to another use of the ticket */
		} else if (ie.code == ERR_REFUSED && !u->generated) {
			*res = RA_SUBMIT_REFUSED;
			snprintf(refusal, refusal_len, "%.250s", ie.msg);
		} else {
			*e = ie;
			goto out;
		}
	}
	rc = 0;
out:
	issue_run_drop(u);
	free(hosts);
	free(nm.buf);
	ra_key_clear(&u->key);
	ca_issued_clear(&issued);
	return rc;
}

/* ---- Submit ---- */

/* An agent's Submit: the values recorded, the approval link made and mailed (one write). */
struct issue_agent_write {
	const struct ra_submit_req *q;
	const struct ra_notify *n;
	const unsigned char *cont_hash, *approve_hash;
	const char *approve_text;
	time_t now;
	int repeat;
};

static int
issue_agent_write(struct store *st, void *arg, struct err *e)
{
	struct issue_agent_write *w = arg;
	const struct ra_app *a = w->q->app;
	struct ra_app_change ch;
	struct store_app rec;
	struct err se;

	err_clear(&se);
	if (store_token_add(st, w->q->nonce_hash, STORE_TOKEN_ISSUE_SUBMIT, a->id,
			    w->now + RA_FORM_TTL, w->now, &se) == -1)
		goto lost; /* a concurrent twin */
	issue_record(&rec, a, w->q->v);
	memset(&ch, 0, sizeof(ch));
	ch.values = &rec;
	ch.when = w->now;
	if (ra_app_move(st, a->id, RA_APP_MAIL_VERIFIED, RA_APP_EV_SUBMIT_AGENT, &ch, &se) == -1)
		goto lost; /* another confirm page of this application won */
	if (store_token_use(st, w->cont_hash, STORE_TOKEN_ISSUE_FORM, w->now, e) == -1 ||
	    store_token_add(st, w->approve_hash, STORE_TOKEN_APPROVE, a->id, w->now + RA_APP_TTL, 0,
			    e) == -1)
		return -1;
	if (w->n != NULL && w->n->approval != NULL &&
	    w->n->approval(w->n->arg, st, a, w->q->v->subject_email, w->approve_text, e) == -1)
		return -1;
	return 0;
lost:
	if (se.code != ERR_CONFLICT) {
		*e = se;
		return -1;
	}
	w->repeat = 1;
	return err_set(e, ERR_CONFLICT, "ra: application %lld was submitted already",
		       (long long)a->id);
}

/*
 * A Submit that finds the ticket used: REPEAT when the application was submitted before (a
 * double click, another confirm page of it: its own certificate used the ticket), else
 * TICKET_USED (another application's certificate did).  The write decides alike.
 */
static int
issue_submitted_before(struct store *st, int64_t id, enum ra_submit_result *res, struct err *e)
{
	struct store_app rec;

	memset(&rec, 0, sizeof(rec));
	if (store_app_get(st, id, &rec, e) == -1)
		return -1;
	*res = rec.submitted != 0 ? RA_SUBMIT_REPEAT : RA_SUBMIT_TICKET_USED;
	store_app_clear(&rec);
	return 0;
}

int
ra_submit(struct ca *ca, struct store *st, const struct ra_submit_req *q, const struct ra_notify *n,
	  enum ra_submit_result *res, struct ra_cert_page *page, struct err *e)
{
	struct store_ticket tk;
	struct issue_run u;
	struct issue_agent_write w;
	unsigned char craw[RA_TOKEN_LEN], ch[STORE_HASH_LEN], araw[RA_TOKEN_LEN],
	    ah[STORE_HASH_LEN];
	char at[RA_TOKEN_TEXT];
	int rc = -1;

	memset(&tk, 0, sizeof(tk));
	memset(page, 0, sizeof(*page));
	*res = RA_SUBMIT_UNKNOWN;
	page->detail[0] = '\0';
	if (ra_token_decode(q->cont, craw) == -1) {
		rc = 0;
		goto out;
	}
	ra_token_hash_keyed(craw, q->session, ch);
	/* a ticket used meanwhile is told before anything is signed (the write checks again) */
	if (store_ticket_get(st, q->app->ticket, &tk, e) == -1)
		goto out;
	if (strcmp(tk.status, "unused") != 0) {
		if (issue_submitted_before(st, q->app->id, res, e) == -1)
			goto out;
		rc = 0;
		goto out;
	}
	if (!q->app->agent) {
		memset(&u, 0, sizeof(u));
		u.a = q->app;
		u.v = q->v;
		u.n = n;
		u.claim = ISSUE_CLAIM_SUBMIT;
		u.claim_hash = q->nonce_hash;
		u.cont_hash = ch;
		u.from = RA_APP_SUBMITTED;
		u.page = page;
		rc = issue_perform(ca, st, &u, res, page->detail, sizeof(page->detail), e);
		goto out;
	}
	ra_token_new(araw, at);
	ra_token_hash(araw, ah);
	memset(&w, 0, sizeof(w));
	w.q = q;
	w.n = n;
	w.cont_hash = ch;
	w.approve_hash = ah;
	w.approve_text = at;
	w.now = util_now();
	if (ca_write(ca, st, issue_agent_write, &w, e) == -1) {
		if (!w.repeat)
			goto out;
		err_clear(e);
		*res = RA_SUBMIT_REPEAT;
	} else {
		*res = RA_SUBMIT_SENT;
	}
	rc = 0;
out:
	store_ticket_clear(&tk);
	sodium_memzero(craw, sizeof(craw));
	sodium_memzero(araw, sizeof(araw));
	sodium_memzero(at, sizeof(at));
	return rc;
}

int
ra_submit_seen(struct store *st, const unsigned char nonce_hash[STORE_HASH_LEN], int *seen,
	       struct err *e)
{
	struct store_token tok;
	struct err se;

	*seen = 0;
	err_clear(&se);
	if (store_token_get(st, nonce_hash, STORE_TOKEN_ISSUE_SUBMIT, &tok, &se) == 0) {
		*seen = 1;
		return 0;
	}
	if (se.code != ERR_NOTFOUND) {
		*e = se;
		return -1;
	}
	return 0;
}

/* ---- the holder's approval of an agent's application ---- */

int
ra_approval_load(struct store *st, const char *token, struct ra_app *a, enum ra_submit_result *res,
		 struct err *e)
{
	struct store_token tok;
	struct err se;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	int rc = -1;

	memset(a, 0, sizeof(*a));
	*res = RA_SUBMIT_UNKNOWN;
	err_clear(&se);
	if (ra_token_decode(token, raw) == -1) {
		rc = 0;
		goto out;
	}
	ra_token_hash(raw, h);
	if (store_token_get(st, h, STORE_TOKEN_APPROVE, &tok, &se) == -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
	} else if (tok.used != 0) {
		*res = RA_SUBMIT_USED;
	} else if (tok.expires <= util_now()) {
		if (ra_app_expire(st, tok.app_id, RA_APP_AWAITING_APPROVAL, e) == -1)
			goto out;
		*res = RA_SUBMIT_EXPIRED;
	} else {
		if (ra_app_load(st, tok.app_id, a, e) == -1)
			goto out;
		if (a->state != RA_APP_AWAITING_APPROVAL) {
			ra_app_clear(a);
			*res = RA_SUBMIT_DECIDED;
		} else {
			*res = RA_SUBMIT_ISSUED; /* found, awaiting the holder's decision */
		}
	}
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

int
ra_approve(struct ca *ca, struct store *st, const char *token, const struct ra_notify *n,
	   enum ra_submit_result *res, struct ra_cert_page *page, struct err *e)
{
	struct ra_app a;
	struct ra_issue_values v;
	struct issue_run u;
	struct store_ticket tk;
	struct err se;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	char refusal[256];
	int rc = -1;

	memset(&tk, 0, sizeof(tk));
	memset(page, 0, sizeof(*page));
	err_clear(&se);
	if (ra_approval_load(st, token, &a, res, e) == -1)
		return -1;
	if (*res != RA_SUBMIT_ISSUED)
		return 0;
	if (ra_token_decode(token, raw) == -1)
		goto out;
	ra_token_hash(raw, h);
	if (store_ticket_get(st, a.ticket, &tk, e) == -1)
		goto out;
	issue_values_of(&v, &a);
	memset(&u, 0, sizeof(u));
	u.a = &a;
	u.v = &v;
	u.n = n;
	u.claim = ISSUE_CLAIM_APPROVE;
	u.claim_hash = h;
	u.from = RA_APP_APPROVED;
	u.page = page;
	if (strcmp(tk.status, "unused") != 0)
		*res = RA_SUBMIT_TICKET_USED;
	else if (issue_perform(ca, st, &u, res, refusal, sizeof(refusal), e) == -1)
		goto out;
	if (*res == RA_SUBMIT_TICKET_USED) {
		/* the ticket went to another certificate: this application can never be issued */
		if (ra_app_move(st, a.id, RA_APP_AWAITING_APPROVAL, RA_APP_EV_CANCEL, NULL, &se) ==
			-1 &&
		    se.code != ERR_CONFLICT)
			log_warn("ra: application %lld: %s", (long long)a.id, se.msg);
	} else if (*res == RA_SUBMIT_REFUSED) {
		/* the CSR the agent gave is refused now (a policy changed): stays awaiting */
		log_warn("ra: application %lld: approval refused: %s", (long long)a.id, refusal);
		snprintf(page->detail, sizeof(page->detail), "%s", refusal);
	}
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	store_ticket_clear(&tk);
	ra_app_clear(&a);
	return rc;
}

/* The rejection's write: the link used, awaiting-approval -> rejected, audit, mails. */
struct issue_reject_write {
	const struct ra_app *a;
	const struct ra_notify *n;
	const unsigned char *hash;
	time_t now;
	int decided;
};

static int
issue_reject_write(struct store *st, void *arg, struct err *e)
{
	struct issue_reject_write *w = arg;
	struct err se;

	err_clear(&se);
	if (store_token_use(st, w->hash, STORE_TOKEN_APPROVE, w->now, &se) == -1 ||
	    ra_app_move(st, w->a->id, RA_APP_AWAITING_APPROVAL, RA_APP_EV_REJECT, NULL, &se) ==
		-1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			return -1;
		}
		w->decided = 1;
		return err_set(e, ERR_CONFLICT, "ra: application %lld was decided already",
			       (long long)w->a->id);
	}
	if (store_audit_append(st, "portal:holder", "portal.reject", w->a->ticket, "", NULL, e) ==
	    -1)
		return -1;
	if (w->n != NULL && w->n->rejected != NULL && w->n->rejected(w->n->arg, st, w->a, e) == -1)
		return -1;
	return 0;
}

int
ra_reject(struct ca *ca, struct store *st, const char *token, const struct ra_notify *n,
	  enum ra_submit_result *res, struct err *e)
{
	struct issue_reject_write w;
	struct ra_app a;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	int rc = -1;

	if (ra_approval_load(st, token, &a, res, e) == -1)
		return -1;
	if (*res != RA_SUBMIT_ISSUED)
		return 0;
	if (ra_token_decode(token, raw) == -1)
		goto out;
	ra_token_hash(raw, h);
	memset(&w, 0, sizeof(w));
	w.a = &a;
	w.n = n;
	w.hash = h;
	w.now = util_now();
	if (ca_write(ca, st, issue_reject_write, &w, e) == -1) {
		if (!w.decided)
			goto out;
		err_clear(e);
		*res = RA_SUBMIT_DECIDED;
	} else {
		*res = RA_SUBMIT_REJECTED;
	}
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	ra_app_clear(&a);
	return rc;
}

/* ---- the agent's certificate page, by a mailed one-time link ---- */

/*
 * A download's write: the parked bytes taken (read and deleted in one statement), after the
 * purge when it is due.  A download that is not there (*gone) writes the purge only.
 */
struct issue_take {
	enum store_download_kind kind;
	const unsigned char *hash;
	time_t now;
	int purge;
	long long purge_prev;
	unsigned char *data;
	size_t len;
	int64_t app_id;
	int gone;
};

static int
issue_take_write(struct store *st, void *arg, struct err *e)
{
	struct issue_take *w = arg;
	struct err se;

	if (w->purge && store_download_purge(st, w->now, NULL, e) == -1)
		return -1;
	err_clear(&se);
	if (store_download_take(st, w->kind, w->hash, w->now, &w->data, &w->len, &w->app_id, &se) ==
	    -1) {
		if (se.code != ERR_NOTFOUND) {
			*e = se;
			return -1;
		}
		w->gone = 1;
	}
	return 0;
}

/* Forgets the bytes a take read (also of a take whose transaction failed). */
static void
issue_take_clear(struct issue_take *w)
{
	if (w->data != NULL) {
		sodium_memzero(w->data, w->len);
		free(w->data);
	}
	w->data = NULL;
	w->len = 0;
}

/*
 * The agent's delivery, in one write: the sealed page taken and opened, its application and
 * certificate read, so that a failure of any of it leaves the delivery where it was.
 */
struct issue_deliver {
	struct issue_take t;
	const unsigned char *key;
	char plain[RA_PIN_LEN + 1 + RA_TOKEN_TEXT + 1];
	struct ra_app a;
	struct store_cert cert;
};

static int
issue_deliver_write(struct store *st, void *arg, struct err *e)
{
	struct issue_deliver *d = arg;
	struct issue_take *w = &d->t;
	size_t pl;

	if (issue_take_write(st, w, e) == -1)
		return -1;
	if (w->gone)
		return 0;
	if (w->len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES ||
	    (pl = w->len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES) >=
		sizeof(d->plain) ||
	    crypto_secretbox_open_easy((unsigned char *)d->plain,
				       w->data + crypto_secretbox_NONCEBYTES,
				       w->len - crypto_secretbox_NONCEBYTES, w->data, d->key) != 0)
		return err_set(e, ERR_INTERNAL, "ra: delivery of application %lld does not open",
			       (long long)w->app_id);
	d->plain[pl] = '\0';
	if (ra_app_load(st, w->app_id, &d->a, e) == -1)
		return -1;
	if (d->a.cert_serial[0] == '\0')
		return err_set(e, ERR_INTERNAL, "ra: delivered application %lld has no certificate",
			       (long long)w->app_id);
	return store_cert_get(st, d->a.cert_serial, &d->cert, e);
}

int
ra_deliver_take(struct ca *ca, struct store *st, const char *token, struct ra_cert_page *page,
		int *found, struct err *e)
{
	struct issue_deliver d;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN], key[crypto_secretbox_KEYBYTES];
	char *nl;
	int rc = -1;

	*found = 0;
	memset(page, 0, sizeof(*page));
	memset(&d, 0, sizeof(d));
	memset(key, 0, sizeof(key));
	if (ra_token_decode(token, raw) == -1) {
		rc = 0;
		goto out;
	}
	ra_token_hash(raw, h);
	issue_seal_key(raw, key);
	d.t.kind = STORE_DOWNLOAD_DELIVERY;
	d.t.hash = h;
	d.t.now = util_now();
	d.key = key;
	if (ca_write(ca, st, issue_deliver_write, &d, e) == -1)
		goto out;
	if (d.t.gone) {
		rc = 0;
		goto out;
	}
	snprintf(page->serial, sizeof(page->serial), "%s", d.cert.serial);
	snprintf(page->profile, sizeof(page->profile), "%s", d.a.profile);
	page->agent = d.a.agent;
	if (issue_page_cert(page, d.cert.der, d.cert.derlen, d.cert.not_after, e) == -1)
		goto out;
	page->p12 = strcmp(d.a.key_mode, "csr") != 0;
	if ((nl = strchr(d.plain, '\n')) != NULL) {
		*nl = '\0';
		snprintf(page->pin, sizeof(page->pin), "%.12s", d.plain);
		snprintf(page->dl, sizeof(page->dl), "%.43s", nl + 1);
	}
	*found = 1;
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(d.plain, sizeof(d.plain));
	issue_take_clear(&d.t);
	store_cert_clear(&d.cert);
	ra_app_clear(&d.a);
	if (rc != 0)
		ra_cert_page_clear(page);
	return rc;
}

/* ---- the single-use PKCS#12 download ---- */

int
ra_download_take(struct ca *ca, struct store *st, const char *secret, unsigned char **data,
		 size_t *len, struct err *e)
{
	struct issue_take w;
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	int rc = -1;

	*data = NULL;
	*len = 0;
	memset(&w, 0, sizeof(w));
	if (ra_token_decode(secret, raw) == -1) {
		err_set(e, ERR_NOTFOUND, "ra: no such download");
		goto out;
	}
	ra_token_hash(raw, h);
	w.kind = STORE_DOWNLOAD_PKCS12;
	w.hash = h;
	w.now = util_now();
	w.purge = issue_purge_claim(w.now, &w.purge_prev);
	if (ca_write(ca, st, issue_take_write, &w, e) == -1) {
		if (w.purge)
			issue_purge_unclaim(w.now, w.purge_prev);
		goto out;
	}
	if (w.gone) {
		err_set(e, ERR_NOTFOUND, "ra: no such download");
		goto out;
	}
	*data = w.data;
	*len = w.len;
	w.data = NULL;
	rc = 0;
out:
	issue_take_clear(&w);
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

int
ra_download_peek(struct store *st, const char *secret, struct err *e)
{
	unsigned char raw[RA_TOKEN_LEN], h[STORE_HASH_LEN];
	int rc = -1;

	if (ra_token_decode(secret, raw) == -1) {
		err_set(e, ERR_NOTFOUND, "ra: no such download");
		goto out;
	}
	ra_token_hash(raw, h);
	rc = store_download_peek(st, STORE_DOWNLOAD_PKCS12, h, util_now(), e);
out:
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

/* ---- the fetch of a re-issue (the new certificate of an approved re-issue) ---- */

int
ra_reissue_fetch(struct ca *ca, struct store *st, const char *code, const char *csr,
		 const struct ra_notify *n, enum ra_submit_result *res, struct ra_cert_page *page,
		 struct err *e)
{
	struct store_app rec;
	struct ra_app a;
	struct ra_issue_values v;
	struct issue_run u;
	struct err se;
	unsigned char h[STORE_HASH_LEN];
	int rc = -1;

	memset(&rec, 0, sizeof(rec));
	memset(&a, 0, sizeof(a));
	memset(page, 0, sizeof(*page));
	err_clear(&se);
	*res = RA_SUBMIT_NOT_REISSUE;
	if (ra_code_hash(code, h) == -1 || store_app_get_by_code(st, h, &rec, &se) == -1 ||
	    rec.predecessor_id == 0) {
		if (se.code != ERR_OK && se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (ra_app_load(st, rec.id, &a, e) == -1)
		goto out;
	if (a.state != RA_APP_APPROVED) {
		*res = RA_SUBMIT_USED;
	} else if (a.expires <= util_now()) {
		*res = RA_SUBMIT_EXPIRED;
	} else if (strcmp(a.key_mode, "csr") == 0 && (csr == NULL || *csr == '\0')) {
		*res = RA_SUBMIT_NEED_CSR;
	} else {
		issue_values_of(&v, &a);
		if (strcmp(a.key_mode, "csr") == 0)
			v.csr = csr;
		memset(&u, 0, sizeof(u));
		u.a = &a;
		u.v = &v;
		u.n = n;
		u.claim = ISSUE_CLAIM_NONE;
		u.from = RA_APP_APPROVED;
		u.reissue = 1;
		u.code = code;
		u.fixed_code_hash = h;
		u.page = page;
		if (issue_perform(ca, st, &u, res, page->detail, sizeof(page->detail), e) == -1)
			goto out;
	}
	rc = 0;
out:
	store_app_clear(&rec);
	ra_app_clear(&a);
	return rc;
}
