-- 0015: sessions of the RA officers' console (src/ra/osess.c).  The cookie's id is kept only
-- as its SHA-256; a session belongs to one officer and to the client certificate (SHA-256 of
-- its DER) it logged in with.  ended: when it ended (logout, idle timeout, a changed
-- certificate), with end_reason; audited each time.
CREATE TABLE officer_sessions (
	id_hash {{BLOB}} NOT NULL PRIMARY KEY,
	officer_id {{INT}} NOT NULL,
	fpr {{BLOB}} NOT NULL,
	client TEXT NOT NULL,
	created {{INT}} NOT NULL,
	last_seen {{INT}} NOT NULL,
	ended {{INT}},
	end_reason TEXT
);
CREATE INDEX officer_sessions_open ON officer_sessions (last_seen) WHERE ended IS NULL;
