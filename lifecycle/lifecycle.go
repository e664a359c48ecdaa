// Package lifecycle turns detections into cases and blocks, and runs the
// road back: warning and deadline, block, access IP, statement, review,
// unblock, probation, escalation; with the safety rules (protected
// addresses, circuit breaker, warm-up, dry-run) and an audit entry and
// outbox event for every change. Everything it decides goes through the
// store in one transaction per state change; timers are persisted as each
// case's NextCheck, so a restart resumes them.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"abuseguard"

	"github.com/prometheus/client_golang/prometheus"
)

// Location is what the inventory knows of a customer address.
type Location struct {
	ServerID   string
	CustomerID string
	HostGroup  string
}

// Inventory is what the lifecycle needs to know of addresses. cmd adapts
// package inventory to it. Implementations must be safe for concurrent use.
type Inventory interface {
	// Locate returns the server, customer and host group of a customer
	// address; false for an address outside customer space.
	Locate(addr netip.Addr) (Location, bool)
	// Protected reports whether addr is in a protected prefix (provider
	// infrastructure, resolvers, routers): never blocked.
	Protected(addr netip.Addr) bool
	// ProviderSpace reports whether addr is in the provider's own address
	// space (customers' or infrastructure): never an access IP.
	ProviderSpace(addr netip.Addr) bool
}

// Dependencies are what New needs besides the configuration.
type Dependencies struct {
	Store     abuseguard.CaseStore
	Inventory Inventory
	// Clock returns the current time; time.Now when nil. Tests inject one.
	Clock func() time.Time
	// Registerer takes the metrics; none are registered when nil.
	Registerer prometheus.Registerer
}

// Lifecycle implements abuseguard.CaseService and AuditService and takes
// detections. It is safe for concurrent use: decisions run inside store
// write transactions, which the store serialises.
type Lifecycle struct {
	cfg     Configuration
	log     *slog.Logger
	store   abuseguard.CaseStore
	inv     Inventory
	now     func() time.Time
	newID   func() string // newCaseID; tests draw colliding ids
	started time.Time
	m       *metrics

	queue chan abuseguard.Detection
	// retryMin is the committer's first wait after the store failed a
	// whole batch (commitRetryMin; tests shorten it).
	retryMin time.Duration
	// lastWarn is when warnLimited last logged (Unix nanoseconds).
	lastWarn atomic.Int64

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	running bool
}

var (
	_ abuseguard.CaseService  = (*Lifecycle)(nil)
	_ abuseguard.AuditService = (*Lifecycle)(nil)
)

// New validates the configuration and returns an inert lifecycle.
func New(log *slog.Logger, cfg Configuration, deps Dependencies) (*Lifecycle, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Inventory == nil {
		return nil, errors.New("lifecycle: a store and an inventory are required")
	}
	now := deps.Clock
	if now == nil {
		now = time.Now
	}
	l := &Lifecycle{
		cfg: cfg, log: log, store: deps.Store, inv: deps.Inventory, now: now, newID: newCaseID, retryMin: commitRetryMin,
		m:     newMetrics(deps.Registerer),
		queue: make(chan abuseguard.Detection, cfg.QueueSize),
	}
	l.started = now()
	return l, nil
}

// Start starts the committer of queued detections and the timer loop. The
// warm-up period counts from here.
func (l *Lifecycle) Start() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running {
		return errors.New("lifecycle: already started")
	}
	l.started = l.now()
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done, l.running = cancel, make(chan struct{}), true
	var wg sync.WaitGroup
	wg.Add(3)
	// The committer's audit entries are logged by a goroutine of their
	// own: formatting two lines per new case took 4 % of the committer's
	// time (BenchmarkIngest, November 2026). The committer closes logq when
	// it ends, which ends the logger once the last lines are out.
	logq := make(chan []abuseguard.AuditEntry, 64)
	go func() { defer wg.Done(); l.commitLoop(ctx, logq); close(logq) }()
	go func() {
		defer wg.Done()
		for es := range logq {
			l.logAudit(es)
		}
	}()
	go func() { defer wg.Done(); l.timerLoop(ctx) }()
	go func() { wg.Wait(); close(l.done) }()
	l.log.Info("lifecycle started", "warm_up", l.cfg.WarmUp, "dry_run", l.cfg.DryRun)
	return nil
}

// Stop commits what is queued, stops the loops and waits for them.
func (l *Lifecycle) Stop() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.running {
		return nil
	}
	l.cancel()
	<-l.done
	l.running = false
	l.log.Info("lifecycle stopped")
	return nil
}

// Sink takes a detection from a detector (the detect package's sink) and
// queues it for the committer. It blocks while the queue is full, so that
// a burst slows the detector instead of losing detections; that wait is
// counted. Invalid detections are counted and logged, then dropped. Call
// it only between Start and Stop.
func (l *Lifecycle) Sink(d abuseguard.Detection) {
	if err := ValidateDetection(&d); err != nil {
		l.m.detections.WithLabelValues("invalid").Inc()
		l.warnLimited("detection dropped", "id", d.ID, "error", err)
		return
	}
	select {
	case l.queue <- d:
	default:
		l.m.queueFull.Inc()
		l.queue <- d
	}
}

// commitLoop commits queued detections in batches: under load one
// transaction (one fsync) carries up to BatchSize detections, each atomic
// on its own (store.UpdateBatch); when idle a detection commits alone at
// once.
// Committed changes' audit entries go to logq.
func (l *Lifecycle) commitLoop(ctx context.Context, logq chan<- []abuseguard.AuditEntry) {
	batch := make([]abuseguard.Detection, 0, l.cfg.BatchSize)
	for {
		batch = batch[:0]
		select {
		case d := <-l.queue:
			batch = append(batch, d)
		case <-ctx.Done():
			// Drain: a stop commits what was handed over.
			for {
				select {
				case d := <-l.queue:
					batch = append(batch, d)
					if len(batch) == cap(batch) {
						l.commit(ctx.Done(), batch, logq)
						batch = batch[:0]
					}
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				l.commit(ctx.Done(), batch, logq)
			}
			return
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case d := <-l.queue:
				batch = append(batch, d)
			default:
				break fill
			}
		}
		l.commit(ctx.Done(), batch, logq)
	}
}

// The committer's waits after the store failed a whole batch: doubling from
// commitRetryMin to commitRetryMax, and stopRetries attempts at the most
// once the lifecycle stops (a stop must end; a store that fails for that
// long will not recover in the next seconds).
const (
	commitRetryMin = 100 * time.Millisecond
	commitRetryMax = 30 * time.Second
	stopRetries    = 3
)

// commit commits a batch taken from the queue. The store's context is not
// stop's: a stop must not abort a commit half-way through a batch.
//
// When the store fails as a whole (disk full, I/O error, locked past its
// busy timeout), nothing of the batch was committed, so it is tried again
// with a growing wait while the queue fills and Sink makes the detectors
// wait: the detections are late, not lost. Only a stop while the store
// keeps failing gives up on the batch, after stopRetries attempts, and
// says so in the log and in detections_total{result="failed"}.
func (l *Lifecycle) commit(stop <-chan struct{}, batch []abuseguard.Detection, logq chan<- []abuseguard.AuditEntry) {
	l.m.batchSize.Observe(float64(len(batch)))
	wait := l.retryMin
	for attempt := 1; ; attempt++ {
		res, err := l.ingestBatch(context.Background(), batch, true, func(es []abuseguard.AuditEntry) { logq <- es })
		if err == nil {
			for i, r := range res {
				if r.Err != nil {
					l.warnLimited("detection not committed", "id", batch[i].ID, "address", batch[i].Address, "error", r.Err)
				}
			}
			return
		}
		l.m.commitFailures.Inc()
		stopping := false
		select {
		case <-stop:
			stopping = true
			wait = l.retryMin
		default:
		}
		if stopping && attempt >= stopRetries {
			l.m.detections.WithLabelValues("failed").Add(float64(len(batch)))
			l.log.Error("detections not committed: the store kept failing while stopping", "count", len(batch),
				"attempts", attempt, "error", err)
			return
		}
		l.log.Error("detections not committed, trying again", "count", len(batch), "attempt", attempt,
			"retry_in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
		}
		wait = min(2*wait, commitRetryMax)
	}
}

// warnLimited logs at most once a second: a detector gone wrong must not
// flood the log; the counters have the totals.
func (l *Lifecycle) warnLimited(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(time.Second) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.log.Warn(msg, args...)
}

// Result is what became of one detection.
type Result struct {
	CaseID string
	Err    error
}

// IngestBatch validates and commits detections in one transaction, each
// atomic on its own: the first report of a detection opens or joins a case
// and enforces policy, the final one (same ID) updates its figures and
// evidence. err is a failure of the whole transaction. Safe for concurrent
// use; it does not need Start.
func (l *Lifecycle) IngestBatch(ctx context.Context, ds []abuseguard.Detection) ([]Result, error) {
	res, err := l.ingestBatch(ctx, ds, false, l.logAudit)
	if err != nil {
		l.m.detections.WithLabelValues("failed").Add(float64(len(ds)))
	}
	return res, err
}

// ingestBatch is IngestBatch; validated says Sink validated ds already;
// logf logs the committed audit entries.
func (l *Lifecycle) ingestBatch(ctx context.Context, ds []abuseguard.Detection, validated bool,
	logf func([]abuseguard.AuditEntry)) ([]Result, error) {
	res := make([]Result, len(ds))
	fns := make([]func(abuseguard.CaseTx) error, len(ds))
	now := l.now()
	for i := range ds {
		d := ds[i]
		fns[i] = func(tx abuseguard.CaseTx) error {
			if !validated {
				if err := ValidateDetection(&d); err != nil {
					return err
				}
			}
			id, err := l.detection(ctx, tx, &d, now)
			res[i].CaseID = id
			return err
		}
	}
	errs, err := l.loggedBatchTo(ctx, fns, logf)
	if err != nil {
		return nil, err // counted by the caller, which may try again
	}
	for i, e := range errs {
		res[i].Err = e
		if e != nil {
			res[i].CaseID = ""
			l.m.detections.WithLabelValues(labelFor(e)).Inc()
		} else {
			l.m.detections.WithLabelValues("committed").Inc()
		}
	}
	return res, nil
}

func labelFor(err error) string {
	if abuseguard.ErrorCode(err) == abuseguard.EINVALID {
		return "invalid"
	}
	return "failed"
}

// Ingest commits one detection and returns the case it opened or joined.
// Errors: EINVALID, EINTERNAL.
func (l *Lifecycle) Ingest(ctx context.Context, d abuseguard.Detection) (string, error) {
	res, err := l.IngestBatch(ctx, []abuseguard.Detection{d})
	if err != nil {
		return "", err
	}
	return res[0].CaseID, res[0].Err
}

func (l *Lifecycle) timerLoop(ctx context.Context) {
	t := time.NewTicker(l.cfg.TimerInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.RunTimers(ctx); err != nil && ctx.Err() == nil {
				l.log.Error("timers", "error", err)
			}
		}
	}
}

// RunTimers acts on every case whose NextCheck has come (reminders,
// deadlines, block lifting, probation ending, warm-up decisions) and
// resets the circuit breaker when its window allows. The timer loop calls
// it every TimerInterval; tests call it after moving their clock.
func (l *Lifecycle) RunTimers(ctx context.Context) error {
	now := l.now()
	if err := l.breakerReset(ctx, now); err != nil {
		return fmt.Errorf("breaker reset: %w", err)
	}
	for {
		var ids []string
		err := l.store.View(ctx, func(tx abuseguard.CaseTx) (err error) {
			ids, err = tx.DueCases(ctx, now, 256)
			return err
		})
		if err != nil {
			return fmt.Errorf("due cases: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		fns := make([]func(abuseguard.CaseTx) error, len(ids))
		for i, id := range ids {
			fns[i] = func(tx abuseguard.CaseTx) error { return l.timer(ctx, tx, id, now) }
		}
		errs, err := l.loggedBatch(ctx, fns)
		if err != nil {
			return fmt.Errorf("timers: %w", err)
		}
		for i, e := range errs {
			if e != nil {
				// A failing case must not stall the others: push it back.
				l.log.Error("timer failed", "case", ids[i], "error", e)
				l.logged(ctx, func(tx abuseguard.CaseTx) error {
					c, err := tx.Case(ctx, ids[i])
					if err != nil {
						return err
					}
					c.NextCheck = now.Add(time.Minute)
					return tx.UpdateCase(ctx, c)
				})
			}
		}
		if len(ids) < 256 {
			return nil
		}
	}
}

// IngestAll takes detections from outside (the API's POST /detections):
// only an operator may send them, and if any is invalid none is committed.
// It returns the case each detection opened or joined. Errors:
// EUNAUTHORIZED, EINVALID (naming the detection), EINTERNAL.
func (l *Lifecycle) IngestAll(ctx context.Context, ds []abuseguard.Detection) ([]string, error) {
	if err := requireOperator(abuseguard.ActorFromContext(ctx)); err != nil {
		return nil, err
	}
	for i := range ds {
		if err := ValidateDetection(&ds[i]); err != nil {
			return nil, invalid("Detection %d (%.64q): %s", i, ds[i].ID, abuseguard.ErrorMessage(err))
		}
	}
	res, err := l.IngestBatch(ctx, ds)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(res))
	for i, r := range res {
		if r.Err != nil {
			return nil, fmt.Errorf("detection %d: %w", i, r.Err)
		}
		ids[i] = r.CaseID
	}
	return ids, nil
}
