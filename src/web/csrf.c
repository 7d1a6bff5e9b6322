/*
 * csrf: keyed tokens of the HTML faces — base64url, HMAC-SHA-256 with the face's secret, and
 * the CSRF token bound to the session (signed double submit, see web.h).
 */
#include <string.h>

#include <sodium.h>

#include "web.h"

static int
web_b64url_ok(const char *s, size_t want)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) != want)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

void
web_b64url(char *out, size_t outlen, const unsigned char *p, size_t n)
{
	sodium_bin2base64(out, outlen, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int
web_b64url_decode(unsigned char *out, size_t want, const char *s)
{
	size_t n = 0;

	if (!web_b64url_ok(
		s, sodium_base64_ENCODED_LEN(want, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1))
		return -1;
	if (sodium_base642bin(out, want, s, strlen(s), NULL, &n, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    n != want)
		return -1;
	return 0;
}

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
	web_b64url(out, WEB_B64_LEN, mac, sizeof(mac));
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
