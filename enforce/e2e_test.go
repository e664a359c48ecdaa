package enforce_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"abuseguard"
	"abuseguard/enforce"
	"abuseguard/enforce/bgp"
	"abuseguard/testutil/bird"
	"abuseguard/testutil/netns"
)

// The end-to-end tests build, in network namespaces,
//
//	inet (10.71.1.2, .3) ── edge (BIRD) ── srv (10.71.2.2)
//	                          │ 169.254.N.2
//	                          │ veth
//	                        root namespace: abuseguard's speaker, 169.254.N.1
//
// The speaker runs in the test process, which stays in the root namespace:
// GoBGP dials from goroutines it starts itself, so entering a namespace
// with setns on one locked thread would not cover them. Instead the edge
// namespace gets a veth whose other end, with the speaker's address, is in
// the root namespace: the speaker dials the router exactly as it would in
// production. All traffic stays on links this test created.

// Addresses of the topology.
var (
	inetHost   = netip.MustParseAddr("10.71.1.2")
	accessHost = netip.MustParseAddr("10.71.1.3")
	edgeInet   = netip.MustParseAddr("10.71.1.1")
	server4    = netip.MustParseAddr("10.71.2.2")
	inetHost6  = netip.MustParseAddr("fd71:1::2")
	access6    = netip.MustParseAddr("fd71:1::3")
	server6    = netip.MustParseAddr("fd71:2::2")
)

type topology struct {
	inet, edge, srv *netns.NS
	bird            *bird.Router
	speaker, router netip.Addr // the control link's two ends
}

// newTopology builds the namespaces and starts BIRD in the edge.
func newTopology(t testing.TB, password string) *topology {
	t.Helper()
	needRoot(t, "bird", "birdc", "ping", "traceroute", "nft")
	tp := &topology{inet: newNS(t, "inet"), edge: newNS(t, "edge"), srv: newNS(t, "srv")}
	netns.Link(t, tp.inet, tp.edge, prefixes("10.71.1.2/24", "10.71.1.3/24", "fd71:1::2/64", "fd71:1::3/64"), prefixes("10.71.1.1/24", "fd71:1::1/64"))
	netns.Link(t, tp.srv, tp.edge, prefixes("10.71.2.2/24", "fd71:2::2/64"), prefixes("10.71.2.1/24", "fd71:2::1/64"))
	tp.speaker, tp.router = bird.ControlLink(t, tp.edge)
	tp.inet.Route(t, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParseAddr("10.71.1.1"))
	tp.inet.Route(t, netip.MustParsePrefix("::/0"), netip.MustParseAddr("fd71:1::1"))
	tp.srv.Route(t, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParseAddr("10.71.2.1"))
	tp.srv.Route(t, netip.MustParsePrefix("::/0"), netip.MustParseAddr("fd71:2::1"))
	tp.edge.Forwarding(t)
	tp.bird = bird.Start(t, tp.edge, bird.Config{Local: tp.router, Speaker: tp.speaker, Password: password})
	return tp
}

// speakerConfig is the speaker's configuration for the topology.
func (tp *topology) speakerConfig() bgp.Configuration {
	c := bgp.DefaultConfiguration()
	c.Enabled = true
	c.LocalAS = 65001
	c.RouterID = tp.speaker
	c.Neighbors = []bgp.Neighbor{{
		Address: tp.router, AS: 65000, LocalAddress: tp.speaker, Description: "edge",
		HoldTime: 9 * time.Second, ConnectRetry: 2 * time.Second,
	}}
	return c
}

// abuseguard is the enforcement part of the process: the BGP enforcer
// and the reconciler over an in-memory store, started in order and
// stopped in reverse like cmd does.
type abuseguardProc struct {
	speaker *bgp.Enforcer
	rec     *enforce.Reconciler
	stopped bool
}

func startAbuseguard(t testing.TB, cfg bgp.Configuration, store abuseguard.BlockService) *abuseguardProc {
	t.Helper()
	sp, err := bgp.New(cfg, bgp.Dependencies{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("bgp.New() error: %v", err)
	}
	if err := sp.Start(); err != nil {
		t.Fatalf("bgp Start() error: %v", err)
	}
	rc := enforce.DefaultConfiguration()
	rec, err := enforce.New(rc, enforce.Dependencies{Blocks: store, Enforcers: []enforce.Enforcer{sp}, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("enforce.New() error: %v", err)
	}
	if err := rec.Start(); err != nil {
		t.Fatalf("reconciler Start() error: %v", err)
	}
	p := &abuseguardProc{speaker: sp, rec: rec}
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *abuseguardProc) stop(t testing.TB) {
	if p.stopped {
		return
	}
	p.stopped = true
	p.rec.Stop()
	if err := p.speaker.Stop(); err != nil {
		t.Errorf("bgp Stop() error: %v", err)
	}
}

// waitSession waits until both ends see the session established.
func waitSession(t testing.TB, tp *topology, ag *abuseguardProc) {
	t.Helper()
	waitFor(t, 20*time.Second, "session established", func() (bool, string) {
		ns, err := ag.speaker.Neighbors(t.Context())
		if err != nil || len(ns) == 0 {
			return false, fmt.Sprint(err)
		}
		return ns[0].State == "established" && tp.bird.Established(), ns[0].State
	})
}

// waitStatus waits until the store shows the case in state for bgp.
func waitStatus(t *testing.T, store *memBlocks, caseID string, state abuseguard.EnforceState) abuseguard.BlockStatus {
	t.Helper()
	var st abuseguard.BlockStatus
	waitFor(t, 20*time.Second, fmt.Sprintf("%s %s", caseID, state), func() (bool, string) {
		var ok bool
		st, ok = store.status(caseID, bgp.Name)
		return ok && st.State == state, fmt.Sprintf("%+v", st)
	})
	return st
}

// reach reports whether from can ping to (one packet, 1 s) and open a
// TCP connection to port 8080 on it (within 1 s), from the source address
// src.
func reach(t *testing.T, from, to *netns.NS, src, dst netip.Addr) (ping, tcp bool) {
	t.Helper()
	ping = succeeds(from, "ping", "-n", "-c", "1", "-W", "1", "-I", src.String(), dst.String())
	listen(t, to, dst)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	c, err := from.Dial(ctx, "tcp", netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 8080))
	if err == nil {
		c.Close()
	}
	return ping, err == nil
}

// listeners holds the TCP listeners reach opened, by namespace and
// address: one per pair for the whole test, closed at its end.
var listeners sync.Map

// listen makes ns accept TCP connections on addr:8080.
func listen(t *testing.T, ns *netns.NS, addr netip.Addr) {
	t.Helper()
	key := ns.Name + "|" + addr.String()
	if _, ok := listeners.Load(key); ok {
		return
	}
	ln := ns.Listen(t, "tcp", netip.AddrPortFrom(addr, 8080).String())
	netns.ServeClose(t, ln)
	listeners.Store(key, ln)
}

func TestE2EBlackholeIncomingFlood(t *testing.T) {
	tp := newTopology(t, "")
	store := newMemBlocks()
	ag := startAbuseguard(t, tp.speakerConfig(), store)
	waitFor(t, 20*time.Second, "session up", func() (bool, string) { return tp.bird.Established(), "" })

	if ping, tcp := reach(t, tp.inet, tp.srv, inetHost, server4); !ping || !tcp {
		t.Fatalf("before the block: ping %v, tcp %v; want both to reach the server", ping, tcp)
	}

	store.put(abuseguard.Block{CaseID: "AG-F1", Address: server4, Scope: abuseguard.ScopeInbound, Reason: abuseguard.ReasonIncomingFlood, Revision: 1})
	store.put(abuseguard.Block{CaseID: "AG-F2", Address: server6, Scope: abuseguard.ScopeInbound, Reason: abuseguard.ReasonIncomingFlood, Revision: 1})
	ag.rec.Trigger()

	st := waitStatus(t, store, "AG-F1", abuseguard.EnforceApplied)
	if st.Detail != "rtbh to 1 of 1 neighbors" {
		t.Fatalf("status detail = %q, want the method and neighbors", st.Detail)
	}
	waitFor(t, 10*time.Second, "routes in BIRD", func() (bool, string) {
		got := tp.bird.Nets(t, bird.Master4)
		return slices.Equal(got, []string{"10.71.2.2/32"}), fmt.Sprint(got)
	})
	// The route became a prohibit route through its next hop, and carries
	// BLACKHOLE and NO_EXPORT.
	route, _ := tp.bird.Route(t, netip.MustParsePrefix("10.71.2.2/32"))
	got := []string{route.Kind, route.Attrs["BGP.next_hop"]}
	if diff := cmp.Diff(append(got, route.Communities()...), []string{"prohibited", "192.0.2.1", "(65535,666)", "(65535,65281)"}); diff != "" {
		t.Fatalf("BIRD's route for 10.71.2.2/32: kind, next hop, communities (-got, +want):\n%s", diff)
	}
	waitFor(t, 10*time.Second, "kernel routes", func() (bool, string) {
		k4 := mustOut(t, tp.edge, "ip", "route", "show", "10.71.2.2/32")
		k6 := mustOut(t, tp.edge, "ip", "-6", "route", "show", "fd71:2::2/128")
		return strings.HasPrefix(k4, "prohibit 10.71.2.2") && strings.HasPrefix(k6, "prohibit fd71:2::2"), k4 + k6
	})
	// What the customer sees (DESIGN.md §1): the trace ends at the edge
	// router, which answers "administratively prohibited" (!X). Checked
	// before the reachability probes: Linux answers at most one ICMP error
	// per second per destination host after a burst of 6
	// (net.ipv4.icmp_ratelimit), and traceroute sends 16 probes at once,
	// so right after ping and TCP attempts every probe can go unanswered.
	// One probe at a time (-N 1), retried while the bucket refills.
	var trace string
	waitFor(t, 10*time.Second, "traceroute ends at the edge with !X", func() (bool, string) {
		trace, _ = out(tp.inet, "traceroute", "-n", "-N", "1", "-q", "1", "-w", "1", "-m", "5", server4.String())
		lines := strings.Split(strings.TrimSpace(trace), "\n")
		last := lines[len(lines)-1]
		return len(lines) == 2 && strings.Contains(last, edgeInet.String()) && strings.Contains(last, "!X"), trace
	})
	t.Logf("traceroute while blocked:\n%s", trace)

	if ping, tcp := reach(t, tp.inet, tp.srv, inetHost, server4); ping || tcp {
		t.Fatalf("while blocked: ping %v, tcp %v; want neither to reach the server", ping, tcp)
	}
	if ping6 := succeeds(tp.inet, "ping", "-n", "-c", "1", "-W", "1", server6.String()); ping6 {
		t.Fatalf("while blocked: IPv6 ping reached the server")
	}

	store.remove("AG-F1")
	store.remove("AG-F2")
	ag.rec.Trigger()
	waitFor(t, 10*time.Second, "routes withdrawn from BIRD", func() (bool, string) {
		got := tp.bird.Nets(t, bird.Master4)
		got6 := tp.bird.Nets(t, bird.Master6)
		return len(got) == 0 && len(got6) == 0, fmt.Sprint(got, got6)
	})
	if ping, tcp := reach(t, tp.inet, tp.srv, inetHost, server4); !ping || !tcp {
		t.Fatalf("after lifting: ping %v, tcp %v; want both to reach the server", ping, tcp)
	}
}

func TestE2EFlowSpecWithAccessIP(t *testing.T) {
	tp := newTopology(t, "")
	store := newMemBlocks()
	ag := startAbuseguard(t, tp.speakerConfig(), store)
	waitFor(t, 20*time.Second, "session up", func() (bool, string) { return tp.bird.Established(), "" })

	store.put(abuseguard.Block{CaseID: "AG-N1", Address: server4, Scope: abuseguard.ScopeBoth, Reason: abuseguard.ReasonNetscan, AccessIP: accessHost, Revision: 1})
	store.put(abuseguard.Block{CaseID: "AG-N2", Address: server6, Scope: abuseguard.ScopeBoth, Reason: abuseguard.ReasonNetscan, AccessIP: access6, Revision: 1})
	ag.rec.Trigger()
	waitStatus(t, store, "AG-N1", abuseguard.EnforceApplied)
	waitStatus(t, store, "AG-N2", abuseguard.EnforceApplied)

	want4 := []string{
		"flow4 { dst 10.71.1.3/32; src 10.71.2.2/32; }",
		"flow4 { dst 10.71.2.2/32; src 10.71.1.3/32; }",
		"flow4 { dst 10.71.2.2/32; }",
		"flow4 { src 10.71.2.2/32; }",
	}
	want6 := []string{
		"flow6 { dst fd71:1::3/128; src fd71:2::2/128; }",
		"flow6 { dst fd71:2::2/128; src fd71:1::3/128; }",
		"flow6 { dst fd71:2::2/128; }",
		"flow6 { src fd71:2::2/128; }",
	}
	waitFor(t, 10*time.Second, "FlowSpec rules in BIRD", func() (bool, string) {
		got4, got6 := tp.bird.Nets(t, bird.Flow4), tp.bird.Nets(t, bird.Flow6)
		return slices.Equal(got4, want4) && slices.Equal(got6, want6), cmp.Diff(got4, want4) + cmp.Diff(got6, want6)
	})
	t.Logf("birdc show route table flowtab4 all:\n%s", tp.bird.MustBirdc(t, "show", "route", "table", bird.Flow4, "all"))

	// BIRD keeps FlowSpec in its tables without programming Linux:
	// enforce the received rules in the edge the way a router would.
	t.Logf("FlowSpec enforced in the edge:\n%s", tp.bird.EnforceFlowSpec(t))

	checks := []struct {
		name      string
		from, to  *netns.NS
		src, dst  netip.Addr
		wantReach bool
	}{
		{"access IP to server", tp.inet, tp.srv, accessHost, server4, true},
		{"other host to server", tp.inet, tp.srv, inetHost, server4, false},
		{"server to access IP", tp.srv, tp.inet, server4, accessHost, true},
		{"server to other host", tp.srv, tp.inet, server4, inetHost, false},
		{"IPv6 access IP to server", tp.inet, tp.srv, access6, server6, true},
		{"IPv6 other host to server", tp.inet, tp.srv, inetHost6, server6, false},
		{"IPv6 server to access IP", tp.srv, tp.inet, server6, access6, true},
		{"IPv6 server to other host", tp.srv, tp.inet, server6, inetHost6, false},
	}
	for _, c := range checks {
		if ping, tcp := reach(t, c.from, c.to, c.src, c.dst); ping != c.wantReach || tcp != c.wantReach {
			t.Errorf("%s: ping %v, tcp %v; want %v", c.name, ping, tcp, c.wantReach)
		}
	}

	// Clearing the access IP withdraws the pair rules: nobody gets in.
	store.put(abuseguard.Block{CaseID: "AG-N1", Address: server4, Scope: abuseguard.ScopeBoth, Reason: abuseguard.ReasonNetscan, Revision: 2})
	ag.rec.Trigger()
	waitFor(t, 10*time.Second, "pair rules withdrawn", func() (bool, string) {
		got := tp.bird.Nets(t, bird.Flow4)
		return len(got) == 2, fmt.Sprint(got)
	})
	tp.bird.EnforceFlowSpec(t)
	if ping, tcp := reach(t, tp.inet, tp.srv, accessHost, server4); ping || tcp {
		t.Fatalf("after clearing the access IP: ping %v, tcp %v; want neither", ping, tcp)
	}
}

func TestE2ERestartsAndSessionLoss(t *testing.T) {
	tp := newTopology(t, "s3cret-md5")
	cfg := tp.speakerConfig()
	cfg.Neighbors[0].Password = "s3cret-md5"
	store := newMemBlocks(
		abuseguard.Block{CaseID: "AG-R1", Address: netip.MustParseAddr("10.71.2.2"), Scope: abuseguard.ScopeInbound, Revision: 1},
		abuseguard.Block{CaseID: "AG-R2", Address: netip.MustParseAddr("10.71.2.3"), Scope: abuseguard.ScopeInbound, Revision: 1},
		abuseguard.Block{CaseID: "AG-R3", Address: netip.MustParseAddr("fd71:2::3"), Scope: abuseguard.ScopeInbound, Revision: 1},
		abuseguard.Block{CaseID: "AG-R4", Address: netip.MustParseAddr("10.71.2.4"), Scope: abuseguard.ScopeBoth, AccessIP: accessHost, Revision: 1},
	)
	want := map[string][]string{
		bird.Master4: {"10.71.2.2/32", "10.71.2.3/32"},
		bird.Master6: {"fd71:2::3/128"},
		bird.Flow4:   {"flow4 { dst 10.71.1.3/32; src 10.71.2.4/32; }", "flow4 { dst 10.71.2.4/32; src 10.71.1.3/32; }", "flow4 { dst 10.71.2.4/32; }", "flow4 { src 10.71.2.4/32; }"},
	}
	routesInBird := func(want map[string][]string) func() (bool, string) {
		return func() (bool, string) {
			diff := cmp.Diff(tp.bird.AllNets(t), want)
			return diff == "", diff
		}
	}

	ag := startAbuseguard(t, cfg, store)
	waitFor(t, 20*time.Second, "routes after start (MD5 session)", routesInBird(want))

	// abuseguard restarts with the blocks active. With graceful restart
	// (the default) BIRD keeps the routes meanwhile; the new speaker
	// re-announces everything and BIRD ends with the same routes, one each.
	ag.stop(t)
	if ok, diff := routesInBird(want)(); !ok {
		t.Fatalf("BIRD dropped routes while abuseguard was stopped (-got, +want):\n%s", diff)
	}
	ag = startAbuseguard(t, cfg, store)
	waitSession(t, tp, ag)
	waitFor(t, 20*time.Second, "routes after abuseguard restart", routesInBird(want))

	// A block lifted while abuseguard was down: BIRD drops its stale
	// route once the restarted speaker has sent End-of-RIB.
	ag.stop(t)
	store.remove("AG-R2")
	ag = startAbuseguard(t, cfg, store)
	want[bird.Master4] = []string{"10.71.2.2/32"}
	waitFor(t, 20*time.Second, "stale route of a lifted block flushed", routesInBird(want))

	// Without graceful restart a stop withdraws everything at once, and
	// a start announces everything again.
	ag.stop(t)
	cfg.GracefulRestart.Enabled = false
	ag = startAbuseguard(t, cfg, store)
	waitSession(t, tp, ag) // until then BIRD shows the stale routes
	waitFor(t, 20*time.Second, "routes without graceful restart", routesInBird(want))
	ag.stop(t)
	none := map[string][]string{}
	waitFor(t, 10*time.Second, "routes withdrawn by a stop without graceful restart", routesInBird(none))
	ag = startAbuseguard(t, cfg, store)
	waitFor(t, 20*time.Second, "routes after restart without graceful restart", routesInBird(want))

	// BIRD restarts: the routes come back when the session does.
	tp.bird.Stop(t)
	tp.bird.Start(t)
	waitFor(t, 30*time.Second, "routes after BIRD restart", routesInBird(want))

	// A block made while the session is down is pending, and announced
	// when the session comes back.
	tp.bird.Stop(t)
	waitStatus(t, store, "AG-R1", abuseguard.EnforcePending)
	store.put(abuseguard.Block{CaseID: "AG-R5", Address: netip.MustParseAddr("10.71.2.5"), Scope: abuseguard.ScopeInbound, Revision: 1})
	ag.rec.Trigger()
	st := waitStatus(t, store, "AG-R5", abuseguard.EnforcePending)
	if st.Detail != "rtbh: no established session for ipv4-unicast" {
		t.Fatalf("pending detail = %q", st.Detail)
	}
	tp.bird.Start(t)
	want[bird.Master4] = []string{"10.71.2.2/32", "10.71.2.5/32"}
	waitFor(t, 30*time.Second, "block made while down is announced", routesInBird(want))
	waitStatus(t, store, "AG-R5", abuseguard.EnforceApplied)

	ns, err := ag.speaker.Neighbors(t.Context())
	if err != nil {
		t.Fatalf("Neighbors() error: %v", err)
	}
	if len(ns) != 1 || ns[0].State != "established" || ns[0].Description != "edge" || ns[0].Advertised != 7 || len(ns[0].Families) != 4 {
		t.Fatalf("Neighbors() = %+v, want the edge established with 7 routes over 4 families", ns)
	}
}

// TestE2ERouterConnectsToUs configures the speaker to listen and wait
// (passive), as for routers that must open the session themselves: BIRD
// dials the speaker's address on port 179.
func TestE2ERouterConnectsToUs(t *testing.T) {
	tp := newTopology(t, "")
	cfg := tp.speakerConfig()
	cfg.ListenPort = 179
	cfg.ListenAddresses = []netip.Addr{tp.speaker}
	cfg.Neighbors[0].Passive = true
	store := newMemBlocks(abuseguard.Block{CaseID: "AG-P1", Address: server4, Scope: abuseguard.ScopeInbound, Revision: 1})
	startAbuseguard(t, cfg, store)
	waitFor(t, 30*time.Second, "route via the session BIRD opened", func() (bool, string) {
		got := tp.bird.Nets(t, bird.Master4)
		return slices.Equal(got, []string{"10.71.2.2/32"}), fmt.Sprint(got)
	})
	// The edge's end of the session goes to our port 179: BIRD dialed.
	if ss := mustOut(t, tp.edge, "ss", "-tn", "state", "established"); !strings.Contains(ss, tp.speaker.String()+":179") {
		t.Fatalf("the edge's session does not go to the speaker's port 179:\n%s", ss)
	}
}
