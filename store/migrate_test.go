package store

import (
	"context"
	"database/sql"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"abuseguard"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"
)

// openRaw opens the database file without the store, foreign keys on as
// the store has them.
func openRaw(t *testing.T, path string) (*sql.DB, *goose.Provider) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	fsys, err := fs.Sub(migrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	return db, p
}

// TestMigrationWritePath fills a database of the first schema, opens it
// (migration 2 renumbers detections and rebuilds evidence and deliveries,
// 3 keys evidence by detection and keeps its sizes with the detections)
// and finds everything as it was, then migrates down and up again.
func TestMigrationWritePath(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, p := openRaw(t, path)
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).UnixNano()
	for _, q := range []string{
		`INSERT INTO cases (id, reason, address, state, action, opened_at, updated_at, version)
			VALUES ('AG-000001', 'netscan', '100.70.0.10', 'blocked', 'block', 1, 1, 1),
			       ('AG-000002', 'netscan', '100.70.0.11', 'open', 'warn', 2, 2, 1)`,
		// Per-case numbers: d-b came before d-a in AG-000001.
		`INSERT INTO detections (case_id, id, seq, kind, address, first_seen, last_seen, value)
			VALUES ('AG-000001', 'd-a', 2, 'netscan', '100.70.0.10', 1, 1, 200),
			       ('AG-000001', 'd-b', 1, 'netscan', '100.70.0.10', 1, 1, 100),
			       ('AG-000002', 'd-c', 1, 'netscan', '100.70.0.11', 1, 1, 300)`,
		`INSERT INTO evidence (case_id, detection_id, idx, name, content_type, size, data)
			VALUES ('AG-000001', 'd-a', 0, 'a.log', 'text/plain; charset=utf-8', 1, X'61'),
			       ('AG-000001', 'd-b', 0, 'b.log', 'text/plain; charset=utf-8', 1, X'62'),
			       ('AG-000001', 'd-b', 1, 'b.pcap', 'application/vnd.tcpdump.pcap', 2, X'6263')`,
		`INSERT INTO events (id, type, case_id, time) VALUES ('e1', 'blocked', 'AG-000001', 1)`,
		`INSERT INTO deliveries (event_id, channel, attempts, next_attempt, delivered_at)
			VALUES ('e1', 'mail', 1, NULL, 5), ('e1', 'webhook:ops', 0, 1, NULL)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), path, []string{"mail", "webhook:ops"})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	type det struct {
		ID       string
		Value    float64
		Evidence []string
	}
	check := func(want ...det) {
		t.Helper()
		var c *abuseguard.Case
		var ev *abuseguard.Evidence
		var caseOf string
		var usage [2]evidenceUsage
		err := s.View(ctx, func(tx abuseguard.CaseTx) (err error) {
			// The evidence bound: all of the case's files, and all but d-b's.
			for i, except := range []string{"", "d-b"} {
				if usage[i].Files, usage[i].Bytes, err = tx.EvidenceUsage(ctx, "AG-000001", except); err != nil {
					return err
				}
			}
			if c, err = tx.CaseDetail(ctx, "AG-000001"); err != nil {
				return err
			}
			if ev, err = tx.Evidence(ctx, "AG-000001", 1); err != nil {
				return err
			}
			caseOf, _, err = tx.DetectionOf(ctx, "d-c")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []det
		for _, d := range c.Detections {
			x := det{ID: d.ID, Value: d.Value}
			for _, e := range d.Evidence {
				x.Evidence = append(x.Evidence, e.Name)
			}
			got = append(got, x)
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Fatalf("detections of AG-000001 (-got, +want):\n%s", diff)
		}
		var all, butB evidenceUsage
		for _, d := range want {
			for _, name := range d.Evidence {
				n := int64(len(evidenceData[name]))
				all.Files, all.Bytes = all.Files+1, all.Bytes+n
				if d.ID != "d-b" {
					butB.Files, butB.Bytes = butB.Files+1, butB.Bytes+n
				}
			}
		}
		if diff := cmp.Diff(usage, [2]evidenceUsage{all, butB}); diff != "" {
			t.Fatalf("EvidenceUsage(AG-000001, \"\" and \"d-b\") (-got, +want):\n%s", diff)
		}
		if ev.Name != "b.pcap" || string(ev.Data) != "bc" || caseOf != "AG-000002" {
			t.Fatalf("Evidence(1) = %s %q, DetectionOf(d-c) = %s", ev.Name, ev.Data, caseOf)
		}
	}
	migrated := []det{{"d-b", 100, []string{"b.log", "b.pcap"}}, {"d-a", 200, []string{"a.log"}}}
	check(migrated...)
	ds, err := s.Deliveries(ctx)
	if err != nil || len(ds) != 2 || ds[0].DeliveredAt.UnixNano() != 5 || ds[1].NextAttempt.UnixNano() != 1 {
		t.Fatalf("Deliveries() = %+v, %v", ds, err)
	}
	// The migrated tables take new rows: a detection goes last in its case.
	err = s.Update(ctx, func(tx abuseguard.CaseTx) error {
		return tx.PutDetection(ctx, "AG-000001", &abuseguard.Detection{ID: "d-new", Kind: abuseguard.ReasonNetscan,
			Address: netip.MustParseAddr("100.70.0.10"), FirstSeen: time.Unix(0, t0), LastSeen: time.Unix(0, t0),
			Evidence: []abuseguard.Evidence{{Name: "n.log", ContentType: "text/plain; charset=utf-8", Data: []byte("n")}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	var last string
	s.View(ctx, func(tx abuseguard.CaseTx) error {
		c, err := tx.CaseDetail(ctx, "AG-000001")
		if err == nil {
			last = c.Detections[len(c.Detections)-1].ID
		}
		return err
	})
	if last != "d-new" {
		t.Fatalf("last detection = %q, want d-new", last)
	}
	s.Close()

	// Down restores the first schema with per-case numbers, up again the
	// second, with the same content.
	db, p = openRaw(t, path)
	if _, err := p.DownTo(ctx, 1); err != nil {
		t.Fatalf("DownTo(1) = %v", err)
	}
	var seqs []int
	rows, err := db.QueryContext(ctx, `SELECT seq FROM detections WHERE case_id = 'AG-000001' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n int
		rows.Scan(&n)
		seqs = append(seqs, n)
	}
	rows.Close()
	if diff := cmp.Diff(seqs, []int{2, 1, 3}); diff != "" { // d-a, d-b, d-new
		t.Fatalf("per-case seq after down (-got, +want):\n%s", diff)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("Up() again = %v", err)
	}
	var problems int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check`).Scan(&problems); err != nil || problems != 0 {
		t.Fatalf("foreign key check: %d problems, %v", problems, err)
	}
	db.Close()
	s, err = Open(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), path, []string{"mail", "webhook:ops"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(append(migrated, det{"d-new", 0, []string{"n.log"}})...)
}

type evidenceUsage struct {
	Files int
	Bytes int64
}

// evidenceData is the content of the evidence files TestMigrationWritePath
// stores, by name.
var evidenceData = map[string]string{"a.log": "a", "b.log": "b", "b.pcap": "bc", "n.log": "n"}

// TestQueryPlans: the queries that must not scan a table use their index.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), filepath.Join(t.TempDir(), "p.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	caseCond, caseArgs := auditCondition(abuseguard.AuditFilter{CaseID: "AG-1", Since: time.Unix(1, 0)})
	actionCond, actionArgs := auditCondition(abuseguard.AuditFilter{Action: "block.applied"})
	for _, tc := range []struct {
		query string
		args  []any
		index string
	}{
		{`SELECT count(*) FROM audit` + caseCond, caseArgs, "audit_case"},
		{`SELECT id FROM audit` + actionCond + ` ORDER BY id DESC LIMIT 10`, actionArgs, "audit_action"},
		{`SELECT case_id, final FROM detections WHERE id = ? ORDER BY seq DESC LIMIT 1`, []any{"d"}, "detections_id"},
		{`SELECT coalesce(sum(evidence_files), 0), coalesce(sum(evidence_bytes), 0) FROM detections
			WHERE case_id = ? AND id != ?`, []any{"AG-1", "d"}, "sqlite_autoindex_detections"},
		{`SELECT e.name, e.content_type, e.data FROM detections d JOIN evidence e ON e.detection_seq = d.seq
			WHERE d.case_id = ? ORDER BY d.seq, e.idx LIMIT 1 OFFSET ?`, []any{"AG-1", 0}, "sqlite_autoindex_evidence"},
	} {
		rows, err := s.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			rows.Scan(&id, &parent, &unused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "; "), "INDEX "+tc.index) {
			t.Errorf("%s: plan %q does not use %s", tc.query, plan, tc.index)
		}
	}
}
