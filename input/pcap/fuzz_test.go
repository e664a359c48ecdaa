package pcap_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"abuseguard/decoder/netflow"
	"abuseguard/decoder/sflow"
	"abuseguard/input/pcap"
	"abuseguard/testutil"
)

// FuzzRecognize: Recognize never panics, and what it accepts the decoders
// can at least frame: no short datagram, no wrong version, no set or
// sample count that runs past the end. Seeds are every UDP payload of the
// real captures and every datagram file of ../shared/testdata/flows.
func FuzzRecognize(f *testing.F) {
	for _, path := range realCaptures(f, "") {
		for _, d := range udpDatagrams(f, path) {
			f.Add(d.payload)
		}
	}
	dir := testutil.SharedDir(f, "flows")
	for _, pat := range []string{"logstash/*.dat", "telegraf/*/*.bin"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range m {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add(dnsQuery(9, "www.example.com"))
	recv := time.Unix(1729658841, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := pcap.Recognize(b)
		switch p {
		case pcap.NotFlow:
		case pcap.SFlowV5:
			_, err := sflow.New(sflow.Config{}).Decode(testExporter, b, recv, nil)
			switch sflow.KindOf(err) {
			case sflow.ErrShort, sflow.ErrVersion, sflow.ErrAddressType:
				t.Fatalf("Recognize() = %v but Decode() = %v", p, err)
			}
		default:
			_, err := netflow.New(netflow.Config{}).Decode(testExporter, b, recv, nil)
			switch netflow.KindOf(err) {
			case netflow.ErrShort, netflow.ErrVersion, netflow.ErrSetLength:
				t.Fatalf("Recognize() = %v but Decode() = %v", p, err)
			}
		}
	})
}
