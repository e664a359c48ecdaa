package lifecycle

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"abuseguard"

	"github.com/google/go-cmp/cmp"
)

const (
	netscan = abuseguard.ReasonNetscan
	flood   = abuseguard.ReasonIncomingFlood
	misconf = abuseguard.ReasonMisconfiguration
)

// TestTransitions walks every transition of the case state machine with the
// clock under the test's control.
func TestTransitions(t *testing.T) {
	tests := []struct {
		name   string
		config func(*Configuration)
		run    func(t *testing.T, e *env)
	}{
		{"warn, remind, deadline passes while it persists: blocked", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 150, false) // below 3× threshold: warn
			c := e.wantState(id, abuseguard.CaseWarned)
			if !c.Deadline.Equal(t0.Add(24 * time.Hour)) {
				t.Fatalf("deadline = %v", c.Deadline)
			}
			e.advance(19 * time.Hour) // reminder 4 h before the deadline is not due yet
			wantEvents(t, e, id, abuseguard.EventWarned)
			e.advance(time.Hour)
			wantEvents(t, e, id, abuseguard.EventWarned, abuseguard.EventReminder)
			e.advance(3*time.Hour + 30*time.Minute)
			e.mustDetect(addrA, netscan, 150, false) // still scanning 30 min before the deadline
			e.wantState(id, abuseguard.CaseWarned)
			e.advance(30 * time.Minute)
			c = e.wantState(id, abuseguard.CaseBlocked)
			if c.Block == nil || c.Block.Scope != abuseguard.ScopeBoth || !c.BlockedAt.Equal(t0.Add(24*time.Hour)) {
				t.Fatalf("block = %+v, blocked at %v", c.Block, c.BlockedAt)
			}
			wantEvents(t, e, id, abuseguard.EventWarned, abuseguard.EventReminder, abuseguard.EventBlocked)
		}},
		{"warn, condition ends before the deadline: closed", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 150, false)
			e.advance(10 * time.Minute)
			if err := e.finalOf(id); err != nil {
				t.Fatal(err)
			}
			e.advance(24 * time.Hour)
			e.wantState(id, abuseguard.CaseClosed)
			if len(e.blocks()) != 0 {
				t.Fatalf("ActiveBlocks() = %v", e.blocks())
			}
		}},
		{"warn, a detection still ongoing at the deadline: blocked", func(c *Configuration) {
			c.DetectionTimeout = 48 * time.Hour
		}, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 150, false)
			e.advance(2 * time.Hour)
			e.mustDetect(addrA, netscan, 150, false) // no final report yet
			e.advance(22 * time.Hour)
			e.wantState(id, abuseguard.CaseBlocked)
		}},
		{"detection after the deadline blocks at once", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 150, true)
			e.clock.Add(25 * time.Hour) // no timer run: the detection itself finds the deadline passed
			if got := e.mustDetect(addrA, netscan, 150, true); got != id {
				t.Fatalf("joined case %s, want %s", got, id)
			}
			e.wantState(id, abuseguard.CaseBlocked)
		}},
		{"severe netscan blocks at once", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 300, false) // 3× threshold
			e.wantState(id, abuseguard.CaseBlocked)
			wantEvents(t, e, id, abuseguard.EventBlocked)
			if diff := cmp.Diff(e.blocks(), []string{id + " 100.70.0.10 both"}); diff != "" {
				t.Fatalf("ActiveBlocks() (-got, +want):\n%s", diff)
			}
		}},
		{"a severe detection on a warned case blocks it", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 120, false)
			e.wantState(id, abuseguard.CaseWarned)
			e.advance(time.Hour)
			e.mustDetect(addrA, netscan, 1000, false)
			e.wantState(id, abuseguard.CaseBlocked)
		}},
		{"a detection's own later report past the factor blocks its warned case", nil, func(t *testing.T, e *env) {
			// A detector reports at the crossing (value = threshold) and
			// again as the condition grows and when it ends: the first
			// report can never be past the factor, later ones can.
			id := e.mustDetect(addrA, netscan, 100, false)
			e.wantState(id, abuseguard.CaseWarned)
			e.advance(time.Minute)
			d := e.get(id).Detections[0]
			d.Evidence = nil // the case lists evidence by name; a report brings its own
			d.Value = 200    // progress: still under 3×
			if _, err := e.l.Ingest(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			e.wantState(id, abuseguard.CaseWarned)
			d.Value, d.Final = 320, true
			if _, err := e.l.Ingest(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			e.wantState(id, abuseguard.CaseBlocked)
			wantEvents(t, e, id, abuseguard.EventWarned, abuseguard.EventBlocked)
		}},
		{"flood: blackhole, lifts once quiet, not while ongoing", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, flood, 500, false)
			c := e.wantState(id, abuseguard.CaseBlocked)
			if c.Block.Scope != abuseguard.ScopeInbound {
				t.Fatalf("flood scope = %s, want inbound", c.Block.Scope)
			}
			e.advance(30 * time.Minute) // ongoing: no lift although past flood_quiet
			e.wantState(id, abuseguard.CaseBlocked)
			if err := e.finalOf(id); err != nil {
				t.Fatal(err)
			}
			e.advance(14 * time.Minute)
			e.wantState(id, abuseguard.CaseBlocked)
			e.advance(time.Minute)
			e.wantState(id, abuseguard.CaseClosed)
			wantEvents(t, e, id, abuseguard.EventFloodBlocked, abuseguard.EventFloodLifted)
			if len(e.blocks()) != 0 {
				t.Fatalf("ActiveBlocks() = %v after the lift", e.blocks())
			}
		}},
		{"flood: a final report that never comes times out", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, flood, 500, false)
			e.advance(59 * time.Minute)
			e.wantState(id, abuseguard.CaseBlocked)
			e.advance(time.Minute)
			e.wantState(id, abuseguard.CaseClosed)
		}},
		{"flood: a new attack report keeps the blackhole", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, flood, 500, true)
			e.advance(10 * time.Minute)
			e.mustDetect(addrA, flood, 500, true)
			e.advance(10 * time.Minute)
			e.wantState(id, abuseguard.CaseBlocked)
			e.advance(5 * time.Minute)
			e.wantState(id, abuseguard.CaseClosed)
		}},
		{"statement, rejection, statement, acceptance, probation, closed", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 500, true)
			st := abuseguard.Statement{Cause: "weak ssh password", Fix: "reinstalled", Prevention: "keys only", Commitment: true}
			if _, err := e.l.SubmitStatement(customer1, id, st); err != nil {
				t.Fatal(err)
			}
			e.wantState(id, abuseguard.CaseStatementSubmitted)
			_, err := e.l.SubmitStatement(customer1, id, st)
			wantCode(t, "second statement", err, abuseguard.ECONFLICT)
			if _, err := e.l.Review(operator, id, abuseguard.Review{Reason: "the log shows more"}); err != nil {
				t.Fatal(err)
			}
			e.wantState(id, abuseguard.CaseRejected)
			if _, err := e.l.SubmitStatement(customer1, id, st); err != nil {
				t.Fatal(err)
			}
			if _, err := e.l.Review(operator, id, abuseguard.Review{Accept: true}); err != nil {
				t.Fatal(err)
			}
			c := e.wantState(id, abuseguard.CaseUnblocked)
			if !c.ProbationUntil.Equal(t0.Add(30*24*time.Hour)) || c.Block != nil {
				t.Fatalf("probation until %v, block %v", c.ProbationUntil, c.Block)
			}
			e.advance(30 * 24 * time.Hour)
			e.wantState(id, abuseguard.CaseClosed)
			wantEvents(t, e, id, abuseguard.EventBlocked, abuseguard.EventStatementReceived,
				abuseguard.EventStatementRejected, abuseguard.EventStatementReceived, abuseguard.EventUnblocked)
		}},
		{"repeat offence within probation escalates; probation doubles", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 500, true)
			if _, err := e.l.Unblock(operator, id, "false positive?"); err != nil {
				t.Fatal(err)
			}
			e.advance(24 * time.Hour)
			if got := e.mustDetect(addrA, netscan, 110, true); got != id { // mild, but a repeat
				t.Fatalf("repeat opened %s, want case %s reopened", got, id)
			}
			c := e.wantState(id, abuseguard.CaseBlocked)
			if c.Escalation != 1 || c.Note != noteEscalated {
				t.Fatalf("escalation %d note %q", c.Escalation, c.Note)
			}
			if _, err := e.l.Unblock(operator, id, ""); err != nil {
				t.Fatal(err)
			}
			c = e.wantState(id, abuseguard.CaseUnblocked)
			if want := e.clock.Now().Add(60 * 24 * time.Hour); !c.ProbationUntil.Equal(want) {
				t.Fatalf("probation until %v, want %v", c.ProbationUntil, want)
			}
		}},
		{"after probation a detection opens a new case", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 500, true)
			e.l.Unblock(operator, id, "")
			e.clock.Add(31 * 24 * time.Hour) // no timer run: the detection closes it
			got := e.mustDetect(addrA, netscan, 500, true)
			if got == id {
				t.Fatalf("detection after probation joined %s", id)
			}
			e.wantState(id, abuseguard.CaseClosed)
			if c := e.wantState(got, abuseguard.CaseBlocked); c.Escalation != 0 {
				t.Fatalf("escalation %d on a new case", c.Escalation)
			}
		}},
		{"breaker trips past the cap, alerts once, resets after the window", func(c *Configuration) {
			c.Breaker = BreakerConfiguration{MaxBlocks: 2, Window: 10 * time.Minute}
		}, func(t *testing.T, e *env) {
			addrs := []netip.Addr{netip.MustParseAddr("100.70.2.1"), netip.MustParseAddr("100.70.2.2"),
				netip.MustParseAddr("100.70.2.3"), netip.MustParseAddr("100.70.2.4"), netip.MustParseAddr("100.70.2.5")}
			var ids []string
			for _, a := range addrs[:4] {
				ids = append(ids, e.mustDetect(a, netscan, 500, true))
				e.clock.Add(time.Second)
			}
			e.wantState(ids[0], abuseguard.CaseBlocked)
			e.wantState(ids[1], abuseguard.CaseBlocked)
			e.wantState(ids[2], abuseguard.CasePendingApproval)
			e.wantState(ids[3], abuseguard.CasePendingApproval)
			wantEvents(t, e, "", abuseguard.EventBreakerTripped) // once, not per pending block
			wantEvents(t, e, ids[3], abuseguard.EventPendingApproval)
			if len(e.blocks()) != 2 {
				t.Fatalf("ActiveBlocks() = %v, want 2", e.blocks())
			}
			e.advance(10 * time.Minute)
			id := e.mustDetect(addrs[4], netscan, 500, true)
			e.wantState(id, abuseguard.CaseBlocked)
			e.wantState(ids[2], abuseguard.CasePendingApproval) // still waits for an operator
			if _, err := e.l.Approve(operator, ids[2], "checked"); err != nil {
				t.Fatal(err)
			}
			e.wantState(ids[2], abuseguard.CaseBlocked)
			if _, err := e.l.Unblock(operator, ids[3], "not needed"); err != nil {
				t.Fatal(err)
			}
			e.wantState(ids[3], abuseguard.CaseUnblocked)
			es, _, _ := e.l.FindAudit(operator, abuseguard.AuditFilter{Action: "breaker.reset"})
			if len(es) != 1 {
				t.Fatalf("breaker.reset audit entries = %d, want 1", len(es))
			}
		}},
		{"protected address: recorded, never blocked", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrProt, netscan, 5000, false)
			c := e.wantState(id, abuseguard.CaseOpen)
			if !c.Protected || c.Note != noteProtected {
				t.Fatalf("protected %v note %q", c.Protected, c.Note)
			}
			_, err := e.l.Approve(operator, id, "")
			wantCode(t, "Approve(protected)", err, abuseguard.ECONFLICT)
			_, err = e.l.Block(operator, abuseguard.ManualBlock{Address: addrProt})
			wantCode(t, "Block(protected)", err, abuseguard.EINVALID)
			e.advance(time.Hour)
			e.wantState(id, abuseguard.CaseClosed)
			if len(e.blocks()) != 0 {
				t.Fatalf("ActiveBlocks() = %v", e.blocks())
			}
		}},
		{"warm-up holds, then enforces if detections continue", func(c *Configuration) { c.WarmUp = 2 * time.Minute }, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 500, false)
			stale := e.mustDetect(addrB, netscan, 500, true)
			if c := e.wantState(id, abuseguard.CaseOpen); c.Note != noteWarmUp {
				t.Fatalf("note %q, want warm-up", c.Note)
			}
			e.advance(2 * time.Minute)
			e.wantState(id, abuseguard.CaseBlocked)
			// Within the join window both continued in effect; the stale
			// one too is enforced since its detection is 2 min old.
			e.wantState(stale, abuseguard.CaseBlocked)
		}},
		{"warm-up: a case gone quiet is closed, not enforced", func(c *Configuration) {
			c.WarmUp = 2 * time.Hour
		}, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 500, true)
			e.advance(time.Hour)
			e.wantState(id, abuseguard.CaseClosed)
			e.advance(time.Hour)
			e.wantState(id, abuseguard.CaseClosed)
		}},
		{"dry-run records, enforces nothing, tells nobody", func(c *Configuration) { c.DryRun = true }, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 500, false)
			c := e.wantState(id, abuseguard.CaseOpen)
			if !c.DryRun || c.Note != "dry-run: would block" {
				t.Fatalf("dry-run %v note %q", c.DryRun, c.Note)
			}
			wantEvents(t, e, id)
			if len(e.blocks()) != 0 {
				t.Fatalf("ActiveBlocks() = %v in dry-run", e.blocks())
			}
		}},
		{"host group policy: ignore", func(c *Configuration) {
			ignore := abuseguard.ActionIgnore
			c.Policy.HostGroups = map[string]Overrides{"lab": {Netscan: Override{Action: &ignore}}}
		}, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA2, netscan, 5000, false)
			if c := e.wantState(id, abuseguard.CaseOpen); c.Note != noteIgnore || c.HostGroup != "lab" {
				t.Fatalf("note %q host group %q", c.Note, c.HostGroup)
			}
			if e.mustDetect(addrA2, netscan, 5000, false) != id {
				t.Fatalf("second detection did not join")
			}
			e.advance(59 * time.Minute)
			e.wantState(id, abuseguard.CaseOpen)
			e.advance(time.Minute)
			e.wantState(id, abuseguard.CaseClosed)
		}},
		{"timed manual block lifts itself into probation", nil, func(t *testing.T, e *env) {
			c, err := e.l.Block(operator, abuseguard.ManualBlock{Address: addrB, Comment: "spam complaint", Duration: 2 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if c.Reason != abuseguard.ReasonManual || c.Block == nil || !c.Block.Until.Equal(t0.Add(2*time.Hour)) {
				t.Fatalf("manual block %+v", c)
			}
			_, err = e.l.Block(operator, abuseguard.ManualBlock{Address: addrB})
			wantCode(t, "Block(already blocked)", err, abuseguard.ECONFLICT)
			e.advance(2 * time.Hour)
			e.wantState(c.ID, abuseguard.CaseUnblocked)
		}},
		{"manual block of a warned case blocks that case", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 150, false)
			c, err := e.l.Block(operator, abuseguard.ManualBlock{Address: addrA, Reason: netscan})
			if err != nil || c.ID != id {
				t.Fatalf("Block() = %v, %v; want case %s", c, err, id)
			}
			e.wantState(id, abuseguard.CaseBlocked)
		}},
		{"access IP: set, revision changes, cleared; withdrawn at unblock", nil, func(t *testing.T, e *env) {
			id := e.mustDetect(addrA, netscan, 500, false)
			rev0 := e.get(id).Block.Revision
			c, err := e.l.SetAccessIP(customer1, id, office)
			if err != nil {
				t.Fatal(err)
			}
			if c.Block.AccessIP != office || c.Block.Revision == rev0 {
				t.Fatalf("block %+v, revision was %d", c.Block, rev0)
			}
			bs, _ := e.store.ActiveBlocks(context.Background())
			if len(bs) != 1 || bs[0].AccessIP != office {
				t.Fatalf("ActiveBlocks() = %+v", bs)
			}
			if c, err = e.l.ClearAccessIP(customer1, id); err != nil || c.Block.AccessIP.IsValid() {
				t.Fatalf("ClearAccessIP() = %+v, %v", c, err)
			}
			_, err = e.l.ClearAccessIP(customer1, id)
			wantCode(t, "ClearAccessIP(none)", err, abuseguard.ECONFLICT)
			wantEvents(t, e, id, abuseguard.EventBlocked, abuseguard.EventAccessIPSet)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newEnv(t, tt.config))
		})
	}
}

// finalOf sends the final report of the case's first detection.
func (e *env) finalOf(caseID string) error {
	c := e.get(caseID)
	d := c.Detections[0]
	d.Final = true
	d.Evidence = []abuseguard.Evidence{{Name: "final.log", ContentType: "text/plain; charset=utf-8", Data: []byte("complete")}}
	got, err := e.l.Ingest(context.Background(), d)
	if err == nil && got != caseID {
		e.t.Fatalf("final report went to %s, want %s", got, caseID)
	}
	return err
}

// TestIllegalTransitions checks that every action that does not fit the
// state answers ECONFLICT and changes nothing.
func TestIllegalTransitions(t *testing.T) {
	st := abuseguard.Statement{Cause: "c", Fix: "f", Prevention: "p", Commitment: true}
	type op struct {
		name string
		fn   func(e *env, id string) error
	}
	unblock := op{"Unblock", func(e *env, id string) error { _, err := e.l.Unblock(operator, id, ""); return err }}
	approve := op{"Approve", func(e *env, id string) error { _, err := e.l.Approve(operator, id, ""); return err }}
	statement := op{"SubmitStatement", func(e *env, id string) error { _, err := e.l.SubmitStatement(operator, id, st); return err }}
	review := op{"Review", func(e *env, id string) error {
		_, err := e.l.Review(operator, id, abuseguard.Review{Accept: true})
		return err
	}}
	accessIP := op{"SetAccessIP", func(e *env, id string) error { _, err := e.l.SetAccessIP(operator, id, office); return err }}
	tests := []struct {
		state string
		setup func(e *env) string
		ops   []op
	}{
		{"warned", func(e *env) string { return e.mustDetect(addrA, netscan, 150, false) },
			[]op{unblock, approve, statement, review, accessIP}},
		{"open (protected)", func(e *env) string { return e.mustDetect(addrProt, netscan, 500, false) },
			[]op{unblock, approve, statement, review, accessIP}},
		{"blocked", func(e *env) string { return e.mustDetect(addrA, netscan, 500, false) },
			[]op{approve, review}},
		{"blocked flood", func(e *env) string { return e.mustDetect(addrA, flood, 500, false) },
			[]op{approve, statement, review, accessIP}},
		{"blocked misconfiguration", func(e *env) string {
			c, err := e.l.Block(operator, abuseguard.ManualBlock{Address: addrA, Reason: misconf})
			if err != nil {
				e.t.Fatal(err)
			}
			return c.ID
		}, []op{approve, accessIP}},
		{"unblocked", func(e *env) string {
			id := e.mustDetect(addrA, netscan, 500, false)
			e.l.Unblock(operator, id, "")
			return id
		}, []op{unblock, approve, statement, review, accessIP}},
		{"closed", func(e *env) string {
			id := e.mustDetect(addrA, flood, 500, true)
			e.advance(time.Hour)
			return id
		}, []op{unblock, approve, statement, review, accessIP}},
	}
	for _, tt := range tests {
		for _, o := range tt.ops {
			t.Run(tt.state+"/"+o.name, func(t *testing.T) {
				e := newEnv(t, nil)
				id := tt.setup(e)
				before := e.get(id)
				wantCode(t, o.name, o.fn(e, id), abuseguard.ECONFLICT)
				if diff := cmp.Diff(e.get(id), before, cmpAddr); diff != "" {
					t.Fatalf("case changed by a refused %s (-got, +want):\n%s", o.name, diff)
				}
			})
		}
	}
}

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// TestEscalatedReviewTakesTwoOperators: a repeat offender's statement is
// accepted by one operator and the unblock approved by another; the one
// who accepted cannot approve, and an acceptance ends with its statement.
func TestEscalatedReviewTakesTwoOperators(t *testing.T) {
	bob := abuseguard.NewContextWithActor(context.Background(), abuseguard.Actor{Role: abuseguard.RoleOperator, Name: "bob"})
	st := abuseguard.Statement{Cause: "c", Fix: "f", Prevention: "p", Commitment: true}
	accept, reject := abuseguard.Review{Accept: true}, abuseguard.Review{Reason: "no fix named"}
	e := newEnv(t, nil)
	id := e.mustDetect(addrA, netscan, 500, true)
	if _, err := e.l.Unblock(operator, id, ""); err != nil {
		t.Fatal(err)
	}
	e.advance(24 * time.Hour)
	e.mustDetect(addrA, netscan, 500, true) // repeat offence: escalated
	steps := []struct {
		name      string
		do        func() error
		wantCode  string
		wantState abuseguard.CaseState
		wantNote  string
	}{
		{"statement", func() error { _, err := e.l.SubmitStatement(customer1, id, st); return err }, "",
			abuseguard.CaseStatementSubmitted, noteEscalated},
		{"alice accepts", func() error { _, err := e.l.Review(operator, id, accept); return err }, "",
			abuseguard.CaseStatementSubmitted, "escalated: statement accepted by operator:alice, another operator approves the unblock"},
		{"alice cannot approve", func() error { _, err := e.l.Review(operator, id, accept); return err }, abuseguard.ECONFLICT,
			abuseguard.CaseStatementSubmitted, "escalated: statement accepted by operator:alice, another operator approves the unblock"},
		{"bob rejects", func() error { _, err := e.l.Review(bob, id, reject); return err }, "",
			abuseguard.CaseRejected, noteEscalated},
		{"new statement", func() error { _, err := e.l.SubmitStatement(customer1, id, st); return err }, "",
			abuseguard.CaseStatementSubmitted, noteEscalated},
		{"alice accepts the new one", func() error { _, err := e.l.Review(operator, id, accept); return err }, "",
			abuseguard.CaseStatementSubmitted, "escalated: statement accepted by operator:alice, another operator approves the unblock"},
		{"bob approves", func() error { _, err := e.l.Review(bob, id, accept); return err }, "",
			abuseguard.CaseUnblocked, ""},
	}
	for _, s := range steps {
		before := e.get(id)
		if err := s.do(); abuseguard.ErrorCode(err) != s.wantCode {
			t.Fatalf("%s: error %v, want code %q", s.name, err, s.wantCode)
		}
		c := e.get(id)
		if c.State != s.wantState || c.Note != s.wantNote {
			t.Fatalf("%s: state %s note %q, want %s %q", s.name, c.State, c.Note, s.wantState, s.wantNote)
		}
		if s.wantCode != "" {
			if diff := cmp.Diff(c, before, cmpAddr); diff != "" {
				t.Fatalf("%s: refused, yet the case changed (-got, +want):\n%s", s.name, diff)
			}
		}
		if blocked := len(e.blocks()) == 1; blocked != (s.wantState != abuseguard.CaseUnblocked) {
			t.Fatalf("%s: blocks %v", s.name, e.blocks())
		}
	}
	if c := e.get(id); !c.ProbationUntil.Equal(e.clock.Now().Add(60 * 24 * time.Hour)) {
		t.Fatalf("probation until %v, want 60 days (escalation 1)", c.ProbationUntil)
	}
	es, _, err := e.l.FindAudit(operator, abuseguard.AuditFilter{CaseID: id, Action: "unblock.approved"})
	if err != nil || len(es) != 1 || es[0].Actor != "operator:bob" || es[0].Detail != "statement accepted by operator:alice" {
		t.Fatalf("FindAudit(unblock.approved) = %+v, %v", es, err)
	}
	wantEvents(t, e, id, abuseguard.EventBlocked, abuseguard.EventUnblocked, abuseguard.EventBlocked,
		abuseguard.EventStatementReceived, abuseguard.EventStatementRejected, abuseguard.EventStatementReceived,
		abuseguard.EventUnblocked)
}
