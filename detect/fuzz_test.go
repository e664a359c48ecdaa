package detect

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/flow"
)

// FuzzProcess feeds records built from arbitrary bytes (any times, flags,
// ports, rates and sizes; addresses from a small pool of customer, provider,
// reserved and internet space so that the detectors engage) and checks that
// nothing panics and the engine's invariants hold: state within its caps,
// every report well-formed, every detection reported open (again as its
// figure doubles) and then Final exactly once, nothing after its Final.
func FuzzProcess(f *testing.F) {
	f.Add(make([]byte, 64))
	seed := make([]byte, 0, 40*200)
	for i := 0; i < 200; i++ {
		var b [40]byte
		b[0], b[1] = 0, byte(i) // customer → internet
		binary.LittleEndian.PutUint64(b[2:], uint64(i)*uint64(time.Millisecond))
		b[12] = flow.ProtoTCP
		b[13] = flow.TCPSyn
		binary.LittleEndian.PutUint16(b[16:], 22)
		seed = append(seed, b[:]...)
	}
	f.Add(seed)
	pool := []netip.Addr{
		netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("203.0.113.200"),
		netip.MustParseAddr("2001:db8:c::1"), netip.MustParseAddr("198.51.100.10"),
		netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("10.1.2.3"),
		netip.MustParseAddr("fd00::1"), netip.MustParseAddr("45.0.0.1"),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Go's fuzzer has no per-input timeout: a hang would only show as
		// "0 execs/sec". Fail loudly, with every stack, instead.
		watchdog := time.AfterFunc(10*time.Second, func() {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			panic("slow input:\n" + string(buf[:n]))
		})
		defer watchdog.Stop()
		cfg := testConfig()
		cfg.Shards = 2
		cfg.MaxAddresses, cfg.MaxSources, cfg.MaxContacts = 8, 4, 16
		cfg.PendingAttempts, cfg.MaxTopK, cfg.SampleRing, cfg.MaxSamples = 8, 2, 8, 4
		cfg.CustomerFacing.All = true
		reports := map[string][2]int{}
		e, err := New(cfg, fakeInventory{}, nil, func(d abuseguard.Detection) {
			if d.ID == "" || d.Kind == "" || d.Subkind == "" || !d.Address.IsValid() {
				t.Errorf("malformed report %+v", d)
			}
			if d.LastSeen.Before(d.FirstSeen) {
				t.Errorf("report %s: LastSeen %v before FirstSeen %v", d.ID, d.LastSeen, d.FirstSeen)
			}
			if len(d.Samples) > cfg.MaxSamples || len(d.Attempts) > cfg.MaxAttempts {
				t.Errorf("report %s: %d samples, %d attempts", d.ID, len(d.Samples), len(d.Attempts))
			}
			c := reports[d.ID]
			if c[1] > 0 {
				t.Errorf("detection %s reported after its Final report", d.ID)
			}
			if d.Final {
				c[1]++
			} else {
				c[0]++
			}
			reports[d.ID] = c
		}, Dependencies{})
		if err != nil {
			t.Fatal(err)
		}
		var rs []flow.Record
		for len(data) >= 40 {
			b := data[:40]
			data = data[40:]
			end := int64(binary.LittleEndian.Uint64(b[2:]))
			r := flow.Record{
				Src: pool[b[0]%8], Dst: pool[b[1]%8],
				Start: end - int64(binary.LittleEndian.Uint32(b[10:]))<<(b[14]%40), End: end,
				Proto: b[12], TCPFlags: b[13], Flags: b[15] % 4,
				SrcPort: binary.LittleEndian.Uint16(b[18:]), DstPort: binary.LittleEndian.Uint16(b[16:]),
				Packets: uint64(binary.LittleEndian.Uint32(b[20:])), Bytes: binary.LittleEndian.Uint64(b[24:]) >> (b[32] % 64),
				SamplingRate: binary.LittleEndian.Uint32(b[33:]) >> (b[37] % 32),
				SrcMAC:       uint64(b[38] % 4), Header: b[:b[39]%41],
			}
			if b[1]&0x80 != 0 { // vary the internet peer and the customer
				r.Dst = netip.AddrFrom4([4]byte{45, 0, b[38], b[39]})
			}
			if b[0]&0x80 != 0 {
				r.Src = netip.AddrFrom4([4]byte{203, 0, 113, b[38]})
			}
			rs = append(rs, r)
			if len(rs) == 7 {
				e.Process(rs)
				rs = rs[:0]
			}
		}
		e.Process(rs)
		for _, s := range e.shards {
			if s.addrs.len() > e.perShard(cfg.MaxAddresses) || s.srcs.len() > e.perShard(cfg.MaxSources) {
				t.Fatalf("shard %d holds %d addresses, %d sources", s.id, s.addrs.len(), s.srcs.len())
			}
			if s.pending.n > e.perShard(cfg.PendingAttempts) || s.topActive > e.perShard(cfg.MaxTopK) {
				t.Fatalf("shard %d: %d pending, %d summaries", s.id, s.pending.n, s.topActive)
			}
			for i := int32(0); i < s.addrs.used; i++ {
				if n := s.addrs.node(i); n.live && n.v.scan != nil && n.v.scan.Len() > cfg.MaxContacts {
					t.Fatalf("contact table of %d entries", n.v.scan.Len())
				}
			}
		}
		e.Flush()
		for id, c := range reports {
			if c[0] < 1 || c[1] != 1 {
				t.Fatalf("detection %s reported %d times open, %d times Final", id, c[0], c[1])
			}
		}
	})
}
