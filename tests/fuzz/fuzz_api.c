/*
 * libFuzzer target for the REST API's untrusted inputs, without store or signer: the JSON
 * bodies of issue and revoke (api_issue_req_parse, api_revoke_req_parse), list query
 * parameters (api_list_param_set), the Accept header and ?format= (api_format_pick), RFC 3339
 * times (timefmt_rfc3339_parse), the API key text (ra_apikey_parse) and the Bearer header.
 *
 * The first input byte picks the parser; the rest is its input.  Every refusal must carry a
 * problem kind and a detail; every success must satisfy the parser's promises (bounded
 * strings, days in range, allowed profiles and reasons).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "x509/x509.h"
#include "util/timefmt.h"

/* RFC 3339 parse of a C string (src/util/timefmt.h). */
static int
rfc3339_parse(const char *s, time_t *t)
{
	return timefmt_rfc3339_parse(s, strlen(s), t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy (the C-string parsers never see bytes past the first NUL). */
static char *
fz_str(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void
fz_refusal(const struct api_error *ae)
{
	if (ae->prob <= API_PROB_NONE || ae->prob >= API_PROB__MAX || ae->detail[0] == '\0')
		abort(); /* every refusal says what and why */
}

static void
fz_issue(const uint8_t *p, size_t n)
{
	struct api_issue_req q;
	struct api_error ae;

	api_error_clear(&ae);
	if (api_issue_req_parse(p, n, &q, &ae) == 0) {
		if (q.profile == NULL || !api_profile_allowed(q.profile) || q.csr == NULL ||
		    q.csrlen == 0 || q.csrlen > X509_CSR_MAX || q.days < 0 || q.days > API_DAYS_MAX)
			abort();
	} else {
		fz_refusal(&ae);
		if (q.profile != NULL || q.csr != NULL)
			abort(); /* nothing leaks out of a refusal */
	}
	api_issue_req_clear(&q);
}

static void
fz_revoke(const uint8_t *p, size_t n)
{
	struct api_revoke_req q;
	struct api_error ae;

	api_error_clear(&ae);
	if (api_revoke_req_parse(p, n, &q, &ae) == 0) {
		if (q.reason < 0 || q.reason > 10 || q.reason == 6 || q.reason == 7 ||
		    q.reason == 8 || q.invalidity < 0)
			abort();
	} else {
		fz_refusal(&ae);
	}
}

/* "k1=v1&k2=v2..." as a query string would arrive, split without decoding. */
static void
fz_query(const uint8_t *p, size_t n)
{
	struct api_list_params lp;
	struct api_error ae;
	char *s = fz_str(p, n), *save = s, *amp, *eq;

	api_list_params_init(&lp);
	api_error_clear(&ae);
	while (s != NULL) {
		if ((amp = strchr(s, '&')) != NULL)
			*amp++ = '\0';
		if ((eq = strchr(s, '=')) != NULL)
			*eq++ = '\0';
		if (api_list_param_set(&lp, s, eq, &ae) == -1) {
			fz_refusal(&ae);
			break;
		}
		if (lp.limit < 1 || lp.limit > API_LIST_MAX || lp.offset > API_OFFSET_MAX ||
		    strlen(lp.subject) > API_SUBJECT_MAX)
			abort();
		s = amp;
	}
	free(save);
}

static void
fz_accept(const uint8_t *p, size_t n)
{
	struct api_error ae;
	char *s = fz_str(p, n);
	const char *fmt = NULL, *accept = s;
	char *bar;

	/* "format|accept" tries both, "accept" the header only */
	if ((bar = strchr(s, '|')) != NULL) {
		*bar = '\0';
		fmt = s;
		accept = bar + 1;
	}
	api_error_clear(&ae);
	if (api_format_pick(fmt, accept, &ae) == API_FMT_NONE)
		fz_refusal(&ae);
	free(s);
}

static void
fz_time(const uint8_t *p, size_t n)
{
	char *s = fz_str(p, n);
	char out[32];
	time_t t, t2;

	if (rfc3339_parse(s, &t) == 0 && t >= 0 && t < 253402300800LL) {
		/* what we print, we read back */
		timefmt_rfc3339(t, out, sizeof(out));
		if (rfc3339_parse(out, &t2) != 0 || t2 != t)
			abort();
	}
	free(s);
}

static void
fz_key(const uint8_t *p, size_t n)
{
	unsigned char secret[RA_APIKEY_SECRET_BYTES], h[STORE_HASH_LEN];
	char id[RA_APIKEY_ID_LEN + 1], text[RA_APIKEY_TEXT_LEN + 1];
	char *s = fz_str(p, n);
	const char *tok;
	size_t len;

	if ((tok = api_bearer_token(s, &len)) != NULL &&
	    ra_apikey_parse(tok, len, id, secret) == 0) {
		/* a parsed key formats back to the same text */
		ra_apikey_format(id, secret, text);
		if (memcmp(text, tok, RA_APIKEY_TEXT_LEN) != 0)
			abort();
		ra_apikey_hash(secret, h);
	}
	if (ra_apikey_parse((const char *)p, n, id, secret) == 0 && strlen(id) != RA_APIKEY_ID_LEN)
		abort();
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 6) {
	case 0:
		fz_issue(data + 1, size - 1);
		break;
	case 1:
		fz_revoke(data + 1, size - 1);
		break;
	case 2:
		fz_query(data + 1, size - 1);
		break;
	case 3:
		fz_accept(data + 1, size - 1);
		break;
	case 4:
		fz_time(data + 1, size - 1);
		break;
	default:
		fz_key(data + 1, size - 1);
		break;
	}
	return 0;
}
