package netns

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Snaplen is the capture length of the scenarios: Ethernet, IP and TCP
// headers with options fit, payload mostly not, so files stay small.
const Snaplen = 128

// Kind names a scenario; it is also the base name of its capture in
// testdata/captures.
type Kind string

// The scenarios, in the order of testdata/captures/README.md.
const (
	NetscanDemo      Kind = "netscan-demo"
	HorizontalSYN    Kind = "netscan-horizontal-syn"
	VerticalSYN      Kind = "netscan-vertical"
	UDPScan          Kind = "netscan-udp"
	ICMPSweep        Kind = "netscan-icmp-sweep"
	IPv6Vertical     Kind = "netscan-ipv6-vertical"
	SlowScan         Kind = "slow-scan"
	SYNFloodIncoming Kind = "syn-flood-incoming"
	UDPFloodOutgoing Kind = "udp-flood-outgoing"
	MailDelivery     Kind = "mail-delivery"
	BulkDownload     Kind = "bulk-download"
	DNSResolver      Kind = "dns-resolver"
)

// Kinds returns every scenario.
func Kinds() []Kind {
	return []Kind{
		NetscanDemo, HorizontalSYN, VerticalSYN, UDPScan, ICMPSweep, IPv6Vertical, SlowScan,
		SYNFloodIncoming, UDPFloodOutgoing, MailDelivery, BulkDownload, DNSResolver,
	}
}

// File is the capture's file name.
func (k Kind) File() string { return string(k) + ".pcap" }

// Info describes a scenario for people: what it shows and how it is made.
type Info struct {
	What     string
	Commands []string // one per step, "<namespace>$ <command line>"
	Tools    []string // external programs it runs, besides tcpdump
}

// Describe returns the description of a scenario.
func Describe(k Kind) Info {
	sc, ok := scenarios[k]
	if !ok {
		return Info{}
	}
	return Info{What: sc.what, Commands: sc.commands(), Tools: sc.tools}
}

// scenario is one way of making traffic in a Topology.
type scenario struct {
	what  string
	tools []string
	steps []step
	// setup runs before the capture starts (routes, services).
	setup func(t testing.TB, topo *Topology)
	// run makes the traffic while c captures.
	run func(t testing.TB, topo *Topology, c *Capture)
	// check returns what is wrong with the capture, nothing when it shows
	// what the scenario is about.
	check func(s Summary) expect
}

// step is a command line or a Go traffic maker, as shown in the README.
type step struct {
	ns   string // "server" or "internet"
	argv []string
	text string // when argv is nil: what Go code does
	// bg marks a step running in the background while the next ones run.
	bg bool
	// noReply accepts hping3's exit status 1 for "0 packets received":
	// a flood expects no answers.
	noReply bool
}

func (sc scenario) commands() []string {
	var cs []string
	for _, s := range sc.steps {
		switch {
		case s.argv != nil && s.bg:
			cs = append(cs, s.ns+"$ "+strings.Join(s.argv, " ")+" &")
		case s.argv != nil:
			cs = append(cs, s.ns+"$ "+strings.Join(s.argv, " "))
		default:
			cs = append(cs, s.ns+": "+s.text)
		}
	}
	return cs
}

// Result is what RunScenario made.
type Result struct {
	Kind    Kind
	Path    string
	Stats   CaptureStats
	Summary Summary
	Elapsed time.Duration // the whole scenario, topology included
}

// CaptureScenario runs a scenario in fresh namespaces named with prefix
// (e.g. "agh3-") and returns its capture, a file in t.TempDir(). The
// capture is checked to show what the scenario is about (e.g. 256 distinct
// SYN destinations for HorizontalSYN); the test fails otherwise. Needs root,
// tcpdump, tshark and the scenario's tools (Describe), else it skips.
func CaptureScenario(t testing.TB, prefix string, kind Kind) string {
	t.Helper()
	return RunScenario(t, prefix, kind, filepath.Join(t.TempDir(), kind.File())).Path
}

// RunScenario is CaptureScenario writing to path.
func RunScenario(t testing.TB, prefix string, kind Kind, path string) Result {
	t.Helper()
	sc, ok := scenarios[kind]
	if !ok {
		t.Fatalf("RunScenario: unknown scenario %q", kind)
	}
	RequireRoot(t)
	for _, tool := range append([]string{"tcpdump", "tshark"}, sc.tools...) {
		RequireTool(t, tool)
	}
	start := time.Now()
	topo := NewTopology(t, prefix)
	if sc.setup != nil {
		sc.setup(t, topo)
	}
	c := topo.Server.Capture(t, topo.ServerIf, path, Snaplen)
	sc.run(t, topo, c)
	stats := c.Stop()
	if stats.Dropped > 0 {
		t.Fatalf("%s: the kernel dropped %d of %d packets: capture incomplete", kind, stats.Dropped, stats.Received)
	}
	sum := Summarize(t, path)
	if sum.Packets != stats.Captured {
		t.Fatalf("%s: tshark read %d packets, tcpdump wrote %d", kind, sum.Packets, stats.Captured)
	}
	if problems := sc.check(sum); len(problems) > 0 {
		t.Fatalf("%s capture %s does not show the scenario:\n%s\n%s", kind, path, strings.Join(problems, "\n"), sum)
	}
	return Result{Kind: kind, Path: path, Stats: stats, Summary: sum, Elapsed: time.Since(start)}
}

// runStep runs a command step in its namespace, failing the test on error.
func runStep(t testing.TB, topo *Topology, s step, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := stepNS(topo, s).Run(ctx, s.argv[0], s.argv[1:]...)
	if err != nil && !(s.noReply && ctx.Err() == nil && bytes.Contains(out, []byte(" 0 packets received"))) {
		t.Fatalf("%v", err)
	}
}

func stepNS(topo *Topology, s step) *NS {
	if s.ns == "internet" {
		return topo.Internet
	}
	return topo.Server
}

// waitProc waits for a background process, failing the test when it fails
// or outlives timeout.
func waitProc(t testing.TB, p *Proc, timeout time.Duration) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.Done():
	case <-timer.C:
		t.Fatalf("%s still runs after %v", p.Name, timeout)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("%v", err)
	}
}

// expect collects the failed expectations of a check.
type expect []string

func (e *expect) that(ok bool, format string, args ...any) {
	if !ok {
		*e = append(*e, fmt.Sprintf(format, args...))
	}
}
