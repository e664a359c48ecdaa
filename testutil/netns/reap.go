package netns

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var (
	// created holds the names of the namespaces this process created and
	// has not deleted yet.
	created sync.Map
	// reaped holds a *sync.Once per prefix swept by this process.
	reaped sync.Map
)

// reapOnce deletes, once per process and prefix, the namespaces a killed
// test run left behind. t.Cleanup does not run when a test binary is killed
// (go test -timeout, SIGKILL, a crashed machine), and every leftover keeps
// its processes and veths. A namespace is a leftover when its name carries
// our prefix and naming scheme and the pid in it is not alive, or is our own
// pid but we did not create it (pid reuse). Namespaces of live test
// processes, including parallel package tests with the same prefix, are
// left alone.
//
// Concurrent callers wait until the sweep is done: a namespace of ours
// being created meanwhile (parallel tests) would look like a leftover of
// our own pid.
func reapOnce(t testing.TB, prefix string) {
	once, _ := reaped.LoadOrStore(prefix, new(sync.Once))
	once.(*sync.Once).Do(func() { reap(t, prefix) })
}

func reap(t testing.TB, prefix string) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		pid, ok := namePID(name)
		if !ok || !stale(name, pid) {
			continue
		}
		if err := killAll(name); err != nil {
			t.Logf("netns: leftover %s: %v", name, err)
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("netns: delete leftover %s: %v: %s", name, err, out)
			continue
		}
		t.Logf("netns: deleted leftover namespace %s of dead process %d", name, pid)
	}
}

// namePID extracts the pid from a name made by New: <name>-<pid>-<counter>.
func namePID(name string) (int, bool) {
	f := strings.Split(name, "-")
	if len(f) < 4 { // prefix, role, pid, counter
		return 0, false
	}
	if _, err := strconv.Atoi(f[len(f)-1]); err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(f[len(f)-2])
	return pid, err == nil && pid > 0
}

func stale(name string, pid int) bool {
	if pid == os.Getpid() {
		_, ours := created.Load(name)
		return !ours
	}
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return os.IsNotExist(err)
}
