-- 0013: the REST API's Idempotency-Key (src/ra/idem.c).  A row per key an API key used:
-- key_hash = SHA-256 of the API key's id and the client's key, request_hash = SHA-256 of the
-- method, path and body.  status 0 while the request runs (started says since when), then
-- the answer kept until expires so that a retried POST gets it again instead of a second
-- certificate.
CREATE TABLE api_idempotency (
	key_hash {{BLOB}} NOT NULL PRIMARY KEY,
	request_hash {{BLOB}} NOT NULL,
	status {{INT}} NOT NULL,
	location TEXT,
	body {{BLOB}},
	started {{INT}} NOT NULL,
	expires {{INT}} NOT NULL
);
CREATE INDEX api_idempotency_expires ON api_idempotency (expires);
