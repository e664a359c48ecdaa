package pcap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"abuseguard/decoder/netflow"
	"abuseguard/decoder/packet"
	"abuseguard/decoder/sflow"
	"abuseguard/flow"
	"abuseguard/pcapfile"
)

// Dependencies of a Source. All are optional.
type Dependencies struct {
	// Logger receives the events of a run; slog.Default() when nil.
	Logger *slog.Logger
	// Metrics, when not nil, is updated after every batch (see NewMetrics).
	Metrics *Metrics
}

// Source reads capture files into record batches. It keeps NetFlow v9 and
// IPFIX template state from one file to the next. A Source is not safe for
// concurrent use: it is one reader with one set of reused buffers.
type Source struct {
	cfg     Configuration
	log     *slog.Logger
	metrics *Metrics
	netflow *netflow.Decoder
	sflow   *sflow.Decoder

	recs []flow.Record // the batch being filled
	// arena holds copies of the sFlow datagrams the batch's records point
	// into. Packet records point into the pcapfile.Reader's buffer, which
	// stays valid until the reader calls OnReuse's function: the batch is
	// flushed then.
	arena []byte

	// pacing: wall-clock start and capture time of the first frame of the
	// current file.
	paceWall time.Time
	paceCap  int64
}

// arenaSize is the room for the batch's copied sFlow datagrams: 1024
// full-size ones. A batch is flushed early when it is full.
const arenaSize = 1536 << 10

// NewSource validates cfg and returns a Source.
func NewSource(cfg Configuration, deps Dependencies) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pcap input: %w", err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Source{
		cfg:     cfg,
		log:     log,
		metrics: deps.Metrics,
		netflow: netflow.New(netflow.Config{}),
		sflow:   sflow.New(sflow.Config{}),
		recs:    make([]flow.Record, 0, cfg.BatchSize+1),
		arena:   make([]byte, 0, arenaSize),
	}, nil
}

// SetSamplingRate configures the sampling rate of a NetFlow/IPFIX
// exporter's records, as netflow.Decoder.SetSamplingRate does: without
// force only where the export carries none.
func (s *Source) SetSamplingRate(exporter netip.Addr, rate uint32, force bool) {
	s.netflow.SetSamplingRate(exporter, rate, force)
}

// DecoderStats returns the counters of the flow decoders since NewSource,
// over all the files read.
func (s *Source) DecoderStats() (netflow.Stats, sflow.Stats) {
	return s.netflow.Stats(), s.sflow.Stats()
}

// ReadFile reads the capture at path and calls sink with batches of
// records until the file ends, ctx is done or the file turns out corrupt.
// The batches follow the flow.Sink contract: records and their Header
// bytes are valid only during the call.
//
// It returns what it read even on error. Errors name the file and, for a
// corrupt file, the byte offset of the bad record or block; frames that
// are not IP or that fail to decode, and flow datagrams with bad records,
// are not errors of the file: they are counted in Stats.Errors.
func (s *Source) ReadFile(ctx context.Context, path string, sink flow.Sink) (Stats, error) {
	st := newStats()
	f, err := os.Open(path)
	if err != nil {
		return st, fmt.Errorf("read capture: %w", err)
	}
	defer f.Close()
	st.Files = 1
	err = s.read(ctx, f, sink, &st)
	if s.metrics != nil {
		s.metrics.add(&st)
	}
	if err != nil {
		return st, fmt.Errorf("read capture %s: %w", path, err)
	}
	return st, nil
}

// Read is ReadFile for a capture that is not a file (standard input, a
// pipe). name is used in errors only.
func (s *Source) Read(ctx context.Context, name string, r io.Reader, sink flow.Sink) (Stats, error) {
	st := newStats()
	st.Files = 1
	err := s.read(ctx, r, sink, &st)
	if s.metrics != nil {
		s.metrics.add(&st)
	}
	if err != nil {
		return st, fmt.Errorf("read capture %s: %w", name, err)
	}
	return st, nil
}

// ctxCheckEvery is how many frames go by between checks of ctx: a check
// costs about 20 ns, a frame about 100.
const ctxCheckEvery = 256

func (s *Source) read(ctx context.Context, r io.Reader, sink flow.Sink, st *Stats) error {
	rd, err := pcapfile.NewReader(r)
	if err != nil {
		return err
	}
	rd.OnReuse(func() { s.flush(sink, st) })
	s.recs, s.arena = s.recs[:0], s.arena[:0]
	s.paceWall, s.paceCap = time.Time{}, 0
	defer s.flush(sink, st)
	var fr pcapfile.Frame
	for i := 0; ; i++ {
		if i%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := rd.NextFrame(&fr); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		st.Frames++
		if s.cfg.Speed > 0 {
			if err := s.pace(ctx, fr.Time, sink, st); err != nil {
				return err
			}
		}
		s.frame(&fr, sink, st)
	}
}

// frame turns one frame into records appended to the batch.
func (s *Source) frame(fr *pcapfile.Frame, sink flow.Sink, st *Stats) {
	// Room for the scratch record and a copy of the frame, should it be an
	// sFlow datagram; flow datagrams grow the batch past BatchSize by at
	// most one datagram's records.
	if len(s.recs) >= s.cfg.BatchSize || len(s.arena)+len(fr.Data) > cap(s.arena) {
		s.flush(sink, st)
	}
	// The slot is reused as it is rather than zeroed (three cache lines):
	// DecodePayload resets the fields it fills, and the rest are set below.
	if n := len(s.recs); n < cap(s.recs) {
		s.recs = s.recs[:n+1]
	} else {
		s.recs = append(s.recs, flow.Record{})
	}
	r := &s.recs[len(s.recs)-1]
	payload, complete, err := packet.DecodePayload(fr.LinkType, fr.Data, r)
	if err != nil {
		s.recs = s.recs[:len(s.recs)-1]
		st.count(packetErrorKind(err))
		return
	}
	if payload != nil && s.cfg.FlowExports == FlowExportsAuto && r.Flags&flow.FlagFragment == 0 {
		if p := Recognize(payload); p != NotFlow && complete {
			s.recs = s.recs[:len(s.recs)-1]
			s.datagram(p, r.Src, payload, fr.Time, st)
			return
		} else if !complete && looksLikeExport(payload) {
			// An export cut by the snap length or fragmented: its records
			// cannot be read, and it is not traffic to account either.
			s.recs = s.recs[:len(s.recs)-1]
			st.count("export_incomplete")
			return
		}
	}
	r.Exporter = netip.Addr{}
	r.Start, r.End = fr.Time, fr.Time
	r.SamplingRate = 1
	r.InIf, r.OutIf, r.FlowDirection = 0, 0, flow.DirectionUnknown
	r.Header = fr.Data // valid until the reader's OnReuse, which flushes
	r.HeaderType = fr.LinkType
	r.OrigLen = fr.OrigLen
	st.Packets++
}

// datagram decodes one flow export into the batch.
func (s *Source) datagram(p Protocol, exporter netip.Addr, payload []byte, t int64, st *Stats) {
	st.Datagrams[p]++
	recv := time.Unix(0, t)
	var err error
	before := len(s.recs)
	if p == SFlowV5 {
		// sFlow records point into the payload for their Header: keep a
		// copy that lives as long as the batch.
		n := len(s.arena)
		s.arena = append(s.arena, payload...)
		s.recs, err = s.sflow.Decode(exporter, s.arena[n:], recv, s.recs)
		if err != nil {
			st.count("sflow_" + sflow.KindOf(err).String())
		}
	} else {
		s.recs, err = s.netflow.Decode(exporter, payload, recv, s.recs)
		if err != nil {
			st.count("netflow_" + netflow.KindOf(err).String())
		}
	}
	st.Flows += uint64(len(s.recs) - before)
}

// flush hands the batch to the sink and empties it.
func (s *Source) flush(sink flow.Sink, st *Stats) {
	if len(s.recs) > 0 {
		st.Records += uint64(len(s.recs))
		sink(s.recs)
	}
	s.recs, s.arena = s.recs[:0], s.arena[:0]
}

// pace waits until the capture time t is due at the configured speed. The
// batch is flushed before waiting, so records reach the sink when their
// time comes rather than a batch later.
func (s *Source) pace(ctx context.Context, t int64, sink flow.Sink, st *Stats) error {
	if s.paceWall.IsZero() {
		s.paceWall, s.paceCap = time.Now(), t
		return nil
	}
	due := s.paceWall.Add(time.Duration(float64(t-s.paceCap) / s.cfg.Speed))
	wait := time.Until(due)
	if wait < time.Millisecond {
		return nil // timer resolution: frames a millisecond apart go together
	}
	s.flush(sink, st)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// looksLikeExport is the version check alone, for payloads too short to
// be laid out in full: NetFlow/IPFIX versions 5, 9, 10, or sFlow's 32-bit
// version 5 followed by address type 1 or 2.
func looksLikeExport(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	switch v := uint16(b[0])<<8 | uint16(b[1]); v {
	case 5, 9, 10:
		return true
	case 0:
		return b[2] == 0 && b[3] == 5 && b[4] == 0 && b[5] == 0 && b[6] == 0 && (b[7] == 1 || b[7] == 2)
	}
	return false
}

func packetErrorKind(err error) string {
	switch {
	case errors.Is(err, packet.ErrNotIP):
		return "not_ip"
	case errors.Is(err, packet.ErrLinkType):
		return "link_type"
	}
	return "malformed"
}
