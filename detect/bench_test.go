package detect

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"abuseguard/flow"
)

// The benchmarks report ns and allocations per record in the steady state:
// records are spaced in event time and a warm-up of more than the longest
// window involved runs first, so windows roll, contacts expire, pools are
// full and tables have their working size before the timer starts.
//
// Besides ns/op (wall clock) each reports cpu-ns/op, the process's CPU time
// per record (getrusage, GC included): on the shared 2-core build machine,
// wall time also counts the time other engineers' processes held the CPU.

var header = make([]byte, 96) // a typical captured header: Ethernet + IPv4 + TCP with options

// bench feeds gen's records in calls of 1 024, every apart in event time:
// warm of event time first, then b.N records timed.
func bench(b *testing.B, e *Engine, every, warm time.Duration, gen func(i int, t int64, r *flow.Record)) {
	b.Helper()
	batch := make([]flow.Record, 1024)
	i := 0
	feed := func(n int) {
		for j := range batch[:n] {
			batch[j] = flow.Record{}
			gen(i, at(time.Duration(i)*every), &batch[j])
			i++
		}
		e.Process(batch[:n])
	}
	for w := int(warm / every); w > 0; w -= len(batch) {
		feed(min(w, len(batch)))
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for done := 0; done < b.N; done += len(batch) {
		feed(min(len(batch), b.N-done))
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func cpuTime() int64 {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return 0
	}
	return r.Utime.Nano() + r.Stime.Nano()
}

// cust is customer address i of the benchmark space 198.18.0.0/15; ext4 is
// internet address i.
func cust(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18 + byte(i>>16&1), byte(i >> 8), byte(i)})
}
func ext4(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{45, byte(i >> 16), byte(i >> 8), byte(i)})
}

func pkt(r *flow.Record, t int64, src, dst netip.Addr, proto uint8, sport, dport uint16, flags uint8, size uint64) {
	*r = flow.Record{Src: src, Dst: dst, Start: t, End: t, Packets: 1, Bytes: size, SamplingRate: 1,
		Proto: proto, SrcPort: sport, DstPort: dport, TCPFlags: flags,
		Header: header, HeaderType: flow.LinkTypeEthernet, OrigLen: uint32(size + 14)}
}

// established fills r with a packet of an established connection between
// one of 2 000 servers and one of 100 000 clients, either way.
func established(i int, t int64, r *flow.Record) {
	srv, cl := cust(i*7%2000), ext4(i*7919%100_000)
	port := uint16(30000 + i*31%30000)
	if i%2 == 0 {
		pkt(r, t, srv, cl, flow.ProtoTCP, 443, port, flow.TCPAck|flow.TCPPsh, 1500)
	} else {
		pkt(r, t, cl, srv, flow.ProtoTCP, port, 443, flow.TCPAck, 52)
	}
}

// BenchmarkEstablished: the common case, packets of established TCP
// connections (100 000 records/s).
func BenchmarkEstablished(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	bench(b, e, 10*time.Microsecond, 12*time.Second, established)
}

// BenchmarkNetscan: 64 scanners, 60 new hosts a second each (under the
// 4 096-contact cap over a minute, so contacts are inserted, promoted after
// the grace period and expired all the time); every record an attempt.
func BenchmarkNetscan(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	bench(b, e, time.Second/(64*60), 70*time.Second, func(i int, t int64, r *flow.Record) {
		pkt(r, t, cust(i%64), ext4(i), flow.ProtoTCP, 40000, 22, flow.TCPSyn, 60)
	})
}

// BenchmarkFlood: a spoofed flood of 300 000 pps towards one server, every
// record from a new source; the detection is open and both top-K summaries
// take over a counter per record.
func BenchmarkFlood(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	vic := cust(41)
	bench(b, e, 10*time.Microsecond, 12*time.Second, func(i int, t int64, r *flow.Record) {
		pkt(r, t, ext4(i*2654435761), vic, flow.ProtoUDP, 123, uint16(i), 0, 468)
		r.Packets, r.Bytes = 3, 3*468
	})
}

// BenchmarkPrivate: 10 of 2 000 servers leak to 200 private destinations,
// 2 % of the records (10 000 records/s).
func BenchmarkPrivate(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	bench(b, e, 100*time.Microsecond, 310*time.Second, func(i int, t int64, r *flow.Record) {
		if i%50 != 0 {
			established(i, t, r)
			return
		}
		dst := netip.AddrFrom4([4]byte{10, 0, 0, byte(i / 50 % 200)})
		pkt(r, t, cust(i/50%10), dst, flow.ProtoUDP, 5353, 5353, 0, 80)
	})
}

// BenchmarkUnassigned: a server sending from 16 provider addresses assigned
// to no server, 2 % of the records.
func BenchmarkUnassigned(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	bench(b, e, 100*time.Microsecond, 310*time.Second, func(i int, t int64, r *flow.Record) {
		if i%50 != 0 {
			established(i, t, r)
			return
		}
		pkt(r, t, netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i%16)}), ext4(i%100_000), flow.ProtoTCP, 40000, 443, flow.TCPAck, 1500)
		r.SrcMAC = serverMAC
	})
}

// mix fills r with the i-th record of a hosting provider's uplink seen
// unsampled: 2 000 active servers in a /15, 100 000 clients.
//
//	80 %  established TCP, both ways
//	 6 %  DNS: queries to 8 resolvers and their answers
//	 4 %  new client connections: SYN, then ACK 2 records later
//	 6 %  internet background scanning of the whole /15 (131 072 addresses)
//	 2 %  pings to servers and their replies
//	 2 %  a scanner (one server, 2 000 new hosts a second at 100 000 rec/s)
func mix(i int, t int64, r *flow.Record, rnd *rand.Rand) {
	srv := cust(i * 7 % 2000)
	switch x := i % 100; {
	case x < 80:
		established(i, t, r)
	case x < 83:
		pkt(r, t, srv, ext4(1+i%8), flow.ProtoUDP, uint16(20000+i%40000), 53, 0, 70)
	case x < 86:
		pkt(r, t, ext4(1+i%8), cust((i-3)*7%2000), flow.ProtoUDP, 53, uint16(20000+(i-3)%40000), 0, 300)
	case x < 88:
		pkt(r, t, srv, ext4(200_000+i/100), flow.ProtoTCP, 40000, 443, flow.TCPSyn, 60)
	case x < 90:
		pkt(r, t, cust((i-2)*7%2000), ext4(200_000+(i-2)/100), flow.ProtoTCP, 40000, 443, flow.TCPAck, 52)
	case x < 96:
		pkt(r, t, ext4(rnd.IntN(100_000)), cust(rnd.IntN(131072)), flow.ProtoTCP, 50000, uint16(rnd.IntN(1024)), flow.TCPSyn, 60)
	case x < 97:
		pkt(r, t, ext4(i%100_000), srv, flow.ProtoICMP, 0, icmpEchoRequest, 0, 84)
	case x < 98:
		pkt(r, t, cust((i-1)*7%2000), ext4((i-1)%100_000), flow.ProtoICMP, 0, icmpEchoReply, 0, 84)
	default:
		pkt(r, t, cust(4000), ext4(300_000+i), flow.ProtoTCP, 40000, 23, flow.TCPSyn, 60)
	}
}

// BenchmarkMixed: the whole engine on the realistic mix, 100 000 records/s
// of event time, after 70 s of warm-up.
func BenchmarkMixed(b *testing.B) {
	e, _ := newEngine(b, testConfig())
	rnd := rand.New(rand.NewPCG(9, 9))
	bench(b, e, 10*time.Microsecond, 70*time.Second, func(i int, t int64, r *flow.Record) { mix(i, t, r, rnd) })
}

// BenchmarkSubmit: concurrent mode, 2 shards, the realistic mix submitted
// from one goroutine. It includes the drain at Stop, so it measures records
// detected, not merely queued; records dropped because the shards fell
// behind are reported per record.
func BenchmarkSubmit(b *testing.B) {
	cfg := testConfig()
	cfg.Shards = 2
	cfg.QueueLength = 256
	e, _ := newEngine(b, cfg)
	if err := e.Start(); err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(9, 9))
	batch := make([]flow.Record, 1024)
	i := 0
	fill := func(n int) []flow.Record {
		for j := range batch[:n] {
			mix(i, at(time.Duration(i)*10*time.Microsecond), &batch[j], rnd)
			i++
		}
		return batch[:n]
	}
	for w := 0; w < 2000; w++ { // 20 s of warm-up
		e.Submit(fill(len(batch)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for done := 0; done < b.N; done += len(batch) {
		e.Submit(fill(min(len(batch), b.N-done)))
	}
	if err := e.Stop(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	var dropped uint64
	for i := range e.drops {
		dropped += e.drops[i].Load()
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(dropped)/float64(b.N+2000*len(batch)), "dropped/record")
}

// BenchmarkMemoryPerAddress measures the heap one tracked address costs,
// for 100 000 addresses: "active" servers send and receive TCP and make a
// DNS query (both windows and a small contact table); "idle" addresses only
// receive (background scanning of customer space).
func BenchmarkMemoryPerAddress(b *testing.B) {
	for _, active := range []bool{true, false} {
		name := "idle"
		if active {
			name = "active"
		}
		b.Run(name, func(b *testing.B) {
			for it := 0; it < b.N; it++ {
				b.ReportMetric(memoryPerAddress(b, active), "B/address")
			}
		})
	}
}

func memoryPerAddress(b *testing.B, active bool) float64 {
	const n = 100_000
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
		t := at(time.Duration(i) * time.Microsecond)
		pkt(&in, t, ext4(i), a, flow.ProtoTCP, 40000, 443, flow.TCPSyn, 60)
		if !active {
			batch = append(batch, in)
		} else {
			pkt(&out, t, a, ext4(i), flow.ProtoTCP, 443, 40000, flow.TCPAck, 1500)
			pkt(&dns, t, a, ext4(1), flow.ProtoUDP, 40000, 53, 0, 70)
			batch = append(batch, out, in, dns)
		}
		if len(batch) >= cap(batch)-3 {
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
	runtime.KeepAlive(e)
	return float64(after.HeapAlloc-before.HeapAlloc) / n
}

// BenchmarkGenerator is the cost of making the mixed records alone, to be
// subtracted from BenchmarkMixed.
func BenchmarkGenerator(b *testing.B) {
	rnd := rand.New(rand.NewPCG(9, 9))
	batch := make([]flow.Record, 1024)
	b.ReportAllocs()
	for done := 0; done < b.N; done += len(batch) {
		for j := range batch {
			batch[j] = flow.Record{}
			mix(done+j, at(time.Duration(done+j)*10*time.Microsecond), &batch[j], rnd)
		}
	}
}
