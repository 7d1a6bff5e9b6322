/* md: message digests fetched once (see md.h). */
#include <pthread.h>

#include <openssl/obj_mac.h>

#include "util/md.h"

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256, *md_sha384, *md_sha512;

static void
md_fetch(void)
{
	md_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	md_sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL);
	md_sha512 = EVP_MD_fetch(NULL, "SHA2-512", NULL);
}

const EVP_MD *
md_get(int nid)
{
	const EVP_MD *m = NULL;

	pthread_once(&md_once, md_fetch);
	if (nid == NID_sha256)
		m = md_sha256;
	else if (nid == NID_sha384)
		m = md_sha384;
	else if (nid == NID_sha512)
		m = md_sha512;
	/* not fetched (none of those, or the fetch failed): the legacy object */
	return m != NULL ? m : EVP_get_digestbynid(nid);
}
