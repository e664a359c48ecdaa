package pcapfile_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/netip"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/pcapfile"
	"abuseguard/testutil/pktgen"
)

// Write two frames to a pcap file, then read them back and decode them.
func Example() {
	var file bytes.Buffer
	w, err := pcapfile.NewWriter(&file, flow.LinkTypeEthernet, 0)
	if err != nil {
		log.Fatal(err)
	}
	client := netip.MustParseAddrPort("203.0.113.7:3374")
	server := netip.MustParseAddrPort("198.51.100.155:443")
	t0 := int64(1_729_656_000_000_000_000) // 2024-10-23 04:00:00 UTC in ns
	if err := w.WritePacket(t0, pktgen.TCP(client, server, flow.TCPSyn, 0), 0); err != nil {
		log.Fatal(err)
	}
	if err := w.WritePacket(t0+250_000, pktgen.TCP(server, client, flow.TCPSyn|flow.TCPAck, 0), 0); err != nil {
		log.Fatal(err)
	}

	r, err := pcapfile.NewReader(&file)
	if err != nil {
		log.Fatal(err)
	}
	var rec flow.Record
	for {
		f, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if err := packet.Decode(f.LinkType, f.Data, &rec); err != nil {
			continue // count ErrNotIP and malformed frames here
		}
		rec.Start, rec.End = f.Time, f.Time
		fmt.Printf("%d %v:%d -> %v:%d flags %#02x %d bytes\n", rec.Start-t0, rec.Src, rec.SrcPort, rec.Dst, rec.DstPort, rec.TCPFlags, rec.Bytes)
	}
	// Output:
	// 0 203.0.113.7:3374 -> 198.51.100.155:443 flags 0x02 40 bytes
	// 250000 198.51.100.155:443 -> 203.0.113.7:3374 flags 0x12 40 bytes
}
