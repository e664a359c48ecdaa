//go:build linux

package packet_test

import (
	"runtime"
	"syscall"
	"testing"
)

// cpuTimer measures the CPU time of the benchmark's own thread (user and
// system), which unlike wall time does not grow when other processes
// share the cores: on the 2-core machine these figures were taken on,
// the load average was 7 to 8 and wall time per packet 2-4 times the CPU
// time.
type cpuTimer struct{ start int64 }

const rusageThread = 1 // RUSAGE_THREAD, Linux 2.6.26

func threadCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// startCPU locks the goroutine to its thread and starts the clock.
func startCPU(b *testing.B) *cpuTimer {
	runtime.LockOSThread()
	b.Cleanup(runtime.UnlockOSThread)
	return &cpuTimer{start: threadCPU()}
}

// report adds cpu-ns/op and cpu-packets/s to the benchmark's results.
func (c *cpuTimer) report(b *testing.B) {
	ns := float64(threadCPU() - c.start)
	if ns <= 0 {
		return
	}
	b.ReportMetric(ns/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/(ns/1e9), "cpu-packets/s")
}
