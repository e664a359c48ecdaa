package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/notify/smtp/smtptest"

	"github.com/google/go-cmp/cmp"
)

// crashEnv carries the child's crashSpec; without it TestCrashChild skips.
const crashEnv = "ABUSEGUARD_NOTIFY_CRASH_CHILD"

type crashSpec struct {
	DB     string
	Host   string
	Port   int
	CAFile string
}

const crashLease = 30 * time.Second

func crashConfig(spec crashSpec) Configuration {
	cfg := testConfig(nil)
	cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.CAFile = spec.Host, spec.Port, spec.CAFile
	cfg.SMTP.Username, cfg.SMTP.Password, cfg.SMTP.Timeout = "ag", "s3cret", 10*time.Second
	// One worker: mails go out one after the other, so the kill lands
	// after exactly two were sent and marked and the third was sent.
	cfg.Delivery.Workers, cfg.Delivery.Lease = 1, crashLease
	return cfg
}

// TestCrashChild is the process TestCrashBetweenSendAndMark kills: a
// notifier running its loop against the parent's SQLite file.
func TestCrashChild(t *testing.T) {
	env := os.Getenv(crashEnv)
	if env == "" {
		t.Skip("the child process of TestCrashBetweenSendAndMark")
	}
	var spec crashSpec
	if err := json.Unmarshal([]byte(env), &spec); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, spec.DB)
	n, err := New(discard(), crashConfig(spec), Dependencies{Store: s, Inventory: testInventory()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	<-time.After(2 * time.Minute)
	t.Fatal("not killed within 2 minutes")
}

// TestCrashBetweenSendAndMark kills a notifier process with SIGKILL after
// the SMTP server received a message and before the process could mark it
// delivered (the server holds its 250 reply until the process is dead).
// After a restart past the lease, no message is lost, and the one
// delivered twice carries the same Message-ID both times.
func TestCrashBetweenSendAndMark(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "abuseguard.db")
	s := openStore(t, db)
	addCase(t, s, caseSpec{id: "AG-7C54AE", customer: "C100", server: "S1", addr: "203.0.113.7",
		reason: abuseguard.ReasonNetscan, state: abuseguard.CaseBlocked, evidence: true})
	const events = 5
	for i := range events {
		addEvent(t, s, abuseguard.Event{ID: "ev-" + string(rune('1'+i)), Type: EventTypes[i], CaseID: "AG-7C54AE",
			CustomerID: "C100", Time: t0.Add(time.Duration(i) * time.Second)})
	}

	third, hold := make(chan struct{}), make(chan struct{})
	var received atomic.Int32
	srv := smtptest.NewServer(t, smtptest.Options{TLS: smtptest.StartTLS, Username: "ag", Password: "s3cret",
		OnData: func(smtptest.Message) error {
			if received.Add(1) == 3 {
				close(third)
				<-hold // no 250 before the sender is dead
			}
			return nil
		}})
	spec, _ := json.Marshal(crashSpec{DB: db, Host: srv.Host(), Port: srv.Port(), CAFile: srv.CAFile()})
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+string(spec))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-third:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		close(hold)
		t.Fatalf("the child sent %d messages in 2 minutes, want 3:\n%s", received.Load(), out.String())
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	close(hold)

	delivered := func() (n int) {
		ds, err := s.Deliveries(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if !d.DeliveredAt.IsZero() {
				n++
			}
		}
		return n
	}
	if got := delivered(); got != 2 {
		t.Fatalf("after the kill %d deliveries are marked, want 2 (the third was sent, not marked)\n%s", got, out.String())
	}

	// Restart: a new notifier on the same file, once the dead process's
	// leases have run out.
	clk := &clock{t: time.Now().Add(crashLease + time.Second)}
	n := newNotifier(t, crashConfig(crashSpec{Host: srv.Host(), Port: srv.Port(), CAFile: srv.CAFile()}), s, clk, nil)
	if got := runOnce(t, n); got != events-2 {
		t.Fatalf("RunOnce() after the restart handled %d, want %d", got, events-2)
	}
	if got := delivered(); got != events {
		t.Fatalf("%d of %d deliveries marked after the restart", got, events)
	}

	// Per event: how many copies arrived and under which Message-IDs.
	type copies struct {
		N   int
		IDs map[string]bool
	}
	got := map[string]copies{}
	for _, m := range srv.Messages() {
		p, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		ev := p.Header.Get("X-Abuseguard-Event-Id")
		c := got[ev]
		if c.IDs == nil {
			c.IDs = map[string]bool{}
		}
		c.N++
		c.IDs[p.Header.Get("Message-Id")] = true
		got[ev] = c
	}
	want := map[string]copies{}
	for i := range events {
		ev := "ev-" + string(rune('1'+i))
		want[ev] = copies{N: 1, IDs: map[string]bool{"<" + ev + "@example.net>": true}}
	}
	want["ev-3"] = copies{N: 2, IDs: want["ev-3"].IDs} // sent before the kill, and again
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("messages per event (-got, +want):\n%s", diff)
	}
}
