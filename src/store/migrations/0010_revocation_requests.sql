-- 0010: revocation requests made on the portal (DESIGN.md 2.2).  A holder names the
-- certificate by organization code, ticket and e-mail; the request waits for its mailed
-- one-time link, of which only the BLAKE2b-256 hash is kept (token_hash).  done is the time the
-- link was followed and the certificate revoked (NULL while pending).
CREATE TABLE revocation_requests (
	id {{ID}},
	serial TEXT NOT NULL REFERENCES certificates (serial),
	reason {{INT}} NOT NULL,
	email TEXT NOT NULL,
	token_hash {{BLOB}} NOT NULL UNIQUE,
	created {{INT}} NOT NULL,
	expires {{INT}} NOT NULL,
	done {{INT}}
);
CREATE INDEX revocation_requests_serial ON revocation_requests (serial);
