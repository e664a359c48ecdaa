package notify

import "github.com/prometheus/client_golang/prometheus"

// metrics of the notifier. Labels are channels ("mail", "webhook:<name>",
// as many as configured) and results: never an address.
type metrics struct {
	deliveries  *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	claimed     prometheus.Counter
	storeErrors prometheus.Counter
	alerts      prometheus.Counter
}

func newMetrics(r prometheus.Registerer) *metrics {
	const ns, sub = "abuseguard", "notify"
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "deliveries_total",
			Help: "Delivery attempts by channel and result: delivered, skipped (webhook not subscribed), retry, given_up."},
			[]string{"channel", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "delivery_duration_seconds", Help: "Time to render and send one delivery, by channel.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 7)}, []string{"channel"}),
		claimed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "claimed_total", Help: "Deliveries leased from the outbox."}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "store_errors_total", Help: "Outbox reads and writes that failed (the lease brings the delivery back)."}),
		alerts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "given_up_alerts_total", Help: "Operator mails sent about customer mails given up."}),
	}
	if r != nil {
		r.MustRegister(m.deliveries, m.duration, m.claimed, m.storeErrors, m.alerts)
	}
	return m
}
