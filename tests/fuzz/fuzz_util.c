/*
 * libFuzzer target for the util parsers of untrusted text: RFC 3339 times and HTTP-dates
 * (timefmt), UTF-8 (utf8), base64url and base64 (b64), the Accept header (accept) and strict
 * JSON objects (sjson).
 *
 * The first input byte picks the parser; the rest is its input.  Besides not crashing, each
 * must keep its promises: what is accepted is canonical (formatting or encoding it again gives
 * the same text, for the parsers that promise one text per value), values are in range, every
 * refusal carries a kind and a message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/accept.h"
#include "util/b64.h"
#include "util/sjson.h"
#include "util/timefmt.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy. */
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
fz_rfc3339(const uint8_t *p, size_t n)
{
	char out[TIMEFMT_RFC3339_LEN];
	time_t t, t2;

	if (timefmt_rfc3339_parse((const char *)p, n, &t) != 0) {
		if (t != 0)
			abort();
		return;
	}
	if (t < 0 || (long long)t > 253402300799LL + 86400)
		abort();
	/* what we read, we write and read back (offsets may move it past 9999) */
	if (timefmt_rfc3339(t, out, sizeof(out)) == 0 &&
	    (timefmt_rfc3339_parse(out, strlen(out), &t2) != 0 || t2 != t))
		abort();
}

static void
fz_http(const uint8_t *p, size_t n)
{
	char out[TIMEFMT_HTTP_LEN];
	time_t t, t2;

	if (timefmt_http_parse((const char *)p, n, &t) != 0)
		return;
	if (t < 0 || timefmt_http(t, out, sizeof(out)) != 0 ||
	    timefmt_http_parse(out, strlen(out), &t2) != 0 || t2 != t)
		abort();
	/* an IMF-fixdate is read as itself (but for a leap second, read as second 59) */
	if (n == 29 && memcmp(out, p, n) != 0 && memcmp(p + 23, "60", 2) != 0)
		abort();
}

static void
fz_utf8(const uint8_t *p, size_t n)
{
	long count = utf8_count(p, n), k = 0, cp;
	size_t i = 0;

	if ((count >= 0) != utf8_valid(p, n) || count > (long)n)
		abort();
	while (i < n) {
		size_t before = i;

		if ((cp = utf8_next(p, n, &i)) < 0) {
			if (i != before || count >= 0)
				abort();
			return;
		}
		if (i <= before || i - before > 4 || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			abort();
		k++;
	}
	if (k != count)
		abort();
}

static void
fz_b64url(const uint8_t *p, size_t n)
{
	unsigned char raw[1024];
	char *out;
	size_t len;

	if (b64url_decode(raw, sizeof(raw), &len, (const char *)p, n) != 0)
		return;
	/* one text per byte string: encoding gives the input back */
	out = malloc(B64URL_LEN(len) + 1);
	if (out == NULL || b64url_encode(out, B64URL_LEN(len) + 1, raw, len) != 0 ||
	    strlen(out) != n || memcmp(out, p, n) != 0)
		abort();
	free(out);
}

static void
fz_b64(const uint8_t *p, size_t n)
{
	struct buf dec, enc;

	buf_init(&dec, 4096);
	buf_init(&enc, 8192);
	if (b64_decode(&dec, (const char *)p, n, 0) == 0 &&
	    (b64_encode(&enc, dec.data, dec.len) != 0 || enc.len != n ||
	     memcmp(enc.data, p, n) != 0))
		abort();
	buf_reset(&dec);
	(void)b64_decode(&dec, (const char *)p, n, 1);
	buf_free(&dec);
	buf_free(&enc);
}

static void
fz_accept(const uint8_t *p, size_t n)
{
	static const char *const offers[] = {"application/json", "text/html",
					     "application/pkix-cert", "text/plain"};
	char *s = fz_str(p, n);
	struct accept_range r;
	const char *cur = s;
	int q, pick;

	while (accept_next(&cur, &r)) {
		if (r.q < 0 || r.q > ACCEPT_Q_ONE || r.type_len == 0 || r.subtype_len == 0 ||
		    r.type < s || r.subtype + r.subtype_len > s + n)
			abort();
	}
	if (*cur != '\0')
		abort();
	for (size_t i = 0; i < 4; i++)
		if ((q = accept_quality(s, offers[i])) < -1 || q > ACCEPT_Q_ONE)
			abort();
	pick = accept_pick(s, offers, 4);
	if (pick < -1 || pick > 3 || (pick >= 0 && accept_quality(s, offers[pick]) <= 0))
		abort();
	free(s);
}

static void
fz_sjson(const uint8_t *p, size_t n)
{
	static const char *const known[] = {"type", "serial", "time", "nonce", "days", NULL};
	const char *str;
	long long i = 0;
	struct err e;
	json_t *j, *v;
	int b;

	err_clear(&e);
	if ((j = sjson_load_object(p, n, 4096, 4, "fuzz", &e)) == NULL) {
		if (e.code != ERR_REFUSED || e.kind <= 0 || e.kind >= SJSON_FAIL__MAX ||
		    strncmp(e.msg, "fuzz: ", 6) != 0)
			abort();
		return;
	}
	if (!json_is_object(j) || n > 4096)
		abort();
	if (sjson_known(j, known, "fuzz", &e) == -1 && e.kind != SJSON_UNKNOWN)
		abort();
	err_clear(&e);
	if (sjson_string(j, "type", 0, &str, NULL, "fuzz", &e) == 0 && str != NULL &&
	    !utf8_valid((const unsigned char *)str, strlen(str)))
		abort();
	err_clear(&e);
	if (sjson_int(j, "days", 0, 1, 3650, &i, "fuzz", &e) == 0 && (i < 0 || i > 3650))
		abort();
	err_clear(&e);
	(void)sjson_bool(j, "serial", 0, &b, "fuzz", &e);
	(void)sjson_object(j, "time", 0, &v, "fuzz", &e);
	(void)sjson_array(j, "nonce", 0, &v, "fuzz", &e);
	json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 7) {
	case 0:
		fz_rfc3339(data + 1, size - 1);
		break;
	case 1:
		fz_http(data + 1, size - 1);
		break;
	case 2:
		fz_utf8(data + 1, size - 1);
		break;
	case 3:
		fz_b64url(data + 1, size - 1);
		break;
	case 4:
		fz_b64(data + 1, size - 1);
		break;
	case 5:
		fz_accept(data + 1, size - 1);
		break;
	default:
		fz_sjson(data + 1, size - 1);
		break;
	}
	return 0;
}
