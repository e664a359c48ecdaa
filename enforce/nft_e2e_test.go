package enforce_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"abuseguard"
	"abuseguard/enforce/nft"
	"abuseguard/testutil/netns"
)

// The nftables test runs the enforcer against the kernel of a router
// namespace of its own (through the configured netns path, so the test
// process never changes namespace):
//
//	cli (10.72.1.2 other, 10.72.1.3 access) ── rtr (nftables) ── srv (10.72.2.2, .3)

type nftTopology struct {
	cli, rtr, srv *netns.NS
}

func newNFTTopology(t *testing.T) *nftTopology {
	t.Helper()
	needRoot(t, "nft", "ping")
	tp := &nftTopology{cli: newNS(t, "ncli"), rtr: newNS(t, "nrtr"), srv: newNS(t, "nsrv")}
	netns.Link(t, tp.cli, tp.rtr, prefixes("10.72.1.2/24", "10.72.1.3/24", "fd72:1::2/64", "fd72:1::3/64"), prefixes("10.72.1.1/24", "fd72:1::1/64"))
	netns.Link(t, tp.srv, tp.rtr, prefixes("10.72.2.2/24", "10.72.2.3/24", "fd72:2::2/64"), prefixes("10.72.2.1/24", "fd72:2::1/64"))
	tp.cli.Route(t, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParseAddr("10.72.1.1"))
	tp.cli.Route(t, netip.MustParsePrefix("::/0"), netip.MustParseAddr("fd72:1::1"))
	tp.srv.Route(t, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParseAddr("10.72.2.1"))
	tp.srv.Route(t, netip.MustParsePrefix("::/0"), netip.MustParseAddr("fd72:2::1"))
	tp.rtr.Forwarding(t)
	return tp
}

func startNFT(t *testing.T, ns *netns.NS) *nft.Enforcer {
	t.Helper()
	cfg := nft.DefaultConfiguration()
	cfg.Enabled = true
	cfg.NetNS = "/run/netns/" + ns.Name
	e, err := nft.New(cfg, nft.Dependencies{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("nft.New() error: %v", err)
	}
	if err := e.Start(); err != nil {
		t.Fatalf("nft Start() error: %v", err)
	}
	t.Cleanup(func() { e.Stop() })
	return e
}

// nftSets reads `nft -j list table inet abuseguard` and returns each
// set's type and elements ("a . b" for pairs), and each chain's hook,
// priority and policy.
func nftSets(t *testing.T, ns *netns.NS) (sets map[string][]string, chains []string) {
	t.Helper()
	out := mustOut(t, ns, "nft", "-j", "list", "table", "inet", "abuseguard")
	var doc struct {
		Nftables []struct {
			Set *struct {
				Name string          `json:"name"`
				Type json.RawMessage `json:"type"`
				Elem []json.RawMessage
			} `json:"set"`
			Chain *struct {
				Name   string `json:"name"`
				Hook   string `json:"hook"`
				Prio   int    `json:"prio"`
				Policy string `json:"policy"`
				Type   string `json:"type"`
			} `json:"chain"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("decode nft -j output: %v\n%s", err, out)
	}
	sets = make(map[string][]string)
	for _, o := range doc.Nftables {
		if s := o.Set; s != nil {
			var typ string
			var types []string
			if json.Unmarshal(s.Type, &typ) != nil && json.Unmarshal(s.Type, &types) == nil {
				typ = strings.Join(types, " . ")
			}
			elems := []string{"type " + typ}
			for _, raw := range s.Elem {
				var one string
				var pair struct {
					Concat []string `json:"concat"`
				}
				if json.Unmarshal(raw, &one) == nil {
					elems = append(elems, one)
				} else if json.Unmarshal(raw, &pair) == nil {
					elems = append(elems, strings.Join(pair.Concat, " . "))
				}
			}
			slices.Sort(elems[1:])
			sets[s.Name] = elems
		}
		if c := o.Chain; c != nil {
			chains = append(chains, fmt.Sprintf("%s: type %s hook %s priority %d policy %s", c.Name, c.Type, c.Hook, c.Prio, c.Policy))
		}
	}
	return sets, chains
}

// nftRules lists the forward chain's rules as nft prints them, without
// counters and handles.
func nftRules(t *testing.T, ns *netns.NS) []string {
	t.Helper()
	out := mustOut(t, ns, "nft", "list", "chain", "inet", "abuseguard", "forward")
	counter := regexp.MustCompile(` counter packets \d+ bytes \d+`)
	var rules []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.Contains(line, "@") {
			rules = append(rules, counter.ReplaceAllString(line, " counter"))
		}
	}
	return rules
}

// icmpInEchos reads the echo requests a namespace has received.
func icmpInEchos(t *testing.T, ns *netns.NS) int {
	t.Helper()
	lines := strings.Split(mustOut(t, ns, "cat", "/proc/net/snmp"), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "Icmp:") || !strings.HasPrefix(lines[i+1], "Icmp:") {
			continue
		}
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if j := slices.Index(names, "InEchos"); j > 0 {
			n, _ := strconv.Atoi(values[j])
			return n
		}
	}
	t.Fatalf("no Icmp InEchos in /proc/net/snmp")
	return 0
}

func TestNFTablesRulesetAndTraffic(t *testing.T) {
	tp := newNFTTopology(t)
	// Another table in the same namespace must survive everything.
	mustOut(t, tp.rtr, "nft", "add", "table", "inet", "other")
	mustOut(t, tp.rtr, "nft", "add", "chain", "inet", "other", "keep", "{ type filter hook forward priority 0; policy accept; }")

	e := startNFT(t, tp.rtr)
	a := netip.MustParseAddr
	desired := []abuseguard.Block{
		{CaseID: "AG-1", Address: a("10.72.2.2"), Scope: abuseguard.ScopeBoth, AccessIP: a("10.72.1.3"), Revision: 2},
		{CaseID: "AG-2", Address: a("10.72.2.3"), Scope: abuseguard.ScopeInbound, Revision: 1},
		{CaseID: "AG-3", Address: a("fd72:2::2"), Scope: abuseguard.ScopeBoth, AccessIP: a("fd72:1::3"), Revision: 1},
	}
	res, err := e.Apply(t.Context(), desired)
	if err != nil {
		t.Fatalf("Apply() error: %v", err)
	}
	var states []string
	for _, s := range res.Statuses {
		states = append(states, fmt.Sprintf("%s %s %s", s.CaseID, s.State, s.Detail))
	}
	if diff := cmp.Diff(states, []string{
		"AG-1 applied nftables set: dropped both ways except the access IP",
		"AG-2 applied nftables set: dropped inbound",
		"AG-3 applied nftables set: dropped both ways except the access IP",
	}); diff != "" {
		t.Fatalf("Apply() statuses (-got, +want):\n%s", diff)
	}

	sets, chains := nftSets(t, tp.rtr)
	if diff := cmp.Diff(sets, map[string][]string{
		"blocked4": {"type ipv4_addr", "10.72.2.2"},
		"blocked6": {"type ipv6_addr", "fd72:2::2"},
		"inbound4": {"type ipv4_addr", "10.72.2.3"},
		"inbound6": {"type ipv6_addr"},
		"access4":  {"type ipv4_addr . ipv4_addr", "10.72.2.2 . 10.72.1.3"},
		"access6":  {"type ipv6_addr . ipv6_addr", "fd72:2::2 . fd72:1::3"},
	}); diff != "" {
		t.Fatalf("nft -j list table: sets (-got, +want):\n%s", diff)
	}
	if diff := cmp.Diff(chains, []string{"forward: type filter hook forward priority -10 policy accept"}); diff != "" {
		t.Fatalf("nft -j list table: chains (-got, +want):\n%s", diff)
	}
	if diff := cmp.Diff(nftRules(t, tp.rtr), []string{
		"ip saddr . ip daddr @access4 counter accept",
		"ip daddr . ip saddr @access4 counter accept",
		"ip6 saddr . ip6 daddr @access6 counter accept",
		"ip6 daddr . ip6 saddr @access6 counter accept",
		"ip daddr @blocked4 counter drop",
		"ip saddr @blocked4 counter drop",
		"ip daddr @inbound4 counter drop",
		"ip6 daddr @blocked6 counter drop",
		"ip6 saddr @blocked6 counter drop",
		"ip6 daddr @inbound6 counter drop",
	}); diff != "" {
		t.Fatalf("nft list chain (-got, +want):\n%s", diff)
	}

	type check struct {
		name      string
		from, to  *netns.NS
		src, dst  string
		wantReach bool
	}
	checks := []check{
		{"access IP to server", tp.cli, tp.srv, "10.72.1.3", "10.72.2.2", true},
		{"other host to server", tp.cli, tp.srv, "10.72.1.2", "10.72.2.2", false},
		{"server to access IP", tp.srv, tp.cli, "10.72.2.2", "10.72.1.3", true},
		{"server to other host", tp.srv, tp.cli, "10.72.2.2", "10.72.1.2", false},
		{"IPv6 access IP to server", tp.cli, tp.srv, "fd72:1::3", "fd72:2::2", true},
		{"IPv6 other host to server", tp.cli, tp.srv, "fd72:1::2", "fd72:2::2", false},
		{"IPv6 server to other host", tp.srv, tp.cli, "fd72:2::2", "fd72:1::2", false},
		{"anyone to the inbound-blocked server", tp.cli, tp.srv, "10.72.1.3", "10.72.2.3", false},
	}
	for _, c := range checks {
		if ping, tcp := reach(t, c.from, c.to, a(c.src), a(c.dst)); ping != c.wantReach || tcp != c.wantReach {
			t.Errorf("%s: ping %v, tcp %v; want %v", c.name, ping, tcp, c.wantReach)
		}
	}
	// An inbound block lets the server's own packets out: the echo
	// request arrives, only the reply towards the server is dropped.
	before := icmpInEchos(t, tp.cli)
	if succeeds(tp.srv, "ping", "-n", "-c", "1", "-W", "1", "-I", "10.72.2.3", "10.72.1.2") {
		t.Errorf("inbound-blocked server got a reply")
	}
	if after := icmpInEchos(t, tp.cli); after != before+1 {
		t.Errorf("echo requests from the inbound-blocked server that arrived: %d, want 1", after-before)
	}

	// Lifting AG-1 and AG-2: one incremental batch removes their elements.
	res, err = e.Apply(t.Context(), desired[2:])
	if err != nil || res.Removed != 3 || res.Added != 0 {
		t.Fatalf("Apply() after lifting = added %d, removed %d, error %v; want 0, 3", res.Added, res.Removed, err)
	}
	if ping, tcp := reach(t, tp.cli, tp.srv, a("10.72.1.2"), a("10.72.2.2")); !ping || !tcp {
		t.Fatalf("after lifting: ping %v, tcp %v; want both", ping, tcp)
	}
	if !strings.Contains(mustOut(t, tp.rtr, "nft", "list", "table", "inet", "other"), "chain keep") {
		t.Fatalf("the other table was touched")
	}
}

func TestNFTablesRepairsDrift(t *testing.T) {
	needRoot(t, "nft")
	ns := newNS(t, "ndrift")
	// A table left by a previous run holds a stale block: the first pass
	// after start replaces it.
	mustOut(t, ns, "nft", "add", "table", "inet", "abuseguard")
	mustOut(t, ns, "nft", "add", "set", "inet", "abuseguard", "blocked4", "{ type ipv4_addr; elements = { 10.9.9.9 } }")
	e := startNFT(t, ns)
	a := netip.MustParseAddr
	desired := []abuseguard.Block{
		{CaseID: "AG-1", Address: a("10.72.2.2"), Scope: abuseguard.ScopeBoth},
		{CaseID: "AG-2", Address: a("10.72.2.3"), Scope: abuseguard.ScopeInbound},
	}
	if _, err := e.Apply(t.Context(), desired); err != nil {
		t.Fatalf("Apply() error: %v", err)
	}
	sets, _ := nftSets(t, ns)
	if diff := cmp.Diff(sets["blocked4"], []string{"type ipv4_addr", "10.72.2.2"}); diff != "" {
		t.Fatalf("blocked4 after the start resync (-got, +want):\n%s", diff)
	}

	steps := []struct {
		name      string
		tamper    []string
		wantDrift int
	}{
		{"element deleted", []string{"delete", "element", "inet", "abuseguard", "blocked4", "{ 10.72.2.2 }"}, 1},
		{"element added", []string{"add", "element", "inet", "abuseguard", "inbound4", "{ 10.1.1.1 }"}, 1},
		{"set flushed", []string{"flush", "set", "inet", "abuseguard", "inbound4"}, 1},
		{"chain flushed", []string{"flush", "chain", "inet", "abuseguard", "forward"}, 1},
		{"table deleted", []string{"delete", "table", "inet", "abuseguard"}, 3},
		{"nothing", nil, 0},
	}
	for _, s := range steps {
		if s.tamper != nil {
			mustOut(t, ns, "nft", s.tamper...)
		}
		res, err := e.Apply(t.Context(), desired)
		if err != nil {
			t.Fatalf("%s: Apply() error: %v", s.name, err)
		}
		if res.Drift != s.wantDrift {
			t.Errorf("%s: drift %d, want %d", s.name, res.Drift, s.wantDrift)
		}
		sets, chains := nftSets(t, ns)
		if diff := cmp.Diff([][]string{sets["blocked4"], sets["inbound4"], chains}, [][]string{
			{"type ipv4_addr", "10.72.2.2"}, {"type ipv4_addr", "10.72.2.3"},
			{"forward: type filter hook forward priority -10 policy accept"},
		}); diff != "" {
			t.Fatalf("%s: table after repair (-got, +want):\n%s", s.name, diff)
		}
		if n := len(nftRules(t, ns)); n != 10 {
			t.Fatalf("%s: %d rules after repair, want 10", s.name, n)
		}
	}
}

// TestNFTablesWithReconciler runs the enforcer under the reconciler over
// the in-memory store, as cmd wires it.
func TestNFTablesWithReconciler(t *testing.T) {
	needRoot(t, "nft")
	ns := newNS(t, "nrec")
	e := startNFT(t, ns)
	store := newMemBlocks(abuseguard.Block{CaseID: "AG-1", Address: netip.MustParseAddr("10.72.2.2"), Scope: abuseguard.ScopeBoth, Revision: 1})
	r := startReconciler(t, store, e)
	waitFor(t, 10*time.Second, "status applied", func() (bool, string) {
		st, ok := store.status("AG-1", nft.Name)
		return ok && st.State == abuseguard.EnforceApplied, fmt.Sprintf("%+v", st)
	})
	store.put(abuseguard.Block{CaseID: "AG-2", Address: netip.MustParseAddr("fd72:2::9"), Scope: abuseguard.ScopeInbound, Revision: 1})
	store.remove("AG-1")
	r.Trigger()
	waitFor(t, 10*time.Second, "sets follow the store", func() (bool, string) {
		sets, _ := nftSets(t, ns)
		return len(sets["blocked4"]) == 1 && len(sets["inbound6"]) == 2, fmt.Sprint(sets)
	})
	if got := r.Status(); len(got) != 1 || got[0].Name != nft.Name || got[0].Applied != 1 || got[0].LastError != "" {
		t.Fatalf("Status() = %+v, want one applied block and no error", got)
	}
}

// TestNFTablesLargeBatch applies 10 000 IPv6 blocks with access IPs (about
// 0.8 MB of netlink messages) in one batch, past the default socket buffer.
func TestNFTablesLargeBatch(t *testing.T) {
	needRoot(t, "nft")
	ns := newNS(t, "nlarge")
	e := startNFT(t, ns)
	desired := make([]abuseguard.Block, 10000)
	for i := range desired {
		desired[i] = abuseguard.Block{
			CaseID: fmt.Sprintf("AG-%d", i), Scope: abuseguard.ScopeBoth,
			Address:  netip.AddrFrom16([16]byte{0xfd, 0x72, 2: byte(i >> 8), 3: byte(i), 15: 1}),
			AccessIP: netip.AddrFrom16([16]byte{0xfd, 0x73, 15: 1}),
		}
	}
	res, err := e.Apply(t.Context(), desired)
	if err != nil || res.Added != 20000 {
		t.Fatalf("Apply() = added %d, error %v; want 20000 elements", res.Added, err)
	}
	sets, _ := nftSets(t, ns)
	if len(sets["blocked6"]) != 10001 || len(sets["access6"]) != 10001 {
		t.Fatalf("sets hold %d and %d elements, want 10000 each", len(sets["blocked6"])-1, len(sets["access6"])-1)
	}
}
