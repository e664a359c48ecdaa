package sflow

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"abuseguard/flow"
	"abuseguard/testutil"
)

// tgFields parses the field sets of InfluxDB line protocol as telegraf's
// expected.out files use it (string values quoted, no escaped quotes).
func tgFields(t *testing.T, text string) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		// measurement,tags fields timestamp: the fields are the second
		// space-separated part outside quotes.
		var parts []string
		start, quoted := 0, false
		for i := 0; i <= len(line); i++ {
			if i < len(line) && line[i] == '"' {
				quoted = !quoted
			}
			if i == len(line) || line[i] == ' ' && !quoted {
				parts = append(parts, line[start:i])
				start = i + 1
			}
		}
		if len(parts) < 2 {
			t.Fatalf("bad line protocol: %q", line)
		}
		fields := map[string]string{}
		f := parts[1]
		start, quoted = 0, false
		for i := 0; i <= len(f); i++ {
			if i < len(f) && f[i] == '"' {
				quoted = !quoted
			}
			if i == len(f) || f[i] == ',' && !quoted {
				k, v, _ := strings.Cut(f[start:i], "=")
				fields[k] = strings.Trim(strings.TrimSuffix(v, "u"), `"`)
				start = i + 1
			}
		}
		out = append(out, fields)
	}
	return out
}

var tgProto = map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58}

// tgExpect renders a telegraf sFlow flow line in flow.Record's terms.
// Fields telegraf reports differently from flow.Record:
//   - in_snmp is the sample's data source index, not its input interface
//     (sample 2 of sflow_issue_15918: source 60, input 101): not compared
//     here, TestInterfaces checks InIf against the datagram;
//   - ipv6_total_len is the IPv6 payload length: Bytes counts the whole
//     IP packet, 40 more;
//   - protocol "hopopt" is the IPv6 next header: flow.Record's Proto is
//     the upper layer after the hop-by-hop header, ICMPv6 for that
//     packet, an MLDv2 report to ff02::16, whose type 143 (code 0)
//     flow.Record puts in DstPort;
//   - l2_bytes is the frame length with its FCS: OrigLen excludes the
//     stripped FCS (4 bytes in every sample of this capture).
func tgExpect(t *testing.T, l map[string]string) string {
	t.Helper()
	num := func(k string) uint64 {
		v, err := strconv.ParseUint(l[k], 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", k, l[k], err)
		}
		return v
	}
	proto, ok := tgProto[l["protocol"]]
	dport := orDefault(l["dst_port"])
	if l["protocol"] == "hopopt" {
		proto, ok, dport = 58, true, strconv.Itoa(143<<8)
	}
	if !ok {
		t.Fatalf("protocol %q", l["protocol"])
	}
	bytes := uint64(0)
	if _, ok := l["ipv4_total_len"]; ok {
		bytes = num("ipv4_total_len")
	} else {
		bytes = num("ipv6_total_len") + 40
	}
	dir := map[string]flow.Direction{"ingress": flow.DirectionIngress, "egress": flow.DirectionEgress}[l["direction"]]
	out := uint64(0)
	if _, ok := l["out_snmp"]; ok {
		out = num("out_snmp")
	}
	return fmt.Sprintf("%s:%s > %s:%s proto %d bytes %d orig %d rate %s out %d dir %d mac %s",
		l["src"], orDefault(l["src_port"]), l["dst"], dport, proto, bytes,
		num("l2_bytes")-4, l["sampling_interval"], out, dir, l["in_src_mac"])
}

func orDefault(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func render(r *flow.Record) string {
	m := r.SrcMAC
	mac := fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", byte(m>>40), byte(m>>32), byte(m>>24), byte(m>>16), byte(m>>8), byte(m))
	return fmt.Sprintf("%v:%d > %v:%d proto %d bytes %d orig %d rate %d out %d dir %d mac %s",
		r.Src, r.SrcPort, r.Dst, r.DstPort, r.Proto, r.Bytes, r.OrigLen, r.SamplingRate, r.OutIf, r.FlowDirection, mac)
}

// TestTelegrafOracle decodes telegraf's sFlow cases and matches each flow
// line of expected.out with a record (order ignored, as telegraf's test
// does); counter and discard lines are matched by count.
func TestTelegrafOracle(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		counters, discards, others uint64
	}{
		{"sflow_issue_15918", 1, 0, 0},
		{"sflow_v5_example", 1, 0, 0},
		{"sflow_issue_15375", 0, 1, 0},
		{"sflow_issue_18876", 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(testutil.SharedDir(t, "flows"), "telegraf", tc.name, "expected.out"))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, l := range tgFields(t, string(text)) {
				if _, ok := l["src"]; ok {
					want = append(want, tgExpect(t, l))
				}
			}
			d := New(Config{})
			var got []string
			for _, g := range telegrafCase(t, tc.name) {
				recs, err := d.Decode(g.exporter, g.payload, g.at, nil)
				if err != nil {
					t.Errorf("Decode: %v", err)
				}
				for i := range recs {
					got = append(got, render(&recs[i]))
				}
			}
			sort.Strings(got)
			sort.Strings(want)
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("records (-got, +want):\n%s", diff)
			}
			s := d.Stats()
			if s.CounterSamples != tc.counters || s.DiscardSamples != tc.discards || s.OtherSamples != tc.others {
				t.Errorf("stats %+v, want %d counter, %d discard samples", s, tc.counters, tc.discards)
			}
		})
	}
}
