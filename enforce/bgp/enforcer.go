// Package bgp is the BGP enforcer: an embedded GoBGP speaker that
// announces blocks to the edge routers as RTBH blackhole routes (RFC 7999)
// and FlowSpec rules (RFC 8955, RFC 8956). It is the only package that
// imports GoBGP.
//
// The speaker originates routes and accepts none: an import policy rejects
// everything the routers send, so it can never become a transit path
// between two routers.
package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/server"
	"github.com/prometheus/client_golang/prometheus"

	"abuseguard/enforce"
)

// Name is the enforcer name in block statuses.
const Name = "bgp"

// Dependencies are what the enforcer needs from the process.
type Dependencies struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
}

// Enforcer announces blocks from an embedded BGP speaker.
//
// Apply is called by one goroutine at a time (the reconciler's);
// Neighbors, Changed, Start and Stop are safe for concurrent use.
type Enforcer struct {
	cfg     Configuration
	log     *slog.Logger
	m       *metrics
	changed chan struct{}

	// applied is what the last successful Apply left in the RIB, by route
	// key and fingerprint, to tell drift from our own changes. Only Apply
	// touches it.
	applied map[rkey]appliedRoute
	// verified is when a pass last read the RIB back.
	verified time.Time
	// fps are the fingerprints of the routes we make, by kind and family.
	fps map[fpKey]uint64

	mu      sync.Mutex // guards srv, cancel and started
	srv     *server.BgpServer
	cancel  context.CancelFunc // ends the peer watch
	started bool

	// gracefulStop is set when Stop closed the sessions gracefully.
	gracefulStop atomic.Bool

	peerMu sync.Mutex // guards peers
	peers  map[netip.Addr]*peerState

	// wg owns the goroutines: Serve, and calls into GoBGP that outlive
	// their timeout (they end when the server stops).
	wg sync.WaitGroup
}

var _ enforce.Enforcer = (*Enforcer)(nil)

// New validates the configuration; nothing runs until Start.
func New(cfg Configuration, deps Dependencies) (*Enforcer, error) {
	if !cfg.Enabled {
		return nil, errors.New("bgp: not enabled in the configuration")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Enforcer{cfg: cfg, log: deps.Logger, changed: make(chan struct{}, 1)}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.log = e.log.With("component", "enforce/bgp")
	reg := deps.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("bgp: register metrics: %w", err)
	}
	e.m = m
	e.fps = e.fingerprints()
	return e, nil
}

// Name returns "bgp".
func (e *Enforcer) Name() string { return Name }

// Changed signals when a neighbor's session was established or lost.
func (e *Enforcer) Changed() <-chan struct{} { return e.changed }

// Start starts the speaker and configures the neighbors; sessions come up
// in the background. On error, whatever was started is stopped again.
func (e *Enforcer) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return errors.New("bgp: already started")
	}
	e.started = true
	// GoBGP logs every FSM step at info; we log session changes ourselves
	// and keep its warnings and errors.
	gobgpLog := slog.New(minLevel{slog.LevelWarn, e.log.Handler(), &e.gracefulStop}).With("library", "gobgp")
	srv := server.NewBgpServer(server.LoggerOption(gobgpLog, nil))
	e.wg.Go(srv.Serve)
	e.srv = srv
	e.peerMu.Lock()
	e.peers = make(map[netip.Addr]*peerState)
	for _, n := range e.cfg.Neighbors {
		e.peers[n.Address] = &peerState{conf: n, state: "idle"}
		e.m.up.WithLabelValues(n.Address.String()).Set(0)
	}
	e.peerMu.Unlock()
	if err := e.configure(); err != nil {
		e.stopLocked()
		return fmt.Errorf("bgp: start: %w", err)
	}
	e.log.Info("speaker started", "as", e.cfg.LocalAS, "router_id", e.cfg.RouterID, "listen_port", e.cfg.ListenPort, "neighbors", len(e.cfg.Neighbors))
	return nil
}

// configure starts BGP, installs the import policy, watches the peers and
// adds the neighbors.
func (e *Enforcer) configure() error {
	ctx := context.Background()
	global := &api.Global{
		Asn:      e.cfg.LocalAS,
		RouterId: e.cfg.RouterID.String(),
		// GoBGP listens when the port is positive; -1 disables it.
		ListenPort: -1,
	}
	if e.cfg.ListenPort != 0 {
		global.ListenPort = int32(e.cfg.ListenPort)
		for _, a := range e.cfg.ListenAddresses {
			global.ListenAddresses = append(global.ListenAddresses, a.String())
		}
	}
	if err := e.call(ctx, "start", func() error {
		return e.srv.StartBgp(ctx, &api.StartBgpRequest{Global: global})
	}); err != nil {
		return err
	}
	if err := e.call(ctx, "policy", func() error { return installImportPolicy(ctx, e.srv) }); err != nil {
		return err
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	if err := e.call(ctx, "watch", func() error {
		return e.srv.WatchEvent(watchCtx, server.WatchEventMessageCallbacks{OnPeerUpdate: e.onPeerEvent}, server.WatchPeer())
	}); err != nil {
		return err
	}
	for _, n := range e.cfg.Neighbors {
		if err := e.call(ctx, "add_peer", func() error {
			return e.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(n, e.cfg.GracefulRestart)})
		}); err != nil {
			return fmt.Errorf("neighbor %s: %w", n.Address, err)
		}
	}
	return nil
}

// installImportPolicy makes the speaker accept only its own routes: a
// global import policy with one statement accepting locally originated
// paths and a default of reject. (Import policies apply to local paths too,
// so a plain "reject all" would drop our announcements.)
func installImportPolicy(ctx context.Context, srv *server.BgpServer) error {
	const name = "abuseguard-originate-only"
	if err := srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: &api.Policy{
		Name: name,
		Statements: []*api.Statement{{
			Name:       name + "-local",
			Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
		}},
	}}); err != nil {
		return err
	}
	return srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name:          "global",
		Direction:     api.PolicyDirection_POLICY_DIRECTION_IMPORT,
		Policies:      []*api.Policy{{Name: name}},
		DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
	}})
}

// apiPeer translates a configured neighbor for GoBGP.
func apiPeer(n Neighbor, gr GracefulRestart) *api.Peer {
	p := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: n.Address.String(),
			PeerAsn:         n.AS,
			AuthPassword:    n.Password,
			Description:     n.Description,
		},
		Transport: &api.Transport{
			PassiveMode: n.Passive,
			RemotePort:  uint32(n.Port),
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          uint64(n.HoldTime / time.Second),
			KeepaliveInterval: uint64(n.HoldTime / 3 / time.Second),
			ConnectRetry:      uint64(n.ConnectRetry / time.Second),
		}},
	}
	if n.LocalAddress.IsValid() {
		p.Transport.LocalAddress = n.LocalAddress.String()
	}
	if n.MultihopTTL > 0 {
		p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(n.MultihopTTL)}
	}
	if gr.Enabled {
		p.GracefulRestart = &api.GracefulRestart{
			Enabled:      true,
			RestartTime:  uint32(gr.RestartTime / time.Second),
			DeferralTime: uint32(gr.DeferralTime / time.Second),
			// Every start is a restart as far as the routers can tell:
			// the Restart State and Forwarding State bits ask them to keep
			// stale routes until our End-of-RIB rather than drop them
			// when the session comes up (RFC 4724 §4.2). A router with no
			// stale routes from us ignores them.
			LocalRestarting: true,
		}
	}
	for _, f := range n.Families {
		fam := bgpFamily[f]
		af := &api.AfiSafi{Config: &api.AfiSafiConfig{
			Family:  &api.Family{Afi: api.Family_Afi(fam.Afi()), Safi: api.Family_Safi(fam.Safi())},
			Enabled: true,
		}}
		if gr.Enabled {
			af.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
		p.AfiSafis = append(p.AfiSafis, af)
	}
	return p
}

// Stop closes every session and stops the speaker. With graceful restart
// the sessions close without a NOTIFICATION and the routers keep our routes
// for the restart time; without it, a Cease makes them withdraw our routes
// at once.
func (e *Enforcer) Stop() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopLocked()
}

func (e *Enforcer) stopLocked() error {
	if e.srv == nil {
		return nil
	}
	if e.cancel != nil {
		e.cancel()
		e.cancel = nil
	}
	srv := e.srv
	e.srv = nil
	done := make(chan struct{})
	go func() {
		if e.cfg.GracefulRestart.Enabled {
			// Close the sessions without a NOTIFICATION. srv.Stop below
			// then finds BGP stopped and only stops the rest.
			e.gracefulStop.Store(true)
			srv.StopBgp(context.Background(), &api.StopBgpRequest{AllowGracefulRestart: true})
		}
		// Stop makes Serve return and fails calls still waiting in
		// GoBGP's queue, so e.wg drains.
		srv.Stop()
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * e.cfg.CallTimeout):
		return errors.New("bgp: stop: speaker did not stop in time")
	}
	e.log.Info("speaker stopped")
	return nil
}

// server returns the running speaker, or nil once stopped.
func (e *Enforcer) server() *server.BgpServer {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.srv
}

// call runs f, a call into GoBGP, with our own timeout: GoBGP ignores the
// context of most calls, and a call queued behind a stuck operation would
// otherwise block the reconciler. A call that times out keeps running in
// the background until GoBGP answers or stops.
func (e *Enforcer) call(ctx context.Context, name string, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.CallTimeout)
	defer cancel()
	done := make(chan error, 1)
	e.wg.Go(func() { done <- f() })
	select {
	case err := <-done:
		if err != nil {
			e.m.callErrors.WithLabelValues(name).Inc()
			return fmt.Errorf("gobgp %s: %w", name, err)
		}
		return nil
	case <-ctx.Done():
		e.m.callErrors.WithLabelValues(name).Inc()
		return fmt.Errorf("gobgp %s: %w", name, ctx.Err())
	}
}

// minLevel drops GoBGP's records below a level, and the error GoBGP's Stop
// logs after a graceful stop has already stopped BGP.
type minLevel struct {
	min slog.Level
	slog.Handler
	gracefulStop *atomic.Bool
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) Handle(ctx context.Context, r slog.Record) error {
	if h.gracefulStop.Load() && r.Message == "failed to stop BGP server" {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.min, h.Handler.WithAttrs(as), h.gracefulStop}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.min, h.Handler.WithGroup(name), h.gracefulStop}
}
