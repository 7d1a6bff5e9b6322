/*
 * libFuzzer target for the TimeStampReq parser (tsa_req_parse) and what a parsed request
 * reaches without a store or a signer: the policy check, the TSTInfo writer and the
 * rejection writer.  Hostile bytes must yield a clean refusal with a failInfo bit and a
 * message, never a crash, a leak or undefined behaviour; and whatever the parser accepts
 * must produce a TSTInfo that OpenSSL decodes back with the same imprint and nonce.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ts.h>

#include "tsa/tsa.h"
#include "tsa/tsa_local.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tsa fz_tsa;

/* A context with the fixed parts the TSTInfo writer uses (no certificate, no signer). */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static unsigned char policy[] = {0x06, 0x04, 0x2a, 0x03, 0x04, 0x01}; /* 1.2.3.4.1 */
	static unsigned char accuracy[] = {0x30, 0x03, 0x80, 0x01, 0x32};     /* 50 ms */
	static unsigned char name[] = {
	    0xa0, 0x11, 0xa4, 0x0f, 0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09,
	    0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, 0x66, 0x7a}; /* [0] { [4] { CN=fz } } */

	memset(&fz_tsa, 0, sizeof(fz_tsa));
	fz_tsa.policy = policy;
	fz_tsa.policy_len = sizeof(policy);
	fz_tsa.accuracy_ms = 50;
	fz_tsa.accuracy = accuracy;
	fz_tsa.accuracy_len = sizeof(accuracy);
	fz_tsa.name = name;
	fz_tsa.name_len = sizeof(name);
	return 0;
}

/* The TSTInfo for an accepted request decodes, whole, with the request's imprint and nonce. */
static void
fz_tstinfo(const struct tsa_req *r)
{
	struct timespec now = {1735689600, 987000000};
	struct buf b;
	struct err e;
	const unsigned char *p;
	unsigned char *imp = NULL;
	TS_TST_INFO *tst = NULL;
	int n;

	err_clear(&e);
	buf_init(&b, 256 * 1024);
	if (tsa_tstinfo_build(&fz_tsa, r, 0x0123456789abcdefULL, &now, &b, &e) == -1)
		abort();
	p = b.data;
	if ((tst = d2i_TS_TST_INFO(NULL, &p, (long)b.len)) == NULL || p != b.data + b.len)
		abort();
	n = i2d_TS_MSG_IMPRINT(TS_TST_INFO_get_msg_imprint(tst), &imp);
	if (n < 0 || (size_t)n != r->imprint_len || memcmp(imp, r->imprint, r->imprint_len) != 0)
		abort();
	if ((r->nonce == NULL) != (TS_TST_INFO_get_nonce(tst) == NULL))
		abort();
	OPENSSL_free(imp);
	TS_TST_INFO_free(tst);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tsa_req r;
	struct err e;
	struct buf b;
	const unsigned char *p;
	TS_RESP *resp;
	int fail = -1;

	err_clear(&e);
	if (tsa_req_parse(data, size, &r, &fail, &e) == 0) {
		if (fail != -1 || r.imprint == NULL || r.hash == NULL)
			abort();
		if (tsa_req_check(&fz_tsa, &r, &fail, &e) == 0)
			fz_tstinfo(&r);
		else if (fail != TSA_FAIL_UNACCEPTED_POLICY)
			abort();
	} else if (e.code != ERR_REFUSED || e.msg[0] == '\0' || fail < 0) {
		abort(); /* every refusal must say why and carry a failInfo */
	}
	if (fail >= 0) {
		buf_init(&b, 64 * 1024);
		if (tsa_resp_reject(fail, e.msg, &b) == -1)
			abort();
		p = b.data;
		if ((resp = d2i_TS_RESP(NULL, &p, (long)b.len)) == NULL || p != b.data + b.len)
			abort();
		TS_RESP_free(resp);
		buf_free(&b);
	}
	ERR_clear_error();
	return 0;
}
