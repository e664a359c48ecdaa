package inventory

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"abuseguard"

	"github.com/google/go-cmp/cmp"
)

// problemsOf returns the lines of New's error, without the "inventory: "
// prefix.
func problemsOf(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(strings.TrimPrefix(err.Error(), "inventory: "), "\n")
}

func TestNewReportsEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Configuration, *[]HostGroup)
		want   []string
	}{
		{"duplicate customer", func(c *Configuration, _ *[]HostGroup) {
			c.Customers = append(c.Customers, c.Customers[0])
		}, []string{`customers[2].id: customer "c-1": defined twice, first at customers[0].id`}},
		{"customer without id", func(c *Configuration, _ *[]HostGroup) {
			c.Customers = append(c.Customers, abuseguard.Customer{Email: "x@example.com", Language: "en"})
		}, []string{`customers[2].id: customer without id`}},
		{"bad e-mail", func(c *Configuration, _ *[]HostGroup) {
			c.Customers[0].Email = "noc.example.com"
			c.Customers[1].Email = "Example <abuse@example.org>"
		}, []string{
			`customers[0].email: customer "c-1": e-mail "noc.example.com": missing '@' or angle-addr`,
			`customers[1].email: customer "c-2": e-mail "Example <abuse@example.org>": give the address alone (abuse@example.org)`,
		}},
		{"no e-mail", func(c *Configuration, _ *[]HostGroup) {
			c.Customers[0].Email = ""
		}, []string{`customers[0].email: customer "c-1": no e-mail address`}},
		{"language", func(c *Configuration, _ *[]HostGroup) {
			c.Customers[0].Language = "fr"
			c.Customers[1].Language = ""
		}, []string{
			`customers[0].language: customer "c-1": language "fr", want de or en`,
			`customers[1].language: customer "c-2": language "", want de or en`,
		}},
		{"duplicate server", func(c *Configuration, _ *[]HostGroup) {
			s := c.Servers[0]
			s.Prefixes = prefixes("203.0.113.9/32")
			c.Servers = append(c.Servers, s)
		}, []string{`servers[4].id: server "web-1": defined twice, first at servers[0].id`}},
		{"server without id", func(c *Configuration, _ *[]HostGroup) {
			c.Servers = append(c.Servers, abuseguard.Server{CustomerID: "c-1", Prefixes: prefixes("203.0.113.9/32")})
		}, []string{`servers[4].id: server without id`}},
		{"unknown customer and group", func(c *Configuration, _ *[]HostGroup) {
			c.Servers[0].CustomerID = "c-9"
			c.Servers[1].HostGroup = "dsn"
		}, []string{
			`servers[0].customer: server "web-1": unknown customer "c-9"`,
			`servers[1].host_group: server "dns-1": unknown host group "dsn"`,
		}},
		{"no addresses", func(c *Configuration, _ *[]HostGroup) {
			c.Servers[0].Prefixes = nil
		}, []string{`servers[0].prefixes: server "web-1": no addresses`}},
		{"two servers, one address", func(c *Configuration, _ *[]HostGroup) {
			c.Servers[1].Prefixes = append(c.Servers[1].Prefixes, pfx("203.0.113.0/29"))
			c.Servers[2].Prefixes = append(c.Servers[2].Prefixes, pfx("203.0.113.128/32"))
			c.Servers[3].Prefixes = append(c.Servers[3].Prefixes, pfx("2001:db8:c::/56"))
		}, []string{
			`servers[1].prefixes: server "dns-1": 203.0.113.0/29 overlaps 203.0.113.7/32 of server "web-1": two servers claim the same addresses`,
			`servers[3].prefixes: server "cgn-1": 2001:db8:c::/56 overlaps 2001:db8:c:1::/64 of server "web-1": two servers claim the same addresses`,
		}},
		{"host bits", func(c *Configuration, g *[]HostGroup) {
			c.Servers[0].Prefixes[0] = pfx("203.0.113.7/24")
			c.ProviderPrefixes[1] = pfx("2001:db8::1/32")
			(*g)[1].Prefixes[0] = pfx("203.0.113.49/28")
		}, []string{
			`provider_prefixes[1]: prefix 2001:db8::1/32 has host bits set, use 2001:db8::/32 (or 2001:db8::1/128 for the single address)`,
			`host group "dns" prefixes[0]: prefix 203.0.113.49/28 has host bits set, use 203.0.113.48/28 (or 203.0.113.49/32 for the single address)`,
			`servers[0].prefixes: server "web-1": prefix 203.0.113.7/24 has host bits set, use 203.0.113.0/24 (or 203.0.113.7/32 for the single address)`,
		}},
		{"mapped and invalid", func(c *Configuration, _ *[]HostGroup) {
			c.ProtectedPrefixes = append(c.ProtectedPrefixes, pfx("::ffff:203.0.113.0/120"), netip.Prefix{})
		}, []string{
			`protected_prefixes[3]: prefix ::ffff:203.0.113.0/120 is IPv4-mapped IPv6, use 203.0.113.0/24`,
			`protected_prefixes[4]: invalid prefix`,
		}},
		{"outside provider", func(c *Configuration, _ *[]HostGroup) {
			c.CustomerPrefixes = append(c.CustomerPrefixes, pfx("198.51.100.0/24"))
			c.Servers[0].Prefixes = append(c.Servers[0].Prefixes, pfx("192.0.2.7/32"))
		}, []string{
			`customer_prefixes[2]: 198.51.100.0/24 is outside provider_prefixes`,
			`servers[0].prefixes: server "web-1": 192.0.2.7/32 is outside provider_prefixes`,
		}},
		{"MACs", func(c *Configuration, _ *[]HostGroup) {
			c.Servers[1].MACs = []string{"52:54:00:12:34:56", "52:54:00:zz:34:56", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"}
		}, []string{
			`servers[1].macs: server "dns-1": MAC 52:54:00:12:34:56 is server "web-1"'s already`,
			`servers[1].macs: server "dns-1": MAC "52:54:00:zz:34:56" is not a 48-bit Ethernet address like 52:54:00:12:34:56`,
			`servers[1].macs: server "dns-1": MAC "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01" is not a 48-bit Ethernet address like 52:54:00:12:34:56`,
		}},
		{"groups", func(_ *Configuration, g *[]HostGroup) {
			*g = append(*g, HostGroup{Name: "dns"}, HostGroup{}, HostGroup{Name: "x", Prefixes: prefixes("203.0.113.48/28")})
		}, []string{
			`host group "dns": defined twice`,
			`host group 5: no name`,
			`host group "x" prefixes[0]: 203.0.113.48/28 is in host group "dns" already`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, groups := demo()
			tc.change(&cfg, &groups)
			_, err := New(cfg, groups)
			if diff := cmp.Diff(problemsOf(err), tc.want); diff != "" {
				t.Fatalf("New() (-got, +want):\n%s", diff)
			}
		})
	}
}

func TestNewBoundsProblems(t *testing.T) {
	cfg, groups := demo()
	for range 60 {
		cfg.Customers = append(cfg.Customers, abuseguard.Customer{})
	}
	got := problemsOf(func() error { _, err := New(cfg, groups); return err }())
	if len(got) != maxProblems+1 || got[maxProblems] != "and 10 more problems" {
		t.Fatalf("New() reported %d problems ending in %q, want %d and a count of the rest",
			len(got), got[len(got)-1], maxProblems)
	}
}

// writeFile writes a test inventory file and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFileProblems(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		want                []string
	}{
		{"unknown column", "inv.csv", "server_id,customer_id,addresses,colour\n",
			[]string{`inv.csv:1:33: unknown column "colour", want addresses, customer_email, customer_id, customer_name, host_group, language, macs, server_id, server_name`}},
		{"missing column", "inv.csv", "server_id,customer_id\n",
			[]string{`inv.csv:1:1: no column "addresses" (the first line names the columns)`}},
		{"column twice", "inv.csv", "server_id,customer_id,addresses,server_id\n",
			[]string{`inv.csv:1:33: column "server_id" twice`}},
		{"empty", "inv.csv", "", []string{`inv.csv: empty, want a header line naming the columns`}},
		{"csv syntax", "inv.csv", "server_id,customer_id,addresses\ns1,c-1,\"203.0.113.9\n",
			[]string{`inv.csv:2:21: extraneous or missing " in quoted-field`}},
		{"csv field count", "inv.csv", "server_id,customer_id,addresses\ns1,c-1\n",
			[]string{`inv.csv:2:1: wrong number of fields`}},
		{"csv entries", "inv.csv", "server_id,customer_id,customer_name,customer_email,language,addresses,macs\n" +
			"s1,c-3,Three,three@example.com,en,203.0.113.9 203.0.113.300 fe80::1%eth0,\n" +
			"s2,c-3,Drei,three@example.com,de,203.0.113.10/24,52:54:00:00:00:01\n" +
			"s3,c-1,Other Name,noc@example.com,de,203.0.113.11,\n",
			[]string{
				`inv.csv:2:35: server "s1": address "203.0.113.300": ParseAddr("203.0.113.300"): IPv4 field has value >255`,
				`inv.csv:2:35: server "s1": address "fe80::1%eth0": a zone has no place in an inventory`,
				`inv.csv:3:8: customer "c-3": name "Drei" differs from "Three" at line 2`,
				`inv.csv:3:31: customer "c-3": language "de" differs from "en" at line 2`,
				`inv.csv:4:4: customer "c-1": defined twice, first at customers[0].id`,
				`inv.csv:3:34: server "s2": prefix 203.0.113.10/24 has host bits set, use 203.0.113.0/24 (or 203.0.113.10/32 for the single address)`,
			}},
		{"json syntax", "inv.json", "{\"customers\": [\n  {\"id\": \"c-3\",}\n]}",
			[]string{`inv.json:2:16: invalid character '}' looking for beginning of object key string`}},
		{"json unknown key", "inv.json", "{\"servers\": [], \"routers\": []}",
			[]string{`inv.json:1:17: unknown key "routers", want customers or servers`}},
		{"json not an object", "inv.json", "[]", []string{`inv.json:1:2: found [, want "{"`}},
		{"json truncated", "inv.json", "{\"servers\": [", []string{`inv.json:1:14: unexpected end of file`}},
		{"json trailing", "inv.json", "{}{}", []string{`inv.json:1:3: data after the closing }`}},
		{"json entries", "inv.json", `{"customers": [
  {"id": "c-3", "email": "three@example.com", "language": "en", "phone": "1"},
  {"id": "c-4", "email": "four@example.com", "language": 2}
], "servers": [
  {"id": "s1", "customer_id": "c-1", "prefixes": ["203.0.113.9", "203.0.113.10/33"]},
  {"id": "s2", "customer_id": "c-1", "prefixes": "203.0.113.11"}
]}`,
			[]string{
				`inv.json:2:3: customer: json: unknown field "phone"`,
				`inv.json:3:3: customer: json: cannot unmarshal number into Go struct field Customer.language of type abuseguard.Language`,
				`inv.json:5:3: server "s1": address "203.0.113.10/33": netip.ParsePrefix("203.0.113.10/33"): prefix length out of range`,
				`inv.json:6:3: server: json: cannot unmarshal string into Go struct field jsonServer.prefixes of type []string`,
			}},
		{"extension", "inv.xml", "<inventory/>", []string{`inventory file inv.xml: extension ".xml", want .csv or .json`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, groups := demo()
			cfg.File = writeFile(t, tc.file, tc.content)
			_, err := New(cfg, groups)
			got := problemsOf(err)
			for i := range got {
				got[i] = strings.ReplaceAll(got[i], filepath.Dir(cfg.File)+string(filepath.Separator), "")
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Fatalf("New() (-got, +want):\n%s", diff)
			}
		})
	}
	if _, err := New(Configuration{File: filepath.Join(t.TempDir(), "none.csv")}, nil); err == nil {
		t.Fatal("New() with a missing file: no error")
	}
}
