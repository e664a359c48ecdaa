package lifecycle

import "github.com/prometheus/client_golang/prometheus"

// metrics of the lifecycle. Labels are reasons, states and results: a few
// values each, never an address.
type metrics struct {
	detections      *prometheus.CounterVec
	opened          *prometheus.CounterVec
	blocks          *prometheus.CounterVec
	unblocks        *prometheus.CounterVec
	transitions     *prometheus.CounterVec
	escalations     prometheus.Counter
	breakerTrips    prometheus.Counter
	evidenceDropped prometheus.Counter
	queueFull       prometheus.Counter
	commitFailures  prometheus.Counter
	batchSize       prometheus.Histogram
}

func newMetrics(r prometheus.Registerer) *metrics {
	const ns, sub = "abuseguard", "lifecycle"
	m := &metrics{
		detections: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "detections_total", Help: "Detection reports taken, by result (committed, invalid, failed)."}, []string{"result"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "cases_opened_total", Help: "Cases opened, by reason."}, []string{"reason"}),
		blocks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "blocks_total", Help: "Blocks put in the desired set, by reason."}, []string{"reason"}),
		unblocks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "unblocks_total", Help: "Blocks withdrawn, by reason."}, []string{"reason"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "transitions_total", Help: "Case state transitions."}, []string{"from", "to"}),
		escalations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "escalations_total", Help: "Repeat offences within probation."}),
		breakerTrips: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "breaker_trips_total", Help: "Times the circuit breaker capped automatic blocks."}),
		evidenceDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "evidence_dropped_total", Help: "Evidence files not kept because the case's bounds were reached."}),
		queueFull: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "queue_full_total", Help: "Detections that waited for room in the full queue."}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "commit_failures_total", Help: "Batches of detections the store failed as a whole; each is tried again."}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "commit_batch_size", Help: "Detections per committed transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 6)}),
	}
	if r != nil {
		r.MustRegister(m.detections, m.opened, m.blocks, m.unblocks, m.transitions, m.escalations,
			m.breakerTrips, m.evidenceDropped, m.queueFull, m.commitFailures, m.batchSize)
	}
	return m
}
