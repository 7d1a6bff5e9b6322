/* sjson: strict JSON on top of jansson (see sjson.h). */
#include <stdio.h>
#include <string.h>

#include "util/sjson.h"

/* Fails with kind k: ERR_REFUSED, "who: message". */
static int
sjson_fail(struct err *e, enum sjson_fail k, const char *who, const char *what, const char *name)
{
	char esc[96];

	if (name != NULL)
		err_set(e, ERR_REFUSED, "%s: \"%s\" %s", who,
			log_escape(esc, sizeof(esc), name, strlen(name)), what);
	else
		err_set(e, ERR_REFUSED, "%s: %s", who, what);
	return err_kind(e, (int)k);
}

/*
 * 0 when no object or array in p[0..n) is nested deeper than max, counted outside strings
 * (jansson's own limit is 2048 levels of recursion); -1 otherwise.
 */
static int
sjson_depth_ok(const unsigned char *p, size_t n, int max)
{
	int depth = 0, instr = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (instr) {
			if (c == '\\')
				i++;
			else if (c == '"')
				instr = 0;
			continue;
		}
		if (c == '"') {
			instr = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return -1;
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--; /* (an unmatched one is jansson's error to report) */
		}
	}
	return 0;
}

json_t *
sjson_load_object(const void *text, size_t len, size_t max, int max_depth, const char *who,
		  struct err *e)
{
	json_error_t je;
	json_t *j = NULL;
	char msg[256];

	if (len > max) {
		snprintf(msg, sizeof(msg), "%zu bytes exceed the limit of %zu", len, max);
		sjson_fail(e, SJSON_TOO_LARGE, who, msg, NULL);
		goto out;
	}
	if (len == 0) {
		sjson_fail(e, SJSON_SYNTAX, who, "empty: a JSON object is due", NULL);
		goto out;
	}
	if (memchr(text, '\0', len) != NULL) {
		sjson_fail(e, SJSON_SYNTAX, who, "RFC 8259 7: NUL byte", NULL);
		goto out;
	}
	if (sjson_depth_ok(text, len, max_depth) == -1) {
		snprintf(msg, sizeof(msg), "JSON nested deeper than %d levels", max_depth);
		sjson_fail(e, SJSON_TOO_DEEP, who, msg, NULL);
		goto out;
	}
	memset(&je, 0, sizeof(je));
	if ((j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		if (json_error_code(&je) == json_error_duplicate_key) {
			snprintf(msg, sizeof(msg), "RFC 8259 4: %.200s", je.text);
			sjson_fail(e, SJSON_DUPLICATE, who, msg, NULL);
		} else {
			snprintf(msg, sizeof(msg), "RFC 8259: line %d column %d: %.200s", je.line,
				 je.column, je.text);
			sjson_fail(e, SJSON_SYNTAX, who, msg, NULL);
		}
		goto out;
	}
	if (!json_is_object(j)) {
		sjson_fail(e, SJSON_NOT_OBJECT, who, "must be a JSON object", NULL);
		json_decref(j);
		j = NULL;
	}
out:
	return j;
}

int
sjson_known(json_t *obj, const char *const *known, const char *who, struct err *e)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(obj, k, v)
	{
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(k, known[i]) == 0)
				break;
		if (known[i] == NULL) {
			char esc[96], msg[128];

			snprintf(msg, sizeof(msg), "unknown member \"%s\"",
				 log_escape(esc, sizeof(esc), k, strlen(k)));
			return sjson_fail(e, SJSON_UNKNOWN, who, msg, NULL);
		}
	}
	return 0;
}

/* The member name of obj, or NULL; -1 when it is absent and required. */
static int
sjson_member(json_t *obj, const char *name, int required, json_t **v, const char *who,
	     struct err *e)
{
	*v = json_object_get(obj, name);
	if (*v == NULL && required)
		return sjson_fail(e, SJSON_MISSING, who, "is required", name);
	return 0;
}

int
sjson_string(json_t *obj, const char *name, int required, const char **out, size_t *len,
	     const char *who, struct err *e)
{
	json_t *v;

	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (sjson_member(obj, name, required, &v, who, e) == -1)
		return -1;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return sjson_fail(e, SJSON_TYPE, who, "must be a string", name);
	/* jansson refuses \u0000 without JSON_ALLOW_NUL; this holds whatever the flags */
	if (strlen(json_string_value(v)) != json_string_length(v))
		return sjson_fail(e, SJSON_TYPE, who, "contains NUL", name);
	*out = json_string_value(v);
	if (len != NULL)
		*len = json_string_length(v);
	return 0;
}

int
sjson_int(json_t *obj, const char *name, int required, long long min, long long max, long long *out,
	  const char *who, struct err *e)
{
	char msg[128];
	json_t *v;

	if (sjson_member(obj, name, required, &v, who, e) == -1)
		return -1;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(msg, sizeof(msg), "must be an integer from %lld to %lld", min, max);
		return sjson_fail(e, json_is_integer(v) ? SJSON_RANGE : SJSON_TYPE, who, msg, name);
	}
	*out = (long long)json_integer_value(v);
	return 0;
}

int
sjson_bool(json_t *obj, const char *name, int required, int *out, const char *who, struct err *e)
{
	json_t *v;

	if (sjson_member(obj, name, required, &v, who, e) == -1)
		return -1;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return sjson_fail(e, SJSON_TYPE, who, "must be true or false", name);
	*out = json_is_true(v);
	return 0;
}

int
sjson_object(json_t *obj, const char *name, int required, json_t **out, const char *who,
	     struct err *e)
{
	if (sjson_member(obj, name, required, out, who, e) == -1)
		return -1;
	if (*out != NULL && !json_is_object(*out)) {
		*out = NULL;
		return sjson_fail(e, SJSON_TYPE, who, "must be an object", name);
	}
	return 0;
}

int
sjson_array(json_t *obj, const char *name, int required, json_t **out, const char *who,
	    struct err *e)
{
	if (sjson_member(obj, name, required, out, who, e) == -1)
		return -1;
	if (*out != NULL && !json_is_array(*out)) {
		*out = NULL;
		return sjson_fail(e, SJSON_TYPE, who, "must be an array", name);
	}
	return 0;
}
