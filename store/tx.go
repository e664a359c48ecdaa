package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net/netip"
	"time"

	"abuseguard"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// tx implements abuseguard.CaseTx on one SQL transaction of a session:
// a reader's, or the writer's.
type tx struct {
	s    *Store
	sess *session
	ctx  context.Context
	// bg is ctx without its cancellation, made once: one per statement was
	// 4 % of the writer's allocations (BenchmarkIngest, November 2026).
	bg    context.Context
	write bool
	// blocks and events record what the watchers must hear of at commit.
	blocks, events bool
	// def gathers rows of the append-only tables (write transactions).
	def deferred
	// own is def's mark when the running change began; wrote says whether
	// the change has changed a row (UpdateBatch).
	own   mark
	wrote bool
	// broken is the first write whose failure may have rolled the whole
	// transaction back (disk full, I/O error), or left part of a statement
	// written (flushAudit): nothing more is written in it, and the batch
	// fails.
	broken error
}

var _ abuseguard.CaseTx = (*tx)(nil)

// Prepared statements run without the caller's cancellation: they are
// short, indexed, and a context that can end makes database/sql and the
// driver start a goroutine each per statement to watch it (a tenth of a
// status request). Queries built from a filter, which may scan, keep it.

func (t *tx) noCancel() context.Context {
	if t.bg == nil {
		t.bg = context.WithoutCancel(t.ctx)
	}
	return t.bg
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if !t.write {
		return nil, abuseguard.Errorf(abuseguard.EINTERNAL, "write in a read-only transaction")
	}
	if t.broken != nil {
		return nil, t.broken
	}
	st, err := t.sess.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(t.noCancel(), args...)
	if err != nil {
		if mayEndTransaction(err) {
			t.broken = err
		}
		return nil, err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		t.wrote = true
	}
	return res, nil
}

// mayEndTransaction reports whether a failed statement may have rolled
// back the whole transaction: the errors after which SQLite may do so
// ("Response To Errors Within A Transaction", sqlite.org/lang_transaction),
// and a lost connection. Others (a constraint, a value too big, an
// argument of a wrong type) fail the statement alone, which SQLite undoes.
func mayEndTransaction(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_INTERRUPT:
			return true
		}
		return false
	}
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)
}

func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.sess.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.noCancel(), args...)
}

func (t *tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.sess.stmt(ctx, query)
	if err != nil {
		// The unprepared query reports the same error through Scan.
		return t.queryRowOnce(ctx, query, args...)
	}
	return st.QueryRowContext(t.noCancel(), args...)
}

// queryOnce and queryRowOnce run a query built from a filter with the
// caller's context. The filters combine into a few hundred queries at
// most, kept prepared like the others (preparing the page query cost as
// much as running it); past maxStatements a session runs them unprepared.
func (t *tx) queryOnce(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.sess.cached(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.sess.conn.QueryContext(ctx, query, args...)
}

func (t *tx) queryRowOnce(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.sess.cached(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.sess.conn.QueryRowContext(ctx, query, args...)
}

// Conversions between domain values and columns.

func tcol(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func tval(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func acol(a netip.Addr) any {
	if !a.IsValid() {
		return nil
	}
	return a.String()
}

func aval(s sql.NullString) netip.Addr {
	if !s.Valid {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(s.String)
	return a
}

func bcol(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
