package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"abuseguard/web"
)

// TestBadInput sends every endpoint malformed JSON, wrong types, oversize
// bodies, unknown fields and invalid addresses: each answer is a 4xx with a
// JSON error whose message says what is wrong, and nothing changes.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	big := `{"comment": "` + strings.Repeat("x", 70<<10) + `"}`
	bigDetections := `{"detections": [{"id": "` + strings.Repeat("x", 33<<20) + `"}]}`
	type tc struct {
		method, path, body string
		status             int
		message            string // a part of the message
	}
	var cases []tc
	// Every JSON endpoint gets the generic bad bodies.
	for _, p := range []struct{ method, path string }{
		{"POST", "/api/v1/blocks"}, {"POST", "/api/v1/cases/{id}/unblock"}, {"POST", "/api/v1/cases/{id}/approve"},
		{"PUT", "/api/v1/cases/{id}/access-ip"}, {"POST", "/api/v1/cases/{id}/statement"},
		{"POST", "/api/v1/cases/{id}/review"}, {"POST", "/api/v1/cases/{id}/messages"}, {"POST", "/api/v1/detections"},
	} {
		cases = append(cases,
			tc{p.method, p.path, `{"address": `, 400, "ends too early"},
			tc{p.method, p.path, `{"address" "x"}`, 400, "Malformed JSON"},
			tc{p.method, p.path, `[1, 2]`, 400, "must be a JSON object"},
			tc{p.method, p.path, `{"no_such_field": 1}`, 400, "Unknown field \"no_such_field\""},
			tc{p.method, p.path, `{} {}`, 400, "exactly one JSON object"},
		)
		if p.path == "/api/v1/detections" {
			cases = append(cases, tc{p.method, p.path, bigDetections, 413, "larger than"})
		} else {
			cases = append(cases, tc{p.method, p.path, big, 413, "larger than"})
		}
	}
	cases = append(cases,
		// Wrong types.
		tc{"POST", "/api/v1/blocks", `{"address": 42}`, 400, `Field "address" must be a string`},
		tc{"POST", "/api/v1/cases/{id}/statement", `{"cause": "c", "fix": "f", "prevention": "p", "commitment": "yes"}`, 400, `Field "commitment" must be true or false`},
		tc{"POST", "/api/v1/detections", `{"detections": {"id": "x"}}`, 400, `Field "detections" must be an array`},
		tc{"POST", "/api/v1/detections", `{"detections": [{"id": "x", "value": "high"}]}`, 400, `Field "detections.value" must be a number`},
		// Invalid addresses and values.
		tc{"POST", "/api/v1/blocks", `{"address": "300.1.2.3"}`, 400, "is not an IP address"},
		tc{"POST", "/api/v1/blocks", `{"address": "100.70.0.0/24"}`, 400, "is not an IP address"},
		tc{"POST", "/api/v1/blocks", `{"address": "8.8.8.8"}`, 400, "not a customer address"},
		tc{"POST", "/api/v1/blocks", `{"address": "100.70.1.10", "duration": "forever"}`, 400, "duration must look like"},
		tc{"POST", "/api/v1/blocks", `{"address": "100.70.0.12", "duration": "1s"}`, 400, "between 1 minute"},
		tc{"POST", "/api/v1/blocks", `{"address": "100.70.0.12", "reason": "dislike"}`, 400, "Unknown reason"},
		tc{"PUT", "/api/v1/cases/{id}/access-ip", `{"address": "10.0.0.1"}`, 400, "private, reserved or multicast"},
		tc{"PUT", "/api/v1/cases/{id}/access-ip", `{"address": "8.8.8.0/24"}`, 400, "is a network"},
		tc{"PUT", "/api/v1/cases/{id}/access-ip", `{"address": "9.9.9.9"}`, 400, "provider's own address space"},
		tc{"PUT", "/api/v1/cases/{id}/access-ip", `{"address": "ff02::1"}`, 400, "private, reserved or multicast"},
		tc{"PUT", "/api/v1/cases/{id}/access-ip", `{"address": "fe80::1%eth0"}`, 400, "is not an IP address"},
		tc{"PUT", "/api/v1/cases/{id}/access-ip", `{"address": "100.70.5.5"}`, 400, "private, reserved or multicast"},
		tc{"PUT", "/api/v1/cases/{id}/access-ip", `{"address": ""}`, 400, "address is required"},
		tc{"POST", "/api/v1/cases/{id}/statement", `{"cause": " ", "fix": "f", "prevention": "p", "commitment": true}`, 400, "cause is required"},
		tc{"POST", "/api/v1/cases/{id}/statement", `{"cause": "c", "fix": "f", "prevention": "p", "commitment": false}`, 400, "commitment"},
		tc{"POST", "/api/v1/cases/{id}/review", `{"decision": "maybe"}`, 400, "accept or reject"},
		tc{"POST", "/api/v1/cases/{id}/review", `{"decision": "reject"}`, 400, "rejection reason is required"},
		tc{"POST", "/api/v1/cases/{id}/messages", `{"body": ""}`, 400, "message is required"},
		tc{"POST", "/api/v1/cases/{id}/messages", `{"body": "x", "kind": "shout"}`, 400, "Kind must be"},
		tc{"POST", "/api/v1/detections", `{"detections": []}`, 400, "Send 1 to 1000"},
		tc{"POST", "/api/v1/detections", `{"detections": [{"id": "d9", "kind": "netscan", "address": "not-an-ip"}]}`, 400, "ParseAddr"},
		tc{"POST", "/api/v1/detections", `{"detections": [{"id": "d9", "kind": "evil", "address": "100.70.0.10", "first_seen": "2026-11-24T10:00:00Z", "last_seen": "2026-11-24T10:01:00Z"}]}`, 400, "Unknown detection kind"},
		tc{"POST", "/api/v1/detections", `{"detections": [{"id": "d9", "kind": "netscan", "address": "100.70.0.10"}]}`, 400, "first_seen and last_seen are required"},
		tc{"POST", "/api/v1/detections", `{"detections": [{"id": "ok1", "kind": "netscan", "address": "100.70.0.12", "first_seen": "2026-11-24T10:00:00Z", "last_seen": "2026-11-24T10:01:00Z", "value": 500, "threshold": 100}, {"id": "d9", "kind": "netscan", "address": "224.0.0.1", "first_seen": "2026-11-24T10:00:00Z", "last_seen": "2026-11-24T10:01:00Z"}]}`, 400, "Detection 1"},
		tc{"POST", "/api/v1/detections", `{"detections": [{"id": "d9", "kind": "netscan", "address": "100.70.0.10", "first_seen": "2026-11-24T10:00:00Z", "last_seen": "2026-11-24T10:01:00Z", "evidence": [{"name": "../../etc/passwd", "content_type": "text/plain; charset=utf-8", "data": ""}]}]}`, 400, "Evidence file name"},
		tc{"POST", "/api/v1/detections", `{"detections": [{"id": "d9", "kind": "netscan", "address": "100.70.0.10", "first_seen": "2026-11-24T10:00:00Z", "last_seen": "2026-11-24T10:01:00Z", "evidence": [{"name": "netscan.log", "content_type": "text/plain; charset=utf-8"}]}]}`, 400, "Evidence file netscan.log is empty"},
		// Query strings and path values.
		tc{"GET", "/api/v1/status/not-an-ip", "", 400, "is not an IP address"},
		tc{"GET", "/api/v1/status/100.70.0.10?verbose=1", "", 400, "Unknown query parameter"},
		tc{"GET", "/api/v1/cases?state=bogus", "", 400, "Unknown state"},
		tc{"GET", "/api/v1/cases?limit=-1", "", 400, "limit must be a whole number"},
		tc{"GET", "/api/v1/cases?limit=5000", "", 400, "Limit must be between"},
		tc{"GET", "/api/v1/cases?since=yesterday", "", 400, "RFC 3339"},
		tc{"GET", "/api/v1/cases?address=1.2.3", "", 400, "is not an IP address"},
		tc{"GET", "/api/v1/cases?colour=red", "", 400, "Unknown query parameter"},
		tc{"GET", "/api/v1/cases?state=blocked&state=warned", "", 400, "more than once"},
		tc{"GET", "/api/v1/cases/{id}/evidence/x", "", 400, "whole number"},
		tc{"GET", "/api/v1/cases/{id}/evidence/-1", "", 400, "whole number"},
		tc{"GET", "/api/v1/audit?offset=x", "", 400, "offset must be a whole number"},
		tc{"GET", "/api/v1/nothing-here", "", 404, "No such endpoint"},
	)
	before := e.snapshot()
	for _, c := range cases {
		path := strings.ReplaceAll(c.path, "{id}", e.caseA)
		r := e.do(c.method, path, e.op, c.body)
		var eb web.ErrorBody
		json.Unmarshal(r.body, &eb)
		if r.status != c.status || !strings.Contains(eb.Error.Message, c.message) || r.header.Get("Content-Type") != "application/json" {
			body := string(r.body)
			if len(body) > 300 {
				body = body[:300]
			}
			t.Errorf("%s %s %.60q = %d %s; want %d with %q", c.method, path, c.body, r.status, body, c.status, c.message)
		}
	}
	// A non-JSON content type is refused too.
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/blocks", strings.NewReader("address=1.2.3.4"))
	req.Header.Set("Authorization", "Bearer "+e.op)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res, err := e.srv.Client().Do(req); err != nil || res.StatusCode != 400 {
		t.Errorf("form-encoded POST = %v, %v; want 400", res, err)
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("bad input changed something:\n%s\n%s", before, after)
	}
}
