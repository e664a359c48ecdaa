-- +goose Up
-- Fewer b-tree entries per new case, most of them at random places
-- (BenchmarkIngest, November 2026):
--
-- Evidence is keyed by its detection's sequence number instead of the
-- case and detection ids: a new file goes at the end of its key instead of
-- at a random case id, and its foreign key is looked up by rowid. The
-- per-case bound no longer sums the evidence table through an index of its
-- own (evidence_size, a second random entry per file): each detection
-- keeps the count and bytes of its files, written with it.
--
-- blocks_address served only the order of the full list of blocks, which
-- reads every block anyway and now sorts them.

ALTER TABLE detections ADD COLUMN evidence_files INTEGER NOT NULL DEFAULT 0;
ALTER TABLE detections ADD COLUMN evidence_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE detections SET (evidence_files, evidence_bytes) = (SELECT count(*), coalesce(sum(e.size), 0)
	FROM evidence e WHERE e.case_id = detections.case_id AND e.detection_id = detections.id);

CREATE TABLE evidence_v3 (
	detection_seq INTEGER NOT NULL REFERENCES detections (seq) ON DELETE CASCADE,
	idx           INTEGER NOT NULL,
	name          TEXT NOT NULL,
	content_type  TEXT NOT NULL,
	size          INTEGER NOT NULL,
	data          BLOB NOT NULL,
	PRIMARY KEY (detection_seq, idx)
);
INSERT INTO evidence_v3 (detection_seq, idx, name, content_type, size, data)
SELECT d.seq, e.idx, e.name, e.content_type, e.size, e.data
FROM evidence e JOIN detections d ON d.case_id = e.case_id AND d.id = e.detection_id ORDER BY d.seq, e.idx;
DROP TABLE evidence;
ALTER TABLE evidence_v3 RENAME TO evidence;

DROP INDEX blocks_address;

-- +goose Down
CREATE INDEX blocks_address ON blocks (address);

CREATE TABLE evidence_v2 (
	case_id      TEXT NOT NULL,
	detection_id TEXT NOT NULL,
	idx          INTEGER NOT NULL,
	name         TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size         INTEGER NOT NULL,
	data         BLOB NOT NULL,
	PRIMARY KEY (case_id, detection_id, idx),
	FOREIGN KEY (case_id, detection_id) REFERENCES detections (case_id, id) ON DELETE CASCADE
);
INSERT INTO evidence_v2 (case_id, detection_id, idx, name, content_type, size, data)
SELECT d.case_id, d.id, e.idx, e.name, e.content_type, e.size, e.data
FROM evidence e JOIN detections d ON d.seq = e.detection_seq;
DROP TABLE evidence;
ALTER TABLE evidence_v2 RENAME TO evidence;
CREATE INDEX evidence_size ON evidence (case_id, detection_id, size);

ALTER TABLE detections DROP COLUMN evidence_bytes;
ALTER TABLE detections DROP COLUMN evidence_files;
