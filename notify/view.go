package notify

import (
	"math"
	"strconv"
	"strings"
	"time"

	"abuseguard"
)

// View is what a template sees. Times are time.Time (zero when unset) and
// are written with the "when" function, in the configured zone.
type View struct {
	Lang  abuseguard.Language
	Event abuseguard.Event
	// Case is the case as it is now (nil for events without one, like
	// breaker_tripped); Data holds what the event recorded at its time.
	Case     *abuseguard.Case
	Data     map[string]string
	Customer abuseguard.Customer
	Server   abuseguard.Server
	// Detection is the case's first detection with its figures, nil if
	// none was kept.
	Detection *abuseguard.Detection
	// Deadline, Until and ProbationUntil are the event's (as recorded
	// then), else the case's.
	Deadline, Until, ProbationUntil time.Time
	// AccessIP is the access address the event set, else the case's.
	AccessIP string
	// AccessIPAllowed: the reason allows an access IP (netscan, packet
	// limit, abuse; M9); for the others a remote console (M10).
	AccessIPAllowed bool
	// StatusURL and StatementURL are tokenised links (empty without
	// links); APIURL is the JSON API's base, PortalURL the portal's.
	StatusURL, StatementURL, APIURL, PortalURL string
	// EdgeRouter names the edge routers a traceroute ends at.
	EdgeRouter string
	// Attachments are the attached evidence files; Omitted those too big
	// for the mail.
	Attachments, Omitted []string
	// Fallback: a customer's mail sent to the operators because no
	// customer address is known.
	Fallback bool
	// Failure describes a given-up delivery (template delivery_failed).
	Failure *failure
}

type failure struct {
	Event     string
	Recipient string
	Attempts  int
	Error     string
}

func (n *Notifier) view(e abuseguard.Event, info *caseInfo, lang abuseguard.Language, fallback bool) *View {
	v := &View{Lang: lang, Event: e, Data: e.Data, Case: info.c, Customer: info.customer, Server: info.server,
		EdgeRouter: n.cfg.Mail.EdgeRouter, Omitted: info.omitted, Fallback: fallback}
	if v.Data == nil {
		v.Data = map[string]string{}
	}
	v.Deadline = dataTime(v.Data, "deadline")
	v.Until = dataTime(v.Data, "until")
	v.ProbationUntil = dataTime(v.Data, "probation_until")
	v.AccessIP = v.Data["access_ip"]
	if c := info.c; c != nil {
		if len(c.Detections) > 0 {
			v.Detection = &c.Detections[0]
		}
		if v.Deadline.IsZero() {
			v.Deadline = c.Deadline
		}
		if v.Until.IsZero() {
			v.Until = c.BlockUntil
		}
		if v.ProbationUntil.IsZero() {
			v.ProbationUntil = c.ProbationUntil
		}
		if v.AccessIP == "" && c.AccessIP.IsValid() {
			v.AccessIP = c.AccessIP.String()
		}
		v.AccessIPAllowed = c.Reason == abuseguard.ReasonNetscan || c.Reason == abuseguard.ReasonPacketLimit ||
			c.Reason == abuseguard.ReasonAbuse
		if n.links != nil {
			// Issued at the event's time, not now: a resend carries the
			// same links, byte for byte.
			v.StatusURL = n.links.URL(c.ID, PurposeStatus, e.Time)
			v.StatementURL = n.links.URL(c.ID, PurposeStatement, e.Time)
		}
	}
	if n.links != nil {
		v.PortalURL = n.links.BaseURL()
		v.APIURL = n.links.BaseURL() + "/api/v1"
	}
	return v
}

func dataTime(data map[string]string, key string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, data[key])
	if err != nil {
		return time.Time{}
	}
	return t
}

// funcs are the template functions for a language and zone.
func funcs(lang abuseguard.Language, loc *time.Location) map[string]any {
	return map[string]any{
		"when": func(t time.Time) string { return when(t, lang, loc) },
		"num":  func(x any) string { return num(x, lang) },
		// mbit writes bits/s as Mbit/s, the unit of the packet-limit log.
		"mbit": func(x float64) string { return num(math.Round(x/1e6), lang) },
		"join": strings.Join,
		"dur":  dur,
	}
}

// dur writes a Go duration string ("10m0s", as events record it) the way
// people write it: "10 min", "1 h 30 min", "45 s".
func dur(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return s
	}
	var parts []string
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "min"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			parts = append(parts, strconv.FormatInt(int64(n), 10)+" "+u.name)
			d -= n * u.d
		}
	}
	if len(parts) == 0 {
		return s
	}
	return strings.Join(parts, " ")
}

// when writes a time in the zone, with the zone's abbreviation and
// offset: "2024-10-23 06:47 CEST (UTC+02:00)", German
// "23.10.2024, 06:47 Uhr CEST (UTC+02:00)". Zero is "-".
func when(t time.Time, lang abuseguard.Language, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	t = t.In(loc)
	zone := t.Format("MST (UTC-07:00)")
	if name, off := t.Zone(); off == 0 && (name == "UTC" || name == "GMT") {
		zone = "UTC"
	}
	if lang == abuseguard.LanguageGerman {
		return t.Format("02.01.2006, 15:04 Uhr ") + zone
	}
	return t.Format("2006-01-02 15:04 ") + zone
}

// num writes a number rounded to an integer with digit grouping: German
// "62.790", English "62,790" (the packet-limit log's convention).
func num(x any, lang abuseguard.Language) string {
	var f float64
	switch x := x.(type) {
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	case uint32:
		f = float64(x)
	case float64:
		f = x
	case string:
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return x
		}
		f = v
	default:
		return "?"
	}
	s := strconv.FormatFloat(math.Round(math.Abs(f)), 'f', 0, 64)
	sep := ","
	if lang == abuseguard.LanguageGerman {
		sep = "."
	}
	var b strings.Builder
	if f < 0 && s != "0" {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	return b.String()
}
