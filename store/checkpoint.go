package store

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// walBackstopPages is where the writer checkpoints the WAL itself: only
// when the checkpointer has fallen that far behind.
const walBackstopPages = 8192

// checkpointInterval is how often the checkpointer copies committed pages
// from the WAL into the database file when something was committed. A
// longer interval copies a page changed by many commits once; the WAL
// stays small either way (well under walBackstopPages at 10 000
// detections/s).
const checkpointInterval = 200 * time.Millisecond

// checkpointer copies the WAL into the database file on its own connection
// and goroutine. Done by the writer, SQLite's automatic checkpoint cost
// 11-15 % of the committer's time in a burst of new cases (BenchmarkIngest,
// November 2026); here it runs beside it. PASSIVE never waits for readers
// or the writer: what it cannot copy now it copies next time.
type checkpointer struct {
	log  *slog.Logger
	db   *sql.DB
	kick chan struct{} // a commit happened since the last checkpoint
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newCheckpointer(log *slog.Logger, db *sql.DB) *checkpointer {
	return &checkpointer{log: log, db: db, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

func (c *checkpointer) start() {
	c.wg.Add(1)
	go c.run()
}

// committed tells the checkpointer there is something to copy. It never
// blocks.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer c.wg.Done()
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		select {
		case <-c.kick:
		default:
			continue // nothing committed since the last one
		}
		if err := c.checkpoint(); err != nil {
			// The writer's own checkpoint past walBackstopPages keeps
			// the WAL bounded meanwhile.
			c.log.Warn("wal checkpoint failed", "error", err)
		}
	}
}

func (c *checkpointer) checkpoint() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var busy, log, copied int
	return c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied)
}

// stop ends the goroutine and closes the connection. The database file
// need not be checkpointed: SQLite does it when the last connection
// closes, and a WAL left behind is replayed at the next open.
func (c *checkpointer) stop() error {
	c.once.Do(func() { close(c.done) })
	c.wg.Wait()
	return c.db.Close()
}
