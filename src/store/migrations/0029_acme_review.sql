-- 0029: findings of the ACME server's security review (issue 14; src/ra/acmelimit.c,
-- src/ra/acmeorder.c, src/store/store_acme_limit.c, src/store/store_acme_order.c).
-- acme_authzs.caa_checked: when CAA (RFC 8659) last let this CA issue for the authorization's
-- name (NULL: at its validation, acme_authzs.validated).  finalize checks CAA again when that
-- is more than 8 hours ago (CA/Browser Forum BR 3.2.2.8) and records the time here.
ALTER TABLE acme_authzs ADD COLUMN caa_checked {{INT}};
-- Failed validations per name are counted per (account, name): one account's failures do not
-- stop another account's validations of the name.
CREATE INDEX acme_failed_validations_account ON acme_failed_validations (account_id, name, at);
DROP INDEX acme_failed_validations_name;
-- Certificates per registered domain are counted per (organization, domain): one tenant does
-- not exhaust another's count.  The rows already there take their certificate's organization.
ALTER TABLE acme_cert_domains ADD COLUMN org_id {{INT}};
UPDATE acme_cert_domains SET org_id = (SELECT c.org_id FROM certificates c
	WHERE c.serial = acme_cert_domains.serial);
DROP INDEX acme_cert_domains_domain;
CREATE INDEX acme_cert_domains_org ON acme_cert_domains (org_id, domain, at);
-- The reuse lookup (store_acme_authz_find) reads only unexpired authorizations of the
-- identifier: a range on expires, not every authorization the account ever had of it.
DROP INDEX acme_authzs_find;
CREATE INDEX acme_authzs_find ON acme_authzs (account_id, type, value, expires);
