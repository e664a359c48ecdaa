package netflow

import (
	"bytes"
	"testing"

	gfnetflow "github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/decoders/netflowlegacy"
	"github.com/netsampler/goflow2/v2/producer"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"

	"abuseguard/flow"
)

// benchBatch is real datagrams of one exporter: setup (templates) decoded
// once, then data decoded b.N times.
type benchBatch struct {
	setup, data [][]byte
}

// benchBatches are the datagrams each benchmark decodes, from the shared
// captures: routers that export full datagrams.
func benchBatches(b *testing.B) map[string]benchBatch {
	files := func(names ...string) [][]byte {
		var out [][]byte
		for _, n := range names {
			out = append(out, flowsFile(b, "logstash/"+n))
		}
		return out
	}
	return map[string]benchBatch{
		// MikroTik 30 and Juniper MX80 29 records per datagram.
		"v5": {data: files("netflow5_test_microtik.dat", "netflow5_test_juniper_mx80.dat")},
		// Cisco ASR 9000, 21 records of 23 fields; Cisco 1941, 29
		// records of 15 fields with its template in the same datagram.
		"v9": {setup: files("netflow9_test_cisco_asr9k_tpl260.dat"), data: files("netflow9_test_cisco_asr9k_data260.dat", "netflow9_test_cisco_1941K9.dat")},
		// MikroTik RouterOS, 46 records of 16 fields; OpenBSD pflow, 26
		// records of 12 fields.
		"ipfix": {
			setup: files("ipfix_test_mikrotik_tpl.dat", "ipfix_test_openbsd_pflow_tpl.dat"),
			data:  files("ipfix_test_mikrotik_data258.dat", "ipfix_test_mikrotik_data259.dat", "ipfix_test_openbsd_pflow_data.dat"),
		},
	}
}

// reportRecords reports ns/record and records/s for b.N batches of n
// records.
func reportRecords(b *testing.B, n int) {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*n)
	b.ReportMetric(ns, "ns/record")
	b.ReportMetric(1e9/ns, "records/s")
	b.ReportMetric(float64(n), "records/op")
}

// BenchmarkDecode compares abuseguard with goflow2 v2.2.6 on the same
// datagrams in the same run: goflow2's decoder alone, and its decoder plus
// protobuf producer (what yields records comparable to flow.Record).
func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"v5", "v9", "ipfix"} {
		batch := benchBatches(b)[name]
		b.Run(name+"/abuseguard", func(b *testing.B) {
			d := New(Config{})
			for _, p := range batch.setup {
				if _, err := d.Decode(testExporter, p, testRecv, nil); err != nil {
					b.Fatal(err)
				}
			}
			out := make([]flow.Record, 0, 64)
			n := 0
			for _, p := range batch.data {
				recs, err := d.Decode(testExporter, p, testRecv, out[:0])
				if err != nil {
					b.Fatal(err)
				}
				n += len(recs)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, p := range batch.data {
					out, _ = d.Decode(testExporter, p, testRecv, out[:0])
				}
			}
			reportRecords(b, n)
		})
		b.Run(name+"/goflow2-decode", func(b *testing.B) {
			ts := gfnetflow.CreateTemplateSystem()
			decode := func(p []byte) (any, error) {
				if be16(p) == 5 {
					var m netflowlegacy.PacketNetFlowV5
					return &m, netflowlegacy.DecodeMessageVersion(bytes.NewBuffer(p), &m)
				}
				var m9 gfnetflow.NFv9Packet
				var m10 gfnetflow.IPFIXPacket
				err := gfnetflow.DecodeMessageVersion(bytes.NewBuffer(p), ts, &m9, &m10)
				if be16(p) == 10 {
					return &m10, err
				}
				return &m9, err
			}
			for _, p := range batch.setup {
				if _, err := decode(p); err != nil {
					b.Fatal(err)
				}
			}
			n := goflowRecords(b, batch.data, ts)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, p := range batch.data {
					decode(p)
				}
			}
			reportRecords(b, n)
		})
		b.Run(name+"/goflow2-produce", func(b *testing.B) {
			gf := newGoflow(b)
			for _, p := range batch.setup {
				if _, err := gf.decode(testExporter, p, testRecv); err != nil {
					b.Fatal(err)
				}
			}
			ts := gf.templates[testExporter]
			if ts == nil {
				ts = gfnetflow.CreateTemplateSystem()
				gf.templates[testExporter] = ts
			}
			n := goflowRecords(b, batch.data, ts)
			args := &producer.ProduceArgs{SamplerAddress: testExporter, TimeReceived: testRecv}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, p := range batch.data {
					var msg any
					if be16(p) == 5 {
						var m netflowlegacy.PacketNetFlowV5
						netflowlegacy.DecodeMessageVersion(bytes.NewBuffer(p), &m)
						msg = &m
					} else {
						var m9 gfnetflow.NFv9Packet
						var m10 gfnetflow.IPFIXPacket
						gfnetflow.DecodeMessageVersion(bytes.NewBuffer(p), ts, &m9, &m10)
						msg = &m9
						if be16(p) == 10 {
							msg = &m10
						}
					}
					msgs, _ := gf.producer.Produce(msg, args)
					gf.producer.Commit(msgs)
				}
			}
			reportRecords(b, n)
		})
	}
}

// goflowRecords counts the records goflow2 produces from data, to check
// that both sides decode the same amount.
func goflowRecords(b *testing.B, data [][]byte, ts gfnetflow.NetFlowTemplateSystem) int {
	cfg, _ := (&protoproducer.ProducerConfig{}).Compile()
	p, _ := protoproducer.CreateProtoProducer(cfg, protoproducer.CreateSamplingSystem)
	n := 0
	for _, d := range data {
		var msg any
		if be16(d) == 5 {
			var m netflowlegacy.PacketNetFlowV5
			netflowlegacy.DecodeMessageVersion(bytes.NewBuffer(d), &m)
			msg = &m
		} else {
			var m9 gfnetflow.NFv9Packet
			var m10 gfnetflow.IPFIXPacket
			if err := gfnetflow.DecodeMessageVersion(bytes.NewBuffer(d), ts, &m9, &m10); err != nil {
				b.Fatal(err)
			}
			msg = &m9
			if be16(d) == 10 {
				msg = &m10
			}
		}
		msgs, _ := p.Produce(msg, &producer.ProduceArgs{})
		n += len(msgs)
		p.Commit(msgs)
	}
	return n
}
