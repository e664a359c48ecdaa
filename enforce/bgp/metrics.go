package bgp

import "github.com/prometheus/client_golang/prometheus"

// metrics are the speaker's counters. The neighbor label is a router's
// address from the configuration: a handful of values.
type metrics struct {
	up         *prometheus.GaugeVec   // neighbor
	flaps      *prometheus.CounterVec // neighbor
	routes     *prometheus.GaugeVec   // family
	callErrors *prometheus.CounterVec // call
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "abuseguard_enforce_bgp_neighbor_established",
			Help: "1 while the BGP session with the neighbor is established.",
		}, []string{"neighbor"}),
		flaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_enforce_bgp_neighbor_sessions_lost_total",
			Help: "Established BGP sessions that went down.",
		}, []string{"neighbor"}),
		routes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "abuseguard_enforce_bgp_routes",
			Help: "Routes announced by the speaker, by address family.",
		}, []string{"family"}),
		callErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_enforce_bgp_call_errors_total",
			Help: "Calls into GoBGP that failed or timed out.",
		}, []string{"call"}),
	}
	for _, c := range []prometheus.Collector{m.up, m.flaps, m.routes, m.callErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
