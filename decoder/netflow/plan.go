package netflow

import (
	"net/netip"

	"abuseguard/flow"
)

// plan reads the common fields of a fixed-length template's records with
// straight-line code: one test per field, which goes the same way for
// every record of the template, instead of an indirect jump per field
// through recState.apply, which the CPU mispredicts when a template's
// fields follow each other in an order it cannot learn. On the benchmark
// datagrams (Cisco ASR 9000 and 1941, MikroTik, OpenBSD pflow) that loop
// cost 87 ns a record; see docs/performance.md for the figure with plans.
//
// A field goes into the plan only when it is the only one of the template
// to write its destination, so that the order in which the plan and the
// remaining ops run cannot change the record: repeated elements (Cisco's
// SRv6 templates carry two source addresses) and everything rarer stay in
// rest, read by apply in template order.
type plan struct {
	src, dst         slot // 4 or 16 bytes
	srcPort, dstPort slot
	proto, tcpFlags  slot
	bytes, packets   slot
	inIf, outIf      slot
	startUp, endUp   slot
	start, end       slot // absolute times: kind says which unit
	rest             []op // every other mapped field, in order
}

// slot is one field of the plan: length 0 when the template lacks it.
type slot struct {
	off, length uint16
	kind        opKind
}

// dest is the place an op writes, for the plan's uniqueness test: ops of
// the same dest overwrite one another, so their order matters.
func dest(k opKind) int {
	switch k {
	case opSrc4, opSrc6:
		return 1
	case opDst4, opDst6:
		return 2
	case opStartSec, opStartMilli, opStartNTP, opStartDeltaMicro:
		return 3
	case opEndSec, opEndMilli, opEndNTP, opEndDeltaMicro:
		return 4
	}
	return 100 + int(k)
}

// newPlan splits the ops of a fixed-length template into the plan's slots
// and the rest.
func newPlan(ops []op) *plan {
	count := map[int]int{}
	for _, o := range ops {
		count[dest(o.kind)]++
	}
	p := &plan{}
	for _, o := range ops {
		s := slot{off: o.off, length: o.length, kind: o.kind}
		var to *slot
		if count[dest(o.kind)] == 1 {
			switch o.kind {
			case opSrc4, opSrc6:
				to = &p.src
			case opDst4, opDst6:
				to = &p.dst
			case opSrcPort:
				to = &p.srcPort
			case opDstPort:
				to = &p.dstPort
			case opProto:
				to = &p.proto
			case opTCPFlags:
				to = &p.tcpFlags
			case opBytes:
				to = &p.bytes
			case opPackets:
				to = &p.packets
			case opInIf:
				to = &p.inIf
			case opOutIf:
				to = &p.outIf
			case opStartUptime:
				to = &p.startUp
			case opEndUptime:
				to = &p.endUp
			case opStartSec, opStartMilli, opStartNTP, opStartDeltaMicro:
				to = &p.start
			case opEndSec, opEndMilli, opEndNTP, opEndDeltaMicro:
				to = &p.end
			}
		}
		if to == nil || s.length == 0 {
			p.rest = append(p.rest, o)
			continue
		}
		*to = s
	}
	return p
}

// field returns the bytes of s in rec.
func (s slot) field(rec []byte) []byte { return rec[s.off:][:s.length] }

// read decodes the plan's fields of rec into fr and s, then the rest.
// It does what apply does for each op: the tests compare both on every
// capture (TestPlanMatchesOps).
func (p *plan) read(fr *flow.Record, s *recState, h *header, rec []byte) {
	// IPv4 inline: a call to a function for both families spilled and
	// reloaded every register around it (40 instructions a record).
	switch p.src.length {
	case 4:
		fr.Src = netip.AddrFrom4([4]byte(p.src.field(rec)))
	case 16:
		fr.Src = addr16(p.src.field(rec))
	}
	switch p.dst.length {
	case 4:
		fr.Dst = netip.AddrFrom4([4]byte(p.dst.field(rec)))
	case 16:
		fr.Dst = addr16(p.dst.field(rec))
	}
	if p.srcPort.length != 0 {
		fr.SrcPort = uint16(uintBE(p.srcPort.field(rec)))
	}
	if p.dstPort.length != 0 {
		fr.DstPort = uint16(uintBE(p.dstPort.field(rec)))
	}
	if p.proto.length != 0 {
		fr.Proto = uint8(uintBE(p.proto.field(rec)))
	}
	if p.tcpFlags.length != 0 {
		fr.TCPFlags = uint8(uintBE(p.tcpFlags.field(rec)))
	}
	if p.bytes.length != 0 {
		fr.Bytes = uintBE(p.bytes.field(rec))
	}
	if p.packets.length != 0 {
		fr.Packets = uintBE(p.packets.field(rec))
	}
	if p.inIf.length != 0 {
		fr.InIf = uint32(uintBE(p.inIf.field(rec)))
	}
	if p.outIf.length != 0 {
		fr.OutIf = uint32(uintBE(p.outIf.field(rec)))
	}
	if p.startUp.length != 0 {
		s.startUp = uint32(uintBE(p.startUp.field(rec)))
		s.has |= hasStartUp
	}
	if p.endUp.length != 0 {
		s.endUp = uint32(uintBE(p.endUp.field(rec)))
		s.has |= hasEndUp
	}
	if p.start.length != 0 {
		s.apply(fr, h, p.start.kind, p.start.field(rec))
	}
	if p.end.length != 0 {
		s.apply(fr, h, p.end.kind, p.end.field(rec))
	}
	for _, o := range p.rest {
		s.apply(fr, h, o.kind, rec[o.off:int(o.off)+int(o.length)])
	}
}

// addr16 reads an IPv6 address field, IPv4-mapped addresses unmapped as
// at ingest everywhere.
func addr16(v []byte) netip.Addr { return netip.AddrFrom16([16]byte(v)).Unmap() }
