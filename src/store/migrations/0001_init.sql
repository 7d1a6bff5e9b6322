-- 0001: organizations, tickets, certificates, CRLs, the audit chain and counters.
-- Times are unix seconds.  Serials are upper-case hex.  See src/store/migrations.h for tokens.

CREATE TABLE organizations (
	id {{ID}},
	code TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	created {{INT}} NOT NULL
);

CREATE TABLE org_domains (
	org_id {{INT}} NOT NULL REFERENCES organizations (id),
	domain TEXT NOT NULL,
	PRIMARY KEY (org_id, domain)
);

CREATE TABLE tickets (
	id {{ID}},
	number TEXT NOT NULL UNIQUE,
	org_id {{INT}} NOT NULL REFERENCES organizations (id),
	profile TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'unused' CHECK (status IN ('unused', 'used')),
	cert_serial TEXT,
	created {{INT}} NOT NULL
);
CREATE INDEX tickets_org ON tickets (org_id);

CREATE TABLE certificates (
	serial TEXT NOT NULL PRIMARY KEY,
	ca TEXT NOT NULL,
	subject TEXT NOT NULL,
	sans TEXT,
	profile TEXT NOT NULL,
	org_id {{INT}} REFERENCES organizations (id),
	not_before {{INT}} NOT NULL,
	not_after {{INT}} NOT NULL,
	status {{INT}} NOT NULL DEFAULT 0 CHECK (status IN (0, 1)),
	revoked_at {{INT}},
	reason {{INT}},
	invalidity_date {{INT}},
	predecessor TEXT,
	der {{BLOB}} NOT NULL,
	created {{INT}} NOT NULL
);
-- store_cert_list orders by (created, serial) and filters on these
CREATE INDEX certificates_created ON certificates (created, serial);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_org ON certificates (org_id);
CREATE INDEX certificates_ca_status ON certificates (ca, status, revoked_at);
-- CRL walks (store_revoked_foreach) read revoked serials in order without sorting; partial,
-- so issuing (status 0) never touches it
CREATE INDEX certificates_revoked ON certificates (ca, serial) WHERE status = 1;

CREATE TABLE crls (
	id {{ID}},
	ca TEXT NOT NULL,
	number {{INT}} NOT NULL,
	delta {{INT}} NOT NULL DEFAULT 0 CHECK (delta IN (0, 1)),
	base_number {{INT}},
	this_update {{INT}} NOT NULL,
	next_update {{INT}} NOT NULL,
	der {{BLOB}} NOT NULL,
	created {{INT}} NOT NULL,
	UNIQUE (ca, number)
);

-- entry n carries the hash of entry n-1 (prev_hash); audit_head is the last (seq, hash)
CREATE TABLE audit (
	seq {{INT}} PRIMARY KEY,
	ts {{INT}} NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	object TEXT NOT NULL,
	detail TEXT NOT NULL,
	prev_hash {{BLOB}} NOT NULL,
	hash {{BLOB}} NOT NULL
);

CREATE TABLE audit_head (
	id {{INT}} PRIMARY KEY CHECK (id = 1),
	seq {{INT}} NOT NULL,
	hash {{BLOB}} NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, {{HASH0}});

-- named counters (CRL numbers "crl.<ca>", ticket sequence, TSA serial, ...)
CREATE TABLE counters (
	name TEXT NOT NULL PRIMARY KEY,
	value {{INT}} NOT NULL
);
