/*
 * utf8: the one UTF-8 decoder.  Well-formed means RFC 3629 section 4 (Unicode's Table 3-7): no
 * overlong forms, no surrogates (U+D800-U+DFFF), nothing above U+10FFFF, no stray or missing
 * continuation bytes.  NUL is a code point like any other here; callers that hold C strings
 * refuse it themselves (or never see it).
 */
#ifndef SHOMEI_UTIL_UTF8_H
#define SHOMEI_UTIL_UTF8_H

#include <stddef.h>

/*
 * The code point that starts at s[*i] (s holds n bytes, *i < n) and moves *i past it; -1 with
 * *i unchanged when the bytes there are not a well-formed sequence.
 */
long utf8_next(const unsigned char *s, size_t n, size_t *i);
/* 1 when s[0..n) is well-formed UTF-8, else 0. */
int utf8_valid(const unsigned char *s, size_t n);
/* The number of code points in s[0..n), or -1 when it is not well-formed. */
long utf8_count(const unsigned char *s, size_t n);
/* 1 for a control character: C0 (U+0000-U+001F), DEL (U+007F) or C1 (U+0080-U+009F). */
int utf8_is_control(long cp);

#endif
