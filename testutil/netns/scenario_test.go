package netns

import (
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tcpRow is one packet as tshark decodes it.
type tcpRow struct {
	src, dst         string
	syn, ack, rst    bool
	dstPort, frameNo string
}

// tsharkTCP decodes every IPv4 packet of a capture with tshark, not with
// our own Summarize.
func tsharkTCP(t *testing.T, path string) []tcpRow {
	t.Helper()
	args := []string{"-r", path, "-n", "-Y", "ip", "-T", "fields", "-E", "occurrence=f", "-E", "separator=,"}
	for _, f := range []string{"frame.number", "ip.src", "ip.dst", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.reset", "tcp.dstport"} {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", strings.Join(args, " "), err)
	}
	var rows []tcpRow
	for _, line := range strings.Fields(string(out)) {
		f := strings.Split(line, ",")
		if len(f) != 7 {
			t.Fatalf("tshark line %q: want 7 fields", line)
		}
		// tshark 4.0 prints flags as 1/0, newer ones as True/False.
		set := func(s string) bool { return s == "1" || s == "True" }
		rows = append(rows, tcpRow{frameNo: f[0], src: f[1], dst: f[2], syn: set(f[3]), ack: set(f[4]), rst: set(f[5]), dstPort: f[6]})
	}
	return rows
}

func distinct(xs []string) []string {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return slices.Compact(xs)
}

func addrRange(first netip.Addr, n int) []string {
	var as []string
	for a := first; len(as) < n; a = a.Next() {
		as = append(as, a.String())
	}
	slices.Sort(as)
	return as
}

// TestHorizontalSYNScenario runs nmap's sweep end to end and reads the
// capture with tshark, independently of Summarize.
func TestHorizontalSYNScenario(t *testing.T) {
	path := CaptureScenario(t, testPrefix, HorizontalSYN)
	server := ServerAddr4.String()
	var synDsts, synPorts, other, synackSrcs, answering []string
	for _, r := range tsharkTCP(t, path) {
		switch {
		case r.src == server && r.syn && !r.ack:
			synDsts = append(synDsts, r.dst)
			synPorts = append(synPorts, r.dstPort)
		case r.src == server && !r.rst:
			other = append(other, r.frameNo)
		case r.dst == server:
			answering = append(answering, r.src)
			if r.syn && r.ack {
				synackSrcs = append(synackSrcs, r.src)
			}
		}
	}

	// Every address of the /24 got a SYN without ACK on port 22.
	if diff := cmp.Diff(distinct(synDsts), addrRange(TargetNet4.Addr(), 256)); diff != "" {
		t.Errorf("SYN destinations (-got, +want):\n%s", diff)
	}
	if ports := distinct(synPorts); !slices.Equal(ports, []string{"22"}) {
		t.Errorf("SYN destination ports = %v, want [22]", ports)
	}
	// Nothing the server sent carried a payload or an ACK besides the RSTs
	// its kernel answers SYN-ACKs with: a SYN scan sends attempts only.
	if len(other) > 0 {
		t.Errorf("the server sent %d packets that are neither SYN nor RST (frames %v)", len(other), other)
	}
	// Only the SSH hosts answer SYN-ACK; the silent part of the /24 never
	// answers anything.
	var ssh []string
	for _, a := range SSHHosts4 {
		ssh = append(ssh, a.String())
	}
	slices.Sort(ssh)
	if diff := cmp.Diff(distinct(synackSrcs), ssh); diff != "" {
		t.Errorf("SYN-ACK sources (-got, +want):\n%s", diff)
	}
	if diff := cmp.Diff(distinct(answering), addrRange(LiveNet4.Addr(), 32)); diff != "" {
		t.Errorf("hosts answering (-got, +want):\n%s", diff)
	}
}

// TestScenarios runs every other scenario but the slow scan (150 s; the
// generator runs it) and lets each check its own capture.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the scenarios take about half a minute")
	}
	for _, k := range Kinds() {
		if k == HorizontalSYN || k == SlowScan {
			continue
		}
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			r := RunScenario(t, testPrefix, k, t.TempDir()+"/"+k.File())
			t.Logf("%s: %d packets in %v", k, r.Summary.Packets, r.Elapsed.Round(1e6))
		})
	}
}
