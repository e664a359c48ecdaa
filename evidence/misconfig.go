package evidence

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"abuseguard"
)

// renderMisconfiguration renders misconfiguration.log. Traffic to private or
// reserved destinations is a list of attempts like a netscan; traffic from
// unassigned or spoofed sources is a table of the sources seen, with the
// source MAC where the samples carry Ethernet frames, followed by the
// attempts when the detector recorded any.
func renderMisconfiguration(d *abuseguard.Detection, o Options) *bytes.Buffer {
	var b bytes.Buffer
	switch d.Subkind {
	case abuseguard.SubkindUnassignedSource, abuseguard.SubkindSpoofedSource:
		title := "Unassigned source addresses from"
		if d.Subkind == abuseguard.SubkindSpoofedSource {
			title = "Spoofed source addresses from"
		}
		// The addresses are not the server's, so name the server when
		// the inventory attributed the traffic to one (by its MAC).
		if d.ServerID != "" {
			writeBanner(&b, title+" server   "+d.ServerID)
		} else {
			writeBanner(&b, bannerText(title+" host", d.Address))
		}
		writeSourceTable(&b, d, o)
		if len(d.Attempts) > 0 {
			b.WriteString("\n")
			shown := firstAttempts(d.Attempts, o.Attempts)
			writeAttemptTable(&b, shown, o)
			writeAttemptFooter(&b, d, shown, o)
		}
	default: // private_destination, and whatever else lists attempts
		writeBanner(&b, bannerText("Traffic to private or reserved destinations from host", d.Address))
		shown := firstAttempts(d.Attempts, o.Attempts)
		writeAttemptTable(&b, shown, o)
		writeAttemptFooter(&b, d, shown, o)
	}
	return &b
}

// sourceRow is one source address (and MAC) seen sending.
type sourceRow struct {
	src         netip.Addr
	mac         string // "-" when unknown
	count       uint64
	first, last time.Time
}

// writeSourceTable lists the source addresses the detection saw, one row per
// source address and MAC:
//
//	SRC              MAC                  COUNT  FIRST SEEN (UTC)     LAST SEEN (UTC)
//
// The rows come from the attempts (each counts once) or, when the detector
// recorded none, from the samples sent by the detection's address (each
// counts its packets). MACs come from the samples that are Ethernet frames.
// Counts are what was observed, not scaled by the sampling rate.
func writeSourceTable(b *bytes.Buffer, d *abuseguard.Detection, o Options) {
	type key struct {
		src netip.Addr
		mac string
	}
	rows := map[key]*sourceRow{}
	add := func(src netip.Addr, mac string, n uint64, t time.Time) {
		k := key{src, mac}
		r := rows[k]
		if r == nil {
			r = &sourceRow{src: src, mac: mac, first: t, last: t}
			rows[k] = r
		}
		r.count += n
		if t.Before(r.first) {
			r.first = t
		}
		if t.After(r.last) {
			r.last = t
		}
	}
	macs := map[netip.Addr]string{} // source address → first MAC seen in the samples
	for i := range d.Samples {
		s := &d.Samples[i]
		if mac, ok := sourceMAC(s); ok {
			if _, seen := macs[s.Src]; !seen {
				macs[s.Src] = mac
			}
		}
	}
	if len(d.Attempts) > 0 {
		for _, a := range d.Attempts {
			add(a.Src, cmp.Or(macs[a.Src], "-"), 1, a.Time)
		}
	} else {
		for i := range d.Samples {
			s := &d.Samples[i]
			if s.Src != d.Address {
				continue // an answer, not sent by the server
			}
			mac, ok := sourceMAC(s)
			if !ok {
				mac = "-"
			}
			add(s.Src, mac, max(s.Packets, 1), s.Time)
		}
	}
	list := make([]*sourceRow, 0, len(rows))
	for _, r := range rows {
		list = append(list, r)
	}
	slices.SortFunc(list, func(x, y *sourceRow) int {
		if c := cmp.Compare(y.count, x.count); c != 0 {
			return c
		}
		if c := x.src.Compare(y.src); c != 0 {
			return c
		}
		return strings.Compare(x.mac, y.mac)
	})

	zone := zoneLabel(o.Location)
	addrW := attemptAddrWidth
	countW := len("COUNT")
	for _, r := range list {
		addrW = max(addrW, len(r.src.String()))
		countW = max(countW, len(strconv.FormatUint(r.count, 10)))
	}
	firstLabel, lastLabel := "FIRST SEEN ("+zone+")", "LAST SEEN ("+zone+")"
	timeW := max(attemptTimeWidth, len(firstLabel))
	line := func(src, mac, count, first, last string) {
		fmt.Fprintf(b, "%-*s  %-17s  %*s  %-*s  %s\n", addrW, src, mac, countW, count, timeW, first, last)
	}
	before := b.Len()
	line("SRC", "MAC", "COUNT", firstLabel, lastLabel)
	sep := strings.Repeat("-", max(b.Len()-before-1, attemptAddrWidth)) + "\n"
	b.WriteString(sep)
	var total uint64
	for _, r := range list {
		line(r.src.String(), r.mac, strconv.FormatUint(r.count, 10), stamp(r.first, o.Location), stamp(r.last, o.Location))
		total += r.count
	}
	b.WriteString(sep)
	unit := "packets"
	if len(d.Attempts) > 0 {
		unit = "attempts"
	}
	fmt.Fprintf(b, "%s, %s seen\n", plural(len(list), "source address", "source addresses"), plural(int(total), unit[:len(unit)-1], unit))
	if len(d.Attempts) == 0 {
		writeWindow(b, d, o)
		if d.SamplingRate > 1 {
			fmt.Fprintf(b, "Sampling rate: 1 in %d, counts are of the sampled packets\n", d.SamplingRate)
		}
	}
}

// sourceMAC returns the source MAC of a sample that is an Ethernet frame.
func sourceMAC(s *abuseguard.PacketSample) (string, bool) {
	if s.LinkType != 1 || len(s.Data) < 12 {
		return "", false
	}
	return net.HardwareAddr(s.Data[6:12]).String(), true
}
