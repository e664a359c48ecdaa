package udp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// Datagram is one received datagram.
type Datagram struct {
	// Source is the exporter's address (Unmap()ped) and port.
	Source netip.AddrPort
	// Time is when the batch holding the datagram was read, in Unix
	// nanoseconds.
	Time int64
	// Payload is the UDP payload. It belongs to the listener and is
	// reused once the handler returns.
	Payload []byte
}

// Handler processes a batch of datagrams. It runs on a worker goroutine;
// the datagrams and their payloads are valid only until it returns.
type Handler func(dgrams []Datagram)

// Dependencies of a Listener.
type Dependencies struct {
	// Logger is scoped to the listener by the caller; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the listener's metrics, labelled by protocol.
	// Required.
	Registerer prometheus.Registerer
	// NewHandler returns the handler of one worker; it is called once per
	// worker at Start, so a handler may keep buffers of its own without
	// locking. Required.
	NewHandler func() Handler
	// Admit, when set, is called by the receivers for each datagram before
	// it is queued: false drops it (the callee counts it). The collector
	// turns away unknown exporters here, so that they cannot fill the
	// queue. It must be fast and safe for concurrent use.
	Admit func(src netip.Addr) bool
	// Dropped, when set, is called by a receiver with the datagrams it
	// dropped because no worker was free, so that the callee can count
	// them per exporter. Same constraints as Admit.
	Dropped func(dgrams []Datagram)
}

// Listener receives datagrams on the configured addresses and hands them
// to its workers. It is inert until Start.
type Listener struct {
	cfg     Configuration
	deps    Dependencies
	log     *slog.Logger
	metrics *metrics

	mu      sync.Mutex
	sockets []*socket
	free    *pool       // batches no one is using
	queue   chan *batch // batches waiting for a worker
	group   *errgroup.Group
	stopped bool
}

// New validates the configuration and registers the metrics.
func New(cfg Configuration, deps Dependencies) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("udp listener %s: %w", cfg.Protocol, err)
	}
	if deps.NewHandler == nil || deps.Registerer == nil {
		return nil, errors.New("udp listener: NewHandler and Registerer are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	m, err := newMetrics(deps.Registerer, cfg.Protocol)
	if err != nil {
		return nil, fmt.Errorf("udp listener %s: %w", cfg.Protocol, err)
	}
	return &Listener{cfg: cfg, deps: deps, log: log, metrics: m}, nil
}

// Start opens the sockets and starts the receivers and workers. If a
// socket cannot be opened, those already opened are closed again.
func (l *Listener) Start() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.group != nil {
		return errors.New("udp listener: already started")
	}
	for _, addr := range l.cfg.Listen {
		for i := range l.cfg.Sockets {
			s, err := openSocket(addr, l.cfg, l.cfg.Sockets > 1)
			if err != nil {
				for _, s := range l.sockets {
					s.close()
				}
				l.sockets = nil
				return fmt.Errorf("udp listener %s: socket %d on %s: %w", l.cfg.Protocol, i, addr, err)
			}
			l.sockets = append(l.sockets, s)
			l.metrics.buffer.WithLabelValues(s.local.String()).Set(float64(s.granted))
			if l.cfg.ReceiveBuffer > 0 && s.granted < l.cfg.ReceiveBuffer {
				l.log.Warn("receive buffer smaller than configured",
					"address", s.local, "configured", l.cfg.ReceiveBuffer, "granted", s.granted,
					"hint", "raise net.core.rmem_max or run with CAP_NET_ADMIN")
			}
			l.log.Info("listening", "address", s.local, "socket", i, "receive_buffer", s.granted)
		}
	}
	// One batch per receiver plus QueueSize in the pool, made as a backlog
	// needs them. queue can hold them all, so a receiver that got a batch
	// from the pool always can queue its own.
	total := l.cfg.QueueSize + len(l.sockets)
	l.free = newPool(l.cfg, l.cfg.QueueSize, l.metrics.batches)
	l.queue = make(chan *batch, total)
	l.group = &errgroup.Group{}
	var workers sync.WaitGroup
	for range l.cfg.Workers {
		h := l.deps.NewHandler()
		workers.Add(1)
		l.group.Go(func() error {
			defer workers.Done()
			for b := range l.queue {
				h(b.dgrams)
				l.free.put(b)
			}
			return nil
		})
	}
	var receivers sync.WaitGroup
	for _, s := range l.sockets {
		receivers.Add(1)
		l.group.Go(func() error {
			defer receivers.Done()
			return l.receive(s, newBatch(l.cfg))
		})
	}
	// The queue closes when the last receiver is gone, which lets the
	// workers finish what is queued and return.
	l.group.Go(func() error {
		receivers.Wait()
		close(l.queue)
		return nil
	})
	return nil
}

// Stop closes the sockets, lets the workers finish the queued batches and
// waits for every goroutine. It returns the error of a receiver that
// failed, if any.
func (l *Listener) Stop() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.group == nil || l.stopped {
		return nil
	}
	l.stopped = true
	for _, s := range l.sockets {
		s.close()
	}
	return l.group.Wait()
}

// Addrs returns the local addresses of the open sockets (useful with
// port 0), one per socket.
func (l *Listener) Addrs() []netip.AddrPort {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]netip.AddrPort, len(l.sockets))
	for i, s := range l.sockets {
		out[i] = s.local
	}
	return out
}

// holdMax bounds how long a receiver keeps a batch to fill it while other
// batches wait for a worker (see receive): at 167 000 datagrams a second
// (1 M sFlow records) 32 slots fill in 0.2 ms; workers that miss their
// core on a busy machine come back within a millisecond or two. A
// variable for tests only.
var holdMax = time.Millisecond

// receive reads batches from s until the socket is closed.
//
// A batch is handed to the workers as soon as a read returns, unless
// batches are already waiting for a worker: then it would wait too, and
// the receiver keeps filling its free slots, for at most holdMax or until
// no batch waits any more. Without this, a receiver faster than its
// workers queues a datagram or two a batch (it wakes for each one), and
// QueueSize batches hold QueueSize datagrams instead of QueueSize ×
// BatchSize: at 167 000 sFlow datagrams a second the default queue rode
// out half a millisecond of a busy worker instead of 12 ms.
func (l *Listener) receive(s *socket, b *batch) error {
	for {
		n, err := s.read(b, 0, true)
		if err != nil {
			return l.failed(s, err)
		}
		l.count(s, b, 0, n)
		b.collect(0, n, l.deps.Admit)
		if used := n; used < len(b.all) && len(l.queue) > 0 {
			s.setDeadline(time.Now().Add(holdMax))
			for used < len(b.all) && len(l.queue) > 0 {
				if n, err = s.read(b, used, true); err != nil {
					if errors.Is(err, os.ErrDeadlineExceeded) {
						err = nil
					}
					break
				}
				l.count(s, b, used, n)
				b.collect(used, n, l.deps.Admit)
				used += n
			}
			s.setDeadline(time.Time{})
		}
		if len(b.dgrams) > 0 {
			if nb := l.free.get(); nb != nil {
				l.queue <- b
				b = nb
			} else {
				l.metrics.queueDrops.Add(float64(len(b.dgrams)))
				if l.deps.Dropped != nil {
					l.deps.Dropped(b.dgrams)
				}
			}
		}
		if err != nil {
			return l.failed(s, err)
		}
	}
}

// failed handles a read error: nil when the socket was closed (Stop),
// else counted, logged and returned.
func (l *Listener) failed(s *socket, err error) error {
	if s.isClosed() {
		return nil
	}
	l.metrics.errors.Inc()
	l.log.Error("receive failed", "address", s.local, "error", err)
	return fmt.Errorf("receive on %s: %w", s.local, err)
}

// count adds the n datagrams just read into slots from on to the
// listener's counters, with the kernel's drops reported since.
func (l *Listener) count(s *socket, b *batch, from, n int) {
	m := l.metrics
	if d := s.takeKernelDrops(); d > 0 {
		m.kernelDrops.Add(float64(d))
	}
	m.datagrams.Add(float64(n))
	var bytes, truncated int
	for _, d := range b.all[from : from+n] {
		if d.Payload == nil {
			truncated++
		}
		bytes += len(d.Payload)
	}
	m.bytes.Add(float64(bytes))
	if truncated > 0 {
		m.truncated.Add(float64(truncated))
	}
}
