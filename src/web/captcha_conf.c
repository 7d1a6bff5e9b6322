/*
 * captcha_conf: CAPTCHA settings and the rule for the test-only predictable answer.  Kept
 * apart from captcha.c so that serve can run the check without linking libgd.
 */
#include <arpa/inet.h>
#include <string.h>

#include "web.h"

#define CAPTCHA_FONT_DEFAULT "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

/*
 * 1 when "ADDR:PORT" / "[V6]:PORT" names a loopback address: 127.0.0.0/8, ::1 or
 * ::ffff:127.0.0.0/104.  Host names ("localhost") and wildcards are not: they depend on
 * resolution or cover every interface.
 */
static int
addr_is_loopback(const char *a)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = a;
	size_t n;
	unsigned char v6[16];
	struct in_addr v4;
	static const unsigned char lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (a == NULL)
		return 0;
	if (*a == '[') {
		if ((colon = strchr(a, ']')) == NULL || colon[1] != ':')
			return 0;
		h = a + 1;
		n = (size_t)(colon - h);
	} else {
		if ((colon = strrchr(a, ':')) == NULL)
			return 0;
		n = (size_t)(colon - a);
	}
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, h, n);
	host[n] = '\0';
	if (*a != '[' && inet_pton(AF_INET, host, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (*a == '[' && inet_pton(AF_INET6, host, v6) == 1)
		return memcmp(v6, lo6, 16) == 0 || (memcmp(v6, mapped, 12) == 0 && v6[12] == 127);
	return 0;
}

/* 1 when s is 4..16 letters or digits. */
static int
answer_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 4 || n > CAPTCHA_ANSWER_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

/* The keys captcha_test_mode_allowed and captcha_conf_load read. */
const char *const captcha_conf_keys[] = {
    "portal.captcha_ttl",  "portal.captcha_font", "portal.captcha_pool",
    "test.captcha_answer", "test.instance",	  NULL,
};

int
captcha_test_mode_allowed(const struct conf *c, const char *const *addrs, size_t n, struct err *e)
{
	const char *ans = conf_get(c, "test.captcha_answer", NULL);
	const char *inst = conf_get(c, "test.instance", "no");
	char esc[128];
	int rc = -1;

	if (ans == NULL) {
		rc = 0;
		goto out;
	}
	if (!answer_valid(ans)) {
		err_set(e, ERR_REFUSED,
			"config: test.captcha_answer: expected 4 to %d letters or "
			"digits",
			CAPTCHA_ANSWER_MAX);
		goto out;
	}
	if (strcmp(inst, "yes") != 0) {
		err_set(e, ERR_REFUSED,
			"config: test.captcha_answer is set but test.instance is not "
			"\"yes\": refusing a predictable CAPTCHA");
		goto out;
	}
	if (n == 0) {
		err_set(e, ERR_REFUSED,
			"config: test.captcha_answer needs loopback-only listeners, "
			"and none are known");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!addr_is_loopback(addrs[i])) {
			err_set(e, ERR_REFUSED,
				"config: test.captcha_answer is set but listener %s is "
				"not a loopback address: refusing a predictable CAPTCHA",
				log_escape(esc, sizeof(esc), addrs[i] != NULL ? addrs[i] : "(null)",
					   addrs[i] != NULL ? strlen(addrs[i]) : 6));
			goto out;
		}
	}
	rc = 1;
out:
	return rc;
}

int
captcha_conf_load(struct captcha_conf *cc, const struct conf *c, int test_allowed, struct err *e)
{
	const char *font = conf_get(c, "portal.captcha_font", CAPTCHA_FONT_DEFAULT);
	const char *ans = conf_get(c, "test.captcha_answer", NULL);
	int rc = -1;

	memset(cc, 0, sizeof(*cc));
	if (conf_get_long(c, "portal.captcha_ttl", CAPTCHA_TTL_DEFAULT, 30, 86400, &cc->ttl, e) ==
	    -1)
		goto out;
	if (strlen(font) >= sizeof(cc->font) || font[0] == '\0') {
		err_set(e, ERR_REFUSED, "config: portal.captcha_font: path empty or too long");
		goto out;
	}
	memcpy(cc->font, font, strlen(font) + 1);
	if (conf_get_long(c, "portal.captcha_pool", CAPTCHA_POOL_DEFAULT, 0, 4096, &cc->pool, e) ==
	    -1)
		goto out;
	/* honoured only after captcha_test_mode_allowed() said yes */
	if (test_allowed == 1 && ans != NULL && answer_valid(ans))
		memcpy(cc->test_answer, ans, strlen(ans) + 1);
	rc = 0;
out:
	return rc;
}
