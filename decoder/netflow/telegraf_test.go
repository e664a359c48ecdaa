package netflow

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"abuseguard/flow"
	"abuseguard/testutil"
)

// tgLine is one line of a telegraf expected.out: measurement and fields.
// Tags and the timestamp are dropped (telegraf's test ignores time).
type tgLine struct {
	measurement string
	fields      map[string]string
}

// parseLineProtocol parses InfluxDB line protocol as telegraf's
// expected.out files use it: string values quoted, no escaped quotes.
func parseLineProtocol(t testing.TB, text string) []tgLine {
	t.Helper()
	var out []tgLine
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		// measurement,tags fields [timestamp], splitting on spaces
		// outside quotes.
		var parts []string
		start, quoted := 0, false
		for i := 0; i < len(line); i++ {
			switch line[i] {
			case '"':
				quoted = !quoted
			case ' ':
				if !quoted {
					parts = append(parts, line[start:i])
					start = i + 1
				}
			}
		}
		parts = append(parts, line[start:])
		if len(parts) < 2 {
			t.Fatalf("bad line protocol: %q", line)
		}
		l := tgLine{measurement: strings.SplitN(parts[0], ",", 2)[0], fields: map[string]string{}}
		f := parts[1]
		start, quoted = 0, false
		for i := 0; i <= len(f); i++ {
			if i < len(f) && f[i] == '"' {
				quoted = !quoted
			}
			if i == len(f) || f[i] == ',' && !quoted {
				k, v, ok := strings.Cut(f[start:i], "=")
				if !ok {
					t.Fatalf("bad field %q in %q", f[start:i], line)
				}
				l.fields[k] = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(v, "u"), `"`), `"`)
				start = i + 1
			}
		}
		out = append(out, l)
	}
	return out
}

// tgProto is telegraf's protocol naming for the numbers in the captures.
var tgProto = map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58, "hopopt": 0}

// tgValue renders the record's value of a telegraf field, or reports
// that abuseguard does not map the field.
func tgValue(field string, line map[string]string, r *flow.Record) (string, bool) {
	icmp := r.Proto == flow.ProtoICMP || r.Proto == flow.ProtoICMPv6
	switch field {
	case "src":
		return r.Src.String(), true
	case "dst":
		return r.Dst.String(), true
	case "src_port":
		return strconv.Itoa(int(r.SrcPort)), !icmp
	case "dst_port":
		return strconv.Itoa(int(r.DstPort)), !icmp
	case "icmp_type":
		return strconv.Itoa(int(r.DstPort >> 8)), icmp
	case "icmp_code":
		return strconv.Itoa(int(r.DstPort & 0xff)), icmp
	case "protocol":
		for name, p := range tgProto {
			if p == r.Proto {
				return name, true
			}
		}
		return strconv.Itoa(int(r.Proto)), true
	case "in_bytes", "in_total_bytes":
		return strconv.FormatUint(r.Bytes, 10), true
	case "in_packets", "in_total_packets":
		return strconv.FormatUint(r.Packets, 10), true
	case "tcp_flags":
		const names = "CEUAPRSF"
		var b [8]byte
		for i := range b {
			b[i] = '.'
			if r.TCPFlags&(0x80>>i) != 0 {
				b[i] = names[i]
			}
		}
		return string(b[:]), true
	case "in_snmp":
		return strconv.Itoa(int(r.InIf)), true
	case "out_snmp":
		return strconv.Itoa(int(r.OutIf)), true
	case "direction":
		return map[flow.Direction]string{flow.DirectionIngress: "ingress", flow.DirectionEgress: "egress"}[r.FlowDirection], true
	case "in_src_mac":
		return macString(r.SrcMAC), true
	case "flow_start_ms":
		return strconv.FormatInt(r.Start/1e6, 10), true
	case "flow_end_ms":
		return strconv.FormatInt(r.End/1e6, 10), true
	case "sampling_interval":
		return strconv.Itoa(int(r.SamplingRate)), line[field] != "0"
	}
	return "", false
}

// TestTelegrafOracle decodes each NetFlow/IPFIX case of telegraf's
// inputs.netflow test suite, files in sorted order through one decoder as
// the upstream harness does, and matches every `netflow` line with a
// record on every field abuseguard maps (order-insensitive, like
// telegraf's testutil.SortMetrics). `netflow_options` lines are options
// records, which feed the sampler tables: only their count is checked.
func TestTelegrafOracle(t *testing.T) {
	dir := filepath.Join(testutil.SharedDir(t, "flows"), "telegraf")
	for _, tc := range []string{"netflow_v5_example", "netflow_v9_example", "netflow_v9_options", "ipfix_example", "ipfix_options", "issue_13305", "issue_14370", "ipfix_pen_35632"} {
		t.Run(tc, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, tc, "expected.out"))
			if err != nil {
				t.Fatalf("read expected.out: %v", err)
			}
			files, _ := filepath.Glob(filepath.Join(dir, tc, "*.bin"))
			sort.Strings(files)
			d := New(Config{})
			var recs []flow.Record
			for _, f := range files {
				p, err := os.ReadFile(f)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if recs, err = d.Decode(testExporter, p, testRecv, recs); err != nil {
					// No case has an expected.err upstream.
					t.Errorf("Decode(%s): %v", filepath.Base(f), err)
				}
			}
			var lines []tgLine
			options := 0
			for _, l := range parseLineProtocol(t, string(want)) {
				if l.measurement == "netflow_options" {
					options++
					continue
				}
				lines = append(lines, l)
			}
			if got := int(d.Stats().OptionsRecords); got != options {
				t.Errorf("%d options records, want %d", got, options)
			}
			if len(recs) != len(lines) {
				t.Fatalf("%d records, want %d", len(recs), len(lines))
			}
			used := make([]bool, len(recs))
			checked := 0
		lines:
			for _, l := range lines {
				var firstDiff string
				for i := range recs {
					if used[i] {
						continue
					}
					diff, n := tgDiff(l.fields, &recs[i])
					if diff == "" {
						used[i] = true
						checked += n
						continue lines
					}
					if firstDiff == "" {
						firstDiff = diff
					}
				}
				t.Errorf("no record matches %v; first mismatch: %s", l.fields, firstDiff)
			}
			t.Logf("%d records, %d field values checked", len(recs), checked)
		})
	}
}

// tgDiff compares one telegraf line with a record and returns the first
// difference and the number of fields compared.
func tgDiff(fields map[string]string, r *flow.Record) (string, int) {
	n := 0
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		got, ok := tgValue(k, fields, r)
		if !ok {
			continue
		}
		if got != fields[k] {
			return fmt.Sprintf("%s = %q, want %q", k, got, fields[k]), n
		}
		n++
	}
	return "", n
}
