package netns

import (
	"bufio"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testPrefix is this package's own namespace prefix.
const testPrefix = "agh3-"

var (
	addrA4 = netip.MustParsePrefix("10.99.0.1/24")
	addrB4 = netip.MustParsePrefix("10.99.0.2/24")
	addrA6 = netip.MustParsePrefix("2001:db8:99::1/64")
	addrB6 = netip.MustParsePrefix("2001:db8:99::2/64")
)

// pair links two fresh namespaces with v4 and v6 addresses.
func pair(t *testing.T) (a, b *NS, aIf, bIf string) {
	t.Helper()
	a, b = New(t, testPrefix+"a"), New(t, testPrefix+"b")
	aIf, bIf = Link(t, a, b, []netip.Prefix{addrA4, addrA6}, []netip.Prefix{addrB4, addrB6})
	return a, b, aIf, bIf
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPing(t *testing.T) {
	RequireTool(t, "ping")
	a, b, aIf, bIf := pair(t)
	for _, c := range []struct {
		from *NS
		to   netip.Addr
	}{{a, addrB4.Addr()}, {b, addrA4.Addr()}, {a, addrB6.Addr()}, {b, addrA6.Addr()}} {
		// One echo, no retry: the first packet must pass, as IPv6 does
		// only when DAD is off.
		if out, err := c.from.Run(ctxTimeout(t, 10*time.Second), "ping", "-c", "1", "-W", "2", c.to.String()); err != nil {
			t.Errorf("ping %s from %s: %v\n%s", c.to, c.from.Name, err, out)
		}
	}
	for _, n := range []string{aIf, bIf} {
		if !strings.HasPrefix(n, testPrefix) || len(n) > 15 {
			t.Errorf("interface name %q: want prefix %q and at most 15 bytes", n, testPrefix)
		}
	}
}

func TestDoSockets(t *testing.T) {
	a, b, _, _ := pair(t)
	ln := a.Listen(t, "tcp", netip.AddrPortFrom(addrA6.Addr(), 0).String())
	ServeBanner(t, ln, "220 test")
	raddr := netip.MustParseAddrPort(ln.Addr().String())
	c, err := b.Dial(ctxTimeout(t, 5*time.Second), "tcp", netip.AddrPort{}, raddr)
	if err != nil {
		t.Fatalf("Dial(%s) from %s: %v", raddr, b.Name, err)
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "220 test\r\n" {
		t.Fatalf("banner = %q, %v; want %q", line, err, "220 test\r\n")
	}
	if got := netip.MustParseAddrPort(c.LocalAddr().String()).Addr(); got != addrB6.Addr() {
		t.Errorf("source address = %s, want %s (the socket must live in %s)", got, addrB6.Addr(), b.Name)
	}
}

func TestRun(t *testing.T) {
	ns := New(t, testPrefix+"run")
	out, err := ns.Run(ctxTimeout(t, 10*time.Second), "sh", "-c", "echo out; echo err >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "out") || !strings.Contains(err.Error(), "err") {
		t.Errorf("Run(exit 3) error = %v; want an error carrying the output", err)
	}
	if got := string(out); got != "out\nerr\n" {
		t.Errorf("Run() output = %q, want %q", got, "out\nerr\n")
	}

	out, err = ns.Run(ctxTimeout(t, 10*time.Second), "readlink", "/proc/self/ns/net")
	if err != nil {
		t.Fatalf("Run(readlink): %v", err)
	}
	own, _ := os.Readlink("/proc/self/ns/net")
	if strings.TrimSpace(string(out)) == own {
		t.Errorf("process ran in the test's own namespace %s", own)
	}

	start := time.Now()
	_, err = ns.Run(ctxTimeout(t, 200*time.Millisecond), "sleep", "30")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("Run(sleep 30) with a 200 ms deadline = %v after %v; want a deadline error at once", err, time.Since(start))
	}
}

func TestStart(t *testing.T) {
	ns := New(t, testPrefix+"start")
	p := ns.Start(t, "sh", "-c", `trap "echo term; exit 0" TERM; echo ready; while :; do sleep 0.05; done`)
	if err := p.WaitOutput(ctxTimeout(t, 10*time.Second), "ready"); err != nil {
		t.Fatalf("WaitOutput(ready): %v", err)
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/cmdline")
	if err != nil || !strings.HasPrefix(string(cmdline), testPrefix+"sh\x00") {
		t.Errorf("argv[0] = %q, %v; want %q", cmdline, err, testPrefix+"sh")
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if !strings.Contains(p.Output(), "term") {
		t.Errorf("Output() = %q, want the trap's %q", p.Output(), "term")
	}

	q := ns.Start(t, "sh", "-c", "exit 7")
	if err := q.Wait(); err == nil || !strings.Contains(err.Error(), "exit status 7") {
		t.Errorf("Wait() = %v, want exit status 7", err)
	}
	if err := q.WaitOutput(ctxTimeout(t, 5*time.Second), "never"); err == nil {
		t.Error("WaitOutput on an exited process without the text = nil, want an error")
	}
}

func TestCapture(t *testing.T) {
	RequireTool(t, "ping")
	a, b, aIf, _ := pair(t)
	path := filepath.Join(t.TempDir(), "ping.pcap")
	c := a.Capture(t, aIf, path, 128, "icmp")
	if out, err := b.Run(ctxTimeout(t, 10*time.Second), "ping", "-c", "5", "-i", "0.01", addrA4.Addr().String()); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	err := WaitFor(ctxTimeout(t, 10*time.Second), func() bool {
		st, err := c.Stats()
		return err == nil && st.Captured == 10
	})
	if err != nil {
		st, serr := c.Stats()
		t.Errorf("Stats() = %+v, %v; want 10 packets captured: %v", st, serr, err)
	}
	stats := c.Stop()
	// ping returns after the last reply, so all 10 packets crossed aIf
	// before Stop: a capture that loses the tail fails here.
	want := CaptureStats{Captured: 10, Received: 10}
	if diff := cmp.Diff(stats, want); diff != "" {
		t.Errorf("Stop() (-got, +want):\n%s", diff)
	}
	out, err := exec.Command("tcpdump", "-n", "-r", path).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	var requests, replies int
	for line := range strings.Lines(string(out)) {
		switch {
		case strings.Contains(line, "ICMP echo request"):
			requests++
		case strings.Contains(line, "ICMP echo reply"):
			replies++
		}
	}
	if requests != 5 || replies != 5 {
		t.Errorf("capture has %d echo requests and %d replies, want 5 and 5:\n%s", requests, replies, out)
	}
	if again := c.Stop(); again != stats {
		t.Errorf("second Stop() = %+v, want %+v", again, stats)
	}
}

func TestLinkRoot(t *testing.T) {
	RequireTool(t, "ping")
	ns := New(t, testPrefix+"root")
	// 10.99.1.0/30 exists nowhere else on the machine: the root end only
	// talks to the namespace.
	rootIf, nsIf := Link(t, nil, ns,
		[]netip.Prefix{netip.MustParsePrefix("10.99.1.1/30")},
		[]netip.Prefix{netip.MustParsePrefix("10.99.1.2/30")})
	if out, err := ns.Run(ctxTimeout(t, 10*time.Second), "ping", "-c", "1", "-W", "2", "10.99.1.1"); err != nil {
		t.Fatalf("ping root end: %v\n%s", err, out)
	}
	if _, err := runIP(nil, "link", "show", rootIf); err != nil {
		t.Errorf("root end %s missing: %v", rootIf, err)
	}
	if _, err := runIP(ns, "link", "show", nsIf); err != nil {
		t.Errorf("namespace end %s missing: %v", nsIf, err)
	}
}

func TestSplitPrefix(t *testing.T) {
	for _, c := range []struct {
		name, want string
		ok         bool
	}{
		{"agh3-srv", "agh3-", true},
		{"agh3-edge-a", "agh3-", true},
		{"x-y", "x-", true},
		{"agh3", "", false},
		{"-srv", "", false},
		{"agh3-", "", false},
		{"muchtoolong-srv", "", false},
	} {
		got, err := splitPrefix(c.name)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("splitPrefix(%q) = %q, %v; want %q, ok %v", c.name, got, err, c.want, c.ok)
		}
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	if err := WaitFor(ctxTimeout(t, 5*time.Second), func() bool { n++; return n == 3 }); err != nil || n != 3 {
		t.Errorf("WaitFor(true on 3rd call) = %v after %d calls", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WaitFor(ctx, func() bool { return false }); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitFor(never) with a canceled ctx = %v, want context.Canceled", err)
	}
}
