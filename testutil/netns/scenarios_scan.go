package netns

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Command lines of the scans, all run by the server. -T4 is nmap's
// "aggressive" timing, the usual choice of a scanner in a fast network; the
// probes are the same as with the default, only the waiting is shorter.
var (
	stepHorizontalSYN = step{ns: "server", argv: []string{"nmap", "-sS", "-Pn", "-n", "-p", "22", "-T4", TargetNet4.String()}}
	stepVerticalSYN   = step{ns: "server", argv: []string{"nmap", "-sS", "-Pn", "-n", "-p", "1-1024", "-T4", TargetHost4.String()}}
	// One retry instead of nmap's adaptive up to 10: silent hosts would
	// otherwise keep the sweep going for a minute without adding anything.
	stepUDPSweep = step{ns: "server", argv: []string{"nmap", "-sU", "-Pn", "-n", "-p", "161", "-T4", "--max-retries", "1", TargetNet4.String()}}
	stepUDPPorts = step{ns: "server", argv: []string{"nmap", "-sU", "-Pn", "-n", "-p", "53,67,69,123,137,161,500,514,1900,5353", "-T4", ResolverAddr.String()}}
	stepICMP     = step{ns: "server", argv: []string{"nmap", "-sn", "-PE", "-n", "-T4", TargetNet4.String()}}
	stepIPv6     = step{ns: "server", argv: []string{"nmap", "-6", "-sS", "-Pn", "-n", "-p", "1-1024", "-T4", TargetHost6.String()}}
	// One probe a second and no retries: 150 destinations over 150 s, at
	// most about 60 in any 60 s, below the 100 of the netscan default.
	stepSlow = step{ns: "server", argv: []string{"nmap", "-sS", "-Pn", "-n", "-p", "22", "--max-rate", "1", "--max-retries", "0", "93.184.216.1-150"}}

	stepDemoDNS1  = step{ns: "server", text: "Go: a DNS query (A example.com) to " + ResolverAddr.String() + ":53, answered"}
	stepDemoSweep = step{ns: "server", argv: stepHorizontalSYN.argv, bg: true}
	stepDemoDNS   = step{ns: "server", text: "Go, once tcpdump counted 100 packets: 3 more A queries, each from a new UDP socket, answered"}
	stepDemoDNS2  = step{ns: "server", text: "Go: an AAAA query for example.com, answered; then wait for nmap"}
	stepDemoGet   = step{ns: "server", argv: []string{"curl", "-sS", "-o", "/dev/null", "--max-time", "20", "http://" + WebAddr.String() + "/bytes/60000"}}
)

// liveRST is how many live addresses answer RST on port 22: LiveNet4 has
// 32 addresses, SSHHosts4 of them listen.
var liveRST = 1<<(32-LiveNet4.Bits()) - len(SSHHosts4)

// liveHosts4 is the number of addresses in LiveNet4.
var liveHosts4 = 1 << (32 - LiveNet4.Bits())

var scanTimeout = 2 * time.Minute

// horizontalChecks are what a /24 sweep of port 22 must show.
// ports is 1, or 2 with the demo's download from port 80.
func horizontalChecks(e *expect, s Summary, ports int) {
	syn := s.Count(ClassTCPSYN, Out)
	e.that(syn.Peers == 256 && syn.PeerPorts == ports, "want SYNs to 256 hosts on %d ports, got %d hosts, %d ports", ports, syn.Peers, syn.PeerPorts)
	e.that(s.Count(ClassTCPSYNACK, In).Peers == len(SSHHosts4), "want SYN-ACKs from the %d SSH hosts, got %d", len(SSHHosts4), s.Count(ClassTCPSYNACK, In).Peers)
	e.that(s.Count(ClassTCPRST, In).Peers == liveRST, "want RSTs from %d live hosts, got %d", liveRST, s.Count(ClassTCPRST, In).Peers)
}

var scanScenarios = map[Kind]scenario{
	NetscanDemo: {
		what: "The file a newcomer replays: a horizontal TCP SYN sweep of port 22 over " + TargetNet4.String() +
			" by " + ServerAddr4.String() + ", mixed with the same server's benign traffic: DNS queries answered" +
			" by a resolver and an HTTP download of 60 000 bytes, both during the sweep.",
		tools: []string{"nmap", "curl"},
		steps: []step{stepDemoDNS1, stepDemoSweep, stepDemoDNS, stepDemoGet, stepDemoDNS2},
		run: func(t testing.TB, topo *Topology, c *Capture) {
			resolver := netip.AddrPortFrom(ResolverAddr, 53)
			dnsLookup(t, topo.Server, ServerAddr4, resolver, 0x1000, "example.com.", dnsmessage.TypeA)
			nmap := topo.Server.Start(t, stepDemoSweep.argv[0], stepDemoSweep.argv[1:]...)
			// The rest once the sweep is on the wire (its first burst
			// is 256 SYNs), so benign and scan packets interleave.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := WaitFor(ctx, func() bool {
				st, err := c.Stats()
				return err == nil && st.Captured >= 100
			})
			if err != nil {
				t.Fatalf("nmap sweep not on the wire: %v", err)
			}
			for i, name := range []string{"www.example.com.", "deb.debian.org.", "security.debian.org."} {
				dnsLookup(t, topo.Server, ServerAddr4, resolver, uint16(0x1001+i), name, dnsmessage.TypeA)
			}
			runStep(t, topo, stepDemoGet, time.Minute)
			dnsLookup(t, topo.Server, ServerAddr4, resolver, 0x2000, "example.com.", dnsmessage.TypeAAAA)
			waitProc(t, nmap, scanTimeout)
		},
		check: func(s Summary) (e expect) {
			horizontalChecks(&e, s, 2)
			e.that(s.Count(ClassUDP, Out).Packets == 5 && s.Count(ClassUDP, In).Packets == 5, "want 5 DNS queries and 5 answers, got %d and %d",
				s.Count(ClassUDP, Out).Packets, s.Count(ClassUDP, In).Packets)
			e.that(s.Count(ClassTCP, In).Bytes > 60000, "want the 60 000 byte download, got %d bytes in", s.Count(ClassTCP, In).Bytes)
			return e
		},
	},
	HorizontalSYN: {
		what: "Horizontal TCP SYN scan: one port (22) on every address of " + TargetNet4.String() + ". " +
			"Of the 32 live addresses 10 answer SYN-ACK (nmap's kernel then sends RST), 22 answer RST; the rest stay silent, " +
			"so nmap probes them twice.",
		tools: []string{"nmap"},
		steps: []step{stepHorizontalSYN},
		run:   func(t testing.TB, topo *Topology, _ *Capture) { runStep(t, topo, stepHorizontalSYN, scanTimeout) },
		check: func(s Summary) (e expect) { horizontalChecks(&e, s, 1); return e },
	},
	VerticalSYN: {
		what:  "Vertical TCP SYN scan: ports 1-1024 of one host, " + TargetHost4.String() + "; 22, 25, 80 and 443 are open, the others answer RST.",
		tools: []string{"nmap"},
		steps: []step{stepVerticalSYN},
		run:   func(t testing.TB, topo *Topology, _ *Capture) { runStep(t, topo, stepVerticalSYN, scanTimeout) },
		check: func(s Summary) (e expect) {
			syn := s.Count(ClassTCPSYN, Out)
			e.that(syn.Peers == 1 && syn.PeerPorts == 1024, "want SYNs to 1 host on 1024 ports, got %d hosts, %d ports", syn.Peers, syn.PeerPorts)
			e.that(s.Count(ClassTCPSYNACK, In).PeerPorts == 4, "want SYN-ACKs from 4 open ports, got %d", s.Count(ClassTCPSYNACK, In).PeerPorts)
			return e
		},
	},
	UDPScan: {
		what: "UDP scans: port 161 (SNMP) on every address of " + TargetNet4.String() + ", then 10 common UDP ports of " +
			ResolverAddr.String() + " (53 open: a DNS answer; the rest ICMP port unreachable). Live hosts answer ICMP port unreachable, the rest stay silent.",
		tools: []string{"nmap"},
		steps: []step{stepUDPSweep, stepUDPPorts},
		run: func(t testing.TB, topo *Topology, _ *Capture) {
			runStep(t, topo, stepUDPSweep, scanTimeout)
			runStep(t, topo, stepUDPPorts, scanTimeout)
		},
		check: func(s Summary) (e expect) {
			udp := s.Count(ClassUDP, Out)
			e.that(udp.Peers == 256 && udp.PeerPorts == 10, "want UDP to 256 hosts and 10 ports, got %d hosts, %d ports", udp.Peers, udp.PeerPorts)
			e.that(s.Count(ClassUnreachable, In).Peers == liveHosts4, "want port unreachable from %d live hosts, got %d", liveHosts4, s.Count(ClassUnreachable, In).Peers)
			e.that(s.Count(ClassUDP, In).Packets >= 1, "want the DNS answer from port 53")
			return e
		},
	},
	ICMPSweep: {
		what:  "ICMP echo sweep (ping scan) of " + TargetNet4.String() + ": the 32 live addresses reply, the rest stay silent.",
		tools: []string{"nmap"},
		steps: []step{stepICMP},
		run:   func(t testing.TB, topo *Topology, _ *Capture) { runStep(t, topo, stepICMP, scanTimeout) },
		check: func(s Summary) (e expect) {
			e.that(s.Count(ClassEcho, Out).Peers == 256, "want echo requests to 256 hosts, got %d", s.Count(ClassEcho, Out).Peers)
			e.that(s.Count(ClassEchoReply, In).Peers == liveHosts4, "want echo replies from %d hosts, got %d", liveHosts4, s.Count(ClassEchoReply, In).Peers)
			return e
		},
	},
	IPv6Vertical: {
		what:  "IPv6 vertical TCP SYN scan: ports 1-1024 of " + TargetHost6.String() + " from " + ServerAddr6.String() + "; 22, 25, 80 and 443 are open.",
		tools: []string{"nmap"},
		steps: []step{stepIPv6},
		run:   func(t testing.TB, topo *Topology, _ *Capture) { runStep(t, topo, stepIPv6, scanTimeout) },
		check: func(s Summary) (e expect) {
			syn := s.Count(ClassTCPSYN, Out)
			e.that(syn.Peers == 1 && syn.PeerPorts == 1024, "want SYNs to 1 host on 1024 ports, got %d hosts, %d ports", syn.Peers, syn.PeerPorts)
			e.that(s.Count(ClassTCPSYNACK, In).PeerPorts == 4, "want SYN-ACKs from 4 open ports, got %d", s.Count(ClassTCPSYNACK, In).PeerPorts)
			return e
		},
	},
	SlowScan: {
		what: "Slow horizontal SYN scan of port 22 over 150 hosts (93.184.216.1-150) at one probe a second: 150 destinations, " +
			"but at most about 60 in any 60 s, below the default threshold of 100. A detector must not fire; one with a longer window may.",
		tools: []string{"nmap"},
		steps: []step{stepSlow},
		run:   func(t testing.TB, topo *Topology, _ *Capture) { runStep(t, topo, stepSlow, 5*time.Minute) },
		check: func(s Summary) (e expect) {
			syn := s.Count(ClassTCPSYN, Out)
			e.that(syn.Peers == 150, "want SYNs to 150 hosts, got %d", syn.Peers)
			e.that(syn.MaxPeers60s < 100, "want fewer than 100 hosts in any 60 s, got %d", syn.MaxPeers60s)
			return e
		},
	},
}
