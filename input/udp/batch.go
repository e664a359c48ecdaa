package udp

import (
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

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

// pool hands out batches, the most recently returned first, and allocates
// them as they are first needed, up to max.
//
// Most of the time a handful of batches circulate between the receivers
// and the workers, so the queue can be deep (QueueSize, for the moments a
// worker is off its core) without its buffers existing until a backlog
// needs them: a batch is BatchSize × MaxDatagramSize, 295 KB by default.
// Handing out the most recently returned batch also reuses buffers that
// are still in the CPU caches. Once allocated, a batch stays for the
// listener's life: memory is the deepest backlog seen, not freed.
type pool struct {
	mu   sync.Mutex
	free []*batch
	made int
	max  int
	cfg  Configuration
	// made is published here for the metrics.
	gauge prometheus.Gauge
}

func newPool(cfg Configuration, max int, gauge prometheus.Gauge) *pool {
	return &pool{free: make([]*batch, 0, max), max: max, cfg: cfg, gauge: gauge}
}

// get returns a batch, or nil when all max are in use.
func (p *pool) get() *batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b
	}
	if p.made == p.max {
		return nil
	}
	p.made++
	p.gauge.Set(float64(p.made))
	return newBatch(p.cfg)
}

// put returns a batch got from p.
func (p *pool) put(b *batch) {
	p.mu.Lock()
	p.free = append(p.free, b)
	p.mu.Unlock()
}
