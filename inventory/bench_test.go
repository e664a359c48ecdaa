package inventory

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// BenchmarkClassify classifies a mix of addresses (servers' IPv4 and IPv6,
// provider space without a server, reserved, the internet) against an
// inventory of 100 000 servers.
func BenchmarkClassify(b *testing.B) {
	inv, err := New(bigInventory(b, 100_000), nil)
	if err != nil {
		b.Fatal(err)
	}
	servers := inv.Servers()
	rng := rand.New(rand.NewPCG(1, 2))
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		switch i % 4 {
		case 0:
			addrs[i] = servers[rng.IntN(len(servers))].Prefixes[0].Addr()
		case 1:
			addrs[i] = servers[rng.IntN(len(servers))].Prefixes[1].Addr().Next()
		case 2:
			addrs[i] = netip.AddrFrom4([4]byte{172, 16 + byte(rng.IntN(16)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		default:
			addrs[i] = netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), 1})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var sink int32
	for i := 0; b.Loop(); i++ {
		sink += inv.Classify(addrs[i&4095]).Server
	}
	_ = sink
}

// BenchmarkLoadCSV loads, validates and indexes 100 000 servers from CSV.
func BenchmarkLoadCSV(b *testing.B) {
	cfg := bigInventory(b, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(cfg, nil); err != nil {
			b.Fatal(err)
		}
	}
}
