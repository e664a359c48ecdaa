package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"abuseguard"
	"abuseguard/detect"
	"abuseguard/flow"
	"abuseguard/input/pcap"
	"abuseguard/inventory"
	"abuseguard/pcapfile"
	"abuseguard/testutil/pktgen"
)

// The whole replay path (issue 2's goal: ≥ 5 million packets a second on
// one core, no allocation per record) over a large synthetic capture.
//
//	go test -run '^$' -bench Replay -cpu 1 -count 6 ./cmd/abuseguard/
//
// One op is one pass over the whole capture; the figures that matter are
// the per-packet metrics. Making the capture takes about a minute of CPU;
// set ABUSEGUARD_REPLAY_CAPTURE=/some/file.pcap to make it once and keep
// it between runs (it is about 1.4 GB).
const (
	replayPackets = 10_000_000
	// replaySnaplen is what captures for replay are taken with (tcpdump
	// -s 96 or -s 128): headers, not payload.
	replaySnaplen = 128
	replaySeed    = 1
)

// replayConfig covers the customers of pktgen.Synthetic: 250 servers with an
// IPv4 and an IPv6 address each, 203.0.113.1-250 and 2001:db8:100:N::10.
// The synthetic internet lies in the benchmarking and documentation ranges
// 198.18.0.0/15 and 2001:db8:8000::/33, which are therefore taken out of
// the reserved prefixes: otherwise every packet to the outside would be a
// misconfiguration.
func replayConfig(b *testing.B) string {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("data_dir: " + b.TempDir() + "\n")
	sb.WriteString("inventory:\n  provider_prefixes: [203.0.113.0/24, \"2001:db8:100::/48\"]\n")
	sb.WriteString("  reserved_prefixes:\n")
	for _, p := range inventory.DefaultReservedPrefixes() {
		switch p.String() {
		case "198.18.0.0/15":
			continue
		case "2001:db8::/32":
			sb.WriteString("    - \"2001:db8::/33\"\n")
			continue
		}
		fmt.Fprintf(&sb, "    - %q\n", p)
	}
	sb.WriteString("  customers:\n")
	for c := 1; c <= 25; c++ {
		fmt.Fprintf(&sb, "    - {id: c-%d, name: Customer %d, email: noc@c%d.example, language: en}\n", c, c, c)
	}
	sb.WriteString("  servers:\n")
	for i := 1; i <= 250; i++ {
		fmt.Fprintf(&sb, "    - {id: srv-%d, customer: c-%d, prefixes: [203.0.113.%d/32, \"2001:db8:100:%x::10/128\"]}\n",
			i, (i-1)%25+1, i, i)
	}
	path := filepath.Join(b.TempDir(), "replay.yaml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// replayCapture returns the path of the synthetic capture, making it when
// it does not exist.
func replayCapture(b *testing.B) string {
	b.Helper()
	path := os.Getenv("ABUSEGUARD_REPLAY_CAPTURE")
	if path == "" {
		path = filepath.Join(b.TempDir(), "synthetic-10M.pcap")
	} else if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := writeSynthetic(path, replayPackets, replaySnaplen); err != nil {
		b.Fatal(err)
	}
	return path
}

// writeSynthetic writes n packets of pktgen.Synthetic to path, each frame
// cut to snaplen as tcpdump -s would. Synthetic writes whole frames (about
// 8 GB for 10 million): they are cut on the way through a pipe.
func writeSynthetic(path string, n int, snaplen uint32) (err error) {
	f, err := os.Create(path + ".part")
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(path+".part", path)
		}
	}()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := pktgen.Synthetic(pw, n, replaySeed)
		pw.CloseWithError(err)
		done <- err
	}()
	defer func() {
		pr.CloseWithError(errors.New("copy ended")) // unblocks the generator on an early return
		if gerr := <-done; err == nil && gerr != nil {
			err = fmt.Errorf("synthetic capture: %w", gerr)
		}
	}()
	rd, err := pcapfile.NewReader(pr)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := pcapfile.NewWriter(bw, flow.LinkTypeEthernet, snaplen)
	if err != nil {
		return err
	}
	for {
		fr, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := w.WritePacket(fr.Time, fr.Data, fr.OrigLen); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// BenchmarkReplay runs the replay path over 10 million synthetic packets
// (pktgen.Synthetic, cut to 128 bytes), adding one stage at a time so the
// differences say where the time goes:
//
//	read+parse   input/pcap Source: read the file, decode every frame into a
//	             record, batch 1 024 records (with the frames copied for
//	             Header) to a sink that does nothing
//	+classify    and classify both addresses of every record against the
//	             inventory, as the engine's routing does
//	+detect      and run detect.Engine.Process with one shard (the engine
//	             classifies itself: this replaces the stage above)
//	replay       the command itself, `abuseguard replay --config F FILE`:
//	             configuration, inventory, engine, evidence rendered and
//	             printed for every final detection (to io.Discard)
//	replay-in-memory  the command's pipeline over the capture read into
//	             memory first: no system calls or page cache in the timed
//	             loop, to tell reading the file from the rest
//
// Metrics per packet: ns/packet (wall), cpu-ns/packet (the process's CPU
// time, GC included, which other engineers' processes on the shared machine
// do not inflate), packets/s (wall) and cpu-packets/s, allocs/packet.
func BenchmarkReplay(b *testing.B) {
	capture := replayCapture(b)
	cfgPath := replayConfig(b)
	cfg, err := loadConfiguration(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	inv, err := buildInventory(cfg, cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	newSource := func(b *testing.B) *pcap.Source {
		src, err := pcap.NewSource(pcap.Configuration{FlowExports: pcap.FlowExportsAuto, BatchSize: 1024}, pcap.Dependencies{})
		if err != nil {
			b.Fatal(err)
		}
		return src
	}
	ctx := context.Background()

	b.Run("read+parse", func(b *testing.B) {
		benchReplay(b, func() uint64 {
			st, err := newSource(b).ReadFile(ctx, capture, func([]flow.Record) {})
			if err != nil {
				b.Fatal(err)
			}
			return st.Packets
		})
	})
	b.Run("+classify", func(b *testing.B) {
		var customers uint64
		classify := func(recs []flow.Record) {
			for i := range recs {
				cs, cd := inv.Classify(recs[i].Src), inv.Classify(recs[i].Dst)
				if cs.Customer() || cd.Customer() {
					customers++
				}
			}
		}
		benchReplay(b, func() uint64 {
			st, err := newSource(b).ReadFile(ctx, capture, classify)
			if err != nil {
				b.Fatal(err)
			}
			return st.Packets
		})
		if customers == 0 {
			b.Fatal("no record classified as customer traffic: the inventory does not cover the capture")
		}
	})
	b.Run("+detect", func(b *testing.B) {
		var finals int
		benchReplay(b, func() uint64 {
			dcfg := cfg.Detect
			dcfg.Shards = 1
			engine, err := detect.New(dcfg, inv, dcfg.GroupThresholds(inv.GroupNames()), func(d abuseguard.Detection) {
				if d.Final {
					finals++
				}
			}, detect.Dependencies{})
			if err != nil {
				b.Fatal(err)
			}
			st, err := newSource(b).ReadFile(ctx, capture, engine.Process)
			if err != nil {
				b.Fatal(err)
			}
			engine.Flush()
			return st.Packets
		})
		b.ReportMetric(float64(finals)/float64(b.N), "detections/op")
	})
	b.Run("replay", func(b *testing.B) {
		var out countingWriter
		benchReplay(b, func() uint64 {
			cmd := newRootCmd(&out, io.Discard)
			cmd.SetArgs([]string{"replay", "--config", cfgPath, capture})
			if err := cmd.Execute(); err != nil {
				b.Fatal(err)
			}
			return replayPackets
		})
		if out.n == 0 {
			b.Fatal("replay printed nothing: the synthetic scanners were not detected")
		}
	})
	b.Run("replay-in-memory", func(b *testing.B) {
		data, err := os.ReadFile(capture)
		if err != nil {
			b.Fatal(err)
		}
		render, err := cfg.Evidence.renderer()
		if err != nil {
			b.Fatal(err)
		}
		benchReplay(b, func() uint64 {
			out := &replayOutput{w: io.Discard, flags: &replayFlags{}, render: render}
			dcfg := cfg.Detect
			dcfg.Shards = 1
			engine, err := detect.New(dcfg, inv, dcfg.GroupThresholds(inv.GroupNames()), out.detection, detect.Dependencies{})
			if err != nil {
				b.Fatal(err)
			}
			st, err := newSource(b).Read(ctx, "memory", bytes.NewReader(data), engine.Process)
			if err != nil {
				b.Fatal(err)
			}
			engine.Flush()
			if out.err != nil {
				b.Fatal(out.err)
			}
			return st.Packets
		})
	})
}

// benchReplay runs pass b.N times and reports the per-packet metrics.
// pass returns the packets it went through.
func benchReplay(b *testing.B, pass func() uint64) {
	b.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	var packets uint64
	for range b.N {
		packets += pass()
	}
	cpu := processCPU() - cpu0
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if packets == 0 {
		b.Fatal("no packets")
	}
	p := float64(packets)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/p, "ns/packet")
	b.ReportMetric(p/b.Elapsed().Seconds(), "packets/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu)/p, "cpu-ns/packet")
		b.ReportMetric(p/(float64(cpu)/1e9), "cpu-packets/s")
	}
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/p, "allocs/packet")
}

// processCPU is the process's user and system CPU time in ns. With -cpu 1
// the benchmark, the garbage collector and the runtime share one P.
func processCPU() int64 {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return 0
	}
	return r.Utime.Nano() + r.Stime.Nano()
}

// countingWriter counts what replay prints.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}
