-- 0023: ACME authorizations of their own (issue 14: reuse, pre-authorization, deactivation,
-- expiry; src/ra/acmeorder.c, src/store/store_acme_order.c).
-- acme_order_authzs: which authorizations an order has.  An authorization may now serve several
-- orders of its account (a valid one is reused until its reuse period ends, a pending one until
-- it expires), so the link is a table of its own; the existing pairs are copied.
-- acme_authzs.order_id: the order the authorization was made for, NULL for a pre-authorization
-- (newAuthz, RFC 8555 7.4.1).  PostgreSQL drops the NOT NULL; SQLite cannot, so the table is
-- rebuilt (ids kept) through a temporary copy with foreign keys deferred: dropping it orphans
-- acme_challs' rows for a moment, and putting each row back restores its children's parent, so
-- nothing is left to violate at commit (renaming the table instead would make acme_challs'
-- foreign key follow the old name).
DROP INDEX acme_authzs_order;
{{PG:ALTER TABLE acme_authzs ALTER COLUMN order_id DROP NOT NULL;}}
{{SQLITE:PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE acme_authzs_copy AS SELECT id, order_id, account_id, type, value, status,
	expires, token, chall_status, validated, error, updated, wildcard FROM acme_authzs;
DROP TABLE acme_authzs;
CREATE TABLE acme_authzs (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	order_id INTEGER REFERENCES acme_orders (id),
	account_id INTEGER NOT NULL REFERENCES acme_accounts (id),
	type TEXT NOT NULL CHECK (type IN ('dns', 'ip')),
	value TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
	expires INTEGER NOT NULL,
	token TEXT NOT NULL UNIQUE,
	chall_status TEXT NOT NULL DEFAULT 'pending'
		CHECK (chall_status IN ('pending', 'processing', 'valid', 'invalid')),
	validated INTEGER,
	error TEXT,
	updated INTEGER NOT NULL DEFAULT 0,
	wildcard INTEGER NOT NULL DEFAULT 0
);
INSERT INTO acme_authzs (id, order_id, account_id, type, value, status, expires, token,
	chall_status, validated, error, updated, wildcard)
	SELECT id, order_id, account_id, type, value, status, expires, token, chall_status,
	validated, error, updated, wildcard FROM acme_authzs_copy ORDER BY id;
DROP TABLE acme_authzs_copy;}}
CREATE INDEX acme_authzs_order ON acme_authzs (order_id);
CREATE TABLE acme_order_authzs (
	order_id {{INT}} NOT NULL REFERENCES acme_orders (id),
	authz_id {{INT}} NOT NULL REFERENCES acme_authzs (id),
	PRIMARY KEY (order_id, authz_id)
);
CREATE INDEX acme_order_authzs_authz ON acme_order_authzs (authz_id);
INSERT INTO acme_order_authzs (order_id, authz_id) SELECT order_id, id FROM acme_authzs;
CREATE INDEX acme_authzs_find ON acme_authzs (account_id, type, value);
