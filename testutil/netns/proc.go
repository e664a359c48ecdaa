package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a process started by Start inside a namespace. Its stdout and
// stderr go to one buffer, logged when the test fails. Safe for concurrent
// use.
type Proc struct {
	// Name is the program as given to Start.
	Name string

	t    testing.TB
	cmd  *exec.Cmd
	out  *outBuffer
	done chan struct{}
	err  error // set before done is closed
}

// stopGrace is how long a process has to exit after SIGTERM at cleanup
// before it gets SIGKILL; daemons (BIRD, softflowd) exit within
// milliseconds, so 5 s only bounds a hung one.
const stopGrace = 5 * time.Second

// Run runs a program inside the namespace and returns its combined output;
// on failure the error carries the output too. argv[0] is the caller's
// prefix plus the program's base name (e.g. "agh3-nmap").
func (ns *NS) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd, err := ns.command(name, args)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := ns.Do(cmd.Start); err != nil {
		return nil, fmt.Errorf("start %s in %s: %w", name, ns.Name, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	err = cmd.Wait()
	stop()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		return out.Bytes(), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), ns.Name, err, tail(out.Bytes()))
	}
	return out.Bytes(), nil
}

// Start starts a program in the background inside the namespace. The test
// ends it at cleanup (SIGTERM, SIGKILL after 5 s) if it still runs, and logs
// its output if the test failed.
func (ns *NS) Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	cmd, err := ns.command(name, args)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	p := &Proc{Name: name, t: t, cmd: cmd, out: newOutBuffer(), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := ns.Do(cmd.Start); err != nil {
		t.Fatalf("start %s in %s: %v", name, ns.Name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	ns.mu.Lock()
	ns.procs = append(ns.procs, p)
	ns.mu.Unlock()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("output of %s %s in %s:\n%s", name, strings.Join(args, " "), ns.Name, p.Output())
		}
	})
	return p
}

func (ns *NS) command(name string, args []string) (*exec.Cmd, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Args[0] = ns.Prefix + filepath.Base(name)
	// Its own process group, so a terminal's ^C reaches the test binary
	// only and cleanup decides how tools end.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A child the program left behind (sh -c "x &", a daemon) keeps the
	// output pipe open: Wait returns this long after the program itself
	// exited anyway, instead of waiting for the child.
	cmd.WaitDelay = time.Second
	return cmd, nil
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns its exit error, with the
// end of its output when it failed.
func (p *Proc) Wait() error {
	<-p.done
	if p.err != nil {
		return fmt.Errorf("%s: %w: %s", p.Name, p.err, tail(p.out.Bytes()))
	}
	return nil
}

// Signal sends sig to the process; it is a no-op once the process exited.
func (p *Proc) Signal(sig os.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.Name, err)
	}
	return nil
}

// Output returns what the process wrote so far to stdout and stderr.
func (p *Proc) Output() string { return string(p.out.Bytes()) }

// WaitOutput waits until the process's output contains s. It fails early
// when the process exits without writing s.
func (p *Proc) WaitOutput(ctx context.Context, s string) error {
	return p.out.wait(ctx, p.done, func(b []byte) bool { return bytes.Contains(b, []byte(s)) })
}

// stop ends the process if it still runs: SIGTERM, then SIGKILL.
func (p *Proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopGrace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// tail returns the last 2 KiB of a tool's output for an error message.
func tail(b []byte) string {
	const n = 2048
	if len(b) > n {
		b = append([]byte("..."), b[len(b)-n:]...)
	}
	return strings.TrimSpace(string(b))
}

// outBuffer collects a process's output, at most maxOutput bytes (the
// first ones: startup lines are what callers wait for), and wakes waiters
// on every write.
type outBuffer struct {
	mu      sync.Mutex
	buf     []byte
	dropped int
	changed chan struct{} // closed and replaced on every write
}

// maxOutput bounds the memory a chatty daemon can take in a long test.
const maxOutput = 4 << 20

func newOutBuffer() *outBuffer { return &outBuffer{changed: make(chan struct{})} }

func (b *outBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(p), maxOutput-len(b.buf))
	b.buf = append(b.buf, p[:n]...)
	b.dropped += len(p) - n
	close(b.changed)
	b.changed = make(chan struct{})
	return len(p), nil
}

// Bytes returns a copy of the output so far.
func (b *outBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := bytes.Clone(b.buf)
	if b.dropped > 0 {
		out = fmt.Appendf(out, "\n[%d more bytes not kept]\n", b.dropped)
	}
	return out
}

// wait blocks until ok holds for the output, ctx ends or done is closed
// (then it checks one last time: the last write may come with the exit).
func (b *outBuffer) wait(ctx context.Context, done <-chan struct{}, ok func([]byte) bool) error {
	for {
		b.mu.Lock()
		hit, changed := ok(b.buf), b.changed
		b.mu.Unlock()
		if hit {
			return nil
		}
		select {
		case <-changed:
		case <-done:
			b.mu.Lock()
			hit = ok(b.buf)
			b.mu.Unlock()
			if hit {
				return nil
			}
			return fmt.Errorf("process exited first: %s", tail(b.Bytes()))
		case <-ctx.Done():
			return fmt.Errorf("waiting for output: %w: %s", context.Cause(ctx), tail(b.Bytes()))
		}
	}
}
