/*
 * opform: the console forms whose answer shows a secret once (a new officer's access PIN, a
 * re-enrolment's).  The form's sealed nonce is recorded before the operation, in a statement
 * of its own: the same form sent again (reload, Back, a double click) finds it and does
 * nothing.  A failed operation leaves the nonce used; the face shows a fresh form.
 */
#include <string.h>

#include "ra.h"

int
ra_form_claim(struct store *st, const unsigned char nonce[RA_TOKEN_LEN], int *seen, struct err *e)
{
	unsigned char h[STORE_HASH_LEN];
	time_t now = util_now();
	struct err se;
	int rc = -1;

	*seen = 0;
	err_clear(&se);
	ra_token_hash(nonce, h);
	if (store_token_add(st, h, STORE_TOKEN_OFFICER_FORM, 0, now + RA_FORM_TTL, now, &se) ==
	    -1) {
		if (se.code != ERR_CONFLICT) {
			*e = se;
			goto out;
		}
		*seen = 1;
	}
	rc = 0;
out:
	return rc;
}
