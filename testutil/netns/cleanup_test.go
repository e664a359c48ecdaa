package netns

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv names the file where TestHelperFailing writes what it created;
// set only when TestCleanupAfterFailure runs the test binary again.
const helperEnv = "AGH3_NETNS_HELPER_OUT"

// TestHelperFailing is not a test of its own: TestCleanupAfterFailure runs
// it in a child test binary. It creates a namespace with a process and a
// root-namespace veth, writes their names, and fails.
func TestHelperFailing(t *testing.T) {
	out := os.Getenv(helperEnv)
	if out == "" {
		t.Skip("helper for TestCleanupAfterFailure")
	}
	ns := New(t, testPrefix+"fail")
	rootIf, _ := Link(t, nil, ns, nil, nil)
	p := ns.Start(t, "sleep", "600")
	// A second process forked away from the one we track: cleanup must
	// find it through the namespace.
	ns.Start(t, "sh", "-c", "sleep 600 & echo $!; wait")
	rec := ns.Name + "\n" + rootIf + "\n" + strconv.Itoa(p.Pid()) + "\n"
	if err := os.WriteFile(out, []byte(rec), 0o600); err != nil {
		t.Fatalf("write helper record: %v", err)
	}
	t.Fatal("failing on purpose: cleanup must still remove everything")
}

func TestCleanupAfterFailure(t *testing.T) {
	RequireRoot(t)
	rec := filepath.Join(t.TempDir(), "created")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFailing$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+rec)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "failing on purpose") {
		t.Fatalf("helper test = %v, want it to fail on purpose:\n%s", err, out)
	}
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatalf("helper record: %v\n%s", err, out)
	}
	f := strings.Fields(string(b))
	name, rootIf, pid := f[0], f[1], f[2]

	if list, _ := exec.Command("ip", "netns", "list").Output(); containsLine(string(list), name) {
		t.Errorf("namespace %s still exists after the failed test", name)
	}
	if _, err := runIP(nil, "link", "show", rootIf); err == nil {
		t.Errorf("root-namespace veth %s still exists after the failed test", rootIf)
	}
	if _, err := os.Stat("/proc/" + pid); err == nil {
		t.Errorf("process %s still runs after the failed test", pid)
	}
}

func containsLine(list, name string) bool {
	sc := bufio.NewScanner(strings.NewReader(list))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// TestReapLeftover plays a killed test run: a namespace named like ours
// with a dead pid and a process inside must be gone after the next New.
func TestReapLeftover(t *testing.T) {
	RequireRoot(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pid := dead.Process.Pid
	const prefix = "agh3r-" // a prefix of its own: reaping runs once per prefix
	name := prefix + "left-" + strconv.Itoa(pid) + "-1"
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	inside := exec.Command("ip", "netns", "exec", name, "sleep", "600")
	if err := inside.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = inside.Wait(); close(waited) }()
	t.Cleanup(func() { _ = inside.Process.Kill(); <-waited })

	New(t, prefix+"next")

	if list, _ := exec.Command("ip", "netns", "list").Output(); containsLine(string(list), name) {
		t.Errorf("leftover namespace %s not reaped", name)
	}
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Errorf("process %d in the leftover namespace still runs", inside.Process.Pid)
		_ = inside.Process.Signal(syscall.SIGKILL)
	}
}
