/*
 * apikey: the API key of a request, as HTTP carries it (Authorization: Bearer
 * shk_<id>_<secret>).  The key itself — its format, hash, the check against the store and its
 * life cycle — is the RA's (src/ra/apikey.c).
 */
#include <string.h>
#include <strings.h>

#include "api/api.h"

const char *
api_bearer_token(const char *h, size_t *len)
{
	const char *t = NULL;
	size_t n;

	*len = 0;
	if (h == NULL || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
		goto out;
	for (h += 6; *h == ' ' || *h == '\t'; h++)
		;
	n = strlen(h);
	while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	if (n == 0)
		goto out;
	t = h;
	*len = n;
out:
	return t;
}

enum ra_apikey_auth
api_key_check(struct store *st, const char *authorization, struct ra_apikey *key, struct err *e)
{
	enum ra_apikey_auth a;
	const char *tok;
	size_t n;

	memset(key, 0, sizeof(*key));
	if (authorization == NULL)
		a = RA_APIKEY_MISSING;
	else if ((tok = api_bearer_token(authorization, &n)) == NULL)
		a = RA_APIKEY_BAD;
	else
		a = ra_apikey_check(st, tok, n, key, e);
	return a;
}
