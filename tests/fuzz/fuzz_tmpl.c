/*
 * libFuzzer target for the template parser and renderer (src/web/tmpl.c).  Templates are
 * ours, but a parser bug must still never crash, leak or loop; and a rendered page must never
 * contain a value's '<' unescaped: the values carry a marker byte that template text without
 * that byte cannot produce.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web/web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when the marker byte 0x01 is followed by '<' somewhere in b. */
static int
marker_unescaped(const struct buf *b)
{
	for (size_t i = 0; i + 1 < b->len; i++)
		if (b->data[i] == 0x01 && b->data[i + 1] == '<')
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tmpl_set *ts = tmpl_set_new();
	struct tmpl_data *d = tmpl_data_new(), *r;
	struct buf out;
	struct err e;
	static const char partial[] = "<i>{{a}}</i>{{#l}}[{{b}}]{{/l}}";

	err_clear(&e);
	buf_init(&out, 1 << 16);
	(void)tmpl_set_add(ts, "p", partial, sizeof(partial) - 1, &e);
	err_clear(&e);
	if (tmpl_set_add(ts, "t", (const char *)data, size, &e) == -1)
		goto out;
	tmpl_data_str(d, "a", "\x01<script>\"'&{{a}}");
	tmpl_data_str(d, "b", "\x01<b>");
	tmpl_data_bool(d, "f", 1);
	tmpl_data_html(d, "h", TMPL_HTML("<hr>"));
	r = tmpl_data_add(d, "l");
	tmpl_data_str(r, "a", "\x01<inner>");
	r = tmpl_data_add(d, "l");
	tmpl_data_bool(r, "f", 0);
	for (int strict = 0; strict <= 1; strict++) {
		tmpl_set_strict(ts, strict);
		buf_reset(&out);
		err_clear(&e);
		if (tmpl_render(ts, "t", "p", d, strict ? "ja" : "en", &out, &e) == 0 &&
		    memchr(data, 0x01, size) == NULL && marker_unescaped(&out))
			abort(); /* a value went out unescaped */
	}
out:
	buf_free(&out);
	tmpl_data_free(d);
	tmpl_set_free(ts);
	return 0;
}
