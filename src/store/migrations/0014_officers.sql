-- 0014: RA officers (DESIGN.md 2.5, issue 13; src/ra/officer.c, src/store/store_officer.c).
-- officers: who may use the console.  An officer ('officer') belongs to a member
-- organization; CA operators ('operator') and auditors ('auditor') to none.  perms is a
-- bitmask of RA_PERM_* (server 1, client 2, codesign 4, acme 8, stats 16).
-- officer_enrolments: the mailed certificate URL (token_hash: BLAKE2b-256 of its secret) and
-- its access PIN (pin_hash: BLAKE2b-256 of the PIN keyed with the URL's secret, so the hash
-- alone cannot be brute-forced), wrong PINs counted in tries (5 lock it).  Once issued, the
-- PKCS#12 (encrypted by its PIN, which is never stored) waits under dl_hash until its first
-- download or dl_expires, then p12 is cleared.
-- officer_certs: the officers' certificates, found by the SHA-256 of their DER on every
-- console connection (id orders them: a higher id is a newer certificate).
CREATE TABLE officers (
	id {{ID}},
	org_id {{INT}} REFERENCES organizations (id),
	role TEXT NOT NULL CHECK (role IN ('officer', 'operator', 'auditor')),
	name TEXT NOT NULL,
	email TEXT NOT NULL,
	perms {{INT}} NOT NULL DEFAULT 0,
	status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
	created {{INT}} NOT NULL,
	updated {{INT}} NOT NULL,
	CHECK ((role = 'officer' AND org_id IS NOT NULL) OR (role <> 'officer' AND org_id IS NULL))
);
CREATE INDEX officers_org ON officers (org_id);

CREATE TABLE officer_enrolments (
	id {{ID}},
	officer_id {{INT}} NOT NULL REFERENCES officers (id),
	token_hash {{BLOB}} NOT NULL UNIQUE,
	pin_hash {{BLOB}} NOT NULL,
	tries {{INT}} NOT NULL DEFAULT 0,
	expires {{INT}} NOT NULL,
	state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'locked', 'issued', 'expired')),
	kind TEXT NOT NULL CHECK (kind IN ('enrol', 'renew')),
	cert_serial TEXT,
	p12 {{BLOB}},
	dl_hash {{BLOB}} UNIQUE,
	dl_expires {{INT}},
	created {{INT}} NOT NULL,
	issued {{INT}}
);
CREATE INDEX officer_enrolments_officer ON officer_enrolments (officer_id, state);

CREATE TABLE officer_certs (
	id {{ID}},
	serial TEXT NOT NULL UNIQUE REFERENCES certificates (serial),
	officer_id {{INT}} NOT NULL REFERENCES officers (id),
	fingerprint {{BLOB}} NOT NULL UNIQUE,
	status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'superseded', 'revoked')),
	not_after {{INT}} NOT NULL,
	first_login {{INT}},
	created {{INT}} NOT NULL
);
CREATE INDEX officer_certs_officer ON officer_certs (officer_id, status);
CREATE INDEX officer_certs_not_after ON officer_certs (status, not_after);
