/*
 * policy: an organization's name policy, and the one way a face issues for an organization
 * (ra_issue).  What a certificate of an organization may contain, for every profile:
 *
 *   dNSName        inside one of its DNS domains (equal, or below); a wildcard only where the
 *                  profile allows one (server)
 *   rfc822Name     its domain inside one of its mail domains (none listed: its DNS domains)
 *   iPAddress      one of its listed addresses or inside one of its listed prefixes (none by
 *                  default)
 *   URI            one of its listed URIs, or below a listed prefix ending in "/" (none by
 *                  default)
 *   other kinds    never
 *   OU             when a name lies in a domain with an OU allow-list (allowlist.c), every OU
 *                  must be on that domain's list
 *   subject        built here: O = the organization's registered name, OU as given, CN one of
 *                  the names (server) or the holder's name (client, codesign, officer).  A
 *                  CSR's O must be that name (or absent), a server CSR's CN one of its names,
 *                  a client CSR's CN one of its e-mail addresses or a person's name (not an
 *                  address nor a host name), a code-signing CSR's CN the organization's
 *                  registered name (the publisher relying parties show; absent: that name);
 *                  its other attributes are not copied.  The same rules hold for a CN the
 *                  face gives (the portal's romaji name); a face that decides the names
 *                  itself (names_given: the portal) never gets the CSR's.
 *
 * An organization that lists no name at all can issue nothing until an operator marks it
 * unrestricted (`shomei org set CODE --unrestricted`); an unrestricted one may certify any
 * name (the subject is still built here).  Every refusal is ERR_REFUSED of kind
 * CA_REFUSAL_NAME_POLICY (or CA_REFUSAL_ORG for an unknown organization) with a message that
 * names the rule and the value.
 */
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ra.h"

/* 1 when name equals d or lies below it (ASCII case-insensitive), else 0. */
static int
policy_below(const char *name, size_t nl, const char *d)
{
	size_t dl = strlen(d);

	if (nl == dl && strncasecmp(name, d, nl) == 0)
		return 1;
	return nl > dl + 1 && name[nl - dl - 1] == '.' && strncasecmp(name + nl - dl, d, dl) == 0;
}

/* 1 when the DNS name (a wildcard counts as its base) lies in one of the domains. */
static int
policy_dns_in(char *const *domains, size_t n, const char *name, size_t nl)
{
	size_t i;

	if (nl > 2 && name[0] == '*' && name[1] == '.') {
		name += 2;
		nl -= 2;
	}
	for (i = 0; i < n; i++)
		if (policy_below(name, nl, domains[i]))
			return 1;
	return 0;
}

int
ra_email_in_org(const struct store_org *org, const char *addr)
{
	const char *at = strrchr(addr, '@');
	char *const *doms = org->nmail_domains > 0 ? org->mail_domains : org->domains;
	size_t n = org->nmail_domains > 0 ? org->nmail_domains : org->ndomains;

	if (org->unrestricted)
		return 1;
	if (at == NULL || at[1] == '\0')
		return 0;
	return policy_dns_in(doms, n, at + 1, strlen(at + 1));
}

/* 1 when uri is listed exactly, or lies below a listed value ending in "/". */
static int
policy_uri_in(char *const *uris, size_t n, const char *uri, size_t ul)
{
	size_t i, l;

	for (i = 0; i < n; i++) {
		l = strlen(uris[i]);
		if (l == ul && memcmp(uris[i], uri, ul) == 0)
			return 1;
		if (l > 0 && uris[i][l - 1] == '/' && ul > l && memcmp(uris[i], uri, l) == 0)
			return 1;
	}
	return 0;
}

/* The name policy's refusal: ERR_REFUSED of kind CA_REFUSAL_NAME_POLICY. */
static int policy_refuse(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
policy_refuse(struct err *e, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(e, ERR_REFUSED, "name policy: %s", msg);
	return err_kind(e, CA_REFUSAL_NAME_POLICY);
}

/* 1 when the organization lists any name at all. */
static int
policy_has_names(const struct store_org *org)
{
	return org->ndomains + org->nmail_domains + org->nips + org->nuris > 0;
}

int
ra_policy_names(const struct store_org *org, const struct profile *prof, const GENERAL_NAMES *sans,
		struct err *e)
{
	const GENERAL_NAME *gn;
	const ASN1_STRING *s;
	char esc[300], ipt[INET6_ADDRSTRLEN];
	char *const *mdoms;
	size_t nm;
	int i;

	if (org->unrestricted)
		return 0;
	if (!policy_has_names(org))
		return policy_refuse(
		    e,
		    "organization %s lists no domains: it can issue nothing until an "
		    "operator lists its domains or marks it unrestricted (shomei "
		    "org set %s --unrestricted)",
		    org->code, org->code);
	mdoms = org->nmail_domains > 0 ? org->mail_domains : org->domains;
	nm = org->nmail_domains > 0 ? org->nmail_domains : org->ndomains;
	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		switch (gn->type) {
		case GEN_DNS:
			s = gn->d.dNSName;
			log_escape(esc, sizeof(esc), (const char *)ASN1_STRING_get0_data(s),
				   (size_t)ASN1_STRING_length(s));
			if (ASN1_STRING_length(s) > 1 && ASN1_STRING_get0_data(s)[0] == '*' &&
			    !prof->dns_wildcard)
				return policy_refuse(e, "profile %s: wildcard %s is not allowed",
						     prof->name, esc);
			if (!policy_dns_in(org->domains, org->ndomains,
					   (const char *)ASN1_STRING_get0_data(s),
					   (size_t)ASN1_STRING_length(s)))
				return policy_refuse(
				    e, "%s is not within the domains of organization %s", esc,
				    org->code);
			break;
		case GEN_EMAIL: {
			const char *p = (const char *)ASN1_STRING_get0_data(gn->d.rfc822Name);
			size_t l = (size_t)ASN1_STRING_length(gn->d.rfc822Name), at = l;

			while (at > 0 && p[at - 1] != '@')
				at--;
			log_escape(esc, sizeof(esc), p, l);
			if (at == 0 || !policy_dns_in(mdoms, nm, p + at, l - at))
				return policy_refuse(
				    e,
				    "e-mail address %s is outside the mail domains of "
				    "organization %s",
				    esc, org->code);
			break;
		}
		case GEN_IPADD:
			s = gn->d.iPAddress;
			ipt[0] = '\0';
			inet_ntop(ASN1_STRING_length(s) == 16 ? AF_INET6 : AF_INET,
				  ASN1_STRING_get0_data(s), ipt, sizeof(ipt));
			if (!util_ip_in(org->ips, org->nips, ASN1_STRING_get0_data(s),
					(size_t)ASN1_STRING_length(s)))
				return policy_refuse(e,
						     "IP address %s is not one of the addresses of "
						     "organization %s",
						     ipt[0] != '\0' ? ipt : "(malformed)",
						     org->code);
			break;
		case GEN_URI:
			s = gn->d.uniformResourceIdentifier;
			log_escape(esc, sizeof(esc), (const char *)ASN1_STRING_get0_data(s),
				   (size_t)ASN1_STRING_length(s));
			if (!policy_uri_in(org->uris, org->nuris,
					   (const char *)ASN1_STRING_get0_data(s),
					   (size_t)ASN1_STRING_length(s)))
				return policy_refuse(
				    e, "URI %s is not one of the URIs of organization %s", esc,
				    org->code);
			break;
		default:
			return policy_refuse(e, "a %s name is never certified for an organization",
					     gn->type == GEN_DIRNAME	 ? "directoryName"
					     : gn->type == GEN_OTHERNAME ? "otherName"
					     : gn->type == GEN_RID	 ? "registeredID"
								   : "x400Address/ediPartyName");
		}
	}
	return 0;
}

/* Adds one UTF-8 attribute (values are checked again by lint); 0 or -1. */
static int
policy_name_add(X509_NAME *n, int nid, const char *v, struct err *e)
{
	if (X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8, (const unsigned char *)v, -1, -1,
				       0) != 1)
		return err_ssl(e, ERR_INTERNAL, "ra: cannot build the subject");
	return 0;
}

int
ra_policy_subject(const struct store_org *org, const char *const *ou, size_t nou, const char *cn,
		  X509_NAME **out, struct err *e)
{
	X509_NAME *n = X509_NAME_new();
	size_t i;
	int rc = -1;

	*out = NULL;
	if (n == NULL) {
		err_ssl(e, ERR_INTERNAL, "ra: out of memory");
		goto out;
	}
	if (policy_name_add(n, NID_organizationName, org->name, e) == -1)
		goto out;
	for (i = 0; i < nou; i++)
		if (policy_name_add(n, NID_organizationalUnitName, ou[i], e) == -1)
			goto out;
	if (cn != NULL && policy_name_add(n, NID_commonName, cn, e) == -1)
		goto out;
	*out = n;
	n = NULL;
	rc = 0;
out:
	X509_NAME_free(n);
	return rc;
}

/* The text of a name entry's value as UTF-8 (caller frees), or NULL (also with a NUL in it). */
static char *
policy_entry_text(const X509_NAME_ENTRY *ne)
{
	unsigned char *u = NULL;
	char *s;
	int l = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(ne));

	if (l < 0)
		return NULL;
	if (memchr(u, 0, (size_t)l) != NULL) { /* "Alice\0x" would be certified as "Alice" */
		OPENSSL_free(u);
		return NULL;
	}
	s = xstrndup((const char *)u, (size_t)l);
	OPENSSL_free(u);
	return s;
}

/* 1 when cn names one of sans (a dNSName, case-insensitive, or an iPAddress as text). */
static int
policy_cn_is_san(const char *cn, const GENERAL_NAMES *sans)
{
	const GENERAL_NAME *gn;
	char ipt[INET6_ADDRSTRLEN];
	size_t cl = strlen(cn);
	int i;

	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type == GEN_DNS && (size_t)ASN1_STRING_length(gn->d.dNSName) == cl &&
		    strncasecmp((const char *)ASN1_STRING_get0_data(gn->d.dNSName), cn, cl) == 0)
			return 1;
		if (gn->type == GEN_IPADD &&
		    inet_ntop(ASN1_STRING_length(gn->d.iPAddress) == 16 ? AF_INET6 : AF_INET,
			      ASN1_STRING_get0_data(gn->d.iPAddress), ipt, sizeof(ipt)) != NULL &&
		    strcmp(ipt, cn) == 0)
			return 1;
	}
	return 0;
}

/* 1 when cn is one of the rfc822Names of sans (case-insensitive). */
static int
policy_cn_is_email(const char *cn, const GENERAL_NAMES *sans)
{
	const GENERAL_NAME *gn;
	size_t cl = strlen(cn);
	int i;

	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type == GEN_EMAIL && (size_t)ASN1_STRING_length(gn->d.rfc822Name) == cl &&
		    strncasecmp((const char *)ASN1_STRING_get0_data(gn->d.rfc822Name), cn, cl) == 0)
			return 1;
	}
	return 0;
}

/* 1 when s reads as a person's name (the portal's name rules: not an address nor a host name). */
static int
policy_personal_name(const char *s)
{
	return ra_name_romaji_ok(s) || ra_name_kanji_ok(s);
}

/*
 * The CN a client or code-signing certificate is asked for (cn: the face's, else the CSR's;
 * NULL when none), checked: the certificate's CN (*out, caller frees), or -1 with a
 * name-policy refusal.
 */
static int
policy_csr_cn(const struct store_org *org, const struct profile *prof, const char *cn,
	      const GENERAL_NAMES *sans, char **out, struct err *e)
{
	char esc[300], oesc[300];

	*out = NULL;
	if (strcmp(prof->name, "codesign") == 0) {
		if (cn != NULL && strcmp(cn, org->name) != 0) {
			log_escape(esc, sizeof(esc), cn, strlen(cn));
			log_escape(oesc, sizeof(oesc), org->name, strlen(org->name));
			policy_refuse(e,
				      "CN \"%s\" of a code-signing certificate must be the "
				      "organization's registered name \"%s\"",
				      esc, oesc);
			return -1;
		}
		*out = xstrdup(org->name);
		return 0;
	}
	if (cn == NULL || cn[0] == '\0')
		return 0; /* refused below: the holder's name is missing */
	if (!policy_cn_is_email(cn, sans) && !policy_personal_name(cn)) {
		log_escape(esc, sizeof(esc), cn, strlen(cn));
		policy_refuse(
		    e,
		    "CN \"%s\" is neither one of the certificate's e-mail addresses nor a "
		    "person's name",
		    esc);
		return -1;
	}
	*out = xstrdup(cn);
	return 0;
}

/* The text of the first dNSName, else of the first iPAddress, of sans (caller frees). */
static char *
policy_first_name(const GENERAL_NAMES *sans)
{
	const GENERAL_NAME *gn;
	char ipt[INET6_ADDRSTRLEN];
	int i, pass;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
			gn = sk_GENERAL_NAME_value(sans, i);
			if (pass == 0 && gn->type == GEN_DNS)
				return xstrndup((const char *)ASN1_STRING_get0_data(gn->d.dNSName),
						(size_t)ASN1_STRING_length(gn->d.dNSName));
			if (pass == 1 && gn->type == GEN_IPADD &&
			    inet_ntop(
				ASN1_STRING_length(gn->d.iPAddress) == 16 ? AF_INET6 : AF_INET,
				ASN1_STRING_get0_data(gn->d.iPAddress), ipt, sizeof(ipt)) != NULL)
				return xstrdup(ipt);
		}
	return NULL;
}

/* What the RA takes from a CSR's subject: its OUs, its CN; its O checked. */
struct policy_csr_subject {
	char *ou[8];
	size_t nou;
	char *cn;
};

static void
policy_csr_subject_clear(struct policy_csr_subject *c)
{
	size_t i;

	for (i = 0; i < c->nou; i++)
		free(c->ou[i]);
	free(c->cn);
	memset(c, 0, sizeof(*c));
}

static int
policy_csr_subject(const struct store_org *org, const X509_NAME *n, struct policy_csr_subject *c,
		   struct err *e)
{
	const X509_NAME_ENTRY *ne;
	char *v = NULL, esc[300], oesc[300];
	int i, nid, rc = -1;

	memset(c, 0, sizeof(*c));
	for (i = 0; n != NULL && i < X509_NAME_entry_count(n); i++) {
		ne = X509_NAME_get_entry(n, i);
		nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
		if (nid != NID_organizationName && nid != NID_organizationalUnitName &&
		    nid != NID_commonName)
			continue; /* not copied */
		free(v);
		if ((v = policy_entry_text(ne)) == NULL) {
			err_set(e, ERR_REFUSED, "csr: subject: an attribute is not valid text");
			err_kind(e, CA_REFUSAL_SUBJECT);
			goto out;
		}
		if (nid == NID_organizationName && strcmp(v, org->name) != 0) {
			log_escape(esc, sizeof(esc), v, strlen(v));
			log_escape(oesc, sizeof(oesc), org->name, strlen(org->name));
			policy_refuse(e,
				      "O \"%s\" is not the registered name of organization %s "
				      "(\"%s\")",
				      esc, org->code, oesc);
			goto out;
		}
		if (nid == NID_organizationalUnitName) {
			if (c->nou == sizeof(c->ou) / sizeof(c->ou[0])) {
				policy_refuse(e, "more than %zu OU attributes",
					      sizeof(c->ou) / sizeof(c->ou[0]));
				goto out;
			}
			c->ou[c->nou++] = v;
			v = NULL;
		} else if (nid == NID_commonName) {
			if (c->cn != NULL) {
				policy_refuse(e, "more than one CN");
				goto out;
			}
			c->cn = v;
			v = NULL;
		}
	}
	rc = 0;
out:
	free(v);
	if (rc != 0)
		policy_csr_subject_clear(c);
	return rc;
}

/* Adds a SAN of type (GEN_DNS, GEN_EMAIL) with value v; 0 or -1. */
static int
policy_san_add(GENERAL_NAMES *g, int type, const char *v, struct err *e)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (gn == NULL || s == NULL || ASN1_STRING_set(s, v, (int)strlen(v)) != 1) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return err_ssl(e, ERR_INTERNAL, "ra: out of memory");
	}
	GENERAL_NAME_set0_value(gn, type, s);
	if (sk_GENERAL_NAME_push(g, gn) == 0) {
		GENERAL_NAME_free(gn);
		return err_ssl(e, ERR_INTERNAL, "ra: out of memory");
	}
	return 0;
}

/* Adds an iPAddress SAN of the address text v (IPv4 or IPv6); 0, or -1 (ERR_REFUSED) for no
 * address. */
static int
policy_ip_add(GENERAL_NAMES *g, const char *v, struct err *e)
{
	ASN1_OCTET_STRING *os = a2i_IPADDRESS(v);
	GENERAL_NAME *gn = NULL;
	char esc[96];

	if (os == NULL) {
		log_escape(esc, sizeof(esc), v, strlen(v));
		return policy_refuse(e, "\"%s\" is no IP address", esc);
	}
	if ((gn = GENERAL_NAME_new()) == NULL) {
		ASN1_OCTET_STRING_free(os);
		return err_ssl(e, ERR_INTERNAL, "ra: out of memory");
	}
	GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
	if (sk_GENERAL_NAME_push(g, gn) == 0) {
		GENERAL_NAME_free(gn);
		return err_ssl(e, ERR_INTERNAL, "ra: out of memory");
	}
	return 0;
}

/* The SANs the face gave (host names, addresses, an e-mail address), or NULL when it gave
 * none. */
static int
policy_given_sans(const struct ra_issue_req *q, GENERAL_NAMES **out, struct err *e)
{
	GENERAL_NAMES *g = NULL;
	size_t i;
	int rc = -1;

	*out = NULL;
	if (q->ndns == 0 && q->nips == 0 && q->email == NULL)
		return 0;
	if ((g = sk_GENERAL_NAME_new_null()) == NULL) {
		err_ssl(e, ERR_INTERNAL, "ra: out of memory");
		goto out;
	}
	for (i = 0; i < q->ndns; i++)
		if (policy_san_add(g, GEN_DNS, q->dns[i], e) == -1)
			goto out;
	for (i = 0; i < q->nips; i++)
		if (policy_ip_add(g, q->ips[i], e) == -1)
			goto out;
	if (q->email != NULL && policy_san_add(g, GEN_EMAIL, q->email, e) == -1)
		goto out;
	*out = g;
	g = NULL;
	rc = 0;
out:
	GENERAL_NAMES_free(g);
	return rc;
}

/*
 * The profiles an organization's certificates may have: the CA's own (root, issuing, OCSP,
 * TSA) never; the officer profile only when the RA officer console asks; shortlived (the
 * server profile for at most 7 days, without revocation pointers) only when ACME asks.
 */
static int
policy_profile_ok(const struct profile *prof, int officer, int short_lived)
{
	static const char *const org_profiles[] = {"server", "client", "codesign"};
	size_t i;

	if (officer)
		return strcmp(prof->name, "officer") == 0;
	if (strcmp(prof->name, "shortlived") == 0)
		return short_lived;
	for (i = 0; i < sizeof(org_profiles) / sizeof(org_profiles[0]); i++)
		if (strcmp(prof->name, org_profiles[i]) == 0)
			return 1;
	return 0;
}

/* ra_issue's second step of two: q->presigned stored as it was signed (see ca_issue_req). */
static int
policy_store_presigned(struct ca *ca, struct store *st, const struct ra_issue_req *q,
		       const struct profile *prof, int64_t org_id, const GENERAL_NAMES *sans,
		       struct ca_issued *out, struct err *e)
{
	struct ca_issue_req req;

	memset(&req, 0, sizeof(req));
	req.profile = prof->name;
	req.org_id = org_id;
	req.predecessor = q->predecessor;
	req.actor = q->actor;
	req.sans = sans;
	req.presigned = q->presigned;
	req.write_fn = q->write_fn;
	req.arg = q->arg;
	return ca_issue(ca, st, &req, out, e);
}

int
ra_issue(struct ca *ca, struct store *st, const struct ra_issue_req *q, struct ca_issued *out,
	 struct err *e)
{
	const struct profile *prof;
	struct store_org org;
	struct policy_csr_subject cs;
	struct ca_issue_req req;
	struct csr *own = NULL;
	const struct csr *csr = NULL;
	GENERAL_NAMES *given = NULL;
	const GENERAL_NAMES *sans;
	X509_NAME *subject = NULL;
	struct err se;
	char *cn = NULL, esc[300];
	const char *const *ou;
	size_t nou;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&org, 0, sizeof(org));
	memset(&cs, 0, sizeof(cs));
	err_clear(&se);
	if ((prof = profile_find(q->profile)) == NULL ||
	    !policy_profile_ok(prof, q->officer, q->short_lived)) {
		log_escape(esc, sizeof(esc), q->profile != NULL ? q->profile : "",
			   q->profile != NULL ? strlen(q->profile) : 0);
		err_set(e, ERR_REFUSED,
			"issue: profile \"%s\" is not issued to organizations (server, client, "
			"codesign; shortlived over ACME)",
			esc);
		err_kind(e, CA_REFUSAL_PROFILE);
		goto out;
	}
	if (q->org_code == NULL || store_org_get(st, q->org_code, &org, &se) == -1) {
		if (q->org_code != NULL && se.code != ERR_NOTFOUND) {
			*e = se;
			goto out;
		}
		log_escape(esc, sizeof(esc), q->org_code != NULL ? q->org_code : "(none)",
			   q->org_code != NULL ? strlen(q->org_code) : 6);
		err_set(e, ERR_REFUSED, "issue: organization %s does not exist", esc);
		err_kind(e, CA_REFUSAL_ORG);
		goto out;
	}
	/*
	 * The second step of two (the console's bulk commit): the first step checked this very
	 * request and signed its certificate moments ago; what remains is to store it with the
	 * organization, under the names given, without parsing or deciding anything again.
	 */
	if (q->presigned != NULL && q->presigned->subject != NULL && q->names_given &&
	    q->key == NULL) {
		if (policy_given_sans(q, &given, e) == -1)
			goto out;
		if (given != NULL) {
			rc = policy_store_presigned(ca, st, q, prof, org.id, given, out, e);
			goto out;
		}
	}
	if (q->key == NULL && q->csr_parsed != NULL)
		csr = q->csr_parsed;
	else if (q->key == NULL) {
		if (csr_parse_ex(q->csr, q->csrlen, q->csr_verified ? CSR_PARSE_NO_VERIFY : 0, &own,
				 e) == -1)
			goto out;
		csr = own;
	}
	if (given == NULL && policy_given_sans(q, &given, e) == -1)
		goto out;
	sans = given != NULL ? given : csr != NULL && !q->names_given ? csr->sans : NULL;
	if (csr != NULL && policy_csr_subject(&org, csr->subject, &cs, e) == -1)
		goto out;
	if (ra_policy_names(&org, prof, sans, e) == -1)
		goto out;
	/* the subject: CN one of the names (server), else the holder's name or the publisher's;
	 * a face that gives the names gives the CN too (none: the CSR's is not taken either) */
	if (!(prof->san_required & (X509_SAN_DNS | X509_SAN_IP))) {
		if (policy_csr_cn(&org, prof,
				  q->cn != NULL	   ? q->cn
				  : q->names_given ? NULL
						   : cs.cn,
				  sans, &cn, e) == -1)
			goto out;
	} else if (q->cn != NULL) {
		cn = xstrdup(q->cn);
	} else if (cs.cn != NULL) {
		cn = xstrdup(cs.cn);
	}
	if (prof->san_required & (X509_SAN_DNS | X509_SAN_IP)) {
		/* (without any name, lint refuses the request for the names it lacks) */
		if (cn == NULL)
			cn = policy_first_name(sans);
		else if (sans != NULL && sk_GENERAL_NAME_num(sans) > 0 &&
			 !policy_cn_is_san(cn, sans)) {
			log_escape(esc, sizeof(esc), cn, strlen(cn));
			policy_refuse(e, "CN \"%s\" is not one of the certificate's names", esc);
			goto out;
		}
	} else if (cn == NULL || cn[0] == '\0') {
		policy_refuse(e, "profile %s: the holder's name (CN) is missing", prof->name);
		goto out;
	}
	ou = q->nou > 0 ? q->ou : (const char *const *)cs.ou;
	nou = q->nou > 0 ? q->nou : cs.nou;
	if (ra_allow_check(st, &org, sans, ou, nou, e) == -1 ||
	    ra_policy_subject(&org, ou, nou, cn, &subject, e) == -1)
		goto out;
	memset(&req, 0, sizeof(req));
	req.profile = prof->name;
	req.parsed = csr;
	req.key = q->key;
	req.spki = q->spki;
	req.days = q->days;
	req.org_id = org.id;
	req.predecessor = q->predecessor;
	req.actor = q->actor;
	req.subject = subject;
	req.sans = sans;
	req.check_only = q->check_only;
	req.sign_only = q->sign_only;
	req.presigned = q->presigned;
	req.signed_fn = q->signed_fn;
	req.write_fn = q->write_fn;
	req.arg = q->arg;
	req.write_again = q->write_again;
	if (ca_issue(ca, st, &req, out, e) == -1)
		goto out;
	rc = 0;
out:
	free(cn);
	policy_csr_subject_clear(&cs);
	X509_NAME_free(subject);
	GENERAL_NAMES_free(given);
	csr_free(own);
	store_org_clear(&org);
	return rc;
}

int
ra_dns_in_org(const struct store_org *org, const char *name)
{
	return policy_dns_in(org->domains, org->ndomains, name, strlen(name));
}
