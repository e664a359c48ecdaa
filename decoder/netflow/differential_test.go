package netflow

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"abuseguard/flow"
	"abuseguard/testutil"
)

// gram is one datagram of a sequence.
type gram struct {
	exporter netip.Addr
	at       time.Time
	payload  []byte
}

// sequence is datagrams to decode in order through one decoder: template
// state carries from one to the next.
type sequence struct {
	name  string
	grams []gram
}

// allSequences returns every NetFlow/IPFIX datagram of the shared test
// data, grouped as their oracles feed them: logstash spec contexts,
// telegraf cases (files in sorted order), NetGauze pcaps.
func allSequences(t testing.TB) []sequence {
	t.Helper()
	var seqs []sequence
	dir := testutil.SharedDir(t, "flows")
	files, _ := filepath.Glob(filepath.Join(dir, "logstash", "expected", "*.expected.json"))
	for _, f := range files {
		var exp lsExpected
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if err := json.Unmarshal(b, &exp); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s := sequence{name: "logstash/" + strings.TrimSpace(exp.Context)}
		for _, name := range exp.Inputs {
			for _, p := range splitConcatenated(t, name, flowsFile(t, filepath.Join("logstash", name))) {
				s.grams = append(s.grams, gram{testExporter, testRecv, p})
			}
		}
		seqs = append(seqs, s)
	}
	for _, tc := range []string{"netflow_v5_example", "netflow_v9_example", "netflow_v9_options", "ipfix_example", "ipfix_options", "issue_13305", "issue_14370", "ipfix_pen_35632"} {
		files, _ := filepath.Glob(filepath.Join(dir, "telegraf", tc, "*.bin"))
		sort.Strings(files)
		s := sequence{name: "telegraf/" + tc}
		for _, f := range files {
			s.grams = append(s.grams, gram{testExporter, testRecv, flowsFile(t, filepath.Join("telegraf", tc, filepath.Base(f)))})
		}
		seqs = append(seqs, s)
	}
	for _, name := range []string{"ipfix_netgauze_100-cisco", "nfv9_netgauze_101-cisco-asr9k", "nfv9_netgauze_102-cisco-sampling", "ipfix_netgauze_104-cisco-ipv6-sampling", "ipfix_netgauze_srv6"} {
		s := sequence{name: "real/" + name}
		for _, d := range pcapDatagrams(t, name+".pcap") {
			s.grams = append(s.grams, gram{d.src.Addr(), d.at, d.payload})
		}
		seqs = append(seqs, s)
	}
	return seqs
}

// diffFields names the fields of two records that differ.
func diffFields(a, b *flow.Record) []string {
	var d []string
	add := func(name string, differ bool) {
		if differ {
			d = append(d, name)
		}
	}
	add("Src", a.Src != b.Src)
	add("Dst", a.Dst != b.Dst)
	add("SrcPort", a.SrcPort != b.SrcPort)
	add("DstPort", a.DstPort != b.DstPort)
	add("Proto", a.Proto != b.Proto)
	add("TCPFlags", a.TCPFlags != b.TCPFlags)
	add("Packets", a.Packets != b.Packets)
	add("Bytes", a.Bytes != b.Bytes)
	add("InIf", a.InIf != b.InIf)
	add("OutIf", a.OutIf != b.OutIf)
	add("SamplingRate", a.SamplingRate != b.SamplingRate)
	add("Start", a.Start != b.Start)
	add("End", a.End != b.End)
	add("SrcMAC", a.SrcMAC != b.SrcMAC)
	add("Exporter", a.Exporter != b.Exporter)
	return d
}

// goflowDiffers lists, per sequence, the fields on which goflow2 v2.2.6
// disagrees with abuseguard, and why abuseguard is right. Every listed
// field must differ in at least one record (so the list cannot go stale)
// and every other field must be equal in every record.
var goflowDiffers = map[string]map[string]string{
	"logstash/IPFIX": {
		"Start":        "softflowd sends flowStart/EndSysUpTime (22/21), which IANA defines relative to systemInitTimeMilliseconds (160), sent in its options data; goflow2 reads 21/22 only for v9 and stamps the export time",
		"End":          "as Start",
		"SamplingRate": "softflowd's options data says samplingPacketInterval 1, samplingPacketSpace 0: every packet, rate 1 (RFC 5477 §8.2.2-3); goflow2 reports 0",
	},
	"logstash/IPFIX Nokia BRAS": {
		"End": "template 256 carries flowStartMilliseconds only: abuseguard makes the record an instant (End = Start), goflow2 sets End to the export time",
	},
	"logstash/Netflow 9 Cisco ASA": {
		"Start":   "the ASA sends flowStartMilliseconds (152) in NetFlow v9; goflow2 reads IPFIX time elements only in IPFIX messages",
		"End":     "as Start (End = Start: no end time is sent)",
		"Bytes":   "the ASA sends octetTotalCount (85) and no delta count; goflow2 does not map 85",
		"DstPort": "ICMP echo replies: icmpTypeIPv4/icmpCodeIPv4 (176/177) say 0/0 and the ASA puts the ICMP identifier in the port fields; goflow2 keeps the port (its separate IcmpType/IcmpCode are 0, indistinguishable from absent)",
	},
	"logstash/Netflow 9 IE150 IE151": {
		"Start": "flowStartSeconds (150) in NetFlow v9, which the logstash spec asserts; goflow2 reads 150-159 only in IPFIX",
		"End":   "as Start",
	},
	"logstash/Netflow 9 template with 0 length fields": {
		"Bytes":   "records with IN_BYTES 0 and OUT_BYTES 32: abuseguard falls back to the out count when the in count is 0, goflow2 reads whichever comes last in the template (here IN, the zero)",
		"Packets": "as Bytes",
	},
	"telegraf/netflow_v9_example": {
		"Start": "flowStart/EndMilliseconds (152/153) in NetFlow v9, as telegraf's flow_start_ms shows; goflow2 reads them only in IPFIX",
		"End":   "as Start",
	},
	"telegraf/ipfix_example": {
		"Bytes":   "YAF sends octetTotalCount/packetTotalCount (85/86) only, as telegraf's in_total_bytes shows; goflow2 does not map them",
		"Packets": "as Bytes",
	},
	"telegraf/issue_14370": {
		"Start": "export time 0 and no usable time element: abuseguard uses the receive time, goflow2 the Unix epoch",
		"End":   "as Start",
	},
	"real/ipfix_netgauze_104-cisco-ipv6-sampling": {
		"SamplingRate": "options data: random n-out-of-N with samplingSize 1, samplingPopulation 256, so 1 in 256 (RFC 5477 §8.2.4-5); goflow2 reads samplingPacketInterval (305) = 1 as the rate",
	},
	"real/ipfix_netgauze_srv6": {
		"SamplingRate": "options data: random n-out-of-N, samplingPacketInterval 1 and no population: the rate is unknown (0, counted) until configured; goflow2 reads 305 = 1 as the rate",
		"Start":        "flowStart/EndSysUpTime relative to systemInitTimeMilliseconds from options template 338; goflow2 stamps the export time",
		"End":          "as Start",
	},
}

// goflowCounts lists the datagrams on which goflow2 returns a different
// number of records, and why.
var goflowCounts = map[string]string{
	"logstash/Netflow 5 invalid 01": "count field 55582 in 1464 bytes: goflow2 allocates and returns 55582 records, all but 30 of them zero; abuseguard returns the 30 that fit and ErrShort",
	"logstash/Netflow 5 invalid 02": "count field 163 in 1464 bytes: as invalid 01",
	"logstash/Netflow 9 invalid 01": "header count 2 for 2 templates, 1 options template and 3 data records: goflow2 reads `count` flowsets (RFC 3954 §5.1 defines it as records) and stops after the templates; abuseguard walks the flowsets by length",
}

// TestDifferentialGoflow decodes every NetFlow/IPFIX datagram of the shared
// test data with abuseguard and goflow2 v2.2.6, in order per sequence, and
// requires the same records on the fields both understand, except the
// disagreements listed above.
func TestDifferentialGoflow(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range allSequences(t) {
		seen[s.name] = true
		t.Run(s.name, func(t *testing.T) {
			ours, gf := New(Config{}), newGoflow(t)
			expected := goflowDiffers[s.name]
			differed := map[string]int{}
			countDiffers := false
			total := 0
			for i, g := range s.grams {
				a, _ := ours.Decode(g.exporter, g.payload, g.at, nil)
				b, _ := gf.decode(g.exporter, g.payload, g.at)
				if len(a) != len(b) {
					countDiffers = true
					if goflowCounts[s.name] == "" {
						t.Errorf("datagram %d: %d records, goflow2 %d", i, len(a), len(b))
					}
					continue
				}
				for j := range a {
					total++
					for _, f := range diffFields(&a[j], &b[j]) {
						differed[f]++
						if expected[f] == "" {
							t.Errorf("datagram %d record %d: %s differs: %s", i, j, f, fieldPair(f, &a[j], &b[j]))
						}
					}
				}
			}
			for f, why := range expected {
				if differed[f] == 0 {
					t.Errorf("%s no longer differs from goflow2 (listed because: %s)", f, why)
				}
			}
			if goflowCounts[s.name] != "" && !countDiffers {
				t.Errorf("record counts no longer differ from goflow2")
			}
			t.Logf("%d records compared, differing as listed: %v", total, differed)
		})
	}
	for name := range goflowDiffers {
		if !seen[name] {
			t.Errorf("goflowDiffers names unknown sequence %q", name)
		}
	}
}

func fieldPair(f string, a, b *flow.Record) string {
	get := func(r *flow.Record) any {
		switch f {
		case "Bytes":
			return r.Bytes
		case "Packets":
			return r.Packets
		case "SamplingRate":
			return r.SamplingRate
		case "Start":
			return time.Unix(0, r.Start).UTC().Format(time.RFC3339Nano)
		case "End":
			return time.Unix(0, r.End).UTC().Format(time.RFC3339Nano)
		case "DstPort":
			return r.DstPort
		}
		return "?"
	}
	return fmt.Sprintf("ours %v, goflow2 %v (proto %d)", get(a), get(b), a.Proto)
}
