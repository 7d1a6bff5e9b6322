/*
 * static: the portal's static files (the stylesheet).  Only the files of a fixed list are
 * served; they are read once at start-up from the static directory into memory, so a request
 * never touches the file system and no name from the network is ever joined to a path.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "http/http.h"
#include "web.h"

static struct web_static_file web_static_files[] = {
    {"shomei.css", "text/css; charset=utf-8", NULL, 0, "", ""},
};

#define WEB_STATIC_N (sizeof(web_static_files) / sizeof(web_static_files[0]))

void
web_static_unload(void)
{
	for (size_t i = 0; i < WEB_STATIC_N; i++) {
		free(web_static_files[i].data);
		web_static_files[i].data = NULL;
		web_static_files[i].len = 0;
		web_static_files[i].etag[0] = '\0';
		web_static_files[i].version[0] = '\0';
	}
}

int
web_static_load(const char *dir, struct err *e)
{
	int rc = -1;

	web_static_unload();
	for (size_t i = 0; i < WEB_STATIC_N; i++) {
		struct web_static_file *f = &web_static_files[i];
		unsigned char md[SHA256_DIGEST_LENGTH];
		char *path = xasprintf("%s/%s", dir, f->name);
		struct buf b;

		buf_init(&b, WEB_STATIC_MAX);
		if (util_read_file(path, WEB_STATIC_MAX, &b, e) == -1) {
			buf_free(&b);
			free(path);
			goto out;
		}
		free(path);
		SHA256(b.data, b.len, md);
		/* the version in URLs: 64 bits of the content hash; the ETag: 128 bits, quoted */
		hex_encode(f->version, md, WEB_STATIC_VERSION_LEN / 2);
		f->etag[0] = '"';
		hex_encode(f->etag + 1, md, 16);
		f->etag[33] = '"';
		f->etag[34] = '\0';
		f->len = b.len;
		f->data = xmalloc(b.len > 0 ? b.len : 1);
		memcpy(f->data, b.data, b.len);
		buf_free(&b);
	}
	rc = 0;
out:
	if (rc == -1)
		web_static_unload();
	return rc;
}

const struct web_static_file *
web_static_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < WEB_STATIC_N; i++)
		if (web_static_files[i].data != NULL && strcmp(web_static_files[i].name, name) == 0)
			return &web_static_files[i];
	return NULL;
}

const char *
web_static_version(const char *name)
{
	const struct web_static_file *f = web_static_find(name);

	return f != NULL ? f->version : "";
}

/*
 * GET /static/NAME: a file of the fixed list, with its ETag (304 on If-None-Match).  With
 * ?v= equal to the file's version (the URL the layout links) it may be cached for a year; any
 * other request is cached briefly and revalidated.
 */
int
web_static_get(struct http_req *r)
{
	const char *name = r->url + strlen("/static/");
	const struct web_static_file *f = web_static_find(name);
	const char *v = http_query(r, "v"), *inm = http_header(r, "If-None-Match");
	const char *cache;

	if (f == NULL)
		return http_reply_text(r, 404, "not found\n");
	cache = v != NULL && strcmp(v, f->version) == 0 ? "public, max-age=31536000, immutable"
							: "public, max-age=300";
	{
		const char *h[] = {"ETag", f->etag, "Cache-Control", cache, NULL};

		if (inm != NULL && strcmp(inm, f->etag) == 0)
			return http_reply_hdrs(r, 304, NULL, "", 0, h);
		return http_reply_hdrs(r, 200, f->ctype, f->data, f->len, h);
	}
}
