package enforce_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Minimal network-namespace helpers for the end-to-end tests. They are
// meant to give way to the shared testutil/netns once it lands.

// needRoot skips the test unless it runs as root with the tools it needs.
func needRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

// nsPrefix starts every namespace and root-side link this process
// creates, so parallel test binaries of other engineers never collide.
var nsPrefix = fmt.Sprintf("agh7-%d", os.Getpid()%100000)

// run runs a command with a bounded time and returns its combined output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// must runs a command and fails the test if it fails.
func must(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := run(context.Background(), name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// netns is a network namespace removed at the end of the test.
type netns struct{ name string }

func newNetns(t testing.TB, suffix string) *netns {
	t.Helper()
	n := &netns{name: nsPrefix + "-" + suffix}
	run(context.Background(), "ip", "netns", "del", n.name) // left over by a killed run
	must(t, "ip", "netns", "add", n.name)
	t.Cleanup(func() { run(context.Background(), "ip", "netns", "del", n.name) })
	n.must(t, "ip", "link", "set", "lo", "up")
	return n
}

// exec runs a command inside the namespace.
func (n *netns) exec(ctx context.Context, name string, args ...string) (string, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

func (n *netns) must(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := n.exec(context.Background(), name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ok reports whether a command inside the namespace succeeds.
func (n *netns) ok(name string, args ...string) bool {
	_, err := n.exec(context.Background(), name, args...)
	return err == nil
}

var linkSeq atomic.Int32

// link connects namespace a (interface ifA, addresses addrsA) to b; a nil
// namespace is the root namespace. Addresses are CIDR strings; IPv6 ones
// skip duplicate address detection so they work at once.
func link(t testing.TB, a *netns, ifA string, addrsA []string, b *netns, ifB string, addrsB []string) {
	t.Helper()
	tmp := fmt.Sprintf("ag7t%dx%d", os.Getpid()%100000, linkSeq.Add(1)) // ≤ 14 bytes, +"p" ≤ 15
	must(t, "ip", "link", "add", tmp, "type", "veth", "peer", "name", tmp+"p")
	if a == nil {
		t.Cleanup(func() { run(context.Background(), "ip", "link", "del", ifA) })
	}
	setup := func(ns *netns, from, to string, addrs []string) {
		ip := func(args ...string) {
			if ns == nil {
				must(t, "ip", args...)
			} else {
				ns.must(t, "ip", args...)
			}
		}
		if ns != nil {
			must(t, "ip", "link", "set", from, "netns", ns.name)
		}
		ip("link", "set", from, "name", to)
		for _, addr := range addrs {
			if strings.Contains(addr, ":") {
				ip("addr", "add", addr, "dev", to, "nodad")
			} else {
				ip("addr", "add", addr, "dev", to)
			}
		}
		ip("link", "set", to, "up")
	}
	setup(a, tmp, ifA, addrsA)
	setup(b, tmp+"p", ifB, addrsB)
}
