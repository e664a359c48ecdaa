package enforce_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"abuseguard"
	"abuseguard/enforce"
)

// fakeEnforcer isolates the reconciler's logic: it holds a set of
// addresses as its "backend" and records every pass.
type fakeEnforcer struct {
	name    string
	changed chan struct{}

	mu     sync.Mutex
	passes [][]string // case ids seen, per pass
	have   map[netip.Addr]bool
	err    error         // returned by Apply while set
	drift  int           // reported once by the next pass
	gate   chan struct{} // when set, Apply waits for a value from it
}

func newFake(name string) *fakeEnforcer {
	return &fakeEnforcer{name: name, changed: make(chan struct{}, 1), have: make(map[netip.Addr]bool)}
}

func (f *fakeEnforcer) Name() string             { return f.name }
func (f *fakeEnforcer) Changed() <-chan struct{} { return f.changed }
func (f *fakeEnforcer) setErr(err error)         { f.mu.Lock(); f.err = err; f.mu.Unlock() }
func (f *fakeEnforcer) setDrift(n int)           { f.mu.Lock(); f.drift = n; f.mu.Unlock() }
func (f *fakeEnforcer) setGate(g chan struct{})  { f.mu.Lock(); f.gate = g; f.mu.Unlock() }
func (f *fakeEnforcer) passCount() int           { f.mu.Lock(); defer f.mu.Unlock(); return len(f.passes) }
func (f *fakeEnforcer) lastPass() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.passes[len(f.passes)-1]
}
func (f *fakeEnforcer) holds(a netip.Addr) bool { f.mu.Lock(); defer f.mu.Unlock(); return f.have[a] }
func (f *fakeEnforcer) signal()                 { f.changed <- struct{}{} }

func (f *fakeEnforcer) Apply(ctx context.Context, desired []abuseguard.Block) (enforce.Result, error) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return enforce.Result{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, len(desired))
	for i, b := range desired {
		ids[i] = b.CaseID
	}
	f.passes = append(f.passes, ids)
	if f.err != nil {
		return enforce.Result{}, f.err
	}
	targets, invalid := enforce.Plan(desired)
	want := make(map[netip.Addr]bool)
	var res enforce.Result
	for _, t := range targets {
		want[t.Address] = true
		if !f.have[t.Address] {
			res.Added++
		}
	}
	for a := range f.have {
		if !want[a] {
			res.Removed++
		}
	}
	f.have = want
	res.Drift, f.drift = f.drift, 0
	res.Statuses = enforce.Statuses(f.name, desired, invalid, func(int) (abuseguard.EnforceState, string) {
		return abuseguard.EnforceApplied, "fake"
	})
	return res, nil
}

// testLogger writes to the test's output, shown on failure or with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func block(id, addr string) abuseguard.Block {
	return abuseguard.Block{CaseID: id, Address: netip.MustParseAddr(addr), Scope: abuseguard.ScopeBoth, Revision: 1}
}

func testConfig() enforce.Configuration {
	c := enforce.DefaultConfiguration()
	c.ResyncInterval = time.Minute
	return c
}

// startReconciler starts a reconciler over store and enforcers and stops it
// at the end of the test.
func startReconciler(t *testing.T, store abuseguard.BlockService, es ...enforce.Enforcer) *enforce.Reconciler {
	t.Helper()
	r, err := enforce.New(testConfig(), enforce.Dependencies{Blocks: store, Enforcers: es, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	if err := r.Start(); err != nil {
		t.Fatalf("Start() error: %v", err)
	}
	t.Cleanup(func() { r.Stop() })
	return r
}

func TestReconcilerStartAppliesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemBlocks(block("AG-1", "198.51.100.1"), block("AG-2", "2001:db8::2"))
		f := newFake("fake")
		startReconciler(t, store, f)
		synctest.Wait()

		if diff := cmp.Diff(f.lastPass(), []string{"AG-1", "AG-2"}); diff != "" {
			t.Fatalf("first pass (-got, +want):\n%s", diff)
		}
		for _, id := range []string{"AG-1", "AG-2"} {
			got, ok := store.status(id, "fake")
			if !ok || got.State != abuseguard.EnforceApplied || got.Revision != 1 || got.UpdatedAt.IsZero() {
				t.Fatalf("status of %s = %+v (recorded %v), want applied at revision 1 with a time", id, got, ok)
			}
		}
	})
}

func TestReconcilerTriggerAppliesWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemBlocks()
		f := newFake("fake")
		r := startReconciler(t, store, f)
		synctest.Wait()

		start := time.Now()
		store.put(block("AG-1", "198.51.100.1"))
		r.Trigger()
		synctest.Wait()
		if !f.holds(netip.MustParseAddr("198.51.100.1")) {
			t.Fatalf("block not applied after Trigger")
		}
		// In the bubble time only moves when every goroutine waits on a
		// timer: a trigger that waited for a tick would show here.
		if waited := time.Since(start); waited != 0 {
			t.Fatalf("Trigger() applied after %s, want at once", waited)
		}

		store.remove("AG-1")
		r.Trigger()
		synctest.Wait()
		if f.holds(netip.MustParseAddr("198.51.100.1")) {
			t.Fatalf("block still applied after removal and Trigger")
		}
	})
}

func TestReconcilerWatchesTheStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemBlocks()
		f := newFake("fake")
		startReconciler(t, watchedBlocks{store}, f)
		synctest.Wait()

		// No Trigger: the store's change notification is enough.
		for i, addr := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
			store.put(block(fmt.Sprintf("AG-%d", i), addr))
			synctest.Wait()
			if !f.holds(netip.MustParseAddr(addr)) {
				t.Fatalf("block %s not applied after the store's notification", addr)
			}
		}
		store.remove("AG-1")
		synctest.Wait()
		if f.holds(netip.MustParseAddr("198.51.100.2")) {
			t.Fatalf("block still applied after removal")
		}
	})
}

func TestReconcilerCoalescesTriggers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemBlocks()
		f := newFake("fake")
		r := startReconciler(t, store, f)
		synctest.Wait()
		before := f.passCount()

		gate := make(chan struct{})
		f.setGate(gate)
		r.Trigger()
		synctest.Wait() // the pass is now waiting in Apply
		for range 100 {
			r.Trigger()
		}
		f.setGate(nil)
		gate <- struct{}{}
		synctest.Wait()

		// One pass for the first trigger, one for the 100 that came
		// while it ran.
		if got := f.passCount() - before; got != 2 {
			t.Fatalf("passes after 101 triggers = %d, want 2", got)
		}
	})
}

func TestReconcilerPeriodicPassRepairsAndCountsDrift(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemBlocks(block("AG-1", "198.51.100.1"))
		f := newFake("fake")
		r := startReconciler(t, store, f)
		synctest.Wait()
		before := f.passCount()

		f.setDrift(3)
		time.Sleep(testConfig().ResyncInterval)
		synctest.Wait()
		if got := f.passCount() - before; got != 1 {
			t.Fatalf("passes after one resync interval = %d, want 1", got)
		}
		if got := r.Status()[0].Drift; got != 3 {
			t.Fatalf("Status().Drift = %d, want 3", got)
		}
	})
}

func TestReconcilerWritesOnlyChangedStatuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemBlocks(block("AG-1", "198.51.100.1"), block("AG-2", "198.51.100.2"))
		f := newFake("fake")
		r := startReconciler(t, store, f)
		synctest.Wait()
		_, written := store.counts()
		if written != 2 {
			t.Fatalf("statuses written by the first pass = %d, want 2", written)
		}

		r.Trigger()
		synctest.Wait()
		if _, again := store.counts(); again != written {
			t.Fatalf("statuses written by an idle pass = %d, want 0", again-written)
		}

		b := block("AG-2", "198.51.100.2")
		b.Revision = 2
		store.put(b)
		r.Trigger()
		synctest.Wait()
		if _, again := store.counts(); again != written+1 {
			t.Fatalf("statuses written after one revision change = %d, want 1", again-written)
		}
	})
}

func TestReconcilerRetriesFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemBlocks(block("AG-1", "198.51.100.1"))
		f := newFake("fake")
		f.setErr(errors.New("backend down"))
		r := startReconciler(t, store, f)
		synctest.Wait()

		got, _ := store.status("AG-1", "fake")
		if got.State != abuseguard.EnforceFailed {
			t.Fatalf("status while failing = %+v, want failed", got)
		}
		if st := r.Status()[0]; st.LastError == "" || st.Failed != 1 {
			t.Fatalf("Status() while failing = %+v, want an error and one failed block", st)
		}

		// Back-off doubles from RetryMin: passes at 1s, 3s, 7s.
		before := f.passCount()
		time.Sleep(7*time.Second + time.Millisecond)
		synctest.Wait()
		if got := f.passCount() - before; got != 3 {
			t.Fatalf("retries within 7s = %d, want 3", got)
		}

		f.setErr(nil)
		time.Sleep(8 * time.Second)
		synctest.Wait()
		got, _ = store.status("AG-1", "fake")
		if got.State != abuseguard.EnforceApplied {
			t.Fatalf("status after recovery = %+v, want applied", got)
		}
		if st := r.Status()[0]; st.LastError != "" {
			t.Fatalf("Status().LastError after recovery = %q, want none", st.LastError)
		}
	})
}

func TestReconcilerLeavesBackendAloneWhenStoreFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemBlocks(block("AG-1", "198.51.100.1"))
		f := newFake("fake")
		r := startReconciler(t, store, f)
		synctest.Wait()
		before := f.passCount()

		store.setReadErr(errors.New("database is locked"))
		r.Trigger()
		synctest.Wait()
		if got := f.passCount(); got != before {
			t.Fatalf("enforcer called %d times while the store failed, want 0", got-before)
		}
		if !f.holds(netip.MustParseAddr("198.51.100.1")) {
			t.Fatalf("block withdrawn because the store could not be read")
		}
	})
}

func TestReconcilerPassesWhenBackendChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemBlocks(block("AG-1", "198.51.100.1"))
		f := newFake("fake")
		startReconciler(t, store, f)
		synctest.Wait()
		before := f.passCount()

		f.signal()
		synctest.Wait()
		if got := f.passCount() - before; got != 1 {
			t.Fatalf("passes after a backend change = %d, want 1", got)
		}
	})
}

func TestReconcilerEnforcersAreIndependent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemBlocks()
		slow, fast := newFake("slow"), newFake("fast")
		r := startReconciler(t, store, slow, fast)
		synctest.Wait()

		gate := make(chan struct{})
		slow.setGate(gate)
		store.put(block("AG-1", "198.51.100.1"))
		r.Trigger()
		synctest.Wait()
		if !fast.holds(netip.MustParseAddr("198.51.100.1")) {
			t.Fatalf("fast enforcer waited for the slow one")
		}
		slow.setGate(nil)
		close(gate)
	})
}

func TestReconcilerStopCancelsAPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemBlocks()
		f := newFake("fake")
		f.setGate(make(chan struct{})) // never opened
		r, err := enforce.New(testConfig(), enforce.Dependencies{Blocks: store, Enforcers: []enforce.Enforcer{f}, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("New() error: %v", err)
		}
		if err := r.Start(); err != nil {
			t.Fatalf("Start() error: %v", err)
		}
		synctest.Wait()
		// Stop must return with the pass blocked in Apply; a leaked
		// goroutine fails synctest.Test.
		r.Stop()
		if err := r.Start(); err == nil {
			t.Fatalf("Start() after Stop() succeeded, want an error")
		}
	})
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*enforce.Configuration)
		deps enforce.Dependencies
	}{
		{"no store", func(*enforce.Configuration) {}, enforce.Dependencies{}},
		{"zero interval", func(c *enforce.Configuration) { c.ResyncInterval = 0 }, enforce.Dependencies{Blocks: newMemBlocks()}},
		{"retry bounds", func(c *enforce.Configuration) { c.RetryMax = c.RetryMin / 2 }, enforce.Dependencies{Blocks: newMemBlocks()}},
		{"duplicate names", func(*enforce.Configuration) {}, enforce.Dependencies{Blocks: newMemBlocks(), Enforcers: []enforce.Enforcer{newFake("a"), newFake("a")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := enforce.DefaultConfiguration()
			tt.cfg(&cfg)
			if _, err := enforce.New(cfg, tt.deps); err == nil {
				t.Fatalf("New() succeeded, want an error")
			}
		})
	}
}
