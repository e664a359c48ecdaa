package pcapfile_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"abuseguard/pcapfile"
)

// checkCut reads file[:cut] and checks the outcome: the frames of the
// records that end before the cut, then a clean io.EOF if the cut falls on
// a record boundary, or else an error wrapping io.ErrUnexpectedEOF that
// names the offset of the record cut in two.
func checkCut(t *testing.T, file []byte, cut int, starts []int, packets map[int]bool, kind string) {
	t.Helper()
	got, err := readAll(bytes.NewReader(file[:cut]))
	fromBytes, bytesErr := readAllBytes(file[:cut])
	if len(fromBytes) != len(got) || fmt.Sprint(bytesErr) != fmt.Sprint(err) {
		t.Fatalf("cut at %d: NewReaderBytes gives %d frames and %v, NewReader %d and %v", cut, len(fromBytes), bytesErr, len(got), err)
	}
	n, last := 0, -1 // frames in whole records, start of the record cut
	for i, s := range starts {
		end := len(file)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		switch {
		case end <= cut:
			if packets[s] {
				n++
			}
		case s < cut:
			last = s
		}
	}
	if len(got) != n {
		t.Fatalf("cut at %d: %d frames, want %d", cut, len(got), n)
	}
	if last < 0 {
		if err != nil {
			t.Fatalf("cut at %d (a boundary): error = %v, want none", cut, err)
		}
		return
	}
	want := fmt.Sprintf("%s at offset %d: unexpected EOF", kind, last)
	if !errors.Is(err, io.ErrUnexpectedEOF) || err.Error() != want {
		t.Fatalf("cut at %d: error = %v, want %q", cut, err, want)
	}
}

// TestReadTruncated cuts a classic and a pcapng file at every byte.
func TestReadTruncated(t *testing.T) {
	t.Run("classic", func(t *testing.T) {
		c := newClassic(binary.LittleEndian, 0xa1b2c3d4, 65535, 1)
		c.record(sec, 1, frameData(60, 1), 60).record(sec, 2, nil, 0).record(sec, 3, frameData(100, 2), 100)
		starts := []int{0, 24, 100, 116}
		packets := map[int]bool{24: true, 100: true, 116: true}
		for cut := 24; cut <= len(c.b); cut++ {
			checkCut(t, c.b, cut, starts[1:], packets, "pcap: record")
		}
		for cut := range 24 {
			if _, err := pcapfile.NewReader(bytes.NewReader(c.b[:cut])); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("cut at %d: NewReader() error = %v, want unexpected EOF", cut, err)
			}
		}
	})
	t.Run("pcapng", func(t *testing.T) {
		w, _, _ := pcapngFile()
		var starts []int
		packets := map[int]bool{}
		for _, b := range w.blocks {
			starts = append(starts, b.off)
			packets[b.off] = b.typ == 2 || b.typ == 3 || b.typ == 6
		}
		for cut := 4; cut <= len(w.b); cut++ {
			checkCut(t, w.b, cut, starts, packets, "pcapng: block")
		}
	})
}

func TestReadCorrupt(t *testing.T) {
	le := binary.LittleEndian
	classicWith := func(snap uint32, caplen uint32) []byte {
		c := newClassic(le, 0xa1b2c3d4, snap, 1).record(sec, 0, frameData(60, 0), 60)
		c.b = le.AppendUint32(c.b, sec)
		c.b = le.AppendUint32(c.b, 0)
		c.b = le.AppendUint32(c.b, caplen)
		c.b = le.AppendUint32(c.b, caplen)
		return c.b
	}
	ngWith := func(f func(w *ng)) []byte {
		w := &ng{order: le}
		w.shb().idb(1, 0)
		f(w)
		return w.b
	}
	// A section header and IDB take 28 + 20 = 48 bytes: blocks after them
	// start at offset 48.
	tests := []struct {
		name   string
		file   []byte
		frames int
		want   string
	}{
		{"caplen above snaplen and 256 KiB", classicWith(65535, 300_000), 1,
			"pcap: record at offset 100: captured length 300000 exceeds snaplen 65535 and 262144"},
		{"caplen of 4 GiB", classicWith(0xffffffff, 0xfffffff0), 1,
			"pcap: record at offset 100: captured length 4294967280 exceeds the 16777216 bytes any record may have"},
		{"block length not a multiple of 4", ngWith(func(w *ng) { w.epb(0, 0, frameData(60, 0), 60); le.PutUint32(w.b[52:], 93) }), 0,
			"pcapng: block at offset 48: block length 93 is not a multiple of 4 of at least 12"},
		{"block length below its header", ngWith(func(w *ng) { w.epb(0, 0, frameData(60, 0), 60); le.PutUint32(w.b[52:], 8) }), 0,
			"pcapng: block at offset 48: block length 8 is not a multiple of 4 of at least 12"},
		{"trailing length differs", ngWith(func(w *ng) { w.epb(0, 0, frameData(60, 0), 60); le.PutUint32(w.b[len(w.b)-4:], 96) }), 0,
			"pcapng: block at offset 48: trailing block length 96 != 92"},
		{"skipped block with wrong trailing length", ngWith(func(w *ng) { w.block(5, make([]byte, 8)); w.b[len(w.b)-1] = 1 }), 0,
			"pcapng: block at offset 48: trailing block length 16777236 != 20"},
		{"packet block too short", ngWith(func(w *ng) { w.block(6, make([]byte, 12)) }), 0,
			"pcapng: block at offset 48: packet block length 24 < 32"},
		{"captured length beyond the block", ngWith(func(w *ng) { w.epb(0, 0, frameData(60, 0), 60); le.PutUint32(w.b[48+20:], 61) }), 0,
			"pcapng: block at offset 48: captured length 61 overruns the block length 92"},
		{"interface not described", ngWith(func(w *ng) { w.epb(0, 0, frameData(4, 0), 4).epb(1, 0, frameData(4, 0), 4) }), 1,
			"pcapng: block at offset 84: interface 1 not described (section has 1)"},
		{"block of 1 GiB", ngWith(func(w *ng) { w.epb(0, 0, frameData(60, 0), 60); le.PutUint32(w.b[52:], 1<<30) }), 0,
			"pcapng: block at offset 48: block length 1073741824 exceeds 16777216"},
		{"bad byte-order magic", ngWith(func(w *ng) { w.shb(); le.PutUint32(w.b[48+8:], 0x12345678) }), 0,
			"pcapng: block at offset 48: section header byte-order magic 0x12345678 unknown"},
		{"section version 2", ngWith(func(w *ng) { w.shb(); w.b[48+12] = 2 }), 0,
			"pcapng: block at offset 48: section version 2.0, want 1.x"},
		{"option overruns the interface block", ngWith(func(w *ng) { w.idb(1, 0, opt{9, []byte{6}}); le.PutUint16(w.b[48+18:], 40) }), 0,
			"pcapng: block at offset 48: interface option 9 length 40 overruns the block"},
		{"simple packet block without its length field", ngWith(func(w *ng) { w.block(3, nil) }), 0,
			"pcapng: block at offset 48: simple packet block length 12 < 16"},
		{"simple packet before any interface", func() []byte { w := &ng{order: le}; w.shb().spb(frameData(4, 0), 4); return w.b }(), 0,
			"pcapng: block at offset 28: simple packet block before any interface description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(bytes.NewReader(tt.file))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("read error = %v, want %q", err, tt.want)
			}
			if _, err := readAllBytes(tt.file); err == nil || err.Error() != tt.want {
				t.Fatalf("NewReaderBytes: read error = %v, want %q", err, tt.want)
			}
			if len(got) != tt.frames {
				t.Fatalf("%d frames before the error, want %d", len(got), tt.frames)
			}
		})
	}
}

// TestReadLengthsDoNotAllocate: a length field claiming 16 MiB in a file
// that ends right after it costs no 16 MiB buffer.
func TestReadLengthsDoNotAllocate(t *testing.T) {
	c := newClassic(binary.LittleEndian, 0xa1b2c3d4, 1<<24, 1)
	c.b = binary.LittleEndian.AppendUint32(c.b, sec)
	c.b = binary.LittleEndian.AppendUint32(c.b, 0)
	c.b = binary.LittleEndian.AppendUint32(c.b, 16<<20)
	c.b = binary.LittleEndian.AppendUint32(c.b, 16<<20)
	c.b = append(c.b, frameData(100, 0)...)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readAll(bytes.NewReader(c.b))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read error = %v, want unexpected EOF", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("reading a 140-byte file allocated %d bytes, want under 1 MiB", n)
	}
}

// TestReadSkipsLargeBlocks: a 20 MiB block of a type the reader does not
// interpret is streamed past, not buffered.
func TestReadSkipsLargeBlocks(t *testing.T) {
	w := &ng{order: binary.LittleEndian}
	w.shb().idb(1, 0).block(0x0bad, make([]byte, 20<<20)).epb(0, 1, frameData(60, 9), 60)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := readAll(bytes.NewReader(w.b))
	runtime.ReadMemStats(&after)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Data, frameData(60, 9)) {
		t.Fatalf("read = %d frames, %v; want the packet after the large block", len(got), err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 2<<20 {
		t.Fatalf("skipping a 20 MiB block allocated %d bytes, want under 2 MiB", n)
	}
}
