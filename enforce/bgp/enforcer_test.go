package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"abuseguard"
)

// These tests run the enforcer against a second GoBGP instance on
// loopback playing the edge router: a real BGP session, no root needed.
// The BIRD tests in ../e2e_test.go check the same against a real router.

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// freePort returns a TCP port that was free a moment ago on 127.0.0.1.
func freePort(t testing.TB) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// router is a GoBGP instance standing in for an edge router: AS 65000,
// passive, accepting every family abuseguard sends.
type router struct {
	srv  *server.BgpServer
	port uint16
}

func startRouter(t *testing.T, speakerAS uint32) *router {
	t.Helper()
	r := &router{srv: server.NewBgpServer(server.LoggerOption(testLogger(t).With("side", "router"), nil)), port: freePort(t)}
	go r.srv.Serve()
	t.Cleanup(r.srv.Stop)
	ctx := context.Background()
	if err := r.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 65000, RouterId: "10.255.0.1", ListenPort: int32(r.port), ListenAddresses: []string{"127.0.0.1"},
	}}); err != nil {
		t.Fatalf("router StartBgp: %v", err)
	}
	peer := apiPeer(Neighbor{Address: netip.MustParseAddr("127.0.0.1"), AS: speakerAS, Families: allFamilies, HoldTime: 9 * time.Second, ConnectRetry: 2 * time.Second}, GracefulRestart{})
	peer.Transport.PassiveMode = true
	if err := r.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peer}); err != nil {
		t.Fatalf("router AddPeer: %v", err)
	}
	return r
}

// routes returns what the router received, as "family nlri fingerprint".
func (r *router) routes(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, f := range families {
		err := r.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_ADJ_IN, Name: "127.0.0.1", Family: f}, func(nlri bgp.NLRI, paths []*apiutil.Path) {
			for _, p := range paths {
				out = append(out, f.String()+" "+nlri.String()+" "+describeAttrs(f, p.Attrs))
			}
		})
		if err != nil {
			t.Fatalf("router ListPath: %v", err)
		}
	}
	slices.Sort(out)
	return out
}

// waitRoutes polls the router until it holds want, for at most 10 s.
func (r *router) waitRoutes(t *testing.T, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.routes(t)
		diff := cmp.Diff(got, want)
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("router routes after 10s (-got, +want):\n%s", diff)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func speakerConfig(port uint16) Configuration {
	c := DefaultConfiguration()
	c.Enabled = true
	c.LocalAS = 65001
	c.RouterID = netip.MustParseAddr("10.255.0.2")
	c.Neighbors = []Neighbor{{Address: netip.MustParseAddr("127.0.0.1"), AS: 65000, Port: port, HoldTime: 9 * time.Second, ConnectRetry: 2 * time.Second}}
	return c
}

func startSpeaker(t testing.TB, cfg Configuration) *Enforcer {
	t.Helper()
	e, err := New(cfg, Dependencies{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	if err := e.Start(); err != nil {
		t.Fatalf("Start() error: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("Stop() error: %v", err)
		}
	})
	return e
}

// waitEstablished waits until the speaker reports the session up.
func waitEstablished(t *testing.T, e *Enforcer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ns, err := e.Neighbors(context.Background())
		if err != nil {
			t.Fatalf("Neighbors() error: %v", err)
		}
		if ns[0].State == "established" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session not established after 15s: %+v", ns)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const (
	rtbhAttrs = "nh=192.0.2.1 comm=65535:666,65535:65281 ext="
	discard   = "nh= comm=65535:65281 ext=discard"
	accept    = "nh= comm=65535:65281 ext="
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestApplyAnnouncesAndWithdraws(t *testing.T) {
	r := startRouter(t, 65001)
	e := startSpeaker(t, speakerConfig(r.port))
	waitEstablished(t, e)
	ctx := context.Background()

	desired := []abuseguard.Block{
		{CaseID: "AG-1", Address: mustAddr("198.51.100.7"), Scope: abuseguard.ScopeInbound, Revision: 1},
		{CaseID: "AG-2", Address: mustAddr("198.51.100.8"), Scope: abuseguard.ScopeBoth, AccessIP: mustAddr("203.0.113.9"), Revision: 3},
		{CaseID: "AG-3", Address: mustAddr("2001:db8::8"), Scope: abuseguard.ScopeBoth, Revision: 1},
		{CaseID: "AG-4", Address: mustAddr("2001:db8::7"), Scope: abuseguard.ScopeInbound, Revision: 1},
	}
	res, err := e.Apply(ctx, desired)
	if err != nil {
		t.Fatalf("Apply() error: %v", err)
	}
	if res.Added != 8 || res.Removed != 0 {
		t.Fatalf("Apply() added %d, removed %d; want 8, 0", res.Added, res.Removed)
	}
	r.waitRoutes(t, []string{
		"ipv4-flowspec [destination: 198.51.100.8/32] " + discard,
		"ipv4-flowspec [destination: 198.51.100.8/32][source: 203.0.113.9/32] " + accept,
		"ipv4-flowspec [destination: 203.0.113.9/32][source: 198.51.100.8/32] " + accept,
		"ipv4-flowspec [source: 198.51.100.8/32] " + discard,
		"ipv4-unicast 198.51.100.7/32 " + rtbhAttrs,
		"ipv6-flowspec [destination: 2001:db8::8/128/0] " + discard,
		"ipv6-flowspec [source: 2001:db8::8/128/0] " + discard,
		"ipv6-unicast 2001:db8::7/128 nh=100::1 comm=65535:666,65535:65281 ext=",
	})
	var gotStates []string
	for _, s := range res.Statuses {
		gotStates = append(gotStates, fmt.Sprintf("%s %s r%d %s", s.CaseID, s.State, s.Revision, s.Detail))
	}
	if diff := cmp.Diff(gotStates, []string{
		"AG-1 applied r1 rtbh to 1 of 1 neighbors",
		"AG-2 applied r3 flowspec to 1 of 1 neighbors",
		"AG-3 applied r1 flowspec to 1 of 1 neighbors",
		"AG-4 applied r1 rtbh to 1 of 1 neighbors",
	}); diff != "" {
		t.Fatalf("Apply() statuses (-got, +want):\n%s", diff)
	}

	// The same desired set again changes nothing.
	res, err = e.Apply(ctx, desired)
	if err != nil || res.Added != 0 || res.Removed != 0 || res.Drift != 0 {
		t.Fatalf("second Apply() = added %d, removed %d, drift %d, error %v; want nothing", res.Added, res.Removed, res.Drift, err)
	}

	// Clearing the access IP withdraws the pair rules only; lifting the
	// inbound blocks withdraws their routes.
	desired[1].AccessIP, desired[1].Revision = netip.Addr{}, 4
	res, err = e.Apply(ctx, desired[1:3])
	if err != nil || res.Added != 0 || res.Removed != 4 {
		t.Fatalf("Apply() after clearing = added %d, removed %d, error %v; want 0, 4", res.Added, res.Removed, err)
	}
	r.waitRoutes(t, []string{
		"ipv4-flowspec [destination: 198.51.100.8/32] " + discard,
		"ipv4-flowspec [source: 198.51.100.8/32] " + discard,
		"ipv6-flowspec [destination: 2001:db8::8/128/0] " + discard,
		"ipv6-flowspec [source: 2001:db8::8/128/0] " + discard,
	})

	if _, err := e.Apply(ctx, nil); err != nil {
		t.Fatalf("Apply(nil) error: %v", err)
	}
	r.waitRoutes(t, nil)
}

func TestApplyMethods(t *testing.T) {
	both := abuseguard.Block{CaseID: "AG-1", Address: mustAddr("198.51.100.8"), Scope: abuseguard.ScopeBoth, AccessIP: mustAddr("203.0.113.9"), Revision: 1}
	noAccess := abuseguard.Block{CaseID: "AG-2", Address: mustAddr("198.51.100.9"), Scope: abuseguard.ScopeBoth, Revision: 1}
	inbound := abuseguard.Block{CaseID: "AG-3", Address: mustAddr("198.51.100.7"), Scope: abuseguard.ScopeInbound, Revision: 1}
	tests := []struct {
		name       string
		inbound    Method
		both       Method
		wantRoutes []string
		wantStates []string
	}{
		{
			name: "rtbh only: outbound not stopped, access IP impossible", inbound: MethodRTBH, both: MethodRTBH,
			wantRoutes: []string{
				"ipv4-unicast 198.51.100.7/32 " + rtbhAttrs,
				"ipv4-unicast 198.51.100.8/32 " + rtbhAttrs,
				"ipv4-unicast 198.51.100.9/32 " + rtbhAttrs,
			},
			wantStates: []string{
				"AG-1 failed rtbh announced, access IP not enforced: a blackhole route cannot carry an exception (needs flowspec or nftables)",
				"AG-2 applied rtbh to 1 of 1 neighbors",
				"AG-3 applied rtbh to 1 of 1 neighbors",
			},
		},
		{
			name: "rtbh with nftables: access blocks left to nftables", inbound: MethodRTBH, both: MethodRTBHNFTables,
			wantRoutes: []string{
				"ipv4-unicast 198.51.100.7/32 " + rtbhAttrs,
				"ipv4-unicast 198.51.100.9/32 " + rtbhAttrs,
			},
			wantStates: []string{
				"AG-1 applied nothing announced: the access IP is enforced by nftables",
				"AG-2 applied rtbh to 1 of 1 neighbors",
				"AG-3 applied rtbh to 1 of 1 neighbors",
			},
		},
		{
			name: "flowspec for inbound too", inbound: MethodFlowSpec, both: MethodFlowSpec,
			wantRoutes: []string{
				"ipv4-flowspec [destination: 198.51.100.7/32] " + discard,
				"ipv4-flowspec [destination: 198.51.100.8/32] " + discard,
				"ipv4-flowspec [destination: 198.51.100.8/32][source: 203.0.113.9/32] " + accept,
				"ipv4-flowspec [destination: 198.51.100.9/32] " + discard,
				"ipv4-flowspec [destination: 203.0.113.9/32][source: 198.51.100.8/32] " + accept,
				"ipv4-flowspec [source: 198.51.100.8/32] " + discard,
				"ipv4-flowspec [source: 198.51.100.9/32] " + discard,
			},
			wantStates: []string{
				"AG-1 applied flowspec to 1 of 1 neighbors",
				"AG-2 applied flowspec to 1 of 1 neighbors",
				"AG-3 applied flowspec to 1 of 1 neighbors",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRouter(t, 65001)
			cfg := speakerConfig(r.port)
			cfg.Inbound, cfg.Both = tt.inbound, tt.both
			e := startSpeaker(t, cfg)
			waitEstablished(t, e)
			res, err := e.Apply(context.Background(), []abuseguard.Block{both, noAccess, inbound})
			if err != nil {
				t.Fatalf("Apply() error: %v", err)
			}
			r.waitRoutes(t, tt.wantRoutes)
			var got []string
			for _, s := range res.Statuses {
				got = append(got, fmt.Sprintf("%s %s %s", s.CaseID, s.State, s.Detail))
			}
			if diff := cmp.Diff(got, tt.wantStates); diff != "" {
				t.Fatalf("Apply() statuses (-got, +want):\n%s", diff)
			}
		})
	}
}

func TestApplyWhileSessionDown(t *testing.T) {
	// No router listens on this port: the session never comes up.
	e := startSpeaker(t, speakerConfig(freePort(t)))
	res, err := e.Apply(context.Background(), []abuseguard.Block{
		{CaseID: "AG-1", Address: mustAddr("198.51.100.7"), Scope: abuseguard.ScopeInbound},
		{CaseID: "AG-2", Address: mustAddr("10.0.0.0"), Scope: "sideways"},
	})
	if err != nil {
		t.Fatalf("Apply() error: %v", err)
	}
	var got []string
	for _, s := range res.Statuses {
		got = append(got, fmt.Sprintf("%s %s %s", s.CaseID, s.State, s.Detail))
	}
	if diff := cmp.Diff(got, []string{
		"AG-1 pending rtbh: no established session for ipv4-unicast",
		`AG-2 failed invalid block: unknown scope "sideways"`,
	}); diff != "" {
		t.Fatalf("Apply() statuses (-got, +want):\n%s", diff)
	}
	if res.Added != 1 {
		t.Fatalf("Apply() added %d, want 1: routes wait in the RIB for the session", res.Added)
	}
}

func TestSpeakerIgnoresRoutesFromRouters(t *testing.T) {
	r := startRouter(t, 65001)
	e := startSpeaker(t, speakerConfig(r.port))
	waitEstablished(t, e)
	// The router announces a route to us, as a misconfigured export would.
	nlri, _ := bgp.NewIPAddrPrefix(netip.MustParsePrefix("203.0.113.0/24"))
	nh, _ := bgp.NewPathAttributeNextHop(mustAddr("127.0.0.1"))
	if _, err := r.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{{
		Family: bgp.RF_IPv4_UC, Nlri: nlri, Attrs: []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0), bgp.NewPathAttributeAsPath(nil), nh},
	}}}); err != nil {
		t.Fatalf("router AddPath: %v", err)
	}
	// Wait until the speaker received it, then check its RIB holds
	// nothing: the import policy rejected it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ns, err := e.Neighbors(context.Background())
		if err != nil {
			t.Fatalf("Neighbors() error: %v", err)
		}
		if ns[0].UpdatesReceived > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("speaker received no update in 10s: %+v", ns)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int
	for _, f := range families {
		e.server().ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: f}, func(bgp.NLRI, []*apiutil.Path) { n++ })
	}
	if n != 0 {
		t.Fatalf("speaker RIB holds %d routes learned from the router, want 0", n)
	}
}

// describeAttrs renders the attributes the enforcer sets, readably.
func describeAttrs(family bgp.Family, attrs []bgp.PathAttributeInterface) string {
	var nh, comms, ext string
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			nh = a.Value.String()
		case *bgp.PathAttributeMpReachNLRI:
			if family.Safi() == bgp.SAFI_UNICAST {
				nh = a.Nexthop.String()
			}
		case *bgp.PathAttributeCommunities:
			s := make([]string, len(a.Value))
			for i, c := range a.Value {
				s[i] = Community(c).String()
			}
			comms = strings.Join(s, ",")
		case *bgp.PathAttributeExtendedCommunities:
			s := make([]string, len(a.Value))
			for i, c := range a.Value {
				s[i] = c.String()
			}
			ext = strings.Join(s, ",")
		}
	}
	return fmt.Sprintf("nh=%s comm=%s ext=%s", nh, comms, ext)
}
