/* conf: the shomei.conf reader ("key = value" lines). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define CONF_MAX_SIZE (1024 * 1024)

static int
conf_key_ok(const char *k, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)k[i]) || isdigit((unsigned char)k[i]) || k[i] == '_' ||
		      k[i] == '.' || k[i] == '-'))
			return 0;
	return 1;
}

static void
conf_add(struct conf *c, const char *k, size_t kn, const char *v, size_t vn, int line)
{
	c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	c->v[c->n].key = xstrndup(k, kn);
	c->v[c->n].value = xstrndup(v, vn);
	c->v[c->n].line = line;
	c->n++;
}

int
conf_load(struct conf *c, const char *path, struct err *e)
{
	struct buf b;
	char *s, *end, *eq, *k, *v, *ke, *ve, *slash;
	int line = 0, rc = -1;
	size_t i;

	memset(c, 0, sizeof(*c));
	c->path = xstrdup(path);
	slash = strrchr(c->path, '/');
	c->dir = slash ? xstrndup(c->path, (size_t)(slash - c->path)) : xstrdup(".");
	if (util_read_file(path, CONF_MAX_SIZE, &b, e) == -1)
		return -1;
	s = buf_cstr(&b);
	for (i = 0; i < b.len; i++)
		if (s[i] == '\0') {
			err_set(e, ERR_REFUSED, "%s: NUL byte in configuration", path);
			goto out;
		}
	while (s != NULL && *s != '\0') {
		line++;
		end = strchr(s, '\n');
		if (end != NULL)
			*end = '\0';
		k = s;
		s = end ? end + 1 : NULL;
		while (*k == ' ' || *k == '\t')
			k++;
		if (*k == '#' || *k == '\0' || *k == '\r')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			err_set(e, ERR_REFUSED, "%s:%d: expected \"key = value\"", path, line);
			goto out;
		}
		ke = eq;
		while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
			ke--;
		if (!conf_key_ok(k, (size_t)(ke - k))) {
			err_set(e, ERR_REFUSED, "%s:%d: bad key (use a-z 0-9 _ . -)", path, line);
			goto out;
		}
		v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		ve = v + strlen(v);
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
			ve--;
		conf_add(c, k, (size_t)(ke - k), v, (size_t)(ve - v), line);
	}
	rc = 0;
out:
	buf_free(&b);
	if (rc == -1)
		conf_free(c);
	return rc;
}

void
conf_free(struct conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		free(c->v[i].key);
		explicit_bzero(c->v[i].value, strlen(c->v[i].value));
		free(c->v[i].value);
	}
	free(c->v);
	free(c->path);
	free(c->dir);
	memset(c, 0, sizeof(*c));
}

void
conf_wipe(struct conf *c, const char *key)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->v[i].key, key) == 0)
			explicit_bzero(c->v[i].value, strlen(c->v[i].value));
}

/* The last occurrence of a key wins. */
const char *
conf_get(const struct conf *c, const char *key, const char *dflt)
{
	size_t i;

	for (i = c->n; i > 0; i--)
		if (strcmp(c->v[i - 1].key, key) == 0)
			return c->v[i - 1].value;
	return dflt;
}

int
conf_get_long(const struct conf *c, const char *key, long dflt, long min, long max, long *out,
	      struct err *e)
{
	const char *v = conf_get(c, key, NULL);

	if (v == NULL) {
		*out = dflt;
		return 0;
	}
	if (util_parse_long(v, min, max, out) == -1)
		return err_set(e, ERR_REFUSED, "%s: %s: expected a number from %ld to %ld",
			       c->path ? c->path : "config", key, min, max);
	return 0;
}

void
conf_set(struct conf *c, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->v[i].key, key) == 0) {
			free(c->v[i].value);
			c->v[i].value = xstrdup(value);
			return;
		}
	conf_add(c, key, strlen(key), value, strlen(value), 0);
}

char *
conf_path(const struct conf *c, const char *value)
{
	if (value[0] == '/' || c->dir == NULL)
		return xstrdup(value);
	return xasprintf("%s/%s", c->dir, value);
}

/*
 * Damerau-Levenshtein distance (insertions, deletions, substitutions and transpositions of
 * adjacent bytes, each costing 1; unrestricted: a transposed pair may be edited further), the
 * Lowrance-Wagner algorithm.  -1 when either key is longer than CONF_KEY_COMPARE_MAX bytes.
 */
int
conf_key_distance(const char *a, const char *b)
{
	unsigned h[CONF_KEY_COMPARE_MAX + 2][CONF_KEY_COMPARE_MAX + 2];
	size_t da[256] = {0};
	size_t n = strlen(a), m = strlen(b), i, j, i1, j1, db;
	unsigned inf, cost, v;
	int rc = -1;

	if (n > CONF_KEY_COMPARE_MAX || m > CONF_KEY_COMPARE_MAX)
		goto out;
	inf = (unsigned)(n + m);
	h[0][0] = inf;
	for (i = 0; i <= n; i++) {
		h[i + 1][0] = inf;
		h[i + 1][1] = (unsigned)i;
	}
	for (j = 0; j <= m; j++) {
		h[0][j + 1] = inf;
		h[1][j + 1] = (unsigned)j;
	}
	for (i = 1; i <= n; i++) {
		db = 0;
		for (j = 1; j <= m; j++) {
			i1 = da[(unsigned char)b[j - 1]];
			j1 = db;
			cost = 1;
			if (a[i - 1] == b[j - 1]) {
				cost = 0;
				db = j;
			}
			v = h[i][j] + cost;
			if (h[i + 1][j] + 1 < v)
				v = h[i + 1][j] + 1;
			if (h[i][j + 1] + 1 < v)
				v = h[i][j + 1] + 1;
			/* the last transposition: a[i1-1] b[j1-1] swapped, what lies between edited
			 */
			if (h[i1][j1] + (unsigned)(i - i1 - 1) + 1 + (unsigned)(j - j1 - 1) < v)
				v = h[i1][j1] + (unsigned)(i - i1 - 1) + 1 + (unsigned)(j - j1 - 1);
			h[i + 1][j + 1] = v;
		}
		da[(unsigned char)a[i - 1]] = i;
	}
	rc = (int)h[n + 1][m + 1];
out:
	return rc;
}

/* 1 when key is in one of the lists. */
static int
conf_key_known(const char *const *const *known, const char *key)
{
	size_t l, j;
	int found = 0;

	for (l = 0; known[l] != NULL && !found; l++)
		for (j = 0; known[l][j] != NULL && !found; j++)
			found = strcmp(known[l][j], key) == 0;
	return found;
}

const char *
conf_key_nearest(const char *key, const char *const *const *known)
{
	const char *best = NULL, *k;
	size_t l, j;
	int d, bestd = -1;

	for (l = 0; known[l] != NULL; l++)
		for (j = 0; (k = known[l][j]) != NULL; j++) {
			if ((d = conf_key_distance(key, k)) == -1)
				continue;
			if (bestd == -1 || d < bestd || (d == bestd && strcmp(k, best) < 0)) {
				bestd = d;
				best = k;
			}
		}
	/* close enough: a few edits, and at most a third of the known key */
	if (best == NULL || bestd > CONF_KEY_SUGGEST_MAX || (size_t)bestd * 3 > strlen(best))
		best = NULL;
	return best;
}

int
conf_check_keys(const struct conf *c, const char *const *const *known, struct err *e)
{
	const char *near;
	size_t i;
	int rc = -1;

	for (i = 0; i < c->n; i++) {
		if (conf_key_known(known, c->v[i].key))
			continue;
		/* keys are [a-z0-9_.-] (conf_load): nothing to escape */
		if ((near = conf_key_nearest(c->v[i].key, known)) != NULL)
			err_set(e, ERR_REFUSED, "%s:%d: unknown key \"%s\" (did you mean \"%s\"?)",
				c->path, c->v[i].line, c->v[i].key, near);
		else
			err_set(e, ERR_REFUSED, "%s:%d: unknown key \"%s\"", c->path, c->v[i].line,
				c->v[i].key);
		goto out;
	}
	rc = 0;
out:
	return rc;
}
