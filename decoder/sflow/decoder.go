package sflow

import (
	"net/netip"
	"sync/atomic"
	"time"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
)

// Config says how records are stamped.
type Config struct {
	// ExporterFromAgent stamps records with the agent address the datagram
	// carries instead of the UDP source address Decode is given. The
	// default is the UDP source: it is what the collector admits exporters
	// by, and what an operator sees in tcpdump; the agent address is the
	// sender's own claim, but it survives NAT and sFlow relays and tells
	// the switches behind one relay apart, so a collector behind a relay
	// sets this.
	ExporterFromAgent bool
}

// Decoder decodes sFlow v5 datagrams (https://sflow.org/sflow_version_5.txt)
// into flow records: one record per flow sample, from its raw packet
// header (parsed by package packet and kept in Record.Header for the
// traffic dump) or, without one, from its sampled IPv4/IPv6 record.
// Counter and discard samples are counted and skipped.
//
// sFlow needs no state across datagrams, so a Decoder only counts; it is
// safe for concurrent use.
type Decoder struct {
	cfg   Config
	stats counters
}

// New returns a Decoder.
func New(cfg Config) *Decoder { return &Decoder{cfg: cfg} }

// Stats are the decoder's counters since New.
type Stats struct {
	// FlowSamples counts flow samples (compact and expanded) read.
	FlowSamples uint64
	// CounterSamples and DiscardSamples count counter samples (compact
	// and expanded) and discarded-packet samples, which are skipped.
	CounterSamples, DiscardSamples uint64
	// OtherSamples counts samples of other formats or enterprises,
	// skipped.
	OtherSamples uint64
	// NoPacket counts flow samples that yielded no record: no raw header
	// that parses as IPv4/IPv6 (ARP, other header protocols) and no
	// sampled IPv4/IPv6 record.
	NoPacket uint64
	// NoSamplingRate counts records returned with SamplingRate 0.
	NoSamplingRate uint64
}

type counters struct {
	flow, counter, discard, other, noPacket, noRate atomic.Uint64
}

// Stats returns the counters.
func (d *Decoder) Stats() Stats {
	return Stats{
		FlowSamples:    d.stats.flow.Load(),
		CounterSamples: d.stats.counter.Load(),
		DiscardSamples: d.stats.discard.Load(),
		OtherSamples:   d.stats.other.Load(),
		NoPacket:       d.stats.noPacket.Load(),
		NoSamplingRate: d.stats.noRate.Load(),
	}
}

// Sample formats (enterprise 0).
const (
	formatFlowSample            = 1
	formatCounterSample         = 2
	formatExpandedFlowSample    = 3
	formatExpandedCounterSample = 4
	formatDiscardSample         = 5 // sFlow "dropped packet notification" extension
)

// tally is what one Decode call counts, added to the decoder's counters
// once.
type tally struct {
	flow, counter, discard, other, noPacket, noRate uint64
}

func (d *Decoder) add(t *tally) {
	for _, c := range [...]struct {
		n   uint64
		dst *atomic.Uint64
	}{
		{t.flow, &d.stats.flow}, {t.counter, &d.stats.counter}, {t.discard, &d.stats.discard},
		{t.other, &d.stats.other}, {t.noPacket, &d.stats.noPacket}, {t.noRate, &d.stats.noRate},
	} {
		if c.n != 0 {
			c.dst.Add(c.n)
		}
	}
}

// Decode decodes one datagram from exporter (the UDP source address) and
// appends one record per flow sample to out, which it returns. Records
// are stamped with recvTime: sFlow samples carry no time of their own.
//
// Record.Header of each record points into payload (a flow.Record's
// Header belongs to the input, see flow.Sink): payload must not be reused
// while the records are in use.
//
// A datagram that is partly bad yields the records of the samples before
// the problem and the first error (an *Error, matching its Kind with
// errors.Is). Decode does not allocate beyond growing out.
func (d *Decoder) Decode(exporter netip.Addr, payload []byte, recvTime time.Time, out []flow.Record) ([]flow.Record, error) {
	p := payload
	if len(p) < 8 {
		return out, &Error{Kind: ErrShort, Detail: "shorter than version and address type"}
	}
	if v := be32(p); v != 5 {
		return out, &Error{Kind: ErrVersion, Detail: "not sFlow version 5"}
	}
	var agent netip.Addr
	off := 8
	switch be32(p[4:]) {
	case 1:
		if len(p) < off+4 {
			return out, &Error{Kind: ErrShort, Offset: off, Detail: "agent address cut short"}
		}
		agent = netip.AddrFrom4([4]byte(p[off:]))
		off += 4
	case 2:
		if len(p) < off+16 {
			return out, &Error{Kind: ErrShort, Offset: off, Detail: "agent address cut short"}
		}
		agent = netip.AddrFrom16([16]byte(p[off:])).Unmap()
		off += 16
	default:
		return out, &Error{Kind: ErrAddressType, Offset: 4}
	}
	// sub-agent ID, sequence number, uptime, number of samples
	if len(p) < off+16 {
		return out, &Error{Kind: ErrShort, Offset: off, Detail: "header cut short"}
	}
	count := be32(p[off+12:])
	off += 16
	s := sampler{exporter: exporter.Unmap(), recvNs: recvTime.UnixNano()}
	if d.cfg.ExporterFromAgent {
		s.exporter = agent
	}
	var err *Error
	for i := uint32(0); i < count; i++ {
		if len(p)-off < 8 {
			err = &Error{Kind: ErrShort, Offset: off, Detail: "fewer samples than the header counts"}
			break
		}
		format, length := be32(p[off:]), be32(p[off+4:])
		if uint64(length) > uint64(len(p)-off-8) {
			err = &Error{Kind: ErrSampleLength, Offset: off, Format: format, Detail: "sample runs past the datagram"}
			break
		}
		body := p[off+8 : off+8+int(length)]
		switch format {
		case formatFlowSample, formatExpandedFlowSample:
			s.t.flow++
			out, err = s.flowSample(body, format == formatExpandedFlowSample, off+8, format, out)
		case formatCounterSample, formatExpandedCounterSample:
			s.t.counter++
		case formatDiscardSample:
			s.t.discard++
		default:
			s.t.other++
		}
		if err != nil {
			break
		}
		off += 8 + int(length)
	}
	d.add(&s.t)
	if err != nil {
		return out, err
	}
	return out, nil
}

// sampler carries what the samples of one datagram share.
type sampler struct {
	exporter netip.Addr
	recvNs   int64
	t        tally
}

// Flow record formats (enterprise 0).
const (
	recordRawHeader = 1
	recordEthernet  = 2
	recordIPv4      = 3
	recordIPv6      = 4
)

// linkType maps the header protocol of a raw packet header record to the
// link type package packet reads it as.
func linkType(headerProtocol uint32) (flow.LinkType, bool) {
	switch headerProtocol {
	case 1: // ETHERNET-ISO88023
		return flow.LinkTypeEthernet, true
	case 11:
		return flow.LinkTypeIPv4, true
	case 12:
		return flow.LinkTypeIPv6, true
	}
	return 0, false
}

// ifUnknown is the interface value sFlow uses for "not known".
const ifUnknown = 0x3fffffff

// flowSample decodes one compact (format 1) or expanded (format 3) flow
// sample into at most one record.
func (s *sampler) flowSample(b []byte, expanded bool, base int, format uint32, out []flow.Record) ([]flow.Record, *Error) {
	var rate, srcType, srcIdx, inIf, outIf, nrec uint32
	var off int
	if expanded {
		// sequence, source ID type, source ID index, sampling rate,
		// sample pool, drops, input format, input value, output format,
		// output value, number of records
		if len(b) < 44 {
			return out, &Error{Kind: ErrSampleLength, Offset: base, Format: format, Detail: "expanded flow sample cut short"}
		}
		srcType, srcIdx, rate = be32(b[4:]), be32(b[8:]), be32(b[12:])
		if be32(b[24:]) == 0 {
			inIf = be32(b[28:])
		}
		if be32(b[32:]) == 0 {
			outIf = be32(b[36:])
		}
		nrec, off = be32(b[40:]), 44
	} else {
		// sequence, source ID (8-bit type, 24-bit index), sampling rate,
		// sample pool, drops, input, output (2-bit format, 30-bit
		// value), number of records
		if len(b) < 32 {
			return out, &Error{Kind: ErrSampleLength, Offset: base, Format: format, Detail: "flow sample cut short"}
		}
		srcType, srcIdx, rate = be32(b[4:])>>24, be32(b[4:])&0x00ffffff, be32(b[8:])
		if in := be32(b[20:]); in>>30 == 0 {
			inIf = in
		}
		if o := be32(b[24:]); o>>30 == 0 {
			outIf = o
		}
		nrec, off = be32(b[28:]), 32
	}
	if inIf == ifUnknown {
		inIf = 0
	}
	if outIf == ifUnknown {
		outIf = 0
	}

	var raw, ip4, ip6, eth []byte
	var rawProto uint32
	var err *Error
	for i := uint32(0); i < nrec; i++ {
		if len(b)-off < 8 {
			err = &Error{Kind: ErrRecordLength, Offset: base + off, Format: format, Detail: "fewer records than the sample counts"}
			break
		}
		rf, rl := be32(b[off:]), be32(b[off+4:])
		if uint64(rl) > uint64(len(b)-off-8) {
			err = &Error{Kind: ErrRecordLength, Offset: base + off, Format: rf, Detail: "record runs past its sample"}
			break
		}
		rec := b[off+8 : off+8+int(rl)]
		switch rf {
		case recordRawHeader:
			// header protocol, frame length, stripped, header length,
			// header bytes
			if len(rec) < 16 || uint64(be32(rec[12:])) > uint64(len(rec)-16) {
				err = &Error{Kind: ErrRecordLength, Offset: base + off, Format: rf, Detail: "raw header record cut short"}
			} else if raw == nil {
				raw, rawProto = rec, be32(rec)
			}
		case recordIPv4:
			if len(rec) < 32 {
				err = &Error{Kind: ErrRecordLength, Offset: base + off, Format: rf, Detail: "IPv4 record cut short"}
			} else {
				ip4 = rec
			}
		case recordIPv6:
			if len(rec) < 56 {
				err = &Error{Kind: ErrRecordLength, Offset: base + off, Format: rf, Detail: "IPv6 record cut short"}
			} else {
				ip6 = rec
			}
		case recordEthernet:
			if len(rec) >= 24 {
				eth = rec
			}
		}
		if err != nil {
			break
		}
		off += 8 + int(rl)
	}

	out = append(out, flow.Record{})
	r := &out[len(out)-1]
	if !s.fromHeader(r, raw, rawProto) && !fromSampledIP(r, ip4, ip6) {
		out = out[:len(out)-1]
		s.t.noPacket++
		return out, err
	}
	if r.SrcMAC == 0 && eth != nil {
		// length, source MAC (6 + 2 padding), destination MAC, type
		r.SrcMAC = uint64(be16(eth[4:]))<<32 | uint64(be32(eth[6:]))
	}
	r.Exporter = s.exporter
	r.Start, r.End = s.recvNs, s.recvNs
	r.SamplingRate = rate
	if rate == 0 {
		s.t.noRate++
	}
	r.InIf, r.OutIf = inIf, outIf
	r.FlowDirection = direction(srcType, srcIdx, inIf, outIf)
	return out, err
}

// direction tells from the data source a sample was taken on whether it
// was taken on ingress or egress: on interface 7 of a packet that came in
// on 7, ingress; of a packet that came in elsewhere, egress (its output may
// be "multiple", for multicast, or unknown). Samples of VLAN or entity
// data sources (source type ≠ 0) say nothing.
func direction(srcType, srcIdx, inIf, outIf uint32) flow.Direction {
	switch {
	case srcType != 0 || srcIdx == 0:
		return flow.DirectionUnknown
	case srcIdx == inIf:
		return flow.DirectionIngress
	case inIf != 0 || srcIdx == outIf:
		return flow.DirectionEgress
	}
	return flow.DirectionUnknown
}

// fromHeader fills r from a raw packet header record and reports whether
// it describes an IPv4 or IPv6 packet.
//
// Bytes is the IP length (flow.Record counts the network layer, as NetFlow
// does), capped at the frame length: frame_length counts the frame on the
// wire with its FCS, less the stripped octets (sFlow v5 §5.3.1.1), which
// is OrigLen; the IP total length in the header is the sender's claim and
// a crafted packet may claim 64 KiB in a 60-byte frame.
func (s *sampler) fromHeader(r *flow.Record, rec []byte, proto uint32) bool {
	if rec == nil {
		return false
	}
	lt, ok := linkType(proto)
	if !ok {
		return false
	}
	frameLen, stripped, n := be32(rec[4:]), be32(rec[8:]), be32(rec[12:])
	hdr := rec[16 : 16+n]
	if packet.Decode(lt, hdr, r) != nil {
		return false
	}
	orig := frameLen
	if stripped <= frameLen {
		orig -= stripped
	}
	r.Header, r.HeaderType, r.OrigLen = hdr, lt, orig
	if orig != 0 && r.Bytes > uint64(orig) {
		r.Bytes = uint64(orig)
	}
	r.Packets = 1
	return true
}

// fromSampledIP fills r from a sampled IPv4 or IPv6 record (formats 3, 4:
// length, protocol, addresses, ports, TCP flags, ToS/priority).
func fromSampledIP(r *flow.Record, ip4, ip6 []byte) bool {
	var rest []byte
	switch {
	case ip4 != nil:
		r.Src = netip.AddrFrom4([4]byte(ip4[8:]))
		r.Dst = netip.AddrFrom4([4]byte(ip4[12:]))
		r.Bytes, r.Proto, rest = uint64(be32(ip4)), uint8(be32(ip4[4:])), ip4[16:]
	case ip6 != nil:
		r.Src = netip.AddrFrom16([16]byte(ip6[8:])).Unmap()
		r.Dst = netip.AddrFrom16([16]byte(ip6[24:])).Unmap()
		r.Bytes, r.Proto, rest = uint64(be32(ip6)), uint8(be32(ip6[4:])), ip6[40:]
	default:
		return false
	}
	r.SrcPort, r.DstPort = uint16(be32(rest)), uint16(be32(rest[4:]))
	r.TCPFlags = uint8(be32(rest[8:]))
	// sFlow v5 defines the ports as "TCP/UDP port or equivalent" and
	// leaves ICMP to the agent: kept as sent.
	r.Packets = 1
	return true
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
