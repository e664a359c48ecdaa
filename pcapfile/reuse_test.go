package pcapfile_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"abuseguard/pcapfile"
)

// TestOnReuse: with OnReuse, every frame returned since the last call of
// its function still holds its bytes, across the buffer refills of a 2 MB
// capture; a reader over bytes in memory never calls it.
func TestOnReuse(t *testing.T) {
	c := newClassic(binary.LittleEndian, 0xa1b2c3d4, 65535, 1)
	var want [][]byte
	for i := range 3000 {
		d := frameData(200+i%900, byte(i))
		want = append(want, d)
		c.record(sec, uint32(i), d, uint32(len(d)))
	}
	for _, inMemory := range []bool{false, true} {
		var pr *pcapfile.Reader
		var err error
		if inMemory {
			pr, err = pcapfile.NewReaderBytes(c.b)
		} else {
			pr, err = pcapfile.NewReader(bytes.NewReader(c.b))
		}
		if err != nil {
			t.Fatal(err)
		}
		var held [][]byte // frames returned since the last reuse, not copied
		first, reuses := 0, 0
		check := func() {
			for j, d := range held {
				if !bytes.Equal(d, want[first+j]) {
					t.Fatalf("in memory %v: frame %d changed before the reuse call", inMemory, first+j)
				}
			}
		}
		pr.OnReuse(func() {
			check()
			first += len(held)
			held = held[:0]
			reuses++
		})
		for {
			f, err := pr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, f.Data)
		}
		check()
		if inMemory && reuses != 0 || !inMemory && reuses < 5 {
			t.Fatalf("in memory %v: %d reuse calls for %d bytes", inMemory, reuses, len(c.b))
		}
	}
}
