package pktgen

import (
	"net/netip"

	"abuseguard/flow"
)

type scanKind uint8

const (
	scanHorizontal scanKind = iota // one port, many outside hosts
	scanVertical                   // one outside host, every port
	scanUDP6                       // one UDP port, many outside IPv6 hosts
	scanIncoming                   // from outside, one port over the customers
)

// scanner probes with SYN-only segments or empty UDP datagrams; 10 % of
// its probes are answered (RST/ACK, SYN/ACK or a UDP reply), and the
// answer is its next packet.
type scanner struct {
	kind         scanKind
	src          netip.Addr
	target       netip.Addr // vertical scan
	port         uint16
	step         int
	reply        Packet
	replyPending bool
}

func (s *scanner) next(g *generator, p *Packet) {
	if s.replyPending {
		*p = s.reply
		s.replyPending = false
		return
	}
	s.step++
	src := netip.AddrPortFrom(s.src, g.ephemeral())
	switch s.kind {
	case scanHorizontal:
		*p = Packet{Src: src, Dst: netip.AddrPortFrom(externalAddr(g.rng.IntN(externalHosts), false), s.port)}
	case scanVertical:
		*p = Packet{Src: src, Dst: netip.AddrPortFrom(s.target, uint16(s.step%65535+1))}
	case scanUDP6:
		*p = Packet{Src: src, Dst: netip.AddrPortFrom(externalAddr(g.rng.IntN(externalHosts), true), s.port), Proto: flow.ProtoUDP}
	case scanIncoming:
		*p = Packet{Src: src, Dst: netip.AddrPortFrom(g.customer(false), s.port), TTL: ttlFrom(s.src)}
	}
	if p.Proto == 0 {
		p.Proto, p.TCPFlags, p.Seq = flow.ProtoTCP, flow.TCPSyn, g.rng.Uint32()
	}
	if g.rng.Float64() < 0.10 {
		s.reply = Packet{Src: p.Dst, Dst: p.Src, Proto: p.Proto}
		if s.kind != scanIncoming {
			s.reply.TTL = ttlFrom(p.Dst.Addr()) // an outside host answers
		}
		if p.Proto == flow.ProtoTCP {
			s.reply.TCPFlags, s.reply.Ack = flow.TCPRst|flow.TCPAck, p.Seq+1
			if g.rng.IntN(4) == 0 {
				s.reply.TCPFlags, s.reply.Seq = flow.TCPSyn|flow.TCPAck, g.rng.Uint32()
			}
		} else {
			s.reply.Payload = 40
		}
		s.replyPending = true
	}
}
