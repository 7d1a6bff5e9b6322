-- 0019: ACME (RFC 8555, issue 14; src/ra/acme.c, src/store/store_acme.c).
-- acme_nonces: the nonces used so far.  A nonce is made without the store (its expiry, 16
-- random bytes and an HMAC under a key derived from keys/acme.key); using one inserts its
-- random part here, and an insert that finds it present refuses the request (badNonce), so a
-- nonce is good once across restarts and across front ends on one database.  Rows go when
-- the nonce would have expired anyway.
-- acme_eab: External Account Binding credentials (RFC 8555 7.3.4) made for an organization
-- (and optionally a list of names within it).  The HMAC key is kept only sealed
-- (XChaCha20-Poly1305 under a key derived from keys/acme.key, associated data the key id and
-- organization), never in clear.  A binding serves one account: account_id is set once.
-- acme_accounts: an account is found by its key's RFC 7638 thumbprint (SHA-256); jwk holds the
-- key's canonical JSON (its required members only), contact a JSON array of mailto: URLs.
CREATE TABLE acme_nonces (
	id {{BLOB}} NOT NULL PRIMARY KEY,
	expires {{INT}} NOT NULL
);
CREATE INDEX acme_nonces_expires ON acme_nonces (expires);

CREATE TABLE acme_eab (
	id {{ID}},
	kid TEXT NOT NULL UNIQUE,
	org_id {{INT}} NOT NULL REFERENCES organizations (id),
	names TEXT NOT NULL DEFAULT '',
	sealed {{BLOB}} NOT NULL,
	status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'revoked')),
	account_id {{INT}},
	created {{INT}} NOT NULL,
	bound {{INT}}
);
CREATE INDEX acme_eab_org ON acme_eab (org_id);

CREATE TABLE acme_accounts (
	id {{ID}},
	thumb {{BLOB}} NOT NULL UNIQUE,
	jwk TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'deactivated', 'revoked')),
	contact TEXT NOT NULL DEFAULT '[]',
	tos_agreed {{INT}} NOT NULL DEFAULT 0,
	org_id {{INT}} REFERENCES organizations (id),
	eab_id {{INT}} UNIQUE REFERENCES acme_eab (id),
	created {{INT}} NOT NULL,
	updated {{INT}} NOT NULL
);
CREATE INDEX acme_accounts_org ON acme_accounts (org_id);
