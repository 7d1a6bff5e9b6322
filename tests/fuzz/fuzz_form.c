/*
 * libFuzzer target for the urlencoded form decoder (web_form_parse in src/web/form.c):
 * hostile bytes yield a clean refusal, never a crash, leak or undefined behaviour; whatever it
 * accepts has at most WEB_FORM_FIELDS_MAX distinct, non-empty names and values within their
 * limits.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "web/web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct web_form f;
	struct err e;

	err_clear(&e);
	if (web_form_parse(data, size, &f, &e) == -1) {
		if (!err_is_set(&e))
			__builtin_trap();
		web_form_free(&f);
		return 0;
	}
	if (f.n > WEB_FORM_FIELDS_MAX)
		__builtin_trap();
	for (size_t i = 0; i < f.n; i++) {
		size_t nl = strlen(f.v[i].name), vl = strlen(f.v[i].value);

		if (nl == 0 || nl > WEB_FORM_NAME_MAX || vl > WEB_FORM_VALUE_MAX ||
		    web_form_get(&f, f.v[i].name) != f.v[i].value)
			__builtin_trap();
	}
	web_form_free(&f);
	return 0;
}
