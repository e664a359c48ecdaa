package bird

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The testdata files are birdc output of BIRD 2.0.12 holding what
// abuseguard announced in enforce's end-to-end test: two RTBH routes and
// two blocks with an access IP (10.71.2.4 with 10.71.1.3, fd71:2::4 with
// fd71:1::3).

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseRoutes(t *testing.T) {
	got, err := ParseRoutes(readTestdata(t, "master4-all.txt"))
	if err != nil {
		t.Fatalf("ParseRoutes() error: %v", err)
	}
	want := []Route{{Net: "10.71.2.2/32", Kind: "prohibited", Protocol: "abuseguard", Attrs: map[string]string{
		"Type": "BGP univ", "BGP.origin": "IGP", "BGP.as_path": "65001", "BGP.next_hop": "192.0.2.1",
		"BGP.local_pref": "100", "BGP.community": "(65535,666) (65535,65281)",
	}}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("ParseRoutes(master4) (-got, +want):\n%s", diff)
	}
	if diff := cmp.Diff(got[0].Communities(), []string{"(65535,666)", "(65535,65281)"}); diff != "" {
		t.Fatalf("Communities() (-got, +want):\n%s", diff)
	}

	for _, tc := range []struct {
		name, out string
		want      []string // Net Kind Protocol of each route
	}{
		{"master6", readTestdata(t, "master6-all.txt"), []string{"fd71:2::2/128 prohibited abuseguard"}},
		{"not found", readTestdata(t, "route-missing.txt"), nil},
		{"without all", "BIRD 2.0.12 ready.\nTable master4:\n10.80.0.1/32         unreachable [abuseguard 02:16:57.927 from 169.254.192.85] * (100/?) [AS65001i]\n",
			[]string{"10.80.0.1/32 unreachable abuseguard"}},
		// A second route for a network is printed without the network.
		{"two routes", "Table master4:\n10.80.0.1/32         unicast [edge1 02:16:57.927] * (100) [AS65001i]\n                     unicast [edge2 02:16:58.001] (100) [AS65002i]\n\tBGP.origin: IGP\n",
			[]string{"10.80.0.1/32 unicast edge1", "10.80.0.1/32 unicast edge2"}},
		{"flow4", readTestdata(t, "flowtab4-all.txt"), []string{
			"flow4 { src 10.71.2.4/32; }  abuseguard",
			"flow4 { dst 10.71.2.4/32; src 10.71.1.3/32; }  abuseguard",
			"flow4 { dst 10.71.2.4/32; }  abuseguard",
			"flow4 { dst 10.71.1.3/32; src 10.71.2.4/32; }  abuseguard",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			routes, err := ParseRoutes(tc.out)
			if err != nil {
				t.Fatalf("ParseRoutes() error: %v", err)
			}
			var got []string
			for _, r := range routes {
				got = append(got, r.Net+" "+r.Kind+" "+r.Protocol)
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Fatalf("ParseRoutes() (-got, +want):\n%s", diff)
			}
		})
	}

	for _, bad := range []string{
		"\tBGP.origin: IGP\n",
		"not-a-prefix  unicast [abuseguard] *\n",
		"10.0.0.0/8 unicast\n",
		"flow4 { dst 10.0.0.0/8; [abuseguard]\n",
	} {
		if _, err := ParseRoutes(bad); err == nil {
			t.Errorf("ParseRoutes(%q) = nil error, want one", bad)
		}
	}
}

func TestFlowRules(t *testing.T) {
	p := netip.MustParsePrefix
	var got []FlowRule
	for _, name := range []string{"flowtab4-all.txt", "flowtab6-all.txt"} {
		routes, err := ParseRoutes(readTestdata(t, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, rt := range routes {
			f, err := FlowRuleOf(rt)
			if err != nil {
				t.Fatalf("FlowRuleOf(%q) error: %v", rt.Net, err)
			}
			got = append(got, f)
		}
	}
	slices.SortStableFunc(got, CompareFlowRules)
	// RFC 8955 §5.1: for the same destination, the rule with a source
	// wins; a rule with a destination wins over one without.
	want := []FlowRule{
		{Dst: p("fd71:1::3/128"), Src: p("fd71:2::4/128")},
		{Dst: p("fd71:2::4/128"), Src: p("fd71:1::3/128")},
		{Dst: p("fd71:2::4/128"), Discard: true},
		{Dst: p("10.71.1.3/32"), Src: p("10.71.2.4/32")},
		{Dst: p("10.71.2.4/32"), Src: p("10.71.1.3/32")},
		{Dst: p("10.71.2.4/32"), Discard: true},
		{Src: p("fd71:2::4/128"), Discard: true},
		{Src: p("10.71.2.4/32"), Discard: true},
	}
	if diff := cmp.Diff(got, want, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Fatalf("flow rules in RFC 8955 order (-got, +want):\n%s", diff)
	}

	for _, tc := range []struct {
		net, ext string
	}{
		{"flow4 { dst 10.0.0.1/32; dport 80; }", ""},
		{"flow4 { }", ""},
		{"flow4 { dst 10.0.0.1/32; }", "(generic, 0x80060000, 0x447a0000)"}, // rate 1000
		{"10.0.0.1/32", ""},
	} {
		rt := Route{Net: tc.net, Attrs: map[string]string{"BGP.ext_community": tc.ext}}
		if f, err := FlowRuleOf(rt); err == nil {
			t.Errorf("FlowRuleOf(%q, %q) = %v, want an error", tc.net, tc.ext, f)
		}
	}
}

func TestCompareFlowRules(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		a, b FlowRule
		want int
	}{
		{FlowRule{Dst: p("10.0.0.1/32"), Src: p("10.9.0.1/32")}, FlowRule{Dst: p("10.0.0.1/32")}, -1},
		{FlowRule{Dst: p("10.0.0.1/32")}, FlowRule{Src: p("10.0.0.1/32")}, -1},
		{FlowRule{Dst: p("10.0.0.0/24")}, FlowRule{Dst: p("10.0.0.1/32")}, 1},
		{FlowRule{Dst: p("10.0.0.2/32")}, FlowRule{Dst: p("10.0.0.1/32")}, 1},
		{FlowRule{Src: p("10.0.0.1/32"), Discard: true}, FlowRule{Src: p("10.0.0.1/32")}, 0},
	} {
		if got := CompareFlowRules(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareFlowRules(%v, %v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := CompareFlowRules(tc.b, tc.a); got != -tc.want {
			t.Errorf("CompareFlowRules(%v, %v) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestNFTablesRuleset(t *testing.T) {
	p := netip.MustParsePrefix
	got := NFTablesRuleset([]FlowRule{
		{Src: p("10.71.2.4/32"), Discard: true},
		{Dst: p("fd71:2::4/128"), Discard: true},
		{Dst: p("10.71.2.4/32"), Discard: true},
		{Dst: p("10.71.2.4/32"), Src: p("10.71.1.3/32")},
	})
	want := `table inet flowspec
delete table inet flowspec
table inet flowspec {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ip daddr 10.71.2.4/32 ip saddr 10.71.1.3/32 counter accept
		ip daddr 10.71.2.4/32 counter drop
		ip saddr 10.71.2.4/32 counter drop
		ip6 daddr fd71:2::4/128 counter drop
	}
}
`
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("NFTablesRuleset() (-got, +want):\n%s", diff)
	}
	// nft -c parses and checks the script without applying it; it reads
	// the ruleset, hence root.
	if _, err := exec.LookPath("nft"); err != nil || os.Geteuid() != 0 {
		t.Skip("nft -c not run: needs nft and root")
	}
	file := filepath.Join(t.TempDir(), "flowspec.nft")
	if err := os.WriteFile(file, []byte(got), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nft", "-c", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("nft -c -f: %v\n%s", err, out)
	}
}

// TestConfigRender checks the configuration against BIRD's own parser
// (bird -p parses and exits: no root, no socket, no log file).
func TestConfigRender(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name    string
		cfg     Config
		want    []string // lines the configuration must hold
		wantErr string
	}{
		{"defaults", Config{Local: a("169.254.1.2"), Speaker: a("169.254.1.1")}, []string{
			"router id 169.254.1.2;",
			"protocol static blackhole_nh4 { ipv4; route 192.0.2.1/32 prohibit; }",
			"protocol static blackhole_nh6 { ipv6; route 100::1/128 prohibit; }",
			"\tlocal 169.254.1.2 as 65000;",
			"\tneighbor 169.254.1.1 as 65001;",
			"\tipv6 { import where net.len = 128 && (65535,666) ~ bgp_community; export none; gateway recursive; next hop address 2001:db8::254; };",
		}, ""},
		{"password, blackhole, own AS numbers", Config{Local: a("10.0.0.2"), Speaker: a("10.0.0.1"), LocalAS: 64500, SpeakerAS: 64501,
			Password: "s3cret", NextHopRoute: "blackhole", RouterID: a("10.9.9.9")}, []string{
			"router id 10.9.9.9;",
			"\tpassword \"s3cret\";",
			"protocol static blackhole_nh4 { ipv4; route 192.0.2.1/32 blackhole; }",
			"\tlocal 10.0.0.2 as 64500;",
			"\tneighbor 10.0.0.1 as 64501;",
		}, ""},
		{"IPv6 session", Config{Local: a("fd71::2"), Speaker: a("fd71::1"), RouterID: a("10.0.0.2")}, []string{
			"\tflow6 { table flowtab6; import all; export none; };",
		}, ""},
		{"mixed families", Config{Local: a("10.0.0.2"), Speaker: a("fd71::1")}, nil, "same family"},
		{"IPv6 router id", Config{Local: a("fd71::2"), Speaker: a("fd71::1")}, nil, "must be an IPv4 address"},
		{"bad next hop route", Config{Local: a("10.0.0.2"), Speaker: a("10.0.0.1"), NextHopRoute: "drop"}, nil, "NextHopRoute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.cfg.withDefaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("withDefaults() error = %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("withDefaults() error: %v", err)
			}
			conf := cfg.Render("/nonexistent/bird.log")
			lines := strings.Split(conf, "\n")
			for _, w := range tc.want {
				if !slices.Contains(lines, w) {
					t.Errorf("configuration lacks the line %q:\n%s", w, conf)
				}
			}
			if _, err := exec.LookPath("bird"); err != nil {
				t.Skip("needs bird to parse the configuration: not in PATH")
			}
			file := filepath.Join(t.TempDir(), "bird.conf")
			if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("bird", "-p", "-c", file).CombinedOutput(); err != nil {
				t.Fatalf("bird -p: %v\n%s\n%s", err, out, conf)
			}
		})
	}
}
