package netflow

import (
	"net/netip"

	"abuseguard/flow"
)

// NetFlow v5 layout (Cisco, "NetFlow Export Datagram Format").
const (
	v5HeaderLen = 24
	v5RecordLen = 48
)

// decodeV5 decodes a NetFlow v5 datagram. The header's count is checked
// against the datagram: logstash's netflow5_test_invalid01/02 claim 55582
// and 163 records in 1464 bytes. The records that fit are decoded and the
// datagram is reported short.
func (d *Decoder) decodeV5(addr netip.Addr, p []byte, out []flow.Record) ([]flow.Record, error) {
	if len(p) < v5HeaderLen {
		return out, &Error{Kind: ErrShort, Version: 5, Detail: "shorter than the 24-byte header"}
	}
	count := int(be16(p[2:]))
	uptime := be32(p[4:])
	exportNs := int64(be32(p[8:]))*1e9 + int64(be32(p[12:]))
	// Sampling: 2 bits of mode, 14 bits of interval. Mode 0 with a
	// non-zero interval is what many routers send for deterministic
	// sampling, so the interval alone decides; 0 means not reported.
	rate := uint32(be16(p[22:]) & 0x3fff)
	var err error
	if fit := (len(p) - v5HeaderLen) / v5RecordLen; count > fit {
		err = &Error{Kind: ErrShort, Version: 5, Offset: len(p), Detail: "header counts more records than the datagram holds"}
		count = fit
	}
	if e := d.exporter(addr); e != nil {
		if cfg := e.sampling.Load(); cfg != 0 && (rate == 0 || cfg>>32 != 0) {
			rate = uint32(cfg)
		}
	}
	if rate == 0 && count > 0 {
		d.stats.noRate.Add(uint64(count))
	}
	for i := range count {
		b := p[v5HeaderLen+i*v5RecordLen:][:v5RecordLen]
		// first and last are sysUptime at the first and last packet; the
		// int32 difference survives the uptime wrapping.
		first, last := be32(b[24:]), be32(b[28:])
		out = append(out, flow.Record{
			Src:          netip.AddrFrom4([4]byte(b[0:4])),
			Dst:          netip.AddrFrom4([4]byte(b[4:8])),
			Exporter:     addr,
			Start:        exportNs - int64(int32(uptime-first))*1e6,
			End:          exportNs - int64(int32(uptime-last))*1e6,
			Packets:      uint64(be32(b[16:])),
			Bytes:        uint64(be32(b[20:])),
			SamplingRate: rate,
			InIf:         uint32(be16(b[12:])),
			OutIf:        uint32(be16(b[14:])),
			SrcPort:      be16(b[32:]),
			DstPort:      be16(b[34:]),
			TCPFlags:     b[37],
			Proto:        b[38],
		})
	}
	return out, err
}
