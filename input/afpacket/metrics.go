package afpacket

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	packets, sampled, records, notIP, malformed, kernelDrops, freezes prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, iface string) (*metrics, error) {
	labels := prometheus.Labels{"interface": iface}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{
			Name: "abuseguard_collector_afpacket_" + name, Help: help, ConstLabels: labels,
		})
	}
	m := &metrics{
		packets:     counter("packets_total", "Packets read from the ring, before sampling."),
		sampled:     counter("sampled_total", "Packets kept by sampling."),
		records:     counter("records_total", "Records handed to the sink."),
		notIP:       counter("not_ip_total", "Sampled frames without IPv4/IPv6 (ARP, LLDP...)."),
		malformed:   counter("malformed_total", "Sampled frames whose link or IP header is broken."),
		kernelDrops: counter("kernel_drops_total", "Packets the kernel dropped because the ring was full (PACKET_STATISTICS)."),
		freezes:     counter("ring_full_total", "Times the ring was full and froze (PACKET_STATISTICS freeze count)."),
	}
	for _, c := range []prometheus.Collector{m.packets, m.sampled, m.records, m.notIP, m.malformed, m.kernelDrops, m.freezes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
