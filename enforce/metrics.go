package enforce

import "github.com/prometheus/client_golang/prometheus"

// metrics are the reconciler's counters. Labels are enforcer names and
// pass causes: a handful of values, never an address.
type metrics struct {
	passes   *prometheus.CounterVec   // enforcer, cause
	failures *prometheus.CounterVec   // enforcer
	duration *prometheus.HistogramVec // enforcer
	added    *prometheus.CounterVec   // enforcer
	removed  *prometheus.CounterVec   // enforcer
	drift    *prometheus.CounterVec   // enforcer
	blocks   *prometheus.GaugeVec     // enforcer, state
	recorded *prometheus.CounterVec   // enforcer
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_enforce_passes_total",
			Help: "Reconciliation passes by enforcer and cause (start, trigger, backend, periodic, retry).",
		}, []string{"enforcer", "cause"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_enforce_pass_failures_total",
			Help: "Reconciliation passes that ended with an error; a retry follows with back-off.",
		}, []string{"enforcer"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "abuseguard_enforce_pass_duration_seconds",
			Help: "Time of one reconciliation pass: read desired blocks, apply, record statuses.",
			// 1 ms (nothing to do) to 30 s (10 000 routes on a slow box).
			Buckets: prometheus.ExponentialBuckets(0.001, 3, 10),
		}, []string{"enforcer"}),
		added: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_enforce_entries_added_total",
			Help: "Backend entries (routes, set elements) added.",
		}, []string{"enforcer"}),
		removed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_enforce_entries_removed_total",
			Help: "Backend entries (routes, set elements) removed.",
		}, []string{"enforcer"}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_enforce_drift_total",
			Help: "Backend entries found different from what the enforcer had applied, and repaired.",
		}, []string{"enforcer"}),
		blocks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "abuseguard_enforce_blocks",
			Help: "Desired blocks by enforcement state after the last pass.",
		}, []string{"enforcer", "state"}),
		recorded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_enforce_statuses_recorded_total",
			Help: "Block statuses written to the store (only changes are written).",
		}, []string{"enforcer"}),
	}
	for _, c := range []prometheus.Collector{m.passes, m.failures, m.duration, m.added, m.removed, m.drift, m.blocks, m.recorded} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
