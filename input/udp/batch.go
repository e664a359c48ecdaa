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

// collect keeps the first n datagrams that have a payload (truncated ones
// have none) and that admit accepts, in order, and returns how many.
func (b *batch) collect(n int, admit func(netip.Addr) bool) int {
	b.dgrams = b.all[:0]
	for i := range n {
		d := b.all[i]
		if d.Payload == nil || (admit != nil && !admit(d.Source.Addr())) {
			continue
		}
		b.dgrams = append(b.dgrams, d)
	}
	return len(b.dgrams)
}
