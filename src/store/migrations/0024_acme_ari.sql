-- 0024: ACME orders list, renewal information and profiles (issue 14; src/ra/acmeorder.c,
-- src/store/store_acme_order.c).
-- acme_orders.profile: the certificate profile the order asked for (draft-ietf-acme-profiles;
-- "server" unless it named another one acme.profiles offers).
-- acme_orders.replaces: the serial (upper-case hex, as certificates.serial) of the certificate
-- the order replaces (RFC 9773 5), or NULL; replaces_certid the certID the client named it by
-- (the order object shows it).
-- acme_orders_replaced: one certificate is replaced by at most one order being finalized or
-- finalized (processing or valid), so that two renewals racing cannot both be signed; an order
-- left pending or ready holds nothing (a client that gave up does not block the next one).
-- acme_orders_account_id: the orders list of an account, paged by id (keyset).
ALTER TABLE acme_orders ADD COLUMN profile TEXT NOT NULL DEFAULT 'server';
ALTER TABLE acme_orders ADD COLUMN replaces TEXT;
ALTER TABLE acme_orders ADD COLUMN replaces_certid TEXT;
CREATE UNIQUE INDEX acme_orders_replaced ON acme_orders (replaces)
	WHERE replaces IS NOT NULL AND status IN ('processing', 'valid');
CREATE INDEX acme_orders_account_id ON acme_orders (account_id, id);
