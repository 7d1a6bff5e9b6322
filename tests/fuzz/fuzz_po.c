/*
 * libFuzzer target for the .po catalog reader (i18n_po_parse in src/web/i18n.c): hostile
 * bytes yield a clean refusal, never a crash, leak or undefined behaviour; whatever it accepts
 * answers lookups with NUL-terminated strings.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "web/web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct i18n_cat *c = NULL;
	struct err e;
	const char *s;

	err_clear(&e);
	if (i18n_po_parse("fuzz.po", (const char *)data, size, &c, &e) == -1) {
		if (c != NULL || !err_is_set(&e))
			__builtin_trap();
		return 0;
	}
	if ((s = i18n_cat_get(c, "a")) != NULL)
		(void)strlen(s);
	(void)i18n_cat_get(c, "");
	(void)i18n_cat_count(c);
	i18n_cat_free(c);
	return 0;
}
