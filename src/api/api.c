/* api: stub until the REST API lands. */
#include "api/api.h"

int
api_http(struct http_req *r)
{
	return http_reply_problem(r, 501, NULL, "Not implemented", "the REST API is not built yet");
}
