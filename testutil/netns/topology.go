package netns

import (
	"fmt"
	"net/netip"
	"testing"
)

// Addresses of the demo topology. The customer server uses documentation
// space (the provider's customer space in our demos); the internet it
// reaches uses example.com's ranges, not documentation ranges, because the
// misconfiguration detector rightly treats documentation and benchmark
// destinations as reserved. None of it leaves the namespaces.
var (
	ServerAddr4 = netip.MustParseAddr("203.0.113.10")
	ServerAddr6 = netip.MustParseAddr("2001:db8:100::10")
	RouterAddr4 = netip.MustParseAddr("203.0.113.1")
	RouterAddr6 = netip.MustParseAddr("2001:db8:100::1")

	// TargetNet4 and TargetNet6 are the internet the server sees: every
	// address in them is local to the Internet namespace, and the router
	// forwards only the live part (LiveNet4, LiveNet6) there. The rest is
	// blackholed by the router: probes to it stay unanswered.
	TargetNet4 = netip.MustParsePrefix("93.184.216.0/24")
	TargetNet6 = netip.MustParsePrefix("2606:2800:220::/48")
	LiveNet4   = netip.MustParsePrefix("93.184.216.0/27")
	LiveNet6   = netip.MustParsePrefix("2606:2800:220:1::/64")

	// ResolverAddr answers DNS (ServeDNS) on UDP port 53.
	ResolverAddr = netip.MustParseAddr("93.184.216.2")
	// WebAddr is where the server downloads from. Every live address
	// serves HTTP on port 80; this one is also an SSH host, so the demo's
	// download adds no peer to the sweep's SYN-ACK senders.
	WebAddr = netip.MustParseAddr("93.184.216.5")
	// TargetHost4 and TargetHost6 are the hosts of the vertical scans.
	TargetHost4 = netip.MustParseAddr("93.184.216.10")
	TargetHost6 = netip.MustParseAddr("2606:2800:220:1::10")

	// Transit between router and internet, never seen on the server's link:
	// shared address space (RFC 6598) and explicit link-local addresses.
	transitRouter4 = netip.MustParsePrefix("100.64.0.1/30")
	transitInet4   = netip.MustParsePrefix("100.64.0.2/30")
	transitRouter6 = netip.MustParsePrefix("fe80::1/64")
	transitInet6   = netip.MustParsePrefix("fe80::2/64")
)

// SSHHosts4 are the live addresses with an open TCP port 22 (the others in
// LiveNet4 answer RST); TargetHost6 has it open too.
var SSHHosts4 = func() []netip.Addr {
	var hs []netip.Addr
	for a := netip.MustParseAddr("93.184.216.1"); a.Compare(TargetHost4) <= 0; a = a.Next() {
		hs = append(hs, a)
	}
	return hs
}()

// Topology is a customer server behind a provider router, and the internet:
//
//	Server ── ServerIf ═ Router ═ Internet
//	203.0.113.10/24            93.184.216.0/24 and 2606:2800:220::/48 local
//	2001:db8:100::10/64        (LiveNet answers, the rest is blackholed)
//
// The internet namespace answers on its live addresses: TCP 22 (SSH banner,
// SSHHosts4 and TargetHost6), 25 (SMTP banner), 80 (HTTP, ServeHTTP), 443
// (accepts and closes) on every address; UDP 53 (ServeDNS) on ResolverAddr;
// UDP 9 discards. Other ports answer RST or ICMP port unreachable, not
// rate-limited: each address there stands for a different real host, and
// one Linux host's per-destination ICMP limit would not apply to them.
type Topology struct {
	Server, Router, Internet *NS
	// ServerIf is the server's uplink in Server: capture here to see the
	// server's traffic in and out.
	ServerIf string
	// routerUp is the router's interface towards Internet.
	routerUp string
}

// NewTopology builds the topology with namespaces <prefix>srv, <prefix>rtr
// and <prefix>inet (prefix like "agh3-") and starts the internet's
// services. Everything is removed at cleanup.
func NewTopology(t testing.TB, prefix string) *Topology {
	t.Helper()
	topo := &Topology{
		Server:   New(t, prefix+"srv"),
		Router:   New(t, prefix+"rtr"),
		Internet: New(t, prefix+"inet"),
	}
	srv, rtr, inet := topo.Server, topo.Router, topo.Internet

	topo.ServerIf, _ = Link(t, srv, rtr,
		[]netip.Prefix{netip.PrefixFrom(ServerAddr4, 24), netip.PrefixFrom(ServerAddr6, 64)},
		[]netip.Prefix{netip.PrefixFrom(RouterAddr4, 24), netip.PrefixFrom(RouterAddr6, 64)})
	var inetIf string
	topo.routerUp, inetIf = Link(t, rtr, inet,
		[]netip.Prefix{transitRouter4, transitRouter6},
		[]netip.Prefix{transitInet4, transitInet6})

	srv.Route(t, netip.MustParsePrefix("0.0.0.0/0"), RouterAddr4)
	srv.Route(t, netip.MustParsePrefix("::/0"), RouterAddr6)

	rtr.Forwarding(t)
	rtr.Route(t, netip.MustParsePrefix("0.0.0.0/0"), transitInet4.Addr())
	rtr.Route(t, netip.MustParsePrefix("::/0"), transitInet6.Addr().WithZone(topo.routerUp))
	rtr.RouteBlackhole(t, TargetNet4)
	rtr.RouteBlackhole(t, TargetNet6)
	topo.Reach(t, LiveNet4)
	topo.Reach(t, LiveNet6)

	inet.Route(t, netip.MustParsePrefix("0.0.0.0/0"), transitRouter4.Addr())
	inet.Route(t, netip.MustParsePrefix("::/0"), transitRouter6.Addr().WithZone(inetIf))
	inet.RouteLocal(t, TargetNet4)
	inet.RouteLocal(t, TargetNet6)
	// IPv4 lets sockets bind to addresses of a local route, IPv6 only to
	// addresses on an interface unless nonlocal binds are allowed.
	inet.Sysctl(t, "net.ipv6.ip_nonlocal_bind", "1")
	inet.Sysctl(t, "net.ipv4.icmp_ratemask", "0")
	inet.Sysctl(t, "net.ipv6.icmp.ratelimit", "0")

	for _, a := range append(SSHHosts4, TargetHost6) {
		ServeBanner(t, inet.Listen(t, "tcp", netip.AddrPortFrom(a, 22).String()), "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3")
	}
	ServeBanner(t, inet.Listen(t, "tcp", ":25"), "220 mx.example.net ESMTP")
	ServeHTTP(t, inet.Listen(t, "tcp", ":80"))
	ServeClose(t, inet.Listen(t, "tcp", ":443"))
	ServeDNS(t, inet.ListenPacket(t, "udp4", netip.AddrPortFrom(ResolverAddr, 53).String()))
	inet.ListenPacket(t, "udp", ":9") // never read: the discard service
	return topo
}

// Reach makes p, inside TargetNet4 or TargetNet6, answer: the router
// forwards it to the internet instead of blackholing it.
func (topo *Topology) Reach(t testing.TB, p netip.Prefix) {
	t.Helper()
	if !TargetNet4.Overlaps(p) && !TargetNet6.Overlaps(p) {
		t.Fatalf("Reach(%s): not in %s or %s", p, TargetNet4, TargetNet6)
	}
	if p.Addr().Is4() {
		topo.Router.Route(t, p, transitInet4.Addr())
		return
	}
	topo.Router.Route(t, p, transitInet6.Addr().WithZone(topo.routerUp))
}

// String describes the topology for failure messages.
func (topo *Topology) String() string {
	return fmt.Sprintf("server %s (%s) - router %s - internet %s",
		topo.Server.Name, topo.ServerIf, topo.Router.Name, topo.Internet.Name)
}
