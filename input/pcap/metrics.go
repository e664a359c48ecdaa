package pcap

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the counters of capture-file inputs, shared by all the
// Sources of a process (a serve --pcap run, a replay).
type Metrics struct {
	frames    prometheus.Counter
	records   prometheus.Counter
	datagrams *prometheus.CounterVec
	errors    *prometheus.CounterVec
}

// NewMetrics registers the capture-file input's metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "abuseguard_pcap_frames_total",
			Help: "Frames read from capture files.",
		}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "abuseguard_pcap_records_total",
			Help: "Records (packets and decoded flows) handed on from capture files.",
		}),
		datagrams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_pcap_flow_datagrams_total",
			Help: "Flow export datagrams found in capture files, by protocol.",
		}, []string{"protocol"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_pcap_errors_total",
			Help: "Frames and flow datagrams of capture files skipped or cut short, by kind.",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.frames, m.records, m.datagrams, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// add counts one file's Stats; called once per file, so the label
// lookups stay off the per-frame path.
func (m *Metrics) add(st *Stats) {
	m.frames.Add(float64(st.Frames))
	m.records.Add(float64(st.Records))
	for p := NetFlowV5; p <= SFlowV5; p++ {
		if n := st.Datagrams[p]; n > 0 {
			m.datagrams.WithLabelValues(p.String()).Add(float64(n))
		}
	}
	for k, n := range st.Errors {
		m.errors.WithLabelValues(k).Add(float64(n))
	}
}
