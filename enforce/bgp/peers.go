package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"abuseguard"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// peerState is what the enforcer knows of one neighbor's session, kept
// current from GoBGP's peer events.
type peerState struct {
	conf  Neighbor
	state string // idle, connect, active, opensent, openconfirm, established
	// families are those negotiated with the router, while established.
	families  []bgp.Family
	since     time.Time // of the last state change
	lastError string    // why the session last went down
}

// bgpFamily maps configured family names to GoBGP's.
var bgpFamily = map[Family]bgp.Family{
	IPv4Unicast:  bgp.RF_IPv4_UC,
	IPv6Unicast:  bgp.RF_IPv6_UC,
	IPv4FlowSpec: bgp.RF_FS_IPv4_UC,
	IPv6FlowSpec: bgp.RF_FS_IPv6_UC,
}

// familyName is the inverse of bgpFamily.
func familyName(f bgp.Family) Family {
	for n, g := range bgpFamily {
		if g == f {
			return n
		}
	}
	return Family(f.String())
}

// stateName turns BGP_FSM_ESTABLISHED into "established".
func stateName(s bgp.FSMState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "BGP_FSM_"))
}

// onPeerEvent runs in GoBGP's watch goroutine for every peer state change;
// it must not block.
func (e *Enforcer) onPeerEvent(ev *apiutil.WatchEventMessage_PeerEvent, at time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	st := ev.Peer.State
	addr := st.NeighborAddress.WithZone("")
	e.peerMu.Lock()
	p, ok := e.peers[addr]
	if !ok {
		e.peerMu.Unlock()
		return
	}
	state := stateName(st.SessionState)
	wasUp := p.state == "established"
	p.state, p.since = state, at
	up := state == "established"
	if up {
		p.families = negotiated(p.conf.Families, st.RemoteCap)
	} else {
		p.families = nil
		if wasUp {
			p.lastError = strings.TrimSpace(fmt.Sprintf("%s %s", strings.ToLower(strings.TrimPrefix(st.DisconnectReason.String(), "DISCONNECT_REASON_")), st.DisconnectMessage))
		}
	}
	families := slices.Clone(p.families)
	e.peerMu.Unlock()

	if up == wasUp {
		return
	}
	if up {
		e.m.up.WithLabelValues(addr.String()).Set(1)
		e.log.Info("neighbor session established", "neighbor", addr, "families", families)
	} else {
		e.m.up.WithLabelValues(addr.String()).Set(0)
		e.m.flaps.WithLabelValues(addr.String()).Inc()
		e.log.Warn("neighbor session lost", "neighbor", addr, "state", state, "reason", st.DisconnectReason.String(), "message", st.DisconnectMessage)
	}
	// Statuses depend on which sessions are up: ask for a pass.
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// negotiated returns the configured families the router also offered.
// A router that sends no multiprotocol capability speaks IPv4 unicast only
// (RFC 4760 §8).
func negotiated(configured []Family, remote []bgp.ParameterCapabilityInterface) []bgp.Family {
	var offered []bgp.Family
	for _, c := range remote {
		if mp, ok := c.(*bgp.CapMultiProtocol); ok {
			offered = append(offered, mp.CapValue)
		}
	}
	if len(offered) == 0 {
		offered = []bgp.Family{bgp.RF_IPv4_UC}
	}
	var out []bgp.Family
	for _, f := range configured {
		if slices.Contains(offered, bgpFamily[f]) {
			out = append(out, bgpFamily[f])
		}
	}
	return out
}

// ready counts the neighbors whose session is established with family
// negotiated, and the neighbors configured with it.
func (e *Enforcer) ready(f bgp.Family) (up, configured int) {
	e.peerMu.Lock()
	defer e.peerMu.Unlock()
	for _, p := range e.peers {
		if slices.Contains(p.conf.Families, familyName(f)) {
			configured++
		}
		if slices.Contains(p.families, f) {
			up++
		}
	}
	return up, configured
}

// Neighbors returns the configured neighbors with their session state and
// counters, sorted by address. The operator view and `abuseguard status`
// show it.
func (e *Enforcer) Neighbors(ctx context.Context) ([]abuseguard.Neighbor, error) {
	srv := e.server()
	if srv == nil {
		return nil, fmt.Errorf("bgp: speaker not running")
	}
	counters := make(map[netip.Addr]*api.Peer)
	if err := e.call(ctx, "list_peer", func() error {
		return srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
			if a, err := netip.ParseAddr(p.GetConf().GetNeighborAddress()); err == nil {
				counters[a.WithZone("")] = p
			}
		})
	}); err != nil {
		return nil, err
	}
	e.peerMu.Lock()
	defer e.peerMu.Unlock()
	out := make([]abuseguard.Neighbor, 0, len(e.peers))
	for addr, p := range e.peers {
		n := abuseguard.Neighbor{
			Address:     addr,
			AS:          p.conf.AS,
			Description: p.conf.Description,
			State:       p.state,
			Since:       p.since,
			LastError:   p.lastError,
		}
		for _, f := range p.families {
			n.Families = append(n.Families, string(familyName(f)))
		}
		if c := counters[addr]; c != nil {
			n.Flaps = c.GetState().GetFlops()
			n.UpdatesSent = c.GetState().GetMessages().GetSent().GetUpdate()
			n.UpdatesReceived = c.GetState().GetMessages().GetReceived().GetUpdate()
			for _, af := range c.GetAfiSafis() {
				n.Advertised += af.GetState().GetAdvertised()
			}
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b abuseguard.Neighbor) int { return a.Address.Compare(b.Address) })
	return out, nil
}
