/* ocsp: stub until the OCSP responder lands. */
#include "ocsp/ocsp.h"

int
ocsp_http_post(struct http_req *r)
{
	return http_reply_text(r, 501, "OCSP not implemented yet\n");
}

int
ocsp_http_get(struct http_req *r)
{
	return http_reply_text(r, 501, "OCSP not implemented yet\n");
}
