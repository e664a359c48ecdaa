// Package store is the store of record on SQLite (modernc.org/sqlite, pure
// Go): cases, detections and evidence, blocks, the audit trail, the outbox
// and API tokens. It implements abuseguard.CaseStore; store/storetest holds
// the conformance suite a PostgreSQL implementation must pass too.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"abuseguard"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
)

//go:embed migrations/sqlite/*.sql
var migrations embed.FS

// Configuration is the store's section of the configuration file.
type Configuration struct {
	// Path is the SQLite database file; relative paths are taken from the
	// data directory. Default "abuseguard.db".
	Path string `yaml:"path"`
	// Channels are the outbox channels every event is delivered on, one
	// delivery each: "mail" and "webhook:<name>" as the notifier
	// configures them. A channel added later does not receive events
	// written before. Default ["mail"].
	Channels []string `yaml:"channels"`
}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	return Configuration{Path: "abuseguard.db", Channels: []string{"mail"}}
}

// Validate checks the configuration.
func (c Configuration) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("store.path: must not be empty"))
	}
	seen := map[string]bool{}
	for _, ch := range c.Channels {
		if ch == "" || seen[ch] {
			errs = append(errs, fmt.Errorf("store.channels: %q is empty or repeated", ch))
		}
		seen[ch] = true
	}
	return errors.Join(errs...)
}

// Store is the SQLite store. It is safe for concurrent use: writes are
// serialised on one connection (SQLite has one writer anyway, and doing it
// here avoids SQLITE_BUSY), reads run on a pool of their own under WAL.
type Store struct {
	log      *slog.Logger
	write    *sql.DB
	read     *sql.DB
	ckpt     *checkpointer
	channels []string

	writeMu sync.Mutex // held for a whole write transaction
	w       session    // the writer, under writeMu
	cases   caseFilter // under writeMu

	// readers are the read sessions not in use, one per connection of
	// the read pool.
	readers chan *session

	watchMu       sync.Mutex
	blocksChanged chan struct{}
	eventsAdded   chan struct{}
}

var (
	_ abuseguard.CaseStore     = (*Store)(nil)
	_ abuseguard.BlockWatcher  = (*Store)(nil)
	_ abuseguard.OutboxWatcher = (*Store)(nil)
)

// Open opens (creating if needed) the database at path, applies the
// embedded migrations and returns the store. channels are the outbox
// channels (see Configuration.Channels).
func Open(ctx context.Context, log *slog.Logger, path string, channels []string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	// busy_timeout covers another process (abuseguard token create) holding
	// the write lock. synchronous(FULL): every commit syncs the WAL, so a
	// change the store has acknowledged survives a power loss, not only a
	// process crash (NORMAL syncs only at checkpoints and can lose the last
	// commits). With group commit it costs one fsync per batch, 0.25 ms on
	// this machine's disk and nothing measurable per detection
	// (BenchmarkIngest, November 2026).
	pragmas := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(5000)", "foreign_keys(1)", "synchronous(FULL)", "temp_store(MEMORY)"} {
		pragmas.Add("_pragma", p)
	}
	wq := url.Values{"_txlock": {"immediate"}}
	for k, v := range pragmas {
		wq[k] = append([]string(nil), v...)
	}
	// The writer's page cache holds what a batch of new cases touches
	// (SQLite's 2 MiB default made it spill dirty pages and re-read index
	// pages mid-batch). It checkpoints the WAL itself only past 8192 pages
	// (32 MiB), a backstop: the checkpointer does it in the background.
	wq.Add("_pragma", "cache_size(-65536)")
	wq.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walBackstopPages))
	// SQLite reuses the WAL file from its start once a checkpoint has
	// copied all of it, but never shrinks it: a burst, or a reader holding
	// a snapshot while the checkpoints could not finish, would leave it at
	// its largest for good. The writer truncates it to this size when it
	// starts it over.
	wq.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walBackstopPages*4096))
	// Commits sync with fdatasync(2) rather than fsync(2): it writes the
	// data and the file size a read needs, not the timestamps, which is
	// what SQLite's own Linux builds do (modernc's transpiled library keeps
	// the source default). Same durability; a commit that overwrites WAL
	// frames in place need not wait for the file system's journal to record
	// a modification time. Process-wide; only the store uses SQLite.
	fdatasyncOnce.Do(func() { sqlite.Fdatasync(true) })
	write, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	ckpt, err := sql.Open("sqlite", "file:"+path+"?"+pragmas.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	ckpt.SetMaxOpenConns(1)
	pragmas.Add("_pragma", "query_only(1)")
	pragmas.Add("_pragma", "cache_size(-16384)")
	read, err := sql.Open("sqlite", "file:"+path+"?"+pragmas.Encode())
	if err != nil {
		write.Close()
		ckpt.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	read.SetMaxOpenConns(readSessions)
	read.SetMaxIdleConns(readSessions)
	s := &Store{
		log: log, write: write, read: read, ckpt: newCheckpointer(log, ckpt), w: session{db: write},
		channels:      append([]string(nil), channels...),
		readers:       make(chan *session, readSessions),
		blocksChanged: make(chan struct{}),
		eventsAdded:   make(chan struct{}),
	}
	for range readSessions {
		s.readers <- &session{db: read} // connected when first used
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.ckpt.start()
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations/sqlite")
	if err != nil {
		return fmt.Errorf("migrate store: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.write, fsys)
	if err != nil {
		return fmt.Errorf("migrate store: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate store: %w", err)
	}
	for _, r := range results {
		s.log.Info("store migration applied", "version", r.Source.Version, "file", filepath.Base(r.Source.Path))
	}
	return nil
}

var fdatasyncOnce sync.Once

// readSessions is how many read transactions run at once: more would only
// queue for the 2 cores this runs on, and each holds a page cache.
const readSessions = 4

// reader takes a read session, waiting while all are in use.
func (s *Store) reader(ctx context.Context) (*session, error) {
	select {
	case r := <-s.readers:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// readOne runs fn with a read session, outside a transaction: for single
// statements.
func (s *Store) readOne(ctx context.Context, fn func(r *session) error) error {
	r, err := s.reader(ctx)
	if err != nil {
		return err
	}
	defer func() { s.readers <- r }()
	return fn(r)
}

// Close closes the database, waiting for the transactions in progress. It
// may be called again; a read or write after it fails instead of waiting.
func (s *Store) Close() error {
	var rerrs []error
	rs := make([]*session, 0, readSessions)
	for range readSessions {
		r := <-s.readers
		rerrs = append(rerrs, r.close())
		rs = append(rs, r)
	}
	// Handed back closed: a later call finds the pool closed and fails
	// rather than waiting for a session forever (a second Close too).
	for _, r := range rs {
		s.readers <- r
	}
	s.writeMu.Lock()
	werr := s.w.close()
	s.writeMu.Unlock()
	return errors.Join(s.ckpt.stop(), werr, errors.Join(rerrs...), s.read.Close(), s.write.Close())
}

// Ping checks that the database answers (for /healthz).
func (s *Store) Ping(ctx context.Context) error {
	return s.readOne(ctx, func(r *session) error {
		if err := r.open(ctx); err != nil {
			return err
		}
		return r.conn.PingContext(ctx)
	})
}

// BlocksChanged implements abuseguard.BlockWatcher.
func (s *Store) BlocksChanged() <-chan struct{} {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	return s.blocksChanged
}

// EventsAdded implements abuseguard.OutboxWatcher.
func (s *Store) EventsAdded() <-chan struct{} {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	return s.eventsAdded
}

// notify wakes the watchers after a commit.
func (s *Store) notify(blocks, events bool) {
	if !blocks && !events {
		return
	}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if blocks {
		close(s.blocksChanged)
		s.blocksChanged = make(chan struct{})
	}
	if events {
		close(s.eventsAdded)
		s.eventsAdded = make(chan struct{})
	}
}

// View implements abuseguard.CaseStore.
func (s *Store) View(ctx context.Context, fn func(abuseguard.CaseTx) error) error {
	r, err := s.reader(ctx)
	if err != nil {
		return internal("begin read", err)
	}
	defer func() { s.readers <- r }()
	if err := r.begin(ctx, "BEGIN"); err != nil {
		return internal("begin read", err)
	}
	err = fn(&tx{s: s, sess: r, ctx: ctx})
	r.end(false)
	return err
}

// Update implements abuseguard.CaseStore.
func (s *Store) Update(ctx context.Context, fn func(abuseguard.CaseTx) error) error {
	errs, err := s.UpdateBatch(ctx, []func(abuseguard.CaseTx) error{fn})
	if err != nil {
		return err
	}
	return errs[0]
}

// UpdateBatch implements abuseguard.CaseStore.
//
// The changes run one after the other in one transaction, without a
// savepoint each: a savepoint copies every page a change touches into the
// statement journal before the change writes it (with the savepoint
// statements, 6 % of the writer's time in a burst of new cases,
// BenchmarkIngest, November 2026). A change that fails before
// it wrote anything has nothing to take back but the rows it gathered for
// later (see deferred), which are dropped: that is how changes fail
// (validation, a conflict found by a read or by an insert that inserted
// nothing). A change that fails after it wrote can only be undone by a
// savepoint: the transaction is rolled back and the batch runs again, a
// savepoint per change, so that the changes up to that one run twice. The
// functions must allow it (no effect outside tx that a second run would
// repeat harmfully); it happens only after such a failure.
func (s *Store) UpdateBatch(ctx context.Context, fns []func(abuseguard.CaseTx) error) ([]error, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	errs, err := s.batch(ctx, fns, false)
	if errors.Is(err, errNeedSavepoints) {
		errs, err = s.batch(ctx, fns, true)
	}
	return errs, err
}

// errNeedSavepoints: a change of a batch run without savepoints failed
// after it wrote.
var errNeedSavepoints = errors.New("a change failed after writing")

// batch runs fns in one write transaction, each in a savepoint or not
// (see UpdateBatch), under writeMu.
func (s *Store) batch(ctx context.Context, fns []func(abuseguard.CaseTx) error, savepoints bool) ([]error, error) {
	if err := s.w.begin(ctx, "BEGIN IMMEDIATE"); err != nil {
		return nil, internal("begin write", err)
	}
	committed := false
	defer func() {
		if !committed {
			s.w.end(false)
		}
	}()
	t := &tx{s: s, sess: &s.w, ctx: ctx, write: true}
	if err := s.cases.refresh(ctx, t); err != nil {
		// Not fatal: without the filter every lookup queries.
		s.log.Warn("case filter not built", "error", err)
	}
	errs := make([]error, len(fns))
	single := len(fns) == 1
	for i, fn := range fns {
		if single {
			// One change: the transaction itself is the unit.
			if errs[i] = fn(t); t.broken != nil {
				return nil, internal("write", t.broken)
			}
			continue
		}
		if savepoints {
			// Prepared like any statement: parsing them for each of 256
			// changes cost 9 % of a batch (BenchmarkIngest, November 2026).
			if _, err := t.exec(ctx, "SAVEPOINT change"); err != nil {
				return nil, internal("savepoint", err)
			}
		}
		blocks, events, m := t.blocks, t.events, t.def.mark()
		t.own, t.wrote = m, false
		errs[i] = fn(t)
		if t.broken != nil {
			return nil, internal("write", t.broken)
		}
		if errs[i] == nil {
			if savepoints {
				if _, err := t.exec(ctx, "RELEASE change"); err != nil {
					return nil, internal("release savepoint", err)
				}
			}
			continue
		}
		t.blocks, t.events = blocks, events
		if !savepoints {
			if t.wrote {
				return nil, errNeedSavepoints
			}
			t.def.drop(m)
			continue
		}
		t.def.rollback(m)
		if _, err := t.exec(ctx, "ROLLBACK TO change"); err != nil {
			return nil, internal("rollback to savepoint", err)
		}
		if _, err := t.exec(ctx, "RELEASE change"); err != nil {
			return nil, internal("release savepoint", err)
		}
	}
	if single && errs[0] != nil {
		return errs, nil
	}
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	committed = true
	if err := s.w.end(true); err != nil {
		return nil, internal("commit", err)
	}
	s.notify(t.blocks, t.events)
	s.ckpt.committed()
	return errs, nil
}

// internal wraps a database error: the details are for the log, the user
// sees EINTERNAL.
func internal(what string, err error) error {
	return fmt.Errorf("store: %s: %w", what, err)
}
