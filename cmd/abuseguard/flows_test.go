package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"abuseguard/testutil"
)

var updateFlowsGolden = flag.Bool("update-flows-golden", false, "rewrite testdata/flows/*.golden from the current output")

// runCLI runs the command line args and returns stdout, stderr and the
// exit code main would use.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := newRootCmd(&stdout, &stderr)
	cmd.SetArgs(args)
	code := 0
	if err := cmd.Execute(); err != nil {
		stderr.WriteString("abuseguard: " + err.Error() + "\n")
		code = exitCode(err)
	}
	return stdout.String(), stderr.String(), code
}

// goldenLines bounds the stdout kept in a golden file: the two largest
// captures (35 720 and 751 frames) keep their first lines only; their
// summary line still counts everything.
const goldenLines = 300

// TestFlowsGolden runs `flows` on every shared real capture and compares
// the output with testdata/flows/<capture>.golden. The golden files were
// checked by hand against tshark on a few records per capture (see
// docs/collector.md, "Checking flows against tshark").
func TestFlowsGolden(t *testing.T) {
	dir := testutil.SharedDir(t, "real")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if len(paths) == 0 {
		t.Fatal("no captures")
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".pcap")
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "flows", path)
			if code != 0 {
				t.Fatalf("flows exit %d: %s", code, stderr)
			}
			lines := strings.SplitAfter(stdout, "\n")
			if len(lines) > goldenLines {
				lines = lines[:goldenLines]
			}
			got := strings.Join(lines, "") + "--- stderr\n" + stderr
			golden := filepath.Join("testdata", "flows", name+".golden")
			if *updateFlowsGolden {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update-flows-golden to create it)", err)
			}
			if diff := cmp.Diff(got, string(want)); diff != "" {
				t.Fatalf("flows %s (-got, +want):\n%s", name, diff)
			}
		})
	}
}

// TestFlowsJSON: --json prints one object per record with the keys the
// issue names, as many as the text lines, with the same values.
func TestFlowsJSON(t *testing.T) {
	path := testutil.SharedFile(t, "real", "nfv9_netgauze_101-cisco-asr9k.pcap")
	stdout, _, code := runCLI(t, "flows", "--json", path)
	if code != 0 {
		t.Fatalf("flows --json exit %d", code)
	}
	text, _, _ := runCLI(t, "flows", path)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if want := strings.Count(text, "\n") - 1; len(lines) != want {
		t.Fatalf("flows --json printed %d lines, the text output %d records", len(lines), want)
	}
	keys := []string{"bytes", "direction", "dst", "dst_port", "end", "exporter", "header_len", "in_if", "out_if", "packets", "proto", "sampling_rate", "src", "src_port", "start", "tcp_flags"}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, l)
		}
		var got []string
		for k := range m {
			got = append(got, k)
		}
		slices.Sort(got)
		if diff := cmp.Diff(got, keys); diff != "" {
			t.Fatalf("line %d keys (-got, +want):\n%s", i, diff)
		}
		if m["exporter"] != "138.187.57.55" {
			t.Fatalf("line %d: exporter %v, want 138.187.57.55", i, m["exporter"])
		}
	}
}

// TestFlowsTemplatesAcrossFiles: the template of a v9 export in one file
// decodes the data in the next.
func TestFlowsTemplatesAcrossFiles(t *testing.T) {
	path := testutil.SharedFile(t, "real", "nfv9_netgauze_101-cisco-asr9k.pcap")
	first, second := splitPcap(t, path, 1)
	whole, _, _ := runCLI(t, "flows", path)
	got, stderr, code := runCLI(t, "flows", first, second)
	if code != 0 || got != whole {
		t.Fatalf("flows FIRST SECOND: exit %d, output equal to the whole capture's: %v\n%s", code, got == whole, stderr)
	}
	alone, stderr, _ := runCLI(t, "flows", second)
	if strings.Count(alone, "\n") != 1 || !strings.Contains(stderr, "netflow_template_not_found 39") {
		t.Fatalf("flows SECOND alone printed %d lines, stderr %q; want the header only and 39 template_not_found", strings.Count(alone, "\n"), stderr)
	}
}

func TestFlowsErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a capture\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no file", []string{"flows"}, 2, "requires at least 1 arg"}, // a usage error, like a bad flag
		{"missing", []string{"flows", filepath.Join(dir, "missing.pcap")}, 1, "missing.pcap: no such file or directory"},
		{"not a capture", []string{"flows", text}, 1, "read capture " + text + ": pcap: "},
		{"bad flag value", []string{"flows", "--flow-exports", "maybe", text}, 2, "--flow-exports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}

// TestFlowsStdin: "-" reads the capture from standard input.
func TestFlowsStdin(t *testing.T) {
	path := testutil.SharedFile(t, "real", "sflow5_tcpdump_expanded.pcap")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := runCLI(t, "flows", path)
	var stdout, stderr bytes.Buffer
	cmd := newRootCmd(&stdout, &stderr)
	cmd.SetIn(bytes.NewReader(data))
	cmd.SetArgs([]string{"flows", "-"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("flows -: %v", err)
	}
	if stdout.String() != want {
		t.Fatalf("flows - printed\n%s\nwant\n%s", stdout.String(), want)
	}
}
