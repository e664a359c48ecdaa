// Package nft is the nftables enforcer for providers whose edge routers or
// hypervisors are Linux: blocks become elements of sets in a table of its
// own, changed over netlink in atomic batches. It never runs the nft
// command and never touches another table.
package nft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"abuseguard"
	"abuseguard/enforce"
)

// Name is the enforcer name in block statuses.
const Name = "nftables"

// chunk bounds the elements per netlink message. All messages of a pass
// still go in one batch, applied atomically by the kernel; the bound keeps
// each message far below the socket buffer (10 000 IPv6 pairs would make
// one message of about 600 kB).
const chunk = 1000

// sendBuffer is the netlink socket's send buffer. The kernel takes a batch
// in one sendmsg, which fails with EMSGSIZE beyond the buffer: the default
// 208 kB holds about 8 000 IPv4 elements, while 10 000 IPv6 blocks with an
// access IP make about 0.8 MB. 16 MiB holds some 300 000 elements; it is
// only filled while a batch is in flight. Setting it needs CAP_NET_ADMIN,
// which nftables needs anyway.
const sendBuffer = 16 << 20

// Dependencies are what the enforcer needs from the process.
type Dependencies struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
}

// Enforcer keeps the kernel's nftables table in line with the blocks.
//
// Apply is called by one goroutine at a time; Start and Stop are safe for
// concurrent use with it.
type Enforcer struct {
	cfg Configuration
	log *slog.Logger
	m   *metrics

	mu    sync.Mutex // guards conn and nsFd
	conn  *nftables.Conn
	nsFd  int
	table *nftables.Table

	// synced is set once a pass rebuilt or verified the whole table;
	// applied is what that pass left. Only Apply touches them.
	synced  bool
	applied elements
}

var _ enforce.Enforcer = (*Enforcer)(nil)

// New validates the configuration; nothing runs until Start.
func New(cfg Configuration, deps Dependencies) (*Enforcer, error) {
	if !cfg.Enabled {
		return nil, errors.New("nftables: not enabled in the configuration")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Enforcer{cfg: cfg, log: deps.Logger, nsFd: -1,
		table: &nftables.Table{Name: cfg.Table, Family: nftables.TableFamilyINet}}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.log = e.log.With("component", "enforce/nft")
	reg := deps.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("nftables: register metrics: %w", err)
	}
	e.m = m
	return e, nil
}

// Name returns "nftables".
func (e *Enforcer) Name() string { return Name }

// Changed returns nil: the kernel does not change by itself. Rules
// removed by someone else are found by the periodic pass.
func (e *Enforcer) Changed() <-chan struct{} { return nil }

// Start opens the netlink connection (in the configured namespace) and
// checks that it may read the ruleset. The first Apply then replaces the
// table as a whole: a full resync on every start.
func (e *Enforcer) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn != nil {
		return errors.New("nftables: already started")
	}
	var opts []nftables.ConnOption
	if e.cfg.NetNS != "" {
		fd, err := unix.Open(e.cfg.NetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("nftables: open namespace %s: %w", e.cfg.NetNS, err)
		}
		e.nsFd = fd
		opts = append(opts, nftables.WithNetNSFd(fd))
	}
	opts = append(opts, nftables.AsLasting(), nftables.WithSockOptions(forceSendBuffer))
	conn, err := nftables.New(opts...)
	if err == nil {
		_, err = conn.ListTablesOfFamily(nftables.TableFamilyINet)
	}
	if err != nil {
		if conn != nil {
			conn.CloseLasting()
		}
		e.closeNS()
		return fmt.Errorf("nftables: start: %w", err)
	}
	e.conn = conn
	e.log.Info("nftables enforcer started", "table", e.cfg.Table, "hooks", e.cfg.Hooks, "netns", e.cfg.NetNS)
	return nil
}

// Stop closes the connection. The table stays: blocks remain enforced
// while abuseguard restarts, and the next start resyncs it. Delete it by
// hand (nft delete table inet abuseguard) to lift every block at once.
func (e *Enforcer) Stop() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == nil {
		return nil
	}
	err := e.conn.CloseLasting()
	e.conn = nil
	e.closeNS()
	e.log.Info("nftables enforcer stopped")
	return err
}

// forceSendBuffer sets the socket's send buffer to sendBuffer, past the
// net.core.wmem_max limit (SO_SNDBUFFORCE).
func forceSendBuffer(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sendBuffer)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set send buffer: %w", serr)
	}
	return nil
}

func (e *Enforcer) closeNS() {
	if e.nsFd >= 0 {
		unix.Close(e.nsFd)
		e.nsFd = -1
	}
}

// Apply makes the sets hold exactly the desired blocks. The first pass
// after Start, and any pass that finds the table, a chain, a rule or a
// set missing or altered, replaces the whole table in one batch; other
// passes add and delete the differing elements in one batch.
//
// Netlink calls take no context; they are local to the kernel and do
// not block on the network, so ctx is only checked before starting.
func (e *Enforcer) Apply(ctx context.Context, desired []abuseguard.Block) (enforce.Result, error) {
	targets, invalid := enforce.Plan(desired)
	wantEl, details := want(targets)
	detailOf := make(map[int]string, len(desired))
	for i, t := range targets {
		for _, b := range t.Blocks {
			detailOf[b] = details[i]
		}
	}
	var res enforce.Result
	err := ctx.Err()
	if err == nil {
		err = e.converge(wantEl, &res)
	}
	res.Statuses = enforce.Statuses(Name, desired, invalid, func(i int) (abuseguard.EnforceState, string) {
		if err != nil {
			return abuseguard.EnforceFailed, "nftables update failed, retrying"
		}
		return abuseguard.EnforceApplied, detailOf[i]
	})
	return res, err
}

func (e *Enforcer) converge(wantEl elements, res *enforce.Result) error {
	e.mu.Lock()
	conn := e.conn
	e.mu.Unlock()
	if conn == nil {
		return errors.New("nftables enforcer not started")
	}
	if e.synced {
		have, intact, err := e.read(conn)
		if err != nil {
			e.m.errors.Inc()
			return fmt.Errorf("read table %s: %w", e.cfg.Table, err)
		}
		res.Drift = drift(e.applied, have)
		if !intact {
			res.Drift++ // the structure itself was altered
			e.log.Warn("nftables table altered behind our back, replacing it", "table", e.cfg.Table)
		} else {
			return e.update(conn, have, wantEl, res)
		}
	}
	return e.rebuild(conn, wantEl, res)
}

// update adds and deletes the elements that differ, in one batch.
func (e *Enforcer) update(conn *nftables.Conn, have, wantEl elements, res *enforce.Result) error {
	for _, s := range setSpecs {
		set := &nftables.Set{Table: e.table, Name: s.name, KeyType: s.key, Concatenation: s.concat}
		var add, del []nftables.SetElement
		for k := range wantEl[s.name] {
			if !have[s.name][k] {
				add = append(add, nftables.SetElement{Key: []byte(k)})
			}
		}
		for k := range have[s.name] {
			if !wantEl[s.name][k] {
				del = append(del, nftables.SetElement{Key: []byte(k)})
			}
		}
		for c := range slices.Chunk(del, chunk) {
			if err := conn.SetDeleteElements(set, c); err != nil {
				return fmt.Errorf("delete elements of %s: %w", s.name, err)
			}
		}
		for c := range slices.Chunk(add, chunk) {
			if err := conn.SetAddElements(set, c); err != nil {
				return fmt.Errorf("add elements to %s: %w", s.name, err)
			}
		}
		res.Added += len(add)
		res.Removed += len(del)
	}
	if res.Added+res.Removed == 0 {
		return nil
	}
	if err := e.flush(conn); err != nil {
		res.Added, res.Removed = 0, 0
		return err
	}
	e.done(wantEl)
	return nil
}

// rebuild replaces the table with one holding wantEl, in one batch: the
// "add; delete; add" sequence works whether or not the table exists, and
// the kernel swaps old for new without a moment with no rules.
func (e *Enforcer) rebuild(conn *nftables.Conn, wantEl elements, res *enforce.Result) error {
	conn.AddTable(e.table)
	conn.DelTable(e.table)
	conn.AddTable(e.table)
	sets := make(map[string]*nftables.Set, len(setSpecs))
	for _, s := range setSpecs {
		set := &nftables.Set{Table: e.table, Name: s.name, KeyType: s.key, Concatenation: s.concat}
		var els []nftables.SetElement
		for k := range wantEl[s.name] {
			els = append(els, nftables.SetElement{Key: []byte(k)})
		}
		first := els[:min(len(els), chunk)]
		if err := conn.AddSet(set, first); err != nil {
			return fmt.Errorf("add set %s: %w", s.name, err)
		}
		for c := range slices.Chunk(els[len(first):], chunk) {
			if err := conn.SetAddElements(set, c); err != nil {
				return fmt.Errorf("add elements to %s: %w", s.name, err)
			}
		}
		sets[s.name] = set
	}
	policy := nftables.ChainPolicyAccept
	for _, h := range e.cfg.Hooks {
		ch := conn.AddChain(&nftables.Chain{
			Name: h, Table: e.table, Type: nftables.ChainTypeFilter,
			Hooknum: hookNum[h], Priority: nftables.ChainPriorityRef(nftables.ChainPriority(e.cfg.Priority)), Policy: &policy,
		})
		for _, r := range rules(sets) {
			conn.AddRule(&nftables.Rule{Table: e.table, Chain: ch, Exprs: r})
		}
	}
	if err := e.flush(conn); err != nil {
		return err
	}
	e.m.rebuilds.Inc()
	res.Added = wantEl.count()
	if e.applied != nil {
		res.Removed = e.applied.count()
	}
	e.synced = true
	e.done(wantEl)
	return nil
}

// flush sends the batch; on failure the next pass rebuilds.
func (e *Enforcer) flush(conn *nftables.Conn) error {
	if err := conn.Flush(); err != nil {
		e.m.errors.Inc()
		e.synced, e.applied = false, nil
		return fmt.Errorf("netlink batch: %w", err)
	}
	return nil
}

// done records a successful pass.
func (e *Enforcer) done(wantEl elements) {
	e.applied = wantEl
	for name, s := range wantEl {
		e.m.elements.WithLabelValues(name).Set(float64(len(s)))
	}
}

// read returns the elements of the sets, and whether the table, its sets,
// chains and rules are all as rebuild made them.
func (e *Enforcer) read(conn *nftables.Conn) (elements, bool, error) {
	have := newElements()
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, false, err
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == e.cfg.Table }) {
		return have, false, nil
	}
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, false, err
	}
	var ours []*nftables.Chain
	for _, c := range chains {
		if c.Table.Name == e.cfg.Table {
			ours = append(ours, c)
		}
	}
	intact := len(ours) == len(e.cfg.Hooks)
	nRules := len(rules(map[string]*nftables.Set{blocked4: {}, blocked6: {}, inbound4: {}, inbound6: {}, access4: {}, access6: {}}))
	for _, c := range ours {
		if c.Hooknum == nil || hookNum[c.Name] == nil || *c.Hooknum != *hookNum[c.Name] {
			intact = false
			continue
		}
		rs, err := conn.GetRules(e.table, c)
		if err != nil {
			return nil, false, err
		}
		if len(rs) != nRules {
			intact = false
		}
	}
	sets, err := conn.GetSets(e.table)
	if err != nil {
		return nil, false, err
	}
	for _, s := range setSpecs {
		i := slices.IndexFunc(sets, func(x *nftables.Set) bool { return x.Name == s.name })
		if i < 0 || sets[i].KeyType.Bytes != s.key.Bytes {
			intact = false
			continue
		}
		els, err := conn.GetSetElements(sets[i])
		if err != nil {
			return nil, false, err
		}
		for _, el := range els {
			have[s.name][string(el.Key)] = true
		}
	}
	return have, intact, nil
}

// drift counts elements that differ from what the last pass applied.
func drift(applied, have elements) int {
	if applied == nil {
		return 0
	}
	n := 0
	for name, s := range applied {
		for k := range s {
			if !have[name][k] {
				n++
			}
		}
		for k := range have[name] {
			if !s[k] {
				n++
			}
		}
	}
	return n
}
