/*
 * Unit tests of the configuration keys: the edit distance and the suggestion it makes,
 * conf_check_keys over a file, and the modules' lists (exact keys, the profiles' pairs).
 */
#include "testutil.h"

#include "serve/serve.h"
#include "util/util.h"
#include "x509/x509.h"

static void
test_distance(void **state)
{
	char long_key[CONF_KEY_COMPARE_MAX + 2];

	(void)state;
	assert_int_equal(conf_key_distance("", ""), 0);
	assert_int_equal(conf_key_distance("store", "store"), 0);
	assert_int_equal(conf_key_distance("", "abc"), 3);
	assert_int_equal(conf_key_distance("abc", ""), 3);
	/* one insertion, deletion, substitution */
	assert_int_equal(conf_key_distance("portal.step1_rat", "portal.step1_rate"), 1);
	assert_int_equal(conf_key_distance("portal.step1_ratee", "portal.step1_rate"), 1);
	assert_int_equal(conf_key_distance("portal.step2_rate", "portal.step1_rate"), 1);
	/* a transposition of neighbours is one edit, not two */
	assert_int_equal(conf_key_distance("portal.captcha_tlt", "portal.captcha_ttl"), 1);
	assert_int_equal(conf_key_distance("ab", "ba"), 1);
	/* unrestricted: the transposed pair may be edited again (OSA would say 3) */
	assert_int_equal(conf_key_distance("ca", "abc"), 2);
	/* symmetric */
	assert_int_equal(conf_key_distance("abc", "ca"), 2);
	assert_int_equal(conf_key_distance("kitten", "sitting"), 3);
	assert_int_equal(conf_key_distance("sitting", "kitten"), 3);
	assert_int_equal(conf_key_distance("http.timeout", "tsa.policy"), 10);
	/* too long to compare */
	memset(long_key, 'a', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	assert_int_equal(conf_key_distance(long_key, "a"), -1);
	assert_int_equal(conf_key_distance("a", long_key), -1);
	long_key[CONF_KEY_COMPARE_MAX] = '\0';
	assert_int_equal(conf_key_distance(long_key, long_key), 0);
}

static const char *const list_a[] = {"portal.step1_rate", "portal.revoke_rate", "store", NULL};
static const char *const list_b[] = {"ca.key", "ca.cert", "tsa.key", "store", NULL};
static const char *const *const lists[] = {list_a, list_b, NULL};

static void
test_nearest(void **state)
{
	(void)state;
	assert_string_equal(conf_key_nearest("portal.step1_rat", lists), "portal.step1_rate");
	assert_string_equal(conf_key_nearest("portal.revoke_rat", lists), "portal.revoke_rate");
	assert_string_equal(conf_key_nearest("stroe", lists), "store");
	assert_string_equal(conf_key_nearest("ca.kye", lists), "ca.key");
	/* three edits: still a suggestion for a long key */
	assert_string_equal(conf_key_nearest("portal.stp1_rte_", lists), "portal.step1_rate");
	/* a tie goes to the key first in byte order: ca.cert and ca.key are both 2 away */
	assert_string_equal(conf_key_nearest("ca.ce", lists), "ca.cert");
	assert_string_equal(conf_key_nearest("ca.k", lists), "ca.key");
	/* far from everything: no suggestion */
	assert_null(conf_key_nearest("frobnicate", lists));
	assert_null(conf_key_nearest("mail.from", lists));
	/* more than a third of a short key changed is a different key, not a typo */
	assert_null(conf_key_nearest("tsa.kxyzw", lists));
	assert_null(conf_key_nearest("st", lists));
	/* four edits are too many even for a long key */
	assert_null(conf_key_nearest("portal.stp1_rt__", lists));
}

/* Writes text to DIR/shomei.conf and loads it. */
static void
conf_from(struct conf *c, const char *dir, const char *text)
{
	struct err e;
	char *path = xasprintf("%s/shomei.conf", dir);

	err_clear(&e);
	assert_int_equal(util_write_file(path, text, strlen(text), 0600, &e), 0);
	assert_int_equal(conf_load(c, path, &e), 0);
	free(path);
}

static void
test_check_keys(void **state)
{
	char *dir = tu_tmpdir(), *want;
	struct conf c;
	struct err e;

	(void)state;
	err_clear(&e);
	conf_from(&c, dir, "# ok\nstore = x\n\nca.key = k\nportal.step1_rate = 3\n");
	assert_int_equal(conf_check_keys(&c, lists, &e), 0);
	assert_false(err_is_set(&e));
	conf_free(&c);

	conf_from(&c, dir, "store = x\n# two\nportal.step1_rat = 3\nfrobnicate = 1\n");
	assert_int_equal(conf_check_keys(&c, lists, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	want = xasprintf("%s/shomei.conf:3: unknown key \"portal.step1_rat\" (did you mean "
			 "\"portal.step1_rate\"?)",
			 dir);
	assert_string_equal(e.msg, want);
	free(want);
	conf_free(&c);

	err_clear(&e);
	conf_from(&c, dir, "store = x\nfrobnicate = 1\n");
	assert_int_equal(conf_check_keys(&c, lists, &e), -1);
	want = xasprintf("%s/shomei.conf:2: unknown key \"frobnicate\"", dir);
	assert_string_equal(e.msg, want);
	free(want);
	conf_free(&c);

	/* no prefix entries any more: "store." admits nothing below it */
	err_clear(&e);
	conf_from(&c, dir, "store.resident_mb = 1\n");
	assert_int_equal(conf_check_keys(&c, lists, &e), -1);
	conf_free(&c);
	tu_rmdir(dir);
}

/* Each list holds plain keys ([a-z0-9_.-], no pattern, no trailing dot), each once. */
static void
test_module_lists(void **state)
{
	size_t l, j, k, n = 0;
	const char *key;

	(void)state;
	for (l = 0; serve_conf_known[l] != NULL; l++)
		for (j = 0; (key = serve_conf_known[l][j]) != NULL; j++, n++) {
			assert_true(strlen(key) > 0 && strlen(key) <= CONF_KEY_COMPARE_MAX);
			assert_true(strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_.-") ==
				    strlen(key));
			assert_true(key[strlen(key) - 1] != '.');
			for (k = 0; k < j; k++)
				assert_string_not_equal(serve_conf_known[l][k], key);
		}
	assert_true(n > 50);
}

/*
 * profile_conf_keys holds each setting of every built-in profile once, and the two defaults
 * (policies, cps_uri), nothing else.
 */
static void
test_profile_keys(void **state)
{
	static const char *const fields[] = {"max_days",
					     "default_days",
					     "policies",
					     "cps_uri",
					     "key_agreement",
					     "allow_ed25519",
					     "allow_small_rsa_exponent"};
	enum { NFIELDS = sizeof(fields) / sizeof(fields[0]) };
	const struct profile *p;
	size_t n, i, j, found;
	char *want;

	(void)state;
	p = profile_all(&n);
	for (j = 0; profile_conf_keys[j] != NULL; j++)
		;
	assert_int_equal(j, NFIELDS * n + 2);
	for (i = 0; i < n; i++) {
		for (size_t f = 0; f < NFIELDS; f++) {
			want = xasprintf("profile.%s.%s", p[i].name, fields[f]);
			found = 0;
			for (j = 0; profile_conf_keys[j] != NULL; j++)
				found += strcmp(profile_conf_keys[j], want) == 0;
			assert_int_equal(found, 1);
			free(want);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_distance),	 cmocka_unit_test(test_nearest),
	    cmocka_unit_test(test_check_keys),	 cmocka_unit_test(test_module_lists),
	    cmocka_unit_test(test_profile_keys),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
