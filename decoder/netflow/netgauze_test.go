package netflow

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"abuseguard/flow"
)

// ngProto is NetGauze's naming of the protocol numbers in the captures.
var ngProto = map[string]uint8{"ICMP": 1, "IPv4": 4, "IPv6": 41, "TCP": 6, "UDP": 17, "IPv6ICMP": 58, "VRRP": 112}

// ngRecord is the part of a record NetGauze's decode shows that
// abuseguard maps, in flow.Record's terms.
type ngRecord struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto, TCPFlags  uint8
	Bytes, Packets   uint64
	InIf, OutIf      uint32
	Direction        flow.Direction
	SrcMAC           uint64
	Start, End       int64
}

func ngFromRecord(r *flow.Record) ngRecord {
	return ngRecord{
		Src: r.Src, Dst: r.Dst, SrcPort: r.SrcPort, DstPort: r.DstPort,
		Proto: r.Proto, TCPFlags: r.TCPFlags, Bytes: r.Bytes, Packets: r.Packets,
		InIf: r.InIf, OutIf: r.OutIf, Direction: r.FlowDirection, SrcMAC: r.SrcMAC,
		Start: r.Start, End: r.End,
	}
}

// ngMessage is the header of one decoded message, which times in its
// records are relative to.
type ngMessage struct {
	version  int
	exportNs int64
	uptimeMs int64
}

// ngExpected converts NetGauze's data records of one message into
// ngRecords. Repeated elements follow abuseguard's rule (the last
// non-zero address, the last value otherwise); uptime-relative times are
// converted with the message header (v9) or systemInitTimeMilliseconds
// (IPFIX) read from earlier options data.
func ngExpected(t *testing.T, line []byte, sysInitMs *int64) []ngRecord {
	t.Helper()
	var top map[string]struct {
		Version    int    `json:"version"`
		SysUpTime  int64  `json:"sys_up_time"`
		UnixTime   string `json:"unix_time"`
		ExportTime string `json:"export_time"`
		Sets       []struct {
			Data *struct {
				Records []struct {
					Scope  []map[string]json.RawMessage `json:"scope_fields"`
					Fields []map[string]json.RawMessage `json:"fields"`
				} `json:"records"`
			} `json:"Data"`
		} `json:"sets"`
	}
	if err := json.Unmarshal(line, &top); err != nil {
		t.Fatalf("netgauze line: %v", err)
	}
	var out []ngRecord
	for _, m := range top {
		ts := m.UnixTime + m.ExportTime
		at, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			t.Fatalf("netgauze time %q: %v", ts, err)
		}
		msg := ngMessage{version: m.Version, exportNs: at.UnixNano(), uptimeMs: m.SysUpTime}
		for _, s := range m.Sets {
			if s.Data == nil {
				continue
			}
			for _, rec := range s.Data.Records {
				if len(rec.Scope) > 0 {
					for _, f := range rec.Fields {
						if v, ok := f["systemInitTimeMilliseconds"]; ok {
							var s string
							mustJSON(t, v, &s)
							init, err := time.Parse(time.RFC3339Nano, s)
							if err != nil {
								t.Fatalf("systemInitTimeMilliseconds %q: %v", s, err)
							}
							*sysInitMs = init.UnixMilli()
						}
					}
					continue // options record
				}
				out = append(out, ngConvert(t, msg, rec.Fields, *sysInitMs))
			}
		}
	}
	return out
}

func ngConvert(t *testing.T, msg ngMessage, fields []map[string]json.RawMessage, sysInitMs int64) ngRecord {
	t.Helper()
	var r ngRecord
	var icmp uint16
	var hasICMP, hasStart, hasEnd bool
	var startUp, endUp int64 = -1, -1
	setAddr := func(dst *netip.Addr, v json.RawMessage) {
		var s string
		mustJSON(t, v, &s)
		a := netip.MustParseAddr(s).Unmap()
		if !dst.IsValid() || !a.IsUnspecified() {
			*dst = a
		}
	}
	for _, f := range fields {
		for k, v := range f {
			switch k {
			case "sourceIPv4Address", "sourceIPv6Address":
				setAddr(&r.Src, v)
			case "destinationIPv4Address", "destinationIPv6Address":
				setAddr(&r.Dst, v)
			case "sourceTransportPort":
				mustJSON(t, v, &r.SrcPort)
			case "destinationTransportPort":
				mustJSON(t, v, &r.DstPort)
			case "protocolIdentifier":
				var s string
				mustJSON(t, v, &s)
				p, ok := ngProto[s]
				if !ok {
					t.Fatalf("protocol name %q not in ngProto", s)
				}
				r.Proto = p
			case "tcpControlBits":
				var bits map[string]bool
				mustJSON(t, v, &bits)
				for i, name := range []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"} {
					if bits[name] {
						r.TCPFlags |= 1 << i
					}
				}
			case "octetDeltaCount":
				mustJSON(t, v, &r.Bytes)
			case "packetDeltaCount":
				mustJSON(t, v, &r.Packets)
			case "ingressInterface":
				mustJSON(t, v, &r.InIf)
			case "egressInterface":
				mustJSON(t, v, &r.OutIf)
			case "flowDirection":
				switch string(v) {
				case `"ingress"`:
					r.Direction = flow.DirectionIngress
				case `"egress"`:
					r.Direction = flow.DirectionEgress
				}
			case "sourceMacAddress":
				var s string
				mustJSON(t, v, &s)
				r.SrcMAC = macValue(t, s)
			case "icmpTypeCodeIPv4", "icmpTypeCodeIPv6":
				mustJSON(t, v, &icmp)
				hasICMP = true
			case "flowStartMilliseconds", "flowEndMilliseconds":
				var s string
				mustJSON(t, v, &s)
				at, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					t.Fatalf("%s %q: %v", k, s, err)
				}
				if k == "flowStartMilliseconds" {
					r.Start, hasStart = at.UnixNano(), true
				} else {
					r.End, hasEnd = at.UnixNano(), true
				}
			case "flowStartSysUpTime":
				mustJSON(t, v, &startUp)
			case "flowEndSysUpTime":
				mustJSON(t, v, &endUp)
			}
		}
	}
	upToNs := func(ms int64) int64 {
		if msg.version == 9 {
			return msg.exportNs - int64(int32(uint32(msg.uptimeMs)-uint32(ms)))*1e6
		}
		return (sysInitMs + ms) * 1e6
	}
	if !hasStart && startUp >= 0 && (msg.version == 9 || sysInitMs != 0) {
		r.Start, hasStart = upToNs(startUp), true
	}
	if !hasEnd && endUp >= 0 && (msg.version == 9 || sysInitMs != 0) {
		r.End, hasEnd = upToNs(endUp), true
	}
	switch {
	case !hasStart && !hasEnd:
		r.Start, r.End = msg.exportNs, msg.exportNs
	case !hasStart:
		r.Start = r.End
	case !hasEnd:
		r.End = r.Start
	}
	if r.Proto == flow.ProtoICMP || r.Proto == flow.ProtoICMPv6 {
		r.SrcPort = 0
		if hasICMP {
			r.DstPort = icmp
		}
	}
	return r
}

func mustJSON(t *testing.T, v json.RawMessage, dst any) {
	t.Helper()
	if err := json.Unmarshal(v, dst); err != nil {
		t.Fatalf("netgauze value %s: %v", v, err)
	}
}

func macValue(t *testing.T, s string) uint64 {
	t.Helper()
	var m uint64
	for _, part := range strings.Split(s, ":") {
		var b byte
		for _, c := range []byte(part) {
			switch {
			case c >= '0' && c <= '9':
				b = b<<4 | (c - '0')
			case c >= 'a' && c <= 'f':
				b = b<<4 | (c - 'a' + 10)
			default:
				t.Fatalf("bad MAC %q", s)
			}
		}
		m = m<<8 | uint64(b)
	}
	return m
}

// TestNetGauzeOracle decodes the five NetGauze pcaps datagram by datagram
// through one decoder and requires, per datagram, the records of
// NetGauze's expected decode, on every field abuseguard maps. NetGauze
// keeps one decoder per (src, dst) socket pair; each pcap has one.
func TestNetGauzeOracle(t *testing.T) {
	for _, name := range []string{"ipfix_netgauze_100-cisco", "nfv9_netgauze_101-cisco-asr9k", "nfv9_netgauze_102-cisco-sampling", "ipfix_netgauze_104-cisco-ipv6-sampling", "ipfix_netgauze_srv6"} {
		t.Run(name, func(t *testing.T) {
			grams := pcapDatagrams(t, name+".pcap")
			want := flowsFile(t, filepath.Join("netgauze-expected", name+"-flow.json"))
			sc := bufio.NewScanner(bytes.NewReader(want))
			sc.Buffer(nil, 1<<20)
			d := New(Config{})
			var sysInitMs int64
			total := 0
			for i, g := range grams {
				if !sc.Scan() {
					t.Fatalf("datagram %d: no expected line", i)
				}
				exp := ngExpected(t, sc.Bytes(), &sysInitMs)
				recs, err := d.Decode(g.src.Addr(), g.payload, g.at, nil)
				if err != nil {
					t.Errorf("datagram %d: %v", i, err)
				}
				got := make([]ngRecord, len(recs))
				for j := range recs {
					got[j] = ngFromRecord(&recs[j])
					if recs[j].Exporter != g.src.Addr() {
						t.Errorf("datagram %d record %d: exporter %v, want %v", i, j, recs[j].Exporter, g.src.Addr())
					}
				}
				if diff := cmp.Diff(got, exp, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
					t.Fatalf("datagram %d: Decode() (-got, +want):\n%s", i, diff)
				}
				total += len(recs)
			}
			if sc.Scan() {
				t.Errorf("more expected lines than datagrams (%d)", len(grams))
			}
			t.Logf("%d datagrams, %d records equal", len(grams), total)
		})
	}
}
