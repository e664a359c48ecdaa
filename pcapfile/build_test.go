package pcapfile_test

import (
	"encoding/binary"
)

// Builders of capture files byte by byte, independent of the Writer, so
// that the reader is tested against the format documents rather than
// against this package's own idea of them.

// classic builds a classic pcap file.
type classic struct {
	order binary.AppendByteOrder
	b     []byte
}

// newClassic writes a file header with the given magic (as it reads in
// the file's byte order), snaplen and link type field.
func newClassic(order binary.AppendByteOrder, magic, snapLen, linkField uint32) *classic {
	c := &classic{order: order}
	c.b = order.AppendUint32(c.b, magic)
	c.b = order.AppendUint16(c.b, 2)
	c.b = order.AppendUint16(c.b, 4)
	c.b = order.AppendUint32(c.b, 0) // thiszone
	c.b = order.AppendUint32(c.b, 0) // sigfigs
	c.b = order.AppendUint32(c.b, snapLen)
	c.b = order.AppendUint32(c.b, linkField)
	return c
}

// record appends a record; frac is microseconds or nanoseconds as the
// magic says.
func (c *classic) record(sec, frac uint32, data []byte, origLen uint32) *classic {
	c.b = c.order.AppendUint32(c.b, sec)
	c.b = c.order.AppendUint32(c.b, frac)
	c.b = c.order.AppendUint32(c.b, uint32(len(data)))
	c.b = c.order.AppendUint32(c.b, origLen)
	c.b = append(c.b, data...)
	return c
}

// ng builds a pcapng file. Its byte order may change at a new section.
type ng struct {
	order  binary.AppendByteOrder
	b      []byte
	blocks []block // every block written, in order
}

// block is where a block starts and its type.
type block struct {
	off int
	typ uint32
}

// opt is a pcapng option.
type opt struct {
	code  uint16
	value []byte
}

// block appends a block with body padded to 4 bytes and both lengths.
func (w *ng) block(typ uint32, body []byte) *ng {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	w.blocks = append(w.blocks, block{len(w.b), typ})
	w.b = w.order.AppendUint32(w.b, typ)
	w.b = w.order.AppendUint32(w.b, n)
	w.b = append(w.b, body...)
	w.b = w.order.AppendUint32(w.b, n)
	return w
}

func (w *ng) options(b []byte, opts []opt) []byte {
	if len(opts) == 0 {
		return b
	}
	for _, o := range opts {
		b = w.order.AppendUint16(b, o.code)
		b = w.order.AppendUint16(b, uint16(len(o.value)))
		b = append(b, o.value...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return append(b, 0, 0, 0, 0) // opt_endofopt
}

// shb starts a section in w's byte order.
func (w *ng) shb(opts ...opt) *ng {
	var body []byte
	body = w.order.AppendUint32(body, 0x1a2b3c4d)
	body = w.order.AppendUint16(body, 1)
	body = w.order.AppendUint16(body, 0)
	body = w.order.AppendUint64(body, ^uint64(0)) // section length unknown
	return w.block(0x0a0d0d0a, w.options(body, opts))
}

func (w *ng) idb(linkType uint16, snapLen uint32, opts ...opt) *ng {
	var body []byte
	body = w.order.AppendUint16(body, linkType)
	body = w.order.AppendUint16(body, 0)
	body = w.order.AppendUint32(body, snapLen)
	return w.block(1, w.options(body, opts))
}

func (w *ng) epb(iface uint32, ts uint64, data []byte, origLen uint32, opts ...opt) *ng {
	var body []byte
	body = w.order.AppendUint32(body, iface)
	body = w.order.AppendUint32(body, uint32(ts>>32))
	body = w.order.AppendUint32(body, uint32(ts))
	body = w.order.AppendUint32(body, uint32(len(data)))
	body = w.order.AppendUint32(body, origLen)
	body = append(body, data...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	return w.block(6, w.options(body, opts))
}

func (w *ng) spb(data []byte, origLen uint32) *ng {
	body := w.order.AppendUint32(nil, origLen)
	return w.block(3, append(body, data...))
}

// pb is the obsolete Packet Block (type 2).
func (w *ng) pb(iface uint16, ts uint64, data []byte, origLen uint32) *ng {
	var body []byte
	body = w.order.AppendUint16(body, iface)
	body = w.order.AppendUint16(body, 0) // drops
	body = w.order.AppendUint32(body, uint32(ts>>32))
	body = w.order.AppendUint32(body, uint32(ts))
	body = w.order.AppendUint32(body, uint32(len(data)))
	body = w.order.AppendUint32(body, origLen)
	return w.block(2, append(body, data...))
}

func u64(order binary.AppendByteOrder, v uint64) []byte { return order.AppendUint64(nil, v) }

// frameData returns n bytes that differ from frame to frame.
func frameData(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}
