package netflow

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"abuseguard/flow"
)

var addrEqual = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// TestPlanMatchesOps checks that a template's plan reads a record exactly
// as applying its ops in template order does, for every fixed template of
// the shared captures and for synthetic ones whose fields the plan must
// leave to the ops (repeated addresses and counters, both address
// families, reduced-size integers), on random record bytes.
func TestPlanMatchesOps(t *testing.T) {
	var templates []*template
	for _, seq := range allSequences(t) {
		d := New(Config{})
		for _, g := range seq.grams {
			d.Decode(g.exporter, g.payload, g.at, nil)
		}
		for _, e := range d.exporters {
			for _, dom := range e.domains {
				for _, tp := range dom.templates {
					if tp.fixed && !tp.options {
						templates = append(templates, tp)
					}
				}
			}
		}
	}
	if len(templates) < 10 {
		t.Fatalf("%d fixed templates in the captures, want at least 10", len(templates))
	}
	synthetic := [][]field{
		// SRv6-like: outer IPv6 then inner IPv4 source, two byte counters.
		{{id: ieSourceIPv6Address, length: 16}, {id: ieSourceIPv4Address, length: 4}, {id: ieDestinationIPv4Address, length: 4},
			{id: ieOctetDeltaCount, length: 8}, {id: ieOctetDeltaCount, length: 4}, {id: iePacketDeltaCount, length: 3}},
		// Both time units and uptimes, ICMP, sampling, alternates.
		{{id: ieFlowStartSeconds, length: 4}, {id: ieFlowStartMilliseconds, length: 8}, {id: ieFlowEndSysUpTime, length: 4},
			{id: ieFlowStartSysUpTime, length: 4}, {id: ieICMPTypeCodeIPv4, length: 2}, {id: ieProtocolIdentifier, length: 1},
			{id: ieSamplerID, length: 1}, {id: ieOctetTotalCount, length: 8}, {id: iePostOctetDeltaCount, length: 8},
			{id: ieIngressInterface, length: 2}, {id: ieIngressPhysicalInterface, length: 4}, {id: ieSourceMacAddress, length: 6}},
		// Reduced-size integers, IPv6 addresses, a field the plan skips.
		{{id: ieSourceIPv6Address, length: 16}, {id: ieDestinationIPv6Address, length: 16}, {id: ieSourceTransportPort, length: 1},
			{id: ieDestinationTransportPort, length: 3}, {id: ieTCPControlBits, length: 2}, {id: ieEgressInterface, length: 5},
			{id: 999, length: 7}, {id: ieFlowEndMicroseconds, length: 8}, {id: ieFlowEndDeltaMicros, length: 4}},
	}
	for _, fields := range synthetic {
		for _, version := range []uint16{9, 10} {
			rec := templateRecord{id: 256, nfields: len(fields)}
			for _, f := range fields {
				rec.fields = append(rec.fields, fieldSpec{id: f.id, length: f.length})
			}
			tp, kind, detail := compile(version, false, &rec)
			if tp == nil {
				t.Fatalf("compile: %v %s", kind, detail)
			}
			templates = append(templates, tp)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	h := &header{key: domainKey{version: 10}, exportNs: 1_700_000_000e9, uptimeMs: 1000}
	for i, tp := range templates {
		for range 100 {
			b := make([]byte, tp.recLen)
			for j := range b {
				// Zero bytes often, so that zero values and the alternates
				// they bring in are exercised.
				if rng.IntN(3) != 0 {
					b[j] = byte(rng.Uint32())
				}
			}
			var got, want flow.Record
			var gs, ws recState
			tp.plan.read(&got, &gs, h, b)
			for _, o := range tp.ops {
				ws.apply(&want, h, o.kind, b[o.off:int(o.off)+int(o.length)])
			}
			if diff := cmp.Diff(got, want, addrEqual); diff != "" {
				t.Fatalf("template %d: plan.read() (-got, +want):\n%s", i, diff)
			}
			if diff := cmp.Diff(gs, ws, cmp.AllowUnexported(recState{}, sampling{})); diff != "" {
				t.Fatalf("template %d: plan.read() state (-got, +want):\n%s", i, diff)
			}
		}
	}
}
