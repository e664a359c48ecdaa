package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"abuseguard/enforce"
	"abuseguard/enforce/bgp"
	"abuseguard/enforce/nft"
	"abuseguard/inventory"
	"abuseguard/lifecycle"
	"abuseguard/notify"
	"abuseguard/store"
	"abuseguard/web"
	"abuseguard/web/api"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
)

func newServeCmd(g *globalFlags) *cobra.Command {
	var in pcapInput
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run abuseguard: collectors, detectors, lifecycle, enforcement, notifications and the JSON API",
		Long: `serve runs everything: the collectors (sFlow, NetFlow, IPFIX over UDP;
AF_PACKET), the detection engine, the case lifecycle (policy, safety, timers)
on the store of record, the enforcers (BGP speaker, nftables) when enabled,
the notifier (mail or maildir, webhooks), and the HTTP server with the JSON
API under /api/v1, /healthz and /metrics. Components start in order and stop
in reverse on SIGINT or SIGTERM.

--pcap feeds capture files in as if their traffic arrived now (times moved
to the wall clock, paced at capture speed × --pcap-speed, 0 for as fast as
possible): a way to try serve without a router. To analyse a capture in its
own time, use replay.`,
		Example: `  abuseguard serve --config abuseguard.sample.yaml
  abuseguard serve --config abuseguard.sample.yaml --pcap testdata/captures/netscan-demo.pcap`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfiguration(g.configFile)
			if err != nil {
				return err
			}
			log, err := g.newLogger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			inv, err := buildInventory(cfg, g.configFile)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), log, cfg, inv, in)
		},
	}
	cmd.Flags().StringArrayVar(&in.files, "pcap", nil, "replay this capture file into the detectors as live traffic (repeatable)")
	cmd.Flags().Float64Var(&in.speed, "pcap-speed", 1, "pace of --pcap: 1 capture speed, 2 twice as fast, 0 as fast as possible")
	return cmd
}

// component is something serve starts and stops.
type component struct {
	name  string
	start func() error
	stop  func() error
}

// serve wires the components, starts them in order, waits for ctx and
// stops them in reverse; a failed start unwinds what already started.
func serve(ctx context.Context, log *slog.Logger, cfg Configuration, inv *inventory.Inventory, in pcapInput) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	s, err := store.Open(ctx, log.With("component", "store"), storePath(cfg), cfg.Store.Channels)
	if err != nil {
		return err
	}
	defer s.Close()
	life, err := lifecycle.New(log.With("component", "lifecycle"), cfg.Lifecycle, lifecycle.Dependencies{
		Store: s, Inventory: lifecycleInventory{inv}, Registerer: reg,
	})
	if err != nil {
		return err
	}
	n, err := notify.New(log.With("component", "notify"), cfg.Notify, notify.Dependencies{
		Store: s, Inventory: notifyInventory{inv}, DataDir: cfg.DataDir, Registerer: reg,
	})
	if err != nil {
		return err
	}
	enforcement, view, err := newEnforcement(log, cfg, s, reg)
	if err != nil {
		return err
	}
	a, err := api.New(log.With("component", "api"), cfg.API, api.Dependencies{
		Cases: life, Audit: life, Tokens: s, Detections: life, Enforcement: view, Registerer: reg,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", a)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Ping(ctx); err != nil {
			log.Warn("health check failed", "error", err)
			http.Error(w, "store unavailable\n", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv, err := web.New(log.With("component", "web"), cfg.Web, mux)
	if err != nil {
		return err
	}

	// The collectors and the detection engine start between lifecycle and
	// web once they land: sources last, so that nothing they produce
	// finds its consumer stopped.
	components := []component{
		{"lifecycle", life.Start, life.Stop},
		{"notify", n.Start, n.Stop},
	}
	components = append(components, enforcement...)
	components = append(components, component{"web", srv.Start, srv.Stop})
	pipeline, err := newPipeline(log, cfg, inv, life.Sink, reg, in)
	if err != nil {
		return err
	}
	components = append(components, pipeline...)
	var started []component
	stopAll := func() error {
		var errs []error
		for i := len(started) - 1; i >= 0; i-- {
			if err := started[i].stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", started[i].name, err))
			}
		}
		return errors.Join(errs...)
	}
	for _, c := range components {
		if err := c.start(); err != nil {
			return errors.Join(fmt.Errorf("start %s: %w", c.name, err), stopAll())
		}
		started = append(started, c)
	}
	log.Info("abuseguard running", "listen", srv.Addr(), "store", storePath(cfg), "dry_run", cfg.Lifecycle.DryRun)
	var failed error
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case <-srv.Failed():
		failed = errors.New("http server failed")
		log.Error("stopping: http server failed")
	}
	return errors.Join(failed, stopAll())
}

func storePath(cfg Configuration) string {
	if filepath.IsAbs(cfg.Store.Path) {
		return cfg.Store.Path
	}
	return filepath.Join(cfg.DataDir, cfg.Store.Path)
}

// newEnforcement makes the configured enforcers and the reconciler that
// drives them from the store, as components in start order: the backends
// first, then the reconciler, so its first pass finds them running.
func newEnforcement(log *slog.Logger, cfg Configuration, s *store.Store, reg prometheus.Registerer) ([]component, enforcementView, error) {
	var (
		comps     []component
		enforcers []enforce.Enforcer
		view      enforcementView
	)
	if cfg.BGP.Enabled {
		b, err := bgp.New(cfg.BGP, bgp.Dependencies{Logger: log, Registerer: reg})
		if err != nil {
			return nil, view, err
		}
		comps = append(comps, component{"bgp", b.Start, b.Stop})
		enforcers = append(enforcers, b)
		view.bgp = b
	}
	if cfg.NFTables.Enabled {
		n, err := nft.New(cfg.NFTables, nft.Dependencies{Logger: log, Registerer: reg})
		if err != nil {
			return nil, view, err
		}
		comps = append(comps, component{"nftables", n.Start, n.Stop})
		enforcers = append(enforcers, n)
	}
	if len(enforcers) == 0 {
		log.Warn("no enforcer configured: blocks are recorded in the store but not enforced (enable bgp or nftables)")
		return nil, view, nil
	}
	rec, err := enforce.New(cfg.Enforce, enforce.Dependencies{Blocks: s, Enforcers: enforcers, Logger: log, Registerer: reg})
	if err != nil {
		return nil, view, err
	}
	view.rec = rec
	comps = append(comps, component{"enforce", rec.Start, rec.Stop})
	return comps, view, nil
}
