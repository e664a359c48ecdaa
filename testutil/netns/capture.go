package netns

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Capture is a tcpdump writing a pcap file inside a namespace. Not safe for
// concurrent use; Stop may call t.Fatal, so call it from the test's
// goroutine.
type Capture struct {
	// Path is the pcap file being written.
	Path string

	t       testing.TB
	proc    *Proc
	stopped bool
	stats   CaptureStats
}

// CaptureStats are tcpdump's counters when it stopped.
type CaptureStats struct {
	Captured int // packets written to the file
	Received int // packets that passed the filter in the kernel
	Dropped  int // packets the kernel dropped: the socket buffer was full
}

// captureTimeout bounds tcpdump's start and stop; both take milliseconds
// unless the machine is badly overloaded.
const captureTimeout = 15 * time.Second

// captureBufferKiB is tcpdump's kernel buffer (-B): 8 MiB holds about
// 55 000 packets of snaplen 128, several seconds of the floods we make.
const captureBufferKiB = "8192"

// Capture starts tcpdump on iface writing every packet (or those matching
// the filter expression, e.g. "tcp", "port", "22") to path, cut to snaplen
// bytes. It returns once tcpdump listens (its "listening on" line): from
// then on no packet on iface is missed. The file is written as root
// (-Z root) so it may live in t.TempDir().
func (ns *NS) Capture(t testing.TB, iface, path string, snaplen int, filter ...string) *Capture {
	t.Helper()
	RequireTool(t, "tcpdump")
	args := []string{
		"-i", iface, "-n", "-s", strconv.Itoa(snaplen), "-B", captureBufferKiB,
		// Packets go to tcpdump at once and to the file one by one, so a
		// stop loses nothing and a reader sees whole packets meanwhile.
		"--immediate-mode", "-U",
		"-Z", "root", "-w", path,
	}
	c := &Capture{Path: path, t: t, proc: ns.Start(t, "tcpdump", append(args, filter...)...)}
	ctx, cancel := context.WithTimeout(context.Background(), captureTimeout)
	defer cancel()
	if err := c.proc.WaitOutput(ctx, "listening on"); err != nil {
		t.Fatalf("tcpdump on %s in %s: %v", iface, ns.Name, err)
	}
	return c
}

// statsRE matches tcpdump's counters, both the one-line form it prints on
// SIGUSR1 and the three-line form at exit.
var statsRE = regexp.MustCompile(`(\d+) packets? captured,?\s+(\d+) packets? received by filter,?\s+(\d+) packets? dropped by kernel`)

// lastStats returns the last counters in tcpdump's output and how many
// times it printed them.
func lastStats(out string) (CaptureStats, int) {
	m := statsRE.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return CaptureStats{}, 0
	}
	last := m[len(m)-1]
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	return CaptureStats{Captured: atoi(last[1]), Received: atoi(last[2]), Dropped: atoi(last[3])}, len(m)
}

// Stats returns tcpdump's counters now: they show how far a capture got,
// e.g. to start more traffic once a scan is on the wire.
func (c *Capture) Stats() (CaptureStats, error) {
	if c.stopped {
		return c.stats, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), captureTimeout)
	defer cancel()
	return c.poll(ctx)
}

// poll asks tcpdump for its counters (SIGUSR1) and waits for the answer.
func (c *Capture) poll(ctx context.Context) (CaptureStats, error) {
	_, n := lastStats(c.proc.Output())
	if err := c.proc.Signal(syscall.SIGUSR1); err != nil {
		return CaptureStats{}, err
	}
	err := c.proc.out.wait(ctx, c.proc.done, func(b []byte) bool {
		_, m := lastStats(string(b))
		return m > n
	})
	if err != nil {
		return CaptureStats{}, fmt.Errorf("tcpdump counters: %w", err)
	}
	st, _ := lastStats(c.proc.Output())
	return st, nil
}

// Stop stops tcpdump once it has written every packet the kernel handed it
// and returns its counters; the file is complete when Stop returns. A
// second call returns the same counters.
//
// Draining: SIGINT makes tcpdump leave its loop at once, dropping what is
// still queued in its ring. So Stop first asks for the counters (SIGUSR1)
// until captured + dropped reaches received, then sends SIGINT.
func (c *Capture) Stop() CaptureStats {
	c.t.Helper()
	if c.stopped {
		return c.stats
	}
	c.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), captureTimeout)
	defer cancel()
	drained := func() bool {
		select {
		case <-c.proc.Done(): // Wait below reports why
			return true
		default:
		}
		st, err := c.poll(ctx)
		return err == nil && st.Captured+st.Dropped >= st.Received
	}
	if err := WaitFor(ctx, drained); err != nil {
		c.t.Logf("tcpdump %s: not drained before stop: %v", c.Path, err)
	}
	if err := c.proc.Signal(syscall.SIGINT); err != nil {
		c.t.Fatalf("stop tcpdump: %v", err)
	}
	select {
	case <-c.proc.Done():
	case <-ctx.Done():
		c.t.Fatalf("tcpdump %s did not exit within %v after SIGINT", c.Path, captureTimeout)
	}
	if err := c.proc.Wait(); err != nil {
		c.t.Fatalf("tcpdump %s: %v", c.Path, err)
	}
	c.stats, _ = lastStats(c.proc.Output())
	return c.stats
}
