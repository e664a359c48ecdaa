package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the collector's own counters, and a prometheus.Collector
// that reads the per-exporter counters and the decoders' statistics at
// scrape time, so that the hot path only does atomic adds.
type metrics struct {
	c                            *Collector
	records, batches             prometheus.Counter
	refusedUnknown, refusedLimit prometheus.Counter

	exDatagrams, exRecords, exErrors, exNoRate, exFuture, exDrops, exRate, exLastSeen *prometheus.Desc
	nfTemplates, nfExporters, nfHeld, nfRejected, nfOptions                           *prometheus.Desc
	sfSamples, sfNoPacket                                                             *prometheus.Desc
}

func newMetrics(reg prometheus.Registerer, c *Collector) (*metrics, error) {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "abuseguard_collector_refused_datagrams_total",
		Help: "Datagrams dropped by exporter control: reason unknown_exporter (not configured; see the recent list in the logs and API) or exporter_limit (max_exporters reached).",
	}, []string{"reason"})
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("abuseguard_collector_"+name, help, labels, nil)
	}
	m := &metrics{
		c: c,
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "abuseguard_collector_records_total",
			Help: "Records handed to the sink, from all inputs.",
		}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "abuseguard_collector_batches_total",
			Help: "Calls of the sink.",
		}),
		refusedUnknown: refused.WithLabelValues("unknown_exporter"),
		refusedLimit:   refused.WithLabelValues("exporter_limit"),

		exDatagrams: desc("exporter_datagrams_total", "Datagrams decoded per exporter, by format found in the header.", "exporter", "format"),
		exRecords:   desc("exporter_records_total", "Flow records decoded per exporter.", "exporter"),
		exErrors:    desc("exporter_errors_total", "Datagrams per exporter whose decoding failed, by the kind of the first error; kind netflow_template_not_found counts data that arrived before its template.", "exporter", "kind"),
		exNoRate:    desc("exporter_no_sampling_rate_records_total", "Records per exporter with no known sampling rate (counted as 1 by the detectors): configure sampling_rate for this exporter.", "exporter"),
		exFuture:    desc("exporter_future_records_total", "Records per exporter that ended more than max_clock_skew after their datagram arrived, moved back to the arrival: the exporter's clock is ahead.", "exporter"),
		exDrops:     desc("exporter_queue_drops_total", "Datagrams per exporter dropped because every worker was busy.", "exporter"),
		exRate:      desc("exporter_sampling_rate", "Last sampling rate seen in the exporter's records.", "exporter"),
		exLastSeen:  desc("exporter_last_seen_seconds", "Unix time of the exporter's last datagram.", "exporter"),

		nfExporters: desc("netflow_exporters", "Exporters with NetFlow v9/IPFIX template state."),
		nfTemplates: desc("netflow_templates", "Templates and options templates known."),
		nfHeld:      desc("netflow_held_sets_total", "Data sets held for their template, by outcome: held, decoded (template came), expired, dropped (hold buffer full).", "outcome"),
		nfRejected:  desc("netflow_templates_rejected_total", "Templates refused as malformed or over the limits."),
		nfOptions:   desc("netflow_options_records_total", "Options data records read (sampler tables)."),
		sfSamples:   desc("sflow_samples_total", "sFlow samples read, by type: flow, counter, discard, other.", "type"),
		sfNoPacket:  desc("sflow_flow_samples_without_packet_total", "sFlow flow samples that yielded no record (no IPv4/IPv6 header)."),
	}
	for _, col := range []prometheus.Collector{m.records, m.batches, refused, m} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.exDatagrams, m.exRecords, m.exErrors, m.exNoRate, m.exFuture, m.exDrops, m.exRate, m.exLastSeen,
		m.nfExporters, m.nfTemplates, m.nfHeld, m.nfRejected, m.nfOptions, m.sfSamples, m.sfNoPacket} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, e := range m.c.exporters.all() {
		a := e.addr.String()
		for f := range formatCount {
			if n := e.format[f].Load(); n > 0 {
				counter(m.exDatagrams, n, a, formatNames[f])
			}
		}
		for k := range kindCount {
			if n := e.errors[k].Load(); n > 0 {
				counter(m.exErrors, n, a, kindName(k))
			}
		}
		counter(m.exRecords, e.records.Load(), a)
		counter(m.exNoRate, e.noRate.Load(), a)
		counter(m.exFuture, e.future.Load(), a)
		counter(m.exDrops, e.drops.Load(), a)
		gauge(m.exRate, float64(e.rate.Load()), a)
		if t := e.lastSeen.Load(); t != 0 {
			gauge(m.exLastSeen, float64(t)/1e9, a)
		}
	}
	nf := m.c.netflow.Stats()
	gauge(m.nfExporters, float64(nf.Exporters))
	gauge(m.nfTemplates, float64(nf.Templates))
	counter(m.nfHeld, nf.Held, "held")
	counter(m.nfHeld, nf.HeldDecoded, "decoded")
	counter(m.nfHeld, nf.HeldExpired, "expired")
	counter(m.nfHeld, nf.HeldDropped, "dropped")
	counter(m.nfRejected, nf.TemplatesRejected)
	counter(m.nfOptions, nf.OptionsRecords)
	sf := m.c.sflow.Stats()
	counter(m.sfSamples, sf.FlowSamples, "flow")
	counter(m.sfSamples, sf.CounterSamples, "counter")
	counter(m.sfSamples, sf.DiscardSamples, "discard")
	counter(m.sfSamples, sf.OtherSamples, "other")
	counter(m.sfNoPacket, sf.NoPacket)
}
