package pcap_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"abuseguard/flow"
	"abuseguard/input/pcap"
	"abuseguard/testutil/pktgen"
)

// BenchmarkReadFile reads a capture per op and reports records per second.
//
//	go test -run '^$' -bench BenchmarkReadFile -benchmem ./input/pcap/
func BenchmarkReadFile(b *testing.B) {
	synthetic := filepath.Join(b.TempDir(), "synthetic.pcap")
	w, err := os.Create(synthetic)
	if err != nil {
		b.Fatal(err)
	}
	if err := pktgen.Synthetic(w, 100_000, 1); err != nil {
		b.Fatal(err)
	}
	w.Close()
	cases := []struct{ name, path string }{
		{"synthetic-packets", synthetic},
		{"ipfix-srv6", realCaptures(b, "ipfix_netgauze_srv6")[0]},
		{"nfv9-asr9k", realCaptures(b, "nfv9_netgauze_101")[0]},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			src, err := pcap.NewSource(pcap.DefaultConfiguration(), pcap.Dependencies{})
			if err != nil {
				b.Fatal(err)
			}
			var records uint64
			sink := func(recs []flow.Record) { records += uint64(len(recs)) }
			b.ReportAllocs()
			for b.Loop() {
				if _, err := src.ReadFile(context.Background(), c.path, sink); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
		})
	}
}
