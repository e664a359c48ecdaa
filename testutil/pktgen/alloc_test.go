package pktgen

import "testing"

// TestSyntheticAllocs: the generator and the frame builder allocate
// nothing per packet, which is what lets Synthetic stream any n.
func TestSyntheticAllocs(t *testing.T) {
	g := newGenerator(1)
	buf := make([]byte, 0, 2048)
	allocs := testing.AllocsPerRun(20_000, func() {
		p := g.next()
		buf = p.AppendEthernet(buf[:0])
	})
	if allocs != 0 {
		t.Fatalf("next() and AppendEthernet() allocate %v times a packet, want 0", allocs)
	}
}
