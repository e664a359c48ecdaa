package evidence

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"abuseguard"
)

// The seed's banner is 67 columns wide with the text indented by 10:
//
//	###################################################################
//	#          Netscan detected from host   x.x.x.x                   #
//	###################################################################
//
// A text that does not fit (an IPv6 address, a longer title) widens the
// banner so that at least 10 spaces stay on its right as well.
const (
	bannerWidth  = 67
	bannerIndent = 10
)

// writeBanner writes the three banner lines and the blank line after them.
func writeBanner(b *bytes.Buffer, text string) {
	inner := max(bannerWidth-2, bannerIndent+len(text)+bannerIndent)
	hashes := strings.Repeat("#", inner+2)
	b.WriteString(hashes)
	b.WriteString("\n#")
	b.WriteString(strings.Repeat(" ", bannerIndent))
	b.WriteString(text)
	b.WriteString(strings.Repeat(" ", inner-bannerIndent-len(text)))
	b.WriteString("#\n")
	b.WriteString(hashes)
	b.WriteString("\n\n")
}

// bannerText is the seed's "Netscan detected from host   x.x.x.x" for any
// title: three spaces between the title and the address, as in the seed.
func bannerText(title string, addr netip.Addr) string {
	return title + "   " + addr.String()
}

// renderNetscan renders netscan.log.
func renderNetscan(d *abuseguard.Detection, o Options) *bytes.Buffer {
	var b bytes.Buffer
	writeBanner(&b, bannerText("Netscan detected from host", d.Address))
	shown := firstAttempts(d.Attempts, o.Attempts)
	writeAttemptTable(&b, shown, o)
	writeAttemptFooter(&b, d, shown, o)
	return &b
}

// firstAttempts returns the earliest n attempts, in time order (stable, so
// attempts of the same second keep the detector's order), in a new slice.
func firstAttempts(all []abuseguard.Attempt, n int) []abuseguard.Attempt {
	s := slices.Clone(all)
	slices.SortStableFunc(s, func(a, b abuseguard.Attempt) int { return a.Time.Compare(b.Time) })
	return s[:min(n, len(s))]
}

// The attempt table in the newer layout DESIGN.md shows:
//
//	TIME (UTC)           SRC            SRC-PORT -> DST            DST-PORT  SIZE PROT
//	2024-10-23 04:47:21  203.0.113.7        3374 -> 198.51.100.155     4001  1298 UDP
//
// Time, two spaces, source left-aligned in 15 columns (the longest IPv4
// address), source port right-aligned in 8, " -> ", destination as the
// source, destination port in 8, size in 6, a space and the protocol. Both
// address columns widen to the longest address of the file, so IPv6 lines
// stay aligned with each other; the time column widens for long zone names.
const (
	attemptTimeWidth = len("2006-01-02 15:04:05")
	attemptAddrWidth = len("255.255.255.255")
	attemptPortWidth = len("SRC-PORT")
	attemptSizeWidth = len("  SIZE")
)

// writeAttemptTable writes the header, a separator, one line per attempt and
// a closing separator.
func writeAttemptTable(b *bytes.Buffer, attempts []abuseguard.Attempt, o Options) {
	timeLabel := "TIME (" + zoneLabel(o.Location) + ")"
	timeW := max(attemptTimeWidth, len(timeLabel))
	addrW := attemptAddrWidth
	sizeW := attemptSizeWidth
	for _, a := range attempts {
		addrW = max(addrW, len(a.Src.String()), len(a.Dst.String()))
		sizeW = max(sizeW, 1+len(strconv.FormatUint(uint64(a.Size), 10)))
	}
	line := func(tm, src, sport, dst, dport, size, proto string) {
		fmt.Fprintf(b, "%-*s  %-*s%*s -> %-*s%*s%*s %s\n",
			timeW, tm, addrW, src, attemptPortWidth, sport, addrW, dst, attemptPortWidth, dport, sizeW, size, proto)
	}
	before := b.Len()
	line(timeLabel, "SRC", "SRC-PORT", "DST", "DST-PORT", "SIZE", "PROT")
	sep := strings.Repeat("-", b.Len()-before-1) + "\n"
	b.WriteString(sep)
	for _, a := range attempts {
		sport, dport := ports(a.Proto, a.SrcPort, a.DstPort)
		line(stamp(a.Time, o.Location), a.Src.String(), sport, a.Dst.String(), dport,
			strconv.FormatUint(uint64(a.Size), 10), protoLabel(a.Proto, a.DstPort))
	}
	b.WriteString(sep)
}

// ports renders the port columns: numbers for protocols with ports,
// "-" and type/code ("8/0") for ICMP, "-" for anything else.
func ports(proto uint8, src, dst uint16) (string, string) {
	switch {
	case hasPorts(proto):
		return strconv.Itoa(int(src)), strconv.Itoa(int(dst))
	case isICMP(proto):
		return "-", strconv.Itoa(int(dst>>8)) + "/" + strconv.Itoa(int(dst&0xff))
	}
	return "-", "-"
}

// protoLabel is the PROT column: the protocol name, for ICMP followed by
// what the type means ("ICMP echo request").
func protoLabel(proto uint8, dstPort uint16) string {
	name := protoName(proto)
	if isICMP(proto) {
		if k := icmpKind(proto, uint8(dstPort>>8)); k != "" {
			name += " " + k
		}
	}
	return name
}

// writeAttemptFooter writes the totals under the attempt table: how many
// attempts there were and how many are shown, the distinct destinations and
// ports, the window and, for sampled input, the sampling rate.
//
// AttemptsTotal counts the attempts the detector saw, like the lines: under
// 1-in-N sampling that is the sampled attempts, and the footer adds the
// estimate N times as large. Distinct is the detector's figure, already
// scaled; it is marked as an estimate when the input was sampled.
func writeAttemptFooter(b *bytes.Buffer, d *abuseguard.Detection, shown []abuseguard.Attempt, o Options) {
	total := max(d.AttemptsTotal, uint64(len(d.Attempts)))
	rate := uint64(max(d.SamplingRate, 1))
	sampled := ""
	if rate > 1 {
		sampled = " sampled"
	}
	switch {
	case total == 0:
		b.WriteString("No attempts recorded.\n")
	case uint64(len(shown)) == total:
		fmt.Fprintf(b, "%d%s attempts in total, all shown\n", total, sampled)
	default:
		fmt.Fprintf(b, "%d%s attempts in total, first %d shown\n", total, sampled, len(shown))
	}
	if rate > 1 && total > 0 {
		fmt.Fprintf(b, "About %d attempts estimated from the sampling rate\n", total*rate)
	}

	dsts, dports := distinctTargets(shown)
	partial := uint64(len(shown)) < total
	count := func(label string, n int, fromDetector bool) {
		switch {
		case fromDetector && d.Distinct > 0 && rate > 1:
			fmt.Fprintf(b, "%s: about %d (estimated)\n", label, d.Distinct)
		case fromDetector && d.Distinct > 0:
			fmt.Fprintf(b, "%s: %d\n", label, d.Distinct)
		case partial:
			fmt.Fprintf(b, "%s: %d in the attempts shown\n", label, n)
		default:
			fmt.Fprintf(b, "%s: %d\n", label, n)
		}
	}
	// The detector's Distinct counts ports for a vertical scan and
	// destinations for everything else; the other figure is counted here.
	vertical := d.Subkind == abuseguard.SubkindVertical
	count("Distinct destinations", dsts, !vertical)
	count("Distinct destination ports", dports, vertical)
	writeWindow(b, d, o)
	if rate > 1 {
		fmt.Fprintf(b, "Sampling rate: 1 in %d\n", rate)
	}
}

// writeWindow writes the detection window line, when the detection has one.
func writeWindow(b *bytes.Buffer, d *abuseguard.Detection, o Options) {
	if d.FirstSeen.IsZero() || d.LastSeen.IsZero() {
		return
	}
	fmt.Fprintf(b, "Window: %s to %s %s (%s)\n", stamp(d.FirstSeen, o.Location),
		stamp(d.LastSeen, o.Location), zoneLabel(o.Location), seconds(d.LastSeen.Sub(d.FirstSeen)))
}

// distinctTargets counts the distinct destination addresses and destination
// ports (type/code for ICMP) among attempts.
func distinctTargets(attempts []abuseguard.Attempt) (dsts, dports int) {
	type port struct {
		proto uint8
		port  uint16
	}
	da := make(map[netip.Addr]struct{}, len(attempts))
	dp := make(map[port]struct{})
	for _, a := range attempts {
		da[a.Dst] = struct{}{}
		dp[port{a.Proto, a.DstPort}] = struct{}{}
	}
	return len(da), len(dp)
}
