package pcapfile_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"abuseguard/pcapfile"
	"abuseguard/testutil"
)

// FuzzReader reads arbitrary bytes as a capture. It must never panic,
// every error but the end of the file must name a byte offset, and the
// result must not depend on how the bytes arrive (in 256 KiB reads, one
// by one, or all in memory through NewReaderBytes), which exercises the
// buffer management.
func FuzzReader(f *testing.F) {
	base := os.Getenv("ABUSEGUARD_SHARED")
	if base == "" {
		base = filepath.Join(testutil.ModuleRoot(f), "..", "shared")
	}
	files, _ := filepath.Glob(filepath.Join(base, "testdata", "real", "*.pcap"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		// The first 16 KiB (tens of frames): the fuzzer slows to a crawl
		// on seeds of megabytes.
		f.Add(data[:min(len(data), 16<<10)])
	}
	w, _, _ := pcapngFile()
	f.Add(w.b)
	// Small pcapng files, so that mutations reach every block parser.
	for _, typ := range []uint32{1, 2, 3, 5, 6} {
		small := &ng{order: binary.LittleEndian}
		small.shb().idb(1, 64, opt{9, []byte{9}}).block(typ, frameData(24, byte(typ)))
		f.Add(small.b)
	}
	f.Add(newClassic(binary.BigEndian, 0xa1b23c4d, 100, 113).record(sec, 1, frameData(100, 1), 200).b)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := readAll(bytes.NewReader(data))
		if err != nil && !strings.Contains(err.Error(), " at offset ") {
			t.Fatalf("error %q names no offset", err)
		}
		for i, fr := range got {
			if int(fr.CapLen) != len(fr.Data) {
				t.Fatalf("frame %d: CapLen %d, %d bytes of data", i, fr.CapLen, len(fr.Data))
			}
		}
		slow, slowErr := readAll(iotest.OneByteReader(bytes.NewReader(data)))
		if !sameFrames(slow, got) {
			t.Fatalf("one byte at a time (-slow, +whole):\n%s", cmp.Diff(slow, got, cmpBytes))
		}
		if (err == nil) != (slowErr == nil) || err != nil && err.Error() != slowErr.Error() {
			t.Fatalf("error one byte at a time %v, whole %v", slowErr, err)
		}
		mem, memErr := readAllBytes(data)
		if !sameFrames(mem, got) {
			t.Fatalf("NewReaderBytes (-bytes, +reader):\n%s", cmp.Diff(mem, got, cmpBytes))
		}
		if (err == nil) != (memErr == nil) || err != nil && err.Error() != memErr.Error() {
			t.Fatalf("error NewReaderBytes %v, NewReader %v", memErr, err)
		}
	})
}

// sameFrames compares without reflection, which would dominate the
// fuzzer's time.
func sameFrames(a, b []pcapfile.Frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Time != y.Time || x.LinkType != y.LinkType || x.CapLen != y.CapLen || x.OrigLen != y.OrigLen ||
			x.Interface != y.Interface || !bytes.Equal(x.Data, y.Data) {
			return false
		}
	}
	return true
}
