// Package exporters runs the real flow exporters from Debian (softflowd,
// pmacctd, nfcapd and nfreplay from nfdump) over a capture, towards a
// collector on loopback, for the end-to-end tests of the collector and of
// serve. Only tests import it. A test skips with the Debian package to
// install when a program is missing.
package exporters

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// packages names the Debian package of each program.
var packages = map[string]string{
	"softflowd": "softflowd", "softflowctl": "softflowd", "pmacctd": "pmacct", "nfcapd": "nfdump", "nfreplay": "nfdump",
}

// Look returns a program's path, skipping the test when it is not
// installed.
func Look(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s (Debian package %s)", name, packages[name])
	}
	return path
}

// Tool prepares a program with a one-minute limit, in a directory of its
// own.
func Tool(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, Look(t, name), args...)
	cmd.Dir = t.TempDir()
	return cmd
}

// Softflowd exports a capture to to with softflowd as NetFlow version
// ("5", "9") or IPFIX ("10"). softflowd 1.1.0 in -r mode waits on its
// control socket after the end of the file; any control command lets it
// finish, so it is poked until it exits (bounded).
func Softflowd(t testing.TB, capture string, to netip.AddrPort, version string) {
	t.Helper()
	dir := t.TempDir()
	ctl := filepath.Join(dir, "ctl")
	cmd := Tool(t, "softflowd", "-r", capture, "-n", to.String(), "-v", version, "-d", "-6", "-c", ctl, "-p", filepath.Join(dir, "pid"))
	softflowctl := Look(t, "softflowctl")
	out := &Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("softflowd: %v\n%s", err, out)
			}
			return
		default:
		}
		if i == 3000 {
			t.Fatalf("softflowd did not finish after 3000 pokes\n%s", out)
		}
		exec.Command(softflowctl, "-c", ctl, "statistics").Run()
		time.Sleep(10 * time.Millisecond)
	}
}

// Pmacctd exports a capture with pmacctd and the given plugin lines.
// pmacctd waits 2 s before reading a file, then reads it as fast as it
// can and hands packets to its plugins over a pipe; at the default pipe
// size the sfprobe plugin lost 700 of a UDP flood's 3 000 packets, hence
// the larger pipe and buffer. Its exit status says nothing: at the end of
// a file the plugin sometimes finishes before the core, which then exits
// with 1 ("connection lost to 's-sfprobe'") after a complete export. What
// it delivered is what a test checks.
func Pmacctd(t testing.TB, capture, plugin string) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "pmacctd.conf")
	text := "daemonize: false\npcap_savefile: " + capture + "\nplugin_pipe_size: 67108864\nplugin_buffer_size: 65536\n" + plugin
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := Tool(t, "pmacctd", "-f", conf).CombinedOutput(); err != nil {
		t.Logf("pmacctd: %v (last lines: %s)", err, lastLines(string(out), 3))
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], " | ")
}

// Nfreplay exports a capture with softflowd (NetFlow v9) to nfcapd, which
// stores the flows, and replays them with nfreplay to to, one datagram per
// millisecond.
func Nfreplay(t testing.TB, capture string, to netip.AddrPort) {
	t.Helper()
	dir := t.TempDir()
	port := FreeUDPPort(t)
	nfcapd := Tool(t, "nfcapd", "-w", dir, "-b", "127.0.0.1", "-p", fmt.Sprint(port), "-B", "8388608")
	out := &Buffer{}
	nfcapd.Stdout, nfcapd.Stderr = out, out
	if err := nfcapd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- nfcapd.Wait() }()
	// nfcapd says "Startup nfcapd." once its socket is bound.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Startup nfcapd.") {
		select {
		case err := <-exited:
			t.Fatalf("nfcapd exited: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nfcapd did not start within 10 s\n%s", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	Softflowd(t, capture, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), "9")
	// SIGTERM makes nfcapd write its current file and exit.
	nfcapd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("nfcapd: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "nfcapd.2*"))
	if len(files) == 0 {
		t.Fatalf("nfcapd wrote no file\n%s", out)
	}
	sort.Strings(files) // a run across a 5-minute boundary writes two
	for _, f := range files {
		if b, err := Tool(t, "nfreplay", "-r", f, "-H", to.Addr().String(), "-p", fmt.Sprint(to.Port()), "-v", "9", "-d", "1000").CombinedOutput(); err != nil {
			t.Fatalf("nfreplay: %v\n%s", err, b)
		}
	}
}

// Buffer collects a child's output from two pipes.
type Buffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}

// FreeUDPPort returns a UDP port free on 127.0.0.1 a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
