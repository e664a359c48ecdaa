package detect

import (
	"cmp"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"abuseguard"
	"abuseguard/flow"
)

func scanRecords(n int, start, every time.Duration) []flow.Record {
	var rs []flow.Record
	for i := 0; i < n; i++ {
		rs = append(rs, syn(at(start+time.Duration(i)*every), scanner, ext(i), 22))
	}
	return rs
}

func TestAllAtOneInstant(t *testing.T) {
	// A capture whose packets all carry one timestamp: 100 SYNs and a
	// record of 500 000 packets. Rates are over the fixed window, so the
	// latter is 50 000 pps, not infinite; the scan is judged at Flush.
	rs := scanRecords(100, 0, 0)
	big := rec(at(0), server, ext(1), flow.ProtoUDP, 1, 2, 0, 0)
	big.Packets, big.Bytes = 500_000, 500_000*64
	rs = append(rs, big)
	want := []summary{
		{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, false, 100, 100},
		{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, true, 100, 100},
		{abuseguard.ReasonPacketLimit, abuseguard.SubkindPPS, server, false, 50_000, 0},
		{abuseguard.ReasonPacketLimit, abuseguard.SubkindPPS, server, true, 50_000, 0},
	}
	got := run(t, testConfig(), rs)
	sortDetections(got)
	if diff := gocmp.Diff(summarize(got), want); diff != "" {
		t.Fatalf("detections (-got, +want):\n%s", diff)
	}
}

func TestYearsApart(t *testing.T) {
	// 99 attempts in 2024 and one in 2027 are not 100 within a minute; the
	// 2024 flood ends when 2027 traffic comes, with its 2024 figures.
	e, s := newEngine(t, testConfig())
	e.Process(scanRecords(99, 0, 10*time.Millisecond))
	e.Process(steady(12, ext(1), victim, flow.ProtoUDP, 80, 300_000, 60))
	threeYears := 3 * 365 * 24 * time.Hour
	e.Process([]flow.Record{syn(at(threeYears), scanner, ext(5000), 22)})
	got := s.all()
	want := []summary{
		{abuseguard.ReasonIncomingFlood, abuseguard.SubkindPPS, victim, false, 210_000, 0},
		{abuseguard.ReasonIncomingFlood, abuseguard.SubkindPPS, victim, true, 300_000, 0},
	}
	if diff := gocmp.Diff(summarize(got), want); diff != "" {
		t.Fatalf("detections (-got, +want):\n%s", diff)
	}
	if fin := got[1]; fin.LastSeen.After(t0.Add(time.Minute)) {
		t.Fatalf("LastSeen = %v, want in 2024", fin.LastSeen)
	}
	// The jump freed everything: only the address of the 2027 record is
	// tracked.
	if n := e.shards[0].addrs.len(); n != 1 {
		t.Fatalf("tracked %d addresses after the jump, want 1", n)
	}
	e.Flush()
	if got := s.all(); len(got) != 2 {
		t.Fatalf("Flush added %v", summarize(got[2:]))
	}
}

func TestOutOfOrder(t *testing.T) {
	// A scan of 150 hosts over 15 s and a flood, with records shuffled by up
	// to 3 s (several exporters): the same detections as in order.
	ordered := append(scanRecords(150, 0, 100*time.Millisecond), steady(15, ext(1), victim, flow.ProtoUDP, 80, 300_000, 60)...)
	sortByTime(ordered)
	// Each record arrives up to 3 s after it ended.
	r := rand.New(rand.NewPCG(4, 4))
	type arrival struct {
		at  int64
		rec flow.Record
	}
	var as []arrival
	for _, x := range ordered {
		as = append(as, arrival{x.End + r.Int64N(int64(3*time.Second)), x})
	}
	slices.SortFunc(as, func(a, b arrival) int { return cmp.Compare(a.at, b.at) })
	var shuffled []flow.Record
	for _, a := range as {
		shuffled = append(shuffled, a.rec)
	}
	if slices.EqualFunc(shuffled, ordered, func(a, b flow.Record) bool { return a.End == b.End }) {
		t.Fatalf("the shuffle left the records in order")
	}
	finals := func(rs []flow.Record) []summary {
		e, s := newEngine(t, testConfig())
		e.Process(rs)
		e.Flush()
		return summarize(s.finals())
	}
	want := finals(ordered)
	if len(want) != 2 {
		t.Fatalf("in order: %v, want a scan and a flood", want)
	}
	if diff := gocmp.Diff(finals(shuffled), want); diff != "" {
		t.Fatalf("shuffled (-got, +want):\n%s", diff)
	}
}

func TestLateRecordsClamped(t *testing.T) {
	// An hour into the input, a burst of records from the start arrives (a
	// stuck exporter flushing). Each counts once, clamped to the oldest
	// bucket: 1 000 records of 400 packets are 40 000 pps for the second
	// they sit there, not the 400 000 pps of their summed packets.
	e, s := newEngine(t, testConfig())
	e.Process([]flow.Record{syn(at(time.Hour), server, ext(1), 443)})
	var late []flow.Record
	for i := 0; i < 1000; i++ {
		r := rec(at(time.Duration(i)*time.Millisecond), server, ext(2), flow.ProtoUDP, 1, 2, 0, 0)
		r.Packets, r.Bytes = 400, 400*100
		late = append(late, r)
	}
	e.Process(late)
	e.Flush()
	if got := s.all(); len(got) != 0 {
		t.Fatalf("got %v, want none", summarize(got))
	}
	if sh := e.shards[0]; sh.st[stLate] != 1000 || sh.st[stClamped] != 1000 || sh.st[stTimeResets] != 0 {
		t.Fatalf("late %d, clamped %d, resets %d; want 1000, 1000, 0", sh.st[stLate], sh.st[stClamped], sh.st[stTimeResets])
	}
}

func TestCorruptFutureTimestamp(t *testing.T) {
	// One record stamped 2100 (a corrupt export) must not freeze the
	// windows: after lateReset records far behind it, the shard resets its
	// clock, and the scan that follows is found.
	e, s := newEngine(t, testConfig())
	bad := syn(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), "203.0.113.99", ext(1), 80)
	e.Process([]flow.Record{bad})
	var rs []flow.Record
	for i := 0; i < lateReset; i++ {
		rs = append(rs, ack(at(time.Duration(i)*time.Millisecond), "203.0.113.50", ext(i%50), 40000, 443))
	}
	rs = append(rs, scanRecords(150, 5*time.Second, 10*time.Millisecond)...)
	sortByTime(rs)
	e.Process(rs)
	e.Flush()
	got := summarize(s.all())
	want := []summary{
		{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, false, 100, 100},
		{abuseguard.ReasonNetscan, abuseguard.SubkindHorizontal, scanner, true, 150, 150},
	}
	if diff := gocmp.Diff(got, want); diff != "" {
		t.Fatalf("detections (-got, +want):\n%s", diff)
	}
	if n := e.shards[0].st[stTimeResets]; n != 1 {
		t.Fatalf("time resets = %d, want 1", n)
	}
}

func TestExtremeTimestamps(t *testing.T) {
	// Timestamps at the ends of int64, zero and reversed intervals must not
	// panic or wrap.
	e, _ := newEngine(t, testConfig())
	weird := []flow.Record{
		syn(0, scanner, ext(1), 22),
		syn(math.MaxInt64, scanner, ext(2), 22),
		syn(math.MinInt64, scanner, ext(3), 22),
		func() flow.Record { r := syn(at(0), scanner, ext(4), 22); r.Start = math.MinInt64; return r }(),
		func() flow.Record { r := syn(at(0), scanner, ext(5), 22); r.Start = math.MaxInt64; return r }(),
		func() flow.Record {
			r := flowRec(0, time.Second, ext(6), victim, flow.ProtoUDP, 1, 2, 1<<40, 1<<20)
			r.SamplingRate = math.MaxUint32
			return r
		}(),
		{Start: at(0), End: at(0)}, // no addresses at all
		func() flow.Record { r := syn(at(0), scanner, ext(7), 22); r.Dst = netip.Addr{}; return r }(),
	}
	for i := 0; i < 3; i++ {
		e.Process(weird)
	}
	e.Tick(time.Unix(0, math.MaxInt64))
	e.Flush()
}

func TestCollectorRestart(t *testing.T) {
	// State is lost with the process: a new engine sees the scan afresh and
	// finds it once it has seen 100 attempts itself.
	first := scanRecords(300, 0, 100*time.Millisecond)
	e1, s1 := newEngine(t, testConfig())
	e1.Process(first[:70])
	e2, s2 := newEngine(t, testConfig())
	e2.Process(first[70:169])
	e2.Tick(t0.Add(30 * time.Second))
	if got := s2.all(); len(got) != 0 {
		t.Fatalf("restarted engine after 99 attempts: %v", summarize(got))
	}
	e2.Process(first[169:])
	e2.Flush()
	if got := s2.finals(); len(got) != 1 || got[0].FirstSeen != t0.Add(7*time.Second) {
		t.Fatalf("restarted engine: %v, want one detection from its first record", summarize(got))
	}
	if len(s1.all()) != 0 {
		t.Fatalf("the first engine reported %v", summarize(s1.all()))
	}
}

func TestTimeGap(t *testing.T) {
	// The collector was down for 30 minutes while a flood ran. When it comes
	// back, the open detection ends cleanly with its figures from before the
	// gap, and a NetFlow record of a long flow that spans the gap (30 000 pps
	// for 30 minutes, exported at once) is spread over its duration, not
	// taken for a spike.
	e, s := newEngine(t, testConfig())
	e.Process(steady(20, server, ext(1), flow.ProtoUDP, 53, 80_000, 100))
	long := flowRec(15*time.Second, 30*time.Minute, server, ext(2), flow.ProtoTCP, 40000, 443, 30_000*1800, 1400)
	e.Process([]flow.Record{long})
	e.Flush()
	got := s.all()
	want := []summary{
		{abuseguard.ReasonPacketLimit, abuseguard.SubkindPPS, server, false, 56_000, 0},
		{abuseguard.ReasonPacketLimit, abuseguard.SubkindPPS, server, true, 80_000, 0},
	}
	if diff := gocmp.Diff(summarize(got), want); diff != "" {
		t.Fatalf("detections (-got, +want):\n%s", diff)
	}
	if fin := got[1]; fin.LastSeen.After(t0.Add(21 * time.Second)) {
		t.Fatalf("LastSeen = %v, want before the gap", fin.LastSeen)
	}
}
