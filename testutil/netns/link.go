package netns

import (
	"context"
	"crypto/rand"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Link joins two namespaces with a veth pair, adds the addresses (IPv6 with
// nodad, usable at once), brings both ends up and returns the interface
// names. A nil namespace means the test process's own namespace; that end
// is deleted at cleanup, and traffic over it must stay between the two ends
// (see the package comment).
//
// The ends behave like a physical wire rather than a veth: checksum and
// segmentation offloads are off, so captures show MTU-sized frames with
// correct checksums instead of 64 KiB TSO super-frames whose checksum the
// kernel left blank.
func Link(t testing.TB, a, b *NS, aAddrs, bAddrs []netip.Prefix) (aIf, bIf string) {
	t.Helper()
	if a == nil && b == nil {
		t.Fatal("Link: at least one end must be a namespace")
	}
	prefix := pick(a, b).Prefix

	// The root-namespace end is created there, the other one is born in
	// its namespace: names only need to be unique per namespace, and the
	// random part makes them so in the shared root namespace.
	first, second := a, b
	if a != nil && b == nil {
		first, second = b, a
	}
	var err error
	for range 5 {
		aIf, bIf = vethNames(prefix)
		firstIf, secondIf := aIf, bIf
		if first != a {
			firstIf, secondIf = bIf, aIf
		}
		args := []string{"link", "add", firstIf, "type", "veth", "peer", "name", secondIf}
		if second != nil {
			args = append(args, "netns", second.Name)
		}
		if _, err = runIP(first, args...); err == nil || !strings.Contains(err.Error(), "File exists") {
			break
		}
	}
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	if a == nil {
		t.Cleanup(func() { delRootLink(t, aIf) })
	}
	if b == nil {
		t.Cleanup(func() { delRootLink(t, bIf) })
	}
	for _, end := range []struct {
		ns    *NS
		dev   string
		addrs []netip.Prefix
	}{{a, aIf, aAddrs}, {b, bIf, bAddrs}} {
		if err := wireLike(end.ns, end.dev); err != nil {
			t.Fatalf("Link: %v", err)
		}
		for _, p := range end.addrs {
			addAddr(t, end.ns, end.dev, p)
		}
		if _, err := runIP(end.ns, "link", "set", end.dev, "up"); err != nil {
			t.Fatalf("Link: %v", err)
		}
	}
	// The kernel starts a link's transmit queue only when its link watcher
	// sees the carrier, up to a second after "up"; until then both ends
	// drop what they send (seen: the first IPv6 neighbour solicitation
	// lost, a ping taking 1 s). Operstate UP comes after the queue started.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, end := range []struct {
		ns  *NS
		dev string
	}{{a, aIf}, {b, bIf}} {
		if err := WaitFor(ctx, func() bool { return operUp(end.ns, end.dev) }); err != nil {
			t.Fatalf("Link: %s not up: %v", end.dev, err)
		}
	}
	return aIf, bIf
}

// operUp reports whether dev's operational state is UP.
func operUp(ns *NS, dev string) bool {
	out, err := runIP(ns, "-o", "link", "show", "dev", dev)
	return err == nil && strings.Contains(string(out), " state UP ")
}

func pick(a, b *NS) *NS {
	if a != nil {
		return a
	}
	return b
}

// vethNames returns two names <prefix><4 random>a/b, 10 to 15 bytes.
func vethNames(prefix string) (string, string) {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	var r [4]byte
	_, _ = rand.Read(r[:])
	for i := range r {
		r[i] = alphabet[int(r[i])%len(alphabet)]
	}
	base := prefix + string(r[:])
	return base + "a", base + "b"
}

// delRootLink deletes a veth end in the test process's namespace; the peer
// goes with it. A namespace deleted first may have taken it already.
func delRootLink(t testing.TB, dev string) {
	out, err := exec.Command("ip", "link", "del", dev).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Cannot find device") {
		t.Errorf("netns cleanup: ip link del %s: %v: %s", dev, err, out)
	}
}

// AddAddr adds an address to a device in the namespace (IPv6 with nodad),
// e.g. a service address on "lo".
func (ns *NS) AddAddr(t testing.TB, dev string, p netip.Prefix) {
	t.Helper()
	addAddr(t, ns, dev, p)
}

func addAddr(t testing.TB, ns *NS, dev string, p netip.Prefix) {
	t.Helper()
	args := []string{"addr", "add", p.String(), "dev", dev}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	if _, err := runIP(ns, args...); err != nil {
		t.Fatalf("AddAddr: %v", err)
	}
}

// Route routes dst via a gateway, replacing any route for dst. A gateway
// with a zone (fe80::1%eth0) names the device, as link-local gateways need.
func (ns *NS) Route(t testing.TB, dst netip.Prefix, via netip.Addr) {
	t.Helper()
	args := []string{"route", "replace", dst.String(), "via", via.WithZone("").String()}
	if z := via.Zone(); z != "" {
		args = append(args, "dev", z)
	}
	ns.IP(t, args...)
}

// RouteLocal makes every address of dst local to the namespace (the
// AnyIP trick, `ip route add local dst dev lo`): a socket bound to the
// wildcard address answers on all of them, and a socket may bind to any of
// them, so one namespace plays a whole network of hosts.
func (ns *NS) RouteLocal(t testing.TB, dst netip.Prefix) {
	t.Helper()
	ns.IP(t, "route", "replace", "local", dst.String(), "dev", "lo")
}

// RouteBlackhole silently discards traffic to dst, no ICMP error: probes to
// dst stay unanswered, as with a host that drops them.
func (ns *NS) RouteBlackhole(t testing.TB, dst netip.Prefix) {
	t.Helper()
	ns.IP(t, "route", "replace", "blackhole", dst.String())
}
