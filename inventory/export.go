package inventory

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"abuseguard"
)

// csvHeader is the column order WriteCSV writes.
var csvHeader = []string{"server_id", "customer_id", "customer_name", "customer_email", "language",
	"addresses", "macs", "host_group", "server_name"}

// WriteCSV writes customers and servers in the CSV form Configuration.File
// reads: one row per server, the customer's details on the customer's first
// row only. A customer without servers cannot be written in this form and
// is an error.
func WriteCSV(w io.Writer, customers []abuseguard.Customer, servers []abuseguard.Server) error {
	byID := make(map[string]*abuseguard.Customer, len(customers))
	for i := range customers {
		byID[customers[i].ID] = &customers[i]
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("write inventory csv: %w", err)
	}
	written := make(map[string]bool, len(customers))
	for _, s := range servers {
		var name, email, lang string
		if c := byID[s.CustomerID]; c != nil && !written[c.ID] {
			name, email, lang = c.Name, c.Email, string(c.Language)
			written[c.ID] = true
		}
		addrs := make([]string, len(s.Prefixes))
		for i, p := range s.Prefixes {
			addrs[i] = p.String()
		}
		if err := cw.Write([]string{s.ID, s.CustomerID, name, email, lang,
			strings.Join(addrs, " "), strings.Join(s.MACs, " "), s.HostGroup, s.Name}); err != nil {
			return fmt.Errorf("write inventory csv: %w", err)
		}
	}
	for _, c := range customers {
		if !written[c.ID] {
			return fmt.Errorf("write inventory csv: customer %q has no server, which CSV cannot express: use JSON", c.ID)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write inventory csv: %w", err)
	}
	return nil
}

// WriteJSON writes customers and servers in the JSON form
// Configuration.File reads.
func WriteJSON(w io.Writer, customers []abuseguard.Customer, servers []abuseguard.Server) error {
	doc := struct {
		Customers []abuseguard.Customer `json:"customers"`
		Servers   []abuseguard.Server   `json:"servers"`
	}{customers, servers}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write inventory json: %w", err)
	}
	return nil
}
