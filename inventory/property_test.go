package inventory

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"abuseguard"
	"abuseguard/flow"
)

// naiveClassify computes the Class of a from the configuration by scanning
// every list, straight from the semantics in the package documentation.
func naiveClassify(cfg Configuration, groups []HostGroup, a netip.Addr) flow.Class {
	in := func(list []netip.Prefix) bool {
		for _, p := range list {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	c := flow.Class{Server: -1}
	best := -1
	for i, s := range cfg.Servers {
		for _, p := range s.Prefixes {
			if p.Contains(a) && p.Bits() > best {
				best, c.Server = p.Bits(), int32(i)
			}
		}
	}
	customer := c.Server >= 0 || in(cfg.CustomerPrefixes)
	provider := in(cfg.ProviderPrefixes)
	if len(cfg.ProviderPrefixes) == 0 {
		provider = customer
	}
	if customer {
		c.Flags |= flow.ClassCustomer
	}
	if provider {
		c.Flags |= flow.ClassProvider
	}
	if in(cfg.ProtectedPrefixes) {
		c.Flags |= flow.ClassProtected
	}
	if !customer && !provider && in(cfg.ReservedPrefixes) {
		c.Flags |= flow.ClassReserved
	}
	if c.Server >= 0 && cfg.Servers[c.Server].HostGroup != "" {
		for g, hg := range groups {
			if hg.Name == cfg.Servers[c.Server].HostGroup {
				c.Group = uint16(g)
			}
		}
		return c
	}
	best = -1
	for g, hg := range groups {
		for _, p := range hg.Prefixes {
			if p.Contains(a) && p.Bits() > best {
				best, c.Group = p.Bits(), uint16(g)
			}
		}
	}
	return c
}

// TestClassifyMatchesAttributeTables checks the argument in build.go: one
// lookup in the combined table gives what the separate longest matches
// give, on random nested prefixes of random kinds and random addresses
// around them.
func TestClassifyMatchesAttributeTables(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 42))
		cfg, groups := randomInventory(rng)
		inv, err := New(cfg, groups)
		if err != nil {
			t.Fatalf("seed %d: New(): %v", seed, err)
		}
		for range 2000 {
			a := randomAddr(rng)
			if got, want := inv.Classify(a), naiveClassify(cfg, groups, a); got != want {
				t.Fatalf("seed %d: Classify(%s) = %+v, want %+v", seed, a, got, want)
			}
		}
	}
}

// The random inventory lives in 10.0.0.0/16 and 2001:db8::/48 so that
// random addresses hit its prefixes often; prefix lengths are mixed so that
// prefixes of different kinds nest in every order.
func randomAddr(rng *rand.Rand) netip.Addr {
	if rng.IntN(2) == 0 {
		return netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(4)), byte(rng.IntN(256))})
	}
	var b [16]byte
	copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, byte(rng.IntN(4))})
	b[15] = byte(rng.IntN(256))
	return netip.AddrFrom16(b)
}

func randomPrefix(rng *rand.Rand) netip.Prefix {
	a := randomAddr(rng)
	bits := 22 + rng.IntN(11) // /22 to /32
	if a.Is6() {
		bits = 118 + rng.IntN(11)
	}
	return netip.PrefixFrom(a, bits).Masked()
}

func randomInventory(rng *rand.Rand) (Configuration, []HostGroup) {
	some := func(n int) []netip.Prefix {
		out := make([]netip.Prefix, rng.IntN(n+1))
		for i := range out {
			out[i] = randomPrefix(rng)
		}
		return out
	}
	cfg := Configuration{
		CustomerPrefixes:  some(3),
		ProtectedPrefixes: some(3),
		ReservedPrefixes:  append(some(3), netip.MustParsePrefix("10.0.0.0/8")),
		Customers:         []abuseguard.Customer{{ID: "c", Email: "a@example.com", Language: "en"}},
	}
	if rng.IntN(3) > 0 { // sometimes the provider's space is the customer space
		cfg.ProviderPrefixes = prefixes("10.0.0.0/16", "2001:db8::/48")
		cfg.ProviderPrefixes = append(cfg.ProviderPrefixes[:rng.IntN(3)], some(2)...)
	}
	groups := []HostGroup{{Name: "default"}}
	for g := range rng.IntN(4) {
		groups = append(groups, HostGroup{Name: fmt.Sprint("g", g), Prefixes: some(3)})
	}
	// Servers must not overlap each other: draw until a prefix is free.
	var taken []netip.Prefix
	for i := range rng.IntN(12) {
		p := randomPrefix(rng)
		free := true
		for _, q := range taken {
			free = free && !p.Overlaps(q)
		}
		if !free {
			continue
		}
		taken = append(taken, p)
		s := abuseguard.Server{ID: fmt.Sprint("s", i), CustomerID: "c", Prefixes: []netip.Prefix{p}}
		if len(groups) > 1 && rng.IntN(3) == 0 {
			s.HostGroup = groups[rng.IntN(len(groups))].Name
		}
		cfg.Servers = append(cfg.Servers, s)
	}
	// Customer space must be inside the provider's space.
	if len(cfg.ProviderPrefixes) > 0 {
		cfg.ProviderPrefixes = append(cfg.ProviderPrefixes, cfg.CustomerPrefixes...)
		cfg.ProviderPrefixes = append(cfg.ProviderPrefixes, taken...)
	}
	// Duplicate group prefixes are an error; drop them.
	seen := map[netip.Prefix]bool{}
	for i := range groups {
		kept := groups[i].Prefixes[:0]
		for _, p := range groups[i].Prefixes {
			if !seen[p] {
				seen[p] = true
				kept = append(kept, p)
			}
		}
		groups[i].Prefixes = kept
	}
	return cfg, groups
}
