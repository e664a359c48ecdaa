package pcap_test

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/input/pcap"
	"abuseguard/pcapfile"
	"abuseguard/testutil"
	"abuseguard/testutil/pktgen"
)

// testExporter stands in for the source of datagrams read from files.
var testExporter = netip.MustParseAddr("192.0.2.55")

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// datagram is one UDP payload of a capture, found by a walk independent
// of Source: pcapfile and packet.DecodePayload only.
type datagram struct {
	src     netip.Addr
	dstPort uint16
	time    int64
	payload []byte
}

// udpDatagrams returns the complete UDP payloads of the capture at path.
func udpDatagrams(t testing.TB, path string) []datagram {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := pcapfile.NewReaderBytes(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []datagram
	for {
		fr, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var r flow.Record
		p, complete, err := packet.DecodePayload(fr.LinkType, fr.Data, &r)
		if err != nil || p == nil || !complete {
			continue
		}
		out = append(out, datagram{r.Src, r.DstPort, fr.Time, slices.Clone(p)})
	}
}

// realCaptures returns the paths of the shared real captures whose names
// start with prefix.
func realCaptures(t testing.TB, prefix string) []string {
	t.Helper()
	dir := testutil.SharedDir(t, "real")
	paths, err := filepath.Glob(filepath.Join(dir, prefix+"*.pcap"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no %s*.pcap in %s", prefix, dir)
	}
	return paths
}

// flowCaptures are the real captures that hold flow exports.
func flowCaptures(t testing.TB) []string {
	var out []string
	for _, p := range []string{"ipfix_", "nfv9_", "sflow5_"} {
		out = append(out, realCaptures(t, p)...)
	}
	return out
}

// collect returns a sink that deep-copies every record it is given.
func collect(out *[]flow.Record) flow.Sink {
	return func(recs []flow.Record) {
		for _, r := range recs {
			r.Header = slices.Clone(r.Header)
			*out = append(*out, r)
		}
	}
}

// readAll reads the files in order with one Source.
func readAll(t testing.TB, cfg pcap.Configuration, paths ...string) ([]flow.Record, pcap.Stats) {
	t.Helper()
	src, err := pcap.NewSource(cfg, pcap.Dependencies{})
	if err != nil {
		t.Fatal(err)
	}
	var recs []flow.Record
	var total pcap.Stats
	for _, p := range paths {
		st, err := src.ReadFile(context.Background(), p, collect(&recs))
		if err != nil {
			t.Fatalf("ReadFile(%s): %v", p, err)
		}
		total.Add(st)
	}
	return recs, total
}

func base(p string) string { return strings.TrimSuffix(filepath.Base(p), ".pcap") }

// allFrames returns the frames of an in-memory capture.
func allFrames(t testing.TB, b []byte) []pktgen.Timed {
	t.Helper()
	rd, err := pcapfile.NewReaderBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []pktgen.Timed
	for {
		fr, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pktgen.Timed{Time: fr.Time, Frame: slices.Clone(fr.Data)})
	}
}
