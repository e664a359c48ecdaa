// Package bird runs BIRD 2 as the provider's edge router inside a network
// namespace, for tests that check what abuseguard's BGP speaker announces:
// it writes the edge configuration docs/enforcement.md recommends (one BGP
// session with the speaker carrying ipv4/ipv6 unicast and flow4/flow6, the
// blackhole next hops resolved to "prohibit", a kernel protocol so received
// blackhole routes reach Linux), starts and restarts the daemon, and reads
// its tables back through birdc.
//
// BIRD keeps FlowSpec rules in its flow tables without programming Linux;
// EnforceFlowSpec translates the rules BIRD holds into nftables in the
// router's namespace, ordered as RFC 8955 §5.1 says, so a test can observe
// what the rules mean for traffic.
//
// Measured with BIRD 2.0.12 (Debian 12). Only tests import this package;
// functions taking a testing.TB must be called from the test's goroutine.
package bird

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"abuseguard/testutil/netns"
)

// Protocol is the name of the BGP protocol (the session with abuseguard) in
// the generated configuration: `birdc show protocols abuseguard`.
const Protocol = "abuseguard"

// The tables of the generated configuration.
const (
	Master4 = "master4"  // IPv4 unicast: received blackhole routes
	Master6 = "master6"  // IPv6 unicast
	Flow4   = "flowtab4" // IPv4 FlowSpec rules
	Flow6   = "flowtab6" // IPv6 FlowSpec rules
)

// Tables lists every table abuseguard's routes can land in.
var Tables = []string{Master4, Master6, Flow4, Flow6}

// Config describes the edge router. The zero values of the optional fields
// are the defaults shown.
type Config struct {
	// Local is the router's address on the session; Speaker is
	// abuseguard's. Both required, of the same family.
	Local, Speaker netip.Addr
	// LocalAS and SpeakerAS are the two ends' AS numbers (65000, 65001).
	LocalAS, SpeakerAS uint32
	// RouterID is BIRD's router id (Local, which must then be IPv4).
	RouterID netip.Addr
	// Password is the session's TCP MD5 password; empty: none.
	Password string
	// NextHop4 and NextHop6 are the blackhole next hops the speaker
	// announces (192.0.2.1 and 100::1, bgp.DefaultConfiguration's).
	NextHop4, NextHop6 netip.Addr
	// NextHopRoute is what those next hops resolve to, and so what every
	// received blackhole route becomes in the kernel: "prohibit" (ICMP
	// administratively prohibited, a traceroute ends at the router with
	// !X), "unreachable" (!H) or "blackhole" (silent; on Linux even the
	// probes whose TTL runs out at the router go unanswered, since the
	// forwarding lookup comes first). Default "prohibit".
	NextHopRoute string
	// SelfNextHop6 is the IPv6 next hop BIRD puts on its own IPv6 exports
	// over an IPv4 session. It exports nothing to abuseguard, but without
	// one BIRD logs "Missing next hop address" for the channel. Default
	// 2001:db8::254; unused on an IPv6 session.
	SelfNextHop6 netip.Addr
}

// withDefaults fills in the defaults and checks the required fields.
func (c Config) withDefaults() (Config, error) {
	if !c.Local.IsValid() || !c.Speaker.IsValid() || c.Local.Is4() != c.Speaker.Is4() {
		return c, fmt.Errorf("bird: Local (%v) and Speaker (%v) must be addresses of the same family", c.Local, c.Speaker)
	}
	if c.LocalAS == 0 {
		c.LocalAS = 65000
	}
	if c.SpeakerAS == 0 {
		c.SpeakerAS = 65001
	}
	if !c.RouterID.IsValid() {
		c.RouterID = c.Local
	}
	if !c.RouterID.Is4() {
		return c, fmt.Errorf("bird: router id %v must be an IPv4 address", c.RouterID)
	}
	if !c.NextHop4.IsValid() {
		c.NextHop4 = netip.MustParseAddr("192.0.2.1")
	}
	if !c.NextHop6.IsValid() {
		c.NextHop6 = netip.MustParseAddr("100::1")
	}
	switch c.NextHopRoute {
	case "":
		c.NextHopRoute = "prohibit"
	case "prohibit", "unreachable", "blackhole":
	default:
		return c, fmt.Errorf("bird: NextHopRoute %q is not prohibit, unreachable or blackhole", c.NextHopRoute)
	}
	if !c.SelfNextHop6.IsValid() {
		c.SelfNextHop6 = netip.MustParseAddr("2001:db8::254")
	}
	return c, nil
}

// Router is a BIRD daemon running in a namespace. Its methods may be
// called from the test's goroutine only.
type Router struct {
	// NS is the namespace BIRD runs in.
	NS *netns.NS
	// Config is the configuration it runs, defaults filled in.
	Config Config

	t    testing.TB
	dir  string
	sock string
	proc *netns.Proc // nil while stopped
}

// Start writes the configuration into a directory of the test and starts
// BIRD in ns, waiting until birdc answers. BIRD is stopped when the test
// ends; if the test failed, the end of BIRD's log is logged. It skips the
// test when bird or birdc are missing.
func Start(t testing.TB, ns *netns.NS, cfg Config) *Router {
	t.Helper()
	netns.RequireTool(t, "bird")
	netns.RequireTool(t, "birdc")
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &Router{NS: ns, Config: cfg, t: t, dir: dir, sock: filepath.Join(dir, "bird.ctl")}
	if err := os.WriteFile(r.ConfigFile(), []byte(cfg.Render(r.LogFile())), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(r.LogFile())
			t.Logf("BIRD log %s (last 4 KiB):\n%s", r.LogFile(), tail(log, 4<<10))
		}
	})
	r.Start(t)
	return r
}

// ConfigFile is the path of the configuration BIRD runs.
func (r *Router) ConfigFile() string { return filepath.Join(r.dir, "bird.conf") }

// LogFile is the path of BIRD's log (every message class).
func (r *Router) LogFile() string { return filepath.Join(r.dir, "bird.log") }

// Start starts BIRD again after Stop; it waits until birdc answers.
func (r *Router) Start(t testing.TB) {
	t.Helper()
	if r.proc != nil {
		t.Fatal("bird: Start while running")
	}
	// In the foreground, so the harness owns the process and ends it at
	// cleanup if it still runs.
	r.proc = r.NS.Start(t, "bird", "-f", "-c", r.ConfigFile(), "-s", r.sock)
	r.wait(t, 10*time.Second, "birdc answers", func() bool {
		out, err := r.Birdc("show", "status")
		return err == nil && strings.Contains(out, "Daemon is up")
	})
}

// Stop ends BIRD with SIGTERM, which closes its sessions with a
// NOTIFICATION, and waits for it (SIGKILL after 10 s).
func (r *Router) Stop(t testing.TB) {
	t.Helper()
	if r.proc == nil {
		return
	}
	r.proc.Signal(syscall.SIGTERM)
	select {
	case <-r.proc.Done():
	case <-time.After(10 * time.Second):
		r.proc.Signal(syscall.SIGKILL)
		<-r.proc.Done()
	}
	r.proc = nil
}

// Restart stops and starts BIRD: every route learned from the speaker is
// gone until the session is back and the speaker re-announced.
func (r *Router) Restart(t testing.TB) {
	t.Helper()
	r.Stop(t)
	r.Start(t)
}

// Birdc runs a birdc command (at most 20 s) and returns its output.
func (r *Router) Birdc(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := r.NS.Run(ctx, "birdc", append([]string{"-s", r.sock}, args...)...)
	return string(out), err
}

// MustBirdc is Birdc failing the test when birdc fails.
func (r *Router) MustBirdc(t testing.TB, args ...string) string {
	t.Helper()
	out, err := r.Birdc(args...)
	if err != nil {
		t.Fatalf("bird: %v", err)
	}
	return out
}

// Established reports whether the session with the speaker is up.
func (r *Router) Established() bool {
	out, err := r.Birdc("show", "protocols", Protocol)
	return err == nil && strings.Contains(out, "Established")
}

// WaitEstablished waits, at most timeout, until the session is up.
func (r *Router) WaitEstablished(t testing.TB, timeout time.Duration) {
	t.Helper()
	r.wait(t, timeout, "BGP session with the speaker established", r.Established)
}

// wait polls cond until it holds, failing the test after timeout with the
// session's state.
func (r *Router) wait(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := netns.WaitFor(ctx, cond); err != nil {
		state, _ := r.Birdc("show", "protocols", "all", Protocol)
		t.Fatalf("bird: %s: not within %s: %v\n%s", what, timeout, err, state)
	}
}

// tail returns the last n bytes of b.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = append([]byte("..."), b[len(b)-n:]...)
	}
	return string(b)
}
