/*
 * md: message digests fetched once.  A legacy EVP_MD (EVP_sha256(), EVP_get_digestbynid) makes
 * OpenSSL 3 fetch its provider implementation again at every EVP_DigestInit/VerifyInit (a
 * name lookup under a lock); a fetched one is used as it is.  Measured here: 22 us for an
 * ECDSA verify's init with EVP_sha256(), 7 us with the fetched SHA-256.
 */
#ifndef SHOMEI_MD_H
#define SHOMEI_MD_H

#include <openssl/evp.h>

/*
 * The digest of nid: SHA-256, SHA-384 and SHA-512 fetched once for the process (never freed),
 * any other EVP_get_digestbynid's; NULL when there is none.  Thread-safe.
 */
const EVP_MD *md_get(int nid);

#endif
