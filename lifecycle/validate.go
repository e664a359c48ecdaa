package lifecycle

import (
	"math"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"abuseguard"
)

// Bounds on input, in characters or items: generous for real use, small
// enough that nobody fills the store through one request.
const (
	maxIDLen          = 128
	maxTextLen        = 4000 // statement fields, comments
	maxMessageLen     = 10000
	maxListLen        = 1000 // attempts, peers, services per detection
	maxEvidencePerDet = 16
	maxEvidenceSize   = 8 << 20
)

var (
	caseIDPattern  = regexp.MustCompile(`^AG-[0-9A-F]{6}$`)
	fileNameFormat = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// ValidCaseID reports whether id has the form of a case id.
func ValidCaseID(id string) bool { return caseIDPattern.MatchString(id) }

func invalid(format string, args ...any) error {
	return abuseguard.Errorf(abuseguard.EINVALID, format, args...)
}

// ValidateDetection checks a detection from any source and unmaps its
// addresses. Errors: EINVALID, saying what is wrong.
func ValidateDetection(d *abuseguard.Detection) error {
	switch {
	case d.ID == "" || len(d.ID) > maxIDLen || !printable(d.ID):
		return invalid("The detection id must be 1 to %d printable characters.", maxIDLen)
	case !d.Address.IsValid():
		return invalid("The detection needs the customer address.")
	}
	d.Address = d.Address.Unmap()
	if d.Address.IsUnspecified() || d.Address.IsMulticast() || d.Address.IsLoopback() {
		return invalid("%s is not a host address.", d.Address)
	}
	switch d.Kind {
	case abuseguard.ReasonNetscan, abuseguard.ReasonPacketLimit, abuseguard.ReasonIncomingFlood,
		abuseguard.ReasonMisconfiguration, abuseguard.ReasonAbuse:
	default:
		return invalid("Unknown detection kind %q: netscan, packet_limit, incoming_flood, misconfiguration or abuse.", d.Kind)
	}
	switch d.Direction {
	case "", abuseguard.DirectionIn, abuseguard.DirectionOut:
	default:
		return invalid("Direction must be in or out.")
	}
	if len(d.Subkind) > 64 || len(d.Unit) > 64 || len(d.ServerID) > maxIDLen || len(d.CustomerID) > maxIDLen ||
		len(d.HostGroup) > maxIDLen || !printable(d.Subkind+d.Unit+d.ServerID+d.CustomerID+d.HostGroup) {
		return invalid("Subkind, unit, server, customer and host group must be short printable strings.")
	}
	if d.FirstSeen.IsZero() || d.LastSeen.IsZero() || d.LastSeen.Before(d.FirstSeen) {
		return invalid("first_seen and last_seen are required, last_seen not before first_seen.")
	}
	for _, f := range []float64{d.Value, d.Threshold, d.PPS, d.BPS} {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return invalid("Value, threshold, pps and bps must be finite and not negative.")
		}
	}
	if d.SamplingRate == 0 {
		d.SamplingRate = 1
	}
	if len(d.Attempts) > maxListLen || len(d.Peers) > maxListLen || len(d.Services) > maxListLen {
		return invalid("At most %d attempts, peers and services per detection.", maxListLen)
	}
	for i := range d.Attempts {
		d.Attempts[i].Src, d.Attempts[i].Dst = d.Attempts[i].Src.Unmap(), d.Attempts[i].Dst.Unmap()
	}
	for i := range d.Peers {
		d.Peers[i].Addr = d.Peers[i].Addr.Unmap()
	}
	if len(d.Evidence) > maxEvidencePerDet {
		return invalid("At most %d evidence files per detection.", maxEvidencePerDet)
	}
	for _, e := range d.Evidence {
		if !fileNameFormat.MatchString(e.Name) {
			return invalid("Evidence file name %q: letters, digits, '.', '_' and '-', at most 64.", e.Name)
		}
		switch e.ContentType {
		case "text/plain; charset=utf-8", "application/vnd.tcpdump.pcap", "application/json":
		default:
			return invalid("Evidence content type %q is not text/plain; charset=utf-8, application/vnd.tcpdump.pcap or application/json.", e.ContentType)
		}
		if len(e.Data) == 0 {
			return invalid("Evidence file %s is empty.", e.Name)
		}
		if len(e.Data) > maxEvidenceSize {
			return invalid("Evidence file %s is larger than %d bytes.", e.Name, maxEvidenceSize)
		}
	}
	d.Samples = nil // rendered into Evidence already; never stored
	return nil
}

// reserved are prefixes that are never an access IP: not reachable from
// the internet, or not one host (RFC 6890 special-purpose registries).
var reserved = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
		"3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// checkAccessIP says why a is not acceptable as an access IP, or nil.
func (l *Lifecycle) checkAccessIP(a netip.Addr) error {
	if !a.IsValid() {
		return invalid("The access IP is missing.")
	}
	a = a.Unmap()
	for _, p := range reserved {
		if p.Contains(a) {
			return invalid("%s is a private, reserved or multicast address (%s): the access IP must be a public address from which you will reach the server.", a, p)
		}
	}
	if !a.IsGlobalUnicast() {
		return invalid("%s is not a public unicast address.", a)
	}
	if l.inv.ProviderSpace(a) || l.inv.Protected(a) {
		return invalid("%s is in the provider's own address space: the access IP must be outside it, e.g. your office's address.", a)
	}
	return nil
}

func (l *Lifecycle) checkStatement(st abuseguard.Statement) error {
	for _, f := range []struct{ name, v string }{{"cause", st.Cause}, {"fix", st.Fix}, {"prevention", st.Prevention}} {
		if strings.TrimSpace(f.v) == "" {
			return invalid("The statement's %s is required.", f.name)
		}
		if utf8.RuneCountInString(f.v) > maxTextLen || !utf8.ValidString(f.v) {
			return invalid("The statement's %s must be valid text of at most %d characters.", f.name, maxTextLen)
		}
	}
	if !st.Commitment {
		return invalid("The statement needs your commitment to keep the problem fixed.")
	}
	return nil
}

func checkText(name, v string, max int, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return invalid("The %s is required.", name)
	}
	if utf8.RuneCountInString(v) > max || !utf8.ValidString(v) {
		return invalid("The %s must be valid text of at most %d characters.", name, max)
	}
	return nil
}

func checkDuration(d time.Duration) error {
	if d != 0 && (d < time.Minute || d > 366*24*time.Hour) {
		return invalid("A block duration must be between 1 minute and 366 days, or none.")
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}
