package enforce_test

import (
	"bufio"
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// BIRD receives FlowSpec but programs nothing into Linux. These helpers
// read the rules BIRD received and enforce them in the edge namespace with
// nftables, in the order RFC 8955 §5.1 gives them, as a FlowSpec router
// would: what the test then observes is the meaning of the rules as
// received, independent of how abuseguard meant them.

// flowRule is one FlowSpec rule as BIRD shows it; only the components
// abuseguard uses are parsed, and a rule with others fails the test.
type flowRule struct {
	v6       bool
	dst, src netip.Prefix
	discard  bool // traffic-rate 0 (RFC 8955 §7.3); otherwise accept
}

// readFlowRules parses `birdc show route table flowtabN all`.
func readFlowRules(t *testing.T, tp *topology, table string) []flowRule {
	t.Helper()
	out := tp.bird.mustBirdc(t, "show", "route", "table", table, "all")
	var rules []flowRule
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "flow4 {") || strings.HasPrefix(line, "flow6 {") {
			r := flowRule{v6: strings.HasPrefix(line, "flow6")}
			body := line[strings.Index(line, "{")+1 : strings.Index(line, "}")]
			for _, comp := range strings.Split(body, ";") {
				f := strings.Fields(comp)
				if len(f) == 0 {
					continue
				}
				if len(f) != 2 || (f[0] != "dst" && f[0] != "src") {
					t.Fatalf("unexpected FlowSpec component %q in %q", comp, line)
				}
				p := netip.MustParsePrefix(f[1])
				if f[0] == "dst" {
					r.dst = p
				} else {
					r.src = p
				}
			}
			rules = append(rules, r)
			continue
		}
		// Traffic-rate is the generic transitive experimental extended
		// community type 0x8006; a rate of 0 discards.
		if strings.Contains(line, "BGP.ext_community:") && strings.Contains(line, "(generic, 0x80060000, 0x0)") && len(rules) > 0 {
			rules[len(rules)-1].discard = true
		}
	}
	return rules
}

// precedence orders two rules by RFC 8955 §5.1: component types in
// increasing order; a rule having a component the other lacks comes
// first; for prefixes of both, the more specific first, then the lower.
func precedence(a, b flowRule) int {
	for _, p := range [][2]netip.Prefix{{a.dst, b.dst}, {a.src, b.src}} {
		x, y := p[0], p[1]
		switch {
		case x.IsValid() && !y.IsValid():
			return -1
		case !x.IsValid() && y.IsValid():
			return 1
		case x.IsValid():
			if c := cmp.Compare(y.Bits(), x.Bits()); c != 0 {
				return c
			}
			if c := x.Addr().Compare(y.Addr()); c != 0 {
				return c
			}
		}
	}
	return 0
}

// enforceFlowSpec replaces the edge's "flowspec" nftables table with the
// rules BIRD holds now.
func enforceFlowSpec(t *testing.T, tp *topology) {
	t.Helper()
	rules := append(readFlowRules(t, tp, "flowtab4"), readFlowRules(t, tp, "flowtab6")...)
	slices.SortStableFunc(rules, precedence)
	var b strings.Builder
	b.WriteString("table inet flowspec\ndelete table inet flowspec\n")
	b.WriteString("table inet flowspec {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n")
	for _, r := range rules {
		fam := "ip"
		if r.v6 {
			fam = "ip6"
		}
		b.WriteString("  ")
		if r.dst.IsValid() {
			fmt.Fprintf(&b, "%s daddr %s ", fam, r.dst)
		}
		if r.src.IsValid() {
			fmt.Fprintf(&b, "%s saddr %s ", fam, r.src)
		}
		if r.discard {
			b.WriteString("counter drop\n")
		} else {
			b.WriteString("counter accept\n")
		}
	}
	b.WriteString(" }\n}\n")
	file := filepath.Join(t.TempDir(), "flowspec.nft")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := out(tp.edge, "nft", "-f", file); err != nil {
		t.Fatalf("nft -f in edge: %v\n%s", err, b.String())
	}
	t.Logf("FlowSpec enforced in the edge:\n%s", b.String())
}
