package evidence

import (
	"testing"
	"time"

	"abuseguard"
	"abuseguard/flow"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
)

func TestPcapFrames(t *testing.T) {
	ip := serialize(t, ip4("203.0.113.7", "76.9.23.182", layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2})
	ether := linkFrame(t, layers.LinkTypeEthernet, ip) // with a VLAN tag: 18 bytes of header
	at := time.Unix(1729658873, 145756999)
	sample := func(link layers.LinkType, data []byte, orig uint32) abuseguard.PacketSample {
		return abuseguard.PacketSample{Time: at, LinkType: uint16(link), Data: data, OrigLen: orig}
	}
	flowRecord := abuseguard.PacketSample{Time: at, Packets: 10}
	for _, tc := range []struct {
		name     string
		samples  []abuseguard.PacketSample
		wantLink flow.LinkType
		want     []pcapFrame
	}{
		{"none", []abuseguard.PacketSample{flowRecord}, 0, nil},
		{"one link type kept", []abuseguard.PacketSample{sample(layers.LinkTypeEthernet, ether, 1514), flowRecord},
			flow.LinkTypeEthernet, []pcapFrame{{at.UnixNano(), ether, 1514}}},
		{"orig length at least the data", []abuseguard.PacketSample{sample(layers.LinkTypeRaw, ip, 0)},
			flow.LinkTypeRaw, []pcapFrame{{at.UnixNano(), ip, uint32(len(ip))}}},
		{"mixed cut to IP", []abuseguard.PacketSample{
			sample(layers.LinkTypeEthernet, ether, 1514),
			flowRecord,
			sample(layers.LinkTypeLinuxSLL, linkFrame(t, layers.LinkTypeLinuxSLL, ip), 0),
			sample(layers.LinkTypeEthernet, []byte{1, 2, 3}, 0), // no IP header: left out
		}, flow.LinkTypeRaw, []pcapFrame{
			{at.UnixNano(), ether[18:], 1514 - 18}, // with the Ethernet padding

			{at.UnixNano(), ip, uint32(len(ip))},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link, frames := pcapFrames(tc.samples)
			if link != tc.wantLink {
				t.Errorf("pcapFrames() link type = %v, want %v", link, tc.wantLink)
			}
			if diff := cmp.Diff(frames, tc.want, cmp.AllowUnexported(pcapFrame{})); diff != "" {
				t.Errorf("pcapFrames() (-got, +want):\n%s", diff)
			}
		})
	}
}

func TestRenderPcapLeavesOutWhatItCannotWrite(t *testing.T) {
	ip := serialize(t, ip4("203.0.113.7", "76.9.23.182", layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2})
	flowRecord := abuseguard.PacketSample{Time: time.Unix(1729658873, 0), Packets: 10}
	if got := renderPcap([]abuseguard.PacketSample{flowRecord}); got != nil {
		t.Errorf("renderPcap(flow records only) = %d bytes, want nil", len(got))
	}
	before1970 := abuseguard.PacketSample{Time: time.Unix(-1, 0), LinkType: 101, Data: ip}
	if got := renderPcap([]abuseguard.PacketSample{before1970}); got != nil {
		t.Errorf("renderPcap(a frame from 1969) = %d bytes, want nil", len(got))
	}
	ok := abuseguard.PacketSample{Time: time.Unix(1729658873, 0), LinkType: 101, Data: ip}
	// 24 bytes of file header, 16 of record header, the frame.
	if got, want := len(renderPcap([]abuseguard.PacketSample{before1970, ok})), 24+16+len(ip); got != want {
		t.Errorf("renderPcap(1969 and 2024) = %d bytes, want %d: one record", got, want)
	}
}
