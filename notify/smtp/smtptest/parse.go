package smtptest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Part is a leaf of a parsed MIME message.
type Part struct {
	ContentType string // media type, lowercase, without parameters
	Charset     string
	// Filename is set for attachments.
	Filename string
	Data     []byte
}

// Parsed is a message taken apart for assertions.
type Parsed struct {
	Header mail.Header
	// Subject is the decoded subject.
	Subject string
	// Text and HTML are the decoded bodies.
	Text, HTML  string
	Attachments []Part
	// Types lists the media types of the message and its parts, depth
	// first: "multipart/mixed", "text/plain", "text/x-log"...
	Types []string
}

// Parse parses a message as received.
func Parse(data []byte) (*Parsed, error) {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	p := &Parsed{Header: m.Header}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	if err := p.walk(textproto(m.Header), m.Body); err != nil {
		return nil, err
	}
	return p, nil
}

type header interface{ Get(string) string }

type textproto mail.Header

func (h textproto) Get(k string) string { return mail.Header(h).Get(k) }

func (p *Parsed) walk(h header, body io.Reader) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content-type %q: %w", ct, err)
	}
	p.Types = append(p.Types, mt)
	if strings.HasPrefix(mt, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		for {
			part, err := r.NextRawPart()
			if err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := p.walk(part.Header, part); err != nil {
				return err
			}
		}
	}
	var data []byte
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		data, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, body))
	case "quoted-printable":
		data, err = io.ReadAll(quotedprintable.NewReader(body))
	default:
		data, err = io.ReadAll(body)
	}
	if err != nil {
		return fmt.Errorf("decode %s part: %w", mt, err)
	}
	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	if disp == "attachment" {
		p.Attachments = append(p.Attachments, Part{ContentType: mt, Charset: params["charset"], Filename: dparams["filename"], Data: data})
		return nil
	}
	switch mt {
	case "text/plain":
		p.Text = string(data)
	case "text/html":
		p.HTML = string(data)
	}
	return nil
}
