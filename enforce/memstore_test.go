package enforce_test

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"abuseguard"
)

// memBlocks is an in-memory abuseguard.BlockService standing in for the
// store of record (being written in parallel) in these tests. It follows
// the contract: reports for blocks that no longer exist are ignored.
type memBlocks struct {
	mu       sync.Mutex
	blocks   map[string]abuseguard.Block // by case id
	statuses map[[2]string]abuseguard.BlockStatus
	readErr  error // returned by ActiveBlocks when set
	writes   int   // SetBlockStatuses calls
	written  int   // statuses written in total
	// changed is closed at the next change; watchedBlocks exposes it.
	changed chan struct{}
}

var _ abuseguard.BlockService = (*memBlocks)(nil)

func newMemBlocks(blocks ...abuseguard.Block) *memBlocks {
	m := &memBlocks{blocks: make(map[string]abuseguard.Block), statuses: make(map[[2]string]abuseguard.BlockStatus), changed: make(chan struct{})}
	for _, b := range blocks {
		m.blocks[b.CaseID] = b
	}
	return m
}

func (m *memBlocks) ActiveBlocks(ctx context.Context) ([]abuseguard.Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.readErr != nil {
		return nil, m.readErr
	}
	out := make([]abuseguard.Block, 0, len(m.blocks))
	for _, b := range m.blocks {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b abuseguard.Block) int { return cmp.Compare(a.CaseID, b.CaseID) })
	return out, nil
}

func (m *memBlocks) SetBlockStatuses(ctx context.Context, statuses []abuseguard.BlockStatus) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	for _, s := range statuses {
		if s.Enforcer == "" {
			return abuseguard.Errorf(abuseguard.EINVALID, "empty enforcer")
		}
		m.written++
		if _, ok := m.blocks[s.CaseID]; !ok {
			continue
		}
		m.statuses[[2]string{s.CaseID, s.Enforcer}] = s
	}
	return nil
}

// put adds or replaces a block.
func (m *memBlocks) put(b abuseguard.Block) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blocks[b.CaseID] = b
	m.notify()
}

// notify closes the watch channel, as a commit does; m.mu is held.
func (m *memBlocks) notify() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// watchedBlocks is a memBlocks that implements abuseguard.BlockWatcher.
type watchedBlocks struct{ *memBlocks }

var _ abuseguard.BlockWatcher = watchedBlocks{}

func (w watchedBlocks) BlocksChanged() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// remove deletes a block and its statuses, as an unblock does.
func (m *memBlocks) remove(caseID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blocks, caseID)
	m.notify()
	for k := range m.statuses {
		if k[0] == caseID {
			delete(m.statuses, k)
		}
	}
}

func (m *memBlocks) setReadErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.readErr = err
}

// status returns the recorded status of a case for an enforcer.
func (m *memBlocks) status(caseID, enforcer string) (abuseguard.BlockStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.statuses[[2]string{caseID, enforcer}]
	return s, ok
}

// counts returns the number of SetBlockStatuses calls and statuses written.
func (m *memBlocks) counts() (writes, written int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes, m.written
}
