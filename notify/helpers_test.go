package notify

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/notify/smtp"
	"abuseguard/notify/smtp/smtptest"
	"abuseguard/store"

	dto "github.com/prometheus/client_model/go"
)

// t0 is the fixtures' time: 04:47:21 UTC, 06:47 in Berlin (CEST).
var t0 = time.Date(2024, 10, 23, 4, 47, 21, 0, time.UTC)

// testKey is a links key for tests (32 bytes, hex).
const testKey = "5f1c0e9a2b7d43e8a6c1f0b29d8e7a3c4b5d6e7f8091a2b3c4d5e6f708192a3b"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// inventory is a map: the notifier only looks customers and servers up by
// id, and package inventory is not here yet.
type inventory struct {
	customers map[string]abuseguard.Customer
	servers   map[string]abuseguard.Server
}

func (i inventory) Customer(id string) (abuseguard.Customer, bool) {
	c, ok := i.customers[id]
	return c, ok
}
func (i inventory) Server(id string) (abuseguard.Server, bool) { s, ok := i.servers[id]; return s, ok }

func testInventory() inventory {
	return inventory{
		customers: map[string]abuseguard.Customer{
			"C100": {ID: "C100", Name: "Jörg Müller GmbH", Email: "joerg@kunde.example", Language: abuseguard.LanguageGerman},
			"C200": {ID: "C200", Name: "Ann Smith", Email: "ann@customer.example", Language: abuseguard.LanguageEnglish},
			"C300": {ID: "C300", Name: "No Mail Ltd"},
		},
		servers: map[string]abuseguard.Server{
			"S1": {ID: "S1", CustomerID: "C100", Name: "web01", Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")}},
			"S2": {ID: "S2", CustomerID: "C200", Name: "db02", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.20/32")}},
		},
	}
}

func openStore(t testing.TB, path string, channels ...string) *store.Store {
	t.Helper()
	if len(channels) == 0 {
		channels = []string{ChannelMail}
	}
	s, err := store.Open(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), path, channels)
	if err != nil {
		t.Fatalf("store.Open(): %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB, channels ...string) *store.Store {
	return openStore(t, filepath.Join(t.TempDir(), "abuseguard.db"), channels...)
}

// netscanLog is evidence as the evidence renderer writes it.
const netscanLog = `###################################################################
#          Netscan detected from host   203.0.113.7              #
###################################################################

TIME (UTC)           SRC            SRC-PORT -> DST            DST-PORT  SIZE PROT
2024-10-23 04:47:21  203.0.113.7       51234 -> 198.51.100.1         22    60 TCP
2024-10-23 04:47:21  203.0.113.7       51235 -> 198.51.100.2         22    60 TCP
`

// pcapFile is a pcap with one raw-IP packet, bytes that survive no
// text encoding (CR, LF, NUL, 0xff).
func pcapFile() []byte {
	b := make([]byte, 24+16+20)
	binary.LittleEndian.PutUint32(b[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(b[4:], 2)
	binary.LittleEndian.PutUint16(b[6:], 4)
	binary.LittleEndian.PutUint32(b[16:], 65535)
	binary.LittleEndian.PutUint32(b[20:], 101) // LINKTYPE_RAW
	binary.LittleEndian.PutUint32(b[24:], uint32(t0.Unix()))
	binary.LittleEndian.PutUint32(b[32:], 20)
	binary.LittleEndian.PutUint32(b[36:], 20)
	copy(b[40:], []byte{0x45, 0, 0, 20, 0x0d, 0x0a, 0, 0, 0xff, 6, 0, 0, 203, 0, 113, 7, 198, 51, 100, 1})
	return b
}

// caseSpec makes a case in the store.
type caseSpec struct {
	id, customer, server string
	addr                 string
	reason               abuseguard.Reason
	state                abuseguard.CaseState
	evidence             bool
}

func (cs caseSpec) make() (*abuseguard.Case, *abuseguard.Detection) {
	c := &abuseguard.Case{ID: cs.id, Reason: cs.reason, Address: netip.MustParseAddr(cs.addr),
		ServerID: cs.server, CustomerID: cs.customer, State: cs.state, Action: abuseguard.ActionWarn,
		OpenedAt: t0, UpdatedAt: t0, LastDetectionAt: t0, WarnedAt: t0, Deadline: t0.Add(24 * time.Hour),
		BlockedAt: t0.Add(time.Hour)}
	unit, value, threshold := "destinations", 412.0, 100.0
	switch cs.reason {
	case abuseguard.ReasonIncomingFlood:
		unit, value, threshold = "packets/s", 1_250_000, 200_000
	case abuseguard.ReasonPacketLimit:
		unit, value, threshold = "bits/s", 1.9e9, 1e9
	}
	d := &abuseguard.Detection{ID: "det-" + cs.id, Kind: cs.reason, Subkind: abuseguard.SubkindHorizontal,
		Address: c.Address, Direction: abuseguard.DirectionOut, ServerID: cs.server, CustomerID: cs.customer,
		FirstSeen: t0.Add(-time.Minute), LastSeen: t0, Value: value, Threshold: threshold, Unit: unit,
		Packets: 412, Bytes: 24720, SamplingRate: 1, Final: true}
	if cs.evidence {
		d.Evidence = []abuseguard.Evidence{
			{Name: "netscan.log", ContentType: "text/plain; charset=utf-8", Data: []byte(netscanLog)},
			{Name: "traffic.pcap", ContentType: "application/vnd.tcpdump.pcap", Data: pcapFile()},
		}
	}
	return c, d
}

func addCase(t testing.TB, s abuseguard.CaseStore, cs caseSpec) *abuseguard.Case {
	t.Helper()
	c, d := cs.make()
	err := s.Update(context.Background(), func(tx abuseguard.CaseTx) error {
		if err := tx.CreateCase(context.Background(), c); err != nil {
			return err
		}
		return tx.PutDetection(context.Background(), c.ID, d)
	})
	if err != nil {
		t.Fatalf("add case: %v", err)
	}
	return c
}

func addEvent(t testing.TB, s abuseguard.CaseStore, e abuseguard.Event) {
	t.Helper()
	if err := s.Update(context.Background(), func(tx abuseguard.CaseTx) error { return tx.AddEvent(context.Background(), e) }); err != nil {
		t.Fatalf("add event: %v", err)
	}
}

// testConfig sends to srv (STARTTLS, AUTH PLAIN as "ag"/"s3cret") with
// links on, times in Berlin.
func testConfig(srv *smtptest.Server) Configuration {
	cfg := DefaultConfiguration()
	cfg.Mail.From = "Example Abuse Desk <abuse@example.net>"
	cfg.Mail.Operators = []string{"noc@example.net"}
	cfg.Mail.ReplyTo = "abuse+{case}@example.net"
	cfg.Mail.TimeZone = "Europe/Berlin"
	cfg.Mail.EdgeRouter = "*-gw.example.net"
	cfg.Links = LinksConfiguration{BaseURL: "https://abuse.example.net", Key: testKey, TTL: 30 * 24 * time.Hour}
	cfg.Delivery.Workers = 2
	if srv != nil {
		cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.CAFile = srv.Host(), srv.Port(), srv.CAFile()
		cfg.SMTP.Username, cfg.SMTP.Password = "ag", "s3cret"
		cfg.SMTP.Timeout = 10 * time.Second
	}
	return cfg
}

func newNotifier(t testing.TB, cfg Configuration, s abuseguard.CaseStore, clk *clock, mailer smtp.Transport) *Notifier {
	t.Helper()
	n, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, Dependencies{
		Store: s, Inventory: testInventory(), DataDir: t.TempDir(), Mailer: mailer, Clock: clk.Now,
	})
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	n.jitter = func() float64 { return 0.5 }
	return n
}

// counter reads abuseguard_notify_deliveries_total for channel and result.
func counter(n *Notifier, channel, result string) float64 {
	var m dto.Metric
	n.m.deliveries.WithLabelValues(channel, result).Write(&m)
	return m.GetCounter().GetValue()
}

func runOnce(t testing.TB, n *Notifier) int {
	t.Helper()
	got, err := n.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce(): %v", err)
	}
	return got
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustGlob(t testing.TB, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordingMailer keeps the mails it is given: for tests about what is
// sent, not how (TestMailOverSMTP covers the wire).
type recordingMailer struct {
	mu    sync.Mutex
	mails []*smtp.Mail
}

func (r *recordingMailer) Send(_ context.Context, m *smtp.Mail) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mails = append(r.mails, m)
	return nil
}

func (r *recordingMailer) String() string { return "recording" }

func (r *recordingMailer) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, m := range r.mails {
		ids = append(ids, m.MessageID)
	}
	return ids
}
