/*
 * dns: the small DNS client of ACME validation (src/acme/dns.c): dns-01's TXT records (RFC
 * 8555 8.4), CAA (RFC 8659) and the addresses tls-alpn-01 connects to, asked of one recursive
 * resolver (acme.dns_resolver, or the first nameserver of /etc/resolv.conf) over UDP, then TCP
 * when the answer is truncated, each query and the whole lookup bounded by a deadline.
 *
 * An answer is untrusted bytes: acme_dns_parse, acme_dns_txt and acme_caa_parse are pure and
 * fuzzed (tests/fuzz/fuzz_acme_dns.c).  Names are compared case-insensitively, as text of the
 * letters, digits, '-', '_' and '*' of host names and ACME's labels; an answer naming anything
 * else is refused as malformed.
 */
#ifndef SHOMEI_ACME_DNS_H
#define SHOMEI_ACME_DNS_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "util/util.h"

#define ACME_DNS_A 1
#define ACME_DNS_CNAME 5
#define ACME_DNS_TXT 16
#define ACME_DNS_AAAA 28
#define ACME_DNS_CAA 257

#define ACME_DNS_NAME_TEXT 256	/* a name as text, no trailing dot, + NUL */
#define ACME_DNS_RR_MAX 32	/* records of the asked type kept from one answer */
#define ACME_DNS_RDATA_MAX 1024 /* bytes of one record's data kept (longer: skipped) */
#define ACME_DNS_CNAME_MAX 8	/* CNAMEs followed from the asked name, across queries */
#define ACME_DNS_ANSWER_MAX 64	/* answer records looked at in one message */

#define ACME_DNS_NOERROR 0
#define ACME_DNS_SERVFAIL 2
#define ACME_DNS_NXDOMAIN 3

struct acme_dns_rr {
	uint16_t len;
	unsigned char data[ACME_DNS_RDATA_MAX];
};

/* The records of one type at the end of a name's CNAME chain. */
struct acme_dns_res {
	int rcode;			/* the last answer's (NOERROR, NXDOMAIN) */
	int truncated;			/* acme_dns_parse: the TC bit was set */
	int cnames;			/* CNAMEs followed */
	char name[ACME_DNS_NAME_TEXT];	/* the owner of rr: the asked name after the CNAMEs */
	char cname[ACME_DNS_NAME_TEXT]; /* acme_dns_parse: the chain ends in another name whose
					 * records the answer lacks ("" when it does not) */
	size_t n;
	struct acme_dns_rr rr[ACME_DNS_RR_MAX];
};

/*
 * Parses the answer msg (len bytes) to the query id for qname (text, no trailing dot) and
 * qtype: the header (a response, the id, QUERY, the question echoed), the rcode, and the
 * records of qtype, class IN, owned by qname or the end of the CNAME chain the answer gives
 * from it (at most ACME_DNS_CNAME_MAX - cnames_before links).  0, or -1 with e naming the
 * rule.  Pure.
 */
int acme_dns_parse(const unsigned char *msg, size_t len, uint16_t id, const char *qname,
		   uint16_t qtype, int cnames_before, struct acme_dns_res *out, struct err *e);
/*
 * The character-strings of a TXT record's data concatenated into out (RFC 8555 8.4 and
 * RFC 7208 3.3: a record's strings are one value): 0, or -1 when the data is malformed or does
 * not fit.  Pure.
 */
int acme_dns_txt(const unsigned char *rd, size_t len, char *out, size_t n);

/* One CAA record (RFC 8659 4.1). */
struct acme_caa {
	unsigned char flags; /* 128: issuer critical */
	char tag[16];	     /* lower-cased */
	char value[512];     /* as given (no NUL inside) */
};
/* The data of a CAA record into *out: 0, or -1 when malformed.  Pure. */
int acme_caa_parse(const unsigned char *rd, size_t len, struct acme_caa *out);
/*
 * Whether the CAA records rrs (the relevant RRset of RFC 8659 3, non-empty) let this CA issue
 * for a name (wildcard: issuewild first, RFC 8659 4.3) validated by method for the account
 * whose URL is acct_url, the CA being named by one of ids (acme.caa_identities).  1, or 0 with
 * why (the rule) filled.  An unknown tag with the critical flag refuses (4.1); a record that
 * does not parse refuses.  Parameters (RFC 8657): accounturi must equal acct_url,
 * validationmethods must list method.  Pure.
 */
int acme_caa_allows(const struct acme_dns_res *rrs, int wildcard, const char *method,
		    const char *acct_url, const char *const *ids, size_t nids, char *why,
		    size_t whylen);

/* A resolver's address. */
struct acme_dns_server {
	struct sockaddr_storage sa;
	socklen_t salen;
};
/*
 * spec "IPv4", "IPv4:port", "[IPv6]:port" or "IPv6" (port 53 by default) into *out; spec NULL
 * or "": the first nameserver of /etc/resolv.conf.  0, or -1.
 */
int acme_dns_server(const char *spec, struct acme_dns_server *out, struct err *e);
/*
 * The records of qtype of name (following CNAMEs, at most ACME_DNS_CNAME_MAX, across queries)
 * asked of srv, over UDP (retried) and TCP when truncated, before deadline_ms (the
 * CLOCK_MONOTONIC time in milliseconds, util_mono_ms-like: acme_dns_now_ms).  0 with out->rcode
 * NOERROR or NXDOMAIN (out->n may be 0), or -1 with e (a timeout, SERVFAIL, REFUSED, a
 * malformed answer).
 */
int acme_dns_lookup(const struct acme_dns_server *srv, const char *name, uint16_t qtype,
		    int64_t deadline_ms, struct acme_dns_res *out, struct err *e);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t acme_dns_now_ms(void);

#endif
