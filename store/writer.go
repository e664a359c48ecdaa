package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
)

// writer is the one connection all writes go through, held for the
// store's life. Write transactions are BEGIN IMMEDIATE ... COMMIT on it
// rather than sql.Tx: database/sql starts a goroutine for every query in a
// transaction (to close its rows when the transaction's context ends) and
// wraps every prepared statement anew for each transaction, together 6 %
// of the writer's time in a burst of detections (BenchmarkIngest, November
// 2026). Statements are prepared on the connection once and kept.
// Used under Store.writeMu only.
type writer struct {
	db    *sql.DB
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

// begin starts a write transaction, taking (again) the connection if it
// has none or the one it had broke.
func (w *writer) begin(ctx context.Context) error {
	for range 2 {
		if w.conn == nil {
			c, err := w.db.Conn(ctx)
			if err != nil {
				return err
			}
			w.conn, w.stmts = c, map[string]*sql.Stmt{}
		}
		_, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		if err == nil {
			return nil
		}
		if !errors.Is(err, driver.ErrBadConn) && !errors.Is(err, sql.ErrConnDone) {
			return err
		}
		w.close()
	}
	return sql.ErrConnDone
}

// end commits or rolls back. It does not take ctx: a transaction begun
// must end even if the caller gave up meanwhile.
func (w *writer) end(commit bool) error {
	q := "ROLLBACK"
	if commit {
		q = "COMMIT"
	}
	_, err := w.conn.ExecContext(context.Background(), q)
	if err != nil && commit {
		// A failed COMMIT can leave the transaction open (SQLITE_BUSY):
		// end it so the next one can begin.
		w.conn.ExecContext(context.Background(), "ROLLBACK")
	}
	return err
}

// stmt returns query prepared on the connection.
func (w *writer) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

func (w *writer) close() error {
	if w.conn == nil {
		return nil
	}
	for _, st := range w.stmts {
		st.Close()
	}
	err := w.conn.Close()
	w.conn, w.stmts = nil, nil
	return err
}
