package pktgen

import (
	"net/netip"

	"abuseguard/flow"
)

type sessionKind uint8

const (
	sessionTCP sessionKind = iota
	sessionDNS
	sessionQUIC
	sessionPing
)

// TCP session steps; data segments and their ACKs are between stepData
// and stepFin.
const (
	stepSyn = iota
	stepSynAck
	stepAck
	stepRequest
	stepData
	stepFin
	stepFinAck
	stepLastAck
	stepDone
)

// session is one conversation in flight: its script is derived from a
// few numbers drawn when it starts, so it holds no packet bytes.
type session struct {
	kind           sessionKind
	client, server netip.AddrPort
	clientOut      bool // the client is the customer
	step           int
	cseq, sseq     uint32
	request        int // request payload
	remaining      int // response bytes still to send
	unacked        int // data segments since the client's last ACK
	refused        bool
	unanswered     bool
	pings          int
	pingSeq        uint16
	mss            int
	name           uint32 // DNS: which name is asked for
	answers        int    // DNS: A or AAAA records in the answer
}

// newSession draws a conversation: TCP 42 %, QUIC-like UDP 5 %, DNS 38 %,
// ping 15 %.
func (g *generator) newSession() session {
	r := g.rng
	v6 := r.Float64() < ipv6Share
	s := session{clientOut: r.IntN(2) == 0, cseq: r.Uint32(), sseq: r.Uint32(), mss: 1460}
	if v6 {
		s.mss = 1440
	}
	var clientAddr, serverAddr netip.Addr
	if s.clientOut {
		clientAddr, serverAddr = g.customer(v6), g.external(v6)
	} else {
		clientAddr, serverAddr = g.external(v6), g.customer(v6)
	}
	var port uint16
	switch u := r.Float64(); {
	case u < 0.42:
		s.kind = sessionTCP
		port = g.tcpPort(s.clientOut)
		s.request = 100 + r.IntN(700)
		s.remaining = g.responseSize()
		s.refused = !s.clientOut && r.Float64() < 0.05
	case u < 0.47:
		s.kind = sessionQUIC
		port = 443
		s.request = quicInitial
		s.remaining = g.responseSize()
		s.mss = quicDatagram
	case u < 0.85:
		s.kind = sessionDNS
		port = 53
		if !s.clientOut {
			// Outside resolvers ask the customers' name servers 1-10.
			serverAddr = g.customer(v6)
			b := serverAddr.As16()
			if v6 {
				b[7] = b[7]%10 + 1
				serverAddr = netip.AddrFrom16(b)
			} else {
				serverAddr = netip.AddrFrom4([4]byte{203, 0, 113, b[15]%10 + 1})
			}
		}
		s.name = uint32(g.extZipf.Uint64())
		s.answers = 1 + r.IntN(8)
		s.cseq = uint32(r.IntN(1 << 16)) // the DNS id
		s.unanswered = r.Float64() < 0.02
	default:
		s.kind = sessionPing
		s.pings = 2 * (1 + r.IntN(4))
		s.cseq = uint32(r.IntN(1 << 16))
	}
	s.client = netip.AddrPortFrom(clientAddr, g.ephemeral())
	s.server = netip.AddrPortFrom(serverAddr, port)
	return s
}

// tcpPort is the server port: a customer's service, or a web server out there.
func (g *generator) tcpPort(out bool) uint16 {
	u := g.rng.Float64()
	if out {
		switch {
		case u < 0.70:
			return 443
		case u < 0.95:
			return 80
		}
		return 8080
	}
	switch {
	case u < 0.50:
		return 443
	case u < 0.80:
		return 80
	case u < 0.90:
		return 22
	}
	return 25
}

// responseSize draws how many bytes a TCP server sends: mostly small
// pages, a quarter medium objects, a few bulk downloads up to 1 MB.
func (g *generator) responseSize() int {
	switch u := g.rng.Float64(); {
	case u < 0.70:
		return 200 + g.rng.IntN(3000)
	case u < 0.95:
		return 10_000 + g.rng.IntN(90_000)
	}
	return 200_000 + g.rng.IntN(800_000)
}

// next fills p with the session's next packet and says whether it was the last.
func (s *session) next(g *generator, p *Packet) bool {
	switch s.kind {
	case sessionDNS:
		if s.step == 0 {
			s.step++
			s.fromClient(p, flow.ProtoUDP, 0)
			p.Data = appendDNS(g.scratch[:0], uint16(s.cseq), s.name, s.server.Addr().Is6(), 0)
			return s.unanswered
		}
		s.fromServer(p, flow.ProtoUDP, 0)
		p.Data = appendDNS(g.scratch[:0], uint16(s.cseq), s.name, s.server.Addr().Is6(), s.answers)
		return true
	case sessionQUIC:
		return s.nextQUIC(p)
	case sessionPing:
		proto, request, reply := flow.ProtoICMP, uint8(icmpEchoRequest), uint8(icmpEchoReply)
		if s.client.Addr().Is6() {
			proto, request, reply = flow.ProtoICMPv6, icmpv6EchoRequest, icmpv6EchoReply
		}
		s.pings--
		if s.pings%2 == 1 {
			s.pingSeq++
			s.fromClient(p, proto, pingPayload)
			p.ICMPType = request
		} else {
			s.fromServer(p, proto, pingPayload)
			p.ICMPType = reply
		}
		p.ICMPID, p.ICMPSeq = uint16(s.cseq), s.pingSeq
		return s.pings == 0
	}
	return s.nextTCP(p)
}

func (s *session) nextTCP(p *Packet) bool {
	switch s.step {
	case stepSyn:
		s.fromClient(p, flow.ProtoTCP, 0)
		p.TCPFlags, p.Seq = flow.TCPSyn, s.cseq
		s.cseq++
		s.step = stepSynAck
	case stepSynAck:
		s.fromServer(p, flow.ProtoTCP, 0)
		if s.refused {
			p.TCPFlags, p.Ack = flow.TCPRst|flow.TCPAck, s.cseq
			return true
		}
		p.TCPFlags, p.Seq, p.Ack = flow.TCPSyn|flow.TCPAck, s.sseq, s.cseq
		s.sseq++
		s.step = stepAck
	case stepAck:
		s.fromClient(p, flow.ProtoTCP, 0)
		p.TCPFlags, p.Seq, p.Ack = flow.TCPAck, s.cseq, s.sseq
		s.step = stepRequest
	case stepRequest:
		s.fromClient(p, flow.ProtoTCP, s.request)
		p.TCPFlags, p.Seq, p.Ack = flow.TCPPsh|flow.TCPAck, s.cseq, s.sseq
		s.cseq += uint32(s.request)
		s.step = stepData
	case stepData:
		if s.unacked >= 2 || s.remaining == 0 && s.unacked > 0 {
			s.fromClient(p, flow.ProtoTCP, 0)
			p.TCPFlags, p.Seq, p.Ack = flow.TCPAck, s.cseq, s.sseq
			s.unacked = 0
			if s.remaining == 0 {
				s.step = stepFin
			}
			break
		}
		n := min(s.mss, s.remaining)
		s.fromServer(p, flow.ProtoTCP, n)
		p.TCPFlags, p.Seq, p.Ack = flow.TCPAck, s.sseq, s.cseq
		if n == s.remaining {
			p.TCPFlags |= flow.TCPPsh
		}
		s.sseq += uint32(n)
		s.remaining -= n
		s.unacked++
	case stepFin:
		s.fromClient(p, flow.ProtoTCP, 0)
		p.TCPFlags, p.Seq, p.Ack = flow.TCPFin|flow.TCPAck, s.cseq, s.sseq
		s.cseq++
		s.step = stepFinAck
	case stepFinAck:
		s.fromServer(p, flow.ProtoTCP, 0)
		p.TCPFlags, p.Seq, p.Ack = flow.TCPFin|flow.TCPAck, s.sseq, s.cseq
		s.sseq++
		s.step = stepLastAck
	default:
		s.fromClient(p, flow.ProtoTCP, 0)
		p.TCPFlags, p.Seq, p.Ack = flow.TCPAck, s.cseq, s.sseq
		return true
	}
	return false
}

func (s *session) fromClient(p *Packet, proto uint8, payload int) {
	p.Src, p.Dst, p.Proto, p.Payload = s.client, s.server, proto, payload
	if !s.clientOut {
		p.TTL = ttlFrom(s.client.Addr())
	}
}

func (s *session) fromServer(p *Packet, proto uint8, payload int) {
	p.Src, p.Dst, p.Proto, p.Payload = s.server, s.client, proto, payload
	if s.clientOut {
		p.TTL = ttlFrom(s.server.Addr())
	}
}

// QUIC-like sizes: clients pad their first datagram to 1200 bytes (RFC
// 9000 section 14.1); servers fill datagrams to about 1252 bytes of payload.
const (
	quicInitial  = 1200
	quicDatagram = 1252
	quicAck      = 40
)

// nextQUIC plays a QUIC-like exchange over UDP/443: the client's padded
// first datagram, then server datagrams acknowledged every second one.
// The payload is not QUIC: only sizes and directions imitate it.
func (s *session) nextQUIC(p *Packet) bool {
	if s.step == 0 {
		s.step++
		s.fromClient(p, flow.ProtoUDP, s.request)
		return false
	}
	if s.unacked >= 2 || s.remaining == 0 {
		s.fromClient(p, flow.ProtoUDP, quicAck)
		s.unacked = 0
		return s.remaining == 0
	}
	n := min(s.mss, s.remaining)
	s.fromServer(p, flow.ProtoUDP, n)
	s.remaining -= n
	s.unacked++
	return false
}
