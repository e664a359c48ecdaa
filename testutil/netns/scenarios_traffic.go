package netns

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Floods and false-positive traps. hping3's --flood ignores -c and runs
// until killed, so the floods use -i u100 (one packet per 100 µs asked;
// hping3 reaches about 2 000-10 000 a second here) with a fixed count.
var (
	stepSYNFlood = step{ns: "internet", argv: []string{"hping3", "-S", "-p", "80", "--rand-source", "-c", "3000", "-i", "u100", ServerAddr4.String()}, noReply: true}
	stepUDPFlood = step{ns: "server", argv: []string{"hping3", "--udp", "-p", "9", "-d", "1200", "-c", "3000", "-i", "u100", floodTarget.String()}, noReply: true}
	stepMail     = step{ns: "server", text: fmt.Sprintf("Go: %d TCP connections, one after the other, to port 25 of 93.184.216.1-%d: "+
		"read the 220 banner, send QUIT, read 221, close", mailHosts, mailHosts)}
	stepBulk = step{ns: "internet", argv: []string{"curl", "-sS", "-o", "/dev/null", "--max-time", "60", "--interface", bulkClient.String(),
		fmt.Sprintf("http://%s/bytes/%d", ServerAddr4, bulkSize)}}
	stepResolver = step{ns: "internet", text: fmt.Sprintf("Go: one DNS query (A www.example.org) from each of 93.184.216.1-%d "+
		"to %s:53, where a Go resolver answers", resolverClients, ServerAddr4)}
)

const (
	mailHosts       = 150
	resolverClients = 160
	// bulkSize keeps the file under 1.5 MB at snaplen 128: about 4 100
	// data segments of 144 bytes in the file plus their ACKs.
	bulkSize = 6_000_000
)

var (
	floodTarget = netip.MustParseAddr("93.184.216.20")
	bulkClient  = netip.MustParseAddr("93.184.216.30")
)

var trafficScenarios = map[Kind]scenario{
	SYNFloodIncoming: {
		what: "TCP SYN flood towards the server's web port " + ServerAddr4.String() + ":80 from random spoofed sources: " +
			"3 000 SYNs; the router drops the ones with martian sources (0/8, 127/8, multicast, class E), the server " +
			"answers the rest with SYN-ACKs (SYN cookies) to the spoofed addresses (backscatter: replies, not attempts).",
		tools: []string{"hping3"},
		steps: []step{stepSYNFlood},
		setup: func(t testing.TB, topo *Topology) {
			ServeHTTP(t, topo.Server.Listen(t, "tcp", netip.AddrPortFrom(ServerAddr4, 80).String()))
		},
		run: func(t testing.TB, topo *Topology, _ *Capture) { runStep(t, topo, stepSYNFlood, time.Minute) },
		check: func(s Summary) (e expect) {
			syn := s.Count(ClassTCPSYN, In)
			e.that(syn.Packets >= 2000 && syn.Peers >= 2000, "want >= 2000 SYNs from >= 2000 sources, got %d from %d", syn.Packets, syn.Peers)
			e.that(s.Count(ClassTCPSYNACK, Out).Packets >= 2000, "want >= 2000 SYN-ACKs, got %d", s.Count(ClassTCPSYNACK, Out).Packets)
			return e
		},
	},
	UDPFloodOutgoing: {
		what: "UDP flood from the server towards one internet host, " + floodTarget.String() + ":9 (discard, no reply): " +
			"3 000 datagrams of 1 200 bytes payload (1 242-byte frames) at a high rate.",
		tools: []string{"hping3"},
		steps: []step{stepUDPFlood},
		run:   func(t testing.TB, topo *Topology, _ *Capture) { runStep(t, topo, stepUDPFlood, time.Minute) },
		check: func(s Summary) (e expect) {
			udp := s.Count(ClassUDP, Out)
			e.that(udp.Packets == 3000 && udp.Peers == 1, "want 3000 datagrams to 1 host, got %d to %d", udp.Packets, udp.Peers)
			e.that(udp.Bytes == 3000*1242, "want 3000 frames of 1242 bytes, got %d bytes", udp.Bytes)
			return e
		},
	},
	MailDelivery: {
		what: fmt.Sprintf("False-positive trap: a mail server delivering to %d distinct hosts on port 25 within seconds, "+
			"every connection completed (handshake, SMTP banner, QUIT, close). %d destinations on one port is above the "+
			"netscan threshold, but completed handshakes are not attempts.", mailHosts, mailHosts),
		steps: []step{stepMail},
		setup: func(t testing.TB, topo *Topology) { topo.Reach(t, TargetNet4) },
		run: func(t testing.TB, topo *Topology, _ *Capture) {
			for i := 1; i <= mailHosts; i++ {
				to := netip.AddrPortFrom(nthAddr(TargetNet4, i), 25)
				if err := smtpQuit(topo.Server, to); err != nil {
					t.Fatalf("mail to %s: %v", to, err)
				}
			}
		},
		check: func(s Summary) (e expect) {
			syn, synack := s.Count(ClassTCPSYN, Out), s.Count(ClassTCPSYNACK, In)
			e.that(syn.Peers == mailHosts && syn.Packets == mailHosts, "want %d SYNs to %d hosts, got %d to %d", mailHosts, mailHosts, syn.Packets, syn.Peers)
			e.that(synack.Peers == mailHosts, "want SYN-ACKs from %d hosts, got %d", mailHosts, synack.Peers)
			e.that(s.Count(ClassTCPRST, In).Packets+s.Count(ClassTCPRST, Out).Packets == 0, "want no RST")
			return e
		},
	},
	BulkDownload: {
		what: fmt.Sprintf("False-positive trap: one large HTTP download from the server (%d bytes to %s): high bit/s at low "+
			"packet rate, MTU-sized segments.", bulkSize, bulkClient),
		tools: []string{"curl"},
		steps: []step{stepBulk},
		setup: func(t testing.TB, topo *Topology) {
			ServeHTTP(t, topo.Server.Listen(t, "tcp", netip.AddrPortFrom(ServerAddr4, 80).String()))
		},
		run: func(t testing.TB, topo *Topology, _ *Capture) { runStep(t, topo, stepBulk, time.Minute) },
		check: func(s Summary) (e expect) {
			out := s.Count(ClassTCP, Out)
			e.that(out.Bytes > bulkSize && out.Peers == 1, "want > %d bytes to 1 host, got %d to %d", bulkSize, out.Bytes, out.Peers)
			// At most 1514 bytes a frame: the veth offloads are off.
			e.that(out.Packets >= bulkSize/1514, "want MTU-sized frames: >= %d packets, got %d", bulkSize/1514, out.Packets)
			return e
		},
	},
	DNSResolver: {
		what: fmt.Sprintf("False-positive trap: the server is a DNS resolver answering %d distinct clients. Its answers go to "+
			"%d destinations (above the netscan threshold), but they are replies, not attempts.", resolverClients, resolverClients),
		steps: []step{stepResolver},
		setup: func(t testing.TB, topo *Topology) {
			topo.Reach(t, TargetNet4)
			ServeDNS(t, topo.Server.ListenPacket(t, "udp4", netip.AddrPortFrom(ServerAddr4, 53).String()))
		},
		run: func(t testing.TB, topo *Topology, _ *Capture) {
			server := netip.AddrPortFrom(ServerAddr4, 53)
			for i := 1; i <= resolverClients; i++ {
				dnsLookup(t, topo.Internet, nthAddr(TargetNet4, i), server, uint16(i), "www.example.org.", dnsmessage.TypeA)
			}
		},
		check: func(s Summary) (e expect) {
			q, a := s.Count(ClassUDP, In), s.Count(ClassUDP, Out)
			e.that(q.Peers == resolverClients && a.Peers == resolverClients && a.Packets == resolverClients,
				"want %d queries and answers with %d clients, got %d queries from %d, %d answers to %d",
				resolverClients, resolverClients, q.Packets, q.Peers, a.Packets, a.Peers)
			return e
		},
	},
}

// scenarios are all scenarios by kind.
var scenarios = func() map[Kind]scenario {
	m := map[Kind]scenario{}
	for k, v := range scanScenarios {
		m[k] = v
	}
	for k, v := range trafficScenarios {
		m[k] = v
	}
	return m
}()

// nthAddr returns the n-th address of p (0 is p's first address).
func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a
}

// exchangeTimeout bounds one DNS or SMTP exchange between namespaces
// (they take well under a millisecond).
const exchangeTimeout = 5 * time.Second

// smtpQuit opens a connection from ns to a mail server, reads its banner,
// says QUIT and closes: a complete, polite delivery attempt.
func smtpQuit(ns *NS, to netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(context.Background(), exchangeTimeout)
	defer cancel()
	c, err := ns.Dial(ctx, "tcp", netip.AddrPort{}, to)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(exchangeTimeout))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220") {
		return fmt.Errorf("banner %q: %v", line, err)
	}
	if _, err := c.Write([]byte("QUIT\r\n")); err != nil {
		return err
	}
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "221") {
		return fmt.Errorf("QUIT answer %q: %v", line, err)
	}
	return nil
}

// dnsLookup sends one query from a new UDP socket on from (port chosen by
// the kernel, as a stub resolver does) and waits for the matching answer.
func dnsLookup(t testing.TB, ns *NS, from netip.Addr, server netip.AddrPort, id uint16, name string, typ dnsmessage.Type) {
	t.Helper()
	pc := ns.ListenPacket(t, "udp", netip.AddrPortFrom(from, 0).String())
	defer pc.Close()
	q, err := DNSQuery(id, name, typ)
	if err != nil {
		t.Fatalf("DNS query: %v", err)
	}
	if _, err := pc.WriteTo(q, net.UDPAddrFromAddrPort(server)); err != nil {
		t.Fatalf("DNS query to %s: %v", server, err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(exchangeTimeout))
	buf := make([]byte, 1500)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("DNS answer from %s for %s: %v", server, name, err)
	}
	var p dnsmessage.Parser
	h, err := p.Start(buf[:n])
	if err != nil || h.ID != id || !h.Response {
		t.Fatalf("DNS answer from %s: header %+v, %v; want a response with id %d", server, h, err, id)
	}
}
