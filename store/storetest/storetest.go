// Package storetest is the conformance suite for abuseguard.CaseStore
// implementations: SQLite (package store) runs it, and a PostgreSQL
// implementation must pass it unchanged.
package storetest

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"abuseguard"

	"github.com/google/go-cmp/cmp"
)

// Channels are the outbox channels the store under test must be opened
// with.
var Channels = []string{"mail", "webhook:ops"}

// Run runs the suite. open returns a new, empty store configured with
// Channels; the test closes it if it needs to.
func Run(t *testing.T, open func(t *testing.T) abuseguard.CaseStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s abuseguard.CaseStore)
	}{
		{"CaseRoundTrip", testCaseRoundTrip},
		{"CaseConflicts", testCaseConflicts},
		{"ActiveCase", testActiveCase},
		{"FindCases", testFindCases},
		{"DueCases", testDueCases},
		{"Detections", testDetections},
		{"Blocks", testBlocks},
		{"Atomicity", testAtomicity},
		{"BatchOwnWrites", testBatchOwnWrites},
		{"BatchFailureBeforeWriting", testBatchFailureBeforeWriting},
		{"Outbox", testOutbox},
		{"Tokens", testTokens},
		{"AuditAndMeta", testAuditAndMeta},
		{"DetailParts", testDetailParts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// NewCase returns a valid case for tests.
func NewCase(id, addr string, reason abuseguard.Reason) *abuseguard.Case {
	return &abuseguard.Case{
		ID: id, Reason: reason, Address: netip.MustParseAddr(addr), ServerID: "S1", CustomerID: "C1",
		HostGroup: "default", State: abuseguard.CaseOpen, Action: abuseguard.ActionBlock,
		OpenedAt: t0, UpdatedAt: t0, LastDetectionAt: t0,
	}
}

func code(err error) string { return abuseguard.ErrorCode(err) }

// cmpOpts compares netip values by value: they hide their fields.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func diff(got, want any) string { return cmp.Diff(got, want, cmpOpts) }

func equal(got, want any) bool { return cmp.Equal(got, want, cmpOpts) }

func mustUpdate(t *testing.T, s abuseguard.CaseStore, fn func(tx abuseguard.CaseTx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update() = %v", err)
	}
}

func readCase(t *testing.T, s abuseguard.CaseStore, id string, detail bool) *abuseguard.Case {
	t.Helper()
	var c *abuseguard.Case
	err := s.View(context.Background(), func(tx abuseguard.CaseTx) (err error) {
		if detail {
			c, err = tx.CaseDetail(context.Background(), id)
		} else {
			c, err = tx.Case(context.Background(), id)
		}
		return err
	})
	if err != nil {
		t.Fatalf("read case %s: %v", id, err)
	}
	return c
}

func testCaseRoundTrip(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	c := NewCase("AG-000001", "2001:db8::7", abuseguard.ReasonNetscan)
	c.State, c.Protected, c.DryRun, c.Note, c.Escalation = abuseguard.CaseWarned, true, true, "warm-up", 2
	c.AccessIP = netip.MustParseAddr("198.51.100.9")
	c.WarnedAt, c.Deadline, c.RemindedAt = t0, t0.Add(24*time.Hour), t0.Add(time.Hour)
	c.BlockedAt, c.BlockUntil, c.UnblockedAt = t0.Add(2*time.Hour), t0.Add(3*time.Hour), t0.Add(4*time.Hour)
	c.ProbationUntil, c.ClosedAt, c.NextCheck = t0.Add(5*time.Hour), t0.Add(6*time.Hour), t0.Add(7*time.Hour)
	c.DetectionCount, c.Ongoing = 3, 1
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error { return tx.CreateCase(ctx, c) })
	if c.Version != 1 {
		t.Fatalf("CreateCase() version = %d, want 1", c.Version)
	}
	got := readCase(t, s, c.ID, false)
	if df := diff(got, c); df != "" {
		t.Fatalf("Case() (-got, +want):\n%s", df)
	}
	c.State, c.Note = abuseguard.CaseBlocked, ""
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error { return tx.UpdateCase(ctx, c) })
	if df := diff(readCase(t, s, c.ID, false), c); df != "" || c.Version != 2 {
		t.Fatalf("Case() after update, version %d (-got, +want):\n%s", c.Version, df)
	}
}

func testCaseConflicts(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	c := NewCase("AG-000002", "203.0.113.7", abuseguard.ReasonNetscan)
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error { return tx.CreateCase(ctx, c) })
	dup := NewCase("AG-000002", "203.0.113.8", abuseguard.ReasonNetscan)
	stale := *c
	missing := NewCase("AG-FFFFFF", "203.0.113.9", abuseguard.ReasonNetscan)
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error { return tx.UpdateCase(ctx, c) })
	for _, tc := range []struct {
		name string
		fn   func(tx abuseguard.CaseTx) error
		want string
	}{
		{"duplicate id", func(tx abuseguard.CaseTx) error { return tx.CreateCase(ctx, dup) }, abuseguard.ECONFLICT},
		{"stale version", func(tx abuseguard.CaseTx) error { return tx.UpdateCase(ctx, &stale) }, abuseguard.ECONFLICT},
		{"missing", func(tx abuseguard.CaseTx) error { return tx.UpdateCase(ctx, missing) }, abuseguard.ENOTFOUND},
		{"read missing", func(tx abuseguard.CaseTx) error { _, err := tx.Case(ctx, "AG-FFFFFF"); return err }, abuseguard.ENOTFOUND},
		{"no address", func(tx abuseguard.CaseTx) error {
			return tx.CreateCase(ctx, &abuseguard.Case{ID: "AG-000003", OpenedAt: t0})
		}, abuseguard.EINVALID},
	} {
		if err := s.Update(ctx, tc.fn); code(err) != tc.want {
			t.Errorf("%s: error %v, want code %s", tc.name, err, tc.want)
		}
	}
}

func testActiveCase(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	closed := NewCase("AG-00000A", "203.0.113.7", abuseguard.ReasonNetscan)
	closed.State = abuseguard.CaseClosed
	older := NewCase("AG-00000B", "203.0.113.7", abuseguard.ReasonNetscan)
	older.OpenedAt, older.State = t0.Add(-time.Hour), abuseguard.CaseClosed
	newer := NewCase("AG-00000C", "203.0.113.7", abuseguard.ReasonNetscan)
	newer.OpenedAt = t0.Add(time.Hour)
	newer.State = abuseguard.CaseBlocked
	other := NewCase("AG-00000D", "203.0.113.7", abuseguard.ReasonPacketLimit)
	other.OpenedAt = t0.Add(2 * time.Hour)
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error {
		return errors.Join(tx.CreateCase(ctx, closed), tx.CreateCase(ctx, older), tx.CreateCase(ctx, newer), tx.CreateCase(ctx, other),
			tx.PutBlock(ctx, abuseguard.Block{CaseID: newer.ID, Address: newer.Address, Scope: abuseguard.ScopeBoth,
				Reason: newer.Reason, Since: t0, Revision: 1}))
	})
	err := s.View(ctx, func(tx abuseguard.CaseTx) error {
		c, err := tx.ActiveCase(ctx, netip.MustParseAddr("203.0.113.7"), abuseguard.ReasonNetscan)
		if err != nil || c.ID != newer.ID || c.Block == nil {
			t.Errorf("ActiveCase() = %v, %v; want %s with its block", c, err, newer.ID)
		}
		if _, err := tx.ActiveCase(ctx, netip.MustParseAddr("203.0.113.8"), abuseguard.ReasonNetscan); code(err) != abuseguard.ENOTFOUND {
			t.Errorf("ActiveCase(other address) error = %v, want ENOTFOUND", err)
		}
		b, err := tx.BlockedCase(ctx, netip.MustParseAddr("203.0.113.7"))
		if err != nil || b.ID != newer.ID {
			t.Errorf("BlockedCase() = %v, %v; want %s", b, err, newer.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A second case for the same address and reason that is not closed is
	// refused: the store holds the lifecycle's invariant.
	second := NewCase("AG-00000E", "203.0.113.7", abuseguard.ReasonNetscan)
	if err := s.Update(ctx, func(tx abuseguard.CaseTx) error { return tx.CreateCase(ctx, second) }); err == nil {
		t.Errorf("CreateCase(second active case for the address and reason) = nil, want an error")
	}
}

func testFindCases(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error {
		for i, spec := range []struct {
			addr     string
			reason   abuseguard.Reason
			state    abuseguard.CaseState
			customer string
		}{
			{"203.0.113.1", abuseguard.ReasonNetscan, abuseguard.CaseBlocked, "C1"},
			{"203.0.113.2", abuseguard.ReasonNetscan, abuseguard.CaseWarned, "C1"},
			{"203.0.113.3", abuseguard.ReasonIncomingFlood, abuseguard.CaseBlocked, "C2"},
			{"203.0.113.4", abuseguard.ReasonPacketLimit, abuseguard.CaseClosed, "C2"},
		} {
			c := NewCase("AG-10000"+string(rune('0'+i)), spec.addr, spec.reason)
			c.State, c.CustomerID, c.ServerID = spec.state, spec.customer, "S-"+spec.customer
			c.OpenedAt = t0.Add(time.Duration(i) * time.Minute)
			if err := tx.CreateCase(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	for _, tc := range []struct {
		name   string
		filter abuseguard.CaseFilter
		want   []string
		total  int
	}{
		{"all newest first", abuseguard.CaseFilter{}, []string{"AG-100003", "AG-100002", "AG-100001", "AG-100000"}, 4},
		{"state", abuseguard.CaseFilter{States: []abuseguard.CaseState{abuseguard.CaseBlocked, abuseguard.CaseWarned}},
			[]string{"AG-100002", "AG-100001", "AG-100000"}, 3},
		{"reason", abuseguard.CaseFilter{Reason: abuseguard.ReasonNetscan}, []string{"AG-100001", "AG-100000"}, 2},
		{"customer", abuseguard.CaseFilter{CustomerID: "C2"}, []string{"AG-100003", "AG-100002"}, 2},
		{"server", abuseguard.CaseFilter{ServerID: "S-C1"}, []string{"AG-100001", "AG-100000"}, 2},
		{"address", abuseguard.CaseFilter{Address: netip.MustParseAddr("203.0.113.3")}, []string{"AG-100002"}, 1},
		{"since", abuseguard.CaseFilter{Since: t0.Add(2 * time.Minute)}, []string{"AG-100003", "AG-100002"}, 2},
		{"page", abuseguard.CaseFilter{Offset: 1, Limit: 2}, []string{"AG-100002", "AG-100001"}, 4},
	} {
		var got []string
		var total int
		err := s.View(ctx, func(tx abuseguard.CaseTx) error {
			cs, n, err := tx.FindCases(ctx, tc.filter)
			for _, c := range cs {
				got = append(got, c.ID)
			}
			total = n
			return err
		})
		if err != nil {
			t.Fatalf("%s: FindCases() = %v", tc.name, err)
		}
		if df := diff(got, tc.want); df != "" || total != tc.total {
			t.Errorf("%s: FindCases() total %d (want %d) (-got, +want):\n%s", tc.name, total, tc.total, df)
		}
	}
	err := s.View(ctx, func(tx abuseguard.CaseTx) error {
		_, _, err := tx.FindCases(ctx, abuseguard.CaseFilter{Limit: -1})
		return err
	})
	if code(err) != abuseguard.EINVALID {
		t.Errorf("FindCases(limit -1) = %v, want EINVALID", err)
	}
}

func testDueCases(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error {
		for i, next := range []time.Time{t0.Add(3 * time.Minute), {}, t0.Add(time.Minute), t0.Add(time.Hour)} {
			c := NewCase("AG-20000"+string(rune('0'+i)), "203.0.113."+string(rune('1'+i)), abuseguard.ReasonNetscan)
			c.NextCheck = next
			if err := tx.CreateCase(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	var got []string
	err := s.View(ctx, func(tx abuseguard.CaseTx) (err error) {
		got, err = tx.DueCases(ctx, t0.Add(5*time.Minute), 10)
		return err
	})
	if df := diff(got, []string{"AG-200002", "AG-200000"}); err != nil || df != "" {
		t.Fatalf("DueCases() error %v (-got, +want):\n%s", err, df)
	}
}

func testDetections(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	c := NewCase("AG-300000", "203.0.113.7", abuseguard.ReasonNetscan)
	first := abuseguard.Detection{
		ID: "d1", Kind: abuseguard.ReasonNetscan, Subkind: abuseguard.SubkindHorizontal,
		Address: c.Address, Direction: abuseguard.DirectionOut, FirstSeen: t0, LastSeen: t0.Add(time.Minute),
		Value: 120, Threshold: 100, Unit: "destinations", Packets: 500, Bytes: 30000, PPS: 8, BPS: 4000,
		Distinct: 120, SamplingRate: 1,
		Attempts: []abuseguard.Attempt{{Time: t0, Src: c.Address, SrcPort: 3374,
			Dst: netip.MustParseAddr("198.51.100.155"), DstPort: 22, Proto: 6, Size: 60}},
		AttemptsTotal: 500,
		Peers:         []abuseguard.PeerTotal{{Addr: netip.MustParseAddr("198.51.100.155"), Packets: 3, Bytes: 180}},
		Evidence:      []abuseguard.Evidence{{Name: "netscan.log", ContentType: "text/plain; charset=utf-8", Data: []byte("first")}},
	}
	second := first
	second.ID = "d2"
	second.Evidence = []abuseguard.Evidence{{Name: "traffic.pcap", ContentType: "application/vnd.tcpdump.pcap", Data: []byte("pcap2")}}
	final := first
	final.Final, final.Value = true, 400
	final.Evidence = []abuseguard.Evidence{
		{Name: "netscan.log", ContentType: "text/plain; charset=utf-8", Data: []byte("final log")},
		{Name: "traffic.pcap", ContentType: "application/vnd.tcpdump.pcap", Data: []byte("pcap1")},
	}
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error {
		return errors.Join(tx.CreateCase(ctx, c), tx.PutDetection(ctx, c.ID, &first), tx.PutDetection(ctx, c.ID, &second))
	})
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error {
		id, isFinal, err := tx.DetectionOf(ctx, "d1")
		if err != nil || id != c.ID || isFinal {
			t.Errorf("DetectionOf(d1) = %q, %v, %v; want %s, false", id, isFinal, err, c.ID)
		}
		files, size, err := tx.EvidenceUsage(ctx, c.ID, "d1")
		if err != nil || files != 1 || size != 5 {
			t.Errorf("EvidenceUsage(except d1) = %d, %d, %v; want 1, 5", files, size, err)
		}
		return tx.PutDetection(ctx, c.ID, &final)
	})
	err := s.View(ctx, func(tx abuseguard.CaseTx) error {
		if _, final, _ := tx.DetectionOf(ctx, "d1"); !final {
			t.Errorf("DetectionOf(d1) final = false after the final report")
		}
		if _, _, err := tx.DetectionOf(ctx, "nope"); code(err) != abuseguard.ENOTFOUND {
			t.Errorf("DetectionOf(nope) = %v, want ENOTFOUND", err)
		}
		if err := tx.PutDetection(ctx, "AG-FFFFFF", &first); err == nil {
			t.Errorf("PutDetection(missing case) = nil, want an error")
		}
		var got []string
		for n := 0; ; n++ {
			e, err := tx.Evidence(ctx, c.ID, n)
			if code(err) == abuseguard.ENOTFOUND {
				break
			} else if err != nil {
				return err
			}
			got = append(got, e.Name+"="+string(e.Data))
		}
		want := []string{"netscan.log=final log", "traffic.pcap=pcap1", "traffic.pcap=pcap2"}
		if df := diff(got, want); df != "" {
			t.Errorf("Evidence(0..) (-got, +want):\n%s", df)
		}
		if _, err := tx.Evidence(ctx, c.ID, -1); code(err) != abuseguard.ENOTFOUND {
			t.Errorf("Evidence(-1) = %v, want ENOTFOUND", err)
		}
		d, err := tx.CaseDetail(ctx, c.ID)
		if err != nil {
			return err
		}
		wantFinal := final
		wantFinal.Evidence = []abuseguard.Evidence{
			{Name: "netscan.log", ContentType: "text/plain; charset=utf-8"},
			{Name: "traffic.pcap", ContentType: "application/vnd.tcpdump.pcap"},
		}
		wantSecond := second
		wantSecond.Evidence = []abuseguard.Evidence{{Name: "traffic.pcap", ContentType: "application/vnd.tcpdump.pcap"}}
		if df := diff(d.Detections, []abuseguard.Detection{wantFinal, wantSecond}); df != "" {
			t.Errorf("CaseDetail().Detections (-got, +want):\n%s", df)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testBlocks(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	c := NewCase("AG-400000", "203.0.113.7", abuseguard.ReasonNetscan)
	b := abuseguard.Block{CaseID: c.ID, Address: c.Address, Scope: abuseguard.ScopeBoth, Reason: c.Reason,
		Since: t0, Until: t0.Add(time.Hour), Revision: 1}
	var changed <-chan struct{}
	if w, ok := s.(abuseguard.BlockWatcher); ok {
		changed = w.BlocksChanged()
	}
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error { return errors.Join(tx.CreateCase(ctx, c), tx.PutBlock(ctx, b)) })
	if changed != nil {
		select {
		case <-changed:
		default:
			t.Errorf("BlocksChanged() not closed after PutBlock")
		}
	}
	b.AccessIP, b.Revision = netip.MustParseAddr("198.51.100.9"), 2
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error { return tx.PutBlock(ctx, b) })
	got, err := s.ActiveBlocks(ctx)
	if df := diff(got, []abuseguard.Block{b}); err != nil || df != "" {
		t.Fatalf("ActiveBlocks() error %v (-got, +want):\n%s", err, df)
	}
	st := abuseguard.BlockStatus{CaseID: c.ID, Enforcer: "bgp", State: abuseguard.EnforceApplied, Revision: 2, Detail: "flowspec", UpdatedAt: t0}
	if err := s.SetBlockStatuses(ctx, []abuseguard.BlockStatus{st, {CaseID: "AG-GONE00", Enforcer: "bgp",
		State: abuseguard.EnforceApplied, UpdatedAt: t0}}); err != nil {
		t.Fatalf("SetBlockStatuses() = %v", err)
	}
	for _, bad := range []abuseguard.BlockStatus{{CaseID: c.ID, Enforcer: "bgp", State: "weird"}, {CaseID: c.ID, State: abuseguard.EnforcePending}} {
		if err := s.SetBlockStatuses(ctx, []abuseguard.BlockStatus{bad}); code(err) != abuseguard.EINVALID {
			t.Errorf("SetBlockStatuses(%+v) = %v, want EINVALID", bad, err)
		}
	}
	if d := readCase(t, s, c.ID, true); !equal(d.Statuses, []abuseguard.BlockStatus{st}) || d.Block == nil {
		t.Fatalf("CaseDetail() statuses %v block %v, want %v", d.Statuses, d.Block, st)
	}
	s.View(ctx, func(tx abuseguard.CaseTx) error {
		if got, err := tx.Statuses(ctx, c.ID); err != nil || !equal(got, []abuseguard.BlockStatus{st}) {
			t.Errorf("Statuses() = %v, %v; want %v", got, err, st)
		}
		return nil
	})
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error { return tx.DeleteBlock(ctx, c.ID) })
	if got, _ := s.ActiveBlocks(ctx); len(got) != 0 {
		t.Fatalf("ActiveBlocks() after DeleteBlock = %v", got)
	}
	if d := readCase(t, s, c.ID, true); len(d.Statuses) != 0 || d.Block != nil {
		t.Fatalf("CaseDetail() after DeleteBlock: statuses %v block %v", d.Statuses, d.Block)
	}
}

func testAtomicity(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx abuseguard.CaseTx) error {
		c := NewCase("AG-500000", "203.0.113.7", abuseguard.ReasonNetscan)
		if err := tx.CreateCase(ctx, c); err != nil {
			return err
		}
		if err := tx.AddEvent(ctx, abuseguard.Event{ID: "e-rolled-back", Type: abuseguard.EventBlocked, CaseID: c.ID, Time: t0}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update() = %v, want fn's error", err)
	}
	errs, err := s.UpdateBatch(ctx, []func(abuseguard.CaseTx) error{
		func(tx abuseguard.CaseTx) error {
			return tx.CreateCase(ctx, NewCase("AG-500001", "203.0.113.1", abuseguard.ReasonNetscan))
		},
		func(tx abuseguard.CaseTx) error {
			if err := tx.CreateCase(ctx, NewCase("AG-500002", "203.0.113.2", abuseguard.ReasonNetscan)); err != nil {
				return err
			}
			return boom
		},
		func(tx abuseguard.CaseTx) error {
			return tx.CreateCase(ctx, NewCase("AG-500003", "203.0.113.3", abuseguard.ReasonNetscan))
		},
	})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] != nil {
		t.Fatalf("UpdateBatch() = %v, %v", errs, err)
	}
	var ids []string
	s.View(ctx, func(tx abuseguard.CaseTx) error {
		cs, _, _ := tx.FindCases(ctx, abuseguard.CaseFilter{})
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		return nil
	})
	if df := diff(ids, []string{"AG-500001", "AG-500003"}); df != "" {
		t.Fatalf("cases after rollbacks (-got, +want):\n%s", df)
	}
	if ds, _ := s.ClaimDeliveries(ctx, t0.Add(time.Hour), 10, time.Minute); len(ds) != 0 {
		t.Fatalf("ClaimDeliveries() = %v, want nothing from a rolled-back change", ds)
	}
}

// testBatchOwnWrites: in a batch, each change reads what the earlier ones
// wrote (audit entries, evidence, outbox), a failing change takes only its
// own writes with it, even after reading the others', and a report that
// replaces evidence written earlier in the same batch replaces it.
func testBatchOwnWrites(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	boom := errors.New("boom")
	c := NewCase("AG-510000", "203.0.113.7", abuseguard.ReasonNetscan)
	ev := func(data string) []abuseguard.Evidence {
		return []abuseguard.Evidence{{Name: "netscan.log", ContentType: "text/plain; charset=utf-8", Data: []byte(data)}}
	}
	det := func(id string, final bool, data string) *abuseguard.Detection {
		return &abuseguard.Detection{ID: id, Kind: abuseguard.ReasonNetscan, Address: c.Address, FirstSeen: t0,
			LastSeen: t0, Final: final, Evidence: ev(data)}
	}
	audit := func(tx abuseguard.CaseTx, action string) error {
		return tx.AddAudit(ctx, abuseguard.AuditEntry{Time: t0, Actor: "system", Action: action, CaseID: c.ID})
	}
	event := func(tx abuseguard.CaseTx, id string) error {
		return tx.AddEvent(ctx, abuseguard.Event{ID: id, Type: abuseguard.EventBlocked, CaseID: c.ID, Time: t0})
	}
	usage := func(tx abuseguard.CaseTx, wantFiles int, wantSize int64) error {
		files, size, err := tx.EvidenceUsage(ctx, c.ID, "")
		if err == nil && (files != wantFiles || size != wantSize) {
			t.Errorf("EvidenceUsage() = %d files, %d bytes; want %d, %d", files, size, wantFiles, wantSize)
		}
		return err
	}
	count := func(tx abuseguard.CaseTx, want int) error {
		n, err := tx.CountAudit(ctx, "block.applied", "system", t0)
		if err == nil && n != want {
			t.Errorf("CountAudit() = %d, want %d", n, want)
		}
		return err
	}
	errs, err := s.UpdateBatch(ctx, []func(abuseguard.CaseTx) error{
		func(tx abuseguard.CaseTx) error {
			return errors.Join(tx.CreateCase(ctx, c), tx.PutDetection(ctx, c.ID, det("d1", false, "one")),
				audit(tx, "block.applied"), event(tx, "e-kept-1"))
		},
		// Reads everything change 1 wrote, replaces its evidence, fails.
		func(tx abuseguard.CaseTx) error {
			if err := errors.Join(count(tx, 1), usage(tx, 1, 3), audit(tx, "block.applied"), event(tx, "e-lost")); err != nil {
				return err
			}
			if err := errors.Join(tx.PutDetection(ctx, c.ID, det("d1", true, "lost")), usage(tx, 1, 4)); err != nil {
				return err
			}
			return boom
		},
		func(tx abuseguard.CaseTx) error {
			return errors.Join(count(tx, 1), usage(tx, 1, 3), tx.PutDetection(ctx, c.ID, det("d2", false, "two")),
				audit(tx, "block.applied"), event(tx, "e-kept-2"))
		},
		func(tx abuseguard.CaseTx) error {
			return errors.Join(tx.PutDetection(ctx, c.ID, det("d2", true, "final two")), usage(tx, 2, 12))
		},
	})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] != nil || errs[3] != nil {
		t.Fatalf("UpdateBatch() = %v, %v", errs, err)
	}
	err = s.View(ctx, func(tx abuseguard.CaseTx) error {
		var got []string
		for n := 0; ; n++ {
			e, err := tx.Evidence(ctx, c.ID, n)
			if code(err) == abuseguard.ENOTFOUND {
				break
			} else if err != nil {
				return err
			}
			got = append(got, string(e.Data))
		}
		if df := diff(got, []string{"one", "final two"}); df != "" {
			t.Errorf("evidence after the batch (-got, +want):\n%s", df)
		}
		es, total, err := tx.FindAudit(ctx, abuseguard.AuditFilter{CaseID: c.ID})
		if err != nil || total != 2 || len(es) != 2 {
			t.Errorf("FindAudit() = %d entries, total %d, %v; want 2 (the failed change's left out)", len(es), total, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.ClaimDeliveries(ctx, t0, 100, time.Minute)
	var got []string
	for _, d := range ds {
		got = append(got, d.Event.ID+"/"+d.Channel)
	}
	want := []string{"e-kept-1/mail", "e-kept-1/webhook:ops", "e-kept-2/mail", "e-kept-2/webhook:ops"}
	if df := diff(got, want); err != nil || df != "" {
		t.Fatalf("ClaimDeliveries() error %v (-got, +want):\n%s", err, df)
	}
}

// testBatchFailureBeforeWriting: a change that fails after reading what
// earlier changes of its batch wrote (which writes their audit entries)
// and after adding audit entries of its own, but before writing anything
// else, leaves its own entries out and the earlier ones in, once.
func testBatchFailureBeforeWriting(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	boom := errors.New("boom")
	audit := func(tx abuseguard.CaseTx, caseID string) error {
		return tx.AddAudit(ctx, abuseguard.AuditEntry{Time: t0, Actor: "system", Action: "block.applied", CaseID: caseID})
	}
	errs, err := s.UpdateBatch(ctx, []func(abuseguard.CaseTx) error{
		func(tx abuseguard.CaseTx) error {
			return errors.Join(tx.CreateCase(ctx, NewCase("AG-520001", "203.0.113.1", abuseguard.ReasonNetscan)),
				audit(tx, "AG-520001"))
		},
		func(tx abuseguard.CaseTx) error {
			if n, err := tx.CountAudit(ctx, "block.applied", "system", t0); err != nil || n != 1 {
				t.Errorf("CountAudit() = %d, %v; want 1", n, err)
			}
			if err := errors.Join(audit(tx, "AG-520002"), audit(tx, "AG-520002")); err != nil {
				return err
			}
			return boom
		},
		func(tx abuseguard.CaseTx) error {
			return errors.Join(tx.CreateCase(ctx, NewCase("AG-520003", "203.0.113.3", abuseguard.ReasonNetscan)),
				audit(tx, "AG-520003"))
		},
	})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] != nil {
		t.Fatalf("UpdateBatch() = %v, %v", errs, err)
	}
	var got []string
	s.View(ctx, func(tx abuseguard.CaseTx) error {
		es, _, err := tx.FindAudit(ctx, abuseguard.AuditFilter{Action: "block.applied"})
		for _, e := range es {
			got = append(got, e.CaseID)
		}
		return err
	})
	if df := diff(got, []string{"AG-520003", "AG-520001"}); df != "" {
		t.Fatalf("audit entries after the batch, newest first (-got, +want):\n%s", df)
	}
}

func testOutbox(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	var added <-chan struct{}
	if w, ok := s.(abuseguard.OutboxWatcher); ok {
		added = w.EventsAdded()
	}
	e1 := abuseguard.Event{ID: "e1", Type: abuseguard.EventBlocked, CaseID: "AG-600000", CustomerID: "C1", Time: t0,
		Data: map[string]string{"comment": "x"}}
	e2 := abuseguard.Event{ID: "e2", Type: abuseguard.EventUnblocked, CaseID: "AG-600000", CustomerID: "C1", Time: t0.Add(time.Minute)}
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error { return errors.Join(tx.AddEvent(ctx, e1), tx.AddEvent(ctx, e2)) })
	if added != nil {
		select {
		case <-added:
		default:
			t.Errorf("EventsAdded() not closed after AddEvent")
		}
	}
	if err := s.Update(ctx, func(tx abuseguard.CaseTx) error { return tx.AddEvent(ctx, e1) }); code(err) != abuseguard.ECONFLICT {
		t.Errorf("AddEvent(duplicate) = %v, want ECONFLICT", err)
	}
	key := func(ds []abuseguard.Delivery) []string {
		var k []string
		for _, d := range ds {
			k = append(k, d.Event.ID+"/"+d.Channel)
		}
		return k
	}
	// Only e1 is due at t0.
	ds, err := s.ClaimDeliveries(ctx, t0, 10, time.Minute)
	if df := diff(key(ds), []string{"e1/mail", "e1/webhook:ops"}); err != nil || df != "" {
		t.Fatalf("ClaimDeliveries(t0) error %v (-got, +want):\n%s", err, df)
	}
	if df := diff(ds[0].Event, e1); df != "" || ds[0].Attempts != 1 {
		t.Fatalf("ClaimDeliveries() event, attempts %d (-got, +want):\n%s", ds[0].Attempts, df)
	}
	// Leased: not claimed again until the lease runs out.
	ds, _ = s.ClaimDeliveries(ctx, t0.Add(30*time.Second), 10, time.Minute)
	if df := diff(key(ds), []string(nil)); df != "" {
		t.Fatalf("ClaimDeliveries(under lease) (-got, +want):\n%s", df)
	}
	// The claimer "crashed": past the lease, e1 comes back, with e2.
	ds, _ = s.ClaimDeliveries(ctx, t0.Add(2*time.Minute), 10, time.Minute)
	if df := diff(key(ds), []string{"e1/mail", "e1/webhook:ops", "e2/mail", "e2/webhook:ops"}); df != "" {
		t.Fatalf("ClaimDeliveries(after lease) (-got, +want):\n%s", df)
	}
	now := t0.Add(2 * time.Minute)
	if err := errors.Join(
		s.MarkDelivered(ctx, "e1", "mail", now),
		s.MarkFailed(ctx, "e1", "webhook:ops", "connection refused", now.Add(5*time.Minute)),
		s.MarkFailed(ctx, "e2", "mail", "550 no such user", time.Time{}), // gives up
		s.MarkDelivered(ctx, "e2", "webhook:ops", now),
	); err != nil {
		t.Fatalf("Mark...() = %v", err)
	}
	if err := s.MarkDelivered(ctx, "nope", "mail", now); code(err) != abuseguard.ENOTFOUND {
		t.Errorf("MarkDelivered(unknown) = %v, want ENOTFOUND", err)
	}
	if err := s.MarkFailed(ctx, "e1", "pager", "x", now); code(err) != abuseguard.ENOTFOUND {
		t.Errorf("MarkFailed(unknown channel) = %v, want ENOTFOUND", err)
	}
	ds, _ = s.ClaimDeliveries(ctx, now.Add(4*time.Minute), 10, time.Minute)
	if len(ds) != 0 {
		t.Fatalf("ClaimDeliveries(before retry) = %v, want none", key(ds))
	}
	ds, _ = s.ClaimDeliveries(ctx, now.Add(6*time.Minute), 10, time.Minute)
	if df := diff(key(ds), []string{"e1/webhook:ops"}); df != "" || ds[0].Attempts != 3 || ds[0].LastError != "connection refused" {
		t.Fatalf("ClaimDeliveries(retry) %+v (-got, +want):\n%s", ds, df)
	}
}

func testTokens(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	tok, secret, err := s.CreateToken(ctx, abuseguard.Token{Role: abuseguard.RoleCustomer, CustomerID: "C1", Name: "portal"})
	if err != nil || tok.ID == "" || secret == "" {
		t.Fatalf("CreateToken() = %v, %q, %v", tok, secret, err)
	}
	a, err := s.Authenticate(ctx, secret)
	want := abuseguard.Actor{Role: abuseguard.RoleCustomer, CustomerID: "C1", Name: "portal"}
	if df := diff(a, want); err != nil || df != "" {
		t.Fatalf("Authenticate() error %v (-got, +want):\n%s", err, df)
	}
	for _, bad := range []string{"", "agt_", secret + "x", secret[:len(secret)-1]} {
		if _, err := s.Authenticate(ctx, bad); code(err) != abuseguard.EUNAUTHORIZED {
			t.Errorf("Authenticate(%q) = %v, want EUNAUTHORIZED", bad, err)
		}
	}
	for _, bad := range []abuseguard.Token{{Role: abuseguard.RoleCustomer}, {Role: abuseguard.RoleOperator, CustomerID: "C1"}, {Role: "root"}} {
		if _, _, err := s.CreateToken(ctx, bad); code(err) != abuseguard.EINVALID {
			t.Errorf("CreateToken(%+v) = %v, want EINVALID", bad, err)
		}
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatalf("RevokeToken() = %v", err)
	}
	if _, err := s.Authenticate(ctx, secret); code(err) != abuseguard.EUNAUTHORIZED {
		t.Errorf("Authenticate(revoked) = %v, want EUNAUTHORIZED", err)
	}
	if err := s.RevokeToken(ctx, tok.ID); code(err) != abuseguard.ENOTFOUND {
		t.Errorf("RevokeToken(again) = %v, want ENOTFOUND", err)
	}
}

func testAuditAndMeta(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error {
		return errors.Join(
			tx.AddAudit(ctx, abuseguard.AuditEntry{Time: t0, Actor: "system", Action: "block.applied", CaseID: "AG-1", Address: netip.MustParseAddr("203.0.113.1")}),
			tx.AddAudit(ctx, abuseguard.AuditEntry{Time: t0.Add(time.Minute), Actor: "operator:alice", Action: "block.applied", CaseID: "AG-2"}),
			tx.AddAudit(ctx, abuseguard.AuditEntry{Time: t0.Add(2 * time.Minute), Actor: "system", Action: "block.applied", CaseID: "AG-3"}),
			tx.AddAudit(ctx, abuseguard.AuditEntry{Time: t0.Add(3 * time.Minute), Actor: "system", Action: "case.opened", CaseID: "AG-3", Detail: "x"}),
			tx.SetMeta(ctx, "k", "v1"), tx.SetMeta(ctx, "k", "v2"),
		)
	})
	err := s.View(ctx, func(tx abuseguard.CaseTx) error {
		if n, err := tx.CountAudit(ctx, "block.applied", "system", t0.Add(time.Second)); err != nil || n != 1 {
			t.Errorf("CountAudit() = %d, %v; want 1", n, err)
		}
		es, total, err := tx.FindAudit(ctx, abuseguard.AuditFilter{CaseID: "AG-3"})
		if err != nil || total != 2 || len(es) != 2 || es[0].Action != "case.opened" || es[0].Detail != "x" {
			t.Errorf("FindAudit(case) = %+v, %d, %v", es, total, err)
		}
		es, total, _ = tx.FindAudit(ctx, abuseguard.AuditFilter{Action: "block.applied", Limit: 1, Offset: 2})
		if total != 3 || len(es) != 1 || es[0].CaseID != "AG-1" || es[0].Address != netip.MustParseAddr("203.0.113.1") {
			t.Errorf("FindAudit(action, page) = %+v, %d", es, total)
		}
		if v, err := tx.Meta(ctx, "k"); v != "v2" || err != nil {
			t.Errorf("Meta(k) = %q, %v; want v2", v, err)
		}
		if v, err := tx.Meta(ctx, "unset"); v != "" || err != nil {
			t.Errorf("Meta(unset) = %q, %v; want empty", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testDetailParts(t *testing.T, s abuseguard.CaseStore) {
	ctx := context.Background()
	c := NewCase("AG-700000", "203.0.113.7", abuseguard.ReasonNetscan)
	st1 := abuseguard.Statement{Cause: "c1", Fix: "f1", Prevention: "p1", Commitment: true, SubmittedAt: t0, SubmittedBy: "customer:C1"}
	st2 := st1
	st2.Cause, st2.SubmittedAt = "c2", t0.Add(time.Hour)
	m := abuseguard.Message{CaseID: c.ID, Author: "customer:C1", Role: abuseguard.RoleCustomer, Kind: "message", Body: "hello", CreatedAt: t0}
	mustUpdate(t, s, func(tx abuseguard.CaseTx) error {
		return errors.Join(tx.CreateCase(ctx, c), tx.PutStatement(ctx, c.ID, st1), tx.PutStatement(ctx, c.ID, st2), tx.AddMessage(ctx, &m))
	})
	if m.ID == 0 {
		t.Errorf("AddMessage() left ID 0")
	}
	d := readCase(t, s, c.ID, true)
	if df := diff(d.Statement, &st2); df != "" {
		t.Errorf("CaseDetail().Statement (-got, +want):\n%s", df)
	}
	if df := diff(d.Messages, []abuseguard.Message{m}); df != "" {
		t.Errorf("CaseDetail().Messages (-got, +want):\n%s", df)
	}
}
