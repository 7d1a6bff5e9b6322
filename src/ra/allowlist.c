/*
 * allowlist: the OU allow-list (issue 13, part 9).  The CA operator keeps, per organization
 * and DNS domain, the OU values a certificate may carry when its names lie in that domain.  A
 * domain without entries allows any OU (the name policy's other rules still hold); once a
 * domain has entries, an OU not among them is refused (CA_REFUSAL_NAME_POLICY).  A name
 * belongs to the most specific listed domain it lies in (equal, or below).  Every change is
 * audited (allowlist.add, allowlist.remove) in the transaction that makes it.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ra.h"
#include "util/utf8.h"
#include "x509/x509.h"

int
ra_allow_ou_ok(const char *ou)
{
	const unsigned char *s = (const unsigned char *)ou;
	size_t n = strlen(ou), i = 0;
	long cp, count = 0;

	if (n == 0)
		return 0;
	while (i < n) {
		if ((cp = utf8_next(s, n, &i)) == -1 || cp == 0 || utf8_is_control(cp))
			return 0;
		count++;
	}
	/* no blank at either end: an OU that differs only by a space would look equal */
	if (s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	return count <= RA_OU_MAX;
}

/* 1 when name (nl bytes) equals d or lies below it (ASCII case-insensitive). */
static int
allow_below(const char *name, size_t nl, const char *d)
{
	size_t dl = strlen(d);

	if (nl == dl && strncasecmp(name, d, nl) == 0)
		return 1;
	return nl > dl + 1 && name[nl - dl - 1] == '.' && strncasecmp(name + nl - dl, d, dl) == 0;
}

/*
 * The organization (checked: ERR_NOTFOUND when unknown) and the domain in lower case, checked
 * as a DNS name inside one of the organization's domains (ERR_REFUSED), and the OU checked.
 * Removing (add 0) checks only the lengths: an entry whose domain the organization has since
 * lost must stay removable.
 */
static int
allow_args(struct store *st, int add, const char *code, const char *domain, const char *ou,
	   struct store_org *org, char dom[RA_ALLOW_DOMAIN_BYTES], struct err *e)
{
	size_t i, n = domain != NULL ? strlen(domain) : 0;
	char esc[300];
	struct err de;
	int in = 0;

	err_clear(&de);

	if (code == NULL || store_org_get(st, code, org, e) == -1)
		return -1;
	if (!add) {
		if (n == 0 || n >= RA_ALLOW_DOMAIN_BYTES || ou == NULL ||
		    strlen(ou) > 4 * RA_OU_MAX)
			return err_set(e, ERR_NOTFOUND, "allowlist: no such entry");
		for (i = 0; i <= n; i++)
			dom[i] = (char)tolower((unsigned char)domain[i]);
		return 0;
	}
	if (n == 0 || n >= RA_ALLOW_DOMAIN_BYTES || x509_dns_name_check(domain, n, 0, &de) == -1) {
		log_escape(esc, sizeof(esc), domain != NULL ? domain : "", n);
		err_set(e, ERR_REFUSED, "allowlist: domain \"%s\" is not a DNS name", esc);
		return -1;
	}
	for (i = 0; i < n; i++)
		dom[i] = (char)tolower((unsigned char)domain[i]);
	dom[n] = '\0';
	for (i = 0; i < org->ndomains && !in; i++)
		in = allow_below(dom, n, org->domains[i]);
	if (!in) {
		err_set(e, ERR_REFUSED,
			"allowlist: domain %s is not within the domains of organization %s", dom,
			org->code);
		return -1;
	}
	if (ou == NULL || !ra_allow_ou_ok(ou)) {
		err_set(e, ERR_REFUSED,
			"allowlist: an OU is 1-%d characters of printable UTF-8 (no control "
			"characters, no blank at either end)",
			RA_OU_MAX);
		return -1;
	}
	return 0;
}

/* Adds (add 1) or removes an entry with its audit entry, in one transaction. */
static int
allow_change(struct store *st, int add, const char *code, const char *domain, const char *ou,
	     const char *actor, struct err *e)
{
	struct store_org org;
	struct store_allow a;
	char dom[RA_ALLOW_DOMAIN_BYTES], *detail = NULL;
	int rc = -1, intx = 0;

	memset(&org, 0, sizeof(org));
	if (allow_args(st, add, code, domain, ou, &org, dom, e) == -1)
		goto out;
	memset(&a, 0, sizeof(a));
	a.org_id = org.id;
	a.domain = dom;
	a.ou = (char *)ou;
	a.created = util_now();
	detail = xasprintf("domain=%s ou=%s", dom, ou);
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if ((add ? store_allow_add(st, &a, e) : store_allow_remove(st, org.id, dom, ou, e)) == -1 ||
	    store_audit_append(st, actor, add ? "allowlist.add" : "allowlist.remove", org.code,
			       detail, NULL, e) == -1 ||
	    store_commit(st, e) == -1)
		goto out;
	intx = 0;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	free(detail);
	store_org_clear(&org);
	return rc;
}

int
ra_allow_add(struct store *st, const char *code, const char *domain, const char *ou,
	     const char *actor, struct err *e)
{
	return allow_change(st, 1, code, domain, ou, actor, e);
}

int
ra_allow_remove(struct store *st, const char *code, const char *domain, const char *ou,
		const char *actor, struct err *e)
{
	return allow_change(st, 0, code, domain, ou, actor, e);
}

int
ra_allow_list(struct store *st, const char *code, struct store_allow **out, size_t *n,
	      struct err *e)
{
	struct store_org org;
	int rc = -1;

	*out = NULL;
	*n = 0;
	memset(&org, 0, sizeof(org));
	if (code != NULL && store_org_get(st, code, &org, e) == -1)
		goto out;
	rc = store_allow_list(st, code != NULL ? org.id : 0, out, n, e);
out:
	store_org_clear(&org);
	return rc;
}

/* The listed domain (most specific) a name of nl bytes belongs to, or NULL. */
static const char *
allow_domain_of(const struct store_allow *v, size_t n, const char *name, size_t nl)
{
	const char *best = NULL;
	size_t i;

	if (nl > 2 && name[0] == '*' && name[1] == '.') {
		name += 2;
		nl -= 2;
	}
	for (i = 0; i < n; i++)
		if (allow_below(name, nl, v[i].domain) &&
		    (best == NULL || strlen(v[i].domain) > strlen(best)))
			best = v[i].domain;
	return best;
}

/* 1 when (domain, ou) is listed. */
static int
allow_listed(const struct store_allow *v, size_t n, const char *domain, const char *ou)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].domain, domain) == 0 && strcmp(v[i].ou, ou) == 0)
			return 1;
	return 0;
}

int
ra_allow_check(struct store *st, const struct store_org *org, const GENERAL_NAMES *sans,
	       const char *const *ou, size_t nou, struct err *e)
{
	struct store_allow *v = NULL;
	const GENERAL_NAME *gn;
	const char *name, *at, *dom;
	char esc[300], oesc[300];
	size_t n = 0, j, nl;
	int i, rc = -1;

	if (nou == 0 || sans == NULL)
		return 0;
	if (store_allow_list(st, org->id, &v, &n, e) == -1)
		goto out;
	for (i = 0; n > 0 && i < sk_GENERAL_NAME_num(sans); i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type != GEN_DNS && gn->type != GEN_EMAIL)
			continue;
		name = (const char *)ASN1_STRING_get0_data(gn->d.ia5);
		nl = (size_t)ASN1_STRING_length(gn->d.ia5);
		if (memchr(name, '\0', nl) != NULL)
			continue; /* the name policy refuses it */
		if (gn->type == GEN_EMAIL) {
			if ((at = memchr(name, '@', nl)) == NULL)
				continue;
			nl -= (size_t)(at + 1 - name);
			name = at + 1;
		}
		if ((dom = allow_domain_of(v, n, name, nl)) == NULL)
			continue;
		for (j = 0; j < nou; j++) {
			if (allow_listed(v, n, dom, ou[j]))
				continue;
			log_escape(oesc, sizeof(oesc), ou[j], strlen(ou[j]));
			log_escape(esc, sizeof(esc), name, nl);
			err_set(e, ERR_REFUSED,
				"name policy: OU \"%s\" is not on the OU allow-list of domain %s "
				"(organization %s) for the name %s",
				oesc, dom, org->code, esc);
			err_kind(e, CA_REFUSAL_NAME_POLICY);
			goto out;
		}
	}
	rc = 0;
out:
	STORE_LIST_FREE(v, n, store_allow_clear);
	return rc;
}
