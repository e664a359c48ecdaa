package pcapfile

import (
	"encoding/binary"
	"fmt"
	"io"

	"abuseguard/flow"
)

// readClassicHeader reads the 24-byte classic pcap file header:
// magic(4) version major(2) minor(2) thiszone(4) sigfigs(4) snaplen(4)
// link type and FCS information(4).
func (r *Reader) readClassicHeader(magic uint32) error {
	switch magic {
	case magicMicro:
		r.tsMul = 1000
	case magicNano:
		r.tsMul = 1
	case magicMicroSwap:
		r.tsMul, r.bigEndian = 1000, true
	case magicNanoSwap:
		r.tsMul, r.bigEndian = 1, true
	default:
		return fmt.Errorf("pcap: file header at offset 0: unknown magic number 0x%08x", magic)
	}
	if err := r.fill(classicHeader); err != nil {
		return fmt.Errorf("pcap: file header at offset 0: %w", noEOF(err))
	}
	h := r.buf[r.pos : r.pos+classicHeader]
	if major := r.u16(h[4:6]); major != 2 {
		return fmt.Errorf("pcap: file header at offset 4: version %d.%d, want 2.x", major, r.u16(h[6:8]))
	}
	r.snapLen = r.u32(h[16:20])
	// The low 16 bits are the link type; the top 4 bits say whether frames
	// end with an FCS and how long it is. The FCS stays in Data: decoders
	// stop at the IP length and never read it.
	r.linkType = flow.LinkType(r.u32(h[20:24]) & 0xffff)
	r.advance(classicHeader)
	return nil
}

// nextRecord reads one classic record into f: ts_sec(4) ts_frac(4)
// caplen(4) origlen(4), then caplen bytes.
func (r *Reader) nextRecord(f *Frame) error {
	start := r.off
	if r.end-r.pos < classicRecordHd { // fill is not inlined: test first
		if err := r.fill(classicRecordHd); err != nil {
			if err == io.EOF {
				return io.EOF
			}
			return fmt.Errorf("pcap: record at offset %d: %w", start, err)
		}
	}
	h := r.buf[r.pos : r.pos+classicRecordHd]
	var sec, frac, capLen, origLen uint32
	if r.bigEndian {
		sec, frac = binary.BigEndian.Uint32(h[0:4]), binary.BigEndian.Uint32(h[4:8])
		capLen, origLen = binary.BigEndian.Uint32(h[8:12]), binary.BigEndian.Uint32(h[12:16])
	} else {
		sec, frac = binary.LittleEndian.Uint32(h[0:4]), binary.LittleEndian.Uint32(h[4:8])
		capLen, origLen = binary.LittleEndian.Uint32(h[8:12]), binary.LittleEndian.Uint32(h[12:16])
	}
	if capLen > MaxSnapLen { // the only case checkCapLen can refuse
		if err := checkCapLen(capLen, r.snapLen); err != nil {
			return fmt.Errorf("pcap: record at offset %d: %w", start, err)
		}
	}
	n := classicRecordHd + int(capLen)
	if r.end-r.pos < n {
		if err := r.fill(n); err != nil {
			return fmt.Errorf("pcap: record at offset %d: %w", start, noEOF(err))
		}
	}
	// ts_sec is unsigned since the 2020s pcap draft, good until 2106.
	f.Time = int64(sec)*1e9 + int64(frac)*r.tsMul
	f.LinkType = r.linkType
	f.CapLen, f.OrigLen = capLen, origLen
	f.Interface = 0
	f.Data = r.buf[r.pos+classicRecordHd : r.pos+n : r.pos+n]
	r.advance(n)
	return nil
}

// checkCapLen rejects a capture length that cannot be a packet. One above
// the snaplen is tolerated up to MaxSnapLen (some writers ignore their own
// snaplen; tcpdump and Wireshark read such files too).
func checkCapLen(capLen, snapLen uint32) error {
	switch {
	case capLen > maxRecordLen:
		return fmt.Errorf("captured length %d exceeds the %d bytes any record may have", capLen, maxRecordLen)
	case capLen > snapLen && capLen > MaxSnapLen:
		return fmt.Errorf("captured length %d exceeds snaplen %d and %d", capLen, snapLen, MaxSnapLen)
	}
	return nil
}
