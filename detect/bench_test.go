package detect

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"abuseguard/flow"
)

// Benchmarks report ns and allocations per record. Each feeds records in
// calls of 1 024, as inputs do, with time advancing so that windows roll and
// state expires as in production: the steady state, not the warm-up, is
// measured (b.ResetTimer after a first pass).

var header = make([]byte, 96) // a typical captured header: Ethernet + IPv4 + TCP with options

// loop runs gen over b.N records in batches, twice the first batch to warm
// up; gen fills one record for index i.
func loop(b *testing.B, e *Engine, gen func(i int, r *flow.Record)) {
	batch := make([]flow.Record, 1024)
	fill := func(base int) {
		for j := range batch {
			batch[j] = flow.Record{}
			gen(base+j, &batch[j])
		}
	}
	for w := 0; w < 64; w++ { // warm up: tables grown, pools filled
		fill(w * len(batch))
		e.Process(batch)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += len(batch) {
		fill(64*len(batch) + done)
		n := min(len(batch), b.N-done)
		e.Process(batch[:n])
	}
}

// ts spaces records 1 µs apart: a million records a second.
func ts(i int) int64 { return at(time.Duration(i) * time.Microsecond) }

var (
	custBase = netip.MustParseAddr("203.0.113.0").As4()
	benchExt = func(i int) netip.Addr { return netip.AddrFrom4([4]byte{45, byte(i >> 16), byte(i >> 8), byte(i)}) }
	benchCus = func(i int) netip.Addr { return netip.AddrFrom4([4]byte{custBase[0], custBase[1], custBase[2], byte(i)}) }
)

func pktInto(r *flow.Record, t int64, src, dst netip.Addr, proto uint8, sport, dport uint16, flags uint8, size uint64) {
	*r = flow.Record{Src: src, Dst: dst, Start: t, End: t, Packets: 1, Bytes: size, SamplingRate: 1,
		Proto: proto, SrcPort: sport, DstPort: dport, TCPFlags: flags, Header: header, HeaderType: flow.LinkTypeEthernet, OrigLen: uint32(size + 14)}
}

// BenchmarkEstablished: the common case, packets of established TCP
// connections both ways between 250 servers and 100 000 clients.
func BenchmarkEstablished(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	loop(b, e, func(i int, r *flow.Record) {
		srv, cl := benchCus(1+i%250), benchExt(i*7919%100_000)
		if i%2 == 0 {
			pktInto(r, ts(i), srv, cl, flow.ProtoTCP, 443, uint16(30000+i%20000), flow.TCPAck|flow.TCPPsh, 1500)
		} else {
			pktInto(r, ts(i), cl, srv, flow.ProtoTCP, uint16(30000+i%20000), 443, flow.TCPAck, 52)
		}
	})
}

// BenchmarkNetscan: a scanner's SYNs to new hosts, 1 000 a second (its
// contact table full at the cap, attempts promoted after the grace period),
// among other traffic.
func BenchmarkNetscan(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	loop(b, e, func(i int, r *flow.Record) {
		if i%1000 == 0 {
			pktInto(r, ts(i), benchCus(7), benchExt(i/1000), flow.ProtoTCP, 40000, 22, flow.TCPSyn, 60)
			return
		}
		pktInto(r, ts(i), benchCus(1+i%250), benchExt(i%100_000), flow.ProtoUDP, uint16(20000+i%40000), 53, 0, 70)
	})
}

// BenchmarkNetscanAttempts: nothing but attempts, each to a new host.
func BenchmarkNetscanAttempts(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	loop(b, e, func(i int, r *flow.Record) {
		pktInto(r, at(time.Duration(i)*time.Millisecond), benchCus(1+i%64), benchExt(i), flow.ProtoTCP, 40000, 22, flow.TCPSyn, 60)
	})
}

// BenchmarkFlood: a spoofed flood towards one server, every record from a
// new source: the top-K summaries are active and take over a counter per
// record.
func BenchmarkFlood(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	vic := benchCus(41)
	loop(b, e, func(i int, r *flow.Record) {
		pktInto(r, ts(i), benchExt(i*2654435761), vic, flow.ProtoUDP, 123, 80, 0, 468)
	})
}

// BenchmarkPrivate: a server leaking to 10/8 (distinct destinations), among
// its ordinary traffic.
func BenchmarkPrivate(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	loop(b, e, func(i int, r *flow.Record) {
		dst := benchExt(i % 100_000)
		if i%4 == 0 {
			dst = netip.AddrFrom4([4]byte{10, 0, byte(i >> 10), byte(i >> 2)})
		}
		pktInto(r, ts(i), benchCus(1+i%250), dst, flow.ProtoUDP, 5353, 5353, 0, 80)
	})
}

// BenchmarkUnassigned: a server sending from provider addresses not
// assigned to it.
func BenchmarkUnassigned(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	loop(b, e, func(i int, r *flow.Record) {
		pktInto(r, ts(i), netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i%16)}), benchExt(i%100_000), flow.ProtoTCP, 40000, 443, flow.TCPAck, 1500)
		r.SrcMAC = serverMAC
	})
}

// mixRecord is one record of a hosting provider's uplink as sampled at
// 1:1: established TCP both ways (70 %), DNS (10 %), new client connections
// (5 %), internet background scanning of customer space (10 %), ICMP and
// other (5 %); 250 active servers, 100 000 clients, IPv4.
func mixRecord(i int, r *flow.Record, rnd *rand.Rand) {
	t := ts(i)
	srv := benchCus(1 + rnd.IntN(250))
	cl := benchExt(rnd.IntN(100_000))
	port := uint16(30000 + rnd.IntN(30000))
	switch x := rnd.IntN(100); {
	case x < 35:
		pktInto(r, t, srv, cl, flow.ProtoTCP, 443, port, flow.TCPAck|flow.TCPPsh, 1500)
	case x < 70:
		pktInto(r, t, cl, srv, flow.ProtoTCP, port, 443, flow.TCPAck, 52)
	case x < 75:
		pktInto(r, t, srv, cl, flow.ProtoUDP, port, 53, 0, 70)
	case x < 80:
		pktInto(r, t, cl, srv, flow.ProtoUDP, 53, port, 0, 300)
	case x < 85:
		pktInto(r, t, srv, cl, flow.ProtoTCP, port, 443, flow.TCPSyn, 60)
	case x < 95:
		pktInto(r, t, cl, benchCus(rnd.IntN(256)), flow.ProtoTCP, port, uint16(rnd.IntN(1024)), flow.TCPSyn, 60)
	default:
		pktInto(r, t, cl, srv, flow.ProtoICMP, 0, icmpEchoRequest, 0, 84)
	}
}

// BenchmarkMixed: the whole engine on the realistic mix.
func BenchmarkMixed(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	rnd := rand.New(rand.NewPCG(9, 9))
	loop(b, e, func(i int, r *flow.Record) { mixRecord(i, r, rnd) })
}

// BenchmarkSubmit: concurrent mode, 2 shards, the realistic mix submitted
// from one goroutine; includes the drain at Stop, so it measures records
// detected per second, not only queued. Records dropped (the shards falling
// behind) are reported.
func BenchmarkSubmit(b *testing.B) {
	cfg := testConfig()
	cfg.Shards = 2
	cfg.QueueLength = 256
	e, _ := newEngine(b, cfg)
	if err := e.Start(); err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(9, 9))
	batches := make([][]flow.Record, 64)
	for k := range batches {
		batches[k] = make([]flow.Record, 1024)
		for j := range batches[k] {
			mixRecord(k*1024+j, &batches[k][j], rnd)
		}
	}
	span := int64(64 * 1024 * int(time.Microsecond))
	b.ReportAllocs()
	b.ResetTimer()
	for done, k := 0, 0; done < b.N; done, k = done+1024, k+1 {
		bt := batches[k%len(batches)]
		if k > 0 && k%len(batches) == 0 {
			for j := range batches {
				for x := range batches[j] {
					batches[j][x].Start += span
					batches[j][x].End += span
				}
			}
		}
		e.Submit(bt[:min(len(bt), b.N-done)])
	}
	if err := e.Stop(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	var dropped uint64
	for i := range e.drops {
		dropped += e.drops[i].Load()
	}
	b.ReportMetric(float64(dropped)/float64(b.N), "dropped/record")
}

// BenchmarkMemoryPerAddress measures the heap one tracked address costs:
// 100 000 servers each sending and receiving TCP and making a DNS query
// (so each has both windows and a small contact table).
func BenchmarkMemoryPerAddress(b *testing.B) {
	const n = 100_000
	for it := 0; it < b.N; it++ {
		cfg := testConfig()
		cfg.MaxAddresses = n
		e, _ := newEngine(b, cfg)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		batch := make([]flow.Record, 0, 3*1000)
		for i := 0; i < n; i++ {
			a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
			var out, in, dns flow.Record
			pktInto(&out, ts(i), a, benchExt(i), flow.ProtoTCP, 443, 40000, flow.TCPAck, 1500)
			pktInto(&in, ts(i), benchExt(i), a, flow.ProtoTCP, 40000, 443, flow.TCPAck, 52)
			pktInto(&dns, ts(i), a, benchExt(1), flow.ProtoUDP, 40000, 53, 0, 70)
			batch = append(batch, out, in, dns)
			if len(batch) == cap(batch) {
				e.Process(batch)
				batch = batch[:0]
			}
		}
		e.Process(batch)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if got := e.shards[0].addrs.len(); got != n {
			b.Fatalf("tracked %d addresses, want %d", got, n)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/address")
		runtime.KeepAlive(e)
	}
}
