-- 0023: ACME authorizations of their own (issue 14: reuse, pre-authorization, deactivation,
-- expiry; src/ra/acmeorder.c, src/store/store_acme_order.c).
-- acme_order_authzs: which authorizations an order has.  An authorization may now serve several
-- orders of its account (a valid one is reused until its reuse period ends, a pending one until
-- it expires), so the link is a table of its own; acme_authzs.order_id stays the order the
-- authorization was made for.  The existing pairs are copied.
-- acme_authzs_find: newOrder and revokeCert look an account's authorizations up by identifier.
CREATE TABLE acme_order_authzs (
	order_id {{INT}} NOT NULL REFERENCES acme_orders (id),
	authz_id {{INT}} NOT NULL REFERENCES acme_authzs (id),
	PRIMARY KEY (order_id, authz_id)
);
CREATE INDEX acme_order_authzs_authz ON acme_order_authzs (authz_id);
INSERT INTO acme_order_authzs (order_id, authz_id) SELECT order_id, id FROM acme_authzs;
CREATE INDEX acme_authzs_find ON acme_authzs (account_id, type, value);
