/*
 * libFuzzer target for what a backup directory hands shomei (src/backup): the MANIFEST parser
 * and the layout of a sealed key bundle's contents.  Hostile bytes never crash, leak nor read
 * out of bounds; a manifest that parses lists only plain relative paths, each once, and comes
 * out of backup_manifest_format() as a manifest that parses to the same thing.
 *
 * The first byte chooses: even, the rest is a MANIFEST; odd, the opened contents of
 * keys.sealed (backup_keys_unpack).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backup/backup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_manifest(const struct backup_manifest *m)
{
	struct backup_manifest again;
	struct buf out;
	struct err e;
	size_t i;

	err_clear(&e);
	for (i = 0; i < m->nfiles; i++)
		if (!backup_path_ok(m->files[i].path) ||
		    backup_manifest_find(m, m->files[i].path) != &m->files[i])
			__builtin_trap();
	buf_init(&out, BACKUP_MANIFEST_MAX * 2);
	if (backup_manifest_format(m, &out, &e) == -1)
		__builtin_trap();
	if (backup_manifest_parse(out.data, out.len, &again, &e) == -1)
		__builtin_trap();
	if (again.nfiles != m->nfiles || again.audit_seq != m->audit_seq ||
	    again.certs != m->certs || again.created != m->created ||
	    memcmp(again.audit_hash, m->audit_hash, BACKUP_HASH_LEN) != 0)
		__builtin_trap();
	for (i = 0; i < m->nfiles; i++)
		if (strcmp(again.files[i].path, m->files[i].path) != 0 ||
		    again.files[i].size != m->files[i].size ||
		    memcmp(again.files[i].sha256, m->files[i].sha256, BACKUP_HASH_LEN) != 0)
			__builtin_trap();
	backup_manifest_clear(&again);
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct backup_manifest m;
	struct backup_key *k = NULL;
	struct err e;
	size_t n = 0, i;

	if (size < 1)
		return 0;
	err_clear(&e);
	if ((data[0] & 1) == 0) {
		if (backup_manifest_parse(data + 1, size - 1, &m, &e) == 0) {
			check_manifest(&m);
			backup_manifest_clear(&m);
		} else if (!err_is_set(&e) || m.nfiles != 0 || m.files != NULL) {
			__builtin_trap();
		}
		return 0;
	}
	if (backup_keys_unpack(data + 1, size - 1, &k, &n, &e) == 0) {
		for (i = 0; i < n; i++)
			if (strchr(k[i].name, '/') != NULL || !backup_path_ok(k[i].name) ||
			    k[i].len > BACKUP_KEY_FILE_MAX)
				__builtin_trap();
		backup_keys_free(k, n);
	} else if (!err_is_set(&e) || k != NULL) {
		__builtin_trap();
	}
	return 0;
}
