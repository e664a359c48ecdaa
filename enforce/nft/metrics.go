package nft

import "github.com/prometheus/client_golang/prometheus"

// metrics are the enforcer's counters.
type metrics struct {
	elements *prometheus.GaugeVec // set
	rebuilds prometheus.Counter
	errors   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		elements: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "abuseguard_enforce_nft_elements",
			Help: "Elements in the enforcer's nftables sets after the last pass.",
		}, []string{"set"}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "abuseguard_enforce_nft_rebuilds_total",
			Help: "Times the whole table was replaced: at start, and when found altered.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "abuseguard_enforce_nft_errors_total",
			Help: "Netlink reads or batches that failed.",
		}),
	}
	for _, c := range []prometheus.Collector{m.elements, m.rebuilds, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
