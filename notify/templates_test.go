package notify

import (
	"context"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"abuseguard"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestEveryEventHasTemplates reads the EventType constants from event.go,
// so that a new event type fails here until it has a template in every
// language and is in EventTypes.
func TestEveryEventHasTemplates(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []abuseguard.EventType
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "EventType" {
				continue
			}
			for _, v := range vs.Values {
				declared = append(declared, abuseguard.EventType(strings.Trim(v.(*ast.BasicLit).Value, `"`)))
			}
		}
	}
	if len(declared) == 0 {
		t.Fatal("no EventType constants found in event.go")
	}
	if diff := cmp.Diff(EventTypes, declared); diff != "" {
		t.Fatalf("EventTypes (-got, +want from event.go):\n%s", diff)
	}
	for _, lang := range Languages {
		for _, typ := range declared {
			p := "templates/" + string(lang) + "/" + string(typ) + ".txt"
			if _, err := embedded.ReadFile(p); err != nil {
				t.Errorf("event %s has no %s template: %v", typ, lang, err)
			}
		}
	}
}

// goldenEvent is one event per type, with the data the lifecycle records.
func goldenEvents() []abuseguard.Event {
	dl := t0.Add(24 * time.Hour).Format(time.RFC3339)
	return []abuseguard.Event{
		{Type: abuseguard.EventWarned, Data: map[string]string{"deadline": dl}},
		{Type: abuseguard.EventReminder, Data: map[string]string{"deadline": dl}},
		{Type: abuseguard.EventBlocked, Data: map[string]string{"escalation": "1"}},
		{Type: abuseguard.EventAccessIPSet, Data: map[string]string{"access_ip": "192.0.2.44"}},
		{Type: abuseguard.EventStatementReceived},
		{Type: abuseguard.EventStatementRejected, Data: map[string]string{"reason": "The statement does not say how the password was leaked."}},
		{Type: abuseguard.EventUnblocked, Data: map[string]string{"comment": "Thanks, looks clean now.",
			"probation_until": t0.Add(30 * 24 * time.Hour).Format(time.RFC3339)}},
		{Type: abuseguard.EventFloodBlocked},
		{Type: abuseguard.EventFloodLifted},
		{Type: abuseguard.EventBreakerTripped, Data: map[string]string{"blocks": "20", "window": "10m0s", "first_case": "AG-7C54AE"}},
		{Type: abuseguard.EventPendingApproval, Data: map[string]string{"why": "circuit breaker"}},
	}
}

// goldenCase names the fixture cases: one per language and kind.
func goldenCase(lang abuseguard.Language, flood bool) string {
	return map[bool]map[abuseguard.Language]string{
		false: {abuseguard.LanguageGerman: "AG-7C54DE", abuseguard.LanguageEnglish: "AG-7C54AE"},
		true:  {abuseguard.LanguageGerman: "AG-F100DE", abuseguard.LanguageEnglish: "AG-F100AE"},
	}[flood][lang]
}

// TestGolden renders every template in both languages from a store case
// and compares subject, recipients, attachments and body with
// testdata/golden/<lang>/<event>.txt. Run with -update after changing a
// template, and read the diff.
func TestGolden(t *testing.T) {
	s := newStore(t)
	clk := &clock{t: t0}
	n := newNotifier(t, testConfig(nil), s, clk, nil)
	customers := map[abuseguard.Language]string{abuseguard.LanguageGerman: "C100", abuseguard.LanguageEnglish: "C200"}
	for _, lang := range Languages {
		for _, flood := range []bool{false, true} {
			// One open case per address and reason: one address per language.
			addr := map[abuseguard.Language]string{abuseguard.LanguageGerman: "203.0.113.7", abuseguard.LanguageEnglish: "203.0.113.9"}[lang]
			cs := caseSpec{id: goldenCase(lang, false), customer: customers[lang], server: "S1", addr: addr,
				reason: abuseguard.ReasonNetscan, state: abuseguard.CaseBlocked, evidence: true}
			if flood {
				cs.id, cs.reason = goldenCase(lang, true), abuseguard.ReasonIncomingFlood
			}
			addCase(t, s, cs)
		}
	}
	check := func(t *testing.T, file, got string) {
		t.Helper()
		path := filepath.Join("testdata", "golden", file)
		if *update {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if diff := cmp.Diff(got, string(want)); diff != "" {
			t.Fatalf("%s (-got, +want):\n%s", file, diff)
		}
	}
	for _, lang := range Languages {
		for _, e := range goldenEvents() {
			t.Run(string(lang)+"/"+string(e.Type), func(t *testing.T) {
				e.ID, e.Time = "ev-golden", t0
				if !forOperators(e.Type) || e.Type == abuseguard.EventPendingApproval {
					flood := e.Type == abuseguard.EventFloodBlocked || e.Type == abuseguard.EventFloodLifted
					e.CaseID, e.CustomerID = goldenCase(lang, flood), customers[lang]
				}
				n.cfg.Mail.Language = lang // the operator mails' language
				m, err := n.composeMail(context.Background(), e)
				if err != nil {
					t.Fatalf("composeMail(): %v", err)
				}
				var b strings.Builder
				b.WriteString("To: ")
				for _, a := range m.To {
					b.WriteString(a.Address + " ")
				}
				b.WriteString("\nSubject: " + m.Subject + "\n")
				for _, a := range m.Attachments {
					b.WriteString("Attachment: " + a.Name + " (" + a.ContentType + ")\n")
				}
				b.WriteString("\n" + m.Text)
				check(t, string(lang)+"/"+string(e.Type)+".txt", b.String())
			})
		}
		t.Run(string(lang)+"/"+templateDeliveryFailed, func(t *testing.T) {
			e := abuseguard.Event{ID: "ev-golden", Type: abuseguard.EventBlocked, CaseID: goldenCase(lang, false), Time: t0}
			info, err := n.load(context.Background(), e, false, 0)
			if err != nil {
				t.Fatal(err)
			}
			v := n.view(e, info, lang, false)
			v.Failure = &failure{Event: "blocked", Recipient: info.customer.Email, Attempts: 40, Error: "smtp mail.example.net: 550 5.1.1 no such user"}
			subject, body, err := n.tmpl.render(lang, templateDeliveryFailed, v)
			if err != nil {
				t.Fatal(err)
			}
			check(t, string(lang)+"/"+templateDeliveryFailed+".txt", "Subject: "+subject+"\n\n"+body)
		})
	}
}

// TestTemplateOverride replaces one template and one shared part from a
// directory; the others stay embedded.
func TestTemplateOverride(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "en"), 0o755)
	os.WriteFile(filepath.Join(dir, "en", "blocked.txt"), []byte(`{{define "subject"}}BLOCKED {{.Case.ID}}{{end}}{{define "body"}}{{template "signature" .}}{{end}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "en", "common.txt"), []byte(`{{define "signature"}}-- Example Hosting NOC{{end}}`), 0o644)
	s := newStore(t)
	cfg := testConfig(nil)
	cfg.Mail.Templates = dir
	n := newNotifier(t, cfg, s, &clock{t: t0}, nil)
	addCase(t, s, caseSpec{id: "AG-7C54AE", customer: "C200", server: "S2", addr: "198.51.100.20",
		reason: abuseguard.ReasonNetscan, state: abuseguard.CaseBlocked})
	type out struct{ Subject, Text string }
	var got []out
	for _, typ := range []abuseguard.EventType{abuseguard.EventBlocked, abuseguard.EventUnblocked} {
		m, err := n.composeMail(context.Background(), abuseguard.Event{ID: "ev-1", Type: typ, CaseID: "AG-7C54AE", CustomerID: "C200", Time: t0})
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(m.Text), "\n")
		got = append(got, out{m.Subject, lines[len(lines)-1]})
	}
	want := []out{{"BLOCKED AG-7C54AE", "-- Example Hosting NOC"}, {"[AG-7C54AE] 198.51.100.20 unblocked", "-- Example Hosting NOC"}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("overridden mails (-got, +want):\n%s", diff)
	}

	os.WriteFile(filepath.Join(dir, "en", "warned.txt"), []byte(`{{define "subject"}}{{.Nope}{{end}}`), 0o644)
	if _, err := loadTemplates(dir); err == nil || !strings.Contains(err.Error(), "template override en/warned.txt") {
		t.Fatalf("loadTemplates() with a broken override: %v, want an error naming en/warned.txt", err)
	}
}

func TestWhenAndNum(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct{ got, want string }{
		{when(t0, abuseguard.LanguageEnglish, berlin), "2024-10-23 06:47 CEST (UTC+02:00)"},
		{when(t0, abuseguard.LanguageGerman, berlin), "23.10.2024, 06:47 Uhr CEST (UTC+02:00)"},
		{when(t0.Add(30*24*time.Hour), abuseguard.LanguageGerman, berlin), "22.11.2024, 05:47 Uhr CET (UTC+01:00)"},
		{when(t0, abuseguard.LanguageEnglish, time.UTC), "2024-10-23 04:47 UTC"},
		{when(time.Time{}, abuseguard.LanguageEnglish, time.UTC), "-"},
		{num(62790.4, abuseguard.LanguageGerman), "62.790"},
		{num(uint64(1234567), abuseguard.LanguageEnglish), "1,234,567"},
		{num(-1000, abuseguard.LanguageEnglish), "-1,000"},
		{num(999, abuseguard.LanguageGerman), "999"},
		{num("20", abuseguard.LanguageGerman), "20"},
		{dur("10m0s"), "10 min"},
		{dur("1h30m0s"), "1 h 30 min"},
		{dur("45s"), "45 s"},
		{dur("soon"), "soon"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}
