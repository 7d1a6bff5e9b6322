/*
 * shomei client revoke|status: a certificate holder's signed self-service request.  Builds the
 * JSON (time now, 128-bit random nonce), signs it as CMS SignedData with the certificate's key
 * (a PEM file, or a PKCS#11 object through the pkcs11 engine), POSTs it to BASE/online/<type>
 * over HTTPS (libcurl) and prints the server's JSON answer.  Needs no data directory.
 *
 * Exit status: 0 accepted or valid, 1 any other outcome (or a refused key, wrong PIN, ...),
 * 2 usage, 3 internal (no answer from the server, an answer that is not ours).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "cli/cli.h"
#include "ra/ra.h"
#include "signer/signer.h"

#define CLIENT_ANSWER_MAX (1024 * 1024)

static const char usage_client[] =
    "usage: shomei client revoke|status --cert FILE (--key FILE | --pkcs11 URI) --url BASE\n"
    "                     [--reason R] [--cafile FILE] [--pin PIN] [--module PATH]\n\n"
    "  Sends a request signed with the certificate's own key to BASE/online/revoke or\n"
    "  BASE/online/status (BASE e.g. https://ca.example.jp:8443) and prints the answer.\n"
    "  --cert FILE     the certificate (PEM)\n"
    "  --key FILE      its private key (PEM, unencrypted)\n"
    "  --pkcs11 URI    or its key in a PKCS#11 token (pkcs11:token=...;object=...)\n"
    "  --pin PIN       the token's user PIN (default: $SHOMEI_PKCS11_PIN)\n"
    "  --module PATH   PKCS#11 module (default: $SHOMEI_PKCS11_MODULE or SoftHSM2's)\n"
    "  --reason R      revoke: unspecified, keyCompromise, affiliationChanged, superseded,\n"
    "                  cessationOfOperation (default)\n"
    "  --cafile FILE   CA certificates to verify the server with (default: the system's)\n\n"
    "exit status: 0 accepted or valid, 1 another outcome or a refused key, 2 usage,\n"
    "3 no usable answer\n";

/* Replaces the configuration hints of the signer's PKCS#11 messages by this command's. */
static void
client_p11_msg(struct err *e)
{
	static const struct {
		const char *from, *to;
	} subst[] = {
	    {"signer: ", "client: "},
	    {"(check pkcs11.pin or pkcs11.pin_env)", "(--pin or SHOMEI_PKCS11_PIN)"},
	    {"(pkcs11.pin or pkcs11.pin_env)", "(--pin or SHOMEI_PKCS11_PIN)"},
	    {"(pkcs11.module)", "(--module or SHOMEI_PKCS11_MODULE)"},
	};
	char out[sizeof(e->msg)];
	struct buf b;

	for (size_t i = 0; i < sizeof(subst) / sizeof(subst[0]); i++) {
		const char *p = strstr(e->msg, subst[i].from);

		if (p == NULL)
			continue;
		buf_init_fixed(&b, out, sizeof(out));
		if (buf_append(&b, e->msg, (size_t)(p - e->msg)) == -1 ||
		    buf_append(&b, subst[i].to, strlen(subst[i].to)) == -1 ||
		    buf_append(&b, p + strlen(subst[i].from), strlen(p + strlen(subst[i].from))) ==
			-1 ||
		    buf_cstr(&b) == NULL)
			continue;
		memcpy(e->msg, out, b.len + 1);
	}
}

/* A passphrase callback that refuses: encrypted key files are reported, never prompted for. */
static int
client_no_pass(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int
client_load(const char *certf, const char *keyf, const char *uri, const char *pin,
	    const char *module, X509 **cert, EVP_PKEY **key, struct err *e)
{
	struct conf c;
	FILE *f = NULL;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if ((f = fopen(certf, "r")) == NULL) {
		err_set(e, ERR_REFUSED, "client: %s: cannot open", certf);
		goto out;
	}
	if ((*cert = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		err_ssl(e, ERR_REFUSED, "client: %s: not a PEM certificate", certf);
		goto out;
	}
	fclose(f);
	f = NULL;
	if (keyf != NULL) {
		if ((f = fopen(keyf, "r")) == NULL) {
			err_set(e, ERR_REFUSED, "client: %s: cannot open", keyf);
			goto out;
		}
		if ((*key = PEM_read_PrivateKey(f, NULL, client_no_pass, NULL)) == NULL) {
			err_ssl(e, ERR_REFUSED, "client: %s: not an unencrypted PEM private key",
				keyf);
			goto out;
		}
	} else {
		if (module != NULL)
			conf_set(&c, "pkcs11.module", module);
		if (pin != NULL)
			conf_set(&c, "pkcs11.pin", pin);
		if (signer_key_load(&c, uri, key, e) == -1) {
			client_p11_msg(e);
			goto out;
		}
	}
	ERR_clear_error();
	if (X509_check_private_key(*cert, *key) != 1) {
		err_ssl(e, ERR_REFUSED, "client: the key does not belong to certificate %s", certf);
		goto out;
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].value != NULL)
			OPENSSL_cleanse(c.v[i].value, strlen(c.v[i].value));
	conf_free(&c);
	return rc;
}

static size_t
client_write(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (buf_append(b, p, size * n) == -1)
		return 0;
	return size * n;
}

/* POSTs der to url; the answer's body into out, its status into *status. */
static int
client_post(const char *url, const char *cafile, const struct buf *der, struct buf *out,
	    long *status, struct err *e)
{
	struct curl_slist *h = NULL;
	char errbuf[CURL_ERROR_SIZE];
	CURL *c = NULL;
	CURLcode cc;
	int rc = -1;

	errbuf[0] = '\0';
	if ((c = curl_easy_init()) == NULL)
		fatalx("client: libcurl did not initialise");
	h = curl_slist_append(h, "Content-Type: application/cms");
	h = curl_slist_append(h, "Accept: application/json");
	if (h == NULL)
		fatalx("client: out of memory");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, der->data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)der->len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, client_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (cafile != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		err_set(e, ERR_INTERNAL, "client: %s: %s", url,
			errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	rc = 0;
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc;
}

int
cmd_client(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"data", required_argument, NULL, 'd'},
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"pkcs11", required_argument, NULL, 'p'},
	    {"pin", required_argument, NULL, 'P'},
	    {"module", required_argument, NULL, 'm'},
	    {"url", required_argument, NULL, 'u'},
	    {"reason", required_argument, NULL, 'r'},
	    {"cafile", required_argument, NULL, 'C'},
	    {NULL, 0, NULL, 0},
	};
	const char *certf = NULL, *keyf = NULL, *uri = NULL, *pin = NULL, *module = NULL;
	const char *base = NULL, *reason = NULL, *cafile = NULL, *res;
	enum ra_online_type type;
	struct err e;
	struct buf der, ans;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	json_t *j = NULL;
	json_error_t je;
	char *url = NULL;
	size_t blen;
	long status = 0;
	int ch, exit_now, rc = ERR_INTERNAL;

	err_clear(&e);
	buf_init(&der, RA_ONLINE_BODY_MAX);
	buf_init(&ans, CLIENT_ANSWER_MAX);
	while ((ch = getopt_long(argc, argv, "hd:", lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			certf = optarg;
			break;
		case 'k':
			keyf = optarg;
			break;
		case 'p':
			uri = optarg;
			break;
		case 'P':
			pin = optarg;
			break;
		case 'm':
			module = optarg;
			break;
		case 'u':
			base = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'C':
			cafile = optarg;
			break;
		default:
			rc = cli_common_opt(cli, ch, optarg, usage_client, &exit_now);
			if (exit_now)
				goto out;
		}
	}
	if (optind + 1 != argc || certf == NULL || base == NULL ||
	    (keyf == NULL) == (uri == NULL)) {
		rc = cli_usage(usage_client);
		goto out;
	}
	if (strcmp(argv[optind], "revoke") == 0) {
		type = RA_ONLINE_REVOKE;
	} else if (strcmp(argv[optind], "status") == 0) {
		type = RA_ONLINE_STATUS;
	} else {
		rc = cli_usage(usage_client);
		goto out;
	}
	if (reason != NULL && type != RA_ONLINE_REVOKE) {
		fprintf(stderr, "shomei: client: --reason belongs to revoke\n");
		rc = cli_usage(usage_client);
		goto out;
	}
	if (uri != NULL && strncmp(uri, "pkcs11:", 7) != 0) {
		fprintf(stderr, "shomei: client: --pkcs11 takes a pkcs11: URI\n");
		rc = cli_usage(usage_client);
		goto out;
	}
	if (pin == NULL)
		pin = getenv("SHOMEI_PKCS11_PIN");
	if (module == NULL)
		module = getenv("SHOMEI_PKCS11_MODULE");
	if (client_load(certf, keyf, uri, pin, module, &cert, &key, &e) == -1 ||
	    ra_online_request_build(type, cert, key, reason, 0, NULL, &der, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	url = xasprintf("%.*s/online/%s", (int)blen, base, ra_online_type_name(type));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("client: libcurl did not initialise");
	if (client_post(url, cafile, &der, &ans, &status, &e) == -1) {
		rc = cli_fail(&e);
		goto out;
	}
	if (ans.len == 0 ||
	    (j = json_loadb((const char *)ans.data, ans.len, JSON_REJECT_DUPLICATES, &je)) ==
		NULL ||
	    !json_is_object(j) || (res = json_string_value(json_object_get(j, "result"))) == NULL) {
		err_set(&e, ERR_INTERNAL, "client: %s: HTTP %ld without a result", url, status);
		rc = cli_fail(&e);
		goto out;
	}
	fwrite(ans.data, 1, ans.len, stdout);
	if (ans.data[ans.len - 1] != '\n')
		putchar('\n');
	rc = strcmp(res, "accepted") == 0 || strcmp(res, "valid") == 0 ? 0 : ERR_REFUSED;
out:
	json_decref(j);
	free(url);
	X509_free(cert);
	EVP_PKEY_free(key);
	signer_engine_release();
	buf_free(&der);
	buf_free(&ans);
	return rc;
}
