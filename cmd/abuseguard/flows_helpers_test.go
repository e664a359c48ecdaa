package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"abuseguard/pcapfile"
)

// splitPcap writes the first n frames of the capture at path to one file
// and the rest to another, keeping times and link type.
func splitPcap(t *testing.T, path string, n int) (string, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := pcapfile.NewReaderBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	names := [2]string{filepath.Join(dir, "first.pcap"), filepath.Join(dir, "second.pcap")}
	var files [2]*os.File
	var ws [2]*pcapfile.Writer
	for i := range 2 {
		if files[i], err = os.Create(names[i]); err != nil {
			t.Fatal(err)
		}
		defer files[i].Close()
	}
	for i := 0; ; i++ {
		fr, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		if i >= n {
			k = 1
		}
		if ws[k] == nil {
			if ws[k], err = pcapfile.NewWriter(files[k], fr.LinkType, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := ws[k].WritePacket(fr.Time, fr.Data, fr.OrigLen); err != nil {
			t.Fatal(err)
		}
	}
	return names[0], names[1]
}
