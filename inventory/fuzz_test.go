package inventory

import (
	"strings"
	"testing"
)

// FuzzLoadFile feeds arbitrary CSV and JSON to the file loader: it must
// report problems, never panic, and every problem must name the file.
func FuzzLoadFile(f *testing.F) {
	f.Add(true, "server_id,customer_id,customer_name,customer_email,language,addresses,macs,host_group\n"+
		"s1,c1,C,c@example.com,de,203.0.113.9 2001:db8::/64,52:54:00:00:00:01,\ns2,c1,,,,203.0.113.10/31,,\n")
	f.Add(true, "server_id,customer_id,addresses\ns1,c1,\"203.0.113.9\n")
	f.Add(true, "\ufeffaddresses,server_id,customer_id\n10.0.0.1/8,s,c\n")
	f.Add(false, `{"customers":[{"id":"c1","email":"c@example.com","language":"en"}],"servers":[{"id":"s1","customer_id":"c1","prefixes":["203.0.113.9"]}]}`)
	f.Add(false, `{"servers":[{"id":1}, {"prefixes":"x"}, {"macs":[null]}]}`)
	f.Add(false, "{\"customers\": [\n  {\"id\": \"c-3\",}\n]}")
	f.Fuzz(func(t *testing.T, csv bool, content string) {
		var p problems
		path := "fuzz.json"
		if csv {
			_, _, err := loadCSV("fuzz.csv", []byte(content), &p)
			path = "fuzz.csv"
			checkNamesFile(t, err, path)
		} else {
			_, _, err := loadJSON(path, []byte(content), &p)
			checkNamesFile(t, err, path)
		}
		for _, e := range p.errs {
			checkNamesFile(t, e, path)
		}
	})
}

func checkNamesFile(t *testing.T, err error, path string) {
	t.Helper()
	if err != nil && !strings.HasPrefix(err.Error(), path) {
		t.Fatalf("error %q does not start with the file name", err)
	}
}
