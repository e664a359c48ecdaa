package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"abuseguard"
	"abuseguard/notify/smtp"
)

// withEvidence lists the events whose mail carries the evidence: those
// that tell of a detection. The later ones (statement, unblock) refer to
// it by case id.
var withEvidence = map[abuseguard.EventType]bool{
	abuseguard.EventWarned: true, abuseguard.EventReminder: true, abuseguard.EventBlocked: true,
	abuseguard.EventFloodBlocked: true, abuseguard.EventPendingApproval: true,
}

// sendMail renders and sends the mail of one delivery.
func (n *Notifier) sendMail(ctx context.Context, d abuseguard.Delivery) error {
	if d.Event.Type == abuseguard.EventReminder {
		// A reminder that could only go out after its deadline (the mail
		// server was down) would remind of the past; the block mail, if
		// any, says what happened.
		if dl := dataTime(d.Event.Data, "deadline"); !dl.IsZero() && !n.now().Before(dl) {
			return errSkipped
		}
	}
	m, err := n.composeMail(ctx, d.Event)
	if err != nil {
		return err
	}
	return n.mailer.Send(ctx, m)
}

// composeMail builds the mail for an event: recipients, language, the
// rendered template, threading headers and attachments.
func (n *Notifier) composeMail(ctx context.Context, e abuseguard.Event) (*smtp.Mail, error) {
	info, err := n.load(ctx, e, withEvidence[e.Type], n.cfg.Mail.MaxAttachmentBytes)
	if err != nil {
		return nil, err
	}
	m := &smtp.Mail{
		MessageID: n.messageID(e.ID, ""),
		Date:      e.Time.In(n.loc),
		From:      n.from,
		Headers:   map[string]string{"X-Abuseguard-Event": string(e.Type), "X-Abuseguard-Event-Id": e.ID},
	}
	lang := n.cfg.Mail.Language
	fallback := false
	switch {
	case forOperators(e.Type):
		m.To = n.operators
	case info.known:
		m.To = []smtp.Address{{Name: info.customer.Name, Address: info.customer.Email}}
		if info.customer.Language == abuseguard.LanguageGerman || info.customer.Language == abuseguard.LanguageEnglish {
			lang = info.customer.Language
		}
		if n.cfg.Mail.CopyOperators {
			m.Bcc = n.operators
		}
	default:
		// No customer or no address known: the operators get the
		// customer's mail to pass on, rather than nobody.
		m.To, fallback = n.operators, true
	}
	if e.CaseID != "" {
		// One thread per case: every mail of the case refers to the same
		// (never sent) root id, the way issue trackers thread.
		root := n.messageID("case."+e.CaseID, "")
		m.InReplyTo, m.References = root, []string{root}
		m.Headers["X-Abuseguard-Case"] = e.CaseID
		if n.cfg.Mail.ReplyTo != "" {
			m.ReplyTo = &smtp.Address{Address: strings.ReplaceAll(n.cfg.Mail.ReplyTo, "{case}", e.CaseID)}
		}
	}
	v := n.view(e, info, lang, fallback)
	for _, ev := range info.attached {
		name := attachmentName(e.CaseID, ev, v.Attachments)
		v.Attachments = append(v.Attachments, name)
		m.Attachments = append(m.Attachments, smtp.Attachment{Name: name, ContentType: ev.ContentType, Data: ev.Data})
	}
	if m.Subject, m.Text, err = n.tmpl.render(lang, string(e.Type), v); err != nil {
		return nil, permanent("render %s/%s: %w", lang, e.Type, err)
	}
	return m, nil
}

// messageID returns a Message-ID for a stable key (an event id): the same
// key gives the same id, which is what makes a resend recognisable. Keys
// that are not plain atoms are hashed.
func (n *Notifier) messageID(key, suffix string) string {
	safe := key != ""
	for _, r := range key {
		if !(r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			safe = false
		}
	}
	if !safe {
		sum := sha256.Sum256([]byte(key))
		key = hex.EncodeToString(sum[:16])
	}
	return key + suffix + "@" + n.domain
}

// attachmentName names an evidence file in the mail: the case id first
// (customers save attachments of several cases into one folder), logs as
// .txt so that every system opens them, unique within the mail.
func attachmentName(caseID string, ev abuseguard.Evidence, taken []string) string {
	base := path.Base(strings.ReplaceAll(ev.Name, `\`, "/"))
	if strings.HasPrefix(ev.ContentType, "text/") {
		base = strings.TrimSuffix(base, path.Ext(base)) + ".txt"
	}
	if caseID != "" {
		base = caseID + "-" + base
	}
	name := base
	for i := 2; contains(taken, name); i++ {
		ext := path.Ext(base)
		name = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(base, ext), i, ext)
	}
	return name
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// alertGivenUp tells the operators, by a mail sent once and directly (not
// through the outbox, which just failed), that a customer was not
// notified. Other give-ups (operator mails, webhooks) are the metric's and
// the log's.
func (n *Notifier) alertGivenUp(ctx context.Context, d abuseguard.Delivery, cause error) {
	if d.Channel != ChannelMail || forOperators(d.Event.Type) {
		return
	}
	lang := n.cfg.Mail.Language
	info, err := n.load(ctx, d.Event, false, 0)
	if err != nil {
		info = &caseInfo{} // the case is what failed to load: say what we know
	}
	v := n.view(d.Event, info, lang, false)
	v.Failure = &failure{Event: string(d.Event.Type), Attempts: d.Attempts, Error: errText(cause),
		Recipient: info.customer.Email}
	subject, text, err := n.tmpl.render(lang, templateDeliveryFailed, v)
	if err != nil {
		n.log.Error("operator alert not rendered", "error", err)
		return
	}
	m := &smtp.Mail{MessageID: n.messageID(d.Event.ID, ".failed"), Date: n.now().In(n.loc), From: n.from,
		To: n.operators, Subject: subject, Text: text,
		Headers: map[string]string{"X-Abuseguard-Event": templateDeliveryFailed, "X-Abuseguard-Event-Id": d.Event.ID}}
	if d.Event.CaseID != "" {
		root := n.messageID("case."+d.Event.CaseID, "")
		m.InReplyTo, m.References = root, []string{root}
		m.Headers["X-Abuseguard-Case"] = d.Event.CaseID
	}
	if err := n.mailer.Send(ctx, m); err != nil {
		n.log.Error("operator alert about a given-up delivery not sent", "event", d.Event.ID, "error", err)
		return
	}
	n.m.alerts.Inc()
}
