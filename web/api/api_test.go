package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/lifecycle"
	"abuseguard/store"
	"abuseguard/web/api"

	"github.com/google/go-cmp/cmp"
)

// inventory is a small fixed inventory: customer C1 owns 100.70.0.10,
// C2 owns 100.70.1.10; the provider's space is 100.70.0.0/16.
type inventory struct{}

var (
	addrA = netip.MustParseAddr("100.70.0.10")
	addrB = netip.MustParseAddr("100.70.1.10")
	addrC = netip.MustParseAddr("100.70.0.12") // C1's second server, never detected
)

func (inventory) Locate(a netip.Addr) (lifecycle.Location, bool) {
	switch a {
	case addrA:
		return lifecycle.Location{ServerID: "S1", CustomerID: "C1"}, true
	case addrC:
		return lifecycle.Location{ServerID: "S3", CustomerID: "C1"}, true
	case addrB:
		return lifecycle.Location{ServerID: "S2", CustomerID: "C2"}, true
	}
	return lifecycle.Location{}, false
}
func (inventory) Protected(a netip.Addr) bool { return false }
func (inventory) ProviderSpace(a netip.Addr) bool {
	// 9.9.9.0/24 plays the provider's infrastructure here.
	return netip.MustParsePrefix("100.70.0.0/16").Contains(a) || netip.MustParsePrefix("9.9.9.0/24").Contains(a)
}

type env struct {
	t                *testing.T
	srv              *httptest.Server
	store            *store.Store
	l                *lifecycle.Lifecycle
	op, cust1, cust2 string // tokens
	caseA, caseB     string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := store.Open(ctx, log, filepath.Join(t.TempDir(), "api.db"), []string{"mail"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cfg := lifecycle.DefaultConfiguration()
	cfg.WarmUp = 0
	l, err := lifecycle.New(log, cfg, lifecycle.Dependencies{Store: s, Inventory: inventory{}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(log, api.DefaultConfiguration(), api.Dependencies{Cases: l, Audit: l, Tokens: s, Detections: l})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: httptest.NewServer(a), store: s, l: l}
	t.Cleanup(e.srv.Close)
	mint := func(tok abuseguard.Token) string {
		_, secret, err := s.CreateToken(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	e.op = mint(abuseguard.Token{Role: abuseguard.RoleOperator, Name: "alice"})
	e.cust1 = mint(abuseguard.Token{Role: abuseguard.RoleCustomer, CustomerID: "C1"})
	e.cust2 = mint(abuseguard.Token{Role: abuseguard.RoleCustomer, CustomerID: "C2"})
	e.caseA = e.detect(addrA, "dA")
	e.caseB = e.detect(addrB, "dB")
	return e
}

// detect posts a severe netscan detection (blocked at once) as operator.
func (e *env) detect(addr netip.Addr, id string) string {
	e.t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	body := map[string]any{"detections": []any{map[string]any{
		"id": id, "kind": "netscan", "subkind": "horizontal", "address": addr.String(), "direction": "out",
		"first_seen": now.Add(-time.Minute), "last_seen": now, "value": 500, "threshold": 100, "unit": "destinations",
		"evidence": []any{map[string]any{"name": "netscan.log", "content_type": "text/plain; charset=utf-8",
			"data": []byte("TIME (UTC) SRC ... " + addr.String())}},
	}}}
	var out api.DetectionsResponse
	e.mustDo("POST", "/api/v1/detections", e.op, body, http.StatusOK, &out)
	return out.Cases[0]
}

type response struct {
	status int
	body   []byte
	header http.Header
}

func (e *env) do(method, path, token string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, body: data, header: res.Header}
}

func (e *env) mustDo(method, path, token string, body any, status int, out any) response {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != status {
		e.t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.body, status)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return r
}

// snapshot is everything the tests check for "nothing changed".
func (e *env) snapshot() string {
	e.t.Helper()
	ctx := abuseguard.NewContextWithActor(context.Background(), abuseguard.Actor{Role: abuseguard.RoleOperator, Name: "t"})
	cs, _, err := e.l.FindCases(ctx, abuseguard.CaseFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	_, audits, _ := e.l.FindAudit(ctx, abuseguard.AuditFilter{})
	ds, _ := e.store.Deliveries(ctx)
	bs, _ := e.store.ActiveBlocks(ctx)
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s %s v%d %s|", c.ID, c.State, c.Version, c.AccessIP)
	}
	fmt.Fprintf(&b, "audit %d deliveries %d blocks %d", audits, len(ds), len(bs))
	return b.String()
}

func TestOpenAPI(t *testing.T) {
	e := newEnv(t)
	r := e.mustDo("GET", "/api/v1/openapi.json", "", nil, http.StatusOK, nil)
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	a, _ := api.New(slog.New(slog.NewTextHandler(io.Discard, nil)), api.DefaultConfiguration(),
		api.Dependencies{Cases: e.l, Audit: e.l, Tokens: e.store, Detections: e.l})
	served := a.Routes()
	sort.Strings(documented)
	sort.Strings(served)
	if diff := cmp.Diff(documented, served); diff != "" {
		t.Fatalf("openapi.json paths (-documented, +served):\n%s", diff)
	}
}

// TestFlow walks a case through the API: detection, status, evidence,
// access IP, statement, review.
func TestFlow(t *testing.T) {
	e := newEnv(t)
	var st abuseguard.Status
	e.mustDo("GET", "/api/v1/status/100.70.0.10", e.cust1, nil, http.StatusOK, &st)
	if !st.Blocked || st.CaseID != e.caseA || st.Reason != abuseguard.ReasonNetscan {
		t.Fatalf("status = %+v", st)
	}
	e.mustDo("GET", "/api/v1/status/100.70.0.12", e.cust1, nil, http.StatusOK, &st)
	if st.Blocked {
		t.Fatalf("status of an unblocked server = %+v", st)
	}
	var c abuseguard.Case
	e.mustDo("GET", "/api/v1/cases/"+e.caseA, e.cust1, nil, http.StatusOK, &c)
	if len(c.Detections) != 1 || len(c.Detections[0].Evidence) != 1 || c.Detections[0].Evidence[0].Data != nil {
		t.Fatalf("case detections = %+v", c.Detections)
	}
	r := e.mustDo("GET", "/api/v1/cases/"+e.caseA+"/evidence/0", e.cust1, nil, http.StatusOK, nil)
	if string(r.body) != "TIME (UTC) SRC ... 100.70.0.10" || r.header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		!strings.Contains(r.header.Get("Content-Disposition"), `filename=netscan.log`) {
		t.Fatalf("evidence = %q, %v", r.body, r.header)
	}
	e.mustDo("PUT", "/api/v1/cases/"+e.caseA+"/access-ip", e.cust1, `{"address": "8.8.4.4/32"}`, http.StatusOK, &c)
	if c.AccessIP != netip.MustParseAddr("8.8.4.4") || c.Block.AccessIP != c.AccessIP {
		t.Fatalf("access IP = %v, block %+v", c.AccessIP, c.Block)
	}
	e.mustDo("POST", "/api/v1/cases/"+e.caseA+"/statement", e.cust1,
		`{"cause": "weak password", "fix": "reinstalled", "prevention": "keys only", "commitment": true}`, http.StatusOK, &c)
	e.mustDo("POST", "/api/v1/cases/"+e.caseA+"/messages", e.cust1, `{"body": "done, please check"}`, http.StatusCreated, nil)
	e.mustDo("POST", "/api/v1/cases/"+e.caseA+"/review", e.op, `{"decision": "accept"}`, http.StatusOK, &c)
	if c.State != abuseguard.CaseUnblocked {
		t.Fatalf("state after acceptance = %s", c.State)
	}
	e.mustDo("GET", "/api/v1/status/100.70.0.10", e.cust1, nil, http.StatusOK, &st)
	if st.Blocked {
		t.Fatalf("status after unblock = %+v", st)
	}
	var list api.CaseList
	e.mustDo("GET", "/api/v1/cases?state=unblocked&reason=netscan", e.op, nil, http.StatusOK, &list)
	if list.Total != 1 || list.Cases[0].ID != e.caseA {
		t.Fatalf("cases = %+v", list)
	}
	var audit api.AuditList
	e.mustDo("GET", "/api/v1/audit?case="+e.caseA, e.op, nil, http.StatusOK, &audit)
	if audit.Total < 5 {
		t.Fatalf("audit = %+v", audit)
	}
	e.mustDo("POST", "/api/v1/blocks", e.op, `{"address": "100.70.0.12", "comment": "complaint", "duration": "2h"}`, http.StatusCreated, &c)
	if c.Reason != abuseguard.ReasonManual || !c.State.Blocked() {
		t.Fatalf("manual block = %+v", c)
	}
	e.mustDo("POST", "/api/v1/cases/"+c.ID+"/unblock", e.op, nil, http.StatusOK, &c)
}
