package bgp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

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
	want := make(map[string]route)
	for i, t := range targets {
		plans[i] = e.planTarget(t)
		for _, r := range plans[i].routes {
			want[r.key] = r
		}
		for _, b := range t.Blocks {
			planOf[b] = i
		}
	}

	var res enforce.Result
	err := e.converge(ctx, want, &res)
	res.Statuses = enforce.Statuses(Name, desired, invalid, func(i int) (abuseguard.EnforceState, string) {
		p := plans[planOf[i]]
		switch {
		case err != nil:
			return abuseguard.EnforceFailed, "speaker did not take the update, retrying"
		case p.state != "":
			return p.state, p.detail
		}
		return e.routeStatus(p)
	})
	return res, err
}

// converge diffs want against the RIB and applies the difference.
func (e *Enforcer) converge(ctx context.Context, want map[string]route, res *enforce.Result) error {
	srv := e.server()
	if srv == nil {
		return errors.New("speaker not running")
	}
	have, err := e.rib(ctx, srv)
	if err != nil {
		return err
	}
	res.Drift = drift(e.applied, have)
	// Until this pass succeeds, nothing is known about what we applied.
	e.applied = nil

	var withdraw, announce []*apiutil.Path
	for _, k := range sortedKeys(have) {
		if _, ok := want[k]; !ok {
			p := have[k].path
			p.Withdrawal = true
			withdraw = append(withdraw, p)
		}
	}
	for _, k := range sortedKeys(want) {
		if h, ok := have[k]; !ok || h.fp != want[k].fp {
			announce = append(announce, want[k].path)
		}
	}
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

	e.applied = make(map[string]string, len(want))
	perFamily := make(map[bgp.Family]int)
	for k, r := range want {
		e.applied[k] = r.fp
		perFamily[r.path.Family]++
	}
	for _, f := range families {
		e.m.routes.WithLabelValues(string(familyName(f))).Set(float64(perFamily[f]))
	}
	return nil
}

// rib returns the routes the speaker originated, by key. The import
// policy keeps every other route out, but the filter on local paths keeps
// a route learned by mistake from being withdrawn in our name.
func (e *Enforcer) rib(ctx context.Context, srv *server.BgpServer) (map[string]route, error) {
	have := make(map[string]route)
	for _, f := range families {
		err := e.call(ctx, "list_path", func() error {
			return srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: f}, func(nlri bgp.NLRI, paths []*apiutil.Path) {
				for _, p := range paths {
					if p.PeerASN != 0 || p.IsFromExternal {
						continue
					}
					p.Family = f
					have[routeKey(f, nlri)] = route{path: p, key: routeKey(f, nlri), fp: fingerprint(f, p.Attrs)}
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
func drift(applied map[string]string, have map[string]route) int {
	if applied == nil {
		return 0
	}
	n := 0
	for k, fp := range applied {
		if h, ok := have[k]; !ok || h.fp != fp {
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

// routeStatus says whether a plan's routes reach a router: applied when,
// for every family the plan uses, at least one neighbor has an established
// session with that family negotiated.
func (e *Enforcer) routeStatus(p plan) (abuseguard.EnforceState, string) {
	var fams []bgp.Family
	for _, r := range p.routes {
		if !slices.Contains(fams, r.path.Family) {
			fams = append(fams, r.path.Family)
		}
	}
	minUp, configured := -1, 0
	for _, f := range fams {
		up, conf := e.ready(f)
		if conf == 0 {
			return abuseguard.EnforceFailed, fmt.Sprintf("%s: no neighbor is configured for %s", p.method, familyName(f))
		}
		if up == 0 {
			return abuseguard.EnforcePending, fmt.Sprintf("%s: no established session for %s", p.method, familyName(f))
		}
		if minUp < 0 || up < minUp {
			minUp, configured = up, conf
		}
	}
	return abuseguard.EnforceApplied, fmt.Sprintf("%s to %d of %d neighbors", p.method, minUp, configured)
}

func sortedKeys(m map[string]route) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}
