/*
 * Unit tests of route composition: http_routes_compose keeps the tables' order and refuses
 * overlapping or unreachable routes; the web process's listeners compose their modules' tables.
 */
#include "testutil.h"

#include "http/http.h"
#include "serve/serve.h"

static int
h_a(struct http_req *r)
{
	(void)r;
	return 0;
}

static int
h_b(struct http_req *r)
{
	(void)r;
	return 0;
}

static size_t
routes_count(const struct http_route *rt)
{
	size_t n = 0;

	while (rt[n].path != NULL)
		n++;
	return n;
}

static void
test_compose_order(void **state)
{
	static const struct http_route t1[] = {
	    {"GET", "/x", h_a, 0, HTTP_KIND_PLAIN, "x", 0, 0},
	    {"POST", "/x", h_b, 10, HTTP_KIND_HTML, "x", 0, 0},
	    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
	};
	static const struct http_route t2[] = {{NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0}};
	static const struct http_route t3[] = {
	    {"GET", "/p/", h_b, 0, HTTP_KIND_BINARY, "p", 0, 0},
	    {"POST", "/p/q", h_a, 5, HTTP_KIND_API, "pq", 0, 0},
	    {NULL, "/api/", h_a, 7, HTTP_KIND_API, "api", 0, 0},
	    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
	};
	const struct http_route *const tables[] = {t1, t2, t3, NULL};
	const struct http_route *const none[] = {NULL};
	struct http_route *all = NULL;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(http_routes_compose(tables, &all, &e), 0);
	assert_int_equal(routes_count(all), 5);
	assert_string_equal(all[0].path, "/x");
	assert_string_equal(all[0].method, "GET");
	assert_ptr_equal(all[1].fn, h_b);
	assert_int_equal(all[1].max_body, 10);
	assert_string_equal(all[2].path, "/p/");
	assert_int_equal(all[3].kind, HTTP_KIND_API);
	assert_null(all[4].method);
	assert_string_equal(all[4].name, "api");
	free(all);
	assert_int_equal(http_routes_compose(none, &all, &e), 0);
	assert_int_equal(routes_count(all), 0);
	free(all);
}

/* Composes a then b; expects a refusal whose message holds want. */
static void
compose_refused(const struct http_route *a, const struct http_route *b, const char *want)
{
	struct http_route ta[2] = {*a}, tb[2] = {*b}; /* the rest zero: path NULL ends them */
	const struct http_route *const tables[] = {ta, tb, NULL};
	struct http_route *all = (struct http_route *)1;
	struct err e;

	err_clear(&e);
	assert_int_equal(http_routes_compose(tables, &all, &e), -1);
	assert_null(all);
	if (strstr(e.msg, want) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", e.msg, want);
}

static void
compose_ok(const struct http_route *a, const struct http_route *b)
{
	struct http_route ta[2] = {*a}, tb[2] = {*b}; /* the rest zero: path NULL ends them */
	const struct http_route *const tables[] = {ta, tb, NULL};
	struct http_route *all = NULL;
	struct err e;

	err_clear(&e);
	assert_int_equal(http_routes_compose(tables, &all, &e), 0);
	assert_int_equal(routes_count(all), 2);
	free(all);
}

static void
test_compose_refused(void **state)
{
	const struct http_route get_x = {"GET", "/x", h_a, 0, HTTP_KIND_PLAIN, "one", 0, 0};
	const struct http_route get_x2 = {"GET", "/x", h_b, 0, HTTP_KIND_PLAIN, "two", 0, 0};
	const struct http_route head_x = {"HEAD", "/x", h_b, 0, HTTP_KIND_PLAIN, "two", 0, 0};
	const struct http_route post_x = {"POST", "/x", h_b, 0, HTTP_KIND_PLAIN, "two", 0, 0};
	const struct http_route any_x = {NULL, "/x", h_b, 0, HTTP_KIND_PLAIN, "two", 0, 0};
	const struct http_route get_xs = {"GET", "/x/", h_b, 0, HTTP_KIND_PLAIN, "dir", 0, 0};
	const struct http_route get_xsy = {"GET", "/x/y", h_b, 0, HTTP_KIND_PLAIN, "y", 0, 0};
	const struct http_route post_xsy = {"POST", "/x/y", h_b, 0, HTTP_KIND_PLAIN, "y", 0, 0};
	const struct http_route any_xs = {NULL, "/x/", h_b, 0, HTTP_KIND_PLAIN, "dir", 0, 0};
	const struct http_route root = {"GET", "/", h_b, 0, HTTP_KIND_PLAIN, "root", 0, 0};

	(void)state;
	/* one path, methods that meet: the same, any, GET and HEAD (GET answers HEAD) */
	compose_refused(&get_x, &get_x2, "routes GET /x (one) and GET /x (two) overlap");
	compose_refused(&get_x, &any_x, "routes GET /x (one) and * /x (two) overlap");
	compose_refused(&any_x, &get_x, "routes * /x (two) and GET /x (one) overlap");
	compose_refused(&get_x, &head_x, "overlap");
	compose_refused(&head_x, &get_x, "overlap");
	/* a route below an earlier prefix route of its method is never reached */
	compose_refused(&get_xs, &get_xsy, "route GET /x/y (y) is never reached: GET /x/ (dir)");
	compose_refused(&any_xs, &post_xsy, "never reached");
	/* these are fine: other methods, another path, the exact route before the prefix */
	compose_ok(&get_x, &post_x);
	compose_ok(&get_x, &get_xs);
	compose_ok(&get_xsy, &get_xs);
	compose_ok(&get_xs, &post_xsy);
	compose_ok(&root, &get_x); /* "/" is an exact path, not a prefix */
}

/* Finds method path in the composed table; the route or NULL. */
static const struct http_route *
route_get(const struct http_route *all, const char *method, const char *path)
{
	for (; all->path != NULL; all++)
		if (strcmp(all->path, path) == 0 &&
		    ((method == NULL && all->method == NULL) ||
		     (method != NULL && all->method != NULL && strcmp(all->method, method) == 0)))
			return all;
	return NULL;
}

/* The listeners of the web process: their modules' tables compose, with the expected routes. */
static void
test_serve_tables(void **state)
{
	struct http_route *all = NULL;
	const struct http_route *rt;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(http_routes_compose(serve_http_tables, &all, &e), 0);
	assert_int_equal(routes_count(all), 8);
	assert_non_null(route_get(all, "GET", "/healthz"));
	assert_non_null(route_get(all, "GET", "/metrics"));
	assert_non_null(route_get(all, "GET", "/crl/"));
	assert_non_null(route_get(all, "GET", "/ca/"));
	assert_non_null(rt = route_get(all, "POST", "/ocsp"));
	assert_int_equal(rt->max_body, 64 * 1024);
	assert_non_null(route_get(all, "POST", "/ocsp/"));
	assert_non_null(route_get(all, "GET", "/ocsp/"));
	assert_non_null(rt = route_get(all, "POST", "/tsa"));
	assert_int_equal(rt->max_body, 64 * 1024);
	assert_null(route_get(all, "GET", "/"));
	free(all);

	assert_int_equal(http_routes_compose(serve_https_tables, &all, &e), 0);
	assert_int_equal(routes_count(all), 45);
	/* the officers' certificate URL and the user administrators' download: public pages */
	assert_non_null(route_get(all, "GET", "/officer/enrol/"));
	assert_non_null(route_get(all, "POST", "/officer/enrol/"));
	assert_non_null(route_get(all, "POST", "/officer/download"));
	assert_non_null(route_get(all, "GET", "/cert/"));
	assert_non_null(route_get(all, "POST", "/cert/"));
	/* the client certificates' holders and user administrators (console/client.c) */
	assert_non_null(route_get(all, "GET", "/client/"));
	assert_non_null(route_get(all, "POST", "/client/"));
	/* the console's own pages are never on the public listener */
	assert_null(route_get(all, "POST", "/login"));
	assert_null(route_get(all, "GET", "/certs/new"));
	assert_null(route_get(all, "GET", "/officer/renew/"));
	assert_string_equal(all[0].path, "/healthz");
	assert_non_null(rt = route_get(all, NULL, "/api/v1/"));
	assert_int_equal(rt->max_body, 1024 * 1024);
	assert_int_equal(rt->kind, HTTP_KIND_API);
	/* ACME (src/acme): one prefix route, any method, a JWS at most 64 KiB */
	assert_non_null(rt = route_get(all, NULL, "/acme/"));
	assert_int_equal(rt->max_body, 64 * 1024);
	assert_int_equal(rt->kind, HTTP_KIND_API);
	assert_non_null(route_get(all, "GET", "/"));
	assert_non_null(route_get(all, "POST", "/regist/step1"));
	assert_non_null(route_get(all, "POST", "/online/revoke"));
	assert_non_null(route_get(all, "POST", "/reissue/fetch"));
	assert_non_null(route_get(all, "GET", "/revoke/verify"));
	assert_non_null(rt = route_get(all, "POST", "/revoke/verify"));
	assert_int_equal(rt->kind, HTTP_KIND_HTML);
	assert_non_null(route_get(all, "GET", "/ca/"));
	assert_non_null(route_get(all, "POST", "/tsa"));
	assert_null(route_get(all, "GET", "/crl/"));
	assert_null(route_get(all, "GET", "/metrics"));
	assert_null(route_get(all, "POST", "/ocsp"));
	free(all);

	/* the console listener: its pages, nothing of the portal, the API or the relying parties */
	assert_int_equal(http_routes_compose(serve_console_tables, &all, &e), 0);
	assert_non_null(route_get(all, "GET", "/healthz"));
	assert_non_null(route_get(all, "GET", "/"));
	assert_non_null(route_get(all, "POST", "/login"));
	assert_non_null(route_get(all, "POST", "/logout"));
	assert_non_null(route_get(all, "POST", "/certs/new"));
	assert_non_null(route_get(all, "GET", "/officer/renew/"));
	assert_null(route_get(all, "POST", "/regist/step1"));
	assert_null(route_get(all, NULL, "/api/v1/"));
	assert_null(route_get(all, "GET", "/officer/enrol/"));
	assert_null(route_get(all, "GET", "/client/"));
	assert_null(route_get(all, "POST", "/tsa"));
	free(all);
}

/* The log's path: a secret tail masked, by the request's route or (none took it) its prefix. */
static void
test_url_for_log(void **state)
{
	static const struct http_route t[] = {
	    {"GET", "/open/", h_a, 0, HTTP_KIND_HTML, "open", 0, 0},
	    {"GET", "/tok/", h_a, 0, HTTP_KIND_HTML, "tok", 0, 1},
	    {NULL, NULL, NULL, 0, HTTP_KIND_PLAIN, NULL, 0, 0},
	};
	char out[64];

	(void)state;
	assert_string_equal(http_url_for_log(t, &t[1], "/tok/SECRET", out, sizeof(out)), "/tok/*");
	assert_string_equal(http_url_for_log(NULL, &t[1], "/tok/SECRET", out, sizeof(out)),
			    "/tok/*");
	/* a POST to /tok/SECRET: no route (405), still masked */
	assert_string_equal(http_url_for_log(t, NULL, "/tok/SECRET", out, sizeof(out)), "/tok/*");
	assert_string_equal(http_url_for_log(t, &t[0], "/open/x", out, sizeof(out)), "/open/x");
	assert_string_equal(http_url_for_log(t, NULL, "/other", out, sizeof(out)), "/other");
	assert_string_equal(http_url_for_log(NULL, NULL, "/a\nb", out, sizeof(out)), "/a\\x0ab");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compose_order),
	    cmocka_unit_test(test_compose_refused),
	    cmocka_unit_test(test_serve_tables),
	    cmocka_unit_test(test_url_for_log),
	};

	return cmocka_run_group_tests_name("routes", tests, NULL, NULL);
}
