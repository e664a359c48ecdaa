package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/notify/smtp/smtptest"
	"abuseguard/store"
	"abuseguard/web/api"
)

// TestCrashSafety kills serve with SIGKILL in the middle of a burst of
// detections and manual blocks sent through the API, and while a mail is
// between its data and the SMTP server's 250, restarts it, and checks that
// every acknowledged detection and block is there, nothing is duplicated,
// blocks match case states, the outbox holds a delivery per channel for
// every event, and every event's mail arrived: once, or twice under the
// same Message-ID for the one the kill interrupted.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs serve twice")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "abuseguard")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := freePort(t)
	base := "http://" + port
	// The SMTP server holds its reply to the 20th message until serve is
	// dead: that mail was sent, and serve could not mark it delivered.
	const heldAt = 20
	var (
		received   atomic.Int32
		heldEvent  atomic.Value // the held message's event id
		held, hold = make(chan struct{}), make(chan struct{})
		holdOnce   sync.Once
	)
	releaseHold := func() { holdOnce.Do(func() { close(hold) }) }
	t.Cleanup(releaseHold)
	smtpSrv := smtptest.NewServer(t, smtptest.Options{Username: "ag", Password: "crash-test-smtp",
		OnData: func(m smtptest.Message) error {
			if received.Add(1) == heldAt {
				if p, err := smtptest.Parse(m.Data); err == nil {
					heldEvent.Store(p.Header.Get("X-Abuseguard-Event-Id"))
				}
				close(held)
				<-hold
			}
			return nil
		}})
	cfgFile := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`data_dir: %s
web:
  listen: %s
store:
  channels: [mail, "webhook:ops"]
notify:
  mail:
    from: "Abuse Desk <abuse@hosting.example>"
    # The burst's customers are not in the inventory: their mails go to
    # the operators.
    operators: [noc@hosting.example]
  smtp:
    host: 127.0.0.1
    port: %d
    tls: starttls
    ca_file: %s
    username: ag
    password: crash-test-smtp
    timeout: 2s
  delivery:
    lease: 5s
    poll_interval: 500ms
  webhooks:
    # Nothing listens on the discard port: deliveries fail and stay in the
    # outbox, which is what the crash test counts.
    - name: ops
      url: http://127.0.0.1:9/hook
      secret: crash-test-webhook-secret
      timeout: 1s
lifecycle:
  warm_up: 0s
  max_detections: 10000
`, filepath.Join(dir, "data"), port, smtpSrv.Port(), smtpSrv.CAFile())), 0o600)
	out, err := exec.Command(bin, "-c", cfgFile, "token", "create", "--role", "operator", "--name", "crash").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("token create: %v\n%s", err, stderr)
	}
	token := strings.TrimSpace(string(out))

	first := startServe(t, bin, cfgFile, base, filepath.Join(dir, "serve1.log"))

	// The burst: workers send batches of detections and manual blocks;
	// every 200 answer is recorded as acknowledged.
	var (
		mu        sync.Mutex
		ackedDet  = map[string]string{} // detection id -> case id
		ackedBlk  = map[string]bool{}   // case id of acknowledged manual blocks
		acked     atomic.Int64
		wg        sync.WaitGroup
		client    = &http.Client{Timeout: 5 * time.Second}
		addresses = 120
	)
	addrOf := func(n int) netip.Addr { return netip.AddrFrom4([4]byte{100, 80, byte(n / 250), byte(n%250 + 1)}) }
	for w := range 4 {
		wg.Go(func() {
			for i := 0; i < 100000; i++ {
				var ds []abuseguard.Detection
				now := time.Now().UTC()
				// The last detection of a batch is a mild misconfiguration
				// (a warning, nothing blocked) for an address that a
				// manual block targets next.
				manual := addresses + (w*1000+i)%200
				for j := range 10 {
					n := (w*7919 + i*31 + j*17) % addresses
					kind, value := abuseguard.ReasonNetscan, 500.0
					if n%5 == 0 {
						kind = abuseguard.ReasonIncomingFlood
					}
					if j == 9 {
						n, kind, value = manual, abuseguard.ReasonMisconfiguration, 150
					}
					ds = append(ds, abuseguard.Detection{ID: fmt.Sprintf("w%d-%d-%d", w, i, j), Kind: kind, Subkind: "horizontal",
						Address: addrOf(n), CustomerID: fmt.Sprintf("C%d", n%7), ServerID: fmt.Sprintf("S%d", n),
						FirstSeen: now.Add(-time.Minute), LastSeen: now, Value: value, Threshold: 100, Unit: "destinations",
						Final: j%2 == 1, Evidence: []abuseguard.Evidence{{Name: "netscan.log", ContentType: "text/plain; charset=utf-8",
							Data: bytes.Repeat([]byte("x"), 512)}}})
				}
				var res api.DetectionsResponse
				if post(client, base+"/api/v1/detections", token, api.DetectionsRequest{Detections: ds}, &res) != http.StatusOK {
					return // serve is gone
				}
				mu.Lock()
				for k, id := range res.Cases {
					ackedDet[ds[k].ID] = id
				}
				mu.Unlock()
				acked.Add(1)
				if i%2 == 0 {
					var c abuseguard.Case
					status := post(client, base+"/api/v1/blocks", token, map[string]any{"address": addrOf(manual).String(),
						"reason": "abuse", "comment": "burst"}, &c)
					if status == http.StatusCreated {
						mu.Lock()
						ackedBlk[c.ID] = true
						mu.Unlock()
					} else if status == 0 {
						return
					}
				}
			}
		})
	}
	// Kill mid-burst and mid-delivery: after 60 acknowledged batches and
	// with the 20th mail held, bounded by 60 s.
	deadline := time.Now().Add(60 * time.Second)
	isHeld := func() bool {
		select {
		case <-held:
			return true
		default:
			return false
		}
	}
	for (acked.Load() < 60 || !isHeld()) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	first.Wait()
	releaseHold()
	wg.Wait()
	if acked.Load() < 60 || !isHeld() {
		t.Fatalf("before the deadline: %d batches acknowledged (want 60), %d mails received (want %d)",
			acked.Load(), received.Load(), heldAt)
	}
	t.Logf("killed after %d acknowledged batches, %d detections, %d manual blocks", acked.Load(), len(ackedDet), len(ackedBlk))

	second := startServe(t, bin, cfgFile, base, filepath.Join(dir, "serve2.log"))
	// Every acknowledged detection is in the case it was acknowledged with,
	// exactly once across all cases.
	var list api.CaseList
	if get(client, base+"/api/v1/cases?limit=1000", token, &list) != http.StatusOK {
		t.Fatal("list cases failed")
	}
	if list.Total > 1000 {
		t.Fatalf("%d cases: more than one page", list.Total)
	}
	seen := map[string]string{}
	active := map[string]string{}
	for _, c := range list.Cases {
		var d abuseguard.Case
		if get(client, base+"/api/v1/cases/"+c.ID, token, &d) != http.StatusOK {
			t.Fatalf("GET case %s failed", c.ID)
		}
		for _, det := range d.Detections {
			if prev, dup := seen[det.ID]; dup {
				t.Errorf("detection %s in cases %s and %s", det.ID, prev, c.ID)
			}
			seen[det.ID] = c.ID
		}
		if d.DetectionCount != len(d.Detections) {
			t.Errorf("case %s counts %d detections, holds %d", c.ID, d.DetectionCount, len(d.Detections))
		}
		if c.State != abuseguard.CaseClosed {
			key := c.Address.String() + "/" + string(c.Reason)
			if prev, dup := active[key]; dup {
				t.Errorf("two active cases for %s: %s and %s", key, prev, c.ID)
			}
			active[key] = c.ID
		}
	}
	for det, caseID := range ackedDet {
		if seen[det] != caseID {
			t.Errorf("acknowledged detection %s of case %s: found in %q", det, caseID, seen[det])
		}
	}
	for id := range ackedBlk {
		var c abuseguard.Case
		if get(client, base+"/api/v1/cases/"+id, token, &c) != http.StatusOK || c.Reason != abuseguard.ReasonAbuse {
			t.Errorf("acknowledged manual block %s lost", id)
		}
	}
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(metrics), "abuseguard_lifecycle_breaker_trips_total") || !strings.Contains(string(metrics), "go_goroutines") || !strings.Contains(string(metrics), "abuseguard_api_requests_total") {
		t.Errorf("/metrics lacks the lifecycle's counters or the Go collector")
	}
	// The outbox drains: every mail delivery is marked delivered (the
	// held one once its lease of 5 s ran out), bounded by 2 minutes.
	dbPath := filepath.Join(dir, "data", "abuseguard.db")
	ro, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	undelivered := -1
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err := ro.QueryRow(`SELECT count(*) FROM deliveries WHERE channel = 'mail' AND delivered_at IS NULL`).Scan(&undelivered); err != nil {
			t.Fatal(err)
		}
		if undelivered == 0 {
			break
		}
	}
	ro.Close()
	if undelivered != 0 {
		t.Fatalf("%d mails still undelivered 2 minutes after the restart", undelivered)
	}
	second.Process.Signal(os.Interrupt)
	if err := second.Wait(); err != nil {
		t.Errorf("serve after SIGINT: %v", err)
	}

	// The store itself: integrity, blocks matching states, the outbox.
	db, err := sql.Open("sqlite", "file:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	var integrity string
	db.QueryRow("PRAGMA integrity_check").Scan(&integrity)
	db.Close()
	if integrity != "ok" {
		t.Fatalf("integrity_check = %q", integrity)
	}
	s, err := store.Open(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), dbPath, []string{"mail", "webhook:ops"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	blocks, _ := s.ActiveBlocks(context.Background())
	blocked := map[string]bool{}
	for _, b := range blocks {
		blocked[b.CaseID] = true
	}
	events := map[string][]abuseguard.EventType{}
	channels := map[string]int{}
	ds, _ := s.Deliveries(context.Background())
	for _, d := range ds {
		channels[d.Event.ID]++
		if channels[d.Event.ID] == 1 {
			events[d.Event.CaseID] = append(events[d.Event.CaseID], d.Event.Type)
		}
	}
	for id, n := range channels {
		if n != 2 {
			t.Errorf("event %s has %d deliveries, want one per channel (2)", id, n)
		}
	}
	// Every event's mail arrived, under one Message-ID: once, or twice
	// when the kill came between its sending and its marking (the held
	// one, and any other a worker had sent in that instant).
	type copies struct {
		n   int
		ids map[string]bool
	}
	mails := map[string]*copies{}
	for _, m := range smtpSrv.Messages() {
		p, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatalf("a received mail does not parse: %v", err)
		}
		ev := p.Header.Get("X-Abuseguard-Event-Id")
		if mails[ev] == nil {
			mails[ev] = &copies{ids: map[string]bool{}}
		}
		mails[ev].n++
		mails[ev].ids[p.Header.Get("Message-Id")] = true
	}
	heldID, _ := heldEvent.Load().(string)
	for id := range channels {
		c := mails[id]
		switch {
		case c == nil:
			t.Errorf("event %s: no mail arrived", id)
		case len(c.ids) != 1 || c.n > 2 || id == heldID && c.n != 2:
			t.Errorf("event %s: %d mails under Message-IDs %v, want one (two for the held one, %s) under one ID",
				id, c.n, c.ids, heldID)
		}
	}
	if heldID == "" || mails[heldID] == nil {
		t.Errorf("the held mail (event %q) is not among the received", heldID)
	}
	for id := range mails {
		if channels[id] == 0 {
			t.Errorf("a mail for event %s, which has no delivery in the outbox", id)
		}
	}
	for _, c := range list.Cases {
		if c.State.Blocked() != blocked[c.ID] {
			t.Errorf("case %s is %s but its block is in the desired set: %v", c.ID, c.State, blocked[c.ID])
		}
		want := abuseguard.EventBlocked
		switch {
		case c.Reason == abuseguard.ReasonMisconfiguration:
			want = abuseguard.EventWarned
		case c.State == abuseguard.CasePendingApproval:
			want = abuseguard.EventPendingApproval
		case c.Reason == abuseguard.ReasonIncomingFlood:
			want = abuseguard.EventFloodBlocked
		}
		if !hasEvent(events[c.ID], want) {
			t.Errorf("case %s (%s, %s) has events %v, missing %s", c.ID, c.Reason, c.State, events[c.ID], want)
		}
	}
	t.Logf("after restart: %d cases, %d blocks, %d events, %d detections, %d mails received", len(list.Cases), len(blocks),
		len(channels), len(seen), received.Load())
}

func hasEvent(es []abuseguard.EventType, want abuseguard.EventType) bool {
	for _, e := range es {
		if e == want {
			return true
		}
	}
	return false
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe starts serve and waits (up to 30 s) for /healthz.
func startServe(t *testing.T, bin, cfg, base, logFile string) *exec.Cmd {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", cfg, "serve")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		f.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return cmd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(logFile)
	t.Fatalf("serve did not become healthy within 30 s:\n%s", log)
	return nil
}

// post sends JSON and decodes the answer; 0 when the server is unreachable.
func post(c *http.Client, url, token string, in, out any) int {
	js, _ := json.Marshal(in)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(js))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return send(c, req, out)
}

func get(c *http.Client, url, token string, out any) int {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return send(c, req, out)
}

func send(c *http.Client, req *http.Request, out any) int {
	res, err := c.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return 0
	}
	if res.StatusCode < 300 && out != nil {
		if json.Unmarshal(data, out) != nil {
			return 0
		}
	}
	return res.StatusCode
}
