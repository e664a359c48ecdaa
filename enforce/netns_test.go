package enforce_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"abuseguard/testutil/netns"
)

// Thin conveniences over the shared testutil/netns harness for the
// end-to-end tests: commands return strings, and every command is bounded.

// needRoot skips the test unless it runs as root with the tools it needs.
func needRoot(t testing.TB, tools ...string) {
	t.Helper()
	netns.RequireRoot(t)
	for _, tool := range tools {
		netns.RequireTool(t, tool)
	}
}

// newNS creates the namespace "agh7-<role>-…", removed with everything in
// it when the test ends.
func newNS(t testing.TB, role string) *netns.NS {
	t.Helper()
	return netns.New(t, "agh7-"+role)
}

// out runs a command inside ns, for at most 20 s, and returns its output.
func out(ns *netns.NS, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := ns.Run(ctx, name, args...)
	return string(b), err
}

// mustOut is out that fails the test when the command fails.
func mustOut(t testing.TB, ns *netns.NS, name string, args ...string) string {
	t.Helper()
	s, err := out(ns, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// succeeds reports whether a command inside ns exits with status 0.
func succeeds(ns *netns.NS, name string, args ...string) bool {
	_, err := out(ns, name, args...)
	return err == nil
}

// prefixes parses CIDR strings.
func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

// waitFor polls cond until it holds or timeout passes; what cond returns
// as its second value is shown in the failure message.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; last state:\n%s", what, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
