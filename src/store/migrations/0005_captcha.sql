-- 0005: CAPTCHAs of the portal forms.  Only hashes are kept: id_hash is BLAKE2b-256 of the
-- 256-bit random id the form carries, answer_hash a BLAKE2b-256 of the answer keyed with that
-- id (so the short answers cannot be tried against this table without the id).  A row is
-- deleted when an answer is checked (single use) or, once expired, by store_captcha_purge.
CREATE TABLE captchas (
	id_hash {{BLOB}} NOT NULL PRIMARY KEY,
	answer_hash {{BLOB}} NOT NULL,
	purpose TEXT NOT NULL,
	expires {{INT}} NOT NULL
);
CREATE INDEX captchas_expires ON captchas (expires);
