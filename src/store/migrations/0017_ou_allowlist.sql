-- 0017: the OU allow-list (src/ra/allowlist.c): per organization and DNS domain, the OU
-- values a certificate whose names lie in that domain may carry.  A domain without a row
-- allows any OU; a domain with rows allows only those.  Kept by the CA operator.
CREATE TABLE ou_allowlist (
	org_id {{INT}} NOT NULL,
	domain TEXT NOT NULL,
	ou TEXT NOT NULL,
	created {{INT}} NOT NULL,
	PRIMARY KEY (org_id, domain, ou)
);
