/*
 * ca_int: what the ceremonies of src/ca share (init.c makes the hierarchy, rollover.c a new
 * issuing CA under it).  Nothing outside src/ca includes this file.
 */
#ifndef SHOMEI_CA_INT_H
#define SHOMEI_CA_INT_H

#include <openssl/x509v3.h>

#include "ca.h"

/* C=JP, O=org, CN=cn (UTF-8). */
X509_NAME *init_name(const char *org, const char *cn);
/* Builds, lints and signs (with signkey, held here) one certificate of the hierarchy. */
int init_cert(const struct x509_issuer *iss, EVP_PKEY *signkey, const char *profile,
	      X509_NAME *subject, EVP_PKEY *pub, GENERAL_NAMES *sans, X509 **out, struct err *e);
/* dir/name, PEM, 0644. */
int init_write_cert(const char *dir, const char *name, X509 *x, struct err *e);
/* The certificate's row and its audit entry (inside the caller's transaction). */
int init_record(struct store *st, const char *actor, const char *ca_name, X509 *x,
		const char *profile, const GENERAL_NAMES *sans, struct err *e);

#endif
