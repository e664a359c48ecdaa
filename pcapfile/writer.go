package pcapfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"abuseguard/flow"
)

// DefaultSnapLen is the snaplen NewWriter uses when given 0: 256 KiB, as
// tcpdump.
const DefaultSnapLen = MaxSnapLen

// maxClassicTime is the last instant a classic pcap record can hold: its
// seconds field is an unsigned 32-bit number (February 2106).
const maxClassicTime int64 = (1<<32-1)*1e9 + 999_999_999

// Writer writes a classic pcap file with nanosecond timestamps
// (magic 0xa1b23c4d, little-endian), which tcpdump, Wireshark, gopacket
// and this package's Reader all read.
//
// Each WritePacket makes exactly one Write call on the underlying writer,
// so a record is never split between calls; wrap a file in a bufio.Writer
// when writing many packets, and Flush it at the end. A Writer is not safe
// for concurrent use.
type Writer struct {
	w       io.Writer
	snapLen uint32
	buf     []byte // record header and data, reused between packets
}

// NewWriter writes the file header for link type lt and returns a Writer.
// Frames longer than snaplen are cut to it (0 means DefaultSnapLen).
func NewWriter(w io.Writer, lt flow.LinkType, snapLen uint32) (*Writer, error) {
	if snapLen == 0 {
		snapLen = DefaultSnapLen
	}
	var h [classicHeader]byte
	binary.LittleEndian.PutUint32(h[0:4], magicNano)
	binary.LittleEndian.PutUint16(h[4:6], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:8], 4)
	// thiszone and sigfigs stay 0, as every writer since 2000 sets them.
	binary.LittleEndian.PutUint32(h[16:20], snapLen)
	binary.LittleEndian.PutUint32(h[20:24], uint32(lt))
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap: write file header: %w", err)
	}
	return &Writer{w: w, snapLen: snapLen, buf: make([]byte, 0, classicRecordHd+2048)}, nil
}

// WritePacket writes one frame captured at ts (Unix nanoseconds, the unit
// of Frame.Time and flow.Record.Start). origLen is the frame's length on
// the wire; 0 means len(data). data is cut to the snaplen.
func (w *Writer) WritePacket(ts int64, data []byte, origLen uint32) error {
	if ts < 0 || ts > maxClassicTime {
		return fmt.Errorf("pcap: timestamp %d ns outside 1970-2106, which classic pcap cannot hold", ts)
	}
	if origLen == 0 {
		origLen = uint32(len(data))
	}
	if uint64(origLen) < uint64(len(data)) {
		return fmt.Errorf("pcap: original length %d < captured length %d", origLen, len(data))
	}
	if len(data) > int(w.snapLen) {
		data = data[:w.snapLen]
	}
	var h [classicRecordHd]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(ts/1e9))
	binary.LittleEndian.PutUint32(h[4:8], uint32(ts%1e9))
	binary.LittleEndian.PutUint32(h[8:12], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[12:16], origLen)
	w.buf = append(append(w.buf[:0], h[:]...), data...)
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("pcap: write record: %w", err)
	}
	return nil
}

// WritePacketTime is WritePacket with a time.Time, for callers that hold one.
func (w *Writer) WritePacketTime(ts time.Time, data []byte, origLen uint32) error {
	return w.WritePacket(ts.UnixNano(), data, origLen)
}
