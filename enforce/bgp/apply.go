package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"abuseguard"
	"abuseguard/enforce"
)

// batchSize bounds the paths per AddPath or DeletePath call. One call
// holds GoBGP's management loop for its whole length; 500 paths take a few
// milliseconds here, so ListPeer and session handling are never starved
// for long while 10 000 routes go out.
const batchSize = 500

// families are the RIBs the enforcer originates into.
var families = []bgp.Family{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC, bgp.RF_FS_IPv4_UC, bgp.RF_FS_IPv6_UC}

// Apply makes the speaker's RIB hold exactly the routes desired needs and
// withdraws every other route it originated. GoBGP sends the difference
// to every established neighbor, and the whole RIB to a neighbor whose
// session comes up, so a block made while a session was down is announced
// when it returns.
func (e *Enforcer) Apply(ctx context.Context, desired []abuseguard.Block) (enforce.Result, error) {
	targets, invalid := enforce.Plan(desired)
	plans := make([]plan, len(targets))
	planOf := make([]int, len(desired))
	want := make(map[rkey]kind, len(targets)*2)
	for i, t := range targets {
		plans[i] = e.planTarget(t, want)
		for _, b := range t.Blocks {
			planOf[b] = i
		}
	}

	var res enforce.Result
	err := e.converge(ctx, want, &res)
	// The status depends on the method and family only: compute each once.
	type verdict struct {
		state  abuseguard.EnforceState
		detail string
	}
	memo := make(map[plan]verdict)
	res.Statuses = enforce.Statuses(Name, desired, invalid, func(i int) (abuseguard.EnforceState, string) {
		p := plans[planOf[i]]
		switch {
		case err != nil:
			return abuseguard.EnforceFailed, "speaker did not take the update, retrying"
		case p.state != "":
			return p.state, p.detail
		}
		v, ok := memo[p]
		if !ok {
			v.state, v.detail = e.routeStatus(p)
			memo[p] = v
		}
		return v.state, v.detail
	})
	return res, err
}

// verifyEvery is how often a pass reads the RIB back instead of trusting
// what the previous pass applied. Reading 25 000 routes costs GoBGP about
// 0.3 s of CPU on this hardware (it rebuilds a table keyed by the NLRIs'
// text), too much for every trigger; the RIB only changes through our own
// calls, so between verifications the last successful pass is the truth.
// A failed or timed-out call forgets it, and the next pass reads the RIB.
const verifyEvery = time.Minute

// ribRoute is a route read back from the speaker's RIB.
type ribRoute struct {
	fp   uint64
	path *apiutil.Path
}

// appliedRoute is a route the last successful pass left in the RIB.
type appliedRoute struct {
	fp   uint64
	kind kind
}

// converge diffs want against the RIB and applies the difference.
func (e *Enforcer) converge(ctx context.Context, want map[rkey]kind, res *enforce.Result) error {
	srv := e.server()
	if srv == nil {
		return errors.New("speaker not running")
	}
	var withdraw, announce []*apiutil.Path
	if e.applied == nil || time.Since(e.verified) >= verifyEvery {
		have, err := e.rib(ctx, srv)
		if err != nil {
			return err
		}
		res.Drift = drift(e.applied, have)
		e.verified = time.Now()
		for k, h := range have {
			if _, ok := want[k]; !ok {
				h.path.Withdrawal = true
				withdraw = append(withdraw, h.path)
			}
		}
		for k, kd := range want {
			if h, ok := have[k]; !ok || h.fp != e.wantFP(k, kd) {
				announce = append(announce, e.path(k, kd))
			}
		}
	} else {
		for k, a := range e.applied {
			if _, ok := want[k]; !ok {
				p := e.path(k, a.kind)
				p.Withdrawal = true
				withdraw = append(withdraw, p)
			}
		}
		for k, kd := range want {
			if a, ok := e.applied[k]; !ok || a.fp != e.wantFP(k, kd) {
				announce = append(announce, e.path(k, kd))
			}
		}
		if len(withdraw)+len(announce) == 0 {
			return nil // the RIB already holds exactly want
		}
	}
	// Until this pass succeeds, nothing is known about what we applied.
	e.applied = nil

	for b := range slices.Chunk(withdraw, batchSize) {
		if err := e.call(ctx, "delete_path", func() error {
			return srv.DeletePath(apiutil.DeletePathRequest{Paths: b})
		}); err != nil {
			return err
		}
		res.Removed += len(b)
	}
	for b := range slices.Chunk(announce, batchSize) {
		if err := e.call(ctx, "add_path", func() error {
			_, err := srv.AddPath(apiutil.AddPathRequest{Paths: b})
			return err
		}); err != nil {
			return err
		}
		res.Added += len(b)
	}

	applied := make(map[rkey]appliedRoute, len(want))
	perFamily := make(map[bgp.Family]int)
	for k, kd := range want {
		applied[k] = appliedRoute{fp: e.wantFP(k, kd), kind: kd}
		perFamily[k.family]++
	}
	e.applied = applied
	for _, f := range families {
		e.m.routes.WithLabelValues(string(familyName(f))).Set(float64(perFamily[f]))
	}
	return nil
}

// wantFP is the fingerprint of a wanted route. Attributes depend only on
// the kind and the IP version, so New computes the four values once.
func (e *Enforcer) wantFP(k rkey, kd kind) uint64 {
	return e.fps[fpKey{kd, k.family}]
}

// fpKey selects a precomputed fingerprint.
type fpKey struct {
	kind   kind
	family bgp.Family
}

// fingerprints computes the fingerprint of every kind of route.
func (e *Enforcer) fingerprints() map[fpKey]uint64 {
	v4, v6 := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("2001:db8::1")
	fps := make(map[fpKey]uint64)
	for _, k := range []rkey{rtbhKey(v4), rtbhKey(v6)} {
		fps[fpKey{kindRTBH, k.family}] = fingerprint(k.family, e.path(k, kindRTBH).Attrs)
	}
	for _, k := range []rkey{flowKey(v4, netip.Addr{}), flowKey(v6, netip.Addr{})} {
		for _, kd := range []kind{kindDiscard, kindAccept} {
			fps[fpKey{kd, k.family}] = fingerprint(k.family, e.path(k, kd).Attrs)
		}
	}
	return fps
}

// rib returns the routes the speaker originated, by key. The import
// policy keeps every other route out, but the filter on local paths keeps
// a route learned by mistake from being withdrawn in our name.
func (e *Enforcer) rib(ctx context.Context, srv *server.BgpServer) (map[rkey]ribRoute, error) {
	have := make(map[rkey]ribRoute)
	for _, f := range families {
		err := e.call(ctx, "list_path", func() error {
			return srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: f}, func(nlri bgp.NLRI, paths []*apiutil.Path) {
				for _, p := range paths {
					if p.PeerASN != 0 || p.IsFromExternal {
						continue
					}
					p.Family = f
					have[keyOf(f, nlri)] = ribRoute{fp: fingerprint(f, p.Attrs), path: p}
				}
			})
		})
		if err != nil {
			return nil, err
		}
	}
	return have, nil
}

// drift counts routes that differ from what the last successful pass left:
// missing, changed, or there without us. Zero when nothing is known.
func drift(applied map[rkey]appliedRoute, have map[rkey]ribRoute) int {
	if applied == nil {
		return 0
	}
	n := 0
	for k, a := range applied {
		if h, ok := have[k]; !ok || h.fp != a.fp {
			n++
		}
	}
	for k := range have {
		if _, ok := applied[k]; !ok {
			n++
		}
	}
	return n
}

// routeStatus says whether a plan's routes reach a router: applied when at
// least one neighbor has an established session with the plan's family
// negotiated.
func (e *Enforcer) routeStatus(p plan) (abuseguard.EnforceState, string) {
	up, configured := e.ready(p.family)
	switch {
	case configured == 0:
		return abuseguard.EnforceFailed, fmt.Sprintf("%s: no neighbor is configured for %s", p.method, familyName(p.family))
	case up == 0:
		return abuseguard.EnforcePending, fmt.Sprintf("%s: no established session for %s", p.method, familyName(p.family))
	}
	return abuseguard.EnforceApplied, fmt.Sprintf("%s to %d of %d neighbors", p.method, up, configured)
}
