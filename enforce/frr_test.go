package enforce_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/testutil/bird"
	"abuseguard/testutil/netns"
)

// frr runs FRR's zebra, staticd and bgpd in a namespace as a second,
// stricter edge router (it applies RFC 7999's NO_EXPORT itself).
type frr struct {
	ns  *netns.NS
	dir string
}

const frrBGP = `frr defaults traditional
hostname edge
log file {{dir}}/bgpd.log
router bgp 65000
 bgp router-id 10.71.1.1
 no bgp ebgp-requires-policy
 neighbor {{neighbor}} remote-as 65001
 neighbor {{neighbor}} update-source {{local}}
 neighbor {{neighbor}} password s3cret-md5
 address-family ipv4 unicast
  neighbor {{neighbor}} activate
 exit-address-family
 address-family ipv6 unicast
  neighbor {{neighbor}} activate
 exit-address-family
 address-family ipv4 flowspec
  neighbor {{neighbor}} activate
 exit-address-family
 address-family ipv6 flowspec
  neighbor {{neighbor}} activate
 exit-address-family
`

const frrStatic = `ip route 192.0.2.1/32 blackhole
ipv6 route 100::1/128 blackhole
`

func startFRR(t testing.TB, ns *netns.NS, local, neighbor netip.Addr) *frr {
	t.Helper()
	for _, d := range []string{"/usr/lib/frr/zebra", "/usr/lib/frr/staticd", "/usr/lib/frr/bgpd", "vtysh"} {
		netns.RequireTool(t, d)
	}
	// FRR's daemons drop to the frr user, which must reach the files:
	// t.TempDir's parent is private to root.
	dir, err := os.MkdirTemp("", "agh7-frr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	f := &frr{ns: ns, dir: dir}
	r := strings.NewReplacer("{{dir}}", f.dir, "{{local}}", local.String(), "{{neighbor}}", neighbor.String())
	write := func(name, content string) string {
		p := filepath.Join(f.dir, name)
		if err := os.WriteFile(p, []byte(r.Replace(content)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	zsock := filepath.Join(f.dir, "zserv.api")
	daemons := []struct {
		name string
		args []string
	}{
		{"zebra", []string{"-f", write("zebra.conf", "hostname edge\n"), "-z", zsock}},
		{"staticd", []string{"-f", write("staticd.conf", frrStatic), "-z", zsock}},
		{"bgpd", []string{"-f", write("bgpd.conf", frrBGP), "-z", zsock, "-p", "179", "-S"}},
	}
	for _, d := range daemons {
		// The harness ends them with the test.
		ns.Start(t, "/usr/lib/frr/"+d.name, append([]string{
			"-i", filepath.Join(f.dir, d.name+".pid"), "--vty_socket", f.dir, "-P", "0"}, d.args...)...)
		waitFor(t, 10*time.Second, d.name+" answers", func() (bool, string) {
			out, err := f.vtysh(d.name, "show version")
			return err == nil, out
		})
	}
	return f
}

func (f *frr) vtysh(daemon, command string) (string, error) {
	return out(f.ns, "vtysh", "--vty_socket", f.dir, "-d", daemon, "-c", command)
}

// TestE2EFRR checks the announcements against FRR 8.4 as a second, stricter
// edge: the blackhole route is accepted as valid and best with its
// communities, and the FlowSpec rules (three with a destination, three with
// a source, two of them discarding) are received.
func TestE2EFRR(t *testing.T) {
	needRoot(t)
	tp := &topology{edge: newNS(t, "fedge")}
	tp.speaker, tp.router = bird.ControlLink(t, tp.edge)
	f := startFRR(t, tp.edge, tp.router, tp.speaker)

	store := newMemBlocks(
		abuseguard.Block{CaseID: "AG-F1", Address: netip.MustParseAddr("10.71.2.2"), Scope: abuseguard.ScopeInbound, Revision: 1},
		abuseguard.Block{CaseID: "AG-N1", Address: netip.MustParseAddr("10.71.2.4"), Scope: abuseguard.ScopeBoth, AccessIP: netip.MustParseAddr("10.71.1.3"), Revision: 1},
	)
	cfg := tp.speakerConfig()
	cfg.Neighbors[0].Password = "s3cret-md5"
	startAbuseguard(t, cfg, store)
	waitFor(t, 30*time.Second, "blackhole route in FRR", func() (bool, string) {
		out, _ := f.vtysh("bgpd", "show bgp ipv4 unicast 10.71.2.2/32")
		return strings.Contains(out, "blackhole") && strings.Contains(out, "no-export"), out
	})
	t.Logf("show bgp ipv4 unicast 10.71.2.2/32:\n%s", mustOut(t, tp.edge, "vtysh", "--vty_socket", f.dir, "-d", "bgpd", "-c", "show bgp ipv4 unicast 10.71.2.2/32"))
	// Measured, not asserted: FRR 8.4's zebra keeps a BGP route whose next
	// hop resolves through a blackhole static route "inactive" and installs
	// nothing in the kernel (docs/enforcement.md).
	z, _ := f.vtysh("zebra", "show ip route 10.71.2.2/32")
	t.Logf("zebra: show ip route 10.71.2.2/32:\n%s", z)
	waitFor(t, 10*time.Second, "FlowSpec rules in FRR", func() (bool, string) {
		out, _ := f.vtysh("bgpd", "show bgp ipv4 flowspec detail")
		return strings.Count(out, "Destination Address") == 3 && strings.Count(out, "Source Address") == 3 &&
			strings.Count(out, "rate 0.000000") == 2, out
	})
	t.Logf("show bgp ipv4 flowspec detail:\n%s", mustOut(t, tp.edge, "vtysh", "--vty_socket", f.dir, "-d", "bgpd", "-c", "show bgp ipv4 flowspec detail"))
}
