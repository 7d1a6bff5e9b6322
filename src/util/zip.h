/*
 * zip: a writer of WinZip AES-256 (AE-2) encrypted ZIP archives, which 7-Zip, WinZip and
 * libarchive open with the password (Windows' own Explorer does not).  Entries are stored, not
 * compressed (PKCS#12 files do not compress), each encrypted with AES-256 in CTR mode under a
 * key derived by PBKDF2-HMAC-SHA1 (1000 iterations, a 16-byte salt per entry) and
 * authenticated by a 10-byte HMAC-SHA1; AE-2 leaves the CRC-32 at 0.  The spec:
 * https://www.winzip.com/en/support/aes-encryption/ (compression method 99, extra field 0x9901).
 * Only writing: shomei never reads a ZIP.
 */
#ifndef SHOMEI_UTIL_ZIP_H
#define SHOMEI_UTIL_ZIP_H

#include <stddef.h>
#include <time.h>

#include "util.h"

#define ZIP_MAX_ENTRIES 65535u		    /* no ZIP64 */
#define ZIP_MAX_BYTES (1024u * 1024 * 1024) /* bytes of one archive */

struct zip;

/* A new archive whose entries are encrypted under password (copied; wiped by zip_free). */
struct zip *zip_new(const char *password);
/*
 * Adds the entry name (UTF-8, no "..", no leading '/', at most 255 bytes) holding data, with
 * the modification time mtime (UTC shown as local by the unzipper).  -1 (ERR_REFUSED) for a
 * bad name, too many entries or bytes; ERR_INTERNAL when the cipher fails.
 */
int zip_add(struct zip *, const char *name, const void *data, size_t len, time_t mtime,
	    struct err *);
/* The archive's bytes (caller frees), after the central directory; the zip stays usable. */
int zip_finish(struct zip *, unsigned char **out, size_t *len, struct err *);
void zip_free(struct zip *); /* accepts NULL; wipes the password */

#endif
