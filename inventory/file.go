package inventory

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"abuseguard"
)

// loadFile reads customers and servers from a CSV or JSON export (see the
// package documentation). Problems with single entries go to p, so that
// all of them are reported; an unreadable or malformed file is an error.
func loadFile(path string, p *problems) ([]customerEntry, []serverEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read inventory file: %w", err)
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".csv":
		return loadCSV(path, data, p)
	case ".json":
		return loadJSON(path, data, p)
	default:
		return nil, nil, fmt.Errorf("inventory file %s: extension %q, want .csv or .json", path, ext)
	}
}

// csvColumns maps the CSV header's column names to fields.
var csvColumns = map[string]field{
	"server_id":      fieldID,
	"customer_id":    fieldCustomer,
	"server_name":    fieldName,
	"customer_name":  customerName,
	"customer_email": fieldEmail,
	"language":       fieldLanguage,
	"addresses":      fieldPrefixes,
	"macs":           fieldMACs,
	"host_group":     fieldHostGroup,
}

// customerName is the CSV column of a customer's name; fieldName is the
// server's name there.
const customerName = numFields + 0

func loadCSV(path string, data []byte, p *problems) ([]customerEntry, []serverEntry, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, nil, csvError(path, err)
	}
	col := make(map[field]int, len(header)) // field → index in a record
	for i, name := range header {
		name = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")) // spreadsheets write a BOM
		f, ok := csvColumns[name]
		if !ok {
			line, c := r.FieldPos(i)
			names := make([]string, 0, len(csvColumns))
			for n := range csvColumns {
				names = append(names, n)
			}
			slices.Sort(names)
			return nil, nil, fmt.Errorf("%s:%d:%d: unknown column %q, want %s", path, line, c, name, strings.Join(names, ", "))
		}
		if _, dup := col[f]; dup {
			line, c := r.FieldPos(i)
			return nil, nil, fmt.Errorf("%s:%d:%d: column %q twice", path, line, c, name)
		}
		col[f] = i
	}
	for _, need := range []string{"server_id", "customer_id", "addresses"} {
		if _, ok := col[csvColumns[need]]; !ok {
			return nil, nil, fmt.Errorf("%s:1:1: no column %q (the first line names the columns)", path, need)
		}
	}

	// The fields whose columns errors name, as a slice: iterating over
	// the map for each of 100 000 rows cost a tenth of the load.
	var positioned []struct {
		field field
		index int
	}
	for f, i := range col {
		if f < numFields {
			positioned = append(positioned, struct {
				field field
				index int
			}{f, i})
		}
	}
	rows := bytes.Count(data, []byte{'\n'}) // at least the rows, short by one without a final newline
	var (
		customers []customerEntry
		servers   = make([]serverEntry, 0, rows)
		defined   = map[string]int{} // customer id → index in customers
	)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, nil, csvError(path, err)
		}
		get := func(f field) string {
			if i, ok := col[f]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		line, _ := r.FieldPos(0)
		o := origin{file: path, line: line}
		for _, fc := range positioned {
			_, c := r.FieldPos(fc.index)
			o.cols[fc.field] = int32(c)
		}
		s := serverEntry{origin: o}
		s.ID, s.CustomerID, s.Name, s.HostGroup = get(fieldID), get(fieldCustomer), get(fieldName), get(fieldHostGroup)
		s.Prefixes = parseAddresses(p, &s, get(fieldPrefixes))
		s.MACs = strings.Fields(get(fieldMACs))
		servers = append(servers, s)

		c := abuseguard.Customer{ID: s.CustomerID, Name: get(customerName), Email: get(fieldEmail),
			Language: abuseguard.Language(get(fieldLanguage))}
		if c.Name == "" && c.Email == "" && c.Language == "" {
			continue // a reference to a customer defined elsewhere
		}
		// The customer's fields: its id is the customer_id column, its
		// name customer_name, not server_name.
		o.cols[fieldID] = o.cols[fieldCustomer]
		o.cols[fieldName] = 0
		if i, ok := col[customerName]; ok {
			_, cc := r.FieldPos(i)
			o.cols[fieldName] = int32(cc)
		}
		if i, ok := defined[c.ID]; ok {
			agree(p, &customers[i], c, &o)
			continue
		}
		defined[c.ID] = len(customers)
		customers = append(customers, customerEntry{c, o})
	}
	return customers, servers, nil
}

// agree reports a row whose customer details differ from the row that
// defined the customer. Empty fields agree with anything.
func agree(p *problems, first *customerEntry, c abuseguard.Customer, o *origin) {
	check := func(f field, what, got, want string) {
		if got != "" && got != want {
			p.add("%s: customer %q: %s %q differs from %q at line %d", o.at(f), c.ID, what, got, want, first.line)
		}
	}
	check(fieldName, "name", c.Name, first.Name)
	check(fieldEmail, "e-mail", c.Email, first.Email)
	check(fieldLanguage, "language", string(c.Language), string(first.Language))
}

// parseAddresses parses a list of prefixes and addresses separated by
// spaces; an address is a /32 or /128.
func parseAddresses(p *problems, s *serverEntry, list string) []netip.Prefix {
	fields := strings.Fields(list)
	out := make([]netip.Prefix, 0, len(fields))
	for _, f := range fields {
		pfx, err := parseAddress(f)
		if err != nil {
			p.add("%s: server %q: %v", s.at(fieldPrefixes), s.ID, err)
			continue
		}
		out = append(out, pfx)
	}
	return out
}

func parseAddress(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return pfx, fmt.Errorf("address %q: %w", s, err)
		}
		return pfx, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("address %q: %w", s, err)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("address %q: a zone has no place in an inventory", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// csvError turns encoding/csv's errors into file:line:column form.
func csvError(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d:%d: %w", path, pe.Line, pe.Column, pe.Err)
	}
	if err == io.EOF {
		return fmt.Errorf("%s: empty, want a header line naming the columns", path)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// jsonServer is a server as the JSON export gives it: addresses as text,
// so that a bare address is accepted as in CSV.
type jsonServer struct {
	ID         string   `json:"id"`
	CustomerID string   `json:"customer_id"`
	Name       string   `json:"name"`
	Prefixes   []string `json:"prefixes"`
	MACs       []string `json:"macs"`
	HostGroup  string   `json:"host_group"`
}

func loadJSON(path string, data []byte, p *problems) ([]customerEntry, []serverEntry, error) {
	pos := newPositions(path, data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	fail := func(err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			// A Decoder's SyntaxError.Offset counts from the start of
			// the value it was decoding; Unmarshal's counts from the
			// start of the file. Offset is just past the culprit.
			var whole any
			if uerr := json.Unmarshal(data, &whole); errors.As(uerr, &se) {
				return fmt.Errorf("%s: %w", pos.at(max(se.Offset-1, 0)), uerr)
			}
			return fmt.Errorf("%s: %w", pos.path, err)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("%s: unexpected end of file", pos.at(int64(len(data))))
		}
		return fmt.Errorf("%s: %w", pos.at(dec.InputOffset()), err)
	}
	expect := func(want json.Delim) error {
		tok, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		if d, ok := tok.(json.Delim); !ok || d != want {
			return fmt.Errorf("%s: found %v, want %q", pos.at(dec.InputOffset()), tok, want)
		}
		return nil
	}

	var (
		customers []customerEntry
		servers   []serverEntry
	)
	if err := expect('{'); err != nil {
		return nil, nil, err
	}
	for dec.More() {
		keyAt := pos.skipSpace(dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fail(err)
		}
		key, _ := tok.(string)
		if key != "customers" && key != "servers" {
			return nil, nil, fmt.Errorf("%s: unknown key %q, want customers or servers", pos.at(keyAt), key)
		}
		if err := expect('['); err != nil {
			return nil, nil, err
		}
		for dec.More() {
			start := pos.skipSpace(dec.InputOffset())
			line, col := pos.lineCol(start)
			o := origin{file: path, line: line}
			for f := range o.cols {
				o.cols[f] = int32(col)
			}
			if key == "customers" {
				var c abuseguard.Customer
				if err := dec.Decode(&c); err != nil {
					if err := decodeProblem(err); err != nil {
						p.add("%s: customer: %v", o.at(fieldID), err)
						continue
					}
					return nil, nil, fail(err)
				}
				customers = append(customers, customerEntry{c, o})
				continue
			}
			var js jsonServer
			if err := dec.Decode(&js); err != nil {
				if err := decodeProblem(err); err != nil {
					p.add("%s: server: %v", o.at(fieldID), err)
					continue
				}
				return nil, nil, fail(err)
			}
			s := serverEntry{origin: o}
			s.ID, s.CustomerID, s.Name, s.HostGroup, s.MACs = js.ID, js.CustomerID, js.Name, js.HostGroup, js.MACs
			s.Prefixes = parseAddresses(p, &s, strings.Join(js.Prefixes, " "))
			servers = append(servers, s)
		}
		if err := expect(']'); err != nil {
			return nil, nil, err
		}
	}
	if err := expect('}'); err != nil {
		return nil, nil, err
	}
	if rest := pos.skipSpace(dec.InputOffset()); rest < int64(len(data)) {
		return nil, nil, fmt.Errorf("%s: data after the closing }", pos.at(rest))
	}
	return customers, servers, nil
}

// decodeProblem returns err when it is about one entry's content (a wrong
// type, an unknown field), after which the decoder can go on with the next
// entry; nil for a syntax error, after which it cannot.
func decodeProblem(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) || err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil
	}
	return err
}

// positions converts byte offsets in a file into line and column.
type positions struct {
	path  string
	data  []byte
	lines []int // offset of the first byte of each line
}

func newPositions(path string, data []byte) *positions {
	p := &positions{path: path, data: data, lines: []int{0}}
	for i, c := range data {
		if c == '\n' {
			p.lines = append(p.lines, i+1)
		}
	}
	return p
}

// skipSpace returns the offset of the first byte at or after off that is
// not JSON white space or a comma: where the next value starts.
func (p *positions) skipSpace(off int64) int64 {
	for off < int64(len(p.data)) && strings.IndexByte(" \t\r\n,", p.data[off]) >= 0 {
		off++
	}
	return off
}

// lineCol returns the 1-based line and column (in bytes) of off.
func (p *positions) lineCol(off int64) (line, col int) {
	i, found := slices.BinarySearch(p.lines, int(off))
	if !found {
		i--
	}
	return i + 1, int(off) - p.lines[i] + 1
}

func (p *positions) at(off int64) string {
	line, col := p.lineCol(off)
	return fmt.Sprintf("%s:%d:%d", p.path, line, col)
}
