package store

import (
	"context"
	"strings"

	"abuseguard"
)

// Rows of the append-only tables (audit entries, outbox deliveries) are
// not inserted when a change adds them but gathered in the transaction and
// written with multi-row inserts before anything reads those tables in it
// and before the commit. A new blocked case adds two audit entries and a
// delivery per channel: as single inserts they were three statements of
// fourteen, and their pages were copied into the savepoint's journal
// (BenchmarkIngest, November 2026). Nothing can make such a row fail but
// the database itself (I/O, disk full), which fails the whole transaction
// anyway; an event, whose id may conflict, is still inserted at once.
//
// A change that fails takes its rows with it: a savepoint's mark records
// what was gathered and written when the change began, and rolling back
// to it drops the change's rows and queues again the earlier changes' rows
// that a read inside the failed change had written (they went with the
// savepoint).
type deferred struct {
	audit       []abuseguard.AuditEntry
	deliveries  []delivery
	auditN      int // audit[:auditN] are in the database
	deliveriesN int
}

type delivery struct {
	eventID, channel string
	next             int64
}

// mark is the state of the deferred rows when a savepoint began.
type mark struct{ audit, auditN, deliveries, deliveriesN int }

func (d *deferred) mark() mark {
	return mark{len(d.audit), d.auditN, len(d.deliveries), d.deliveriesN}
}

// rollback drops what was gathered since m and forgets what was written
// since: the savepoint's rollback undid it.
func (d *deferred) rollback(m mark) {
	d.audit, d.auditN = d.audit[:m.audit], m.auditN
	d.deliveries, d.deliveriesN = d.deliveries[:m.deliveries], m.deliveriesN
}

// chunks are the row counts of the multi-row statements, largest first:
// a few prepared statements cover any count.
var chunks = []int{64, 16, 4, 1}

// The multi-row statements by row count.
var auditInserts, deliveryInserts = map[int]string{}, map[int]string{}

func init() {
	for _, n := range chunks {
		auditInserts[n] = `INSERT INTO audit (time, actor, action, case_id, address, detail) VALUES ` + values(n, 6)
		deliveryInserts[n] = `INSERT INTO deliveries (event_id, channel, next_attempt) VALUES ` + values(n, 3)
	}
}

// flushAudit writes the gathered audit entries.
func (t *tx) flushAudit(ctx context.Context) error {
	rows := t.def.audit[t.def.auditN:]
	for len(rows) > 0 {
		n := chunkOf(len(rows))
		args := make([]any, 0, 6*n)
		for _, e := range rows[:n] {
			args = append(args, e.Time.UnixNano(), e.Actor, e.Action, e.CaseID, acol(e.Address), e.Detail)
		}
		if _, err := t.exec(ctx, auditInserts[n], args...); err != nil {
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

// flush writes every gathered row.
func (t *tx) flush(ctx context.Context) error {
	if err := t.flushAudit(ctx); err != nil {
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
