package api_test

import (
	"net/http"
	"strings"
	"testing"

	"abuseguard/web/api"
)

// endpoint is one request template: {id} is a case id, {addr} an address.
type endpoint struct {
	method, path string
	body         string
	operatorOnly bool
}

var caseEndpoints = []endpoint{
	{"GET", "/api/v1/cases/{id}", "", false},
	{"GET", "/api/v1/cases/{id}/evidence/0", "", false},
	{"POST", "/api/v1/cases/{id}/unblock", `{"comment": "x"}`, true},
	{"POST", "/api/v1/cases/{id}/approve", `{}`, true},
	{"PUT", "/api/v1/cases/{id}/access-ip", `{"address": "8.8.4.4"}`, false},
	{"DELETE", "/api/v1/cases/{id}/access-ip", "", false},
	{"POST", "/api/v1/cases/{id}/statement", `{"cause": "c", "fix": "f", "prevention": "p", "commitment": true}`, false},
	{"POST", "/api/v1/cases/{id}/review", `{"decision": "accept"}`, true},
	{"POST", "/api/v1/cases/{id}/messages", `{"body": "hello"}`, false},
}

// TestAuthorization: a customer token can never read, change or learn of
// another customer's server, case or evidence. Every endpoint is probed
// with the other customer's case id and with ids that do not exist; the
// answers must be the same and nothing may change.
func TestAuthorization(t *testing.T) {
	e := newEnv(t)
	before := e.snapshot()
	for _, ep := range caseEndpoints {
		for _, probe := range []string{e.caseB, "AG-000000", "AG-FFFFFF", "ag-000000", "AG-0", "..%2f..%2fetc", "AG-000000%00"} {
			path := strings.ReplaceAll(ep.path, "{id}", probe)
			got := e.do(ep.method, path, e.cust1, ep.body)
			// The answer for the other customer's case, with its id
			// replaced, must equal the answer for a missing case.
			missing := e.do(ep.method, strings.ReplaceAll(ep.path, "{id}", "AG-000000"), e.cust1, ep.body)
			want := http.StatusNotFound
			if ep.operatorOnly {
				want = http.StatusForbidden
			}
			if got.status != want {
				t.Errorf("%s %s as C1 = %d %s, want %d", ep.method, path, got.status, got.body, want)
			}
			if probe == e.caseB {
				norm := strings.ReplaceAll(string(got.body), e.caseB, "AG-000000")
				if norm != string(missing.body) || got.status != missing.status {
					t.Errorf("%s %s as C1 tells B's case from a missing one:\n%s\nvs\n%s", ep.method, path, got.body, missing.body)
				}
			}
		}
	}
	// Addresses: B's server, a non-customer address, and C1's own answer.
	b := e.do("GET", "/api/v1/status/100.70.1.10", e.cust1, nil)
	none := e.do("GET", "/api/v1/status/100.70.1.11", e.cust1, nil)
	if b.status != http.StatusNotFound || strings.ReplaceAll(string(b.body), "100.70.1.10", "100.70.1.11") != string(none.body) {
		t.Errorf("status of B's address as C1 = %d %s; of an unknown one %s", b.status, b.body, none.body)
	}
	// Listings are narrowed, whatever the filters say.
	for _, q := range []string{"", "?customer=C2", "?server=S2", "?address=100.70.1.10", "?state=blocked", "?limit=1000"} {
		var list api.CaseList
		e.mustDo("GET", "/api/v1/cases"+q, e.cust1, nil, http.StatusOK, &list)
		for _, c := range list.Cases {
			if c.CustomerID != "C1" {
				t.Errorf("GET /cases%s as C1 lists %s of %s", q, c.ID, c.CustomerID)
			}
		}
		if strings.Contains(q, "C2") || strings.Contains(q, "S2") || strings.Contains(q, "1.10") {
			if list.Total != 0 {
				t.Errorf("GET /cases%s as C1: total %d reveals B's cases", q, list.Total)
			}
		}
	}
	// Operator-only endpoints without a case.
	for _, ep := range []endpoint{
		{"GET", "/api/v1/audit", "", true},
		{"GET", "/api/v1/enforcement", "", true},
		{"POST", "/api/v1/blocks", `{"address": "100.70.1.10"}`, true},
		{"POST", "/api/v1/detections", `{"detections": []}`, true},
	} {
		if r := e.do(ep.method, ep.path, e.cust1, ep.body); r.status != http.StatusForbidden {
			t.Errorf("%s %s as customer = %d %s, want 403", ep.method, ep.path, r.status, r.body)
		}
	}
	// No token, a wrong token, a malformed header: 401 everywhere.
	all := append([]endpoint{{"GET", "/api/v1/status/100.70.0.10", "", false}, {"GET", "/api/v1/cases", "", false},
		{"GET", "/api/v1/audit", "", true}, {"GET", "/api/v1/enforcement", "", true},
		{"POST", "/api/v1/blocks", `{}`, true}, {"POST", "/api/v1/detections", `{}`, true}}, caseEndpoints...)
	for _, ep := range all {
		path := strings.ReplaceAll(ep.path, "{id}", e.caseA)
		for _, tok := range []string{"", "agt_forged", e.op + "x"} {
			if r := e.do(ep.method, path, tok, ep.body); r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `"unauthorized"`) {
				t.Errorf("%s %s with token %q = %d %s, want 401", ep.method, path, tok, r.status, r.body)
			}
		}
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("refused requests changed something:\n%s\n%s", before, after)
	}
	// C2 still sees its own case: the probes did not damage it.
	e.mustDo("GET", "/api/v1/cases/"+e.caseB, e.cust2, nil, http.StatusOK, nil)
}
