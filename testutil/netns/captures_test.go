package netns

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"abuseguard/testutil"
)

var writeCaptures = flag.Bool("write-captures", false, "rebuild testdata/captures at the repository root (root, a few minutes)")

// maxCaptureSize keeps committed captures small.
const maxCaptureSize = 1_500_000

func capturesDir(t *testing.T) string {
	return filepath.Join(testutil.ModuleRoot(t), "testdata", "captures")
}

// TestMakeCaptures rebuilds testdata/captures and its README:
//
//	go test ./testutil/netns -run TestMakeCaptures -args -write-captures
//
// Scenarios run in parallel (go test's -parallel, GOMAXPROCS by default),
// the 150 s slow scan first; the files replace the old ones only when every
// scenario passed its checks.
func TestMakeCaptures(t *testing.T) {
	if !*writeCaptures {
		t.Skip("rebuilds testdata/captures only with: go test ./testutil/netns -run TestMakeCaptures -args -write-captures")
	}
	RequireRoot(t)
	start := time.Now()
	tmp := t.TempDir()
	var (
		mu      sync.Mutex
		results = map[Kind]Result{}
	)
	order := append([]Kind{SlowScan}, Kinds()...)
	t.Run("scenarios", func(t *testing.T) {
		seen := map[Kind]bool{}
		for _, k := range order {
			if seen[k] {
				continue
			}
			seen[k] = true
			t.Run(string(k), func(t *testing.T) {
				t.Parallel()
				r := RunScenario(t, testPrefix, k, filepath.Join(tmp, k.File()))
				if st, err := os.Stat(r.Path); err != nil || st.Size() > maxCaptureSize {
					t.Fatalf("%s: %v, size %d; want at most %d bytes", r.Path, err, st.Size(), maxCaptureSize)
				}
				mu.Lock()
				results[k] = r
				mu.Unlock()
			})
		}
	})
	if t.Failed() {
		t.Fatal("a scenario failed: testdata/captures left as it was")
	}
	dir := capturesDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds() {
		if err := copyFile(results[k].Path, filepath.Join(dir, k.File())); err != nil {
			t.Fatal(err)
		}
	}
	readme := renderReadme(t, results, time.Since(start))
	if err := os.WriteFile(filepath.Join(dir, "README.md"), readme, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d captures and README.md to %s in %v", len(results), dir, time.Since(start).Round(time.Second))
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("copy %s: %w", to, err)
	}
	return dst.Close()
}

// toolVersions returns one line per tool, as the tools print it.
func toolVersions(t *testing.T) map[string]string {
	first := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output() // tshark warns about root on stderr
		if err != nil {
			t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return strings.TrimSpace(line)
	}
	tcpdump, _ := exec.Command("tcpdump", "--version").CombinedOutput()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	debian, _ := os.ReadFile("/etc/debian_version")
	curl := strings.Fields(first("curl", "--version"))
	hping := strings.Fields(first("hping3", "--version"))
	return map[string]string{
		"nmap":    strings.TrimSuffix(first("nmap", "--version"), " ( https://nmap.org )"),
		"hping3":  strings.Join(hping[:min(3, len(hping))], " "),
		"curl":    strings.Join(curl[:min(2, len(curl))], " "),
		"tcpdump": strings.ReplaceAll(strings.TrimSpace(string(tcpdump)), "\n", ", "),
		"tshark":  first("tshark", "--version"),
		"kernel":  "Linux " + strings.TrimSpace(string(kernel)),
		"debian":  "Debian " + strings.TrimSpace(string(debian)),
		"go":      runtime.Version(),
	}
}

func renderReadme(t *testing.T, results map[Kind]Result, took time.Duration) []byte {
	v := toolVersions(t)
	var b bytes.Buffer
	fmt.Fprintf(&b, readmeHead, took.Round(time.Second), time.Now().UTC().Format("2006-01-02"))
	for _, k := range []string{"debian", "kernel", "nmap", "hping3", "curl", "tcpdump", "tshark", "go"} {
		fmt.Fprintf(&b, "- %s: %s\n", k, v[k])
	}
	for _, k := range Kinds() {
		r, info := results[k], Describe(k)
		st, err := os.Stat(r.Path)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", k.File(), info.What)
		fmt.Fprintf(&b, "Made with these steps, run in this order inside the namespaces (& in the background) while tcpdump captured on the server's uplink:\n\n```\n")
		for _, c := range info.Commands {
			fmt.Fprintf(&b, "%s\n", c)
		}
		fmt.Fprintf(&b, "```\n\n")
		tools := []string{"tcpdump " + strings.TrimPrefix(strings.Split(v["tcpdump"], ",")[0], "tcpdump version ")}
		for _, tool := range info.Tools {
			tools = append(tools, v[tool])
		}
		fmt.Fprintf(&b, "Tools: %s.\n\n", strings.Join(tools, "; "))
		fmt.Fprintf(&b, "%d packets, %d bytes on the wire over %.3f s; file %d bytes; made %s in %.0f s.\n\n",
			r.Summary.Packets, r.Summary.Bytes, r.Summary.Duration.Seconds(), st.Size(),
			time.Now().UTC().Format("2006-01-02"), r.Elapsed.Seconds())
		b.WriteString(r.Summary.String())
	}
	return b.Bytes()
}

const readmeHead = `# Captures of real tools

Small pcap files (snaplen 128, Ethernet) of real scanners, floods and
false-positive traps, made inside network namespaces on one machine: nothing
here ever left it. Replay them, decode them, feed them to the detectors.

Rebuild them all (as root, with nmap, hping3, curl, tcpdump and tshark;
this README is rewritten too; it took %v on a 2-core machine, %s):

    go test ./testutil/netns -run TestMakeCaptures -args -write-captures

Tests that need the traffic rather than a file re-run the same scenarios:
` + "`netns.CaptureScenario(t, prefix, netns.HorizontalSYN)`" + ` returns a fresh capture.
Timestamps, ports, sequence numbers, MAC addresses and retransmission counts
differ from run to run; the shape (who talks to how many peers, how) does
not, and every run checks it.

## Topology

` + "```" + `
 server ───────────── router ──────────────── internet
 203.0.113.10/24      forwards; blackholes    every address of 93.184.216.0/24
 2001:db8:100::10/64  93.184.216.0/24 and     and 2606:2800:220::/48 is local
 (captured here,      2606:2800:220::/48      (AnyIP routes); the router sends
  both directions)    except the live part    it only the live part:
                                              93.184.216.0/27, 2606:2800:220:1::/64
` + "```" + `

The customer server uses documentation space (the provider's customer space in
our demos). Its internet uses example.com's ranges, not documentation ranges,
because the misconfiguration detector treats documentation and benchmark
destinations as reserved. On the 32 live addresses: TCP 22 is open on
93.184.216.1-10 and 2606:2800:220:1::10 (RST elsewhere), TCP 25, 80 and 443
are open everywhere, UDP 53 (a resolver) answers on 93.184.216.2, closed UDP
ports answer ICMP port unreachable without rate limit (each address stands for
a separate host). The rest of the /24 drops everything silently.
The veths have their offloads off, so frames are MTU-sized with correct checksums.

Tables: packets by class (tcp-syn is SYN without ACK: an attempt; tcp-synack,
tcp-rst, icmp-unreach are replies; arp, ndp and mld are the link's own chatter) and direction seen from the server (out:
from 203.0.113.10 or 2001:db8:100::10; in: to it; -: neither, e.g. ARP);
peers are the remote addresses, peer ports the remote ports; "max peers in
60 s" is the most distinct peers within any 60 s. Bytes are frame lengths on
the wire, not the 128 bytes kept.

## Tool versions

`

// TestCommittedCaptures checks the committed files against their README:
// each exists, is a small Ethernet pcap with snaplen 128, and holds the
// number of packets the README gives.
func TestCommittedCaptures(t *testing.T) {
	dir := capturesDir(t)
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatalf("captures README: %v", err)
	}
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, k.File()))
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > maxCaptureSize {
				t.Errorf("%s is %d bytes, want at most %d", k.File(), len(b), maxCaptureSize)
			}
			snaplen, linktype, n, err := pcapCount(b)
			if err != nil {
				t.Fatalf("%s: %v", k.File(), err)
			}
			if snaplen != Snaplen || linktype != 1 {
				t.Errorf("%s: snaplen %d, link type %d; want %d, 1 (Ethernet)", k.File(), snaplen, linktype, Snaplen)
			}
			section := "\n## " + k.File() + "\n"
			i := bytes.Index(readme, []byte(section))
			if i < 0 {
				t.Fatalf("README.md has no section %q", strings.TrimSpace(section))
			}
			rest := readme[i+len(section):]
			if j := bytes.Index(rest, []byte("\n## ")); j >= 0 {
				rest = rest[:j]
			}
			if want := fmt.Sprintf("\n%d packets,", n); !bytes.Contains(rest, []byte(want)) {
				t.Errorf("README.md section of %s does not say %q", k.File(), strings.TrimSpace(want))
			}
		})
	}
}

// pcapCount reads a classic pcap file (microsecond or nanosecond, either
// byte order) and counts its records.
func pcapCount(b []byte) (snaplen, linktype uint32, n int, err error) {
	if len(b) < 24 {
		return 0, 0, 0, fmt.Errorf("%d bytes: no pcap header", len(b))
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return 0, 0, 0, fmt.Errorf("magic %#x: not a pcap file", b[:4])
	}
	snaplen, linktype = bo.Uint32(b[16:]), bo.Uint32(b[20:])
	for off := 24; off < len(b); n++ {
		if len(b)-off < 16 {
			return 0, 0, 0, fmt.Errorf("record %d: truncated header", n)
		}
		incl := int(bo.Uint32(b[off+8:]))
		if incl > int(snaplen) || len(b)-off-16 < incl {
			return 0, 0, 0, fmt.Errorf("record %d: %d bytes captured, snaplen %d, %d left", n, incl, snaplen, len(b)-off-16)
		}
		off += 16 + incl
	}
	return snaplen, linktype, n, nil
}
