-- 0012: what a portal_downloads row holds, so that a secret of one kind never takes a row of
-- the other (a PKCS#12 download link used as a delivery link destroyed the download).
-- 1 = the holder's PKCS#12 download, 2 = the agent's sealed delivery; rows made before this
-- migration keep NULL and match either kind until they expire (at most 3 days).
ALTER TABLE portal_downloads ADD COLUMN kind {{INT}};
