package bird

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"abuseguard/testutil/netns"
)

// BIRD receives FlowSpec but programs nothing into Linux. FlowRules reads
// the rules BIRD received and EnforceFlowSpec enforces them in the router's
// namespace with nftables, in the order RFC 8955 §5.1 gives them, as a
// FlowSpec router would: what a test then observes is the meaning of the
// rules as received, independent of how abuseguard meant them.

// FlowRule is one FlowSpec rule. Only the components abuseguard sends are
// known (destination and source prefix); a rule with others is an error.
type FlowRule struct {
	Dst, Src netip.Prefix // either may be invalid (absent)
	// Discard is set for traffic-rate 0 (RFC 8955 §7.3); a rule without
	// an action accepts (RFC 8955 §7).
	Discard bool
}

// String writes the rule as BIRD does, plus its action.
func (f FlowRule) String() string {
	var b strings.Builder
	b.WriteString("flow4 {")
	if f.Is6() {
		b.Reset()
		b.WriteString("flow6 {")
	}
	if f.Dst.IsValid() {
		fmt.Fprintf(&b, " dst %s;", f.Dst)
	}
	if f.Src.IsValid() {
		fmt.Fprintf(&b, " src %s;", f.Src)
	}
	if f.Discard {
		return b.String() + " } discard"
	}
	return b.String() + " } accept"
}

// Is6 reports whether the rule is an IPv6 (flow6) rule.
func (f FlowRule) Is6() bool {
	if f.Dst.IsValid() {
		return f.Dst.Addr().Is6()
	}
	return f.Src.Addr().Is6()
}

// FlowRuleOf converts a route of a flow table.
func FlowRuleOf(rt Route) (FlowRule, error) {
	var f FlowRule
	open, end := strings.IndexByte(rt.Net, '{'), strings.IndexByte(rt.Net, '}')
	if open < 0 || end < open {
		return f, fmt.Errorf("not a FlowSpec rule: %q", rt.Net)
	}
	for _, comp := range strings.Split(rt.Net[open+1:end], ";") {
		fs := strings.Fields(comp)
		if len(fs) == 0 {
			continue
		}
		if len(fs) != 2 || (fs[0] != "dst" && fs[0] != "src") {
			return f, fmt.Errorf("FlowSpec component %q in %q: only dst and src prefixes are expected", comp, rt.Net)
		}
		p, err := netip.ParsePrefix(fs[1])
		if err != nil {
			return f, fmt.Errorf("FlowSpec component %q: %w", comp, err)
		}
		if fs[0] == "dst" {
			f.Dst = p
		} else {
			f.Src = p
		}
	}
	if !f.Dst.IsValid() && !f.Src.IsValid() {
		return f, fmt.Errorf("FlowSpec rule %q matches everything", rt.Net)
	}
	// Traffic-rate is the transitive experimental extended community of
	// type 0x8006 (RFC 8955 §7.3): 2 bytes of AS, then the rate as a
	// 4-byte float, which BIRD shows as (generic, 0x8006AAAA, 0xRATE).
	for _, ec := range rt.ExtCommunities() {
		fs := strings.Split(strings.Trim(ec, "()"), ", ")
		if len(fs) != 3 || fs[0] != "generic" || !strings.HasPrefix(fs[1], "0x8006") {
			continue
		}
		if fs[2] != "0x0" {
			return f, fmt.Errorf("FlowSpec rule %q limits the rate (%s) instead of discarding", rt.Net, ec)
		}
		f.Discard = true
	}
	return f, nil
}

// CompareFlowRules orders two rules by RFC 8955 §5.1: component types in
// increasing order (destination prefix, then source prefix); a rule having
// a component the other lacks comes first; for prefixes of both, the more
// specific first, then the lower address. Sorting with it gives the order
// in which a router applies rules: the first match decides.
func CompareFlowRules(a, b FlowRule) int {
	for _, p := range [][2]netip.Prefix{{a.Dst, b.Dst}, {a.Src, b.Src}} {
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

// FlowRules returns the rules of table (Flow4 or Flow6) as BIRD received
// them, in BIRD's order.
func (r *Router) FlowRules(t testing.TB, table string) []FlowRule {
	t.Helper()
	var rules []FlowRule
	for _, rt := range r.Routes(t, table) {
		f, err := FlowRuleOf(rt)
		if err != nil {
			t.Fatalf("bird: %v", err)
		}
		rules = append(rules, f)
	}
	return rules
}

// NFTablesRuleset returns an nft script that replaces the table
// "inet flowspec" with a forward chain applying rules in RFC 8955 order.
func NFTablesRuleset(rules []FlowRule) string {
	rules = slices.Clone(rules)
	// IPv4 rules first: the families never match each other's packets,
	// and one family at a time reads better.
	slices.SortStableFunc(rules, func(a, b FlowRule) int {
		if a.Is6() != b.Is6() {
			return cmp.Compare(boolInt(a.Is6()), boolInt(b.Is6()))
		}
		return CompareFlowRules(a, b)
	})
	var b strings.Builder
	// Declaring the table first makes the delete succeed when it is new.
	b.WriteString("table inet flowspec\ndelete table inet flowspec\n")
	b.WriteString("table inet flowspec {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n")
	for _, f := range rules {
		fam := "ip"
		if f.Is6() {
			fam = "ip6"
		}
		b.WriteString("\t\t")
		if f.Dst.IsValid() {
			fmt.Fprintf(&b, "%s daddr %s ", fam, f.Dst)
		}
		if f.Src.IsValid() {
			fmt.Fprintf(&b, "%s saddr %s ", fam, f.Src)
		}
		if f.Discard {
			b.WriteString("counter drop\n")
		} else {
			b.WriteString("counter accept\n")
		}
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// EnforceFlowSpec replaces the router namespace's nftables table
// "inet flowspec" with the rules BIRD holds now in Flow4 and Flow6, and
// returns the script it loaded. Call it again after the rules changed.
func (r *Router) EnforceFlowSpec(t testing.TB) string {
	t.Helper()
	netns.RequireTool(t, "nft")
	script := NFTablesRuleset(append(r.FlowRules(t, Flow4), r.FlowRules(t, Flow6)...))
	file := filepath.Join(r.dir, "flowspec.nft")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := r.NS.Run(ctx, "nft", "-f", file); err != nil {
		t.Fatalf("bird: nft -f in %s: %v\n%s\n%s", r.NS.Name, err, out, script)
	}
	return script
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
