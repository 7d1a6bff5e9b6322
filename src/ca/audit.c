/* audit: verification of the hash chain written by store_audit_append(). */
#include <stdio.h>
#include <string.h>

#include "ca.h"

struct audit_walk {
	struct ca_audit_report *r;
	int64_t expect;
	unsigned char prev[STORE_HASH_LEN];
};

static int
audit_walk_one(void *arg, const struct store_audit *a)
{
	struct audit_walk *w = arg;
	unsigned char h[STORE_HASH_LEN];

	w->r->entries++;
	if (a->seq != w->expect) {
		w->r->bad_seq = w->expect;
		snprintf(w->r->problem, sizeof(w->r->problem),
			 "entry %lld is missing (found %lld next): removed or reordered",
			 (long long)w->expect, (long long)a->seq);
		return 1;
	}
	if (memcmp(a->prev, w->prev, STORE_HASH_LEN) != 0) {
		w->r->bad_seq = a->seq;
		snprintf(w->r->problem, sizeof(w->r->problem),
			 "entry %lld does not chain to entry %lld: removed or reordered",
			 (long long)a->seq, (long long)a->seq - 1);
		return 1;
	}
	store_audit_hash(a, h);
	if (memcmp(h, a->hash, STORE_HASH_LEN) != 0) {
		w->r->bad_seq = a->seq;
		snprintf(w->r->problem, sizeof(w->r->problem),
			 "entry %lld was modified (hash does not match its contents)",
			 (long long)a->seq);
		return 1;
	}
	memcpy(w->prev, a->hash, STORE_HASH_LEN);
	w->expect++;
	return 0;
}

int
ca_audit_verify(struct store *st, struct ca_audit_report *r, struct err *e)
{
	struct audit_walk w;
	unsigned char head[STORE_HASH_LEN];
	int64_t head_seq;
	int rc;

	memset(r, 0, sizeof(*r));
	memset(&w, 0, sizeof(w));
	w.r = r;
	w.expect = 1;
	rc = store_audit_foreach(st, audit_walk_one, &w, e);
	if (rc == -1 && err_is_set(e))
		return -1;
	if (rc != 0)
		return 1;
	if (store_audit_head(st, &head_seq, head, e) == -1)
		return -1;
	if (head_seq != w.expect - 1 || memcmp(head, w.prev, STORE_HASH_LEN) != 0) {
		r->bad_seq = w.expect;
		snprintf(
		    r->problem, sizeof(r->problem),
		    "chain ends at entry %lld but the head records entry %lld: entries removed "
		    "from the end",
		    (long long)w.expect - 1, (long long)head_seq);
		return 1;
	}
	return 0;
}
