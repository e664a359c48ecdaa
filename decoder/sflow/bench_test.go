package sflow

import (
	"bytes"
	"testing"

	gfsflow "github.com/netsampler/goflow2/v2/decoders/sflow"
	"github.com/netsampler/goflow2/v2/producer"

	"abuseguard/flow"
)

func reportRecords(b *testing.B, n int) {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*n)
	b.ReportMetric(ns, "ns/record")
	b.ReportMetric(1e9/ns, "records/s")
	b.ReportMetric(float64(n), "records/op")
}

// BenchmarkDecode compares abuseguard with goflow2 v2.2.6 on the same
// datagrams in the same run: the 6 flow samples (128-byte Ethernet headers)
// of telegraf's sflow_issue_15918 and tcpdump's expanded flow sample.
// abuseguard's figure includes parsing each header with package packet;
// goflow2-decode parses the sFlow structure only, goflow2-produce adds its
// header parsing into records.
func BenchmarkDecode(b *testing.B) {
	data := [][]byte{telegrafCase(b, "sflow_issue_15918")[0].payload, pcapGrams(b, "sflow5_tcpdump_expanded.pcap")[0].payload}
	b.Run("sflow/abuseguard", func(b *testing.B) {
		d := New(Config{})
		out := make([]flow.Record, 0, 16)
		n := 0
		for _, p := range data {
			recs, err := d.Decode(testExporter, p, testRecv, out[:0])
			if err != nil {
				b.Fatal(err)
			}
			n += len(recs)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			for _, p := range data {
				out, _ = d.Decode(testExporter, p, testRecv, out[:0])
			}
		}
		reportRecords(b, n)
	})
	b.Run("sflow/goflow2-decode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			for _, p := range data {
				var pkt gfsflow.Packet
				gfsflow.DecodeMessageVersion(bytes.NewBuffer(p), &pkt)
			}
		}
		reportRecords(b, 7)
	})
	b.Run("sflow/goflow2-produce", func(b *testing.B) {
		gf := newGoflow(b)
		args := &producer.ProduceArgs{SamplerAddress: testExporter, TimeReceived: testRecv}
		b.ReportAllocs()
		for range b.N {
			for _, p := range data {
				var pkt gfsflow.Packet
				gfsflow.DecodeMessageVersion(bytes.NewBuffer(p), &pkt)
				msgs, _ := gf.producer.Produce(&pkt, args)
				gf.producer.Commit(msgs)
			}
		}
		reportRecords(b, 7)
	})
}
