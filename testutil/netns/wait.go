package netns

import (
	"context"
	"fmt"
	"time"
)

// Poll intervals of WaitFor: external processes give no event to wait on,
// so we look again after 1 ms, doubling up to 50 ms. A tool that answers in
// a millisecond is seen at once; a slow one costs at most 20 looks a second.
const (
	pollFirst = time.Millisecond
	pollMax   = 50 * time.Millisecond
)

// WaitFor calls cond until it returns true or ctx ends, and then returns
// ctx's error. It is meant for state held by external processes (a daemon
// listening, a route installed); give ctx a deadline.
func WaitFor(ctx context.Context, cond func() bool) error {
	interval := pollFirst
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if cond() {
			return nil
		}
		timer.Reset(interval)
		select {
		case <-ctx.Done():
			if cond() {
				return nil
			}
			return fmt.Errorf("condition not met: %w", context.Cause(ctx))
		case <-timer.C:
		}
		interval = min(2*interval, pollMax)
	}
}
