package netns

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Direction is a packet's direction seen from the customer server.
type Direction string

// Directions of Summary rows.
const (
	Out     Direction = "out" // from ServerAddr4 or ServerAddr6
	In      Direction = "in"  // to the server
	Neither Direction = "-"   // ARP, neighbour discovery to multicast
)

// Packet classes of Summary rows: an attempt (TCP SYN without ACK) is told
// apart from the replies a detector must not count.
const (
	ClassTCPSYN      = "tcp-syn"    // SYN without ACK
	ClassTCPSYNACK   = "tcp-synack" // SYN and ACK
	ClassTCPRST      = "tcp-rst"    // RST, with or without ACK
	ClassTCP         = "tcp"        // any other TCP segment
	ClassUDP         = "udp"
	ClassEcho        = "icmp-echo"       // echo request, v4 or v6
	ClassEchoReply   = "icmp-echo-reply" // echo reply, v4 or v6
	ClassUnreachable = "icmp-unreach"    // destination unreachable, v4 or v6
	ClassICMP        = "icmp"            // any other ICMP or ICMPv6
	ClassARP         = "arp"
	ClassNDP         = "ndp" // ICMPv6 router and neighbour discovery
	ClassMLD         = "mld" // ICMPv6 multicast listener discovery
	ClassOther       = "other"
)

// Summary is what a capture holds, told by tshark (an independent decoder,
// not our own) and seen from the customer server.
type Summary struct {
	Packets  int
	Bytes    int64         // original frame lengths, not the snaplen
	Duration time.Duration // first to last packet
	Rows     []ClassCount  // sorted by class, then direction
}

// ClassCount counts one class of packets in one direction. Peers are the
// remote ends: destinations of outgoing packets, sources of incoming ones.
type ClassCount struct {
	Class     string
	Dir       Direction
	Packets   int
	Bytes     int64
	Peers     int // distinct remote addresses
	PeerPorts int // distinct remote TCP/UDP ports
	// MaxPeers60s is the most distinct remote addresses seen within any
	// 60 s, the detection window of the netscan defaults.
	MaxPeers60s int
}

// Count returns the row for class and direction (zero when absent).
func (s Summary) Count(class string, dir Direction) ClassCount {
	for _, r := range s.Rows {
		if r.Class == class && r.Dir == dir {
			return r
		}
	}
	return ClassCount{Class: class, Dir: dir}
}

// String renders the rows as a Markdown table.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| class | dir | packets | bytes | peers | peer ports | max peers in 60 s |\n")
	fmt.Fprintf(&b, "|---|---|---:|---:|---:|---:|---:|\n")
	for _, r := range s.Rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d |\n", r.Class, r.Dir, r.Packets, r.Bytes, r.Peers, r.PeerPorts, r.MaxPeers60s)
	}
	return b.String()
}

// tsharkFields are read per packet; occurrence=f takes the outer header
// where an ICMP error quotes an inner one.
var tsharkFields = []string{
	"frame.time_epoch", "frame.len", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
	"tcp.flags", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
	"icmp.type", "icmpv6.type", "arp.opcode",
}

// packet is one decoded line of tshark output.
type packet struct {
	at       time.Time
	len      int64
	class    string
	dir      Direction
	peer     netip.Addr
	peerPort int
}

// Summarize reads a pcap file with tshark and counts its packets by class
// and direction relative to the customer server.
func Summarize(t testing.TB, path string) Summary {
	t.Helper()
	RequireTool(t, "tshark")
	args := []string{"-r", path, "-n", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"}
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("tshark", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v: %s", path, err, stderr.String())
	}
	var pkts []packet
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		p, err := parsePacket(sc.Text())
		if err != nil {
			t.Fatalf("tshark line %q: %v", sc.Text(), err)
		}
		pkts = append(pkts, p)
	}
	return summarize(pkts)
}

func parsePacket(line string) (packet, error) {
	f := strings.Split(line, "\t")
	if len(f) != len(tsharkFields) {
		return packet{}, fmt.Errorf("%d fields, want %d", len(f), len(tsharkFields))
	}
	get := func(name string) string { return f[slices.Index(tsharkFields, name)] }
	num := func(name string) int {
		s := get(name)
		n, _ := strconv.ParseInt(s, 0, 64) // tcp.flags is hex "0x0012"
		if s == "" {
			return -1
		}
		return int(n)
	}
	var p packet
	secs, err := strconv.ParseFloat(get("frame.time_epoch"), 64)
	if err != nil {
		return p, err
	}
	p.at = time.Unix(0, int64(secs*1e9))
	p.len = int64(num("frame.len"))

	src, dst := get("ip.src"), get("ip.dst")
	if src == "" {
		src, dst = get("ipv6.src"), get("ipv6.dst")
	}
	srcA, _ := netip.ParseAddr(src)
	dstA, _ := netip.ParseAddr(dst)
	srcPort, dstPort := num("tcp.srcport"), num("tcp.dstport")
	if srcPort < 0 {
		srcPort, dstPort = num("udp.srcport"), num("udp.dstport")
	}
	switch {
	case srcA == ServerAddr4 || srcA == ServerAddr6:
		p.dir, p.peer, p.peerPort = Out, dstA, dstPort
	case dstA == ServerAddr4 || dstA == ServerAddr6:
		p.dir, p.peer, p.peerPort = In, srcA, srcPort
	default:
		p.dir = Neither
	}

	icmp, icmp6 := num("icmp.type"), num("icmpv6.type")
	flags := num("tcp.flags")
	switch {
	case get("arp.opcode") != "":
		p.class = ClassARP
	case icmp6 >= 133 && icmp6 <= 137:
		p.class = ClassNDP
	case (icmp6 >= 130 && icmp6 <= 132) || icmp6 == 143:
		p.class = ClassMLD
	case icmp == 8 || icmp6 == 128:
		p.class = ClassEcho
	case icmp == 0 || icmp6 == 129:
		p.class = ClassEchoReply
	case icmp == 3 || icmp6 == 1:
		p.class = ClassUnreachable
	case icmp >= 0 || icmp6 >= 0:
		p.class = ClassICMP
	case flags >= 0:
		const syn, rst, ack = 0x02, 0x04, 0x10
		switch {
		case flags&rst != 0:
			p.class = ClassTCPRST
		case flags&syn != 0 && flags&ack == 0:
			p.class = ClassTCPSYN
		case flags&syn != 0:
			p.class = ClassTCPSYNACK
		default:
			p.class = ClassTCP
		}
	case get("udp.srcport") != "":
		p.class = ClassUDP
	default:
		p.class = ClassOther
	}
	if p.class != ClassTCPSYN && p.class != ClassTCPSYNACK && p.class != ClassTCPRST &&
		p.class != ClassTCP && p.class != ClassUDP {
		p.peerPort = -1 // an ICMP error's ports belong to the quoted packet
	}
	return p, nil
}

type rowKey struct {
	class string
	dir   Direction
}

func summarize(pkts []packet) Summary {
	var s Summary
	groups := map[rowKey][]packet{}
	for _, p := range pkts {
		s.Packets++
		s.Bytes += p.len
		groups[rowKey{p.class, p.dir}] = append(groups[rowKey{p.class, p.dir}], p)
	}
	if len(pkts) > 0 {
		s.Duration = pkts[len(pkts)-1].at.Sub(pkts[0].at)
	}
	for k, ps := range groups {
		r := ClassCount{Class: k.class, Dir: k.dir, Packets: len(ps)}
		peers, ports := map[netip.Addr]bool{}, map[int]bool{}
		for _, p := range ps {
			r.Bytes += p.len
			if p.peer.IsValid() {
				peers[p.peer] = true
			}
			if p.peerPort >= 0 {
				ports[p.peerPort] = true
			}
		}
		r.Peers, r.PeerPorts = len(peers), len(ports)
		r.MaxPeers60s = maxPeersWithin(ps, time.Minute)
		s.Rows = append(s.Rows, r)
	}
	slices.SortFunc(s.Rows, func(a, b ClassCount) int {
		return cmp.Or(cmp.Compare(a.Class, b.Class), cmp.Compare(a.Dir, b.Dir))
	})
	return s
}

// maxPeersWithin returns the most distinct peers in any window of length
// w starting at a packet (packets are in capture order, i.e. by time).
func maxPeersWithin(ps []packet, w time.Duration) int {
	best := 0
	count := map[netip.Addr]int{}
	j := 0
	for i := range ps { // ps[i:j] is the window starting at ps[i]
		for j < len(ps) && ps[j].at.Sub(ps[i].at) < w {
			if ps[j].peer.IsValid() {
				count[ps[j].peer]++
			}
			j++
		}
		best = max(best, len(count))
		if p := ps[i].peer; p.IsValid() {
			if count[p]--; count[p] == 0 {
				delete(count, p)
			}
		}
	}
	return best
}
