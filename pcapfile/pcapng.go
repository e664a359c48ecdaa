package pcapfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"

	"abuseguard/flow"
)

// pcapng block types and option codes this reader interprets; every other
// block is skipped by its length.
const (
	blockTypeIDB = 1 // Interface Description Block
	blockTypePB  = 2 // Packet Block, obsolete but still in old files
	blockTypeSPB = 3 // Simple Packet Block
	blockTypeEPB = 6 // Enhanced Packet Block

	optEndOfOpt = 0
	optTSResol  = 9  // if_tsresol: 1 byte
	optTSOffset = 14 // if_tsoffset: 8 bytes, seconds

	blockHeaderLen = 8  // type(4) total length(4)
	minBlockLen    = 12 // header and trailing length, no body
	minSHBLen      = 28
	minIDBLen      = 20
	minEPBLen      = 32
	minSPBLen      = 16
)

// iface is what a pcapng Interface Description Block says about the
// frames of one interface.
type iface struct {
	linkType flow.LinkType
	snapLen  uint32 // 0: no limit
	// Timestamps count units of 10^-e or 2^-e seconds; converted to ns by
	// ts*mul, ts/div or a 128-bit multiply and a shift.
	mul, div uint64
	shift    uint
	pow2     bool
	offsetNs int64 // if_tsoffset, added to every timestamp
}

// setResolution applies an if_tsresol value: the high bit chooses base 2,
// the other 7 bits are the negative exponent.
func (f *iface) setResolution(v uint8) {
	e := uint(v & 0x7f)
	f.mul, f.div, f.shift, f.pow2 = 0, 0, 0, false
	switch {
	case v&0x80 != 0:
		f.pow2, f.shift = true, e
	case e <= 9:
		f.mul = pow10(9 - e)
	case e-9 <= 19:
		f.div = pow10(e - 9)
	}
	// Finer than 10^-28 s: no multiplier, divisor or shift, every
	// timestamp is 0 ns (a uint64 holds less than 10^-8 s of them).
}

func pow10(e uint) uint64 {
	p := uint64(1)
	for range e {
		p *= 10
	}
	return p
}

// nanos converts a timestamp in interface units to Unix nanoseconds.
// Garbage timestamps wrap around; they never panic.
func (f *iface) nanos(ts uint64) int64 {
	var ns uint64
	switch {
	case f.mul != 0:
		ns = ts * f.mul
	case f.div != 0:
		ns = ts / f.div
	case f.pow2:
		// ts / 2^shift seconds: whole seconds, then the fraction with a
		// 128-bit product so that 2^-64 units do not overflow.
		sec := ts >> f.shift // 0 when shift >= 64
		frac := ts - sec<<f.shift
		hi, lo := bits.Mul64(frac, 1e9)
		var fracNs uint64
		if f.shift < 64 {
			fracNs = lo>>f.shift | hi<<(64-f.shift)
		} else {
			fracNs = hi >> (f.shift - 64)
		}
		ns = sec*1e9 + fracNs
	}
	return int64(ns) + f.offsetNs
}

// nextBlock reads blocks until one holds a packet, into f.
func (r *Reader) nextBlock(f *Frame) error {
	for {
		start := r.off
		if err := r.fill(blockHeaderLen); err != nil {
			if err == io.EOF {
				return io.EOF
			}
			return blockErr(start, err)
		}
		h := r.buf[r.pos : r.pos+blockHeaderLen]
		if binary.LittleEndian.Uint32(h) == blockTypeSHB {
			if err := r.readSection(start); err != nil {
				return err
			}
			continue
		}
		typ, length := r.u32(h[0:4]), r.u32(h[4:8])
		if length < minBlockLen || length%4 != 0 {
			return blockErr(start, fmt.Errorf("block length %d is not a multiple of 4 of at least %d", length, minBlockLen))
		}
		switch typ {
		case blockTypeEPB, blockTypePB, blockTypeSPB, blockTypeIDB:
		default:
			if err := r.skipBlock(start, length); err != nil {
				return err
			}
			continue
		}
		b, err := r.block(start, length)
		if err != nil {
			return err
		}
		var ok bool
		switch typ {
		case blockTypeIDB:
			err = r.readInterface(b)
		case blockTypeEPB, blockTypePB:
			err = r.packetBlock(typ, b, f)
			ok = true
		case blockTypeSPB:
			err = r.simplePacketBlock(b, f)
			ok = true
		}
		if err != nil {
			return blockErr(start, err)
		}
		r.advance(len(b))
		if ok {
			return nil
		}
	}
}

// block returns the whole block of the given length at the read position,
// after checking its size and trailing length; it does not consume it.
func (r *Reader) block(start int64, length uint32) ([]byte, error) {
	if length > maxRecordLen {
		return nil, blockErr(start, fmt.Errorf("block length %d exceeds %d", length, maxRecordLen))
	}
	if err := r.fill(int(length)); err != nil {
		return nil, blockErr(start, noEOF(err))
	}
	b := r.buf[r.pos : r.pos+int(length) : r.pos+int(length)]
	if trail := r.u32(b[length-4:]); trail != length {
		return nil, blockErr(start, fmt.Errorf("trailing block length %d != %d", trail, length))
	}
	return b, nil
}

// skipBlock consumes a block this reader does not interpret, streaming it
// through the buffer whatever its size, and checks its trailing length.
func (r *Reader) skipBlock(start int64, length uint32) error {
	if err := r.skip(int64(length) - 4); err != nil {
		return blockErr(start, err)
	}
	if err := r.fill(4); err != nil {
		return blockErr(start, noEOF(err))
	}
	if trail := r.u32(r.buf[r.pos : r.pos+4]); trail != length {
		return blockErr(start, fmt.Errorf("trailing block length %d != %d", trail, length))
	}
	r.advance(4)
	return nil
}

// readSection reads a Section Header Block: type(4) length(4) byte-order
// magic(4) major(2) minor(2) section length(8) options. A new section
// forgets the interfaces of the previous one.
func (r *Reader) readSection(start int64) error {
	if err := r.fill(minBlockLen); err != nil {
		return blockErr(start, noEOF(err))
	}
	h := r.buf[r.pos : r.pos+minBlockLen]
	switch {
	case binary.LittleEndian.Uint32(h[8:12]) == byteOrderMagic:
		r.bigEndian = false
	case binary.BigEndian.Uint32(h[8:12]) == byteOrderMagic:
		r.bigEndian = true
	default:
		return blockErr(start, fmt.Errorf("section header byte-order magic 0x%08x unknown", binary.LittleEndian.Uint32(h[8:12])))
	}
	length := r.u32(h[4:8])
	if length < minSHBLen || length%4 != 0 {
		return blockErr(start, fmt.Errorf("section header length %d is not a multiple of 4 of at least %d", length, minSHBLen))
	}
	b, err := r.block(start, length)
	if err != nil {
		return err
	}
	if major := r.u16(b[12:14]); major != 1 {
		return blockErr(start, fmt.Errorf("section version %d.%d, want 1.x", major, r.u16(b[14:16])))
	}
	r.ifaces = r.ifaces[:0]
	r.advance(len(b))
	return nil
}

// readInterface reads an Interface Description Block: link type(2)
// reserved(2) snaplen(4) options.
func (r *Reader) readInterface(b []byte) error {
	if len(b) < minIDBLen {
		return fmt.Errorf("interface description length %d < %d", len(b), minIDBLen)
	}
	f := iface{linkType: flow.LinkType(r.u16(b[8:10])), snapLen: r.u32(b[12:16])}
	f.setResolution(6) // default: microseconds
	opts := b[16 : len(b)-4]
	for len(opts) >= 4 {
		code, n := r.u16(opts[0:2]), int(r.u16(opts[2:4]))
		if code == optEndOfOpt {
			break
		}
		if 4+n > len(opts) {
			return fmt.Errorf("interface option %d length %d overruns the block", code, n)
		}
		v := opts[4 : 4+n]
		switch {
		case code == optTSResol && n >= 1:
			f.setResolution(v[0])
		case code == optTSOffset && n >= 8:
			var sec int64
			if r.bigEndian {
				sec = int64(binary.BigEndian.Uint64(v))
			} else {
				sec = int64(binary.LittleEndian.Uint64(v))
			}
			f.offsetNs = sec * 1e9
		}
		opts = opts[min(4+(n+3)&^3, len(opts)):] // values are padded to 4 bytes
	}
	r.ifaces = append(r.ifaces, f)
	return nil
}

// packetBlock reads an Enhanced Packet Block — interface(4) ts high(4)
// ts low(4) caplen(4) origlen(4) data options — or the obsolete Packet
// Block, the same but with interface(2) drops(2).
func (r *Reader) packetBlock(typ uint32, b []byte, out *Frame) error {
	if len(b) < minEPBLen {
		return fmt.Errorf("packet block length %d < %d", len(b), minEPBLen)
	}
	var id int
	if typ == blockTypePB {
		id = int(r.u16(b[8:10]))
	} else {
		id = int(r.u32(b[8:12]))
	}
	if id < 0 || id >= len(r.ifaces) {
		return fmt.Errorf("interface %d not described (section has %d)", id, len(r.ifaces))
	}
	f := &r.ifaces[id]
	capLen, origLen := r.u32(b[20:24]), r.u32(b[24:28])
	if capLen > uint32(len(b)-minEPBLen) {
		return fmt.Errorf("captured length %d overruns the block length %d", capLen, len(b))
	}
	if capLen > MaxSnapLen {
		if err := checkCapLen(capLen, snapOrMax(f.snapLen)); err != nil {
			return err
		}
	}
	ts := uint64(r.u32(b[12:16]))<<32 | uint64(r.u32(b[16:20]))
	*out = Frame{
		Time:      f.nanos(ts),
		LinkType:  f.linkType,
		CapLen:    capLen,
		OrigLen:   origLen,
		Interface: id,
		Data:      b[28 : 28+capLen : 28+capLen],
	}
	return nil
}

// simplePacketBlock reads a Simple Packet Block: origlen(4) data. It
// belongs to interface 0 and has no timestamp; its captured length is the
// smallest of the original length, the snaplen and the room in the block.
func (r *Reader) simplePacketBlock(b []byte, out *Frame) error {
	if len(b) < minSPBLen {
		return fmt.Errorf("simple packet block length %d < %d", len(b), minSPBLen)
	}
	if len(r.ifaces) == 0 {
		return fmt.Errorf("simple packet block before any interface description")
	}
	f := &r.ifaces[0]
	origLen := r.u32(b[8:12])
	capLen := min(origLen, uint32(len(b)-minSPBLen))
	if f.snapLen != 0 {
		capLen = min(capLen, f.snapLen)
	}
	*out = Frame{
		LinkType: f.linkType,
		CapLen:   capLen,
		OrigLen:  origLen,
		Data:     b[12 : 12+capLen : 12+capLen],
	}
	return nil
}

// snapOrMax reads a pcapng snaplen, where 0 means "no limit".
func snapOrMax(s uint32) uint32 {
	if s == 0 {
		return math.MaxUint32
	}
	return s
}

func blockErr(start int64, err error) error {
	return fmt.Errorf("pcapng: block at offset %d: %w", start, err)
}
