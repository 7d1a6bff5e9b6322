/*
 * timefmt: the text forms of time that cross shomei's boundaries, written and read in one
 * place, in UTC, independent of the locale and of TZ.
 *
 *   RFC 3339 date-time   "2024-02-29T12:34:56Z"   API, signed requests, JSON answers, CLI
 *   HTTP-date            "Thu, 29 Feb 2024 12:34:56 GMT"   Last-Modified, Expires
 *   RFC 5322 date-time   "Thu, 29 Feb 2024 12:34:56 +0000" the mail Date header
 *
 * What the RFC 3339 parser accepts (strict; RFC 3339 5.6 "date-time"):
 *   YYYY-MM-DD, then 'T' or 't' (not a space), then hh:mm:ss; the date must exist (leap years);
 *   hh 00-23, mm 00-59, ss 00-60 (a leap second counts as second 59 of its minute);
 *   an optional fraction "." and 1 to 9 digits (dropped: times are whole seconds here);
 *   then 'Z', 'z' or a numeric offset +hh:mm / -hh:mm (hh 00-23, mm 00-59; "-00:00" is UTC);
 *   nothing after it.  Times before 1970-01-01T00:00:00Z are refused (none is meaningful to a
 *   CA, and time_t stays non-negative for the callers).
 * The HTTP-date parser accepts the three forms of RFC 9110 5.6.7 (a recipient MUST): IMF-fixdate,
 * the obsolete RFC 850 form (two-digit year: 70-99 is 19xx, 00-69 20xx) and the asctime form; the
 * day name must be the right one for the date.  The formatters only write IMF-fixdate.
 * GeneralizedTime and UTCTime are DER's business (src/x509, src/util/der): no text form of them
 * crosses a boundary.
 */
#ifndef SHOMEI_UTIL_TIMEFMT_H
#define SHOMEI_UTIL_TIMEFMT_H

#include <stddef.h>
#include <time.h>

#define TIMEFMT_RFC3339_LEN 21 /* "YYYY-MM-DDThh:mm:ssZ" and the NUL */
#define TIMEFMT_HTTP_LEN 30    /* "Sun, 06 Nov 1994 08:49:37 GMT" and the NUL */
#define TIMEFMT_RFC5322_LEN 32 /* "Sun, 06 Nov 1994 08:49:37 +0000" and the NUL */

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (negative before). */
long long timefmt_days(long y, long m, long d);

/*
 * t as "YYYY-MM-DDThh:mm:ssZ" into out (n bytes, at least TIMEFMT_RFC3339_LEN).  A time outside
 * years 1970-9999 or a short buffer writes "1970-01-01T00:00:00Z" (when it fits) and returns -1.
 */
int timefmt_rfc3339(time_t t, char *out, size_t n);
/* Parses s[0..n) as above into *out; -1 (and *out = 0) when it is anything else. */
int timefmt_rfc3339_parse(const char *s, size_t n, time_t *out);

/* t as an IMF-fixdate; as timefmt_rfc3339() for range and size (empty string on failure). */
int timefmt_http(time_t t, char *out, size_t n);
/* Parses an HTTP-date (s[0..n), see above); -1 (and *out = 0) when it is not one. */
int timefmt_http_parse(const char *s, size_t n, time_t *out);

/* t as an RFC 5322 3.3 date-time in UTC ("+0000"); as timefmt_http() otherwise. */
int timefmt_rfc5322(time_t t, char *out, size_t n);

#endif
