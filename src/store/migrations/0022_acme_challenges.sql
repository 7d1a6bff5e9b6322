-- 0022: ACME challenges of their own (RFC 8555 7.1.4, 7.1.5, 8; issue 14, the dns slice;
-- src/ra/acmeorder.c, src/store/store_acme_order.c).
-- acme_challs: the challenges an authorization offers (http-01, dns-01, tls-alpn-01; a
-- wildcard's only dns-01), each with its own id (its URL), token (32 random bytes as
-- base64url), status, validation time and problem document (JSON) after a failure.
-- acme_authzs.chall_status now says how the authorization's one attempt stands: a client
-- answering a challenge moves it pending -> processing together with that challenge, so that
-- a second challenge of the same authorization cannot start meanwhile; it ends valid or
-- invalid with that challenge (7.1.6: answering one settles the authorization).  token keeps
-- the first challenge's token (NOT NULL UNIQUE since 0020), error the attempt's problem.
-- acme_authzs.wildcard: 1 when the order named *.value (7.1.3).
-- The challenge of each authorization made before is carried over as its http-01 challenge.
CREATE TABLE acme_challs (
	id {{ID}},
	authz_id {{INT}} NOT NULL REFERENCES acme_authzs (id),
	type TEXT NOT NULL CHECK (type IN ('http-01', 'dns-01', 'tls-alpn-01')),
	token TEXT NOT NULL UNIQUE,
	status TEXT NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
	validated {{INT}},
	error TEXT,
	updated {{INT}} NOT NULL DEFAULT 0
);
CREATE INDEX acme_challs_authz ON acme_challs (authz_id);
ALTER TABLE acme_authzs ADD COLUMN wildcard {{INT}} NOT NULL DEFAULT 0;
INSERT INTO acme_challs (authz_id, type, token, status, validated, error, updated)
	SELECT id, 'http-01', token, chall_status, validated, error, updated FROM acme_authzs;
