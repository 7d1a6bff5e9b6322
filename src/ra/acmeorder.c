/*
 * acmeorder: the RA's side of ACME orders (RFC 8555 7.1.3, 7.4, 7.5, 8.3; the protocol is
 * src/acme's): which identifiers an account may order (its binding's names, or the
 * organization's domains, through the name policy), the life of an order and its
 * authorizations (challenges http-01, dns-01 and tls-alpn-01 each, a wildcard's dns-01 alone;
 * one attempt per authorization: answering one challenge settles it), the outcome of a validation,
 * and finalization through ra_issue, so that an ACME certificate is an organization's certificate
 * like any other (its lists, statistics, audit chain).
 *
 * The states are enum order_state (names: order_state_names, the text the store and the
 * protocol carry), and two functions alone change them, each checking its transition table
 * (a move outside it is a broken invariant: fatal) and writing by a conditional update (the
 * former state in the WHERE clause: ERR_CONFLICT when another request moved it first):
 * order_move: order pending -> ready (all authorizations valid) | invalid (one invalid), ready
 * -> valid in the certificate's own transaction; chall_move: challenge pending -> processing ->
 * valid | invalid, its authorization's attempt (acme_authzs.chall_status) with it, the
 * authorization pending, then valid | invalid with it.  Besides, an authorization moves pending
 * | valid -> deactivated (ra_acme_authz_deactivate) or -> expired (authz_expire, when read past
 * its expiry), each a conditional update that also makes its pending or ready orders invalid.
 *
 * An authorization may serve several orders of its account (acme_order_authzs, 0023): newOrder
 * reuses a valid one within its reuse period (acme.authz_reuse_days) or a pending one, and
 * newAuthz makes one of no order (a pre-authorization).  Identifiers are DNS names or, RFC
 * 8738, IP addresses the binding names.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <sodium.h>

#include "ra.h"
#include "util/b64.h"
#include "x509/x509.h"

enum order_state {
	ORDER_ST_PENDING = 0,
	ORDER_ST_READY,
	ORDER_ST_PROCESSING,
	ORDER_ST_VALID,
	ORDER_ST_INVALID,
	ORDER_ST__MAX
};
static const char *const order_state_names[ORDER_ST__MAX] = {"pending", "ready", "processing",
							     "valid", "invalid"};

/*
 * The moves of an order ([from][to]).  A pending or ready order becomes invalid when it
 * expires or one of its authorizations is deactivated or expires.  finalize takes it from ready to
 * processing on its own before anything is signed (one finalize of two at once wins; the other is
 * told not ready), then to valid in the certificate's transaction, or back to ready when the
 * issuance failed.
 */
static const unsigned char order_moves[ORDER_ST__MAX][ORDER_ST__MAX] = {
    [ORDER_ST_PENDING] = {[ORDER_ST_READY] = 1, [ORDER_ST_INVALID] = 1},
    [ORDER_ST_READY] = {[ORDER_ST_PROCESSING] = 1, [ORDER_ST_INVALID] = 1},
    [ORDER_ST_PROCESSING] = {[ORDER_ST_VALID] = 1, [ORDER_ST_READY] = 1},
};
/* The moves of a challenge ([from][to]); its authorization follows (chall_move). */
static const unsigned char chall_moves[ORDER_ST__MAX][ORDER_ST__MAX] = {
    [ORDER_ST_PENDING] = {[ORDER_ST_PROCESSING] = 1},
    [ORDER_ST_PROCESSING] = {[ORDER_ST_VALID] = 1, [ORDER_ST_INVALID] = 1},
};

/* Seconds a valid authorization lives (acme.authz_reuse_days; set once at start). */
static time_t order_reuse_s = (time_t)RA_ACME_REUSE_DAYS * 86400;

void
ra_acme_reuse_set(long days)
{
	if (days < 1 || days > RA_ACME_REUSE_DAYS_MAX)
		fatalx("acme: authz_reuse_days %ld out of range", days);
	order_reuse_s = (time_t)days * 86400;
}

/*
 * The one way an order changes state (serial: the certificate, with valid; before != 0: only
 * when it has not moved since, the sweep's condition).
 */
static int
order_move(struct store *st, int64_t id, enum order_state from, enum order_state to,
	   const char *serial, time_t before, struct err *e)
{
	if (from >= ORDER_ST__MAX || to >= ORDER_ST__MAX || !order_moves[from][to])
		fatalx("acme: order %" PRId64 ": no move from %d to %d", id, (int)from, (int)to);
	return store_acme_order_move(st, id, order_state_names[from], order_state_names[to], serial,
				     util_now(), before, e);
}

/* order_move as a unit of the group commit of its own (order_move_unit). */
struct order_mv {
	int64_t id;
	enum order_state from, to;
};

static int
order_move_write(struct store *st, void *arg, struct err *e)
{
	const struct order_mv *q = arg;

	return order_move(st, q->id, q->from, q->to, NULL, 0, e);
}

/* order_move, durable when it returns (ra_acme_write; it may run again: one update). */
static int
order_move_unit(struct store *st, int64_t id, enum order_state from, enum order_state to,
		struct err *e)
{
	struct order_mv q = {id, from, to};

	return ra_acme_write(st, order_move_write, &q, 1, e);
}

/* An order's move with its audit entry, one unit (order_expire, order_sweep). */
struct order_mva {
	int64_t id;
	enum order_state from, to;
	time_t before;
	const char *actor, *action, *obj, *detail;
};

static int
order_move_audit_write(struct store *st, void *arg, struct err *e)
{
	const struct order_mva *q = arg;

	if (order_move(st, q->id, q->from, q->to, NULL, q->before, e) == -1 ||
	    store_audit_append(st, q->actor, q->action, q->obj, q->detail, NULL, e) == -1)
		return -1;
	return 0;
}

/*
 * The one way a challenge (chall) changes state, with its authorization's attempt (authz): the
 * authorization is pending while the challenge is processing, then valid or invalid with it.
 * problem: the error document of invalid; before as for order_move (the authorization's).
 */
static int
chall_move(struct store *st, int64_t authz, int64_t chall, enum order_state from,
	   enum order_state to, const char *problem, time_t before, struct err *e)
{
	const char *pb = to == ORDER_ST_INVALID ? problem : NULL;

	if (from >= ORDER_ST__MAX || to >= ORDER_ST__MAX || !chall_moves[from][to])
		fatalx("acme: challenge %" PRId64 ": no move from %d to %d", chall, (int)from,
		       (int)to);
	if (store_acme_authz_move(
		st, authz, order_state_names[from],
		order_state_names[to == ORDER_ST_PROCESSING ? ORDER_ST_PENDING : to],
		order_state_names[to], pb, util_now(), before, util_now() + order_reuse_s, e) == -1)
		return -1;
	return store_acme_chall_move(st, chall, order_state_names[from], order_state_names[to], pb,
				     util_now(), e);
}

/* As in acme.c: each public function decides on its own error and hands it over at its end. */
static void
order_err_out(struct err *out, const struct err *le)
{
	if (le->code != ERR_OK)
		err_set(out, le->code, "%s", le->msg);
}

void
ra_acme_order_clear(struct ra_acme_order *o)
{
	if (o == NULL)
		return;
	store_acme_order_clear(&o->o);
	STORE_LIST_FREE(o->az, o->naz, store_acme_authz_clear);
	memset(o, 0, sizeof(*o));
}

void
ra_acme_authz_clear(struct ra_acme_authz *a)
{
	if (a == NULL)
		return;
	store_acme_authz_clear(&a->s);
	STORE_LIST_FREE(a->ch, a->nch, store_acme_chall_clear);
	a->ch = NULL;
	a->nch = 0;
	a->at = 0;
}

int
ra_acme_ip_text(const unsigned char *b, size_t len, char *out, size_t n)
{
	if ((len != 4 && len != 16) ||
	    inet_ntop(len == 4 ? AF_INET : AF_INET6, b, out, (socklen_t)n) == NULL)
		return -1;
	return 0;
}

int
ra_acme_ip_canon(const char *text, unsigned char b[16], size_t *len)
{
	char back[INET6_ADDRSTRLEN];

	if (strchr(text, ':') == NULL) {
		if (inet_pton(AF_INET, text, b) != 1)
			return -1;
		*len = 4;
	} else {
		if (inet_pton(AF_INET6, text, b) != 1)
			return -1;
		*len = 16;
	}
	/* the one spelling: what inet_ntop writes (RFC 5952 for IPv6) */
	if (ra_acme_ip_text(b, *len, back, sizeof(back)) == -1 || strcmp(back, text) != 0)
		return -1;
	return 0;
}

int
ra_acme_ip_reverse(const char *text, char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t len = 0, k = 0;

	if (ra_acme_ip_canon(text, b, &len) == -1)
		return -1;
	if (len == 4) {
		if ((size_t)snprintf(out, n, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]) >=
		    n)
			return -1;
		return 0;
	}
	if (n < 16 * 4 + sizeof("ip6.arpa"))
		return -1;
	for (int i = 15; i >= 0; i--) {
		out[k++] = hex[b[i] & 0x0f];
		out[k++] = '.';
		out[k++] = hex[b[i] >> 4];
		out[k++] = '.';
	}
	memcpy(out + k, "ip6.arpa", sizeof("ip6.arpa"));
	return 0;
}

/* 1 when name is one of the comma-separated names of list. */
static int
order_name_listed(const char *list, const char *name)
{
	size_t n, l = strlen(name);

	while (*list != '\0') {
		n = strcspn(list, ",");
		if (n == l && strncmp(list, name, n) == 0)
			return 1;
		list += n + (list[n] == ',');
	}
	return 0;
}

/*
 * The refusal (allocated) of an ip identifier (RFC 8738), or NULL when accepted: its canonical
 * text only, named by the binding itself (an organization's domains never cover an address),
 * and within the organization's addresses (ra_policy_names for profile server).
 */
static char *
order_ip_refusal(const struct store_org *org, const char *names, const struct ra_acme_ident *id)
{
	const struct profile *prof = profile_find("server");
	GENERAL_NAMES *gns = NULL;
	GENERAL_NAME *gn = NULL;
	ASN1_OCTET_STRING *os = NULL;
	unsigned char b[16];
	char esc[300], msg[512];
	size_t len = 0;
	struct err e;

	err_clear(&e);
	log_escape(esc, sizeof(esc), id->value, strlen(id->value));
	if (ra_acme_ip_canon(id->value, b, &len) == -1)
		return xasprintf("RFC 8738 3: \"%s\" is no IPv4 address in dotted decimal nor "
				 "IPv6 address in RFC 5952's canonical form",
				 esc);
	if (!order_name_listed(names, id->value))
		return xasprintf("RFC 8738: the address %s is not named by the account's binding "
				 "(an address is ordered only when the binding names it)",
				 esc);
	if (prof == NULL || (gns = GENERAL_NAMES_new()) == NULL ||
	    (gn = GENERAL_NAME_new()) == NULL || (os = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(os, b, (int)len) != 1)
		fatalx("acme: out of memory building a name");
	GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
	if (sk_GENERAL_NAME_push(gns, gn) == 0)
		fatalx("acme: out of memory building a name");
	msg[0] = '\0';
	if (ra_policy_names(org, prof, gns, &e) == -1)
		snprintf(msg, sizeof(msg), "%.480s", e.msg);
	GENERAL_NAMES_free(gns);
	return msg[0] != '\0' ? xstrdup(msg) : NULL;
}

/* 1 when v (a DNS identifier's value) is written as an IPv4 address would be. */
static int
order_looks_ip(const char *v)
{
	unsigned char b[16];

	return inet_pton(AF_INET, v, b) == 1 || inet_pton(AF_INET6, v, b) == 1;
}

int
ra_acme_dns_looks_ip(const char *name)
{
	const char *last = strrchr(name, '.');
	size_t n;

	last = last != NULL ? last + 1 : name;
	/* a trailing dot ends the name: the label before it counts */
	if (*last == '\0' && last != name) {
		const char *p = last - 1;

		while (p > name && p[-1] != '.')
			p--;
		last = p;
	}
	n = strcspn(last, ".");
	if (n == 0)
		return 0;
	if (strspn(last, "0123456789") == n)
		return 1;
	/* inet_aton's hexadecimal part: 0x, then hex digits (or none: "0x" is 0) */
	if (n >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
	    strspn(last + 2, "0123456789abcdefABCDEF") == n - 2)
		return 1;
	return 0;
}

/* 1 when v (lower case) is no fully qualified host name of at least two labels. */
static int
order_host_bad(const char *v)
{
	size_t n = strlen(v);

	return n == 0 || n > 253 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-.") != n ||
	       v[0] == '.' || v[0] == '-' || v[n - 1] == '.' || strstr(v, "..") != NULL ||
	       strchr(v, '.') == NULL;
}

/*
 * The refusal (allocated) of one DNS identifier, lower-cased in place, or NULL when accepted.
 * A wildcard "*.x" (id->wildcard set; value kept with "*.") is taken strictly: when the
 * binding names names, only where it names "*.x" itself (a listed x or a.x does not stand for
 * it); when it names none, where x lies within the organization's domains; and the name policy
 * of profile server must take "*.x".
 */
static char *
order_ident_refusal(const struct store_org *org, const char *names, struct ra_acme_ident *id)
{
	const struct profile *prof = profile_find("server");
	GENERAL_NAMES *gns = NULL;
	GENERAL_NAME *gn = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	char esc[300], msg[512], *v = id->value;
	size_t n = strlen(v);
	int wild = n > 2 && v[0] == '*' && v[1] == '.';
	struct err e;

	err_clear(&e);
	if (strcmp(id->type, "ip") == 0)
		return order_ip_refusal(org, names, id);
	log_escape(esc, sizeof(esc), v, n);
	msg[0] = '\0';
	for (size_t i = 0; i < n; i++)
		v[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
	id->wildcard = wild;
	if (strcmp(id->type, "dns") != 0)
		snprintf(msg, sizeof(msg),
			 "RFC 8555 7.1.4: identifier type \"%s\" is not offered here (dns and ip "
			 "only)",
			 id->type);
	else if (order_looks_ip(v))
		snprintf(msg, sizeof(msg),
			 "RFC 8738 3: %s is an address: its identifier's type is ip, not dns", esc);
	else if (n > 0 && n <= 253 && ra_acme_dns_looks_ip(wild ? v + 2 : v))
		snprintf(msg, sizeof(msg),
			 "RFC 1123 2.1: \"%s\" looks like an IP address (a numeric last label), "
			 "not a DNS name",
			 esc);
	else if (order_host_bad(wild ? v + 2 : v))
		snprintf(
		    msg, sizeof(msg),
		    "RFC 1035: \"%s\" is no fully qualified host name (a wildcard is \"*.\" and "
		    "one)",
		    esc);
	else if (*names != '\0' && !order_name_listed(names, v))
		snprintf(
		    msg, sizeof(msg),
		    "%s is not among the names of the account's binding (a wildcard only where "
		    "it names that wildcard)",
		    esc);
	else if (*names == '\0' && !ra_dns_in_org(org, v))
		snprintf(msg, sizeof(msg), "%s is not within the domains of organization %s", esc,
			 org->code);
	if (msg[0] != '\0')
		return xstrdup(msg);
	if (prof == NULL || (gns = GENERAL_NAMES_new()) == NULL ||
	    (gn = GENERAL_NAME_new()) == NULL || (ia5 = ASN1_IA5STRING_new()) == NULL ||
	    ASN1_STRING_set(ia5, v, (int)n) != 1)
		fatalx("acme: out of memory building a name");
	GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
	if (sk_GENERAL_NAME_push(gns, gn) == 0)
		fatalx("acme: out of memory building a name");
	if (ra_policy_names(org, prof, gns, &e) == -1)
		snprintf(msg, sizeof(msg), "%.480s", e.msg);
	GENERAL_NAMES_free(gns);
	return msg[0] != '\0' ? xstrdup(msg) : NULL;
}

/*
 * The binding of acct, active (EAB_UNUSABLE otherwise), and its organization: OK or the
 * refusal.
 */
static enum ra_acme_outcome
order_binding(struct store *st, const struct ra_acme_account *acct, struct store_acme_eab *b,
	      struct store_org *org, struct err *e)
{
	if (acct->eab_id == 0) {
		err_set(e, ERR_REFUSED,
			"acme: the account has no External Account Binding, so no organization: "
			"it orders nothing");
		return RA_ACME_EAB_UNUSABLE;
	}
	if (store_acme_eab_get_id(st, acct->eab_id, b, e) == -1)
		return RA_ACME_ERROR;
	if (strcmp(b->status, "active") != 0) {
		err_set(e, ERR_REFUSED, "acme: the account's binding %s is %s: no new orders",
			b->kid, b->status);
		return RA_ACME_EAB_UNUSABLE;
	}
	if (store_org_get(st, b->org_code, org, e) == -1)
		return RA_ACME_ERROR;
	return RA_ACME_OK;
}

/* Drops duplicate identifiers (after canonicalisation); returns the new count. */
static size_t
order_dedup(struct ra_acme_ident *ids, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < k; j++)
			if (strcmp(ids[j].type, ids[i].type) == 0 &&
			    strcmp(ids[j].value, ids[i].value) == 0)
				break;
		if (j == k)
			ids[k++] = ids[i];
		else
			free(ids[i].refusal);
	}
	return k;
}

/* A new challenge token (32 random bytes as base64url) into t. */
static void
order_token(char t[RA_ACME_TOKEN_TEXT])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	if (b64url_encode(t, RA_ACME_TOKEN_TEXT, raw, sizeof(raw)) == -1)
		fatalx("acme: token buffer");
}

/* The challenge types an authorization offers, in the order they are listed (7.1.3, 8). */
static const char *const order_chall_types[] = {"http-01", "dns-01", "tls-alpn-01"};

/*
 * The challenges of authorization id: http-01 (with first, the authorization's own token),
 * dns-01, tls-alpn-01; a wildcard's dns-01 alone (RFC 8555 7.1.3), with first; an address's
 * http-01 and tls-alpn-01.
 */
static int
order_challs_add(struct store *st, int64_t id, int wildcard, int ip, const char *first,
		 struct err *e)
{
	struct store_acme_chall c;
	char token[RA_ACME_TOKEN_TEXT];

	for (size_t i = 0; i < sizeof(order_chall_types) / sizeof(order_chall_types[0]); i++) {
		if (wildcard && strcmp(order_chall_types[i], "dns-01") != 0)
			continue;
		/* an address has no DNS zone to prove: never dns-01 (RFC 8738 7); http-01 and
		 * tls-alpn-01 (RFC 8738 6: the reverse name as SNI, an iPAddress in the
		 * certificate) */
		if (ip && strcmp(order_chall_types[i], "dns-01") == 0)
			continue;
		memset(&c, 0, sizeof(c));
		c.authz_id = id;
		snprintf(c.type, sizeof(c.type), "%s", order_chall_types[i]);
		if (wildcard || i == 0) {
			c.token = (char *)first;
		} else {
			order_token(token);
			c.token = token;
		}
		if (store_acme_chall_add(st, &c, e) == -1)
			return -1;
	}
	return 0;
}

/*
 * A new pending authorization of acct for identifier id with its challenges, serving order
 * order_id (0: none, a pre-authorization); *out its id.
 */
static int
order_authz_add(struct store *st, int64_t acct, int64_t order_id, const struct ra_acme_ident *id,
		time_t expires, int64_t *out, struct err *e)
{
	struct store_acme_authz a;
	char token[RA_ACME_TOKEN_TEXT];

	memset(&a, 0, sizeof(a));
	order_token(token);
	a.order_id = order_id;
	a.account_id = acct;
	snprintf(a.type, sizeof(a.type), "%s", id->type);
	/* a wildcard's authorization is for the name below "*." (7.1.3) */
	a.value = (char *)id->value + (id->wildcard ? 2 : 0);
	a.expires = expires;
	a.token = token;
	a.wildcard = id->wildcard;
	if (store_acme_authz_add(st, &a, e) == -1 ||
	    order_challs_add(st, a.id, id->wildcard, strcmp(id->type, "ip") == 0, token, e) == -1 ||
	    (order_id != 0 && store_acme_authz_link(st, order_id, a.id, e) == -1))
		return -1;
	*out = a.id;
	return 0;
}

/* order_insert's unit (ra_acme_write): reads the reusable authorizations and writes. */
struct order_ins {
	const struct ra_acme_account *acct;
	const struct store_acme_eab *b;
	const struct ra_acme_ident *ids;
	size_t n;
	const char *profile;
	const struct ra_acme_certid *rep;
	const char *actor;
	struct store_acme_order o;
	time_t now;
	int64_t *reuse;
};

static int
order_insert_write(struct store *st, void *arg, struct err *e)
{
	struct order_ins *q = arg;
	struct store_acme_order *o = &q->o;
	struct store_acme_authz ra;
	const struct ra_acme_ident *ids = q->ids;
	char obj[48];
	struct buf d;
	size_t valid = 0, n = q->n;
	int64_t aid;
	int rc = -1;

	memset(&ra, 0, sizeof(ra));
	buf_init(&d, 64 * 1024);
	o->expires = q->now + RA_ACME_ORDER_TTL;
	o->id = 0;
	for (size_t i = 0; i < n; i++) {
		/* (a wildcard's authorization is for the name below "*.", 7.1.3) */
		if (store_acme_authz_find(st, q->acct->id, ids[i].type,
					  ids[i].value + (ids[i].wildcard ? 2 : 0), ids[i].wildcard,
					  0, q->now, &q->reuse[i], e) == -1)
			goto out;
		if (q->reuse[i] == 0)
			continue;
		if (store_acme_authz_get(st, q->reuse[i], &ra, e) == -1)
			goto out;
		if (ra.expires < o->expires)
			o->expires = ra.expires;
		valid += strcmp(ra.status, "valid") == 0;
		store_acme_authz_clear(&ra);
	}
	if (store_acme_order_add(st, o, e) == -1)
		goto out;
	buf_printf(&d, "account=%" PRId64 " binding=%s org=%s profile=%s%s%s names=", q->acct->id,
		   q->b->kid, q->b->org_code, q->profile, q->rep != NULL ? " replaces=" : "",
		   q->rep != NULL ? q->rep->serial : "");
	for (size_t i = 0; i < n; i++) {
		if (q->reuse[i] != 0) {
			if (store_acme_authz_link(st, o->id, q->reuse[i], e) == -1)
				goto out;
		} else if (order_authz_add(st, q->acct->id, o->id, &ids[i], o->expires, &aid, e) ==
			   -1) {
			goto out;
		}
		buf_printf(&d, "%s%s", i > 0 ? "," : "", ids[i].value);
		if (q->reuse[i] != 0)
			buf_printf(&d, "(reused authz %" PRId64 ")", q->reuse[i]);
	}
	if (valid == n && order_move(st, o->id, ORDER_ST_PENDING, ORDER_ST_READY, NULL, 0, e) == -1)
		goto out;
	snprintf(obj, sizeof(obj), "acme-order:%" PRId64, o->id);
	if (store_audit_append(st, q->actor, "acme.order.create", obj, buf_cstr(&d), NULL, e) == -1)
		goto out;
	rc = 0;
out:
	store_acme_authz_clear(&ra);
	buf_free(&d);
	return rc;
}

/*
 * The order's rows (one unit of the group commit with its audit entry); *id the new order.
 * Each identifier reuses the account's authorization of it when one is valid (within its reuse
 * period) or pending (unexpired), else gets a new one; the order expires with the earliest of
 * them, and is ready at once when all are valid.  (The identifiers passed the binding's names
 * and the policy just now, so a binding that no longer covers a name does not benefit.)
 */
static int
order_insert(struct store *st, const struct ra_acme_account *acct, const struct store_acme_eab *b,
	     const struct ra_acme_ident *ids, size_t n, const char *profile,
	     const struct ra_acme_certid *rep, const char *actor, int64_t *id, struct err *e)
{
	struct order_ins q;
	json_t *arr = json_array();
	char *text = NULL;
	int rc = -1;

	memset(&q, 0, sizeof(q));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    arr, json_pack("{s:s, s:s}", "type", ids[i].type, "value", ids[i].value));
	if ((text = json_dumps(arr, JSON_COMPACT)) == NULL)
		fatalx("acme: out of memory");
	q.acct = acct;
	q.b = b;
	q.ids = ids;
	q.n = n;
	q.profile = profile;
	q.rep = rep;
	q.actor = actor;
	q.now = util_now();
	q.reuse = xcalloc(n > 0 ? n : 1, sizeof(*q.reuse));
	q.o.account_id = acct->id;
	q.o.identifiers = text;
	q.o.created = q.now;
	q.o.profile = (char *)profile;
	q.o.replaces = rep != NULL ? (char *)rep->serial : NULL;
	q.o.replaces_certid = rep != NULL ? (char *)rep->text : NULL;
	if (ra_acme_write(st, order_insert_write, &q, 0, e) == -1)
		goto out;
	*id = q.o.id;
	rc = 0;
out:
	json_decref(arr);
	free(text);
	free(q.reuse);
	return rc;
}

/*
 * The certificate an order replaces (RFC 9773 5), its identifiers ids already canonical:
 * issued by one of ca's issuing CAs, obtained over ACME by this account (a binding serves one
 * account, so this is the binding's too), sharing an identifier, not replaced by an order being
 * finalized or finalized.  OK, UNAUTHORIZED, BAD_REPLACES, ALREADY_REPLACED or ERROR.
 */
static enum ra_acme_outcome
order_replaces(struct store *st, const struct ca *ca, const struct ra_acme_account *acct,
	       const struct ra_acme_certid *id, const struct ra_acme_ident *ids, size_t n,
	       struct err *e)
{
	const struct ca_issuing *ci = NULL;
	const ASN1_OCTET_STRING *ski;
	struct store_acme_order o;
	struct store_cert c;
	enum ra_acme_outcome r = RA_ACME_UNAUTHORIZED;
	json_t *have = NULL, *v;
	int64_t other = 0;
	size_t i, k, common = 0;

	memset(&o, 0, sizeof(o));
	memset(&c, 0, sizeof(c));
	for (i = 0; ca != NULL && i < ca->ncas && ci == NULL; i++) {
		ski = X509_get0_subject_key_id(ca->cas[i].cert);
		if (ski != NULL && (size_t)ASN1_STRING_length(ski) == id->akilen &&
		    memcmp(ASN1_STRING_get0_data(ski), id->aki, id->akilen) == 0)
			ci = &ca->cas[i];
	}
	if (ci == NULL || store_acme_order_of_serial(st, id->serial, &o, e) == -1 ||
	    o.account_id != acct->id || store_cert_get(st, id->serial, &c, e) == -1 ||
	    c.ca == NULL || strcmp(c.ca, ci->name) != 0) {
		if (err_is_set(e) && e->code != ERR_NOTFOUND) {
			r = RA_ACME_ERROR;
			goto out;
		}
		err_clear(e);
		err_set(e, ERR_REFUSED,
			"acme: RFC 9773 5: replaces names no certificate this account obtained "
			"here");
		goto out;
	}
	if ((have = json_loads(o.identifiers, 0, NULL)) == NULL || !json_is_array(have)) {
		err_set(e, ERR_INTERNAL, "acme: order %" PRId64 ": stored identifiers do not load",
			o.id);
		r = RA_ACME_ERROR;
		goto out;
	}
	for (i = 0; i < n; i++)
		json_array_foreach(have, k, v)
		{
			const char *name = json_string_value(json_object_get(v, "value"));

			if (name != NULL && strcmp(name, ids[i].value) == 0)
				common++;
		}
	if (common == 0) {
		err_set(e, ERR_REFUSED,
			"acme: RFC 9773 5: the order shares no identifier with the certificate %s "
			"it replaces",
			id->serial);
		r = RA_ACME_BAD_REPLACES;
		goto out;
	}
	r = RA_ACME_ERROR;
	if (store_acme_order_replacing(st, id->serial, 0, &other, e) == -1)
		goto out;
	if (other != 0) {
		err_set(e, ERR_CONFLICT,
			"acme: RFC 9773 5: certificate %s is already replaced (order %" PRId64 ")",
			id->serial, other);
		r = RA_ACME_ALREADY_REPLACED;
		goto out;
	}
	r = RA_ACME_OK;
out:
	json_decref(have);
	store_cert_clear(&c);
	store_acme_order_clear(&o);
	return r;
}

enum ra_acme_outcome
ra_acme_order_new(struct store *st, const struct ra_acme_account *acct, struct ra_acme_ident *ids,
		  size_t n, const char *actor, struct ra_acme_order *out, struct err *e_out)
{
	return ra_acme_order_new_ex(st, acct, ids, n, NULL, actor, out, e_out);
}

enum ra_acme_outcome
ra_acme_order_new_ex(struct store *st, const struct ra_acme_account *acct,
		     struct ra_acme_ident *ids, size_t n, const struct ra_acme_order_opts *opt,
		     const char *actor, struct ra_acme_order *out, struct err *e_out)
{
	struct err le, *e = &le;
	struct store_acme_eab b;
	struct store_org org;
	enum ra_acme_outcome r;
	const char *profile = opt != NULL && opt->profile != NULL ? opt->profile : "server";
	char esc[80];
	size_t refused = 0;
	int64_t id = 0;

	err_clear(&le);
	memset(&b, 0, sizeof(b));
	memset(&org, 0, sizeof(org));
	memset(out, 0, sizeof(*out));
	if (!ra_acme_profile_ok(profile)) {
		err_set(e, ERR_REFUSED, "acme: profile \"%s\" is not issued over ACME",
			log_escape(esc, sizeof(esc), profile, strlen(profile)));
		r = RA_ACME_BAD_PROFILE;
		goto out;
	}
	if ((r = order_binding(st, acct, &b, &org, e)) != RA_ACME_OK)
		goto out;
	for (size_t i = 0; i < n; i++)
		if ((ids[i].refusal = order_ident_refusal(&org, b.names, &ids[i])) != NULL)
			refused++;
	for (size_t i = 0; refused == 1 && i < n; i++)
		if (ids[i].refusal != NULL)
			err_set(e, ERR_REFUSED, "acme: %s", ids[i].refusal);
	if (refused > 1)
		err_set(e, ERR_REFUSED, "acme: %zu of the order's %zu identifiers are refused",
			refused, n);
	if (refused > 0) {
		r = RA_ACME_REJECTED;
		goto out;
	}
	n = order_dedup(ids, n);
	if (opt != NULL && opt->replaces != NULL &&
	    (r = order_replaces(st, opt->ca, acct, opt->replaces, ids, n, e)) != RA_ACME_OK)
		goto out;
	r = RA_ACME_ERROR;
	if (order_insert(st, acct, &b, ids, n, profile, opt != NULL ? opt->replaces : NULL, actor,
			 &id, e) == -1)
		goto out;
	if ((r = ra_acme_order_get(st, id, acct->id, out, e)) == RA_ACME_OK)
		r = RA_ACME_CREATED;
out:
	store_acme_eab_clear(&b);
	store_org_clear(&org);
	order_err_out(e_out, &le);
	return r;
}

/* ra_acme_authz_new's unit: the account's authorization of the identifier, or a new one. */
struct authz_ins {
	const struct ra_acme_account *acct;
	const struct store_acme_eab *b;
	const struct ra_acme_ident *id;
	const char *actor;
	int64_t aid;
	int created;
};

static int
authz_new_write(struct store *st, void *arg, struct err *e)
{
	struct authz_ins *q = arg;
	char obj[48], detail[400];

	q->aid = 0;
	q->created = 0;
	/* the account's valid or pending authorization of the identifier, when there is one: a
	 * pre-authorization makes no second (nor rows without end) */
	if (store_acme_authz_find(st, q->acct->id, q->id->type, q->id->value, 0, 0, util_now(),
				  &q->aid, e) == -1)
		return -1;
	if (q->aid != 0)
		return 0;
	if (order_authz_add(st, q->acct->id, 0, q->id, util_now() + RA_ACME_ORDER_TTL, &q->aid,
			    e) == -1)
		return -1;
	snprintf(obj, sizeof(obj), "acme-authz:%" PRId64, q->aid);
	snprintf(detail, sizeof(detail),
		 "account=%" PRId64 " binding=%s org=%s %s:%.256s (pre-authorization)", q->acct->id,
		 q->b->kid, q->b->org_code, q->id->type, q->id->value);
	if (store_audit_append(st, q->actor, "acme.authz.create", obj, detail, NULL, e) == -1)
		return -1;
	q->created = 1;
	return 0;
}

enum ra_acme_outcome
ra_acme_authz_new(struct store *st, const struct ra_acme_account *acct, struct ra_acme_ident *id,
		  const char *actor, struct ra_acme_authz *out, struct err *e_out)
{
	struct err le, *e = &le;
	struct store_acme_eab b;
	struct store_org org;
	struct authz_ins q;
	enum ra_acme_outcome r;
	char esc[300];

	err_clear(&le);
	memset(&b, 0, sizeof(b));
	memset(&org, 0, sizeof(org));
	memset(&q, 0, sizeof(q));
	memset(out, 0, sizeof(*out));
	if ((r = order_binding(st, acct, &b, &org, e)) != RA_ACME_OK)
		goto out;
	if (id->value[0] == '*')
		id->refusal = xasprintf("RFC 8555 7.4.1: newAuthz takes no wildcard (%s): order it",
					log_escape(esc, sizeof(esc), id->value, strlen(id->value)));
	else
		id->refusal = order_ident_refusal(&org, b.names, id);
	if (id->refusal != NULL) {
		err_set(e, ERR_REFUSED, "acme: %s", id->refusal);
		r = RA_ACME_REJECTED;
		goto out;
	}
	r = RA_ACME_ERROR;
	q.acct = acct;
	q.b = &b;
	q.id = id;
	q.actor = actor;
	if (ra_acme_write(st, authz_new_write, &q, 0, e) == -1)
		goto out;
	if ((r = ra_acme_authz_get(st, q.aid, acct->id, out, e)) == RA_ACME_OK && q.created)
		r = RA_ACME_CREATED;
out:
	store_acme_eab_clear(&b);
	store_org_clear(&org);
	order_err_out(e_out, &le);
	return r;
}

/* ---- expiry, written when read ---- */

/*
 * Makes the orders authorization aid serves invalid when they are pending or ready (it expired
 * or was deactivated); each move conditional, one that finds another status is no failure.
 */
static int
authz_orders_invalid(struct store *st, int64_t aid, struct err *e)
{
	static const enum order_state from[] = {ORDER_ST_PENDING, ORDER_ST_READY};
	int64_t *ids = NULL;
	size_t n = 0;
	struct err ce;
	int rc = -1;

	if (store_acme_authz_orders(st, aid, &ids, &n, e) == -1)
		goto out;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof(from) / sizeof(from[0]); k++) {
			err_clear(&ce);
			if (order_move(st, ids[i], from[k], ORDER_ST_INVALID, NULL, 0, &ce) == 0)
				break;
			if (ce.code != ERR_CONFLICT) {
				*e = ce;
				goto out;
			}
		}
	rc = 0;
out:
	free(ids);
	return rc;
}

/* 1 when authorization a has passed its expiry while pending or valid (7.1.6: expired). */
static int
authz_is_expired(const struct store_acme_authz *a, time_t now)
{
	return a->expires < now &&
	       (strcmp(a->status, "pending") == 0 || strcmp(a->status, "valid") == 0);
}

/*
 * An authorization past its expiry while pending or valid becomes expired (a conditional
 * update), its pending or ready orders invalid, audited acme.authz.expire by "acme:expiry",
 * one transaction.  *moved = 1 when it moved; not inside a caller's transaction.
 */
struct authz_exp {
	const struct store_acme_authz *a;
	const char *obj, *detail;
};

static int
authz_expire_write(struct store *st, void *arg, struct err *e)
{
	const struct authz_exp *q = arg;

	if (store_acme_authz_set_status(st, q->a->id, q->a->status, "expired", util_now(), e) ==
		-1 ||
	    authz_orders_invalid(st, q->a->id, e) == -1 ||
	    store_audit_append(st, "acme:expiry", "acme.authz.expire", q->obj, q->detail, NULL,
			       e) == -1)
		return -1;
	return 0;
}

static int
authz_expire(struct store *st, const struct store_acme_authz *a, int *moved, struct err *e)
{
	struct authz_exp q;
	char obj[48], detail[400];
	struct err le;
	int rc = -1;

	if (!authz_is_expired(a, util_now()) || store_in_tx(st))
		return 0;
	err_clear(&le);
	snprintf(obj, sizeof(obj), "acme-authz:%" PRId64, a->id);
	snprintf(detail, sizeof(detail), "account=%" PRId64 " %s:%.256s was %s until %lld",
		 a->account_id, a->type, a->value, a->status, (long long)a->expires);
	memset(&q, 0, sizeof(q));
	q.a = a;
	q.obj = obj;
	q.detail = detail;
	if (ra_acme_write(st, authz_expire_write, &q, 0, &le) == -1) {
		if (le.code == ERR_CONFLICT) { /* moved meanwhile */
			err_clear(&le);
			rc = 0;
		}
		goto out;
	}
	*moved = 1;
	rc = 0;
out:
	if (rc == -1)
		*e = le;
	return rc;
}

/*
 * Why pending or ready order o (with its authorizations) is invalid, or NULL: past its expiry,
 * or an authorization of it expired or deactivated.
 */
static const char *
order_is_dead(const struct ra_acme_order *o, time_t now)
{
	if (strcmp(o->o.status, "pending") != 0 && strcmp(o->o.status, "ready") != 0)
		return NULL;
	if (o->o.expires < now)
		return "expired";
	/* (an invalid one makes its orders invalid in its own transaction: order_follow) */
	for (size_t i = 0; i < o->naz; i++)
		if (strcmp(o->az[i].status, "expired") == 0 ||
		    strcmp(o->az[i].status, "deactivated") == 0 ||
		    strcmp(o->az[i].status, "revoked") == 0 || authz_is_expired(&o->az[i], now))
			return "an authorization of it expired or was deactivated";
	return NULL;
}

/*
 * A pending or ready order that order_is_dead becomes invalid (a conditional update), audited
 * acme.order.expire by "acme:expiry", one transaction; *moved as above.
 */
static int
order_expire(struct store *st, const struct ra_acme_order *o, int *moved, struct err *e)
{
	const char *why = order_is_dead(o, util_now());
	struct order_mva q;
	char obj[48], detail[160];
	struct err le;
	int rc = -1;

	if (why == NULL || store_in_tx(st))
		return 0;
	err_clear(&le);
	snprintf(obj, sizeof(obj), "acme-order:%" PRId64, o->o.id);
	snprintf(detail, sizeof(detail), "account=%" PRId64 " was %s: %s", o->o.account_id,
		 o->o.status, why);
	memset(&q, 0, sizeof(q));
	q.id = o->o.id;
	q.from = strcmp(o->o.status, "ready") == 0 ? ORDER_ST_READY : ORDER_ST_PENDING;
	q.to = ORDER_ST_INVALID;
	q.actor = "acme:expiry";
	q.action = "acme.order.expire";
	q.obj = obj;
	q.detail = detail;
	if (ra_acme_write(st, order_move_audit_write, &q, 0, &le) == -1) {
		if (le.code == ERR_CONFLICT) {
			err_clear(&le);
			rc = 0;
		}
		goto out;
	}
	*moved = 1;
	rc = 0;
out:
	if (rc == -1)
		*e = le;
	return rc;
}

/* ---- the sweep of what a crash left processing ---- */

static enum ra_acme_outcome chall_finish(struct store *, int64_t id, const char *problem,
					 const char *actor, time_t before, struct err *);
static int order_chall_at(const struct store_acme_chall *, size_t n, const char *status, int64_t id,
			  size_t *at);

/* The problem of a challenge whose validation a crash or a restart cut. */
static const char order_cut_problem[] =
    "{\"type\":\"urn:ietf:params:acme:error:serverInternal\","
    "\"detail\":\"the validation did not finish (restart)\",\"status\":500}";

/*
 * A challenge processing for RA_ACME_STALE seconds was cut by a crash (a validation takes 10 s
 * at most, and shutdown waits for it): invalid with order_cut_problem, its authorization and
 * order following, audited acme.validation.invalid by "acme:sweep" (no failed validation of the
 * name is counted).  Invalid rather than pending: RFC 8555 7.1.6 has no way back from
 * processing, and the client orders again.  *moved = 1 when it moved; not inside a caller's
 * transaction (then it is left to the next read).
 */
static int
order_sweep_chall(struct store *st, const struct store_acme_authz *a, int *moved, struct err *e)
{
	time_t before = util_now() - RA_ACME_STALE;
	struct store_acme_chall *ch = NULL;
	size_t nch = 0, at = 0;
	struct err le;
	int found;

	if (strcmp(a->chall_status, "processing") != 0 || a->updated >= before || store_in_tx(st))
		return 0;
	err_clear(&le);
	if (store_acme_chall_list(st, a->id, &ch, &nch, &le) == -1) {
		*e = le;
		return -1;
	}
	/* the challenge being validated is the one processing */
	found = order_chall_at(ch, nch, "processing", 0, &at);
	if (found && chall_finish(st, ch[at].id, order_cut_problem, "acme:sweep", before, &le) !=
			 RA_ACME_OK) {
		STORE_LIST_FREE(ch, nch, store_acme_chall_clear);
		if (le.code == ERR_CONFLICT) /* it moved meanwhile: nothing to sweep */
			return 0;
		*e = le;
		return -1;
	}
	STORE_LIST_FREE(ch, nch, store_acme_chall_clear);
	if (!found)
		return 0;
	log_warn("acme: authorization %" PRId64 ": its validation was cut (processing since %lld); "
		 "the challenge is invalid",
		 a->id, (long long)a->updated);
	*moved = 1;
	return 0;
}

/*
 * An order processing for RA_ACME_STALE seconds was cut by a crash while it was signed (the
 * certificate's transaction makes it valid; a running issuance is drained at shutdown, and
 * one a crash cut before this process's start is ra_acme_order_sweep_start's): ready again for
 * another finalize, audited acme.order.sweep by "acme:sweep", one transaction.  *moved as above.
 */
static int
order_sweep(struct store *st, const struct store_acme_order *o, int *moved, struct err *e)
{
	time_t before = util_now() - RA_ACME_STALE;
	struct order_mva q;
	char obj[48], detail[96];
	struct err le;
	int rc = -1;

	if (strcmp(o->status, "processing") != 0 || o->updated >= before || store_in_tx(st))
		return 0;
	err_clear(&le);
	snprintf(obj, sizeof(obj), "acme-order:%" PRId64, o->id);
	snprintf(detail, sizeof(detail), "account=%" PRId64 " processing since %lld: ready again",
		 o->account_id, (long long)o->updated);
	memset(&q, 0, sizeof(q));
	q.id = o->id;
	q.from = ORDER_ST_PROCESSING;
	q.to = ORDER_ST_READY;
	q.before = before;
	q.actor = "acme:sweep";
	q.action = "acme.order.sweep";
	q.obj = obj;
	q.detail = detail;
	if (ra_acme_write(st, order_move_audit_write, &q, 0, &le) == -1) {
		if (le.code == ERR_CONFLICT) { /* finished or taken meanwhile */
			err_clear(&le);
			rc = 0;
		}
		goto out;
	}
	log_warn("acme: order %" PRId64 ": its finalization was cut (%s)", o->id, detail);
	*moved = 1;
	rc = 0;
out:
	if (rc == -1)
		*e = le;
	return rc;
}

int
ra_acme_order_sweep_start(struct store *st, time_t now, size_t *n, struct err *e)
{
	static const char problem[] =
	    "{\"type\":\"urn:ietf:params:acme:error:serverInternal\",\"detail\":\"the "
	    "issuance did not finish (the server restarted); order again\",\"status\":500}";
	time_t before = now - RA_ACME_STALE;
	int64_t ids[100];
	size_t k = 0, rounds = 0;
	char obj[48];
	struct err le;
	int rc = -1;

	*n = 0;
	do {
		if (store_acme_order_stale_processing(st, before, ids, 100, &k, e) == -1)
			goto out;
		for (size_t i = 0; i < k; i++) {
			err_clear(&le);
			snprintf(obj, sizeof(obj), "acme-order:%" PRId64, ids[i]);
			if (store_begin(st, e) == -1)
				goto out;
			if (store_acme_order_fail(st, ids[i], problem, now, before, &le) == -1) {
				store_rollback(st);
				if (le.code != ERR_CONFLICT) { /* finished or taken meanwhile */
					*e = le;
					goto out;
				}
				continue;
			}
			if (store_audit_append(st, "acme:sweep", "acme.order.sweep", obj,
					       "processing at start: invalid (serverInternal)",
					       NULL, e) == -1 ||
			    store_commit(st, e) == -1) {
				store_rollback(st);
				goto out;
			}
			(*n)++;
		}
	} while (k == 100 && ++rounds < 100);
	rc = 0;
out:
	return rc;
}

enum ra_acme_outcome
ra_acme_order_get(struct store *st, int64_t id, int64_t acct_id, struct ra_acme_order *out,
		  struct err *e_out)
{
	struct err le, *e = &le;
	enum ra_acme_outcome r = RA_ACME_ERROR;
	int swept = 0, expired = 0, moved = 0;

	err_clear(&le);
	memset(out, 0, sizeof(*out));
again:
	if (store_acme_order_get(st, id, &out->o, e) == -1 || out->o.account_id != acct_id) {
		if (e->code == ERR_NOTFOUND || !err_is_set(e)) {
			err_clear(e);
			err_set(e, ERR_NOTFOUND, "acme: no such order of this account");
			r = RA_ACME_NOT_FOUND;
		}
		goto out;
	}
	if (store_acme_authz_list(st, id, &out->az, &out->naz, e) == -1)
		goto out;
	/* what a crash left processing moves on when it is read (read again, once) */
	if (!swept) {
		swept = 1;
		if (order_sweep(st, &out->o, &moved, e) == -1)
			goto out;
		for (size_t i = 0; i < out->naz; i++)
			if (order_sweep_chall(st, &out->az[i], &moved, e) == -1)
				goto out;
		if (moved) {
			ra_acme_order_clear(out);
			goto again;
		}
	}
	/* what expired is written so (its authorizations first, then the order), once */
	if (!expired) {
		expired = 1;
		for (size_t i = 0; i < out->naz; i++)
			if (authz_expire(st, &out->az[i], &moved, e) == -1)
				goto out;
		if (!moved && order_expire(st, out, &moved, e) == -1)
			goto out;
		if (moved) {
			ra_acme_order_clear(out);
			moved = 0;
			goto again;
		}
	}
	/*
	 * Two validations of one order that end at once each see the other's authorization still
	 * pending (PostgreSQL runs their transactions side by side), so neither makes the order
	 * ready: a pending order whose authorizations are all valid becomes ready when read.
	 */
	if (strcmp(out->o.status, "pending") == 0 && out->naz > 0 && !store_in_tx(st) &&
	    order_is_dead(out, util_now()) == NULL) {
		size_t ok = 0;
		struct err ce;

		for (size_t i = 0; i < out->naz; i++)
			ok += strcmp(out->az[i].status, "valid") == 0;
		err_clear(&ce);
		if (ok == out->naz) {
			if (order_move(st, id, ORDER_ST_PENDING, ORDER_ST_READY, NULL, 0, &ce) ==
			    0) {
				free(out->o.status);
				out->o.status = xstrdup(order_state_names[ORDER_ST_READY]);
			} else if (ce.code != ERR_CONFLICT) {
				*e = ce;
				goto out;
			}
		}
	}
	/* (inside a caller's transaction, or lost to a race) it reads as it is: an order past
	 * its expiry that never became valid is invalid (7.1.6), so finalize sees it */
	for (size_t i = 0; i < out->naz; i++)
		if (authz_is_expired(&out->az[i], util_now())) {
			free(out->az[i].status);
			out->az[i].status = xstrdup("expired");
		}
	if (order_is_dead(out, util_now()) != NULL) {
		free(out->o.status);
		out->o.status = xstrdup(order_state_names[ORDER_ST_INVALID]);
	}
	r = RA_ACME_OK;
out:
	if (r != RA_ACME_OK)
		ra_acme_order_clear(out);
	order_err_out(e_out, &le);
	return r;
}

enum ra_acme_outcome
ra_acme_authz_get(struct store *st, int64_t id, int64_t acct_id, struct ra_acme_authz *out,
		  struct err *e_out)
{
	struct err le, *e = &le;
	enum ra_acme_outcome r = RA_ACME_ERROR;
	int swept = 0, expired = 0, moved = 0;

	err_clear(&le);
	memset(out, 0, sizeof(*out));
again:
	if (store_acme_authz_get(st, id, &out->s, e) == -1 || out->s.account_id != acct_id) {
		if (e->code == ERR_NOTFOUND || !err_is_set(e)) {
			err_clear(e);
			err_set(e, ERR_NOTFOUND, "acme: no such authorization of this account");
			r = RA_ACME_NOT_FOUND;
		}
		ra_acme_authz_clear(out);
		goto out;
	}
	/* a challenge a crash left processing ends when it is read (read again, once) */
	if (!swept) {
		swept = 1;
		if (order_sweep_chall(st, &out->s, &moved, e) == -1) {
			ra_acme_authz_clear(out);
			goto out;
		}
		if (moved) {
			ra_acme_authz_clear(out);
			goto again;
		}
	}
	if (store_acme_chall_list(st, id, &out->ch, &out->nch, e) == -1) {
		ra_acme_authz_clear(out);
		goto out;
	}
	if (!expired) {
		expired = 1;
		if (authz_expire(st, &out->s, &moved, e) == -1) {
			ra_acme_authz_clear(out);
			goto out;
		}
		if (moved) {
			ra_acme_authz_clear(out);
			moved = 0;
			goto again;
		}
	}
	if (authz_is_expired(&out->s, util_now())) {
		free(out->s.status);
		out->s.status = xstrdup("expired");
	}
	r = RA_ACME_OK;
out:
	order_err_out(e_out, &le);
	return r;
}

/*
 * 1 when one of the n challenges is status (NULL: any) and, with id != 0, has that id; its
 * index in *at.
 */
static int
order_chall_at(const struct store_acme_chall *ch, size_t n, const char *status, int64_t id,
	       size_t *at)
{
	for (size_t i = 0; i < n; i++)
		if ((status == NULL || strcmp(ch[i].status, status) == 0) &&
		    (id == 0 || ch[i].id == id)) {
			*at = i;
			return 1;
		}
	return 0;
}

enum ra_acme_outcome
ra_acme_chall_get(struct store *st, int64_t id, int64_t acct_id, struct ra_acme_authz *out,
		  struct err *e_out)
{
	struct err le, *e = &le;
	struct store_acme_chall c;
	enum ra_acme_outcome r = RA_ACME_ERROR;

	err_clear(&le);
	memset(out, 0, sizeof(*out));
	if (store_acme_chall_get(st, id, &c, e) == -1) {
		if (e->code == ERR_NOTFOUND) {
			err_clear(e);
			err_set(e, ERR_NOTFOUND, "acme: no such challenge of this account");
			r = RA_ACME_NOT_FOUND;
		}
		goto out;
	}
	if ((r = ra_acme_authz_get(st, c.authz_id, acct_id, out, e)) != RA_ACME_OK) {
		if (r == RA_ACME_NOT_FOUND) {
			err_clear(e);
			err_set(e, ERR_NOTFOUND, "acme: no such challenge of this account");
		}
		goto out;
	}
	if (!order_chall_at(out->ch, out->nch, NULL, id, &out->at)) {
		ra_acme_authz_clear(out);
		err_set(e, ERR_NOTFOUND, "acme: no such challenge of this account");
		r = RA_ACME_NOT_FOUND;
	}
out:
	store_acme_chall_clear(&c);
	order_err_out(e_out, &le);
	return r;
}

struct chall_beg {
	int64_t authz, id;
};

static int
chall_begin_write(struct store *st, void *arg, struct err *e)
{
	const struct chall_beg *q = arg;

	return chall_move(st, q->authz, q->id, ORDER_ST_PENDING, ORDER_ST_PROCESSING, NULL, 0, e);
}

/*
 * The authorization's attempt and challenge id, pending, both processing in one unit of the
 * group commit (it may run again: two conditional updates).
 */
static int
chall_begin(struct store *st, int64_t authz, int64_t id, struct err *e)
{
	struct chall_beg q = {authz, id};

	return ra_acme_write(st, chall_begin_write, &q, 1, e);
}

enum ra_acme_outcome
ra_acme_chall_start(struct store *st, int64_t id, int64_t acct_id, int *start,
		    struct ra_acme_authz *out, struct err *e_out)
{
	struct err le, *e = &le;
	enum ra_acme_outcome r;
	int64_t authz;

	err_clear(&le);
	*start = 0;
	if ((r = ra_acme_chall_get(st, id, acct_id, out, e)) != RA_ACME_OK)
		goto out;
	/* one attempt per authorization: no other challenge of it is being validated */
	if (strcmp(out->ch[out->at].status, "pending") != 0 ||
	    strcmp(out->s.chall_status, "pending") != 0 || strcmp(out->s.status, "pending") != 0 ||
	    out->s.expires < util_now())
		goto out;
	authz = out->s.id;
	if (chall_begin(st, authz, id, e) == 0)
		*start = 1;
	else if (e->code != ERR_CONFLICT) { /* (another request started it: as it is) */
		r = RA_ACME_ERROR;
		goto out;
	}
	err_clear(e);
	ra_acme_authz_clear(out);
	r = ra_acme_chall_get(st, id, acct_id, out, e);
out:
	order_err_out(e_out, &le);
	return r;
}

/*
 * ra_acme_authz_deactivate's unit: the authorization from status to deactivated (conditional:
 * ERR_CONFLICT when it moved), its orders invalid, the audit entry.
 */
struct authz_deact {
	int64_t id;
	const char *status, *actor, *obj, *detail;
};

static int
authz_deact_write(struct store *st, void *arg, struct err *e)
{
	const struct authz_deact *q = arg;

	if (store_acme_authz_set_status(st, q->id, q->status, "deactivated", util_now(), e) == -1 ||
	    authz_orders_invalid(st, q->id, e) == -1 ||
	    store_audit_append(st, q->actor, "acme.authz.deactivate", q->obj, q->detail, NULL, e) ==
		-1)
		return -1;
	return 0;
}

enum ra_acme_outcome
ra_acme_authz_deactivate(struct store *st, int64_t id, int64_t acct_id, const char *actor,
			 struct ra_acme_authz *out, struct err *e_out)
{
	struct err le, *e = &le;
	enum ra_acme_outcome r;
	struct authz_deact q;
	char obj[48], detail[400];

	err_clear(&le);
	memset(&q, 0, sizeof(q));
	if ((r = ra_acme_authz_get(st, id, acct_id, out, e)) != RA_ACME_OK)
		goto out;
	if (strcmp(out->s.status, "pending") != 0 && strcmp(out->s.status, "valid") != 0) {
		err_set(e, ERR_REFUSED,
			"acme: RFC 8555 7.5.2: the authorization is %s; only a pending or valid "
			"one is deactivated",
			out->s.status);
		r = RA_ACME_BAD_STATE;
		goto out;
	}
	r = RA_ACME_ERROR;
	snprintf(obj, sizeof(obj), "acme-authz:%" PRId64, id);
	snprintf(detail, sizeof(detail), "account=%" PRId64 " %s:%.256s was %s", acct_id,
		 out->s.type, out->s.value, out->s.status);
	q.id = id;
	q.status = out->s.status;
	q.actor = actor;
	q.obj = obj;
	q.detail = detail;
	if (ra_acme_write(st, authz_deact_write, &q, 0, e) == -1) {
		if (e->code == ERR_CONFLICT) { /* another request moved it first */
			err_clear(e);
			err_set(e, ERR_REFUSED,
				"acme: RFC 8555 7.5.2: the authorization changed meanwhile");
			r = RA_ACME_BAD_STATE;
		}
		goto out;
	}
	ra_acme_authz_clear(out);
	r = ra_acme_authz_get(st, id, acct_id, out, e);
out:
	order_err_out(e_out, &le);
	return r;
}

/* After an authorization of order id changed: ready when all are valid, invalid when one is. */
static int
order_follow(struct store *st, int64_t id, int valid, struct err *e)
{
	struct store_acme_authz *az = NULL;
	size_t n = 0, ok = 0;
	struct err ce;
	int rc = -1;

	err_clear(&ce);
	if (valid) {
		if (store_acme_authz_list(st, id, &az, &n, e) == -1)
			goto out;
		for (size_t i = 0; i < n; i++)
			ok += strcmp(az[i].status, "valid") == 0;
	}
	/* a conditional move that finds another status (an expired or finished order) is no
	 * failure: the order stays as it is */
	if ((!valid || ok == n) &&
	    order_move(st, id, ORDER_ST_PENDING, valid ? ORDER_ST_READY : ORDER_ST_INVALID, NULL, 0,
		       &ce) == -1 &&
	    ce.code != ERR_CONFLICT) {
		*e = ce;
		goto out;
	}
	rc = 0;
out:
	STORE_LIST_FREE(az, n, store_acme_authz_clear);
	return rc;
}

/* order_follow for every order authorization id serves. */
static int
chall_orders_follow(struct store *st, int64_t id, int valid, struct err *e)
{
	int64_t *ids = NULL;
	size_t n = 0;
	int rc = -1;

	if (store_acme_authz_orders(st, id, &ids, &n, e) == -1)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (order_follow(st, ids[i], valid, e) == -1)
			goto out;
	rc = 0;
out:
	free(ids);
	return rc;
}

/* chall_finish's unit. */
struct chall_fin {
	int64_t id;
	const char *problem, *actor;
	time_t before;
};

static int
chall_finish_write(struct store *st, void *arg, struct err *e)
{
	const struct chall_fin *q = arg;
	struct store_acme_authz a;
	struct store_acme_chall c;
	const char *res = q->problem == NULL ? "valid" : "invalid";
	char obj[48], action[40], *detail = NULL;
	int rc = -1;

	memset(&a, 0, sizeof(a));
	memset(&c, 0, sizeof(c));
	snprintf(action, sizeof(action), "acme.validation.%s", res);
	if (store_acme_chall_get(st, q->id, &c, e) == -1 ||
	    store_acme_authz_get(st, c.authz_id, &a, e) == -1 ||
	    chall_move(st, a.id, q->id, ORDER_ST_PROCESSING,
		       q->problem == NULL ? ORDER_ST_VALID : ORDER_ST_INVALID, q->problem,
		       q->before, e) == -1 ||
	    chall_orders_follow(st, a.id, q->problem == NULL, e) == -1 ||
	    (q->problem != NULL && q->before == 0 &&
	     store_acme_failed_add(st, a.value, a.account_id, util_now(), e) == -1))
		goto out;
	snprintf(obj, sizeof(obj), "acme-authz:%" PRId64, a.id);
	detail = xasprintf("account=%" PRId64 " order=%" PRId64 " %s:%s%s %s%s%s", a.account_id,
			   a.order_id, a.type, a.wildcard ? "*." : "", a.value, c.type,
			   q->problem != NULL ? " " : "", q->problem != NULL ? q->problem : "");
	if (store_audit_append(st, q->actor, action, obj, detail, NULL, e) == -1)
		goto out;
	rc = 0;
out:
	store_acme_authz_clear(&a);
	store_acme_chall_clear(&c);
	free(detail);
	return rc;
}

/*
 * ra_acme_chall_done's unit of the group commit; before != 0 is the sweep's (only a challenge
 * that has not moved since before, and no row of acme_failed_validations: a crash is not the
 * name's fault).
 */
static enum ra_acme_outcome
chall_finish(struct store *st, int64_t id, const char *problem, const char *actor, time_t before,
	     struct err *e_out)
{
	struct err le;
	struct chall_fin q = {id, problem, actor, before};
	enum ra_acme_outcome r = RA_ACME_ERROR;

	err_clear(&le);
	if (ra_acme_write(st, chall_finish_write, &q, 0, &le) == 0)
		r = RA_ACME_OK;
	order_err_out(e_out, &le);
	return r;
}

enum ra_acme_outcome
ra_acme_chall_done(struct store *st, int64_t id, const char *problem, const char *actor,
		   struct err *e_out)
{
	return chall_finish(st, id, problem, actor, 0, e_out);
}

/* ---- finalize ---- */

/* 1 when the n bytes of s equal one of names (case-insensitive); its index in *at. */
static int
order_name_at(const char *const *names, size_t n, const unsigned char *s, size_t len, size_t *at)
{
	if (memchr(s, '\0', len) != NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && strncasecmp(names[i], (const char *)s, len) == 0) {
			*at = i;
			return 1;
		}
	return 0;
}

/* 1 when names[at] is an ip identifier (types NULL: none is). */
static int
order_is_ip(const char *const *types, size_t at)
{
	return types != NULL && types[at] != NULL && strcmp(types[at], "ip") == 0;
}

/* order_name_at among the identifiers of one kind only (ip or not). */
static int
order_kind_at(const char *const *names, const char *const *types, size_t n, int ip,
	      const unsigned char *s, size_t len, size_t *at)
{
	for (size_t i = 0; i < n; i++)
		if (order_is_ip(types, i) == ip && order_name_at(names + i, 1, s, len, at)) {
			*at = i;
			return 1;
		}
	return 0;
}

int
ra_acme_csr_match(const struct csr *csr, const char *const *names, const char *const *types,
		  size_t n, struct err *e)
{
	unsigned char seen[RA_ACME_IDENTS_MAX];
	const GENERAL_NAME *gn;
	const X509_NAME_ENTRY *ne;
	const ASN1_STRING *s;
	char esc[300], ipt[64];
	size_t at = 0;
	int i, cn = -1;

	if (n == 0 || n > RA_ACME_IDENTS_MAX)
		return err_set(e, ERR_REFUSED,
			       "csr: RFC 8555 7.4: an order has 1 to %d identifiers",
			       RA_ACME_IDENTS_MAX);
	memset(seen, 0, sizeof(seen));
	for (i = 0; csr->sans != NULL && i < sk_GENERAL_NAME_num(csr->sans); i++) {
		gn = sk_GENERAL_NAME_value(csr->sans, i);
		if (gn->type == GEN_IPADD) {
			/* RFC 8738 4: an ip identifier is an iPAddress, in its canonical text */
			s = gn->d.iPAddress;
			if (ra_acme_ip_text(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s),
					    ipt, sizeof(ipt)) == -1)
				return err_set(e, ERR_REFUSED,
					       "csr: RFC 5280 4.2.1.6: an iPAddress of %d bytes "
					       "(4 or 16)",
					       ASN1_STRING_length(s));
			if (!order_kind_at(names, types, n, 1, (const unsigned char *)ipt,
					   strlen(ipt), &at))
				return err_set(e, ERR_REFUSED,
					       "csr: RFC 8738 4: the address %s is not an "
					       "identifier of the order",
					       ipt);
			seen[at] = 1;
			continue;
		}
		if (gn->type != GEN_DNS)
			return err_set(e, ERR_REFUSED,
				       "csr: RFC 8555 7.4: the CSR names something other than "
				       "the order's DNS names and IP addresses");
		s = gn->d.dNSName;
		if (!order_kind_at(names, types, n, 0, ASN1_STRING_get0_data(s),
				   (size_t)ASN1_STRING_length(s), &at))
			return err_set(e, ERR_REFUSED,
				       "csr: RFC 8555 7.4: %s is not an identifier of the order",
				       log_escape(esc, sizeof(esc),
						  (const char *)ASN1_STRING_get0_data(s),
						  (size_t)ASN1_STRING_length(s)));
		seen[at] = 1;
	}
	for (size_t k = 0; k < n; k++)
		if (!seen[k])
			return err_set(e, ERR_REFUSED,
				       "csr: RFC 8555 7.4: the CSR lacks the order's identifier %s",
				       log_escape(esc, sizeof(esc), names[k], strlen(names[k])));
	while ((cn = X509_NAME_get_index_by_NID(csr->subject, NID_commonName, cn)) >= 0) {
		ne = X509_NAME_get_entry(csr->subject, cn);
		s = X509_NAME_ENTRY_get_data(ne);
		if (!order_name_at(names, n, ASN1_STRING_get0_data(s),
				   (size_t)ASN1_STRING_length(s), &at))
			return err_set(e, ERR_REFUSED,
				       "csr: RFC 8555 7.4: the CSR's CN is not one of the order's "
				       "identifiers");
	}
	return 0;
}

struct order_fin {
	int64_t id;
	const char *actor, *kid;
	int64_t acct, org;
	const char *const *names; /* the order's, for the certificates-per-domain limit */
	size_t n;
};

/*
 * ERR_CONFLICT when an authorization of order id is no longer valid (deactivated or revoked
 * since finalize read the order, or expired).  Inside the certificate's transaction, which
 * holds the audit head a deactivation needs too, a deactivation either committed before this
 * read (seen) or commits after the issuance (store_acme_order_authzs_hold).
 */
static int
order_fin_authzs(struct store *st, int64_t id, struct err *e)
{
	char status[16];
	int64_t bad = 0;

	if (store_acme_order_authzs_hold(st, id, util_now(), &bad, status, sizeof(status), e) == -1)
		return -1;
	if (bad != 0) {
		err_set(e, ERR_CONFLICT,
			"acme: RFC 8555 7.4: authorization %" PRId64 " of the order is %s: nothing "
			"is issued",
			bad, status);
		return -1;
	}
	return 0;
}

/* write_fn of the order's certificate: the order valid, its audit entry, in the same tx. */
static int
order_fin_write(struct store *st, const struct ca_issued *c, void *arg, struct err *e)
{
	const struct order_fin *f = arg;
	char obj[48], detail[160];

	/* first, the authorizations still valid (a deactivation racing finalize) */
	if (order_fin_authzs(st, f->id, e) == -1)
		return -1;
	snprintf(obj, sizeof(obj), "acme-order:%" PRId64, f->id);
	snprintf(detail, sizeof(detail), "account=%" PRId64 " binding=%s serial=%s", f->acct,
		 f->kid, c->serial);
	if (order_move(st, f->id, ORDER_ST_PROCESSING, ORDER_ST_VALID, c->serial, 0, e) == -1 ||
	    store_audit_append(st, f->actor, "acme.order.finalize", obj, detail, NULL, e) == -1 ||
	    ra_acme_limit_record_cert(st, f->org, f->acct, f->names, f->n, c->serial, e) == -1)
		return -1;
	return 0;
}

/*
 * The names of an order ("*." and the name for a wildcard's authorization) as an array of
 * strings (caller frees the array and each: order_names_free).
 */
static char **
order_names(const struct ra_acme_order *o)
{
	char **v = xcalloc(o->naz > 0 ? o->naz : 1, sizeof(*v));

	for (size_t i = 0; i < o->naz; i++)
		v[i] = xasprintf("%s%s", o->az[i].wildcard ? "*." : "", o->az[i].value);
	return v;
}

static void
order_names_free(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

/* The CN for a CSR's subject: its first CN (checked to be one of the names), or NULL. */
static char *
order_csr_cn(const struct csr *csr)
{
	int i = X509_NAME_get_index_by_NID(csr->subject, NID_commonName, -1);
	unsigned char *u = NULL;
	char *cn = NULL;
	int len;

	if (i < 0 || (len = ASN1_STRING_to_UTF8(
			  &u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(csr->subject, i)))) < 0)
		return NULL;
	cn = xstrndup((const char *)u, (size_t)len);
	OPENSSL_free(u);
	return cn;
}

/* ALREADY_REPLACED when another order being finalized or finalized replaces what o replaces. */
static enum ra_acme_outcome
order_fin_replaced(struct store *st, const struct ra_acme_order *o)
{
	int64_t other = 0;
	struct err le;

	err_clear(&le);
	if (o->o.replaces == NULL)
		return RA_ACME_OK;
	if (store_acme_order_replacing(st, o->o.replaces, o->o.id, &other, &le) == -1)
		log_warn("acme: order %" PRId64 ": %s", o->o.id, le.msg);
	return other != 0 ? RA_ACME_ALREADY_REPLACED : RA_ACME_OK;
}

static long order_fin_pause_ms; /* set once at start (acme_init) */

void
ra_acme_fin_pause_set(long ms)
{
	order_fin_pause_ms = ms;
}

int
ra_acme_caa_due(struct store *st, int64_t id, int64_t acct_id, time_t now,
		struct store_acme_caa_due **due, size_t *n, struct err *e)
{
	struct store_acme_order o;
	struct err le;
	int rc = -1;

	*due = NULL;
	*n = 0;
	memset(&o, 0, sizeof(o));
	err_clear(&le);
	if (store_acme_order_get(st, id, &o, &le) == -1) {
		if (le.code != ERR_NOTFOUND) {
			*e = le;
			goto out;
		}
	} else if (o.account_id == acct_id && strcmp(o.status, "ready") == 0 &&
		   store_acme_order_caa_due(st, id, now - RA_ACME_CAA_MAX_AGE, due, n, e) == -1) {
		goto out;
	}
	rc = 0;
out:
	store_acme_order_clear(&o);
	return rc;
}

/* ra_acme_caa_checked's unit (it may run again: updates of a time). */
struct order_caa {
	const struct store_acme_caa_due *due;
	size_t n;
	time_t now;
};

static int
order_caa_write(struct store *st, void *arg, struct err *e)
{
	const struct order_caa *q = arg;

	for (size_t i = 0; i < q->n; i++)
		if (store_acme_authz_caa_set(st, q->due[i].authz_id, q->now, e) == -1)
			return -1;
	return 0;
}

int
ra_acme_caa_checked(struct store *st, const struct store_acme_caa_due *due, size_t n, time_t now,
		    struct err *e)
{
	struct order_caa q = {due, n, now};

	return n == 0 ? 0 : ra_acme_write(st, order_caa_write, &q, 1, e);
}

enum ra_acme_outcome
ra_acme_finalize(struct ca *ca, struct store *st, int64_t id, const struct ra_acme_account *acct,
		 const struct ra_acme_limits *lim, struct ra_acme_limited *hit,
		 const unsigned char *der, size_t derlen, const char *actor,
		 struct ra_acme_order *out, struct err *e_out)
{
	return ra_acme_finalize_ex(ca, st, id, acct, lim, hit, der, derlen, actor, out, NULL, NULL,
				   e_out);
}

enum ra_acme_outcome
ra_acme_finalize_ex(struct ca *ca, struct store *st, int64_t id, const struct ra_acme_account *acct,
		    const struct ra_acme_limits *lim, struct ra_acme_limited *hit,
		    const unsigned char *der, size_t derlen, const char *actor,
		    struct ra_acme_order *out, void (*processing)(void *), void *arg,
		    struct err *e_out)
{
	struct err le, *e = &le;
	struct ra_acme_order o;
	struct store_acme_eab b;
	struct store_org org;
	struct ra_issue_req q;
	struct ca_issued issued;
	struct order_fin fin;
	struct csr *csr = NULL;
	char **names = NULL;
	const char **types = NULL, **dns = NULL, **ips = NULL;
	size_t nnames = 0, ndns = 0, nips = 0;
	char *cn = NULL;
	enum ra_acme_outcome r;

	err_clear(&le);
	memset(&b, 0, sizeof(b));
	memset(&org, 0, sizeof(org));
	memset(&issued, 0, sizeof(issued));
	memset(out, 0, sizeof(*out));
	if ((r = ra_acme_order_get(st, id, acct->id, &o, e)) != RA_ACME_OK)
		goto out;
	if (strcmp(o.o.status, "ready") != 0) {
		err_set(e, ERR_REFUSED, "acme: RFC 8555 7.4: the order is %s, not ready",
			o.o.status);
		r = RA_ACME_NOT_READY;
		goto out;
	}
	if (lim != NULL &&
	    (r = ra_acme_limit_finalize(st, lim, &o, acct->org_id, hit, e)) != RA_ACME_OK)
		goto out;
	if ((r = order_binding(st, acct, &b, &org, e)) != RA_ACME_OK)
		goto out;
	names = order_names(&o);
	nnames = o.naz;
	/* the binding's names may have narrowed since the order (an officer's change): every
	 * identifier must still be within them, as newOrder would judge it now */
	for (size_t i = 0; i < o.naz; i++) {
		struct ra_acme_ident ident;
		char *refusal;

		memset(&ident, 0, sizeof(ident));
		snprintf(ident.type, sizeof(ident.type), "%s", o.az[i].type);
		snprintf(ident.value, sizeof(ident.value), "%s", names[i]);
		if ((refusal = order_ident_refusal(&org, b.names, &ident)) != NULL) {
			err_set(e, ERR_REFUSED, "acme: no longer orderable: %.400s", refusal);
			free(refusal);
			r = RA_ACME_EAB_UNUSABLE;
			goto out;
		}
	}
	types = xcalloc(o.naz > 0 ? o.naz : 1, sizeof(*types));
	dns = xcalloc(o.naz > 0 ? o.naz : 1, sizeof(*dns));
	ips = xcalloc(o.naz > 0 ? o.naz : 1, sizeof(*ips));
	for (size_t i = 0; i < o.naz; i++) {
		types[i] = o.az[i].type;
		if (strcmp(o.az[i].type, "ip") == 0)
			ips[nips++] = names[i];
		else
			dns[ndns++] = names[i];
	}
	r = RA_ACME_BAD_CSR;
	if (csr_parse(der, derlen, &csr, e) == -1 ||
	    ra_acme_csr_match(csr, (const char *const *)names, types, o.naz, e) == -1)
		goto out;
	cn = order_csr_cn(csr);
	memset(&q, 0, sizeof(q));
	memset(&fin, 0, sizeof(fin));
	fin.id = id;
	fin.actor = actor;
	fin.kid = b.kid;
	fin.acct = acct->id;
	fin.org = org.id;
	fin.names = (const char *const *)names;
	fin.n = o.naz;
	q.profile = o.o.profile != NULL ? o.o.profile : "server";
	q.short_lived = 1;
	q.org_code = b.org_code;
	q.csr = der;
	q.csrlen = derlen;
	q.csr_verified = 1;
	q.csr_parsed = csr; /* parsed and verified above: not again */
	q.cn = cn;
	q.dns = dns;
	q.ndns = ndns;
	q.ips = ips;
	q.nips = nips;
	q.names_given = 1;
	q.actor = actor;
	q.write_fn = order_fin_write;
	q.arg = &fin;
	/* a renewal: not when another order replaced the certificate first (RFC 9773 5) */
	if ((r = order_fin_replaced(st, &o)) != RA_ACME_OK) {
		err_set(e, ERR_CONFLICT, "acme: RFC 9773 5: certificate %s is already replaced",
			o.o.replaces);
		goto out;
	}
	/* the order is this request's before the signer works: a second finalize is not ready;
	 * with replaces, the unique index acme_orders_replaced lets one order of two through */
	if (order_move_unit(st, id, ORDER_ST_READY, ORDER_ST_PROCESSING, e) == -1) {
		r = e->code == ERR_CONFLICT ? RA_ACME_NOT_READY : RA_ACME_ERROR;
		if (r == RA_ACME_NOT_READY &&
		    order_fin_replaced(st, &o) == RA_ACME_ALREADY_REPLACED) {
			err_clear(e);
			err_set(e, ERR_CONFLICT,
				"acme: RFC 9773 5: certificate %s is already replaced",
				o.o.replaces);
			r = RA_ACME_ALREADY_REPLACED;
		} else if (r == RA_ACME_NOT_READY) {
			err_clear(e);
			err_set(e, ERR_REFUSED, "acme: RFC 8555 7.4: the order is being finalized");
		}
		goto out;
	}
	/* an authorization deactivated since the order was read: before the signer works (the
	 * certificate's transaction checks again, order_fin_write) */
	if (order_fin_authzs(st, id, e) == -1) {
		struct err be;

		r = e->code == ERR_CONFLICT ? RA_ACME_NOT_READY : RA_ACME_ERROR;
		err_clear(&be);
		if (order_move(st, id, ORDER_ST_PROCESSING, ORDER_ST_READY, NULL, 0, &be) == -1)
			log_warn("acme: order %" PRId64 " stays processing: %s", id, be.msg);
		goto out;
	}
	if (order_fin_pause_ms > 0) { /* a test's window for a racing deactivation */
		struct timespec ts = {order_fin_pause_ms / 1000,
				      (order_fin_pause_ms % 1000) * 1000000};

		nanosleep(&ts, NULL);
	}
	if (processing != NULL)
		processing(arg);
	if (ra_issue(ca, st, &q, &issued, e) == -1) {
		struct err be;

		r = e->code == ERR_REFUSED    ? RA_ACME_REFUSED
		    : e->code == ERR_CONFLICT ? RA_ACME_NOT_READY
					      : RA_ACME_ERROR;
		/* not issued: ready again for another CSR (unless the outcome is unknown) */
		err_clear(&be);
		if (e->code != ERR_UNKNOWN &&
		    order_move_unit(st, id, ORDER_ST_PROCESSING, ORDER_ST_READY, &be) == -1)
			log_warn("acme: order %" PRId64 " stays processing: %s", id, be.msg);
		goto out;
	}
	/* the order as order_fin_write left it in the certificate's transaction */
	free(o.o.status);
	o.o.status = xstrdup("valid");
	free(o.o.serial);
	o.o.serial = xstrdup(issued.serial);
	*out = o;
	memset(&o, 0, sizeof(o));
	r = RA_ACME_OK;
out:
	ca_issued_clear(&issued);
	csr_free(csr);
	free(cn);
	order_names_free(names, nnames);
	free(types);
	free(dns);
	free(ips);
	ra_acme_order_clear(&o);
	store_acme_eab_clear(&b);
	store_org_clear(&org);
	order_err_out(e_out, &le);
	return r;
}

enum ra_acme_outcome
ra_acme_cert_get(struct store *st, int64_t id, int64_t acct_id, unsigned char **der, size_t *len,
		 struct err *e_out)
{
	struct err le, *e = &le;
	struct ra_acme_order o;
	struct store_cert c;
	enum ra_acme_outcome r;

	err_clear(&le);
	memset(&c, 0, sizeof(c));
	*der = NULL;
	*len = 0;
	if ((r = ra_acme_order_get(st, id, acct_id, &o, e)) != RA_ACME_OK)
		goto out;
	if (strcmp(o.o.status, "valid") != 0 || o.o.serial == NULL) {
		err_set(e, ERR_NOTFOUND, "acme: the order has no certificate (yet)");
		r = RA_ACME_NOT_FOUND;
		goto out;
	}
	r = RA_ACME_ERROR;
	if (store_cert_get(st, o.o.serial, &c, e) == -1)
		goto out;
	*der = c.der;
	*len = c.derlen;
	c.der = NULL;
	r = RA_ACME_OK;
out:
	store_cert_clear(&c);
	ra_acme_order_clear(&o);
	order_err_out(e_out, &le);
	return r;
}

/* ---- revocation ---- */

int
ra_acme_reason_ok(long reason)
{
	return reason == CA_REASON_UNSPECIFIED || reason == CA_REASON_KEY_COMPROMISE ||
	       reason == CA_REASON_AFFILIATION_CHANGED || reason == CA_REASON_SUPERSEDED ||
	       reason == CA_REASON_CESSATION_OF_OPERATION;
}

/*
 * 1 when account acct_id holds a valid, unexpired authorization for every name of x (its
 * dNSNames and iPAddresses; at least one, nothing else) and its binding is active and still
 * covers each (as newOrder would take it), 0 when not, -1 on a store failure.
 */
static int
order_revoke_authorized(struct store *st, X509 *x, int64_t cert_org, int64_t acct_id, struct err *e)
{
	GENERAL_NAMES *gns = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	const GENERAL_NAME *gn;
	struct ra_acme_account acct;
	struct store_acme_eab b;
	struct store_org org;
	struct ra_acme_ident id;
	struct err be;
	char v[RA_ACME_NAME_MAX], *refusal;
	const char *type, *p;
	int64_t aid;
	int rc = 0, wild, n = gns != NULL ? sk_GENERAL_NAME_num(gns) : 0;

	memset(&acct, 0, sizeof(acct));
	memset(&b, 0, sizeof(b));
	memset(&org, 0, sizeof(org));
	err_clear(&be);
	if (n == 0)
		goto out;
	if (ra_acme_account_get(st, acct_id, &acct, e) != RA_ACME_OK) {
		rc = -1;
		goto out;
	}
	switch (order_binding(st, &acct, &b, &org, &be)) {
	case RA_ACME_OK:
		break;
	case RA_ACME_EAB_UNUSABLE: /* a suspended or revoked binding: no right from it */
		goto out;
	default:
		*e = be;
		rc = -1;
		goto out;
	}
	/* only the binding's own organization's certificates: organizations' domains may overlap,
	 * and validating a name gives no right over another tenant's certificates */
	if (cert_org == 0 || org.id != cert_org)
		goto out;
	for (int i = 0; i < n; i++) {
		gn = sk_GENERAL_NAME_value(gns, i);
		type = "dns";
		wild = 0;
		if (gn->type == GEN_DNS) {
			const ASN1_STRING *d = gn->d.dNSName;
			size_t l = (size_t)ASN1_STRING_length(d);

			if (l == 0 || l >= sizeof(v) || memchr(ASN1_STRING_get0_data(d), 0, l))
				goto out;
			memcpy(v, ASN1_STRING_get0_data(d), l);
			v[l] = '\0';
			for (size_t k = 0; k < l; k++)
				v[k] = (char)(v[k] >= 'A' && v[k] <= 'Z' ? v[k] + 32 : v[k]);
		} else if (gn->type == GEN_IPADD) {
			type = "ip";
			if (ra_acme_ip_text(ASN1_STRING_get0_data(gn->d.iPAddress),
					    (size_t)ASN1_STRING_length(gn->d.iPAddress), v,
					    sizeof(v)) == -1)
				goto out;
		} else {
			goto out;
		}
		/* a wildcard *.d is authorised by a wildcard authorization of d (7.1.3) */
		p = v;
		if (strncmp(v, "*.", 2) == 0) {
			wild = 1;
			p = v + 2;
		}
		if (store_acme_authz_find(st, acct_id, type, p, wild, 1, util_now(), &aid, e) ==
		    -1) {
			rc = -1;
			goto out;
		}
		if (aid == 0)
			goto out;
		/* the binding still covers the name (its names may have changed since) */
		memset(&id, 0, sizeof(id));
		snprintf(id.type, sizeof(id.type), "%s", type);
		snprintf(id.value, sizeof(id.value), "%s", v);
		if ((refusal = order_ident_refusal(&org, b.names, &id)) != NULL) {
			free(refusal);
			goto out;
		}
	}
	rc = 1;
out:
	GENERAL_NAMES_free(gns);
	ra_acme_account_clear(&acct);
	store_acme_eab_clear(&b);
	store_org_clear(&org);
	return rc;
}

/*
 * Who may revoke x (serial): the account whose order holds it (acct_id > 0), or one that
 * holds valid authorizations for all its names and belongs to the certificate's organization
 * (cert_org; *by "authorizations"), or the holder of its
 * private key (key, the JWS's jwk).  RA_ACME_OK, UNAUTHORIZED or ERROR.
 */
static enum ra_acme_outcome
order_revoke_who(struct store *st, X509 *x, const char *serial, int64_t cert_org, int64_t acct_id,
		 EVP_PKEY *key, const char **by, struct err *e)
{
	int64_t owner = 0;
	int ok;

	if (acct_id > 0) {
		if (store_acme_order_by_serial(st, serial, &owner, e) == -1) {
			if (e->code != ERR_NOTFOUND)
				return RA_ACME_ERROR;
			err_clear(e);
		}
		if (owner == acct_id)
			return RA_ACME_OK;
		/* RFC 8555 7.6: an account authorised for all the certificate's names */
		if ((ok = order_revoke_authorized(st, x, cert_org, acct_id, e)) == -1)
			return RA_ACME_ERROR;
		if (!ok) {
			err_set(e, ERR_REFUSED,
				"acme: RFC 8555 7.6: the certificate was not ordered by this "
				"account, nor does it hold valid authorizations for all its names");
			return RA_ACME_UNAUTHORIZED;
		}
		*by = "authorizations";
		return RA_ACME_OK;
	}
	if (key == NULL || X509_get0_pubkey(x) == NULL ||
	    EVP_PKEY_eq(X509_get0_pubkey(x), key) != 1) {
		err_set(e, ERR_REFUSED,
			"acme: RFC 8555 7.6: the jwk is not the certificate's public key");
		return RA_ACME_UNAUTHORIZED;
	}
	return RA_ACME_OK;
}

/* ra_acme_revoke's unit: the revocation (ra_revoke_tx) and acme.cert.revoke. */
struct order_rev {
	struct ca *ca;
	const char *serial, *actor, *detail;
	int reason;
};

static int
order_revoke_write(struct store *st, void *arg, struct err *e)
{
	const struct order_rev *q = arg;

	if (ra_revoke_tx(q->ca, st, q->serial, q->reason, q->actor, NULL, e) == -1 ||
	    store_audit_append(st, q->actor, "acme.cert.revoke", q->serial, q->detail, NULL, e) ==
		-1)
		return -1;
	return 0;
}

enum ra_acme_outcome
ra_acme_revoke(struct ca *ca, struct store *st, const unsigned char *der, size_t len,
	       int64_t acct_id, EVP_PKEY *key, long reason, const char *actor, struct err *e_out)
{
	struct err le, *e = &le, ae;
	struct store_cert c;
	const unsigned char *p = der;
	char serial[STORE_SERIAL_MAX], *detail = NULL;
	enum ra_acme_outcome r = RA_ACME_UNAUTHORIZED;
	const char *by = acct_id > 0 ? "account" : "certificate-key";
	struct order_rev q;
	X509 *x = NULL;

	err_clear(&le);
	memset(&c, 0, sizeof(c));
	memset(&q, 0, sizeof(q));
	if (len == 0 || len > LONG_MAX || (x = d2i_X509(NULL, &p, (long)len)) == NULL ||
	    p != der + len ||
	    x509_serial_hex(X509_get0_serialNumber(x), serial, sizeof(serial)) == -1) {
		err_set(e, ERR_REFUSED, "acme: RFC 8555 7.6: certificate is no DER certificate");
		goto out;
	}
	r = RA_ACME_ERROR;
	if (store_cert_get(st, serial, &c, e) == -1) {
		if (e->code != ERR_NOTFOUND)
			goto out;
		err_clear(e);
	}
	if (c.der == NULL || c.derlen != len || memcmp(c.der, der, len) != 0) {
		err_set(e, ERR_REFUSED,
			"acme: RFC 8555 7.6: the certificate is not one of this CA's");
		r = RA_ACME_UNAUTHORIZED;
		goto out;
	}
	if ((r = order_revoke_who(st, x, serial, c.org_id, acct_id, key, &by, e)) != RA_ACME_OK)
		goto out;
	/* the requester's right first: whether it is revoked is no one else's business */
	if (c.status == STORE_CERT_REVOKED) {
		err_set(e, ERR_CONFLICT, "acme: certificate %s is already revoked", serial);
		r = RA_ACME_ALREADY_REVOKED;
		goto out;
	}
	if (!ra_acme_reason_ok(reason)) {
		err_set(e, ERR_REFUSED,
			"acme: RFC 8555 7.6: reason %ld is not one a subscriber may give (0, 1, 3, "
			"4, 5)",
			reason);
		r = RA_ACME_BAD_REASON;
		goto out;
	}
	r = RA_ACME_ERROR;
	detail = xasprintf("account=%" PRId64 " reason=%s by=%s", acct_id,
			   ca_reason_name((int)reason), by);
	q.ca = ca;
	q.serial = serial;
	q.reason = (int)reason;
	q.actor = actor;
	q.detail = detail;
	if (ra_acme_write(st, order_revoke_write, &q, 0, e) == -1) {
		/* revoked meanwhile; or issued by a CA this instance no longer answers for */
		if (e->code == ERR_CONFLICT)
			r = RA_ACME_ALREADY_REVOKED;
		else if (e->code == ERR_REFUSED)
			r = RA_ACME_UNAUTHORIZED;
		goto out;
	}
	err_clear(&ae);
	if (ca_after_revoke(ca, st, serial, actor, &ae) == -1)
		log_warn("acme: CRL after revoking %s: %s", serial, ae.msg);
	r = RA_ACME_OK;
out:
	free(detail);
	X509_free(x);
	store_cert_clear(&c);
	order_err_out(e_out, &le);
	return r;
}
