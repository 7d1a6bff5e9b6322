/*
 * csrf: keyed tokens of the HTML faces — HMAC-SHA-256 with the face's secret, and
 * the CSRF token bound to the session (signed double submit, see web.h).
 */
#include <string.h>

#include <sodium.h>

#include "util/b64.h"
#include "web.h"

/* HMAC-SHA-256 with the site's secret over the parts, each followed by a NUL, as base64url. */
void
web_mac(const struct web_site *site, char out[WEB_B64_LEN], const char *const *parts, size_t n)
{
	crypto_auth_hmacsha256_state h;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&h, site->secret, sizeof(site->secret));
	for (size_t i = 0; i < n; i++)
		crypto_auth_hmacsha256_update(&h, (const unsigned char *)parts[i],
					      strlen(parts[i]) + 1);
	crypto_auth_hmacsha256_final(&h, mac);
	b64url_encode(out, WEB_B64_LEN, mac, sizeof(mac));
	sodium_memzero(&h, sizeof(h));
	sodium_memzero(mac, sizeof(mac));
}

void
web_csrf(const struct web_ctx *x, char out[WEB_B64_LEN])
{
	const char *parts[] = {"csrf", x->sid};

	web_mac(x->site, out, parts, 2);
}

int
web_csrf_ok(const struct web_ctx *x, const char *token)
{
	char want[WEB_B64_LEN];

	if (x->sid_new || token == NULL || strlen(token) != WEB_B64_LEN - 1)
		return 0;
	web_csrf(x, want);
	return util_memeq_ct(want, token, WEB_B64_LEN - 1);
}
