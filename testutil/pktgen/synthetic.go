package pktgen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"

	"abuseguard/flow"
	"abuseguard/pcapfile"
)

// Synthetic writes n packets of synthetic traffic of a hosting provider's
// uplink to w as a classic Ethernet pcap. The same seed gives the same
// bytes (and a longer run starts with the packets of a shorter one);
// memory use does not depend on n (64 sessions in flight), so ten million
// packets stream straight to a file, about 8 GB of it.
//
// The mix, as TestSyntheticMix measures it over 200 000 packets (seed 1):
// 85 % TCP, 12 % UDP, 3 % ICMP/ICMPv6 by packets, 33 % IPv6, 812 bytes a
// frame on average, 1 Mpps. It comes from:
//   - customers: 250 IPv4 servers 203.0.113.1-250 and 250 IPv6 servers
//     2001:db8:100:1::10 to 2001:db8:100:fa::10; outside hosts: 131 071
//     addresses in 198.18.0.0/15 and as many in 2001:db8:8000::/33, picked
//     with a Zipf law (s = 1.1) so a few are popular;
//   - sessions, 64 in flight, half opened by a customer and half from
//     outside, 30 % over IPv6: 42 % TCP (handshake, request, then 200 B
//     to 1 MB of response in segments of 1460/1440 bytes acknowledged every
//     second segment, FIN exchange; 5 % of connections to a customer hit a
//     closed port and get a RST), 5 % QUIC-like UDP/443 (a 1200-byte first
//     datagram, 1252-byte datagrams back, an acknowledgement every second),
//     38 % DNS (a well-formed A or AAAA query to port 53, an answer with
//     1-8 records, 2 % unanswered) and 15 % ping (1-4 echo pairs);
//   - scanners, 4 % of packets, SYN-only or empty UDP probes of which 10 %
//     are answered: 203.0.113.66 sweeping tcp/23 over 198.18.0.0/15
//     (horizontal), 203.0.113.77 walking every port of 198.18.5.5
//     (vertical), 2001:db8:100:42::10 probing udp/161 across
//     2001:db8:8000::/33, and 198.19.200.1 sweeping tcp/22 over the IPv4
//     customers (incoming);
//   - time: from 2024-10-23 04:00:00 UTC, exponential gaps averaging 1 µs.
func Synthetic(w io.Writer, n int, seed int64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	pw, err := pcapfile.NewWriter(bw, flow.LinkTypeEthernet, 0)
	if err != nil {
		return err
	}
	g := newGenerator(seed)
	buf := make([]byte, 0, 2048)
	for i := range n {
		p := g.next()
		buf = p.AppendEthernet(buf[:0])
		if err := pw.WritePacket(g.now, buf, 0); err != nil {
			return fmt.Errorf("synthetic packet %d: %w", i, err)
		}
	}
	return bw.Flush()
}

const (
	activeSessions = 64
	customers      = 250
	externalHosts  = 1 << 17 // the size of 198.18.0.0/15
	scanShare      = 0.04
	ipv6Share      = 0.30
)

// generator holds the state of Synthetic between packets.
type generator struct {
	rng      *rand.Rand
	now      int64
	extZipf  *rand.Zipf
	sessions [activeSessions]session
	scanners [4]scanner
	pkt      Packet
	scratch  []byte // DNS payloads
}

func newGenerator(seed int64) *generator {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x61627573656775)) // "abuseguard"-ish constant stream
	g := &generator{
		rng:     rng,
		now:     time.Date(2024, 10, 23, 4, 0, 0, 0, time.UTC).UnixNano(),
		extZipf: rand.NewZipf(rng, 1.1, 8, externalHosts-1),
		scratch: make([]byte, 0, 512),
	}
	for i := range g.sessions {
		g.sessions[i] = g.newSession()
	}
	g.scanners = [4]scanner{
		{kind: scanHorizontal, src: netip.MustParseAddr("203.0.113.66"), port: 23},
		{kind: scanVertical, src: netip.MustParseAddr("203.0.113.77"), target: netip.MustParseAddr("198.18.5.5")},
		{kind: scanUDP6, src: netip.MustParseAddr("2001:db8:100:42::10"), port: 161},
		{kind: scanIncoming, src: netip.MustParseAddr("198.19.200.1"), port: 22},
	}
	return g
}

// next advances the clock and returns the next packet to write.
func (g *generator) next() *Packet {
	g.now += int64(g.rng.ExpFloat64()*1000) + 1
	g.pkt = Packet{}
	if g.rng.Float64() < scanShare {
		s := &g.scanners[g.rng.IntN(len(g.scanners))]
		s.next(g, &g.pkt)
		return &g.pkt
	}
	i := g.rng.IntN(activeSessions)
	if done := g.sessions[i].next(g, &g.pkt); done {
		g.sessions[i] = g.newSession()
	}
	return &g.pkt
}

// customer returns a customer address of the given family.
func (g *generator) customer(v6 bool) netip.Addr {
	i := g.rng.IntN(customers) + 1
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, byte(i), 15: 0x10})
	}
	return netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
}

// external returns an outside address, popular ones more often.
func (g *generator) external(v6 bool) netip.Addr {
	return externalAddr(int(g.extZipf.Uint64()), v6)
}

// externalAddr maps an index below externalHosts to 198.18.0.0/15 or
// 2001:db8:8000::/33; index 0 would be a network address, so it is shifted.
func externalAddr(i int, v6 bool) netip.Addr {
	i = i%(externalHosts-1) + 1
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x80, 0x00, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
	}
	return netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)})
}

// ephemeral returns a client port from Linux's default range 32768-60999.
func (g *generator) ephemeral() uint16 {
	return uint16(32768 + g.rng.IntN(60999-32768+1))
}

// ttlFrom gives outside senders a hop count that depends on the address.
func ttlFrom(a netip.Addr) uint8 {
	b := a.As16()
	return 64 - 4 - b[15]%20
}
