-- The CRL's DER becomes the last column: SQLite then stores a zero-filled blob of the right
-- size without building it in memory, and the CRL is written into it in pieces (incremental
-- blob I/O).  A CRL of a million entries (~47 MB) is thus never copied whole by the store.
CREATE TABLE crls_new (
	id {{ID}},
	ca TEXT NOT NULL,
	number {{INT}} NOT NULL,
	delta {{INT}} NOT NULL DEFAULT 0 CHECK (delta IN (0, 1)),
	base_number {{INT}},
	this_update {{INT}} NOT NULL,
	next_update {{INT}} NOT NULL,
	created {{INT}} NOT NULL,
	der {{BLOB}} NOT NULL,
	UNIQUE (ca, number)
);
INSERT INTO crls_new (ca, number, delta, base_number, this_update, next_update, created, der)
	SELECT ca, number, delta, base_number, this_update, next_update, created, der FROM crls
	ORDER BY id;
DROP TABLE crls;
ALTER TABLE crls_new RENAME TO crls;
