package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"

	"abuseguard"
)

// details is the JSON of a detection's bounded lists.
type details struct {
	Attempts []abuseguard.Attempt      `json:"attempts,omitempty"`
	Peers    []abuseguard.PeerTotal    `json:"peers,omitempty"`
	Services []abuseguard.ServiceTotal `json:"services,omitempty"`
}

// DetectionOf implements abuseguard.CaseTx.
func (t *tx) DetectionOf(ctx context.Context, detectionID string) (string, bool, error) {
	var caseID string
	var final int
	err := t.queryRow(ctx, `SELECT case_id, final FROM detections WHERE id = ? ORDER BY seq DESC LIMIT 1`,
		detectionID).Scan(&caseID, &final)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, errNoDetection
	} else if err != nil {
		return "", false, internal("read detection", err)
	}
	return caseID, final != 0, nil
}

// detectionColumns are the columns PutDetection writes, in the order of
// detectionArgs.
const detectionColumns = `kind, subkind, address, direction, first_seen, last_seen, value, threshold,
	unit, packets, bytes, pps, bps, distinct_n, sampling_rate, final, attempts_total, details,
	evidence_files, evidence_bytes`

func detectionArgs(d *abuseguard.Detection, js []byte) []any {
	var size int64
	for _, e := range d.Evidence {
		size += int64(len(e.Data))
	}
	return []any{string(d.Kind), d.Subkind, d.Address.String(), string(d.Direction), tcol(d.FirstSeen),
		tcol(d.LastSeen), d.Value, d.Threshold, d.Unit, int64(d.Packets), int64(d.Bytes), d.PPS, d.BPS,
		int64(d.Distinct), int64(d.SamplingRate), bcol(d.Final), int64(d.AttemptsTotal), string(js),
		int64(len(d.Evidence)), size}
}

// PutDetection implements abuseguard.CaseTx. A report is inserted; only if
// the detection is stored already is it updated and its evidence replaced.
// Most reports are new (the first of a detection), and telling the two
// apart by the insert spares them the evidence delete an upsert would need
// (a statement per new detection, BenchmarkIngest, November 2026).
func (t *tx) PutDetection(ctx context.Context, caseID string, d *abuseguard.Detection) error {
	js, err := json.Marshal(details{Attempts: d.Attempts, Peers: d.Peers, Services: d.Services})
	if err != nil {
		return internal("encode detection", err)
	}
	args := detectionArgs(d, js)
	res, err := t.exec(ctx, `INSERT INTO detections (case_id, id, `+detectionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (case_id, id) DO NOTHING`, append([]any{caseID, d.ID}, args...)...)
	if err != nil && strings.Contains(err.Error(), "FOREIGN KEY") {
		return notFound("Case " + caseID)
	} else if err != nil {
		return internal("put detection", err)
	}
	var seq int64
	if n, _ := res.RowsAffected(); n > 0 {
		if seq, err = res.LastInsertId(); err != nil {
			return internal("put detection", err)
		}
	} else {
		if err := t.queryRow(ctx, `SELECT seq FROM detections WHERE case_id = ? AND id = ?`, caseID, d.ID).Scan(&seq); err != nil {
			return internal("put detection", err)
		}
		if _, err := t.exec(ctx, `UPDATE detections SET (`+detectionColumns+`) =
			(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE seq = ?`, append(args, seq)...); err != nil {
			return internal("put detection", err)
		}
		// The evidence being replaced may still be gathered: written
		// first, it goes with the delete.
		if err := t.flushEvidence(ctx); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM evidence WHERE detection_seq = ?`, seq); err != nil {
			return internal("replace evidence", err)
		}
	}
	for i, e := range d.Evidence {
		t.def.evidence = append(t.def.evidence, evidenceRow{seq, i, e})
	}
	return nil
}

// EvidenceUsage implements abuseguard.CaseTx. Each detection row keeps the
// count and size of its evidence, written with it: evidence still gathered
// for the commit is counted too.
func (t *tx) EvidenceUsage(ctx context.Context, caseID, exceptID string) (int, int64, error) {
	var files int
	var size int64
	err := t.queryRow(ctx, `SELECT coalesce(sum(evidence_files), 0), coalesce(sum(evidence_bytes), 0) FROM detections
		WHERE case_id = ? AND id != ?`, caseID, exceptID).Scan(&files, &size)
	if err != nil {
		return 0, 0, internal("evidence usage", err)
	}
	return files, size, nil
}

// Evidence implements abuseguard.CaseTx.
func (t *tx) Evidence(ctx context.Context, caseID string, n int) (*abuseguard.Evidence, error) {
	if n < 0 {
		return nil, notFound("Evidence")
	}
	if err := t.flushEvidence(ctx); err != nil {
		return nil, err
	}
	var e abuseguard.Evidence
	err := t.queryRow(ctx, `SELECT e.name, e.content_type, e.data FROM detections d
		JOIN evidence e ON e.detection_seq = d.seq
		WHERE d.case_id = ? ORDER BY d.seq, e.idx LIMIT 1 OFFSET ?`, caseID, n).Scan(&e.Name, &e.ContentType, &e.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Evidence")
	} else if err != nil {
		return nil, internal("read evidence", err)
	}
	return &e, nil
}

// detections returns a case's stored detections with their evidence's
// names and types (not the data), in the order Evidence numbers them.
func (t *tx) detections(ctx context.Context, caseID string) ([]abuseguard.Detection, error) {
	if err := t.flushEvidence(ctx); err != nil {
		return nil, err
	}
	rows, err := t.query(ctx, `SELECT seq, id, kind, subkind, address, direction, first_seen, last_seen, value,
		threshold, unit, packets, bytes, pps, bps, distinct_n, sampling_rate, final, attempts_total, details
		FROM detections WHERE case_id = ? ORDER BY seq`, caseID)
	if err != nil {
		return nil, internal("read detections", err)
	}
	defer rows.Close()
	var ds []abuseguard.Detection
	index := map[int64]int{}
	for rows.Next() {
		var (
			d                                   abuseguard.Detection
			seq                                 int64
			addr, js                            string
			first, last                         sql.NullInt64
			packets, bytes, distinct, rate, att int64
			final                               int
		)
		if err := rows.Scan(&seq, &d.ID, &d.Kind, &d.Subkind, &addr, &d.Direction, &first, &last, &d.Value,
			&d.Threshold, &d.Unit, &packets, &bytes, &d.PPS, &d.BPS, &distinct, &rate, &final, &att, &js); err != nil {
			return nil, internal("scan detection", err)
		}
		var x details
		if err := json.Unmarshal([]byte(js), &x); err != nil {
			return nil, internal("decode detection", err)
		}
		d.Address, _ = netip.ParseAddr(addr)
		d.FirstSeen, d.LastSeen = tval(first), tval(last)
		d.Packets, d.Bytes, d.Distinct = uint64(packets), uint64(bytes), uint64(distinct)
		d.SamplingRate, d.Final, d.AttemptsTotal = uint32(rate), final != 0, uint64(att)
		d.Attempts, d.Peers, d.Services = x.Attempts, x.Peers, x.Services
		index[seq] = len(ds)
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, internal("read detections", err)
	}
	rows.Close()
	erows, err := t.query(ctx, `SELECT e.detection_seq, e.name, e.content_type FROM detections d
		JOIN evidence e ON e.detection_seq = d.seq WHERE d.case_id = ? ORDER BY d.seq, e.idx`, caseID)
	if err != nil {
		return nil, internal("read evidence", err)
	}
	defer erows.Close()
	for erows.Next() {
		var seq int64
		var e abuseguard.Evidence
		if err := erows.Scan(&seq, &e.Name, &e.ContentType); err != nil {
			return nil, internal("scan evidence", err)
		}
		if i, ok := index[seq]; ok {
			ds[i].Evidence = append(ds[i].Evidence, e)
		}
	}
	return ds, erows.Err()
}
