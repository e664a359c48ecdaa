package store

import (
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"time"

	"abuseguard"
)

const blockColumns = `case_id, address, scope, reason, access_ip, since, until, revision`

func scanBlock(r scanner) (*abuseguard.Block, error) {
	var (
		b        abuseguard.Block
		addr     string
		accessIP sql.NullString
		since    int64
		until    sql.NullInt64
	)
	if err := r.Scan(&b.CaseID, &addr, &b.Scope, &b.Reason, &accessIP, &since, &until, &b.Revision); err != nil {
		return nil, err
	}
	b.Address, _ = netip.ParseAddr(addr)
	b.AccessIP = aval(accessIP)
	b.Since, b.Until = time.Unix(0, since).UTC(), tval(until)
	return &b, nil
}

// block returns a case's block, nil when it has none.
func (t *tx) block(ctx context.Context, caseID string) (*abuseguard.Block, error) {
	b, err := scanBlock(t.queryRow(ctx, `SELECT `+blockColumns+` FROM blocks WHERE case_id = ?`, caseID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, internal("read block", err)
	}
	return b, nil
}

// PutBlock implements abuseguard.CaseTx.
func (t *tx) PutBlock(ctx context.Context, b abuseguard.Block) error {
	_, err := t.exec(ctx, `INSERT INTO blocks (`+blockColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (case_id) DO UPDATE SET address = excluded.address, scope = excluded.scope,
			reason = excluded.reason, access_ip = excluded.access_ip, since = excluded.since,
			until = excluded.until, revision = excluded.revision`,
		b.CaseID, b.Address.String(), string(b.Scope), string(b.Reason), acol(b.AccessIP), b.Since.UnixNano(), tcol(b.Until), b.Revision)
	if err != nil {
		return internal("put block", err)
	}
	t.blocks = true
	return nil
}

// DeleteBlock implements abuseguard.CaseTx.
func (t *tx) DeleteBlock(ctx context.Context, caseID string) error {
	res, err := t.exec(ctx, `DELETE FROM blocks WHERE case_id = ?`, caseID)
	if err != nil {
		return internal("delete block", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		t.blocks = true
	}
	return nil
}

// Statuses implements abuseguard.CaseTx.
func (t *tx) Statuses(ctx context.Context, caseID string) ([]abuseguard.BlockStatus, error) {
	rows, err := t.query(ctx, `SELECT case_id, enforcer, state, revision, detail, updated_at
		FROM block_statuses WHERE case_id = ? ORDER BY enforcer`, caseID)
	if err != nil {
		return nil, internal("read block statuses", err)
	}
	defer rows.Close()
	var ss []abuseguard.BlockStatus
	for rows.Next() {
		var s abuseguard.BlockStatus
		var at int64
		if err := rows.Scan(&s.CaseID, &s.Enforcer, &s.State, &s.Revision, &s.Detail, &at); err != nil {
			return nil, internal("scan block status", err)
		}
		s.UpdatedAt = time.Unix(0, at).UTC()
		ss = append(ss, s)
	}
	return ss, rows.Err()
}

// ActiveBlocks implements abuseguard.BlockService.
func (s *Store) ActiveBlocks(ctx context.Context) ([]abuseguard.Block, error) {
	var bs []abuseguard.Block
	err := s.View(ctx, func(atx abuseguard.CaseTx) error {
		rows, err := atx.(*tx).query(ctx, `SELECT `+blockColumns+` FROM blocks ORDER BY address, case_id`)
		if err != nil {
			return internal("active blocks", err)
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBlock(rows)
			if err != nil {
				return internal("scan block", err)
			}
			bs = append(bs, *b)
		}
		if err := rows.Err(); err != nil {
			return internal("active blocks", err)
		}
		return nil
	})
	return bs, err
}

// SetBlockStatuses implements abuseguard.BlockService.
func (s *Store) SetBlockStatuses(ctx context.Context, statuses []abuseguard.BlockStatus) error {
	for _, st := range statuses {
		switch st.State {
		case abuseguard.EnforcePending, abuseguard.EnforceApplied, abuseguard.EnforceFailed:
		default:
			return abuseguard.Errorf(abuseguard.EINVALID, "Unknown enforcement state %q.", st.State)
		}
		if st.Enforcer == "" {
			return abuseguard.Errorf(abuseguard.EINVALID, "A block status needs the enforcer's name.")
		}
	}
	return s.Update(ctx, func(atx abuseguard.CaseTx) error {
		t := atx.(*tx)
		for _, st := range statuses {
			// INSERT ... SELECT ... WHERE EXISTS ignores reports on blocks
			// withdrawn meanwhile instead of failing the whole batch.
			_, err := t.exec(ctx, `INSERT INTO block_statuses (case_id, enforcer, state, revision, detail, updated_at)
				SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM blocks WHERE case_id = ?)
				ON CONFLICT (case_id, enforcer) DO UPDATE SET state = excluded.state,
					revision = excluded.revision, detail = excluded.detail, updated_at = excluded.updated_at`,
				st.CaseID, st.Enforcer, st.State, st.Revision, st.Detail, st.UpdatedAt.UnixNano(), st.CaseID)
			if err != nil {
				return internal("set block status", err)
			}
		}
		return nil
	})
}
