package lifecycle

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/store"

	"github.com/google/go-cmp/cmp"
)

// fakeInventory isolates the lifecycle from package inventory: a few
// servers, protected and provider prefixes.
type fakeInventory struct {
	servers   map[netip.Addr]Location
	protected []netip.Prefix
	provider  []netip.Prefix
}

func (f *fakeInventory) Locate(a netip.Addr) (Location, bool) {
	l, ok := f.servers[a]
	return l, ok
}

func (f *fakeInventory) Protected(a netip.Addr) bool {
	for _, p := range f.protected {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (f *fakeInventory) ProviderSpace(a netip.Addr) bool {
	for _, p := range f.provider {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Customer space is 100.70.0.0/16 here: 203.0.113.0/24 and friends are
// reserved, so they could never serve as access IPs in the tests.
var (
	addrA    = netip.MustParseAddr("100.70.0.10") // customer C1, server S1
	addrA2   = netip.MustParseAddr("100.70.0.11") // customer C1, server S1b, host group "lab"
	addrB    = netip.MustParseAddr("100.70.1.10") // customer C2, server S2
	addrProt = netip.MustParseAddr("100.70.9.53") // a resolver: protected
	office   = netip.MustParseAddr("8.8.4.4")     // a public address outside the provider
	t0       = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
)

func testInventory() *fakeInventory {
	return &fakeInventory{
		servers: map[netip.Addr]Location{
			addrA:    {ServerID: "S1", CustomerID: "C1", HostGroup: "default"},
			addrA2:   {ServerID: "S1b", CustomerID: "C1", HostGroup: "lab"},
			addrB:    {ServerID: "S2", CustomerID: "C2", HostGroup: "default"},
			addrProt: {ServerID: "R1", CustomerID: "PROVIDER", HostGroup: "infra"},
		},
		protected: []netip.Prefix{netip.MustParsePrefix("100.70.9.0/24")},
		provider:  []netip.Prefix{netip.MustParsePrefix("100.70.0.0/16")},
	}
}

// clock is the injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	store *store.Store
	l     *Lifecycle
	clock *clock
	inv   *fakeInventory
	cfg   Configuration
	seq   int
}

var (
	operator  = abuseguard.NewContextWithActor(context.Background(), abuseguard.Actor{Role: abuseguard.RoleOperator, Name: "alice"})
	customer1 = abuseguard.NewContextWithActor(context.Background(), abuseguard.Actor{Role: abuseguard.RoleCustomer, CustomerID: "C1"})
	customer2 = abuseguard.NewContextWithActor(context.Background(), abuseguard.Actor{Role: abuseguard.RoleCustomer, CustomerID: "C2"})
)

func testConfig() Configuration {
	cfg := DefaultConfiguration()
	cfg.WarmUp = 0
	return cfg
}

func newEnv(t *testing.T, mutate func(*Configuration)) *env {
	t.Helper()
	s, err := store.Open(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)),
		filepath.Join(t.TempDir(), "test.db"), []string{"mail"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e := &env{t: t, store: s, clock: &clock{t: t0}, inv: testInventory(), cfg: testConfig()}
	if mutate != nil {
		mutate(&e.cfg)
	}
	e.restart()
	return e
}

// restart makes a new Lifecycle on the same store, as a process restart.
func (e *env) restart() {
	l, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), e.cfg,
		Dependencies{Store: e.store, Inventory: e.inv, Clock: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.l = l
}

// detect makes a first report (netscan by default) for addr and commits it.
func (e *env) detect(addr netip.Addr, kind abuseguard.Reason, value float64, final bool) (string, error) {
	e.seq++
	now := e.clock.Now()
	d := abuseguard.Detection{
		ID: fmt.Sprintf("det-%d", e.seq), Kind: kind, Subkind: "horizontal", Address: addr,
		Direction: abuseguard.DirectionOut, FirstSeen: now.Add(-time.Minute), LastSeen: now,
		Value: value, Threshold: 100, Unit: "destinations", Final: final,
		Evidence: []abuseguard.Evidence{{Name: "netscan.log", ContentType: "text/plain; charset=utf-8", Data: []byte("log")}},
	}
	return e.l.Ingest(context.Background(), d)
}

func (e *env) mustDetect(addr netip.Addr, kind abuseguard.Reason, value float64, final bool) string {
	e.t.Helper()
	id, err := e.detect(addr, kind, value, final)
	if err != nil {
		e.t.Fatalf("Ingest() = %v", err)
	}
	return id
}

// advance moves the clock and runs the timers.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	e.clock.Add(d)
	if err := e.l.RunTimers(context.Background()); err != nil {
		e.t.Fatalf("RunTimers() = %v", err)
	}
}

func (e *env) get(id string) *abuseguard.Case {
	e.t.Helper()
	c, err := e.l.FindCaseByID(operator, id)
	if err != nil {
		e.t.Fatalf("FindCaseByID(%s) = %v", id, err)
	}
	return c
}

// events returns the outbox's event types for a case, in order.
func (e *env) events(caseID string) []abuseguard.EventType {
	e.t.Helper()
	ds, err := e.store.Deliveries(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	var ts []abuseguard.EventType
	for _, d := range ds {
		if d.Event.CaseID == caseID || (caseID == "" && d.Event.CaseID == "") {
			ts = append(ts, d.Event.Type)
		}
	}
	return ts
}

func (e *env) blocks() []string {
	e.t.Helper()
	bs, err := e.store.ActiveBlocks(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, b := range bs {
		out = append(out, fmt.Sprintf("%s %s %s", b.CaseID, b.Address, b.Scope))
	}
	return out
}

func (e *env) wantState(id string, want abuseguard.CaseState) *abuseguard.Case {
	e.t.Helper()
	c := e.get(id)
	if c.State != want {
		e.t.Fatalf("case %s state = %s (note %q), want %s", id, c.State, c.Note, want)
	}
	return c
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if abuseguard.ErrorCode(err) != code {
		t.Fatalf("%s: error %v, want code %s", what, err, code)
	}
}

func wantEvents(t *testing.T, e *env, id string, want ...abuseguard.EventType) {
	t.Helper()
	if diff := cmp.Diff(e.events(id), want); diff != "" {
		t.Fatalf("events of %s (-got, +want):\n%s", id, diff)
	}
}
