-- 0008: the issuance half of the portal's applications.  The state machine grows
-- (registered -> mail-verified -> submitted -> [awaiting-approval -> approved] -> issued, or
-- expired / cancelled / rejected), and an application records what the applicant asked for
-- (profile, subject names, key mode), the argon2id hash of the application password, the
-- BLAKE2b-256 hash of the certificate code (unique: the code finds the application), the
-- serial of the issued certificate and the application it re-issues (predecessor_id); an
-- agent's CSR waits in csr for the holder's approval.
-- SQLite cannot alter a CHECK constraint, so both tables are rebuilt (ids kept; tokens is
-- rebuilt too because its foreign key follows the renamed table).  portal_downloads holds a
-- PKCS#12 (encrypted by its PIN, which is never stored) until its single-use link is taken.
DROP INDEX applications_ticket;
DROP INDEX tokens_application;
ALTER TABLE tokens RENAME TO tokens_old;
ALTER TABLE applications RENAME TO applications_old;
CREATE TABLE applications (
	id {{ID}},
	org_id {{INT}} NOT NULL REFERENCES organizations (id),
	ticket TEXT NOT NULL REFERENCES tickets (number),
	applicant_type TEXT NOT NULL CHECK (applicant_type IN ('self', 'agent')),
	email TEXT NOT NULL,
	state TEXT NOT NULL DEFAULT 'registered' CHECK (state IN ('registered', 'mail-verified',
		'submitted', 'awaiting-approval', 'approved', 'issued', 'expired', 'cancelled',
		'rejected')),
	created {{INT}} NOT NULL,
	expires {{INT}} NOT NULL,
	profile TEXT,
	subject_email TEXT,
	name_kanji TEXT,
	name_romaji TEXT,
	ou TEXT,
	hostnames TEXT,
	key_mode TEXT CHECK (key_mode IS NULL OR key_mode IN ('p256', 'rsa2048', 'csr')),
	password_hash TEXT,
	csr TEXT,
	cert_code_hash {{BLOB}} UNIQUE,
	cert_serial TEXT,
	predecessor_id {{INT}} REFERENCES applications (id),
	submitted {{INT}},
	issued {{INT}}
);
INSERT INTO applications (id, org_id, ticket, applicant_type, email, state, created, expires)
	SELECT id, org_id, ticket, applicant_type, email, state, created, expires
	FROM applications_old;
CREATE TABLE tokens (
	hash {{BLOB}} NOT NULL PRIMARY KEY,
	purpose TEXT NOT NULL,
	application_id {{INT}} REFERENCES applications (id),
	expires {{INT}} NOT NULL,
	used {{INT}}
);
INSERT INTO tokens (hash, purpose, application_id, expires, used)
	SELECT hash, purpose, application_id, expires, used FROM tokens_old;
DROP TABLE tokens_old;
DROP TABLE applications_old;
CREATE INDEX applications_ticket ON applications (ticket);
CREATE INDEX applications_subject_email ON applications (subject_email);
CREATE INDEX tokens_application ON tokens (application_id);
{{PG:SELECT setval(pg_get_serial_sequence('applications', 'id'), COALESCE((SELECT MAX(id) FROM applications), 0) + 1, false);}}

CREATE TABLE portal_downloads (
	hash {{BLOB}} NOT NULL PRIMARY KEY,
	application_id {{INT}} NOT NULL REFERENCES applications (id),
	data {{BLOB}} NOT NULL,
	expires {{INT}} NOT NULL
);
CREATE INDEX portal_downloads_application ON portal_downloads (application_id);
