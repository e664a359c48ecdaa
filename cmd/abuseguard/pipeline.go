package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"abuseguard"
	"abuseguard/collector"
	"abuseguard/detect"
	"abuseguard/flow"
	"abuseguard/input/pcap"
	"abuseguard/inventory"

	"github.com/prometheus/client_golang/prometheus"
)

// pcapInput is serve's --pcap: capture files replayed as if their traffic
// were arriving now.
type pcapInput struct {
	files []string
	speed float64
}

// newPipeline builds the data plane of serve as components in start order:
// the detection engine (its detections rendered with their evidence and
// handed to sink), the clock that moves the engine's time on when traffic
// is idle, then the sources: the collector (UDP exports, AF_PACKET) and the
// --pcap files. Sources start last and stop first, so nothing they send
// finds its consumer stopped; the engine's Stop reports every open
// detection's final report to sink.
func newPipeline(log *slog.Logger, cfg Configuration, inv *inventory.Inventory, sink func(abuseguard.Detection),
	reg prometheus.Registerer, in pcapInput) ([]component, error) {
	render, err := cfg.Evidence.renderer()
	if err != nil {
		return nil, err
	}
	engine, err := detect.New(cfg.Detect, inv, cfg.Detect.GroupThresholds(inv.GroupNames()), func(d abuseguard.Detection) {
		d.Evidence = render(&d)
		sink(d)
	}, detect.Dependencies{Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	clock := newTicker(time.Second, func(now time.Time) { engine.Tick(now) })
	comps := []component{
		{"detect", engine.Start, engine.Stop},
		{"detect-clock", clock.start, clock.stop},
	}
	if len(cfg.Collector.Listeners) > 0 || len(cfg.Collector.AFPacket) > 0 {
		c, err := collector.New(cfg.Collector, collector.Dependencies{
			Logger: log.With("component", "collector"), Registerer: reg, Sink: engine.Submit,
		})
		if err != nil {
			return nil, err
		}
		comps = append(comps, component{"collector", c.Start, c.Stop})
	}
	if len(in.files) > 0 {
		f, err := newPcapFeeder(log.With("component", "pcap"), in, engine.Submit, reg)
		if err != nil {
			return nil, err
		}
		comps = append(comps, component{"pcap", f.start, f.stop})
	}
	return comps, nil
}

// ticker calls fn with the time every period until stopped.
type ticker struct {
	period time.Duration
	fn     func(time.Time)
	cancel context.CancelFunc
	done   chan struct{}
}

func newTicker(period time.Duration, fn func(time.Time)) *ticker {
	return &ticker{period: period, fn: fn}
}

func (t *ticker) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel, t.done = cancel, make(chan struct{})
	go func() {
		defer close(t.done)
		tk := time.NewTicker(t.period)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tk.C:
				t.fn(now)
			}
		}
	}()
	return nil
}

func (t *ticker) stop() error {
	t.cancel()
	<-t.done
	return nil
}

// pcapFeeder replays capture files into the engine as live traffic: each
// record's times are moved so that the capture starts now, and the replay
// is paced at capture speed × speed (0: as fast as possible, every batch
// stamped with the time it is sent). serve's windows and the lifecycle's
// timers run on the wall clock; an old capture fed with its own timestamps
// would land entirely in the past. replay is the command for analysing a
// capture in its own time.
type pcapFeeder struct {
	log    *slog.Logger
	in     pcapInput
	src    *pcap.Source
	submit flow.Sink
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// wall and t0 map a file's capture time t to wall + (t-t0)/speed; set
	// from the file's first record.
	wall, t0 int64
	started  bool
}

func newPcapFeeder(log *slog.Logger, in pcapInput, submit flow.Sink, reg prometheus.Registerer) (*pcapFeeder, error) {
	if in.speed < 0 {
		return nil, usageError{errors.New("--pcap-speed must not be negative")}
	}
	m, err := pcap.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	src, err := pcap.NewSource(pcap.Configuration{FlowExports: "auto", Speed: in.speed, BatchSize: 1024},
		pcap.Dependencies{Logger: log, Metrics: m})
	if err != nil {
		return nil, err
	}
	return &pcapFeeder{log: log, in: in, src: src, submit: submit}, nil
}

func (f *pcapFeeder) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for _, file := range f.in.files {
			f.started = false // each file starts now, whatever its dates
			st, err := f.src.ReadFile(ctx, file, f.feed)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				// A bad capture is the operator's mistake, not a reason to
				// stop serving: say so and go on with the next.
				f.log.Error("capture not fully read", "file", file, "error", err)
			}
			f.log.Info("capture replayed", "file", file, "packets", st.Packets, "flow_records", st.Flows, "records", st.Records)
		}
	}()
	return nil
}

// feed moves a batch's times to the wall clock and submits it. The batch
// belongs to the source, which reuses it after the call: changing it in
// place is allowed.
func (f *pcapFeeder) feed(records []flow.Record) {
	if len(records) == 0 {
		return
	}
	now := time.Now().UnixNano()
	if f.in.speed == 0 {
		// As fast as possible: the batch happens now, keeping the
		// records' spacing within it.
		shift := now - records[len(records)-1].End
		for i := range records {
			records[i].Start += shift
			records[i].End += shift
		}
		f.submit(records)
		return
	}
	if !f.started {
		f.wall, f.t0, f.started = now, records[0].Start, true
	}
	// Paced: capture time t is sent at wall + (t-t0)/speed, and that is its
	// time now; a faster replay is denser traffic, as tcpreplay's would be.
	at := func(t int64) int64 { return f.wall + int64(float64(t-f.t0)/f.in.speed) }
	for i := range records {
		records[i].Start, records[i].End = at(records[i].Start), at(records[i].End)
	}
	f.submit(records)
}

func (f *pcapFeeder) stop() error {
	f.cancel()
	f.wg.Wait()
	return nil
}
