package enforce_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"abuseguard"
	"abuseguard/enforce"
)

func TestPlan(t *testing.T) {
	a := netip.MustParseAddr
	both := func(id, addr, access string) abuseguard.Block {
		b := abuseguard.Block{CaseID: id, Address: a(addr), Scope: abuseguard.ScopeBoth}
		if access != "" {
			b.AccessIP = a(access)
		}
		return b
	}
	inbound := func(id, addr string) abuseguard.Block {
		return abuseguard.Block{CaseID: id, Address: a(addr), Scope: abuseguard.ScopeInbound}
	}
	tests := []struct {
		name        string
		desired     []abuseguard.Block
		wantTargets []enforce.Target
		wantInvalid map[int]string
	}{
		{
			name:    "one of each, sorted by address",
			desired: []abuseguard.Block{inbound("AG-2", "2001:db8::1"), both("AG-1", "198.51.100.7", "203.0.113.9")},
			wantTargets: []enforce.Target{
				{Address: a("198.51.100.7"), Scope: abuseguard.ScopeBoth, Access: []netip.Addr{a("203.0.113.9")}, Blocks: []int{1}},
				{Address: a("2001:db8::1"), Scope: abuseguard.ScopeInbound, Blocks: []int{0}},
			},
		},
		{
			name:    "both wins over inbound for the same address",
			desired: []abuseguard.Block{inbound("AG-1", "198.51.100.7"), both("AG-2", "198.51.100.7", "")},
			wantTargets: []enforce.Target{
				{Address: a("198.51.100.7"), Scope: abuseguard.ScopeBoth, Blocks: []int{0, 1}},
			},
		},
		{
			name:    "access IPs of two cases merge",
			desired: []abuseguard.Block{both("AG-1", "198.51.100.7", "203.0.113.9"), both("AG-2", "198.51.100.7", "203.0.113.1"), both("AG-3", "198.51.100.7", "203.0.113.9")},
			wantTargets: []enforce.Target{
				{Address: a("198.51.100.7"), Scope: abuseguard.ScopeBoth, Access: []netip.Addr{a("203.0.113.1"), a("203.0.113.9")}, Blocks: []int{0, 1, 2}},
			},
		},
		{
			name:    "mapped addresses are unmapped",
			desired: []abuseguard.Block{both("AG-1", "::ffff:198.51.100.7", "::ffff:203.0.113.9")},
			wantTargets: []enforce.Target{
				{Address: a("198.51.100.7"), Scope: abuseguard.ScopeBoth, Access: []netip.Addr{a("203.0.113.9")}, Blocks: []int{0}},
			},
		},
		{
			name: "invalid blocks are reported and skipped",
			desired: []abuseguard.Block{
				{Address: a("198.51.100.1"), Scope: abuseguard.ScopeBoth},
				{CaseID: "AG-2", Scope: abuseguard.ScopeBoth},
				inbound("AG-3", "127.0.0.1"),
				inbound("AG-4", "ff02::1"),
				{CaseID: "AG-5", Address: a("198.51.100.5"), Scope: "sideways"},
				{CaseID: "AG-6", Address: a("198.51.100.6"), Scope: abuseguard.ScopeInbound, AccessIP: a("203.0.113.9")},
				both("AG-7", "198.51.100.7", "2001:db8::9"),
				both("AG-8", "198.51.100.8", "198.51.100.8"),
				both("AG-9", "198.51.100.9", "0.0.0.0"),
				inbound("AG-10", "198.51.100.10"),
			},
			wantTargets: []enforce.Target{
				{Address: a("198.51.100.10"), Scope: abuseguard.ScopeInbound, Blocks: []int{9}},
			},
			wantInvalid: map[int]string{
				0: "invalid block: no case id",
				1: "invalid block: no address",
				2: "invalid block: 127.0.0.1 is not a unicast host address",
				3: "invalid block: ff02::1 is not a unicast host address",
				4: `invalid block: unknown scope "sideways"`,
				5: "invalid block: an access IP needs scope both",
				6: "invalid block: access IP and address are of different IP versions",
				7: "invalid block: access IP is the blocked address",
				8: "invalid block: access IP 0.0.0.0 is not a unicast host address",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets, invalid := enforce.Plan(tt.desired)
			if diff := cmp.Diff(targets, tt.wantTargets, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
				t.Fatalf("Plan() targets (-got, +want):\n%s", diff)
			}
			if diff := cmp.Diff(invalid, tt.wantInvalid); diff != "" {
				t.Fatalf("Plan() invalid (-got, +want):\n%s", diff)
			}
		})
	}
}
