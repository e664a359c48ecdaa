package afpacket

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"abuseguard/flow"
)

// Dependencies of an Input.
type Dependencies struct {
	// Logger, scoped by the caller; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the metrics, labelled by interface. Required.
	Registerer prometheus.Registerer
	// Sink receives the batches, from one goroutine per ring. Required.
	Sink flow.Sink
}

// Input captures one interface. It is inert until Start.
type Input struct {
	cfg     Configuration
	log     *slog.Logger
	sink    flow.Sink
	metrics *metrics

	mu    sync.Mutex
	rings []*ring
	group *errgroup.Group
}

// New validates the configuration and registers the metrics.
func New(cfg Configuration, deps Dependencies) (*Input, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("afpacket %s: %w", cfg.Interface, err)
	}
	if deps.Registerer == nil || deps.Sink == nil {
		return nil, errors.New("afpacket: Registerer and Sink are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	m, err := newMetrics(deps.Registerer, cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("afpacket %s: %w", cfg.Interface, err)
	}
	return &Input{cfg: cfg, log: log, sink: deps.Sink, metrics: m}, nil
}

// Start opens the rings on the interface and starts their readers. The
// sockets are created in the network namespace of the calling thread.
func (in *Input) Start() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.group != nil {
		return errors.New("afpacket: already started")
	}
	for i := range in.cfg.Sockets {
		r, err := openRing(in.cfg, in.metrics)
		if err != nil {
			for _, r := range in.rings {
				r.close()
			}
			in.rings = nil
			return fmt.Errorf("afpacket %s: ring %d: %w", in.cfg.Interface, i, err)
		}
		in.rings = append(in.rings, r)
	}
	in.log.Info("capturing", "rings", len(in.rings), "ring_bytes", in.cfg.Blocks*in.cfg.BlockSize,
		"sampling_rate", in.cfg.SamplingRate, "sampling", in.cfg.Sampling, "promiscuous", in.cfg.Promiscuous)
	in.group = &errgroup.Group{}
	for _, r := range in.rings {
		in.group.Go(func() error { return r.run(in.sink) })
	}
	return nil
}

// Stop wakes the readers, waits for them and closes the rings.
func (in *Input) Stop() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.group == nil {
		return nil
	}
	for _, r := range in.rings {
		r.wake()
	}
	err := in.group.Wait()
	for _, r := range in.rings {
		r.close()
	}
	in.rings, in.group = nil, nil
	return err
}
