package lifecycle

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"abuseguard"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRestartResumesTimers: timers are persisted, so a new process finds
// the deadline and the flood lifting where the old one left them.
func TestRestartResumesTimers(t *testing.T) {
	e := newEnv(t, nil)
	warned := e.mustDetect(addrA, netscan, 150, false)
	flooded := e.mustDetect(addrB, flood, 500, true)
	e.restart()
	e.advance(20 * time.Minute)
	e.wantState(flooded, abuseguard.CaseClosed)
	e.clock.Add(23 * time.Hour)
	e.mustDetect(addrA, netscan, 150, true) // persists
	e.restart()
	e.advance(time.Hour)
	e.wantState(warned, abuseguard.CaseBlocked)
}

func TestFinalReportAndBounds(t *testing.T) {
	e := newEnv(t, func(c *Configuration) { c.MaxEvidenceFiles, c.MaxDetections = 3, 2 })
	ev := func(names ...string) []abuseguard.Evidence {
		var es []abuseguard.Evidence
		for _, n := range names {
			es = append(es, abuseguard.Evidence{Name: n, ContentType: "text/plain; charset=utf-8", Data: []byte(n)})
		}
		return es
	}
	d := abuseguard.Detection{ID: "x1", Kind: netscan, Address: addrA, FirstSeen: t0, LastSeen: t0,
		Value: 500, Threshold: 100, Evidence: ev("a1", "a2")}
	id, err := e.l.Ingest(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	d.Final, d.Value, d.Evidence = true, 900, ev("f1", "f2")
	if got, err := e.l.Ingest(context.Background(), d); err != nil || got != id {
		t.Fatalf("final Ingest() = %s, %v", got, err)
	}
	d2 := abuseguard.Detection{ID: "x2", Kind: netscan, Address: addrA, FirstSeen: t0, LastSeen: t0,
		Value: 500, Threshold: 100, Final: true, Evidence: ev("b1", "b2")}
	d3 := d2
	d3.ID = "x3"
	for _, d := range []abuseguard.Detection{d2, d3} {
		if _, err := e.l.Ingest(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	c := e.get(id)
	if c.DetectionCount != 3 || len(c.Detections) != 2 || c.Ongoing != 0 || c.Detections[0].Value != 900 {
		t.Fatalf("count %d stored %d ongoing %d first value %g", c.DetectionCount, len(c.Detections), c.Ongoing, c.Detections[0].Value)
	}
	var names []string
	for n := 0; ; n++ {
		ev, err := e.l.Evidence(operator, id, n)
		if err != nil {
			wantCode(t, "Evidence(past the end)", err, abuseguard.ENOTFOUND)
			break
		}
		names = append(names, ev.Name)
	}
	if diff := cmp.Diff(names, []string{"f1", "f2", "b1"}); diff != "" {
		t.Fatalf("evidence (-got, +want):\n%s", diff)
	}
	// A late first report after the final one changes nothing.
	d.Final, d.Value = false, 1
	e.l.Ingest(context.Background(), d)
	if c := e.get(id); c.Detections[0].Value != 900 || !c.Detections[0].Final {
		t.Fatalf("late first report overwrote the final one: %+v", c.Detections[0])
	}
}

func TestVisibility(t *testing.T) {
	e := newEnv(t, nil)
	idA := e.mustDetect(addrA, netscan, 500, false)
	idB := e.mustDetect(addrB, netscan, 500, false)
	if _, err := e.l.FindCaseByID(customer1, idA); err != nil {
		t.Fatalf("own case: %v", err)
	}
	// Another customer's case and a case that does not exist answer alike.
	missing := "AG-000000"
	for _, id := range []string{idB, missing} {
		_, err := e.l.FindCaseByID(customer1, id)
		if abuseguard.ErrorCode(err) != abuseguard.ENOTFOUND || abuseguard.ErrorMessage(err) != "Case "+id+" not found." {
			t.Fatalf("FindCaseByID(%s) = %v", id, err)
		}
		_, err = e.l.SetAccessIP(customer1, id, office)
		wantCode(t, "SetAccessIP(other)", err, abuseguard.ENOTFOUND)
	}
	cs, total, err := e.l.FindCases(customer1, abuseguard.CaseFilter{CustomerID: "C2"})
	if err != nil || total != 0 || len(cs) != 0 {
		t.Fatalf("FindCases(C2) as C1 = %d cases, total %d, %v", len(cs), total, err)
	}
	if _, err := e.l.Status(customer1, addrB); abuseguard.ErrorCode(err) != abuseguard.ENOTFOUND {
		t.Fatalf("Status(B) as C1 = %v", err)
	}
	if st, err := e.l.Status(customer1, addrA); err != nil || !st.Blocked || st.CaseID != idA {
		t.Fatalf("Status(A) as C1 = %+v, %v", st, err)
	}
	link := abuseguard.NewContextWithActor(context.Background(), abuseguard.Actor{Role: abuseguard.RoleCustomer, CustomerID: "C1", CaseID: "AG-FFFFFF"})
	if _, err := e.l.FindCaseByID(link, idA); abuseguard.ErrorCode(err) != abuseguard.ENOTFOUND {
		t.Fatalf("case-bound link reached another case: %v", err)
	}
	_, err = e.l.Unblock(customer1, idA, "")
	wantCode(t, "Unblock as customer", err, abuseguard.EUNAUTHORIZED)
	_, err = e.l.FindCaseByID(context.Background(), idA)
	wantCode(t, "no actor", err, abuseguard.EUNAUTHORIZED)
}

func TestAccessIPValidation(t *testing.T) {
	e := newEnv(t, nil)
	id := e.mustDetect(addrA, netscan, 500, false)
	for _, s := range []string{"10.1.2.3", "192.168.1.1", "127.0.0.1", "169.254.1.1", "224.0.0.1", "203.0.113.5",
		"100.64.0.1", "100.70.5.5", "100.70.9.53", "::1", "fe80::1", "fc00::1", "2001:db8::1", "ff02::1", "0.0.0.0", "255.255.255.255"} {
		_, err := e.l.SetAccessIP(customer1, id, netip.MustParseAddr(s))
		wantCode(t, "SetAccessIP("+s+")", err, abuseguard.EINVALID)
	}
	for _, s := range []string{"8.8.4.4", "2a00:1450::1", "::ffff:8.8.4.4"} {
		if _, err := e.l.SetAccessIP(customer1, id, netip.MustParseAddr(s)); err != nil {
			t.Fatalf("SetAccessIP(%s) = %v", s, err)
		}
	}
}

// TestSinkCommitsEverything sends a burst through the queue and the
// committer, stops, and finds every detection in a case.
func TestSinkCommitsEverything(t *testing.T) {
	e := newEnv(t, func(c *Configuration) { c.QueueSize = 64 })
	if err := e.l.Start(); err != nil {
		t.Fatal(err)
	}
	const n, addrs = 2000, 40
	for i := range n {
		a := netip.AddrFrom4([4]byte{100, 71, byte(i % addrs), 1})
		e.l.Sink(abuseguard.Detection{ID: fmt.Sprintf("s%d", i), Kind: netscan, Address: a, FirstSeen: t0, LastSeen: t0,
			Value: 500, Threshold: 100, Final: true})
	}
	e.l.Stop()
	cs, total, err := e.l.FindCases(operator, abuseguard.CaseFilter{Limit: 1000})
	if err != nil || total != addrs {
		t.Fatalf("FindCases() total %d, %v; want %d", total, err, addrs)
	}
	sum := 0
	for _, c := range cs {
		sum += c.DetectionCount
	}
	if sum != n {
		t.Fatalf("detections in cases = %d, want %d", sum, n)
	}
}

// TestDryRunSwitchedOff: a case recorded in dry-run is enforced at its
// next detection once dry-run is off.
func TestDryRunSwitchedOff(t *testing.T) {
	e := newEnv(t, func(c *Configuration) { c.DryRun = true })
	id := e.mustDetect(addrA, netscan, 500, false)
	e.wantState(id, abuseguard.CaseOpen)
	e.cfg.DryRun = false
	e.restart()
	e.advance(time.Minute)
	if got := e.mustDetect(addrA, netscan, 500, false); got != id {
		t.Fatalf("joined %s, want %s", got, id)
	}
	if c := e.wantState(id, abuseguard.CaseBlocked); c.DryRun {
		t.Fatalf("case still marked dry-run after a real block")
	}
}

// TestCaseIDCollision: a drawn case id that is taken is drawn again, and
// the new case's audit entries, events and block carry the id it got.
func TestCaseIDCollision(t *testing.T) {
	e := newEnv(t, nil)
	draws := []string{"AG-00000A", "AG-00000A", "AG-00000A", "AG-00000B", "AG-00000C"}
	e.l.newID = func() string { id := draws[0]; draws = draws[1:]; return id }
	if id := e.mustDetect(addrA, netscan, 500, false); id != "AG-00000A" {
		t.Fatalf("first case = %s, want AG-00000A", id)
	}
	id := e.mustDetect(addrB, netscan, 500, false)
	if id != "AG-00000B" {
		t.Fatalf("second case = %s, want AG-00000B (after two taken draws)", id)
	}
	c, err := e.l.Block(operator, abuseguard.ManualBlock{Address: addrA2, Comment: "x"})
	if err != nil || c.ID != "AG-00000C" {
		t.Fatalf("Block() = %v, %v; want case AG-00000C", c, err)
	}
	wantEvents(t, e, id, abuseguard.EventBlocked)
	es, _, err := e.l.FindAudit(operator, abuseguard.AuditFilter{CaseID: id})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range es {
		actions = append(actions, a.Action)
	}
	if diff := cmp.Diff(actions, []string{"block.applied", "case.opened"}); diff != "" {
		t.Fatalf("audit of %s (-got, +want):\n%s", id, diff)
	}
	if diff := cmp.Diff(e.blocks(), []string{"AG-00000A 100.70.0.10 both", "AG-00000C 100.70.0.11 both", "AG-00000B 100.70.1.10 both"}); diff != "" {
		t.Fatalf("blocks (-got, +want):\n%s", diff)
	}
}

// failingStore fails whole batches while fails is above zero, as a full
// disk or an I/O error fails SQLite's transaction.
type failingStore struct {
	abuseguard.CaseStore
	fails atomic.Int32
	calls atomic.Int32
}

func (s *failingStore) UpdateBatch(ctx context.Context, fns []func(abuseguard.CaseTx) error) ([]error, error) {
	s.calls.Add(1)
	if s.fails.Add(-1) >= 0 {
		return nil, abuseguard.Errorf(abuseguard.EINTERNAL, "commit: database or disk is full")
	}
	return s.CaseStore.UpdateBatch(ctx, fns)
}

// TestCommitRetriesAfterStoreFailure: batches the store fails as a whole
// are committed once it recovers, none lost and none twice.
func TestCommitRetriesAfterStoreFailure(t *testing.T) {
	e := newEnv(t, nil)
	fs := &failingStore{CaseStore: e.store}
	fs.fails.Store(5) // more than a stop's attempts: only the retries while running commit them
	l, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), e.cfg,
		Dependencies{Store: fs, Inventory: e.inv, Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	l.retryMin = time.Millisecond
	e.l = l
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		a := netip.AddrFrom4([4]byte{100, 72, byte(i % 5), 1})
		l.Sink(abuseguard.Detection{ID: fmt.Sprintf("r%d", i), Kind: netscan, Address: a, FirstSeen: t0, LastSeen: t0,
			Value: 500, Threshold: 100, Final: true})
	}
	deadline := time.Now().Add(20 * time.Second)
	for fs.fails.Load() >= 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	l.Stop()
	if fs.fails.Load() >= 0 {
		t.Fatalf("store still failing after 20 s: %d failures left", fs.fails.Load()+1)
	}
	cs, total, err := l.FindCases(operator, abuseguard.CaseFilter{Limit: 100})
	if err != nil || total != 5 {
		t.Fatalf("FindCases() total %d, %v; want 5", total, err)
	}
	sum := 0
	for _, c := range cs {
		sum += c.DetectionCount
	}
	if sum != n {
		t.Fatalf("detections in cases = %d, want %d", sum, n)
	}
	if got := testutil.ToFloat64(l.m.commitFailures); got != 5 {
		t.Fatalf("commit_failures_total = %v, want 5", got)
	}
}

// TestStopEndsWhileStoreFails: a store that never recovers cannot hold a
// stop; the batch is counted as failed.
func TestStopEndsWhileStoreFails(t *testing.T) {
	e := newEnv(t, nil)
	fs := &failingStore{CaseStore: e.store}
	fs.fails.Store(1 << 30)
	l, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), e.cfg,
		Dependencies{Store: fs, Inventory: e.inv, Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	l.retryMin = time.Millisecond
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	l.Sink(abuseguard.Detection{ID: "x1", Kind: netscan, Address: addrA, FirstSeen: t0, LastSeen: t0,
		Value: 500, Threshold: 100, Final: true})
	deadline := time.Now().Add(20 * time.Second)
	for fs.calls.Load() == 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	l.Stop()
	if got := testutil.ToFloat64(l.m.detections.WithLabelValues("failed")); got != 1 {
		t.Fatalf(`detections_total{result="failed"} = %v, want 1`, got)
	}
	if got := fs.calls.Load(); got < stopRetries {
		t.Fatalf("store called %d times, want at least %d", got, stopRetries)
	}
}
