package store

import (
	"context"
	"database/sql"
	"net/netip"
	"time"

	"abuseguard"
)

// tx implements abuseguard.CaseTx on one SQL transaction.
type tx struct {
	s     *Store
	tx    *sql.Tx
	ctx   context.Context
	write bool
	// stmts caches statements prepared in this transaction: a batch of
	// 256 detections runs the same ~6 statements 256 times, and preparing
	// costs about as much as executing a small insert.
	stmts map[string]*sql.Stmt
	// blocks and events record what the watchers must hear of at commit.
	blocks, events bool
}

var _ abuseguard.CaseTx = (*tx)(nil)

func (t *tx) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
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
		// QueryRowContext on the transaction reports the same error
		// through Scan.
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
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

func bcol(b bool) int {
	if b {
		return 1
	}
	return 0
}
