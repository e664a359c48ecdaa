package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
)

// session is one connection held for the store's life, with the
// statements prepared on it: the writer's, and each of the readers'.
// Transactions are BEGIN ... COMMIT on it rather than sql.Tx:
// database/sql starts a goroutine for every query in a transaction (to
// close its rows when the transaction's context ends) and wraps every
// prepared statement anew for each transaction. Together with the scan
// below that was a quarter of the writer's time in a burst of detections,
// and a prepare per status request for the token lookup
// (BenchmarkIngest, BenchmarkAPI, November 2026).
//
// A session is used by one goroutine at a time: the writer under
// Store.writeMu, a reader while taken from Store.readers.
type session struct {
	db    *sql.DB
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

// open takes a connection if the session has none.
func (s *session) open(ctx context.Context) error {
	if s.conn != nil {
		return nil
	}
	c, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	s.conn, s.stmts = c, map[string]*sql.Stmt{}
	return nil
}

// begin starts a transaction with stmt ("BEGIN", "BEGIN IMMEDIATE"),
// taking a new connection if the one it had broke.
func (s *session) begin(ctx context.Context, stmt string) error {
	for range 2 {
		if err := s.open(ctx); err != nil {
			return err
		}
		_, err := s.conn.ExecContext(ctx, stmt)
		if err == nil {
			return nil
		}
		if !errors.Is(err, driver.ErrBadConn) && !errors.Is(err, sql.ErrConnDone) {
			return err
		}
		s.close()
	}
	return sql.ErrConnDone
}

// end commits or rolls back. It does not take ctx: a transaction begun
// must end even if the caller gave up meanwhile.
func (s *session) end(commit bool) error {
	q := "ROLLBACK"
	if commit {
		q = "COMMIT"
	}
	_, err := s.conn.ExecContext(context.Background(), q)
	if err != nil && commit {
		// A failed COMMIT can leave the transaction open (SQLITE_BUSY):
		// end it so the next one can begin.
		s.conn.ExecContext(context.Background(), "ROLLBACK")
	}
	return err
}

// stmt returns query prepared on the connection.
func (s *session) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	st, err := s.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts[query] = st
	return st, nil
}

// maxStatements bounds the statements a session keeps prepared.
const maxStatements = 512

// cached returns query prepared on the connection while the session keeps
// fewer than maxStatements, nil otherwise or if it does not prepare.
func (s *session) cached(ctx context.Context, query string) *sql.Stmt {
	if _, ok := s.stmts[query]; !ok && len(s.stmts) >= maxStatements {
		return nil
	}
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil
	}
	return st
}

func (s *session) close() error {
	if s.conn == nil {
		return nil
	}
	for _, st := range s.stmts {
		st.Close()
	}
	err := s.conn.Close()
	s.conn, s.stmts = nil, nil
	return err
}
