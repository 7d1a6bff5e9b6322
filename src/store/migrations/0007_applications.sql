-- 0007: applications of the portal and their one-time tokens.  An application is registered
-- with a ticket of its organization (the ticket is only marked used at issuance, so an
-- application simply references it) and expires three days later unless its mail link was
-- followed.  tokens keeps only BLAKE2b-256 hashes of the one-time secrets: the mailed link
-- (purpose 'regist-verify') and the single-use nonce of the register form ('regist-form'),
-- which makes a repeated submission find the application it already created.
CREATE TABLE applications (
	id {{ID}},
	org_id {{INT}} NOT NULL REFERENCES organizations (id),
	ticket TEXT NOT NULL REFERENCES tickets (number),
	applicant_type TEXT NOT NULL CHECK (applicant_type IN ('self', 'agent')),
	email TEXT NOT NULL,
	state TEXT NOT NULL DEFAULT 'registered' CHECK (state IN ('registered', 'mail-verified')),
	created {{INT}} NOT NULL,
	expires {{INT}} NOT NULL
);
CREATE INDEX applications_ticket ON applications (ticket);

CREATE TABLE tokens (
	hash {{BLOB}} NOT NULL PRIMARY KEY,
	purpose TEXT NOT NULL,
	application_id {{INT}} REFERENCES applications (id),
	expires {{INT}} NOT NULL,
	used {{INT}}
);
CREATE INDEX tokens_application ON tokens (application_id);
