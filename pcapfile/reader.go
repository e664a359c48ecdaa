// Package pcapfile reads and writes packet capture files: classic pcap
// (both byte orders, microsecond and nanosecond timestamps) and pcapng
// (several sections, several interfaces with their own link types and
// timestamp resolutions).
//
// The reader is built for replaying large captures through the detectors:
// one read buffer, frames returned as slices of it (no copy, no allocation
// per packet), lengths checked against sane bounds before anything is
// allocated, and every error naming the byte offset of the bad record or
// block. The writer writes classic pcap with nanosecond timestamps.
//
// File formats: https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/
// and https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/.
package pcapfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"abuseguard/flow"
)

// Frame is one captured packet.
type Frame struct {
	// Time is the capture time in Unix nanoseconds; 0 for pcapng Simple
	// Packet Blocks, which carry no timestamp.
	Time int64
	// LinkType says how Data begins (per interface in pcapng).
	LinkType flow.LinkType
	// CapLen is len(Data); OrigLen is the frame's length on the wire.
	CapLen, OrigLen uint32
	// Interface is the pcapng interface index within its section, 0 for
	// classic pcap.
	Interface int
	// Data is the captured bytes. It points into the Reader's buffer and is
	// valid only until the next call to Next: copy it to keep it.
	Data []byte
}

// Limits on lengths read from a file, checked before any allocation.
const (
	// MaxSnapLen is the largest capture length accepted from a record
	// whose header also exceeds the file's snaplen: 256 KiB, libpcap's
	// MAXIMUM_SNAPLEN and tcpdump's default -s. Writers that ignore their
	// own snaplen (dpkt writes 1500) are tolerated up to this size.
	MaxSnapLen = 256 << 10
	// maxRecordLen bounds any record or parsed block whatever the snaplen
	// says: 16 MiB is 64 times the largest real snaplen, and larger
	// lengths in a header mean a corrupt file, not a packet.
	maxRecordLen = 16 << 20

	readBufferSize = 256 << 10
	// maxEmptyReads stops a reader that returns (0, nil) forever, as
	// bufio does after 100.
	maxEmptyReads = 100
)

// Magic numbers of the file formats, as read in little-endian order.
const (
	magicMicro      = 0xa1b2c3d4
	magicNano       = 0xa1b23c4d
	magicMicroSwap  = 0xd4c3b2a1
	magicNanoSwap   = 0x4d3cb2a1
	blockTypeSHB    = 0x0a0d0d0a // pcapng Section Header Block, a palindrome
	byteOrderMagic  = 0x1a2b3c4d
	classicHeader   = 24
	classicRecordHd = 16
)

// Reader reads frames from a classic pcap or pcapng stream. It is not safe
// for concurrent use.
type Reader struct {
	r        io.Reader
	buf      []byte
	pos, end int   // unread bytes are buf[pos:end]
	off      int64 // file offset of buf[pos]
	rerr     error // sticky error from r

	ng        bool
	bigEndian bool

	// classic pcap
	linkType flow.LinkType
	snapLen  uint32
	tsMul    int64 // 1000 for microsecond files, 1 for nanosecond

	// pcapng: interfaces of the current section, in IDB order
	ifaces []iface

	onReuse func() // see OnReuse
}

// NewReader reads the file header from r and returns a Reader positioned at
// the first frame. It tells classic pcap from pcapng by the magic number.
// It reads r in blocks of 256 KiB or more, so r needs no buffering.
func NewReader(r io.Reader) (*Reader, error) {
	return newReader(&Reader{r: r, buf: make([]byte, readBufferSize)})
}

// NewReaderBytes reads a capture held in memory (an evidence pcap from the
// store, a test fixture, a mapped file) without copying it: Frame.Data
// points into data, and stays valid as long as data does, though only
// until the next Next is promised. It is the fastest path for captures
// that fit in the CPU caches (denial6-5, 3.6 MB: 42 CPU ns a packet read
// and decoded, against 83 through NewReader and a file); on one of
// hundreds of megabytes the cache misses cost more than NewReader's copy
// (docs/performance.md).
func NewReaderBytes(data []byte) (*Reader, error) {
	return newReader(&Reader{buf: data, end: len(data), rerr: io.EOF})
}

func newReader(rd *Reader) (*Reader, error) {
	if err := rd.fill(4); err != nil {
		return nil, fmt.Errorf("pcap: file header at offset 0: %w", noEOF(err))
	}
	magic := binary.LittleEndian.Uint32(rd.buf[rd.pos:])
	if magic == blockTypeSHB {
		rd.ng = true
		return rd, nil // Next reads the section header like any block
	}
	if err := rd.readClassicHeader(magic); err != nil {
		return nil, err
	}
	return rd, nil
}

// Next returns the next frame, or io.EOF after the last one. A file cut in
// the middle of a record gives an error wrapping io.ErrUnexpectedEOF; a
// corrupt record an error naming its byte offset. The returned Data is
// valid until the next call.
func (r *Reader) Next() (Frame, error) {
	var f Frame
	if err := r.NextFrame(&f); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// NextFrame is Next writing the frame into f, for loops over millions of
// frames: a Frame returned by value goes through the stack twice, copied
// with 16-byte moves over the 2- and 4-byte stores of its fields, which
// defeats the CPU's store forwarding (about 10 ns a frame on the build
// machine, November 2026, Go 1.26: a sixth of reading and decoding a
// 128-byte frame). On error f's contents are unspecified.
func (r *Reader) NextFrame(f *Frame) error {
	if r.ng {
		return r.nextBlock(f)
	}
	return r.nextRecord(f)
}

// OnReuse makes frames outlive the next call: the Data of every frame
// returned stays valid until fn is called, which the Reader does just
// before it overwrites buffered bytes it has returned (when it needs to
// read more and its buffer is used up: every 256 KiB of capture, give or
// take a record). A caller batching frames flushes its batch in fn instead
// of copying each frame, which saved 8 ns a 128-byte frame in a replay
// (November 2026). A Reader from NewReaderBytes never calls fn.
func (r *Reader) OnReuse(fn func()) { r.onReuse = fn }

// fill makes at least n unread bytes available in buf[pos:end]. It returns
// io.EOF only when no byte at all is left, io.ErrUnexpectedEOF when some
// are but fewer than n. The buffer grows by doubling while data arrives,
// so a length field alone never makes it allocate: a cut file costs at
// most twice its size.
func (r *Reader) fill(n int) error {
	empty := 0
	for r.end-r.pos < n {
		if r.rerr != nil {
			if r.rerr == io.EOF {
				if r.end == r.pos {
					return io.EOF
				}
				return io.ErrUnexpectedEOF
			}
			return r.rerr
		}
		if r.end == len(r.buf) || r.pos > 0 && len(r.buf)-r.pos < n {
			r.compact(n)
		}
		m, err := r.r.Read(r.buf[r.end:])
		r.end += m
		if err != nil {
			r.rerr = err
		}
		if m == 0 && err == nil {
			if empty++; empty >= maxEmptyReads {
				r.rerr = io.ErrNoProgress
			}
		}
	}
	return nil
}

// compact makes room to read: it moves the unread bytes to the front of
// buf or, when buf holds nothing but unread bytes (and so fewer than the n
// needed), grows it to at most twice its size.
func (r *Reader) compact(n int) {
	unread := r.end - r.pos
	if unread == len(r.buf) {
		nb := make([]byte, min(2*len(r.buf), n))
		copy(nb, r.buf)
		r.buf = nb
		return
	}
	if r.onReuse != nil {
		r.onReuse()
	}
	copy(r.buf, r.buf[r.pos:r.end])
	r.pos, r.end = 0, unread
}

// skip consumes n bytes without keeping them, reading through the buffer
// for blocks too large to hold (a big pcapng Name Resolution Block).
func (r *Reader) skip(n int64) error {
	for n > 0 {
		if r.end == r.pos {
			if err := r.fill(1); err != nil {
				return noEOF(err)
			}
		}
		k := int(min(n, int64(r.end-r.pos)))
		r.advance(k)
		n -= int64(k)
	}
	return nil
}

// advance marks k unread bytes as consumed.
func (r *Reader) advance(k int) {
	r.pos += k
	r.off += int64(k)
}

func (r *Reader) u16(b []byte) uint16 {
	if r.bigEndian {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *Reader) u32(b []byte) uint32 {
	if r.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF, for reads that must not end.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
