/*
 * Unit tests of the AE-2 ZIP writer (util/zip.c): 7-Zip (p7zip-full, scripts/deps.sh) extracts
 * what it wrote with the password, byte for byte, and refuses a wrong password; names that
 * would escape the target directory are refused; an empty entry works.
 */
#include "testutil.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/zip.h"

static int
have_7z(void)
{
	return system("command -v 7z >/dev/null 2>&1") == 0;
}

/* Writes the archive of z into dir/a.zip. */
static void
zip_write(struct zip *z, const char *dir)
{
	unsigned char *out = NULL;
	size_t len = 0;
	char path[512];
	struct err e;
	FILE *f;

	err_clear(&e);
	assert_int_equal(zip_finish(z, &out, &len, &e), 0);
	snprintf(path, sizeof(path), "%s/a.zip", dir);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(out, 1, len, f), len);
	fclose(f);
	free(out);
}

/* The bytes of dir/name into buf; their count, or -1. */
static long
file_read(const char *dir, const char *name, unsigned char *buf, size_t max)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	n = fread(buf, 1, max, f);
	fclose(f);
	return (long)n;
}

static void
test_zip_7z(void **state)
{
	char dir[] = "/tmp/shomei-zip-XXXXXX", cmd[1024];
	static unsigned char big[100000], back[100001];
	const char *pw = "Sp3cial pass-word";
	struct zip *z;
	struct err e;
	size_t i;

	(void)state;
	if (!have_7z())
		skip();
	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7 + (i >> 8));
	assert_non_null(mkdtemp(dir));
	z = zip_new(pw);
	err_clear(&e);
	assert_int_equal(zip_add(z, "pins.txt", "a\tPIN1\n", 7, 1765000000, &e), 0);
	assert_int_equal(zip_add(z, "big.bin", big, sizeof(big), 1765000000, &e), 0);
	assert_int_equal(zip_add(z, "empty", "", 0, 0, &e), 0);
	assert_int_equal(zip_add(z, "サブ/証明書.p12", "xyz", 3, 1765000000, &e), 0);
	zip_write(z, dir);
	zip_free(z);
	/* a wrong password: 7z fails and writes no file */
	snprintf(cmd, sizeof(cmd), "cd %s && 7z x -y -pwrong a.zip >/dev/null 2>&1", dir);
	assert_int_not_equal(system(cmd), 0);
	assert_true(file_read(dir, "big.bin", back, sizeof(back)) <= 0);
	/* 7z t checks the HMAC of each entry */
	snprintf(cmd, sizeof(cmd), "cd %s && 7z t -p'%s' a.zip >/dev/null 2>&1", dir, pw);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "cd %s && rm -f big.bin && 7z x -y -p'%s' a.zip >/dev/null 2>&1",
		 dir, pw);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(file_read(dir, "big.bin", back, sizeof(back)), sizeof(big));
	assert_memory_equal(back, big, sizeof(big));
	assert_int_equal(file_read(dir, "pins.txt", back, sizeof(back)), 7);
	assert_memory_equal(back, "a\tPIN1\n", 7);
	assert_int_equal(file_read(dir, "empty", back, sizeof(back)), 0);
	assert_int_equal(file_read(dir, "サブ/証明書.p12", back, sizeof(back)), 3);
	/* 7z l -slt says AES-256 */
	snprintf(cmd, sizeof(cmd), "cd %s && 7z l -slt -p'%s' a.zip | grep -q 'Method = AES-256'",
		 dir, pw);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_zip_names(void **state)
{
	struct zip *z = zip_new("pw");
	unsigned char *out = NULL;
	size_t len = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(zip_add(z, "../x", "a", 1, 0, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_int_equal(zip_add(z, "a/../../x", "a", 1, 0, &e), -1);
	assert_int_equal(zip_add(z, "/etc/x", "a", 1, 0, &e), -1);
	assert_int_equal(zip_add(z, "a\\b", "a", 1, 0, &e), -1);
	assert_int_equal(zip_add(z, "c:x", "a", 1, 0, &e), -1);
	assert_int_equal(zip_add(z, "a\nb", "a", 1, 0, &e), -1);
	assert_int_equal(zip_add(z, "", "a", 1, 0, &e), -1);
	assert_int_equal(zip_add(z, "..x", "a", 1, 0, &e), 0); /* a name, not a parent */
	assert_int_equal(zip_finish(z, &out, &len, &e), 0);
	/* local header, one entry: method 99, the AE extra field */
	assert_true(len > 30);
	assert_int_equal(out[0], 'P');
	assert_int_equal(out[8], 99);
	assert_int_equal(out[30 + 3], 0x01);
	assert_int_equal(out[30 + 4], 0x99);
	assert_memory_equal(out + 30 + 3 + 6, "AE", 2);
	free(out);
	zip_free(z);
	zip_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zip_7z),
	    cmocka_unit_test(test_zip_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
