package sflow

import (
	"testing"

	"abuseguard/flow"
)

// FuzzSflow decodes arbitrary datagrams, seeded with every real sFlow
// datagram, and checks that records stay within what the datagram holds.
func FuzzSflow(f *testing.F) {
	for _, grams := range allGrams(f) {
		for _, g := range grams {
			f.Add(g.payload)
		}
	}
	f.Add(datagram(agentA, flowSample(7, 512, 7, 9, rawHeader(1, 78, 4, ipv4Frame(hostA, hostB, 1, 2, 60)))))
	d := New(Config{})
	f.Fuzz(func(t *testing.T, p []byte) {
		recs, err := d.Decode(testExporter, p, testRecv, nil)
		if err != nil && KindOf(err) == 0 {
			t.Fatalf("error without kind: %v", err)
		}
		// A flow sample takes at least 8 + 32 bytes.
		if len(recs) > len(p)/40 {
			t.Fatalf("%d records from %d bytes", len(recs), len(p))
		}
		for _, r := range recs {
			if len(r.Header) > len(p) || r.Packets != 1 || r.Src.Is4In6() || r.Dst.Is4In6() {
				t.Fatalf("bad record %+v", r)
			}
			if r.Header != nil && r.HeaderType != flow.LinkTypeEthernet && r.HeaderType != flow.LinkTypeIPv4 && r.HeaderType != flow.LinkTypeIPv6 {
				t.Fatalf("header type %v", r.HeaderType)
			}
		}
	})
}
