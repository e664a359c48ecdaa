package evidence

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// groupDE formats v with German digit grouping, a dot every three digits
// from the right, as the seed's packet summary does: 62790 is "62.790",
// 1234567 is "1.234.567", 999 stays "999".
func groupDE(v uint64) string {
	s := strconv.FormatUint(v, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + (len(s)-1)/3)
	lead := len(s) % 3
	if lead == 0 {
		lead = 3
	}
	b.WriteString(s[:lead])
	for i := lead; i < len(s); i += 3 {
		b.WriteByte('.')
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// roundRate rounds a non-negative rate to the nearest integer, half away
// from zero. NaN, negative and infinite rates, which a detector should never
// report, render as 0 and as the largest value rather than as garbage.
func roundRate(f float64) uint64 {
	switch {
	case !(f > 0):
		return 0
	case f >= math.MaxUint64:
		return math.MaxUint64
	}
	return uint64(math.Round(f))
}

// mbits converts bit/s to the seed's "MBit/s": bit/s divided by 2^20 and
// rounded to the nearest integer.
//
// The seed shows "Sum 62.790 packets/s , 14 MBit/s" above "External ...,
// 62.770 packets/s , 13 MBit/s". A flood of that rate is one of minimal
// 28-byte packets (IPv4 + UDP or ICMP headers, nothing else): 62 770 × 28 × 8
// = 14.06·10^6 bit/s, which is 13.41 in units of 2^20 bit/s and rounds to
// 13; in units of 10^6 it would show 14, and truncation in units of 2^20
// would need the 20 remaining packets/s of the sum to carry 3 872 bytes each
// to reach 14. Rounding in units of 2^20 is the one reading under which both
// lines come from real packet sizes (the sum then needs about 600 bytes per
// packet for the other 20 packets/s).
func mbits(bps float64) uint64 {
	return roundRate(bps / (1 << 20))
}

// protoName returns the name tcpdump and /etc/protocols use for an IP
// protocol number, upper case as in our tables, or the number.
func protoName(p uint8) string {
	switch p {
	case 1:
		return "ICMP"
	case 2:
		return "IGMP"
	case 4:
		return "IPIP"
	case 6:
		return "TCP"
	case 17:
		return "UDP"
	case 41:
		return "IPv6"
	case 47:
		return "GRE"
	case 50:
		return "ESP"
	case 51:
		return "AH"
	case 58:
		return "ICMPv6"
	case 103:
		return "PIM"
	case 112:
		return "VRRP"
	case 132:
		return "SCTP"
	}
	return "proto-" + strconv.Itoa(int(p))
}

// hasPorts reports whether DstPort and SrcPort of a protocol are transport
// ports, as opposed to ICMP's type<<8|code or nothing.
func hasPorts(p uint8) bool {
	return p == 6 || p == 17 || p == 132 || p == 33 || p == 136 // TCP, UDP, SCTP, DCCP, UDP-Lite
}

// isICMP reports whether p is ICMP or ICMPv6, whose DstPort carries
// type<<8|code.
func isICMP(p uint8) bool { return p == 1 || p == 58 }

// icmpKind names the common ICMP and ICMPv6 types in a few words, for the
// tables; "" for types without a short name.
func icmpKind(proto uint8, typ uint8) string {
	if proto == 1 {
		switch typ {
		case 0:
			return "echo reply"
		case 3:
			return "unreachable"
		case 5:
			return "redirect"
		case 8:
			return "echo request"
		case 11:
			return "time exceeded"
		case 12:
			return "parameter problem"
		case 13:
			return "timestamp request"
		}
		return ""
	}
	switch typ {
	case 1:
		return "unreachable"
	case 2:
		return "packet too big"
	case 3:
		return "time exceeded"
	case 4:
		return "parameter problem"
	case 128:
		return "echo request"
	case 129:
		return "echo reply"
	case 133:
		return "router solicitation"
	case 134:
		return "router advertisement"
	case 135:
		return "neighbor solicitation"
	case 136:
		return "neighbor advertisement"
	}
	return ""
}

// zoneLabel is how the logs name the time zone of their times: "UTC", or
// the location's name ("Europe/Berlin"), which unlike an abbreviation stays
// the same across a change to or from summer time inside one log.
func zoneLabel(loc *time.Location) string {
	return loc.String()
}

// stamp formats a time to the second in loc, as the tables show it.
func stamp(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(time.DateTime)
}

// seconds renders a duration in whole seconds, rounded, for footers.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64(d.Round(time.Second)/time.Second), 10) + " s"
}

// plural returns "1 thing" or "n things".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
