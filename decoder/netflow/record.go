package netflow

import (
	"net/netip"
	"slices"

	"abuseguard/flow"
)

// recState collects what one record's fields say that can only be
// resolved once all of them are read: uptime-relative times need
// systemInitTime, which may come later in the record, ICMP type and code
// go into DstPort only for ICMP, the sampling rate may need the sampler
// table.
type recState struct {
	startUp, endUp uint32
	icmp           uint16
	has            uint8 // has* bits
	smp            sampling
	// alt holds the second choices of preference lists (see prefBytes).
	altBytes, altPackets, altMAC uint64
	altIn, altOut                uint32
}

const (
	hasStart uint8 = 1 << iota // absolute start time read
	hasEnd
	hasStartUp // uptime-relative start read
	hasEndUp
	hasICMP
	hasSampling // a sampling element or the system init time read
)

// sampling collects the sampling elements of one data or options record.
type sampling struct {
	interval, random          uint64 // elements 34, 50
	pktInterval, pktSpace     uint64 // elements 305, 306
	size, population          uint64 // elements 309, 310
	id                        uint64 // value of elem
	elem                      uint16 // ieSamplerID or ieSelectorID, 0 if neither was read
	hasSpace, hasSize, hasPop bool
	sysInit                   uint64 // element 160, Unix ms
}

// set reads one sampling-related field.
func (s *sampling) set(k opKind, v []byte) {
	switch k {
	case opSamplingInterval:
		s.interval = uintBE(v)
	case opSamplerRandomInterval:
		s.random = uintBE(v)
	case opSamplerID:
		s.id, s.elem = uintBE(v), ieSamplerID
	case opSelectorID:
		s.id, s.elem = uintBE(v), ieSelectorID
	case opPacketInterval:
		s.pktInterval = uintBE(v)
	case opPacketSpace:
		s.pktSpace, s.hasSpace = uintBE(v), true
	case opSamplingSize:
		s.size, s.hasSize = uintBE(v), true
	case opSamplingPopulation:
		s.population, s.hasPop = uintBE(v), true
	case opSysInit:
		s.sysInit = uintBE(v)
	}
}

// rate returns the 1-in-N rate the elements describe, 0 if none does.
//
// RFC 5477 §8.2: random n-out-of-N sampling exports samplingSize n and
// samplingPopulation N (Cisco IOS XR in NetGauze's capture 104: 1 of 256);
// systematic count-based sampling exports samplingPacketInterval (packets
// taken in a row) and samplingPacketSpace (packets skipped), so the rate is
// (interval+space)/interval. samplingPacketInterval alone does not give a
// rate: NetGauze's srv6 capture sends interval 1 with random n-out-of-N
// and no population, which goflow2 reads as "1 in 1". The deprecated
// samplingInterval (34) and samplerRandomInterval (50) of RFC 7270 / v9
// are the rate itself.
func (s *sampling) rate() uint32 {
	switch {
	case s.hasSize && s.hasPop && s.size > 0 && s.population >= s.size:
		return sat32(s.population / s.size)
	case s.hasSpace && s.pktInterval > 0:
		return sat32((s.pktInterval + s.pktSpace) / s.pktInterval)
	case s.interval > 0:
		return sat32(s.interval)
	case s.random > 0:
		return sat32(s.random)
	}
	return 0
}

func sat32(v uint64) uint32 {
	if v > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(v)
}

// apply reads one mapped field into fr or s.
func (s *recState) apply(fr *flow.Record, h *header, k opKind, v []byte) {
	switch k {
	case opSrc4:
		setAddr(&fr.Src, netip.AddrFrom4([4]byte(v)))
	case opDst4:
		setAddr(&fr.Dst, netip.AddrFrom4([4]byte(v)))
	case opSrc6:
		setAddr(&fr.Src, netip.AddrFrom16([16]byte(v)).Unmap())
	case opDst6:
		setAddr(&fr.Dst, netip.AddrFrom16([16]byte(v)).Unmap())
	case opSrcPort:
		fr.SrcPort = uint16(uintBE(v))
	case opDstPort:
		fr.DstPort = uint16(uintBE(v))
	case opProto:
		fr.Proto = uint8(uintBE(v))
	case opTCPFlags:
		// 16 bits in IPFIX (RFC 7125): the low 8 are the classic flags.
		fr.TCPFlags = uint8(uintBE(v))
	case opBytes:
		fr.Bytes = uintBE(v)
	case opPackets:
		fr.Packets = uintBE(v)
	case opInIf:
		fr.InIf = uint32(uintBE(v))
	case opOutIf:
		fr.OutIf = uint32(uintBE(v))
	case opDirection:
		switch uintBE(v) {
		case 0:
			fr.FlowDirection = flow.DirectionIngress
		case 1:
			fr.FlowDirection = flow.DirectionEgress
		}
	case opSrcMAC:
		fr.SrcMAC = uintBE(v[:2])<<32 | uintBE(v[2:])
	case opBytesAlt:
		s.altBytes = uintBE(v)
	case opPacketsAlt:
		s.altPackets = uintBE(v)
	case opInIfAlt:
		s.altIn = uint32(uintBE(v))
	case opOutIfAlt:
		s.altOut = uint32(uintBE(v))
	case opSrcMACAlt:
		s.altMAC = uintBE(v[:2])<<32 | uintBE(v[2:])
	case opStartUptime:
		s.startUp = uint32(uintBE(v))
		s.has |= hasStartUp
	case opEndUptime:
		s.endUp = uint32(uintBE(v))
		s.has |= hasEndUp
	case opStartSec:
		fr.Start = int64(uintBE(v)) * 1e9
		s.has |= hasStart
	case opEndSec:
		fr.End = int64(uintBE(v)) * 1e9
		s.has |= hasEnd
	case opStartMilli:
		fr.Start = int64(uintBE(v)) * 1e6
		s.has |= hasStart
	case opEndMilli:
		fr.End = int64(uintBE(v)) * 1e6
		s.has |= hasEnd
	case opStartNTP:
		fr.Start = ntpToUnixNano(uintBE(v))
		s.has |= hasStart
	case opEndNTP:
		fr.End = ntpToUnixNano(uintBE(v))
		s.has |= hasEnd
	case opStartDeltaMicro:
		fr.Start = h.exportNs - int64(uintBE(v))*1e3
		s.has |= hasStart
	case opEndDeltaMicro:
		fr.End = h.exportNs - int64(uintBE(v))*1e3
		s.has |= hasEnd
	case opICMPTypeCode:
		s.icmp = uint16(uintBE(v))
		s.has |= hasICMP
	case opICMPType:
		s.icmp = s.icmp&0x00ff | uint16(uintBE(v))<<8
		s.has |= hasICMP
	case opICMPCode:
		s.icmp = s.icmp&0xff00 | uint16(uintBE(v))&0xff
		s.has |= hasICMP
	default:
		s.smp.set(k, v)
		s.has |= hasSampling
	}
}

// setAddr keeps the last non-zero address of a record. Templates that
// repeat an address element (Cisco's SRv6 templates 340/341: outer IPv6,
// then inner IPv4) list occurrences in the order the metering process
// met them (RFC 7011 §8), so the last is the innermost header: the
// customer's traffic. An all-zero occurrence is a placeholder (templates
// with both IPv4 and IPv6 fields fill the unused family with zeros).
func setAddr(dst *netip.Addr, a netip.Addr) {
	if !dst.IsValid() || !a.IsUnspecified() {
		*dst = a
	}
}

// ntpEpochOffset is the number of seconds from 1900-01-01 (NTP era 0) to
// 1970-01-01.
const ntpEpochOffset = 2208988800

// ntpToUnixNano converts an NTP timestamp (RFC 7011 §6.1.9-10: 32-bit
// seconds since 1900, 32-bit binary fraction) to Unix nanoseconds.
func ntpToUnixNano(v uint64) int64 {
	sec := int64(v>>32) - ntpEpochOffset
	frac := int64((v & 0xffffffff) * 1e9 >> 32)
	return sec*1e9 + frac
}

// records decodes the records of one data set.
func (r *run) records(h *header, dom *domain, t *template, id uint16, b []byte, off int, out []flow.Record) []flow.Record {
	if t.fixed {
		// Bytes after the last whole record are padding (RFC 7011
		// §3.3.1, RFC 3954 §5.3): shorter than any record by rule.
		n := len(b) / t.recLen
		out = slices.Grow(out, n)
		for i := range n {
			rec := b[i*t.recLen:][:t.recLen]
			out = append(out, flow.Record{})
			fr := &out[len(out)-1]
			var s recState
			t.plan.read(fr, &s, h, rec)
			r.finish(fr, &s, h, dom)
		}
		return out
	}
	for len(b) >= t.recLen {
		out = append(out, flow.Record{})
		fr := &out[len(out)-1]
		var s recState
		n, ok := t.walk(b, func(k opKind, v []byte) { s.apply(fr, h, k, v) })
		if !ok {
			out = out[:len(out)-1]
			if !allZero(b) {
				r.fail(ErrRecord, h, id, off, "variable-length record runs past its set")
			}
			break
		}
		r.finish(fr, &s, h, dom)
		b, off = b[n:], off+n
	}
	return out
}

// walk calls visit for each mapped field of the record at the start of b
// and returns the record's length, or false when b ends inside it.
func (t *template) walk(b []byte, visit func(k opKind, v []byte)) (int, bool) {
	if t.fixed {
		if len(b) < t.recLen {
			return 0, false
		}
		for _, o := range t.ops {
			visit(o.kind, b[o.off:int(o.off)+int(o.length)])
		}
		return t.recLen, true
	}
	p := 0
	for _, o := range t.ops {
		l := int(o.length)
		if o.length == varLen {
			// RFC 7011 §7: one length byte, or 255 and two more.
			if p >= len(b) {
				return 0, false
			}
			l = int(b[p])
			p++
			if l == 255 {
				if p+2 > len(b) {
					return 0, false
				}
				l = int(be16(b[p:]))
				p += 2
			}
		}
		if l > len(b)-p {
			return 0, false
		}
		if o.kind != opSkip {
			visit(o.kind, b[p:p+l])
		}
		p += l
	}
	return p, true
}

// finish resolves what the fields left open and stamps the exporter.
func (r *run) finish(fr *flow.Record, s *recState, h *header, dom *domain) {
	fr.Exporter = r.addr
	if fr.Bytes == 0 {
		fr.Bytes = s.altBytes
	}
	if fr.Packets == 0 {
		fr.Packets = s.altPackets
	}
	if fr.InIf == 0 {
		fr.InIf = s.altIn
	}
	if fr.OutIf == 0 {
		fr.OutIf = s.altOut
	}
	if fr.SrcMAC == 0 {
		fr.SrcMAC = s.altMAC
	}

	// Uptime-relative times count only when no absolute time was sent
	// (nProbe sends both). NetFlow v9 (RFC 3954 §8, FIRST_SWITCHED) is
	// relative to the header's sysUptime; the int32 difference survives
	// the uptime wrapping after 49.7 days and a flow stamped a little
	// after the header. IPFIX flowStart/EndSysUpTime are relative to
	// systemInitTimeMilliseconds, from the record or from options data.
	if s.has&(hasStartUp|hasEndUp) != 0 {
		var base int64
		ok := true
		if h.key.version == 10 {
			init := max(s.smp.sysInit, dom.sysInitMs)
			base, ok = int64(init)*1e6, init != 0
		}
		if ok && s.has&(hasStart|hasStartUp) == hasStartUp {
			fr.Start = uptimeNs(base, h, s.startUp)
			s.has |= hasStart
		}
		if ok && s.has&(hasEnd|hasEndUp) == hasEndUp {
			fr.End = uptimeNs(base, h, s.endUp)
			s.has |= hasEnd
		}
	}
	switch s.has & (hasStart | hasEnd) {
	case 0:
		fr.Start, fr.End = h.exportNs, h.exportNs
	case hasStart:
		fr.End = fr.Start
	case hasEnd:
		fr.Start = fr.End
	}

	if fr.Proto == flow.ProtoICMP || fr.Proto == flow.ProtoICMPv6 {
		// flow.Record convention: type<<8|code in DstPort. Exporters
		// without an ICMP element put it there already (the v5
		// convention); with one, it wins even at 0 (echo reply): Cisco
		// ASA puts the ICMP identifier in the ports.
		fr.SrcPort = 0
		if s.has&hasICMP != 0 {
			fr.DstPort = s.icmp
		}
	}

	var rate uint32
	if s.has&hasSampling != 0 {
		// Most templates carry no sampling element: their rate comes
		// from options data (dom) or the configuration.
		rate = s.smp.rate()
		if rate == 0 && s.smp.elem != 0 {
			rate = r.sampler(dom, samplerKey{elem: s.smp.elem, id: s.smp.id})
		}
	}
	if rate == 0 {
		rate = dom.defaultRate
	}
	if cfg := r.sampling; cfg != 0 && (rate == 0 || cfg>>32 != 0) {
		rate = uint32(cfg)
	}
	if rate == 0 {
		r.noRate++
	}
	fr.SamplingRate = rate
}

// uptimeNs converts a time in ms since boot to Unix ns: for v9 relative to
// the header (the difference taken in uint32 wraps with the uptime), for
// IPFIX from base, the system init time.
func uptimeNs(base int64, h *header, ms uint32) int64 {
	if h.key.version == 9 {
		return h.exportNs - int64(int32(h.uptimeMs-ms))*1e6
	}
	return base + int64(ms)*1e6
}

// sampler looks a sampler up in the table, through a one-entry cache.
// Callers hold the exporter's lock.
func (r *run) sampler(dom *domain, key samplerKey) uint32 {
	if r.lastOK && r.lastKey == key {
		return r.lastRate
	}
	rate := dom.samplers[key]
	r.lastKey, r.lastRate, r.lastOK = key, rate, true
	return rate
}

// options reads the records of an options data set into the domain's
// sampler table and returns how many it read. Callers hold the exporter's
// write lock.
func (r *run) options(dom *domain, t *template, b []byte) int {
	n := 0
	for len(b) >= t.recLen {
		var s sampling
		used, ok := t.walk(b, func(k opKind, v []byte) { s.set(k, v) })
		if !ok {
			break
		}
		b = b[used:]
		n++
		if s.sysInit != 0 {
			dom.sysInitMs = s.sysInit
		}
		rate := s.rate()
		switch {
		case rate == 0:
		case s.elem == 0:
			dom.defaultRate = rate
		default:
			key := samplerKey{elem: s.elem, id: s.id}
			if _, ok := dom.samplers[key]; ok || len(dom.samplers) < maxSamplers {
				dom.samplers[key] = rate
			}
		}
	}
	// The table changed: forget the cached lookup.
	r.lastOK = false
	return n
}
