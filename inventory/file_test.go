package inventory

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"abuseguard"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// An inventory written with WriteCSV or WriteJSON and read back as
// Configuration.File has the same customers and servers, in order.
func TestFileRoundTrip(t *testing.T) {
	cfg, groups := demo()
	cfg.Servers[0].Name = "web, \"the first\"" // CSV quoting
	orig, err := New(cfg, groups)
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	for _, tc := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"inventory.csv", func(b *bytes.Buffer) error { return WriteCSV(b, orig.Customers(), orig.Servers()) }},
		{"inventory.json", func(b *bytes.Buffer) error { return WriteJSON(b, orig.Customers(), orig.Servers()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			fromFile := cfg
			fromFile.Customers, fromFile.Servers = nil, nil
			fromFile.File = writeFile(t, tc.name, b.String())
			inv, err := New(fromFile, groups)
			if err != nil {
				t.Fatalf("New() from %s:\n%s\n%v", tc.name, b.String(), err)
			}
			opts := cmp.Options{cmpopts.EquateEmpty(), cmpopts.EquateComparable(netip.Prefix{})}
			if diff := cmp.Diff(inv.Customers(), orig.Customers(), opts); diff != "" {
				t.Errorf("Customers() (-got, +want):\n%s", diff)
			}
			if diff := cmp.Diff(inv.Servers(), orig.Servers(), opts); diff != "" {
				t.Errorf("Servers() (-got, +want):\n%s", diff)
			}
			for _, a := range []string{"203.0.113.7", "2001:db8:c:1::1", "203.0.113.130", "8.8.8.8"} {
				if got, want := inv.Classify(addr(a)), orig.Classify(addr(a)); got != want {
					t.Errorf("Classify(%s) = %+v, want %+v", a, got, want)
				}
			}
		})
	}
}

// Servers of the file come after those of the configuration and may refer
// to its customers by id; the file's customers come after its customers.
func TestFileAddsToConfiguration(t *testing.T) {
	cfg, groups := demo()
	cfg.File = writeFile(t, "more.csv", `server_id,customer_id,customer_name,customer_email,language,addresses,macs,host_group
mail-1,c-1,,,,203.0.113.2,,
new-1,c-3,Neu AG,abuse@neu.example,de,203.0.113.3 2001:db8:c:3::/64,52:54:00:00:00:03 52-54-00-00-00-04,dns
new-2,c-3,,,,203.0.113.4,,
`)
	inv, err := New(cfg, groups)
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	var ids []string
	for _, s := range inv.Servers() {
		ids = append(ids, s.ID)
	}
	if diff := cmp.Diff(ids, []string{"web-1", "dns-1", "big-1", "cgn-1", "mail-1", "new-1", "new-2"}); diff != "" {
		t.Errorf("Servers() (-got, +want):\n%s", diff)
	}
	if c, ok := inv.Customer("c-3"); !ok || c.Name != "Neu AG" || c.Language != "de" {
		t.Errorf("Customer(c-3) = %+v, %v", c, ok)
	}
	if got := len(inv.ServersOf("c-1")); got != 3 {
		t.Errorf("ServersOf(c-1) has %d servers, want 3", got)
	}
	if got, want := inv.Classify(addr("203.0.113.3")), inv.Classify(addr("2001:db8:c:3::9")); got != want || got.Server != 5 || got.Group != 1 {
		t.Errorf("Classify(new-1's addresses) = %+v and %+v, want server 5 in group 1 (dns)", got, want)
	}
	if got := inv.ServerByMAC(0x525400000004); got != 5 {
		t.Errorf("ServerByMAC(52-54-00-00-00-04) = %d, want 5", got)
	}
}

func TestWriteCSVNeedsServers(t *testing.T) {
	err := WriteCSV(new(bytes.Buffer), []abuseguard.Customer{{ID: "lonely"}}, nil)
	if err == nil || !strings.Contains(err.Error(), `customer "lonely" has no server`) {
		t.Fatalf("WriteCSV() = %v, want an error naming the customer without servers", err)
	}
}

// bigInventory writes a CSV of n servers, each with one IPv4 address in
// 172.16.0.0/12 and one IPv6 /64 in 2001:db8::/32, 10 per customer, and
// returns a configuration loading it.
func bigInventory(tb testing.TB, n int) Configuration {
	tb.Helper()
	var b bytes.Buffer
	b.WriteString("server_id,customer_id,customer_name,customer_email,language,addresses,macs,host_group\n")
	for i := range n {
		// Spread over the /12 by a multiplicative step so that the
		// trie is not one dense block.
		v4 := 0xac100000 | (uint32(i)*2654435761)&0x000fffff
		details := ",,"
		if i%10 == 0 {
			details = fmt.Sprintf("Customer %d,c%d@example.com,de", i/10, i/10)
		}
		fmt.Fprintf(&b, "s%d,c%d,%s,%d.%d.%d.%d 2001:db8:%x:%x::/64,02:00:%02x:%02x:%02x:%02x,\n",
			i, i/10, details, v4>>24, v4>>16&0xff, v4>>8&0xff, v4&0xff, i>>16, i&0xffff,
			i>>24, i>>16&0xff, i>>8&0xff, i&0xff)
	}
	path := filepath.Join(tb.TempDir(), "big.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return Configuration{
		ProviderPrefixes: prefixes("172.16.0.0/12", "2001:db8::/32"),
		File:             path,
	}
}
