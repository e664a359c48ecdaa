package packet_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/testutil/pktgen"
)

// TestDecodeTruncated cuts frames at every byte. Before the end of the
// fixed IP header Decode must fail with ErrMalformed; from there to the
// end of the fixed transport header it must succeed with FlagTruncated
// and the right addresses and size; past it the result must be the full
// frame's.
func TestDecodeTruncated(t *testing.T) {
	tests := []struct {
		name   string
		lt     flow.LinkType
		frame  []byte
		ipEnd  int // end of the fixed IPv4/IPv6 header
		l4End  int // end of the fixed transport header
		isIPv6 bool
	}{
		{"ethernet ipv4 tcp", flow.LinkTypeEthernet, eth(tcp4(flow.TCPSyn, 10), 0x0800), 34, 54, false},
		{"qinq ipv6 udp", flow.LinkTypeEthernet, eth(udp6(10), 0x88a8, 0x8100, 0x86dd), 62, 70, true},
		{"mpls ipv4 options tcp", flow.LinkTypeEthernet, eth(mpls(withIPv4Options(tcp4(flow.TCPAck, 5), make([]byte, 12)), 1, 2), 0x8847), 42, 74, false},
		{"null ipv6 chain icmpv6", flow.LinkTypeNull, null(30, binary.BigEndian,
			withExt(pktgen.ICMPEchoRaw(src6.Addr(), dst6.Addr(), false), ext{0, hdr8(0)}, ext{44, frag6(0, true)}, ext{51, ah(4)})), 44, 44 + 8 + 8 + 24 + 4, true},
		{"sll icmp", flow.LinkTypeLinuxSLL, sll(1, 0x0800, pktgen.ICMPEchoRaw(src4.Addr(), dst4.Addr(), true)), 36, 44, false},
		{"sll2 vlan udp", flow.LinkTypeLinuxSLL2, sll2(1, 0x8100, append([]byte{0, 7, 0x08, 0x00}, udp4(3)...)), 44, 52, false},
		{"raw ipv6 sctp", flow.LinkTypeRaw, func() []byte { b := udp6(20); b[6] = 132; return b }(), 40, 52, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var full flow.Record
			if err := packet.Decode(tt.lt, tt.frame, &full); err != nil {
				t.Fatalf("Decode(full frame) error = %v", err)
			}
			if full.Flags != 0 {
				t.Fatalf("Decode(full frame) Flags = %d, want 0", full.Flags)
			}
			for i := 0; i <= len(tt.frame); i++ {
				var r flow.Record
				err := packet.Decode(tt.lt, tt.frame[:i:i], &r)
				switch {
				case i < tt.ipEnd:
					if !errors.Is(err, packet.ErrMalformed) {
						t.Fatalf("Decode(frame[:%d]) error = %v, want ErrMalformed", i, err)
					}
				case i < tt.l4End:
					if err != nil || r.Flags != flow.FlagTruncated {
						t.Fatalf("Decode(frame[:%d]) = flags %d, error %v; want FlagTruncated, no error", i, r.Flags, err)
					}
					got := flow.Record{Src: r.Src, Dst: r.Dst, Bytes: r.Bytes, Packets: r.Packets}
					want := flow.Record{Src: full.Src, Dst: full.Dst, Bytes: full.Bytes, Packets: 1}
					if diff := cmp.Diff(got, want, cmpAddr); diff != "" {
						t.Fatalf("Decode(frame[:%d]) (-got, +want):\n%s", i, diff)
					}
				default:
					if err != nil {
						t.Fatalf("Decode(frame[:%d]) error = %v", i, err)
					}
					if diff := cmp.Diff(r, full, cmpAddr); diff != "" {
						t.Fatalf("Decode(frame[:%d]) (-got, +want):\n%s", i, diff)
					}
				}
			}
		})
	}
}

// checkPrefixes decodes every prefix of frame and checks they agree with
// the full decode: no panic; once a prefix decodes without error, every
// longer one does too; once one decodes without FlagTruncated, every
// longer one gives the full frame's record (but for Bytes when the IP
// length field is 0).
func checkPrefixes(t *testing.T, lt flow.LinkType, frame []byte) {
	t.Helper()
	var full flow.Record
	fullErr := packet.Decode(lt, frame, &full)
	decoded, complete := false, false
	for i := 0; i <= len(frame); i++ {
		var r flow.Record
		err := packet.Decode(lt, frame[:i:i], &r)
		if err != nil {
			if decoded {
				t.Fatalf("Decode(frame[:%d]) error = %v after frame[:%d] decoded; frame % x", i, err, i-1, frame)
			}
			continue
		}
		decoded = true
		if fullErr != nil {
			t.Fatalf("Decode(frame[:%d]) succeeded but the full frame fails: %v; frame % x", i, fullErr, frame)
		}
		if r.Flags&flow.FlagTruncated != 0 {
			if complete {
				t.Fatalf("Decode(frame[:%d]) truncated after a complete decode; frame % x", i, frame)
			}
			continue
		}
		complete = true
		if full.Bytes-r.Bytes == uint64(len(frame)-i) {
			// IP length field 0 (TSO, jumbogram): the size is the
			// captured size, so it grows with the prefix.
			r.Bytes = full.Bytes
		}
		if !sameOwned(&r, &full) {
			t.Fatalf("Decode(frame[:%d]) (-got, +want):\n%s", i, cmp.Diff(r, full, cmpAddr))
		}
	}
}

// sameOwned compares the fields Decode owns without reflection: cmp.Diff
// on millions of prefixes would dominate the test's time.
func sameOwned(a, b *flow.Record) bool {
	return a.Src == b.Src && a.Dst == b.Dst && a.Proto == b.Proto &&
		a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.TCPFlags == b.TCPFlags &&
		a.Bytes == b.Bytes && a.Packets == b.Packets && a.Flags == b.Flags && a.SrcMAC == b.SrcMAC
}
