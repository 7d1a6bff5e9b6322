/*
 * accept: the HTTP Accept header (RFC 9110 12.5.1), one parser for every face that offers
 * more than one representation (the API's JSON/PEM/DER, the signed requests' JSON or page).
 *
 *   Accept = #( media-range [ weight ] )   media-range = type "/" subtype *( ";" parameter )
 *   weight = ";" "q=" qvalue               qvalue = "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3"0" ]
 *
 * Types and parameter names are case-insensitive; list elements may be empty; OWS is allowed
 * around ',' and ';'; parameter values are tokens or quoted strings.  A range that breaks this
 * grammar is IGNORED, as if it were not in the list — notably a malformed q-value ("q=abc",
 * "q=1.5", "q=0.1234", "q=" or a quoted one): it neither excludes the type (q=0) nor gives it
 * the default 1.  Parameters other than q are not compared: "text/html;level=1" counts as
 * "text/html".  Parameters after q are accept-ext and ignored.  "*" + "/" + "html" is malformed.
 */
#ifndef SHOMEI_UTIL_ACCEPT_H
#define SHOMEI_UTIL_ACCEPT_H

#include <stddef.h>

#define ACCEPT_Q_ONE 1000 /* q-values in thousandths */

/* One well-formed media range of an Accept value: pointers into it, not NUL-terminated. */
struct accept_range {
	const char *type, *subtype;
	size_t type_len, subtype_len;
	int q; /* 0..ACCEPT_Q_ONE; ACCEPT_Q_ONE when absent */
};

/* A qvalue (RFC 9110 12.4.2) v[0..n) in thousandths, or -1 when it is not one.  Also for
 * Accept-Language (src/web/i18n.c). */
int accept_qvalue(const char *v, size_t n);
/*
 * The next well-formed range from *p (a pointer into a NUL-terminated Accept value, moved past
 * it), skipping empty elements and malformed ranges.  1 with r filled, 0 at the end.
 */
int accept_next(const char **p, struct accept_range *r);
/*
 * The quality (0..ACCEPT_Q_ONE) accept gives the media type mt ("type/subtype"): that of the
 * most specific range matching it (the exact type, then its type with subtype "*", then the
 * range of both "*"; the highest q among equally specific ones); -1 when none matches.  A NULL or
 * blank accept (no Accept header) accepts everything: ACCEPT_Q_ONE.
 */
int accept_quality(const char *accept, const char *mt);
/*
 * The index of the offered type (n of them, in the server's order of preference) that accept
 * ranks highest, ties going to the earlier; -1 when none has a quality above 0 (406).
 */
int accept_pick(const char *accept, const char *const *offered, size_t n);

#endif
