package store

import (
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"strings"
	"time"

	"abuseguard"
)

// caseBlockJoin reads a case and its block in one statement: the
// lifecycle reads a case per detection, and a second query per read cost
// about 8 % of ingest time (BenchmarkIngest, November 2026).
const caseBlockJoin = ` FROM cases LEFT JOIN blocks b ON b.case_id = cases.id`

const caseColumns = `id, reason, address, server_id, customer_id, host_group, state, action,
	protected, dry_run, note, escalation, access_ip, opened_at, updated_at, last_detection_at,
	warned_at, deadline, reminded_at, blocked_at, block_until, unblocked_at, probation_until,
	closed_at, detection_count, ongoing, next_check, version`

type scanner interface{ Scan(...any) error }

// caseRow holds what a case row is scanned into: one allocation for all
// 36 destinations instead of one each, and plain types, which
// database/sql assigns without reflection (a third of reading a case,
// BenchmarkIngest, November 2026).
type caseRow struct {
	c                                          abuseguard.Case
	reason, addr, state, action                string
	accessIP                                   sql.NullString
	protected, dryRun, escalation, count, ongo int64
	opened, updated                            int64
	times                                      [10]sql.NullInt64
	bCase, bAddr, bScope, bReason, bAccess     sql.NullString
	bSince, bUntil, bRev                       sql.NullInt64
	dest                                       [36]any
}

func scanCase(r scanner, withBlock bool) (*abuseguard.Case, error) {
	row := &caseRow{}
	c, tm := &row.c, &row.times
	row.dest = [36]any{&c.ID, &row.reason, &row.addr, &c.ServerID, &c.CustomerID, &c.HostGroup, &row.state,
		&row.action, &row.protected, &row.dryRun, &c.Note, &row.escalation, &row.accessIP, &row.opened,
		&row.updated, &tm[0], &tm[1], &tm[2], &tm[3], &tm[4], &tm[5], &tm[6], &tm[7], &tm[8], &row.count,
		&row.ongo, &tm[9], &c.Version,
		&row.bCase, &row.bAddr, &row.bScope, &row.bReason, &row.bAccess, &row.bSince, &row.bUntil, &row.bRev}
	dest := row.dest[:28]
	if withBlock {
		dest = row.dest[:]
	}
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	c.Reason, c.State, c.Action = abuseguard.Reason(row.reason), abuseguard.CaseState(row.state), abuseguard.Action(row.action)
	c.Address, _ = netip.ParseAddr(row.addr)
	c.AccessIP = aval(row.accessIP)
	c.Protected, c.DryRun = row.protected != 0, row.dryRun != 0
	c.Escalation, c.DetectionCount, c.Ongoing = int(row.escalation), int(row.count), int(row.ongo)
	c.OpenedAt, c.UpdatedAt = time.Unix(0, row.opened).UTC(), time.Unix(0, row.updated).UTC()
	c.LastDetectionAt, c.WarnedAt, c.Deadline, c.RemindedAt = tval(tm[0]), tval(tm[1]), tval(tm[2]), tval(tm[3])
	c.BlockedAt, c.BlockUntil, c.UnblockedAt = tval(tm[4]), tval(tm[5]), tval(tm[6])
	c.ProbationUntil, c.ClosedAt, c.NextCheck = tval(tm[7]), tval(tm[8]), tval(tm[9])
	if row.bCase.Valid {
		b := &abuseguard.Block{CaseID: row.bCase.String, Scope: abuseguard.BlockScope(row.bScope.String),
			Reason: abuseguard.Reason(row.bReason.String), AccessIP: aval(row.bAccess),
			Since: time.Unix(0, row.bSince.Int64).UTC(), Until: tval(row.bUntil), Revision: row.bRev.Int64}
		b.Address, _ = netip.ParseAddr(row.bAddr.String)
		c.Block = b
	}
	return c, nil
}

func caseArgs(c *abuseguard.Case) []any {
	// Plain strings and int64s: database/sql converts named types and
	// ints by reflection.
	return []any{string(c.Reason), c.Address.String(), c.ServerID, c.CustomerID, c.HostGroup, string(c.State),
		string(c.Action), bcol(c.Protected), bcol(c.DryRun), c.Note, int64(c.Escalation), acol(c.AccessIP),
		c.OpenedAt.UnixNano(), c.UpdatedAt.UnixNano(), tcol(c.LastDetectionAt), tcol(c.WarnedAt), tcol(c.Deadline),
		tcol(c.RemindedAt), tcol(c.BlockedAt), tcol(c.BlockUntil), tcol(c.UnblockedAt), tcol(c.ProbationUntil),
		tcol(c.ClosedAt), int64(c.DetectionCount), int64(c.Ongoing), tcol(c.NextCheck)}
}

// caseSelect selects a case with its block.
var caseSelect = `SELECT ` + qualify(caseColumns, "cases.") + `, b.case_id, b.address, b.scope, b.reason,
	b.access_ip, b.since, b.until, b.revision` + caseBlockJoin

func qualify(cols, prefix string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

func notFound(what string) error {
	return abuseguard.Errorf(abuseguard.ENOTFOUND, "%s not found.", what)
}

// The answers of the lookups that miss for every new case, made once.
var (
	errNoActiveCase = notFound("Case")
	errNoDetection  = notFound("Detection")
)

// Case implements abuseguard.CaseTx.
func (t *tx) Case(ctx context.Context, id string) (*abuseguard.Case, error) {
	c, err := scanCase(t.queryRow(ctx, caseSelect+` WHERE cases.id = ?`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Case " + id)
	} else if err != nil {
		return nil, internal("read case", err)
	}
	return c, nil
}

// ActiveCase implements abuseguard.CaseTx.
func (t *tx) ActiveCase(ctx context.Context, addr netip.Addr, reason abuseguard.Reason) (*abuseguard.Case, error) {
	if t.write && !t.s.cases.mayExist(addr, reason) {
		return nil, errNoActiveCase
	}
	c, err := scanCase(t.queryRow(ctx, caseSelect+`
		WHERE cases.address = ? AND cases.reason = ? AND cases.state != 'closed' ORDER BY cases.opened_at DESC LIMIT 1`,
		addr.String(), reason), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoActiveCase
	} else if err != nil {
		return nil, internal("read active case", err)
	}
	return c, nil
}

// BlockedCase implements abuseguard.CaseTx.
func (t *tx) BlockedCase(ctx context.Context, addr netip.Addr) (*abuseguard.Case, error) {
	c, err := scanCase(t.queryRow(ctx, caseSelect+`
		WHERE cases.address = ? AND cases.state IN ('blocked', 'statement_submitted', 'rejected', 'pending_approval')
		ORDER BY (cases.state = 'pending_approval'), cases.opened_at DESC LIMIT 1`, addr.String()), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Block")
	} else if err != nil {
		return nil, internal("read blocked case", err)
	}
	return c, nil
}

// FindCases implements abuseguard.CaseTx.
func (t *tx) FindCases(ctx context.Context, f abuseguard.CaseFilter) ([]*abuseguard.Case, int, error) {
	if f.Offset < 0 || f.Limit < 0 {
		return nil, 0, abuseguard.Errorf(abuseguard.EINVALID, "Offset and limit must not be negative.")
	}
	var where []string
	var args []any
	if len(f.States) > 0 {
		where = append(where, "cases.state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if f.Reason != "" {
		where, args = append(where, "cases.reason = ?"), append(args, f.Reason)
	}
	if f.Address.IsValid() {
		where, args = append(where, "cases.address = ?"), append(args, f.Address.String())
	}
	if f.ServerID != "" {
		where, args = append(where, "cases.server_id = ?"), append(args, f.ServerID)
	}
	if f.CustomerID != "" {
		where, args = append(where, "cases.customer_id = ?"), append(args, f.CustomerID)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "cases.opened_at >= ?"), append(args, f.Since.UnixNano())
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := t.queryRowOnce(ctx, `SELECT count(*) FROM cases`+cond, args...).Scan(&total); err != nil {
		return nil, 0, internal("count cases", err)
	}
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	rows, err := t.queryOnce(ctx, caseSelect+cond+
		` ORDER BY cases.opened_at DESC, cases.id LIMIT ? OFFSET ?`, append(args, limit, f.Offset)...)
	if err != nil {
		return nil, 0, internal("find cases", err)
	}
	defer rows.Close()
	var cases []*abuseguard.Case
	for rows.Next() {
		c, err := scanCase(rows, true)
		if err != nil {
			return nil, 0, internal("scan case", err)
		}
		cases = append(cases, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, internal("find cases", err)
	}
	return cases, total, nil
}

// DueCases implements abuseguard.CaseTx.
func (t *tx) DueCases(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := t.query(ctx, `SELECT id FROM cases WHERE next_check IS NOT NULL AND next_check <= ?
		ORDER BY next_check LIMIT ?`, now.UnixNano(), limit)
	if err != nil {
		return nil, internal("due cases", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, internal("due cases", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// CreateCase implements abuseguard.CaseTx.
func (t *tx) CreateCase(ctx context.Context, c *abuseguard.Case) error {
	if c.ID == "" || !c.Address.IsValid() || c.OpenedAt.IsZero() {
		return abuseguard.Errorf(abuseguard.EINVALID, "A case needs an id, an address and an opening time.")
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.OpenedAt
	}
	// ON CONFLICT DO NOTHING rather than a failing insert: on PostgreSQL a
	// failed statement would abort the whole transaction.
	res, err := t.exec(ctx, `INSERT INTO cases (`+caseColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (id) DO NOTHING`,
		append([]any{c.ID}, caseArgs(c)...)...)
	if err != nil {
		return internal("create case", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return abuseguard.Errorf(abuseguard.ECONFLICT, "Case %s exists.", c.ID)
	}
	t.s.cases.add(c.Address, c.Reason)
	c.Version = 1
	return nil
}

// UpdateCase implements abuseguard.CaseTx.
func (t *tx) UpdateCase(ctx context.Context, c *abuseguard.Case) error {
	res, err := t.exec(ctx, `UPDATE cases SET reason = ?, address = ?, server_id = ?, customer_id = ?,
		host_group = ?, state = ?, action = ?, protected = ?, dry_run = ?, note = ?, escalation = ?,
		access_ip = ?, opened_at = ?, updated_at = ?, last_detection_at = ?, warned_at = ?, deadline = ?,
		reminded_at = ?, blocked_at = ?, block_until = ?, unblocked_at = ?, probation_until = ?,
		closed_at = ?, detection_count = ?, ongoing = ?, next_check = ?, version = version + 1
		WHERE id = ? AND version = ?`, append(caseArgs(c), c.ID, c.Version)...)
	if err != nil {
		return internal("update case", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := t.Case(ctx, c.ID); err != nil {
			return err
		}
		return abuseguard.Errorf(abuseguard.ECONFLICT, "Case %s was changed meanwhile; try again.", c.ID)
	}
	c.Version++
	return nil
}

// CaseDetail implements abuseguard.CaseTx.
func (t *tx) CaseDetail(ctx context.Context, id string) (*abuseguard.Case, error) {
	c, err := t.Case(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Detections, err = t.detections(ctx, id); err != nil {
		return nil, err
	}
	if c.Statement, err = t.statement(ctx, id); err != nil {
		return nil, err
	}
	if c.Statuses, err = t.Statuses(ctx, id); err != nil {
		return nil, err
	}
	if c.Messages, err = t.messages(ctx, id); err != nil {
		return nil, err
	}
	return c, nil
}
