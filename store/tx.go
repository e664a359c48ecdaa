package store

import (
	"context"
	"database/sql"
	"net/netip"
	"time"

	"abuseguard"
)

// tx implements abuseguard.CaseTx on one SQL transaction: a read-only
// sql.Tx on the read pool, or the writer's connection in BEGIN IMMEDIATE.
type tx struct {
	s     *Store
	tx    *sql.Tx   // read transactions
	conn  *sql.Conn // write transactions
	ctx   context.Context
	write bool
	// stmts caches the statements used in this read transaction; pending
	// are queries not yet prepared on the read pool, prepared after it.
	stmts   map[string]*sql.Stmt
	pending []string
	// blocks and events record what the watchers must hear of at commit.
	blocks, events bool
	// def gathers rows of the append-only tables (write transactions).
	def deferred
}

var _ abuseguard.CaseTx = (*tx)(nil)

// prepared returns query prepared for this transaction. The writer keeps
// its statements; a read transaction takes the read pool's if it was used
// before, else prepares it here and queues it for the pool. Preparing the
// case query costs more than running it (40 % of a status request's CPU,
// BenchmarkAPI, November 2026).
func (t *tx) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if t.write {
		return t.s.w.stmt(ctx, query)
	}
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if shared := t.s.cached(query); shared != nil {
		st = t.tx.StmtContext(ctx, shared)
	} else {
		var err error
		if st, err = t.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		t.pending = append(t.pending, query)
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[query] = st
	return st, nil
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if !t.write {
		return nil, abuseguard.Errorf(abuseguard.EINTERNAL, "write in a read-only transaction")
	}
	st, err := t.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (t *tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.prepared(ctx, query)
	if err != nil {
		// The unprepared query reports the same error through Scan.
		return t.queryRowOnce(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// queryOnce and queryRowOnce run a query without keeping it prepared: for
// queries built from a filter, which vary.
func (t *tx) queryOnce(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if t.write {
		return t.conn.QueryContext(ctx, query, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t *tx) queryRowOnce(ctx context.Context, query string, args ...any) *sql.Row {
	if t.write {
		return t.conn.QueryRowContext(ctx, query, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
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
