-- 0002: per-organization API keys for the REST API (/api/v1).
-- A key is "shk_<key_id>_<secret>"; only a keyed BLAKE2b-256 hash of the 256-bit secret is
-- stored (the secret is random, so a fast hash is right), never the secret itself.

CREATE TABLE api_keys (
	id {{ID}},
	key_id TEXT NOT NULL UNIQUE,
	org_id {{INT}} NOT NULL REFERENCES organizations (id),
	name TEXT NOT NULL,
	hash {{BLOB}} NOT NULL,
	disabled {{INT}} NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	created {{INT}} NOT NULL,
	last_used {{INT}}
);
CREATE INDEX api_keys_org ON api_keys (org_id);
