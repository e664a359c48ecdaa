package pktgen

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"abuseguard/flow"
	"abuseguard/pcapfile"
)

// Timed is a frame with its capture time.
type Timed struct {
	// Time is in Unix nanoseconds.
	Time  int64
	Frame []byte
}

// WriteCapture writes frames in order to w as a classic pcap file of link
// type lt (nanosecond timestamps, snaplen 256 KiB).
func WriteCapture(w io.Writer, lt flow.LinkType, frames []Timed) error {
	bw := bufio.NewWriter(w)
	pw, err := pcapfile.NewWriter(bw, lt, 0)
	if err != nil {
		return err
	}
	for i, f := range frames {
		if err := pw.WritePacket(f.Time, f.Frame, 0); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
	}
	return bw.Flush()
}

// Capture writes frames to a new pcap file in tb.TempDir() and returns its
// path; it fails the test on error.
func Capture(tb testing.TB, lt flow.LinkType, frames []Timed) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "capture.pcap")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatalf("pktgen.Capture: %v", err)
	}
	if err := WriteCapture(f, lt, frames); err != nil {
		f.Close()
		tb.Fatalf("pktgen.Capture: %v", err)
	}
	if err := f.Close(); err != nil {
		tb.Fatalf("pktgen.Capture: %v", err)
	}
	return path
}
