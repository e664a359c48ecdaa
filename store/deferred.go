package store

import (
	"context"
	"strings"

	"abuseguard"
)

// Rows that only get added (audit entries, outbox deliveries, evidence
// files) are not inserted when a change adds them but gathered in the
// transaction and written with multi-row inserts before anything reads
// them in it and before the commit. A new blocked case adds two audit
// entries, a delivery per channel and its evidence: as single inserts they
// were four statements of fourteen, and their pages were copied into the
// savepoint's journal of every change (BenchmarkIngest, November 2026).
// Nothing can make such a row fail but the database itself (I/O, disk
// full), which fails the whole transaction anyway; an event, whose id may
// conflict, is still inserted at once. Evidence is read in a write
// transaction only to list it and before it is replaced (which writes it
// first); the bound on a case's evidence reads the sizes its detections
// keep (EvidenceUsage).
//
// A change that fails takes its rows with it: a savepoint's mark records
// what was gathered and written when the change began, and rolling back
// to it drops the change's rows and queues again the earlier changes' rows
// that a read inside the failed change had written (they went with the
// savepoint).
type deferred struct {
	audit       []abuseguard.AuditEntry
	deliveries  []delivery
	evidence    []evidenceRow
	auditN      int // audit[:auditN] are in the database
	deliveriesN int
	evidenceN   int
}

type evidenceRow struct {
	detectionSeq int64
	idx          int
	e            abuseguard.Evidence
}

type delivery struct {
	eventID, channel string
	next             int64
}

// mark is the state of the deferred rows when a savepoint began.
type mark struct{ audit, auditN, deliveries, deliveriesN, evidence, evidenceN int }

func (d *deferred) mark() mark {
	return mark{len(d.audit), d.auditN, len(d.deliveries), d.deliveriesN, len(d.evidence), d.evidenceN}
}

// rollback drops what was gathered since m and forgets what was written
// since: the savepoint's rollback undid it.
func (d *deferred) rollback(m mark) {
	d.audit, d.auditN = d.audit[:m.audit], m.auditN
	d.deliveries, d.deliveriesN = d.deliveries[:m.deliveries], m.deliveriesN
	clear(d.evidence[m.evidence:]) // the files' data is not held longer than needed
	d.evidence, d.evidenceN = d.evidence[:m.evidence], m.evidenceN
}

// drop drops what was gathered since m when nothing of it was written
// (a change failed without a savepoint, see Store.UpdateBatch); rows of
// earlier changes written since stay written.
func (d *deferred) drop(m mark) {
	d.audit, d.deliveries = d.audit[:m.audit], d.deliveries[:m.deliveries]
	clear(d.evidence[m.evidence:])
	d.evidence = d.evidence[:m.evidence]
}

// chunks are the row counts of the multi-row statements, largest first:
// a few prepared statements cover any count.
var chunks = []int{64, 16, 4, 1}

// The multi-row statements by row count.
var auditInserts, deliveryInserts, evidenceInserts = map[int]string{}, map[int]string{}, map[int]string{}

func init() {
	for _, n := range chunks {
		auditInserts[n] = `INSERT OR FAIL INTO audit (time, actor, action, case_id, address, detail) VALUES ` +
			values(n, 6)
		deliveryInserts[n] = `INSERT INTO deliveries (event_id, channel, next_attempt) VALUES ` + values(n, 3)
		evidenceInserts[n] = `INSERT INTO evidence (detection_seq, idx, name, content_type, size, data) VALUES ` +
			values(n, 6)
	}
}

// flushAudit writes the gathered audit entries.
//
// The inserts are OR FAIL rather than the default ABORT: a statement that
// may abort half-way makes SQLite copy every page it is about to change
// into a statement journal first, so that it can undo its own rows, and
// audit_case puts each entry on a random page (its case id): that copying
// was a third of writing an entry (4 of 12 µs in a micro-benchmark of
// 64-row inserts, November 2026). No constraint can fail an audit row (no
// unique key but the rowid, no foreign key, every NOT NULL column always
// given), so only the database itself can fail the insert, and since OR
// FAIL keeps the rows written before the failure, any failure here fails
// the whole batch (t.broken): a batch going on would write those rows again.
func (t *tx) flushAudit(ctx context.Context) error {
	rows := t.def.audit[t.def.auditN:]
	// Rows of earlier changes are theirs: the running change wrote only
	// if some of its own are written.
	defer func(wrote bool) { t.wrote = wrote || t.def.auditN > t.own.audit }(t.wrote)
	for len(rows) > 0 {
		n := chunkOf(len(rows))
		args := make([]any, 0, 6*n)
		for _, e := range rows[:n] {
			args = append(args, e.Time.UnixNano(), e.Actor, e.Action, e.CaseID, acol(e.Address), e.Detail)
		}
		if _, err := t.exec(ctx, auditInserts[n], args...); err != nil {
			if t.broken == nil {
				t.broken = err
			}
			return internal("add audit", err)
		}
		rows = rows[n:]
		t.def.auditN += n
	}
	return nil
}

// flushDeliveries writes the gathered deliveries.
func (t *tx) flushDeliveries(ctx context.Context) error {
	rows := t.def.deliveries[t.def.deliveriesN:]
	defer func(wrote bool) { t.wrote = wrote || t.def.deliveriesN > t.own.deliveries }(t.wrote) // see flushAudit
	for len(rows) > 0 {
		n := chunkOf(len(rows))
		args := make([]any, 0, 3*n)
		for _, d := range rows[:n] {
			args = append(args, d.eventID, d.channel, d.next)
		}
		if _, err := t.exec(ctx, deliveryInserts[n], args...); err != nil {
			return internal("add delivery", err)
		}
		rows = rows[n:]
		t.def.deliveriesN += n
	}
	return nil
}

// flushEvidence writes the gathered evidence files.
func (t *tx) flushEvidence(ctx context.Context) error {
	rows := t.def.evidence[t.def.evidenceN:]
	defer func(wrote bool) { t.wrote = wrote || t.def.evidenceN > t.own.evidence }(t.wrote) // see flushAudit
	for len(rows) > 0 {
		n := chunkOf(len(rows))
		args := make([]any, 0, 6*n)
		for _, r := range rows[:n] {
			args = append(args, r.detectionSeq, int64(r.idx), r.e.Name, r.e.ContentType, int64(len(r.e.Data)), r.e.Data)
		}
		if _, err := t.exec(ctx, evidenceInserts[n], args...); err != nil {
			return internal("put evidence", err)
		}
		rows = rows[n:]
		t.def.evidenceN += n
	}
	return nil
}

// flush writes every gathered row.
func (t *tx) flush(ctx context.Context) error {
	if err := t.flushAudit(ctx); err != nil {
		return err
	}
	if err := t.flushEvidence(ctx); err != nil {
		return err
	}
	return t.flushDeliveries(ctx)
}

func chunkOf(n int) int {
	for _, c := range chunks {
		if n >= c {
			return c
		}
	}
	return 1
}

// values returns "(?, ?), (?, ?)" for rows rows of cols columns.
func values(rows, cols int) string {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return row + strings.Repeat(", "+row, rows-1)
}
