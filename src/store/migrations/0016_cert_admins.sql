-- 0016: what the RA officers' console records about the certificates it issues (issue 13
-- part 4; src/ra/orgcert.c, src/store/store_certadmin.c).  One row per certificate: the
-- officer who applied, the kind (server, client, codesign), the user administrator (利用管理者:
-- name, unit, e-mail; later mails go to admin_email) and the server software, the holder of
-- a client certificate.  The user administrator's one-time download URL: dl_hash (BLAKE2b-256
-- of its secret) until dl_expires, dl_used once the button was pressed.  A renewal names the
-- certificate it replaces (replaces); the old one is then 'waiting' (for its replacement) until
-- the user administrator confirms it or replace_due passes, and is revoked (superseded):
-- 'replaced'.  reminded: when the reminder mail about a waiting certificate went out.
-- expiry_mail: the expiry reminders sent (1: 30 days, 2: 7 days; a bit each).
CREATE TABLE cert_admins (
	serial TEXT NOT NULL PRIMARY KEY REFERENCES certificates (serial),
	org_id {{INT}} NOT NULL REFERENCES organizations (id),
	officer_id {{INT}} NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('server', 'client', 'codesign')),
	admin_name TEXT NOT NULL DEFAULT '',
	admin_unit TEXT NOT NULL DEFAULT '',
	admin_email TEXT NOT NULL,
	server_software TEXT NOT NULL DEFAULT '',
	holder_name TEXT NOT NULL DEFAULT '',
	holder_unit TEXT NOT NULL DEFAULT '',
	holder_email TEXT NOT NULL DEFAULT '',
	replaces TEXT,
	replace_state TEXT CHECK (replace_state IN ('waiting', 'replaced')),
	replace_due {{INT}},
	reminded {{INT}},
	dl_hash {{BLOB}} UNIQUE,
	dl_expires {{INT}},
	dl_used {{INT}},
	expiry_mail {{INT}} NOT NULL DEFAULT 0,
	created {{INT}} NOT NULL
);
CREATE INDEX cert_admins_org ON cert_admins (org_id, kind);
CREATE INDEX cert_admins_waiting ON cert_admins (replace_due) WHERE replace_state = 'waiting';
