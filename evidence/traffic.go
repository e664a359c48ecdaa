package evidence

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"abuseguard"
)

// The traffic dump writes one line per sampled packet as `tcpdump -n` prints
// it without -v, e.g.
//
//	21:44:53.145756 IP 203.0.113.7.55008 > 76.9.23.182.29615: UDP, length 9216
//
// so that a customer can compare it with a capture of their own. The lines
// carry only the time of day, as tcpdump's do; the date is in a comment
// line ("# 2024-10-23 UTC") at the top and again wherever it changes.
//
// What is and is not the same as tcpdump's line:
//   - UDP and TCP "length" is the transport payload: the IP length minus the
//     IP header (IPv4 options and IPv6 extension headers included) minus 8
//     (UDP) or the TCP header with its options. The header lengths come from
//     the packet data when the sample has it; a flow record has none, and
//     then option-less headers (IPv4 20, IPv6 40, TCP 20 bytes) are assumed.
//     UDP uses the UDP header's own length field when captured, as tcpdump.
//   - TCP shows the flags in tcpdump's notation (Flags [S.]) but not the
//     sequence and acknowledgement numbers, window and options, which a flow
//     record does not carry and which tcpdump prints relative to the
//     connection's first packet, so they depend on what else was captured.
//   - ICMP and ICMPv6 echo, unreachable, time exceeded, parameter problem,
//     packet too big and neighbour and router discovery are worded as
//     tcpdump 4.99 words them, with identifier, sequence and the quoted
//     packet when the sample has packet data; other types differ.
//   - Application protocols (DNS on port 53, NTP on 123, ...) are not
//     decoded: tcpdump would print the query, we print "UDP, length N".
//     IPv6 extension headers are not named. Other IP protocols print as
//     tcpdump prints protocols it does not know: "ip-proto-47 24".
//   - A flow record sample (NetFlow, IPFIX) stands for all its packets: the
//     line ends in "[flow of N packets]" and the length is the mean.

// lastSamples returns the last n samples in time order (a stable sort, so
// samples with equal times keep their order), in a new slice.
func lastSamples(all []abuseguard.PacketSample, n int) []abuseguard.PacketSample {
	s := slices.Clone(all)
	slices.SortStableFunc(s, func(a, b abuseguard.PacketSample) int { return a.Time.Compare(b.Time) })
	return s[max(0, len(s)-n):]
}

// renderTraffic renders traffic.log from the samples to show (already
// bounded and sorted).
func renderTraffic(d *abuseguard.Detection, samples []abuseguard.PacketSample, o Options) *bytes.Buffer {
	var b bytes.Buffer
	zone := zoneLabel(o.Location)
	if len(samples) == len(d.Samples) {
		fmt.Fprintf(&b, "# %s to and from %s, times in %s\n",
			plural(len(samples), "sampled packet", "sampled packets"), d.Address, zone)
	} else {
		fmt.Fprintf(&b, "# The last %d of %d sampled packets to and from %s, times in %s\n",
			len(samples), len(d.Samples), d.Address, zone)
	}
	if rate := maxSamplingRate(samples); rate > 1 {
		fmt.Fprintf(&b, "# Sampling rate: 1 in %d, the packets in between were not captured\n", rate)
	}
	day := ""
	for i := range samples {
		s := &samples[i]
		t := s.Time.In(o.Location)
		if dd := t.Format("2006-01-02"); dd != day {
			day = dd
			fmt.Fprintf(&b, "# %s %s\n", day, zone)
		}
		b.WriteString(t.Format("15:04:05.000000"))
		b.WriteByte(' ')
		writeTcpdump(&b, s)
		b.WriteByte('\n')
	}
	return &b
}

func maxSamplingRate(samples []abuseguard.PacketSample) uint32 {
	var r uint32
	for i := range samples {
		r = max(r, samples[i].SamplingRate)
	}
	return r
}

// writeTcpdump writes the line of one sample after the time stamp.
func writeTcpdump(b *bytes.Buffer, s *abuseguard.PacketSample) {
	p, parsed := parseFrame(s.LinkType, s.Data)
	if parsed && (p.proto != s.Proto || p.fragment) {
		// The data does not say what the parsed fields say (a
		// non-first fragment has no transport header): trust the
		// fields, which the detector acted on.
		parsed = false
	}
	ipLen, ipHdr := int(s.Length), ipv4MinHdrLen
	if s.Src.Is6() {
		ipHdr = ipv6HeaderLen
	}
	if parsed {
		ipLen, ipHdr = p.length, p.hdrLen
	}
	payload := max(0, ipLen-ipHdr) // the transport header and its payload

	if s.Src.Is6() {
		b.WriteString("IP6 ")
	} else {
		b.WriteString("IP ")
	}
	if hasPorts(s.Proto) {
		writeAddrPort(b, s.Src, s.SrcPort)
		b.WriteString(" > ")
		writeAddrPort(b, s.Dst, s.DstPort)
	} else {
		b.WriteString(s.Src.String())
		b.WriteString(" > ")
		b.WriteString(s.Dst.String())
	}
	b.WriteString(": ")

	switch s.Proto {
	case 6:
		tcpHdr := 20
		if parsed && len(p.l4) >= 13 {
			tcpHdr = int(p.l4[12]>>4) * 4
		}
		fmt.Fprintf(b, "Flags [%s], length %d", tcpFlags(s.TCPFlags), max(0, payload-tcpHdr))
	case 17:
		n := payload - 8
		if parsed && len(p.l4) >= 8 {
			n = int(binary.BigEndian.Uint16(p.l4[4:])) - 8
		}
		fmt.Fprintf(b, "UDP, length %d", max(0, n))
	case 1:
		var l4 []byte
		if parsed {
			l4 = p.l4
		}
		fmt.Fprintf(b, "ICMP %s, length %d", icmp4Text(s.DstPort, l4), payload)
	case 58:
		var l4 []byte
		if parsed {
			l4 = p.l4
		}
		fmt.Fprintf(b, "ICMP6, %s, length %d", icmp6Text(s.DstPort, l4), payload)
	default:
		if hasPorts(s.Proto) {
			fmt.Fprintf(b, "%s, length %d", protoName(s.Proto), payload)
		} else {
			fmt.Fprintf(b, " ip-proto-%d %d", s.Proto, payload)
		}
	}
	if s.Packets > 1 {
		fmt.Fprintf(b, " [flow of %d packets]", s.Packets)
	}
}

// writeAddrPort writes addr.port as tcpdump does, for IPv6 as well
// (2001:db8::1.443, not [2001:db8::1]:443).
func writeAddrPort(b *bytes.Buffer, a netip.Addr, port uint16) {
	b.WriteString(a.String())
	b.WriteByte('.')
	b.WriteString(strconv.Itoa(int(port)))
}

// tcpFlags renders TCP flags in tcpdump's order and letters: F S R P, "."
// for ACK, U, E (ECE), W (CWR); "none" when no flag is set.
func tcpFlags(f uint8) string {
	if f == 0 {
		return "none"
	}
	const letters = "FSRP.UEW" // bit 0 (FIN) to bit 7 (CWR)
	var buf [8]byte
	n := 0
	for i := range 8 {
		if f&(1<<i) != 0 {
			buf[n] = letters[i]
			n++
		}
	}
	return string(buf[:n])
}

// icmp4Text words an ICMP message as tcpdump does, from type<<8|code and,
// when captured, the ICMP header and the packet it quotes (l4, nil when
// there is no packet data).
func icmp4Text(typeCode uint16, l4 []byte) string {
	typ, code := uint8(typeCode>>8), uint8(typeCode)
	withData := len(l4) >= 8
	switch typ {
	case 0, 8:
		word := "echo request"
		if typ == 0 {
			word = "echo reply"
		}
		if withData {
			return fmt.Sprintf("%s, id %d, seq %d", word, binary.BigEndian.Uint16(l4[4:]), binary.BigEndian.Uint16(l4[6:]))
		}
		return word
	case 3:
		if withData {
			if inner, ok := parseIP(l4[8:]); ok {
				if t, ok := unreach4Text(code, &inner, binary.BigEndian.Uint16(l4[6:])); ok {
					return t
				}
			}
		}
		return fmt.Sprintf("unreachable, code %d", code)
	case 11:
		switch code {
		case 0:
			return "time exceeded in-transit"
		case 1:
			return "ip reassembly time exceeded"
		}
	case 12:
		if code != 0 {
			return fmt.Sprintf("parameter problem - code %d", code)
		}
		if withData {
			return fmt.Sprintf("parameter problem - octet %d", l4[4])
		}
		return "parameter problem"
	}
	return fmt.Sprintf("type-#%d", typ)
}

// unreach4Text words an ICMP destination unreachable (RFC 792, RFC 1812)
// by code, naming the quoted packet's destination as tcpdump does; mtu is
// the next-hop MTU of "fragmentation needed" (RFC 1191).
func unreach4Text(code uint8, inner *ipPacket, mtu uint16) (string, bool) {
	dst := inner.dst.String()
	switch code {
	case 0:
		return "net " + dst + " unreachable", true
	case 1:
		return "host " + dst + " unreachable", true
	case 2:
		return fmt.Sprintf("%s protocol %d unreachable", dst, inner.proto), true
	case 3:
		if len(inner.l4) < 4 {
			return "", false
		}
		port := binary.BigEndian.Uint16(inner.l4[2:])
		switch inner.proto {
		case 6:
			return fmt.Sprintf("%s tcp port %d unreachable", dst, port), true
		case 17:
			return fmt.Sprintf("%s udp port %d unreachable", dst, port), true
		}
		return fmt.Sprintf("%s protocol %d port %d unreachable", dst, inner.proto, port), true
	case 4:
		if mtu != 0 {
			return fmt.Sprintf("%s unreachable - need to frag (mtu %d)", dst, mtu), true
		}
		return dst + " unreachable - need to frag", true
	case 9:
		return "net " + dst + " unreachable - admin prohibited", true
	case 10:
		return "host " + dst + " unreachable - admin prohibited", true
	case 13:
		return "host " + dst + " unreachable - admin prohibited filter", true
	}
	return "", false
}

// icmp6Text words an ICMPv6 message as tcpdump does (the text after
// "ICMP6, "), from type<<8|code and, when captured, the message (l4).
func icmp6Text(typeCode uint16, l4 []byte) string {
	typ, code := uint8(typeCode>>8), uint8(typeCode)
	withData := len(l4) >= 8
	switch typ {
	case 128, 129:
		word := "echo request"
		if typ == 129 {
			word = "echo reply"
		}
		if withData {
			return fmt.Sprintf("%s, id %d, seq %d", word, binary.BigEndian.Uint16(l4[4:]), binary.BigEndian.Uint16(l4[6:]))
		}
		return word
	case 1:
		if withData {
			if inner, ok := parseIP(l4[8:]); ok {
				if t, ok := unreach6Text(code, &inner); ok {
					return "destination unreachable, " + t
				}
			}
		}
		return fmt.Sprintf("destination unreachable, code %d", code)
	case 2:
		if withData {
			return fmt.Sprintf("packet too big, mtu %d", binary.BigEndian.Uint32(l4[4:]))
		}
		return "packet too big"
	case 3:
		if code == 1 {
			return "time exceeded in-transit (reassembly)"
		}
		if withData && code == 0 {
			if inner, ok := parseIP(l4[8:]); ok {
				return "time exceeded in-transit for " + inner.dst.String()
			}
		}
		return "time exceeded in-transit"
	case 4:
		var ptr uint32
		if withData {
			ptr = binary.BigEndian.Uint32(l4[4:])
		}
		switch code {
		case 0:
			return fmt.Sprintf("parameter problem, erroneous - octet %d", ptr)
		case 1:
			return fmt.Sprintf("parameter problem, next header - octet %d", ptr)
		case 2:
			return fmt.Sprintf("parameter problem, option - octet %d", ptr)
		case 3: // RFC 7112
			return fmt.Sprintf("parameter problem, incomplete header chain - octet %d", ptr)
		}
		return fmt.Sprintf("parameter problem, code-#%d", code)
	case 133:
		return "router solicitation"
	case 134:
		return "router advertisement"
	case 135, 136:
		if len(l4) >= 24 {
			target := netip.AddrFrom16([16]byte(l4[8:24]))
			if typ == 135 {
				return "neighbor solicitation, who has " + target.String()
			}
			return "neighbor advertisement, tgt is " + target.String()
		}
		return icmpKind(58, typ)
	}
	return fmt.Sprintf("unknown icmp6 type (%d)", typ)
}

// unreach6Text words an ICMPv6 destination unreachable (RFC 4443) by code,
// including tcpdump's double space before "unreachable prohibited".
func unreach6Text(code uint8, inner *ipPacket) (string, bool) {
	dst := inner.dst.String()
	switch code {
	case 0:
		return "unreachable route " + dst, true
	case 1:
		return " unreachable prohibited " + dst, true
	case 2:
		return "beyond scope " + dst + ", source address " + inner.src.String(), true
	case 3:
		return "unreachable address " + dst, true
	case 4:
		if len(inner.l4) < 4 {
			return "", false
		}
		port := binary.BigEndian.Uint16(inner.l4[2:])
		switch inner.proto {
		case 6:
			return fmt.Sprintf("unreachable port, %s tcp port %d", dst, port), true
		case 17:
			return fmt.Sprintf("unreachable port, %s udp port %d", dst, port), true
		}
	}
	return "", false
}
