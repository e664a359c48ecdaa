package pcapfile_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"abuseguard/flow"
	"abuseguard/pcapfile"
)

// countingWriter counts Write calls.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func TestWriter(t *testing.T) {
	var out countingWriter
	w, err := pcapfile.NewWriter(&out, flow.LinkTypeEthernet, 1000)
	if err != nil {
		t.Fatal(err)
	}
	in := []struct {
		ts      int64
		data    []byte
		origLen uint32
	}{
		{sec*1e9 + 123_456_789, frameData(60, 1), 0},
		{sec*1e9 + 999_999_999, frameData(1000, 2), 1514},
		{sec * 1e9, frameData(1500, 3), 0}, // cut to the 1000-byte snaplen
		{0, nil, 0},                        // an empty frame at the epoch
	}
	for _, p := range in {
		if err := w.WritePacket(p.ts, p.data, p.origLen); err != nil {
			t.Fatalf("WritePacket() error = %v", err)
		}
	}
	if err := w.WritePacketTime(time.Unix(sec, 5).UTC(), frameData(10, 4), 0); err != nil {
		t.Fatalf("WritePacketTime() error = %v", err)
	}
	if out.writes != 1+len(in)+1 {
		t.Errorf("%d Write calls, want one for the header and one per packet", out.writes)
	}
	want := []pcapfile.Frame{
		frame(sec*1e9+123_456_789, flow.LinkTypeEthernet, 0, frameData(60, 1), 60),
		frame(sec*1e9+999_999_999, flow.LinkTypeEthernet, 0, frameData(1000, 2), 1514),
		frame(sec*1e9, flow.LinkTypeEthernet, 0, frameData(1000, 3), 1500),
		frame(0, flow.LinkTypeEthernet, 0, []byte{}, 0),
		frame(sec*1e9+5, flow.LinkTypeEthernet, 0, frameData(10, 4), 10),
	}
	got, err := readAll(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, want, cmpBytes); diff != "" {
		t.Fatalf("read back (-got, +want):\n%s", diff)
	}
	want[3].Data = nil // pcapgo returns nil for an empty frame
	if diff := cmp.Diff(readGopacket(t, out.Bytes()), want, cmpBytes); diff != "" {
		t.Fatalf("pcapgo read back (-got, +want):\n%s", diff)
	}

	// tshark reads it too, nanoseconds included.
	path := filepath.Join(t.TempDir(), "w.pcap")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var wantFields [][4]int64
	for _, f := range want {
		wantFields = append(wantFields, [4]int64{f.Time, int64(f.CapLen), int64(f.OrigLen), 0})
	}
	if diff := cmp.Diff(tsharkFrames(t, path), wantFields); diff != "" {
		t.Fatalf("tshark read back (-got, +want):\n%s", diff)
	}
}

func TestWriterErrors(t *testing.T) {
	w, err := pcapfile.NewWriter(io.Discard, flow.LinkTypeRaw, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		ts      int64
		data    []byte
		origLen uint32
		want    string
	}{
		{"before 1970", -1, nil, 0, "pcap: timestamp -1 ns outside 1970-2106, which classic pcap cannot hold"},
		{"after 2106", 1 << 32 * 1e9, nil, 0, "pcap: timestamp 4294967296000000000 ns outside 1970-2106, which classic pcap cannot hold"},
		{"original length below captured", 0, frameData(100, 0), 99, "pcap: original length 99 < captured length 100"},
	} {
		if err := w.WritePacket(tt.ts, tt.data, tt.origLen); err == nil || err.Error() != tt.want {
			t.Errorf("%s: WritePacket() error = %v, want %q", tt.name, err, tt.want)
		}
	}

	errFull := errors.New("disk full")
	if _, err := pcapfile.NewWriter(failWriter{errFull}, flow.LinkTypeRaw, 0); !errors.Is(err, errFull) {
		t.Errorf("NewWriter() on a failing writer: error = %v, want %v", err, errFull)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriterAllocs(t *testing.T) {
	w, err := pcapfile.NewWriter(io.Discard, flow.LinkTypeEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	data := frameData(1514, 0)
	allocs := testing.AllocsPerRun(1000, func() {
		if err := w.WritePacket(sec*1e9, data, 0); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("WritePacket() allocates %v times, want 0", allocs)
	}
}
