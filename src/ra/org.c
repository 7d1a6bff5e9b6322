/*
 * org: organizations (their names and name policy) and tickets, each change audited in the
 * change's transaction.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra.h"

/* Organization codes: 1..32 of [A-Za-z0-9_-]. */
static int
org_code_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 32)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

/*
 * 1 when the address a (of fam) has a bit set after its first bits (a prefix such as
 * 192.0.2.10/24, which would read as a mistake for either the address or the network); then
 * net (netsz bytes) holds the network's address.  Else 0.
 */
static int
org_host_bits(int fam, const unsigned char *a, int bits, char *net, size_t netsz)
{
	unsigned char n[16];
	int i, len = fam == AF_INET6 ? 16 : 4, set = 0;

	for (i = 0; i < len; i++) {
		n[i] = i * 8 >= bits	   ? 0
		       : i * 8 + 8 <= bits ? a[i]
					   : (unsigned char)(a[i] & (0xff << (8 - (bits - i * 8))));
		set |= n[i] != a[i];
	}
	if (!set || inet_ntop(fam, n, net, (socklen_t)netsz) == NULL)
		return 0;
	return 1;
}

/* A list value of kind ("domain", "mail", "ip", "uri") is acceptable; else ERR_REFUSED. */
static int
org_value_check(const char *kind, const char *v, struct err *e)
{
	unsigned char a[16];
	char esc[300], buf[64];
	const char *slash;
	long bits;
	size_t i, l = strlen(v);
	int fam;

	log_escape(esc, sizeof(esc), v, l);
	if (strcmp(kind, "domain") == 0 || strcmp(kind, "mail") == 0) {
		if (x509_dns_name_check(v, l, 0, e) == -1)
			return err_set(e, ERR_REFUSED, "org: %s %s is not a DNS name", kind, esc);
		return 0;
	}
	if (strcmp(kind, "ip") == 0) {
		fam = strchr(v, ':') != NULL ? AF_INET6 : AF_INET;
		slash = strchr(v, '/');
		snprintf(buf, sizeof(buf), "%.*s", (int)(slash != NULL ? (size_t)(slash - v) : l),
			 v);
		if (l >= sizeof(buf) || inet_pton(fam, buf, a) != 1 ||
		    (slash != NULL &&
		     util_parse_long(slash + 1, 0, fam == AF_INET6 ? 128 : 32, &bits) == -1))
			return err_set(e, ERR_REFUSED,
				       "org: ip %s is not an IPv4 or IPv6 address or prefix "
				       "(192.0.2.1, 192.0.2.0/24, 2001:db8::/32)",
				       esc);
		if (slash != NULL && org_host_bits(fam, a, (int)bits, buf, sizeof(buf)))
			return err_set(
			    e, ERR_REFUSED,
			    "org: ip %s has bits set after its prefix length (the network "
			    "is %s/%ld)",
			    esc, buf, bits);
		return 0;
	}
	/* a URI: a scheme, then printable ASCII without blanks */
	for (i = 0; i < l && v[i] != ':'; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		      (i > 0 && ((v[i] >= '0' && v[i] <= '9') || v[i] == '+' || v[i] == '-' ||
				 v[i] == '.'))))
			break;
	if (i == 0 || i >= l || v[i] != ':' || l > 512)
		return err_set(e, ERR_REFUSED, "org: uri %s is not an absolute URI (scheme:...)",
			       esc);
	for (; i < l; i++)
		if (v[i] <= ' ' || v[i] > '~')
			return err_set(e, ERR_REFUSED,
				       "org: uri %s: only printable ASCII without blanks", esc);
	return 0;
}

/* Replaces the list *dst (*n entries) with copies of the checked values of c. */
static int
org_list_set(const char *kind, const struct ra_org_list *c, char ***dst, size_t *n, struct err *e)
{
	size_t i;

	if (!c->set)
		return 0;
	for (i = 0; i < c->n; i++)
		if (org_value_check(kind, c->v[i], e) == -1)
			return -1;
	for (i = 0; i < *n; i++)
		free((*dst)[i]);
	free(*dst);
	*dst = c->n > 0 ? xcalloc(c->n, sizeof(**dst)) : NULL;
	for (i = 0; i < c->n; i++)
		(*dst)[i] = xstrdup(c->v[i]);
	*n = c->n;
	return 0;
}

/* " kind=a,b" of a list for the audit detail. */
static int
org_detail_list(struct buf *b, const char *kind, char *const *v, size_t n)
{
	size_t i;

	if (buf_printf(b, " %s=", kind) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (buf_printf(b, "%s%s", i > 0 ? "," : "", v[i]) == -1)
			return -1;
	return 0;
}

/* Applies change c to o (checked); the audit detail of the result into b. */
static int
org_apply(struct store_org *o, const struct ra_org_change *c, struct buf *b, struct err *e)
{
	if (c->name != NULL) {
		if (*c->name == '\0' || strlen(c->name) > 256)
			return err_set(e, ERR_REFUSED, "org: name must be 1-256 bytes");
		free(o->name);
		o->name = xstrdup(c->name);
	}
	if (org_list_set("domain", &c->domains, &o->domains, &o->ndomains, e) == -1 ||
	    org_list_set("mail", &c->mail_domains, &o->mail_domains, &o->nmail_domains, e) == -1 ||
	    org_list_set("ip", &c->ips, &o->ips, &o->nips, e) == -1 ||
	    org_list_set("uri", &c->uris, &o->uris, &o->nuris, e) == -1)
		return -1;
	if (c->unrestricted >= 0)
		o->unrestricted = c->unrestricted != 0;
	if (buf_printf(b, "name=%s unrestricted=%s", o->name, o->unrestricted ? "yes" : "no") ==
		-1 ||
	    org_detail_list(b, "domains", o->domains, o->ndomains) == -1 ||
	    org_detail_list(b, "mail_domains", o->mail_domains, o->nmail_domains) == -1 ||
	    org_detail_list(b, "ips", o->ips, o->nips) == -1 ||
	    org_detail_list(b, "uris", o->uris, o->nuris) == -1)
		return err_set(e, ERR_REFUSED, "org: too many names");
	return 0;
}

void
ra_org_change_init(struct ra_org_change *c)
{
	memset(c, 0, sizeof(*c));
	c->unrestricted = -1;
}

int
ra_org_add(struct store *st, const char *code, const char *name, const struct ra_org_change *c,
	   const char *actor, struct err *e)
{
	struct store_org o;
	struct ra_org_change none;
	struct buf detail;
	int rc = -1, intx = 0;

	memset(&o, 0, sizeof(o));
	buf_init(&detail, 64 * 1024);
	if (c == NULL) {
		ra_org_change_init(&none);
		c = &none;
	}
	if (!org_code_ok(code)) {
		err_set(e, ERR_REFUSED, "org: code \"%s\" must be 1-32 letters, digits, - or _",
			code);
		goto out;
	}
	o.code = xstrdup(code);
	o.name = xstrdup(name != NULL ? name : "");
	if (c->name == NULL && (*o.name == '\0' || strlen(o.name) > 256)) {
		err_set(e, ERR_REFUSED, "org: name must be 1-256 bytes");
		goto out;
	}
	if (org_apply(&o, c, &detail, e) == -1)
		goto out;
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (store_org_add(st, o.code, o.name, NULL, 0, &o.id, e) == -1 ||
	    store_org_update(st, &o, e) == -1 ||
	    store_audit_append(st, actor, "org.add", code, buf_cstr(&detail), NULL, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	store_org_clear(&o);
	buf_free(&detail);
	return rc;
}

int
ra_org_set(struct store *st, const char *code, const struct ra_org_change *c, const char *actor,
	   struct err *e)
{
	struct store_org o;
	struct buf detail;
	int rc = -1, intx = 0;

	memset(&o, 0, sizeof(o));
	buf_init(&detail, 64 * 1024);
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (store_org_get(st, code, &o, e) == -1 || org_apply(&o, c, &detail, e) == -1 ||
	    store_org_update(st, &o, e) == -1 ||
	    store_audit_append(st, actor, "org.set", code, buf_cstr(&detail), NULL, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	store_org_clear(&o);
	buf_free(&detail);
	return rc;
}

/*
 * Ticket numbers: 16 digits in four groups, from the CSPRNG (no sequence to guess), e.g.
 * 4821-0937-5512-6604.  Unique by the database; a collision draws again.
 */
static void
ca_ticket_number(char out[20])
{
	unsigned char r;
	size_t i, o = 0;

	for (i = 0; i < 16; i++) {
		do
			util_random(&r, 1);
		while (r >= 250); /* rejection sampling: every digit equally likely */
		if (i > 0 && i % 4 == 0)
			out[o++] = '-';
		out[o++] = (char)('0' + r % 10);
	}
	out[o] = '\0';
}

int
ra_ticket_create(struct store *st, const char *org_code, const char *profile, size_t count,
		 const char *actor, char ***numbers, struct err *e)
{
	struct store_org org;
	char **nums = NULL;
	char num[20], *detail = NULL;
	size_t i, made = 0;
	int rc = -1, intx = 0, tries;
	const struct profile *prof;

	memset(&org, 0, sizeof(org));
	*numbers = NULL;
	if ((prof = profile_find(profile)) == NULL || prof->ca) {
		err_set(e, ERR_REFUSED, "ticket: unknown profile \"%s\"", profile);
		goto out;
	}
	if (count == 0 || count > 10000) {
		err_set(e, ERR_REFUSED, "ticket: count must be 1-10000");
		goto out;
	}
	if (store_org_get(st, org_code, &org, e) == -1)
		goto out;
	nums = xcalloc(count, sizeof(*nums));
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	for (i = 0; i < count; i++) {
		for (tries = 0;; tries++) {
			struct err e2;

			err_clear(&e2);
			ca_ticket_number(num);
			if (store_ticket_add(st, org.id, num, prof->name, &e2) == 0)
				break;
			if (e2.code != ERR_CONFLICT || tries >= 5) {
				err_set(e, e2.code, "%s", e2.msg);
				goto out;
			}
		}
		nums[made++] = xstrdup(num);
	}
	detail = xasprintf("org=%s profile=%s count=%zu", org.code, prof->name, count);
	if (store_audit_append(st, actor, "ticket.create", org.code, detail, NULL, e) == -1)
		goto out;
	if (store_commit(st, e) == -1)
		goto out;
	intx = 0;
	*numbers = nums;
	nums = NULL;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	if (nums != NULL) {
		for (i = 0; i < made; i++)
			free(nums[i]);
		free(nums);
	}
	free(detail);
	store_org_clear(&org);
	return rc;
}

int
ra_org_detail(struct store *st, const char *code, struct store_org *o, struct err *e)
{
	memset(o, 0, sizeof(*o));
	if (code == NULL)
		return err_set(e, ERR_NOTFOUND, "org: no organization given");
	return store_org_get(st, code, o, e);
}
