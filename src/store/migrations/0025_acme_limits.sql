-- 0025: ACME rate limits (issue 14 part 5; src/ra/acmelimit.c, src/store/store_acme_limit.c).
-- Each limit counts the events of one key inside a window by an indexed range scan (key, time),
-- reading at most the limit's number of rows:
-- acme_accounts.addr: the client address that created the account (accounts per address);
-- acme_orders (account_id, created): new orders per account;
-- acme_failed_validations (name, at): failed validations per name (0020 has that index);
-- acme_cert_domains: one row per registered domain (Public Suffix List) of each certificate
-- issued through ACME, written in the certificate's own transaction (certificates per domain).
-- The events of the last two tables older than their window are purged (at most once a minute
-- per process), by the indexes on at.
ALTER TABLE acme_accounts ADD COLUMN addr TEXT;
CREATE INDEX acme_accounts_addr ON acme_accounts (addr, created);
CREATE INDEX acme_orders_account_created ON acme_orders (account_id, created);

CREATE TABLE acme_cert_domains (
	id {{ID}},
	domain TEXT NOT NULL,
	serial TEXT NOT NULL,
	at {{INT}} NOT NULL
);
CREATE INDEX acme_cert_domains_domain ON acme_cert_domains (domain, at);
-- rows older than their limit's window are never counted again: purged by time
CREATE INDEX acme_cert_domains_at ON acme_cert_domains (at);
CREATE INDEX acme_failed_validations_at ON acme_failed_validations (at);
