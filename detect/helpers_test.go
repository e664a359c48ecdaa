package detect

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"abuseguard"
	"abuseguard/flow"
)

// addrs makes go-cmp compare netip.Addr by ==.
var addrs = cmpopts.EquateComparable(netip.Addr{})

// The test network:
//
//	203.0.113.0/24, 2001:db8:c::/48  customer space; 203.0.113.1–100 are
//	                                 servers 0–99 ("srv-N" of "cust-N"),
//	                                 .128/25 is host group 1 ("speedtest")
//	198.51.100.0/24                  provider space assigned to no server;
//	                                 198.51.100.1 is protected (a router)
//	10/8, 172.16/12, 192.168/16,
//	100.64/10, fd00::/8              reserved
//	198.18.0.0/15                    customer space without servers (benchmarks)
//	everything else                  the internet
//
// MAC 02:00:00:00:00:NN belongs to server NN-1.
type fakeInventory struct{}

var (
	customer6 = netip.MustParsePrefix("2001:db8:c::/48")
	reserved  = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("fd00::/8"),
	}
)

func (fakeInventory) Classify(a netip.Addr) flow.Class {
	c := flow.Class{Server: -1}
	if a.Is4() {
		b := a.As4()
		switch {
		case b[0] == 203 && b[1] == 0 && b[2] == 113:
			c.Flags = flow.ClassCustomer | flow.ClassProvider
			if b[3] >= 1 && b[3] <= 100 {
				c.Server = int32(b[3]) - 1
			}
			if b[3] >= 128 {
				c.Group = 1
			}
			return c
		case b[0] == 198 && b[1]&0xfe == 18:
			c.Flags = flow.ClassCustomer | flow.ClassProvider
			return c
		case b[0] == 198 && b[1] == 51 && b[2] == 100:
			c.Flags = flow.ClassProvider
			if b[3] == 1 {
				c.Flags |= flow.ClassProtected
			}
			return c
		case b[0] == 10 || b[0] == 172 && b[1]&0xf0 == 16 || b[0] == 192 && b[1] == 168 || b[0] == 100 && b[1]&0xc0 == 64:
			c.Flags = flow.ClassReserved
		}
		return c
	}
	if customer6.Contains(a) {
		c.Flags = flow.ClassCustomer | flow.ClassProvider
		return c
	}
	for _, p := range reserved {
		if p.Contains(a) {
			c.Flags = flow.ClassReserved
		}
	}
	return c
}

func (fakeInventory) Server(i int32) (string, string) {
	return fmt.Sprintf("srv-%d", i), fmt.Sprintf("cust-%d", i)
}

func (fakeInventory) ServerByMAC(mac uint64) int32 {
	if mac>>8 == 0x020000000000>>8 && mac&0xff >= 1 && mac&0xff <= 100 {
		return int32(mac&0xff) - 1
	}
	return -1
}

func (fakeInventory) GroupName(g uint16) string {
	if g == 1 {
		return "speedtest"
	}
	return "default"
}

// sink collects reports; safe for concurrent use.
type sink struct {
	mu   sync.Mutex
	dets []abuseguard.Detection
}

func (s *sink) add(d abuseguard.Detection) {
	s.mu.Lock()
	s.dets = append(s.dets, d)
	s.mu.Unlock()
}

// all returns each detection's first and final reports, in order: the
// progress reports in between (see TestProgressReports) are left out so
// that tests can say what was detected without counting them.
func (s *sink) all() []abuseguard.Detection {
	var out []abuseguard.Detection
	seen := map[string]bool{}
	for _, d := range s.everything() {
		if !d.Final {
			if seen[d.ID] {
				continue
			}
			seen[d.ID] = true
		}
		out = append(out, d)
	}
	return out
}

// everything returns every report, progress reports included.
func (s *sink) everything() []abuseguard.Detection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dets)
}

// finals returns the Final reports, sorted by kind, subkind, address.
func (s *sink) finals() []abuseguard.Detection {
	var out []abuseguard.Detection
	for _, d := range s.all() {
		if d.Final {
			out = append(out, d)
		}
	}
	sortDetections(out)
	return out
}

func sortDetections(ds []abuseguard.Detection) {
	slices.SortFunc(ds, func(a, b abuseguard.Detection) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Subkind, b.Subkind),
			a.Address.Compare(b.Address), a.FirstSeen.Compare(b.FirstSeen), cmp.Compare(a.ID, b.ID),
			boolCmp(a.Final, b.Final))
	})
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// summary is the gist of a detection for table tests.
type summary struct {
	Kind     abuseguard.Reason
	Subkind  string
	Address  string
	Final    bool
	Value    float64
	Distinct uint64
}

func summarize(ds []abuseguard.Detection) []summary {
	var out []summary
	for _, d := range ds {
		out = append(out, summary{d.Kind, d.Subkind, d.Address.String(), d.Final, d.Value, d.Distinct})
	}
	return out
}

// testConfig is the default configuration with one shard.
func testConfig() Configuration {
	c := DefaultConfiguration()
	c.Shards = 1
	return c
}

// newEngine returns an engine over the test network and its sink.
func newEngine(t testing.TB, cfg Configuration, groups ...Thresholds) (*Engine, *sink) {
	t.Helper()
	s := &sink{}
	e, err := New(cfg, fakeInventory{}, groups, s.add, Dependencies{})
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	return e, s
}

// t0 is the start of test time: the moment of DESIGN.md's log example.
var t0 = time.Date(2024, 10, 23, 4, 47, 21, 0, time.UTC)

func at(d time.Duration) int64 { return t0.Add(d).UnixNano() }

// rec builds one packet.
func rec(t int64, src, dst string, proto uint8, sport, dport uint16, flags uint8, size uint64) flow.Record {
	return flow.Record{
		Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
		Start: t, End: t, Packets: 1, Bytes: size, SamplingRate: 1,
		Proto: proto, SrcPort: sport, DstPort: dport, TCPFlags: flags,
	}
}

func syn(t int64, src, dst string, dport uint16) flow.Record {
	return rec(t, src, dst, flow.ProtoTCP, 40000, dport, flow.TCPSyn, 60)
}

func ack(t int64, src, dst string, sport, dport uint16) flow.Record {
	return rec(t, src, dst, flow.ProtoTCP, sport, dport, flow.TCPAck, 52)
}

// ext returns the i-th internet address, 45.x.y.z.
func ext(i int) string {
	return netip.AddrFrom4([4]byte{45, byte(i >> 16), byte(i >> 8), byte(i)}).String()
}

// sampled returns r with sampling rate n.
func sampled(r flow.Record, n uint32) flow.Record {
	r.SamplingRate = n
	return r
}
