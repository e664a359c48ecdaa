package inventory

import (
	"errors"
	"fmt"
)

// field is a field of a customer or server entry, for error positions.
type field uint8

const (
	fieldID field = iota
	fieldCustomer
	fieldName
	fieldEmail
	fieldLanguage
	fieldPrefixes
	fieldMACs
	fieldHostGroup
	numFields
)

// yamlNames are the field names as the YAML configuration spells them.
var yamlNames = [numFields]string{"id", "customer", "name", "email", "language", "prefixes", "macs", "host_group"}

// origin says where an entry was defined, so that an error can point at
// it: an index into a list of the YAML configuration, or a position in the
// file.
type origin struct {
	list  string // "customers" or "servers"
	index int    // in the configuration's list
	file  string // "" for the configuration
	line  int
	cols  [numFields]int32 // per field; 0: the entry's first column
}

// at returns where field f of the entry is: "servers.csv:12:31" or
// "servers[3].prefixes".
func (o *origin) at(f field) string {
	if o.file == "" {
		return fmt.Sprintf("%s[%d].%s", o.list, o.index, yamlNames[f])
	}
	col := o.cols[f]
	if col == 0 {
		col = o.cols[fieldID]
	}
	return fmt.Sprintf("%s:%d:%d", o.file, o.line, max(col, 1))
}

// maxProblems bounds the problems New reports: a file with a systematic
// mistake would otherwise produce one line per row.
const maxProblems = 50

// problems collects what is wrong with an inventory.
type problems struct {
	errs []error
	more int
}

func (p *problems) add(format string, args ...any) {
	if len(p.errs) < maxProblems {
		p.errs = append(p.errs, fmt.Errorf(format, args...))
	} else {
		p.more++
	}
}

func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	errs := p.errs
	if p.more > 0 {
		errs = append(errs, fmt.Errorf("and %d more problems", p.more))
	}
	return errors.Join(errs...)
}
