/* err: typed errors that carry one clear message up the layers. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "util.h"

void
err_clear(struct err *e)
{
	if (e == NULL)
		return;
	e->code = ERR_OK;
	e->kind = 0;
	e->msg[0] = '\0';
}

int
err_kind(struct err *e, int kind)
{
	if (e != NULL && e->code != ERR_OK && e->kind == 0)
		e->kind = kind;
	return -1;
}

int
err_is_set(const struct err *e)
{
	return e != NULL && e->code != ERR_OK;
}

static void
err_vset(struct err *e, enum err_code code, const char *fmt, va_list ap)
{
	if (e == NULL || e->code != ERR_OK)
		return;
	e->code = code;
	e->kind = 0;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int
err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, code, fmt, ap);
	va_end(ap);
	return -1;
}

int
err_ssl(struct err *e, enum err_code code, const char *fmt, ...)
{
	va_list ap;
	unsigned long l;
	char tmp[256];
	size_t len;

	if (e == NULL || e->code != ERR_OK) {
		ERR_clear_error();
		return -1;
	}
	va_start(ap, fmt);
	err_vset(e, code, fmt, ap);
	va_end(ap);
	if ((l = ERR_peek_last_error()) != 0) {
		ERR_error_string_n(l, tmp, sizeof(tmp));
		len = strlen(e->msg);
		snprintf(e->msg + len, sizeof(e->msg) - len, " (%s)", tmp);
	}
	ERR_clear_error();
	return -1;
}
