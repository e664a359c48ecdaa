package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"abuseguard/flow"
	"abuseguard/input/pcap"
)

func newFlowsCmd() *cobra.Command {
	var (
		asJSON      bool
		flowExports string
	)
	cmd := &cobra.Command{
		Use:   "flows [--json] FILE...",
		Short: "Print the flow records in capture files, as the collector sees them",
		Long: `flows reads pcap and pcapng files and prints one line per record, like nfdump -r:
packets become one record each; UDP datagrams that are flow exports (NetFlow v5/v9,
IPFIX, sFlow v5, on any port) become the flow records they carry, with the packet's
source address as exporter. Template state carries across the files, in order, so
templates in one capture decode the data in the next. "-" reads standard input.
A summary goes to standard error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			cfg := pcap.DefaultConfiguration()
			cfg.FlowExports = flowExports
			if err := cfg.Validate(); err != nil {
				return usageError{fmt.Errorf("--flow-exports: %w", err)}
			}
			return runFlows(cmd, cfg, files, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per record")
	cmd.Flags().StringVar(&flowExports, "flow-exports", pcap.FlowExportsAuto, "auto: decode flow exports found in UDP payloads; off: show them as packets")
	return cmd
}

func runFlows(cmd *cobra.Command, cfg pcap.Configuration, files []string, asJSON bool) error {
	src, err := pcap.NewSource(cfg, pcap.Dependencies{})
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
	var line []byte
	sink := func(recs []flow.Record) {
		for i := range recs {
			if asJSON {
				line = appendFlowJSON(line[:0], &recs[i])
			} else {
				line = appendFlowLine(line[:0], &recs[i])
			}
			out.Write(line)
		}
	}
	if !asJSON {
		out.WriteString(flowHeader)
	}
	var total pcap.Stats
	var readErr error
	for _, f := range files {
		var st pcap.Stats
		if f == "-" {
			st, readErr = src.Read(cmd.Context(), "standard input", cmd.InOrStdin(), sink)
		} else {
			st, readErr = src.ReadFile(cmd.Context(), f, sink)
		}
		total.Add(st)
		if readErr != nil {
			break
		}
	}
	werr := out.Flush()
	nf, sf := src.DecoderStats()
	fmt.Fprintln(cmd.ErrOrStderr(), flowSummary(&total, nf.NoSamplingRate+sf.NoSamplingRate))
	if readErr != nil {
		return readErr
	}
	if werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		return fmt.Errorf("write records: %w", werr)
	}
	return nil
}

// flowHeader names the columns of appendFlowLine. Times are UTC to the
// millisecond, as nfdump prints them; DUR is End-Start in seconds.
const flowHeader = "TIME (UTC)              DUR    PROTO SRC                                        DST                                        FLAGS        PKTS        BYTES SAMPLING EXPORTER\n"

// appendFlowLine appends one record as a line of flowHeader's columns.
func appendFlowLine(b []byte, r *flow.Record) []byte {
	b = time.Unix(0, r.Start).UTC().AppendFormat(b, "2006-01-02 15:04:05.000")
	b = append(b, ' ')
	b = pad(b, strconv.AppendFloat(nil, float64(r.End-r.Start)/1e9, 'f', 3, 64), 6, true)
	b = append(b, ' ')
	b = pad(b, []byte(protoName(r.Proto)), 5, false)
	b = append(b, ' ')
	b = pad(b, appendEndpoint(nil, r.Src, r.SrcPort, r, false), 42, false)
	b = append(b, " -> "...)
	b = pad(b, appendEndpoint(nil, r.Dst, r.DstPort, r, true), 40, false)
	b = append(b, ' ')
	b = appendTCPFlags(b, r)
	b = append(b, ' ')
	b = pad(b, strconv.AppendUint(nil, r.Packets, 10), 11, true)
	b = append(b, ' ')
	b = pad(b, strconv.AppendUint(nil, r.Bytes, 10), 12, true)
	b = append(b, ' ')
	if r.SamplingRate == 0 {
		b = pad(b, []byte("-"), 8, true)
	} else {
		b = pad(b, strconv.AppendUint(nil, uint64(r.SamplingRate), 10), 8, true)
	}
	b = append(b, ' ')
	if r.Exporter.IsValid() {
		b = r.Exporter.AppendTo(b)
	} else {
		b = append(b, '-')
	}
	return append(b, '\n')
}

// pad appends s padded with spaces to width, on the left when right is
// set (numbers), on the right otherwise.
func pad(b, s []byte, width int, right bool) []byte {
	if right {
		for range width - len(s) {
			b = append(b, ' ')
		}
		return append(b, s...)
	}
	b = append(b, s...)
	for range width - len(s) {
		b = append(b, ' ')
	}
	return b
}

// appendEndpoint appends addr:port for protocols with ports. ICMP has
// none: the destination shows type.code (from DstPort, the NetFlow
// convention), the source only its address, as nfdump does; other
// protocols show addresses only.
func appendEndpoint(b []byte, a netip.Addr, port uint16, r *flow.Record, dst bool) []byte {
	if !a.IsValid() {
		return append(b, '-')
	}
	if a.Is6() {
		b = append(b, '[')
		b = a.AppendTo(b)
		b = append(b, ']')
	} else {
		b = a.AppendTo(b)
	}
	switch r.Proto {
	case flow.ProtoTCP, flow.ProtoUDP, flow.ProtoSCTP, 136: // 136: UDP-Lite
	case flow.ProtoICMP, flow.ProtoICMPv6:
		if !dst {
			return b
		}
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(port>>8), 10)
		b = append(b, '.')
		return strconv.AppendUint(b, uint64(port&0xff), 10)
	default:
		return b // no ports: GRE, ESP, VRRP...
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(port), 10)
}

// appendTCPFlags appends the flags as nfdump does, one letter per bit
// from CWR down to FIN ("....S.." style), or "-" for other protocols.
func appendTCPFlags(b []byte, r *flow.Record) []byte {
	if r.Proto != flow.ProtoTCP {
		return append(b, "-       "...)
	}
	const letters = "CEUAPRSF"
	for i := range 8 {
		if r.TCPFlags&(0x80>>i) != 0 {
			b = append(b, letters[i])
		} else {
			b = append(b, '.')
		}
	}
	return b
}

// protoName names the protocols the detectors care about; others print
// as their number.
func protoName(p uint8) string {
	switch p {
	case flow.ProtoTCP:
		return "TCP"
	case flow.ProtoUDP:
		return "UDP"
	case flow.ProtoICMP:
		return "ICMP"
	case flow.ProtoICMPv6:
		return "ICMP6"
	case flow.ProtoSCTP:
		return "SCTP"
	case 47:
		return "GRE"
	case 50:
		return "ESP"
	case 51:
		return "AH"
	}
	return strconv.Itoa(int(p))
}

// appendFlowJSON appends one record as a JSON object and a newline. Keys:
// exporter (null for packets), src, dst, src_port, dst_port, proto (the
// IP protocol number), tcp_flags, packets, bytes, sampling_rate (0 when
// unknown), start, end (RFC 3339, UTC, nanoseconds), in_if, out_if,
// direction ("ingress", "egress" or ""), and header_len, the bytes of
// captured header kept for the traffic dump.
func appendFlowJSON(b []byte, r *flow.Record) []byte {
	b = append(b, `{"exporter":`...)
	b = appendJSONAddr(b, r.Exporter)
	b = append(b, `,"src":`...)
	b = appendJSONAddr(b, r.Src)
	b = append(b, `,"dst":`...)
	b = appendJSONAddr(b, r.Dst)
	b = appendJSONUint(b, "src_port", uint64(r.SrcPort))
	b = appendJSONUint(b, "dst_port", uint64(r.DstPort))
	b = appendJSONUint(b, "proto", uint64(r.Proto))
	b = appendJSONUint(b, "tcp_flags", uint64(r.TCPFlags))
	b = appendJSONUint(b, "packets", r.Packets)
	b = appendJSONUint(b, "bytes", r.Bytes)
	b = appendJSONUint(b, "sampling_rate", uint64(r.SamplingRate))
	b = append(b, `,"start":"`...)
	b = time.Unix(0, r.Start).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","end":"`...)
	b = time.Unix(0, r.End).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendJSONUint(b, "in_if", uint64(r.InIf))
	b = appendJSONUint(b, "out_if", uint64(r.OutIf))
	b = append(b, `,"direction":"`...)
	switch r.FlowDirection {
	case flow.DirectionIngress:
		b = append(b, "ingress"...)
	case flow.DirectionEgress:
		b = append(b, "egress"...)
	}
	b = append(b, '"')
	b = appendJSONUint(b, "header_len", uint64(len(r.Header)))
	return append(b, "}\n"...)
}

func appendJSONAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = a.AppendTo(b)
	return append(b, '"')
}

func appendJSONUint(b []byte, key string, v uint64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendUint(b, v, 10)
}

// flowSummary is the line flows prints on standard error.
func flowSummary(st *pcap.Stats, noRate uint64) string {
	var s strings.Builder
	fmt.Fprintf(&s, "flows: %d file(s), %d frames: %d packets, %d flow datagrams", st.Files, st.Frames, st.Packets, st.DatagramTotal())
	if st.DatagramTotal() > 0 {
		s.WriteString(" (")
		sep := ""
		for p := pcap.NetFlowV5; p <= pcap.SFlowV5; p++ {
			if n := st.Datagrams[p]; n > 0 {
				fmt.Fprintf(&s, "%s%s %d", sep, p, n)
				sep = ", "
			}
		}
		s.WriteString(")")
	}
	fmt.Fprintf(&s, ", %d flow records; %d records printed", st.Flows, st.Records)
	if noRate > 0 {
		fmt.Fprintf(&s, ", %d without a known sampling rate", noRate)
	}
	s.WriteString("; errors: ")
	if len(st.Errors) == 0 {
		s.WriteString("none")
	}
	for i, k := range st.ErrorKinds() {
		if i > 0 {
			s.WriteString(", ")
		}
		fmt.Fprintf(&s, "%s %d", k, st.Errors[k])
	}
	return s.String()
}
