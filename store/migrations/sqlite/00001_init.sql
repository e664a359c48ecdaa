-- +goose Up
-- Times are Unix nanoseconds (UTC), NULL when unset; addresses are text in
-- netip's canonical form.

CREATE TABLE cases (
	id                TEXT PRIMARY KEY,
	reason            TEXT NOT NULL,
	address           TEXT NOT NULL,
	server_id         TEXT NOT NULL DEFAULT '',
	customer_id       TEXT NOT NULL DEFAULT '',
	host_group        TEXT NOT NULL DEFAULT '',
	state             TEXT NOT NULL,
	action            TEXT NOT NULL,
	protected         INTEGER NOT NULL DEFAULT 0,
	dry_run           INTEGER NOT NULL DEFAULT 0,
	note              TEXT NOT NULL DEFAULT '',
	escalation        INTEGER NOT NULL DEFAULT 0,
	access_ip         TEXT,
	opened_at         INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	last_detection_at INTEGER,
	warned_at         INTEGER,
	deadline          INTEGER,
	reminded_at       INTEGER,
	blocked_at        INTEGER,
	block_until       INTEGER,
	unblocked_at      INTEGER,
	probation_until   INTEGER,
	closed_at         INTEGER,
	detection_count   INTEGER NOT NULL DEFAULT 0,
	ongoing           INTEGER NOT NULL DEFAULT 0,
	next_check        INTEGER,
	version           INTEGER NOT NULL
);
-- ActiveCase: the open case of an address and reason.
CREATE INDEX cases_address ON cases (address, reason, opened_at);
-- At most one case per address and reason is not closed: the lifecycle
-- keeps to it, and this holds it even for several writers (PostgreSQL).
CREATE UNIQUE INDEX cases_active ON cases (address, reason) WHERE state != 'closed';
CREATE INDEX cases_customer ON cases (customer_id, opened_at);
CREATE INDEX cases_opened ON cases (opened_at);
-- Timers: only cases with something due are in this index.
CREATE INDEX cases_next_check ON cases (next_check) WHERE next_check IS NOT NULL;

CREATE TABLE detections (
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
	-- attempts, peers and services as JSON: read back whole, never queried.
	details       TEXT NOT NULL DEFAULT '{}',
	PRIMARY KEY (case_id, id)
);
CREATE INDEX detections_id ON detections (id);

CREATE TABLE evidence (
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
-- The per-case evidence bound sums sizes for every kept detection: this
-- index answers it without reading the blobs.
CREATE INDEX evidence_size ON evidence (case_id, detection_id, size);

CREATE TABLE blocks (
	case_id   TEXT PRIMARY KEY REFERENCES cases (id) ON DELETE CASCADE,
	address   TEXT NOT NULL,
	scope     TEXT NOT NULL,
	reason    TEXT NOT NULL,
	access_ip TEXT,
	since     INTEGER NOT NULL,
	until     INTEGER,
	revision  INTEGER NOT NULL
);
CREATE INDEX blocks_address ON blocks (address);

CREATE TABLE block_statuses (
	case_id    TEXT NOT NULL REFERENCES blocks (case_id) ON DELETE CASCADE,
	enforcer   TEXT NOT NULL,
	state      TEXT NOT NULL,
	revision   INTEGER NOT NULL,
	detail     TEXT NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (case_id, enforcer)
);

CREATE TABLE statements (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	case_id      TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	cause        TEXT NOT NULL,
	fix          TEXT NOT NULL,
	prevention   TEXT NOT NULL,
	commitment   INTEGER NOT NULL,
	submitted_at INTEGER NOT NULL,
	submitted_by TEXT NOT NULL
);
CREATE INDEX statements_case ON statements (case_id, id);

CREATE TABLE messages (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	case_id    TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	author     TEXT NOT NULL,
	role       TEXT NOT NULL,
	kind       TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX messages_case ON messages (case_id, id);

CREATE TABLE audit (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	time    INTEGER NOT NULL,
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	case_id TEXT NOT NULL DEFAULT '',
	address TEXT,
	detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_case ON audit (case_id, id);
-- The circuit breaker counts automatic blocks in a window.
CREATE INDEX audit_action ON audit (action, time);

CREATE TABLE events (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT NOT NULL UNIQUE,
	type        TEXT NOT NULL,
	case_id     TEXT NOT NULL DEFAULT '',
	customer_id TEXT NOT NULL DEFAULT '',
	time        INTEGER NOT NULL,
	data        TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE deliveries (
	event_id     TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
	channel      TEXT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	-- NULL once delivered or given up.
	next_attempt INTEGER,
	lease_until  INTEGER,
	last_error   TEXT NOT NULL DEFAULT '',
	delivered_at INTEGER,
	PRIMARY KEY (event_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt) WHERE next_attempt IS NOT NULL;

CREATE TABLE tokens (
	id          TEXT PRIMARY KEY,
	hash        TEXT NOT NULL UNIQUE,
	role        TEXT NOT NULL,
	customer_id TEXT NOT NULL DEFAULT '',
	name        TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	revoked_at  INTEGER
);

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- +goose Down
DROP TABLE meta;
DROP TABLE tokens;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE audit;
DROP TABLE messages;
DROP TABLE statements;
DROP TABLE block_statuses;
DROP TABLE blocks;
DROP TABLE evidence;
DROP TABLE detections;
DROP TABLE cases;
