package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"abuseguard/testutil"
	"abuseguard/testutil/netns"
)

// replayed is what a test checks of one detection: kind, subkind, address,
// direction and the netscan target when there is one.
type replayed struct {
	What    string // kind/subkind
	Address string
	Dir     string
	Target  string `json:",omitempty"`
}

// replay runs replay --json and returns its detections, failing the test
// when it fails.
func replay(t *testing.T, args ...string) []replayJSON {
	t.Helper()
	out, stderr, code := runCLI(t, append([]string{"replay", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("replay %v: exit status %d\n%s", args, code, stderr)
	}
	var ds []replayJSON
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var d replayJSON
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("replay --json line %q: %v", line, err)
		}
		ds = append(ds, d)
	}
	return ds
}

func summarizeReplay(ds []replayJSON) []replayed {
	var out []replayed
	for _, d := range ds {
		r := replayed{What: string(d.Kind) + "/" + d.Subkind, Address: d.Address.String(), Dir: string(d.Direction)}
		if len(d.Targets) > 0 {
			r.Target = targets(d.Targets)
		}
		out = append(out, r)
	}
	return out
}

// writeConfig writes a configuration file for a test and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var demoPrefixes = []string{"--prefix", "203.0.113.0/24", "--prefix", "2001:db8:100::/48"}

// TestReplayOwnCaptures replays the captures the project made with real
// tools in its own network namespaces (testdata/captures/README.md) at the
// default thresholds: every scan is found with the right kind and target,
// and none of the false-positive traps fires.
func TestReplayOwnCaptures(t *testing.T) {
	dir := filepath.Join(testutil.ModuleRoot(t), "testdata", "captures")
	scanner, scanner6 := "203.0.113.10", "2001:db8:100::10"
	tests := []struct {
		file string
		want []replayed
	}{
		{"netscan-demo.pcap", []replayed{{"netscan/horizontal", scanner, "out", "on tcp/22"}}},
		{"netscan-horizontal-syn.pcap", []replayed{{"netscan/horizontal", scanner, "out", "on tcp/22"}}},
		{"netscan-vertical.pcap", []replayed{{"netscan/vertical", scanner, "out", "on 93.184.216.10"}}},
		{"netscan-udp.pcap", []replayed{{"netscan/horizontal", scanner, "out", "on udp/161"}}},
		{"netscan-icmp-sweep.pcap", []replayed{{"netscan/icmp_sweep", scanner, "out", "on icmp echo"}}},
		{"netscan-ipv6-vertical.pcap", []replayed{{"netscan/vertical", scanner6, "out", "on 2606:2800:220:1::10"}}},
		// Under the threshold of 100 destinations in 60 s.
		{"slow-scan.pcap", nil},
		// Traps: completed handshakes, one big download, a resolver
		// answering 160 clients, and a SYN flood whose backscatter goes to
		// random (partly reserved) spoofed sources.
		{"mail-delivery.pcap", nil},
		{"bulk-download.pcap", nil},
		{"dns-resolver.pcap", nil},
		{"syn-flood-incoming.pcap", nil},
		{"udp-flood-outgoing.pcap", nil}, // 300 pps: far below 50 000 pps
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := summarizeReplay(replay(t, append(demoPrefixes, filepath.Join(dir, tt.file))...))
			if diff := gocmp.Diff(got, tt.want); diff != "" {
				t.Fatalf("detections (-got, +want):\n%s", diff)
			}
		})
	}
}

// TestReplayFloodThresholds: the flood captures are detected at thresholds
// their rates cross and not at thresholds just above (rates are averaged
// over the 10 s window), and the traps stay quiet for the kind they are
// traps for even at low thresholds.
func TestReplayFloodThresholds(t *testing.T) {
	dir := filepath.Join(testutil.ModuleRoot(t), "testdata", "captures")
	cfg := func(limitPPS, limitBPS, floodPPS, floodBPS string) string {
		return writeConfig(t, `detect:
  defaults:
    packet_limit: {pps: `+limitPPS+`, bps: `+limitBPS+`}
    incoming_flood: {pps: `+floodPPS+`, bps: `+floodBPS+`}
`)
	}
	const host = "203.0.113.10"
	tests := []struct {
		name, file, config string
		want               []replayed
	}{
		// hping3: 3 000 UDP packets of 1 228 bytes within a second: 300 pps,
		// 2.95 Mbit/s over the window.
		{"udp flood above 250 pps", "udp-flood-outgoing.pcap", cfg("250", "1e12", "1e9", "1e12"),
			[]replayed{{"packet_limit/pps", host, "out", ""}}},
		{"udp flood under 350 pps", "udp-flood-outgoing.pcap", cfg("350", "1e12", "1e9", "1e12"), nil},
		{"udp flood above 2.5 Mbit/s", "udp-flood-outgoing.pcap", cfg("1e9", "2.5e6", "1e9", "1e12"),
			[]replayed{{"packet_limit/bps", host, "out", ""}}},
		// 2 836 spoofed SYNs: 284 pps in; the victim's 5 802 SYN-ACKs and
		// RSTs are backscatter, never a packet limit of its own.
		{"syn flood above 250 pps", "syn-flood-incoming.pcap", cfg("100", "1e12", "250", "1e12"),
			[]replayed{{"incoming_flood/pps", host, "in", ""}}},
		{"syn flood under 300 pps", "syn-flood-incoming.pcap", cfg("100", "1e12", "300", "1e12"), nil},
		// A download: high bit/s (5 Mbit/s sent), few packets (418 pps).
		{"bulk download: bit/s, not pps", "bulk-download.pcap", cfg("1000", "4e6", "1e9", "1e12"),
			[]replayed{{"packet_limit/bps", host, "out", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarizeReplay(replay(t, append([]string{"-c", tt.config}, append(demoPrefixes, filepath.Join(dir, tt.file))...)...))
			if diff := gocmp.Diff(got, tt.want); diff != "" {
				t.Fatalf("detections (-got, +want):\n%s", diff)
			}
		})
	}
}

// TestReplaySharedBenign: every benign third-party capture yields no
// detection at default thresholds, even with every address in it declared
// customer space (so each is watched in and out).
func TestReplaySharedBenign(t *testing.T) {
	dir := testutil.SharedDir(t, "real")
	files, _ := filepath.Glob(filepath.Join(dir, "benign_*.pcap"))
	if len(files) == 0 {
		t.Fatalf("no benign_*.pcap in %s", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if got := replay(t, "--prefix", "0.0.0.0/0", "--prefix", "::/0", f); len(got) != 0 {
				t.Fatalf("detections on a benign capture: %v", summarizeReplay(got))
			}
		})
	}
}

// TestReplaySharedAttacks: the DoS captures are detected at thresholds their
// rates cross (SOURCES.md gives the rates) and not just above; the DHCP
// flood from 250 wrong source addresses is one misconfiguration attributed
// to the server by its MAC.
func TestReplaySharedAttacks(t *testing.T) {
	dir := testutil.SharedDir(t, "real")
	flood := func(pps string) string {
		return writeConfig(t, "detect:\n  defaults:\n    incoming_flood: {pps: "+pps+"}\n")
	}
	tests := []struct {
		name string
		args []string
		want []replayed
	}{
		// 200 SYNs to 198.51.100.5:443 in 0.2 s: 20 pps over the window.
		{"syn flood at 15 pps", []string{"-c", flood("15"), "--prefix", "198.51.100.0/24", "flood_suricata-verify_tcp-syn-flood-443.pcap"},
			[]replayed{{"incoming_flood/pps", "198.51.100.5", "in", ""}}},
		{"syn flood at 25 pps", []string{"-c", flood("25"), "--prefix", "198.51.100.0/24", "flood_suricata-verify_tcp-syn-flood-443.pcap"}, nil},
		// 35 690 IPv6 packets with AH in 5.3 s: 3 569 pps over the window.
		{"denial6 at 3000 pps", []string{"-c", flood("3000"), "--prefix", "2001:db8:1::1/128", "flood_suricata-verify_denial6-5.pcap"},
			[]replayed{{"incoming_flood/pps", "2001:db8:1::1", "in", ""}}},
		{"denial6 at 4000 pps", []string{"-c", flood("4000"), "--prefix", "2001:db8:1::1/128", "flood_suricata-verify_denial6-5.pcap"}, nil},
		{"dhcp flood from wrong sources", []string{"-c", writeConfig(t, `inventory:
  provider_prefixes: [128.2.0.0/16]
  customer_prefixes: [128.2.7.0/24, 128.2.8.0/24]
  customers: [{id: c1, name: C, email: c@example.net, language: en}]
  servers:
    - {id: srv-dhcp-client, customer: c1, prefixes: [128.2.6.10/32], macs: ["90:b1:1c:99:49:29"]}
`), "flood_zeek_dhcp_flood.pcap"},
			[]replayed{{"misconfiguration/unassigned_source", "128.2.5.243", "out", ""}}},
		// Weak scans: nmap's L2 sweep reaches 7 hosts over IP; the RPC
		// sweep 10 hosts in 25 minutes.
		{"nmap-vsn at defaults", []string{"--prefix", "192.168.1.0/24", "scan_zeek_nmap-vsn.pcap"}, nil},
		{"rpc sweep at defaults", []string{"--prefix", "202.77.162.0/24", "scan_zeek_rpc-portmap-sadmind.pcap"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := slices.Clone(tt.args)
			args[len(args)-1] = filepath.Join(dir, args[len(args)-1])
			ds := replay(t, args...)
			if diff := gocmp.Diff(summarizeReplay(ds), tt.want); diff != "" {
				t.Fatalf("detections (-got, +want):\n%s", diff)
			}
			for _, d := range ds {
				if d.Subkind == "unassigned_source" && (d.ServerID != "srv-dhcp-client" || d.Distinct != 250 || d.Attempts != 250) {
					t.Fatalf("dhcp flood: server %q, %d distinct sources, %d attempts; want srv-dhcp-client, 250, 250", d.ServerID, d.Distinct, d.Attempts)
				}
			}
		})
	}
}

// TestReplaySampleConfig: the sample configuration runs as-is, and the demo
// capture's scan is attributed to the server and customer it names, in the
// default host group (a host group of its own would change its thresholds).
func TestReplaySampleConfig(t *testing.T) {
	root := testutil.ModuleRoot(t)
	ds := replay(t, "-c", filepath.Join(root, "abuseguard.sample.yaml"), filepath.Join(root, "testdata", "captures", "netscan-demo.pcap"))
	if len(ds) != 1 {
		t.Fatalf("got %d detections, want 1: %v", len(ds), summarizeReplay(ds))
	}
	d := ds[0]
	if d.ServerID != "srv-web-1" || d.CustomerID != "c-1001" || d.HostGroup != "default" {
		t.Fatalf("attributed to server %q, customer %q, host group %q; want srv-web-1, c-1001, default", d.ServerID, d.CustomerID, d.HostGroup)
	}
	if !strings.Contains(d.Evidence, "Netscan detected from host   203.0.113.10") || !strings.Contains(d.Evidence, "93.184.216.1 ") {
		t.Fatalf("evidence is not the netscan log:\n%s", d.Evidence)
	}
	if !slices.Equal(d.EvidenceFiles, []string{"netscan.log", "traffic.log", "traffic.pcap"}) {
		t.Fatalf("evidence files %v", d.EvidenceFiles)
	}
}

// TestReplayHostGroupThresholds: a host group's own thresholds apply to its
// addresses only.
func TestReplayHostGroupThresholds(t *testing.T) {
	capture := filepath.Join(testutil.ModuleRoot(t), "testdata", "captures", "slow-scan.pcap")
	cfg := func(group string) string {
		return writeConfig(t, `inventory:
  customer_prefixes: [203.0.113.0/24]
host_groups:
  - name: tight
    prefixes: [`+group+`]
detect:
  host_groups:
    tight:
      netscan: {horizontal: 20}
`)
	}
	if got := replay(t, "-c", cfg("203.0.113.10/32"), capture); len(got) != 1 || got[0].HostGroup != "tight" || got[0].Threshold != 20 {
		t.Fatalf("slow scan in a group with threshold 20: %+v", summarizeReplay(got))
	}
	if got := replay(t, "-c", cfg("203.0.113.99/32"), capture); len(got) != 0 {
		t.Fatalf("slow scan outside the tight group: %v", summarizeReplay(got))
	}
}

// TestReplayLiveScan runs nmap for real in fresh network namespaces (a
// horizontal SYN sweep of a /24), captures it with tcpdump, and replays the
// capture: what CI sees is today's nmap, not only the committed files.
func TestReplayLiveScan(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nmap in network namespaces")
	}
	capture := netns.CaptureScenario(t, "agrp-", netns.HorizontalSYN)
	got := summarizeReplay(replay(t, append(demoPrefixes, capture)...))
	want := []replayed{{"netscan/horizontal", "203.0.113.10", "out", "on tcp/22"}}
	if diff := gocmp.Diff(got, want); diff != "" {
		t.Fatalf("detections (-got, +want):\n%s", diff)
	}
}

// TestReplayBadInput: unreadable input fails with a message naming the file
// and what is wrong (the byte offset for a corrupt capture), after the
// other files were replayed; bad flags are usage errors.
func TestReplayBadInput(t *testing.T) {
	root := testutil.ModuleRoot(t)
	demo := filepath.Join(root, "testdata", "captures", "netscan-demo.pcap")
	data, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.pcap")
	os.WriteFile(truncated, data[:len(data)-7], 0o600)
	garbage := filepath.Join(dir, "garbage.pcap")
	os.WriteFile(garbage, []byte("this is not a capture file at all"), 0o600)

	t.Run("truncated and missing files", func(t *testing.T) {
		out, stderr, code := runCLI(t, append([]string{"replay", "--json"}, append(demoPrefixes, truncated, filepath.Join(dir, "missing.pcap"), demo)...)...)
		if code != 1 {
			t.Fatalf("exit status %d, want 1\n%s", code, stderr)
		}
		for _, want := range []string{"truncated.pcap", "offset", "missing.pcap", "no such file"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("messages do not mention %q:\n%s", want, stderr)
			}
		}
		// The scan is still found: the truncated copy and the intact demo
		// are one sweep, told apart by neither.
		if !strings.Contains(out, `"subkind":"horizontal"`) {
			t.Fatalf("the readable files were not replayed:\n%s", out)
		}
	})
	t.Run("not a capture", func(t *testing.T) {
		_, stderr, code := runCLI(t, append([]string{"replay"}, append(demoPrefixes, garbage)...)...)
		if code != 1 || !strings.Contains(stderr, "garbage.pcap") {
			t.Fatalf("exit status %d, stderr %q", code, stderr)
		}
	})
	for _, args := range [][]string{
		{"replay", "--prefix", "203.0.113.7/24", demo},
		{"replay", "--prefix", "nonsense", demo},
		{"replay", "--flow-exports", "maybe", demo},
		{"replay"},
	} {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			if _, stderr, code := runCLI(t, args...); code != 2 {
				t.Fatalf("exit status %d, want 2 (a usage error)\n%s", code, stderr)
			}
		})
	}
}
