/*
 * libFuzzer target for what ACME validation reads from the network (src/acme/dns.c,
 * src/acme/validate.c): the first byte chooses.  0: a DNS answer (acme_dns_parse for a TXT
 * question of _acme-challenge.example.org, id 0x1234, then acme_dns_txt of each record); 1:
 * the same for a CAA question of example.org, then acme_caa_allows; 2: a tls-alpn-01
 * certificate (DER; acme_tlsalpn_check) for a DNS name, then for an IPv4 and an IPv6 address
 * (RFC 8738 6: the iPAddress branch).  Hostile bytes must give a clean refusal, never a
 * crash, a leak or undefined behaviour; what is kept stays within its bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "acme/acme.h"
#include "acme/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ids[] = {"ca.example.net"};
	static const char *const hosts[] = {"www.example.org", "192.0.2.1", "2001:db8::1"};
	static struct acme_dns_res res;
	char txt[ACME_DNS_RDATA_MAX], why[600];
	unsigned char md[32];
	const unsigned char *p;
	X509 *x;
	struct err e;

	if (size < 1)
		return 0;
	err_clear(&e);
	switch (data[0]) {
	case 0:
		if (acme_dns_parse(data + 1, size - 1, 0x1234, "_acme-challenge.example.org",
				   ACME_DNS_TXT, 0, &res, &e) == 0) {
			if (res.n > ACME_DNS_RR_MAX || res.cnames > ACME_DNS_CNAME_MAX)
				abort();
			for (size_t i = 0; i < res.n; i++)
				if (acme_dns_txt(res.rr[i].data, res.rr[i].len, txt, sizeof(txt)) ==
					0 &&
				    res.rr[i].len > 0 && strlen(txt) >= res.rr[i].len)
					abort(); /* the length bytes are not text */
		} else if (e.msg[0] == '\0') {
			abort(); /* a refusal says why */
		}
		break;
	case 1:
		if (acme_dns_parse(data + 1, size - 1, 0x1234, "example.org", ACME_DNS_CAA, 0, &res,
				   &e) == 0 &&
		    res.n > 0 &&
		    !acme_caa_allows(&res, size % 2, "dns-01", "https://ca.example.net/acme/acct/1",
				     ids, 1, why, sizeof(why)) &&
		    why[0] == '\0')
			abort();
		break;
	case 2:
		p = data + 1;
		memset(md, 0x5a, sizeof(md));
		if ((x = d2i_X509(NULL, &p, (long)(size - 1))) != NULL) {
			for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++) {
				why[0] = '\0';
				if (!acme_tlsalpn_check(x, hosts[h], md, why, sizeof(why)) &&
				    why[0] == '\0')
					abort();
			}
			X509_free(x);
		}
		break;
	default:
		break;
	}
	ERR_clear_error();
	return 0;
}
