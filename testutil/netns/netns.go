// Package netns gives tests real hosts: Linux network namespaces joined by
// veth pairs, with real tools (nmap, hping3, tcpdump, BIRD, ...) running
// inside them and Go sockets opened inside them.
//
// Every name the package creates starts with the caller's prefix: the
// namespace ("agh3-srv-4242-1"), each veth end ("agh3-k3x9a") and argv[0] of
// each process ("agh3-nmap"), so engineers sharing a machine can tell whose
// leftovers are whose. The prefix is the part of the name given to New up to
// and including its first '-'.
//
// Traffic stays inside the namespaces a test created. Link can put one end in
// the test process's own (root) namespace; such a link must only carry
// traffic between that end and the namespace, never to the machine's real
// interfaces: on the build machine 192.0.2.0/24 and fd00::/64 are in use.
//
// Only tests import this package. Functions taking a testing.TB must be
// called from the test's goroutine (they may call t.Fatal).
package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// NS is one network namespace created by New and deleted at the end of the
// test. Its methods are safe for concurrent use.
type NS struct {
	// Name is the namespace's name under /run/netns, unique per process
	// and per test run: <name given to New>-<pid>-<counter>.
	Name string
	// Prefix is the caller's prefix (see the package comment).
	Prefix string

	t     testing.TB
	mu    sync.Mutex
	procs []*Proc
}

// seq numbers the namespaces of this process; with the pid in the name it
// makes names unique among all live test processes.
var seq atomic.Int64

// RequireRoot skips the test unless it runs as root with the ip command at
// hand: creating namespaces needs CAP_SYS_ADMIN and CAP_NET_ADMIN.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces (run as root, e.g. ./test.sh)")
	}
	RequireTool(t, "ip")
}

// RequireTool skips the test when the named program is not in PATH.
func RequireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("needs %s: not in PATH (Debian package list in test.sh)", name)
	}
}

// New creates a network namespace named name plus a unique suffix, brings
// its loopback up and deletes it when the test ends, after ending every
// process still running inside it. name must look like "<prefix>-<role>",
// e.g. "agh3-srv". Duplicate address detection is turned off in the
// namespace so IPv6 addresses work the moment they are added.
func New(t testing.TB, name string) *NS {
	t.Helper()
	RequireRoot(t)
	prefix, err := splitPrefix(name)
	if err != nil {
		t.Fatalf("netns.New: %v", err)
	}
	reapOnce(t, prefix)

	ns := &NS{
		Name:   fmt.Sprintf("%s-%d-%d", name, os.Getpid(), seq.Add(1)),
		Prefix: prefix,
		t:      t,
	}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("netns.New: ip netns add %s: %v: %s", ns.Name, err, out)
	}
	created.Store(ns.Name, true)
	t.Cleanup(ns.destroy)

	ns.IP(t, "link", "set", "lo", "up")
	// "default" covers the veths created later; "all" the ones present.
	for _, key := range []string{"net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad"} {
		ns.Sysctl(t, key, "0")
	}
	return ns
}

// splitPrefix returns name's prefix up to and including its first '-'.
func splitPrefix(name string) (string, error) {
	i := strings.IndexByte(name, '-')
	if i < 1 || i == len(name)-1 {
		return "", fmt.Errorf("name %q must look like <prefix>-<role>, e.g. agh3-srv", name)
	}
	// Interface names have 15 bytes (IFNAMSIZ 16 with the NUL); veth ends
	// use the prefix plus 5 bytes.
	if i+1 > 10 {
		return "", fmt.Errorf("prefix %q longer than 10 bytes: veth names would exceed 15 bytes", name[:i+1])
	}
	return name[:i+1], nil
}

// IP runs `ip -n <ns> args...` and fails the test when it fails.
func (ns *NS) IP(t testing.TB, args ...string) {
	t.Helper()
	if _, err := runIP(ns, args...); err != nil {
		t.Fatalf("%v", err)
	}
}

// runIP runs ip in ns, or in the test process's namespace when ns is nil.
func runIP(ns *NS, args ...string) ([]byte, error) {
	if ns != nil {
		args = append([]string{"-n", ns.Name}, args...)
	}
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Sysctl sets a sysctl below net. inside the namespace, e.g.
// ns.Sysctl(t, "net.ipv4.ip_forward", "1"). The /proc/sys/net files show the
// namespace of the thread that opens them, hence Do.
func (ns *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	if !strings.HasPrefix(key, "net.") {
		t.Fatalf("Sysctl(%q): only net.* keys are per namespace", key)
	}
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	err := ns.Do(func() error { return os.WriteFile(path, []byte(value), 0o644) })
	if err != nil {
		t.Fatalf("Sysctl %s=%s in %s: %v", key, value, ns.Name, err)
	}
}

// Forwarding turns on IPv4 and IPv6 forwarding: the namespace becomes a
// router.
func (ns *NS) Forwarding(t testing.TB) {
	t.Helper()
	ns.Sysctl(t, "net.ipv4.ip_forward", "1")
	ns.Sysctl(t, "net.ipv6.conf.all.forwarding", "1")
}

// Do runs fn on an OS thread switched into the namespace and returns its
// error. Sockets keep the namespace they were created in, so listeners and
// connections opened by fn can be used from any goroutine afterwards; fn
// must create them itself, not in goroutines it starts (those run in the
// test process's namespace). Processes forked by fn start inside too.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is handed back to the runtime only after switching
		// back; when that fails the goroutine exits still locked and the
		// runtime ends the thread, so no other goroutine ever runs in the
		// wrong namespace. Go (since 1.10) never clones new threads from a
		// locked one, so the namespace does not leak into the runtime.
		runtime.LockOSThread()
		errc <- ns.doLocked(fn)
	}()
	return <-errc
}

func (ns *NS) doLocked(fn func() error) error {
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open own namespace: %w", err)
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open namespace: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace %s: %w", ns.Name, err)
	}
	ferr := fn()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		return errors.Join(ferr, fmt.Errorf("leave namespace %s: %w", ns.Name, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// destroy ends the processes left in the namespace and deletes it.
func (ns *NS) destroy() {
	ns.mu.Lock()
	procs := ns.procs
	ns.mu.Unlock()
	for _, p := range procs {
		p.stop()
	}
	if err := killAll(ns.Name); err != nil {
		ns.t.Errorf("netns cleanup: %v", err)
	}
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		ns.t.Errorf("netns cleanup: ip netns del %s: %v: %s", ns.Name, err, out)
	}
	created.Delete(ns.Name)
}

// killAll SIGKILLs every process inside the named namespace (daemons that
// forked away from the Proc we started, tools a test forgot) and waits, at
// most 10 s, until none is left: a namespace with processes inside survives
// `ip netns del` with its veths.
func killAll(name string) error {
	pids := func() []int {
		out, err := exec.Command("ip", "netns", "pids", name).Output()
		if err != nil {
			return nil
		}
		var ps []int
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				ps = append(ps, pid)
			}
		}
		return ps
	}
	for _, pid := range pids() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WaitFor(ctx, func() bool { return len(pids()) == 0 }); err != nil {
		return fmt.Errorf("processes %v still in %s: %w", pids(), name, err)
	}
	return nil
}
