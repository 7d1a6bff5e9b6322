-- 0020: ACME orders, authorizations and challenges (RFC 8555 7.1.3, 7.1.4, 8; issue 14;
-- src/ra/acmeorder.c, src/store/store_acme.c).
-- acme_orders: identifiers is the order's JSON array of {type, value} as the RA canonicalised
-- it; serial the certificate once the order is valid.
-- acme_authzs: one authorization per identifier of an order (no reuse across orders yet), with
-- its http-01 challenge (token: 32 random bytes as base64url) in the same row; a table of
-- challenges of its own comes with dns-01 and tls-alpn-01.  error is the challenge's problem
-- document (JSON) after a failed validation.
-- acme_failed_validations: one row per failed validation of a name (for the rate limit of
-- failed validations per name per hour, issue 14 part 5), written with the outcome.
CREATE TABLE acme_orders (
	id {{ID}},
	account_id {{INT}} NOT NULL REFERENCES acme_accounts (id),
	status TEXT NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
	identifiers TEXT NOT NULL,
	expires {{INT}} NOT NULL,
	serial TEXT,
	created {{INT}} NOT NULL,
	updated {{INT}} NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id);

CREATE TABLE acme_authzs (
	id {{ID}},
	order_id {{INT}} NOT NULL REFERENCES acme_orders (id),
	account_id {{INT}} NOT NULL REFERENCES acme_accounts (id),
	type TEXT NOT NULL CHECK (type IN ('dns', 'ip')),
	value TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
	expires {{INT}} NOT NULL,
	token TEXT NOT NULL UNIQUE,
	chall_status TEXT NOT NULL DEFAULT 'pending'
		CHECK (chall_status IN ('pending', 'processing', 'valid', 'invalid')),
	validated {{INT}},
	error TEXT
);
CREATE INDEX acme_authzs_order ON acme_authzs (order_id);

CREATE TABLE acme_failed_validations (
	id {{ID}},
	name TEXT NOT NULL,
	account_id {{INT}} NOT NULL,
	at {{INT}} NOT NULL
);
CREATE INDEX acme_failed_validations_name ON acme_failed_validations (name, at);
