/*
 * Unit tests of src/backup (the MANIFEST, the sealed keys) and of the store's part of backups
 * (store_backup_to, store_open_readonly, store_check) on a real SQLite file, and the refusal
 * of a PostgreSQL store (needs scripts/with-pg.sh: fails without it, never skips).
 */
#include <sys/stat.h>

#include <fcntl.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "testutil.h"

#include "backup/backup.h"
#include "store/store.h"

static const char PASS[] = "correct horse battery staple";

static void
manifest_sample(struct backup_manifest *m)
{
	static struct backup_file files[2];

	memset(m, 0, sizeof(*m));
	memset(files, 0, sizeof(files));
	m->format = BACKUP_FORMAT;
	m->version = (char *)"0.1.0";
	m->created = 1765130000;
	m->store = (char *)"sqlite";
	m->schema = 18;
	m->audit_seq = 42;
	memset(m->audit_hash, 0xab, BACKUP_HASH_LEN);
	m->certs = 7;
	files[0].path = (char *)"store.db";
	files[0].size = 4096;
	memset(files[0].sha256, 0x11, BACKUP_HASH_LEN);
	files[1].path = (char *)"certs/root.pem";
	files[1].size = 0;
	memset(files[1].sha256, 0x22, BACKUP_HASH_LEN);
	m->files = files;
	m->nfiles = 2;
}

/* The formatted sample with one line replaced (NULL: none), its "end" hash made right. */
static void
manifest_with(struct buf *out, const char *from, const char *to)
{
	struct backup_manifest m;
	struct buf b;
	struct err e;
	char *s, *p, *end;

	err_clear(&e);
	manifest_sample(&m);
	buf_init(&b, 1 << 20);
	assert_int_equal(backup_manifest_format(&m, &b, &e), 0);
	s = xstrndup((const char *)b.data, b.len);
	buf_free(&b);
	*strstr(s, "end ") = '\0';
	buf_init(&b, 1 << 20);
	if (from != NULL && (p = strstr(s, from)) != NULL) {
		*p = '\0';
		assert_int_equal(buf_printf(&b, "%s%s%s", s, to, p + strlen(from)), 0);
	} else {
		assert_int_equal(buf_printf(&b, "%s", s), 0);
	}
	free(s);
	/* a manifest of the edited lines: format it again from a parse of the lines plus end */
	{
		unsigned char h[32];
		char hex[65];
		size_t i;

		assert_int_equal(EVP_Digest(b.data, b.len, h, NULL, EVP_sha256(), NULL), 1);
		hex_encode(hex, h, 32);
		for (i = 0; i < 64; i++)
			if (hex[i] >= 'A' && hex[i] <= 'F')
				hex[i] = (char)(hex[i] - 'A' + 'a');
		end = xasprintf("end %s\n", hex);
	}
	buf_init(out, 1 << 20);
	assert_int_equal(buf_append(out, b.data, b.len), 0);
	assert_int_equal(buf_append(out, end, strlen(end)), 0);
	free(end);
	buf_free(&b);
}

static void
t_manifest_round_trip(void **state)
{
	struct backup_manifest m, got;
	struct buf b;
	struct err e;

	(void)state;
	err_clear(&e);
	manifest_sample(&m);
	buf_init(&b, 1 << 20);
	assert_int_equal(backup_manifest_format(&m, &b, &e), 0);
	assert_int_equal(backup_manifest_parse(b.data, b.len, &got, &e), 0);
	assert_int_equal(got.nfiles, 2);
	assert_int_equal(got.audit_seq, 42);
	assert_int_equal(got.certs, 7);
	assert_int_equal(got.schema, 18);
	assert_memory_equal(got.audit_hash, m.audit_hash, BACKUP_HASH_LEN);
	assert_string_equal(got.files[1].path, "certs/root.pem");
	assert_non_null(backup_manifest_find(&got, "store.db"));
	assert_null(backup_manifest_find(&got, "keys.sealed"));
	backup_manifest_clear(&got);

	/* one bit flipped anywhere before "end": its hash no longer matches */
	b.data[20] ^= 1;
	tu_expect_prefix(backup_manifest_parse(b.data, b.len, &got, &e), &e, "manifest:");
	b.data[20] ^= 1;
	/* bytes after "end", a line cut short */
	err_clear(&e);
	assert_int_equal(backup_manifest_parse(b.data, b.len - 1, &got, &e), -1);
	assert_non_null(strstr(e.msg, "no line end"));
	buf_free(&b);
}

static void
t_manifest_hostile(void **state)
{
	static const struct {
		const char *from, *to, *msg;
	} cases[] = {
	    {" certs/root.pem", " ../root.pem", "not a plain relative name"},
	    {" certs/root.pem", " /etc/passwd", "not a plain relative name"},
	    {" certs/root.pem", " certs/.hidden", "not a plain relative name"},
	    {" certs/root.pem", " a/b/c", "not a plain relative name"},
	    {" certs/root.pem", " store.db", "listed twice"},
	    {"certificates 7", "certificates -7", "bad number"},
	    {"certificates 7", "certificates 07", "bad number"},
	    {"certificates 7", "certificates 99999999999999999999", "bad number"},
	    {"store sqlite", "store postgresql", "store kind"},
	    {"shomei-backup 1", "shomei-backup 2", "manifest: format 2"},
	    {"version 0.1.0", "version 0.1.0 x", "expected \"version\""},
	    {"version 0.1.0", "version <script>", "bad version"},
	    {"certificates 7\n", "certificates 7\nnonsense 1\n", "unknown line"},
	    {"certificates 7\n", "certificates 7\r\n", "control byte"},
	    {"certificates 7\n", "certificates  7\n", "malformed"},
	    {"schema 18\n", "", "expected \"schema\""},
	};
	struct backup_manifest got;
	struct buf b;
	struct err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err_clear(&e);
		manifest_with(&b, cases[i].from, cases[i].to);
		assert_int_equal(backup_manifest_parse(b.data, b.len, &got, &e), -1);
		if (strstr(e.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i].msg, e.msg);
		assert_int_equal(e.code, ERR_REFUSED);
		assert_null(got.files);
		buf_free(&b);
	}
	/* unedited, the helper's output parses (the cases above fail for their reason) */
	manifest_with(&b, NULL, NULL);
	assert_int_equal(backup_manifest_parse(b.data, b.len, &got, &e), 0);
	backup_manifest_clear(&got);
	buf_free(&b);
	assert_int_equal(backup_path_ok("certs/a.pem"), 1);
	assert_int_equal(backup_path_ok("certs/"), 0);
	assert_int_equal(backup_path_ok(""), 0);
	assert_int_equal(backup_path_ok("a b"), 0);
}

static void
t_seal_round_trip_and_refusals(void **state)
{
	struct backup_key in[2], *out = NULL;
	unsigned char secret[32];
	struct buf b;
	struct err e;
	size_t n = 0, i;

	(void)state;
	err_clear(&e);
	util_random(secret, sizeof(secret));
	in[0].name = (char *)"portal.key";
	in[0].data = secret;
	in[0].len = sizeof(secret);
	in[1].name = (char *)"passphrase";
	in[1].data = (unsigned char *)"0123456789abcdef0123456789abcdef";
	in[1].len = 32;
	buf_init(&b, 1 << 20);
	assert_int_equal(backup_keys_seal(in, 2, PASS, strlen(PASS), &b, &e), 0);
	/* no secret in clear */
	for (i = 0; i + sizeof(secret) <= b.len; i++)
		assert_memory_not_equal(b.data + i, secret, sizeof(secret));
	for (i = 0; i + in[1].len <= b.len; i++)
		assert_memory_not_equal(b.data + i, in[1].data, in[1].len);
	assert_int_equal(backup_keys_open(b.data, b.len, PASS, strlen(PASS), &out, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].name, "portal.key");
	assert_memory_equal(out[0].data, secret, sizeof(secret));
	assert_string_equal(out[1].name, "passphrase");
	backup_keys_free(out, n);
	out = NULL;

	/* a wrong passphrase, a flipped ciphertext byte, a lowered Argon2id memory limit (the
	 * header is associated data): one refusal, nothing returned */
	err_clear(&e);
	tu_expect_prefix(backup_keys_open(b.data, b.len, "wrong passphrase!", 17, &out, &n, &e), &e,
			 "keys: keys.sealed does not open");
	assert_null(out);
	b.data[b.len - 5] ^= 1;
	err_clear(&e);
	tu_expect_prefix(backup_keys_open(b.data, b.len, PASS, strlen(PASS), &out, &n, &e), &e,
			 "keys: keys.sealed does not open");
	b.data[b.len - 5] ^= 1;
	b.data[12] = 0;
	b.data[13] = 0;
	b.data[14] = 0x20;
	b.data[15] = 0; /* 8 MiB */
	err_clear(&e);
	tu_expect_prefix(backup_keys_open(b.data, b.len, PASS, strlen(PASS), &out, &n, &e), &e,
			 "keys: keys.sealed does not open");
	/* limits a hostile bundle may not ask for: refused before any derivation (8 MiB is
	 * cheap: 5 passes of it would be derived, then fail to open, without the cap) */
	b.data[11] = (unsigned char)(crypto_pwhash_OPSLIMIT_SENSITIVE + 1);
	err_clear(&e);
	tu_expect_prefix(backup_keys_open(b.data, b.len, PASS, strlen(PASS), &out, &n, &e), &e,
			 "keys: keys.sealed: Argon2id limits out of range");
	b.data[11] = (unsigned char)crypto_pwhash_OPSLIMIT_MODERATE;
	{
		uint32_t kib = (uint32_t)(crypto_pwhash_MEMLIMIT_SENSITIVE / 1024) + 1;

		b.data[12] = (unsigned char)(kib >> 24);
		b.data[13] = (unsigned char)(kib >> 16);
		b.data[14] = (unsigned char)(kib >> 8);
		b.data[15] = (unsigned char)kib;
		err_clear(&e);
		tu_expect_prefix(backup_keys_open(b.data, b.len, PASS, strlen(PASS), &out, &n, &e),
				 &e, "keys: keys.sealed: Argon2id limits out of range");
	}
	b.data[12] = 0xff;
	err_clear(&e);
	tu_expect_prefix(backup_keys_open(b.data, b.len, PASS, strlen(PASS), &out, &n, &e), &e,
			 "keys: keys.sealed: Argon2id limits out of range");
	err_clear(&e);
	tu_expect_prefix(backup_keys_open(b.data, 10, PASS, strlen(PASS), &out, &n, &e), &e,
			 "keys: keys.sealed is not a sealed key bundle");
	buf_free(&b);

	/* a name that is not a plain file name is refused when sealing */
	in[0].name = (char *)"../x";
	buf_init(&b, 1 << 20);
	err_clear(&e);
	tu_expect_prefix(backup_keys_seal(in, 1, PASS, strlen(PASS), &b, &e), &e, "keys: ../x");
	buf_free(&b);
}

static void
t_keys_unpack_hostile(void **state)
{
	static const unsigned char twice[] = {0, 1, 'a', 0, 0, 0, 1, 'x', 0, 1, 'a', 0, 0, 0, 0};
	static const unsigned char slash[] = {0, 3, 'a', '/', 'b', 0, 0, 0, 0};
	static const unsigned char longer[] = {0, 1, 'a', 0, 0, 0, 9, 'x'};
	static const unsigned char noname[] = {0, 0, 0, 0, 0, 0};
	struct backup_key *k = NULL;
	struct err e;
	size_t n = 0;

	(void)state;
	err_clear(&e);
	tu_expect_prefix(backup_keys_unpack(twice, sizeof(twice), &k, &n, &e), &e,
			 "keys: a: twice");
	err_clear(&e);
	tu_expect_prefix(backup_keys_unpack(slash, sizeof(slash), &k, &n, &e), &e,
			 "keys: file 1: not a plain file name");
	err_clear(&e);
	tu_expect_prefix(backup_keys_unpack(longer, sizeof(longer), &k, &n, &e), &e,
			 "keys: a: malformed length");
	err_clear(&e);
	tu_expect_prefix(backup_keys_unpack(noname, sizeof(noname), &k, &n, &e), &e,
			 "keys: file 1: malformed name");
	assert_null(k);
	assert_int_equal(backup_keys_unpack(twice, 8, &k, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(k[0].len, 1);
	backup_keys_free(k, n);
}

static void
t_store_backup_sqlite(void **state)
{
	struct store *s = NULL, *c = NULL;
	struct store_org o;
	unsigned char h1[STORE_HASH_LEN], h2[STORE_HASH_LEN];
	int64_t seq1, seq2, id;
	char *dir, *spec, *copy, *copyspec;
	struct err e;
	int fd;

	(void)state;
	err_clear(&e);
	dir = tu_tmpdir();
	spec = xasprintf("sqlite:%s/live.db", dir);
	copy = xasprintf("%s/copy.db", dir);
	copyspec = xasprintf("sqlite:%s", copy);
	assert_int_equal(store_open(&s, spec, &e), 0);
	assert_int_equal(store_org_add(s, "ACME", "ACME Inc.", NULL, 0, &id, &e), 0);
	assert_int_equal(store_audit_append(s, "test", "org.add", "ACME", "", NULL, &e), 0);
	assert_int_equal(store_audit_head(s, &seq1, h1, &e), 0);
	/* inside a transaction: refused */
	assert_int_equal(store_begin(s, &e), 0);
	tu_expect_prefix(store_backup_to(s, copy, &e), &e, "store: backup: a transaction is open");
	store_rollback(s);
	err_clear(&e);
	/* into an empty file made with its mode */
	assert_true((fd = open(copy, O_WRONLY | O_CREAT | O_EXCL, 0600)) != -1);
	close(fd);
	assert_int_equal(store_backup_to(s, copy, &e), 0);
	/* the live store goes on; the copy is the snapshot */
	assert_int_equal(store_org_add(s, "LATER", "Later Inc.", NULL, 0, &id, &e), 0);
	assert_int_equal(store_open_readonly(&c, copyspec, &e), 0);
	assert_int_equal(store_check(c, &e), 0);
	assert_int_equal(store_org_get(c, "ACME", &o, &e), 0);
	store_org_clear(&o);
	assert_int_equal(store_org_get(c, "LATER", &o, &e), -1);
	assert_int_equal(e.code, ERR_NOTFOUND);
	err_clear(&e);
	assert_int_equal(store_audit_head(c, &seq2, h2, &e), 0);
	assert_int_equal(seq1, seq2);
	assert_memory_equal(h1, h2, STORE_HASH_LEN);
	/* its schema is exactly the migrations' */
	assert_int_equal(store_schema_check(c, &e), 0);
	/* read-only: every write fails, nothing changes */
	assert_int_equal(store_org_add(c, "NEW", "New Inc.", NULL, 0, &id, &e), -1);
	err_clear(&e);
	store_close(c);
	c = NULL;
	/* opened immutable: nothing made beside the copy */
	{
		static const char *const beside[] = {"-journal", "-wal", "-shm"};
		size_t i;

		for (i = 0; i < 3; i++) {
			char *p = xasprintf("%s%s", copy, beside[i]);

			assert_int_equal(access(p, F_OK), -1);
			free(p);
		}
	}
	/* a path SQLite's URIs would misread ('?', '#', '%') is opened as the file it names */
	{
		char *odd = xasprintf("%s/c?o#p%%79.db", dir),
		     *oddspec = xasprintf("sqlite:%s", odd);

		assert_int_equal(link(copy, odd), 0);
		assert_int_equal(store_open_readonly(&c, oddspec, &e), 0);
		assert_int_equal(store_org_get(c, "ACME", &o, &e), 0);
		store_org_clear(&o);
		store_close(c);
		c = NULL;
		unlink(odd);
		free(oddspec);
		free(odd);
	}
	/* a file in WAL mode (the live store) is refused by its header: it would need its -wal */
	tu_expect_prefix(store_open_readonly(&c, spec, &e), &e, "store: sqlite:");
	assert_non_null(strstr(e.msg, "header bytes 18 and 19 are 2 and 2"));
	assert_null(c);
	err_clear(&e);
	/* a file that is no store, a damaged store */
	{
		char *junk = xasprintf("%s/junk.db", dir), *junkspec = xasprintf("sqlite:%s", junk);
		struct stat sb;
		unsigned char page[4096];

		memset(page, 'x', sizeof(page));
		assert_true((fd = open(junk, O_WRONLY | O_CREAT | O_EXCL, 0600)) != -1);
		assert_int_equal(write(fd, page, sizeof(page)), (ssize_t)sizeof(page));
		close(fd);
		assert_int_equal(store_open_readonly(&c, junkspec, &e), -1);
		assert_null(c);
		err_clear(&e);
		/* one page of the copy's tables overwritten: quick_check (or the open) complains */
		assert_int_equal(stat(copy, &sb), 0);
		assert_true((fd = open(copy, O_WRONLY)) != -1);
		assert_int_equal(pwrite(fd, page, sizeof(page), sb.st_size - 4096),
				 (ssize_t)sizeof(page));
		close(fd);
		if (store_open_readonly(&c, copyspec, &e) == 0) {
			assert_int_equal(store_check(c, &e), -1);
			assert_int_equal(e.code, ERR_REFUSED);
		}
		store_close(c);
		c = NULL;
		free(junk);
		free(junkspec);
	}
	store_close(s);
	free(copyspec);
	free(copy);
	free(spec);
	tu_rmdir(dir);
}

static void
t_store_backup_pg_refused(void **state)
{
	struct store *s = NULL;
	struct err e;
	char *dir, *copy;

	(void)state;
	err_clear(&e);
	if (tu_pg() == NULL)
		fail_msg("SHOMEI_TEST_PG is not set: run through scripts/with-pg.sh");
	dir = tu_tmpdir();
	copy = xasprintf("%s/copy.db", dir);
	assert_int_equal(store_open(&s, tu_pg(), &e), 0);
	assert_int_equal(store_backup_to(s, copy, &e), -1);
	assert_int_equal(e.code, ERR_REFUSED);
	assert_non_null(strstr(e.msg, "pg_dump"));
	assert_non_null(strstr(e.msg, "docs/backup.md"));
	assert_int_equal(access(copy, F_OK), -1);
	store_close(s);
	s = NULL;
	/* the read-only session of a restored dump: reads work, writes do not */
	err_clear(&e);
	assert_int_equal(store_open_readonly(&s, tu_pg(), &e), 0);
	assert_int_equal(store_check(s, &e), 0);
	{
		int64_t id;

		assert_int_equal(store_org_add(s, "RO", "Read Only", NULL, 0, &id, &e), -1);
		assert_non_null(strstr(e.msg, "read-only"));
	}
	store_close(s);
	free(copy);
	tu_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_manifest_round_trip),
	    cmocka_unit_test(t_manifest_hostile),
	    cmocka_unit_test(t_seal_round_trip_and_refusals),
	    cmocka_unit_test(t_keys_unpack_hostile),
	    cmocka_unit_test(t_store_backup_sqlite),
	    cmocka_unit_test(t_store_backup_pg_refused),
	};

	log_init("test_backup", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
