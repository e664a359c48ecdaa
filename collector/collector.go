package collector

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"abuseguard/decoder/netflow"
	"abuseguard/decoder/sflow"
	"abuseguard/flow"
	"abuseguard/input/afpacket"
	"abuseguard/input/udp"
)

// Dependencies of a Collector.
type Dependencies struct {
	// Logger, scoped to the component by the caller; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the metrics of the collector and its inputs.
	// Required.
	Registerer prometheus.Registerer
	// Sink receives the records. It is called concurrently (see the
	// package documentation) and must not keep the records or their
	// Header bytes past the call. Required.
	Sink flow.Sink
}

// Collector receives, admits and decodes flow exports and packets into
// record batches for the sink. It is inert until Start.
type Collector struct {
	cfg     Configuration
	log     *slog.Logger
	sink    flow.Sink
	netflow *netflow.Decoder
	sflow   *sflow.Decoder

	exporters *exporterTable
	unknown   unknownList
	lastLog   atomic.Int64 // Unix ns of the last unknown-exporter log line
	metrics   *metrics

	listeners []*udp.Listener
	captures  []*afpacket.Input

	mu      sync.Mutex
	started int // inputs started, in order: listeners then captures
	stop    chan struct{}
	group   *errgroup.Group
}

// unknownListSize bounds the list of unknown exporters kept for the
// operator.
const unknownListSize = 32

// New validates the configuration, creates the decoders and the inputs,
// and registers the metrics. Nothing is opened yet.
func New(cfg Configuration, deps Dependencies) (*Collector, error) {
	// Validate parses the exporters into the slice: work on a copy, not
	// on the caller's.
	cfg.Exporters = slices.Clone(cfg.Exporters)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	if deps.Registerer == nil || deps.Sink == nil {
		return nil, errors.New("collector: Registerer and Sink are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Collector{
		cfg:  cfg,
		log:  log,
		sink: deps.Sink,
		netflow: netflow.New(netflow.Config{
			MaxExporters: cfg.MaxExporters,
			HoldTime:     cfg.TemplateHoldTime,
			HoldBytes:    holdBytes(cfg.TemplateHoldBytes),
		}),
		sflow:   sflow.New(sflow.Config{ExporterFromAgent: cfg.SFlowExporterFromAgent}),
		unknown: unknownList{size: unknownListSize},
	}
	c.exporters = newExporterTable(&c.cfg, c.configureExporter)
	var err error
	if c.metrics, err = newMetrics(deps.Registerer, c); err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	for _, lc := range cfg.Listeners {
		l, err := udp.New(lc, udp.Dependencies{
			Logger:     log.With("listener", lc.Protocol),
			Registerer: deps.Registerer,
			NewHandler: c.newWorker,
			Admit:      c.admit,
			Dropped:    c.dropped,
		})
		if err != nil {
			return nil, fmt.Errorf("collector: %w", err)
		}
		c.listeners = append(c.listeners, l)
	}
	for _, ac := range cfg.AFPacket {
		in, err := afpacket.New(ac, afpacket.Dependencies{
			Logger:     log.With("interface", ac.Interface),
			Registerer: deps.Registerer,
			Sink:       c.packetSink,
		})
		if err != nil {
			return nil, fmt.Errorf("collector: %w", err)
		}
		c.captures = append(c.captures, in)
	}
	return c, nil
}

// holdBytes maps the configuration's 0 (hold nothing) to the decoder's
// negative (its 0 means the default).
func holdBytes(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// configureExporter gives the netflow decoder the sampling settings of a
// newly admitted exporter.
func (c *Collector) configureExporter(e *exporter) {
	if e.rule != nil && e.rule.SamplingRate != 0 {
		c.netflow.SetSamplingRate(e.addr, e.rule.SamplingRate, e.rule.ForceSamplingRate)
	}
}

// Start opens the inputs in order; if one fails, those already started
// are stopped again.
func (c *Collector) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.group != nil {
		return errors.New("collector: already started")
	}
	for _, l := range c.listeners {
		if err := l.Start(); err != nil {
			c.unwind()
			return fmt.Errorf("collector: %w", err)
		}
		c.started++
	}
	for _, in := range c.captures {
		if err := in.Start(); err != nil {
			c.unwind()
			return fmt.Errorf("collector: %w", err)
		}
		c.started++
	}
	c.stop = make(chan struct{})
	c.group = &errgroup.Group{}
	c.group.Go(c.expire)
	c.log.Info("collector started", "listeners", len(c.listeners), "afpacket", len(c.captures),
		"exporters", len(c.cfg.Exporters), "accept_unknown_exporters", c.cfg.AcceptUnknownExporters)
	return nil
}

// unwind stops the started inputs in reverse order.
func (c *Collector) unwind() error {
	var errs []error
	for ; c.started > 0; c.started-- {
		i := c.started - 1
		if i >= len(c.listeners) {
			errs = append(errs, c.captures[i-len(c.listeners)].Stop())
		} else {
			errs = append(errs, c.listeners[i].Stop())
		}
	}
	return errors.Join(errs...)
}

// Stop stops the inputs in reverse order, after their workers have handed
// the queued datagrams to the sink: it waits for sink calls in progress.
func (c *Collector) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.group == nil {
		return nil
	}
	err := c.unwind()
	close(c.stop)
	err = errors.Join(err, c.group.Wait())
	c.group = nil
	c.log.Info("collector stopped")
	return err
}

// Listeners returns the UDP listeners, in configuration order (their Addrs
// tell the ports bound when the configuration says port 0).
func (c *Collector) Listeners() []*udp.Listener { return c.listeners }

// UnknownExporters returns the unknown sources seen recently, most recent
// first, at most 32.
func (c *Collector) UnknownExporters() []UnknownExporter { return c.unknown.list() }

// expire drops NetFlow data that waited too long for its template, for
// exporters that fell silent (Decode expires the others as they send).
func (c *Collector) expire() error {
	t := time.NewTicker(c.cfg.TemplateHoldTime/2 + time.Second)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return nil
		case now := <-t.C:
			c.netflow.Expire(now)
		}
	}
}

// admit is the receivers' exporter control.
func (c *Collector) admit(addr netip.Addr) bool {
	_, res := c.exporters.lookup(addr)
	switch res {
	case found:
		return true
	case overLimit:
		c.metrics.refusedLimit.Inc()
		return false
	}
	c.metrics.refusedUnknown.Inc()
	now := time.Now()
	if c.unknown.seen(addr, now) {
		// One line per second at most: a spoofed flood brings new
		// addresses with every datagram.
		last := c.lastLog.Load()
		if now.UnixNano()-last > int64(time.Second) && c.lastLog.CompareAndSwap(last, now.UnixNano()) {
			c.log.Warn("datagrams from an unknown exporter dropped", "exporter", addr,
				"hint", "add it to collector.exporters if it is yours")
		}
	}
	return false
}

// dropped counts the datagrams a receiver could not queue.
func (c *Collector) dropped(dgrams []udp.Datagram) {
	for i := range dgrams {
		if e, res := c.exporters.lookup(dgrams[i].Source.Addr()); res == found {
			e.drops.Add(1)
		}
	}
}

// packetSink counts and forwards the batches of the AF_PACKET inputs.
func (c *Collector) packetSink(recs []flow.Record) {
	c.metrics.records.Add(float64(len(recs)))
	c.metrics.batches.Inc()
	c.sink(recs)
}
