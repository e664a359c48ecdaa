package udp

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	datagrams, bytes, truncated, queueDrops, kernelDrops, errors prometheus.Counter
	buffer                                                       *prometheus.GaugeVec
	batches                                                      prometheus.Gauge
}

// newMetrics registers the metrics of one listener, labelled by its
// protocol: listeners are few (one per protocol), so are the series.
func newMetrics(reg prometheus.Registerer, protocol string) (*metrics, error) {
	labels := prometheus.Labels{"listener": protocol}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{
			Name: "abuseguard_collector_udp_" + name, Help: help, ConstLabels: labels,
		})
	}
	m := &metrics{
		datagrams:   counter("datagrams_total", "Datagrams received, before exporter control."),
		bytes:       counter("bytes_total", "UDP payload bytes received."),
		truncated:   counter("truncated_total", "Datagrams longer than max_datagram_size, dropped."),
		queueDrops:  counter("queue_drops_total", "Datagrams dropped because every worker was busy and the queue full."),
		kernelDrops: counter("kernel_drops_total", "Datagrams the kernel dropped because the socket receive buffer was full (SO_RXQ_OVFL)."),
		errors:      counter("receive_errors_total", "Receive system calls that failed."),
		buffer: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name:        "abuseguard_collector_udp_receive_buffer_bytes",
			Help:        "Socket receive buffer the kernel granted (SO_RCVBUF as read back: twice the usable size).",
			ConstLabels: labels,
		}, []string{"address"}),
		batches: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "abuseguard_collector_udp_queue_batches",
			Help:        "Batch buffers allocated for the queue (batch_size × max_datagram_size bytes each), the deepest backlog seen; at most queue_size.",
			ConstLabels: labels,
		}),
	}
	for _, c := range []prometheus.Collector{m.datagrams, m.bytes, m.truncated, m.queueDrops, m.kernelDrops, m.errors, m.buffer, m.batches} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
