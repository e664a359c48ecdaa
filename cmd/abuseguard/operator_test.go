package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/inventory"
	"abuseguard/lifecycle"
	"abuseguard/store"
	"abuseguard/web/api"
)

// TestOperatorCLI runs the operator commands against a real API on
// loopback and checks their tables, --json and error reporting.
func TestOperatorCLI(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := store.Open(ctx, log, filepath.Join(t.TempDir(), "cli.db"), []string{"mail"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := lifecycle.DefaultConfiguration()
	cfg.WarmUp = 0
	invCfg := inventory.DefaultConfiguration()
	invCfg.Customers = []abuseguard.Customer{{ID: "C1", Name: "Cee One", Email: "c1@example.net", Language: abuseguard.LanguageEnglish}}
	invCfg.Servers = []abuseguard.Server{{ID: "S1", CustomerID: "C1", Prefixes: []netip.Prefix{netip.MustParsePrefix("100.70.0.10/32")}}}
	inv, err := inventory.New(invCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lifecycle.New(log, cfg, lifecycle.Dependencies{Store: s, Inventory: lifecycleInventory{inv}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(log, api.DefaultConfiguration(), api.Dependencies{Cases: l, Audit: l, Tokens: s, Detections: l})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	_, token, err := s.CreateToken(ctx, abuseguard.Token{Role: abuseguard.RoleOperator, Name: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	op := abuseguard.NewContextWithActor(ctx, abuseguard.Actor{Role: abuseguard.RoleOperator, Name: "t"})
	ids, err := l.IngestAll(op, []abuseguard.Detection{{ID: "d1", Kind: abuseguard.ReasonNetscan, Subkind: "horizontal",
		Address: netip.MustParseAddr("100.70.0.10"), ServerID: "S1", CustomerID: "C1", FirstSeen: now, LastSeen: now,
		Value: 500, Threshold: 100, Unit: "destinations"}})
	if err != nil {
		t.Fatal(err)
	}
	id := ids[0]

	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		cmd := newRootCmd(&out, &errOut)
		cmd.SetArgs(append(args, "--server", srv.URL, "--token", token))
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	for _, tc := range []struct {
		args []string
		want []string // lines or parts the output must hold
	}{
		{[]string{"status", "100.70.0.10"}, []string{"blocked  yes", "case     " + id + " (blocked)", "reason   netscan"}},
		{[]string{"status", "100.70.0.11"}, []string{"blocked  no"}},
		{[]string{"cases"}, []string{"CASE", id + "  100.70.0.10  netscan  blocked", "1 of 1 cases"}},
		{[]string{"cases", "list", "--state", "closed"}, []string{"0 of 0 cases"}},
		{[]string{"cases", "show", id}, []string{"state       blocked", "d1 netscan horizontal: 500 destinations (threshold 100)"}},
		{[]string{"access-ip", id, "8.8.4.4"}, []string{"case " + id + ": access IP 8.8.4.4"}},
		{[]string{"access-ip", id, "--clear"}, []string{"case " + id + ": no access IP"}},
		{[]string{"unblock", id, "--comment", "checked"}, []string{"case " + id + " unblocked, probation until"}},
		{[]string{"block", "100.70.0.10", "--reason", "abuse", "--duration", "2h"}, []string{"100.70.0.10 blocked in case AG-"}},
	} {
		out, err := run(tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
	out, err := run("cases", "show", id, "--json")
	var c abuseguard.Case
	if err != nil || json.Unmarshal([]byte(out), &c) != nil || c.ID != id {
		t.Fatalf("cases show --json = %v, %q", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"unblock", id}, "conflict (HTTP 409)", 1},
		{[]string{"approve", id}, "conflict (HTTP 409): Case " + id + " is unblocked: nothing waits for approval.", 1},
		{[]string{"cases", "show", "AG-000000"}, "not_found (HTTP 404): Case AG-000000 not found.", 1},
		{[]string{"block", "1.2.3.4"}, "invalid (HTTP 400): 1.2.3.4 is not a customer address.", 1},
		{[]string{"status", "not-an-address"}, "is not an IP address", 2},
		{[]string{"access-ip", id}, "give an ADDRESS or --clear", 2},
	} {
		_, err := run(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err) != tc.code {
			t.Errorf("%v = %v (exit %d), want %q and exit %d", tc.args, err, exitCode(err), tc.want, tc.code)
		}
	}
	var out2, errOut bytes.Buffer
	cmd := newRootCmd(&out2, &errOut)
	cmd.SetArgs([]string{"status", "100.70.0.10", "--server", srv.URL, "--token", ""})
	if err := cmd.ExecuteContext(ctx); err == nil || exitCode(err) != 2 {
		t.Errorf("status without a token = %v, want a usage error", err)
	}
}
