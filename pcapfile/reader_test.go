package pcapfile_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"abuseguard/flow"
	"abuseguard/pcapfile"
)

// readAll reads every frame of r, copying the data.
func readAll(r io.Reader) ([]pcapfile.Frame, error) {
	pr, err := pcapfile.NewReader(r)
	if err != nil {
		return nil, err
	}
	return drain(pr)
}

// readAllBytes is readAll through NewReaderBytes.
func readAllBytes(data []byte) ([]pcapfile.Frame, error) {
	pr, err := pcapfile.NewReaderBytes(data)
	if err != nil {
		return nil, err
	}
	return drain(pr)
}

func drain(pr *pcapfile.Reader) ([]pcapfile.Frame, error) {
	var frames []pcapfile.Frame
	for {
		f, err := pr.Next()
		if err == io.EOF {
			return frames, nil
		}
		if err != nil {
			return frames, err
		}
		f.Data = append([]byte(nil), f.Data...)
		frames = append(frames, f)
	}
}

// cmpBytes compares frame data with bytes.Equal: go-cmp's element by
// element walk takes seconds on the 600 kB frame below.
var cmpBytes = cmp.Comparer(bytes.Equal)

func frame(ts int64, lt flow.LinkType, iface int, data []byte, origLen uint32) pcapfile.Frame {
	return pcapfile.Frame{Time: ts, LinkType: lt, CapLen: uint32(len(data)), OrigLen: origLen, Interface: iface, Data: data}
}

// Timestamps used below: 2023-11-14 22:13:20 UTC plus a fraction.
const sec = 1_700_000_000

func TestReadClassic(t *testing.T) {
	d1, d2 := frameData(60, 1), frameData(1514, 2)
	le, be := binary.LittleEndian, binary.BigEndian
	tests := []struct {
		name string
		file []byte
		want []pcapfile.Frame
	}{
		{"little-endian microseconds", newClassic(le, 0xa1b2c3d4, 65535, 1).record(sec, 123456, d1, 60).record(sec+1, 999999, d2, 1514).b, []pcapfile.Frame{
			frame(sec*1e9+123456000, flow.LinkTypeEthernet, 0, d1, 60),
			frame((sec+1)*1e9+999999000, flow.LinkTypeEthernet, 0, d2, 1514),
		}},
		{"big-endian microseconds", newClassic(be, 0xa1b2c3d4, 65535, 1).record(sec, 5, d1, 60).b, []pcapfile.Frame{
			frame(sec*1e9+5000, flow.LinkTypeEthernet, 0, d1, 60),
		}},
		{"little-endian nanoseconds", newClassic(le, 0xa1b23c4d, 262144, 101).record(sec, 123456789, d1, 1500).b, []pcapfile.Frame{
			frame(sec*1e9+123456789, flow.LinkTypeRaw, 0, d1, 1500),
		}},
		{"big-endian nanoseconds linux sll2", newClassic(be, 0xa1b23c4d, 262144, 276).record(sec, 1, d2, 1514).b, []pcapfile.Frame{
			frame(sec*1e9+1, flow.LinkTypeLinuxSLL2, 0, d2, 1514),
		}},
		// FCS length 4 (2 in 16-bit words, bits 29-31) with the F bit (28).
		{"fcs bits masked", newClassic(le, 0xa1b2c3d4, 65535, 2<<29|1<<28|1).record(sec, 0, d1, 60).b, []pcapfile.Frame{
			frame(sec*1e9, flow.LinkTypeEthernet, 0, d1, 60),
		}},
		// dpkt writes snaplen 1500 and ignores it: tolerated up to 256 KiB.
		{"caplen above snaplen", newClassic(le, 0xa1b2c3d4, 1500, 1).record(sec, 0, frameData(9000, 3), 9000).b, []pcapfile.Frame{
			frame(sec*1e9, flow.LinkTypeEthernet, 0, frameData(9000, 3), 9000),
		}},
		{"no packets", newClassic(le, 0xa1b2c3d4, 65535, 1).b, nil},
		// Larger than the 256 KiB read buffer: the buffer grows.
		{"record larger than the buffer", newClassic(le, 0xa1b23c4d, 1<<20, 1).record(sec, 0, frameData(600_000, 4), 600_000).record(sec, 1, d1, 60).b, []pcapfile.Frame{
			frame(sec*1e9, flow.LinkTypeEthernet, 0, frameData(600_000, 4), 600_000),
			frame(sec*1e9+1, flow.LinkTypeEthernet, 0, d1, 60),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", bytes.NewReader(tt.file)},
				{"one byte at a time", iotest.OneByteReader(bytes.NewReader(tt.file))},
				{"data with EOF", iotest.DataErrReader(bytes.NewReader(tt.file))},
			} {
				got, err := readAll(r.r)
				if err != nil {
					t.Fatalf("%s: read error = %v", r.name, err)
				}
				if diff := cmp.Diff(got, tt.want, cmpBytes); diff != "" {
					t.Fatalf("%s: Next() (-got, +want):\n%s", r.name, diff)
				}
			}
			got, err := readAllBytes(tt.file)
			if err != nil {
				t.Fatalf("NewReaderBytes: read error = %v", err)
			}
			if diff := cmp.Diff(got, tt.want, cmpBytes); diff != "" {
				t.Fatalf("NewReaderBytes: Next() (-got, +want):\n%s", diff)
			}
		})
	}
}

// pcapngFile builds a pcapng file with two sections, little-endian then
// big-endian, exercising every block type and timestamp option. It
// returns the builder (file and block offsets), the frames and the length
// of the first section.
func pcapngFile() (*ng, []pcapfile.Frame, int) {
	d := func(n int, seed byte) []byte { return frameData(n, seed) }
	w := &ng{order: binary.LittleEndian}
	w.shb(opt{4, []byte("abuseguard test")}) // shb_userappl
	w.idb(1, 0)                              // Ethernet, default microseconds
	// A Name Resolution Block: 192.0.2.1 is "host", skipped.
	w.block(4, []byte{1, 0, 9, 0, 192, 0, 2, 1, 'h', 'o', 's', 't', 0, 0, 0, 0, 0, 0, 0, 0})
	w.epb(0, sec*1_000_000+250_000, d(60, 1), 60, opt{1, []byte("a comment")})
	w.idb(101, 65535, opt{9, []byte{9}}, opt{2, []byte("eth1")}) // raw IP, nanoseconds
	w.epb(1, sec*1e9+7, d(40, 2), 40)
	// IPv4 link type, 2^-20 s units, if_tsoffset 1000 s.
	w.idb(228, 0, opt{9, []byte{0x80 | 20}}, opt{14, u64(binary.LittleEndian, 1000)})
	w.block(5, make([]byte, 20)) // Interface Statistics Block, skipped
	w.epb(2, 5<<20|1<<19, d(20, 3), 20)
	w.block(0x00000101, d(33, 0)) // a block type this reader does not know, skipped
	w.spb(d(1514, 4), 1514)
	w.pb(1, sec*1e9+9, d(28, 5), 1500)
	first := len(w.b)

	w.order = binary.BigEndian
	w.shb()
	w.idb(276, 128, opt{9, []byte{3}}) // SLL2, milliseconds; replaces interface 0
	w.epb(0, sec*1000+123, d(64, 6), 64)
	w.spb(d(128, 7), 1000) // origLen 1000 > snaplen 128: 128 bytes captured

	want := []pcapfile.Frame{
		frame(sec*1e9+250_000_000, flow.LinkTypeEthernet, 0, d(60, 1), 60),
		frame(sec*1e9+7, flow.LinkTypeRaw, 1, d(40, 2), 40),
		frame(1005_500_000_000, flow.LinkTypeIPv4, 2, d(20, 3), 20),
		frame(0, flow.LinkTypeEthernet, 0, d(1514, 4), 1514),
		frame(sec*1e9+9, flow.LinkTypeRaw, 1, d(28, 5), 1500),
		frame(sec*1e9+123_000_000, flow.LinkTypeLinuxSLL2, 0, d(64, 6), 64),
		frame(0, flow.LinkTypeLinuxSLL2, 0, d(128, 7), 1000),
	}
	return w, want, first
}

func TestReadPcapng(t *testing.T) {
	w, want, _ := pcapngFile()
	file := w.b
	for _, r := range []struct {
		name string
		r    io.Reader
	}{
		{"whole", bytes.NewReader(file)},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(file))},
		{"half", iotest.HalfReader(bytes.NewReader(file))},
	} {
		got, err := readAll(r.r)
		if err != nil {
			t.Fatalf("%s: read error = %v", r.name, err)
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Fatalf("%s: Next() (-got, +want):\n%s", r.name, diff)
		}
	}
	got, err := readAllBytes(file)
	if err != nil {
		t.Fatalf("NewReaderBytes: read error = %v", err)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("NewReaderBytes: Next() (-got, +want):\n%s", diff)
	}
}

// TestReadResolutions checks if_tsresol for powers of ten and two,
// including the extremes.
func TestReadResolutions(t *testing.T) {
	tests := []struct {
		resol byte
		ts    uint64
		want  int64
	}{
		{0, 17, 17e9}, // seconds
		{6, 1_700_000_000_123_456, sec*1e9 + 123_456_000}, // microseconds
		{9, 42, 42}, // nanoseconds
		{12, 1_700_000_000_123_456, 1_700_000_000_123}, // picoseconds: cut to ns
		{0x80 | 0, 3, 3e9},                      // 2^0
		{0x80 | 10, 3<<10 | 512, 3_500_000_000}, // 2^-10
		{0x80 | 32, 1<<32 | 1<<31, 1_500_000_000},
		{0x80 | 64, 1 << 63, 500_000_000}, // half a second in 2^-64 units
		{0x80 | 127, 1 << 63, 0},          // beyond any precision
		{127, ^uint64(0), 0},              // 10^-127
	}
	for _, tt := range tests {
		w := &ng{order: binary.LittleEndian}
		w.shb().idb(1, 0, opt{9, []byte{tt.resol}}).epb(0, tt.ts, []byte{1, 2, 3, 4}, 4)
		got, err := readAll(bytes.NewReader(w.b))
		if err != nil || len(got) != 1 {
			t.Fatalf("if_tsresol %#x: read = %v, %v", tt.resol, got, err)
		}
		if got[0].Time != tt.want {
			t.Errorf("if_tsresol %#x, ts %d: Time = %d, want %d", tt.resol, tt.ts, got[0].Time, tt.want)
		}
	}
}

// TestReadAllocs: Next allocates nothing per packet.
func TestReadAllocs(t *testing.T) {
	c := newClassic(binary.LittleEndian, 0xa1b2c3d4, 65535, 1)
	for i := range 2000 {
		c.record(sec, uint32(i), frameData(100+i%1400, byte(i)), 1500)
	}
	w, _, _ := pcapngFile()
	file := w.b
	for name, data := range map[string][]byte{"classic": c.b, "pcapng": file} {
		r, err := pcapfile.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := r.Next(); err != nil && err != io.EOF {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Next() allocates %v times per call, want 0", name, allocs)
		}
	}
}

func TestReadNotACapture(t *testing.T) {
	for _, tt := range []struct {
		name, file, want string
	}{
		{"empty", "", "pcap: file header at offset 0: unexpected EOF"},
		{"short", "\xd4\xc3\xb2\xa1\x02\x00", "pcap: file header at offset 0: unexpected EOF"},
		{"text", "hello, world, this is not a capture", "pcap: file header at offset 0: unknown magic number 0x6c6c6568"},
		{"classic version 3", string(func() []byte { c := newClassic(binary.LittleEndian, 0xa1b2c3d4, 1, 1); c.b[4] = 3; return c.b }()),
			"pcap: file header at offset 4: version 3.4, want 2.x"},
	} {
		_, err := pcapfile.NewReader(bytes.NewReader([]byte(tt.file)))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: NewReader() error = %v, want %q", tt.name, err, tt.want)
		}
	}
}

var errDisk = errors.New("disk on fire")

// TestReadError: a read error of the underlying reader is returned, with
// the offset, and not mistaken for the end of the file.
func TestReadError(t *testing.T) {
	file := newClassic(binary.LittleEndian, 0xa1b2c3d4, 65535, 1).record(sec, 0, frameData(60, 0), 60).record(sec, 0, frameData(60, 0), 60).b
	r, err := pcapfile.NewReader(io.MultiReader(bytes.NewReader(file[:24+76+10]), iotest.ErrReader(errDisk)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatalf("Next() #1 error = %v", err)
	}
	_, err = r.Next()
	if !errors.Is(err, errDisk) || err.Error() != "pcap: record at offset 100: disk on fire" {
		t.Fatalf("Next() #2 error = %v, want the disk error at offset 100", err)
	}
}
