package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkAPI measures request latency on loopback under concurrent load
// (16 clients per CPU) against a store holding 200 cases: the status
// question (M8) as a customer, one case with its detections, and a page of
// cases as an operator. It reports requests/s and the 50th and 99th
// percentile latency.
func BenchmarkAPI(b *testing.B) {
	t := &testing.T{}
	e := newEnv(t)
	e.t = t
	for i := range 200 {
		e.detect(netip.AddrFrom4([4]byte{100, 90, byte(i / 250), byte(i%250 + 1)}), fmt.Sprintf("bench-%d", i))
	}
	for _, bc := range []struct{ name, path, token string }{
		{"status", "/api/v1/status/100.70.0.10", e.cust1},
		{"case", "/api/v1/cases/" + e.caseA, e.cust1},
		{"cases-page", "/api/v1/cases?limit=20", e.op},
	} {
		b.Run(bc.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				local := make([]time.Duration, 0, 1024)
				for pb.Next() {
					req, _ := http.NewRequest("GET", e.srv.URL+bc.path, nil)
					req.Header.Set("Authorization", "Bearer "+bc.token)
					start := time.Now()
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Errorf("%s = %d", bc.path, res.StatusCode)
						return
					}
					local = append(local, time.Since(start))
				}
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			})
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
