/*
 * sjson: strict JSON (RFC 8259) for untrusted request bodies, on top of jansson — the API's
 * bodies, the signed requests' content and (next) ACME's JWS payloads.  One object per text;
 * a size bound checked first, nesting depth bounded before jansson recurses, duplicate member
 * names refused (RFC 8259 4 leaves them undefined: two parsers could read two requests), no
 * NUL anywhere (neither a raw byte nor \u0000), members outside a known list refused, and
 * typed getters whose messages name the member.
 *
 * Failures are ERR_REFUSED with a message that starts with the caller's `who` ("online:
 * content: unknown member \"x\"") and, through err_kind(), one of enum sjson_fail, so that a
 * face can map them to its own problem types.
 */
#ifndef SHOMEI_UTIL_SJSON_H
#define SHOMEI_UTIL_SJSON_H

#include <stddef.h>

#include <jansson.h>

#include "util/util.h"

enum sjson_fail {
	SJSON_OK = 0,
	SJSON_TOO_LARGE,  /* more than max bytes */
	SJSON_SYNTAX,	  /* empty, not JSON, or a NUL */
	SJSON_TOO_DEEP,	  /* nested deeper than max_depth */
	SJSON_DUPLICATE,  /* a member name twice in one object */
	SJSON_NOT_OBJECT, /* JSON, but not an object at the top */
	SJSON_UNKNOWN,	  /* a member outside the known list */
	SJSON_TYPE,	  /* a member of the wrong type */
	SJSON_MISSING,	  /* a required member absent */
	SJSON_RANGE,	  /* an integer out of its range */
	SJSON_FAIL__MAX
};

/*
 * Parses text[0..len) as one JSON object: at most max bytes, at most max_depth levels of
 * objects and arrays (the top object is level 1).  The object (caller json_decref()s), or NULL
 * with e set.
 */
json_t *sjson_load_object(const void *text, size_t len, size_t max, int max_depth, const char *who,
			  struct err *e);
/* Refuses the first member of obj whose name is not in the NULL-terminated list known. */
int sjson_known(json_t *obj, const char *const *known, const char *who, struct err *e);
/*
 * The string member name of obj: *out (and *len when not NULL) point into obj; NULL / 0 when
 * it is absent, which is refused when required.  -1 when it is not a string.
 */
int sjson_string(json_t *obj, const char *name, int required, const char **out, size_t *len,
		 const char *who, struct err *e);
/*
 * The integer member name of obj, min..max (a JSON number with a fraction or exponent is not
 * an integer).  *out is left alone when it is absent and not required.
 */
int sjson_int(json_t *obj, const char *name, int required, long long min, long long max,
	      long long *out, const char *who, struct err *e);
/* The boolean member name of obj; *out left alone when absent and not required. */
int sjson_bool(json_t *obj, const char *name, int required, int *out, const char *who,
	       struct err *e);
/* The object or array member name of obj (borrowed); NULL when absent and not required. */
int sjson_object(json_t *obj, const char *name, int required, json_t **out, const char *who,
		 struct err *e);
int sjson_array(json_t *obj, const char *name, int required, json_t **out, const char *who,
		struct err *e);

#endif
