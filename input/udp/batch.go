package udp

import "net/netip"

// batch is one set of datagram buffers, read by one recvmmsg call and
// handed to a worker as a whole.
type batch struct {
	buf    []byte     // BatchSize × MaxDatagramSize
	size   int        // MaxDatagramSize
	all    []Datagram // one per buffer slot, filled by socket.read
	dgrams []Datagram // the admitted ones, a prefix of all
}

func newBatch(cfg Configuration) *batch {
	return &batch{
		buf:  make([]byte, cfg.BatchSize*cfg.MaxDatagramSize),
		size: cfg.MaxDatagramSize,
		all:  make([]Datagram, cfg.BatchSize),
	}
}

// slot returns the buffer of datagram i.
func (b *batch) slot(i int) []byte { return b.buf[i*b.size : (i+1)*b.size] }

// collect keeps, of the n datagrams read into slots from on, those that
// have a payload (truncated ones have none) and that admit accepts, in
// order, appending them to dgrams (emptied when from is 0), and returns how
// many it kept. dgrams stays a prefix of all: it never holds more entries
// than the slots read before.
func (b *batch) collect(from, n int, admit func(netip.Addr) bool) int {
	if from == 0 {
		b.dgrams = b.all[:0]
	}
	kept := 0
	for i := from; i < from+n; i++ {
		d := b.all[i]
		if d.Payload == nil || (admit != nil && !admit(d.Source.Addr())) {
			continue
		}
		b.dgrams = append(b.dgrams, d)
		kept++
	}
	return kept
}
