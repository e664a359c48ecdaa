package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"abuseguard"
)

// statement returns a case's latest statement, nil when none.
func (t *tx) statement(ctx context.Context, caseID string) (*abuseguard.Statement, error) {
	var st abuseguard.Statement
	var commitment int
	var at int64
	err := t.queryRow(ctx, `SELECT cause, fix, prevention, commitment, submitted_at, submitted_by
		FROM statements WHERE case_id = ? ORDER BY id DESC LIMIT 1`, caseID).
		Scan(&st.Cause, &st.Fix, &st.Prevention, &commitment, &at, &st.SubmittedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, internal("read statement", err)
	}
	st.Commitment, st.SubmittedAt = commitment != 0, time.Unix(0, at).UTC()
	return &st, nil
}

// PutStatement implements abuseguard.CaseTx.
func (t *tx) PutStatement(ctx context.Context, caseID string, st abuseguard.Statement) error {
	_, err := t.exec(ctx, `INSERT INTO statements (case_id, cause, fix, prevention, commitment, submitted_at, submitted_by)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, caseID, st.Cause, st.Fix, st.Prevention, bcol(st.Commitment),
		st.SubmittedAt.UnixNano(), st.SubmittedBy)
	if err != nil {
		return internal("put statement", err)
	}
	return nil
}

// messages returns a case's thread, oldest first.
func (t *tx) messages(ctx context.Context, caseID string) ([]abuseguard.Message, error) {
	rows, err := t.query(ctx, `SELECT id, case_id, author, role, kind, body, created_at FROM messages
		WHERE case_id = ? ORDER BY id`, caseID)
	if err != nil {
		return nil, internal("read messages", err)
	}
	defer rows.Close()
	var ms []abuseguard.Message
	for rows.Next() {
		var m abuseguard.Message
		var at int64
		if err := rows.Scan(&m.ID, &m.CaseID, &m.Author, &m.Role, &m.Kind, &m.Body, &at); err != nil {
			return nil, internal("scan message", err)
		}
		m.CreatedAt = time.Unix(0, at).UTC()
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// AddMessage implements abuseguard.CaseTx.
func (t *tx) AddMessage(ctx context.Context, m *abuseguard.Message) error {
	res, err := t.exec(ctx, `INSERT INTO messages (case_id, author, role, kind, body, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, m.CaseID, m.Author, m.Role, m.Kind, m.Body, m.CreatedAt.UnixNano())
	if err != nil {
		return internal("add message", err)
	}
	m.ID, _ = res.LastInsertId()
	return nil
}

// AddAudit implements abuseguard.CaseTx. The entry is written with the
// transaction's others (see deferred).
func (t *tx) AddAudit(ctx context.Context, e abuseguard.AuditEntry) error {
	if !t.write {
		return abuseguard.Errorf(abuseguard.EINTERNAL, "write in a read-only transaction")
	}
	t.def.audit = append(t.def.audit, e)
	return nil
}

// FindAudit implements abuseguard.CaseTx.
func (t *tx) FindAudit(ctx context.Context, f abuseguard.AuditFilter) ([]abuseguard.AuditEntry, int, error) {
	if f.Offset < 0 || f.Limit < 0 {
		return nil, 0, abuseguard.Errorf(abuseguard.EINVALID, "Offset and limit must not be negative.")
	}
	if t.write {
		if err := t.flushAudit(ctx); err != nil {
			return nil, 0, err
		}
	}
	cond, args := auditCondition(f)
	var total int
	if err := t.queryRowOnce(ctx, `SELECT count(*) FROM audit`+cond, args...).Scan(&total); err != nil {
		return nil, 0, internal("count audit", err)
	}
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	rows, err := t.queryOnce(ctx, `SELECT id, time, actor, action, case_id, address, detail FROM audit`+
		cond+` ORDER BY id DESC LIMIT ? OFFSET ?`, append(args, limit, f.Offset)...)
	if err != nil {
		return nil, 0, internal("find audit", err)
	}
	defer rows.Close()
	var es []abuseguard.AuditEntry
	for rows.Next() {
		var e abuseguard.AuditEntry
		var at int64
		var addr sql.NullString
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.CaseID, &addr, &e.Detail); err != nil {
			return nil, 0, internal("scan audit", err)
		}
		e.Time, e.Address = time.Unix(0, at).UTC(), aval(addr)
		es = append(es, e)
	}
	return es, total, rows.Err()
}

// auditCondition is the WHERE clause of f with only the filters it sets.
// Filters that switched themselves off in SQL for an empty parameter kept
// SQLite from using the case and action indexes: a case's audit trail was
// a scan of the whole table.
func auditCondition(f abuseguard.AuditFilter) (string, []any) {
	var where []string
	var args []any
	if f.CaseID != "" {
		where, args = append(where, "case_id = ?"), append(args, f.CaseID)
	}
	if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, f.Since.UnixNano())
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// CountAudit implements abuseguard.CaseTx.
func (t *tx) CountAudit(ctx context.Context, action, actor string, since time.Time) (int, error) {
	if t.write {
		if err := t.flushAudit(ctx); err != nil {
			return 0, err
		}
	}
	var n int
	err := t.queryRow(ctx, `SELECT count(*) FROM audit WHERE action = ? AND actor = ? AND time >= ?`,
		action, actor, since.UnixNano()).Scan(&n)
	if err != nil {
		return 0, internal("count audit", err)
	}
	return n, nil
}

// Meta implements abuseguard.CaseTx.
func (t *tx) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := t.queryRow(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", internal("read meta", err)
	}
	return v, nil
}

// SetMeta implements abuseguard.CaseTx.
func (t *tx) SetMeta(ctx context.Context, key, value string) error {
	_, err := t.exec(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return internal("set meta", err)
	}
	return nil
}
