-- 0021: ACME, third slice (issue 14; src/ra/acmeorder.c, src/store/store_acme_order.c).
-- acme_authzs.updated: when the authorization or its challenge last moved (0: never), so that
-- a challenge left processing by a crash can be told from one being validated: older than
-- RA_ACME_STALE, it was cut (the validation takes 10 s at most), and reading it ends it.
-- acme_orders_serial: revokeCert finds the order (so the account) of a certificate.
ALTER TABLE acme_authzs ADD COLUMN updated {{INT}} NOT NULL DEFAULT 0;
CREATE INDEX acme_orders_serial ON acme_orders (serial);
