package evidence

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"abuseguard"
)

// The seed's packet-limit summary:
//
//	Direction OUT
//	Internal x.x.x.x
//	Sum                     62.790 packets/s , 14 MBit/s
//	External 125.162.12.67, 62.770 packets/s , 13 MBit/s
//	External 72.14.220.136,      3 packets/s ,  0 MBit/s
//
// The label ("Sum", "External <address>,") is followed by at least one
// space and padded so that the packets/s figures, right-aligned to the
// widest of them, start in one column; the MBit/s figures are right-aligned
// to the widest of theirs. packets/s is rounded to the nearest integer;
// MBit/s is explained at mbits; both are grouped the German way.
//
// An incoming flood adds, after a blank line, one "Service <proto>/<port>,"
// line per protocol and destination port, aligned with the lines above.
// Window, sampling and truncation notes follow after another blank line.

// summaryLine is one line of the summary before alignment.
type summaryLine struct {
	label string // "Sum", "External 1.2.3.4,", "Service UDP/53,"
	pps   string
	mbit  string
	gap   bool // a blank line before this one
}

// renderSummary renders packet-summary.log for packet-limit detections
// (Direction OUT, the destinations) and incoming floods (Direction IN, the
// sources, and the services attacked).
func renderSummary(d *abuseguard.Detection, o Options) *bytes.Buffer {
	var b bytes.Buffer
	dir := "OUT"
	if d.Direction == abuseguard.DirectionIn || d.Kind == abuseguard.ReasonIncomingFlood {
		dir = "IN"
	}
	fmt.Fprintf(&b, "Direction %s\nInternal %s\n", dir, d.Address)

	lines := []summaryLine{{label: "Sum", pps: groupDE(roundRate(d.PPS)), mbit: groupDE(mbits(d.BPS))}}
	peers := sortPeers(d.Peers, o.Peers)
	for _, p := range peers {
		lines = append(lines, summaryLine{
			label: "External " + p.Addr.String() + ",",
			pps:   groupDE(roundRate(p.PPS)),
			mbit:  groupDE(mbits(p.BPS)),
		})
	}
	var services []abuseguard.ServiceTotal
	if dir == "IN" {
		services = sortServices(d.Services, o.Services)
		for i, s := range services {
			lines = append(lines, summaryLine{
				label: "Service " + serviceName(s.Proto, s.Port) + ",",
				pps:   groupDE(roundRate(s.PPS)),
				mbit:  groupDE(mbits(s.BPS)),
				gap:   i == 0,
			})
		}
	}
	writeSummaryLines(&b, lines)

	// Notes, kept apart from the seed's lines by a blank line.
	b.WriteString("\n")
	writeWindow(&b, d, o)
	if len(peers) < len(d.Peers) {
		fmt.Fprintf(&b, "External: the %d busiest of %d shown\n", len(peers), len(d.Peers))
	}
	if len(services) < len(d.Services) && dir == "IN" {
		fmt.Fprintf(&b, "Service: the %d busiest of %d shown\n", len(services), len(d.Services))
	}
	if d.SamplingRate > 1 {
		fmt.Fprintf(&b, "Sampling rate: 1 in %d, all figures are estimated from the samples\n", d.SamplingRate)
	}
	b.WriteString("MBit/s: units of 2^20 bit/s, rounded\n")
	return &b
}

// writeSummaryLines aligns and writes lines.
func writeSummaryLines(b *bytes.Buffer, lines []summaryLine) {
	labelW, ppsW, mbitW := 0, 0, 0
	for _, l := range lines {
		labelW = max(labelW, len(l.label))
		ppsW = max(ppsW, len(l.pps))
		mbitW = max(mbitW, len(l.mbit))
	}
	for _, l := range lines {
		if l.gap {
			b.WriteString("\n")
		}
		b.WriteString(l.label)
		b.WriteString(strings.Repeat(" ", labelW-len(l.label)+1+ppsW-len(l.pps)))
		b.WriteString(l.pps)
		b.WriteString(" packets/s , ")
		b.WriteString(strings.Repeat(" ", mbitW-len(l.mbit)))
		b.WriteString(l.mbit)
		b.WriteString(" MBit/s\n")
	}
}

// serviceName names a protocol and destination port: "UDP/53", "ICMP 8/0"
// (type/code), or the protocol alone where it has no ports.
func serviceName(proto uint8, port uint16) string {
	switch {
	case hasPorts(proto):
		return protoName(proto) + "/" + strconv.Itoa(int(port))
	case isICMP(proto):
		_, tc := ports(proto, 0, port)
		return protoLabel(proto, port) + " " + tc
	}
	return protoName(proto)
}

// sortPeers returns the n peers with the most packets/s, ties broken by
// packets and then address so that the order is deterministic.
func sortPeers(all []abuseguard.PeerTotal, n int) []abuseguard.PeerTotal {
	s := slices.Clone(all)
	slices.SortStableFunc(s, func(a, b abuseguard.PeerTotal) int {
		if c := cmp.Compare(b.PPS, a.PPS); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Packets, a.Packets); c != 0 {
			return c
		}
		return a.Addr.Compare(b.Addr)
	})
	return s[:min(n, len(s))]
}

// sortServices returns the n services with the most packets/s, ties broken
// by packets, protocol and port.
func sortServices(all []abuseguard.ServiceTotal, n int) []abuseguard.ServiceTotal {
	s := slices.Clone(all)
	slices.SortStableFunc(s, func(a, b abuseguard.ServiceTotal) int {
		if c := cmp.Compare(b.PPS, a.PPS); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Packets, a.Packets); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Proto, b.Proto); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	return s[:min(n, len(s))]
}
