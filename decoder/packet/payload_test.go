package packet_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/testutil/pktgen"
)

func TestDecodePayload(t *testing.T) {
	src4 := netip.MustParseAddrPort("203.0.113.7:40000")
	dst4 := netip.MustParseAddrPort("198.51.100.1:2055")
	src6 := netip.MustParseAddrPort("[2001:db8::7]:40000")
	dst6 := netip.MustParseAddrPort("[2001:db8::1]:6343")
	data := []byte("\x00\x05\x00\x01flow export")

	udp4 := pktgen.Packet{Src: src4, Dst: dst4, Proto: flow.ProtoUDP, Data: data}
	udp6 := pktgen.Packet{Src: src6, Dst: dst6, Proto: flow.ProtoUDP, Data: data}
	vlan := udp4
	vlan.VLAN = 42
	short := pktgen.Packet{Src: src4, Dst: dst4, Proto: flow.ProtoUDP, Data: []byte("x")}

	// A 1-byte UDP payload makes a 43-byte frame, padded to Ethernet's
	// 60-byte minimum: the padding is not payload.
	padded := short.AppendEthernet(nil)
	padded = append(padded, make([]byte, 60-len(padded))...)

	// The UDP length of the first fragment of a fragmented datagram
	// covers all fragments: the payload is incomplete.
	frag := udp4.AppendEthernet(nil)
	binary.BigEndian.PutUint16(frag[14+20+4:], uint16(8+len(data)+1000))
	frag[14+6] |= 0x20 // more fragments

	full4 := udp4.AppendEthernet(nil)
	tests := []struct {
		name     string
		lt       flow.LinkType
		frame    []byte
		payload  []byte
		complete bool
	}{
		{"ethernet ipv4", flow.LinkTypeEthernet, full4, data, true},
		{"ethernet ipv6", flow.LinkTypeEthernet, udp6.AppendEthernet(nil), data, true},
		{"802.1q", flow.LinkTypeEthernet, vlan.AppendEthernet(nil), data, true},
		{"raw ipv4", flow.LinkTypeRaw, udp4.AppendIP(nil), data, true},
		{"ethernet padding", flow.LinkTypeEthernet, padded, []byte("x"), true},
		{"cut by snap length", flow.LinkTypeEthernet, full4[:len(full4)-4], data[:len(data)-4], false},
		{"first fragment", flow.LinkTypeEthernet, frag, data, false},
		{"udp header cut", flow.LinkTypeEthernet, full4[:14+20+6], nil, false},
		{"tcp", flow.LinkTypeEthernet, pktgen.TCP(src4, dst4, flow.TCPSyn, 10), nil, false},
		{"icmp", flow.LinkTypeEthernet, pktgen.ICMPEcho(src4.Addr(), dst4.Addr(), false), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, want flow.Record
			payload, complete, err := packet.DecodePayload(tt.lt, tt.frame, &got)
			if err != nil {
				t.Fatalf("packet.DecodePayload() error: %v", err)
			}
			if !bytes.Equal(payload, tt.payload) || complete != tt.complete {
				t.Fatalf("packet.DecodePayload() = %q, %v; want %q, %v", payload, complete, tt.payload, tt.complete)
			}
			if err := packet.Decode(tt.lt, tt.frame, &want); err != nil {
				t.Fatalf("Decode() error: %v", err)
			}
			if diff := cmp.Diff(got, want, cmpAddr); diff != "" {
				t.Fatalf("packet.DecodePayload() record differs from Decode() (-got, +want):\n%s", diff)
			}
		})
	}
}

func TestDecodePayloadNoAlloc(t *testing.T) {
	frame := pktgen.UDP(netip.MustParseAddrPort("203.0.113.7:40000"), netip.MustParseAddrPort("198.51.100.1:2055"), 100)
	var r flow.Record
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := packet.DecodePayload(flow.LinkTypeEthernet, frame, &r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("packet.DecodePayload() allocates %v times per frame, want 0", allocs)
	}
}
