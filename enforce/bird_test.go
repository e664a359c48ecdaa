package enforce_test

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"abuseguard/testutil/netns"
)

// bird is a BIRD 2 daemon running in a namespace as the edge router.
type bird struct {
	ns   *netns.NS
	dir  string
	sock string
	proc *netns.Proc // nil while stopped
}

// birdConfig is the edge router's configuration: one BGP session with
// abuseguard carrying the four families, received blackhole routes
// resolved through a prohibit route for the next hop (so traceroutes end
// at the router with !X) and installed in the kernel, FlowSpec rules kept
// in their own tables. This is the configuration docs/enforcement.md shows.
const birdConfig = `log "{{dir}}/bird.log" all;
router id 10.71.1.1;

protocol device { scan time 1; }
protocol direct { ipv4; ipv6; }

flow4 table flowtab4;
flow6 table flowtab6;

# The blackhole next hops abuseguard announces. "prohibit" answers with
# ICMP administratively prohibited: a traceroute ends here with !X. Use
# "blackhole" to drop silently instead.
protocol static blackhole_nh4 { ipv4; route 192.0.2.1/32 prohibit; }
protocol static blackhole_nh6 { ipv6; route 100::1/128 prohibit; }

# Without a kernel protocol BIRD installs nothing in the routing table.
protocol kernel kernel4 { ipv4 { export where source = RTS_BGP; }; }
protocol kernel kernel6 { ipv6 { export where source = RTS_BGP; }; }

protocol bgp abuseguard {
	local {{local}} as 65000;
	neighbor {{neighbor}} as 65001;
	{{password}}
	# Only host routes carrying BLACKHOLE are accepted from abuseguard.
	ipv4 { import where net.len = 32 && (65535,666) ~ bgp_community; export none; gateway recursive; };
	ipv6 { import where net.len = 128 && (65535,666) ~ bgp_community; export none; gateway recursive; next hop address fd71:1::1; };
	flow4 { table flowtab4; import all; export none; };
	flow6 { table flowtab6; import all; export none; next hop address fd71:1::1; };
}
`

// startBird writes the configuration and starts BIRD in ns; it is killed
// at the end of the test.
func startBird(t testing.TB, ns *netns.NS, local, neighbor netip.Addr, password string) *bird {
	t.Helper()
	netns.RequireTool(t, "bird")
	netns.RequireTool(t, "birdc")
	dir := t.TempDir()
	pw := ""
	if password != "" {
		pw = fmt.Sprintf("password %q;", password)
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{local}}", local.String(), "{{neighbor}}", neighbor.String(), "{{password}}", pw).Replace(birdConfig)
	if err := os.WriteFile(filepath.Join(dir, "bird.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &bird{ns: ns, dir: dir, sock: filepath.Join(dir, "bird.ctl")}
	b.start(t)
	return b
}

// start runs BIRD in the foreground and waits until it answers.
func (b *bird) start(t testing.TB) {
	t.Helper()
	// The harness stops it at the end of the test if it still runs.
	b.proc = b.ns.Start(t, "bird", "-f", "-c", filepath.Join(b.dir, "bird.conf"), "-s", b.sock)
	waitFor(t, 10*time.Second, "bird answers", func() (bool, string) {
		out, err := b.birdc("show", "status")
		return err == nil && strings.Contains(out, "Daemon is up"), out
	})
}

// stop ends BIRD (SIGTERM: it closes its sessions) and waits for it.
func (b *bird) stop(t testing.TB) {
	t.Helper()
	if b.proc == nil {
		return
	}
	b.proc.Signal(syscall.SIGTERM)
	select {
	case <-b.proc.Done():
	case <-time.After(10 * time.Second):
		b.proc.Signal(syscall.SIGKILL)
		<-b.proc.Done()
	}
	b.proc = nil
}

// birdc runs a BIRD client command.
func (b *bird) birdc(args ...string) (string, error) {
	return out(b.ns, "birdc", append([]string{"-s", b.sock}, args...)...)
}

func (b *bird) mustBirdc(t testing.TB, args ...string) string {
	t.Helper()
	out, err := b.birdc(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// established reports whether the session with abuseguard is up.
func (b *bird) established() bool {
	out, err := b.birdc("show", "protocols", "abuseguard")
	return err == nil && strings.Contains(out, "Established")
}

// prefixes lists the networks of table (master4, master6, flowtab4,
// flowtab6) learned from abuseguard, one entry per route, sorted: a
// duplicate would show twice.
func (b *bird) prefixes(t testing.TB, table string) []string {
	t.Helper()
	out := b.mustBirdc(t, "show", "route", "table", table, "protocol", "abuseguard", "all")
	var nets []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "flow4 {"), strings.HasPrefix(line, "flow6 {"):
			nets = append(nets, line[:strings.Index(line, "}")+1])
		case strings.HasPrefix(line, "BIRD"), strings.HasPrefix(line, "Table"), line == "", strings.HasPrefix(line, "\t"), strings.HasPrefix(line, " "):
		default:
			if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[0], "/") {
				nets = append(nets, f[0])
			}
		}
	}
	slices.Sort(nets)
	return nets
}

// waitFor polls cond until it holds or timeout passes; what is shown in
// the failure message.
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
