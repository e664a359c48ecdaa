package packet_test

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"abuseguard/decoder/packet"
	"abuseguard/flow"
	"abuseguard/pcapfile"
	"abuseguard/testutil"
)

// fuzzLinkTypes are the link types FuzzDecode chooses from with its first
// argument, so the fuzzer does not waste time on unknown numbers.
var fuzzLinkTypes = []flow.LinkType{
	flow.LinkTypeEthernet, flow.LinkTypeNull, flow.LinkTypeRaw, flow.LinkTypeIPv4,
	flow.LinkTypeIPv6, flow.LinkTypeLinuxSLL, flow.LinkTypeLinuxSLL2,
}

// sharedFrames returns every frame of every shared capture, or nothing
// when the shared data is absent: the fuzz target still runs on its
// committed corpus then.
func sharedFrames(tb testing.TB) [][]byte {
	base := os.Getenv("ABUSEGUARD_SHARED")
	if base == "" {
		base = filepath.Join(testutil.ModuleRoot(tb), "..", "shared")
	}
	files, _ := filepath.Glob(filepath.Join(base, "testdata", "real", "*.pcap"))
	var frames [][]byte
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		r, err := pcapfile.NewReader(f)
		// Up to 1000 frames of each capture, which is all of them but
		// for denial6-5: its 35 720 frames have a handful of shapes, and
		// each seed costs a subtest.
		for n := 0; err == nil && n < 1000; n++ {
			var fr pcapfile.Frame
			if fr, err = r.Next(); err == nil {
				frames = append(frames, append([]byte(nil), fr.Data...))
			}
		}
		if err == nil {
			err = io.EOF
		}
		if err != io.EOF {
			tb.Fatalf("read %s: %v", file, err)
		}
		f.Close()
	}
	return frames
}

func FuzzDecode(f *testing.F) {
	for _, frame := range sharedFrames(f) {
		f.Add(uint8(0), frame) // all shared captures are Ethernet
	}
	f.Add(uint8(2), tcp6(flow.TCPSyn, 0))
	f.Add(uint8(5), sll(1, 0x0800, udp4(3)))
	f.Add(uint8(6), sll2(1, 0x86dd, withExt(udp6(3), ext{0, hdr8(0)}, ext{51, ah(4)})))
	f.Fuzz(func(t *testing.T, sel uint8, frame []byte) {
		lt := fuzzLinkTypes[int(sel)%len(fuzzLinkTypes)]
		var r flow.Record
		err := packet.Decode(lt, frame, &r)
		if err != nil {
			if !errors.Is(err, packet.ErrNotIP) && !errors.Is(err, packet.ErrMalformed) {
				t.Fatalf("Decode() error = %v, want ErrNotIP or ErrMalformed", err)
			}
			return
		}
		checkRecord(t, &r)

		// A reused record gives the same result as a fresh one.
		dirty := flow.Record{Src: netip.MustParseAddr("10.9.9.9"), SrcPort: 9, DstPort: 9, Proto: 9, TCPFlags: 9, Flags: 0xff, SrcMAC: 9, Bytes: 9, Packets: 9}
		if err := packet.Decode(lt, frame, &dirty); err != nil || !sameOwned(&dirty, &r) {
			t.Fatalf("Decode() into a used record = %+v, %v; want %+v", dirty, err, r)
		}
		if len(frame) <= 256 {
			checkPrefixes(t, lt, frame)
		}
	})
}

// checkRecord checks the invariants of a successful decode.
func checkRecord(t *testing.T, r *flow.Record) {
	t.Helper()
	switch {
	case r.Packets != 1:
		t.Fatalf("Packets = %d, want 1", r.Packets)
	case !r.Src.IsValid() || !r.Dst.IsValid() || r.Src.Is4() != r.Dst.Is4():
		t.Fatalf("addresses %v -> %v, want two valid addresses of one family", r.Src, r.Dst)
	case r.Src.Is4In6() || r.Dst.Is4In6():
		t.Fatalf("addresses %v -> %v not unmapped", r.Src, r.Dst)
	case r.Src.Is4() && r.Bytes < 20, r.Src.Is6() && r.Bytes < 40:
		t.Fatalf("Bytes = %d, less than an IP header", r.Bytes)
	case r.Flags&^(flow.FlagFragment|flow.FlagTruncated) != 0:
		t.Fatalf("Flags = %#x, unknown bits", r.Flags)
	case r.Flags&flow.FlagFragment != 0 && (r.SrcPort != 0 || r.DstPort != 0 || r.TCPFlags != 0):
		t.Fatalf("fragment with ports %d/%d flags %#x", r.SrcPort, r.DstPort, r.TCPFlags)
	case r.Proto != flow.ProtoTCP && r.TCPFlags != 0:
		t.Fatalf("TCPFlags %#x on protocol %d", r.TCPFlags, r.Proto)
	}
}
