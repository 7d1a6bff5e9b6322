/* org: organizations and tickets, each change audited. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"

/* Organization codes: 1..32 of [A-Za-z0-9_-]. */
static int
ca_org_code_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 32)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

int
ca_org_add(struct store *st, const char *code, const char *name, const char *const *domains,
	   size_t n, const char *actor, struct err *e)
{
	struct buf detail;
	size_t i;
	int rc = -1, intx = 0;

	buf_init(&detail, 64 * 1024);
	if (!ca_org_code_ok(code)) {
		err_set(e, ERR_REFUSED, "org: code \"%s\" must be 1-32 letters, digits, - or _",
			code);
		goto out;
	}
	if (name == NULL || *name == '\0' || strlen(name) > 256) {
		err_set(e, ERR_REFUSED, "org: name must be 1-256 bytes");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (x509_dns_name_check(domains[i], strlen(domains[i]), 0, e) == -1)
			goto out;
	if (buf_printf(&detail, "name=%s", name) == -1)
		goto out;
	for (i = 0; i < n; i++)
		if (buf_printf(&detail, " domain=%s", domains[i]) == -1) {
			err_set(e, ERR_REFUSED, "org: too many domains");
			goto out;
		}
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	if (store_org_add(st, code, name, domains, n, NULL, e) == -1)
		goto out;
	if (store_audit_append(st, actor, "org.add", code, buf_cstr(&detail), NULL, e) == -1)
		goto out;
	if (store_commit(st, e) == -1)
		goto out;
	intx = 0;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	buf_free(&detail);
	return rc;
}

/*
 * Ticket numbers: 16 digits in four groups, from the CSPRNG (no sequence to guess), e.g.
 * 4821-0937-5512-6604.  Unique by the database; a collision draws again.
 */
static void
ca_ticket_number(char out[20])
{
	unsigned char r;
	size_t i, o = 0;

	for (i = 0; i < 16; i++) {
		do
			util_random(&r, 1);
		while (r >= 250); /* rejection sampling: every digit equally likely */
		if (i > 0 && i % 4 == 0)
			out[o++] = '-';
		out[o++] = (char)('0' + r % 10);
	}
	out[o] = '\0';
}

int
ca_ticket_create(struct store *st, const char *org_code, const char *profile, size_t count,
		 const char *actor, char ***numbers, struct err *e)
{
	struct store_org org;
	char **nums = NULL;
	char num[20], *detail = NULL;
	size_t i, made = 0;
	int rc = -1, intx = 0, tries;
	const struct profile *prof;

	memset(&org, 0, sizeof(org));
	*numbers = NULL;
	if ((prof = profile_find(profile)) == NULL || prof->ca) {
		err_set(e, ERR_REFUSED, "ticket: unknown profile \"%s\"", profile);
		goto out;
	}
	if (count == 0 || count > 10000) {
		err_set(e, ERR_REFUSED, "ticket: count must be 1-10000");
		goto out;
	}
	if (store_org_get(st, org_code, &org, e) == -1)
		goto out;
	nums = xcalloc(count, sizeof(*nums));
	if (store_begin(st, e) == -1)
		goto out;
	intx = 1;
	for (i = 0; i < count; i++) {
		for (tries = 0;; tries++) {
			struct err e2;

			err_clear(&e2);
			ca_ticket_number(num);
			if (store_ticket_add(st, org.id, num, prof->name, &e2) == 0)
				break;
			if (e2.code != ERR_CONFLICT || tries >= 5) {
				err_set(e, e2.code, "%s", e2.msg);
				goto out;
			}
		}
		nums[made++] = xstrdup(num);
	}
	detail = xasprintf("org=%s profile=%s count=%zu", org.code, prof->name, count);
	if (store_audit_append(st, actor, "ticket.create", org.code, detail, NULL, e) == -1)
		goto out;
	if (store_commit(st, e) == -1)
		goto out;
	intx = 0;
	*numbers = nums;
	nums = NULL;
	rc = 0;
out:
	if (intx)
		store_rollback(st);
	if (nums != NULL) {
		for (i = 0; i < made; i++)
			free(nums[i]);
		free(nums);
	}
	free(detail);
	store_org_clear(&org);
	return rc;
}
