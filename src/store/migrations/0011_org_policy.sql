-- 0011: an organization's name policy beyond its DNS domains (src/ra/policy.c).  org_names
-- holds the mail domains its rfc822Names may use (none listed: its DNS domains), the IP
-- addresses or prefixes its iPAddress names may use and the URIs (exact, or a prefix ending in
-- "/") its URI names may use.  unrestricted = 1: an operator lets it certify any name (an
-- organization without any domain can otherwise issue nothing).
ALTER TABLE organizations ADD COLUMN unrestricted {{INT}} NOT NULL DEFAULT 0;

CREATE TABLE org_names (
	org_id {{INT}} NOT NULL REFERENCES organizations (id),
	kind TEXT NOT NULL CHECK (kind IN ('mail', 'ip', 'uri')),
	value TEXT NOT NULL,
	PRIMARY KEY (org_id, kind, value)
);
