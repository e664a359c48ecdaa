package bgp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"abuseguard"
)

// BenchmarkApply10000 measures the passes the reconciler makes with 10 000
// blocks in the speaker's RIB (half RTBH, half FlowSpec with an access IP,
// 25 000 routes): a pass that changes nothing, one that also reads the RIB
// back (once a minute), and one that adds or removes a block. No session
// is needed: the cost is planning, diffing and GoBGP's own work.
func BenchmarkApply10000(b *testing.B) {
	e, err := New(speakerConfig(1), Dependencies{Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(); err != nil {
		b.Fatal(err)
	}
	defer e.Stop()
	desired := make([]abuseguard.Block, 10000)
	for i := range desired {
		desired[i] = abuseguard.Block{CaseID: fmt.Sprintf("AG-%d", i), Address: netip.AddrFrom4([4]byte{10, 80, byte(i >> 8), byte(i)}), Scope: abuseguard.ScopeInbound}
		if i%2 == 1 {
			desired[i].Scope, desired[i].AccessIP = abuseguard.ScopeBoth, netip.MustParseAddr("10.99.0.1")
		}
	}
	if res, err := e.Apply(b.Context(), desired); err != nil || res.Added != 25000 {
		b.Fatalf("first Apply() = added %d, error %v", res.Added, err)
	}
	b.Run("idle", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if res, err := e.Apply(b.Context(), desired); err != nil || res.Added+res.Removed != 0 {
				b.Fatalf("Apply() = %+v, %v", res, err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.verified = time.Time{} // read the RIB back, as once a minute
			if res, err := e.Apply(b.Context(), desired); err != nil || res.Added+res.Removed+res.Drift != 0 {
				b.Fatalf("Apply() = %+v, %v", res, err)
			}
		}
	})
	b.Run("one-change", func(b *testing.B) {
		extra := append(desired, abuseguard.Block{CaseID: "AG-X", Address: netip.MustParseAddr("10.81.0.1"), Scope: abuseguard.ScopeInbound})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			set := desired
			if i%2 == 0 {
				set = extra
			}
			if _, err := e.Apply(b.Context(), set); err != nil {
				b.Fatal(err)
			}
		}
	})
}
