package store_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/store"
	"abuseguard/store/storetest"
)

func openTest(t *testing.T) abuseguard.CaseStore {
	t.Helper()
	s, err := store.Open(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)),
		filepath.Join(t.TempDir(), "test.db"), storetest.Channels)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, openTest)
}

// TestReopen checks that migrations are idempotent and data survives a
// close and reopen of the file.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "test.db")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := store.Open(ctx, log, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := storetest.NewCase("AG-ABCDEF", "203.0.113.7", abuseguard.ReasonNetscan)
	if err := s.Update(ctx, func(tx abuseguard.CaseTx) error { return tx.CreateCase(ctx, c) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = store.Open(ctx, log, path, nil)
	if err != nil {
		t.Fatalf("Open() again = %v", err)
	}
	defer s.Close()
	err = s.View(ctx, func(tx abuseguard.CaseTx) error {
		_, err := tx.Case(ctx, c.ID)
		return err
	})
	if err != nil {
		t.Fatalf("Case() after reopen = %v", err)
	}
}

// TestPingWhileReadersIdle: the health check answers while every read
// session holds its connection.
func TestPingWhileReadersIdle(t *testing.T) {
	ctx := context.Background()
	s := openTest(t).(*store.Store)
	for range 8 { // connect every read session
		if err := s.View(ctx, func(tx abuseguard.CaseTx) error { _, err := tx.Meta(ctx, "x"); return err }); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping() = %v", err)
	}
}
