package detect

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Shard counters (indexes of shard.st). The detections counters follow
// stDetections, one per detKinds entry.
const (
	stRecords      = iota // records handled (once per shard they concern)
	stLate                // records older than the longest window
	stClamped             // records clamped into a window's oldest bucket
	stTimeResets          // clock resets after a run of late records
	stEvictAddress        // addresses evicted at MaxAddresses
	stEvictSource         // misconfiguration keys evicted at MaxSources
	stDropContact         // contacts or private destinations dropped at MaxContacts
	stEvictPeer           // top-K peer counters taken over
	stEvictService        // top-K service counters taken over
	stPendingEarly        // attempts judged before their grace period ended
	stTopKDenied          // addresses refused a summary at MaxTopK
	stBackscatter         // outgoing reply packets (observed) excluded from the packet limit
	stAddresses           // gauge: tracked addresses
	stSources             // gauge: tracked misconfiguration keys
	stTopActive           // gauge: active top-K summaries
	stDetections
	nStats = stDetections + len(detKinds)
)

// collector exports the shards' published counters. It reads atomics only,
// so a scrape never waits for a shard.
type collector struct{ e *Engine }

var (
	descRecords = prometheus.NewDesc("abuseguard_detect_records_total",
		"Records run through the detectors, counted once per shard they concern.", nil, nil)
	descIgnored = prometheus.NewDesc("abuseguard_detect_records_ignored_total",
		"Records the detectors ignored, by reason.", []string{"reason"}, nil)
	descDropped = prometheus.NewDesc("abuseguard_detect_dropped_records_total",
		"Records Submit dropped instead of blocking the input, by reason.", []string{"reason"}, nil)
	descBackscatter = prometheus.NewDesc("abuseguard_detect_backscatter_packets_total",
		"Outgoing reply packets (SYN-ACK, RST, ICMP errors and echo replies) excluded from the packet limit because incoming traffic explains them.", nil, nil)
	descLate = prometheus.NewDesc("abuseguard_detect_records_late_total",
		"Records older than the shard's clock by more than the longest window (clamped into windows).", nil, nil)
	descClamped = prometheus.NewDesc("abuseguard_detect_window_clamps_total",
		"Times a record ending before a window was clamped into its oldest bucket.", nil, nil)
	descTimeResets = prometheus.NewDesc("abuseguard_detect_time_resets_total",
		"Shard clocks reset after a run of records far older than the clock.", nil, nil)
	descDetections = prometheus.NewDesc("abuseguard_detect_detections_total",
		"Detections opened, by kind and subkind.", []string{"kind", "subkind"}, nil)
	descEvictions = prometheus.NewDesc("abuseguard_detect_evictions_total",
		"State dropped or cut short at a configured cap, by kind.", []string{"kind"}, nil)
	descTracked = prometheus.NewDesc("abuseguard_detect_tracked",
		"State currently held, by kind.", []string{"kind"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descIgnored, descDropped, descLate, descClamped, descTimeResets, descDetections, descEvictions, descTracked} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	var sum [nStats]uint64
	for _, s := range c.e.shards {
		for i := range sum {
			sum[i] += s.pub[i].Load()
		}
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter(descRecords, sum[stRecords])
	counter(descIgnored, c.e.ignored.Load()-c.e.invalid.Load(), "not_customer")
	counter(descIgnored, c.e.invalid.Load(), "invalid")
	counter(descLate, sum[stLate])
	counter(descClamped, sum[stClamped])
	counter(descBackscatter, sum[stBackscatter])
	for i, r := range dropReasons {
		counter(descDropped, c.e.drops[i].Load(), r)
	}
	counter(descTimeResets, sum[stTimeResets])
	for i, k := range detKinds {
		counter(descDetections, sum[stDetections+i], string(k.kind), k.subkind)
	}
	for _, x := range []struct {
		kind string
		i    int
	}{
		{"address", stEvictAddress}, {"source", stEvictSource}, {"contact", stDropContact},
		{"peer", stEvictPeer}, {"service", stEvictService}, {"pending_attempt", stPendingEarly},
		{"top_k", stTopKDenied},
	} {
		counter(descEvictions, sum[x.i], x.kind)
	}
	gauge(descTracked, sum[stAddresses], "address")
	gauge(descTracked, sum[stSources], "source")
	gauge(descTracked, sum[stTopActive], "top_k")
}
