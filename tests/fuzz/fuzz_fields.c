/*
 * libFuzzer target for the issuance form's field rules (src/portal/check.c) and the form
 * decoder's large-field and multipart/form-data variants: hostile bytes (made NUL-terminated, as
 * form values are) never crash, leak or read out of bounds; accepted host names come back
 * normalised and re-accepted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portal/portal.h"
#include "ra/ra.h"
#include "web/web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct web_form f;
	struct err e;
	char *s = malloc(size + 1), *out = NULL, *again = NULL;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)ra_name_kanji_ok(s);
	(void)ra_name_romaji_ok(s);
	(void)ra_ou_ok(s);
	(void)ra_password_ok(s);
	err_clear(&e);
	if (ra_hostnames_parse(s, &out, &e) == 0) {
		/* normalised output parses to itself */
		err_clear(&e);
		if (ra_hostnames_parse(out, &again, &e) != 0 || strcmp(out, again) != 0)
			__builtin_trap();
	} else if (!err_is_set(&e) || out != NULL) {
		__builtin_trap();
	}
	free(out);
	free(again);
	err_clear(&e);
	if (web_form_parse_ex(data, size, PORTAL_ISSUE_BODY_MAX, "csr", PORTAL_CSR_FIELD_MAX, &f,
			      &e) == 0) {
		for (size_t i = 0; i < f.n; i++)
			if (strlen(f.v[i].value) > (strcmp(f.v[i].name, "csr") == 0
							? PORTAL_CSR_FIELD_MAX
							: WEB_FORM_VALUE_MAX))
				__builtin_trap();
	} else if (!err_is_set(&e)) {
		__builtin_trap();
	}
	web_form_free(&f);
	/* multipart/form-data: the first line (if short) is the Content-Type, else a fixed one */
	{
		const char *nl = memchr(s, '\n', size < 120 ? size : 120);
		char ct[128];
		const uint8_t *b = data;
		size_t bl = size;

		if (nl != NULL) {
			snprintf(ct, sizeof(ct), "%.*s", (int)(nl - s), s);
			b = data + (nl - s) + 1;
			bl = size - (size_t)(nl - s) - 1;
		} else {
			snprintf(ct, sizeof(ct), "multipart/form-data; boundary=b");
		}
		err_clear(&e);
		if (web_form_parse_multipart(b, bl, ct, PORTAL_ISSUE_BODY_MAX, "csr",
					     PORTAL_CSR_FIELD_MAX, &f, &e) == 0) {
			if (f.n > WEB_FORM_FIELDS_MAX)
				__builtin_trap();
			for (size_t i = 0; i < f.n; i++)
				if (f.v[i].name[0] == '\0' ||
				    strlen(f.v[i].name) > WEB_FORM_NAME_MAX ||
				    strlen(f.v[i].value) > PORTAL_CSR_FIELD_MAX)
					__builtin_trap();
		} else if (!err_is_set(&e)) {
			__builtin_trap();
		}
		web_form_free(&f);
	}
	free(s);
	return 0;
}
