package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"abuseguard"
	"abuseguard/detect"
	"abuseguard/flow"
	"abuseguard/input/pcap"

	"github.com/spf13/cobra"
)

// replayFlags are replay's own flags.
type replayFlags struct {
	prefixes       []string
	json           bool
	traffic        bool
	evidenceDir    string
	flowExports    string
	customerFacing bool
}

func newReplayCmd(g *globalFlags) *cobra.Command {
	f := &replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay [--config F] [--prefix CIDR]... [--json] FILE...",
		Short: "Run the detectors over capture files offline and print each detection with its evidence",
		Long: `replay reads pcap and pcapng files (packets, or NetFlow/IPFIX/sFlow exports
inside them, recognised on any UDP port) in order, runs the detectors over them
exactly as serve does, and prints for each detection a one-line summary and its
evidence log. Time comes from the captures: windows follow the packets'
timestamps, however far apart they are.

Customer space comes from the configuration's inventory, or from --prefix for a
quick look without one (the provider's space is then the union of --prefix).
The exit status is 0 when every file was read, whether or not anything was
found, and 1 when a file could not be read (the others are still replayed).`,
		Example: `  abuseguard replay --config abuseguard.sample.yaml testdata/captures/netscan-demo.pcap
  abuseguard replay --prefix 203.0.113.0/24 --json capture.pcap
  abuseguard replay --prefix 10.0.0.0/8 --evidence-dir out/ router-export.pcap`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return runReplay(cmd, g, f, files)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.prefixes, "prefix", nil, "customer address space (CIDR), repeatable; added to the inventory")
	fl.BoolVar(&f.json, "json", false, "print one JSON object per detection per line")
	fl.BoolVar(&f.traffic, "traffic", false, "also print each detection's traffic dump (tcpdump-style lines)")
	fl.StringVar(&f.evidenceDir, "evidence-dir", "", "write every evidence file (logs, traffic.pcap) to DIR/<detection id>/")
	fl.StringVar(&f.flowExports, "flow-exports", "auto", "decode flow exports inside captures: auto or off")
	fl.BoolVar(&f.customerFacing, "customer-facing", false, "the captures were taken on customer ports: sources outside the provider's space are spoofed")
	return cmd
}

func runReplay(cmd *cobra.Command, g *globalFlags, f *replayFlags, files []string) error {
	cfg, err := loadConfiguration(g.configFile)
	if err != nil {
		return err
	}
	log, err := g.newLogger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	for _, s := range f.prefixes {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return usageError{fmt.Errorf("--prefix %q: %w", s, err)}
		}
		if p != p.Masked() {
			return usageError{fmt.Errorf("--prefix %s has host bits set; did you mean %s?", p, p.Masked())}
		}
		cfg.Inventory.CustomerPrefixes = append(cfg.Inventory.CustomerPrefixes, p)
		if g.configFile != "" {
			cfg.Inventory.ProviderPrefixes = append(cfg.Inventory.ProviderPrefixes, p)
		}
	}
	inv, err := buildInventory(cfg, g.configFile)
	if err != nil {
		return err
	}
	render, err := cfg.Evidence.renderer()
	if err != nil {
		return err
	}
	// One shard: each shard keeps its own event clock, so with one the
	// output is the same on every machine whatever its core count.
	dcfg := cfg.Detect
	dcfg.Shards = 1
	if f.customerFacing {
		dcfg.CustomerFacing.All = true
	}
	out := &replayOutput{w: cmd.OutOrStdout(), flags: f, render: render}
	engine, err := detect.New(dcfg, inv, dcfg.GroupThresholds(inv.GroupNames()), out.detection,
		detect.Dependencies{Logger: log})
	if err != nil {
		return err
	}
	src, err := pcap.NewSource(pcap.Configuration{FlowExports: f.flowExports, BatchSize: 1024}, pcap.Dependencies{Logger: log})
	if err != nil {
		return usageError{err}
	}

	start := time.Now()
	var total pcap.Stats
	var failed []string
	for _, file := range files {
		st, err := src.ReadFile(cmd.Context(), file, engine.Process)
		total.Add(st)
		if err != nil {
			if cmd.Context().Err() != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "abuseguard replay: %v\n", err)
			failed = append(failed, file)
		}
	}
	engine.Flush()
	if out.err != nil {
		return out.err
	}
	elapsed := time.Since(start)
	fmt.Fprintln(cmd.ErrOrStderr(), replaySummary(&total, out.count, elapsed))
	if len(failed) > 0 {
		return fmt.Errorf("could not read %d of %d files: %s", len(failed), len(files), strings.Join(failed, ", "))
	}
	return nil
}

// replayOutput prints the final report of every detection as it comes. It
// is the engine's sink: replay runs the engine synchronously, so it is
// called from one goroutine.
type replayOutput struct {
	w      io.Writer
	flags  *replayFlags
	render func(*abuseguard.Detection) []abuseguard.Evidence
	count  int
	err    error
}

func (o *replayOutput) detection(d abuseguard.Detection) {
	if !d.Final || o.err != nil {
		return // the first report is for enforcement; replay prints the complete one
	}
	o.count++
	d.Evidence = o.render(&d)
	if o.flags.evidenceDir != "" {
		if err := writeEvidence(o.flags.evidenceDir, &d); err != nil {
			o.err = err
			return
		}
	}
	if o.flags.json {
		o.err = json.NewEncoder(o.w).Encode(newReplayJSON(&d))
		return
	}
	fmt.Fprintln(o.w, detectionSummary(&d))
	for _, e := range d.Evidence {
		if isLog(e) && (e.Name != "traffic.log" || o.flags.traffic) {
			fmt.Fprintf(o.w, "\n%s", e.Data)
		}
	}
	_, o.err = fmt.Fprintln(o.w)
}

// detectionSummary is the one line that says what was found:
//
//	netscan/horizontal 203.0.113.10 out: 256 destinations >= 100 [2026-11-25 00:40:01 – 00:40:05 UTC] server srv-1, customer c-1, host group default
func detectionSummary(d *abuseguard.Detection) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s %s %s: %s %s", d.Kind, d.Subkind, d.Address, d.Direction, figure(d.Value), d.Unit)
	if t := targets(d.Targets); t != "" {
		b.WriteString(" " + t)
	}
	fmt.Fprintf(&b, " >= %s", figure(d.Threshold))
	if d.SamplingRate > 1 {
		fmt.Fprintf(&b, " (estimated, sampled 1:%d)", d.SamplingRate)
	}
	fmt.Fprintf(&b, " [%s – %s UTC]", d.FirstSeen.UTC().Format(time.DateTime), d.LastSeen.UTC().Format(time.TimeOnly))
	var who []string
	if d.ServerID != "" {
		who = append(who, "server "+d.ServerID)
	}
	if d.CustomerID != "" {
		who = append(who, "customer "+d.CustomerID)
	}
	if d.HostGroup != "" {
		who = append(who, "host group "+d.HostGroup)
	}
	if len(who) > 0 {
		b.WriteString(" " + strings.Join(who, ", "))
	}
	return b.String()
}

// targets says what a netscan crossed on: "on tcp/22", "on 93.184.216.5".
func targets(ts []abuseguard.Target) string {
	var parts []string
	for _, t := range ts {
		if t.Host.IsValid() {
			parts = append(parts, t.Host.String())
			continue
		}
		switch t.Proto {
		case flow.ProtoICMP, flow.ProtoICMPv6:
			parts = append(parts, strings.ToLower(protoName(t.Proto))+" echo")
		default:
			parts = append(parts, fmt.Sprintf("%s/%d", strings.ToLower(protoName(t.Proto)), t.Port))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "on " + strings.Join(parts, ", ")
}

// figure prints a count as an integer and a rate with the precision it needs.
func figure(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

func isLog(e abuseguard.Evidence) bool { return strings.HasPrefix(e.ContentType, "text/") }

// writeEvidence writes a detection's evidence files to dir/<id>/.
func writeEvidence(dir string, d *abuseguard.Detection) error {
	sub := filepath.Join(dir, d.ID)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return fmt.Errorf("evidence directory: %w", err)
	}
	for _, e := range d.Evidence {
		if err := os.WriteFile(filepath.Join(sub, e.Name), e.Data, 0o644); err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
	}
	return nil
}

// replayJSON is one line of replay --json.
type replayJSON struct {
	ID           string               `json:"id"`
	Kind         abuseguard.Reason    `json:"kind"`
	Subkind      string               `json:"subkind"`
	Address      netip.Addr           `json:"address"`
	Direction    abuseguard.Direction `json:"direction"`
	ServerID     string               `json:"server_id,omitempty"`
	CustomerID   string               `json:"customer_id,omitempty"`
	HostGroup    string               `json:"host_group,omitempty"`
	FirstSeen    time.Time            `json:"first_seen"`
	LastSeen     time.Time            `json:"last_seen"`
	Value        float64              `json:"value"`
	Threshold    float64              `json:"threshold"`
	Unit         string               `json:"unit"`
	Distinct     uint64               `json:"distinct,omitempty"`
	PPS          float64              `json:"pps"`
	BPS          float64              `json:"bps"`
	Packets      uint64               `json:"packets"`
	Bytes        uint64               `json:"bytes"`
	SamplingRate uint32               `json:"sampling_rate"`
	Attempts     uint64               `json:"attempts,omitempty"`
	Targets      []abuseguard.Target  `json:"targets,omitempty"`
	// Evidence is the detection's main log as the customer receives it;
	// EvidenceFiles names every file (--evidence-dir writes them).
	Evidence      string   `json:"evidence"`
	EvidenceFiles []string `json:"evidence_files"`
}

func newReplayJSON(d *abuseguard.Detection) replayJSON {
	j := replayJSON{
		ID: d.ID, Kind: d.Kind, Subkind: d.Subkind, Address: d.Address, Direction: d.Direction,
		ServerID: d.ServerID, CustomerID: d.CustomerID, HostGroup: d.HostGroup,
		FirstSeen: d.FirstSeen.UTC(), LastSeen: d.LastSeen.UTC(),
		Value: d.Value, Threshold: d.Threshold, Unit: d.Unit, Distinct: d.Distinct,
		PPS: d.PPS, BPS: d.BPS, Packets: d.Packets, Bytes: d.Bytes, SamplingRate: d.SamplingRate,
		Attempts: d.AttemptsTotal, Targets: d.Targets, EvidenceFiles: []string{},
	}
	for _, e := range d.Evidence {
		j.EvidenceFiles = append(j.EvidenceFiles, e.Name)
		if j.Evidence == "" && isLog(e) {
			j.Evidence = string(e.Data)
		}
	}
	return j
}

// replaySummary is the line replay writes to stderr at the end.
func replaySummary(st *pcap.Stats, detections int, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "replay: %d files, %d frames: %d packets", st.Files, st.Frames, st.Packets)
	if n := st.DatagramTotal(); n > 0 {
		fmt.Fprintf(&b, ", %d flow records from %d export datagrams", st.Flows, n)
	}
	if len(st.Errors) > 0 {
		var kinds []string
		for _, k := range st.ErrorKinds() {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, st.Errors[k]))
		}
		fmt.Fprintf(&b, "; skipped: %s", strings.Join(kinds, ", "))
	}
	fmt.Fprintf(&b, "; %d detections", detections)
	if s := elapsed.Seconds(); s > 0 && st.Records > 0 {
		fmt.Fprintf(&b, " in %.2fs (%.0f records/s)", s, float64(st.Records)/s)
	}
	return b.String()
}
