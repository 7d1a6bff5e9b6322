/*
 * account: newAccount (RFC 8555 7.3, with onlyReturnExisting and External Account Binding),
 * the account URL (POST-as-GET, contact update, deactivation) and keyChange (7.3.5).  The
 * rules and the writes are src/ra/acme.c's; this file speaks the protocol.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "acme_int.h"
#include "util/sjson.h"

/* The account's URL into out. */
static void
acme_acct_url(char *out, size_t n, int64_t id)
{
	char path[64];

	snprintf(path, sizeof(path), ACME_ACCT_PATH "%" PRId64, id);
	acme_url(out, n, path);
}

/* The account object (RFC 8555 7.1.2). */
static json_t *
acme_acct_json(const struct ra_acme_account *a)
{
	char url[ACME_URL_MAX], path[64];
	json_t *j, *contact;

	contact = json_loads(a->contact != NULL ? a->contact : "[]", 0, NULL);
	if (contact == NULL || !json_is_array(contact)) {
		json_decref(contact);
		contact = json_array();
	}
	snprintf(path, sizeof(path), ACME_ACCT_PATH "%" PRId64 "/orders", a->id);
	acme_url(url, sizeof(url), path);
	j = json_pack("{s:s, s:o, s:b, s:s}", "status", a->status, "contact", contact,
		      "termsOfServiceAgreed", a->tos_agreed, "orders", url);
	return j;
}

/* Answers with the account, its URL as Location. */
static int
acme_acct_reply(struct acme_ctx *c, int status, const struct ra_acme_account *a)
{
	char loc[ACME_URL_MAX];

	acme_acct_url(loc, sizeof(loc), a->id);
	return acme_json(c, status, acme_acct_json(a), loc);
}

/* The problem of a refusal of src/ra/acme.c. */
static int
acme_ra_problem(struct acme_ctx *c, enum ra_acme_outcome r, const struct err *e)
{
	switch (r) {
	case RA_ACME_NO_ACCOUNT:
		return acme_problem(c, 400, ACME_PROB_NO_ACCOUNT, e->msg, NULL);
	case RA_ACME_NOT_VALID:
	case RA_ACME_EAB_BAD:
	case RA_ACME_EAB_UNUSABLE:
		return acme_problem(c, 403, ACME_PROB_UNAUTHORIZED, e->msg, NULL);
	case RA_ACME_EAB_REQUIRED:
		return acme_problem(c, 400, ACME_PROB_EAB_REQUIRED, e->msg, NULL);
	case RA_ACME_EAB_MALFORMED:
		return acme_problem(c, 400, ACME_PROB_MALFORMED, e->msg, NULL);
	case RA_ACME_CONTACT_UNSUPPORTED:
		return acme_problem(c, 400, ACME_PROB_UNSUPPORTED_CONTACT, e->msg, NULL);
	case RA_ACME_CONTACT_INVALID:
		return acme_problem(c, 400, ACME_PROB_INVALID_CONTACT, e->msg, NULL);
	default:
		return acme_internal(c, ra_acme_outcome_names[r < RA_ACME__MAX ? r : RA_ACME_ERROR],
				     e);
	}
}

int
acme_new_account(struct acme_ctx *c)
{
	struct ra_acme_new q;
	struct ra_acme_account a;
	enum ra_acme_outcome r;
	struct ra_acme_limited hit;
	struct err e;
	char addr[64], key[64];
	unsigned char ip[16];
	size_t iplen = 0;
	int rc;

	memset(&q, 0, sizeof(q));
	memset(&hit, 0, sizeof(hit));
	memset(&a, 0, sizeof(a));
	err_clear(&e);
	if (acme_post_begin(c, ACME_AUTH_JWK) == -1)
		return 0;
	if (c->payload == NULL)
		return acme_problem(c, 400, ACME_PROB_MALFORMED,
				    "RFC 8555 7.3: newAccount takes an account object", NULL);
	/* members the server does not know are ignored (7.3) */
	if (sjson_array(c->payload, "contact", 0, &q.contact, "acme: newAccount", &e) == -1 ||
	    sjson_bool(c->payload, "termsOfServiceAgreed", 0, &q.tos_agreed, "acme: newAccount",
		       &e) == -1 ||
	    sjson_bool(c->payload, "onlyReturnExisting", 0, &q.only_existing, "acme: newAccount",
		       &e) == -1 ||
	    sjson_object(c->payload, "externalAccountBinding", 0, &q.eab, "acme: newAccount", &e) ==
		-1)
		return acme_problem(c, 400, ACME_PROB_MALFORMED, e.msg, NULL);
	http_client_addr(c->r, addr, sizeof(addr));
	snprintf(c->actor, sizeof(c->actor), "acme:%s", addr);
	/* the address the limit of new accounts counts (IPv6 by its /64) */
	http_client_ip(c->r, ip, &iplen);
	/* (never "?", an unknown client: acme_http refused it before) */
	util_ip_rate_key(ip, iplen, key, sizeof(key));
	q.addr = key;
	q.limits = &acme.limits;
	q.hit = &hit;
	q.jwk = c->j.jwk;
	q.url = c->url;
	q.eab_required = acme.eab_required;
	q.actor = c->actor;
	r = ra_acme_account_new(c->st, &acme.keys, &q, &a, &e);
	if (r == RA_ACME_CREATED || r == RA_ACME_EXISTS)
		rc = acme_acct_reply(c, r == RA_ACME_CREATED ? 201 : 200, &a);
	else if (r == RA_ACME_RATE_LIMITED)
		rc = acme_limited(c, 429, hit.detail, hit.retry_after);
	else
		rc = acme_ra_problem(c, r, &e);
	ra_acme_account_clear(&a);
	return rc;
}

/*
 * POST-as-GET /acme/acct/{id}/orders[/<cursor>] (RFC 8555 7.1.2.1): {"orders": [URLs]}, a page of
 * acme.orders_page ids above the cursor (keyset), Link rel="next" to the next page.
 */
static int
acme_orders_list(struct acme_ctx *c, const char *rest)
{
	char url[ACME_URL_MAX], path[96], next[ACME_URL_MAX + 16];
	int64_t *ids = NULL, after = 0, cursor = 0;
	size_t n = 0;
	long v;
	json_t *arr;
	struct err e;
	int rc;

	err_clear(&e);
	if (*rest == '/') {
		rest++;
		if (*rest == '\0' || *rest == '0' || strlen(rest) > 18 ||
		    strspn(rest, "0123456789") != strlen(rest) ||
		    util_parse_long(rest, 1, 1L << 62, &v) == -1)
			return acme_problem(c, 404, ACME_PROB_MALFORMED, "no such resource", NULL);
		after = v;
	} else if (*rest != '\0') {
		return acme_problem(c, 404, ACME_PROB_MALFORMED, "no such resource", NULL);
	}
	if (c->payload != NULL)
		return acme_problem(c, 400, ACME_PROB_MALFORMED,
				    "RFC 8555 7.1.2.1: the orders list is read by POST-as-GET",
				    NULL);
	if (ra_acme_orders_list(c->st, c->acct.id, after, (size_t)acme.orders_page, &ids, &n,
				&cursor, &e) != RA_ACME_OK)
		return acme_internal(c, "orders list", &e);
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), ACME_PREFIX "/order/%" PRId64, ids[i]);
		acme_url(url, sizeof(url), path);
		json_array_append_new(arr, json_string(url));
	}
	free(ids);
	if (cursor == 0)
		return acme_json(c, 200, json_pack("{s:o}", "orders", arr), NULL);
	snprintf(path, sizeof(path), ACME_ACCT_PATH "%" PRId64 "/orders/%" PRId64, c->acct.id,
		 cursor);
	acme_url(url, sizeof(url), path);
	snprintf(next, sizeof(next), "<%s>;rel=\"next\"", url);
	{
		const char *h[] = {"Link", next, NULL};
		json_t *j = json_pack("{s:o}", "orders", arr);
		char *s = j != NULL ? json_dumps(j, JSON_INDENT(2)) : NULL;

		rc = s != NULL ? acme_send(c->r, 200, "application/json", s, h)
			       : acme_internal(c, "reply", &e);
		free(s);
		json_decref(j);
	}
	return rc;
}

/* POST /acme/acct/{id}: POST-as-GET, contact update, deactivation (7.3.2, 7.3.6). */
int
acme_account(struct acme_ctx *c, const char *id)
{
	struct ra_acme_account a;
	enum ra_acme_outcome r;
	json_t *contact = NULL;
	const char *status = NULL, *tail;
	char own[32];
	struct err e;
	int rc;

	memset(&a, 0, sizeof(a));
	err_clear(&e);
	if (acme_post_begin(c, ACME_AUTH_KID) == -1)
		return 0;
	snprintf(own, sizeof(own), "%" PRId64, c->acct.id);
	tail = id + strcspn(id, "/");
	if ((size_t)(tail - id) != strlen(own) || strncmp(own, id, strlen(own)) != 0)
		return acme_problem(c, 403, ACME_PROB_UNAUTHORIZED,
				    "an account's key reaches only its own account", NULL);
	if (strncmp(tail, "/orders", 7) == 0)
		return acme_orders_list(c, tail + 7);
	if (*tail != '\0')
		return acme_problem(c, 404, ACME_PROB_MALFORMED, "no such resource", NULL);
	if (c->payload == NULL)
		return acme_acct_reply(c, 200, &c->acct);
	if (sjson_array(c->payload, "contact", 0, &contact, "acme: account", &e) == -1 ||
	    sjson_string(c->payload, "status", 0, &status, NULL, "acme: account", &e) == -1)
		return acme_problem(c, 400, ACME_PROB_MALFORMED, e.msg, NULL);
	/* a client sends back the status it was given, or asks for deactivation (7.3.6) */
	if (status != NULL && strcmp(status, "deactivated") != 0 && strcmp(status, "valid") != 0)
		return acme_problem(c, 400, ACME_PROB_MALFORMED,
				    "RFC 8555 7.3.6: a client may only set status deactivated",
				    NULL);
	if (status != NULL && strcmp(status, "valid") == 0)
		status = NULL;
	if (contact == NULL && status == NULL)
		return acme_acct_reply(c, 200, &c->acct);
	r = ra_acme_account_update(c->st, c->acct.id, contact, status != NULL, c->actor, &a, &e);
	if (status != NULL)
		acme_keycache_drop(c->acct.id);
	rc = r == RA_ACME_OK ? acme_acct_reply(c, 200, &a) : acme_ra_problem(c, r, &e);
	ra_acme_account_clear(&a);
	return rc;
}

/*
 * The inner JWS of a key change (7.3.5), already parsed into in: signed by the new key given
 * as its jwk, the outer url, no nonce, payload {account: the outer kid, oldKey: the account's
 * key}.  0, or -1 after answering.
 */
static int
acme_key_inner(struct acme_ctx *c, struct jws *in, EVP_PKEY **newkey)
{
	unsigned char old[JWS_THUMB_LEN];
	json_t *p = NULL, *oldkey = NULL;
	const char *account = NULL;
	struct err e;
	int rc = -1;

	err_clear(&e);
	if (in->jwk == NULL || in->kid != NULL || in->nonce != NULL || in->url == NULL ||
	    strcmp(in->url, c->url) != 0) {
		acme_problem(c, 400, ACME_PROB_MALFORMED,
			     "RFC 8555 7.3.5: the inner JWS has the new jwk, the outer url and no "
			     "nonce",
			     NULL);
		goto out;
	}
	if (jwk_key(in->jwk, newkey, &e) == -1 || jwk_alg_check(*newkey, in->alg, &e) == -1 ||
	    jws_verify(in, *newkey, &e) == -1) {
		acme_problem(c, 400,
			     e.kind == JWS_FAIL_ALG   ? ACME_PROB_BAD_SIG_ALG
			     : e.kind == JWS_FAIL_KEY ? ACME_PROB_BAD_PUBLIC_KEY
						      : ACME_PROB_MALFORMED,
			     e.msg, NULL);
		goto out;
	}
	if ((p = sjson_load_object(in->payload, in->payloadlen, JWS_HEADER_MAX, 2,
				   "acme: keyChange payload", &e)) == NULL ||
	    sjson_string(p, "account", 1, &account, NULL, "acme: keyChange", &e) == -1 ||
	    sjson_object(p, "oldKey", 1, &oldkey, "acme: keyChange", &e) == -1) {
		acme_problem(c, 400, ACME_PROB_MALFORMED, e.msg, NULL);
		goto out;
	}
	if (strcmp(account, c->j.kid) != 0) {
		acme_problem(c, 400, ACME_PROB_MALFORMED,
			     "RFC 8555 7.3.5: account is not the outer JWS's kid", NULL);
		goto out;
	}
	if (jwk_thumbprint(oldkey, old, NULL, &e) == -1 ||
	    sodium_memcmp(old, c->acct.thumb, JWS_THUMB_LEN) != 0) {
		acme_problem(c, 400, ACME_PROB_MALFORMED,
			     "RFC 8555 7.3.5: oldKey is not the account's key", NULL);
		goto out;
	}
	rc = 0;
out:
	json_decref(p);
	return rc;
}

/* POST /acme/key-change (7.3.5). */
int
acme_key_change(struct acme_ctx *c)
{
	struct jws in;
	struct ra_acme_account a;
	EVP_PKEY *newkey = NULL;
	enum ra_acme_outcome r;
	char *text = NULL, loc[ACME_URL_MAX];
	int64_t other = 0;
	struct err e;
	int rc = 0;

	memset(&in, 0, sizeof(in));
	memset(&a, 0, sizeof(a));
	err_clear(&e);
	if (acme_post_begin(c, ACME_AUTH_KID) == -1)
		goto out;
	if (c->payload == NULL || (text = json_dumps(c->payload, JSON_COMPACT)) == NULL ||
	    jws_parse(text, strlen(text), 0, &in, &e) == -1) {
		rc = acme_problem(
		    c, 400, e.kind == JWS_FAIL_ALG ? ACME_PROB_BAD_SIG_ALG : ACME_PROB_MALFORMED,
		    err_is_set(&e) ? e.msg : "RFC 8555 7.3.5: the payload is the inner JWS", NULL);
		goto out;
	}
	if (acme_key_inner(c, &in, &newkey) == -1)
		goto out;
	r = ra_acme_account_key(c->st, c->acct.id, c->acct.thumb, in.jwk, c->actor, &other, &e);
	acme_keycache_drop(c->acct.id); /* the old key's bytes would not match anyway */
	if (r == RA_ACME_KEY_TAKEN) {
		acme_acct_url(loc, sizeof(loc), other);
		rc = acme_problem(c, 409, ACME_PROB_MALFORMED, e.msg, loc);
	} else if (r != RA_ACME_OK) {
		rc = acme_ra_problem(c, r, &e);
	} else if (ra_acme_account_get(c->st, c->acct.id, &a, &e) != RA_ACME_OK) {
		rc = acme_internal(c, "account", &e);
	} else {
		rc = acme_acct_reply(c, 200, &a);
	}
out:
	ra_acme_account_clear(&a);
	EVP_PKEY_free(newkey);
	jws_clear(&in);
	free(text);
	return rc;
}
