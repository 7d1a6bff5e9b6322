/*
 * timefmt: RFC 3339, HTTP-date and RFC 5322 times (see timefmt.h for what is accepted).  Pure
 * arithmetic on the proleptic Gregorian calendar: no gmtime, no timegm, no locale, no TZ.
 */
#include <stdio.h>
#include <string.h>

#include "util/timefmt.h"

#define TIMEFMT_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

static const char *const timefmt_wday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const timefmt_mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct timefmt_civil {
	long y, mo, d, h, mi, s, wday;
};

static int
timefmt_leap(long y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static long
timefmt_mdays(long y, long mo)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return mdays[mo - 1] + (mo == 2 && timefmt_leap(y));
}

/* Days since 1970-01-01 of a date (H. Hinnant's days_from_civil). */
long long
timefmt_days(long y, long m, long d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The civil time of t (0 <= t <= TIMEFMT_MAX); Hinnant's civil_from_days. */
static void
timefmt_civil(long long t, struct timefmt_civil *c)
{
	long long days = t / 86400, secs = t % 86400, z, era, doe, yoe, doy, mp;

	c->h = (long)(secs / 3600);
	c->mi = (long)(secs / 60 % 60);
	c->s = (long)(secs % 60);
	c->wday = (long)((days + 4) % 7); /* 1970-01-01 was a Thursday */
	z = days + 719468;
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	c->d = (long)(doy - (153 * mp + 2) / 5 + 1);
	c->mo = (long)(mp < 10 ? mp + 3 : mp - 9);
	c->y = (long)(yoe + era * 400 + (c->mo <= 2));
}

/* Writes the civil time of t by kind (0 RFC 3339, 1 HTTP-date, 2 RFC 5322). */
static int
timefmt_write(time_t t, char *out, size_t n, int kind)
{
	static const char *const dflt[] = {"1970-01-01T00:00:00Z", "", ""};
	struct timefmt_civil c;
	int w, rc = -1;

	if (n == 0)
		return -1;
	if ((long long)t < 0 || (long long)t > TIMEFMT_MAX)
		goto out;
	timefmt_civil((long long)t, &c);
	if (kind == 0)
		w = snprintf(out, n, "%04ld-%02ld-%02ldT%02ld:%02ld:%02ldZ", c.y, c.mo, c.d, c.h,
			     c.mi, c.s);
	else
		w = snprintf(out, n, "%s, %02ld %s %04ld %02ld:%02ld:%02ld %s",
			     timefmt_wday[c.wday], c.d, timefmt_mon[c.mo - 1], c.y, c.h, c.mi, c.s,
			     kind == 1 ? "GMT" : "+0000");
	if (w < 0 || (size_t)w >= n)
		goto out;
	rc = 0;
out:
	if (rc == -1)
		snprintf(out, n, "%s", strlen(dflt[kind]) < n ? dflt[kind] : "");
	return rc;
}

int
timefmt_rfc3339(time_t t, char *out, size_t n)
{
	return timefmt_write(t, out, n, 0);
}

int
timefmt_http(time_t t, char *out, size_t n)
{
	return timefmt_write(t, out, n, 1);
}

int
timefmt_rfc5322(time_t t, char *out, size_t n)
{
	return timefmt_write(t, out, n, 2);
}

/* k decimal digits at s (which has them: the caller checked the length), or -1. */
static long
timefmt_digits(const char *s, int k)
{
	long v = 0;

	for (int i = 0; i < k; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Seconds since the epoch (may be negative) of a civil time; -1 when it does not exist. */
static int
timefmt_epoch(long y, long mo, long d, long h, long mi, long s, long long *t)
{
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > timefmt_mdays(y, mo) || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || s < 0 || s > 60)
		return -1;
	if (s == 60)
		s = 59; /* a leap second counts as the second before it */
	*t = timefmt_days(y, mo, d) * 86400LL + h * 3600 + mi * 60 + s;
	return 0;
}

int
timefmt_rfc3339_parse(const char *s, size_t n, time_t *out)
{
	long y, mo, d, h, mi, sec, oh = 0, om = 0;
	long long t;
	size_t i = 19;
	int sign = 0, rc = -1;

	*out = 0;
	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		goto out;
	y = timefmt_digits(s, 4);
	mo = timefmt_digits(s + 5, 2);
	d = timefmt_digits(s + 8, 2);
	h = timefmt_digits(s + 11, 2);
	mi = timefmt_digits(s + 14, 2);
	sec = timefmt_digits(s + 17, 2);
	if (timefmt_epoch(y, mo, d, h, mi, sec, &t) == -1)
		goto out;
	if (s[i] == '.') {
		size_t k = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == k || i - k > 9)
			goto out;
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		if (n - i < 6 || s[i + 3] != ':' || (oh = timefmt_digits(s + i + 1, 2)) < 0 ||
		    oh > 23 || (om = timefmt_digits(s + i + 4, 2)) < 0 || om > 59)
			goto out;
		sign = s[i] == '+' ? 1 : -1;
		i += 6;
	} else {
		goto out;
	}
	if (i != n)
		goto out;
	t -= sign * (oh * 3600 + om * 60);
	if (t < 0)
		goto out;
	*out = (time_t)t;
	rc = 0;
out:
	return rc;
}

/* The index of the 3-letter name at s in names (count k), or -1. */
static int
timefmt_name(const char *s, const char *const *names, int k)
{
	for (int i = 0; i < k; i++)
		if (memcmp(s, names[i], 3) == 0)
			return i;
	return -1;
}

/* "hh:mm:ss" at s into h, mi, sec (-1 each when malformed). */
static void
timefmt_hms(const char *s, long *h, long *mi, long *sec)
{
	*h = *mi = *sec = -1;
	if (s[2] != ':' || s[5] != ':')
		return;
	*h = timefmt_digits(s, 2);
	*mi = timefmt_digits(s + 3, 2);
	*sec = timefmt_digits(s + 6, 2);
}

int
timefmt_http_parse(const char *s, size_t n, time_t *out)
{
	static const char *const wdays[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
					    "Friday", "Saturday", "Sunday"};
	long y = -1, mo = -1, d = -1, h = -1, mi = -1, sec = -1;
	long long t = 0;
	int wd = -1, rc = -1;
	size_t k;

	*out = 0;
	if (n == 29 && s[3] == ',' && s[4] == ' ' && s[7] == ' ' && s[11] == ' ' && s[16] == ' ' &&
	    s[25] == ' ' && memcmp(s + 26, "GMT", 3) == 0) {
		/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
		wd = timefmt_name(s, timefmt_wday, 7);
		d = timefmt_digits(s + 5, 2);
		mo = timefmt_name(s + 8, timefmt_mon, 12) + 1;
		y = timefmt_digits(s + 12, 4);
		timefmt_hms(s + 17, &h, &mi, &sec);
	} else if (n == 24 && s[3] == ' ' && s[7] == ' ' && s[10] == ' ' && s[19] == ' ') {
		/* asctime: "Sun Nov  6 08:49:37 1994" */
		wd = timefmt_name(s, timefmt_wday, 7);
		mo = timefmt_name(s + 4, timefmt_mon, 12) + 1;
		d = s[8] == ' ' ? timefmt_digits(s + 9, 1) : timefmt_digits(s + 8, 2);
		if (s[8] == '0')
			d = -1; /* day is 2DIGIT / ( SP DIGIT ) */
		timefmt_hms(s + 11, &h, &mi, &sec);
		y = timefmt_digits(s + 20, 4);
	} else {
		/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
		for (k = 0; k < n && k < 10 && s[k] != ','; k++)
			;
		for (int i = 0; i < 7; i++)
			if (strlen(wdays[i]) == k && memcmp(s, wdays[i], k) == 0)
				wd = (i + 1) % 7;
		if (wd == -1 || n != k + 24 || s[k + 1] != ' ' || s[k + 4] != '-' ||
		    s[k + 8] != '-' || s[k + 11] != ' ' || s[k + 20] != ' ' ||
		    memcmp(s + k + 21, "GMT", 3) != 0)
			goto out;
		d = timefmt_digits(s + k + 2, 2);
		mo = timefmt_name(s + k + 5, timefmt_mon, 12) + 1;
		if ((y = timefmt_digits(s + k + 9, 2)) >= 0)
			y += y >= 70 ? 1900 : 2000;
		timefmt_hms(s + k + 12, &h, &mi, &sec);
	}
	if (wd < 0 || mo < 1 || y < 0 || timefmt_epoch(y, mo, d, h, mi, sec, &t) == -1 || t < 0 ||
	    (t / 86400 + 4) % 7 != wd)
		goto out;
	*out = (time_t)t;
	rc = 0;
out:
	return rc;
}
