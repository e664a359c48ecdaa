package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"abuseguard"
	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/pcapfile"
	"abuseguard/testutil"
	"abuseguard/testutil/exporters"
	"abuseguard/testutil/pktgen"
	"abuseguard/web/api"
)

// The end-to-end tests of this file run the real binary: `abuseguard serve`
// with a UDP listener on loopback, real exporters from Debian (softflowd,
// pmacctd, nfcapd + nfreplay) reading captures of real tools and exporting
// them to it, and the JSON API to read what serve made of them. The oracle
// is `abuseguard replay` on the same capture with the same configuration.
//
// Time: serve's detectors run on the records' time, and its clock ticks with
// the wall clock when traffic is idle. Each capture is rewritten to start
// e2eLead from now, so that the exporters' timestamps (taken from the
// capture, or the time of sending for sFlow) are those of live traffic and
// records reach serve before their time, as they would from a router whose
// flows are exported promptly.

// e2eCaptures are the captures exported, with the detection each holds at
// the thresholds of e2eConfig.
var e2eCaptures = []string{
	"netscan-horizontal-syn.pcap", // netscan/horizontal out: 256 hosts on tcp/22
	"udp-flood-outgoing.pcap",     // packet_limit/pps out: 3 000 packets, 600 pps over 5 s
	"syn-flood-incoming.pcap",     // incoming_flood/pps in: 2 836 spoofed SYNs, 567 pps over 5 s
}

// e2eLead is how far ahead of the wall clock a capture starts when it is
// exported: more than the slowest exporter chain (softflowd → nfcapd →
// nfreplay) takes to deliver, so that no record arrives after its time.
// softflowd -v 10 needs the capture to start after softflowd itself: it
// exports times relative to its own start (flowStartSysUpTime), and a
// packet before it wraps to 49.7 days ahead.
const e2eLead = 3 * time.Second

// e2eConfig is the configuration serve and replay share: the capture's
// server as the only customer address, short windows and quiet periods so
// that detections end (and are reported Final) within seconds, and rate
// thresholds under the floods' rates (the defaults are 50 000 and 200 000
// pps).
func e2eConfig(dataDir, web, protocol string, flowPort int, pps int, listener ...string) string {
	extra := ""
	for _, l := range listener {
		extra += "      " + l + "\n"
	}
	return fmt.Sprintf(`data_dir: %s
web:
  listen: %s
inventory:
  provider_prefixes: [203.0.113.0/24]
  customers:
    - {id: c-1, name: Example Hosting, email: abuse@example.net, language: en}
  servers:
    - {id: srv-1, customer: c-1, name: web-1, prefixes: [203.0.113.10/32]}
collector:
  listeners:
    - protocol: %s
      listen: ["127.0.0.1:%d"]
%s  exporters:
    - address: 127.0.0.1
detect:
  defaults:
    netscan: {window: 5s, quiet: 1s}
    packet_limit: {window: 5s, pps: %d, quiet: 1s}
    incoming_flood: {window: 5s, pps: %d, quiet: 1s}
lifecycle:
  warm_up: 0s
`, dataDir, web, protocol, flowPort, extra, pps, pps)
}

// exporterRun is one exporter of the end-to-end test.
type exporterRun struct {
	name     string
	protocol string // the listener's protocol: what the exporter sends
	// flows is true for flow exporters: a record is a flow whose TCP flags
	// are the OR of its packets', so a probe answered by SYN-ACK (whose
	// flow then also carries the scanner's RST) is not an attempt.
	flows bool
	// rate is the packet sampling rate, 1 for none.
	rate int
	// export sends capture to to and returns when the exporter is done.
	export func(t *testing.T, capture string, to netip.AddrPort)
}

func e2eExporters() []exporterRun {
	softflowd := func(v string) func(*testing.T, string, netip.AddrPort) {
		return func(t *testing.T, capture string, to netip.AddrPort) { exporters.Softflowd(t, capture, to, v) }
	}
	nfprobe := func(v string) func(*testing.T, string, netip.AddrPort) {
		return func(t *testing.T, capture string, to netip.AddrPort) {
			exporters.Pmacctd(t, capture, "plugins: nfprobe[n]\nnfprobe_receiver[n]: "+to.String()+"\nnfprobe_version[n]: "+v+"\n")
		}
	}
	sfprobe := func(rate int) func(*testing.T, string, netip.AddrPort) {
		return func(t *testing.T, capture string, to netip.AddrPort) {
			exporters.Pmacctd(t, capture, fmt.Sprintf("plugins: sfprobe[s]\nsfprobe_receiver[s]: %s\nsfprobe_agentip[s]: 127.0.0.1\nsampling_rate: %d\n", to, rate))
		}
	}
	return []exporterRun{
		{"softflowd netflow v5", "netflow", true, 1, softflowd("5")},
		{"softflowd netflow v9", "netflow", true, 1, softflowd("9")},
		{"softflowd ipfix", "ipfix", true, 1, softflowd("10")},
		{"pmacctd nfprobe v9", "netflow", true, 1, nfprobe("9")},
		{"pmacctd nfprobe ipfix", "ipfix", true, 1, nfprobe("10")},
		{"pmacctd sfprobe", "sflow", false, 1, sfprobe(1)},
		{"pmacctd sfprobe 1:10", "sflow", false, 10, sfprobe(10)},
		{"nfreplay", "netflow", true, 1, func(t *testing.T, capture string, to netip.AddrPort) { exporters.Nfreplay(t, capture, to) }},
	}
}

// TestServeRealExporters exports captures of real tools with real
// exporters to a running `abuseguard serve` and checks through its JSON API
// that the detections are those of `abuseguard replay` on the same capture:
// kind, subkind, address and direction exactly; the figures exactly, except
// for what an exporter does not carry:
//
//   - flow exporters OR the TCP flags of a flow: the 10 hosts that answered
//     nmap's SYN with SYN-ACK get a flow with SYN and RST (nmap's kernel
//     resets), which is not an attempt, so the scan counts 246 hosts, not
//     256;
//   - sFlow at 1:10 is an estimate (pmacct samples at random, its
//     CONFIG-KEYS say): rates within 25 % (4 standard deviations of the
//     binomial sampling), thresholds lowered to 400 pps so that detection
//     does not depend on the draw, and a netscan estimate above the truth
//     (probes retransmitted to silent hosts count as new hosts once
//     sampled).
//
// Exporters run in parallel (go test -parallel 8 runs all at once); each
// has its own serve, and its captures go one after the other, each once the
// previous one's detections have ended.
func TestServeRealExporters(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, runs serve with every exporter (about a minute)")
	}
	for _, name := range []string{"softflowd", "softflowctl", "pmacctd", "nfcapd", "nfreplay"} {
		exporters.Look(t, name)
	}
	bin := buildBinary(t)
	dir := filepath.Join(testutil.ModuleRoot(t), "testdata", "captures")
	frames := map[string][]capturedFrame{}
	want := map[string]map[int][]e2eDetection{} // capture → pps threshold → replay's detections
	for _, c := range e2eCaptures {
		frames[c] = readFrames(t, filepath.Join(dir, c))
		want[c] = map[int][]e2eDetection{}
		// The oracle replays the capture as serve receives it: moved in
		// time and with the trailer, which replay ignores (time is the
		// records' own, and the trailer is not customer traffic).
		file := writeCaptureAt(t, frames[c], time.Now())
		for _, pps := range []int{500, 400} {
			cfg := writeConfig(t, e2eConfig(t.TempDir(), "127.0.0.1:0", "netflow", 2055, pps))
			for _, d := range replay(t, "-c", cfg, file) {
				want[c][pps] = append(want[c][pps], e2eFromReplay(d))
			}
		}
		if len(want[c][500]) == 0 {
			t.Fatalf("replay finds nothing in %s: the test's thresholds are wrong", c)
		}
	}
	for _, ex := range e2eExporters() {
		t.Run(ex.name, func(t *testing.T) {
			t.Parallel()
			pps := 500
			if ex.rate > 1 {
				pps = 400
			}
			s := startE2EServe(t, bin, ex.protocol, pps)
			seen := map[string]bool{}
			for _, c := range e2eCaptures {
				file := writeCaptureAt(t, frames[c], time.Now().Add(e2eLead))
				ex.export(t, file, s.flows)
				got := s.newFinalDetections(t, seen, len(want[c][pps]))
				exp := expectFrom(want[c][pps], ex, frames[c])
				if ex.rate > 1 {
					compareSampled(t, c, got, exp)
					continue
				}
				if diff := gocmp.Diff(got, exp); diff != "" {
					t.Fatalf("%s: detections through serve (-got, +want):\n%s", c, diff)
				}
				t.Logf("%s: %v", c, got)
			}
		})
	}
}

// e2eDetection is what the test compares of a detection.
type e2eDetection struct {
	What    string // kind/subkind
	Address string
	Dir     string
	Value   float64
	// Packets and Bytes are the estimated totals (for a netscan, of the
	// attempts).
	Packets, Bytes uint64
}

func e2eFromReplay(d replayJSON) e2eDetection {
	return e2eDetection{string(d.Kind) + "/" + d.Subkind, d.Address.String(), string(d.Direction), d.Value, d.Packets, d.Bytes}
}

func e2eFromCase(d abuseguard.Detection) e2eDetection {
	return e2eDetection{string(d.Kind) + "/" + d.Subkind, d.Address.String(), string(d.Direction), d.Value, d.Packets, d.Bytes}
}

// expectFrom adjusts replay's detections for what ex does not carry: with
// flows, the scan attempts whose flow also holds an RST from the scanner
// are not attempts (see TestServeRealExporters).
func expectFrom(replayed []e2eDetection, ex exporterRun, frames []capturedFrame) []e2eDetection {
	out := slices.Clone(replayed)
	if !ex.flows {
		return out
	}
	lost, lostBytes := resetAttempts(frames)
	for i := range out {
		if strings.HasPrefix(out[i].What, "netscan/") {
			out[i].Value -= float64(lost)
			out[i].Packets -= lost
			out[i].Bytes -= lostBytes
		}
	}
	return out
}

// resetAttempts counts the outgoing TCP 5-tuples of the server that carry
// both SYN and RST (the probes nmap's kernel reset after a SYN-ACK): a flow
// exporter merges them into one flow that is no attempt. It also returns the
// bytes of their first SYN, which is what the attempt would have weighed.
func resetAttempts(frames []capturedFrame) (n, bytes uint64) {
	type tuple struct {
		dst          netip.Addr
		sport, dport uint16
	}
	flags := map[tuple]uint8{}
	synBytes := map[tuple]uint64{}
	server := netip.MustParseAddr("203.0.113.10")
	for _, f := range frames {
		var r flow.Record
		if packet.Decode(flow.LinkTypeEthernet, f.data, &r) != nil || r.Src != server || r.Proto != flow.ProtoTCP {
			continue
		}
		k := tuple{r.Dst, r.SrcPort, r.DstPort}
		if r.TCPFlags&flow.TCPSyn != 0 && synBytes[k] == 0 {
			synBytes[k] = r.Bytes
		}
		flags[k] |= r.TCPFlags
	}
	for k, f := range flags {
		if f&flow.TCPSyn != 0 && f&flow.TCPRst != 0 && f&flow.TCPAck == 0 {
			n++
			bytes += synBytes[k]
		}
	}
	return n, bytes
}

// compareSampled checks sampled detections: the same detections, rates
// and totals within 25 % (the binomial standard deviation at 1:10 is 5-6 %
// for these floods), a netscan at or above its threshold.
func compareSampled(t *testing.T, capture string, got, want []e2eDetection) {
	t.Helper()
	key := func(ds []e2eDetection) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.What+" "+d.Address+" "+d.Dir)
		}
		return out
	}
	if diff := gocmp.Diff(key(got), key(want)); diff != "" {
		t.Fatalf("%s: detections through serve, sampled 1:10 (-got, +want):\n%s", capture, diff)
	}
	near := func(g, w float64) bool { return g >= 0.75*w && g <= 1.25*w }
	for i, g := range got {
		w := want[i]
		if strings.HasPrefix(g.What, "netscan/") {
			if g.Value < 100 {
				t.Errorf("%s: %s estimated %v, under the threshold", capture, g.What, g.Value)
			}
		} else if !near(g.Value, w.Value) || !near(float64(g.Packets), float64(w.Packets)) || !near(float64(g.Bytes), float64(w.Bytes)) {
			t.Errorf("%s: sampled %+v, more than 25 %% from %+v", capture, g, w)
		}
		t.Logf("%s: sampled 1:10 %+v, unsampled replay %+v", capture, g, w)
	}
}

// e2eServe is a running serve of the end-to-end tests.
type e2eServe struct {
	base   string // http://host:port
	token  string
	flows  netip.AddrPort // the collector's listener
	client *http.Client
	log    string
}

// startE2EServe writes a configuration, creates an operator token and
// starts serve, waiting for its health check.
func startE2EServe(t *testing.T, bin, protocol string, pps int, listener ...string) *e2eServe {
	t.Helper()
	dir := t.TempDir()
	web := freePort(t)
	flows := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(exporters.FreeUDPPort(t)))
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(e2eConfig(filepath.Join(dir, "data"), web, protocol, int(flows.Port()), pps, listener...)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-c", cfg, "token", "create", "--role", "operator", "--name", "e2e").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	s := &e2eServe{base: "http://" + web, token: strings.TrimSpace(string(out)), flows: flows,
		client: &http.Client{Timeout: 5 * time.Second}, log: filepath.Join(dir, "serve.log")}
	cmd := startServe(t, bin, cfg, s.base, s.log)
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(s.log)
			t.Logf("serve's log:\n%s", b)
		}
	})
	return s
}

// newFinalDetections polls the API until at least n detections not in
// seen exist and all of them are final (their detection ended: short
// windows and quiet periods make that a few seconds after the traffic),
// marks them seen and returns them sorted; it fails after 60 s.
func (s *e2eServe) newFinalDetections(t *testing.T, seen map[string]bool, n int) []e2eDetection {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last []abuseguard.Detection
	for {
		var list api.CaseList
		if code := get(s.client, s.base+"/api/v1/cases?limit=100", s.token, &list); code != http.StatusOK {
			t.Fatalf("GET /api/v1/cases: status %d", code)
		}
		last = last[:0]
		final := true
		for _, c := range list.Cases {
			var full abuseguard.Case
			if code := get(s.client, s.base+"/api/v1/cases/"+c.ID, s.token, &full); code != http.StatusOK {
				t.Fatalf("GET /api/v1/cases/%s: status %d", c.ID, code)
			}
			for _, d := range full.Detections {
				if !seen[d.ID] {
					last = append(last, d)
					final = final && d.Final
				}
			}
		}
		if len(last) >= n && final {
			break
		}
		if time.Now().After(deadline) {
			var got []string
			for _, d := range last {
				got = append(got, fmt.Sprintf("%s/%s %s final=%v", d.Kind, d.Subkind, d.Address, d.Final))
			}
			t.Fatalf("after 60 s, %d new detections (%v), want %d, all final; metrics:\n%s", len(last), got, n, s.metrics(t, "abuseguard_collector_", "abuseguard_detect_records"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	var out []e2eDetection
	for _, d := range last {
		seen[d.ID] = true
		out = append(out, e2eFromCase(d))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].What < out[j].What })
	return out
}

// metrics returns the lines of /metrics that start with one of prefixes.
func (s *e2eServe) metrics(t *testing.T, prefixes ...string) string {
	t.Helper()
	res, err := s.client.Get(s.base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		for _, p := range prefixes {
			if strings.HasPrefix(sc.Text(), p) {
				b.WriteString(sc.Text() + "\n")
				break
			}
		}
	}
	return b.String()
}

// metric returns the sum of the samples of /metrics named name whose
// labels contain every one of labels (`key="value"`).
func (s *e2eServe) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	for _, line := range strings.Split(s.metrics(t, name), "\n") {
		series, value, ok := strings.Cut(line, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(series, l)
		}
		var v float64
		if _, err := fmt.Sscan(value, &v); err == nil && match {
			sum += v
		}
	}
	return sum
}

// buildBinary builds abuseguard into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "abuseguard")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// capturedFrame is a frame of a capture file: the bytes kept (the frames
// of testdata/captures are cut at 128 bytes) and its length on the wire,
// which the exporters count.
type capturedFrame struct {
	time    int64
	data    []byte
	origLen uint32
}

// readFrames reads a capture's frames, copied.
func readFrames(t *testing.T, path string) []capturedFrame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapfile.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []capturedFrame
	for {
		fr, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if fr.LinkType != flow.LinkTypeEthernet {
			t.Fatalf("%s: link type %v, want Ethernet", path, fr.LinkType)
		}
		out = append(out, capturedFrame{fr.Time, slices.Clone(fr.Data), fr.OrigLen})
	}
}

// trailerPackets follow every exported capture: pmacctd's sfprobe does not
// send its last, partly filled datagram when the file ends, and these push
// it out. They go between two addresses outside the customer's space, so
// neither replay nor serve looks at them.
const trailerPackets = 100

// writeCaptureAt writes frames as a pcap file whose first frame is at
// start, keeping the frames' spacing and original lengths, followed by the
// trailer, and returns its path.
func writeCaptureAt(t *testing.T, frames []capturedFrame, start time.Time) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capture.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	w, err := pcapfile.NewWriter(bw, flow.LinkTypeEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	shift := start.UnixNano() - frames[0].time
	last := int64(0)
	for _, fr := range frames {
		last = fr.time + shift
		if err := w.WritePacket(last, fr.data, fr.origLen); err != nil {
			t.Fatal(err)
		}
	}
	src, dst := netip.MustParseAddrPort("198.18.0.1:9"), netip.MustParseAddrPort("198.18.0.2:9")
	for i := range trailerPackets {
		if err := w.WritePacket(last+int64(i+1)*int64(time.Millisecond), pktgen.UDP(src, dst, 10), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(bw.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeLoopbackBurst sends serve bursts of 20 000 NetFlow v5 datagrams
// of 1 464 bytes (30 records each, 29 MB) over loopback as fast as one
// socket writes, and reads the collector's counters from /metrics: at the
// kernel's default receive buffer (receive_buffer: 0, 208 KiB) datagrams
// are lost and kernel_drops_total counts every one; with receive_buffer
// 64 MiB and a queue that holds a burst none is lost. Loss depends on scheduling: up to five bursts are
// sent until one loses. The accounting must be exact for every burst:
// received + kernel drops = sent, and the records decoded are those of the
// datagrams received less the queue's drops.
func TestServeLoopbackBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs serve")
	}
	bin := buildBinary(t)
	const burst = 20_000
	for _, tc := range []struct {
		name     string
		listener []string
		wantLoss bool
	}{
		{"kernel default buffer", []string{"receive_buffer: 0"}, true},
		// With the kernel's buffer large, the user-space queue becomes the
		// limit: 64 batches (2 048 datagrams) lost 68 datagrams of a burst
		// while the worker decoded and submitted the rest. 1 024 batches
		// of 1 500-byte slots (49 MB) hold a whole burst.
		{"64 MiB buffer", []string{"receive_buffer: 67108864", "queue_size: 1024", "max_datagram_size: 1500"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startE2EServe(t, bin, "netflow", 500, tc.listener...)
			conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.flows))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if granted := s.metric(t, "abuseguard_collector_udp_receive_buffer_bytes"); !tc.wantLoss && granted < 2*64<<20 {
				t.Skipf("the kernel granted a receive buffer of %v bytes: a 64 MiB buffer needs CAP_NET_ADMIN or net.core.rmem_max", granted)
			}
			dgram := netflowV5(30)
			sent := 0
			for attempt := 0; attempt < 5; attempt++ {
				for range burst {
					binary.BigEndian.PutUint32(dgram[8:], uint32(time.Now().Unix()))
					if _, err := conn.Write(dgram); err != nil {
						t.Fatal(err)
					}
				}
				sent += burst
				received, kernel, queue := s.accountFor(t, conn, dgram, &sent)
				records := s.metric(t, "abuseguard_collector_records_total")
				t.Logf("burst %d: %d sent, %v received, %v kernel drops, %v queue drops, %v records; receive buffer %v bytes granted",
					attempt, sent, received, kernel, queue, records, s.metric(t, "abuseguard_collector_udp_receive_buffer_bytes"))
				if records != 30*(received-queue) {
					t.Fatalf("%v records decoded from %v datagrams received less %v dropped from the queue, want 30 a datagram", records, received, queue)
				}
				if !tc.wantLoss {
					if kernel != 0 || queue != 0 || received != float64(sent) {
						t.Fatalf("%v kernel and %v queue drops with a 64 MiB buffer, %v of %d received", kernel, queue, received, sent)
					}
					return
				}
				if kernel > 0 {
					return
				}
			}
			t.Fatalf("5 bursts of %d datagrams into the default buffer lost nothing: the test cannot show the counter", burst)
		})
	}
}

// accountFor waits until serve has accounted for every datagram sent
// (received or counted as a kernel drop) and returns the listener's
// counters. The kernel reports its drop counter with the next datagram a
// socket receives (SO_RXQ_OVFL), so when the counts fall short after
// 100 ms another datagram is sent, up to 1 000 times.
func (s *e2eServe) accountFor(t *testing.T, conn *net.UDPConn, dgram []byte, sent *int) (received, kernel, queue float64) {
	t.Helper()
	for extra := 0; ; extra++ {
		deadline := time.Now().Add(100 * time.Millisecond)
		for time.Now().Before(deadline) {
			received = s.metric(t, "abuseguard_collector_udp_datagrams_total")
			kernel = s.metric(t, "abuseguard_collector_udp_kernel_drops_total")
			if received+kernel == float64(*sent) {
				queue = s.metric(t, "abuseguard_collector_udp_queue_drops_total")
				// The workers may still be decoding what was queued.
				records := func() float64 { return s.metric(t, "abuseguard_collector_records_total") }
				settle := time.Now().Add(10 * time.Second)
				for records() < 30*(received-queue) && time.Now().Before(settle) {
					time.Sleep(10 * time.Millisecond)
				}
				return received, kernel, queue
			}
			time.Sleep(10 * time.Millisecond)
		}
		if extra == 1000 {
			t.Fatalf("%d sent, %v received, %v kernel drops: datagrams unaccounted for", *sent, received, kernel)
		}
		if _, err := conn.Write(dgram); err != nil {
			t.Fatal(err)
		}
		*sent++
	}
}

// netflowV5 returns a NetFlow v5 datagram of n records (at most 30): TCP
// between addresses of the benchmark range 198.18.0.0/15, outside the
// configuration's customer space, so that the detectors only count them.
func netflowV5(n int) []byte {
	b := make([]byte, 24+48*n)
	binary.BigEndian.PutUint16(b[0:], 5)
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	binary.BigEndian.PutUint32(b[4:], 3_600_000) // sysUptime: one hour
	binary.BigEndian.PutUint32(b[8:], uint32(time.Now().Unix()))
	for i := range n {
		r := b[24+48*i:]
		copy(r[0:], []byte{198, 18, 0, byte(i + 1)})  // srcaddr
		copy(r[4:], []byte{198, 19, 0, byte(i + 1)})  // dstaddr
		binary.BigEndian.PutUint32(r[16:], 10)        // dPkts
		binary.BigEndian.PutUint32(r[20:], 4000)      // dOctets
		binary.BigEndian.PutUint32(r[24:], 3_599_000) // first: 1 s before the export
		binary.BigEndian.PutUint32(r[28:], 3_599_900) // last
		binary.BigEndian.PutUint16(r[32:], uint16(40000+i))
		binary.BigEndian.PutUint16(r[34:], 443)
		r[37] = flow.TCPAck // tcp_flags
		r[38] = flow.ProtoTCP
	}
	return b
}
