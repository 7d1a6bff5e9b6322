/*
 * libFuzzer target for the bulk TSV reader (src/util/tsv.c) and the bulk line checks
 * (src/ra/bulk.c): hostile uploads never crash, leak nor read out of bounds, and the results
 * hold together (every value NUL-terminated without tab or line end, totals that add up,
 * every error with a code and a message).
 *
 * The first byte chooses: bit 0 the dialect (0 native, 1 UPKI), bits 1-2 the kind (server,
 * client, acme; 3 is server), bits 3-4 the operation among the kind's (server and client:
 * issue, renew, revoke; acme: create, renew, suspend, revoke), bit 7 small limits.  The rest
 * is the file.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ra/ra.h"
#include "util/tsv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_doc(const struct tsv_doc *d)
{
	size_t prev = 0;

	if (d->nlines == 0 || d->encoding >= TSV_ENC__MAX)
		__builtin_trap();
	for (size_t i = 0; i < d->nlines; i++) {
		const struct tsv_line *l = &d->lines[i];

		if (l->lineno <= prev || l->ncols == 0 || l->ncols > TSV_MAX_COLUMNS_DEFAULT)
			__builtin_trap();
		prev = l->lineno;
		for (size_t c = 0; c < l->ncols; c++)
			if (strpbrk(l->cols[c], "\t\r\n") != NULL)
				__builtin_trap();
	}
	if (prev != d->last_lineno)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum ra_bulk_op plain[] = {RA_BULK_ISSUE, RA_BULK_RENEW, RA_BULK_REVOKE};
	static const enum ra_bulk_op acme[] = {RA_BULK_CREATE, RA_BULK_RENEW, RA_BULK_SUSPEND,
					       RA_BULK_REVOKE};
	struct tsv_limits small = {
	    .max_bytes = 4096, .max_lines = 50, .max_field = 600, .max_columns = 20};
	struct ra_bulk_opts o;
	struct ra_bulk_result r;
	struct tsv_doc d;
	struct err e;
	unsigned sel, kind;
	int rc;

	if (size == 0)
		return 0;
	sel = data[0];
	data++;
	size--;
	kind = (sel >> 1) & 3;
	memset(&o, 0, sizeof(o));
	o.dialect = (sel & 1) ? RA_BULK_UPKI : RA_BULK_NATIVE;
	o.kind = kind == 1 ? RA_BULK_CLIENT : kind == 2 ? RA_BULK_ACME : RA_BULK_SERVER;
	o.op = o.kind == RA_BULK_ACME ? acme[(sel >> 3) & 3] : plain[((sel >> 3) & 3) % 3];
	o.limits = (sel & 0x80) ? &small : NULL;

	/* the reader alone, both ways */
	for (unsigned flags = 0; flags <= TSV_UTF8_ONLY; flags++) {
		err_clear(&e);
		rc = tsv_read(data, size, o.limits, flags, &d, &e);
		if (rc == 0)
			check_doc(&d);
		else if (!err_is_set(&e) || d.error == TSV_OK || d.error >= TSV_ERR__MAX ||
			 d.lines != NULL)
			__builtin_trap();
		tsv_doc_free(&d);
	}

	/* the whole check */
	err_clear(&e);
	rc = ra_bulk_check(data, size, &o, &r, &e);
	if (rc == 0) {
		if (r.good + r.bad != r.total || r.nrecs != r.good || err_is_set(&e))
			__builtin_trap();
		for (size_t i = 0; i < r.nrecs; i++)
			if (r.recs[i].line == 0 || (o.kind != RA_BULK_CLIENT && r.recs[i].ndns > 9))
				__builtin_trap();
	} else if (!err_is_set(&e) || r.nerrs == 0 || r.nrecs != 0) {
		__builtin_trap();
	}
	for (size_t i = 0; i < r.nerrs; i++)
		if (r.errs[i].code == RA_BULK_E_NONE || r.errs[i].code >= RA_BULK_E__MAX ||
		    r.errs[i].msg[0] == '\0' || r.errs[i].col >= RA_BULK_COL__MAX)
			__builtin_trap();
	ra_bulk_result_free(&r);
	return 0;
}
