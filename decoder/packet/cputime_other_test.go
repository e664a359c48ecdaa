//go:build !linux

package packet_test

import "testing"

// cpuTimer reports nothing where the thread's CPU time is not at hand.
type cpuTimer struct{}

func startCPU(*testing.B) *cpuTimer { return &cpuTimer{} }

func (*cpuTimer) report(*testing.B) {}
