package smtp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// Maildir writes mails into a maildir (new/, cur/, tmp/): the transport
// without an SMTP server, so that a fresh installation's mails can be read
// with any mail client (`mutt -f DIR`) instead of disappearing.
//
// A mail's file name is derived from its Message-ID, so writing the same
// mail again (a resend after a crash) finds it and writes nothing: with a
// maildir, delivery is exactly once.
type Maildir struct {
	dir string
}

// NewMaildir creates the maildir's directories if needed.
func NewMaildir(dir string) (*Maildir, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("maildir: %w", err)
		}
	}
	return &Maildir{dir: dir}, nil
}

func (d *Maildir) String() string { return "maildir " + d.dir }

// Dir returns the maildir's directory.
func (d *Maildir) Dir() string { return d.dir }

// Send implements Transport: write to tmp/, fsync, rename into new/, as
// the maildir convention requires, so a reader never sees half a mail.
func (d *Maildir) Send(ctx context.Context, m *Mail) error {
	msg, err := Build(m)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(m.MessageID))
	// The date first, so that a plain listing shows mails in order; the
	// Message-ID's hash makes it unique and stable.
	name := fmt.Sprintf("%d.%s.abuseguard", m.Date.Unix(), hex.EncodeToString(sum[:12]))
	if d.delivered(name) {
		return nil
	}
	var r [8]byte
	rand.Read(r[:])
	tmp := filepath.Join(d.dir, "tmp", name+"."+hex.EncodeToString(r[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	_, err = msg.WriteTo(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(d.dir, "new", name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("maildir: %w", err)
	}
	if dir, err := os.Open(filepath.Join(d.dir, "new")); err == nil {
		dir.Sync() // make the rename durable before the outbox marks it delivered
		dir.Close()
	}
	return nil
}

// delivered reports whether the mail is in new/ or, read, in cur/ (where
// a mail client renames it to NAME:2,FLAGS).
func (d *Maildir) delivered(name string) bool {
	if _, err := os.Stat(filepath.Join(d.dir, "new", name)); err == nil {
		return true
	}
	matches, _ := filepath.Glob(filepath.Join(d.dir, "cur", name+"*"))
	return len(matches) > 0
}

func resolve(dataDir, path string) string {
	if filepath.IsAbs(path) || dataDir == "" {
		return path
	}
	return filepath.Join(dataDir, path)
}
