/* sigalg: the single mapping from a key to the signature algorithm shomei uses with it. */
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include "x509.h"

int
x509_sigalg_for_key(EVP_PKEY *pkey, int *sig_nid, int *md_nid, struct err *e)
{
	char curve[64];
	size_t len = 0;

	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		*sig_nid = NID_sha256WithRSAEncryption;
		*md_nid = NID_sha256;
		return 0;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_utf8_string_param(pkey, "group", curve, sizeof(curve), &len))
			return err_ssl(e, ERR_REFUSED, "key: EC key without a named curve");
		if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0) {
			*sig_nid = NID_ecdsa_with_SHA256;
			*md_nid = NID_sha256;
		} else if (strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0) {
			*sig_nid = NID_ecdsa_with_SHA384;
			*md_nid = NID_sha384;
		} else if (strcmp(curve, "secp521r1") == 0 || strcmp(curve, "P-521") == 0) {
			*sig_nid = NID_ecdsa_with_SHA512;
			*md_nid = NID_sha512;
		} else {
			return err_set(e, ERR_REFUSED, "key: curve %s is not approved for signing",
				       curve);
		}
		return 0;
	default:
		return err_set(e, ERR_REFUSED, "key: algorithm %s cannot sign certificates",
			       OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
	}
}

int
x509_algor_set(X509_ALGOR *alg, int sig_nid, struct err *e)
{
	ASN1_OBJECT *obj;
	int ptype = V_ASN1_UNDEF;

	if ((obj = OBJ_nid2obj(sig_nid)) == NULL)
		return err_ssl(e, ERR_INTERNAL, "sigalg: unknown NID %d", sig_nid);
	if (sig_nid == NID_sha256WithRSAEncryption || sig_nid == NID_sha384WithRSAEncryption ||
	    sig_nid == NID_sha512WithRSAEncryption)
		ptype = V_ASN1_NULL;
	if (!X509_ALGOR_set0(alg, obj, ptype, NULL))
		return err_ssl(e, ERR_INTERNAL, "sigalg: cannot set algorithm");
	return 0;
}
