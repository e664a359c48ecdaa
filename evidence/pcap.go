package evidence

import (
	"bytes"

	"abuseguard"
	"abuseguard/flow"
	"abuseguard/pcapfile"
)

// pcapFrame is one frame for traffic.pcap.
type pcapFrame struct {
	ts      int64 // Unix nanoseconds
	data    []byte
	origLen uint32
}

// pcapFrames picks the samples that carry packet data and the one link type
// to write them as. A classic pcap file has one link type for all its
// frames: when the samples have the same, it is kept (an Ethernet capture
// stays Ethernet, with its MACs); when they differ (samples from an sFlow
// agent and from a mirror port in one detection), every frame is cut to its
// IP header and written as LINKTYPE_RAW, which tcpdump and Wireshark read
// like any other capture. Frames whose IP header cannot be found are then
// left out. Flow records have no data and are never in the pcap.
func pcapFrames(samples []abuseguard.PacketSample) (flow.LinkType, []pcapFrame) {
	var (
		frames []pcapFrame
		link   uint16
		mixed  bool
	)
	for i := range samples {
		s := &samples[i]
		if len(s.Data) == 0 {
			continue
		}
		if len(frames) == 0 {
			link = s.LinkType
		} else if s.LinkType != link {
			mixed = true
		}
		frames = append(frames, pcapFrame{ts: s.Time.UnixNano(), data: s.Data, origLen: max(s.OrigLen, uint32(len(s.Data)))})
	}
	if !mixed {
		return flow.LinkType(link), frames
	}
	raw := frames[:0]
	j := 0
	for i := range samples {
		s := &samples[i]
		if len(s.Data) == 0 {
			continue
		}
		f := frames[j]
		j++
		off := ipOffset(s.LinkType, s.Data)
		if off < 0 || off >= len(s.Data) {
			continue
		}
		f.data = f.data[off:]
		f.origLen -= uint32(off)
		raw = append(raw, f)
	}
	return flow.LinkTypeRaw, raw
}

// renderPcap returns the samples that carry packet data as a classic pcap
// file with nanosecond timestamps (package pcapfile), or nil when none does.
// A frame whose time classic pcap cannot hold (before 1970, after 2106) is
// left out rather than written with a wrong time.
func renderPcap(samples []abuseguard.PacketSample) []byte {
	link, frames := pcapFrames(samples)
	if len(frames) == 0 {
		return nil
	}
	var b bytes.Buffer
	w, err := pcapfile.NewWriter(&b, link, 0)
	if err != nil {
		return nil // a bytes.Buffer does not fail
	}
	written := 0
	for _, f := range frames {
		if w.WritePacket(f.ts, f.data, f.origLen) == nil {
			written++
		}
	}
	if written == 0 {
		return nil
	}
	return b.Bytes()
}
