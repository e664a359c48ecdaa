-- +goose Up
-- The write path of a burst of detections (BenchmarkIngest, November 2026):
--
-- Detections are numbered in one sequence, their rowid, instead of per case:
-- computing max(seq) + 1 read every detection of the case on each insert.
-- The order within a case is kept; the sequence now also orders the same
-- detection id across cases. Evidence is rebuilt only to follow its parent.
--
-- Deliveries are keyed by (event_id, channel) alone (WITHOUT ROWID): a tree
-- less to insert into per delivery.
--
-- Rebuilt under foreign_keys = ON (a migration runs in a transaction, where
-- the pragma cannot change): the new tables reference the new ones, the old
-- children are dropped before their parents, so no cascade reaches a copy.

CREATE TABLE detections_v2 (
	seq           INTEGER PRIMARY KEY,
	case_id       TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	id            TEXT NOT NULL,
	kind          TEXT NOT NULL,
	subkind       TEXT NOT NULL DEFAULT '',
	address       TEXT NOT NULL,
	direction     TEXT NOT NULL DEFAULT '',
	first_seen    INTEGER,
	last_seen     INTEGER,
	value         REAL NOT NULL DEFAULT 0,
	threshold     REAL NOT NULL DEFAULT 0,
	unit          TEXT NOT NULL DEFAULT '',
	packets       INTEGER NOT NULL DEFAULT 0,
	bytes         INTEGER NOT NULL DEFAULT 0,
	pps           REAL NOT NULL DEFAULT 0,
	bps           REAL NOT NULL DEFAULT 0,
	distinct_n    INTEGER NOT NULL DEFAULT 0,
	sampling_rate INTEGER NOT NULL DEFAULT 1,
	final         INTEGER NOT NULL DEFAULT 0,
	attempts_total INTEGER NOT NULL DEFAULT 0,
	-- attempts, peers and services as JSON: read back whole, never queried.
	details       TEXT NOT NULL DEFAULT '{}',
	UNIQUE (case_id, id)
);
INSERT INTO detections_v2 (case_id, id, kind, subkind, address, direction, first_seen, last_seen, value,
	threshold, unit, packets, bytes, pps, bps, distinct_n, sampling_rate, final, attempts_total, details)
SELECT case_id, id, kind, subkind, address, direction, first_seen, last_seen, value,
	threshold, unit, packets, bytes, pps, bps, distinct_n, sampling_rate, final, attempts_total, details
FROM detections ORDER BY case_id, seq;

CREATE TABLE evidence_v2 (
	case_id      TEXT NOT NULL,
	detection_id TEXT NOT NULL,
	idx          INTEGER NOT NULL,
	name         TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size         INTEGER NOT NULL,
	data         BLOB NOT NULL,
	PRIMARY KEY (case_id, detection_id, idx),
	FOREIGN KEY (case_id, detection_id) REFERENCES detections_v2 (case_id, id) ON DELETE CASCADE
);
INSERT INTO evidence_v2 (case_id, detection_id, idx, name, content_type, size, data)
SELECT case_id, detection_id, idx, name, content_type, size, data FROM evidence;

DROP TABLE evidence;
DROP TABLE detections;
-- Renaming rewrites evidence_v2's reference to the new name.
ALTER TABLE detections_v2 RENAME TO detections;
ALTER TABLE evidence_v2 RENAME TO evidence;
CREATE INDEX detections_id ON detections (id);
-- The per-case evidence bound sums sizes for every kept detection: this
-- index answers it without reading the blobs.
CREATE INDEX evidence_size ON evidence (case_id, detection_id, size);

CREATE TABLE deliveries_v2 (
	event_id     TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
	channel      TEXT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	-- NULL once delivered or given up.
	next_attempt INTEGER,
	lease_until  INTEGER,
	last_error   TEXT NOT NULL DEFAULT '',
	delivered_at INTEGER,
	PRIMARY KEY (event_id, channel)
) WITHOUT ROWID;
INSERT INTO deliveries_v2 (event_id, channel, attempts, next_attempt, lease_until, last_error, delivered_at)
SELECT event_id, channel, attempts, next_attempt, lease_until, last_error, delivered_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_v2 RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries (next_attempt) WHERE next_attempt IS NOT NULL;

-- +goose Down
CREATE TABLE detections_v1 (
	case_id       TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	id            TEXT NOT NULL,
	seq           INTEGER NOT NULL,
	kind          TEXT NOT NULL,
	subkind       TEXT NOT NULL DEFAULT '',
	address       TEXT NOT NULL,
	direction     TEXT NOT NULL DEFAULT '',
	first_seen    INTEGER,
	last_seen     INTEGER,
	value         REAL NOT NULL DEFAULT 0,
	threshold     REAL NOT NULL DEFAULT 0,
	unit          TEXT NOT NULL DEFAULT '',
	packets       INTEGER NOT NULL DEFAULT 0,
	bytes         INTEGER NOT NULL DEFAULT 0,
	pps           REAL NOT NULL DEFAULT 0,
	bps           REAL NOT NULL DEFAULT 0,
	distinct_n    INTEGER NOT NULL DEFAULT 0,
	sampling_rate INTEGER NOT NULL DEFAULT 1,
	final         INTEGER NOT NULL DEFAULT 0,
	attempts_total INTEGER NOT NULL DEFAULT 0,
	details       TEXT NOT NULL DEFAULT '{}',
	PRIMARY KEY (case_id, id)
);
INSERT INTO detections_v1 (case_id, id, seq, kind, subkind, address, direction, first_seen, last_seen, value,
	threshold, unit, packets, bytes, pps, bps, distinct_n, sampling_rate, final, attempts_total, details)
SELECT case_id, id, row_number() OVER (PARTITION BY case_id ORDER BY seq), kind, subkind, address, direction,
	first_seen, last_seen, value, threshold, unit, packets, bytes, pps, bps, distinct_n, sampling_rate, final,
	attempts_total, details
FROM detections;
CREATE TABLE evidence_v1 (
	case_id      TEXT NOT NULL,
	detection_id TEXT NOT NULL,
	idx          INTEGER NOT NULL,
	name         TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size         INTEGER NOT NULL,
	data         BLOB NOT NULL,
	PRIMARY KEY (case_id, detection_id, idx),
	FOREIGN KEY (case_id, detection_id) REFERENCES detections_v1 (case_id, id) ON DELETE CASCADE
);
INSERT INTO evidence_v1 SELECT case_id, detection_id, idx, name, content_type, size, data FROM evidence;
DROP TABLE evidence;
DROP TABLE detections;
ALTER TABLE detections_v1 RENAME TO detections;
ALTER TABLE evidence_v1 RENAME TO evidence;
CREATE INDEX detections_id ON detections (id);
CREATE INDEX evidence_size ON evidence (case_id, detection_id, size);

CREATE TABLE deliveries_v1 (
	event_id     TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
	channel      TEXT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER,
	lease_until  INTEGER,
	last_error   TEXT NOT NULL DEFAULT '',
	delivered_at INTEGER,
	PRIMARY KEY (event_id, channel)
);
INSERT INTO deliveries_v1 SELECT event_id, channel, attempts, next_attempt, lease_until, last_error, delivered_at
FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_v1 RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries (next_attempt) WHERE next_attempt IS NOT NULL;
