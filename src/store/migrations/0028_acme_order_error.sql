-- 0028: an ACME order's error (RFC 8555 7.1.3), set when the server gives an order up: at
-- start, an order left processing by a crash or a kill (its issuance never committed, or the
-- order would be valid) is made invalid with a serverInternal problem
-- (ra_acme_order_sweep_start).  The partial index finds those orders without a scan.
ALTER TABLE acme_orders ADD COLUMN error TEXT;
CREATE INDEX acme_orders_processing ON acme_orders (updated) WHERE status = 'processing';
