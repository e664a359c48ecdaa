package enforce

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"abuseguard"
)

// Target is what must be enforced for one address, merged from every
// desired block that names it.
type Target struct {
	Address netip.Addr
	// Scope is ScopeBoth as soon as one block for the address is: a block
	// that stops traffic both ways also stops it inbound, and announcing
	// a blackhole beside it would swallow the access IP's traffic.
	Scope abuseguard.BlockScope
	// Access holds the access IPs of the address's ScopeBoth blocks,
	// sorted and without duplicates. Usually none or one; two cases for
	// one address may each carry one.
	Access []netip.Addr
	// Blocks indexes the desired blocks merged into this target.
	Blocks []int
}

// Plan validates desired and merges it per address, sorted by address, so
// that enforcers never announce the same route twice and never put a
// blackhole beside an access exception. Invalid maps the index of each
// rejected block to the reason; such blocks are enforced nowhere.
func Plan(desired []abuseguard.Block) (targets []Target, invalid map[int]string) {
	byAddr := make(map[netip.Addr]int, len(desired))
	for i := range desired {
		b := &desired[i]
		if reason := check(b); reason != "" {
			if invalid == nil {
				invalid = make(map[int]string)
			}
			invalid[i] = reason
			continue
		}
		addr := b.Address.Unmap()
		n, ok := byAddr[addr]
		if !ok {
			n = len(targets)
			byAddr[addr] = n
			targets = append(targets, Target{Address: addr, Scope: abuseguard.ScopeInbound})
		}
		t := &targets[n]
		t.Blocks = append(t.Blocks, i)
		if b.Scope == abuseguard.ScopeBoth {
			t.Scope = abuseguard.ScopeBoth
			if b.AccessIP.IsValid() {
				a := b.AccessIP.Unmap()
				if !slices.Contains(t.Access, a) {
					t.Access = append(t.Access, a)
				}
			}
		}
	}
	for i := range targets {
		slices.SortFunc(targets[i].Access, netip.Addr.Compare)
	}
	slices.SortFunc(targets, func(a, b Target) int { return a.Address.Compare(b.Address) })
	return targets, invalid
}

// check returns why a block cannot be enforced, or "".
func check(b *abuseguard.Block) string {
	addr := b.Address.Unmap()
	switch {
	case b.CaseID == "":
		return "invalid block: no case id"
	case !addr.IsValid():
		return "invalid block: no address"
	case !addr.IsGlobalUnicast():
		// Loopback, multicast, link-local or unspecified: announcing
		// these would break the router, not a customer server.
		return fmt.Sprintf("invalid block: %s is not a unicast host address", addr)
	case b.Scope != abuseguard.ScopeInbound && b.Scope != abuseguard.ScopeBoth:
		return fmt.Sprintf("invalid block: unknown scope %q", b.Scope)
	}
	if !b.AccessIP.IsValid() {
		return ""
	}
	access := b.AccessIP.Unmap()
	switch {
	case b.Scope != abuseguard.ScopeBoth:
		return "invalid block: an access IP needs scope both"
	case !access.IsGlobalUnicast():
		return fmt.Sprintf("invalid block: access IP %s is not a unicast host address", access)
	case access.Is4() != addr.Is4():
		return "invalid block: access IP and address are of different IP versions"
	case access == addr:
		return "invalid block: access IP is the blocked address"
	}
	return ""
}

// Statuses returns a status for every desired block: the invalid ones
// failed with their reason, the others from status, called with the
// block's index. It is the common tail of every enforcer's Apply.
func Statuses(name string, desired []abuseguard.Block, invalid map[int]string, status func(i int) (abuseguard.EnforceState, string)) []abuseguard.BlockStatus {
	out := make([]abuseguard.BlockStatus, len(desired))
	for i := range desired {
		st := abuseguard.BlockStatus{CaseID: desired[i].CaseID, Enforcer: name, Revision: desired[i].Revision}
		if reason, bad := invalid[i]; bad {
			st.State, st.Detail = abuseguard.EnforceFailed, reason
		} else {
			st.State, st.Detail = status(i)
		}
		out[i] = st
	}
	return out
}

// sortStatuses orders statuses by case for stable output and tests.
func sortStatuses(s []abuseguard.BlockStatus) {
	slices.SortFunc(s, func(a, b abuseguard.BlockStatus) int {
		return cmp.Or(cmp.Compare(a.CaseID, b.CaseID), cmp.Compare(a.Enforcer, b.Enforcer))
	})
}

// stamp sets UpdatedAt on statuses that lack it.
func stamp(s []abuseguard.BlockStatus, now time.Time) {
	for i := range s {
		if s[i].UpdatedAt.IsZero() {
			s[i].UpdatedAt = now
		}
	}
}
