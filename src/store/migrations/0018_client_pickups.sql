-- 0018: client certificates with a key the RA made (issue 13 part 4; src/ra/client.c,
-- src/store/store_client.c).
-- client_pickups: one per certificate delivered to its holder.  The mailed URL (token_hash:
-- BLAKE2b-256 of its secret) and the access PIN (pin_hash: BLAKE2b-256 of the PIN keyed with
-- the URL's secret, so the hash alone cannot be brute-forced); wrong PINs counted in tries (5
-- lock it).  p12: the PKCS#12, whose key is encrypted under the access PIN (never stored), until
-- the one download ('taken') or expires, then cleared.  When the PIN is mailed too, a second
-- URL (pin_link_hash) reveals it once: pin_box is the PIN sealed (XSalsa20-Poly1305) under a key
-- derived from that URL's secret, cleared when shown.
-- client_batches: the ZIP of PKCS#12 files and their PINs for the user administrator,
-- AES-256 encrypted under a password shown once to the officer (never stored); the mailed URL
-- (dl_hash) gives it once (used) until expires, then zip is cleared.
CREATE TABLE client_pickups (
	id {{ID}},
	serial TEXT NOT NULL UNIQUE REFERENCES certificates (serial),
	org_id {{INT}} NOT NULL REFERENCES organizations (id),
	token_hash {{BLOB}} NOT NULL UNIQUE,
	pin_hash {{BLOB}} NOT NULL,
	tries {{INT}} NOT NULL DEFAULT 0,
	state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'locked', 'taken', 'expired')),
	p12 {{BLOB}},
	expires {{INT}} NOT NULL,
	pin_link_hash {{BLOB}} UNIQUE,
	pin_box {{BLOB}},
	created {{INT}} NOT NULL,
	taken {{INT}}
);

CREATE TABLE client_batches (
	id {{ID}},
	org_id {{INT}} NOT NULL REFERENCES organizations (id),
	officer_id {{INT}} NOT NULL,
	dl_hash {{BLOB}} NOT NULL UNIQUE,
	zip {{BLOB}},
	count {{INT}} NOT NULL,
	admin_email TEXT NOT NULL,
	expires {{INT}} NOT NULL,
	used {{INT}},
	created {{INT}} NOT NULL
);
