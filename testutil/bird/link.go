package bird

import (
	"net/netip"
	"os"
	"sync/atomic"
	"testing"

	"abuseguard/testutil/netns"
)

// controlLinks counts the control links this process made.
var controlLinks atomic.Int32

// ControlLink joins the router's namespace to the test process's own (root)
// namespace with a veth pair, and returns the addresses of its two ends:
// speaker in the root namespace, router in edge. abuseguard's speaker (in
// the test process, or a serve the test started) dials the router from
// speaker exactly as it would in production.
//
// The speaker cannot simply run inside a namespace: GoBGP dials from
// goroutines it starts itself, and entering a namespace with setns on one
// locked thread would not cover them.
//
// Each link gets its own /30 of 169.254.0.0/16 (link-local: never routed
// beyond the link), starting from one derived from the process id, so that
// test binaries running at the same time rarely pick the same one. Only
// BGP between the two ends crosses it.
func ControlLink(t testing.TB, edge *netns.NS) (speaker, router netip.Addr) {
	t.Helper()
	n := (os.Getpid() + int(controlLinks.Add(1))) % (250 * 64)
	base := netip.AddrFrom4([4]byte{169, 254, byte(n/64 + 1), byte(n%64) * 4})
	speaker, router = base.Next(), base.Next().Next()
	netns.Link(t, nil, edge, []netip.Prefix{netip.PrefixFrom(speaker, 30)}, []netip.Prefix{netip.PrefixFrom(router, 30)})
	return speaker, router
}
