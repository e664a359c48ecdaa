package store

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"

	"abuseguard"
)

func BenchmarkTmpOps(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), filepath.Join(b.TempDir(), "x.db"), []string{"mail"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	addr := netip.MustParseAddr("100.1.2.3")
	run := func(name string, fn func(t *tx) error) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.UpdateBatch(ctx, []func(abuseguard.CaseTx) error{func(atx abuseguard.CaseTx) error {
					t := atx.(*tx)
					for range 100 {
						if err := fn(t); err != nil {
							return err
						}
					}
					return nil
				}})
			}
		})
	}
	run("ActiveCase-miss", func(t *tx) error {
		_, err := t.ActiveCase(ctx, addr, abuseguard.ReasonNetscan)
		if abuseguard.ErrorCode(err) == abuseguard.ENOTFOUND {
			return nil
		}
		return err
	})
	run("DetectionOf-miss", func(t *tx) error {
		_, _, err := t.DetectionOf(ctx, "nope")
		if abuseguard.ErrorCode(err) == abuseguard.ENOTFOUND {
			return nil
		}
		return err
	})
	run("select1", func(t *tx) error {
		var n int
		return t.queryRow(ctx, "SELECT 1").Scan(&n)
	})
	run("exec-noop", func(t *tx) error {
		_, err := t.exec(ctx, "UPDATE meta SET value = 'x' WHERE key = 'none'")
		return err
	})
	run("savepoint-release", func(t *tx) error {
		if _, err := t.exec(ctx, "SAVEPOINT change"); err != nil {
			return err
		}
		_, err := t.exec(ctx, "RELEASE change")
		return err
	})
}
