package collector

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"abuseguard/decoder/netflow"
	"abuseguard/decoder/sflow"
)

// Export formats a datagram can be, by its header.
type format uint8

const (
	formatUnknown format = iota
	formatNetFlowV5
	formatNetFlowV9
	formatIPFIX
	formatSFlowV5
	formatCount
)

var formatNames = [formatCount]string{"unknown", "netflow_v5", "netflow_v9", "ipfix", "sflow_v5"}

// sniff tells the format by the version field: 16 bits for NetFlow and
// IPFIX, 32 bits for sFlow (00 00 00 05, which NetFlow's 00 05 cannot
// start with).
func sniff(b []byte) format {
	if len(b) < 4 {
		return formatUnknown
	}
	switch uint16(b[0])<<8 | uint16(b[1]) {
	case 5:
		return formatNetFlowV5
	case 9:
		return formatNetFlowV9
	case 10:
		return formatIPFIX
	case 0:
		if b[2] == 0 && b[3] == 5 {
			return formatSFlowV5
		}
	}
	return formatUnknown
}

// Error kinds counted per exporter: the decoders' kinds, offset so that
// both fit one array, plus one for datagrams of no known format.
const (
	netflowKinds = 16
	sflowKinds   = 8
	kindUnknown  = netflowKinds + sflowKinds
	kindCount    = kindUnknown + 1
)

func kindName(k int) string {
	switch {
	case k < netflowKinds:
		return "netflow_" + netflow.Kind(k).String()
	case k < kindUnknown:
		return "sflow_" + sflow.Kind(k-netflowKinds).String()
	}
	return "unknown_format"
}

// exporter is the state and counters of one admitted exporter address.
// Counters are atomics: workers of several listeners update them.
type exporter struct {
	addr                   netip.Addr
	rule                   *ExporterConfiguration // nil when admitted as unknown
	since                  time.Time
	format                 [formatCount]atomic.Uint64
	errors                 [kindCount]atomic.Uint64
	records, noRate, drops atomic.Uint64
	future                 atomic.Uint64 // records moved back to their arrival (MaxClockSkew)
	rate                   atomic.Uint32 // last sampling rate seen, 0 before any
	lastSeen               atomic.Int64  // Unix ns of the last datagram
}

// exporterTable finds the state of an exporter by address. Configured
// addresses are entered at New; addresses within configured prefixes (and
// any address with AcceptUnknownExporters) on their first datagram, up to
// max.
type exporterTable struct {
	mu     sync.RWMutex
	byAddr map[netip.Addr]*exporter
	rules  []*ExporterConfiguration // prefixes, most specific first
	any    bool                     // accept unknown exporters
	max    int
	onNew  func(e *exporter) // configures the decoders for a new exporter
}

func newExporterTable(cfg *Configuration, onNew func(*exporter)) *exporterTable {
	t := &exporterTable{byAddr: map[netip.Addr]*exporter{}, any: cfg.AcceptUnknownExporters, max: cfg.MaxExporters, onNew: onNew}
	for i := range cfg.Exporters {
		r := &cfg.Exporters[i]
		if r.prefix.IsSingleIP() {
			t.add(r.prefix.Addr(), r)
		} else {
			t.rules = append(t.rules, r)
		}
	}
	slices.SortStableFunc(t.rules, func(a, b *ExporterConfiguration) int { return b.prefix.Bits() - a.prefix.Bits() })
	return t
}

func (t *exporterTable) add(a netip.Addr, r *ExporterConfiguration) *exporter {
	e := &exporter{addr: a, rule: r, since: time.Now()}
	t.byAddr[a] = e
	if t.onNew != nil {
		t.onNew(e)
	}
	return e
}

// lookupResult says why lookup found no exporter.
type lookupResult uint8

const (
	found lookupResult = iota
	notConfigured
	overLimit
)

// lookup returns the exporter of addr, entering it when a prefix (or
// AcceptUnknownExporters) admits it and there is room.
func (t *exporterTable) lookup(addr netip.Addr) (*exporter, lookupResult) {
	t.mu.RLock()
	e := t.byAddr[addr]
	t.mu.RUnlock()
	if e != nil {
		return e, found
	}
	var rule *ExporterConfiguration
	for _, r := range t.rules {
		if r.prefix.Contains(addr) {
			rule = r
			break
		}
	}
	if rule == nil && !t.any {
		return nil, notConfigured
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e = t.byAddr[addr]; e != nil {
		return e, found
	}
	if len(t.byAddr) >= t.max {
		return nil, overLimit
	}
	return t.add(addr, rule), found
}

// all returns the exporters, sorted by address.
func (t *exporterTable) all() []*exporter {
	t.mu.RLock()
	out := make([]*exporter, 0, len(t.byAddr))
	for _, e := range t.byAddr {
		out = append(out, e)
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b *exporter) int { return a.addr.Compare(b.addr) })
	return out
}

// UnknownExporter is a source the collector turned away.
type UnknownExporter struct {
	// Address is the datagrams' source address.
	Address netip.Addr
	// Datagrams counts the datagrams refused since it entered the list.
	Datagrams uint64
	// First and LastSeen are when the first and the last of them came.
	First, LastSeen time.Time
}

// unknownList keeps the most recently seen unknown exporters, at most
// size of them: a spoofed flood cannot grow it, and the operator sees the
// router they forgot to configure.
type unknownList struct {
	mu      sync.Mutex
	size    int
	entries []UnknownExporter // most recent last
}

// seen records a datagram from addr at now and reports whether addr is
// new to the list.
func (u *unknownList) seen(addr netip.Addr, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := range u.entries {
		if u.entries[i].Address == addr {
			e := u.entries[i]
			e.Datagrams++
			e.LastSeen = now
			// Move to the end, so the oldest is evicted first.
			copy(u.entries[i:], u.entries[i+1:])
			u.entries[len(u.entries)-1] = e
			return false
		}
	}
	if len(u.entries) == u.size {
		copy(u.entries, u.entries[1:])
		u.entries = u.entries[:len(u.entries)-1]
	}
	u.entries = append(u.entries, UnknownExporter{Address: addr, Datagrams: 1, First: now, LastSeen: now})
	return true
}

func (u *unknownList) list() []UnknownExporter {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := slices.Clone(u.entries)
	slices.Reverse(out)
	return out
}
