package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"abuseguard"
)

// Templates live in templates/<lang>/: common.txt defines the parts every
// mail shares (reason, what to do, how to check the status, signature),
// and <event type>.txt defines "subject" and "body" for one event. A
// directory in the configuration may hold files of the same names; each
// replaces the embedded file's definitions it redefines.
//
//go:embed templates
var embedded embed.FS

// templateDeliveryFailed is the operator alert about a customer mail
// given up; it is not an event type.
const templateDeliveryFailed = "delivery_failed"

// templates holds a parsed template per language and name. Templates are
// parsed with a placeholder zone; render clones them with the real one.
type templates struct {
	sets map[abuseguard.Language]map[string]*template.Template
	loc  *time.Location
}

// templateNames lists every template a language must have.
func templateNames() []string {
	names := []string{templateDeliveryFailed}
	for _, t := range EventTypes {
		names = append(names, string(t))
	}
	return names
}

func loadTemplates(dir string) (*templates, error) {
	var override fs.FS
	if dir != "" {
		override = os.DirFS(dir)
	}
	ts := &templates{sets: map[abuseguard.Language]map[string]*template.Template{}}
	var errs []error
	for _, lang := range Languages {
		ts.sets[lang] = map[string]*template.Template{}
		for _, name := range templateNames() {
			t, err := parseTemplate(lang, name, override)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ts.sets[lang][name] = t
		}
	}
	return ts, errors.Join(errs...)
}

func parseTemplate(lang abuseguard.Language, name string, override fs.FS) (*template.Template, error) {
	t := template.New(name).Funcs(funcs(lang, time.UTC)).Option("missingkey=zero")
	for _, file := range []string{"common.txt", name + ".txt"} {
		p := string(lang) + "/" + file
		src, err := fs.ReadFile(embedded, "templates/"+p)
		if err != nil {
			return nil, fmt.Errorf("template %s: embedded file missing: %w", p, err)
		}
		if _, err := t.Parse(string(src)); err != nil {
			return nil, fmt.Errorf("template %s: %w", p, err)
		}
		if override == nil {
			continue
		}
		src, err = fs.ReadFile(override, filepath.FromSlash(p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("template override %s: %w", p, err)
		}
		if _, err := t.Parse(string(src)); err != nil {
			return nil, fmt.Errorf("template override %s: %w", p, err)
		}
	}
	for _, part := range []string{"subject", "body"} {
		if t.Lookup(part) == nil {
			return nil, fmt.Errorf("template %s/%s: no %q defined", lang, name, part)
		}
	}
	return t, nil
}

// render executes the subject and body of a template. The subject is made
// one line; the body has trailing spaces removed and at most one blank
// line in a row, so templates can be written readably.
func (ts *templates) render(lang abuseguard.Language, name string, v *View) (subject, body string, err error) {
	base := ts.sets[lang][name]
	if base == nil {
		return "", "", fmt.Errorf("no template %s/%s", lang, name)
	}
	t, err := base.Clone()
	if err != nil {
		return "", "", err
	}
	t.Funcs(funcs(lang, ts.loc))
	var sb, bb bytes.Buffer
	if err := t.ExecuteTemplate(&sb, "subject", v); err != nil {
		return "", "", err
	}
	if err := t.ExecuteTemplate(&bb, "body", v); err != nil {
		return "", "", err
	}
	return strings.Join(strings.Fields(sb.String()), " "), tidy(bb.String()), nil
}

func tidy(s string) string {
	var out []string
	blank := true // drop leading blank lines
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, line)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n") + "\n"
}
