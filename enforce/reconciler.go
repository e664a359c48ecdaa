package enforce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"abuseguard"
)

// Dependencies are what the reconciler needs from the rest of the process.
type Dependencies struct {
	// Blocks is the store of record: the desired set, and where statuses go.
	Blocks abuseguard.BlockService
	// Enforcers are the backends to converge, started by the caller before
	// Start and stopped after Stop. Names must be unique.
	Enforcers []Enforcer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Now defaults to time.Now; tests inject a clock.
	Now func() time.Time
}

// Reconciler converges each enforcer to the store's desired blocks: at
// Start, after every Trigger or committed change the store reports
// (coalesced), every ResyncInterval, after a
// failure with back-off, and whenever an enforcer reports that its backend
// changed by itself. Each enforcer has its own goroutine, so a router that
// does not answer never delays nftables, and the other way round.
//
// Trigger, Status and Stop are safe for concurrent use.
type Reconciler struct {
	cfg    Configuration
	blocks abuseguard.BlockService
	loops  []*loop
	log    *slog.Logger
	now    func() time.Time
	m      *metrics

	mu      sync.Mutex // guards started and cancel
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// loop is the state of one enforcer's goroutine.
type loop struct {
	e       Enforcer
	trigger chan struct{} // capacity 1: triggers coalesce

	// reported is what the store last accepted per case, and the pass
	// that last saw the case desired; only the loop's goroutine touches
	// it.
	reported map[string]reported
	passes   uint64

	mu     sync.Mutex // guards status
	status abuseguard.EnforcerStatus
}

type reported struct {
	status abuseguard.BlockStatus
	seen   uint64
}

// New validates the configuration and the dependencies; nothing runs
// until Start.
func New(cfg Configuration, deps Dependencies) (*Reconciler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("enforce: %w", err)
	}
	if deps.Blocks == nil {
		return nil, errors.New("enforce: no block service")
	}
	r := &Reconciler{cfg: cfg, blocks: deps.Blocks, log: deps.Logger, now: deps.Now}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("component", "enforce")
	if r.now == nil {
		r.now = time.Now
	}
	reg := deps.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("enforce: register metrics: %w", err)
	}
	r.m = m
	seen := make(map[string]bool)
	for _, e := range deps.Enforcers {
		if seen[e.Name()] {
			return nil, fmt.Errorf("enforce: two enforcers named %q", e.Name())
		}
		seen[e.Name()] = true
		r.loops = append(r.loops, &loop{
			e:        e,
			trigger:  make(chan struct{}, 1),
			reported: make(map[string]reported),
			status:   abuseguard.EnforcerStatus{Name: e.Name()},
		})
	}
	return r, nil
}

// Start starts one goroutine per enforcer; each begins with a full pass,
// which re-announces everything active after a restart.
func (r *Reconciler) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("enforce: already started")
	}
	r.started = true
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, l := range r.loops {
		r.wg.Add(1)
		go r.run(ctx, l)
	}
	if w, ok := r.blocks.(abuseguard.BlockWatcher); ok {
		// Taken before the first passes read the store, so no commit
		// falls between them and the watch.
		ch := w.BlocksChanged()
		r.wg.Go(func() { r.watch(ctx, w, ch) })
	}
	r.log.Info("reconciler started", "enforcers", len(r.loops))
	return nil
}

// watch triggers a pass at every committed change of the desired set, for
// stores that tell (abuseguard.BlockWatcher): then nobody needs to call
// Trigger. The next channel is taken before triggering, so a commit that
// lands while the pass starts closes it and triggers again.
func (r *Reconciler) watch(ctx context.Context, w abuseguard.BlockWatcher, ch <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			ch = w.BlocksChanged()
			r.Trigger()
		}
	}
}

// Stop ends the goroutines and waits for them; a pass in progress is
// cancelled. Enforcers keep what they applied: stopping the reconciler
// does not lift blocks.
func (r *Reconciler) Stop() error {
	r.mu.Lock()
	cancel := r.cancel
	r.cancel = nil
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	r.wg.Wait()
	r.log.Info("reconciler stopped")
	return nil
}

// Trigger asks every enforcer for a pass soon. It never blocks: triggers
// arriving while a pass runs coalesce into one more pass, so a burst of
// changes costs two passes, not one per change. A store that implements
// abuseguard.BlockWatcher triggers by itself; otherwise whoever changes
// the desired set calls it.
func (r *Reconciler) Trigger() {
	for _, l := range r.loops {
		select {
		case l.trigger <- struct{}{}:
		default:
		}
	}
}

// Status returns each enforcer's state, in the order they were given.
func (r *Reconciler) Status() []abuseguard.EnforcerStatus {
	out := make([]abuseguard.EnforcerStatus, len(r.loops))
	for i, l := range r.loops {
		l.mu.Lock()
		out[i] = l.status
		l.mu.Unlock()
	}
	return out
}

// run is one enforcer's goroutine.
func (r *Reconciler) run(ctx context.Context, l *loop) {
	defer r.wg.Done()
	resync := time.NewTicker(r.cfg.ResyncInterval)
	defer resync.Stop()
	retry := time.NewTimer(0)
	if !retry.Stop() {
		<-retry.C
	}
	defer retry.Stop()
	var backoff time.Duration
	cause := "start"
	for {
		err := r.pass(ctx, l, cause)
		if ctx.Err() != nil {
			return
		}
		retry.Stop()
		if err != nil {
			// Doubling from RetryMin to RetryMax also limits the
			// warnings to one per back-off step.
			backoff = min(max(2*backoff, r.cfg.RetryMin), r.cfg.RetryMax)
			retry.Reset(backoff)
			r.log.Warn("enforcement pass failed", "enforcer", l.e.Name(), "cause", cause, "retry_in", backoff, "error", err)
		} else {
			if backoff > 0 {
				r.log.Info("enforcement pass succeeded again", "enforcer", l.e.Name())
			}
			backoff = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-l.trigger:
			cause = "trigger"
		case <-l.e.Changed():
			cause = "backend"
		case <-resync.C:
			cause = "periodic"
		case <-retry.C:
			cause = "retry"
		}
	}
}

// pass reads the desired set, applies it and records the statuses that
// changed. A store that cannot be read leaves the backend untouched: an
// empty desired set would withdraw every block.
func (r *Reconciler) pass(ctx context.Context, l *loop, cause string) error {
	name := l.e.Name()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PassTimeout)
	defer cancel()
	r.m.passes.WithLabelValues(name, cause).Inc()

	desired, err := r.blocks.ActiveBlocks(ctx)
	if err != nil {
		err = fmt.Errorf("read active blocks: %w", err)
		r.finish(l, start, nil, Result{}, err)
		return err
	}
	res, applyErr := l.e.Apply(ctx, desired)
	if applyErr != nil {
		applyErr = fmt.Errorf("apply %s: %w", name, applyErr)
	}
	statuses := complete(name, desired, res.Statuses, applyErr)
	stamp(statuses, r.now())
	storeErr := r.record(ctx, l, statuses)
	err = errors.Join(applyErr, storeErr)
	r.finish(l, start, statuses, res, err)
	return err
}

// complete returns exactly one status per desired block, in desired's
// order: an enforcer that failed early may have returned fewer.
func complete(name string, desired []abuseguard.Block, got []abuseguard.BlockStatus, applyErr error) []abuseguard.BlockStatus {
	if inOrder(desired, got) {
		for i := range got {
			got[i].Enforcer = name
		}
		return got
	}
	byCase := make(map[string]abuseguard.BlockStatus, len(got))
	for _, s := range got {
		byCase[s.CaseID] = s
	}
	out := make([]abuseguard.BlockStatus, len(desired))
	for i, b := range desired {
		s, ok := byCase[b.CaseID]
		if !ok {
			s = abuseguard.BlockStatus{CaseID: b.CaseID, Revision: b.Revision, State: abuseguard.EnforcePending, Detail: "not applied yet"}
			if applyErr != nil {
				s.State, s.Detail = abuseguard.EnforceFailed, "enforcer error, retrying"
			}
		}
		s.Enforcer = name
		out[i] = s
	}
	return out
}

// inOrder reports whether got has one status per desired block, in order,
// as enforce.Statuses makes them.
func inOrder(desired []abuseguard.Block, got []abuseguard.BlockStatus) bool {
	if len(got) != len(desired) {
		return false
	}
	for i := range got {
		if got[i].CaseID != desired[i].CaseID {
			return false
		}
	}
	return true
}

// record writes the statuses that differ from what the store last
// accepted. Writing only changes keeps a pass over 10 000 unchanged blocks
// from rewriting 10 000 rows every ResyncInterval.
func (r *Reconciler) record(ctx context.Context, l *loop, statuses []abuseguard.BlockStatus) error {
	var changed []abuseguard.BlockStatus
	l.passes++
	for _, s := range statuses {
		r, ok := l.reported[s.CaseID]
		if ok {
			r.seen = l.passes
			l.reported[s.CaseID] = r
			if old := r.status; old.State == s.State && old.Revision == s.Revision && old.Detail == s.Detail {
				continue
			}
		}
		changed = append(changed, s)
	}
	for id, r := range l.reported {
		if r.seen != l.passes {
			delete(l.reported, id) // the block is gone
		}
	}
	if len(changed) == 0 {
		return nil
	}
	sortStatuses(changed)
	if err := r.blocks.SetBlockStatuses(ctx, changed); err != nil {
		return fmt.Errorf("record %d statuses: %w", len(changed), err)
	}
	for _, s := range changed {
		l.reported[s.CaseID] = reported{status: s, seen: l.passes}
	}
	r.m.recorded.WithLabelValues(l.e.Name()).Add(float64(len(changed)))
	return nil
}

// finish updates the metrics and the status of l after a pass.
func (r *Reconciler) finish(l *loop, start time.Time, statuses []abuseguard.BlockStatus, res Result, err error) {
	name := l.e.Name()
	r.m.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	r.m.added.WithLabelValues(name).Add(float64(res.Added))
	r.m.removed.WithLabelValues(name).Add(float64(res.Removed))
	r.m.drift.WithLabelValues(name).Add(float64(res.Drift))
	if res.Drift > 0 {
		r.log.Warn("enforcement drift repaired", "enforcer", name, "entries", res.Drift)
	}
	now := r.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	st := &l.status
	st.LastPass = now
	st.Passes++
	st.Added += uint64(res.Added)
	st.Removed += uint64(res.Removed)
	st.Drift += uint64(res.Drift)
	if err != nil {
		r.m.failures.WithLabelValues(name).Inc()
		st.LastError = err.Error()
	} else {
		st.LastSuccess = now
		st.LastError = ""
	}
	if statuses == nil && err != nil {
		return // the store could not be read: keep the last counts
	}
	st.Blocks, st.Applied, st.Pending, st.Failed = len(statuses), 0, 0, 0
	for _, s := range statuses {
		switch s.State {
		case abuseguard.EnforceApplied:
			st.Applied++
		case abuseguard.EnforcePending:
			st.Pending++
		case abuseguard.EnforceFailed:
			st.Failed++
		}
	}
	r.m.blocks.WithLabelValues(name, string(abuseguard.EnforceApplied)).Set(float64(st.Applied))
	r.m.blocks.WithLabelValues(name, string(abuseguard.EnforcePending)).Set(float64(st.Pending))
	r.m.blocks.WithLabelValues(name, string(abuseguard.EnforceFailed)).Set(float64(st.Failed))
}
