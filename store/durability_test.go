package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"abuseguard"

	"github.com/google/go-cmp/cmp"
	"modernc.org/sqlite"
)

func openInternal(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), path, []string{"mail"})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pragmas reads PRAGMA name for each name on conn's session.
func pragmas(t *testing.T, sess *session, names ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	if err := sess.open(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range names {
		var v string
		if err := sess.conn.QueryRowContext(ctx, "PRAGMA "+n).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", n, err)
		}
		got[n] = v
	}
	return got
}

// TestConnectionSettings: the writer's commits are durable against power
// loss (WAL synced at every commit: synchronous FULL = 2, with fdatasync),
// foreign keys are enforced, the WAL is truncated back to its limit;
// readers cannot write.
func TestConnectionSettings(t *testing.T) {
	s := openInternal(t, filepath.Join(t.TempDir(), "p.db"))
	s.writeMu.Lock()
	got := pragmas(t, &s.w, "journal_mode", "synchronous", "foreign_keys", "journal_size_limit")
	s.writeMu.Unlock()
	want := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1",
		"journal_size_limit": strconv.Itoa(walBackstopPages * 4096)}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("writer pragmas (-got, +want):\n%s", diff)
	}
	if !sqlite.FdatasyncEnabled() {
		t.Errorf("commits sync with fsync, want fdatasync")
	}
	r := <-s.readers
	got = pragmas(t, r, "query_only", "foreign_keys")
	s.readers <- r
	if diff := cmp.Diff(got, map[string]string{"query_only": "1", "foreign_keys": "1"}); diff != "" {
		t.Fatalf("reader pragmas (-got, +want):\n%s", diff)
	}
}

// TestReadSnapshots: a read transaction sees what was committed when it
// first read, not a commit made meanwhile; the next one sees that commit.
func TestReadSnapshots(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, filepath.Join(t.TempDir(), "p.db"))
	set := func(v string) {
		t.Helper()
		if err := s.Update(ctx, func(tx abuseguard.CaseTx) error { return tx.SetMeta(ctx, "k", v) }); err != nil {
			t.Fatal(err)
		}
	}
	read := func(tx abuseguard.CaseTx) string {
		t.Helper()
		v, err := tx.Meta(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	set("one")
	var before, during string
	err := s.View(ctx, func(tx abuseguard.CaseTx) error {
		before = read(tx)
		set("two")
		during = read(tx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var after string
	s.View(ctx, func(tx abuseguard.CaseTx) error { after = read(tx); return nil })
	if before != "one" || during != "one" || after != "two" {
		t.Fatalf("reads = %q, %q in one View, %q in the next; want one, one, two", before, during, after)
	}
}

// TestOtherWriter: a case another connection (another process, such as a
// second instance or a command) opened is found by ActiveCase in the
// writer, whose filter of open cases must not answer "none" from memory.
func TestOtherWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	a, b := openInternal(t, path), openInternal(t, path)
	c := &abuseguard.Case{ID: "AG-000001", Reason: abuseguard.ReasonNetscan, State: abuseguard.CaseOpen,
		Action: abuseguard.ActionBlock, OpenedAt: time.Unix(1, 0)}
	c.Address = netip.MustParseAddr("100.64.0.1")
	active := func() error {
		return a.Update(ctx, func(tx abuseguard.CaseTx) error { _, err := tx.ActiveCase(ctx, c.Address, c.Reason); return err })
	}
	if err := active(); abuseguard.ErrorCode(err) != abuseguard.ENOTFOUND { // builds a's filter
		t.Fatalf("ActiveCase() before = %v, want ENOTFOUND", err)
	}
	if err := b.Update(ctx, func(tx abuseguard.CaseTx) error { return tx.CreateCase(ctx, c) }); err != nil {
		t.Fatal(err)
	}
	if err := active(); err != nil {
		t.Fatalf("ActiveCase() after another connection opened the case = %v", err)
	}
}

// TestCloseTwice: Close may be called again, and a transaction after it
// fails instead of waiting for a session that never comes back.
func TestCloseTwice(t *testing.T) {
	s := openInternal(t, filepath.Join(t.TempDir(), "p.db"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errView := s.View(ctx, func(tx abuseguard.CaseTx) error { _, err := tx.Meta(ctx, "k"); return err })
	errUpdate := s.Update(ctx, func(tx abuseguard.CaseTx) error { return tx.SetMeta(ctx, "k", "v") })
	if errView == nil || errUpdate == nil || errors.Is(errView, context.DeadlineExceeded) {
		t.Fatalf("View(), Update() after Close() = %v, %v; want errors at once", errView, errUpdate)
	}
}

// TestWALBounded writes four times as much as the writer lets the WAL hold
// before it checkpoints itself: the WAL file stays under twice that,
// the checkpointer copies everything into the database file without the
// writer's help, and Close leaves no WAL behind (every connection, the
// checkpointer's included, closed; the last one checkpointed).
func TestWALBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 128 MiB")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	s := openInternal(t, path)
	const commit = 1 << 20 // bytes a commit adds
	value := strings.Repeat("x", commit)
	commits := 4 * walBackstopPages * 4096 / commit
	// The WAL holds frames of a page and a 24-byte header. The writer's
	// own checkpoint past walBackstopPages gives way while the
	// checkpointer's runs, so a few more commits may land before the WAL
	// starts over: twice the threshold, half of what unbounded would reach.
	limit := int64(2*walBackstopPages) * (4096 + 24)
	var largest int64
	for i := range commits {
		err := s.Update(ctx, func(tx abuseguard.CaseTx) error { return tx.SetMeta(ctx, fmt.Sprint("k", i), value) })
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, st.Size())
	}
	if largest > limit {
		t.Errorf("WAL reached %d bytes, want at most %d", largest, limit)
	}
	// The last commits are below the writer's own threshold: only the
	// checkpointer copies them.
	want := int64(commits * commit)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes 30 s after the last commit, want ≥ %d: not checkpointed", st.Size(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WAL after Close(): %v, want none", err)
	}
}

// TestCrashKeepsCommits runs a writer in a child process, kills it with
// SIGKILL in the middle of its batches, and finds every batch whose
// UpdateBatch had returned (the child printed it) in the database, and no
// part of a batch that had not. A process crash loses nothing the store
// acknowledged; power loss is covered by synchronous FULL
// (TestConnectionSettings), which a test cannot cut.
func TestCrashKeepsCommits(t *testing.T) {
	if path := os.Getenv("STORE_CRASH_CHILD"); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("runs a child process")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashKeepsCommits$")
	cmd.Env = append(os.Environ(), "STORE_CRASH_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	lines := bufio.NewScanner(out)
	for acked < 30 && lines.Scan() {
		if n, ok := strings.CutPrefix(lines.Text(), "acked "); ok {
			acked, _ = strconv.Atoi(n)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if acked < 30 {
		t.Fatalf("child acknowledged %d batches before it ended", acked+1)
	}

	s := openInternal(t, path)
	ctx := context.Background()
	err = s.View(ctx, func(tx abuseguard.CaseTx) error {
		cs, total, err := tx.FindCases(ctx, abuseguard.CaseFilter{Limit: 100000})
		if err != nil {
			return err
		}
		perBatch := map[int]int{}
		for _, c := range cs {
			var b, i int
			fmt.Sscanf(c.Note, "batch %d case %d", &b, &i)
			perBatch[b]++
		}
		for b := 0; b <= acked; b++ {
			if perBatch[b] != crashBatch {
				t.Errorf("batch %d: %d cases, want %d (acknowledged)", b, perBatch[b], crashBatch)
			}
		}
		for b, n := range perBatch {
			if n != crashBatch {
				t.Errorf("batch %d: %d cases, want all %d or none", b, n, crashBatch)
			}
		}
		if total != len(cs) {
			t.Errorf("FindCases() total %d, listed %d", total, len(cs))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var check string
	s.writeMu.Lock()
	s.w.open(ctx)
	err = s.w.conn.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check)
	s.writeMu.Unlock()
	if err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
}

const crashBatch = 64

// crashChild writes batches of new cases until it is killed, printing the
// number of each batch once UpdateBatch has returned.
func crashChild(path string) {
	ctx := context.Background()
	s, err := Open(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), path, []string{"mail"})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	for b := 0; b < 100000; b++ {
		fns := make([]func(abuseguard.CaseTx) error, crashBatch)
		for i := range fns {
			fns[i] = func(tx abuseguard.CaseTx) error {
				n := b*crashBatch + i
				c := &abuseguard.Case{ID: fmt.Sprintf("AG-%06X", n), Reason: abuseguard.ReasonNetscan,
					Address: netip.MustParseAddr(fmt.Sprintf("100.%d.%d.%d", 64+n>>16&63, n>>8&255, n&255)),
					State:   abuseguard.CaseOpen, Action: abuseguard.ActionBlock, OpenedAt: time.Unix(int64(n+1), 0),
					Note: fmt.Sprintf("batch %d case %d", b, i)}
				if err := tx.CreateCase(ctx, c); err != nil {
					return err
				}
				return tx.AddAudit(ctx, abuseguard.AuditEntry{Time: c.OpenedAt, Actor: "system", Action: "case.opened", CaseID: c.ID})
			}
		}
		errs, err := s.UpdateBatch(ctx, fns)
		if err == nil {
			err = errors.Join(errs...)
		}
		if err != nil {
			fmt.Println("batch:", err)
			os.Exit(1)
		}
		fmt.Printf("acked %d\n", b)
	}
	os.Exit(0)
}

// TestBatchRuns: a change that fails before writing (here on a foreign
// key, which fails the statement alone) costs no rerun; one that fails
// after writing makes the batch run again with a savepoint per change, and
// only its rows are missing.
func TestBatchRuns(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, filepath.Join(t.TempDir(), "p.db"))
	boom := errors.New("boom")
	newCase := func(id, addr string) *abuseguard.Case {
		return &abuseguard.Case{ID: id, Reason: abuseguard.ReasonNetscan, Address: netip.MustParseAddr(addr),
			State: abuseguard.CaseOpen, Action: abuseguard.ActionBlock, OpenedAt: time.Unix(1, 0)}
	}
	for _, tc := range []struct {
		name      string
		failing   func(tx abuseguard.CaseTx) error
		wantCode  string
		wantRuns  []int
		wantCases []string
	}{
		{"before writing", func(tx abuseguard.CaseTx) error {
			return tx.PutDetection(ctx, "AG-NOCASE", &abuseguard.Detection{ID: "d", Kind: abuseguard.ReasonNetscan,
				Address: netip.MustParseAddr("100.64.0.9"), FirstSeen: time.Unix(1, 0), LastSeen: time.Unix(1, 0)})
		}, abuseguard.ENOTFOUND, []int{1, 1, 1}, []string{"AG-000001", "AG-000003"}},
		{"after writing", func(tx abuseguard.CaseTx) error {
			if err := tx.CreateCase(ctx, newCase("AG-000005", "100.64.0.5")); err != nil {
				return err
			}
			return boom
		}, abuseguard.EINTERNAL, []int{2, 2, 1}, []string{"AG-000001", "AG-000003", "AG-000004", "AG-000006"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := make([]int, 3)
			first := map[string]string{"before writing": "AG-000001", "after writing": "AG-000004"}[tc.name]
			last := map[string]string{"before writing": "AG-000003", "after writing": "AG-000006"}[tc.name]
			errs, err := s.UpdateBatch(ctx, []func(abuseguard.CaseTx) error{
				func(tx abuseguard.CaseTx) error {
					runs[0]++
					return tx.CreateCase(ctx, newCase(first, "100.64.0."+first[8:]))
				},
				func(tx abuseguard.CaseTx) error { runs[1]++; return tc.failing(tx) },
				func(tx abuseguard.CaseTx) error {
					runs[2]++
					return tx.CreateCase(ctx, newCase(last, "100.64.0."+last[8:]))
				},
			})
			if err != nil || errs[0] != nil || errs[1] == nil || abuseguard.ErrorCode(errs[1]) != tc.wantCode || errs[2] != nil {
				t.Fatalf("UpdateBatch() = %v, %v", errs, err)
			}
			if diff := cmp.Diff(runs, tc.wantRuns); diff != "" {
				t.Errorf("runs of each change (-got, +want):\n%s", diff)
			}
			var ids []string
			s.View(ctx, func(tx abuseguard.CaseTx) error {
				cs, _, err := tx.FindCases(ctx, abuseguard.CaseFilter{})
				for _, c := range cs {
					ids = append(ids, c.ID)
				}
				return err
			})
			slices.Sort(ids)
			if diff := cmp.Diff(ids, tc.wantCases); diff != "" {
				t.Errorf("cases (-got, +want):\n%s", diff)
			}
		})
	}
}

// TestBatchDiskFull: a write failing because the disk is full (here the
// database's page limit) fails the whole batch, since SQLite may have
// rolled the transaction back, and leaves nothing of it; the store works
// again once there is room.
func TestBatchDiskFull(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, filepath.Join(t.TempDir(), "p.db"))
	limit := func(pages string) {
		t.Helper()
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		if err := s.w.open(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.w.conn.ExecContext(ctx, "PRAGMA max_page_count = "+pages); err != nil {
			t.Fatal(err)
		}
	}
	var pages int
	s.View(ctx, func(atx abuseguard.CaseTx) error {
		return atx.(*tx).queryRow(ctx, "PRAGMA page_count").Scan(&pages)
	})
	limit(strconv.Itoa(pages + 8))
	set := func(k string, n int) func(abuseguard.CaseTx) error {
		return func(tx abuseguard.CaseTx) error { return tx.SetMeta(ctx, k, strings.Repeat("x", n)) }
	}
	errs, err := s.UpdateBatch(ctx, []func(abuseguard.CaseTx) error{set("small", 10), set("big", 1<<20), set("after", 10)})
	if err == nil {
		t.Fatalf("UpdateBatch() = %v, nil; want the batch to fail", errs)
	}
	limit("1073741823")
	var got []string
	s.View(ctx, func(tx abuseguard.CaseTx) error {
		for _, k := range []string{"small", "big", "after"} {
			if v, _ := tx.Meta(ctx, k); v != "" {
				got = append(got, k)
			}
		}
		return nil
	})
	if len(got) != 0 {
		t.Fatalf("rows of the failed batch committed: %v", got)
	}
	if err := s.Update(ctx, set("small", 10)); err != nil {
		t.Fatalf("Update() after room was made = %v", err)
	}
}

// TestBatchAuditFails: audit entries are written with INSERT OR FAIL,
// which keeps the rows of a multi-row insert written before the one that
// failed; so a failed audit insert fails the whole batch, even when a read
// inside a change wrote them and the change took the error as its own.
// A trigger stands in for the failure (only the database itself can fail
// an audit row). Without the batch failing, entry "a" committed twice.
func TestBatchAuditFails(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, filepath.Join(t.TempDir(), "p.db"))
	s.writeMu.Lock()
	err := s.w.open(ctx)
	if err == nil {
		_, err = s.w.conn.ExecContext(ctx, `CREATE TEMP TRIGGER audit_boom BEFORE INSERT ON main.audit
			WHEN NEW.detail = 'boom' BEGIN SELECT RAISE(FAIL, 'boom'); END`)
	}
	s.writeMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	add := func(detail string) func(abuseguard.CaseTx) error {
		return func(tx abuseguard.CaseTx) error {
			return tx.AddAudit(ctx, abuseguard.AuditEntry{Time: time.Unix(1, 0), Actor: "system", Action: "test", Detail: detail})
		}
	}
	errs, err := s.UpdateBatch(ctx, []func(abuseguard.CaseTx) error{
		add("a"),
		func(tx abuseguard.CaseTx) error {
			if err := add("boom")(tx); err != nil {
				return err
			}
			_, err := tx.CountAudit(ctx, "test", "system", time.Unix(0, 0)) // writes a and boom first
			return err
		},
		add("c"),
	})
	if err == nil {
		t.Fatalf("UpdateBatch() = %v, nil; want the batch to fail", errs)
	}
	var got []string
	err = s.View(ctx, func(tx abuseguard.CaseTx) error {
		es, _, err := tx.FindAudit(ctx, abuseguard.AuditFilter{Action: "test"})
		for _, e := range es {
			got = append(got, e.Detail)
		}
		return err
	})
	if err != nil || len(got) != 0 {
		t.Fatalf("audit entries of the failed batch committed: %q, %v", got, err)
	}
}
