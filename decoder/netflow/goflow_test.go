package netflow

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	gfnetflow "github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/decoders/netflowlegacy"
	"github.com/netsampler/goflow2/v2/producer"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"

	"abuseguard/flow"
)

// goflow decodes with goflow2 v2.2.6 the way its NetFlow receiver does:
// one template system per exporter, its protobuf producer with the
// default configuration and its per-exporter sampling-rate system.
type goflow struct {
	templates map[netip.Addr]gfnetflow.NetFlowTemplateSystem
	producer  producer.ProducerInterface
}

func newGoflow(t testing.TB) *goflow {
	t.Helper()
	cfg, err := (&protoproducer.ProducerConfig{}).Compile()
	if err != nil {
		t.Fatalf("goflow2 producer config: %v", err)
	}
	p, err := protoproducer.CreateProtoProducer(cfg, protoproducer.CreateSamplingSystem)
	if err != nil {
		t.Fatalf("goflow2 producer: %v", err)
	}
	return &goflow{templates: map[netip.Addr]gfnetflow.NetFlowTemplateSystem{}, producer: p}
}

// decode returns goflow2's records in flow.Record's terms: ICMP type and
// code moved to DstPort, addresses unmapped. Fields goflow2 does not
// produce (direction) stay zero.
func (g *goflow) decode(exporter netip.Addr, payload []byte, recv time.Time) ([]flow.Record, error) {
	var msg any
	var err error
	switch be16(payload) {
	case 5:
		var p netflowlegacy.PacketNetFlowV5
		err = netflowlegacy.DecodeMessageVersion(bytes.NewBuffer(payload), &p)
		msg = &p
	default:
		ts := g.templates[exporter]
		if ts == nil {
			ts = gfnetflow.CreateTemplateSystem()
			g.templates[exporter] = ts
		}
		var p9 gfnetflow.NFv9Packet
		var p10 gfnetflow.IPFIXPacket
		err = gfnetflow.DecodeMessageVersion(bytes.NewBuffer(payload), ts, &p9, &p10)
		msg = &p9
		if p10.Version == 10 {
			msg = &p10
		}
	}
	msgs, perr := g.producer.Produce(msg, &producer.ProduceArgs{
		Src:            netip.AddrPortFrom(exporter, 2055),
		SamplerAddress: exporter,
		TimeReceived:   recv,
	})
	defer g.producer.Commit(msgs)
	if err == nil {
		err = perr
	}
	out := make([]flow.Record, 0, len(msgs))
	for _, m := range msgs {
		fm := m.(*protoproducer.ProtoProducerMessage)
		r := flow.Record{
			Exporter:     exporter,
			Start:        int64(fm.TimeFlowStartNs),
			End:          int64(fm.TimeFlowEndNs),
			Packets:      fm.Packets,
			Bytes:        fm.Bytes,
			SamplingRate: uint32(fm.SamplingRate),
			InIf:         fm.InIf,
			OutIf:        fm.OutIf,
			SrcPort:      uint16(fm.SrcPort),
			DstPort:      uint16(fm.DstPort),
			Proto:        uint8(fm.Proto),
			TCPFlags:     uint8(fm.TcpFlags),
			SrcMAC:       fm.SrcMac,
		}
		if a, ok := netip.AddrFromSlice(fm.SrcAddr); ok {
			r.Src = a.Unmap()
		}
		if a, ok := netip.AddrFromSlice(fm.DstAddr); ok {
			r.Dst = a.Unmap()
		}
		if r.Proto == flow.ProtoICMP || r.Proto == flow.ProtoICMPv6 {
			r.SrcPort = 0
			if tc := uint16(fm.IcmpType)<<8 | uint16(fm.IcmpCode); tc != 0 {
				r.DstPort = tc
			}
		}
		out = append(out, r)
	}
	return out, err
}
