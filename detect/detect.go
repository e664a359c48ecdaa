package detect

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"abuseguard"
	"abuseguard/detect/ipkey"
	"abuseguard/flow"
)

// Inventory is what detect needs of the inventory: classification of
// addresses, and names for what it found. Implementations are safe for
// concurrent use and Classify does not allocate.
type Inventory interface {
	flow.Classifier
	// Server returns the IDs of server idx (a Class.Server).
	Server(idx int32) (serverID, customerID string)
	// ServerByMAC returns the server with Ethernet address mac (packed as
	// flow.Record.SrcMAC), or -1.
	ServerByMAC(mac uint64) int32
	// GroupName returns the name of host group group (a Class.Group).
	GroupName(group uint16) string
}

// Dependencies are the engine's collaborators.
type Dependencies struct {
	// Registerer receives the engine's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
}

// Engine runs the detectors. Process and Flush drive it synchronously (for
// replay and tests) and are not safe for concurrent use; Start, Submit, Tick
// and Stop drive it with one goroutine per shard (for serve), and Submit and
// Tick are safe for concurrent use. Given the same records in the same calls,
// both ways produce the same detections.
//
// The sink is called with each report; in concurrent mode it is called from
// the shard goroutines at once, so it must be safe for concurrent use, and
// it should not block: a shard waits for it. The sink owns what it receives,
// except that Samples' Data of reports for one address share memory and must
// not be modified.
type Engine struct {
	cfg    Configuration
	inv    Inventory
	limits []limits // per host group; limits[0] also for unknown groups
	sink   func(abuseguard.Detection)
	log    *slog.Logger

	servicePorts *[1024]uint64 // bitmap of UDP reply source ports
	facing       map[iface]struct{}
	facingAll    bool
	maxWindow    int64 // longest window of any detector in any group
	idle         int64 // how long an address may idle before it is dropped

	shards []*shard
	// classes caches classifications for Process (one caller at a time).
	classes *classCache

	// concurrent mode
	mu      sync.RWMutex
	state   int // stateIdle, stateRunning, stateStopped
	queues  []chan *batch
	free    []chan *batch
	batches []atomic.Int32 // batches allocated per shard
	group   *errgroup.Group
	drops   [numDrops]atomic.Uint64
	ignored atomic.Uint64 // records neither to, from, nor misconfigured by a customer
	invalid atomic.Uint64 // records without valid addresses
	lastLog atomic.Int64  // wall time of the last drop warning
}

const (
	stateIdle = iota
	stateRunning
	stateStopped
)

// iface is an exporter interface, packed.
type iface struct {
	exporter ipkey.Key
	index    uint32
}

// New returns an engine over inv with the thresholds of each host group:
// groups[i] applies to addresses the inventory puts in group i, with its
// zero fields inherited from cfg.Defaults (see Thresholds.Resolve). With no
// groups, cfg.Defaults applies to all. The engine is inert until Process or
// Start.
func New(cfg Configuration, inv Inventory, groups []Thresholds, sink func(abuseguard.Detection), deps Dependencies) (*Engine, error) {
	if inv == nil || sink == nil {
		return nil, errors.New("detect: inventory and sink are required")
	}
	if cfg.Shards == 0 {
		cfg.Shards = min(runtime.GOMAXPROCS(0), maxShards)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		groups = []Thresholds{{}}
	}
	e := &Engine{cfg: cfg, inv: inv, sink: sink, log: deps.Logger}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("component", "detect")
	var errs []error
	for i, g := range groups {
		t := g.Resolve(cfg.Defaults)
		if err := t.Validate(fmt.Sprintf("host group %d (%s)", i, inv.GroupName(uint16(i)))); err != nil {
			errs = append(errs, err)
			continue
		}
		l := compile(inv.GroupName(uint16(i)), t, cfg.TopKActivation)
		e.limits = append(e.limits, l)
		e.maxWindow = max(e.maxWindow, l.scanWindow, l.out.window, l.in.window, l.misWindow)
		e.idle = max(e.idle, l.scanWindow+l.scanQuiet, l.out.window+l.out.quiet, l.in.window+l.in.quiet, l.misWindow+l.misQuiet)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	e.servicePorts = new([1024]uint64)
	for p := 0; p < 1024; p++ {
		e.servicePorts[p/64] |= 1 << (p % 64)
	}
	for _, p := range cfg.ServicePorts {
		e.servicePorts[p/64] |= 1 << (p % 64)
	}
	e.facingAll = cfg.CustomerFacing.All
	e.facing = make(map[iface]struct{}, len(cfg.CustomerFacing.Interfaces))
	for _, f := range cfg.CustomerFacing.Interfaces {
		e.facing[iface{ipkey.From(f.Exporter.Unmap()), f.IfIndex}] = struct{}{}
	}
	for i := 0; i < cfg.Shards; i++ {
		e.shards = append(e.shards, newShard(i, e))
	}
	e.classes = newClassCache(inv)
	if deps.Registerer != nil {
		if err := deps.Registerer.Register(&collector{e: e}); err != nil {
			return nil, fmt.Errorf("detect: register metrics: %w", err)
		}
	}
	return e, nil
}

// limitsOf returns the limits of host group g.
func (e *Engine) limitsOf(g uint16) *limits {
	if int(g) < len(e.limits) {
		return &e.limits[g]
	}
	return &e.limits[0]
}

// servicePort reports whether UDP port p answers: below 1024 or configured.
func (e *Engine) servicePort(p uint16) bool { return e.servicePorts[p/64]&(1<<(p%64)) != 0 }

// Roles of a record in a shard.
const (
	roleOut  uint8 = 1 << iota // the source is a customer address
	roleIn                     // the destination is a customer address
	roleMisc                   // the source is unassigned or spoofed
)

// meta is what routing learnt of a record.
type meta struct {
	cs, cd   flow.Class
	src, dst ipkey.Key
	// srcHint and dstHint are the indices of src and dst in the class
	// cache, -1 without one (see shard.address).
	srcHint, dstHint int32
	roles            uint8
}

// target is one shard a record goes to, with its roles there.
type target struct {
	shard int
	roles uint8
}

// route classifies r and returns the shards it concerns (at most three).
// cc, when not nil, caches the classifications (it belongs to the caller).
func (e *Engine) route(r *flow.Record, m *meta, ts *[3]target, cc *classCache) int {
	if !r.Src.IsValid() || !r.Dst.IsValid() {
		e.invalid.Add(1) // a decoder bug upstream: rare, so an atomic is fine
		return 0
	}
	m.src, m.dst = ipkey.From(r.Src), ipkey.From(r.Dst)
	if cc != nil {
		var e *classEntry
		if e, m.srcHint = cc.entry(m.src); e.key == m.src {
			m.cs = e.class
		} else {
			m.cs = cc.miss(e, r.Src, m.src)
		}
		if e, m.dstHint = cc.entry(m.dst); e.key == m.dst {
			m.cd = e.class
		} else {
			m.cd = cc.miss(e, r.Dst, m.dst)
		}
	} else {
		m.cs, m.cd = e.inv.Classify(r.Src), e.inv.Classify(r.Dst)
		m.srcHint, m.dstHint = -1, -1
	}
	m.roles = 0
	if m.cs.Customer() {
		m.roles |= roleOut
	}
	if m.cd.Customer() {
		m.roles |= roleIn
	}
	if !m.cs.Customer() && e.misconfigured(r, m.cs, m.cd) {
		m.roles |= roleMisc
	}
	n := 0
	add := func(sh int, role uint8) {
		for i := 0; i < n; i++ {
			if ts[i].shard == sh {
				ts[i].roles |= role
				return
			}
		}
		ts[n] = target{sh, role}
		n++
	}
	if len(e.shards) == 1 {
		if m.roles != 0 {
			ts[0] = target{0, m.roles}
			n = 1
		}
		return n
	}
	ns := uint64(len(e.shards))
	if m.roles&roleOut != 0 {
		add(int(m.src.Hash()%ns), roleOut)
	}
	if m.roles&roleIn != 0 {
		add(int(m.dst.Hash()%ns), roleIn)
	}
	if m.roles&roleMisc != 0 {
		add(int(e.sourceKey(r, m.cs).hash()%ns), roleMisc)
	}
	return n
}

// misconfigured reports whether a record whose source is not customer space
// is unassigned (provider space, not protected) or spoofed (outside the
// provider, towards a non-customer, from a customer-facing port).
func (e *Engine) misconfigured(r *flow.Record, cs, cd flow.Class) bool {
	if cs.Provider() {
		if cs.Flags&flow.ClassProtected != 0 {
			return false
		}
		// Without a list of customer ports every record may come from a
		// server; with one, only records from those ports can.
		return len(e.facing) == 0 || e.customerFacing(r)
	}
	return !cd.Customer() && e.customerFacing(r)
}

func (e *Engine) customerFacing(r *flow.Record) bool {
	if e.facingAll {
		return true
	}
	if len(e.facing) == 0 {
		return false
	}
	_, ok := e.facing[iface{ipkey.From(r.Exporter), r.InIf}]
	return ok
}

// Process runs the detectors over records synchronously, calling the sink
// for each report. Records may come in any order and in batches of any size;
// Process keeps no reference to them. Not safe for concurrent use, and not
// while the engine is started.
func (e *Engine) Process(records []flow.Record) {
	e.mustBeIdle("Process")
	var m meta
	var ts [3]target
	ignored := uint64(0)
	for i := range records {
		r := &records[i]
		n := e.route(r, &m, &ts, e.classes)
		if n == 0 {
			ignored++
			continue
		}
		for _, t := range ts[:n] {
			e.shards[t.shard].handle(r, &m, t.roles)
		}
	}
	e.ignored.Add(ignored)
	for _, s := range e.shards {
		s.publish()
	}
}

// Tick advances every shard's event time to now, as a record at now would:
// detections that have been quiet long enough end and idle state is freed.
// serve calls it when traffic is idle; pass event time (what records would
// carry), not a clock running ahead of the exporters. Safe for concurrent use
// in concurrent mode, where it queues a tick behind each shard's records
// (dropped, like records, when the shard is busy: its records advance it).
func (e *Engine) Tick(now time.Time) {
	t := now.UnixNano()
	e.mu.RLock()
	running := e.state == stateRunning
	if running {
		for i := range e.shards {
			b := e.getBatch(i)
			if b == nil {
				continue
			}
			b.tick, b.tickAt = true, t
			e.send(i, b)
		}
	}
	e.mu.RUnlock()
	if running {
		return
	}
	e.mustBeIdle("Tick")
	for _, s := range e.shards {
		s.tick(t)
		s.publish()
	}
}

// Flush ends the input: every open detection is reported Final, pending
// attempts are judged as if their grace period had passed, and the state is
// emptied. The engine can take more records afterwards. Not safe for
// concurrent use, and not while started (Stop flushes).
func (e *Engine) Flush() {
	e.mustBeIdle("Flush")
	for _, s := range e.shards {
		s.flush()
		s.publish()
	}
}

func (e *Engine) mustBeIdle(op string) {
	e.mu.RLock()
	st := e.state
	e.mu.RUnlock()
	if st == stateRunning {
		panic("detect: " + op + " called while the engine runs concurrently")
	}
}
