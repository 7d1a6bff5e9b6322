/* tsa: stub until the time-stamping authority lands. */
#include "tsa/tsa.h"

int
tsa_http_post(struct http_req *r)
{
	return http_reply_text(r, 501, "TSA not implemented yet\n");
}
