-- 0009: nonces of signed self-service requests (src/ra).  Only a BLAKE2b-256 hash over the
-- certificate serial and the nonce is kept, until expires (twice the replay window after the
-- request was answered); a nonce is inserted in the same transaction as what the request did
-- (the revocation), and an insert that finds its hash present makes the request stale.
CREATE TABLE online_nonces (
	hash {{BLOB}} NOT NULL PRIMARY KEY,
	expires {{INT}} NOT NULL
);
CREATE INDEX online_nonces_expires ON online_nonces (expires);
